//! The public endpoints over loopback HTTP: shapes against the doc fixtures, kline query
//! semantics, the book that `depth` shows and orders walk, `avgPrice`, and their parameter
//! errors.

mod common;

use common::{HISTORY_MS, START_MS, TestSim, assert_same_shape, code_and_msg, decimal, fixture};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const MINUTE_MS: i64 = 60_000;

#[tokio::test]
async fn ping_and_time_answer_like_binance() {
    let sim = TestSim::start().await;
    let (status, ping) = sim.get("/api/v3/ping", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ping, fixture("rest-ping.response.json"));

    let (_, time) = sim.get("/api/v3/time", "").await;
    assert_same_shape(&time, &fixture("rest-time.response.json"), &[]);
    assert_eq!(time["serverTime"], START_MS);
    sim.clock.advance_ms(1_234);
    let (_, time) = sim.get("/api/v3/time", "").await;
    assert_eq!(time["serverTime"], START_MS + 1_234);
}

#[tokio::test]
async fn exchange_info_has_the_fixtures_fields_and_the_enforced_filters() {
    let sim = TestSim::start().await;
    let (status, info) = sim.get("/api/v3/exchangeInfo", "").await;
    assert_eq!(status, StatusCode::OK);
    let mut skeleton = fixture("rest-exchangeInfo.skeleton.response.json");
    // The skeleton's rateLimits holds an empty placeholder; the WebSocket-API example has real ones.
    skeleton["rateLimits"] =
        fixture("wsapi-exchangeInfo.response.json")["result"]["rateLimits"].clone();
    assert_same_shape(&info, &skeleton, &["sors"]);
    let symbols: Vec<&str> = info["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["BNBUSDT", "BTCUSDT", "ETHUSDT"]);

    let btc = &info["symbols"][1];
    for filter in btc["filters"].as_array().unwrap() {
        let filter_type = filter["filterType"].as_str().unwrap();
        let name = format!("filter-{filter_type}.json");
        if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(&name)
            .exists()
        {
            assert_same_shape(filter, &fixture(&name), &[]);
        }
    }
    let lot = btc["filters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filterType"] == "LOT_SIZE")
        .unwrap();
    assert_eq!(lot["stepSize"], "0.00001000");

    let (_, one) = sim.get("/api/v3/exchangeInfo", "symbol=ETHUSDT").await;
    assert_eq!(one["symbols"].as_array().unwrap().len(), 1);
    let (_, two) = sim
        .get(
            "/api/v3/exchangeInfo",
            "symbols=%5B%22ETHUSDT%22,%22BTCUSDT%22%5D",
        )
        .await;
    assert_eq!(two["symbols"].as_array().unwrap().len(), 2);
    let (status, error) = sim.get("/api/v3/exchangeInfo", "symbol=NOPEUSDT").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error, fixture("rest-error.response.json"));
}

#[tokio::test]
async fn ticker_price_answers_one_symbol_or_all() {
    let sim = TestSim::start().await;
    let (_, single) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    assert_same_shape(
        &single,
        &fixture("rest-ticker-price.single.response.json"),
        &[],
    );
    let price = decimal(&single["price"]);
    assert!(price > 1_000.into(), "{price}");
    assert_eq!(
        price % rust_decimal::Decimal::new(1, 2),
        0.into(),
        "on the tick grid"
    );

    let (_, all) = sim.get("/api/v3/ticker/price", "").await;
    assert_same_shape(&all, &fixture("rest-ticker-price.list.response.json"), &[]);
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(all[1], single, "the same instant gives the same price");

    sim.clock.advance_ms(3_600_000);
    let (_, later) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    assert_ne!(
        later["price"], single["price"],
        "the walk moves with the clock"
    );
}

#[tokio::test]
async fn klines_have_the_fixtures_shape_and_end_with_the_current_price() {
    let sim = TestSim::start().await;
    let (status, klines) = sim
        .get("/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=3")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_same_shape(&klines, &fixture("rest-klines.response.json"), &[]);
    let rows = klines.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let current_open = START_MS / MINUTE_MS * MINUTE_MS;
    assert_eq!(
        open_times(&klines),
        [
            current_open - 2 * MINUTE_MS,
            current_open - MINUTE_MS,
            current_open
        ]
    );
    assert_eq!(rows[2][6], current_open + MINUTE_MS - 1);
    let (_, ticker) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    assert_eq!(
        rows[2][4], ticker["price"],
        "the open kline's close is the last price"
    );
    let (high, low, open) = (
        decimal(&rows[1][2]),
        decimal(&rows[1][3]),
        decimal(&rows[1][1]),
    );
    assert!(low <= open && open <= high);
}

#[tokio::test]
async fn klines_follow_the_start_end_and_limit_rules() {
    let sim = TestSim::start().await;
    let current_open = START_MS / MINUTE_MS * MINUTE_MS;

    let (_, default_limit) = sim
        .get("/api/v3/klines", "symbol=BTCUSDT&interval=1m")
        .await;
    assert_eq!(default_limit.as_array().unwrap().len(), 500);

    // startTime: the oldest klines opening at or after it.
    let start = current_open - 10 * MINUTE_MS + 1;
    let (_, from_start) = sim
        .get(
            "/api/v3/klines",
            &format!("symbol=BTCUSDT&interval=1m&startTime={start}&limit=2"),
        )
        .await;
    assert_eq!(
        open_times(&from_start),
        [current_open - 9 * MINUTE_MS, current_open - 8 * MINUTE_MS]
    );

    // endTime: the newest klines opening at or before it.
    let end = current_open - 5 * MINUTE_MS;
    let (_, to_end) = sim
        .get(
            "/api/v3/klines",
            &format!("symbol=BTCUSDT&interval=1m&endTime={end}&limit=2"),
        )
        .await;
    assert_eq!(open_times(&to_end), [end - MINUTE_MS, end]);

    // Both: from startTime, stopping at endTime whatever the limit.
    let (_, between) = sim
        .get(
            "/api/v3/klines",
            &format!(
                "symbol=BTCUSDT&interval=1m&startTime={}&endTime={end}&limit=100",
                end - 3 * MINUTE_MS
            ),
        )
        .await;
    assert_eq!(
        open_times(&between),
        [
            end - 3 * MINUTE_MS,
            end - 2 * MINUTE_MS,
            end - MINUTE_MS,
            end
        ]
    );

    // Nothing exists before the history starts.
    let before = START_MS - HISTORY_MS - 10 * MINUTE_MS;
    let (_, early) = sim
        .get(
            "/api/v3/klines",
            &format!("symbol=BTCUSDT&interval=1h&endTime={before}"),
        )
        .await;
    assert_eq!(early, Value::Array(vec![]));

    // Hours are aggregated from the same walk: the current hour closes at the current price.
    let (_, hours) = sim
        .get("/api/v3/klines", "symbol=BTCUSDT&interval=1h&limit=1")
        .await;
    let (_, minutes) = sim
        .get("/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=1")
        .await;
    assert_eq!(hours[0][4], minutes[0][4]);
}

#[tokio::test]
async fn klines_refuse_bad_parameters_with_binances_codes() {
    let sim = TestSim::start().await;
    let cases = [
        (
            "interval=1m",
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            "symbol=BTCUSDT",
            -1102,
            "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.",
        ),
        ("symbol=BTCUSDT&interval=1H", -1120, "Invalid interval."),
        ("symbol=NOPE&interval=1m", -1121, "Invalid symbol."),
        (
            "symbol=BTCUSDT&interval=1m&limit=1001",
            -1102,
            "'limit' contains unexpected value. Cannot be greater than 1000.",
        ),
        (
            "symbol=BTCUSDT&interval=1m&startTime=abc",
            -1100,
            "Illegal characters found in parameter 'startTime'; legal range is '^[0-9]{1,20}$'.",
        ),
        (
            "symbol=BTCUSDT&interval=1m&startTime=2&endTime=1",
            -1023,
            "Start time is greater than end time.",
        ),
        (
            "symbol=BTCUSDT&interval=1m&colour=red",
            -1104,
            "Not all sent parameters were read; read '2' parameter(s) but was sent '3'.",
        ),
        (
            "symbol=BTCUSDT&symbol=ETHUSDT&interval=1m",
            -1101,
            "Duplicate values for a parameter detected.",
        ),
    ];
    for (query, code, msg) in cases {
        let (status, error) = sim.get("/api/v3/klines", query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(code_and_msg(&error), (code, msg), "{query}");
    }
}

fn open_times(klines: &Value) -> Vec<i64> {
    klines
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn depth_shows_the_book_that_market_orders_walk() {
    let sim = TestSim::start().await;
    let (status, depth) = sim.get("/api/v3/depth", "symbol=BTCUSDT&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{depth}");
    assert_same_shape(&depth, &fixture("rest-depth.response.json"), &[]);
    let (bids, asks) = (
        depth["bids"].as_array().unwrap(),
        depth["asks"].as_array().unwrap(),
    );
    assert_eq!((bids.len(), asks.len()), (5, 5));
    assert!(decimal(&bids[0][0]) < decimal(&asks[0][0]));
    assert!(
        decimal(&bids[0][0]) > decimal(&bids[1][0]),
        "bids highest first"
    );
    assert!(
        decimal(&asks[0][0]) < decimal(&asks[1][0]),
        "asks lowest first"
    );

    // A BUY for more than the best ask holds trades at the first two asks, as shown.
    let qty = decimal(&asks[0][1]) + decimal(&asks[1][1]);
    let qty = qty.to_string();
    let (status, order) = sim
        .signed(
            Method::POST,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", &qty),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let fills = order["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 2);
    for (fill, ask) in fills.iter().zip(asks) {
        assert_eq!(fill["price"], ask[0]);
        assert_eq!(fill["qty"], ask[1]);
    }

    let (_, everything) = sim.get("/api/v3/depth", "symbol=BTCUSDT&limit=6000").await;
    assert_eq!(
        everything["asks"].as_array().unwrap().len(),
        20,
        "the whole book"
    );
    let (status, error) = sim.get("/api/v3/depth", "symbol=NOPE").await;
    assert_eq!(
        (status, error["code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(-1121))
    );
}

#[tokio::test]
async fn avg_price_is_the_recent_average_near_the_last_price() {
    let sim = TestSim::start().await;
    let (status, average) = sim.get("/api/v3/avgPrice", "symbol=BTCUSDT").await;
    assert_eq!(status, StatusCode::OK, "{average}");
    assert_same_shape(&average, &fixture("rest-avgPrice.response.json"), &[]);
    assert_eq!(average["mins"], 5);
    assert_eq!(average["closeTime"], START_MS);
    let (_, ticker) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    let (mean, last) = (decimal(&average["price"]), decimal(&ticker["price"]));
    assert!(
        (mean - last).abs() / last < rust_decimal::Decimal::new(1, 2),
        "{mean} vs {last}"
    );
    let (status, error) = sim.get("/api/v3/avgPrice", "").await;
    assert_eq!(
        (status, error["code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(-1102))
    );
}
