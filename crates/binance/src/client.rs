//! The HTTP side of the client: configuration, signing, the retry loop, server-time sync (or the
//! exchange's own clock, when a [`ServerClock`] is configured), and the market-data calls. Order
//! calls are in `orders.rs`, account calls in `account.rs`, the whole listing in `listing.rs`.
//!
//! A [`Client`] is one account on one venue (an exchange base URL). What belongs to the venue is
//! built once by [`Client::new`] and shared by every clone and by every client derived with
//! [`Client::with_account`]: the pooled rustls connections, the configuration, the server-time
//! offset (and its one background refresh task), the symbol-rules cache and the IP's rate-limit
//! budget. What belongs to the account is its own: the credentials and the order budget (see
//! `rate_limit.rs`).

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use market::{Candle, Interval, Price, Side, Symbol, SymbolRules};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::credentials::Credentials;
use crate::error::{
    BinanceError, ErrorClass, ErrorKind, ExchangeRefusal, RequestKind, TransportFailure,
    TransportStage,
};
use crate::rate_limit::{
    Budget, Cost, RateLimitSettings, Throttle, Usage, VenueBudget, venue_budget,
};
use crate::retry::RetryPolicy;
use crate::server_clock::ServerClock;
use crate::time_sync::{ClockOffset, local_now_ms};
use crate::wire::{Fields, parse_json, type_name};

/// Binance's live spot REST base URL.
pub const BINANCE_LIVE_URL: &str = "https://api.binance.com";
/// Binance's spot testnet REST base URL.
pub const BINANCE_SPOT_TESTNET_URL: &str = "https://testnet.binance.vision";
/// Binance's live spot WebSocket stream base URL.
pub const BINANCE_LIVE_STREAM_URL: &str = "wss://stream.binance.com:9443";
/// Binance's spot testnet WebSocket stream base URL.
pub const BINANCE_SPOT_TESTNET_STREAM_URL: &str = "wss://stream.testnet.binance.vision";
/// Binance's live spot WebSocket API URL (the user data stream is subscribed there).
pub const BINANCE_LIVE_WS_API_URL: &str = "wss://ws-api.binance.com:443/ws-api/v3";
/// Binance's spot testnet WebSocket API URL.
pub const BINANCE_SPOT_TESTNET_WS_API_URL: &str = "wss://ws-api.testnet.binance.vision/ws-api/v3";
/// The path of the WebSocket API under a simulator's base URL.
const WS_API_PATH: &str = "/ws-api/v3";
/// The most klines one request returns; longer ranges are paged.
pub const MAX_KLINES_PER_REQUEST: usize = 1000;

/// Binance's largest `recvWindow`.
const MAX_RECV_WINDOW: Duration = Duration::from_secs(60);
/// Samples taken when the offset is unknown or was just found wrong.
const FULL_SYNC_SAMPLES: usize = 3;
/// How much of a non-Binance error body goes into the error message.
const ERROR_BODY_EXCERPT_CHARS: usize = 200;
/// The longest answer read. Binance's largest (`exchangeInfo` of every symbol) is a few MB;
/// anything near this is a broken or hostile server, not an answer.
const MAX_RESPONSE_BYTES: usize = 64 << 20;
/// The header carrying the API key.
const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// Binance's "too many new orders": a 429 counted against the account, not the IP.
const TOO_MANY_ORDERS_CODE: i64 = -1015;
/// The shortest period of the background time refresh.
const MIN_TIME_REFRESH: Duration = Duration::from_secs(1);

/// How a [`Client`] is set up.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The REST base URL without a trailing slash: [`BINANCE_LIVE_URL`],
    /// [`BINANCE_SPOT_TESTNET_URL`] or a simulator's `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The WebSocket stream base URL without a trailing slash (streams are under `/ws/`):
    /// [`BINANCE_LIVE_STREAM_URL`], [`BINANCE_SPOT_TESTNET_STREAM_URL`] or a simulator's
    /// `ws://127.0.0.1:<port>`.
    pub stream_url: String,
    /// The WebSocket API URL, path included, without a trailing slash (the user data stream is
    /// subscribed there): [`BINANCE_LIVE_WS_API_URL`], [`BINANCE_SPOT_TESTNET_WS_API_URL`] or a
    /// simulator's `ws://127.0.0.1:<port>/ws-api/v3`.
    pub ws_api_url: String,
    /// The key pair for SIGNED endpoints; `None` for market data only. [`Client::new`] takes
    /// them out of the configuration it shares: a client's own are [`Client::credentials`].
    pub credentials: Option<Credentials>,
    /// The longest wait for a connection.
    pub connect_timeout: Duration,
    /// The longest wait for each read of an answer.
    pub read_timeout: Duration,
    /// `recvWindow` of SIGNED requests (at most 60 s).
    pub recv_window: Duration,
    /// Retries and the resolution of orders in doubt.
    pub retry: RetryPolicy,
    /// How long symbol rules are cached.
    pub rules_ttl: Duration,
    /// How often a new server-time sample is taken.
    pub time_refresh: Duration,
    /// How many server-time samples the median is taken over.
    pub time_samples: usize,
    /// Head-room and waits of the rate-limit budgets: the IP's, shared by every client of
    /// `base_url`, and each account's order budget.
    pub rate_limit: RateLimitSettings,
    /// The exchange's own clock, when the process can read it (an in-process simulator); `None`
    /// to estimate it from `GET /api/v3/time` samples. See
    /// [`with_server_clock`](ClientConfig::with_server_clock).
    pub server_clock: Option<Arc<dyn ServerClock>>,
}

impl ClientConfig {
    /// Defaults for `base_url`: the matching stream and WebSocket API URLs (Binance's for
    /// Binance's REST URLs, otherwise `base_url` with `http` turned into `ws`, plus `/ws-api/v3`
    /// for the WebSocket API), no credentials, connect timeout 5 s, read timeout 10 s,
    /// `recvWindow` 5 s, the default [`RetryPolicy`], rules cached 5 minutes, a time sample every
    /// minute and a median over 5, the default [`RateLimitSettings`], no [`ServerClock`].
    pub fn new(base_url: impl Into<String>) -> ClientConfig {
        let base_url = base_url.into();
        let stream_url = match base_url.as_str() {
            BINANCE_LIVE_URL => BINANCE_LIVE_STREAM_URL.to_owned(),
            BINANCE_SPOT_TESTNET_URL => BINANCE_SPOT_TESTNET_STREAM_URL.to_owned(),
            other => other.replacen("http", "ws", 1),
        };
        let ws_api_url = match base_url.as_str() {
            BINANCE_LIVE_URL => BINANCE_LIVE_WS_API_URL.to_owned(),
            BINANCE_SPOT_TESTNET_URL => BINANCE_SPOT_TESTNET_WS_API_URL.to_owned(),
            other => format!("{}{WS_API_PATH}", other.replacen("http", "ws", 1)),
        };
        ClientConfig {
            base_url,
            stream_url,
            ws_api_url,
            credentials: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            recv_window: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            rules_ttl: Duration::from_secs(300),
            time_refresh: Duration::from_secs(60),
            time_samples: 5,
            rate_limit: RateLimitSettings::default(),
            server_clock: None,
        }
    }

    /// The same configuration signing with `credentials`.
    pub fn with_credentials(mut self, credentials: Credentials) -> ClientConfig {
        self.credentials = Some(credentials);
        self
    }

    /// The same configuration reading the exchange's time from `clock`: signed `timestamp`s,
    /// [`Client::server_now_ms`], the candle still forming in [`Client::closed_klines`] and the
    /// rate-limit windows all follow it. No `GET /api/v3/time` sample is ever taken (no
    /// background refresh either; `time_refresh` and `time_samples` go unused), and a -1021 is
    /// returned at once instead of being retried after a resync: with the exchange's own clock
    /// there is no offset to correct.
    ///
    /// The `recv_window` stays a duration of real time: a sped-up `spotbot sim` multiplies it
    /// (and the second a timestamp may run ahead) by its speed before comparing timestamps, so
    /// Binance's default 5 s suits it at any speed.
    pub fn with_server_clock(mut self, clock: Arc<dyn ServerClock>) -> ClientConfig {
        self.server_clock = Some(clock);
        self
    }
}

/// Why a [`Client`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `recvWindow` above 60 s or zero.
    #[error("recvWindow of {0:?} is outside Binance's range (1 ms to 60000 ms)")]
    RecvWindow(Duration),
    /// A base URL that is not `http(s)://host[:port]`.
    #[error("base URL {0:?} must start with http:// or https:// and have no trailing slash")]
    BaseUrl(String),
    /// A stream URL that is not `ws(s)://host[:port]`.
    #[error("stream URL {0:?} must start with ws:// or wss:// and have no trailing slash")]
    StreamUrl(String),
    /// A WebSocket API URL that is not `ws(s)://host[:port]/path`.
    #[error(
        "WebSocket API URL {0:?} must start with ws:// or wss:// and have no trailing slash, e.g. wss://ws-api.binance.com:443/ws-api/v3"
    )]
    WsApiUrl(String),
    /// The HTTP stack could not start (TLS roots, ...).
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// Whether an endpoint needs a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    Public,
    Signed,
}

/// One REST endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    /// `METHOD path`, as errors name it.
    pub(crate) name: &'static str,
    pub(crate) security: Security,
    pub(crate) kind: RequestKind,
    /// The request weight, as Binance documents it for the parameters this client sends.
    pub(crate) weight: u64,
}

impl Endpoint {
    /// What one request costs the rate-limit budget.
    fn cost(&self) -> Cost {
        Cost {
            weight: self.weight,
            orders: u64::from(self.kind == RequestKind::PlaceOrder),
        }
    }
}

macro_rules! endpoint {
    ($const_name:ident, $method:ident, $path:literal, $security:ident, $kind:ident, $weight:literal) => {
        pub(crate) const $const_name: Endpoint = Endpoint {
            method: Method::$method,
            path: $path,
            name: concat!(stringify!($method), " ", $path),
            security: Security::$security,
            kind: RequestKind::$kind,
            weight: $weight,
        };
    };
}

endpoint!(TIME, GET, "/api/v3/time", Public, Read, 1);
endpoint!(EXCHANGE_INFO, GET, "/api/v3/exchangeInfo", Public, Read, 20);
endpoint!(TICKER_PRICE, GET, "/api/v3/ticker/price", Public, Read, 2);
endpoint!(
    BOOK_TICKER,
    GET,
    "/api/v3/ticker/bookTicker",
    Public,
    Read,
    2
);
endpoint!(KLINES, GET, "/api/v3/klines", Public, Read, 2);
endpoint!(ACCOUNT, GET, "/api/v3/account", Signed, Read, 20);
endpoint!(QUERY_ORDER, GET, "/api/v3/order", Signed, Read, 4);
endpoint!(MY_TRADES, GET, "/api/v3/myTrades", Signed, Read, 5);
endpoint!(ALL_ORDERS, GET, "/api/v3/allOrders", Signed, Read, 20);
endpoint!(NEW_ORDER, POST, "/api/v3/order", Signed, PlaceOrder, 1);
endpoint!(TEST_ORDER, POST, "/api/v3/order/test", Signed, Read, 1);

/// Request parameters, in the order they go on the wire.
pub(crate) type Params = Vec<(&'static str, String)>;

/// A cached copy of a symbol's rules.
#[derive(Debug)]
struct CachedRules {
    rules: Arc<SymbolRules>,
    fetched: Instant,
}

/// What every client of one venue shares: built by [`Client::new`], kept by its clones and by
/// the clients derived with [`Client::with_account`].
#[derive(Debug)]
struct Venue {
    http: reqwest::Client,
    /// The configuration, without credentials (each account brings its own).
    config: ClientConfig,
    clock: Mutex<ClockOffset>,
    /// Held while server-time samples are taken, so that concurrent requests take them once.
    syncing: tokio::sync::Mutex<()>,
    rules: Mutex<HashMap<Symbol, CachedRules>>,
    /// The rate-limit budgets of `config.base_url`, shared process-wide.
    budget: Arc<VenueBudget>,
}

/// One exchange account on a venue.
#[derive(Debug)]
struct TradingAccount {
    credentials: Credentials,
    /// The account's `ORDERS` windows, shared by every client of its API key.
    orders: Arc<Budget>,
}

/// An async Binance spot client for one account on one venue. Cheap to clone.
///
/// Clones, and the clients for other accounts derived with [`with_account`](Self::with_account),
/// share the venue: the connection pool, the configuration, the server-time offset, the
/// symbol-rules cache and the IP's rate-limit budget (which every client of the same base URL in
/// the process shares, see [`RateLimitSettings`]). Each account keeps its own credentials and its
/// own order budget, since Binance counts orders per account.
///
/// The server-time offset is refreshed by one background task per venue, every
/// [`time_refresh`](ClientConfig::time_refresh) (at least 1 s), when the client is built inside a
/// Tokio runtime; the task ends once every client of the venue is dropped. Outside a runtime
/// (and whenever the task's sample failed) the offset is refreshed on age, by the next request
/// that needs it. With a [`ServerClock`] there is no offset: no task, no samples.
#[derive(Debug, Clone)]
pub struct Client {
    venue: Arc<Venue>,
    /// `None` for a client without credentials (market data only).
    account: Option<Arc<TradingAccount>>,
}

impl Client {
    /// A client for `config`: a new venue (sharing the IP's rate-limit budget with every other
    /// client of its base URL in the process) and, with credentials, its account.
    pub fn new(mut config: ClientConfig) -> Result<Client, ConfigError> {
        if config.recv_window.is_zero() || config.recv_window > MAX_RECV_WINDOW {
            return Err(ConfigError::RecvWindow(config.recv_window));
        }
        let url = &config.base_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.ends_with('/') {
            return Err(ConfigError::BaseUrl(url.clone()));
        }
        let stream_url = &config.stream_url;
        if !(stream_url.starts_with("ws://") || stream_url.starts_with("wss://"))
            || stream_url.ends_with('/')
        {
            return Err(ConfigError::StreamUrl(stream_url.clone()));
        }
        let ws_api_url = &config.ws_api_url;
        if !(ws_api_url.starts_with("ws://") || ws_api_url.starts_with("wss://"))
            || ws_api_url.ends_with('/')
        {
            return Err(ConfigError::WsApiUrl(ws_api_url.clone()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .build()
            .map_err(|err| ConfigError::Http(error_chain(&err)))?;
        let credentials = config.credentials.take();
        let venue = Arc::new(Venue {
            http,
            clock: Mutex::new(ClockOffset::new(config.time_samples)),
            syncing: tokio::sync::Mutex::new(()),
            rules: Mutex::new(HashMap::new()),
            budget: venue_budget(&config.base_url),
            config,
        });
        if venue.config.server_clock.is_none()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(refresh_time(Arc::downgrade(&venue)));
        }
        let venue_client = Client {
            venue,
            account: None,
        };
        Ok(match credentials {
            Some(credentials) => venue_client.with_account(credentials),
            None => venue_client,
        })
    }

    /// A client for another account on the same venue: it shares this client's connection pool,
    /// configuration, server-time offset (and background refresh), symbol-rules cache and IP
    /// rate-limit budget, and signs with `credentials`, counting its new orders in the order
    /// budget of their API key (shared with every other client of that key in the process).
    pub fn with_account(&self, credentials: Credentials) -> Client {
        let orders = self.venue.budget.account(
            credentials.api_key(),
            self.estimated_server_now_ms(),
            &self.venue.config.rate_limit,
        );
        Client {
            venue: self.venue.clone(),
            account: Some(Arc::new(TradingAccount {
                credentials,
                orders,
            })),
        }
    }

    /// The venue's configuration, shared by every client derived from the same
    /// [`Client::new`]. Its `credentials` are always `None`: this client's are
    /// [`credentials`](Self::credentials).
    pub fn config(&self) -> &ClientConfig {
        &self.venue.config
    }

    /// The account this client signs for; `None` for a market-data-only client.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.account.as_ref().map(|account| &account.credentials)
    }

    /// The exchange's time, ms (`GET /api/v3/time`).
    pub async fn server_time_ms(&self) -> Result<i64, BinanceError> {
        let body = self.call(&TIME, Vec::new()).await?;
        read(&TIME, &body, |fields| fields.i64("serverTime"))
    }

    /// The exchange's time now, ms: read from the [`ServerClock`] when one is configured,
    /// otherwise estimated as the local clock plus the median offset (sampled first when due).
    pub async fn server_now_ms(&self) -> Result<i64, BinanceError> {
        self.sync_clock_if_due().await?;
        Ok(self.estimated_server_now_ms())
    }

    /// The median server-time offset known now (server minus local clock, ms), without taking a
    /// sample; `None` before the first, and always with a [`ServerClock`] (nothing is sampled).
    pub fn clock_offset_ms(&self) -> Option<i64> {
        lock(&self.venue.clock).median_ms()
    }

    /// Resamples the server-time offset from scratch (as done after -1021). Does nothing with a
    /// [`ServerClock`]: there is no offset to resample.
    pub async fn resync_clock(&self) -> Result<(), BinanceError> {
        if self.venue.config.server_clock.is_some() {
            return Ok(());
        }
        let _syncing = self.venue.syncing.lock().await;
        lock(&self.venue.clock).clear();
        self.sample_server_time(FULL_SYNC_SAMPLES).await
    }

    /// The symbol's trading rules from `exchangeInfo`, cached for
    /// [`rules_ttl`](ClientConfig::rules_ttl). An unknown symbol is the exchange's -1121.
    pub async fn symbol_rules(&self, symbol: &Symbol) -> Result<Arc<SymbolRules>, BinanceError> {
        let ttl = self.venue.config.rules_ttl;
        if let Some(cached) = lock(&self.venue.rules).get(symbol)
            && cached.fetched.elapsed() < ttl
        {
            return Ok(cached.rules.clone());
        }
        let body = self
            .call(&EXCHANGE_INFO, vec![("symbol", symbol.to_string())])
            .await?;
        self.install_rate_limits(&body);
        let rules = SymbolRules::from_exchange_info(&body, symbol)
            .map(Arc::new)
            .map_err(|err| malformed(&EXCHANGE_INFO, err.to_string()))?;
        self.cache_rules(rules.clone());
        Ok(rules)
    }

    /// Keeps `rules` in the venue's cache for [`rules_ttl`](ClientConfig::rules_ttl).
    pub(crate) fn cache_rules(&self, rules: Arc<SymbolRules>) {
        lock(&self.venue.rules).insert(
            rules.symbol.clone(),
            CachedRules {
                rules,
                fetched: Instant::now(),
            },
        );
    }

    /// Installs the `rateLimits` of an `exchangeInfo` answer into the venue's budgets; `false`
    /// when it carries none that can be read.
    pub(crate) fn install_rate_limits(&self, exchange_info: &Value) -> bool {
        let installed = self.venue.budget.install_limits(
            exchange_info,
            self.estimated_server_now_ms(),
            &self.venue.config.rate_limit,
        );
        crate::telemetry::weight_limits(
            &self.venue.config.base_url,
            &self.venue.budget.weight_limits(),
        );
        installed
    }

    /// The last traded price (`GET /api/v3/ticker/price`).
    pub async fn current_price(&self, symbol: &Symbol) -> Result<Price, BinanceError> {
        let body = self
            .call(&TICKER_PRICE, vec![("symbol", symbol.to_string())])
            .await?;
        read(&TICKER_PRICE, &body, |fields| {
            let price = fields.decimal("price")?;
            Price::new(price).map_err(|err| format!("price: {err}"))
        })
    }

    /// The price a MARKET order on `side` starts filling at: the best ask for a BUY, the best
    /// bid for a SELL (`GET /api/v3/ticker/bookTicker`). An empty side of the book (published
    /// as a zero price) is an error.
    pub async fn best_price(&self, symbol: &Symbol, side: Side) -> Result<Price, BinanceError> {
        let body = self
            .call(&BOOK_TICKER, vec![("symbol", symbol.to_string())])
            .await?;
        let field = match side {
            Side::Buy => "askPrice",
            Side::Sell => "bidPrice",
        };
        read(&BOOK_TICKER, &body, |fields| {
            let price = fields.decimal(field)?;
            Price::new(price).map_err(|err| format!("{field}: {err}"))
        })
    }

    /// The closed candles of `symbol` opening from `start_ms` to `end_ms` (inclusive, ms),
    /// oldest first, fetched in pages of [`MAX_KLINES_PER_REQUEST`]. The candle still forming
    /// is left out.
    pub async fn closed_klines(
        &self,
        symbol: &Symbol,
        interval: Interval,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Candle>, BinanceError> {
        let now_ms = self.server_now_ms().await?;
        let mut candles = Vec::new();
        let mut cursor_ms = start_ms;
        while cursor_ms <= end_ms {
            let params = vec![
                ("symbol", symbol.to_string()),
                ("interval", interval.as_str().to_owned()),
                ("startTime", cursor_ms.to_string()),
                ("endTime", end_ms.to_string()),
                ("limit", MAX_KLINES_PER_REQUEST.to_string()),
            ];
            let body = self.call(&KLINES, params).await?;
            let page = parse_klines(&body).map_err(|what| malformed(&KLINES, what))?;
            let page_len = page.len();
            let Some(last_open_ms) = page.last().map(|(_, candle)| candle.open_time_ms) else {
                break;
            };
            if last_open_ms < cursor_ms {
                return Err(malformed(
                    &KLINES,
                    format!(
                        "klines went back in time: open {last_open_ms} < startTime {cursor_ms}"
                    ),
                ));
            }
            candles.extend(
                page.into_iter()
                    .filter(|&(close_ms, _)| close_ms < now_ms)
                    .map(|(_, candle)| candle),
            );
            if page_len < MAX_KLINES_PER_REQUEST {
                break;
            }
            cursor_ms = last_open_ms + 1;
        }
        Ok(candles)
    }

    /// Sends a request to `endpoint`, retrying transient failures under the retry policy:
    /// backoff with full jitter, `Retry-After` honoured, and on -1021 one resync of the clock and
    /// one more try (with a [`ServerClock`], -1021 is returned at once: resyncing cannot fix
    /// the exchange's own clock). Ambiguous and rejected failures are returned at once.
    pub(crate) async fn call(
        &self,
        endpoint: &Endpoint,
        params: Params,
    ) -> Result<Value, BinanceError> {
        self.call_before(endpoint, params, None).await
    }

    /// [`call`](Self::call), never sending after `deadline`: no attempt starts after it, and no
    /// wait for the budget or before a retry reaches past it
    /// ([`ErrorKind::DeadlinePassed`] instead: nothing was sent).
    pub(crate) async fn call_before(
        &self,
        endpoint: &Endpoint,
        params: Params,
        deadline: Option<Instant>,
    ) -> Result<Value, BinanceError> {
        let policy = &self.venue.config.retry;
        let mut retry = 0;
        let mut resynced = false;
        loop {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(BinanceError::new(
                    endpoint.name,
                    endpoint.kind,
                    ErrorKind::DeadlinePassed,
                ));
            }
            let error = match self.prepare_and_send(endpoint, &params, deadline).await {
                Ok(body) => return Ok(body),
                Err(error) => error,
            };
            if error.code() == Some(-1021) && endpoint.security == Security::Signed {
                // Our timestamp came from the exchange's clock itself, so resyncing would sign
                // the same way again: the request really was too slow, or the clock is wrong.
                if resynced || self.venue.config.server_clock.is_some() {
                    return Err(error);
                }
                resynced = true;
                self.resync_clock().await?;
                continue;
            }
            if error.class() != ErrorClass::Transient || retry + 1 >= policy.max_attempts {
                return Err(error);
            }
            let Some(wait) = policy.wait_before_retry(retry, error.retry_after()) else {
                return Err(error);
            };
            if deadline.is_some_and(|deadline| Instant::now() + wait >= deadline) {
                return Err(error);
            }
            crate::telemetry::retried(&self.venue.config.base_url, &error);
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// One attempt: takes a server-time sample when due and loads the rate limits when unknown
    /// (both place the budget's windows), then sends.
    async fn prepare_and_send(
        &self,
        endpoint: &Endpoint,
        params: &Params,
        deadline: Option<Instant>,
    ) -> Result<Value, BinanceError> {
        self.sync_clock_if_due().await?;
        self.load_rate_limits().await?;
        self.send(endpoint, params, deadline).await
    }

    /// Reads `exchangeInfo.rateLimits` into the shared budgets once per process and base URL.
    async fn load_rate_limits(&self) -> Result<(), BinanceError> {
        let budget = &self.venue.budget;
        if budget.has_limits() {
            return Ok(());
        }
        let _loading = budget.loading.lock().await;
        if budget.has_limits() {
            return Ok(());
        }
        let body = self.execute(&EXCHANGE_INFO, "", None, None).await?;
        if self.install_rate_limits(&body) {
            Ok(())
        } else {
            Err(malformed(
                &EXCHANGE_INFO,
                "rateLimits: missing or not an array".to_owned(),
            ))
        }
    }

    /// One attempt: encodes `params` (adding `recvWindow`, `timestamp` and `signature` for SIGNED
    /// endpoints) and sends them in the query string.
    async fn send(
        &self,
        endpoint: &Endpoint,
        params: &Params,
        deadline: Option<Instant>,
    ) -> Result<Value, BinanceError> {
        let signing = match endpoint.security {
            Security::Public => None,
            Security::Signed => {
                let credentials = self.credentials().ok_or_else(|| {
                    BinanceError::invalid_request(
                        endpoint.name,
                        "this endpoint is SIGNED and the client has no credentials",
                    )
                })?;
                let timestamp_ms = self.server_now_ms().await?;
                Some(Signing {
                    credentials,
                    recv_window_ms: self.venue.config.recv_window.as_millis(),
                    timestamp_ms,
                })
            }
        };
        let query = encode_query(params, signing.as_ref());
        self.execute(
            endpoint,
            &query,
            signing.map(|signing| signing.credentials),
            deadline,
        )
        .await
    }

    /// Reserves the request's cost in the IP budget (and a new order's in the account's order
    /// budget), waiting at most until `deadline`, sends `query` to `endpoint` and reads the
    /// answer: JSON on success, a refusal otherwise. The reservation ends once the body is read,
    /// since a 429's code says whose budget it throttles.
    pub(crate) async fn execute(
        &self,
        endpoint: &Endpoint,
        query: &str,
        credentials: Option<&Credentials>,
        deadline: Option<Instant>,
    ) -> Result<Value, BinanceError> {
        let base = &self.venue.config.base_url;
        let url = if query.is_empty() {
            format!("{base}{}", endpoint.path)
        } else {
            format!("{base}{}?{query}", endpoint.path)
        };
        let mut request = self.venue.http.request(endpoint.method.clone(), url);
        if let Some(credentials) = credentials {
            request = request.header(API_KEY_HEADER, credentials.api_key());
        }
        let order_budget = self.account.as_ref().map(|account| &*account.orders);
        let reservation = self
            .venue
            .budget
            .reserve(
                order_budget,
                endpoint.cost(),
                &self.venue.config.rate_limit,
                deadline,
                || self.estimated_server_now_ms(),
            )
            .await
            .map_err(|exhausted| {
                let kind = if exhausted.past_deadline {
                    ErrorKind::DeadlinePassed
                } else {
                    ErrorKind::BudgetExhausted {
                        wait: exhausted.wait,
                        banned: exhausted.blocked,
                    }
                };
                BinanceError::new(endpoint.name, endpoint.kind, kind)
            })?;
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                let error = transport_error(endpoint, err, false);
                let sent = !matches!(
                    error.kind(),
                    ErrorKind::Transport(TransportFailure {
                        stage: TransportStage::NotSent,
                        ..
                    })
                );
                reservation.finish(sent, &Usage::default(), None);
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let usage = Usage::from_headers(response.headers());
        crate::telemetry::answered(&self.venue.config.base_url, status, &usage.used_weight());
        let body = match read_body(response).await {
            Ok(body) => body,
            Err(failure) => {
                reservation.finish(true, &usage, throttle(status, None, retry_after));
                return Err(match failure {
                    BodyFailure::Transport(err) => transport_error(endpoint, err, true),
                    BodyFailure::TooLong => malformed(
                        endpoint,
                        format!("the answer is longer than {MAX_RESPONSE_BYTES} bytes"),
                    ),
                });
            }
        };
        if (200..300).contains(&status) {
            reservation.finish(true, &usage, None);
            return parse_json(&body).map_err(|what| malformed(endpoint, what));
        }
        let parsed: Option<Value> = serde_json::from_str(&body).ok();
        let code = parsed
            .as_ref()
            .and_then(|value| value.get("code"))
            .and_then(Value::as_i64);
        reservation.finish(true, &usage, throttle(status, code, retry_after));
        let message = match parsed.as_ref().and_then(|value| value.get("msg")) {
            Some(Value::String(message)) => message.clone(),
            _ => body.trim().chars().take(ERROR_BODY_EXCERPT_CHARS).collect(),
        };
        Err(BinanceError::new(
            endpoint.name,
            endpoint.kind,
            ErrorKind::Exchange(ExchangeRefusal {
                status,
                code,
                message,
                retry_after,
                used_weight: usage.used_weight(),
            }),
        ))
    }

    /// Spends `weight` of the IP's budget on a WebSocket API request or connection named
    /// `name` (which Binance counts in the same per-IP weight as REST), waiting as a REST
    /// request would; the rate limits are loaded first when unknown. The weight counts as used
    /// at once: the answer's `rateLimits` correct it ([`observe_ws_usage`](Self::observe_ws_usage)).
    pub(crate) async fn spend_ws_weight(
        &self,
        weight: u64,
        name: &'static str,
    ) -> Result<(), BinanceError> {
        self.load_rate_limits().await?;
        let cost = Cost { weight, orders: 0 };
        let reservation = self
            .venue
            .budget
            .reserve(None, cost, &self.venue.config.rate_limit, None, || {
                self.estimated_server_now_ms()
            })
            .await
            .map_err(|exhausted| {
                BinanceError::new(
                    name,
                    RequestKind::Read,
                    ErrorKind::BudgetExhausted {
                        wait: exhausted.wait,
                        banned: exhausted.blocked,
                    },
                )
            })?;
        reservation.finish(true, &Usage::default(), None);
        Ok(())
    }

    /// Takes in a WebSocket API answer's `rateLimits` (the IP's weight as the exchange counted
    /// it) and, after a 429 or 418, the wait it asked for, which then stops every request of
    /// the IP.
    pub(crate) fn observe_ws_usage(&self, rate_limits: &Value, blocked_for: Option<Duration>) {
        let usage = Usage::from_rate_limits(rate_limits);
        self.venue.budget.observe(&usage, blocked_for);
        // The weight the exchange counts for the IP, WebSocket API requests included: the
        // gauge follows these answers as it follows REST headers.
        crate::telemetry::weight_used(&self.venue.config.base_url, &usage.used_weight());
    }

    /// Takes a server-time sample when one is due (several when the offset is unknown); one
    /// request at a time samples, the others find the fresh offset. Never with a [`ServerClock`].
    async fn sync_clock_if_due(&self) -> Result<(), BinanceError> {
        if self.venue.config.server_clock.is_some() {
            return Ok(());
        }
        if !lock(&self.venue.clock).needs_sample(self.venue.config.time_refresh) {
            return Ok(());
        }
        let _syncing = self.venue.syncing.lock().await;
        let samples = {
            let clock = lock(&self.venue.clock);
            if !clock.needs_sample(self.venue.config.time_refresh) {
                return Ok(());
            }
            if clock.median_ms().is_none() {
                FULL_SYNC_SAMPLES
            } else {
                1
            }
        };
        self.sample_server_time(samples).await
    }

    /// Takes `count` server-time samples into the offset window.
    async fn sample_server_time(&self, count: usize) -> Result<(), BinanceError> {
        for _ in 0..count {
            let sent_ms = local_now_ms();
            let body = self.execute(&TIME, "", None, None).await?;
            let received_ms = local_now_ms();
            let server_ms = read(&TIME, &body, |fields| fields.i64("serverTime"))?;
            lock(&self.venue.clock).record(sent_ms, server_ms, received_ms);
        }
        Ok(())
    }

    /// The exchange's time now as far as it is known without asking: the [`ServerClock`]'s,
    /// or else the local clock plus the offset known now (none before the first sample). Never
    /// waits for the network, so a caller that must not stall when the exchange is unreachable
    /// (a scheduler deciding which bots are due) can read it; [`server_now_ms`](Self::server_now_ms)
    /// is the exact one.
    pub fn estimated_server_now_ms(&self) -> i64 {
        match &self.venue.config.server_clock {
            Some(clock) => clock.now_ms(),
            None => local_now_ms() + self.offset_ms(),
        }
    }

    fn offset_ms(&self) -> i64 {
        self.clock_offset_ms().unwrap_or(0)
    }
}

/// What a SIGNED request adds to its parameters.
pub(crate) struct Signing<'a> {
    /// The key pair signing.
    pub(crate) credentials: &'a Credentials,
    /// `recvWindow`, ms.
    pub(crate) recv_window_ms: u128,
    /// `timestamp`, ms of server time.
    pub(crate) timestamp_ms: i64,
}

/// The percent-encoded query string of `params`; when `signing`, followed by `recvWindow`,
/// `timestamp` and the signature of everything before it.
pub(crate) fn encode_query(params: &Params, signing: Option<&Signing<'_>>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer.extend_pairs(params.iter().map(|(name, value)| (*name, value.as_str())));
    if let Some(signing) = signing {
        serializer.append_pair("recvWindow", &signing.recv_window_ms.to_string());
        serializer.append_pair("timestamp", &signing.timestamp_ms.to_string());
    }
    let mut query = serializer.finish();
    if let Some(signing) = signing {
        let signature = signing.credentials.sign(&query);
        query.push_str("&signature=");
        query.extend(form_urlencoded::byte_serialize(signature.as_bytes()));
    }
    query
}

/// Refreshes the server-time offset of `venue` every `time_refresh` until the last client of the
/// venue (clone or derived account) is dropped. A failed sample is left to the next request,
/// which finds it still due.
async fn refresh_time(venue: std::sync::Weak<Venue>) {
    loop {
        let Some(every) = venue
            .upgrade()
            .map(|venue| venue.config.time_refresh.max(MIN_TIME_REFRESH))
        else {
            return;
        };
        tokio::time::sleep(every).await;
        let Some(venue) = venue.upgrade() else {
            return;
        };
        // Time samples are public requests: no account is needed to take them.
        let venue_client = Client {
            venue,
            account: None,
        };
        // Failure is not lost: the sample stays due and the next request takes it.
        let _ = venue_client.sync_clock_if_due().await;
    }
}

/// Locks `mutex`; a panic elsewhere while it was held leaves plain data that is still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads an answer object with `read_fields`, turning what was wrong into a malformed-answer
/// error.
pub(crate) fn read<T>(
    endpoint: &Endpoint,
    body: &Value,
    read_fields: impl FnOnce(&Fields<'_>) -> Result<T, String>,
) -> Result<T, BinanceError> {
    Fields::new(body, "")
        .and_then(|fields| read_fields(&fields))
        .map_err(|what| malformed(endpoint, what))
}

/// A malformed-answer error from `endpoint`.
pub(crate) fn malformed(endpoint: &Endpoint, what: String) -> BinanceError {
    BinanceError::malformed(endpoint.name, endpoint.kind, what)
}

/// A transport failure; `reading_body` when the answer had started to arrive.
fn transport_error(endpoint: &Endpoint, err: reqwest::Error, reading_body: bool) -> BinanceError {
    let stage = if err.is_connect() && !reading_body {
        TransportStage::NotSent
    } else {
        TransportStage::MaybeSent
    };
    let failure = TransportFailure {
        stage,
        timed_out: err.is_timeout(),
        detail: error_chain(&err.without_url()),
    };
    BinanceError::new(endpoint.name, endpoint.kind, ErrorKind::Transport(failure))
}

/// An error and its sources, joined by `: `.
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why a response's body could not be read.
enum BodyFailure {
    /// The connection failed mid-body.
    Transport(reqwest::Error),
    /// It is longer than [`MAX_RESPONSE_BYTES`].
    TooLong,
}

/// The body of `response` as text (invalid UTF-8 replaced), read chunk by chunk so that a
/// broken or hostile server cannot make the client hold more than [`MAX_RESPONSE_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<String, BodyFailure> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(BodyFailure::TooLong);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyFailure::Transport)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(BodyFailure::TooLong);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `Retry-After` in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    seconds.trim().parse().ok().map(Duration::from_secs)
}

/// Whom a refusal with `status`, Binance's `code` and `retry_after` throttles: a 429 with -1015
/// the account's new orders, any other 429 or a 418 the whole IP.
fn throttle(status: u16, code: Option<i64>, retry_after: Option<Duration>) -> Option<Throttle> {
    let wait = retry_after.filter(|_| status == 429 || status == 418)?;
    Some(if status == 429 && code == Some(TOO_MANY_ORDERS_CODE) {
        Throttle::AccountOrders(wait)
    } else {
        Throttle::Ip(wait)
    })
}

/// Kline rows as (close time, candle); prices and volume as `f64` (candles feed indicators
/// only).
fn parse_klines(body: &Value) -> Result<Vec<(i64, Candle)>, String> {
    let rows = body
        .as_array()
        .ok_or_else(|| format!("klines: expected an array, found {}", type_name(body)))?;
    rows.iter()
        .enumerate()
        .map(|(index, row)| parse_kline(index, row))
        .collect()
}

/// One kline row: `[openTime, open, high, low, close, volume, closeTime, ...]`.
fn parse_kline(index: usize, row: &Value) -> Result<(i64, Candle), String> {
    let path = format!("klines[{index}]");
    let fields = row
        .as_array()
        .filter(|fields| fields.len() >= 7)
        .ok_or_else(|| format!("{path}: expected an array of at least 7 fields"))?;
    let time = |position: usize| {
        fields[position]
            .as_i64()
            .ok_or_else(|| format!("{path}[{position}]: expected an integer time in ms"))
    };
    let number = |position: usize| {
        fields[position]
            .as_str()
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|value| value.is_finite())
            .ok_or_else(|| format!("{path}[{position}]: expected a decimal string"))
    };
    let candle = Candle {
        open_time_ms: time(0)?,
        open: number(1)?,
        high: number(2)?,
        low: number(3)?,
        close: number(4)?,
        volume: number(5)?,
    };
    Ok((time(6)?, candle))
}
