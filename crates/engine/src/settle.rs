//! The end of a cycle: the bot's status, failure count and `last_error` set from its outcome,
//! the decision recorded as an event and logged.
//!
//! Failures are settled by who can fix them:
//! - the owner's account on the venue (a key the exchange refused, no key, a key that does not
//!   decrypt): every bot of that user on that venue is paused at once with the reason, and the
//!   account's cached client dropped. Retrying cannot help, and no other user is touched;
//! - the bot's configuration (a symbol the venue does not list, a strategy that does not build):
//!   this bot is paused at once;
//! - anything else (the exchange or the database failing): counted, and the bot is paused after
//!   [`EngineSettings::max_consecutive_failures`](crate::EngineSettings) in a row.

use store::{BotConfig, BotStatus, NewEvent, TradeRow};
use tracing::{info, warn};

use crate::cycle::{CycleOutcome, Engine, wall_now_ms};
use crate::error::CycleError;

/// What settling an outcome writes: the bot's new status, error and failure count, and the
/// event that records the decision.
struct Settlement {
    status: BotStatus,
    last_error: Option<String>,
    failures: i64,
    event: Option<Decision>,
}

/// The event of a settled cycle: its kind and message, and the candle a decision was about
/// (`None` for an incident).
struct Decision {
    kind: &'static str,
    message: String,
    candle_open_ms: Option<i64>,
    /// What it was decided from, as JSON ([`crate::why::Why`]).
    why: Option<String>,
}

impl Decision {
    fn about(
        candle_open_ms: i64,
        kind: &'static str,
        message: String,
        why: &Option<String>,
    ) -> Option<Decision> {
        Some(Decision {
            kind,
            message,
            candle_open_ms: Some(candle_open_ms),
            why: why.clone(),
        })
    }

    fn incident(kind: &'static str, message: String) -> Option<Decision> {
        Some(Decision {
            kind,
            message,
            candle_open_ms: None,
            why: None,
        })
    }
}

impl Engine {
    /// Sets the bot's status from the outcome, records the decision as an event and logs it.
    pub(crate) async fn settle(&self, bot: &BotConfig, outcome: CycleOutcome) -> CycleOutcome {
        if let CycleOutcome::Failed { error, .. } = &outcome {
            if let Some(reason) = error.account_pause_reason(bot.mode) {
                return self.pause_account_bots(bot, outcome, &reason).await;
            }
            if error.listing_may_be_stale()
                && let Ok(venue) = self.inner.accounts.venue(bot.mode)
            {
                venue.catalog().invalidate();
            }
        }
        let Some(settlement) = self.settlement(bot, &outcome) else {
            return outcome;
        };
        if let Some(decision) = &settlement.event {
            self.record(bot, decision);
        }
        self.write_status(bot, &settlement).await;
        match outcome {
            CycleOutcome::Failed { error, .. } => CycleOutcome::Failed {
                error,
                paused: settlement.status == BotStatus::Paused,
            },
            other => other,
        }
    }

    /// What `outcome` makes of `bot`; `None` when it changes nothing (another worker's cycle, or
    /// this worker's lease lost mid-cycle).
    fn settlement(&self, bot: &BotConfig, outcome: &CycleOutcome) -> Option<Settlement> {
        let running = |event: Option<Decision>| Settlement {
            status: BotStatus::Running,
            last_error: None,
            failures: 0,
            event,
        };
        Some(match outcome {
            CycleOutcome::Busy => return None,
            CycleOutcome::Failed {
                error: CycleError::LeaseLost,
                ..
            } => {
                // The bot may be another worker's now: its status and failures are that
                // worker's to write.
                warn!(bot = %bot.id, name = %bot.name, "{}", CycleError::LeaseLost);
                return None;
            }
            CycleOutcome::NoNewCandle => running(None),
            CycleOutcome::Hold {
                candle_open_ms,
                why,
            } => running(Decision::about(
                *candle_open_ms,
                "hold",
                format!(
                    "no signal at the candle of {}",
                    market::format_utc_ms(*candle_open_ms)
                ),
                why,
            )),
            CycleOutcome::Skipped {
                reason,
                candle_open_ms,
                why,
            } => running(Decision::about(
                *candle_open_ms,
                store::SKIP_EVENT,
                reason.clone(),
                why,
            )),
            CycleOutcome::Traded(trade) => {
                // The trade's event was written with the trade itself, in its transaction.
                info!(bot = %bot.id, name = %bot.name, "trade: {}", describe_trade(trade));
                running(None)
            }
            CycleOutcome::Blocked { reason } => {
                let message = format!("waiting for reconciliation: {reason}");
                Settlement {
                    status: BotStatus::Error,
                    last_error: Some(message.clone()),
                    failures: bot.consecutive_failures,
                    event: Decision::incident("blocked", message),
                }
            }
            CycleOutcome::Failed { error, .. } => self.failure(bot, error),
        })
    }

    /// A failed cycle: counted, or the bot paused when the failures run long or only a new
    /// configuration fixes it.
    fn failure(&self, bot: &BotConfig, error: &CycleError) -> Settlement {
        let failures = bot.consecutive_failures + 1;
        let max_failures = i64::from(self.inner.settings.max_consecutive_failures);
        let pause = if error.is_configuration() {
            Some(format!(
                "paused: the bot's configuration cannot run ({error}); change it and start the bot again"
            ))
        } else if failures >= max_failures {
            Some(format!(
                "paused after {failures} consecutive failed cycles; fix the cause and start the bot again. Last error: {error}"
            ))
        } else {
            None
        };
        match pause {
            Some(message) => Settlement {
                status: BotStatus::Paused,
                last_error: Some(message.clone()),
                failures,
                event: Decision::incident(store::PAUSED_EVENT, message),
            },
            None => Settlement {
                status: BotStatus::Error,
                last_error: Some(error.to_string()),
                failures,
                // An order in doubt is an incident of its own: its owner may opt into hearing of
                // it apart from ordinary failures.
                event: Decision::incident(
                    if matches!(error, CycleError::OrderUnknown { .. }) {
                        store::IN_DOUBT_EVENT
                    } else {
                        store::ERROR_EVENT
                    },
                    error.to_string(),
                ),
            },
        }
    }

    /// Pauses every bot of `bot`'s owner on its venue with `reason` (the store records an event
    /// for each) and drops the account's cached client.
    async fn pause_account_bots(
        &self,
        bot: &BotConfig,
        outcome: CycleOutcome,
        reason: &str,
    ) -> CycleOutcome {
        let accounts = &self.inner.accounts;
        accounts.forget(bot.user_id, bot.mode);
        warn!(bot = %bot.id, user = %bot.user_id, venue = %bot.mode, "{reason}");
        match self
            .inner
            .store
            .pause_venue_bots(bot.user_id, bot.mode, reason, wall_now_ms())
            .await
        {
            Ok(paused) => {
                info!(user = %bot.user_id, venue = %bot.mode, bots = paused.len(), "the user's bots on the venue are paused")
            }
            Err(error) => warn!(bot = %bot.id, %error, "cannot pause the user's bots on the venue"),
        }
        match outcome {
            CycleOutcome::Failed { error, .. } => CycleOutcome::Failed {
                error,
                paused: true,
            },
            other => other,
        }
    }

    /// Logs the decision and queues its event.
    fn record(&self, bot: &BotConfig, decision: &Decision) {
        let Decision { kind, message, .. } = decision;
        match *kind {
            store::ERROR_EVENT | store::PAUSED_EVENT | store::IN_DOUBT_EVENT | "blocked" => {
                warn!(bot = %bot.id, name = %bot.name, "{kind}: {message}")
            }
            _ => info!(bot = %bot.id, name = %bot.name, "{kind}: {message}"),
        }
        let event = NewEvent {
            bot_id: bot.id,
            at_ms: wall_now_ms(),
            kind: (*kind).to_owned(),
            message: message.clone(),
            candle_open_ms: decision.candle_open_ms,
            detail: decision.why.clone(),
        };
        if let Err(error) = self.inner.events.record(event) {
            warn!(bot = %bot.id, %error, "cannot record the cycle's event");
        }
    }

    /// Writes the settlement's status when it changed. Conditional: the user may have paused or
    /// stopped the bot while this cycle ran, and this outcome must not overwrite that decision.
    async fn write_status(&self, bot: &BotConfig, settlement: &Settlement) {
        let changed = settlement.status != bot.status
            || settlement.failures != bot.consecutive_failures
            || settlement.last_error.as_deref() != bot.last_error.as_deref();
        if !changed {
            return;
        }
        match self
            .inner
            .store
            .set_bot_status_if_running(
                bot.id,
                settlement.status,
                settlement.last_error.as_deref(),
                settlement.failures,
                wall_now_ms(),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                info!(bot = %bot.id, name = %bot.name, "paused or stopped during its cycle: status left as the user set it")
            }
            Err(error) => warn!(bot = %bot.id, %error, "cannot update the bot's status"),
        }
    }
}

/// One line for the log and the event table.
fn describe_trade(trade: &TradeRow) -> String {
    let mut line = format!(
        "{} {} {} at {} (quote {}, fee {} {}), exchange order {}",
        trade.side,
        trade.quantity_filled.normalize(),
        trade.symbol,
        trade.price.round_dp(8).normalize(),
        trade.quote_quantity_filled.normalize(),
        trade.commission.normalize(),
        trade.commission_asset,
        trade.binance_order_id
    );
    if let Some(pnl) = trade.realized_pnl {
        line.push_str(&format!(", realised PnL {}", pnl.round_dp(8).normalize()));
    }
    line
}
