//! Ed25519 API keys over loopback HTTP: an account registered through the admin API with an
//! Ed25519 public key (a key pair generated here) signs with base64 signatures, percent-encoded
//! in the query string or the body; a wrong, altered or re-cased signature is -1022.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{TestSim, encode};
use ed25519_dalek::SigningKey;
use reqwest::{Method, StatusCode};
use serde_json::json;

use sim::sign_ed25519;

/// A key pair from OS randomness (std's hasher seeds), fresh for each test run.
fn generate_key_pair() -> SigningKey {
    use std::hash::{BuildHasher, RandomState};
    let state = RandomState::new();
    let mut seed = [0u8; 32];
    for (index, chunk) in seed.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&state.hash_one(index).to_le_bytes());
    }
    SigningKey::from_bytes(&seed)
}

/// Registers `key`'s public half through the admin API; returns the new API key.
async fn register(sim: &TestSim, key: &SigningKey) -> String {
    let public = BASE64.encode(key.verifying_key().as_bytes());
    let (status, created) = sim
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"balances": {"USDT": "1000"}, "ed25519_public_key": public})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(created.get("secret").is_none(), "no HMAC secret: {created}");
    created["api_key"].as_str().unwrap().to_owned()
}

fn percent_encoded(signature: &str) -> String {
    form_urlencoded::byte_serialize(signature.as_bytes()).collect()
}

#[tokio::test]
async fn ed25519_signed_requests_are_accepted_in_the_query_or_the_body() {
    let sim = TestSim::start().await;
    let key = generate_key_pair();
    let api_key = register(&sim, &key).await;

    let timestamp = sim.clock_now().to_string();
    let query = encode(&[("timestamp", &timestamp)]);
    let signature = percent_encoded(&sign_ed25519(&key, &query));
    let (status, account) = sim
        .send(
            Method::GET,
            "/api/v3/account",
            &format!("{query}&signature={signature}"),
            "",
            Some(&api_key),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["balances"][0]["asset"], "USDT");

    let body = encode(&[
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "MARKET"),
        ("quoteOrderQty", "100"),
        ("timestamp", &timestamp),
    ]);
    let signature = percent_encoded(&sign_ed25519(&key, &body));
    let (status, order) = sim
        .send(
            Method::POST,
            "/api/v3/order",
            "",
            &format!("{body}&signature={signature}"),
            Some(&api_key),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "FILLED");
}

#[tokio::test]
async fn a_wrong_altered_or_recased_ed25519_signature_is_1022() {
    let sim = TestSim::start().await;
    let key = generate_key_pair();
    let api_key = register(&sim, &key).await;
    let timestamp = sim.clock_now().to_string();
    let query = encode(&[("timestamp", &timestamp)]);
    let good = sign_ed25519(&key, &query);
    let other_key = sign_ed25519(&generate_key_pair(), &query);
    let recased: String = good
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    let altered_payload = sign_ed25519(&key, &format!("{query}&recvWindow=5000"));
    for bad in [
        other_key,
        recased,
        altered_payload,
        "AAAA".to_owned(),
        "%%%".to_owned(),
    ] {
        let (status, error) = sim
            .send(
                Method::GET,
                "/api/v3/account",
                &format!("{query}&signature={}", percent_encoded(&bad)),
                "",
                Some(&api_key),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
        assert_eq!(error["code"], -1022, "{bad}");
    }
    // An HMAC signature does not sign for an Ed25519 key either.
    let hmac = sim::sign("anything", &query);
    let (_, error) = sim
        .send(
            Method::GET,
            "/api/v3/account",
            &format!("{query}&signature={hmac}"),
            "",
            Some(&api_key),
        )
        .await;
    assert_eq!(error["code"], -1022);
}

#[tokio::test]
async fn the_admin_api_refuses_a_malformed_public_key() {
    let sim = TestSim::start().await;
    let (status, answer) = sim
        .admin(
            Method::POST,
            "/accounts",
            Some(json!({"ed25519_public_key": "c2hvcnQ="})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("ed25519_public_key"),
        "{answer}"
    );
}
