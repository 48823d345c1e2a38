//! The synthetic candles of the benchmarks and of the tests that need a long run: a seeded random
//! walk with two-decimal prices, like the shared test data, so that neither needs a large file.
//! Included with `#[path]` by `benches/backtest.rs` and by tests in this directory.

use market::{Candle, CandleSeries};

/// A geometric random walk of one-minute candles, rounded to cents (xorshift64*, fixed seed).
pub fn random_walk(count: usize) -> CandleSeries {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 30_000.0f64;
    (0..count)
        .map(|index| {
            let open = close;
            close = ((open * (1.0 + (uniform() - 0.5) * 0.004)) * 100.0).round() / 100.0;
            Candle {
                open_time_ms: 1_704_067_200_000 + index as i64 * 60_000,
                open,
                high: open.max(close) + 1.0,
                low: open.min(close) - 1.0,
                close,
                volume: uniform() * 20.0,
            }
        })
        .collect()
}
