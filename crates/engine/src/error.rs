//! [`CycleError`]: why a bot's cycle failed, with its typed cause (the configuration, the user's
//! account, the exchange, the database, the ledger), worded for the bot's `last_error`: what
//! happened and what to do.

use accounts::AccountError;
use binance::{BinanceError, KeyProblem};
use store::{Mode, StoreError};

use crate::ledger::LedgerError;
use crate::runnable::BotConfigError;

/// Why a cycle did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// The bot's configuration cannot run (symbol, interval, strategy).
    #[error("configuration: {0}")]
    Config(#[from] BotConfigError),
    /// The owner's account on the bot's venue cannot be used (no key, a key that does not
    /// decrypt, a paper account that cannot be opened).
    #[error("{0}")]
    Account(#[from] AccountError),
    /// The exchange could not be read (after the client's retries) or answered nonsense.
    #[error("exchange: {0}")]
    Exchange(#[from] BinanceError),
    /// The exchange's answer cannot be recorded as it is (an order id beyond 64 bits, a
    /// commission in an asset that names no symbol).
    #[error("exchange answer: {0}")]
    Unrecordable(String),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The exchange refused the order (filters, balance, -2010, ...): not retried; the next
    /// signal tries again.
    #[error("order {client_order_id} rejected: {cause}")]
    OrderRejected {
        /// The order.
        client_order_id: String,
        /// The exchange's refusal.
        cause: BinanceError,
    },
    /// The order may have executed; the bot stops trading until reconciliation learns its fate.
    #[error(
        "order {client_order_id} is in doubt ({cause}); the bot will not trade until it is reconciled with the exchange"
    )]
    OrderUnknown {
        /// The order.
        client_order_id: String,
        /// The failure that left it in doubt.
        cause: BinanceError,
    },
    /// The fill does not fit the bot's ledger (e.g. it sold more than the bot held).
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// This worker's lease on the bot expired, or passed to another worker, while the cycle ran:
    /// it was not renewed in time (the process stalled, could not reach the database, or its
    /// clock is off). No order was sent: one already written ahead is recorded as not executed.
    #[error(
        "this worker's lease on the bot ran out mid-cycle (it was not renewed in time: the process \
         stalled, lost the database, or its clock is off); no order was sent, and the next cycle, \
         here or on another worker, takes the bot up again"
    )]
    LeaseLost,
}

impl CycleError {
    /// The exchange's answer behind this failure, if it answered.
    fn exchange_error(&self) -> Option<&BinanceError> {
        match self {
            CycleError::Exchange(error)
            | CycleError::Account(AccountError::Exchange(error))
            | CycleError::OrderRejected { cause: error, .. }
            | CycleError::OrderUnknown { cause: error, .. } => Some(error),
            _ => None,
        }
    }

    /// The exchange refused the account's key: revoked, expired, an IP not on its whitelist, a
    /// missing permission, or a secret that does not match.
    pub fn key_problem(&self) -> Option<KeyProblem> {
        self.exchange_error().and_then(BinanceError::key_problem)
    }

    /// When only the bot's owner can fix this failure, and it is not this bot's alone but their
    /// account's on `venue`: why all their bots there are paused at once (no retries that cannot
    /// succeed, and the other users' bots go on).
    pub fn account_pause_reason(&self, venue: Mode) -> Option<String> {
        if let Some(problem) = self.key_problem() {
            let answer = self
                .exchange_error()
                .map(ToString::to_string)
                .unwrap_or_default();
            // Paper accounts are spotbot's own: one the paper exchange no longer knows was lost
            // with its state, and only a reset brings a working one.
            let what_to_do = match venue {
                Mode::Paper => "The paper exchange no longer knows your paper account (was it restarted without its state?): POST /api/v1/account/paper/reset opens a new one with the starting balances".to_owned(),
                Mode::Testnet | Mode::Live => format!("Store a working key with PUT /api/v1/credentials/{venue}"),
            };
            return Some(format!(
                "paused: the {venue} exchange rejected your API key: {} (it answered: {answer}). {what_to_do}, then start your bots again",
                problem.explain()
            ));
        }
        match self {
            CycleError::Account(error) if error.needs_the_user() => {
                Some(format!("paused: {error}"))
            }
            _ => None,
        }
    }

    /// Whether only a configuration change fixes this: the bot is paused at once.
    pub fn is_configuration(&self) -> bool {
        matches!(self, CycleError::Config(_))
    }

    /// Whether the exchange's refusal says the cached listing may be wrong: an order refused
    /// for its filters (-1013) or its symbol (-1121).
    pub fn listing_may_be_stale(&self) -> bool {
        self.exchange_error()
            .and_then(BinanceError::code)
            .is_some_and(|code| matches!(code, -1013 | -1121))
    }
}
