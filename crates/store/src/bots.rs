//! Bot configurations: [`BotConfig`], [`NewBot`] and the [`Store`] methods that create, list and
//! update them (activation and the status the engine records after each cycle). The lease columns
//! of the same table belong to [`crate::leases`].

use rust_decimal::Decimal;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::{StoreError, StoreResult, is_foreign_key_violation, is_unique_violation};
use crate::model::{BotId, BotStatus, Mode, UserId};
use crate::row::{RowReader, bool_int, decimal_text};

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

/// A bot to create; it starts [`BotStatus::Idle`] with no failures.
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
            } else if is_foreign_key_violation(&error) {
                StoreError::NotFound {
                    what: "user",
                    key: bot.user_id.to_string(),
                }
            } else {
                error.into()
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
            "SELECT {BOT_COLUMNS} FROM bot_configs WHERE is_active = 1 AND status <> $1 ORDER BY id"
        ))
        .bind(BotStatus::Paused.as_str())
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
        let result =
            sqlx::query("UPDATE bot_configs SET is_active = $2, updated_at_ms = $3 WHERE id = $1")
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
        let result = sqlx::query(
            "UPDATE bot_configs SET status = $2, last_error = $3, consecutive_failures = $4, \
             updated_at_ms = $5 WHERE id = $1",
        )
        .bind(id.0)
        .bind(status.as_str())
        .bind(last_error)
        .bind(consecutive_failures)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        found(result.rows_affected(), id)
    }
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
