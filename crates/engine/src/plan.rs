//! The plan step of a cycle, pure: from the bot's position, its strategy's signal, the symbol's
//! rules, the price and the account's balances to either an order (side, legal quantity, the
//! client order id derived from the signal) or a skip with its reason. No I/O, so every
//! decision can be tested and explained from its inputs alone; the cycle's execute step
//! (write-ahead, send, record) carries the order out.

use market::{NormalizedQuantity, Price, Side, SymbolRules};
use rust_decimal::Decimal;
use store::BotId;
use strategy::{Position, Signal};

use crate::sizing::{Sized, SizedOrder, SizingInputs, min_tradable_quantity, size_order};

/// What a signal turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Send this order.
    Send(PlannedOrder),
    /// Send nothing, for this reason (recorded as the cycle's decision).
    Skip(String),
}

/// An order the plan step decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrder {
    /// Derived from the bot and the signal: at most one order per signal, whatever restarts.
    pub client_order_id: String,
    /// BUY or SELL.
    pub side: Side,
    /// A quantity the exchange's filters accept.
    pub quantity: NormalizedQuantity,
    /// Open time of the candle whose close gave the signal.
    pub candle_open_ms: i64,
}

/// What the plan step decides from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInputs<'a> {
    /// The bot.
    pub bot: BotId,
    /// The strategy's signal.
    pub signal: Signal,
    /// Open time of the candle it came at.
    pub candle_open_ms: i64,
    /// The symbol's rules on the bot's venue.
    pub rules: &'a SymbolRules,
    /// The book's best price on the order's side (the best ask for a BUY, the best bid for a
    /// SELL), the reference for sizing and the notional filters.
    pub price: Price,
    /// The bot's amount per BUY, its position and the account's free balances.
    pub sizing: SizingInputs,
}

/// The position the strategy sees: long only when the bot holds at least the smallest quantity
/// the symbol trades (a remainder below it cannot be sold).
pub fn strategy_position(held: Decimal, rules: &SymbolRules) -> Position {
    if held > Decimal::ZERO && held >= min_tradable_quantity(rules) {
        Position::Long
    } else {
        Position::Flat
    }
}

/// The side a signal trades.
pub fn side_of(signal: Signal) -> Side {
    match signal {
        Signal::Buy => Side::Buy,
        Signal::Sell => Side::Sell,
    }
}

/// Why a signal at the candle opening at `candle_open_ms` is too old to act on at `now_ms`: its
/// candle closed more than an interval ago (the process was down, or the cycle ran late), and
/// trading on it now would be trading on a stale price.
pub fn stale_signal(
    signal: Signal,
    candle_open_ms: i64,
    interval_ms: i64,
    now_ms: i64,
) -> Option<String> {
    let closed_ms = candle_open_ms + interval_ms;
    (now_ms - closed_ms >= interval_ms).then(|| {
        format!(
            "{} signal at the candle of {} is stale: it closed {} s ago",
            side_of(signal),
            market::format_utc_ms(candle_open_ms),
            (now_ms - closed_ms) / 1_000
        )
    })
}

/// The order `inputs` call for, or why none, with the sizing steps that led there.
pub fn plan_order(inputs: &PlanInputs<'_>) -> (Plan, Vec<String>) {
    let side = side_of(inputs.signal);
    let Sized { order, steps } = size_order(inputs.rules, side, inputs.price, &inputs.sizing);
    let plan = match order {
        SizedOrder::Send(quantity) => Plan::Send(PlannedOrder {
            client_order_id: client_order_id(inputs.bot, inputs.candle_open_ms, side),
            side,
            quantity,
            candle_open_ms: inputs.candle_open_ms,
        }),
        SizedOrder::Skip(reason) => Plan::Skip(reason),
    };
    (plan, steps)
}

/// The client order id of `bot`'s order for the signal at `candle_open_ms`: deterministic, so a
/// signal can produce at most one order row (the column is unique) whatever restarts between.
/// At most 36 characters from Binance's allowed set.
pub fn client_order_id(bot: BotId, candle_open_ms: i64, side: Side) -> String {
    let side = match side {
        Side::Buy => 'b',
        Side::Sell => 's',
    };
    format!("sb{}-{candle_open_ms}-{side}", bot.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use market::{LotSizeFilter, Quantity, Symbol, SymbolStatus};
    use rust_decimal_macros::dec;

    fn rules() -> SymbolRules {
        let step = Quantity::new(dec!(0.001)).unwrap();
        SymbolRules {
            symbol: Symbol::new("BTCUSDT").unwrap(),
            status: SymbolStatus::Trading,
            base_asset: "BTC".to_owned(),
            quote_asset: "USDT".to_owned(),
            base_asset_precision: 8,
            quote_asset_precision: 8,
            quote_order_qty_market_allowed: true,
            order_types: Vec::new(),
            price_filter: None,
            lot_size: Some(LotSizeFilter {
                min_qty: step,
                max_qty: Quantity::new(dec!(1000)).unwrap(),
                step_size: step,
            }),
            market_lot_size: None,
            min_notional: None,
            notional: None,
            other_filters: Vec::new(),
        }
    }

    fn inputs(rules: &SymbolRules, signal: Signal, position: Decimal) -> PlanInputs<'_> {
        PlanInputs {
            bot: BotId(7),
            signal,
            candle_open_ms: 60_000,
            rules,
            price: Price::new(dec!(20000)).unwrap(),
            sizing: SizingInputs {
                quote_per_buy: dec!(100),
                position,
                free_quote: dec!(1000),
                free_base: position,
            },
        }
    }

    #[test]
    fn a_buy_spends_the_quote_amount_in_legal_steps_under_an_id_from_the_signal() {
        let rules = rules();
        let (Plan::Send(order), steps) = plan_order(&inputs(&rules, Signal::Buy, Decimal::ZERO))
        else {
            panic!("a BUY within the balance is sent");
        };
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert!(steps[1].contains("100 / 20000 = 0.005 BTC"), "{steps:?}");
        assert!(steps[2].contains("LOT_SIZE step 0.001"), "{steps:?}");
        assert_eq!(order.side, Side::Buy);
        assert_eq!(
            order.quantity.quantity().get(),
            dec!(0.005),
            "100 / 20000, floored to 0.001"
        );
        assert_eq!(order.client_order_id, "sb7-60000-b");
        assert_eq!(order.candle_open_ms, 60_000);
    }

    #[test]
    fn a_sell_with_nothing_held_is_a_skip_that_says_why() {
        let rules = rules();
        let (Plan::Skip(reason), _) = plan_order(&inputs(&rules, Signal::Sell, Decimal::ZERO))
        else {
            panic!("nothing to sell");
        };
        assert!(reason.contains("nothing to SELL"), "{reason}");
    }

    #[test]
    fn dust_below_the_lot_size_reads_as_flat_and_old_signals_are_stale() {
        let rules = rules();
        assert_eq!(strategy_position(dec!(0.0004), &rules), Position::Flat);
        assert_eq!(strategy_position(dec!(0.001), &rules), Position::Long);
        assert_eq!(stale_signal(Signal::Buy, 0, 60_000, 119_999), None);
        let stale = stale_signal(Signal::Buy, 0, 60_000, 180_000).unwrap();
        assert!(stale.contains("stale: it closed 120 s ago"), "{stale}");
    }
}
