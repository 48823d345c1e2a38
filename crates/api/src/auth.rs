//! Bearer tokens and who is calling: [`AuthUser`], the extractor that turns
//! `Authorization: Bearer <token>` into the session's user or a 401, and the helpers that make a
//! token and the hash under which the store keeps it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use store::{SessionId, User};

use crate::error::ApiError;
use crate::{ApiState, now_ms};

/// Random bytes in a token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

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
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("this needs a login: send Authorization: Bearer <token>")
            })?;
        let token_hash = token_hash(token);
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
