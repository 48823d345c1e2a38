//! The handlers: health and readiness, register, login, logout and `me`, the JSON 404 and 405,
//! and the request and response bodies they speak.

use std::fmt;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use store::{NewUser, Role, StoreError, User, UserId};
use utoipa::ToSchema;

use crate::auth::{AuthUser, ClientIp, new_token, token_hash};
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use crate::{ApiState, now_ms};
use accounts::password::{hash_password, verify_password};
use accounts::rules as validate;

/// How long a session's record is kept after it expired (30 days): who logged in when, for an
/// operator looking back, without keeping every login ever made.
const SESSION_HISTORY_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// The body of `GET /health` and of a successful `GET /ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// `"ok"` for health, `"ready"` for readiness.
    #[schema(example = "ok")]
    pub status: String,
}

/// The body of `POST /api/v1/auth/register`.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The email address (unique): at most 254 characters, no spaces nor control characters,
    /// `local@domain` where the domain has dot-separated labels, none empty nor starting or
    /// ending with `-` (the pattern is exactly what [`validate::email`] accepts: its classes
    /// leave out `@`, control characters and Unicode white space).
    #[schema(
        example = "alice@example.com",
        max_length = 254,
        pattern = r"^[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000-]([^@.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000-])?(\.[^@.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000-]([^@.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000-])?)+$"
    )]
    pub email: String,
    /// The login name (unique), 3 to 32 of `A-Z a-z 0-9 _ . -`.
    #[schema(
        example = "alice",
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9_.-]{3,32}$"
    )]
    pub username: String,
    /// The password, 10 to 128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

impl fmt::Debug for RegisterRequest {
    /// Everything but the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("email", &self.email)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The body of `POST /api/v1/auth/login`.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The login name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for LoginRequest {
    /// Everything but the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The answer to a login: the bearer token (shown this once; the server keeps only its hash)
/// and when it expires.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working, in ms since the epoch.
    pub expires_at_ms: i64,
}

impl fmt::Debug for LoginResponse {
    /// Everything but the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserBody {
    /// The user's id.
    pub id: i64,
    /// The email address.
    pub email: String,
    /// The login name.
    pub username: String,
    /// `"user"` or `"admin"`.
    #[schema(example = "user")]
    pub role: String,
    /// When the user was created, in ms since the epoch.
    pub created_at_ms: i64,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        UserBody {
            id: user.id.0,
            email: user.email,
            username: user.username,
            role: user.role.as_str().to_owned(),
            created_at_ms: user.created_at_ms,
        }
    }
}

/// Runs CPU- and memory-heavy password work (argon2id takes 19 MiB per hash) on the API's
/// password threads ([`crate::ApiState`] keeps one per core), so that it does not stall the
/// requests sharing this worker thread, and a burst of registrations or logins waits its turn
/// instead of taking a gigabyte. A fixed set of threads also keeps the memory the allocator
/// holds on to after each hash to one hash's worth per thread.
async fn blocking<T: Send + 'static>(
    state: &ApiState,
    work: impl FnOnce() -> Result<T, accounts::password::PasswordError> + Send + 'static,
) -> Result<T, ApiError> {
    let (done, result) = tokio::sync::oneshot::channel();
    state.password_work.spawn(move || {
        // The request may have gone away meanwhile: nobody to tell.
        let _ = done.send(work());
    });
    result
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// `GET /health`: the process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses((status = 200, description = "The process answers", body = Status)),
)]
pub(crate) async fn health() -> Json<Status> {
    Json(Status {
        status: "ok".to_owned(),
    })
}

/// `GET /ready`: the database answers too.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "health",
    responses(
        (status = 200, description = "The database answers too", body = Status),
        (status = 503, description = "`not_ready`: the database does not answer", body = ErrorBody),
    ),
)]
pub(crate) async fn ready(State(state): State<ApiState>) -> Result<Json<Status>, ApiError> {
    // Any query proves the database answers; looking up a user id that never exists is one that
    // costs an index probe on both backends.
    match state.store.user(UserId(0)).await {
        Ok(_) => Ok(Json(Status {
            status: "ready".to_owned(),
        })),
        Err(error) => {
            tracing::warn!(%error, "not ready: the database does not answer");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database does not answer",
            ))
        }
    }
}

/// `POST /api/v1/auth/register`: a new account with the `user` role.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new user, with the `user` role", body = UserBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 409, description = "`conflict`: the email or username is taken (`field` says which)", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field`, `invalid_type` or `invalid_value` (a bad email or username, a password too short or too easy to guess)", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: too many registrations from this address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
)]
pub(crate) async fn register(
    State(state): State<ApiState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    if let Err(retry_after_secs) = state.limiter.begin_registration(ip, now_ms()) {
        tracing::warn!(%ip, "registration refused: too many from this address");
        return Err(ApiError::too_many_requests(retry_after_secs));
    }
    validate::account(&request.email, &request.username, &request.password)
        .map_err(ApiError::from)?;
    let cost = state.config.password_cost;
    let password = request.password;
    let password_hash = blocking(&state, move || hash_password(&password, cost)).await?;
    let new_user = NewUser {
        email: request.email,
        username: request.username,
        password_hash: Some(password_hash),
        role: Role::User,
    };
    let user = match state.store.create_user(&new_user, now_ms()).await {
        Ok(user) => user,
        Err(StoreError::Duplicate { what, .. }) => {
            let field = if what.contains("email") {
                "email"
            } else {
                "username"
            };
            return Err(ApiError::conflict(
                field,
                format!("a user with this {field} exists already"),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(user = %user.id, username = %user.username, "user registered");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// `POST /api/v1/auth/login`: a new session for the right username and password.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new bearer token", body = LoginResponse),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: wrong username or password", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field` or `invalid_type`", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: too many failed logins for this account or address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
)]
pub(crate) async fn login(
    State(state): State<ApiState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let opened = open_session(&state, ip, request).await?;
    Ok(Json(LoginResponse {
        token: opened.token,
        expires_at_ms: opened.expires_at_ms,
    }))
}

/// A session opened by a login: its token (the store keeps only its hash), when it expires and
/// whose it is.
pub(crate) struct OpenedSession {
    pub(crate) token: String,
    pub(crate) expires_at_ms: i64,
    pub(crate) user: User,
}

/// Checks `request`'s password within the failed-login limits and opens a session: what both
/// the bearer login and the dashboard's cookie login do.
pub(crate) async fn open_session(
    state: &ApiState,
    ip: std::net::IpAddr,
    request: LoginRequest,
) -> Result<OpenedSession, ApiError> {
    let now = now_ms();
    if let Err(retry_after_secs) = state.limiter.begin(&request.username, ip, now) {
        tracing::warn!(username = %request.username, %ip, "login refused: too many failures");
        return Err(ApiError::too_many_requests(retry_after_secs));
    }
    let user = state.store.user_by_username(&request.username).await?;
    let stored_hash = match &user {
        Some(user) => state.store.password_hash(user.id).await?,
        None => None,
    };
    let dummy = state.dummy_hash.clone();
    let cost = state.config.password_cost;
    let password = request.password;
    // Unknown users, and users without a password, are checked against a dummy hash of the same
    // cost, so that the answer takes as long as for a wrong password.
    let matches = blocking(state, move || match stored_hash {
        Some(hash) => verify_password(&password, &hash),
        None => {
            let dummy = match dummy.get() {
                Some(dummy) => dummy,
                None => {
                    let made = hash_password("spotbot dummy password", cost)?;
                    dummy.get_or_init(|| made)
                }
            };
            verify_password(&password, dummy).map(|_| false)
        }
    })
    .await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    state.limiter.succeeded(&request.username, ip);
    let token = new_token().map_err(ApiError::internal)?;
    let ttl_ms = i64::try_from(state.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let session = state
        .store
        .create_session(user.id, &token_hash(&token), now, ttl_ms)
        .await?;
    tracing::info!(user = %user.id, session = %session.id, "logged in");
    // Each login clears the sessions that ended long ago, so the table stays the size of recent
    // use. Best effort: a login does not fail for it, and the next one tries again.
    match state
        .store
        .purge_sessions(now.saturating_sub(SESSION_HISTORY_MS))
        .await
    {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "purged sessions that ended long ago"),
        Err(error) => tracing::warn!(%error, "could not purge old sessions"),
    }
    Ok(OpenedSession {
        token,
        expires_at_ms: session.expires_at_ms,
        user,
    })
}

/// `POST /api/v1/auth/logout`: revokes the caller's token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked"),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
    ),
)]
pub(crate) async fn logout(
    State(state): State<ApiState>,
    auth: AuthUser,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_session(&auth.token_hash, now_ms())
        .await?;
    tracing::info!(user = %auth.user.id, session = %auth.session, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me`: the caller.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
    ),
)]
pub(crate) async fn me(auth: AuthUser) -> Json<UserBody> {
    Json(auth.user.into())
}

/// Any path no route serves.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// A route served, with a method it does not take.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method",
    )
}
