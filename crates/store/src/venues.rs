//! All of one user's bots on one venue (the bots whose [`Mode`] it is) at once, for when the
//! user's account on that venue changes under them: [`Store::pause_venue_bots`] when its
//! credentials go away or stop working, and [`Store::venue_orders_in_doubt`] and
//! [`Store::clear_venue_positions`] when a paper account is reset to its starting balances.

use rust_decimal::Decimal;

use crate::Store;
use crate::bots::{runnable, touch_updated_at};
use crate::error::StoreResult;
use crate::events::{PAUSED_EVENT, RESET_EVENT, insert_event};
use crate::model::{BotId, BotStatus, Mode, OrderStatus, UserId};
use crate::positions::position_from_row;
use crate::row::decimal_text;

/// Why [`Store::clear_venue_positions`] changed nothing: orders of the venue's bots whose fate is
/// still to be learned. A fill learned later would land on a position already cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot clear the {venue} positions: {count} order(s) of the {venue} bots are pending or \
     unknown; reconcile them first"
)]
pub struct OrdersInDoubt {
    /// The venue whose positions were to be cleared.
    pub venue: Mode,
    /// How many orders are `pending` or `unknown`.
    pub count: usize,
}

/// How many orders of `$1`'s bots on venue `$2` have status `$3` or `$4`.
const COUNT_VENUE_ORDERS: &str = "SELECT COUNT(*) FROM orders o \
     JOIN bot_configs b ON b.id = o.bot_id \
     WHERE b.user_id = $1 AND b.mode = $2 AND o.status IN ($3, $4)";

/// How many orders of `user`'s bots on `venue` are `pending` or `unknown`, read through
/// `connection` (the pool, or a transaction).
async fn count_orders_in_doubt(
    connection: &mut sqlx::AnyConnection,
    user: UserId,
    venue: Mode,
) -> StoreResult<usize> {
    let count: i64 = sqlx::query_scalar(COUNT_VENUE_ORDERS)
        .bind(user.0)
        .bind(venue.as_str())
        .bind(OrderStatus::Pending.as_str())
        .bind(OrderStatus::Unknown.as_str())
        .fetch_one(connection)
        .await?;
    // A count is never negative; a database that says otherwise answered something undecodable.
    Ok(usize::try_from(count).map_err(|error| sqlx::Error::Decode(Box::new(error)))?)
}

impl Store {
    /// Pauses every bot of `user` on `venue` that is active and not paused yet, with `reason` as
    /// its last error and a `paused` event saying `reason`, all in one transaction; their ids,
    /// ascending. Stopped bots stay stopped and paused ones keep their own reason; other users'
    /// bots and other venues are untouched. A cycle running meanwhile neither undoes the pause
    /// ([`Store::set_bot_status_if_running`]) nor writes another order (the fenced insert).
    pub async fn pause_venue_bots(
        &self,
        user: UserId,
        venue: Mode,
        reason: &str,
        now_ms: i64,
    ) -> StoreResult<Vec<BotId>> {
        let mut tx = self.begin_write().await?;
        let mut paused: Vec<i64> = sqlx::query_scalar(concat!(
            "UPDATE bot_configs SET status = $3, last_error = $4, ",
            touch_updated_at!("$5"),
            " WHERE user_id = $1 AND mode = $2 AND ",
            runnable!(),
            " RETURNING id"
        ))
        .bind(user.0)
        .bind(venue.as_str())
        .bind(BotStatus::Paused.as_str())
        .bind(reason)
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        // RETURNING gives no order; events and the answer go by id.
        paused.sort_unstable();
        let paused: Vec<BotId> = paused.into_iter().map(BotId).collect();
        for &bot in &paused {
            insert_event(&mut tx, bot, now_ms, PAUSED_EVENT, reason).await?;
        }
        tx.commit().await?;
        Ok(paused)
    }

    /// How many orders of `user`'s bots on `venue` are `pending` or `unknown`: orders whose fate
    /// the exchange has yet to tell.
    pub async fn venue_orders_in_doubt(&self, user: UserId, venue: Mode) -> StoreResult<usize> {
        let mut connection = self.pool.acquire().await?;
        count_orders_in_doubt(&mut connection, user, venue).await
    }

    /// Empties the positions of `user`'s bots on `venue` (quantity and cost zero, the realised
    /// PnL kept as their history), for a paper account reset to its starting balances, with a
    /// `reset` event saying `message` for each bot whose position was not flat already; their
    /// ids, ascending.
    ///
    /// All in one transaction, and nothing at all ([`OrdersInDoubt`]) while an order of those
    /// bots is `pending` or `unknown`. Pause the bots first ([`Store::pause_venue_bots`]) so that
    /// none starts an order meanwhile.
    pub async fn clear_venue_positions(
        &self,
        user: UserId,
        venue: Mode,
        message: &str,
        now_ms: i64,
    ) -> StoreResult<Result<Vec<BotId>, OrdersInDoubt>> {
        let mut tx = self.begin_write().await?;
        let count = count_orders_in_doubt(&mut tx, user, venue).await?;
        if count > 0 {
            // Dropping the transaction rolls it back; it wrote nothing anyway.
            return Ok(Err(OrdersInDoubt { venue, count }));
        }
        let positions = sqlx::query(
            "SELECT p.bot_id, p.quantity, p.cost_quote, p.realized_pnl, p.updated_at_ms \
             FROM positions p JOIN bot_configs b ON b.id = p.bot_id \
             WHERE b.user_id = $1 AND b.mode = $2 ORDER BY p.bot_id",
        )
        .bind(user.0)
        .bind(venue.as_str())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(position_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        let zero = decimal_text(Decimal::ZERO);
        let mut cleared = Vec::new();
        for position in positions {
            if position.quantity.is_zero() && position.cost_quote.is_zero() {
                continue;
            }
            // Only these two columns: realized_pnl stays exactly as stored.
            sqlx::query(
                "UPDATE positions SET quantity = $2, cost_quote = $2, updated_at_ms = $3 \
                 WHERE bot_id = $1",
            )
            .bind(position.bot_id.0)
            .bind(&zero)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            insert_event(&mut tx, position.bot_id, now_ms, RESET_EVENT, message).await?;
            cleared.push(position.bot_id);
        }
        tx.commit().await?;
        Ok(Ok(cleared))
    }
}
