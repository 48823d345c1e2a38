//! One module per `spotbot` subcommand.

pub mod backtest;
pub mod sweep;
