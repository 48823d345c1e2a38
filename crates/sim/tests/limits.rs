//! Rate limits over loopback HTTP: weights and usage headers, 429 -1003 with `Retry-After`, the
//! escalating 418 bans, the unfilled-order count with -1015, and `exchangeInfo.rateLimits`
//! publishing exactly what is enforced. Windows follow the manual clock.

mod common;

use common::{TestSim, header_number, test_config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use sim::{ExchangeConfig, ListingSpec, RateLimit, RateLimitInterval, RateLimitType};

const WEIGHT: &str = "X-MBX-USED-WEIGHT-1M";
const ORDERS_10S: &str = "X-MBX-ORDER-COUNT-10S";
const ORDERS_1D: &str = "X-MBX-ORDER-COUNT-1D";

fn limit(
    limit_type: RateLimitType,
    interval: RateLimitInterval,
    interval_num: u32,
    limit: u64,
) -> RateLimit {
    RateLimit {
        limit_type,
        interval,
        interval_num,
        limit,
    }
}

/// Tight limits: 45 weight per minute, 2 unfilled orders per 10 s, 100 per day.
fn tight_config() -> ExchangeConfig {
    ExchangeConfig {
        rate_limits: vec![
            limit(
                RateLimitType::RequestWeight,
                RateLimitInterval::Minute,
                1,
                45,
            ),
            limit(RateLimitType::Orders, RateLimitInterval::Second, 10, 2),
            limit(RateLimitType::Orders, RateLimitInterval::Day, 1, 100),
        ],
        ..test_config()
    }
}

const BUY: [(&str, &str); 4] = [
    ("symbol", "BTCUSDT"),
    ("side", "BUY"),
    ("type", "MARKET"),
    ("quantity", "0.001"),
];

#[tokio::test]
async fn every_response_carries_the_used_weight_and_orders_cost_nothing_when_they_succeed() {
    let sim = TestSim::start().await;
    let (_, headers, _) = sim.get_with_headers("/api/v3/ping", "").await;
    assert_eq!(header_number(&headers, WEIGHT), 1);
    let (_, headers, _) = sim.get_with_headers("/api/v3/exchangeInfo", "").await;
    assert_eq!(header_number(&headers, WEIGHT), 21);
    let (_, headers, _) = sim.get_with_headers("/api/v3/ticker/price", "").await;
    assert_eq!(header_number(&headers, WEIGHT), 25, "4 without a symbol");
    let (_, headers, _) = sim
        .get_with_headers("/api/v3/depth", "symbol=BTCUSDT&limit=500")
        .await;
    assert_eq!(header_number(&headers, WEIGHT), 50, "25 for limit 101-500");

    let (status, headers, _) = sim
        .signed_with_headers(Method::POST, "/api/v3/order", &BUY)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_number(&headers, WEIGHT),
        50,
        "a placed order weighs 0"
    );
    assert_eq!(
        header_number(&headers, ORDERS_10S),
        0,
        "a filled order leaves the unfilled count"
    );
    assert_eq!(header_number(&headers, ORDERS_1D), 0);

    let mut too_small = BUY;
    too_small[3] = ("quantity", "0.00001");
    let (status, headers, _) = sim
        .signed_with_headers(Method::POST, "/api/v3/order", &too_small)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        header_number(&headers, WEIGHT),
        51,
        "a failed order weighs 1"
    );

    let (_, headers, _) = sim
        .signed_with_headers(Method::GET, "/api/v3/account", &[])
        .await;
    assert_eq!(header_number(&headers, WEIGHT), 71);
    assert!(
        headers.get(ORDERS_10S).is_none(),
        "order counts only on order responses"
    );

    // A new minute starts from zero.
    sim.clock.advance_ms(30_000);
    let (_, headers, _) = sim.get_with_headers("/api/v3/time", "").await;
    assert_eq!(header_number(&headers, WEIGHT), 1);
}

#[tokio::test]
async fn exchange_info_publishes_the_enforced_limits() {
    let sim = TestSim::start_with(tight_config()).await;
    let (_, info) = sim.get("/api/v3/exchangeInfo", "").await;
    assert_eq!(
        info["rateLimits"],
        json!([
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 45},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 2},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 100},
        ])
    );

    let defaults = TestSim::start().await;
    let (_, info) = defaults.get("/api/v3/exchangeInfo", "").await;
    assert_eq!(info["rateLimits"][0]["limit"], 6000);
    assert_eq!(info["rateLimits"][3]["rateLimitType"], "RAW_REQUESTS");
}

#[tokio::test]
async fn too_much_weight_is_429_and_sending_on_gets_bans_that_double() {
    let sim = TestSim::start_with(tight_config()).await;
    // The clock starts 30 s into a minute: exchangeInfo (20) twice fits in 45, a third does not.
    for _ in 0..2 {
        let (status, _) = sim.get("/api/v3/exchangeInfo", "").await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, error) = sim.get_with_headers("/api/v3/exchangeInfo", "").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error["code"], -1003);
    assert_eq!(
        error["msg"],
        "Too much request weight used; current limit is 45 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
    );
    assert_eq!(
        header_number(&headers, "Retry-After"),
        30,
        "until the minute ends"
    );
    assert_eq!(header_number(&headers, WEIGHT), 60);

    // Sending before Retry-After has passed gets the IP banned for 2 minutes.
    let (status, headers, error) = sim.get_with_headers("/api/v3/ping", "").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(error["code"], -1003);
    let ban_end = sim.clock_now() + 120_000;
    assert_eq!(
        error["msg"],
        format!(
            "Way too much request weight used; IP banned until {ban_end}. Please use WebSocket Streams for live updates to avoid bans."
        )
    );
    assert_eq!(header_number(&headers, "Retry-After"), 120);

    sim.clock.advance_ms(60_000);
    let (status, headers, _) = sim.get_with_headers("/api/v3/ping", "").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT, "still banned");
    assert_eq!(header_number(&headers, "Retry-After"), 60);

    sim.clock.advance_ms(60_000);
    let (status, _) = sim.get("/api/v3/ping", "").await;
    assert_eq!(status, StatusCode::OK, "the ban is over");

    // Doing it again doubles the ban.
    let mut status = StatusCode::OK;
    while status == StatusCode::OK {
        status = sim.get("/api/v3/exchangeInfo", "").await.0;
    }
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, headers, _) = sim.get_with_headers("/api/v3/ping", "").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(header_number(&headers, "Retry-After"), 240);
}

#[tokio::test]
async fn a_client_that_waits_out_the_retry_after_is_not_banned() {
    let sim = TestSim::start_with(tight_config()).await;
    let mut last = (StatusCode::OK, reqwest::header::HeaderMap::new());
    while last.0 == StatusCode::OK {
        let (status, headers, _) = sim.get_with_headers("/api/v3/exchangeInfo", "").await;
        last = (status, headers);
    }
    let wait_s = header_number(&last.1, "Retry-After");
    sim.clock.advance_ms(i64::try_from(wait_s).unwrap() * 1_000);
    let (status, _) = sim.get("/api/v3/exchangeInfo", "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn orders_that_never_trade_fill_the_order_count_up_to_1015() {
    // ETHUSDT without a book: its MARKET orders expire unfilled and so stay on the count.
    let mut config = tight_config();
    let mut empty_book = ListingSpec::ethusdt();
    empty_book.book.levels = 0;
    config.listings = vec![ListingSpec::btcusdt(), empty_book];
    config.rate_limits[0].limit = 6_000;
    let sim = TestSim::start_with(config).await;
    sim.exchange()
        .lock()
        .fund(&sim.credentials.api_key, "ETH", 10.into());

    let unfilled = [
        ("symbol", "ETHUSDT"),
        ("side", "SELL"),
        ("type", "MARKET"),
        ("quantity", "0.01"),
    ];
    for expected_count in 1..=2 {
        let (status, headers, order) = sim
            .signed_with_headers(Method::POST, "/api/v3/order", &unfilled)
            .await;
        assert_eq!(status, StatusCode::OK, "{order}");
        assert_eq!(order["status"], "EXPIRED");
        assert_eq!(order["executedQty"], "0.00000000");
        assert_eq!(header_number(&headers, ORDERS_10S), expected_count);
        assert_eq!(header_number(&headers, ORDERS_1D), expected_count);
    }

    let (status, headers, error) = sim
        .signed_with_headers(Method::POST, "/api/v3/order", &BUY)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        error,
        json!({"code": -1015, "msg": "Too many new orders; current limit is 2 orders per 10 SECOND."})
    );
    // 12:00:30 lies in the window 12:00:30-12:00:40.
    assert_eq!(header_number(&headers, "Retry-After"), 10);
    assert_eq!(sim.exchange().lock().order_log().len(), 2);

    // Other requests are not affected, and the next 10-second window accepts orders again.
    assert_eq!(sim.get("/api/v3/ping", "").await.0, StatusCode::OK);
    sim.clock.advance_ms(10_000);
    let (status, headers, _) = sim
        .signed_with_headers(Method::POST, "/api/v3/order", &BUY)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_number(&headers, ORDERS_10S), 0);
    assert_eq!(
        header_number(&headers, ORDERS_1D),
        2,
        "the day window still holds them"
    );
}

#[tokio::test]
async fn weights_depend_on_the_parameters_as_documented() {
    let sim = TestSim::start().await;
    let weights: Vec<(&str, &str, u64)> = vec![
        ("/api/v3/ticker/price", "symbol=BTCUSDT", 2),
        ("/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=1", 2),
        ("/api/v3/avgPrice", "symbol=BTCUSDT", 2),
        ("/api/v3/depth", "symbol=BTCUSDT&limit=5000", 250),
    ];
    let mut expected = 0;
    for (path, query, weight) in weights {
        let (status, headers, body): (StatusCode, _, Value) =
            sim.get_with_headers(path, query).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        expected += weight;
        assert_eq!(header_number(&headers, WEIGHT), expected, "{path}");
    }
    for (path, params, weight) in [
        (
            "/api/v3/order",
            vec![("symbol", "BTCUSDT"), ("orderId", "1")],
            4,
        ),
        ("/api/v3/myTrades", vec![("symbol", "BTCUSDT")], 20),
        (
            "/api/v3/myTrades",
            vec![("symbol", "BTCUSDT"), ("orderId", "1")],
            5,
        ),
        (
            "/api/v3/allOrders",
            vec![("symbol", "BTCUSDT"), ("orderId", "1")],
            20,
        ),
    ] {
        let (_, headers, _) = sim.signed_with_headers(Method::GET, path, &params).await;
        expected += weight;
        assert_eq!(header_number(&headers, WEIGHT), expected, "{path}");
    }
}
