//! Positions: per bot, the base quantity held, what it cost in quote (fees included) and the PnL
//! realised so far. Written by [`Store::record_execution`], together with the trade that moved
//! it, and cleared (PnL kept) by [`Store::clear_venue_positions`] when a paper account is reset;
//! read here.

use rust_decimal::Decimal;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::StoreResult;
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

/// Sets `position` as its bot's position, inside the caller's transaction.
pub(crate) async fn upsert_position(
    connection: &mut sqlx::AnyConnection,
    position: &PositionRow,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO positions (bot_id, quantity, cost_quote, realized_pnl, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (bot_id) DO UPDATE SET quantity = excluded.quantity, \
         cost_quote = excluded.cost_quote, realized_pnl = excluded.realized_pnl, \
         updated_at_ms = excluded.updated_at_ms",
    )
    .bind(position.bot_id.0)
    .bind(decimal_text(position.quantity))
    .bind(decimal_text(position.cost_quote))
    .bind(decimal_text(position.realized_pnl))
    .bind(position.updated_at_ms)
    .execute(connection)
    .await?;
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
