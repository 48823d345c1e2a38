//! [`CandleSeries`]: the closed candles of one (symbol, interval) on one venue, kept in memory
//! for every bot on them, fed by the kline stream and completed by REST.
//!
//! The series knows which span of time it covers: every candle that closed between
//! `covered_from` and `covered_through` (open times) is in it. A bot asks for the closed
//! candles after the last one it saw ([`CandleSeries::closed_between`]); when the series covers
//! that span the answer comes from memory (one decoded candle, copied to every bot due at the
//! same close), otherwise one REST fetch completes the series, shared by every bot asking at
//! that moment (the fill is single-flight), and the answer comes from memory after all.
//!
//! Continuity, the promise the bots rely on: a candle is stored once per open time, so none is
//! fed twice, and `covered_through` advances only over candles that are present (a closed
//! kline event that is the next candle, or a REST answer), so a candle missed while the stream
//! was down is fetched by REST before anybody is told the series is complete. The one inference
//! from time: after a REST fill, an interval that closed more than [`SETTLED`] before the
//! exchange's time of the fill and has no candle has none (a market without trades, a replayed
//! file with holes), so a quiet market does not cost a REST call per bot.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use binance::{BinanceError, Client};
use market::{Candle, Interval, Symbol};

/// How long after its close an interval without a candle is taken to have none, ms.
const SETTLED_MS: i64 = 5_000;
/// More closed candles than this are not kept (the oldest go first); a bot rebuilding from
/// older history fetches it by REST.
pub(crate) const MAX_KEPT_CANDLES: usize = 25_000;

/// The open time of the last candle of `interval_ms` closed at `now_ms` (a candle is closed
/// once its close time, its open plus the interval minus 1 ms, is before now).
pub(crate) fn last_closed_open_ms(now_ms: i64, interval_ms: i64) -> i64 {
    now_ms.div_euclid(interval_ms) * interval_ms - interval_ms
}

/// One (symbol, interval)'s closed candles on a venue.
#[derive(Debug)]
pub struct CandleSeries {
    symbol: Symbol,
    interval: Interval,
    interval_ms: i64,
    state: Mutex<SeriesState>,
    /// Held while a REST fill runs: the bots asking meanwhile wait for it instead of fetching
    /// the same candles again.
    fill: tokio::sync::Mutex<()>,
    /// `covered_through`, readable without the lock (the scheduler polls it); `i64::MIN` while
    /// the series is empty.
    covered_through_ms: AtomicI64,
    /// Whether the kline stream is subscribed on a live connection (closes arrive as pushed).
    live: AtomicBool,
}

#[derive(Debug)]
struct SeriesState {
    /// Closed candles by open time, oldest first, each open time once. Candles after
    /// `covered_through` may wait here for the gap before them to be filled.
    candles: VecDeque<Candle>,
    /// Every candle closed with an open time from this one on is known.
    covered_from: i64,
    /// ... up to and including this open time; `i64::MIN` while nothing is covered.
    covered_through: i64,
}

impl CandleSeries {
    /// An empty series of `symbol`'s `interval` candles.
    pub(crate) fn new(symbol: Symbol, interval: Interval, interval_ms: i64) -> CandleSeries {
        CandleSeries {
            symbol,
            interval,
            interval_ms,
            state: Mutex::new(SeriesState {
                candles: VecDeque::new(),
                covered_from: i64::MAX,
                covered_through: i64::MIN,
            }),
            fill: tokio::sync::Mutex::new(()),
            covered_through_ms: AtomicI64::new(i64::MIN),
            live: AtomicBool::new(false),
        }
    }

    /// The symbol.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    /// The interval.
    pub fn interval(&self) -> Interval {
        self.interval
    }

    /// The open time of the newest candle known closed with none missing before it (back to the
    /// first stored); `None` while empty.
    pub fn covered_through_ms(&self) -> Option<i64> {
        let through = self.covered_through_ms.load(Ordering::Acquire);
        (through != i64::MIN).then_some(through)
    }

    /// Whether closes arrive by the stream now.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    pub(crate) fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
    }

    /// The closed candles opening from `from_ms` on, closed by `now_ms` (exchange time), oldest
    /// first: from memory when covered, otherwise after one shared REST fill through `client`.
    pub async fn closed_between(
        &self,
        client: &Client,
        from_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<Candle>, BinanceError> {
        let until_ms = last_closed_open_ms(now_ms, self.interval_ms);
        if let Some(candles) = self.read(from_ms, until_ms) {
            return Ok(candles);
        }
        let _filling = self.fill.lock().await;
        if let Some(candles) = self.read(from_ms, until_ms) {
            return Ok(candles);
        }
        self.fill_from(client, from_ms).await?;
        // Still short only when the exchange has not published the candle yet: what it has.
        Ok(self.read_available(from_ms, until_ms))
    }

    /// Fetches by REST whatever the series lacks through now (and before `from_ms`, when it
    /// starts later). Called after a reconnection so that the next closes find it complete.
    pub(crate) async fn fill_gap(&self, client: &Client) -> Result<(), BinanceError> {
        let _filling = self.fill.lock().await;
        let from_ms = {
            let state = lock(&self.state);
            if state.covered_through == i64::MIN {
                // Nothing asked for yet: the first bot's request decides where history starts.
                return Ok(());
            }
            state.covered_from
        };
        self.fill_from(client, from_ms).await
    }

    /// Fetches what is missing from `from_ms` to now and merges it. The caller holds `fill`.
    async fn fill_from(&self, client: &Client, from_ms: i64) -> Result<(), BinanceError> {
        let (covered_from, covered_through) = {
            let state = lock(&self.state);
            (state.covered_from, state.covered_through)
        };
        let fetch_from = if covered_through == i64::MIN || from_ms < covered_from {
            from_ms
        } else {
            covered_through + 1
        };
        let now_ms = client.server_now_ms().await?;
        let candles = client
            .closed_klines(&self.symbol, self.interval, fetch_from, now_ms)
            .await?;
        let settled_through = last_closed_open_ms(now_ms - SETTLED_MS, self.interval_ms);
        let mut state = lock(&self.state);
        state.merge_fetched(fetch_from, &candles, settled_through, self.interval_ms);
        self.covered_through_ms
            .store(state.covered_through, Ordering::Release);
        Ok(())
    }

    /// Takes a closed kline from the stream: stored once; advances the coverage when it is the
    /// next candle. Returns whether the coverage advanced (bots on it may be due).
    pub(crate) fn push_closed(&self, candle: Candle) -> bool {
        let mut state = lock(&self.state);
        if state.covered_through == i64::MIN {
            // Nothing to continue from: the first request fetches the history with it.
            return false;
        }
        state.insert(candle);
        let advanced = state.advance_over_stored(self.interval_ms);
        if advanced {
            self.covered_through_ms
                .store(state.covered_through, Ordering::Release);
        }
        advanced
    }

    /// The candles in `[from_ms, until_ms]` when the series covers that span.
    fn read(&self, from_ms: i64, until_ms: i64) -> Option<Vec<Candle>> {
        if from_ms > until_ms {
            return Some(Vec::new());
        }
        let state = lock(&self.state);
        (state.covered_from <= from_ms && state.covered_through >= until_ms)
            .then(|| state.between(from_ms, until_ms))
    }

    fn read_available(&self, from_ms: i64, until_ms: i64) -> Vec<Candle> {
        let state = lock(&self.state);
        state.between(from_ms, until_ms.min(state.covered_through))
    }
}

impl SeriesState {
    /// The stored candles opening in `[from_ms, until_ms]`.
    fn between(&self, from_ms: i64, until_ms: i64) -> Vec<Candle> {
        let start = self
            .candles
            .partition_point(|candle| candle.open_time_ms < from_ms);
        self.candles
            .range(start..)
            .take_while(|candle| candle.open_time_ms <= until_ms)
            .copied()
            .collect()
    }

    /// Stores `candle` unless a candle with its open time is stored.
    fn insert(&mut self, candle: Candle) {
        let at = self
            .candles
            .partition_point(|stored| stored.open_time_ms < candle.open_time_ms);
        if self
            .candles
            .get(at)
            .is_some_and(|stored| stored.open_time_ms == candle.open_time_ms)
        {
            return;
        }
        self.candles.insert(at, candle);
        while self.candles.len() > MAX_KEPT_CANDLES {
            if let Some(oldest) = self.candles.pop_front() {
                self.covered_from = self.covered_from.max(oldest.open_time_ms + 1);
            }
        }
    }

    /// Moves `covered_through` over the stored candles that follow it without a gap.
    fn advance_over_stored(&mut self, interval_ms: i64) -> bool {
        let before = self.covered_through;
        let start = self
            .candles
            .partition_point(|candle| candle.open_time_ms <= self.covered_through);
        for candle in self.candles.range(start..) {
            if candle.open_time_ms != self.covered_through + interval_ms {
                break;
            }
            self.covered_through = candle.open_time_ms;
        }
        self.covered_through != before
    }

    /// Merges a REST answer: every closed candle from `fetched_from` to the exchange's time of
    /// the fetch; intervals settled by `settled_through` without a candle have none.
    fn merge_fetched(
        &mut self,
        fetched_from: i64,
        candles: &[Candle],
        settled_through: i64,
        interval_ms: i64,
    ) {
        let newest = candles
            .last()
            .map_or(i64::MIN, |candle| candle.open_time_ms);
        let reached = newest.max(settled_through);
        let empty = self.covered_through == i64::MIN;
        if empty || fetched_from <= self.covered_through + 1 {
            self.covered_through = self.covered_through.max(reached);
        }
        if empty || fetched_from < self.covered_from {
            self.covered_from = fetched_from.min(self.covered_from);
        }
        // Stored after the span is widened: a fetch longer than what is kept drops its oldest
        // candles, and the span then starts after them again.
        for candle in candles {
            self.insert(*candle);
        }
        self.advance_over_stored(interval_ms);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn candle(open_time_ms: i64) -> Candle {
        Candle {
            open_time_ms,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        }
    }

    fn empty() -> SeriesState {
        SeriesState {
            candles: VecDeque::new(),
            covered_from: i64::MAX,
            covered_through: i64::MIN,
        }
    }

    #[test]
    fn a_stream_candle_after_a_gap_waits_until_rest_fills_the_gap() {
        let mut state = empty();
        let fetched: Vec<Candle> = (0..3).map(|index| candle(index * MINUTE)).collect();
        state.merge_fetched(0, &fetched, i64::MIN, MINUTE);
        assert_eq!((state.covered_from, state.covered_through), (0, 2 * MINUTE));
        // Minute 3 was missed; minute 4 arrives: stored, but the span stops at minute 2.
        state.insert(candle(4 * MINUTE));
        assert!(!state.advance_over_stored(MINUTE));
        assert_eq!(state.covered_through, 2 * MINUTE);
        // The fill brings minute 3 (and 4 again): the span runs through 4, each candle once.
        state.merge_fetched(
            3 * MINUTE,
            &[candle(3 * MINUTE), candle(4 * MINUTE)],
            i64::MIN,
            MINUTE,
        );
        assert_eq!(state.covered_through, 4 * MINUTE);
        let opens: Vec<i64> = state
            .between(0, 10 * MINUTE)
            .iter()
            .map(|c| c.open_time_ms)
            .collect();
        assert_eq!(opens, [0, MINUTE, 2 * MINUTE, 3 * MINUTE, 4 * MINUTE]);
    }

    #[test]
    fn a_fetch_longer_than_what_is_kept_covers_only_what_is_kept() {
        let mut state = empty();
        let count = MAX_KEPT_CANDLES as i64 + 10;
        let fetched: Vec<Candle> = (0..count).map(|index| candle(index * MINUTE)).collect();
        state.merge_fetched(0, &fetched, i64::MIN, MINUTE);
        assert_eq!(state.candles.len(), MAX_KEPT_CANDLES);
        // The ten oldest were dropped: a bot asking for them must go to REST, not get a hole.
        assert_eq!(state.covered_from, 9 * MINUTE + 1);
        assert_eq!(state.covered_through, (count - 1) * MINUTE);
    }
}
