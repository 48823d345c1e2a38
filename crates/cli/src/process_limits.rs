//! What a long-running command (`run`, `worker`, `api`, `sim`) sets for its own process before
//! it opens anything:
//! - a umask of 077, so that every file and directory it creates (the SQLite database and its
//!   journal files, the data directory, the simulator's state with the paper accounts' secrets,
//!   uploaded candle files) is readable and writable by its own user only;
//! - the soft limit on open files raised to the hard limit: every client connection, database
//!   connection and exchange socket takes a file descriptor, and the common default of 1,024 is
//!   exhausted by a thousand idle clients. The HTTP servers' connection cap is sized from what
//!   the process may open ([`connection_cap`]), so that reaching the cap leaves room for the
//!   rest.
//!
//! Uses rustix for both: std has no safe way to set either.

use rustix::fs::Mode;
use rustix::process::{Resource, getrlimit, setrlimit, umask};

/// File descriptors kept for everything but client connections: the database pool, the
/// exchanges' sockets and streams, files being read and written.
const RESERVED_FILES: u64 = 256;

/// The connection cap never goes below this (a tiny limit still serves a handful of users)...
const MIN_CONNECTIONS: u64 = 64;

/// ...nor above this, whatever the system allows.
const MAX_CONNECTIONS: u64 = 10_000;

/// What [`apply`] found and did to the open-files limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit the process started with (`None`: unlimited).
    pub before: Option<u64>,
    /// The soft limit now.
    pub now: Option<u64>,
}

/// Sets the umask and raises the open-files limit (see the module's documentation).
pub fn apply() -> OpenFiles {
    umask(Mode::from_bits_truncate(0o077));
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        // Refused on some systems for an unlimited hard limit: the soft one then stays.
        let _ = setrlimit(Resource::Nofile, raised);
    }
    OpenFiles {
        before,
        now: getrlimit(Resource::Nofile).current,
    }
}

/// The connections an HTTP server of this process may hold at once: half of the open files
/// left after [`RESERVED_FILES`], within [`MIN_CONNECTIONS`] and [`MAX_CONNECTIONS`].
pub fn connection_cap() -> u32 {
    let open_files = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let cap = open_files.saturating_sub(RESERVED_FILES) / 2;
    // Within MAX_CONNECTIONS, so it fits a u32.
    cap.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_and_stays_within_its_bounds() {
        let cap = connection_cap();
        assert!(
            (MIN_CONNECTIONS as u32..=MAX_CONNECTIONS as u32).contains(&cap),
            "{cap}"
        );
    }
}
