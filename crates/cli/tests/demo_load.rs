//! The reported -1021 fault, as a new user met it: 200 bots in the default demo (`spotbot run`,
//! its built-in exchange at 60x) made the orders of one candle close queue for ~100 ms of real
//! time, which the sped-up market clock turned into 6 s, past the 5 s `recvWindow`: 426 of 1,014
//! orders were refused with -1021 and 44 bots went to error. The exchange now counts a request's
//! window in real time at any speed; this runs the same load and checks that no order is
//! refused for its timestamp and no bot falls into error.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;

use common::Running;

/// Users, each with their own paper account, and bots per user: 200 bots.
const USERS: usize = 4;
const BOTS_PER_USER: usize = 50;
const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "BNBUSDT"];
/// Real seconds the bots run: at 60x, twenty-five one-minute candles.
const RUN_FOR: Duration = Duration::from_secs(25);

async fn post(http: &reqwest::Client, url: String, body: Value, token: Option<&str>) -> Value {
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status();
    let body: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert!(
        status == StatusCode::OK || status == StatusCode::CREATED,
        "{status}: {body}"
    );
    body
}

/// Registers and logs in `username`: their token.
async fn sign_up(http: &reqwest::Client, api: &str, username: &str) -> String {
    let password = "a long enough password";
    post(
        http,
        format!("{api}/api/v1/auth/register"),
        json!({"email": format!("{username}@example.com"), "username": username, "password": password}),
        None,
    )
    .await;
    let login = post(
        http,
        format!("{api}/api/v1/auth/login"),
        json!({"username": username, "password": password}),
        None,
    )
    .await;
    login["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_bots_in_the_demo_send_no_order_outside_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Running::start(dir.path());
    let api = format!("http://{}", run.api_address());
    run.wait_for("created the demo user", Duration::from_secs(30));
    let http = reqwest::Client::new();
    for user in 0..USERS {
        let token = sign_up(&http, &api, &format!("trader{user}")).await;
        for bot in 0..BOTS_PER_USER {
            // The demo's short EMAs, so that the bots trade within their first minutes, all
            // the bots of a symbol at the same close.
            let body = json!({
                "name": format!("bot-{bot}"),
                "symbol": SYMBOLS[bot % SYMBOLS.len()],
                "interval": "1m",
                "strategy": "ema_rsi_cross",
                "strategy_params": {"fast": 5, "slow": 13},
                "quote_per_buy": "20",
                "mode": "paper",
            });
            post(&http, format!("{api}/api/v1/bots"), body, Some(&token)).await;
        }
    }
    tokio::time::sleep(RUN_FOR).await;
    let (stopped, lines) = tokio::task::spawn_blocking(move || run.stop("-INT"))
        .await
        .unwrap();
    assert!(stopped, "{}", lines.join("\n"));

    let store = store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("data/spotbot.db").display()
    ))
    .await
    .unwrap();
    let pool = store.raw_pool();
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let orders = count("SELECT COUNT(*) FROM orders").await;
    let traded = count("SELECT COUNT(*) FROM trades").await;
    let late = count("SELECT COUNT(*) FROM orders WHERE error LIKE '%-1021%'").await;
    let refused = count("SELECT COUNT(*) FROM orders WHERE status = 'rejected'").await;
    let in_error =
        count("SELECT COUNT(*) FROM bot_configs WHERE status IN ('error', 'paused')").await;
    eprintln!(
        "{orders} orders, {traded} trades, {late} refused with -1021, {refused} rejected, {in_error} bots in error"
    );
    // The load that broke the demo: well over a hundred orders, many at the same close.
    assert!(
        orders >= 150,
        "only {orders} orders: the load was not reached"
    );
    assert_eq!(late, 0, "orders refused with -1021");
    assert_eq!(refused, 0, "orders rejected");
    assert_eq!(in_error, 0, "bots in error or paused");
    assert_eq!(traded, orders, "every order traded");
}
