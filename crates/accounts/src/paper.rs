//! [`PaperAccounts`]: opening and resetting users' accounts on the paper exchange, a `spotbot
//! sim` (built in, or standalone at a URL), through its admin API (`/_sim`, which it serves to
//! loopback clients, and to others that send its admin token: a fleet's workers on other
//! machines).
//!
//! A paper account's key is an Ed25519 key pair made here: only the public key crosses the wire,
//! and the private key goes straight into the vault like any user's key (Binance recommends
//! Ed25519 keys; the simulator verifies them as Binance does).
//!
//! Written against the simulator's admin API with `reqwest` by hand: it is spotbot's own API, so
//! no client crate exists for it.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The DER header of an Ed25519 PKCS#8 v1 private key (RFC 8410), before the 32 seed bytes.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// How long one admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an unexpected answer goes into an error message.
const ANSWER_EXCERPT_CHARS: usize = 200;

/// The starting balance of a paper account when none is configured: 10,000 USDT.
pub fn default_starting_balances() -> BTreeMap<String, Decimal> {
    BTreeMap::from([("USDT".to_owned(), Decimal::from(10_000))])
}

/// Why the paper exchange did not open or reset an account.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PaperError {
    /// The paper exchange could not be reached.
    #[error(
        "cannot reach the paper exchange's admin API at {url}: {reason} (is `spotbot sim` running there?)"
    )]
    Unreachable {
        /// The request's URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// It refused its admin API to this process: not on its machine, and without (or with
    /// another) admin token.
    #[error(
        "the paper exchange's admin API at {url} refused {what} (HTTP {status}): it answers the clients that send its admin token (or, started with --open-admin, loopback clients); give this process the token `spotbot sim` was started with or printed, as SPOTBOT_PAPER_ADMIN_TOKEN or [venues.paper] admin_token"
    )]
    Forbidden {
        /// The admin API's URL.
        url: String,
        /// What was asked.
        what: AdminRequest,
        /// Its HTTP status (401 or 403).
        status: u16,
    },
    /// It answered, but not with success.
    #[error("the paper exchange refused {what}: HTTP {status}: {message}")]
    Refused {
        /// What was asked.
        what: AdminRequest,
        /// Its HTTP status.
        status: u16,
        /// Its reason.
        message: String,
    },
    /// It has no account with this API key (it was restarted without its state file).
    #[error("the paper exchange has no account with this API key")]
    UnknownAccount,
}

/// What was asked of the paper exchange's admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRequest {
    /// To open an account.
    Open,
    /// To reset an account's balances.
    Reset,
}

impl std::fmt::Display for AdminRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminRequest::Open => "to open an account",
            AdminRequest::Reset => "to reset the account",
        })
    }
}

/// A paper account just opened: its API key, and its private key as PKCS#8 PEM text (wiped
/// from memory when dropped).
pub struct OpenedPaperAccount {
    /// The account's API key.
    pub api_key: String,
    /// The Ed25519 private key that signs its requests, as PEM.
    pub private_key_pem: Zeroizing<String>,
}

/// Opens and resets accounts on the paper exchange at one URL.
#[derive(Clone)]
pub struct PaperAccounts {
    admin_url: String,
    http: reqwest::Client,
    starting_balances: BTreeMap<String, Decimal>,
    admin_token: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for PaperAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperAccounts")
            .field("admin_url", &self.admin_url)
            .field("starting_balances", &self.starting_balances)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl PaperAccounts {
    /// Accounts on the paper exchange at `exchange_url` (`http://host:port`), opened with
    /// `starting_balances`.
    pub fn new(
        exchange_url: &str,
        starting_balances: BTreeMap<String, Decimal>,
    ) -> Result<PaperAccounts, PaperError> {
        let http = reqwest::Client::builder()
            .timeout(ADMIN_TIMEOUT)
            .build()
            .map_err(|error| PaperError::Unreachable {
                url: exchange_url.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(PaperAccounts {
            admin_url: format!("{}/_sim", exchange_url.trim_end_matches('/')),
            http,
            starting_balances,
            admin_token: None,
        })
    }

    /// The same, sending `token` to the admin API (`spotbot sim --admin-token`): what a process
    /// on another machine than the paper exchange needs.
    pub fn with_admin_token(mut self, token: String) -> PaperAccounts {
        self.admin_token = Some(zeroize::Zeroizing::new(token));
        self
    }

    /// What a new or reset paper account holds.
    pub fn starting_balances(&self) -> &BTreeMap<String, Decimal> {
        &self.starting_balances
    }

    /// Opens a new account holding the starting balances, with a new Ed25519 key pair.
    pub async fn open(&self) -> Result<OpenedPaperAccount, PaperError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|error| PaperError::Unreachable {
            url: self.admin_url.clone(),
            reason: format!("no random bytes for the key: {error}"),
        })?;
        let public_key = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let body = json!({
            "balances": self.balances_json(),
            "ed25519_public_key": BASE64.encode(public_key),
        });
        let answer = self
            .send(
                AdminRequest::Open,
                self.http
                    .post(format!("{}/accounts", self.admin_url))
                    .json_body(&body),
            )
            .await?;
        let api_key = answer
            .get("api_key")
            .and_then(Value::as_str)
            .ok_or_else(|| PaperError::Refused {
                what: AdminRequest::Open,
                status: 200,
                message: format!(
                    "the answer has no api_key: {}",
                    excerpt(&answer.to_string())
                ),
            })?
            .to_owned();
        Ok(OpenedPaperAccount {
            api_key,
            private_key_pem: pkcs8_pem(&seed),
        })
    }

    /// Sets every balance of the account `api_key` back to the starting balances (assets not
    /// among them are emptied).
    pub async fn reset(&self, api_key: &str) -> Result<(), PaperError> {
        let body = json!({ "balances": self.balances_json() });
        let url = format!(
            "{}/accounts/{}/balances",
            self.admin_url,
            form_path_segment(api_key)
        );
        self.send(AdminRequest::Reset, self.http.put(url).json_body(&body))
            .await
            .map(drop)
    }

    fn balances_json(&self) -> Value {
        self.starting_balances
            .iter()
            .map(|(asset, amount)| (asset.clone(), Value::String(amount.to_string())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// Sends `request` and reads its JSON answer.
    async fn send(
        &self,
        what: AdminRequest,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, PaperError> {
        let request = match &self.admin_token {
            Some(token) => request.bearer_auth(token.as_str()),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|error| PaperError::Unreachable {
                url: self.admin_url.clone(),
                reason: error.to_string(),
            })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|error| PaperError::Unreachable {
                url: self.admin_url.clone(),
                reason: error.to_string(),
            })?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            404 if what == AdminRequest::Reset => return Err(PaperError::UnknownAccount),
            401 | 403 => {
                return Err(PaperError::Forbidden {
                    url: self.admin_url.clone(),
                    what,
                    status,
                });
            }
            _ => {}
        }
        if !(200..300).contains(&status) {
            let message = answer
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| excerpt(&text), str::to_owned);
            return Err(PaperError::Refused {
                what,
                status,
                message,
            });
        }
        Ok(answer)
    }
}

/// A JSON body on a request, without reqwest's `json` feature (one call does not justify it).
trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }
}

/// `seed` as the PKCS#8 PEM text of its Ed25519 private key (what `openssl genpkey -algorithm
/// ed25519` writes, and what users paste for their own Ed25519 keys).
fn pkcs8_pem(seed: &[u8; 32]) -> Zeroizing<String> {
    let mut der = Zeroizing::new(Vec::with_capacity(ED25519_PKCS8_PREFIX.len() + seed.len()));
    der.extend_from_slice(&ED25519_PKCS8_PREFIX);
    der.extend_from_slice(seed);
    let body = Zeroizing::new(BASE64.encode(der.as_slice()));
    Zeroizing::new(format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.as_str()
    ))
}

/// An API key as a URL path segment: simulator keys are letters and digits, but a stored key is
/// data, so anything else is percent-encoded rather than trusted.
fn form_path_segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn excerpt(text: &str) -> String {
    text.chars().take(ANSWER_EXCERPT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pem_is_what_the_exchange_client_reads_and_signs_with() {
        let seed = [5u8; 32];
        let pem = pkcs8_pem(&seed);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", *pem);
        let from_pem = binance::Credentials::ed25519_from_text("key", &pem).unwrap();
        let direct = binance::Credentials::ed25519("key", SigningKey::from_bytes(&seed));
        assert_eq!(from_pem.sign("a=1"), direct.sign("a=1"));
    }
}
