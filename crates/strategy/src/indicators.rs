//! Streaming technical indicators with TA-Lib's exact definitions and operation order.
//!
//! Each indicator takes one value at a time in O(1) and yields `None` until it has seen enough
//! input, at the same index where TA-Lib's first output appears. The arithmetic is TA-Lib 0.8's,
//! step for step (same seeds, same operations in the same order, the EMA's fused multiply-add and
//! the RSI's multiplication by `1/n`), so values are bit-identical to TA-Lib's
//! (`tests/talib_vectors.rs` checks this against vectors TA-Lib produced), and a strategy's
//! decisions at exact ties are the same as in every TA-Lib based tool.
//!
//! `f64::mul_add` is one instruction on CPUs with FMA and a (slower, equally exact) library call
//! elsewhere; hot loops enable the instruction with `#[target_feature(enable = "fma")]` and rely
//! on the updates here being inlined into them, hence `#[inline(always)]`.

/// Simple moving average over the last `period` values.
#[derive(Debug, Clone)]
pub struct Sma {
    window: Box<[f64]>,
    next_slot: usize,
    seen: usize,
    running_sum: f64,
    value: Option<f64>,
}

impl Sma {
    /// An SMA over `period` values; `period` must be at least 1.
    pub fn new(period: usize) -> Self {
        assert!(period >= 1, "SMA period must be at least 1");
        Sma {
            window: vec![0.0; period].into_boxed_slice(),
            next_slot: 0,
            seen: 0,
            running_sum: 0.0,
            value: None,
        }
    }

    /// Number of values averaged.
    pub fn period(&self) -> usize {
        self.window.len()
    }

    /// Adds a value; returns the average once `period` values have been seen.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        // TA-Lib adds the new value, divides, then removes the value that leaves the window
        // next; the same order keeps the rounding identical.
        let period = self.window.len();
        self.running_sum += x;
        self.window[self.next_slot] = x;
        self.next_slot = (self.next_slot + 1) % period;
        if self.seen < period {
            self.seen += 1;
            if self.seen < period {
                return None;
            }
        }
        let average = self.running_sum / period as f64;
        // The ring is full, so the slot written next holds the window's oldest value.
        self.running_sum -= self.window[self.next_slot];
        self.value = Some(average);
        self.value
    }

    /// The latest average, if defined.
    pub fn value(&self) -> Option<f64> {
        self.value
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        *self = Sma::new(self.window.len());
    }
}

/// Exponential moving average, seeded with the SMA of the first `period` values.
///
/// First value at index `period - 1`; afterwards `ema = fma(x - ema, k, ema)` with
/// `k = 2 / (period + 1)`.
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    smoothing: f64,
    seen: usize,
    seed_sum: f64,
    value: f64,
}

impl Ema {
    /// An EMA over `period` values; `period` must be at least 1.
    pub fn new(period: usize) -> Self {
        assert!(period >= 1, "EMA period must be at least 1");
        Ema {
            period,
            smoothing: 2.0 / (period as f64 + 1.0),
            seen: 0,
            seed_sum: 0.0,
            value: f64::NAN,
        }
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Adds a value; returns the EMA once `period` values have been seen.
    #[inline(always)]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.is_defined() {
            return Some(self.update_defined(x));
        }
        self.seen += 1;
        self.seed_sum += x;
        if self.seen < self.period {
            return None;
        }
        self.value = self.seed_sum / self.period as f64;
        Some(self.value)
    }

    /// True once `period` values have been seen.
    #[inline(always)]
    pub fn is_defined(&self) -> bool {
        self.seen >= self.period
    }

    /// [`Ema::update`] for an EMA that [is defined](Ema::is_defined): the same arithmetic
    /// without the warm-up check, for hot loops that have checked once.
    #[inline(always)]
    pub fn update_defined(&mut self, x: f64) -> f64 {
        debug_assert!(self.is_defined());
        self.value = (x - self.value).mul_add(self.smoothing, self.value);
        self.value
    }

    /// The weight of each new value, `2 / (period + 1)`.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn smoothing(&self) -> f64 {
        self.smoothing
    }

    /// Replaces the value of a [defined](Ema::is_defined) EMA with one computed elsewhere, by
    /// the same arithmetic (the backtest's SIMD lanes).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn set_defined_value(&mut self, value: f64) {
        debug_assert!(self.is_defined());
        self.value = value;
    }

    /// The latest EMA, if defined.
    #[inline]
    pub fn value(&self) -> Option<f64> {
        self.is_defined().then_some(self.value)
    }

    /// The latest EMA, or NaN while undefined (NaN fails every comparison).
    #[inline(always)]
    pub fn value_or_nan(&self) -> f64 {
        self.value
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        *self = Ema::new(self.period);
    }
}

/// Wilder's relative strength index, 0 to 100.
///
/// Seeded with the simple mean of the first `period` gains and losses (first value at index
/// `period`), then smoothed as `avg = (avg * (period - 1) + change) * (1 / period)`. When average
/// gain plus average loss is exactly zero (a flat market) the value is 0, as in TA-Lib.
///
/// The value itself (a division) is computed only when asked for; a strategy that only compares
/// it with a level uses [`Rsi::is_above`] and [`Rsi::is_below`], which give exactly the same
/// answers as comparing [`Rsi::value`] but almost never divide.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    /// `period - 1`, the weight of the previous average.
    weight: f64,
    /// `1 / period`: TA-Lib multiplies by it rather than dividing by the period.
    reciprocal: f64,
    changes_seen: usize,
    previous: f64,
    averages: RsiAverages,
}

/// Wilder's smoothed average gain and loss: the state behind an RSI value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RsiAverages {
    /// Average gain per change.
    pub gain: f64,
    /// Average loss per change (positive).
    pub loss: f64,
}

/// Relative margin outside which the division-free comparison is certain: its inputs carry at
/// most a few units of 1.1e-16 relative rounding error, far below this.
const COMPARISON_MARGIN: f64 = 1e-12;

impl Rsi {
    /// An RSI over `period` changes; `period` must be at least 1.
    pub fn new(period: usize) -> Self {
        assert!(period >= 1, "RSI period must be at least 1");
        Rsi {
            period,
            weight: (period - 1) as f64,
            reciprocal: 1.0 / period as f64,
            changes_seen: 0,
            previous: f64::NAN,
            averages: RsiAverages {
                gain: 0.0,
                loss: 0.0,
            },
        }
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Adds a value; returns the RSI once `period` changes have been seen.
    #[inline(always)]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.is_defined() {
            self.update_defined(x);
            return self.value();
        }
        let change = x - self.previous;
        self.previous = x;
        if change.is_nan() {
            // The very first value only sets `previous`.
            return None;
        }
        self.changes_seen += 1;
        if change < 0.0 {
            self.averages.loss -= change;
        } else {
            self.averages.gain += change;
        }
        if self.changes_seen < self.period {
            return None;
        }
        self.averages.gain *= self.reciprocal;
        self.averages.loss *= self.reciprocal;
        self.value()
    }

    /// True once `period` changes have been seen.
    #[inline(always)]
    pub fn is_defined(&self) -> bool {
        self.changes_seen >= self.period
    }

    /// [`Rsi::update`] for an RSI that [is defined](Rsi::is_defined): the same smoothing without
    /// the warm-up checks and without computing the value, for hot loops that have checked once.
    /// Returns the new averages.
    #[inline(always)]
    pub fn update_defined(&mut self, x: f64) -> RsiAverages {
        debug_assert!(self.is_defined());
        let change = x - self.previous;
        self.previous = x;
        // Adding +0.0 where TA-Lib adds nothing gives the same bits, without a branch. A plain
        // select rather than `f64::max`, whose NaN handling costs instructions (a change is never
        // NaN here: the RSI is defined, so every input so far was a number). `gain - change` is
        // exactly `-change` when the gain is 0 and exactly 0 otherwise: the loss, in one step.
        let gain = if change > 0.0 { change } else { 0.0 };
        let loss = gain - change;
        let averages = &mut self.averages;
        averages.gain = (averages.gain * self.weight + gain) * self.reciprocal;
        averages.loss = (averages.loss * self.weight + loss) * self.reciprocal;
        *averages
    }

    /// `(period - 1, 1 / period)`: the smoothing's weight of the previous average, and the
    /// factor applied after adding the new change.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn smoothing(&self) -> (f64, f64) {
        (self.weight, self.reciprocal)
    }

    /// The state of a [defined](Rsi::is_defined) RSI: the last value seen and the averages.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn defined_state(&self) -> (f64, RsiAverages) {
        debug_assert!(self.is_defined());
        (self.previous, self.averages)
    }

    /// Replaces the state of a [defined](Rsi::is_defined) RSI with one computed elsewhere, by
    /// the same arithmetic (the backtest's SIMD lanes).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn set_defined_state(&mut self, previous: f64, averages: RsiAverages) {
        debug_assert!(self.is_defined());
        self.previous = previous;
        self.averages = averages;
    }

    /// The latest RSI, if defined: `100 * gain / (gain + loss)`, or 0 when that sum is zero.
    #[inline(always)]
    pub fn value(&self) -> Option<f64> {
        self.is_defined().then(|| self.averages.value())
    }

    /// Exactly `value() > level` (false while undefined), usually without dividing.
    #[inline(always)]
    pub fn is_above(&self, level: f64) -> bool {
        self.is_defined() && self.averages.is_above(level)
    }

    /// Exactly `value() < level` (false while undefined), usually without dividing.
    #[inline(always)]
    pub fn is_below(&self, level: f64) -> bool {
        self.is_defined() && self.averages.is_below(level)
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        *self = Rsi::new(self.period);
    }
}

impl RsiAverages {
    /// `(upper, lower)`: the shares of `gain + loss` that the gain must exceed for the RSI to be
    /// certainly above `level`, or stay under for it to be certainly below: `level / 100`
    /// nudged outward by [`COMPARISON_MARGIN`]. Between the two, only the value can tell.
    #[inline(always)]
    pub(crate) fn certain_shares(level: f64) -> (f64, f64) {
        let share = level / 100.0;
        if share >= 0.0 {
            (
                share * (1.0 + COMPARISON_MARGIN),
                share * (1.0 - COMPARISON_MARGIN),
            )
        } else {
            (
                share * (1.0 - COMPARISON_MARGIN),
                share * (1.0 + COMPARISON_MARGIN),
            )
        }
    }

    /// `100 * gain / (gain + loss)`, or 0 when that sum is zero.
    #[inline(always)]
    pub fn value(&self) -> f64 {
        let total = self.gain + self.loss;
        if total == 0.0 {
            0.0
        } else {
            100.0 * (self.gain / total)
        }
    }

    /// Exactly `value() > level`, usually without dividing.
    #[inline(always)]
    pub fn is_above(&self, level: f64) -> bool {
        self.compare(level).0
    }

    /// Exactly `value() < level`, usually without dividing.
    #[inline(always)]
    pub fn is_below(&self, level: f64) -> bool {
        self.compare(level).1
    }

    /// `(value() > level, value() < level)`.
    ///
    /// Compares `gain` with `(gain + loss) * level / 100`, with the level nudged outward by
    /// [`COMPARISON_MARGIN`], instead of dividing: a margin the rounding of
    /// `100 * (gain / total)` cannot bridge, so an answer outside it is exact (and the value is
    /// then also not equal to the level). Only when too close to call (or when the sum is zero)
    /// is the value computed. Branch-free until then, as RSI crosses a level too often for a
    /// branch predictor; the nudged levels depend only on `level`, so loops compute them once.
    #[inline(always)]
    fn compare(&self, level: f64) -> (bool, bool) {
        let (upper, lower) = Self::certain_shares(level);
        let total = self.gain + self.loss;
        let above = self.gain > total * upper;
        let below = self.gain < total * lower;
        if above | below {
            (above, below)
        } else {
            let value = self.value();
            (value > level, value < level)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_first_value_is_the_sma_of_the_first_period_values() {
        let mut ema = Ema::new(3);
        assert_eq!(ema.update(1.0), None);
        assert_eq!(ema.update(2.0), None);
        assert_eq!(ema.update(3.0), Some(2.0));
        // k = 0.5: 2 + (6 - 2) * 0.5
        assert_eq!(ema.update(6.0), Some(4.0));
        ema.reset();
        assert_eq!(ema.value(), None);
    }

    #[test]
    fn rsi_is_defined_from_index_period_and_is_100_without_losses() {
        let mut rsi = Rsi::new(3);
        let outputs: Vec<Option<f64>> = [1.0, 2.0, 3.0, 4.0, 5.0]
            .into_iter()
            .map(|x| rsi.update(x))
            .collect();
        assert_eq!(outputs, [None, None, None, Some(100.0), Some(100.0)]);
    }

    #[test]
    fn rsi_of_a_flat_market_is_zero_like_talib() {
        let mut rsi = Rsi::new(2);
        let last = [5.0; 6].into_iter().map(|x| rsi.update(x)).last();
        assert_eq!(last, Some(Some(0.0)));
    }

    #[test]
    fn sma_slides_over_the_window() {
        let mut sma = Sma::new(2);
        assert_eq!(sma.update(1.0), None);
        assert_eq!(sma.update(3.0), Some(2.0));
        assert_eq!(sma.update(5.0), Some(4.0));
    }
}
