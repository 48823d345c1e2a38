//! `sim`: a local Binance-compatible spot exchange, served over loopback HTTP with Binance's paths,
//! parameters, JSON shapes, signatures and error codes, so that clients and bots are tested
//! against the exchange's documented behaviour instead of canned answers.
//!
//! What it does today: seeded random-walk prices and klines per symbol, a synthetic order book
//! that MARKET orders walk, every MARKET-order filter with Binance's -1013 messages, balances and
//! commissions in `Decimal`, HMAC-SHA256 request signing with the `timestamp`/`recvWindow` rule,
//! and an order log that is the ground truth for tests.
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
mod book;
mod calendar;
mod clock;
mod error;
mod exchange;
mod filters;
mod http;
mod klines;
mod listing;
mod order;
mod signing;
mod walk;
mod wire;

pub use account::{Account, Credentials};
pub use book::{BookShape, OrderSize};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ApiError;
pub use exchange::{ConfigError, Exchange, ExchangeConfig, OrderLookup, STANDARD_COMMISSION_RATE};
pub use http::{ExchangeHandle, RunningSim, StartError, start};
pub use klines::{Kline, KlineQuery};
pub use listing::{Listing, ListingSpec};
pub use order::{Fill, NewMarketOrder, OrderRecord, OrderStatus};
pub use signing::{sign, signed_payload, verify};
pub use walk::WalkParams;
