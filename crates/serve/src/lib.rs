//! Serving an axum [`Router`] over TCP with the limits a service open to many clients needs,
//! which `axum::serve` leaves out:
//! - at most [`Limits::max_connections`] connections at once: the next ones wait in the
//!   kernel's backlog, so a flood of idle sockets cannot take every file descriptor of the
//!   process (and its database's, its exchange's) and starve `/health`;
//! - a request's head must arrive within [`Limits::header_timeout`], which also closes a
//!   connection left idle that long between requests;
//! - a request's body must arrive within [`Limits::body_timeout`] (a client that drips one
//!   gets an error, not a handler waiting forever);
//! - at shutdown, connections finish the requests in flight within [`Limits::drain_timeout`],
//!   then are dropped: a slow client never holds the process, and what it saves on its way out,
//!   hostage.
//!
//! Written on hyper and hyper-util because `axum::serve` exposes none of these settings; the
//! connection handling itself is theirs. The handlers see the client's address as axum's
//! [`ConnectInfo`], as with `into_make_service_with_connect_info`. A connection upgraded (a
//! WebSocket) leaves the cap once upgraded: its task belongs to the handler.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::{Layer, ServiceExt};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::{debug, warn};

/// How long to wait after a failed `accept` (out of file descriptors, say) before the next
/// one: the error would otherwise repeat in a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once (default 4,096).
    pub max_connections: u32,
    /// The time a request's head may take to arrive, and a connection may stay idle between
    /// requests (default 30 s).
    pub header_timeout: Duration,
    /// The time a request's body may take to arrive (default 60 s).
    pub body_timeout: Duration,
    /// At shutdown, the time the requests in flight get to finish (default 10 s).
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4_096,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// These limits with at most `max` connections.
    pub fn with_max_connections(self, max: u32) -> Limits {
        Limits {
            max_connections: max.max(1),
            ..self
        }
    }
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Connections still open when the drain timed out (0: all finished in time).
    pub abandoned: u32,
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then drains (see
/// the module's documentation).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (closing, closing_seen) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "cannot accept a connection; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let connection = Connection {
            router: router.clone(),
            limits,
            peer,
            closing: closing_seen.clone(),
            _slot: slot,
        };
        tokio::spawn(connection.serve(stream));
    }
    closing.send_replace(true);
    drain(&slots, limits).await
}

/// Serves `router` on `listener` in the background until the process exits, with
/// [`PROBE_CONNECTIONS`] connections at most: an operator's endpoint (a health check, metrics)
/// that a supervisor or a scraper polls, never many clients at once.
pub fn spawn_probe_endpoint(listener: TcpListener, router: Router) {
    let limits = Limits::default().with_max_connections(PROBE_CONNECTIONS);
    tokio::spawn(serve(listener, router, limits, std::future::pending()));
}

/// The connections a probe endpoint serves at once.
pub const PROBE_CONNECTIONS: u32 = 16;

/// Waits for the connections to finish, at most `limits.drain_timeout`.
async fn drain(slots: &Semaphore, limits: Limits) -> Drained {
    let all = limits.max_connections;
    match tokio::time::timeout(limits.drain_timeout, slots.acquire_many(all)).await {
        Ok(_) => Drained { abandoned: 0 },
        Err(_) => {
            let open = all.saturating_sub(slots.available_permits() as u32);
            warn!(
                connections = open,
                "connections still open {} s into the shutdown: dropped",
                limits.drain_timeout.as_secs()
            );
            Drained { abandoned: open }
        }
    }
}

/// One accepted connection and what it holds: a slot of the cap until it ends.
struct Connection {
    router: Router,
    limits: Limits,
    peer: SocketAddr,
    closing: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        // Small responses (an order's answer) go out at once rather than after Nagle's delay.
        let _ = stream.set_nodelay(true);
        let peer = self.peer;
        let app = RequestBodyTimeoutLayer::new(self.limits.body_timeout).layer(
            self.router
                .clone()
                .map_request(move |mut request: Request<_>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                }),
        );
        let service = TowerToHyperService::new(app);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        tokio::pin!(connection);
        let mut closing = self.closing.clone();
        let shutdown = async move {
            // The guard `wait_for` returns is dropped here, before anything else is awaited.
            let _ = closing.wait_for(|closing| *closing).await.map(|_| ());
        };
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            () = shutdown => {
                // Finish the request in flight, then close; the drain bounds how long.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = ended {
            debug!(%peer, %error, "connection ended with an error");
        }
    }
}
