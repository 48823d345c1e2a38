//! A user's exchange credentials, one set per venue (a bot's [`Mode`]: each user trades on their
//! own account on each venue): the API key, its [`KeyType`], the secret's ciphertext, and what the
//! exchange answered when it last accepted the key ([`Verification`]). The caller encrypts and
//! decrypts; the store never sees the plaintext secret, and no `Debug` here shows even the
//! ciphertext's bytes.

use std::fmt;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;

use crate::Store;
use crate::error::{StoreError, StoreResult, missing_referent};
use crate::model::{KeyType, Mode, UserId};
use crate::row::{RowReader, bool_int};

/// What the exchange reported when it last accepted a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// When it accepted the key, in ms since the epoch.
    pub verified_at_ms: i64,
    /// Whether the key may place orders.
    pub can_trade: bool,
    /// The account's permissions as the exchange names them (e.g. `SPOT`).
    pub permissions: Vec<String>,
}

/// Credentials to store for one user on one venue (see [`Store::put_credentials`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NewCredentials {
    /// Whose they are.
    pub user_id: UserId,
    /// The venue they are for.
    pub venue: Mode,
    /// How the key signs.
    pub key_type: KeyType,
    /// The exchange API key (not secret on its own, but shown only to its owner).
    pub api_key: String,
    /// The secret (HMAC secret or private key), encrypted by the caller.
    pub secret_ciphertext: Vec<u8>,
    /// What the exchange reported about the key, when the caller checked it before storing it.
    pub verification: Option<Verification>,
    /// Whether spotbot itself created this account on its paper exchange.
    pub is_paper_account: bool,
}

impl fmt::Debug for NewCredentials {
    /// The ciphertext's length only: even encrypted, a secret has no business in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCredentials")
            .field("user_id", &self.user_id)
            .field("venue", &self.venue)
            .field("key_type", &self.key_type)
            .field("api_key", &self.api_key)
            .field(
                "secret_ciphertext",
                &format_args!("<{} bytes>", self.secret_ciphertext.len()),
            )
            .field("verification", &self.verification)
            .field("is_paper_account", &self.is_paper_account)
            .finish()
    }
}

/// A user's credentials for one venue, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// Whose they are.
    pub user_id: UserId,
    /// The venue they are for.
    pub venue: Mode,
    /// How the key signs.
    pub key_type: KeyType,
    /// The exchange API key.
    pub api_key: String,
    /// The secret, encrypted by the caller.
    pub secret_ciphertext: Vec<u8>,
    /// When this key was stored, in ms since the epoch.
    pub set_at_ms: i64,
    /// What the exchange reported when it last accepted the key; `None` while it never has.
    pub verification: Option<Verification>,
    /// Whether spotbot itself created this account on its paper exchange.
    pub is_paper_account: bool,
}

impl fmt::Debug for StoredCredentials {
    /// The ciphertext's length only, as for [`NewCredentials`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("user_id", &self.user_id)
            .field("venue", &self.venue)
            .field("key_type", &self.key_type)
            .field("api_key", &self.api_key)
            .field(
                "secret_ciphertext",
                &format_args!("<{} bytes>", self.secret_ciphertext.len()),
            )
            .field("set_at_ms", &self.set_at_ms)
            .field("verification", &self.verification)
            .field("is_paper_account", &self.is_paper_account)
            .finish()
    }
}

const CREDENTIAL_COLUMNS: &str = "user_id, venue, key_type, api_key, secret_ciphertext, \
     set_at_ms, verified_at_ms, can_trade, permissions, is_paper_account";

/// The insert of [`NewCredentials`], parameters in the order of [`bind_credentials`]; an
/// `ON CONFLICT (user_id, venue)` clause completes it.
const INSERT_CREDENTIALS: &str = "INSERT INTO venue_credentials (user_id, venue, key_type, \
     api_key, secret_ciphertext, set_at_ms, verified_at_ms, can_trade, permissions, \
     is_paper_account) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (user_id, venue) DO ";

/// What an existing key's row becomes when replaced: every column but the key.
const REPLACE_CREDENTIALS: &str = "key_type = $3, api_key = $4, secret_ciphertext = $5, \
     set_at_ms = $6, verified_at_ms = $7, can_trade = $8, permissions = $9, \
     is_paper_account = $10";

/// The stored form of a [`Verification`] (or of none): `verified_at_ms`, `can_trade` and
/// `permissions`, all set or all NULL.
struct VerificationColumns {
    verified_at_ms: Option<i64>,
    can_trade: Option<i64>,
    permissions: Option<String>,
}

impl VerificationColumns {
    fn of(verification: Option<&Verification>) -> StoreResult<VerificationColumns> {
        let Some(verification) = verification else {
            return Ok(VerificationColumns {
                verified_at_ms: None,
                can_trade: None,
                permissions: None,
            });
        };
        let permissions = serde_json::to_string(&verification.permissions).map_err(|error| {
            StoreError::InvalidValue {
                field: "permissions",
                detail: format!("cannot be written as JSON: {error}"),
            }
        })?;
        Ok(VerificationColumns {
            verified_at_ms: Some(verification.verified_at_ms),
            can_trade: Some(bool_int(verification.can_trade)),
            permissions: Some(permissions),
        })
    }
}

/// Binds `new`, stored at `now_ms`, to `$1`..`$10` of `query`: user, venue, key type, API key,
/// ciphertext, set at, the three verification columns, paper account.
fn bind_credentials<'q>(
    query: Query<'q, sqlx::Any, AnyArguments<'q>>,
    new: &'q NewCredentials,
    verification: &'q VerificationColumns,
    now_ms: i64,
) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
    query
        .bind(new.user_id.0)
        .bind(new.venue.as_str())
        .bind(new.key_type.as_str())
        .bind(&new.api_key)
        .bind(&new.secret_ciphertext)
        .bind(now_ms)
        .bind(verification.verified_at_ms)
        .bind(verification.can_trade)
        .bind(verification.permissions.as_deref())
        .bind(bool_int(new.is_paper_account))
}

/// Refuses credentials whose API key is blank.
fn check_new_credentials(new: &NewCredentials) -> StoreResult<VerificationColumns> {
    if new.api_key.trim().is_empty() {
        return Err(StoreError::InvalidValue {
            field: "api_key",
            detail: "must not be empty".to_owned(),
        });
    }
    VerificationColumns::of(new.verification.as_ref())
}

fn credentials_from_row(row: &AnyRow) -> StoreResult<StoredCredentials> {
    let r = RowReader::new(row, "venue_credentials", "user_id")?;
    let verification = match (
        r.opt_i64("verified_at_ms")?,
        r.opt_bool("can_trade")?,
        r.opt_string_list("permissions")?,
    ) {
        (None, None, None) => None,
        (Some(verified_at_ms), Some(can_trade), Some(permissions)) => Some(Verification {
            verified_at_ms,
            can_trade,
            permissions,
        }),
        (Some(_), None, _) => return Err(r.corrupt("can_trade", "NULL on a verified key")),
        (Some(_), _, None) => return Err(r.corrupt("permissions", "NULL on a verified key")),
        (None, Some(_), _) => return Err(r.corrupt("can_trade", "set on a key never verified")),
        (None, _, Some(_)) => {
            return Err(r.corrupt("permissions", "set on a key never verified"));
        }
    };
    Ok(StoredCredentials {
        user_id: UserId(r.i64("user_id")?),
        venue: r.parse("venue")?,
        key_type: r.parse("key_type")?,
        api_key: r.string("api_key")?,
        secret_ciphertext: r.bytes("secret_ciphertext")?,
        set_at_ms: r.i64("set_at_ms")?,
        verification,
        is_paper_account: r.bool("is_paper_account")?,
    })
}

impl Store {
    /// Stores `new` as its user's credentials for its venue, set at `now_ms`, replacing the key
    /// they had there (verification and paper flag included: all of `new` is written). Whether
    /// a key was replaced. [`StoreError::NotFound`] when there is no such user,
    /// [`StoreError::InvalidValue`] for a blank API key.
    pub async fn put_credentials(&self, new: &NewCredentials, now_ms: i64) -> StoreResult<bool> {
        let verification = check_new_credentials(new)?;
        let not_found = |error| missing_referent(error, "user", new.user_id.to_string());
        let mut tx = self.begin_write().await?;
        // Insert first, update when the key exists: of two first puts at once, one inserts and
        // the other (which waits for it on PostgreSQL) replaces, and each says so truly.
        let insert = format!("{INSERT_CREDENTIALS}NOTHING");
        let inserted = bind_credentials(sqlx::query(&insert), new, &verification, now_ms)
            .execute(&mut *tx)
            .await
            .map_err(not_found)?
            .rows_affected()
            > 0;
        let replaced = if inserted {
            false
        } else {
            let update = format!(
                "UPDATE venue_credentials SET {REPLACE_CREDENTIALS} \
                 WHERE user_id = $1 AND venue = $2"
            );
            let updated = bind_credentials(sqlx::query(&update), new, &verification, now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if !updated {
                // Only on PostgreSQL (SQLite's write transaction excludes it): another
                // transaction deleted the key between the insert and the update. Nothing is
                // replaced; whatever is there now, the key stored is `new`.
                let upsert = format!("{INSERT_CREDENTIALS}UPDATE SET {REPLACE_CREDENTIALS}");
                bind_credentials(sqlx::query(&upsert), new, &verification, now_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(not_found)?;
            }
            updated
        };
        tx.commit().await?;
        Ok(replaced)
    }

    /// Stores `new`, set at `now_ms`, only when its user has no key for its venue yet; whether it
    /// did. Of several processes creating the same paper account at once, exactly one stores
    /// its key; the others get `false` and then read the winner's with [`Store::credentials`].
    /// [`StoreError::NotFound`] when there is no such user, [`StoreError::InvalidValue`] for a
    /// blank API key.
    pub async fn insert_credentials_if_absent(
        &self,
        new: &NewCredentials,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let verification = check_new_credentials(new)?;
        let insert = format!("{INSERT_CREDENTIALS}NOTHING");
        let result = bind_credentials(sqlx::query(&insert), new, &verification, now_ms)
            .execute(&self.writer)
            .await
            .map_err(|error| missing_referent(error, "user", new.user_id.to_string()))?;
        Ok(result.rows_affected() > 0)
    }

    /// `user`'s credentials for `venue`, if they stored any.
    pub async fn credentials(
        &self,
        user: UserId,
        venue: Mode,
    ) -> StoreResult<Option<StoredCredentials>> {
        sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM venue_credentials WHERE user_id = $1 AND venue = $2"
        ))
        .bind(user.0)
        .bind(venue.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(credentials_from_row)
        .transpose()
    }

    /// Every venue's credentials of `user`, in the order of [`Mode::ALL`] (paper, testnet,
    /// live).
    pub async fn user_credentials(&self, user: UserId) -> StoreResult<Vec<StoredCredentials>> {
        let mut credentials = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM venue_credentials WHERE user_id = $1"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(credentials_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        credentials.sort_by_key(|stored| Mode::ALL.iter().position(|&venue| venue == stored.venue));
        Ok(credentials)
    }

    /// Deletes `user`'s credentials for `venue`; whether there were any.
    pub async fn delete_credentials(&self, user: UserId, venue: Mode) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM venue_credentials WHERE user_id = $1 AND venue = $2")
            .bind(user.0)
            .bind(venue.as_str())
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Records that the exchange accepted `user`'s key for `venue`, only while that key is still
    /// `expected_api_key`: a check that took a while must not mark a key the user put meanwhile
    /// as verified. Whether it wrote (`false` also when there is no key for the venue).
    pub async fn set_credentials_verified(
        &self,
        user: UserId,
        venue: Mode,
        verification: &Verification,
        expected_api_key: &str,
    ) -> StoreResult<bool> {
        let columns = VerificationColumns::of(Some(verification))?;
        let result = sqlx::query(
            "UPDATE venue_credentials SET verified_at_ms = $4, can_trade = $5, permissions = $6 \
             WHERE user_id = $1 AND venue = $2 AND api_key = $3",
        )
        .bind(user.0)
        .bind(venue.as_str())
        .bind(expected_api_key)
        .bind(columns.verified_at_ms)
        .bind(columns.can_trade)
        .bind(columns.permissions.as_deref())
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() > 0)
    }
}
