//! Writes a backtest's round trips and equity curve as CSV.
//!
//! Floats are written in Rust's shortest round-trip form, so a value read back is bit-identical
//! (quantities in all-in mode carry all their digits; the trade list is meant for exact comparison).

use std::io::{self, Write};

use market::format_iso_utc_ms;

use crate::engine::{EquityCurve, RoundTrip};
use crate::metrics::Summary;
use crate::sweep::SweepRow;

/// Header of the trade list: times in ms since the epoch for programs, then in UTC (ISO 8601)
/// for people.
pub const TRADES_HEADER: &str =
    "entry_time_ms,entry_price,exit_time_ms,exit_price,qty,exit_qty,pnl,entry_time,exit_time";

/// Header of the equity curve, its time both ways as in [`TRADES_HEADER`].
pub const EQUITY_HEADER: &str = "open_time_ms,equity,open_time";

/// Writes [`TRADES_HEADER`], one round trip per line.
pub fn write_trades(out: &mut impl Write, round_trips: &[RoundTrip]) -> io::Result<()> {
    writeln!(out, "{TRADES_HEADER}")?;
    for trip in round_trips {
        writeln!(
            out,
            "{},{:?},{},{:?},{:?},{:?},{:?},{},{}",
            trip.entry_time_ms,
            trip.entry_price,
            trip.exit_time_ms,
            trip.exit_price,
            trip.qty,
            trip.exit_qty,
            trip.pnl,
            format_iso_utc_ms(trip.entry_time_ms),
            format_iso_utc_ms(trip.exit_time_ms)
        )?;
    }
    Ok(())
}

/// Writes [`EQUITY_HEADER`], one bar per line.
pub fn write_equity(out: &mut impl Write, curve: &EquityCurve) -> io::Result<()> {
    writeln!(out, "{EQUITY_HEADER}")?;
    for (open_time_ms, equity) in &curve.points {
        writeln!(
            out,
            "{open_time_ms},{equity:?},{}",
            format_iso_utc_ms(*open_time_ms)
        )?;
    }
    Ok(())
}

/// Header of the sweep results.
pub const SWEEP_HEADER: &str = "fast,slow,rsi_period,overbought,round_trips,final_equity,total_return,total_fees,max_drawdown,win_rate,profit_factor,sharpe,exposure";

/// The columns [`write_sweep`] adds after [`SWEEP_HEADER`] when candles were held out: the same
/// statistics over the held-out candles.
pub const SWEEP_HOLDOUT_HEADER: &str = "oos_round_trips,oos_final_equity,oos_total_return,oos_total_fees,oos_max_drawdown,oos_win_rate,oos_profit_factor,oos_sharpe,oos_exposure";

/// Writes one line per sweep combination; undefined statistics are left empty. When the rows
/// hold out-of-sample figures, [`SWEEP_HOLDOUT_HEADER`]'s columns follow.
pub fn write_sweep(out: &mut impl Write, rows: &[SweepRow]) -> io::Result<()> {
    let holdout = rows.iter().any(|row| row.out_of_sample.is_some());
    if holdout {
        writeln!(out, "{SWEEP_HEADER},{SWEEP_HOLDOUT_HEADER}")?;
    } else {
        writeln!(out, "{SWEEP_HEADER}")?;
    }
    for row in rows {
        let params = &row.params;
        write!(
            out,
            "{},{},{},{:?},{}",
            params.fast,
            params.slow,
            params.rsi_period,
            params.overbought,
            figures(&row.summary)
        )?;
        match (&row.out_of_sample, holdout) {
            (Some(out_of_sample), _) => writeln!(out, ",{}", figures(out_of_sample))?,
            (None, true) => writeln!(out, "{}", ",".repeat(9))?,
            (None, false) => writeln!(out)?,
        }
    }
    Ok(())
}

/// A summary's statistics as [`SWEEP_HEADER`] lists them after the parameters.
fn figures(summary: &Summary) -> String {
    let optional = |value: Option<f64>| value.map_or_else(String::new, |v| format!("{v:?}"));
    format!(
        "{},{:?},{:?},{:?},{:?},{},{},{},{:?}",
        summary.round_trips,
        summary.final_equity,
        summary.total_return,
        summary.total_fees,
        summary.max_drawdown,
        optional(summary.win_rate),
        optional(summary.profit_factor),
        optional(summary.sharpe),
        summary.exposure,
    )
}
