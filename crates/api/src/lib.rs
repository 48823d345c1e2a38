//! spotbot's HTTP API: health and readiness, accounts (register, login, logout, `me`) with
//! argon2id password hashes, expiring and revocable bearer tokens, and failed-login limits per
//! account and per IP; each user's exchange keys (encrypted at rest), bots, trades, positions and
//! performance, every query scoped to the caller (another user's resource is a 404). Everything
//! speaks JSON, errors included (`{code, message, field}`, see [`ApiError`]).
//!
//! [`router`] builds the routes on an [`ApiState`]; [`serve`] runs them on a listener with the
//! client addresses the login limits need:
//!
//! ```no_run
//! # async fn demo(store: store::Store) -> std::io::Result<()> {
//! let state = api::ApiState::new(store, api::ApiConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! api::serve(listener, state, std::future::pending()).await
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
//! | `GET /api/v1/me` | 200 [`UserBody`] of the bearer token's user |
//! | `PUT`/`GET`/`DELETE /api/v1/credentials` | the caller's exchange keys, the secret encrypted ([`vault`]) and never returned |
//! | `/api/v1/bots` (+ `/{id}`, `/{id}/start\|stop\|pause`) | the caller's bots ([`BotBody`]) |
//! | `GET /api/v1/trades` (+ `.csv`) | the caller's trades: filters by bot, symbol, side and time, cursor pages |
//! | `GET /api/v1/positions` | the caller's bots' positions |
//! | `GET /api/v1/performance` (`?bot=ID`) | realised PnL, fees, win rate, trade counts, max drawdown |
//! | `GET /api/v1/openapi.json` | 200: the OpenAPI 3 document of these routes, generated from the code ([`ApiDoc`]) |

mod auth;
mod bots;
mod credentials;
mod error;
mod json;
mod limiter;
mod openapi;
pub mod password;
mod routes;
mod trades;
pub mod validate;
pub mod vault;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use store::Store;
use tokio::net::TcpListener;

pub use auth::AuthUser;
pub use bots::{
    BOT_NAME_MAX_CHARS, BotBody, CreateBotRequest, KnownSymbols, PatchBotRequest, PositionBody,
};
pub use credentials::{CREDENTIAL_MAX_CHARS, CredentialsBody, PutCredentialsRequest};
pub use error::{ApiError, ErrorBody};
pub use json::Json;
pub use limiter::LoginLimits;
pub use openapi::{ApiDoc, BEARER_SCHEME};
pub use password::PasswordCost;
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
    /// The key that encrypts users' exchange secrets; without one (the default) storing
    /// credentials answers 503. `spotbot run` always sets it (see [`vault::MasterKey::load`]).
    pub master_key: Option<vault::MasterKey>,
    /// The symbols bots may trade, with their rules (default: the simulator's listings).
    pub symbols: KnownSymbols,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            session_ttl: Duration::from_secs(24 * 60 * 60),
            login_limits: LoginLimits::default(),
            password_cost: PasswordCost::default(),
            master_key: None,
            symbols: KnownSymbols::default(),
        }
    }
}

/// What the handlers share: the store, the configuration and the failed-login counts. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    store: Store,
    config: ApiConfig,
    limiter: Arc<LoginLimiter>,
    /// The hash that logins of unknown users are checked against, made on first need.
    dummy_hash: Arc<OnceLock<String>>,
}

impl ApiState {
    /// The state of an API on `store` configured by `config`.
    pub fn new(store: Store, config: ApiConfig) -> Self {
        ApiState {
            store,
            limiter: Arc::new(LoginLimiter::new(config.login_limits)),
            config,
            dummy_hash: Arc::default(),
        }
    }

    /// The store the API serves.
    pub fn store(&self) -> &Store {
        &self.store
    }
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
        .merge(credentials::routes())
        .merge(bots::routes())
        .merge(trades::routes())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then finishes the requests in
/// flight. Each request sees its client's address, which the failed-login limit per IP counts.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The wall clock in ms since the epoch (0 before 1970, which no real clock shows).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
