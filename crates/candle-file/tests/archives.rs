//! Binance's public-data kline archives, built here in the layout data.binance.vision publishes
//! (`SYMBOL-INTERVAL-YYYY-MM.zip` holding `SYMBOL-INTERVAL-YYYY-MM.csv`, 12 columns, no header,
//! open times in milliseconds or, since 2025, microseconds; a `.CHECKSUM` beside it holding
//! `<sha256>  <name>`): read like the CSV inside, verified against the checksum, joined in time
//! order from a directory with gaps reported by date, and refused when damaged, overlapping or of
//! mixed intervals.

use std::io::Write;

use candle_file::testing::write_kline_archive as archive;
use candle_file::{CandleFileError, load_candles, read_candle_file};

const MINUTE_MS: i64 = 60_000;

/// Binance kline rows, one a minute from `start_ms`, in milliseconds or microseconds.
fn klines(start_ms: i64, count: i64, microseconds: bool) -> String {
    (0..count)
        .map(|i| {
            let open = start_ms + i * MINUTE_MS;
            let scale = if microseconds { 1_000 } else { 1 };
            let price = 42_000 + i;
            format!(
                "{},{price}.10,{price}.90,{price}.00,{price}.50,1.25,{},52500.0,10,0.6,25200.0,0\n",
                open * scale,
                (open + MINUTE_MS - 1) * scale
            )
        })
        .collect()
}

fn message(error: CandleFileError) -> String {
    error.to_string()
}

/// 2024-01-31 23:57 UTC.
const END_OF_JANUARY: i64 = 1_706_745_420_000;
/// 2024-03-01 00:00 UTC.
const MARCH_FIRST: i64 = 1_709_251_200_000;

#[test]
fn an_archive_with_its_checksum_reads_like_the_csv_inside() {
    let dir = tempfile::tempdir().unwrap();
    let csv = klines(END_OF_JANUARY, 3, false);
    let zip = archive(dir.path(), "BTCUSDT-1m-2024-01", &csv);
    let plain = dir.path().join("plain.csv");
    std::fs::write(&plain, &csv).unwrap();

    let loaded = load_candles(&zip, |_, _| {}).unwrap();
    assert_eq!(loaded.series, read_candle_file(&plain, |_, _| {}).unwrap());
    assert_eq!(loaded.series.len(), 3);
    assert_eq!(loaded.files, [zip]);
    assert!(loaded.gaps.is_empty());
}

#[test]
fn a_damaged_download_is_refused_with_both_digests() {
    let dir = tempfile::tempdir().unwrap();
    let zip = archive(
        dir.path(),
        "BTCUSDT-1m-2024-01",
        &klines(END_OF_JANUARY, 3, false),
    );
    let mut bytes = std::fs::read(&zip).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&zip, bytes).unwrap();
    let error = message(load_candles(&zip, |_, _| {}).unwrap_err());
    assert!(
        error.contains("BTCUSDT-1m-2024-01.zip.CHECKSUM says"),
        "{error}"
    );
    assert!(error.contains("fetch it again"), "{error}");

    // A checksum naming another file is no checksum of this one.
    let other = archive(
        dir.path(),
        "ETHUSDT-1m-2024-01",
        &klines(END_OF_JANUARY, 3, false),
    );
    std::fs::write(
        dir.path().join("ETHUSDT-1m-2024-01.zip.CHECKSUM"),
        "00  BTCUSDT-1m-2024-01.zip\n",
    )
    .unwrap();
    let error = message(load_candles(&other, |_, _| {}).unwrap_err());
    assert!(error.contains("names BTCUSDT-1m-2024-01.zip"), "{error}");
}

#[test]
fn a_directory_is_joined_in_time_order_with_its_gaps_dated() {
    let dir = tempfile::tempdir().unwrap();
    // Named so that their names sort against time; March's in microseconds, as 2025's files are.
    let january = archive(dir.path(), "b-january", &klines(END_OF_JANUARY, 3, false));
    let march = archive(dir.path(), "a-march", &klines(MARCH_FIRST, 2, true));
    let march_days = dir.path().join("c-march-days.csv");
    std::fs::write(&march_days, klines(MARCH_FIRST + 2 * MINUTE_MS, 2, false)).unwrap();
    std::fs::write(dir.path().join("README.txt"), "not candles").unwrap();

    let mut progress = Vec::new();
    let loaded = load_candles(dir.path(), |done, total| progress.push((done, total))).unwrap();
    assert_eq!(loaded.files, [january.clone(), march.clone(), march_days]);
    let opens = loaded.series.open_times_ms();
    assert_eq!(opens.len(), 7);
    assert!(opens.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!((opens[0], opens[3]), (END_OF_JANUARY, MARCH_FIRST));
    assert_eq!(loaded.gaps.len(), 1);
    let gap = &loaded.gaps[0];
    assert_eq!((&gap.before, &gap.after), (&january, &march));
    assert_eq!(
        gap.missing,
        (MARCH_FIRST - (END_OF_JANUARY + 2 * MINUTE_MS)) / MINUTE_MS - 1
    );
    assert_eq!(
        gap.to_string(),
        format!(
            "{} candles missing between b-january.zip (last candle 2024-01-31 23:59:00 UTC) and a-march.zip (next candle 2024-03-01 00:00:00 UTC)",
            gap.missing
        )
    );
    assert!(progress.last().is_some_and(|(done, total)| done <= total));
}

#[test]
fn overlaps_mixed_intervals_and_odd_archives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    archive(
        dir.path(),
        "BTCUSDT-1m-2024-01",
        &klines(END_OF_JANUARY, 3, false),
    );
    archive(
        dir.path(),
        "BTCUSDT-1m-2024-01-31",
        &klines(END_OF_JANUARY + MINUTE_MS, 3, false),
    );
    let error = message(load_candles(dir.path(), |_, _| {}).unwrap_err());
    assert!(
        error.contains("BTCUSDT-1m-2024-01.zip and BTCUSDT-1m-2024-01-31.zip overlap"),
        "{error}"
    );
    assert!(
        error.contains(
            "runs to 2024-01-31 23:59:00 UTC, the second starts at 2024-01-31 23:58:00 UTC"
        ),
        "{error}"
    );

    let mixed = tempfile::tempdir().unwrap();
    archive(
        mixed.path(),
        "one-minute",
        &klines(END_OF_JANUARY, 3, false),
    );
    let hourly: String = (0..3)
        .map(|i| {
            format!(
                "{},1,2,0.5,1.5,1,0,0,0,0,0,0\n",
                MARCH_FIRST + i * 3_600_000
            )
        })
        .collect();
    archive(mixed.path(), "one-hour", &hourly);
    let error = message(load_candles(mixed.path(), |_, _| {}).unwrap_err());
    assert!(
        error.contains("3600 s apart, but one-minute.zip's are 60 s"),
        "{error}"
    );

    let odd = tempfile::tempdir().unwrap();
    let two = odd.path().join("two.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&two).unwrap());
    for name in ["a.csv", "b.csv"] {
        writer
            .start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer
            .write_all(klines(END_OF_JANUARY, 1, false).as_bytes())
            .unwrap();
    }
    writer.finish().unwrap();
    let error = message(load_candles(&two, |_, _| {}).unwrap_err());
    assert!(error.contains("holds 2 CSV files"), "{error}");
    let not_zip = odd.path().join("fake.zip");
    std::fs::write(&not_zip, "hello").unwrap();
    assert!(message(load_candles(&not_zip, |_, _| {}).unwrap_err()).contains("not a zip archive"));
    let empty = tempfile::tempdir().unwrap();
    assert!(
        message(load_candles(empty.path(), |_, _| {}).unwrap_err())
            .contains("holds no candle file")
    );
    // A bad row inside an archive is named by archive, entry and line.
    let bad = archive(odd.path(), "bad", "1706745420000,1,2,0.5,x,1,0,0,0,0,0,0\n");
    let error = message(load_candles(&bad, |_, _| {}).unwrap_err());
    assert!(error.contains("bad.zip/bad.csv:1"), "{error}");
}
