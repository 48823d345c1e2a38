//! What a backtest's `--data` may name, in the formats traders have: one candle file (either
//! layout), one of Binance's public-data kline archives (`BTCUSDT-1m-2024-01.zip`, monthly or
//! daily, as data.binance.vision publishes them: one CSV inside), or a directory of such files,
//! read in time order and joined into one series.
//!
//! - An archive whose `.CHECKSUM` file (`<sha256>  <name>`, as Binance publishes it) lies beside
//!   it is verified first; a mismatch stops the load, naming both digests.
//! - In a directory, files are ordered by their first candle. Files of different intervals, or
//!   whose candles overlap, are refused with the dates at fault; a gap between two files (days
//!   Binance has no data for, a month not downloaded) is reported with its dates in
//!   [`LoadedCandles::gaps`], and the series goes on after it.
//! - An archive's entry is read as a stream, never inflated in memory whole; one that declares
//!   more than [`MAX_ENTRY_BYTES`] is refused before a byte is inflated, and one that inflates to
//!   more than it declared is refused too (a zip bomb).
//!
//! The `zip` crate reads the archives and `sha2` hashes them; only the joining of files is
//! written here.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use market::{CandleSeries, format_utc_ms};
use sha2::{Digest, Sha256};

use crate::{CandleFileError, read_candle_file, read_candles};

/// The largest uncompressed CSV an archive may hold: a month of one-second klines is about
/// 400 MB.
pub const MAX_ENTRY_BYTES: u64 = 1 << 30;

/// Candles loaded from a file, an archive or a directory.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCandles {
    /// Every candle, in time order.
    pub series: CandleSeries,
    /// The files read, in the order their candles come.
    pub files: Vec<PathBuf>,
    /// The gaps between consecutive files.
    pub gaps: Vec<Gap>,
}

/// Missing candles between two files of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The file that ends before the gap.
    pub before: PathBuf,
    /// The file that starts after it.
    pub after: PathBuf,
    /// The open time of the last candle before the gap, ms.
    pub last_open_ms: i64,
    /// The open time of the first candle after it, ms.
    pub next_open_ms: i64,
    /// How many candles of the files' interval are missing.
    pub missing: i64,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} candles missing between {} (last candle {}) and {} (next candle {})",
            self.missing,
            name(&self.before),
            format_utc_ms(self.last_open_ms),
            name(&self.after),
            format_utc_ms(self.next_open_ms)
        )
    }
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// Loads `path`: a candle file, a Binance kline archive or a directory of them (see the module's
/// documentation). `on_progress(bytes_done, bytes_total)` follows the bytes read, over all files.
pub fn load_candles(
    path: &Path,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<LoadedCandles, CandleFileError> {
    let metadata = std::fs::metadata(path).map_err(|source| CandleFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    if !metadata.is_dir() {
        let series = read_one(path, 0, metadata.len(), &mut on_progress)?;
        return Ok(LoadedCandles {
            series,
            files: vec![path.to_owned()],
            gaps: Vec::new(),
        });
    }
    let files = candle_files_in(path)?;
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    let mut parts = Vec::with_capacity(files.len());
    let mut done = 0;
    for (file, len) in files {
        let series = read_one(&file, done, total, &mut on_progress)?;
        done += len;
        if !series.is_empty() {
            parts.push((file, series));
        }
    }
    join(path, parts)
}

/// The candle files and archives directly in `dir`, with their sizes, by name.
fn candle_files_in(dir: &Path) -> Result<Vec<(PathBuf, u64)>, CandleFileError> {
    let io_error = |source| CandleFileError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let path = entry.path();
        let wanted = path
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| ext.eq_ignore_ascii_case("zip") || ext.eq_ignore_ascii_case("csv"));
        let metadata = entry.metadata().map_err(io_error)?;
        if wanted && metadata.is_file() {
            files.push((path, metadata.len()));
        }
    }
    if files.is_empty() {
        return Err(CandleFileError::Source {
            path: dir.to_owned(),
            message: "holds no candle file (.csv) nor Binance kline archive (.zip)".to_owned(),
        });
    }
    files.sort();
    Ok(files)
}

/// Reads one file or archive; progress is reported from `done` out of `total` bytes.
fn read_one(
    path: &Path,
    done: u64,
    total: u64,
    on_progress: &mut impl FnMut(u64, u64),
) -> Result<CandleSeries, CandleFileError> {
    let is_zip = path
        .extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("zip"));
    let total = total.max(1);
    if !is_zip {
        return read_candle_file(path, |read, _| on_progress(done + read, total));
    }
    verify_checksum(path)?;
    read_archive(path, |read| on_progress(done + read, total))
}

/// The candles of the one CSV in the archive `path`.
fn read_archive(
    path: &Path,
    mut on_read: impl FnMut(u64),
) -> Result<CandleSeries, CandleFileError> {
    let bad = |message: String| CandleFileError::Source {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(|source| CandleFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|error| {
        bad(format!(
            "not a zip archive Binance's data would come in: {error}"
        ))
    })?;
    let csvs: Vec<usize> = (0..archive.len())
        .filter(|&index| {
            archive
                .name_for_index(index)
                .is_some_and(|name| name.to_ascii_lowercase().ends_with(".csv"))
        })
        .collect();
    let [index] = csvs[..] else {
        return Err(bad(format!(
            "holds {} CSV files; a Binance kline archive holds exactly one",
            csvs.len()
        )));
    };
    let mut entry = archive
        .by_index(index)
        .map_err(|error| bad(format!("cannot read its CSV: {error}")))?;
    let declared = entry.size();
    if declared > MAX_ENTRY_BYTES {
        return Err(bad(format!(
            "its CSV would inflate to {declared} bytes, over the {MAX_ENTRY_BYTES} allowed"
        )));
    }
    let source = path.join(entry.name());
    // More than it declared is a lie: the reader stops one byte past, and the count shows it.
    let mut limited = (&mut entry).take(declared + 1);
    let series = read_candles(&mut limited, declared, &source, |read, _| on_read(read))?;
    if limited.limit() == 0 {
        return Err(bad(format!(
            "its CSV inflates to more than the {declared} bytes it declares"
        )));
    }
    Ok(series)
}

/// Checks `archive` against the `.CHECKSUM` file beside it, when there is one.
fn verify_checksum(archive: &Path) -> Result<(), CandleFileError> {
    let mut checksum_path = archive.as_os_str().to_owned();
    checksum_path.push(".CHECKSUM");
    let checksum_path = PathBuf::from(checksum_path);
    let text = match std::fs::read_to_string(&checksum_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CandleFileError::Io {
                path: checksum_path,
                source,
            });
        }
    };
    let bad = |message: String| CandleFileError::Source {
        path: checksum_path.clone(),
        message,
    };
    let mut words = text.split_whitespace();
    let (Some(expected), Some(named)) = (words.next(), words.next()) else {
        return Err(bad("expected `<sha256>  <file name>`".to_owned()));
    };
    if named != name(archive) {
        return Err(bad(format!("names {named}, not {}", name(archive))));
    }
    let mut hasher = Sha256::new();
    let mut file = File::open(archive).map_err(|source| CandleFileError::Io {
        path: archive.to_owned(),
        source,
    })?;
    std::io::copy(&mut file, &mut hasher).map_err(|source| CandleFileError::Io {
        path: archive.to_owned(),
        source,
    })?;
    let actual = hex_lower(&hasher.finalize());
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(CandleFileError::Source {
            path: archive.to_owned(),
            message: format!(
                "its SHA-256 is {actual}, but {} says {expected}: the download is damaged or incomplete; fetch it again",
                name(&checksum_path)
            ),
        });
    }
    Ok(())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The shortest distance between two open times of `series` (its interval); `None` for one
/// candle.
fn interval_ms(series: &CandleSeries) -> Option<i64> {
    series
        .open_times_ms()
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .min()
}

/// Joins the series of a directory's files in the order of their first candles.
fn join(
    dir: &Path,
    mut parts: Vec<(PathBuf, CandleSeries)>,
) -> Result<LoadedCandles, CandleFileError> {
    parts.sort_by_key(|(_, series)| series.open_times_ms()[0]);
    let interval = parts.iter().find_map(|(_, series)| interval_ms(series));
    let mut joined = CandleSeries::with_capacity(parts.iter().map(|(_, s)| s.len()).sum());
    let mut gaps = Vec::new();
    let mut files = Vec::with_capacity(parts.len());
    for (index, (file, series)) in parts.iter().enumerate() {
        if let (Some(expected), Some(own)) = (interval, interval_ms(series))
            && own != expected
        {
            return Err(CandleFileError::Source {
                path: file.clone(),
                message: format!(
                    "its candles are {} s apart, but {}'s are {} s: one directory holds one interval",
                    own / 1000,
                    name(&parts[0].0),
                    expected / 1000
                ),
            });
        }
        if let Some((previous, before)) = index.checked_sub(1).map(|i| &parts[i]) {
            let last = *before.open_times_ms().last().expect("not empty");
            let first = series.open_times_ms()[0];
            if first <= last {
                return Err(CandleFileError::Source {
                    path: dir.to_owned(),
                    message: format!(
                        "{} and {} overlap: the first runs to {}, the second starts at {}; remove one (a month's archive and its days', say)",
                        name(previous),
                        name(file),
                        format_utc_ms(last),
                        format_utc_ms(first)
                    ),
                });
            }
            if let Some(step) = interval
                && first - last > step
            {
                gaps.push(Gap {
                    before: previous.clone(),
                    after: file.clone(),
                    last_open_ms: last,
                    next_open_ms: first,
                    missing: (first - last) / step - 1,
                });
            }
        }
        for candle in series.iter() {
            joined
                .push(candle)
                .expect("the files were put in time order");
        }
        files.push(file.clone());
    }
    if joined.is_empty() {
        return Err(CandleFileError::Source {
            path: dir.to_owned(),
            message: "its files hold no candle".to_owned(),
        });
    }
    Ok(LoadedCandles {
        series: joined,
        files,
        gaps,
    })
}
