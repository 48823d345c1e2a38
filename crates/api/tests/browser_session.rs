//! What the dashboard needs of the API, over real HTTP on SQLite: the cookie login (HttpOnly,
//! SameSite=Strict, Secure when configured), the CSRF token every cookie request that changes
//! something must carry, logout; a bot's chart (candles from its venue with its indicators,
//! scoped to its owner, its query checked) and the stream that says when to draw it again, which
//! a shutdown ends.

use std::time::Duration;

use api::ApiConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use store::testing::TestDatabase;
use store::{BotId, NewEvent, SKIP_EVENT};
use strategy::{Ema, Rsi};

mod common;

use common::{PASSWORD, Server, answer, assert_error_code};

/// The cookie login of `username`: the `Set-Cookie` header and the body.
async fn cookie_login(server: &Server, username: &str) -> (String, Value) {
    let response = server
        .client
        .post(format!("{}/api/v1/auth/session", server.base))
        .header("content-type", "application/json")
        .body(json!({"username": username, "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    (
        set_cookie,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

/// `name=value` of a `Set-Cookie` header, as a `Cookie` header sends it back.
fn cookie_of(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Sends `method path` with `cookie`, `csrf` (as `X-CSRF-Token`) and a JSON `body`.
async fn with_cookie(
    server: &Server,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> common::Answer {
    let mut request = server
        .client
        .request(method, format!("{}{path}", server.base))
        .header("cookie", cookie);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    answer(request).await
}

fn bot_body(name: &str, interval: &str) -> Value {
    json!({
        "name": name, "symbol": "BTCUSDT", "interval": interval, "strategy": "ema_rsi_cross",
        "strategy_params": {"fast": 3, "slow": 5, "rsi_period": 4, "overbought": 80},
        "quote_per_buy": "25", "mode": "paper",
    })
}

#[tokio::test]
async fn the_cookie_session_is_http_only_strict_and_needs_the_csrf_token_to_change_anything() {
    let server = Server::start_sqlite(common::config()).await;
    server.register("alice").await;
    let (set_cookie, session) = cookie_login(&server, "alice").await;
    for attribute in [
        "spotbot_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP by default: {set_cookie}"
    );
    assert_eq!(session["user"]["username"], "alice");
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    let cookie = cookie_of(&set_cookie);

    // Reading needs the cookie only; the session's CSRF token is the same on every read.
    let read = with_cookie(
        &server,
        Method::GET,
        "/api/v1/auth/session",
        &cookie,
        None,
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{read:?}");
    assert_eq!(read.body["csrf_token"], csrf.as_str());
    let bots = with_cookie(&server, Method::GET, "/api/v1/bots", &cookie, None, None).await;
    assert_eq!(bots.status, StatusCode::OK, "{bots:?}");

    // Changing something needs the token too: missing or wrong is a 403, right is a 201.
    let create = |csrf: Option<String>, name: &'static str| {
        let (server, cookie) = (&server, cookie.clone());
        async move {
            with_cookie(
                server,
                Method::POST,
                "/api/v1/bots",
                &cookie,
                csrf.as_deref(),
                Some(bot_body(name, "1h")),
            )
            .await
        }
    };
    assert_error_code(
        &create(None, "a").await,
        StatusCode::FORBIDDEN,
        "csrf",
        None,
    );
    assert_error_code(
        &create(Some("0".repeat(64)), "a").await,
        StatusCode::FORBIDDEN,
        "csrf",
        None,
    );
    let created = create(Some(csrf.clone()), "a").await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");

    // A bearer token needs no CSRF token: no browser sends it by itself.
    let (_, _, token) = server.sign_up("bob").await;
    let by_bearer = server
        .post("/api/v1/bots", bot_body("b", "1h"), Some(&token))
        .await;
    assert_eq!(by_bearer.status, StatusCode::CREATED, "{by_bearer:?}");
    // Without a cookie, the session route is a 401.
    assert_eq!(
        server.get("/api/v1/auth/session", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Logout needs the token, revokes the session and clears the cookie.
    let refused = with_cookie(
        &server,
        Method::DELETE,
        "/api/v1/auth/session",
        &cookie,
        None,
        None,
    )
    .await;
    assert_error_code(&refused, StatusCode::FORBIDDEN, "csrf", None);
    let response = server
        .client
        .delete(format!("{}/api/v1/auth/session", server.base))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("spotbot_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let after = with_cookie(&server, Method::GET, "/api/v1/bots", &cookie, None, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{after:?}");
    server.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_server_is_reached_over_tls() {
    let config = ApiConfig {
        secure_cookies: true,
        ..common::config()
    };
    let server = Server::start_sqlite(config).await;
    server.register("alice").await;
    let (set_cookie, _) = cookie_login(&server, "alice").await;
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    server.stop().await;
}

#[tokio::test]
async fn a_chart_has_the_bots_candles_and_indicators_and_only_its_owner_sees_it() {
    let database = TestDatabase::sqlite().await;
    let store = database.store().clone();
    let server = Server::start(&store, common::config()).await;
    let (_, _, alice) = server.sign_up("alice").await;
    let (_, _, bob) = server.sign_up("bob").await;
    let created = server
        .post("/api/v1/bots", bot_body("one", "1m"), Some(&alice))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.body["id"].as_i64().unwrap();

    let chart = server
        .get(&format!("/api/v1/bots/{id}/chart?candles=60"), Some(&alice))
        .await;
    assert_eq!(chart.status, StatusCode::OK, "{chart:?}");
    let body = chart.json();
    assert_eq!(
        (body["symbol"].as_str(), body["interval"].as_str()),
        (Some("BTCUSDT"), Some("1m"))
    );
    assert_eq!(
        (
            body["fast"].as_u64(),
            body["slow"].as_u64(),
            body["rsi_period"].as_u64()
        ),
        (Some(3), Some(5), Some(4))
    );
    let candles = body["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 60, "the last 60 closed candles");
    let times: Vec<i64> = candles
        .iter()
        .map(|c| c["open_time_ms"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[1] - pair[0] == 60_000),
        "consecutive minutes"
    );
    assert!(
        *times.last().unwrap() + 60_000 <= body["server_time_ms"].as_i64().unwrap(),
        "closed candles only"
    );
    // The lines are the strategy's indicators, warmed up on candles before the first shown:
    // the same indicators fed only the 60 shown have converged to them by the last one (an
    // EMA(3) forgets half of its start each candle, an RSI(4) a quarter).
    let (mut fast, mut rsi) = (Ema::new(3), Rsi::new(4));
    for candle in candles {
        fast.update(candle["close"].as_f64().unwrap());
        rsi.update(candle["close"].as_f64().unwrap());
    }
    let last = candles.last().unwrap();
    let ema = last["ema_fast"].as_f64().unwrap();
    assert!(
        (ema - fast.value().unwrap()).abs() <= 1e-9 * ema.abs(),
        "{last}"
    );
    assert!(
        (last["rsi"].as_f64().unwrap() - rsi.value().unwrap()).abs() <= 1e-3,
        "{last}"
    );
    assert!(
        candles[0]["ema_slow"].is_f64(),
        "warmed up before the first candle shown"
    );
    assert_eq!(body["markers"], json!([]), "no trade yet");
    assert_eq!(body["skips"], json!([]), "no skipped signal yet");

    // A skipped signal on a candle shown is marked there with its reason; one before is not.
    let skip = |candle: i64, reason: &str| NewEvent {
        bot_id: BotId(id),
        at_ms: 1,
        kind: SKIP_EVENT.to_owned(),
        message: reason.to_owned(),
        candle_open_ms: Some(candle),
        detail: None,
    };
    store
        .record_events(&[
            skip(times[0] - 60_000, "before the chart"),
            skip(times[10], "below NOTIONAL"),
        ])
        .await
        .unwrap();
    let chart = server
        .get(&format!("/api/v1/bots/{id}/chart?candles=60"), Some(&alice))
        .await;
    let skips = &chart.json()["skips"];
    assert_eq!(skips.as_array().map(Vec::len), Some(1), "{skips}");
    assert_eq!(skips[0]["reason"], "below NOTIONAL");
    assert_eq!(skips[0]["candle_open_ms"].as_i64(), Some(times[10]));

    // Another user's bot, a bad count and an unknown parameter.
    let other = server
        .get(&format!("/api/v1/bots/{id}/chart"), Some(&bob))
        .await;
    assert_error_code(&other, StatusCode::NOT_FOUND, "not_found", None);
    let few = server
        .get(&format!("/api/v1/bots/{id}/chart?candles=5"), Some(&alice))
        .await;
    assert_error_code(
        &few,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("candles"),
    );
    let unknown = server
        .get(&format!("/api/v1/bots/{id}/chart?limit=5"), Some(&alice))
        .await;
    assert_error_code(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_field",
        Some("limit"),
    );
    server.stop().await;
    database.cleanup().await;
}

#[tokio::test]
async fn the_updates_stream_tells_at_once_and_ends_at_once_for_a_bot_that_does_not_run() {
    let server = Server::start_sqlite(common::config()).await;
    let (_, _, alice) = server.sign_up("alice").await;
    let (_, _, bob) = server.sign_up("bob").await;
    let running = server
        .post("/api/v1/bots", bot_body("running", "1m"), Some(&alice))
        .await;
    let running = running.body["id"].as_i64().unwrap();
    let mut inactive = bot_body("stopped", "1m");
    inactive["is_active"] = json!(false);
    let stopped = server.post("/api/v1/bots", inactive, Some(&alice)).await;
    assert_eq!(stopped.status, StatusCode::CREATED, "{stopped:?}");
    let stopped = stopped.body["id"].as_i64().unwrap();

    // A running bot: the stream is event-stream, asks for a reconnect delay, and says "update".
    let mut response = server
        .client
        .get(format!("{}/api/v1/bots/{running}/updates", server.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !text.contains("event: update") {
            let chunk = response.chunk().await.unwrap().expect("the stream goes on");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    });
    read.await.expect("an update within 10 s");
    assert!(text.contains("retry: 2000"), "{text}");

    // With `Prefer: wait=1`, the running bot's stream ends after a second.
    let short = tokio::time::timeout(
        Duration::from_secs(10),
        answer(
            server
                .client
                .get(format!("{}/api/v1/bots/{running}/updates", server.base))
                .bearer_auth(&alice)
                .header("prefer", "wait=1"),
        ),
    )
    .await
    .expect("the stream ends as preferred");
    assert!(short.text.contains("event: update\ndata: {}"), "{short:?}");

    // A stopped bot: the stream ends at once.
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        server.get(&format!("/api/v1/bots/{stopped}/updates"), Some(&alice)),
    )
    .await
    .expect("the stream of a stopped bot ends");
    assert_eq!(ended.status, StatusCode::OK);
    assert!(!ended.text.contains("event: update"), "{ended:?}");

    let other = server
        .get(&format!("/api/v1/bots/{running}/updates"), Some(&bob))
        .await;
    assert_error_code(&other, StatusCode::NOT_FOUND, "not_found", None);

    // The running bot's stream is still open: a shutdown ends it rather than waiting for it.
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("the shutdown ends the open stream");
    let rest = tokio::time::timeout(Duration::from_secs(5), response.chunk()).await;
    assert!(
        matches!(rest, Ok(Ok(None)) | Ok(Err(_))),
        "the stream ended: {rest:?}"
    );
}
