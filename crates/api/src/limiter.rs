//! [`LoginLimits`] and the in-memory limiter of failed logins, per account and per client IP,
//! and of registrations per client IP (each one costs a password hash, and open registration
//! must not let one client fill the users table).
//!
//! The counts live in this process only: they reset when it restarts, and several API processes
//! behind one address each allow the limit. That is enough to make guessing passwords slow; a
//! shared table can replace it without changing the API.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How many failed logins are allowed, per account and per client IP, within one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins allowed on one username per window (default 5).
    pub per_account: u32,
    /// Failed logins allowed from one IP address per window, on any usernames (default 20).
    pub per_ip: u32,
    /// Registrations allowed from one IP address per window, successful or not (default 20).
    pub registrations_per_ip: u32,
    /// The window, starting at the first failure (default 15 minutes).
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_account: 5,
            per_ip: 20,
            registrations_per_ip: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Above this many tracked keys, expired windows are swept on each new attempt, so that guesses
/// on endless made-up usernames cannot grow the map without bound.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// The SHA-256 of the username as given: 32 bytes whatever its length (a login body may
    /// carry a name of 64 KiB, and up to SWEEP_ABOVE keys are kept).
    Account([u8; 32]),
    Ip(IpAddr),
    Registration(IpAddr),
}

impl Key {
    fn account(name: &str) -> Key {
        Key::Account(Sha256::digest(name.as_bytes()).into())
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started_ms: i64,
    attempts: u32,
}

/// Counts login attempts against [`LoginLimits`].
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    windows: Mutex<HashMap<Key, Window>>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            windows: Mutex::default(),
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.limits.window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Counts an attempt on `account` from `ip` as failed until [`LoginLimiter::succeeded`]
    /// says otherwise, or refuses it with the seconds until the blocking window ends. Counting
    /// before the password is checked keeps concurrent guesses from all slipping through.
    pub(crate) fn begin(&self, account: &str, ip: IpAddr, now_ms: i64) -> Result<(), u64> {
        self.count(
            &[
                (Key::account(account), self.limits.per_account),
                (Key::Ip(ip), self.limits.per_ip),
            ],
            now_ms,
        )
    }

    /// Counts a registration from `ip`, or refuses it with the seconds until the window ends.
    pub(crate) fn begin_registration(&self, ip: IpAddr, now_ms: i64) -> Result<(), u64> {
        self.count(
            &[(Key::Registration(ip), self.limits.registrations_per_ip)],
            now_ms,
        )
    }

    /// Counts an attempt against every key, or refuses it (counting nothing) with the seconds
    /// until the last of the full windows ends.
    fn count(&self, keys: &[(Key, u32)], now_ms: i64) -> Result<(), u64> {
        let window_ms = self.window_ms();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, window| now_ms - window.started_ms < window_ms);
        }
        let mut retry_after_ms = 0;
        for (key, limit) in keys {
            if let Some(window) = windows.get(key)
                && now_ms - window.started_ms < window_ms
                && window.attempts >= *limit
            {
                retry_after_ms = retry_after_ms.max(window.started_ms + window_ms - now_ms);
            }
        }
        if retry_after_ms > 0 {
            // Positive here, so the unsigned ceiling division is exact.
            return Err(u64::try_from(retry_after_ms).map_or(u64::MAX, |ms| ms.div_ceil(1000)));
        }
        for (key, _) in keys {
            let window = windows.entry(key.clone()).or_insert(Window {
                started_ms: now_ms,
                attempts: 0,
            });
            if now_ms - window.started_ms >= window_ms {
                *window = Window {
                    started_ms: now_ms,
                    attempts: 0,
                };
            }
            window.attempts += 1;
        }
        Ok(())
    }

    /// The attempt begun on `account` from `ip` succeeded: the account's failures are forgotten
    /// and the attempt no longer counts against the IP.
    pub(crate) fn succeeded(&self, account: &str, ip: IpAddr) {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        windows.remove(&Key::account(account));
        if let Some(window) = windows.get_mut(&Key::Ip(ip)) {
            window.attempts = window.attempts.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn limiter(per_account: u32, per_ip: u32) -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            per_account,
            per_ip,
            registrations_per_ip: 2,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn registrations_are_counted_per_ip_apart_from_logins() {
        let limiter = limiter(100, 100);
        assert_eq!(limiter.begin_registration(IP, 0), Ok(()));
        assert_eq!(limiter.begin_registration(IP, 1_000), Ok(()));
        assert_eq!(limiter.begin_registration(IP, 2_000), Err(58));
        assert_eq!(limiter.begin("alice", IP, 2_000), Ok(()), "logins are not");
        let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(limiter.begin_registration(other, 2_000), Ok(()));
        assert_eq!(
            limiter.begin_registration(IP, 60_000),
            Ok(()),
            "a new window"
        );
    }

    #[test]
    fn an_account_is_blocked_until_its_window_ends() {
        let limiter = limiter(2, 100);
        assert_eq!(limiter.begin("alice", IP, 0), Ok(()));
        assert_eq!(limiter.begin("alice", IP, 1_000), Ok(()));
        assert_eq!(
            limiter.begin("alice", IP, 1_500),
            Err(59),
            "58.5 s, rounded up"
        );
        assert_eq!(
            limiter.begin("bob", IP, 1_500),
            Ok(()),
            "other accounts are not"
        );
        assert_eq!(limiter.begin("alice", IP, 60_000), Ok(()), "a new window");
    }

    #[test]
    fn an_ip_is_blocked_across_accounts_and_success_forgives() {
        let limiter = limiter(100, 2);
        assert_eq!(limiter.begin("a", IP, 0), Ok(()));
        limiter.succeeded("a", IP);
        assert_eq!(limiter.begin("b", IP, 0), Ok(()));
        assert_eq!(limiter.begin("c", IP, 0), Ok(()));
        assert_eq!(limiter.begin("d", IP, 0), Err(60));
        let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(limiter.begin("d", other, 0), Ok(()));
    }
}
