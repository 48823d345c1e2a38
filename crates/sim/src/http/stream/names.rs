//! Stream names as Binance spells them (`btcusdt@kline_1m`, `!miniTicker@arr`), read by hand: the
//! grammar is a handful of suffixes after one `@`, and every refusal must say what was wrong.
//!
//! Symbols must be lower case, as Binance requires (reference § 8), and are 1 to
//! [`MAX_SYMBOL_LENGTH`] letters and digits. A well-formed name whose symbol is not listed is a
//! valid stream that never pushes anything, as on Binance, where subscribing to an unknown symbol
//! succeeds and stays silent. Streams Binance has but the simulator does not serve (depth,
//! tickers, average price, time-zone klines, ...) are refused: a client should learn that here
//! rather than wait for events that never come.

use std::fmt;

use market::Interval;

/// The longest symbol accepted (Binance's are at most 20 characters).
pub const MAX_SYMBOL_LENGTH: usize = 20;

/// A stream the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamName {
    /// `<symbol>@kline_<interval>`.
    Kline {
        /// The symbol in upper case, as the exchange lists it.
        symbol: String,
        /// The kline interval.
        interval: Interval,
    },
    /// `<symbol>@trade`.
    Trade {
        /// The symbol in upper case.
        symbol: String,
    },
    /// `<symbol>@aggTrade`.
    AggTrade {
        /// The symbol in upper case.
        symbol: String,
    },
    /// `<symbol>@bookTicker`.
    BookTicker {
        /// The symbol in upper case.
        symbol: String,
    },
    /// `<symbol>@miniTicker`.
    MiniTicker {
        /// The symbol in upper case.
        symbol: String,
    },
    /// `!miniTicker@arr`: every listed symbol's mini ticker.
    AllMiniTickers,
}

/// The streams served, for refusals.
const SERVED: &str = "<symbol>@kline_<interval>, <symbol>@trade, <symbol>@aggTrade, \
                      <symbol>@bookTicker, <symbol>@miniTicker, !miniTicker@arr";

impl StreamName {
    /// Reads `name`, or says why it is not a stream the simulator serves.
    pub fn parse(name: &str) -> Result<StreamName, String> {
        if name == "!miniTicker@arr" {
            return Ok(StreamName::AllMiniTickers);
        }
        let (symbol, kind) = name
            .split_once('@')
            .ok_or_else(|| format!("stream {name:?} has no '@': expected one of {SERVED}"))?;
        if symbol.is_empty()
            || symbol.len() > MAX_SYMBOL_LENGTH
            || !symbol
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
        {
            return Err(format!(
                "stream {name:?}: the symbol must be 1 to {MAX_SYMBOL_LENGTH} lower-case letters \
                 and digits, e.g. btcusdt"
            ));
        }
        let symbol = symbol.to_ascii_uppercase();
        match kind {
            "trade" => Ok(StreamName::Trade { symbol }),
            "aggTrade" => Ok(StreamName::AggTrade { symbol }),
            "bookTicker" => Ok(StreamName::BookTicker { symbol }),
            "miniTicker" => Ok(StreamName::MiniTicker { symbol }),
            _ => {
                let interval = kind.strip_prefix("kline_").ok_or_else(|| {
                    format!(
                        "stream {name:?}: unknown stream type {kind:?}: expected one of {SERVED}"
                    )
                })?;
                let interval = interval.parse::<Interval>().map_err(|_| {
                    format!(
                        "stream {name:?}: unknown kline interval {interval:?} (1s, 1m, 3m, ... 1M)"
                    )
                })?;
                Ok(StreamName::Kline { symbol, interval })
            }
        }
    }
}

impl fmt::Display for StreamName {
    /// The name as Binance spells it (what `LIST_SUBSCRIPTIONS` answers).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lower = |symbol: &str| symbol.to_ascii_lowercase();
        match self {
            StreamName::Kline { symbol, interval } => {
                write!(f, "{}@kline_{}", lower(symbol), interval.as_str())
            }
            StreamName::Trade { symbol } => write!(f, "{}@trade", lower(symbol)),
            StreamName::AggTrade { symbol } => write!(f, "{}@aggTrade", lower(symbol)),
            StreamName::BookTicker { symbol } => write!(f, "{}@bookTicker", lower(symbol)),
            StreamName::MiniTicker { symbol } => write!(f, "{}@miniTicker", lower(symbol)),
            StreamName::AllMiniTickers => f.write_str("!miniTicker@arr"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_streams_are_read_and_spelled_back_as_binance_does() {
        for name in [
            "btcusdt@kline_1m",
            "ethusdt@kline_1M",
            "btcusdt@trade",
            "btcusdt@aggTrade",
            "bnbusdt@bookTicker",
            "btcusdt@miniTicker",
            "!miniTicker@arr",
            "xrpusdt@trade",
        ] {
            let parsed = StreamName::parse(name).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(parsed.to_string(), name);
        }
        assert_eq!(
            StreamName::parse("btcusdt@kline_1m"),
            Ok(StreamName::Kline {
                symbol: "BTCUSDT".into(),
                interval: Interval::M1
            })
        );
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        for (name, reason) in [
            ("BTCUSDT@kline_1m", "lower-case"),
            ("btcusdt@kline_7m", "interval"),
            ("@kline_1m", "lower-case"),
            ("btcusdt", "'@'"),
            ("btcusdt@depth", "unknown stream type"),
            ("btcusdt@aggtrade", "unknown stream type"),
            ("btcusdt@kline_1m@+08:00", "interval"),
            ("!ticker@arr", "lower-case"),
            ("averyveryverylongsymbolname@trade", "lower-case"),
        ] {
            let error = StreamName::parse(name).unwrap_err();
            assert!(error.contains(reason), "{name}: {error}");
            assert!(error.contains(name), "{name}: {error}");
        }
    }
}
