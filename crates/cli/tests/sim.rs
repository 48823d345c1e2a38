//! `spotbot sim` as a user runs it: it prints its address and a demo key, answers HTTP on
//! loopback, injects the faults of a `--faults` file, stops cleanly on Ctrl-C (SIGINT), and
//! refuses to listen beyond loopback or to start with a bad faults file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};

fn spotbot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spotbot"))
}

/// A plain HTTP/1.1 GET; returns the whole response text.
fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the simulator accepts connections");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A running `spotbot sim` with `extra` arguments, its banner lines and the rest of its stdout.
struct RunningSim {
    child: Child,
    banner: Vec<String>,
    stdout: BufReader<ChildStdout>,
}

impl RunningSim {
    fn start(extra: &[&str]) -> RunningSim {
        let mut child = spotbot()
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spotbot starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = Vec::new();
        while !banner
            .last()
            .is_some_and(|line: &String| line.starts_with("Press Ctrl-C"))
        {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "banner ended early: {banner:?}"
            );
            banner.push(line.trim_end().to_owned());
        }
        RunningSim {
            child,
            banner,
            stdout,
        }
    }

    /// The `127.0.0.1:PORT` the first banner line names.
    fn address(&self) -> String {
        self.banner[0]
            .rsplit("http://")
            .next()
            .expect("the first line names the address")
            .to_owned()
    }

    /// Sends SIGINT and returns whether it exited successfully, and the rest of its output.
    fn interrupt(mut self) -> (bool, String) {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(interrupted.success());
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (status.success(), rest)
    }
}

#[test]
fn sim_serves_on_loopback_prints_a_demo_key_and_stops_on_ctrl_c() {
    let sim = RunningSim::start(&["--seed", "7"]);
    let address = sim.address();
    let api_key = sim
        .banner
        .iter()
        .find_map(|line| line.strip_prefix("  API key: "))
        .expect("an API key is printed");
    assert_eq!(api_key.len(), 64);
    assert!(sim.banner.iter().any(|line| line.contains("/_sim/")));

    let response = http_get(&address, "/api/v3/ping");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("{}"), "{response}");
    assert!(response.contains("x-mbx-used-weight-1m: 1"), "{response}");

    let (success, rest) = sim.interrupt();
    assert!(success);
    assert!(rest.contains("stopped"), "{rest}");
}

#[test]
fn sim_injects_the_faults_of_a_faults_file() {
    let dir = std::env::temp_dir().join(format!("spotbot-sim-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("faults.json");
    std::fs::write(
        &path,
        r#"{"rules": [{"fault": "server_busy", "endpoints": ["GET /api/v3/ping"], "trigger": {"next": 1}}]}"#,
    )
    .unwrap();
    let sim = RunningSim::start(&["--faults", path.to_str().unwrap()]);
    let address = sim.address();
    let busy = http_get(&address, "/api/v3/ping");
    assert!(busy.starts_with("HTTP/1.1 500"), "{busy}");
    assert!(busy.contains("-1008"), "{busy}");
    let fine = http_get(&address, "/api/v3/ping");
    assert!(fine.starts_with("HTTP/1.1 200"), "{fine}");
    assert!(sim.interrupt().0);

    std::fs::write(&path, r#"{"rules": [{"fault": "nonsense"}]}"#).unwrap();
    let output = spotbot()
        .args(["sim", "--listen", "127.0.0.1:0", "--faults"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a fault plan"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sim_refuses_a_non_loopback_address_with_status_2() {
    let output = spotbot()
        .args(["sim", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback only"), "{stderr}");
}

#[test]
fn sim_replays_a_candle_file_and_refuses_a_bad_one_naming_it() {
    let dir = std::env::temp_dir().join(format!("spotbot-sim-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("btc.csv");
    let rows: String = (0..10)
        .map(|index| {
            format!(
                "{},123.45,123.45,123.45,123.45,1\n",
                1_600_000_000_000i64 + index * 60_000
            )
        })
        .collect();
    std::fs::write(
        &path,
        format!("open_time_ms,open,high,low,close,volume\n{rows}"),
    )
    .unwrap();
    let replay = format!("BTCUSDT={}", path.display());
    let sim = RunningSim::start(&["--replay", &replay]);
    assert!(
        sim.banner.iter().any(|line| line.contains("replaying")),
        "{:?}",
        sim.banner
    );
    let ticker = http_get(&sim.address(), "/api/v3/ticker/price?symbol=BTCUSDT");
    assert!(ticker.contains(r#""price":"123.45000000""#), "{ticker}");
    assert!(sim.interrupt().0);

    std::fs::write(
        &path,
        "open_time_ms,open,high,low,close,volume\n0,1,x,1,1,1\n",
    )
    .unwrap();
    for arguments in [
        vec!["--replay", replay.as_str()],
        vec!["--replay", "XRPUSDT=/nonexistent.csv"],
        vec!["--replay", "BTCUSDT"],
    ] {
        let output = spotbot()
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(&arguments)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{arguments:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let named = arguments[1].split('=').nth(1).unwrap_or("SYMBOL=FILE");
        assert!(stderr.contains(named), "{arguments:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
