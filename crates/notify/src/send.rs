//! One attempt of one delivery over HTTP: a webhook POST signed with HMAC-SHA256, or a Telegram
//! `sendMessage`. What the attempt came to is an [`Attempt`]; nothing here touches the database.
//!
//! A webhook request carries:
//! - `X-Spotbot-Signature: v1=<hex>`: HMAC-SHA256, keyed with the channel's signing secret (its
//!   UTF-8 bytes, `whsec_…` included), of `<timestamp>.<body>`; the timestamp is in
//!   `X-Spotbot-Timestamp` (seconds since the epoch), so a receiver can refuse old replays;
//! - `Idempotency-Key` and `X-Spotbot-Delivery`: the same for every attempt of one notification,
//!   for the receiver to drop repeats (delivery is at least once);
//! - `X-Spotbot-Event`: `trade`, `order_in_doubt`, `bot_error`, `daily_summary` or `test`.
//!
//! Any 2xx accepts it. Errors never hold the request's URL: a Telegram URL holds the bot's token,
//! and a webhook URL may hold the receiver's.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use sha2::Sha256;

/// The header holding the signature.
pub const SIGNATURE_HEADER: &str = "x-spotbot-signature";
/// The header holding the signed timestamp.
pub const TIMESTAMP_HEADER: &str = "x-spotbot-timestamp";
/// The header holding the idempotency key (also sent as `Idempotency-Key`).
pub const DELIVERY_HEADER: &str = "x-spotbot-delivery";
/// The header holding the event.
pub const EVENT_HEADER: &str = "x-spotbot-event";

/// The most of a receiver's error answer kept in the delivery log.
const ANSWER_SHOWN_CHARS: usize = 200;

/// The most of an answer's body read: Telegram's answers are a few hundred bytes, and a receiver
/// that streams gigabytes back must not make the server hold them.
const ANSWER_READ_BYTES: usize = 64 * 1024;

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver accepted it (its HTTP status).
    Delivered(u16),
    /// It failed.
    Failed {
        /// Why, for the user's delivery log (never with the URL).
        error: String,
        /// The receiver's HTTP status, when it answered.
        status: Option<u16>,
        /// How long the receiver asked us to wait (`Retry-After`, Telegram's `retry_after`).
        retry_after: Option<Duration>,
    },
}

impl Attempt {
    fn failed(error: impl Into<String>, status: Option<u16>) -> Attempt {
        Attempt::Failed {
            error: error.into(),
            status,
            retry_after: None,
        }
    }

    /// The attempt that could not reach the receiver: `error` without its URL.
    fn unreachable(error: reqwest::Error) -> Attempt {
        let what = if error.is_timeout() {
            "no answer in time"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "the request failed"
        };
        // The source chain says why (refused, resolves to no public address, ...).
        let mut cause = String::new();
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            cause = inner.to_string();
            source = inner.source();
        }
        let error = if cause.is_empty() {
            what.to_owned()
        } else {
            format!("{what}: {cause}")
        };
        Attempt::failed(error, None)
    }
}

/// `HMAC-SHA256(secret, "<timestamp>.<body>")` in hex: what `X-Spotbot-Signature` holds after
/// `v1=`.
pub fn signature(secret: &[u8], timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// What a webhook attempt sends.
pub struct WebhookRequest<'a> {
    /// The receiver.
    pub url: &'a str,
    /// The signing secret.
    pub secret: &'a [u8],
    /// The JSON body.
    pub body: &'a [u8],
    /// The idempotency key.
    pub key: &'a str,
    /// The event's name.
    pub event: &'a str,
    /// Now, in seconds since the epoch.
    pub timestamp_secs: i64,
}

/// POSTs `request` with `client`.
pub async fn webhook(client: &reqwest::Client, request: WebhookRequest<'_>) -> Attempt {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let signature = signature(request.secret, request.timestamp_secs, request.body);
    for (name, value) in [
        (SIGNATURE_HEADER, format!("v1={signature}")),
        (TIMESTAMP_HEADER, request.timestamp_secs.to_string()),
        (DELIVERY_HEADER, request.key.to_owned()),
        ("idempotency-key", request.key.to_owned()),
        (EVENT_HEADER, request.event.to_owned()),
    ] {
        match HeaderValue::from_str(&value) {
            Ok(value) => {
                headers.insert(name, value);
            }
            Err(_) => return Attempt::failed(format!("cannot send the header {name}"), None),
        }
    }
    let answer = client
        .post(request.url)
        .headers(headers)
        .body(request.body.to_vec())
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => return Attempt::unreachable(error),
    };
    let status = response.status();
    if status.is_success() {
        return Attempt::Delivered(status.as_u16());
    }
    let retry_after = retry_after(response.headers());
    let answer = answer_start(response).await;
    Attempt::Failed {
        error: format!("the receiver answered HTTP {status}{}", shown(&answer)),
        status: Some(status.as_u16()),
        retry_after,
    }
}

/// Sends `text` to `chat_id` with the Telegram bot `token` through the Bot API at `api_url`.
pub async fn telegram(
    client: &reqwest::Client,
    api_url: &str,
    token: &str,
    chat_id: &str,
    text: &str,
) -> Attempt {
    let url = format!("{}/bot{token}/sendMessage", api_url.trim_end_matches('/'));
    let body = serde_json::json!({
        "chat_id": chat_id,
        "text": text,
        "disable_web_page_preview": true,
    });
    let answer = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(error) => return Attempt::unreachable(error),
    };
    let status = response.status();
    let text = answer_start(response).await;
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if status.is_success() && answer["ok"] == serde_json::Value::Bool(true) {
        return Attempt::Delivered(status.as_u16());
    }
    let description = answer["description"]
        .as_str()
        .map(|text| format!(": {}", clip(text)))
        .unwrap_or_else(|| shown(&text));
    let retry_after = answer["parameters"]["retry_after"]
        .as_u64()
        .map(Duration::from_secs);
    let error = match status {
        StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => {
            format!("Telegram refused the bot token (HTTP {status}){description}")
        }
        _ => format!("Telegram answered HTTP {status}{description}"),
    };
    Attempt::Failed {
        error,
        status: Some(status.as_u16()),
        retry_after,
    }
}

/// The first [`ANSWER_READ_BYTES`] of `response`'s body as text (what arrived, if it fails
/// half-way); the rest is never read.
async fn answer_start(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < ANSWER_READ_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = ANSWER_READ_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The `Retry-After` seconds of an answer.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// `": <answer>"` clipped, or nothing for an empty answer.
fn shown(answer: &str) -> String {
    let answer = answer.trim();
    if answer.is_empty() {
        String::new()
    } else {
        format!(": {}", clip(answer))
    }
}

/// `text` without control characters, at most [`ANSWER_SHOWN_CHARS`].
fn clip(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ANSWER_SHOWN_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Worked out with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature(b"whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn answers_are_clipped_and_cleaned() {
        assert_eq!(shown("  "), "");
        assert_eq!(shown("bad\nthing"), ": bad thing");
        assert_eq!(clip(&"x".repeat(500)).len(), ANSWER_SHOWN_CHARS);
    }
}
