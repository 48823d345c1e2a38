//! How decimals go on the wire: plain strings with exactly eight decimals, as Binance's REST API
//! prints prices, quantities and balances (`"0.00100000"`).

use market::Quantity;
use rust_decimal::Decimal;

/// The decimals Binance prints amounts with.
const WIRE_DECIMALS: u32 = 8;

/// `value` as Binance prints it: `"60000.01000000"`. Extra decimals are truncated.
pub fn decimal8(value: Decimal) -> String {
    let magnitude = Quantity::new(value.abs()).unwrap_or(Quantity::ZERO);
    let text = magnitude.to_wire_string(WIRE_DECIMALS);
    if value.is_sign_negative() && !value.is_zero() {
        format!("-{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_have_eight_decimals() {
        assert_eq!(decimal8(dec!(0.001)), "0.00100000");
        assert_eq!(decimal8(dec!(60000)), "60000.00000000");
        assert_eq!(decimal8(dec!(-1.5)), "-1.50000000");
        assert_eq!(decimal8(dec!(0.123456789)), "0.12345678");
    }
}
