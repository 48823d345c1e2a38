//! Faults on WebSockets, for testing clients' reconnection: the admin API lists open sockets and
//! drops those a filter selects (cut without a close frame, or closed with one), a client that
//! reconnects after a drop fills its gap from REST klines with nothing missing, and a stopping
//! simulator sends Binance's `serverShutdown` on every socket before closing it.

mod common;
mod ws;

use std::time::Duration;

use common::{TestSim, assert_same_shape, fixture};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use sim::sign;
use ws::{advance, connect, ending, next_json, rest_klines, send_json};

/// A WebSocket API connection subscribed to the test account's user data.
async fn user_data_socket(sim: &TestSim) -> ws::Socket {
    let mut socket = connect(sim, "/ws-api/v3?returnRateLimits=false").await;
    let timestamp = sim.clock_now();
    let api_key = &sim.credentials.api_key;
    let signature = sign(
        &sim.credentials.secret,
        &format!("apiKey={api_key}&timestamp={timestamp}"),
    );
    let params = json!({"apiKey": api_key, "timestamp": timestamp, "signature": signature});
    send_json(
        &mut socket,
        &json!({"id": 1, "method": "userDataStream.subscribe.signature", "params": params}),
    )
    .await;
    assert_eq!(
        next_json(&mut socket).await["result"],
        json!({"subscriptionId": 0})
    );
    socket
}

async fn drop_sockets(sim: &TestSim, filter: Value) -> u64 {
    let (status, dropped) = sim.admin(Method::POST, "/sockets/drop", Some(filter)).await;
    assert_eq!(status, StatusCode::OK, "{dropped}");
    dropped["dropped"].as_u64().unwrap()
}

#[tokio::test]
async fn the_admin_api_lists_and_drops_the_sockets_a_filter_selects() {
    let sim = TestSim::start().await;
    let mut klines = connect(&sim, "/ws/btcusdt@kline_1m").await;
    next_json(&mut klines).await;
    let mut user_data = user_data_socket(&sim).await;

    let (status, sockets) = sim.admin(Method::GET, "/sockets", None).await;
    assert_eq!(status, StatusCode::OK);
    let sockets = sockets.as_array().unwrap();
    assert_eq!(sockets.len(), 2, "{sockets:?}");
    let streams = sockets
        .iter()
        .find(|socket| socket["service"] == "streams")
        .unwrap();
    assert_eq!(streams["streams"], json!(["btcusdt@kline_1m"]));
    let api = sockets
        .iter()
        .find(|socket| socket["service"] == "ws_api")
        .unwrap();
    assert_eq!(api["accounts"], json!([sim.credentials.api_key]));

    assert_eq!(
        drop_sockets(&sim, json!({"stream": "ethusdt@trade"})).await,
        0
    );
    let (status, refused) = sim
        .admin(Method::POST, "/sockets/drop", Some(json!({"strem": "x"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"].as_str().unwrap().contains("strem"),
        "{refused}"
    );

    // Cut: no close frame, as when the network fails.
    assert_eq!(
        drop_sockets(&sim, json!({"stream": "btcusdt@kline_1m"})).await,
        1
    );
    assert!(
        ending(&mut klines).await.is_none(),
        "cut without a close frame"
    );
    // The user data socket is untouched until a drop selects it, with a close frame this time.
    send_json(&mut user_data, &json!({"id": 2, "method": "ping"})).await;
    assert_eq!(next_json(&mut user_data).await["result"], json!({}));
    let dropped = drop_sockets(
        &sim,
        json!({"api_key": sim.credentials.api_key, "close_frame": true}),
    )
    .await;
    assert_eq!(dropped, 1);
    let frame = ending(&mut user_data).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Away);
    // Gone from the list once their tasks ended (just after the client saw the end).
    let mut sockets = Value::Null;
    for _ in 0..20 {
        sockets = sim.admin(Method::GET, "/sockets", None).await.1;
        if sockets == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sockets, json!([]));
}

#[tokio::test]
async fn a_client_fills_the_gap_of_a_dropped_stream_from_rest_with_nothing_missing() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws/btcusdt@kline_1m").await;
    let before = next_json(&mut socket).await;
    let last_open_ms = before["k"]["t"].as_i64().unwrap();
    drop_sockets(&sim, json!({})).await;
    assert!(ending(&mut socket).await.is_none());

    // Three minutes pass while the client is away; the stream does not replay them.
    advance(&sim, 180_000).await;
    let mut socket = connect(&sim, "/ws/btcusdt@kline_1m").await;
    let after = next_json(&mut socket).await;
    let first_open_ms = after["k"]["t"].as_i64().unwrap();
    assert_eq!(first_open_ms, last_open_ms + 180_000);
    assert_eq!(after["k"]["x"], false);

    // REST has exactly the klines missed, contiguous with both sides, trade ids included.
    let gap = rest_klines(&sim, "1m", last_open_ms, 1_000).await;
    let gap: Vec<&Value> = gap
        .iter()
        .filter(|kline| kline[0].as_i64().unwrap() < first_open_ms)
        .collect();
    let opens: Vec<i64> = gap.iter().map(|kline| kline[0].as_i64().unwrap()).collect();
    assert_eq!(
        opens,
        [last_open_ms, last_open_ms + 60_000, last_open_ms + 120_000]
    );
    let trades: i64 = gap.iter().map(|kline| kline[8].as_i64().unwrap()).sum();
    assert_eq!(
        after["k"]["f"].as_i64().unwrap(),
        before["k"]["f"].as_i64().unwrap() + trades,
        "the stream's trade ids continue after the klines REST filled in"
    );
}

#[tokio::test]
async fn a_stopping_simulator_sends_server_shutdown_on_every_socket() {
    let sim = TestSim::start().await;
    let mut raw = connect(&sim, "/ws/btcusdt@kline_1m").await;
    next_json(&mut raw).await;
    let mut combined = connect(&sim, "/stream?streams=btcusdt@kline_1m").await;
    next_json(&mut combined).await;
    let mut user_data = user_data_socket(&sim).await;
    let now_ms = sim.clock_now();

    sim.server.stop().await.expect("the simulator stops");

    let event = next_json(&mut raw).await;
    assert_same_shape(
        &event,
        &fixture("ws-stream-serverShutdown.payload.json"),
        &[],
    );
    assert_eq!(event, json!({"e": "serverShutdown", "E": now_ms}));
    let event = next_json(&mut combined).await;
    assert_same_shape(
        &event,
        &fixture("ws-stream-serverShutdown.combined.payload.json"),
        &[],
    );
    assert_eq!(event["stream"], "!serverShutdown");
    let event = next_json(&mut user_data).await;
    assert_eq!(
        event,
        json!({"event": {"e": "serverShutdown", "E": now_ms}})
    );
    for socket in [&mut raw, &mut combined, &mut user_data] {
        let frame = ending(socket).await.expect("a close frame after the event");
        assert_eq!(frame.code, CloseCode::Away);
    }
}
