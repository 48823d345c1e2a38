//! Events: the audit trail of each bot's cycles (what it decided and why, what failed, what
//! traded), newest first when read.

use crate::Store;
use crate::error::{StoreResult, missing_referent};
use crate::model::BotId;
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
}

/// The kind of the event [`Store::record_execution`] writes with every trade.
pub(crate) const TRADE_EVENT: &str = "trade";

/// The kind of the event [`Store::record_execution`] adds when the order executed after it had
/// been counted as not executed.
pub(crate) const LATE_EXECUTION_EVENT: &str = "late_execution";

/// The kind of the event [`Store::pause_venue_bots`] writes for each bot it pauses.
pub(crate) const PAUSED_EVENT: &str = "paused";

/// The kind of the event [`Store::clear_venue_positions`] writes for each position it clears.
pub(crate) const RESET_EVENT: &str = "reset";

/// Inserts an event through `connection` (the pool, or a transaction).
pub(crate) async fn insert_event(
    connection: &mut sqlx::AnyConnection,
    bot: BotId,
    at_ms: i64,
    kind: &str,
    message: &str,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO events (bot_id, at_ms, kind, message) VALUES ($1, $2, $3, $4)")
        .bind(bot.0)
        .bind(at_ms)
        .bind(kind)
        .bind(message)
        .execute(connection)
        .await
        .map_err(|error| missing_referent(error, "bot", bot.to_string()))?;
    Ok(())
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
            insert_event(
                &mut tx,
                event.bot_id,
                event.at_ms,
                &event.kind,
                &event.message,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Appends an event to `bot`'s trail.
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

    /// The `limit` newest events of `bot` (by time, then by insertion), newest first.
    pub async fn events(&self, bot: BotId, limit: u32) -> StoreResult<Vec<EventRow>> {
        let rows = sqlx::query(
            "SELECT id, bot_id, at_ms, kind, message FROM events WHERE bot_id = $1 \
             ORDER BY at_ms DESC, id DESC LIMIT $2",
        )
        .bind(bot.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let r = RowReader::new(row, "events", "id")?;
                Ok(EventRow {
                    id: r.i64("id")?,
                    bot_id: BotId(r.i64("bot_id")?),
                    at_ms: r.i64("at_ms")?,
                    kind: r.string("kind")?,
                    message: r.string("message")?,
                })
            })
            .collect()
    }
}
