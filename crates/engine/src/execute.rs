//! The execute step of a cycle: a [`PlannedOrder`] written ahead (the `orders` row committed,
//! fenced by the bot's lease and its runnable status, before anything is sent), given a deadline
//! for sending (the lease may run out, the process may stall, and reconciliation counts an order
//! unseen for `order_absent_after` as never sent: past the deadline it is not sent), sent on the
//! owner's account with [`binance::Client::place_market_order`] (which never sends a MARKET order
//! twice), and its outcome recorded: the trade, the order's status and the position in one
//! transaction, or the order's refusal, or its doubt for reconciliation to settle. The order's
//! row carries the why of its decision, which its trade's event takes.

use std::time::{Duration, Instant};

use binance::{OrderSize, PlaceOrderError};
use store::{NewOrder, OrderStatus, StoreError};
use tracing::{Instrument, info};

use crate::cycle::{BotMemory, CycleContext, CycleOutcome, Engine, wall_now_ms};
use crate::error::CycleError;
use crate::plan::PlannedOrder;
use crate::record::{Recorded, record_fill};

impl Engine {
    /// Carries `order` out (see the module's documentation).
    pub(crate) async fn execute(
        &self,
        context: &CycleContext<'_>,
        state: &mut BotMemory,
        order: PlannedOrder,
        why: String,
    ) -> Result<CycleOutcome, CycleError> {
        // Every line about the order carries its client order id, the key to find it on the
        // exchange.
        let span = tracing::info_span!("order", client_order_id = %order.client_order_id);
        self.execute_order(context, state, order, why)
            .instrument(span)
            .await
    }

    async fn execute_order(
        &self,
        context: &CycleContext<'_>,
        state: &mut BotMemory,
        order: PlannedOrder,
        why: String,
    ) -> Result<CycleOutcome, CycleError> {
        // Until the order's fate is recorded, the bot's orders are not clean.
        let were_clean = std::mem::replace(&mut state.orders_clean, false);
        let candle_open_ms = order.candle_open_ms;
        let written_at = Instant::now();
        if let Some(skipped) = self.write_ahead(context, &order, &why).await? {
            state.orders_clean = were_clean;
            return Ok(skipped);
        }
        let bot = context.bot;
        let client_order_id = &order.client_order_id;
        let Some(deadline) = self.send_deadline(bot.id(), written_at) else {
            // The write-ahead checked the lease, but this process may have stalled since
            // (stopped, swapped out): another worker may run the bot now. Never sent, so the
            // order is not executed, whoever reconciles it.
            self.inner
                .store
                .set_order_status(
                    client_order_id,
                    OrderStatus::NotExecuted,
                    Some("not sent: this worker's lease on the bot ran out between writing the order and sending it"),
                    wall_now_ms(),
                )
                .await?;
            state.orders_clean = true;
            self.inner.leases.forget(bot.id());
            return Err(CycleError::LeaseLost);
        };
        info!(bot = %bot.id(), symbol = %bot.symbol, side = %order.side, quantity = %order.quantity, %client_order_id, "sending MARKET order");
        let sent_at = Instant::now();
        let sent = context
            .watch
            .exchange(context.client.place_market_order_before(
                &bot.symbol,
                order.side,
                OrderSize::from(order.quantity),
                client_order_id,
                deadline,
            ))
            .await;
        let round_trip = sent_at.elapsed();
        let fill = match sent {
            Ok(fill) => {
                // An order that ended with nothing executed is recorded as not executed; the
                // series says what its row says.
                let status = if fill.executed_qty.is_zero() {
                    OrderStatus::NotExecuted.as_str()
                } else {
                    "filled"
                };
                crate::telemetry::order_answered(status, round_trip);
                fill
            }
            Err(PlaceOrderError::NotExecuted { cause, .. }) => {
                let status = if cause.class() == binance::ErrorClass::Rejected {
                    OrderStatus::Rejected
                } else {
                    OrderStatus::NotExecuted
                };
                crate::telemetry::order_answered(status.as_str(), round_trip);
                self.inner
                    .store
                    .set_order_status(
                        client_order_id,
                        status,
                        Some(&cause.to_string()),
                        wall_now_ms(),
                    )
                    .await?;
                state.orders_clean = true;
                return Err(CycleError::OrderRejected {
                    client_order_id: order.client_order_id,
                    cause,
                });
            }
            Err(PlaceOrderError::Unknown { cause, .. }) => {
                crate::telemetry::order_answered("in_doubt", round_trip);
                self.inner
                    .store
                    .set_order_status(
                        client_order_id,
                        OrderStatus::Unknown,
                        Some(&cause.to_string()),
                        wall_now_ms(),
                    )
                    .await?;
                return Err(CycleError::OrderUnknown {
                    client_order_id: order.client_order_id,
                    cause,
                });
            }
        };
        let recorded = record_fill(
            &self.inner.store,
            &context.client,
            &bot.config,
            &context.rules,
            &fill,
            wall_now_ms(),
            context.watch,
        )
        .await?;
        state.orders_clean = true;
        match recorded {
            Recorded::Trade(trade, position) => {
                state.position = Some(position);
                Ok(CycleOutcome::Traded(trade))
            }
            Recorded::NothingExecuted => Ok(CycleOutcome::Skipped {
                reason: format!("order {client_order_id} expired with nothing executed"),
                candle_open_ms,
                why: Some(why),
            }),
        }
    }

    /// The last instant `bot`'s order, written ahead at `written_at`, may be sent at, if that is
    /// still ahead: while this worker surely holds the bot (its lease with a quarter of its time
    /// left, by this machine's clock), and within the first half of `order_absent_after` from
    /// the write, which leaves the second half for the request's transit (bounded by its
    /// `recvWindow`) before reconciliation may count the order as never sent. The client starts
    /// no attempt and waits for no budget or retry past it.
    fn send_deadline(&self, bot: store::BotId, written_at: Instant) -> Option<Instant> {
        let settings = &self.inner.settings;
        let lease = self.inner.leases.held_lease(bot)?;
        let margin_ms = i64::try_from(settings.lease_ttl.as_millis() / 4).unwrap_or(i64::MAX);
        let lease_left_ms = lease.expires_at_ms - wall_now_ms() - margin_ms;
        let lease_end = Instant::now()
            .checked_add(Duration::from_millis(u64::try_from(lease_left_ms).ok()?))?;
        let unseen_end = written_at.checked_add(settings.order_absent_after / 2)?;
        let deadline = lease_end.min(unseen_end);
        (deadline > Instant::now()).then_some(deadline)
    }

    /// Writes `order` ahead: the order exists in the database before it can exist on the
    /// exchange. `Some(skip)` when it must not be sent: the bot was paused or stopped
    /// meanwhile, or this signal was acted on before.
    async fn write_ahead(
        &self,
        context: &CycleContext<'_>,
        order: &PlannedOrder,
        why: &str,
    ) -> Result<Option<CycleOutcome>, CycleError> {
        let store = &self.inner.store;
        let bot = &context.bot.config;
        let signal_at = market::format_utc_ms(order.candle_open_ms);
        let side = order.side;
        let new_order = NewOrder {
            client_order_id: order.client_order_id.clone(),
            bot_id: bot.id,
            user_id: bot.user_id,
            symbol: context.bot.symbol.to_string(),
            side,
            requested_quantity: order.quantity.quantity().get(),
            signal_candle_open_ms: order.candle_open_ms,
            decision: Some(why.to_owned()),
        };
        // Fenced in the same statement: if this process stalled past the lease's expiry,
        // another worker may own the bot now, and if the user paused or stopped the bot during
        // the cycle, it must not trade: either way the order must not exist, let alone be sent.
        match store
            .insert_pending_order_fenced(&new_order, context.lease, wall_now_ms())
            .await
        {
            Ok(Some(_)) => Ok(None),
            Ok(None) => {
                let runnable = store
                    .bot(bot.id)
                    .await?
                    .is_some_and(|now| now.is_runnable());
                if runnable {
                    self.inner.leases.forget(bot.id);
                    return Err(CycleError::LeaseLost);
                }
                Ok(Some(CycleOutcome::Skipped {
                    reason: format!(
                        "{side} signal at the candle of {signal_at}: the bot was paused or stopped meanwhile, no order sent"
                    ),
                    candle_open_ms: order.candle_open_ms,
                    why: Some(why.to_owned()),
                }))
            }
            // The client order id is derived from the signal, so its row existing means this
            // signal was acted on before (a restart, or a retried cycle): never a second order.
            Err(StoreError::Duplicate { .. }) => Ok(Some(CycleOutcome::Skipped {
                reason: format!(
                    "{side} signal at the candle of {signal_at} was already acted on (order {})",
                    order.client_order_id
                ),
                candle_open_ms: order.candle_open_ms,
                why: Some(why.to_owned()),
            })),
            Err(error) => Err(error.into()),
        }
    }
}
