//! Bot configurations and their leases.

use market::Side;
use store::{BotControl, BotId, BotStatus, Lease, Mode, StoreError, UserId};

use crate::common::{NO_BOT, bot, count, d, new_bot, new_order, user};

store::backend_tests! {
    async fn an_update_applies_only_to_the_bot_as_read(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let mut renamed = new_bot(alice.id, "renamed");
        renamed.is_active = true;
        // Changed since it was read (here: stopped): the update is refused, the stop stays.
        let stopped = store.control_bot(alice.id, one.id, BotControl::Stop, 3_000).await.unwrap().unwrap();
        assert_eq!(store.update_bot(one.id, &renamed, one.updated_at_ms, 3_100).await.unwrap(), None);
        assert!(!store.bot(one.id).await.unwrap().unwrap().is_active);
        // As read: applied.
        let updated = store.update_bot(one.id, &renamed, stopped.updated_at_ms, 3_200).await.unwrap().unwrap();
        assert_eq!(updated.name, "renamed");
        // Once it has an order, its symbol and mode stay; other fields may change.
        store.insert_pending_order(&new_order(&updated, "sb-u1", Side::Buy), 3_300).await.unwrap();
        let mut moved = renamed.clone();
        moved.symbol = "ETHUSDT".to_owned();
        assert_eq!(store.update_bot(one.id, &moved, updated.updated_at_ms, 3_400).await.unwrap(), None);
        let mut paper = renamed.clone();
        paper.mode = Mode::Testnet;
        assert_eq!(store.update_bot(one.id, &paper, updated.updated_at_ms, 3_400).await.unwrap(), None);
        renamed.name = "again".to_owned();
        let again = store.update_bot(one.id, &renamed, updated.updated_at_ms, 3_500).await.unwrap().unwrap();
        assert_eq!((again.name.as_str(), again.symbol.as_str()), ("again", "BTCUSDT"));
        // Another user's bot is not theirs to update.
        let bob = user(&store, "bob").await;
        let mut bobs = renamed.clone();
        bobs.user_id = bob.id;
        assert_eq!(store.update_bot(one.id, &bobs, again.updated_at_ms, 3_600).await.unwrap(), None);
        // A stop in the same millisecond as the write the caller read (or stamped by a clock
        // that is behind) still moves the stamp, so the stale update is refused.
        let read = store.bot(one.id).await.unwrap().unwrap();
        let started = store.control_bot(alice.id, one.id, BotControl::Start, read.updated_at_ms).await.unwrap().unwrap();
        let stopped = store.control_bot(alice.id, one.id, BotControl::Stop, read.updated_at_ms - 10).await.unwrap().unwrap();
        assert!(started.updated_at_ms > read.updated_at_ms, "{started:?}");
        assert!(stopped.updated_at_ms > started.updated_at_ms, "{stopped:?}");
        assert_eq!(store.update_bot(one.id, &renamed, read.updated_at_ms, read.updated_at_ms).await.unwrap(), None);
        assert!(!store.bot(one.id).await.unwrap().unwrap().is_active);
    }

    async fn the_engines_status_write_never_undoes_a_pause_or_stop(store: Store) {
        let alice = user(&store, "alice").await;
        let paused = bot(&store, alice.id, "paused").await;
        let stopped = bot(&store, alice.id, "stopped").await;
        let running = bot(&store, alice.id, "running").await;
        // The user pauses one bot and stops another while their cycles run ...
        store
            .control_bot(alice.id, paused.id, BotControl::Pause, 3_000)
            .await
            .unwrap()
            .unwrap();
        store
            .control_bot(alice.id, stopped.id, BotControl::Stop, 3_000)
            .await
            .unwrap()
            .unwrap();
        // ... and then the engine records each cycle's outcome.
        for id in [paused.id, stopped.id] {
            let wrote = store
                .set_bot_status_if_running(id, BotStatus::Error, Some("exchange down"), 1, 4_000)
                .await
                .unwrap();
            assert!(!wrote, "bot {id}");
        }
        let paused_now = store.bot(paused.id).await.unwrap().unwrap();
        assert_eq!(paused_now.status, BotStatus::Paused);
        assert!(paused_now.is_active);
        assert_eq!(paused_now.last_error, None);
        assert_eq!(paused_now.updated_at_ms, 3_000);
        let stopped_now = store.bot(stopped.id).await.unwrap().unwrap();
        assert_eq!(stopped_now.status, BotStatus::Idle);
        assert!(!stopped_now.is_active);
        assert_eq!(stopped_now.consecutive_failures, 0);
        assert_eq!(store.runnable_bots().await.unwrap(), vec![running.clone()]);

        // A bot left running takes the write, including the engine's own pause after failures.
        assert!(
            store
                .set_bot_status_if_running(running.id, BotStatus::Paused, Some("failing"), 5, 5_000)
                .await
                .unwrap()
        );
        let running_now = store.bot(running.id).await.unwrap().unwrap();
        assert_eq!(running_now.status, BotStatus::Paused);
        assert_eq!(running_now.last_error.as_deref(), Some("failing"));
        assert_eq!(running_now.consecutive_failures, 5);
        assert_eq!(running_now.updated_at_ms, 5_000);

        // Nothing to write to, and a bad count, as with set_bot_status.
        assert!(
            !store
                .set_bot_status_if_running(NO_BOT, BotStatus::Idle, None, 0, 1)
                .await
                .unwrap()
        );
        assert!(matches!(
            store
                .set_bot_status_if_running(running.id, BotStatus::Idle, None, -1, 1)
                .await,
            Err(StoreError::InvalidValue {
                field: "consecutive_failures",
                ..
            })
        ));
    }

    async fn bots_round_trip_every_field(store: Store) {
        let alice = user(&store, "alice").await;
        let mut wanted = new_bot(alice.id, "tiny");
        wanted.quote_per_buy = d("0.00000001");
        wanted.mode = Mode::Testnet;
        wanted.is_active = false;
        let tiny = store.create_bot(&wanted, 5_000).await.unwrap();
        assert_eq!(tiny.user_id, alice.id);
        assert_eq!(tiny.name, "tiny");
        assert_eq!(tiny.symbol, "BTCUSDT");
        assert_eq!(tiny.interval, "1h");
        assert_eq!(tiny.strategy, "ema_rsi_cross");
        assert_eq!(tiny.strategy_params, r#"{"fast":12,"slow":26}"#);
        assert_eq!(tiny.quote_per_buy, d("0.00000001"));
        assert_eq!(tiny.mode, Mode::Testnet);
        assert!(!tiny.is_active);
        assert_eq!(tiny.status, BotStatus::Idle);
        assert_eq!(tiny.last_error, None);
        assert_eq!(tiny.consecutive_failures, 0);
        assert_eq!((tiny.created_at_ms, tiny.updated_at_ms), (5_000, 5_000));

        let mut wanted = new_bot(alice.id, "huge");
        wanted.quote_per_buy = d("12345678901.12345678");
        wanted.mode = Mode::Live;
        let huge = store.create_bot(&wanted, 6_000).await.unwrap();
        assert_eq!(huge.quote_per_buy, d("12345678901.12345678"));
        assert_eq!(huge.mode, Mode::Live);
        assert!(huge.is_active);

        assert_eq!(store.bot(tiny.id).await.unwrap(), Some(tiny.clone()));
        assert_eq!(store.bot(NO_BOT).await.unwrap(), None);
        assert_eq!(
            store.bots(None).await.unwrap(),
            vec![tiny.clone(), huge.clone()]
        );
        assert_eq!(store.bots(Some(alice.id)).await.unwrap(), vec![tiny, huge]);
        assert_eq!(store.bots(Some(UserId(424_242))).await.unwrap(), vec![]);
    }

    async fn bot_names_are_unique_per_user(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        bot(&store, alice.id, "scalper").await;
        match store.create_bot(&new_bot(alice.id, "scalper"), 1).await {
            Err(StoreError::Duplicate { what: "bot", key }) => {
                assert_eq!(key, format!("\"scalper\" of user {}", alice.id));
            }
            other => panic!("expected a duplicate bot, got {other:?}"),
        }
        bot(&store, bob.id, "scalper").await;
        assert_eq!(count(&store, "bot_configs").await, 2);
    }

    async fn a_bot_needs_an_existing_user_and_sane_values(store: Store) {
        assert!(matches!(
            store
                .create_bot(&new_bot(UserId(424_242), "orphan"), 1)
                .await,
            Err(StoreError::NotFound { what: "user", .. })
        ));
        let alice = user(&store, "alice").await;
        for amount in ["0", "-1"] {
            let mut wanted = new_bot(alice.id, "free");
            wanted.quote_per_buy = d(amount);
            assert!(matches!(
                store.create_bot(&wanted, 1).await,
                Err(StoreError::InvalidValue {
                    field: "quote_per_buy",
                    ..
                })
            ));
        }
        let mut wanted = new_bot(alice.id, "nameless");
        wanted.symbol = String::new();
        assert!(matches!(
            store.create_bot(&wanted, 1).await,
            Err(StoreError::InvalidValue {
                field: "symbol",
                ..
            })
        ));
        assert_eq!(count(&store, "bot_configs").await, 0);
    }

    async fn activation_and_status_updates(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let two = bot(&store, alice.id, "two").await;
        let three = bot(&store, alice.id, "three").await;
        let ids = |bots: Vec<store::BotConfig>| bots.into_iter().map(|b| b.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.runnable_bots().await.unwrap()),
            vec![one.id, two.id, three.id]
        );

        store.set_bot_active(two.id, false, 7_000).await.unwrap();
        store
            .set_bot_status(
                three.id,
                BotStatus::Paused,
                Some("too many failures"),
                5,
                7_100,
            )
            .await
            .unwrap();
        assert_eq!(ids(store.runnable_bots().await.unwrap()), vec![one.id]);

        let two_now = store.bot(two.id).await.unwrap().unwrap();
        assert!(!two_now.is_active);
        assert_eq!(two_now.updated_at_ms, 7_000);
        let three_now = store.bot(three.id).await.unwrap().unwrap();
        assert_eq!(three_now.status, BotStatus::Paused);
        assert_eq!(three_now.last_error.as_deref(), Some("too many failures"));
        assert_eq!(three_now.consecutive_failures, 5);
        assert_eq!(three_now.updated_at_ms, 7_100);
        assert!(three_now.is_active);

        // Every status round-trips; an error status keeps the bot runnable.
        for status in BotStatus::ALL {
            store
                .set_bot_status(one.id, *status, None, 0, 8_000)
                .await
                .unwrap();
            assert_eq!(store.bot(one.id).await.unwrap().unwrap().status, *status);
        }
        store
            .set_bot_status(three.id, BotStatus::Error, None, 0, 9_000)
            .await
            .unwrap();
        store.set_bot_active(two.id, true, 9_000).await.unwrap();
        assert_eq!(
            ids(store.runnable_bots().await.unwrap()),
            vec![two.id, three.id]
        );
        assert_eq!(store.bot(three.id).await.unwrap().unwrap().last_error, None);

        assert!(matches!(
            store.set_bot_active(NO_BOT, true, 1).await,
            Err(StoreError::NotFound { what: "bot", .. })
        ));
        assert!(matches!(
            store
                .set_bot_status(NO_BOT, BotStatus::Idle, None, 0, 1)
                .await,
            Err(StoreError::NotFound { what: "bot", .. })
        ));
        assert!(matches!(
            store
                .set_bot_status(one.id, BotStatus::Idle, None, -1, 1)
                .await,
            Err(StoreError::InvalidValue {
                field: "consecutive_failures",
                ..
            })
        ));
    }

    async fn lease_semantics(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        assert_eq!(store.lease(one.id).await.unwrap(), None);

        let first = store
            .try_acquire_lease(one.id, "worker-a", 1_000, 500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            first,
            Lease {
                bot_id: one.id,
                owner: "worker-a".to_owned(),
                token: 1,
                expires_at_ms: 1_500,
                taken_over_from: None,
            }
        );
        assert_eq!(store.lease(one.id).await.unwrap(), Some(first.clone()));
        // Held: refused to another owner, and to the same owner (not re-entrant).
        assert_eq!(
            store
                .try_acquire_lease(one.id, "worker-b", 1_499, 500)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .try_acquire_lease(one.id, "worker-a", 1_100, 500)
                .await
                .unwrap(),
            None
        );

        // Renewal moves the expiry.
        let renewed = store
            .renew_lease(&first, 1_400, 500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renewed.expires_at_ms, 1_900);
        assert_eq!(renewed.token, 1);
        assert_eq!(
            store
                .try_acquire_lease(one.id, "worker-b", 1_899, 500)
                .await
                .unwrap(),
            None
        );

        // Expired (expires_at_ms <= now): another owner takes it with the next token.
        let second = store
            .try_acquire_lease(one.id, "worker-b", 1_900, 500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (second.owner.as_str(), second.token, second.expires_at_ms),
            ("worker-b", 2, 2_400)
        );
        // A takeover: it says whose lease it replaced.
        assert_eq!(second.taken_over_from.as_deref(), Some("worker-a"));
        // The first holder's token is stale: it can neither renew nor release.
        assert_eq!(store.renew_lease(&renewed, 1_950, 500).await.unwrap(), None);
        assert!(!store.release_lease(&renewed).await.unwrap());
        assert_eq!(store.lease(one.id).await.unwrap(), Some(second.clone()));

        // A lease that expired but that nobody took is still its holder's to renew.
        let late = store
            .renew_lease(&second, 3_000, 500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(late.expires_at_ms, 3_500);

        assert!(store.release_lease(&late).await.unwrap());
        assert!(!store.release_lease(&late).await.unwrap());
        assert_eq!(store.renew_lease(&late, 3_100, 500).await.unwrap(), None);
        assert_eq!(store.lease(one.id).await.unwrap(), None);
        // Released: anyone may take it at once; the token keeps growing.
        let third = store
            .try_acquire_lease(one.id, "worker-a", 3_100, 500)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(third.token, 3);
    }

    async fn leases_taken_and_renewed_in_batches(store: Store) {
        let alice = user(&store, "alice").await;
        let mut ids = Vec::new();
        for index in 0..620 {
            ids.push(bot(&store, alice.id, &format!("bot-{index}")).await.id);
        }
        // Someone else holds bot 0; bot 1's lease expired.
        store.try_acquire_lease(ids[0], "worker-b", 0, 60_000).await.unwrap().unwrap();
        store.try_acquire_lease(ids[1], "worker-b", 0, 10).await.unwrap().unwrap();
        // More bots than one statement names: taken in two chunks.
        let taken = store.try_acquire_leases(&ids, "worker-a", 100, 1_000).await.unwrap();
        assert_eq!(taken.len(), 619, "all but the one held");
        assert!(taken.iter().all(|lease| lease.bot_id != ids[0] && lease.owner == "worker-a"));
        let taken_over = taken.iter().find(|lease| lease.bot_id == ids[1]).unwrap();
        assert_eq!(taken_over.token, 2, "the expired lease was taken with the next token");
        assert_eq!(taken_over.expires_at_ms, 1_100);
        assert_eq!(taken_over.taken_over_from.as_deref(), Some("worker-b"));
        let free = taken.iter().filter(|lease| lease.taken_over_from.is_none()).count();
        assert_eq!(free, 618, "the others were free");
        // Not re-entrant: asking again takes nothing.
        assert!(store.try_acquire_leases(&ids, "worker-a", 200, 1_000).await.unwrap().is_empty());
        assert!(store.try_acquire_leases(&[], "worker-a", 200, 1_000).await.unwrap().is_empty());

        // Renewing extends every live lease held as given, one statement per batch.
        let renewed = store.renew_leases(&taken, 900, 1_000).await.unwrap();
        assert_eq!(renewed.len(), 619);
        assert!(renewed.iter().all(|lease| lease.expires_at_ms == 1_900));
        assert_eq!(store.lease(ids[5]).await.unwrap().unwrap().expires_at_ms, 1_900);
        // A lease with another token (the bot was taken again, even under the same name) is
        // not renewed: it is no longer the one this holder has.
        let stale = Lease { token: taken[0].token + 1, ..taken[0].clone() };
        assert!(store.renew_leases(&[stale], 950, 1_000).await.unwrap().is_empty());
        // Once expired, they are not renewed: another worker may take them.
        assert!(store.renew_leases(&renewed, 1_900, 1_000).await.unwrap().is_empty());
        let stolen = store.try_acquire_leases(&ids[2..4], "worker-c", 2_000, 1_000).await.unwrap();
        assert_eq!(stolen.len(), 2);
        assert!(stolen.iter().all(|lease| lease.taken_over_from.as_deref() == Some("worker-a")));
        assert!(matches!(
            store.try_acquire_leases(&ids, "", 0, 1).await,
            Err(StoreError::InvalidValue { .. })
        ));
    }

    async fn leases_released_at_shutdown_and_refused_arguments(store: Store) {
        let alice = user(&store, "alice").await;
        let one = bot(&store, alice.id, "one").await;
        let two = bot(&store, alice.id, "two").await;
        let three = bot(&store, alice.id, "three").await;
        let mut held = Vec::new();
        for bot in [one.id, two.id] {
            held.push(
                store
                    .try_acquire_lease(bot, "worker-a", 0, 60_000)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        store
            .try_acquire_lease(three.id, "worker-b", 0, 60_000)
            .await
            .unwrap()
            .unwrap();
        // The same bot and name with another token (another process's lease) is not this one.
        let same_name = Lease { token: held[0].token + 1, ..held[0].clone() };
        assert_eq!(store.release_leases(&[same_name]).await.unwrap(), 0);
        assert_eq!(store.release_leases(&held).await.unwrap(), 2);
        assert_eq!(store.release_leases(&held).await.unwrap(), 0);
        assert_eq!(store.lease(one.id).await.unwrap(), None);
        assert_eq!(
            store.lease(three.id).await.unwrap().unwrap().owner,
            "worker-b"
        );
        let again = store
            .try_acquire_lease(one.id, "worker-c", 1, 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.token, 2);

        assert!(matches!(
            store
                .try_acquire_lease(BotId(424_242), "worker-a", 0, 1)
                .await,
            Err(StoreError::NotFound { what: "bot", .. })
        ));
        assert!(matches!(
            store.lease(BotId(424_242)).await,
            Err(StoreError::NotFound { .. })
        ));
        for ttl in [0, -5] {
            assert!(matches!(
                store.try_acquire_lease(two.id, "worker-a", 0, ttl).await,
                Err(StoreError::InvalidValue { .. })
            ));
        }
        assert!(matches!(
            store
                .try_acquire_lease(two.id, "worker-a", i64::MAX, 1)
                .await,
            Err(StoreError::InvalidValue { .. })
        ));
        assert!(matches!(
            store.try_acquire_lease(two.id, "", 0, 1).await,
            Err(StoreError::InvalidValue { .. })
        ));
    }
}
