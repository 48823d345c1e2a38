//! The offset between the exchange's clock and ours: a rolling window of samples, each the
//! server's time minus the midpoint of our request's round trip; the median keeps one slow or
//! odd sample from moving the signed `timestamp`. A client given a `ServerClock`
//! (`server_clock.rs`) reads the exchange's time directly instead and keeps no offset.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The recent server-time offsets and when the last was taken.
#[derive(Debug, Clone)]
pub struct ClockOffset {
    samples_ms: VecDeque<i64>,
    capacity: usize,
    last_sample: Option<Instant>,
}

impl ClockOffset {
    /// An empty window keeping the last `capacity` samples (at least one).
    pub fn new(capacity: usize) -> ClockOffset {
        ClockOffset {
            samples_ms: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            last_sample: None,
        }
    }

    /// Adds a sample: the server said `server_time_ms` for a request sent at local time
    /// `sent_ms` and answered at `received_ms`. The oldest sample goes when the window is full.
    pub fn record(&mut self, sent_ms: i64, server_time_ms: i64, received_ms: i64) {
        let midpoint = sent_ms + (received_ms - sent_ms) / 2;
        if self.samples_ms.len() == self.capacity {
            self.samples_ms.pop_front();
        }
        self.samples_ms.push_back(server_time_ms - midpoint);
        self.last_sample = Some(Instant::now());
    }

    /// Forgets every sample (after the exchange refused a timestamp: the clocks moved).
    pub fn clear(&mut self) {
        self.samples_ms.clear();
        self.last_sample = None;
    }

    /// The median offset (server minus local, ms); the lower middle of an even count. `None`
    /// before the first sample.
    pub fn median_ms(&self) -> Option<i64> {
        let mut sorted: Vec<i64> = self.samples_ms.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len().saturating_sub(1) / 2).copied()
    }

    /// Whether a new sample is due: none yet, or the last is older than `refresh_every`.
    pub fn needs_sample(&self, refresh_every: Duration) -> bool {
        self.last_sample
            .is_none_or(|taken| taken.elapsed() >= refresh_every)
    }
}

/// Our wall clock, ms since the Unix epoch.
pub(crate) fn local_now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_the_median_of_the_window_around_round_trip_midpoints() {
        let mut offset = ClockOffset::new(5);
        assert_eq!(offset.median_ms(), None);
        assert!(offset.needs_sample(Duration::from_secs(60)));
        // Sent at 1000, answered at 1100: the server's 2050 is 1000 ahead of the midpoint 1050.
        offset.record(1_000, 2_050, 1_100);
        assert_eq!(offset.median_ms(), Some(1_000));
        assert!(!offset.needs_sample(Duration::from_secs(60)));
        // One wild sample does not move the median.
        offset.record(0, 900_000, 0);
        offset.record(0, 1_010, 0);
        assert_eq!(offset.median_ms(), Some(1_010));
        offset.record(0, 990, 0);
        assert_eq!(offset.median_ms(), Some(1_000), "lower middle of four");
    }

    #[test]
    fn old_samples_roll_out_and_clear_forgets_all() {
        let mut offset = ClockOffset::new(3);
        for server in [10, 20, 30, -500, -500] {
            offset.record(0, server, 0);
        }
        assert_eq!(offset.median_ms(), Some(-500), "10 and 20 rolled out");
        offset.clear();
        assert_eq!(offset.median_ms(), None);
        assert!(offset.needs_sample(Duration::from_secs(3_600)));
    }
}
