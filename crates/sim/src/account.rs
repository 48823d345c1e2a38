//! Accounts: an API key, its HMAC secret, balances per asset and the commission rate charged on
//! the account's trades.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use rust_decimal::Decimal;

/// The characters Binance API keys and secrets are made of.
const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// The length of Binance API keys and secrets.
const KEY_LENGTH: usize = 64;

/// An API key and the HMAC secret that signs its requests.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Sent in the `X-MBX-APIKEY` header.
    pub api_key: String,
    /// The HMAC-SHA256 key; never logged (the `Debug` output hides it).
    pub secret: String,
}

impl Credentials {
    /// A fresh random key and secret, 64 letters and digits each like Binance's.
    pub fn generate() -> Credentials {
        Credentials {
            api_key: random_key(),
            secret: random_key(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// 64 random letters and digits, from the operating system's randomness that seeds std's hashers
/// (enough for a loopback demo key; no extra dependency).
fn random_key() -> String {
    let state = RandomState::new();
    (0..KEY_LENGTH)
        .map(|index| {
            let word = state.hash_one(index);
            KEY_ALPHABET[(word % KEY_ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// One trading account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// How requests identify and sign for the account.
    pub credentials: Credentials,
    /// Free balance per asset. Nothing is ever locked: MARKET orders settle at once.
    pub balances: BTreeMap<String, Decimal>,
    /// The taker commission, as a fraction of what the account receives (`0.001` = 0.1%).
    pub commission_rate: Decimal,
    /// When the balances last changed, in ms.
    pub update_time_ms: i64,
    /// The account's number (`uid`), given by the exchange when the account is added.
    pub uid: u64,
}

impl Account {
    /// An account holding `balances` (asset, amount).
    pub fn new(
        credentials: Credentials,
        balances: impl IntoIterator<Item = (String, Decimal)>,
        commission_rate: Decimal,
    ) -> Account {
        Account {
            credentials,
            balances: balances.into_iter().collect(),
            commission_rate,
            update_time_ms: 0,
            uid: 0,
        }
    }

    /// The free balance of `asset` (zero when the account never held it).
    pub fn balance(&self, asset: &str) -> Decimal {
        self.balances.get(asset).copied().unwrap_or_default()
    }

    /// Adds `delta` (negative to take) to the balance of `asset`.
    pub(crate) fn add(&mut self, asset: &str, delta: Decimal) {
        *self.balances.entry(asset.to_owned()).or_default() += delta;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_look_like_binance_keys_and_differ() {
        let first = Credentials::generate();
        let second = Credentials::generate();
        assert_eq!(first.api_key.len(), 64);
        assert!(
            first
                .secret
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric())
        );
        assert_ne!(first.api_key, second.api_key);
        assert_ne!(first.api_key, first.secret);
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let credentials = Credentials::generate();
        let printed = format!("{credentials:?}");
        assert!(!printed.contains(&credentials.secret));
        assert!(printed.contains(&credentials.api_key));
    }
}
