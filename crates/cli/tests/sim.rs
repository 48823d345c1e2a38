//! `spotbot sim` as a user runs it: it prints its address and a demo key, answers HTTP on
//! loopback, injects the faults of a `--faults` file, creates the accounts of an `--accounts`
//! file, keeps its state across a restart with `--state`, stops cleanly on Ctrl-C (SIGINT), and
//! refuses to listen beyond loopback or to start with a bad faults, accounts or state file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};

fn spotbot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spotbot"))
}

/// A plain HTTP/1.1 GET; returns the whole response text.
fn http_get(address: &str, path: &str) -> String {
    http_request(
        address,
        &format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
    )
}

/// Sends `request` (raw HTTP/1.1, ending the connection) and reads the whole answer.
fn http_request(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the simulator accepts connections");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A signed request (`params` in the query string, `timestamp` added) with the API key header;
/// returns the whole response text.
fn http_signed(
    address: &str,
    method: &str,
    path: &str,
    params: &str,
    api_key: &str,
    secret: &str,
) -> String {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let query = if params.is_empty() {
        format!("timestamp={timestamp}")
    } else {
        format!("{params}&timestamp={timestamp}")
    };
    let signature = sim::sign(secret, &query);
    let mut stream = TcpStream::connect(address).expect("the simulator accepts connections");
    write!(
        stream,
        "{method} {path}?{query}&signature={signature} HTTP/1.1\r\nHost: {address}\r\nX-MBX-APIKEY: {api_key}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The banner line starting with `prefix`, without it.
fn banner_value<'a>(banner: &'a [String], prefix: &str) -> Option<&'a str> {
    banner.iter().find_map(|line| line.strip_prefix(prefix))
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
fn sim_refuses_a_non_loopback_address_without_a_token_with_status_2() {
    let output = spotbot()
        .args(["sim", "--listen", "0.0.0.0:0", "--open-admin"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback only"), "{stderr}");
}

#[test]
fn sim_prints_a_new_admin_token_that_even_loopback_clients_must_send() {
    let sim = RunningSim::start(&[]);
    let address = sim.address();
    let token = sim
        .banner
        .iter()
        .find_map(|line| line.trim().strip_prefix("admin token: "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a new token is printed")
        .to_owned();
    assert_eq!(token.len(), 64);
    let without = http_get(&address, "/_sim/orders");
    assert!(without.starts_with("HTTP/1.1 403"), "{without}");
    let with = http_request(
        &address,
        &format!(
            "GET /_sim/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(with.starts_with("HTTP/1.1 200"), "{with}");
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

#[test]
fn sim_creates_the_accounts_of_an_accounts_file_and_names_the_field_of_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("spotbot-sim-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("accounts.toml");
    std::fs::write(
        &path,
        "demo = false\n[[accounts]]\napi_key = \"fileKey1\"\nsecret = \"fileSecret1\"\nbalances = { USDT = \"1234.5\", BNB = 2 }\ncommission_in_bnb = true\n",
    )
    .unwrap();
    let sim = RunningSim::start(&["--accounts", path.to_str().unwrap()]);
    assert!(
        banner_value(&sim.banner, "  API key: ").is_none(),
        "no demo account: {:?}",
        sim.banner
    );
    assert!(
        banner_value(&sim.banner, "  accounts: 1 from").is_some(),
        "{:?}",
        sim.banner
    );
    let account = http_signed(
        &sim.address(),
        "GET",
        "/api/v3/account",
        "",
        "fileKey1",
        "fileSecret1",
    );
    assert!(account.starts_with("HTTP/1.1 200"), "{account}");
    assert!(
        account.contains(r#"{"asset":"USDT","free":"1234.50000000","locked":"0.00000000"}"#),
        "{account}"
    );
    assert!(sim.interrupt().0);

    std::fs::write(
        &path,
        "[[accounts]]\napi_key = \"k\"\nsecret = \"s\"\nbalances = { BTC = \"-1\" }\n",
    )
    .unwrap();
    let output = spotbot()
        .args(["sim", "--listen", "127.0.0.1:0", "--accounts"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("accounts[0].balances.BTC"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sim_keeps_balances_orders_and_the_demo_key_in_a_state_file_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("spotbot-sim-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let state = path.to_str().unwrap();

    let first = RunningSim::start(&["--state", state]);
    assert!(
        first.banner.iter().any(|line| line.ends_with("(new)")),
        "{:?}",
        first.banner
    );
    let api_key = banner_value(&first.banner, "  API key: ")
        .unwrap()
        .to_owned();
    let secret = banner_value(&first.banner, "  secret:  ")
        .unwrap()
        .to_owned();
    let placed = http_signed(
        &first.address(),
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&newClientOrderId=paper-1",
        &api_key,
        &secret,
    );
    assert!(placed.starts_with("HTTP/1.1 200"), "{placed}");
    let account_before = http_signed(
        &first.address(),
        "GET",
        "/api/v3/account",
        "",
        &api_key,
        &secret,
    );
    let (success, rest) = first.interrupt();
    assert!(success, "{rest}");
    assert!(rest.contains("state saved"), "{rest}");

    let second = RunningSim::start(&["--state", state]);
    assert_eq!(
        banner_value(&second.banner, "  API key: "),
        Some(api_key.as_str())
    );
    assert!(
        second
            .banner
            .iter()
            .any(|line| line.contains("restored, 1 orders")),
        "{:?}",
        second.banner
    );
    let order = http_signed(
        &second.address(),
        "GET",
        "/api/v3/order",
        "symbol=BTCUSDT&origClientOrderId=paper-1",
        &api_key,
        &secret,
    );
    assert!(order.starts_with("HTTP/1.1 200"), "{order}");
    // Ids start from the real time (never 1), so that a restart without the state file cannot
    // repeat them; this one is the id the first run gave.
    let order_id = |answer: &str| -> u64 {
        let after = &answer[answer.find(r#""orderId":"#).expect("an orderId") + 10..];
        after[..after.find(',').unwrap()].parse().unwrap()
    };
    assert!(order_id(&placed) > 1_700_000_000_000_000, "{placed}");
    assert_eq!(order_id(&order), order_id(&placed), "{order}");
    let account_after = http_signed(
        &second.address(),
        "GET",
        "/api/v3/account",
        "",
        &api_key,
        &secret,
    );
    let balances = |response: &str| {
        response
            .split("\"balances\":")
            .nth(1)
            .map(|rest| rest.split(']').next().unwrap_or_default().to_owned())
    };
    assert_eq!(balances(&account_after), balances(&account_before));
    assert!(balances(&account_after).is_some_and(|text| text.contains("BTC")));
    assert!(second.interrupt().0);

    // A corrupt state file stops the start, names the file, and is left as it was.
    std::fs::write(&path, "{ not json").unwrap();
    let output = spotbot()
        .args(["sim", "--listen", "127.0.0.1:0", "--state", state])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(state), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");
    std::fs::remove_dir_all(&dir).unwrap();
}
