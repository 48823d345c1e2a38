//! Grid search over [`EmaRsiCross`](strategy::EmaRsiCross) parameters on all cores.
//!
//! Every distinct EMA and RSI period is computed once, by the same streaming indicators the live
//! strategy uses. From those series each distinct (fast, slow) pair gets the list of bars where
//! the EMAs cross ([`EmaReadings::crossed_up`] / [`EmaReadings::crossed_down`], the predicates of
//! the live rule), and each (RSI period, level) the list of bars where the RSI is above the level.
//! A combination then runs through the ordinary backtest engine with a strategy whose
//! [`Strategy::run`] finds each next signal by searching those sorted lists instead of walking
//! every candle: the signals are the ones [`EmaRsiCrossParams::decide`] gives, bar for bar, so a
//! sweep row and a single backtest with the same parameters agree to the last bit (a test checks
//! it), at a fraction of the cost.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use market::{Candle, CandleSeries};
use rayon::prelude::*;
use strategy::{
    CrossReadings, Ema, EmaReadings, EmaRsiCrossParams, Position, Rsi, RsiLevel, Signal, Strategy,
};

use crate::engine::{BacktestConfig, NoObserver, run_backtest_over};
use crate::metrics::Summary;

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

/// The most combinations one sweep runs: far more than any useful grid (the benchmark's is
/// 2,000), few enough that their parameters and results fit in memory.
pub const MAX_COMBINATIONS: usize = 1_000_000;

/// Why a grid cannot be swept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GridError {
    /// A value is not a valid parameter (a zero period, overbought outside 0..100).
    #[error(transparent)]
    Invalid(#[from] strategy::InvalidParams),
    /// The lists multiply out to more combinations than a sweep runs.
    #[error(
        "the grid holds {count} combinations, more than the {max} a sweep runs: narrow a range or widen its step"
    )]
    TooLarge {
        /// Combinations the lists make (saturating).
        count: usize,
        /// The most allowed.
        max: usize,
    },
}

impl SweepGrid {
    /// How many combinations the lists make, before `fast < slow` is applied (saturating).
    pub fn size(&self) -> usize {
        [
            self.fast.len(),
            self.slow.len(),
            self.rsi_period.len(),
            self.overbought.len(),
        ]
        .iter()
        .try_fold(1usize, |product, &len| product.checked_mul(len))
        .unwrap_or(usize::MAX)
    }

    /// All runnable combinations, ordered so that neighbours share indicator series, if there
    /// are at most `max` (counted before anything is built).
    ///
    /// Pairs with `fast >= slow` are left out; other invalid values (a zero period, overbought
    /// outside 0..100) are reported with the parameter's name.
    pub fn combinations(&self, max: usize) -> Result<Vec<EmaRsiCrossParams>, GridError> {
        let count = self.size();
        if count > max {
            return Err(GridError::TooLarge { count, max });
        }
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
                            Err(other) => return Err(other.into()),
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
    /// The backtest statistics (in sample, when part of the candles is held out).
    pub summary: Summary,
    /// The statistics over the held-out candles, when some are: a fresh account from the first
    /// held-out candle, the indicators primed by every candle before it (as a bot started then
    /// would have them from the exchange's history).
    pub out_of_sample: Option<Summary>,
}

/// Indicator series and event lists, computed once and shared by every combination.
struct SharedSeries {
    ema: BTreeMap<usize, Vec<f64>>,
    rsi: BTreeMap<usize, Vec<f64>>,
    crosses: BTreeMap<(usize, usize), CrossEvents>,
    /// Keyed by RSI period and the level's bits.
    overbought: BTreeMap<(usize, u64), Vec<usize>>,
}

/// The bars where EMA(fast) crosses EMA(slow), each list in increasing order.
struct CrossEvents {
    up: Vec<usize>,
    down: Vec<usize>,
}

fn distinct<T: Ord>(mut values: Vec<T>) -> Vec<T> {
    values.sort_unstable();
    values.dedup();
    values
}

/// One indicator series per period, computed in parallel by the streaming indicator itself.
/// Undefined readings are NaN, exactly as the streaming strategy holds them.
fn series_by_period<Indicator>(
    periods: Vec<usize>,
    closes: &[f64],
    new_indicator: impl Fn(usize) -> Indicator + Sync,
    update: impl Fn(&mut Indicator, f64) -> Option<f64> + Sync,
) -> BTreeMap<usize, Vec<f64>> {
    periods
        .into_par_iter()
        .map(|period| {
            let mut indicator = new_indicator(period);
            let series = closes
                .iter()
                .map(|&close| update(&mut indicator, close).unwrap_or(f64::NAN))
                .collect();
            (period, series)
        })
        .collect()
}

impl SharedSeries {
    fn compute(closes: &[f64], combinations: &[EmaRsiCrossParams]) -> Self {
        let ema_periods = distinct(combinations.iter().flat_map(|p| [p.fast, p.slow]).collect());
        let rsi_periods = distinct(combinations.iter().map(|p| p.rsi_period).collect());
        let ema = series_by_period(ema_periods, closes, Ema::new, Ema::update);
        let rsi = series_by_period(rsi_periods, closes, Rsi::new, Rsi::update);
        let pairs = distinct(combinations.iter().map(|p| (p.fast, p.slow)).collect());
        let crosses = pairs
            .into_par_iter()
            .map(|(fast, slow)| ((fast, slow), CrossEvents::find(&ema[&fast], &ema[&slow])))
            .collect();
        let levels = distinct(
            combinations
                .iter()
                .map(|p| (p.rsi_period, p.overbought.to_bits()))
                .collect(),
        );
        let overbought = levels
            .into_par_iter()
            .map(|(period, level_bits)| {
                let level = f64::from_bits(level_bits);
                let bars = rsi[&period]
                    .iter()
                    .enumerate()
                    .filter(|&(_, value)| RsiLevel::is_above(value, level))
                    .map(|(index, _)| index)
                    .collect();
                ((period, level_bits), bars)
            })
            .collect();
        SharedSeries {
            ema,
            rsi,
            crosses,
            overbought,
        }
    }
}

impl CrossEvents {
    fn find(fast: &[f64], slow: &[f64]) -> Self {
        let mut events = CrossEvents {
            up: Vec::new(),
            down: Vec::new(),
        };
        for index in 1..fast.len() {
            let readings = ema_readings(fast, slow, index);
            if !readings.is_defined() {
                continue;
            }
            if readings.crossed_up() {
                events.up.push(index);
            } else if readings.crossed_down() {
                events.down.push(index);
            }
        }
        events
    }
}

fn ema_readings(fast: &[f64], slow: &[f64], index: usize) -> EmaReadings {
    EmaReadings {
        previous_fast: fast[index - 1],
        previous_slow: slow[index - 1],
        fast: fast[index],
        slow: slow[index],
    }
}

/// [`EmaRsiCross`](strategy::EmaRsiCross) over shared precomputed series: it reads readings
/// instead of updating indicators, and finds signals by searching event lists.
struct PrecomputedCross<'s> {
    params: EmaRsiCrossParams,
    fast: &'s [f64],
    slow: &'s [f64],
    rsi: &'s [f64],
    crosses: &'s CrossEvents,
    overbought: &'s [usize],
    /// The first bar where every reading is defined.
    defined_from: usize,
    cursors: Cursors,
    /// Index of the next candle to be fed.
    next_index: usize,
}

impl<'s> PrecomputedCross<'s> {
    fn new(params: EmaRsiCrossParams, series: &'s SharedSeries) -> Self {
        let mut strategy = PrecomputedCross {
            params,
            fast: &series.ema[&params.fast],
            slow: &series.ema[&params.slow],
            rsi: &series.rsi[&params.rsi_period],
            crosses: &series.crosses[&(params.fast, params.slow)],
            overbought: &series.overbought[&(params.rsi_period, params.overbought.to_bits())],
            defined_from: 0,
            cursors: Cursors::default(),
            next_index: 0,
        };
        strategy.defined_from = (0..strategy.rsi.len())
            .find(|&index| {
                let readings = strategy.readings_at(index);
                readings.ema.is_defined() && !readings.rsi.is_nan()
            })
            .unwrap_or(strategy.rsi.len());
        strategy
    }

    /// The readings at `index`, NaN where undefined (and all NaN before the first candle).
    fn readings_at(&self, index: usize) -> CrossReadings {
        if index == 0 {
            return CrossReadings {
                ema: EmaReadings {
                    previous_fast: f64::NAN,
                    previous_slow: f64::NAN,
                    fast: self.fast[0],
                    slow: self.slow[0],
                },
                rsi: self.rsi[0],
            };
        }
        CrossReadings {
            ema: ema_readings(self.fast, self.slow, index),
            rsi: self.rsi[index],
        }
    }

    /// Where `decide` gives the next signal for `position` at or after `start`, if anywhere.
    /// `start` never decreases between calls, so the list cursors only move forward.
    fn next_signal(&mut self, start: usize, position: Position) -> Option<(usize, Signal)> {
        // `decide` needs every reading defined; each series stays defined once it is.
        let start = start.max(self.defined_from);
        match position {
            // A cross is a BUY when the RSI is below the level.
            Position::Flat => {
                let ups = &self.crosses.up;
                self.cursors.up.advance_to(ups, start);
                ups[self.cursors.up.0..]
                    .iter()
                    .find(|&&bar| self.rsi[bar].is_below(self.params.overbought))
                    .map(|&bar| (bar, Signal::Buy))
            }
            // A downward cross or an overbought RSI, whichever comes first.
            Position::Long => {
                let cross = self.cursors.down.advance_to(&self.crosses.down, start);
                let overbought = self.cursors.overbought.advance_to(self.overbought, start);
                match (cross, overbought) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
                .map(|bar| (bar, Signal::Sell))
            }
        }
    }
}

/// A position in a sorted event list that only moves forward.
#[derive(Debug, Default, Clone, Copy)]
struct Cursor(usize);

impl Cursor {
    /// Moves to the first entry at or after `start` and returns it. Linear, not a binary search:
    /// successive starts are close together, and a forward walk reads memory in order.
    fn advance_to(&mut self, bars: &[usize], start: usize) -> Option<usize> {
        while bars.get(self.0).is_some_and(|&bar| bar < start) {
            self.0 += 1;
        }
        bars.get(self.0).copied()
    }
}

/// Where [`PrecomputedCross`] is in each of its event lists.
#[derive(Debug, Default, Clone, Copy)]
struct Cursors {
    up: Cursor,
    down: Cursor,
    overbought: Cursor,
}

impl Strategy for PrecomputedCross<'_> {
    fn update(&mut self, _candle: &Candle) {
        self.next_index += 1;
    }

    fn signal(&self, position: Position) -> Option<Signal> {
        let index = self.next_index.checked_sub(1)?;
        self.params.decide(position, self.readings_at(index))
    }

    fn warmup_candles(&self) -> usize {
        self.params.warmup_candles()
    }

    fn reset(&mut self) {
        self.next_index = 0;
        self.cursors = Cursors::default();
    }

    /// Jumps from signal to signal through the event lists.
    fn run(
        &mut self,
        _candles: &CandleSeries,
        range: Range<usize>,
        mut position: Position,
        mut on_signal: impl FnMut(usize, Signal) -> Position,
    ) {
        let mut start = range.start;
        while let Some((index, signal)) = self.next_signal(start, position) {
            if index >= range.end {
                break;
            }
            position = on_signal(index, signal);
            start = index + 1;
        }
        self.next_index = range.end;
    }
}

/// Runs every combination over `candles`; `on_progress(done)` is called from worker threads as
/// combinations finish. Rows come back in the order of `combinations`.
pub fn run_sweep(
    candles: &CandleSeries,
    config: &BacktestConfig,
    combinations: &[EmaRsiCrossParams],
    on_progress: &(dyn Fn(usize) + Sync),
) -> Vec<SweepRow> {
    run_sweep_with_holdout(candles, config, combinations, None, on_progress)
}

/// [`run_sweep`], holding out the candles from index `holdout_from` on: each combination runs
/// over the candles before it (in sample) and, apart, over those from it on (out of sample),
/// the indicators of both computed once over the whole series. A bar's reading depends only on
/// the candles up to it, so the in-sample figures are those of a sweep of the first part alone.
pub fn run_sweep_with_holdout(
    candles: &CandleSeries,
    config: &BacktestConfig,
    combinations: &[EmaRsiCrossParams],
    holdout_from: Option<usize>,
    on_progress: &(dyn Fn(usize) + Sync),
) -> Vec<SweepRow> {
    let series = SharedSeries::compute(candles.closes(), combinations);
    let in_sample = 0..holdout_from.unwrap_or(candles.len()).min(candles.len());
    let done = AtomicUsize::new(0);
    combinations
        .par_iter()
        .map(|&params| {
            let run = |range: Range<usize>| {
                let mut strategy = PrecomputedCross::new(params, &series);
                run_backtest_over(&mut strategy, candles, range, config, &mut NoObserver).summary
            };
            let summary = run(in_sample.clone());
            let out_of_sample =
                holdout_from.map(|from| run(from.min(candles.len())..candles.len()));
            on_progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            SweepRow {
                params,
                summary,
                out_of_sample,
            }
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
            .combinations(MAX_COMBINATIONS)
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
            zero.combinations(MAX_COMBINATIONS)
                .unwrap_err()
                .to_string()
                .contains("rsi period")
        );
    }

    #[test]
    fn a_grid_too_large_is_refused_before_anything_is_built() {
        let values: Vec<usize> = (1..=100_000).collect();
        let huge = SweepGrid {
            fast: values.clone(),
            slow: values,
            rsi_period: vec![14],
            overbought: vec![70.0],
        };
        assert_eq!(huge.size(), 10_000_000_000);
        let error = huge.combinations(MAX_COMBINATIONS).unwrap_err();
        assert_eq!(
            error,
            GridError::TooLarge {
                count: 10_000_000_000,
                max: MAX_COMBINATIONS
            }
        );
        assert!(
            error
                .to_string()
                .contains("more than the 1000000 a sweep runs"),
            "{error}"
        );
        let saturated = SweepGrid {
            rsi_period: vec![14; 1 << 20],
            overbought: vec![70.0; 1 << 20],
            ..huge
        };
        assert_eq!(saturated.size(), usize::MAX, "counted without overflow");
    }
}
