//! Request parameters as Binance reads them: from the query string and the form body (the query
//! string wins when both carry a name), each read at most once by the endpoint, with Binance's
//! errors for malformed values (-1100, -1108), missing ones (-1102), duplicates (-1101) and
//! parameters the endpoint never read (-1104).

use rust_decimal::Decimal;

use crate::error::ApiError;

/// The legal text of an integer parameter, as Binance quotes it in -1100.
const LONG_PATTERN: &str = "^[0-9]{1,20}$";
/// Timestamps at or above this are in microseconds (16 digits), below it in milliseconds.
pub const FIRST_MICROSECOND_TIMESTAMP: i64 = 1_000_000_000_000_000;
/// The legal text of a decimal parameter, as Binance quotes it in -1100.
const DECIMAL_PATTERN: &str = "^([0-9]{1,20})(\\.[0-9]{1,20})?$";

struct Entry {
    name: String,
    value: String,
    read: bool,
}

/// The parameters of one request.
pub struct Params {
    entries: Vec<Entry>,
}

impl Params {
    /// Reads the percent-encoded `raw_query` and form `raw_body`. A name repeated within one of
    /// them is -1101; a name in both takes the query string's value.
    pub fn parse(raw_query: &str, raw_body: &str) -> Result<Params, ApiError> {
        let mut entries: Vec<Entry> = Vec::new();
        for source in [raw_query, raw_body] {
            let first_of_source = entries.len();
            for (name, value) in form_urlencoded::parse(source.as_bytes()) {
                let seen_at = entries.iter().position(|entry| entry.name == name);
                match seen_at {
                    Some(index) if index >= first_of_source => {
                        return Err(ApiError::duplicate_parameter());
                    }
                    Some(_) => {}
                    None => entries.push(Entry {
                        name: name.into_owned(),
                        value: value.into_owned(),
                        read: false,
                    }),
                }
            }
        }
        Ok(Params { entries })
    }

    /// The value of `name` without marking it read (to weigh the request); `None` when absent or
    /// empty.
    pub fn peek(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.name == name)
            .map(|entry| entry.value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// The value of `name`, marking it read; `None` when absent or empty.
    pub fn text(&mut self, name: &str) -> Option<String> {
        let entry = self.entries.iter_mut().find(|entry| entry.name == name)?;
        entry.read = true;
        Some(entry.value.clone()).filter(|value| !value.is_empty())
    }

    /// The value of `name`, which must be sent (-1102 otherwise).
    pub fn required_text(&mut self, name: &str) -> Result<String, ApiError> {
        self.text(name)
            .ok_or_else(|| ApiError::mandatory_parameter(name))
    }

    /// An optional non-negative integer.
    pub fn long(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        if text.len() > 20 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(ApiError::illegal_characters(name, LONG_PATTERN));
        }
        text.parse()
            .map(Some)
            .map_err(|_| ApiError::parameter_overflowed(name))
    }

    /// A mandatory non-negative integer.
    pub fn required_long(&mut self, name: &str) -> Result<i64, ApiError> {
        self.long(name)?
            .ok_or_else(|| ApiError::mandatory_parameter(name))
    }

    /// An optional time (`startTime`, `endTime`) in milliseconds, sent in milliseconds or in
    /// microseconds as Binance accepts both; microseconds are cut to their millisecond, the
    /// precision the simulator keeps times in.
    pub fn time_ms(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        Ok(self.long(name)?.map(|time| {
            if time >= FIRST_MICROSECOND_TIMESTAMP {
                time / 1_000
            } else {
                time
            }
        }))
    }

    /// An optional non-negative decimal in plain notation (`0.001`, never `1e-3`).
    pub fn decimal(&mut self, name: &str) -> Result<Option<Decimal>, ApiError> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text.as_str(), None),
        };
        let digits = |part: &str| {
            (1..=20).contains(&part.len()) && part.bytes().all(|byte| byte.is_ascii_digit())
        };
        if !digits(whole) || fraction.is_some_and(|fraction| !digits(fraction)) {
            return Err(ApiError::illegal_characters(name, DECIMAL_PATTERN));
        }
        Decimal::from_str_exact(&text)
            .map(Some)
            .map_err(|_| ApiError::parameter_overflowed(name))
    }

    /// Ends reading: -1104 if a parameter was sent that the endpoint did not read.
    pub fn finish(&self) -> Result<(), ApiError> {
        let read = self.entries.iter().filter(|entry| entry.read).count();
        if read < self.entries.len() {
            return Err(ApiError::unread_parameters(read, self.entries.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_wins_over_the_body() {
        let mut params = Params::parse("symbol=BTCUSDT", "symbol=ETHUSDT&side=BUY").unwrap();
        assert_eq!(params.text("symbol").as_deref(), Some("BTCUSDT"));
        assert_eq!(params.text("side").as_deref(), Some("BUY"));
        assert!(params.finish().is_ok());
    }

    #[test]
    fn a_name_repeated_in_one_source_is_refused() {
        let err = Params::parse("a=1&a=2", "").err().unwrap();
        assert_eq!(err.code, -1101);
    }

    #[test]
    fn unread_parameters_are_counted() {
        let mut params = Params::parse("a=1&b=2&c=3", "").unwrap();
        params.text("a");
        let err = params.finish().unwrap_err();
        assert_eq!(
            err.msg,
            "Not all sent parameters were read; read '1' parameter(s) but was sent '3'."
        );
    }

    #[test]
    fn numbers_are_checked_against_binances_patterns() {
        let mut params =
            Params::parse("t=12x&q=1e-3&big=99999999999999999999&ok=0.10&n=42", "").unwrap();
        assert_eq!(
            params.long("t").unwrap_err().msg,
            "Illegal characters found in parameter 't'; legal range is '^[0-9]{1,20}$'."
        );
        assert_eq!(params.decimal("q").unwrap_err().code, -1100);
        assert_eq!(params.long("big").unwrap_err().code, -1108);
        assert_eq!(params.decimal("ok").unwrap(), Some(Decimal::new(10, 2)));
        assert_eq!(params.required_long("n").unwrap(), 42);
        let mut times = Params::parse("ms=1749988830123&us=1749988830123456", "").unwrap();
        assert_eq!(times.time_ms("ms").unwrap(), Some(1_749_988_830_123));
        assert_eq!(times.time_ms("us").unwrap(), Some(1_749_988_830_123));
        assert_eq!(times.time_ms("absent").unwrap(), None);
        assert_eq!(
            params.required_text("missing").unwrap_err().msg,
            "Mandatory parameter 'missing' was not sent, was empty/null, or malformed."
        );
    }
}
