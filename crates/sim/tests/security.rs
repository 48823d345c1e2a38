//! SIGNED-request security over loopback HTTP: the API-key header, HMAC signatures over query
//! string + body (the docs' test vectors included), and the timestamp/recvWindow rule.

mod common;

use common::{TestSim, code_and_msg, encode, starting_balances};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use sim::{Account, Credentials, STANDARD_COMMISSION_RATE, sign};

/// The API key and secret of the docs' HMAC example (reference § 2).
fn doc_credentials() -> Credentials {
    Credentials {
        api_key: "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A".into(),
        secret: "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j".into(),
    }
}

async fn account_at(sim: &TestSim, timestamp: i64, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let timestamp = timestamp.to_string();
    let mut params = extra.to_vec();
    params.push(("timestamp", &timestamp));
    sim.signed_raw(
        Method::GET,
        "/api/v3/account",
        &encode(&params),
        "",
        &sim.credentials,
    )
    .await
}

#[tokio::test]
async fn the_docs_hmac_vectors_are_accepted_over_http() {
    let sim = TestSim::start().await;
    sim.exchange().lock().add_account(Account::new(
        doc_credentials(),
        starting_balances(),
        STANDARD_COMMISSION_RATE,
    ));
    let key = doc_credentials().api_key;
    let ascii = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    let non_ascii = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    sim.clock.set_ms(1_499_827_319_559);
    for (payload, signature) in [
        (
            ascii,
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
        ),
        (
            non_ascii,
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
        ),
    ] {
        let query = format!("{payload}&signature={signature}");
        let (status, error) = sim
            .send(Method::POST, "/api/v3/order", &query, "", Some(&key))
            .await;
        // The signature and the timing pass; the simulator then refuses the LIMIT order itself.
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            code_and_msg(&error),
            (-1116, "Invalid orderType."),
            "{payload}"
        );
    }
}

#[tokio::test]
async fn a_wrong_signature_is_1022() {
    let sim = TestSim::start().await;
    let query = encode(&[("timestamp", &sim.clock_now().to_string())]);
    let forged = Credentials {
        api_key: sim.credentials.api_key.clone(),
        secret: "not-the-secret".into(),
    };
    let (status, error) = sim
        .signed_raw(Method::GET, "/api/v3/account", &query, "", &forged)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        code_and_msg(&error),
        (-1022, "Signature for this request is not valid.")
    );

    // Changing a signed parameter after signing breaks the signature too.
    let signature = sign(&sim.credentials.secret, &query);
    let tampered = format!("{query}&omitZeroBalances=true&signature={signature}");
    let (_, error) = sim
        .send(
            Method::GET,
            "/api/v3/account",
            &tampered,
            "",
            Some(&sim.credentials.api_key),
        )
        .await;
    assert_eq!(error["code"], -1022);
}

#[tokio::test]
async fn unknown_and_malformed_api_keys_are_401() {
    let sim = TestSim::start().await;
    let query = encode(&[("timestamp", &sim.clock_now().to_string())]);
    let stranger = Credentials::generate();
    let (status, error) = sim
        .signed_raw(Method::GET, "/api/v3/account", &query, "", &stranger)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        code_and_msg(&error),
        (-2015, "Invalid API-key, IP, or permissions for action.")
    );

    for key in [None, Some("has spaces"), Some("")] {
        let (status, error) = sim
            .send(Method::GET, "/api/v3/account", &query, "", key)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(
            code_and_msg(&error),
            (-2014, "API-key format invalid."),
            "{key:?}"
        );
    }
}

#[tokio::test]
async fn missing_signing_parameters_are_1102() {
    let sim = TestSim::start().await;
    let key = Some(sim.credentials.api_key.as_str());
    let (_, error) = sim
        .send(
            Method::GET,
            "/api/v3/account",
            &format!("timestamp={}", sim.clock_now()),
            "",
            key,
        )
        .await;
    assert_eq!(
        code_and_msg(&error),
        (
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
        )
    );
    let (_, error) = sim
        .signed_raw(Method::GET, "/api/v3/account", "", "", &sim.credentials)
        .await;
    assert_eq!(
        code_and_msg(&error),
        (
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        )
    );
    let (_, error) = account_at(&sim, sim.clock_now(), &[("recvWindow", "60001")]).await;
    assert_eq!(
        code_and_msg(&error),
        (
            -1102,
            "'recvWindow' contains unexpected value. Cannot be greater than 60000."
        )
    );
}

#[tokio::test]
async fn the_timestamp_must_be_within_the_recv_window_and_under_a_second_ahead() {
    let sim = TestSim::start().await;
    let now = sim.clock_now();
    let outside = (
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    );
    let ahead = (
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    );

    assert_eq!(
        account_at(&sim, now - 5_000, &[]).await.0,
        StatusCode::OK,
        "the default window is 5000 ms"
    );
    let (status, error) = account_at(&sim, now - 5_001, &[]).await;
    assert_eq!(
        (status, code_and_msg(&error)),
        (StatusCode::BAD_REQUEST, outside)
    );
    assert_eq!(
        account_at(&sim, now - 9_000, &[("recvWindow", "10000")])
            .await
            .0,
        StatusCode::OK
    );
    let (_, error) = account_at(&sim, now - 6_001, &[("recvWindow", "6000.346")]).await;
    assert_eq!(code_and_msg(&error), outside);

    assert_eq!(account_at(&sim, now + 999, &[]).await.0, StatusCode::OK);
    let (status, error) = account_at(&sim, now + 1_000, &[]).await;
    assert_eq!(
        (status, code_and_msg(&error)),
        (StatusCode::BAD_REQUEST, ahead)
    );

    // Microsecond timestamps are accepted, and the same rule applies to them.
    assert_eq!(
        account_at(&sim, now * 1_000 - 4_999_999, &[]).await.0,
        StatusCode::OK
    );
    let (_, error) = account_at(&sim, now * 1_000 - 5_000_001, &[]).await;
    assert_eq!(code_and_msg(&error), outside);

    // The same signed request goes stale as the server's clock moves on.
    sim.clock.advance_ms(5_001);
    let (_, error) = account_at(&sim, now, &[]).await;
    assert_eq!(code_and_msg(&error), outside);
}

#[tokio::test]
async fn parameters_may_be_split_between_query_and_body_and_the_query_wins() {
    let sim = TestSim::start().await;
    let timestamp = sim.clock_now().to_string();
    let query = encode(&[("symbol", "BTCUSDT"), ("side", "BUY")]);
    let body = encode(&[
        ("symbol", "ETHUSDT"),
        ("type", "MARKET"),
        ("quantity", "0.001"),
        ("timestamp", &timestamp),
    ]);
    let (status, order) = sim
        .signed_raw(
            Method::POST,
            "/api/v3/order",
            &query,
            &body,
            &sim.credentials,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["symbol"], "BTCUSDT");
}
