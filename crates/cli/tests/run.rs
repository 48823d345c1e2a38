//! `spotbot run` as a newcomer runs it: with no configuration, in an empty directory, it creates
//! the SQLite database and the demo bot under `./data/`, trades on the built-in exchange, stops
//! cleanly on Ctrl-C (SIGINT) and SIGTERM, and continues with the same database when run again;
//! `spotbot bots` and `spotbot trades` then list what happened. Bad configuration is refused
//! with the key or variable named.

use std::process::Output;
use std::time::Duration;

mod common;

use common::{Running, spotbot};

/// The whole answer to `GET path` on `address`, over a plain socket.
fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_demo_trades_stops_cleanly_and_continues_with_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Running::start(dir.path());
    let address = first.api_address();
    let health = http_get(&address, "/health");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("{\"status\":\"ok\"}"),
        "{health}"
    );
    first.wait_for("created the demo user", Duration::from_secs(30));
    let trade = first.wait_for("trade: BUY", Duration::from_secs(60));
    assert!(trade.contains("BTCUSDT"), "{trade}");
    first.wait_for("no signal at the candle of", Duration::from_secs(30));
    let (success, lines) = first.stop("-INT");
    assert!(success, "Ctrl-C is a clean stop:\n{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|line| line.contains("spotbot run: stopped after")),
        "{lines:?}"
    );
    assert!(dir.path().join("data/spotbot.db").exists());
    assert!(dir.path().join("data/sim-state.json").exists());

    let trades = spotbot(dir.path())
        .args(["trades", "--csv"])
        .output()
        .unwrap();
    assert!(trades.status.success(), "{}", output_text(&trades));
    let csv = String::from_utf8(trades.stdout).unwrap();
    let rows_before = csv.lines().count() - 1;
    assert!(rows_before >= 1, "{csv}");
    assert!(
        csv.lines().nth(1).unwrap().contains(",BTCUSDT,BUY,"),
        "{csv}"
    );

    // Again, in the same directory: the same database and exchange, no second demo bot.
    let mut second = Running::start(dir.path());
    second.wait_for("1 bots in the database", Duration::from_secs(30));
    second.wait_for("no signal at the candle of", Duration::from_secs(30));
    let (success, lines) = second.stop("-TERM");
    assert!(success, "SIGTERM is a clean stop:\n{}", lines.join("\n"));
    assert!(
        !lines
            .iter()
            .any(|line| line.contains("created the demo user")),
        "{lines:?}"
    );

    let bots = spotbot(dir.path()).arg("bots").output().unwrap();
    let listing = output_text(&bots);
    assert!(bots.status.success(), "{listing}");
    assert!(
        listing.contains("demo-ema-rsi") && listing.contains("BTCUSDT"),
        "{listing}"
    );
    assert_eq!(listing.lines().count(), 2, "one bot: {listing}");
    let trades = spotbot(dir.path())
        .args(["trades", "--csv"])
        .output()
        .unwrap();
    let rows_after = String::from_utf8(trades.stdout).unwrap().lines().count() - 1;
    assert!(rows_after >= rows_before, "trades are kept across runs");

    // The exchange's state lost, the database kept: the demo user's paper account is the new
    // demo account, and the demo trades on with it.
    std::fs::remove_file(dir.path().join("data/sim-state.json")).unwrap();
    let mut third = Running::start(dir.path());
    third.wait_for("trade: ", Duration::from_secs(60));
    let (success, lines) = third.stop("-INT");
    assert!(success, "{}", lines.join("\n"));
    assert!(
        !lines
            .iter()
            .any(|line| line.contains("rejected your API key")),
        "{lines:?}"
    );
}

#[test]
fn bad_configuration_is_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spotbot.toml"),
        "[engine]\nparalelism = 4\n",
    )
    .unwrap();
    let typo = spotbot(dir.path())
        .args(["run", "--config", "spotbot.toml"])
        .output()
        .unwrap();
    // A malformed file is bad input (1), not a bad command line (2).
    assert_eq!(typo.status.code(), Some(1));
    let message = output_text(&typo);
    assert!(
        message.contains("spotbot.toml") && message.contains("paralelism"),
        "{message}"
    );

    std::fs::write(dir.path().join("live.toml"), "[live]\nconfirm = \"yes\"\n").unwrap();
    let live = spotbot(dir.path())
        .args(["run", "--config", "live.toml"])
        .output()
        .unwrap();
    assert_eq!(live.status.code(), Some(2));
    assert!(
        output_text(&live)
            .contains("[live] confirm must be exactly \"I accept that spotbot trades real money\""),
        "{}",
        output_text(&live)
    );

    let retries = spotbot(dir.path())
        .arg("run")
        .env("BINANCE_RETRY_MAX_ATTEMPTS", "many")
        .output()
        .unwrap();
    assert_eq!(retries.status.code(), Some(2));
    assert!(output_text(&retries).contains("BINANCE_RETRY_MAX_ATTEMPTS"));

    let no_database = spotbot(dir.path()).arg("trades").output().unwrap();
    assert_eq!(no_database.status.code(), Some(2));
    assert!(output_text(&no_database).contains("run `spotbot run` first"));
    assert!(
        !dir.path().join("data").exists(),
        "a refused start creates nothing"
    );
}

#[test]
fn a_taken_api_address_is_refused_naming_it_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let run = spotbot(dir.path())
        .args(["run", "--listen", &address])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", output_text(&run));
    let message = output_text(&run);
    assert!(
        message.contains(&address) && message.contains("--listen"),
        "{message}"
    );
}
