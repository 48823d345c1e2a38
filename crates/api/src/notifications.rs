//! The caller's notifications: their channels (webhooks, Telegram chats), which events of each
//! of their bots go where, a test message, and the delivery log. The processes that run bots
//! send them (see the `notify` crate); this module only reads and writes what they send from.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/notifications/channels` | 200 `[`[`ChannelBody`]`]` |
//! | `POST /api/v1/notifications/channels` | 201 [`CreatedChannelBody`]: a webhook's signing secret is in it, this once |
//! | `PATCH /api/v1/notifications/channels/{id}` | 200 [`ChannelBody`]: `enabled` on or off |
//! | `DELETE /api/v1/notifications/channels/{id}` | 204, its subscriptions and deliveries gone |
//! | `POST /api/v1/notifications/channels/{id}/test` | 202 [`DeliveryBody`]: a test message queued |
//! | `GET /api/v1/notifications/deliveries` | 200 `[`[`DeliveryBody`]`]`, newest first: filters `channel_id`, `status`; paging `before`, `limit` |
//! | `GET`/`PUT /api/v1/bots/{id}/notifications` | 200 [`BotNotificationsBody`]: the bot's events per channel |
//!
//! Secrets (the signing secret, the Telegram bot token) are encrypted with the master key and
//! never answered again; a webhook's URL is answered without its query, which may hold the
//! receiver's token.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use store::{
    ChannelId, ChannelKind, ChannelRow, DeliveryFilter, DeliveryId, DeliveryRow, DeliveryStatus,
    NotifyEvent, StoreError, Subscription,
};
use utoipa::ToSchema;

use crate::bots::{bot_id, no_such_bot};
use crate::error::{ApiError, ErrorBody};
use crate::trades::{FromParams, Params, Query};
use crate::{ApiState, AuthUser, Json, now_ms};

/// The page size of the delivery log when `limit` is not given.
const DEFAULT_DELIVERIES: u32 = 50;
/// The largest `limit` of the delivery log.
const MAX_DELIVERIES: u32 = 200;

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/notifications/channels",
            get(list_channels).post(create_channel),
        )
        .route(
            "/api/v1/notifications/channels/{id}",
            axum::routing::patch(patch_channel).delete(delete_channel),
        )
        .route(
            "/api/v1/notifications/channels/{id}/test",
            post(test_channel),
        )
        .route("/api/v1/notifications/deliveries", get(list_deliveries))
        .route(
            "/api/v1/bots/{id}/notifications",
            get(bot_notifications).put(put_bot_notifications),
        )
}

/// The body of `POST /api/v1/notifications/channels`: a webhook (`url`) or a Telegram chat
/// (`chat_id` and `bot_token`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannelRequest {
    /// `webhook` or `telegram`.
    #[schema(example = "webhook", pattern = "^(webhook|telegram)$")]
    pub kind: String,
    /// The caller's name for it, 1 to 64 characters, unique among their channels.
    #[schema(example = "ops", min_length = 1, max_length = 64)]
    pub name: String,
    /// A webhook's URL: `http` or `https`, a public host (unless the server allows private
    /// ones), at most 2048 characters.
    #[schema(example = "https://hooks.example.com/spotbot", max_length = 2048)]
    pub url: Option<String>,
    /// A Telegram chat's numeric id, or a public channel's `@username`.
    #[schema(example = "-1001234567890", max_length = 33)]
    pub chat_id: Option<String>,
    /// The Telegram bot's token from @BotFather; stored encrypted, never returned.
    #[schema(write_only, max_length = 121)]
    pub bot_token: Option<String>,
}

impl std::fmt::Debug for CreateChannelRequest {
    /// Everything but the bot token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateChannelRequest")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The body of `PATCH /api/v1/notifications/channels/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchChannelRequest {
    /// Whether deliveries are made to it; those queued while it is off wait for it.
    pub enabled: bool,
}

/// A channel as answered: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChannelBody {
    /// Its id.
    pub id: i64,
    /// `webhook` or `telegram`.
    #[schema(example = "webhook")]
    pub kind: &'static str,
    /// The caller's name for it.
    pub name: String,
    /// Where it goes: the webhook's URL without its query (`?…` stands for one), or the chat id.
    #[schema(example = "https://hooks.example.com/spotbot")]
    pub target: String,
    /// Whether deliveries are made to it.
    pub enabled: bool,
    /// When it was created, in ms since the epoch.
    pub created_at_ms: i64,
}

impl From<ChannelRow> for ChannelBody {
    fn from(row: ChannelRow) -> Self {
        ChannelBody {
            id: row.id.0,
            kind: row.kind.as_str(),
            target: shown_target(row.kind, &row.target),
            name: row.name,
            enabled: row.enabled,
            created_at_ms: row.created_at_ms,
        }
    }
}

/// A webhook URL without its query or credentials (which may hold the receiver's secrets).
fn shown_target(kind: ChannelKind, target: &str) -> String {
    if kind != ChannelKind::Webhook {
        return target.to_owned();
    }
    match url::Url::parse(target) {
        Ok(mut url) => {
            let had_query = url.query().is_some();
            url.set_query(None);
            let _ = url.set_password(None);
            let _ = url.set_username("");
            if had_query {
                format!("{url}?…")
            } else {
                url.to_string()
            }
        }
        Err(_) => "(unreadable URL)".to_owned(),
    }
}

/// The answer to `POST /api/v1/notifications/channels`.
#[derive(Serialize, ToSchema)]
pub struct CreatedChannelBody {
    /// The channel.
    pub channel: ChannelBody,
    /// A webhook's signing secret, shown this once: the key of the HMAC-SHA256 in each request's
    /// `X-Spotbot-Signature` (`v1=` then the hex of HMAC(secret, timestamp + "." + body), the
    /// timestamp in `X-Spotbot-Timestamp`). `null` for Telegram.
    #[schema(required = true, example = "whsec_5f0c…")]
    pub signing_secret: Option<String>,
}

/// One notification and how its sending went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryBody {
    /// Its id.
    pub id: i64,
    /// The channel.
    pub channel_id: i64,
    /// The bot it tells of (`null` for a test).
    #[schema(required = true)]
    pub bot_id: Option<i64>,
    /// `trade`, `order_in_doubt`, `bot_error`, `daily_summary` or `test`.
    #[schema(example = "trade")]
    pub event: &'static str,
    /// The same in every attempt (`Idempotency-Key`): receivers drop repeats by it.
    #[schema(example = "trade-42")]
    pub idempotency_key: String,
    /// `pending`, `delivered` or `failed` (given up).
    #[schema(example = "delivered")]
    pub status: &'static str,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending ones only), in ms since the epoch.
    #[schema(required = true)]
    pub next_attempt_at_ms: Option<i64>,
    /// Why the last attempt failed.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// The receiver's HTTP status at the last attempt.
    #[schema(required = true)]
    pub last_status_code: Option<i64>,
    /// When it was queued, in ms since the epoch.
    pub created_at_ms: i64,
    /// When the receiver accepted it.
    #[schema(required = true)]
    pub delivered_at_ms: Option<i64>,
}

impl From<DeliveryRow> for DeliveryBody {
    fn from(row: DeliveryRow) -> Self {
        DeliveryBody {
            id: row.id.0,
            channel_id: row.channel_id.0,
            bot_id: row.bot_id.map(|bot| bot.0),
            event: row.event.as_str(),
            status: row.status.as_str(),
            attempts: row.attempts,
            next_attempt_at_ms: (row.status == DeliveryStatus::Pending)
                .then_some(row.next_attempt_at_ms),
            last_error: row.last_error,
            last_status_code: row.last_status_code,
            created_at_ms: row.created_at_ms,
            delivered_at_ms: row.delivered_at_ms,
            idempotency_key: row.idempotency_key,
        }
    }
}

/// The events of one bot that go to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelEventsBody {
    /// The channel (one of the caller's).
    pub channel_id: i64,
    /// Any of `trade`, `order_in_doubt`, `bot_error`, `daily_summary`.
    #[schema(example = json!(["trade", "bot_error"]))]
    pub events: Vec<String>,
}

/// What a bot's events notify: the body of `PUT` and the answer of `GET
/// /api/v1/bots/{id}/notifications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotNotificationsBody {
    /// Per channel, the events that go there (a channel left out gets none).
    #[schema(max_items = 10)]
    pub channels: Vec<ChannelEventsBody>,
}

/// `GET /api/v1/notifications/channels`: the caller's channels, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/channels",
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's channels", body = [ChannelBody]),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
    ),
)]
pub(crate) async fn list_channels(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<Vec<ChannelBody>>, ApiError> {
    let channels = state.store.channels(caller.user.id).await?;
    Ok(Json(channels.into_iter().map(ChannelBody::from).collect()))
}

/// `POST /api/v1/notifications/channels`: a new channel, enabled.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/channels",
    tag = "notifications",
    security(("bearer" = [])),
    request_body = CreateChannelRequest,
    responses(
        (status = 201, description = "The channel, with a webhook's signing secret shown this once", body = CreatedChannelBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 409, description = "`conflict`: the caller has a channel of that name", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field`, `invalid_type`, `invalid_value` naming the field at fault (kind, name, url, chat_id, bot_token), or `limit_reached` at 10 channels", body = ErrorBody),
    ),
)]
pub(crate) async fn create_channel(
    State(state): State<ApiState>,
    caller: AuthUser,
    Json(request): Json<CreateChannelRequest>,
) -> Result<(StatusCode, Json<CreatedChannelBody>), ApiError> {
    let user = caller.user.id;
    let master_key = state.accounts.master_key();
    let required = |value: Option<String>, field: &'static str, kind: &str| {
        value.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_field",
                format!("a {kind} channel needs {field}"),
            )
            .with_field(field)
        })
    };
    let created = match request.kind.as_str() {
        "webhook" => {
            let url = required(request.url, "url", "webhook")?;
            notify::channels::webhook(
                master_key,
                user,
                &request.name,
                &url,
                state.config.allow_private_webhooks,
            )?
        }
        "telegram" => {
            let chat_id = required(request.chat_id, "chat_id", "telegram")?;
            let token =
                zeroize::Zeroizing::new(required(request.bot_token, "bot_token", "telegram")?);
            notify::channels::telegram(master_key, user, &request.name, &chat_id, &token)?
        }
        other => {
            return Err(ApiError::invalid_value(
                "kind",
                format!("must be webhook or telegram, not {other:?}"),
            ));
        }
    };
    if state.store.channels(user).await?.len() >= notify::channels::MAX_CHANNELS_PER_USER {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_reached",
            format!(
                "you have {} channels, the most allowed: delete one first",
                notify::channels::MAX_CHANNELS_PER_USER
            ),
        ));
    }
    let row = match state.store.create_channel(&created.channel, now_ms()).await {
        Ok(row) => row,
        Err(StoreError::Duplicate { .. }) => {
            return Err(ApiError::conflict(
                "name",
                format!("you already have a channel named {:?}", request.name),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let body = CreatedChannelBody {
        channel: row.into(),
        signing_secret: created.signing_secret.map(|secret| secret.to_string()),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The caller's channel of the path.
fn channel_id(path: Result<Path<String>, PathRejection>) -> Result<ChannelId, ApiError> {
    path.ok()
        .and_then(|Path(id)| id.parse().ok())
        .map(ChannelId)
        .ok_or_else(no_such_channel)
}

fn no_such_channel() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such channel")
}

/// `PATCH /api/v1/notifications/channels/{id}`: turns a channel on or off.
#[utoipa::path(
    patch,
    path = "/api/v1/notifications/channels/{id}",
    tag = "notifications",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The channel's id; anything that is not one of the caller's channels is a 404")),
    request_body = PatchChannelRequest,
    responses(
        (status = 200, description = "The channel as it is now", body = ChannelBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such channel", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field` or `invalid_type` naming the field", body = ErrorBody),
    ),
)]
pub(crate) async fn patch_channel(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
    Json(request): Json<PatchChannelRequest>,
) -> Result<Json<ChannelBody>, ApiError> {
    let id = channel_id(path)?;
    state
        .store
        .set_channel_enabled(caller.user.id, id, request.enabled)
        .await?
        .map(|row| Json(row.into()))
        .ok_or_else(no_such_channel)
}

/// `DELETE /api/v1/notifications/channels/{id}`: the channel goes, with its subscriptions and
/// its deliveries (pending ones are never sent).
#[utoipa::path(
    delete,
    path = "/api/v1/notifications/channels/{id}",
    tag = "notifications",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The channel's id; anything that is not one of the caller's channels is a 404")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such channel", body = ErrorBody),
    ),
)]
pub(crate) async fn delete_channel(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = channel_id(path)?;
    if state.store.delete_channel(caller.user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_such_channel())
    }
}

/// `POST /api/v1/notifications/channels/{id}/test`: queues a test message to the channel; its
/// fate shows in the delivery log within seconds.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/channels/{id}/test",
    tag = "notifications",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The channel's id; anything that is not one of the caller's channels is a 404")),
    responses(
        (status = 202, description = "The test message, queued", body = DeliveryBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such channel", body = ErrorBody),
        (status = 409, description = "`conflict`: a test of this channel was queued this very millisecond; try again", body = ErrorBody),
    ),
)]
pub(crate) async fn test_channel(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<DeliveryBody>), ApiError> {
    let id = channel_id(path)?;
    let user = caller.user.id;
    if !state.store.channels(user).await?.iter().any(|c| c.id == id) {
        return Err(no_such_channel());
    }
    match state.store.enqueue_test(user, id, now_ms()).await? {
        Some(delivery) => Ok((StatusCode::ACCEPTED, Json(delivery.into()))),
        None => Err(ApiError::conflict(
            "id",
            "a test of this channel was queued this very millisecond; try again",
        )),
    }
}

/// The query of `GET /api/v1/notifications/deliveries`.
pub(crate) struct DeliveriesQuery {
    filter: DeliveryFilter,
    limit: u32,
}

impl FromParams for DeliveriesQuery {
    fn from_params(params: &mut Params) -> Result<Self, ApiError> {
        let positive = |text: &str| match text.parse::<i64>() {
            Ok(id) if id >= 1 => Ok(id),
            _ => Err(format!("must be a positive integer, got {text:?}")),
        };
        Ok(DeliveriesQuery {
            filter: DeliveryFilter {
                channel: params.take_with("channel_id", positive)?.map(ChannelId),
                status: params.take_with("status", |text| {
                    text.parse::<DeliveryStatus>()
                        .map_err(|error| error.to_string())
                })?,
                before: params.take_with("before", positive)?.map(DeliveryId),
            },
            limit: params
                .take_with("limit", |text| match text.parse::<u32>() {
                    Ok(limit) if (1..=MAX_DELIVERIES).contains(&limit) => Ok(limit),
                    _ => Err(format!(
                        "must be an integer from 1 to {MAX_DELIVERIES}, got {text:?}"
                    )),
                })?
                .unwrap_or(DEFAULT_DELIVERIES),
        })
    }
}

/// `GET /api/v1/notifications/deliveries`: the caller's delivery log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/deliveries",
    tag = "notifications",
    security(("bearer" = [])),
    params(
        ("channel_id" = Option<i64>, Query, minimum = 1, description = "Only this channel's"),
        ("status" = Option<String>, Query, pattern = "^(pending|delivered|failed)$", description = "Only those `pending`, `delivered` or `failed`"),
        ("before" = Option<i64>, Query, minimum = 1, description = "Only those older than this delivery id (the last id of the previous page)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "At most this many (default 50)"),
    ),
    responses(
        (status = 200, description = "The caller's deliveries, newest first", body = [DeliveryBody]),
        (status = 400, description = "`malformed_query`: a parameter is not valid percent-encoded UTF-8", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 422, description = "`unknown_field` or `invalid_value` naming the parameter", body = ErrorBody),
    ),
)]
pub(crate) async fn list_deliveries(
    State(state): State<ApiState>,
    caller: AuthUser,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Json<Vec<DeliveryBody>>, ApiError> {
    let rows = state
        .store
        .deliveries(caller.user.id, query.filter, query.limit)
        .await?;
    Ok(Json(rows.into_iter().map(DeliveryBody::from).collect()))
}

/// `GET /api/v1/bots/{id}/notifications`: which of the bot's events go to which channel.
#[utoipa::path(
    get,
    path = "/api/v1/bots/{id}/notifications",
    tag = "notifications",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404")),
    responses(
        (status = 200, description = "The bot's events per channel", body = BotNotificationsBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
    ),
)]
pub(crate) async fn bot_notifications(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BotNotificationsBody>, ApiError> {
    let bot = bot_id(path)?;
    state
        .store
        .user_bot(caller.user.id, bot)
        .await?
        .ok_or_else(no_such_bot)?;
    Ok(Json(grouped(&state.store.subscriptions(bot).await?)))
}

/// `subscriptions` grouped by channel.
fn grouped(subscriptions: &[Subscription]) -> BotNotificationsBody {
    let mut channels: Vec<ChannelEventsBody> = Vec::new();
    for subscription in subscriptions {
        let event = subscription.event.as_str().to_owned();
        match channels.last_mut() {
            Some(last) if last.channel_id == subscription.channel_id.0 => last.events.push(event),
            _ => channels.push(ChannelEventsBody {
                channel_id: subscription.channel_id.0,
                events: vec![event],
            }),
        }
    }
    BotNotificationsBody { channels }
}

/// `PUT /api/v1/bots/{id}/notifications`: replaces which of the bot's events go to which
/// channel (an empty list turns them all off).
#[utoipa::path(
    put,
    path = "/api/v1/bots/{id}/notifications",
    tag = "notifications",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The bot's id; anything that is not one of the caller's bots is a 404")),
    request_body = BotNotificationsBody,
    responses(
        (status = 200, description = "The bot's events per channel, as stored", body = BotNotificationsBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such bot", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field`, `invalid_type`, or `invalid_value` naming the field at fault (a channel that is not the caller's, or given twice; an unknown event)", body = ErrorBody),
    ),
)]
pub(crate) async fn put_bot_notifications(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
    Json(request): Json<BotNotificationsBody>,
) -> Result<Json<BotNotificationsBody>, ApiError> {
    let bot = bot_id(path)?;
    let user = caller.user.id;
    state
        .store
        .user_bot(user, bot)
        .await?
        .ok_or_else(no_such_bot)?;
    let owned: BTreeSet<i64> = state
        .store
        .channels(user)
        .await?
        .iter()
        .map(|channel| channel.id.0)
        .collect();
    let subscriptions = subscriptions_of(&request, &owned)?;
    match state
        .store
        .set_subscriptions(user, bot, &subscriptions, now_ms())
        .await
    {
        Ok(()) => {}
        // The bot or a channel was deleted meanwhile.
        Err(StoreError::NotFound { what: "bot", .. }) => return Err(no_such_bot()),
        Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid_value(
                "channels",
                "a channel was deleted meanwhile",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    Ok(Json(grouped(&state.store.subscriptions(bot).await?)))
}

/// The subscriptions `request` asks for, or the field at fault.
fn subscriptions_of(
    request: &BotNotificationsBody,
    owned_channels: &BTreeSet<i64>,
) -> Result<Vec<Subscription>, ApiError> {
    let mut seen = BTreeSet::new();
    let mut subscriptions = Vec::new();
    for (index, entry) in request.channels.iter().enumerate() {
        let field = format!("channels[{index}].channel_id");
        if !owned_channels.contains(&entry.channel_id) {
            return Err(ApiError::invalid_value(field, "you have no such channel"));
        }
        if !seen.insert(entry.channel_id) {
            return Err(ApiError::invalid_value(
                field,
                "this channel is given twice",
            ));
        }
        for (event_index, event) in entry.events.iter().enumerate() {
            let event = event
                .parse::<NotifyEvent>()
                .ok()
                .filter(|event| NotifyEvent::SUBSCRIBABLE.contains(event))
                .ok_or_else(|| {
                    ApiError::invalid_value(
                        format!("channels[{index}].events[{event_index}]"),
                        "must be trade, order_in_doubt, bot_error or daily_summary",
                    )
                })?;
            subscriptions.push(Subscription {
                channel_id: ChannelId(entry.channel_id),
                event,
            });
        }
    }
    Ok(subscriptions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_is_shown_without_its_query_or_credentials() {
        assert_eq!(
            shown_target(
                ChannelKind::Webhook,
                "https://u:p@hooks.example.com/x?token=s3cret"
            ),
            "https://hooks.example.com/x?…"
        );
        assert_eq!(
            shown_target(ChannelKind::Webhook, "https://hooks.example.com/x"),
            "https://hooks.example.com/x"
        );
        assert_eq!(shown_target(ChannelKind::Telegram, "-100123"), "-100123");
    }
}
