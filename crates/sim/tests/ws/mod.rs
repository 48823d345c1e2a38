//! Shared by the WebSocket tests: a real WebSocket client over loopback (tokio-tungstenite), reads
//! with a deadline so that a missing event fails the test instead of hanging it, and the manual
//! clock moved through the admin API.

#![allow(dead_code)] // Each test binary uses its own subset of these helpers.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::common::TestSim;

/// A client socket.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for a message it expects.
pub const PATIENCE: Duration = Duration::from_secs(2);

/// Connects to `path` (`/ws/btcusdt@trade`, `/stream?streams=..`, `/ws-api/v3`).
pub async fn connect(sim: &TestSim, path: &str) -> Socket {
    try_connect(sim, path)
        .await
        .unwrap_or_else(|err| panic!("{path}: the connection is refused: {err}"))
}

/// Connects to `path`, or says why not.
pub async fn try_connect(
    sim: &TestSim,
    path: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("ws://{}{path}", sim.server.local_addr());
    tokio_tungstenite::connect_async(url)
        .await
        .map(|(socket, _)| socket)
}

/// The next text message as JSON, skipping pings and pongs; fails after [`PATIENCE`].
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket stays open")
            .expect("a readable message");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("messages are JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Every text message that arrives until none has for `quiet`.
pub async fn drain(socket: &mut Socket, quiet: Duration) -> Vec<Value> {
    let mut messages = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(quiet, socket.next()).await {
        if let Message::Text(text) = message {
            messages.push(serde_json::from_str(&text).expect("messages are JSON"));
        }
    }
    messages
}

/// Asserts that no text message arrives for `quiet`.
pub async fn assert_quiet(socket: &mut Socket, quiet: Duration) {
    let messages = drain(socket, quiet).await;
    assert!(messages.is_empty(), "nothing expected, got {messages:?}");
}

/// Sends `request` as a text message.
pub async fn send_json(socket: &mut Socket, request: &Value) {
    socket
        .send(Message::text(request.to_string()))
        .await
        .expect("the request goes out");
}

/// Reads until the connection ends: its close frame, or `None` when it was cut without one.
/// Fails when it stays open for [`PATIENCE`].
pub async fn ending(socket: &mut Socket) -> Option<CloseFrame> {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the connection ends in time")
        {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

/// Moves the simulator's manual clock by `ms`.
pub async fn advance(sim: &TestSim, ms: i64) {
    let (status, clock) = sim
        .admin(Method::PUT, "/clock", Some(json!({"advance_ms": ms})))
        .await;
    assert_eq!(status, StatusCode::OK, "{clock}");
}

/// The REST klines of BTCUSDT for `interval` from `start_ms`, at most `limit`.
pub async fn rest_klines(sim: &TestSim, interval: &str, start_ms: i64, limit: usize) -> Vec<Value> {
    let query = format!("symbol=BTCUSDT&interval={interval}&startTime={start_ms}&limit={limit}");
    let (status, klines) = sim.get("/api/v3/klines", &query).await;
    assert_eq!(status, StatusCode::OK, "{klines}");
    klines.as_array().expect("klines are an array").clone()
}

/// Reads text messages until `done` says the ones read so far are enough; each read fails after
/// [`PATIENCE`], so a message that never comes fails the test.
pub async fn read_until(socket: &mut Socket, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut messages = Vec::new();
    while !done(&messages) {
        messages.push(next_json(socket).await);
    }
    messages
}
