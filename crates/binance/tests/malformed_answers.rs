//! Point 8: malformed and truncated answers over real HTTP, from a tiny local server (raw
//! `TcpListener`) that answers each `METHOD /path` with a canned status and body. A bad answer is
//! a typed [`ErrorKind::MalformedAnswer`] saying what was wrong, never a panic; on an ORDER it is
//! ambiguous (a success status means the order executed) and resolved by looking the order up,
//! which either finds the fill or, when the lookups fail too, leaves the outcome unknown. The
//! whole exchange listing sets an unreadable symbol aside instead of failing, but not a body
//! without symbols; an account answer missing a field names it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use binance::{
    BinanceError, Client, ClientConfig, Credentials, ErrorClass, ErrorKind, OrderSize, OrderStatus,
    PlaceOrderError, RetryPolicy,
};
use market::{Quantity, Side, Symbol};
use rust_decimal::Decimal;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A canned answer: HTTP status and body.
type Answer = (u16, String);

/// A local HTTP/1.1 server answering from a table keyed by `METHOD /path`; the time and
/// `exchangeInfo` are answered correctly unless the table says otherwise, anything else is a 404.
struct FakeExchange {
    base_url: String,
    /// Every request served, as `METHOD /path`, in order.
    served: Arc<Mutex<Vec<String>>>,
}

impl FakeExchange {
    async fn start(answers: &[(&str, Answer)]) -> FakeExchange {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let answers: Arc<HashMap<String, Answer>> = Arc::new(
            answers
                .iter()
                .map(|(route, answer)| ((*route).to_owned(), answer.clone()))
                .collect(),
        );
        let served = Arc::new(Mutex::new(Vec::new()));
        let log = served.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(stream, answers.clone(), log.clone()));
            }
        });
        FakeExchange { base_url, served }
    }

    fn client(&self) -> Client {
        let mut config = ClientConfig::new(self.base_url.clone())
            .with_credentials(Credentials::hmac("fake-key", "fake-secret"));
        config.retry = RetryPolicy {
            backoff_base: Duration::from_millis(5),
            backoff_cap: Duration::from_millis(20),
            order_visibility_timeout: Duration::from_millis(200),
            ..RetryPolicy::default()
        };
        Client::new(config).expect("a valid configuration")
    }

    fn count(&self, route: &str) -> usize {
        self.served
            .lock()
            .unwrap()
            .iter()
            .filter(|served| *served == route)
            .count()
    }
}

/// Answers every request on `stream` (keep-alive) from `answers`.
async fn serve(
    mut stream: TcpStream,
    answers: Arc<HashMap<String, Answer>>,
    served: Arc<Mutex<Vec<String>>>,
) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let body_len = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buffer.len() < head_end + body_len {
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        }
        buffer.drain(..head_end + body_len);
        let mut words = head.split_whitespace();
        let method = words.next().unwrap_or_default();
        let path = words
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default();
        let route = format!("{method} {path}");
        served.lock().unwrap().push(route.clone());
        let (status, body) = answers
            .get(&route)
            .cloned()
            .unwrap_or_else(|| default_answer(&route));
        let response = format!(
            "HTTP/1.1 {status} Canned\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn default_answer(route: &str) -> Answer {
    match route {
        "GET /api/v3/time" => (200, json!({ "serverTime": now_ms() }).to_string()),
        "GET /api/v3/exchangeInfo" => (
            200,
            json!({"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [], "symbols": []})
                .to_string(),
        ),
        _ => (
            404,
            json!({"code": -1, "msg": "no such route here"}).to_string(),
        ),
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn btcusdt() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn base(text: &str) -> OrderSize {
    OrderSize::Base(text.parse::<Quantity>().unwrap())
}

/// What `error` says was malformed; panics when it is another kind of error.
fn malformed_what(error: &BinanceError) -> &str {
    match error.kind() {
        ErrorKind::MalformedAnswer(what) => what,
        other => panic!("expected a malformed answer, got {other:?}"),
    }
}

/// A full answer to the order `trunc-1`, which filled at 60000.
fn full_order_answer() -> String {
    json!({
        "symbol": "BTCUSDT", "orderId": 7, "orderListId": -1, "clientOrderId": "trunc-1",
        "transactTime": 1, "price": "0.00000000", "origQty": "0.00100000",
        "executedQty": "0.00100000", "cummulativeQuoteQty": "60.00000000", "status": "FILLED",
        "timeInForce": "GTC", "type": "MARKET", "side": "BUY",
        "fills": [{"price": "60000.00000000", "qty": "0.00100000", "commission": "0.00000100",
                   "commissionAsset": "BTC", "tradeId": 3}]
    })
    .to_string()
}

#[tokio::test]
async fn truncated_and_mistyped_time_answers_are_typed_errors() {
    let truncated =
        FakeExchange::start(&[("GET /api/v3/time", (200, "{\"serverTi".to_owned()))]).await;
    let error = truncated.client().server_time_ms().await.unwrap_err();
    assert!(
        malformed_what(&error).contains("truncated"),
        "{}",
        malformed_what(&error)
    );
    assert_eq!(error.class(), ErrorClass::Rejected, "a read: not retried");
    assert!(error.to_string().contains("malformed answer"), "{error}");

    let mistyped = FakeExchange::start(&[(
        "GET /api/v3/time",
        (200, json!({"serverTime": "soon"}).to_string()),
    )])
    .await;
    let error = mistyped.client().server_now_ms().await.unwrap_err();
    assert!(
        malformed_what(&error).contains("serverTime"),
        "{}",
        malformed_what(&error)
    );
}

/// A truncated answer to a POSTed order means it executed and the fill must be read another
/// way: the client looks the order up and returns the fill, without sending it again.
#[tokio::test]
async fn a_truncated_order_answer_is_resolved_by_query_not_resent() {
    let full = full_order_answer();
    let report = json!({
        "symbol": "BTCUSDT", "orderId": 7, "clientOrderId": "trunc-1", "side": "BUY",
        "status": "FILLED", "type": "MARKET", "executedQty": "0.00100000",
        "cummulativeQuoteQty": "60.00000000", "updateTime": 1
    })
    .to_string();
    let trades = json!([{"id": 3, "orderId": 7, "price": "60000.00000000", "qty": "0.00100000",
        "commission": "0.00000100", "commissionAsset": "BTC"}])
    .to_string();
    let fake = FakeExchange::start(&[
        (
            "POST /api/v3/order",
            (200, full[..full.len() / 2].to_owned()),
        ),
        ("GET /api/v3/order", (200, report)),
        ("GET /api/v3/myTrades", (200, trades)),
    ])
    .await;
    let fill = fake
        .client()
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "trunc-1")
        .await
        .expect("resolved by the lookup");
    assert!(fill.resolved_by_query);
    assert_eq!(
        (fill.order_id, fill.status, fill.executed_qty),
        (7, OrderStatus::Filled, Decimal::new(1, 3))
    );
    assert_eq!(fill.fills.len(), 1);
    assert_eq!(fake.count("POST /api/v3/order"), 1, "never re-sent");
}

/// A mistyped order answer whose lookups fail too: the outcome is unknown, the cause names the
/// field, and the order was sent once.
#[tokio::test]
async fn a_mistyped_order_answer_with_failing_lookups_is_unknown() {
    let mistyped = full_order_answer().replace("\"orderId\":7", "\"orderId\":\"seven\"");
    assert!(mistyped.contains("seven"));
    let fake = FakeExchange::start(&[
        ("POST /api/v3/order", (200, mistyped)),
        ("GET /api/v3/order", (200, "{\"symbol\":".to_owned())),
    ])
    .await;
    let error = fake
        .client()
        .place_market_order(&btcusdt(), Side::Buy, base("0.001"), "trunc-1")
        .await
        .unwrap_err();
    let PlaceOrderError::Unknown {
        cause,
        lookup_error,
        ..
    } = &error
    else {
        panic!("expected Unknown, got {error}");
    };
    assert_eq!(cause.class(), ErrorClass::Ambiguous);
    assert!(
        malformed_what(cause).contains("orderId"),
        "{}",
        malformed_what(cause)
    );
    let lookup_error = lookup_error.as_ref().expect("the lookup failed");
    assert!(
        malformed_what(lookup_error).contains("truncated"),
        "{lookup_error}"
    );
    assert_eq!(fake.count("POST /api/v3/order"), 1, "never re-sent");
    assert!(fake.count("GET /api/v3/order") >= 1, "looked up");
}

/// A symbol entry with everything `SymbolRules` requires and no filters.
fn listed_symbol(name: &str) -> serde_json::Value {
    json!({
        "symbol": name, "status": "TRADING", "baseAsset": &name[..3], "quoteAsset": "USDT",
        "baseAssetPrecision": 8, "quoteAssetPrecision": 8, "quoteOrderQtyMarketAllowed": true,
        "orderTypes": ["MARKET"], "filters": []
    })
}

#[tokio::test]
async fn the_listing_sets_unreadable_symbols_aside_but_needs_a_symbols_array() {
    let mut broken = listed_symbol("ETHUSDT");
    broken["baseAssetPrecision"] = json!("eight");
    let info = json!({
        "timezone": "UTC", "serverTime": now_ms(), "rateLimits": [],
        "symbols": [listed_symbol("BTCUSDT"), broken, {"status": "TRADING"}]
    });
    let fake = FakeExchange::start(&[("GET /api/v3/exchangeInfo", (200, info.to_string()))]).await;
    let listing = fake.client().exchange_listing().await.unwrap();
    assert_eq!(listing.symbols.len(), 1);
    assert_eq!(listing.symbols[0].symbol, btcusdt());
    let unreadable: Vec<&str> = listing
        .unreadable
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(unreadable, ["ETHUSDT", "<index 2>"]);
    assert!(
        listing.unreadable[0].1.contains("baseAssetPrecision"),
        "{:?}",
        listing.unreadable[0]
    );

    let without_symbols = json!({"timezone": "UTC", "serverTime": now_ms(), "rateLimits": []});
    let fake = FakeExchange::start(&[(
        "GET /api/v3/exchangeInfo",
        (200, without_symbols.to_string()),
    )])
    .await;
    let error = fake.client().exchange_listing().await.unwrap_err();
    assert_eq!(malformed_what(&error), "symbols: missing");
    assert_eq!(error.class(), ErrorClass::Rejected);
}

#[tokio::test]
async fn an_account_answer_without_can_trade_is_malformed_and_names_it() {
    let answer = json!({"permissions": ["SPOT"], "balances": [], "uid": 1});
    let fake = FakeExchange::start(&[("GET /api/v3/account", (200, answer.to_string()))]).await;
    let error = fake.client().account_info().await.unwrap_err();
    assert_eq!(malformed_what(&error), "canTrade: missing");
    assert_eq!(fake.count("GET /api/v3/account"), 1, "a read: not retried");
}
