//! Bot configurations: [`BotConfig`], [`NewBot`] and the [`Store`] methods that create, list and
//! update them (activation and the status the engine records after each cycle, which never
//! overrides a user's pause or stop: [`Store::set_bot_status_if_running`]), plus the
//! owner-scoped ones the API uses ([`Store::user_bot`], [`Store::update_bot`],
//! [`Store::control_bot`], [`Store::delete_bot`]): each names the user as well as the bot, so a
//! bot of someone else is simply not found. The lease columns of the same table belong to
//! [`crate::leases`].

use rust_decimal::Decimal;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::{
    StoreError, StoreResult, is_foreign_key_violation, is_unique_violation, missing_referent,
};
use crate::model::{BotId, BotStatus, Mode, UserId};
use crate::row::{RowReader, bool_int, decimal_text};

/// The SQL condition of a runnable bot row: active and not paused ([`BotConfig::is_runnable`];
/// `'paused'` is [`BotStatus::Paused`]'s spelling, which a test checks). One place for the
/// scheduler's list, the engine's status writes and the fenced order insert.
macro_rules! runnable {
    () => {
        "is_active = 1 AND status <> 'paused'"
    };
}
pub(crate) use runnable;

/// The SQL that stamps a bot row written at the time in parameter `$now`: `updated_at_ms`
/// becomes `$now`, or one more than it was if that is not later (two writes in the same
/// millisecond, or a writer whose clock is behind). It always moves, so a caller's check that the
/// row is still as it read it (see [`Store::update_bot`]) can never miss a write in between.
macro_rules! touch_updated_at {
    ($now:literal) => {
        concat!(
            "updated_at_ms = CASE WHEN ",
            $now,
            " > updated_at_ms THEN ",
            $now,
            " ELSE updated_at_ms + 1 END"
        )
    };
}
pub(crate) use touch_updated_at;

/// A bot's configuration and the state the engine keeps on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotConfig {
    /// The bot's id.
    pub id: BotId,
    /// Whose bot it is.
    pub user_id: UserId,
    /// Its name, unique among the user's bots.
    pub name: String,
    /// The symbol it trades, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Its candle interval, e.g. `1h`.
    pub interval: String,
    /// Its strategy's name, e.g. `ema_rsi_cross`.
    pub strategy: String,
    /// The strategy's parameters as JSON text, interpreted by the engine.
    pub strategy_params: String,
    /// The quote amount spent per BUY.
    pub quote_per_buy: Decimal,
    /// Where its orders go.
    pub mode: Mode,
    /// Whether it should run at all.
    pub is_active: bool,
    /// What it is doing, as last recorded.
    pub status: BotStatus,
    /// Why its last cycle failed, if it did.
    pub last_error: Option<String>,
    /// How many cycles in a row have failed.
    pub consecutive_failures: i64,
    /// When it was created, in ms since the epoch.
    pub created_at_ms: i64,
    /// When its configuration or status last changed, in ms since the epoch.
    pub updated_at_ms: i64,
}

impl BotConfig {
    /// Whether the scheduler runs it and it may trade: active and not paused. The same rule as
    /// the SQL of [`runnable!`], which the store's statements check.
    pub fn is_runnable(&self) -> bool {
        self.is_active && self.status != BotStatus::Paused
    }
}

/// A bot to create (it starts [`BotStatus::Idle`] with no failures), or the new configuration of
/// an existing one (see [`Store::update_bot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBot {
    /// Whose bot it is.
    pub user_id: UserId,
    /// Its name, unique among the user's bots.
    pub name: String,
    /// The symbol it trades.
    pub symbol: String,
    /// Its candle interval.
    pub interval: String,
    /// Its strategy's name.
    pub strategy: String,
    /// The strategy's parameters as JSON text.
    pub strategy_params: String,
    /// The quote amount spent per BUY (positive).
    pub quote_per_buy: Decimal,
    /// Where its orders go.
    pub mode: Mode,
    /// Whether it should run.
    pub is_active: bool,
}

/// What a user does to a bot's run state (see [`Store::control_bot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotControl {
    /// Active and idle, with no last error and no failure count: a fresh start, also after the
    /// engine paused it for failing.
    Start,
    /// Inactive and idle. The last error and failure count stay, to tell why it had stopped.
    Stop,
    /// Paused: the scheduler skips it until it is started. Active, error and count stay.
    Pause,
}

/// What [`Store::delete_bot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotDeletion {
    /// The bot and its events are gone.
    Deleted,
    /// The user has no such bot.
    NotFound,
    /// The bot is active, or a worker holds its lease (a cycle may be writing an order): stop it
    /// first.
    Running,
    /// The bot has orders or trades, which stay as the user's history: it can be stopped, not
    /// deleted.
    HasHistory,
}

const BOT_COLUMNS: &str = "id, user_id, name, symbol, candle_interval, strategy, strategy_params, \
     quote_per_buy, mode, is_active, status, last_error, consecutive_failures, created_at_ms, \
     updated_at_ms";

fn bot_from_row(row: &AnyRow) -> StoreResult<BotConfig> {
    let r = RowReader::new(row, "bot_configs", "id")?;
    Ok(BotConfig {
        id: BotId(r.i64("id")?),
        user_id: UserId(r.i64("user_id")?),
        name: r.string("name")?,
        symbol: r.string("symbol")?,
        interval: r.string("candle_interval")?,
        strategy: r.string("strategy")?,
        strategy_params: r.string("strategy_params")?,
        quote_per_buy: r.decimal("quote_per_buy")?,
        mode: r.parse("mode")?,
        is_active: r.bool("is_active")?,
        status: r.parse("status")?,
        last_error: r.opt_string("last_error")?,
        consecutive_failures: r.i64("consecutive_failures")?,
        created_at_ms: r.i64("created_at_ms")?,
        updated_at_ms: r.i64("updated_at_ms")?,
    })
}

impl Store {
    /// Creates a bot. [`StoreError::Duplicate`] when the user has a bot of that name,
    /// [`StoreError::NotFound`] when there is no such user.
    pub async fn create_bot(&self, bot: &NewBot, now_ms: i64) -> StoreResult<BotConfig> {
        check_new_bot(bot)?;
        let row = sqlx::query(&format!(
            "INSERT INTO bot_configs (user_id, name, symbol, candle_interval, strategy, \
             strategy_params, quote_per_buy, mode, is_active, status, consecutive_failures, \
             created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11) \
             RETURNING {BOT_COLUMNS}"
        ))
        .bind(bot.user_id.0)
        .bind(&bot.name)
        .bind(&bot.symbol)
        .bind(&bot.interval)
        .bind(&bot.strategy)
        .bind(&bot.strategy_params)
        .bind(decimal_text(bot.quote_per_buy))
        .bind(bot.mode.as_str())
        .bind(bool_int(bot.is_active))
        .bind(BotStatus::Idle.as_str())
        .bind(now_ms)
        .fetch_one(&self.writer)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::Duplicate {
                    what: "bot",
                    key: format!("{:?} of user {}", bot.name, bot.user_id),
                }
            } else {
                missing_referent(error, "user", bot.user_id.to_string())
            }
        })?;
        bot_from_row(&row)
    }

    /// The bot with id `id`, if any.
    pub async fn bot(&self, id: BotId) -> StoreResult<Option<BotConfig>> {
        sqlx::query(&format!(
            "SELECT {BOT_COLUMNS} FROM bot_configs WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(bot_from_row)
        .transpose()
    }

    /// The bots of `user`, or of everyone, by id.
    pub async fn bots(&self, user: Option<UserId>) -> StoreResult<Vec<BotConfig>> {
        let rows = match user {
            Some(user) => {
                sqlx::query(&format!(
                    "SELECT {BOT_COLUMNS} FROM bot_configs WHERE user_id = $1 ORDER BY id"
                ))
                .bind(user.0)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {BOT_COLUMNS} FROM bot_configs ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(bot_from_row).collect()
    }

    /// The bots the scheduler should run: active and not paused, by id.
    pub async fn runnable_bots(&self) -> StoreResult<Vec<BotConfig>> {
        sqlx::query(&format!(
            "SELECT {BOT_COLUMNS} FROM bot_configs WHERE {} ORDER BY id",
            runnable!()
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(bot_from_row)
        .collect()
    }

    /// A cheap fingerprint of the bot table: the number of bots and the latest `updated_at_ms`.
    /// It changes whenever a bot is created, deleted or changed (status included), so the
    /// scheduler re-reads [`runnable_bots`](Self::runnable_bots) only then.
    pub async fn bots_revision(&self) -> StoreResult<(i64, i64)> {
        let (count, latest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MAX(updated_at_ms) FROM bot_configs")
                .fetch_one(&self.pool)
                .await?;
        Ok((count, latest.unwrap_or(0)))
    }

    /// Turns bot `id` on or off. [`StoreError::NotFound`] when there is no such bot.
    pub async fn set_bot_active(&self, id: BotId, active: bool, now_ms: i64) -> StoreResult<()> {
        let result = sqlx::query(concat!(
            "UPDATE bot_configs SET is_active = $2, ",
            touch_updated_at!("$3"),
            " WHERE id = $1"
        ))
        .bind(id.0)
        .bind(bool_int(active))
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        found(result.rows_affected(), id)
    }

    /// Records what bot `id` is doing, why its last cycle failed (or `None`) and how many cycles
    /// in a row failed. [`StoreError::NotFound`] when there is no such bot.
    pub async fn set_bot_status(
        &self,
        id: BotId,
        status: BotStatus,
        last_error: Option<&str>,
        consecutive_failures: i64,
        now_ms: i64,
    ) -> StoreResult<()> {
        if consecutive_failures < 0 {
            return Err(StoreError::InvalidValue {
                field: "consecutive_failures",
                detail: format!("must not be negative, got {consecutive_failures}"),
            });
        }
        let result = sqlx::query(concat!(
            "UPDATE bot_configs SET status = $2, last_error = $3, consecutive_failures = $4, ",
            touch_updated_at!("$5"),
            " WHERE id = $1",
        ))
        .bind(id.0)
        .bind(status.as_str())
        .bind(last_error)
        .bind(consecutive_failures)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        found(result.rows_affected(), id)
    }

    /// [`Store::set_bot_status`] for the engine after a cycle: writes only while bot `id` is
    /// still active and not paused, and tells whether it wrote. A user may pause or stop the bot
    /// (see [`Store::control_bot`]) while its cycle runs; the engine's write must not undo that,
    /// so the check and the write are one statement, with no gap for the user's change to fall
    /// into. `false` also when there is no such bot.
    pub async fn set_bot_status_if_running(
        &self,
        id: BotId,
        status: BotStatus,
        last_error: Option<&str>,
        consecutive_failures: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        if consecutive_failures < 0 {
            return Err(StoreError::InvalidValue {
                field: "consecutive_failures",
                detail: format!("must not be negative, got {consecutive_failures}"),
            });
        }
        let result = sqlx::query(concat!(
            "UPDATE bot_configs SET status = $2, last_error = $3, consecutive_failures = $4, ",
            touch_updated_at!("$5"),
            " WHERE id = $1 AND ",
            runnable!(),
        ))
        .bind(id.0)
        .bind(status.as_str())
        .bind(last_error)
        .bind(consecutive_failures)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() > 0)
    }
}

impl Store {
    /// Bot `id` if `user` owns it: another user's bot is `None`, exactly like a missing one.
    pub async fn user_bot(&self, user: UserId, id: BotId) -> StoreResult<Option<BotConfig>> {
        sqlx::query(&format!(
            "SELECT {BOT_COLUMNS} FROM bot_configs WHERE id = $1 AND user_id = $2"
        ))
        .bind(id.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(bot_from_row)
        .transpose()
    }

    /// Replaces the configuration of bot `id` of `bot.user_id` with `bot`'s (name, symbol,
    /// interval, strategy and its parameters, quote per BUY, mode, activation) and sets
    /// `updated_at_ms`, which the scheduler watches (see [`Store::bots_revision`]). Status, last
    /// error and failure count are left to [`Store::control_bot`] and the engine.
    ///
    /// Only if the bot is as the caller read it (`updated_at_ms` still `read_at_ms`: a start,
    /// stop or cycle in between is not overwritten), and, when the symbol or mode changes, the
    /// bot has no order (its position belongs to them), both checked in the same statement.
    /// `None` when the user has no such bot or a check failed; [`StoreError::Duplicate`] when
    /// another of their bots has the name.
    pub async fn update_bot(
        &self,
        id: BotId,
        bot: &NewBot,
        read_at_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<BotConfig>> {
        check_new_bot(bot)?;
        let row = sqlx::query(&format!(
            "UPDATE bot_configs SET name = $3, symbol = $4, candle_interval = $5, strategy = $6, \
             strategy_params = $7, quote_per_buy = $8, mode = $9, is_active = $10, {} \
             WHERE id = $1 AND user_id = $2 AND updated_at_ms = $12 \
             AND ((symbol = $4 AND mode = $9) \
                  OR NOT EXISTS (SELECT 1 FROM orders WHERE orders.bot_id = $1)) \
             RETURNING {BOT_COLUMNS}",
            touch_updated_at!("$11")
        ))
        .bind(id.0)
        .bind(bot.user_id.0)
        .bind(&bot.name)
        .bind(&bot.symbol)
        .bind(&bot.interval)
        .bind(&bot.strategy)
        .bind(&bot.strategy_params)
        .bind(decimal_text(bot.quote_per_buy))
        .bind(bot.mode.as_str())
        .bind(bool_int(bot.is_active))
        .bind(now_ms)
        .bind(read_at_ms)
        .fetch_optional(&self.writer)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::Duplicate {
                    what: "bot",
                    key: format!("{:?} of user {}", bot.name, bot.user_id),
                }
            } else {
                error.into()
            }
        })?;
        row.as_ref().map(bot_from_row).transpose()
    }

    /// Starts, stops or pauses bot `id` of `user` (see [`BotControl`]); the bot as it is now, or
    /// `None` when the user has no such bot.
    pub async fn control_bot(
        &self,
        user: UserId,
        id: BotId,
        control: BotControl,
        now_ms: i64,
    ) -> StoreResult<Option<BotConfig>> {
        let set = match control {
            BotControl::Start => {
                "is_active = 1, status = $3, last_error = NULL, consecutive_failures = 0"
            }
            BotControl::Stop => "is_active = 0, status = $3",
            BotControl::Pause => "status = $3",
        };
        let status = match control {
            BotControl::Start | BotControl::Stop => BotStatus::Idle,
            BotControl::Pause => BotStatus::Paused,
        };
        sqlx::query(&format!(
            "UPDATE bot_configs SET {set}, {} WHERE id = $1 AND user_id = $2 \
             RETURNING {BOT_COLUMNS}",
            touch_updated_at!("$4")
        ))
        .bind(id.0)
        .bind(user.0)
        .bind(status.as_str())
        .bind(now_ms)
        .fetch_optional(&self.writer)
        .await?
        .as_ref()
        .map(bot_from_row)
        .transpose()
    }

    /// Whether bot `id` ever wrote an order or a trade: from then on its symbol and mode are
    /// part of its history (its position is in that symbol, on that venue).
    pub async fn bot_has_history(&self, id: BotId) -> StoreResult<bool> {
        let count: i64 = sqlx::query_scalar(HISTORY_COUNT)
            .bind(id.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(count > 0)
    }

    /// Deletes bot `id` of `user` with its cycle events, unless it is running or has orders or
    /// trades (see [`BotDeletion`]): trades are the user's record and refer to the bot, so such
    /// a bot is stopped rather than deleted.
    pub async fn delete_bot(
        &self,
        user: UserId,
        id: BotId,
        now_ms: i64,
    ) -> StoreResult<BotDeletion> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64, Option<String>, i64)> = sqlx::query_as(
            "SELECT is_active, lease_owner, lease_expires_at_ms FROM bot_configs \
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((is_active, lease_owner, lease_expires_at_ms)) = row else {
            return Ok(BotDeletion::NotFound);
        };
        if is_active != 0 || (lease_owner.is_some() && lease_expires_at_ms > now_ms) {
            return Ok(BotDeletion::Running);
        }
        let history: i64 = sqlx::query_scalar(HISTORY_COUNT)
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        if history > 0 {
            return Ok(BotDeletion::HasHistory);
        }
        for table in [
            "notification_deliveries",
            "notification_subscriptions",
            "events",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE bot_id = $1"))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query("DELETE FROM bot_configs WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await;
        match deleted {
            // On PostgreSQL a worker may still insert an order between the check and the delete:
            // the foreign key then refuses, and the bot has history after all.
            Err(error) if is_foreign_key_violation(&error) => Ok(BotDeletion::HasHistory),
            Err(error) => Err(error.into()),
            Ok(_) => {
                tx.commit().await?;
                Ok(BotDeletion::Deleted)
            }
        }
    }
}

/// How many orders and trades refer to bot `$1`.
const HISTORY_COUNT: &str = "SELECT (SELECT COUNT(*) FROM orders WHERE bot_id = $1) \
     + (SELECT COUNT(*) FROM trades WHERE bot_config_id = $1)";

/// Refuses a bot whose name, symbol, interval or strategy is blank, or whose quote per BUY is
/// not positive.
fn check_new_bot(bot: &NewBot) -> StoreResult<()> {
    for (field, value) in [
        ("bot name", &bot.name),
        ("symbol", &bot.symbol),
        ("interval", &bot.interval),
        ("strategy", &bot.strategy),
    ] {
        if value.trim().is_empty() {
            return Err(StoreError::InvalidValue {
                field,
                detail: "must not be empty".to_owned(),
            });
        }
    }
    if bot.quote_per_buy <= Decimal::ZERO {
        return Err(StoreError::InvalidValue {
            field: "quote_per_buy",
            detail: format!("must be positive, got {}", bot.quote_per_buy),
        });
    }
    Ok(())
}

/// `Ok` when an update by bot id touched a row.
fn found(rows_affected: u64, id: BotId) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound {
            what: "bot",
            key: id.to_string(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runnable_sql_spells_the_paused_status_as_the_model_does() {
        let paused = format!("status <> '{}'", BotStatus::Paused.as_str());
        assert!(runnable!().contains(&paused), "{}", runnable!());
    }
}
