//! Backtests on the server over real HTTP: the candle files of the backtest directory, a run on
//! the shared 100k-candle file giving the published reference figures, and every bad request a
//! 422 naming its field (a file outside the directory, bad parameters), or a 404 on a server
//! without a backtest directory.

use std::path::PathBuf;

use api::ApiConfig;
use reqwest::StatusCode;
use serde_json::json;

mod common;

use common::{Server, assert_error_code};

/// A backtest directory holding the shared 100k-candle file (a symlink) and a file that is no
/// candle file.
fn candles_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/candles-100k.csv")
        .canonicalize()
        .unwrap();
    std::os::unix::fs::symlink(shared, dir.path().join("candles-100k.csv")).unwrap();
    std::fs::write(dir.path().join("broken.csv"), "open_time_ms,open\n1,x\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a candle file").unwrap();
    dir
}

#[tokio::test]
async fn a_backtest_on_the_server_gives_the_reference_figures() {
    let dir = candles_dir();
    let config = ApiConfig {
        candles_dir: Some(dir.path().to_owned()),
        ..common::config()
    };
    let server = Server::start_sqlite(config).await;
    let (_, _, token) = server.sign_up("alice").await;

    let files = server.get("/api/v1/backtests/files", Some(&token)).await;
    assert_eq!(files.status, StatusCode::OK, "{files:?}");
    let names: Vec<&str> = files
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["broken.csv", "candles-100k.csv"],
        "CSV files only, by name"
    );

    // Periods as JSON Schema counts integers: 9.0 is 9.
    let body = json!({"file": "candles-100k.csv", "fast": 9.0, "slow": 21, "rsi_period": 14.0});
    let run = server.post("/api/v1/backtests", body, Some(&token)).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    let fractional = json!({"file": "candles-100k.csv", "fast": 2.5});
    let refused = server
        .post("/api/v1/backtests", fractional, Some(&token))
        .await;
    assert_error_code(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_type",
        Some("fast"),
    );
    let summary = &run.body["summary"];
    assert_eq!(summary["candles"], 100_000);
    assert_eq!(summary["round_trips"], 2_334);
    assert_eq!(summary["final_equity"].as_f64(), Some(72.6322732899594));
    assert_eq!(
        summary["strategy"],
        json!({"name": "ema_rsi_cross", "fast": 9, "slow": 21, "rsi_period": 14, "overbought": 70.0})
    );
    assert_eq!(summary["data"], "candles-100k.csv");
    assert_eq!(run.body["round_trips"].as_array().unwrap().len(), 2_334);
    let equity = run.body["equity"].as_array().unwrap();
    assert!(
        equity.len() <= 2_001 && equity.len() > 1_000,
        "{}",
        equity.len()
    );
    assert_eq!(equity.last().unwrap()[1].as_f64(), Some(72.6322732899594));

    for (body, field) in [
        (json!({"file": "../candles-100k.csv"}), "file"),
        (json!({"file": "notes.txt"}), "file"),
        (json!({"file": "none.csv"}), "file"),
        (json!({"file": "broken.csv"}), "file"),
        (
            json!({"file": "candles-100k.csv", "fast": 30, "slow": 20}),
            "slow",
        ),
        (
            json!({"file": "candles-100k.csv", "rsi_period": 0}),
            "rsi_period",
        ),
        (json!({"file": "candles-100k.csv", "slow": 10_001}), "slow"),
        (
            json!({"file": "candles-100k.csv", "overbought": 100.0}),
            "overbought",
        ),
        (json!({"file": "candles-100k.csv", "fee": -0.1}), "fee"),
        (json!({"file": "candles-100k.csv", "cash": 0.0}), "cash"),
        (
            json!({"file": "candles-100k.csv", "quote_per_trade": -5.0}),
            "quote_per_trade",
        ),
    ] {
        let refused = server
            .post("/api/v1/backtests", body.clone(), Some(&token))
            .await;
        assert_error_code(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some(field),
        );
        assert!(
            !refused.text.contains(dir.path().to_str().unwrap()),
            "no server path leaks: {}",
            refused.text
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_server_without_a_backtest_directory_lists_nothing_and_runs_nothing() {
    let server = Server::start_sqlite(common::config()).await;
    let (_, _, token) = server.sign_up("alice").await;
    let files = server.get("/api/v1/backtests/files", Some(&token)).await;
    assert_eq!(
        (files.status, files.body.clone()),
        (StatusCode::OK, json!([]))
    );
    let run = server
        .post(
            "/api/v1/backtests",
            json!({"file": "candles-100k.csv"}),
            Some(&token),
        )
        .await;
    assert_error_code(&run, StatusCode::NOT_FOUND, "not_found", None);
    assert_eq!(
        server.get("/api/v1/backtests/files", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    server.stop().await;
}
