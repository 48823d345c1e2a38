//! Binance's market streams (web-socket-streams.md, reference § 8), served the way Binance serves
//! them so that any Binance client can listen:
//!
//! - `/ws/<stream>`: one raw stream, each event as its payload;
//! - `/ws`: a raw connection with no stream yet, for clients that subscribe live;
//! - `/stream?streams=<a>/<b>/..`: combined streams, each event wrapped as
//!   `{"stream": "<name>", "data": <payload>}` (`/stream` alone starts with none).
//!
//! On any of them a client may send the live methods `SUBSCRIBE`, `UNSUBSCRIBE`,
//! `LIST_SUBSCRIPTIONS`, `SET_PROPERTY ["combined", bool]` and `GET_PROPERTY ["combined"]`, and
//! gets Binance's answers (`{"result": null, "id": 1}`, the list, the property) or its error
//! answers (see [`control`]). The streams served and how each is derived from the simulated
//! market are in [`feeds`]; which names are accepted in [`names`] (a badly formed one in the URL
//! is refused with HTTP 400 naming what is wrong; a well-formed one for a symbol that is not
//! listed connects and stays silent, as on Binance).
//!
//! Limits, as Binance documents them: at most [`MAX_STREAMS_PER_CONNECTION`] streams per
//! connection (a URL naming more is refused with HTTP 400; a `SUBSCRIBE` that would go beyond is
//! refused with code 2 and changes nothing), at most 5 incoming messages per second (one more
//! closes the connection), a ping every 20 s with a pong expected within a minute, 24 hours per
//! connection, 300 connection attempts per 5 minutes per IP (see [`crate::http::sockets`], which
//! also holds the admin API's fault that drops sockets). `timeUnit=MICROSECOND` is refused with
//! HTTP 400: every time is in milliseconds. When the simulator stops, each connection gets
//! `serverShutdown` (raw, or wrapped as the `!serverShutdown` stream when combined) and a close
//! frame.
//!
//! Each connection looks at the exchange every [`POLL_INTERVAL`] of real time, one subscription
//! at a time (the exchange's lock is never held across a send), so a market running faster than
//! real time pushes several seconds' worth per look.

mod control;
mod feeds;
mod names;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior};

use crate::http::ExchangeHandle;
use crate::http::sockets::{Connection, Input, MAX_MESSAGE_BYTES, Service, SocketGuard};
use control::{Command, Refused, reply};
use feeds::Feed;
use names::StreamName;

/// How often a connection looks at the exchange, in real time.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The most streams one connection may listen to.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;

/// `GET /ws/{stream}`: one raw stream.
pub async fn raw_stream(
    State(exchange): State<ExchangeHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let stream = match StreamName::parse(&name) {
        Ok(stream) => stream,
        Err(reason) => return (StatusCode::BAD_REQUEST, reason).into_response(),
    };
    open(exchange, peer, query, upgrade, vec![stream], false)
}

/// `GET /ws`: a raw connection that subscribes live.
pub async fn raw_streams(
    State(exchange): State<ExchangeHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    open(exchange, peer, query, upgrade, Vec::new(), false)
}

/// `GET /stream?streams=a/b/c`: combined streams.
pub async fn combined_streams(
    State(exchange): State<ExchangeHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let mut streams = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        if name != "streams" {
            continue;
        }
        for stream in value.split('/').filter(|stream| !stream.is_empty()) {
            if streams.len() == MAX_STREAMS_PER_CONNECTION {
                let reason =
                    format!("streams: at most {MAX_STREAMS_PER_CONNECTION} streams per connection");
                return (StatusCode::BAD_REQUEST, reason).into_response();
            }
            match StreamName::parse(stream) {
                Ok(stream) => streams.push(stream),
                Err(reason) => {
                    return (StatusCode::BAD_REQUEST, format!("streams: {reason}")).into_response();
                }
            }
        }
    }
    open(exchange, peer, query, upgrade, streams, true)
}

/// Checks what every market-stream URL shares and upgrades the connection. The URL is checked
/// before the upgrade, so that a plain HTTP request (curl) learns what is wrong with it too.
fn open(
    exchange: ExchangeHandle,
    peer: SocketAddr,
    query: Option<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    streams: Vec<StreamName>,
    combined: bool,
) -> Response {
    let asks_other_time_unit = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .any(|(name, value)| name == "timeUnit" && !value.eq_ignore_ascii_case("millisecond"));
    if asks_other_time_unit {
        let reason = "timeUnit: the simulator sends times in milliseconds only";
        return (StatusCode::BAD_REQUEST, reason).into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let sockets = exchange.sockets().clone();
    if let Err(refusal) = sockets.admit(peer.ip(), Service::Streams, Instant::now()) {
        return refusal.into_response();
    }
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            let guard = sockets.register(Service::Streams, peer);
            serve(exchange, streams, combined, socket, guard)
        })
}

/// One subscription of a connection.
struct Subscription {
    /// The name as the client gets it back (`LIST_SUBSCRIPTIONS`, the combined wrapper).
    label: String,
    feed: Feed,
}

/// A market-stream connection's state.
struct MarketSession {
    exchange: ExchangeHandle,
    combined: bool,
    subscriptions: Vec<Subscription>,
}

impl MarketSession {
    /// The streams of `streams` not listened to yet, in order and each once. Names are compared
    /// through a set: a request may name thousands.
    fn new_streams(&self, streams: Vec<StreamName>) -> Vec<(String, StreamName)> {
        let mut known: HashSet<String> = self
            .subscriptions
            .iter()
            .map(|subscription| subscription.label.clone())
            .collect();
        streams
            .into_iter()
            .map(|name| (name.to_string(), name))
            .filter(|(label, _)| known.insert(label.clone()))
            .collect()
    }

    /// The names of the streams listened to, in the order they were subscribed.
    fn labels(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .map(|subscription| subscription.label.clone())
            .collect()
    }

    /// Listens to `added` (streams not listened to yet, with their names) too, from the
    /// server's time now on: a kline that closes after this moment is pushed closed, even when
    /// it closes before the connection's next look at the exchange.
    fn subscribe(&mut self, added: Vec<(String, StreamName)>) {
        let now_ms = self.exchange.lock().now_ms();
        self.subscriptions
            .extend(added.into_iter().map(|(label, name)| Subscription {
                label,
                feed: Feed::new(&name, now_ms),
            }));
    }

    /// Carries out one request from the client and answers it.
    fn handle(&mut self, text: &str) -> String {
        let request = match control::parse(text) {
            Ok(request) => request,
            Err(refused) => return refused.to_text(),
        };
        let result = match request.command {
            Command::Subscribe(streams) => {
                let added = self.new_streams(streams);
                let count = self.subscriptions.len() + added.len();
                if count > MAX_STREAMS_PER_CONNECTION {
                    let refused = Refused {
                        code: 2,
                        msg: format!(
                            "Invalid request: params: a connection may listen to at most \
                             {MAX_STREAMS_PER_CONNECTION} streams; this request would make it {count}"
                        ),
                        id: request.id,
                    };
                    return refused.to_text();
                }
                self.subscribe(added);
                Value::Null
            }
            Command::Unsubscribe(streams) => {
                let leaving: HashSet<String> = streams.iter().map(ToString::to_string).collect();
                self.subscriptions
                    .retain(|subscription| !leaving.contains(&subscription.label));
                Value::Null
            }
            Command::ListSubscriptions => json!(self.labels()),
            Command::SetCombined(combined) => {
                self.combined = combined;
                Value::Null
            }
            Command::GetCombined => Value::Bool(self.combined),
        };
        reply(result, &request.id)
    }

    /// The events of subscription `index` due now, ready to send.
    fn due(&mut self, index: usize) -> Vec<String> {
        let Some(subscription) = self.subscriptions.get_mut(index) else {
            return Vec::new();
        };
        let events = subscription.feed.due(&mut self.exchange.lock());
        events
            .into_iter()
            .map(|event| wrap(self.combined, &subscription.label, event))
            .collect()
    }
}

/// `event` as the connection sends it: raw, or wrapped with its stream's name.
fn wrap(combined: bool, stream: &str, event: Value) -> String {
    if combined {
        json!({"stream": stream, "data": event}).to_string()
    } else {
        event.to_string()
    }
}

/// Serves one connection until it ends.
async fn serve(
    exchange: ExchangeHandle,
    streams: Vec<StreamName>,
    combined: bool,
    socket: WebSocket,
    guard: SocketGuard,
) {
    let mut connection = Connection::new(socket, guard, true);
    let mut session = MarketSession {
        exchange,
        combined,
        subscriptions: Vec::new(),
    };
    let added = session.new_streams(streams);
    session.subscribe(added);
    publish_streams(&connection, &session);
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while let Some(input) = connection.next(ticker.tick()).await {
        match input {
            Input::Woken(_) => {
                for index in 0..session.subscriptions.len() {
                    for message in session.due(index) {
                        if !connection.send_text(message).await {
                            return;
                        }
                    }
                }
            }
            Input::Text(text) => {
                let answer = session.handle(&text);
                publish_streams(&connection, &session);
                if !connection.send_text(answer).await {
                    return;
                }
            }
            Input::ShuttingDown { event_time_ms } => {
                let event = json!({"e": "serverShutdown", "E": event_time_ms});
                if connection
                    .send_text(wrap(session.combined, "!serverShutdown", event))
                    .await
                {
                    connection
                        .close(close_code::AWAY, "the server is shutting down")
                        .await;
                }
                return;
            }
        }
    }
}

/// Shows the connection's streams in the admin API (and lets its drop select by stream).
fn publish_streams(connection: &Connection, session: &MarketSession) {
    let guard = connection.guard();
    guard.sockets().set_streams(guard.id(), session.labels());
}
