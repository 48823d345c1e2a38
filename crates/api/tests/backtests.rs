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

/// Polls the sweep `id` until it is done (or failed), at most a minute; returns its last body.
async fn finished_sweep(server: &Server, id: &str, token: &str) -> serde_json::Value {
    let mut seen_states = Vec::new();
    for _ in 0..600 {
        let sweep = server
            .get(&format!("/api/v1/backtests/sweeps/{id}"), Some(token))
            .await;
        assert_eq!(sweep.status, StatusCode::OK, "{}", sweep.text);
        let state = sweep.body["state"].as_str().unwrap().to_owned();
        if !seen_states.contains(&state) {
            seen_states.push(state.clone());
        }
        if state == "done" || state == "failed" {
            return sweep.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the sweep did not finish in a minute; states seen: {seen_states:?}");
}

#[tokio::test]
async fn a_run_charts_its_candles_sizes_with_the_venues_rules_and_a_sweep_reports_progress() {
    let dir = candles_dir();
    let config = ApiConfig {
        candles_dir: Some(dir.path().to_owned()),
        ..common::config()
    };
    let server = Server::start_sqlite(config).await;
    let (_, _, token) = server.sign_up("alice").await;

    // The chart: 3,000 candles with the indicators, the last ones unless asked around a time.
    let run = server
        .post(
            "/api/v1/backtests",
            json!({"file": "candles-100k.csv"}),
            Some(&token),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    let chart = &run.body["chart"];
    let candles = chart["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 3_000);
    assert_eq!(candles.last().unwrap()["open_time_ms"], chart["last_ms"]);
    assert!(
        candles
            .iter()
            .all(|c| c["ema_slow"].is_f64() && c["rsi"].is_f64())
    );
    let first_trip = &run.body["round_trips"][0];
    let around = first_trip["entry_time_ms"].as_i64().unwrap();
    let moved = server
        .post(
            "/api/v1/backtests",
            json!({"file": "candles-100k.csv", "chart_around_ms": around}),
            Some(&token),
        )
        .await;
    let window = moved.body["chart"]["candles"].as_array().unwrap();
    assert!(
        window
            .iter()
            .any(|c| c["open_time_ms"].as_i64() == Some(around)),
        "the window holds the candle asked for"
    );
    assert_eq!(window[0]["open_time_ms"], moved.body["chart"]["first_ms"]);
    assert!(
        window[0]["ema_slow"].is_null(),
        "not yet defined at the file's start"
    );

    // The paper venue's rules: every quantity a whole number of its lot step.
    let info_text = reqwest::get(format!(
        "http://{}/api/v3/exchangeInfo?symbol=BTCUSDT",
        server.paper.local_addr()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let info: serde_json::Value = serde_json::from_str(&info_text).unwrap();
    let step: f64 = info["symbols"][0]["filters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filterType"] == "LOT_SIZE")
        .unwrap()["stepSize"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let rules = json!({"venue": "paper", "symbol": "BTCUSDT"});
    let ruled = server
        .post(
            "/api/v1/backtests",
            json!({"file": "candles-100k.csv", "quote_per_trade": 1000.0, "rules": rules}),
            Some(&token),
        )
        .await;
    assert_eq!(ruled.status, StatusCode::OK, "{}", ruled.text);
    let trips = ruled.body["round_trips"].as_array().unwrap();
    assert!(!trips.is_empty());
    for trip in trips {
        let steps = trip["qty"].as_f64().unwrap() / step;
        assert!(
            (steps - steps.round()).abs() < 1e-6,
            "{trip} is not in steps of {step}"
        );
    }
    for (rules, field) in [
        (
            json!({"venue": "paper", "symbol": "NOPEUSDT"}),
            "rules.symbol",
        ),
        (json!({"venue": "moon", "symbol": "BTCUSDT"}), "rules.venue"),
    ] {
        let refused = server
            .post(
                "/api/v1/backtests",
                json!({"file": "candles-100k.csv", "rules": rules}),
                Some(&token),
            )
            .await;
        assert_error_code(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some(field),
        );
    }

    // A sweep: started at once, its progress readable, its rows those of single runs.
    let grid = json!({"file": "candles-100k.csv", "fast": "5..9:2", "slow": "21,30", "overbought": "60..70:10"});
    let started = server
        .post("/api/v1/backtests/sweeps", grid, Some(&token))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    assert_eq!(started.body["total"], 12);
    let id = started.body["id"].as_str().unwrap().to_owned();
    let (_, _, bob) = server.sign_up("bob").await;
    let foreign = server
        .get(&format!("/api/v1/backtests/sweeps/{id}"), Some(&bob))
        .await;
    assert_error_code(&foreign, StatusCode::NOT_FOUND, "not_found", None);
    let done = finished_sweep(&server, &id, &token).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        (done["done"].as_u64(), done["total"].as_u64()),
        (Some(12), Some(12))
    );
    assert_eq!(done["bytes_read"], done["bytes"]);
    let rows = done["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    let reference = rows
        .iter()
        .find(|row| row["fast"] == 9 && row["slow"] == 21 && row["overbought"] == 70.0)
        .unwrap();
    assert_eq!(
        reference["summary"]["final_equity"].as_f64(),
        Some(72.6322732899594),
        "the sweep's row is the single run's"
    );
    let huge = server
        .post(
            "/api/v1/backtests/sweeps",
            json!({"file": "candles-100k.csv", "fast": "1..100000", "slow": "1..100000"}),
            Some(&token),
        )
        .await;
    assert_error_code(
        &huge,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("fast"),
    );
    server.stop().await;
}

#[tokio::test]
async fn an_upload_is_checked_kept_for_its_owner_alone_and_backtested() {
    let uploads = tempfile::tempdir().unwrap();
    let config = ApiConfig {
        uploads_dir: Some(uploads.path().to_owned()),
        ..common::config()
    };
    let server = Server::start_sqlite(config).await;
    let (_, _, alice) = server.sign_up("alice").await;
    let (_, _, bob) = server.sign_up("bob").await;
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/candles-100k.csv");
    let text = std::fs::read_to_string(shared).unwrap();
    let first_20k: String = text
        .lines()
        .take(20_001)
        .map(|line| format!("{line}\n"))
        .collect();
    let put = |name: &str, content_type: Option<&'static str>, body: String, token: &str| {
        let path = format!("/api/v1/backtests/uploads/{name}");
        let token = token.to_owned();
        let server = &server;
        async move {
            server
                .send_raw(
                    reqwest::Method::PUT,
                    &path,
                    content_type,
                    body,
                    Some(&token),
                )
                .await
        }
    };
    let kept = put("mine.csv", Some("text/csv"), first_20k.clone(), &alice).await;
    assert_eq!(kept.status, StatusCode::CREATED, "{}", kept.text);
    assert_eq!(kept.body["source"], "upload");

    let listed = server.get("/api/v1/backtests/files", Some(&alice)).await;
    assert_eq!(
        listed.body,
        json!([{"name": "mine.csv", "source": "upload", "bytes": first_20k.len()}])
    );
    let theirs = server.get("/api/v1/backtests/files", Some(&bob)).await;
    assert_eq!(theirs.body, json!([]), "another user sees none of it");
    let run = server
        .post(
            "/api/v1/backtests",
            json!({"file": "mine.csv", "source": "upload"}),
            Some(&alice),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    assert_eq!(run.body["summary"]["candles"], 20_000);
    let not_bobs = server
        .post(
            "/api/v1/backtests",
            json!({"file": "mine.csv", "source": "upload"}),
            Some(&bob),
        )
        .await;
    assert_error_code(
        &not_bobs,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("file"),
    );

    let broken = format!("{}\n1,2,3\n", first_20k.trim_end());
    let refused = put("broken.csv", Some("text/csv"), broken, &alice).await;
    assert_error_code(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("file"),
    );
    assert!(
        refused.text.contains("broken.csv:20002"),
        "{}",
        refused.text
    );
    let not_csv = put("mine.csv", Some("application/json"), "{}".into(), &alice).await;
    assert_eq!(not_csv.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bad_name = put(".hidden.csv", Some("text/csv"), first_20k.clone(), &alice).await;
    assert_error_code(
        &bad_name,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("name"),
    );
    let too_big = put(
        "big.csv",
        Some("text/csv"),
        "1".repeat(api::MAX_UPLOAD_BYTES + 1),
        &alice,
    )
    .await;
    assert_eq!(
        too_big.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        too_big.text
    );

    let path = "/api/v1/backtests/uploads/mine.csv";
    let bobs_delete = server
        .send(reqwest::Method::DELETE, path, None, Some(&bob))
        .await;
    assert_eq!(bobs_delete.status, StatusCode::NOT_FOUND);
    let deleted = server
        .send(reqwest::Method::DELETE, path, None, Some(&alice))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let listed = server.get("/api/v1/backtests/files", Some(&alice)).await;
    assert_eq!(listed.body, json!([]));
    server.stop().await;
}
