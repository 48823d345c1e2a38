//! Full bot cycles against the real simulator over loopback and a real database, on SQLite and
//! PostgreSQL: trades equal to the exchange's fills field by field, realised PnL by average cost,
//! skips below the exchange's minimum, restarts that change no decision, and a bot that keeps
//! failing ending paused.

mod common;

use common::{World, count_sides};
use engine::CycleOutcome;
use market::Side;
use rust_decimal::Decimal;
use store::{BotStatus, OrderStatus};

/// The side each cycle traded, or `None`: the bot's decisions, comparable across runs.
fn decisions(outcomes: &[CycleOutcome]) -> Vec<Option<Side>> {
    outcomes
        .iter()
        .map(|outcome| match outcome {
            CycleOutcome::Traded(trade) => Some(trade.side),
            _ => None,
        })
        .collect()
}

store::backend_tests! {
    async fn trades_equal_the_exchange_fills_field_by_field(store: Store) {
        let world = World::start(store, Decimal::from(500)).await;
        let outcomes = world.run_minutes(90).await;
        for outcome in &outcomes {
            assert!(
                !matches!(outcome, CycleOutcome::Failed { .. } | CycleOutcome::Blocked { .. }),
                "{outcome:?}"
            );
        }
        let trades = world.trades().await;
        let (buys, sells) = count_sides(&trades);
        assert!(buys >= 3 && sells >= 3, "the fast cross trades: {buys} buys, {sells} sells");
        world.assert_trades_equal_exchange_fills().await;

        // Each BUY spent about the configured 500 USDT: sized at the best ask, it may walk the
        // book's next asks, a little above it. The orders all ended filled.
        for trade in trades.iter().filter(|trade| trade.side == Side::Buy) {
            let spent = trade.quote_quantity_filled;
            assert!(spent > Decimal::from(490) && spent < Decimal::from(505), "{trade:?}");
            assert!(trade.realized_pnl.is_none());
        }
        for order in world.store.orders(world.bot_id).await.unwrap() {
            assert_eq!(order.status, OrderStatus::Filled, "{order:?}");
        }
        let bot = world.bot_config().await;
        assert_eq!(bot.status, BotStatus::Running);
        assert_eq!(bot.last_error, None);
        // Every decision is in the audit trail.
        world.engine.flush_events().await;
        let events = world.store.events(world.bot_id, 1_000).await.unwrap();
        assert_eq!(events.iter().filter(|event| event.kind == "trade").count(), trades.len());
        assert!(events.iter().any(|event| event.kind == "hold"));
        // Decisions name their candle; a trade's is its order's signal candle.
        for event in events.iter().filter(|event| ["trade", "hold"].contains(&event.kind.as_str())) {
            assert!(event.candle_open_ms.is_some_and(|ms| ms % 60_000 == 0), "{event:?}");
        }
        let signal_candles: Vec<i64> = world
            .store
            .orders(world.bot_id)
            .await
            .unwrap()
            .iter()
            .map(|order| order.signal_candle_open_ms)
            .collect();
        for event in events.iter().filter(|event| event.kind == "trade") {
            assert!(signal_candles.contains(&event.candle_open_ms.unwrap()), "{event:?}");
        }
    }

    async fn sells_realise_pnl_by_average_cost_with_both_sides_fees(store: Store) {
        let world = World::start(store, Decimal::from(500)).await;
        world.run_minutes(90).await;
        let trades = world.trades().await;
        // Recomputed from the exchange's own numbers: a BUY adds what arrived (quantity minus
        // the fee in BTC) at its whole quote cost; a SELL realises what it raised minus its fee
        // in USDT, minus the average cost of what left.
        let mut held = Decimal::ZERO;
        let mut cost = Decimal::ZERO;
        let mut realised_total = Decimal::ZERO;
        for trade in &trades {
            match trade.side {
                Side::Buy => {
                    assert_eq!(trade.commission_asset, "BTC");
                    held += trade.quantity_filled - trade.commission;
                    cost += trade.quote_quantity_filled;
                }
                Side::Sell => {
                    assert_eq!(trade.commission_asset, "USDT");
                    let cost_of_sold = if trade.quantity_filled == held {
                        cost
                    } else {
                        (cost * trade.quantity_filled / held)
                            .round_dp_with_strategy(18, rust_decimal::RoundingStrategy::ToZero)
                    };
                    let expected = trade.quote_quantity_filled - trade.commission - cost_of_sold;
                    assert_eq!(trade.realized_pnl, Some(expected), "{trade:?}");
                    realised_total += expected;
                    held -= trade.quantity_filled;
                    cost -= cost_of_sold;
                }
            }
        }
        let position = world.store.position(world.bot_id).await.unwrap();
        assert_eq!(position.quantity, held);
        assert_eq!(position.cost_quote, cost);
        assert_eq!(position.realized_pnl, realised_total);
        // The position never sells more than it holds: the dust the step size leaves stays.
        assert!(position.quantity >= Decimal::ZERO);
    }

    async fn an_order_below_the_minimum_is_a_logged_skip(store: Store) {
        // 1 USDT is below BTCUSDT's NOTIONAL minimum: every BUY signal is skipped with the reason.
        let world = World::start(store, Decimal::ONE).await;
        let outcomes = world.run_minutes(40).await;
        let skips: Vec<(&String, i64)> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                CycleOutcome::Skipped {
                    reason,
                    candle_open_ms,
                    ..
                } => Some((reason, *candle_open_ms)),
                _ => None,
            })
            .collect();
        assert!(!skips.is_empty(), "{outcomes:?}");
        for (reason, _) in &skips {
            assert!(reason.starts_with("order skipped: BUY"), "{reason}");
            assert!(reason.contains("NOTIONAL") || reason.contains("LOT_SIZE"), "{reason}");
        }
        assert!(world.store.orders(world.bot_id).await.unwrap().is_empty(), "no order sent");
        assert!(world.order_log().is_empty());
        world.engine.flush_events().await;
        let events = world.store.events(world.bot_id, 1_000).await.unwrap();
        assert_eq!(events.iter().filter(|event| event.kind == "skip").count(), skips.len());
        // Each skip records what it was decided from: the readings, the signal, each sizing
        // step down to the filter that refused it.
        for event in events.iter().filter(|event| event.kind == "skip") {
            let why: serde_json::Value =
                serde_json::from_str(event.detail.as_deref().expect("a skip's why")).unwrap();
            assert_eq!(why["signal"], "BUY", "{why}");
            assert_eq!(why["position"], "flat", "{why}");
            assert!(why["readings"][1]["value"].is_f64(), "{why}");
            let sizing = why["sizing"].as_array().unwrap();
            assert!(sizing[0].as_str().unwrap().contains("spend the smaller of the bot's 1 USDT"), "{why}");
            assert_eq!(sizing.last().unwrap().as_str(), Some(event.message.as_str()), "{why}");
        }
        // Each skip is recorded on the candle whose signal it was, and a chart finds them there.
        let mut candles: Vec<i64> = skips.iter().map(|(_, candle)| *candle).collect();
        candles.sort_unstable();
        let charted = world.store.skipped_signals(world.bot_id, 0, 1_000).await.unwrap();
        let charted: Vec<Option<i64>> = charted.iter().map(|event| event.candle_open_ms).collect();
        assert_eq!(charted, candles.into_iter().map(Some).collect::<Vec<_>>());
        assert_eq!(world.bot_config().await.status, BotStatus::Running, "a skip is not an error");
    }

    async fn a_restart_changes_no_decision(store: Store) {
        // Two identical exchanges (same seed and clock), two bots created at the same time: one
        // engine runs 80 minutes straight; the other is replaced by a fresh engine (empty
        // memory, another worker, as after a restart) every 20 minutes. Their decisions must be
        // identical.
        let straight = World::start(store.clone(), Decimal::from(500)).await;
        let straight_decisions = decisions(&straight.run_minutes(80).await);
        let other_db = store::testing::TestDatabase::sqlite().await;
        let restarted = World::start(other_db.store().clone(), Decimal::from(500)).await;
        let mut restarted_outcomes = Vec::new();
        for restart in 0..4 {
            let engine = restarted.restarted_engine(&format!("worker-{restart}"));
            for _ in 0..20 {
                restarted_outcomes.push(restarted.next_minute(&engine).await);
            }
            // A clean stop gives the bot up, so the next process takes it at once.
            engine.release_leases().await.unwrap();
        }
        assert_eq!(decisions(&restarted_outcomes), straight_decisions);
        assert!(straight_decisions.iter().flatten().count() >= 4, "the bots traded");
        other_db.cleanup().await;
    }

    async fn a_failing_bot_gets_an_error_then_is_paused(store: Store) {
        let world = World::start_with(store, Decimal::from(500), |settings| {
            settings.max_consecutive_failures = 3;
        })
        .await;
        world.run_minutes(2).await;
        // The exchange stops answering every request.
        world.set_faults(serde_json::json!({"rules": [{"fault": {"server_error": {"status": 503, "timing": "before_executing"}}}]}));
        let first = world.next_minute(&world.engine).await;
        assert!(matches!(first, CycleOutcome::Failed { paused: false, .. }), "{first:?}");
        let bot = world.bot_config().await;
        assert_eq!(bot.status, BotStatus::Error);
        assert_eq!(bot.consecutive_failures, 1);
        let message = bot.last_error.expect("a last error");
        assert!(message.contains("503"), "{message}");
        world.next_minute(&world.engine).await;
        let third = world.next_minute(&world.engine).await;
        assert!(matches!(third, CycleOutcome::Failed { paused: true, .. }), "{third:?}");
        let bot = world.bot_config().await;
        assert_eq!(bot.status, BotStatus::Paused);
        assert!(bot.last_error.unwrap().contains("paused after 3 consecutive failed cycles"));
        let runnable = world.store.runnable_bots().await.unwrap();
        assert!(runnable.iter().all(|bot| bot.id != world.bot_id), "a paused bot is not scheduled");
    }
}
