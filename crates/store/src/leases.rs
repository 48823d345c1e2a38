//! Bot leases: the guard that a bot never runs twice at once, across tasks, processes and
//! machines sharing one database. A lease lives in the bot's own row (`lease_owner`,
//! `lease_token`, `lease_expires_at_ms`) and is taken by one conditional `UPDATE`, atomic on both
//! backends: SQLite serialises writers, and PostgreSQL re-checks the condition on the row a
//! concurrent winner just committed, so exactly one of many racing callers gets it.
//!
//! The token grows by one on every acquisition and is never reset, so it works as a fencing
//! token: a holder that stalled past its expiry finds its token changed and knows it lost the
//! bot.

use std::collections::HashSet;

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::model::BotId;

/// The most bots one [`Store::try_acquire_leases`] statement names (well under SQLite's and
/// PostgreSQL's limits on bound parameters).
pub const LEASE_BATCH: usize = 500;

/// A held lease on a bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The bot.
    pub bot_id: BotId,
    /// Who holds it (a worker's name, unique per process).
    pub owner: String,
    /// The fencing token: the previous holder's plus one.
    pub token: i64,
    /// When it expires unless renewed, in ms since the epoch.
    pub expires_at_ms: i64,
    /// The worker whose expired lease this acquisition replaced (it died or stalled without
    /// releasing the bot); `None` when the bot was free.
    pub taken_over_from: Option<String>,
}

/// `now_ms + ttl_ms`, refusing a ttl that is not positive or overflows.
fn expiry(now_ms: i64, ttl_ms: i64) -> StoreResult<i64> {
    if ttl_ms <= 0 {
        return Err(StoreError::InvalidValue {
            field: "lease ttl_ms",
            detail: format!("must be positive, got {ttl_ms}"),
        });
    }
    now_ms
        .checked_add(ttl_ms)
        .ok_or_else(|| StoreError::InvalidValue {
            field: "lease ttl_ms",
            detail: format!("{now_ms} + {ttl_ms} overflows"),
        })
}

impl Store {
    /// Takes the lease on `bot` for `owner` until `now_ms + ttl_ms`, when nobody holds it or the
    /// holder's lease has expired (`expires_at_ms <= now_ms`). `None` when someone holds it,
    /// `owner` included: leases are not re-entrant, so a second cycle of the same worker cannot
    /// start while the first runs. [`StoreError::NotFound`] when there is no such bot.
    pub async fn try_acquire_lease(
        &self,
        bot: BotId,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<Lease>> {
        if owner.is_empty() {
            return Err(StoreError::InvalidValue {
                field: "lease owner",
                detail: "must not be empty".to_owned(),
            });
        }
        let expires_at_ms = expiry(now_ms, ttl_ms)?;
        // Every SET expression reads the row as it was: lease_previous_owner gets the old owner.
        let taken: Option<(i64, Option<String>)> = sqlx::query_as(
            "UPDATE bot_configs SET lease_previous_owner = lease_owner, \
             lease_owner = $2, lease_token = lease_token + 1, lease_expires_at_ms = $3 \
             WHERE id = $1 AND (lease_owner IS NULL OR lease_expires_at_ms <= $4) \
             RETURNING lease_token, lease_previous_owner",
        )
        .bind(bot.0)
        .bind(owner)
        .bind(expires_at_ms)
        .bind(now_ms)
        .fetch_optional(&self.writer)
        .await?;
        match taken {
            Some((token, taken_over_from)) => Ok(Some(Lease {
                bot_id: bot,
                owner: owner.to_owned(),
                token,
                expires_at_ms,
                taken_over_from,
            })),
            None if self.bot_exists(bot).await? => Ok(None),
            None => Err(StoreError::NotFound {
                what: "bot",
                key: bot.to_string(),
            }),
        }
    }

    /// Extends `lease` to `now_ms + ttl_ms`. `None` when it was lost: released, or taken by
    /// another owner (its token changed). A lease that expired but that nobody took since is
    /// still this holder's, and is renewed.
    pub async fn renew_lease(
        &self,
        lease: &Lease,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<Lease>> {
        let expires_at_ms = expiry(now_ms, ttl_ms)?;
        let result = sqlx::query(
            "UPDATE bot_configs SET lease_expires_at_ms = $4 \
             WHERE id = $1 AND lease_owner = $2 AND lease_token = $3",
        )
        .bind(lease.bot_id.0)
        .bind(&lease.owner)
        .bind(lease.token)
        .bind(expires_at_ms)
        .execute(&self.writer)
        .await?;
        Ok((result.rows_affected() > 0).then(|| Lease {
            expires_at_ms,
            ..lease.clone()
        }))
    }

    /// Gives `lease` up, if it is still held with its token; whether it was.
    pub async fn release_lease(&self, lease: &Lease) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE bot_configs SET lease_owner = NULL, lease_expires_at_ms = 0 \
             WHERE id = $1 AND lease_owner = $2 AND lease_token = $3",
        )
        .bind(lease.bot_id.0)
        .bind(&lease.owner)
        .bind(lease.token)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Takes, in one statement per [`LEASE_BATCH`] bots, the leases of `bots` that nobody holds
    /// or whose lease expired, for `owner` until `now_ms + ttl_ms`; returns the leases taken
    /// (bots held by others, or already by `owner`, are left out). The scheduler takes the
    /// leases of every bot due at once this way instead of one write per cycle.
    pub async fn try_acquire_leases(
        &self,
        bots: &[BotId],
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Vec<Lease>> {
        if owner.is_empty() {
            return Err(StoreError::InvalidValue {
                field: "lease owner",
                detail: "must not be empty".to_owned(),
            });
        }
        let expires_at_ms = expiry(now_ms, ttl_ms)?;
        let mut taken = Vec::new();
        for chunk in bots.chunks(LEASE_BATCH) {
            let ids: Vec<String> = (0..chunk.len())
                .map(|index| format!("${}", index + 4))
                .collect();
            let sql = format!(
                "UPDATE bot_configs SET lease_previous_owner = lease_owner, \
                 lease_owner = $1, lease_token = lease_token + 1, lease_expires_at_ms = $2 \
                 WHERE id IN ({}) AND (lease_owner IS NULL OR lease_expires_at_ms <= $3) \
                 RETURNING id, lease_token, lease_previous_owner",
                ids.join(", ")
            );
            let mut query = sqlx::query_as::<_, (i64, i64, Option<String>)>(&sql)
                .bind(owner)
                .bind(expires_at_ms)
                .bind(now_ms);
            for bot in chunk {
                query = query.bind(bot.0);
            }
            for (id, token, taken_over_from) in query.fetch_all(&self.writer).await? {
                taken.push(Lease {
                    bot_id: BotId(id),
                    owner: owner.to_owned(),
                    token,
                    expires_at_ms,
                    taken_over_from,
                });
            }
        }
        Ok(taken)
    }

    /// Extends `leases` to `now_ms + ttl_ms`, in one statement per [`LEASE_BATCH`] leases, those
    /// still held as given (same owner and token, unexpired); returns them renewed. A lease that
    /// expired, or that its bot's row now gives to another holder (even one of the same name,
    /// as a second process with the same worker id would be), is not renewed: its bot needs a
    /// fresh acquisition.
    pub async fn renew_leases(
        &self,
        leases: &[Lease],
        now_ms: i64,
        ttl_ms: i64,
    ) -> StoreResult<Vec<Lease>> {
        let expires_at_ms = expiry(now_ms, ttl_ms)?;
        let mut renewed = Vec::new();
        for chunk in leases.chunks(LEASE_BATCH) {
            let sql = format!(
                "UPDATE bot_configs SET lease_expires_at_ms = $1 \
                 WHERE lease_expires_at_ms > $2 AND {} RETURNING id",
                held_as_given(3, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, i64>(&sql)
                .bind(expires_at_ms)
                .bind(now_ms);
            for lease in chunk {
                query = query
                    .bind(lease.bot_id.0)
                    .bind(&lease.owner)
                    .bind(lease.token);
            }
            let ids: HashSet<i64> = query.fetch_all(&self.writer).await?.into_iter().collect();
            renewed.extend(
                chunk
                    .iter()
                    .filter(|lease| ids.contains(&lease.bot_id.0))
                    .map(|lease| Lease {
                        expires_at_ms,
                        ..lease.clone()
                    }),
            );
        }
        Ok(renewed)
    }

    /// Gives up `leases` (at shutdown), in one statement per [`LEASE_BATCH`], those still held
    /// as given (same owner and token): a second process running under the same worker name
    /// keeps its own. How many were released.
    pub async fn release_leases(&self, leases: &[Lease]) -> StoreResult<u64> {
        let mut released = 0;
        for chunk in leases.chunks(LEASE_BATCH) {
            let sql = format!(
                "UPDATE bot_configs SET lease_owner = NULL, lease_expires_at_ms = 0 WHERE {}",
                held_as_given(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for lease in chunk {
                query = query
                    .bind(lease.bot_id.0)
                    .bind(&lease.owner)
                    .bind(lease.token);
            }
            released += query.execute(&self.writer).await?.rows_affected();
        }
        Ok(released)
    }

    /// The lease on `bot` as stored (possibly expired), or `None` when nobody holds it.
    /// [`StoreError::NotFound`] when there is no such bot.
    pub async fn lease(&self, bot: BotId) -> StoreResult<Option<Lease>> {
        let row: Option<(Option<String>, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT lease_owner, lease_token, lease_expires_at_ms, lease_previous_owner \
             FROM bot_configs WHERE id = $1",
        )
        .bind(bot.0)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Err(StoreError::NotFound {
                what: "bot",
                key: bot.to_string(),
            }),
            Some((owner, token, expires_at_ms, taken_over_from)) => Ok(owner.map(|owner| Lease {
                bot_id: bot,
                owner,
                token,
                expires_at_ms,
                taken_over_from,
            })),
        }
    }

    async fn bot_exists(&self, bot: BotId) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM bot_configs WHERE id = $1")
            .bind(bot.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

/// `(id, lease_owner, lease_token) IN (VALUES ...)` for `count` leases, their bot id, owner and
/// token bound in that order from parameter `$first` on: the rows still held as given.
fn held_as_given(first: usize, count: usize) -> String {
    let rows: Vec<String> = (0..count)
        .map(|index| {
            let at = first + 3 * index;
            format!("(${at}, ${}, ${})", at + 1, at + 2)
        })
        .collect();
    format!(
        "(id, lease_owner, lease_token) IN (VALUES {})",
        rows.join(", ")
    )
}
