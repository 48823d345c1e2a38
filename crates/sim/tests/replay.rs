//! Prices replayed from candle files (spotbot's layout and Binance's kline CSV) over loopback
//! HTTP: klines of the file's interval reproduce the file's candles, the ticker follows the
//! replayed close, orders fill around it, and bad files are refused with their name.

mod common;

use std::path::{Path, PathBuf};

use common::{START_MS, TestSim, decimal, test_config};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;

use sim::{CandleReplay, ExchangeConfig};

const MINUTE: i64 = 60_000;
const CANDLES: i64 = 120;

/// The i-th test candle: rising by 1 a minute, 0.5 up inside it, wicks of 0.25.
fn candle(index: i64) -> (String, String, String, String, String) {
    let open = Decimal::from(100 + index);
    let close = open + Decimal::new(5, 1);
    let high = close + Decimal::new(25, 2);
    let low = open - Decimal::new(25, 2);
    let volume = Decimal::new(25, 1) + Decimal::from(index);
    (
        open.to_string(),
        high.to_string(),
        low.to_string(),
        close.to_string(),
        volume.to_string(),
    )
}

/// Writes the test candles (opening at an arbitrary past date) to a fresh file.
fn write_file(name: &str, binance_layout: bool) -> PathBuf {
    let first_open_ms = 1_600_000_020_000 - 1_600_000_020_000 % MINUTE;
    let mut text = String::new();
    if !binance_layout {
        text.push_str("open_time_ms,open,high,low,close,volume\n");
    }
    for index in 0..CANDLES {
        let (open, high, low, close, volume) = candle(index);
        let open_ms = first_open_ms + index * MINUTE;
        if binance_layout {
            text.push_str(&format!(
                "{open_ms},{open},{high},{low},{close},{volume},{},0,10,0,0,0\n",
                open_ms + MINUTE - 1
            ));
        } else {
            text.push_str(&format!("{open_ms},{open},{high},{low},{close},{volume}\n"));
        }
    }
    let path = std::env::temp_dir().join(format!("sim-replay-{}-{name}.csv", std::process::id()));
    std::fs::write(&path, text).expect("the temp dir is writable");
    path
}

async fn replaying(path: &Path) -> TestSim {
    let replay = CandleReplay::from_file(path).expect("the file replays");
    let config = ExchangeConfig {
        replays: [("BTCUSDT".to_owned(), replay)].into(),
        ..test_config()
    };
    TestSim::start_with(config).await
}

#[tokio::test]
async fn klines_and_ticker_follow_the_replayed_candles_in_both_layouts() {
    for (name, binance_layout) in [("native", false), ("binance", true)] {
        let path = write_file(name, binance_layout);
        let sim = replaying(&path).await;
        let _ = std::fs::remove_file(&path);
        // Two hours of candles: the first hour is history, the exchange starts in the second.
        let genesis_ms = (START_MS - CANDLES / 2 * MINUTE) / MINUTE * MINUTE;
        let (status, klines) = sim
            .get(
                "/api/v3/klines",
                "symbol=BTCUSDT&interval=1m&startTime=0&limit=1000",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{klines}");
        let klines = klines.as_array().unwrap();
        assert_eq!(klines[0][0], genesis_ms, "{name}: first candle at genesis");
        let closed = (START_MS - genesis_ms) / MINUTE;
        assert_eq!(
            klines.len() as i64,
            closed + 1,
            "{name}: history plus the open kline"
        );
        for (index, kline) in klines.iter().take(closed as usize).enumerate() {
            let (open, high, low, close, volume) = candle(index as i64);
            let field = |at: usize| decimal(&kline[at]);
            assert_eq!(field(1), open.parse().unwrap(), "{name} open #{index}");
            assert_eq!(field(2), high.parse().unwrap(), "{name} high #{index}");
            assert_eq!(field(3), low.parse().unwrap(), "{name} low #{index}");
            assert_eq!(field(4), close.parse().unwrap(), "{name} close #{index}");
            assert_eq!(field(5), volume.parse().unwrap(), "{name} volume #{index}");
        }
        let (_, ticker) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
        let open_kline = klines.last().unwrap();
        assert_eq!(
            ticker["price"], open_kline[4],
            "{name}: ticker = replayed close"
        );
        let (_, hourly) = sim
            .get("/api/v3/klines", "symbol=BTCUSDT&interval=1h&limit=1")
            .await;
        assert_eq!(hourly[0][4], ticker["price"]);

        let (status, order) = sim
            .signed(
                Method::POST,
                "/api/v3/order",
                &[
                    ("symbol", "BTCUSDT"),
                    ("side", "BUY"),
                    ("type", "MARKET"),
                    ("quantity", "0.1"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{order}");
        let fill_price = decimal(&order["fills"][0]["price"]);
        let last = decimal(&ticker["price"]);
        assert!(
            fill_price >= last && fill_price < last * Decimal::new(101, 2),
            "{name}: {fill_price} near {last}"
        );
    }
}

#[tokio::test]
async fn a_replay_started_at_the_start_has_no_history_and_steps_candle_by_candle() {
    let path = write_file("at-start", false);
    let replay = CandleReplay::from_file(&path)
        .expect("the file replays")
        .starting_at_the_start();
    let _ = std::fs::remove_file(&path);
    let config = ExchangeConfig {
        replays: [("BTCUSDT".to_owned(), replay)].into(),
        ..test_config()
    };
    let sim = TestSim::start_with(config).await;
    let genesis_ms = START_MS / MINUTE * MINUTE;
    let all_klines = "symbol=BTCUSDT&interval=1m&startTime=0&limit=1000";
    let (_, klines) = sim.get("/api/v3/klines", all_klines).await;
    let klines = klines.as_array().unwrap();
    assert_eq!(
        klines.len(),
        1,
        "only the first candle, still open: {klines:?}"
    );
    assert_eq!(klines[0][0], genesis_ms);
    // Each minute closes one more candle of the file; the price is then the next one's open.
    for closed in 1..=3 {
        sim.clock.set_ms(genesis_ms + closed * MINUTE);
        let (_, klines) = sim.get("/api/v3/klines", all_klines).await;
        let klines = klines.as_array().unwrap();
        assert_eq!(klines.len() as i64, closed + 1);
        let (_, _, _, close, _) = candle(closed - 1);
        assert_eq!(
            decimal(&klines[closed as usize - 1][4]),
            close.parse().unwrap()
        );
        let (open, _, _, _, _) = candle(closed);
        let (_, ticker) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
        assert_eq!(decimal(&ticker["price"]), open.parse().unwrap());
    }
}

#[tokio::test]
async fn after_the_last_candle_the_price_stays_at_its_close() {
    let path = write_file("end", false);
    let sim = replaying(&path).await;
    let _ = std::fs::remove_file(&path);
    sim.clock.advance_ms(3 * 3_600_000);
    let (_, ticker) = sim.get("/api/v3/ticker/price", "symbol=BTCUSDT").await;
    let (_, _, _, close, _) = candle(CANDLES - 1);
    assert_eq!(decimal(&ticker["price"]), close.parse().unwrap());
    let (_, klines) = sim
        .get("/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=1")
        .await;
    assert_eq!(
        decimal(&klines[0][5]),
        Decimal::ZERO,
        "nothing trades after the file"
    );
}

#[test]
fn bad_replay_files_are_refused_naming_the_file() {
    let path = std::env::temp_dir().join(format!("sim-replay-{}-bad.csv", std::process::id()));
    std::fs::write(
        &path,
        "open_time_ms,open,high,low,close,volume\n60000,1,2,0,1,5\n",
    )
    .unwrap();
    let error = CandleReplay::from_file(&path).unwrap_err().to_string();
    let _ = std::fs::remove_file(&path);
    assert!(error.contains(&path.display().to_string()), "{error}");
    let missing = std::env::temp_dir().join("sim-replay-no-such-file.csv");
    let error = CandleReplay::from_file(&missing).unwrap_err().to_string();
    assert!(error.contains("sim-replay-no-such-file.csv"), "{error}");
    let unlisted = write_file("unlisted", false);
    let replay = CandleReplay::from_file(&unlisted).unwrap();
    let _ = std::fs::remove_file(&unlisted);
    let config = ExchangeConfig {
        replays: [("XRPUSDT".to_owned(), replay)].into(),
        ..test_config()
    };
    let clock = std::sync::Arc::new(sim::ManualClock::new(START_MS));
    assert!(sim::Exchange::new(config, clock).is_err());
}
