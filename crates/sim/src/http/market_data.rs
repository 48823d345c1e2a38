//! The public (NONE security) endpoints: ping, time, exchangeInfo, ticker/price and klines.

use serde_json::{Value, json};

use market::Interval;

use crate::error::ApiError;
use crate::exchange::Exchange;
use crate::http::params::Params;
use crate::http::responses;
use crate::klines::{DEFAULT_LIMIT, KlineQuery, MAX_LIMIT};
use crate::wire::decimal8;

/// `GET /api/v3/ping`.
pub fn ping(params: &mut Params) -> Result<Value, ApiError> {
    params.finish()?;
    Ok(json!({}))
}

/// `GET /api/v3/time`.
pub fn time(exchange: &Exchange, params: &mut Params) -> Result<Value, ApiError> {
    params.finish()?;
    Ok(json!({"serverTime": exchange.now_ms()}))
}

/// `GET /api/v3/exchangeInfo`, for all symbols or those named by `symbol` / `symbols`.
pub fn exchange_info(exchange: &Exchange, params: &mut Params) -> Result<Value, ApiError> {
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
        "rateLimits": responses::rate_limits(),
        "exchangeFilters": [],
        "symbols": symbols,
    }))
}

/// `GET /api/v3/ticker/price`: one object for `symbol`, an array otherwise.
pub fn ticker_price(exchange: &mut Exchange, params: &mut Params) -> Result<Value, ApiError> {
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
pub fn klines(exchange: &mut Exchange, params: &mut Params) -> Result<Value, ApiError> {
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
