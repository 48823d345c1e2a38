//! Users' exchange keys and accounts over real HTTP, on SQLite and PostgreSQL, against real
//! simulators as the paper and testnet venues: a key is verified with the exchange before it is
//! stored (a refused key is a 422 naming the field, and nothing is stored), stored encrypted and
//! never returned, in both of Binance's key types; each user's paper account is their own, and
//! its reset restores the starting balances.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use store::{Mode, UserId};

mod common;

use common::{Server, assert_error_code};

impl Server {
    /// Registers `username` and logs in: their token and user id.
    async fn user(&self, username: &str) -> (String, UserId) {
        let (created, _, token) = self.sign_up(username).await;
        (token, UserId(created.body["id"].as_i64().unwrap()))
    }

    /// Sets the testnet key state of `api_key` through the simulator's admin API.
    async fn set_testnet_key(&self, api_key: &str, state: Value) {
        let answer = self
            .client
            .put(format!(
                "http://{}/_sim/accounts/{api_key}/key",
                self.testnet.local_addr()
            ))
            .header("content-type", "application/json")
            .body(state.to_string())
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{answer:?}");
    }
}

const PATH: &str = "/api/v1/credentials/testnet";

store::backend_tests! {
    async fn a_key_is_verified_stored_encrypted_and_never_returned(store: Store) {
        let server = Server::start(&store, common::config()).await;
        let (token, user) = server.user("alice").await;
        let none = server.send(Method::GET, PATH, None, Some(&token)).await;
        assert_error_code(&none, StatusCode::NOT_FOUND, "not_found", None);

        let first = server.open_testnet_account(500);
        let put = |account: &sim::Credentials| json!({"api_key": account.api_key, "api_secret": account.secret});
        let created = server.send(Method::PUT, PATH, Some(put(&first)), Some(&token)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let body = &created.body;
        assert_eq!(body["venue"], "testnet");
        assert_eq!(body["key_type"], "hmac");
        assert_eq!(body["api_key_prefix"], format!("{}…", &first.api_key[..8]));
        assert_eq!(body["can_trade"], true);
        assert_eq!(body["permissions"], json!(["SPOT"]));
        assert!(body["verified_at_ms"].as_i64().is_some_and(|at| at >= body["set_at_ms"].as_i64().unwrap()));
        assert_eq!(body.as_object().unwrap().len(), 7, "{body}");
        assert!(!created.text.contains(&first.secret) && !created.text.contains(&first.api_key));

        // The account the key opens is the user's own: its balance, as the exchange reports it.
        let account = server.send(Method::GET, "/api/v1/account/testnet", None, Some(&token)).await;
        assert_eq!(account.status, StatusCode::OK, "{account:?}");
        assert_eq!(account.body["balances"], json!([{"asset": "USDT", "free": "500", "locked": "0"}]));

        let second = server.open_testnet_account(700);
        let replaced = server.send(Method::PUT, PATH, Some(put(&second)), Some(&token)).await;
        assert_eq!(replaced.status, StatusCode::OK, "{replaced:?}");
        let shown = server.send(Method::GET, PATH, None, Some(&token)).await;
        assert_eq!((shown.status, &shown.body), (StatusCode::OK, &replaced.body));
        let account = server.send(Method::GET, "/api/v1/account/testnet", None, Some(&token)).await;
        assert_eq!(account.body["balances"][0]["free"], "700", "the new key at once");

        // The database holds ciphertext that only this key, for this user and venue, opens.
        let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_ciphertext FROM venue_credentials")
            .fetch_one(store.raw_pool())
            .await
            .unwrap();
        assert!(!stored.windows(second.secret.len()).any(|w| w == second.secret.as_bytes()));
        let key = accounts::MasterKey::from_bytes([9; 32]);
        assert_eq!(key.decrypt(user, Mode::Testnet, &stored).unwrap()[..], *second.secret.as_bytes());
        assert!(key.decrypt(UserId(user.0 + 1), Mode::Testnet, &stored).is_err());
        assert!(key.decrypt(user, Mode::Live, &stored).is_err());

        let deleted = server.send(Method::DELETE, PATH, None, Some(&token)).await;
        assert_eq!((deleted.status, deleted.body), (StatusCode::NO_CONTENT, Value::Null));
        let gone = server.send(Method::GET, PATH, None, Some(&token)).await;
        assert_error_code(&gone, StatusCode::NOT_FOUND, "not_found", None);
        let no_account = server.send(Method::GET, "/api/v1/account/testnet", None, Some(&token)).await;
        assert_error_code(&no_account, StatusCode::NOT_FOUND, "not_found", None);
        let again = server.send(Method::DELETE, PATH, None, Some(&token)).await;
        assert_error_code(&again, StatusCode::NOT_FOUND, "not_found", None);
        server.stop().await;
    }

    async fn a_key_the_exchange_refuses_is_a_422_naming_the_field_and_nothing_is_stored(store: Store) {
        let server = Server::start(&store, common::config()).await;
        let (token, _) = server.user("alice").await;
        let good = server.open_testnet_account(100);
        let revoked = server.open_testnet_account(100);
        server.set_testnet_key(&revoked.api_key, json!({"enabled": false})).await;
        let elsewhere = server.open_testnet_account(100);
        server.set_testnet_key(&elsewhere.api_key, json!({"ip_whitelist": ["203.0.113.7"]})).await;
        let read_only = server.open_testnet_account(100);
        server.set_testnet_key(&read_only.api_key, json!({"can_trade": false})).await;
        let unknown = sim::Credentials::generate();
        let cases = [
            (json!({"api_key": unknown.api_key, "api_secret": unknown.secret}), "api_key", "-2015"),
            (json!({"api_key": revoked.api_key, "api_secret": revoked.secret}), "api_key", "-2015"),
            (json!({"api_key": elsewhere.api_key, "api_secret": elsewhere.secret}), "api_key", "whitelist"),
            (json!({"api_key": good.api_key, "api_secret": "wrong".repeat(10)}), "api_secret", "-1022"),
            (json!({"api_key": read_only.api_key, "api_secret": read_only.secret}), "api_key", "cannot trade"),
        ];
        for (body, field, reason) in cases {
            let answer = server.send(Method::PUT, PATH, Some(body.clone()), Some(&token)).await;
            assert_error_code(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some(field));
            let message = answer.body["message"].as_str().unwrap();
            assert!(message.contains(reason), "{reason}: {message}");
            assert!(!answer.text.contains(body["api_secret"].as_str().unwrap()), "{answer:?}");
            let stored = server.send(Method::GET, PATH, None, Some(&token)).await;
            assert_error_code(&stored, StatusCode::NOT_FOUND, "not_found", None);
        }
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM venue_credentials")
            .fetch_one(store.raw_pool())
            .await
            .unwrap();
        assert_eq!(rows, 0, "nothing stored");

        for (body, code, field) in [
            (json!({"api_key": "k"}), "missing_field", "api_secret"),
            (json!({"api_key": "k", "api_secret": "s", "private_key": "p"}), "invalid_value", "private_key"),
            (json!({"api_key": "", "api_secret": "s"}), "invalid_value", "api_key"),
            (json!({"api_key": "k", "api_secret": "a b"}), "invalid_value", "api_secret"),
            (json!({"api_key": "k", "api_secret": "x".repeat(257)}), "invalid_value", "api_secret"),
            (json!({"api_key": "k", "private_key": "not a key"}), "invalid_value", "private_key"),
            (json!({"api_key": "k", "api_secret": "s", "x": 1}), "unknown_field", "x"),
            (json!({"api_key": 5, "api_secret": "s"}), "invalid_type", "api_key"),
        ] {
            let answer = server.send(Method::PUT, PATH, Some(body.clone()), Some(&token)).await;
            assert_error_code(&answer, StatusCode::UNPROCESSABLE_ENTITY, code, Some(field));
            assert!(!answer.body.to_string().contains("a b"), "{answer:?}");
        }
        for path in ["/api/v1/credentials/paper", "/api/v1/credentials/mainnet", "/api/v1/credentials/TESTNET"] {
            let answer = server.send(Method::GET, path, None, Some(&token)).await;
            assert_error_code(&answer, StatusCode::NOT_FOUND, "not_found", None);
        }
        let live = server
            .send(Method::PUT, "/api/v1/credentials/live", Some(json!({"api_key": good.api_key, "api_secret": good.secret})), Some(&token))
            .await;
        assert_error_code(&live, StatusCode::NOT_FOUND, "not_found", None);
        assert!(live.text.contains("does not trade on live"), "{live:?}");
        server.stop().await;
    }

    async fn an_ed25519_key_signs_for_its_user(store: Store) {
        let server = Server::start(&store, common::config()).await;
        let (token, _) = server.user("alice").await;
        let signing = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
        let public_key = BASE64.encode(signing.verifying_key().to_bytes());
        let api_key = "ed25519TestKey0123456789ed25519TestKey0123456789ed25519TestKey01".to_owned();
        server.testnet.exchange().lock().add_account(sim::Account::with_key(
            api_key.clone(),
            sim::SignatureKey::ed25519_from_text(&public_key).unwrap(),
            [("USDT".to_owned(), rust_decimal::Decimal::from(250))],
            sim::STANDARD_COMMISSION_RATE,
        ));
        let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        der.extend_from_slice(&[11; 32]);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", BASE64.encode(&der));
        let created = server
            .send(Method::PUT, PATH, Some(json!({"api_key": api_key, "private_key": pem})), Some(&token))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        assert_eq!(created.body["key_type"], "ed25519");
        let account = server.send(Method::GET, "/api/v1/account/testnet", None, Some(&token)).await;
        assert_eq!(account.body["balances"][0]["free"], "250", "{account:?}");
        server.stop().await;
    }

    async fn each_user_has_their_own_paper_account_and_its_reset_restores_it(store: Store) {
        let server = Server::start(&store, common::config()).await;
        let (alice, _) = server.user("alice").await;
        let (bob, _) = server.user("bobby").await;
        let alices = server.send(Method::GET, "/api/v1/account/paper", None, Some(&alice)).await;
        assert_eq!(alices.status, StatusCode::OK, "{alices:?}");
        assert_eq!(alices.body["venue"], "paper");
        assert_eq!(alices.body["balances"], json!([{"asset": "USDT", "free": "10000", "locked": "0"}]));
        let bobs = server.send(Method::GET, "/api/v1/account/paper", None, Some(&bob)).await;
        assert_eq!(bobs.body["balances"], alices.body["balances"]);

        // Two accounts on the paper exchange, one per user.
        let keys: Vec<String> = sqlx::query_scalar("SELECT api_key FROM venue_credentials WHERE venue = 'paper' ORDER BY user_id")
            .fetch_all(store.raw_pool())
            .await
            .unwrap();
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0], keys[1]);
        // Alice's account changes; bob's does not.
        server.paper.exchange().lock().fund(&keys[0], "BTC", rust_decimal::Decimal::ONE).unwrap();
        let alices = server.send(Method::GET, "/api/v1/account/paper", None, Some(&alice)).await;
        assert_eq!(alices.body["balances"].as_array().unwrap().len(), 2, "{alices:?}");
        let bobs_again = server.send(Method::GET, "/api/v1/account/paper", None, Some(&bob)).await;
        assert_eq!(bobs_again.body, bobs.body);

        // While one of her paper orders is in doubt, the reset is refused and changes nothing.
        let bot = server
            .send(Method::POST, "/api/v1/bots", Some(json!({"name": "b", "symbol": "BTCUSDT", "interval": "1h", "strategy": "ema_rsi_cross", "quote_per_buy": "20", "mode": "paper"})), Some(&alice))
            .await;
        assert_eq!(bot.status, StatusCode::CREATED, "{bot:?}");
        let bot_id = store::BotId(bot.body["id"].as_i64().unwrap());
        let alice_id = store.bot(bot_id).await.unwrap().unwrap().user_id;
        let order = store::NewOrder {
            client_order_id: "in-doubt".to_owned(),
            bot_id,
            user_id: alice_id,
            symbol: "BTCUSDT".to_owned(),
            side: market::Side::Buy,
            requested_quantity: rust_decimal::Decimal::ONE,
            signal_candle_open_ms: 0,
            decision: None,
        };
        store.insert_pending_order(&order, 1).await.unwrap();
        let refused = server.send(Method::POST, "/api/v1/account/paper/reset", None, Some(&alice)).await;
        assert_error_code(&refused, StatusCode::CONFLICT, "orders_in_doubt", None);
        let unchanged = server.send(Method::GET, "/api/v1/account/paper", None, Some(&alice)).await;
        assert_eq!(unchanged.body["balances"].as_array().unwrap().len(), 2, "{unchanged:?}");
        store.set_order_status("in-doubt", store::OrderStatus::NotExecuted, None, 2).await.unwrap();

        // Both hold a position on paper: the reset clears Alice's, and Bob's stays.
        let bobs_bot = server
            .send(Method::POST, "/api/v1/bots", Some(json!({"name": "b", "symbol": "BTCUSDT", "interval": "1h", "strategy": "ema_rsi_cross", "quote_per_buy": "20", "mode": "paper"})), Some(&bob))
            .await;
        let bobs_bot = store.bot(store::BotId(bobs_bot.body["id"].as_i64().unwrap())).await.unwrap().unwrap();
        let alices_bot = store.bot(bot_id).await.unwrap().unwrap();
        for (held, order, exchange_id) in [(&alices_bot, "alice-buy", 9_001), (&bobs_bot, "bob-buy", 9_002)] {
            hold_position(&store, held, order, exchange_id).await;
        }
        let bobs_position = store.position(bobs_bot.id).await.unwrap();

        let reset = server.send(Method::POST, "/api/v1/account/paper/reset", None, Some(&alice)).await;
        assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
        assert_eq!(reset.body["account"]["balances"], json!([{"asset": "USDT", "free": "10000", "locked": "0"}]));
        assert_eq!(reset.body["cleared_bots"], json!([bot_id.0]), "{reset:?}");
        let cleared = store.position(bot_id).await.unwrap();
        assert_eq!((cleared.quantity, cleared.cost_quote), (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO));
        assert_eq!(store.position(bobs_bot.id).await.unwrap(), bobs_position, "Bob's position stays");
        let bobs_after = server.send(Method::GET, "/api/v1/account/paper", None, Some(&bob)).await;
        assert_eq!(bobs_after.body, bobs.body, "Bob's account stays");

        // The paper exchange lost her account (restarted without its state): the answer says
        // to reset it, and the reset opens a new one.
        sqlx::query("UPDATE venue_credentials SET api_key = 'forgotten-by-the-exchange' WHERE user_id = $1 AND venue = 'paper'")
            .bind(alice_id.0)
            .execute(store.raw_pool())
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
        let lost = server.send(Method::GET, "/api/v1/account/paper", None, Some(&alice)).await;
        assert_error_code(&lost, StatusCode::CONFLICT, "key_rejected", None);
        assert!(lost.body["message"].as_str().unwrap().contains("POST /api/v1/account/paper/reset"), "{lost:?}");
        let reopened = server.send(Method::POST, "/api/v1/account/paper/reset", None, Some(&alice)).await;
        assert_eq!(reopened.status, StatusCode::OK, "{reopened:?}");
        let fresh = server.send(Method::GET, "/api/v1/account/paper", None, Some(&alice)).await;
        assert_eq!(fresh.body["balances"], json!([{"asset": "USDT", "free": "10000", "locked": "0"}]), "{fresh:?}");
        server.stop().await;
    }
}

/// Records a filled BUY of 0.001 BTC at 20,000 for `bot` (order `client_order_id`, exchange
/// order `exchange_id`): the bot then holds a position.
async fn hold_position(
    store: &store::Store,
    bot: &store::BotConfig,
    client_order_id: &str,
    exchange_id: i64,
) {
    let d = |text: &str| text.parse::<rust_decimal::Decimal>().unwrap();
    let order = store::NewOrder {
        client_order_id: client_order_id.to_owned(),
        bot_id: bot.id,
        user_id: bot.user_id,
        symbol: bot.symbol.clone(),
        side: market::Side::Buy,
        requested_quantity: d("0.001"),
        signal_candle_open_ms: 0,
        decision: None,
    };
    store.insert_pending_order(&order, 3).await.unwrap();
    let execution = store::Execution {
        trade: store::NewTrade {
            bot_id: bot.id,
            user_id: bot.user_id,
            binance_order_id: exchange_id,
            client_order_id: client_order_id.to_owned(),
            symbol: bot.symbol.clone(),
            side: market::Side::Buy,
            price: d("20000"),
            quantity_filled: d("0.001"),
            quote_quantity_filled: d("20"),
            commission: d("0.02"),
            commission_asset: "USDT".to_owned(),
            realized_pnl: None,
            executed_at_ms: 4,
        },
        order_status: store::OrderStatus::Filled,
        position_before: store.position(bot.id).await.unwrap(),
        position_after: store::PositionRow {
            quantity: d("0.001"),
            cost_quote: d("20.02"),
            updated_at_ms: 5,
            ..store::PositionRow::flat(bot.id)
        },
    };
    store.record_execution(&execution, 5).await.unwrap();
}
