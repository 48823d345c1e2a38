//! The candle reader on real files: both layouts, every kind of bad input (each error must name
//! file, line and column), and arbitrary bytes (never a panic).

use std::io::Write;
use std::path::Path;

use candle_file::{CandleFileError, parse_candles, read_candle_file};
use proptest::prelude::*;

fn write_temp(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

fn error_for(content: &str) -> String {
    let file = write_temp(content);
    let err = read_candle_file(file.path(), |_, _| {}).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&file.path().display().to_string()),
        "error does not name the file: {text}"
    );
    text
}

#[test]
fn reads_the_native_layout() {
    let file = write_temp(
        "open_time_ms,open,high,low,close,volume\n\
         1704067200000,30000.00,30014.82,29994.61,30007.31,9.337060\n\
         1704067260000,30007.31,30022.52,29982.11,29982.36,23.877090\r\n",
    );
    let candles = read_candle_file(file.path(), |_, _| {}).unwrap();
    assert_eq!(candles.len(), 2);
    let second = candles.get(1).unwrap();
    assert_eq!(second.open_time_ms, 1_704_067_260_000);
    assert_eq!(second.close, 29982.36);
    assert_eq!(second.volume, 23.87709);
}

#[test]
fn reads_binance_klines_in_milliseconds_and_microseconds() {
    let millis = "1704067200000,42283.58,42298.62,42261.02,42298.61,35.92724,1704067259999,1519032.89,1327,20.56226,869338.38,0\n\
                  1704067260000,42298.62,42320.00,42289.60,42292.66,12.49306,1704067319999,528542.52,889,5.9543,251935.38,0\n";
    let micros = "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1735689659999999,768978.44,1536,3.9,364929.5,0\n\
                  1735689660000000,93610.93,93652.00,93606.48,93651.99,3.71574,1735689719999999,347897.14,1058,1.8,168651.4,0\n";
    let a = parse_candles(millis.as_bytes(), Path::new("ms.csv")).unwrap();
    assert_eq!(a.open_times_ms(), [1_704_067_200_000, 1_704_067_260_000]);
    assert_eq!(a.closes(), [42298.61, 42292.66]);
    let b = parse_candles(micros.as_bytes(), Path::new("us.csv")).unwrap();
    assert_eq!(b.open_times_ms(), [1_735_689_600_000, 1_735_689_660_000]);
}

#[test]
fn reads_binance_klines_with_a_header() {
    let text = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n\
                1704067200000,1,2,0.5,1.5,10,1704067259999,15,3,5,7.5,0\n";
    let candles = parse_candles(text.as_bytes(), Path::new("h.csv")).unwrap();
    assert_eq!(candles.closes(), [1.5]);
}

#[test]
fn a_malformed_field_names_file_line_and_column() {
    let text = error_for("open_time_ms,open,high,low,close,volume\n1,1,1,1,1,1\n2,1,1,abc,1,1\n");
    assert!(
        text.ends_with(":3: column 4 (low): \"abc\" is not a number"),
        "{text}"
    );
}

#[test]
fn a_short_or_long_row_is_reported_with_its_line() {
    let text = error_for("open_time_ms,open,high,low,close,volume\n1,1,1,1,1\n");
    assert!(text.ends_with(":2: expected 6 columns, found 5"), "{text}");
    let text = error_for("open_time_ms,open,high,low,close,volume\n1,1,1,1,1,1,1\n");
    assert!(text.ends_with(":2: expected 6 columns, found 7"), "{text}");
}

#[test]
fn timestamps_must_increase() {
    let text = error_for(
        "open_time_ms,open,high,low,close,volume\n5,1,1,1,1,1\n9,1,1,1,1,1\n9,1,1,1,1,1\n",
    );
    assert!(
        text.contains(":4: open time 9 is not after the previous row's 9"),
        "{text}"
    );
    let text = error_for("open_time_ms,open,high,low,close,volume\n5,1,1,1,1,1\n4,1,1,1,1,1\n");
    assert!(text.contains(":3: open time 4 is not after"), "{text}");
}

#[test]
fn unusable_prices_and_volumes_are_refused() {
    for (row, needle) in [
        (
            "1,0,1,1,1,1",
            "column 2 (open): \"0\" is not a usable price",
        ),
        (
            "1,1,-2,1,1,1",
            "column 3 (high): \"-2\" is not a usable price",
        ),
        (
            "1,1,1,1,NaN,1",
            "column 5 (close): \"NaN\" is not a usable price",
        ),
        (
            "1,1,1,1,inf,1",
            "column 5 (close): \"inf\" is not a usable price",
        ),
        (
            "1,1,1,1,1,-1",
            "column 6 (volume): \"-1\" is not a usable volume",
        ),
        (
            "-1,1,1,1,1,1",
            "column 1 (open_time_ms): \"-1\" is not a whole non-negative number",
        ),
        (
            "1.5,1,1,1,1,1",
            "column 1 (open_time_ms): \"1.5\" is not a whole",
        ),
        (
            "99999999999999999999,1,1,1,1,1",
            "too large for a timestamp",
        ),
        ("1,,1,1,1,1", "column 2 (open): \"\" is not a number"),
    ] {
        let text = error_for(&format!("open_time_ms,open,high,low,close,volume\n{row}\n"));
        assert!(text.contains(needle), "{row}: {text}");
    }
}

#[test]
fn prices_that_contradict_each_other_are_refused_with_their_line() {
    for (row, needle) in [
        ("2,10,9,11,10,1", ":3: high 9 is below low 11"),
        (
            "2,10,10.5,9,11,1",
            "high 10.5 is below the open 10 or the close 11",
        ),
        (
            "2,10,12,10.5,11,1",
            "low 10.5 is above the open 10 or the close 11",
        ),
    ] {
        let text = error_for(&format!(
            "open_time_ms,open,high,low,close,volume\n1,10,11,9,10,1\n{row}\n"
        ));
        assert!(text.contains(needle), "{row}: {text}");
        assert!(
            text.contains("a candle's high must be at or above"),
            "{text}"
        );
    }
    // A row the fast path takes and a row only the general one reads are checked alike.
    let spaced = error_for("open_time_ms,open,high,low,close,volume\n1, 10, 9, 11, 10, 1\n");
    assert!(spaced.contains(":2: high 9 is below low 11"), "{spaced}");
}

#[test]
fn a_file_without_line_ends_is_refused_before_it_fills_the_memory() {
    // What `/dev/zero` gives: bytes without end and no newline. A file of them past one block
    // is refused at its first line, having held one block.
    let endless = "0".repeat(candle_file::MAX_LINE_BYTES + 10);
    let text = error_for(&endless);
    assert!(text.contains(":1: the line runs past"), "{text}");
    assert!(text.contains("this is not a candle file"), "{text}");
    #[cfg(unix)]
    {
        let zero = read_candle_file(Path::new("/dev/zero"), |_, _| {}).unwrap_err();
        assert!(
            matches!(zero, CandleFileError::LineTooLong { .. }),
            "{zero}"
        );
    }
}

#[test]
fn a_microsecond_row_in_a_millisecond_file_is_refused() {
    let text =
        error_for("1704067200000,1,1,1,1,1,0,0,0,0,0,0\n1704067260000000,1,1,1,1,1,0,0,0,0,0,0\n");
    assert!(
        text.contains(":2: column 1 (open_time): 1704067260000000 looks like microseconds"),
        "{text}"
    );
}

#[test]
fn empty_header_only_and_unknown_layouts_are_clear() {
    let text = error_for("");
    assert!(text.contains("holds no candles"), "{text}");
    let text = error_for("open_time_ms,open,high,low,close,volume\n\n");
    assert!(text.contains("holds no candles"), "{text}");
    let text = error_for("time,price\n1,2\n");
    assert!(
        text.contains(":1: unrecognised candle file layout"),
        "{text}"
    );
    let text = error_for("1,2,3,4,5,6\n");
    assert!(text.contains("has 6 columns and no header"), "{text}");
}

#[test]
fn a_missing_file_says_so() {
    let err = read_candle_file(Path::new("/nonexistent/candles.csv"), |_, _| {}).unwrap_err();
    assert!(matches!(err, CandleFileError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot read candle file /nonexistent/candles.csv"),
        "{err}"
    );
}

#[test]
fn files_larger_than_one_block_read_whole_and_report_progress() {
    let mut text = String::from("open_time_ms,open,high,low,close,volume\n");
    let rows = 300_000;
    for i in 0..rows {
        text.push_str(&format!(
            "{},{}.25,{}.5,{}.0,{}.75,1.5\n",
            1_704_067_200_000u64 + i as u64 * 60_000,
            100 + i % 7,
            101 + i % 7,
            99 + i % 7,
            100 + i % 7
        ));
    }
    assert!(
        text.len() > 8 << 20,
        "the file must span several read blocks"
    );
    let file = write_temp(&text);
    let mut reports = Vec::new();
    let candles = read_candle_file(file.path(), |done, total| reports.push((done, total))).unwrap();
    assert_eq!(candles.len(), rows);
    assert_eq!(
        candles.closes()[rows - 1],
        (100 + (rows - 1) % 7) as f64 + 0.75
    );
    assert!(reports.len() >= 2);
    assert_eq!(reports.last().unwrap().0, text.len() as u64);
    // The columns were sized from the file once, not grown by doubling.
    assert!(
        candles.heap_bytes() < rows * 48 * 3 / 2,
        "{} bytes",
        candles.heap_bytes()
    );
}

#[test]
fn rows_in_any_number_format_read_as_str_parse_reads_them() {
    // Plain decimals take the fast path; the others (exponents, spaces, a sign, `5.`, long
    // mantissas) go the general way; a file may mix them, and the values must not show which.
    let rows = [
        "1,30000.00,30014.82,29994.61,30007.31,9.337060",
        "2, 3e4 ,3.0001e4,2.9e4,30000.5,0",
        "3,+1.5,5.5e0,.5,5.,1E-3",
        "4,0.30000000000000004,1.7976931348623157e308,0.3,9007199254740993,123456789012345678901234",
        "5,00001.50,1.50,1.0625,1.125,12345678.12345678",
        "6,1.5,1.5,1.5,1.5,1.5\r",
    ];
    let text = format!("{}\n{}\n", candle_file::NATIVE_HEADER, rows.join("\n"));
    let candles = parse_candles(text.as_bytes(), Path::new("mixed.csv")).unwrap();
    assert_eq!(candles.len(), rows.len());
    for (row, candle) in rows.iter().zip(candles.iter()) {
        let fields: Vec<&str> = row.trim_end_matches('\r').split(',').collect();
        let expected: Vec<u64> = fields[1..]
            .iter()
            .map(|field| field.trim().parse::<f64>().unwrap().to_bits())
            .collect();
        let got = [
            candle.open,
            candle.high,
            candle.low,
            candle.close,
            candle.volume,
        ]
        .map(f64::to_bits);
        assert_eq!(got.as_slice(), expected.as_slice(), "{row}");
    }
}

#[test]
fn a_bad_row_after_good_ones_is_reported_with_its_line() {
    let text = "open_time_ms,open,high,low,close,volume\n1,1.5,1.5,1.5,1.5,1\n2,1.5,1.5,1.5,1.5,1\n3,1.5,0.00,1.5,1.5,1\n";
    let text = error_for(text);
    assert!(
        text.ends_with(":4: column 3 (high): \"0.00\" is not a usable price; prices must be finite and greater than zero"),
        "{text}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic: they parse or give an error naming the source.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(err) = parse_candles(&bytes, Path::new("fuzz.csv")) {
            prop_assert!(err.to_string().contains("fuzz.csv"));
        }
    }

    /// Near-valid rows (digits, commas, dots, signs, newlines) never panic either.
    #[test]
    fn csv_like_text_never_panics(text in "(open_time_ms,open,high,low,close,volume\n)?([0-9.,eE+-]{0,40}\r?\n){0,8}") {
        if let Err(err) = parse_candles(text.as_bytes(), Path::new("fuzz.csv")) {
            prop_assert!(err.to_string().contains("fuzz.csv"));
        }
    }

    /// Valid rows written with full precision read back exactly.
    #[test]
    fn written_candles_read_back_exactly(closes in prop::collection::vec(0.000001f64..1e9, 1..50)) {
        let mut text = String::from("open_time_ms,open,high,low,close,volume\n");
        for (i, close) in closes.iter().enumerate() {
            text.push_str(&format!("{},{close:?},{close:?},{close:?},{close:?},0\n", i));
        }
        let candles = parse_candles(text.as_bytes(), Path::new("t.csv")).unwrap();
        prop_assert_eq!(candles.closes(), closes.as_slice());
    }
}
