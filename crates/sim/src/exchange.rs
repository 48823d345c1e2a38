//! [`Exchange`]: the simulator's whole state (listed symbols with their price walks, accounts,
//! the order log) and the operations the HTTP layer exposes, free of HTTP.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;

use market::{Side, SymbolStatus};

use crate::account::Account;
use crate::book::{OrderSize, execute};
use crate::clock::Clock;
use crate::error::ApiError;
use crate::filters::check_market_order;
use crate::klines::{Kline, KlineGrid, KlineQuery, query_klines, tick_price};
use crate::listing::{Listing, ListingSpec};
use crate::order::{Fill, NewMarketOrder, OrderRecord, OrderStatus};
use crate::walk::PriceWalk;

/// The decimals commissions are rounded to (`baseCommissionPrecision`/`quoteCommissionPrecision`).
const COMMISSION_DECIMALS: u32 = 8;
/// The length of generated client order ids, as Binance's (`6gCrw2kRUAF9CvJDGP16IP`).
const CLIENT_ORDER_ID_LENGTH: usize = 22;
const CLIENT_ORDER_ID_ALPHABET: &[u8] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

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
}

impl Default for ExchangeConfig {
    /// Seed 1, seven days of history, BTCUSDT and ETHUSDT.
    fn default() -> Self {
        ExchangeConfig {
            seed: 1,
            history_ms: 7 * 24 * 3_600_000,
            listings: vec![ListingSpec::btcusdt(), ListingSpec::ethusdt()],
        }
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
}

/// One listed symbol with its price walk and id counters.
#[derive(Debug)]
struct Market {
    listing: Listing,
    walk: PriceWalk,
    next_order_id: u64,
    next_trade_id: u64,
}

impl Market {
    fn price_at(&mut self, now_ms: i64) -> Decimal {
        tick_price(self.walk.price_at(now_ms), self.listing.spec.tick_size)
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

/// The simulated exchange.
pub struct Exchange {
    clock: Arc<dyn Clock>,
    markets: BTreeMap<String, Market>,
    accounts: HashMap<String, Account>,
    order_log: Vec<OrderRecord>,
    client_order_id_counter: u64,
    seed: u64,
}

impl Exchange {
    /// An exchange with `config`'s listings and no accounts, on `clock`.
    pub fn new(config: ExchangeConfig, clock: Arc<dyn Clock>) -> Result<Exchange, ConfigError> {
        let genesis_ms = clock.now_ms() - config.history_ms;
        let mut markets = BTreeMap::new();
        for spec in config.listings {
            let symbol = spec.symbol.clone();
            let walk = PriceWalk::new(spec.walk.clone(), config.seed, &symbol, genesis_ms);
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
                    walk,
                    next_order_id: 1,
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
        })
    }

    /// The server's time, ms.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The clock the exchange runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Adds (or replaces) the account with this API key and gives it a `uid`.
    pub fn add_account(&mut self, mut account: Account) {
        let key = account.credentials.api_key.clone();
        account.uid = match self.accounts.get(&key) {
            Some(replaced) => replaced.uid,
            None => self.accounts.len() as u64 + 1,
        };
        self.accounts.insert(key, account);
    }

    /// The account with this API key.
    pub fn account(&self, api_key: &str) -> Option<&Account> {
        self.accounts.get(api_key)
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
        Ok(query_klines(&mut market.walk, grid, query, now_ms))
    }

    /// Executes a MARKET order for the account `api_key` against the synthetic book, or rejects it
    /// with Binance's error. `deadline_ms` is the request's `timestamp + recvWindow`: the exchange
    /// re-reads its clock just before matching and rejects with -1021 past it, as Binance's
    /// matching engine does.
    ///
    /// Binance refuses a `newClientOrderId` only while an order with it is open. MARKET orders are
    /// never left open, so a repeated id is accepted as a new order: resending a MARKET order
    /// whose outcome is unknown executes it twice. Clients must query by the id before resending.
    pub fn place_market_order(
        &mut self,
        api_key: &str,
        order: NewMarketOrder,
        deadline_ms: i64,
    ) -> Result<OrderRecord, ApiError> {
        let account = self
            .accounts
            .get(api_key)
            .ok_or_else(ApiError::api_key_rejected)?;
        let commission_rate = account.commission_rate;
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
            OrderSize::Quote(_) if !rules.quote_order_qty_market_allowed => {
                return Err(ApiError::quote_order_qty_not_allowed());
            }
            _ => {}
        }
        if rules.status != SymbolStatus::Trading {
            return Err(ApiError::market_closed());
        }
        check_market_order(rules, order.size, price)
            .map_err(|failure| ApiError::filter_failure(failure.filter_type()))?;
        if now_ms > deadline_ms {
            return Err(ApiError::timestamp_outside_recv_window());
        }

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

        let (paid_asset, received_asset) = (paid_asset.clone(), received_asset.clone());
        let fills: Vec<Fill> = execution
            .matches
            .iter()
            .map(|traded| {
                let received = match order.side {
                    Side::Buy => traded.qty,
                    Side::Sell => traded.price * traded.qty,
                };
                let trade_id = market.next_trade_id;
                market.next_trade_id += 1;
                Fill {
                    trade_id,
                    price: traded.price,
                    qty: traded.qty,
                    commission: (received * commission_rate).round_dp_with_strategy(
                        COMMISSION_DECIMALS,
                        RoundingStrategy::MidpointAwayFromZero,
                    ),
                    commission_asset: received_asset.clone(),
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
        account.add(&received_asset, received - commission);
        account.update_time_ms = now_ms;

        let client_order_id = match order.client_order_id {
            Some(id) => id,
            None => self.generate_client_order_id(),
        };
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
        Ok(record)
    }

    /// The order of account `api_key` on `symbol` named by `lookup`. A client order id used by
    /// several orders names the most recent one.
    pub fn find_order(
        &self,
        api_key: &str,
        symbol: &str,
        lookup: &OrderLookup,
    ) -> Result<&OrderRecord, ApiError> {
        if !self.markets.contains_key(symbol) {
            return Err(ApiError::invalid_symbol());
        }
        let mut own_orders = self
            .order_log
            .iter()
            .rev()
            .filter(|order| order.api_key == api_key && order.symbol == symbol);
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

    /// Every executed order, oldest first: the ground truth.
    pub fn order_log(&self) -> &[OrderRecord] {
        &self.order_log
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
