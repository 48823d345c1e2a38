//! Fault injection: the failures that hurt clients in production, on demand and reproducibly.
//!
//! A [`FaultPlan`] is a list of [`FaultRule`]s plus exchange-wide faults (server clock skew,
//! symbols switched out of TRADING). Each rule names a [`Fault`], the endpoints it applies to,
//! optionally the account (API key) it applies to, and a [`Trigger`]: always, with a probability,
//! or for the next N matching requests. Probabilities are drawn from a generator seeded by the
//! plan's seed and the rule's position, so the same plan and the same request sequence give the
//! same faults.
//!
//! The plan is JSON, the same for `spotbot sim --faults FILE` and for `PUT /_sim/faults`:
//!
//! ```json
//! {
//!   "seed": 7,
//!   "clock_skew_ms": -1500,
//!   "symbol_status": {"ETHUSDT": "HALT"},
//!   "rules": [
//!     {"fault": {"drop_connection": "after_executing"}, "endpoints": ["POST /api/v3/order"],
//!      "trigger": {"next": 1}},
//!     {"fault": {"latency_ms": 200}, "trigger": {"probability": 0.1}},
//!     {"fault": {"backend_timeout": "after_executing"}, "account": "<API key>"},
//!     {"fault": {"not_queryable_ms": 500}, "endpoints": ["GET /api/v3/order"]}
//!   ]
//! }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::walk::splitmix64;

/// The largest clock skew accepted, ms.
const MAX_CLOCK_SKEW_MS: u64 = 86_400_000;

/// Whether a fault strikes before the request is executed (nothing happened) or after (an order
/// was placed, but the client is not told so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// The request is not executed.
    BeforeExecuting,
    /// The request is executed, then the answer is replaced.
    AfterExecuting,
}

/// One kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Delay the answer by this many ms (real time).
    LatencyMs(u64),
    /// Close the connection without an answer.
    DropConnection(Timing),
    /// Answer this HTTP 5xx status with a plain-text body, as a failing gateway does.
    ServerError {
        /// 500 to 599.
        status: u16,
        /// Before or after executing.
        timing: Timing,
    },
    /// Answer -1006 (unexpected response from the message bus; execution status unknown).
    UnexpectedResponse(Timing),
    /// Answer -1007 (timeout waiting for the backend; execution status unknown).
    BackendTimeout(Timing),
    /// Answer -1008 (server busy) without executing.
    ServerBusy,
    /// Answer 429 -1003 with `Retry-After` of this many seconds, without executing.
    TooManyRequestsS(u64),
    /// Answer 418 -1003 (IP banned) with `Retry-After` of this many seconds, without executing.
    BannedS(u64),
    /// Orders younger than this many ms are not shown yet by the order queries the rule names:
    /// `GET /api/v3/order` answers -2013, `GET /api/v3/allOrders` leaves them out and
    /// `GET /api/v3/myTrades` leaves out their trades.
    NotQueryableMs(u64),
}

impl Fault {
    /// The failure this fault answers with; `None` for latency and visibility, which change how
    /// a request is served rather than its answer.
    fn as_failure(self) -> Option<Failure> {
        Some(match self {
            Fault::LatencyMs(_) | Fault::NotQueryableMs(_) => return None,
            Fault::DropConnection(timing) => Failure::DropConnection(timing),
            Fault::ServerError { status, timing } => Failure::ServerError { status, timing },
            Fault::UnexpectedResponse(timing) => Failure::UnexpectedResponse(timing),
            Fault::BackendTimeout(timing) => Failure::BackendTimeout(timing),
            Fault::ServerBusy => Failure::ServerBusy,
            Fault::TooManyRequestsS(seconds) => Failure::TooManyRequests {
                retry_after_s: seconds,
            },
            Fault::BannedS(seconds) => Failure::Banned {
                retry_after_s: seconds,
            },
        })
    }
}

/// An injected answer that replaces the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Close the connection without an answer.
    DropConnection(Timing),
    /// A plain-text HTTP 5xx.
    ServerError {
        /// The HTTP status.
        status: u16,
        /// Before or after executing.
        timing: Timing,
    },
    /// -1006.
    UnexpectedResponse(Timing),
    /// -1007.
    BackendTimeout(Timing),
    /// -1008, never executed.
    ServerBusy,
    /// 429 -1003, never executed.
    TooManyRequests {
        /// The `Retry-After` seconds.
        retry_after_s: u64,
    },
    /// 418 -1003, never executed.
    Banned {
        /// The `Retry-After` seconds (the ban's length).
        retry_after_s: u64,
    },
}

impl Failure {
    /// Whether the request is executed before the failure answers.
    pub fn timing(self) -> Timing {
        match self {
            Failure::DropConnection(timing)
            | Failure::ServerError { timing, .. }
            | Failure::UnexpectedResponse(timing)
            | Failure::BackendTimeout(timing) => timing,
            Failure::ServerBusy | Failure::TooManyRequests { .. } | Failure::Banned { .. } => {
                Timing::BeforeExecuting
            }
        }
    }
}

/// When a rule fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// On every matching request.
    #[default]
    Always,
    /// On each matching request with this probability (0 to 1), drawn from the seeded generator.
    Probability(f64),
    /// On the next N matching requests, then never again.
    Next(u32),
}

/// A fault, where it applies and when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// What happens.
    pub fault: Fault,
    /// The endpoints it applies to; empty means every endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// The API key (`X-MBX-APIKEY`) whose requests it applies to; absent means every client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// When it fires.
    #[serde(default)]
    pub trigger: Trigger,
}

/// Every injected fault, as set by `--faults` or `PUT /_sim/faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Seeds the probability draws.
    pub seed: u64,
    /// Per-request faults, checked in order.
    pub rules: Vec<FaultRule>,
    /// Added to the server's time (`serverTime`, the timestamp check, trade times), ms; at most
    /// a day either way.
    pub clock_skew_ms: i64,
    /// Symbols whose status is not TRADING, e.g. `{"BTCUSDT": "HALT"}`.
    pub symbol_status: BTreeMap<String, String>,
}

/// Why a [`FaultPlan`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultPlanError {
    /// A probability outside 0..=1.
    #[error("rule {rule}: probability must be between 0 and 1")]
    Probability {
        /// The rule's position, from 0.
        rule: usize,
    },
    /// A clock skew of more than a day.
    #[error("clock_skew_ms must be within a day (±86400000)")]
    ClockSkew,
    /// A server error that is not 5xx.
    #[error("rule {rule}: server_error status must be 500 to 599")]
    ServerErrorStatus {
        /// The rule's position, from 0.
        rule: usize,
    },
    /// A symbol the exchange does not list.
    #[error("symbol_status: unknown symbol {0}")]
    UnknownSymbol(String),
    /// A status Binance does not have.
    #[error(
        "symbol_status: {0} is not a symbol status (TRADING, END_OF_DAY, HALT, BREAK, CANCEL_ONLY)"
    )]
    UnknownStatus(String),
}

impl FaultPlan {
    /// Checks the values of the plan (its symbols are checked by the exchange, which knows its
    /// listings).
    pub fn validate(&self) -> Result<(), FaultPlanError> {
        // The price walk generates every second up to the server's time: skewing it by years
        // would stall the exchange.
        if self.clock_skew_ms.unsigned_abs() > MAX_CLOCK_SKEW_MS {
            return Err(FaultPlanError::ClockSkew);
        }
        for (rule_index, rule) in self.rules.iter().enumerate() {
            if let Trigger::Probability(probability) = rule.trigger
                && !(0.0..=1.0).contains(&probability)
            {
                return Err(FaultPlanError::Probability { rule: rule_index });
            }
            if let Fault::ServerError { status, .. } = rule.fault
                && !(500..=599).contains(&status)
            {
                return Err(FaultPlanError::ServerErrorStatus { rule: rule_index });
            }
        }
        Ok(())
    }
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultDecision {
    /// Real-time delay before the request is processed, ms.
    pub latency_ms: u64,
    /// The failure that replaces the answer, if any (the first rule that fired).
    pub failure: Option<Failure>,
    /// Orders younger than this are not shown by the order queries (see
    /// [`Fault::NotQueryableMs`]), ms.
    pub not_queryable_ms: u64,
}

/// A plan and the state of its triggers.
#[derive(Debug, Default)]
pub struct FaultState {
    plan: FaultPlan,
    /// Per rule: requests left for `Next`, generator state for `Probability`.
    remaining: Vec<u32>,
    generators: Vec<u64>,
}

impl FaultState {
    /// Starts `plan` with fresh triggers.
    pub fn new(plan: FaultPlan) -> FaultState {
        let remaining = plan
            .rules
            .iter()
            .map(|rule| match rule.trigger {
                Trigger::Next(count) => count,
                Trigger::Always | Trigger::Probability(_) => 0,
            })
            .collect();
        let generators = (0..plan.rules.len() as u64)
            .map(|index| splitmix64(plan.seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F)))
            .collect();
        FaultState {
            plan,
            remaining,
            generators,
        }
    }

    /// The plan in force.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// The symbols not TRADING, to change one without restarting the rules' triggers.
    pub(crate) fn symbol_status_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.plan.symbol_status
    }

    /// Decides the faults of one request to `endpoint` from the client using `api_key`. Rules are
    /// checked in order; every matching latency and visibility rule applies, and the first
    /// failure that fires replaces the answer (later failure rules are not consulted, so their
    /// `Next` counts and draws are not used up).
    pub fn decide(&mut self, endpoint: Endpoint, api_key: Option<&str>) -> FaultDecision {
        let mut decision = FaultDecision::default();
        for (index, rule) in self.plan.rules.iter().enumerate() {
            let failure = rule.fault.as_failure();
            let applies = (rule.endpoints.is_empty() || rule.endpoints.contains(&endpoint))
                && rule
                    .account
                    .as_deref()
                    .is_none_or(|account| Some(account) == api_key)
                && !(failure.is_some() && decision.failure.is_some());
            if !applies
                || !fires(
                    rule.trigger,
                    &mut self.remaining[index],
                    &mut self.generators[index],
                )
            {
                continue;
            }
            match rule.fault {
                Fault::LatencyMs(ms) => {
                    decision.latency_ms = decision.latency_ms.saturating_add(ms)
                }
                Fault::NotQueryableMs(ms) => {
                    decision.not_queryable_ms = decision.not_queryable_ms.max(ms);
                }
                _ => decision.failure = failure,
            }
        }
        decision
    }
}

/// Whether a rule with `trigger` fires now, using up a `Next` count or a draw.
fn fires(trigger: Trigger, remaining: &mut u32, generator: &mut u64) -> bool {
    match trigger {
        Trigger::Always => true,
        Trigger::Next(_) => {
            let fire = *remaining > 0;
            *remaining = remaining.saturating_sub(1);
            fire
        }
        Trigger::Probability(probability) => {
            *generator = splitmix64(*generator);
            let uniform = (*generator >> 11) as f64 / (1u64 << 53) as f64;
            uniform < probability
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(fault: Fault, trigger: Trigger) -> FaultRule {
        FaultRule {
            fault,
            endpoints: vec![Endpoint::NewOrder],
            account: None,
            trigger,
        }
    }

    #[test]
    fn the_documented_example_plan_parses() {
        let text = r#"{
          "seed": 7,
          "clock_skew_ms": -1500,
          "symbol_status": {"ETHUSDT": "HALT"},
          "rules": [
            {"fault": {"drop_connection": "after_executing"}, "endpoints": ["POST /api/v3/order"],
             "trigger": {"next": 1}},
            {"fault": {"latency_ms": 200}, "trigger": {"probability": 0.1}},
            {"fault": {"backend_timeout": "after_executing"}, "account": "key"},
            {"fault": {"server_error": {"status": 503, "timing": "before_executing"}}},
            {"fault": "server_busy"},
            {"fault": {"not_queryable_ms": 500}, "endpoints": ["GET /api/v3/order"]}
          ]
        }"#;
        let plan: FaultPlan = serde_json::from_str(text).unwrap();
        assert_eq!(plan.rules.len(), 6);
        assert_eq!(plan.rules[0].trigger, Trigger::Next(1));
        assert!(plan.validate().is_ok());
        assert!(serde_json::from_str::<FaultPlan>(r#"{"rulez": []}"#).is_err());
    }

    #[test]
    fn next_n_fires_exactly_n_times_on_matching_endpoints() {
        let mut state = FaultState::new(FaultPlan {
            rules: vec![rule(Fault::ServerBusy, Trigger::Next(2))],
            ..FaultPlan::default()
        });
        assert_eq!(state.decide(Endpoint::Ping, None).failure, None);
        let fired: Vec<bool> = (0..4)
            .map(|_| state.decide(Endpoint::NewOrder, None).failure.is_some())
            .collect();
        assert_eq!(fired, [true, true, false, false]);
    }

    #[test]
    fn probabilities_are_reproducible_from_the_seed() {
        let plan = |seed| FaultPlan {
            seed,
            rules: vec![rule(Fault::ServerBusy, Trigger::Probability(0.5))],
            ..FaultPlan::default()
        };
        let draws = |seed| {
            let mut state = FaultState::new(plan(seed));
            (0..64)
                .map(|_| state.decide(Endpoint::NewOrder, None).failure.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
        let hits = draws(3).iter().filter(|hit| **hit).count();
        assert!((16..=48).contains(&hits), "{hits} of 64");
    }

    #[test]
    fn account_rules_spare_other_clients_and_the_first_failure_wins() {
        let mut state = FaultState::new(FaultPlan {
            rules: vec![
                FaultRule {
                    account: Some("mine".into()),
                    ..rule(
                        Fault::BackendTimeout(Timing::AfterExecuting),
                        Trigger::Always,
                    )
                },
                rule(Fault::ServerBusy, Trigger::Next(1)),
                rule(Fault::LatencyMs(5), Trigger::Always),
            ],
            ..FaultPlan::default()
        });
        let mine = state.decide(Endpoint::NewOrder, Some("mine"));
        assert_eq!(
            mine.failure,
            Some(Failure::BackendTimeout(Timing::AfterExecuting))
        );
        assert_eq!(mine.latency_ms, 5);
        // The busy rule was not used up by the request the timeout answered.
        let other = state.decide(Endpoint::NewOrder, Some("other"));
        assert_eq!(other.failure, Some(Failure::ServerBusy));
    }
}
