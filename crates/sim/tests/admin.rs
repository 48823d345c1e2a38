//! The admin API over loopback HTTP: accounts made and funded through it trade on the REST API,
//! accounts read back and their balances can be replaced, the order log agrees with what clients
//! were told and filters by account, faults round-trip and bad ones are refused, and the manual
//! clock can be read and set. (The loopback-only rule is a unit test of
//! `is_admin_peer`: every test client here is on loopback.)

mod common;

use common::{START_MS, TestSim, code_and_msg, decimal, encode};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
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
        Decimal::new(2, 5),
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
        json!({"now_ms": START_MS, "speed": 0, "clock_skew_ms": 0, "manual": true})
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

/// Creates an HMAC account through the admin API.
async fn create_account(sim: &TestSim, body: Value) -> Credentials {
    let (status, created) = sim.admin(Method::POST, "/accounts", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    Credentials {
        api_key: created["api_key"].as_str().unwrap().to_owned(),
        secret: created["secret"].as_str().unwrap().to_owned(),
    }
}

/// Places a MARKET order signed with `credentials`.
async fn market_order(
    sim: &TestSim,
    credentials: &Credentials,
    params: &[(&str, &str)],
) -> (StatusCode, Value) {
    let timestamp = sim.clock_now().to_string();
    let mut all = vec![("symbol", "BTCUSDT"), ("type", "MARKET")];
    all.extend_from_slice(params);
    all.push(("timestamp", &timestamp));
    sim.signed_raw(
        Method::POST,
        "/api/v3/order",
        &encode(&all),
        "",
        credentials,
    )
    .await
}

#[tokio::test]
async fn an_account_reads_back_through_the_admin_api_and_an_unknown_key_is_404() {
    let sim = TestSim::start().await;
    let path = format!("/accounts/{}", sim.credentials.api_key);
    let (status, account) = sim.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(
        account,
        json!({
            "api_key": sim.credentials.api_key,
            "uid": 1,
            "balances": {"BTC": "0.50000000", "USDT": "10000.00000000"},
            "commission_rate": "0.00100000",
            "commission_in_bnb": false,
            "key_enabled": true,
            "can_trade": true,
            "ip_whitelist": [],
        })
    );
    assert!(
        !account.to_string().contains(&sim.credentials.secret),
        "the secret is never shown again"
    );

    for (method, path, body) in [
        (Method::GET, "/accounts/neverIssuedKey", None),
        (
            Method::PUT,
            "/accounts/neverIssuedKey/balances",
            Some(json!({"balances": {"USDT": "1"}})),
        ),
        (
            Method::PUT,
            "/accounts/neverIssuedKey/key",
            Some(json!({"enabled": false})),
        ),
    ] {
        let (status, error) = sim.admin(method, path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {error}");
        let reason = error["error"].as_str().unwrap();
        assert!(reason.contains("\"neverIssuedKey\""), "{reason}");
    }
}

#[tokio::test]
async fn putting_balances_replaces_them_all_and_orders_trade_against_the_new_ones() {
    let sim = TestSim::start().await;
    let path = format!("/accounts/{}/balances", sim.credentials.api_key);
    let (status, account) = sim
        .admin(
            Method::PUT,
            &path,
            Some(json!({"balances": {"USDT": "20"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["balances"], json!({"USDT": "20.00000000"}));
    assert_eq!(account["api_key"], sim.credentials.api_key.as_str());
    let (_, binance_account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(
        binance_account["balances"],
        json!([{"asset": "USDT", "free": "20.00000000", "locked": "0.00000000"}])
    );

    // The 0.5 BTC the account started with are gone: it has nothing to sell.
    let (status, error) = market_order(
        &sim,
        &sim.credentials,
        &[("side", "SELL"), ("quantity", "0.01")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(code_and_msg(&error).0, -2010);
    let (status, bought) = market_order(
        &sim,
        &sim.credentials,
        &[("side", "BUY"), ("quoteOrderQty", "15")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{bought}");
    let spent = decimal(&bought["cummulativeQuoteQty"]);
    let received = decimal(&bought["executedQty"])
        - bought["fills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|fill| decimal(&fill["commission"]))
            .sum::<Decimal>();
    let (_, account) = sim
        .admin(
            Method::GET,
            &format!("/accounts/{}", sim.credentials.api_key),
            None,
        )
        .await;
    assert_eq!(
        decimal(&account["balances"]["USDT"]),
        Decimal::from(20) - spent
    );
    assert_eq!(decimal(&account["balances"]["BTC"]), received);

    for (body, named) in [
        (
            json!({"balances": {"USDT": "10", "BTC": "-1"}}),
            "balances.BTC",
        ),
        (json!({"balances": {"": "1"}}), "named"),
        (json!({"balance": {"USDT": "1"}}), "unknown field"),
        (json!({}), "missing field `balances`"),
        (json!({"balances": {"USDT": "ten"}}), "invalid body"),
    ] {
        let (status, error) = sim.admin(Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let reason = error["error"].as_str().unwrap();
        assert!(reason.contains(named), "{body}: {reason}");
    }
    let unchanged = sim
        .admin(
            Method::GET,
            &format!("/accounts/{}", sim.credentials.api_key),
            None,
        )
        .await
        .1;
    assert_eq!(
        unchanged["balances"], account["balances"],
        "refused changes change nothing"
    );

    let (status, emptied) = sim
        .admin(Method::PUT, &path, Some(json!({"balances": {}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{emptied}");
    assert_eq!(emptied["balances"], json!({}));
}

#[tokio::test]
async fn the_order_log_filters_by_api_key() {
    let sim = TestSim::start().await;
    let other = create_account(&sim, json!({"balances": {"USDT": "100"}})).await;
    let idle = create_account(&sim, json!({})).await;
    let (status, first) = market_order(
        &sim,
        &sim.credentials,
        &[("side", "BUY"), ("quantity", "0.01")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) =
        market_order(&sim, &other, &[("side", "BUY"), ("quoteOrderQty", "10")]).await;
    assert_eq!(status, StatusCode::OK, "{second}");

    let (status, everything) = sim.admin(Method::GET, "/orders", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(everything.as_array().unwrap().len(), 2);
    for (credentials, placed) in [(&sim.credentials, &first), (&other, &second)] {
        let path = format!("/orders?{}", encode(&[("api_key", &credentials.api_key)]));
        let (status, log) = sim.admin(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{log}");
        let orders = log.as_array().unwrap();
        assert_eq!(orders.len(), 1, "{log}");
        assert_eq!(orders[0]["api_key"], credentials.api_key.as_str());
        assert_eq!(orders[0]["order_id"], placed["orderId"]);
        assert_eq!(orders[0]["client_order_id"], placed["clientOrderId"]);
    }
    let (status, none) = sim
        .admin(
            Method::GET,
            &format!("/orders?api_key={}", idle.api_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!([]));

    let (status, error) = sim
        .admin(Method::GET, "/orders?api_key=neverIssuedKey", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    for query in ["symbol=BTCUSDT", "apiKey=x", "api_key=a&api_key=b"] {
        let (status, error) = sim
            .admin(Method::GET, &format!("/orders?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert!(error["error"].is_string(), "{error}");
    }
}
