//! The state file over a restart: trade over loopback HTTP, save, start a new exchange from the
//! file, and the balances, the order log and order queries by id and client order id still
//! answer; new orders continue the ids; a revoked, read-only or IP-restricted key stays so, and a
//! file written before keys had that state loads with live trading keys. Corrupt files are errors
//! naming the file.

mod common;

use std::path::PathBuf;

use common::{TestSim, code_and_msg, decimal};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use sim::StateError;

/// A fresh directory for this test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-state-{name}-{}", std::process::id()));
    // Left over from an earlier run with the same pid, if any.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn buy(sim: &TestSim, client_order_id: Option<&str>) -> Value {
    let mut params = vec![
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.01"),
    ];
    if let Some(id) = client_order_id {
        params.push(("newClientOrderId", id));
    }
    let (status, body) = sim.signed(Method::POST, "/api/v3/order", &params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn account(sim: &TestSim) -> Value {
    let (status, body) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn balances_orders_and_ids_survive_a_restart() {
    let dir = scratch_dir("restart");
    let path = dir.join("state.json");

    let first = TestSim::start().await;
    let placed = buy(&first, Some("keepMe-1")).await;
    buy(&first, None).await;
    let balances_before = account(&first).await["balances"].clone();
    let log_before = first.exchange().lock().order_log().to_vec();
    let state = first.exchange().lock().save_state();
    sim::save_state(&path, &state).unwrap();
    first.server.stop().await.unwrap();
    // Written atomically: nothing but the state file is left in the directory.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["state.json"]);

    let second = TestSim::start().await;
    let loaded = sim::load_state(&path).unwrap().expect("the file exists");
    second
        .exchange()
        .lock()
        .restore_state(&path, loaded)
        .unwrap();
    assert_eq!(account(&second).await["balances"], balances_before);
    assert_eq!(second.exchange().lock().order_log(), log_before.as_slice());

    let order_id = placed["orderId"].to_string();
    for lookup in [
        ("orderId", order_id.as_str()),
        ("origClientOrderId", "keepMe-1"),
    ] {
        let (status, order) = second
            .signed(
                Method::GET,
                "/api/v3/order",
                &[("symbol", "BTCUSDT"), lookup],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{order}");
        assert_eq!(order["orderId"], placed["orderId"]);
        assert_eq!(order["clientOrderId"], "keepMe-1");
        assert_eq!(
            decimal(&order["executedQty"]),
            decimal(&placed["executedQty"])
        );
    }
    // New orders and trades continue after the restored ids.
    let next = buy(&second, None).await;
    assert_eq!(next["orderId"], 3);
    let last_trade = log_before
        .iter()
        .flat_map(|order| order.fills.iter().map(|fill| fill.trade_id))
        .max()
        .unwrap();
    assert_eq!(next["fills"][0]["tradeId"], last_trade + 1);
    let generated = next["clientOrderId"].as_str().unwrap();
    assert!(
        log_before
            .iter()
            .all(|order| order.client_order_id != generated)
    );
    second.server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_missing_file_is_no_state_and_a_corrupt_one_an_error_naming_it() {
    let dir = scratch_dir("corrupt");
    let path = dir.join("state.json");
    assert!(sim::load_state(&path).unwrap().is_none());

    for (text, reason) in [
        ("{not json", "key must be a string"),
        (r#"{"format": "other"}"#, "missing field"),
        ("[]", "invalid length"),
    ] {
        std::fs::write(&path, text).unwrap();
        let error = sim::load_state(&path).unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(reason), "{message}");
    }

    // A state naming a symbol this exchange does not list is refused, and changes nothing.
    let sim = TestSim::start().await;
    buy(&sim, None).await;
    let mut state = serde_json::to_value(sim.exchange().lock().save_state()).unwrap();
    state["order_log"][0]["symbol"] = "DOGEUSDT".into();
    std::fs::write(&path, state.to_string()).unwrap();
    let loaded = sim::load_state(&path).unwrap().unwrap();
    let error = sim
        .exchange()
        .lock()
        .restore_state(&path, loaded)
        .unwrap_err();
    assert!(error.to_string().contains("DOGEUSDT"), "{error}");
    assert_eq!(sim.exchange().lock().order_log().len(), 1);
    sim.server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The test account as the admin API shows it.
async fn admin_account(sim: &TestSim) -> Value {
    let path = format!("/accounts/{}", sim.credentials.api_key);
    let (status, account) = sim.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    account
}

/// Revokes the test account's key, takes its trading permission and restricts it to an address
/// the test client is not on.
async fn lock_down_key(sim: &TestSim) {
    let path = format!("/accounts/{}/key", sim.credentials.api_key);
    let change = json!({"enabled": false, "can_trade": false, "ip_whitelist": ["10.0.0.1"]});
    let (status, account) = sim.admin(Method::PUT, &path, Some(change)).await;
    assert_eq!(status, StatusCode::OK, "{account}");
}

#[tokio::test]
async fn a_revoked_read_only_restricted_key_stays_so_after_a_restart() {
    let dir = scratch_dir("key-state");
    let path = dir.join("state.json");
    let first = TestSim::start().await;
    buy(&first, None).await;
    lock_down_key(&first).await;
    let before = admin_account(&first).await;
    sim::save_state(&path, &first.exchange().lock().save_state()).unwrap();
    first.server.stop().await.unwrap();
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let saved_account = &saved["accounts"][0];
    assert_eq!(saved_account["key_enabled"], false);
    assert_eq!(saved_account["can_trade"], false);
    assert_eq!(saved_account["ip_whitelist"], json!(["10.0.0.1"]));

    let second = TestSim::start().await;
    assert_eq!(admin_account(&second).await["key_enabled"], true);
    let loaded = sim::load_state(&path).unwrap().expect("the file exists");
    second
        .exchange()
        .lock()
        .restore_state(&path, loaded)
        .unwrap();
    let after = admin_account(&second).await;
    assert_eq!(after, before);
    assert_eq!(after["key_enabled"], false);
    assert_eq!(after["can_trade"], false);
    assert_eq!(after["ip_whitelist"], json!(["10.0.0.1"]));
    let (status, error) = second.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    assert_eq!(code_and_msg(&error).0, -2015);
    second.server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_state_file_from_before_key_state_loads_with_live_trading_keys() {
    let dir = scratch_dir("old-format");
    let path = dir.join("state.json");
    let first = TestSim::start().await;
    buy(&first, None).await;
    // Locked down here, but the old layout below has no place for it: the keys come back live.
    lock_down_key(&first).await;
    let balances_before = first
        .exchange()
        .lock()
        .account(&first.credentials.api_key)
        .unwrap()
        .balances
        .clone();
    let mut old = serde_json::to_value(first.exchange().lock().save_state()).unwrap();
    first.server.stop().await.unwrap();
    for account in old["accounts"].as_array_mut().unwrap() {
        let fields = account.as_object_mut().unwrap();
        for added in ["key_enabled", "can_trade", "ip_whitelist"] {
            assert!(fields.remove(added).is_some(), "{added} is saved");
        }
    }
    std::fs::write(&path, old.to_string()).unwrap();

    let second = TestSim::start().await;
    let loaded = sim::load_state(&path).unwrap().expect("the file exists");
    second
        .exchange()
        .lock()
        .restore_state(&path, loaded)
        .unwrap();
    let account = admin_account(&second).await;
    assert_eq!(account["key_enabled"], true);
    assert_eq!(account["can_trade"], true);
    assert_eq!(account["ip_whitelist"], json!([]));
    let restored = second
        .exchange()
        .lock()
        .account(&second.credentials.api_key)
        .cloned();
    assert_eq!(restored.unwrap().balances, balances_before);
    let (_, binance_account) = second.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(binance_account["canTrade"], true);
    let next = buy(&second, None).await;
    assert_eq!(
        next["orderId"], 2,
        "the order ids continue after the restored one"
    );

    // Unknown account fields are still refused: a misspelt field is not silently dropped.
    old["accounts"][0]["key_enable"] = json!(false);
    std::fs::write(&path, old.to_string()).unwrap();
    let error = sim::load_state(&path).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `key_enable`"),
        "{error}"
    );
    second.server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
