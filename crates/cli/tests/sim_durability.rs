//! `spotbot sim --state FILE` survives `kill -9`: several clients place signed MARKET orders
//! concurrently over HTTP, the process is killed in the middle of the stream, restarted on the
//! same files, and every order it confirmed (answered 200 with an `orderId`) is in its order log
//! with the same id and fills, no order id appears twice, and every account holds its starting
//! balances plus exactly what its logged orders moved. Several rounds: kill, restart, more
//! orders, kill again, restart (a change the exchange confirmed without its record on disk is
//! lost only when the kill falls in a short window, so each round is one more chance to see it).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Running, spotbot};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Accounts trading, and clients per account (so that one account's orders also race).
const ACCOUNTS: usize = 4;
const CLIENTS_PER_ACCOUNT: usize = 2;
/// Kills and restarts.
const ROUNDS: usize = 6;
/// Orders confirmed in a round before the process is killed.
const CONFIRMED_BEFORE_KILL: usize = 150;

/// An account the test opened, with what it started with.
struct TestAccount {
    api_key: String,
    secret: String,
    starting: BTreeMap<String, Decimal>,
}

/// An order the exchange confirmed: its answer's identity and fills.
#[derive(Debug, Clone, PartialEq)]
struct Confirmed {
    api_key: String,
    symbol: String,
    order_id: u64,
    client_order_id: String,
    /// (trade id, price, qty, commission, commission asset)
    fills: Vec<(u64, Decimal, Decimal, Decimal, String)>,
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(
        value
            .as_str()
            .unwrap_or_else(|| panic!("{value} is not a string")),
    )
    .unwrap_or_else(|_| panic!("{value} is not a decimal"))
}

/// Starts `spotbot sim` on `state` in `dir`; returns it and its address.
fn start_sim(dir: &Path, state: &Path) -> (Running, String) {
    let mut sim = Running::spawn(
        spotbot(dir)
            .args(["sim", "--listen", "127.0.0.1:0", "--open-admin", "--state"])
            .arg(state),
    );
    let address = sim.exchange_address();
    sim.wait_for("Press Ctrl-C", Duration::from_secs(30));
    (sim, address)
}

async fn admin(
    http: &reqwest::Client,
    address: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, format!("http://{address}/_sim{path}"));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the admin API answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// Sends orders for `account` one after the other, alternately BUY and SELL, with client ids
/// `{tag}-{n}`, recording every confirmed one, until the exchange stops answering.
async fn place_orders(
    url: String,
    api_key: String,
    secret: String,
    tag: String,
    confirmed: Arc<Mutex<Vec<Confirmed>>>,
    count: Arc<AtomicUsize>,
) {
    let http = reqwest::Client::new();
    for n in 0.. {
        let side = if n % 2 == 0 { "BUY" } else { "SELL" };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let query = format!(
            "symbol=BTCUSDT&side={side}&type=MARKET&quantity=0.001&newClientOrderId={tag}-{n}&recvWindow=60000&timestamp={timestamp}"
        );
        let signature = sim::sign(&secret, &query);
        let sent = http
            .post(format!("{url}/api/v3/order?{query}&signature={signature}"))
            .header("X-MBX-APIKEY", &api_key)
            .send()
            .await;
        // A connection refused or cut (the process was killed): not confirmed, and the end.
        let Ok(response) = sent else { return };
        let status = response.status();
        let Ok(text) = response.text().await else {
            return;
        };
        assert_eq!(status, reqwest::StatusCode::OK, "{text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        let fills = answer["fills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|fill| {
                (
                    fill["tradeId"].as_u64().unwrap(),
                    decimal(&fill["price"]),
                    decimal(&fill["qty"]),
                    decimal(&fill["commission"]),
                    fill["commissionAsset"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        confirmed.lock().unwrap().push(Confirmed {
            api_key: api_key.clone(),
            symbol: answer["symbol"].as_str().unwrap().to_owned(),
            order_id: answer["orderId"]
                .as_u64()
                .expect("a confirmed order has an orderId"),
            client_order_id: answer["clientOrderId"].as_str().unwrap().to_owned(),
            fills,
        });
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// Checks the restarted exchange at `address` against every order confirmed so far.
async fn check_exchange(
    http: &reqwest::Client,
    address: &str,
    accounts: &[TestAccount],
    confirmed: &[Confirmed],
) -> usize {
    let log = admin(http, address, reqwest::Method::GET, "/orders", None).await;
    let log = log.as_array().unwrap();
    let mut ids = HashSet::new();
    let mut trade_ids = HashSet::new();
    let mut logged = BTreeMap::new();
    for order in log {
        let symbol = order["symbol"].as_str().unwrap().to_owned();
        let order_id = order["order_id"].as_u64().unwrap();
        assert!(
            ids.insert((symbol.clone(), order_id)),
            "order {order_id} of {symbol} appears twice"
        );
        for fill in order["fills"].as_array().unwrap() {
            let trade_id = fill["trade_id"].as_u64().unwrap();
            assert!(
                trade_ids.insert((symbol.clone(), trade_id)),
                "trade {trade_id} of {symbol} appears twice"
            );
        }
        logged.insert((symbol, order_id), order);
    }
    for order in confirmed {
        let found = logged
            .get(&(order.symbol.clone(), order.order_id))
            .unwrap_or_else(|| {
                panic!(
                    "confirmed order {} ({}) is missing after the restart",
                    order.order_id, order.client_order_id
                )
            });
        assert_eq!(found["client_order_id"], order.client_order_id.as_str());
        assert_eq!(found["api_key"], order.api_key.as_str());
        let fills: Vec<_> = found["fills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|fill| {
                (
                    fill["trade_id"].as_u64().unwrap(),
                    decimal(&fill["price"]),
                    decimal(&fill["qty"]),
                    decimal(&fill["commission"]),
                    fill["commission_asset"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(fills, order.fills, "the fills of order {}", order.order_id);
    }
    for account in accounts {
        let mut expected = account.starting.clone();
        for order in log
            .iter()
            .filter(|order| order["api_key"] == account.api_key.as_str())
        {
            let sign = if order["side"] == "BUY" {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            for fill in order["fills"].as_array().unwrap() {
                let qty = decimal(&fill["qty"]);
                let quote = decimal(&fill["price"]) * qty;
                *expected.entry("BTC".to_owned()).or_default() += sign * qty;
                *expected.entry("USDT".to_owned()).or_default() -= sign * quote;
                let asset = fill["commission_asset"].as_str().unwrap().to_owned();
                *expected.entry(asset).or_default() -= decimal(&fill["commission"]);
            }
        }
        let state = admin(
            http,
            address,
            reqwest::Method::GET,
            &format!("/accounts/{}", account.api_key),
            None,
        )
        .await;
        let balances: BTreeMap<String, Decimal> = state["balances"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(asset, amount)| (asset.clone(), decimal(amount)))
            .collect();
        let expected: BTreeMap<String, Decimal> = expected
            .into_iter()
            .map(|(asset, amount)| (asset, amount.normalize()))
            .collect();
        let balances: BTreeMap<String, Decimal> = balances
            .into_iter()
            .map(|(asset, amount)| (asset, amount.normalize()))
            .collect();
        assert_eq!(
            balances, expected,
            "the balances of {} follow from its logged orders",
            account.api_key
        );
    }
    log.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_order_survives_kill_9_and_restarts() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("paper.json");
    let (mut sim, mut address) = start_sim(dir.path(), &state);
    let http = reqwest::Client::new();
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        let opened = admin(
            &http,
            &address,
            reqwest::Method::POST,
            "/accounts",
            Some(json!({"balances": {"USDT": "100000", "BTC": "5"}})),
        )
        .await;
        accounts.push(TestAccount {
            api_key: opened["api_key"].as_str().unwrap().to_owned(),
            secret: opened["secret"].as_str().unwrap().to_owned(),
            starting: BTreeMap::from([
                ("USDT".to_owned(), Decimal::from(100_000)),
                ("BTC".to_owned(), Decimal::from(5)),
            ]),
        });
    }

    let confirmed = Arc::new(Mutex::new(Vec::new()));
    for round in 0..ROUNDS {
        let count = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = accounts
            .iter()
            .enumerate()
            .flat_map(|(index, account)| {
                (0..CLIENTS_PER_ACCOUNT).map(move |client| (index, account, client))
            })
            .map(|(index, account, client)| {
                tokio::spawn(place_orders(
                    format!("http://{address}"),
                    account.api_key.clone(),
                    account.secret.clone(),
                    format!("r{round}a{index}c{client}"),
                    confirmed.clone(),
                    count.clone(),
                ))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(15);
        while count.load(Ordering::SeqCst) < CONFIRMED_BEFORE_KILL {
            assert!(
                Instant::now() < deadline,
                "only {} orders confirmed in 15 s",
                count.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // In the middle of the stream: every client is sending, or waiting for an answer.
        let (exited_cleanly, _) = tokio::task::spawn_blocking(move || sim.stop("-KILL"))
            .await
            .unwrap();
        assert!(!exited_cleanly);
        for client in clients {
            client
                .await
                .expect("a client saw only 200 answers before the exchange died");
        }

        let restarted = start_sim(dir.path(), &state);
        sim = restarted.0;
        address = restarted.1;
        let confirmed_now = confirmed.lock().unwrap().clone();
        let logged = check_exchange(&http, &address, &accounts, &confirmed_now).await;
        assert!(logged >= confirmed_now.len());
        eprintln!(
            "round {round}: {} orders confirmed so far, {logged} in the log after kill -9 and a restart ({} executed without an answer)",
            confirmed_now.len(),
            logged - confirmed_now.len()
        );
    }
    let (exited_cleanly, lines) = tokio::task::spawn_blocking(move || sim.stop("-INT"))
        .await
        .unwrap();
    assert!(exited_cleanly, "{}", lines.join("\n"));
    eprintln!("the kill -9 rounds took {:?}", started.elapsed());
}
