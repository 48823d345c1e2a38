//! [`LeaseBook`]: the leases this worker holds, kept in memory between cycles. A worker takes a
//! bot's lease once (the scheduler takes those of every bot due in one statement), renews all of
//! its leases together before they expire, and gives them up at shutdown, so a cycle costs no
//! lease write at all. The guarantee stays the store's: a lease row held by one worker cannot be
//! taken by another until it expires, and a holder that stalled past its expiry finds, at the
//! next renewal or before sending an order, that it lost the bot.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use store::{BotId, Lease, Store, StoreResult};

/// The leases of one worker.
#[derive(Debug)]
pub struct LeaseBook {
    owner: String,
    ttl_ms: i64,
    held: Mutex<HashMap<BotId, Lease>>,
}

impl LeaseBook {
    /// An empty book for worker `owner`, whose leases last `ttl`.
    pub fn new(owner: String, ttl: Duration) -> LeaseBook {
        LeaseBook {
            owner,
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1),
            held: Mutex::new(HashMap::new()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<BotId, Lease>> {
        self.held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The lease on `bot` valid for at least half a ttl from `now_ms`: the one held (renewed
    /// when it is older), or a newly taken one; `None` when another worker holds the bot.
    pub async fn lease_for(
        &self,
        store: &Store,
        bot: BotId,
        now_ms: i64,
    ) -> StoreResult<Option<Lease>> {
        let held = self.held().get(&bot).cloned();
        if let Some(lease) = held {
            if lease.expires_at_ms - now_ms > self.ttl_ms / 2 {
                return Ok(Some(lease));
            }
            if let Some(renewed) = store.renew_lease(&lease, now_ms, self.ttl_ms).await? {
                self.held().insert(bot, renewed.clone());
                return Ok(Some(renewed));
            }
            self.held().remove(&bot);
        }
        let taken = store
            .try_acquire_lease(bot, &self.owner, now_ms, self.ttl_ms)
            .await?;
        if let Some(lease) = &taken {
            took_over(lease);
            self.held().insert(bot, lease.clone());
        }
        Ok(taken)
    }

    /// The lease this worker holds on `bot` as last renewed, if it holds one.
    pub fn held_lease(&self, bot: BotId) -> Option<Lease> {
        self.held().get(&bot).cloned()
    }

    /// How many leases this worker holds now.
    pub fn count(&self) -> usize {
        self.held().len()
    }

    /// Drops `bot`'s lease from the book, after finding it lost.
    pub fn forget(&self, bot: BotId) {
        self.held().remove(&bot);
    }

    /// Takes, in one statement, the leases of those of `bots` not held yet.
    pub async fn acquire(&self, store: &Store, bots: &[BotId], now_ms: i64) -> StoreResult<()> {
        let wanted: Vec<BotId> = {
            let held = self.held();
            bots.iter()
                .copied()
                .filter(|bot| !held.contains_key(bot))
                .collect()
        };
        if wanted.is_empty() {
            return Ok(());
        }
        let taken = store
            .try_acquire_leases(&wanted, &self.owner, now_ms, self.ttl_ms)
            .await?;
        let mut held = self.held();
        for lease in taken {
            took_over(&lease);
            held.insert(lease.bot_id, lease);
        }
        Ok(())
    }

    /// Renews the leases in the book (one statement per batch); those found lost are dropped
    /// from it. Only the book's own leases, by token: a lease of another holder is never
    /// adopted, and one taken while this runs is left as it is.
    pub async fn renew_all(&self, store: &Store, now_ms: i64) -> StoreResult<()> {
        let asked: Vec<Lease> = self.held().values().cloned().collect();
        let renewed = store.renew_leases(&asked, now_ms, self.ttl_ms).await?;
        let renewed_ids: HashSet<BotId> = renewed.iter().map(|lease| lease.bot_id).collect();
        let mut held = self.held();
        for lease in &asked {
            // Only the entry renewal was asked for: a newer lease taken meanwhile stays.
            if !renewed_ids.contains(&lease.bot_id)
                && held
                    .get(&lease.bot_id)
                    .is_some_and(|now| now.token == lease.token)
            {
                held.remove(&lease.bot_id);
            }
        }
        for lease in renewed {
            if held
                .get(&lease.bot_id)
                .is_some_and(|now| now.token == lease.token)
            {
                held.insert(lease.bot_id, lease);
            }
        }
        Ok(())
    }

    /// Gives up the leases of bots not in `keep` (deleted, paused or deactivated bots).
    pub async fn release_except(&self, store: &Store, keep: &[BotId]) -> StoreResult<()> {
        let kept: HashSet<BotId> = keep.iter().copied().collect();
        let dropped: Vec<Lease> = {
            let mut held = self.held();
            let dropped = held
                .values()
                .filter(|lease| !kept.contains(&lease.bot_id))
                .cloned()
                .collect();
            held.retain(|bot, _| kept.contains(bot));
            dropped
        };
        for lease in dropped {
            store.release_lease(&lease).await?;
        }
        Ok(())
    }

    /// Gives up every lease in this book (by token: another process under the same worker name
    /// keeps its own); how many were released.
    pub async fn release_all(&self, store: &Store) -> StoreResult<u64> {
        let leases: Vec<Lease> = self.held().drain().map(|(_, lease)| lease).collect();
        store.release_leases(&leases).await
    }
}

/// Tells of `lease` when it replaced another worker's expired lease: that worker died or stalled
/// with the bot, and this one reconciles whatever it left in flight.
fn took_over(lease: &Lease) {
    if let Some(previous) = &lease.taken_over_from {
        crate::telemetry::lease_taken_over();
        tracing::info!(bot = %lease.bot_id, from = %previous, "took the bot over from a worker whose lease expired");
    }
}
