//! `POST /api/v1/backtests`: one backtest, run now, with its figures, its round trips, its
//! equity curve and a window of its candles with the strategy's indicators, for the chart.

use std::ops::Range;
use std::path::Path;

use axum::extract::State;
use backtest::{BacktestConfig, EquityCurve, RoundTrip, SkippedOrder, run_backtest};
use market::CandleSeries;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strategy::{EmaRsiCross, EmaRsiCrossParams};
use utoipa::ToSchema;

use super::{AccountFields, FileSource, RulesRequest, candle_path, checked_params, read_candles};
use crate::ApiState;
use crate::auth::AuthUser;
use crate::chart::{ChartCandle, chart_candles};
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;

/// The most equity points an answer carries: the curve is thinned evenly to this many (its last
/// point always kept), enough for any screen.
const MAX_EQUITY_POINTS: usize = 2_000;

/// The candles a run's chart shows: a window of the file, where the request asks.
const CHART_CANDLES: usize = 3_000;

/// The body of `POST /api/v1/backtests`: the file, the strategy's parameters and the account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// A name `GET /api/v1/backtests/files` lists.
    #[schema(example = "candles-100k.csv", min_length = 1, max_length = 255)]
    pub file: String,
    /// Where the file is (default `server`).
    #[serde(default)]
    pub source: FileSource,
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
    /// Size every order with this venue's rules for this symbol (lot size, notional), skipping
    /// those they refuse, as the live engine would; none when left out.
    pub rules: Option<RulesRequest>,
    /// The chart's window: the candles around this time, ms since the epoch (default the last
    /// ones).
    pub chart_around_ms: Option<i64>,
}

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

/// A window of the run's candles with the strategy's indicators, and the signals in it that
/// sent no order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BacktestChart {
    /// Up to 3,000 consecutive candles of the file, oldest first, with the indicators as the
    /// strategy read them after each (warmed up on every candle before).
    pub candles: Vec<ChartCandle>,
    /// The signals within the window that sent no order (refused by the exchange rules, or no
    /// cash left), with the reason.
    #[schema(value_type = Vec<Object>)]
    pub skipped: Vec<SkippedOrder>,
    /// The open time of the file's first candle, ms since the epoch.
    pub first_ms: i64,
    /// The open time of the file's last candle, ms since the epoch.
    pub last_ms: i64,
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
    /// The chart's window.
    pub chart: BacktestChart,
}

impl BacktestRequest {
    /// The strategy's parameters, defaults filled in and checked (422 naming the field).
    fn params(&self) -> Result<EmaRsiCrossParams, ApiError> {
        checked_params(EmaRsiCrossParams {
            fast: self.fast.unwrap_or(9),
            slow: self.slow.unwrap_or(21),
            rsi_period: self.rsi_period.unwrap_or(14),
            overbought: self.overbought.unwrap_or(70.0),
        })
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
        (status = 200, description = "The run's figures (those of `spotbot backtest --json`), round trips, equity curve and chart", body = BacktestBody),
        (status = 400, description = "`malformed_json`: the body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`csrf`: the cookie came without the session's CSRF token", body = ErrorBody),
        (status = 404, description = "`not_found`: the file's directory does not exist on this server", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_field`, `missing_field`, `duplicate_field`, `invalid_type` or `invalid_value` naming the field: a file not listed, too large or not a candle file (with its line), a bad parameter, a symbol the venue does not list", body = ErrorBody),
        (status = 503, description = "`exchange_unavailable`: the venue's rules could not be read", body = ErrorBody),
    ),
)]
pub(crate) async fn run(
    State(state): State<ApiState>,
    caller: AuthUser,
    Json(request): Json<BacktestRequest>,
) -> Result<Json<BacktestBody>, ApiError> {
    let params = request.params()?;
    let config = request.account().config(&state.catalogs).await?;
    let path = candle_path(
        &state.backtests,
        caller.user.id,
        request.source,
        &request.file,
    )?;
    let _turn = state
        .backtests
        .running
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let body = tokio::task::spawn_blocking(move || backtest_file(&path, &request, params, &config))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(body))
}

/// Reads `path` and backtests it: what `spotbot backtest --json --equity-out` computes, with the
/// chart's window.
fn backtest_file(
    path: &Path,
    request: &BacktestRequest,
    params: EmaRsiCrossParams,
    config: &BacktestConfig,
) -> Result<BacktestBody, ApiError> {
    let candles = read_candles(path, &request.file, |_, _| {})?;
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
    summary["data"] = serde_json::json!(request.file);
    let window = chart_window(&candles, request.chart_around_ms);
    let shown = window.start..window.end;
    let chart = BacktestChart {
        candles: chart_candles(
            EmaRsiCross::new(params).map_err(ApiError::internal)?,
            candles.iter(),
            window,
        ),
        skipped: within(run.skipped, &candles, shown),
        first_ms: candles.open_times_ms().first().copied().unwrap_or(0),
        last_ms: candles.open_times_ms().last().copied().unwrap_or(0),
    };
    Ok(BacktestBody {
        summary,
        round_trips: run.round_trips,
        equity: thinned(curve.points),
        chart,
    })
}

/// The indexes of the [`CHART_CANDLES`] candles centred on `around_ms` (the last ones without it).
fn chart_window(candles: &CandleSeries, around_ms: Option<i64>) -> Range<usize> {
    let len = candles.len();
    let centre = around_ms.map_or(len, |ms| {
        candles.open_times_ms().partition_point(|&open| open <= ms)
    });
    let start = centre
        .saturating_sub(CHART_CANDLES / 2)
        .min(len.saturating_sub(CHART_CANDLES));
    start..(start + CHART_CANDLES).min(len)
}

/// The skipped signals whose candle is in `window`.
fn within(
    skipped: Vec<SkippedOrder>,
    candles: &CandleSeries,
    window: Range<usize>,
) -> Vec<SkippedOrder> {
    let times = candles.open_times_ms();
    let (Some(&first), Some(&last)) = (
        times.get(window.start),
        times.get(window.end.saturating_sub(1)),
    ) else {
        return Vec::new();
    };
    skipped
        .into_iter()
        .filter(|skip| (first..=last).contains(&skip.time_ms))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use market::Candle;

    fn series(count: i64) -> CandleSeries {
        let mut series = CandleSeries::with_capacity(count as usize);
        for i in 0..count {
            let price = 100.0 + (i % 7) as f64;
            series
                .push(Candle {
                    open_time_ms: i * 60_000,
                    open: price,
                    high: price + 1.0,
                    low: price - 1.0,
                    close: price,
                    volume: 1.0,
                })
                .unwrap();
        }
        series
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

    #[test]
    fn the_chart_window_is_centred_on_the_time_asked_and_stays_inside_the_file() {
        let candles = series(10_000);
        assert_eq!(chart_window(&candles, None), 7_000..10_000);
        assert_eq!(chart_window(&candles, Some(5_000 * 60_000)), 3_501..6_501);
        assert_eq!(chart_window(&candles, Some(-1)), 0..3_000);
        assert_eq!(chart_window(&candles, Some(i64::MAX)), 7_000..10_000);
        assert_eq!(chart_window(&series(10), Some(0)), 0..10);
        assert_eq!(chart_window(&series(0), None), 0..0);
    }
}
