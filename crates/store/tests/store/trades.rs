//! Recording executions (one transaction, idempotent) and reading trades back.

use market::Side;
use store::{OrderStatus, PageOrder, StoreError, TradeFilter, TradeId, UserId};

use crate::common::{NO_BOT, bot, count, d, execution, new_order, traded, user};

store::backend_tests! {
    async fn an_execution_writes_trade_order_position_and_event(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        store
            .insert_pending_order(&new_order(&one, "sb-1", Side::Sell), 100)
            .await
            .unwrap();
        let wanted = execution(&one, "sb-1", 9_007_199_254_740_993, Side::Sell, 1_000);
        let (trade, fresh) = store.record_execution(&wanted, 1_234).await.unwrap();
        assert!(fresh);
        assert_eq!(trade.bot_id, one.id);
        assert_eq!(trade.user_id, alice.id);
        assert_eq!(trade.binance_order_id, 9_007_199_254_740_993);
        assert_eq!(trade.client_order_id, "sb-1");
        assert_eq!(trade.symbol, "BTCUSDT");
        assert_eq!(trade.side, Side::Sell);
        assert_eq!(trade.order_type, "MARKET");
        assert_eq!(trade.price, d("12345678901.12345678"));
        assert_eq!(trade.quantity_filled, d("0.00000001"));
        assert_eq!(trade.quote_quantity_filled, d("123.4567890112345678"));
        assert_eq!(trade.commission, d("0.00000001"));
        assert_eq!(trade.commission_asset, "BNB");
        assert_eq!(trade.realized_pnl, Some(d("-1.23456789")));
        assert_eq!(trade.executed_at_ms, 1_000);
        assert_eq!(
            store.trades(&TradeFilter::default()).await.unwrap(),
            vec![trade.clone()]
        );

        let order = store.order("sb-1").await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Filled);
        assert_eq!(order.exchange_order_id, Some(9_007_199_254_740_993));
        assert_eq!(order.updated_at_ms, 1_234);
        assert_eq!(store.position(one.id).await.unwrap(), wanted.position_after);
        let events = store.events(one.id, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].kind.as_str(), events[0].at_ms), ("trade", 1_234));
        assert!(
            events[0]
                .message
                .starts_with("SELL 0.00000001 BTCUSDT at 12345678901.12345678"),
            "{}",
            events[0].message
        );
        assert!(
            events[0].message.contains("realised PnL -1.23456789"),
            "{}",
            events[0].message
        );

        // A BUY: no realised PnL; a partial fill.
        store
            .insert_pending_order(&new_order(&one, "sb-2", Side::Buy), 2_000)
            .await
            .unwrap();
        let mut partial = execution(&one, "sb-2", 2, Side::Buy, 2_100);
        partial.position_before = store.position(one.id).await.unwrap();
        partial.order_status = OrderStatus::PartiallyFilled;
        let (buy, _) = store.record_execution(&partial, 2_200).await.unwrap();
        assert_eq!(buy.realized_pnl, None);
        assert_eq!(
            store.order("sb-2").await.unwrap().unwrap().status,
            OrderStatus::PartiallyFilled
        );
        assert!(store.unresolved_orders(None).await.unwrap().is_empty());
    }

    async fn recording_an_execution_twice_changes_nothing(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let first = traded(&store, &one, "sb-1", 42, Side::Buy, 1_000).await;
        let position = store.position(one.id).await.unwrap();

        let mut again = execution(&one, "sb-1", 42, Side::Buy, 1_000);
        again.position_after.quantity = d("99");
        again.position_after.updated_at_ms = 5_000;
        again.order_status = OrderStatus::PartiallyFilled;
        let (row, fresh) = store.record_execution(&again, 5_000).await.unwrap();
        assert!(!fresh);
        assert_eq!(row, first);
        assert_eq!(store.position(one.id).await.unwrap(), position);
        let order = store.order("sb-1").await.unwrap().unwrap();
        assert_eq!(
            (order.status, order.updated_at_ms),
            (OrderStatus::Filled, 1_001)
        );
        assert_eq!(count(&store, "trades").await, 1);
        assert_eq!(count(&store, "events").await, 1);
    }

    async fn an_execution_on_a_position_that_moved_since_it_was_read_is_refused(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        for order in ["sb-1", "sb-2"] {
            store
                .insert_pending_order(&new_order(&one, order, Side::Buy), 100)
                .await
                .unwrap();
        }
        // Both read the flat position; the first to write wins.
        let first = execution(&one, "sb-1", 1, Side::Buy, 1_000);
        let second = execution(&one, "sb-2", 2, Side::Buy, 1_100);
        store.record_execution(&first, 1_001).await.unwrap();
        match store.record_execution(&second, 1_101).await {
            Err(StoreError::Changed { what, key }) => {
                assert_eq!((what, key), ("position of bot", one.id.to_string()));
            }
            other => panic!("expected Changed, got {other:?}"),
        }
        // Nothing of the refused execution was written.
        assert_eq!(count(&store, "trades").await, 1);
        assert_eq!(store.position(one.id).await.unwrap(), first.position_after);
        assert_eq!(
            store.order("sb-2").await.unwrap().unwrap().status,
            OrderStatus::Pending
        );
        // Applied to the position as it is now, it is recorded.
        let mut again = second.clone();
        again.position_before = first.position_after.clone();
        again.position_after.quantity = d("0.00000002");
        store.record_execution(&again, 1_102).await.unwrap();
        assert_eq!(store.position(one.id).await.unwrap(), again.position_after);
        // A stale read of an existing position is refused as well.
        store
            .insert_pending_order(&new_order(&one, "sb-3", Side::Sell), 1_200)
            .await
            .unwrap();
        let mut stale = execution(&one, "sb-3", 3, Side::Sell, 1_300);
        stale.position_before = first.position_after.clone();
        assert!(matches!(
            store.record_execution(&stale, 1_301).await,
            Err(StoreError::Changed { .. })
        ));
    }

    async fn an_order_counted_as_not_executed_that_executed_after_all_is_recorded_and_flagged(
        store: Store,
    ) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        store
            .insert_pending_order(&new_order(&one, "sb-1", Side::Buy), 100)
            .await
            .unwrap();
        store
            .set_order_status("sb-1", OrderStatus::NotExecuted, Some("unseen for 90 s"), 200)
            .await
            .unwrap();
        let (_, fresh) = store
            .record_execution(&execution(&one, "sb-1", 7, Side::Buy, 150), 300)
            .await
            .unwrap();
        assert!(fresh);
        assert_eq!(
            store.order("sb-1").await.unwrap().unwrap().status,
            OrderStatus::Filled
        );
        let events = store.events(one.id, 10).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
        assert!(kinds.contains(&"trade"), "{kinds:?}");
        let late = events
            .iter()
            .find(|event| event.kind == "late_execution")
            .expect("a late_execution event");
        assert!(late.message.contains("sb-1"), "{}", late.message);
        assert!(late.message.contains("unseen for 90 s"), "{}", late.message);
    }

    async fn an_exchange_order_id_of_another_client_order_is_a_collision_not_a_repeat(
        store: Store,
    ) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        traded(&store, &one, "sb-1", 42, Side::Buy, 1_000).await;
        store
            .insert_pending_order(&new_order(&one, "sb-2", Side::Buy), 1_500)
            .await
            .unwrap();
        match store
            .record_execution(&execution(&one, "sb-2", 42, Side::Buy, 2_000), 2_000)
            .await
        {
            Err(StoreError::Duplicate {
                what: "trade with exchange order id",
                key,
            }) => {
                assert_eq!(key, "BTCUSDT 42");
            }
            other => panic!("expected a collision, got {other:?}"),
        }
        // One order, one trade: a second exchange order for sb-1 is refused too.
        assert!(matches!(
            store
                .record_execution(&execution(&one, "sb-1", 43, Side::Buy, 2_000), 2_000)
                .await,
            Err(StoreError::Duplicate {
                what: "trade for client order id",
                ..
            })
        ));
        assert_eq!(count(&store, "trades").await, 1);
        assert_eq!(
            store.order("sb-2").await.unwrap().unwrap().status,
            OrderStatus::Pending
        );
    }

    async fn exchange_order_ids_are_unique_per_symbol_and_venue_only(store: Store) {
        // Binance numbers orders per symbol, and the simulator and Binance count separately:
        // order 42 of ETHUSDT, and order 42 of BTCUSDT on the testnet, are other executions.
        let alice = user(&store, "alice").await;
        let btc = bot(&store, alice.id, "btc").await;
        let mut eth = crate::common::new_bot(alice.id, "eth");
        eth.symbol = "ETHUSDT".to_owned();
        let eth = store.create_bot(&eth, 2_000).await.unwrap();
        let mut testnet = crate::common::new_bot(alice.id, "testnet");
        testnet.mode = store::Mode::Testnet;
        let testnet = store.create_bot(&testnet, 2_000).await.unwrap();
        traded(&store, &btc, "sb-btc", 42, Side::Buy, 1_000).await;
        traded(&store, &eth, "sb-eth", 42, Side::Buy, 1_000).await;
        traded(&store, &testnet, "sb-testnet", 42, Side::Buy, 1_000).await;
        assert_eq!(count(&store, "trades").await, 3);
    }

    async fn a_failed_execution_rolls_everything_back(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let two = bot(&store, alice.id, "two").await;

        // No order row: the trade row inserted first is rolled back.
        match store
            .record_execution(&execution(&one, "ghost", 7, Side::Buy, 1_000), 1_000)
            .await
        {
            Err(StoreError::NotFound { what, key }) => {
                assert_eq!(
                    (what, key.as_str()),
                    ("order with client order id", "ghost")
                );
            }
            other => panic!("expected a missing order, got {other:?}"),
        }
        // The order belongs to another bot: refused after the insert, rolled back too.
        store
            .insert_pending_order(&new_order(&two, "twos", Side::Buy), 1_000)
            .await
            .unwrap();
        match store
            .record_execution(&execution(&one, "twos", 8, Side::Buy, 1_000), 1_000)
            .await
        {
            Err(StoreError::InvalidValue {
                field: "trade",
                detail,
            }) => {
                assert!(detail.contains(&format!("has bot {}", two.id)), "{detail}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        let mut wrong_side = execution(&two, "twos", 9, Side::Sell, 1_000);
        wrong_side.position_after.bot_id = two.id;
        assert!(matches!(
            store.record_execution(&wrong_side, 1_000).await,
            Err(StoreError::InvalidValue { field: "trade", .. })
        ));
        // A bot that does not exist.
        let mut orphan = execution(&one, "twos", 10, Side::Buy, 1_000);
        orphan.trade.bot_id = NO_BOT;
        orphan.position_before.bot_id = NO_BOT;
        orphan.position_after.bot_id = NO_BOT;
        assert!(matches!(
            store.record_execution(&orphan, 1_000).await,
            Err(StoreError::NotFound { .. })
        ));
        let mut orphan = execution(&two, "twos", 10, Side::Buy, 1_000);
        orphan.trade.user_id = UserId(424_242);
        assert!(store.record_execution(&orphan, 1_000).await.is_err());

        assert_eq!(count(&store, "trades").await, 0);
        assert_eq!(count(&store, "positions").await, 0);
        assert_eq!(count(&store, "events").await, 0);
        let order = store.order("twos").await.unwrap().unwrap();
        assert_eq!(
            (order.status, order.exchange_order_id),
            (OrderStatus::Pending, None)
        );

        // The rolled-back attempts left the order recordable.
        let (_, fresh) = store
            .record_execution(&execution(&two, "twos", 8, Side::Buy, 1_000), 1_100)
            .await
            .unwrap();
        assert!(fresh);
        assert_eq!(count(&store, "trades").await, 1);
    }

    async fn executions_that_cannot_be_right_are_refused_up_front(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        store
            .insert_pending_order(&new_order(&one, "sb-1", Side::Buy), 1)
            .await
            .unwrap();
        let valid = execution(&one, "sb-1", 1, Side::Buy, 1_000);
        for status in [
            OrderStatus::Pending,
            OrderStatus::Rejected,
            OrderStatus::Unknown,
            OrderStatus::NotExecuted,
        ] {
            let mut bad = valid.clone();
            bad.order_status = status;
            assert!(matches!(
                store.record_execution(&bad, 1).await,
                Err(StoreError::InvalidValue {
                    field: "order_status",
                    ..
                })
            ));
        }
        for field in ["position_before.bot_id", "position_after.bot_id"] {
            let mut bad = valid.clone();
            if field == "position_before.bot_id" {
                bad.position_before.bot_id = NO_BOT;
            } else {
                bad.position_after.bot_id = NO_BOT;
            }
            match store.record_execution(&bad, 1).await {
                Err(StoreError::InvalidValue { field: refused, .. }) => assert_eq!(refused, field),
                other => panic!("expected {field} refused, got {other:?}"),
            }
        }
        let mut bad = valid.clone();
        bad.trade.quantity_filled = d("0");
        assert!(matches!(
            store.record_execution(&bad, 1).await,
            Err(StoreError::InvalidValue {
                field: "quantity_filled",
                ..
            })
        ));
        let mut bad = valid.clone();
        bad.trade.commission = d("-0.1");
        assert!(matches!(
            store.record_execution(&bad, 1).await,
            Err(StoreError::InvalidValue {
                field: "commission",
                ..
            })
        ));
        assert_eq!(count(&store, "trades").await, 0);
    }

    async fn trades_filter_and_page_by_id(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        let a1 = bot(&store, alice.id, "a1").await;
        let mut eth = crate::common::new_bot(alice.id, "a2");
        eth.symbol = "ETHUSDT".to_owned();
        let a2 = store.create_bot(&eth, 1).await.unwrap();
        let b1 = bot(&store, bob.id, "b1").await;
        // (bot, side, executed_at_ms), inserted in this order.
        let plan = [
            (&a1, Side::Buy, 1_000),
            (&b1, Side::Buy, 1_500),
            (&a2, Side::Buy, 2_000),
            (&a1, Side::Sell, 3_000),
            (&b1, Side::Sell, 3_000),
            (&a2, Side::Sell, 4_000),
            (&a1, Side::Buy, 5_000),
            (&a1, Side::Sell, 6_000),
        ];
        let mut all = Vec::new();
        for (i, (bot, side, at)) in plan.iter().enumerate() {
            all.push(traded(&store, bot, &format!("o{i}"), 100 + i as i64, *side, *at).await);
        }
        let ids = |trades: &[store::TradeRow]| {
            trades
                .iter()
                .map(|t| t.client_order_id.clone())
                .collect::<Vec<_>>()
        };
        let select = |filter: TradeFilter| {
            let store = store.clone();
            async move { ids(&store.trades(&filter).await.unwrap()) }
        };
        assert_eq!(store.trades(&TradeFilter::default()).await.unwrap(), all);
        assert_eq!(
            select(TradeFilter {
                user: Some(alice.id),
                ..Default::default()
            })
            .await,
            ["o0", "o2", "o3", "o5", "o6", "o7"]
        );
        assert_eq!(
            select(TradeFilter {
                user: Some(bob.id),
                ..Default::default()
            })
            .await,
            ["o1", "o4"]
        );
        assert_eq!(
            select(TradeFilter {
                bot: Some(a1.id),
                ..Default::default()
            })
            .await,
            ["o0", "o3", "o6", "o7"]
        );
        assert_eq!(
            select(TradeFilter {
                symbol: Some("ETHUSDT".to_owned()),
                ..Default::default()
            })
            .await,
            ["o2", "o5"]
        );
        assert_eq!(
            select(TradeFilter {
                side: Some(Side::Sell),
                ..Default::default()
            })
            .await,
            ["o3", "o4", "o5", "o7"]
        );
        // from inclusive, to exclusive.
        assert_eq!(
            select(TradeFilter {
                from_ms: Some(3_000),
                ..Default::default()
            })
            .await,
            ["o3", "o4", "o5", "o6", "o7"]
        );
        assert_eq!(
            select(TradeFilter {
                to_ms: Some(3_000),
                ..Default::default()
            })
            .await,
            ["o0", "o1", "o2"]
        );
        assert_eq!(
            select(TradeFilter {
                from_ms: Some(1_500),
                to_ms: Some(4_000),
                ..Default::default()
            })
            .await,
            ["o1", "o2", "o3", "o4"]
        );
        assert_eq!(
            select(TradeFilter {
                user: Some(alice.id),
                symbol: Some("BTCUSDT".to_owned()),
                side: Some(Side::Buy),
                from_ms: Some(0),
                to_ms: Some(10_000),
                ..Default::default()
            })
            .await,
            ["o0", "o6"]
        );
        assert_eq!(
            select(TradeFilter {
                user: Some(UserId(424_242)),
                ..Default::default()
            })
            .await,
            Vec::<String>::new()
        );
        assert_eq!(
            select(TradeFilter {
                limit: Some(0),
                ..Default::default()
            })
            .await,
            Vec::<String>::new()
        );

        // Cursor pagination: pages of 3 by the last id seen, with and without another filter.
        for (filter, expected) in [
            (TradeFilter::default(), ids(&all)),
            (
                TradeFilter {
                    user: Some(alice.id),
                    ..Default::default()
                },
                ids(&[
                    all[0].clone(),
                    all[2].clone(),
                    all[3].clone(),
                    all[5].clone(),
                    all[6].clone(),
                    all[7].clone(),
                ]),
            ),
        ] {
            let mut pages = Vec::new();
            let mut after_id: Option<TradeId> = None;
            loop {
                let page = store
                    .trades(&TradeFilter {
                        after_id,
                        limit: Some(3),
                        ..filter.clone()
                    })
                    .await
                    .unwrap();
                assert!(page.len() <= 3);
                let Some(last) = page.last() else { break };
                after_id = Some(last.id);
                pages.extend(ids(&page));
            }
            assert_eq!(pages, expected);
        }
        assert_eq!(
            select(TradeFilter {
                after_id: Some(all[7].id),
                ..Default::default()
            })
            .await,
            Vec::<String>::new()
        );

        // The newest few, oldest first, with and without a filter.
        let latest = |filter: TradeFilter, count: u32| {
            let store = store.clone();
            async move { ids(&store.latest_trades(&filter, count).await.unwrap()) }
        };
        assert_eq!(latest(TradeFilter::default(), 3).await, ["o5", "o6", "o7"]);
        assert_eq!(latest(TradeFilter::default(), 100).await, ids(&all));
        assert_eq!(latest(TradeFilter::default(), 0).await, Vec::<String>::new());
        assert_eq!(
            latest(TradeFilter { user: Some(bob.id), ..Default::default() }, 1).await,
            ["o4"]
        );
    }

    async fn json_pages_hold_the_rows_and_the_next_cursor(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        let a1 = bot(&store, alice.id, "a1").await;
        let b1 = bot(&store, bob.id, "b1").await;
        let mut all = Vec::new();
        for i in 0..7_i64 {
            let (bot, side) = if i % 3 == 2 { (&b1, Side::Buy) } else { (&a1, [Side::Buy, Side::Sell][i as usize % 2]) };
            // Exchange order ids above 2^53: exact integers, not doubles, on both backends.
            all.push(traded(&store, bot, &format!("j{i}"), 9_007_199_254_740_993 + i, side, 1_000 * (i + 1)).await);
        }
        let object = |trade: &store::TradeRow| {
            serde_json::json!({
                "id": trade.id.0, "bot_id": trade.bot_id.0, "symbol": trade.symbol,
                "side": trade.side.as_str(), "order_type": trade.order_type,
                "price": trade.price.to_string(), "quantity_filled": trade.quantity_filled.to_string(),
                "quote_quantity_filled": trade.quote_quantity_filled.to_string(),
                "commission": trade.commission.to_string(), "commission_asset": trade.commission_asset,
                "realized_pnl": trade.realized_pnl.map(|pnl| pnl.to_string()),
                "binance_order_id": trade.binance_order_id, "client_order_id": trade.client_order_id,
                "executed_at_ms": trade.executed_at_ms,
            })
        };
        // The documented keys are exactly the objects' keys.
        let mut keys: Vec<&str> = store::TRADE_JSON_KEYS.iter().map(|(key, _)| *key).collect();
        keys.sort_unstable();
        let first = object(&all[0]);
        let object_keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, object_keys);
        for filter in [
            TradeFilter::default(),
            TradeFilter { user: Some(alice.id), ..Default::default() },
            TradeFilter { user: Some(alice.id), side: Some(Side::Sell), from_ms: Some(2_000), ..Default::default() },
            TradeFilter { bot: Some(b1.id), ..Default::default() },
            TradeFilter { user: Some(UserId(424_242)), ..Default::default() },
        ] {
            let expected = store.trades(&filter).await.unwrap();
            for (order, page_size) in [PageOrder::OldestFirst, PageOrder::NewestFirst]
                .into_iter()
                .flat_map(|order| [1_u32, 2, 3, 7, 500].map(|size| (order, size)))
            {
                let mut seen = Vec::new();
                let mut after_id: Option<TradeId> = None;
                loop {
                    let page = store
                        .trade_page_json(&TradeFilter { after_id, ..filter.clone() }, page_size, order)
                        .await
                        .unwrap();
                    let trades: serde_json::Value = serde_json::from_str(&page.trades).unwrap();
                    let trades = trades.as_array().unwrap().clone();
                    assert_eq!(trades.len(), page.count, "{filter:?} {page_size}");
                    assert!(page.count <= page_size as usize);
                    seen.extend(trades);
                    match page.next_after {
                        Some(next) => {
                            // A cursor is handed out only when more trades follow, and is the
                            // page's last id.
                            assert_eq!(page.count, page_size as usize);
                            assert_eq!(Some(next.0), seen.last().and_then(|t| t["id"].as_i64()));
                            after_id = Some(next);
                        }
                        None => break,
                    }
                }
                let mut wanted: Vec<serde_json::Value> = expected.iter().map(object).collect();
                if order == PageOrder::NewestFirst {
                    wanted.reverse();
                }
                assert_eq!(seen, wanted, "{filter:?}, {order:?} pages of {page_size}");
            }
        }
    }

    async fn streamed_performance_equals_the_rows_performance(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        let a1 = bot(&store, alice.id, "a1").await;
        let a2 = bot(&store, alice.id, "a2").await;
        let b1 = bot(&store, bob.id, "b1").await;
        // Executed out of id order (a later id with an earlier time), as a reconciled trade is.
        let plan = [
            (&a1, Side::Buy, 1_000),
            (&a2, Side::Buy, 1_500),
            (&a1, Side::Sell, 3_000),
            (&b1, Side::Buy, 3_100),
            (&a2, Side::Sell, 2_000),
            (&a1, Side::Buy, 4_000),
            (&a1, Side::Sell, 5_000),
        ];
        for (i, (bot, side, at)) in plan.iter().enumerate() {
            traded(&store, bot, &format!("p{i}"), 500 + i as i64, *side, *at).await;
        }
        for filter in [
            TradeFilter::default(),
            TradeFilter { user: Some(alice.id), ..Default::default() },
            TradeFilter { bot: Some(a1.id), ..Default::default() },
            TradeFilter { user: Some(UserId(424_242)), ..Default::default() },
        ] {
            let rows = store.trades(&filter).await.unwrap();
            let streamed = store.performance(&filter).await.unwrap();
            assert_eq!(streamed.total, store::Performance::of(&rows), "{filter:?}");
            let bots: std::collections::BTreeSet<_> = rows.iter().map(|t| t.bot_id).collect();
            assert_eq!(streamed.per_bot.keys().copied().collect::<std::collections::BTreeSet<_>>(), bots);
            for (bot, performance) in &streamed.per_bot {
                let of_bot: Vec<_> = rows.iter().filter(|t| t.bot_id == *bot).collect();
                assert_eq!(*performance, store::Performance::of(of_bot), "{filter:?} bot {bot}");
            }
        }
        let alices = store
            .performance(&TradeFilter { user: Some(alice.id), ..Default::default() })
            .await
            .unwrap();
        assert_eq!((alices.total.buys, alices.total.sells), (3, 3));
    }

    async fn a_chart_reads_trades_with_their_signal_candles_and_a_list_the_last_trade_per_bot(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        let one = bot(&store, alice.id, "one").await;
        let two = bot(&store, alice.id, "two").await;
        let bobs = bot(&store, bob.id, "bobs").await;
        let first = traded(&store, &one, "sb-1", 1, Side::Buy, 10_000).await;
        let second = traded(&store, &one, "sb-2", 2, Side::Sell, 20_000).await;
        let third = traded(&store, &one, "sb-3", 3, Side::Buy, 30_000).await;
        let of_two = traded(&store, &two, "sb-4", 4, Side::Buy, 15_000).await;
        traded(&store, &bobs, "sb-5", 5, Side::Buy, 40_000).await;

        // Oldest first, from the time given, at most the count asked (the newest ones).
        let chart = store.trades_with_signal_candles(one.id, 20_000, 10).await.unwrap();
        let signal = new_order(&one, "any", Side::Buy).signal_candle_open_ms;
        // With the decision its order row recorded, which the trade's event took too.
        let charted = |trade: &store::TradeRow| store::SignalTrade {
            trade: trade.clone(),
            signal_candle_open_ms: Some(signal),
            decision: Some(format!(r#"{{"signal":"{}"}}"#, trade.side)),
        };
        assert_eq!(chart, vec![charted(&second), charted(&third)]);
        let newest = store.trades_with_signal_candles(one.id, 0, 1).await.unwrap();
        assert_eq!(newest, vec![charted(&third)]);
        assert_eq!(store.trades_with_signal_candles(one.id, 0, 10).await.unwrap().len(), 3);
        assert_eq!(store.trades_with_signal_candles(one.id, 0, 10).await.unwrap()[0].trade, first);
        let trade_events: Vec<_> = store.events(one.id, 10).await.unwrap().into_iter().filter(|e| e.kind == "trade").collect();
        assert_eq!(trade_events.len(), 3);
        assert!(trade_events.iter().all(|e| e.detail.as_deref().is_some_and(|d| d.starts_with(r#"{"signal":"#))));

        // One trade per bot of the user, the newest, by bot; another user's are not theirs.
        assert_eq!(store.last_trade_per_bot(alice.id).await.unwrap(), vec![third, of_two]);
        let none = user(&store, "carol").await;
        assert!(store.last_trade_per_bot(none.id).await.unwrap().is_empty());
    }
}
