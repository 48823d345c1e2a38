//! [`Engine`]: one bot's cycle, exactly the flow of `ARCHITECTURE.md`: lease the bot, get its
//! owner's client for its venue, reconcile its unresolved orders, feed the new closed candles to
//! its strategy (rebuilt from a fixed history anchor after a restart, so a restart does not
//! change decisions), plan the signal's order ([`crate::plan`], pure), execute it (write-ahead,
//! send, record: [`crate::execute`]); then settle the bot's status from the outcome
//! ([`crate::settle`]) and keep the lease for the next cycle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accounts::AccountClients;
use binance::{BalanceBook, Client};
use market::{Candle, SymbolRules};
use rust_decimal::Decimal;
use store::{BotConfig, BotId, Lease, PositionRow, Store, StoreError, TradeRow};
use strategy::spec::BoxedStrategy;
use tracing::info;

use crate::error::CycleError;
use crate::event_writer::EventWriter;
use crate::lease_book::LeaseBook;
use crate::market_data::MarketData;
use crate::plan::{self, Plan, PlanInputs, plan_order, stale_signal, strategy_position};
use crate::reconcile::{OrderFate, reconcile_order};
use crate::runnable::{BotConfigError, RunnableBot};
use crate::sizing::SizingInputs;
use crate::stopwatch::Stopwatch;
use crate::why::Why;
use tracing::Instrument;

pub use accounts::wall_now_ms;

/// How the engine behaves; [`EngineSettings::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// This worker's name in lease rows (unique per process).
    pub worker_id: String,
    /// How long a lease lasts without renewal; a dead process's bots are free again after it.
    pub lease_ttl: Duration,
    /// Consecutive failed cycles after which a bot is paused.
    pub max_consecutive_failures: u32,
    /// How long after it was written an order that the exchange shows neither by its client
    /// order id nor in the account's order history (`GET /api/v3/allOrders`) counts as not
    /// executed; it is never sent again. An order is sent only within the first half of it
    /// (and while the lease surely holds): keep it above twice the `recvWindow`, so that a
    /// request still in flight can no longer execute once it has passed.
    pub order_absent_after: Duration,
    /// How many candles before a bot's creation its strategy's history starts (the fixed anchor
    /// every rebuild replays from).
    pub history_candles: usize,
    /// The most candles a rebuild fetches; older history is dropped (indicators have long since
    /// forgotten it).
    pub max_history_candles: usize,
    /// Whether market data and balances come from the exchange's streams ([`MarketData`] and
    /// each account's user data stream), or every cycle asks REST for its candles, price and
    /// balances (for a network that blocks WebSockets; it costs request weight per bot, so one
    /// IP runs far fewer bots).
    pub streams: bool,
}

impl EngineSettings {
    /// Defaults for a worker named `worker_id`: lease 60 s, pause after 5 failed cycles, orders
    /// absent for 60 s are not executed, 500 candles of history (at most 20,000), market data
    /// and balances from streams.
    pub fn new(worker_id: impl Into<String>) -> EngineSettings {
        EngineSettings {
            worker_id: worker_id.into(),
            lease_ttl: Duration::from_secs(60),
            max_consecutive_failures: 5,
            order_absent_after: Duration::from_secs(60),
            history_candles: 500,
            max_history_candles: 20_000,
            streams: true,
        }
    }
}

/// What one cycle did.
#[derive(Debug)]
pub enum CycleOutcome {
    /// Another cycle of this bot runs (here or in another process): nothing done.
    Busy,
    /// No candle closed since the last cycle.
    NoNewCandle,
    /// The strategy gave no signal at the latest candle.
    Hold {
        /// Open time of the candle decided on.
        candle_open_ms: i64,
        /// What the strategy read ([`crate::why::Why`] as JSON).
        why: Option<String>,
    },
    /// A signal produced no order, for this reason.
    Skipped {
        /// Why (the normaliser's filter message, a stale candle, a signal already acted on).
        reason: String,
        /// Open time of the candle whose signal it was.
        candle_open_ms: i64,
        /// What the decision was made from ([`crate::why::Why`] as JSON), when it got that far.
        why: Option<String>,
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
        /// Whether this failure paused the bot (and, for an account's failure, the owner's
        /// other bots on the venue).
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
    /// From start to the bot's decision (it held, skipped, or planned its order), when it
    /// decided.
    pub decided: Option<Duration>,
}

impl CycleTimes {
    /// The engine's own time: everything but the exchange's answers (database, strategy,
    /// bookkeeping).
    pub fn engine(&self) -> Duration {
        self.total.saturating_sub(self.exchange)
    }
}

/// A bot's in-memory state between cycles: only what its strategy rebuilds from history.
pub(crate) struct BotMemory {
    /// What the state was built for; a changed configuration rebuilds it.
    fingerprint: String,
    strategy: BoxedStrategy,
    /// Open time of the last candle fed in.
    pub(crate) last_open_ms: i64,
    /// Whether any candle was fed (the exchange may have no history for a new symbol).
    fed_any: bool,
    /// The token of the lease under which `orders_clean` and `position` were learned. While
    /// this worker holds that lease nobody else writes the bot's orders or position, so the
    /// facts stay true and a cycle that holds needs no database read; a new lease (the bot may
    /// have run elsewhere in between) means reading them again.
    facts_lease_token: i64,
    /// No order of the bot is pending or unknown.
    pub(crate) orders_clean: bool,
    /// The bot's position, when read or written under `facts_lease_token`.
    pub(crate) position: Option<PositionRow>,
}

/// The per-bot slot: the in-process guard (a bot's cycles never overlap) and its memory.
type BotSlot = Arc<tokio::sync::Mutex<Option<BotMemory>>>;

/// Runs bots' cycles on their owners' accounts and the store. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) accounts: Arc<AccountClients>,
    pub(crate) settings: EngineSettings,
    slots: Mutex<HashMap<BotId, BotSlot>>,
    pub(crate) leases: LeaseBook,
    pub(crate) events: EventWriter,
    pub(crate) market: MarketData,
}

/// What a cycle works with once it holds the bot: the bot, its lease, its owner's client on its
/// venue, the symbol's rules there, and the stopwatch of its exchange calls.
pub(crate) struct CycleContext<'a> {
    pub(crate) bot: &'a RunnableBot,
    pub(crate) lease: &'a Lease,
    pub(crate) client: Client,
    pub(crate) rules: Arc<SymbolRules>,
    pub(crate) watch: &'a Stopwatch,
}

impl Engine {
    /// An engine over `store` trading on the accounts of `accounts`. Call it inside a Tokio
    /// runtime: it starts the task that writes the cycles' events.
    pub fn new(store: Store, accounts: Arc<AccountClients>, settings: EngineSettings) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                events: EventWriter::start(store.clone()),
                market: MarketData::new(accounts.venues().clone(), settings.streams),
                leases: LeaseBook::new(settings.worker_id.clone(), settings.lease_ttl),
                store,
                accounts,
                settings,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The users' accounts and the venues served.
    pub fn accounts(&self) -> &Arc<AccountClients> {
        &self.inner.accounts
    }

    /// The market-data hub the bots are fed from.
    pub fn market(&self) -> &MarketData {
        &self.inner.market
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// Forgets the in-memory state of bots not in `keep` (deleted, paused or deactivated bots)
    /// and gives up their leases.
    pub async fn retain_bots(&self, keep: &[BotId]) -> Result<(), StoreError> {
        let kept: std::collections::HashSet<BotId> = keep.iter().copied().collect();
        lock(&self.inner.slots).retain(|id, _| kept.contains(id));
        self.inner
            .leases
            .release_except(&self.inner.store, keep)
            .await
    }

    /// Takes, in one statement, the leases of those of `bots` this engine does not hold yet
    /// (the scheduler does so for every bot due, before their cycles start).
    pub async fn acquire_leases(&self, bots: &[BotId]) -> Result<(), StoreError> {
        let acquired = self
            .inner
            .leases
            .acquire(&self.inner.store, bots, wall_now_ms())
            .await;
        crate::telemetry::leases_held(self.leases_held());
        acquired
    }

    /// Renews every lease this engine holds, in one statement.
    pub async fn renew_leases(&self) -> Result<(), StoreError> {
        let renewed = self
            .inner
            .leases
            .renew_all(&self.inner.store, wall_now_ms())
            .await;
        crate::telemetry::leases_held(self.leases_held());
        renewed
    }

    /// How many bots this engine holds the lease of now (a worker's heartbeat reports it).
    pub fn leases_held(&self) -> usize {
        self.inner.leases.count()
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
    pub async fn run_cycle(&self, bot: &RunnableBot) -> CycleOutcome {
        self.run_cycle_timed(bot).await.0
    }

    /// [`run_cycle`](Self::run_cycle), also saying how long the cycle took and how much of that
    /// it waited for the exchange.
    pub async fn run_cycle_timed(&self, bot: &RunnableBot) -> (CycleOutcome, CycleTimes) {
        let started = Instant::now();
        let watch = Stopwatch::default();
        // Every line the cycle logs carries the bot, its owner and its venue.
        let span = tracing::info_span!(
            "cycle",
            bot = %bot.id(),
            user = %bot.config.user_id,
            venue = %bot.config.mode
        );
        let outcome = self.run_cycle_watched(bot, &watch).instrument(span).await;
        let times = CycleTimes {
            total: started.elapsed(),
            exchange: watch.exchange_time(),
            decided: watch.decided_at().map(|at| at.duration_since(started)),
        };
        crate::telemetry::cycle_finished(&outcome, &times);
        (outcome, times)
    }

    /// Records that `bot`'s stored configuration cannot run (`error`, found when it was parsed)
    /// and pauses it: only a change of the configuration fixes it.
    pub async fn report_unrunnable(&self, bot: &BotConfig, error: BotConfigError) -> CycleOutcome {
        let outcome = CycleOutcome::Failed {
            error: error.into(),
            paused: false,
        };
        self.settle(bot, outcome).await
    }

    async fn run_cycle_watched(&self, bot: &RunnableBot, watch: &Stopwatch) -> CycleOutcome {
        let slot = self.slot(bot.id());
        let Ok(mut memory) = slot.try_lock() else {
            return CycleOutcome::Busy;
        };
        let lease = match self.lease(bot.id()).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return CycleOutcome::Busy,
            Err(error) => {
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
        self.settle(&bot.config, outcome).await
    }

    /// The lease on `bot`, held or newly taken; `None` when another worker holds it.
    async fn lease(&self, bot: BotId) -> Result<Option<Lease>, StoreError> {
        self.inner
            .leases
            .lease_for(&self.inner.store, bot, wall_now_ms())
            .await
    }

    /// Reconciles every unresolved order of `bot` under its lease (the startup pass); returns
    /// how many remain unresolved, or `None` when another worker holds the bot.
    pub async fn reconcile_bot(&self, bot: &RunnableBot) -> Result<Option<usize>, CycleError> {
        let slot = self.slot(bot.id());
        let Ok(_memory) = slot.try_lock() else {
            return Ok(None);
        };
        let Some(lease) = self.lease(bot.id()).await? else {
            return Ok(None);
        };
        let watch = Stopwatch::default();
        let context = self.context(bot, &lease, &watch).await?;
        let unresolved = self.reconcile_orders_of(&context).await?;
        Ok(Some(unresolved.len()))
    }

    fn slot(&self, bot: BotId) -> BotSlot {
        lock(&self.inner.slots).entry(bot).or_default().clone()
    }

    /// The bot's owner's client on its venue and the symbol's rules there.
    async fn context<'a>(
        &self,
        bot: &'a RunnableBot,
        lease: &'a Lease,
        watch: &'a Stopwatch,
    ) -> Result<CycleContext<'a>, CycleError> {
        let config = &bot.config;
        let accounts = &self.inner.accounts;
        let client = watch
            .exchange(accounts.client(config.user_id, config.mode))
            .await?;
        let catalog = accounts.venue(config.mode)?.catalog();
        let rules = watch
            .exchange(catalog.rules(bot.symbol.as_str()))
            .await
            .map_err(|error| CycleError::Exchange(error.cause))?
            .ok_or_else(|| BotConfigError::NotListed {
                symbol: bot.symbol.to_string(),
                venue: config.mode,
            })?;
        Ok(CycleContext {
            bot,
            lease,
            client,
            rules,
            watch,
        })
    }

    /// Reconciles the bot's pending/unknown orders; returns the ones still unresolved with why.
    async fn reconcile_orders_of(
        &self,
        context: &CycleContext<'_>,
    ) -> Result<Vec<String>, CycleError> {
        let store = &self.inner.store;
        let bot = &context.bot.config;
        let orders = store.unresolved_orders(Some(bot.id)).await?;
        let mut unresolved = Vec::new();
        for order in &orders {
            let fate = reconcile_order(
                store,
                context,
                order,
                self.inner.settings.order_absent_after,
                wall_now_ms(),
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
                OrderFate::NotExecuted(reason) => format!(
                    "reconciled order {}: not executed: {reason}",
                    order.client_order_id
                ),
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
        bot: &RunnableBot,
        lease: &Lease,
        memory: &mut Option<BotMemory>,
        watch: &Stopwatch,
    ) -> Result<CycleOutcome, CycleError> {
        let context = self.context(bot, lease, watch).await?;
        let facts_valid = memory
            .as_ref()
            .is_some_and(|state| state.facts_lease_token == lease.token);
        if !(facts_valid && memory.as_ref().is_some_and(|state| state.orders_clean)) {
            let unresolved = self.reconcile_orders_of(&context).await?;
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
        let now_ms = watch.exchange(context.client.server_now_ms()).await?;
        let Some(state) = self.fed_strategy(&context, memory, now_ms).await? else {
            return Ok(CycleOutcome::NoNewCandle);
        };
        self.decide(&context, state, now_ms).await
    }

    /// The bot's strategy fed every candle closed by `now_ms`: rebuilt from history when it has
    /// no state or its configuration changed, otherwise fed the new candles. `None` when no new
    /// candle closed.
    async fn fed_strategy<'m>(
        &self,
        context: &CycleContext<'_>,
        memory: &'m mut Option<BotMemory>,
        now_ms: i64,
    ) -> Result<Option<&'m mut BotMemory>, CycleError> {
        let bot = context.bot;
        let fingerprint = bot.fingerprint();
        if memory
            .as_ref()
            .is_none_or(|state| state.fingerprint != fingerprint)
        {
            let rebuilt = self.rebuild(context, now_ms, fingerprint).await?;
            let state = memory.insert(rebuilt);
            return Ok(state.fed_any.then_some(state));
        }
        let Some(state) = memory.as_mut() else {
            return Ok(None);
        };
        let candles = context
            .watch
            .exchange(self.candles(context, state.last_open_ms + 1, now_ms))
            .await?;
        if candles.is_empty() {
            return Ok(None);
        }
        feed(state, &candles);
        Ok(Some(state))
    }

    /// The balances of the bot's owner's account on its venue, and the book they came from:
    /// kept from the account's user data stream, read by REST only while the stream is not live
    /// (always, and no book, without streams).
    async fn balances(
        &self,
        bot: &BotConfig,
        client: &Client,
    ) -> Result<(Vec<binance::Balance>, Option<BalanceBook>), CycleError> {
        if !self.inner.settings.streams {
            return Ok((client.balances().await?, None));
        }
        let book = self
            .inner
            .accounts
            .balance_book(bot.user_id, bot.mode)
            .await?;
        Ok((book.balances().await?, Some(book)))
    }

    /// The bot's closed candles opening from `from_ms` on, closed by `now_ms`: from the shared
    /// market data.
    async fn candles(
        &self,
        context: &CycleContext<'_>,
        from_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<Candle>, binance::BinanceError> {
        let bot = context.bot;
        self.inner
            .market
            .closed_candles(
                bot.config.mode,
                &context.client,
                &bot.symbol,
                bot.interval,
                (from_ms, now_ms),
            )
            .await
    }

    /// A fresh strategy fed the bot's history from its fixed anchor (see
    /// [`EngineSettings::history_candles`]).
    async fn rebuild(
        &self,
        context: &CycleContext<'_>,
        now_ms: i64,
        fingerprint: String,
    ) -> Result<BotMemory, CycleError> {
        let bot = context.bot;
        let settings = &self.inner.settings;
        let mut strategy = bot.new_strategy()?;
        let anchor_ms = history_anchor_ms(
            bot.config.created_at_ms,
            bot.interval_ms,
            settings.history_candles,
        );
        let cap_ms = now_ms.saturating_sub(
            bot.interval_ms
                .saturating_mul(settings.max_history_candles as i64),
        );
        let candles = context
            .watch
            .exchange(self.candles(context, anchor_ms.max(cap_ms), now_ms))
            .await?;
        strategy.reset();
        let mut state = BotMemory {
            fingerprint,
            strategy,
            last_open_ms: anchor_ms.max(cap_ms) - 1,
            fed_any: false,
            // The cycle reconciled the bot's orders under this lease just before.
            facts_lease_token: context.lease.token,
            orders_clean: true,
            position: None,
        };
        feed(&mut state, &candles);
        info!(bot = %bot.id(), candles = candles.len(), "strategy rebuilt from history");
        Ok(state)
    }

    /// The decision at the latest candle fed in: nothing, a skip, or an order planned and
    /// executed.
    async fn decide(
        &self,
        context: &CycleContext<'_>,
        state: &mut BotMemory,
        now_ms: i64,
    ) -> Result<CycleOutcome, CycleError> {
        let bot = context.bot;
        let candle_open_ms = state.last_open_ms;
        crate::telemetry::decision_lag(now_ms - (candle_open_ms + bot.interval_ms));
        let holding = match &state.position {
            Some(position) => position.clone(),
            None => {
                let position = self.inner.store.position(bot.id()).await?;
                state.position = Some(position.clone());
                position
            }
        };
        let position = strategy_position(holding.quantity, &context.rules);
        let signal = state.strategy.signal(position);
        let why = Why::new(state.strategy.as_ref(), position, holding.quantity, signal);
        let Some(signal) = signal else {
            context.watch.mark_decided();
            return Ok(CycleOutcome::Hold {
                candle_open_ms,
                why: Some(why.to_json()),
            });
        };
        if let Some(reason) = stale_signal(signal, candle_open_ms, bot.interval_ms, now_ms) {
            context.watch.mark_decided();
            return Ok(CycleOutcome::Skipped {
                reason,
                candle_open_ms,
                why: Some(why.to_json()),
            });
        }
        let client = &context.client;
        let streamed =
            self.inner
                .market
                .best_price(bot.config.mode, &bot.symbol, plan::side_of(signal));
        let price = match streamed {
            Some(price) => price,
            None => {
                // Without the stream, the same price by REST: the book's best level on the
                // order's side, which is what a MARKET order pays first (the last trade's price
                // would size a BUY for less than it costs).
                context
                    .watch
                    .exchange(client.best_price(&bot.symbol, plan::side_of(signal)))
                    .await?
            }
        };
        let (balances, book) = context
            .watch
            .exchange(self.balances(&bot.config, client))
            .await?;
        let free = |asset: &str| {
            balances
                .iter()
                .find(|balance| balance.asset == asset)
                .map_or(Decimal::ZERO, |balance| balance.free)
        };
        let (plan, steps) = plan_order(&PlanInputs {
            bot: bot.id(),
            signal,
            candle_open_ms,
            rules: &context.rules,
            price,
            sizing: SizingInputs {
                quote_per_buy: bot.config.quote_per_buy,
                position: holding.quantity,
                free_quote: free(&context.rules.quote_asset),
                free_base: free(&context.rules.base_asset),
            },
        });
        let why = why.sized(price.get(), steps).to_json();
        context.watch.mark_decided();
        match plan {
            Plan::Skip(reason) => Ok(CycleOutcome::Skipped {
                reason,
                candle_open_ms,
                why: Some(why),
            }),
            Plan::Send(order) => {
                let outcome = self.execute(context, state, order, why).await?;
                if let (CycleOutcome::Traded(trade), Some(book)) = (&outcome, &book) {
                    // The next order of this account must not be sized on balances from
                    // before this one, even if the stream has not told of it yet.
                    book.apply_fill(trade.executed_at_ms, &fill_changes(trade, &context.rules));
                }
                Ok(outcome)
            }
        }
    }
}

/// What `trade` moved on its account, per asset: the base and quote amounts by its side, and
/// the commission out of its asset.
fn fill_changes(trade: &TradeRow, rules: &SymbolRules) -> Vec<(String, Decimal)> {
    let (base, quote) = match trade.side {
        market::Side::Buy => (trade.quantity_filled, -trade.quote_quantity_filled),
        market::Side::Sell => (-trade.quantity_filled, trade.quote_quantity_filled),
    };
    let mut changes = vec![
        (rules.base_asset.clone(), base),
        (rules.quote_asset.clone(), quote),
    ];
    match changes
        .iter_mut()
        .find(|(asset, _)| *asset == trade.commission_asset)
    {
        Some((_, change)) => *change -= trade.commission,
        None => changes.push((trade.commission_asset.clone(), -trade.commission)),
    }
    changes
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
