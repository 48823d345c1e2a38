//! Notifications: each user's channels (webhooks, Telegram chats), which events of which bot go
//! to which channel, and the deliveries, which are the persistent queue and the user's delivery
//! log at once.
//!
//! A delivery row is written in the transaction that records what it tells of: the trade's
//! ([`enqueue_for_bot`] from [`Store::record_execution`]), the incident's (from the event
//! writes). So a crash never loses a notification of something recorded, and never sends one of
//! something rolled back; and the engine's cycle pays one indexed insert for it, never a network
//! call. Senders ([`Store::due_deliveries`], [`Store::claim_delivery`]) claim a row for a while;
//! a sender that dies mid-send leaves it to be claimed again after that: at least once, with a
//! stable idempotency key per channel for receivers to drop repeats.

use crate::Store;
use crate::error::{StoreError, StoreResult, missing_referent, unique_violation_on};
use crate::events::{ERROR_EVENT, IN_DOUBT_EVENT, PAUSED_EVENT};
use crate::model::{
    BotId, ChannelId, ChannelKind, DeliveryId, DeliveryStatus, NotifyEvent, UserId,
};
use crate::row::{RowReader, bool_int};

/// A channel to create with [`Store::create_channel`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewChannel {
    /// Its owner.
    pub user_id: UserId,
    /// Webhook or Telegram.
    pub kind: ChannelKind,
    /// The owner's name for it (unique per user).
    pub name: String,
    /// The webhook's URL, or the Telegram chat id.
    pub target: String,
    /// The webhook's signing key or the Telegram bot token, encrypted by the caller.
    pub secret_ciphertext: Vec<u8>,
}

/// A stored channel.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelRow {
    /// Its id.
    pub id: ChannelId,
    /// Its owner.
    pub user_id: UserId,
    /// Webhook or Telegram.
    pub kind: ChannelKind,
    /// The owner's name for it.
    pub name: String,
    /// The webhook's URL, or the Telegram chat id.
    pub target: String,
    /// The webhook's signing key or the Telegram bot token, encrypted.
    pub secret_ciphertext: Vec<u8>,
    /// Whether deliveries are made to it (a disabled channel's deliveries wait).
    pub enabled: bool,
    /// When it was created, in ms since the epoch.
    pub created_at_ms: i64,
}

impl std::fmt::Debug for ChannelRow {
    /// Everything but the secret (encrypted as it is) and the target, which for a webhook may
    /// hold a token of the receiver's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewChannel {
    /// Everything but the secret and the target (see [`ChannelRow`]'s `Debug`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewChannel")
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One event of a bot opted into for one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// Where it goes.
    pub channel_id: ChannelId,
    /// What it tells of.
    pub event: NotifyEvent,
}

/// A delivery: one notification to one channel, and how its sending went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Its id.
    pub id: DeliveryId,
    /// The channel's owner.
    pub user_id: UserId,
    /// Where it goes.
    pub channel_id: ChannelId,
    /// The bot it tells of (none for a test).
    pub bot_id: Option<BotId>,
    /// What it tells of.
    pub event: NotifyEvent,
    /// What its payload is built from: the trade's id, the event's id, the summary's day (ms
    /// since the epoch), or the test's time.
    pub source_id: i64,
    /// The same for every attempt, unique per channel: receivers drop repeats by it.
    pub idempotency_key: String,
    /// Pending, delivered or failed.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due, in ms since the epoch.
    pub next_attempt_at_ms: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The HTTP status of the last answer, when there was one.
    pub last_status_code: Option<i64>,
    /// When it was queued, in ms since the epoch.
    pub created_at_ms: i64,
    /// When the receiver accepted it.
    pub delivered_at_ms: Option<i64>,
}

/// Which deliveries [`Store::deliveries`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryFilter {
    /// Only this channel's.
    pub channel: Option<ChannelId>,
    /// Only those in this state.
    pub status: Option<DeliveryStatus>,
    /// Only those older than this id (the next page).
    pub before: Option<DeliveryId>,
}

/// What became of an attempt that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAt {
    /// Try again at this time (ms since the epoch).
    At(i64),
    /// No more attempts: the delivery failed.
    GiveUp,
}

/// Incidents of the engine that a bot's error notifications tell of, how often, and the key that
/// says so: one `error` per bot and hour at most (a bot whose exchange is down fails every
/// cycle until it is paused, and its owner needs to hear it once), every pause, every order in
/// doubt.
fn incident_notification(
    kind: &str,
    bot: BotId,
    event_id: i64,
    at_ms: i64,
) -> Option<(NotifyEvent, String)> {
    const HOUR_MS: i64 = 3_600_000;
    match kind {
        ERROR_EVENT => Some((
            NotifyEvent::BotError,
            format!("bot_error-{bot}-{}", at_ms.div_euclid(HOUR_MS)),
        )),
        PAUSED_EVENT => Some((NotifyEvent::BotError, format!("bot_paused-{event_id}"))),
        IN_DOUBT_EVENT => Some((
            NotifyEvent::OrderInDoubt,
            format!("order_in_doubt-{event_id}"),
        )),
        _ => None,
    }
}

/// Whether an event of `kind` may be notified (its id must then be read back).
pub(crate) fn is_notified_incident(kind: &str) -> bool {
    matches!(kind, ERROR_EVENT | PAUSED_EVENT | IN_DOUBT_EVENT)
}

/// Queues the notification of the incident `event_id` of `bot`, of `kind`, for every channel
/// subscribed to it, through `connection` (the transaction that wrote the event).
pub(crate) async fn enqueue_incident(
    connection: &mut sqlx::AnyConnection,
    bot: BotId,
    kind: &str,
    event_id: i64,
    at_ms: i64,
) -> StoreResult<()> {
    if let Some((event, key)) = incident_notification(kind, bot, event_id, at_ms) {
        enqueue_for_bot(connection, bot, event, event_id, &key, at_ms).await?;
    }
    Ok(())
}

/// Queues a delivery of `event` about `bot`, built from `source_id`, for every enabled channel
/// subscribed to it, through `connection`; a channel that already has `key` keeps its row.
pub(crate) async fn enqueue_for_bot(
    connection: &mut sqlx::AnyConnection,
    bot: BotId,
    event: NotifyEvent,
    source_id: i64,
    key: &str,
    now_ms: i64,
) -> StoreResult<u64> {
    let inserted = sqlx::query(&format!(
        "{QUEUE_INSERT} \
         SELECT c.user_id, s.channel_id, s.bot_id, s.event, $3, $4, $5, 0, $6, 0, $6 \
         FROM notification_subscriptions s \
         JOIN notification_channels c ON c.id = s.channel_id \
         WHERE s.bot_id = $1 AND s.event = $2 AND c.enabled = 1 \
         ON CONFLICT (channel_id, idempotency_key) DO NOTHING"
    ))
    .bind(bot.0)
    .bind(event.as_str())
    .bind(source_id)
    .bind(key)
    .bind(DeliveryStatus::Pending.as_str())
    .bind(now_ms)
    .execute(connection)
    .await?;
    Ok(inserted.rows_affected())
}

/// The start of every statement that queues deliveries; a `SELECT` of these columns follows.
const QUEUE_INSERT: &str = "INSERT INTO notification_deliveries (user_id, channel_id, bot_id, \
     event, source_id, idempotency_key, status, attempts, next_attempt_at_ms, claimed_until_ms, \
     created_at_ms)";

const CHANNEL_COLUMNS: &str =
    "id, user_id, kind, name, target, secret_ciphertext, enabled, created_at_ms";

fn channel_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ChannelRow> {
    let r = RowReader::new(row, "notification_channels", "id")?;
    Ok(ChannelRow {
        id: ChannelId(r.i64("id")?),
        user_id: UserId(r.i64("user_id")?),
        kind: r.parse("kind")?,
        name: r.string("name")?,
        target: r.string("target")?,
        secret_ciphertext: r.bytes("secret_ciphertext")?,
        enabled: r.bool("enabled")?,
        created_at_ms: r.i64("created_at_ms")?,
    })
}

const DELIVERY_COLUMNS: &str = "id, user_id, channel_id, bot_id, event, source_id, \
     idempotency_key, status, attempts, next_attempt_at_ms, last_error, last_status_code, \
     created_at_ms, delivered_at_ms";

fn delivery_from_row(row: &sqlx::any::AnyRow) -> StoreResult<DeliveryRow> {
    let r = RowReader::new(row, "notification_deliveries", "id")?;
    Ok(DeliveryRow {
        id: DeliveryId(r.i64("id")?),
        user_id: UserId(r.i64("user_id")?),
        channel_id: ChannelId(r.i64("channel_id")?),
        bot_id: r.opt_i64("bot_id")?.map(BotId),
        event: r.parse("event")?,
        source_id: r.i64("source_id")?,
        idempotency_key: r.string("idempotency_key")?,
        status: r.parse("status")?,
        attempts: r.i64("attempts")?,
        next_attempt_at_ms: r.i64("next_attempt_at_ms")?,
        last_error: r.opt_string("last_error")?,
        last_status_code: r.opt_i64("last_status_code")?,
        created_at_ms: r.i64("created_at_ms")?,
        delivered_at_ms: r.opt_i64("delivered_at_ms")?,
    })
}

impl Store {
    /// Creates `channel`, enabled. [`StoreError::Duplicate`] when its owner has one of that name.
    pub async fn create_channel(
        &self,
        channel: &NewChannel,
        now_ms: i64,
    ) -> StoreResult<ChannelRow> {
        let row = sqlx::query(&format!(
            "INSERT INTO notification_channels (user_id, kind, name, target, secret_ciphertext, \
             enabled, created_at_ms) VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING {CHANNEL_COLUMNS}"
        ))
        .bind(channel.user_id.0)
        .bind(channel.kind.as_str())
        .bind(&channel.name)
        .bind(&channel.target)
        .bind(&channel.secret_ciphertext)
        .bind(now_ms)
        .fetch_one(&self.writer)
        .await
        .map_err(|error| {
            if unique_violation_on(&error, "name") {
                StoreError::Duplicate {
                    what: "notification channel named",
                    key: channel.name.clone(),
                }
            } else {
                missing_referent(error, "user", channel.user_id.to_string())
            }
        })?;
        channel_from_row(&row)
    }

    /// `user`'s channels, oldest first.
    pub async fn channels(&self, user: UserId) -> StoreResult<Vec<ChannelRow>> {
        sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE user_id = $1 ORDER BY id"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(channel_from_row)
        .collect()
    }

    /// Channel `id`, whoever owns it (a sender's lookup); scope it to a user with
    /// [`Store::channels`] or by comparing its `user_id`.
    pub async fn channel(&self, id: ChannelId) -> StoreResult<Option<ChannelRow>> {
        sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(channel_from_row)
        .transpose()
    }

    /// Turns `user`'s channel `id` on or off; the channel as it is now, or `None` when `user` has
    /// no such channel.
    pub async fn set_channel_enabled(
        &self,
        user: UserId,
        id: ChannelId,
        enabled: bool,
    ) -> StoreResult<Option<ChannelRow>> {
        sqlx::query(&format!(
            "UPDATE notification_channels SET enabled = $3 WHERE id = $1 AND user_id = $2 \
             RETURNING {CHANNEL_COLUMNS}"
        ))
        .bind(id.0)
        .bind(user.0)
        .bind(bool_int(enabled))
        .fetch_optional(&self.writer)
        .await?
        .as_ref()
        .map(channel_from_row)
        .transpose()
    }

    /// Deletes `user`'s channel `id` with its subscriptions and its deliveries (pending ones are
    /// not sent); whether there was one.
    pub async fn delete_channel(&self, user: UserId, id: ChannelId) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let owned: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM notification_channels WHERE id = $1 AND user_id = $2",
        )
        .bind(id.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        if owned.is_none() {
            return Ok(false);
        }
        for table in ["notification_subscriptions", "notification_deliveries"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE channel_id = $1"))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM notification_channels WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// What `bot` is opted into, by channel then event.
    pub async fn subscriptions(&self, bot: BotId) -> StoreResult<Vec<Subscription>> {
        let rows = sqlx::query(
            "SELECT channel_id, event FROM notification_subscriptions WHERE bot_id = $1 \
             ORDER BY channel_id, event",
        )
        .bind(bot.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let r = RowReader::new(row, "notification_subscriptions", "channel_id")?;
                Ok(Subscription {
                    channel_id: ChannelId(r.i64("channel_id")?),
                    event: r.parse("event")?,
                })
            })
            .collect()
    }

    /// Replaces what `user`'s bot `bot` is opted into with `subscriptions` (kept from before
    /// with their dates). [`StoreError::NotFound`] naming the bot or the channel when `user` owns
    /// no such bot or channel; nothing changes then.
    pub async fn set_subscriptions(
        &self,
        user: UserId,
        bot: BotId,
        subscriptions: &[Subscription],
        now_ms: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let owns_bot: Option<i64> =
            sqlx::query_scalar("SELECT id FROM bot_configs WHERE id = $1 AND user_id = $2")
                .bind(bot.0)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await?;
        if owns_bot.is_none() {
            return Err(StoreError::NotFound {
                what: "bot",
                key: bot.to_string(),
            });
        }
        for subscription in subscriptions {
            let owns_channel: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM notification_channels WHERE id = $1 AND user_id = $2",
            )
            .bind(subscription.channel_id.0)
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await?;
            if owns_channel.is_none() {
                return Err(StoreError::NotFound {
                    what: "notification channel",
                    key: subscription.channel_id.to_string(),
                });
            }
        }
        let kept = sqlx::query(
            "SELECT channel_id, event, created_at_ms FROM notification_subscriptions WHERE bot_id = $1",
        )
        .bind(bot.0)
        .fetch_all(&mut *tx)
        .await?;
        let mut since = std::collections::HashMap::new();
        for row in &kept {
            let r = RowReader::new(row, "notification_subscriptions", "channel_id")?;
            since.insert(
                (r.i64("channel_id")?, r.string("event")?),
                r.i64("created_at_ms")?,
            );
        }
        sqlx::query("DELETE FROM notification_subscriptions WHERE bot_id = $1")
            .bind(bot.0)
            .execute(&mut *tx)
            .await?;
        for subscription in subscriptions {
            let key = (
                subscription.channel_id.0,
                subscription.event.as_str().to_owned(),
            );
            sqlx::query(
                "INSERT INTO notification_subscriptions (bot_id, channel_id, event, created_at_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (bot_id, channel_id, event) DO NOTHING",
            )
            .bind(bot.0)
            .bind(subscription.channel_id.0)
            .bind(subscription.event.as_str())
            .bind(since.get(&key).copied().unwrap_or(now_ms))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues a test notification to `user`'s channel `channel`; `None` when `user` has no such
    /// channel.
    pub async fn enqueue_test(
        &self,
        user: UserId,
        channel: ChannelId,
        now_ms: i64,
    ) -> StoreResult<Option<DeliveryRow>> {
        sqlx::query(&format!(
            "{QUEUE_INSERT} \
             SELECT user_id, id, NULL, $3, $4, $5, $6, 0, $4, 0, $4 FROM notification_channels \
             WHERE id = $1 AND user_id = $2 \
             ON CONFLICT (channel_id, idempotency_key) DO NOTHING RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind(channel.0)
        .bind(user.0)
        .bind(NotifyEvent::Test.as_str())
        .bind(now_ms)
        .bind(format!("test-{channel}-{now_ms}"))
        .bind(DeliveryStatus::Pending.as_str())
        .fetch_optional(&self.writer)
        .await?
        .as_ref()
        .map(delivery_from_row)
        .transpose()
    }

    /// Queues the daily summary of the UTC day starting at `day_start_ms` for every bot opted
    /// into one since before that day ended; a bot whose summary of that day is already queued
    /// (by another worker, or before a restart) keeps it. How many were queued.
    pub async fn enqueue_daily_summaries(
        &self,
        day_start_ms: i64,
        now_ms: i64,
    ) -> StoreResult<u64> {
        const DAY_MS: i64 = 86_400_000;
        let inserted = sqlx::query(&format!(
            "{QUEUE_INSERT} \
             SELECT c.user_id, s.channel_id, s.bot_id, s.event, $2, \
             'daily_summary-' || CAST(s.bot_id AS TEXT) || '-' || CAST($2 AS TEXT), $4, 0, $5, 0, $5 \
             FROM notification_subscriptions s \
             JOIN notification_channels c ON c.id = s.channel_id \
             WHERE s.event = $1 AND s.created_at_ms < $3 AND c.enabled = 1 \
             ON CONFLICT (channel_id, idempotency_key) DO NOTHING"
        ))
        .bind(NotifyEvent::DailySummary.as_str())
        .bind(day_start_ms)
        .bind(day_start_ms + DAY_MS)
        .bind(DeliveryStatus::Pending.as_str())
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(inserted.rows_affected())
    }

    /// Up to `limit` pending deliveries to enabled channels, due at `now_ms` and claimed by
    /// nobody, the longest waiting first. Claim each with [`Store::claim_delivery`] before sending it.
    pub async fn due_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DeliveryRow>> {
        let columns: Vec<String> = DELIVERY_COLUMNS
            .split(',')
            .map(|column| format!("d.{}", column.trim()))
            .collect();
        // A disabled channel's deliveries wait, unclaimed, until it is enabled again.
        sqlx::query(&format!(
            "SELECT {} FROM notification_deliveries d \
             JOIN notification_channels c ON c.id = d.channel_id \
             WHERE d.status = $1 AND d.next_attempt_at_ms <= $2 AND d.claimed_until_ms < $2 \
             AND c.enabled = 1 ORDER BY d.next_attempt_at_ms, d.id LIMIT $3",
            columns.join(", ")
        ))
        .bind(DeliveryStatus::Pending.as_str())
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(delivery_from_row)
        .collect()
    }

    /// Claims delivery `id` for an attempt until `until_ms` and counts the attempt; false when
    /// another sender claimed it first, or it is no longer pending.
    pub async fn claim_delivery(
        &self,
        id: DeliveryId,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<bool> {
        let claimed = sqlx::query(
            "UPDATE notification_deliveries SET claimed_until_ms = $2, attempts = attempts + 1 \
             WHERE id = $1 AND status = $3 AND claimed_until_ms < $4",
        )
        .bind(id.0)
        .bind(until_ms)
        .bind(DeliveryStatus::Pending.as_str())
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Records that the receiver accepted delivery `id` (answering `status_code`).
    pub async fn delivery_succeeded(
        &self,
        id: DeliveryId,
        now_ms: i64,
        status_code: Option<u16>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE notification_deliveries SET status = $2, delivered_at_ms = $3, \
             last_status_code = $4, last_error = NULL, claimed_until_ms = 0 WHERE id = $1",
        )
        .bind(id.0)
        .bind(DeliveryStatus::Delivered.as_str())
        .bind(now_ms)
        .bind(status_code.map(i64::from))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records that an attempt of delivery `id` failed with `error` (and the receiver's
    /// `status_code`, when it answered), and when it is tried again, if ever.
    pub async fn delivery_failed(
        &self,
        id: DeliveryId,
        error: &str,
        status_code: Option<u16>,
        retry: RetryAt,
    ) -> StoreResult<()> {
        let (status, next_attempt_at_ms) = match retry {
            RetryAt::At(at_ms) => (DeliveryStatus::Pending, Some(at_ms)),
            RetryAt::GiveUp => (DeliveryStatus::Failed, None),
        };
        sqlx::query(
            "UPDATE notification_deliveries SET status = $2, \
             next_attempt_at_ms = COALESCE($3, next_attempt_at_ms), last_error = $4, \
             last_status_code = $5, claimed_until_ms = 0 WHERE id = $1",
        )
        .bind(id.0)
        .bind(status.as_str())
        .bind(next_attempt_at_ms)
        .bind(error)
        .bind(status_code.map(i64::from))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// `user`'s deliveries that pass `filter`, newest first, at most `limit`.
    pub async fn deliveries(
        &self,
        user: UserId,
        filter: DeliveryFilter,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRow>> {
        let mut sql =
            format!("SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE user_id = $1");
        let mut next = 2;
        for (present, condition) in [
            (filter.channel.is_some(), "channel_id ="),
            (filter.status.is_some(), "status ="),
            (filter.before.is_some(), "id <"),
        ] {
            if present {
                sql.push_str(&format!(" AND {condition} ${next}"));
                next += 1;
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${next}"));
        let mut query = sqlx::query(&sql).bind(user.0);
        if let Some(channel) = filter.channel {
            query = query.bind(channel.0);
        }
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        if let Some(before) = filter.before {
            query = query.bind(before.0);
        }
        query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(delivery_from_row)
            .collect()
    }

    /// Deletes the deliveries delivered or given up that were queued before `before_ms`; pending
    /// ones stay whatever their age. How many went.
    pub async fn purge_deliveries(&self, before_ms: i64) -> StoreResult<u64> {
        let purged = sqlx::query(
            "DELETE FROM notification_deliveries WHERE status <> $1 AND created_at_ms < $2",
        )
        .bind(DeliveryStatus::Pending.as_str())
        .bind(before_ms)
        .execute(&self.writer)
        .await?;
        Ok(purged.rows_affected())
    }

    /// How many deliveries wait to be sent (pending, due or not): a metric.
    pub async fn pending_deliveries(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM notification_deliveries WHERE status = $1")
                .bind(DeliveryStatus::Pending.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Every delivery of every user, oldest first: what an operator's check (and a test) reads.
    pub async fn all_deliveries(&self) -> StoreResult<Vec<DeliveryRow>> {
        sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(delivery_from_row)
        .collect()
    }
}
