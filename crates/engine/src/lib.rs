//! `engine`: the live bot cycle, the scheduler that runs many users' bots in one process, and
//! reconciliation with the exchange.
//!
//! One cycle ([`Engine::run_cycle`]) follows `ARCHITECTURE.md` step by step: take the bot's
//! lease (the store's cross-process guard), get its owner's own client on its venue
//! ([`accounts::AccountClients`]), reconcile its unresolved orders, feed the new closed candles
//! (from the process's shared [`MarketData`] hub: one stream per symbol and interval, whatever
//! the number of bots) to the same [`strategy::Strategy`] the backtester runs, plan the signal's order ([`plan`]:
//! sizing and the exchange's filters, pure; a refusal is a logged skip), write the order ahead,
//! send it with [`binance::Client::place_market_order`] (which never doubles an order), and
//! record the trade, the order's status and the bot's position with its realised PnL
//! ([`ledger`]) in one transaction. [`run_scheduler`] starts every bot's cycle when its candle's close
//! arrives on the stream (or, without a live stream, when the clock says it closed), with bounded parallelism and a graceful shutdown.

mod candle_series;
mod cycle;
mod error;
mod event_writer;
mod execute;
mod lease_book;
pub mod market_data;
pub mod plan;
mod reconcile;
mod record;
mod runnable;
mod scheduler;
mod settle;
mod stopwatch;
mod telemetry;
pub mod why;

pub use accounting::{ledger, sizing};
pub use candle_series::CandleSeries;
pub use cycle::{CycleOutcome, CycleTimes, Engine, EngineSettings, history_anchor_ms, wall_now_ms};
pub use error::CycleError;
pub use market_data::MarketData;
pub use plan::client_order_id;
pub use runnable::{BotConfigError, RunnableBot};
pub use scheduler::{SchedulerSettings, SchedulerStats, TimeHistogram, run_scheduler};
