//! The retry policy: how many attempts, how long to wait between them (exponential backoff with
//! full jitter, capped, never shorter than the exchange's `Retry-After`), and how long an order in
//! doubt is looked for. Settings come from code or from the environment
//! (`BINANCE_RETRY_MAX_ATTEMPTS`, `BINANCE_RETRY_BACKOFF_BASE`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The environment variable with the number of attempts per request (default 5).
pub const MAX_ATTEMPTS_ENV: &str = "BINANCE_RETRY_MAX_ATTEMPTS";
/// The environment variable with the backoff base in seconds (default 0.5).
pub const BACKOFF_BASE_ENV: &str = "BINANCE_RETRY_BACKOFF_BASE";

/// The most attempts accepted from the environment.
const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// The largest backoff base accepted from the environment, seconds.
const MAX_BACKOFF_BASE_S: f64 = 60.0;

/// A bad retry setting in the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryConfigError {
    /// Not a whole number of attempts in range.
    #[error(
        "{variable}={value:?}: expected a whole number of attempts from 1 to {MAX_ATTEMPTS_LIMIT}"
    )]
    Attempts {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// Not a number of seconds in range.
    #[error(
        "{variable}={value:?}: expected seconds as a number from 0 to {MAX_BACKOFF_BASE_S}, e.g. 0.5"
    )]
    BackoffBase {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
}

/// How failed requests are retried and ambiguous orders resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (at least 1).
    pub max_attempts: u32,
    /// The backoff before retry `n` (from 0) is drawn uniformly from `[0, min(cap, base × 2ⁿ)]`.
    pub backoff_base: Duration,
    /// The longest backoff.
    pub backoff_cap: Duration,
    /// A `Retry-After` longer than this is not waited out: the error is returned instead.
    pub max_retry_after: Duration,
    /// How long an order in doubt is looked for by its client order id while the exchange says
    /// it does not exist (-2013, "not yet visible"); after that the client reports its fate as
    /// unknown (never as not executed: the caller reconciles it later).
    pub order_visibility_timeout: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, base 0.5 s, cap 30 s, `Retry-After` waited up to 2 minutes, orders looked for
    /// during 15 s (beyond Binance's 10 s backend timeout).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            order_visibility_timeout: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The default policy with `BINANCE_RETRY_MAX_ATTEMPTS` and `BINANCE_RETRY_BACKOFF_BASE` from
    /// the environment when set (an empty value counts as unset).
    pub fn from_env() -> Result<RetryPolicy, RetryConfigError> {
        RetryPolicy::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<RetryPolicy, RetryConfigError> {
        let mut policy = RetryPolicy::default();
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if let Some(value) = set(MAX_ATTEMPTS_ENV) {
            policy.max_attempts = value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|attempts| (1..=MAX_ATTEMPTS_LIMIT).contains(attempts))
                .ok_or(RetryConfigError::Attempts {
                    variable: MAX_ATTEMPTS_ENV,
                    value: value.clone(),
                })?;
        }
        if let Some(value) = set(BACKOFF_BASE_ENV) {
            let seconds = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|seconds| (0.0..=MAX_BACKOFF_BASE_S).contains(seconds))
                .ok_or(RetryConfigError::BackoffBase {
                    variable: BACKOFF_BASE_ENV,
                    value: value.clone(),
                })?;
            policy.backoff_base = Duration::from_secs_f64(seconds);
        }
        Ok(policy)
    }

    /// The upper bound of the backoff before retry `retry` (from 0): `min(cap, base × 2^retry)`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.checked_pow(retry).unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.backoff_cap)
    }

    /// A backoff before retry `retry`: uniform in `[0, backoff_ceiling(retry)]` (full jitter).
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff_ceiling(retry).mul_f64(unit_random())
    }

    /// The wait before retry `retry` after an error that asked for `retry_after`: the jittered
    /// backoff, but never less than `retry_after`. `None` when `retry_after` exceeds
    /// [`max_retry_after`](Self::max_retry_after).
    pub(crate) fn wait_before_retry(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let backoff = self.backoff(retry);
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait.max(backoff)),
            None => Some(backoff),
        }
    }
}

/// A uniform draw from `[0, 1)`: std's per-instance random hasher keys are the entropy source.
fn unit_random() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn unset_or_empty_variables_give_the_defaults() {
        assert_eq!(
            RetryPolicy::from_lookup(lookup(&[])).unwrap(),
            RetryPolicy::default()
        );
        let empty = [(MAX_ATTEMPTS_ENV, ""), (BACKOFF_BASE_ENV, " ")];
        assert_eq!(
            RetryPolicy::from_lookup(lookup(&empty)).unwrap(),
            RetryPolicy::default()
        );
        assert_eq!(RetryPolicy::default().max_attempts, 5);
        assert_eq!(
            RetryPolicy::default().backoff_base,
            Duration::from_millis(500)
        );
    }

    #[test]
    fn valid_variables_are_read() {
        let policy = RetryPolicy::from_lookup(lookup(&[
            (MAX_ATTEMPTS_ENV, "3"),
            (BACKOFF_BASE_ENV, "0.25"),
        ]))
        .unwrap();
        assert_eq!(policy.max_attempts, 3);
        assert_eq!(policy.backoff_base, Duration::from_millis(250));
    }

    #[test]
    fn bad_variables_are_named_in_the_error() {
        for attempts in ["0", "-1", "two", "1.5", "101"] {
            let error =
                RetryPolicy::from_lookup(lookup(&[(MAX_ATTEMPTS_ENV, attempts)])).unwrap_err();
            assert!(
                error.to_string().starts_with("BINANCE_RETRY_MAX_ATTEMPTS="),
                "{error}"
            );
        }
        for base in ["-0.5", "NaN", "inf", "half", "61"] {
            let error = RetryPolicy::from_lookup(lookup(&[(BACKOFF_BASE_ENV, base)])).unwrap_err();
            assert_eq!(
                error,
                RetryConfigError::BackoffBase {
                    variable: BACKOFF_BASE_ENV,
                    value: base.to_owned()
                }
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_within_it() {
        let policy = RetryPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert_eq!(policy.backoff_ceiling(0), Duration::from_millis(100));
        assert_eq!(policy.backoff_ceiling(3), Duration::from_millis(800));
        assert_eq!(policy.backoff_ceiling(4), Duration::from_secs(1));
        assert_eq!(policy.backoff_ceiling(200), Duration::from_secs(1));
        let draws: Vec<Duration> = (0..1_000).map(|_| policy.backoff(2)).collect();
        assert!(draws.iter().all(|draw| *draw <= Duration::from_millis(400)));
        assert!(
            draws.iter().any(|draw| *draw < Duration::from_millis(100)),
            "full jitter reaches low"
        );
        assert!(
            draws.iter().any(|draw| *draw > Duration::from_millis(300)),
            "and high"
        );
    }

    #[test]
    fn retry_after_is_a_floor_and_too_long_a_wait_is_refused() {
        let policy = RetryPolicy {
            backoff_base: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let wait = policy
            .wait_before_retry(0, Some(Duration::from_secs(2)))
            .unwrap();
        assert!(wait >= Duration::from_secs(2));
        assert_eq!(
            policy.wait_before_retry(0, Some(Duration::from_secs(6))),
            None
        );
        assert!(policy.wait_before_retry(0, None).unwrap() <= Duration::from_millis(10));
    }
}
