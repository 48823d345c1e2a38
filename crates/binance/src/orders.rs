//! MARKET orders and order queries. The rule that matters: an order whose fate is unknown after
//! sending (timeout, lost connection, 5xx, -1006, -1007, an unreadable answer) is **never sent
//! again blindly**. It is looked up by its client order id, tolerating -2013 ("not yet visible")
//! for [`RetryPolicy::order_visibility_timeout`](crate::RetryPolicy::order_visibility_timeout),
//! and the real outcome is returned: executed, or still unknown for the engine to reconcile.
//! An order the exchange still does not show at the end of that window is **not** sent again:
//! Binance accepts a second MARKET order with the same client order id once the first is no
//! longer open, so an exchange whose order queries lag would execute it twice. It is reported
//! [`PlaceOrderError::Unknown`], and the engine's reconciliation keeps looking for it (by client
//! order id, and through the account's order history, [`Client::all_orders`]) and declares it
//! not executed only after it has stayed absent from both far longer.
//!
//! An order found by a query is completed with its trades (`GET /api/v3/myTrades?orderId=`); a
//! trade list that does not yet add up to the executed quantity (the exchange's trade history
//! lagging its orders) is not taken as the order's fill: its commissions would be lost.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::{Duration, Instant};

use market::{
    NormalizedQuantity, NormalizedQuoteAmount, Quantity, Rejection, Side, Symbol,
    normalize_market_quantity,
};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::client::{
    ALL_ORDERS, Client, MY_TRADES, NEW_ORDER, Params, QUERY_ORDER, TEST_ORDER, malformed, read,
};
use crate::error::{BinanceError, ErrorClass};
use crate::wire::Fields;

/// The longest client order id Binance accepts.
const MAX_CLIENT_ORDER_ID_LEN: usize = 36;
/// The shortest pause between two lookups of an order in doubt.
const MIN_LOOKUP_PAUSE: Duration = Duration::from_millis(10);
/// Binance's "Order does not exist."
const UNKNOWN_ORDER_CODE: i64 = -2013;
/// The longest `startTime`..`endTime` span one `GET /api/v3/allOrders` request may ask for, ms.
const MAX_ALL_ORDERS_SPAN_MS: i64 = 24 * 3_600_000;
/// The most orders one `GET /api/v3/allOrders` request returns (its `limit` at most).
const ALL_ORDERS_PAGE_LIMIT: usize = 1_000;
/// The most orders [`Client::all_orders`] collects over one span: far more than any bot's
/// span holds (reconciliation asks for minutes around one order), and a bound on what an
/// exchange that keeps answering full pages can make the client hold.
const MAX_ALL_ORDERS: usize = 100_000;

/// How much a MARKET order buys or sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSize {
    /// `quantity`: an amount of base asset.
    Base(Quantity),
    /// `quoteOrderQty`: an amount of quote asset to spend (BUY) or raise (SELL).
    Quote(Quantity),
}

impl From<NormalizedQuantity> for OrderSize {
    fn from(quantity: NormalizedQuantity) -> OrderSize {
        OrderSize::Base(quantity.quantity())
    }
}

impl From<NormalizedQuoteAmount> for OrderSize {
    fn from(amount: NormalizedQuoteAmount) -> OrderSize {
        OrderSize::Quote(amount.amount())
    }
}

/// How an order is named in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    /// By the client order id it was sent with (`origClientOrderId`).
    ClientOrderId(String),
    /// By the exchange's order id (`orderId`).
    OrderId(u64),
}

/// An order's status, as Binance spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderStatus {
    /// `NEW`.
    New,
    /// `PENDING_NEW`.
    PendingNew,
    /// `PARTIALLY_FILLED`.
    PartiallyFilled,
    /// `FILLED`.
    Filled,
    /// `CANCELED`.
    Canceled,
    /// `PENDING_CANCEL`.
    PendingCancel,
    /// `REJECTED`.
    Rejected,
    /// `EXPIRED`: for a MARKET order, the book ran out and the rest expired (possibly after a
    /// partial fill).
    Expired,
    /// `EXPIRED_IN_MATCH` (self-trade prevention).
    ExpiredInMatch,
    /// A status this client does not know, as sent.
    Other(String),
}

impl OrderStatus {
    /// Reads Binance's spelling.
    pub fn from_binance(text: &str) -> OrderStatus {
        match text {
            "NEW" => OrderStatus::New,
            "PENDING_NEW" => OrderStatus::PendingNew,
            "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
            "FILLED" => OrderStatus::Filled,
            "CANCELED" => OrderStatus::Canceled,
            "PENDING_CANCEL" => OrderStatus::PendingCancel,
            "REJECTED" => OrderStatus::Rejected,
            "EXPIRED" => OrderStatus::Expired,
            "EXPIRED_IN_MATCH" => OrderStatus::ExpiredInMatch,
            other => OrderStatus::Other(other.to_owned()),
        }
    }

    /// Whether the order can no longer change.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
                | OrderStatus::ExpiredInMatch
        )
    }
}

/// One trade of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeFill {
    /// The symbol's trade id.
    pub trade_id: u64,
    /// The price traded at.
    pub price: Decimal,
    /// The base quantity traded.
    pub qty: Decimal,
    /// The commission charged, in `commission_asset`.
    pub commission: Decimal,
    /// The asset the commission was taken in.
    pub commission_asset: String,
}

/// An order as `GET /api/v3/order` and `GET /api/v3/allOrders` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReport {
    /// The symbol.
    pub symbol: String,
    /// The exchange's order id.
    pub order_id: u64,
    /// The client order id.
    pub client_order_id: String,
    /// BUY or SELL.
    pub side: Side,
    /// Its status.
    pub status: OrderStatus,
    /// Base quantity executed.
    pub executed_qty: Decimal,
    /// Quote quantity executed (`cummulativeQuoteQty`).
    pub cumulative_quote_qty: Decimal,
    /// Last update, ms.
    pub update_time_ms: i64,
}

/// A MARKET order the exchange executed (fully, partly, or not at all when it expired at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketOrderFill {
    /// The symbol.
    pub symbol: String,
    /// The exchange's order id.
    pub order_id: u64,
    /// The client order id.
    pub client_order_id: String,
    /// BUY or SELL.
    pub side: Side,
    /// `FILLED`, or `EXPIRED` after a partial fill.
    pub status: OrderStatus,
    /// Base quantity executed.
    pub executed_qty: Decimal,
    /// Quote quantity executed (`cummulativeQuoteQty`).
    pub cumulative_quote_qty: Decimal,
    /// When the exchange executed it, ms (`transactTime`; `updateTime` when found by a query).
    pub transact_time_ms: i64,
    /// Each trade with its commission.
    pub fills: Vec<TradeFill>,
    /// Whether the outcome was found by querying the order after an ambiguous failure, rather
    /// than read from the order's own answer.
    pub resolved_by_query: bool,
}

impl MarketOrderFill {
    /// The fill of an order learned by querying it (`GET /api/v3/order`) and its trades
    /// (`GET /api/v3/myTrades`), as reconciliation does; `transact_time_ms` is the order's
    /// `updateTime`.
    pub fn from_report(report: OrderReport, fills: Vec<TradeFill>) -> MarketOrderFill {
        MarketOrderFill {
            symbol: report.symbol,
            order_id: report.order_id,
            client_order_id: report.client_order_id,
            side: report.side,
            status: report.status,
            executed_qty: report.executed_qty,
            cumulative_quote_qty: report.cumulative_quote_qty,
            transact_time_ms: report.update_time_ms,
            fills,
            resolved_by_query: true,
        }
    }

    /// `cumulative_quote_qty / executed_qty`; `None` when nothing executed.
    pub fn average_price(&self) -> Option<Decimal> {
        self.cumulative_quote_qty.checked_div(self.executed_qty)
    }

    /// Whether the trades in `fills` add up to `executed_qty`. Always so for an order's own
    /// answer; a fill built by [`from_report`](Self::from_report) from a trade list the exchange
    /// has not finished writing is not, and recording it would lose the missing trades'
    /// commissions.
    pub fn has_every_trade(&self) -> bool {
        self.fills.iter().map(|trade| trade.qty).sum::<Decimal>() == self.executed_qty
    }
}

/// Why [`Client::place_market_order`] returned no fill.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlaceOrderError {
    /// The exchange did not execute the order: it refused it, or retries ran out on failures
    /// that execute nothing.
    #[error("order {client_order_id} was not executed: {cause}")]
    NotExecuted {
        /// The client order id.
        client_order_id: String,
        /// Why.
        cause: BinanceError,
    },
    /// The order may have executed and its fate could not be learned in time (the lookups
    /// failed, or the exchange did not show the order within the visibility window): reconcile
    /// it by its client order id before trading again.
    #[error("order {client_order_id} may have executed; reconcile it: {cause}")]
    Unknown {
        /// The client order id.
        client_order_id: String,
        /// The failure that left the order in doubt.
        cause: BinanceError,
        /// The last failure of the lookups, if any failed.
        lookup_error: Option<BinanceError>,
    },
}

impl PlaceOrderError {
    /// The failure that decided the outcome.
    pub fn cause(&self) -> &BinanceError {
        match self {
            PlaceOrderError::NotExecuted { cause, .. } | PlaceOrderError::Unknown { cause, .. } => {
                cause
            }
        }
    }
}

/// Why [`Client::normalize_quantity`] found no quantity to send.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NormalizeError {
    /// The rules or the price could not be fetched.
    #[error(transparent)]
    Exchange(#[from] BinanceError),
    /// No legal quantity exists at or below the one asked for: skip the order.
    #[error(transparent)]
    Skipped(#[from] Rejection),
}

/// The client order id sent with [`Client::test_order`] (validated, never recorded).
const TEST_CLIENT_ORDER_ID: &str = "test-order";

/// What the lookups of an order in doubt found.
enum Resolution {
    Executed(MarketOrderFill),
    /// The exchange kept saying -2013 until the visibility timeout: its last answer.
    Absent(BinanceError),
    /// Nothing conclusive; the last lookup failure.
    Unknown(Option<BinanceError>),
}

impl Client {
    /// Places a MARKET order and returns its fill, whatever fails on the way, without ever
    /// executing it twice (see the module docs). `client_order_id` must be unique per signal:
    /// 1 to 36 characters from `A-Z a-z 0-9 . : / _ -`.
    pub async fn place_market_order(
        &self,
        symbol: &Symbol,
        side: Side,
        size: OrderSize,
        client_order_id: &str,
    ) -> Result<MarketOrderFill, PlaceOrderError> {
        self.place(symbol, side, size, client_order_id, None).await
    }

    /// [`place_market_order`](Self::place_market_order), sending the order only before
    /// `deadline`: no attempt starts after it and no wait (for the rate-limit budget, a
    /// `Retry-After`, a retry) reaches past it; the order is then `NotExecuted` with
    /// [`ErrorKind::DeadlinePassed`](crate::ErrorKind::DeadlinePassed). For a caller whose
    /// right to send ends (a worker's lease on the bot, the time after which the order counts as
    /// never sent).
    pub async fn place_market_order_before(
        &self,
        symbol: &Symbol,
        side: Side,
        size: OrderSize,
        client_order_id: &str,
        deadline: Instant,
    ) -> Result<MarketOrderFill, PlaceOrderError> {
        self.place(symbol, side, size, client_order_id, Some(deadline))
            .await
    }

    async fn place(
        &self,
        symbol: &Symbol,
        side: Side,
        size: OrderSize,
        client_order_id: &str,
        deadline: Option<Instant>,
    ) -> Result<MarketOrderFill, PlaceOrderError> {
        let not_executed = |cause| PlaceOrderError::NotExecuted {
            client_order_id: client_order_id.to_owned(),
            cause,
        };
        let params = new_order_params(symbol, side, size, client_order_id).map_err(not_executed)?;
        let sent = self.call_before(&NEW_ORDER, params, deadline).await;
        let cause = match sent.and_then(|body| read(&NEW_ORDER, &body, read_full_fill)) {
            Ok(fill) => return Ok(fill),
            Err(error) if error.class() == ErrorClass::Ambiguous => error,
            Err(error) => return Err(not_executed(error)),
        };
        let lookup_error = match self.resolve_order(symbol, client_order_id).await {
            Resolution::Executed(fill) => return Ok(fill),
            Resolution::Absent(not_found) => Some(not_found),
            Resolution::Unknown(lookup_error) => lookup_error,
        };
        Err(PlaceOrderError::Unknown {
            client_order_id: client_order_id.to_owned(),
            cause,
            lookup_error,
        })
    }

    /// [`place_market_order`](Self::place_market_order) buying `size`.
    pub async fn place_market_buy_order(
        &self,
        symbol: &Symbol,
        size: OrderSize,
        client_order_id: &str,
    ) -> Result<MarketOrderFill, PlaceOrderError> {
        self.place_market_order(symbol, Side::Buy, size, client_order_id)
            .await
    }

    /// [`place_market_order`](Self::place_market_order) selling `size`.
    pub async fn place_market_sell_order(
        &self,
        symbol: &Symbol,
        size: OrderSize,
        client_order_id: &str,
    ) -> Result<MarketOrderFill, PlaceOrderError> {
        self.place_market_order(symbol, Side::Sell, size, client_order_id)
            .await
    }

    /// The largest legal MARKET quantity at or below `desired`, by
    /// [`market::normalize_market_quantity`] over the cached [`symbol_rules`](Self::symbol_rules)
    /// and the [`current_price`](Self::current_price) as the reference price.
    pub async fn normalize_quantity(
        &self,
        symbol: &Symbol,
        side: Side,
        desired: Quantity,
    ) -> Result<NormalizedQuantity, NormalizeError> {
        let rules = self.symbol_rules(symbol).await?;
        let price = self.current_price(symbol).await?;
        Ok(normalize_market_quantity(&rules, side, price, desired)?)
    }

    /// Has the exchange validate a MARKET order without placing it (`POST /api/v3/order/test`):
    /// `Ok` when it would be accepted, the refusal otherwise. Retried like a read: nothing
    /// executes.
    pub async fn test_order(
        &self,
        symbol: &Symbol,
        side: Side,
        size: OrderSize,
    ) -> Result<(), BinanceError> {
        let params = new_order_params(symbol, side, size, TEST_CLIENT_ORDER_ID)?;
        self.call(&TEST_ORDER, params).await.map(drop)
    }

    /// An order's state (`GET /api/v3/order`). An order the exchange does not know is -2013.
    pub async fn query_order(
        &self,
        symbol: &Symbol,
        order: &OrderRef,
    ) -> Result<OrderReport, BinanceError> {
        let reference = match order {
            OrderRef::ClientOrderId(id) => ("origClientOrderId", id.clone()),
            OrderRef::OrderId(id) => ("orderId", id.to_string()),
        };
        let body = self
            .call(
                &QUERY_ORDER,
                vec![("symbol", symbol.to_string()), reference],
            )
            .await?;
        read(&QUERY_ORDER, &body, read_order_report)
    }

    /// An order's trades with their commissions (`GET /api/v3/myTrades?orderId=`).
    pub async fn order_trades(
        &self,
        symbol: &Symbol,
        order_id: u64,
    ) -> Result<Vec<TradeFill>, BinanceError> {
        let params = vec![
            ("symbol", symbol.to_string()),
            ("orderId", order_id.to_string()),
        ];
        let body = self.call(&MY_TRADES, params).await?;
        let Value::Array(trades) = &body else {
            return Err(malformed(
                &MY_TRADES,
                "expected an array of trades".to_owned(),
            ));
        };
        trades
            .iter()
            .enumerate()
            .map(|(index, trade)| {
                Fields::new(trade, format!("[{index}]"))
                    .and_then(|fields| read_trade(&fields, "id", "qty"))
                    .map_err(|what| malformed(&MY_TRADES, what))
            })
            .collect()
    }

    /// Every order of the account on `symbol` that the exchange selects for `start_ms..=end_ms`
    /// (ms; Binance selects by the time of an order's last update), oldest first, whatever its
    /// status, each once (`GET /api/v3/allOrders`). Binance answers at most 1,000 orders over at
    /// most 24 hours per request (weight 20 each), so a longer span is read one day at a time,
    /// and a full page is followed by the next from its last order's time on.
    ///
    /// A negative start or an end before the start is an invalid request, and so is a span
    /// holding more than 100,000 orders; more than 1,000 orders updated in the same millisecond
    /// cannot be paged by time and are a malformed answer (no Binance account can place that
    /// many in a millisecond).
    pub async fn all_orders(
        &self,
        symbol: &Symbol,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<OrderReport>, BinanceError> {
        if start_ms < 0 || end_ms < start_ms {
            return Err(BinanceError::invalid_request(
                ALL_ORDERS.name,
                format!("startTime {start_ms} must be at least 0 and not after endTime {end_ms}"),
            ));
        }
        let mut orders = Vec::new();
        let mut listed = HashSet::new();
        let mut window_start_ms = start_ms;
        loop {
            let window_end_ms = end_ms.min(window_start_ms.saturating_add(MAX_ALL_ORDERS_SPAN_MS));
            let page = self
                .all_orders_page(symbol, window_start_ms, window_end_ms)
                .await?;
            let page_full = page.len() >= ALL_ORDERS_PAGE_LIMIT;
            let last_update_ms = page.last().map(|order| order.update_time_ms);
            let before = orders.len();
            orders.extend(
                page.into_iter()
                    .filter(|order| listed.insert(order.order_id)),
            );
            if orders.len() > MAX_ALL_ORDERS {
                return Err(BinanceError::invalid_request(
                    ALL_ORDERS.name,
                    format!(
                        "more than {MAX_ALL_ORDERS} orders from {start_ms} to {end_ms} ms: ask for a shorter span"
                    ),
                ));
            }
            if page_full {
                // The window holds more: read on from the last order's millisecond, whose
                // orders come again and are skipped as already listed.
                let next_start_ms = last_update_ms
                    .unwrap_or(window_start_ms)
                    .max(window_start_ms);
                if next_start_ms == window_start_ms && orders.len() == before {
                    return Err(malformed(
                        &ALL_ORDERS,
                        format!(
                            "more than {ALL_ORDERS_PAGE_LIMIT} orders were updated at {window_start_ms} ms: they cannot be read page by page"
                        ),
                    ));
                }
                window_start_ms = next_start_ms;
            } else if window_end_ms >= end_ms {
                return Ok(orders);
            } else {
                window_start_ms = window_end_ms + 1;
            }
        }
    }

    /// One `GET /api/v3/allOrders` request over `start_ms..=end_ms` (at most a day), the oldest
    /// [`ALL_ORDERS_PAGE_LIMIT`] orders.
    async fn all_orders_page(
        &self,
        symbol: &Symbol,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<OrderReport>, BinanceError> {
        let params = vec![
            ("symbol", symbol.to_string()),
            ("startTime", start_ms.to_string()),
            ("endTime", end_ms.to_string()),
            ("limit", ALL_ORDERS_PAGE_LIMIT.to_string()),
        ];
        let body = self.call(&ALL_ORDERS, params).await?;
        let Value::Array(orders) = &body else {
            return Err(malformed(
                &ALL_ORDERS,
                "expected an array of orders".to_owned(),
            ));
        };
        orders
            .iter()
            .enumerate()
            .map(|(index, order)| {
                Fields::new(order, format!("[{index}]"))
                    .and_then(|fields| read_order_report(&fields))
                    .map_err(|what| malformed(&ALL_ORDERS, what))
            })
            .collect()
    }

    /// Looks the order up by its client order id until its fate is known or the visibility
    /// timeout passes.
    async fn resolve_order(&self, symbol: &Symbol, client_order_id: &str) -> Resolution {
        let policy = &self.config().retry;
        let deadline = Instant::now() + policy.order_visibility_timeout;
        let reference = OrderRef::ClientOrderId(client_order_id.to_owned());
        let mut lookup_error = None;
        let mut retry = 0u32;
        loop {
            let mut absent = None;
            match self.query_order(symbol, &reference).await {
                Ok(report) if report.status.is_final() => {
                    match self.order_trades(symbol, report.order_id).await {
                        Ok(fills) => {
                            let fill = MarketOrderFill::from_report(report, fills);
                            if fill.has_every_trade() {
                                return Resolution::Executed(fill);
                            }
                            // The trade list lags the order: ask again.
                        }
                        Err(error) if error.class() == ErrorClass::Rejected => {
                            return Resolution::Unknown(Some(error));
                        }
                        Err(error) => lookup_error = Some(error),
                    }
                }
                // Still working: a MARKET order finishes within the backend's timeout.
                Ok(_) => {}
                Err(error) if error.code() == Some(UNKNOWN_ORDER_CODE) => absent = Some(error),
                Err(error) if error.class() == ErrorClass::Rejected => {
                    return Resolution::Unknown(Some(error));
                }
                Err(error) => lookup_error = Some(error),
            }
            let now = Instant::now();
            if now >= deadline {
                return match absent {
                    Some(not_found) => Resolution::Absent(not_found),
                    None => Resolution::Unknown(lookup_error),
                };
            }
            let pause = policy.backoff(retry).max(MIN_LOOKUP_PAUSE);
            tokio::time::sleep(pause.min(deadline - now)).await;
            retry = retry.saturating_add(1);
        }
    }
}

/// The parameters of a FULL-answer MARKET order, or why it cannot be sent.
pub(crate) fn new_order_params(
    symbol: &Symbol,
    side: Side,
    size: OrderSize,
    client_order_id: &str,
) -> Result<Params, BinanceError> {
    let valid_id = (1..=MAX_CLIENT_ORDER_ID_LEN).contains(&client_order_id.len())
        && client_order_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".:/_-".contains(&byte));
    if !valid_id {
        return Err(BinanceError::invalid_request(
            NEW_ORDER.name,
            format!(
                "client order id {client_order_id:?} must be 1 to {MAX_CLIENT_ORDER_ID_LEN} characters from A-Z a-z 0-9 . : / _ -"
            ),
        ));
    }
    let (size_name, amount) = match size {
        OrderSize::Base(quantity) => ("quantity", quantity),
        OrderSize::Quote(amount) => ("quoteOrderQty", amount),
    };
    if amount.is_zero() {
        return Err(BinanceError::invalid_request(
            NEW_ORDER.name,
            format!("{size_name} is zero"),
        ));
    }
    Ok(vec![
        ("symbol", symbol.to_string()),
        ("side", side.as_str().to_owned()),
        ("type", "MARKET".to_owned()),
        (size_name, amount.to_string()),
        ("newClientOrderId", client_order_id.to_owned()),
        ("newOrderRespType", "FULL".to_owned()),
    ])
}

fn read_side(fields: &Fields<'_>) -> Result<Side, String> {
    let text = fields.str("side")?;
    Side::from_str(text).map_err(|_| format!("side: {text:?} is not BUY or SELL"))
}

/// The FULL answer to `POST /api/v3/order`.
pub(crate) fn read_full_fill(fields: &Fields<'_>) -> Result<MarketOrderFill, String> {
    let fills = fields
        .array("fills")?
        .iter()
        .enumerate()
        .map(|(index, fill)| {
            let fill = Fields::new(fill, format!("fills[{index}]"))?;
            read_trade(&fill, "tradeId", "qty")
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(MarketOrderFill {
        symbol: fields.str("symbol")?.to_owned(),
        order_id: fields.u64("orderId")?,
        client_order_id: fields.str("clientOrderId")?.to_owned(),
        side: read_side(fields)?,
        status: OrderStatus::from_binance(fields.str("status")?),
        executed_qty: fields.decimal("executedQty")?,
        cumulative_quote_qty: fields.decimal("cummulativeQuoteQty")?,
        transact_time_ms: fields.i64("transactTime")?,
        fills,
        resolved_by_query: false,
    })
}

/// One trade, from an order's `fills` (`tradeId`) or from `myTrades` (`id`).
fn read_trade(fields: &Fields<'_>, id_name: &str, qty_name: &str) -> Result<TradeFill, String> {
    Ok(TradeFill {
        trade_id: fields.u64(id_name)?,
        price: fields.decimal("price")?,
        qty: fields.decimal(qty_name)?,
        commission: fields.decimal("commission")?,
        commission_asset: fields.str("commissionAsset")?.to_owned(),
    })
}

/// One order as `GET /api/v3/order` and `GET /api/v3/allOrders` show it.
fn read_order_report(fields: &Fields<'_>) -> Result<OrderReport, String> {
    Ok(OrderReport {
        symbol: fields.str("symbol")?.to_owned(),
        order_id: fields.u64("orderId")?,
        client_order_id: fields.str("clientOrderId")?.to_owned(),
        side: read_side(fields)?,
        status: OrderStatus::from_binance(fields.str("status")?),
        executed_qty: fields.decimal("executedQty")?,
        cumulative_quote_qty: fields.decimal("cummulativeQuoteQty")?,
        update_time_ms: fields.i64("updateTime")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_full_answer_reads_into_a_fill_with_its_average_price() {
        let body = json!({
            "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "sig-1",
            "transactTime": 1, "price": "0.00000000", "origQty": "0.30000000",
            "executedQty": "0.20000000", "origQuoteOrderQty": "0.00000000",
            "cummulativeQuoteQty": "13000.00000000", "status": "EXPIRED", "timeInForce": "GTC",
            "type": "MARKET", "side": "BUY", "workingTime": 1,
            "fills": [
                {"price": "64000.00", "qty": "0.1", "commission": "0.0001", "commissionAsset": "BTC", "tradeId": 1},
                {"price": "66000.00", "qty": "0.1", "commission": "0.0001", "commissionAsset": "BTC", "tradeId": 2}
            ]
        });
        let fill = read_full_fill(&Fields::new(&body, "").unwrap()).unwrap();
        assert_eq!(fill.status, OrderStatus::Expired);
        assert_eq!(fill.fills.len(), 2);
        assert_eq!(fill.average_price(), Some(Decimal::from(65_000)));
        let nothing = MarketOrderFill {
            executed_qty: Decimal::ZERO,
            ..fill
        };
        assert_eq!(nothing.average_price(), None);
    }

    #[test]
    fn a_fill_missing_a_field_names_it() {
        let body = json!({"symbol": "BTCUSDT", "orderId": 1, "clientOrderId": "a", "side": "BUY",
            "status": "FILLED", "executedQty": "1", "cummulativeQuoteQty": "1",
            "fills": [{"price": "1", "qty": "1", "commission": 0.1, "commissionAsset": "BTC", "tradeId": 1}]});
        assert_eq!(
            read_full_fill(&Fields::new(&body, "").unwrap()).unwrap_err(),
            "fills[0].commission: expected a string, found a number"
        );
    }

    #[test]
    fn bad_client_order_ids_and_zero_sizes_are_refused_before_sending() {
        let symbol = Symbol::new("BTCUSDT").unwrap();
        let one = OrderSize::Base(Quantity::new(Decimal::ONE).unwrap());
        for id in ["", "has space", &"x".repeat(37), "ünï"] {
            assert!(
                new_order_params(&symbol, Side::Buy, one, id).is_err(),
                "{id:?}"
            );
        }
        let zero = OrderSize::Quote(Quantity::ZERO);
        let error = new_order_params(&symbol, Side::Buy, zero, "ok").unwrap_err();
        assert_eq!(
            error.to_string(),
            "POST /api/v3/order: invalid request: quoteOrderQty is zero"
        );
        let params = new_order_params(&symbol, Side::Sell, one, "bot-7:sig/3_a.b").unwrap();
        assert!(params.contains(&("quantity", "1".to_owned())));
    }
}
