//! Reconciliation: every order the database holds as `pending` (written ahead, fate unknown
//! because the process stopped) or `unknown` (the client could not learn its fate) is looked for
//! on the exchange and completed: a trade row when it executed, `not_executed` when it ended
//! empty or the exchange has never shown it. Until then the bot does not trade. Runs at startup
//! for every bot and at the start of each cycle.
//!
//! An order is never sent again, whatever is found: Binance deduplicates client order ids only
//! among open orders and a MARKET order is never open, so a re-sent order whose first copy
//! becomes visible late would execute twice. A missed trade is acceptable; a doubled one is not.
//! So reconciliation gathers evidence instead, on every attempt:
//!
//! 1. `GET /api/v3/order` by the order's client order id;
//! 2. when that says -2013 ("Order does not exist."), the account's order history of the symbol,
//!    `GET /api/v3/allOrders` ([`binance::Client::all_orders`]), searched for the client order id
//!    from the open of the order's signal candle (the order cannot have been written before that
//!    candle closed) to the exchange's time now, at most [`HISTORY_SEARCH_SPAN_MS`] back.
//!
//! An order found either way is recorded alike, by [`record_fill`], once its trades
//! (`GET /api/v3/myTrades?orderId=`) add up to its executed quantity. An order neither lookup
//! shows stays `unknown` until the bound (`EngineSettings::order_absent_after`, 60 s by default,
//! longer than Binance's largest `recvWindow`, so a request still in flight can no longer execute)
//! has passed since it was written; then it is recorded `not_executed` with a reason saying what
//! was searched, between which times, and that it is not sent again.

use std::time::Duration;

use binance::{BinanceError, Client, ErrorClass, MarketOrderFill, OrderRef, OrderReport};
use market::{Symbol, format_utc_ms};
use store::{OrderRow, OrderStatus, Store};
use tracing::info;

use crate::cycle::CycleContext;
use crate::error::CycleError;
use crate::record::{Recorded, record_fill};
use crate::runnable::BotConfigError;
use crate::stopwatch::Stopwatch;

/// Binance's "Order does not exist."
const UNKNOWN_ORDER_CODE: i64 = -2013;
/// How far back from the exchange's time now the order history is searched at most, ms: one
/// `GET /api/v3/allOrders` request's span. Only an order left unresolved for over a day (the
/// process down that long) has a signal candle older than that, and `GET /api/v3/order` has
/// long shown such an order if it executed.
const HISTORY_SEARCH_SPAN_MS: i64 = 24 * 3_600_000;

/// What reconciling one order found.
#[derive(Debug, Clone)]
pub(crate) enum OrderFate {
    /// It executed; the trade row is written.
    Executed(Box<store::TradeRow>),
    /// It did not execute; the row says `not_executed`, for the reason given (what the exchange
    /// answered, or what was searched without finding it).
    NotExecuted(String),
    /// Still unknown (the exchange is unreachable, or the order is too young to be declared
    /// absent): the reason.
    StillUnknown(String),
}

/// Reconciles `order`, an order of the cycle's bot, on its owner's account and with the
/// symbol's rules of `context`. `absent_after` is how long after it was written an order that
/// neither lookup shows counts as never executed; `now_ms` is the wall-clock time the order's
/// age is measured against.
pub(crate) async fn reconcile_order(
    store: &Store,
    context: &CycleContext<'_>,
    order: &OrderRow,
    absent_after: Duration,
    now_ms: i64,
) -> Result<OrderFate, CycleError> {
    let (client, watch) = (&context.client, context.watch);
    let symbol = Symbol::new(order.symbol.clone()).map_err(BotConfigError::from)?;
    let report = match find_order(client, watch, &symbol, order).await {
        Search::Found(report) => report,
        Search::Inconclusive(reason) => return Ok(OrderFate::StillUnknown(reason)),
        Search::Refused(error) => return Err(CycleError::Exchange(error)),
        Search::Absent { searched } => {
            let age_ms = now_ms - order.created_at_ms;
            let bound_ms = i64::try_from(absent_after.as_millis()).unwrap_or(i64::MAX);
            if age_ms < bound_ms {
                return Ok(OrderFate::StillUnknown(format!(
                    "the exchange does not show order {} yet: {searched}, {age_ms} ms after it was written (it counts as not executed after {bound_ms} ms)",
                    order.client_order_id
                )));
            }
            let reason = format!(
                "the exchange never showed it: {searched}, {age_ms} ms after it was written (bound {bound_ms} ms); it is not sent again"
            );
            store
                .set_order_status(
                    &order.client_order_id,
                    OrderStatus::NotExecuted,
                    Some(&reason),
                    now_ms,
                )
                .await?;
            return Ok(OrderFate::NotExecuted(reason));
        }
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
    if !fill.has_every_trade() {
        return Ok(OrderFate::StillUnknown(format!(
            "order {} executed {} but the exchange lists only part of its trades yet",
            order.client_order_id,
            fill.executed_qty.normalize()
        )));
    }
    let bot = &context.bot.config;
    match record_fill(store, client, bot, &context.rules, &fill, now_ms, watch).await? {
        Recorded::Trade(trade, _) => Ok(OrderFate::Executed(trade)),
        Recorded::NothingExecuted => Ok(OrderFate::NotExecuted(format!(
            "the exchange ended it as {:?} with nothing executed",
            fill.status
        ))),
    }
}

/// What the lookups of one order found.
enum Search {
    /// The exchange shows the order.
    Found(OrderReport),
    /// Neither lookup shows it: what was searched, as the order's reason will say.
    Absent {
        /// The lookups made and the span of history searched.
        searched: String,
    },
    /// A lookup failed without an answer either way: why.
    Inconclusive(String),
    /// The exchange refused a lookup (the key, the request): asking again cannot help.
    Refused(BinanceError),
}

/// Looks `order` up by its client order id and, when the exchange does not know that id (yet),
/// in the account's order history of `symbol` (see the module docs).
async fn find_order(
    client: &Client,
    watch: &Stopwatch,
    symbol: &Symbol,
    order: &OrderRow,
) -> Search {
    let reference = OrderRef::ClientOrderId(order.client_order_id.clone());
    match watch.exchange(client.query_order(symbol, &reference)).await {
        Ok(report) => return Search::Found(report),
        Err(error) if error.code() == Some(UNKNOWN_ORDER_CODE) => {}
        Err(error) => return failed_lookup(error),
    }
    let end_ms = match watch.exchange(client.server_now_ms()).await {
        Ok(now_ms) => now_ms,
        Err(error) => return failed_lookup(error),
    };
    // The signal's candle opened before the order could be written; a hand-made or corrupt
    // row with a candle from the future still gets a valid span.
    let start_ms = order
        .signal_candle_open_ms
        .max(end_ms.saturating_sub(HISTORY_SEARCH_SPAN_MS))
        .min(end_ms);
    let history = match watch
        .exchange(client.all_orders(symbol, start_ms, end_ms))
        .await
    {
        Ok(history) => history,
        Err(error) => return failed_lookup(error),
    };
    // Client order ids are unique per signal; were one used twice, the latest is the one
    // `GET /api/v3/order` would show.
    let found = history
        .into_iter()
        .rev()
        .find(|listed| listed.client_order_id == order.client_order_id);
    match found {
        Some(report) => {
            info!(
                bot = %order.bot_id,
                client_order_id = %order.client_order_id,
                order_id = report.order_id,
                "order found through GET /api/v3/allOrders although GET /api/v3/order does not show it"
            );
            Search::Found(report)
        }
        None => Search::Absent {
            searched: format!(
                "not found by client order id (GET /api/v3/order answered -2013) nor among the account's {symbol} orders (GET /api/v3/allOrders) between {} ({start_ms}) and {} ({end_ms})",
                format_utc_ms(start_ms),
                format_utc_ms(end_ms)
            ),
        },
    }
}

/// A failed lookup: refused when the exchange refused it, otherwise inconclusive (the next
/// cycle asks again).
fn failed_lookup(error: BinanceError) -> Search {
    if error.class() == ErrorClass::Rejected {
        return Search::Refused(error);
    }
    Search::Inconclusive(error.to_string())
}
