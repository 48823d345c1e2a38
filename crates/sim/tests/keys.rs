//! What happens to an API key on Binance, over loopback HTTP: a revoked key, a key used from an
//! address off its IP whitelist, and a key without the trading permission are refused with -2015
//! and HTTP 401 (the answer to a key the exchange never issued), before anything executes; the
//! admin API sets the key's state and each change can be undone.

mod common;

use common::{TestSim, code_and_msg, encode, starting_balances};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use sim::Credentials;

/// Binance's answer to a key it does not accept, whatever the reason.
const REJECTED: (i64, &str) = (-2015, "Invalid API-key, IP, or permissions for action.");

/// A MARKET buy of 0.01 BTC.
const BUY: [(&str, &str); 4] = [
    ("symbol", "BTCUSDT"),
    ("side", "BUY"),
    ("type", "MARKET"),
    ("quantity", "0.01"),
];

/// Changes the test account's key through the admin API; returns the account it answers.
async fn change_key(sim: &TestSim, change: Value) -> Value {
    let path = format!("/accounts/{}/key", sim.credentials.api_key);
    let (status, account) = sim.admin(Method::PUT, &path, Some(change.clone())).await;
    assert_eq!(status, StatusCode::OK, "{change}: {account}");
    account
}

/// Every SIGNED request the simulator serves, as the test account sends it.
async fn every_signed_request(sim: &TestSim) -> Vec<(&'static str, StatusCode, Value)> {
    let requests = [
        ("account", Method::GET, "/api/v3/account", vec![]),
        ("order", Method::POST, "/api/v3/order", BUY.to_vec()),
        (
            "test order",
            Method::POST,
            "/api/v3/order/test",
            BUY.to_vec(),
        ),
        (
            "query order",
            Method::GET,
            "/api/v3/order",
            vec![("symbol", "BTCUSDT"), ("orderId", "1")],
        ),
        (
            "my trades",
            Method::GET,
            "/api/v3/myTrades",
            vec![("symbol", "BTCUSDT")],
        ),
    ];
    let mut answers = Vec::new();
    for (name, method, path, params) in requests {
        let (status, body) = sim.signed(method, path, &params).await;
        answers.push((name, status, body));
    }
    answers
}

/// Asserts that every SIGNED request of the test account is refused with -2015 / 401.
async fn assert_every_request_refused(sim: &TestSim) {
    for (name, status, body) in every_signed_request(sim).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(code_and_msg(&body), REJECTED, "{name}");
    }
}

/// Asserts that the test account has not traded: no order logged, balances as at the start.
fn assert_nothing_executed(sim: &TestSim) {
    let exchange = sim.exchange().lock();
    assert!(
        exchange.order_log().is_empty(),
        "{:?}",
        exchange.order_log()
    );
    let account = exchange.account(&sim.credentials.api_key).unwrap();
    for (asset, amount) in starting_balances() {
        assert_eq!(account.balance(&asset), amount, "{asset}");
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_like_an_unknown_one_until_it_is_enabled_again() {
    let sim = TestSim::start().await;
    let revoked = change_key(&sim, json!({"enabled": false})).await;
    assert_eq!(revoked["key_enabled"], false);
    assert_eq!(revoked["can_trade"], true, "not sent, so unchanged");

    assert_every_request_refused(&sim).await;
    assert_nothing_executed(&sim);
    let unknown = Credentials {
        api_key: "neverIssuedKey".into(),
        secret: sim.credentials.secret.clone(),
    };
    let query = encode(&[("timestamp", &sim.clock_now().to_string())]);
    let unknown_answer = sim
        .signed_raw(Method::GET, "/api/v3/account", &query, "", &unknown)
        .await;
    let revoked_answer = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(revoked_answer, unknown_answer);

    let restored = change_key(&sim, json!({"enabled": true})).await;
    assert_eq!(restored["key_enabled"], true);
    let (status, order) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "FILLED");
    assert_eq!(sim.exchange().lock().order_log().len(), 1);
    for (name, status, body) in every_signed_request(&sim).await {
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
    }
}

#[tokio::test]
async fn an_ip_whitelist_admits_only_the_addresses_it_lists() {
    let sim = TestSim::start().await;
    let restricted = change_key(&sim, json!({"ip_whitelist": ["10.0.0.1", "2001:db8::1"]})).await;
    assert_eq!(
        restricted["ip_whitelist"],
        json!(["10.0.0.1", "2001:db8::1"])
    );
    assert_eq!(restricted["key_enabled"], true);
    // The test client connects from 127.0.0.1, which this whitelist leaves out.
    assert_every_request_refused(&sim).await;
    assert_nothing_executed(&sim);

    change_key(&sim, json!({"ip_whitelist": ["10.0.0.1", "127.0.0.1"]})).await;
    let (status, order) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
    assert_eq!(status, StatusCode::OK, "{order}");

    // An IPv4-mapped IPv6 address is the same address, and is kept in its IPv4 form.
    let mapped = change_key(&sim, json!({"ip_whitelist": ["::ffff:127.0.0.1"]})).await;
    assert_eq!(mapped["ip_whitelist"], json!(["127.0.0.1"]));
    let (status, account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(status, StatusCode::OK, "{account}");

    // Fields not sent keep their value; a refused change changes nothing.
    let read_only = change_key(&sim, json!({"can_trade": false})).await;
    assert_eq!(read_only["ip_whitelist"], json!(["127.0.0.1"]));
    let path = format!("/accounts/{}/key", sim.credentials.api_key);
    let (status, error) = sim
        .admin(
            Method::PUT,
            &path,
            Some(json!({"enabled": false, "ip_whitelist": ["127.0.0.1", "localhost"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let reason = error["error"].as_str().unwrap();
    assert!(
        reason.contains("ip_whitelist: \"localhost\" is not an IP address"),
        "{reason}"
    );
    let (_, unchanged) = sim
        .admin(
            Method::GET,
            &format!("/accounts/{}", sim.credentials.api_key),
            None,
        )
        .await;
    assert_eq!(unchanged["key_enabled"], true);
    assert_eq!(unchanged["ip_whitelist"], json!(["127.0.0.1"]));
    for (body, expected) in [
        (json!({"enable": false}), StatusCode::BAD_REQUEST),
        (
            json!({"ip_whitelist": "127.0.0.1"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, error) = sim.admin(Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {error}");
        assert!(error["error"].is_string(), "{error}");
    }
    let (status, error) = sim
        .admin(
            Method::PUT,
            "/accounts/neverIssuedKey/key",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");

    // An empty whitelist admits any address again.
    let open = change_key(&sim, json!({"ip_whitelist": [], "can_trade": true})).await;
    assert_eq!(open["ip_whitelist"], json!([]));
    let (status, order) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(sim.exchange().lock().order_log().len(), 2);
}

#[tokio::test]
async fn a_key_that_cannot_trade_still_reads_its_account_orders_and_trades() {
    let sim = TestSim::start().await;
    let (status, placed) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let balances_after_trade = sim
        .exchange()
        .lock()
        .account(&sim.credentials.api_key)
        .unwrap()
        .balances
        .clone();

    let read_only = change_key(&sim, json!({"can_trade": false})).await;
    assert_eq!(read_only["can_trade"], false);
    assert_eq!(read_only["key_enabled"], true);

    let (status, account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["canTrade"], false);
    let order_id = placed["orderId"].to_string();
    let (status, order) = sim
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", &order_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["orderId"], placed["orderId"]);
    let (status, trades) = sim
        .signed(Method::GET, "/api/v3/myTrades", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(status, StatusCode::OK, "{trades}");
    assert_eq!(
        trades.as_array().unwrap().len(),
        placed["fills"].as_array().unwrap().len()
    );

    let with_rates: Vec<(&str, &str)> = BUY
        .iter()
        .copied()
        .chain([("computeCommissionRates", "true")])
        .collect();
    // The permission is checked before the order's own parameters: a LIMIT order is -2015 too.
    let limit_order = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT")];
    for (path, params) in [
        ("/api/v3/order", BUY.as_slice()),
        ("/api/v3/order/test", BUY.as_slice()),
        ("/api/v3/order/test", with_rates.as_slice()),
        ("/api/v3/order", limit_order.as_slice()),
    ] {
        let (status, error) = sim.signed(Method::POST, path, params).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {error}");
        assert_eq!(code_and_msg(&error), REJECTED, "{path}");
    }
    {
        let exchange = sim.exchange().lock();
        assert_eq!(exchange.order_log().len(), 1, "nothing more was logged");
        let account = exchange.account(&sim.credentials.api_key).unwrap();
        assert_eq!(account.balances, balances_after_trade);
    }

    let trading = change_key(&sim, json!({"can_trade": true})).await;
    assert_eq!(trading["can_trade"], true);
    let (status, order) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let (_, account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(account["canTrade"], true);
}

#[tokio::test]
async fn an_account_can_be_created_read_only_and_restricted() {
    let sim = TestSim::start().await;
    let (status, created) = sim
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({
                "balances": {"USDT": "100"},
                "can_trade": false,
                "ip_whitelist": ["127.0.0.1", "::1"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let credentials = Credentials {
        api_key: created["api_key"].as_str().unwrap().to_owned(),
        secret: created["secret"].as_str().unwrap().to_owned(),
    };
    let (_, account) = sim
        .admin(
            Method::GET,
            &format!("/accounts/{}", credentials.api_key),
            None,
        )
        .await;
    assert_eq!(account["can_trade"], false);
    assert_eq!(account["key_enabled"], true);
    assert_eq!(account["ip_whitelist"], json!(["127.0.0.1", "::1"]));

    let timestamp = sim.clock_now().to_string();
    let (status, binance_account) = sim
        .signed_raw(
            Method::GET,
            "/api/v3/account",
            &encode(&[("timestamp", &timestamp)]),
            "",
            &credentials,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{binance_account}");
    assert_eq!(binance_account["canTrade"], false);
    let order_params: Vec<(&str, &str)> = BUY
        .iter()
        .copied()
        .chain([("timestamp", timestamp.as_str())])
        .collect();
    let order_query = encode(&order_params);
    let (status, error) = sim
        .signed_raw(
            Method::POST,
            "/api/v3/order",
            &order_query,
            "",
            &credentials,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    assert_eq!(code_and_msg(&error), REJECTED);
    let account = sim.exchange().lock().account(&credentials.api_key).cloned();
    assert_eq!(account.unwrap().balance("USDT"), Decimal::from(100));

    let (status, error) = sim
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"ip_whitelist": ["300.1.2.3"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"].as_str().unwrap().contains("\"300.1.2.3\""),
        "{error}"
    );
}
