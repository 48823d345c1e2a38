//! The `timestamp`/`recvWindow` rule on a market running 60 times faster than real time, over
//! loopback HTTP with the real clock: `recvWindow` and the 1 s tolerance ahead are real time, so
//! hundreds of concurrent orders whose requests spend half a second of real time (30 s of market
//! time) between signing and the exchange are all accepted with the default 5000 ms window,
//! while a request older than its window in real time, or too far ahead, is still refused.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::Value;

use common::{code_and_msg, encode};
use sim::{
    Account, Credentials, Exchange, ExchangeConfig, RunningSim, STANDARD_COMMISSION_RATE,
    SystemClock, sign,
};

/// How many times faster than real time the market runs (the demo's speed).
const SPEED: i64 = 60;
const ACCOUNTS: usize = 8;
const ORDERS_PER_ACCOUNT: usize = 50;
const OUTSIDE: (i64, &str) = (
    -1021,
    "Timestamp for this request is outside of the recvWindow.",
);
const AHEAD: (i64, &str) = (
    -1021,
    "Timestamp for this request was 1000ms ahead of the server's time.",
);

/// A simulator at 60x on the real clock, with `ACCOUNTS` funded accounts.
async fn start_fast_market() -> (RunningSim, Vec<Credentials>) {
    let config = ExchangeConfig {
        history_ms: 3_600_000,
        ..ExchangeConfig::default()
    }
    // The orders below test the timestamp rule, not the throttle.
    .with_unreachable_rate_limits();
    let clock = Arc::new(SystemClock::with_speed(SPEED as u32));
    let mut exchange = Exchange::new(config, clock).expect("the configuration is valid");
    let accounts: Vec<Credentials> = (0..ACCOUNTS).map(|_| Credentials::generate()).collect();
    for credentials in &accounts {
        exchange.add_account(Account::new(
            credentials.clone(),
            [("USDT".to_owned(), Decimal::from(100_000))],
            STANDARD_COMMISSION_RATE,
        ));
    }
    let server = sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts");
    (server, accounts)
}

/// The exchange's time as a client of a sped-up exchange models it: read once from
/// `GET /api/v3/time`, then advanced `SPEED` times faster than the client's own clock.
struct MarketClock {
    server_ms: i64,
    read_at: Instant,
}

impl MarketClock {
    async fn read(client: &reqwest::Client, base_url: &str) -> MarketClock {
        let sent_at = Instant::now();
        let (_, time) = send(client.get(format!("{base_url}/api/v3/time"))).await;
        // The server read its clock about half-way through the round trip.
        let read_at = sent_at + sent_at.elapsed() / 2;
        MarketClock {
            server_ms: time["serverTime"].as_i64().expect("serverTime"),
            read_at,
        }
    }

    fn now_ms(&self) -> i64 {
        let real_ms = i64::try_from(self.read_at.elapsed().as_millis()).unwrap();
        self.server_ms + real_ms * SPEED
    }
}

/// A signed `POST /api/v3/order` (a 20 USDT MARKET BUY of BTCUSDT) stamped `timestamp_ms`, with
/// `recv_window` when given: ready to send later.
fn signed_order(
    client: &reqwest::Client,
    base_url: &str,
    credentials: &Credentials,
    timestamp_ms: i64,
    recv_window: Option<&str>,
) -> reqwest::RequestBuilder {
    let timestamp = timestamp_ms.to_string();
    let mut params = vec![
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quoteOrderQty", "20"),
    ];
    if let Some(window) = recv_window {
        params.push(("recvWindow", window));
    }
    params.push(("timestamp", &timestamp));
    let query = encode(&params);
    let signature = sign(&credentials.secret, &query);
    client
        .post(format!(
            "{base_url}/api/v3/order?{query}&signature={signature}"
        ))
        .header("X-MBX-APIKEY", &credentials.api_key)
}

/// Sends `request`: the status and the JSON body.
async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("the simulator answers");
    let status = response.status();
    let text = response.text().await.expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"));
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_orders_at_60x_are_not_refused_for_their_transit() {
    let (server, accounts) = start_fast_market().await;
    let base_url = format!("http://{}", server.local_addr());
    let client = reqwest::Client::new();
    let clock = MarketClock::read(&client, &base_url).await;

    let orders: Vec<reqwest::RequestBuilder> = accounts
        .iter()
        .flat_map(|credentials| {
            (0..ORDERS_PER_ACCOUNT)
                .map(|_| signed_order(&client, &base_url, credentials, clock.now_ms(), None))
                .collect::<Vec<_>>()
        })
        .collect();
    // Half a second of real time between signing and sending: 30 s of market time, six times
    // the 5000 ms window if it were counted in market time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = join_all(orders.into_iter().map(send)).await;

    let refused_1021 = answers
        .iter()
        .filter(|(_, body)| body["code"] == -1021)
        .count();
    assert_eq!(refused_1021, 0, "orders refused with -1021");
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "FILLED");
    }
    assert_eq!(
        server.exchange().lock().order_log().len(),
        ACCOUNTS * ORDERS_PER_ACCOUNT
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_late_or_ahead_in_real_time_is_still_refused_at_60x() {
    let (server, accounts) = start_fast_market().await;
    let base_url = format!("http://{}", server.local_addr());
    let client = reqwest::Client::new();
    let clock = MarketClock::read(&client, &base_url).await;
    let account = &accounts[0];
    let seconds = |real_s: i64| real_s * 1_000 * SPEED;

    // A 1000 ms window, and a request that waits 1.5 s of real time before it goes out.
    let late = signed_order(&client, &base_url, account, clock.now_ms(), Some("1000"));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, error) = send(late).await;
    assert_eq!(
        (status, code_and_msg(&error)),
        (StatusCode::BAD_REQUEST, OUTSIDE)
    );
    assert!(server.exchange().lock().order_log().is_empty());

    // The default 5000 ms window: signed 6 s of real time ago is too old, 3 s is not.
    let (_, error) = send(signed_order(
        &client,
        &base_url,
        account,
        clock.now_ms() - seconds(6),
        None,
    ))
    .await;
    assert_eq!(code_and_msg(&error), OUTSIDE);
    let (status, order) = send(signed_order(
        &client,
        &base_url,
        account,
        clock.now_ms() - seconds(3),
        None,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{order}");

    // Ahead of the server: half a second of real time is tolerated, 3 s is not.
    let (status, order) = send(signed_order(
        &client,
        &base_url,
        account,
        clock.now_ms() + seconds(1) / 2,
        None,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let (_, error) = send(signed_order(
        &client,
        &base_url,
        account,
        clock.now_ms() + seconds(3),
        None,
    ))
    .await;
    assert_eq!(code_and_msg(&error), AHEAD);
    assert_eq!(server.exchange().lock().order_log().len(), 2);
    server.stop().await.unwrap();
}
