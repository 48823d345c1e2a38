//! The WebSocket API (`/ws-api/v3`, web-socket-api.md), as far as the user data stream needs it:
//! the simulator's user data stream is the one Binance offers today.
//!
//! Why this and not listen keys: Binance deprecated the listen-key user data stream
//! (`POST/PUT/DELETE /api/v3/userDataStream` with `/ws/<listenKey>`) on 2025-04-07, removed its
//! documentation on 2025-10-24 and announced on 2026-01-21 that the endpoints stop working on
//! 2026-02-20 (CHANGELOG.md); the user data stream is now subscribed on the WebSocket API, which
//! is what current clients do, and the testnet documents the same. A client written for Binance
//! today finds the same here; one that still asks for a listen key gets a 404, as those paths do
//! not exist here.
//!
//! Requests are JSON text frames `{"id", "method", "params"}`; answers are
//! `{"id", "status", "result"}` or `{"id", "status", "error": {"code", "msg"}}`, with the IP's
//! request weight in `rateLimits` unless `returnRateLimits=false` (in the URL, or per request).
//! Methods, each weighing 2 (`ping` and `time` 1), counted in the same per-IP weight as REST,
//! and connecting costs 2:
//!
//! - `userDataStream.subscribe.signature` (`apiKey`, `timestamp`, `signature`, optional
//!   `recvWindow`; any key type): subscribes to that account; answers `{"subscriptionId": N}`.
//! - `session.logon` (Ed25519 keys only, as Binance), `session.status`, `session.logout`, and
//!   `userDataStream.subscribe` for the logged-on account.
//! - `userDataStream.unsubscribe` (optional `subscriptionId`; without it, every subscription),
//!   which sends `eventStreamTerminated` for each subscription it ends; `session.logout` ends the
//!   subscription made through the logon.
//! - `session.subscriptions`, `ping`, `time`.
//!
//! Any other method (trading, account queries) is -1020 ("This operation is not supported."):
//! the simulator trades over REST.
//!
//! Signed parameters are checked exactly as a REST request's (key, whitelist, signature over the
//! parameters sorted by name as `name=value&..`, `timestamp`/`recvWindow`); a logged-on key that
//! becomes invalid ends the session with -2015 at the next request, as Binance documents.
//! Events arrive as `{"subscriptionId": N, "event": {..}}` (see [`events`]). Limits: at most
//! [`MAX_ACTIVE_SUBSCRIPTIONS`] subscriptions at a time and [`MAX_SUBSCRIPTIONS_PER_SESSION`] over
//! a connection's life, one per account; plus the connection rules of [`crate::http::sockets`].
//! A connection that falls behind its accounts' events by more than the exchange keeps
//! ([`crate::user_data::CHANNEL_CAPACITY`]) is closed (code 1008): it lost events, and its client
//! must reconcile by REST.
//!
//! A request over the IP's weight limit is answered 429 with `retryAfter`; one that gets the IP
//! banned (418) is answered, then the connection is closed (code 1008), as Binance disconnects
//! banned clients.
//!
//! Choices where the docs are silent: malformed JSON, or `params` that is not an object, is
//! -1135; a missing or malformed `id` or `method` is -1102; `session.logon` with an HMAC key, and
//! `userDataStream.subscribe` without a logon, are -1002 ("You are not authorized to execute this
//! request."); `userDataStream.unsubscribe` with nothing to end is -2036; a subscription past the
//! active limit is -1191.

mod events;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::account::SignatureKey;
use crate::error::ApiError;
use crate::exchange::Exchange;
use crate::http::ExchangeHandle;
use crate::http::auth::{API_KEY_HEADER, SecurityType, authenticate};
use crate::http::params::Params;
use crate::http::sockets::{Connection, Input, MAX_MESSAGE_BYTES, Service, SocketGuard};
use crate::limits::{RateLimitType, Throttle};
use crate::user_data::UserDataEvent;

/// The most user data subscriptions a connection may have at a time.
pub const MAX_ACTIVE_SUBSCRIPTIONS: usize = 1_000;
/// The most user data subscriptions a connection may start over its life.
pub const MAX_SUBSCRIPTIONS_PER_SESSION: u64 = 65_535;
/// What connecting weighs.
const CONNECTION_WEIGHT: u64 = 2;
/// How many events wait for a slow connection before its subscriptions' channels fill up.
const DELIVERY_QUEUE: usize = 256;

/// `GET /ws-api/v3`: upgrades to a WebSocket API connection.
pub async fn connect(
    State(exchange): State<ExchangeHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let mut return_rate_limits = true;
    for (name, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match (name.as_ref(), value.as_ref()) {
            ("returnRateLimits", "true") => return_rate_limits = true,
            ("returnRateLimits", "false") => return_rate_limits = false,
            ("returnRateLimits", _) => {
                let reason = "returnRateLimits: must be true or false";
                return (StatusCode::BAD_REQUEST, reason).into_response();
            }
            ("timeUnit", unit) if !unit.eq_ignore_ascii_case("millisecond") => {
                let reason = "timeUnit: the simulator sends times in milliseconds only";
                return (StatusCode::BAD_REQUEST, reason).into_response();
            }
            _ => {}
        }
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let sockets = exchange.sockets().clone();
    if let Err(refusal) = sockets.admit(peer.ip(), Service::WsApi, Instant::now()) {
        return refusal.into_response();
    }
    let connected_since_ms = {
        let mut locked = exchange.lock();
        if let Err(throttle) = locked.admit_request(peer.ip(), CONNECTION_WEIGHT) {
            return throttled_upgrade(throttle);
        }
        locked.charge_request(peer.ip(), CONNECTION_WEIGHT);
        locked.now_ms()
    };
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            let guard = sockets.register(Service::WsApi, peer);
            serve(
                exchange,
                peer,
                connected_since_ms,
                return_rate_limits,
                socket,
                guard,
            )
        })
}

/// The HTTP answer to a connection refused by the rate limits.
fn throttled_upgrade(throttle: Throttle) -> Response {
    let status = if throttle.banned {
        StatusCode::IM_A_TEAPOT
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    let body = json!({"code": throttle.error.code, "msg": throttle.error.msg});
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(throttle.retry_after_s),
    );
    response
}

/// What a subscription's forwarder hands the connection.
#[derive(Debug)]
enum Delivery {
    /// An event of subscription `subscription_id`'s account.
    Event {
        subscription_id: u64,
        event: Arc<UserDataEvent>,
    },
    /// The connection fell too far behind: events were lost.
    Lost,
}

/// The task that moves one subscription's events to its connection; aborted when dropped.
#[derive(Debug)]
struct Forwarder(JoinHandle<()>);

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn forward(
    mut events: broadcast::Receiver<Arc<UserDataEvent>>,
    subscription_id: u64,
    deliveries: mpsc::Sender<Delivery>,
) {
    loop {
        let delivery = match events.recv().await {
            Ok(event) => Delivery::Event {
                subscription_id,
                event,
            },
            Err(broadcast::error::RecvError::Lagged(_)) => Delivery::Lost,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let lost = matches!(delivery, Delivery::Lost);
        if deliveries.send(delivery).await.is_err() || lost {
            return;
        }
    }
}

/// One user data subscription.
#[derive(Debug)]
struct UserSubscription {
    api_key: String,
    /// Made with `userDataStream.subscribe` (ended by `session.logout`).
    through_logon: bool,
    _forwarder: Forwarder,
}

/// The logged-on key.
#[derive(Debug)]
struct Logon {
    api_key: String,
    since_ms: i64,
}

/// A WebSocket API connection's state.
struct ApiSession {
    exchange: ExchangeHandle,
    peer: SocketAddr,
    connected_since_ms: i64,
    return_rate_limits: bool,
    logon: Option<Logon>,
    subscriptions: BTreeMap<u64, UserSubscription>,
    subscriptions_started: u64,
    deliveries: mpsc::Sender<Delivery>,
    /// The IP got banned (418) for ignoring a 429: the connection ends after the answer, as
    /// Binance disconnects banned clients.
    banned: bool,
}

/// One request, read.
struct Call {
    id: Value,
    method: String,
    /// The parameters as a query string sorted by name (see [`query_string`]).
    query: String,
    params: Params,
    return_rate_limits: bool,
}

impl ApiSession {
    /// Carries out one request; returns what to send, in order.
    fn handle(&mut self, text: &str) -> Vec<String> {
        let exchange = self.exchange.clone();
        let mut exchange = exchange.lock();
        let mut messages = Vec::new();
        let mut call = match read_call(text, self.return_rate_limits) {
            Ok(call) => call,
            Err((id, error)) => {
                let rate_limits = self.rate_limits(&mut exchange, self.return_rate_limits);
                messages.push(answer(&id, Err(error), rate_limits));
                return messages;
            }
        };
        let ip = self.peer.ip();
        let weight = if matches!(call.method.as_str(), "ping" | "time") {
            1
        } else {
            2
        };
        if let Err(throttle) = exchange.admit_request(ip, weight) {
            self.banned = throttle.banned;
            let rate_limits = self.rate_limits(&mut exchange, call.return_rate_limits);
            messages.push(throttled(
                &call.id,
                &throttle,
                exchange.now_ms(),
                rate_limits,
            ));
            return messages;
        }
        exchange.charge_request(ip, weight);
        messages.extend(self.revoke_logon_if_invalid(&exchange));
        let mut terminated = Vec::new();
        let outcome = self.dispatch(&mut exchange, &mut call, &mut terminated);
        let rate_limits = self.rate_limits(&mut exchange, call.return_rate_limits);
        messages.push(answer(&call.id, outcome, rate_limits));
        let now_ms = exchange.now_ms();
        messages.extend(terminated.into_iter().map(|subscription_id| {
            event_message(subscription_id, &events::stream_terminated(now_ms))
        }));
        messages
    }

    fn dispatch(
        &mut self,
        exchange: &mut Exchange,
        call: &mut Call,
        terminated: &mut Vec<u64>,
    ) -> Result<Value, ApiError> {
        let (query, params) = (call.query.as_str(), &mut call.params);
        match call.method.as_str() {
            "ping" => {
                params.finish()?;
                Ok(json!({}))
            }
            "time" => {
                params.finish()?;
                Ok(json!({"serverTime": exchange.now_ms()}))
            }
            "session.logon" => {
                let api_key = self.authenticate(exchange, query, params)?;
                params.finish()?;
                let ed25519 = exchange.account(&api_key).is_some_and(|account| {
                    matches!(account.signature_key, SignatureKey::Ed25519(_))
                });
                if !ed25519 {
                    return Err(not_authorized());
                }
                self.logon = Some(Logon {
                    api_key,
                    since_ms: exchange.now_ms(),
                });
                Ok(self.status(exchange))
            }
            "session.status" => {
                params.finish()?;
                Ok(self.status(exchange))
            }
            "session.logout" => {
                params.finish()?;
                self.logout(terminated);
                Ok(self.status(exchange))
            }
            "userDataStream.subscribe" => {
                params.finish()?;
                let api_key = self
                    .logon
                    .as_ref()
                    .map(|logon| logon.api_key.clone())
                    .ok_or_else(not_authorized)?;
                self.subscribe(exchange, api_key, true)
            }
            "userDataStream.subscribe.signature" => {
                let api_key = self.authenticate(exchange, query, params)?;
                params.finish()?;
                self.subscribe(exchange, api_key, false)
            }
            "userDataStream.unsubscribe" => {
                let wanted = params.long("subscriptionId")?;
                params.finish()?;
                let ended: Vec<u64> = match wanted {
                    Some(id) => u64::try_from(id)
                        .ok()
                        .filter(|id| self.subscriptions.contains_key(id))
                        .into_iter()
                        .collect(),
                    None => self.subscriptions.keys().copied().collect(),
                };
                if ended.is_empty() {
                    return Err(ApiError {
                        code: -2036,
                        msg: "User Data Stream subscription not active.".to_owned(),
                    });
                }
                for id in &ended {
                    self.subscriptions.remove(id);
                }
                terminated.extend(ended);
                Ok(json!({}))
            }
            "session.subscriptions" => {
                params.finish()?;
                let listed: Vec<Value> = self
                    .subscriptions
                    .keys()
                    .map(|id| json!({"subscriptionId": id}))
                    .collect();
                Ok(Value::Array(listed))
            }
            _ => Err(ApiError {
                code: -1020,
                msg: "This operation is not supported.".to_owned(),
            }),
        }
    }

    /// Checks a SIGNED request's key, signature and timing exactly as REST does, the key taken
    /// from `apiKey` instead of the header, the signature over `query` (the parameters sorted by
    /// name, as the WebSocket API signs them); returns the key.
    fn authenticate(
        &self,
        exchange: &Exchange,
        query: &str,
        params: &mut Params,
    ) -> Result<String, ApiError> {
        let api_key = params.required_text("apiKey")?;
        let mut headers = HeaderMap::new();
        let value =
            HeaderValue::from_str(&api_key).map_err(|_| ApiError::api_key_format_invalid())?;
        headers.insert(API_KEY_HEADER, value);
        let signed = authenticate(
            exchange,
            &headers,
            self.peer.ip(),
            SecurityType::UserData,
            query,
            "",
            params,
        )?;
        Ok(signed.api_key)
    }

    /// Starts a subscription to the account `api_key`.
    fn subscribe(
        &mut self,
        exchange: &mut Exchange,
        api_key: String,
        through_logon: bool,
    ) -> Result<Value, ApiError> {
        if self
            .subscriptions
            .values()
            .any(|known| known.api_key == api_key)
        {
            return Err(ApiError {
                code: -2035,
                msg: "User Data Stream subscription already active.".to_owned(),
            });
        }
        if self.subscriptions.len() >= MAX_ACTIVE_SUBSCRIPTIONS {
            return Err(ApiError {
                code: -1191,
                msg: format!(
                    "Too many subscriptions. Connection may create up to '{MAX_ACTIVE_SUBSCRIPTIONS}' subscriptions at a time."
                ),
            });
        }
        if self.subscriptions_started >= MAX_SUBSCRIPTIONS_PER_SESSION {
            return Err(ApiError {
                code: -2042,
                msg: "Maximum subscription ID reached for this connection.".to_owned(),
            });
        }
        let subscription_id = self.subscriptions_started;
        self.subscriptions_started += 1;
        let events = exchange.user_data().subscribe(&api_key);
        let forwarder = tokio::spawn(forward(events, subscription_id, self.deliveries.clone()));
        self.subscriptions.insert(
            subscription_id,
            UserSubscription {
                api_key,
                through_logon,
                _forwarder: Forwarder(forwarder),
            },
        );
        Ok(json!({"subscriptionId": subscription_id}))
    }

    /// Forgets the logged-on key and ends the subscriptions made through it.
    fn logout(&mut self, terminated: &mut Vec<u64>) {
        self.logon = None;
        let ended: Vec<u64> = self
            .subscriptions
            .iter()
            .filter(|(_, subscription)| subscription.through_logon)
            .map(|(id, _)| *id)
            .collect();
        for id in &ended {
            self.subscriptions.remove(id);
        }
        terminated.extend(ended);
    }

    /// When the logged-on key is no longer valid (revoked, deleted, off its whitelist), the
    /// session is logged out with -2015 (`id` null), as Binance documents; returns what to send.
    fn revoke_logon_if_invalid(&mut self, exchange: &Exchange) -> Vec<String> {
        let Some(logon) = &self.logon else {
            return Vec::new();
        };
        let valid = exchange
            .account(&logon.api_key)
            .is_some_and(|account| account.key_accepts(self.peer.ip()));
        if valid {
            return Vec::new();
        }
        let mut terminated = Vec::new();
        self.logout(&mut terminated);
        let now_ms = exchange.now_ms();
        let mut messages = vec![answer(
            &Value::Null,
            Err(ApiError::api_key_rejected()),
            None,
        )];
        messages.extend(terminated.into_iter().map(|subscription_id| {
            event_message(subscription_id, &events::stream_terminated(now_ms))
        }));
        messages
    }

    /// The answer of the `session.*` methods.
    fn status(&self, exchange: &Exchange) -> Value {
        json!({
            "apiKey": self.logon.as_ref().map(|logon| logon.api_key.clone()),
            "authorizedSince": self.logon.as_ref().map(|logon| logon.since_ms),
            "connectedSince": self.connected_since_ms,
            "returnRateLimits": self.return_rate_limits,
            "serverTime": exchange.now_ms(),
            "userDataStream": !self.subscriptions.is_empty(),
        })
    }

    /// The IP's request weight per window, as `rateLimits` shows it; `None` when not wanted.
    fn rate_limits(&self, exchange: &mut Exchange, wanted: bool) -> Option<Value> {
        if !wanted {
            return None;
        }
        let limits: Vec<_> = exchange
            .rate_limits()
            .iter()
            .filter(|limit| limit.limit_type == RateLimitType::RequestWeight)
            .copied()
            .collect();
        // The usage headers list the weight windows in the order of the limits.
        let used = exchange.usage_headers(self.peer.ip(), None);
        let shown = limits
            .iter()
            .zip(used)
            .map(|(limit, (_, count))| {
                let mut shown = limit.to_json();
                shown["count"] = Value::from(count);
                shown
            })
            .collect();
        Some(Value::Array(shown))
    }
}

/// Reads the envelope of a request; an error carries the id to answer with.
fn read_call(text: &str, return_rate_limits: bool) -> Result<Call, (Value, ApiError)> {
    let invalid_json = || ApiError {
        code: -1135,
        msg: "Invalid JSON Request".to_owned(),
    };
    let value: Value = serde_json::from_str(text).map_err(|_| (Value::Null, invalid_json()))?;
    let Value::Object(mut request) = value else {
        return Err((Value::Null, invalid_json()));
    };
    let id = match request.remove("id") {
        Some(id @ (Value::Null | Value::Number(_) | Value::String(_))) => id,
        _ => return Err((Value::Null, ApiError::mandatory_parameter("id"))),
    };
    let method = match request.remove("method") {
        Some(Value::String(method)) if !method.is_empty() => method,
        _ => return Err((id, ApiError::mandatory_parameter("method"))),
    };
    // Binance accepts an explicit version prefix.
    let method = method
        .strip_prefix("v3/")
        .map(str::to_owned)
        .unwrap_or(method);
    let params = match request.remove("params") {
        None => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            let error = ApiError {
                code: -1135,
                msg: "Invalid 'params' in JSON request; expected an object.".to_owned(),
            };
            return Err((id, error));
        }
    };
    let query = query_string(&params);
    let mut params = Params::parse(&query, "").map_err(|error| (id.clone(), error))?;
    let return_rate_limits = match params.text("returnRateLimits").as_deref() {
        None => return_rate_limits,
        Some("true") => true,
        Some("false") => false,
        Some(_) => {
            return Err((id, ApiError::invalid_parameter_value("returnRateLimits")));
        }
    };
    Ok(Call {
        id,
        method,
        query,
        params,
        return_rate_limits,
    })
}

/// `params` as a query string sorted by name, strings percent-encoded and other values as their
/// JSON text: what a signature covers once the `signature` pair is left out. For the letters,
/// digits and dots of `apiKey`, `timestamp` and `recvWindow` this is the text itself, as the
/// WebSocket API signs it (`name=value` pairs sorted by name, joined by `&`).
fn query_string(params: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, String)> = params
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name, text)
        })
        .collect();
    pairs.sort_by(|left, right| left.0.cmp(right.0));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .map(|(name, text)| (name.as_str(), text.as_str())),
        )
        .finish()
}

/// -1002: what a session without the right key may not do.
fn not_authorized() -> ApiError {
    ApiError {
        code: -1002,
        msg: "You are not authorized to execute this request.".to_owned(),
    }
}

/// An answer: `result` or `error`, with `rateLimits` when given.
fn answer(id: &Value, outcome: Result<Value, ApiError>, rate_limits: Option<Value>) -> String {
    let mut body = match outcome {
        Ok(result) => json!({"id": id, "status": 200, "result": result}),
        Err(error) => json!({
            "id": id,
            "status": error.http_status(),
            "error": {"code": error.code, "msg": error.msg},
        }),
    };
    if let Some(rate_limits) = rate_limits {
        body["rateLimits"] = rate_limits;
    }
    body.to_string()
}

/// The answer to a request refused by the rate limits: 429, or 418 when banned, with the time
/// to retry at.
fn throttled(id: &Value, throttle: &Throttle, now_ms: i64, rate_limits: Option<Value>) -> String {
    let retry_ms = i64::try_from(throttle.retry_after_s.saturating_mul(1_000)).unwrap_or(i64::MAX);
    let mut body = json!({
        "id": id,
        "status": if throttle.banned { 418 } else { 429 },
        "error": {
            "code": throttle.error.code,
            "msg": throttle.error.msg,
            "data": {"serverTime": now_ms, "retryAfter": now_ms.saturating_add(retry_ms)},
        },
    });
    if let Some(rate_limits) = rate_limits {
        body["rateLimits"] = rate_limits;
    }
    body.to_string()
}

/// An event of subscription `subscription_id`.
fn event_message(subscription_id: u64, event: &Value) -> String {
    json!({"subscriptionId": subscription_id, "event": event}).to_string()
}

/// Serves one connection until it ends.
async fn serve(
    exchange: ExchangeHandle,
    peer: SocketAddr,
    connected_since_ms: i64,
    return_rate_limits: bool,
    socket: WebSocket,
    guard: SocketGuard,
) {
    let mut connection = Connection::new(socket, guard, false);
    let (deliveries, mut delivered) = mpsc::channel(DELIVERY_QUEUE);
    let mut session = ApiSession {
        exchange,
        peer,
        connected_since_ms,
        return_rate_limits,
        logon: None,
        subscriptions: BTreeMap::new(),
        subscriptions_started: 0,
        deliveries,
        banned: false,
    };
    while let Some(input) = connection.next(delivered.recv()).await {
        let messages = match input {
            Input::Text(text) => {
                let messages = session.handle(&text);
                let guard = connection.guard();
                let accounts = session
                    .subscriptions
                    .values()
                    .map(|subscription| subscription.api_key.clone())
                    .collect();
                guard.sockets().set_accounts(guard.id(), accounts);
                messages
            }
            Input::Woken(Some(Delivery::Event {
                subscription_id,
                event,
            })) => {
                // Events still queued for a subscription ended meanwhile are not its any more.
                if !session.subscriptions.contains_key(&subscription_id) {
                    continue;
                }
                events::user_events(&event)
                    .iter()
                    .map(|event| event_message(subscription_id, event))
                    .collect()
            }
            Input::Woken(Some(Delivery::Lost)) => {
                connection
                    .close(
                        close_code::POLICY,
                        "user data events were lost: the client fell behind",
                    )
                    .await;
                return;
            }
            // The session holds a sender, so the queue never closes while it runs.
            Input::Woken(None) => continue,
            Input::ShuttingDown { event_time_ms } => {
                let event = json!({"event": {"e": "serverShutdown", "E": event_time_ms}});
                if connection.send_text(event.to_string()).await {
                    connection
                        .close(close_code::AWAY, "the server is shutting down")
                        .await;
                }
                return;
            }
        };
        for message in messages {
            if !connection.send_text(message).await {
                return;
            }
        }
        if session.banned {
            connection
                .close(
                    close_code::POLICY,
                    "IP banned for exceeding the rate limits",
                )
                .await;
            return;
        }
    }
}
