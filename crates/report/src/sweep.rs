//! `spotbot sweep --report FILE`: a sweep as one HTML file, static (no script at all): a heatmap
//! over the two parameters that vary most, each cell the best combination with those two values
//! by the ranking metric, coloured from the worst (red) to the best (green), and below it a row
//! per combination with its figures (and its out-of-sample figures when candles were held out),
//! best first.

use std::collections::BTreeMap;
use std::io::{self, Write};

use backtest::sweep::SweepRow;
use strategy::EmaRsiCrossParams;

use crate::html_text;

/// What a sweep report shows.
#[derive(Debug, Clone, Copy)]
pub struct SweepReport<'a> {
    /// The data's name as the user gave it.
    pub data_name: &'a str,
    /// What the rows are ranked by, in words (`final equity`, `Sharpe`, ...).
    pub metric: &'a str,
    /// Every combination, best first.
    pub rows: &'a [SweepRow],
    /// Each row's score by the metric (larger is better), in the order of `rows`.
    pub scores: &'a [f64],
    /// A line about the held-out candles, when some were.
    pub holdout: Option<&'a str>,
}

/// A parameter of the grid: its name and how to read it from a combination.
type Axis = (&'static str, fn(&EmaRsiCrossParams) -> f64);

const AXES: [Axis; 4] = [
    ("fast", |p| p.fast as f64),
    ("slow", |p| p.slow as f64),
    ("rsi", |p| p.rsi_period as f64),
    ("overbought", |p| p.overbought),
];

/// Writes the sweep report.
pub fn write_sweep_html(out: &mut impl Write, report: &SweepReport) -> io::Result<()> {
    let title = html_text(&format!("Sweep on {}", report.data_name));
    writeln!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>",
        include_str!("../assets/sweep.css")
    )?;
    writeln!(
        out,
        "<p class=\"sub\">{} combinations, ranked by {}.{}</p>",
        report.rows.len(),
        html_text(report.metric),
        report
            .holdout
            .map(|line| {
                let mut chars = line.chars();
                let first = chars.next().map(|c| c.to_uppercase().to_string());
                format!(
                    " {}{}",
                    first.unwrap_or_default(),
                    html_text(chars.as_str())
                )
            })
            .unwrap_or_default()
    )?;
    write_heatmap(out, report)?;
    write_rows(out, report)?;
    writeln!(
        out,
        "</main>\n<footer>Made by spotbot's sweep. Every figure is the backtest's own, as in the CSV.</footer>\n</body>\n</html>"
    )
}

/// The two parameters with the most distinct values (in the grid's order when tied).
fn axes(rows: &[SweepRow]) -> (Axis, Axis) {
    let mut counted: Vec<(usize, usize)> = AXES
        .iter()
        .enumerate()
        .map(|(index, (_, read))| {
            let mut values: Vec<u64> = rows.iter().map(|row| read(&row.params).to_bits()).collect();
            values.sort_unstable();
            values.dedup();
            (index, values.len())
        })
        .collect();
    counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let (first, second) = (
        counted[0].0.min(counted[1].0),
        counted[0].0.max(counted[1].0),
    );
    (AXES[first], AXES[second])
}

fn write_heatmap(out: &mut impl Write, report: &SweepReport) -> io::Result<()> {
    let ((x_name, x_of), (y_name, y_of)) = axes(report.rows);
    // The best score of each (x, y) cell, keyed by the values' bits (they are finite).
    let mut cells: BTreeMap<(u64, u64), f64> = BTreeMap::new();
    for (row, &score) in report.rows.iter().zip(report.scores) {
        let key = (x_of(&row.params).to_bits(), y_of(&row.params).to_bits());
        let best = cells.entry(key).or_insert(f64::NEG_INFINITY);
        *best = best.max(score);
    }
    let values = |read: fn(&EmaRsiCrossParams) -> f64| {
        let mut values: Vec<f64> = report.rows.iter().map(|row| read(&row.params)).collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        values
    };
    let (xs, ys) = (values(x_of), values(y_of));
    let finite: Vec<f64> = cells.values().copied().filter(|v| v.is_finite()).collect();
    let low = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let high = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    writeln!(
        out,
        "<section class=\"panel\"><h2>Best {} by {x_name} (across) and {y_name} (down)</h2><div class=\"wrap\"><table class=\"heatmap\"><tr><th>{y_name} \\ {x_name}</th>",
        html_text(report.metric)
    )?;
    for x in &xs {
        write!(out, "<th>{x}</th>")?;
    }
    writeln!(out, "</tr>")?;
    for y in &ys {
        write!(out, "<tr><th>{y}</th>")?;
        for x in &xs {
            match cells.get(&(x.to_bits(), y.to_bits())) {
                Some(score) if score.is_finite() => write!(
                    out,
                    "<td style=\"background:{}\" title=\"{x_name} {x}, {y_name} {y}\">{}</td>",
                    colour(*score, low, high),
                    short(*score)
                )?,
                Some(_) => write!(out, "<td class=\"empty\">n/a</td>")?,
                None => write!(out, "<td class=\"empty\"></td>")?,
            }
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</table></div></section>")
}

fn write_rows(out: &mut impl Write, report: &SweepReport) -> io::Result<()> {
    let holdout = report.rows.iter().any(|row| row.out_of_sample.is_some());
    write!(
        out,
        "<section class=\"panel\"><h2>Every combination, best first</h2><div class=\"wrap rows\"><table><tr><th>#</th><th>fast</th><th>slow</th><th>rsi</th><th>overbought</th><th>trips</th><th>final equity</th><th>return</th><th>max dd</th><th>win rate</th><th>profit factor</th><th>Sharpe</th>"
    )?;
    if holdout {
        write!(
            out,
            "<th>oos trips</th><th>oos final equity</th><th>oos return</th><th>oos max dd</th><th>oos Sharpe</th>"
        )?;
    }
    writeln!(out, "</tr>")?;
    let optional = |value: Option<f64>, digits: usize| {
        value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
    };
    for (rank, row) in report.rows.iter().enumerate() {
        let (p, s) = (&row.params, &row.summary);
        write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2} %</td><td>{:.2} %</td><td>{}</td><td>{}</td><td>{}</td>",
            rank + 1,
            p.fast,
            p.slow,
            p.rsi_period,
            p.overbought,
            s.round_trips,
            s.final_equity,
            s.total_return * 100.0,
            s.max_drawdown * 100.0,
            optional(s.win_rate.map(|w| w * 100.0), 2),
            optional(s.profit_factor, 3),
            optional(s.sharpe, 3)
        )?;
        if let Some(o) = &row.out_of_sample {
            write!(
                out,
                "<td>{}</td><td>{:.2}</td><td>{:.2} %</td><td>{:.2} %</td><td>{}</td>",
                o.round_trips,
                o.final_equity,
                o.total_return * 100.0,
                o.max_drawdown * 100.0,
                optional(o.sharpe, 3)
            )?;
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</table></div></section>")
}

/// A score in a few characters.
fn short(score: f64) -> String {
    if score.abs() >= 1_000.0 {
        format!("{score:.0}")
    } else {
        format!("{score:.2}")
    }
}

/// `score`'s colour between red (`low`) and green (`high`), light enough for dark text.
fn colour(score: f64, low: f64, high: f64) -> String {
    let share = if high > low {
        (score - low) / (high - low)
    } else {
        1.0
    };
    let hue = 120.0 * share.clamp(0.0, 1.0);
    format!("hsl({hue:.0} 70% 78%)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use backtest::Summary;

    fn row(fast: usize, slow: usize, final_equity: f64) -> SweepRow {
        SweepRow {
            params: EmaRsiCrossParams {
                fast,
                slow,
                rsi_period: 14,
                overbought: 70.0,
            },
            summary: Summary {
                candles: 100,
                round_trips: 3,
                starting_cash: 100.0,
                final_equity,
                total_return: final_equity / 100.0 - 1.0,
                total_fees: 1.0,
                max_drawdown: 0.1,
                win_rate: Some(0.5),
                profit_factor: None,
                sharpe: Some(1.0),
                exposure: 0.5,
                ends_in_position: false,
                skipped_orders: 0,
            },
            out_of_sample: None,
        }
    }

    #[test]
    fn the_heatmap_spans_the_two_varying_parameters_and_keeps_each_cells_best() {
        let rows = [
            row(5, 21, 120.0),
            row(9, 21, 80.0),
            row(5, 30, 100.0),
            row(9, 30, 90.0),
        ];
        let scores: Vec<f64> = rows.iter().map(|r| r.summary.final_equity).collect();
        let report = SweepReport {
            data_name: "<data>.csv",
            metric: "final equity",
            rows: &rows,
            scores: &scores,
            holdout: None,
        };
        let mut html = Vec::new();
        write_sweep_html(&mut html, &report).unwrap();
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains("Best final equity by fast (across) and slow (down)"));
        assert!(html.contains("title=\"fast 5, slow 21\">120.00</td>"));
        assert!(html.contains("hsl(120 70% 78%)") && html.contains("hsl(0 70% 78%)"));
        assert!(html.contains("Sweep on &lt;data&gt;.csv") && !html.contains("<data>"));
        assert!(!html.contains("<script"), "static");
    }
}
