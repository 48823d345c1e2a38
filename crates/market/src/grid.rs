//! Exact "round down to a multiple of the step" arithmetic.
//!
//! `Decimal` rounds any result that needs more than its 28-29 digits: `q - q % step` can give `q`
//! back unchanged (`(Decimal::MAX - 1) - 0.2`), and `2 / 3` gives `0.66...67`, so flooring a
//! rounded quotient can land above the true one. Either would turn a floored quantity into one that
//! is not a multiple of the step or is above what was asked for. Here the numbers are scaled to integers and handled as `u128`, and
//! anything that does not fit is reported as `None` instead of being rounded.

use rust_decimal::Decimal;

/// The legal values on one axis (quantity or quote amount): the non-negative integer multiples of
/// `unit`, the least common multiple of every step that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    /// Positive and normalised (no trailing zeros), so its scale is its number of decimals.
    unit: Decimal,
}

impl Grid {
    /// The multiples of `10^-decimals`: what an asset precision of `decimals` allows. `Decimal`
    /// holds at most 28 decimals, so larger precisions mean 28.
    pub(crate) fn with_decimals(decimals: u32) -> Grid {
        Grid {
            unit: Decimal::new(1, decimals.min(Decimal::MAX_SCALE)),
        }
    }

    /// The grid of values that are multiples of this grid's unit and of `step` as well.
    /// A zero step is no constraint. `None` if the common multiple is beyond `Decimal`'s range.
    pub(crate) fn and_multiple_of(self, step: Decimal) -> Option<Grid> {
        if step <= Decimal::ZERO {
            return Some(self);
        }
        let step = step.normalize();
        let scale = self.unit.scale().max(step.scale());
        let unit = scaled_integer(self.unit, scale)?;
        let step = scaled_integer(step, scale)?;
        let common = (unit / gcd(unit, step)).checked_mul(step)?;
        Some(Grid {
            unit: decimal_from_scaled(common, scale)?,
        })
    }

    /// The largest multiple of the unit that is `<= value`, for a non-negative `value`.
    /// `None` if the exact answer does not fit in a `Decimal`.
    pub(crate) fn floor(self, value: Decimal) -> Option<Decimal> {
        if value <= Decimal::ZERO {
            return Some(Decimal::ZERO);
        }
        let scale = self.unit.scale().max(value.normalize().scale());
        let value = scaled_integer(value, scale)?;
        let unit = scaled_integer(self.unit, scale)?;
        decimal_from_scaled(value - value % unit, scale)
    }

    /// The largest multiple of the unit whose product with `divisor` is `<= numerator`, i.e.
    /// `floor(numerator / divisor)` on the grid, computed without rounding the quotient first.
    /// For a non-negative `numerator` and a positive `divisor`; `None` if out of range.
    pub(crate) fn floor_quotient(self, numerator: Decimal, divisor: Decimal) -> Option<Decimal> {
        if numerator <= Decimal::ZERO || divisor <= Decimal::ZERO {
            return Some(Decimal::ZERO);
        }
        let (numerator, divisor) = (numerator.normalize(), divisor.normalize());
        let unit_mantissa = u128::try_from(self.unit.mantissa()).ok()?;
        let numerator_mantissa = u128::try_from(numerator.mantissa()).ok()?;
        let divisor_mantissa = u128::try_from(divisor.mantissa()).ok()?;
        // numerator / (unit * divisor) = (N * 10^-sn) / (U * D * 10^-(su + sd)).
        let product_scale = self.unit.scale() + divisor.scale();
        let step_cost = unit_mantissa.checked_mul(divisor_mantissa)?;
        let (dividend, divisor) = if product_scale >= numerator.scale() {
            let shift = 10u128.checked_pow(product_scale - numerator.scale())?;
            (numerator_mantissa.checked_mul(shift)?, step_cost)
        } else {
            let shift = 10u128.checked_pow(numerator.scale() - product_scale)?;
            (numerator_mantissa, step_cost.checked_mul(shift)?)
        };
        let whole_units = dividend / divisor;
        decimal_from_scaled(whole_units.checked_mul(unit_mantissa)?, self.unit.scale())
    }

    /// The step between neighbouring legal values.
    pub(crate) fn unit(self) -> Decimal {
        self.unit
    }

    /// How many decimals every legal value needs at most: the unit's significant decimals.
    pub(crate) fn decimals(self) -> u32 {
        self.unit.scale()
    }
}

/// `value * 10^scale` as an integer, for a non-negative `value` with at most `scale` significant
/// decimals.
fn scaled_integer(value: Decimal, scale: u32) -> Option<u128> {
    let value = value.normalize();
    let mantissa = u128::try_from(value.mantissa()).ok()?;
    let factor = 10u128.checked_pow(scale.checked_sub(value.scale())?)?;
    mantissa.checked_mul(factor)
}

/// `integer * 10^-scale` as a `Decimal`, dropping trailing zeros first so that it fits if it can.
fn decimal_from_scaled(mut integer: u128, mut scale: u32) -> Option<Decimal> {
    while scale > 0 && integer.is_multiple_of(10) && integer != 0 {
        integer /= 10;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(i128::try_from(integer).ok()?, scale).ok()
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn grid(decimals: u32, steps: &[Decimal]) -> Grid {
        steps
            .iter()
            .fold(Grid::with_decimals(decimals), |grid, &step| {
                grid.and_multiple_of(step).unwrap()
            })
    }

    #[test]
    fn the_unit_is_the_least_common_multiple_of_the_steps() {
        assert_eq!(grid(8, &[dec!(0.00100000)]).unit(), dec!(0.001));
        assert_eq!(grid(8, &[dec!(0.001), dec!(0.01)]).unit(), dec!(0.01));
        assert_eq!(grid(8, &[dec!(0.25), dec!(0.1)]).unit(), dec!(0.5));
        assert_eq!(grid(8, &[dec!(0.005), dec!(0.002)]).unit(), dec!(0.01));
        assert_eq!(grid(8, &[dec!(5), dec!(0)]).unit(), dec!(5));
        assert_eq!(grid(2, &[]).unit(), dec!(0.01));
        // A step finer than the asset precision is coarsened to what the precision can express.
        assert_eq!(grid(1, &[dec!(0.25)]).unit(), dec!(0.5));
    }

    #[test]
    fn decimals_are_the_units_significant_decimals() {
        assert_eq!(grid(8, &[dec!(0.00100000)]).decimals(), 3);
        assert_eq!(grid(8, &[dec!(5.000)]).decimals(), 0);
        assert_eq!(grid(8, &[]).decimals(), 8);
        assert_eq!(grid(99, &[]).decimals(), 28);
    }

    #[test]
    fn floor_rounds_down_to_a_multiple() {
        let lot = grid(8, &[dec!(0.001)]);
        assert_eq!(lot.floor(dec!(0.1239)), Some(dec!(0.123)));
        assert_eq!(lot.floor(dec!(0.0009)), Some(dec!(0)));
        assert_eq!(lot.floor(dec!(7)), Some(dec!(7)));
        assert_eq!(grid(8, &[dec!(0.25)]).floor(dec!(1.99)), Some(dec!(1.75)));
        assert_eq!(grid(8, &[dec!(5)]).floor(dec!(14.9)), Some(dec!(10)));
    }

    #[test]
    fn floor_stays_exact_where_decimal_remainder_would_not() {
        let thirds = grid(8, &[dec!(0.3)]);
        let big = dec!(7922816251426433759354395033.5);
        let floored = thirds.floor(big).unwrap();
        assert!(floored <= big && big - floored < dec!(0.3), "{floored}");
        assert_eq!(scaled_integer(floored, 1).unwrap() % 3, 0);
    }

    #[test]
    fn floor_quotient_is_the_largest_multiple_whose_product_fits() {
        let lot = grid(8, &[dec!(0.00001)]);
        // 100 / 65000.1 = 0.0015384591...
        assert_eq!(
            lot.floor_quotient(dec!(100), dec!(65000.1)),
            Some(dec!(0.00153))
        );
        assert_eq!(
            lot.floor_quotient(dec!(0.65), dec!(65000)),
            Some(dec!(0.00001))
        );
        assert_eq!(
            lot.floor_quotient(dec!(0.64999), dec!(65000)),
            Some(dec!(0))
        );
        assert_eq!(
            grid(8, &[dec!(5)]).floor_quotient(dec!(99), dec!(2)),
            Some(dec!(45))
        );
        // 1/3 rounds up in the last of Decimal's 28 digits; the exact floor must not.
        let fine = Grid::with_decimals(28);
        let third = fine.floor_quotient(dec!(1), dec!(3)).unwrap();
        assert!(third * dec!(3) <= dec!(1));
        assert_eq!(third, dec!(0.3333333333333333333333333333));
    }

    #[test]
    fn results_beyond_decimal_range_are_none_not_rounded() {
        // 28 decimals times a 29-digit quantity does not fit in u128.
        assert_eq!(Grid::with_decimals(28).floor(Decimal::MAX), None);
        // The multiple of 0.3 just below Decimal::MAX - 1 needs 30 digits.
        let thirds = grid(8, &[dec!(0.3)]);
        assert_eq!(thirds.floor(Decimal::MAX - Decimal::ONE), None);
        assert_eq!(
            thirds.floor(Decimal::MAX),
            Some(Decimal::MAX),
            "2^96 - 1 is a multiple of 3"
        );
        let coprime_a = Decimal::new(79_228_162_514_264_337, 0);
        let coprime_b = Decimal::new(79_228_162_514_264_339, 0);
        assert_eq!(grid(0, &[coprime_a]).and_multiple_of(coprime_b), None);
    }
}
