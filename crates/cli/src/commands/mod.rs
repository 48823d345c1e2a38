//! One module per `spotbot` subcommand.

pub mod backtest;
pub mod listing;
pub mod run;
pub mod sim;
pub mod sweep;
pub mod user;
