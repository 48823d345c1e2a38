//! Turning an executed MARKET order into its trade row: commissions split by asset (a third
//! asset such as BNB valued in quote at the ticker price), the bot's holding and realised PnL
//! advanced by the [`ledger`](crate::ledger), and trade + order status + position written in one
//! transaction by [`Store::record_execution`] (again on the position as it is now, should another
//! process have moved it since it was read). Used by the cycle for fresh fills and by
//! reconciliation for orders whose fate was learned later, so both write identical rows.

use binance::{Client, MarketOrderFill, OrderStatus as ExchangeStatus};
use market::{Symbol, SymbolRules};
use rust_decimal::Decimal;
use store::{
    BotConfig, Execution, NewTrade, OrderStatus, PositionRow, Store, StoreError, TradeRow,
};

use crate::error::CycleError;
use crate::ledger::{self, Commission, ExecutionAmounts, Holding};
use crate::stopwatch::Stopwatch;

/// What recording an exchange outcome did.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// The order executed (fully or partly): its trade row, and the bot's position after it.
    Trade(Box<TradeRow>, PositionRow),
    /// The order ended without executing anything (a MARKET order that expired on an empty book).
    NothingExecuted,
}

/// Writes the outcome of `fill`, an order of `bot`.
pub async fn record_fill(
    store: &Store,
    client: &Client,
    bot: &BotConfig,
    rules: &SymbolRules,
    fill: &MarketOrderFill,
    now_ms: i64,
    watch: &Stopwatch,
) -> Result<Recorded, CycleError> {
    if fill.executed_qty.is_zero() {
        store
            .set_order_status(
                &fill.client_order_id,
                OrderStatus::NotExecuted,
                Some(&format!(
                    "the exchange ended the order as {:?} with nothing executed",
                    fill.status
                )),
                now_ms,
            )
            .await?;
        return Ok(Recorded::NothingExecuted);
    }
    let commissions = commissions(fill);
    let third_asset_prices = third_asset_prices(client, rules, &commissions, watch).await?;
    let (fee_base, fee_quote) = ledger::split_fees(
        &rules.base_asset,
        &rules.quote_asset,
        &commissions,
        |asset, amount| {
            third_asset_prices
                .iter()
                .find(|(name, _)| name == asset)
                .map(|(_, price)| amount * price)
        },
    )?;
    let fees = Fees {
        base: fee_base,
        quote: fee_quote,
        commissions: &commissions,
    };
    // Another process may record a trade of the bot between our read of its position and our
    // write (a worker that lost the bot, reconciling): then apply the fill to the new position.
    let mut attempts_left = POSITION_READS;
    loop {
        let before = store.position(bot.id).await?;
        let execution =
            execution(bot, rules, fill, &fees, before, now_ms).map_err(|error| *error)?;
        match store.record_execution(&execution, now_ms).await {
            Ok((trade, _)) => {
                return Ok(Recorded::Trade(Box::new(trade), execution.position_after));
            }
            Err(StoreError::Changed { .. }) if attempts_left > 1 => attempts_left -= 1,
            Err(error) => return Err(error.into()),
        }
    }
}

/// How many times [`record_fill`] reads the position before giving up on a bot whose position
/// keeps changing under it (the cycle then fails, and reconciliation records the fill later).
const POSITION_READS: u32 = 3;

/// An order's fees: in base and in quote (third assets valued in quote), and as paid.
struct Fees<'a> {
    base: Decimal,
    quote: Decimal,
    commissions: &'a [Commission],
}

/// The execution `fill` makes of `bot`'s position `before` (the error boxed: a cycle's error is
/// large, and this is the common path).
fn execution(
    bot: &BotConfig,
    rules: &SymbolRules,
    fill: &MarketOrderFill,
    fees: &Fees<'_>,
    before: PositionRow,
    now_ms: i64,
) -> Result<Execution, Box<CycleError>> {
    let applied = ledger::apply(
        &Holding {
            quantity: before.quantity,
            cost_quote: before.cost_quote,
            realized_pnl: before.realized_pnl,
        },
        &ExecutionAmounts {
            side: fill.side,
            executed_base: fill.executed_qty,
            executed_quote: fill.cumulative_quote_qty,
            fee_base: fees.base,
            fee_quote: fees.quote,
        },
    )
    .map_err(|error| Box::new(CycleError::from(error)))?;
    let average_price = fill.average_price().unwrap_or(Decimal::ZERO);
    let (commission, commission_asset) = single_commission(
        fees.commissions,
        &rules.quote_asset,
        fees.base * average_price + fees.quote,
    );
    let after = applied.holding_after;
    Ok(Execution {
        trade: NewTrade {
            bot_id: bot.id,
            user_id: bot.user_id,
            binance_order_id: i64::try_from(fill.order_id).map_err(|_| {
                Box::new(CycleError::Unrecordable(format!(
                    "order id {} does not fit a signed 64-bit column",
                    fill.order_id
                )))
            })?,
            client_order_id: fill.client_order_id.clone(),
            symbol: fill.symbol.clone(),
            side: fill.side,
            price: average_price,
            quantity_filled: fill.executed_qty,
            quote_quantity_filled: fill.cumulative_quote_qty,
            commission,
            commission_asset,
            realized_pnl: applied.realized_pnl,
            executed_at_ms: fill.transact_time_ms,
        },
        order_status: if fill.status == ExchangeStatus::Filled {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        },
        position_before: before,
        position_after: PositionRow {
            bot_id: bot.id,
            quantity: after.quantity,
            cost_quote: after.cost_quote,
            realized_pnl: after.realized_pnl,
            updated_at_ms: now_ms,
        },
    })
}

/// The order's commissions summed per asset, in the order the assets first appear.
fn commissions(fill: &MarketOrderFill) -> Vec<Commission> {
    let mut totals: Vec<Commission> = Vec::new();
    for trade in &fill.fills {
        match totals
            .iter_mut()
            .find(|total| total.asset == trade.commission_asset)
        {
            Some(total) => total.amount += trade.commission,
            None => totals.push(Commission {
                asset: trade.commission_asset.clone(),
                amount: trade.commission,
            }),
        }
    }
    totals
}

/// The quote-asset price of every commission asset that is neither base nor quote (BNB).
async fn third_asset_prices(
    client: &Client,
    rules: &SymbolRules,
    commissions: &[Commission],
    watch: &Stopwatch,
) -> Result<Vec<(String, Decimal)>, CycleError> {
    let mut prices = Vec::new();
    for commission in commissions {
        let asset = &commission.asset;
        if *asset == rules.base_asset || *asset == rules.quote_asset || commission.amount.is_zero()
        {
            continue;
        }
        let pair = Symbol::new(format!("{asset}{}", rules.quote_asset)).map_err(|err| {
            CycleError::Unrecordable(format!("commission asset {asset:?}: {err}"))
        })?;
        let price = watch.exchange(client.current_price(&pair)).await?;
        prices.push((asset.clone(), price.get()));
    }
    Ok(prices)
}

/// The trade row's one commission column: the order's commission when it was paid in one asset
/// (always so on Binance unless BNB ran out mid-order); otherwise every fee valued in quote
/// (base fees at the order's average price, third assets at their ticker price).
fn single_commission(
    commissions: &[Commission],
    quote_asset: &str,
    all_fees_in_quote: Decimal,
) -> (Decimal, String) {
    match commissions {
        [] => (Decimal::ZERO, quote_asset.to_owned()),
        [only] => (only.amount, only.asset.clone()),
        _ => (all_fees_in_quote, quote_asset.to_owned()),
    }
}
