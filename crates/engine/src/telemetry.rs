//! The engine's Prometheus series, recorded through the `metrics` facade: nothing is kept until
//! a process installs a recorder (`spotbot run`, `worker` and `api` with `--metrics ADDR`).
//! Labels are bounded: outcomes and statuses are fixed words, never a bot or a user, so a fleet of
//! ten thousand bots makes the same handful of series (per-bot figures are the sampler's in the
//! command line crate, below a configured number of bots).
//!
//! | series | kind | what |
//! |---|---|---|
//! | `spotbot_cycles_total{outcome}` | counter | cycles by outcome: `hold`, `skip`, `trade`, `blocked`, `failed`, `busy`, `no_new_candle` |
//! | `spotbot_cycle_duration_seconds` | histogram | a cycle from start to end |
//! | `spotbot_decision_lag_seconds` | histogram | from a candle's close to the bot deciding on it |
//! | `spotbot_orders_total{status}` | counter | orders sent, by fate: `filled`, `rejected`, `not_executed`, `in_doubt` |
//! | `spotbot_order_round_trip_seconds` | histogram | sending a MARKET order to its answer |
//! | `spotbot_leases_held` | gauge | bots this process holds the lease of |
//! | `spotbot_lease_takeovers_total` | counter | bots this process took from a worker whose lease expired (it died or stalled) |

use std::time::Duration;

use crate::cycle::{CycleOutcome, CycleTimes};

/// Counts a finished cycle and times it.
pub(crate) fn cycle_finished(outcome: &CycleOutcome, times: &CycleTimes) {
    let outcome = match outcome {
        CycleOutcome::Busy => "busy",
        CycleOutcome::NoNewCandle => "no_new_candle",
        CycleOutcome::Hold { .. } => "hold",
        CycleOutcome::Skipped { .. } => "skip",
        CycleOutcome::Traded(_) => "trade",
        CycleOutcome::Blocked { .. } => "blocked",
        CycleOutcome::Failed { .. } => "failed",
    };
    metrics::counter!("spotbot_cycles_total", "outcome" => outcome).increment(1);
    metrics::histogram!("spotbot_cycle_duration_seconds").record(times.total.as_secs_f64());
}

/// Records how long after its candle closed a decision began (`lag_ms`, never negative).
pub(crate) fn decision_lag(lag_ms: i64) {
    let seconds = lag_ms.max(0) as f64 / 1_000.0;
    metrics::histogram!("spotbot_decision_lag_seconds").record(seconds);
}

/// What became of an order sent, and how long its answer took.
pub(crate) fn order_answered(status: &'static str, round_trip: Duration) {
    metrics::counter!("spotbot_orders_total", "status" => status).increment(1);
    metrics::histogram!("spotbot_order_round_trip_seconds").record(round_trip.as_secs_f64());
}

/// The number of bots whose lease this process holds.
pub(crate) fn leases_held(count: usize) {
    metrics::gauge!("spotbot_leases_held").set(count as f64);
}

/// Counts a bot taken from a worker whose lease expired.
pub(crate) fn lease_taken_over() {
    metrics::counter!("spotbot_lease_takeovers_total").increment(1);
}
