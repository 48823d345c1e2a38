//! Trading strategies and the streaming indicators they are built from.
//!
//! Everything here is pure and O(1) per candle, so the same code serves the live engine (one candle
//! a minute) and the backtester (hundreds of millions of candles a second). Indicators use `f64`,
//! the one place besides the backtest hot loop where binary floating point is allowed.

pub mod ema_rsi_cross;
pub mod indicators;
#[cfg(target_arch = "x86_64")]
mod lanes;
pub mod spec;

pub use ema_rsi_cross::{
    CrossReadings, EmaReadings, EmaRsiCross, EmaRsiCrossParams, InvalidParams, RsiLevel,
};
pub use indicators::{Ema, Rsi, RsiAverages, Sma};

use std::ops::Range;

use market::{Candle, CandleSeries};

/// What the strategy wants done at the close of the candle it was just given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Open a long position.
    Buy,
    /// Close the long position.
    Sell,
}

impl Signal {
    /// The position once this signal's order is filled: long after a BUY, flat after a SELL.
    pub fn position_after(self) -> Position {
        match self {
            Signal::Buy => Position::Long,
            Signal::Sell => Position::Flat,
        }
    }
}

/// Whether the account currently holds the strategy's asset.
///
/// The engine, not the strategy, owns this: a BUY the exchange's filters refused leaves the bot
/// flat, and only the engine knows that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Position {
    /// Holding nothing; only a BUY can follow.
    #[default]
    Flat,
    /// Holding the asset; only a SELL can follow.
    Long,
}

/// A value the strategy's rule reads, at the last candle fed in, named for people: what the
/// "why" of a live decision records.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reading {
    /// What it is, e.g. `EMA 9` or `RSI 14`.
    pub name: String,
    /// Its value; `None` while the indicator has not seen enough candles.
    pub value: Option<f64>,
}

/// A trading strategy: closed candles in, at most one signal per candle out.
///
/// Implementations keep only indicator state, which [`Strategy::rebuild`] can recreate from
/// history, so a restarted live bot and a backtest reach the same state from the same candles.
pub trait Strategy {
    /// Feeds the next closed candle into the indicators.
    fn update(&mut self, candle: &Candle);

    /// The signal at the last candle fed in, given the current position.
    fn signal(&self, position: Position) -> Option<Signal>;

    /// How many candles must be fed before the first signal is possible.
    fn warmup_candles(&self) -> usize;

    /// Forgets all state, as if no candle had been seen.
    fn reset(&mut self);

    /// The values the signal at the last candle fed in is decided from, and the rule that
    /// decides, in words. The live engine records them with each decision; the backtester's
    /// precomputed strategies, which nobody asks why, show none.
    fn explain(&self) -> (Vec<Reading>, String) {
        (Vec::new(), String::new())
    }

    /// Feeds `candle` and returns the resulting signal: the call both engines make each bar.
    #[inline(always)]
    fn on_candle(&mut self, candle: &Candle, position: Position) -> Option<Signal> {
        self.update(candle);
        self.signal(position)
    }

    /// Feeds `candles[range]` in order, starting in `position`, and calls
    /// `on_signal(index, signal)` for each candle that produces a signal; its answer is the
    /// position for the candles after that one (an order the exchange refused leaves it as it was).
    ///
    /// The backtester's entry point: equivalent to calling [`Strategy::on_candle`] candle by
    /// candle (which is what this default does), but a strategy may override it with a tighter
    /// loop over the same arithmetic. Always inlined, so that it compiles with the caller's
    /// target features (the backtester enables FMA).
    #[inline(always)]
    fn run(
        &mut self,
        candles: &CandleSeries,
        range: Range<usize>,
        mut position: Position,
        mut on_signal: impl FnMut(usize, Signal) -> Position,
    ) where
        Self: Sized,
    {
        let start = range.start;
        let times = &candles.open_times_ms()[range.clone()];
        let opens = &candles.opens()[range.clone()];
        let highs = &candles.highs()[range.clone()];
        let lows = &candles.lows()[range.clone()];
        let closes = &candles.closes()[range.clone()];
        let volumes = &candles.volumes()[range];
        for offset in 0..closes.len() {
            // Columns a strategy never reads are dead loads once this is inlined.
            let candle = Candle {
                open_time_ms: times[offset],
                open: opens[offset],
                high: highs[offset],
                low: lows[offset],
                close: closes[offset],
                volume: volumes[offset],
            };
            if let Some(signal) = self.on_candle(&candle, position) {
                position = on_signal(start + offset, signal);
            }
        }
    }

    /// Resets, then replays `history` (oldest first) to rebuild the indicator state.
    fn rebuild(&mut self, history: &[Candle]) {
        self.reset();
        for candle in history {
            self.update(candle);
        }
    }
}
