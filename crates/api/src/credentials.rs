//! `/api/v1/credentials/{venue}`: the caller's exchange key for `testnet` or `live`, HMAC (API
//! key + secret) or Ed25519 (API key + PEM private key, the type Binance recommends). A key is
//! verified with one signed call to the venue before it is stored; a key the exchange refuses is
//! a 422 naming the field, with the exchange's reason, and nothing is stored. The secret is
//! encrypted before it reaches the store ([`accounts::vault`]) and never returned: answers show
//! the key's first characters, its type, when it was set and last verified, and the account's
//! `canTrade` and `permissions` as the exchange reported them.
//!
//! | route | answer |
//! |---|---|
//! | `PUT /api/v1/credentials/{venue}` | 201 [`CredentialsBody`] the first time, 200 when replacing |
//! | `GET /api/v1/credentials/{venue}` | 200 [`CredentialsBody`], or 404 when none is stored |
//! | `DELETE /api/v1/credentials/{venue}` | 204 (the caller's bots there are paused), or 404 |
//! | `GET /api/v1/venues` | 200 `[`[`VenueBody`]`]`: the venues this server trades, each with the caller's key |
//!
//! Paper accounts are spotbot's own (see `/api/v1/account/paper`); `paper` is not a venue here.

use std::fmt;

use accounts::{KeySubmission, SetKeyError};
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use store::{Mode, StoredCredentials};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::ApiState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;

/// How many characters of the API key answers show.
const API_KEY_SHOWN_CHARS: usize = 8;

/// The body of `PUT /api/v1/credentials/{venue}`: an HMAC key (`api_key` + `api_secret`) or an
/// Ed25519 key (`api_key` + `private_key`). Its `Debug` hides the secret.
///
/// The single-line fields' pattern refuses exactly what the server refuses: control characters
/// (`\x00-\x1f`, `\x7f-\x9f`) and Unicode white space.
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
    /// An HMAC key's secret, 1 to 256 characters without spaces nor control characters; stored
    /// encrypted, never returned. Give this or `private_key`.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$",
        write_only
    )]
    pub api_secret: Option<String>,
    /// An Ed25519 key's private key: the PEM text `openssl genpkey -algorithm ed25519` writes
    /// (or base64 of its PKCS#8 DER or 32-byte seed), at most 4096 characters; stored encrypted,
    /// never returned. Give this or `api_secret`.
    #[schema(min_length = 1, max_length = 4096, write_only)]
    pub private_key: Option<String>,
}

impl fmt::Debug for PutCredentialsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutCredentialsRequest")
            .field("api_key", &self.api_key)
            .field(
                "api_secret",
                &self.api_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl PutCredentialsRequest {
    /// The key this request submits, or the field at fault when it gives no secret or both.
    fn submission(self) -> Result<KeySubmission, ApiError> {
        match (self.api_secret, self.private_key) {
            (Some(secret), None) => Ok(KeySubmission::hmac(self.api_key, Zeroizing::new(secret))),
            (None, Some(private_key)) => Ok(KeySubmission::ed25519(
                self.api_key,
                Zeroizing::new(private_key),
            )),
            (None, None) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_field",
                "give api_secret (an HMAC key) or private_key (an Ed25519 key)",
            )
            .with_field("api_secret")),
            (Some(_), Some(_)) => Err(ApiError::invalid_value(
                "private_key",
                "give api_secret (an HMAC key) or private_key (an Ed25519 key), not both",
            )),
        }
    }
}

/// The caller's key for one venue as answered: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CredentialsBody {
    /// The venue: `testnet` or `live` (or `paper` in `GET /api/v1/account/paper`'s key).
    #[schema(example = "testnet")]
    pub venue: &'static str,
    /// The API key's first characters, then `…`.
    #[schema(example = "vmPUZE6m…")]
    pub api_key_prefix: String,
    /// `hmac` or `ed25519`.
    #[schema(example = "ed25519")]
    pub key_type: &'static str,
    /// When the key was stored, in ms since the epoch.
    pub set_at_ms: i64,
    /// When the exchange last accepted it, in ms since the epoch.
    #[schema(required = true)]
    pub verified_at_ms: Option<i64>,
    /// Whether the exchange said the account can trade, when it last verified the key.
    #[schema(required = true)]
    pub can_trade: Option<bool>,
    /// The account's permissions as the exchange reported them (e.g. `["SPOT"]`).
    pub permissions: Vec<String>,
}

impl From<StoredCredentials> for CredentialsBody {
    fn from(stored: StoredCredentials) -> Self {
        let mut api_key_prefix: String = stored.api_key.chars().take(API_KEY_SHOWN_CHARS).collect();
        api_key_prefix.push('…');
        let verification = stored.verification;
        CredentialsBody {
            venue: stored.venue.as_str(),
            api_key_prefix,
            key_type: stored.key_type.as_str(),
            set_at_ms: stored.set_at_ms,
            verified_at_ms: verification.as_ref().map(|v| v.verified_at_ms),
            can_trade: verification.as_ref().map(|v| v.can_trade),
            permissions: verification.map(|v| v.permissions).unwrap_or_default(),
        }
    }
}

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/credentials/{venue}",
            get(get_credentials)
                .put(put_credentials)
                .delete(delete_credentials),
        )
        .route("/api/v1/venues", get(list_venues))
}

/// A venue this server trades, and the caller's key for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VenueBody {
    /// `paper`, `testnet` or `live`.
    #[schema(example = "testnet")]
    pub venue: &'static str,
    /// Whether trading there needs the user's own key (`testnet`, `live`); a paper account is
    /// opened by spotbot itself.
    pub needs_key: bool,
    /// The caller's key for it, when one is stored (never the secret).
    #[schema(required = true)]
    pub key: Option<CredentialsBody>,
}

/// `GET /api/v1/venues`: where the caller can trade here, and with which key: what a page asks
/// before it reads accounts, so that it never asks for one that cannot exist.
#[utoipa::path(
    get,
    path = "/api/v1/venues",
    tag = "credentials",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The venues this server trades, paper first, each with the caller's key", body = [VenueBody]),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
    ),
)]
pub(crate) async fn list_venues(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<Vec<VenueBody>>, ApiError> {
    let mut venues = Vec::new();
    for &venue in Mode::ALL {
        if state.accounts.venue(venue).is_err() {
            continue;
        }
        let needs_key = venue != Mode::Paper;
        let key = if needs_key {
            state.store.credentials(caller.user.id, venue).await?
        } else {
            None
        };
        venues.push(VenueBody {
            venue: venue.as_str(),
            needs_key,
            key: key.map(CredentialsBody::from),
        });
    }
    Ok(Json(venues))
}

/// The venue of the path: `testnet` or `live`; anything else names no key, so it is a 404.
fn key_venue(path: Result<Path<String>, PathRejection>) -> Result<Mode, ApiError> {
    match path.ok().and_then(|Path(venue)| venue.parse::<Mode>().ok()) {
        Some(venue @ (Mode::Testnet | Mode::Live)) => Ok(venue),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such venue: keys are stored for testnet or live (paper accounts: /api/v1/account/paper)",
        )),
    }
}

/// `PUT /api/v1/credentials/{venue}`: verifies the key with the venue's exchange, then stores
/// or replaces it.
#[utoipa::path(
    put,
    path = "/api/v1/credentials/{venue}",
    tag = "credentials",
    security(("bearer" = [])),
    params(("venue" = String, Path, description = "`testnet` or `live`", pattern = "^(testnet|live)$")),
    request_body = PutCredentialsRequest,
    responses(
        (status = 200, description = "The key replaced the stored one", body = CredentialsBody),
        (status = 201, description = "The key is stored, the first time", body = CredentialsBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: not a venue keys are stored for, or one this server does not trade", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field`, `invalid_type`, or `invalid_value` about `api_key`, `api_secret` or `private_key`: malformed, or refused by the exchange (with its reason: unknown or revoked key, IP not whitelisted, bad signature, an account that cannot trade). Nothing is stored.", body = ErrorBody),
        (status = 503, description = "`exchange_unavailable`: the venue's exchange could not verify the key; nothing is stored", body = ErrorBody),
    ),
)]
pub(crate) async fn put_credentials(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
    Json(request): Json<PutCredentialsRequest>,
) -> Result<(StatusCode, Json<CredentialsBody>), ApiError> {
    let venue = key_venue(path)?;
    let submission = request.submission()?;
    let stored = state
        .accounts
        .set_key(caller.user.id, venue, &submission)
        .await
        .map_err(set_key_error)?;
    let status = if stored.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(stored.stored.into())))
}

/// A key not stored, as answered.
fn set_key_error(error: SetKeyError) -> ApiError {
    match error {
        SetKeyError::Invalid(invalid) => invalid.into(),
        SetKeyError::ExchangeUnavailable { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "exchange_unavailable",
            error.to_string(),
        ),
        SetKeyError::Account(error) => crate::account::account_error(error),
    }
}

/// `GET /api/v1/credentials/{venue}`: the caller's key for the venue (never the secret).
#[utoipa::path(
    get,
    path = "/api/v1/credentials/{venue}",
    tag = "credentials",
    security(("bearer" = [])),
    params(("venue" = String, Path, description = "`testnet` or `live`", pattern = "^(testnet|live)$")),
    responses(
        (status = 200, description = "The stored key", body = CredentialsBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: no key is stored for the venue, or it is not a venue", body = ErrorBody),
    ),
)]
pub(crate) async fn get_credentials(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<CredentialsBody>, ApiError> {
    let venue = key_venue(path)?;
    state
        .store
        .credentials(caller.user.id, venue)
        .await?
        .map(|stored| Json(stored.into()))
        .ok_or_else(|| no_credentials(venue))
}

/// `DELETE /api/v1/credentials/{venue}`: forgets the caller's key for the venue and pauses their
/// bots there, which cannot trade without it.
#[utoipa::path(
    delete,
    path = "/api/v1/credentials/{venue}",
    tag = "credentials",
    security(("bearer" = [])),
    params(("venue" = String, Path, description = "`testnet` or `live`", pattern = "^(testnet|live)$")),
    responses(
        (status = 204, description = "The key is deleted; the caller's bots on the venue are paused"),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: no key is stored for the venue, or it is not a venue", body = ErrorBody),
    ),
)]
pub(crate) async fn delete_credentials(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let venue = key_venue(path)?;
    let reason = format!(
        "paused: you deleted your {venue} API key; store a new one with PUT /api/v1/credentials/{venue}, then start the bot again"
    );
    if state
        .accounts
        .delete_key(caller.user.id, venue, &reason)
        .await
        .map_err(crate::account::account_error)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_credentials(venue))
    }
}

fn no_credentials(venue: Mode) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no {venue} API key is stored for this account"),
    )
}
