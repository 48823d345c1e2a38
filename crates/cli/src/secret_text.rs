//! [`SecretText`]: a secret given as text (an admin token) in a flag, the environment or the
//! configuration file, whose `Debug` shows nothing of it, so that printing the parsed arguments
//! or configuration (a debug log, a panic message) never leaks it; wiped when dropped.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// A secret string; [`SecretText::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// The secret itself, for the one place that sends or checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl From<String> for SecretText {
    fn from(text: String) -> SecretText {
        SecretText(Zeroizing::new(text))
    }
}

impl FromStr for SecretText {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<SecretText, Infallible> {
        Ok(SecretText::from(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SecretText, D::Error> {
        String::deserialize(deserializer).map(SecretText::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_nothing_of_the_secret() {
        let secret: SecretText = "hunter2-token".parse().unwrap();
        assert_eq!(secret.expose(), "hunter2-token");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let from_toml: SecretText = serde_json::from_str("\"hunter2-token\"").unwrap();
        assert_eq!(from_toml, secret);
    }
}
