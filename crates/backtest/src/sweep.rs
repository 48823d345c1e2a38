//! Grid search over [`EmaRsiCross`](strategy::EmaRsiCross) parameters on all cores.
//!
//! Every distinct EMA and RSI period is computed once, by the same streaming indicators the live
//! strategy uses, and shared by all combinations that need it. Each combination then runs through
//! the ordinary backtest engine with a strategy that reads those series and decides with the very
//! same [`EmaRsiCrossParams::decide`] rule, so a sweep row and a single backtest with the same
//! parameters agree to the last bit.
//!
//! Combinations are sorted so that neighbours share series, and handed to threads in small batches
//! that walk the candles block by block: the series block a batch reads stays in the core's cache
//! while every simulation of the batch passes over it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use market::{Candle, CandleSeries};
use rayon::prelude::*;
use strategy::{
    CrossReadings, Ema, EmaReadings, EmaRsiCrossParams, Position, Rsi, Signal, Strategy,
};

use crate::engine::{BacktestConfig, NoObserver, Simulation};
use crate::metrics::Summary;

/// Combinations that walk the candles together on one thread.
const BATCH_SIZE: usize = 16;

/// Candles per block: three `f64` series of this length stay well inside a core's L2 cache.
const BLOCK_CANDLES: usize = 8192;

/// A list of values for one parameter, parsed from `A..B` (inclusive), `A..B:STEP` or `A,B,C`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueList<T>(pub Vec<T>);

/// Why a range could not be parsed; the message quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not a valid range: {problem}; write a single value (9), an inclusive range (5..20), a range with a step (60..80:5) or a list (9,12,15)"
)]
pub struct BadRange {
    /// What was given.
    pub given: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The most values one range may expand to, so a typo cannot ask for billions of runs.
const MAX_VALUES_PER_RANGE: usize = 100_000;

trait RangeValue: Copy + PartialOrd + FromStr + fmt::Display {
    fn default_step() -> Self;
    fn is_positive(self) -> bool;
    fn nth(start: Self, step: Self, n: usize) -> Self;
}

impl RangeValue for usize {
    fn default_step() -> Self {
        1
    }
    fn is_positive(self) -> bool {
        self > 0
    }
    fn nth(start: Self, step: Self, n: usize) -> Self {
        start.saturating_add(step.saturating_mul(n))
    }
}

impl RangeValue for f64 {
    fn default_step() -> Self {
        1.0
    }
    fn is_positive(self) -> bool {
        self > 0.0 && self.is_finite()
    }
    fn nth(start: Self, step: Self, n: usize) -> Self {
        // Multiplying, not accumulating, keeps 60..80:0.1 free of drift.
        start + step * n as f64
    }
}

fn parse_value<T: RangeValue>(text: &str, whole: &str) -> Result<T, BadRange> {
    text.trim().parse().map_err(|_| BadRange {
        given: whole.to_owned(),
        problem: format!("{:?} is not a number", text.trim()),
    })
}

fn parse_list<T: RangeValue>(text: &str) -> Result<Vec<T>, BadRange> {
    let bad = |problem: String| BadRange {
        given: text.to_owned(),
        problem,
    };
    if let Some((start, rest)) = text.split_once("..") {
        let (end, step) = match rest.split_once(':') {
            Some((end, step)) => (end, parse_value::<T>(step, text)?),
            None => (rest, T::default_step()),
        };
        let start = parse_value::<T>(start, text)?;
        let end = parse_value::<T>(end, text)?;
        if !step.is_positive() {
            return Err(bad(format!(
                "the step must be greater than zero, got {step}"
            )));
        }
        if end < start {
            return Err(bad(format!("the end {end} is below the start {start}")));
        }
        let mut values = Vec::new();
        loop {
            let value = T::nth(start, step, values.len());
            if value > end {
                break;
            }
            if values.len() == MAX_VALUES_PER_RANGE {
                return Err(bad(format!(
                    "it expands to more than {MAX_VALUES_PER_RANGE} values"
                )));
            }
            values.push(value);
        }
        return Ok(values);
    }
    text.split(',')
        .map(|item| parse_value(item, text))
        .collect()
}

impl FromStr for ValueList<usize> {
    type Err = BadRange;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_list(text).map(ValueList)
    }
}

impl FromStr for ValueList<f64> {
    type Err = BadRange;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_list(text).map(ValueList)
    }
}

/// The parameter grid: every combination of the four lists with `fast < slow` is run.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepGrid {
    /// Fast EMA periods.
    pub fast: Vec<usize>,
    /// Slow EMA periods.
    pub slow: Vec<usize>,
    /// RSI periods.
    pub rsi_period: Vec<usize>,
    /// Overbought levels.
    pub overbought: Vec<f64>,
}

impl SweepGrid {
    /// All runnable combinations, ordered so that neighbours share indicator series.
    ///
    /// Pairs with `fast >= slow` are left out; other invalid values (a zero period, overbought
    /// outside 0..100) are reported with the parameter's name.
    pub fn combinations(&self) -> Result<Vec<EmaRsiCrossParams>, strategy::InvalidParams> {
        let mut combinations = Vec::new();
        for &fast in &self.fast {
            for &slow in &self.slow {
                for &rsi_period in &self.rsi_period {
                    for &overbought in &self.overbought {
                        let params = EmaRsiCrossParams {
                            fast,
                            slow,
                            rsi_period,
                            overbought,
                        };
                        match params.validate() {
                            Ok(()) => combinations.push(params),
                            Err(strategy::InvalidParams::FastNotBelowSlow { .. }) => {}
                            Err(other) => return Err(other),
                        }
                    }
                }
            }
        }
        Ok(combinations)
    }
}

/// One combination's result.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    /// The parameters.
    pub params: EmaRsiCrossParams,
    /// The backtest statistics.
    pub summary: Summary,
}

/// Indicator series computed once per distinct period.
struct SharedSeries {
    ema: BTreeMap<usize, Vec<f64>>,
    rsi: BTreeMap<usize, Vec<f64>>,
}

impl SharedSeries {
    fn compute(closes: &[f64], combinations: &[EmaRsiCrossParams]) -> Self {
        let mut ema_periods: Vec<usize> =
            combinations.iter().flat_map(|p| [p.fast, p.slow]).collect();
        ema_periods.sort_unstable();
        ema_periods.dedup();
        let mut rsi_periods: Vec<usize> = combinations.iter().map(|p| p.rsi_period).collect();
        rsi_periods.sort_unstable();
        rsi_periods.dedup();
        // Undefined readings are NaN, exactly as the streaming strategy holds them.
        let ema = ema_periods
            .into_par_iter()
            .map(|period| {
                let mut ema = Ema::new(period);
                let series = closes
                    .iter()
                    .map(|&close| ema.update(close).unwrap_or(f64::NAN));
                (period, series.collect())
            })
            .collect();
        let rsi = rsi_periods
            .into_par_iter()
            .map(|period| {
                let mut rsi = Rsi::new(period);
                let series = closes
                    .iter()
                    .map(|&close| rsi.update(close).unwrap_or(f64::NAN));
                (period, series.collect())
            })
            .collect();
        SharedSeries { ema, rsi }
    }
}

/// [`EmaRsiCross`](strategy::EmaRsiCross) reading precomputed indicator series instead of
/// updating its own indicators; it decides with the same rule.
struct PrecomputedCross<'s> {
    params: EmaRsiCrossParams,
    fast: &'s [f64],
    slow: &'s [f64],
    rsi: &'s [f64],
    next_index: usize,
    readings: CrossReadings,
}

impl<'s> PrecomputedCross<'s> {
    fn new(params: EmaRsiCrossParams, series: &'s SharedSeries) -> Self {
        PrecomputedCross {
            params,
            fast: &series.ema[&params.fast],
            slow: &series.ema[&params.slow],
            rsi: &series.rsi[&params.rsi_period],
            next_index: 0,
            readings: CrossReadings {
                ema: EmaReadings {
                    previous_fast: f64::NAN,
                    previous_slow: f64::NAN,
                    fast: f64::NAN,
                    slow: f64::NAN,
                },
                rsi: f64::NAN,
            },
        }
    }
}

impl Strategy for PrecomputedCross<'_> {
    #[inline]
    fn update(&mut self, _candle: &Candle) {
        let index = self.next_index;
        self.readings = CrossReadings {
            ema: EmaReadings {
                previous_fast: self.readings.ema.fast,
                previous_slow: self.readings.ema.slow,
                fast: self.fast[index],
                slow: self.slow[index],
            },
            rsi: self.rsi[index],
        };
        self.next_index = index + 1;
    }

    #[inline]
    fn signal(&self, position: Position) -> Option<Signal> {
        self.params.decide(position, self.readings)
    }

    fn warmup_candles(&self) -> usize {
        self.params.warmup_candles()
    }

    fn reset(&mut self) {
        self.next_index = 0;
        self.readings.ema.fast = f64::NAN;
        self.readings.ema.slow = f64::NAN;
    }
}

/// Runs every combination over `candles`; `on_progress(done)` is called from worker threads as
/// batches finish. Rows come back in the order of `combinations`.
pub fn run_sweep(
    candles: &CandleSeries,
    config: &BacktestConfig,
    combinations: &[EmaRsiCrossParams],
    on_progress: &(dyn Fn(usize) + Sync),
) -> Vec<SweepRow> {
    let series = SharedSeries::compute(candles.closes(), combinations);
    let done = AtomicUsize::new(0);
    combinations
        .par_chunks(BATCH_SIZE)
        .flat_map_iter(|batch| {
            let mut runs: Vec<(Simulation, PrecomputedCross)> = batch
                .iter()
                .map(|&params| {
                    (
                        Simulation::new(config),
                        PrecomputedCross::new(params, &series),
                    )
                })
                .collect();
            let mut start = 0;
            while start < candles.len() {
                let end = (start + BLOCK_CANDLES).min(candles.len());
                for (simulation, strategy) in &mut runs {
                    simulation.advance(strategy, candles, start..end, &mut NoObserver);
                }
                start = end;
            }
            on_progress(done.fetch_add(batch.len(), Ordering::Relaxed) + batch.len());
            runs.into_iter().map(|(simulation, strategy)| SweepRow {
                params: strategy.params,
                summary: simulation.finish().summary,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_take_steps_and_lists() {
        assert_eq!("5..8".parse::<ValueList<usize>>().unwrap().0, [5, 6, 7, 8]);
        assert_eq!(
            "5..20:5".parse::<ValueList<usize>>().unwrap().0,
            [5, 10, 15, 20]
        );
        assert_eq!(
            "9, 12,21".parse::<ValueList<usize>>().unwrap().0,
            [9, 12, 21]
        );
        assert_eq!("7".parse::<ValueList<usize>>().unwrap().0, [7]);
        assert_eq!(
            "60..70:2.5".parse::<ValueList<f64>>().unwrap().0,
            [60.0, 62.5, 65.0, 67.5, 70.0]
        );
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        let err = "20..5".parse::<ValueList<usize>>().unwrap_err();
        assert!(err.to_string().contains("below the start"), "{err}");
        let err = "5..x".parse::<ValueList<usize>>().unwrap_err();
        assert!(err.to_string().contains("\"x\" is not a number"), "{err}");
        let err = "1..5:0".parse::<ValueList<usize>>().unwrap_err();
        assert!(
            err.to_string().contains("step must be greater than zero"),
            "{err}"
        );
        let err = "1..1000000000".parse::<ValueList<usize>>().unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }

    #[test]
    fn combinations_skip_fast_not_below_slow_and_report_zero_periods() {
        let grid = SweepGrid {
            fast: vec![5, 10, 20],
            slow: vec![10, 20],
            rsi_period: vec![14],
            overbought: vec![70.0],
        };
        let pairs: Vec<(usize, usize)> = grid
            .combinations()
            .unwrap()
            .iter()
            .map(|p| (p.fast, p.slow))
            .collect();
        assert_eq!(pairs, [(5, 10), (5, 20), (10, 20)]);
        let zero = SweepGrid {
            rsi_period: vec![0],
            ..grid
        };
        assert!(
            zero.combinations()
                .unwrap_err()
                .to_string()
                .contains("rsi period")
        );
    }
}
