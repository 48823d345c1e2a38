//! [`EmaRsiCross`](crate::EmaRsiCross)'s backtest loop over four stretches of a long run at once,
//! one in each lane of an AVX2 register.
//!
//! One candle after another, the RSI's smoothing (a multiply, an add and a multiply, each waiting
//! for the one before) caps an exact loop at roughly 240 M candles/s. But the indicators forget
//! their past geometrically: a second copy started from scratch some way back reaches the very same
//! bits as the true state (measured on the shared data with the default periods: within 540
//! candles) and stays equal from then on, as both apply the same operations to the same closes. So
//! the run is cut in four. Lane 0 starts from the true state; lanes 1 to 3 start `overlap` candles
//! before their stretch, from scratch, and a lane is used only if its state where its stretch
//! begins equals, bit for bit and position included, the state the lane before it ends with. If
//! not, the rest of the run goes one candle at a time. Every lane does exactly the scalar
//! arithmetic (`vfmadd` is the single rounding of `f64::mul_add`; the RSI's multiply and add stay
//! two roundings), so the results are identical to the scalar loop's, not merely close.
//!
//! The lanes assume that every signal is followed (a BUY makes the lane long, a SELL flat); the
//! engine has the last word. When it answers otherwise (an order the exchange's filters refused),
//! the state at that candle is recomputed from the start of the lane's stretch and the rest of the
//! run goes one candle at a time.
//!
//! Written by hand with `std::arch`: portable SIMD is not stable Rust, and the SIMD crates pick FMA
//! when compiling (falling back to a separate multiply and add, which changes the bits), while this
//! must pick it at run time on the CPU it finds.

use std::arch::x86_64::{
    __m256d, _CMP_GT_OQ, _CMP_LT_OQ, _mm256_add_pd, _mm256_and_pd, _mm256_andnot_pd, _mm256_cmp_pd,
    _mm256_fmadd_pd, _mm256_max_pd, _mm256_movemask_pd, _mm256_mul_pd, _mm256_or_pd, _mm256_set_pd,
    _mm256_set1_pd, _mm256_setzero_pd, _mm256_sub_pd, _mm256_xor_pd,
};

use crate::ema_rsi_cross::{CrossState, run_warm_one_by_one};
use crate::{EmaRsiCrossParams, Position, RsiAverages, Signal};

/// Doubles in an AVX2 register.
const LANES: usize = 4;

/// How far ahead of its stretch a lane starts, per candle of the longest period. The RSI's
/// smoothing shrinks a difference by `(n - 1) / n` a candle, so erasing a difference as large as
/// the values themselves takes about 42 n candles (the slow EMA's, about 21 n); 128 n leaves a wide
/// margin and costs under 1 % of a million-candle run with the default periods.
const OVERLAP_PER_PERIOD: usize = 128;

/// Runs shorter than this many overlaps stay on the scalar loop, where the overlaps would cost
/// more than the lanes save.
const MIN_OVERLAPS_PER_RUN: usize = 16;

/// What the lanes did; tests check that each path is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every lane's stretch was used.
    AllLanes,
    /// This lane's state had not reached the true one where its stretch begins; from there on
    /// the run went one candle at a time.
    LaneOutOfStep { lane: usize },
    /// The engine did not follow the signal at this candle; from there on the run went one
    /// candle at a time.
    SignalNotFollowed { index: usize },
}

/// How a run of candles is cut into lanes. Lane `j` computes the candles from `lane_start(j)` for
/// `stretch` candles; for lanes after the first, the first `overlap` of them only bring its
/// state into step with the true one, and its own candles begin where the previous lane's end.
/// A plan exists only on a CPU with AVX2 and FMA.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LanePlan {
    stretch: usize,
    overlap: usize,
}

impl LanePlan {
    /// A plan for a run of `candles` candles, if the run is long enough and the CPU can.
    pub(crate) fn new(candles: usize, params: &EmaRsiCrossParams) -> Option<Self> {
        let overlap = OVERLAP_PER_PERIOD * params.slow.max(params.rsi_period);
        if candles < MIN_OVERLAPS_PER_RUN * overlap {
            return None;
        }
        Self::with_overlap(candles, overlap, params)
    }

    /// A plan with the given overlap, if every lane gets candles of its own and the speculative
    /// lanes have candles before their start to warm up on.
    fn with_overlap(candles: usize, overlap: usize, params: &EmaRsiCrossParams) -> Option<Self> {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return None;
        }
        let stretch = (candles + (LANES - 1) * overlap) / LANES;
        (stretch > overlap && stretch - overlap >= params.warmup_candles())
            .then_some(LanePlan { stretch, overlap })
    }

    /// The first candle lane `lane` computes.
    fn lane_start(&self, lane: usize) -> usize {
        lane * (self.stretch - self.overlap)
    }

    /// The first candle whose signal lane `lane` reports: where the previous lane stops.
    fn own_start(&self, lane: usize) -> usize {
        if lane == 0 {
            0
        } else {
            self.lane_start(lane) + self.overlap
        }
    }

    /// Candles the lanes cover; the rest go one at a time.
    fn covered(&self) -> usize {
        self.lane_start(LANES - 1) + self.stretch
    }

    /// Runs `closes` (candle indices from `start`) from the warm `state` in `position`: the same
    /// signals reach `on_signal` in the same order, and the same final state is left behind, as
    /// with [`run_warm_one_by_one`]. Always inlined, like that loop, so that it is compiled
    /// within the caller (the backtester's FMA-enabled loop).
    #[inline(always)]
    pub(crate) fn run(
        self,
        state: &mut CrossState,
        params: &EmaRsiCrossParams,
        closes: &[f64],
        start: usize,
        position: Position,
        on_signal: &mut impl FnMut(usize, Signal) -> Position,
    ) -> Outcome {
        let warmup = params.warmup_candles();
        let mut entries = [LaneState::of(state, position); LANES];
        for (lane, entry) in entries.iter_mut().enumerate().skip(1) {
            let begin = self.lane_start(lane);
            let mut fresh = CrossState::new(params);
            for &close in &closes[begin - warmup..begin] {
                fresh.update(close);
            }
            *entry = LaneState::of(&fresh, Position::Flat);
        }
        let coefficients = Coefficients::of(state, params);
        let lane_closes: [&[f64]; LANES] =
            std::array::from_fn(|lane| &closes[self.lane_start(lane)..][..self.stretch]);
        // Padded with zeros to whole words for `SignalIterations`.
        let mut signal_bits = vec![0u8; self.stretch.next_multiple_of(SIGNAL_WORD_BYTES)];
        let (bits_in_overlap, bits_after) = signal_bits[..self.stretch].split_at_mut(self.overlap);
        // SAFETY (both calls): a plan exists only on a CPU with AVX2 and FMA (`with_overlap`).
        let in_step = unsafe {
            run_lanes(
                entries,
                lane_closes.map(|closes| &closes[..self.overlap]),
                bits_in_overlap,
                &coefficients,
            )
        };
        let ends = unsafe {
            run_lanes(
                in_step,
                lane_closes.map(|closes| &closes[self.overlap..]),
                bits_after,
                &coefficients,
            )
        };

        let mut position = position;
        for lane in 0..LANES {
            let own_start = self.own_start(lane);
            let exact_entry = if lane == 0 {
                entries[0]
            } else if in_step[lane].same_as(&ends[lane - 1]) {
                in_step[lane]
            } else {
                ends[lane - 1].store_into(state);
                let rest = &closes[own_start..];
                run_warm_one_by_one(state, params, rest, start + own_start, position, on_signal);
                return Outcome::LaneOutOfStep { lane };
            };
            let lane_start = self.lane_start(lane);
            for iteration in SignalIterations::new(&signal_bits, own_start - lane_start, lane) {
                let index = lane_start + iteration;
                let signal = match position {
                    Position::Flat => Signal::Buy,
                    Position::Long => Signal::Sell,
                };
                position = on_signal(start + index, signal);
                if position != signal.position_after() {
                    // The state after this candle, as the lane computed it with the signal
                    // followed: the lane's own candles again, one by one, every signal followed.
                    exact_entry.store_into(state);
                    run_warm_one_by_one(
                        state,
                        params,
                        &closes[own_start..=index],
                        start + own_start,
                        exact_entry.position(),
                        &mut |_, signal| signal.position_after(),
                    );
                    let rest = &closes[index + 1..];
                    run_warm_one_by_one(
                        state,
                        params,
                        rest,
                        start + index + 1,
                        position,
                        on_signal,
                    );
                    return Outcome::SignalNotFollowed {
                        index: start + index,
                    };
                }
            }
            debug_assert_eq!(position, ends[lane].position());
        }
        ends[LANES - 1].store_into(state);
        let covered = self.covered();
        let rest = &closes[covered..];
        run_warm_one_by_one(state, params, rest, start + covered, position, on_signal);
        Outcome::AllLanes
    }
}

/// Bytes of signals [`SignalIterations`] reads at a time.
const SIGNAL_WORD_BYTES: usize = u64::BITS as usize / 8;

/// The iterations from some point on whose signal byte has one lane's bit set, in order. A word
/// at a time: a lane signals on about one candle in twenty, so most words have no bit to find.
/// Hand-written rather than `flat_map`ped, so that its `next` is inlined into the replay loop.
struct SignalIterations<'b> {
    signal_bits: &'b [u8],
    first: usize,
    lane_bits: u64,
    /// The word the bits in `set` come from.
    word_index: usize,
    /// The lane's bits of that word not yet returned.
    set: u64,
}

impl<'b> SignalIterations<'b> {
    /// Over `signal_bits` (whole words long), from iteration `first`, for `lane`.
    fn new(signal_bits: &'b [u8], first: usize, lane: usize) -> Self {
        debug_assert!(signal_bits.len().is_multiple_of(SIGNAL_WORD_BYTES));
        let lane_bits = u64::from_le_bytes([1u8 << lane; SIGNAL_WORD_BYTES]);
        let word_index = first / SIGNAL_WORD_BYTES;
        let mut iterations = SignalIterations {
            signal_bits,
            first,
            lane_bits,
            word_index,
            set: 0,
        };
        iterations.set = iterations.word(word_index);
        iterations
    }

    /// The lane's bits of word `word_index` (none past the end).
    #[inline(always)]
    fn word(&self, word_index: usize) -> u64 {
        let begin = word_index * SIGNAL_WORD_BYTES;
        match self.signal_bits.get(begin..begin + SIGNAL_WORD_BYTES) {
            Some(bytes) => {
                u64::from_le_bytes(bytes.try_into().expect("the range is a word")) & self.lane_bits
            }
            None => 0,
        }
    }
}

impl Iterator for SignalIterations<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        let words = self.signal_bits.len() / SIGNAL_WORD_BYTES;
        loop {
            while self.set == 0 {
                self.word_index += 1;
                if self.word_index >= words {
                    return None;
                }
                self.set = self.word(self.word_index);
            }
            let byte = self.set.trailing_zeros() as usize / 8;
            self.set &= self.set - 1;
            let iteration = self.word_index * SIGNAL_WORD_BYTES + byte;
            if iteration >= self.first {
                return Some(iteration);
            }
        }
    }
}

/// One lane's state: everything the next candle's arithmetic and rule read.
#[derive(Debug, Clone, Copy)]
struct LaneState {
    fast: f64,
    slow: f64,
    previous_fast: f64,
    previous_slow: f64,
    previous_close: f64,
    gain: f64,
    loss: f64,
    long: bool,
}

impl LaneState {
    /// The state of a warm `state` in `position`.
    fn of(state: &CrossState, position: Position) -> Self {
        let (previous_close, averages) = state.rsi.defined_state();
        LaneState {
            fast: state.fast.value_or_nan(),
            slow: state.slow.value_or_nan(),
            previous_fast: state.previous_fast,
            previous_slow: state.previous_slow,
            previous_close,
            gain: averages.gain,
            loss: averages.loss,
            long: position == Position::Long,
        }
    }

    /// Writes this state into a warm `state`.
    fn store_into(&self, state: &mut CrossState) {
        state.fast.set_defined_value(self.fast);
        state.slow.set_defined_value(self.slow);
        state.previous_fast = self.previous_fast;
        state.previous_slow = self.previous_slow;
        let averages = RsiAverages {
            gain: self.gain,
            loss: self.loss,
        };
        state.rsi.set_defined_state(self.previous_close, averages);
    }

    fn position(&self) -> Position {
        if self.long {
            Position::Long
        } else {
            Position::Flat
        }
    }

    /// The same bits everywhere, and the same position: from here on both compute the same.
    fn same_as(&self, other: &LaneState) -> bool {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
        same(self.fast, other.fast)
            && same(self.slow, other.slow)
            && same(self.previous_fast, other.previous_fast)
            && same(self.previous_slow, other.previous_slow)
            && same(self.previous_close, other.previous_close)
            && same(self.gain, other.gain)
            && same(self.loss, other.loss)
            && self.long == other.long
    }
}

/// The constants of the arithmetic, taken from the scalar indicators so that both use the same.
#[derive(Debug, Clone, Copy)]
struct Coefficients {
    fast_smoothing: f64,
    slow_smoothing: f64,
    rsi_weight: f64,
    rsi_reciprocal: f64,
    overbought: f64,
    certainly_above: f64,
    certainly_below: f64,
}

impl Coefficients {
    fn of(state: &CrossState, params: &EmaRsiCrossParams) -> Self {
        let (rsi_weight, rsi_reciprocal) = state.rsi.smoothing();
        let (certainly_above, certainly_below) = RsiAverages::certain_shares(params.overbought);
        Coefficients {
            fast_smoothing: state.fast.smoothing(),
            slow_smoothing: state.slow.smoothing(),
            rsi_weight,
            rsi_reciprocal,
            overbought: params.overbought,
            certainly_above,
            certainly_below,
        }
    }
}

/// The four lanes' states, one field per register (lane `j` in element `j`); `long` and the
/// other masks are all ones for true, all zeros for false.
#[derive(Clone, Copy)]
struct LaneRegisters {
    fast: __m256d,
    slow: __m256d,
    previous_fast: __m256d,
    previous_slow: __m256d,
    previous_close: __m256d,
    gain: __m256d,
    loss: __m256d,
    long: __m256d,
}

/// A mask element: all ones for true.
fn mask_element(flag: bool) -> f64 {
    f64::from_bits(if flag { u64::MAX } else { 0 })
}

#[target_feature(enable = "avx2")]
fn register_of(values: [f64; LANES]) -> __m256d {
    _mm256_set_pd(values[3], values[2], values[1], values[0])
}

#[target_feature(enable = "avx2")]
fn elements_of(register: __m256d) -> [f64; LANES] {
    // SAFETY: both are 32 bytes, and every bit pattern is a valid `f64`.
    unsafe { std::mem::transmute::<__m256d, [f64; LANES]>(register) }
}

impl LaneRegisters {
    #[target_feature(enable = "avx2")]
    fn load(states: &[LaneState; LANES]) -> Self {
        let field = |read: fn(&LaneState) -> f64| register_of(states.each_ref().map(read));
        LaneRegisters {
            fast: field(|state| state.fast),
            slow: field(|state| state.slow),
            previous_fast: field(|state| state.previous_fast),
            previous_slow: field(|state| state.previous_slow),
            previous_close: field(|state| state.previous_close),
            gain: field(|state| state.gain),
            loss: field(|state| state.loss),
            long: field(|state| mask_element(state.long)),
        }
    }

    #[target_feature(enable = "avx2")]
    fn store(&self) -> [LaneState; LANES] {
        let [
            fast,
            slow,
            previous_fast,
            previous_slow,
            previous_close,
            gain,
            loss,
        ] = [
            self.fast,
            self.slow,
            self.previous_fast,
            self.previous_slow,
            self.previous_close,
            self.gain,
            self.loss,
        ]
        .map(|register| elements_of(register));
        let long = _mm256_movemask_pd(self.long);
        std::array::from_fn(|lane| LaneState {
            fast: fast[lane],
            slow: slow[lane],
            previous_fast: previous_fast[lane],
            previous_slow: previous_slow[lane],
            previous_close: previous_close[lane],
            gain: gain[lane],
            loss: loss[lane],
            long: long & (1 << lane) != 0,
        })
    }
}

/// Runs each lane from its entry state over its closes (all the same length), writing one byte
/// per candle: bit `j` set when lane `j` signals there (a BUY if it was flat, a SELL if long; the
/// lane then follows it). Returns the states after the last candle.
///
/// Per candle and lane, exactly the arithmetic of `CrossState::step_warm`.
#[target_feature(enable = "avx2,fma")]
fn run_lanes(
    entry: [LaneState; LANES],
    closes: [&[f64]; LANES],
    signal_bits: &mut [u8],
    coefficients: &Coefficients,
) -> [LaneState; LANES] {
    let mut lanes = LaneRegisters::load(&entry);
    let zero = _mm256_setzero_pd();
    let fast_smoothing = _mm256_set1_pd(coefficients.fast_smoothing);
    let slow_smoothing = _mm256_set1_pd(coefficients.slow_smoothing);
    let rsi_weight = _mm256_set1_pd(coefficients.rsi_weight);
    let rsi_reciprocal = _mm256_set1_pd(coefficients.rsi_reciprocal);
    let certainly_above = _mm256_set1_pd(coefficients.certainly_above);
    let certainly_below = _mm256_set1_pd(coefficients.certainly_below);
    // `previous_fast <= previous_slow` is `!(previous_fast > previous_slow)`, as no reading is NaN
    // unless a close was: NaN never leaves an EMA, so then this candle's readings are NaN too and
    // neither cross can hold either way.
    let mut fast_was_above = _mm256_cmp_pd::<_CMP_GT_OQ>(lanes.fast, lanes.slow);
    let mut fast_was_below = _mm256_cmp_pd::<_CMP_LT_OQ>(lanes.fast, lanes.slow);
    let rows = closes[0]
        .iter()
        .zip(closes[1])
        .zip(closes[2])
        .zip(closes[3])
        .zip(signal_bits.iter_mut());
    for ((((&close_0, &close_1), &close_2), &close_3), bits) in rows {
        let close = _mm256_set_pd(close_3, close_2, close_1, close_0);
        // RSI: `max(change, +0)` returns its second operand unless the change is above zero,
        // exactly the scalar `if change > 0.0 { change } else { 0.0 }`.
        let change = _mm256_sub_pd(close, lanes.previous_close);
        lanes.previous_close = close;
        let gain = _mm256_max_pd(change, zero);
        let loss = _mm256_sub_pd(gain, change);
        lanes.gain = _mm256_mul_pd(
            _mm256_add_pd(_mm256_mul_pd(lanes.gain, rsi_weight), gain),
            rsi_reciprocal,
        );
        lanes.loss = _mm256_mul_pd(
            _mm256_add_pd(_mm256_mul_pd(lanes.loss, rsi_weight), loss),
            rsi_reciprocal,
        );
        // EMAs.
        lanes.previous_fast = lanes.fast;
        lanes.previous_slow = lanes.slow;
        lanes.fast = _mm256_fmadd_pd(_mm256_sub_pd(close, lanes.fast), fast_smoothing, lanes.fast);
        lanes.slow = _mm256_fmadd_pd(_mm256_sub_pd(close, lanes.slow), slow_smoothing, lanes.slow);
        // The rule.
        let fast_above = _mm256_cmp_pd::<_CMP_GT_OQ>(lanes.fast, lanes.slow);
        let fast_below = _mm256_cmp_pd::<_CMP_LT_OQ>(lanes.fast, lanes.slow);
        let crossed_up = _mm256_andnot_pd(fast_was_above, fast_above);
        let crossed_down = _mm256_andnot_pd(fast_was_below, fast_below);
        (fast_was_above, fast_was_below) = (fast_above, fast_below);
        let total = _mm256_add_pd(lanes.gain, lanes.loss);
        let mut rsi_above =
            _mm256_cmp_pd::<_CMP_GT_OQ>(lanes.gain, _mm256_mul_pd(total, certainly_above));
        let mut rsi_below =
            _mm256_cmp_pd::<_CMP_LT_OQ>(lanes.gain, _mm256_mul_pd(total, certainly_below));
        if _mm256_movemask_pd(_mm256_or_pd(rsi_above, rsi_below)) != 0b1111 {
            (rsi_above, rsi_below) =
                compare_rsi_exactly(lanes.gain, lanes.loss, coefficients.overbought);
        }
        let buy = _mm256_andnot_pd(lanes.long, _mm256_and_pd(crossed_up, rsi_below));
        let sell = _mm256_and_pd(lanes.long, _mm256_or_pd(crossed_down, rsi_above));
        let signal = _mm256_or_pd(buy, sell);
        lanes.long = _mm256_xor_pd(lanes.long, signal);
        *bits = _mm256_movemask_pd(signal) as u8;
    }
    lanes.store()
}

/// `(rsi > level, rsi < level)` per lane by the scalar comparisons, for the rare candle where some
/// lane's RSI is too close to the level for the division-free test (or its averages are zero).
#[cold]
#[inline(never)]
#[target_feature(enable = "avx2")]
fn compare_rsi_exactly(gain: __m256d, loss: __m256d, level: f64) -> (__m256d, __m256d) {
    let (gains, losses) = (elements_of(gain), elements_of(loss));
    let averages: [RsiAverages; LANES] = std::array::from_fn(|lane| RsiAverages {
        gain: gains[lane],
        loss: losses[lane],
    });
    (
        register_of(averages.map(|lane| mask_element(lane.is_above(level)))),
        register_of(averages.map(|lane| mask_element(lane.is_below(level)))),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A two-decimal random walk with flat stretches (xorshift, seeded): ties and RSI levels hit
    /// exactly happen in it.
    fn price_walk(candles: usize, seed: u64) -> Vec<f64> {
        let mut state = seed | 1;
        let mut cents: i64 = 1_000_000;
        (0..candles)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let step = (state % 9) as i64 - 4;
                if !state.is_multiple_of(5) {
                    cents = (cents + step * 25).max(100);
                }
                cents as f64 / 100.0
            })
            .collect()
    }

    /// A state warmed on `closes[..warmup]`, in the strategy's own way.
    fn warm_state(params: &EmaRsiCrossParams, closes: &[f64]) -> CrossState {
        let mut state = CrossState::new(params);
        for &close in &closes[..params.warmup_candles()] {
            state.update(close);
        }
        assert!(state.is_warm());
        state
    }

    /// An engine that follows every signal except every `refuse_every`-th (0: none).
    fn engine(
        refuse_every: usize,
    ) -> impl FnMut(usize, Signal, &mut Vec<(usize, Signal)>) -> Position {
        let mut count: usize = 0;
        move |index, signal, log| {
            log.push((index, signal));
            count += 1;
            let followed = signal.position_after();
            if refuse_every != 0 && count.is_multiple_of(refuse_every) {
                match followed {
                    Position::Long => Position::Flat,
                    Position::Flat => Position::Long,
                }
            } else {
                followed
            }
        }
    }

    /// Runs the lanes and the scalar loop over the same closes and checks that the signals and
    /// the final states agree; returns what the lanes did.
    fn lanes_match_one_by_one(
        params: EmaRsiCrossParams,
        closes: &[f64],
        plan: LanePlan,
        refuse_every: usize,
    ) -> Result<Outcome, TestCaseError> {
        let warmup = params.warmup_candles();
        let entry = warm_state(&params, closes);
        let rest = &closes[warmup..];

        let mut expected_state = entry.clone();
        let (mut expected, mut scalar_engine) = (Vec::new(), engine(refuse_every));
        let mut position = Position::Flat;
        run_warm_one_by_one(
            &mut expected_state,
            &params,
            rest,
            warmup,
            position,
            &mut |i, s| {
                position = scalar_engine(i, s, &mut expected);
                position
            },
        );
        let expected_end = LaneState::of(&expected_state, position);

        let mut lanes_state = entry;
        let (mut got, mut lane_engine) = (Vec::new(), engine(refuse_every));
        let mut position = Position::Flat;
        let outcome = plan.run(
            &mut lanes_state,
            &params,
            rest,
            warmup,
            position,
            &mut |i, s| {
                position = lane_engine(i, s, &mut got);
                position
            },
        );
        prop_assert_eq!(got, expected);
        prop_assert!(LaneState::of(&lanes_state, position).same_as(&expected_end));
        Ok(outcome)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the overlap (too short ones put lanes out of step) and whatever the engine
        /// refuses, the lanes give the scalar loop's signals and final state.
        #[test]
        fn lanes_give_the_scalar_answers(
            seed in any::<u64>(),
            candles in 400usize..6_000,
            overlap in 0usize..400,
            overbought in 40.0f64..80.0,
            refuse_every in 0usize..6,
        ) {
            let params = EmaRsiCrossParams { fast: 3, slow: 7, rsi_period: 5, overbought };
            let closes = price_walk(candles, seed);
            let rest = candles - params.warmup_candles();
            if let Some(plan) = LanePlan::with_overlap(rest, overlap, &params) {
                lanes_match_one_by_one(params, &closes, plan, refuse_every)?;
            }
        }

        /// The kernel, one candle at a time, leaves each lane in exactly the state (every bit)
        /// and with exactly the signal of the scalar step: a difference is caught on the candle
        /// it happens, before the indicators forget it.
        #[test]
        fn the_kernel_steps_like_the_scalar_loop(
            seed in any::<u64>(),
            overbought in 30.0f64..80.0,
            fast in 2usize..6,
            slower_by in 1usize..8,
            rsi_period in 2usize..9,
        ) {
            if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
                return Ok(());
            }
            let params = EmaRsiCrossParams { fast, slow: fast + slower_by, rsi_period, overbought };
            const STEPS: usize = 300;
            let walks: [Vec<f64>; LANES] = std::array::from_fn(|lane| {
                price_walk(params.warmup_candles() + STEPS, seed ^ (lane as u64 + 1))
            });
            let mut scalar: [(CrossState, Position); LANES] = std::array::from_fn(|lane| {
                let position = if lane % 2 == 0 { Position::Flat } else { Position::Long };
                (warm_state(&params, &walks[lane]), position)
            });
            let coefficients = Coefficients::of(&scalar[0].0, &params);
            let mut lanes = scalar.each_ref().map(|(state, position)| LaneState::of(state, *position));
            for step in params.warmup_candles()..params.warmup_candles() + STEPS {
                let mut bits = [0u8];
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                lanes = unsafe {
                    run_lanes(lanes, walks.each_ref().map(|walk| &walk[step..=step]), &mut bits, &coefficients)
                };
                for (lane, (state, position)) in scalar.iter_mut().enumerate() {
                    let (mut signalled, mut now) = (false, *position);
                    let closes = &walks[lane][step..=step];
                    run_warm_one_by_one(state, &params, closes, step, now, &mut |_, signal| {
                        signalled = true;
                        now = signal.position_after();
                        now
                    });
                    *position = now;
                    prop_assert_eq!(bits[0] & (1 << lane) != 0, signalled, "lane {} candle {}", lane, step);
                    prop_assert!(
                        lanes[lane].same_as(&LaneState::of(state, *position)),
                        "lane {} candle {}: {:?} against {:?}", lane, step, lanes[lane], LaneState::of(state, *position)
                    );
                }
            }
        }
    }

    #[test]
    fn a_long_run_uses_every_lane_and_a_short_overlap_falls_back() {
        let params = EmaRsiCrossParams::default();
        let closes = price_walk(200_000, 7);
        let rest = closes.len() - params.warmup_candles();
        let Some(plan) = LanePlan::new(rest, &params) else {
            // No AVX2 and FMA on this CPU: nothing to test.
            return;
        };
        assert_eq!(
            lanes_match_one_by_one(params, &closes, plan, 0).unwrap(),
            Outcome::AllLanes
        );
        let too_short = LanePlan::with_overlap(rest, 1, &params).unwrap();
        assert_eq!(
            lanes_match_one_by_one(params, &closes, too_short, 0).unwrap(),
            Outcome::LaneOutOfStep { lane: 1 }
        );
        assert!(matches!(
            lanes_match_one_by_one(params, &closes, plan, 50).unwrap(),
            Outcome::SignalNotFollowed { .. }
        ));
    }
}
