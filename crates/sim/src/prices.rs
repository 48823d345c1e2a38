//! [`PriceSource`]: where a symbol's trade prices come from, the seeded random walk or a replayed
//! candle file, behind one interface that klines, tickers, `avgPrice` and the book read.

use crate::replay::ReplayPrices;
use crate::walk::{PriceWalk, RawBar};

/// A symbol's prices.
#[derive(Debug, Clone)]
pub enum PriceSource {
    /// The seeded random walk.
    Walk(PriceWalk),
    /// A candle file, replayed.
    Replay(ReplayPrices),
}

impl PriceSource {
    /// When the first trade happened.
    pub fn genesis_ms(&self) -> i64 {
        match self {
            PriceSource::Walk(walk) => walk.genesis_ms(),
            PriceSource::Replay(replay) => replay.genesis_ms(),
        }
    }

    /// The last trade price at `now_ms`.
    pub fn price_at(&mut self, now_ms: i64) -> f64 {
        match self {
            PriceSource::Walk(walk) => walk.price_at(now_ms),
            PriceSource::Replay(replay) => replay.price_at(now_ms),
        }
    }

    /// The trades from `from_ms` (inclusive) to `until_ms` (exclusive), up to `now_ms`.
    pub fn bar_between(&mut self, from_ms: i64, until_ms: i64, now_ms: i64) -> Option<RawBar> {
        match self {
            PriceSource::Walk(walk) => walk.bar_between(from_ms, until_ms, now_ms),
            PriceSource::Replay(replay) => replay.bar_between(from_ms, until_ms, now_ms),
        }
    }
}
