//! Notifications: channels per user, subscriptions per bot, deliveries queued in the very
//! transaction that records a trade or an incident (only for what was opted into, and once per
//! key), claims that one sender wins, retries and giving up, the user's log, daily summaries
//! queued once whoever asks, and deletions that take their deliveries along.

use market::Side;
use store::{
    ChannelKind, DeliveryFilter, DeliveryStatus, NewChannel, NewEvent, NotifyEvent, RetryAt,
    StoreError, Subscription, UserId,
};

use crate::common::{bot, traded, user};

fn channel(user: UserId, name: &str) -> NewChannel {
    NewChannel {
        user_id: user,
        kind: ChannelKind::Webhook,
        name: name.to_owned(),
        target: "https://hooks.example.com/x".to_owned(),
        secret_ciphertext: vec![2, 9, 9],
    }
}

fn incident(bot: store::BotId, kind: &str, at_ms: i64) -> NewEvent {
    NewEvent {
        bot_id: bot,
        at_ms,
        kind: kind.to_owned(),
        message: format!("{kind} happened"),
        candle_open_ms: None,
        detail: None,
    }
}

store::backend_tests! {
    async fn only_what_was_opted_into_is_queued_once_per_key(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        let btc = bot(&store, alice.id, "btc").await;
        let quiet = bot(&store, alice.id, "quiet").await;
        let hook = store.create_channel(&channel(alice.id, "ops"), 10).await.unwrap();
        let phone = store.create_channel(&channel(alice.id, "phone"), 10).await.unwrap();
        assert!(matches!(
            store.create_channel(&channel(alice.id, "ops"), 11).await,
            Err(StoreError::Duplicate { .. })
        ));
        let bobs = store.create_channel(&channel(bob.id, "ops"), 12).await.unwrap();
        assert_eq!(store.channels(alice.id).await.unwrap().len(), 2);

        let subscriptions = [
            Subscription { channel_id: hook.id, event: NotifyEvent::Trade },
            Subscription { channel_id: hook.id, event: NotifyEvent::BotError },
            Subscription { channel_id: phone.id, event: NotifyEvent::OrderInDoubt },
        ];
        store.set_subscriptions(alice.id, btc.id, &subscriptions, 20).await.unwrap();
        // Another user's channel or bot: refused, nothing changed.
        let stolen = [Subscription { channel_id: bobs.id, event: NotifyEvent::Trade }];
        assert!(matches!(
            store.set_subscriptions(alice.id, btc.id, &stolen, 21).await,
            Err(StoreError::NotFound { what: "notification channel", .. })
        ));
        assert!(matches!(
            store.set_subscriptions(bob.id, btc.id, &[], 21).await,
            Err(StoreError::NotFound { what: "bot", .. })
        ));
        assert_eq!(store.subscriptions(btc.id).await.unwrap().len(), 3);

        let trade = traded(&store, &btc, "o-1", 1, Side::Buy, 5_000).await;
        traded(&store, &quiet, "q-1", 2, Side::Buy, 5_000).await;
        // Two errors in one hour are one notification; a pause and an order in doubt are each
        // one; a hold is none.
        let events = [
            incident(btc.id, store::ERROR_EVENT, 7_200_000),
            incident(btc.id, store::ERROR_EVENT, 7_200_500),
            incident(btc.id, store::ERROR_EVENT, 10_800_000),
            incident(btc.id, store::PAUSED_EVENT, 10_800_001),
            incident(btc.id, store::IN_DOUBT_EVENT, 10_800_002),
            incident(btc.id, "hold", 10_800_003),
            incident(quiet.id, store::ERROR_EVENT, 10_800_004),
        ];
        store.record_events(&events).await.unwrap();

        let queued = store.all_deliveries().await.unwrap();
        let keys: Vec<(i64, &str)> =
            queued.iter().map(|d| (d.channel_id.0, d.idempotency_key.as_str())).collect();
        let trade_key = format!("trade-{}", trade.id);
        assert_eq!(keys.len(), 5, "{keys:?}");
        assert_eq!(keys[0], (hook.id.0, trade_key.as_str()));
        assert_eq!(keys[1], (hook.id.0, format!("bot_error-{}-2", btc.id).as_str()));
        assert_eq!(keys[2], (hook.id.0, format!("bot_error-{}-3", btc.id).as_str()));
        assert!(keys[3].1.starts_with("bot_paused-") && keys[3].0 == hook.id.0);
        assert!(keys[4].1.starts_with("order_in_doubt-") && keys[4].0 == phone.id.0);
        assert!(queued.iter().all(|d| d.status == DeliveryStatus::Pending && d.attempts == 0));
        assert_eq!(queued[0].source_id, trade.id.0);
        assert_eq!(queued[0].bot_id, Some(btc.id));
        let first_error = store.event(queued[1].source_id).await.unwrap().unwrap();
        assert_eq!((first_error.kind.as_str(), first_error.at_ms), ("error", 7_200_000));

        // Bob sees none of it; Alice's log filters by channel.
        assert!(store.deliveries(bob.id, DeliveryFilter::default(), 50).await.unwrap().is_empty());
        let phone_only = DeliveryFilter { channel: Some(phone.id), ..DeliveryFilter::default() };
        assert_eq!(store.deliveries(alice.id, phone_only, 50).await.unwrap().len(), 1);

        // A disabled channel's deliveries wait.
        store.set_channel_enabled(alice.id, phone.id, false).await.unwrap().unwrap();
        let due = store.due_deliveries(20_000_000, 50).await.unwrap();
        assert_eq!(due.len(), 4);
        assert!(due.iter().all(|d| d.channel_id == hook.id));
        assert_eq!(store.set_channel_enabled(bob.id, phone.id, true).await.unwrap(), None);
    }

    async fn one_sender_wins_a_claim_and_failures_retry_then_give_up(store: Store) {
        let alice = user(&store, "alice").await;
        let btc = bot(&store, alice.id, "btc").await;
        let hook = store.create_channel(&channel(alice.id, "ops"), 10).await.unwrap();
        let trade_only = [Subscription { channel_id: hook.id, event: NotifyEvent::Trade }];
        store.set_subscriptions(alice.id, btc.id, &trade_only, 20).await.unwrap();
        traded(&store, &btc, "o-1", 1, Side::Buy, 5_000).await;
        let delivery = store.all_deliveries().await.unwrap().remove(0);

        assert!(store.claim_delivery(delivery.id, 6_000, 66_000).await.unwrap());
        assert!(!store.claim_delivery(delivery.id, 6_001, 66_001).await.unwrap(), "claimed");
        assert!(store.due_deliveries(7_000, 10).await.unwrap().is_empty(), "claimed");
        // The sender died: the claim expires and another takes it.
        assert_eq!(store.due_deliveries(66_001, 10).await.unwrap().len(), 1);
        assert!(store.claim_delivery(delivery.id, 66_001, 126_001).await.unwrap());
        store
            .delivery_failed(delivery.id, "HTTP 503", Some(503), RetryAt::At(80_000))
            .await
            .unwrap();
        assert!(store.due_deliveries(79_999, 10).await.unwrap().is_empty());
        let again = store.due_deliveries(80_000, 10).await.unwrap().remove(0);
        assert_eq!((again.attempts, again.last_status_code), (2, Some(503)));
        assert_eq!(again.last_error.as_deref(), Some("HTTP 503"));
        assert!(store.claim_delivery(again.id, 80_000, 140_000).await.unwrap());
        store.delivery_failed(again.id, "refused", None, RetryAt::GiveUp).await.unwrap();
        let failed = store.all_deliveries().await.unwrap().remove(0);
        assert_eq!((failed.status, failed.attempts), (DeliveryStatus::Failed, 3));
        assert!(store.due_deliveries(i64::MAX / 2, 10).await.unwrap().is_empty());
        assert!(!store.claim_delivery(failed.id, 200_000, 260_000).await.unwrap());
        assert_eq!(store.pending_deliveries().await.unwrap(), 0);

        let test = store.enqueue_test(alice.id, hook.id, 300_000).await.unwrap().unwrap();
        assert_eq!((test.event, test.bot_id), (NotifyEvent::Test, None));
        assert!(store.claim_delivery(test.id, 300_000, 360_000).await.unwrap());
        store.delivery_succeeded(test.id, 300_100, Some(204)).await.unwrap();
        let log = store.deliveries(alice.id, DeliveryFilter::default(), 10).await.unwrap();
        assert_eq!(log[0].id, test.id, "newest first");
        assert_eq!((log[0].status, log[0].delivered_at_ms), (DeliveryStatus::Delivered, Some(300_100)));
        let other = user(&store, "bob").await;
        assert_eq!(store.enqueue_test(other.id, hook.id, 300_000).await.unwrap(), None);

        // The log keeps what is pending whatever its age; settled rows go once old enough.
        store.enqueue_test(alice.id, hook.id, 400_000).await.unwrap().unwrap();
        assert_eq!(store.purge_deliveries(300_000).await.unwrap(), 1, "the failed one");
        assert_eq!(store.purge_deliveries(i64::MAX).await.unwrap(), 1, "the delivered test");
        let left = store.all_deliveries().await.unwrap();
        assert_eq!((left.len(), left[0].status), (1, DeliveryStatus::Pending));
    }

    async fn daily_summaries_are_queued_once_for_bots_opted_in_before_the_day_ended(store: Store) {
        const DAY: i64 = 86_400_000;
        let alice = user(&store, "alice").await;
        let early = bot(&store, alice.id, "early").await;
        let late = bot(&store, alice.id, "late").await;
        let hook = store.create_channel(&channel(alice.id, "ops"), 10).await.unwrap();
        let daily = [Subscription { channel_id: hook.id, event: NotifyEvent::DailySummary }];
        store.set_subscriptions(alice.id, early.id, &daily, 10 * DAY + 5).await.unwrap();
        store.set_subscriptions(alice.id, late.id, &daily, 11 * DAY + 5).await.unwrap();
        // Replacing the subscriptions keeps their date.
        store.set_subscriptions(alice.id, early.id, &daily, 12 * DAY).await.unwrap();

        assert_eq!(store.enqueue_daily_summaries(10 * DAY, 11 * DAY + 300_000).await.unwrap(), 1);
        // A second worker, or a restart: nothing more.
        assert_eq!(store.enqueue_daily_summaries(10 * DAY, 11 * DAY + 400_000).await.unwrap(), 0);
        assert_eq!(store.enqueue_daily_summaries(11 * DAY, 12 * DAY + 300_000).await.unwrap(), 2);
        let mut keys: Vec<String> =
            store.all_deliveries().await.unwrap().into_iter().map(|d| d.idempotency_key).collect();
        keys.sort();
        let mut expected = [
            format!("daily_summary-{}-{}", early.id, 10 * DAY),
            format!("daily_summary-{}-{}", early.id, 11 * DAY),
            format!("daily_summary-{}-{}", late.id, 11 * DAY),
        ];
        expected.sort();
        assert_eq!(keys, expected);
    }

    async fn deleting_a_channel_or_a_bot_takes_its_deliveries_along(store: Store) {
        let alice = user(&store, "alice").await;
        let btc = bot(&store, alice.id, "btc").await;
        let hook = store.create_channel(&channel(alice.id, "ops"), 10).await.unwrap();
        let phone = store.create_channel(&channel(alice.id, "phone"), 10).await.unwrap();
        let errors = [
            Subscription { channel_id: hook.id, event: NotifyEvent::BotError },
            Subscription { channel_id: phone.id, event: NotifyEvent::BotError },
        ];
        store.set_subscriptions(alice.id, btc.id, &errors, 20).await.unwrap();
        store.record_events(&[incident(btc.id, store::PAUSED_EVENT, 30)]).await.unwrap();
        assert_eq!(store.all_deliveries().await.unwrap().len(), 2);

        assert!(!store.delete_channel(UserId(999), hook.id).await.unwrap());
        assert!(store.delete_channel(alice.id, hook.id).await.unwrap());
        assert_eq!(store.subscriptions(btc.id).await.unwrap().len(), 1);
        assert_eq!(store.all_deliveries().await.unwrap().len(), 1);

        store.set_bot_active(btc.id, false, 40).await.unwrap();
        assert_eq!(
            store.delete_bot(alice.id, btc.id, 50).await.unwrap(),
            store::BotDeletion::Deleted
        );
        assert!(store.all_deliveries().await.unwrap().is_empty());
        assert_eq!(store.channels(alice.id).await.unwrap().len(), 1);
    }
}
