//! The scheduler: every runnable bot's cycle starts when its candle interval closes (plus a
//! configurable delay, in the exchange's time), all bots concurrently with bounded parallelism.
//! At start every bot's unresolved orders are reconciled; on shutdown no new cycle starts, the
//! cycles in flight finish, and this worker's leases are released.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use market::Interval;
use store::{BotConfig, BotId, Mode};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::cycle::{CycleOutcome, Engine};

/// How the scheduler paces cycles.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Most cycles running at once.
    pub parallelism: usize,
    /// How long after a candle closes (exchange time) its cycle starts, so the exchange has
    /// published the closed candle.
    pub cycle_delay: Duration,
    /// How often the scheduler looks at the clock (real time). Short, because an accelerated
    /// simulator's minute may last a second.
    pub tick: Duration,
    /// How often the list of runnable bots is re-read from the database (real time).
    pub refresh_bots: Duration,
}

impl Default for SchedulerSettings {
    /// 64 cycles at once, 1 s after the close, ticks of 20 ms, the bot list re-read every 500 ms.
    fn default() -> SchedulerSettings {
        SchedulerSettings {
            parallelism: 64,
            cycle_delay: Duration::from_secs(1),
            tick: Duration::from_millis(20),
            refresh_bots: Duration::from_millis(500),
        }
    }
}

/// Counts of what the scheduler's cycles did, readable while it runs.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    /// Cycles that ran (every outcome but busy).
    pub cycles: AtomicU64,
    /// Cycles that traded.
    pub trades: AtomicU64,
    /// Cycles that failed.
    pub failures: AtomicU64,
    /// Cycles skipped because the bot was busy elsewhere.
    pub busy: AtomicU64,
}

impl SchedulerStats {
    fn count(&self, outcome: &CycleOutcome) {
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
            _ => &self.cycles,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

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
    reconcile_at_start(&engine).await?;

    let permits = Arc::new(Semaphore::new(settings.parallelism.max(1)));
    let mut cycles = JoinSet::new();
    let mut due_after: HashMap<BotId, i64> = HashMap::new();
    let mut bots: Vec<BotConfig> = Vec::new();
    let mut bots_read_at: Option<Instant> = None;
    let delay_ms = i64::try_from(settings.cycle_delay.as_millis()).unwrap_or(i64::MAX);
    loop {
        if bots_read_at.is_none_or(|at| at.elapsed() >= settings.refresh_bots) {
            match store.runnable_bots().await {
                Ok(runnable) => {
                    bots = runnable
                        .into_iter()
                        .filter(|bot| engine.venues().serves(bot.mode))
                        .collect();
                    let ids: Vec<BotId> = bots.iter().map(|bot| bot.id).collect();
                    engine.retain_bots(&ids);
                    due_after.retain(|id, _| ids.contains(id));
                }
                Err(error) => warn!(%error, "cannot read the bots; keeping the last list"),
            }
            bots_read_at = Some(Instant::now());
        }
        let mut exchange_now: HashMap<Mode, i64> = HashMap::new();
        for bot in &bots {
            let now_ms = match exchange_now.get(&bot.mode) {
                Some(&now_ms) => now_ms,
                None => {
                    let Ok(client) = engine.venues().client(bot.mode) else {
                        continue;
                    };
                    match client.server_now_ms().await {
                        Ok(now_ms) => *exchange_now.entry(bot.mode).or_insert(now_ms),
                        Err(error) => {
                            warn!(%error, "cannot read the exchange's time");
                            continue;
                        }
                    }
                }
            };
            // A bad interval gets one cycle, which reports it as the bot's error.
            let last_close = bot.interval.parse::<Interval>().map_or(0, |interval| {
                let interval_ms = i64::try_from(interval.nominal_duration().as_millis())
                    .unwrap_or(i64::MAX)
                    .max(1);
                (now_ms - delay_ms).div_euclid(interval_ms) * interval_ms
            });
            let due = due_after
                .get(&bot.id)
                .is_none_or(|&done_through| done_through < last_close);
            if !due {
                continue;
            }
            due_after.insert(bot.id, last_close);
            let engine = engine.clone();
            let bot = bot.clone();
            let permits = permits.clone();
            let stats = stats.clone();
            cycles.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                let outcome = engine.run_cycle(&bot).await;
                stats.count(&outcome);
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
    while let Some(joined) = cycles.join_next().await {
        if let Err(error) = joined
            && error.is_panic()
        {
            warn!(%error, "a cycle panicked");
        }
    }
    let released = store
        .release_leases_of(&engine.settings().worker_id)
        .await?;
    info!(released, "leases released; scheduler stopped");
    Ok(())
}

/// Reconciles the unresolved orders of every bot before any bot trades.
async fn reconcile_at_start(engine: &Engine) -> Result<(), store::StoreError> {
    let store = engine.store();
    let unresolved = store.unresolved_orders(None).await?;
    let mut bot_ids: Vec<BotId> = unresolved.iter().map(|order| order.bot_id).collect();
    bot_ids.sort();
    bot_ids.dedup();
    for id in bot_ids {
        let Some(bot) = store.bot(id).await? else {
            continue;
        };
        if !engine.venues().serves(bot.mode) {
            continue;
        }
        match engine.reconcile_bot(&bot).await {
            Ok(Some(0)) => info!(bot = %bot.id, "unresolved orders reconciled"),
            Ok(Some(left)) => {
                warn!(bot = %bot.id, left, "orders still unresolved; the bot waits for them")
            }
            Ok(None) => info!(bot = %bot.id, "another worker holds the bot; it reconciles it"),
            Err(error) => warn!(bot = %bot.id, %error, "reconciliation failed; retried each cycle"),
        }
    }
    Ok(())
}
