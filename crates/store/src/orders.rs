//! Write-ahead orders: a row committed with status `pending` before the order is sent, so that an
//! order whose answer was lost (a crash, a timeout) is still known and can be reconciled with
//! the exchange. [`Store::set_order_status`] records the outcomes that executed nothing; the
//! executed ones go through [`Store::record_execution`] with their trade.

use market::Side;
use rust_decimal::Decimal;
use sqlx::any::AnyRow;

use crate::Store;
use crate::bots::runnable;
use crate::error::{StoreError, StoreResult, is_unique_violation, missing_referent};
use crate::leases::Lease;
use crate::model::{BotId, OrderStatus, UserId};
use crate::row::{RowReader, decimal_text};

/// An order about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Our id for it, sent to the exchange (`newClientOrderId`); unique.
    pub client_order_id: String,
    /// The bot sending it.
    pub bot_id: BotId,
    /// The bot's owner.
    pub user_id: UserId,
    /// The symbol.
    pub symbol: String,
    /// BUY or SELL.
    pub side: Side,
    /// The base quantity asked for (positive).
    pub requested_quantity: Decimal,
    /// The open time of the candle whose close produced the signal, in ms since the epoch.
    pub signal_candle_open_ms: i64,
    /// Why it was decided: the engine's record as JSON text (its trade's event takes it).
    pub decision: Option<String>,
}

/// An order, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    /// The row's id.
    pub id: i64,
    /// Our id for it.
    pub client_order_id: String,
    /// The bot that sent it.
    pub bot_id: BotId,
    /// The bot's owner.
    pub user_id: UserId,
    /// The symbol.
    pub symbol: String,
    /// BUY or SELL.
    pub side: Side,
    /// The base quantity asked for.
    pub requested_quantity: Decimal,
    /// The open time of the signal's candle, in ms since the epoch.
    pub signal_candle_open_ms: i64,
    /// Its fate so far.
    pub status: OrderStatus,
    /// The exchange's id for it, once it executed.
    pub exchange_order_id: Option<i64>,
    /// Why it failed or is in doubt, if it did or is.
    pub error: Option<String>,
    /// When it was written, in ms since the epoch.
    pub created_at_ms: i64,
    /// When its status last changed, in ms since the epoch.
    pub updated_at_ms: i64,
    /// Why it was decided, as JSON text (null for orders written before it was kept).
    pub decision: Option<String>,
}

pub(crate) const ORDER_COLUMNS: &str = "id, client_order_id, bot_id, user_id, symbol, side, \
     requested_quantity, signal_candle_open_ms, status, exchange_order_id, error, created_at_ms, \
     updated_at_ms, decision";

pub(crate) fn order_from_row(row: &AnyRow) -> StoreResult<OrderRow> {
    let r = RowReader::new(row, "orders", "id")?;
    Ok(OrderRow {
        id: r.i64("id")?,
        client_order_id: r.string("client_order_id")?,
        bot_id: BotId(r.i64("bot_id")?),
        user_id: UserId(r.i64("user_id")?),
        symbol: r.string("symbol")?,
        side: r.parse("side")?,
        requested_quantity: r.decimal("requested_quantity")?,
        signal_candle_open_ms: r.i64("signal_candle_open_ms")?,
        status: r.parse("status")?,
        exchange_order_id: r.opt_i64("exchange_order_id")?,
        error: r.opt_string("error")?,
        created_at_ms: r.i64("created_at_ms")?,
        updated_at_ms: r.i64("updated_at_ms")?,
        decision: r.opt_string("decision")?,
    })
}

impl Store {
    /// Writes `order` with status `pending` and commits it, before the order is sent.
    /// [`StoreError::Duplicate`] when its client order id exists already,
    /// [`StoreError::NotFound`] when its bot or user does not exist.
    pub async fn insert_pending_order(
        &self,
        order: &NewOrder,
        now_ms: i64,
    ) -> StoreResult<OrderRow> {
        // Without a fence the insert always happens (or fails with an error).
        self.insert_order(order, now_ms, None)
            .await?
            .ok_or_else(|| StoreError::InvalidValue {
                field: "order",
                detail: "was not inserted".to_owned(),
            })
    }

    /// [`insert_pending_order`](Self::insert_pending_order) only while `lease` is still held
    /// (same owner and token, unexpired at `now_ms`), checked in the same statement: the fence
    /// that keeps a worker that stalled past its lease from sending an order for a bot another
    /// worker now runs. `None` when the lease was lost, or the bot was stopped or paused
    /// meanwhile (nothing written).
    pub async fn insert_pending_order_fenced(
        &self,
        order: &NewOrder,
        lease: &Lease,
        now_ms: i64,
    ) -> StoreResult<Option<OrderRow>> {
        if lease.bot_id != order.bot_id {
            return Err(StoreError::InvalidValue {
                field: "lease",
                detail: format!(
                    "is for bot {}, the order for bot {}",
                    lease.bot_id, order.bot_id
                ),
            });
        }
        self.insert_order(order, now_ms, Some(lease)).await
    }

    async fn insert_order(
        &self,
        order: &NewOrder,
        now_ms: i64,
        fence: Option<&Lease>,
    ) -> StoreResult<Option<OrderRow>> {
        if order.client_order_id.is_empty() {
            return Err(StoreError::InvalidValue {
                field: "client_order_id",
                detail: "must not be empty".to_owned(),
            });
        }
        if order.requested_quantity <= Decimal::ZERO {
            return Err(StoreError::InvalidValue {
                field: "requested_quantity",
                detail: format!("must be positive, got {}", order.requested_quantity),
            });
        }
        // The fence also requires the bot to be runnable at this instant: a pause or stop that
        // committed during the cycle stops the order here, whatever the scheduler last read.
        let condition = if fence.is_some() {
            format!(
                "WHERE EXISTS (SELECT 1 FROM bot_configs WHERE id = $2 AND lease_owner = $11 \
                 AND lease_token = $12 AND lease_expires_at_ms > $9 AND {})",
                runnable!()
            )
        } else {
            String::new()
        };
        let sql = format!(
            "INSERT INTO orders (client_order_id, bot_id, user_id, symbol, side, \
             requested_quantity, signal_candle_open_ms, status, created_at_ms, updated_at_ms, \
             decision) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10 {condition} RETURNING {ORDER_COLUMNS}"
        );
        let mut query = sqlx::query(&sql)
            .bind(&order.client_order_id)
            .bind(order.bot_id.0)
            .bind(order.user_id.0)
            .bind(&order.symbol)
            .bind(order.side.as_str())
            .bind(decimal_text(order.requested_quantity))
            .bind(order.signal_candle_open_ms)
            .bind(OrderStatus::Pending.as_str())
            .bind(now_ms)
            .bind(order.decision.as_deref());
        if let Some(lease) = fence {
            query = query.bind(&lease.owner).bind(lease.token);
        }
        let row = query.fetch_optional(&self.writer).await.map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::Duplicate {
                    what: "order with client order id",
                    key: order.client_order_id.clone(),
                }
            } else {
                // SQLite does not say which reference failed.
                let key = format!("bot {} / user {}", order.bot_id, order.user_id);
                missing_referent(error, "bot or user", key)
            }
        })?;
        row.as_ref().map(order_from_row).transpose()
    }

    /// The order whose client order id is `client_order_id`, if any.
    pub async fn order(&self, client_order_id: &str) -> StoreResult<Option<OrderRow>> {
        sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = $1"
        ))
        .bind(client_order_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(order_from_row)
        .transpose()
    }

    /// The orders whose fate is still to be learned (`pending` or `unknown`), of `bot` or of every
    /// bot, oldest first.
    pub async fn unresolved_orders(&self, bot: Option<BotId>) -> StoreResult<Vec<OrderRow>> {
        let base = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE status IN ($1, $2)");
        let query = match bot {
            Some(_) => format!("{base} AND bot_id = $3 ORDER BY id"),
            None => format!("{base} ORDER BY id"),
        };
        let mut query = sqlx::query(&query)
            .bind(OrderStatus::Pending.as_str())
            .bind(OrderStatus::Unknown.as_str());
        if let Some(bot) = bot {
            query = query.bind(bot.0);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(order_from_row)
            .collect()
    }

    /// Every order of `bot`, oldest first.
    pub async fn orders(&self, bot: BotId) -> StoreResult<Vec<OrderRow>> {
        sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE bot_id = $1 ORDER BY id"
        ))
        .bind(bot.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(order_from_row)
        .collect()
    }

    /// Records an outcome that executed nothing: `rejected`, `unknown`, `not_executed`, or
    /// `pending` again, with its error (or `None` to clear it).
    ///
    /// [`StoreError::InvalidValue`] for `filled` / `partially_filled` (those come with their
    /// trade, through [`Store::record_execution`]) and for an order that already executed: its
    /// status never changes again. [`StoreError::NotFound`] when there is no such order.
    pub async fn set_order_status(
        &self,
        client_order_id: &str,
        status: OrderStatus,
        error: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<()> {
        if status.is_executed() {
            return Err(StoreError::InvalidValue {
                field: "order status",
                detail: format!(
                    "{status} is recorded with its trade by record_execution, not set_order_status"
                ),
            });
        }
        // The condition makes the check and the write one atomic step.
        let result = sqlx::query(
            "UPDATE orders SET status = $2, error = $3, updated_at_ms = $4 \
             WHERE client_order_id = $1 AND status NOT IN ($5, $6)",
        )
        .bind(client_order_id)
        .bind(status.as_str())
        .bind(error)
        .bind(now_ms)
        .bind(OrderStatus::Filled.as_str())
        .bind(OrderStatus::PartiallyFilled.as_str())
        .execute(&self.writer)
        .await?;
        if result.rows_affected() > 0 {
            return Ok(());
        }
        match self.order(client_order_id).await? {
            None => Err(StoreError::NotFound {
                what: "order with client order id",
                key: client_order_id.to_owned(),
            }),
            Some(order) => Err(StoreError::InvalidValue {
                field: "order status",
                detail: format!(
                    "order {client_order_id} already executed ({}); it cannot become {status}",
                    order.status
                ),
            }),
        }
    }
}
