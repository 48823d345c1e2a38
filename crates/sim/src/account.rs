//! Accounts: an API key with the key that verifies its signatures (an HMAC secret or an Ed25519
//! public key), balances per asset and the commission rate charged on the account's trades (in the
//! asset received, or in BNB at a discount when the account enables it), and what Binance lets a
//! key's owner change about the key: whether it is still live (a revoked or deleted key), whether
//! it may trade, and the IP addresses it is restricted to. Binance answers every refusal of the
//! key alike: -2015 "Invalid API-key, IP, or permissions for action.".

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::VerifyingKey;
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
pub(crate) fn random_key() -> String {
    let state = RandomState::new();
    (0..KEY_LENGTH)
        .map(|index| {
            let word = state.hash_one(index);
            KEY_ALPHABET[(word % KEY_ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// What verifies an account's request signatures (reference § 2).
#[derive(Clone, PartialEq, Eq)]
pub enum SignatureKey {
    /// HMAC-SHA256 with this secret: `signature` is the hex digest.
    Hmac(String),
    /// Ed25519 with this public key: `signature` is the base64 signature, percent-encoded.
    Ed25519(VerifyingKey),
}

impl SignatureKey {
    /// An Ed25519 public key from base64: either the raw 32 bytes or a PEM / DER
    /// `SubjectPublicKeyInfo` (what `openssl pkey -pubout` writes and Binance asks users to register).
    pub fn ed25519_from_text(text: &str) -> Result<SignatureKey, String> {
        let body: String = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let bytes = BASE64
            .decode(body.as_bytes())
            .map_err(|err| format!("not base64 or PEM: {err}"))?;
        let raw: &[u8] = match bytes.len() {
            32 => &bytes,
            44 if bytes.starts_with(&ED25519_SPKI_PREFIX) => &bytes[ED25519_SPKI_PREFIX.len()..],
            other => {
                return Err(format!(
                    "an Ed25519 public key is 32 bytes (or a 44-byte SubjectPublicKeyInfo); found {other} bytes"
                ));
            }
        };
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| "an Ed25519 public key is 32 bytes".to_owned())?;
        VerifyingKey::from_bytes(&raw)
            .map(SignatureKey::Ed25519)
            .map_err(|err| format!("not an Ed25519 public key: {err}"))
    }

    /// The key as the state file and the admin API write it: the HMAC secret, or the raw
    /// Ed25519 public key in base64.
    pub fn to_text(&self) -> String {
        match self {
            SignatureKey::Hmac(secret) => secret.clone(),
            SignatureKey::Ed25519(key) => BASE64.encode(key.as_bytes()),
        }
    }
}

/// Reads an IP whitelist as the admin API and the files write it (`["203.0.113.7", "::1"]`), in
/// canonical form (an IPv4-mapped IPv6 address becomes its IPv4 address); the error names the
/// first entry that is not an IP address.
pub(crate) fn parse_ip_whitelist(entries: &[String]) -> Result<Vec<IpAddr>, String> {
    entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpAddr>()
                .map(|ip| ip.to_canonical())
                .map_err(|_| {
                    format!(
                        "{entry:?} is not an IP address (write one address per entry, e.g. \"203.0.113.7\" or \"2001:db8::1\")"
                    )
                })
        })
        .collect()
}

/// The DER header of an Ed25519 `SubjectPublicKeyInfo` (RFC 8410), before the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureKey::Hmac(_) => f.write_str("Hmac(<hidden>)"),
            SignatureKey::Ed25519(key) => write!(f, "Ed25519({})", BASE64.encode(key.as_bytes())),
        }
    }
}

/// One trading account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Sent in the `X-MBX-APIKEY` header.
    pub api_key: String,
    /// What verifies the account's signatures.
    pub signature_key: SignatureKey,
    /// Free balance per asset. Nothing is ever locked: MARKET orders settle at once.
    pub balances: BTreeMap<String, Decimal>,
    /// The taker commission, as a fraction of what the account receives (`0.001` = 0.1%).
    pub commission_rate: Decimal,
    /// Pay commissions in BNB, at the exchange's BNB discount, when the account holds enough BNB
    /// for the whole order (Binance's "use BNB to pay for fees"); otherwise in the asset received.
    pub commission_in_bnb: bool,
    /// When the balances last changed, in ms.
    pub update_time_ms: i64,
    /// The account's number (`uid`), given by the exchange when the account is added.
    pub uid: u64,
    /// Whether the API key is live. A revoked or deleted key (`false`) is refused on every SIGNED
    /// request exactly like a key the exchange never issued (-2015, HTTP 401).
    pub key_enabled: bool,
    /// Whether the key may place orders (Binance's "Enable Spot & Margin Trading"). Without it,
    /// `POST /api/v3/order` and `/api/v3/order/test` are -2015, `GET /api/v3/account` answers
    /// `"canTrade": false`, and reads keep working.
    pub can_trade: bool,
    /// The only client addresses the key is accepted from; empty means any address. A SIGNED
    /// request from another address is -2015.
    pub ip_whitelist: Vec<IpAddr>,
}

impl Account {
    /// An HMAC account holding `balances` (asset, amount).
    pub fn new(
        credentials: Credentials,
        balances: impl IntoIterator<Item = (String, Decimal)>,
        commission_rate: Decimal,
    ) -> Account {
        Account::with_key(
            credentials.api_key,
            SignatureKey::Hmac(credentials.secret),
            balances,
            commission_rate,
        )
    }

    /// An account whose signatures `signature_key` verifies, holding `balances`.
    pub fn with_key(
        api_key: String,
        signature_key: SignatureKey,
        balances: impl IntoIterator<Item = (String, Decimal)>,
        commission_rate: Decimal,
    ) -> Account {
        Account {
            api_key,
            signature_key,
            balances: balances.into_iter().collect(),
            commission_rate,
            commission_in_bnb: false,
            update_time_ms: 0,
            uid: 0,
            key_enabled: true,
            can_trade: true,
            ip_whitelist: Vec::new(),
        }
    }

    /// Whether a SIGNED request with this account's key from `peer` gets past the key checks: the
    /// key is live and `peer` is on its whitelist (when it has one). An IPv4-mapped IPv6 address
    /// counts as its IPv4 address, on either side, so a dual-stack listener changes nothing.
    pub fn key_accepts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.key_enabled
            && (self.ip_whitelist.is_empty()
                || self
                    .ip_whitelist
                    .iter()
                    .any(|allowed| allowed.to_canonical() == peer))
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
        let account = Account::new(credentials.clone(), [], Decimal::ZERO);
        assert!(!format!("{account:?}").contains(&credentials.secret));
    }

    #[test]
    fn ed25519_keys_read_from_raw_base64_and_pem() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let raw = BASE64.encode(signing.verifying_key().as_bytes());
        let expected = SignatureKey::Ed25519(signing.verifying_key());
        assert_eq!(SignatureKey::ed25519_from_text(&raw), Ok(expected.clone()));
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(signing.verifying_key().as_bytes());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            BASE64.encode(&der)
        );
        assert_eq!(SignatureKey::ed25519_from_text(&pem), Ok(expected.clone()));
        assert_eq!(expected.to_text(), raw);
        assert!(SignatureKey::ed25519_from_text("not base64!").is_err());
        assert!(SignatureKey::ed25519_from_text(&BASE64.encode([1; 31])).is_err());
    }

    #[test]
    fn a_key_accepts_live_requests_from_its_whitelist_in_either_ip_notation() {
        let mut account = Account::new(Credentials::generate(), [], Decimal::ZERO);
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped_loopback: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let elsewhere: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(account.key_enabled && account.can_trade);
        assert!(account.key_accepts(loopback) && account.key_accepts(elsewhere));

        account.ip_whitelist = vec![loopback];
        assert!(account.key_accepts(loopback));
        assert!(account.key_accepts(mapped_loopback));
        assert!(!account.key_accepts(elsewhere));
        account.ip_whitelist = vec![mapped_loopback];
        assert!(account.key_accepts(loopback));
        assert!(!account.key_accepts("::1".parse().unwrap()));

        account.key_enabled = false;
        account.ip_whitelist.clear();
        assert!(!account.key_accepts(loopback));
    }

    #[test]
    fn ip_whitelists_read_canonically_and_name_the_bad_entry() {
        let read = parse_ip_whitelist(&["::ffff:10.0.0.1".to_owned(), "2001:db8::1".to_owned()]);
        assert_eq!(
            read,
            Ok(vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "2001:db8::1".parse().unwrap()
            ])
        );
        let error =
            parse_ip_whitelist(&["10.0.0.1".to_owned(), "10.0.0.0/8".to_owned()]).unwrap_err();
        assert!(
            error.starts_with("\"10.0.0.0/8\" is not an IP address"),
            "{error}"
        );
    }
}
