//! A user's notifications end to end, on a real `spotbot run` and local receivers over HTTP:
//! Alice sets up a webhook and a Telegram chat through the API and opts her fast bot's trades
//! into both. The webhook's receiver is down: the bot trades on regardless (a receiver never
//! delays a cycle), Telegram hears of every trade, and the webhook's deliveries wait, retried.
//! `spotbot run` is stopped with them pending, the receiver comes up, `spotbot run` starts
//! again: every trade reaches the webhook, once per idempotency key, signed. Alice reads her
//! delivery log; Bob sees none of it and cannot use her bot or her channels.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use notify::testing::{Behaviour, Receiver};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;

use common::Running;

const PASSWORD: &str = "correct horse battery staple";
const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/// The API of one `spotbot run`, as one user.
struct Client {
    api: String,
    token: String,
}

impl Client {
    async fn sign_up(api: &str, name: &str) -> Client {
        let register =
            json!({"email": format!("{name}@example.com"), "username": name, "password": PASSWORD});
        let anonymous = Client {
            api: api.to_owned(),
            token: String::new(),
        };
        let (status, _) = anonymous
            .call(Method::POST, "/api/v1/auth/register", Some(register))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let login = json!({"username": name, "password": PASSWORD});
        let (status, answer) = anonymous
            .call(Method::POST, "/api/v1/auth/login", Some(login))
            .await;
        assert_eq!(status, StatusCode::OK);
        Client {
            api: api.to_owned(),
            token: answer["token"].as_str().unwrap().to_owned(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request =
            reqwest::Client::new().request(method, format!("http://{}{path}", self.api));
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn config(dir: &Path, telegram: &Receiver) -> std::path::PathBuf {
    let path = dir.join("spotbot.toml");
    let text = format!(
        "[notifications]\n\
         telegram_api_url = \"{}\"\n\
         allow_private_targets = true\n\
         retry_base_ms = 200\n\
         retry_max_ms = 1000\n\
         max_attempts = 10000\n",
        telegram.url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn start(dir: &Path, config: &Path) -> Running {
    Running::start_with(dir, &["--config", config.to_str().unwrap()])
}

/// Waits until `ready` holds on what `read` answers, at most `within`.
async fn until<T: std::fmt::Debug>(
    what: &str,
    within: Duration,
    mut read: impl AsyncFnMut() -> T,
    ready: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let now = read().await;
        if ready(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {within:?}: {now:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trade_reaches_a_receiver_that_was_down_across_a_restart_once_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook_receiver = Receiver::down(Behaviour::Accept).await;
    let telegram = Receiver::start(Behaviour::Accept).await;
    let config = config(dir.path(), &telegram);
    let mut run = start(dir.path(), &config);
    let api = run.api_address();
    let alice = Client::sign_up(&api, "alice").await;

    // Her bot, created stopped, so that every one of its trades is opted in.
    let bot = json!({
        "name": "fast <i>one</i>", "symbol": "BTCUSDT", "interval": "1m", "strategy": "ema_rsi_cross",
        "strategy_params": {"fast": 2, "slow": 5, "overbought": 99}, "quote_per_buy": "20",
        "mode": "paper", "is_active": false,
    });
    let (status, bot) = alice.call(Method::POST, "/api/v1/bots", Some(bot)).await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    let bot_id = bot["id"].as_i64().unwrap();
    let webhook = json!({"kind": "webhook", "name": "ops", "url": format!("{}/spotbot?token=abc", hook_receiver.url())});
    let (status, created) = alice
        .call(
            Method::POST,
            "/api/v1/notifications/channels",
            Some(webhook),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hook_id = created["channel"]["id"].as_i64().unwrap();
    let secret = created["signing_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        created["channel"]["target"],
        format!("{}/spotbot?…", hook_receiver.url())
    );
    let phone = json!({"kind": "telegram", "name": "phone", "chat_id": "-1001234567890", "bot_token": TOKEN});
    let (status, created) = alice
        .call(Method::POST, "/api/v1/notifications/channels", Some(phone))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["signing_secret"].is_null());
    assert!(
        !created.to_string().contains(TOKEN),
        "the token is never answered"
    );
    let phone_id = created["channel"]["id"].as_i64().unwrap();
    let events = json!(["trade", "order_in_doubt", "bot_error", "daily_summary"]);
    let opted = json!({"channels": [
        {"channel_id": hook_id, "events": events},
        {"channel_id": phone_id, "events": ["trade"]},
    ]});
    let path = format!("/api/v1/bots/{bot_id}/notifications");
    let (status, stored) = alice.call(Method::PUT, &path, Some(opted)).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["channels"][0]["events"].as_array().unwrap().len(), 4);
    let (status, _) = alice
        .call(Method::POST, &format!("/api/v1/bots/{bot_id}/start"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // While the webhook is down the bot trades on, and Telegram hears of each trade.
    let trades = until(
        "three trades",
        Duration::from_secs(180),
        async || {
            alice.call(Method::GET, "/api/v1/trades", None).await.1["trades"]
                .as_array()
                .map_or(0, Vec::len)
        },
        |count| *count >= 3,
    )
    .await;
    assert!(trades >= 3);
    let log = until(
        "Telegram deliveries and webhook retries",
        Duration::from_secs(60),
        async || {
            alice
                .call(
                    Method::GET,
                    "/api/v1/notifications/deliveries?limit=200",
                    None,
                )
                .await
                .1
        },
        |log| {
            let rows = log.as_array().unwrap();
            rows.iter()
                .filter(|d| d["channel_id"] == phone_id && d["status"] == "delivered")
                .count()
                >= 3
                && rows
                    .iter()
                    .any(|d| d["channel_id"] == hook_id && d["attempts"].as_i64() >= Some(2))
        },
    )
    .await;
    let waiting = log
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel_id"] == hook_id && d["attempts"].as_i64() >= Some(2))
        .unwrap();
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert!(
        waiting["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{waiting}"
    );
    assert!(waiting["next_attempt_at_ms"].is_i64());

    // Stopped with deliveries pending; the receiver comes up; the queue survives the restart.
    let (status, _) = alice
        .call(Method::POST, &format!("/api/v1/bots/{bot_id}/pause"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (stopped, lines) = run.stop("-TERM");
    assert!(stopped, "{}", lines.join("\n"));
    let database = format!("sqlite://{}", dir.path().join("data/spotbot.db").display());
    let store = store::Store::connect(&database).await.unwrap();
    let pending = store.pending_deliveries().await.unwrap();
    assert!(pending >= 3, "{pending} deliveries pending at the stop");
    hook_receiver.restart().await;
    let mut run = start(dir.path(), &config);
    let alice = Client {
        api: run.api_address(),
        token: alice.token,
    };
    until(
        "every delivery",
        Duration::from_secs(60),
        async || store.pending_deliveries().await.unwrap(),
        |pending| *pending == 0,
    )
    .await;

    // Every trade reached both channels: one delivery each, delivered; the webhook got each
    // trade's key, every copy of one key the same body, signed with the secret.
    // Hers, not the demo bot's (which trades too, opted into nothing).
    let trades = store
        .trades(&store::TradeFilter {
            bot: Some(store::BotId(bot_id)),
            ..store::TradeFilter::default()
        })
        .await
        .unwrap();
    let deliveries = store.all_deliveries().await.unwrap();
    for trade in &trades {
        let key = format!("trade-{}", trade.id);
        for channel in [hook_id, phone_id] {
            let rows: Vec<_> = deliveries
                .iter()
                .filter(|d| d.channel_id.0 == channel && d.idempotency_key == key)
                .collect();
            assert_eq!(rows.len(), 1, "{key} to channel {channel}: {rows:?}");
            assert_eq!(rows[0].status, store::DeliveryStatus::Delivered);
        }
    }
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for request in hook_receiver.received() {
        assert_eq!(request.path, "/spotbot?token=abc");
        let timestamp: i64 = request.header("x-spotbot-timestamp").parse().unwrap();
        let signature = notify::send::signature(secret.as_bytes(), timestamp, &request.body);
        assert_eq!(
            request.header("x-spotbot-signature"),
            format!("v1={signature}")
        );
        let key = request.header("idempotency-key").to_owned();
        if let Some(earlier) = bodies.insert(key.clone(), request.body.clone()) {
            assert_eq!(
                earlier, request.body,
                "a repeat of {key} is the same notification"
            );
        }
    }
    let trade_keys: BTreeSet<String> = trades.iter().map(|t| format!("trade-{}", t.id)).collect();
    assert_eq!(
        bodies.keys().cloned().collect::<BTreeSet<_>>(),
        trade_keys,
        "no trade lost"
    );
    let first = &trades[0];
    let body: Value = serde_json::from_slice(&bodies[&format!("trade-{}", first.id)]).unwrap();
    assert_eq!(body["event"], "trade");
    assert_eq!(body["bot"]["name"], "fast <i>one</i>");
    assert_eq!(body["trade"]["side"], first.side.to_string());
    assert_eq!(body["trade"]["quantity"], first.quantity_filled.to_string());
    assert_eq!(body["trade"]["price"], first.price.to_string());
    let messages = telegram.received();
    assert_eq!(messages.len(), trades.len(), "one message per trade");
    for message in &messages {
        assert_eq!(message.path, format!("/bot{TOKEN}/sendMessage"));
        let text = message.json()["text"].as_str().unwrap().to_owned();
        assert!(
            text.starts_with("spotbot · fast <i>one</i> (BTCUSDT 1m, paper): trade"),
            "{text}"
        );
    }

    // A test message on demand, and the log is Alice's alone.
    let (status, test) = alice
        .call(
            Method::POST,
            &format!("/api/v1/notifications/channels/{hook_id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{test}");
    until(
        "the test message",
        Duration::from_secs(30),
        async || hook_receiver.received(),
        |got| {
            got.iter()
                .any(|request| request.header("x-spotbot-event") == "test")
        },
    )
    .await;
    let bob = Client::sign_up(&alice.api, "bob").await;
    let (status, log) = bob
        .call(Method::GET, "/api/v1/notifications/deliveries", None)
        .await;
    assert_eq!((status, log), (StatusCode::OK, json!([])));
    let (status, _) = bob.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not his bot");
    let (status, error) = bob
        .call(
            Method::POST,
            &format!("/api/v1/notifications/channels/{hook_id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    let bobs_bot = json!({
        "name": "b", "symbol": "BTCUSDT", "interval": "1m", "strategy": "ema_rsi_cross",
        "quote_per_buy": "20", "mode": "paper", "is_active": false,
    });
    let (_, bobs_bot) = bob.call(Method::POST, "/api/v1/bots", Some(bobs_bot)).await;
    let steal = json!({"channels": [{"channel_id": hook_id, "events": ["trade"]}]});
    let bobs_path = format!("/api/v1/bots/{}/notifications", bobs_bot["id"]);
    let (status, error) = bob.call(Method::PUT, &bobs_path, Some(steal)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["field"], "channels[0].channel_id");
    let (stopped, lines) = run.stop("-TERM");
    assert!(stopped, "{}", lines.join("\n"));
}
