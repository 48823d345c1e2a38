//! `binance`: the async client for Binance's spot REST API (live, spot testnet, or the `sim`
//! simulator, which speaks the same protocol on loopback).
//!
//! What it gives the engine:
//!
//! - [`Client`]: pooled rustls HTTP with explicit connect/read timeouts; signed requests (HMAC-SHA256
//!   or Ed25519, over the percent-encoded query string); a rolling server-time offset (median of
//!   recent samples) with a resync and one retry on -1021; symbol rules cached per symbol.
//! - One venue, many accounts: [`Client::new`] builds a client for one venue (an exchange base
//!   URL), and [`Client::with_account`] derives from it a client per user account. The venue's
//!   clients share the connection pool, the configuration, the server-time offset and its one
//!   background refresh, the symbol-rules cache and the IP's rate-limit budget; each account
//!   has its own [`Credentials`] and its own order budget.
//! - [`Credentials`]: HMAC or Ed25519 ([`KeyType`]), secrets wiped from memory when dropped and
//!   never shown by `Debug`.
//! - [`ServerClock`]: when the exchange runs in the same process (the `sim` simulator, whose
//!   market time may run many times faster than ours), the client reads its clock directly,
//!   set with [`ClientConfig::with_server_clock`]: timestamps follow it exactly, no time samples
//!   are taken, and -1021 is an error to report rather than an offset to resync.
//! - [`BinanceError`]: one error type carrying the HTTP status, Binance's code and message, and
//!   `Retry-After`/used-weight headers, classified as [`ErrorClass::Transient`] (retry),
//!   [`ErrorClass::Ambiguous`] (an order may have executed) or [`ErrorClass::Rejected`]; a
//!   refused API key or signature is also a [`KeyProblem`] to show the key's owner.
//! - [`RetryPolicy`]: exponential backoff with full jitter, `Retry-After` honoured, settings from
//!   `BINANCE_RETRY_MAX_ATTEMPTS` / `BINANCE_RETRY_BACKOFF_BASE`.
//! - Rate-limit budgets as Binance counts ([`RateLimitSettings`]): request weight per process and
//!   base URL (Binance counts it per IP), new orders per process, base URL and API key (per
//!   account); limits from `exchangeInfo`, usage from the `X-MBX-*` headers, requests wait
//!   instead of provoking 429s.
//! - [`Client::account_info`] (whether the key may trade, its permissions and balances) and
//!   [`Client::exchange_listing`] (every symbol of the venue with its rules), for checking a
//!   user's key and choosing what to trade.
//! - [`Client::place_market_order`]: a MARKET order is **never re-sent after an ambiguous
//!   failure**. It is looked up by its client order id until its fate is known or
//!   [`RetryPolicy::order_visibility_timeout`] passes; an order the exchange still does not show
//!   is reported unknown for the engine to reconcile, never re-sent.
//! - The lookups reconciliation builds on: [`Client::query_order`] (by client order id or order
//!   id), [`Client::order_trades`] (an order's trades and commissions) and
//!   [`Client::all_orders`] (the account's orders of a symbol over a time span, every status,
//!   paged by day and by 1,000 orders), which finds by its client order id an order that
//!   `GET /api/v3/order` does not show yet.
//! - [`UserDataHub`] and [`BalanceBook`]: each account's balances kept in memory from its user
//!   data stream (the WebSocket API, many accounts per connection), primed and reconciled by
//!   REST, so that asking for them costs no request weight.
//! - [`Client::market_stream`]: kline and book-ticker streams multiplexed over one
//!   combined-stream connection with live `SUBSCRIBE`s, as parsed [`MarketEvent`]s, reconnecting
//!   with backoff when the connection drops.

mod account;
mod client;
mod credentials;
mod error;
mod listing;
mod orders;
mod overhead;
mod rate_limit;
mod retry;
mod server_clock;
mod stream;
mod telemetry;
mod time_sync;
mod user_stream;
mod wire;

pub use account::{AccountInfo, Balance};
pub use client::{
    BINANCE_LIVE_STREAM_URL, BINANCE_LIVE_URL, BINANCE_LIVE_WS_API_URL,
    BINANCE_SPOT_TESTNET_STREAM_URL, BINANCE_SPOT_TESTNET_URL, BINANCE_SPOT_TESTNET_WS_API_URL,
    Client, ClientConfig, ConfigError, MAX_KLINES_PER_REQUEST,
};
pub use credentials::{Credentials, CredentialsError, KeyType};
pub use error::{
    BinanceError, ErrorClass, ErrorKind, ExchangeRefusal, KeyProblem, TransportFailure,
    TransportStage,
};
pub use listing::ExchangeListing;
pub use orders::{
    MarketOrderFill, NormalizeError, OrderRef, OrderReport, OrderSize, OrderStatus,
    PlaceOrderError, TradeFill,
};
#[doc(hidden)]
pub use overhead::market_order_cpu_work;
pub use rate_limit::RateLimitSettings;
pub use retry::{BACKOFF_BASE_ENV, MAX_ATTEMPTS_ENV, RetryConfigError, RetryPolicy};
pub use server_clock::ServerClock;
pub use stream::{
    BookTickerEvent, KlineEvent, MAX_STREAMS_PER_CONNECTION, MarketEvent, MarketStream, StreamName,
    SubscribeError,
};
pub use time_sync::ClockOffset;
pub use user_stream::{
    BalanceBook, MAX_SUBSCRIPTIONS_PER_CONNECTION, UserDataHub, UserDataSettings,
};
