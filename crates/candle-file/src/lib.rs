//! Reads candle CSV files into a [`CandleSeries`], fast and strictly; [`load_candles`] also
//! reads Binance's public-data kline archives and directories of them (see `sources`).
//!
//! Two layouts are accepted, told apart by the first line:
//! - spotbot's own: a header `open_time_ms,open,high,low,close,volume`, then one candle per line;
//! - Binance's public-data klines: 12 columns, usually without a header, open time in
//!   milliseconds or (since 2025) microseconds, detected from the first row.
//!
//! Why hand-written instead of the `csv` crate: the files hold nothing but numbers in a fixed
//! layout, and the backtester must load them at several hundred MB/s. A general CSV tokenizer plus
//! serde costs most of that budget before a number is parsed.
//!
//! Each row is first tried on a fast path that handles the shape nearly every real file has:
//! plain digits for the time, plain decimals (`digits[.digits]`) for the numbers, no spaces. It
//! reads each digit once, and builds each number from its digits with one correctly rounded
//! division. Any other line (the header, blank lines, exponents, spaces, anything wrong) is
//! parsed whole by the general path, which trims fields, parses numbers with `fast-float2` and
//! alone reports errors. Both give the correctly rounded value, bit-identical to
//! `str::parse::<f64>` (and to Python's `float()`), so which path read a row never shows.
//! The file is read in fixed-size blocks, so memory stays at the size of the candles themselves.
//!
//! Every error names the file, the 1-based line and, for a field, the column number and name.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use market::{Candle, CandleSeries, OutOfOrderCandle};

mod sources;
#[cfg(feature = "testing")]
pub mod testing;

pub use sources::{Gap, LoadedCandles, MAX_ENTRY_BYTES, load_candles};

/// Bytes read from the file per block; a line longer than this is refused.
const BLOCK_BYTES: usize = 4 << 20;

/// The longest line a candle file may hold: one block.
pub const MAX_LINE_BYTES: usize = BLOCK_BYTES;

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
    /// A directory, an archive or its checksum is not what a candle source must be (see
    /// [`load_candles`]): the message says what and what to do.
    #[error("{}: {message}", path.display())]
    Source {
        /// The directory, archive or checksum file.
        path: PathBuf,
        /// What is wrong.
        message: String,
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
    /// The prices of a row contradict each other: the high is below another price, or the low
    /// above one.
    #[error(
        "{at}: {problem}: a candle's high must be at or above its open, close and low, and its low at or below its open and close"
    )]
    InconsistentPrices {
        /// Where.
        at: Location,
        /// Which prices disagree, quoted.
        problem: String,
    },
    /// A line runs on past the longest a candle row can be (a file that is not a candle file,
    /// such as a binary one or `/dev/zero`).
    #[error(
        "{at}: the line runs past {MAX_LINE_BYTES} bytes without ending, far longer than any candle row: this is not a candle file"
    )]
    LineTooLong {
        /// Where.
        at: Location,
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
    on_progress: impl FnMut(u64, u64),
) -> Result<CandleSeries, CandleFileError> {
    let io_error = |source| CandleFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let total_bytes = file.metadata().map_err(io_error)?.len();
    read_candles(&mut file, total_bytes, path, on_progress)
}

/// Reads candle rows from `reader` (a file, an entry of a zip archive), `total_bytes` long as far
/// as anyone knows, named `source` in errors; `on_progress` as for [`read_candle_file`].
pub fn read_candles(
    reader: &mut impl Read,
    total_bytes: u64,
    source: &Path,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<CandleSeries, CandleFileError> {
    let io_error = |error| CandleFileError::Io {
        path: source.to_owned(),
        source: error,
    };
    let mut parser = Parser::new(source.to_owned());
    // Zeroed once and reused: the unfinished last line of a block moves to the front and the next
    // block is read in after it.
    let mut buffer = vec![0u8; BLOCK_BYTES];
    let mut carried = 0;
    let mut bytes_read = 0u64;
    loop {
        if carried == buffer.len() {
            // One line longer than the whole buffer: no candle row is (the buffer is far larger
            // than the longest); growing it to hold the line would let a file without line ends
            // take all the memory there is.
            return Err(CandleFileError::LineTooLong {
                at: Location {
                    source: source.to_owned(),
                    line: parser.line + 1,
                },
            });
        }
        let got = read_fully(reader, &mut buffer[carried..]).map_err(io_error)?;
        bytes_read += got as u64;
        let filled = carried + got;
        if got == 0 {
            parser.feed_lines(&buffer[..filled], total_bytes)?;
            break;
        }
        let complete = memchr::memrchr(b'\n', &buffer[..filled]).map_or(0, |last| last + 1);
        parser.feed_lines(&buffer[..complete], total_bytes)?;
        buffer.copy_within(complete..filled, 0);
        carried = filled - complete;
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

/// Reads until `buffer` is full or the input ends.
fn read_fully(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
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
}

impl Parser {
    fn new(source: PathBuf) -> Self {
        Parser {
            source,
            format: None,
            line: 0,
            candles: CandleSeries::default(),
        }
    }

    fn at(&self) -> Location {
        Location {
            source: self.source.clone(),
            line: self.line,
        }
    }

    /// Parses complete lines (the last one may lack its newline only at end of input).
    ///
    /// Rows of the common shape go through [`parse_common_row`]; any other line (the header, the
    /// first row, blank lines, unusual formatting, anything wrong) is handed, whole, to
    /// [`Parser::feed_general_line`], which alone reports errors.
    fn feed_lines(&mut self, bytes: &[u8], total_bytes: u64) -> Result<(), CandleFileError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            // The first row goes the general way, because it sizes the columns.
            if let Some(format) = self.format
                && !self.candles.is_empty()
            {
                rest = self.feed_common_rows(rest, format)?;
                if rest.is_empty() {
                    break;
                }
            }
            rest = self.feed_general_line(rest, total_bytes)?;
        }
        Ok(())
    }

    /// Parses rows of the common shape until one is not, returning the input from that line on.
    fn feed_common_rows<'a>(
        &mut self,
        mut rest: &'a [u8],
        format: CandleFormat,
    ) -> Result<&'a [u8], CandleFileError> {
        while let Some((candle, used)) = parse_common_row(rest, format) {
            self.line += 1;
            self.push(candle)?;
            rest = &rest[used..];
        }
        Ok(rest)
    }

    /// Parses the first line of `rest` in full generality, returning the input after it.
    ///
    /// Cold because in a well-formed file only the header and the first row come here.
    #[cold]
    fn feed_general_line<'a>(
        &mut self,
        rest: &'a [u8],
        total_bytes: u64,
    ) -> Result<&'a [u8], CandleFileError> {
        let (line, after) = match memchr::memchr(b'\n', rest) {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        self.line += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(after);
        }
        let format = match self.format {
            Some(format) => format,
            None => {
                let (format, is_header) = self.detect_format(line)?;
                self.format = Some(format);
                if is_header {
                    return Ok(after);
                }
                format
            }
        };
        let candle = self.parse_row(line, format)?;
        if self.candles.is_empty() {
            self.reserve_for(line.len(), total_bytes);
        }
        self.push(candle)?;
        Ok(after)
    }

    /// Appends a candle; [`CandleSeries::push`] is what checks that open times increase.
    fn push(&mut self, candle: Candle) -> Result<(), CandleFileError> {
        self.candles
            .push(candle)
            .map_err(|out_of_order| self.not_increasing(out_of_order))
    }

    #[cold]
    fn not_increasing(&self, out_of_order: OutOfOrderCandle) -> CandleFileError {
        CandleFileError::NotIncreasing {
            at: self.at(),
            previous_ms: out_of_order.previous_ms,
            given_ms: out_of_order.given_ms,
        }
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

    /// Parses one row (without its line end) in full generality: fields trimmed, numbers in any
    /// form `fast-float2` reads, and an error naming the column for anything wrong.
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
        for column in 6..columns.len() {
            next_field(column)?;
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
        let candle = Candle {
            open_time_ms,
            open,
            high,
            low,
            close,
            volume,
        };
        match price_contradiction(&candle) {
            Some(problem) => Err(CandleFileError::InconsistentPrices {
                at: self.at(),
                problem,
            }),
            None => Ok(candle),
        }
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

/// Parses one row of the shape nearly every real file has, returning the candle and the bytes
/// used including the line end; `None` for anything else, which then goes the general way.
///
/// The shape: the open time as plain digits, the five numbers as plain decimals
/// (`digits[.digits]`, see [`scan_decimal`]), every field followed directly by its comma or the
/// line end (`\n`, `\r\n`, or end of input); for Binance klines the six unused fields may hold
/// anything but commas. Each byte of the time and the numbers is looked at once. The result
/// must be exactly what [`Parser::parse_row`] gives for the same line, so anything it would
/// refuse, or that needs trimming, gives `None` here rather than an error.
#[inline]
/// What is wrong with `candle`'s prices taken together, if anything.
fn price_contradiction(candle: &Candle) -> Option<String> {
    let Candle {
        open,
        high,
        low,
        close,
        ..
    } = *candle;
    if high < low {
        Some(format!("high {high} is below low {low}"))
    } else if high < open.max(close) {
        Some(format!(
            "high {high} is below the open {open} or the close {close}"
        ))
    } else if low > open.min(close) {
        Some(format!(
            "low {low} is above the open {open} or the close {close}"
        ))
    } else {
        None
    }
}

fn parse_common_row(bytes: &[u8], format: CandleFormat) -> Option<(Candle, usize)> {
    let (raw_time, time_len) = scan_digits(bytes);
    // Up to 18 digits cannot overflow an i64; longer ones go the general way.
    if !(1..=18).contains(&time_len) || bytes.get(time_len) != Some(&b',') {
        return None;
    }
    let raw_time = raw_time as i64;
    let open_time_ms = match format {
        CandleFormat::BinanceKlines { microseconds: true } if raw_time >= MICROSECOND_THRESHOLD => {
            raw_time / 1000
        }
        CandleFormat::BinanceKlines {
            microseconds: false,
        }
        | CandleFormat::Native
            if raw_time < MICROSECOND_THRESHOLD =>
        {
            raw_time
        }
        _ => return None,
    };
    // `pos` is always at a comma here: the one before the next field.
    let mut pos = time_len;
    let mut numbers = [0.0f64; 5];
    for (index, number) in numbers.iter_mut().enumerate() {
        let (value, len) = scan_decimal(&bytes[pos + 1..])?;
        *number = value;
        pos += 1 + len;
        if index < 4 && bytes.get(pos) != Some(&b',') {
            return None;
        }
    }
    let [open, high, low, close, volume] = numbers;
    // As the general path demands, so that a row it would refuse is left to it to report.
    let usable_price = |price: f64| price.is_finite() && price > 0.0;
    let usable = usable_price(open)
        && usable_price(high)
        && usable_price(low)
        && usable_price(close)
        && volume.is_finite()
        && low <= open.min(close)
        && high >= open.max(close);
    if !usable {
        return None;
    }
    let used = match format {
        CandleFormat::Native => match (bytes.get(pos), bytes.get(pos + 1)) {
            (None, _) => pos,
            (Some(b'\n'), _) => pos + 1,
            (Some(b'\r'), Some(b'\n')) => pos + 2,
            (Some(b'\r'), None) => pos + 1,
            _ => return None,
        },
        CandleFormat::BinanceKlines { .. } => {
            // The six unused fields must be there (six more commas), and no seventh.
            let rest = &bytes[pos..];
            let line_len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            if rest.first() != Some(&b',')
                || memchr::memchr_iter(b',', &rest[..line_len]).count() != 6
            {
                return None;
            }
            pos + (line_len + 1).min(rest.len())
        }
    };
    let candle = Candle {
        open_time_ms,
        open,
        high,
        low,
        close,
        volume,
    };
    Some((candle, used))
}

/// `10^k` for every `k` that [`scan_decimal`]'s exact path can meet; all are exact in an `f64`.
const POWERS_OF_TEN: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// Reads a plain decimal, `digits` or `digits.digits`, from the start of `bytes`, returning its
/// correctly rounded value (bit-identical to `str::parse::<f64>`) and its length; `None` when
/// `bytes` does not start with one (a sign, an exponent, `.5`, `5.`, a space...).
///
/// With at most 19 digits the digits fit a `u64` mantissa `m` exactly, and the value is
/// `m / 10^k` for `k` fraction digits. When `m <= 2^53` both `m` and `10^k` (`k <= 19 < 23`) are
/// exact `f64`s, so one IEEE division rounds the exact quotient correctly (Clinger's fast path).
/// Anything longer is handed to `fast_float2`.
#[inline]
fn scan_decimal(bytes: &[u8]) -> Option<(f64, usize)> {
    let (integer, integer_len) = scan_digits(bytes);
    if integer_len == 0 {
        return None;
    }
    let (mantissa, len, fraction_len) = if bytes.get(integer_len) == Some(&b'.') {
        let fraction_start = integer_len + 1;
        let (mantissa, end) = scan_more_digits(bytes, fraction_start, integer);
        if end == fraction_start {
            return None;
        }
        (mantissa, end, end - fraction_start)
    } else {
        (integer, integer_len, 0)
    };
    if integer_len + fraction_len <= 19 && mantissa <= 1 << 53 {
        return Some((mantissa as f64 / POWERS_OF_TEN[fraction_len], len));
    }
    let value = fast_float2::parse(&bytes[..len]).ok()?;
    Some((value, len))
}

/// Reads the ASCII digits at the start of `bytes`: their value (meaningful only for at most 19
/// digits; more wrap) and how many there are.
#[inline(always)]
fn scan_digits(bytes: &[u8]) -> (u64, usize) {
    scan_more_digits(bytes, 0, 0)
}

/// Continues a number: appends the digits from `bytes[start..]` to `value` and returns the new
/// value (wrapping past 19 digits) and the index of the first byte that is not a digit.
///
/// A byte at a time on purpose: the loop's exit branch is well predicted (a column's numbers
/// have much the same length), so the next field's position is known speculatively. Eight-byte
/// (SWAR) digit counting was measured slower, because it makes that position a data dependency.
#[inline(always)]
fn scan_more_digits(bytes: &[u8], start: usize, mut value: u64) -> (u64, usize) {
    let mut pos = start;
    while let Some(&byte) = bytes.get(pos) {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        pos += 1;
    }
    (value, pos)
}

#[cfg(test)]
mod tests {
    //! The fast paths against their references: [`scan_decimal`] against `str::parse::<f64>`,
    //! and [`parse_common_row`] against [`Parser::parse_row`].

    use super::*;
    use proptest::prelude::*;

    /// The length of the plain decimal `text` starts with, the slow obvious way: digits, then
    /// optionally a point that must be followed by digits.
    fn plain_prefix_len(text: &str) -> Option<usize> {
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let integer = digits(text);
        match text[integer..].strip_prefix('.') {
            _ if integer == 0 => None,
            Some(after_point) if digits(after_point) == 0 => None,
            Some(after_point) => Some(integer + 1 + digits(after_point)),
            None => Some(integer),
        }
    }

    /// Checks `scan_decimal` on `text`: it must read exactly the plain decimal `text` starts
    /// with, if any, bit-identical to `str::parse` on it, and nothing else.
    fn check_decimal(text: &str) -> Result<(), TestCaseError> {
        let scanned = scan_decimal(text.as_bytes());
        prop_assert_eq!(
            scanned.map(|(_, len)| len),
            plain_prefix_len(text),
            "{:?}",
            text
        );
        if let Some((value, len)) = scanned {
            let expected = text[..len].parse::<f64>().unwrap();
            prop_assert_eq!(value.to_bits(), expected.to_bits(), "{:?}", text);
        }
        Ok(())
    }

    fn bits(candle: Candle) -> [u64; 6] {
        [
            candle.open_time_ms as u64,
            candle.open.to_bits(),
            candle.high.to_bits(),
            candle.low.to_bits(),
            candle.close.to_bits(),
            candle.volume.to_bits(),
        ]
    }

    #[test]
    fn plain_decimals_at_the_edges() {
        for text in [
            "0",
            "0.0",
            "1",
            "9007199254740992",   // 2^53: still the exact path
            "9007199254740993",   // 2^53 + 1: rounds, so fast_float2
            "9007199254740993.0", // the same, with a fraction
            "0.1",
            "0.30000000000000004",
            "1234567890123456789",
            "12345678901234567890",
            "99999999999999999999999999",
            "0000000000000000000000001.5",
            "1.0000000000000000000000001",
            "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "1797693134862315700000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        ] {
            check_decimal(text).unwrap();
        }
        for text in [
            "", ".5", "5.", ".", "-1", "+1", "1e5", " 1", "inf", "NaN", "1,5",
        ] {
            assert_eq!(
                scan_decimal(text.as_bytes()).filter(|&(_, len)| len == text.len()),
                None,
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_common_row_shape_and_what_falls_outside_it() {
        let native = CandleFormat::Native;
        let row = b"1704067200000,30000.00,30014.82,29994.61,30007.31,9.337060";
        let (candle, used) = parse_common_row(row, native).unwrap();
        assert_eq!(used, row.len());
        assert_eq!(candle.close, 30007.31);
        for ending in [&b"\n"[..], b"\r\n", b"\r"] {
            let line = [&row[..], ending].concat();
            assert_eq!(parse_common_row(&line, native).unwrap().1, line.len());
        }
        let next = [&row[..], b"\n2,1,1,1,1,1\n"].concat();
        assert_eq!(parse_common_row(&next, native).unwrap().1, row.len() + 1);
        for declined in [
            &b"1704067200000,30000.00,30014.82,29994.61,30007.31,9.337060,7"[..],
            b"1704067200000,30000.00,30014.82,29994.61,30007.31",
            b"1704067200000, 30000.00,30014.82,29994.61,30007.31,9.337060",
            b"1704067200000,30000.00,30014.82,29994.61,30007.31,9.337060 ",
            b"1704067200000,30000.00,30014.82,29994.61,30007.31,9.337060\r\r\n",
            b"1704067200000,0.00,30014.82,29994.61,30007.31,9.337060",
            b"1704067200000,3e4,30014.82,29994.61,30007.31,9.337060",
            b"1704067200000000,30000.00,30014.82,29994.61,30007.31,9.337060",
            b"1234567890123456789,30000.00,30014.82,29994.61,30007.31,9.337060",
        ] {
            assert!(
                parse_common_row(declined, native).is_none(),
                "{}",
                String::from_utf8_lossy(declined)
            );
        }
        let micros = CandleFormat::BinanceKlines { microseconds: true };
        let kline = b"1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1735689659999999,768978.44,1536,3.9,364929.5,0\n";
        let (candle, used) = parse_common_row(kline, micros).unwrap();
        assert_eq!(
            (candle.open_time_ms, used),
            (1_735_689_600_000, kline.len())
        );
        let short = b"1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1,2,3,4,5\n";
        assert!(parse_common_row(short, micros).is_none());
        let millis = CandleFormat::BinanceKlines {
            microseconds: false,
        };
        assert!(parse_common_row(kline, millis).is_none());
    }

    /// A field: mostly plain decimals, sometimes anything a CSV cell might hold.
    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[0-9]{1,6}(\\.[0-9]{1,8})?",
            1 => "[0-9]{0,22}\\.?[0-9]{0,22}",
            1 => "[-+ .eE0-9a-z\r]{0,8}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        /// Digit strings up to 25 digits, with and without a fraction, with leading zeros.
        #[test]
        fn plain_decimals_match_str_parse(
            zeros in "0{0,6}",
            integer in "[0-9]{1,25}",
            fraction in prop::option::of("[0-9]{1,25}"),
        ) {
            let integer = format!("{zeros}{integer}");
            let integer = &integer[..integer.len().min(25)];
            let text = match fraction {
                Some(fraction) => format!("{integer}.{fraction}"),
                None => integer.to_owned(),
            };
            check_decimal(&text)?;
            check_decimal(&format!("{text},9"))?;
        }

        /// Every `f64` as Rust prints it: `{}`, `{:?}` and `{:.N}`.
        #[test]
        fn printed_floats_match_str_parse(
            value in prop_oneof![any::<f64>(), (1e-12f64..1e12), (0.0f64..1.0)],
            decimals in 0usize..=25,
        ) {
            for text in [format!("{value}"), format!("{value:?}"), format!("{value:.decimals$}")] {
                check_decimal(&text)?;
            }
        }

        /// Whenever the fast row parser takes a line, the general one reads the same candle.
        #[test]
        fn common_rows_read_as_the_general_parser_reads_them(
            time in prop_oneof!["[0-9]{1,19}", "1[67][0-9]{11}", "1[67][0-9]{14}", "[0-9 .-]{0,6}"],
            fields in prop::collection::vec(field(), 12),
            missing_or_extra in prop_oneof![8 => Just(0), 1 => Just(-1), 1 => Just(1)],
            ending in prop_oneof![Just(""), Just("\n"), Just("\r\n"), Just("\r"), Just("\n1,2")],
            layout in 0..3,
        ) {
            let format = match layout {
                0 => CandleFormat::Native,
                1 => CandleFormat::BinanceKlines { microseconds: false },
                _ => CandleFormat::BinanceKlines { microseconds: true },
            };
            let count = format.columns().len() - 1;
            let count = count.saturating_add_signed(missing_or_extra);
            let line = format!("{time},{}", fields[..count].join(","));
            let bytes = format!("{line}{ending}");
            if let Some((candle, used)) = parse_common_row(bytes.as_bytes(), format) {
                let line_end = bytes.find('\n').map_or(bytes.len(), |end| end + 1);
                prop_assert_eq!(used, line_end);
                let parser = Parser::new(PathBuf::from("t.csv"));
                let line = line.strip_suffix('\r').unwrap_or(&line);
                let general = parser.parse_row(line.as_bytes(), format);
                prop_assert!(general.is_ok(), "{:?}: {:?}", line, general);
                prop_assert_eq!(bits(candle), bits(general.unwrap()), "{:?}", line);
            }
        }
    }
}
