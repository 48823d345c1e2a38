//! The admin routes over real HTTP, on SQLite and PostgreSQL: an admin sees the fleet's workers
//! with their state, every user and every bot with its owner; any other user gets 403.

use reqwest::StatusCode;
use serde_json::json;
use store::{NewUser, NewWorker, Role};

mod common;

use common::{PASSWORD, Server, assert_error_code};

store::backend_tests! {
    async fn an_admin_sees_the_workers_and_a_user_is_forbidden(store: Store) {
        let server = Server::start(&store, common::config()).await;
        let (_, _, user) = server.sign_up("alice").await;
        let hash = accounts::password::hash_password(PASSWORD, common::config().password_cost).unwrap();
        store
            .create_user(
                &NewUser {
                    email: "root@example.com".to_owned(),
                    username: "root".to_owned(),
                    password_hash: Some(hash),
                    role: Role::Admin,
                },
                1,
            )
            .await
            .unwrap();
        let login = server.login("root", PASSWORD).await;
        let admin = login.body["token"].as_str().unwrap().to_owned();

        let now = accounts::wall_now_ms();
        for (id, pid) in [("alive", 1), ("gone", 2), ("done", 3)] {
            let worker = NewWorker { id: id.to_owned(), host: "h".to_owned(), pid };
            store.register_worker(&worker, now - 60_000).await.unwrap();
        }
        store.worker_heartbeat("alive", 12, now).await.unwrap();
        store.stop_worker("done", now - 1_000).await.unwrap();

        let forbidden = server.get("/api/v1/admin/workers", Some(&user)).await;
        assert_error_code(&forbidden, StatusCode::FORBIDDEN, "forbidden", None);
        let listed = server.get("/api/v1/admin/workers", Some(&admin)).await;
        assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
        let states: Vec<(&str, &str, i64)> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|worker| (worker["id"].as_str().unwrap(), worker["state"].as_str().unwrap(), worker["bots_held"].as_i64().unwrap()))
            .collect();
        assert_eq!(states, [("alive", "running", 12), ("done", "stopped", 0), ("gone", "silent", 0)]);
        assert_eq!(listed.body[0]["stopped_at_ms"], json!(null));
        server.stop().await;
    }

    async fn an_admin_sees_every_user_and_every_bot_with_its_owner(store: Store) {
        let server = Server::start(&store, common::config()).await;
        let (_, _, alice) = server.sign_up("alice").await;
        let (_, _, bob) = server.sign_up("bob").await;
        let hash = accounts::password::hash_password(PASSWORD, common::config().password_cost).unwrap();
        let root = NewUser {
            email: "root@example.com".to_owned(),
            username: "root".to_owned(),
            password_hash: Some(hash),
            role: Role::Admin,
        };
        store.create_user(&root, 1).await.unwrap();
        let admin = server.login("root", PASSWORD).await.body["token"].as_str().unwrap().to_owned();
        for (token, name) in [(&alice, "a-bot"), (&bob, "b-bot")] {
            let body = json!({
                "name": name, "symbol": "BTCUSDT", "interval": "1h", "strategy": "ema_rsi_cross",
                "quote_per_buy": "25", "mode": "paper", "is_active": false,
            });
            let created = server.post("/api/v1/bots", body, Some(token)).await;
            assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        }

        for path in ["/api/v1/admin/users", "/api/v1/admin/bots"] {
            let forbidden = server.get(path, Some(&alice)).await;
            assert_error_code(&forbidden, StatusCode::FORBIDDEN, "forbidden", None);
        }
        let users = server.get("/api/v1/admin/users", Some(&admin)).await;
        assert_eq!(users.status, StatusCode::OK, "{users:?}");
        let names: Vec<(&str, &str)> = users
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|user| (user["username"].as_str().unwrap(), user["role"].as_str().unwrap()))
            .collect();
        assert_eq!(names, [("alice", "user"), ("bob", "user"), ("root", "admin")]);
        assert!(!users.text.contains("password"), "{}", users.text);

        let bots = server.get("/api/v1/admin/bots", Some(&admin)).await;
        assert_eq!(bots.status, StatusCode::OK, "{bots:?}");
        let owned: Vec<(&str, &str, &str)> = bots
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|bot| (bot["name"].as_str().unwrap(), bot["username"].as_str().unwrap(), bot["status"].as_str().unwrap()))
            .collect();
        assert_eq!(owned, [("a-bot", "alice", "idle"), ("b-bot", "bob", "idle")]);
        assert!(bots.body[0].get("quote_per_buy").is_none(), "the owner's money is not shown");
        server.stop().await;
    }
}
