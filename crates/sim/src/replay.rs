//! Prices replayed from a candle file (either layout `candle_file::read_candle_file` reads) instead
//! of the random walk: [`CandleReplay`] holds the candles, [`ReplayPrices`] lays them on the
//! exchange's timeline and answers the same questions as the walk (the price now, the trades over
//! a span), so klines, tickers, `avgPrice`, the book and fills all follow the replayed closes.
//!
//! The file is shifted in time by a whole number of candles so that its first candle opens at the
//! exchange's start minus its history, or, for a file shorter than twice the history, half-way
//! through the file: there is history to read and market still to come. Inside a candle the price
//! moves linearly, one value per second, from the open to the nearer extreme (the low for a
//! rising candle, the high for a falling one), to the other extreme, to the close, at a third and
//! two thirds of the candle; so klines of the file's interval reproduce its open, high, low and
//! close (rounded to the tick). Each candle's volume is spread evenly over its seconds, half of it
//! bought by takers, one trade per second. Between candles (gaps) and after the last one the
//! price stays at the last close and nothing trades.

use std::path::Path;

use market::{Candle, CandleSeries};

use crate::walk::RawBar;

/// The candle length assumed for a file of a single candle, ms.
const SINGLE_CANDLE_MS: i64 = 60_000;

/// Why a candle file cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read or parsed (the error names the file and line).
    #[error(transparent)]
    File(#[from] candle_file::CandleFileError),
    /// A candle has a price that is not positive and finite, or a negative volume.
    #[error(
        "{source_name}: candle at open time {open_time_ms} has a non-positive price or a negative volume"
    )]
    BadCandle {
        /// The file.
        source_name: String,
        /// The candle's open time, ms.
        open_time_ms: i64,
    },
    /// The candles are not a whole number of seconds long.
    #[error("{source_name}: candles are {candle_ms} ms apart; replay needs whole seconds")]
    NotWholeSeconds {
        /// The file.
        source_name: String,
        /// The shortest distance between two open times, ms.
        candle_ms: i64,
    },
}

/// Candles to replay, validated, with their length (the shortest distance between open times).
#[derive(Debug, Clone, PartialEq)]
pub struct CandleReplay {
    candles: Vec<Candle>,
    candle_ms: i64,
    /// The file starts at the exchange's start rather than its history before it.
    at_start: bool,
}

impl CandleReplay {
    /// Reads and validates a candle file (spotbot's layout or Binance's kline CSV).
    pub fn from_file(path: &Path) -> Result<CandleReplay, ReplayError> {
        let series = candle_file::read_candle_file(path, |_, _| {})?;
        CandleReplay::from_series(&series, &path.display().to_string())
    }

    /// Validates `series`; `source_name` names it in errors.
    pub fn from_series(
        series: &CandleSeries,
        source_name: &str,
    ) -> Result<CandleReplay, ReplayError> {
        let candles: Vec<Candle> = series.iter().collect();
        if let Some(bad) = candles.iter().find(|candle| {
            let prices = [candle.open, candle.high, candle.low, candle.close];
            prices
                .iter()
                .any(|price| !price.is_finite() || *price <= 0.0)
                || !candle.volume.is_finite()
                || candle.volume < 0.0
        }) {
            return Err(ReplayError::BadCandle {
                source_name: source_name.to_owned(),
                open_time_ms: bad.open_time_ms,
            });
        }
        let candle_ms = candles
            .windows(2)
            .map(|pair| pair[1].open_time_ms - pair[0].open_time_ms)
            .min()
            .unwrap_or(SINGLE_CANDLE_MS);
        if candle_ms % 1_000 != 0 || candles.is_empty() {
            return Err(ReplayError::NotWholeSeconds {
                source_name: source_name.to_owned(),
                candle_ms,
            });
        }
        Ok(CandleReplay {
            candles,
            candle_ms,
            at_start: false,
        })
    }

    /// The same replay placed so that its first candle opens at the exchange's start (the
    /// start rounded down to a whole candle) instead of its history before it: every candle is
    /// market to come, as a manual clock stepping through the file needs, so a bot started with
    /// the exchange decides on each of them.
    pub fn starting_at_the_start(mut self) -> CandleReplay {
        self.at_start = true;
        self
    }

    /// How many candles there are.
    pub fn len(&self) -> usize {
        self.candles.len()
    }

    /// Whether there are none (never true for a validated replay).
    pub fn is_empty(&self) -> bool {
        self.candles.is_empty()
    }

    /// The length of one candle, ms.
    pub fn candle_ms(&self) -> i64 {
        self.candle_ms
    }
}

/// One candle on the exchange's timeline, in step units.
#[derive(Debug, Clone, Copy)]
struct Placed {
    candle: Candle,
    volume_units: u64,
    summary: RawBar,
}

/// A [`CandleReplay`] placed on the exchange's timeline (see the module doc).
#[derive(Debug, Clone)]
pub struct ReplayPrices {
    opens_ms: Vec<i64>,
    placed: Vec<Placed>,
    candle_ms: i64,
    seconds_per_candle: u64,
}

impl ReplayPrices {
    /// Places `replay` so that the exchange, started at `start_ms` with `history_ms` of history,
    /// has history behind it and market ahead; volumes are counted in `step` units.
    pub fn new(replay: &CandleReplay, start_ms: i64, history_ms: i64, step: f64) -> ReplayPrices {
        let candle_ms = replay.candle_ms;
        let first_ms = replay
            .candles
            .first()
            .map_or(0, |candle| candle.open_time_ms);
        let last_ms = replay
            .candles
            .last()
            .map_or(0, |candle| candle.open_time_ms);
        let span_ms = last_ms - first_ms + candle_ms;
        let lead_ms = if replay.at_start {
            0
        } else {
            history_ms.min(span_ms / 2).max(0)
        };
        let target_ms = (start_ms - lead_ms).div_euclid(candle_ms) * candle_ms;
        let shift_ms = target_ms - first_ms;
        let seconds_per_candle = u64::try_from(candle_ms / 1_000).unwrap_or(1).max(1);
        let placed = replay
            .candles
            .iter()
            .map(|candle| {
                let units = (candle.volume / step.max(f64::MIN_POSITIVE)).round();
                let volume_units = if units.is_finite() && units > 0.0 {
                    units as u64
                } else {
                    0
                };
                let mut placed = Placed {
                    candle: *candle,
                    volume_units,
                    summary: RawBar::flat(candle.open),
                };
                placed.summary =
                    seconds_bar(&placed, seconds_per_candle, 0, seconds_per_candle - 1);
                placed
            })
            .collect();
        ReplayPrices {
            opens_ms: replay
                .candles
                .iter()
                .map(|candle| candle.open_time_ms + shift_ms)
                .collect(),
            placed,
            candle_ms,
            seconds_per_candle,
        }
    }

    /// When the first candle opens.
    pub fn genesis_ms(&self) -> i64 {
        self.opens_ms.first().copied().unwrap_or(0)
    }

    /// The price at `now_ms` (the first open before the first candle).
    pub fn price_at(&self, now_ms: i64) -> f64 {
        let second_ms = now_ms.div_euclid(1_000) * 1_000;
        self.bar_between(second_ms, second_ms + 1_000, now_ms)
            .map_or_else(
                || self.placed.first().map_or(0.0, |placed| placed.candle.open),
                |bar| bar.close,
            )
    }

    /// The trades from `from_ms` (inclusive) to `until_ms` (exclusive), up to `now_ms`; `None` when
    /// that span has not begun or lies before the first candle.
    pub fn bar_between(&self, from_ms: i64, until_ms: i64, now_ms: i64) -> Option<RawBar> {
        let mut time_ms = from_ms.max(self.genesis_ms()).div_euclid(1_000) * 1_000;
        let end_ms = (until_ms - 1).min(now_ms);
        let mut total: Option<RawBar> = None;
        while time_ms <= end_ms {
            let index = self
                .opens_ms
                .partition_point(|open| *open <= time_ms)
                .checked_sub(1)?;
            let open_ms = self.opens_ms[index];
            let placed = &self.placed[index];
            let candle_end_ms = open_ms + self.candle_ms - 1;
            let (bar, piece_end_ms) = if time_ms <= candle_end_ms {
                let piece_end_ms = candle_end_ms.min(end_ms);
                let bar = if time_ms == open_ms && piece_end_ms == candle_end_ms {
                    placed.summary
                } else {
                    let second = |ms: i64| u64::try_from((ms - open_ms) / 1_000).unwrap_or(0);
                    seconds_bar(
                        placed,
                        self.seconds_per_candle,
                        second(time_ms),
                        second(piece_end_ms),
                    )
                };
                (bar, piece_end_ms)
            } else {
                let next_open_ms = self.opens_ms.get(index + 1).copied().unwrap_or(i64::MAX);
                (
                    RawBar::flat(placed.candle.close),
                    (next_open_ms - 1).min(end_ms),
                )
            };
            total = Some(total.map_or(bar, |earlier| earlier.merge(bar)));
            time_ms = piece_end_ms.div_euclid(1_000) * 1_000 + 1_000;
        }
        total
    }
}

/// Seconds `first..=last` of a candle `seconds` long, aggregated.
fn seconds_bar(placed: &Placed, seconds: u64, first: u64, last: u64) -> RawBar {
    let per_second = placed.volume_units / seconds;
    let remainder = placed.volume_units % seconds;
    let mut total: Option<RawBar> = None;
    for second in first..=last.min(seconds - 1) {
        let price = second_price(&placed.candle, second, seconds);
        let units = if second + 1 == seconds {
            per_second + remainder
        } else {
            per_second
        };
        let bar = RawBar {
            open: price,
            high: price,
            low: price,
            close: price,
            volume_units: units,
            taker_buy_units: units / 2,
            quote_units: price * units as f64,
            taker_buy_quote_units: price * (units / 2) as f64,
            trades: u64::from(units > 0),
        };
        total = Some(total.map_or(bar, |earlier| earlier.merge(bar)));
    }
    total.unwrap_or_else(|| RawBar::flat(placed.candle.close))
}

/// The price `second` seconds into a candle `seconds` long (see the module doc).
fn second_price(candle: &Candle, second: u64, seconds: u64) -> f64 {
    let last = seconds.saturating_sub(1);
    if second >= last {
        return candle.close;
    }
    if second == 0 {
        return candle.open;
    }
    let (first_extreme, second_extreme) = if candle.close >= candle.open {
        (candle.low, candle.high)
    } else {
        (candle.high, candle.low)
    };
    let anchors = [
        (0, candle.open),
        (last / 3, first_extreme),
        (2 * last / 3, second_extreme),
        (last, candle.close),
    ];
    for pair in anchors.windows(2) {
        let ((from, from_price), (to, to_price)) = (pair[0], pair[1]);
        if second <= to && to > from {
            let share = (second - from) as f64 / (to - from) as f64;
            return from_price + (to_price - from_price) * share;
        }
    }
    candle.close
}
