//! The kline WebSocket stream over a real loopback WebSocket, on a manual clock moved through the
//! admin API: the payload has the doc fixture's fields and types, pushes follow server seconds,
//! a closing kline is pushed with `x: true`, the klines agree with `GET /api/v3/klines` (bit for
//! bit, every minute once and in order, across clock jumps) and with the price orders fill
//! around, and stream names are refused or accepted as Binance does.

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
async fn badly_formed_names_are_refused_and_unlisted_symbols_stay_silent() {
    let sim = TestSim::start().await;
    for (stream, reason) in [
        ("btcusdt@kline_2m", "interval"),
        ("BTCUSDT@kline_1m", "lower-case"),
        ("btcusdt@depth", "unknown stream type"),
    ] {
        let url = format!("http://{}/ws/{stream}", sim.server.local_addr());
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{stream}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains(reason) && text.contains(stream),
            "{stream}: {text}"
        );
        let url = format!("ws://{}/ws/{stream}", sim.server.local_addr());
        assert!(
            tokio_tungstenite::connect_async(url).await.is_err(),
            "{stream} is refused"
        );
    }
    // As on Binance: a well-formed stream of a symbol nobody lists connects and says nothing.
    let mut silent = connect(&sim, "xrpusdt@kline_1m").await;
    advance(&sim, 61_000).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), silent.next()).await;
    assert!(quiet.is_err(), "no events for an unlisted symbol");
}

#[tokio::test]
async fn closed_klines_are_continuous_and_equal_to_rest_bit_for_bit() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "btcusdt@kline_1m").await;
    let first = next_event(&mut socket).await;
    let first_open_ms = first["k"]["t"].as_i64().unwrap();
    let mut closed: Vec<Value> = Vec::new();
    // Steps inside a minute, across one, and a jump of several at once.
    for step_ms in [20_000, 20_000, 20_000, 45_000, 240_000, 1_000] {
        advance(&sim, step_ms).await;
        loop {
            let event = next_event(&mut socket).await;
            if event["k"]["x"] == true {
                closed.push(event);
            } else {
                break;
            }
        }
    }
    let opens: Vec<i64> = closed
        .iter()
        .map(|event| event["k"]["t"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (0..opens.len() as i64)
        .map(|index| first_open_ms + index * 60_000)
        .collect();
    assert_eq!(
        opens, expected,
        "every minute closes once, in order, none missing"
    );
    assert!(opens.len() >= 6, "{opens:?}");
    let rest = rest_klines_from(&sim, first_open_ms, opens.len()).await;
    for (event, row) in closed.iter().zip(&rest) {
        assert_matches_rest(event, row);
    }
    for pair in closed.windows(2) {
        let (earlier, later) = (&pair[0]["k"], &pair[1]["k"]);
        assert_eq!(
            later["t"].as_i64().unwrap(),
            earlier["T"].as_i64().unwrap() + 1
        );
        assert_eq!(
            later["f"].as_i64().unwrap(),
            earlier["L"].as_i64().unwrap() + 1,
            "trade ids continue"
        );
    }
}

/// `count` REST 1m klines of BTCUSDT from `start_ms`.
async fn rest_klines_from(sim: &TestSim, start_ms: i64, count: usize) -> Vec<Value> {
    let query = format!("symbol=BTCUSDT&interval=1m&startTime={start_ms}&limit={count}");
    let (status, klines) = sim.get("/api/v3/klines", &query).await;
    assert_eq!(status, StatusCode::OK, "{klines}");
    klines.as_array().unwrap().clone()
}
