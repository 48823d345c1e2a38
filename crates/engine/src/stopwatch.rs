//! [`Stopwatch`]: how long a cycle waited for the exchange, so that the engine's own time per
//! cycle (database, strategy, bookkeeping) can be told apart from the network round trips it
//! cannot control, and when the bot decided (held, or planned its order), so that how late after
//! the close a bot decides can be told apart from how long its order then took. The scheduler's
//! statistics and the load benchmarks report them.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Accumulates the time spent awaiting exchange calls, and keeps when the bot decided.
#[derive(Debug, Default)]
pub struct Stopwatch {
    exchange_ns: AtomicU64,
    decided_at: OnceLock<Instant>,
}

impl Stopwatch {
    /// Awaits `call`, an exchange request, adding its duration to the exchange time.
    pub async fn exchange<F: Future>(&self, call: F) -> F::Output {
        let started = Instant::now();
        let output = call.await;
        let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.exchange_ns.fetch_add(elapsed, Ordering::Relaxed);
        output
    }

    /// Notes that the bot decided now (the first call counts).
    pub fn mark_decided(&self) {
        let _ = self.decided_at.set(Instant::now());
    }

    /// When the bot decided, if it did.
    pub fn decided_at(&self) -> Option<Instant> {
        self.decided_at.get().copied()
    }

    /// The time spent in exchange calls so far.
    pub fn exchange_time(&self) -> Duration {
        Duration::from_nanos(self.exchange_ns.load(Ordering::Relaxed))
    }
}
