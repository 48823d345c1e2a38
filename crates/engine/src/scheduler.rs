//! The scheduler: every runnable bot's cycle starts when its candle's close arrives on the
//! market-data stream ([`crate::MarketData`]); when its series has no live stream, when the
//! interval closed by the exchange's clock plus a configurable delay (and, with a live stream
//! that is late, after a longer grace: the cycle then fetches the candle by REST). All bots run
//! concurrently with bounded parallelism.
//! At start every bot's unresolved orders are reconciled, and then every few seconds those of the
//! bots that do not run (a bot paused with an order in doubt still owes its trade row); on
//! shutdown no new cycle starts, the cycles in flight finish, and this worker's leases are
//! released.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use store::{BotId, Mode};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::candle_series::CandleSeries;
use crate::cycle::{CycleOutcome, CycleTimes, Engine};
use crate::runnable::RunnableBot;

/// How the scheduler paces cycles.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Most cycles running at once.
    pub parallelism: usize,
    /// How long after a candle closes (exchange time) its cycle starts when its candles are
    /// not streamed, so the exchange has published the closed candle.
    pub cycle_delay: Duration,
    /// How long after a candle closes (exchange time) its cycle starts anyway when the stream
    /// has not pushed the close yet.
    pub stream_grace: Duration,
    /// How often the scheduler looks at the clock (real time). Short, because an accelerated
    /// simulator's minute may last a second.
    pub tick: Duration,
    /// How often the scheduler checks whether the bots changed (one cheap query), re-reading
    /// the list of runnable bots when they did (real time).
    pub refresh_bots: Duration,
}

impl Default for SchedulerSettings {
    /// 64 cycles at once, as soon as the stream pushes the close (without a stream 1 s after
    /// the close, with a late one 5 s after), ticks of 20 ms, the bot list re-read every
    /// 500 ms.
    fn default() -> SchedulerSettings {
        SchedulerSettings {
            parallelism: 64,
            cycle_delay: Duration::from_secs(1),
            stream_grace: Duration::from_secs(5),
            tick: Duration::from_millis(20),
            refresh_bots: Duration::from_millis(500),
        }
    }
}

/// Counts of what the scheduler's cycles did, and the engine's own time per cycle, readable
/// while it runs.
#[derive(Debug)]
pub struct SchedulerStats {
    /// The engine's own time of each cycle that ran (everything but the exchange's answers).
    pub engine_time: TimeHistogram,
    /// The same, of the cycles that traded only (they write the order ahead and the trade).
    pub trade_engine_time: TimeHistogram,
    /// Cycles that ran (every outcome but busy).
    pub cycles: AtomicU64,
    /// Cycles that decided on a new candle (every outcome but busy and no new candle): the
    /// work the bots asked for.
    pub decisions: AtomicU64,
    /// Cycles that traded.
    pub trades: AtomicU64,
    /// Cycles whose signal produced no order (below the exchange's minimum, stale, ...).
    pub skips: AtomicU64,
    /// Cycles that failed.
    pub failures: AtomicU64,
    /// Cycles skipped because the bot was busy elsewhere.
    pub busy: AtomicU64,
    /// How long after its candle's close (exchange time) each bot decided (held, skipped, or
    /// planned its order).
    pub decision_lag: TimeHistogram,
    /// How long after its candle's close (exchange time) each trade was recorded: the decision,
    /// then the order written ahead, sent, filled and recorded.
    pub trade_lag: TimeHistogram,
}

impl Default for SchedulerStats {
    /// Nothing counted; decision lags in 10 ms buckets up to 10 s.
    fn default() -> SchedulerStats {
        SchedulerStats {
            engine_time: TimeHistogram::default(),
            trade_engine_time: TimeHistogram::default(),
            cycles: AtomicU64::default(),
            decisions: AtomicU64::default(),
            trades: AtomicU64::default(),
            skips: AtomicU64::default(),
            failures: AtomicU64::default(),
            busy: AtomicU64::default(),
            decision_lag: TimeHistogram::with_buckets(Duration::from_millis(10), 1_000),
            trade_lag: TimeHistogram::with_buckets(Duration::from_millis(10), 1_000),
        }
    }
}

impl SchedulerStats {
    /// Counts how late after its close (`ended_after_close_ms`, exchange time, when the cycle
    /// ended) a cycle decided and, if it traded, recorded its trade.
    fn count_lags(&self, outcome: &CycleOutcome, times: CycleTimes, ended_after_close_ms: i64) {
        let after_close = Duration::from_millis(u64::try_from(ended_after_close_ms).unwrap_or(0));
        if let Some(decided) = times.decided {
            let since_decided = times.total.saturating_sub(decided);
            self.decision_lag
                .record(after_close.saturating_sub(since_decided));
        }
        if matches!(outcome, CycleOutcome::Traded(_)) {
            self.trade_lag.record(after_close);
        }
    }

    fn count(&self, outcome: &CycleOutcome, times: CycleTimes) {
        if !matches!(outcome, CycleOutcome::Busy) {
            self.engine_time.record(times.engine());
        }
        if matches!(outcome, CycleOutcome::Traded(_)) {
            self.trade_engine_time.record(times.engine());
        }
        if is_decision(outcome) {
            self.decisions.fetch_add(1, Ordering::Relaxed);
        }
        let counter = match outcome {
            CycleOutcome::Busy => &self.busy,
            CycleOutcome::Traded(_) => {
                self.cycles.fetch_add(1, Ordering::Relaxed);
                &self.trades
            }
            CycleOutcome::Failed { .. } => {
                self.cycles.fetch_add(1, Ordering::Relaxed);
                &self.failures
            }
            CycleOutcome::Skipped { .. } => {
                self.cycles.fetch_add(1, Ordering::Relaxed);
                &self.skips
            }
            _ => &self.cycles,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether a cycle decided on a new candle (every outcome but busy and no new candle).
fn is_decision(outcome: &CycleOutcome) -> bool {
    !matches!(outcome, CycleOutcome::Busy | CycleOutcome::NoNewCandle)
}

/// When a bot's last candle counts as closed.
struct CloseDelays {
    /// After the close by the clock, for a bot whose candles are not streamed.
    unstreamed_ms: i64,
    /// After the close by the clock, for a bot whose stream has not pushed it.
    stream_grace_ms: i64,
}

impl CloseDelays {
    /// The close time (exchange ms) of the newest candle of `bot` to decide on at `now_ms`:
    /// the one its live stream pushed, or the one the clock says closed long enough ago.
    fn last_close(
        &self,
        bot: &RunnableBot,
        series: Option<&Arc<CandleSeries>>,
        now_ms: i64,
    ) -> i64 {
        let by_clock =
            |delay_ms: i64| (now_ms - delay_ms).div_euclid(bot.interval_ms) * bot.interval_ms;
        match series.filter(|series| series.is_live()) {
            Some(series) => {
                let pushed = series
                    .covered_through_ms()
                    .map_or(i64::MIN, |open_ms| open_ms + bot.interval_ms);
                pushed.max(by_clock(self.stream_grace_ms))
            }
            None => by_clock(self.unstreamed_ms),
        }
    }
}

/// The streamed candle series of each of `bots` (subscribing those not subscribed yet).
fn streamed_series(engine: &Engine, bots: &[RunnableBot]) -> HashMap<BotId, Arc<CandleSeries>> {
    bots.iter()
        .filter_map(|bot| {
            let series = engine
                .market()
                .series(bot.config.mode, &bot.symbol, bot.interval)?;
            Some((bot.id(), series))
        })
        .collect()
}

/// The bot list is read in full at least once every this many refreshes, whatever the bots'
/// fingerprint says.
const FULL_REREAD_EVERY: u32 = 10;

/// Runs `engine`'s bots until `shutdown` completes, then finishes the cycles in flight and
/// releases this worker's leases.
pub async fn run_scheduler(
    engine: Engine,
    settings: SchedulerSettings,
    stats: Arc<SchedulerStats>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), store::StoreError> {
    let store = engine.store().clone();
    let mut shutdown = std::pin::pin!(shutdown);
    // Bots whose cycle is queued or running, or whose orders are being reconciled: not
    // dispatched again until that ends (the cycle catches up on every candle it missed), so a
    // slow stretch never piles up cycles, and their leases are kept meanwhile.
    let in_flight: Arc<Mutex<HashSet<BotId>>> = Arc::default();
    reconcile_orders_in_doubt(&engine, &HashSet::new(), &in_flight).await?;
    // The pass for the bots that do not run, one at a time, every full re-read of the bots.
    let mut idle_reconciliation: Option<tokio::task::JoinHandle<()>> = None;

    let permits = Arc::new(Semaphore::new(settings.parallelism.max(1)));
    let mut cycles = JoinSet::new();
    let mut due_after: HashMap<BotId, i64> = HashMap::new();
    let mut bots: Vec<RunnableBot> = Vec::new();
    // Each bot's streamed candle series (subscribed as soon as the bot is read).
    let mut series: HashMap<BotId, Arc<CandleSeries>> = HashMap::new();
    let mut bots_checked_at: Option<Instant> = None;
    let mut bots_revision = None;
    let mut bots_read_at: Option<Instant> = None;
    let delays = CloseDelays {
        unstreamed_ms: i64::try_from(settings.cycle_delay.as_millis()).unwrap_or(i64::MAX),
        stream_grace_ms: i64::try_from(settings.stream_grace.as_millis()).unwrap_or(i64::MAX),
    };
    // Renewed well before they expire, so that a slow tick never lets one lapse.
    let renew_every = engine.settings().lease_ttl / 3;
    let mut leases_renewed_at = Instant::now();
    loop {
        if bots_checked_at.is_none_or(|at| at.elapsed() >= settings.refresh_bots) {
            bots_checked_at = Some(Instant::now());
            let revision = store.bots_revision().await.ok();
            // The fingerprint can miss a change (two writes in the same millisecond), so the
            // list is also read in full every FULL_REREAD_EVERY refreshes at most.
            let stale = bots_read_at
                .is_none_or(|at| at.elapsed() >= settings.refresh_bots * FULL_REREAD_EVERY);
            if stale || revision.is_none() || revision != bots_revision {
                match store.runnable_bots().await {
                    Ok(runnable) => {
                        bots_read_at = Some(Instant::now());
                        bots = parse_served(&engine, runnable).await;
                        series = streamed_series(&engine, &bots);
                        let ids: Vec<BotId> = bots.iter().map(RunnableBot::id).collect();
                        if stale
                            && idle_reconciliation
                                .as_ref()
                                .is_none_or(|task| task.is_finished())
                        {
                            let (engine, running) = (engine.clone(), ids.iter().copied().collect());
                            let in_flight = in_flight.clone();
                            idle_reconciliation = Some(tokio::spawn(async move {
                                if let Err(error) =
                                    reconcile_orders_in_doubt(&engine, &running, &in_flight).await
                                {
                                    warn!(%error, "cannot reconcile the orders of the bots that do not run");
                                }
                            }));
                        }
                        // A bot whose cycle is running keeps its lease until a later read: the
                        // cycle may be between its order and the order's record.
                        let mut holding = ids.clone();
                        holding.extend(lock(&in_flight).iter().copied());
                        if let Err(error) = engine.retain_bots(&holding).await {
                            warn!(%error, "cannot release the leases of bots no longer runnable");
                        }
                        let kept: HashSet<BotId> = ids.into_iter().collect();
                        due_after.retain(|id, _| kept.contains(id));
                        bots_revision = revision;
                    }
                    Err(error) => warn!(%error, "cannot read the bots; keeping the last list"),
                }
            }
        }
        if leases_renewed_at.elapsed() >= renew_every {
            if let Err(error) = engine.renew_leases().await {
                warn!(%error, "cannot renew the leases; cycles take them one by one");
            }
            leases_renewed_at = Instant::now();
        }
        let mut exchange_now: HashMap<Mode, i64> = HashMap::new();
        let mut due_bots = Vec::new();
        for bot in &bots {
            let mode = bot.config.mode;
            let now_ms = match exchange_now.get(&mode) {
                Some(&now_ms) => now_ms,
                None => match venue_now_ms(&engine, mode) {
                    Some(now_ms) => *exchange_now.entry(mode).or_insert(now_ms),
                    None => continue,
                },
            };
            let last_close = delays.last_close(bot, series.get(&bot.id()), now_ms);
            let due = due_after
                .get(&bot.id())
                .is_none_or(|&done_through| done_through < last_close);
            if !due || !lock(&in_flight).insert(bot.id()) {
                continue;
            }
            due_after.insert(bot.id(), last_close);
            due_bots.push((bot.clone(), last_close));
        }
        if !due_bots.is_empty() {
            let ids: Vec<BotId> = due_bots.iter().map(|(bot, _)| bot.id()).collect();
            if let Err(error) = engine.acquire_leases(&ids).await {
                warn!(%error, "cannot take the due bots' leases; cycles take them one by one");
            }
        }
        for (bot, close_ms) in due_bots {
            let engine = engine.clone();
            let permits = permits.clone();
            let stats = stats.clone();
            let in_flight = in_flight.clone();
            cycles.spawn(async move {
                if let Ok(_permit) = permits.acquire_owned().await {
                    let (outcome, times) = engine.run_cycle_timed(&bot).await;
                    stats.count(&outcome, times);
                    if let Some(now_ms) = venue_now_ms(&engine, bot.config.mode) {
                        stats.count_lags(&outcome, times, now_ms - close_ms);
                    }
                }
                lock(&in_flight).remove(&bot.id());
            });
        }
        while cycles.try_join_next().is_some() {}
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(settings.tick) => {}
        }
    }
    info!(
        in_flight = cycles.len(),
        "shutting down: finishing the cycles in flight"
    );
    if let Some(task) = idle_reconciliation {
        let _ = task.await;
    }
    while let Some(joined) = cycles.join_next().await {
        if let Err(error) = joined
            && error.is_panic()
        {
            warn!(%error, "a cycle panicked");
        }
    }
    engine.flush_events().await;
    let released = engine.release_leases().await?;
    info!(released, "leases released; scheduler stopped");
    Ok(())
}

/// A bot marked in flight until dropped.
struct InFlight<'a> {
    bots: &'a Mutex<HashSet<BotId>>,
    bot: BotId,
}

impl<'a> InFlight<'a> {
    /// Marks `bot`, unless it is marked already.
    fn mark(bots: &'a Mutex<HashSet<BotId>>, bot: BotId) -> Option<InFlight<'a>> {
        lock(bots).insert(bot).then_some(InFlight { bots, bot })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(self.bots).remove(&self.bot);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The bots of `runnable` on venues this process serves, parsed; a bot whose configuration does
/// not parse is reported (and paused) instead of kept.
async fn parse_served(engine: &Engine, runnable: Vec<store::BotConfig>) -> Vec<RunnableBot> {
    let mut bots = Vec::with_capacity(runnable.len());
    for config in runnable {
        if !engine.accounts().venues().serves(config.mode) {
            continue;
        }
        match RunnableBot::parse(&config) {
            Ok(bot) => bots.push(bot),
            Err(error) => {
                engine.report_unrunnable(&config, error).await;
            }
        }
    }
    bots
}

/// The exchange's time on `mode`'s venue as its shared client knows it, without asking the
/// exchange: a venue that is down must not stall the bots of the others (each cycle reads the
/// exact time, and fails on its own, when it runs).
fn venue_now_ms(engine: &Engine, mode: Mode) -> Option<i64> {
    let venue = engine.accounts().venue(mode).ok()?;
    Some(venue.client().estimated_server_now_ms())
}

/// Reconciles the unresolved orders of every bot but those in `skip` (bots whose own cycles
/// reconcile them): at start, before any bot trades, and then now and then for the bots that do
/// not run (paused, stopped, in error), whose orders in doubt must be settled all the same: their
/// fills belong in the trades and positions whether the bot trades again or not. A bot is
/// marked in `in_flight` while its orders are reconciled, so that its lease is kept meanwhile
/// (and skipped when a cycle of it is in flight already: that cycle reconciles them).
async fn reconcile_orders_in_doubt(
    engine: &Engine,
    skip: &HashSet<BotId>,
    in_flight: &Mutex<HashSet<BotId>>,
) -> Result<(), store::StoreError> {
    let store = engine.store();
    let unresolved = store.unresolved_orders(None).await?;
    let mut bot_ids: Vec<BotId> = unresolved
        .iter()
        .map(|order| order.bot_id)
        .filter(|id| !skip.contains(id))
        .collect();
    bot_ids.sort();
    bot_ids.dedup();
    for id in bot_ids {
        let Some(_marked) = InFlight::mark(in_flight, id) else {
            continue;
        };
        let Some(config) = store.bot(id).await? else {
            continue;
        };
        if !engine.accounts().venues().serves(config.mode) {
            continue;
        }
        let bot = match RunnableBot::parse(&config) {
            Ok(bot) => bot,
            Err(error) => {
                warn!(bot = %config.id, %error, "cannot reconcile the orders of a bot whose configuration does not parse");
                continue;
            }
        };
        match engine.reconcile_bot(&bot).await {
            Ok(Some(0)) => info!(bot = %id, "unresolved orders reconciled"),
            Ok(Some(left)) => {
                info!(bot = %id, left, "orders still unresolved; tried again later")
            }
            Ok(None) => info!(bot = %id, "another worker holds the bot; it reconciles it"),
            Err(error) => warn!(bot = %id, %error, "reconciliation failed; tried again later"),
        }
    }
    Ok(())
}

/// A lock-free histogram of durations in buckets of equal width (by default 25 µs up to
/// 20 ms), for percentiles of the engine's time per cycle without keeping every sample; longer
/// durations share the last bucket.
#[derive(Debug)]
pub struct TimeHistogram {
    bucket: Duration,
    buckets: Vec<AtomicU64>,
}

impl Default for TimeHistogram {
    /// 800 buckets of 25 µs.
    fn default() -> TimeHistogram {
        TimeHistogram::with_buckets(Duration::from_micros(25), 800)
    }
}

impl TimeHistogram {
    /// `count` buckets (at least one) of `width` (at least 1 ns) each.
    pub fn with_buckets(width: Duration, count: usize) -> TimeHistogram {
        TimeHistogram {
            bucket: width.max(Duration::from_nanos(1)),
            buckets: (0..count.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts `duration`.
    pub fn record(&self, duration: Duration) {
        let last = self.buckets.len() - 1;
        let index = (duration.as_nanos() / self.bucket.as_nanos()).min(last as u128) as usize;
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
    }

    /// How many durations were counted.
    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .sum()
    }

    /// The duration at or below which a share `quantile` (0 to 1) of the counts lie, as the
    /// upper edge of its bucket (a duration in the last bucket reads as its upper edge);
    /// `None` when empty.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(self.bucket * (index as u32 + 1));
            }
        }
        Some(self.bucket * self.buckets.len() as u32)
    }

    /// Forgets every count (the load benchmark drops its warm-up).
    pub fn reset(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_counts_when_it_was_taken_and_a_trade_when_it_was_recorded() {
        let stats = SchedulerStats::default();
        // A cycle of 100 ms that decided 30 ms in and ended 500 ms after its close.
        let times = CycleTimes {
            total: Duration::from_millis(100),
            exchange: Duration::ZERO,
            decided: Some(Duration::from_millis(30)),
        };
        let hold = CycleOutcome::Hold {
            candle_open_ms: 0,
            why: None,
        };
        stats.count_lags(&hold, times, 500);
        assert_eq!(
            stats.decision_lag.quantile(1.0),
            Some(Duration::from_millis(440))
        );
        assert_eq!(stats.trade_lag.count(), 0, "a hold records no trade");
        // A cycle that never decided (busy, no new candle) counts nothing.
        let idle = CycleTimes {
            decided: None,
            ..times
        };
        stats.count_lags(&CycleOutcome::NoNewCandle, idle, 500);
        assert_eq!(stats.decision_lag.count(), 1);
    }

    #[test]
    fn quantiles_are_bucket_upper_edges() {
        let histogram = TimeHistogram::default();
        assert_eq!(histogram.quantile(0.99), None);
        for micros in 1..=100 {
            histogram.record(Duration::from_micros(micros * 10));
        }
        assert_eq!(histogram.count(), 100);
        // The 50th value is 500 µs, in the bucket [500, 525).
        assert_eq!(histogram.quantile(0.5), Some(Duration::from_micros(525)));
        // The 99th is 990 µs, in [975, 1000).
        assert_eq!(histogram.quantile(0.99), Some(Duration::from_micros(1_000)));
        histogram.record(Duration::from_secs(3));
        assert_eq!(histogram.quantile(1.0), Some(Duration::from_millis(20)));
        histogram.reset();
        assert_eq!(histogram.count(), 0);
    }
}
