//! [`SimClock`] against a real simulator over loopback whose clock is set by hand: the model is
//! the exchange's time exactly, and it learns of every step within moments, without polling (a
//! request stays open until the clock moves).

use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts::SimClock;
use binance::ServerClock;
use sim::{Exchange, ExchangeConfig, ManualClock};

const START_MS: i64 = 1_750_000_020_000;

/// Waits up to a few seconds for `clock` to read `want`.
async fn reads(clock: &SimClock, want: i64) -> Duration {
    let started = Instant::now();
    while clock.now_ms() != want {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still {} instead of {want}",
            clock.now_ms()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_manual_clock_is_followed_step_by_step() {
    let manual = Arc::new(ManualClock::new(START_MS));
    let exchange = Exchange::new(ExchangeConfig::default(), manual.clone()).unwrap();
    let running = sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let clock = SimClock::of(&format!("http://{}", running.local_addr()))
        .await
        .expect("a manual clock is modelled");
    assert!(clock.is_manual());
    assert_eq!(clock.now_ms(), START_MS);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(clock.now_ms(), START_MS, "it does not move on its own");
    for step in 1..=20 {
        manual.set_ms(START_MS + step * 60_000);
        // Far sooner than the one-second re-reading of an accelerated clock.
        let took = reads(&clock, START_MS + step * 60_000).await;
        assert!(
            took < Duration::from_millis(900),
            "step {step} took {took:?}"
        );
    }
}
