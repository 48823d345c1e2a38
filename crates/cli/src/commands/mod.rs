//! One module per `spotbot` subcommand.

pub mod api;
pub mod backtest;
pub mod bot;
pub mod credentials;
pub mod listing;
pub mod perf;
pub mod run;
pub mod sim;
pub mod sweep;
pub mod user;
pub mod worker;
