//! Klines from a [`PriceSource`] (the walk or a replay), with Binance's query semantics (reference § 1 and § 6): without
//! `startTime`/`endTime` the newest `limit` klines; with `startTime` the oldest from it; with
//! `endTime` the newest up to it; with both, from `startTime` and stopping at `endTime`. A kline
//! is selected by its open time (`startTime <= open <= endTime`). The kline still open at
//! `now` is included with the trades so far; nothing before the walk's genesis exists.

use rust_decimal::Decimal;

use market::Interval;

use crate::calendar::{kline_open, next_kline_open, previous_kline_open};
use crate::prices::PriceSource;
use crate::walk::RawBar;
use sim_book::tick_price;

/// The default number of klines (`limit` absent).
pub const DEFAULT_LIMIT: usize = 500;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 1000;

/// Which klines to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KlineQuery {
    /// Their interval.
    pub interval: Interval,
    /// `startTime`, ms.
    pub start_ms: Option<i64>,
    /// `endTime`, ms.
    pub end_ms: Option<i64>,
    /// At most this many, 1 to [`MAX_LIMIT`].
    pub limit: usize,
}

/// One kline, with money as `Decimal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kline {
    /// Open time, ms.
    pub open_time_ms: i64,
    /// Close time, ms: the next kline's open time minus one.
    pub close_time_ms: i64,
    /// First price.
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
    /// Last price.
    pub close: Decimal,
    /// Base-asset volume.
    pub volume: Decimal,
    /// Quote-asset volume.
    pub quote_volume: Decimal,
    /// Number of trades.
    pub trades: u64,
    /// Base volume bought by takers.
    pub taker_buy_volume: Decimal,
    /// Quote volume bought by takers.
    pub taker_buy_quote_volume: Decimal,
}

/// The grids a symbol's klines are printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KlineGrid {
    /// Prices are rounded to this.
    pub tick_size: Decimal,
    /// Volumes are counted in this unit.
    pub step_size: Decimal,
}

/// The klines `query` selects from `walk` as of `now_ms`.
pub fn query_klines(
    walk: &mut PriceSource,
    grid: KlineGrid,
    query: KlineQuery,
    now_ms: i64,
) -> Vec<Kline> {
    let interval = query.interval;
    let first_open = kline_open(interval, walk.genesis_ms());
    let last_open = kline_open(interval, query.end_ms.map_or(now_ms, |end| end.min(now_ms)));
    let mut opens = Vec::new();
    match query.start_ms {
        Some(start_ms) => {
            let mut open = kline_open(interval, start_ms);
            if open < start_ms {
                open = next_kline_open(interval, open);
            }
            open = open.max(first_open);
            while open <= last_open && opens.len() < query.limit {
                opens.push(open);
                open = next_kline_open(interval, open);
            }
        }
        None => {
            let mut open = last_open;
            while open >= first_open && opens.len() < query.limit {
                opens.push(open);
                open = previous_kline_open(interval, open);
            }
            opens.reverse();
        }
    }
    opens
        .into_iter()
        .filter_map(|open| {
            let next_open = next_kline_open(interval, open);
            let bar = walk.bar_between(open, next_open, now_ms)?;
            Some(to_kline(open, next_open - 1, bar, grid))
        })
        .collect()
}

/// `bar` as the kline from `open_time_ms` to `close_time_ms`, its money on `grid`.
pub(crate) fn to_kline(
    open_time_ms: i64,
    close_time_ms: i64,
    bar: RawBar,
    grid: KlineGrid,
) -> Kline {
    let price = |value: f64| tick_price(value, grid.tick_size);
    let volume = |units: u64| Decimal::from(units) * grid.step_size;
    let quote = |units: f64| {
        f64_to_decimal(units).map_or(Decimal::ZERO, |units| (units * grid.step_size).round_dp(8))
    };
    Kline {
        open_time_ms,
        close_time_ms,
        open: price(bar.open),
        high: price(bar.high),
        low: price(bar.low),
        close: price(bar.close),
        volume: volume(bar.volume_units),
        quote_volume: quote(bar.quote_units),
        trades: bar.trades,
        taker_buy_volume: volume(bar.taker_buy_units),
        taker_buy_quote_volume: quote(bar.taker_buy_quote_units),
    }
}

fn f64_to_decimal(value: f64) -> Option<Decimal> {
    Decimal::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk::{PriceWalk, WalkParams};
    use rust_decimal_macros::dec;

    const GENESIS_MS: i64 = 1_700_000_040_000;
    const MINUTE: i64 = 60_000;
    const GRID: KlineGrid = KlineGrid {
        tick_size: dec!(0.01),
        step_size: dec!(0.00001),
    };

    fn walk() -> PriceSource {
        let params = WalkParams {
            start_price: 60_000.0,
            volatility_per_second: 0.0001,
            mean_volume_units_per_second: 5_000,
        };
        PriceSource::Walk(PriceWalk::new(params, 1, "BTCUSDT", GENESIS_MS))
    }

    fn query(
        interval: Interval,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
        limit: usize,
    ) -> KlineQuery {
        KlineQuery {
            interval,
            start_ms,
            end_ms,
            limit,
        }
    }

    #[test]
    fn without_times_the_newest_klines_end_with_the_open_one() {
        let now = GENESIS_MS + 10 * MINUTE + 30_000;
        let klines = query_klines(&mut walk(), GRID, query(Interval::M1, None, None, 3), now);
        let opens: Vec<i64> = klines.iter().map(|kline| kline.open_time_ms).collect();
        assert_eq!(
            opens,
            [
                GENESIS_MS + 8 * MINUTE,
                GENESIS_MS + 9 * MINUTE,
                GENESIS_MS + 10 * MINUTE
            ]
        );
        assert_eq!(klines[2].close_time_ms, GENESIS_MS + 11 * MINUTE - 1);
    }

    #[test]
    fn hours_aggregate_minutes_consistently() {
        let now = GENESIS_MS + 200 * MINUTE;
        let mut walk = walk();
        let hours = query_klines(&mut walk, GRID, query(Interval::H1, None, None, 10), now);
        let first_full = &hours[1];
        let minutes = query_klines(
            &mut walk,
            GRID,
            query(Interval::M1, Some(first_full.open_time_ms), None, 60),
            now,
        );
        assert_eq!(minutes.len(), 60);
        assert_eq!(first_full.open, minutes[0].open);
        assert_eq!(first_full.close, minutes[59].close);
        assert_eq!(
            first_full.high,
            minutes.iter().map(|kline| kline.high).max().unwrap()
        );
        assert_eq!(
            first_full.volume,
            minutes.iter().map(|kline| kline.volume).sum::<Decimal>()
        );
        assert_eq!(
            first_full.trades,
            minutes.iter().map(|kline| kline.trades).sum::<u64>()
        );
    }

    #[test]
    fn seconds_klines_replay_the_walk() {
        let now = GENESIS_MS + 5 * MINUTE;
        let mut walk = walk();
        let seconds = query_klines(
            &mut walk,
            GRID,
            query(Interval::S1, Some(GENESIS_MS + MINUTE), None, 60),
            now,
        );
        let minute = query_klines(
            &mut walk,
            GRID,
            query(Interval::M1, Some(GENESIS_MS + MINUTE), None, 1),
            now,
        );
        assert_eq!(seconds.len(), 60);
        assert_eq!(seconds[59].close, minute[0].close);
    }
}
