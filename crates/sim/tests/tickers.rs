//! The tickers over loopback HTTP: `GET /api/v3/ticker/24hr` (FULL and MINI) and
//! `GET /api/v3/ticker/bookTicker` against Binance's doc examples and against the simulated
//! market they describe (klines, `depth`, the fills of a MARKET order); the `symbol` / `symbols`
//! / `symbolStatus` rules they share with `ticker/price` and `depth`; their weights; and faults
//! aimed at them by name.

mod common;

use common::{
    START_MS, TestSim, assert_same_shape, code_and_msg, decimal, fixture, header_number,
    test_config,
};
use reqwest::{Method, StatusCode};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use sim::ListingSpec;

const WEIGHT: &str = "X-MBX-USED-WEIGHT-1M";
const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// The -1100 Binance answers for a malformed `symbols`.
const ILLEGAL_SYMBOLS: &str = "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.";

/// `symbols=[...]` percent-encoded, as clients send it.
fn symbols(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
    common::encode(&[("symbols", &format!("[{}]", quoted.join(",")))])
}

fn symbols_of(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|entry| entry["symbol"].as_str().unwrap())
        .collect()
}

/// The weight a public GET costs: the change of the used-weight header.
async fn weight_of(sim: &TestSim, path: &str, query: &str) -> u64 {
    let (_, before, _) = sim.get_with_headers("/api/v3/ping", "").await;
    let (_, after, _) = sim.get_with_headers(path, query).await;
    header_number(&after, WEIGHT) - header_number(&before, WEIGHT)
}

#[tokio::test]
async fn the_24hr_ticker_has_the_docs_fields_in_full_and_mini() {
    let sim = TestSim::start().await;
    let (status, full) = sim.get("/api/v3/ticker/24hr", "symbol=BTCUSDT").await;
    assert_eq!(status, StatusCode::OK, "{full}");
    assert_same_shape(
        &full,
        &fixture("rest-ticker-24hr.FULL.single.response.json"),
        &[],
    );
    let (_, mini) = sim
        .get("/api/v3/ticker/24hr", "symbol=BTCUSDT&type=MINI")
        .await;
    assert_same_shape(
        &mini,
        &fixture("rest-ticker-24hr.MINI.single.response.json"),
        &[],
    );
    // MINI is FULL without the price change, the book and the last trade (the docs' example).
    for (field, value) in mini.as_object().unwrap() {
        assert_eq!(&full[field], value, "{field}");
    }
    let (_, explicit_full) = sim
        .get("/api/v3/ticker/24hr", "symbol=BTCUSDT&type=FULL")
        .await;
    assert_eq!(explicit_full, full, "FULL is the default");

    let (_, all) = sim.get("/api/v3/ticker/24hr", "").await;
    assert_same_shape(
        &all,
        &fixture("rest-ticker-24hr.FULL.list.response.json"),
        &[],
    );
    assert_eq!(symbols_of(&all), ["BNBUSDT", "BTCUSDT", "ETHUSDT"]);
    assert_eq!(all[1], full, "the same instant gives the same statistics");
    let (_, some_mini) = sim
        .get(
            "/api/v3/ticker/24hr",
            &format!("{}&type=MINI", symbols(&["ETHUSDT", "BTCUSDT"])),
        )
        .await;
    assert_same_shape(
        &some_mini,
        &fixture("rest-ticker-24hr.MINI.list.response.json"),
        &[],
    );
    assert_eq!(
        symbols_of(&some_mini),
        ["ETHUSDT", "BTCUSDT"],
        "in the order asked"
    );

    let (status, error) = sim
        .get("/api/v3/ticker/24hr", "symbol=BTCUSDT&type=mini")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_and_msg(&error), (-1139, "Invalid ticker type."));
}

#[tokio::test]
async fn the_24hr_ticker_sums_up_the_market_of_the_last_day() {
    let sim = TestSim::start().await;
    // On a whole hour (13:00:00), so that the window starts where an hour kline does.
    let to_the_hour = HOUR_MS - START_MS % HOUR_MS;
    sim.clock.advance_ms(to_the_hour);
    let now = START_MS + to_the_hour;
    let (_, ticker) = sim.get("/api/v3/ticker/24hr", "symbol=BTCUSDT").await;
    assert_eq!(ticker["openTime"], now - DAY_MS);
    assert_eq!(ticker["closeTime"], now);

    // The window is 24 hour klines and the first second of the one now open.
    let (_, hours) = sim
        .get(
            "/api/v3/klines",
            &format!(
                "symbol=BTCUSDT&interval=1h&startTime={}&limit=25",
                now - DAY_MS
            ),
        )
        .await;
    let hours = hours.as_array().unwrap();
    assert_eq!(hours.len(), 25);
    assert_eq!(hours[0][0], now - DAY_MS);
    let column = |index: usize| hours.iter().map(move |kline| decimal(&kline[index]));
    assert_eq!(ticker["openPrice"], hours[0][1]);
    assert_eq!(decimal(&ticker["highPrice"]), column(2).max().unwrap());
    assert_eq!(decimal(&ticker["lowPrice"]), column(3).min().unwrap());
    assert_eq!(ticker["lastPrice"], hours[24][4]);
    assert_eq!(decimal(&ticker["volume"]), column(5).sum::<Decimal>());
    let quote_volume = decimal(&ticker["quoteVolume"]);
    let klines_quote_volume = column(7).sum::<Decimal>();
    assert!(
        (quote_volume - klines_quote_volume).abs() <= Decimal::new(1, 4),
        "{quote_volume} vs {klines_quote_volume}: the same trades, summed in another order"
    );
    let count: u64 = hours.iter().map(|kline| kline[8].as_u64().unwrap()).sum();
    assert_eq!(ticker["count"], count);
    let (first, last) = (
        ticker["firstId"].as_i64().unwrap(),
        ticker["lastId"].as_i64().unwrap(),
    );
    assert!(first > 1, "the market traded before the window: {first}");
    assert_eq!(last - first + 1, i64::try_from(count).unwrap());

    let (_, ticker_price) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    assert_eq!(ticker["lastPrice"], ticker_price["price"]);
    let (_, minutes) = sim
        .get(
            "/api/v3/klines",
            &format!(
                "symbol=BTCUSDT&interval=1m&startTime={}&limit=1",
                now - DAY_MS - MINUTE_MS
            ),
        )
        .await;
    assert_eq!(
        ticker["prevClosePrice"], minutes[0][4],
        "the close of the minute before the window"
    );

    let (open, last_price) = (decimal(&ticker["openPrice"]), decimal(&ticker["lastPrice"]));
    assert_eq!(decimal(&ticker["priceChange"]), last_price - open);
    let percent = ((last_price - open) * Decimal::ONE_HUNDRED / open)
        .round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(decimal(&ticker["priceChangePercent"]), percent);
    assert_eq!(
        ticker["priceChangePercent"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .map(str::len),
        Some(3),
        "three decimals, as in the docs"
    );
    let average = decimal(&ticker["weightedAvgPrice"]);
    assert_eq!(
        average,
        (quote_volume / decimal(&ticker["volume"])).trunc_with_scale(8)
    );
    assert!(decimal(&ticker["lowPrice"]) <= average && average <= decimal(&ticker["highPrice"]));
    let last_qty = decimal(&ticker["lastQty"]);
    assert!(last_qty > Decimal::ZERO);
    assert_eq!(
        last_qty % Decimal::new(1, 5),
        Decimal::ZERO,
        "a multiple of the step"
    );

    // The book part is the book ticker, which is the top of depth.
    let (_, book) = sim.get("/api/v3/ticker/bookTicker", "symbol=BTCUSDT").await;
    for field in ["bidPrice", "bidQty", "askPrice", "askQty"] {
        assert_eq!(ticker[field], book[field], "{field}");
    }

    // An hour later, the window has moved on with the clock.
    sim.clock.advance_ms(HOUR_MS);
    let (_, later) = sim.get("/api/v3/ticker/24hr", "symbol=BTCUSDT").await;
    assert_eq!(later["openTime"], now + HOUR_MS - DAY_MS);
    assert!(later["firstId"].as_i64().unwrap() > first);
    assert!(later["lastId"].as_i64().unwrap() > last);
}

#[tokio::test]
async fn the_book_ticker_is_the_top_of_the_book_orders_fill_against() {
    let sim = TestSim::start().await;
    let (status, book) = sim.get("/api/v3/ticker/bookTicker", "symbol=BTCUSDT").await;
    assert_eq!(status, StatusCode::OK, "{book}");
    assert_same_shape(
        &book,
        &fixture("rest-ticker-bookTicker.single.response.json"),
        &[],
    );
    let (_, depth) = sim.get("/api/v3/depth", "symbol=BTCUSDT&limit=1").await;
    assert_eq!(book["bidPrice"], depth["bids"][0][0]);
    assert_eq!(book["bidQty"], depth["bids"][0][1]);
    assert_eq!(book["askPrice"], depth["asks"][0][0]);
    assert_eq!(book["askQty"], depth["asks"][0][1]);
    let (_, ticker) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    let last = decimal(&ticker["price"]);
    assert!(decimal(&book["bidPrice"]) < last && last < decimal(&book["askPrice"]));

    // A BUY no bigger than the best ask fills there in one trade.
    let (status, order) = sim
        .signed(
            Method::POST,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "0.01"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert!(Decimal::new(1, 2) <= decimal(&book["askQty"]));
    assert_eq!(order["fills"].as_array().unwrap().len(), 1);
    assert_eq!(order["fills"][0]["price"], book["askPrice"]);

    let (_, all) = sim.get("/api/v3/ticker/bookTicker", "").await;
    assert_same_shape(
        &all,
        &fixture("rest-ticker-bookTicker.list.response.json"),
        &[],
    );
    assert_eq!(symbols_of(&all), ["BNBUSDT", "BTCUSDT", "ETHUSDT"]);
    assert_eq!(all[1], book);
}

#[tokio::test]
async fn an_empty_book_shows_zeros_as_binance_shows_an_empty_side() {
    let mut empty_book = ListingSpec::ethusdt();
    empty_book.book.levels = 0;
    let sim = TestSim::start_with(sim::ExchangeConfig {
        listings: vec![ListingSpec::btcusdt(), empty_book],
        ..test_config()
    })
    .await;
    let (status, book) = sim.get("/api/v3/ticker/bookTicker", "symbol=ETHUSDT").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        book,
        json!({"symbol": "ETHUSDT", "bidPrice": "0.00000000", "bidQty": "0.00000000",
               "askPrice": "0.00000000", "askQty": "0.00000000"})
    );
    let (_, ticker) = sim.get("/api/v3/ticker/24hr", "symbol=ETHUSDT").await;
    assert_eq!(ticker["bidPrice"], "0.00000000");
    assert_ne!(ticker["lastPrice"], "0.00000000", "the market still trades");
}

#[tokio::test]
async fn symbol_lists_are_read_as_binance_reads_them() {
    let sim = TestSim::start().await;
    for path in [
        "/api/v3/ticker/price",
        "/api/v3/ticker/24hr",
        "/api/v3/ticker/bookTicker",
        "/api/v3/exchangeInfo",
    ] {
        let (status, _) = sim.get(path, &symbols(&["ETHUSDT", "BTCUSDT"])).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        // Unencoded, as `curl -g` sends it, is the same list.
        let (status, _) = sim.get(path, "symbols=[\"BTCUSDT\"]").await;
        assert_eq!(status, StatusCode::OK, "{path}");

        let refusals = [
            (
                format!("symbol=BTCUSDT&{}", symbols(&["ETHUSDT"])),
                -1128,
                "Combination of optional parameters invalid. Recommendation: 'symbol' and 'symbols' cannot both be sent.",
            ),
            (
                common::encode(&[("symbols", "[\"ETHUSDT\", \"BTCUSDT\"]")]),
                -1100,
                ILLEGAL_SYMBOLS,
            ),
            (symbols(&["ethusdt"]), -1100, ILLEGAL_SYMBOLS),
            (
                common::encode(&[("symbols", "BTCUSDT,ETHUSDT")]),
                -1100,
                ILLEGAL_SYMBOLS,
            ),
            (
                common::encode(&[("symbols", "[\"BTCUSDT\",]")]),
                -1100,
                ILLEGAL_SYMBOLS,
            ),
            (
                symbols(&["BTCUSDT", "ETHUSDT", "BTCUSDT"]),
                -1151,
                "Symbol is present multiple times in the list.",
            ),
            (symbols(&["BTCUSDT", "NOPEUSDT"]), -1121, "Invalid symbol."),
            (
                "symbols=%5B%5D".to_owned(),
                -1102,
                "Mandatory parameter 'symbols' was not sent, was empty/null, or malformed.",
            ),
        ];
        for (query, code, msg) in refusals {
            let (status, error) = sim.get(path, &query).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}");
            assert_eq!(code_and_msg(&error), (code, msg), "{path}?{query}");
        }
    }
}

#[tokio::test]
async fn a_huge_symbol_list_is_answered_at_its_first_bad_name() {
    let sim = TestSim::start().await;
    // 100,000 names (1.4 MB, in a form body: a URL that long is refused before it is read). No
    // more names are kept than are listed: the second one is the answer.
    let names = vec!["BTCUSDT"; 100_000];
    let started = std::time::Instant::now();
    let (status, error) = sim
        .send(
            Method::GET,
            "/api/v3/ticker/24hr",
            "",
            &symbols(&names),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_and_msg(&error).0, -1151);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (_, headers, _) = sim.get_with_headers("/api/v3/ping", "").await;
    assert_eq!(
        header_number(&headers, WEIGHT),
        81,
        "80 for 101 names or more, then 1"
    );
    let (status, error) = sim
        .send(
            Method::GET,
            "/api/v3/ticker/price",
            "",
            &symbols(&names[..2]),
            None,
        )
        .await;
    assert_eq!(
        (status, code_and_msg(&error).0),
        (StatusCode::BAD_REQUEST, -1151)
    );
}

#[tokio::test]
async fn symbol_status_filters_lists_and_refuses_a_single_mismatch() {
    let sim = TestSim::start().await;
    sim.exchange()
        .lock()
        .set_symbol_status("ETHUSDT", "HALT")
        .unwrap();

    for path in [
        "/api/v3/ticker/price",
        "/api/v3/ticker/24hr",
        "/api/v3/ticker/bookTicker",
    ] {
        let (_, trading) = sim.get(path, "symbolStatus=TRADING").await;
        assert_eq!(symbols_of(&trading), ["BNBUSDT", "BTCUSDT"], "{path}");
        let (_, halted) = sim
            .get(
                path,
                &format!(
                    "{}&symbolStatus=HALT",
                    symbols(&["BTCUSDT", "ETHUSDT", "BNBUSDT"])
                ),
            )
            .await;
        assert_eq!(symbols_of(&halted), ["ETHUSDT"], "{path}");
        let (_, none) = sim.get(path, "symbolStatus=BREAK").await;
        assert_eq!(none, json!([]), "{path}");

        let (status, one) = sim.get(path, "symbol=ETHUSDT&symbolStatus=HALT").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(one["symbol"], "ETHUSDT");
        let (status, error) = sim.get(path, "symbol=ETHUSDT&symbolStatus=TRADING").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            code_and_msg(&error),
            (
                -1220,
                "The symbol's status does not match the requested symbolStatus."
            ),
            "{path}"
        );
        for invalid in ["END_OF_DAY", "trading", "NOPE"] {
            let (_, error) = sim.get(path, &format!("symbolStatus={invalid}")).await;
            assert_eq!(
                code_and_msg(&error),
                (-1122, "Invalid symbolStatus."),
                "{path} {invalid}"
            );
        }
    }

    let (status, _) = sim
        .get("/api/v3/depth", "symbol=ETHUSDT&symbolStatus=HALT&limit=5")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, error) = sim
        .get("/api/v3/depth", "symbol=ETHUSDT&symbolStatus=TRADING")
        .await;
    assert_eq!(code_and_msg(&error).0, -1220);
    let (_, error) = sim
        .get("/api/v3/depth", "symbol=NOPEUSDT&symbolStatus=TRADING")
        .await;
    assert_eq!(code_and_msg(&error).0, -1121);
}

#[tokio::test]
async fn tickers_weigh_what_binance_documents() {
    let sim = TestSim::start().await;
    let twenty_one = vec!["BTCUSDT"; 21];
    let cases: [(&str, String, u64); 8] = [
        ("/api/v3/ticker/24hr", "symbol=BTCUSDT".into(), 2),
        ("/api/v3/ticker/24hr", String::new(), 80),
        ("/api/v3/ticker/24hr", symbols(&["BTCUSDT", "ETHUSDT"]), 2),
        // Weighed by the names sent, before they are found to repeat.
        ("/api/v3/ticker/24hr", symbols(&twenty_one), 40),
        ("/api/v3/ticker/bookTicker", "symbol=BTCUSDT".into(), 2),
        ("/api/v3/ticker/bookTicker", String::new(), 4),
        ("/api/v3/ticker/bookTicker", symbols(&["BTCUSDT"]), 4),
        ("/api/v3/ticker/price", symbols(&["BTCUSDT"]), 4),
    ];
    for (path, query, weight) in cases {
        assert_eq!(
            weight_of(&sim, path, &query).await,
            weight,
            "{path}?{query}"
        );
    }
}

#[tokio::test]
async fn faults_can_aim_at_the_new_endpoints_by_name() {
    let sim = TestSim::start().await;
    let (status, _) = sim
        .admin(
            Method::PUT,
            "/faults",
            Some(json!({"rules": [{
                "fault": "server_busy",
                "endpoints": ["GET /api/v3/ticker/24hr", "GET /api/v3/openOrders"]
            }]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = sim.get("/api/v3/ticker/24hr", "symbol=BTCUSDT").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code_and_msg(&error).0, -1008);
    let (_, error) = sim
        .signed(Method::GET, "/api/v3/openOrders", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(code_and_msg(&error).0, -1008);
    let (status, _) = sim.get("/api/v3/ticker/bookTicker", "symbol=BTCUSDT").await;
    assert_eq!(status, StatusCode::OK, "other endpoints are spared");
}
