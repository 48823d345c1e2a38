//! [`CycleError`]: why a bot's cycle failed, worded for the bot's `last_error` (what happened and
//! what to do), from configuration, exchange, database and ledger failures.

use binance::BinanceError;
use store::StoreError;

use crate::ledger::LedgerError;
use crate::strategy_spec::StrategySpecError;

/// Why a cycle did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CycleError {
    /// The bot's configuration cannot run (strategy, symbol, interval, venue).
    #[error("configuration: {0}")]
    Config(String),
    /// The exchange could not be read (after the client's retries) or answered nonsense.
    #[error("exchange: {0}")]
    Exchange(String),
    /// The database failed.
    #[error("database: {0}")]
    Store(String),
    /// The exchange refused the order (filters, balance, -2010, ...): not retried; the next
    /// signal tries again.
    #[error("order {client_order_id} rejected: {cause}")]
    OrderRejected {
        /// The order.
        client_order_id: String,
        /// The exchange's refusal.
        cause: String,
    },
    /// The order may have executed; the bot stops trading until reconciliation learns its fate.
    #[error(
        "order {client_order_id} is in doubt ({cause}); the bot will not trade until it is reconciled with the exchange"
    )]
    OrderUnknown {
        /// The order.
        client_order_id: String,
        /// The failure that left it in doubt.
        cause: String,
    },
    /// The fill does not fit the bot's ledger (e.g. it sold more than the bot held).
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// This worker's lease on the bot expired, or passed to another worker, while the cycle ran:
    /// it was not renewed in time (the process stalled, could not reach the database, or its
    /// clock is off). The order was neither written nor sent.
    #[error(
        "this worker's lease on the bot ran out mid-cycle (it was not renewed in time: the process \
         stalled, lost the database, or its clock is off); no order was sent, and the next cycle, \
         here or on another worker, takes the bot up again"
    )]
    LeaseLost,
}

impl From<BinanceError> for CycleError {
    fn from(error: BinanceError) -> CycleError {
        CycleError::Exchange(error.to_string())
    }
}

impl From<StoreError> for CycleError {
    fn from(error: StoreError) -> CycleError {
        CycleError::Store(error.to_string())
    }
}

impl From<StrategySpecError> for CycleError {
    fn from(error: StrategySpecError) -> CycleError {
        CycleError::Config(error.to_string())
    }
}
