//! The market-data hub against the real simulator over loopback: a candle series fed by the
//! kline stream stays complete across dropped connections (the simulator's socket-drop fault,
//! and an outage of a proxy in front of the simulator's streams during which three minutes
//! close), and what a bot is fed from it equals the simulator's REST klines bit for bit, each
//! candle once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use accounts::{Venue, Venues};
use engine::{CandleSeries, MarketData};
use market::{Candle, Interval, Side, Symbol};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sim::{Exchange, ExchangeConfig, ManualClock};
use store::Mode;

use common::{MINUTE_MS, START_MS, venue_client_for};

/// Generous: each wait is for the other side to do its part, never a race.
const WAIT: Duration = Duration::from_secs(20);

/// Waits until `done` holds, polling.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Drops the simulator's sockets carrying `stream`; how many.
async fn drop_sockets(base_url: &str, stream: &str) -> u64 {
    let answer = reqwest::Client::new()
        .post(format!("{base_url}/_sim/sockets/drop"))
        .header("content-type", "application/json")
        .body(json!({ "stream": stream }).to_string())
        .send()
        .await
        .expect("the admin API answers")
        .text()
        .await
        .expect("an answer");
    let answer: Value = serde_json::from_str(&answer).expect("a JSON answer");
    answer["dropped"]
        .as_u64()
        .expect("a count of dropped sockets")
}

/// A TCP proxy in front of the simulator's streams that can be cut: while cut, it closes the
/// connections it carries and refuses new ones.
struct StreamProxy {
    address: std::net::SocketAddr,
    cut: Arc<std::sync::atomic::AtomicBool>,
    cut_now: tokio::sync::watch::Sender<bool>,
}

impl StreamProxy {
    async fn start(target: std::net::SocketAddr) -> StreamProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (cut_now, cut_seen) = tokio::sync::watch::channel(false);
        let refusing = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refusing.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let mut cut_seen = cut_seen.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_seen.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        StreamProxy {
            address,
            cut,
            cut_now,
        }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
        self.cut_now.send_replace(cut);
    }
}

/// The candles' fields as bits, to compare bit for bit.
fn bits(candles: &[Candle]) -> Vec<[u64; 6]> {
    candles
        .iter()
        .map(|candle| {
            [
                candle.open_time_ms as u64,
                candle.open.to_bits(),
                candle.high.to_bits(),
                candle.low.to_bits(),
                candle.close.to_bits(),
                candle.volume.to_bits(),
            ]
        })
        .collect()
}

/// Moves the market on by `minutes` and waits until the stream (or the gap fill after a
/// reconnection) has brought the series through the last closed minute, with no REST call of
/// ours.
async fn advance(clock: &ManualClock, series: &CandleSeries, minutes: i64) {
    clock.advance_ms(minutes * MINUTE_MS);
    let last_closed = clock_now(clock) / MINUTE_MS * MINUTE_MS - MINUTE_MS;
    let reached = || series.covered_through_ms() == Some(last_closed);
    wait_until("the series to reach the last close", reached).await;
}

fn clock_now(clock: &ManualClock) -> i64 {
    use sim::Clock;
    clock.now_ms()
}

#[tokio::test]
async fn a_streamed_series_misses_and_doubles_no_candle_across_dropped_connections() {
    let clock = Arc::new(ManualClock::new(START_MS + 30_000));
    let config = ExchangeConfig {
        history_ms: 3 * 3_600_000,
        ..ExchangeConfig::default()
    };
    let exchange = Exchange::new(config, clock.clone()).expect("a valid exchange");
    let server = sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts");
    let base_url = format!("http://{}", server.local_addr());
    let proxy = StreamProxy::start(server.local_addr()).await;
    let client = {
        let mut config = venue_client_for(&server, &clock).config().clone();
        config.stream_url = format!("ws://{}", proxy.address);
        binance::Client::new(config).expect("a valid client configuration")
    };
    let market = MarketData::new(
        Venues::new().with(Venue::new(Mode::Paper, client.clone())),
        true,
    );
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let series = market
        .series(Mode::Paper, &symbol, Interval::M1)
        .expect("1m candles are streamed");
    wait_until("the kline subscription", || series.is_live()).await;

    // A bot's first cycle: its history, fetched once by REST.
    let first_open = START_MS - 60 * MINUTE_MS;
    let mut fed = series
        .closed_between(&client, first_open, clock_now(&clock))
        .await
        .expect("the history");
    assert_eq!(fed.len(), 60, "an hour of history before the start");
    let feed_new = |fed: &mut Vec<Candle>, now_ms: i64| {
        let series = series.clone();
        let client = client.clone();
        let from_ms = fed
            .last()
            .map_or(first_open, |candle| candle.open_time_ms + 1);
        async move {
            series
                .closed_between(&client, from_ms, now_ms)
                .await
                .expect("the new candles")
        }
    };

    let mut drops = 0;
    for minute in 0..30 {
        if minute % 10 == 5 {
            // The simulator drops the socket; the market moves on at once.
            drops += drop_sockets(&base_url, "btcusdt@kline_1m").await;
            advance(&clock, &series, 2).await;
        } else if minute % 10 == 8 {
            // No stream at all while three minutes close: only REST can bring them.
            proxy.set_cut(true);
            wait_until("the outage to be seen", || !series.is_live()).await;
            clock.advance_ms(3 * MINUTE_MS);
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!series.is_live(), "no stream through the outage");
            proxy.set_cut(false);
            advance(&clock, &series, 0).await;
            assert!(series.is_live(), "subscribed again");
        } else {
            advance(&clock, &series, 1).await;
        }
        let new = feed_new(&mut fed, clock_now(&clock)).await;
        assert!(!new.is_empty(), "minute {minute}: a new candle");
        fed.extend(new);
    }
    assert_eq!(drops, 3, "one socket dropped each time");

    let now_ms = clock_now(&clock);
    let truth = client
        .closed_klines(&symbol, Interval::M1, first_open, now_ms)
        .await
        .expect("the simulator's klines");
    assert_eq!(fed.len(), truth.len(), "every closed candle, each once");
    assert_eq!(bits(&fed), bits(&truth), "bit for bit");
    for pair in fed.windows(2) {
        assert_eq!(pair[1].open_time_ms - pair[0].open_time_ms, MINUTE_MS);
    }

    // The book ticker is live beside the klines: a BUY is sized on the ask, a SELL on the bid.
    wait_until("a book ticker", || {
        market.best_price(Mode::Paper, &symbol, Side::Buy).is_some()
    })
    .await;
    let ask = market.best_price(Mode::Paper, &symbol, Side::Buy).unwrap();
    let bid = market.best_price(Mode::Paper, &symbol, Side::Sell).unwrap();
    assert!(bid.get() > Decimal::ZERO && bid.get() < ask.get());
    drop(market);
    server.stop().await.expect("the simulator stops");
}
