//! `/api/v1/backtests`: the backtester run on the server, for the dashboard's backtest page, on
//! the candle files of the server's backtest directory (`[api] candles_dir`) or on files the
//! user uploaded.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/backtests/files` | 200 `[`[`CandleFileBody`]`]`: the files the caller can backtest |
//! | `PUT /api/v1/backtests/uploads/{name}` | 201 [`CandleFileBody`]: a candle CSV uploaded, checked whole before it is kept |
//! | `DELETE /api/v1/backtests/uploads/{name}` | 204: the upload removed |
//! | `POST /api/v1/backtests` | 200 [`BacktestBody`] from a [`BacktestRequest`]: one run, its chart |
//! | `POST /api/v1/backtests/sweeps` | 202 [`SweepBody`] from a [`SweepRequest`]: a grid of runs started |
//! | `GET /api/v1/backtests/sweeps/{id}` | 200 [`SweepBody`]: its progress, then its rows |
//!
//! A run is the very one `spotbot backtest --json` makes (the same `backtest::run_backtest`, the
//! same defaults: a 0.1 % fee, 10,000 quote, all-in BUYs unless `quote_per_trade`, the exchange's
//! rules when asked), so its `summary` holds exactly the figures that command prints; a sweep is
//! `spotbot sweep`'s. Files are named, never pathed: a name is one plain component of its
//! directory, a regular file of at most [`MAX_FILE_BYTES`]. Runs and sweeps take the machine's
//! cores; [`MAX_RUNNING`] go at a time, the others wait (the API's other requests go on
//! meanwhile).

pub(crate) mod run;
pub(crate) mod sweeps;
pub(crate) mod uploads;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use accounts::Catalogs;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use backtest::{BacktestConfig, InvalidConfig, Sizing};
use market::SymbolRules;
use serde::{Deserialize, Serialize};
use store::{Mode, UserId};
use strategy::{EmaRsiCrossParams, InvalidParams};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;

pub use run::{BacktestBody, BacktestChart, BacktestRequest};
pub use sweeps::{SweepBody, SweepRequest, SweepRowBody};
pub use uploads::MAX_UPLOAD_BYTES;

/// The largest candle file a run reads: 256 MiB, about 4 million candles.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// How many runs and sweeps go at once.
const MAX_RUNNING: usize = 2;

/// The longest period a backtest takes.
const MAX_PERIOD: usize = 10_000;

/// The backtests' shared state: where the files are, the runs going on and the sweeps kept.
#[derive(Debug, Clone)]
pub(crate) struct Backtests {
    candles_dir: Option<PathBuf>,
    uploads_dir: Option<PathBuf>,
    running: Arc<Semaphore>,
    sweeps: Arc<sweeps::SweepJobs>,
}

impl Backtests {
    pub(crate) fn new(candles_dir: Option<PathBuf>, uploads_dir: Option<PathBuf>) -> Backtests {
        Backtests {
            candles_dir,
            uploads_dir,
            running: Arc::new(Semaphore::new(MAX_RUNNING)),
            sweeps: Arc::default(),
        }
    }
}

/// Where a candle file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileSource {
    /// The server's backtest directory, shared by every user.
    #[default]
    Server,
    /// The caller's own uploads, seen by nobody else.
    Upload,
}

/// A candle file the caller can backtest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CandleFileBody {
    /// Its name.
    #[schema(example = "candles-100k.csv")]
    pub name: String,
    /// Where it is: `server` (shared) or `upload` (the caller's).
    pub source: FileSource,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The exchange rules a run sizes its orders with: those a venue lists for a symbol now.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesRequest {
    /// `paper`, `testnet` or `live`: one this server trades on.
    #[schema(example = "paper")]
    pub venue: String,
    /// A symbol the venue lists.
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
}

/// The simulated account of a run or sweep: the fields both requests share, checked once.
pub(crate) struct AccountFields<'a> {
    fee: Option<f64>,
    cash: Option<f64>,
    quote_per_trade: Option<f64>,
    rules: Option<&'a RulesRequest>,
}

impl AccountFields<'_> {
    /// The simulated account, defaults filled in and checked (422 naming the field), with the
    /// venue's rules for the symbol when asked.
    async fn config(&self, catalogs: &Catalogs) -> Result<BacktestConfig, ApiError> {
        let mut config = BacktestConfig {
            fee_rate: self.fee.unwrap_or(0.001),
            starting_cash: self.cash.unwrap_or(10_000.0),
            sizing: self
                .quote_per_trade
                .map_or(Sizing::AllIn, Sizing::QuotePerTrade),
            rules: None,
            fill: backtest::Fill::Close,
        };
        config.validate().map_err(|error| {
            let field = match error {
                InvalidConfig::Fee(_) => "fee",
                InvalidConfig::Cash(_) => "cash",
                InvalidConfig::QuotePerTrade(_) | InvalidConfig::BookNeedsQuotePerTrade => {
                    "quote_per_trade"
                }
            };
            ApiError::invalid_value(field, error.to_string())
        })?;
        if let Some(rules) = self.rules {
            config.rules = Some(venue_rules(catalogs, rules).await?);
        }
        Ok(config)
    }
}

/// The rules `request` names, read from the venue's listing.
async fn venue_rules(catalogs: &Catalogs, request: &RulesRequest) -> Result<SymbolRules, ApiError> {
    let mode = Mode::from_str(&request.venue)
        .map_err(|error| ApiError::invalid_value("rules.venue", error.to_string()))?;
    let catalog = catalogs.get(mode).ok_or_else(|| {
        ApiError::invalid_value(
            "rules.venue",
            format!("this server does not trade on {mode}"),
        )
    })?;
    let unavailable = |error: accounts::CatalogError| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "exchange_unavailable",
            format!("the {mode} exchange's rules could not be read: {error}"),
        )
    };
    let rules = catalog
        .rules(&request.symbol)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            ApiError::invalid_value(
                "rules.symbol",
                format!("{mode} does not list {:?}", request.symbol),
            )
        })?;
    Ok(SymbolRules::clone(&rules))
}

/// The strategy's parameters, checked (422 naming the field).
fn checked_params(params: EmaRsiCrossParams) -> Result<EmaRsiCrossParams, ApiError> {
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

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    let uploads = Router::new()
        .route(
            "/api/v1/backtests/uploads/{name}",
            put(uploads::upload).delete(uploads::delete_upload),
        )
        // The one body larger than the API's usual limit: the innermost limit wins.
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    Router::new()
        .route("/api/v1/backtests/files", get(list_files))
        .route("/api/v1/backtests", post(run::run))
        .route("/api/v1/backtests/sweeps", post(sweeps::start_sweep))
        .route("/api/v1/backtests/sweeps/{id}", get(sweeps::sweep))
        .merge(uploads)
}

/// `GET /api/v1/backtests/files`: the candle files of the backtest directory and the caller's
/// uploads.
#[utoipa::path(
    get,
    path = "/api/v1/backtests/files",
    tag = "backtests",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The `.csv` files of the backtest directory, then the caller's uploads, each by name (empty when there is none)", body = [CandleFileBody]),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
    ),
)]
pub(crate) async fn list_files(
    State(state): State<ApiState>,
    caller: AuthUser,
) -> Result<Json<Vec<CandleFileBody>>, ApiError> {
    let server = state.backtests.candles_dir.clone();
    let uploads = state
        .backtests
        .uploads_dir
        .as_deref()
        .map(|dir| uploads::user_dir(dir, caller.user.id));
    let files = tokio::task::spawn_blocking(move || {
        let mut files = Vec::new();
        for (dir, source) in [(server, FileSource::Server), (uploads, FileSource::Upload)] {
            if let Some(dir) = dir {
                files.extend(candle_files(&dir, source)?);
            }
        }
        Ok::<_, std::io::Error>(files)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(files))
}

/// The `.csv` files of `dir`, by name (none when it does not exist yet).
fn candle_files(dir: &Path, source: FileSource) -> std::io::Result<Vec<CandleFileBody>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        // Followed, like a run follows it: a dangling link is no file.
        let Ok(metadata) = std::fs::metadata(entry.path()) else {
            continue;
        };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if metadata.is_file() && plain_csv_name(&name) {
            files.push(CandleFileBody {
                name,
                source,
                bytes: metadata.len(),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// A name that is one plain `.csv` component: no separator, not hidden, no NUL.
fn plain_csv_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
        && name.ends_with(".csv")
}

/// The path of the file `name` names among the caller's: one plain component of the directory
/// of `source` (so inside it), a regular file (a symlink to one is followed) no larger than
/// [`MAX_FILE_BYTES`].
fn candle_path(
    backtests: &Backtests,
    user: UserId,
    source: FileSource,
    name: &str,
) -> Result<PathBuf, ApiError> {
    let invalid = |message: &str| ApiError::invalid_value("file", message);
    if !plain_csv_name(name) {
        return Err(invalid(
            "must be the name of a .csv file that GET /api/v1/backtests/files lists",
        ));
    }
    let dir = match source {
        FileSource::Server => backtests.candles_dir.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "this server has no backtest directory: set [api] candles_dir in the configuration (or run with --candles-dir DIR), or upload a file",
            )
        })?,
        FileSource::Upload => uploads::user_dir(&uploads::directory(backtests)?, user),
    };
    let unknown = || invalid("no such file: GET /api/v1/backtests/files lists those there are");
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

/// Reads the candle file at `path`, named `name` in errors (its path on the server is not the
/// user's business), reporting `(bytes read, bytes)` as it goes.
fn read_candles(
    path: &Path,
    name: &str,
    on_progress: impl FnMut(u64, u64),
) -> Result<market::CandleSeries, ApiError> {
    candle_file::read_candle_file(path, on_progress).map_err(|error| {
        let message = error.to_string().replace(&path.display().to_string(), name);
        ApiError::invalid_value("file", message)
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
        let backtests = Backtests::new(Some(dir.path().to_owned()), None);
        let user = UserId(1);
        assert!(candle_path(&backtests, user, FileSource::Server, "a.csv").is_ok());
        for bad in [
            "",
            "../a.csv",
            "sub/a.csv",
            ".hidden.csv",
            "a.txt",
            "sub.csv",
            "none.csv",
            "a\\b.csv",
            "a\nb.csv",
        ] {
            let error = candle_path(&backtests, user, FileSource::Server, bad).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("file"), "{bad:?}");
        }
        let error = candle_path(&backtests, user, FileSource::Upload, "a.csv").unwrap_err();
        assert_eq!(error.status, StatusCode::NOT_FOUND, "no uploads directory");
    }
}
