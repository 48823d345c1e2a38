//! The bridge from the backtest's `f64` quantities to `market`'s `Decimal` normaliser, so a
//! backtest with `--rules` sizes every order exactly as the live engine would.

use market::{Price, Quantity, Side, SymbolRules, normalize_market_quantity};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

/// The quantity the exchange would accept for `desired` at `price`, or the reason it would not.
pub(crate) fn legal_quantity(
    rules: &SymbolRules,
    side: Side,
    price: f64,
    desired: f64,
) -> Result<f64, String> {
    let as_decimal = |value: f64, what: &str| {
        Decimal::from_f64(value).ok_or_else(|| format!("{what} {value} has no decimal form"))
    };
    let price = Price::try_from(as_decimal(price, "price")?).map_err(|err| err.to_string())?;
    let desired =
        Quantity::try_from(as_decimal(desired, "quantity")?).map_err(|err| err.to_string())?;
    let legal = normalize_market_quantity(rules, side, price, desired)
        .map_err(|rejection| rejection.to_string())?;
    Decimal::from(legal.quantity())
        .to_f64()
        .ok_or_else(|| format!("quantity {} does not fit an f64", legal.quantity()))
}
