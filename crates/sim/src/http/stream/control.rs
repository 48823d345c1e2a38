//! The live methods a market-stream client sends on its socket (web-socket-streams.md, "Live
//! Subscribing/Unsubscribing to streams"): `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`,
//! `SET_PROPERTY ["combined", bool]` and `GET_PROPERTY ["combined"]`, read from JSON by hand
//! after serde has checked the envelope, because each malformed part has its own documented
//! answer:
//!
//! | what is wrong | answer |
//! |---|---|
//! | not JSON | `{"code": 3, "msg": "Invalid JSON: <where>"}` |
//! | no `method`, an unknown one, `params` not an array | `{"code": 2, "msg": "Invalid request: <serde's reason>"}` |
//! | `id` missing, or not an int64, an alphanumeric string of at most 36 characters or null | `{"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}` (Binance's wording) |
//! | parameters a method does not take | `{"code": 2, "msg": "Invalid request: too many parameters"}` |
//! | a stream name the simulator does not serve | `{"code": 2, "msg": "Invalid request: invalid stream: <why>"}` |
//! | a property name that is not a string | `{"code": 2, "msg": "Invalid request: property name must be a string"}` |
//! | a property other than `combined` | `{"code": 0, "msg": "Unknown property"}` |
//! | a `combined` value that is not a boolean | `{"code": 1, "msg": "Invalid value type: expected Boolean"}` |
//!
//! Errors go out as `{"error": {"code", "msg"}, "id": <the request's id, or null>}`, the shape
//! Binance's servers send (the docs list only the inner object).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::stream::names::StreamName;

/// The longest string `id` accepted.
const MAX_STRING_ID_LENGTH: usize = 36;

/// A request the session carries out.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Listen to these streams too.
    Subscribe(Vec<StreamName>),
    /// Stop listening to these streams.
    Unsubscribe(Vec<StreamName>),
    /// Which streams are listened to.
    ListSubscriptions,
    /// Wrap events as `{"stream", "data"}` (true) or not.
    SetCombined(bool),
    /// Whether events are wrapped.
    GetCombined,
}

/// A well-formed request: what to do, and the `id` to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request's `id`, echoed in the answer.
    pub id: Value,
    /// What it asks for.
    pub command: Command,
}

/// A request refused, with Binance's code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// Binance's code (0 to 3).
    pub code: i64,
    /// What was wrong.
    pub msg: String,
    /// The request's `id` when it could be read.
    pub id: Value,
}

impl Refused {
    fn new(code: i64, msg: impl Into<String>, id: &Value) -> Refused {
        Refused {
            code,
            msg: msg.into(),
            id: id.clone(),
        }
    }

    /// The answer to send.
    pub fn to_text(&self) -> String {
        json!({"error": {"code": self.code, "msg": self.msg}, "id": self.id}).to_string()
    }
}

/// The answer to a request that succeeded: `{"result": .., "id": ..}`.
pub fn reply(result: Value, id: &Value) -> String {
    json!({"result": result, "id": id}).to_string()
}

#[derive(Deserialize)]
enum Method {
    #[serde(rename = "SUBSCRIBE")]
    Subscribe,
    #[serde(rename = "UNSUBSCRIBE")]
    Unsubscribe,
    #[serde(rename = "LIST_SUBSCRIPTIONS")]
    ListSubscriptions,
    #[serde(rename = "SET_PROPERTY")]
    SetProperty,
    #[serde(rename = "GET_PROPERTY")]
    GetProperty,
}

#[derive(Deserialize)]
struct Envelope {
    method: Method,
    #[serde(default)]
    params: Option<Vec<Value>>,
}

/// Reads one text message from the client.
pub fn parse(text: &str) -> Result<Request, Refused> {
    let value: Value = serde_json::from_str(text)
        .map_err(|err| Refused::new(3, format!("Invalid JSON: {err}"), &Value::Null))?;
    let envelope = Envelope::deserialize(&value)
        .map_err(|err| Refused::new(2, format!("Invalid request: {err}"), &Value::Null))?;
    let id = value
        .get("id")
        .filter(|id| is_valid_id(id))
        .cloned()
        .ok_or_else(|| {
            Refused::new(
                2,
                "Invalid request: request ID must be an unsigned integer",
                &Value::Null,
            )
        })?;
    let params = envelope.params.unwrap_or_default();
    let command = match envelope.method {
        Method::Subscribe => Command::Subscribe(stream_names(&params, &id)?),
        Method::Unsubscribe => Command::Unsubscribe(stream_names(&params, &id)?),
        Method::ListSubscriptions => {
            if !params.is_empty() {
                return Err(too_many_parameters(&id));
            }
            Command::ListSubscriptions
        }
        Method::SetProperty => {
            if params.len() > 2 {
                return Err(too_many_parameters(&id));
            }
            check_property(params.first(), &id)?;
            match params.get(1) {
                Some(Value::Bool(combined)) => Command::SetCombined(*combined),
                _ => return Err(Refused::new(1, "Invalid value type: expected Boolean", &id)),
            }
        }
        Method::GetProperty => {
            if params.len() > 1 {
                return Err(too_many_parameters(&id));
            }
            check_property(params.first(), &id)?;
            Command::GetCombined
        }
    };
    Ok(Request { id, command })
}

/// Binance's accepted ids: a 64-bit signed integer, an alphanumeric string of at most 36
/// characters, or null.
fn is_valid_id(id: &Value) -> bool {
    match id {
        Value::Null => true,
        Value::Number(number) => number.is_i64(),
        Value::String(text) => {
            text.len() <= MAX_STRING_ID_LENGTH
                && text.bytes().all(|byte| byte.is_ascii_alphanumeric())
        }
        _ => false,
    }
}

fn too_many_parameters(id: &Value) -> Refused {
    Refused::new(2, "Invalid request: too many parameters", id)
}

/// The stream names of a SUBSCRIBE or UNSUBSCRIBE, each one a stream the simulator serves.
fn stream_names(params: &[Value], id: &Value) -> Result<Vec<StreamName>, Refused> {
    params
        .iter()
        .map(|param| {
            let name = param.as_str().ok_or_else(|| {
                Refused::new(
                    2,
                    format!(
                        "Invalid request: invalid stream: {param} is not a stream name (a string)"
                    ),
                    id,
                )
            })?;
            StreamName::parse(name).map_err(|reason| {
                Refused::new(2, format!("Invalid request: invalid stream: {reason}"), id)
            })
        })
        .collect()
}

/// The property a SET_PROPERTY or GET_PROPERTY names must be `combined`, the only one there is.
fn check_property(name: Option<&Value>, id: &Value) -> Result<(), Refused> {
    match name {
        Some(Value::String(name)) if name == "combined" => Ok(()),
        Some(Value::String(_)) => Err(Refused::new(0, "Unknown property", id)),
        _ => Err(Refused::new(
            2,
            "Invalid request: property name must be a string",
            id,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> (i64, String, Value) {
        let refused = parse(text).unwrap_err();
        (refused.code, refused.msg, refused.id)
    }

    #[test]
    fn the_documented_requests_are_read_with_their_ids() {
        let request = parse(
            r#"{"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@trade"], "id": 1}"#,
        )
        .unwrap();
        assert_eq!(request.id, json!(1));
        assert!(matches!(request.command, Command::Subscribe(names) if names.len() == 2));
        let request =
            parse(r#"{"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": "abc36"}"#)
                .unwrap();
        assert_eq!(request.id, json!("abc36"));
        assert_eq!(
            parse(r#"{"method": "LIST_SUBSCRIPTIONS", "id": null}"#).unwrap(),
            Request {
                id: Value::Null,
                command: Command::ListSubscriptions
            }
        );
        assert_eq!(
            parse(r#"{"method": "SET_PROPERTY", "params": ["combined", true], "id": -5}"#)
                .unwrap()
                .command,
            Command::SetCombined(true)
        );
        assert_eq!(
            parse(r#"{"method": "GET_PROPERTY", "params": ["combined"], "id": 2}"#)
                .unwrap()
                .command,
            Command::GetCombined
        );
    }

    #[test]
    fn each_malformed_part_gets_its_documented_answer() {
        assert_eq!(refused("{nope").0, 3);
        assert!(refused("{nope").1.starts_with("Invalid JSON: "));
        let (code, msg, _) = refused(r#"{"method": "SUBSCRIBEX", "params": [], "id": 1}"#);
        assert_eq!(code, 2);
        assert!(
            msg.starts_with(
                "Invalid request: unknown variant `SUBSCRIBEX`, expected one of `SUBSCRIBE`"
            ),
            "{msg}"
        );
        assert_eq!(
            refused(r#"{"params": [], "id": 1}"#).1,
            "Invalid request: missing field `method`"
        );
        for id in [
            "1.5",
            "true",
            "\"with-dash\"",
            "\"0123456789012345678901234567890123456\"",
            "18446744073709551615",
        ] {
            let text = format!(r#"{{"method": "LIST_SUBSCRIPTIONS", "id": {id}}}"#);
            assert_eq!(
                refused(&text).1,
                "Invalid request: request ID must be an unsigned integer",
                "{id}"
            );
        }
        assert_eq!(
            refused(r#"{"method": "LIST_SUBSCRIPTIONS"}"#).1,
            "Invalid request: request ID must be an unsigned integer"
        );
        assert_eq!(
            refused(r#"{"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 4}"#),
            (2, "Invalid request: too many parameters".into(), json!(4))
        );
        let (code, msg, id) =
            refused(r#"{"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 9}"#);
        assert_eq!((code, id), (2, json!(9)));
        assert!(
            msg.starts_with("Invalid request: invalid stream: ") && msg.contains("btcusdt@depth"),
            "{msg}"
        );
        assert_eq!(
            refused(r#"{"method": "SUBSCRIBE", "params": [5], "id": 9}"#).0,
            2
        );
        assert_eq!(
            refused(r#"{"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 9}"#).0,
            2
        );
        assert_eq!(
            refused(r#"{"method": "SET_PROPERTY", "params": ["colour", true], "id": 5}"#),
            (0, "Unknown property".into(), json!(5))
        );
        assert_eq!(
            refused(r#"{"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 5}"#).1,
            "Invalid value type: expected Boolean"
        );
        assert_eq!(
            refused(r#"{"method": "GET_PROPERTY", "params": [1], "id": 5}"#).1,
            "Invalid request: property name must be a string"
        );
        assert_eq!(
            refused(r#"{"method": "SET_PROPERTY", "params": ["combined", true, 1], "id": 5}"#).1,
            "Invalid request: too many parameters"
        );
    }

    #[test]
    fn answers_have_binances_shapes() {
        let sent: Value = serde_json::from_str(&reply(Value::Null, &json!(1))).unwrap();
        assert_eq!(sent, json!({"result": null, "id": 1}));
        let refusal = Refused::new(2, "Invalid request: too many parameters", &json!("a"));
        let sent: Value = serde_json::from_str(&refusal.to_text()).unwrap();
        assert_eq!(
            sent,
            json!({"error": {"code": 2, "msg": "Invalid request: too many parameters"}, "id": "a"})
        );
    }
}
