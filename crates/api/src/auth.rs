//! Tokens and who is calling: [`AuthUser`], the extractor that turns a session's token into its
//! user or a 401, and the helpers that make a token, the hash under which the store keeps it and
//! the CSRF token of a browser session.
//!
//! A token comes one of two ways, and both name the same kind of session:
//! - `Authorization: Bearer <token>`, from programs (`POST /api/v1/auth/login`);
//! - the [`SESSION_COOKIE`], from the dashboard (`POST /api/v1/auth/session`). The browser sends
//!   a cookie with every request to this origin, whoever made the page that asked for it, so a
//!   request that changes something (any method but GET, HEAD and OPTIONS) must also carry
//!   [`CSRF_HEADER`] with the session's [`csrf_token`]: another site can neither read that value
//!   nor set a custom header on a cross-site request without a CORS preflight this server never
//!   grants. The cookie is also `SameSite=Strict`, so a modern browser does not send it
//!   cross-site at all; the header is the defence that does not depend on the browser.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use store::{SessionId, User};

use crate::error::ApiError;
use crate::{ApiState, now_ms};

/// Random bytes in a token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

/// The cookie that holds a browser session's token: HttpOnly, so page scripts cannot read it.
pub const SESSION_COOKIE: &str = "spotbot_session";

/// The header that must repeat a cookie session's [`csrf_token`] on every request that changes
/// something.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of the session whose token is `token`: derived from it, so the server stores
/// nothing more, and one-way, so the page that holds it cannot recover the session's token.
pub(crate) fn csrf_token(token: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"spotbot csrf\0");
    digest.update(token.as_bytes());
    hex::encode(digest.finalize())
}

/// A new token: [`TOKEN_BYTES`] random bytes, base64url without padding (43 characters).
pub(crate) fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of `token`: its SHA-256, in hex. A fast hash is enough here, unlike for
/// passwords: the token has 256 random bits, so there is nothing to brute-force.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The caller of a request that needs a login: the user of a live session. Extracting it answers
/// 401 `unauthorized` with `WWW-Authenticate: Bearer` when the `Authorization` header is missing,
/// not a bearer token, or names no live (unexpired, unrevoked) session.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Who is calling.
    pub user: User,
    /// The session the token stands for.
    pub session: SessionId,
    /// The token's hash, to revoke it (the token itself is not kept).
    pub(crate) token_hash: String,
}

impl FromRequestParts<ApiState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = match bearer_token(&parts.headers) {
            Some(token) => token,
            None => {
                let token = cookie_token(&parts.headers).ok_or_else(|| {
                    ApiError::unauthorized(
                        "this needs a login: send Authorization: Bearer <token>, or log in to the dashboard",
                    )
                })?;
                if !is_safe(&parts.method) {
                    check_csrf(&parts.headers, &token)?;
                }
                token
            }
        };
        let token_hash = token_hash(&token);
        let (session, user) = state
            .store
            .session_user(&token_hash, now_ms())
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized("the token is unknown, expired or revoked: log in again")
            })?;
        Ok(AuthUser {
            user,
            session,
            token_hash,
        })
    }
}

/// The token of `Authorization: Bearer <token>`, if the request has one.
fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

/// The token of the [`SESSION_COOKIE`], if the request has one.
pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|token| !token.is_empty())
}

/// Whether `method` only reads (RFC 9110's safe methods), so needs no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A 403 unless [`CSRF_HEADER`] holds the CSRF token of the session `token`. Compared through
/// their hashes, so the time the comparison takes says nothing about the expected value.
fn check_csrf(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let expected = csrf_token(token);
    if Sha256::digest(sent.as_bytes()) == Sha256::digest(expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "csrf",
            "a request that changes something with the session cookie must repeat the session's csrf_token in the X-CSRF-Token header (reload the page)",
        ))
    }
}

/// The client's IP address, as the TCP connection shows it (see [`crate::serve`]). A router
/// served without connection info counts every client as `0.0.0.0`; behind a reverse proxy every
/// client is the proxy, since forwarded headers are not trusted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
