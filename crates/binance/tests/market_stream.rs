//! The combined market stream: against the simulator on a manual clock (klines and book tickers
//! on one connection, a kline update after the clock is advanced through the admin API, a
//! stream added to a live connection), and against a local WebSocket server that drops the
//! connection (the stream reconnects, subscribes again and resumes).

use std::sync::Arc;
use std::time::Duration;

use binance::{
    Client, ClientConfig, KlineEvent, MarketEvent, MarketStream, RetryPolicy, StreamName,
};
use futures_util::{SinkExt, StreamExt};
use market::{Interval, Symbol};
use serde_json::json;
use sim::{Exchange, ExchangeConfig, ManualClock};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Where the simulator's clock starts: 2025-06-15 12:00:30 UTC.
const START_MS: i64 = 1_749_988_830_000;
/// Generous: nothing here waits on a race, only on the other side doing its part.
const WAIT: Duration = Duration::from_secs(20);

fn btcusdt() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// A client whose reconnection backoff is milliseconds.
fn client_for(base_url: String, stream_url: Option<String>) -> Client {
    let mut config = ClientConfig::new(base_url);
    if let Some(stream_url) = stream_url {
        config.stream_url = stream_url;
    }
    config.retry = RetryPolicy {
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    Client::new(config).expect("a valid configuration")
}

async fn next_event(stream: &mut MarketStream) -> MarketEvent {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
}

/// The next kline event, skipping the others.
async fn next_kline(stream: &mut MarketStream) -> KlineEvent {
    loop {
        if let MarketEvent::Kline(event) = next_event(stream).await {
            return event;
        }
    }
}

fn kline_1m() -> StreamName {
    StreamName::Kline {
        symbol: btcusdt(),
        interval: Interval::M1,
    }
}

#[tokio::test]
async fn the_simulator_pushes_the_open_kline_then_the_closed_one_after_the_clock_moves() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = ExchangeConfig {
        history_ms: 3_600_000,
        ..ExchangeConfig::default()
    };
    let exchange = Exchange::new(config, clock).expect("a valid exchange");
    let server = sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts");
    let base_url = format!("http://{}", server.local_addr());
    let client = client_for(base_url.clone(), None);
    assert_eq!(
        client.config().stream_url,
        format!("ws://{}", server.local_addr())
    );

    let mut stream = client.market_stream();
    stream
        .subscribe(kline_1m())
        .expect("room on the connection");
    assert_eq!(
        next_event(&mut stream).await,
        MarketEvent::Subscribed(vec![kline_1m()])
    );
    let first = next_kline(&mut stream).await;
    let minute_open = START_MS - START_MS.rem_euclid(60_000);
    assert_eq!(first.symbol, "BTCUSDT");
    assert_eq!(first.interval, Interval::M1);
    assert_eq!(first.candle.open_time_ms, minute_open);
    assert_eq!(first.close_time_ms, minute_open + 59_999);
    assert!(!first.closed, "the minute is still forming");

    // Into the next minute through the admin API: the old minute arrives closed.
    answer_sim_clock(&base_url, 60_000).await;
    let closed = loop {
        let event = next_kline(&mut stream).await;
        if event.closed {
            break event;
        }
        assert_eq!(
            event.candle.open_time_ms, minute_open,
            "no new minute before the close"
        );
    };
    assert_eq!(closed.candle.open_time_ms, minute_open);
    assert!(closed.candle.low <= closed.candle.close && closed.candle.close <= closed.candle.high);
    let next = next_kline(&mut stream).await;
    assert_eq!(next.candle.open_time_ms, minute_open + 60_000);
    assert!(!next.closed);

    // A stream added to the live connection: confirmed, then its events flow beside the klines.
    let book = StreamName::BookTicker(btcusdt());
    stream
        .subscribe(book.clone())
        .expect("room on the connection");
    stream
        .subscribe(book.clone())
        .expect("a repeated stream is ignored");
    assert_eq!(stream.len(), 2);
    loop {
        match next_event(&mut stream).await {
            MarketEvent::Subscribed(streams) => {
                assert_eq!(streams, std::slice::from_ref(&book));
                break;
            }
            MarketEvent::Kline(_) => {}
            other => panic!("unexpected before the confirmation: {other:?}"),
        }
    }
    answer_sim_clock(&base_url, 1_000).await;
    let ticker = loop {
        if let MarketEvent::BookTicker(ticker) = next_event(&mut stream).await {
            break ticker;
        }
    };
    assert_eq!(ticker.symbol, "BTCUSDT");
    assert!(ticker.bid > rust_decimal::Decimal::ZERO && ticker.bid < ticker.ask);
    drop(stream);
    server.stop().await.expect("the simulator stops");
}

/// Moves the simulator's manual clock forward by `advance_ms`.
async fn answer_sim_clock(base_url: &str, advance_ms: i64) {
    let answer = reqwest::Client::new()
        .put(format!("{base_url}/_sim/clock"))
        .header("content-type", "application/json")
        .body(json!({ "advance_ms": advance_ms }).to_string())
        .send()
        .await
        .expect("the admin API answers");
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
}

/// Binance's combined-stream message of the kline event for the minute opening at `open_ms`.
fn kline_message(open_ms: i64, closed: bool) -> Message {
    let event = json!({
        "e": "kline", "E": open_ms + 1_000, "s": "BTCUSDT",
        "k": {"t": open_ms, "T": open_ms + 59_999, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2,
              "o": "100.0", "c": "101.0", "h": "102.0", "l": "99.0", "v": "3.5", "n": 2,
              "x": closed, "q": "350.0", "V": "1.0", "Q": "100.0", "B": "0"}
    });
    let wrapped = json!({"stream": "btcusdt@kline_1m", "data": event});
    Message::Text(wrapped.to_string().into())
}

#[tokio::test]
#[expect(
    clippy::result_large_err,
    reason = "the handshake callback's error type is tungstenite's"
)]
async fn the_stream_reconnects_after_the_server_drops_it_and_resumes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut paths = Vec::new();
        // Each connection gets one event and is then closed by the server.
        for (open_ms, closed) in [(START_MS, true), (START_MS + 60_000, false)] {
            let (tcp, _) = listener.accept().await.expect("a connection");
            let path = Arc::new(std::sync::Mutex::new(String::new()));
            let seen = path.clone();
            let mut socket = tokio_tungstenite::accept_hdr_async(
                tcp,
                move |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                      response| {
                    *seen.lock().unwrap() = request.uri().path().to_owned();
                    Ok(response)
                },
            )
            .await
            .expect("a WebSocket handshake");
            // The client subscribes first; the server confirms, pushes one event and closes.
            let request = loop {
                match socket.next().await.expect("a request").expect("a frame") {
                    Message::Text(text) => {
                        break serde_json::from_str::<serde_json::Value>(&text).unwrap();
                    }
                    _ => continue,
                }
            };
            let reply = json!({"result": null, "id": request["id"]});
            socket
                .send(Message::Text(reply.to_string().into()))
                .await
                .unwrap();
            socket.send(kline_message(open_ms, closed)).await.unwrap();
            socket.close(None).await.ok();
            paths.push((
                path.lock().unwrap().clone(),
                request["method"].clone(),
                request["params"].clone(),
            ));
        }
        paths
    });
    let client = client_for(
        "http://127.0.0.1:1".to_owned(),
        Some(format!("ws://{address}")),
    );
    let mut stream = client.market_stream();
    stream
        .subscribe(kline_1m())
        .expect("room on the connection");
    let mut events = Vec::new();
    while events.len() < 5 {
        events.push(next_event(&mut stream).await);
    }
    let MarketEvent::Kline(first) = &events[1] else {
        panic!("a kline after the confirmation: {events:?}");
    };
    assert_eq!((first.candle.open_time_ms, first.closed), (START_MS, true));
    assert_eq!(first.candle.close, 101.0);
    let MarketEvent::Kline(second) = &events[4] else {
        panic!("a kline on the second connection: {events:?}");
    };
    assert_eq!(
        (second.candle.open_time_ms, second.closed),
        (START_MS + 60_000, false),
        "the stream resumed on a new connection"
    );
    assert_eq!(events[0], MarketEvent::Subscribed(vec![kline_1m()]));
    assert_eq!(events[2], MarketEvent::Disconnected);
    assert_eq!(events[3], MarketEvent::Subscribed(vec![kline_1m()]));
    let requests = tokio::time::timeout(WAIT, server)
        .await
        .expect("the server finishes")
        .expect("the server task");
    for (path, method, params) in requests {
        assert_eq!(path, "/stream");
        assert_eq!(method, "SUBSCRIBE");
        assert_eq!(params, json!(["btcusdt@kline_1m"]));
    }
}

#[test]
fn stream_urls_follow_the_rest_url_and_are_validated() {
    assert_eq!(
        ClientConfig::new(binance::BINANCE_LIVE_URL).stream_url,
        binance::BINANCE_LIVE_STREAM_URL
    );
    assert_eq!(
        ClientConfig::new(binance::BINANCE_SPOT_TESTNET_URL).stream_url,
        binance::BINANCE_SPOT_TESTNET_STREAM_URL
    );
    let mut config = ClientConfig::new("http://127.0.0.1:1");
    config.stream_url = "http://127.0.0.1:1".to_owned();
    assert!(matches!(
        Client::new(config),
        Err(binance::ConfigError::StreamUrl(_))
    ));
}
