//! The EMA/RSI cross rule on hand-made price paths, and the Strategy trait's rebuild contract.

use market::Candle;
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use strategy::{EmaRsiCross, EmaRsiCrossParams, InvalidParams, Position, Signal, Strategy};

fn candle(index: usize, close: f64) -> Candle {
    Candle {
        open_time_ms: index as i64 * 60_000,
        open: close,
        high: close,
        low: close,
        close,
        volume: 1.0,
    }
}

fn small_params() -> EmaRsiCrossParams {
    EmaRsiCrossParams {
        fast: 2,
        slow: 4,
        rsi_period: 3,
        overbought: 70.0,
    }
}

/// Feeds closes, trading every signal, and returns (bar index, signal) pairs.
fn signals(params: EmaRsiCrossParams, closes: &[f64]) -> Vec<(usize, Signal)> {
    let mut strategy = EmaRsiCross::new(params).unwrap();
    let mut position = Position::Flat;
    let mut out = Vec::new();
    for (index, &close) in closes.iter().enumerate() {
        if let Some(signal) = strategy.on_candle(&candle(index, close), position) {
            position = signal.position_after();
            out.push((index, signal));
        }
    }
    out
}

#[test]
fn no_signal_before_every_reading_is_defined() {
    let params = small_params();
    let mut strategy = EmaRsiCross::new(params).unwrap();
    assert_eq!(strategy.warmup_candles(), 5);
    // A cross on the very first bars cannot trade: slow is defined only from index 3.
    for (index, close) in [10.0, 1.0, 20.0, 30.0].into_iter().enumerate() {
        assert_eq!(
            strategy.on_candle(&candle(index, close), Position::Flat),
            None
        );
    }
}

#[test]
fn buys_an_upward_cross_below_overbought_and_sells_the_downward_cross() {
    // Bar 6: fast 7.83 crosses above slow 7.5 (RSI 66.7). Bar 7: fast 5.28 falls below slow 6.1.
    let closes = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 9.0, 4.0, 3.0, 2.5];
    let got = signals(
        EmaRsiCrossParams {
            overbought: 99.0,
            ..small_params()
        },
        &closes,
    );
    assert_eq!(got, [(6, Signal::Buy), (7, Signal::Sell)]);
}

#[test]
fn overbought_rsi_blocks_the_buy() {
    let closes = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 9.0, 4.0];
    // The cross at bar 6 comes with RSI 66.7, above 20, so it must not be bought.
    let got = signals(
        EmaRsiCrossParams {
            overbought: 20.0,
            ..small_params()
        },
        &closes,
    );
    assert_eq!(got, []);
}

#[test]
fn overbought_rsi_sells_without_a_cross() {
    let closes = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 9.0, 9.5, 10.0, 11.0];
    // Bar 6: fast 7.83 crosses above slow 7.5 with RSI 66.7 < 70. Bar 7: fast stays above slow,
    // but RSI reaches 70.4.
    assert_eq!(
        signals(small_params(), &closes),
        [(6, Signal::Buy), (7, Signal::Sell)]
    );
}

#[test]
fn invalid_parameters_are_named() {
    let check = |params: EmaRsiCrossParams, needle: &str| {
        let err = EmaRsiCross::new(params).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    };
    let base = EmaRsiCrossParams::default();
    check(EmaRsiCrossParams { fast: 0, ..base }, "fast");
    check(
        EmaRsiCrossParams {
            rsi_period: 0,
            ..base
        },
        "rsi period",
    );
    check(
        EmaRsiCrossParams { fast: 21, ..base },
        "fast EMA period (21) must be smaller than slow EMA period (21)",
    );
    check(
        EmaRsiCrossParams {
            overbought: 100.0,
            ..base
        },
        "overbought",
    );
    check(
        EmaRsiCrossParams {
            overbought: f64::NAN,
            ..base
        },
        "overbought",
    );
    assert_eq!(
        EmaRsiCrossParams { fast: 30, ..base }.validate(),
        Err(InvalidParams::FastNotBelowSlow { fast: 30, slow: 21 })
    );
}

proptest! {
    /// A strategy rebuilt from history is in the same state as one that saw the candles live.
    #[test]
    fn rebuild_reaches_the_streaming_state(closes in prop::collection::vec(1.0f64..1000.0, 0..200)) {
        let candles: Vec<Candle> = closes.iter().enumerate().map(|(i, &c)| candle(i, c)).collect();
        let mut streaming = EmaRsiCross::new(small_params()).unwrap();
        for c in &candles {
            streaming.update(c);
        }
        let mut rebuilt = EmaRsiCross::new(small_params()).unwrap();
        rebuilt.update(&candle(0, 123.0));
        rebuilt.rebuild(&candles);
        let (a, b) = (streaming.readings(), rebuilt.readings());
        for (x, y) in [(a.ema.fast, b.ema.fast), (a.ema.slow, b.ema.slow), (a.rsi, b.rsi), (a.ema.previous_fast, b.ema.previous_fast)] {
            prop_assert!(x.to_bits() == y.to_bits());
        }
        for position in [Position::Flat, Position::Long] {
            prop_assert_eq!(streaming.signal(position), rebuilt.signal(position));
        }
    }

    /// Whatever the prices, a signal always matches the position it was asked for.
    #[test]
    fn signals_respect_the_position(closes in prop::collection::vec(1.0f64..1000.0, 0..300)) {
        let mut strategy = EmaRsiCross::new(small_params()).unwrap();
        for (i, &c) in closes.iter().enumerate() {
            strategy.update(&candle(i, c));
            prop_assert_ne!(strategy.signal(Position::Flat), Some(Signal::Sell));
            prop_assert_ne!(strategy.signal(Position::Long), Some(Signal::Buy));
        }
    }
}

/// Two-decimal random walks with flat stretches: the kind of data where ties happen.
fn price_path() -> impl proptest::strategy::Strategy<Value = Vec<f64>> {
    prop::collection::vec((-3i32..=3, 0u8..4), 50..600).prop_map(|steps| {
        let mut cents = 10_000i64;
        steps
            .into_iter()
            .map(|(step, repeat)| {
                if repeat != 0 {
                    cents = (cents + i64::from(step)).max(1);
                }
                cents as f64 / 100.0
            })
            .collect()
    })
}

proptest! {
    /// `run` (the backtester's fast path) signals exactly where `on_candle` does, and leaves
    /// the same state behind, also when the engine refuses some orders (every `refuse_every`-th
    /// signal keeps the position, as an order below the exchange minimum would).
    #[test]
    fn run_signals_where_on_candle_does(
        closes in price_path(),
        overbought in 30.0f64..90.0,
        refuse_every in 0usize..4,
    ) {
        let params = EmaRsiCrossParams { fast: 3, slow: 7, rsi_period: 5, overbought };
        let series: market::CandleSeries = closes.iter().enumerate().map(|(i, &c)| candle(i, c)).collect();
        let engine = |count: &mut usize, signal: Signal, position: Position| {
            *count += 1;
            let refused = refuse_every != 0 && (*count).is_multiple_of(refuse_every);
            if refused { position } else { signal.position_after() }
        };
        let expected = {
            let mut strategy = EmaRsiCross::new(params).unwrap();
            let (mut position, mut count) = (Position::Flat, 0);
            let mut out = Vec::new();
            for (index, c) in series.iter().enumerate() {
                if let Some(signal) = strategy.on_candle(&c, position) {
                    position = engine(&mut count, signal, position);
                    out.push((index, signal));
                }
            }
            out
        };
        let mut strategy = EmaRsiCross::new(params).unwrap();
        let mut got = Vec::new();
        let (mut position, mut count) = (Position::Flat, 0);
        // In two runs, split at an arbitrary candle, as a live feed would.
        let split = series.len() / 3;
        for range in [0..split, split..series.len()] {
            strategy.run(&series, range, position, |index, signal| {
                got.push((index, signal));
                position = engine(&mut count, signal, position);
                position
            });
        }
        let mut reference = EmaRsiCross::new(params).unwrap();
        for c in series.iter() {
            reference.update(&c);
        }
        let (a, b) = (strategy.readings(), reference.readings());
        prop_assert_eq!(a.ema.fast.to_bits(), b.ema.fast.to_bits());
        prop_assert_eq!(a.ema.previous_slow.to_bits(), b.ema.previous_slow.to_bits());
        prop_assert_eq!(a.rsi.to_bits(), b.rsi.to_bits());
        prop_assert_eq!(got, expected);
    }

    /// The division-free RSI comparisons give exactly the answers of comparing the value.
    #[test]
    fn rsi_comparisons_equal_comparing_the_value(closes in price_path(), level in 0.0f64..100.0) {
        let mut rsi = strategy::Rsi::new(4);
        for close in closes {
            rsi.update(close);
            let value = rsi.value();
            prop_assert_eq!(rsi.is_above(level), value.is_some_and(|v| v > level));
            prop_assert_eq!(rsi.is_below(level), value.is_some_and(|v| v < level));
            if let Some(v) = value {
                // At the value itself, the slow path must decide.
                prop_assert!(!rsi.is_above(v) && !rsi.is_below(v));
            }
        }
    }
}

/// `run` over a run long enough for the SIMD lanes (on CPUs that have them) signals exactly where
/// `on_candle` does and ends in the same state, whether the engine follows every signal or refuses
/// some (then the lanes hand over to the candle-by-candle loop).
#[test]
fn run_over_a_long_series_signals_where_on_candle_does() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut cents: i64 = 3_000_000;
    let series: market::CandleSeries = (0..150_000)
        .map(|index| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            cents = (cents + (state % 41) as i64 - 20).max(100);
            candle(index, cents as f64 / 100.0)
        })
        .collect();
    let params = EmaRsiCrossParams::default();
    for refuse_every in [0, 97] {
        let follow = |count: usize, signal: Signal, position: Position| {
            if refuse_every != 0 && count.is_multiple_of(refuse_every) {
                position
            } else {
                signal.position_after()
            }
        };
        let mut expected = Vec::new();
        let mut reference = EmaRsiCross::new(params).unwrap();
        let mut position = Position::Flat;
        for (index, c) in series.iter().enumerate() {
            if let Some(signal) = reference.on_candle(&c, position) {
                expected.push((index, signal));
                position = follow(expected.len(), signal, position);
            }
        }
        let mut got = Vec::new();
        let mut strategy = EmaRsiCross::new(params).unwrap();
        let mut position = Position::Flat;
        strategy.run(&series, 0..series.len(), position, |index, signal| {
            got.push((index, signal));
            position = follow(got.len(), signal, position);
            position
        });
        assert!(expected.len() > 5_000, "the walk should trade often");
        assert_eq!(got, expected, "refusing every {refuse_every}th signal");
        let (a, b) = (strategy.readings(), reference.readings());
        assert_eq!(a.ema.fast.to_bits(), b.ema.fast.to_bits());
        assert_eq!(a.ema.slow.to_bits(), b.ema.slow.to_bits());
        assert_eq!(a.ema.previous_fast.to_bits(), b.ema.previous_fast.to_bits());
        assert_eq!(a.rsi.to_bits(), b.rsi.to_bits());
    }
}
