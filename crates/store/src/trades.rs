//! Trades: one row per executed order, written by [`Store::record_execution`] in one transaction
//! with the order's final status, the bot's new position and a `trade` event, so that none of
//! them can exist without the others; and [`Store::trades`], filtered and paged by id.

use market::Side;
use rust_decimal::Decimal;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::{StoreError, StoreResult, is_foreign_key_violation, unique_violation_on};
use crate::events::{TRADE_EVENT, insert_event};
use crate::model::{BotId, OrderStatus, TradeId, UserId};
use crate::orders::{ORDER_COLUMNS, OrderRow, order_from_row};
use crate::positions::{PositionRow, upsert_position};
use crate::row::{RowReader, decimal_text};

/// An executed order to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrade {
    /// The bot whose order it was.
    pub bot_id: BotId,
    /// The bot's owner.
    pub user_id: UserId,
    /// The exchange's order id (unique).
    pub binance_order_id: i64,
    /// Our client order id: its write-ahead order row must exist.
    pub client_order_id: String,
    /// The symbol.
    pub symbol: String,
    /// BUY or SELL.
    pub side: Side,
    /// The average fill price.
    pub price: Decimal,
    /// The base quantity executed.
    pub quantity_filled: Decimal,
    /// The quote quantity executed (`cummulativeQuoteQty`).
    pub quote_quantity_filled: Decimal,
    /// The commission paid.
    pub commission: Decimal,
    /// The asset the commission was paid in.
    pub commission_asset: String,
    /// The PnL this trade realised: `Some` on SELL.
    pub realized_pnl: Option<Decimal>,
    /// When the exchange executed it, in ms since the epoch.
    pub executed_at_ms: i64,
}

/// A trade, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRow {
    /// The row's id.
    pub id: TradeId,
    /// The bot whose order it was.
    pub bot_id: BotId,
    /// The bot's owner.
    pub user_id: UserId,
    /// The exchange's order id.
    pub binance_order_id: i64,
    /// Our client order id.
    pub client_order_id: String,
    /// The symbol.
    pub symbol: String,
    /// BUY or SELL.
    pub side: Side,
    /// The order type, `MARKET`.
    pub order_type: String,
    /// The average fill price.
    pub price: Decimal,
    /// The base quantity executed.
    pub quantity_filled: Decimal,
    /// The quote quantity executed.
    pub quote_quantity_filled: Decimal,
    /// The commission paid.
    pub commission: Decimal,
    /// The asset the commission was paid in.
    pub commission_asset: String,
    /// The PnL this trade realised (on SELL).
    pub realized_pnl: Option<Decimal>,
    /// When the exchange executed it, in ms since the epoch.
    pub executed_at_ms: i64,
}

/// Everything one execution changes, recorded together by [`Store::record_execution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The trade.
    pub trade: NewTrade,
    /// The order's final status: [`OrderStatus::Filled`] or [`OrderStatus::PartiallyFilled`].
    pub order_status: OrderStatus,
    /// The bot's position after this trade.
    pub position_after: PositionRow,
}

/// Which trades [`Store::trades`] returns; every field left `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TradeFilter {
    /// Only this user's trades.
    pub user: Option<UserId>,
    /// Only this bot's trades.
    pub bot: Option<BotId>,
    /// Only trades of this symbol.
    pub symbol: Option<String>,
    /// Only buys or only sells.
    pub side: Option<Side>,
    /// Only trades executed at or after this time (ms since the epoch, inclusive).
    pub from_ms: Option<i64>,
    /// Only trades executed before this time (ms since the epoch, exclusive).
    pub to_ms: Option<i64>,
    /// Only trades after this id: the last id of the previous page (a cursor).
    pub after_id: Option<TradeId>,
    /// At most this many trades.
    pub limit: Option<u32>,
}

const TRADE_COLUMNS: &str = "id, bot_config_id, user_id, binance_order_id, client_order_id, \
     symbol, side, order_type, price, quantity_filled, quote_quantity_filled, commission, \
     commission_asset, realized_pnl, executed_at_ms";

fn trade_from_row(row: &AnyRow) -> StoreResult<TradeRow> {
    let r = RowReader::new(row, "trades", "id")?;
    Ok(TradeRow {
        id: TradeId(r.i64("id")?),
        bot_id: BotId(r.i64("bot_config_id")?),
        user_id: UserId(r.i64("user_id")?),
        binance_order_id: r.i64("binance_order_id")?,
        client_order_id: r.string("client_order_id")?,
        symbol: r.string("symbol")?,
        side: r.parse("side")?,
        order_type: r.string("order_type")?,
        price: r.decimal("price")?,
        quantity_filled: r.decimal("quantity_filled")?,
        quote_quantity_filled: r.decimal("quote_quantity_filled")?,
        commission: r.decimal("commission")?,
        commission_asset: r.string("commission_asset")?,
        realized_pnl: r.opt_decimal("realized_pnl")?,
        executed_at_ms: r.i64("executed_at_ms")?,
    })
}

/// Refuses an execution that cannot be right whatever the database holds.
fn validate(execution: &Execution) -> StoreResult<()> {
    let trade = &execution.trade;
    let invalid = |field, detail: String| Err(StoreError::InvalidValue { field, detail });
    if !execution.order_status.is_executed() {
        return invalid(
            "order_status",
            format!(
                "an execution leaves its order filled or partially_filled, not {}",
                execution.order_status
            ),
        );
    }
    if execution.position_after.bot_id != trade.bot_id {
        return invalid(
            "position_after.bot_id",
            format!(
                "the position is bot {}'s but the trade is bot {}'s",
                execution.position_after.bot_id, trade.bot_id
            ),
        );
    }
    if trade.quantity_filled <= Decimal::ZERO {
        return invalid(
            "quantity_filled",
            format!(
                "an execution fills something, got {}",
                trade.quantity_filled
            ),
        );
    }
    for (field, value) in [
        ("price", trade.price),
        ("quote_quantity_filled", trade.quote_quantity_filled),
        ("commission", trade.commission),
        ("position_after.quantity", execution.position_after.quantity),
    ] {
        if value < Decimal::ZERO {
            return invalid(field, format!("must not be negative, got {value}"));
        }
    }
    Ok(())
}

/// Checks that the trade is the execution of `order`, and that `order` did not execute as
/// another exchange order already.
fn check_matches_order(trade: &NewTrade, order: &OrderRow) -> StoreResult<()> {
    let mismatch = |what: &str, order_has: String, trade_has: String| {
        Err(StoreError::InvalidValue {
            field: "trade",
            detail: format!(
                "order {} has {what} {order_has} but its trade has {trade_has}",
                order.client_order_id
            ),
        })
    };
    if order.bot_id != trade.bot_id {
        return mismatch("bot", order.bot_id.to_string(), trade.bot_id.to_string());
    }
    if order.user_id != trade.user_id {
        return mismatch("user", order.user_id.to_string(), trade.user_id.to_string());
    }
    if order.symbol != trade.symbol {
        return mismatch("symbol", order.symbol.clone(), trade.symbol.clone());
    }
    if order.side != trade.side {
        return mismatch("side", order.side.to_string(), trade.side.to_string());
    }
    if let Some(exchange_order_id) = order.exchange_order_id
        && exchange_order_id != trade.binance_order_id
    {
        return mismatch(
            "exchange order id",
            exchange_order_id.to_string(),
            trade.binance_order_id.to_string(),
        );
    }
    Ok(())
}

/// The `trade` event's message.
fn trade_message(trade: &NewTrade) -> String {
    let mut message = format!(
        "{} {} {} at {} for {} (commission {} {}), exchange order {}, client order {}",
        trade.side,
        trade.quantity_filled.normalize(),
        trade.symbol,
        trade.price.normalize(),
        trade.quote_quantity_filled.normalize(),
        trade.commission.normalize(),
        trade.commission_asset,
        trade.binance_order_id,
        trade.client_order_id,
    );
    if let Some(pnl) = trade.realized_pnl {
        message.push_str(&format!(", realised PnL {}", pnl.normalize()));
    }
    message
}

/// One value bound to a `trades` filter placeholder.
enum FilterArg {
    Int(i64),
    Text(String),
}

impl Store {
    /// Records an execution in one transaction: inserts the trade, sets its order's status and
    /// exchange order id, sets the bot's position to `position_after`, and appends a `trade`
    /// event. Returns the trade and `true`.
    ///
    /// Idempotent: when the trade of this client order exists already (the execution was
    /// recorded before, by this or another process), nothing changes and that trade is returned
    /// with `false`.
    ///
    /// Fails, writing nothing, when the order row does not exist ([`StoreError::NotFound`]), when
    /// the trade does not match it (bot, user, symbol, side, or another exchange order id:
    /// [`StoreError::InvalidValue`]), when the order already has another trade, or when the
    /// exchange order id is recorded for another client order of the same venue and symbol
    /// ([`StoreError::Duplicate`]).
    pub async fn record_execution(
        &self,
        execution: &Execution,
        now_ms: i64,
    ) -> StoreResult<(TradeRow, bool)> {
        validate(execution)?;
        let trade = &execution.trade;
        if let Some(existing) = self
            .trade_by_client_order_id(&trade.client_order_id)
            .await?
        {
            return same_execution(existing, trade).map(|row| (row, false));
        }
        match self.insert_execution(execution, now_ms).await {
            Ok(row) => Ok((row, true)),
            Err(error @ StoreError::Duplicate { .. }) => {
                // Another process may have recorded it between our check and our insert.
                match self
                    .trade_by_client_order_id(&trade.client_order_id)
                    .await?
                {
                    Some(existing) => same_execution(existing, trade).map(|row| (row, false)),
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The writes of [`Store::record_execution`], in one transaction that rolls back (when
    /// dropped) on any error.
    async fn insert_execution(&self, execution: &Execution, now_ms: i64) -> StoreResult<TradeRow> {
        let trade = &execution.trade;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO trades (bot_config_id, user_id, mode, binance_order_id, \
             client_order_id, symbol, side, price, quantity_filled, quote_quantity_filled, \
             commission, commission_asset, realized_pnl, executed_at_ms) \
             VALUES ($1, $2, COALESCE((SELECT mode FROM bot_configs WHERE id = $1), ''), \
             $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             RETURNING {TRADE_COLUMNS}"
        ))
        .bind(trade.bot_id.0)
        .bind(trade.user_id.0)
        .bind(trade.binance_order_id)
        .bind(&trade.client_order_id)
        .bind(&trade.symbol)
        .bind(trade.side.as_str())
        .bind(decimal_text(trade.price))
        .bind(decimal_text(trade.quantity_filled))
        .bind(decimal_text(trade.quote_quantity_filled))
        .bind(decimal_text(trade.commission))
        .bind(&trade.commission_asset)
        .bind(trade.realized_pnl.map(decimal_text))
        .bind(trade.executed_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|error| {
            if unique_violation_on(&error, "binance_order_id") {
                StoreError::Duplicate {
                    what: "trade with exchange order id",
                    key: format!("{} {}", trade.symbol, trade.binance_order_id),
                }
            } else if unique_violation_on(&error, "client_order_id") {
                StoreError::Duplicate {
                    what: "trade for client order id",
                    key: trade.client_order_id.clone(),
                }
            } else if is_foreign_key_violation(&error) {
                StoreError::NotFound {
                    what: "bot or user",
                    key: format!("bot {} / user {}", trade.bot_id, trade.user_id),
                }
            } else {
                error.into()
            }
        })?;
        let stored = trade_from_row(&row)?;

        let order = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = $1"
        ))
        .bind(&trade.client_order_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "order with client order id",
            key: trade.client_order_id.clone(),
        })?;
        check_matches_order(trade, &order_from_row(&order)?)?;
        sqlx::query(
            "UPDATE orders SET status = $2, exchange_order_id = $3, error = NULL, \
             updated_at_ms = $4 WHERE client_order_id = $1",
        )
        .bind(&trade.client_order_id)
        .bind(execution.order_status.as_str())
        .bind(trade.binance_order_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        upsert_position(&mut tx, &execution.position_after).await?;
        insert_event(
            &mut tx,
            trade.bot_id,
            now_ms,
            TRADE_EVENT,
            &trade_message(trade),
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn trade_by_client_order_id(
        &self,
        client_order_id: &str,
    ) -> StoreResult<Option<TradeRow>> {
        sqlx::query(&format!(
            "SELECT {TRADE_COLUMNS} FROM trades WHERE client_order_id = $1"
        ))
        .bind(client_order_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(trade_from_row)
        .transpose()
    }

    /// The trades `filter` selects, by id ascending.
    pub async fn trades(&self, filter: &TradeFilter) -> StoreResult<Vec<TradeRow>> {
        let mut conditions: Vec<String> = Vec::new();
        let mut args: Vec<FilterArg> = Vec::new();
        let mut add = |condition: &str, arg: FilterArg| {
            args.push(arg);
            conditions.push(format!("{condition} ${}", args.len()));
        };
        if let Some(user) = filter.user {
            add("user_id =", FilterArg::Int(user.0));
        }
        if let Some(bot) = filter.bot {
            add("bot_config_id =", FilterArg::Int(bot.0));
        }
        if let Some(symbol) = &filter.symbol {
            add("symbol =", FilterArg::Text(symbol.clone()));
        }
        if let Some(side) = filter.side {
            add("side =", FilterArg::Text(side.as_str().to_owned()));
        }
        if let Some(from_ms) = filter.from_ms {
            add("executed_at_ms >=", FilterArg::Int(from_ms));
        }
        if let Some(to_ms) = filter.to_ms {
            add("executed_at_ms <", FilterArg::Int(to_ms));
        }
        if let Some(after) = filter.after_id {
            add("id >", FilterArg::Int(after.0));
        }
        let mut sql = format!("SELECT {TRADE_COLUMNS} FROM trades");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY id");
        if let Some(limit) = filter.limit {
            args.push(FilterArg::Int(i64::from(limit)));
            sql.push_str(&format!(" LIMIT ${}", args.len()));
        }
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = match arg {
                FilterArg::Int(value) => query.bind(value),
                FilterArg::Text(value) => query.bind(value),
            };
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(trade_from_row)
            .collect()
    }
}

/// `existing` (the trade of `trade`'s client order), when it records the same exchange order: a
/// client order recorded under another exchange order is an error to report, not a repeat to
/// swallow.
fn same_execution(existing: TradeRow, trade: &NewTrade) -> StoreResult<TradeRow> {
    if existing.binance_order_id == trade.binance_order_id && existing.symbol == trade.symbol {
        Ok(existing)
    } else {
        Err(StoreError::Duplicate {
            what: "trade for client order id",
            key: format!(
                "{} (recorded as exchange order {} {}, now given as {} {})",
                trade.client_order_id,
                existing.symbol,
                existing.binance_order_id,
                trade.symbol,
                trade.binance_order_id
            ),
        })
    }
}
