//! The "why" of a decision, as the engine saw it: what the strategy read at the candle and its
//! rule, the bot's position, the signal, the reference price and each sizing step down to the
//! filters. It is recorded as JSON with the decision's event (and, for an order, on its
//! write-ahead row, from which its trade's event takes it), so that the dashboard shows what the
//! engine decided from rather than recomputing it.

use rust_decimal::Decimal;
use serde::Serialize;
use strategy::{Position, Reading, Signal, Strategy};

/// What a decision was made from.
#[derive(Debug, Clone, Serialize)]
pub struct Why {
    /// The strategy's readings at the candle.
    pub readings: Vec<Reading>,
    /// The strategy's rule, in words.
    pub rule: String,
    /// `flat` or `long`, as the strategy saw the bot.
    pub position: &'static str,
    /// The base quantity the bot held by its ledger, a decimal string.
    pub held: String,
    /// `BUY`, `SELL`, or null when the rule gave no signal.
    pub signal: Option<&'static str>,
    /// The reference price the order was sized at (null without an order to size).
    pub price: Option<String>,
    /// The sizing and normalisation steps, in words (empty without an order to size).
    pub sizing: Vec<String>,
}

impl Why {
    /// The why of `strategy`'s signal (or its absence) at the last candle fed in, for a bot
    /// holding `held` (seen by the strategy as `position`).
    pub fn new(
        strategy: &dyn Strategy,
        position: Position,
        held: Decimal,
        signal: Option<Signal>,
    ) -> Why {
        let (readings, rule) = strategy.explain();
        Why {
            readings,
            rule,
            position: match position {
                Position::Flat => "flat",
                Position::Long => "long",
            },
            held: held.normalize().to_string(),
            signal: signal.map(|signal| match signal {
                Signal::Buy => "BUY",
                Signal::Sell => "SELL",
            }),
            price: None,
            sizing: Vec::new(),
        }
    }

    /// The same, with the order's sizing at `price`.
    pub fn sized(mut self, price: Decimal, steps: Vec<String>) -> Why {
        self.price = Some(price.normalize().to_string());
        self.sizing = steps;
        self
    }

    /// As stored: JSON text.
    pub fn to_json(&self) -> String {
        // Readings hold only finite numbers (None otherwise) and every other field is text:
        // serialising cannot fail.
        serde_json::to_string(self).expect("a Why is always valid JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use market::Candle;
    use rust_decimal_macros::dec;
    use strategy::{EmaRsiCross, EmaRsiCrossParams};

    #[test]
    fn a_why_names_the_readings_the_rule_and_the_sizing_steps() {
        let mut strategy = EmaRsiCross::new(EmaRsiCrossParams {
            fast: 2,
            slow: 3,
            rsi_period: 2,
            overbought: 70.0,
        })
        .unwrap();
        for (index, close) in [10.0, 11.0, 9.0, 12.0].into_iter().enumerate() {
            strategy.update(&Candle {
                open_time_ms: index as i64 * 60_000,
                open: close,
                high: close,
                low: close,
                close,
                volume: 1.0,
            });
        }
        let why = Why::new(&strategy, Position::Flat, dec!(0), Some(Signal::Buy))
            .sized(dec!(12.50), vec!["spend 100 USDT".into()]);
        let json: serde_json::Value = serde_json::from_str(&why.to_json()).unwrap();
        assert_eq!(json["signal"], "BUY");
        assert_eq!(json["position"], "flat");
        assert_eq!(json["price"], "12.5");
        assert_eq!(json["sizing"][0], "spend 100 USDT");
        let names: Vec<&str> = json["readings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|reading| reading["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "EMA 2 at the candle before",
                "EMA 2",
                "EMA 3 at the candle before",
                "EMA 3",
                "RSI 2"
            ]
        );
        assert!(json["readings"][1]["value"].is_f64());
        assert!(
            json["rule"]
                .as_str()
                .unwrap()
                .contains("crosses above EMA 3")
        );
    }
}
