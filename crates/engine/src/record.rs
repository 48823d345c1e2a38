//! Turning an executed MARKET order into its trade row: commissions split by asset (a third
//! asset such as BNB valued in quote at the ticker price), the bot's holding and realised PnL
//! advanced by the [`ledger`](crate::ledger), and trade + order status + position written in one
//! transaction by [`Store::record_execution`]. Used by the cycle for fresh fills and by
//! reconciliation for orders whose fate was learned later, so both write identical rows.

use binance::{Client, MarketOrderFill, OrderStatus as ExchangeStatus};
use market::{Symbol, SymbolRules};
use rust_decimal::Decimal;
use store::{BotConfig, Execution, NewTrade, OrderStatus, PositionRow, Store, TradeRow};

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
    let holding = store.position(bot.id).await?;
    let applied = ledger::apply(
        &Holding {
            quantity: holding.quantity,
            cost_quote: holding.cost_quote,
            realized_pnl: holding.realized_pnl,
        },
        &ExecutionAmounts {
            side: fill.side,
            executed_base: fill.executed_qty,
            executed_quote: fill.cumulative_quote_qty,
            fee_base,
            fee_quote,
        },
    )?;
    let average_price = fill.average_price().unwrap_or(Decimal::ZERO);
    let (commission, commission_asset) = single_commission(
        &commissions,
        &rules.quote_asset,
        fee_base * average_price + fee_quote,
    );
    let after = applied.holding_after;
    let execution = Execution {
        trade: NewTrade {
            bot_id: bot.id,
            user_id: bot.user_id,
            binance_order_id: i64::try_from(fill.order_id).map_err(|_| {
                CycleError::Unrecordable(format!(
                    "order id {} does not fit a signed 64-bit column",
                    fill.order_id
                ))
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
        position_after: PositionRow {
            bot_id: bot.id,
            quantity: after.quantity,
            cost_quote: after.cost_quote,
            realized_pnl: after.realized_pnl,
            updated_at_ms: now_ms,
        },
    };
    let (trade, _) = store.record_execution(&execution, now_ms).await?;
    Ok(Recorded::Trade(Box::new(trade), execution.position_after))
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
