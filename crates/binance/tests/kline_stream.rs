//! The kline WebSocket stream: against the simulator on a manual clock (an update arrives after
//! the clock is advanced through the admin API), and against a local WebSocket server that drops
//! the connection (the stream reconnects and resumes).

use std::sync::Arc;
use std::time::Duration;

use binance::{Client, ClientConfig, KlineEvent, KlineStream, RetryPolicy};
use futures_util::SinkExt;
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

async fn next_event(stream: &mut KlineStream) -> KlineEvent {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
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

    let mut stream = client.kline_stream(&btcusdt(), Interval::M1);
    let first = next_event(&mut stream).await;
    let minute_open = START_MS - START_MS.rem_euclid(60_000);
    assert_eq!(first.symbol, "BTCUSDT");
    assert_eq!(first.interval, Interval::M1);
    assert_eq!(first.candle.open_time_ms, minute_open);
    assert_eq!(first.close_time_ms, minute_open + 59_999);
    assert!(!first.closed, "the minute is still forming");

    // Into the next minute through the admin API: the old minute arrives closed.
    let answer = reqwest::Client::new()
        .put(format!("{base_url}/_sim/clock"))
        .header("content-type", "application/json")
        .body(json!({"advance_ms": 60_000}).to_string())
        .send()
        .await
        .expect("the admin API answers");
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
    let closed = loop {
        let event = next_event(&mut stream).await;
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
    let next = next_event(&mut stream).await;
    assert_eq!(next.candle.open_time_ms, minute_open + 60_000);
    assert!(!next.closed);
    drop(stream);
    server.stop().await.expect("the simulator stops");
}

/// Binance's kline event for the minute opening at `open_ms`.
fn kline_message(open_ms: i64, closed: bool) -> Message {
    let event = json!({
        "e": "kline", "E": open_ms + 1_000, "s": "BTCUSDT",
        "k": {"t": open_ms, "T": open_ms + 59_999, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2,
              "o": "100.0", "c": "101.0", "h": "102.0", "l": "99.0", "v": "3.5", "n": 2,
              "x": closed, "q": "350.0", "V": "1.0", "Q": "100.0", "B": "0"}
    });
    Message::Text(event.to_string().into())
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
            socket.send(kline_message(open_ms, closed)).await.unwrap();
            socket.close(None).await.ok();
            paths.push(path.lock().unwrap().clone());
        }
        paths
    });
    let client = client_for(
        "http://127.0.0.1:1".to_owned(),
        Some(format!("ws://{address}")),
    );
    let mut stream = client.kline_stream(&btcusdt(), Interval::M1);
    let first = next_event(&mut stream).await;
    assert_eq!((first.candle.open_time_ms, first.closed), (START_MS, true));
    assert_eq!(first.candle.close, 101.0);
    let second = next_event(&mut stream).await;
    assert_eq!(
        (second.candle.open_time_ms, second.closed),
        (START_MS + 60_000, false),
        "the stream resumed on a new connection"
    );
    let paths = tokio::time::timeout(WAIT, server)
        .await
        .expect("the server finishes")
        .expect("the server task");
    assert_eq!(paths, ["/ws/btcusdt@kline_1m", "/ws/btcusdt@kline_1m"]);
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
