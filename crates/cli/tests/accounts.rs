//! Every user trades on their own exchange account, end to end: a real `spotbot sim` stands in
//! for the testnet, a real `spotbot run` (at `RUST_LOG=trace`) trades on it and on its built-in
//! paper exchange, on SQLite and on PostgreSQL, and two users drive it over HTTP.
//!
//! What is checked, against the simulators' order logs by API key and their balances:
//! - each user's testnet and paper orders execute on that user's own account, and each account's
//!   balances are exactly what its owner's trades imply (another user's BUY never moves them);
//! - a key the exchange refuses is a 422 naming the field, and nothing is stored; a bot on a
//!   symbol the venue does not list is refused;
//! - revoking one user's key on the exchange pauses that user's testnet bots, with the reason in
//!   `last_error` and in an event, while the other user keeps trading;
//! - a replaced key is used from the next cycle without a restart; a deleted one pauses the bots
//!   with a message that says what to do;
//! - no secret appears in the log, in an answer, or in the database's bytes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::{Running, spotbot};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use store::testing::TestDatabase;
use store::{BotId, Store};

/// An account's balances by asset.
type Balances = BTreeMap<String, Decimal>;

/// The password of both users.
const PASSWORD: &str = "correct horse battery staple";

/// A user of the running server.
struct User {
    name: &'static str,
    token: String,
}

/// The running `spotbot run` and `spotbot sim`, and an HTTP client for both.
struct Servers {
    http: reqwest::Client,
    api: String,
    testnet: String,
    paper: String,
}

impl Servers {
    async fn call(
        &self,
        method: Method,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// `method path` on the API as `user`: the status and the body as JSON.
    async fn api(
        &self,
        method: Method,
        path: &str,
        user: &User,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        let (status, text) = self
            .call(
                method,
                format!("{}{path}", self.api),
                Some(&user.token),
                body,
            )
            .await;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json, text)
    }

    /// A GET of the admin API of the exchange at `base` (the built-in one with its token).
    async fn admin(&self, base: &str, path: &str) -> Value {
        let token = (base == self.paper).then_some(PAPER_ADMIN_TOKEN);
        let (status, text) = self
            .call(Method::GET, format!("{base}/_sim{path}"), token, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// A new account on the testnet holding `balances`: its API key and secret.
    async fn open_testnet_account(&self, balances: &Balances) -> (String, String) {
        let body = json!({"balances": balances});
        let (status, text) = self
            .call(
                Method::POST,
                format!("{}/_sim/accounts", self.testnet),
                None,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let account: Value = serde_json::from_str(&text).unwrap();
        (
            account["api_key"].as_str().unwrap().to_owned(),
            account["secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn sign_up(&self, name: &'static str) -> User {
        let register =
            json!({"email": format!("{name}@example.com"), "username": name, "password": PASSWORD});
        let (status, text) = self
            .call(
                Method::POST,
                format!("{}/api/v1/auth/register", self.api),
                None,
                Some(register),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        let login = json!({"username": name, "password": PASSWORD});
        let (status, text) = self
            .call(
                Method::POST,
                format!("{}/api/v1/auth/login", self.api),
                None,
                Some(login),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let token = serde_json::from_str::<Value>(&text).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        User { name, token }
    }

    /// A fast-trading bot of `user` on `symbol` and `mode`: its id.
    async fn bot(&self, user: &User, symbol: &str, interval: &str, mode: &str) -> i64 {
        let body = bot_body(
            &format!("{}-{symbol}-{mode}", user.name),
            symbol,
            interval,
            mode,
        );
        let (status, bot, text) = self
            .api(Method::POST, "/api/v1/bots", user, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        bot["id"].as_i64().unwrap()
    }

    /// `user`'s trades (the newest 500).
    async fn trades(&self, user: &User) -> Vec<Value> {
        let (status, page, text) = self
            .api(Method::GET, "/api/v1/trades?limit=500", user, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        page["trades"].as_array().unwrap().clone()
    }

    /// `user`'s bots, by id.
    async fn bots(&self, user: &User) -> HashMap<i64, Value> {
        let (_, bots, _) = self.api(Method::GET, "/api/v1/bots", user, None).await;
        bots.as_array()
            .unwrap()
            .iter()
            .map(|bot| (bot["id"].as_i64().unwrap(), bot.clone()))
            .collect()
    }

    /// Waits up to `within` for `done`, checked every 200 ms.
    async fn wait_until<F, Fut>(&self, what: &str, within: Duration, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + within;
        while !done().await {
            assert!(Instant::now() < deadline, "not within {within:?}: {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// EMA 2/5 and an RSI filter that never blocks: a signal every few candles.
fn bot_body(name: &str, symbol: &str, interval: &str, mode: &str) -> Value {
    json!({
        "name": name, "symbol": symbol, "interval": interval, "strategy": "ema_rsi_cross",
        "strategy_params": {"fast": 2, "slow": 5, "overbought": 99}, "quote_per_buy": "20",
        "mode": mode,
    })
}

/// The bot id a client order id of spotbot's names (`sb<bot>-<candle>-<side>`).
fn bot_of(client_order_id: &str) -> i64 {
    client_order_id
        .strip_prefix("sb")
        .and_then(|rest| rest.split('-').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not spotbot's order id: {client_order_id}"))
}

/// The balances `trades` imply for an account that started with `start`: quote and base amounts
/// of each fill, less its commission in whatever asset it was paid.
fn implied_balances(start: &Balances, trades: &[&Value]) -> Balances {
    let mut balances = start.clone();
    let decimal = |value: &Value| value.as_str().unwrap().parse::<Decimal>().unwrap();
    for trade in trades {
        let base = trade["symbol"]
            .as_str()
            .unwrap()
            .trim_end_matches("USDT")
            .to_owned();
        let (quantity, quote) = (
            decimal(&trade["quantity_filled"]),
            decimal(&trade["quote_quantity_filled"]),
        );
        let sign = if trade["side"] == "BUY" {
            Decimal::ONE
        } else {
            -Decimal::ONE
        };
        *balances.entry(base).or_default() += sign * quantity;
        *balances.entry("USDT".to_owned()).or_default() -= sign * quote;
        *balances
            .entry(trade["commission_asset"].as_str().unwrap().to_owned())
            .or_default() -= decimal(&trade["commission"]);
    }
    balances.retain(|_, amount| !amount.is_zero());
    balances
}

/// The balances the simulator's admin API reports for an account, zeros left out.
fn reported_balances(account: &Value) -> BTreeMap<String, Decimal> {
    account["balances"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(asset, amount)| {
            (
                asset.clone(),
                amount.as_str().unwrap().parse::<Decimal>().unwrap(),
            )
        })
        .filter(|(_, amount)| !amount.is_zero())
        .collect()
}

/// Asserts that the accounts of `keys` (each with what it started with) on the exchange at
/// `base` are `user`'s on `mode`: every execution on them is one trade row of one of `user`'s
/// bots (by symbol and exchange order id), every such trade row is an execution on them, and each
/// account holds exactly what its own executions imply.
async fn assert_accounts_are_the_users(
    servers: &Servers,
    base: &str,
    keys: &[(&str, &Balances)],
    user: &User,
    mode: &str,
) {
    let bots = servers.bots(user).await;
    let trades = servers.trades(user).await;
    let key = |symbol: &Value, order_id: &Value| {
        (
            symbol.as_str().unwrap().to_owned(),
            order_id.as_i64().unwrap(),
        )
    };
    let mut unmatched: BTreeMap<(String, i64), &Value> = trades
        .iter()
        .filter(|trade| bots[&trade["bot_id"].as_i64().unwrap()]["mode"] == mode)
        .map(|trade| (key(&trade["symbol"], &trade["binance_order_id"]), trade))
        .collect();
    assert!(!unmatched.is_empty(), "{} traded on {mode}", user.name);
    for (api_key, start) in keys {
        let orders = servers
            .admin(base, &format!("/orders?api_key={api_key}"))
            .await;
        let mut own_trades = Vec::new();
        for order in orders.as_array().unwrap() {
            let bot = bot_of(order["client_order_id"].as_str().unwrap());
            assert!(
                bots.contains_key(&bot),
                "{}'s account executed bot {bot}'s order: {order}",
                user.name
            );
            let trade = unmatched
                .remove(&key(&order["symbol"], &order["order_id"]))
                .unwrap_or_else(|| {
                    panic!("no trade row of {} for the execution {order}", user.name)
                });
            own_trades.push(trade);
        }
        let account = servers.admin(base, &format!("/accounts/{api_key}")).await;
        assert_eq!(
            reported_balances(&account),
            implied_balances(start, &own_trades),
            "{}'s {mode} account holds what their own trades imply, nothing else",
            user.name
        );
    }
    assert!(
        unmatched.is_empty(),
        "trade rows without an execution on {}'s accounts: {unmatched:?}",
        user.name
    );
}

/// How many trades `user` made on `mode`.
async fn trades_on(servers: &Servers, user: &User, mode: &str) -> usize {
    let bots = servers.bots(user).await;
    servers
        .trades(user)
        .await
        .iter()
        .filter(|trade| bots[&trade["bot_id"].as_i64().unwrap()]["mode"] == mode)
        .count()
}

/// Balances of `amount` USDT only.
fn usdt(amount: u32) -> Balances {
    BTreeMap::from([("USDT".to_owned(), Decimal::from(amount))])
}

/// The paper API key of `user`, from the database.
async fn paper_key(store: &Store, user: &str) -> String {
    let id = store.user_by_username(user).await.unwrap().unwrap().id;
    store
        .credentials(id, store::Mode::Paper)
        .await
        .unwrap()
        .expect("a paper account")
        .api_key
}

/// The built-in exchange's admin token, given to `spotbot run` so that the test can read its
/// order log.
const PAPER_ADMIN_TOKEN: &str = "accounts-test-admin-token-0123456789abcdef";

store::backend_tests! {
    async fn users_trade_on_their_own_accounts_and_a_revoked_key_pauses_only_its_owner(db: &TestDatabase) {
        let dir = tempfile::tempdir().unwrap();
        // 1 s candles on the testnet, in real time: cycles start 150 ms after each close, so a
        // signal is acted on well within its candle.
        std::fs::write(dir.path().join("spotbot.toml"), "[engine]\ncycle_delay_ms = 150\n").unwrap();
        let mut testnet = Running::sim(dir.path());
        let testnet_base = format!("http://{}", testnet.exchange_address());
        let mut running = Running::spawn(spotbot(dir.path()).env("RUST_LOG", "trace").env("SPOTBOT_SIM_ADMIN_TOKEN", PAPER_ADMIN_TOKEN).args([
            "run", "--config", "spotbot.toml", "--database", db.url(), "--sim-speed", "600",
            "--listen", "127.0.0.1:0", "--testnet-url", &testnet_base,
        ]));
        let paper_line = running.wait_for("built-in exchange at http://", Duration::from_secs(60));
        let paper_base = paper_line.split_whitespace().find(|word| word.starts_with("http://")).unwrap().to_owned();
        let servers = Servers {
            http: reqwest::Client::new(),
            api: format!("http://{}", running.api_address()),
            testnet: testnet_base.clone(),
            paper: paper_base,
        };
        let alice = servers.sign_up("alice").await;
        let bob = servers.sign_up("bobby").await;
        let start = usdt(1_000);
        let (alice_key, alice_secret) = servers.open_testnet_account(&start).await;
        let (bob_key, bob_secret) = servers.open_testnet_account(&start).await;
        let mut secrets = vec![alice_secret.clone(), bob_secret.clone()];

        // A key the exchange does not know is refused, naming the field; nothing is stored.
        let (unknown_key, unknown_secret) = ("NoSuchKey0123456789", "NoSuchSecret0123456789abcdef");
        let (status, refused, _) = servers
            .api(Method::PUT, "/api/v1/credentials/testnet", &alice, Some(json!({"api_key": unknown_key, "api_secret": unknown_secret})))
            .await;
        assert_eq!((status, refused["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("api_key")), "{refused}");
        assert!(refused["message"].as_str().unwrap().contains("-2015"), "{refused}");
        let (status, _, _) = servers.api(Method::GET, "/api/v1/credentials/testnet", &alice, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing stored");
        secrets.push(unknown_secret.to_owned());

        for (user, key, secret) in [(&alice, &alice_key, &alice_secret), (&bob, &bob_key, &bob_secret)] {
            let (status, stored, text) = servers
                .api(Method::PUT, "/api/v1/credentials/testnet", user, Some(json!({"api_key": key, "api_secret": secret})))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{text}");
            assert_eq!(stored["can_trade"], true);
            assert!(!text.contains(secret.as_str()));
        }
        // The testnet lists no DOGEUSDT: a bot on it is refused when created.
        let (status, unlisted, _) = servers
            .api(Method::POST, "/api/v1/bots", &alice, Some(bot_body("doge", "DOGEUSDT", "1s", "testnet")))
            .await;
        assert_eq!((status, unlisted["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("symbol")), "{unlisted}");

        let mut testnet_bots = HashMap::new();
        for user in [&alice, &bob] {
            let ids = [
                servers.bot(user, "BTCUSDT", "1s", "testnet").await,
                servers.bot(user, "ETHUSDT", "1s", "testnet").await,
            ];
            testnet_bots.insert(user.name, ids);
            servers.bot(user, "BTCUSDT", "1m", "paper").await;
        }
        let (s, a, b) = (&servers, &alice, &bob);
        for user in [a, b] {
            for mode in ["testnet", "paper"] {
                let what = format!("{} trades 4 times on {mode}", user.name);
                servers.wait_until(&what, Duration::from_secs(90), move || async move { trades_on(s, user, mode).await >= 4 }).await;
            }
        }
        let store = db.store();
        let (alice_paper, bob_paper) = (paper_key(store, "alice").await, paper_key(store, "bobby").await);
        assert_ne!(alice_paper, bob_paper, "two paper accounts");

        // Alice's key is revoked on the exchange: her testnet bots pause with the reason; bob's
        // trade on.
        let (status, text) = servers
            .call(Method::PUT, format!("{}/_sim/accounts/{alice_key}/key", servers.testnet), None, Some(json!({"enabled": false})))
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let alices_testnet = testnet_bots["alice"];
        servers.wait_until("alice's testnet bots pause", Duration::from_secs(30), move || async move {
            let bots = s.bots(a).await;
            alices_testnet.iter().all(|id| bots[id]["status"] == "paused")
        }).await;
        let bots = servers.bots(&alice).await;
        for id in alices_testnet {
            let reason = bots[&id]["last_error"].as_str().unwrap();
            assert!(reason.contains("rejected your API key") && reason.contains("-2015"), "{reason}");
            let events = store.events(BotId(id), 50).await.unwrap();
            assert!(events.iter().any(|event| event.kind == "paused" && event.message == reason), "{events:?}");
        }
        assert!(bots.values().any(|bot| bot["mode"] == "paper" && bot["status"] != "paused"), "her paper bot is not touched");
        let bobs_before = trades_on(&servers, &bob, "testnet").await;
        servers.wait_until("bob trades on", Duration::from_secs(60), move || async move {
            trades_on(s, b, "testnet").await >= bobs_before + 3
        }).await;
        assert!(servers.bots(&bob).await.values().all(|bot| bot["status"] != "paused"));

        // A new key is used from the next cycle on, without a restart.
        // Her holdings move with her to the new account, so that her bots can sell them there.
        let mut new_start = usdt(1_000);
        for bot in servers.bots(&alice).await.values().filter(|bot| bot["mode"] == "testnet") {
            let base = bot["symbol"].as_str().unwrap().trim_end_matches("USDT").to_owned();
            let held: Decimal = bot["position"]["quantity"].as_str().unwrap().parse().unwrap();
            *new_start.entry(base).or_default() += held;
        }
        new_start.retain(|_, amount| !amount.is_zero());
        let (new_key, new_secret) = servers.open_testnet_account(&new_start).await;
        secrets.push(new_secret.clone());
        let (status, _, text) = servers
            .api(Method::PUT, "/api/v1/credentials/testnet", &alice, Some(json!({"api_key": new_key, "api_secret": new_secret})))
            .await;
        assert_eq!(status, StatusCode::OK, "replaced: {text}");
        for id in alices_testnet {
            let (status, _, text) = servers.api(Method::POST, &format!("/api/v1/bots/{id}/start"), &alice, None).await;
            assert_eq!(status, StatusCode::OK, "{text}");
        }
        let new_orders = format!("/orders?api_key={new_key}");
        let new_orders = &new_orders;
        servers.wait_until("alice trades with her new key", Duration::from_secs(60), move || async move {
            s.admin(&s.testnet, new_orders).await.as_array().is_some_and(|orders| orders.len() >= 2)
        }).await;

        // Deleting the key pauses her testnet bots with a message that says what to do.
        let (status, _, _) = servers.api(Method::DELETE, "/api/v1/credentials/testnet", &alice, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let bots = servers.bots(&alice).await;
        for id in alices_testnet {
            assert_eq!(bots[&id]["status"], "paused");
            let reason = bots[&id]["last_error"].as_str().unwrap();
            assert!(reason.contains("deleted your testnet API key") && reason.contains("PUT /api/v1/credentials/testnet"), "{reason}");
        }

        // Every bot paused, and the cycles in flight recorded: each account holds exactly what
        // its owner's trades imply, and every execution is one of its owner's trade rows.
        for user in [&alice, &bob] {
            for id in servers.bots(user).await.keys() {
                servers.api(Method::POST, &format!("/api/v1/bots/{id}/pause"), user, None).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let testnet_base = servers.testnet.clone();
        let paper_base = servers.paper.clone();
        assert_accounts_are_the_users(&servers, &testnet_base, &[(&alice_key, &start), (&new_key, &new_start)], &alice, "testnet").await;
        assert_accounts_are_the_users(&servers, &testnet_base, &[(&bob_key, &start)], &bob, "testnet").await;
        let paper_start = usdt(10_000);
        assert_accounts_are_the_users(&servers, &paper_base, &[(&alice_paper, &paper_start)], &alice, "paper").await;
        assert_accounts_are_the_users(&servers, &paper_base, &[(&bob_paper, &paper_start)], &bob, "paper").await;

        let (stopped, lines) = running.stop("-INT");
        assert!(stopped, "spotbot run stops cleanly");
        testnet.stop("-INT");
        let log = lines.join("\n");
        assert!(log.contains("TRACE"), "the log is at trace level");
        for secret in &secrets {
            assert!(!log.contains(secret.as_str()), "a secret in the log");
        }
        assert_no_secret_in_database(db, &secrets).await;
    }
}

/// No secret, as text or as its hex, is anywhere in the database: the SQLite files' bytes, or
/// every row of every PostgreSQL table as text.
async fn assert_no_secret_in_database(db: &TestDatabase, secrets: &[String]) {
    let mut haystack = Vec::new();
    if let Some(path) = db.url().strip_prefix("sqlite://") {
        for suffix in ["", "-wal"] {
            if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                haystack.extend(bytes);
            }
        }
    } else {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(db.store().raw_pool())
        .await
        .unwrap();
        for table in tables {
            let rows: Option<String> = sqlx::query_scalar(&format!(
                "SELECT string_agg(t::text, ' ') FROM \"{table}\" t"
            ))
            .fetch_one(db.store().raw_pool())
            .await
            .unwrap();
            haystack.extend(rows.unwrap_or_default().into_bytes());
        }
    }
    assert!(haystack.len() > 1_000, "the database was read");
    let text = String::from_utf8_lossy(&haystack).to_lowercase();
    for secret in secrets {
        assert!(
            !haystack
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "a secret in the database"
        );
        assert!(
            !text.contains(&hex::encode(secret.as_bytes())),
            "a secret's hex in the database"
        );
    }
}
