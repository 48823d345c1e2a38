//! Events: the audit trail of each bot's cycles (what it decided and why, what failed, what
//! traded), newest first when read.

use crate::Store;
use crate::error::{StoreResult, missing_referent};
use crate::model::BotId;
use crate::notifications::{enqueue_incident, is_notified_incident};
use crate::row::RowReader;

/// One event of a bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// The row's id (grows with insertion).
    pub id: i64,
    /// The bot.
    pub bot_id: BotId,
    /// When it happened, in ms since the epoch.
    pub at_ms: i64,
    /// Its kind, e.g. `signal`, `skip`, `trade`, `error`.
    pub kind: String,
    /// What happened, for people.
    pub message: String,
    /// The open time of the candle a decision was about; `None` for an incident.
    pub candle_open_ms: Option<i64>,
    /// What a decision was made from, as the engine recorded it (JSON text); `None` for an
    /// incident.
    pub detail: Option<String>,
}

/// The kind of the event the engine writes for a signal that sent no order.
pub const SKIP_EVENT: &str = "skip";

/// The kind of the event [`Store::record_execution`] writes with every trade.
pub(crate) const TRADE_EVENT: &str = "trade";

/// The kind of the event [`Store::record_execution`] adds when the order executed after it had
/// been counted as not executed.
pub(crate) const LATE_EXECUTION_EVENT: &str = "late_execution";

/// The kind of the event written when a bot is paused by anything but its owner: by the engine
/// after repeated failures, or by [`Store::pause_venue_bots`] for each bot it pauses.
pub const PAUSED_EVENT: &str = "paused";

/// The kind of the event the engine writes for a failed cycle.
pub const ERROR_EVENT: &str = "error";

/// The kind of the event the engine writes when an order's fate became unknown (a timeout, a
/// 5xx): the bot waits for reconciliation.
pub const IN_DOUBT_EVENT: &str = "in_doubt";

/// The kind of the event [`Store::clear_venue_positions`] writes for each position it clears.
pub(crate) const RESET_EVENT: &str = "reset";

/// Inserts an incident (an event about no candle) through `connection` (the pool, or a
/// transaction).
pub(crate) async fn insert_event(
    connection: &mut sqlx::AnyConnection,
    bot: BotId,
    at_ms: i64,
    kind: &str,
    message: &str,
) -> StoreResult<()> {
    let event = NewEvent {
        bot_id: bot,
        at_ms,
        kind: kind.to_owned(),
        message: message.to_owned(),
        candle_open_ms: None,
        detail: None,
    };
    insert_new_event(connection, &event).await
}

/// Inserts `event` through `connection` (the pool, or a transaction), with the notifications of
/// it that its bot's owner opted into.
pub(crate) async fn insert_new_event(
    connection: &mut sqlx::AnyConnection,
    event: &NewEvent,
) -> StoreResult<()> {
    const INSERT: &str = "INSERT INTO events (bot_id, at_ms, kind, message, candle_open_ms, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)";
    let notified = is_notified_incident(&event.kind);
    // Only an incident that may be notified needs its id back: decisions (most events) keep the
    // plain insert.
    let sql = if notified {
        format!("{INSERT} RETURNING id")
    } else {
        INSERT.to_owned()
    };
    let query = sqlx::query(&sql)
        .bind(event.bot_id.0)
        .bind(event.at_ms)
        .bind(&event.kind)
        .bind(&event.message)
        .bind(event.candle_open_ms)
        .bind(event.detail.as_deref());
    let missing_bot = |error| missing_referent(error, "bot", event.bot_id.to_string());
    if !notified {
        query.execute(&mut *connection).await.map_err(missing_bot)?;
        return Ok(());
    }
    let row = query
        .fetch_one(&mut *connection)
        .await
        .map_err(missing_bot)?;
    let id = RowReader::new(&row, "events", "id")?.i64("id")?;
    enqueue_incident(connection, event.bot_id, &event.kind, id, event.at_ms).await
}

/// The columns an [`EventRow`] is read from.
const EVENT_COLUMNS: &str = "id, bot_id, at_ms, kind, message, candle_open_ms, detail";

fn event_from_row(row: &sqlx::any::AnyRow) -> StoreResult<EventRow> {
    let r = RowReader::new(row, "events", "id")?;
    Ok(EventRow {
        id: r.i64("id")?,
        bot_id: BotId(r.i64("bot_id")?),
        at_ms: r.i64("at_ms")?,
        kind: r.string("kind")?,
        message: r.string("message")?,
        candle_open_ms: r.opt_i64("candle_open_ms")?,
        detail: r.opt_string("detail")?,
    })
}

/// An event to append with [`Store::record_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The bot.
    pub bot_id: BotId,
    /// When, in ms since the epoch.
    pub at_ms: i64,
    /// What kind of decision or incident (`hold`, `skip`, `error`, ...).
    pub kind: String,
    /// What happened, for people.
    pub message: String,
    /// The open time of the candle a decision was about; `None` for an incident.
    pub candle_open_ms: Option<i64>,
    /// What a decision was made from (JSON text); `None` for an incident.
    pub detail: Option<String>,
}

impl Store {
    /// Appends `events` (of any bots) in one transaction, so one durable commit serves them all:
    /// the engine groups the decisions of many bots' cycles this way. All or nothing:
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) when one names no bot.
    pub async fn record_events(&self, events: &[NewEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for event in events {
            insert_new_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Appends an incident (an event about no candle) to `bot`'s trail.
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) when there is no such bot.
    pub async fn record_event(
        &self,
        bot: BotId,
        at_ms: i64,
        kind: &str,
        message: &str,
    ) -> StoreResult<()> {
        let mut connection = self.writer.acquire().await?;
        insert_event(&mut connection, bot, at_ms, kind, message).await
    }

    /// Appends `event` to its bot's trail.
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) when there is no such bot.
    pub async fn record_new_event(&self, event: &NewEvent) -> StoreResult<()> {
        let mut connection = self.writer.acquire().await?;
        insert_new_event(&mut connection, event).await
    }

    /// The newest `limit` signals of `bot` that sent no order, about candles opening at
    /// `from_candle_ms` or later, oldest first: what a chart marks as skipped.
    pub async fn skipped_signals(
        &self,
        bot: BotId,
        from_candle_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<EventRow>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE bot_id = $1 AND candle_open_ms >= $2 \
             AND kind = $3 ORDER BY candle_open_ms DESC, id DESC LIMIT $4"
        );
        let mut skips = sqlx::query(&sql)
            .bind(bot.0)
            .bind(from_candle_ms)
            .bind(SKIP_EVENT)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(event_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        skips.reverse();
        Ok(skips)
    }

    /// Event `id`, whichever bot's (a notification's sender builds its message from it).
    pub async fn event(&self, id: i64) -> StoreResult<Option<EventRow>> {
        sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(event_from_row)
            .transpose()
    }

    /// The `limit` newest events of `bot` (by time, then by insertion), newest first.
    pub async fn events(&self, bot: BotId, limit: u32) -> StoreResult<Vec<EventRow>> {
        sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE bot_id = $1 \
             ORDER BY at_ms DESC, id DESC LIMIT $2"
        ))
        .bind(bot.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
    }
}
