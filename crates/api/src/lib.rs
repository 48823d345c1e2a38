//! spotbot's HTTP API: health and readiness, users (register, login, logout, `me`) with
//! argon2id password hashes, expiring and revocable bearer tokens, and failed-login limits per
//! account and per IP; each user's exchange keys per venue (verified with the exchange, encrypted
//! at rest) and their own exchange accounts, bots, trades, positions and performance, every query
//! scoped to the caller (another user's resource is a 404). Everything speaks JSON, errors
//! included (`{code, message, field}`, see [`ApiError`]).
//!
//! The rules, the vault and the exchange accounts are the `accounts` crate's, shared with the
//! engine and the command line; this crate words them for HTTP. [`router`] builds the routes on
//! an [`ApiState`]; [`serve`] runs them on a listener with the client addresses the login limits
//! need:
//!
//! ```no_run
//! # async fn demo(store: store::Store, accounts: std::sync::Arc<accounts::AccountClients>) -> std::io::Result<()> {
//! let state = api::ApiState::new(store, accounts, api::ApiConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let drained = api::serve(listener, state, std::future::pending()).await;
//! # let _ = drained;
//! # Ok(())
//! # }
//! ```
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | 200 `{"status":"ok"}` |
//! | `GET /ready` | 200 `{"status":"ready"}`, or 503 when the database does not answer |
//! | `POST /api/v1/auth/register` | 201 [`UserBody`] from a [`RegisterRequest`] |
//! | `POST /api/v1/auth/login` | 200 [`LoginResponse`] from a [`LoginRequest`] |
//! | `POST /api/v1/auth/logout` | 204, revoking the bearer token |
//! | `POST`/`GET`/`DELETE /api/v1/auth/session` | the dashboard's login: the same sessions, the token in an HttpOnly cookie, with a CSRF token |
//! | `GET /api/v1/me` | 200 [`UserBody`] of the bearer token's user |
//! | `PUT`/`GET`/`DELETE /api/v1/credentials/{venue}` | the caller's exchange key for `testnet` or `live`, verified before it is stored, the secret encrypted and never returned |
//! | `GET /api/v1/venues` | the venues this server trades, each with the caller's key (never the secret) |
//! | `GET /api/v1/account/{venue}`, `POST /api/v1/account/paper/reset` | the caller's own exchange account: balances; the paper account's reset |
//! | `GET /api/v1/admin/workers`, `/users`, `/bots` | the fleet's workers, every user, every bot with its owner and status, for admins |
//! | `/api/v1/bots` (+ `/{id}`, `/{id}/start\|stop\|pause`) | the caller's bots ([`BotBody`]) |
//! | `GET /api/v1/bots/{id}/chart`, `GET /api/v1/bots/{id}/updates` | a bot's candles, indicators, trades and decisions for its chart; a Server-Sent Events stream that says when they change |
//! | `GET /api/v1/backtests/files`, `PUT`/`DELETE /api/v1/backtests/uploads/{name}`, `POST /api/v1/backtests`, `POST /api/v1/backtests/sweeps`, `GET /api/v1/backtests/sweeps/{id}` | the candle files the caller can backtest (the server's and their uploads), a backtest of one (the figures of `spotbot backtest --json`, with its chart), and sweeps with their progress |
//! | `/api/v1/notifications/channels` (+ `/{id}`, `/{id}/test`), `GET /api/v1/notifications/deliveries`, `GET`/`PUT /api/v1/bots/{id}/notifications` | the caller's notification channels (webhooks, Telegram), a test message, the delivery log, and which events of each bot go where |
//! | `GET /api/v1/trades` (+ `.csv`) | the caller's trades: filters by bot, symbol, side and time, cursor pages |
//! | `GET /api/v1/positions` | the caller's bots' positions |
//! | `GET /api/v1/performance` (`?bot=ID`) | realised PnL, fees, win rate, trade counts, max drawdown |
//! | `GET /api/v1/openapi.json` | 200: the OpenAPI 3 document of these routes, generated from the code ([`ApiDoc`]) |

mod account;
mod admin;
mod auth;
mod backtests;
mod bots;
mod browser_session;
mod chart;
mod credentials;
mod error;
mod json;
mod limiter;
mod notifications;
mod openapi;
mod routes;
mod trades;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use accounts::{AccountClients, Catalogs, PasswordCost};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use store::Store;
use tokio::net::TcpListener;

pub use account::{AccountBody, BalanceBody, PaperResetBody};
pub use admin::{AdminBotBody, WorkerBody};
pub use auth::{AuthUser, CSRF_HEADER, SESSION_COOKIE};
pub use backtests::{
    BacktestBody, BacktestChart, BacktestRequest, CandleFileBody, FileSource, MAX_FILE_BYTES,
    MAX_UPLOAD_BYTES, RulesRequest, SweepBody, SweepRequest, SweepRowBody,
};
pub use bots::{BotBody, CreateBotRequest, LastTradeBody, PatchBotRequest, PositionBody};
pub use browser_session::SessionBody;
pub use chart::{ChartBody, ChartCandle, ChartMarker, DecisionBody, SkipMarker, UpdateEvent};
pub use credentials::{CredentialsBody, PutCredentialsRequest, VenueBody};
pub use error::{ApiError, ErrorBody};
pub use json::Json;
pub use limiter::LoginLimits;
pub use notifications::{
    BotNotificationsBody, ChannelBody, ChannelEventsBody, CreateChannelRequest, CreatedChannelBody,
    DeliveryBody, PatchChannelRequest,
};
pub use openapi::{ApiDoc, BEARER_SCHEME};
pub use routes::{LoginRequest, LoginResponse, RegisterRequest, Status, UserBody};

use limiter::LoginLimiter;

/// The largest request body accepted: 64 KiB, far above any legitimate request.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// How the API behaves.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long a login's token works (default 24 hours).
    pub session_ttl: Duration,
    /// Failed-login limits.
    pub login_limits: LoginLimits,
    /// The work each new password hash takes.
    pub password_cost: PasswordCost,
    /// Whether the dashboard's session cookie is `Secure` (sent over HTTPS only): true when
    /// users reach the server over TLS, through a reverse proxy that terminates it.
    pub secure_cookies: bool,
    /// The directory whose candle files users may backtest on the server (none by default).
    pub candles_dir: Option<std::path::PathBuf>,
    /// The directory where users' uploaded candle files are kept, one directory per user (none
    /// by default: uploads are refused).
    pub uploads_dir: Option<std::path::PathBuf>,
    /// The connection cap, the timeouts and the drain at shutdown.
    pub limits: serve::Limits,
    /// Whether users' webhooks may point at private, loopback and link-local addresses (false by
    /// default: see `notify::targets`).
    pub allow_private_webhooks: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            session_ttl: Duration::from_secs(24 * 60 * 60),
            login_limits: LoginLimits::default(),
            password_cost: PasswordCost::default(),
            secure_cookies: false,
            candles_dir: None,
            uploads_dir: None,
            limits: serve::Limits::default(),
            allow_private_webhooks: false,
        }
    }
}

/// What the handlers share: the store, the users' exchange accounts and the venues' listings,
/// the configuration and the failed-login counts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    store: Store,
    accounts: Arc<AccountClients>,
    catalogs: Catalogs,
    config: ApiConfig,
    limiter: Arc<LoginLimiter>,
    /// The hash that logins of unknown users are checked against, made on first need.
    dummy_hash: Arc<OnceLock<String>>,
    /// The backtest directory and the runs going on.
    backtests: backtests::Backtests,
    /// The threads that hash passwords: one per core (see `routes::blocking`).
    password_work: Arc<rayon::ThreadPool>,
    /// Set once the server stops: long-lived answers (the chart's updates stream) end then, so
    /// that a graceful shutdown does not wait for them.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl ApiState {
    /// The state of an API on `store`, trading on the venues of `accounts`, configured by
    /// `config`. Share `accounts` with the engine of the same process, so that a key replaced
    /// here is dropped from the engine's cache at once.
    pub fn new(store: Store, accounts: Arc<AccountClients>, config: ApiConfig) -> Self {
        ApiState {
            store,
            catalogs: accounts.venues().catalogs(),
            accounts,
            limiter: Arc::new(LoginLimiter::new(config.login_limits)),
            backtests: backtests::Backtests::new(
                config.candles_dir.clone(),
                config.uploads_dir.clone(),
            ),
            config,
            dummy_hash: Arc::default(),
            password_work: Arc::new(password_threads()),
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Ends the long-lived answers in flight (and any started later): call it when the server
    /// begins to shut down, or its graceful shutdown waits for them. [`serve`] does.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// The store the API serves.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// One thread per core for password hashing.
fn password_threads() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(std::thread::available_parallelism().map_or(1, usize::from))
        .thread_name(|index| format!("password-{index}"))
        .build()
        .expect("threads can be started")
}

/// The API's routes on `state`, with a body limit of [`BODY_LIMIT_BYTES`] and JSON answers for
/// unknown routes (404) and methods (405).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(routes::health))
        .route("/ready", get(routes::ready))
        .route("/api/v1/auth/register", post(routes::register))
        .route("/api/v1/auth/login", post(routes::login))
        .route("/api/v1/auth/logout", post(routes::logout))
        .route("/api/v1/me", get(routes::me))
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .merge(browser_session::routes())
        .merge(backtests::routes())
        .merge(chart::routes())
        .merge(credentials::routes())
        .merge(account::routes())
        .merge(admin::routes())
        .merge(bots::routes())
        .merge(trades::routes())
        .merge(notifications::routes())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state)
}

/// Serves [`router`] on `listener` within the limits of the state's configuration until
/// `shutdown` completes, then finishes the requests in flight within the drain's time. Each
/// request sees its client's address, which the failed-login limit per IP counts.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> serve::Drained {
    let closing = state.clone();
    let limits = state.config.limits;
    let shutdown = async move {
        shutdown.await;
        closing.close_streams();
    };
    serve_router(listener, router(state), limits, shutdown).await
}

/// Serves `app` (the [`router`], with whatever routes the caller merged into it, such as the
/// web dashboard's) like [`serve`], within `limits`; `shutdown` must call
/// [`ApiState::close_streams`] on the state of `app`.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    limits: serve::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> serve::Drained {
    serve::serve(listener, app, limits, shutdown).await
}

use accounts::wall_now_ms as now_ms;
