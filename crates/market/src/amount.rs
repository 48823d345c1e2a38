//! Exact decimal amounts: [`Price`] and [`Quantity`], non-negative newtypes over `Decimal`, and the
//! strict plain-decimal text format that Binance uses on the wire (`"0.00100000"`, never `1e-3`).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why a text or a `Decimal` could not become a [`Price`] or a [`Quantity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The text is not a plain decimal number (digits with at most one `.`, no exponent, no sign
    /// other than a leading `-`), or it has more digits than `Decimal` holds exactly.
    #[error("{given:?} is not a plain decimal number")]
    NotADecimal {
        /// The text that was given.
        given: String,
    },
    /// The value is below zero.
    #[error("{what} {value} is negative; it must be zero or more")]
    Negative {
        /// `"price"` or `"quantity"`.
        what: &'static str,
        /// The offending value.
        value: Decimal,
    },
}

/// Parses Binance's plain decimal text: ASCII digits with an optional fraction and an optional
/// leading `-`. Unlike `Decimal::from_str` it refuses exponents, `_`, `+`, and a bare `.5` or `5.`,
/// and it refuses digits that `Decimal` would silently round away.
pub(crate) fn parse_plain_decimal(text: &str) -> Option<Decimal> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|fraction| !all_digits(fraction)) {
        return None;
    }
    Decimal::from_str_exact(text).ok()
}

/// Formats a non-negative decimal with exactly `decimals` digits after the point (at most 28),
/// truncating extra digits (toward zero) and padding with zeros.
///
/// The padding is done here rather than with `format!("{:.N}")`: `Decimal`'s precision formatting
/// writes into a 32-byte buffer and panics when digits plus padding exceed it (`{:.8}` of a 29-digit
/// integer). Its plain `Display`, used below, needs at most 31 bytes and never prints an exponent.
fn format_truncated(value: Decimal, decimals: u32) -> String {
    let decimals = decimals.min(Decimal::MAX_SCALE);
    let truncated = value.trunc_with_scale(decimals).normalize();
    let mut text = truncated.to_string();
    let missing_zeros = decimals - truncated.scale();
    if missing_zeros > 0 {
        if truncated.scale() == 0 {
            text.push('.');
        }
        text.extend(std::iter::repeat_n('0', missing_zeros as usize));
    }
    text
}

/// Defines a non-negative decimal newtype; `what` names it in error messages.
macro_rules! non_negative_decimal {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "Decimal", into = "Decimal")]
        pub struct $name(Decimal);

        impl $name {
            /// Zero.
            pub const ZERO: $name = $name(Decimal::ZERO);

            /// Wraps `value`, refusing negatives.
            pub fn new(value: Decimal) -> Result<Self, AmountError> {
                if value.is_sign_negative() && !value.is_zero() {
                    return Err(AmountError::Negative { what: $what, value });
                }
                // `-0` would print with its sign; every zero is stored as plain zero.
                Ok($name(if value.is_zero() { Decimal::ZERO } else { value }))
            }

            /// The exact decimal value.
            pub const fn get(self) -> Decimal {
                self.0
            }

            /// Whether the value is zero.
            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }
        }

        impl TryFrom<Decimal> for $name {
            type Error = AmountError;

            fn try_from(value: Decimal) -> Result<Self, Self::Error> {
                $name::new(value)
            }
        }

        impl From<$name> for Decimal {
            fn from(value: $name) -> Decimal {
                value.0
            }
        }

        impl FromStr for $name {
            type Err = AmountError;

            /// Accepts only plain decimal text such as `"0.00100000"`: no exponent, no `+`.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let value = parse_plain_decimal(text).ok_or_else(|| AmountError::NotADecimal {
                    given: text.to_owned(),
                })?;
                $name::new(value)
            }
        }

        impl fmt::Display for $name {
            /// The shortest plain decimal: trailing zeros stripped, never an exponent. With a
            /// precision (`{:.2}`), exactly that many decimals, truncated as
            /// [`Quantity::to_wire_string`] does. Width and alignment are honoured.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let text = match f.precision() {
                    Some(decimals) => {
                        format_truncated(self.0, u32::try_from(decimals).unwrap_or(u32::MAX))
                    }
                    None => self.0.normalize().to_string(),
                };
                // `pad` would read the precision as a maximum width; `pad_integral` ignores it.
                f.pad_integral(true, "", &text)
            }
        }
    };
}

non_negative_decimal!(
    /// A price in quote-asset units per one base-asset unit, exact and never negative.
    ///
    /// ```
    /// use market::Price;
    /// let price: Price = "65000.10000000".parse().unwrap();
    /// assert_eq!(price.to_string(), "65000.1");
    /// assert!("-1".parse::<Price>().is_err());
    /// assert!("6.5e4".parse::<Price>().is_err());
    /// ```
    Price,
    "price"
);

non_negative_decimal!(
    /// An amount of an asset (a base quantity, or a quote amount to spend), exact and never negative.
    ///
    /// ```
    /// use market::Quantity;
    /// let quantity: Quantity = "0.12000000".parse().unwrap();
    /// assert_eq!(quantity.to_string(), "0.12");
    /// assert_eq!(quantity.to_wire_string(3), "0.120");
    /// ```
    Quantity,
    "quantity"
);

impl Quantity {
    /// The quantity as Binance wants it on the wire: a plain decimal string with exactly `decimals`
    /// digits after the point (none, and no point, for 0).
    ///
    /// Extra digits are truncated, never rounded up, so a wire quantity never exceeds the real one
    /// (rounding up could sell more than is held). `decimals` above 28, the most `Decimal` holds,
    /// counts as 28. A quantity from [`crate::normalize_market_quantity`] is already a multiple of
    /// the step, so with the step's decimals nothing is cut.
    ///
    /// ```
    /// use market::Quantity;
    /// let quantity: Quantity = "1.23456".parse().unwrap();
    /// assert_eq!(quantity.to_wire_string(3), "1.234");
    /// assert_eq!(quantity.to_wire_string(0), "1");
    /// assert_eq!("0.0000001".parse::<Quantity>().unwrap().to_wire_string(8), "0.00000010");
    /// ```
    pub fn to_wire_string(self, decimals: u32) -> String {
        format_truncated(self.0, decimals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn plain_decimal_text_is_accepted() {
        assert_eq!(parse_plain_decimal("0.00100000"), Some(dec!(0.001)));
        assert_eq!(parse_plain_decimal("100000"), Some(dec!(100000)));
        assert_eq!(parse_plain_decimal("-2.5"), Some(dec!(-2.5)));
    }

    #[test]
    fn exotic_number_spellings_are_refused() {
        for text in [
            "", ".", "-", "1e5", "1_000", "+1", ".5", "5.", " 1", "1 ", "0x10", "1.2.3", "--1",
            "NaN",
        ] {
            assert_eq!(parse_plain_decimal(text), None, "{text:?}");
        }
    }

    #[test]
    fn digits_beyond_decimal_precision_are_refused_not_rounded() {
        assert_eq!(
            parse_plain_decimal("0.000000000000000000000000000001"),
            None
        );
        assert_eq!(parse_plain_decimal("79228162514264337593543950336"), None);
    }

    #[test]
    fn negative_amounts_are_refused_and_named() {
        let err = Quantity::new(dec!(-0.5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "quantity -0.5 is negative; it must be zero or more"
        );
        let err = "-3".parse::<Price>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "price -3 is negative; it must be zero or more"
        );
    }

    #[test]
    fn negative_zero_is_plain_zero() {
        let zero = Quantity::new(-Decimal::ZERO).unwrap();
        assert_eq!(zero.to_string(), "0");
        assert_eq!(zero.to_wire_string(2), "0.00");
    }

    #[test]
    fn display_has_no_exponent_and_no_trailing_zeros() {
        let tiny = Quantity::new(Decimal::new(1, 28)).unwrap();
        assert_eq!(tiny.to_string(), "0.0000000000000000000000000001");
        let big = Price::new(Decimal::MAX).unwrap();
        assert_eq!(big.to_string(), "79228162514264337593543950335");
        assert_eq!("120.500".parse::<Price>().unwrap().to_string(), "120.5");
    }

    #[test]
    fn wire_string_truncates_pads_and_caps_decimals() {
        let quantity: Quantity = "0.129".parse().unwrap();
        assert_eq!(quantity.to_wire_string(2), "0.12");
        assert_eq!(quantity.to_wire_string(5), "0.12900");
        assert_eq!(quantity.to_wire_string(40).len(), "0.".len() + 28);
        assert_eq!(
            Quantity::new(Decimal::MAX).unwrap().to_wire_string(2),
            "79228162514264337593543950335.00"
        );
    }

    #[test]
    fn wire_string_of_the_largest_quantity_does_not_overflow_decimals_format_buffer() {
        let largest = Quantity::new(Decimal::MAX).unwrap();
        assert_eq!(
            largest.to_wire_string(28),
            format!("79228162514264337593543950335.{}", "0".repeat(28))
        );
        assert_eq!(
            format!("{largest:.8}"),
            "79228162514264337593543950335.00000000"
        );
    }

    #[test]
    fn display_honours_width_and_precision() {
        let price: Price = "65000.129".parse().unwrap();
        assert_eq!(format!("{price:>12}"), "   65000.129");
        assert_eq!(format!("{price:.2}"), "65000.12");
        assert_eq!(format!("{price:<10.1}|"), "65000.1   |");
        assert_eq!(format!("{:.0}", Quantity::ZERO), "0");
    }

    #[test]
    fn serde_uses_strings_and_validates() {
        let quantity: Quantity = serde_json::from_str("\"0.5\"").unwrap();
        assert_eq!(quantity.get(), dec!(0.5));
        assert_eq!(serde_json::to_string(&quantity).unwrap(), "\"0.5\"");
        assert!(serde_json::from_str::<Quantity>("\"-0.5\"").is_err());
    }
}
