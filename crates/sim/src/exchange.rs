//! [`Exchange`]: the simulator's whole state (listed symbols with their prices, accounts,
//! the order log, rate-limit counters, injected faults) and the operations the HTTP layer
//! exposes, free of HTTP. Once durable (see [`crate::durable`]), every change to what the state
//! file keeps is appended to the journal by the operation that makes it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;

use market::{Side, SymbolStatus};

use crate::account::Account;
use crate::clock::Clock;
use crate::durable::{DurableTicket, Journal, JournalSink};
use crate::error::ApiError;
use crate::faults::{FaultPlan, FaultPlanError, FaultState};
use crate::filters::check_market_order;
use crate::klines::{Kline, KlineGrid, KlineQuery, query_klines, to_kline};
use crate::limits::{RateLimit, RateLimiter, Throttle};
use crate::listing::{Listing, ListingSpec};
use crate::order::{Fill, NewMarketOrder, OrderRecord, OrderStatus};
use crate::prices::PriceSource;
use crate::replay::{CandleReplay, ReplayPrices};
use crate::state::{
    Change, SavedAccount, SavedCounters, SavedOrder, SavedState, StateError, corrupt,
};
use crate::user_data::{BalanceDelta, UserDataHub};
use crate::walk::{PriceWalk, RawBar};
use sim_book::{Level, OrderSize, execute, tick_price};

/// The minutes `GET /api/v3/avgPrice` averages over (its `mins`).
pub const AVG_PRICE_MINUTES: i64 = 5;
/// The rolling window of `GET /api/v3/ticker/24hr`, ms.
const DAY_MS: i64 = 86_400_000;
/// The decimals commissions are rounded to (`baseCommissionPrecision`/`quoteCommissionPrecision`).
const COMMISSION_DECIMALS: u32 = 8;
/// The length of generated client order ids, as Binance's (`6gCrw2kRUAF9CvJDGP16IP`).
const CLIENT_ORDER_ID_LENGTH: usize = 22;
const CLIENT_ORDER_ID_ALPHABET: &[u8] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Requests refused by the rate limits since the exchange started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitRefusals {
    /// Answered 429 (request weight or raw requests).
    pub throttles: u64,
    /// Answered 418 (the IP is banned).
    pub bans: u64,
    /// New orders refused with -1015 (an account's ORDERS window is full).
    pub orders: u64,
}

/// How the simulated exchange is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeConfig {
    /// Seeds every price walk: the same seed gives the same prices.
    pub seed: u64,
    /// How much price history exists before the exchange starts, in ms (klines before it are
    /// empty, like before a symbol's listing).
    pub history_ms: i64,
    /// The symbols listed.
    pub listings: Vec<ListingSpec>,
    /// The rate limits enforced and published in `exchangeInfo.rateLimits`.
    pub rate_limits: Vec<RateLimit>,
    /// Symbols whose prices replay candles instead of walking (see [`CandleReplay`]).
    pub replays: BTreeMap<String, CandleReplay>,
    /// The id of each symbol's first order (Binance's ids are large numbers). An exchange that
    /// bots trade on should start from a time-based id
    /// ([`ExchangeConfig::with_order_ids_from_now`]), so that a restart without its state file
    /// never repeats ids a bot's database recorded from an earlier run.
    pub first_order_id: u64,
    /// The fraction taken off commissions paid in BNB (Binance's discount: `0.25` = 25 % off),
    /// in `[0, 1]`.
    pub bnb_discount: Decimal,
}

impl Default for ExchangeConfig {
    /// Seed 1, seven days of history, BTCUSDT, ETHUSDT and BNBUSDT (the price of commissions
    /// paid in BNB), Binance's production rate limits, Binance's 25 % BNB discount, and order
    /// ids from 1.
    ///
    /// For load tests, [`ExchangeConfig::with_unreachable_rate_limits`] keeps the limits
    /// published but out of reach: an empty `rate_limits` also disables them, but then
    /// `exchangeInfo` publishes no limits either.
    fn default() -> Self {
        ExchangeConfig {
            seed: 1,
            history_ms: 7 * 24 * 3_600_000,
            listings: vec![
                ListingSpec::btcusdt(),
                ListingSpec::ethusdt(),
                ListingSpec::bnbusdt(),
            ],
            rate_limits: RateLimit::binance_defaults(),
            replays: BTreeMap::new(),
            first_order_id: 1,
            bnb_discount: STANDARD_BNB_DISCOUNT,
        }
    }
}

impl ExchangeConfig {
    /// The same configuration with order ids starting at the real now in ms times 1,000 (about
    /// 1.8e15 in 2026, still far from Binance's limit of 2^63): an exchange restarted without its
    /// state file then never hands out an id that a bot's database recorded from an earlier run,
    /// where the trades table keeps ids unique per symbol.
    pub fn with_order_ids_from_now(mut self) -> ExchangeConfig {
        let now_ms = u64::try_from(crate::clock::real_now_ms()).unwrap_or(0);
        self.first_order_id = now_ms.saturating_mul(1_000).max(1);
        self
    }

    /// The same configuration with every rate limit raised out of reach, still published in
    /// `exchangeInfo`: load tests measure the exchange and its clients, not the throttle.
    pub fn with_unreachable_rate_limits(mut self) -> ExchangeConfig {
        for limit in &mut self.rate_limits {
            limit.limit = u64::MAX / 2;
        }
        self
    }
}

/// Why an [`ExchangeConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A listing's `exchangeInfo` entry does not parse as rules.
    #[error("listing {symbol}: {source}")]
    InvalidListing {
        /// The symbol.
        symbol: String,
        /// What the rules parser said.
        source: market::RulesError,
    },
    /// A replay names a symbol that is not listed.
    #[error("replay for {0}: no such symbol is listed")]
    UnknownReplaySymbol(String),
    /// A rate limit with a zero-length window.
    #[error("rate limit {0}: intervalNum must be at least 1")]
    EmptyRateLimitWindow(&'static str),
    /// A BNB discount outside `[0, 1]`.
    #[error("bnb_discount {0}: must be between 0 and 1")]
    InvalidBnbDiscount(Decimal),
}

/// One listed symbol with its prices and id counters.
#[derive(Debug)]
struct Market {
    listing: Listing,
    prices: PriceSource,
    next_order_id: u64,
    next_trade_id: u64,
}

impl Market {
    fn price_at(&mut self, now_ms: i64) -> Decimal {
        tick_price(self.prices.price_at(now_ms), self.listing.spec.tick_size)
    }
}

/// How `GET /api/v3/order` names the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderLookup {
    /// By `orderId`.
    OrderId(u64),
    /// By `origClientOrderId`.
    ClientOrderId(String),
    /// By both; they must name the same order (-2039 otherwise).
    Both(u64, String),
}

/// What `GET /api/v3/myTrades` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeQuery {
    /// Only this order's trades.
    pub order_id: Option<u64>,
    /// Trades at or after this time, ms.
    pub start_ms: Option<i64>,
    /// Trades at or before this time, ms.
    pub end_ms: Option<i64>,
    /// Trades with this id or a later one.
    pub from_id: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// What `GET /api/v3/allOrders` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllOrdersQuery {
    /// Orders with this id or a later one; ignored when a time is given, as Binance documents.
    pub from_order_id: Option<u64>,
    /// Orders last updated at or after this time, ms.
    pub start_ms: Option<i64>,
    /// Orders last updated at or before this time, ms.
    pub end_ms: Option<i64>,
    /// At most this many.
    pub limit: usize,
}

/// A symbol's last 24 hours on the simulated market (`GET /api/v3/ticker/24hr`), as of now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DayStats {
    /// The window's trades as one kline: it opens 24 hours ago and closes now; its open, high
    /// and low are the window's, its close the last price.
    pub window: Kline,
    /// The last price before the window opened.
    pub prev_close: Decimal,
    /// The size of the last trade: the mean trade of the current second, or of the window when
    /// the current second has not traded (the market reports volumes per second, not per
    /// trade); 0 when nothing traded.
    pub last_qty: Decimal,
    /// The window's first and last trade ids, numbered from the symbol's first trade as the
    /// kline stream numbers them; `None` when nothing traded.
    pub trade_ids: Option<(u64, u64)>,
    /// The best bid and the best ask of the synthetic book (`None` for an empty book).
    pub best_bid: Option<Level>,
    /// See [`best_bid`](Self::best_bid).
    pub best_ask: Option<Level>,
}

/// The simulated exchange.
pub struct Exchange {
    clock: Arc<dyn Clock>,
    markets: BTreeMap<String, Market>,
    accounts: HashMap<String, Account>,
    order_log: Vec<OrderRecord>,
    client_order_id_counter: u64,
    seed: u64,
    bnb_discount: Decimal,
    limiter: RateLimiter,
    refusals: LimitRefusals,
    faults: FaultState,
    revision: u64,
    demo_api_key: Option<String>,
    /// Where changes go once the exchange is durable.
    journal: Option<JournalSink>,
    /// The user data stream's listeners, told of every order and funding of their accounts.
    user_data: UserDataHub,
}

impl Exchange {
    /// An exchange with `config`'s listings and no accounts, on `clock`.
    pub fn new(config: ExchangeConfig, clock: Arc<dyn Clock>) -> Result<Exchange, ConfigError> {
        if let Some(empty) = config
            .rate_limits
            .iter()
            .find(|limit| limit.interval_num == 0)
        {
            return Err(ConfigError::EmptyRateLimitWindow(empty.limit_type.as_str()));
        }
        if config.bnb_discount.is_sign_negative() || config.bnb_discount > Decimal::ONE {
            return Err(ConfigError::InvalidBnbDiscount(config.bnb_discount));
        }
        if let Some(symbol) = config
            .replays
            .keys()
            .find(|symbol| !config.listings.iter().any(|spec| &spec.symbol == *symbol))
        {
            return Err(ConfigError::UnknownReplaySymbol(symbol.clone()));
        }
        let start_ms = clock.now_ms();
        let genesis_ms = start_ms - config.history_ms;
        let mut markets = BTreeMap::new();
        for spec in config.listings {
            let symbol = spec.symbol.clone();
            let prices = match config.replays.get(&symbol) {
                Some(replay) => PriceSource::Replay(ReplayPrices::new(
                    replay,
                    start_ms,
                    config.history_ms,
                    f64::try_from(spec.step_size).unwrap_or(1.0),
                )),
                None => PriceSource::Walk(PriceWalk::new(
                    spec.walk.clone(),
                    config.seed,
                    &symbol,
                    genesis_ms,
                )),
            };
            let listing = spec
                .into_listing()
                .map_err(|source| ConfigError::InvalidListing {
                    symbol: symbol.clone(),
                    source,
                })?;
            markets.insert(
                symbol,
                Market {
                    listing,
                    prices,
                    next_order_id: config.first_order_id.max(1),
                    next_trade_id: 1,
                },
            );
        }
        Ok(Exchange {
            clock,
            markets,
            accounts: HashMap::new(),
            order_log: Vec::new(),
            client_order_id_counter: 0,
            seed: config.seed,
            bnb_discount: config.bnb_discount,
            limiter: RateLimiter::new(config.rate_limits),
            refusals: LimitRefusals::default(),
            faults: FaultState::default(),
            revision: 0,
            demo_api_key: None,
            journal: None,
            user_data: UserDataHub::default(),
        })
    }

    /// The server's time, ms: the clock's plus any injected skew.
    pub fn now_ms(&self) -> i64 {
        self.clock
            .now_ms()
            .saturating_add(self.faults.plan().clock_skew_ms)
    }

    /// The clock the exchange runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Adds (or replaces) the account with this API key and gives it a `uid`.
    pub fn add_account(&mut self, mut account: Account) {
        let key = account.api_key.clone();
        account.uid = match self.accounts.get(&key) {
            Some(replaced) => replaced.uid,
            None => {
                self.accounts
                    .values()
                    .map(|other| other.uid)
                    .max()
                    .unwrap_or(0)
                    + 1
            }
        };
        self.accounts.insert(key.clone(), account);
        self.account_changed(&key);
    }

    /// Counts a change of the account `api_key` and journals the account as it is now; returns
    /// it (`None` when there is no such account).
    fn account_changed(&mut self, api_key: &str) -> Option<&Account> {
        self.revision += 1;
        let account = self.accounts.get(api_key)?;
        if let Some(journal) = &mut self.journal {
            journal.append(Change::Account {
                account: SavedAccount::from_account(account),
            });
        }
        Some(account)
    }

    /// The account with this API key.
    pub fn account(&self, api_key: &str) -> Option<&Account> {
        self.accounts.get(api_key)
    }

    /// Adds `amount` (negative to take) to the balance of `asset` in the account `api_key`, and
    /// tells the account's user data stream (`balanceUpdate`); `None` when there is no such
    /// account.
    pub fn fund(&mut self, api_key: &str, asset: &str, amount: Decimal) -> Option<&Account> {
        let now_ms = self.now_ms();
        let account = self.accounts.get_mut(api_key)?;
        account.add(asset, amount);
        account.update_time_ms = now_ms;
        let delta = BalanceDelta {
            asset: asset.to_owned(),
            delta: amount,
        };
        self.user_data.balances_funded(account, vec![delta], now_ms);
        self.account_changed(api_key)
    }

    /// Turns paying commissions in BNB on or off for the account `api_key`; `None` when there is
    /// no such account.
    pub fn set_commission_in_bnb(&mut self, api_key: &str, enabled: bool) -> Option<&Account> {
        let account = self.accounts.get_mut(api_key)?;
        account.commission_in_bnb = enabled;
        self.account_changed(api_key)
    }

    /// Replaces every balance of the account `api_key` with `balances` (asset, amount): assets not
    /// named are no longer held. The account's user data stream is told of each asset that
    /// changed (`balanceUpdate`). `None` when there is no such account.
    pub fn replace_balances(
        &mut self,
        api_key: &str,
        balances: impl IntoIterator<Item = (String, Decimal)>,
    ) -> Option<&Account> {
        let now_ms = self.now_ms();
        let account = self.accounts.get_mut(api_key)?;
        let previous = std::mem::replace(&mut account.balances, balances.into_iter().collect());
        account.update_time_ms = now_ms;
        if self.user_data.is_watched(api_key) {
            let mut assets: Vec<&String> = previous.keys().chain(account.balances.keys()).collect();
            assets.sort();
            assets.dedup();
            let deltas = assets
                .into_iter()
                .map(|asset| BalanceDelta {
                    asset: asset.clone(),
                    delta: account.balance(asset)
                        - previous.get(asset).copied().unwrap_or_default(),
                })
                .collect();
            self.user_data.balances_funded(account, deltas, now_ms);
        }
        self.account_changed(api_key)
    }

    /// Revokes (`false`) or restores (`true`) the API key `api_key` (see
    /// [`Account::key_enabled`]); `None` when there is no such account.
    pub fn set_key_enabled(&mut self, api_key: &str, enabled: bool) -> Option<&Account> {
        let account = self.accounts.get_mut(api_key)?;
        account.key_enabled = enabled;
        self.account_changed(api_key)
    }

    /// Gives the API key `api_key` the permission to trade, or takes it away (see
    /// [`Account::can_trade`]); `None` when there is no such account.
    pub fn set_can_trade(&mut self, api_key: &str, can_trade: bool) -> Option<&Account> {
        let account = self.accounts.get_mut(api_key)?;
        account.can_trade = can_trade;
        self.account_changed(api_key)
    }

    /// Restricts the API key `api_key` to the addresses in `whitelist` (empty: any address; see
    /// [`Account::ip_whitelist`]), kept in canonical form; `None` when there is no such account.
    pub fn set_ip_whitelist(&mut self, api_key: &str, whitelist: Vec<IpAddr>) -> Option<&Account> {
        let account = self.accounts.get_mut(api_key)?;
        account.ip_whitelist = whitelist.into_iter().map(|ip| ip.to_canonical()).collect();
        self.account_changed(api_key)
    }

    /// The fraction taken off commissions paid in BNB (see [`ExchangeConfig::bnb_discount`]).
    pub fn bnb_discount(&self) -> Decimal {
        self.bnb_discount
    }

    /// A number that grows whenever accounts, balances or the order log change: a state file
    /// needs saving when it differs from the one last saved.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The rate limits enforced (and published).
    pub fn rate_limits(&self) -> &[RateLimit] {
        self.limiter.limits()
    }

    /// Lets a request of `weight` from `ip` through or refuses it (see [`RateLimiter::admit`]).
    pub fn admit_request(&mut self, ip: IpAddr, weight: u64) -> Result<(), Throttle> {
        let now_ms = self.now_ms();
        let admitted = self.limiter.admit(ip, weight, now_ms);
        if let Err(throttle) = &admitted {
            if throttle.banned {
                self.refusals.bans += 1;
            } else {
                self.refusals.throttles += 1;
            }
        }
        admitted
    }

    /// How many requests the rate limits refused since the start (a benchmark under the
    /// production limits proves with it that none was).
    pub fn refusals(&self) -> LimitRefusals {
        self.refusals
    }

    /// Charges a processed request's `weight` to `ip`.
    pub fn charge_request(&mut self, ip: IpAddr, weight: u64) {
        let now_ms = self.now_ms();
        self.limiter.charge(ip, weight, now_ms);
    }

    /// Refuses a new order of `api_key` with -1015 when an ORDERS window is full.
    pub fn admit_order(&mut self, api_key: &str) -> Result<(), Throttle> {
        let now_ms = self.now_ms();
        let admitted = self.limiter.admit_order(api_key, now_ms);
        if admitted.is_err() {
            self.refusals.orders += 1;
        }
        admitted
    }

    /// The usage headers of a response to `ip`: the used weight, and with `orders_of` the
    /// unfilled-order counts of that account.
    pub fn usage_headers(&mut self, ip: IpAddr, orders_of: Option<&str>) -> Vec<(String, u64)> {
        let now_ms = self.now_ms();
        let mut headers = self.limiter.used_weight_headers(ip, now_ms);
        if let Some(api_key) = orders_of {
            headers.extend(self.limiter.order_count_headers(api_key, now_ms));
        }
        headers
    }

    /// The faults in force.
    pub fn faults(&self) -> &FaultPlan {
        self.faults.plan()
    }

    /// The fault state, to decide a request's faults.
    pub(crate) fn fault_state(&mut self) -> &mut FaultState {
        &mut self.faults
    }

    /// Replaces the injected faults with `plan` (an empty plan clears them): symbols it does not
    /// name go back to TRADING.
    pub fn set_faults(&mut self, plan: FaultPlan) -> Result<(), FaultPlanError> {
        plan.validate()?;
        let mut statuses = Vec::with_capacity(plan.symbol_status.len());
        for (symbol, status) in &plan.symbol_status {
            if !self.markets.contains_key(symbol) {
                return Err(FaultPlanError::UnknownSymbol(symbol.clone()));
            }
            match SymbolStatus::from_binance(status) {
                SymbolStatus::Other(_) => {
                    return Err(FaultPlanError::UnknownStatus(status.clone()));
                }
                known => statuses.push((symbol.clone(), known)),
            }
        }
        for market in self.markets.values_mut() {
            market.listing.set_status(SymbolStatus::Trading);
        }
        for (symbol, status) in statuses {
            if let Some(market) = self.markets.get_mut(&symbol) {
                market.listing.set_status(status);
            }
        }
        self.faults = FaultState::new(plan);
        Ok(())
    }

    /// Switches `symbol` to `status` (Binance's spelling), keeping the other faults and their
    /// triggers as they are.
    pub fn set_symbol_status(&mut self, symbol: &str, status: &str) -> Result<(), FaultPlanError> {
        let market = self
            .markets
            .get_mut(symbol)
            .ok_or_else(|| FaultPlanError::UnknownSymbol(symbol.to_owned()))?;
        let known = match SymbolStatus::from_binance(status) {
            SymbolStatus::Other(_) => return Err(FaultPlanError::UnknownStatus(status.to_owned())),
            known => known,
        };
        let statuses = self.faults.symbol_status_mut();
        if known == SymbolStatus::Trading {
            statuses.remove(symbol);
        } else {
            statuses.insert(symbol.to_owned(), status.to_owned());
        }
        market.listing.set_status(known);
        Ok(())
    }

    /// Every listed symbol, by name.
    pub fn listings(&self) -> impl Iterator<Item = &Listing> {
        self.markets.values().map(|market| &market.listing)
    }

    /// The listing of `symbol`.
    pub fn listing(&self, symbol: &str) -> Option<&Listing> {
        self.markets.get(symbol).map(|market| &market.listing)
    }

    /// The last trade price of `symbol` now, on its tick grid.
    pub fn last_price(&mut self, symbol: &str) -> Option<Decimal> {
        let now_ms = self.now_ms();
        Some(self.markets.get_mut(symbol)?.price_at(now_ms))
    }

    /// The klines of `symbol` that `query` selects, as of now.
    pub fn klines(&mut self, symbol: &str, query: KlineQuery) -> Result<Vec<Kline>, ApiError> {
        let now_ms = self.now_ms();
        let market = self
            .markets
            .get_mut(symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        let grid = KlineGrid {
            tick_size: market.listing.spec.tick_size,
            step_size: market.listing.spec.step_size,
        };
        Ok(query_klines(&mut market.prices, grid, query, now_ms))
    }

    /// How many trades of the simulated market happened on `symbol` before `time_ms` (numbers
    /// the kline stream's first and last trade ids); `None` for an unknown symbol.
    pub fn trades_before(&mut self, symbol: &str, time_ms: i64) -> Option<u64> {
        let now_ms = self.now_ms();
        let prices = &mut self.markets.get_mut(symbol)?.prices;
        let genesis_ms = prices.genesis_ms();
        Some(
            prices
                .bar_between(genesis_ms, time_ms, now_ms)
                .map_or(0, |bar| bar.trades),
        )
    }

    /// The simulated market's trades on `symbol` from `from_ms` (inclusive) to `until_ms`
    /// (exclusive) as of now, as one kline on the symbol's grids (what the trade streams split
    /// into trades, and the mini ticker's 24 hours); `None` for an unknown symbol or a span
    /// without a second that has happened.
    pub(crate) fn market_span(
        &mut self,
        symbol: &str,
        from_ms: i64,
        until_ms: i64,
    ) -> Option<Kline> {
        let now_ms = self.now_ms();
        let market = self.markets.get_mut(symbol)?;
        let grid = KlineGrid {
            tick_size: market.listing.spec.tick_size,
            step_size: market.listing.spec.step_size,
        };
        let bar = market.prices.bar_between(from_ms, until_ms, now_ms)?;
        Some(to_kline(from_ms, until_ms - 1, bar, grid))
    }

    /// When the simulated market of `symbol` traded first, ms; `None` for an unknown symbol.
    pub(crate) fn market_genesis_ms(&self, symbol: &str) -> Option<i64> {
        Some(self.markets.get(symbol)?.prices.genesis_ms())
    }

    /// The user data stream's listeners (see [`crate::user_data`]).
    pub(crate) fn user_data(&mut self) -> &mut UserDataHub {
        &mut self.user_data
    }

    /// Executes a MARKET order for the account `api_key` against the synthetic book, or rejects it
    /// with Binance's error. `deadline_ms` is the request's `timestamp + recvWindow`, the window
    /// scaled to market time by the clock's speed (see `http::auth`): the exchange re-reads its
    /// clock just before matching and rejects with -1021 past it, as Binance's matching engine
    /// does.
    ///
    /// Binance refuses a `newClientOrderId` only while an order with it is open. MARKET orders are
    /// never left open, so a repeated id is accepted as a new order: resending a MARKET order
    /// whose outcome is unknown executes it twice. Clients must query by the id before resending.
    ///
    /// An order that reaches the matching engine (it executes, or fails the engine's recvWindow
    /// re-check) is counted against the account's unfilled-order limits unless it traded.
    pub fn place_market_order(
        &mut self,
        api_key: &str,
        order: NewMarketOrder,
        deadline_ms: i64,
    ) -> Result<OrderRecord, ApiError> {
        let price = self.check_order_like_the_api(api_key, &order)?;
        let account = self
            .accounts
            .get(api_key)
            .ok_or_else(ApiError::api_key_rejected)?;
        let (commission_rate, in_bnb) = (account.commission_rate, account.commission_in_bnb);
        let now_ms = self.now_ms();
        let bnb_price = if in_bnb {
            self.bnb_price_for(&order.symbol, now_ms)
        } else {
            None
        };
        let market = self
            .markets
            .get_mut(&order.symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        let rules = &market.listing.rules;
        if matches!(order.size, OrderSize::Quote(_)) && !rules.quote_order_qty_market_allowed {
            return Err(ApiError::quote_order_qty_not_allowed());
        }
        if rules.status != SymbolStatus::Trading {
            return Err(ApiError::market_closed());
        }
        if now_ms > deadline_ms {
            self.limiter.count_order(api_key, false, now_ms);
            return Err(ApiError::timestamp_outside_recv_window());
        }

        let account = self
            .accounts
            .get(api_key)
            .ok_or_else(ApiError::api_key_rejected)?;
        let spec = &market.listing.spec;
        let levels = spec.book.levels_for(order.side, price, spec.tick_size);
        let execution = execute(&levels, order.size, spec.step_size);
        let (paid_asset, paid, received_asset) = match order.side {
            Side::Buy => (&spec.quote_asset, execution.quote_qty(), &spec.base_asset),
            Side::Sell => (
                &spec.base_asset,
                execution.executed_qty(),
                &spec.quote_asset,
            ),
        };
        if account.balance(paid_asset) < paid {
            return Err(ApiError::insufficient_balance());
        }

        // In BNB when enabled, priced, and the account holds BNB for the whole order's
        // commission (and for what it pays, when it pays in BNB); otherwise in the asset received.
        let bnb_commissions = bnb_price.and_then(|bnb_price| {
            let commissions: Vec<Decimal> = execution
                .matches
                .iter()
                .map(|traded| {
                    bnb_commission(
                        traded.price * traded.qty,
                        commission_rate,
                        self.bnb_discount,
                        bnb_price,
                    )
                })
                .collect();
            let needed = commissions.iter().sum::<Decimal>()
                + if paid_asset == BNB {
                    paid
                } else {
                    Decimal::ZERO
                };
            (account.balance(BNB) >= needed).then_some(commissions)
        });
        let commission_asset = match bnb_commissions {
            Some(_) => BNB.to_owned(),
            None => received_asset.clone(),
        };

        let (paid_asset, received_asset) = (paid_asset.clone(), received_asset.clone());
        let fills: Vec<Fill> = execution
            .matches
            .iter()
            .enumerate()
            .map(|(index, traded)| {
                let received = match order.side {
                    Side::Buy => traded.qty,
                    Side::Sell => traded.price * traded.qty,
                };
                let trade_id = market.next_trade_id;
                market.next_trade_id += 1;
                let commission = match &bnb_commissions {
                    Some(commissions) => commissions[index],
                    None => (received * commission_rate).round_dp_with_strategy(
                        COMMISSION_DECIMALS,
                        RoundingStrategy::MidpointAwayFromZero,
                    ),
                };
                Fill {
                    trade_id,
                    price: traded.price,
                    qty: traded.qty,
                    commission,
                    commission_asset: commission_asset.clone(),
                }
            })
            .collect();
        let order_id = market.next_order_id;
        market.next_order_id += 1;
        let received = match order.side {
            Side::Buy => execution.executed_qty(),
            Side::Sell => execution.quote_qty(),
        };
        let commission: Decimal = fills.iter().map(|fill| fill.commission).sum();

        let account = self
            .accounts
            .get_mut(api_key)
            .ok_or_else(ApiError::api_key_rejected)?;
        account.add(&paid_asset, -paid);
        account.add(&received_asset, received);
        account.add(&commission_asset, -commission);
        account.update_time_ms = now_ms;
        self.revision += 1;

        let client_order_id = match order.client_order_id {
            Some(id) => id,
            None => self.generate_client_order_id(),
        };
        self.limiter.count_order(api_key, !fills.is_empty(), now_ms);
        let record = OrderRecord {
            symbol: order.symbol,
            order_id,
            client_order_id,
            api_key: api_key.to_owned(),
            side: order.side,
            size: order.size,
            status: if execution.complete {
                OrderStatus::Filled
            } else {
                OrderStatus::Expired
            },
            fills,
            transact_time_ms: now_ms,
        };
        self.order_log.push(record.clone());
        if let Some(account) = self.accounts.get(api_key) {
            let assets = [&paid_asset, &received_asset, &commission_asset].map(String::as_str);
            self.user_data.order_executed(&record, account, assets);
        }
        if let Some(journal) = &mut self.journal
            && let Some(account) = self.accounts.get(api_key)
        {
            let balances = [paid_asset, received_asset, commission_asset]
                .into_iter()
                .map(|asset| {
                    let amount = account.balance(&asset);
                    (asset, amount)
                })
                .collect();
            journal.append(Change::Order {
                order: SavedOrder::from_record(&record),
                balances,
                client_order_id_counter: self.client_order_id_counter,
            });
        }
        Ok(record)
    }

    /// The price of one BNB in the quote asset of `symbol`: 1 when the quote is BNB, else the
    /// last price of `BNB<quote>` when it is listed.
    fn bnb_price_for(&mut self, symbol: &str, now_ms: i64) -> Option<Decimal> {
        let quote = &self.markets.get(symbol)?.listing.spec.quote_asset;
        if quote == BNB {
            return Some(Decimal::ONE);
        }
        let bnb_symbol = format!("{BNB}{quote}");
        let price = self.markets.get_mut(&bnb_symbol)?.price_at(now_ms);
        (price > Decimal::ZERO).then_some(price)
    }

    /// Checks a MARKET order as `POST /api/v3/order/test` does: the API's checks (account,
    /// symbol, precision, filters), not the matching engine's (-2010: market closed, balance).
    /// Returns the account's commission rate.
    pub fn test_market_order(
        &mut self,
        api_key: &str,
        order: &NewMarketOrder,
    ) -> Result<Decimal, ApiError> {
        self.check_order_like_the_api(api_key, order)?;
        self.accounts
            .get(api_key)
            .map(|account| account.commission_rate)
            .ok_or_else(ApiError::api_key_rejected)
    }

    /// The checks made before an order reaches the matching engine; returns the current price.
    fn check_order_like_the_api(
        &mut self,
        api_key: &str,
        order: &NewMarketOrder,
    ) -> Result<Decimal, ApiError> {
        if !self.accounts.contains_key(api_key) {
            return Err(ApiError::api_key_rejected());
        }
        let now_ms = self.now_ms();
        let market = self
            .markets
            .get_mut(&order.symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        let price = market.price_at(now_ms);
        let rules = &market.listing.rules;
        match order.size {
            OrderSize::Base(qty) if qty.normalize().scale() > rules.base_asset_precision => {
                return Err(ApiError::too_much_precision("quantity"));
            }
            OrderSize::Quote(amount)
                if amount.normalize().scale() > rules.quote_asset_precision =>
            {
                return Err(ApiError::too_much_precision("quoteOrderQty"));
            }
            _ => {}
        }
        check_market_order(rules, order.size, price)
            .map_err(|failure| ApiError::filter_failure(failure.filter_type()))?;
        Ok(price)
    }

    /// The order of account `api_key` on `symbol` named by `lookup`. A client order id used by
    /// several orders names the most recent one. Orders younger than `not_queryable_ms` are not
    /// found yet (-2013), as right after placement on the real exchange.
    pub fn find_order(
        &self,
        api_key: &str,
        symbol: &str,
        lookup: &OrderLookup,
        not_queryable_ms: u64,
    ) -> Result<&OrderRecord, ApiError> {
        let mut own_orders = self
            .visible_orders(api_key, symbol, not_queryable_ms)?
            .rev();
        let found = match lookup {
            OrderLookup::OrderId(id) | OrderLookup::Both(id, _) => {
                own_orders.find(|order| order.order_id == *id)
            }
            OrderLookup::ClientOrderId(client_id) => {
                own_orders.find(|order| &order.client_order_id == client_id)
            }
        }
        .ok_or_else(ApiError::order_does_not_exist)?;
        if let OrderLookup::Both(_, client_id) = lookup
            && &found.client_order_id != client_id
        {
            return Err(ApiError::client_order_id_mismatch());
        }
        Ok(found)
    }

    /// The orders of account `api_key` on `symbol` (`GET /api/v3/allOrders`) that `query`
    /// selects, oldest first: from a starting point (`startTime`, or `orderId` without a time) the
    /// oldest after it, otherwise the newest. Orders younger than `not_queryable_ms` are not
    /// shown yet, as in [`find_order`](Self::find_order).
    pub fn all_orders(
        &self,
        api_key: &str,
        symbol: &str,
        query: &AllOrdersQuery,
        not_queryable_ms: u64,
    ) -> Result<Vec<&OrderRecord>, ApiError> {
        let by_time = query.start_ms.is_some() || query.end_ms.is_some();
        let from_order_id = query.from_order_id.filter(|_| !by_time);
        let selected: Vec<&OrderRecord> = self
            .visible_orders(api_key, symbol, not_queryable_ms)?
            .filter(|order| from_order_id.is_none_or(|from| order.order_id >= from))
            .filter(|order| {
                query
                    .start_ms
                    .is_none_or(|start| order.transact_time_ms >= start)
            })
            .filter(|order| query.end_ms.is_none_or(|end| order.transact_time_ms <= end))
            .collect();
        let skip = if query.start_ms.is_some() || from_order_id.is_some() {
            0
        } else {
            selected.len().saturating_sub(query.limit)
        };
        Ok(selected.into_iter().skip(skip).take(query.limit).collect())
    }

    /// The trades of account `api_key` on `symbol` that `query` selects, oldest first, each with
    /// its order. The trades of orders younger than `not_queryable_ms` are not shown yet, as in
    /// [`find_order`](Self::find_order).
    pub fn my_trades(
        &self,
        api_key: &str,
        symbol: &str,
        query: &TradeQuery,
        not_queryable_ms: u64,
    ) -> Result<Vec<(&OrderRecord, &Fill)>, ApiError> {
        let selected: Vec<(&OrderRecord, &Fill)> = self
            .visible_orders(api_key, symbol, not_queryable_ms)?
            .filter(|order| query.order_id.is_none_or(|id| order.order_id == id))
            .filter(|order| {
                query
                    .start_ms
                    .is_none_or(|start| order.transact_time_ms >= start)
            })
            .filter(|order| query.end_ms.is_none_or(|end| order.transact_time_ms <= end))
            .flat_map(|order| order.fills.iter().map(move |fill| (order, fill)))
            .filter(|(_, fill)| query.from_id.is_none_or(|from| fill.trade_id >= from))
            .collect();
        // From a starting point: the oldest trades after it; otherwise the newest ones.
        let skip = if query.from_id.is_some() || query.start_ms.is_some() {
            0
        } else {
            selected.len().saturating_sub(query.limit)
        };
        Ok(selected.into_iter().skip(skip).take(query.limit).collect())
    }

    /// The orders of account `api_key` on `symbol`, oldest first, without those younger than
    /// `not_queryable_ms` (an injected fault: the exchange does not show them yet); -1121 when
    /// `symbol` is not listed.
    fn visible_orders<'log: 'query, 'query>(
        &'log self,
        api_key: &'query str,
        symbol: &'query str,
        not_queryable_ms: u64,
    ) -> Result<impl DoubleEndedIterator<Item = &'log OrderRecord> + 'query, ApiError> {
        if !self.markets.contains_key(symbol) {
            return Err(ApiError::invalid_symbol());
        }
        let visible_until_ms = self
            .now_ms()
            .saturating_sub(i64::try_from(not_queryable_ms).unwrap_or(i64::MAX));
        Ok(self
            .order_log
            .iter()
            .filter(move |order| order.api_key == api_key && order.symbol == symbol)
            .filter(move |order| {
                not_queryable_ms == 0 || order.transact_time_ms <= visible_until_ms
            }))
    }

    /// The synthetic book of `symbol` now: up to `limit` bids (highest first) and asks (lowest
    /// first), the same levels MARKET orders walk.
    pub(crate) fn depth(
        &mut self,
        symbol: &str,
        limit: usize,
    ) -> Result<(Vec<Level>, Vec<Level>), ApiError> {
        let now_ms = self.now_ms();
        let market = self
            .markets
            .get_mut(symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        let price = market.price_at(now_ms);
        let spec = &market.listing.spec;
        let side = |side| {
            let mut levels = spec.book.levels_for(side, price, spec.tick_size);
            levels.truncate(limit);
            levels
        };
        Ok((side(Side::Sell), side(Side::Buy)))
    }

    /// The last 24 hours of `symbol` on the simulated market (its price walk or replay), and
    /// its book's best levels now; -1121 when it is not listed.
    pub(crate) fn day_stats(&mut self, symbol: &str) -> Result<DayStats, ApiError> {
        let now_ms = self.now_ms();
        let (bids, asks) = self.depth(symbol, 1)?;
        let market = self
            .markets
            .get_mut(symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        let spec = &market.listing.spec;
        let grid = KlineGrid {
            tick_size: spec.tick_size,
            step_size: spec.step_size,
        };
        let open_ms = now_ms - DAY_MS;
        let prices = &mut market.prices;
        let bar = prices
            .bar_between(open_ms, now_ms + 1, now_ms)
            .unwrap_or_else(|| RawBar::flat(prices.price_at(now_ms)));
        let prev_close = tick_price(prices.price_at(open_ms - 1), grid.tick_size);
        let genesis_ms = prices.genesis_ms();
        let trades_before = prices
            .bar_between(genesis_ms, open_ms, now_ms)
            .map_or(0, |earlier| earlier.trades);
        let second_ms = now_ms.div_euclid(1_000) * 1_000;
        let last_trades = prices
            .bar_between(second_ms, now_ms + 1, now_ms)
            .filter(|second| second.trades > 0)
            .unwrap_or(bar);
        let last_qty = match last_trades.volume_units.checked_div(last_trades.trades) {
            Some(units) => Decimal::from(units.max(1)) * grid.step_size,
            None => Decimal::ZERO,
        };
        let trade_ids = (bar.trades > 0).then(|| {
            let first = trades_before + 1;
            (first, first + bar.trades - 1)
        });
        Ok(DayStats {
            window: to_kline(open_ms, now_ms, bar, grid),
            prev_close,
            last_qty,
            trade_ids,
            best_bid: bids.first().copied(),
            best_ask: asks.first().copied(),
        })
    }

    /// Whether commissions on `symbol` can be paid in BNB at the discount: the account must
    /// enable it, and the exchange must price BNB in the symbol's quote asset (see
    /// [`place_market_order`](Self::place_market_order)); -1121 when `symbol` is not listed.
    pub(crate) fn bnb_discount_applies(&mut self, symbol: &str) -> Result<bool, ApiError> {
        if !self.markets.contains_key(symbol) {
            return Err(ApiError::invalid_symbol());
        }
        let now_ms = self.now_ms();
        Ok(self.bnb_price_for(symbol, now_ms).is_some())
    }

    /// The volume-weighted average trade price of `symbol` over the last
    /// [`AVG_PRICE_MINUTES`] minutes (`GET /api/v3/avgPrice`), with 8 decimals.
    pub fn avg_price(&mut self, symbol: &str) -> Result<Decimal, ApiError> {
        let now_ms = self.now_ms();
        let market = self
            .markets
            .get_mut(symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        let window_start_ms = now_ms - AVG_PRICE_MINUTES * 60_000;
        let average = market
            .prices
            .bar_between(window_start_ms, now_ms + 1, now_ms)
            .filter(|bar| bar.volume_units > 0)
            .and_then(|bar| Decimal::from_f64_retain(bar.quote_units / bar.volume_units as f64));
        Ok(match average {
            Some(average) => average.round_dp(8),
            // No trades in the window (the symbol was just listed): the last price.
            None => market.price_at(now_ms),
        })
    }

    /// Every executed order, oldest first: the ground truth.
    pub fn order_log(&self) -> &[OrderRecord] {
        &self.order_log
    }

    /// The API key of the demo account (the one `spotbot sim` creates and prints), which the
    /// state file keeps so that a restart keeps the account.
    pub fn demo_api_key(&self) -> Option<&str> {
        self.demo_api_key.as_deref()
    }

    /// Names the demo account's API key (see [`demo_api_key`](Self::demo_api_key)).
    pub fn set_demo_api_key(&mut self, api_key: Option<String>) {
        if let Some(journal) = &mut self.journal {
            journal.append(Change::DemoAccount {
                api_key: api_key.clone(),
            });
        }
        self.demo_api_key = api_key;
        self.revision += 1;
    }

    /// From now on journals every change to what the state file keeps, after the record
    /// `last_seq` (see [`crate::durable`]).
    pub(crate) fn attach_journal(&mut self, journal: Arc<Journal>, last_seq: u64) {
        self.journal = Some(JournalSink::new(journal, last_seq));
    }

    /// What an answer given now waits for before it goes out: the journal's records of every
    /// change made so far (`None` when they are on disk, or the exchange is not durable).
    pub(crate) fn journal_ticket(&self) -> Option<DurableTicket> {
        self.journal.as_ref().and_then(JournalSink::pending)
    }

    /// What the state file keeps: accounts, the order log, the id counters, the demo account's
    /// key and the market time.
    pub fn save_state(&self) -> SavedState {
        let mut state = self.save_state_but_orders();
        state.order_log = self.saved_orders(0..self.order_log.len());
        state
    }

    /// What the state file keeps but the order log: see [`save_state`](Self::save_state).
    pub(crate) fn save_state_but_orders(&self) -> SavedState {
        let mut accounts: Vec<SavedAccount> = self
            .accounts
            .values()
            .map(SavedAccount::from_account)
            .collect();
        accounts.sort_by_key(|account| account.uid_and_key());
        let mut state = SavedState::new(
            self.client_order_id_counter,
            self.markets
                .iter()
                .map(|(symbol, market)| {
                    let counters = SavedCounters {
                        next_order_id: market.next_order_id,
                        next_trade_id: market.next_trade_id,
                    };
                    (symbol.clone(), counters)
                })
                .collect(),
            accounts,
            Vec::new(),
        );
        state.market_time_ms = Some(self.now_ms());
        state.demo_api_key = self.demo_api_key.clone();
        state
    }

    /// The orders `range` of the log (in its order) as the state file keeps them. While the
    /// exchange is durable the log only grows, so a range read once reads the same later.
    pub(crate) fn saved_orders(&self, range: std::ops::Range<usize>) -> Vec<SavedOrder> {
        self.order_log
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(SavedOrder::from_record)
            .collect()
    }

    /// How many orders the log holds.
    pub(crate) fn order_count(&self) -> usize {
        self.order_log.len()
    }

    /// Restores `state`, read from the file `path` (named in errors): its accounts replace
    /// those with the same API keys (others stay), its order log replaces the log, the id
    /// counters continue after the saved ones, and its demo account's key (if any) is kept.
    /// Nothing changes when it fails. Refused once the exchange is durable: the journal would
    /// not hold what changed (restore before serving it).
    pub fn restore_state(&mut self, path: &Path, state: SavedState) -> Result<(), StateError> {
        if self.journal.is_some() {
            return Err(StateError::AlreadyDurable {
                path: path.to_owned(),
            });
        }
        let unusable = |reason: String| corrupt(path, reason);
        if let Some(symbol) = state
            .counters
            .keys()
            .map(String::as_str)
            .chain(state.order_log.iter().map(SavedOrder::symbol))
            .find(|symbol| !self.markets.contains_key(*symbol))
        {
            return Err(unusable(format!(
                "it has orders of {symbol}, which is not listed"
            )));
        }
        let accounts = state
            .accounts
            .into_iter()
            .map(SavedAccount::into_account)
            .collect::<Result<Vec<Account>, String>>()
            .map_err(unusable)?;
        let order_log = state
            .order_log
            .into_iter()
            .map(SavedOrder::into_record)
            .collect::<Result<Vec<OrderRecord>, String>>()
            .map_err(unusable)?;

        for (symbol, market) in &mut self.markets {
            let saved = state.counters.get(symbol);
            let orders = order_log.iter().filter(|order| &order.symbol == symbol);
            let last_order = orders.clone().map(|order| order.order_id).max();
            let last_trade = orders
                .flat_map(|order| order.fills.iter().map(|fill| fill.trade_id))
                .max();
            market.next_order_id = [
                market.next_order_id,
                saved.map_or(1, |saved| saved.next_order_id),
                last_order.map_or(1, |id| id.saturating_add(1)),
            ]
            .into_iter()
            .max()
            .unwrap_or(1);
            market.next_trade_id = [
                market.next_trade_id,
                saved.map_or(1, |saved| saved.next_trade_id),
                last_trade.map_or(1, |id| id.saturating_add(1)),
            ]
            .into_iter()
            .max()
            .unwrap_or(1);
        }
        self.client_order_id_counter = self
            .client_order_id_counter
            .max(state.client_order_id_counter);
        for account in accounts {
            self.accounts.insert(account.api_key.clone(), account);
        }
        self.order_log = order_log;
        if let Some(api_key) = state.demo_api_key {
            self.demo_api_key = Some(api_key);
        }
        self.revision += 1;
        Ok(())
    }

    /// A 22-character id like Binance's, unique within this exchange and reproducible per seed.
    fn generate_client_order_id(&mut self) -> String {
        self.client_order_id_counter += 1;
        let mut state = self.seed
            ^ self
                .client_order_id_counter
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut id = String::with_capacity(CLIENT_ORDER_ID_LENGTH);
        // A counter prefix keeps ids unique whatever the mixing does.
        id.push_str(&format!("sim{}x", self.client_order_id_counter));
        while id.len() < CLIENT_ORDER_ID_LENGTH {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let index = (state >> 33) as usize % CLIENT_ORDER_ID_ALPHABET.len();
            id.push(CLIENT_ORDER_ID_ALPHABET[index] as char);
        }
        id
    }
}

/// The commission rate of a new demo account: Binance's standard spot taker fee.
pub const STANDARD_COMMISSION_RATE: Decimal = dec!(0.001);
/// Binance's discount on commissions paid in BNB: 25 % off.
pub const STANDARD_BNB_DISCOUNT: Decimal = dec!(0.25);
/// The asset commissions can be paid in at a discount.
const BNB: &str = "BNB";

/// The commission in BNB of a trade worth `quote_value` (in the symbol's quote asset): the
/// account's `rate` less `discount`, converted at `bnb_price` (quote per BNB), rounded to
/// [`COMMISSION_DECIMALS`] half away from zero.
fn bnb_commission(
    quote_value: Decimal,
    rate: Decimal,
    discount: Decimal,
    bnb_price: Decimal,
) -> Decimal {
    let in_quote = quote_value * rate * (Decimal::ONE - discount);
    in_quote
        .checked_div(bnb_price)
        .unwrap_or_default()
        .round_dp_with_strategy(COMMISSION_DECIMALS, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bnb_commission_is_the_discounted_rate_converted_at_the_bnb_price() {
        // 0.5 BTC at 60,000 = 30,000 USDT; 0.1 % = 30 USDT; 25 % off = 22.5 USDT; at 600 USDT/BNB
        // that is 0.0375 BNB.
        assert_eq!(
            bnb_commission(dec!(30000), dec!(0.001), dec!(0.25), dec!(600)),
            dec!(0.0375)
        );
        // 1/3 rounds to 8 decimals, half away from zero.
        assert_eq!(
            bnb_commission(dec!(1), dec!(1), dec!(0), dec!(3)),
            dec!(0.33333333)
        );
        assert_eq!(
            bnb_commission(dec!(2), dec!(1), dec!(0), dec!(3)),
            dec!(0.66666667)
        );
        assert_eq!(
            bnb_commission(dec!(10), dec!(0.001), dec!(0.25), dec!(0)),
            dec!(0)
        );
    }
}
