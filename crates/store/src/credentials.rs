//! A user's exchange credentials: one row per user holding the API key and the secret's
//! ciphertext. The caller encrypts and decrypts; the store never sees the plaintext secret.

use std::fmt;

use crate::Store;
use crate::error::{StoreResult, missing_referent};
use crate::model::UserId;
use crate::row::RowReader;

/// A user's exchange credentials, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// Whose they are.
    pub user_id: UserId,
    /// The exchange API key (not secret on its own, but shown only to its owner).
    pub api_key: String,
    /// The API secret, encrypted by the caller.
    pub secret_ciphertext: Vec<u8>,
    /// When they were last written, in ms since the epoch.
    pub updated_at_ms: i64,
}

impl fmt::Debug for StoredCredentials {
    /// The ciphertext's length only: even encrypted, a secret has no business in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("user_id", &self.user_id)
            .field("api_key", &self.api_key)
            .field(
                "secret_ciphertext",
                &format_args!("<{} bytes>", self.secret_ciphertext.len()),
            )
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

impl Store {
    /// Stores `user`'s credentials, replacing any they had.
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) when there is no such user.
    pub async fn put_credentials(
        &self,
        user: UserId,
        api_key: &str,
        secret_ciphertext: &[u8],
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO exchange_credentials (user_id, api_key, secret_ciphertext, updated_at_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET api_key = excluded.api_key, \
             secret_ciphertext = excluded.secret_ciphertext, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(user.0)
        .bind(api_key)
        .bind(secret_ciphertext)
        .bind(now_ms)
        .execute(&self.writer)
        .await
        .map_err(|error| missing_referent(error, "user", user.to_string()))?;
        Ok(())
    }

    /// `user`'s credentials, if they stored any.
    pub async fn credentials(&self, user: UserId) -> StoreResult<Option<StoredCredentials>> {
        let Some(row) = sqlx::query(
            "SELECT user_id, api_key, secret_ciphertext, updated_at_ms \
             FROM exchange_credentials WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let r = RowReader::new(&row, "exchange_credentials", "user_id")?;
        Ok(Some(StoredCredentials {
            user_id: UserId(r.i64("user_id")?),
            api_key: r.string("api_key")?,
            secret_ciphertext: r.bytes("secret_ciphertext")?,
            updated_at_ms: r.i64("updated_at_ms")?,
        }))
    }

    /// Deletes `user`'s credentials; whether there were any.
    pub async fn delete_credentials(&self, user: UserId) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM exchange_credentials WHERE user_id = $1")
            .bind(user.0)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}
