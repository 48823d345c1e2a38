//! API credentials and request signatures (reference § 2): the API key goes in `X-MBX-APIKEY`;
//! the `signature` is HMAC-SHA256 (hex) or Ed25519 (base64) over the percent-encoded payload.
//! Secrets never appear in `Debug` output or error messages, and are wiped from memory when the
//! last copy is dropped: the HMAC secret is held in [`Zeroizing`], and ed25519-dalek's
//! `SigningKey` zeroes itself on drop (its `zeroize` feature, checked at compile time below).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// The DER header of an Ed25519 PKCS#8 v1 private key (RFC 8410), before the 32 seed bytes.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// How many characters of the API key `Debug` shows.
const API_KEY_SHOWN_CHARS: usize = 6;

/// Fails to compile if a secret type stops wiping itself on drop (for `SigningKey`, if
/// ed25519-dalek's `zeroize` feature were turned off).
const _: () = {
    const fn wiped_on_drop<T: ZeroizeOnDrop>() {}
    wiped_on_drop::<SigningKey>();
    wiped_on_drop::<Zeroizing<String>>();
};

/// Why credentials could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// Neither base64 nor PEM.
    #[error("the Ed25519 private key is not base64 or PEM: {0}")]
    NotBase64(String),
    /// Decoded, but not a 32-byte seed or a PKCS#8 Ed25519 key.
    #[error(
        "the Ed25519 private key must be a 32-byte seed or a PKCS#8 Ed25519 key (48 bytes); found {0} bytes"
    )]
    WrongLength(usize),
    /// A key type other than `hmac` or `ed25519`.
    #[error("unknown API key type {0:?}: expected \"hmac\" or \"ed25519\"")]
    UnknownKeyType(String),
}

/// The kind of key pair signing a Binance API key's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// HMAC-SHA256 with a shared secret (Binance calls these deprecated; still accepted).
    Hmac,
    /// Ed25519 (what Binance recommends).
    Ed25519,
}

impl KeyType {
    /// The type's name: `hmac` or `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Hmac => "hmac",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = CredentialsError;

    /// Reads `hmac` or `ed25519`, in any letter case.
    fn from_str(text: &str) -> Result<KeyType, CredentialsError> {
        [KeyType::Hmac, KeyType::Ed25519]
            .into_iter()
            .find(|key_type| key_type.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| CredentialsError::UnknownKeyType(text.to_owned()))
    }
}

/// The secret half of the credentials; both variants are wiped when dropped.
#[derive(Clone)]
enum SigningSecret {
    Hmac(Zeroizing<String>),
    Ed25519(SigningKey),
}

/// An API key and the secret that signs its requests.
#[derive(Clone)]
pub struct Credentials {
    api_key: String,
    secret: SigningSecret,
}

impl Credentials {
    /// An HMAC-SHA256 key pair (Binance calls HMAC keys deprecated; still accepted).
    pub fn hmac(api_key: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            api_key: api_key.into(),
            secret: SigningSecret::Hmac(Zeroizing::new(secret.into())),
        }
    }

    /// An Ed25519 key pair from an already decoded private key.
    pub fn ed25519(api_key: impl Into<String>, private_key: SigningKey) -> Credentials {
        Credentials {
            api_key: api_key.into(),
            secret: SigningSecret::Ed25519(private_key),
        }
    }

    /// An Ed25519 key pair from the private key's text: a PKCS#8 PEM (what `openssl genpkey
    /// -algorithm ed25519` writes), or base64 of the PKCS#8 DER or of the raw 32-byte seed.
    pub fn ed25519_from_text(
        api_key: impl Into<String>,
        private_key: &str,
    ) -> Result<Credentials, CredentialsError> {
        // Every intermediate copy of the key is wiped too, not only the final `SigningKey`.
        let body: Zeroizing<String> = Zeroizing::new(
            private_key
                .lines()
                .map(str::trim)
                .filter(|line| !line.starts_with("-----"))
                .collect(),
        );
        let bytes = Zeroizing::new(
            BASE64
                .decode(body.as_bytes())
                .map_err(|err| CredentialsError::NotBase64(err.to_string()))?,
        );
        let seed = match bytes.len() {
            32 => &bytes[..],
            48 if bytes.starts_with(&ED25519_PKCS8_PREFIX) => &bytes[ED25519_PKCS8_PREFIX.len()..],
            other => return Err(CredentialsError::WrongLength(other)),
        };
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| CredentialsError::WrongLength(seed.len()))?,
        );
        Ok(Credentials::ed25519(api_key, SigningKey::from_bytes(&seed)))
    }

    /// The API key (sent in `X-MBX-APIKEY`; not a secret, but not logged in full either).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Whether the key pair is HMAC or Ed25519.
    pub fn key_type(&self) -> KeyType {
        match self.secret {
            SigningSecret::Hmac(_) => KeyType::Hmac,
            SigningSecret::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The `signature` value for `payload` (the percent-encoded query string and body): lower-case
    /// hex for HMAC, base64 for Ed25519 (to be percent-encoded on the wire).
    pub fn sign(&self, payload: &str) -> String {
        match &self.secret {
            SigningSecret::Hmac(secret) => {
                // HMAC takes keys of any length: `new_from_slice` cannot fail.
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .expect("HMAC accepts keys of any length");
                mac.update(payload.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            SigningSecret::Ed25519(key) => BASE64.encode(key.sign(payload.as_bytes()).to_bytes()),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.api_key.chars().take(API_KEY_SHOWN_CHARS).collect();
        let kind = match self.key_type() {
            KeyType::Hmac => "Hmac(<redacted>)",
            KeyType::Ed25519 => "Ed25519(<redacted>)",
        };
        f.debug_struct("Credentials")
            .field("api_key", &format_args!("{shown}…"))
            .field("secret", &format_args!("{kind}"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn hmac_signs_the_docs_ascii_vector() {
        let credentials = Credentials::hmac(API_KEY, SECRET);
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            credentials.sign(payload),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn hmac_signs_the_docs_non_ascii_vector_after_percent_encoding() {
        let payload = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("symbol", "１２３４５６"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "1"),
                ("price", "0.1"),
                ("recvWindow", "5000"),
                ("timestamp", "1499827319559"),
            ])
            .finish();
        assert!(
            payload.starts_with("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&")
        );
        assert_eq!(
            Credentials::hmac(API_KEY, SECRET).sign(&payload),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
    }

    #[test]
    fn ed25519_keys_read_from_seed_pkcs8_and_pem_sign_alike() {
        let seed = [7u8; 32];
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            BASE64.encode(&der)
        );
        let from_seed = Credentials::ed25519_from_text("key", &BASE64.encode(seed)).unwrap();
        let from_der = Credentials::ed25519_from_text("key", &BASE64.encode(&der)).unwrap();
        let from_pem = Credentials::ed25519_from_text("key", &pem).unwrap();
        let signature = from_seed.sign("a=1");
        assert_eq!(from_der.sign("a=1"), signature);
        assert_eq!(from_pem.sign("a=1"), signature);
        assert_eq!(
            Credentials::ed25519_from_text("key", &BASE64.encode([1u8; 10])).unwrap_err(),
            CredentialsError::WrongLength(10)
        );
        assert!(matches!(
            Credentials::ed25519_from_text("key", "not base64!"),
            Err(CredentialsError::NotBase64(_))
        ));
    }

    #[test]
    fn debug_output_hides_the_secret_and_most_of_the_key() {
        let shown = format!("{:?}", Credentials::hmac(API_KEY, SECRET));
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(API_KEY), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let ed = Credentials::ed25519("edkey", SigningKey::from_bytes(&[9; 32]));
        assert!(format!("{ed:?}").contains("Ed25519(<redacted>)"));
    }

    #[test]
    fn key_types_are_told_and_read_back() {
        assert_eq!(Credentials::hmac(API_KEY, SECRET).key_type(), KeyType::Hmac);
        let ed = Credentials::ed25519("edkey", SigningKey::from_bytes(&[9; 32]));
        assert_eq!(ed.key_type(), KeyType::Ed25519);
        for key_type in [KeyType::Hmac, KeyType::Ed25519] {
            assert_eq!(key_type.to_string().parse::<KeyType>(), Ok(key_type));
        }
        assert_eq!("Ed25519".parse::<KeyType>(), Ok(KeyType::Ed25519));
        assert_eq!(
            "rsa".parse::<KeyType>(),
            Err(CredentialsError::UnknownKeyType("rsa".to_owned()))
        );
    }
}
