//! What a bot's chart draws, and when to draw it again.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/bots/{id}/chart` | 200 [`ChartBody`]: the bot's latest closed candles with its EMAs and RSI, a marker at each trade and at each signal that sent no order, and its newest decisions |
//! | `GET /api/v1/bots/{id}/updates` | 200 `text/event-stream`: an `update` event each time the chart would change |
//!
//! The candles come from the bot's own venue (`GET /api/v3/klines`); the indicators are the
//! strategy crate's, fed [`WARMUP_PERIODS`] times the longest period of extra candles before the
//! first one shown, so that the lines drawn are the bot's to well below a pixel. A trade's marker
//! sits on the candle whose signal sent its order, read from the order's write-ahead row; a
//! skipped signal's on the candle its `skip` event names.
//!
//! The updates stream says *that* something changed, not what: the page fetches the chart again,
//! so there is one way to draw it. It looks every [`UPDATE_POLL`] at the bot's row, its newest
//! event and trade, and the exchange's clock (a candle closing); it goes through the database,
//! not the engine, so it works the same with the engine in another process. It ends after
//! [`STREAM_LIFETIME`], at once for a bot that is not active, and when the server shuts down
//! ([`ApiState::close_streams`](crate::ApiState::close_streams)); the browser's
//! `EventSource` reconnects by itself (after the `retry` it is told): no connection is held
//! forever by a tab nobody looks at, and a proxy's idle timeout never cuts one mid-way.

use std::convert::Infallible;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use market::{Candle, Interval, Symbol};
use serde::Serialize;
use serde_json::Value;
use store::{BotConfig, BotId, SignalTrade, UserId};
use strategy::spec::ema_rsi_cross_params;
use strategy::{EmaRsiCross, Strategy};
use tokio::time::Instant;
use utoipa::ToSchema;

use crate::ApiState;
use crate::account::account_error;
use crate::auth::AuthUser;
use crate::bots::{bot_id, no_such_bot};
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use crate::trades::{FromParams, NoParams, Params, Query};

/// Candles shown when the query does not say.
const DEFAULT_CANDLES: u32 = 500;

/// The most candles one chart shows.
const MAX_CANDLES: u32 = 10_000;

/// The fewest candles one chart shows.
const MIN_CANDLES: u32 = 20;

/// Extra candles fed to the indicators before the first one shown, in multiples of the longest
/// period: an EMA started this far back differs from one started at the bot's own anchor by
/// about e^-8 of the gap between their starting values.
const WARMUP_PERIODS: usize = 4;

/// The newest decisions a chart lists.
const DECISIONS: u32 = 50;

/// The most trades a chart marks.
const MAX_MARKERS: u32 = 5_000;

/// How often the updates stream looks for a change.
const UPDATE_POLL: Duration = Duration::from_secs(1);

/// How long one updates stream lasts before the browser is asked to reconnect.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);

/// How long the browser waits before it reconnects an updates stream.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// A candle with the bot's indicators after it (null while not yet defined).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChartCandle {
    /// Open time, ms since the epoch.
    pub open_time_ms: i64,
    /// First price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Last price.
    pub close: f64,
    /// Base volume.
    pub volume: f64,
    /// The fast EMA of the closes.
    pub ema_fast: Option<f64>,
    /// The slow EMA of the closes.
    pub ema_slow: Option<f64>,
    /// The RSI of the closes.
    pub rsi: Option<f64>,
}

/// One of the bot's trades, placed on the candle whose signal sent it. Amounts are decimal
/// strings, as everywhere in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChartMarker {
    /// The trade's id.
    pub trade_id: i64,
    /// The open time of the signal's candle (the execution's candle for a trade without a
    /// write-ahead order row).
    pub candle_open_ms: i64,
    /// `BUY` or `SELL`.
    #[schema(example = "BUY")]
    pub side: &'static str,
    /// The average fill price.
    #[schema(example = "42000.5")]
    pub price: String,
    /// The base quantity filled.
    pub quantity: String,
    /// The quote amount filled.
    pub quote_quantity: String,
    /// The fee paid.
    pub commission: String,
    /// The asset the fee was paid in.
    pub commission_asset: String,
    /// The PnL a SELL realised (null for a BUY).
    #[schema(required = true)]
    pub realized_pnl: Option<String>,
    /// When the exchange executed it, ms since the epoch.
    pub executed_at_ms: i64,
    /// What the engine decided the order from (see [`DecisionBody::why`]).
    #[schema(value_type = Option<Object>, required = true)]
    pub why: Option<Value>,
}

/// An event of the updates stream, as a Server-Sent Events parser reads it: `event: update`
/// with `data: {}` (the page reads the chart again; the data says nothing more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpdateEvent {
    /// Always `update`.
    #[schema(example = "update", pattern = "^update$")]
    pub event: &'static str,
    /// Always `{}`.
    #[schema(example = "{}", pattern = "^\\{\\}$")]
    pub data: &'static str,
}

/// The one event the updates stream sends.
const UPDATE: UpdateEvent = UpdateEvent {
    event: "update",
    data: "{}",
};

/// A signal of the bot that sent no order, placed on its candle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SkipMarker {
    /// The open time of the signal's candle.
    pub candle_open_ms: i64,
    /// When the decision was recorded, ms since the epoch.
    pub at_ms: i64,
    /// Why no order was sent (a filter of the exchange, a stale candle, a balance too small...).
    pub reason: String,
    /// What the engine decided from (see [`DecisionBody::why`]).
    #[schema(value_type = Option<Object>, required = true)]
    pub why: Option<Value>,
}

/// One of the bot's recorded decisions or incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DecisionBody {
    /// When it was recorded, ms since the epoch.
    pub at_ms: i64,
    /// The open time of the candle a decision was about; null for an incident (an error, a
    /// pause) and for decisions recorded before spotbot kept it.
    #[schema(required = true)]
    pub candle_open_ms: Option<i64>,
    /// `hold`, `skip`, `trade`, `error`, `paused`, `blocked`, `reconciled`, ...
    #[schema(example = "skip")]
    pub kind: String,
    /// What happened, for people.
    pub message: String,
    /// What the engine decided from, as it recorded it: `readings` (`[{name, value}]`, the
    /// strategy's indicators at the candle, a value null while undefined), `rule` (in words),
    /// `position` (`flat` or `long`), `held` (the base quantity held), `signal` (`BUY`, `SELL` or
    /// null), `price` (the reference price an order was sized at, or null) and `sizing` (each
    /// sizing and normalisation step in words). Null for incidents and for decisions recorded
    /// before spotbot kept it.
    #[schema(value_type = Option<Object>, required = true)]
    pub why: Option<Value>,
}

/// The recorded why of a decision (JSON text), as JSON; text that is not JSON (which spotbot
/// never writes) is left out rather than failing the chart.
fn recorded_why(detail: Option<String>) -> Option<Value> {
    detail.and_then(|text| serde_json::from_str(&text).ok())
}

/// Everything a bot's chart shows.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChartBody {
    /// The bot's id.
    pub bot_id: i64,
    /// Its symbol.
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    /// Its candle interval.
    #[schema(example = "1m")]
    pub interval: String,
    /// The fast EMA's period.
    pub fast: usize,
    /// The slow EMA's period.
    pub slow: usize,
    /// The RSI's period.
    pub rsi_period: usize,
    /// The RSI level above which the bot does not buy.
    pub overbought: f64,
    /// The latest closed candles, oldest first.
    pub candles: Vec<ChartCandle>,
    /// The bot's trades within the candles shown, oldest first.
    pub markers: Vec<ChartMarker>,
    /// The bot's signals that sent no order within the candles shown, oldest first.
    pub skips: Vec<SkipMarker>,
    /// The bot's newest decisions, newest first.
    pub decisions: Vec<DecisionBody>,
    /// The exchange's time when the chart was read, ms since the epoch.
    pub server_time_ms: i64,
}

/// The query of `GET /api/v1/bots/{id}/chart`.
pub(crate) struct ChartQuery {
    candles: u32,
}

impl FromParams for ChartQuery {
    fn from_params(params: &mut Params) -> Result<Self, ApiError> {
        Ok(ChartQuery {
            candles: params
                .take_with("candles", |text| match text.parse::<u32>() {
                    Ok(candles) if (MIN_CANDLES..=MAX_CANDLES).contains(&candles) => Ok(candles),
                    _ => Err(format!(
                        "must be an integer from {MIN_CANDLES} to {MAX_CANDLES}, got {text:?}"
                    )),
                })?
                .unwrap_or(DEFAULT_CANDLES),
        })
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/bots/{id}/chart", get(bot_chart))
        .route("/api/v1/bots/{id}/updates", get(bot_updates))
}

/// The caller's bot of the path, or a 404.
async fn owned_bot(
    state: &ApiState,
    user: UserId,
    path: Result<Path<String>, PathRejection>,
) -> Result<BotConfig, ApiError> {
    let id = bot_id(path)?;
    state
        .store
        .user_bot(user, id)
        .await?
        .ok_or_else(no_such_bot)
}

/// The nominal length of one `interval` candle, ms (30 days for a month: only used to size
/// windows and to notice that a candle closed, never for a candle's boundaries).
fn nominal_ms(interval: Interval) -> i64 {
    i64::try_from(interval.nominal_duration().as_millis()).unwrap_or(i64::MAX)
}

/// A stored value that should have been checked when the bot was saved, yet does not parse.
fn corrupt(bot: BotId, what: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!(
        "bot {bot}: the stored {what} does not parse: {error}"
    ))
}

/// `GET /api/v1/bots/{id}/chart`: the bot's latest candles, indicators, trades and decisions.
#[utoipa::path(
    get,
    path = "/api/v1/bots/{id}/chart",
    tag = "bots",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        ("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404"),
        ("candles" = Option<u32>, Query, minimum = 20, maximum = 10000, description = "How many of the latest closed candles to show (default 500)"),
    ),
    responses(
        (status = 200, description = "The chart", body = ChartBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
        (status = 422, description = "`invalid_value` or `unknown_field` naming the query parameter at fault", body = ErrorBody),
        (status = 503, description = "`exchange_unavailable`: the venue's candles could not be read", body = ErrorBody),
    ),
)]
pub(crate) async fn bot_chart(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
    Query(query): Query<ChartQuery>,
) -> Result<Json<ChartBody>, ApiError> {
    let bot = owned_bot(&state, caller.user.id, path).await?;
    let interval = Interval::from_str(&bot.interval).map_err(|e| corrupt(bot.id, "interval", e))?;
    let symbol = Symbol::new(bot.symbol.clone()).map_err(|e| corrupt(bot.id, "symbol", e))?;
    let params = ema_rsi_cross_params(&bot.strategy_params)
        .map_err(|e| corrupt(bot.id, "strategy_params", e))?;
    let warmup = WARMUP_PERIODS * params.fast.max(params.slow).max(params.rsi_period);
    let client = state
        .accounts
        .venue(bot.mode)
        .map_err(account_error)?
        .client();
    let exchange_error = |error: binance::BinanceError| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "exchange_unavailable",
            format!(
                "the {} exchange's candles could not be read: {error}",
                bot.mode
            ),
        )
    };
    let now_ms = client.server_now_ms().await.map_err(exchange_error)?;
    let interval_ms = nominal_ms(interval);
    let wanted = query.candles as usize + warmup;
    let start_ms = now_ms.saturating_sub(interval_ms.saturating_mul(wanted as i64 + 1));
    let candles = client
        .closed_klines(&symbol, interval, start_ms, now_ms)
        .await
        .map_err(exchange_error)?;
    let strategy = EmaRsiCross::new(params).map_err(|e| corrupt(bot.id, "strategy_params", e))?;
    let first_shown = candles.len().saturating_sub(query.candles as usize);
    let shown = chart_candles(
        strategy,
        candles.iter().copied(),
        first_shown..candles.len(),
    );
    let first_shown_ms = shown.first().map_or(now_ms, |candle| candle.open_time_ms);
    let trades = state
        .store
        .trades_with_signal_candles(bot.id, first_shown_ms, MAX_MARKERS)
        .await?;
    let skips = state
        .store
        .skipped_signals(bot.id, first_shown_ms, MAX_MARKERS)
        .await?;
    let decisions = state.store.events(bot.id, DECISIONS).await?;
    Ok(Json(ChartBody {
        bot_id: bot.id.0,
        symbol: bot.symbol,
        interval: bot.interval,
        fast: params.fast,
        slow: params.slow,
        rsi_period: params.rsi_period,
        overbought: params.overbought,
        candles: shown,
        markers: trades
            .into_iter()
            .map(|trade| marker(trade, interval_ms))
            .collect(),
        skips: skips
            .into_iter()
            .filter_map(|event| {
                Some(SkipMarker {
                    candle_open_ms: event.candle_open_ms?,
                    at_ms: event.at_ms,
                    reason: event.message,
                    why: recorded_why(event.detail),
                })
            })
            .collect(),
        decisions: decisions
            .into_iter()
            .map(|event| DecisionBody {
                at_ms: event.at_ms,
                candle_open_ms: event.candle_open_ms,
                kind: event.kind,
                message: event.message,
                why: recorded_why(event.detail),
            })
            .collect(),
        server_time_ms: now_ms,
    }))
}

/// The candles at `shown` indexes of `candles`, each with the indicators `strategy` reads after
/// it (every candle is fed, those before the window first).
pub(crate) fn chart_candles(
    mut strategy: EmaRsiCross,
    candles: impl Iterator<Item = Candle>,
    shown: Range<usize>,
) -> Vec<ChartCandle> {
    let defined = |value: f64| value.is_finite().then_some(value);
    let mut chart = Vec::with_capacity(shown.len());
    for (index, candle) in candles.enumerate().take(shown.end) {
        strategy.update(&candle);
        if index < shown.start {
            continue;
        }
        let readings = strategy.readings();
        chart.push(ChartCandle {
            open_time_ms: candle.open_time_ms,
            open: candle.open,
            high: candle.high,
            low: candle.low,
            close: candle.close,
            volume: candle.volume,
            ema_fast: defined(readings.ema.fast),
            ema_slow: defined(readings.ema.slow),
            rsi: defined(readings.rsi),
        });
    }
    chart
}

/// `trade` as a marker on its signal's candle (or, without one, on the candle it executed in).
fn marker(signal_trade: SignalTrade, interval_ms: i64) -> ChartMarker {
    let SignalTrade {
        trade,
        signal_candle_open_ms,
        decision,
    } = signal_trade;
    let candle_open_ms = signal_candle_open_ms
        .unwrap_or_else(|| trade.executed_at_ms - trade.executed_at_ms.rem_euclid(interval_ms));
    ChartMarker {
        trade_id: trade.id.0,
        candle_open_ms,
        side: trade.side.as_str(),
        price: trade.price.to_string(),
        quantity: trade.quantity_filled.to_string(),
        quote_quantity: trade.quote_quantity_filled.to_string(),
        commission: trade.commission.to_string(),
        commission_asset: trade.commission_asset,
        realized_pnl: trade.realized_pnl.map(|pnl| pnl.to_string()),
        executed_at_ms: trade.executed_at_ms,
        why: recorded_why(decision),
    }
}

/// What the updates stream compares: it sends an event when any of it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    updated_at_ms: i64,
    /// The id of the newest event: two events in the same millisecond still differ.
    newest_event_id: Option<i64>,
    newest_trade_ms: Option<i64>,
    closed_candles: i64,
}

/// Where the updates stream is: the bot it follows and what it last told.
struct Follow {
    state: ApiState,
    user: UserId,
    bot: BotId,
    interval_ms: i64,
    last: Option<Fingerprint>,
    ends_at: Instant,
    closing: tokio::sync::watch::Receiver<bool>,
}

impl Follow {
    /// The bot's fingerprint now; `None` once it is gone or no longer active (the stream ends).
    async fn fingerprint(&self) -> Option<Fingerprint> {
        let store = &self.state.store;
        let bot = store.user_bot(self.user, self.bot).await.ok()??;
        if !bot.is_active {
            return None;
        }
        let newest_event_id = store.events(self.bot, 1).await.ok()?.first().map(|e| e.id);
        let newest_trade_ms = store
            .trades_with_signal_candles(self.bot, 0, 1)
            .await
            .ok()?
            .first()
            .map(|signal_trade| signal_trade.trade.executed_at_ms);
        let closed_candles = match self.state.accounts.venue(bot.mode) {
            Ok(venue) => venue
                .client()
                .server_now_ms()
                .await
                .map_or(0, |now_ms| now_ms / self.interval_ms),
            Err(_) => 0,
        };
        Some(Fingerprint {
            updated_at_ms: bot.updated_at_ms,
            newest_event_id,
            newest_trade_ms,
            closed_candles,
        })
    }

    /// The next event to send: waits until the fingerprint changes, or the stream's time is up.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Follow)> {
        loop {
            if *self.closing.borrow() || Instant::now() >= self.ends_at {
                return None;
            }
            let now = self.fingerprint().await?;
            if self.last.as_ref() != Some(&now) {
                self.last = Some(now);
                let event = Event::default().event(UPDATE.event).data(UPDATE.data);
                return Some((Ok(event), self));
            }
            tokio::select! {
                () = tokio::time::sleep(UPDATE_POLL) => {}
                _ = self.closing.changed() => {}
            }
        }
    }
}

/// The `wait=N` of the request's `Prefer` headers (RFC 7240), at most [`STREAM_LIFETIME`]; a
/// malformed preference is ignored, as the RFC asks.
fn preferred_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split([',', ';']))
        .filter_map(|preference| {
            let (name, value) = preference.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())?
        })
        .map(|secs| Duration::from_secs(secs).min(STREAM_LIFETIME))
        .next()
}

/// `GET /api/v1/bots/{id}/updates`: Server-Sent Events saying when the bot's chart changed.
#[utoipa::path(
    get,
    path = "/api/v1/bots/{id}/updates",
    tag = "bots",
    security(("bearer" = []), ("session_cookie" = [])),
    params(
        ("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404"),
        ("Prefer" = Option<String>, Header, description = "`wait=N` (RFC 7240): end the stream after N seconds rather than five minutes"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: an `update` event (data `{}`) at once and each time the bot's chart changes (a candle closed, a decision, a trade, a status change); it ends at once for a bot that is not active, after five minutes (or the `Prefer: wait`) otherwise, and the browser reconnects", content_type = "text/event-stream", body = UpdateEvent),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
        (status = 422, description = "`unknown_field`: a query parameter (this route takes none)", body = ErrorBody),
    ),
)]
pub(crate) async fn bot_updates(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
    Query(NoParams): Query<NoParams>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let bot = owned_bot(&state, caller.user.id, path).await?;
    let interval = Interval::from_str(&bot.interval).map_err(|e| corrupt(bot.id, "interval", e))?;
    let closing = state.closing.subscribe();
    let follow = Follow {
        state,
        user: caller.user.id,
        bot: bot.id,
        interval_ms: nominal_ms(interval),
        last: None,
        ends_at: Instant::now() + preferred_wait(&headers).unwrap_or(STREAM_LIFETIME),
        closing,
    };
    let retry = futures_util::stream::once(async {
        Ok(Event::default().retry(RECONNECT_AFTER).comment("spotbot"))
    });
    let updates = futures_util::stream::unfold(follow, Follow::next);
    Ok(Sse::new(futures_util::StreamExt::chain(retry, updates)).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(prefer: &[&str]) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        for value in prefer {
            headers.append("prefer", value.parse().unwrap());
        }
        preferred_wait(&headers)
    }

    #[test]
    fn the_stream_lasts_what_the_client_prefers_within_its_lifetime() {
        assert_eq!(wait(&[]), None);
        assert_eq!(wait(&["wait=2"]), Some(Duration::from_secs(2)));
        assert_eq!(
            wait(&["respond-async, Wait = \"7\""]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            wait(&["return=minimal", "wait=1"]),
            Some(Duration::from_secs(1))
        );
        assert_eq!(wait(&["wait=100000"]), Some(STREAM_LIFETIME));
        assert_eq!(
            wait(&["wait=soon", "wait"]),
            None,
            "malformed preferences are ignored"
        );
    }
}
