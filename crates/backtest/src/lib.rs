//! The backtester: candles in, the same [`strategy::Strategy`] code the live engine runs, simulated
//! market fills at each signal bar's close (or on the simulator's book around it), and the
//! statistics a trader judges a strategy by.
//!
//! - [`engine`]: the bar loop, fills, fees, sizing and (optionally) the exchange's quantity rules.
//! - [`metrics`]: drawdown, daily Sharpe and the summary built from a finished run.
//! - [`sweep`]: grid search over EMA/RSI parameters on all cores, sharing indicator series.
//! - [`output`]: the trade list and equity curve as CSV.

pub mod engine;
mod exchange_rules;
pub mod metrics;
pub mod output;
pub mod sweep;

pub use engine::{
    BacktestConfig, BacktestRun, BarObserver, BookFill, EquityCurve, Fill, InvalidConfig,
    NoObserver, RoundTrip, Simulation, Sizing, SkippedOrder, run_backtest, run_backtest_over,
};
pub use metrics::Summary;
