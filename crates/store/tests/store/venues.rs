//! All of one user's bots on one venue at once: pausing them when the venue's key goes, and
//! clearing their positions when a paper account is reset (never while an order is in doubt).

use market::Side;
use store::{
    BotConfig, BotControl, BotStatus, Mode, OrderStatus, OrdersInDoubt, PositionRow, Store, UserId,
};

use crate::common::{count, d, execution, new_bot, new_order, traded, user};

/// A bot of `user` named `name`, active, on `venue`.
async fn venue_bot(store: &Store, user: UserId, name: &str, venue: Mode) -> BotConfig {
    let wanted = store::NewBot {
        mode: venue,
        ..new_bot(user, name)
    };
    store.create_bot(&wanted, 2_000).await.unwrap()
}

/// The kinds of `bot`'s events, oldest first.
async fn event_kinds(store: &Store, bot: &BotConfig) -> Vec<String> {
    let mut events = store.events(bot.id, 100).await.unwrap();
    events.reverse();
    events.into_iter().map(|event| event.kind).collect()
}

store::backend_tests! {
    async fn pausing_a_venue_pauses_only_that_users_runnable_bots_there(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        let idle = venue_bot(&store, alice.id, "idle", Mode::Paper).await;
        let failing = venue_bot(&store, alice.id, "failing", Mode::Paper).await;
        store
            .set_bot_status(failing.id, BotStatus::Error, Some("exchange down"), 2, 2_500)
            .await
            .unwrap();
        let stopped = venue_bot(&store, alice.id, "stopped", Mode::Paper).await;
        store.control_bot(alice.id, stopped.id, BotControl::Stop, 2_600).await.unwrap();
        let paused = venue_bot(&store, alice.id, "paused", Mode::Paper).await;
        store.control_bot(alice.id, paused.id, BotControl::Pause, 2_700).await.unwrap();
        let testnet = venue_bot(&store, alice.id, "testnet", Mode::Testnet).await;
        let bobs = venue_bot(&store, bob.id, "bobs", Mode::Paper).await;
        let mut untouched = Vec::new();
        for id in [stopped.id, paused.id, testnet.id, bobs.id] {
            untouched.push(store.bot(id).await.unwrap().unwrap());
        }

        let reason = "the paper account was reset: start the bot again";
        let ids = store.pause_venue_bots(alice.id, Mode::Paper, reason, 10_000).await.unwrap();
        assert_eq!(ids, vec![idle.id, failing.id]);
        for (id, failures) in [(idle.id, 0), (failing.id, 2)] {
            let now = store.bot(id).await.unwrap().unwrap();
            assert_eq!(
                (now.status, now.is_active, now.last_error.as_deref()),
                (BotStatus::Paused, true, Some(reason)),
                "bot {id}"
            );
            assert_eq!((now.consecutive_failures, now.updated_at_ms), (failures, 10_000));
            let events = store.events(id, 10).await.unwrap();
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(
                (events[0].kind.as_str(), events[0].message.as_str(), events[0].at_ms),
                ("paused", reason, 10_000)
            );
        }
        for before in &untouched {
            assert_eq!(store.bot(before.id).await.unwrap().as_ref(), Some(before));
            assert!(store.events(before.id, 10).await.unwrap().is_empty(), "bot {}", before.id);
        }
        let runnable: Vec<_> = store.runnable_bots().await.unwrap().iter().map(|bot| bot.id).collect();
        assert_eq!(runnable, vec![testnet.id, bobs.id]);

        // Nothing is left to pause there: no write, no event.
        assert!(store.pause_venue_bots(alice.id, Mode::Paper, reason, 11_000).await.unwrap().is_empty());
        assert_eq!(count(&store, "events").await, 2);
        assert_eq!(store.bot(idle.id).await.unwrap().unwrap().updated_at_ms, 10_000);

        // Like every bot write, a pause stamped by a clock that is behind still moves the stamp.
        let ids = store.pause_venue_bots(alice.id, Mode::Testnet, "testnet key revoked", 1_000).await.unwrap();
        assert_eq!(ids, vec![testnet.id]);
        assert_eq!(
            store.bot(testnet.id).await.unwrap().unwrap().updated_at_ms,
            testnet.updated_at_ms + 1
        );
    }

    async fn clearing_a_venue_waits_for_orders_in_doubt_then_empties_positions_keeping_pnl(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        // Holding: 0.00000001 BTC that cost 123.55, realised PnL -1.23456789 (see `execution`).
        let holding = venue_bot(&store, alice.id, "holding", Mode::Paper).await;
        traded(&store, &holding, "sb-h1", 1, Side::Buy, 5_000).await;
        // Flat already, with a realised PnL of its own.
        let flat = venue_bot(&store, alice.id, "flat", Mode::Paper).await;
        store.insert_pending_order(&new_order(&flat, "sb-f1", Side::Sell), 5_100).await.unwrap();
        let mut sold_out = execution(&flat, "sb-f1", 2, Side::Sell, 5_200);
        sold_out.position_after.quantity = d("0");
        sold_out.position_after.cost_quote = d("0");
        sold_out.position_after.realized_pnl = d("7.5");
        store.record_execution(&sold_out, 5_300).await.unwrap();
        // Never traded; its first order's fate is still to be learned.
        let waiting = venue_bot(&store, alice.id, "waiting", Mode::Paper).await;
        store.insert_pending_order(&new_order(&waiting, "sb-w1", Side::Buy), 5_400).await.unwrap();
        // Another venue of Alice's, and Bob's paper bot: both holding, both with an order in doubt.
        let testnet = venue_bot(&store, alice.id, "testnet", Mode::Testnet).await;
        traded(&store, &testnet, "sb-t1", 3, Side::Buy, 5_500).await;
        store.insert_pending_order(&new_order(&testnet, "sb-t2", Side::Sell), 5_600).await.unwrap();
        let bobs = venue_bot(&store, bob.id, "bobs", Mode::Paper).await;
        traded(&store, &bobs, "sb-b1", 4, Side::Buy, 5_700).await;
        store.insert_pending_order(&new_order(&bobs, "sb-b2", Side::Sell), 5_800).await.unwrap();

        assert_eq!(store.venue_orders_in_doubt(alice.id, Mode::Paper).await.unwrap(), 1);
        assert_eq!(store.venue_orders_in_doubt(alice.id, Mode::Testnet).await.unwrap(), 1);
        assert_eq!(store.venue_orders_in_doubt(alice.id, Mode::Live).await.unwrap(), 0);
        assert_eq!(store.venue_orders_in_doubt(bob.id, Mode::Paper).await.unwrap(), 1);

        let positions_before = store.positions(None).await.unwrap();
        let message = "paper account reset to its starting balances";
        let refused = store.clear_venue_positions(alice.id, Mode::Paper, message, 9_000).await.unwrap();
        let in_doubt = OrdersInDoubt { venue: Mode::Paper, count: 1 };
        assert_eq!(refused, Err(in_doubt));
        assert_eq!(
            in_doubt.to_string(),
            "cannot clear the paper positions: 1 order(s) of the paper bots are pending or \
             unknown; reconcile them first"
        );
        // An order whose outcome is unknown (sent, no answer) is in doubt as much as a pending one.
        store.set_order_status("sb-w1", OrderStatus::Unknown, Some("timeout"), 9_100).await.unwrap();
        assert_eq!(store.venue_orders_in_doubt(alice.id, Mode::Paper).await.unwrap(), 1);
        assert_eq!(
            store.clear_venue_positions(alice.id, Mode::Paper, message, 9_200).await.unwrap(),
            Err(in_doubt)
        );
        assert_eq!(store.positions(None).await.unwrap(), positions_before);
        assert_eq!(event_kinds(&store, &holding).await, ["trade"]);

        // Reconciliation learns the order never executed: nothing is in doubt any more.
        store.set_order_status("sb-w1", OrderStatus::NotExecuted, None, 9_300).await.unwrap();
        assert_eq!(store.venue_orders_in_doubt(alice.id, Mode::Paper).await.unwrap(), 0);
        let cleared = store.clear_venue_positions(alice.id, Mode::Paper, message, 10_000).await.unwrap();
        assert_eq!(cleared, Ok(vec![holding.id]));
        assert_eq!(
            store.position(holding.id).await.unwrap(),
            PositionRow {
                bot_id: holding.id,
                quantity: d("0"),
                cost_quote: d("0"),
                realized_pnl: d("-1.23456789"),
                updated_at_ms: 10_000,
            }
        );
        let reset = &store.events(holding.id, 1).await.unwrap()[0];
        assert_eq!((reset.kind.as_str(), reset.message.as_str(), reset.at_ms), ("reset", message, 10_000));
        // The flat one had nothing to clear and keeps its row as it was; the one that never
        // traded still has no row; the other venue and the other user are untouched.
        let unchanged = |bot: &BotConfig| positions_before.iter().find(|p| p.bot_id == bot.id).cloned();
        for bot in [&flat, &testnet, &bobs] {
            assert_eq!(Some(store.position(bot.id).await.unwrap()), unchanged(bot), "bot {}", bot.id);
            assert!(!event_kinds(&store, bot).await.contains(&"reset".to_owned()), "bot {}", bot.id);
        }
        assert_eq!(store.position(waiting.id).await.unwrap(), PositionRow::flat(waiting.id));
        assert_eq!(count(&store, "positions").await, 4);
        // The realised PnL stays stored in its canonical text.
        let stored_pnl: String = sqlx::query_scalar("SELECT realized_pnl FROM positions WHERE bot_id = $1")
            .bind(holding.id.0)
            .fetch_one(store.raw_pool())
            .await
            .unwrap();
        assert_eq!(stored_pnl, "-1.23456789");

        // Cleared once, nothing more to clear.
        assert_eq!(
            store.clear_venue_positions(alice.id, Mode::Paper, message, 11_000).await.unwrap(),
            Ok(Vec::new())
        );
        assert_eq!(event_kinds(&store, &holding).await, ["trade", "reset"]);
    }
}
