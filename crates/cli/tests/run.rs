//! `spotbot run` as a newcomer runs it: with no configuration, in an empty directory, it creates
//! the SQLite database and the demo bot under `./data/`, trades on the built-in exchange, stops
//! cleanly on Ctrl-C (SIGINT) and SIGTERM, and continues with the same database when run again;
//! `spotbot bots` and `spotbot trades` then list what happened. Bad configuration is refused
//! with the key or variable named.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn spotbot(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spotbot"));
    command
        .current_dir(dir)
        .env_remove("SPOTBOT_DATABASE_URL")
        .env_remove("SPOTBOT_EXCHANGE")
        .env("RUST_LOG", "info");
    command
}

/// A running `spotbot run`, and its log lines as they come.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(dir: &Path) -> Running {
        let mut child = spotbot(dir)
            // Port 0: a test machine may have 8080 taken.
            .args(["run", "--sim-speed", "600", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spotbot starts");
        let (sender, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits up to `within` for a line containing `text`.
    fn wait_for(&mut self, text: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {text:?} within {within:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends `signal` and returns whether it exited successfully, with every line it printed.
    fn stop(mut self, signal: &str) -> (bool, Vec<String>) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (status.success(), self.seen)
    }
}

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
    let api = first.wait_for("HTTP API at http://", Duration::from_secs(30));
    let address = api.rsplit("http://").next().unwrap().trim();
    let health = http_get(address, "/health");
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
    assert_eq!(typo.status.code(), Some(2));
    let message = output_text(&typo);
    assert!(
        message.contains("spotbot.toml") && message.contains("paralelism"),
        "{message}"
    );

    let live = spotbot(dir.path())
        .args(["run", "--exchange", "live"])
        .env("BINANCE_API_KEY", "k")
        .env("BINANCE_API_SECRET", "s")
        .output()
        .unwrap();
    assert_eq!(live.status.code(), Some(2));
    assert!(
        output_text(&live).contains("[live]\nconfirm = "),
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
