//! Fault injection over loopback HTTP, set through the admin API: each fault does what it says,
//! and where the client is left unsure (dropped connection, 5xx, -1006, -1007 after executing)
//! the order log and the balances show what really happened.

mod common;

use std::time::{Duration, Instant};

use common::{TestSim, decimal, header_number};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

const BUY: [(&str, &str); 4] = [
    ("symbol", "BTCUSDT"),
    ("side", "BUY"),
    ("type", "MARKET"),
    ("quantity", "0.001"),
];

async fn set_faults(sim: &TestSim, plan: Value) {
    let (status, answer) = sim.admin(Method::PUT, "/faults", Some(plan)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A plan with one rule on `POST /api/v3/order` for the next request.
fn next_order_fault(fault: Value) -> Value {
    json!({"rules": [{"fault": fault, "endpoints": ["POST /api/v3/order"], "trigger": {"next": 1}}]})
}

/// Sends [`BUY`]; whether the client got no answer (the transport failed).
async fn order_connection_breaks(sim: &TestSim) -> bool {
    match sim.try_signed(Method::POST, "/api/v3/order", &BUY).await {
        Ok(response) => response.text().await.is_err(),
        Err(_) => true,
    }
}

async fn order_log(sim: &TestSim) -> Vec<Value> {
    let (status, log) = sim.admin(Method::GET, "/orders", None).await;
    assert_eq!(status, StatusCode::OK);
    log.as_array().unwrap().clone()
}

async fn usdt(sim: &TestSim) -> Decimal {
    let (_, account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    account["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|balance| balance["asset"] == "USDT")
        .map(|balance| decimal(&balance["free"]))
        .unwrap()
}

#[tokio::test]
async fn a_connection_dropped_after_executing_leaves_an_executed_order() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        next_order_fault(json!({"drop_connection": "after_executing"})),
    )
    .await;

    assert!(
        order_connection_breaks(&sim).await,
        "the client sees a broken connection"
    );

    let log = order_log(&sim).await;
    assert_eq!(log.len(), 1, "but the order executed");
    assert_eq!(log[0]["status"], "FILLED");
    let spent = decimal(&log[0]["cumulative_quote_qty"]);
    assert_eq!(usdt(&sim).await, Decimal::from(10_000) - spent);

    // The rule fired once: the client can now find out what happened, and trade on.
    let client_order_id = log[0]["client_order_id"].as_str().unwrap();
    let (status, order) = sim
        .signed(
            Method::GET,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("origClientOrderId", client_order_id),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["status"], "FILLED");
    assert_eq!(
        sim.signed(Method::POST, "/api/v3/order", &BUY).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_connection_dropped_before_executing_executes_nothing() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        next_order_fault(json!({"drop_connection": "before_executing"})),
    )
    .await;
    assert!(order_connection_breaks(&sim).await);
    assert!(order_log(&sim).await.is_empty());
    assert_eq!(usdt(&sim).await, Decimal::from(10_000));
}

#[tokio::test]
async fn unknown_status_errors_come_before_or_after_executing() {
    let sim = TestSim::start().await;
    let cases = [
        (json!({"backend_timeout": "after_executing"}), -1007, 1),
        (json!({"unexpected_response": "after_executing"}), -1006, 2),
        (json!({"backend_timeout": "before_executing"}), -1007, 2),
        (json!({"unexpected_response": "before_executing"}), -1006, 2),
        (json!("server_busy"), -1008, 2),
    ];
    for (fault, code, orders_after) in cases {
        set_faults(&sim, next_order_fault(fault.clone())).await;
        let (status, error) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{fault}");
        assert_eq!(error["code"], code, "{fault}");
        assert_eq!(order_log(&sim).await.len(), orders_after, "{fault}");
    }
    let (_, error) = {
        set_faults(
            &sim,
            next_order_fault(json!({"backend_timeout": "after_executing"})),
        )
        .await;
        sim.signed(Method::POST, "/api/v3/order", &BUY).await
    };
    assert_eq!(
        error["msg"],
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
    );
}

#[tokio::test]
async fn a_5xx_is_plain_text_and_may_follow_an_execution() {
    let sim = TestSim::start().await;
    for (timing, orders_after) in [("after_executing", 1), ("before_executing", 1)] {
        set_faults(
            &sim,
            next_order_fault(json!({"server_error": {"status": 503, "timing": timing}})),
        )
        .await;
        let response = sim
            .try_signed(Method::POST, "/api/v3/order", &BUY)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.text().await.unwrap(), "Service Unavailable");
        assert_eq!(order_log(&sim).await.len(), orders_after, "{timing}");
    }
}

#[tokio::test]
async fn injected_429_bursts_and_418_carry_retry_after_and_execute_nothing() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        json!({"rules": [{"fault": {"too_many_requests_s": 7}, "trigger": {"next": 2}}]}),
    )
    .await;
    for _ in 0..2 {
        let (status, headers, error) = sim
            .signed_with_headers(Method::POST, "/api/v3/order", &BUY)
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            error,
            json!({"code": -1003, "msg": "Too many requests queued."})
        );
        assert_eq!(header_number(&headers, "Retry-After"), 7);
    }
    assert_eq!(
        sim.get("/api/v3/ping", "").await.0,
        StatusCode::OK,
        "the burst is over"
    );

    set_faults(
        &sim,
        json!({"rules": [{"fault": {"banned_s": 120}, "endpoints": ["GET /api/v3/ping"]}]}),
    )
    .await;
    let (status, headers, error) = sim.get_with_headers("/api/v3/ping", "").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(error["code"], -1003);
    assert_eq!(header_number(&headers, "Retry-After"), 120);
    assert_eq!(sim.get("/api/v3/time", "").await.0, StatusCode::OK);
    assert!(order_log(&sim).await.is_empty());
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        json!({"rules": [{"fault": {"latency_ms": 40}, "endpoints": ["GET /api/v3/time"]}]}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(sim.get("/api/v3/time", "").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(40));
}

#[tokio::test]
async fn a_skewed_server_clock_moves_server_time_and_the_timestamp_check() {
    let sim = TestSim::start().await;
    set_faults(&sim, json!({"clock_skew_ms": -1500})).await;
    let (_, time) = sim.get("/api/v3/time", "").await;
    assert_eq!(time["serverTime"], sim.clock_now() - 1500);
    // The client's own clock is now 1.5 s ahead of the server's.
    let (status, error) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["msg"],
        "Timestamp for this request was 1000ms ahead of the server's time."
    );
    let (_, clock) = sim.admin(Method::GET, "/clock", None).await;
    assert_eq!(clock["clock_skew_ms"], -1500);
}

#[tokio::test]
async fn a_new_order_is_not_queryable_until_the_window_passes() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        json!({"rules": [{"fault": {"not_queryable_ms": 500}, "endpoints": ["GET /api/v3/order"]}]}),
    )
    .await;
    let (status, placed) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
    assert_eq!(status, StatusCode::OK);
    let order_id = placed["orderId"].to_string();
    let query = [("symbol", "BTCUSDT"), ("orderId", order_id.as_str())];

    let (status, error) = sim.signed(Method::GET, "/api/v3/order", &query).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error,
        json!({"code": -2013, "msg": "Order does not exist."})
    );
    sim.clock.advance_ms(499);
    assert_eq!(
        sim.signed(Method::GET, "/api/v3/order", &query).await.0,
        StatusCode::BAD_REQUEST
    );
    sim.clock.advance_ms(1);
    let (status, found) = sim.signed(Method::GET, "/api/v3/order", &query).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["orderId"], placed["orderId"]);
}

#[tokio::test]
async fn a_new_order_is_hidden_from_the_order_and_trade_lists_the_fault_names() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        json!({"rules": [{
            "fault": {"not_queryable_ms": 500},
            "endpoints": ["GET /api/v3/allOrders", "GET /api/v3/myTrades"]
        }]}),
    )
    .await;
    let (status, placed) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let order_id = placed["orderId"].to_string();
    let symbol = [("symbol", "BTCUSDT")];
    let by_order_id = [("symbol", "BTCUSDT"), ("orderId", order_id.as_str())];
    let listed = |answer: &Value| answer.as_array().expect("a list").len();

    for query in [&symbol[..], &by_order_id[..]] {
        let (status, orders) = sim.signed(Method::GET, "/api/v3/allOrders", query).await;
        assert_eq!((status, listed(&orders)), (StatusCode::OK, 0), "{query:?}");
        let (status, trades) = sim.signed(Method::GET, "/api/v3/myTrades", query).await;
        assert_eq!((status, listed(&trades)), (StatusCode::OK, 0), "{query:?}");
    }
    // The rule does not name GET /api/v3/order: the order itself is found at once.
    let (status, found) = sim.signed(Method::GET, "/api/v3/order", &by_order_id).await;
    assert_eq!(status, StatusCode::OK, "{found}");

    sim.clock.advance_ms(499);
    let (_, orders) = sim.signed(Method::GET, "/api/v3/allOrders", &symbol).await;
    assert_eq!(listed(&orders), 0, "still too young");
    sim.clock.advance_ms(1);
    let (_, orders) = sim.signed(Method::GET, "/api/v3/allOrders", &symbol).await;
    assert_eq!(orders[0]["orderId"], placed["orderId"]);
    let (_, trades) = sim
        .signed(Method::GET, "/api/v3/myTrades", &by_order_id)
        .await;
    assert_eq!(listed(&trades), placed["fills"].as_array().unwrap().len());
}

#[tokio::test]
async fn a_halted_symbol_refuses_market_orders_as_binance_does() {
    let sim = TestSim::start().await;
    for status in ["HALT", "BREAK"] {
        let (code, _) = sim
            .admin(
                Method::PUT,
                "/symbols/BTCUSDT/status",
                Some(json!({"status": status})),
            )
            .await;
        assert_eq!(code, StatusCode::OK);
        let (_, info) = sim.get("/api/v3/exchangeInfo", "symbol=BTCUSDT").await;
        assert_eq!(info["symbols"][0]["status"], status);
        let (code, error) = sim.signed(Method::POST, "/api/v3/order", &BUY).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(error, json!({"code": -2010, "msg": "Market is closed."}));
    }
    sim.admin(
        Method::PUT,
        "/symbols/BTCUSDT/status",
        Some(json!({"status": "TRADING"})),
    )
    .await;
    assert_eq!(
        sim.signed(Method::POST, "/api/v3/order", &BUY).await.0,
        StatusCode::OK
    );

    // The same through a plan; clearing the faults reopens the market.
    set_faults(&sim, json!({"symbol_status": {"BTCUSDT": "HALT"}})).await;
    assert_eq!(
        sim.signed(Method::POST, "/api/v3/order", &BUY).await.1["code"],
        -2010
    );
    sim.admin(Method::DELETE, "/faults", None).await;
    assert_eq!(
        sim.signed(Method::POST, "/api/v3/order", &BUY).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_account_rule_spares_other_accounts() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        json!({"rules": [{"fault": "server_busy", "account": "someoneElsesKey"}]}),
    )
    .await;
    assert_eq!(
        sim.signed(Method::POST, "/api/v3/order", &BUY).await.0,
        StatusCode::OK
    );
    set_faults(
        &sim,
        json!({"rules": [{"fault": "server_busy", "account": sim.credentials.api_key}]}),
    )
    .await;
    assert_eq!(
        sim.signed(Method::POST, "/api/v3/order", &BUY).await.1["code"],
        -1008
    );
}

#[tokio::test]
async fn probabilistic_faults_repeat_exactly_with_the_same_seed() {
    let plan = json!({"seed": 11, "rules": [{"fault": "server_busy",
        "endpoints": ["GET /api/v3/ping"], "trigger": {"probability": 0.5}}]});
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sim = TestSim::start().await;
        set_faults(&sim, plan.clone()).await;
        let mut statuses = Vec::new();
        for _ in 0..24 {
            statuses.push(sim.get("/api/v3/ping", "").await.0.as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&200) && runs[0].contains(&500),
        "{:?}",
        runs[0]
    );
}
