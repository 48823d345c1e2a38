//! The simulator's synthetic order book: the levels a MARKET order fills against, and the walk
//! of an order through them.
//!
//! The book is regenerated from the current price for every order: levels at fixed relative
//! distances from the price, with quantities growing away from it. It remembers no earlier fills,
//! so orders have no lasting market impact; a large order still walks several levels and gets
//! several fills at different prices, as on the real exchange.
//!
//! A crate of its own so that the backtest can fill at the very book the simulator's paper bots
//! trade against (`spotbot backtest --fill book`) without depending on the simulator's server.

use rust_decimal::{Decimal, RoundingStrategy};

use market::Side;

/// How the synthetic book around the current price looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookShape {
    /// Levels on each side.
    pub levels: u32,
    /// Distance of the best ask and bid from the price, as a fraction of it (`0.0001` = 1 bp).
    pub half_spread: Decimal,
    /// Distance between neighbouring levels, as a fraction of the price.
    pub level_gap: Decimal,
    /// Base quantity at the best level (a multiple of the symbol's step).
    pub first_level_qty: Decimal,
    /// Base quantity added at each level further away (a multiple of the step).
    pub qty_growth: Decimal,
}

impl BookShape {
    /// The default listings' book: 20 levels a side, 1 bp from the price and 1 bp apart, with
    /// `unit` base quantity at the best level and `unit` more at each level further away.
    pub fn standard(unit: Decimal) -> BookShape {
        BookShape {
            levels: 20,
            half_spread: Decimal::new(1, 4),
            level_gap: Decimal::new(1, 4),
            first_level_qty: unit,
            qty_growth: unit,
        }
    }
}

/// One price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// Its price, on the tick grid.
    pub price: Decimal,
    /// The base quantity resting there.
    pub qty: Decimal,
}

impl BookShape {
    /// The levels a taker on `side` trades against: asks, lowest first, for a BUY; bids, highest
    /// first, for a SELL. Prices are rounded away from `price` onto the `tick_size` grid.
    pub fn levels_for(&self, side: Side, price: Decimal, tick_size: Decimal) -> Vec<Level> {
        (0..self.levels)
            .map(|index| {
                let index = Decimal::from(index);
                let distance = self.half_spread + self.level_gap * index;
                let (raw, rounding) = match side {
                    Side::Buy => (
                        price * (Decimal::ONE + distance),
                        RoundingStrategy::ToPositiveInfinity,
                    ),
                    Side::Sell => (
                        price * (Decimal::ONE - distance),
                        RoundingStrategy::ToNegativeInfinity,
                    ),
                };
                Level {
                    price: round_to_step(raw, tick_size, rounding).max(tick_size),
                    qty: self.first_level_qty + self.qty_growth * index,
                }
            })
            .collect()
    }
}

/// How big a MARKET order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSize {
    /// `quantity`: this much base asset.
    Base(Decimal),
    /// `quoteOrderQty`: spend (BUY) or receive (SELL) up to this much quote asset.
    Quote(Decimal),
}

/// One trade of an order against one level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// The level's price.
    pub price: Decimal,
    /// The base quantity traded.
    pub qty: Decimal,
}

/// What walking the book gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The trades, best price first.
    pub matches: Vec<Match>,
    /// Whether the order got all it asked for; `false` when the book ran out first (the rest
    /// expires, as on Binance).
    pub complete: bool,
}

impl Execution {
    /// Total base quantity traded.
    pub fn executed_qty(&self) -> Decimal {
        self.matches.iter().map(|traded| traded.qty).sum()
    }

    /// Total quote amount traded: the sum of price × quantity (`cummulativeQuoteQty`).
    pub fn quote_qty(&self) -> Decimal {
        self.matches
            .iter()
            .map(|traded| traded.price * traded.qty)
            .sum()
    }
}

/// Walks `levels` (best first) until `size` is met or the book runs out. Every traded quantity is
/// a multiple of `step_size`; a quote-sized order stops when the rest of its amount cannot pay for
/// one more step at the next level's price, and never trades more than its amount.
pub fn execute(levels: &[Level], size: OrderSize, step_size: Decimal) -> Execution {
    let mut matches = Vec::new();
    match size {
        OrderSize::Base(wanted) => {
            let mut remaining = wanted;
            for level in levels {
                if remaining <= Decimal::ZERO {
                    break;
                }
                let qty = remaining.min(level.qty);
                matches.push(Match {
                    price: level.price,
                    qty,
                });
                remaining -= qty;
            }
            Execution {
                matches,
                complete: remaining <= Decimal::ZERO,
            }
        }
        OrderSize::Quote(amount) => {
            let mut remaining = amount;
            for level in levels {
                let affordable = affordable_qty(remaining, level.price, step_size);
                let qty = affordable.min(level.qty);
                if qty > Decimal::ZERO {
                    matches.push(Match {
                        price: level.price,
                        qty,
                    });
                    remaining -= qty * level.price;
                }
                if qty < level.qty {
                    return Execution {
                        matches,
                        complete: true,
                    };
                }
            }
            Execution {
                matches,
                complete: false,
            }
        }
    }
}

/// The largest multiple of `step` whose cost at `price` is at most `amount`.
fn affordable_qty(amount: Decimal, price: Decimal, step: Decimal) -> Decimal {
    if amount <= Decimal::ZERO || price <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let mut qty = round_to_step(amount / price, step, RoundingStrategy::ToZero);
    // The quotient has 28 significant digits and may have been rounded up past a step boundary.
    while qty > Decimal::ZERO && qty * price > amount {
        qty -= step;
    }
    qty
}

/// The market price `value` as the exchange quotes it: on the `tick_size` grid (to the nearest
/// tick, ties to even), at least one tick. The book is built around it.
pub fn tick_price(value: f64, tick_size: Decimal) -> Decimal {
    let exact = Decimal::try_from(value).unwrap_or(tick_size);
    round_to_step(exact, tick_size, RoundingStrategy::MidpointNearestEven).max(tick_size)
}

/// `value` rounded onto the multiples of `step` (unchanged for a zero step).
pub fn round_to_step(value: Decimal, step: Decimal, rounding: RoundingStrategy) -> Decimal {
    if step.is_zero() {
        return value;
    }
    ((value / step).round_dp_with_strategy(0, rounding) * step).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn shape() -> BookShape {
        BookShape {
            levels: 3,
            half_spread: dec!(0.0001),
            level_gap: dec!(0.0001),
            first_level_qty: dec!(0.05),
            qty_growth: dec!(0.05),
        }
    }

    #[test]
    fn asks_rise_and_bids_fall_from_the_price_on_the_tick_grid() {
        let asks = shape().levels_for(Side::Buy, dec!(60000), dec!(0.01));
        assert_eq!(
            asks,
            [
                Level {
                    price: dec!(60006),
                    qty: dec!(0.05)
                },
                Level {
                    price: dec!(60012),
                    qty: dec!(0.10)
                },
                Level {
                    price: dec!(60018),
                    qty: dec!(0.15)
                },
            ]
        );
        let bids = shape().levels_for(Side::Sell, dec!(60000.015), dec!(0.01));
        assert_eq!(bids[0].price, dec!(59994.01));
    }

    #[test]
    fn a_large_base_order_walks_levels_and_may_run_out() {
        let asks = shape().levels_for(Side::Buy, dec!(60000), dec!(0.01));
        let walked = execute(&asks, OrderSize::Base(dec!(0.16)), dec!(0.00001));
        assert_eq!(walked.matches.len(), 3);
        assert_eq!(walked.executed_qty(), dec!(0.16));
        assert!(walked.complete);
        assert_eq!(
            walked.quote_qty(),
            dec!(3000.3) + dec!(6001.2) + dec!(600.18)
        );

        let too_big = execute(&asks, OrderSize::Base(dec!(1)), dec!(0.00001));
        assert_eq!(too_big.executed_qty(), dec!(0.30));
        assert!(!too_big.complete);
    }

    #[test]
    fn a_quote_order_never_spends_more_than_its_amount() {
        let asks = shape().levels_for(Side::Buy, dec!(60000), dec!(0.01));
        let walked = execute(&asks, OrderSize::Quote(dec!(100)), dec!(0.00001));
        assert_eq!(walked.executed_qty(), dec!(0.00166));
        assert!(walked.quote_qty() <= dec!(100));
        assert!(dec!(100) - walked.quote_qty() < dec!(60006) * dec!(0.00001));
        assert!(walked.complete);
    }
}
