//! The user data stream of the WebSocket API (`/ws-api/v3`) over real loopback WebSockets:
//! `userDataStream.subscribe.signature` (HMAC) and `session.logon` + `userDataStream.subscribe`
//! (Ed25519); a MARKET order placed over REST reported as `executionReport` NEW, TRADE per fill
//! (the last FILLED) and `outboundAccountPosition`, agreeing with the REST answer and account;
//! admin funding and balance replacement as `balanceUpdate`; other accounts' events kept apart;
//! unsubscribing with `eventStreamTerminated`; Binance's errors for bad requests; the IP's request
//! weight, a 429 and then a ban that closes the connection. Every message is
//! compared with its doc fixture.

mod common;
mod ws;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{TestSim, assert_same_shape, decimal, fixture};
use ed25519_dalek::SigningKey;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use sim::{
    Credentials, ExchangeConfig, RateLimit, RateLimitInterval, RateLimitType, sign, sign_ed25519,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use ws::{Socket, assert_quiet, connect, next_json, send_json};

const QUIET: Duration = Duration::from_millis(300);

/// Sends a request and returns its answer, which must be the next message.
async fn call(socket: &mut Socket, id: &str, method: &str, params: Option<Value>) -> Value {
    let mut request = json!({"id": id, "method": method});
    if let Some(params) = params {
        request["params"] = params;
    }
    send_json(socket, &request).await;
    let answer = next_json(socket).await;
    assert_eq!(answer["id"], id, "the answer to {method}: {answer}");
    answer
}

/// `apiKey` and `timestamp` signed with `sign_payload`, as the WebSocket API signs parameters:
/// `name=value` sorted by name.
fn signed(api_key: &str, timestamp: i64, sign_payload: impl Fn(&str) -> String) -> Value {
    let payload = format!("apiKey={api_key}&timestamp={timestamp}");
    json!({"apiKey": api_key, "timestamp": timestamp, "signature": sign_payload(&payload)})
}

fn hmac_signed(sim: &TestSim, credentials: &Credentials) -> Value {
    signed(&credentials.api_key, sim.clock_now(), |payload| {
        sign(&credentials.secret, payload)
    })
}

/// A WebSocket API connection subscribed to the test account; returns it and the answer.
async fn subscribed(sim: &TestSim, query: &str) -> (Socket, Value) {
    let mut socket = connect(sim, &format!("/ws-api/v3{query}")).await;
    let params = hmac_signed(sim, &sim.credentials);
    let answer = call(
        &mut socket,
        "sub",
        "userDataStream.subscribe.signature",
        Some(params),
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    (socket, answer)
}

/// The next event of subscription `subscription_id`.
async fn next_event(socket: &mut Socket, subscription_id: u64) -> Value {
    let message = next_json(socket).await;
    assert_eq!(message["subscriptionId"], subscription_id, "{message}");
    message["event"].clone()
}

/// Asserts that an event has exactly the fields of the documented `executionReport` (without
/// `v`, which only orders expired by self-trade prevention carry), each with the example's JSON
/// type except `N`, the commission asset, which is null only before a trade.
fn assert_execution_report_shape(event: &Value) {
    let documented = fixture("uds-executionReport.event.json")["event"].clone();
    let mut expected: Vec<&String> = documented
        .as_object()
        .unwrap()
        .keys()
        .filter(|key| *key != "v")
        .collect();
    let mut actual: Vec<&String> = event.as_object().unwrap().keys().collect();
    expected.sort();
    actual.sort();
    assert_eq!(actual, expected, "{event}");
    if event["x"] == "NEW" {
        assert_same_shape(event, &documented, &["v"]);
    } else {
        assert!(event["N"].is_string(), "{event}");
    }
}

#[tokio::test]
async fn a_market_order_is_reported_as_binance_reports_it() {
    let sim = TestSim::start().await;
    let (mut socket, answer) = subscribed(&sim, "?returnRateLimits=false").await;
    let mut documented = fixture("wsapi-userDataStream.subscribe.signature.response.json");
    documented["id"] = json!("sub");
    assert_eq!(
        answer,
        json!({"id": "sub", "status": 200, "result": {"subscriptionId": 0}})
    );
    assert_same_shape(&answer, &documented, &[]);

    // 0.08 BTC walks two levels of the book (0.05 at the best ask): two fills.
    let (status, order) = sim
        .signed(
            Method::POST,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "0.08"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let fills = order["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 2, "{order}");

    let new = next_event(&mut socket, 0).await;
    assert_execution_report_shape(&new);
    assert_eq!(
        (new["x"].as_str(), new["X"].as_str()),
        (Some("NEW"), Some("NEW"))
    );
    assert_eq!(new["i"], order["orderId"]);
    assert_eq!(new["c"], order["clientOrderId"]);
    assert_eq!(new["s"], "BTCUSDT");
    assert_eq!(
        (new["S"].as_str(), new["o"].as_str()),
        (Some("BUY"), Some("MARKET"))
    );
    assert_eq!(new["q"], order["origQty"]);
    assert_eq!(new["T"], order["transactTime"]);
    assert_eq!(new["z"], "0.00000000");

    let new_execution_id = new["I"].as_i64().unwrap();
    for (index, fill) in fills.iter().enumerate() {
        let trade = next_event(&mut socket, 0).await;
        assert_execution_report_shape(&trade);
        assert_eq!(trade["x"], "TRADE");
        let status = if index + 1 == fills.len() {
            "FILLED"
        } else {
            "PARTIALLY_FILLED"
        };
        assert_eq!(trade["X"], status);
        assert_eq!(trade["t"], fill["tradeId"]);
        assert_eq!(trade["L"], fill["price"]);
        assert_eq!(trade["l"], fill["qty"]);
        assert_eq!(trade["n"], fill["commission"]);
        assert_eq!(trade["N"], fill["commissionAsset"]);
        assert_eq!(
            decimal(&trade["Y"]),
            decimal(&fill["price"]) * decimal(&fill["qty"])
        );
        assert_eq!(
            trade["I"].as_i64().unwrap(),
            new_execution_id + 1 + index as i64,
            "execution ids rise by one"
        );
        if index + 1 == fills.len() {
            assert_eq!(trade["z"], order["executedQty"]);
            assert_eq!(trade["Z"], order["cummulativeQuoteQty"]);
        }
    }

    let position = next_event(&mut socket, 0).await;
    assert_same_shape(
        &position,
        &fixture("uds-outboundAccountPosition.event.json")["event"],
        &[],
    );
    assert_eq!(position["e"], "outboundAccountPosition");
    let (status, account) = sim.signed(Method::GET, "/api/v3/account", &[]).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let mut reported: Vec<(String, String)> = position["B"]
        .as_array()
        .unwrap()
        .iter()
        .map(|balance| {
            (
                balance["a"].as_str().unwrap().to_owned(),
                balance["f"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    reported.sort();
    let rest: Vec<(String, String)> = ["BTC", "USDT"]
        .iter()
        .map(|asset| {
            let balance = account["balances"]
                .as_array()
                .unwrap()
                .iter()
                .find(|balance| balance["asset"] == *asset)
                .unwrap();
            (
                (*asset).to_owned(),
                balance["free"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        reported, rest,
        "the balances the order changed, as REST shows them"
    );
    assert_quiet(&mut socket, QUIET).await;
}

#[tokio::test]
async fn admin_funding_sends_balance_updates_to_the_accounts_subscribers_only() {
    let sim = TestSim::start().await;
    let (mut socket, _) = subscribed(&sim, "").await;
    let api_key = sim.credentials.api_key.clone();

    let (status, _) = sim
        .admin(
            Method::POST,
            &format!("/accounts/{api_key}/balances"),
            Some(json!({"asset": "USDT", "amount": "250"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let update = next_event(&mut socket, 0).await;
    assert_same_shape(
        &update,
        &fixture("uds-balanceUpdate.event.json")["event"],
        &[],
    );
    assert_eq!(
        (update["a"].as_str(), update["d"].as_str()),
        (Some("USDT"), Some("250.00000000"))
    );
    assert_eq!(update["T"], sim.clock_now());
    let position = next_event(&mut socket, 0).await;
    assert_eq!(
        position["B"],
        json!([{"a": "USDT", "f": "10250.00000000", "l": "0.00000000"}])
    );

    // Replacing the balances: each asset that changed, BTC dropped to nothing.
    let (status, _) = sim
        .admin(
            Method::PUT,
            &format!("/accounts/{api_key}/balances"),
            Some(json!({"balances": {"USDT": "100"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let btc = next_event(&mut socket, 0).await;
    assert_eq!(
        (btc["a"].as_str(), btc["d"].as_str()),
        (Some("BTC"), Some("-0.50000000"))
    );
    let usdt = next_event(&mut socket, 0).await;
    assert_eq!(
        (usdt["a"].as_str(), usdt["d"].as_str()),
        (Some("USDT"), Some("-10150.00000000"))
    );
    let position = next_event(&mut socket, 0).await;
    assert_eq!(
        position["B"],
        json!([
            {"a": "BTC", "f": "0.00000000", "l": "0.00000000"},
            {"a": "USDT", "f": "100.00000000", "l": "0.00000000"},
        ])
    );

    // Another account's funding is not this subscription's business.
    let (_, other) = sim.admin(Method::POST, "/accounts", Some(json!({}))).await;
    let other_key = other["api_key"].as_str().unwrap();
    let (status, _) = sim
        .admin(
            Method::POST,
            &format!("/accounts/{other_key}/balances"),
            Some(json!({"asset": "USDT", "amount": "5"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_quiet(&mut socket, QUIET).await;
}

#[tokio::test]
async fn unsubscribing_ends_the_stream_and_an_account_is_subscribed_once_per_connection() {
    let sim = TestSim::start().await;
    let (mut socket, _) = subscribed(&sim, "?returnRateLimits=false").await;
    let again = call(
        &mut socket,
        "twice",
        "userDataStream.subscribe.signature",
        Some(hmac_signed(&sim, &sim.credentials)),
    )
    .await;
    assert_eq!(
        again["error"],
        json!({"code": -2035, "msg": "User Data Stream subscription already active."})
    );

    let (_, other) = sim.admin(Method::POST, "/accounts", Some(json!({}))).await;
    let other = Credentials {
        api_key: other["api_key"].as_str().unwrap().to_owned(),
        secret: other["secret"].as_str().unwrap().to_owned(),
    };
    let second = call(
        &mut socket,
        "other",
        "userDataStream.subscribe.signature",
        Some(hmac_signed(&sim, &other)),
    )
    .await;
    assert_eq!(second["result"], json!({"subscriptionId": 1}));
    let listed = call(&mut socket, "list", "session.subscriptions", None).await;
    let mut documented = fixture("wsapi-session.subscriptions.response.json");
    documented["id"] = json!("list");
    assert_eq!(
        listed, documented,
        "subscriptions 0 and 1, as in the docs' example"
    );

    let ended = call(
        &mut socket,
        "end",
        "userDataStream.unsubscribe",
        Some(json!({"subscriptionId": 0})),
    )
    .await;
    let mut documented = fixture("wsapi-userDataStream.unsubscribe.response.json");
    documented["id"] = json!("end");
    assert_eq!(ended, documented);
    let terminated = next_json(&mut socket).await;
    assert_same_shape(
        &terminated,
        &fixture("uds-eventStreamTerminated.event.json"),
        &[],
    );
    assert_eq!(terminated["subscriptionId"], 0);
    assert_eq!(terminated["event"]["E"], sim.clock_now());

    // Account 0's events stop; account 1's still come.
    let fund = |api_key: String| {
        let sim = &sim;
        async move {
            let path = format!("/accounts/{api_key}/balances");
            let (status, _) = sim
                .admin(
                    Method::POST,
                    &path,
                    Some(json!({"asset": "BNB", "amount": "1"})),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    };
    fund(sim.credentials.api_key.clone()).await;
    assert_quiet(&mut socket, QUIET).await;
    fund(other.api_key.clone()).await;
    assert_eq!(next_event(&mut socket, 1).await["e"], "balanceUpdate");
    assert_eq!(
        next_event(&mut socket, 1).await["e"],
        "outboundAccountPosition"
    );

    let gone = call(
        &mut socket,
        "gone",
        "userDataStream.unsubscribe",
        Some(json!({"subscriptionId": 0})),
    )
    .await;
    assert_eq!(
        gone["error"],
        json!({"code": -2036, "msg": "User Data Stream subscription not active."})
    );
    let all = call(&mut socket, "all", "userDataStream.unsubscribe", None).await;
    assert_eq!(all["result"], json!({}));
    assert_eq!(
        next_json(&mut socket).await["subscriptionId"],
        1,
        "eventStreamTerminated"
    );
    let status = call(&mut socket, "status", "session.status", None).await;
    assert_eq!(status["result"]["userDataStream"], false);
}

#[tokio::test]
async fn ed25519_keys_log_on_and_subscribe_and_hmac_keys_cannot_log_on() {
    let sim = TestSim::start().await;
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = BASE64.encode(key.verifying_key().as_bytes());
    let (status, created) = sim
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"ed25519_public_key": public})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let api_key = created["api_key"].as_str().unwrap().to_owned();
    let mut socket = connect(&sim, "/ws-api/v3?returnRateLimits=false").await;

    let refused = call(&mut socket, "early", "userDataStream.subscribe", None).await;
    assert_eq!(refused["error"]["code"], -1002, "no logon yet: {refused}");
    let hmac = call(
        &mut socket,
        "hmac",
        "session.logon",
        Some(hmac_signed(&sim, &sim.credentials)),
    )
    .await;
    assert_eq!(
        hmac["error"]["code"], -1002,
        "logon takes Ed25519 keys only: {hmac}"
    );

    let params = signed(&api_key, sim.clock_now(), |payload| {
        sign_ed25519(&key, payload)
    });
    let logon = call(&mut socket, "logon", "session.logon", Some(params)).await;
    let mut documented = fixture("wsapi-session.logon.response.json");
    documented["id"] = json!("logon");
    assert_same_shape(&logon, &documented, &[]);
    assert_eq!(logon["result"]["apiKey"], api_key);
    assert_eq!(logon["result"]["authorizedSince"], sim.clock_now());
    assert_eq!(logon["result"]["userDataStream"], false);

    let subscribed = call(&mut socket, "sub", "userDataStream.subscribe", None).await;
    assert_eq!(subscribed["result"], json!({"subscriptionId": 0}));
    let status = call(&mut socket, "status", "session.status", None).await;
    assert_eq!(status["result"]["userDataStream"], true);
    let path = format!("/accounts/{api_key}/balances");
    sim.admin(
        Method::POST,
        &path,
        Some(json!({"asset": "USDT", "amount": "10"})),
    )
    .await;
    assert_eq!(next_event(&mut socket, 0).await["d"], "10.00000000");
    assert_eq!(
        next_event(&mut socket, 0).await["e"],
        "outboundAccountPosition"
    );

    // Logging out ends the logon's subscription.
    let logout = call(&mut socket, "out", "session.logout", None).await;
    assert_eq!(logout["result"]["apiKey"], Value::Null);
    assert_eq!(
        next_event(&mut socket, 0).await["e"],
        "eventStreamTerminated"
    );
    sim.admin(
        Method::POST,
        &path,
        Some(json!({"asset": "USDT", "amount": "10"})),
    )
    .await;
    assert_quiet(&mut socket, QUIET).await;
}

#[tokio::test]
async fn bad_requests_get_binances_error_answers() {
    let sim = TestSim::start().await;
    let mut socket = connect(&sim, "/ws-api/v3").await;
    send_json(&mut socket, &json!("not an object")).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(
        (answer["id"].clone(), answer["status"].clone()),
        (Value::Null, json!(400))
    );
    assert_eq!(answer["error"]["code"], -1135);

    let mut bad_signature = hmac_signed(&sim, &sim.credentials);
    bad_signature["signature"] = json!(sign(&sim.credentials.secret, "apiKey=x&timestamp=1"));
    let stale = signed(
        &sim.credentials.api_key,
        sim.clock_now() - 60_000,
        |payload| sign(&sim.credentials.secret, payload),
    );
    let mut unknown_param = hmac_signed(&sim, &sim.credentials);
    unknown_param["colour"] = json!("red");
    for (method, params, code) in [
        ("userDataStream.subscribe.signature", bad_signature, -1022),
        (
            "userDataStream.subscribe.signature",
            json!({"timestamp": 1}),
            -1102,
        ),
        ("userDataStream.subscribe.signature", stale, -1021),
        ("userDataStream.subscribe.signature", unknown_param, -1022),
        ("order.place", json!({}), -1020),
        ("session.status", json!({"extra": 1}), -1104),
    ] {
        let answer = call(&mut socket, "bad", method, Some(params)).await;
        assert_eq!(answer["error"]["code"], code, "{method}: {answer}");
        assert_eq!(answer["status"], 400, "{answer}");
        let limits = answer["rateLimits"]
            .as_array()
            .expect("rate limits by default");
        assert_eq!(limits[0]["rateLimitType"], "REQUEST_WEIGHT");
        assert!(limits[0]["count"].as_u64().unwrap() > 0);
    }
    let answer = call(
        &mut socket,
        "time",
        "time",
        Some(json!({"returnRateLimits": false})),
    )
    .await;
    assert_eq!(
        answer,
        json!({"id": "time", "status": 200, "result": {"serverTime": sim.clock_now()}})
    );
}

#[tokio::test]
async fn a_key_revoked_during_a_session_logs_it_out_at_the_next_request() {
    let sim = TestSim::start().await;
    let key = SigningKey::from_bytes(&[9; 32]);
    let public = BASE64.encode(key.verifying_key().as_bytes());
    let (_, created) = sim
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"ed25519_public_key": public})),
        )
        .await;
    let api_key = created["api_key"].as_str().unwrap().to_owned();
    let mut socket = connect(&sim, "/ws-api/v3?returnRateLimits=false").await;
    let params = signed(&api_key, sim.clock_now(), |payload| {
        sign_ed25519(&key, payload)
    });
    assert_eq!(
        call(&mut socket, "logon", "session.logon", Some(params)).await["status"],
        200
    );
    call(&mut socket, "sub", "userDataStream.subscribe", None).await;

    let path = format!("/accounts/{api_key}/key");
    let (status, _) = sim
        .admin(Method::PUT, &path, Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, StatusCode::OK);
    send_json(
        &mut socket,
        &json!({"id": "next", "method": "session.status"}),
    )
    .await;
    let revoked = next_json(&mut socket).await;
    assert_eq!(
        revoked,
        json!({"id": null, "status": 401, "error": {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}})
    );
    assert_eq!(
        next_json(&mut socket).await["event"]["e"],
        "eventStreamTerminated"
    );
    let status = next_json(&mut socket).await;
    assert_eq!(status["id"], "next");
    assert_eq!(status["result"]["apiKey"], Value::Null);
}

#[tokio::test]
async fn requests_count_against_the_ips_weight_and_a_ban_closes_the_connection() {
    let config = ExchangeConfig {
        rate_limits: vec![RateLimit {
            limit_type: RateLimitType::RequestWeight,
            interval: RateLimitInterval::Minute,
            interval_num: 1,
            limit: 10,
        }],
        ..common::test_config()
    };
    let sim = TestSim::start_with(config).await;
    // Connecting weighs 2, each session.status 2: four fit in 10.
    let mut socket = connect(&sim, "/ws-api/v3").await;
    for _ in 0..4 {
        let answer = call(&mut socket, "ok", "session.status", None).await;
        assert_eq!(answer["status"], 200, "{answer}");
    }
    let limited = call(&mut socket, "limited", "session.status", None).await;
    assert_eq!(limited["status"], 429, "{limited}");
    assert_eq!(limited["error"]["code"], -1003);
    let retry_after = limited["error"]["data"]["retryAfter"].as_i64().unwrap();
    assert!(retry_after > sim.clock_now(), "{limited}");
    assert_eq!(limited["rateLimits"][0]["count"], 12);

    // Sending again before retryAfter gets the IP banned, and the connection closed.
    let banned = call(&mut socket, "banned", "session.status", None).await;
    assert_eq!(banned["status"], 418, "{banned}");
    let frame = ws::ending(&mut socket).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
}
