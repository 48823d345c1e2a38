//! A bot's strategy as stored (its name and its parameters as JSON text) turned into the
//! same [`Strategy`] implementation the backtester runs, with errors that name the bad field.

use crate::{EmaRsiCross, EmaRsiCrossParams, Strategy};
use serde::Deserialize;

/// The strategy name of [`EmaRsiCross`] in bot configurations.
pub const EMA_RSI_CROSS: &str = "ema_rsi_cross";

/// A strategy ready to be fed candles; `Send` so a bot's cycle can run on any worker thread.
pub type BoxedStrategy = Box<dyn Strategy + Send>;

/// Why a stored strategy configuration cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategySpecError {
    /// The name is not one this build knows.
    #[error("unknown strategy {0:?}: the known strategies are \"ema_rsi_cross\"")]
    UnknownStrategy(String),
    /// The parameters are not valid JSON of the expected shape.
    #[error("strategy_params: {0}")]
    Malformed(String),
    /// The parameters are well formed but unusable.
    #[error("strategy_params: {0}")]
    Invalid(#[from] crate::InvalidParams),
}

/// [`EmaRsiCrossParams`] as JSON; every field optional, defaults from
/// [`EmaRsiCrossParams::default`], unknown fields refused (a typo must not silently mean default).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmaRsiCrossJson {
    fast: Option<usize>,
    slow: Option<usize>,
    rsi_period: Option<usize>,
    overbought: Option<f64>,
}

/// Parses and validates `params_json` for the strategy named `name`.
pub fn build_strategy(name: &str, params_json: &str) -> Result<BoxedStrategy, StrategySpecError> {
    match name {
        EMA_RSI_CROSS => {
            let params = ema_rsi_cross_params(params_json)?;
            Ok(Box::new(EmaRsiCross::new(params)?))
        }
        other => Err(StrategySpecError::UnknownStrategy(other.to_owned())),
    }
}

/// The [`EmaRsiCrossParams`] that `params_json` describes (an empty text means all defaults).
pub fn ema_rsi_cross_params(params_json: &str) -> Result<EmaRsiCrossParams, StrategySpecError> {
    let defaults = EmaRsiCrossParams::default();
    if params_json.trim().is_empty() {
        return Ok(defaults);
    }
    let json: EmaRsiCrossJson = serde_json::from_str(params_json)
        .map_err(|err| StrategySpecError::Malformed(err.to_string()))?;
    Ok(EmaRsiCrossParams {
        fast: json.fast.unwrap_or(defaults.fast),
        slow: json.slow.unwrap_or(defaults.slow),
        rsi_period: json.rsi_period.unwrap_or(defaults.rsi_period),
        overbought: json.overbought.unwrap_or(defaults.overbought),
    })
}

/// `params` as the JSON text stored in `bot_configs.strategy_params`.
pub fn ema_rsi_cross_json(params: &EmaRsiCrossParams) -> String {
    serde_json::json!({
        "fast": params.fast,
        "slow": params.slow,
        "rsi_period": params.rsi_period,
        "overbought": params.overbought,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_params_mean_defaults() {
        assert_eq!(
            ema_rsi_cross_params("").unwrap(),
            EmaRsiCrossParams::default()
        );
        assert_eq!(
            ema_rsi_cross_params("{}").unwrap(),
            EmaRsiCrossParams::default()
        );
    }

    #[test]
    fn params_round_trip_through_json() {
        let params = EmaRsiCrossParams {
            fast: 5,
            slow: 13,
            rsi_period: 7,
            overbought: 80.5,
        };
        assert_eq!(
            ema_rsi_cross_params(&ema_rsi_cross_json(&params)).unwrap(),
            params
        );
    }

    #[test]
    fn errors_name_the_field() {
        let typo = ema_rsi_cross_params(r#"{"fats": 5}"#).unwrap_err();
        assert!(typo.to_string().contains("unknown field `fats`"), "{typo}");
        let wrong_type = ema_rsi_cross_params(r#"{"slow": "x"}"#).unwrap_err();
        assert!(
            wrong_type.to_string().contains("strategy_params"),
            "{wrong_type}"
        );
        let invalid = build_strategy(EMA_RSI_CROSS, r#"{"fast": 30, "slow": 10}"#).err();
        assert!(
            invalid
                .unwrap()
                .to_string()
                .contains("fast EMA period (30)"),
            "names the periods"
        );
        let unknown = build_strategy("macd", "{}").err().unwrap();
        assert!(unknown.to_string().contains("\"macd\""), "{unknown}");
    }
}
