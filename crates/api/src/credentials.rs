//! `/api/v1/credentials`: the caller's exchange API key and secret. The secret is encrypted with
//! the [`MasterKey`](crate::vault::MasterKey) before it reaches the store and is never returned:
//! answers show the API key and when it was last set.
//!
//! | route | answer |
//! |---|---|
//! | `PUT /api/v1/credentials` | 201 [`CredentialsBody`] the first time, 200 when replacing |
//! | `GET /api/v1/credentials` | 200 [`CredentialsBody`], or 404 when none are stored |
//! | `DELETE /api/v1/credentials` | 204, or 404 when none are stored |

use std::fmt;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use store::StoredCredentials;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use crate::{ApiState, now_ms};

/// The longest API key or secret accepted. Binance's are 64 characters; this leaves room for
/// other key types without accepting megabytes.
pub const CREDENTIAL_MAX_CHARS: usize = 256;

/// The body of `PUT /api/v1/credentials`. Its `Debug` hides the secret.
///
/// The fields' pattern refuses exactly what `check_credential` refuses: control characters
/// (`\x00-\x1f`, `\x7f-\x9f`) and Unicode white space (the rest of the class), so that the
/// document calls no value valid that the server refuses, nor the other way round.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCredentialsRequest {
    /// The exchange API key, 1 to 256 characters without spaces nor control characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$"
    )]
    pub api_key: String,
    /// The exchange API secret, 1 to 256 characters without spaces nor control characters;
    /// stored encrypted, never returned.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$",
        write_only
    )]
    pub api_secret: String,
}

impl fmt::Debug for PutCredentialsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutCredentialsRequest")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .finish()
    }
}

/// The caller's credentials as answered: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CredentialsBody {
    /// The exchange API key.
    pub api_key: String,
    /// When they were last set, in ms since the epoch.
    pub updated_at_ms: i64,
}

impl From<StoredCredentials> for CredentialsBody {
    fn from(stored: StoredCredentials) -> Self {
        CredentialsBody {
            api_key: stored.api_key,
            updated_at_ms: stored.updated_at_ms,
        }
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route(
        "/api/v1/credentials",
        get(get_credentials)
            .put(put_credentials)
            .delete(delete_credentials),
    )
}

/// Checks that `value` is 1 to [`CREDENTIAL_MAX_CHARS`] printable characters without spaces.
/// The message never repeats the value.
fn check_credential(field: &'static str, value: &str) -> Result<(), ApiError> {
    let length = value.chars().count();
    if !(1..=CREDENTIAL_MAX_CHARS).contains(&length) {
        return Err(ApiError::invalid_value(
            field,
            format!("must be 1 to {CREDENTIAL_MAX_CHARS} characters, got {length}"),
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid_value(
            field,
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}

/// `PUT /api/v1/credentials`: stores or replaces the caller's exchange keys.
#[utoipa::path(
    put,
    path = "/api/v1/credentials",
    tag = "credentials",
    security(("bearer" = [])),
    request_body = PutCredentialsRequest,
    responses(
        (status = 200, description = "The keys replaced the stored ones", body = CredentialsBody),
        (status = 201, description = "The keys are stored, the first time", body = CredentialsBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `invalid_type`, or `invalid_value` about `api_key` or `api_secret`", body = ErrorBody),
        (status = 503, description = "`credentials_unavailable`: the server has no master key", body = ErrorBody),
    ),
)]
pub(crate) async fn put_credentials(
    State(state): State<ApiState>,
    caller: AuthUser,
    Json(request): Json<PutCredentialsRequest>,
) -> Result<(StatusCode, Json<CredentialsBody>), ApiError> {
    check_credential("api_key", &request.api_key)?;
    check_credential("api_secret", &request.api_secret)?;
    let key = state.config.master_key.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "credentials_unavailable",
            "this server has no master key configured, so it cannot store exchange secrets",
        )
    })?;
    let user = caller.user.id;
    let ciphertext = key
        .encrypt(user, request.api_secret.as_bytes())
        .map_err(ApiError::internal)?;
    let existed = state.store.credentials(user).await?.is_some();
    let now = now_ms();
    state
        .store
        .put_credentials(user, &request.api_key, &ciphertext, now)
        .await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(CredentialsBody {
            api_key: request.api_key,
            updated_at_ms: now,
        }),
    ))
}

/// `GET /api/v1/credentials`: the caller's exchange API key (never the secret).
#[utoipa::path(
    get,
    path = "/api/v1/credentials",
    tag = "credentials",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stored API key", body = CredentialsBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: no credentials are stored", body = ErrorBody),
    ),
)]
pub(crate) async fn get_credentials(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<CredentialsBody>, ApiError> {
    state
        .store
        .credentials(caller.user.id)
        .await?
        .map(|stored| Json(stored.into()))
        .ok_or_else(no_credentials)
}

/// `DELETE /api/v1/credentials`: forgets the caller's exchange keys.
#[utoipa::path(
    delete,
    path = "/api/v1/credentials",
    tag = "credentials",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The keys are deleted"),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: no credentials are stored", body = ErrorBody),
    ),
)]
pub(crate) async fn delete_credentials(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_credentials(caller.user.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_credentials())
    }
}

fn no_credentials() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no exchange credentials are stored for this account",
    )
}
