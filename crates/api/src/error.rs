//! [`ApiError`]: every failure the API answers, as one JSON body `{code, message, field}` with
//! its HTTP status, so that no client ever sees axum's plain-text rejections or an empty 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A failed request: the status, a stable machine-readable `code`, a message for people and, when
/// the failure is about one field of the request body, that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code clients can match on, e.g. `"invalid_value"`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
    /// Seconds after which a rate-limited client may try again (`Retry-After`).
    pub retry_after_secs: Option<u64>,
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code clients can match on, e.g. `"invalid_value"`, `"unauthorized"`,
    /// `"not_found"` (see [`ApiError::code`]).
    #[schema(example = "invalid_value")]
    pub code: &'static str,
    /// What went wrong, for people (see [`ApiError::message`]).
    pub message: String,
    /// The request field or query parameter at fault; `null` when the error is not about one
    /// (see [`ApiError::field`]).
    #[schema(required = true)]
    pub field: Option<String>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`, about no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    /// The same error, about `field`.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `malformed_json`: the body is not JSON at all.
    pub fn malformed_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    /// 422 `invalid_value`: `field` holds a value the API refuses.
    pub fn invalid_value(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message).with_field(field)
    }

    /// 401 `unauthorized`, answered with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 409 `conflict` on `field`: the value is taken.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message).with_field(field)
    }

    /// 429 `too_many_requests`, to be retried after `retry_after_secs`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many failed login attempts; try again in {retry_after_secs} s"),
            )
        }
    }

    /// 500 `internal`: logs `error` (which must hold no secret) and tells the client nothing
    /// more than that the server failed.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer; see its log",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl From<accounts::InvalidField> for ApiError {
    /// A value that breaks one of the account or bot rules: 422 naming its field.
    fn from(invalid: accounts::InvalidField) -> Self {
        ApiError::invalid_value(invalid.field, invalid.message)
    }
}

impl From<store::StoreError> for ApiError {
    /// A store failure the handler did not map to something more precise is the server's fault.
    fn from(error: store::StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            field: self.field,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
