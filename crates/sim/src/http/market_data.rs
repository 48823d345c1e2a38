//! The public (NONE security) endpoints: ping, time, exchangeInfo, ticker/price, avgPrice, depth
//! and klines.

use serde_json::{Value, json};

use market::Interval;

use crate::book::Level;
use crate::error::ApiError;
use crate::exchange::{AVG_PRICE_MINUTES, Exchange};
use crate::http::Request;
use crate::http::params::Params;
use crate::http::responses;
use crate::http::weights::DEFAULT_DEPTH_LIMIT;
use crate::klines::{DEFAULT_LIMIT, KlineQuery, MAX_LIMIT};
use crate::limits::RateLimit;
use crate::wire::decimal8;

/// The deepest book `GET /api/v3/depth` returns.
const MAX_DEPTH_LIMIT: u64 = 5_000;

/// `GET /api/v3/ping`.
pub fn ping(_: &Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    request.params.finish()?;
    Ok(json!({}))
}

/// `GET /api/v3/time`.
pub fn time(exchange: &Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    request.params.finish()?;
    Ok(json!({"serverTime": exchange.now_ms()}))
}

/// `GET /api/v3/exchangeInfo`, for all symbols or those named by `symbol` / `symbols`.
pub fn exchange_info(exchange: &Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let params = &mut request.params;
    let wanted = requested_symbols(exchange, params)?;
    params.finish()?;
    let symbols: Vec<Value> = match wanted {
        Some(names) => names
            .iter()
            .filter_map(|name| exchange.listing(name))
            .map(|listing| listing.exchange_info_entry.clone())
            .collect(),
        None => exchange
            .listings()
            .map(|listing| listing.exchange_info_entry.clone())
            .collect(),
    };
    Ok(json!({
        "timezone": "UTC",
        "serverTime": exchange.now_ms(),
        "rateLimits": exchange.rate_limits().iter().map(RateLimit::to_json).collect::<Vec<_>>(),
        "exchangeFilters": [],
        "symbols": symbols,
    }))
}

/// `GET /api/v3/ticker/price`: one object for `symbol`, an array otherwise.
pub fn ticker_price(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let params = &mut request.params;
    let single = params.text("symbol");
    let listed = match &single {
        Some(symbol) => Some(vec![symbol.clone()]),
        None => requested_symbols(exchange, params)?,
    };
    params.finish()?;
    let names: Vec<String> = listed.unwrap_or_else(|| {
        exchange
            .listings()
            .map(|listing| listing.spec.symbol.clone())
            .collect()
    });
    let mut tickers = Vec::with_capacity(names.len());
    for name in names {
        let price = exchange
            .last_price(&name)
            .ok_or_else(ApiError::invalid_symbol)?;
        tickers.push(json!({"symbol": name, "price": decimal8(price)}));
    }
    match (single, tickers.pop()) {
        (Some(_), Some(ticker)) => Ok(ticker),
        (_, last) => {
            tickers.extend(last);
            Ok(Value::Array(tickers))
        }
    }
}

/// `GET /api/v3/klines`.
pub fn klines(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let params = &mut request.params;
    let symbol = params.required_text("symbol")?;
    let interval = params
        .required_text("interval")?
        .parse::<Interval>()
        .map_err(|_| ApiError::invalid_interval())?;
    let start_ms = params.long("startTime")?;
    let end_ms = params.long("endTime")?;
    let limit = match params.long("limit")? {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(ApiError::invalid_parameter_value("limit")),
        Some(limit) if limit > MAX_LIMIT as i64 => {
            return Err(ApiError::parameter_too_large(
                "limit",
                &MAX_LIMIT.to_string(),
            ));
        }
        Some(limit) => limit as usize,
    };
    params.finish()?;
    if let (Some(start), Some(end)) = (start_ms, end_ms)
        && start > end
    {
        return Err(ApiError::start_time_after_end_time());
    }
    let query = KlineQuery {
        interval,
        start_ms,
        end_ms,
        limit,
    };
    let klines = exchange.klines(&symbol, query)?;
    Ok(Value::Array(klines.iter().map(responses::kline).collect()))
}

/// `GET /api/v3/avgPrice`.
pub fn avg_price(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let symbol = request.params.required_text("symbol")?;
    request.params.finish()?;
    let price = exchange.avg_price(&symbol)?;
    Ok(json!({
        "mins": AVG_PRICE_MINUTES,
        "price": decimal8(price),
        "closeTime": exchange.now_ms(),
    }))
}

/// `GET /api/v3/depth`: the synthetic book MARKET orders walk. A `limit` above the maximum gets
/// the maximum, as on Binance.
pub fn depth(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let params = &mut request.params;
    let symbol = params.required_text("symbol")?;
    let limit = match params.long("limit")? {
        None => DEFAULT_DEPTH_LIMIT,
        Some(0) => return Err(ApiError::invalid_parameter_value("limit")),
        Some(limit) => u64::try_from(limit)
            .unwrap_or(MAX_DEPTH_LIMIT)
            .min(MAX_DEPTH_LIMIT),
    };
    params.finish()?;
    let (bids, asks) = exchange.depth(&symbol, usize::try_from(limit).unwrap_or(usize::MAX))?;
    let side = |levels: Vec<Level>| -> Vec<Value> {
        levels
            .iter()
            .map(|level| json!([decimal8(level.price), decimal8(level.qty)]))
            .collect()
    };
    Ok(json!({
        // The book is regenerated from the price every millisecond, so the time numbers its
        // versions.
        "lastUpdateId": exchange.now_ms(),
        "bids": side(bids),
        "asks": side(asks),
    }))
}

/// The `symbol` or `symbols` (a JSON array of names) parameter; `None` when neither was sent.
/// Unknown names are -1121.
fn requested_symbols(
    exchange: &Exchange,
    params: &mut Params,
) -> Result<Option<Vec<String>>, ApiError> {
    let names = match (params.text("symbol"), params.text("symbols")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return Err(ApiError::invalid_parameter_value("symbols")),
        (Some(symbol), None) => vec![symbol],
        (None, Some(list)) => serde_json::from_str::<Vec<String>>(&list)
            .map_err(|_| ApiError::invalid_parameter_value("symbols"))?,
    };
    if names.iter().any(|name| exchange.listing(name).is_none()) {
        return Err(ApiError::invalid_symbol());
    }
    Ok(Some(names))
}
