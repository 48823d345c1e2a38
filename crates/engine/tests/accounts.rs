//! Bots trade on their owners' accounts, against the real simulator over loopback and a real
//! database, on SQLite and PostgreSQL: a user with no account on the venue, and a user whose key
//! the exchange rejects, have all their bots on that venue paused at once with the reason in
//! `last_error` and in an event, while the other user's bots trade on.

mod common;

use std::time::Duration;

use common::{MINUTE_MS, World, busy_params};
use engine::{CycleOutcome, RunnableBot};
use rust_decimal::Decimal;
use store::{BotConfig, BotId, BotStatus, Mode, NewBot, NewUser, Role, Store, UserId};
use strategy::spec::{EMA_RSI_CROSS, ema_rsi_cross_json};

/// A new active paper bot of `user` named `name`, trading like the world's own.
async fn paper_bot(store: &Store, user: UserId, name: &str) -> BotId {
    store
        .create_bot(
            &NewBot {
                user_id: user,
                name: name.to_owned(),
                symbol: "BTCUSDT".to_owned(),
                interval: "1m".to_owned(),
                strategy: EMA_RSI_CROSS.to_owned(),
                strategy_params: ema_rsi_cross_json(&busy_params()),
                quote_per_buy: Decimal::from(200),
                mode: Mode::Paper,
                is_active: true,
            },
            common::START_MS,
        )
        .await
        .unwrap()
        .id
}

async fn config(store: &Store, bot: BotId) -> BotConfig {
    store.bot(bot).await.unwrap().unwrap()
}

/// Runs one cycle of `bot` with the world's engine, a minute on.
async fn cycle(world: &World, bot: BotId) -> CycleOutcome {
    world.clock.advance_ms(MINUTE_MS);
    let runnable = RunnableBot::parse(&config(&world.store, bot).await).unwrap();
    world.engine.run_cycle(&runnable).await
}

/// Asserts that `bot` is paused, its `last_error` containing `reason`, with a "paused" event
/// saying the same.
async fn assert_paused_for(world: &World, bot: BotId, reason: &str) {
    let paused = config(&world.store, bot).await;
    assert_eq!(paused.status, BotStatus::Paused, "{paused:?}");
    let last_error = paused.last_error.unwrap();
    assert!(last_error.contains(reason), "{last_error}");
    world.engine.flush_events().await;
    let events = world.store.events(bot, 20).await.unwrap();
    assert!(
        events
            .iter()
            .any(|event| event.kind == "paused" && event.message == last_error),
        "{events:?}"
    );
}

store::backend_tests! {
    async fn an_account_failure_pauses_its_owners_bots_on_the_venue_and_no_one_elses(store: Store) {
        let world = World::start(store, Decimal::from(200)).await;
        let trader = world.bot_config().await.user_id;
        let second_of_trader = paper_bot(&world.store, trader, "second").await;
        let newcomer = world
            .store
            .create_user(
                &NewUser {
                    email: "newcomer@example.com".to_owned(),
                    username: "newcomer".to_owned(),
                    password_hash: None,
                    role: Role::User,
                },
                common::START_MS,
            )
            .await
            .unwrap()
            .id;
        let newcomers = [paper_bot(&world.store, newcomer, "a").await, paper_bot(&world.store, newcomer, "b").await];

        // The newcomer has no paper account (this venue opens none): one cycle pauses both of
        // their bots, saying why; the trader's bots are untouched.
        let outcome = cycle(&world, newcomers[0]).await;
        assert!(matches!(outcome, CycleOutcome::Failed { paused: true, .. }), "{outcome:?}");
        for bot in newcomers {
            assert_paused_for(&world, bot, "you have no paper account").await;
        }
        assert_eq!(world.bot_config().await.status, BotStatus::Idle);
        assert_eq!(config(&world.store, second_of_trader).await.status, BotStatus::Idle);

        // The trader trades on.
        let outcomes = world.run_minutes(30).await;
        assert!(outcomes.iter().any(|outcome| matches!(outcome, CycleOutcome::Traded(_))));
        assert!(outcomes.iter().all(|outcome| !matches!(outcome, CycleOutcome::Failed { .. })), "{outcomes:?}");

        // The exchange revokes the trader's key: the next cycle of either bot pauses both, with
        // the exchange's reason, and sends nothing more.
        world.revoke_trader_key();
        // The account's client may be cached for up to a second: the key is refused either way.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let orders_before = world.order_log().len();
        let mut outcome = cycle(&world, second_of_trader).await;
        for _ in 0..30 {
            if matches!(outcome, CycleOutcome::Failed { .. }) {
                break;
            }
            // A hold asks the exchange for candles only, which a revoked key does not sign:
            // the first signed call (balances, an order) meets the refusal.
            outcome = cycle(&world, second_of_trader).await;
        }
        let CycleOutcome::Failed { error, paused: true } = &outcome else {
            panic!("{outcome:?}");
        };
        assert!(error.key_problem().is_some(), "{error}");
        for bot in [world.bot_id, second_of_trader] {
            assert_paused_for(&world, bot, "rejected your API key").await;
        }
        assert_eq!(world.order_log().len(), orders_before, "no order went out on the revoked key");
        world.assert_trades_equal_exchange_fills().await;
    }
}
