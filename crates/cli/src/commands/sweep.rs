//! `spotbot sweep`: backtest a grid of EMA/RSI parameters in parallel, print the best and write
//! every result to CSV.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use backtest::Summary;
use backtest::output::write_sweep;
use backtest::sweep::{SweepGrid, SweepRow, ValueList, run_sweep_with_holdout};
use clap::{Args, ValueEnum};

use crate::Failure;
use crate::progress::count_bar;
use crate::strategy_args::AccountArgs;

/// Long help for `spotbot sweep --help`.
pub const LONG_ABOUT: &str = "\
Backtest every combination of EMA/RSI parameters over one candle file, on all cores.

Each parameter takes a single value (9), an inclusive range (5..20), a range with a step
(60..80:5) or a list (9,12,21). Combinations with fast >= slow are skipped. Every indicator series
is computed once and shared by all combinations that use it; each combination then runs through
the same engine and rule as `spotbot backtest`, so their figures agree exactly.

--holdout 20% keeps the last fifth of the candles out of the search: every combination runs on
the first part (in sample, which ranks them) and, apart, on the held-out part (out of sample: a
fresh account, the indicators primed by the candles before it), and both figures are shown side
by side. A combination that shines in sample and fades out of sample was fitted to noise.

Examples:
  spotbot sweep --data candles.csv --fast 5..20 --slow 20..60:5 --rsi 7,14,21 --overbought 60..80:5
  spotbot sweep --data binance/ --fast 5..20 --slow 20..60:5 --holdout 20% --report sweep.html";

/// The statistic to rank combinations by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RankBy {
    /// Highest final equity first.
    FinalEquity,
    /// Highest annualised daily Sharpe ratio first.
    Sharpe,
    /// Highest profit factor first.
    ProfitFactor,
    /// Highest share of winning round trips first.
    WinRate,
    /// Smallest maximum drawdown first.
    MaxDrawdown,
}

impl RankBy {
    /// The statistic's name, for people.
    fn words(self) -> &'static str {
        match self {
            RankBy::FinalEquity => "final equity",
            RankBy::Sharpe => "Sharpe ratio",
            RankBy::ProfitFactor => "profit factor",
            RankBy::WinRate => "win rate",
            RankBy::MaxDrawdown => "smallest drawdown (negated)",
        }
    }

    /// The statistic, oriented so that larger is better; undefined ranks last.
    fn score(self, row: &SweepRow) -> f64 {
        let summary = &row.summary;
        let value = match self {
            RankBy::FinalEquity => Some(summary.final_equity),
            RankBy::Sharpe => summary.sharpe,
            RankBy::ProfitFactor => summary.profit_factor,
            RankBy::WinRate => summary.win_rate,
            RankBy::MaxDrawdown => Some(-summary.max_drawdown),
        };
        value.filter(|v| !v.is_nan()).unwrap_or(f64::NEG_INFINITY)
    }
}

/// Options of `spotbot sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    account: AccountArgs,

    /// Fast EMA periods.
    #[arg(long, default_value = "9", value_name = "RANGE")]
    fast: ValueList<usize>,
    /// Slow EMA periods.
    #[arg(long, default_value = "21", value_name = "RANGE")]
    slow: ValueList<usize>,
    /// RSI periods.
    #[arg(long, default_value = "14", value_name = "RANGE")]
    rsi: ValueList<usize>,
    /// Overbought levels.
    #[arg(long, default_value = "70", value_name = "RANGE")]
    overbought: ValueList<f64>,

    /// How to rank the combinations.
    #[arg(long, value_enum, default_value_t = RankBy::FinalEquity)]
    rank_by: RankBy,

    /// How many of the best combinations to print.
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,

    /// CSV file that receives every combination's results.
    #[arg(long, default_value = "sweep-results.csv", value_name = "FILE")]
    out: PathBuf,

    /// Write a report to this HTML file: a heatmap over the two parameters that vary most (each
    /// cell the best of its combinations by --rank-by) and a row per combination, best first.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// Hold out the last part of the candles, e.g. `20%` (1 to 90 %): combinations are ranked
    /// on the rest and their figures on the held-out part are shown beside.
    #[arg(long, value_name = "PERCENT", value_parser = parse_holdout)]
    holdout: Option<u8>,

    /// Worker threads, 1 to 256 (default: one per core; more than the cores only adds
    /// switching).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS))]
    threads: Option<u16>,
}

/// The most worker threads `--threads` takes.
const MAX_THREADS: i64 = 256;

/// `20%` or `20`: a share of the candles from 1 to 90 %.
fn parse_holdout(text: &str) -> Result<u8, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<u8>() {
        Ok(percent) if (1..=90).contains(&percent) => Ok(percent),
        _ => Err(format!(
            "{text:?} is not a share to hold out: give a whole percentage from 1 to 90, e.g. 20%"
        )),
    }
}

/// The first held-out candle when `percent` of `len` candles are held out, or why that leaves a
/// part empty.
fn holdout_start(len: usize, percent: u8) -> Result<usize, Failure> {
    let held_out = len * usize::from(percent) / 100;
    if held_out == 0 || held_out == len {
        return Err(Failure::Usage(format!(
            "--holdout {percent}% of {len} candles leaves a part without candles: use more candles or another share"
        )));
    }
    Ok(len - held_out)
}

/// Runs the command.
pub fn run(args: SweepArgs) -> Result<(), Failure> {
    let grid = SweepGrid {
        fast: args.fast.0,
        slow: args.slow.0,
        rsi_period: args.rsi.0,
        overbought: args.overbought.0,
    };
    let combinations = grid
        .combinations(backtest::sweep::MAX_COMBINATIONS)
        .map_err(|err| Failure::Usage(err.to_string()))?;
    if combinations.is_empty() {
        return Err(Failure::Usage(
            "no combination has fast < slow; widen --fast or --slow".to_owned(),
        ));
    }
    let config = args.account.config()?;
    let candles = args.account.load_candles()?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.map_or(0, usize::from))
        .build()
        .context("cannot start the worker threads")?;
    let holdout_from = args
        .holdout
        .map(|percent| holdout_start(candles.len(), percent))
        .transpose()?;
    let bar = count_bar(combinations.len() as u64, "backtesting combinations");
    let started = Instant::now();
    let mut rows = pool.install(|| {
        run_sweep_with_holdout(&candles, &config, &combinations, holdout_from, &|done| {
            bar.set_position(done as u64)
        })
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    let file =
        File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut out = BufWriter::new(file);
    write_sweep(&mut out, &rows)
        .and_then(|()| out.flush())
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    rows.sort_by(|a, b| {
        args.rank_by
            .score(b)
            .partial_cmp(&args.rank_by.score(a))
            .unwrap_or(Ordering::Equal)
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(
        out,
        "{} combinations x {} candles in {:.2} s ({:.0} M candles/s); all results in {}",
        combinations.len(),
        candles.len(),
        elapsed.as_secs_f64(),
        combinations.len() as f64 * candles.len() as f64 / elapsed.as_secs_f64() / 1e6,
        args.out.display()
    )?;
    let holdout_line = holdout_from.map(|from| {
        let opens = candles.open_times_ms();
        format!(
            "in sample: {} candles, {} to {}; out of sample (held out): {} candles, {} to {}",
            from,
            market::format_utc_ms(opens[0]),
            market::format_utc_ms(opens[from - 1]),
            opens.len() - from,
            market::format_utc_ms(opens[from]),
            market::format_utc_ms(opens[opens.len() - 1])
        )
    });
    if let Some(line) = &holdout_line {
        writeln!(out, "{line}")?;
    }
    if let Some(path) = &args.report {
        let scores: Vec<f64> = rows.iter().map(|row| args.rank_by.score(row)).collect();
        let data_name = args.account.data.display().to_string();
        let report = report::SweepReport {
            data_name: &data_name,
            metric: args.rank_by.words(),
            rows: &rows,
            scores: &scores,
            holdout: holdout_line.as_deref(),
        };
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = BufWriter::new(file);
        report::write_sweep_html(&mut writer, &report)
            .and_then(|()| writer.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(out, "report with the heatmap in {}", path.display())?;
    }
    let held_out = holdout_from.is_some();
    let mut header = format!(
        "{:>5} {:>5} {:>5} {:>10} {:>7} {:>18} {:>9} {:>9} {:>8} {:>8}",
        "fast",
        "slow",
        "rsi",
        "overbought",
        "trips",
        "final equity",
        "max dd",
        "win rate",
        "pf",
        "sharpe"
    );
    if held_out {
        header.push_str(&format!(
            " | {:>9} {:>18} {:>9} {:>8}",
            "oos trips", "oos final equity", "oos dd", "oos sh."
        ));
    }
    writeln!(out, "{header}")?;
    for row in rows.iter().take(args.top) {
        let mut line = format!(
            "{:>5} {:>5} {:>5} {:>10} {}",
            row.params.fast,
            row.params.slow,
            row.params.rsi_period,
            row.params.overbought,
            columns(&row.summary)
        );
        if let Some(oos) = &row.out_of_sample {
            line.push_str(&format!(
                " | {:>9} {:>18.6} {:>8.2}% {:>8}",
                oos.round_trips,
                oos.final_equity,
                oos.max_drawdown * 100.0,
                show(oos.sharpe, 3)
            ));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// `value` with `decimals`, or `n/a` when undefined.
fn show(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.decimals$}"))
}

/// A summary's columns of the table.
fn columns(s: &Summary) -> String {
    format!(
        "{:>7} {:>18.6} {:>8.2}% {:>9} {:>8} {:>8}",
        s.round_trips,
        s.final_equity,
        s.max_drawdown * 100.0,
        show(s.win_rate.map(|w| w * 100.0), 2),
        show(s.profit_factor, 3),
        show(s.sharpe, 3),
    )
}
