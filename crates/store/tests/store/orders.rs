//! Write-ahead orders, positions and events.

use market::Side;
use store::{
    BotControl, BotId, NewEvent, OrderStatus, PositionRow, SKIP_EVENT, StoreError, UserId,
};

use crate::common::{NO_BOT, bot, count, d, new_order, traded, user};

store::backend_tests! {
    async fn a_fenced_order_is_written_only_while_the_lease_is_held(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let lease = store.try_acquire_lease(one.id, "worker-a", 1_000, 500).await.unwrap().unwrap();
        let written = store
            .insert_pending_order_fenced(&new_order(&one, "sb-fenced-1", Side::Buy), &lease, 1_200)
            .await
            .unwrap()
            .expect("written while the lease is held");
        assert_eq!(written.status, OrderStatus::Pending);
        // Expired at 1_500 and taken by another worker: the stale holder writes nothing.
        store.try_acquire_lease(one.id, "worker-b", 1_600, 500).await.unwrap().unwrap();
        let refused = store
            .insert_pending_order_fenced(&new_order(&one, "sb-fenced-2", Side::Buy), &lease, 1_700)
            .await
            .unwrap();
        assert_eq!(refused, None);
        assert_eq!(store.order("sb-fenced-2").await.unwrap(), None);
        // Expired, even if nobody took it yet: refused too.
        let lease_b = store.lease(one.id).await.unwrap().unwrap();
        let late = store
            .insert_pending_order_fenced(&new_order(&one, "sb-fenced-3", Side::Buy), &lease_b, 2_100)
            .await
            .unwrap();
        assert_eq!(late, None);
        // A duplicate is still a duplicate.
        let fresh = store.try_acquire_lease(one.id, "worker-c", 3_000, 500).await.unwrap().unwrap();
        assert!(matches!(
            store
                .insert_pending_order_fenced(&new_order(&one, "sb-fenced-1", Side::Buy), &fresh, 3_100)
                .await,
            Err(StoreError::Duplicate { .. })
        ));
        assert_eq!(count(&store, "orders").await, 1);
    }

    async fn a_fenced_order_is_refused_once_the_bot_is_paused_or_stopped(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let lease = store.try_acquire_lease(one.id, "worker-a", 1_000, 60_000).await.unwrap().unwrap();
        // The lease is still held: only the user's pause or stop keeps the order from existing.
        for (control, name) in [(BotControl::Pause, "sb-paused"), (BotControl::Stop, "sb-stopped")] {
            store.control_bot(alice.id, one.id, control, 1_100).await.unwrap().unwrap();
            let refused = store
                .insert_pending_order_fenced(&new_order(&one, name, Side::Buy), &lease, 1_200)
                .await
                .unwrap();
            assert_eq!(refused, None, "{control:?}");
            store.control_bot(alice.id, one.id, BotControl::Start, 1_300).await.unwrap().unwrap();
        }
        assert!(
            store
                .insert_pending_order_fenced(&new_order(&one, "sb-started", Side::Buy), &lease, 1_400)
                .await
                .unwrap()
                .is_some(),
            "started again: written"
        );
        assert_eq!(count(&store, "orders").await, 1);
    }

    async fn pending_orders_round_trip_every_field(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let mut wanted = new_order(&one, "sb-1-0001", Side::Sell);
        wanted.requested_quantity = d("12345678901.12345678");
        let row = store.insert_pending_order(&wanted, 10_000).await.unwrap();
        assert_eq!(row.client_order_id, "sb-1-0001");
        assert_eq!(row.bot_id, one.id);
        assert_eq!(row.user_id, alice.id);
        assert_eq!(row.symbol, "BTCUSDT");
        assert_eq!(row.side, Side::Sell);
        assert_eq!(row.requested_quantity, d("12345678901.12345678"));
        assert_eq!(row.signal_candle_open_ms, 1_700_000_000_000);
        assert_eq!(row.status, OrderStatus::Pending);
        assert_eq!(row.exchange_order_id, None);
        assert_eq!(row.error, None);
        assert_eq!((row.created_at_ms, row.updated_at_ms), (10_000, 10_000));
        assert_eq!(store.order("sb-1-0001").await.unwrap(), Some(row.clone()));
        assert_eq!(store.order("nope").await.unwrap(), None);

        let small = store
            .insert_pending_order(&new_order(&one, "sb-1-0002", Side::Buy), 11_000)
            .await
            .unwrap();
        assert_eq!(small.requested_quantity, d("0.0012"));
        assert_eq!(small.side, Side::Buy);
        assert!(small.id > row.id);
        assert_eq!(store.orders(one.id).await.unwrap(), vec![row, small]);
        assert_eq!(store.orders(NO_BOT).await.unwrap(), vec![]);
    }

    async fn orders_are_unique_and_need_their_bot_and_user(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        store
            .insert_pending_order(&new_order(&one, "dup", Side::Buy), 1)
            .await
            .unwrap();
        assert!(matches!(
            store.insert_pending_order(&new_order(&one, "dup", Side::Sell), 2).await,
            Err(StoreError::Duplicate { what: "order with client order id", key }) if key == "dup"
        ));
        let mut orphan = new_order(&one, "orphan", Side::Buy);
        orphan.bot_id = NO_BOT;
        assert!(matches!(
            store.insert_pending_order(&orphan, 3).await,
            Err(StoreError::NotFound { .. })
        ));
        let mut orphan = new_order(&one, "orphan", Side::Buy);
        orphan.user_id = UserId(424_242);
        assert!(matches!(
            store.insert_pending_order(&orphan, 3).await,
            Err(StoreError::NotFound { .. })
        ));
        let mut nothing = new_order(&one, "nothing", Side::Buy);
        nothing.requested_quantity = d("0");
        assert!(matches!(
            store.insert_pending_order(&nothing, 3).await,
            Err(StoreError::InvalidValue {
                field: "requested_quantity",
                ..
            })
        ));
        assert!(matches!(
            store
                .insert_pending_order(&new_order(&one, "", Side::Buy), 3)
                .await,
            Err(StoreError::InvalidValue {
                field: "client_order_id",
                ..
            })
        ));
        assert_eq!(count(&store, "orders").await, 1);
    }

    async fn unresolved_orders_are_pending_or_unknown_oldest_first(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let two = bot(&store, alice.id, "two").await;
        for (bot, id) in [
            (&one, "a"),
            (&two, "b"),
            (&one, "c"),
            (&one, "d"),
            (&two, "e"),
            (&one, "f"),
        ] {
            store
                .insert_pending_order(&new_order(bot, id, Side::Buy), 100)
                .await
                .unwrap();
        }
        store
            .set_order_status("c", OrderStatus::Unknown, Some("timeout"), 200)
            .await
            .unwrap();
        store
            .set_order_status(
                "d",
                OrderStatus::Rejected,
                Some("-2010 insufficient balance"),
                200,
            )
            .await
            .unwrap();
        store
            .set_order_status("e", OrderStatus::NotExecuted, None, 200)
            .await
            .unwrap();
        traded(&store, &one, "g", 77, Side::Buy, 300).await;
        let ids = |orders: Vec<store::OrderRow>| {
            orders
                .into_iter()
                .map(|o| o.client_order_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(store.unresolved_orders(None).await.unwrap()),
            ["a", "b", "c", "f"]
        );
        assert_eq!(
            ids(store.unresolved_orders(Some(one.id)).await.unwrap()),
            ["a", "c", "f"]
        );
        assert_eq!(
            ids(store.unresolved_orders(Some(two.id)).await.unwrap()),
            ["b"]
        );
        assert_eq!(
            ids(store.unresolved_orders(Some(NO_BOT)).await.unwrap()),
            Vec::<String>::new()
        );
    }

    async fn order_status_changes_that_executed_nothing(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        store
            .insert_pending_order(&new_order(&one, "x", Side::Buy), 100)
            .await
            .unwrap();

        store
            .set_order_status("x", OrderStatus::Unknown, Some("HTTP 503"), 200)
            .await
            .unwrap();
        let row = store.order("x").await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.error.as_deref(), row.updated_at_ms),
            (OrderStatus::Unknown, Some("HTTP 503"), 200)
        );
        assert_eq!(row.created_at_ms, 100);
        store
            .set_order_status("x", OrderStatus::Pending, None, 300)
            .await
            .unwrap();
        let row = store.order("x").await.unwrap().unwrap();
        assert_eq!((row.status, row.error), (OrderStatus::Pending, None));
        for status in [OrderStatus::Rejected, OrderStatus::NotExecuted] {
            store
                .set_order_status("x", status, Some("why"), 400)
                .await
                .unwrap();
            assert_eq!(store.order("x").await.unwrap().unwrap().status, status);
        }

        for status in [OrderStatus::Filled, OrderStatus::PartiallyFilled] {
            assert!(matches!(
                store.set_order_status("x", status, None, 500).await,
                Err(StoreError::InvalidValue {
                    field: "order status",
                    ..
                })
            ));
        }
        assert!(matches!(
            store
                .set_order_status("nope", OrderStatus::Rejected, None, 500)
                .await,
            Err(StoreError::NotFound { .. })
        ));

        // An executed order never changes again.
        traded(&store, &one, "done", 5, Side::Buy, 600).await;
        for status in [
            OrderStatus::Pending,
            OrderStatus::Unknown,
            OrderStatus::Rejected,
            OrderStatus::NotExecuted,
        ] {
            match store
                .set_order_status("done", status, Some("late"), 700)
                .await
            {
                Err(StoreError::InvalidValue { detail, .. }) => {
                    assert!(detail.contains("already executed (filled)"), "{detail}");
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        let done = store.order("done").await.unwrap().unwrap();
        assert_eq!(
            (done.status, done.error, done.exchange_order_id),
            (OrderStatus::Filled, None, Some(5))
        );
    }

    async fn positions_start_flat_and_list_by_user(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        let one = bot(&store, alice.id, "one").await;
        let two = bot(&store, alice.id, "two").await;
        let bobs = bot(&store, bob.id, "bobs").await;
        assert_eq!(
            store.position(one.id).await.unwrap(),
            PositionRow::flat(one.id)
        );
        assert_eq!(store.position(one.id).await.unwrap().updated_at_ms, 0);
        assert_eq!(store.positions(None).await.unwrap(), vec![]);

        traded(&store, &bobs, "b1", 1, Side::Buy, 1_000).await;
        traded(&store, &one, "a1", 2, Side::Buy, 2_000).await;
        let one_position = store.position(one.id).await.unwrap();
        assert_eq!(
            one_position,
            PositionRow {
                bot_id: one.id,
                quantity: d("0.00000001"),
                cost_quote: d("123.55"),
                realized_pnl: d("-1.23456789"),
                updated_at_ms: 2_001,
            }
        );
        assert_eq!(
            store.position(two.id).await.unwrap(),
            PositionRow::flat(two.id)
        );
        let bots = |positions: Vec<PositionRow>| {
            positions.into_iter().map(|p| p.bot_id).collect::<Vec<_>>()
        };
        assert_eq!(
            bots(store.positions(None).await.unwrap()),
            vec![one.id, bobs.id]
        );
        assert_eq!(
            store.positions(Some(alice.id)).await.unwrap(),
            vec![one_position]
        );
        assert_eq!(
            bots(store.positions(Some(bob.id)).await.unwrap()),
            vec![bobs.id]
        );
        assert_eq!(
            store.positions(Some(UserId(424_242))).await.unwrap(),
            vec![]
        );
    }

    async fn events_are_newest_first(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let two = bot(&store, alice.id, "two").await;
        store
            .record_event(one.id, 100, "signal", "BUY signal: EMA 12 crossed above 26")
            .await
            .unwrap();
        store
            .record_event(one.id, 300, "skip", "below MIN_NOTIONAL")
            .await
            .unwrap();
        store
            .record_event(two.id, 250, "error", "exchange: timeout")
            .await
            .unwrap();
        store
            .record_event(one.id, 200, "signal", "late écho ✓")
            .await
            .unwrap();
        store
            .record_event(one.id, 300, "error", "same time, inserted later")
            .await
            .unwrap();

        let events = store.events(one.id, 10).await.unwrap();
        let seen: Vec<(i64, &str, &str)> = events
            .iter()
            .map(|e| (e.at_ms, e.kind.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (300, "error", "same time, inserted later"),
                (300, "skip", "below MIN_NOTIONAL"),
                (200, "signal", "late écho ✓"),
                (100, "signal", "BUY signal: EMA 12 crossed above 26"),
            ]
        );
        assert!(events.iter().all(|e| e.bot_id == one.id));
        assert!(events[0].id > events[1].id);
        assert_eq!(store.events(one.id, 2).await.unwrap(), events[..2].to_vec());
        assert_eq!(store.events(one.id, 0).await.unwrap(), vec![]);
        assert_eq!(store.events(two.id, 10).await.unwrap().len(), 1);
        assert!(matches!(
            store.record_event(BotId(424_242), 1, "signal", "x").await,
            Err(StoreError::NotFound { what: "bot", .. })
        ));
    }

    async fn decisions_keep_their_candle_and_a_chart_finds_the_skipped_ones(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let two = bot(&store, alice.id, "two").await;
        let event = |bot: BotId, at_ms: i64, kind: &str, candle: Option<i64>| NewEvent {
            bot_id: bot,
            at_ms,
            kind: kind.to_owned(),
            message: format!("{kind} at {at_ms}"),
            candle_open_ms: candle,
            detail: None,
        };
        store
            .record_events(&[
                event(one.id, 10, "hold", Some(60_000)),
                event(one.id, 20, SKIP_EVENT, Some(120_000)),
                event(one.id, 30, SKIP_EVENT, Some(180_000)),
                event(two.id, 35, SKIP_EVENT, Some(180_000)),
                event(one.id, 40, "error", None),
            ])
            .await
            .unwrap();
        store.record_new_event(&event(one.id, 50, SKIP_EVENT, Some(240_000))).await.unwrap();
        store.record_event(one.id, 60, "paused", "an incident").await.unwrap();

        let events = store.events(one.id, 10).await.unwrap();
        let candles: Vec<(&str, Option<i64>)> =
            events.iter().map(|e| (e.kind.as_str(), e.candle_open_ms)).collect();
        assert_eq!(
            candles,
            [
                ("paused", None),
                (SKIP_EVENT, Some(240_000)),
                ("error", None),
                (SKIP_EVENT, Some(180_000)),
                (SKIP_EVENT, Some(120_000)),
                ("hold", Some(60_000)),
            ]
        );
        // Skips only, this bot's only, from the candle given, the newest `limit`, oldest first.
        let skipped = |from: i64, limit: u32| {
            let store = store.clone();
            async move {
                store
                    .skipped_signals(one.id, from, limit)
                    .await
                    .unwrap()
                    .iter()
                    .map(|e| e.candle_open_ms.unwrap())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(skipped(0, 10).await, [120_000, 180_000, 240_000]);
        assert_eq!(skipped(180_000, 10).await, [180_000, 240_000]);
        assert_eq!(skipped(0, 2).await, [180_000, 240_000]);
        assert!(skipped(300_000, 10).await.is_empty());

        // A trade's event names its order's signal candle.
        traded(&store, &one, "sb-1", 1, Side::Buy, 1_000).await;
        let trade_event = store.events(one.id, 1).await.unwrap().remove(0);
        assert_eq!(trade_event.kind, "trade");
        assert_eq!(
            trade_event.candle_open_ms,
            Some(new_order(&one, "sb-1", Side::Buy).signal_candle_open_ms)
        );
    }
}
