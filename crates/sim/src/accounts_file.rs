//! Accounts from a TOML file (`spotbot sim --accounts FILE`):
//!
//! ```toml
//! # Whether `spotbot sim` also creates its demo account (default true).
//! demo = false
//!
//! [[accounts]]
//! api_key = "myKey1"                 # letters and digits, at most 64
//! secret = "mySecret1"               # HMAC-SHA256 secret ...
//! balances = { USDT = "10000", BTC = "0.5" }
//! commission_rate = "0.001"          # optional, default 0.001 (0.1 %)
//! commission_in_bnb = true           # optional, default false
//!
//! [[accounts]]
//! api_key = "myKey2"
//! ed25519_public_key = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA...\n-----END PUBLIC KEY-----"
//! balances = { USDT = 500 }
//! can_trade = false                  # optional, default true: a read-only key
//! ip_whitelist = ["127.0.0.1"]       # optional, default empty: any IP
//! ```
//!
//! Amounts are decimal strings (exact), integers, or TOML floats (read as the shortest decimal
//! that prints them, so `0.1` is 0.1). Every error names the file and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::account::{Account, SignatureKey, parse_ip_whitelist};
use crate::exchange::STANDARD_COMMISSION_RATE;

/// The longest API key the exchange accepts.
const MAX_API_KEY_LENGTH: usize = 64;

/// What an accounts file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsFile {
    /// Whether the demo account should still be created (the file's `demo`, default true).
    pub demo: bool,
    /// The accounts, in file order.
    pub accounts: Vec<Account>,
}

/// Why an accounts file cannot be used; the message names the file and the field.
#[derive(Debug, thiserror::Error)]
#[error("accounts file {path}: {reason}")]
pub struct AccountsFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, starting with the field (`accounts[2].balances.BTC: ...`).
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayout {
    #[serde(default = "yes")]
    demo: bool,
    #[serde(default)]
    accounts: Vec<AccountLayout>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountLayout {
    api_key: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    ed25519_public_key: Option<String>,
    #[serde(default)]
    balances: BTreeMap<String, toml::Value>,
    #[serde(default)]
    commission_rate: Option<toml::Value>,
    #[serde(default)]
    commission_in_bnb: bool,
    #[serde(default = "yes")]
    can_trade: bool,
    #[serde(default)]
    ip_whitelist: Vec<String>,
}

/// Reads and checks the accounts file at `path`.
pub fn read_accounts_file(path: &Path) -> Result<AccountsFile, AccountsFileError> {
    let error = |reason: String| AccountsFileError {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(format!("cannot read: {err}")))?;
    parse_accounts(&text).map_err(error)
}

/// Reads an accounts file's text; the error names the field.
fn parse_accounts(text: &str) -> Result<AccountsFile, String> {
    let layout: FileLayout = toml::from_str(text).map_err(|err| err.to_string())?;
    let mut accounts: Vec<Account> = Vec::with_capacity(layout.accounts.len());
    for (index, entry) in layout.accounts.into_iter().enumerate() {
        let field = |name: &str| format!("accounts[{index}].{name}");
        let key_ok = (1..=MAX_API_KEY_LENGTH).contains(&entry.api_key.len())
            && entry
                .api_key
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric());
        if !key_ok {
            return Err(format!(
                "{}: must be 1 to {MAX_API_KEY_LENGTH} letters and digits",
                field("api_key")
            ));
        }
        if accounts
            .iter()
            .any(|account| account.api_key == entry.api_key)
        {
            return Err(format!(
                "{}: {:?} is used by an earlier account",
                field("api_key"),
                entry.api_key
            ));
        }
        let signature_key = match (entry.secret, entry.ed25519_public_key) {
            (Some(secret), None) if !secret.is_empty() => SignatureKey::Hmac(secret),
            (Some(_), None) => return Err(format!("{}: must not be empty", field("secret"))),
            (None, Some(text)) => SignatureKey::ed25519_from_text(&text)
                .map_err(|err| format!("{}: {err}", field("ed25519_public_key")))?,
            _ => {
                return Err(format!(
                    "accounts[{index}]: needs exactly one of secret (HMAC) and ed25519_public_key"
                ));
            }
        };
        let mut balances = BTreeMap::new();
        for (asset, value) in entry.balances {
            let name = field(&format!("balances.{asset}"));
            let amount = amount(&value).map_err(|err| format!("{name}: {err}"))?;
            if amount.is_sign_negative() {
                return Err(format!("{name}: must not be negative"));
            }
            balances.insert(asset, amount);
        }
        let commission_rate = match &entry.commission_rate {
            None => STANDARD_COMMISSION_RATE,
            Some(value) => amount(value)
                .ok()
                .filter(|rate| !rate.is_sign_negative() && *rate < Decimal::ONE)
                .ok_or_else(|| {
                    format!(
                        "{}: must be a fraction in [0, 1), e.g. \"0.001\"",
                        field("commission_rate")
                    )
                })?,
        };
        let ip_whitelist = parse_ip_whitelist(&entry.ip_whitelist)
            .map_err(|err| format!("{}: {err}", field("ip_whitelist")))?;
        let mut account =
            Account::with_key(entry.api_key, signature_key, balances, commission_rate);
        account.commission_in_bnb = entry.commission_in_bnb;
        account.can_trade = entry.can_trade;
        account.ip_whitelist = ip_whitelist;
        accounts.push(account);
    }
    Ok(AccountsFile {
        demo: layout.demo,
        accounts,
    })
}

/// A decimal from a string, an integer or a float.
fn amount(value: &toml::Value) -> Result<Decimal, String> {
    let parsed = match value {
        toml::Value::String(text) => Decimal::from_str(text.trim()).ok(),
        toml::Value::Integer(number) => Some(Decimal::from(*number)),
        toml::Value::Float(number) if number.is_finite() => {
            Decimal::from_str(&number.to_string()).ok()
        }
        _ => None,
    };
    parsed.ok_or_else(|| format!("{value} is not a decimal amount (write e.g. \"0.5\")"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn reads_hmac_and_ed25519_accounts_with_amounts_in_any_notation() {
        let public_key = crate::SignatureKey::Ed25519(
            ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key(),
        )
        .to_text();
        let text = format!(
            r#"
demo = false
[[accounts]]
api_key = "key1"
secret = "secret1"
balances = {{ USDT = "10000.5", BTC = 0.1, BNB = 2 }}
commission_in_bnb = true

[[accounts]]
api_key = "key2"
ed25519_public_key = "{public_key}"
commission_rate = "0.00075"
can_trade = false
ip_whitelist = ["127.0.0.1", "::ffff:10.0.0.1"]
"#
        );
        let file = parse_accounts(&text).unwrap();
        assert!(!file.demo);
        let first = &file.accounts[0];
        assert_eq!(first.signature_key, SignatureKey::Hmac("secret1".into()));
        assert_eq!(first.balance("USDT"), dec!(10000.5));
        assert_eq!(first.balance("BTC"), dec!(0.1));
        assert_eq!(first.balance("BNB"), dec!(2));
        assert_eq!(first.commission_rate, STANDARD_COMMISSION_RATE);
        assert!(first.commission_in_bnb);
        assert!(first.can_trade);
        assert!(first.ip_whitelist.is_empty());
        let second = &file.accounts[1];
        assert!(matches!(second.signature_key, SignatureKey::Ed25519(_)));
        assert_eq!(second.commission_rate, dec!(0.00075));
        assert!(!second.commission_in_bnb);
        assert!(!second.can_trade);
        assert_eq!(
            second.ip_whitelist,
            [
                std::net::IpAddr::from([127, 0, 0, 1]),
                std::net::IpAddr::from([10, 0, 0, 1])
            ]
        );
        assert!(parse_accounts("").unwrap().demo);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "[[accounts]]\napi_key = \"k\"\nsecret = \"s\"\nbalances = { BTC = \"-1\" }",
                "accounts[0].balances.BTC: must not be negative",
            ),
            (
                "[[accounts]]\napi_key = \"k\"\nsecret = \"s\"\nbalances = { BTC = \"abc\" }",
                "accounts[0].balances.BTC: \"abc\" is not a decimal amount",
            ),
            (
                "[[accounts]]\napi_key = \"k\"\nsecret = \"s\"\ncommission_rate = \"1.5\"",
                "accounts[0].commission_rate: must be a fraction",
            ),
            (
                "[[accounts]]\napi_key = \"k\"",
                "accounts[0]: needs exactly one of secret",
            ),
            (
                "[[accounts]]\napi_key = \"bad key\"\nsecret = \"s\"",
                "accounts[0].api_key: must be 1 to 64",
            ),
            (
                "[[accounts]]\napi_key = \"k\"\nsecret = \"s\"\n[[accounts]]\napi_key = \"k\"\nsecret = \"t\"",
                "accounts[1].api_key: \"k\" is used by an earlier account",
            ),
            (
                "[[accounts]]\napi_key = \"k\"\nedd25519_public_key = \"x\"",
                "unknown field `edd25519_public_key`",
            ),
            (
                "[[accounts]]\napi_key = \"k\"\ned25519_public_key = \"x\"",
                "accounts[0].ed25519_public_key: ",
            ),
            (
                "[[accounts]]\napi_key = \"k\"\nsecret = \"s\"\nip_whitelist = [\"1.2.3.4\", \"localhost\"]",
                "accounts[0].ip_whitelist: \"localhost\" is not an IP address",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_accounts(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let missing = read_accounts_file(Path::new("/nonexistent/accounts.toml")).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("accounts file /nonexistent/accounts.toml: cannot read"),
            "{missing}"
        );
    }
}
