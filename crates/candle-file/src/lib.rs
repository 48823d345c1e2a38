//! Reads candle CSV files into a [`CandleSeries`], fast and strictly.
//!
//! Two layouts are accepted, told apart by the first line:
//! - spotbot's own: a header `open_time_ms,open,high,low,close,volume`, then one candle per line;
//! - Binance's public-data klines: 12 columns, usually without a header, open time in
//!   milliseconds or (since 2025) microseconds, detected from the first row.
//!
//! Why hand-written instead of the `csv` crate: the files hold nothing but numbers in a fixed
//! layout, and the backtester must load them at several hundred MB/s. A general CSV tokenizer plus
//! serde costs most of that budget before a number is parsed, so this reader walks each line once,
//! parsing every field in place with `fast-float2` (correctly rounded, like Python's `float()`).
//! The file is read in fixed-size blocks, so memory stays at the size of the candles themselves.
//!
//! Every error names the file, the 1-based line and, for a field, the column number and name.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use market::{Candle, CandleSeries};

/// Bytes read from the file per block.
const BLOCK_BYTES: usize = 4 << 20;

/// Open times at or above this are taken to be microseconds (1e14 µs is 1973; 1e14 ms is year 5138).
const MICROSECOND_THRESHOLD: i64 = 100_000_000_000_000;

/// The header of spotbot's own candle format.
pub const NATIVE_HEADER: &str = "open_time_ms,open,high,low,close,volume";

const NATIVE_COLUMNS: [&str; 6] = ["open_time_ms", "open", "high", "low", "close", "volume"];
const BINANCE_COLUMNS: [&str; 12] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
];

/// Which layout a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandleFormat {
    /// `open_time_ms,open,high,low,close,volume` with that header.
    Native,
    /// Binance public-data klines, 12 columns; `microseconds` tells the open-time unit.
    BinanceKlines {
        /// True when open times are in microseconds (converted to milliseconds on read).
        microseconds: bool,
    },
}

impl CandleFormat {
    fn columns(self) -> &'static [&'static str] {
        match self {
            CandleFormat::Native => &NATIVE_COLUMNS,
            CandleFormat::BinanceKlines { .. } => &BINANCE_COLUMNS,
        }
    }
}

/// Where in the input a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file (or the name given to in-memory input).
    pub source: PathBuf,
    /// 1-based line number.
    pub line: u64,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.source.display(), self.line)
    }
}

/// Everything that can go wrong reading a candle file.
#[derive(Debug, thiserror::Error)]
pub enum CandleFileError {
    /// The file could not be opened or read.
    #[error("cannot read candle file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The file has no bytes, or only a header.
    #[error("{} holds no candles: expected the header `{NATIVE_HEADER}` followed by rows, or Binance kline rows (12 columns)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The first line is neither a known header nor a row of a known layout.
    #[error(
        "{at}: unrecognised candle file layout ({reason}); expected the header `{NATIVE_HEADER}` or Binance kline rows with 12 columns"
    )]
    UnknownLayout {
        /// Where.
        at: Location,
        /// What was seen.
        reason: String,
    },
    /// A row has the wrong number of columns.
    #[error("{at}: expected {expected} columns, found {found}")]
    ColumnCount {
        /// Where.
        at: Location,
        /// Columns in this layout.
        expected: usize,
        /// Columns on this line.
        found: usize,
    },
    /// A field is not a valid value for its column.
    #[error("{at}: column {column} ({name}): {problem}")]
    BadField {
        /// Where.
        at: Location,
        /// 1-based column number.
        column: usize,
        /// The column's name.
        name: &'static str,
        /// What is wrong, quoting the field.
        problem: String,
    },
    /// Open times do not strictly increase.
    #[error(
        "{at}: open time {given_ms} is not after the previous row's {previous_ms}; candles must be sorted by open time with no duplicates"
    )]
    NotIncreasing {
        /// Where.
        at: Location,
        /// The previous candle's open time (ms).
        previous_ms: i64,
        /// This row's open time (ms).
        given_ms: i64,
    },
}

/// Reads a candle file, calling `on_progress(bytes_read_so_far, total_bytes)` after every block.
pub fn read_candle_file(
    path: &Path,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<CandleSeries, CandleFileError> {
    let io_error = |source| CandleFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let total_bytes = file.metadata().map_err(io_error)?.len();
    let mut parser = Parser::new(path.to_owned());
    let mut buffer = Vec::with_capacity(BLOCK_BYTES + 4096);
    let mut bytes_read = 0u64;
    loop {
        let carried = buffer.len();
        buffer.resize(carried + BLOCK_BYTES, 0);
        let got = read_fully(&mut file, &mut buffer[carried..]).map_err(io_error)?;
        buffer.truncate(carried + got);
        bytes_read += got as u64;
        if got == 0 {
            parser.feed_lines(&buffer, total_bytes)?;
            break;
        }
        if let Some(last_newline) = memchr::memrchr(b'\n', &buffer) {
            parser.feed_lines(&buffer[..=last_newline], total_bytes)?;
            buffer.drain(..=last_newline);
        }
        on_progress(bytes_read, total_bytes);
    }
    parser.finish()
}

/// Parses candle rows held in memory; `source` names them in errors.
pub fn parse_candles(bytes: &[u8], source: &Path) -> Result<CandleSeries, CandleFileError> {
    let mut parser = Parser::new(source.to_owned());
    parser.feed_lines(bytes, bytes.len() as u64)?;
    parser.finish()
}

/// Reads until `buffer` is full or the file ends.
fn read_fully(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Line-by-line state: the detected layout, the line number and the candles so far.
struct Parser {
    source: PathBuf,
    format: Option<CandleFormat>,
    line: u64,
    candles: CandleSeries,
    previous_open_ms: Option<i64>,
}

impl Parser {
    fn new(source: PathBuf) -> Self {
        Parser {
            source,
            format: None,
            line: 0,
            candles: CandleSeries::default(),
            previous_open_ms: None,
        }
    }

    fn at(&self) -> Location {
        Location {
            source: self.source.clone(),
            line: self.line,
        }
    }

    /// Parses complete lines (the last one may lack its newline only at end of input).
    fn feed_lines(&mut self, bytes: &[u8], total_bytes: u64) -> Result<(), CandleFileError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (line, after) = match memchr::memchr(b'\n', rest) {
                Some(end) => (&rest[..end], &rest[end + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = after;
            self.line += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let format = match self.format {
                Some(format) => format,
                None => {
                    let (format, is_header) = self.detect_format(line)?;
                    self.format = Some(format);
                    if is_header {
                        continue;
                    }
                    format
                }
            };
            let candle = self.parse_row(line, format)?;
            if self.candles.is_empty() {
                self.reserve_for(line.len(), total_bytes);
            }
            if let Some(previous_ms) = self.previous_open_ms
                && candle.open_time_ms <= previous_ms
            {
                return Err(CandleFileError::NotIncreasing {
                    at: self.at(),
                    previous_ms,
                    given_ms: candle.open_time_ms,
                });
            }
            self.previous_open_ms = Some(candle.open_time_ms);
            self.candles
                .push(candle)
                .expect("open times were checked to increase just above");
        }
        Ok(())
    }

    /// Reserves the columns once, from the file size and the first row's length, so that they
    /// do not reallocate (holding two copies at once) on the way to millions of candles. Rows a
    /// quarter shorter than the first are allowed for; unused capacity is never touched, so it
    /// costs address space, not memory.
    fn reserve_for(&mut self, first_row_len: usize, total_bytes: u64) {
        let shortest_expected_row = (first_row_len as u64 * 3 / 4).max(12);
        let estimate = total_bytes / shortest_expected_row + 16;
        self.candles = CandleSeries::with_capacity(estimate.min(1 << 32) as usize);
    }

    /// Works out the layout from the first non-blank line; returns whether that line is a header.
    fn detect_format(&self, line: &[u8]) -> Result<(CandleFormat, bool), CandleFileError> {
        let fields: Vec<&[u8]> = line.split(|&b| b == b',').collect();
        let first = fields[0].trim_ascii();
        let starts_with_number = first.first().is_some_and(u8::is_ascii_digit);
        if !starts_with_number {
            let header: Vec<String> = fields
                .iter()
                .map(|f| String::from_utf8_lossy(f.trim_ascii()).to_ascii_lowercase())
                .collect();
            return match header.len() {
                6 if header == NATIVE_COLUMNS => Ok((CandleFormat::Native, true)),
                // Binance added headers to some public-data files; their spelling varies, so only the width counts.
                12 => Ok((
                    CandleFormat::BinanceKlines {
                        microseconds: false,
                    },
                    true,
                )),
                _ => Err(CandleFileError::UnknownLayout {
                    at: self.at(),
                    reason: format!(
                        "first line {:?} is not a known header",
                        String::from_utf8_lossy(&line[..line.len().min(120)])
                    ),
                }),
            };
        }
        match fields.len() {
            12 => {
                let open_time =
                    parse_integer(first).map_err(|problem| CandleFileError::BadField {
                        at: self.at(),
                        column: 1,
                        name: BINANCE_COLUMNS[0],
                        problem,
                    })?;
                Ok((
                    CandleFormat::BinanceKlines {
                        microseconds: open_time >= MICROSECOND_THRESHOLD,
                    },
                    false,
                ))
            }
            found => Err(CandleFileError::UnknownLayout {
                at: self.at(),
                reason: format!(
                    "the first row has {found} columns and no header; headerless files must be Binance klines with 12 columns"
                ),
            }),
        }
    }

    fn parse_row(&self, line: &[u8], format: CandleFormat) -> Result<Candle, CandleFileError> {
        let columns = format.columns();
        let mut fields = line.split(|&b| b == b',');
        let mut next_field = |column: usize| {
            fields.next().ok_or_else(|| CandleFileError::ColumnCount {
                at: self.at(),
                expected: columns.len(),
                found: column,
            })
        };
        let bad = |column: usize, problem: String| CandleFileError::BadField {
            at: self.at(),
            column: column + 1,
            name: columns[column],
            problem,
        };

        let raw_time = parse_integer(next_field(0)?).map_err(|problem| bad(0, problem))?;
        let open_time_ms = match format {
            CandleFormat::BinanceKlines { microseconds: true } => {
                if raw_time < MICROSECOND_THRESHOLD {
                    return Err(bad(
                        0,
                        format!(
                            "{raw_time} looks like milliseconds, but the file's first row used microseconds"
                        ),
                    ));
                }
                raw_time / 1000
            }
            CandleFormat::BinanceKlines {
                microseconds: false,
            }
            | CandleFormat::Native => {
                if raw_time >= MICROSECOND_THRESHOLD {
                    return Err(bad(
                        0,
                        format!(
                            "{raw_time} looks like microseconds, but the file's first row used milliseconds"
                        ),
                    ));
                }
                raw_time
            }
        };
        let mut prices = [0.0f64; 4];
        for (offset, price) in prices.iter_mut().enumerate() {
            let column = offset + 1;
            *price = parse_price(next_field(column)?).map_err(|problem| bad(column, problem))?;
        }
        let volume = parse_volume(next_field(5)?).map_err(|problem| bad(5, problem))?;
        // The Binance extras (close time, quote volume, ...) are not used, but must be present.
        let mut found = 6;
        for _ in 6..columns.len() {
            next_field(found)?;
            found += 1;
        }
        let extra = fields.count();
        if extra > 0 {
            return Err(CandleFileError::ColumnCount {
                at: self.at(),
                expected: columns.len(),
                found: columns.len() + extra,
            });
        }
        let [open, high, low, close] = prices;
        Ok(Candle {
            open_time_ms,
            open,
            high,
            low,
            close,
            volume,
        })
    }

    fn finish(self) -> Result<CandleSeries, CandleFileError> {
        if self.candles.is_empty() {
            return Err(CandleFileError::Empty { path: self.source });
        }
        Ok(self.candles)
    }
}

fn quoted(field: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(field))
}

fn parse_integer(field: &[u8]) -> Result<i64, String> {
    let digits = field.trim_ascii();
    if digits.is_empty() {
        return Err("empty; expected a time in milliseconds".to_owned());
    }
    let mut value: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return Err(format!(
                "{} is not a whole non-negative number of milliseconds",
                quoted(field)
            ));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(byte - b'0')))
            .ok_or_else(|| format!("{} is too large for a timestamp", quoted(field)))?;
    }
    Ok(value)
}

fn parse_number(field: &[u8]) -> Result<f64, String> {
    let trimmed = field.trim_ascii();
    match fast_float2::parse_partial::<f64, _>(trimmed) {
        Ok((value, consumed)) if consumed == trimmed.len() && !trimmed.is_empty() => Ok(value),
        _ => Err(format!("{} is not a number", quoted(field))),
    }
}

fn parse_price(field: &[u8]) -> Result<f64, String> {
    let value = parse_number(field)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!(
            "{} is not a usable price; prices must be finite and greater than zero",
            quoted(field)
        ))
    }
}

fn parse_volume(field: &[u8]) -> Result<f64, String> {
    let value = parse_number(field)?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!(
            "{} is not a usable volume; volumes must be finite and not negative",
            quoted(field)
        ))
    }
}
