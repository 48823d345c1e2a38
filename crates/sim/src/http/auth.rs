//! SIGNED endpoints (reference § 2): the `X-MBX-APIKEY` header and the key's state (live, and
//! the client's IP on its whitelist), the `signature` over query string + body (HMAC-SHA256 or
//! Ed25519, whichever key the account registered), the `timestamp`/`recvWindow` rule, and the
//! key's permission for the endpoint's security type, checked in that order.
//!
//! A revoked key, an IP off the whitelist and a missing permission are all -2015 with HTTP 401,
//! the answer to a key the exchange never issued: Binance does not say which check failed.

use std::net::IpAddr;

use axum::http::HeaderMap;
use rust_decimal::Decimal;

use crate::account::SignatureKey;
use crate::error::ApiError;
use crate::exchange::Exchange;
use crate::http::params::Params;
use crate::signing::{signed_payload, verify, verify_ed25519};

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// The longest API key accepted (Binance's are 64 characters).
const MAX_API_KEY_LENGTH: usize = 64;
/// `recvWindow` when not sent, ms.
const DEFAULT_RECV_WINDOW_MS: i64 = 5_000;
/// The largest `recvWindow` accepted, ms.
const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// How far ahead of the server a timestamp may be, µs.
const MAX_AHEAD_US: i64 = 1_000_000;
/// Timestamps at or above this are in microseconds (16 digits), below it in milliseconds.
const FIRST_MICROSECOND_TIMESTAMP: i64 = 1_000_000_000_000_000;

/// A request that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The account's API key.
    pub api_key: String,
    /// `timestamp + recvWindow` in ms: the matching engine refuses the request after it.
    pub deadline_ms: i64,
}

/// What a SIGNED endpoint asks of the key beyond a valid signature (Binance's security types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityType {
    /// `USER_DATA`: reads the account's data; any live key may.
    UserData,
    /// `TRADE`: places orders; only a key with trading enabled may ("An API key cannot TRADE by
    /// default", reference § 2).
    Trade,
}

/// Checks the API key (known, live, `peer` on its whitelist), the signature, the timing and the
/// key's permission for `security` of a SIGNED request, reading `signature`, `timestamp` and
/// `recvWindow` from `params`.
pub fn authenticate(
    exchange: &Exchange,
    headers: &HeaderMap,
    peer: IpAddr,
    security: SecurityType,
    raw_query: &str,
    raw_body: &str,
    params: &mut Params,
) -> Result<Signed, ApiError> {
    let api_key = headers
        .get(API_KEY_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|key| {
            (1..=MAX_API_KEY_LENGTH).contains(&key.len())
                && key.bytes().all(|byte| byte.is_ascii_alphanumeric())
        })
        .ok_or_else(ApiError::api_key_format_invalid)?;
    let account = exchange
        .account(api_key)
        .filter(|account| account.key_accepts(peer))
        .ok_or_else(ApiError::api_key_rejected)?;

    let signature = params.required_text("signature")?;
    let timestamp = params.required_long("timestamp")?;
    let recv_window_us = recv_window_us(params)?;
    let payload = signed_payload(raw_query, raw_body);
    let valid = match &account.signature_key {
        SignatureKey::Hmac(secret) => verify(secret, &payload, &signature),
        SignatureKey::Ed25519(key) => verify_ed25519(key, &payload, &signature),
    };
    if !valid {
        return Err(ApiError::invalid_signature());
    }

    let timestamp_us = if timestamp >= FIRST_MICROSECOND_TIMESTAMP {
        timestamp
    } else {
        timestamp.saturating_mul(1_000)
    };
    let now_us = exchange.now_ms().saturating_mul(1_000);
    if timestamp_us >= now_us.saturating_add(MAX_AHEAD_US) {
        return Err(ApiError::timestamp_ahead_of_server());
    }
    if now_us - timestamp_us > recv_window_us {
        return Err(ApiError::timestamp_outside_recv_window());
    }
    // Checked last, so that only a client holding the key's secret learns what the key may do.
    if security == SecurityType::Trade && !account.can_trade {
        return Err(ApiError::api_key_rejected());
    }
    Ok(Signed {
        api_key: api_key.to_owned(),
        deadline_ms: (timestamp_us + recv_window_us).div_euclid(1_000),
    })
}

/// `recvWindow` in µs: milliseconds with up to 3 decimals, at most 60000.
fn recv_window_us(params: &mut Params) -> Result<i64, ApiError> {
    let Some(window_ms) = params.decimal("recvWindow")? else {
        return Ok(DEFAULT_RECV_WINDOW_MS * 1_000);
    };
    if window_ms.normalize().scale() > 3 {
        return Err(ApiError::too_much_precision("recvWindow"));
    }
    if window_ms > Decimal::from(MAX_RECV_WINDOW_MS) {
        return Err(ApiError::parameter_too_large(
            "recvWindow",
            &MAX_RECV_WINDOW_MS.to_string(),
        ));
    }
    // At most 60000 with 3 decimals: exact in µs and far inside i64.
    let window_us = window_ms * Decimal::from(1_000);
    Ok(i64::try_from(window_us).unwrap_or(MAX_RECV_WINDOW_MS * 1_000))
}
