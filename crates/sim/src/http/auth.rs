//! SIGNED endpoints (reference § 2): the `X-MBX-APIKEY` header and the key's state (live, and
//! the client's IP on its whitelist), the `signature` over query string + body (HMAC-SHA256 or
//! Ed25519, whichever key the account registered), the `timestamp`/`recvWindow` rule, and the
//! key's permission for the endpoint's security type, checked in that order.
//!
//! A revoked key, an IP off the whitelist and a missing permission are all -2015 with HTTP 401,
//! the answer to a key the exchange never issued: Binance does not say which check failed.
//!
//! The timing rule on a market faster than real time: `recvWindow` and the 1 second a
//! `timestamp` may run ahead are durations of real time, the time a request spends between its
//! signing and the exchange (Binance: "for how long the request stays valid"). `timestamp` and
//! the server's time are market time, which runs `speed` times faster (`spotbot sim --speed`),
//! so both durations are multiplied by the speed before they are compared with market
//! timestamps: at 60x the default 5000 ms window admits a request signed up to 300 s of market
//! time (5 s of real time) ago, and a timestamp up to 60 s of market time (1 s of real time)
//! ahead. Without the scaling, 100 ms of real transit at 60x would be 6 s of market time and
//! refused with -1021, although the client did nothing wrong. A request older than its window
//! in real time is still refused, both here and again just before the order is matched (the
//! deadline in [`Signed`]). At speed 1 and on a manual clock (which moves only when set) the
//! durations are used as sent, exactly as Binance does.

use std::net::IpAddr;

use axum::http::HeaderMap;
use rust_decimal::Decimal;

use crate::account::SignatureKey;
use crate::error::ApiError;
use crate::exchange::Exchange;
use crate::http::params::{FIRST_MICROSECOND_TIMESTAMP, Params};
use crate::signing::{signed_payload, verify, verify_ed25519};

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// The longest API key accepted (Binance's are 64 characters).
const MAX_API_KEY_LENGTH: usize = 64;
/// `recvWindow` when not sent, ms.
const DEFAULT_RECV_WINDOW_MS: i64 = 5_000;
/// The largest `recvWindow` accepted, ms.
const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// How far ahead of the server a timestamp may be, in µs of real time.
const MAX_AHEAD_US: i64 = 1_000_000;

/// A request that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The account's API key.
    pub api_key: String,
    /// `timestamp + recvWindow` in ms of market time (the window scaled by the market's speed,
    /// see the module doc): the matching engine refuses the request after it.
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
    let window = TimingWindow::new(recv_window_us, exchange.clock().speed());
    let deadline_ms = window.check(timestamp_us, exchange.now_ms().saturating_mul(1_000))?;
    // Checked last, so that only a client holding the key's secret learns what the key may do.
    if security == SecurityType::Trade && !account.can_trade {
        return Err(ApiError::api_key_rejected());
    }
    Ok(Signed {
        api_key: api_key.to_owned(),
        deadline_ms,
    })
}

/// The `timestamp` rule of one request in market time: its `recvWindow` and the tolerance for
/// timestamps ahead of the server, both real-time durations scaled by the market's speed (see
/// the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimingWindow {
    /// How old a timestamp may be, µs of market time.
    recv_window_us: i64,
    /// A timestamp this far ahead of the server or more is refused, µs of market time.
    max_ahead_us: i64,
}

impl TimingWindow {
    /// The window of a request with `recv_window_us` (real time) on a market running `speed`
    /// times faster than real time; 0 (a manual clock) counts as 1.
    fn new(recv_window_us: i64, speed: u32) -> TimingWindow {
        let speed = i64::from(speed.max(1));
        TimingWindow {
            recv_window_us: recv_window_us.saturating_mul(speed),
            max_ahead_us: MAX_AHEAD_US.saturating_mul(speed),
        }
    }

    /// Checks `timestamp_us` against the server's `now_us` as Binance does on receipt (-1021
    /// when too far ahead or older than the window); returns the deadline in ms after which the
    /// matching engine refuses the request.
    fn check(self, timestamp_us: i64, now_us: i64) -> Result<i64, ApiError> {
        if timestamp_us >= now_us.saturating_add(self.max_ahead_us) {
            return Err(ApiError::timestamp_ahead_of_server());
        }
        if now_us.saturating_sub(timestamp_us) > self.recv_window_us {
            return Err(ApiError::timestamp_outside_recv_window());
        }
        Ok(timestamp_us
            .saturating_add(self.recv_window_us)
            .div_euclid(1_000))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_US: i64 = 1_749_988_830_000_000;
    const DEFAULT_WINDOW_US: i64 = DEFAULT_RECV_WINDOW_MS * 1_000;

    fn code_and_msg(result: Result<i64, ApiError>) -> (i32, String) {
        let error = result.unwrap_err();
        (error.code, error.msg)
    }

    #[test]
    fn in_real_time_the_window_and_the_tolerance_are_used_as_sent() {
        for speed in [0, 1] {
            let window = TimingWindow::new(DEFAULT_WINDOW_US, speed);
            assert_eq!(window.check(NOW_US - 5_000_000, NOW_US), Ok(NOW_US / 1_000));
            assert_eq!(
                code_and_msg(window.check(NOW_US - 5_000_001, NOW_US)).1,
                "Timestamp for this request is outside of the recvWindow."
            );
            assert!(window.check(NOW_US + 999_999, NOW_US).is_ok());
            assert_eq!(
                code_and_msg(window.check(NOW_US + 1_000_000, NOW_US)),
                (
                    -1021,
                    "Timestamp for this request was 1000ms ahead of the server's time.".into()
                )
            );
        }
    }

    #[test]
    fn on_a_faster_market_both_durations_scale_with_the_speed() {
        let window = TimingWindow::new(DEFAULT_WINDOW_US, 60);
        // 100 ms of real transit at 60x is 6 s of market time: well inside 5 s of real time.
        assert!(window.check(NOW_US - 6_000_000, NOW_US).is_ok());
        let signed_at = NOW_US - 300_000_000;
        assert_eq!(
            window.check(signed_at, NOW_US),
            Ok(NOW_US / 1_000),
            "5 s of real time is 300 s of market time, and the deadline is at its end"
        );
        assert_eq!(
            code_and_msg(window.check(signed_at - 1, NOW_US)).0,
            -1021,
            "older than 5 s of real time"
        );
        assert!(window.check(NOW_US + 59_999_999, NOW_US).is_ok());
        assert_eq!(
            code_and_msg(window.check(NOW_US + 60_000_000, NOW_US)).0,
            -1021,
            "1 s of real time ahead"
        );
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let window = TimingWindow::new(MAX_RECV_WINDOW_MS * 1_000, 3_600);
        assert_eq!(code_and_msg(window.check(0, NOW_US)).0, -1021);
        assert_eq!(code_and_msg(window.check(i64::MAX, NOW_US)).0, -1021);
    }
}
