//! [`Symbol`]: a validated exchange symbol such as `BTCUSDT`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest symbol accepted. Binance's longest spot symbols are well under this.
const MAX_SYMBOL_LEN: usize = 20;

/// A trading pair's name: 1 to 20 upper-case ASCII letters and digits, as Binance spells it.
///
/// ```
/// use market::Symbol;
/// let symbol: Symbol = "BTCUSDT".parse().unwrap();
/// assert_eq!(symbol.as_str(), "BTCUSDT");
/// let err = "btcusdt".parse::<Symbol>().unwrap_err();
/// assert!(err.to_string().contains("\"btcusdt\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

/// Why a text is not a [`Symbol`]. Every variant carries the text that was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The text is empty.
    #[error("invalid symbol \"\": a symbol has 1 to {MAX_SYMBOL_LEN} characters")]
    Empty,
    /// The text is longer than 20 characters.
    #[error("invalid symbol {given:?}: {length} characters, at most {MAX_SYMBOL_LEN} allowed")]
    TooLong {
        /// What was given.
        given: String,
        /// Its length in characters.
        length: usize,
    },
    /// The text holds a character other than `A`-`Z` and `0`-`9`.
    #[error(
        "invalid symbol {given:?}: {bad:?} at position {position} is not an upper-case ASCII letter or digit"
    )]
    BadCharacter {
        /// What was given.
        given: String,
        /// The first offending character.
        bad: char,
        /// Its position, counted in characters from 0.
        position: usize,
    },
}

impl Symbol {
    /// Validates and wraps `text`.
    pub fn new(text: impl Into<String>) -> Result<Self, SymbolError> {
        let text = text.into();
        if text.is_empty() {
            return Err(SymbolError::Empty);
        }
        if let Some((position, bad)) = text
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
        {
            return Err(SymbolError::BadCharacter {
                given: text,
                bad,
                position,
            });
        }
        // Only ASCII is left, so bytes are characters.
        if text.len() > MAX_SYMBOL_LEN {
            let length = text.len();
            return Err(SymbolError::TooLong {
                given: text,
                length,
            });
        }
        Ok(Symbol(text))
    }

    /// The symbol's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Symbol::new(text)
    }
}

impl TryFrom<String> for Symbol {
    type Error = SymbolError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Symbol::new(text)
    }
}

impl From<Symbol> for String {
    fn from(symbol: Symbol) -> String {
        symbol.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_symbols_are_accepted() {
        for text in [
            "BTCUSDT",
            "ETHBTC",
            "1000SATSUSDT",
            "A",
            "ABCDEFGHIJ0123456789",
        ] {
            assert_eq!(Symbol::new(text).unwrap().as_str(), text);
        }
    }

    #[test]
    fn errors_name_the_bad_value() {
        assert_eq!(
            Symbol::new("").unwrap_err().to_string(),
            "invalid symbol \"\": a symbol has 1 to 20 characters"
        );
        assert_eq!(
            Symbol::new("BTC-USDT").unwrap_err().to_string(),
            "invalid symbol \"BTC-USDT\": '-' at position 3 is not an upper-case ASCII letter or digit"
        );
        assert_eq!(
            Symbol::new("ABCDEFGHIJ01234567890")
                .unwrap_err()
                .to_string(),
            "invalid symbol \"ABCDEFGHIJ01234567890\": 21 characters, at most 20 allowed"
        );
        assert!(matches!(
            Symbol::new("BTCÜSDT"),
            Err(SymbolError::BadCharacter {
                bad: 'Ü',
                position: 3,
                ..
            })
        ));
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<Symbol>("\"ETHBTC\"").is_ok());
        assert!(serde_json::from_str::<Symbol>("\"eth\"").is_err());
    }
}
