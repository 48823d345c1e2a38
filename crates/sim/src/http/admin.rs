//! The admin API under [`ADMIN_PREFIX`], for tests, demos and spotbot's paper accounts: create,
//! read, fund and reset accounts, revoke or restrict their API keys, set and clear faults, switch
//! a symbol's status, read the order log (the ground truth), read the clock and set it when the
//! exchange runs on a [`ManualClock`](crate::ManualClock).
//!
//! With an [`AdminToken`] it answers the peers that send `Authorization: Bearer TOKEN` with it
//! (compared in constant time), loopback peers included: on a machine shared by many users, any
//! local process could otherwise mint funded accounts or halt symbols. Without one it answers
//! loopback peers only (the zero-config demo and tests). Anyone else gets 403, whatever address
//! the server listens on. `GET /_sim/clock` alone answers anyone: it is read-only and
//! tells nothing secret, and a remote client of an accelerated exchange needs its `speed` to
//! estimate the exchange's time between two readings. The admin API is outside the rate limits
//! and the faults. On a durable exchange an answer goes out once the journal holds its change
//! (503 when the journal failed). Bodies and answers are JSON with snake_case fields and decimals
//! as strings; errors are `{"error": "..."}`. An unknown API key in the path (or in `?api_key=`)
//! is a 404.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `POST /_sim/accounts` | `{"balances": {"USDT": "1000"}, "commission_rate": "0.001", "commission_in_bnb": true, "ed25519_public_key": "base64 or PEM", "can_trade": false, "ip_whitelist": ["127.0.0.1"]}` (all optional) | `{"api_key", "secret", "uid"}` (`secret` only for HMAC accounts) |
//! | `GET /_sim/accounts/{api_key}` | | the account: `{"api_key", "uid", "balances": {"USDT": "1000.00000000"}, "commission_rate", "commission_in_bnb", "key_enabled", "can_trade", "ip_whitelist": ["127.0.0.1"]}` |
//! | `POST /_sim/accounts/{api_key}/balances` | `{"asset": "USDT", "amount": "250"}` (adds) | `{"balances": {...}}` |
//! | `PUT /_sim/accounts/{api_key}/balances` | `{"balances": {"USDT": "10000"}}` (replaces every balance: assets not named are no longer held) | the account |
//! | `PUT /_sim/accounts/{api_key}/key` | `{"enabled": false, "can_trade": false, "ip_whitelist": ["1.2.3.4"]}` (all optional; what is not sent stays) | the account |
//! | `PUT /_sim/accounts/{api_key}/commission_in_bnb` | `{"enabled": true}` | `{"api_key", "commission_in_bnb"}` |
//! | `GET`/`PUT`/`DELETE /_sim/faults` | a [`FaultPlan`] (PUT) | the plan in force |
//! | `PUT /_sim/symbols/{symbol}/status` | `{"status": "HALT"}` | `{"symbol", "status"}` |
//! | `GET /_sim/orders`, `GET /_sim/orders?api_key=K` | | every executed order (of account `K`), oldest first |
//! | `GET /_sim/sockets` | | the open WebSockets (see `crate::http::sockets`) |
//! | `POST /_sim/sockets/drop` | `{"service", "stream", "api_key", "close_frame"}` (all optional) | `{"dropped": N}`: those sockets cut, to test clients' reconnection |
//! | `GET`/`PUT /_sim/clock` | `{"now_ms": N}` or `{"advance_ms": N}` (PUT, manual clocks only) | `{"now_ms", "speed", "clock_skew_ms", "manual"}`: `speed` is how many times faster than real time the clock runs (1: real time; 0: a manual clock, which moves only when set) |
//! | `GET /_sim/clock?changed_from=N` | | the same, once a manual clock reads other than `N` (at most 25 s later): a remote client follows each step as it happens |
//!
//! A key with `"enabled": false` (revoked), without `can_trade`, or used from an address off its
//! non-empty `ip_whitelist` is refused as Binance refuses it (see [`crate::Account`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use std::fmt;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::account::{Account, Credentials, SignatureKey, parse_ip_whitelist, random_key};
use crate::exchange::{Exchange, STANDARD_COMMISSION_RATE};
use crate::faults::FaultPlan;
use crate::http::{ExchangeHandle, sockets};
use crate::order::OrderRecord;
use crate::wire::decimal8;
use sim_book::OrderSize;

/// The path prefix of the admin API.
pub const ADMIN_PREFIX: &str = "/_sim";

/// The shortest admin token taken: shorter ones are guessable.
const MIN_TOKEN_LENGTH: usize = 16;
/// The longest admin token taken (it travels in a header).
const MAX_TOKEN_LENGTH: usize = 256;

/// The bearer token the admin API's clients send (`Authorization: Bearer TOKEN`), wherever they
/// are. Only its SHA-256 digest is kept, and `Debug` shows neither.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    /// The token `text`: 16 to 256 visible ASCII characters without spaces (it must fit an HTTP
    /// header, and a short one is guessable). The error says what is wrong, never the token.
    pub fn new(text: &str) -> Result<AdminToken, String> {
        if !(MIN_TOKEN_LENGTH..=MAX_TOKEN_LENGTH).contains(&text.len()) {
            return Err(format!(
                "the admin token must be {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters long (it has {}); e.g. `openssl rand -hex 32`",
                text.len()
            ));
        }
        if !text.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(
                "the admin token must be visible ASCII characters without spaces (it travels in an HTTP header)"
                    .to_owned(),
            );
        }
        Ok(AdminToken {
            digest: Sha256::digest(text.as_bytes()).into(),
        })
    }

    /// Whether `presented` is the token, in time that does not depend on how much of it matches:
    /// both are hashed, and every byte of the digests is compared.
    fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let difference = self
            .digest
            .iter()
            .zip(presented)
            .fold(0u8, |difference, (kept, sent)| difference | (kept ^ sent));
        std::hint::black_box(difference) == 0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<hidden>)")
    }
}

/// Who may use the admin API (see the module doc).
#[derive(Debug, Clone)]
pub struct AdminAccess {
    token: Option<AdminToken>,
}

impl AdminAccess {
    /// Every peer that sends `token` when there is one; loopback peers only otherwise.
    pub fn new(token: Option<AdminToken>) -> AdminAccess {
        AdminAccess { token }
    }

    /// Lets `peer` (with its request's `headers`) in, or says why not.
    fn admit(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Result<(), &'static str> {
        let Some(token) = &self.token else {
            return if peer.is_some_and(is_admin_peer) {
                Ok(())
            } else {
                Err(
                    "the admin API is served to loopback clients only (this exchange has no admin token)",
                )
            };
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match presented {
            Some(presented) if token.matches(presented) => Ok(()),
            Some(_) => Err("the admin token sent is not this exchange's"),
            None => Err(
                "the admin API answers clients that send Authorization: Bearer <the exchange's admin token>",
            ),
        }
    }
}

/// Answers 403 to whoever [`AdminAccess`] does not let in.
async fn guard(State(access): State<AdminAccess>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    match access.admit(peer, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => failure(StatusCode::FORBIDDEN, reason.to_owned()),
    }
}

/// The admin routes, to nest under [`ADMIN_PREFIX`], for the clients `access` lets in (and
/// `GET /clock` for anyone).
pub fn router(access: AdminAccess) -> Router<ExchangeHandle> {
    Router::new()
        .route("/accounts", post(create_account))
        .route("/accounts/{api_key}", get(account_state))
        .route(
            "/accounts/{api_key}/balances",
            post(fund_account).put(replace_balances),
        )
        .route("/accounts/{api_key}/key", put(set_key_state))
        .route(
            "/accounts/{api_key}/commission_in_bnb",
            put(set_commission_in_bnb),
        )
        .route("/faults", get(faults).put(set_faults).delete(clear_faults))
        .route("/symbols/{symbol}/status", put(set_symbol_status))
        .route("/orders", get(order_log))
        .route("/clock", put(set_clock))
        .route("/sockets", get(sockets::list_sockets))
        .route("/sockets/drop", post(sockets::drop_sockets))
        .route_layer(middleware::from_fn_with_state(access, guard))
        // Added after the guard, so that it answers anyone (see the module doc).
        .route("/clock", get(clock))
}

/// Whether `peer` may use the admin API without a token: loopback (an IPv4-mapped IPv6
/// loopback included).
pub fn is_admin_peer(peer: SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

/// An admin answer: the JSON, or an error status with its reason.
type AdminResult = Result<Value, (StatusCode, String)>;

/// Runs `action` on the locked exchange and answers in JSON, once the journal (of a durable
/// exchange) holds every change made so far.
async fn admin(
    exchange: &ExchangeHandle,
    action: impl FnOnce(&mut Exchange) -> AdminResult,
) -> Response {
    let (outcome, journal) = {
        let mut exchange = exchange.lock();
        let outcome = action(&mut exchange);
        (outcome, exchange.journal_ticket())
    };
    if let Some(journal) = journal
        && let Err(lost) = journal.wait().await
    {
        return failure(StatusCode::SERVICE_UNAVAILABLE, lost.to_string());
    }
    match outcome {
        Ok(body) => axum::Json(body).into_response(),
        Err((status, reason)) => failure(status, reason),
    }
}

fn failure(status: StatusCode, reason: String) -> Response {
    (status, axum::Json(json!({"error": reason}))).into_response()
}

/// Reads a JSON body; an empty body reads as `{}`.
fn read_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, (StatusCode, String)> {
    let text: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(text)
        .map_err(|err| (StatusCode::BAD_REQUEST, format!("invalid body: {err}")))
}

fn bad_request(reason: impl ToString) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, reason.to_string())
}

/// The 404 for an API key no account has.
fn unknown_account(api_key: &str) -> (StatusCode, String) {
    (
        StatusCode::NOT_FOUND,
        format!(
            "no account has the API key {api_key:?} (create one with POST {ADMIN_PREFIX}/accounts)"
        ),
    )
}

/// Refuses negative amounts and unnamed assets in `balances`.
fn check_balances(balances: &BTreeMap<String, Decimal>) -> Result<(), (StatusCode, String)> {
    if balances.contains_key("") {
        return Err(bad_request("balances: every asset must be named"));
    }
    match balances
        .iter()
        .find(|(_, amount)| amount.is_sign_negative())
    {
        Some((asset, amount)) => Err(bad_request(format!(
            "balances.{asset}: {amount} is negative; balances must be zero or more"
        ))),
        None => Ok(()),
    }
}

/// An IP whitelist from the body; the error names the bad entry.
fn read_ip_whitelist(entries: &[String]) -> Result<Vec<IpAddr>, (StatusCode, String)> {
    parse_ip_whitelist(entries).map_err(|err| bad_request(format!("ip_whitelist: {err}")))
}

/// The account's balances, asset to amount, as the admin API shows them.
fn balances_json(account: &Account) -> BTreeMap<&str, String> {
    account
        .balances
        .iter()
        .map(|(asset, free)| (asset.as_str(), decimal8(*free)))
        .collect()
}

/// The account as `GET /_sim/accounts/{api_key}` answers it.
fn account_json(account: &Account) -> Value {
    let ip_whitelist: Vec<String> = account
        .ip_whitelist
        .iter()
        .map(|ip| ip.to_canonical().to_string())
        .collect();
    json!({
        "api_key": account.api_key,
        "uid": account.uid,
        "balances": balances_json(account),
        "commission_rate": decimal8(account.commission_rate),
        "commission_in_bnb": account.commission_in_bnb,
        "key_enabled": account.key_enabled,
        "can_trade": account.can_trade,
        "ip_whitelist": ip_whitelist,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    #[serde(default)]
    balances: BTreeMap<String, Decimal>,
    #[serde(default)]
    commission_rate: Option<Decimal>,
    #[serde(default)]
    commission_in_bnb: bool,
    #[serde(default)]
    ed25519_public_key: Option<String>,
    /// Absent: the key may trade, as every key could before this field existed.
    #[serde(default)]
    can_trade: Option<bool>,
    #[serde(default)]
    ip_whitelist: Vec<String>,
}

async fn create_account(State(exchange): State<ExchangeHandle>, body: Bytes) -> Response {
    admin(&exchange, |exchange| {
        let request: NewAccount = read_body(&body)?;
        check_balances(&request.balances)?;
        let ip_whitelist = read_ip_whitelist(&request.ip_whitelist)?;
        let rate = request.commission_rate.unwrap_or(STANDARD_COMMISSION_RATE);
        if rate.is_sign_negative() || rate >= Decimal::ONE {
            return Err(bad_request("commission_rate must be in [0, 1)"));
        }
        let mut account = match &request.ed25519_public_key {
            Some(text) => {
                let key = SignatureKey::ed25519_from_text(text)
                    .map_err(|err| bad_request(format!("ed25519_public_key: {err}")))?;
                Account::with_key(random_key(), key, request.balances, rate)
            }
            None => Account::new(Credentials::generate(), request.balances, rate),
        };
        account.commission_in_bnb = request.commission_in_bnb;
        account.can_trade = request.can_trade.unwrap_or(true);
        account.ip_whitelist = ip_whitelist;
        let api_key = account.api_key.clone();
        let secret = match &account.signature_key {
            SignatureKey::Hmac(secret) => Some(secret.clone()),
            SignatureKey::Ed25519(_) => None,
        };
        exchange.add_account(account);
        let uid = exchange.account(&api_key).map_or(0, |account| account.uid);
        let mut answer = json!({"api_key": api_key, "uid": uid});
        if let Some(secret) = secret {
            answer["secret"] = Value::String(secret);
        }
        Ok(answer)
    })
    .await
}

async fn account_state(
    State(exchange): State<ExchangeHandle>,
    Path(api_key): Path<String>,
) -> Response {
    admin(&exchange, |exchange| {
        exchange
            .account(&api_key)
            .map(account_json)
            .ok_or_else(|| unknown_account(&api_key))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBalances {
    balances: BTreeMap<String, Decimal>,
}

async fn replace_balances(
    State(exchange): State<ExchangeHandle>,
    Path(api_key): Path<String>,
    body: Bytes,
) -> Response {
    admin(&exchange, |exchange| {
        let request: NewBalances = read_body(&body)?;
        check_balances(&request.balances)?;
        exchange
            .replace_balances(&api_key, request.balances)
            .map(account_json)
            .ok_or_else(|| unknown_account(&api_key))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyStateChange {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    can_trade: Option<bool>,
    #[serde(default)]
    ip_whitelist: Option<Vec<String>>,
}

async fn set_key_state(
    State(exchange): State<ExchangeHandle>,
    Path(api_key): Path<String>,
    body: Bytes,
) -> Response {
    admin(&exchange, |exchange| {
        let change: KeyStateChange = read_body(&body)?;
        // Everything is read and checked before the first change, so a refused request changes
        // nothing.
        let ip_whitelist = change
            .ip_whitelist
            .as_deref()
            .map(read_ip_whitelist)
            .transpose()?;
        if exchange.account(&api_key).is_none() {
            return Err(unknown_account(&api_key));
        }
        if let Some(enabled) = change.enabled {
            exchange.set_key_enabled(&api_key, enabled);
        }
        if let Some(can_trade) = change.can_trade {
            exchange.set_can_trade(&api_key, can_trade);
        }
        if let Some(whitelist) = ip_whitelist {
            exchange.set_ip_whitelist(&api_key, whitelist);
        }
        exchange
            .account(&api_key)
            .map(account_json)
            .ok_or_else(|| unknown_account(&api_key))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Funding {
    asset: String,
    amount: Decimal,
}

async fn fund_account(
    State(exchange): State<ExchangeHandle>,
    Path(api_key): Path<String>,
    body: Bytes,
) -> Response {
    admin(&exchange, |exchange| {
        let funding: Funding = read_body(&body)?;
        if funding.amount <= Decimal::ZERO || funding.asset.is_empty() {
            return Err(bad_request("amount must be positive and asset named"));
        }
        let account = exchange
            .fund(&api_key, &funding.asset, funding.amount)
            .ok_or_else(|| unknown_account(&api_key))?;
        Ok(json!({"balances": balances_json(account)}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BnbCommission {
    enabled: bool,
}

async fn set_commission_in_bnb(
    State(exchange): State<ExchangeHandle>,
    Path(api_key): Path<String>,
    body: Bytes,
) -> Response {
    admin(&exchange, |exchange| {
        let request: BnbCommission = read_body(&body)?;
        exchange
            .set_commission_in_bnb(&api_key, request.enabled)
            .ok_or_else(|| unknown_account(&api_key))?;
        Ok(json!({"api_key": api_key, "commission_in_bnb": request.enabled}))
    })
    .await
}

async fn faults(State(exchange): State<ExchangeHandle>) -> Response {
    admin(&exchange, |exchange| plan_json(exchange)).await
}

async fn set_faults(State(exchange): State<ExchangeHandle>, body: Bytes) -> Response {
    admin(&exchange, |exchange| {
        let plan: FaultPlan = read_body(&body)?;
        exchange.set_faults(plan).map_err(bad_request)?;
        plan_json(exchange)
    })
    .await
}

async fn clear_faults(State(exchange): State<ExchangeHandle>) -> Response {
    admin(&exchange, |exchange| {
        exchange
            .set_faults(FaultPlan::default())
            .map_err(bad_request)?;
        plan_json(exchange)
    })
    .await
}

fn plan_json(exchange: &Exchange) -> AdminResult {
    serde_json::to_value(exchange.faults())
        .map_err(|err| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStatus {
    status: String,
}

async fn set_symbol_status(
    State(exchange): State<ExchangeHandle>,
    Path(symbol): Path<String>,
    body: Bytes,
) -> Response {
    admin(&exchange, |exchange| {
        let request: NewStatus = read_body(&body)?;
        exchange
            .set_symbol_status(&symbol, &request.status)
            .map_err(bad_request)?;
        Ok(json!({"symbol": symbol, "status": request.status}))
    })
    .await
}

async fn order_log(State(exchange): State<ExchangeHandle>, RawQuery(query): RawQuery) -> Response {
    admin(&exchange, |exchange| {
        let account = order_log_account(query.as_deref().unwrap_or(""))?;
        if let Some(api_key) = &account
            && exchange.account(api_key).is_none()
        {
            return Err(unknown_account(api_key));
        }
        Ok(Value::Array(
            exchange
                .order_log()
                .iter()
                .filter(|order| account.as_ref().is_none_or(|key| &order.api_key == key))
                .map(order_json)
                .collect(),
        ))
    })
    .await
}

/// The account `GET /_sim/orders` is filtered to: its only query parameter, `api_key`.
fn order_log_account(query: &str) -> Result<Option<String>, (StatusCode, String)> {
    let mut api_key = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "api_key" if api_key.is_none() => api_key = Some(value.into_owned()),
            "api_key" => return Err(bad_request("api_key is given twice; give it once")),
            other => {
                return Err(bad_request(format!(
                    "unknown query parameter {other:?}; the only one is api_key"
                )));
            }
        }
    }
    Ok(api_key)
}

/// One order of the log, with everything a test compares against.
fn order_json(order: &OrderRecord) -> Value {
    let (quantity, quote_order_qty) = match order.size {
        OrderSize::Base(qty) => (Some(decimal8(qty)), None),
        OrderSize::Quote(amount) => (None, Some(decimal8(amount))),
    };
    let fills: Vec<Value> = order
        .fills
        .iter()
        .map(|fill| {
            json!({
                "trade_id": fill.trade_id,
                "price": decimal8(fill.price),
                "qty": decimal8(fill.qty),
                "commission": decimal8(fill.commission),
                "commission_asset": fill.commission_asset,
            })
        })
        .collect();
    json!({
        "symbol": order.symbol,
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "api_key": order.api_key,
        "side": order.side.as_str(),
        "quantity": quantity,
        "quote_order_qty": quote_order_qty,
        "status": order.status.as_str(),
        "executed_qty": decimal8(order.executed_qty()),
        "cumulative_quote_qty": decimal8(order.cumulative_quote_qty()),
        "fills": fills,
        "transact_time_ms": order.transact_time_ms,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    #[serde(default)]
    now_ms: Option<i64>,
    #[serde(default)]
    advance_ms: Option<i64>,
}

/// How long `GET /_sim/clock?changed_from=N` waits for the clock to move before answering anyway.
const CLOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(25);

async fn clock(State(exchange): State<ExchangeHandle>, RawQuery(query): RawQuery) -> Response {
    let changed_from = match clock_wait(query.as_deref().unwrap_or("")) {
        Ok(changed_from) => changed_from,
        Err((status, reason)) => return failure(status, reason),
    };
    if let Some(changed_from) = changed_from {
        wait_for_clock_change(&exchange, changed_from).await;
    }
    admin(&exchange, |exchange| Ok(clock_json(exchange))).await
}

/// The time `GET /_sim/clock` waits for the clock to leave: its only query parameter,
/// `changed_from`.
fn clock_wait(query: &str) -> Result<Option<i64>, (StatusCode, String)> {
    let mut changed_from = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "changed_from" if changed_from.is_none() => {
                changed_from = Some(value.parse::<i64>().map_err(|_| {
                    bad_request(format!(
                        "changed_from must be a time in ms since the epoch; got {value:?}"
                    ))
                })?);
            }
            "changed_from" => return Err(bad_request("changed_from is given twice; give it once")),
            other => {
                return Err(bad_request(format!(
                    "unknown query parameter {other:?}; the only one is changed_from"
                )));
            }
        }
    }
    Ok(changed_from)
}

/// Returns once a manual clock reads other than `changed_from` (at once when it does already),
/// or after [`CLOCK_WAIT`]: a client following a clock stepped by hand learns of each step as it
/// happens, without polling. A system clock never waits (it is always moving).
async fn wait_for_clock_change(exchange: &ExchangeHandle, changed_from: i64) {
    let mut changes = {
        let exchange = exchange.lock();
        let Some(manual) = exchange.clock().as_manual() else {
            return;
        };
        // Subscribed before the time is read, so a step in between is not missed.
        let changes = manual.changes();
        if exchange.now_ms() != changed_from {
            return;
        }
        changes
    };
    let _ = tokio::time::timeout(CLOCK_WAIT, changes.changed()).await;
}

async fn set_clock(State(exchange): State<ExchangeHandle>, body: Bytes) -> Response {
    admin(&exchange, |exchange| {
        let change: ClockChange = read_body(&body)?;
        let clock = exchange.clock().clone();
        let manual = clock.as_manual().ok_or((
            StatusCode::CONFLICT,
            "the exchange runs on the system clock, which cannot be set".to_owned(),
        ))?;
        match (change.now_ms, change.advance_ms) {
            (Some(now_ms), None) => manual.set_ms(now_ms),
            (None, Some(delta_ms)) => manual.advance_ms(delta_ms),
            _ => return Err(bad_request("send exactly one of now_ms and advance_ms")),
        }
        Ok(clock_json(exchange))
    })
    .await
}

fn clock_json(exchange: &Exchange) -> Value {
    json!({
        "now_ms": exchange.now_ms(),
        "speed": exchange.clock().speed(),
        "clock_skew_ms": exchange.faults().clock_skew_ms,
        "manual": exchange.clock().as_manual().is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use axum::body::Body;
    use tower::ServiceExt;

    use crate::{ExchangeConfig, ManualClock};

    const TOKEN: &str = "fleet-admin-token-0123456789";

    /// The whole router over an exchange on a manual clock, with `token`.
    fn app_with(token: Option<&str>) -> Router {
        let config = ExchangeConfig {
            history_ms: 60_000,
            ..ExchangeConfig::default()
        };
        let exchange = Exchange::new(config, Arc::new(ManualClock::new(1_750_000_000_000)))
            .expect("the default configuration is valid");
        let token = token.map(|text| AdminToken::new(text).expect("a valid token"));
        crate::http::router(ExchangeHandle::new(exchange), AdminAccess::new(token))
    }

    /// The status `app` answers `method path` from `peer`, with `authorization` if any.
    async fn status(
        app: &Router,
        method: &str,
        path: &str,
        peer: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let mut request = request.body(Body::empty()).unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn a_clock_reader_waiting_for_a_change_hears_the_next_step_at_once() {
        let app = app_with(None);
        let local = "127.0.0.1:5000";
        let start = 1_750_000_000_000i64;
        let waiting = {
            let app = app.clone();
            tokio::spawn(async move {
                let path = format!("/_sim/clock?changed_from={start}");
                status(&app, "GET", &path, local, None).await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "the clock has not moved: still waiting"
        );
        let app_for_put = app.clone();
        let request = axum::http::Request::builder()
            .method("PUT")
            .uri("/_sim/clock")
            .body(Body::from(r#"{"advance_ms": 60000}"#))
            .unwrap();
        let mut request = request;
        request
            .extensions_mut()
            .insert(ConnectInfo(local.parse::<SocketAddr>().unwrap()));
        let stepped = app_for_put.oneshot(request).await.unwrap();
        assert_eq!(stepped.status(), StatusCode::OK);
        let (code, clock) = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the waiter answers once the clock moves")
            .unwrap();
        assert_eq!(code, StatusCode::OK);
        assert_eq!(clock["now_ms"], start + 60_000);

        // Already elsewhere: answered at once.
        let path = format!("/_sim/clock?changed_from={start}");
        let (code, clock) = status(&app, "GET", &path, local, None).await;
        assert_eq!(
            (code, clock["now_ms"].as_i64()),
            (StatusCode::OK, Some(start + 60_000))
        );
        let (code, error) = status(&app, "GET", "/_sim/clock?changed_from=soon", local, None).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(
            error["error"].as_str().unwrap().contains("changed_from"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn with_a_token_every_client_needs_it_and_anyone_may_read_the_clock() {
        let app = app_with(Some(TOKEN));
        let remote = "192.0.2.7:5000";
        let bearer = format!("Bearer {TOKEN}");
        for refused in [
            None,
            Some("Bearer fleet-admin-token-0123456788"),
            Some("Bearer "),
            Some(TOKEN),
            Some("Basic ZmxlZXQ6YWRtaW4="),
        ] {
            let (code, error) = status(&app, "GET", "/_sim/orders", remote, refused).await;
            assert_eq!(code, StatusCode::FORBIDDEN, "{refused:?}");
            assert!(!error["error"].as_str().unwrap().contains(TOKEN), "{error}");
        }
        let (code, orders) = status(&app, "GET", "/_sim/orders", remote, Some(&bearer)).await;
        assert_eq!(code, StatusCode::OK, "{orders}");
        let (code, account) = status(&app, "POST", "/_sim/accounts", remote, Some(&bearer)).await;
        assert_eq!(code, StatusCode::OK, "{account}");
        assert!(account["api_key"].is_string());
        // The clock is read by anyone, set only by those let in.
        let (code, clock) = status(&app, "GET", "/_sim/clock", remote, None).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(clock["speed"], 0);
        assert_eq!(clock["now_ms"], 1_750_000_000_000i64);
        let (code, _) = status(&app, "PUT", "/_sim/clock", remote, None).await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        // With a token, loopback needs it too: any process on a shared machine is not an admin.
        for loopback in ["127.0.0.1:40000", "[::1]:40000"] {
            for sent in [None, Some("Bearer wrong-but-local-0000000")] {
                let (code, _) = status(&app, "POST", "/_sim/accounts", loopback, sent).await;
                assert_eq!(code, StatusCode::FORBIDDEN, "{loopback} {sent:?}");
            }
            let (code, _) = status(&app, "GET", "/_sim/orders", loopback, Some(&bearer)).await;
            assert_eq!(code, StatusCode::OK, "{loopback}");
        }

        // Without a token, nobody beyond loopback gets in, whatever they send.
        let closed = app_with(None);
        let (code, error) = status(&closed, "GET", "/_sim/orders", remote, Some(&bearer)).await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("loopback clients only"),
            "{error}"
        );
        let (code, _) = status(&closed, "GET", "/_sim/clock", remote, None).await;
        assert_eq!(code, StatusCode::OK);
    }

    #[test]
    fn admin_tokens_are_long_visible_ascii_and_never_shown() {
        let token = AdminToken::new(TOKEN).unwrap();
        assert!(token.matches(TOKEN));
        assert!(!token.matches("fleet-admin-token-012345678"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains(TOKEN));
        for refused in [
            "short",
            "with a space in it, long enough",
            "tab\there-and-long-enough",
        ] {
            let error = AdminToken::new(refused).unwrap_err();
            assert!(!error.contains(refused), "{error}");
        }
        assert!(AdminToken::new(&"x".repeat(257)).is_err());
    }

    #[test]
    fn the_order_log_takes_only_an_api_key_once() {
        assert_eq!(order_log_account(""), Ok(None));
        assert_eq!(order_log_account("api_key=abc"), Ok(Some("abc".to_owned())));
        for refused in ["apiKey=abc", "api_key=a&api_key=b", "api_key=a&limit=5"] {
            let (status, reason) = order_log_account(refused).unwrap_err();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
            assert!(reason.contains("api_key"), "{refused}: {reason}");
        }
    }

    #[test]
    fn only_loopback_peers_may_use_the_admin_api() {
        for allowed in [
            "127.0.0.1:5000",
            "127.8.9.10:1",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(is_admin_peer(allowed.parse().unwrap()), "{allowed}");
        }
        for refused in [
            "192.168.1.20:5000",
            "10.0.0.1:80",
            "[2001:db8::1]:443",
            "0.0.0.0:1",
        ] {
            assert!(!is_admin_peer(refused.parse().unwrap()), "{refused}");
        }
    }
}
