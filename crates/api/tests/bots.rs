//! Bots over real HTTP, on SQLite and PostgreSQL: happy paths, the validation of every field
//! (against the venue's own listing), run-state changes as the engine sees them, and isolation:
//! another user's bot or key is a 404 for every route and verb, and a missing or bad token is a
//! 401.

use api::ApiConfig;
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use store::{BotId, BotStatus, NewOrder, Store, UserId};

mod common;

use common::{Server, assert_error_code};

/// Cheap password hashes.
fn config() -> ApiConfig {
    common::config()
}

impl Server {
    /// Registers `username` and logs in: their token and user id.
    async fn user(&self, username: &str) -> (String, UserId) {
        let (created, _, token) = self.sign_up(username).await;
        (token, UserId(created.body["id"].as_i64().unwrap()))
    }

    /// Creates a bot named `name` from [`bot_body`]; its id.
    async fn bot(&self, token: &str, name: &str) -> i64 {
        let created = self
            .send(
                Method::POST,
                "/api/v1/bots",
                Some(bot_body(name)),
                Some(token),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        created.body["id"].as_i64().unwrap()
    }
}

/// A valid bot: BTCUSDT 1h, default parameters, 25 USDT per BUY, paper, active.
fn bot_body(name: &str) -> Value {
    json!({
        "name": name,
        "symbol": "BTCUSDT",
        "interval": "1h",
        "strategy": "ema_rsi_cross",
        "quote_per_buy": "25.50",
        "mode": "paper",
    })
}

/// `body` with `field` set to `value` (removed when `value` is `null`).
fn with(mut body: Value, field: &str, value: Value) -> Value {
    let object = body.as_object_mut().unwrap();
    if value.is_null() {
        object.remove(field);
    } else {
        object.insert(field.to_owned(), value);
    }
    body
}

store::backend_tests! {
    async fn a_bot_is_created_listed_changed_controlled_and_deleted(store: Store) {
        let server = Server::start(&store, config()).await;
        let (token, _) = server.user("alice").await;
        let created = server
            .send(Method::POST, "/api/v1/bots", Some(bot_body("trend")), Some(&token))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let bot = created.body.clone();
        let id = bot["id"].as_i64().unwrap();
        assert_eq!(bot["name"], "trend");
        assert_eq!(bot["symbol"], "BTCUSDT");
        assert_eq!(bot["interval"], "1h");
        assert_eq!(bot["strategy"], "ema_rsi_cross");
        assert_eq!(bot["strategy_params"], json!({"fast": 9, "slow": 21, "rsi_period": 14, "overbought": 70.0}));
        assert_eq!(bot["quote_per_buy"], "25.5");
        assert_eq!(bot["mode"], "paper");
        assert_eq!(bot["is_active"], true);
        assert_eq!(bot["status"], "idle");
        assert_eq!(bot["last_error"], Value::Null);
        assert_eq!(bot["consecutive_failures"], 0);
        assert_eq!(bot["position"], json!({"quantity": "0", "cost_quote": "0", "realized_pnl": "0"}));
        assert_eq!(bot["last_trade"], Value::Null, "no trade yet");
        assert_eq!(bot.as_object().unwrap().len(), 16, "{bot}");

        let list = server.send(Method::GET, "/api/v1/bots", None, Some(&token)).await;
        assert_eq!((list.status, &list.body), (StatusCode::OK, &json!([bot])));
        let one = server.send(Method::GET, &format!("/api/v1/bots/{id}"), None, Some(&token)).await;
        assert_eq!((one.status, &one.body), (StatusCode::OK, &bot));

        let patched = server
            .send(
                Method::PATCH,
                &format!("/api/v1/bots/{id}"),
                Some(json!({"name": "trend 2", "strategy_params": {"fast": 5}, "quote_per_buy": "10", "interval": "15m"})),
                Some(&token),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
        assert_eq!(patched.body["name"], "trend 2");
        assert_eq!(patched.body["interval"], "15m");
        assert_eq!(patched.body["quote_per_buy"], "10");
        assert_eq!(patched.body["strategy_params"]["fast"], 5);
        assert_eq!(patched.body["strategy_params"]["slow"], 21, "a default");
        assert_eq!(patched.body["symbol"], "BTCUSDT", "unchanged");
        assert!(patched.body["updated_at_ms"].as_i64() >= bot["updated_at_ms"].as_i64());
        let bad_patch = server
            .send(Method::PATCH, &format!("/api/v1/bots/{id}"), Some(json!({"quote_per_buy": "1"})), Some(&token))
            .await;
        assert_error_code(&bad_patch, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("quote_per_buy"));

        server.bot(&token, "other").await;
        let taken = server
            .send(Method::PATCH, &format!("/api/v1/bots/{id}"), Some(json!({"name": "other"})), Some(&token))
            .await;
        assert_error_code(&taken, StatusCode::CONFLICT, "conflict", Some("name"));
        let duplicate = server.send(Method::POST, "/api/v1/bots", Some(bot_body("other")), Some(&token)).await;
        assert_error_code(&duplicate, StatusCode::CONFLICT, "conflict", Some("name"));

        // The engine sees every change: pause and stop take the bot off the runnable list, and
        // start clears what the engine recorded of failures.
        let runnable = |store: Store| async move {
            store.runnable_bots().await.unwrap().iter().any(|bot| bot.id == BotId(id))
        };
        assert!(runnable(store.clone()).await);
        let control = |action: &'static str| {
            let (server, token) = (&server, &token);
            async move {
                let answer = server
                    .send(Method::POST, &format!("/api/v1/bots/{id}/{action}"), None, Some(token))
                    .await;
                assert_eq!(answer.status, StatusCode::OK, "{action}: {answer:?}");
                answer.body
            }
        };
        let paused = control("pause").await;
        assert_eq!((paused["status"].as_str(), paused["is_active"].as_bool()), (Some("paused"), Some(true)));
        assert!(!runnable(store.clone()).await);
        store
            .set_bot_status(BotId(id), BotStatus::Error, Some("exchange down"), 3, 1)
            .await
            .unwrap();
        let started = control("start").await;
        assert_eq!(started["status"], "idle");
        assert_eq!(started["is_active"], true);
        assert_eq!(started["last_error"], Value::Null);
        assert_eq!(started["consecutive_failures"], 0);
        assert!(runnable(store.clone()).await);
        let stopped = control("stop").await;
        assert_eq!((stopped["status"].as_str(), stopped["is_active"].as_bool()), (Some("idle"), Some(false)));
        assert!(!runnable(store.clone()).await);

        let deleted = server.send(Method::DELETE, &format!("/api/v1/bots/{id}"), None, Some(&token)).await;
        assert_eq!((deleted.status, deleted.body), (StatusCode::NO_CONTENT, Value::Null));
        let gone = server.send(Method::GET, &format!("/api/v1/bots/{id}"), None, Some(&token)).await;
        assert_error_code(&gone, StatusCode::NOT_FOUND, "not_found", None);
        let list = server.send(Method::GET, "/api/v1/bots", None, Some(&token)).await;
        assert_eq!(list.body.as_array().unwrap().len(), 1);
        server.stop().await;
    }

    async fn a_running_bot_or_one_with_orders_is_not_deleted(store: Store) {
        let server = Server::start(&store, config()).await;
        let (token, user) = server.user("alice").await;
        let id = server.bot(&token, "busy").await;
        let path = format!("/api/v1/bots/{id}");
        let running = server.send(Method::DELETE, &path, None, Some(&token)).await;
        assert_error_code(&running, StatusCode::CONFLICT, "bot_running", None);
        server.send(Method::POST, &format!("{path}/stop"), None, Some(&token)).await;
        store
            .insert_pending_order(
                &NewOrder {
                    client_order_id: "order-1".to_owned(),
                    bot_id: BotId(id),
                    user_id: user,
                    symbol: "BTCUSDT".to_owned(),
                    side: market::Side::Buy,
                    requested_quantity: Decimal::ONE,
                    signal_candle_open_ms: 0,
                    decision: None,
                },
                1,
            )
            .await
            .unwrap();
        let history = server.send(Method::DELETE, &path, None, Some(&token)).await;
        assert_error_code(&history, StatusCode::CONFLICT, "bot_has_history", None);
        for (field, value) in [("symbol", "ETHUSDT"), ("mode", "testnet")] {
            let moved = server.send(Method::PATCH, &path, Some(json!({field: value})), Some(&token)).await;
            assert_error_code(&moved, StatusCode::CONFLICT, "conflict", Some(field));
        }
        let renamed = server.send(Method::PATCH, &path, Some(json!({"name": "kept"})), Some(&token)).await;
        assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
        server.stop().await;
    }

    async fn every_bad_bot_field_is_a_422_naming_it(store: Store) {
        let server = Server::start(&store, config()).await;
        let (token, _) = server.user("alice").await;
        let base = bot_body("b");
        let cases = [
            ("name", json!(""), "invalid_value"),
            ("name", json!("   "), "invalid_value"),
            ("name", json!("x".repeat(65)), "invalid_value"),
            // Invisible, and text that reorders what follows it in a log or on a page.
            ("name", json!("\u{200B}"), "invalid_value"),
            ("name", json!(" \u{2060}\u{FEFF} "), "invalid_value"),
            ("name", json!("gain\u{202E}sso l"), "invalid_value"),
            ("symbol", json!("DOGEUSDT"), "invalid_value"),
            ("symbol", json!("btcusdt"), "invalid_value"),
            ("interval", json!("7m"), "invalid_value"),
            ("strategy", json!("macd"), "invalid_value"),
            ("strategy_params", json!({"fast": 30, "slow": 10}), "invalid_value"),
            ("strategy_params", json!({"fats": 5}), "invalid_value"),
            ("strategy_params", json!({"fast": -1}), "invalid_value"),
            ("strategy_params", json!([1]), "invalid_value"),
            ("quote_per_buy", json!("abc"), "invalid_value"),
            ("quote_per_buy", json!("0"), "invalid_value"),
            ("quote_per_buy", json!("-10"), "invalid_value"),
            ("quote_per_buy", json!("4.99"), "invalid_value"),
            ("quote_per_buy", json!(25), "invalid_type"),
            ("mode", json!("demo"), "invalid_value"),
            ("mode", json!("live"), "invalid_value"),
            ("is_active", json!("yes"), "invalid_type"),
            ("symbol", Value::Null, "missing_field"),
        ];
        for (field, value, code) in cases {
            let answer = server
                .send(Method::POST, "/api/v1/bots", Some(with(base.clone(), field, value.clone())), Some(&token))
                .await;
            assert_error_code(&answer, StatusCode::UNPROCESSABLE_ENTITY, code, Some(field));
        }
        let unknown = server
            .send(Method::POST, "/api/v1/bots", Some(with(base.clone(), "leverage", json!(3))), Some(&token))
            .await;
        assert_error_code(&unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field", Some("leverage"));
        // A key given twice inside the strategy's parameters (a free-form object) is named too.
        let twice = r#"{"name": "b2", "symbol": "BTCUSDT", "interval": "1m", "strategy": "ema_rsi_cross",
            "strategy_params": {"fast": 5, "fast": 50}, "quote_per_buy": "25", "mode": "paper"}"#;
        let repeated = server
            .send_raw(Method::POST, "/api/v1/bots", Some("application/json"), twice, Some(&token))
            .await;
        assert_error_code(&repeated, StatusCode::UNPROCESSABLE_ENTITY, "duplicate_field", Some("strategy_params.fast"));
        let minimum = server
            .send(Method::POST, "/api/v1/bots", Some(with(base.clone(), "quote_per_buy", json!("5"))), Some(&token))
            .await;
        assert_eq!(minimum.status, StatusCode::CREATED, "the minimum notional itself: {minimum:?}");
        for path in ["/api/v1/bots/abc", "/api/v1/bots/99999999999999999999", "/api/v1/bots/-1"] {
            let answer = server.send(Method::GET, path, None, Some(&token)).await;
            assert_error_code(&answer, StatusCode::NOT_FOUND, "not_found", None);
        }
        let list = server.send(Method::GET, "/api/v1/bots", None, Some(&token)).await;
        assert_eq!(list.body.as_array().unwrap().len(), 1, "nothing else was created");
        server.stop().await;
    }

    async fn another_users_bots_and_credentials_are_404_and_no_token_is_401(store: Store) {
        let server = Server::start(&store, config()).await;
        let (alice, _) = server.user("alice").await;
        let (bob, _) = server.user("bobby").await;
        let alices = server.bot(&alice, "mine").await;
        let bobs = server.bot(&bob, "mine").await;
        let account = server.open_testnet_account(1_000);
        let put = json!({"api_key": account.api_key, "api_secret": account.secret});
        let stored = server.send(Method::PUT, "/api/v1/credentials/testnet", Some(put.clone()), Some(&alice)).await;
        assert_eq!(stored.status, StatusCode::CREATED, "{stored:?}");
        let before = server.send(Method::GET, &format!("/api/v1/bots/{alices}"), None, Some(&alice)).await;

        // Each user tries every bot route on the other's bot.
        for (token, other) in [(&bob, alices), (&alice, bobs)] {
            let bot = format!("/api/v1/bots/{other}");
            for (method, path, body) in [
                (Method::GET, bot.clone(), None),
                (Method::PATCH, bot.clone(), Some(json!({"name": "stolen"}))),
                (Method::DELETE, bot.clone(), None),
                (Method::POST, format!("{bot}/start"), None),
                (Method::POST, format!("{bot}/stop"), None),
                (Method::POST, format!("{bot}/pause"), None),
            ] {
                let answer = server.send(method.clone(), &path, body, Some(token)).await;
                assert_error_code(&answer, StatusCode::NOT_FOUND, "not_found", None);
            }
            let list = server.send(Method::GET, "/api/v1/bots", None, Some(token)).await;
            let ids: Vec<_> = list.body.as_array().unwrap().iter().map(|bot| bot["id"].as_i64()).collect();
            assert!(!ids.contains(&Some(other)), "{ids:?}");
            assert_eq!(ids.len(), 1);
        }
        let after = server.send(Method::GET, &format!("/api/v1/bots/{alices}"), None, Some(&alice)).await;
        assert_eq!(after.body, before.body, "untouched by bob");

        // Keys and accounts are per caller: bob sees, uses and deletes none of alice's.
        let bobs_view = server.send(Method::GET, "/api/v1/credentials/testnet", None, Some(&bob)).await;
        assert_error_code(&bobs_view, StatusCode::NOT_FOUND, "not_found", None);
        let bobs_account = server.send(Method::GET, "/api/v1/account/testnet", None, Some(&bob)).await;
        assert_error_code(&bobs_account, StatusCode::NOT_FOUND, "not_found", None);
        let bobs_delete = server.send(Method::DELETE, "/api/v1/credentials/testnet", None, Some(&bob)).await;
        assert_error_code(&bobs_delete, StatusCode::NOT_FOUND, "not_found", None);
        let alices_view = server.send(Method::GET, "/api/v1/credentials/testnet", None, Some(&alice)).await;
        assert_eq!(alices_view.body["api_key_prefix"], format!("{}…", &account.api_key[..8]));

        // No token, or a wrong one, is a 401 on every route, before anything else is looked at.
        let bot = format!("/api/v1/bots/{alices}");
        for token in [None, Some("not-a-token")] {
            for (method, path, body) in [
                (Method::PUT, "/api/v1/credentials/testnet".to_owned(), Some(put.clone())),
                (Method::GET, "/api/v1/credentials/testnet".to_owned(), None),
                (Method::DELETE, "/api/v1/credentials/testnet".to_owned(), None),
                (Method::GET, "/api/v1/account/paper".to_owned(), None),
                (Method::POST, "/api/v1/account/paper/reset".to_owned(), None),
                (Method::POST, "/api/v1/bots".to_owned(), Some(bot_body("x"))),
                (Method::GET, "/api/v1/bots".to_owned(), None),
                (Method::GET, bot.clone(), None),
                (Method::PATCH, bot.clone(), Some(json!({"name": "x"}))),
                (Method::DELETE, bot.clone(), None),
                (Method::POST, format!("{bot}/start"), None),
                (Method::POST, format!("{bot}/stop"), None),
                (Method::POST, format!("{bot}/pause"), None),
            ] {
                let answer = server.send(method.clone(), &path, body, token).await;
                assert_error_code(&answer, StatusCode::UNAUTHORIZED, "unauthorized", None);
            }
        }
        server.stop().await;
    }
}
