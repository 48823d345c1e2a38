//! Candles (OHLCV bars) and the candle intervals Binance knows.
//!
//! Candle prices are `f64`: they feed indicators and the backtest hot loop, the two places where the
//! project allows binary floating point. Anything that becomes an order goes through [`crate::Quantity`]
//! and `Decimal` first.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One OHLCV bar, identified by its open time in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    /// Open time, milliseconds since the Unix epoch.
    pub open_time_ms: i64,
    /// First trade price of the bar.
    pub open: f64,
    /// Highest trade price of the bar.
    pub high: f64,
    /// Lowest trade price of the bar.
    pub low: f64,
    /// Last trade price of the bar.
    pub close: f64,
    /// Traded base-asset volume.
    pub volume: f64,
}

/// A kline interval, spelled exactly as Binance spells it (`1s`, `1m`, ..., `1M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    /// One second.
    S1,
    /// One minute.
    M1,
    /// Three minutes.
    M3,
    /// Five minutes.
    M5,
    /// Fifteen minutes.
    M15,
    /// Thirty minutes.
    M30,
    /// One hour.
    H1,
    /// Two hours.
    H2,
    /// Four hours.
    H4,
    /// Six hours.
    H6,
    /// Eight hours.
    H8,
    /// Twelve hours.
    H12,
    /// One day.
    D1,
    /// Three days.
    D3,
    /// One week.
    W1,
    /// One calendar month (its length varies; [`Interval::nominal_duration`] says 30 days).
    Mo1,
}

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 16] = [
        Interval::S1,
        Interval::M1,
        Interval::M3,
        Interval::M5,
        Interval::M15,
        Interval::M30,
        Interval::H1,
        Interval::H2,
        Interval::H4,
        Interval::H6,
        Interval::H8,
        Interval::H12,
        Interval::D1,
        Interval::D3,
        Interval::W1,
        Interval::Mo1,
    ];

    /// Binance's spelling, as used in `klines?interval=` and stream names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Interval::S1 => "1s",
            Interval::M1 => "1m",
            Interval::M3 => "3m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::M30 => "30m",
            Interval::H1 => "1h",
            Interval::H2 => "2h",
            Interval::H4 => "4h",
            Interval::H6 => "6h",
            Interval::H8 => "8h",
            Interval::H12 => "12h",
            Interval::D1 => "1d",
            Interval::D3 => "3d",
            Interval::W1 => "1w",
            Interval::Mo1 => "1M",
        }
    }

    /// Length of one bar. Months are variable on the exchange; this returns 30 days for them, which
    /// is only good for annualising statistics, never for computing bar boundaries.
    pub const fn nominal_duration(self) -> Duration {
        const MIN: u64 = 60;
        const HOUR: u64 = 60 * MIN;
        const DAY: u64 = 24 * HOUR;
        Duration::from_secs(match self {
            Interval::S1 => 1,
            Interval::M1 => MIN,
            Interval::M3 => 3 * MIN,
            Interval::M5 => 5 * MIN,
            Interval::M15 => 15 * MIN,
            Interval::M30 => 30 * MIN,
            Interval::H1 => HOUR,
            Interval::H2 => 2 * HOUR,
            Interval::H4 => 4 * HOUR,
            Interval::H6 => 6 * HOUR,
            Interval::H8 => 8 * HOUR,
            Interval::H12 => 12 * HOUR,
            Interval::D1 => DAY,
            Interval::D3 => 3 * DAY,
            Interval::W1 => 7 * DAY,
            Interval::Mo1 => 30 * DAY,
        })
    }

    /// The interval whose nominal length is exactly `ms` milliseconds, if any.
    pub fn from_millis(ms: i64) -> Option<Interval> {
        Interval::ALL
            .into_iter()
            .find(|interval| interval.nominal_duration().as_millis() == ms as u128)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that is not one of Binance's interval spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown candle interval {given:?}: expected one of 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w, 1M (case-sensitive)"
)]
pub struct UnknownInterval {
    /// What was given.
    pub given: String,
}

impl FromStr for Interval {
    type Err = UnknownInterval;

    /// Case-sensitive like Binance: `1m` is a minute and `1M` a month.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Interval::ALL
            .into_iter()
            .find(|interval| interval.as_str() == s)
            .ok_or_else(|| UnknownInterval {
                given: s.to_owned(),
            })
    }
}

/// Candles stored column by column, oldest first, with strictly increasing open times.
///
/// Columns rather than a `Vec<Candle>` because the backtest hot loop reads only the close column:
/// one contiguous `f64` column keeps it to 8 bytes of memory traffic per candle instead of 48.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandleSeries {
    open_time_ms: Vec<i64>,
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

/// The error for appending a candle that does not come strictly after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "candle open time {given_ms} is not after the previous candle's {previous_ms}: candles must be in strictly increasing time order"
)]
pub struct OutOfOrderCandle {
    /// The previous candle's open time.
    pub previous_ms: i64,
    /// The rejected candle's open time.
    pub given_ms: i64,
}

impl CandleSeries {
    /// An empty series with room for `capacity` candles in every column.
    pub fn with_capacity(capacity: usize) -> Self {
        CandleSeries {
            open_time_ms: Vec::with_capacity(capacity),
            open: Vec::with_capacity(capacity),
            high: Vec::with_capacity(capacity),
            low: Vec::with_capacity(capacity),
            close: Vec::with_capacity(capacity),
            volume: Vec::with_capacity(capacity),
        }
    }

    /// Appends a candle, refusing one whose open time is not after the last candle's.
    pub fn push(&mut self, candle: Candle) -> Result<(), OutOfOrderCandle> {
        if let Some(&previous_ms) = self.open_time_ms.last()
            && candle.open_time_ms <= previous_ms
        {
            return Err(OutOfOrderCandle {
                previous_ms,
                given_ms: candle.open_time_ms,
            });
        }
        self.open_time_ms.push(candle.open_time_ms);
        self.open.push(candle.open);
        self.high.push(candle.high);
        self.low.push(candle.low);
        self.close.push(candle.close);
        self.volume.push(candle.volume);
        Ok(())
    }

    /// Number of candles.
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// True when there are no candles.
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }

    /// The candle at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<Candle> {
        Some(Candle {
            open_time_ms: *self.open_time_ms.get(index)?,
            open: self.open[index],
            high: self.high[index],
            low: self.low[index],
            close: self.close[index],
            volume: self.volume[index],
        })
    }

    /// Every candle in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Candle> + '_ {
        (0..self.len()).map(|index| self.get(index).expect("index is below the length"))
    }

    /// Open times in milliseconds.
    pub fn open_times_ms(&self) -> &[i64] {
        &self.open_time_ms
    }

    /// Open prices.
    pub fn opens(&self) -> &[f64] {
        &self.open
    }

    /// High prices.
    pub fn highs(&self) -> &[f64] {
        &self.high
    }

    /// Low prices.
    pub fn lows(&self) -> &[f64] {
        &self.low
    }

    /// Close prices.
    pub fn closes(&self) -> &[f64] {
        &self.close
    }

    /// Base-asset volumes.
    pub fn volumes(&self) -> &[f64] {
        &self.volume
    }

    /// Bytes held by the columns (capacity, not length), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.open_time_ms.capacity() * size_of::<i64>()
            + (self.open.capacity()
                + self.high.capacity()
                + self.low.capacity()
                + self.close.capacity()
                + self.volume.capacity())
                * size_of::<f64>()
    }
}

impl FromIterator<Candle> for CandleSeries {
    /// Collects candles, panicking on out-of-order times; use [`CandleSeries::push`] for untrusted data.
    fn from_iter<I: IntoIterator<Item = Candle>>(candles: I) -> Self {
        let candles = candles.into_iter();
        let mut series = CandleSeries::with_capacity(candles.size_hint().0);
        for candle in candles {
            series
                .push(candle)
                .expect("FromIterator<Candle> needs candles in increasing time order");
        }
        series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candle_at(open_time_ms: i64, close: f64) -> Candle {
        Candle {
            open_time_ms,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        }
    }

    #[test]
    fn series_refuses_a_candle_that_is_not_later() {
        let mut series = CandleSeries::default();
        series.push(candle_at(1_000, 1.0)).unwrap();
        let err = series.push(candle_at(1_000, 2.0)).unwrap_err();
        assert_eq!(
            err,
            OutOfOrderCandle {
                previous_ms: 1_000,
                given_ms: 1_000
            }
        );
        assert_eq!(series.len(), 1);
        assert_eq!(series.get(0), Some(candle_at(1_000, 1.0)));
        assert_eq!(series.get(1), None);
    }

    #[test]
    fn every_interval_round_trips_through_its_binance_spelling() {
        for interval in Interval::ALL {
            assert_eq!(interval.as_str().parse::<Interval>(), Ok(interval));
        }
    }

    #[test]
    fn minute_and_month_are_distinguished_by_case() {
        assert_eq!("1m".parse::<Interval>(), Ok(Interval::M1));
        assert_eq!("1M".parse::<Interval>(), Ok(Interval::Mo1));
        let err = "1H".parse::<Interval>().unwrap_err();
        assert!(err.to_string().contains("\"1H\""), "{err}");
    }

    #[test]
    fn from_millis_finds_one_minute() {
        assert_eq!(Interval::from_millis(60_000), Some(Interval::M1));
        assert_eq!(Interval::from_millis(61_000), None);
    }
}
