//! The `spotbot` binary as a user runs it: reference figures in JSON, the trade and equity files,
//! exit status 2 with a message naming the parameter for bad parameters, 1 for bad data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn spotbot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spotbot"))
        .args(args)
        .output()
        .expect("spotbot runs")
}

fn shared_data() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/candles-100k.csv");
    assert!(
        path.exists(),
        "{} is missing: the tests need shared/ next to the repository",
        path.display()
    );
    path.to_str().unwrap().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn backtest_json_prints_the_reference_figures() {
    let output = spotbot(&["backtest", "--data", &shared_data(), "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["candles"], 100_000);
    assert_eq!(report["round_trips"], 2_334);
    let final_equity = report["final_equity"].as_f64().unwrap();
    assert!(
        (final_equity / 72.6322732899594 - 1.0).abs() < 1e-9,
        "{final_equity}"
    );
    let fees = report["total_fees"].as_f64().unwrap();
    assert!((fees / 9450.749944143356 - 1.0).abs() < 1e-9, "{fees}");
    for key in [
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "sharpe",
        "exposure",
        "strategy",
    ] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    assert_eq!(report["fill"], "close");
}

#[test]
fn backtest_writes_trades_and_equity_files() {
    let dir = tempfile::tempdir().unwrap();
    let trades = dir.path().join("trades.csv");
    let equity = dir.path().join("equity.csv");
    let output = spotbot(&[
        "backtest",
        "--data",
        &shared_data(),
        "--trades-out",
        trades.to_str().unwrap(),
        "--equity-out",
        equity.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("round trips") && stdout.contains("2334"),
        "{stdout}"
    );
    let trades = std::fs::read_to_string(trades).unwrap();
    assert_eq!(
        trades.lines().next(),
        Some(
            "entry_time_ms,entry_price,exit_time_ms,exit_price,qty,exit_qty,pnl,entry_time,exit_time"
        )
    );
    assert_eq!(trades.lines().count(), 2_335);
    let first = trades.lines().nth(1).unwrap();
    let fields: Vec<&str> = first.split(',').collect();
    assert_eq!(fields.len(), 9, "{first}");
    assert_eq!(
        fields[4], fields[5],
        "all in: the whole quantity bought is sold"
    );
    assert!(
        fields[7].starts_with("2024-01-01T") && fields[7].ends_with('Z'),
        "{first}"
    );
    let equity = std::fs::read_to_string(equity).unwrap();
    assert_eq!(equity.lines().count(), 100_001);
    assert_eq!(
        equity.lines().last().unwrap(),
        "1710067140000,72.6322732899594,2024-03-10T10:39:00Z"
    );
}

/// Insists that `spotbot backtest --data DATA ARGS` exits 2 saying `needle`.
fn backtest_is_refused(data: &str, args: &[&str], needle: &str) {
    let mut full = vec!["backtest", "--data", data];
    full.extend(args);
    let output = spotbot(&full);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{args:?}: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains(needle),
        "{args:?}: {}",
        stderr(&output)
    );
}

#[test]
fn invalid_parameters_exit_2_and_name_the_parameter() {
    let data = shared_data();
    for (args, needle) in [
        (
            vec!["--fast", "21", "--slow", "21"],
            "fast EMA period (21) must be smaller than slow EMA period (21)",
        ),
        (vec!["--rsi", "0"], "rsi period must be at least 1"),
        (vec!["--fee", "-0.1"], "fee must be"),
        (vec!["--cash", "0"], "cash must be greater than zero"),
        (
            vec!["--quote-per-trade", "-5"],
            "quote per trade must be greater than zero",
        ),
        (
            vec!["--overbought", "150"],
            "overbought must be between 0 and 100",
        ),
        (vec!["--fast", "abc"], "--fast"),
    ] {
        backtest_is_refused(&data, &args, needle);
    }
}

#[test]
fn bad_data_exits_1_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "open_time_ms,open,high,low,close,volume\n1,1,1,1,1,1\n2,1,1,1,x,1\n",
    )
    .unwrap();
    let output = spotbot(&["backtest", "--data", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("bad.csv:3: column 5 (close): \"x\" is not a number"),
        "{}",
        stderr(&output)
    );

    let output = spotbot(&["backtest", "--data", "/nonexistent/file.csv"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot read candle file /nonexistent/file.csv"),
        "{}",
        stderr(&output)
    );
    // The operating system's words once, not once per layer of the error.
    let os_message = "No such file or directory (os error 2)";
    assert_eq!(
        stderr(&output).matches(os_message).count(),
        1,
        "{}",
        stderr(&output)
    );

    // A high below its low is no candle.
    std::fs::write(
        &bad,
        "open_time_ms,open,high,low,close,volume\n1,10,11,9,10,1\n2,10,9,11,10,1\n",
    )
    .unwrap();
    let output = spotbot(&["backtest", "--data", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("bad.csv:3: high 9 is below low 11"),
        "{}",
        stderr(&output)
    );

    // A "file" without line ends is refused at once, not read into all the memory there is.
    #[cfg(unix)]
    {
        let output = spotbot(&["backtest", "--data", "/dev/zero"]);
        assert_eq!(output.status.code(), Some(1));
        assert!(
            stderr(&output).contains("/dev/zero:1: the line runs past 4194304 bytes"),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn a_malformed_config_exits_1_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spotbot.toml");
    std::fs::write(&config, "[api]\nlisten = \n").unwrap();
    let output = spotbot(&["bots", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("spotbot.toml"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
}

#[test]
fn book_fills_say_what_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("solusdt.json");
    std::fs::write(
        &rules,
        r#"{"symbol":"SOLUSDT","status":"TRADING","baseAsset":"SOL","baseAssetPrecision":8,"quoteAsset":"USDT","quoteAssetPrecision":8,"quoteOrderQtyMarketAllowed":true,"orderTypes":["MARKET"],"filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01","maxPrice":"10000","tickSize":"0.01"},{"filterType":"LOT_SIZE","minQty":"0.001","maxQty":"100","stepSize":"0.001"}]}"#,
    )
    .unwrap();
    let data = shared_data();
    let rules = rules.to_str().unwrap();
    for (args, needle) in [
        (vec!["--fill", "book"], "--fill book needs --rules"),
        (
            vec![
                "--fill",
                "book",
                "--rules",
                rules,
                "--quote-per-trade",
                "100",
            ],
            "spotbot sim lists no SOLUSDT",
        ),
        (
            vec!["--fill", "nowhere"],
            "invalid value 'nowhere' for '--fill <WHERE>'",
        ),
    ] {
        backtest_is_refused(&data, &args, needle);
    }
}

#[test]
fn rules_file_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","baseAssetPrecision":8,"quoteAsset":"USDT","quoteAssetPrecision":8,"quoteOrderQtyMarketAllowed":true,"orderTypes":["MARKET"],"filters":[{"filterType":"LOT_SIZE","minQty":"0.001","maxQty":"100","stepSize":"abc"}]}"#,
    )
    .unwrap();
    let output = spotbot(&[
        "backtest",
        "--data",
        &shared_data(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("stepSize"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("rules.json"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sweep_ranks_and_writes_every_combination() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep.csv");
    let output = spotbot(&[
        "sweep",
        "--data",
        &shared_data(),
        "--fast",
        "5..9:2",
        "--slow",
        "21,30",
        "--rsi",
        "14",
        "--overbought",
        "65..75:5",
        "--top",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = std::fs::read_to_string(&out).unwrap();
    // 3 fast x 2 slow x 1 rsi x 3 levels.
    assert_eq!(csv.lines().count(), 1 + 18);
    let default_row = csv
        .lines()
        .find(|line| line.starts_with("9,21,14,70.0,"))
        .expect("the default combination is in the results");
    assert!(
        default_row.starts_with("9,21,14,70.0,2334,72.6322732899594,"),
        "{default_row}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("18 combinations"), "{stdout}");
    assert_eq!(stdout.lines().count(), 2 + 3, "{stdout}");
}

#[test]
fn sweep_rejects_a_bad_range_with_status_2() {
    let output = spotbot(&["sweep", "--data", &shared_data(), "--fast", "20..5"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("\"20..5\" is not a valid range"),
        "{}",
        stderr(&output)
    );
    let output = spotbot(&[
        "sweep",
        "--data",
        &shared_data(),
        "--fast",
        "30",
        "--slow",
        "20",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no combination has fast < slow"),
        "{}",
        stderr(&output)
    );
    // A grid of ten billion combinations is refused before any is built, with the limit.
    let output = spotbot(&[
        "sweep",
        "--data",
        &shared_data(),
        "--fast",
        "1..100000",
        "--slow",
        "1..100000",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the grid holds 10000000000 combinations, more than the 1000000"),
        "{}",
        stderr(&output)
    );
    let output = spotbot(&["sweep", "--data", &shared_data(), "--threads", "100000"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--threads"), "{}", stderr(&output));
}

#[test]
fn help_explains_the_commands() {
    let output = spotbot(&["backtest", "--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--data",
        "--quote-per-trade",
        "--rules",
        "--trades-out",
        "TA-Lib",
    ] {
        assert!(help.contains(needle), "missing {needle}");
    }
    assert!(Path::new(env!("CARGO_BIN_EXE_spotbot")).exists());
}
