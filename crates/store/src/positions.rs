//! Positions: per bot, the base quantity held, what it cost in quote (fees included) and the PnL
//! realised so far. Written by [`Store::record_execution`], together with the trade that moved
//! it, and cleared (PnL kept) by [`Store::clear_venue_positions`] when a paper account is reset;
//! read here.

use rust_decimal::Decimal;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::{StoreError, StoreResult, is_unique_violation};
use crate::model::{BotId, UserId};
use crate::row::{RowReader, decimal_text};

/// A bot's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionRow {
    /// The bot.
    pub bot_id: BotId,
    /// The base quantity held.
    pub quantity: Decimal,
    /// What the held quantity cost, in quote, fees included.
    pub cost_quote: Decimal,
    /// The PnL realised so far, in quote.
    pub realized_pnl: Decimal,
    /// When it last changed, in ms since the epoch (0 for a bot that never traded).
    pub updated_at_ms: i64,
}

impl PositionRow {
    /// The position of a bot that never traded.
    pub fn flat(bot_id: BotId) -> PositionRow {
        PositionRow {
            bot_id,
            quantity: Decimal::ZERO,
            cost_quote: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
            updated_at_ms: 0,
        }
    }
}

const POSITION_COLUMNS: &str = "bot_id, quantity, cost_quote, realized_pnl, updated_at_ms";

pub(crate) fn position_from_row(row: &AnyRow) -> StoreResult<PositionRow> {
    let r = RowReader::new(row, "positions", "bot_id")?;
    Ok(PositionRow {
        bot_id: BotId(r.i64("bot_id")?),
        quantity: r.decimal("quantity")?,
        cost_quote: r.decimal("cost_quote")?,
        realized_pnl: r.decimal("realized_pnl")?,
        updated_at_ms: r.i64("updated_at_ms")?,
    })
}

/// Moves a bot's position from `before` to `after` inside the caller's transaction, only while
/// the stored position is still `before` (a bot that never traded has no row: its `before` is
/// [`PositionRow::flat`]). Two processes recording trades of one bot from the same read would
/// otherwise each overwrite the other's position; the second gets [`StoreError::Changed`].
pub(crate) async fn advance_position(
    connection: &mut sqlx::AnyConnection,
    before: &PositionRow,
    after: &PositionRow,
) -> StoreResult<()> {
    // Decimals are stored normalised, so equal values have equal text.
    let updated = sqlx::query(
        "UPDATE positions SET quantity = $2, cost_quote = $3, realized_pnl = $4, \
         updated_at_ms = $5 WHERE bot_id = $1 AND quantity = $6 AND cost_quote = $7 \
         AND realized_pnl = $8 AND updated_at_ms = $9",
    )
    .bind(after.bot_id.0)
    .bind(decimal_text(after.quantity))
    .bind(decimal_text(after.cost_quote))
    .bind(decimal_text(after.realized_pnl))
    .bind(after.updated_at_ms)
    .bind(decimal_text(before.quantity))
    .bind(decimal_text(before.cost_quote))
    .bind(decimal_text(before.realized_pnl))
    .bind(before.updated_at_ms)
    .execute(&mut *connection)
    .await?;
    if updated.rows_affected() == 1 {
        return Ok(());
    }
    let changed = || StoreError::Changed {
        what: "position of bot",
        key: after.bot_id.to_string(),
    };
    if *before != PositionRow::flat(before.bot_id) {
        return Err(changed());
    }
    sqlx::query(
        "INSERT INTO positions (bot_id, quantity, cost_quote, realized_pnl, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(after.bot_id.0)
    .bind(decimal_text(after.quantity))
    .bind(decimal_text(after.cost_quote))
    .bind(decimal_text(after.realized_pnl))
    .bind(after.updated_at_ms)
    .execute(connection)
    .await
    .map_err(|error| {
        if is_unique_violation(&error) {
            changed()
        } else {
            StoreError::Database(error)
        }
    })?;
    Ok(())
}

impl Store {
    /// `bot`'s position: all zeros (and `updated_at_ms` 0) when it never traded.
    pub async fn position(&self, bot: BotId) -> StoreResult<PositionRow> {
        let row = sqlx::query(&format!(
            "SELECT {POSITION_COLUMNS} FROM positions WHERE bot_id = $1"
        ))
        .bind(bot.0)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => position_from_row(&row),
            None => Ok(PositionRow::flat(bot)),
        }
    }

    /// The positions of `user`'s bots, or of every bot, by bot id; only bots that ever traded
    /// have one.
    pub async fn positions(&self, user: Option<UserId>) -> StoreResult<Vec<PositionRow>> {
        let rows =
            match user {
                Some(user) => sqlx::query(
                    "SELECT p.bot_id, p.quantity, p.cost_quote, p.realized_pnl, p.updated_at_ms \
                     FROM positions p JOIN bot_configs b ON b.id = p.bot_id \
                     WHERE b.user_id = $1 ORDER BY p.bot_id",
                )
                .bind(user.0)
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query(&format!(
                        "SELECT {POSITION_COLUMNS} FROM positions ORDER BY bot_id"
                    ))
                    .fetch_all(&self.pool)
                    .await?
                }
            };
        rows.iter().map(position_from_row).collect()
    }
}
