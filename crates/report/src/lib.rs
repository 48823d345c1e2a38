//! A backtest's report for people: one self-contained HTML file ([`write_html`]) that opens from
//! disk with nothing fetched: the candles with the strategy's EMAs and RSI and every trade
//! marked, the equity and drawdown curves, a table of monthly returns, the metrics and the trade
//! list, all times in UTC. The chart library is the dashboard's (lightweight-charts, vendored in
//! the `web` crate), inlined with its notice; the page's own script and styles are in `assets/`.
//!
//! [`plot_equity`] draws the equity and drawdown as a PNG for terminals and CI artefacts;
//! [`write_sweep_html`] writes a sweep's heatmap and rows as one static HTML file.
//!
//! The figures are the backtest's own ([`BacktestRun`], [`EquityCurve`]); the report only
//! arranges them (and the monthly returns and drawdowns derived from the equity curve).

mod plot;
mod sweep;

use std::io::{self, Write};

use backtest::{BacktestRun, EquityCurve};
use market::CandleSeries;
use strategy::{EmaRsiCross, EmaRsiCrossParams, Strategy};

pub use plot::{PlotError, plot_equity};
pub use sweep::{SweepReport, write_sweep_html};

/// The most equity points the report draws: a run of millions of candles is thinned to this,
/// keeping each stretch's deepest drawdown.
pub const MAX_EQUITY_POINTS: usize = 5_000;

/// What a report shows.
#[derive(Debug, Clone, Copy)]
pub struct BacktestReport<'a> {
    /// The data's name as the user gave it (a file or directory).
    pub data_name: &'a str,
    /// The strategy's parameters.
    pub params: EmaRsiCrossParams,
    /// The simulated account in words (fee, starting cash, sizing).
    pub account: &'a str,
    /// Every candle of the run.
    pub candles: &'a CandleSeries,
    /// The run.
    pub run: &'a BacktestRun,
    /// The equity at every candle's close.
    pub equity: &'a EquityCurve,
}

/// One calendar year's returns (UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct YearReturns {
    /// The year.
    pub year: i64,
    /// Each month's return (Jan first), `None` for months without candles.
    pub months: [Option<f64>; 12],
    /// The year's return over the months with candles.
    pub total: f64,
}

/// Each UTC month's return from the equity at its last close over the equity at the previous
/// month's (the starting cash for the first), grouped by year.
pub fn monthly_returns(equity: &EquityCurve, starting_cash: f64) -> Vec<YearReturns> {
    let mut years: Vec<YearReturns> = Vec::new();
    let mut month_start_equity = starting_cash;
    let mut points = equity.points.iter().peekable();
    while let Some(&(time_ms, value)) = points.next() {
        let (year, month) = year_month(time_ms);
        let month_ends = points
            .peek()
            .is_none_or(|&&(next_ms, _)| year_month(next_ms) != (year, month));
        if !month_ends {
            continue;
        }
        let change = value / month_start_equity - 1.0;
        month_start_equity = value;
        if years.last().is_none_or(|last| last.year != year) {
            years.push(YearReturns {
                year,
                months: [None; 12],
                total: 0.0,
            });
        }
        let current = years.last_mut().expect("just pushed");
        current.months[month - 1] = Some(change);
        current.total = (1.0 + current.total) * (1.0 + change) - 1.0;
    }
    years
}

/// The UTC year and month (1 to 12) of `ms`.
fn year_month(ms: i64) -> (i64, usize) {
    let (year, month, _) = market::utc_date(ms);
    (year, month as usize)
}

/// `(open_time_ms, equity, drawdown)` thinned to at most [`MAX_EQUITY_POINTS`]: the drawdown is
/// the fall from the highest equity so far, as a share of it; each kept point is the deepest of
/// its stretch, so the worst drawdown always shows.
pub fn equity_with_drawdown(equity: &EquityCurve) -> Vec<(i64, f64, f64)> {
    let mut peak = f64::MIN;
    let full: Vec<(i64, f64, f64)> = equity
        .points
        .iter()
        .map(|&(time, value)| {
            peak = peak.max(value);
            let drawdown = if peak > 0.0 { 1.0 - value / peak } else { 0.0 };
            (time, value, drawdown)
        })
        .collect();
    let stretch = full.len().div_ceil(MAX_EQUITY_POINTS).max(1);
    full.chunks(stretch)
        .filter_map(|chunk| chunk.iter().copied().max_by(|a, b| a.2.total_cmp(&b.2)))
        .collect()
}

/// Writes the report of `report` as one HTML document.
pub fn write_html(out: &mut impl Write, report: &BacktestReport) -> io::Result<()> {
    let data = report_json(report);
    fill(
        out,
        include_str!("../assets/report.html"),
        &[
            ("title", &html_text(&title(report))),
            ("data", &data),
            ("notice", web::CHART_LIBRARY_NOTICE),
            ("library", web::CHART_LIBRARY),
            ("script", include_str!("../assets/report.js")),
        ],
    )
}

fn title(report: &BacktestReport) -> String {
    let p = report.params;
    format!(
        "Backtest: EMA {}/{} RSI {} < {} on {}",
        p.fast, p.slow, p.rsi_period, p.overbought, report.data_name
    )
}

/// Writes `template` with each `{{key}}` replaced by its value; the values are not searched for
/// keys again.
fn fill(out: &mut impl Write, template: &str, values: &[(&str, &str)]) -> io::Result<()> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start..].find("}}") else {
            break;
        };
        let key = &rest[start + 2..start + length];
        out.write_all(&rest.as_bytes()[..start])?;
        match values.iter().find(|(name, _)| *name == key) {
            Some((_, value)) => out.write_all(value.as_bytes())?,
            None => out.write_all(&rest.as_bytes()[start..start + length + 2])?,
        }
        rest = &rest[start + length + 2..];
    }
    out.write_all(rest.as_bytes())
}

/// `text` safe as HTML text.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The report's data as JSON, safe inside a `<script>` element: every `<` (only strings hold
/// any) is written `\u003c`, so nothing in it can end the element or open a comment.
fn report_json(report: &BacktestReport) -> String {
    let summary = &report.run.summary;
    let times = report.candles.open_times_ms();
    let mut json = String::with_capacity(report.candles.len() * 64 + 1024);
    let string = |text: &str| serde_json::to_string(text).expect("a string serialises");
    json.push('{');
    json.push_str(&format!(
        "\"title\":{},\"data\":{},\"strategy\":{},\"account\":{},\"overbought\":{},",
        string(&title(report)),
        string(report.data_name),
        string(&format!(
            "EMA {}/{}, RSI {} below {}",
            report.params.fast,
            report.params.slow,
            report.params.rsi_period,
            report.params.overbought
        )),
        string(report.account),
        report.params.overbought
    ));
    json.push_str(&format!(
        "\"first_ms\":{},\"last_ms\":{},",
        times.first().copied().unwrap_or(0),
        times.last().copied().unwrap_or(0)
    ));
    json.push_str(&format!(
        "\"summary\":{},",
        serde_json::to_string(summary).expect("a summary serialises")
    ));
    json.push_str("\"candles\":[");
    push_candles(&mut json, report);
    json.push_str("],\"trades\":[");
    for (index, trip) in report.run.round_trips.iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "{{\"entry_ms\":{},\"entry_price\":{},\"exit_ms\":{},\"exit_price\":{},\"qty\":{},\"pnl\":{}}}",
            trip.entry_time_ms,
            finite(trip.entry_price),
            trip.exit_time_ms,
            finite(trip.exit_price),
            finite(trip.qty),
            finite(trip.pnl)
        ));
    }
    json.push_str("],\"equity\":[");
    for (index, (time, value, drawdown)) in equity_with_drawdown(report.equity).iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "[{},{},{}]",
            time / 1000,
            finite(*value),
            finite(*drawdown)
        ));
    }
    json.push_str("],\"monthly\":[");
    for (index, year) in monthly_returns(report.equity, summary.starting_cash)
        .iter()
        .enumerate()
    {
        if index > 0 {
            json.push(',');
        }
        let months: Vec<String> = year
            .months
            .iter()
            .map(|month| month.map_or_else(|| "null".to_owned(), finite))
            .collect();
        json.push_str(&format!(
            "{{\"year\":{},\"months\":[{}],\"total\":{}}}",
            year.year,
            months.join(","),
            finite(year.total)
        ));
    }
    json.push_str("]}");
    json.replace('<', "\\u003c")
}

/// Each candle as `[time_s, open, high, low, close, ema_fast, ema_slow, rsi]`, the indicators as
/// the strategy read them after the candle (`null` until defined).
fn push_candles(json: &mut String, report: &BacktestReport) {
    let Ok(mut strategy) = EmaRsiCross::new(report.params) else {
        return;
    };
    let reading = |value: f64| {
        if value.is_finite() {
            format!("{value:.4}")
        } else {
            "null".to_owned()
        }
    };
    for (index, candle) in report.candles.iter().enumerate() {
        strategy.update(&candle);
        let readings = strategy.readings();
        if index > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "[{},{},{},{},{},{},{},{}]",
            candle.open_time_ms / 1000,
            finite(candle.open),
            finite(candle.high),
            finite(candle.low),
            finite(candle.close),
            reading(readings.ema.fast),
            reading(readings.ema.slow),
            reading(readings.rsi)
        ));
    }
}

/// `value` as JSON: a number, or `null` when it is not finite.
fn finite(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "null".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;
    /// 2024-01-01 00:00 UTC.
    const JAN_1: i64 = 1_704_067_200_000;

    #[test]
    fn monthly_returns_compound_month_ends_and_leave_empty_months_empty() {
        let curve = EquityCurve {
            points: vec![
                (JAN_1, 100.0),
                (JAN_1 + 30 * DAY_MS, 110.0),  // Jan 31: +10 %
                (JAN_1 + 31 * DAY_MS, 99.0),   // Feb 1
                (JAN_1 + 59 * DAY_MS, 99.0),   // Feb 29: -10 %
                (JAN_1 + 366 * DAY_MS, 148.5), // 2025-01-01: +50 %
            ],
        };
        let years = monthly_returns(&curve, 100.0);
        assert_eq!(years.len(), 2);
        assert_eq!(years[0].year, 2024);
        assert!((years[0].months[0].unwrap() - 0.10).abs() < 1e-12);
        assert!((years[0].months[1].unwrap() + 0.10).abs() < 1e-12);
        assert_eq!(years[0].months[2], None);
        assert!((years[0].total + 0.01).abs() < 1e-12);
        assert!((years[1].months[0].unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_deepest_drawdown_survives_thinning() {
        let mut points: Vec<(i64, f64)> = (0..20_000)
            .map(|i| (i * 60_000, 100.0 + i as f64))
            .collect();
        points[12_345].1 = 10.0;
        let thinned = equity_with_drawdown(&EquityCurve { points });
        assert!(thinned.len() <= MAX_EQUITY_POINTS);
        let deepest = thinned.iter().map(|p| p.2).fold(0.0, f64::max);
        assert!(
            (deepest - (1.0 - 10.0 / 12_444.0)).abs() < 1e-12,
            "{deepest}"
        );
    }

    #[test]
    fn templates_take_values_once_and_data_cannot_close_its_script() {
        let mut out = Vec::new();
        fill(
            &mut out,
            "a{{x}}b{{y}}c{{z}}",
            &[("x", "{{y}}"), ("y", "2")],
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a{{y}}b2c{{z}}");
        assert_eq!(html_text("<b>&"), "&lt;b&gt;&amp;");

        let mut candles = CandleSeries::with_capacity(2);
        for (index, close) in [100.0, 101.0].into_iter().enumerate() {
            let candle = market::Candle {
                open_time_ms: JAN_1 + index as i64 * 60_000,
                open: close,
                high: close,
                low: close,
                close,
                volume: 1.0,
            };
            candles.push(candle).unwrap();
        }
        let mut strategy = EmaRsiCross::new(EmaRsiCrossParams::default()).unwrap();
        let mut equity = EquityCurve { points: Vec::new() };
        let config = backtest::BacktestConfig::default();
        let run = backtest::run_backtest(&mut strategy, &candles, &config, &mut equity);
        let hostile = "x</script><script>alert(1)</script>.csv";
        let report = BacktestReport {
            data_name: hostile,
            params: EmaRsiCrossParams::default(),
            account: "10000",
            candles: &candles,
            run: &run,
            equity: &equity,
        };
        let mut html = Vec::new();
        write_html(&mut html, &report).unwrap();
        let html = String::from_utf8(html).unwrap();
        assert!(
            !html.contains("<script>alert"),
            "the name never becomes markup"
        );
        assert!(html.contains(r"x\u003c/script>\u003cscript>alert(1)\u003c/script>.csv"));
        assert!(html.contains("&lt;script&gt;alert"), "the title is escaped");
    }
}
