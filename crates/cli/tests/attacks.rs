//! The service attacked as an attacker would, end to end against a real `spotbot run`: each
//! finding of the hardening review (issue 17) is tried again and must be refused or harmless.
//!
//! - log injection: a login name with a newline and ANSI escapes forges no line and no colour;
//! - password hashing: 64 concurrent registrations from four addresses raise the process's peak
//!   memory by far less than 64 hashes' worth (19 MiB each);
//! - registration: one address registers at most 20 accounts per 15 minutes;
//! - file descriptors: 1,100 idle connections leave `/health` answering;
//! - shutdown: a client dripping a request body delays SIGTERM by the drain (10 s) at most, and
//!   the process still exits cleanly, its exchange's state saved;
//! - files: the data directory is 0700 and every file in it 0600;
//! - names and passwords: names that differ only in case are one account; guessable passwords
//!   are refused;
//! - input: a reversed time range, a repeated JSON key, an invisible or bidirectional bot name
//!   are 422s naming the field;
//! - the built-in exchange's admin API refuses any other process of the machine.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;

use common::Running;

/// A client whose requests leave from `source` (Linux routes all of 127/8 to loopback).
fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(source))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `POST path` with `body` (raw JSON text) from `client`: the status and the body.
async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: String,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn register_body(username: &str, email: &str, password: &str) -> String {
    json!({"email": email, "username": username, "password": password}).to_string()
}

/// The process's peak resident memory so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// Raises this test process's own open-files limit, so that it can hold 1,100 sockets.
fn raise_own_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

/// `GET /health` on a fresh connection within `within`: whether it answered 200.
fn health_answers(address: SocketAddr, within: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, within) else {
        return false;
    };
    stream.set_read_timeout(Some(within)).unwrap();
    let request = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_withstands_the_attacks_of_the_review() {
    let dir = tempfile::tempdir().unwrap();
    let mut spotbot = Running::start(dir.path());
    let exchange = spotbot
        .wait_for("built-in exchange at http://", Duration::from_secs(30))
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let address = spotbot.api_address();
    let base = format!("http://{address}");
    let local = client_from(Ipv4Addr::LOCALHOST);

    // The built-in exchange's admin API mints funded accounts: no other process may use it,
    // even on this machine.
    let minted = local
        .post(format!("http://{exchange}/_sim/accounts"))
        .header("content-type", "application/json")
        .body(r#"{"balances": {"USDT": "1000000"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), StatusCode::FORBIDDEN);

    // Names and passwords: one account whatever the case; guessable passwords refused.
    let (status, _) = post(
        &local,
        &base,
        "/api/v1/auth/register",
        register_body("Mallory", "mallory@example.com", "tangerine viaduct 47"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for (username, email, field) in [
        ("mallory", "other@example.com", "username"),
        ("mallory2", "MALLORY@Example.com", "email"),
    ] {
        let (status, body) = post(
            &local,
            &base,
            "/api/v1/auth/register",
            register_body(username, email, "tangerine viaduct 47"),
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::CONFLICT, Some(field)),
            "{body}"
        );
    }
    for guessable in ["          ", "password12", "1234567890", "trudy-the-user"] {
        let (status, body) = post(
            &local,
            &base,
            "/api/v1/auth/register",
            register_body("trudy-the-user", "trudy@example.com", guessable),
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
            "{guessable:?}: {body}"
        );
    }
    let (status, login) = post(
        &local,
        &base,
        "/api/v1/auth/login",
        json!({"username": "MALLORY", "password": "tangerine viaduct 47"}).to_string(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a name logs in whatever its case: {login}"
    );
    let token = login["token"].as_str().unwrap().to_owned();

    // Input: a reversed time range, a repeated key, names that hide or reorder text.
    let reversed = local
        .get(format!("{base}/api/v1/trades?from_ms=5000&to_ms=1000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reversed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let reversed: Value = serde_json::from_str(&reversed.text().await.unwrap()).unwrap();
    assert_eq!(reversed["field"], "to_ms");
    let twice = r#"{"username": "a", "username": "b", "password": "x"}"#.to_owned();
    let (status, body) = post(&local, &base, "/api/v1/auth/login", twice).await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("duplicate_field"),
            Some("username")
        )
    );
    for name in ["\u{200B}", "profit\u{202E}ssol"] {
        let bot = json!({"name": name, "symbol": "BTCUSDT", "interval": "1m", "strategy": "ema_rsi_cross", "quote_per_buy": "25", "mode": "paper", "is_active": false});
        let answer = local
            .post(format!("{base}/api/v1/bots"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(bot.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?}"
        );
        let answer: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        assert_eq!(answer["field"], "name");
    }

    // Log injection: the login name is logged (its failures are limited), escaped.
    let forged = "eve\n2026-12-06T00:00:00Z  INFO forged: admin logged in\u{1b}[31m";
    for _ in 0..6 {
        post(
            &local,
            &base,
            "/api/v1/auth/login",
            json!({"username": forged, "password": "wrong password"}).to_string(),
        )
        .await;
    }

    // Registration is limited per address: the 20th passes, the 21st is told when to retry.
    let stranger = client_from(Ipv4Addr::new(127, 0, 0, 9));
    for index in 0..20 {
        let (status, body) = post(
            &stranger,
            &base,
            "/api/v1/auth/register",
            register_body(
                &format!("flood{index}"),
                &format!("flood{index}@example.com"),
                "tangerine viaduct 47",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{index}: {body}");
    }
    let (status, body) = post(
        &stranger,
        &base,
        "/api/v1/auth/register",
        register_body("flood20", "flood20@example.com", "tangerine viaduct 47"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_requests"))
    );

    // Password hashing is bounded: 64 registrations at once from four addresses.
    let before = peak_rss_kib(spotbot.id());
    let mut burst = Vec::new();
    for index in 0..64u8 {
        let client = client_from(Ipv4Addr::new(127, 0, 1, 1 + index % 4));
        let base = base.clone();
        burst.push(tokio::spawn(async move {
            post(
                &client,
                &base,
                "/api/v1/auth/register",
                register_body(
                    &format!("burst{index}"),
                    &format!("burst{index}@example.com"),
                    "tangerine viaduct 47",
                ),
            )
            .await
            .0
        }));
    }
    for registration in burst {
        assert_eq!(registration.await.unwrap(), StatusCode::CREATED);
    }
    let grown_mib = (peak_rss_kib(spotbot.id()).saturating_sub(before)) / 1024;
    eprintln!("attacks: 64 registrations at once raised the peak memory by {grown_mib} MiB");
    // One hash at a time per core (19 MiB each) and the allocator's slack; unbounded, the burst
    // took 1.1 GB.
    assert!(grown_mib < 300, "the peak grew by {grown_mib} MiB");

    // File descriptors: a thousand idle connections leave the service answering.
    raise_own_file_limit();
    let address: SocketAddr = address.parse().unwrap();
    let idle: Vec<TcpStream> = (0..1_100)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    assert!(
        health_answers(address, Duration::from_secs(5)),
        "/health answers beside 1,100 idle connections"
    );
    drop(idle);

    // Shutdown: a client drips a request body; SIGTERM still ends the process within the drain.
    let mut dripping = TcpStream::connect(address).unwrap();
    dripping
        .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"user")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let (clean, lines) = spotbot.stop("-TERM");
    assert!(clean, "{lines:#?}");
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "stopped after {:?}",
        asked.elapsed()
    );
    drop(dripping);

    // The log holds the forged name on one line, escaped: no line of its own, no colour.
    assert!(
        !lines
            .iter()
            .any(|line| line.starts_with("2026-12-06T00:00:00Z  INFO forged")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|line| line.contains('\u{1b}')),
        "an escape reached the log"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("eve\\u{a}2026-12-06")),
        "{lines:#?}"
    );

    // Files: nobody but the service's user reads the database or the exchange's state.
    assert_private(&dir.path().join("data"));
}

/// `dir` is 0700 and every file and directory under it 0600 or 0700.
fn assert_private(dir: &Path) {
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let metadata = std::fs::metadata(&path).unwrap();
        if metadata.is_dir() {
            assert_private(&path);
        } else {
            let mode = metadata.permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        }
    }
}
