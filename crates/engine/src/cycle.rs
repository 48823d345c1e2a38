//! [`Engine`]: one bot's cycle, exactly the flow of `ARCHITECTURE.md`: lease the bot, reconcile
//! its unresolved orders, feed the new closed candles to its strategy (rebuilt from a fixed
//! history anchor after a restart, so a restart does not change decisions), size and normalise
//! the signal's order, write the order ahead, send it, and record the fill with its realised PnL;
//! then set the bot's status from the outcome and release the lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use binance::{Client, OrderSize, PlaceOrderError};
use market::{Candle, Interval, Side, Symbol};
use rust_decimal::Decimal;
use store::{
    BotConfig, BotId, BotStatus, Lease, NewEvent, NewOrder, OrderStatus, PositionRow, Store,
    StoreError, TradeRow,
};
use strategy::{Position, Signal};
use tracing::{info, warn};

use crate::error::CycleError;
use crate::event_writer::EventWriter;
use crate::lease_book::LeaseBook;
use crate::reconcile::{OrderFate, reconcile_order};
use crate::record::{Recorded, record_fill};
use crate::sizing::{SizedOrder, SizingInputs, min_tradable_quantity, size_order};
use crate::stopwatch::Stopwatch;
use crate::strategy_spec::{BoxedStrategy, build_strategy};
use crate::venue::Venues;

/// How the engine behaves; [`EngineSettings::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// This worker's name in lease rows (unique per process).
    pub worker_id: String,
    /// How long a lease lasts without renewal; a dead process's bots are free again after it.
    pub lease_ttl: Duration,
    /// Consecutive failed cycles after which a bot is paused.
    pub max_consecutive_failures: u32,
    /// How long after it was written an order the exchange does not know counts as never placed.
    pub order_absent_after: Duration,
    /// How many candles before a bot's creation its strategy's history starts (the fixed anchor
    /// every rebuild replays from).
    pub history_candles: usize,
    /// The most candles a rebuild fetches; older history is dropped (indicators have long since
    /// forgotten it).
    pub max_history_candles: usize,
}

impl EngineSettings {
    /// Defaults for a worker named `worker_id`: lease 60 s, pause after 5 failed cycles, orders
    /// absent for 60 s are not executed, 500 candles of history (at most 20,000).
    pub fn new(worker_id: impl Into<String>) -> EngineSettings {
        EngineSettings {
            worker_id: worker_id.into(),
            lease_ttl: Duration::from_secs(60),
            max_consecutive_failures: 5,
            order_absent_after: Duration::from_secs(60),
            history_candles: 500,
            max_history_candles: 20_000,
        }
    }
}

/// What one cycle did.
#[derive(Debug, Clone)]
pub enum CycleOutcome {
    /// Another cycle of this bot runs (here or in another process): nothing done.
    Busy,
    /// No candle closed since the last cycle.
    NoNewCandle,
    /// The strategy gave no signal at the latest candle.
    Hold {
        /// Open time of the candle decided on.
        candle_open_ms: i64,
    },
    /// A signal produced no order, for this reason.
    Skipped {
        /// Why (the normaliser's filter message, a stale candle, a signal already acted on).
        reason: String,
    },
    /// An order executed; its trade row.
    Traded(Box<TradeRow>),
    /// The bot waits for an order in doubt to be reconciled.
    Blocked {
        /// Which order and why.
        reason: String,
    },
    /// The cycle failed; the bot's status says so.
    Failed {
        /// What failed.
        error: CycleError,
        /// Whether this failure paused the bot.
        paused: bool,
    },
}

/// How long a cycle took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CycleTimes {
    /// From start to end.
    pub total: Duration,
    /// Of which awaiting the exchange's answers.
    pub exchange: Duration,
}

impl CycleTimes {
    /// The engine's own time: everything but the exchange's answers (database, strategy,
    /// bookkeeping).
    pub fn engine(&self) -> Duration {
        self.total.saturating_sub(self.exchange)
    }
}

/// A bot's in-memory state between cycles: only what its strategy rebuilds from history.
struct BotMemory {
    /// What the state was built for; a changed configuration rebuilds it.
    fingerprint: String,
    strategy: BoxedStrategy,
    /// Open time of the last candle fed in.
    last_open_ms: i64,
    /// Whether any candle was fed (the exchange may have no history for a new symbol).
    fed_any: bool,
    /// The token of the lease under which `orders_clean` and `position` were learned. While
    /// this worker holds that lease nobody else writes the bot's orders or position, so the
    /// facts stay true and a cycle that holds needs no database read; a new lease (the bot may
    /// have run elsewhere in between) means reading them again.
    facts_lease_token: i64,
    /// No order of the bot is pending or unknown.
    orders_clean: bool,
    /// The bot's position, when read or written under `facts_lease_token`.
    position: Option<PositionRow>,
}

/// The per-bot slot: the in-process guard (a bot's cycles never overlap) and its memory.
type BotSlot = Arc<tokio::sync::Mutex<Option<BotMemory>>>;

/// Runs bots' cycles against their venues and the store. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    venues: Venues,
    settings: EngineSettings,
    slots: Mutex<HashMap<BotId, BotSlot>>,
    leases: LeaseBook,
    events: EventWriter,
}

impl Engine {
    /// An engine over `store` trading on `venues`. Call it inside a Tokio runtime: it starts
    /// the task that writes the cycles' events.
    pub fn new(store: Store, venues: Venues, settings: EngineSettings) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                events: EventWriter::start(store.clone()),
                leases: LeaseBook::new(settings.worker_id.clone(), settings.lease_ttl),
                store,
                venues,
                settings,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The venues.
    pub fn venues(&self) -> &Venues {
        &self.inner.venues
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// Forgets the in-memory state of bots not in `keep` (deleted, paused or deactivated bots)
    /// and gives up their leases.
    pub async fn retain_bots(&self, keep: &[BotId]) -> Result<(), StoreError> {
        let kept: std::collections::HashSet<BotId> = keep.iter().copied().collect();
        self.inner
            .slots
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .retain(|id, _| kept.contains(id));
        self.inner
            .leases
            .release_except(&self.inner.store, keep)
            .await
    }

    /// Takes, in one statement, the leases of those of `bots` this engine does not hold yet
    /// (the scheduler does so for every bot due, before their cycles start).
    pub async fn acquire_leases(&self, bots: &[BotId]) -> Result<(), StoreError> {
        self.inner
            .leases
            .acquire(&self.inner.store, bots, wall_now_ms())
            .await
    }

    /// Renews every lease this engine holds, in one statement.
    pub async fn renew_leases(&self) -> Result<(), StoreError> {
        self.inner
            .leases
            .renew_all(&self.inner.store, wall_now_ms())
            .await
    }

    /// Returns once every cycle event queued so far is committed.
    pub async fn flush_events(&self) {
        self.inner.events.flush().await;
    }

    /// Gives up every lease this engine holds (a clean shutdown: another worker may take the
    /// bots at once instead of after the leases expire); how many were released.
    pub async fn release_leases(&self) -> Result<u64, StoreError> {
        self.inner.leases.release_all(&self.inner.store).await
    }

    /// Runs one cycle of `bot` and returns what it did. Never panics on bad data; every outcome
    /// but [`CycleOutcome::Busy`] and [`CycleOutcome::NoNewCandle`] is recorded as an event.
    pub async fn run_cycle(&self, bot: &BotConfig) -> CycleOutcome {
        self.run_cycle_timed(bot).await.0
    }

    /// [`run_cycle`](Self::run_cycle), also saying how long the cycle took and how much of that
    /// it waited for the exchange.
    pub async fn run_cycle_timed(&self, bot: &BotConfig) -> (CycleOutcome, CycleTimes) {
        let started = Instant::now();
        let watch = Stopwatch::default();
        let outcome = self.run_cycle_watched(bot, &watch).await;
        let times = CycleTimes {
            total: started.elapsed(),
            exchange: watch.exchange_time(),
        };
        (outcome, times)
    }

    async fn run_cycle_watched(&self, bot: &BotConfig, watch: &Stopwatch) -> CycleOutcome {
        let slot = self.slot(bot.id);
        let Ok(mut memory) = slot.try_lock() else {
            return CycleOutcome::Busy;
        };
        let store = &self.inner.store;
        let lease = match self
            .inner
            .leases
            .lease_for(store, bot.id, wall_now_ms())
            .await
        {
            Ok(Some(lease)) => lease,
            Ok(None) => return CycleOutcome::Busy,
            Err(error) => {
                warn!(bot = %bot.id, %error, "cannot take the bot's lease");
                return CycleOutcome::Failed {
                    error: error.into(),
                    paused: false,
                };
            }
        };
        let outcome = match self
            .cycle_under_lease(bot, &lease, &mut memory, watch)
            .await
        {
            Ok(outcome) => outcome,
            Err(error) => {
                // A failed cycle may have left the strategy half-fed; rebuild it next time.
                *memory = None;
                CycleOutcome::Failed {
                    error,
                    paused: false,
                }
            }
        };
        self.settle(bot, outcome).await
    }

    /// Reconciles every unresolved order of `bot` under its lease (the startup pass); returns
    /// how many remain unresolved, or `None` when another worker holds the bot.
    pub async fn reconcile_bot(&self, bot: &BotConfig) -> Result<Option<usize>, CycleError> {
        let slot = self.slot(bot.id);
        let Ok(_memory) = slot.try_lock() else {
            return Ok(None);
        };
        let store = &self.inner.store;
        if self
            .inner
            .leases
            .lease_for(store, bot.id, wall_now_ms())
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let unresolved = self.reconcile_orders_of(bot, &Stopwatch::default()).await?;
        Ok(Some(unresolved.len()))
    }

    fn slot(&self, bot: BotId) -> BotSlot {
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        slots.entry(bot).or_default().clone()
    }

    /// Reconciles the bot's pending/unknown orders; returns the ones still unresolved with why.
    async fn reconcile_orders_of(
        &self,
        bot: &BotConfig,
        watch: &Stopwatch,
    ) -> Result<Vec<String>, CycleError> {
        let store = &self.inner.store;
        let orders = store.unresolved_orders(Some(bot.id)).await?;
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let client = self
            .inner
            .venues
            .client(bot.mode)
            .map_err(CycleError::Config)?;
        let mut unresolved = Vec::new();
        for order in &orders {
            let fate = reconcile_order(
                store,
                client,
                bot,
                order,
                self.inner.settings.order_absent_after,
                wall_now_ms(),
                watch,
            )
            .await?;
            let message = match &fate {
                OrderFate::Executed(trade) => format!(
                    "reconciled order {}: executed, {} {} {} at {} (trade {})",
                    order.client_order_id,
                    trade.side,
                    trade.quantity_filled.normalize(),
                    trade.symbol,
                    trade.price.normalize(),
                    trade.id
                ),
                OrderFate::NotExecuted => {
                    format!("reconciled order {}: not executed", order.client_order_id)
                }
                OrderFate::StillUnknown(reason) => {
                    unresolved.push(format!("order {}: {reason}", order.client_order_id));
                    continue;
                }
            };
            info!(bot = %bot.id, "{message}");
            store
                .record_event(bot.id, wall_now_ms(), "reconciled", &message)
                .await?;
        }
        Ok(unresolved)
    }

    async fn cycle_under_lease(
        &self,
        bot: &BotConfig,
        lease: &Lease,
        memory: &mut Option<BotMemory>,
        watch: &Stopwatch,
    ) -> Result<CycleOutcome, CycleError> {
        let client = self
            .inner
            .venues
            .client(bot.mode)
            .map_err(CycleError::Config)?;
        let symbol = Symbol::new(bot.symbol.clone())
            .map_err(|err| CycleError::Config(format!("symbol: {err}")))?;
        let interval: Interval = bot
            .interval
            .parse()
            .map_err(|err| CycleError::Config(format!("interval: {err}")))?;
        let interval_ms =
            i64::try_from(interval.nominal_duration().as_millis()).unwrap_or(i64::MAX);

        let facts_valid = memory
            .as_ref()
            .is_some_and(|state| state.facts_lease_token == lease.token);
        if !(facts_valid && memory.as_ref().is_some_and(|state| state.orders_clean)) {
            let unresolved = self.reconcile_orders_of(bot, watch).await?;
            if let Some(state) = memory.as_mut() {
                // Reconciliation may have recorded trades: the position is read again.
                state.facts_lease_token = lease.token;
                state.orders_clean = unresolved.is_empty();
                state.position = None;
            }
            if let Some(first) = unresolved.into_iter().next() {
                return Ok(CycleOutcome::Blocked { reason: first });
            }
        }

        let now_ms = watch.exchange(client.server_now_ms()).await?;
        let fingerprint = format!(
            "{}|{}|{}|{}|{}",
            bot.symbol, bot.interval, bot.strategy, bot.strategy_params, bot.created_at_ms
        );
        let state = if memory
            .as_ref()
            .is_none_or(|state| state.fingerprint != fingerprint)
        {
            let rebuilt = self
                .rebuild(
                    bot,
                    client,
                    &symbol,
                    interval,
                    interval_ms,
                    now_ms,
                    fingerprint,
                    lease.token,
                    watch,
                )
                .await?;
            let state = memory.insert(rebuilt);
            if !state.fed_any {
                return Ok(CycleOutcome::NoNewCandle);
            }
            state
        } else {
            let Some(state) = memory.as_mut() else {
                unreachable!("a missing memory is rebuilt above");
            };
            let candles = watch
                .exchange(client.closed_klines(&symbol, interval, state.last_open_ms + 1, now_ms))
                .await?;
            if candles.is_empty() {
                return Ok(CycleOutcome::NoNewCandle);
            }
            feed(state, &candles);
            state
        };
        self.decide(
            bot,
            lease,
            client,
            &symbol,
            interval_ms,
            state,
            now_ms,
            watch,
        )
        .await
    }

    /// A fresh strategy fed the bot's history from its fixed anchor (see
    /// [`EngineSettings::history_candles`]).
    #[allow(clippy::too_many_arguments)]
    async fn rebuild(
        &self,
        bot: &BotConfig,
        client: &Client,
        symbol: &Symbol,
        interval: Interval,
        interval_ms: i64,
        now_ms: i64,
        fingerprint: String,
        lease_token: i64,
        watch: &Stopwatch,
    ) -> Result<BotMemory, CycleError> {
        let settings = &self.inner.settings;
        let mut strategy = build_strategy(&bot.strategy, &bot.strategy_params)?;
        let anchor_ms = history_anchor_ms(bot.created_at_ms, interval_ms, settings.history_candles);
        let cap_ms =
            now_ms.saturating_sub(interval_ms.saturating_mul(settings.max_history_candles as i64));
        let candles = watch
            .exchange(client.closed_klines(symbol, interval, anchor_ms.max(cap_ms), now_ms))
            .await?;
        strategy.reset();
        let mut state = BotMemory {
            fingerprint,
            strategy,
            last_open_ms: anchor_ms.max(cap_ms) - 1,
            fed_any: false,
            // The cycle reconciled the bot's orders under this lease just before.
            facts_lease_token: lease_token,
            orders_clean: true,
            position: None,
        };
        feed(&mut state, &candles);
        info!(bot = %bot.id, candles = candles.len(), "strategy rebuilt from history");
        Ok(state)
    }

    /// The decision at the latest candle fed in: nothing, a skip, or an order sent and recorded.
    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        bot: &BotConfig,
        lease: &Lease,
        client: &Client,
        symbol: &Symbol,
        interval_ms: i64,
        state: &mut BotMemory,
        now_ms: i64,
        watch: &Stopwatch,
    ) -> Result<CycleOutcome, CycleError> {
        let store = &self.inner.store;
        let candle_open_ms = state.last_open_ms;
        let rules = watch.exchange(client.symbol_rules(symbol)).await?;
        let holding = match &state.position {
            Some(position) => position.clone(),
            None => {
                let position = store.position(bot.id).await?;
                state.position = Some(position.clone());
                position
            }
        };
        let position = if holding.quantity > Decimal::ZERO
            && holding.quantity >= min_tradable_quantity(&rules)
        {
            Position::Long
        } else {
            Position::Flat
        };
        let Some(signal) = state.strategy.signal(position) else {
            return Ok(CycleOutcome::Hold { candle_open_ms });
        };
        let side = match signal {
            Signal::Buy => Side::Buy,
            Signal::Sell => Side::Sell,
        };
        // A candle that closed more than an interval ago (the process was down, or the cycle
        // ran late) is history: trading on it now would be trading on a stale price.
        let closed_ms = candle_open_ms + interval_ms;
        if now_ms - closed_ms >= interval_ms {
            return Ok(CycleOutcome::Skipped {
                reason: format!(
                    "{side} signal at the candle of {} is stale: it closed {} s ago",
                    market::format_utc_ms(candle_open_ms),
                    (now_ms - closed_ms) / 1_000
                ),
            });
        }
        let client_order_id = client_order_id(bot.id, candle_open_ms, side);
        let price = watch.exchange(client.current_price(symbol)).await?;
        let balances = watch.exchange(client.balances()).await?;
        let free = |asset: &str| {
            balances
                .iter()
                .find(|balance| balance.asset == asset)
                .map_or(Decimal::ZERO, |balance| balance.free)
        };
        let inputs = SizingInputs {
            quote_per_buy: bot.quote_per_buy,
            position: holding.quantity,
            free_quote: free(&rules.quote_asset),
            free_base: free(&rules.base_asset),
        };
        let quantity = match size_order(&rules, side, price, &inputs) {
            SizedOrder::Send(quantity) => quantity,
            SizedOrder::Skip(reason) => return Ok(CycleOutcome::Skipped { reason }),
        };

        // Write-ahead: the order exists in the database before it can exist on the exchange.
        // Until its fate is recorded, the bot's orders are not clean.
        let were_clean = std::mem::replace(&mut state.orders_clean, false);
        let new_order = NewOrder {
            client_order_id: client_order_id.clone(),
            bot_id: bot.id,
            user_id: bot.user_id,
            symbol: symbol.to_string(),
            side,
            requested_quantity: quantity.quantity().get(),
            signal_candle_open_ms: candle_open_ms,
        };
        // Fenced in the same statement: if this process stalled past the lease's expiry,
        // another worker may own the bot now, and if the user paused or stopped the bot during
        // the cycle, it must not trade: either way the order must not exist, let alone be sent.
        match store
            .insert_pending_order_fenced(&new_order, lease, wall_now_ms())
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                // Nothing was written.
                state.orders_clean = were_clean;
                let runnable = store
                    .bot(bot.id)
                    .await?
                    .is_some_and(|now| now.is_runnable());
                if !runnable {
                    return Ok(CycleOutcome::Skipped {
                        reason: format!(
                            "{side} signal at the candle of {}: the bot was paused or stopped meanwhile, no order sent",
                            market::format_utc_ms(candle_open_ms)
                        ),
                    });
                }
                self.inner.leases.forget(bot.id);
                return Err(CycleError::LeaseLost);
            }
            // The client order id is derived from the signal, so its row existing means this
            // signal was acted on before (a restart, or a retried cycle): never a second order.
            Err(StoreError::Duplicate { .. }) => {
                return Ok(CycleOutcome::Skipped {
                    reason: format!(
                        "{side} signal at the candle of {} was already acted on (order {client_order_id})",
                        market::format_utc_ms(candle_open_ms)
                    ),
                });
            }
            Err(error) => return Err(error.into()),
        }
        info!(bot = %bot.id, %symbol, %side, quantity = %quantity, %client_order_id, "sending MARKET order");
        let fill = match watch
            .exchange(client.place_market_order(
                symbol,
                side,
                OrderSize::from(quantity),
                &client_order_id,
            ))
            .await
        {
            Ok(fill) => fill,
            Err(PlaceOrderError::NotExecuted { cause, .. }) => {
                let status = if cause.class() == binance::ErrorClass::Rejected {
                    OrderStatus::Rejected
                } else {
                    OrderStatus::NotExecuted
                };
                let cause = cause.to_string();
                store
                    .set_order_status(&client_order_id, status, Some(&cause), wall_now_ms())
                    .await?;
                state.orders_clean = true;
                return Err(CycleError::OrderRejected {
                    client_order_id,
                    cause,
                });
            }
            Err(PlaceOrderError::Unknown { cause, .. }) => {
                let cause = cause.to_string();
                store
                    .set_order_status(
                        &client_order_id,
                        OrderStatus::Unknown,
                        Some(&cause),
                        wall_now_ms(),
                    )
                    .await?;
                return Err(CycleError::OrderUnknown {
                    client_order_id,
                    cause,
                });
            }
        };
        match record_fill(store, client, bot, &rules, &fill, wall_now_ms(), watch).await? {
            Recorded::Trade(trade, position) => {
                state.orders_clean = true;
                state.position = Some(position);
                Ok(CycleOutcome::Traded(trade))
            }
            Recorded::NothingExecuted => {
                state.orders_clean = true;
                Ok(CycleOutcome::Skipped {
                    reason: format!("order {client_order_id} expired with nothing executed"),
                })
            }
        }
    }

    /// Sets the bot's status from the outcome, records the decision as an event and logs it.
    async fn settle(&self, bot: &BotConfig, outcome: CycleOutcome) -> CycleOutcome {
        let store = &self.inner.store;
        let max_failures = i64::from(self.inner.settings.max_consecutive_failures);
        let (status, last_error, failures, event) = match &outcome {
            CycleOutcome::Busy => return outcome,
            CycleOutcome::NoNewCandle => (BotStatus::Running, None, 0, None),
            CycleOutcome::Hold { candle_open_ms } => (
                BotStatus::Running,
                None,
                0,
                Some((
                    "hold",
                    format!(
                        "no signal at the candle of {}",
                        market::format_utc_ms(*candle_open_ms)
                    ),
                )),
            ),
            CycleOutcome::Skipped { reason } => {
                (BotStatus::Running, None, 0, Some(("skip", reason.clone())))
            }
            CycleOutcome::Traded(trade) => {
                // The trade's event was written with the trade itself, in its transaction.
                info!(bot = %bot.id, name = %bot.name, "trade: {}", describe_trade(trade));
                (BotStatus::Running, None, 0, None)
            }
            CycleOutcome::Blocked { reason } => {
                let message = format!("waiting for reconciliation: {reason}");
                (
                    BotStatus::Error,
                    Some(message.clone()),
                    bot.consecutive_failures,
                    Some(("blocked", message)),
                )
            }
            CycleOutcome::Failed { error, .. } => {
                let failures = bot.consecutive_failures + 1;
                if failures >= max_failures {
                    let message = format!(
                        "paused after {failures} consecutive failed cycles; fix the cause and start the bot again. Last error: {error}"
                    );
                    (
                        BotStatus::Paused,
                        Some(message.clone()),
                        failures,
                        Some(("paused", message)),
                    )
                } else {
                    let message = error.to_string();
                    (
                        BotStatus::Error,
                        Some(message.clone()),
                        failures,
                        Some(("error", message)),
                    )
                }
            }
        };
        let now_ms = wall_now_ms();
        if let Some((kind, message)) = &event {
            match *kind {
                "error" | "paused" | "blocked" => {
                    warn!(bot = %bot.id, name = %bot.name, "{kind}: {message}")
                }
                _ => info!(bot = %bot.id, name = %bot.name, "{kind}: {message}"),
            }
            let event = NewEvent {
                bot_id: bot.id,
                at_ms: now_ms,
                kind: (*kind).to_owned(),
                message: message.clone(),
            };
            if let Err(error) = self.inner.events.record(event) {
                warn!(bot = %bot.id, %error, "cannot record the cycle's event");
            }
        }
        let changed = status != bot.status
            || failures != bot.consecutive_failures
            || last_error.as_deref() != bot.last_error.as_deref();
        // Conditional: the user may have paused or stopped the bot while this cycle ran, and
        // this outcome must not overwrite that decision.
        if changed {
            match store
                .set_bot_status_if_running(bot.id, status, last_error.as_deref(), failures, now_ms)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    info!(bot = %bot.id, name = %bot.name, "paused or stopped during its cycle: status left as the user set it")
                }
                Err(error) => warn!(bot = %bot.id, %error, "cannot update the bot's status"),
            }
        }
        match outcome {
            CycleOutcome::Failed { error, .. } => CycleOutcome::Failed {
                error,
                paused: status == BotStatus::Paused,
            },
            other => other,
        }
    }
}

/// The client order id of `bot`'s order for the signal at `candle_open_ms`: deterministic, so a
/// signal can produce at most one order row (the column is unique) whatever restarts between.
/// At most 36 characters from Binance's allowed set.
pub fn client_order_id(bot: BotId, candle_open_ms: i64, side: Side) -> String {
    let side = match side {
        Side::Buy => 'b',
        Side::Sell => 's',
    };
    format!("sb{}-{candle_open_ms}-{side}", bot.0)
}

/// One line for the log and the event table.
fn describe_trade(trade: &TradeRow) -> String {
    let mut line = format!(
        "{} {} {} at {} (quote {}, fee {} {}), exchange order {}",
        trade.side,
        trade.quantity_filled.normalize(),
        trade.symbol,
        trade.price.round_dp(8).normalize(),
        trade.quote_quantity_filled.normalize(),
        trade.commission.normalize(),
        trade.commission_asset,
        trade.binance_order_id
    );
    if let Some(pnl) = trade.realized_pnl {
        line.push_str(&format!(", realised PnL {}", pnl.round_dp(8).normalize()));
    }
    line
}

/// Feeds `candles` (oldest first, all newer than the last fed) to the strategy.
fn feed(state: &mut BotMemory, candles: &[Candle]) {
    for candle in candles {
        state.strategy.update(candle);
        state.last_open_ms = candle.open_time_ms;
        state.fed_any = true;
    }
}

/// The open time of the first candle a bot's strategy is built from: `history_candles` intervals
/// before the interval its bot was created in. Fixed for the bot's life, so every rebuild replays
/// the same candles and reaches the same state as the uninterrupted run.
pub fn history_anchor_ms(created_at_ms: i64, interval_ms: i64, history_candles: usize) -> i64 {
    let created_interval = created_at_ms.div_euclid(interval_ms) * interval_ms;
    created_interval - interval_ms.saturating_mul(history_candles as i64)
}

/// Milliseconds since the Unix epoch by this machine's clock (leases and row timestamps; the
/// exchange's time comes from the client).
pub fn wall_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
