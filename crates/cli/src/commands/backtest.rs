//! `spotbot backtest`: one strategy over one candle file, with a readable or JSON summary and
//! optional trade list and equity curve files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use backtest::{EquityCurve, NoObserver, Summary, output, run_backtest};
use clap::Args;
use strategy::{EmaRsiCross, EmaRsiCrossParams};

use crate::Failure;
use crate::strategy_args::AccountArgs;

/// Long help for `spotbot backtest --help`.
pub const LONG_ABOUT: &str = "\
Replay a candle file through the EMA/RSI cross strategy, the same code the live bots run.

Each signal fills at its candle's close with the fee charged on the notional (with --fill book, on
spotbot sim's synthetic book around the close, as a paper bot's MARKET order does). BUY when flat
and EMA(fast) crosses above EMA(slow) with RSI below --overbought; SELL when long and EMA(fast)
crosses below EMA(slow) or RSI rises above --overbought. Indicators follow TA-Lib's definitions.

--data takes a candle CSV, one of Binance's public-data kline archives as data.binance.vision
publishes them (monthly or daily .zip, verified against the .CHECKSUM beside it), or a directory
of them: files are joined in time order, overlaps are refused and gaps are reported with their
dates.

--report report.html writes a report to share: one HTML file with the candle chart, indicators
and trades, the equity and drawdown, monthly returns, the metrics and every trade in UTC.

Examples:
  spotbot backtest --data candles.csv --fast 9 --slow 21 --rsi 14 --trades-out trades.csv
  spotbot backtest --data candles.csv --report report.html
  spotbot backtest --data candles.csv --quote-per-trade 100 --rules btcusdt.json --fill book
  spotbot backtest --data binance/BTCUSDT-1m-2024-01.zip
  spotbot backtest --data binance/          # every BTCUSDT-1m-*.zip in it, in order";

/// Strategy parameters of the EMA/RSI cross.
#[derive(Debug, Args)]
pub struct StrategyParamArgs {
    /// Fast EMA period (candles).
    #[arg(long, default_value_t = 9, value_name = "N")]
    pub fast: usize,
    /// Slow EMA period (candles); must be larger than --fast.
    #[arg(long, default_value_t = 21, value_name = "N")]
    pub slow: usize,
    /// RSI period (candles).
    #[arg(long, default_value_t = 14, value_name = "N")]
    pub rsi: usize,
    /// RSI level above which the market counts as overbought (0-100).
    #[arg(
        long,
        default_value_t = 70.0,
        value_name = "LEVEL",
        allow_negative_numbers = true
    )]
    pub overbought: f64,
}

/// Options of `spotbot backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    account: AccountArgs,

    #[command(flatten)]
    params: StrategyParamArgs,

    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    json: bool,

    /// Write every round trip to this CSV file
    /// (entry_time_ms,entry_price,exit_time_ms,exit_price,qty,exit_qty,pnl,entry_time,exit_time; the last
    /// two in UTC).
    #[arg(long, value_name = "FILE")]
    trades_out: Option<PathBuf>,

    /// Write the equity at every candle's close to this CSV file (open_time_ms,equity,open_time;
    /// the last in UTC).
    #[arg(long, value_name = "FILE")]
    equity_out: Option<PathBuf>,

    /// Write a report to this HTML file: the candles with the indicators and every trade, the
    /// equity and drawdown, the monthly returns, the metrics and the trades, in one file that
    /// opens from disk (nothing is fetched).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// Draw the equity and drawdown curves into this PNG file (for a terminal or a CI
    /// artefact).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: BacktestArgs) -> Result<(), Failure> {
    let params = EmaRsiCrossParams {
        fast: args.params.fast,
        slow: args.params.slow,
        rsi_period: args.params.rsi,
        overbought: args.params.overbought,
    };
    let mut strategy = EmaRsiCross::new(params).map_err(|err| Failure::Usage(err.to_string()))?;
    let config = args.account.config()?;
    let candles = args.account.load_candles()?;

    let run = if args.equity_out.is_some() || args.report.is_some() || args.plot.is_some() {
        let mut curve = EquityCurve {
            points: Vec::with_capacity(candles.len()),
        };
        let run = run_backtest(&mut strategy, &candles, &config, &mut curve);
        if let Some(path) = &args.equity_out {
            write_file(path, |out| output::write_equity(out, &curve))?;
        }
        if let Some(path) = &args.report {
            let data_name = args.account.data.display().to_string();
            let account = account_words(&config);
            let report = report::BacktestReport {
                data_name: &data_name,
                params,
                account: &account,
                candles: &candles,
                run: &run,
                equity: &curve,
            };
            write_file(path, |out| report::write_html(out, &report))?;
            eprintln!("spotbot: report written to {}", path.display());
        }
        if let Some(path) = &args.plot {
            let title = format!(
                "EMA {}/{} RSI {} < {} on {}",
                params.fast,
                params.slow,
                params.rsi_period,
                params.overbought,
                args.account.data.display()
            );
            report::plot_equity(path, &title, &curve).map_err(anyhow::Error::from)?;
            eprintln!("spotbot: equity and drawdown drawn in {}", path.display());
        }
        run
    } else {
        run_backtest(&mut strategy, &candles, &config, &mut NoObserver)
    };
    if let Some(path) = &args.trades_out {
        write_file(path, |out| output::write_trades(out, &run.round_trips))?;
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        // The summary's fields at the top level, plus what was run on what.
        let mut report = serde_json::to_value(&run.summary).context("serialising the summary")?;
        report["strategy"] = serde_json::json!({
            "name": "ema_rsi_cross",
            "fast": params.fast,
            "slow": params.slow,
            "rsi_period": params.rsi_period,
            "overbought": params.overbought,
        });
        report["data"] = serde_json::json!(args.account.data);
        report["fill"] = serde_json::json!(match config.fill {
            backtest::Fill::Close => "close",
            backtest::Fill::Book(_) => "book",
        });
        writeln!(out, "{report}")?;
    } else {
        print_summary(
            &mut out,
            &args.account.data,
            &params,
            &run.summary,
            run.skipped.first(),
        )?;
    }
    Ok(())
}

/// The simulated account in words, for the report.
fn account_words(config: &backtest::BacktestConfig) -> String {
    let sizing = match config.sizing {
        backtest::Sizing::AllIn => "all the cash on every BUY".to_owned(),
        backtest::Sizing::QuotePerTrade(quote) => format!("{quote} quote per BUY"),
    };
    let rules = if config.rules.is_some() {
        ", orders sized by the exchange's rules"
    } else {
        ""
    };
    let fill = match config.fill {
        backtest::Fill::Close => "filled at the close",
        backtest::Fill::Book(_) => "filled on the simulator's book around the close",
    };
    format!(
        "{} starting cash, fee {} %, {sizing}{rules}, {fill}",
        config.starting_cash,
        config.fee_rate * 100.0
    )
}

fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    write(&mut out)
        .and_then(|()| out.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn percent(fraction: f64) -> String {
    format!("{:.2} %", fraction * 100.0)
}

fn optional(value: Option<f64>, show: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "n/a".to_owned(), show)
}

fn print_summary(
    out: &mut impl Write,
    data: &Path,
    params: &EmaRsiCrossParams,
    summary: &Summary,
    first_skip: Option<&backtest::SkippedOrder>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "Backtest: EMA({}) x EMA({}) cross, RSI({}) overbought {} on {}",
        params.fast,
        params.slow,
        params.rsi_period,
        params.overbought,
        data.display()
    )?;
    let rows = [
        ("candles", summary.candles.to_string()),
        ("round trips", summary.round_trips.to_string()),
        ("starting cash", format!("{}", summary.starting_cash)),
        ("final equity", format!("{}", summary.final_equity)),
        ("return", percent(summary.total_return)),
        ("max drawdown", percent(summary.max_drawdown)),
        ("win rate", optional(summary.win_rate, percent)),
        (
            "profit factor",
            optional(summary.profit_factor, |v| format!("{v:.3}")),
        ),
        (
            "sharpe (daily, annualised)",
            optional(summary.sharpe, |v| format!("{v:.3}")),
        ),
        ("total fees", format!("{}", summary.total_fees)),
        ("exposure", percent(summary.exposure)),
    ];
    for (label, value) in rows {
        writeln!(out, "  {label:<28}{value}")?;
    }
    if summary.ends_in_position {
        writeln!(
            out,
            "  (the run ends holding a position, valued at the last close without an exit fee)"
        )?;
    }
    if let Some(skip) = first_skip {
        writeln!(
            out,
            "  {} signals produced no order; the first, a {} at {}: {}",
            summary.skipped_orders, skip.side, skip.time_ms, skip.reason
        )?;
    }
    Ok(())
}
