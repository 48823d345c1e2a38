//! Reconciliation's search for an order whose fate is unknown, against the real simulator and a
//! real database on both backends: an order `GET /api/v3/order` does not show is found in the
//! account's order history (`GET /api/v3/allOrders`) and recorded as its trade; an order that
//! never reached the exchange is recorded not executed once the bound passes, with an event
//! saying what was searched; and an order hidden from every lookup until after the bound is a
//! missed trade, never a second execution. Nothing is ever sent again for an order in doubt: the
//! simulator's order log, the ground truth, shows each client order id at most once.

mod common;

use std::time::Duration;

use common::{MINUTE_MS, World};
use engine::{CycleOutcome, client_order_id};
use market::Side;
use rust_decimal::Decimal;
use serde_json::json;
use sim::Clock;
use store::{BotStatus, EventRow, NewOrder, OrderRow, OrderStatus};

/// How long an order no lookup shows stays unknown in these tests: long enough that the cycle
/// right after an order's write always comes before it, short enough to wait out.
const ABSENT_AFTER: Duration = Duration::from_secs(1);

/// A world whose unknown orders count as not executed after [`ABSENT_AFTER`].
async fn world_on(store: store::Store) -> World {
    World::start_with(store, Decimal::from(200), |settings| {
        settings.order_absent_after = ABSENT_AFTER;
    })
    .await
}

/// Cycles until the bot has written its first order (or gives up); returns it.
async fn run_until_the_first_order(world: &World) -> OrderRow {
    for _ in 0..60 {
        world.next_minute(&world.engine).await;
        if let Some(order) = world
            .store
            .orders(world.bot_id)
            .await
            .unwrap()
            .into_iter()
            .next()
        {
            return order;
        }
    }
    panic!("no signal in 60 minutes");
}

/// How many times the exchange executed an order with `client_order_id`.
fn executions_of(world: &World, client_order_id: &str) -> usize {
    world
        .order_log()
        .iter()
        .filter(|record| record.client_order_id == client_order_id)
        .count()
}

/// The bot's `reconciled` events about `client_order_id`.
async fn reconciled_events(world: &World, client_order_id: &str) -> Vec<EventRow> {
    world
        .store
        .events(world.bot_id, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == "reconciled" && event.message.contains(client_order_id))
        .collect()
}

/// Asserts that `message` says the order was searched by client order id and in the order
/// history between two times, and that it is not sent again.
fn assert_names_what_was_searched(message: &str) {
    for part in [
        "not executed",
        "not found by client order id (GET /api/v3/order answered -2013)",
        "nor among the account's BTCUSDT orders (GET /api/v3/allOrders) between ",
        " UTC (",
        "it is not sent again",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message:?}");
    }
}

store::backend_tests! {
    async fn an_executed_order_the_order_query_does_not_show_is_found_in_the_history(store: Store) {
        let world = world_on(store).await;
        // The order executes but its answer is lost, and GET /api/v3/order never shows it (only
        // that endpoint is faulty): the client gives up looking, and the order is in doubt.
        world.set_faults(json!({"rules": [
            {"fault": {"backend_timeout": "after_executing"}, "endpoints": ["POST /api/v3/order"], "trigger": {"next": 1}},
            {"fault": {"not_queryable_ms": 3_600_000}, "endpoints": ["GET /api/v3/order"]}
        ]}));
        let order = run_until_the_first_order(&world).await;
        assert_eq!(order.status, OrderStatus::Unknown, "{order:?}");
        assert!(world.trades().await.is_empty(), "nothing recorded while in doubt");
        assert_eq!(executions_of(&world, &order.client_order_id), 1);

        // The next cycle, with GET /api/v3/order still blind, finds it through allOrders and
        // records it as the trade it is, exactly as a lookup by client order id would have.
        let outcome = world.next_minute(&world.engine).await;
        assert!(!matches!(outcome, CycleOutcome::Blocked { .. } | CycleOutcome::Failed { .. }), "{outcome:?}");
        let recorded = world.store.order(&order.client_order_id).await.unwrap().unwrap();
        assert_eq!(recorded.status, OrderStatus::Filled, "{recorded:?}");
        world.assert_trades_equal_exchange_fills().await;
        let events = reconciled_events(&world, &order.client_order_id).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(events[0].message.contains("executed"), "{}", events[0].message);

        // The bot trades on, and nothing was executed twice.
        for _ in 0..60 {
            world.next_minute(&world.engine).await;
            if world.trades().await.len() >= 2 {
                break;
            }
        }
        assert!(world.trades().await.len() >= 2, "the bot traded again");
        assert_eq!(world.bot_config().await.status, BotStatus::Running);
        world.assert_trades_equal_exchange_fills().await;
        assert_eq!(executions_of(&world, &order.client_order_id), 1, "exactly one execution");
    }

    async fn an_order_that_never_reached_the_exchange_is_not_executed_after_the_bound(store: Store) {
        let world = world_on(store).await;
        let bot = world.bot_config().await;
        // A process before this one wrote an order ahead for the candle that just closed and
        // stopped before sending it; this engine starts with the order pending.
        let candle_open_ms = world.clock.now_ms() / MINUTE_MS * MINUTE_MS - MINUTE_MS;
        let never_sent = client_order_id(bot.id, candle_open_ms, Side::Buy);
        world.store.insert_pending_order(&NewOrder {
            client_order_id: never_sent.clone(),
            bot_id: bot.id,
            user_id: bot.user_id,
            symbol: "BTCUSDT".to_owned(),
            side: Side::Buy,
            requested_quantity: Decimal::new(1, 3),
            signal_candle_open_ms: candle_open_ms,
            decision: None,
        }, engine::wall_now_ms()).await.unwrap();

        // Before the bound the order stays in doubt, and the bot waits.
        let outcome = world.next_minute(&world.engine).await;
        let CycleOutcome::Blocked { reason } = &outcome else {
            panic!("expected the bot to wait for its order, got {outcome:?}");
        };
        assert!(reason.contains("does not show order") && reason.contains("yet"), "{reason}");
        assert_eq!(world.store.order(&never_sent).await.unwrap().unwrap().status, OrderStatus::Pending);

        // After it, the order is not executed, and the event says what was searched.
        tokio::time::sleep(ABSENT_AFTER + Duration::from_millis(50)).await;
        let outcome = world.next_minute(&world.engine).await;
        assert!(!matches!(outcome, CycleOutcome::Blocked { .. } | CycleOutcome::Failed { .. }), "{outcome:?}");
        let row = world.store.order(&never_sent).await.unwrap().unwrap();
        assert_eq!(row.status, OrderStatus::NotExecuted, "{row:?}");
        let events = reconciled_events(&world, &never_sent).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_names_what_was_searched(&events[0].message);
        assert_names_what_was_searched(&format!("not executed: {}", row.error.unwrap()));

        // Nothing was, or ever is, sent for it.
        world.run_minutes(5).await;
        assert_eq!(executions_of(&world, &never_sent), 0);
        world.assert_trades_equal_exchange_fills().await;
    }

    async fn an_order_hidden_from_every_lookup_until_after_the_bound_is_missed_not_doubled(store: Store) {
        let world = world_on(store).await;
        // The order executes, its answer is lost, and the exchange shows it nowhere (not by
        // client order id, not in the order history, not in the trade list) for an hour.
        world.set_faults(json!({"rules": [
            {"fault": {"backend_timeout": "after_executing"}, "endpoints": ["POST /api/v3/order"], "trigger": {"next": 1}},
            {"fault": {"not_queryable_ms": 3_600_000},
             "endpoints": ["GET /api/v3/order", "GET /api/v3/allOrders", "GET /api/v3/myTrades"]}
        ]}));
        let order = run_until_the_first_order(&world).await;
        assert_eq!(order.status, OrderStatus::Unknown, "{order:?}");
        let outcome = world.next_minute(&world.engine).await;
        assert!(matches!(outcome, CycleOutcome::Blocked { .. }), "in doubt before the bound: {outcome:?}");

        // Past the bound, with every lookup still blind, reconciliation gives up on it: this is
        // the accepted outcome of a lookup that lags longer than the bound, a MISSED trade (the
        // exchange executed it, the bot's records do not have it). What must never happen is
        // the other way out, sending it again: it executed exactly once.
        tokio::time::sleep(ABSENT_AFTER + Duration::from_millis(50)).await;
        world.next_minute(&world.engine).await;
        let row = world.store.order(&order.client_order_id).await.unwrap().unwrap();
        assert_eq!(row.status, OrderStatus::NotExecuted, "{row:?}");
        let events = reconciled_events(&world, &order.client_order_id).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_names_what_was_searched(&events[0].message);
        assert_eq!(executions_of(&world, &order.client_order_id), 1, "executed once, never re-sent");

        // The bot goes on with new signals only: the missed order is still executed exactly
        // once, and every other execution has its trade row.
        world.clear_faults();
        world.run_minutes(30).await;
        assert_eq!(executions_of(&world, &order.client_order_id), 1, "never re-sent");
        let log = world.order_log();
        let trades = world.trades().await;
        assert!(trades.iter().all(|trade| trade.client_order_id != order.client_order_id), "{trades:?}");
        for record in log.iter().filter(|record| record.client_order_id != order.client_order_id) {
            let matching = trades.iter().filter(|trade| trade.binance_order_id == record.order_id as i64);
            assert_eq!(matching.count(), usize::from(!record.executed_qty().is_zero()), "{record:?}");
        }
        assert!(world.store.unresolved_orders(Some(world.bot_id)).await.unwrap().is_empty());
    }
}
