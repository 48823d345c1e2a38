//! `sim`: a local Binance-compatible spot exchange, served over loopback HTTP with Binance's paths,
//! parameters, JSON shapes, signatures and error codes, so that clients and bots are tested
//! against the exchange's documented behaviour instead of canned answers.
//!
//! What it does today: seeded random-walk prices and klines per symbol, or prices replayed from a
//! candle file ([`CandleReplay`]), Binance's market streams (`/ws/<stream>` and
//! `/stream?streams=..`: klines, trades, aggregate trades, book ticker, mini tickers, with live
//! SUBSCRIBE/UNSUBSCRIBE and Binance's limits), the user data stream of the WebSocket API
//! (`/ws-api/v3`, `userDataStream.subscribe.signature`), a synthetic order book
//! that MARKET orders walk (and `depth` shows), every MARKET-order filter with Binance's -1013
//! messages, balances and commissions in `Decimal`, HMAC-SHA256 and Ed25519 request signing with the
//! `timestamp`/`recvWindow` rule, Binance's rate limits (weights, the unfilled-order count, 429
//! and escalating 418 bans, all configurable and published in `exchangeInfo`), seeded fault
//! injection ([`FaultPlan`]), an admin API under [`ADMIN_PREFIX`] for loopback clients, and an
//! order log that is the ground truth for tests. API keys can be revoked, restricted to IP
//! addresses or denied trading, and are then refused with -2015 as on Binance
//! ([`Account::key_enabled`], [`Account::ip_whitelist`], [`Account::can_trade`]). Commissions
//! are charged in the asset received, or in BNB at a discount ([`ExchangeConfig::bnb_discount`])
//! for accounts that enable it; accounts can come from a TOML file ([`read_accounts_file`]);
//! accounts (with their keys' state), balances and the order log can be saved to and restored
//! from a state file ([`save_state`], [`load_state`]), or kept durably: every change journaled
//! and on disk before the request that made it is answered, replayed at start and compacted into
//! the state file now and then ([`DurableState`], [`ServeOptions::durable`]; see the `durable`
//! module). The admin API also answers other machines that send the exchange's
//! [`AdminToken`], and `GET /_sim/clock` answers anyone with the clock's speed.
//!
//! Speed: `cargo run --release -p sim --example order_load` drives it with concurrent signed
//! MARKET orders over loopback (over 20,000 orders/s on 2 vCPUs, client included; see
//! `docs/BENCHMARKS.md`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use sim::{Account, Credentials, Exchange, ExchangeConfig, SystemClock};
//!
//! let mut exchange = Exchange::new(ExchangeConfig::default(), Arc::new(SystemClock::new()))?;
//! let credentials = Credentials::generate();
//! exchange.add_account(Account::new(
//!     credentials.clone(),
//!     [("USDT".to_owned(), 10_000.into())],
//!     sim::STANDARD_COMMISSION_RATE,
//! ));
//! let server = sim::start(exchange, "127.0.0.1:0".parse()?).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.stop().await?;
//! # Ok(())
//! # }
//! ```

mod account;
mod accounts_file;
mod calendar;
mod clock;
mod durable;
mod endpoint;
mod error;
mod exchange;
mod faults;
mod filters;
mod http;
mod journal;
mod klines;
mod limits;
mod listing;
mod order;
mod prices;
mod replay;
mod signing;
mod state;
mod user_data;
mod walk;
mod wire;

pub use account::{Account, Credentials, SignatureKey};
pub use accounts_file::{AccountsFile, AccountsFileError, read_accounts_file};
pub use clock::{Clock, ManualClock, SystemClock};
pub use durable::{CompactionPolicy, DurableState, JournalFailure, JournalStats};
pub use endpoint::Endpoint;
pub use error::ApiError;
pub use exchange::{
    AVG_PRICE_MINUTES, AllOrdersQuery, ConfigError, Exchange, ExchangeConfig, LimitRefusals,
    OrderLookup, STANDARD_BNB_DISCOUNT, STANDARD_COMMISSION_RATE, TradeQuery,
};
pub use faults::{Fault, FaultPlan, FaultPlanError, FaultRule, Timing, Trigger};
pub use http::{
    ADMIN_PREFIX, AdminToken, ExchangeHandle, RunningSim, ServeOptions, StartError, start,
    start_with,
};
pub use klines::{Kline, KlineQuery};
pub use limits::{RateLimit, RateLimitInterval, RateLimitType, Throttle};
pub use listing::{Listing, ListingSpec};
pub use order::{Fill, NewMarketOrder, OrderRecord, OrderStatus};
pub use replay::{CandleReplay, ReplayError};
pub use signing::{sign, sign_ed25519, signed_payload, verify, verify_ed25519};
pub use sim_book::{BookShape, OrderSize};
pub use state::{SavedState, StateError, load_state, save_state};
pub use walk::WalkParams;
