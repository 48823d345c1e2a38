//! A user's exchange key as submitted ([`KeySubmission`]): Binance's two key types, an HMAC key
//! (API key + secret) or an Ed25519 key (API key + the PEM private key, the type Binance
//! recommends), checked field by field before anything is stored, and turned into the
//! [`binance::Credentials`] that sign requests. The secret lives in [`Zeroizing`] memory and no
//! message or `Debug` output ever repeats it.

use std::fmt;

use binance::{Credentials, KeyType};
use zeroize::Zeroizing;

use crate::rules::{InvalidField, invalid};

/// The longest API key or HMAC secret accepted. Binance's are 64 characters; this leaves room
/// for other exchanges' keys without accepting megabytes.
pub const KEY_MAX_CHARS: usize = 256;
/// The longest Ed25519 private key text accepted: a PKCS#8 PEM is about 120 characters.
pub const PRIVATE_KEY_MAX_CHARS: usize = 4096;

/// A key a user submits for one venue. Its `Debug` hides the secret.
pub struct KeySubmission {
    api_key: String,
    secret: Zeroizing<String>,
    key_type: KeyType,
}

impl KeySubmission {
    /// An HMAC key: the API key and its secret.
    pub fn hmac(api_key: String, secret: Zeroizing<String>) -> KeySubmission {
        KeySubmission {
            api_key,
            secret,
            key_type: KeyType::Hmac,
        }
    }

    /// An Ed25519 key: the API key and the private key's PEM text (or base64 of its PKCS#8 DER
    /// or raw 32-byte seed).
    pub fn ed25519(api_key: String, private_key: Zeroizing<String>) -> KeySubmission {
        KeySubmission {
            api_key,
            secret: private_key,
            key_type: KeyType::Ed25519,
        }
    }

    /// The API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The name of the field the secret was given in: `api_secret` or `private_key`.
    pub fn secret_field(&self) -> &'static str {
        secret_field(self.key_type)
    }

    /// The secret's text, to be encrypted.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// Checks each field and makes the credentials that sign with this key.
    pub fn credentials(&self) -> Result<Credentials, InvalidField> {
        check_text("api_key", &self.api_key, KEY_MAX_CHARS, false)?;
        let multi_line = self.key_type == KeyType::Ed25519;
        let max_chars = if multi_line {
            PRIVATE_KEY_MAX_CHARS
        } else {
            KEY_MAX_CHARS
        };
        check_text(self.secret_field(), &self.secret, max_chars, multi_line)?;
        signing_credentials(self.key_type, self.api_key.clone(), &self.secret)
            .map_err(|error| invalid(self.secret_field(), error))
    }
}

impl fmt::Debug for KeySubmission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySubmission")
            .field("api_key", &self.api_key)
            .field("key_type", &self.key_type)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The field an API request gives a key type's secret in.
pub fn secret_field(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::Hmac => "api_secret",
        KeyType::Ed25519 => "private_key",
    }
}

/// The credentials of a `key_type` key with `secret` (an HMAC secret, or an Ed25519 private key's
/// text), or why the secret is unusable; the message never holds the secret.
pub fn signing_credentials(
    key_type: KeyType,
    api_key: String,
    secret: &str,
) -> Result<Credentials, String> {
    match key_type {
        KeyType::Hmac => Ok(Credentials::hmac(api_key, secret.to_owned())),
        KeyType::Ed25519 => {
            Credentials::ed25519_from_text(api_key, secret).map_err(|error| error.to_string())
        }
    }
}

/// Checks that `value` has 1 to `max_chars` characters and no control characters (nor spaces,
/// unless `multi_line`: a PEM has line breaks). The message never repeats the value.
fn check_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
    multi_line: bool,
) -> Result<(), InvalidField> {
    let length = value.chars().count();
    if !(1..=max_chars).contains(&length) {
        return Err(invalid(
            field,
            format!("must be 1 to {max_chars} characters, got {length}"),
        ));
    }
    let allowed = |c: char| multi_line && matches!(c, '\n' | '\r' | ' ' | '\t');
    if value
        .chars()
        .any(|c| (c.is_whitespace() || c.is_control()) && !allowed(c))
    {
        return Err(invalid(
            field,
            if multi_line {
                "must not contain control characters other than line breaks"
            } else {
                "must not contain spaces or control characters"
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn fields_are_checked_and_errors_never_echo_the_secret() {
        let good = KeySubmission::hmac("key".to_owned(), Zeroizing::new(SECRET.to_owned()));
        assert_eq!(good.credentials().unwrap().api_key(), "key");
        let spaced = KeySubmission::hmac("a key".to_owned(), Zeroizing::new(SECRET.to_owned()));
        assert_eq!(spaced.credentials().unwrap_err().field, "api_key");
        let long = format!("{SECRET}\u{7}");
        let bad_secret = KeySubmission::hmac("key".to_owned(), Zeroizing::new(long));
        let error = bad_secret.credentials().unwrap_err();
        assert_eq!(error.field, "api_secret");
        assert!(!error.to_string().contains(SECRET), "{error}");
        let not_a_key = KeySubmission::ed25519(
            "key".to_owned(),
            Zeroizing::new(format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n")),
        );
        let error = not_a_key.credentials().unwrap_err();
        assert_eq!(error.field, "private_key");
        assert!(!error.to_string().contains(SECRET), "{error}");
        assert!(!format!("{good:?}").contains(SECRET));
    }
}
