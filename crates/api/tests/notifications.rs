//! Notification channels and subscriptions over real HTTP, on SQLite and PostgreSQL: what is
//! refused and with which field (kinds, names, private webhook targets, Telegram ids and tokens,
//! unknown events, other users' channels, the channel limit, a taken name), secrets never
//! answered, turning a channel off and on, deleting it, the test message queued, the delivery
//! log's filters, and another user's channel or bot a 404.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;

use common::{Server, assert_error_code};

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const CHANNELS: &str = "/api/v1/notifications/channels";

async fn create(server: &Server, token: &str, body: Value) -> common::Answer {
    server
        .send(Method::POST, CHANNELS, Some(body), Some(token))
        .await
}

fn hook(name: &str, url: &str) -> Value {
    json!({"kind": "webhook", "name": name, "url": url})
}

store::backend_tests! {
    async fn channels_are_checked_scoped_and_never_show_their_secrets(store: Store) {
        let server = Server::start(&store, common::config()).await;
        let (_, _, alice) = server.sign_up("alice").await;
        let (_, _, bob) = server.sign_up("bob").await;

        for (body, field) in [
            (json!({"kind": "email", "name": "x"}), "kind"),
            (json!({"kind": "webhook", "name": "x"}), "url"),
            (hook("\u{202e}evil", "https://hooks.example.com/"), "name"),
            (hook("lan", "http://192.168.1.10/hook"), "url"),
            (hook("meta", "http://169.254.169.254/latest"), "url"),
            (hook("file", "file:///etc/passwd"), "url"),
            (json!({"kind": "telegram", "name": "t", "chat_id": "me", "bot_token": TOKEN}), "chat_id"),
            (json!({"kind": "telegram", "name": "t", "chat_id": "12", "bot_token": "nope"}), "bot_token"),
            (json!({"kind": "telegram", "name": "t", "chat_id": "12"}), "bot_token"),
        ] {
            let answer = create(&server, &alice, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer:?}");
            assert_eq!(answer.body["field"], field, "{body}: {answer:?}");
        }

        let created = create(&server, &alice, hook("ops", "https://hooks.example.com/a?key=s3cret")).await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let secret = created.body["signing_secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_"));
        let ops = created.body["channel"]["id"].as_i64().unwrap();
        let taken = create(&server, &alice, hook("ops", "https://hooks.example.com/b")).await;
        assert_error_code(&taken, StatusCode::CONFLICT, "conflict", Some("name"));
        let phone = json!({"kind": "telegram", "name": "phone", "chat_id": "-100123", "bot_token": TOKEN});
        assert_eq!(create(&server, &alice, phone).await.status, StatusCode::CREATED);

        let listed = server.get(CHANNELS, Some(&alice)).await;
        let text = listed.body.to_string();
        assert!(!text.contains(secret) && !text.contains(TOKEN) && !text.contains("s3cret"), "{text}");
        assert_eq!(listed.body[0]["target"], "https://hooks.example.com/a?…");
        assert_eq!(listed.body[1]["target"], "-100123");
        assert_eq!(server.get(CHANNELS, Some(&bob)).await.body, json!([]));

        // Off and on; Bob can neither see, change, test nor delete it.
        let path = format!("{CHANNELS}/{ops}");
        let off = server.send(Method::PATCH, &path, Some(json!({"enabled": false})), Some(&alice)).await;
        assert_eq!((off.status, &off.body["enabled"]), (StatusCode::OK, &json!(false)));
        for (method, suffix, body) in [
            (Method::PATCH, "", Some(json!({"enabled": true}))),
            (Method::DELETE, "", None),
            (Method::POST, "/test", None),
        ] {
            let answer = server.send(method, &format!("{path}{suffix}"), body, Some(&bob)).await;
            assert_error_code(&answer, StatusCode::NOT_FOUND, "not_found", None);
        }
        let test = server.send(Method::POST, &format!("{path}/test"), None, Some(&alice)).await;
        assert_eq!(test.status, StatusCode::ACCEPTED, "{test:?}");
        assert_eq!((&test.body["event"], &test.body["status"]), (&json!("test"), &json!("pending")));

        let log = server.get("/api/v1/notifications/deliveries?status=pending", Some(&alice)).await;
        assert_eq!(log.body.as_array().unwrap().len(), 1);
        assert_eq!(server.get("/api/v1/notifications/deliveries", Some(&bob)).await.body, json!([]));
        for (query, field) in [("status=lost", "status"), ("limit=0", "limit"), ("channel_id=x", "channel_id"), ("nope=1", "nope")] {
            let answer = server.get(&format!("/api/v1/notifications/deliveries?{query}"), Some(&alice)).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {answer:?}");
            assert_eq!(answer.body["field"], field, "{query}");
        }
        let none = server.get(&format!("/api/v1/notifications/deliveries?channel_id={}", ops + 1), Some(&alice)).await;
        assert_eq!(none.body, json!([]));

        let deleted = server.send(Method::DELETE, &path, None, Some(&alice)).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(server.get("/api/v1/notifications/deliveries", Some(&alice)).await.body, json!([]));

        // Ten channels at most.
        for n in 0..9 {
            let answer = create(&server, &alice, hook(&format!("h{n}"), "https://hooks.example.com/")).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{n}: {answer:?}");
        }
        let over = create(&server, &alice, hook("h10", "https://hooks.example.com/")).await;
        assert_error_code(&over, StatusCode::UNPROCESSABLE_ENTITY, "limit_reached", None);
        server.stop().await;
    }

    async fn a_bots_events_go_only_to_its_owners_channels(store: Store) {
        let server = Server::start(&store, common::config()).await;
        let (_, _, alice) = server.sign_up("alice").await;
        let (_, _, bob) = server.sign_up("bob").await;
        let bot = json!({"name": "b", "symbol": "BTCUSDT", "interval": "1h", "strategy": "ema_rsi_cross", "quote_per_buy": "25", "mode": "paper"});
        let bot = server.send(Method::POST, "/api/v1/bots", Some(bot), Some(&alice)).await;
        let path = format!("/api/v1/bots/{}/notifications", bot.body["id"]);
        let ops = create(&server, &alice, hook("ops", "https://hooks.example.com/")).await.body["channel"]["id"].clone();
        let bobs = create(&server, &bob, hook("ops", "https://hooks.example.com/")).await.body["channel"]["id"].clone();

        assert_eq!(server.get(&path, Some(&alice)).await.body, json!({"channels": []}));
        let wanted = json!({"channels": [{"channel_id": ops, "events": ["trade", "daily_summary"]}]});
        let stored = server.send(Method::PUT, &path, Some(wanted), Some(&alice)).await;
        assert_eq!(stored.status, StatusCode::OK, "{stored:?}");
        assert_eq!(stored.body["channels"][0]["events"], json!(["daily_summary", "trade"]));
        assert_eq!(server.get(&path, Some(&alice)).await.body, stored.body);

        for (body, field) in [
            (json!({"channels": [{"channel_id": bobs, "events": ["trade"]}]}), "channels[0].channel_id"),
            (json!({"channels": [{"channel_id": ops, "events": ["trade"]}, {"channel_id": ops, "events": []}]}), "channels[1].channel_id"),
            (json!({"channels": [{"channel_id": ops, "events": ["trade", "test"]}]}), "channels[0].events[1]"),
        ] {
            let answer = server.send(Method::PUT, &path, Some(body.clone()), Some(&alice)).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer:?}");
            assert_eq!(answer.body["field"], field, "{body}");
        }
        assert_eq!(server.get(&path, Some(&alice)).await.body, stored.body, "nothing changed");
        assert_error_code(&server.get(&path, Some(&bob)).await, StatusCode::NOT_FOUND, "not_found", None);
        let empty = server.send(Method::PUT, &path, Some(json!({"channels": []})), Some(&bob)).await;
        assert_error_code(&empty, StatusCode::NOT_FOUND, "not_found", None);
        let cleared = server.send(Method::PUT, &path, Some(json!({"channels": []})), Some(&alice)).await;
        assert_eq!(cleared.body, json!({"channels": []}));
        server.stop().await;
    }
}
