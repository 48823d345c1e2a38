//! Trades: one row per executed order, written by [`Store::record_execution`] in one transaction
//! with the order's final status, the bot's new position and a `trade` event, so that none of
//! them can exist without the others; [`Store::trades`], filtered and paged by id; and
//! [`Performance`], the results (realised PnL, fees, win rate, drawdown) of a set of trades.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use market::Side;
use rust_decimal::Decimal;
use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult, missing_referent, unique_violation_on};
use crate::events::{LATE_EXECUTION_EVENT, NewEvent, TRADE_EVENT, insert_event, insert_new_event};
use crate::model::{BotId, NotifyEvent, OrderStatus, TradeId, UserId};
use crate::notifications::enqueue_for_bot;
use crate::orders::{ORDER_COLUMNS, OrderRow, order_from_row};
use crate::positions::{PositionRow, advance_position};
use crate::row::{RowReader, decimal_text};
use crate::{Backend, Store};

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
    /// The bot's position the trade was applied to, as read from [`Store::position`]: the
    /// execution is written only while the stored position is still this one.
    pub position_before: PositionRow,
    /// The bot's position after this trade.
    pub position_after: PositionRow,
}

/// A trade with what its order row says of the decision that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalTrade {
    /// The trade.
    pub trade: TradeRow,
    /// The open time of the candle whose signal sent its order.
    pub signal_candle_open_ms: Option<i64>,
    /// Why the order was decided (JSON text), as the engine recorded it.
    pub decision: Option<String>,
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

/// The columns [`Store::performance`] reads: what [`PerformanceTrade`] holds, and the id for
/// errors.
const PERFORMANCE_COLUMNS: &str =
    "id, bot_config_id, symbol, side, price, commission, commission_asset, realized_pnl";

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
    for (field, position) in [
        ("position_before.bot_id", &execution.position_before),
        ("position_after.bot_id", &execution.position_after),
    ] {
        if position.bot_id != trade.bot_id {
            return invalid(
                field,
                format!(
                    "the position is bot {}'s but the trade is bot {}'s",
                    position.bot_id, trade.bot_id
                ),
            );
        }
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
    /// exchange order id, moves the bot's position from `position_before` to `position_after`,
    /// and appends a `trade` event (and a `late_execution` one when the order had been counted
    /// as not executed). Returns the trade and `true`.
    ///
    /// Idempotent: when the trade of this client order exists already (the execution was
    /// recorded before, by this or another process), nothing changes and that trade is returned
    /// with `false`.
    ///
    /// Fails, writing nothing, when the order row does not exist ([`StoreError::NotFound`]), when
    /// the trade does not match it (bot, user, symbol, side, or another exchange order id:
    /// [`StoreError::InvalidValue`]), when the order already has another trade, or when the
    /// exchange order id is recorded for another client order of the same venue and symbol
    /// ([`StoreError::Duplicate`]), and when the bot's position is no longer `position_before`
    /// ([`StoreError::Changed`]: another process recorded a trade of the bot since it was
    /// read; apply this one to the position as it is now).
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
            } else {
                let key = format!("bot {} / user {}", trade.bot_id, trade.user_id);
                missing_referent(error, "bot or user", key)
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
        let order = order_from_row(&order)?;
        check_matches_order(trade, &order)?;
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
        advance_position(
            &mut tx,
            &execution.position_before,
            &execution.position_after,
        )
        .await?;
        let event = NewEvent {
            bot_id: trade.bot_id,
            at_ms: now_ms,
            kind: TRADE_EVENT.to_owned(),
            message: trade_message(trade),
            candle_open_ms: Some(order.signal_candle_open_ms),
            detail: order.decision.clone(),
        };
        insert_new_event(&mut tx, &event).await?;
        enqueue_for_bot(
            &mut tx,
            trade.bot_id,
            NotifyEvent::Trade,
            stored.id.0,
            &format!("trade-{}", stored.id),
            now_ms,
        )
        .await?;
        if order.status == OrderStatus::NotExecuted {
            // Counted as never sent, yet executed: the exchange's word wins, and people are told.
            insert_event(
                &mut tx,
                trade.bot_id,
                now_ms,
                LATE_EXECUTION_EVENT,
                &format!(
                    "order {} had been counted as not executed, but the exchange executed it: \
                     its trade is recorded now ({})",
                    trade.client_order_id,
                    order.error.as_deref().unwrap_or("no reason recorded")
                ),
            )
            .await?;
        }
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

    /// Trade `id`, whoever owns it (a notification's sender builds its message from it).
    pub async fn trade(&self, id: TradeId) -> StoreResult<Option<TradeRow>> {
        sqlx::query(&format!("SELECT {TRADE_COLUMNS} FROM trades WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(trade_from_row)
            .transpose()
    }

    /// The trades `filter` selects, by id ascending.
    pub async fn trades(&self, filter: &TradeFilter) -> StoreResult<Vec<TradeRow>> {
        let (where_clause, mut args) = filter_clause(filter);
        let mut sql = format!("SELECT {TRADE_COLUMNS} FROM trades{where_clause} ORDER BY id");
        if let Some(limit) = filter.limit {
            args.push(FilterArg::Int(i64::from(limit)));
            sql.push_str(&format!(" LIMIT ${}", args.len()));
        }
        bind_all(sqlx::query(&sql), args)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(trade_from_row)
            .collect()
    }

    /// The newest `count` trades `filter` selects (its `after_id` applies, its `limit` does not),
    /// oldest first: the tail of [`Store::trades`] without reading what comes before it.
    pub async fn latest_trades(
        &self,
        filter: &TradeFilter,
        count: u32,
    ) -> StoreResult<Vec<TradeRow>> {
        let (where_clause, mut args) = filter_clause(filter);
        args.push(FilterArg::Int(i64::from(count)));
        let sql = format!(
            "SELECT {TRADE_COLUMNS} FROM trades{where_clause} ORDER BY id DESC LIMIT ${}",
            args.len()
        );
        let mut trades = bind_all(sqlx::query(&sql), args)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(trade_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        trades.reverse();
        Ok(trades)
    }

    /// The newest trade of each of `user`'s bots that has traded, by bot id: what a list of
    /// bots shows as their last trade, in one query.
    pub async fn last_trade_per_bot(&self, user: UserId) -> StoreResult<Vec<TradeRow>> {
        sqlx::query(&format!(
            "SELECT {TRADE_COLUMNS} FROM trades WHERE id IN \
             (SELECT MAX(id) FROM trades WHERE user_id = $1 GROUP BY bot_config_id) \
             ORDER BY bot_config_id"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(trade_from_row)
        .collect()
    }

    /// The newest `count` trades of `bot` executed from `from_ms` on, oldest first, each with
    /// what its write-ahead order row says of its decision (none for a trade without one, which
    /// only an import could make): what a chart marks.
    pub async fn trades_with_signal_candles(
        &self,
        bot: BotId,
        from_ms: i64,
        count: u32,
    ) -> StoreResult<Vec<SignalTrade>> {
        let sql = format!(
            "SELECT {TRADE_COLUMNS}, \
             (SELECT o.signal_candle_open_ms FROM orders o \
              WHERE o.client_order_id = trades.client_order_id) AS signal_candle_open_ms, \
             (SELECT o.decision FROM orders o \
              WHERE o.client_order_id = trades.client_order_id) AS decision \
             FROM trades WHERE bot_config_id = $1 AND executed_at_ms >= $2 ORDER BY id DESC LIMIT $3"
        );
        let mut trades = sqlx::query(&sql)
            .bind(bot.0)
            .bind(from_ms)
            .bind(i64::from(count))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let reader = RowReader::new(row, "trades", "id")?;
                Ok(SignalTrade {
                    trade: trade_from_row(row)?,
                    signal_candle_open_ms: reader.opt_i64("signal_candle_open_ms")?,
                    decision: reader.opt_string("decision")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        trades.reverse();
        Ok(trades)
    }

    /// The [`Performance`] of the trades `filter` selects (its `after_id` applies, its `limit`
    /// does not), over all of them and per bot. The trades are read as a stream in execution
    /// order and counted as they come, so memory does not grow with their number (an account
    /// with a million trades would otherwise hold them all at once, for every call).
    pub async fn performance(&self, filter: &TradeFilter) -> StoreResult<TradesPerformance> {
        let (where_clause, args) = filter_clause(filter);
        // Only the columns the results need: on a long history the time goes into turning each
        // value into an owned one (measured on 1,000,000 trades: 5.6 s, from 8.9 s with every
        // column; see docs/BENCHMARKS.md).
        let sql = format!(
            "SELECT {PERFORMANCE_COLUMNS} FROM trades{where_clause} ORDER BY executed_at_ms, id"
        );
        let mut total = PerformanceBuilder::default();
        let mut per_bot: BTreeMap<BotId, PerformanceBuilder> = BTreeMap::new();
        let mut rows = bind_all(sqlx::query(&sql), args).fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let r = RowReader::new(&row, "trades", "id")?;
            let trade = PerformanceTrade {
                bot_id: BotId(r.i64("bot_config_id")?),
                symbol: r.text("symbol")?,
                side: r.parse("side")?,
                price: r.decimal("price")?,
                commission: r.decimal("commission")?,
                commission_asset: r.text("commission_asset")?,
                realized_pnl: r.opt_decimal("realized_pnl")?,
            };
            total.add(&trade);
            per_bot.entry(trade.bot_id).or_default().add(&trade);
        }
        Ok(TradesPerformance {
            total: total.finish(),
            per_bot: per_bot
                .into_iter()
                .map(|(bot, builder)| (bot, builder.finish()))
                .collect(),
        })
    }

    /// One page of the trades `filter` selects (by id in `order`, at most `page_size`, after
    /// the filter's `after_id` in that order; the filter's own `limit` is ignored), serialised
    /// by the database as a JSON array of [`TRADE_JSON_KEYS`] objects.
    ///
    /// This is the API's hot read: made in SQL, a page crosses from the database as one text
    /// value instead of a hundred rows of fifteen values each, decoded, re-encoded and
    /// serialised again (measured: several times the requests per second; see
    /// docs/BENCHMARKS.md). Decimals are the stored (canonical) text, which is what
    /// [`TradeRow`]'s `Decimal`s print as, so the objects equal those a serialiser makes from
    /// [`Store::trades`]'s rows; the difference is that a corrupt decimal is shown as stored
    /// rather than reported.
    pub async fn trade_page_json(
        &self,
        filter: &TradeFilter,
        page_size: u32,
        order: PageOrder,
    ) -> StoreResult<TradePageJson> {
        let (mut where_clause, mut args) = filter_clause(&TradeFilter {
            after_id: None,
            ..filter.clone()
        });
        let (by_id, beyond, last) = match order {
            PageOrder::OldestFirst => ("id", ">", "MAX(id)"),
            PageOrder::NewestFirst => ("id DESC", "<", "MIN(id)"),
        };
        if let Some(after) = filter.after_id {
            args.push(FilterArg::Int(after.0));
            let condition = format!("id {beyond} ${}", args.len());
            where_clause = if where_clause.is_empty() {
                format!(" WHERE {condition}")
            } else {
                format!("{where_clause} AND {condition}")
            };
        }
        // The page size is written into the statement, not bound: a bound LIMIT leaves
        // PostgreSQL's cached generic plan guessing a tenth of the table, and sizing the
        // aggregate's sort for it (measured: most of the query's time). It is a number, so this
        // is no injection, and a handful of sizes in use make a handful of cached statements.
        let limit = page_size;
        // The page's rows, their columns named as the JSON keys.
        let columns: Vec<String> = TRADE_JSON_KEYS
            .iter()
            .map(|(key, column)| format!("{column} AS {key}"))
            .collect();
        let array = match self.backend {
            // One object per row, in the subquery's order: SQLite runs a FROM subquery that has
            // a LIMIT as a co-routine yielding rows in its ORDER BY order, which is the order
            // the aggregate sees them in. An ORDER BY inside the aggregate would say so
            // explicitly, at the price of sorting the finished objects again (measured: a
            // fifth of the request rate).
            Backend::Sqlite => {
                let arguments: Vec<String> = TRADE_JSON_KEYS
                    .iter()
                    .map(|(key, _)| format!("'{key}', {key}"))
                    .collect();
                format!("json_group_array(json_object({}))", arguments.join(", "))
            }
            // Each row as a whole: PostgreSQL's record-to-JSON caches the column types, where
            // json_build_object looks up every argument's (measured: twice the queries per
            // second). The ORDER BY costs little on sorted input.
            Backend::Postgres => format!("json_agg(selected ORDER BY {by_id})::TEXT"),
        };
        // `next`: the id after the page's, if any (an index probe), so that the last page never
        // hands out a cursor to an empty one.
        let sql = format!(
            "SELECT {array} AS page, COUNT(*) AS fetched, {last} AS last_id, \
                 (SELECT id FROM trades{where_clause} ORDER BY {by_id} LIMIT 1 OFFSET {limit}) AS next \
             FROM (SELECT {} FROM trades{where_clause} ORDER BY {by_id} LIMIT {limit}) AS selected",
            columns.join(", ")
        );
        let row = bind_all(sqlx::query(&sql), args)
            .fetch_one(&self.pool)
            .await?;
        // The aggregate row has no id: errors name it by its row count.
        let reader = RowReader::new(&row, "trades", "fetched")?;
        let fetched = reader.i64("fetched")?;
        let last_id = reader.opt_i64("last_id")?.map(TradeId);
        let more = reader.opt_i64("next")?.is_some();
        Ok(TradePageJson {
            // PostgreSQL's json_agg of no rows is NULL (SQLite's json_group_array is `[]`).
            trades: reader
                .opt_string("page")?
                .unwrap_or_else(|| "[]".to_owned()),
            count: usize::try_from(fetched).unwrap_or(0),
            next_after: last_id.filter(|_| more),
        })
    }
}

/// The keys of a trade's JSON object in [`Store::trade_page_json`], each with the `trades`
/// column it shows, in order. Ids and times are JSON numbers, `realized_pnl` is `null` on BUYs,
/// everything else is a string (decimals as their exact text).
pub const TRADE_JSON_KEYS: [(&str, &str); 14] = [
    ("id", "id"),
    ("bot_id", "bot_config_id"),
    ("symbol", "symbol"),
    ("side", "side"),
    ("order_type", "order_type"),
    ("price", "price"),
    ("quantity_filled", "quantity_filled"),
    ("quote_quantity_filled", "quote_quantity_filled"),
    ("commission", "commission"),
    ("commission_asset", "commission_asset"),
    ("realized_pnl", "realized_pnl"),
    ("binance_order_id", "binance_order_id"),
    ("client_order_id", "client_order_id"),
    ("executed_at_ms", "executed_at_ms"),
];

/// What [`Store::performance`] computes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TradesPerformance {
    /// Over all the selected trades.
    pub total: Performance,
    /// Per bot that has selected trades (a bot without any is absent).
    pub per_bot: BTreeMap<BotId, Performance>,
}

/// The order of [`Store::trade_page_json`]'s pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageOrder {
    /// By id ascending: in execution order, what exports and replays read.
    #[default]
    OldestFirst,
    /// By id descending: the latest first, what a person looking at a table reads.
    NewestFirst,
}

/// A page of trades as [`Store::trade_page_json`] makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradePageJson {
    /// The page's trades: a JSON array of objects with [`TRADE_JSON_KEYS`].
    pub trades: String,
    /// How many trades the array holds.
    pub count: usize,
    /// The page's last trade's id when more trades follow (the next page's `after_id`), else
    /// `None`.
    pub next_after: Option<TradeId>,
}

/// The ` WHERE ...` clause (empty when `filter` selects everything) of `filter`'s conditions but
/// its limit, and the values of its placeholders `$1..`.
fn filter_clause(filter: &TradeFilter) -> (String, Vec<FilterArg>) {
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
    if conditions.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), args)
    }
}

/// `query` with `args` bound to its placeholders in order.
fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: Vec<FilterArg>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for arg in args {
        query = match arg {
            FilterArg::Int(value) => query.bind(value),
            FilterArg::Text(value) => query.bind(value),
        };
    }
    query
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

/// Whether a commission paid in some asset is in the trade's quote asset, its base asset, or a
/// third asset (BNB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeeAsset {
    Quote,
    Base,
    Other,
}

/// Which asset of `symbol` a commission in `asset` is: the quote when the symbol ends with it, the
/// base when the symbol starts with it, another asset otherwise. A trade row does not record its
/// symbol's base and quote assets; Binance spells every spot symbol as base then quote, so the
/// affixes tell them apart (the quote is tried first, so that `BNBUSDT` paying in `USDT` is quote
/// and paying in `BNB` is base).
fn fee_asset(symbol: &str, asset: &str) -> FeeAsset {
    if asset.is_empty() || symbol.len() <= asset.len() {
        FeeAsset::Other
    } else if symbol.ends_with(asset) {
        FeeAsset::Quote
    } else if symbol.starts_with(asset) {
        FeeAsset::Base
    } else {
        FeeAsset::Other
    }
}

/// Digits kept in the ratios of [`Performance`] ([`Performance::win_rate`],
/// [`Performance::max_drawdown_share`]).
pub const RATIO_DECIMAL_PLACES: u32 = 6;

/// `part / whole` rounded half away from zero to [`RATIO_DECIMAL_PLACES`]; `whole` must not be 0.
fn ratio(part: Decimal, whole: Decimal) -> Decimal {
    (part / whole)
        .round_dp_with_strategy(
            RATIO_DECIMAL_PLACES,
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        )
        .normalize()
}

/// The results of a set of trades, computed by [`Performance::of`] or [`Store::performance`].
/// Amounts are in the quote asset of the trades' symbols: figures over trades of symbols with
/// different quote assets add unlike amounts, so they are only meaningful per quote asset (per
/// bot, a bot trading one symbol).
///
/// *Realised equity* is the running sum of the SELLs' realised PnL in execution order (time, then
/// trade id), starting from 0; BUYs realise nothing. Its *max drawdown* is the largest drop from a
/// running peak (the start, 0, counts as a peak) to a later value: `max(peak_so_far - equity)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Performance {
    /// The PnL the SELLs realised, summed.
    pub realized_pnl: Decimal,
    /// Commissions valued in quote: those paid in the quote asset as they are, those paid in the
    /// base asset times the trade's price.
    pub fees_quote: Decimal,
    /// Commissions paid in any other asset (BNB), summed per asset, not valued: their price at
    /// the time is not recorded. Assets whose commissions were all zero are left out.
    pub fees_other: BTreeMap<String, Decimal>,
    /// How many BUY trades.
    pub buys: u64,
    /// How many SELL trades.
    pub sells: u64,
    /// How many SELLs realised a profit (`realized_pnl > 0`).
    pub winning_sells: u64,
    /// `winning_sells / sells`, rounded to [`RATIO_DECIMAL_PLACES`]; `None` without SELLs.
    pub win_rate: Option<Decimal>,
    /// The max drawdown of realised equity (see the type's documentation), 0 when equity never
    /// fell.
    pub max_drawdown: Decimal,
    /// [`Performance::max_drawdown`] as a share of the peak it fell from, rounded to
    /// [`RATIO_DECIMAL_PLACES`] (0.25 is a quarter of the peak); `None` when there was no drawdown
    /// or its peak was not positive (a fall from 0 or below is no share of anything).
    pub max_drawdown_share: Option<Decimal>,
}

impl Performance {
    /// The results of `trades`, in any order (they are put in execution order here).
    ///
    /// Sums saturate instead of overflowing: no real account comes near 7.9e28, and a corrupt row
    /// must not panic whoever asks.
    pub fn of<'t>(trades: impl IntoIterator<Item = &'t TradeRow>) -> Performance {
        let mut trades: Vec<&TradeRow> = trades.into_iter().collect();
        trades.sort_by_key(|trade| (trade.executed_at_ms, trade.id));
        let mut builder = PerformanceBuilder::default();
        for trade in trades {
            builder.add(&PerformanceTrade::from(trade));
        }
        builder.finish()
    }

    /// How many trades: [`Performance::buys`] plus [`Performance::sells`].
    pub fn trades(&self) -> u64 {
        self.buys + self.sells
    }
}

/// What [`Performance`] needs of a trade.
#[derive(Debug, Clone, Copy)]
struct PerformanceTrade<'t> {
    bot_id: BotId,
    symbol: &'t str,
    side: Side,
    price: Decimal,
    commission: Decimal,
    commission_asset: &'t str,
    realized_pnl: Option<Decimal>,
}

impl<'t> From<&'t TradeRow> for PerformanceTrade<'t> {
    fn from(trade: &'t TradeRow) -> Self {
        PerformanceTrade {
            bot_id: trade.bot_id,
            symbol: &trade.symbol,
            side: trade.side,
            price: trade.price,
            commission: trade.commission,
            commission_asset: &trade.commission_asset,
            realized_pnl: trade.realized_pnl,
        }
    }
}

/// [`Performance`] computed one trade at a time, so that any number of trades can be read as a
/// stream: `add` them in execution order (time, then trade id), then `finish`.
#[derive(Debug, Clone, Default)]
struct PerformanceBuilder {
    result: Performance,
    /// Realised equity so far.
    equity: Decimal,
    /// Its highest value so far (the start, 0, included).
    peak: Decimal,
    /// The peak that the largest drawdown so far fell from.
    drawdown_peak: Option<Decimal>,
}

impl PerformanceBuilder {
    /// Counts `trade`, the next in execution order.
    fn add(&mut self, trade: &PerformanceTrade<'_>) {
        if !trade.commission.is_zero() {
            match fee_asset(trade.symbol, trade.commission_asset) {
                FeeAsset::Quote => {
                    self.result.fees_quote =
                        self.result.fees_quote.saturating_add(trade.commission);
                }
                FeeAsset::Base => {
                    let valued = trade.commission.saturating_mul(trade.price);
                    self.result.fees_quote = self.result.fees_quote.saturating_add(valued);
                }
                FeeAsset::Other => {
                    let total = self
                        .result
                        .fees_other
                        .entry(trade.commission_asset.to_owned())
                        .or_default();
                    *total = total.saturating_add(trade.commission);
                }
            }
        }
        match trade.side {
            Side::Buy => self.result.buys += 1,
            Side::Sell => {
                self.result.sells += 1;
                let pnl = trade.realized_pnl.unwrap_or(Decimal::ZERO);
                if pnl > Decimal::ZERO {
                    self.result.winning_sells += 1;
                }
                self.equity = self.equity.saturating_add(pnl);
                self.peak = self.peak.max(self.equity);
                let drawdown = self.peak.saturating_sub(self.equity);
                if drawdown > self.result.max_drawdown {
                    self.result.max_drawdown = drawdown;
                    self.drawdown_peak = Some(self.peak);
                }
            }
        }
    }

    /// The results of the trades added.
    fn finish(self) -> Performance {
        let mut result = self.result;
        result.realized_pnl = self.equity.normalize();
        result.fees_quote = result.fees_quote.normalize();
        for total in result.fees_other.values_mut() {
            *total = total.normalize();
        }
        result.max_drawdown = result.max_drawdown.normalize();
        if result.sells > 0 {
            result.win_rate = Some(ratio(
                Decimal::from(result.winning_sells),
                Decimal::from(result.sells),
            ));
        }
        result.max_drawdown_share = self
            .drawdown_peak
            .filter(|peak| *peak > Decimal::ZERO)
            .map(|peak| ratio(result.max_drawdown, peak));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    /// Trade `id` of bot 1 on BTCUSDT at `at_ms`: a SELL when `pnl` is given, else a BUY.
    fn trade(id: i64, at_ms: i64, pnl: Option<&str>, commission: &str, asset: &str) -> TradeRow {
        TradeRow {
            id: TradeId(id),
            bot_id: BotId(1),
            user_id: UserId(1),
            binance_order_id: id,
            client_order_id: format!("c{id}"),
            symbol: "BTCUSDT".to_owned(),
            side: if pnl.is_some() { Side::Sell } else { Side::Buy },
            order_type: "MARKET".to_owned(),
            price: d("20000"),
            quantity_filled: d("0.01"),
            quote_quantity_filled: d("200"),
            commission: d(commission),
            commission_asset: asset.to_owned(),
            realized_pnl: pnl.map(d),
            executed_at_ms: at_ms,
        }
    }

    #[test]
    fn no_trades_is_all_zero_and_no_ratios() {
        let performance = Performance::of(&[]);
        assert_eq!(performance, Performance::default());
        assert_eq!(performance.trades(), 0);
        assert_eq!(performance.win_rate, None);
        assert_eq!(performance.max_drawdown_share, None);
    }

    #[test]
    fn fees_are_valued_in_quote_and_third_assets_kept_apart() {
        let trades = [
            trade(1, 10, None, "0.2", "USDT"),
            // 0.00001 BTC at 20000 = 0.2 USDT.
            trade(2, 20, Some("1"), "0.00001", "BTC"),
            trade(3, 30, None, "0.0005", "BNB"),
            trade(4, 40, Some("2"), "0.00025", "BNB"),
            trade(5, 50, None, "0", "ETH"),
        ];
        let performance = Performance::of(&trades);
        assert_eq!(performance.fees_quote, d("0.4"));
        assert_eq!(
            performance.fees_other,
            BTreeMap::from([("BNB".to_owned(), d("0.00075"))])
        );
        assert_eq!((performance.buys, performance.sells), (3, 2));
        assert_eq!(performance.trades(), 5);
    }

    #[test]
    fn the_commission_asset_is_told_by_the_symbol_affixes() {
        assert_eq!(fee_asset("BTCUSDT", "USDT"), FeeAsset::Quote);
        assert_eq!(fee_asset("BTCUSDT", "BTC"), FeeAsset::Base);
        assert_eq!(fee_asset("BTCUSDT", "BNB"), FeeAsset::Other);
        assert_eq!(fee_asset("BNBUSDT", "BNB"), FeeAsset::Base);
        assert_eq!(fee_asset("BNBBTC", "BTC"), FeeAsset::Quote);
        assert_eq!(fee_asset("BTCUSDT", "BTCUSDT"), FeeAsset::Other);
        assert_eq!(fee_asset("BTCUSDT", ""), FeeAsset::Other);
    }

    #[test]
    fn pnl_win_rate_and_drawdown_by_hand() {
        // Equity after each SELL: 10, 4, 9, 1, 13, 12. Peaks: 10, 10, 10, 10, 13, 13.
        // Drawdowns: 0, 6, 1, 9, 0, 1: the largest is 9, from the peak 10 (0.9 of it).
        // Given out of order: execution order is by time, not by id.
        let trades = [
            trade(6, 60, Some("-1"), "0", "USDT"),
            trade(1, 10, Some("10"), "0", "USDT"),
            trade(2, 20, Some("-6"), "0", "USDT"),
            trade(7, 15, None, "0", "USDT"),
            trade(3, 30, Some("5"), "0", "USDT"),
            trade(4, 40, Some("-8"), "0", "USDT"),
            trade(5, 50, Some("12"), "0", "USDT"),
        ];
        let performance = Performance::of(&trades);
        assert_eq!(performance.realized_pnl, d("12"));
        assert_eq!((performance.buys, performance.sells), (1, 6));
        assert_eq!(performance.winning_sells, 3);
        assert_eq!(performance.win_rate, Some(d("0.5")));
        assert_eq!(performance.max_drawdown, d("9"));
        assert_eq!(performance.max_drawdown_share, Some(d("0.9")));
    }

    #[test]
    fn a_fall_from_zero_has_no_share_and_ratios_round_half_away_from_zero() {
        // Equity: -3, -1, -4: peak 0 throughout, drawdowns 3, 1, 4. Wins: 1 of 3.
        let trades = [
            trade(1, 10, Some("-3"), "0", "USDT"),
            trade(2, 20, Some("2"), "0", "USDT"),
            trade(3, 30, Some("-3"), "0", "USDT"),
        ];
        let performance = Performance::of(&trades);
        assert_eq!(performance.realized_pnl, d("-4"));
        assert_eq!(performance.max_drawdown, d("4"));
        assert_eq!(performance.max_drawdown_share, None);
        assert_eq!(performance.win_rate, Some(d("0.333333")));
        // 2 of 3: 0.6666666... rounds up.
        let trades = [
            trade(1, 10, Some("1"), "0", "USDT"),
            trade(2, 20, Some("1"), "0", "USDT"),
            trade(3, 30, Some("0"), "0", "USDT"),
        ];
        let performance = Performance::of(&trades);
        assert_eq!(performance.win_rate, Some(d("0.666667")));
        // A zero PnL is not a win, and equity that never falls has no drawdown.
        assert_eq!(performance.max_drawdown, Decimal::ZERO);
        assert_eq!(performance.max_drawdown_share, None);
    }

    #[test]
    fn the_largest_drop_wins_over_the_largest_share() {
        // Equity: 2, 1 (drop 1 from 2: half), 100, 80 (drop 20 from 100: a fifth).
        let trades = [
            trade(1, 10, Some("2"), "0", "USDT"),
            trade(2, 20, Some("-1"), "0", "USDT"),
            trade(3, 30, Some("99"), "0", "USDT"),
            trade(4, 40, Some("-20"), "0", "USDT"),
        ];
        let performance = Performance::of(&trades);
        assert_eq!(performance.max_drawdown, d("20"));
        assert_eq!(performance.max_drawdown_share, Some(d("0.2")));
    }
}
