//! `/api/v1/bots`: the caller's bots. Every route is scoped to the caller: another user's bot is
//! a 404, exactly like a bot that does not exist, so ids leak nothing.
//!
//! | route | answer |
//! |---|---|
//! | `POST /api/v1/bots` | 201 [`BotBody`] from a [`CreateBotRequest`] |
//! | `GET /api/v1/bots` | 200 `[`[`BotBody`]`]`, by id |
//! | `GET /api/v1/bots/{id}` | 200 [`BotBody`] |
//! | `PATCH /api/v1/bots/{id}` | 200 [`BotBody`] from a [`PatchBotRequest`] |
//! | `DELETE /api/v1/bots/{id}` | 204; 409 while it is active or once it has orders (stop it instead) |
//! | `POST /api/v1/bots/{id}/start` | 200 [`BotBody`]: active, idle, error and failure count cleared |
//! | `POST /api/v1/bots/{id}/stop` | 200 [`BotBody`]: inactive, idle |
//! | `POST /api/v1/bots/{id}/pause` | 200 [`BotBody`]: paused until started |
//!
//! A bot is checked as a whole on creation and after every change by
//! [`accounts::check_bot`]: a name, unique among the caller's bots (409); a mode (its venue)
//! this server trades; a symbol that venue's own `exchangeInfo` lists and that takes MARKET
//! orders; a candle interval; a strategy and parameters the engine can build; a quote amount per
//! BUY that is at least the symbol's minimum notional there. Each failure is a 422 naming the
//! field; a venue whose listing cannot be read is a 503.

use std::collections::BTreeMap;

use accounts::{BotDraft, BotRuleError, check_bot};
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{
    BotConfig, BotControl, BotDeletion, BotId, NewBot, PositionRow, StoreError, TradeFilter,
    TradeRow, UserId,
};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use crate::{ApiState, now_ms};

/// The body of `POST /api/v1/bots`.
///
/// The fields' patterns state every rule on one field that [`check_bot`] enforces and a schema
/// can say: the name's (`[^\x00-\x1f\x7f-\x9f]` is any character but a control one, and one of
/// them must not be Unicode white space either), the symbol's spelling, the intervals, strategies
/// and modes there are. What no schema can say (the exchange's listing and minimum order, rules
/// between strategy parameters) is a 422 all the same.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBotRequest {
    /// The bot's name, unique among the caller's bots: 1 to 64 characters, not only spaces, no
    /// control characters.
    #[schema(
        example = "btc-hourly",
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// The symbol it trades, e.g. `BTCUSDT`: one the exchange lists (422 otherwise).
    #[schema(example = "BTCUSDT", pattern = "^[A-Z0-9]{1,20}$")]
    pub symbol: String,
    /// Its candle interval, e.g. `1h`.
    #[schema(
        example = "1h",
        pattern = "^(1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)$"
    )]
    pub interval: String,
    /// Its strategy: `ema_rsi_cross`.
    #[schema(example = "ema_rsi_cross", pattern = "^ema_rsi_cross$")]
    pub strategy: String,
    /// The strategy's parameters, e.g. `{"fast": 12, "slow": 26, "rsi_period": 14,
    /// "overbought": 70}`; each one left out takes its default.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub strategy_params: Option<Value>,
    /// The quote amount spent per BUY, as a decimal string, e.g. `"25.5"`.
    #[schema(example = "25.5")]
    pub quote_per_buy: String,
    /// Where its orders go: `paper`, `testnet` or `live`.
    #[schema(example = "paper", pattern = "^(paper|testnet|live)$")]
    pub mode: String,
    /// Whether it runs at once (default `true`).
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// The body of `PATCH /api/v1/bots/{id}`: the fields to change, each as in [`CreateBotRequest`].
/// A bot that has orders keeps its symbol and mode, which its position belongs to.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBotRequest {
    /// A new name.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// A new symbol.
    #[schema(pattern = "^[A-Z0-9]{1,20}$")]
    pub symbol: Option<String>,
    /// A new candle interval.
    #[schema(pattern = "^(1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)$")]
    pub interval: Option<String>,
    /// A new strategy.
    #[schema(pattern = "^ema_rsi_cross$")]
    pub strategy: Option<String>,
    /// New strategy parameters (the whole object; those left out take their defaults).
    #[schema(value_type = Option<Object>)]
    pub strategy_params: Option<Value>,
    /// A new quote amount per BUY.
    pub quote_per_buy: Option<String>,
    /// A new mode.
    #[schema(pattern = "^(paper|testnet|live)$")]
    pub mode: Option<String>,
    /// Whether it runs.
    pub is_active: Option<bool>,
}

/// A bot's position as answered, amounts as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = BotPosition)]
pub struct PositionBody {
    /// The base quantity held (decimal string).
    #[schema(example = "0.002")]
    pub quantity: String,
    /// What the held quantity cost, in quote, fees included (decimal string).
    #[schema(example = "40.04")]
    pub cost_quote: String,
    /// The PnL realised so far, in quote (decimal string).
    #[schema(example = "-1.25")]
    pub realized_pnl: String,
}

/// A bot as answered.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BotBody {
    /// The bot's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The symbol it trades.
    pub symbol: String,
    /// Its candle interval.
    pub interval: String,
    /// Its strategy.
    pub strategy: String,
    /// The strategy's parameters, defaults filled in.
    #[schema(value_type = Object)]
    pub strategy_params: Value,
    /// The quote amount spent per BUY, as a decimal string.
    #[schema(example = "25.5")]
    pub quote_per_buy: String,
    /// Where its orders go: `paper`, `testnet` or `live`.
    #[schema(example = "paper")]
    pub mode: &'static str,
    /// Whether it should run.
    pub is_active: bool,
    /// What it is doing: `idle`, `running`, `error` or `paused`.
    #[schema(example = "idle")]
    pub status: &'static str,
    /// Why its last cycle failed, if it did.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// How many cycles in a row have failed.
    pub consecutive_failures: i64,
    /// When it was created, in ms since the epoch.
    pub created_at_ms: i64,
    /// When its configuration or status last changed, in ms since the epoch.
    pub updated_at_ms: i64,
    /// What it holds and has realised.
    pub position: PositionBody,
    /// Its newest trade, if it has traded.
    #[schema(required = true)]
    pub last_trade: Option<LastTradeBody>,
}

/// A bot's newest trade, as its summary shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LastTradeBody {
    /// `BUY` or `SELL`.
    #[schema(example = "BUY")]
    pub side: &'static str,
    /// The average fill price (decimal string).
    pub price: String,
    /// The base quantity filled (decimal string).
    pub quantity: String,
    /// When the exchange executed it, in ms since the epoch.
    pub executed_at_ms: i64,
}

impl From<&TradeRow> for LastTradeBody {
    fn from(trade: &TradeRow) -> Self {
        LastTradeBody {
            side: trade.side.as_str(),
            price: trade.price.to_string(),
            quantity: trade.quantity_filled.to_string(),
            executed_at_ms: trade.executed_at_ms,
        }
    }
}

impl BotBody {
    /// `bot` with `position` and `last_trade` as answered.
    fn new(
        bot: BotConfig,
        position: &PositionRow,
        last_trade: Option<&TradeRow>,
    ) -> Result<BotBody, ApiError> {
        // Text the engine reads as "all defaults" is shown as an object like any other.
        let strategy_params = if bot.strategy_params.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_str(&bot.strategy_params).map_err(|error| {
                ApiError::internal(format!(
                    "bot {}: stored strategy_params are not JSON: {error}",
                    bot.id
                ))
            })?
        };
        Ok(BotBody {
            id: bot.id.0,
            name: bot.name,
            symbol: bot.symbol,
            interval: bot.interval,
            strategy: bot.strategy,
            strategy_params,
            quote_per_buy: bot.quote_per_buy.to_string(),
            mode: bot.mode.as_str(),
            is_active: bot.is_active,
            status: bot.status.as_str(),
            last_error: bot.last_error,
            consecutive_failures: bot.consecutive_failures,
            created_at_ms: bot.created_at_ms,
            updated_at_ms: bot.updated_at_ms,
            position: PositionBody {
                quantity: position.quantity.to_string(),
                cost_quote: position.cost_quote.to_string(),
                realized_pnl: position.realized_pnl.to_string(),
            },
            last_trade: last_trade.map(LastTradeBody::from),
        })
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/bots", get(list_bots).post(create_bot))
        .route(
            "/api/v1/bots/{id}",
            get(get_bot).patch(patch_bot).delete(delete_bot),
        )
        .route("/api/v1/bots/{id}/start", post(start_bot))
        .route("/api/v1/bots/{id}/stop", post(stop_bot))
        .route("/api/v1/bots/{id}/pause", post(pause_bot))
}

/// `draft` checked against the venues this server trades, as `user`'s new bot.
async fn checked(state: &ApiState, user: UserId, draft: BotDraft) -> Result<NewBot, ApiError> {
    check_bot(&state.catalogs, user, draft)
        .await
        .map_err(|error| match error {
            BotRuleError::Invalid(invalid) => invalid.into(),
            BotRuleError::ListingUnavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "exchange_unavailable",
                error.to_string(),
            ),
        })
}

/// A bot name taken by another of the user's bots.
fn name_taken(error: StoreError, name: &str) -> ApiError {
    match error {
        StoreError::Duplicate { .. } => {
            ApiError::conflict("name", format!("you already have a bot named {name:?}"))
        }
        other => other.into(),
    }
}

/// The 404 for a bot the caller does not have, whether it does not exist or is someone else's.
pub(crate) fn no_such_bot() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such bot")
}

/// The bot id of the path: text that is no id names no bot, so it is a 404 too.
pub(crate) fn bot_id(path: Result<Path<String>, PathRejection>) -> Result<BotId, ApiError> {
    path.ok()
        .and_then(|Path(id)| id.parse().ok())
        .map(BotId)
        .ok_or_else(no_such_bot)
}

/// `bot` as answered, with its position and last trade.
async fn body(state: &ApiState, bot: BotConfig) -> Result<BotBody, ApiError> {
    let position = state.store.position(bot.id).await?;
    let filter = TradeFilter {
        bot: Some(bot.id),
        ..TradeFilter::default()
    };
    let last_trade = state.store.latest_trades(&filter, 1).await?;
    BotBody::new(bot, &position, last_trade.first())
}

/// `POST /api/v1/bots`: a new bot of the caller's.
#[utoipa::path(
    post,
    path = "/api/v1/bots",
    tag = "bots",
    security(("bearer" = [])),
    request_body = CreateBotRequest,
    responses(
        (status = 201, description = "The new bot", body = BotBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 409, description = "`conflict` on `name`: the caller has a bot of this name", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field`, `invalid_type`, or `invalid_value` naming the field at fault (name, mode on a venue this server does not trade, a symbol the venue does not list, interval, strategy, strategy_params, quote_per_buy below the minimum)", body = ErrorBody),
        (status = 503, description = "`exchange_unavailable`: the venue's list of symbols could not be read to check the bot", body = ErrorBody),
    ),
)]
pub(crate) async fn create_bot(
    State(state): State<ApiState>,
    caller: AuthUser,
    Json(request): Json<CreateBotRequest>,
) -> Result<(StatusCode, Json<BotBody>), ApiError> {
    let bot = checked(
        &state,
        caller.user.id,
        BotDraft {
            name: request.name,
            symbol: request.symbol,
            interval: request.interval,
            strategy: request.strategy,
            strategy_params: request.strategy_params,
            quote_per_buy: request.quote_per_buy,
            mode: request.mode,
            is_active: request.is_active.unwrap_or(true),
        },
    )
    .await?;
    let created = state
        .store
        .create_bot(&bot, now_ms())
        .await
        .map_err(|error| name_taken(error, &bot.name))?;
    // A new bot has never traded.
    let position = PositionRow::flat(created.id);
    Ok((
        StatusCode::CREATED,
        Json(BotBody::new(created, &position, None)?),
    ))
}

/// `GET /api/v1/bots`: the caller's bots, by id.
#[utoipa::path(
    get,
    path = "/api/v1/bots",
    tag = "bots",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's bots, by id", body = [BotBody]),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
    ),
)]
pub(crate) async fn list_bots(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<Vec<BotBody>>, ApiError> {
    let user = caller.user.id;
    let bots = state.store.bots(Some(user)).await?;
    let positions: BTreeMap<BotId, PositionRow> = state
        .store
        .positions(Some(user))
        .await?
        .into_iter()
        .map(|position| (position.bot_id, position))
        .collect();
    let last_trades: BTreeMap<BotId, TradeRow> = state
        .store
        .last_trade_per_bot(user)
        .await?
        .into_iter()
        .map(|trade| (trade.bot_id, trade))
        .collect();
    bots.into_iter()
        .map(|bot| {
            let position = positions
                .get(&bot.id)
                .cloned()
                .unwrap_or_else(|| PositionRow::flat(bot.id));
            let last_trade = last_trades.get(&bot.id);
            BotBody::new(bot, &position, last_trade)
        })
        .collect::<Result<_, _>>()
        .map(Json)
}

/// `GET /api/v1/bots/{id}`: one of the caller's bots.
#[utoipa::path(
    get,
    path = "/api/v1/bots/{id}",
    tag = "bots",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404")),
    responses(
        (status = 200, description = "The bot", body = BotBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
    ),
)]
pub(crate) async fn get_bot(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BotBody>, ApiError> {
    let id = bot_id(path)?;
    let bot = state
        .store
        .user_bot(caller.user.id, id)
        .await?
        .ok_or_else(no_such_bot)?;
    Ok(Json(body(&state, bot).await?))
}

/// `PATCH /api/v1/bots/{id}`: changes some of a bot's fields; the result is checked as a whole.
#[utoipa::path(
    patch,
    path = "/api/v1/bots/{id}",
    tag = "bots",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404")),
    request_body = PatchBotRequest,
    responses(
        (status = 200, description = "The changed bot", body = BotBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken, the bot has orders and the change moves its symbol or mode, or the bot changed while the request ran (read it again)", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field`, `invalid_type`, or `invalid_value` naming the field at fault (name, mode on a venue this server does not trade, a symbol the venue does not list, interval, strategy, strategy_params, quote_per_buy below the minimum)", body = ErrorBody),
        (status = 503, description = "`exchange_unavailable`: the venue's list of symbols could not be read to check the bot", body = ErrorBody),
    ),
)]
pub(crate) async fn patch_bot(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
    Json(patch): Json<PatchBotRequest>,
) -> Result<Json<BotBody>, ApiError> {
    let id = bot_id(path)?;
    let user = caller.user.id;
    let current = state
        .store
        .user_bot(user, id)
        .await?
        .ok_or_else(no_such_bot)?;
    let moves_symbol = patch.symbol.as_ref().is_some_and(|s| *s != current.symbol);
    let moves_mode = patch
        .mode
        .as_ref()
        .is_some_and(|m| m != current.mode.as_str());
    if (moves_symbol || moves_mode) && state.store.bot_has_history(id).await? {
        let field = if moves_symbol { "symbol" } else { "mode" };
        return Err(ApiError::conflict(
            field,
            "this bot has orders, and its position belongs to its symbol and mode: create a new bot instead",
        ));
    }
    let stored_params = if current.strategy_params.trim().is_empty() {
        None
    } else {
        Some(
            serde_json::from_str(&current.strategy_params).map_err(|error| {
                ApiError::internal(format!(
                    "bot {id}: stored strategy_params are not JSON: {error}"
                ))
            })?,
        )
    };
    let draft = BotDraft {
        name: patch.name.unwrap_or(current.name),
        symbol: patch.symbol.unwrap_or(current.symbol),
        interval: patch.interval.unwrap_or(current.interval),
        strategy: patch.strategy.unwrap_or(current.strategy),
        strategy_params: patch.strategy_params.or(stored_params),
        quote_per_buy: patch
            .quote_per_buy
            .unwrap_or_else(|| current.quote_per_buy.to_string()),
        mode: patch
            .mode
            .unwrap_or_else(|| current.mode.as_str().to_owned()),
        is_active: patch.is_active.unwrap_or(current.is_active),
    };
    let bot = checked(&state, user, draft).await?;
    let read_at_ms = current.updated_at_ms;
    let updated = state
        .store
        .update_bot(id, &bot, read_at_ms, now_ms())
        .await
        .map_err(|error| name_taken(error, &bot.name))?;
    let Some(updated) = updated else {
        // The store refused: the bot is gone, or it changed since it was read above (started,
        // stopped, a cycle ran, its first order was written): never overwrite that.
        return match state.store.user_bot(user, id).await? {
            None => Err(no_such_bot()),
            Some(_) => Err(ApiError::conflict(
                "id",
                "the bot changed while this request ran (it was started, stopped or traded): read it again and retry",
            )),
        };
    };
    Ok(Json(body(&state, updated).await?))
}

/// `DELETE /api/v1/bots/{id}`: deletes a bot that is stopped and never traded.
#[utoipa::path(
    delete,
    path = "/api/v1/bots/{id}",
    tag = "bots",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404")),
    responses(
        (status = 204, description = "The bot is deleted"),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
        (status = 409, description = "`bot_running`: stop it first; or `bot_has_history`: it has orders, stop it instead", body = ErrorBody),
    ),
)]
pub(crate) async fn delete_bot(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = bot_id(path)?;
    match state.store.delete_bot(caller.user.id, id, now_ms()).await? {
        BotDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        BotDeletion::NotFound => Err(no_such_bot()),
        BotDeletion::Running => Err(ApiError::new(
            StatusCode::CONFLICT,
            "bot_running",
            "the bot is active or still finishing a cycle: stop it first",
        )),
        BotDeletion::HasHistory => Err(ApiError::new(
            StatusCode::CONFLICT,
            "bot_has_history",
            "the bot has orders or trades, which stay as your record: stop it instead",
        )),
    }
}

/// Starts, stops or pauses the caller's bot of the path.
async fn control(
    state: ApiState,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
    control: BotControl,
) -> Result<Json<BotBody>, ApiError> {
    let id = bot_id(path)?;
    let bot = state
        .store
        .control_bot(caller.user.id, id, control, now_ms())
        .await?
        .ok_or_else(no_such_bot)?;
    Ok(Json(body(&state, bot).await?))
}

/// `POST /api/v1/bots/{id}/start`: the bot active, idle, its error and failure count cleared.
#[utoipa::path(
    post,
    path = "/api/v1/bots/{id}/start",
    tag = "bots",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404")),
    responses(
        (status = 200, description = "The bot, active, idle, its error and failure count cleared", body = BotBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
    ),
)]
pub(crate) async fn start_bot(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BotBody>, ApiError> {
    control(state, caller, path, BotControl::Start).await
}

/// `POST /api/v1/bots/{id}/stop`: the bot inactive, idle.
#[utoipa::path(
    post,
    path = "/api/v1/bots/{id}/stop",
    tag = "bots",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404")),
    responses(
        (status = 200, description = "The bot, inactive, idle", body = BotBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
    ),
)]
pub(crate) async fn stop_bot(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BotBody>, ApiError> {
    control(state, caller, path, BotControl::Stop).await
}

/// `POST /api/v1/bots/{id}/pause`: the bot paused until started.
#[utoipa::path(
    post,
    path = "/api/v1/bots/{id}/pause",
    tag = "bots",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404")),
    responses(
        (status = 200, description = "The bot, paused until started", body = BotBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
    ),
)]
pub(crate) async fn pause_bot(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BotBody>, ApiError> {
    control(state, caller, path, BotControl::Pause).await
}
