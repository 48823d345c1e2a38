//! [`Json`]: the API's JSON body extractor and response. Unlike `axum::Json` it rejects with an
//! [`ApiError`] that says what was wrong and names the field: 415 for another content type, 413
//! for a body over the limit, 400 for text that is not JSON, 422 for JSON of the wrong shape
//! (unknown, missing or mistyped fields, or a key given twice in one object, anywhere in the
//! body).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body (extractor) or response body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Whether `content_type` is JSON: `application/json` or `application/*+json`, parameters such as
/// `charset` allowed.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

/// The field that a serde message names between backticks (`unknown field `x`, expected ...`,
/// `missing field `x``), which serde reports at the enclosing object, not at the field.
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let length = message[start..].find('`')?;
    Some(&message[start..start + length])
}

/// The [`ApiError`] for a body that is JSON but does not deserialize into the expected type.
fn shape_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if !inner.is_data() {
        return ApiError::malformed_json(format!("the body is not valid JSON: {inner}"));
    }
    let message = inner.to_string();
    // serde_json appends " at line L column C", which helps nobody reading a JSON error body.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(head, _)| head)
        .to_owned();
    let (code, field) = if message.starts_with("unknown field") {
        ("unknown_field", backticked(&message).map(str::to_owned))
    } else if message.starts_with("missing field") {
        ("missing_field", backticked(&message).map(str::to_owned))
    } else {
        ("invalid_type", (path != ".").then_some(path))
    };
    ApiError {
        field,
        ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

/// The path (`a.b`, `list[2].c`) of the first key given twice in one object of the JSON text
/// `bytes`, anywhere in it (`serde_json` keeps the last value of a repeated key, and only a
/// struct's derived `Deserialize` notices one, naming no path); `None` when there is none or the
/// text is not JSON (the typed parse reports that).
fn repeated_key(bytes: &[u8]) -> Option<String> {
    use serde::de::DeserializeSeed;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match (UniqueKeys {
        path: String::new(),
    })
    .deserialize(&mut deserializer)
    {
        Err(error) => error.to_string().strip_prefix(REPEATED).map(|rest| {
            rest.rsplit_once(" at line ")
                .map_or(rest, |(path, _)| path)
                .to_owned()
        }),
        Ok(()) => None,
    }
}

/// What [`UniqueKeys`] prefixes the path of a repeated key with.
const REPEATED: &str = "repeated key: ";

/// Walks a JSON value, failing with [`REPEATED`] and the path at the first key repeated in an
/// object.
struct UniqueKeys {
    path: String,
}

impl UniqueKeys {
    fn child(&self, step: &str) -> UniqueKeys {
        UniqueKeys {
            path: if self.path.is_empty() || step.starts_with('[') {
                format!("{}{step}", self.path)
            } else {
                format!("{}.{step}", self.path)
            },
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if !seen.insert(key) {
                return Err(serde::de::Error::custom(format!(
                    "{REPEATED}{}",
                    child.path
                )));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while seq
            .next_element_seed(self.child(&format!("[{index}]")))?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        format!("the body is larger than {} bytes", crate::BODY_LIMIT_BYTES),
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "unreadable_body",
                        format!("cannot read the body: {rejection}"),
                    )
                }
            })?;
        if let Some(field) = repeated_key(&bytes) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "duplicate_field",
                format!("{field} is given twice: which value was meant cannot be known"),
            )
            .with_field(field));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            // Deserialization stops at the first wrong field, before the rest was read: a body
            // that is not JSON at all further on must still be called malformed, not misshapen.
            match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                Err(syntax) => {
                    ApiError::malformed_json(format!("the body is not valid JSON: {syntax}"))
                }
                Ok(_) => shape_error(error),
            }
        })?;
        // Trailing text after the value (`{} x`) is malformed JSON, not a valid body.
        deserializer.end().map_err(|error| {
            ApiError::malformed_json(format!("the body is not valid JSON: {error}"))
        })?;
        Ok(Json(value))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "",
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }

    #[test]
    fn a_key_given_twice_is_found_with_its_path_at_any_depth() {
        let found = |text: &str| repeated_key(text.as_bytes());
        assert_eq!(found(r#"{"a": 1, "a": 2}"#).as_deref(), Some("a"));
        assert_eq!(
            found(r#"{"a": {"b": 1, "c": {"d": 0, "d": 1}}}"#).as_deref(),
            Some("a.c.d")
        );
        assert_eq!(
            found(r#"[{"x": 1}, {"y": 1, "y": 2}]"#).as_deref(),
            Some("[1].y")
        );
        assert_eq!(
            found(r#"{"a": [1, {"b": 1, "b": 1}]}"#).as_deref(),
            Some("a[1].b")
        );
        assert_eq!(
            found(r#"{"a": 1, "b": {"a": 2}}"#),
            None,
            "the same key in two objects"
        );
        assert_eq!(found("not json"), None);
        assert_eq!(
            found(r#"{"a": "repeated key: x"}"#),
            None,
            "a value is no error"
        );
    }

    #[test]
    fn the_field_between_backticks_is_found() {
        assert_eq!(backticked("unknown field `x`, expected `a`"), Some("x"));
        assert_eq!(backticked("missing field `password`"), Some("password"));
        assert_eq!(backticked("no field here"), None);
    }
}
