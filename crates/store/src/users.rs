//! Users: [`User`], [`NewUser`] and the [`Store`] methods that create and read them. The password
//! hash is kept out of [`User`] so that a user can be shown or logged whole; only
//! [`Store::password_hash`] reads it.

use std::fmt;

use sqlx::any::AnyRow;

use crate::Store;
use crate::error::{StoreError, StoreResult, unique_violation_on};
use crate::model::{Role, UserId};
use crate::row::RowReader;

/// A user, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The user's email address (unique).
    pub email: String,
    /// The user's login name (unique).
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// When the user was created, in ms since the epoch.
    pub created_at_ms: i64,
}

/// A user to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The email address; must not belong to another user.
    pub email: String,
    /// The login name; must not belong to another user.
    pub username: String,
    /// The password's hash (made by the caller), or none for a user who cannot log in with a
    /// password.
    pub password_hash: Option<String>,
    /// What the user may do.
    pub role: Role,
}

impl fmt::Debug for NewUser {
    /// Everything but the password hash, which must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("username", &self.username)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("role", &self.role)
            .finish()
    }
}

pub(crate) const USER_COLUMNS: &str = "id, email, username, role, created_at_ms";

pub(crate) fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    let r = RowReader::new(row, "users", "id")?;
    Ok(User {
        id: UserId(r.i64("id")?),
        email: r.string("email")?,
        username: r.string("username")?,
        role: r.parse("role")?,
        created_at_ms: r.i64("created_at_ms")?,
    })
}

impl Store {
    /// Creates a user. [`StoreError::Duplicate`] when the email or the username is taken.
    pub async fn create_user(&self, user: &NewUser, now_ms: i64) -> StoreResult<User> {
        for (field, value) in [("email", &user.email), ("username", &user.username)] {
            if value.trim().is_empty() {
                return Err(StoreError::InvalidValue {
                    field,
                    detail: "must not be empty".to_owned(),
                });
            }
        }
        let row = sqlx::query(&format!(
            "INSERT INTO users (email, username, password_hash, role, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}"
        ))
        .bind(&user.email)
        .bind(&user.username)
        .bind(user.password_hash.as_deref())
        .bind(user.role.as_str())
        .bind(now_ms)
        .fetch_one(&self.writer)
        .await
        .map_err(|error| {
            if unique_violation_on(&error, "email") {
                StoreError::Duplicate {
                    what: "user with email",
                    key: user.email.clone(),
                }
            } else if unique_violation_on(&error, "username") {
                StoreError::Duplicate {
                    what: "user with username",
                    key: user.username.clone(),
                }
            } else {
                error.into()
            }
        })?;
        user_from_row(&row)
    }

    /// The user with id `id`, if any.
    pub async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// The user whose login name is `username`, whatever its case (names are unique so), if
    /// any.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    /// Every user, by id.
    pub async fn users(&self) -> StoreResult<Vec<User>> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    /// The password hash of user `id`: `None` when the user has none, [`StoreError::NotFound`]
    /// when there is no such user.
    pub async fn password_hash(&self, id: UserId) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT id, password_hash FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "user",
                key: id.to_string(),
            })?;
        RowReader::new(&row, "users", "id")?.opt_string("password_hash")
    }
}
