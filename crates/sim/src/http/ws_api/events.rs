//! The user data stream's events in Binance's JSON (user-data-stream.md), from what the exchange
//! published ([`UserDataEvent`]), field for field as the doc examples in `tests/fixtures/`:
//!
//! - a MARKET order gives an `executionReport` with `x: NEW` (nothing executed yet), then one
//!   `x: TRADE` per fill (`X: PARTIALLY_FILLED`, the last one `FILLED`), and when the book ran out
//!   before the order was filled an `x: EXPIRED` report with `eR: INSUFFICIENT_LIQUIDITY`; then an
//!   `outboundAccountPosition` with the balances it changed (what it paid, received and paid
//!   commission in). Order fields follow the REST answers for the same order (`timeInForce` GTC,
//!   `origQty` as `GET /api/v3/order` shows it, `workingTime` the transaction time, STP mode
//!   NONE); `I` (execution id) is unique and increasing for as long as the exchange runs.
//! - funding through the admin API gives a `balanceUpdate` per asset that changed (`d` the
//!   delta, negative when balances were replaced with less), then an `outboundAccountPosition`.
//!
//! Every time (`E`, `T`, `u`, `O`) is the server time of the change. Nothing is ever locked, so
//! `l` is always zero.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::order::{OrderRecord, OrderStatus};
use crate::user_data::{Balance, UserDataEvent};
use crate::wire::decimal8;
use sim_book::OrderSize;

/// Binance's commission before anything executed: the string `"0"` (as its NEW example shows).
const NO_COMMISSION: &str = "0";

/// The events `event` is sent as, in order.
pub fn user_events(event: &UserDataEvent) -> Vec<Value> {
    match event {
        UserDataEvent::OrderExecuted {
            order,
            first_execution_id,
            balances,
            update_time_ms,
        } => {
            let mut events = execution_reports(order, *first_execution_id);
            events.push(account_position(balances, *update_time_ms));
            events
        }
        UserDataEvent::BalancesFunded {
            deltas,
            balances,
            time_ms,
        } => {
            let mut events: Vec<Value> = deltas
                .iter()
                .map(|change| {
                    json!({
                        "e": "balanceUpdate",
                        "E": time_ms,
                        "a": change.asset,
                        "d": decimal8(change.delta),
                        "T": time_ms,
                    })
                })
                .collect();
            events.push(account_position(balances, *time_ms));
            events
        }
    }
}

/// `eventStreamTerminated` at `time_ms`: the subscription has ended.
pub fn stream_terminated(time_ms: i64) -> Value {
    json!({"e": "eventStreamTerminated", "E": time_ms})
}

/// `outboundAccountPosition`: `balances` as they are after a change at `time_ms`.
fn account_position(balances: &[Balance], time_ms: i64) -> Value {
    let balances: Vec<Value> = balances
        .iter()
        .map(|balance| {
            json!({"a": balance.asset, "f": decimal8(balance.free), "l": decimal8(Decimal::ZERO)})
        })
        .collect();
    json!({"e": "outboundAccountPosition", "E": time_ms, "u": time_ms, "B": balances})
}

/// One report's changing part.
struct Report<'a> {
    execution: &'static str,
    status: &'static str,
    last_qty: Decimal,
    last_price: Decimal,
    commission: Option<(Decimal, &'a str)>,
    trade_id: i64,
    on_book: bool,
    cumulative_qty: Decimal,
    cumulative_quote: Decimal,
}

/// The `executionReport`s of a MARKET order, numbered from `first_execution_id`.
fn execution_reports(order: &OrderRecord, first_execution_id: u64) -> Vec<Value> {
    let mut reports = vec![Report {
        execution: "NEW",
        status: "NEW",
        last_qty: Decimal::ZERO,
        last_price: Decimal::ZERO,
        commission: None,
        trade_id: -1,
        on_book: true,
        cumulative_qty: Decimal::ZERO,
        cumulative_quote: Decimal::ZERO,
    }];
    let (mut cumulative_qty, mut cumulative_quote) = (Decimal::ZERO, Decimal::ZERO);
    for (index, fill) in order.fills.iter().enumerate() {
        cumulative_qty += fill.qty;
        cumulative_quote += fill.price * fill.qty;
        let last = index + 1 == order.fills.len();
        reports.push(Report {
            execution: "TRADE",
            status: if last && order.status == OrderStatus::Filled {
                "FILLED"
            } else {
                "PARTIALLY_FILLED"
            },
            last_qty: fill.qty,
            last_price: fill.price,
            commission: Some((fill.commission, &fill.commission_asset)),
            trade_id: i64::try_from(fill.trade_id).unwrap_or(i64::MAX),
            on_book: false,
            cumulative_qty,
            cumulative_quote,
        });
    }
    if order.status == OrderStatus::Expired {
        reports.push(Report {
            execution: "EXPIRED",
            status: "EXPIRED",
            last_qty: Decimal::ZERO,
            last_price: Decimal::ZERO,
            commission: None,
            trade_id: -1,
            on_book: false,
            cumulative_qty,
            cumulative_quote,
        });
    }
    reports
        .into_iter()
        .zip(first_execution_id..)
        .map(|(report, execution_id)| execution_report(order, &report, execution_id))
        .collect()
}

fn execution_report(order: &OrderRecord, report: &Report<'_>, execution_id: u64) -> Value {
    // As `GET /api/v3/order` shows them: a quote-sized order's quantity is what it bought or sold.
    let (orig_qty, quote_order_qty) = match order.size {
        OrderSize::Base(qty) => (qty, Decimal::ZERO),
        OrderSize::Quote(amount) => (order.executed_qty(), amount),
    };
    let zero = decimal8(Decimal::ZERO);
    let (commission, commission_asset) = match report.commission {
        Some((amount, asset)) => (Value::from(decimal8(amount)), Value::from(asset)),
        None => (Value::from(NO_COMMISSION), Value::Null),
    };
    let mut event = json!({
        "e": "executionReport",
        "E": order.transact_time_ms,
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side.as_str(),
        "o": "MARKET",
        "f": "GTC",
        "q": decimal8(orig_qty),
        "p": zero,
        "P": zero,
        "F": zero,
        "g": -1,
        "C": "",
        "x": report.execution,
        "X": report.status,
        "r": "NONE",
        "i": order.order_id,
        "l": decimal8(report.last_qty),
        "z": decimal8(report.cumulative_qty),
        "L": decimal8(report.last_price),
        "n": commission,
        "N": commission_asset,
        "T": order.transact_time_ms,
        "t": report.trade_id,
        "I": execution_id,
        "w": report.on_book,
        "m": false,
        "M": false,
        "O": order.transact_time_ms,
        "Z": decimal8(report.cumulative_quote),
        "Y": decimal8(report.last_qty * report.last_price),
        "Q": decimal8(quote_order_qty),
        "W": order.transact_time_ms,
        "V": "NONE",
    });
    if report.execution == "EXPIRED"
        && let Some(fields) = event.as_object_mut()
    {
        fields.insert("eR".to_owned(), Value::from("INSUFFICIENT_LIQUIDITY"));
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    use market::Side;
    use rust_decimal_macros::dec;

    use crate::order::Fill;
    use crate::user_data::BalanceDelta;

    fn order(status: OrderStatus) -> OrderRecord {
        let fill = |trade_id, price, qty| Fill {
            trade_id,
            price,
            qty,
            commission: dec!(0.00001),
            commission_asset: "BTC".to_owned(),
        };
        OrderRecord {
            symbol: "BTCUSDT".to_owned(),
            order_id: 12,
            client_order_id: "client-12".to_owned(),
            api_key: "key".to_owned(),
            side: Side::Buy,
            size: OrderSize::Quote(dec!(10000)),
            status,
            fills: vec![
                fill(5, dec!(60000), dec!(0.05)),
                fill(6, dec!(60006), dec!(0.1)),
            ],
            transact_time_ms: 1_000,
        }
    }

    #[test]
    fn a_filled_market_order_reports_new_then_each_trade_and_the_balances() {
        let event = UserDataEvent::OrderExecuted {
            order: order(OrderStatus::Filled),
            first_execution_id: 40,
            balances: vec![Balance {
                asset: "USDT".into(),
                free: dec!(99.4),
            }],
            update_time_ms: 1_000,
        };
        let events = user_events(&event);
        let kinds: Vec<(&str, &str)> = events[..3]
            .iter()
            .map(|event| (event["x"].as_str().unwrap(), event["X"].as_str().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("NEW", "NEW"),
                ("TRADE", "PARTIALLY_FILLED"),
                ("TRADE", "FILLED")
            ]
        );
        let ids: Vec<u64> = events[..3]
            .iter()
            .map(|event| event["I"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [40, 41, 42]);
        assert_eq!(
            (events[0]["n"].clone(), events[0]["N"].clone()),
            (json!("0"), Value::Null)
        );
        assert_eq!(events[2]["z"], "0.15000000");
        assert_eq!(events[2]["Z"], "9000.60000000");
        assert_eq!(events[2]["Y"], "6000.60000000");
        assert_eq!(events[2]["t"], 6);
        assert_eq!(
            events[2]["q"], "0.15000000",
            "a quote order's quantity is what it bought"
        );
        assert_eq!(events[2]["Q"], "10000.00000000");
        assert!(events.iter().all(|event| event.get("eR").is_none()));
        assert_eq!(events[3]["e"], "outboundAccountPosition");
        assert_eq!(
            events[3]["B"],
            json!([{"a": "USDT", "f": "99.40000000", "l": "0.00000000"}])
        );
    }

    #[test]
    fn an_order_the_book_could_not_fill_ends_with_an_expired_report() {
        let event = UserDataEvent::OrderExecuted {
            order: order(OrderStatus::Expired),
            first_execution_id: 0,
            balances: Vec::new(),
            update_time_ms: 1_000,
        };
        let events = user_events(&event);
        assert_eq!(events[2]["X"], "PARTIALLY_FILLED");
        assert_eq!(
            (events[3]["x"].as_str(), events[3]["X"].as_str()),
            (Some("EXPIRED"), Some("EXPIRED"))
        );
        assert_eq!(events[3]["eR"], "INSUFFICIENT_LIQUIDITY");
        assert_eq!(events[3]["z"], "0.15000000");
        assert_eq!(events[3]["I"], 3);
    }

    #[test]
    fn funding_reports_each_delta_then_the_balances() {
        let event = UserDataEvent::BalancesFunded {
            deltas: vec![BalanceDelta {
                asset: "BTC".into(),
                delta: dec!(-0.25),
            }],
            balances: vec![Balance {
                asset: "BTC".into(),
                free: dec!(0.25),
            }],
            time_ms: 77,
        };
        let events = user_events(&event);
        assert_eq!(
            events[0],
            json!({"e": "balanceUpdate", "E": 77, "a": "BTC", "d": "-0.25000000", "T": 77})
        );
        assert_eq!(events[1]["e"], "outboundAccountPosition");
        assert_eq!(events[1]["u"], 77);
    }
}
