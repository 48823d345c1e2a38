//! `spotbot sim` as a user runs it: it prints its address and a demo key, answers HTTP on
//! loopback, stops cleanly on Ctrl-C (SIGINT), and refuses to listen beyond loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

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

#[test]
fn sim_serves_on_loopback_prints_a_demo_key_and_stops_on_ctrl_c() {
    let mut child = spotbot()
        .args(["sim", "--listen", "127.0.0.1:0", "--seed", "7"])
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
    let address = banner[0]
        .rsplit("http://")
        .next()
        .expect("the first line names the address")
        .to_owned();
    let api_key = banner
        .iter()
        .find_map(|line| line.strip_prefix("  API key: "))
        .expect("an API key is printed");
    assert_eq!(api_key.len(), 64);

    let response = http_get(&address, "/api/v3/ping");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("{}"), "{response}");

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
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
