//! The admin API over loopback HTTP: accounts made and funded through it trade on the REST API,
//! the order log agrees with what clients were told, faults round-trip and bad ones are refused,
//! and the manual clock can be read and set. (The loopback-only rule is a unit test of
//! `is_admin_peer`: every test client here is on loopback.)

mod common;

use common::{START_MS, TestSim, decimal, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use sim::Credentials;

#[tokio::test]
async fn an_account_made_and_funded_through_the_admin_api_trades() {
    let sim = TestSim::start().await;
    let (status, created) = sim
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"balances": {"USDT": "100"}, "commission_rate": "0.002"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let credentials = Credentials {
        api_key: created["api_key"].as_str().unwrap().to_owned(),
        secret: created["secret"].as_str().unwrap().to_owned(),
    };
    assert_eq!(credentials.api_key.len(), 64);

    let path = format!("/accounts/{}/balances", credentials.api_key);
    let (status, funded) = sim
        .admin(
            Method::POST,
            &path,
            Some(json!({"asset": "USDT", "amount": "900.5"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{funded}");
    assert_eq!(funded["balances"]["USDT"], "1000.50000000");

    let timestamp = sim.clock_now().to_string();
    let query = encode(&[
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quantity", "0.01"),
        ("timestamp", &timestamp),
    ]);
    let (status, order) = sim
        .signed_raw(Method::POST, "/api/v3/order", &query, "", &credentials)
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(
        decimal(&order["fills"][0]["commission"]),
        rust_decimal::Decimal::new(2, 5),
        "0.2% of 0.01 BTC"
    );

    let (status, log) = sim.admin(Method::GET, "/orders", None).await;
    assert_eq!(status, StatusCode::OK);
    let logged = &log[0];
    assert_eq!(logged["api_key"], credentials.api_key.as_str());
    assert_eq!(logged["order_id"], order["orderId"]);
    assert_eq!(logged["client_order_id"], order["clientOrderId"]);
    assert_eq!(logged["executed_qty"], order["executedQty"]);
    assert_eq!(logged["cumulative_quote_qty"], order["cummulativeQuoteQty"]);
    assert_eq!(logged["quantity"], "0.01000000");
    assert_eq!(logged["quote_order_qty"], Value::Null);
    assert_eq!(logged["fills"][0]["trade_id"], order["fills"][0]["tradeId"]);

    let (status, refused) = sim
        .admin(
            Method::POST,
            "/accounts/unknownKey/balances",
            Some(json!({"asset": "USDT", "amount": "1"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    let (status, _) = sim
        .admin(
            Method::POST,
            &path,
            Some(json!({"asset": "USDT", "amount": "-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn faults_round_trip_and_bad_plans_are_refused() {
    let sim = TestSim::start().await;
    let plan = json!({
        "seed": 3,
        "rules": [{"fault": {"latency_ms": 1}, "endpoints": ["GET /api/v3/time"], "trigger": {"next": 2}}],
        "clock_skew_ms": 250,
        "symbol_status": {"ETHUSDT": "BREAK"},
    });
    let (status, set) = sim.admin(Method::PUT, "/faults", Some(plan.clone())).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set, plan);
    assert_eq!(sim.admin(Method::GET, "/faults", None).await.1, plan);

    for bad in [
        json!({"rules": [{"fault": "server_busy", "trigger": {"probability": 1.5}}]}),
        json!({"rules": [{"fault": {"server_error": {"status": 404, "timing": "before_executing"}}}]}),
        json!({"rules": [{"fault": "no_such_fault"}]}),
        json!({"rules": [{"fault": "server_busy", "endpoints": ["GET /api/v3/nope"]}]}),
        json!({"symbol_status": {"NOPE": "HALT"}}),
        json!({"symbol_status": {"BTCUSDT": "ASLEEP"}}),
        json!({"unknown_field": 1}),
        json!({"clock_skew_ms": 864_000_000}),
    ] {
        let (status, error) = sim.admin(Method::PUT, "/faults", Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(error["error"].is_string(), "{error}");
    }
    assert_eq!(
        sim.admin(Method::GET, "/faults", None).await.1,
        plan,
        "a refused plan changes nothing"
    );

    let (status, cleared) = sim.admin(Method::DELETE, "/faults", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["rules"], json!([]));
    let (_, info) = sim.get("/api/v3/exchangeInfo", "symbol=ETHUSDT").await;
    assert_eq!(info["symbols"][0]["status"], "TRADING");
}

#[tokio::test]
async fn the_manual_clock_can_be_read_and_set() {
    let sim = TestSim::start().await;
    let (status, clock) = sim.admin(Method::GET, "/clock", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        clock,
        json!({"now_ms": START_MS, "clock_skew_ms": 0, "manual": true})
    );
    let (_, advanced) = sim
        .admin(Method::PUT, "/clock", Some(json!({"advance_ms": 1500})))
        .await;
    assert_eq!(advanced["now_ms"], START_MS + 1500);
    let (_, set) = sim
        .admin(
            Method::PUT,
            "/clock",
            Some(json!({"now_ms": START_MS + 60_000})),
        )
        .await;
    assert_eq!(set["now_ms"], START_MS + 60_000);
    let (_, time) = sim.get("/api/v3/time", "").await;
    assert_eq!(time["serverTime"], START_MS + 60_000);
    let (status, _) = sim
        .admin(
            Method::PUT,
            "/clock",
            Some(json!({"now_ms": 1, "advance_ms": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_requests_are_outside_the_rate_limits_and_the_faults() {
    let sim = TestSim::start().await;
    sim.admin(
        Method::PUT,
        "/faults",
        Some(json!({"rules": [{"fault": "server_busy"}]})),
    )
    .await;
    for _ in 0..3 {
        let (status, _) = sim.admin(Method::GET, "/orders", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = sim.get("/api/v3/ping", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // The admin requests were not counted: the ping was the first weighed request.
    let (_, headers, _) = {
        sim.admin(Method::DELETE, "/faults", None).await;
        sim.get_with_headers("/api/v3/ping", "").await
    };
    assert_eq!(headers["X-MBX-USED-WEIGHT-1M"], "2");
}
