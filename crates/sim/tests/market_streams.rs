//! The streams beyond klines over real loopback WebSockets, each against its doc fixture and
//! against what REST and the other streams say about the same market: trades, aggregate trades
//! and 1s klines number and size the same trades; the book ticker is the depth's best levels and
//! REST's book ticker; the mini tickers are the last 24 hours of REST klines and REST's 24-hour
//! ticker.

mod common;
mod ws;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{TestSim, assert_same_shape, decimal, fixture};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::Value;

use ws::{advance, connect, drain, next_json, read_until, rest_klines};

const QUIET: Duration = Duration::from_millis(400);

#[tokio::test]
async fn trades_aggregate_trades_and_1s_klines_tell_the_same_story() {
    let sim = TestSim::start().await;
    let mut socket = connect(
        &sim,
        "/stream?streams=btcusdt@trade/btcusdt@aggTrade/btcusdt@kline_1s",
    )
    .await;
    // A look at the market ends with the 1s kline of the current second (the streams are looked
    // at in the order of the URL), so everything that look pushed has arrived by then.
    async fn one_look(sim: &TestSim, socket: &mut ws::Socket) -> Vec<Value> {
        let now_second_ms = sim.clock_now() / 1_000 * 1_000;
        read_until(socket, |messages| {
            messages.last().is_some_and(|message| {
                message["stream"] == "btcusdt@kline_1s"
                    && message["data"]["k"]["t"] == now_second_ms
            })
        })
        .await
    }
    let mut messages = one_look(&sim, &mut socket).await;
    // One second, then a jump of three at once: every second's trades come, in order.
    for step_ms in [1_000, 3_000, 1_000] {
        advance(&sim, step_ms).await;
        messages.extend(one_look(&sim, &mut socket).await);
    }
    let of = |stream: &str| -> Vec<Value> {
        messages
            .iter()
            .filter(|message| message["stream"] == stream)
            .map(|message| message["data"].clone())
            .collect()
    };
    let (trades, aggregates) = (of("btcusdt@trade"), of("btcusdt@aggTrade"));
    let closed_seconds: Vec<Value> = of("btcusdt@kline_1s")
        .into_iter()
        .filter(|event| event["k"]["x"] == true)
        .collect();
    for trade in &trades {
        assert_same_shape(trade, &fixture("ws-stream-trade.payload.json"), &[]);
    }
    for aggregate in &aggregates {
        assert_same_shape(aggregate, &fixture("ws-stream-aggTrade.payload.json"), &[]);
    }
    // The subscription started with the second after it: 5 seconds traded since.
    assert_eq!(aggregates.len(), 5, "{aggregates:?}");
    let ids: Vec<i64> = trades
        .iter()
        .map(|trade| trade["t"].as_i64().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "trade ids rise: {ids:?}"
    );
    for pair in aggregates.windows(2) {
        assert_eq!(
            pair[1]["a"].as_i64(),
            pair[0]["a"].as_i64().map(|a| a + 1),
            "consecutive"
        );
        assert_eq!(
            pair[1]["f"].as_i64(),
            pair[0]["l"].as_i64().map(|l| l + 1),
            "no trade missing"
        );
    }

    let mut trades_by_second: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for trade in &trades {
        trades_by_second
            .entry(trade["T"].as_i64().unwrap())
            .or_default()
            .push(trade);
    }
    let mut compared = 0;
    for aggregate in &aggregates {
        let second_ms = aggregate["T"].as_i64().unwrap();
        let traded = &trades_by_second[&second_ms];
        let (first, last) = (
            aggregate["f"].as_i64().unwrap(),
            aggregate["l"].as_i64().unwrap(),
        );
        assert!(
            traded
                .iter()
                .all(|trade| (first..=last).contains(&trade["t"].as_i64().unwrap()))
        );
        let volume: Decimal = traded.iter().map(|trade| decimal(&trade["q"])).sum();
        assert_eq!(
            volume,
            decimal(&aggregate["q"]),
            "the trades add up to the aggregate"
        );
        assert!(
            traded
                .iter()
                .all(|trade| trade["p"] == aggregate["p"] && trade["m"] == aggregate["m"])
        );

        let rest = &rest_klines(&sim, "1s", second_ms, 1).await[0];
        assert_eq!(rest[0], second_ms);
        assert_eq!(aggregate["q"], rest[5], "the second's volume");
        assert_eq!(aggregate["p"], rest[4], "the second's price");
        assert_eq!(
            last - first + 1,
            rest[8].as_i64().unwrap(),
            "the second's trade count"
        );
        if let Some(kline) = closed_seconds
            .iter()
            .find(|event| event["k"]["t"] == second_ms)
        {
            assert_eq!(
                (kline["k"]["f"].as_i64(), kline["k"]["L"].as_i64()),
                (Some(first), Some(last))
            );
            compared += 1;
        }
    }
    assert!(compared >= 3, "closed 1s klines compared: {compared}");
}

#[tokio::test]
async fn the_book_ticker_is_the_depths_best_levels() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws/btcusdt@bookTicker").await;
    let first = next_json(&mut socket).await;
    assert_same_shape(&first, &fixture("ws-stream-bookTicker.payload.json"), &[]);
    let (status, depth) = sim.get("/api/v3/depth", "symbol=BTCUSDT&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{depth}");
    assert_eq!(first["s"], "BTCUSDT");
    assert_eq!(
        (&first["b"], &first["B"]),
        (&depth["bids"][0][0], &depth["bids"][0][1])
    );
    assert_eq!(
        (&first["a"], &first["A"]),
        (&depth["asks"][0][0], &depth["asks"][0][1])
    );
    assert!(first["u"].as_i64().unwrap() <= depth["lastUpdateId"].as_i64().unwrap());
    let (status, rest) = sim.get("/api/v3/ticker/bookTicker", "symbol=BTCUSDT").await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(
        [&first["b"], &first["B"], &first["a"], &first["A"]],
        [
            &rest["bidPrice"],
            &rest["bidQty"],
            &rest["askPrice"],
            &rest["askQty"]
        ],
        "REST's book ticker"
    );
    assert!(decimal(&first["b"]) < decimal(&first["a"]));

    // The book does not change within a second: nothing new.
    advance(&sim, 200).await;
    assert!(drain(&mut socket, QUIET).await.is_empty());
    advance(&sim, 1_000).await;
    let next = next_json(&mut socket).await;
    assert_eq!(
        next["u"],
        sim.clock_now() / 1_000 * 1_000,
        "the second the book took its shape"
    );
    let (_, depth) = sim.get("/api/v3/depth", "symbol=BTCUSDT&limit=5").await;
    assert_eq!(
        (&next["b"], &next["a"]),
        (&depth["bids"][0][0], &depth["asks"][0][0])
    );
}

#[tokio::test]
async fn mini_tickers_are_the_last_24_hours_of_klines() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws/btcusdt@miniTicker").await;
    let ticker = next_json(&mut socket).await;
    assert_same_shape(&ticker, &fixture("ws-stream-miniTicker.payload.json"), &[]);
    let now_ms = sim.clock_now();
    assert_eq!(ticker["E"], now_ms);
    let (_, price) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    assert_eq!(ticker["c"], price["price"]);

    // The window [now - 24 h, now]: the seconds up to the first whole minute, then minutes.
    let window_start_ms = now_ms - 86_400_000;
    let first_minute_ms = (window_start_ms / 60_000 + 1) * 60_000;
    let seconds = ((first_minute_ms - window_start_ms) / 1_000) as usize;
    let mut klines = rest_klines(&sim, "1s", window_start_ms, seconds).await;
    let mut start_ms = first_minute_ms;
    loop {
        let minutes = rest_klines(&sim, "1m", start_ms, 1_000).await;
        let Some(last) = minutes.last() else { break };
        start_ms = last[0].as_i64().unwrap() + 60_000;
        klines.extend(minutes);
    }
    assert_eq!(klines[0][0], window_start_ms);
    let sum =
        |column: usize| -> Decimal { klines.iter().map(|kline| decimal(&kline[column])).sum() };
    assert_eq!(decimal(&ticker["v"]), sum(5), "base volume");
    // Each kline rounds its quote volume to 8 decimals, the ticker rounds the day's once.
    let quote_difference = (decimal(&ticker["q"]) - sum(7)).abs();
    assert!(
        quote_difference < Decimal::new(1, 4),
        "quote volume off by {quote_difference}"
    );
    assert_eq!(ticker["o"], klines[0][1]);
    let high = klines.iter().map(|kline| decimal(&kline[2])).max().unwrap();
    let low = klines.iter().map(|kline| decimal(&kline[3])).min().unwrap();
    assert_eq!((decimal(&ticker["h"]), decimal(&ticker["l"])), (high, low));
    // And exactly what REST's 24-hour ticker says at the same time.
    let (status, rest) = sim
        .get("/api/v3/ticker/24hr", "symbol=BTCUSDT&type=MINI")
        .await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    for (stream, rest_field) in [
        ("o", "openPrice"),
        ("h", "highPrice"),
        ("l", "lowPrice"),
        ("c", "lastPrice"),
        ("v", "volume"),
        ("q", "quoteVolume"),
    ] {
        assert_eq!(ticker[stream], rest[rest_field], "{stream} vs {rest_field}");
    }

    // Once per server second.
    assert!(drain(&mut socket, QUIET).await.is_empty());
    advance(&sim, 1_000).await;
    assert_eq!(next_json(&mut socket).await["E"], now_ms + 1_000);
}

#[tokio::test]
async fn all_mini_tickers_come_as_one_array_of_the_tickers_that_changed() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws/!miniTicker@arr").await;
    let tickers = next_json(&mut socket).await;
    let tickers = tickers.as_array().expect("an array");
    let mut symbols: Vec<&str> = tickers
        .iter()
        .map(|ticker| ticker["s"].as_str().unwrap())
        .collect();
    symbols.sort();
    assert_eq!(symbols, ["BNBUSDT", "BTCUSDT", "ETHUSDT"]);
    for ticker in tickers {
        assert_same_shape(ticker, &fixture("ws-stream-miniTicker.payload.json"), &[]);
    }
    let mut single = connect(&sim, "/ws/ethusdt@miniTicker").await;
    let eth = next_json(&mut single).await;
    let from_array = tickers
        .iter()
        .find(|ticker| ticker["s"] == "ETHUSDT")
        .unwrap();
    assert_eq!(
        from_array, &eth,
        "the same values as the symbol's own stream"
    );

    // Nothing changes while the clock stands still; a second later every market has traded.
    assert!(drain(&mut socket, QUIET).await.is_empty());
    advance(&sim, 1_000).await;
    let changed = next_json(&mut socket).await;
    assert_eq!(changed.as_array().unwrap().len(), 3, "{changed}");
}
