//! The simulator's notion of "now": [`Clock`], with [`SystemClock`] (wall time, optionally sped
//! up so a demo sees minutes of market per second) and [`ManualClock`] (set by tests).
//!
//! One clock drives everything: `serverTime`, the `timestamp`/`recvWindow` check, kline times and
//! the price walk, so the simulated world stays self-consistent. A consequence with a speed factor
//! above 1: a client's timestamps must follow the server's time (`GET /api/v3/time`), not its own
//! wall clock, or they leave the recvWindow within seconds.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of the current time in milliseconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// How many times faster than real time the clock runs on its own: 1 for real time, 60 for
    /// a minute of market per second, 0 for a clock that moves only when it is set
    /// ([`ManualClock`]). A remote client of an accelerated exchange needs it to estimate the
    /// exchange's time between two readings (`GET /_sim/clock` publishes it).
    fn speed(&self) -> u32;

    /// This clock as a [`ManualClock`], when it is one: the admin API sets only those.
    fn as_manual(&self) -> Option<&ManualClock> {
        None
    }
}

/// Wall-clock time, optionally running `speed` times faster from the moment it was created.
#[derive(Debug)]
pub struct SystemClock {
    started_at: Instant,
    started_at_ms: i64,
    speed: u32,
}

/// The real time, in ms since the epoch (0 before it).
pub(crate) fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

impl SystemClock {
    /// Real time.
    pub fn new() -> SystemClock {
        SystemClock::with_speed(1)
    }

    /// Time that starts at the real now and then runs `speed` times faster (`60` = one minute of
    /// market per real second). A speed of 0 counts as 1.
    pub fn with_speed(speed: u32) -> SystemClock {
        SystemClock {
            started_at: Instant::now(),
            started_at_ms: real_now_ms(),
            speed: speed.max(1),
        }
    }

    /// Time that resumes at `saved_ms` (when given and later than the real now) and then runs
    /// `speed` times faster: an accelerated exchange restarted from a state file carries on from
    /// where its market time stopped, instead of jumping back to the real now and replaying
    /// candles its clients have already seen.
    pub fn resume(saved_ms: Option<i64>, speed: u32) -> SystemClock {
        let mut clock = SystemClock::with_speed(speed);
        if let Some(saved_ms) = saved_ms {
            clock.started_at_ms = clock.started_at_ms.max(saved_ms);
        }
        clock
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        // Measured on the monotonic clock so a wall-clock step never moves market time backwards.
        let elapsed_ms = self.started_at.elapsed().as_millis() * u128::from(self.speed);
        self.started_at_ms
            .saturating_add(i64::try_from(elapsed_ms).unwrap_or(i64::MAX))
    }

    fn speed(&self) -> u32 {
        self.speed
    }
}

/// A clock that only moves when told to: deterministic tests of time-dependent rules, and a
/// replay stepped candle by candle (`spotbot sim --manual-clock`). Whoever must act as soon as it
/// moves (a client waiting on `GET /_sim/clock?changed_from=N`) watches [`ManualClock::changes`].
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
    /// Told every time the clock is set, so a waiter wakes at once instead of polling.
    changes: tokio::sync::watch::Sender<i64>,
}

impl ManualClock {
    /// A clock stopped at `now_ms`.
    pub fn new(now_ms: i64) -> ManualClock {
        ManualClock {
            now_ms: AtomicI64::new(now_ms),
            changes: tokio::sync::watch::Sender::new(now_ms),
        }
    }

    /// Sets the time.
    pub fn set_ms(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
        self.changes.send_replace(now_ms);
    }

    /// Moves the time forward by `delta_ms` (backward if negative).
    pub fn advance_ms(&self, delta_ms: i64) {
        let now_ms = self.now_ms.fetch_add(delta_ms, Ordering::SeqCst) + delta_ms;
        self.changes.send_replace(now_ms);
    }

    /// A receiver told of every later setting of the clock (the value it was set to).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<i64> {
        self.changes.subscribe()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    fn speed(&self) -> u32 {
        0
    }

    fn as_manual(&self) -> Option<&ManualClock> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance_ms(500);
        assert_eq!(clock.now_ms(), 1_500);
        clock.set_ms(42);
        assert_eq!(clock.now_ms(), 42);
    }

    #[test]
    fn a_watcher_hears_every_setting_of_the_manual_clock() {
        let clock = ManualClock::new(1_000);
        let mut changes = clock.changes();
        assert!(!changes.has_changed().unwrap(), "nothing set yet");
        clock.advance_ms(500);
        assert!(changes.has_changed().unwrap());
        assert_eq!(*changes.borrow_and_update(), 1_500);
        clock.set_ms(42);
        assert_eq!(*changes.borrow_and_update(), 42);
    }

    #[test]
    fn sped_up_clock_runs_ahead_of_real_time() {
        let real = SystemClock::new();
        let fast = SystemClock::with_speed(1_000);
        assert_eq!(
            (real.speed(), fast.speed(), ManualClock::new(0).speed()),
            (1, 1_000, 0)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(fast.now_ms() - real.now_ms() >= 10_000);
    }
}
