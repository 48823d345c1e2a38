//! Request signatures, as Binance computes them (reference § 2), over the percent-encoded query
//! string concatenated with the body, without the `signature` parameter itself: HMAC-SHA256 (the
//! hex digest, keyed with the secret) or Ed25519 (the base64 signature, which the client
//! percent-encodes in the request; base64 is case-sensitive).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The hex signature of `payload` under `secret` (lower case).
pub fn sign(secret: &str, payload: &str) -> String {
    hex::encode(keyed_mac(secret, payload).finalize().into_bytes())
}

/// Whether `signature` (hex, either case) signs `payload` under `secret`. The comparison takes
/// the same time wherever the first difference is.
pub fn verify(secret: &str, payload: &str, signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    keyed_mac(secret, payload).verify_slice(&expected).is_ok()
}

/// The base64 Ed25519 signature of `payload` under `key` (send it percent-encoded).
pub fn sign_ed25519(key: &SigningKey, payload: &str) -> String {
    BASE64.encode(key.sign(payload.as_bytes()).to_bytes())
}

/// Whether `signature` (base64, already percent-decoded) is `key`'s Ed25519 signature of `payload`.
pub fn verify_ed25519(key: &VerifyingKey, payload: &str, signature: &str) -> bool {
    let Ok(bytes) = BASE64.decode(signature.as_bytes()) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify(payload.as_bytes(), &signature).is_ok()
}

/// The signed payload of a request: its raw query string and raw body with any `signature=...`
/// pair removed, concatenated with no separator.
pub fn signed_payload(raw_query: &str, raw_body: &str) -> String {
    let mut payload = without_signature(raw_query);
    payload.push_str(&without_signature(raw_body));
    payload
}

fn without_signature(encoded: &str) -> String {
    encoded
        .split('&')
        .filter(|pair| pair.split('=').next() != Some("signature"))
        .collect::<Vec<_>>()
        .join("&")
}

fn keyed_mac(secret: &str, payload: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(payload.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn the_docs_ascii_vector_signs_and_verifies() {
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let expected = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        assert_eq!(sign(SECRET, payload), expected);
        assert!(verify(SECRET, payload, expected));
        assert!(
            verify(SECRET, payload, &expected.to_uppercase()),
            "hex is case-insensitive"
        );
        assert!(!verify(SECRET, &payload.replace("0.1", "0.2"), expected));
    }

    #[test]
    fn the_docs_non_ascii_vector_signs_the_percent_encoded_payload() {
        let encoded_symbol: String =
            form_urlencoded::byte_serialize("１２３４５６".as_bytes()).collect();
        let payload = format!(
            "symbol={encoded_symbol}&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(
            payload,
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(
            sign(SECRET, &payload),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
    }

    #[test]
    fn ed25519_signatures_verify_only_unchanged_and_in_their_case() {
        let key = SigningKey::from_bytes(&[42; 32]);
        let payload = "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=1&timestamp=1668481559918";
        let signature = sign_ed25519(&key, payload);
        let public = key.verifying_key();
        assert!(verify_ed25519(&public, payload, &signature));
        assert!(!verify_ed25519(
            &public,
            &payload.replace('1', "2"),
            &signature
        ));
        let flipped: String = signature
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        assert!(
            !verify_ed25519(&public, payload, &flipped),
            "base64 is case-sensitive"
        );
        assert!(!verify_ed25519(&public, payload, "not base64"));
        assert!(!verify_ed25519(&public, payload, &BASE64.encode([0; 10])));
    }

    #[test]
    fn the_payload_is_query_then_body_without_the_signature() {
        assert_eq!(signed_payload("a=1&signature=ff", "b=2"), "a=1b=2");
        assert_eq!(signed_payload("", "a=1&signature=ff"), "a=1");
        assert_eq!(signed_payload("signature=ff&a=1", ""), "a=1");
        assert!(!verify(SECRET, "a=1", "not hex"));
    }
}
