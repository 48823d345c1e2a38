//! The state file over a restart: trade over loopback HTTP, save, start a new exchange from the
//! file, and the balances, the order log and order queries by id and client order id still
//! answer; new orders continue the ids. Corrupt files are errors naming the file.

mod common;

use std::path::PathBuf;

use common::{TestSim, decimal};
use reqwest::{Method, StatusCode};
use serde_json::Value;

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
