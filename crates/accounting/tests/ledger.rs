//! The average-cost ledger (`accounting::ledger`) on hand-computed cases (every number worked out in
//! the comments), its errors, and a deterministic generated run checking its invariants over
//! thousands of buy/sell cycles.

use accounting::ledger::{
    Applied, Commission, ExecutionAmounts, Holding, LedgerError, apply, split_fees,
};
use market::Side;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn execution(
    side: Side,
    executed_base: Decimal,
    executed_quote: Decimal,
    fee_base: Decimal,
    fee_quote: Decimal,
) -> ExecutionAmounts {
    ExecutionAmounts {
        side,
        executed_base,
        executed_quote,
        fee_base,
        fee_quote,
    }
}

fn buy(base: Decimal, quote: Decimal) -> ExecutionAmounts {
    execution(Side::Buy, base, quote, Decimal::ZERO, Decimal::ZERO)
}

fn sell(base: Decimal, quote: Decimal) -> ExecutionAmounts {
    execution(Side::Sell, base, quote, Decimal::ZERO, Decimal::ZERO)
}

fn holding(quantity: Decimal, cost_quote: Decimal, realized_pnl: Decimal) -> Holding {
    Holding {
        quantity,
        cost_quote,
        realized_pnl,
    }
}

/// Applies `execution`, which must succeed.
fn step(before: &Holding, execution: ExecutionAmounts) -> Applied {
    apply(before, &execution).unwrap_or_else(|err| panic!("{execution:?} on {before:?}: {err}"))
}

#[test]
fn round_trip_with_quote_fees_on_both_sides() {
    // BUY 0.5 BTC for 10000 USDT, commission 10 USDT: cost 10000 + 10 = 10010.
    let bought = step(
        &Holding::default(),
        execution(Side::Buy, dec!(0.5), dec!(10000), dec!(0), dec!(10)),
    );
    assert_eq!(bought.realized_pnl, None);
    assert_eq!(
        bought.holding_after,
        holding(dec!(0.5), dec!(10010), dec!(0))
    );
    // SELL 0.5 at 21000: 10500 USDT, commission 0.1% = 10.5; proceeds 10500 - 10.5 = 10489.5;
    // realised 10489.5 - 10010 = 479.5.
    let sold = step(
        &bought.holding_after,
        execution(Side::Sell, dec!(0.5), dec!(10500), dec!(0), dec!(10.5)),
    );
    assert_eq!(sold.realized_pnl, Some(dec!(479.5)));
    assert_eq!(sold.holding_after, holding(dec!(0), dec!(0), dec!(479.5)));
}

#[test]
fn a_buy_fee_in_base_reduces_what_arrives() {
    // BUY 0.5 BTC for 10000 USDT, commission 0.1% in BTC = 0.0005: 0.4995 BTC arrive, for 10000.
    let bought = step(
        &Holding::default(),
        execution(Side::Buy, dec!(0.5), dec!(10000), dec!(0.0005), dec!(0)),
    );
    assert_eq!(
        bought.holding_after,
        holding(dec!(0.4995), dec!(10000), dec!(0))
    );
    // SELL 0.4995 at 21000: 0.4995 × 21000 = 10489.5 USDT, commission 0.1% = 10.4895;
    // proceeds 10489.5 - 10.4895 = 10479.0105; realised 10479.0105 - 10000 = 479.0105.
    let sold = step(
        &bought.holding_after,
        execution(
            Side::Sell,
            dec!(0.4995),
            dec!(10489.5),
            dec!(0),
            dec!(10.4895),
        ),
    );
    assert_eq!(sold.realized_pnl, Some(dec!(479.0105)));
    assert_eq!(
        sold.holding_after,
        holding(dec!(0), dec!(0), dec!(479.0105))
    );
}

#[test]
fn a_sell_fee_in_base_leaves_with_the_sold_quantity() {
    // Holding 1 BTC that cost 100. SELL 0.5 for 60 with 0.01 BTC commission: 0.51 BTC leave;
    // their cost is 100 × 0.51 / 1 = 51; realised 60 - 51 = 9; 0.49 BTC left costing 49.
    let sold = step(
        &holding(dec!(1), dec!(100), dec!(0)),
        execution(Side::Sell, dec!(0.5), dec!(60), dec!(0.01), dec!(0)),
    );
    assert_eq!(sold.realized_pnl, Some(dec!(9)));
    assert_eq!(sold.holding_after, holding(dec!(0.49), dec!(49), dec!(9)));
}

#[test]
fn several_buys_average_their_cost_before_one_sell() {
    // BUY 1 for 100, 1 for 200, 2 for 300 (at 150): 4 held for 600, an average of 150.
    let mut held = Holding::default();
    for (base, quote) in [
        (dec!(1), dec!(100)),
        (dec!(1), dec!(200)),
        (dec!(2), dec!(300)),
    ] {
        held = step(&held, buy(base, quote)).holding_after;
    }
    assert_eq!(held, holding(dec!(4), dec!(600), dec!(0)));
    // SELL 1 at 180, commission 0.18: proceeds 179.82; cost 600 × 1 / 4 = 150;
    // realised 29.82; 3 left costing 450 (still 150 each).
    let sold = step(
        &held,
        execution(Side::Sell, dec!(1), dec!(180), dec!(0), dec!(0.18)),
    );
    assert_eq!(sold.realized_pnl, Some(dec!(29.82)));
    assert_eq!(sold.holding_after, holding(dec!(3), dec!(450), dec!(29.82)));
}

#[test]
fn sell_half_then_the_rest() {
    // BUY 2 for 200 with 0.2 commission in quote: 2 held for 200.2.
    let bought = step(
        &Holding::default(),
        execution(Side::Buy, dec!(2), dec!(200), dec!(0), dec!(0.2)),
    );
    // SELL 1 at 110, commission 0.11: proceeds 109.89; cost 200.2 × 1 / 2 = 100.1;
    // realised 109.89 - 100.1 = 9.79; 1 left costing 100.1.
    let first = step(
        &bought.holding_after,
        execution(Side::Sell, dec!(1), dec!(110), dec!(0), dec!(0.11)),
    );
    assert_eq!(first.realized_pnl, Some(dec!(9.79)));
    assert_eq!(
        first.holding_after,
        holding(dec!(1), dec!(100.1), dec!(9.79))
    );
    // SELL the last 1 at 90, commission 0.09: proceeds 89.91; cost 100.1; realised -10.19.
    // In total 9.79 - 10.19 = -0.40 = (109.89 + 89.91) - 200.2.
    let second = step(
        &first.holding_after,
        execution(Side::Sell, dec!(1), dec!(90), dec!(0), dec!(0.09)),
    );
    assert_eq!(second.realized_pnl, Some(dec!(-10.19)));
    assert_eq!(second.holding_after, holding(dec!(0), dec!(0), dec!(-0.40)));
}

#[test]
fn selling_a_third_three_times_leaves_no_residue() {
    // BUY 3 for 100: a third of the cost, 33.333..., has no finite decimal.
    let mut held = step(&Holding::default(), buy(dec!(3), dec!(100))).holding_after;
    // SELL 1 for 33.33: cost 100 × 1 / 3 = 33.3333333333333333333333333333 (28 digits),
    // toward zero at 18 places 33.333333333333333333; realised 33.33 - that =
    // -0.003333333333333333; 2 left costing 100 - 33.333333333333333333 = 66.666666666666666667.
    let first = step(&held, sell(dec!(1), dec!(33.33)));
    assert_eq!(first.realized_pnl, Some(dec!(-0.003333333333333333)));
    assert_eq!(first.holding_after.cost_quote, dec!(66.666666666666666667));
    held = first.holding_after;
    // SELL 1 for 33.33: cost 66.666666666666666667 / 2 = 33.3333333333333333335, toward zero
    // 33.333333333333333333; realised -0.003333333333333333 again; 1 left costing
    // 33.333333333333333334 (the two residues of 10⁻¹⁸ stay with the holding).
    let second = step(&held, sell(dec!(1), dec!(33.33)));
    assert_eq!(second.realized_pnl, Some(dec!(-0.003333333333333333)));
    assert_eq!(second.holding_after.cost_quote, dec!(33.333333333333333334));
    held = second.holding_after;
    // SELL the last 1 for 33.34: it takes the whole 33.333333333333333334 left; realised
    // 0.006666666666666666. Total -0.003333333333333333 × 2 + 0.006666666666666666 = 0
    // = (33.33 + 33.33 + 33.34) - 100, exactly; the cost is exactly 0.
    let last = step(&held, sell(dec!(1), dec!(33.34)));
    assert_eq!(last.realized_pnl, Some(dec!(0.006666666666666666)));
    assert_eq!(last.holding_after, holding(dec!(0), dec!(0), dec!(0)));
    assert!(last.holding_after.realized_pnl.is_zero());
}

#[test]
fn a_partially_filled_order_books_only_what_executed() {
    // A BUY of 1 BTC that executed 0.4 BTC for 8000 USDT, commission 0.0004 BTC:
    // 0.3996 held for 8000. Nothing about the unfilled 0.6 reaches the ledger.
    let bought = step(
        &Holding::default(),
        execution(Side::Buy, dec!(0.4), dec!(8000), dec!(0.0004), dec!(0)),
    );
    assert_eq!(
        bought.holding_after,
        holding(dec!(0.3996), dec!(8000), dec!(0))
    );
    // A SELL of all 0.3996 that executed 0.1 for 2100, commission 2.1: cost
    // 8000 × 0.1 / 0.3996 = 2002.002002002002002002002002 (28 digits), toward zero at 18
    // places 2002.002002002002002002; proceeds 2097.9; realised 95.897997997997997998;
    // 0.2996 left costing 5997.997997997997997998.
    let sold = step(
        &bought.holding_after,
        execution(Side::Sell, dec!(0.1), dec!(2100), dec!(0), dec!(2.1)),
    );
    assert_eq!(sold.realized_pnl, Some(dec!(95.897997997997997998)));
    assert_eq!(
        sold.holding_after,
        holding(
            dec!(0.2996),
            dec!(5997.997997997997997998),
            dec!(95.897997997997997998)
        )
    );
}

#[test]
fn bnb_commissions_are_valued_in_quote() {
    // A BTCUSDT order with three fills' commissions: 0.01 BNB, 0.5 USDT and 0.005 BNB, BNB at
    // 600 USDT: fee_quote = 0.01 × 600 + 0.5 + 0.005 × 600 = 6 + 0.5 + 3 = 9.5; fee_base 0.
    // The 0 BTC entry is skipped, so it does not matter that it is in base.
    let fees = [
        Commission {
            asset: "BNB".to_owned(),
            amount: dec!(0.01),
        },
        Commission {
            asset: "USDT".to_owned(),
            amount: dec!(0.5),
        },
        Commission {
            asset: "BNB".to_owned(),
            amount: dec!(0.005),
        },
        Commission {
            asset: "BTC".to_owned(),
            amount: dec!(0),
        },
    ];
    let bnb_at_600 = |asset: &str, amount: Decimal| (asset == "BNB").then(|| amount * dec!(600));
    let (fee_base, fee_quote) = split_fees("BTC", "USDT", &fees, bnb_at_600).unwrap();
    assert_eq!((fee_base, fee_quote), (dec!(0), dec!(9.5)));
    // BUY 0.1 BTC for 6000 with those commissions: 0.1 held for 6009.5.
    let bought = step(
        &Holding::default(),
        execution(Side::Buy, dec!(0.1), dec!(6000), fee_base, fee_quote),
    );
    assert_eq!(
        bought.holding_after,
        holding(dec!(0.1), dec!(6009.5), dec!(0))
    );

    // Base commissions add up in fee_base; a zero BNB entry needs no BNB price.
    let base_fees = [
        Commission {
            asset: "BTC".to_owned(),
            amount: dec!(0.0001),
        },
        Commission {
            asset: "BTC".to_owned(),
            amount: dec!(0.0002),
        },
        Commission {
            asset: "BNB".to_owned(),
            amount: dec!(0),
        },
    ];
    assert_eq!(
        split_fees("BTC", "USDT", &base_fees, |_, _| None),
        Ok((dec!(0.0003), dec!(0)))
    );
}

#[test]
fn a_commission_that_cannot_be_valued_or_is_negative_is_an_error() {
    let fees = [Commission {
        asset: "BNB".to_owned(),
        amount: dec!(0.01),
    }];
    assert_eq!(
        split_fees("BTC", "USDT", &fees, |_, _| None),
        Err(LedgerError::UnvaluedCommission {
            asset: "BNB".to_owned()
        })
    );
    assert_eq!(
        split_fees("BTC", "USDT", &fees, |_, _| Some(dec!(-1))),
        Err(LedgerError::NegativeCommission {
            asset: "BNB".to_owned(),
            amount: dec!(-1)
        })
    );
    let negative = [Commission {
        asset: "USDT".to_owned(),
        amount: dec!(-0.5),
    }];
    assert_eq!(
        split_fees("BTC", "USDT", &negative, |_, _| None),
        Err(LedgerError::NegativeCommission {
            asset: "USDT".to_owned(),
            amount: dec!(-0.5)
        })
    );
}

#[test]
fn a_losing_round_trip() {
    // BUY 1 at 30000 with 30 commission in quote: 1 held for 30030.
    // SELL 1 at 27000 with 27 commission: proceeds 26973; realised 26973 - 30030 = -3057.
    let bought = step(
        &Holding::default(),
        execution(Side::Buy, dec!(1), dec!(30000), dec!(0), dec!(30)),
    );
    let sold = step(
        &bought.holding_after,
        execution(Side::Sell, dec!(1), dec!(27000), dec!(0), dec!(27)),
    );
    assert_eq!(sold.realized_pnl, Some(dec!(-3057)));
    assert_eq!(sold.holding_after, holding(dec!(0), dec!(0), dec!(-3057)));
    // Realised PnL accumulates across round trips: a second one winning 100 leaves -2957.
    let again = step(&sold.holding_after, buy(dec!(1), dec!(1000))).holding_after;
    let won = step(&again, sell(dec!(1), dec!(1100)));
    assert_eq!(won.realized_pnl, Some(dec!(100)));
    assert_eq!(won.holding_after.realized_pnl, dec!(-2957));
}

#[test]
fn selling_more_than_held_is_an_error() {
    let held = holding(dec!(0.5), dec!(10000), dec!(0));
    assert_eq!(
        apply(&held, &sell(dec!(0.6), dec!(12000))),
        Err(LedgerError::SellExceedsHolding {
            held: dec!(0.5),
            sold: dec!(0.6)
        })
    );
    // All that is held plus a commission in base: 0.5 + 0.001 leave.
    assert_eq!(
        apply(
            &held,
            &execution(Side::Sell, dec!(0.5), dec!(10000), dec!(0.001), dec!(0))
        ),
        Err(LedgerError::SellExceedsHolding {
            held: dec!(0.5),
            sold: dec!(0.501)
        })
    );
    assert_eq!(
        apply(&Holding::default(), &sell(dec!(0.1), dec!(2000))),
        Err(LedgerError::SellExceedsHolding {
            held: dec!(0),
            sold: dec!(0.1)
        })
    );
}

#[test]
fn negative_amounts_are_errors_naming_the_field() {
    let held = holding(dec!(1), dec!(100), dec!(-5));
    let good = execution(Side::Buy, dec!(1), dec!(100), dec!(0), dec!(0.1));
    let cases = [
        (
            "executed_base",
            ExecutionAmounts {
                executed_base: dec!(-1),
                ..good
            },
        ),
        (
            "executed_quote",
            ExecutionAmounts {
                executed_quote: dec!(-1),
                ..good
            },
        ),
        (
            "fee_base",
            ExecutionAmounts {
                fee_base: dec!(-1),
                ..good
            },
        ),
        (
            "fee_quote",
            ExecutionAmounts {
                fee_quote: dec!(-1),
                ..good
            },
        ),
    ];
    for (field, bad) in cases {
        for side in [Side::Buy, Side::Sell] {
            assert_eq!(
                apply(&held, &ExecutionAmounts { side, ..bad }),
                Err(LedgerError::Negative {
                    field,
                    value: dec!(-1)
                })
            );
        }
    }
    assert_eq!(
        apply(&holding(dec!(-1), dec!(100), dec!(0)), &good),
        Err(LedgerError::Negative {
            field: "holding.quantity",
            value: dec!(-1)
        })
    );
    assert_eq!(
        apply(&holding(dec!(1), dec!(-100), dec!(0)), &good),
        Err(LedgerError::Negative {
            field: "holding.cost_quote",
            value: dec!(-100)
        })
    );
    // A negative realised PnL so far is a fact, not an error.
    assert!(apply(&held, &good).is_ok());
}

#[test]
fn a_zero_execution_changes_nothing() {
    let held = holding(dec!(1), dec!(100), dec!(7));
    assert_eq!(
        apply(&held, &sell(dec!(0), dec!(0))),
        Ok(Applied {
            holding_after: held,
            realized_pnl: Some(dec!(0))
        })
    );
    assert_eq!(
        apply(&held, &buy(dec!(0), dec!(0))),
        Ok(Applied {
            holding_after: held,
            realized_pnl: None
        })
    );
    // Even from an empty holding: selling nothing is not selling more than held.
    assert_eq!(
        apply(&Holding::default(), &sell(dec!(0), dec!(0))),
        Ok(Applied {
            holding_after: Holding::default(),
            realized_pnl: Some(dec!(0))
        })
    );
    // Nothing executed but quote moved or a commission paid: inconsistent.
    for bad in [
        sell(dec!(0), dec!(10)),
        execution(Side::Buy, dec!(0), dec!(0), dec!(0.1), dec!(0)),
        execution(Side::Sell, dec!(0), dec!(0), dec!(0), dec!(0.1)),
    ] {
        assert_eq!(
            apply(&held, &bad),
            Err(LedgerError::AmountsWithoutExecution)
        );
    }
}

#[test]
fn a_buy_whose_base_fee_takes_everything_is_an_error() {
    assert_eq!(
        apply(
            &Holding::default(),
            &execution(Side::Buy, dec!(0.001), dec!(20), dec!(0.001), dec!(0))
        ),
        Err(LedgerError::FeeConsumesPurchase {
            executed_base: dec!(0.001),
            fee_base: dec!(0.001)
        })
    );
}

#[test]
fn amounts_beyond_the_decimal_range_are_an_overflow_error() {
    let held = holding(dec!(1), Decimal::MAX, dec!(0));
    assert_eq!(
        apply(&held, &buy(dec!(1), dec!(1))),
        Err(LedgerError::Overflow)
    );
    // Proceeds of -MAX (a commission valued absurdly) minus a cost of MAX.
    assert_eq!(
        apply(
            &held,
            &execution(Side::Sell, dec!(1), dec!(0), dec!(0), Decimal::MAX)
        ),
        Err(LedgerError::Overflow)
    );
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): deterministic cases
/// without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // The high bits of an LCG are the random ones.
        self.0 >> 33
    }

    /// Uniform enough in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// A quantity on a 10⁻⁸ step, from 0.00000001 to 5.
    fn quantity(&mut self) -> Decimal {
        Decimal::new(self.between(1, 500_000_000) as i64, 8)
    }

    /// A price on a 0.01 tick, from 0.01 to 100000.
    fn price(&mut self) -> Decimal {
        Decimal::new(self.between(1, 10_000_000) as i64, 2)
    }
}

/// Splits `total` into 1 to 4 positive sells on the 10⁻⁸ step; the last takes the remainder.
fn sell_sizes(rng: &mut Lcg, total: Decimal) -> Vec<Decimal> {
    let mut left = total;
    let mut sizes = Vec::new();
    for _ in 1..rng.between(1, 4) {
        let units = (left * dec!(100000000)).trunc();
        if units < dec!(2) {
            break;
        }
        let take = Decimal::new(rng.between(1, 1_000_000_000) as i64, 0) % (units - dec!(1));
        let size = (take + dec!(1)) / dec!(100000000);
        sizes.push(size);
        left -= size;
    }
    sizes.push(left);
    sizes
}

#[test]
fn same_price_no_fee_cycles_realise_nothing_and_leave_no_cost() {
    let mut rng = Lcg(0x5eed_0001);
    for case in 0..2_000 {
        let price = rng.price();
        let mut held = Holding::default();
        for _ in 0..rng.between(1, 5) {
            let quantity = rng.quantity();
            held = step(&held, buy(quantity, quantity * price)).holding_after;
        }
        for size in sell_sizes(&mut rng, held.quantity) {
            let sold = step(&held, sell(size, size * price));
            // The average cost is the price, so every sell, partial or not, realises nothing.
            assert_eq!(sold.realized_pnl, Some(dec!(0)), "case {case}");
            assert!(sold.holding_after.cost_quote >= dec!(0), "case {case}");
            held = sold.holding_after;
        }
        assert_eq!(held, Holding::default(), "case {case}");
    }
}

#[test]
fn realised_pnl_of_any_flat_cycle_is_proceeds_minus_costs_exactly() {
    let mut rng = Lcg(0x5eed_0002);
    let mut held = Holding::default();
    let mut realized_total = dec!(0);
    for case in 0..2_000 {
        let mut costs = dec!(0);
        let mut proceeds = dec!(0);
        let realized_before = held.realized_pnl;
        for _ in 0..rng.between(1, 5) {
            let quantity = rng.quantity();
            let quote = (quantity * rng.price()).round_dp(8);
            // Half the buys pay 0.1% in base, the others 0.1% in quote (as BNB valued would).
            let (fee_base, fee_quote) = if rng.next().is_multiple_of(2) {
                ((quantity / dec!(1000)).round_dp(8), dec!(0))
            } else {
                (dec!(0), (quote / dec!(1000)).round_dp(8))
            };
            held = step(
                &held,
                execution(Side::Buy, quantity, quote, fee_base, fee_quote),
            )
            .holding_after;
            costs += quote + fee_quote;
        }
        if held.quantity.is_zero() {
            continue;
        }
        for size in sell_sizes(&mut rng, held.quantity) {
            let quote = (size * rng.price()).round_dp(8);
            let fee_quote = (quote / dec!(1000)).round_dp(8);
            let before = held;
            let sold = step(
                &held,
                execution(Side::Sell, size, quote, dec!(0), fee_quote),
            );
            held = sold.holding_after;
            proceeds += quote - fee_quote;
            realized_total += sold.realized_pnl.expect("a sell realises");
            assert!(held.cost_quote >= dec!(0), "case {case}: {held:?}");
            if !held.quantity.is_zero() {
                // The average cost is kept: what is left costs its share of what was held,
                // plus the rounding toward zero (under 10⁻¹⁸) of what was sold, give or take
                // the 28-digit rounding of `share` itself (10⁻²⁰ is ample at these sizes).
                let share = before.cost_quote * held.quantity / before.quantity;
                let residue = held.cost_quote - share;
                assert!(
                    residue > dec!(-0.00000000000000000001)
                        && residue < dec!(0.00000000000000000101),
                    "case {case}: {residue}"
                );
            }
        }
        assert_eq!(held.quantity, dec!(0), "case {case}");
        assert_eq!(held.cost_quote, dec!(0), "case {case}");
        assert_eq!(
            held.realized_pnl - realized_before,
            proceeds - costs,
            "case {case}"
        );
        assert_eq!(held.realized_pnl, realized_total, "case {case}");
    }
}
