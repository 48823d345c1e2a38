//! [`ServerClock`]: the exchange's clock, read directly by a client that shares a process with
//! the exchange it talks to (the `sim` simulator run in-process, often with market time sped up).
//!
//! Without one, the client estimates the exchange's time as our clock plus a sampled offset
//! (`time_sync.rs`). That assumes both clocks run at the same rate: against a simulator whose
//! market time runs 60 times faster, the estimate falls a second behind every 17 ms, and signed
//! requests leave the `recvWindow`. Reading the exchange's clock itself has no such error.

use std::fmt::Debug;

/// The exchange's clock, when the process can read it directly (an in-process simulator).
///
/// Set it with [`ClientConfig::with_server_clock`](crate::ClientConfig::with_server_clock).
pub trait ServerClock: Send + Sync + Debug {
    /// The exchange's time now, ms since the Unix epoch.
    fn now_ms(&self) -> i64;
}
