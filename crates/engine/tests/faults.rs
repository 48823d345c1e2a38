//! Failures around orders, against the real simulator and a real database on both backends:
//! every fault the simulator injects leaves the trades table equal to the exchange's fills, an
//! order in doubt blocks the bot until reconciliation learns its fate, a restart after the order
//! was written (sent or not) reconciles it, and two engines on one database never run the same bot
//! at once.

mod common;

use std::time::Duration;

use common::{MINUTE_MS, World};
use engine::{CycleOutcome, client_order_id};
use market::{Quantity, Side, Symbol};
use rust_decimal::Decimal;
use serde_json::json;
use store::{BotStatus, NewOrder, OrderStatus};

/// The faults a MARKET order can meet, each striking the next order once.
fn order_faults() -> Vec<serde_json::Value> {
    let mut faults = Vec::new();
    for timing in ["before_executing", "after_executing"] {
        faults.push(json!({"drop_connection": timing}));
        faults.push(json!({"server_error": {"status": 502, "timing": timing}}));
        faults.push(json!({"server_error": {"status": 503, "timing": timing}}));
        faults.push(json!({"unexpected_response": timing}));
        faults.push(json!({"backend_timeout": timing}));
    }
    faults.push(json!("server_busy"));
    faults.push(json!({"too_many_requests_s": 1}));
    faults.push(json!({"latency_ms": 2500}));
    faults
}

/// Cycles until the bot has sent one more order than `orders_before` (or gives up).
async fn run_until_an_order(world: &World, orders_before: usize) {
    for _ in 0..60 {
        world.next_minute(&world.engine).await;
        if world.store.orders(world.bot_id).await.unwrap().len() > orders_before {
            return;
        }
    }
    panic!("no signal in 60 minutes");
}

store::backend_tests! {
    async fn every_fault_leaves_the_trades_equal_to_the_exchange_fills(store: Store) {
        let world = World::start(store, Decimal::from(200)).await;
        for fault in order_faults() {
            let orders_before = world.store.orders(world.bot_id).await.unwrap().len();
            world.set_faults(json!({"rules": [{
                "fault": fault,
                "endpoints": ["POST /api/v3/order"],
                "trigger": {"next": 1}
            }]}));
            run_until_an_order(&world, orders_before).await;
            world.clear_faults();
            // More cycles: an order in doubt is reconciled before the bot trades again (one the
            // exchange never shows counts as not executed after the 300 ms absent window).
            for _ in 0..40 {
                world.next_minute(&world.engine).await;
                if world.store.unresolved_orders(Some(world.bot_id)).await.unwrap().is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            world.assert_trades_equal_exchange_fills().await;
            let unresolved = world.store.unresolved_orders(Some(world.bot_id)).await.unwrap();
            assert!(unresolved.is_empty(), "after {fault}: {unresolved:?}");
        }
        // Every order row ended in a final state that agrees with the exchange.
        let log = world.order_log();
        for order in world.store.orders(world.bot_id).await.unwrap() {
            let on_exchange = log.iter().find(|record| record.client_order_id == order.client_order_id);
            match order.status {
                OrderStatus::Filled | OrderStatus::PartiallyFilled => {
                    assert!(on_exchange.is_some_and(|record| !record.executed_qty().is_zero()), "{order:?}");
                }
                OrderStatus::NotExecuted | OrderStatus::Rejected => {
                    assert!(on_exchange.is_none_or(|record| record.executed_qty().is_zero()), "{order:?}");
                }
                other => panic!("order {} left {other:?}", order.client_order_id),
            }
        }
    }

    async fn a_rejected_order_sets_the_error_and_is_not_retried(store: Store) {
        let world = World::start(store, Decimal::from(200)).await;
        world.run_minutes(2).await;
        // The market closes; the client still has the rules it cached while it was open, so
        // the next signal's order goes out and the exchange refuses it (-2010).
        world.set_faults(json!({"symbol_status": {"BTCUSDT": "HALT"}, "rules": []}));
        run_until_an_order(&world, 0).await;
        let orders = world.store.orders(world.bot_id).await.unwrap();
        assert_eq!(orders.len(), 1);
        let rejected = &orders[0];
        assert_eq!(rejected.status, OrderStatus::Rejected, "{rejected:?}");
        assert!(rejected.error.as_deref().unwrap().contains("Market is closed"), "{rejected:?}");
        let bot = world.bot_config().await;
        assert_eq!(bot.status, BotStatus::Error);
        assert_eq!(bot.consecutive_failures, 1);
        let message = bot.last_error.unwrap();
        assert!(message.contains("rejected") && message.contains("-2010"), "{message}");
        assert!(world.order_log().is_empty(), "nothing executed");
        // The next cycles decide on new candles only: the refused signal is not sent again.
        world.run_minutes(3).await;
        let orders = world.store.orders(world.bot_id).await.unwrap();
        let same_signal = orders
            .iter()
            .filter(|order| order.signal_candle_open_ms == rejected.signal_candle_open_ms)
            .count();
        assert_eq!(same_signal, 1, "{orders:?}");
        // Once the market reopens, the bot trades and its status recovers.
        world.clear_faults();
        world.set_faults(json!({"symbol_status": {}, "rules": []}));
        for _ in 0..60 {
            world.next_minute(&world.engine).await;
            if !world.trades().await.is_empty() {
                break;
            }
        }
        assert!(!world.trades().await.is_empty());
        assert_eq!(world.bot_config().await.status, BotStatus::Running);
        world.assert_trades_equal_exchange_fills().await;
    }

    async fn an_order_in_doubt_blocks_the_bot_until_reconciled(store: Store) {
        let world = World::start(store, Decimal::from(200)).await;
        // Its owner opted into hearing of orders in doubt on a channel.
        let bot = world.bot_config().await;
        let channel = store::NewChannel {
            user_id: bot.user_id,
            kind: store::ChannelKind::Webhook,
            name: "ops".to_owned(),
            target: "https://hooks.example.com/".to_owned(),
            secret_ciphertext: vec![2],
        };
        let channel = world.store.create_channel(&channel, 1).await.unwrap();
        let in_doubt = [store::Subscription { channel_id: channel.id, event: store::NotifyEvent::OrderInDoubt }];
        world.store.set_subscriptions(bot.user_id, bot.id, &in_doubt, 1).await.unwrap();
        let orders_before = 0;
        // The order executes but its answer is lost, and the exchange cannot find it for a
        // while, neither by client order id nor in the order history: the client gives up
        // looking, and the order is in doubt.
        world.set_faults(json!({"rules": [
            {"fault": {"backend_timeout": "after_executing"}, "endpoints": ["POST /api/v3/order"], "trigger": {"next": 1}},
            {"fault": {"not_queryable_ms": 3_600_000}, "endpoints": ["GET /api/v3/order", "GET /api/v3/allOrders"]}
        ]}));
        run_until_an_order(&world, orders_before).await;
        let orders = world.store.orders(world.bot_id).await.unwrap();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].status, OrderStatus::Unknown, "{:?}", orders[0]);
        let bot = world.bot_config().await;
        assert_eq!(bot.status, BotStatus::Error);
        assert!(bot.last_error.unwrap().contains("in doubt"));
        assert!(world.trades().await.is_empty(), "nothing recorded while in doubt");
        assert_eq!(world.order_log().len(), 1, "the exchange did execute it");
        // An incident of its own, and its owner is told once.
        world.engine.flush_events().await;
        let events = world.store.events(world.bot_id, 100).await.unwrap();
        let incident = events.iter().find(|event| event.kind == store::IN_DOUBT_EVENT).unwrap();
        assert!(incident.message.contains(&orders[0].client_order_id), "{incident:?}");
        let told = world.store.all_deliveries().await.unwrap();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!((told[0].event, told[0].source_id), (store::NotifyEvent::OrderInDoubt, incident.id));

        // While the exchange still cannot say, the bot does not trade.
        for _ in 0..5 {
            let outcome = world.next_minute(&world.engine).await;
            assert!(matches!(outcome, CycleOutcome::Blocked { .. }), "{outcome:?}");
        }
        assert_eq!(world.order_log().len(), 1, "no new order while one is in doubt");

        // Once it can, the next cycle records the trade, then trades again.
        world.clear_faults();
        let outcome = world.next_minute(&world.engine).await;
        assert!(!matches!(outcome, CycleOutcome::Blocked { .. } | CycleOutcome::Failed { .. }), "{outcome:?}");
        world.assert_trades_equal_exchange_fills().await;
        assert_eq!(world.store.order(&orders[0].client_order_id).await.unwrap().unwrap().status, OrderStatus::Filled);
        assert_eq!(world.bot_config().await.status, BotStatus::Running);
    }

    async fn a_restart_after_the_order_was_written_reconciles_it(store: Store) {
        // Short leases: the crashed process's lease must expire for the new one to take over.
        let world = World::start_with(store, Decimal::from(200), |settings| {
            settings.lease_ttl = Duration::from_millis(300);
        })
        .await;
        world.run_minutes(3).await;
        let bot = world.bot_config().await;
        let symbol = Symbol::new("BTCUSDT").unwrap();
        // The process wrote two orders ahead and died: the first after sending it, the second
        // before.
        let sent = client_order_id(bot.id, 1, Side::Buy);
        let never_sent = client_order_id(bot.id, 2, Side::Buy);
        for id in [&sent, &never_sent] {
            world.store.insert_pending_order(&NewOrder {
                client_order_id: id.clone(),
                bot_id: bot.id,
                user_id: bot.user_id,
                symbol: "BTCUSDT".to_owned(),
                side: Side::Buy,
                requested_quantity: Decimal::new(1, 3),
                signal_candle_open_ms: 1,
                decision: None,
            }, engine::wall_now_ms()).await.unwrap();
        }
        let quantity: Quantity = "0.001".parse().unwrap();
        world.trader_client().await.place_market_order(&symbol, Side::Buy, binance::OrderSize::Base(quantity), &sent).await.unwrap();
        // The process is gone without releasing the bot. While its lease runs, nobody else may
        // touch the bot; once it expired (and the orders are older than the absent-after
        // window), the new process reconciles them at start, before any cycle.
        let engine = world.restarted_engine("worker-after-crash");
        assert_eq!(engine.reconcile_bot(&world.bot().await).await.unwrap(), None, "still leased");
        tokio::time::sleep(Duration::from_millis(350)).await;
        let left = engine.reconcile_bot(&world.bot().await).await.unwrap();
        assert_eq!(left, Some(0));
        assert_eq!(world.store.order(&sent).await.unwrap().unwrap().status, OrderStatus::Filled);
        assert_eq!(world.store.order(&never_sent).await.unwrap().unwrap().status, OrderStatus::NotExecuted);
        world.assert_trades_equal_exchange_fills().await;
        let position = world.store.position(bot.id).await.unwrap();
        assert!(position.quantity > Decimal::ZERO, "the reconciled BUY is in the position");
    }

    async fn two_engines_on_one_database_never_run_the_same_bot_at_once(db: &TestDatabase) {
        let world = World::start(db.store().clone(), Decimal::from(200)).await;
        // A second process: its own connection pool, its own engine, the same exchange account.
        let other_store = db.another_store().await;
        let mut settings = world.engine.settings().clone();
        settings.worker_id = "worker-b".to_owned();
        let other_accounts = common::accounts_on(&other_store, &world.client);
        let other = engine::Engine::new(other_store, other_accounts, settings);
        // Slow klines make the two cycles overlap.
        world.set_faults(json!({"rules": [{"fault": {"latency_ms": 30}, "endpoints": ["GET /api/v3/klines"]}]}));
        let mut rounds_with_one_busy = 0;
        for _ in 0..30 {
            world.clock.advance_ms(MINUTE_MS);
            let bot = world.bot().await;
            let (first, second) = tokio::join!(world.engine.run_cycle(&bot), other.run_cycle(&bot));
            let busy = [&first, &second]
                .iter()
                .filter(|outcome| matches!(outcome, CycleOutcome::Busy))
                .count();
            assert!(busy <= 1, "both stood aside, nobody ran the bot: {first:?} / {second:?}");
            rounds_with_one_busy += usize::from(busy == 1);
        }
        // Started together, the two cycles overlap (the klines take 30 ms), so in (nearly) every
        // round the second finds the lease taken and stands aside.
        assert!(rounds_with_one_busy >= 25, "only {rounds_with_one_busy} of 30 rounds overlapped");
        world.clear_faults();
        world.assert_trades_equal_exchange_fills().await;
    }
}
