//! The HTTP server: Binance's REST paths on loopback, in-process for tests ([`start`] on port 0)
//! or as `spotbot sim`, plus the admin API under [`ADMIN_PREFIX`]. With an [`AdminToken`] it may
//! also listen beyond loopback ([`start_with`]), for a fleet's workers on other machines.
//!
//! Every REST request goes through one pipeline ([`serve_endpoint`]): rate limits (weight per
//! client IP, 429/418 with `Retry-After`), injected faults decided before anything runs, the
//! endpoint itself (a synchronous function over the locked [`Exchange`]; the lock is never held
//! across an `.await`), faults that strike after executing, and the `X-MBX-USED-WEIGHT-*` /
//! `X-MBX-ORDER-COUNT-*` headers. On a durable exchange the answer then waits, with the lock
//! released, until the journal holds every change made before it (see [`crate::durable`]).

mod admin;
mod auth;
mod market_data;
mod params;
mod responses;
mod sockets;
mod stream;
mod trading;
mod weights;
mod ws_api;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::durable::{Durability, DurableState, DurableTicket, JournalFailure, JournalStats};
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::exchange::Exchange;
use crate::faults::{Failure, Timing};
use crate::limits::Throttle;
use crate::state::StateError;
use admin::AdminAccess;
use auth::API_KEY_HEADER;
use params::Params;
use sockets::Sockets;

pub use admin::{ADMIN_PREFIX, AdminToken};

/// Shared access to the running exchange, for the server and for tests that inspect or change
/// its state (accounts, the order log, the clock). On a durable exchange, changes made through it
/// are journaled as a request's are; [`RunningSim::sync_journal`] waits until they are on disk.
#[derive(Clone)]
pub struct ExchangeHandle {
    inner: Arc<Mutex<Exchange>>,
    /// The open WebSockets (streams and the WebSocket API), which the server ends when it stops.
    sockets: Arc<Sockets>,
}

impl ExchangeHandle {
    /// Wraps `exchange` for sharing.
    pub fn new(exchange: Exchange) -> ExchangeHandle {
        ExchangeHandle {
            inner: Arc::new(Mutex::new(exchange)),
            sockets: Arc::default(),
        }
    }

    /// Locks the exchange. Hold the guard briefly: requests wait for it.
    pub fn lock(&self) -> MutexGuard<'_, Exchange> {
        // A handler that panicked cannot have left the state half-changed in a way a later
        // request should not see: every operation validates before it mutates.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open WebSockets of the server serving this exchange.
    pub(crate) fn sockets(&self) -> &Arc<Sockets> {
        &self.sockets
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address is not a loopback address, and no admin token lets other machines in.
    #[error(
        "refusing to listen on {0}: without an admin token the simulator serves loopback only \
         (use 127.0.0.1 or [::1], or set an admin token to serve other machines)"
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
    /// The durable state could not be restored or written, or its journal not started.
    #[error("{0}")]
    State(#[from] StateError),
}

/// How [`start_with`] serves an exchange.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// Keep the exchange's state in these files, journaling every change before answering (see
    /// [`DurableState`]); `None` keeps it in memory only.
    pub durable: Option<DurableState>,
    /// Serve the admin API to the clients that send this bearer token (loopback ones too), and
    /// allow listening beyond loopback; `None` keeps the admin API (and the server) to loopback,
    /// where any local process may use it.
    pub admin_token: Option<AdminToken>,
    /// The connection cap, the timeouts and the drain at shutdown.
    pub limits: serve::Limits,
}

/// A server started by [`start`] or [`start_with`].
pub struct RunningSim {
    local_addr: SocketAddr,
    exchange: ExchangeHandle,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<serve::Drained>,
    durability: Option<Durability>,
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

    /// Stops accepting connections, sends every open WebSocket Binance's `serverShutdown` event
    /// and a close frame, lets requests in flight finish, and waits for the server;
    /// a durable exchange then writes every change to its journal and stops its threads (the
    /// error says when the journal failed before).
    pub async fn stop(self) -> io::Result<()> {
        // WebSockets outlive the HTTP server (they are upgraded out of it): they are told to end,
        // with Binance's `serverShutdown` event.
        let now_ms = self.exchange.lock().now_ms();
        self.exchange.sockets().shut_down(now_ms);
        // The server may already be gone (it failed); its result says why.
        let _ = self.shutdown.send(());
        // Requests in flight get the drain's bounded time: a client that drips a request
        // cannot keep the journal from being closed below.
        self.task.await.map_err(io::Error::other)?;
        if let Some(durability) = self.durability {
            tokio::task::spawn_blocking(move || durability.stop())
                .await
                .map_err(io::Error::other)?
                .map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Waits until every change made so far is on disk (at once when the exchange is not
    /// durable): for in-process users that change the exchange through
    /// [`exchange`](Self::exchange) rather than requests.
    pub async fn sync_journal(&self) -> Result<(), JournalFailure> {
        let ticket = self.exchange.lock().journal_ticket();
        match ticket {
            Some(ticket) => ticket.wait().await,
            None => Ok(()),
        }
    }

    /// Resolves when the journal stops taking changes because the disk failed, with the reason;
    /// never when the exchange is not durable. The exchange then answers every request that
    /// changes or reads its state with an error, so it should be stopped and restarted.
    pub async fn journal_failed(&self) -> JournalFailure {
        match &self.durability {
            Some(durability) => durability.journal().closed().await,
            None => std::future::pending().await,
        }
    }

    /// What the journal's writer has done so far (`None` when the exchange is not durable).
    pub fn journal_stats(&self) -> Option<JournalStats> {
        self.durability
            .as_ref()
            .map(|durability| durability.journal().stats())
    }
}

/// Starts serving `exchange` on `listen`, which must be a loopback address (port 0 picks a free
/// port), in memory and with the admin API for loopback clients only. Must be called within a
/// Tokio runtime.
pub async fn start(exchange: Exchange, listen: SocketAddr) -> Result<RunningSim, StartError> {
    start_with(exchange, listen, ServeOptions::default()).await
}

/// Starts serving `exchange` on `listen` as `options` say (port 0 picks a free port): durably
/// when `options.durable` holds the state read back from its files (restored into `exchange`
/// when not done yet, then a first snapshot is written before anything is served), and beyond
/// loopback only with an admin token, which every admin client must then send. Must be called
/// within a Tokio runtime.
pub async fn start_with(
    exchange: Exchange,
    listen: SocketAddr,
    options: ServeOptions,
) -> Result<RunningSim, StartError> {
    if !listen.ip().to_canonical().is_loopback() && options.admin_token.is_none() {
        return Err(StartError::NotLoopback(listen));
    }
    let bind_error = |source| StartError::Bind {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    let (exchange, durability) = match options.durable {
        Some(state) => {
            let journal = state.journal_path().to_owned();
            // Writing the first snapshot blocks on the disk: off the runtime's threads.
            let (exchange, durability) =
                tokio::task::spawn_blocking(move || Durability::start(exchange, state))
                    .await
                    .map_err(|err| StateError::Write {
                        path: journal,
                        source: io::Error::other(err),
                    })??;
            (exchange, Some(durability))
        }
        None => (ExchangeHandle::new(exchange), None),
    };
    let (shutdown, shutdown_requested) = oneshot::channel::<()>();
    let access = AdminAccess::new(options.admin_token);
    let app = router(exchange.clone(), access);
    let task = tokio::spawn(serve::serve(listener, app, options.limits, async move {
        // A dropped sender also means stop.
        let _ = shutdown_requested.await;
    }));
    Ok(RunningSim {
        local_addr,
        exchange,
        shutdown,
        task,
        durability,
    })
}

fn router(exchange: ExchangeHandle, admin_access: AdminAccess) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/ticker/price", get(ticker_price))
        .route("/api/v3/ticker/24hr", get(ticker_24hr))
        .route("/api/v3/ticker/bookTicker", get(book_ticker))
        .route("/api/v3/avgPrice", get(avg_price))
        .route("/api/v3/depth", get(depth))
        .route("/api/v3/klines", get(klines))
        .route("/api/v3/order", get(query_order).post(new_order))
        .route("/api/v3/order/test", post(test_order))
        .route("/api/v3/account", get(account))
        .route("/api/v3/account/commission", get(account_commission))
        .route("/api/v3/openOrders", get(open_orders))
        .route("/api/v3/myTrades", get(my_trades))
        .route("/api/v3/allOrders", get(all_orders))
        .route("/ws", get(stream::raw_streams))
        .route("/ws/{stream}", get(stream::raw_stream))
        .route("/stream", get(stream::combined_streams))
        .route("/ws-api/v3", get(ws_api::connect))
        .nest(ADMIN_PREFIX, admin::router(admin_access))
        .with_state(exchange)
}

/// What every REST handler receives: the exchange, the client's address, the headers, the raw
/// query string and the raw body.
type Parts = (
    State<ExchangeHandle>,
    ConnectInfo<SocketAddr>,
    HeaderMap,
    Uri,
    Bytes,
);

/// One REST request as an endpoint reads it.
pub struct Request<'a> {
    /// The parameters from the query string and the body.
    pub params: Params,
    /// The HTTP headers (the API key).
    pub headers: &'a HeaderMap,
    /// The client's address, which the API key's IP whitelist must admit.
    pub peer: IpAddr,
    /// The query string as sent (what was signed).
    pub raw_query: &'a str,
    /// The body as sent (what was signed).
    pub raw_body: &'a str,
    /// Orders younger than this are not shown yet by the order queries (an injected fault), ms.
    pub not_queryable_ms: u64,
}

/// A refused request: Binance's error, its HTTP status, and `Retry-After` for 418/429.
#[derive(Debug)]
pub struct Rejection {
    status: StatusCode,
    error: ApiError,
    retry_after_s: Option<u64>,
}

impl From<ApiError> for Rejection {
    fn from(error: ApiError) -> Rejection {
        Rejection {
            status: StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            error,
            retry_after_s: None,
        }
    }
}

impl From<Throttle> for Rejection {
    fn from(throttle: Throttle) -> Rejection {
        Rejection {
            status: if throttle.banned {
                StatusCode::IM_A_TEAPOT
            } else {
                StatusCode::TOO_MANY_REQUESTS
            },
            error: throttle.error,
            retry_after_s: Some(throttle.retry_after_s),
        }
    }
}

macro_rules! endpoint_handlers {
    ($($handler:ident => $endpoint:expr, $function:expr;)*) => {$(
        async fn $handler(
            (State(exchange), ConnectInfo(peer), headers, uri, body): Parts,
        ) -> Response {
            let run = |exchange: &mut Exchange, request: &mut Request<'_>| {
                $function(exchange, request).map_err(Rejection::from)
            };
            serve_endpoint(&exchange, $endpoint, run, peer, &headers, &uri, &body).await
        }
    )*};
}

endpoint_handlers! {
    ping => Endpoint::Ping, market_data::ping;
    time => Endpoint::Time, market_data::time;
    exchange_info => Endpoint::ExchangeInfo, market_data::exchange_info;
    ticker_price => Endpoint::TickerPrice, market_data::ticker_price;
    ticker_24hr => Endpoint::Ticker24hr, market_data::ticker_24hr;
    book_ticker => Endpoint::BookTicker, market_data::book_ticker;
    avg_price => Endpoint::AvgPrice, market_data::avg_price;
    depth => Endpoint::Depth, market_data::depth;
    klines => Endpoint::Klines, market_data::klines;
    new_order => Endpoint::NewOrder, trading::new_order;
    test_order => Endpoint::TestOrder, trading::test_order;
    query_order => Endpoint::QueryOrder, trading::query_order;
    account => Endpoint::Account, trading::account;
    account_commission => Endpoint::AccountCommission, trading::account_commission;
    open_orders => Endpoint::OpenOrders, trading::open_orders;
    my_trades => Endpoint::MyTrades, trading::my_trades;
    all_orders => Endpoint::AllOrders, trading::all_orders;
}

/// The pipeline every REST request goes through (see the module doc).
async fn serve_endpoint(
    exchange: &ExchangeHandle,
    endpoint: Endpoint,
    run: impl FnOnce(&mut Exchange, &mut Request<'_>) -> Result<Value, Rejection>,
    peer: SocketAddr,
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
) -> Response {
    let ip = peer.ip();
    let raw_query = uri.query().unwrap_or("");
    let raw_body = String::from_utf8_lossy(body);
    let api_key = headers
        .get(API_KEY_HEADER)
        .and_then(|value| value.to_str().ok());
    let params = Params::parse(raw_query, &raw_body);
    let weight = weights::weight(endpoint, params.as_ref().ok());

    let decision = {
        let mut exchange = exchange.lock();
        if let Err(throttle) = exchange.admit_request(ip, weight) {
            let headers = exchange.usage_headers(ip, None);
            return reject(throttle.into(), headers);
        }
        exchange.fault_state().decide(endpoint, api_key)
    };
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    if let Some(failure) = decision.failure
        && failure.timing() == Timing::BeforeExecuting
    {
        let mut exchange = exchange.lock();
        exchange.charge_request(ip, weight);
        let headers = exchange.usage_headers(ip, None);
        return injected(failure, &exchange, headers);
    }

    let (response, journal) = {
        let mut exchange = exchange.lock();
        let outcome = params.map_err(Rejection::from).and_then(|params| {
            let mut request = Request {
                params,
                headers,
                peer: ip,
                raw_query,
                raw_body: &raw_body,
                not_queryable_ms: decision.not_queryable_ms,
            };
            run(&mut exchange, &mut request)
        });
        // A successful order placement costs no weight (reference § 0, CHANGELOG 2026-03-27).
        let charged = if endpoint.places_orders() && outcome.is_ok() {
            0
        } else {
            weight
        };
        exchange.charge_request(ip, charged);
        // A key refused as revoked or off its whitelist gets the answer an unknown key gets: no
        // account's order counts.
        let order_account = api_key.filter(|key| {
            endpoint.places_orders()
                && exchange
                    .account(key)
                    .is_some_and(|account| account.key_accepts(ip))
        });
        let usage = exchange.usage_headers(ip, order_account);
        let response = match (decision.failure, outcome) {
            (Some(failure), _) => injected(failure, &exchange, usage),
            (None, Ok(body)) => {
                with_headers((StatusCode::OK, axum::Json(body)).into_response(), usage)
            }
            (None, Err(rejection)) => reject(rejection, usage),
        };
        (response, exchange.journal_ticket())
    };
    when_durable(journal, response).await
}

/// `response` once `journal` (the records of every change made before it) is on disk; when the
/// journal failed instead, -1006 (execution status unknown): the change may be lost.
async fn when_durable(journal: Option<DurableTicket>, response: Response) -> Response {
    let Some(journal) = journal else {
        return response;
    };
    match journal.wait().await {
        Ok(()) => response,
        Err(_) => reject(ApiError::unexpected_response().into(), Vec::new()),
    }
}

/// The answer an injected failure gives instead of the real one.
fn injected(failure: Failure, exchange: &Exchange, usage: Vec<(String, u64)>) -> Response {
    let rejection = match failure {
        Failure::DropConnection(_) => return Response::new(Body::new(BrokenBody)),
        Failure::ServerError { status, .. } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = status.canonical_reason().unwrap_or("Server Error");
            return with_headers((status, text.to_owned()).into_response(), usage);
        }
        Failure::UnexpectedResponse(_) => ApiError::unexpected_response().into(),
        Failure::BackendTimeout(_) => ApiError::backend_timeout().into(),
        Failure::ServerBusy => ApiError::server_busy().into(),
        Failure::TooManyRequests { retry_after_s } => Throttle {
            error: ApiError::too_many_requests("Too many requests queued.".to_owned()),
            banned: false,
            retry_after_s,
        }
        .into(),
        Failure::Banned { retry_after_s } => {
            let ban_ms = i64::try_from(retry_after_s.saturating_mul(1_000)).unwrap_or(i64::MAX);
            Throttle {
                error: ApiError::ip_banned(exchange.now_ms().saturating_add(ban_ms)),
                banned: true,
                retry_after_s,
            }
            .into()
        }
    };
    reject(rejection, usage)
}

/// A response body that fails before its first byte: the server closes the connection without
/// an answer, as when a connection drops after the exchange executed the request.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "injected fault: connection dropped",
        ))))
    }
}

/// An error answer: `{"code":..,"msg":..}` with its status, `Retry-After` and usage headers.
fn reject(rejection: Rejection, usage: Vec<(String, u64)>) -> Response {
    let body = json!({"code": rejection.error.code, "msg": rejection.error.msg});
    let mut response = with_headers((rejection.status, axum::Json(body)).into_response(), usage);
    if let Some(seconds) = rejection.retry_after_s {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Adds the usage headers (`X-MBX-USED-WEIGHT-1M: 42`, ...).
fn with_headers(mut response: Response, usage: Vec<(String, u64)>) -> Response {
    for (name, value) in usage {
        if let Ok(name) = HeaderName::try_from(name) {
            response
                .headers_mut()
                .insert(name, HeaderValue::from(value));
        }
    }
    response
}
