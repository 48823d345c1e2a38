//! [`Side`]: whether an order buys or sells the base asset, spelled `BUY`/`SELL` as on Binance.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The direction of an order, from the base asset's point of view.
///
/// ```
/// use market::Side;
/// assert_eq!("SELL".parse::<Side>(), Ok(Side::Sell));
/// assert_eq!(Side::Buy.to_string(), "BUY");
/// assert!("buy".parse::<Side>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    /// Spend quote asset to get base asset.
    Buy,
    /// Give base asset to get quote asset.
    Sell,
}

impl Side {
    /// Binance's spelling: `BUY` or `SELL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that is neither `BUY` nor `SELL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order side {given:?}: expected BUY or SELL (upper case)")]
pub struct UnknownSide {
    /// What was given.
    pub given: String,
}

impl FromStr for Side {
    type Err = UnknownSide;

    /// Case-sensitive, like the exchange.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "BUY" => Ok(Side::Buy),
            "SELL" => Ok(Side::Sell),
            _ => Err(UnknownSide {
                given: text.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_round_trip_through_text_and_serde() {
        for side in [Side::Buy, Side::Sell] {
            assert_eq!(side.to_string().parse::<Side>(), Ok(side));
            let json = serde_json::to_string(&side).unwrap();
            assert_eq!(json, format!("\"{side}\""));
            assert_eq!(serde_json::from_str::<Side>(&json).unwrap(), side);
        }
    }

    #[test]
    fn unknown_side_names_the_bad_value() {
        let err = "Sell".parse::<Side>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown order side \"Sell\": expected BUY or SELL (upper case)"
        );
    }
}
