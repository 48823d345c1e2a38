//! A deterministic, seeded random walk of one symbol's trade price, one step per second, with the
//! trade statistics (volume, trade count, taker-buy share) that klines report.
//!
//! Each second's step comes from a hash of (seed, symbol, second index) rather than from a
//! sequential generator, so any minute can be replayed from its opening price alone: the walk
//! keeps one summary per completed minute and recomputes seconds on demand (1s klines, the
//! current minute). The walk is `f64` internally; everything that leaves this module as money is
//! converted to a tick-rounded `Decimal` by its callers.

/// How one symbol's price moves.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkParams {
    /// The price at the walk's first second.
    pub start_price: f64,
    /// The standard deviation of one second's log return (`0.0001` is about 0.8% per hour).
    pub volatility_per_second: f64,
    /// The mean number of base-asset step units traded per second (klines' volume).
    pub mean_volume_units_per_second: u64,
}

/// Trade statistics over a span of seconds, in `f64` and step units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawBar {
    /// Price of the first second.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Price of the last second.
    pub close: f64,
    /// Base volume, in units of the symbol's quantity step.
    pub volume_units: u64,
    /// Part of the volume bought by takers, in step units.
    pub taker_buy_units: u64,
    /// Sum of price × volume units (multiply by the step for quote volume).
    pub quote_units: f64,
    /// Part of `quote_units` bought by takers.
    pub taker_buy_quote_units: f64,
    /// Number of trades.
    pub trades: u64,
}

impl RawBar {
    /// A span without trades at `price`.
    pub fn flat(price: f64) -> RawBar {
        RawBar {
            open: price,
            high: price,
            low: price,
            close: price,
            volume_units: 0,
            taker_buy_units: 0,
            quote_units: 0.0,
            taker_buy_quote_units: 0.0,
            trades: 0,
        }
    }

    /// This span followed by `later`.
    pub fn merge(self, later: RawBar) -> RawBar {
        RawBar {
            open: self.open,
            high: self.high.max(later.high),
            low: self.low.min(later.low),
            close: later.close,
            volume_units: self.volume_units + later.volume_units,
            taker_buy_units: self.taker_buy_units + later.taker_buy_units,
            quote_units: self.quote_units + later.quote_units,
            taker_buy_quote_units: self.taker_buy_quote_units + later.taker_buy_quote_units,
            trades: self.trades + later.trades,
        }
    }
}

/// A completed minute and the log price it closed at, from which the next minute is replayed.
#[derive(Debug, Clone, Copy)]
struct Minute {
    bar: RawBar,
    close_log_price: f64,
}

/// One second of the walk.
struct Second {
    log_price: f64,
    bar: RawBar,
}

/// The walk of one symbol, starting at `genesis_ms` (no trades before it).
#[derive(Debug, Clone)]
pub struct PriceWalk {
    params: WalkParams,
    noise_key: u64,
    genesis_ms: i64,
    start_log_price: f64,
    completed_minutes: Vec<Minute>,
}

impl PriceWalk {
    /// A walk for `symbol` under `seed` whose first second is `genesis_ms` rounded down to a minute.
    /// The same seed, symbol and parameters always give the same prices.
    pub fn new(params: WalkParams, seed: u64, symbol: &str, genesis_ms: i64) -> PriceWalk {
        PriceWalk {
            start_log_price: params.start_price.ln(),
            params,
            noise_key: seed ^ fnv1a(symbol.as_bytes()),
            genesis_ms: genesis_ms.div_euclid(60_000) * 60_000,
            completed_minutes: Vec::new(),
        }
    }

    /// When the first trade happened.
    pub fn genesis_ms(&self) -> i64 {
        self.genesis_ms
    }

    /// The last trade price at `now_ms` (the first price before genesis).
    pub fn price_at(&mut self, now_ms: i64) -> f64 {
        let Some(tick) = self.tick_at(now_ms) else {
            return self.params.start_price;
        };
        self.bar_of_ticks(tick, tick, now_ms)
            .map_or(self.params.start_price, |bar| bar.close)
    }

    /// The trades from `from_ms` (inclusive) to `until_ms` (exclusive), up to `now_ms`; `None` when
    /// no second of that span has happened yet or it lies before genesis.
    pub fn bar_between(&mut self, from_ms: i64, until_ms: i64, now_ms: i64) -> Option<RawBar> {
        let first = self.tick_at(from_ms.max(self.genesis_ms))?;
        let last = self.tick_at(until_ms - 1)?;
        self.bar_of_ticks(first, last, now_ms)
    }

    /// The second index of `time_ms` since genesis, `None` before genesis.
    fn tick_at(&self, time_ms: i64) -> Option<u64> {
        u64::try_from((time_ms - self.genesis_ms).div_euclid(1_000)).ok()
    }

    /// Aggregates seconds `first..=last`, cut at `now_ms`.
    fn bar_of_ticks(&mut self, first: u64, last: u64, now_ms: i64) -> Option<RawBar> {
        let now_tick = self.tick_at(now_ms)?;
        let last = last.min(now_tick);
        if first > last {
            return None;
        }
        self.complete_minutes_until(now_tick);
        let mut total: Option<RawBar> = None;
        for minute in first / 60..=last / 60 {
            let minute_first = minute * 60;
            let minute_last = minute_first + 59;
            let stored = self.completed_minutes.get(minute_index(minute));
            let bar = match stored {
                Some(stored) if first <= minute_first && minute_last <= last => stored.bar,
                _ => self.replay_minute(minute, first.max(minute_first), last.min(minute_last))?,
            };
            total = Some(match total {
                Some(earlier) => earlier.merge(bar),
                None => bar,
            });
        }
        total
    }

    /// Stores the summary of every minute whose last second is at or before `now_tick`.
    fn complete_minutes_until(&mut self, now_tick: u64) {
        let completed = minute_index((now_tick + 1) / 60);
        while self.completed_minutes.len() < completed {
            let minute = self.completed_minutes.len() as u64;
            let mut log_price = self.log_price_before(minute);
            let mut total: Option<RawBar> = None;
            for tick in minute * 60..minute * 60 + 60 {
                let second = self.second(tick, log_price);
                log_price = second.log_price;
                total = Some(total.map_or(second.bar, |earlier| earlier.merge(second.bar)));
            }
            if let Some(bar) = total {
                self.completed_minutes.push(Minute {
                    bar,
                    close_log_price: log_price,
                });
            }
        }
    }

    /// Replays seconds `from..=to` of `minute` (whose previous minute must be completed).
    fn replay_minute(&self, minute: u64, from: u64, to: u64) -> Option<RawBar> {
        let mut log_price = self.log_price_before(minute);
        let mut total: Option<RawBar> = None;
        for tick in minute * 60..=to {
            let second = self.second(tick, log_price);
            log_price = second.log_price;
            if tick >= from {
                total = Some(total.map_or(second.bar, |earlier| earlier.merge(second.bar)));
            }
        }
        total
    }

    /// The log price at the end of the minute before `minute`; the start price for minute 0.
    fn log_price_before(&self, minute: u64) -> f64 {
        match minute.checked_sub(1) {
            Some(previous) => self.completed_minutes[minute_index(previous)].close_log_price,
            None => self.start_log_price,
        }
    }

    /// Second `tick`, stepping from `previous_log_price` (the very first second does not step).
    fn second(&self, tick: u64, previous_log_price: f64) -> Second {
        let noise =
            |lane: u64| splitmix64(self.noise_key ^ tick.wrapping_mul(4).wrapping_add(lane));
        let log_price = if tick == 0 {
            previous_log_price
        } else {
            previous_log_price
                + self.params.volatility_per_second * standard_normal(noise(0), noise(1))
        };
        // exp(ln(p)) is not exactly p: the first second shows the configured price itself.
        let price = if tick == 0 {
            self.params.start_price
        } else {
            log_price.exp()
        };
        let activity = noise(2);
        let mean = self.params.mean_volume_units_per_second.max(1);
        let volume_units = 1 + activity % (2 * mean);
        let taker_buy_units = volume_units * (noise(3) % 101) / 100;
        Second {
            log_price,
            bar: RawBar {
                open: price,
                high: price,
                low: price,
                close: price,
                volume_units,
                taker_buy_units,
                quote_units: price * volume_units as f64,
                taker_buy_quote_units: price * taker_buy_units as f64,
                trades: 1 + (activity >> 32) % 5,
            },
        }
    }
}

fn minute_index(minute: u64) -> usize {
    usize::try_from(minute).unwrap_or(usize::MAX)
}

/// A standard normal sample from two independent uniform 64-bit words (Box-Muller).
fn standard_normal(first: u64, second: u64) -> f64 {
    // (0, 1]: ln(0) is never taken.
    let radius_uniform = ((first >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let angle_uniform = (second >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * radius_uniform.ln()).sqrt() * (std::f64::consts::TAU * angle_uniform).cos()
}

/// SplitMix64's finaliser: a well-mixed 64-bit word from any input.
pub(crate) fn splitmix64(input: u64) -> u64 {
    let mut z = input.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a: a stable hash of the symbol name (std's hashers are randomised per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENESIS_MS: i64 = 1_700_000_040_000;

    fn walk(seed: u64) -> PriceWalk {
        let params = WalkParams {
            start_price: 60_000.0,
            volatility_per_second: 0.0001,
            mean_volume_units_per_second: 100,
        };
        PriceWalk::new(params, seed, "BTCUSDT", GENESIS_MS)
    }

    #[test]
    fn the_same_seed_gives_the_same_prices_and_another_seed_does_not() {
        let at = GENESIS_MS + 3_600_000;
        assert_eq!(walk(7).price_at(at), walk(7).price_at(at));
        assert_ne!(walk(7).price_at(at), walk(8).price_at(at));
        assert_eq!(walk(7).price_at(GENESIS_MS), 60_000.0);
    }

    #[test]
    fn stored_minutes_agree_with_replayed_seconds() {
        let now = GENESIS_MS + 600_000;
        let mut stored = walk(1);
        let whole = stored.bar_between(GENESIS_MS + 120_000, GENESIS_MS + 180_000, now);
        let mut fresh = walk(1);
        fresh.complete_minutes_until(2 * 60 - 1);
        let replayed = fresh.replay_minute(2, 120, 179);
        assert_eq!(whole, replayed);
    }

    #[test]
    fn bars_stop_at_now_and_start_at_genesis() {
        let mut walk = walk(3);
        let now = GENESIS_MS + 90_500;
        let bar = walk
            .bar_between(GENESIS_MS - 60_000, GENESIS_MS + 120_000, now)
            .unwrap();
        assert_eq!(bar.open, 60_000.0);
        assert_eq!(bar.close, walk.price_at(now));
        assert!(bar.low <= bar.close && bar.close <= bar.high);
        assert_eq!(walk.bar_between(now + 1_000, now + 60_000, now), None);
        assert_eq!(walk.bar_between(0, GENESIS_MS, now), None);
    }
}
