//! One sizing and PnL code for the backtester and the live engine, so that a backtest trades
//! what a bot would:
//!
//! - [`sizing`]: how much a signal trades: a BUY spends the quote amount per BUY (at most a share
//!   of the free quote), a SELL sells the position (at most the free base), then the exchange's
//!   filters make it legal or refuse it with a reason;
//! - [`ledger`]: what an executed order does to a holding, by average cost, with the
//!   commission in the asset the exchange took it in.
//!
//! Pure `Decimal` arithmetic, no I/O. The live engine calls both on every order; the backtester
//! on every fill of its quote-per-trade mode (its default all-in mode is the published reference
//! strategy's arithmetic, kept in `f64`: see `backtest::Sizing`).

pub mod ledger;
pub mod sizing;
