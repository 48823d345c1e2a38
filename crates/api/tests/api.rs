//! The API over real HTTP: a server bound on 127.0.0.1:0 with a real database (SQLite, and
//! PostgreSQL when `SPOTBOT_TEST_POSTGRES_URL` is set), driven with reqwest. Happy paths, every
//! kind of bad input with its status and JSON body, bad tokens, what is stored, login limits and
//! readiness.

use std::time::Duration;

use api::{ApiConfig, LoginLimits};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod common;

use common::{Server, assert_error, config};

/// A bad request body: content type, body, and the expected status, code and field.
type BadBody = (
    Option<&'static str>,
    String,
    StatusCode,
    &'static str,
    Option<&'static str>,
);

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

store::backend_tests! {
    async fn register_login_me_logout(store: Store) {
        let server = Server::start(&store, config()).await;
        let before = wall_now_ms();
        let created = server.register("alice").await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let user = created.body.clone();
        assert_eq!(user["username"], "alice");
        assert_eq!(user["email"], "alice@example.com");
        assert_eq!(user["role"], "user");
        assert!(user["created_at_ms"].as_i64().unwrap() >= before);
        assert_eq!(user.as_object().unwrap().len(), 5, "no password hash: {user}");

        // A session that expired 40 days ago: the next login clears it (kept 30 days).
        let day = 24 * 3600 * 1000;
        let alice = store::UserId(user["id"].as_i64().unwrap());
        store.create_session(alice, "ancient", before - 41 * day, day).await.unwrap();

        let login = server.login("alice", "correct horse battery").await;
        assert_eq!(login.status, StatusCode::OK, "{login:?}");
        let token = login.body["token"].as_str().unwrap().to_owned();
        assert_eq!(token.len(), 43);
        let expires = login.body["expires_at_ms"].as_i64().unwrap();
        assert!((before + day..before + day + 60_000).contains(&expires), "{expires}");

        let me = server.get("/api/v1/me", Some(&token)).await;
        assert_eq!((me.status, &me.body), (StatusCode::OK, &user));

        // What is stored: an argon2id hash, and the token's SHA-256, never the token (and no
        // longer the ancient session).
        let id = user["id"].as_i64().unwrap();
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(store.raw_pool())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM sessions")
            .fetch_all(store.raw_pool())
            .await
            .unwrap();
        assert_eq!(stored, [sha256_hex(&token)]);
        assert_ne!(stored[0], token);

        let out = server.post("/api/v1/auth/logout", json!({}), Some(&token)).await;
        assert_eq!((out.status, out.body), (StatusCode::NO_CONTENT, Value::Null));
        let after = server.get("/api/v1/me", Some(&token)).await;
        assert_error(&after, StatusCode::UNAUTHORIZED, "unauthorized", None);
        let again = server.post("/api/v1/auth/logout", json!({}), Some(&token)).await;
        assert_error(&again, StatusCode::UNAUTHORIZED, "unauthorized", None);
        server.stop().await;
    }

    async fn bad_bodies_are_json_errors_naming_the_field(store: Store) {
        let server = Server::start(&store, config()).await;
        let register = "/api/v1/auth/register";
        let json_type = Some("application/json");
        let cases: Vec<BadBody> = vec![
            (json_type, "{\"email\":".to_owned(), StatusCode::BAD_REQUEST, "malformed_json", None),
            (json_type, "{} trailing".to_owned(), StatusCode::BAD_REQUEST, "malformed_json", None),
            (json_type, "".to_owned(), StatusCode::BAD_REQUEST, "malformed_json", None),
            (
                json_type,
                json!({"email": "a@b.co", "username": "abc", "password": "tangerine viaduct 47", "admin": true}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY, "unknown_field", Some("admin"),
            ),
            (
                json_type,
                json!({"email": "a@b.co", "username": "abc"}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY, "missing_field", Some("password"),
            ),
            (
                json_type,
                json!({"email": "a@b.co", "username": 5, "password": "tangerine viaduct 47"}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY, "invalid_type", Some("username"),
            ),
            (json_type, "[]".to_owned(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_type", None),
            // A key given twice: which value was meant cannot be known, so it is named.
            (
                json_type,
                r#"{"email": "a@b.co", "username": "abc", "username": "abd", "password": "tangerine viaduct 47"}"#.to_owned(),
                StatusCode::UNPROCESSABLE_ENTITY, "duplicate_field", Some("username"),
            ),
            (
                json_type,
                json!({"email": "not-an-email", "username": "abc", "password": "tangerine viaduct 47"}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("email"),
            ),
            (
                json_type,
                json!({"email": "a@b.co", "username": "a b", "password": "tangerine viaduct 47"}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("username"),
            ),
            (
                json_type,
                json!({"email": "a@b.co", "username": "ab", "password": "tangerine viaduct 47"}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("username"),
            ),
            (
                json_type,
                json!({"email": "a@b.co", "username": "abc", "password": "short"}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("password"),
            ),
            (
                json_type,
                json!({"email": "a@b.co", "username": "abc", "password": "x".repeat(129)}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("password"),
            ),
            (
                Some("text/plain"),
                json!({"email": "a@b.co", "username": "abc", "password": "tangerine viaduct 47"}).to_string(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None,
            ),
            (None, "{}".to_owned(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
            (
                json_type,
                format!("{{\"email\":\"{}\"}}", "a".repeat(70 * 1024)),
                StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None,
            ),
        ];
        for (content_type, body, status, code, field) in cases {
            let shown = body.chars().take(80).collect::<String>();
            let answer = server
                .send_raw(reqwest::Method::POST, register, content_type, body, None)
                .await;
            assert_eq!(answer.status, status, "{shown}: {answer:?}");
            assert_error(&answer, status, code, field);
        }
        // The login body is checked the same way.
        let extra = server
            .post("/api/v1/auth/login", json!({"username": "abc", "password": "x", "otp": 1}), None)
            .await;
        assert_error(&extra, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field", Some("otp"));
        assert!(store.users().await.unwrap().is_empty(), "nothing was created");

        let nowhere = server.get("/api/v1/nowhere", None).await;
        assert_error(&nowhere, StatusCode::NOT_FOUND, "not_found", None);
        let wrong_method = server.get("/api/v1/auth/login", None).await;
        assert_error(&wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
        server.stop().await;
    }

    async fn duplicates_are_conflicts_naming_the_field(store: Store) {
        let server = Server::start(&store, config()).await;
        assert_eq!(server.register("alice").await.status, StatusCode::CREATED);
        let same_name = server
            .post(
                "/api/v1/auth/register",
                json!({"email": "other@example.com", "username": "alice", "password": "tangerine viaduct 47"}),
                None,
            )
            .await;
        assert_error(&same_name, StatusCode::CONFLICT, "conflict", Some("username"));
        let same_email = server
            .post(
                "/api/v1/auth/register",
                json!({"email": "alice@example.com", "username": "alice2", "password": "tangerine viaduct 47"}),
                None,
            )
            .await;
        assert_error(&same_email, StatusCode::CONFLICT, "conflict", Some("email"));
        // Whatever the case: "Alice" is alice.
        let shouting = server
            .post(
                "/api/v1/auth/register",
                json!({"email": "third@example.com", "username": "ALICE", "password": "tangerine viaduct 47"}),
                None,
            )
            .await;
        assert_error(&shouting, StatusCode::CONFLICT, "conflict", Some("username"));
        server.stop().await;
    }

    async fn wrong_credentials_get_one_answer(store: Store) {
        let server = Server::start(&store, config()).await;
        server.register("alice").await;
        // A user without a password (like the demo user) cannot log in either.
        store
            .create_user(
                &store::NewUser {
                    email: "demo@example.com".to_owned(),
                    username: "demo".to_owned(),
                    password_hash: None,
                    role: store::Role::Admin,
                },
                1,
            )
            .await
            .unwrap();
        let wrong = server.login("alice", "not the password").await;
        assert_error(&wrong, StatusCode::UNAUTHORIZED, "unauthorized", None);
        for (username, password) in [("nobody", "not the password"), ("demo", "")] {
            let answer = server.login(username, password).await;
            assert_eq!(answer.body, wrong.body, "{username}");
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        }
        server.stop().await;
    }

    async fn missing_revoked_and_expired_tokens_are_401(store: Store) {
        let server = Server::start(&store, config()).await;
        server.register("alice").await;
        let alice = store.user_by_username("alice").await.unwrap().unwrap();
        let expired = "expired-token-expired-token-expired-token-x";
        store
            .create_session(alice.id, &sha256_hex(expired), 1_000, 1_000)
            .await
            .unwrap();
        let revoked = "revoked-token-revoked-token-revoked-token-x";
        store
            .create_session(alice.id, &sha256_hex(revoked), wall_now_ms(), 3_600_000)
            .await
            .unwrap();
        assert_eq!(server.get("/api/v1/me", Some(revoked)).await.status, StatusCode::OK);
        store.revoke_session(&sha256_hex(revoked), wall_now_ms()).await.unwrap();

        let mut answers = vec![
            server.get("/api/v1/me", None).await,
            server.get("/api/v1/me", Some(expired)).await,
            server.get("/api/v1/me", Some(revoked)).await,
            server.get("/api/v1/me", Some("made-up")).await,
        ];
        let basic = common::answer(
            server
                .client
                .get(format!("{}/api/v1/me", server.base))
                .basic_auth("alice", Some("correct horse battery")),
        )
        .await;
        assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
        answers.push(basic);
        for answer in &answers {
            assert_error(answer, StatusCode::UNAUTHORIZED, "unauthorized", None);
            assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"), "{answer:?}");
        }
        server.stop().await;
    }

    async fn failed_logins_are_limited_per_account(store: Store) {
        let limits = LoginLimits { per_account: 3, per_ip: 100, window: Duration::from_secs(60), ..LoginLimits::default() };
        let server = Server::start(&store, ApiConfig { login_limits: limits, ..config() }).await;
        server.register("alice").await;
        server.register("bob").await;
        for _ in 0..3 {
            let answer = server.login("alice", "wrong password").await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        }
        // Even the right password: the account is locked for the window.
        let limited = server.login("alice", "correct horse battery").await;
        assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None);
        assert!((1..=60).contains(&limited.retry_after.unwrap()), "{limited:?}");
        let bob = server.login("bob", "correct horse battery").await;
        assert_eq!(bob.status, StatusCode::OK, "other accounts log in: {bob:?}");
        server.stop().await;
    }

    async fn failed_logins_are_limited_per_ip(store: Store) {
        let limits = LoginLimits { per_account: 100, per_ip: 3, window: Duration::from_secs(60), ..LoginLimits::default() };
        let server = Server::start(&store, ApiConfig { login_limits: limits, ..config() }).await;
        server.register("alice").await;
        // A success does not count; three failures on three names do.
        assert_eq!(server.login("alice", "correct horse battery").await.status, StatusCode::OK);
        for name in ["x1", "x2", "x3"] {
            assert_eq!(server.login(name, "guess guess").await.status, StatusCode::UNAUTHORIZED);
        }
        let limited = server.login("alice", "correct horse battery").await;
        assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None);
        assert!(limited.retry_after.is_some());
        server.stop().await;
    }

    async fn readiness_follows_the_database(db: &TestDatabase) {
        let store = db.another_store().await;
        let server = Server::start(&store, config()).await;
        let health = server.get("/health", None).await;
        assert_eq!((health.status, health.body), (StatusCode::OK, json!({"status": "ok"})));
        let ready = server.get("/ready", None).await;
        assert_eq!((ready.status, ready.body), (StatusCode::OK, json!({"status": "ready"})));
        store.close().await;
        let not_ready = server.get("/ready", None).await;
        assert_error(&not_ready, StatusCode::SERVICE_UNAVAILABLE, "not_ready", None);
        assert_eq!(server.get("/health", None).await.status, StatusCode::OK);
        server.stop().await;
    }
}

/// The wall clock in ms since the epoch.
fn wall_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
