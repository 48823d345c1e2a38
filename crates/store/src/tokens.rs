//! Login sessions: [`Session`], [`SessionId`] and the [`Store`] methods that create, resolve and
//! revoke them. A session is what a bearer token stands for; the store only ever sees the token's
//! hash (the caller hashes it), so the table holds nothing that would let a reader log in.

use std::fmt;
use std::sync::LazyLock;

use crate::Store;
use crate::error::{StoreError, StoreResult, is_unique_violation, missing_referent};
use crate::model::UserId;
use crate::row::RowReader;
use crate::users::{USER_COLUMNS, User, user_from_row};

/// The live session of a token hash (`$1`) at a time (`$2`), with its user's columns.
static SESSION_USER_SQL: LazyLock<String> = LazyLock::new(|| {
    let user_columns: Vec<String> = USER_COLUMNS
        .split(", ")
        .map(|column| format!("users.{column}"))
        .collect();
    format!(
        "SELECT sessions.id AS session_id, {} FROM sessions \
         JOIN users ON users.id = sessions.user_id \
         WHERE sessions.token_hash = $1 AND sessions.expires_at_ms > $2 \
         AND sessions.revoked_at_ms IS NULL",
        user_columns.join(", ")
    )
});

/// A session's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub i64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A session, as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// When it was created, in ms since the epoch.
    pub created_at_ms: i64,
    /// When it stops working, in ms since the epoch (it is live while `now < expires_at_ms`).
    pub expires_at_ms: i64,
}

impl Store {
    /// Opens a session for `user`, known by `token_hash`, live until `now_ms + ttl_ms`.
    /// [`StoreError::NotFound`] when there is no such user, [`StoreError::Duplicate`] when the
    /// hash is taken (a token was reused), [`StoreError::InvalidValue`] for an empty hash or a ttl
    /// that is not positive.
    pub async fn create_session(
        &self,
        user: UserId,
        token_hash: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Session> {
        if token_hash.is_empty() {
            return Err(StoreError::InvalidValue {
                field: "session token_hash",
                detail: "must not be empty".to_owned(),
            });
        }
        let expires_at_ms = (ttl_ms > 0)
            .then(|| now_ms.checked_add(ttl_ms))
            .flatten()
            .ok_or_else(|| StoreError::InvalidValue {
                field: "session ttl_ms",
                detail: format!("must be positive and not overflow, got {ttl_ms}"),
            })?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (user_id, token_hash, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user.0)
        .bind(token_hash)
        .bind(now_ms)
        .bind(expires_at_ms)
        .fetch_one(&self.writer)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                // The hash itself is not shown: it identifies a session as well as the token does
                // to anyone holding the database.
                StoreError::Duplicate {
                    what: "session with token hash",
                    key: "<redacted>".to_owned(),
                }
            } else {
                missing_referent(error, "user", user.to_string())
            }
        })?;
        Ok(Session {
            id: SessionId(id),
            user_id: user,
            created_at_ms: now_ms,
            expires_at_ms,
        })
    }

    /// The live session known by `token_hash` and its user: `None` when there is none, or it
    /// expired (`expires_at_ms <= now_ms`) or was revoked.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> StoreResult<Option<(SessionId, User)>> {
        // One query, not a session read then a user read: every authenticated request starts
        // here. The foreign key keeps a session's user from vanishing.
        let Some(row) = sqlx::query(&SESSION_USER_SQL)
            .bind(token_hash)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let session = SessionId(RowReader::new(&row, "sessions", "session_id")?.i64("session_id")?);
        let user = user_from_row(&row)?;
        Ok(Some((session, user)))
    }

    /// Deletes the sessions that stopped working (expired) before `expired_before_ms`; how many.
    /// A revoked session goes with its expiry, so the table keeps every session of the recent
    /// past, ended or not, and none older.
    pub async fn purge_sessions(&self, expired_before_ms: i64) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at_ms < $1")
            .bind(expired_before_ms)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected())
    }

    /// Revokes the session known by `token_hash` at `now_ms`; whether there was one not yet
    /// revoked (an expired one is still marked, so that the record says it was ended).
    pub async fn revoke_session(&self, token_hash: &str, now_ms: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE sessions SET revoked_at_ms = $2 \
             WHERE token_hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(token_hash)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() > 0)
    }
}
