//! The kline WebSocket stream over a real loopback WebSocket, on a manual clock moved through the
//! admin API: the payload has the doc fixture's fields and types, pushes follow server seconds,
//! a closing kline is pushed with `x: true`, and the klines agree with `GET /api/v3/klines` and
//! with the price orders fill around.

mod common;

use std::time::Duration;

use common::{TestSim, assert_same_shape, fixture};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(sim: &TestSim, stream: &str) -> Socket {
    let url = format!("ws://{}/ws/{stream}", sim.server.local_addr());
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the stream accepts the connection");
    socket
}

/// The next kline event, failing after a second of real time.
async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(1), socket.next())
            .await
            .expect("an event within a second")
            .expect("the stream stays open")
            .expect("a readable message");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("events are JSON");
        }
    }
}

/// The REST kline opening at `open_ms`.
async fn rest_kline(sim: &TestSim, interval: &str, open_ms: i64) -> Value {
    let query = format!("symbol=BTCUSDT&interval={interval}&startTime={open_ms}&limit=1");
    let (status, klines) = sim.get("/api/v3/klines", &query).await;
    assert_eq!(status, StatusCode::OK, "{klines}");
    klines[0].clone()
}

fn assert_matches_rest(event: &Value, rest: &Value) {
    let k = &event["k"];
    assert_eq!(k["t"], rest[0]);
    assert_eq!(k["o"], rest[1]);
    assert_eq!(k["h"], rest[2]);
    assert_eq!(k["l"], rest[3]);
    assert_eq!(k["c"], rest[4]);
    assert_eq!(k["v"], rest[5]);
    assert_eq!(k["T"], rest[6]);
    assert_eq!(k["q"], rest[7]);
    assert_eq!(k["n"], rest[8]);
    assert_eq!(k["V"], rest[9]);
    assert_eq!(k["Q"], rest[10]);
}

async fn advance(sim: &TestSim, ms: i64) {
    let (status, clock) = sim
        .admin(Method::PUT, "/clock", Some(json!({"advance_ms": ms})))
        .await;
    assert_eq!(status, StatusCode::OK, "{clock}");
}

#[tokio::test]
async fn kline_events_have_binances_shape_and_match_the_rest_klines() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "btcusdt@kline_1m").await;
    let first = next_event(&mut socket).await;
    assert_same_shape(&first, &fixture("ws-stream-kline.payload.json"), &[]);
    assert_eq!(first["e"], "kline");
    assert_eq!(first["s"], "BTCUSDT");
    assert_eq!(first["k"]["i"], "1m");
    assert_eq!(first["k"]["x"], false);
    assert_eq!(first["E"], sim.clock_now());
    let open_ms = first["k"]["t"].as_i64().unwrap();
    assert_matches_rest(&first, &rest_kline(&sim, "1m", open_ms).await);
    let (_, ticker) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    assert_eq!(
        first["k"]["c"], ticker["price"],
        "the close is the last price"
    );
    let first_id = first["k"]["f"].as_i64().unwrap();
    let last_id = first["k"]["L"].as_i64().unwrap();
    assert_eq!(last_id - first_id + 1, first["k"]["n"].as_i64().unwrap());

    // The clock stands still: nothing more is pushed.
    let quiet = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
    assert!(quiet.is_err(), "no push without a new server second");

    // One second later: the same kline, updated.
    advance(&sim, 1_000).await;
    let second = next_event(&mut socket).await;
    assert_eq!(second["k"]["t"], open_ms);
    assert_eq!(second["k"]["x"], false);
    assert_matches_rest(&second, &rest_kline(&sim, "1m", open_ms).await);

    // Past the minute: the kline is pushed final (x = true), then the new one.
    advance(&sim, 60_000).await;
    let closed = next_event(&mut socket).await;
    assert_eq!(closed["k"]["t"], open_ms);
    assert_eq!(closed["k"]["x"], true);
    assert_matches_rest(&closed, &rest_kline(&sim, "1m", open_ms).await);
    let next = next_event(&mut socket).await;
    assert_eq!(next["k"]["t"], open_ms + 60_000);
    assert_eq!(next["k"]["x"], false);
    assert_eq!(
        next["k"]["f"].as_i64().unwrap(),
        closed["k"]["L"].as_i64().unwrap() + 1,
        "trade ids continue"
    );
}

#[tokio::test]
async fn a_stream_for_an_unknown_symbol_or_interval_is_refused() {
    let sim = TestSim::start().await;
    for stream in [
        "xrpusdt@kline_1m",
        "btcusdt@kline_2m",
        "BTCUSDT@kline_1m",
        "btcusdt@trade",
    ] {
        let url = format!("ws://{}/ws/{stream}", sim.server.local_addr());
        assert!(
            tokio_tungstenite::connect_async(url).await.is_err(),
            "{stream} is refused"
        );
    }
}
