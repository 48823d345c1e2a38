//! Market-stream connections as Binance's clients use them, over real loopback WebSockets: the
//! combined streams' wrapper, the live methods (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS,
//! SET_PROPERTY, GET_PROPERTY) answered with the requests' ids in the doc fixtures' shapes,
//! Binance's error answers to bad requests (the socket stays usable), and the limits: 1024
//! streams per connection, 5 incoming messages per second, the message size.

mod common;
mod ws;

use std::time::Duration;

use common::{TestSim, assert_same_shape, fixture};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use ws::{advance, assert_quiet, connect, ending, next_json, read_until, send_json, try_connect};

/// Long enough between two requests to stay under 5 messages per second.
const PACE: Duration = Duration::from_millis(250);

/// Sends `request` and returns the answer with its id, skipping the events that come first.
async fn ask(socket: &mut ws::Socket, request: Value) -> Value {
    send_json(socket, &request).await;
    loop {
        let message = next_json(socket).await;
        if message.get("id").is_some() {
            tokio::time::sleep(PACE).await;
            return message;
        }
    }
}

#[tokio::test]
async fn combined_streams_wrap_each_event_with_its_stream_name() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/stream?streams=btcusdt@kline_1m/ethusdt@bookTicker").await;
    let both_seen = |messages: &[Value]| {
        ["btcusdt@kline_1m", "ethusdt@bookTicker"]
            .iter()
            .all(|stream| messages.iter().any(|message| message["stream"] == *stream))
    };
    let mut seen = Vec::new();
    for message in read_until(&mut socket, both_seen).await {
        let wrapper = message.as_object().expect("an object");
        assert_eq!(wrapper.len(), 2, "only stream and data: {message}");
        let stream = message["stream"].as_str().expect("the stream's name");
        match stream {
            "btcusdt@kline_1m" => {
                assert_same_shape(
                    &message["data"],
                    &fixture("ws-stream-kline.payload.json"),
                    &[],
                );
            }
            "ethusdt@bookTicker" => {
                assert_same_shape(
                    &message["data"],
                    &fixture("ws-stream-bookTicker.payload.json"),
                    &[],
                );
                assert_eq!(message["data"]["s"], "ETHUSDT");
            }
            other => panic!("an event of a stream not asked for: {other}"),
        }
        seen.push(stream.to_owned());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["btcusdt@kline_1m", "ethusdt@bookTicker"]);

    // GET_PROPERTY says so; SET_PROPERTY turns the wrapper off for the next events.
    let combined = ask(
        &mut socket,
        json!({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}),
    )
    .await;
    assert_eq!(combined, json!({"result": true, "id": 2}));
    assert_same_shape(
        &combined,
        &fixture("ws-stream-get-property.response.json"),
        &[],
    );
    let set = ask(
        &mut socket,
        json!({"method": "SET_PROPERTY", "params": ["combined", false], "id": 5}),
    )
    .await;
    assert_eq!(set, json!({"result": null, "id": 5}));
    advance(&sim, 1_000).await;
    let raw = next_json(&mut socket).await;
    assert!(raw.get("stream").is_none(), "no wrapper any more: {raw}");
    assert!(raw.get("e").is_some() || raw.get("u").is_some(), "{raw}");
}

#[tokio::test]
async fn live_methods_answer_with_the_requests_ids() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws").await;
    assert_quiet(&mut socket, Duration::from_millis(300)).await;

    let subscribed = ask(
        &mut socket,
        json!({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m", "btcusdt@miniTicker"], "id": 1}),
    )
    .await;
    assert_eq!(subscribed, json!({"result": null, "id": 1}));
    assert_same_shape(
        &subscribed,
        &fixture("ws-stream-subscribe.response.json"),
        &[],
    );
    let events = read_until(&mut socket, |events| {
        ["kline", "24hrMiniTicker"]
            .iter()
            .all(|kind| events.iter().any(|event| event["e"] == *kind))
    })
    .await;
    assert!(
        events.iter().all(|event| event.get("stream").is_none()),
        "/ws is raw"
    );

    let listed = ask(
        &mut socket,
        json!({"method": "LIST_SUBSCRIPTIONS", "id": 3}),
    )
    .await;
    assert_eq!(
        listed,
        json!({"result": ["btcusdt@kline_1m", "btcusdt@miniTicker"], "id": 3})
    );
    assert_same_shape(
        &listed,
        &fixture("ws-stream-list-subscriptions.response.json"),
        &[],
    );
    // Subscribing again to a stream listened to changes nothing.
    ask(
        &mut socket,
        json!({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 4}),
    )
    .await;

    let unsubscribed = ask(
        &mut socket,
        json!({"method": "UNSUBSCRIBE", "params": ["btcusdt@miniTicker"], "id": null}),
    )
    .await;
    assert_eq!(unsubscribed, json!({"result": null, "id": null}));
    let listed = ask(
        &mut socket,
        json!({"method": "LIST_SUBSCRIPTIONS", "id": "list312"}),
    )
    .await;
    assert_eq!(
        listed,
        json!({"result": ["btcusdt@kline_1m"], "id": "list312"})
    );
    advance(&sim, 1_000).await;
    assert_eq!(next_json(&mut socket).await["e"], "kline");
    assert_quiet(&mut socket, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn bad_requests_get_binances_error_answers_and_the_socket_stays_usable() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws").await;
    let cases = [
        ("{not json", json!(null), 3, "Invalid JSON: "),
        (
            r#"{"method": "LIST", "id": 1}"#,
            json!(null),
            2,
            "Invalid request: unknown variant `LIST`",
        ),
        (
            r#"{"params": [], "id": 1}"#,
            json!(null),
            2,
            "Invalid request: missing field `method`",
        ),
        (
            r#"{"method": "LIST_SUBSCRIPTIONS", "id": 1.5}"#,
            json!(null),
            2,
            "Invalid request: request ID must be an unsigned integer",
        ),
        (
            r#"{"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 7}"#,
            json!(7),
            2,
            "Invalid request: invalid stream: ",
        ),
        (
            r#"{"method": "SUBSCRIBE", "params": ["BTCUSDT@trade"], "id": 8}"#,
            json!(8),
            2,
            "Invalid request: invalid stream: ",
        ),
        (
            r#"{"method": "SET_PROPERTY", "params": ["colour", true], "id": 9}"#,
            json!(9),
            0,
            "Unknown property",
        ),
        (
            r#"{"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 10}"#,
            json!(10),
            1,
            "Invalid value type: expected Boolean",
        ),
        (
            r#"{"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 11}"#,
            json!(11),
            2,
            "Invalid request: too many parameters",
        ),
    ];
    for (request, id, code, msg) in cases {
        socket.send(Message::text(request)).await.unwrap();
        let answer = next_json(&mut socket).await;
        assert_eq!(answer["id"], id, "{request}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{request}: {answer}");
        let text = answer["error"]["msg"].as_str().unwrap();
        assert!(text.starts_with(msg), "{request}: {text}");
        tokio::time::sleep(PACE).await;
    }
    let listed = ask(
        &mut socket,
        json!({"method": "LIST_SUBSCRIPTIONS", "id": 12}),
    )
    .await;
    assert_eq!(
        listed,
        json!({"result": [], "id": 12}),
        "nothing was subscribed"
    );
}

#[tokio::test]
async fn a_connection_listens_to_at_most_1024_streams() {
    let sim = TestSim::start().await;
    let names = |count: usize| -> Vec<String> {
        (0..count)
            .map(|index| format!("s{index}usdt@trade"))
            .collect()
    };
    let mut socket = connect(&sim, "/ws").await;
    let refused = ask(
        &mut socket,
        json!({"method": "SUBSCRIBE", "params": names(1025), "id": 1}),
    )
    .await;
    assert_eq!(refused["error"]["code"], 2, "{refused}");
    assert!(
        refused["error"]["msg"].as_str().unwrap().contains("1024"),
        "{refused}"
    );
    let listed = ask(
        &mut socket,
        json!({"method": "LIST_SUBSCRIPTIONS", "id": 2}),
    )
    .await;
    assert_eq!(
        listed["result"],
        json!([]),
        "a refused SUBSCRIBE changes nothing"
    );
    let accepted = ask(
        &mut socket,
        json!({"method": "SUBSCRIBE", "params": names(1024), "id": 3}),
    )
    .await;
    assert_eq!(accepted, json!({"result": null, "id": 3}));
    let listed = ask(
        &mut socket,
        json!({"method": "LIST_SUBSCRIPTIONS", "id": 4}),
    )
    .await;
    assert_eq!(listed["result"].as_array().unwrap().len(), 1024);
    let one_more = ask(
        &mut socket,
        json!({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 5}),
    )
    .await;
    assert_eq!(one_more["error"]["code"], 2, "{one_more}");

    let url = format!(
        "http://{}/stream?streams={}",
        sim.server.local_addr(),
        names(1025).join("/")
    );
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("1024"));
}

#[tokio::test]
async fn a_sixth_message_within_a_second_closes_the_connection() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws").await;
    for id in 0..6 {
        send_json(
            &mut socket,
            &json!({"method": "LIST_SUBSCRIPTIONS", "id": id}),
        )
        .await;
    }
    let mut answered = 0;
    let frame = loop {
        match tokio::time::timeout(ws::PATIENCE, futures_util::StreamExt::next(&mut socket))
            .await
            .expect("the connection ends in time")
        {
            Some(Ok(Message::Text(_))) => answered += 1,
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(answered, 5, "the first five are answered");
    let frame = frame.expect("a close frame says why");
    assert_eq!(frame.code, CloseCode::Policy);
    assert!(
        frame.reason.contains("5 incoming messages per second"),
        "{}",
        frame.reason
    );

    // Paced at Binance's rate, a client is never cut off.
    let mut paced = connect(&sim, "/ws").await;
    for id in 0..8 {
        let answer = ask(
            &mut paced,
            json!({"method": "LIST_SUBSCRIPTIONS", "id": id}),
        )
        .await;
        assert_eq!(answer["id"], id);
    }
}

#[tokio::test]
async fn an_oversized_message_closes_the_connection() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws").await;
    let padding = "x".repeat(70 * 1024);
    let request = json!({"method": "LIST_SUBSCRIPTIONS", "id": 1, "padding": padding});
    // The server may cut the connection while the message is still being written.
    let _ = socket.send(Message::text(request.to_string())).await;
    let frame = ending(&mut socket).await;
    assert!(
        frame
            .as_ref()
            .is_none_or(|frame| frame.code == CloseCode::Size),
        "{frame:?}"
    );
    // Other connections are not affected.
    let mut other = try_connect(&sim, "/ws").await.expect("a new connection");
    let answer = ask(&mut other, json!({"method": "LIST_SUBSCRIPTIONS", "id": 2})).await;
    assert_eq!(answer["id"], 2);
}
