//! One module per `spotbot` subcommand.

pub mod backtest;
pub mod sim;
pub mod sweep;
