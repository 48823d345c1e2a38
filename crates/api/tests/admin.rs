//! The admin routes over real HTTP, on SQLite and PostgreSQL: an admin sees the fleet's workers
//! with their state; any other user gets 403.

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
}
