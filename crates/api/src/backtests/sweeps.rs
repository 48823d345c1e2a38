//! Parameter sweeps run on the server in the background, so that a long one shows its progress:
//! `POST /api/v1/backtests/sweeps` starts one and answers 202 at once; `GET
//! /api/v1/backtests/sweeps/{id}` tells how far it is (the file's bytes read, then the
//! combinations run) and, once done, every combination's figures, those `spotbot sweep` prints.
//!
//! Sweeps live in memory: a restart forgets them (the page starts them again). A user has at
//! most [`MAX_UNFINISHED_PER_USER`] going at once and keeps the newest [`KEPT_PER_USER`]; a
//! finished one is forgotten after [`KEEP_FINISHED`]. Ids are random, and a sweep is its
//! owner's: any other caller gets the same 404 as for an id that never was.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use backtest::sweep::{BadRange, SweepGrid, ValueList, run_sweep};
use backtest::{BacktestConfig, Summary};
use serde::{Deserialize, Serialize};
use store::UserId;
use strategy::EmaRsiCrossParams;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use utoipa::ToSchema;

use super::{AccountFields, FileSource, RulesRequest, candle_path, checked_params, read_candles};
use crate::ApiState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;

/// The most combinations one sweep runs.
pub const MAX_COMBINATIONS: usize = 5_000;

/// Sweeps of one user queued or running at once.
const MAX_UNFINISHED_PER_USER: usize = 2;

/// Sweeps one user keeps, finished or not (the oldest finished one is forgotten first).
const KEPT_PER_USER: usize = 5;

/// How long a finished sweep stays readable.
const KEEP_FINISHED: Duration = Duration::from_secs(30 * 60);

/// The body of `POST /api/v1/backtests/sweeps`: the file, a list of values per parameter (as
/// `spotbot sweep` takes them: `5..20`, `5..20:5`, `9,12,21` or `9`) and the account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// A name `GET /api/v1/backtests/files` lists.
    #[schema(example = "candles-100k.csv", min_length = 1, max_length = 255)]
    pub file: String,
    /// Where the file is (default `server`).
    #[serde(default)]
    pub source: FileSource,
    /// Fast EMA periods (default `9`).
    #[schema(example = "5..20:5", max_length = 200)]
    pub fast: Option<String>,
    /// Slow EMA periods (default `21`); pairs with fast ≥ slow are left out.
    #[schema(example = "20..60:10", max_length = 200)]
    pub slow: Option<String>,
    /// RSI periods (default `14`).
    #[schema(example = "14", max_length = 200)]
    pub rsi_period: Option<String>,
    /// RSI overbought levels (default `70`).
    #[schema(example = "60..80:10", max_length = 200)]
    pub overbought: Option<String>,
    /// Fee per fill as a fraction of notional (default 0.001).
    pub fee: Option<f64>,
    /// Quote the account starts with (default 10,000).
    pub cash: Option<f64>,
    /// Quote spent per BUY, fee included; all the cash when left out.
    pub quote_per_trade: Option<f64>,
    /// Size every order with this venue's rules for this symbol.
    pub rules: Option<RulesRequest>,
}

/// Where a sweep is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SweepState {
    /// Waiting for a turn: other runs use the cores.
    Queued,
    /// Reading the candle file.
    Reading,
    /// Running the combinations.
    Running,
    /// Finished: `rows` holds every combination.
    Done,
    /// Stopped on an error: `error` says which.
    Failed,
}

/// One combination's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SweepRowBody {
    /// Fast EMA period.
    pub fast: usize,
    /// Slow EMA period.
    pub slow: usize,
    /// RSI period.
    pub rsi_period: usize,
    /// RSI overbought level.
    pub overbought: f64,
    /// The figures, as `spotbot backtest --json` prints them.
    #[schema(value_type = Object)]
    pub summary: Summary,
}

/// A sweep and how far it is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SweepBody {
    /// Its id, for `GET /api/v1/backtests/sweeps/{id}`.
    #[schema(example = "3f2a9c0d1e4b5a67")]
    pub id: String,
    /// The candle file.
    pub file: String,
    /// Where it is.
    pub state: SweepState,
    /// Bytes of the file read so far.
    pub bytes_read: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Combinations run so far.
    pub done: usize,
    /// Combinations in all.
    pub total: usize,
    /// Why it failed (null unless `failed`).
    #[schema(required = true)]
    pub error: Option<String>,
    /// Every combination's figures once `done`, in the grid's order (empty before).
    pub rows: Vec<SweepRowBody>,
}

/// A sweep's progress, shared by the thread that runs it and the requests that read it.
#[derive(Debug)]
struct SweepJob {
    owner: UserId,
    file: String,
    total: usize,
    bytes: AtomicU64,
    bytes_read: AtomicU64,
    done: AtomicUsize,
    outcome: Mutex<Outcome>,
}

/// What a sweep has come to.
#[derive(Debug)]
enum Outcome {
    Waiting,
    Reading,
    Running,
    Finished {
        at: Instant,
        result: Result<Vec<SweepRowBody>, String>,
    },
}

impl SweepJob {
    fn set(&self, outcome: Outcome) {
        *self
            .outcome
            .lock()
            .expect("a sweep's lock is never poisoned") = outcome;
    }

    fn finished_at(&self) -> Option<Instant> {
        match &*self
            .outcome
            .lock()
            .expect("a sweep's lock is never poisoned")
        {
            Outcome::Finished { at, .. } => Some(*at),
            _ => None,
        }
    }

    fn body(&self, id: &str) -> SweepBody {
        let outcome = self
            .outcome
            .lock()
            .expect("a sweep's lock is never poisoned");
        let (state, error, rows) = match &*outcome {
            Outcome::Waiting => (SweepState::Queued, None, Vec::new()),
            Outcome::Reading => (SweepState::Reading, None, Vec::new()),
            Outcome::Running => (SweepState::Running, None, Vec::new()),
            Outcome::Finished {
                result: Ok(rows), ..
            } => (SweepState::Done, None, rows.clone()),
            Outcome::Finished {
                result: Err(error), ..
            } => (SweepState::Failed, Some(error.clone()), Vec::new()),
        };
        SweepBody {
            id: id.to_owned(),
            file: self.file.clone(),
            state,
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            done: self.done.load(Ordering::Relaxed),
            total: self.total,
            error,
            rows,
        }
    }
}

/// The sweeps kept, by id.
#[derive(Debug, Default)]
pub(crate) struct SweepJobs {
    jobs: Mutex<HashMap<String, Arc<SweepJob>>>,
}

impl SweepJobs {
    /// Keeps `job` under a new id, after forgetting what has expired; refused when its owner
    /// already has too many unfinished.
    fn admit(&self, job: Arc<SweepJob>) -> Result<String, ApiError> {
        let mut jobs = self
            .jobs
            .lock()
            .expect("the sweeps' lock is never poisoned");
        jobs.retain(|_, kept| {
            kept.finished_at()
                .is_none_or(|at| at.elapsed() < KEEP_FINISHED)
        });
        let mut owned: Vec<(String, Option<Instant>)> = jobs
            .iter()
            .filter(|(_, kept)| kept.owner == job.owner)
            .map(|(id, kept)| (id.clone(), kept.finished_at()))
            .collect();
        if owned
            .iter()
            .filter(|(_, finished)| finished.is_none())
            .count()
            >= MAX_UNFINISHED_PER_USER
        {
            return Err(ApiError::conflict(
                "file",
                format!(
                    "you have {MAX_UNFINISHED_PER_USER} sweeps going already: wait for one to finish"
                ),
            ));
        }
        owned.sort_by_key(|(_, finished)| *finished);
        let excess = (owned.len() + 1).saturating_sub(KEPT_PER_USER);
        for (id, _) in owned
            .iter()
            .filter(|(_, finished)| finished.is_some())
            .take(excess)
        {
            jobs.remove(id);
        }
        let id = new_id()?;
        jobs.insert(id.clone(), job);
        Ok(id)
    }

    fn get(&self, id: &str, owner: UserId) -> Option<Arc<SweepJob>> {
        let jobs = self
            .jobs
            .lock()
            .expect("the sweeps' lock is never poisoned");
        jobs.get(id).filter(|job| job.owner == owner).cloned()
    }
}

/// 64 random bits in hex.
fn new_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
    Ok(hex::encode(bytes))
}

impl SweepRequest {
    /// The grid's combinations, each list parsed and checked (422 naming the field).
    fn combinations(&self) -> Result<Vec<EmaRsiCrossParams>, ApiError> {
        fn list<T>(field: &str, text: Option<&str>, default: &str) -> Result<Vec<T>, ApiError>
        where
            ValueList<T>: std::str::FromStr<Err = BadRange>,
        {
            text.unwrap_or(default)
                .parse::<ValueList<T>>()
                .map(|values| values.0)
                .map_err(|error| ApiError::invalid_value(field, error.to_string()))
        }
        let grid = SweepGrid {
            fast: list::<usize>("fast", self.fast.as_deref(), "9")?,
            slow: list::<usize>("slow", self.slow.as_deref(), "21")?,
            rsi_period: list::<usize>("rsi_period", self.rsi_period.as_deref(), "14")?,
            overbought: list::<f64>("overbought", self.overbought.as_deref(), "70")?,
        };
        let combinations = grid
            .combinations(MAX_COMBINATIONS)
            .map_err(|error| ApiError::invalid_value("fast", error.to_string()))?;
        if combinations.is_empty() {
            return Err(ApiError::invalid_value(
                "slow",
                "no combination has fast below slow: raise slow or lower fast",
            ));
        }
        combinations.into_iter().map(checked_params).collect()
    }

    fn account(&self) -> AccountFields<'_> {
        AccountFields {
            fee: self.fee,
            cash: self.cash,
            quote_per_trade: self.quote_per_trade,
            rules: self.rules.as_ref(),
        }
    }
}

/// The sweep's id from the path; text that is none names no sweep.
fn sweep_id(path: Result<Path<String>, PathRejection>) -> String {
    path.map(|Path(id)| id).unwrap_or_default()
}

fn no_such_sweep() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such sweep: it belongs to nobody you are, or finished over 30 minutes ago",
    )
}

/// `POST /api/v1/backtests/sweeps`: a sweep started in the background.
#[utoipa::path(
    post,
    path = "/api/v1/backtests/sweeps",
    tag = "backtests",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = SweepRequest,
    responses(
        (status = 202, description = "Started: read its progress from `GET /api/v1/backtests/sweeps/{id}`", body = SweepBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`csrf`: the cookie came without the session's CSRF token", body = ErrorBody),
        (status = 404, description = "`not_found`: the file's directory does not exist on this server", body = ErrorBody),
        (status = 409, description = "`conflict`: the caller has two sweeps going already", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field`, `invalid_type` or `invalid_value` naming the field: a file not listed, a list that does not parse, a grid over 5,000 combinations, a bad parameter", body = ErrorBody),
        (status = 503, description = "`exchange_unavailable`: the venue's rules could not be read", body = ErrorBody),
    ),
)]
pub(crate) async fn start_sweep(
    State(state): State<ApiState>,
    caller: AuthUser,
    Json(request): Json<SweepRequest>,
) -> Result<(StatusCode, Json<SweepBody>), ApiError> {
    let combinations = request.combinations()?;
    let config = request.account().config(&state.catalogs).await?;
    let path = candle_path(
        &state.backtests,
        caller.user.id,
        request.source,
        &request.file,
    )?;
    let job = Arc::new(SweepJob {
        owner: caller.user.id,
        file: request.file.clone(),
        total: combinations.len(),
        bytes: AtomicU64::new(0),
        bytes_read: AtomicU64::new(0),
        done: AtomicUsize::new(0),
        outcome: Mutex::new(Outcome::Waiting),
    });
    let id = state.backtests.sweeps.admit(job.clone())?;
    let running = state.backtests.running.clone();
    tokio::spawn(run_job(running, job.clone(), path, combinations, config));
    Ok((StatusCode::ACCEPTED, Json(job.body(&id))))
}

/// Waits for a turn, then reads the file and runs the grid on a blocking thread.
async fn run_job(
    running: Arc<Semaphore>,
    job: Arc<SweepJob>,
    path: PathBuf,
    combinations: Vec<EmaRsiCrossParams>,
    config: BacktestConfig,
) {
    let Ok(_turn) = running.acquire_owned().await else {
        return;
    };
    let worker = job.clone();
    let finished =
        tokio::task::spawn_blocking(move || sweep_file(&worker, &path, &combinations, &config))
            .await
            .unwrap_or_else(|error| Err(format!("the sweep stopped: {error}")));
    job.set(Outcome::Finished {
        at: Instant::now(),
        result: finished,
    });
}

/// Reads the file and runs every combination, keeping `job`'s progress as it goes.
fn sweep_file(
    job: &SweepJob,
    path: &std::path::Path,
    combinations: &[EmaRsiCrossParams],
    config: &BacktestConfig,
) -> Result<Vec<SweepRowBody>, String> {
    job.set(Outcome::Reading);
    let candles = read_candles(path, &job.file, |read, total| {
        job.bytes.store(total, Ordering::Relaxed);
        job.bytes_read.store(read, Ordering::Relaxed);
    })
    .map_err(|error| error.message)?;
    job.set(Outcome::Running);
    let rows = run_sweep(&candles, config, combinations, &|done| {
        job.done.fetch_max(done, Ordering::Relaxed);
    });
    Ok(rows
        .into_iter()
        .map(|row| SweepRowBody {
            fast: row.params.fast,
            slow: row.params.slow,
            rsi_period: row.params.rsi_period,
            overbought: row.params.overbought,
            summary: row.summary,
        })
        .collect())
}

/// `GET /api/v1/backtests/sweeps/{id}`: a sweep's progress, then its rows.
#[utoipa::path(
    get,
    path = "/api/v1/backtests/sweeps/{id}",
    tag = "backtests",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "The id `POST /api/v1/backtests/sweeps` gave")),
    responses(
        (status = 200, description = "The sweep: its state and progress, and its rows once done", body = SweepBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no such sweep (or it expired)", body = ErrorBody),
    ),
)]
pub(crate) async fn sweep(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<SweepBody>, ApiError> {
    let id = sweep_id(path);
    let job = state
        .backtests
        .sweeps
        .get(&id, caller.user.id)
        .ok_or_else(no_such_sweep)?;
    Ok(Json(job.body(&id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fast: &str, slow: &str) -> SweepRequest {
        serde_json::from_value(serde_json::json!({"file": "a.csv", "fast": fast, "slow": slow}))
            .unwrap()
    }

    #[test]
    fn a_grid_is_parsed_like_the_cli_and_bounded_before_it_is_built() {
        assert_eq!(request("5..20:5", "20,30").combinations().unwrap().len(), 7);
        let huge = request("1..100000", "1..100000")
            .combinations()
            .unwrap_err();
        assert!(
            huge.message.contains("more than the 5000"),
            "{}",
            huge.message
        );
        let bad = request("5..x", "30").combinations().unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("fast"));
        let none = request("30", "20").combinations().unwrap_err();
        assert_eq!(none.field.as_deref(), Some("slow"));
    }

    fn job(owner: i64) -> Arc<SweepJob> {
        Arc::new(SweepJob {
            owner: UserId(owner),
            file: "a.csv".into(),
            total: 1,
            bytes: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            outcome: Mutex::new(Outcome::Waiting),
        })
    }

    #[test]
    fn a_user_runs_two_sweeps_at_once_keeps_five_and_sees_only_their_own() {
        let jobs = SweepJobs::default();
        let first = jobs.admit(job(1)).unwrap();
        let second = jobs.admit(job(1)).unwrap();
        assert_eq!(jobs.admit(job(1)).unwrap_err().status, StatusCode::CONFLICT);
        jobs.admit(job(2))
            .expect("another user's sweeps are theirs");
        assert!(jobs.get(&first, UserId(2)).is_none(), "not the caller's");
        for id in [&first, &second] {
            jobs.get(id, UserId(1)).unwrap().set(Outcome::Finished {
                at: Instant::now(),
                result: Ok(Vec::new()),
            });
        }
        for _ in 0..3 {
            let id = jobs.admit(job(1)).unwrap();
            jobs.get(&id, UserId(1)).unwrap().set(Outcome::Finished {
                at: Instant::now(),
                result: Ok(Vec::new()),
            });
        }
        jobs.admit(job(1)).unwrap();
        let kept = jobs
            .jobs
            .lock()
            .unwrap()
            .values()
            .filter(|j| j.owner == UserId(1))
            .count();
        assert_eq!(kept, KEPT_PER_USER);
        assert!(
            jobs.get(&first, UserId(1)).is_none(),
            "the oldest finished is forgotten"
        );
    }
}
