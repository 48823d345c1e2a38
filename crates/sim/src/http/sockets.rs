//! What every WebSocket of the simulator shares, market streams (`/ws`, `/stream`) and the
//! WebSocket API (`/ws-api/v3`) alike: the registry of open sockets (for the admin API's fault
//! that drops them, and for the `serverShutdown` event when the simulator stops), and the
//! connection rules Binance documents for both services, enforced by [`Connection`]:
//!
//! - the server sends a ping frame every [`PING_INTERVAL`] and closes the connection when no pong
//!   echoing a ping's payload came back within [`PONG_TIMEOUT`] (checked when the next ping is
//!   due, so after 60 to 80 s); unsolicited pongs are accepted and keep nothing alive;
//! - a connection lives at most [`MAX_LIFETIME`] (24 h), then is closed with a close frame;
//! - at most [`MAX_CONNECTION_ATTEMPTS`] connection attempts per IP per
//!   [`CONNECTION_ATTEMPT_WINDOW`] (5 minutes) and service; more are refused with HTTP 429;
//! - on market streams, at most [`MAX_INCOMING_PER_SECOND`] incoming messages a second (pings,
//!   pongs and JSON requests alike); one more closes the connection (close code 1008);
//! - an incoming message larger than [`MAX_MESSAGE_BYTES`] closes the connection (Binance
//!   documents no size; a SUBSCRIBE naming 1024 streams fits with room to spare);
//! - a client that does not take a message within [`SEND_TIMEOUT`] is disconnected, as Binance
//!   drops consumers that do not keep up.
//!
//! All of these run on real time, not the market's clock: they are about the network. They are
//! written here because the WebSocket layer (axum's, over tungstenite) only answers the client's
//! pings: it sends none, expects no pongs, and limits neither lifetimes nor message rates.
//!
//! The admin API (under `/_sim`, loopback or admin token) shows and drops sockets, so that a
//! client's reconnection and gap-filling can be tested:
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /_sim/sockets` | | `[{"id", "service": "streams" or "ws_api", "peer", "streams": [...], "accounts": [API keys]}]` |
//! | `POST /_sim/sockets/drop` | `{"service": "streams", "stream": "btcusdt@kline_1m", "api_key": "K", "close_frame": false}` (all optional; every filter given must match) | `{"dropped": N}` |
//!
//! A dropped socket is cut without a close frame (the TCP connection just ends, as when a network
//! fails), or with a close frame (code 1001, as at Binance's 24-hour mark) when `close_frame` is
//! true.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::http::ExchangeHandle;

/// How often the server pings every socket.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long a ping may go without its pong before the connection is closed.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a connection may live.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3_600);
/// How many connection attempts one IP may make per [`CONNECTION_ATTEMPT_WINDOW`] and service.
pub const MAX_CONNECTION_ATTEMPTS: usize = 300;
/// The window [`MAX_CONNECTION_ATTEMPTS`] counts over.
pub const CONNECTION_ATTEMPT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How many messages a market-stream client may send per second.
pub const MAX_INCOMING_PER_SECOND: usize = 5;
/// The largest incoming message (and frame) accepted, bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How long one outgoing message may wait for the client to take it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Pings sent and not yet answered that are remembered; older ones are forgotten (their pongs
/// then count as unsolicited), which bounds the memory of a client that never answers.
const MAX_OUTSTANDING_PINGS: usize = 8;
/// Past this many IPs, the attempt counters of IPs quiet for a whole window are forgotten.
const ATTEMPT_TABLE_PRUNE_AT: usize = 4_096;

/// Which WebSocket service a socket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Market streams: `/ws`, `/ws/<stream>`, `/stream`.
    Streams,
    /// The WebSocket API: `/ws-api/v3` (the user data stream).
    WsApi,
}

impl Service {
    fn as_str(self) -> &'static str {
        match self {
            Service::Streams => "streams",
            Service::WsApi => "ws_api",
        }
    }
}

/// Why a socket must end, as told by the admin API or the server's shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Dropped on purpose (the admin API's fault).
    Dropped {
        /// Whether a close frame goes out first.
        close_frame: bool,
    },
    /// The simulator stops: `serverShutdown`, then a close frame.
    ServerShutdown {
        /// The event's time (`E`), server ms.
        event_time_ms: i64,
    },
}

/// One open socket, as the registry knows it.
#[derive(Debug)]
struct OpenSocket {
    service: Service,
    peer: SocketAddr,
    streams: Vec<String>,
    accounts: Vec<String>,
    ending: watch::Sender<Option<Ending>>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: BTreeMap<u64, OpenSocket>,
    attempts: HashMap<(IpAddr, Service), VecDeque<Instant>>,
    shut_down: Option<i64>,
}

/// Every open socket of the server (see the module doc).
#[derive(Debug, Default)]
pub struct Sockets {
    registry: Mutex<Registry>,
}

/// Why a connection is refused before it is upgraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// More than [`MAX_CONNECTION_ATTEMPTS`] in the window.
    TooManyAttempts,
    /// The server is stopping.
    ShuttingDown,
}

impl Refusal {
    /// The HTTP answer to the upgrade request.
    pub fn into_response(self) -> Response {
        match self {
            Refusal::TooManyAttempts => {
                let body = json!({
                    "code": -1034,
                    "msg": format!(
                        "Too many connection attempts from IP; current limit is {MAX_CONNECTION_ATTEMPTS} per '5 minutes'."
                    ),
                });
                (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
            }
            Refusal::ShuttingDown => {
                let body = json!({"code": -1016, "msg": "This service is no longer available."});
                (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
            }
        }
    }
}

impl Sockets {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // The registry is only ever changed by whole-statement updates that cannot leave it
        // half-changed, so a panic elsewhere while it was held does not make it unusable.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a connection attempt of `ip` to `service` at `now`, refusing it past the limit or
    /// once the server is stopping.
    pub fn admit(&self, ip: IpAddr, service: Service, now: Instant) -> Result<(), Refusal> {
        let mut registry = self.registry();
        if registry.shut_down.is_some() {
            return Err(Refusal::ShuttingDown);
        }
        let window_start = now.checked_sub(CONNECTION_ATTEMPT_WINDOW);
        let is_recent = |at: &Instant| window_start.is_none_or(|start| *at > start);
        if registry.attempts.len() >= ATTEMPT_TABLE_PRUNE_AT {
            registry
                .attempts
                .retain(|_, attempts| attempts.back().is_some_and(is_recent));
        }
        let attempts = registry
            .attempts
            .entry((ip.to_canonical(), service))
            .or_default();
        while attempts.front().is_some_and(|at| !is_recent(at)) {
            attempts.pop_front();
        }
        if attempts.len() >= MAX_CONNECTION_ATTEMPTS {
            return Err(Refusal::TooManyAttempts);
        }
        attempts.push_back(now);
        Ok(())
    }

    /// Registers a socket of `service` from `peer`; it stays listed until the guard is dropped.
    pub fn register(self: &Arc<Self>, service: Service, peer: SocketAddr) -> SocketGuard {
        let mut registry = self.registry();
        let id = registry.next_id;
        registry.next_id += 1;
        let (ending, receiver) = watch::channel(None);
        if let Some(event_time_ms) = registry.shut_down {
            // Upgraded while the server was stopping: it ends at once, like the others.
            ending.send_replace(Some(Ending::ServerShutdown { event_time_ms }));
        }
        registry.open.insert(
            id,
            OpenSocket {
                service,
                peer,
                streams: Vec::new(),
                accounts: Vec::new(),
                ending,
            },
        );
        SocketGuard {
            sockets: Arc::clone(self),
            id,
            ending: receiver,
        }
    }

    /// Records the streams socket `id` listens to (as the admin API lists them).
    pub fn set_streams(&self, id: u64, streams: Vec<String>) {
        if let Some(socket) = self.registry().open.get_mut(&id) {
            socket.streams = streams;
        }
    }

    /// Records the accounts whose user data socket `id` listens to.
    pub fn set_accounts(&self, id: u64, accounts: Vec<String>) {
        if let Some(socket) = self.registry().open.get_mut(&id) {
            socket.accounts = accounts;
        }
    }

    /// Ends every socket that `filter` selects; returns how many.
    fn drop_matching(&self, filter: &DropFilter) -> usize {
        let registry = self.registry();
        let mut dropped = 0;
        for socket in registry
            .open
            .values()
            .filter(|socket| filter.selects(socket))
        {
            socket.ending.send_replace(Some(Ending::Dropped {
                close_frame: filter.close_frame,
            }));
            dropped += 1;
        }
        dropped
    }

    /// Tells every socket that the server stops (they send `serverShutdown` with
    /// `event_time_ms` and close), and refuses new ones from now on.
    pub fn shut_down(&self, event_time_ms: i64) {
        let mut registry = self.registry();
        registry.shut_down = Some(event_time_ms);
        for socket in registry.open.values() {
            socket
                .ending
                .send_replace(Some(Ending::ServerShutdown { event_time_ms }));
        }
    }

    /// The open sockets as `GET /_sim/sockets` shows them.
    fn describe(&self) -> Value {
        let registry = self.registry();
        registry
            .open
            .iter()
            .map(|(id, socket)| {
                json!({
                    "id": id,
                    "service": socket.service.as_str(),
                    "peer": socket.peer.to_string(),
                    "streams": socket.streams,
                    "accounts": socket.accounts,
                })
            })
            .collect()
    }
}

/// An open socket's place in the registry, and what tells it to end.
#[derive(Debug)]
pub struct SocketGuard {
    sockets: Arc<Sockets>,
    id: u64,
    ending: watch::Receiver<Option<Ending>>,
}

impl SocketGuard {
    /// The socket's id in the registry.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The registry.
    pub fn sockets(&self) -> &Sockets {
        &self.sockets
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.sockets.registry().open.remove(&self.id);
    }
}

/// What the admin API's drop selects.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DropFilter {
    #[serde(default)]
    service: Option<Service>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    close_frame: bool,
}

impl DropFilter {
    fn selects(&self, socket: &OpenSocket) -> bool {
        self.service.is_none_or(|service| service == socket.service)
            && self
                .stream
                .as_ref()
                .is_none_or(|stream| socket.streams.contains(stream))
            && self
                .api_key
                .as_ref()
                .is_none_or(|api_key| socket.accounts.contains(api_key))
    }
}

/// `GET /_sim/sockets`.
pub async fn list_sockets(State(exchange): State<ExchangeHandle>) -> Response {
    axum::Json(exchange.sockets().describe()).into_response()
}

/// `POST /_sim/sockets/drop`.
pub async fn drop_sockets(State(exchange): State<ExchangeHandle>, body: Bytes) -> Response {
    let text: &[u8] = if body.is_empty() { b"{}" } else { &body };
    match serde_json::from_slice::<DropFilter>(text) {
        Ok(filter) => {
            let dropped = exchange.sockets().drop_matching(&filter);
            axum::Json(json!({"dropped": dropped})).into_response()
        }
        Err(err) => {
            let reason = format!("invalid body: {err}");
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": reason})),
            )
                .into_response()
        }
    }
}

/// The pings sent and not answered yet.
#[derive(Debug, Default)]
pub struct Keepalive {
    next_payload: u64,
    outstanding: VecDeque<(u64, Instant)>,
}

impl Keepalive {
    /// The payload of a ping sent at `now`.
    pub fn ping(&mut self, now: Instant) -> Bytes {
        let payload = self.next_payload;
        self.next_payload += 1;
        if self.outstanding.len() == MAX_OUTSTANDING_PINGS {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back((payload, now));
        Bytes::from(payload.to_string())
    }

    /// A pong with `payload` arrived: it answers the ping with that payload and every earlier
    /// one. A pong echoing no outstanding ping is unsolicited and changes nothing.
    pub fn pong(&mut self, payload: &[u8]) {
        let answered = std::str::from_utf8(payload)
            .ok()
            .and_then(|text| text.parse::<u64>().ok());
        if let Some(answered) = answered
            && self.outstanding.iter().any(|(sent, _)| *sent == answered)
        {
            self.outstanding.retain(|(sent, _)| *sent > answered);
        }
    }

    /// Whether a ping has waited longer than [`PONG_TIMEOUT`] at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.outstanding
            .front()
            .is_some_and(|(_, sent)| now.saturating_duration_since(*sent) > PONG_TIMEOUT)
    }
}

/// The incoming messages of the last second, for [`MAX_INCOMING_PER_SECOND`].
#[derive(Debug, Default)]
pub struct IncomingRate {
    recent: VecDeque<Instant>,
}

impl IncomingRate {
    /// Counts a message received at `now`; `false` when it is one too many.
    pub fn admit(&mut self, now: Instant) -> bool {
        let second = Duration::from_secs(1);
        while self
            .recent
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= second)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= MAX_INCOMING_PER_SECOND {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

/// What a session gets from [`Connection::next`].
#[derive(Debug)]
pub enum Input<T> {
    /// A text message from the client.
    Text(String),
    /// The session's own future completed with this value.
    Woken(T),
    /// The server stops: send `serverShutdown`, then [`Connection::close`].
    ShuttingDown {
        /// The event's time, server ms.
        event_time_ms: i64,
    },
}

/// One upgraded socket under the rules of the module doc. Sessions read inputs with
/// [`next`](Self::next) and write with [`send_text`](Self::send_text).
pub struct Connection {
    socket: WebSocket,
    guard: SocketGuard,
    keepalive: Keepalive,
    incoming: Option<IncomingRate>,
    next_ping: Instant,
    ends_at: Instant,
}

impl Connection {
    /// Takes over `socket`, registered as `guard`; `limit_incoming` applies
    /// [`MAX_INCOMING_PER_SECOND`] (market streams).
    pub fn new(socket: WebSocket, guard: SocketGuard, limit_incoming: bool) -> Connection {
        let now = Instant::now();
        Connection {
            socket,
            guard,
            keepalive: Keepalive::default(),
            incoming: limit_incoming.then(IncomingRate::default),
            next_ping: now + PING_INTERVAL,
            ends_at: now + MAX_LIFETIME,
        }
    }

    /// The socket's registration.
    pub fn guard(&self) -> &SocketGuard {
        &self.guard
    }

    /// The next input for the session: a text message, `wake`'s value, or the server's
    /// shutdown. Pings, pongs, limits, the lifetime and drops are handled here; `None` when the
    /// connection is over (the session then just returns, which closes the socket).
    pub async fn next<T>(&mut self, wake: impl Future<Output = T>) -> Option<Input<T>> {
        let mut wake = pin!(wake);
        loop {
            tokio::select! {
                biased;
                changed = self.guard.ending.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    let ending = *self.guard.ending.borrow_and_update();
                    match ending {
                        Some(Ending::ServerShutdown { event_time_ms }) => {
                            return Some(Input::ShuttingDown { event_time_ms });
                        }
                        Some(Ending::Dropped { close_frame }) => {
                            if close_frame {
                                self.close(close_code::AWAY, "dropped by the simulator's admin API").await;
                            }
                            return None;
                        }
                        None => {}
                    }
                }
                () = tokio::time::sleep_until(self.ends_at) => {
                    self.close(close_code::AWAY, "a connection is valid for 24 hours").await;
                    return None;
                }
                () = tokio::time::sleep_until(self.next_ping) => {
                    let now = Instant::now();
                    if self.keepalive.expired(now) {
                        self.close(close_code::POLICY, "no pong to a ping within a minute").await;
                        return None;
                    }
                    let payload = self.keepalive.ping(now);
                    if !self.send(Message::Ping(payload)).await {
                        return None;
                    }
                    self.next_ping = now + PING_INTERVAL;
                }
                value = &mut wake => return Some(Input::Woken(value)),
                received = self.socket.recv() => {
                    // A failed read (a message over the size limit included) ends the connection.
                    let Some(Ok(message)) = received else {
                        return None;
                    };
                    if let Some(incoming) = &mut self.incoming
                        && !matches!(message, Message::Close(_))
                        && !incoming.admit(Instant::now())
                    {
                        self.close(
                            close_code::POLICY,
                            "too many messages: at most 5 incoming messages per second",
                        )
                        .await;
                        return None;
                    }
                    match message {
                        Message::Text(text) => return Some(Input::Text(text.as_str().to_owned())),
                        Message::Pong(payload) => self.keepalive.pong(&payload),
                        // Pings are answered by the WebSocket layer; binary frames carry nothing
                        // either service reads (Binance's requests are JSON text).
                        Message::Ping(_) | Message::Binary(_) => {}
                        Message::Close(_) => return None,
                    }
                }
            }
        }
    }

    /// Sends `text`; `false` when the client is gone or did not take it within
    /// [`SEND_TIMEOUT`] (the session then ends).
    pub async fn send_text(&mut self, text: String) -> bool {
        self.send(Message::Text(text.into())).await
    }

    /// Sends a close frame with `code` and `reason` (best effort: the connection ends anyway).
    pub async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.send(Message::Close(Some(frame))).await;
    }

    async fn send(&mut self, message: Message) -> bool {
        matches!(
            tokio::time::timeout(SEND_TIMEOUT, self.socket.send(message)).await,
            Ok(Ok(()))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    #[test]
    fn connection_attempts_are_limited_per_ip_and_service_over_five_minutes() {
        let sockets = Sockets::default();
        let start = Instant::now();
        let ip = peer().ip();
        for _ in 0..MAX_CONNECTION_ATTEMPTS {
            assert_eq!(sockets.admit(ip, Service::Streams, start), Ok(()));
        }
        assert_eq!(
            sockets.admit(ip, Service::Streams, start + Duration::from_secs(299)),
            Err(Refusal::TooManyAttempts)
        );
        assert_eq!(
            sockets.admit(ip, Service::WsApi, start),
            Ok(()),
            "another service"
        );
        let other_ip: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(sockets.admit(other_ip, Service::Streams, start), Ok(()));
        assert_eq!(
            sockets.admit(
                ip,
                Service::Streams,
                start + CONNECTION_ATTEMPT_WINDOW + Duration::from_millis(1)
            ),
            Ok(()),
            "the window has passed"
        );
    }

    #[test]
    fn drops_select_by_service_stream_and_account_and_shutdown_ends_everything() {
        let sockets = Arc::new(Sockets::default());
        let market = sockets.register(Service::Streams, peer());
        sockets.set_streams(market.id(), vec!["btcusdt@kline_1m".to_owned()]);
        let api = sockets.register(Service::WsApi, peer());
        sockets.set_accounts(api.id(), vec!["key".to_owned()]);

        let filter = |body: &str| serde_json::from_str::<DropFilter>(body).unwrap();
        assert_eq!(
            sockets.drop_matching(&filter(r#"{"stream": "ethusdt@trade"}"#)),
            0
        );
        assert_eq!(
            sockets.drop_matching(&filter(r#"{"api_key": "key", "service": "streams"}"#)),
            0
        );
        assert!(serde_json::from_str::<DropFilter>(r#"{"streem": "x"}"#).is_err());
        assert_eq!(
            sockets.drop_matching(&filter(r#"{"stream": "btcusdt@kline_1m"}"#)),
            1
        );
        assert_eq!(
            *market.ending.borrow(),
            Some(Ending::Dropped { close_frame: false })
        );
        assert_eq!(*api.ending.borrow(), None);
        assert_eq!(sockets.describe().as_array().unwrap().len(), 2);

        sockets.shut_down(7);
        assert_eq!(
            *api.ending.borrow(),
            Some(Ending::ServerShutdown { event_time_ms: 7 })
        );
        assert_eq!(
            sockets.admit(peer().ip(), Service::Streams, Instant::now()),
            Err(Refusal::ShuttingDown)
        );
        drop(market);
        assert_eq!(
            sockets.describe().as_array().unwrap().len(),
            1,
            "a dropped guard leaves"
        );
    }

    #[test]
    fn a_ping_without_its_pong_expires_after_a_minute_and_unsolicited_pongs_do_not_help() {
        let start = Instant::now();
        let mut keepalive = Keepalive::default();
        let first = keepalive.ping(start);
        keepalive.pong(b"unsolicited");
        keepalive.pong(b"");
        assert!(!keepalive.expired(start + PONG_TIMEOUT));
        assert!(keepalive.expired(start + PONG_TIMEOUT + Duration::from_millis(1)));
        let second = keepalive.ping(start + PING_INTERVAL);
        keepalive.pong(&first);
        assert!(!keepalive.expired(start + PONG_TIMEOUT + Duration::from_secs(1)));
        keepalive.pong(&second);
        assert!(
            !keepalive.expired(start + MAX_LIFETIME),
            "everything answered"
        );
    }

    #[test]
    fn the_sixth_message_within_a_second_is_one_too_many() {
        let start = Instant::now();
        let mut rate = IncomingRate::default();
        for index in 0..MAX_INCOMING_PER_SECOND {
            assert!(rate.admit(start + Duration::from_millis(index as u64 * 100)));
        }
        assert!(!rate.admit(start + Duration::from_millis(900)));
        assert!(
            rate.admit(start + Duration::from_millis(1_000)),
            "the first left the window"
        );
    }
}
