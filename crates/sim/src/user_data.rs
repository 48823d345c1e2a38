//! The exchange side of the user data stream: what happened to an account (an order executed,
//! balances changed by the admin API), published by the [`Exchange`](crate::Exchange) operation
//! that made the change, as typed facts. The WebSocket API (`crate::http::ws_api`) turns them into
//! Binance's `executionReport`, `outboundAccountPosition` and `balanceUpdate` events for the
//! connections subscribed to the account.
//!
//! Nothing is built for an account nobody listens to: the hot path of an order (tens of
//! thousands per second under load) then only pays one hash lookup. Each account has its own
//! bounded broadcast channel; a listener that falls more than [`CHANNEL_CAPACITY`] events behind
//! loses events, and its connection is closed (as Binance disconnects consumers that do not keep
//! up), so that its client reconnects and reads the account by REST instead of trusting a stream
//! with a hole in it. Events are not journaled: they are for the live listeners, and the state
//! they describe is.

use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use tokio::sync::broadcast;

use crate::account::Account;
use crate::order::OrderRecord;

/// How many events an account's listener may fall behind before it loses some.
pub const CHANNEL_CAPACITY: usize = 1024;

/// One balance of an account after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The asset.
    pub asset: String,
    /// What the account holds of it now (all free: nothing is ever locked).
    pub free: Decimal,
}

/// A change of one asset's balance made from outside trading (the admin API's funding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceDelta {
    /// The asset.
    pub asset: String,
    /// How much was added (negative: taken).
    pub delta: Decimal,
}

/// What happened to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserDataEvent {
    /// A MARKET order executed (filled, or partly filled and the rest expired).
    OrderExecuted {
        /// The order as the order log keeps it.
        order: OrderRecord,
        /// The execution id of the order's first report; each further report takes the next.
        first_execution_id: u64,
        /// The balances the order changed (what it paid, received and paid commission in).
        balances: Vec<Balance>,
        /// When the account last changed (the order's transaction time), ms.
        update_time_ms: i64,
    },
    /// Balances were added to or replaced through the admin API.
    BalancesFunded {
        /// The change of each asset that changed.
        deltas: Vec<BalanceDelta>,
        /// Their balances after it.
        balances: Vec<Balance>,
        /// When it happened, ms.
        time_ms: i64,
    },
}

impl UserDataEvent {
    /// How many execution ids the event uses: a NEW report, one per fill, and an EXPIRED report
    /// when the book ran out (see `crate::http::ws_api`).
    fn execution_reports(order: &OrderRecord) -> u64 {
        let expired = u64::from(order.status == crate::order::OrderStatus::Expired);
        1 + order.fills.len() as u64 + expired
    }
}

/// Every account's listeners.
#[derive(Debug, Default)]
pub struct UserDataHub {
    channels: HashMap<String, broadcast::Sender<Arc<UserDataEvent>>>,
    /// The next execution id (`I` of `executionReport`): unique and increasing across the
    /// exchange for as long as it runs.
    next_execution_id: u64,
}

impl UserDataHub {
    /// Starts listening to the account `api_key`: every event published for it from now on.
    pub fn subscribe(&mut self, api_key: &str) -> broadcast::Receiver<Arc<UserDataEvent>> {
        // Accounts nobody listens to any more are forgotten here, so the map stays as small as
        // the set of accounts listened to.
        self.channels
            .retain(|_, channel| channel.receiver_count() > 0);
        self.channels
            .entry(api_key.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    /// Whether anyone listens to the account `api_key`.
    pub fn is_watched(&self, api_key: &str) -> bool {
        self.channels
            .get(api_key)
            .is_some_and(|channel| channel.receiver_count() > 0)
    }

    /// Publishes that `order` of `account` executed, with the balances of `assets` after it
    /// (repeated assets are reported once); nothing when nobody listens to the account.
    pub fn order_executed(&mut self, order: &OrderRecord, account: &Account, assets: [&str; 3]) {
        if !self.is_watched(&account.api_key) {
            return;
        }
        let mut balances: Vec<Balance> = Vec::with_capacity(assets.len());
        for asset in assets {
            if !balances.iter().any(|known| known.asset == asset) {
                balances.push(Balance {
                    asset: asset.to_owned(),
                    free: account.balance(asset),
                });
            }
        }
        let first_execution_id = self.next_execution_id;
        self.next_execution_id += UserDataEvent::execution_reports(order);
        self.publish(
            &account.api_key,
            UserDataEvent::OrderExecuted {
                order: order.clone(),
                first_execution_id,
                balances,
                update_time_ms: account.update_time_ms,
            },
        );
    }

    /// Publishes that the balances of `account` changed by `deltas` (zero deltas are left out)
    /// at `time_ms`; nothing when nobody listens to the account or nothing changed.
    pub fn balances_funded(&mut self, account: &Account, deltas: Vec<BalanceDelta>, time_ms: i64) {
        if !self.is_watched(&account.api_key) {
            return;
        }
        let deltas: Vec<BalanceDelta> = deltas
            .into_iter()
            .filter(|change| !change.delta.is_zero())
            .collect();
        if deltas.is_empty() {
            return;
        }
        let balances = deltas
            .iter()
            .map(|change| Balance {
                asset: change.asset.clone(),
                free: account.balance(&change.asset),
            })
            .collect();
        self.publish(
            &account.api_key,
            UserDataEvent::BalancesFunded {
                deltas,
                balances,
                time_ms,
            },
        );
    }

    fn publish(&mut self, api_key: &str, event: UserDataEvent) {
        if let Some(channel) = self.channels.get(api_key) {
            // An error only means the last listener left meanwhile: nobody to tell.
            let _ = channel.send(Arc::new(event));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use market::Side;
    use rust_decimal_macros::dec;

    use crate::account::Credentials;
    use crate::order::{Fill, OrderStatus};
    use sim_book::OrderSize;

    fn account(api_key: &str) -> Account {
        let mut account = Account::new(
            Credentials {
                api_key: api_key.to_owned(),
                secret: "secret".to_owned(),
            },
            [
                ("USDT".to_owned(), dec!(900)),
                ("BTC".to_owned(), dec!(0.1)),
            ],
            dec!(0.001),
        );
        account.update_time_ms = 42;
        account
    }

    fn order(status: OrderStatus, fills: usize) -> OrderRecord {
        OrderRecord {
            symbol: "BTCUSDT".to_owned(),
            order_id: 7,
            client_order_id: "client".to_owned(),
            api_key: "watched".to_owned(),
            side: Side::Buy,
            size: OrderSize::Base(dec!(0.1)),
            status,
            fills: (0..fills)
                .map(|index| Fill {
                    trade_id: index as u64 + 1,
                    price: dec!(60000),
                    qty: dec!(0.05),
                    commission: dec!(0.00005),
                    commission_asset: "BTC".to_owned(),
                })
                .collect(),
            transact_time_ms: 42,
        }
    }

    #[test]
    fn only_listened_accounts_get_events_each_with_its_own_execution_ids() {
        let mut hub = UserDataHub::default();
        hub.order_executed(
            &order(OrderStatus::Filled, 2),
            &account("watched"),
            ["BTC", "USDT", "BTC"],
        );
        assert_eq!(hub.next_execution_id, 0, "nobody listens: nothing is built");

        let mut listener = hub.subscribe("watched");
        hub.order_executed(
            &order(OrderStatus::Filled, 2),
            &account("other"),
            ["BTC", "USDT", "BTC"],
        );
        assert!(listener.try_recv().is_err(), "another account's order");
        hub.order_executed(
            &order(OrderStatus::Filled, 2),
            &account("watched"),
            ["BTC", "USDT", "BTC"],
        );
        hub.order_executed(
            &order(OrderStatus::Expired, 1),
            &account("watched"),
            ["BTC", "USDT", "BTC"],
        );
        let UserDataEvent::OrderExecuted {
            first_execution_id,
            balances,
            ..
        } = listener.try_recv().unwrap().as_ref().clone()
        else {
            panic!("an order event");
        };
        assert_eq!(first_execution_id, 0);
        assert_eq!(
            balances,
            [
                Balance {
                    asset: "BTC".into(),
                    free: dec!(0.1)
                },
                Balance {
                    asset: "USDT".into(),
                    free: dec!(900)
                },
            ]
        );
        let UserDataEvent::OrderExecuted {
            first_execution_id, ..
        } = listener.try_recv().unwrap().as_ref().clone()
        else {
            panic!("an order event");
        };
        assert_eq!(
            first_execution_id, 3,
            "NEW and two TRADE reports came before"
        );
        assert_eq!(hub.next_execution_id, 6, "NEW, one TRADE and EXPIRED");

        drop(listener);
        assert!(!hub.is_watched("watched"));
    }

    #[test]
    fn funding_reports_only_the_assets_that_changed() {
        let mut hub = UserDataHub::default();
        let mut listener = hub.subscribe("watched");
        let deltas = vec![
            BalanceDelta {
                asset: "USDT".into(),
                delta: dec!(100),
            },
            BalanceDelta {
                asset: "ETH".into(),
                delta: dec!(0),
            },
        ];
        hub.balances_funded(&account("watched"), deltas, 9);
        let event = listener.try_recv().unwrap();
        assert_eq!(
            *event,
            UserDataEvent::BalancesFunded {
                deltas: vec![BalanceDelta {
                    asset: "USDT".into(),
                    delta: dec!(100)
                }],
                balances: vec![Balance {
                    asset: "USDT".into(),
                    free: dec!(900)
                }],
                time_ms: 9,
            }
        );
        hub.balances_funded(&account("watched"), Vec::new(), 10);
        assert!(listener.try_recv().is_err(), "no change, no event");
    }
}
