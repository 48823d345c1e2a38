//! [`SimClock`]: the time of a `spotbot sim` whose market runs faster than real time, or on a
//! clock set by hand (`--manual-clock`), as seen from another process (a fleet's workers share
//! one such paper exchange).
//!
//! A Binance client estimates the exchange's time as its own clock plus an offset sampled now and
//! then; against a market running 60 times faster the offset grows by 59 s every second, so every
//! signed request would arrive outside its `recvWindow`. The simulator says how fast its clock
//! runs (`GET /_sim/clock`: `now_ms` and `speed`), so the time is modelled instead: the market time
//! at an anchor plus the real time elapsed since, times the speed. The anchor is read again every
//! second (a restarted simulator's clock may have moved).
//!
//! The model errs behind, never ahead: a reading is anchored at the instant its answer arrived,
//! so the model trails the exchange by up to a round trip (times the speed). Binance refuses a
//! timestamp a second ahead of its clock (at 60x, 17 ms of real time) but takes one up to
//! `recvWindow` behind (60 s of market time, a second of real time at 60x).
//!
//! A manual clock does not move between two settings, so the model is the last reading itself,
//! and it must learn of each setting at once (a test stepping a replay candle by candle waits for
//! the bots' decisions on each candle): a background task keeps a request open that the
//! simulator answers as soon as the clock leaves the time the model holds
//! (`GET /_sim/clock?changed_from=N`).

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::warn;

/// How often the anchor is read again.
const REANCHOR_EVERY: Duration = Duration::from_secs(1);
/// How long one clock request may take.
const CLOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waiting for a manual clock to move may take: the simulator answers within
/// 25 s even when it did not move.
const CLOCK_WAIT_TIMEOUT: Duration = Duration::from_secs(35);
/// How long to wait before asking again after a failed wait (the simulator restarting).
const RETRY_AFTER_FAILED_WAIT: Duration = Duration::from_millis(200);

/// The market time at an instant of this process.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    market_ms: i64,
    at: Instant,
}

/// A sped-up or manual simulator's clock, modelled (see the module's documentation).
#[derive(Debug)]
pub struct SimClock {
    url: String,
    /// 0 for a manual clock.
    speed: u32,
    http: reqwest::Client,
    anchor: Mutex<Anchor>,
}

impl SimClock {
    /// The clock of the `spotbot sim` at `exchange_url`, when it runs faster than real time or
    /// is set by hand; `None` when it runs in real time (a Binance client's offset sampling is
    /// exact then) or does not say (it is not a `spotbot sim`). Keeps itself anchored from a
    /// background task while the clock is in use (call inside a Tokio runtime).
    pub async fn of(exchange_url: &str) -> Option<Arc<SimClock>> {
        let http = reqwest::Client::builder()
            .timeout(CLOCK_TIMEOUT)
            .build()
            .ok()?;
        let url = format!("{}/_sim/clock", exchange_url.trim_end_matches('/'));
        let (speed, anchor) = read(&http, &url).await?;
        let speed = u32::try_from(speed).ok().filter(|speed| *speed != 1)?;
        let clock = Arc::new(SimClock {
            url,
            speed,
            http,
            anchor: Mutex::new(anchor),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            if clock.is_manual() {
                runtime.spawn(follow_steps(Arc::downgrade(&clock)));
            } else {
                runtime.spawn(keep_anchored(Arc::downgrade(&clock)));
            }
        }
        Some(clock)
    }

    /// How many times faster than real time the market runs (0 for a manual clock).
    pub fn speed(&self) -> u32 {
        self.speed
    }

    /// Whether the clock moves only when set.
    pub fn is_manual(&self) -> bool {
        self.speed == 0
    }

    /// The market time the model holds now, without the time elapsed since.
    fn anchored_ms(&self) -> i64 {
        self.anchor
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .market_ms
    }

    /// Anchors the model at `anchor`.
    fn set_anchor(&self, anchor: Anchor) {
        *self
            .anchor
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = anchor;
    }

    /// Reads the simulator's clock again and anchors the model there.
    async fn reanchor(&self) {
        match read(&self.http, &self.url).await {
            Some((_, fresh)) => self.set_anchor(fresh),
            None => {
                warn!(url = %self.url, "cannot read the paper exchange's clock; the model runs on");
            }
        }
    }
}

impl binance::ServerClock for SimClock {
    fn now_ms(&self) -> i64 {
        let anchor = *self
            .anchor
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let elapsed_ms = i64::try_from(anchor.at.elapsed().as_millis()).unwrap_or(i64::MAX);
        anchor
            .market_ms
            .saturating_add(elapsed_ms.saturating_mul(i64::from(self.speed)))
    }
}

/// The simulator's speed, and the anchor its answer gives: its `now_ms` at the instant the
/// answer arrived (a little after it was read: the model errs behind).
async fn read(http: &reqwest::Client, url: &str) -> Option<(u64, Anchor)> {
    read_request(http.get(url)).await
}

/// [`read`] of a prepared request.
async fn read_request(request: reqwest::RequestBuilder) -> Option<(u64, Anchor)> {
    let answer = request.send().await.ok()?;
    if !answer.status().is_success() {
        return None;
    }
    let reading: Value = serde_json::from_str(&answer.text().await.ok()?).ok()?;
    let anchor = Anchor {
        market_ms: reading.get("now_ms").and_then(Value::as_i64)?,
        at: Instant::now(),
    };
    Some((reading.get("speed").and_then(Value::as_u64)?, anchor))
}

/// Reads the clock again every [`REANCHOR_EVERY`] until the clock is dropped.
async fn keep_anchored(clock: Weak<SimClock>) {
    loop {
        tokio::time::sleep(REANCHOR_EVERY).await;
        let Some(clock) = clock.upgrade() else {
            return;
        };
        clock.reanchor().await;
    }
}

/// Follows a manual clock until the clock is dropped: a request waiting for the clock to leave the
/// time the model holds, answered as soon as it is set, then the next.
async fn follow_steps(clock: Weak<SimClock>) {
    // Told once per outage, not at every retry.
    let mut failing = false;
    loop {
        let request = {
            let Some(clock) = clock.upgrade() else {
                return;
            };
            clock
                .http
                .get(&clock.url)
                .query(&[("changed_from", clock.anchored_ms())])
                .timeout(CLOCK_WAIT_TIMEOUT)
        };
        let reading = read_request(request).await;
        let Some(clock) = clock.upgrade() else {
            return;
        };
        match reading {
            Some((_, fresh)) => {
                clock.set_anchor(fresh);
                failing = false;
            }
            None => {
                if !failing {
                    warn!(url = %clock.url, "cannot read the paper exchange's manual clock; asking again until it answers");
                }
                failing = true;
                drop(clock);
                tokio::time::sleep(RETRY_AFTER_FAILED_WAIT).await;
            }
        }
    }
}
