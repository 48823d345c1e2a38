//! Reconciliation: every order the database holds as `pending` (written ahead, fate unknown
//! because the process stopped) or `unknown` (the client could not learn its fate) is looked up on
//! the exchange by its client order id and completed: a trade row when it executed, `not_executed`
//! when it ended empty or the exchange has never heard of it after the visibility window. Until
//! then the bot does not trade. Runs at startup for every bot and at the start of each cycle.

use std::time::Duration;

use binance::{ErrorClass, MarketOrderFill, OrderRef};
use market::Symbol;
use store::{OrderRow, OrderStatus, Store};

use crate::cycle::CycleContext;
use crate::error::CycleError;
use crate::record::{Recorded, record_fill};
use crate::runnable::BotConfigError;

/// Binance's "Order does not exist."
const UNKNOWN_ORDER_CODE: i64 = -2013;

/// What reconciling one order found.
#[derive(Debug, Clone)]
pub(crate) enum OrderFate {
    /// It executed; the trade row is written.
    Executed(Box<store::TradeRow>),
    /// It did not execute; the row says `not_executed`.
    NotExecuted,
    /// Still unknown (the exchange is unreachable, or the order is too young to be declared
    /// absent): the reason.
    StillUnknown(String),
}

/// Reconciles `order`, an order of the cycle's bot, on its owner's account and with the
/// symbol's rules of `context`. `absent_after` is how long after its creation an order the
/// exchange does not know counts as never placed.
pub(crate) async fn reconcile_order(
    store: &Store,
    context: &CycleContext<'_>,
    order: &OrderRow,
    absent_after: Duration,
    now_ms: i64,
) -> Result<OrderFate, CycleError> {
    let (client, watch) = (&context.client, context.watch);
    let symbol = Symbol::new(order.symbol.clone()).map_err(BotConfigError::from)?;
    let reference = OrderRef::ClientOrderId(order.client_order_id.clone());
    let report = match watch
        .exchange(client.query_order(&symbol, &reference))
        .await
    {
        Ok(report) => report,
        Err(error) if error.code() == Some(UNKNOWN_ORDER_CODE) => {
            let age_ms = now_ms - order.created_at_ms;
            if age_ms < i64::try_from(absent_after.as_millis()).unwrap_or(i64::MAX) {
                return Ok(OrderFate::StillUnknown(format!(
                    "the exchange does not show order {} yet ({} ms after it was written)",
                    order.client_order_id, age_ms
                )));
            }
            store
                .set_order_status(
                    &order.client_order_id,
                    OrderStatus::NotExecuted,
                    Some("the exchange has no order with this client order id"),
                    now_ms,
                )
                .await?;
            return Ok(OrderFate::NotExecuted);
        }
        Err(error) if error.class() == ErrorClass::Rejected => {
            return Err(CycleError::Exchange(error));
        }
        Err(error) => return Ok(OrderFate::StillUnknown(error.to_string())),
    };
    if !report.status.is_final() {
        return Ok(OrderFate::StillUnknown(format!(
            "order {} is still {:?} on the exchange",
            order.client_order_id, report.status
        )));
    }
    let fills = if report.executed_qty.is_zero() {
        Vec::new()
    } else {
        watch
            .exchange(client.order_trades(&symbol, report.order_id))
            .await?
    };
    let fill = MarketOrderFill::from_report(report, fills);
    let bot = &context.bot.config;
    match record_fill(store, client, bot, &context.rules, &fill, now_ms, watch).await? {
        Recorded::Trade(trade, _) => Ok(OrderFate::Executed(trade)),
        Recorded::NothingExecuted => Ok(OrderFate::NotExecuted),
    }
}
