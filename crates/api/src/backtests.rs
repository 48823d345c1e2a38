//! `/api/v1/backtests`: the backtester run on the server, on the candle files of its backtest
//! directory (`[api] candles_dir`), for the dashboard's backtest page.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/backtests/files` | 200 `[`[`CandleFileBody`]`]`: the CSV files the server can backtest, by name |
//! | `POST /api/v1/backtests` | 200 [`BacktestBody`] from a [`BacktestRequest`] |
//!
//! A run is the very one `spotbot backtest --json` makes (the same `backtest::run_backtest`, the
//! same defaults: a 0.1 % fee, 10,000 quote, all-in BUYs unless `quote_per_trade`), so its
//! `summary` holds exactly the figures that command prints. Files are named, never pathed: a
//! name is one plain component of the directory (symlinks the operator put there are
//! followed), a regular file of at most [`MAX_FILE_BYTES`]. Runs take a core each; [`MAX_RUNNING`] at a time, the others wait
//! (the API's other requests go on meanwhile).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use backtest::{BacktestConfig, EquityCurve, InvalidConfig, RoundTrip, Sizing, run_backtest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strategy::{EmaRsiCross, EmaRsiCrossParams, InvalidParams};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;

/// The largest candle file a run reads: 256 MiB, about 4 million candles.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// How many runs go at once.
const MAX_RUNNING: usize = 2;

/// The most equity points an answer carries: the curve is thinned evenly to this many (its last
/// point always kept), enough for any screen.
const MAX_EQUITY_POINTS: usize = 2_000;

/// The backtests' shared state: where the files are and how many runs may go at once.
#[derive(Debug, Clone)]
pub(crate) struct Backtests {
    candles_dir: Option<PathBuf>,
    running: Arc<Semaphore>,
}

impl Backtests {
    pub(crate) fn new(candles_dir: Option<PathBuf>) -> Backtests {
        Backtests {
            candles_dir,
            running: Arc::new(Semaphore::new(MAX_RUNNING)),
        }
    }
}

/// A candle file the server can backtest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CandleFileBody {
    /// Its name in the backtest directory.
    #[schema(example = "candles-100k.csv")]
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The body of `POST /api/v1/backtests`: the file, the strategy's parameters and the account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// A name `GET /api/v1/backtests/files` lists.
    #[schema(example = "candles-100k.csv", min_length = 1, max_length = 255)]
    pub file: String,
    /// Fast EMA period, 1 to 10,000 (default 9).
    #[serde(default, deserialize_with = "period")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub fast: Option<usize>,
    /// Slow EMA period, above `fast`, at most 10,000 (default 21).
    #[serde(default, deserialize_with = "period")]
    #[schema(value_type = Option<u32>, minimum = 2, maximum = 10000)]
    pub slow: Option<usize>,
    /// RSI period, 1 to 10,000 (default 14).
    #[serde(default, deserialize_with = "period")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub rsi_period: Option<usize>,
    /// RSI level above which the market counts as overbought, strictly between 0 and 100
    /// (default 70).
    pub overbought: Option<f64>,
    /// Fee per fill as a fraction of notional (default 0.001).
    pub fee: Option<f64>,
    /// Quote the account starts with (default 10,000).
    pub cash: Option<f64>,
    /// Quote spent per BUY, fee included; all the cash when left out.
    pub quote_per_trade: Option<f64>,
}

/// The longest period a backtest takes.
const MAX_PERIOD: usize = 10_000;

/// A period: a non-negative whole number written as JSON Schema counts integers (`12` or
/// `12.0`), or null; its range is checked with the other parameters.
fn period<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let Some(number) = Option::<f64>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if number.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&number) {
        // Whole and within u32: the conversion is exact.
        Ok(Some(number as usize))
    } else {
        Err(serde::de::Error::custom(format!(
            "a period must be a whole number, not {number}"
        )))
    }
}

/// A backtest's result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BacktestBody {
    /// The figures, exactly as `spotbot backtest --json` prints them (its top-level fields, plus
    /// `strategy` and `data`).
    #[schema(value_type = Object)]
    pub summary: Value,
    /// Every round trip, in order.
    #[schema(value_type = Vec<Object>)]
    pub round_trips: Vec<RoundTrip>,
    /// `[open_time_ms, equity]` at closes, thinned to at most 2,000 points.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub equity: Vec<(i64, f64)>,
}

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/backtests/files", get(list_files))
        .route("/api/v1/backtests", post(run))
}

/// The backtest directory, or a 404 saying how to set one.
fn directory(state: &ApiState) -> Result<&Path, ApiError> {
    state.backtests.candles_dir.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this server has no backtest directory: set [api] candles_dir in the configuration (or run with --candles-dir DIR)",
        )
    })
}

/// `GET /api/v1/backtests/files`: the candle files of the backtest directory.
#[utoipa::path(
    get,
    path = "/api/v1/backtests/files",
    tag = "backtests",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The `.csv` files of the backtest directory, by name (empty when the server has none)", body = [CandleFileBody]),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
    ),
)]
pub(crate) async fn list_files(
    State(state): State<ApiState>,
    _caller: AuthUser,
) -> Result<Json<Vec<CandleFileBody>>, ApiError> {
    let Some(dir) = state.backtests.candles_dir.clone() else {
        return Ok(Json(Vec::new()));
    };
    let files = tokio::task::spawn_blocking(move || candle_files(&dir))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(files))
}

/// The `.csv` files of `dir`, by name.
fn candle_files(dir: &Path) -> std::io::Result<Vec<CandleFileBody>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // Followed, like a run follows it: a dangling link is no file.
        let Ok(metadata) = std::fs::metadata(entry.path()) else {
            continue;
        };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if metadata.is_file() && name.ends_with(".csv") && !name.starts_with('.') {
            files.push(CandleFileBody {
                name,
                bytes: metadata.len(),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// The path of the file `name` names in `dir`: one plain component of it (so inside it), a
/// regular file (a symlink to one is followed) no larger than [`MAX_FILE_BYTES`].
fn candle_path(dir: &Path, name: &str) -> Result<PathBuf, ApiError> {
    let invalid = |message: &str| ApiError::invalid_value("file", message);
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.ends_with(".csv");
    if !plain {
        return Err(invalid(
            "must be the name of a .csv file that GET /api/v1/backtests/files lists",
        ));
    }
    let unknown = || invalid("no such file in the backtest directory");
    // One plain component: the path cannot leave the directory. A symlink in it is the
    // operator's own choice (the shared data, say), so it is followed.
    let path = dir.join(name);
    let metadata = std::fs::metadata(&path).map_err(|_| unknown())?;
    if !metadata.is_file() {
        return Err(unknown());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(invalid(&format!(
            "the file holds {} bytes, more than the {MAX_FILE_BYTES} a backtest here reads",
            metadata.len()
        )));
    }
    Ok(path)
}

impl BacktestRequest {
    /// The strategy's parameters, defaults filled in and checked (422 naming the field).
    fn params(&self) -> Result<EmaRsiCrossParams, ApiError> {
        let params = EmaRsiCrossParams {
            fast: self.fast.unwrap_or(9),
            slow: self.slow.unwrap_or(21),
            rsi_period: self.rsi_period.unwrap_or(14),
            overbought: self.overbought.unwrap_or(70.0),
        };
        for (field, period) in [
            ("fast", params.fast),
            ("slow", params.slow),
            ("rsi_period", params.rsi_period),
        ] {
            if period > MAX_PERIOD {
                return Err(ApiError::invalid_value(
                    field,
                    format!("{field} must be at most {MAX_PERIOD}, got {period}"),
                ));
            }
        }
        params.validate().map_err(|error| {
            let field = match error {
                InvalidParams::ZeroPeriod { name: "fast" } => "fast",
                InvalidParams::ZeroPeriod { name: "slow" } => "slow",
                InvalidParams::ZeroPeriod { .. } => "rsi_period",
                InvalidParams::FastNotBelowSlow { .. } => "slow",
                InvalidParams::OverboughtOutOfRange(_) => "overbought",
            };
            ApiError::invalid_value(field, error.to_string())
        })?;
        Ok(params)
    }

    /// The simulated account, defaults filled in and checked (422 naming the field).
    fn config(&self) -> Result<BacktestConfig, ApiError> {
        let config = BacktestConfig {
            fee_rate: self.fee.unwrap_or(0.001),
            starting_cash: self.cash.unwrap_or(10_000.0),
            sizing: self
                .quote_per_trade
                .map_or(Sizing::AllIn, Sizing::QuotePerTrade),
            rules: None,
        };
        config.validate().map_err(|error| {
            let field = match error {
                InvalidConfig::Fee(_) => "fee",
                InvalidConfig::Cash(_) => "cash",
                InvalidConfig::QuotePerTrade(_) => "quote_per_trade",
            };
            ApiError::invalid_value(field, error.to_string())
        })?;
        Ok(config)
    }
}

/// `points` thinned evenly to at most [`MAX_EQUITY_POINTS`], the last one kept.
fn thinned(points: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    let step = points.len().div_ceil(MAX_EQUITY_POINTS).max(1);
    let last = points.last().copied();
    let mut kept: Vec<(i64, f64)> = points.into_iter().step_by(step).collect();
    if let Some(last) = last
        && kept.last() != Some(&last)
    {
        kept.push(last);
    }
    kept
}

/// `POST /api/v1/backtests`: one backtest, run now.
#[utoipa::path(
    post,
    path = "/api/v1/backtests",
    tag = "backtests",
    security(("bearer" = []), ("session_cookie" = [])),
    request_body = BacktestRequest,
    responses(
        (status = 200, description = "The run's figures (those of `spotbot backtest --json`), round trips and equity curve", body = BacktestBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`csrf`: the cookie came without the session's CSRF token", body = ErrorBody),
        (status = 404, description = "`not_found`: this server has no backtest directory", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `invalid_type` or `invalid_value` naming the field: a file not listed, too large or not a candle file (with its line), a bad parameter", body = ErrorBody),
    ),
)]
pub(crate) async fn run(
    State(state): State<ApiState>,
    _caller: AuthUser,
    Json(request): Json<BacktestRequest>,
) -> Result<Json<BacktestBody>, ApiError> {
    let dir = directory(&state)?;
    let params = request.params()?;
    let config = request.config()?;
    let path = candle_path(dir, &request.file)?;
    let _turn = state
        .backtests
        .running
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let file = request.file.clone();
    let body = tokio::task::spawn_blocking(move || backtest_file(&path, &file, params, &config))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(body))
}

/// Reads `path` and backtests it: what `spotbot backtest --json --equity-out` computes.
fn backtest_file(
    path: &Path,
    name: &str,
    params: EmaRsiCrossParams,
    config: &BacktestConfig,
) -> Result<BacktestBody, ApiError> {
    // The reader's message names the file by its path on the server, which is not the user's
    // business: it is named as the user named it.
    let candles = candle_file::read_candle_file(path, |_, _| {}).map_err(|error| {
        let message = error.to_string().replace(&path.display().to_string(), name);
        ApiError::invalid_value("file", message)
    })?;
    let mut strategy = EmaRsiCross::new(params).map_err(ApiError::internal)?;
    let mut curve = EquityCurve {
        points: Vec::with_capacity(candles.len()),
    };
    let run = run_backtest(&mut strategy, &candles, config, &mut curve);
    let mut summary = serde_json::to_value(&run.summary).map_err(ApiError::internal)?;
    summary["strategy"] = serde_json::json!({
        "name": "ema_rsi_cross",
        "fast": params.fast,
        "slow": params.slow,
        "rsi_period": params.rsi_period,
        "overbought": params.overbought,
    });
    summary["data"] = serde_json::json!(name);
    Ok(BacktestBody {
        summary,
        round_trips: run.round_trips,
        equity: thinned(curve.points),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_one_plain_csv_name_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub.csv")).unwrap();
        assert!(candle_path(dir.path(), "a.csv").is_ok());
        for bad in [
            "",
            "../a.csv",
            "sub/a.csv",
            ".hidden.csv",
            "a.txt",
            "sub.csv",
            "none.csv",
            "a\\b.csv",
        ] {
            let error = candle_path(dir.path(), bad).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("file"), "{bad:?}");
        }
    }

    #[test]
    fn the_equity_curve_is_thinned_evenly_and_keeps_its_end() {
        let points: Vec<(i64, f64)> = (0..10_001).map(|i| (i, i as f64)).collect();
        let kept = thinned(points);
        assert!(kept.len() <= MAX_EQUITY_POINTS + 1, "{}", kept.len());
        assert_eq!(kept.first(), Some(&(0, 0.0)));
        assert_eq!(kept.last(), Some(&(10_000, 10_000.0)));
        assert_eq!(thinned(vec![(1, 1.0)]), vec![(1, 1.0)]);
        assert!(thinned(Vec::new()).is_empty());
    }
}
