//! The EMA cross strategy with an RSI filter: buy a fresh upward cross of a fast EMA over a slow
//! one unless the market is overbought; sell a downward cross or an overbought reading.

use market::Candle;

use crate::indicators::{Ema, Rsi};
use crate::{Position, Signal, Strategy};

/// Parameters of [`EmaRsiCross`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmaRsiCrossParams {
    /// Period of the fast EMA.
    pub fast: usize,
    /// Period of the slow EMA; must exceed `fast`.
    pub slow: usize,
    /// Period of the RSI.
    pub rsi_period: usize,
    /// RSI level above which the market counts as overbought (0 to 100).
    pub overbought: f64,
}

impl Default for EmaRsiCrossParams {
    fn default() -> Self {
        EmaRsiCrossParams {
            fast: 9,
            slow: 21,
            rsi_period: 14,
            overbought: 70.0,
        }
    }
}

/// Why a parameter set is unusable; the message names the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidParams {
    /// A period of zero.
    #[error("{name} must be at least 1, got 0")]
    ZeroPeriod {
        /// Which period.
        name: &'static str,
    },
    /// The fast EMA is not faster than the slow one.
    #[error("fast EMA period ({fast}) must be smaller than slow EMA period ({slow})")]
    FastNotBelowSlow {
        /// Fast period.
        fast: usize,
        /// Slow period.
        slow: usize,
    },
    /// The overbought level is outside 0..100.
    #[error("overbought must be between 0 and 100 (exclusive), got {0}")]
    OverboughtOutOfRange(f64),
}

/// The indicator readings at one bar and the bar before, as [`EmaRsiCrossParams::decide`] needs them.
///
/// A reading not yet defined is `NaN`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossReadings {
    /// Fast EMA at the previous bar.
    pub previous_fast: f64,
    /// Slow EMA at the previous bar.
    pub previous_slow: f64,
    /// Fast EMA at this bar.
    pub fast: f64,
    /// Slow EMA at this bar.
    pub slow: f64,
    /// RSI at this bar.
    pub rsi: f64,
}

impl EmaRsiCrossParams {
    /// Checks the parameters, naming the first bad one.
    pub fn validate(&self) -> Result<(), InvalidParams> {
        for (name, period) in [
            ("fast", self.fast),
            ("slow", self.slow),
            ("rsi period", self.rsi_period),
        ] {
            if period == 0 {
                return Err(InvalidParams::ZeroPeriod { name });
            }
        }
        if self.fast >= self.slow {
            return Err(InvalidParams::FastNotBelowSlow {
                fast: self.fast,
                slow: self.slow,
            });
        }
        if !(self.overbought > 0.0 && self.overbought < 100.0) {
            return Err(InvalidParams::OverboughtOutOfRange(self.overbought));
        }
        Ok(())
    }

    /// The trading rule, shared by the streaming strategy and the sweep's precomputed series.
    ///
    /// Once all readings are defined: BUY when flat and the fast EMA has just crossed above the slow
    /// one with RSI below `overbought`; SELL when long and the fast EMA has just crossed below the
    /// slow one, or RSI is above `overbought`.
    #[inline(always)]
    pub fn decide(&self, position: Position, readings: CrossReadings) -> Option<Signal> {
        let CrossReadings {
            previous_fast,
            previous_slow,
            fast,
            slow,
            rsi,
        } = readings;
        // Non-short-circuit `&`/`|`: these comparisons flip unpredictably from bar to bar, and
        // plain flag arithmetic is cheaper than the branch mispredictions `&&` would cost in the
        // backtest loop. Only the final, rarely true, test branches.
        let defined = !(previous_fast.is_nan()
            | previous_slow.is_nan()
            | fast.is_nan()
            | slow.is_nan()
            | rsi.is_nan());
        match position {
            Position::Flat => {
                let crossed_up = (fast > slow) & (previous_fast <= previous_slow);
                (defined & crossed_up & (rsi < self.overbought)).then_some(Signal::Buy)
            }
            Position::Long => {
                let crossed_down = (fast < slow) & (previous_fast >= previous_slow);
                (defined & (crossed_down | (rsi > self.overbought))).then_some(Signal::Sell)
            }
        }
    }

    /// Candles needed before the first possible signal: the slow EMA must be defined at the
    /// previous bar, and the RSI at this one.
    pub fn warmup_candles(&self) -> usize {
        (self.slow + 1).max(self.rsi_period + 1)
    }
}

/// EMA(fast) / EMA(slow) cross filtered by RSI(rsi_period); see [`EmaRsiCrossParams::decide`].
#[derive(Debug, Clone)]
pub struct EmaRsiCross {
    params: EmaRsiCrossParams,
    fast: Ema,
    slow: Ema,
    rsi: Rsi,
    readings: CrossReadings,
}

impl EmaRsiCross {
    /// A fresh strategy; fails with the name of the first bad parameter.
    pub fn new(params: EmaRsiCrossParams) -> Result<Self, InvalidParams> {
        params.validate()?;
        Ok(EmaRsiCross {
            params,
            fast: Ema::new(params.fast),
            slow: Ema::new(params.slow),
            rsi: Rsi::new(params.rsi_period),
            readings: CrossReadings {
                previous_fast: f64::NAN,
                previous_slow: f64::NAN,
                fast: f64::NAN,
                slow: f64::NAN,
                rsi: f64::NAN,
            },
        })
    }

    /// The parameters.
    pub fn params(&self) -> &EmaRsiCrossParams {
        &self.params
    }

    /// The latest indicator readings (NaN where not yet defined).
    pub fn readings(&self) -> CrossReadings {
        self.readings
    }
}

impl Strategy for EmaRsiCross {
    #[inline(always)]
    fn update(&mut self, candle: &Candle) {
        let close = candle.close;
        self.readings = CrossReadings {
            previous_fast: self.readings.fast,
            previous_slow: self.readings.slow,
            fast: self.fast.update(close).unwrap_or(f64::NAN),
            slow: self.slow.update(close).unwrap_or(f64::NAN),
            rsi: self.rsi.update(close).unwrap_or(f64::NAN),
        };
    }

    #[inline(always)]
    fn signal(&self, position: Position) -> Option<Signal> {
        self.params.decide(position, self.readings)
    }

    fn warmup_candles(&self) -> usize {
        self.params.warmup_candles()
    }

    fn reset(&mut self) {
        *self = EmaRsiCross::new(self.params).expect("parameters were validated at construction");
    }
}
