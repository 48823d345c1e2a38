//! Backtests and sweeps on data in the formats traders have, through the `spotbot` binary: the
//! shared 100k-candle file cut into Binance's monthly public-data archives (the layout of
//! data.binance.vision: `BTCUSDT-1m-YYYY-MM.zip` holding its CSV of 12 columns without a header,
//! and a `.CHECKSUM` beside it) gives the very figures of the CSV; a missing month is reported
//! with its dates; a damaged archive stops the run; a sweep holds out its last fifth and shows
//! both figures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_file::testing::write_kline_archive;

fn spotbot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spotbot"))
        .args(args)
        .output()
        .expect("spotbot runs")
}

fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/candles-100k.csv")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The shared file's rows as Binance kline rows, grouped by calendar month (`YYYY-MM`).
fn months() -> Vec<(String, String)> {
    let csv = std::fs::read_to_string(shared_data()).unwrap();
    let mut months: Vec<(String, String)> = Vec::new();
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let open: i64 = fields[0].parse().unwrap();
        let month = market::format_utc_ms(open)[..7].to_owned();
        let row = format!(
            "{open},{},{},{},{},{},{},0,0,0,0,0\n",
            fields[1],
            fields[2],
            fields[3],
            fields[4],
            fields[5],
            open + 59_999
        );
        match months.last_mut() {
            Some((last, rows)) if *last == month => rows.push_str(&row),
            _ => months.push((month, row)),
        }
    }
    months
}

fn backtest_json(data: &Path) -> serde_json::Value {
    let output = spotbot(&["backtest", "--data", data.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report.as_object_mut().unwrap().remove("data");
    report
}

#[test]
fn binance_archives_give_the_figures_of_the_csv_and_their_gaps_are_dated() {
    let months = months();
    assert!(
        months.len() >= 3,
        "the shared file spans {} months",
        months.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let archives: Vec<PathBuf> = months
        .iter()
        .map(|(month, rows)| write_kline_archive(dir.path(), &format!("BTCUSDT-1m-{month}"), rows))
        .collect();
    assert_eq!(backtest_json(dir.path()), backtest_json(&shared_data()));
    // One archive alone reads too.
    let one = backtest_json(&archives[0]);
    assert_eq!(one["candles"], months[0].1.lines().count());

    // A month missing: the run goes on and says which dates are missing.
    std::fs::remove_file(&archives[1]).unwrap();
    let output = spotbot(&["backtest", "--data", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let gap = format!(
        "candles missing between BTCUSDT-1m-{}.zip (last candle {}-",
        months[0].0, months[0].0
    );
    assert!(stderr.contains(&gap), "{stderr}");
    assert!(
        stderr.contains(&format!("and BTCUSDT-1m-{}.zip (next candle", months[2].0)),
        "{stderr}"
    );

    // A damaged download stops the run, exit 1, saying what to do.
    let mut bytes = std::fs::read(&archives[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&archives[0], bytes).unwrap();
    let output = spotbot(&["backtest", "--data", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("fetch it again"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_sweep_holds_out_its_last_fifth_and_shows_both_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep.csv");
    let data = shared_data();
    let output = spotbot(&[
        "sweep",
        "--data",
        data.to_str().unwrap(),
        "--fast",
        "5,9",
        "--slow",
        "21",
        "--holdout",
        "20%",
        "--out",
        out.to_str().unwrap(),
        "--report",
        dir.path().join("sweep.html").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("in sample: 80000 candles, 2024-01-01 00:00:00 UTC to"),
        "{stdout}"
    );
    assert!(
        stdout.contains("out of sample (held out): 20000 candles"),
        "{stdout}"
    );
    assert!(stdout.contains("oos final equity"), "{stdout}");
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(
        header.ends_with(backtest::output::SWEEP_HOLDOUT_HEADER),
        "{header}"
    );
    let columns = header.split(',').count();
    assert_eq!(lines.clone().count(), 2);
    assert!(lines.all(|line| line.split(',').count() == columns));

    let html = std::fs::read_to_string(dir.path().join("sweep.html")).unwrap();
    assert!(
        html.contains("Best final equity by fast (across) and slow (down)"),
        "a heatmap"
    );
    assert!(
        html.contains("<th>oos final equity</th>") && html.contains("out of sample (held out)")
    );
    assert_eq!(html.matches("<tr><td>").count(), 2, "a row per combination");

    for bad in ["0%", "95%", "lots"] {
        let output = spotbot(&["sweep", "--data", data.to_str().unwrap(), "--holdout", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(
            text(&output.stderr).contains("--holdout"),
            "{}",
            text(&output.stderr)
        );
    }
}

/// Where Debian's Chromium is (scripts/test installs it).
const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn the_report_is_one_file_that_draws_itself_in_a_browser_from_disk_and_the_plot_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let plot = dir.path().join("equity.png");
    let data = shared_data();
    let output = spotbot(&[
        "backtest",
        "--data",
        data.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // The plot: a PNG of the picture's size (1200 x 700).
    let png = std::fs::read(&plot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[16..24], &[0, 0, 4, 176, 0, 0, 2, 188]);
    let html = std::fs::read_to_string(&report).unwrap();
    // Nothing to fetch: no external script, style, image or frame.
    for fetch in [
        "src=\"http",
        "href=\"http",
        "<link",
        "<iframe",
        "@import",
        "url(http",
    ] {
        let allowed = fetch == "href=\"http" && html.matches(fetch).count() == 1;
        assert!(
            !html.contains(fetch) || allowed,
            "the report fetches something: {fetch}"
        );
    }
    assert!(
        html.contains("\"round_trips\":2334"),
        "the figures are the backtest's"
    );

    if !std::path::Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("SPOTBOT_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "{CHROMIUM} is missing: install Debian's chromium"
        );
        eprintln!("skipped the browser half: {CHROMIUM} is missing");
        return;
    }
    let profile = tempfile::tempdir().unwrap();
    let dom = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.path().display()),
            "--virtual-time-budget=10000",
            "--dump-dom",
            &format!("file://{}", report.display()),
        ])
        .output()
        .unwrap();
    let dom = text(&dom.stdout);
    assert!(
        dom.contains("data-drawn=\"yes\""),
        "the report's script did not finish:\n{}",
        &dom[..dom.len().min(2000)]
    );
    // Every round trip in the table, dated in UTC; the monthly returns of the data's months.
    let trades_table = &dom[dom.find("id=\"trades\"").unwrap()..];
    assert_eq!(trades_table.matches("<tr>").count(), 2334 + 1);
    assert!(trades_table.contains("2024-01-01 "), "UTC dates");
    let months_table = &dom[dom.find("id=\"months\"").unwrap()..dom.find("id=\"trades\"").unwrap()];
    assert!(months_table.contains("<td>2024</td>"), "{months_table}");
}
