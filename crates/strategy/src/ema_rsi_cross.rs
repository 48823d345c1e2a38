//! The EMA cross strategy with an RSI filter: buy a fresh upward cross of a fast EMA over a slow
//! one unless the market is overbought; sell a downward cross or an overbought reading.

use std::ops::Range;

use market::{Candle, CandleSeries};

use crate::indicators::{Ema, Rsi, RsiAverages};
use crate::{Position, Reading, Signal, Strategy};

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

/// The EMA readings at one bar and the bar before. A reading not yet defined is `NaN`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmaReadings {
    /// Fast EMA at the previous bar.
    pub previous_fast: f64,
    /// Slow EMA at the previous bar.
    pub previous_slow: f64,
    /// Fast EMA at this bar.
    pub fast: f64,
    /// Slow EMA at this bar.
    pub slow: f64,
}

impl EmaReadings {
    /// The fast EMA has just crossed above the slow one (false if any reading is NaN).
    ///
    /// Non-short-circuit `&`: the two comparisons flip unpredictably from bar to bar, and flag
    /// arithmetic is cheaper than the mispredictions `&&` would cost in the backtest loop.
    #[inline(always)]
    pub fn crossed_up(&self) -> bool {
        (self.fast > self.slow) & (self.previous_fast <= self.previous_slow)
    }

    /// The fast EMA has just crossed below the slow one (false if any reading is NaN).
    #[inline(always)]
    pub fn crossed_down(&self) -> bool {
        (self.fast < self.slow) & (self.previous_fast >= self.previous_slow)
    }

    /// Every reading is defined.
    #[inline(always)]
    pub fn is_defined(&self) -> bool {
        !(self.previous_fast.is_nan()
            | self.previous_slow.is_nan()
            | self.fast.is_nan()
            | self.slow.is_nan())
    }
}

/// Every reading [`EmaRsiCrossParams::decide`] needs. A reading not yet defined is `NaN`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossReadings {
    /// The EMAs at this bar and the one before.
    pub ema: EmaReadings,
    /// RSI at this bar.
    pub rsi: f64,
}

/// How the RSI compares with a level: all the rule needs to know about it. Implemented for a plain
/// RSI value, and for the [`RsiAverages`] behind one, which answer without dividing; both give
/// identical answers.
pub trait RsiLevel {
    /// RSI strictly below `level`.
    fn is_below(&self, level: f64) -> bool;
    /// RSI strictly above `level`.
    fn is_above(&self, level: f64) -> bool;
}

impl RsiLevel for f64 {
    #[inline(always)]
    fn is_below(&self, level: f64) -> bool {
        *self < level
    }

    #[inline(always)]
    fn is_above(&self, level: f64) -> bool {
        *self > level
    }
}

impl RsiLevel for RsiAverages {
    #[inline(always)]
    fn is_below(&self, level: f64) -> bool {
        RsiAverages::is_below(self, level)
    }

    #[inline(always)]
    fn is_above(&self, level: f64) -> bool {
        RsiAverages::is_above(self, level)
    }
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

    /// The trading rule: no signal until every reading is defined; then
    /// [`EmaRsiCrossParams::decide_defined`].
    #[inline(always)]
    pub fn decide(&self, position: Position, readings: CrossReadings) -> Option<Signal> {
        if readings.ema.is_defined() & !readings.rsi.is_nan() {
            self.decide_defined(position, readings.ema, &readings.rsi)
        } else {
            None
        }
    }

    /// The trading rule for defined readings, shared by the streaming strategy, its backtest fast
    /// path and the sweep's precomputed series: BUY when flat and the fast EMA has just crossed
    /// above the slow one with RSI below `overbought`; SELL when long and the fast EMA has just
    /// crossed below the slow one, or RSI is above `overbought`.
    #[inline(always)]
    pub fn decide_defined(
        &self,
        position: Position,
        ema: EmaReadings,
        rsi: &impl RsiLevel,
    ) -> Option<Signal> {
        // The RSI is consulted after a cross (rare) or, when long, every bar.
        match position {
            Position::Flat => {
                (ema.crossed_up() && rsi.is_below(self.overbought)).then_some(Signal::Buy)
            }
            Position::Long => {
                (ema.crossed_down() | rsi.is_above(self.overbought)).then_some(Signal::Sell)
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
    state: CrossState,
}

/// The indicators after some candle, and the EMAs one candle earlier.
#[derive(Debug, Clone)]
pub(crate) struct CrossState {
    pub(crate) fast: Ema,
    pub(crate) slow: Ema,
    pub(crate) rsi: Rsi,
    pub(crate) previous_fast: f64,
    pub(crate) previous_slow: f64,
}

impl CrossState {
    pub(crate) fn new(params: &EmaRsiCrossParams) -> Self {
        CrossState {
            fast: Ema::new(params.fast),
            slow: Ema::new(params.slow),
            rsi: Rsi::new(params.rsi_period),
            previous_fast: f64::NAN,
            previous_slow: f64::NAN,
        }
    }

    /// True once every reading, including the previous candle's EMAs, is defined.
    pub(crate) fn is_warm(&self) -> bool {
        // The slow EMA is defined last, so a defined previous slow EMA implies both current EMAs.
        !self.previous_slow.is_nan() && self.rsi.is_defined()
    }

    /// One candle through every indicator, defined or not.
    #[inline(always)]
    pub(crate) fn update(&mut self, close: f64) {
        self.previous_fast = self.fast.value_or_nan();
        self.previous_slow = self.slow.value_or_nan();
        self.fast.update(close);
        self.slow.update(close);
        self.rsi.update(close);
    }

    /// One candle through a [warm](CrossState::is_warm) state, and the rule's answer for
    /// `position`: `update` and `decide` minus the warm-up checks, and with the RSI compared
    /// without dividing (the same answers).
    #[inline(always)]
    fn step_warm(
        &mut self,
        close: f64,
        params: &EmaRsiCrossParams,
        position: Position,
    ) -> Option<Signal> {
        let previous_fast = self.fast.value_or_nan();
        let previous_slow = self.slow.value_or_nan();
        let fast = self.fast.update_defined(close);
        let slow = self.slow.update_defined(close);
        let averages = self.rsi.update_defined(close);
        (self.previous_fast, self.previous_slow) = (previous_fast, previous_slow);
        let ema = EmaReadings {
            previous_fast,
            previous_slow,
            fast,
            slow,
        };
        params.decide_defined(position, ema, &averages)
    }
}

impl EmaRsiCross {
    /// A fresh strategy; fails with the name of the first bad parameter.
    pub fn new(params: EmaRsiCrossParams) -> Result<Self, InvalidParams> {
        params.validate()?;
        Ok(EmaRsiCross {
            params,
            state: CrossState::new(&params),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &EmaRsiCrossParams {
        &self.params
    }

    /// The latest indicator readings (NaN where not yet defined).
    pub fn readings(&self) -> CrossReadings {
        let state = &self.state;
        CrossReadings {
            ema: EmaReadings {
                previous_fast: state.previous_fast,
                previous_slow: state.previous_slow,
                fast: state.fast.value_or_nan(),
                slow: state.slow.value_or_nan(),
            },
            rsi: state.rsi.value().unwrap_or(f64::NAN),
        }
    }

    /// [`Strategy::run`] once the state is warm; `closes` start at candle index `start`. Long
    /// runs go through four SIMD lanes when the CPU has them ([`crate::lanes`]); the answers are
    /// the same either way.
    #[inline(always)]
    fn run_warm(
        &mut self,
        closes: &[f64],
        start: usize,
        position: Position,
        mut on_signal: impl FnMut(usize, Signal) -> Position,
    ) {
        let (state, params) = (&mut self.state, &self.params);
        #[cfg(target_arch = "x86_64")]
        if let Some(plan) = crate::lanes::LanePlan::new(closes.len(), params) {
            plan.run(state, params, closes, start, position, &mut on_signal);
            return;
        }
        run_warm_one_by_one(state, params, closes, start, position, &mut on_signal);
    }
}

/// The candle-by-candle loop over a warm state; `closes` start at candle index `start`.
#[inline(always)]
pub(crate) fn run_warm_one_by_one(
    state: &mut CrossState,
    params: &EmaRsiCrossParams,
    closes: &[f64],
    start: usize,
    mut position: Position,
    on_signal: &mut impl FnMut(usize, Signal) -> Position,
) {
    // A local copy stays in registers through the loop.
    let mut local = state.clone();
    for (offset, &close) in closes.iter().enumerate() {
        if let Some(signal) = local.step_warm(close, params, position) {
            position = on_signal(start + offset, signal);
        }
    }
    *state = local;
}

impl Strategy for EmaRsiCross {
    #[inline(always)]
    fn update(&mut self, candle: &Candle) {
        self.state.update(candle.close);
    }

    #[inline(always)]
    fn signal(&self, position: Position) -> Option<Signal> {
        self.params.decide(position, self.readings())
    }

    fn explain(&self) -> (Vec<Reading>, String) {
        let EmaRsiCrossParams {
            fast,
            slow,
            rsi_period,
            overbought,
        } = self.params;
        let readings = self.readings();
        let reading = |name: String, value: f64| Reading {
            name,
            value: value.is_finite().then_some(value),
        };
        let values = vec![
            reading(
                format!("EMA {fast} at the candle before"),
                readings.ema.previous_fast,
            ),
            reading(format!("EMA {fast}"), readings.ema.fast),
            reading(
                format!("EMA {slow} at the candle before"),
                readings.ema.previous_slow,
            ),
            reading(format!("EMA {slow}"), readings.ema.slow),
            reading(format!("RSI {rsi_period}"), readings.rsi),
        ];
        let rule = format!(
            "when flat, BUY when EMA {fast} crosses above EMA {slow} with RSI {rsi_period} below {overbought}; \
             when long, SELL when EMA {fast} crosses below EMA {slow} or RSI {rsi_period} is above {overbought}"
        );
        (values, rule)
    }

    fn warmup_candles(&self) -> usize {
        self.params.warmup_candles()
    }

    fn reset(&mut self) {
        self.state = CrossState::new(&self.params);
    }

    /// Candle by candle through [`Strategy::on_candle`] until warm, then one tight loop over the
    /// closes with the indicators' `update_defined` (the same arithmetic as `update`, minus the
    /// warm-up checks), the division-free RSI comparisons (the same answers as comparing the
    /// value) and the same [`EmaRsiCrossParams::decide_defined`], on a local copy of the state so
    /// that it stays in registers. This is what makes the backtester fast; the signals and the
    /// final state are identical to the candle-by-candle path (tests check it).
    #[inline(always)]
    fn run(
        &mut self,
        candles: &CandleSeries,
        range: Range<usize>,
        mut position: Position,
        mut on_signal: impl FnMut(usize, Signal) -> Position,
    ) {
        let mut index = range.start;
        while index < range.end && !self.state.is_warm() {
            let candle = candles.get(index).expect("index is within the range");
            if let Some(signal) = self.on_candle(&candle, position) {
                position = on_signal(index, signal);
            }
            index += 1;
        }
        if index < range.end {
            self.run_warm(
                &candles.closes()[index..range.end],
                index,
                position,
                on_signal,
            );
        }
    }
}
