//! `/api/v1/auth/session`: the dashboard's login. The same sessions as the bearer login, with
//! the token kept in an HttpOnly cookie the page cannot read, and a CSRF token the page repeats
//! on every request that changes something (see [`crate::auth`]).
//!
//! | route | answer |
//! |---|---|
//! | `POST /api/v1/auth/session` | 200 [`SessionBody`] and the session cookie, from a [`LoginRequest`] |
//! | `GET /api/v1/auth/session` | 200 [`SessionBody`] of the cookie's session |
//! | `DELETE /api/v1/auth/session` | 204: the session revoked and the cookie cleared |

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cookie::{Cookie, SameSite};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AuthUser, ClientIp, SESSION_COOKIE, cookie_token, csrf_token, token_hash};
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use crate::routes::{LoginRequest, UserBody, open_session};
use crate::{ApiState, now_ms};

/// A browser session as the dashboard sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionBody {
    /// Who is logged in.
    pub user: UserBody,
    /// Send it back as `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
}

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route(
        "/api/v1/auth/session",
        post(open_browser_session)
            .get(browser_session)
            .delete(close_browser_session),
    )
}

/// The `Set-Cookie` value that holds `token` for `max_age`: HttpOnly, SameSite=Strict, for the
/// whole origin, and Secure when the server is reached over TLS.
fn session_cookie(token: &str, max_age: Duration, secure: bool) -> Result<HeaderValue, ApiError> {
    let max_age = cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(0));
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&cookie.to_string()).map_err(ApiError::internal)
}

/// `POST /api/v1/auth/session`: logs in like `POST /api/v1/auth/login`, with the token in the
/// session cookie instead of the body.
#[utoipa::path(
    post,
    path = "/api/v1/auth/session",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "The session, its token in an HttpOnly cookie", body = SessionBody,
            headers(("Set-Cookie" = String, description = "`spotbot_session=<token>; HttpOnly; SameSite=Strict; Path=/`"))),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: wrong username or password", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field` or `invalid_type`", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: too many failed logins for this account or address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
)]
pub(crate) async fn open_browser_session(
    State(state): State<ApiState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let opened = open_session(&state, ip, request).await?;
    let cookie = session_cookie(
        &opened.token,
        state.config.session_ttl,
        state.config.secure_cookies,
    )?;
    let body = SessionBody {
        user: opened.user.into(),
        csrf_token: csrf_token(&opened.token),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `GET /api/v1/auth/session`: the cookie's session, with its CSRF token (what a page loads
/// first).
#[utoipa::path(
    get,
    path = "/api/v1/auth/session",
    tag = "auth",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The cookie's session", body = SessionBody),
        (status = 401, description = "`unauthorized`: no session cookie, or one unknown, expired or revoked", body = ErrorBody),
    ),
)]
pub(crate) async fn browser_session(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<SessionBody>, ApiError> {
    let unauthorized = || ApiError::unauthorized("no dashboard session: log in");
    let token = cookie_token(&headers).ok_or_else(unauthorized)?;
    let (_, user) = state
        .store
        .session_user(&token_hash(&token), now_ms())
        .await?
        .ok_or_else(unauthorized)?;
    Ok(Json(SessionBody {
        user: user.into(),
        csrf_token: csrf_token(&token),
    }))
}

/// `DELETE /api/v1/auth/session`: logs out, revoking the session and clearing the cookie.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/session",
    tag = "auth",
    security(("session_cookie" = []), ("bearer" = [])),
    params(("X-CSRF-Token" = Option<String>, Header, description = "The session's `csrf_token`; required with the cookie")),
    responses(
        (status = 204, description = "The session is revoked and the cookie cleared"),
        (status = 401, description = "`unauthorized`: no session, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`csrf`: the cookie came without the session's CSRF token", body = ErrorBody),
    ),
)]
pub(crate) async fn close_browser_session(
    State(state): State<ApiState>,
    auth: AuthUser,
) -> Result<Response, ApiError> {
    state
        .store
        .revoke_session(&auth.token_hash, now_ms())
        .await?;
    tracing::info!(user = %auth.user.id, session = %auth.session, "logged out of the dashboard");
    let cleared = session_cookie("", Duration::ZERO, state.config.secure_cookies)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}
