//! Reading Binance's JSON answers field by field. Every accessor names the field path and what
//! was wrong with it (missing, wrong type, not a decimal), so a malformed or truncated answer
//! becomes a clear error instead of a panic or a silent default.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// A JSON object being read, with its path for error messages (`fills[2]`).
pub(crate) struct Fields<'a> {
    object: &'a serde_json::Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    /// Reads `value` as an object found at `path` (empty for the document).
    pub(crate) fn new(value: &'a Value, path: impl Into<String>) -> Result<Fields<'a>, String> {
        let path = path.into();
        match value.as_object() {
            Some(object) => Ok(Fields { object, path }),
            None => Err(format!(
                "{}: expected an object, found {}",
                display_path(&path),
                type_name(value)
            )),
        }
    }

    /// The path of field `name`.
    pub(crate) fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn required(&self, name: &str) -> Result<&'a Value, String> {
        self.object
            .get(name)
            .ok_or_else(|| format!("{}: missing", self.path_of(name)))
    }

    fn wrong_type(&self, name: &str, expected: &str, found: &Value) -> String {
        format!(
            "{}: expected {expected}, found {}",
            self.path_of(name),
            type_name(found)
        )
    }

    /// A string field.
    pub(crate) fn str(&self, name: &str) -> Result<&'a str, String> {
        let value = self.required(name)?;
        value
            .as_str()
            .ok_or_else(|| self.wrong_type(name, "a string", value))
    }

    /// A decimal sent as a string (`"0.00100000"`).
    pub(crate) fn decimal(&self, name: &str) -> Result<Decimal, String> {
        let text = self.str(name)?;
        Decimal::from_str(text)
            .map_err(|_| format!("{}: {text:?} is not a decimal", self.path_of(name)))
    }

    /// A signed integer field.
    pub(crate) fn i64(&self, name: &str) -> Result<i64, String> {
        let value = self.required(name)?;
        value
            .as_i64()
            .ok_or_else(|| self.wrong_type(name, "an integer", value))
    }

    /// A non-negative integer field.
    pub(crate) fn u64(&self, name: &str) -> Result<u64, String> {
        let value = self.required(name)?;
        value
            .as_u64()
            .ok_or_else(|| self.wrong_type(name, "a non-negative integer", value))
    }

    /// A non-negative integer field that may be absent (or `null`).
    pub(crate) fn optional_u64(&self, name: &str) -> Result<Option<u64>, String> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong_type(name, "a non-negative integer", value)),
        }
    }

    /// A boolean field.
    pub(crate) fn bool(&self, name: &str) -> Result<bool, String> {
        let value = self.required(name)?;
        value
            .as_bool()
            .ok_or_else(|| self.wrong_type(name, "true or false", value))
    }

    /// An array field.
    pub(crate) fn array(&self, name: &str) -> Result<&'a Vec<Value>, String> {
        let value = self.required(name)?;
        value
            .as_array()
            .ok_or_else(|| self.wrong_type(name, "an array", value))
    }

    /// An array of strings.
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, String> {
        self.array(name)?
            .iter()
            .enumerate()
            .map(|(index, item)| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    format!(
                        "{}[{index}]: expected a string, found {}",
                        self.path_of(name),
                        type_name(item)
                    )
                })
            })
            .collect()
    }
}

/// Parses a body as JSON, saying where it broke off.
pub(crate) fn parse_json(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|err| {
        if err.is_eof() {
            format!("the body is truncated ({} bytes): {err}", body.len())
        } else {
            format!("the body is not JSON: {err}")
        }
    })
}

/// How a JSON value's type is named in errors.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "the answer" } else { path }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let value = json!({"price": "1.5", "qty": 3, "bad": "1e", "fills": {}});
        let fields = Fields::new(&value, "order").unwrap();
        assert_eq!(fields.decimal("price").unwrap(), Decimal::new(15, 1));
        assert_eq!(
            fields.decimal("qty").unwrap_err(),
            "order.qty: expected a string, found a number"
        );
        assert_eq!(
            fields.decimal("bad").unwrap_err(),
            "order.bad: \"1e\" is not a decimal"
        );
        assert_eq!(fields.i64("missing").unwrap_err(), "order.missing: missing");
        assert_eq!(
            fields.array("fills").unwrap_err(),
            "order.fills: expected an array, found an object"
        );
        assert_eq!(
            Fields::new(&json!([1]), "").err().unwrap(),
            "the answer: expected an object, found an array"
        );
    }

    #[test]
    fn booleans_optional_integers_and_string_lists() {
        let value = json!({"ok": true, "no": "yes", "uid": 7, "gone": null, "neg": -1,
                           "names": ["SPOT", "MARGIN"], "mixed": ["SPOT", 3]});
        let fields = Fields::new(&value, "").unwrap();
        assert_eq!(fields.bool("ok"), Ok(true));
        assert_eq!(
            fields.bool("no").unwrap_err(),
            "no: expected true or false, found a string"
        );
        assert_eq!(fields.optional_u64("uid"), Ok(Some(7)));
        assert_eq!(fields.optional_u64("gone"), Ok(None));
        assert_eq!(fields.optional_u64("absent"), Ok(None));
        assert!(fields.optional_u64("neg").unwrap_err().starts_with("neg: "));
        assert_eq!(
            fields.strings("names"),
            Ok(vec!["SPOT".to_owned(), "MARGIN".to_owned()])
        );
        assert_eq!(
            fields.strings("mixed").unwrap_err(),
            "mixed[1]: expected a string, found a number"
        );
    }

    #[test]
    fn truncated_and_garbage_bodies_are_told_apart() {
        assert!(
            parse_json(r#"{"serverTime": 17"#)
                .unwrap_err()
                .starts_with("the body is truncated")
        );
        assert!(
            parse_json("<html>bad gateway</html>")
                .unwrap_err()
                .starts_with("the body is not JSON")
        );
    }
}
