//! The notifier against local receivers over real HTTP, on both databases: a webhook that fails
//! before it accepts gets every attempt with one idempotency key and a valid signature; Telegram
//! messages go to the configured Bot API with the chat and the text, and a refused token is given
//! up without ever showing the token; a receiver that hangs delays nobody else; two notifiers on
//! one queue (two workers) send each notification once; a webhook at a private address is
//! refused unless the operator allows it.

use std::time::Duration;

use accounts::MasterKey;
use notify::testing::{Behaviour, Receiver};
use notify::{Notifier, Settings};
use store::{
    ChannelId, ChannelRow, DeliveryRow, DeliveryStatus, NewBot, NewEvent, NewUser, NotifyEvent,
    Role, Store, Subscription, UserId,
};
use tokio::sync::oneshot;

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

fn master_key() -> MasterKey {
    MasterKey::from_bytes([7; 32])
}

/// Quick retries, so that a test sees several attempts in well under a second.
fn settings(telegram: &str) -> Settings {
    Settings {
        telegram_api_url: telegram.to_owned(),
        allow_private_targets: true,
        max_attempts: 4,
        retry_base: Duration::from_millis(40),
        retry_max: Duration::from_millis(200),
        request_timeout: Duration::from_millis(500),
        concurrency: 4,
        poll_every: Duration::from_millis(20),
        // The incidents here are dated 2023: the log must keep them.
        keep_log: Duration::from_secs(100 * 365 * 86_400),
    }
}

/// A running notifier; dropping the sender stops it.
fn start(store: &Store, settings: Settings) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let notifier = Notifier::new(store.clone(), master_key(), settings).unwrap();
    tokio::spawn(notifier.run(async {
        let _ = stopped.await;
    }));
    stop
}

async fn alice_and_her_bot(store: &Store) -> (UserId, store::BotId) {
    let user = store
        .create_user(
            &NewUser {
                email: "alice@example.com".to_owned(),
                username: "alice".to_owned(),
                password_hash: None,
                role: Role::User,
            },
            1,
        )
        .await
        .unwrap();
    let bot = store
        .create_bot(
            &NewBot {
                user_id: user.id,
                name: "btc <b>fast</b>".to_owned(),
                symbol: "BTCUSDT".to_owned(),
                interval: "1m".to_owned(),
                strategy: "ema_cross".to_owned(),
                strategy_params: "{}".to_owned(),
                quote_per_buy: rust_decimal::Decimal::TEN,
                mode: store::Mode::Paper,
                is_active: true,
            },
            2,
        )
        .await
        .unwrap();
    (user.id, bot.id)
}

async fn webhook(store: &Store, user: UserId, name: &str, url: &str) -> (ChannelRow, String) {
    let created = notify::channels::webhook(&master_key(), user, name, url, true).unwrap();
    let row = store.create_channel(&created.channel, 3).await.unwrap();
    (row, created.signing_secret.unwrap().to_string())
}

async fn telegram(store: &Store, user: UserId, name: &str, token: &str) -> ChannelRow {
    let created = notify::channels::telegram(&master_key(), user, name, "-100123", token).unwrap();
    store.create_channel(&created.channel, 3).await.unwrap()
}

async fn pause(store: &Store, bot: store::BotId, message: &str) {
    let event = NewEvent {
        bot_id: bot,
        at_ms: 1_700_000_000_000,
        kind: store::PAUSED_EVENT.to_owned(),
        message: message.to_owned(),
        candle_open_ms: None,
        detail: None,
    };
    store.record_events(&[event]).await.unwrap();
}

/// Waits until every delivery is settled (delivered or failed) and returns them.
async fn settled(store: &Store, count: usize) -> Vec<DeliveryRow> {
    for _ in 0..1500 {
        let all = store.all_deliveries().await.unwrap();
        if all.len() == count && all.iter().all(|d| d.status != DeliveryStatus::Pending) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not settled: {:#?}", store.all_deliveries().await.unwrap());
}

fn subscribe(channel: ChannelId, event: NotifyEvent) -> Subscription {
    Subscription {
        channel_id: channel,
        event,
    }
}

store::backend_tests! {
    async fn a_webhook_that_fails_first_gets_one_key_and_valid_signatures(store: Store) {
        let receiver = Receiver::start(Behaviour::FailFirst(2)).await;
        let (user, bot) = alice_and_her_bot(&store).await;
        let (hook, secret) = webhook(&store, user, "ops", &format!("{}/hook?t=1", receiver.url())).await;
        let errors = [subscribe(hook.id, NotifyEvent::BotError)];
        store.set_subscriptions(user, bot, &errors, 4).await.unwrap();
        let _running = start(&store, settings("http://unused.invalid"));
        pause(&store, bot, "paused after 5 consecutive failed cycles").await;

        let delivery = settled(&store, 1).await.remove(0);
        assert_eq!((delivery.status, delivery.attempts), (DeliveryStatus::Delivered, 3));
        assert_eq!(delivery.last_status_code, Some(200));
        let requests = receiver.received();
        assert_eq!(requests.len(), 3);
        for request in &requests {
            assert_eq!(request.path, "/hook?t=1");
            assert_eq!(request.header("idempotency-key"), delivery.idempotency_key);
            assert_eq!(request.header("x-spotbot-delivery"), delivery.idempotency_key);
            assert_eq!(request.header("x-spotbot-event"), "bot_error");
            assert_eq!(request.header("content-type"), "application/json");
            assert_eq!(request.body, requests[0].body, "every attempt sends the same body");
            let timestamp: i64 = request.header("x-spotbot-timestamp").parse().unwrap();
            let expected = notify::send::signature(secret.as_bytes(), timestamp, &request.body);
            assert_eq!(request.header("x-spotbot-signature"), format!("v1={expected}"));
        }
        let body = requests[0].json();
        assert_eq!(body["id"], delivery.idempotency_key.as_str());
        assert_eq!(body["event"], "bot_error");
        assert_eq!(body["bot"]["name"], "btc <b>fast</b>");
        assert_eq!(body["bot"]["venue"], "paper");
        assert_eq!(body["incident"]["kind"], "paused");
        assert_eq!(body["incident"]["at"], "2023-11-14 22:13:20 UTC");
        assert!(body["text"].as_str().unwrap().contains("paused after 5 consecutive failed cycles"));
    }

    async fn telegram_gets_the_chat_and_text_and_a_refused_token_is_given_up(store: Store) {
        let telegram_api = Receiver::start(Behaviour::Accept).await;
        let refusing_api = Receiver::start(Behaviour::Unauthorized).await;
        let (user, bot) = alice_and_her_bot(&store).await;
        let phone = telegram(&store, user, "phone", TOKEN).await;
        let errors = [subscribe(phone.id, NotifyEvent::BotError)];
        store.set_subscriptions(user, bot, &errors, 4).await.unwrap();
        let running = start(&store, settings(&telegram_api.url()));
        pause(&store, bot, "the exchange refused the key").await;
        settled(&store, 1).await;
        drop(running);

        let requests = telegram_api.received();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, format!("/bot{TOKEN}/sendMessage"));
        let message = requests[0].json();
        assert_eq!(message["chat_id"], "-100123");
        let text = message["text"].as_str().unwrap();
        assert!(text.starts_with("spotbot · btc <b>fast</b> (BTCUSDT 1m, paper): paused"), "{text}");
        assert!(text.contains("the exchange refused the key"), "{text}");
        assert!(message.get("parse_mode").is_none(), "plain text: names are never markup");

        // Against an API that refuses the token: given up after the last attempt, the token
        // nowhere in the log.
        let _running = start(&store, settings(&refusing_api.url()));
        pause(&store, bot, "again").await;
        let refused = settled(&store, 2).await.remove(1);
        assert_eq!((refused.status, refused.attempts), (DeliveryStatus::Failed, 4));
        assert_eq!(refused.last_status_code, Some(401));
        let error = refused.last_error.unwrap();
        assert!(error.contains("Telegram refused the bot token"), "{error}");
        assert!(!error.contains(TOKEN.split(':').nth(1).unwrap()), "{error}");
        assert_eq!(refusing_api.received().len(), 4);
    }

    async fn a_hanging_receiver_delays_nobody_else(store: Store) {
        let hanging = Receiver::start(Behaviour::Hang).await;
        let healthy = Receiver::start(Behaviour::Accept).await;
        let (user, _) = alice_and_her_bot(&store).await;
        let (stuck, _) = webhook(&store, user, "stuck", &hanging.url()).await;
        let (fine, _) = webhook(&store, user, "fine", &healthy.url()).await;
        // The hanging channel's deliveries come first, as many as the notifier sends at once.
        for at in 0..4 {
            store.enqueue_test(user, stuck.id, 10 + at).await.unwrap().unwrap();
        }
        for at in 0..10 {
            store.enqueue_test(user, fine.id, 100 + at).await.unwrap().unwrap();
        }
        let slow = Settings {
            request_timeout: Duration::from_secs(3),
            max_attempts: 1,
            ..settings("http://unused.invalid")
        };
        let started = std::time::Instant::now();
        let _running = start(&store, slow);
        while healthy.received().len() < 10 && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Delivered while the hanging channel's first attempts still wait for their answer: it
        // holds two of the four slots, never all of them.
        assert_eq!(healthy.received().len(), 10);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(hanging.received().len() <= 2, "{}", hanging.received().len());
        let stuck_delivery = settled(&store, 14).await.remove(0);
        assert_eq!(stuck_delivery.status, DeliveryStatus::Failed);
        assert!(stuck_delivery.last_error.unwrap().contains("no answer in time"));
    }

    async fn two_notifiers_on_one_queue_send_each_notification_once(db: &TestDatabase) {
        let receiver = Receiver::start(Behaviour::Accept).await;
        let store = db.store();
        let (user, _) = alice_and_her_bot(store).await;
        let (hook, _) = webhook(store, user, "ops", &receiver.url()).await;
        let other_process = db.another_store().await;
        let _first = start(store, settings("http://unused.invalid"));
        let _second = start(&other_process, settings("http://unused.invalid"));
        for at in 0..40 {
            store.enqueue_test(user, hook.id, 100 + at).await.unwrap().unwrap();
        }
        let deliveries = settled(store, 40).await;
        assert!(deliveries.iter().all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1));
        let mut keys: Vec<String> = receiver
            .received()
            .iter()
            .map(|request| request.header("idempotency-key").to_owned())
            .collect();
        assert_eq!(keys.len(), 40);
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 40, "each sent once");
    }

    async fn a_daily_summary_tells_the_days_figures(store: Store) {
        const DAY_MS: i64 = 86_400_000;
        let receiver = Receiver::start(Behaviour::Accept).await;
        let (user, bot) = alice_and_her_bot(&store).await;
        let (hook, _) = webhook(&store, user, "ops", &receiver.url()).await;
        let daily = [subscribe(hook.id, NotifyEvent::DailySummary)];
        store.set_subscriptions(user, bot, &daily, 4).await.unwrap();
        // 2023-11-14, queued as the notifier would after that midnight; the notifier queues
        // yesterday's on its own when it starts.
        let day = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS;
        assert_eq!(store.enqueue_daily_summaries(day, day + DAY_MS + 300_000).await.unwrap(), 1);
        let _running = start(&store, settings("http://unused.invalid"));
        let deliveries = settled(&store, 2).await;
        assert!(deliveries.iter().all(|d| d.status == DeliveryStatus::Delivered));
        let ours = format!("daily_summary-{bot}-{day}");
        let request = receiver
            .received()
            .into_iter()
            .find(|request| request.header("idempotency-key") == ours)
            .expect("the day's summary");
        let body = request.json();
        assert_eq!(body["event"], "daily_summary");
        assert_eq!(body["day"]["date"], "2023-11-14");
        assert_eq!((body["day"]["trades"].as_u64(), body["day"]["realized_pnl"].as_str()), (Some(0), Some("0")));
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("2023-11-14 (UTC)") && text.contains("0 trades (0 buys, 0 sells)"), "{text}");
    }

    async fn a_receivers_long_answer_is_cut_short_in_the_log(store: Store) {
        let receiver = Receiver::start(Behaviour::FailWithBody(8 << 20)).await;
        let (user, _) = alice_and_her_bot(&store).await;
        let (hook, _) = webhook(&store, user, "chatty", &receiver.url()).await;
        store.enqueue_test(user, hook.id, 10).await.unwrap().unwrap();
        let once = Settings { max_attempts: 1, ..settings("http://unused.invalid") };
        let _running = start(&store, once);
        let failed = settled(&store, 1).await.remove(0);
        assert_eq!((failed.status, failed.last_status_code), (DeliveryStatus::Failed, Some(503)));
        let error = failed.last_error.unwrap();
        assert!(error.starts_with("the receiver answered HTTP 503 Service Unavailable: xxx"), "{}", &error[..80]);
        assert!(error.len() < 300, "{} bytes kept", error.len());
    }

    async fn a_private_webhook_is_refused_unless_allowed(store: Store) {
        let receiver = Receiver::start(Behaviour::Accept).await;
        let (user, _) = alice_and_her_bot(&store).await;
        // Created while the operator allowed private targets; the notifier no longer does.
        let (hook, _) = webhook(&store, user, "lan", &receiver.url()).await;
        store.enqueue_test(user, hook.id, 10).await.unwrap().unwrap();
        let strict = Settings { allow_private_targets: false, ..settings("http://unused.invalid") };
        let _running = start(&store, strict);
        let refused = settled(&store, 1).await.remove(0);
        assert_eq!((refused.status, refused.attempts), (DeliveryStatus::Failed, 1));
        assert!(refused.last_error.unwrap().contains("private"));
        assert!(receiver.received().is_empty());
    }
}
