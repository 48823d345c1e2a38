//! The HTTP server: Binance's REST paths on loopback, in-process for tests ([`start`] on port 0)
//! or as `spotbot sim`.
//!
//! Handlers are synchronous functions over the locked [`Exchange`]; the lock is never held across
//! an `.await`.

mod auth;
mod market_data;
mod params;
mod responses;
mod trading;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::exchange::Exchange;
use auth::{Signed, authenticate};
use params::Params;

/// Shared access to the running exchange, for the server and for tests that inspect or change
/// its state (accounts, the order log, the clock).
#[derive(Clone)]
pub struct ExchangeHandle {
    inner: Arc<Mutex<Exchange>>,
}

impl ExchangeHandle {
    /// Wraps `exchange` for sharing.
    pub fn new(exchange: Exchange) -> ExchangeHandle {
        ExchangeHandle {
            inner: Arc::new(Mutex::new(exchange)),
        }
    }

    /// Locks the exchange. Hold the guard briefly: requests wait for it.
    pub fn lock(&self) -> MutexGuard<'_, Exchange> {
        // A handler that panicked cannot have left the state half-changed in a way a later
        // request should not see: every operation validates before it mutates.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address is not a loopback address.
    #[error(
        "refusing to listen on {0}: the simulator serves loopback only (use 127.0.0.1 or [::1])"
    )]
    NotLoopback(SocketAddr),
    /// The socket could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another process using the port? pick another one, or port 0)"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
}

/// A server started by [`start`].
pub struct RunningSim {
    local_addr: SocketAddr,
    exchange: ExchangeHandle,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningSim {
    /// The address it listens on (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The exchange it serves.
    pub fn exchange(&self) -> &ExchangeHandle {
        &self.exchange
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for the server.
    pub async fn stop(self) -> io::Result<()> {
        // The server may already be gone (it failed); its result says why.
        let _ = self.shutdown.send(());
        self.task.await.map_err(io::Error::other)?
    }
}

/// Starts serving `exchange` on `listen`, which must be a loopback address (port 0 picks a free
/// port). Must be called within a Tokio runtime.
pub async fn start(exchange: Exchange, listen: SocketAddr) -> Result<RunningSim, StartError> {
    if !listen.ip().is_loopback() {
        return Err(StartError::NotLoopback(listen));
    }
    let bind_error = |source| StartError::Bind {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    let exchange = ExchangeHandle::new(exchange);
    let (shutdown, shutdown_requested) = oneshot::channel::<()>();
    let app = router(exchange.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender also means stop.
                let _ = shutdown_requested.await;
            })
            .await
    });
    Ok(RunningSim {
        local_addr,
        exchange,
        shutdown,
        task,
    })
}

fn router(exchange: ExchangeHandle) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/ticker/price", get(ticker_price))
        .route("/api/v3/klines", get(klines))
        .route("/api/v3/order", get(query_order).post(new_order))
        .route("/api/v3/account", get(account))
        .with_state(exchange)
}

/// What every handler receives: the exchange, the headers, the raw query string and the raw body.
type Parts = (State<ExchangeHandle>, HeaderMap, Uri, Bytes);

async fn ping((State(exchange), _, uri, body): Parts) -> Response {
    public(&exchange, &uri, &body, |_, params| {
        market_data::ping(params)
    })
}

async fn time((State(exchange), _, uri, body): Parts) -> Response {
    public(&exchange, &uri, &body, |exchange, params| {
        market_data::time(exchange, params)
    })
}

async fn exchange_info((State(exchange), _, uri, body): Parts) -> Response {
    public(&exchange, &uri, &body, |exchange, params| {
        market_data::exchange_info(exchange, params)
    })
}

async fn ticker_price((State(exchange), _, uri, body): Parts) -> Response {
    public(&exchange, &uri, &body, market_data::ticker_price)
}

async fn klines((State(exchange), _, uri, body): Parts) -> Response {
    public(&exchange, &uri, &body, market_data::klines)
}

async fn new_order((State(exchange), headers, uri, body): Parts) -> Response {
    signed(&exchange, &headers, &uri, &body, trading::new_order)
}

async fn query_order((State(exchange), headers, uri, body): Parts) -> Response {
    signed(
        &exchange,
        &headers,
        &uri,
        &body,
        |exchange, signed, params| trading::query_order(exchange, signed, params),
    )
}

async fn account((State(exchange), headers, uri, body): Parts) -> Response {
    signed(
        &exchange,
        &headers,
        &uri,
        &body,
        |exchange, signed, params| trading::account(exchange, signed, params),
    )
}

/// Runs a public endpoint.
fn public(
    exchange: &ExchangeHandle,
    uri: &Uri,
    body: &Bytes,
    endpoint: impl FnOnce(&mut Exchange, &mut Params) -> Result<Value, ApiError>,
) -> Response {
    let body = String::from_utf8_lossy(body);
    let outcome = Params::parse(uri.query().unwrap_or(""), &body)
        .and_then(|mut params| endpoint(&mut exchange.lock(), &mut params));
    respond(outcome)
}

/// Runs a SIGNED endpoint after authenticating the request.
fn signed(
    exchange: &ExchangeHandle,
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
    endpoint: impl FnOnce(&mut Exchange, &Signed, &mut Params) -> Result<Value, ApiError>,
) -> Response {
    let raw_query = uri.query().unwrap_or("");
    let raw_body = String::from_utf8_lossy(body);
    let outcome = Params::parse(raw_query, &raw_body).and_then(|mut params| {
        let mut exchange = exchange.lock();
        let signed = authenticate(&exchange, headers, raw_query, &raw_body, &mut params)?;
        endpoint(&mut exchange, &signed, &mut params)
    });
    respond(outcome)
}

fn respond(outcome: Result<Value, ApiError>) -> Response {
    match outcome {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(error) => {
            let status =
                StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let body = json!({"code": error.code, "msg": error.msg});
            (status, axum::Json(body)).into_response()
        }
    }
}
