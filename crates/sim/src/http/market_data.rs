//! The public (NONE security) endpoints: ping, time, exchangeInfo, ticker/price, ticker/24hr,
//! ticker/bookTicker, avgPrice, depth and klines.
//!
//! The endpoints about several symbols take `symbol` (one: an object comes back) or `symbols` (a
//! JSON array without spaces, `["BTCUSDT","ETHUSDT"]`: an array comes back), never both (-1128),
//! and answer every listed symbol when neither is sent. A malformed `symbols` is -1100 quoting
//! the pattern Binance quotes, a name listed twice -1151, an empty list -1102, and an unlisted
//! name -1121. The tickers and `depth` also take `symbolStatus` (`TRADING`, `HALT` or `BREAK`;
//! anything else is -1122): the one symbol asked for must have that status (-1220 otherwise),
//! and lists leave out the symbols that do not.
//!
//! Where the numbers come from: `ticker/price` is the last price of the symbol's price walk (or
//! replayed candles). `ticker/24hr` is the rolling 24 hours up to now of that same market, the
//! trades klines report: open, high, low and volumes over the window, the last price, the price
//! before the window (`prevClosePrice`), the trade count with ids numbered from the symbol's
//! first trade as the kline stream numbers them, and the best levels of the synthetic book.
//! `ticker/bookTicker` and `depth` are that book: levels at fixed distances around the last
//! price, the ones MARKET orders fill against.

use serde_json::{Value, json};

use market::{Interval, SymbolStatus};

use crate::error::ApiError;
use crate::exchange::{AVG_PRICE_MINUTES, Exchange};
use crate::http::Request;
use crate::http::params::Params;
use crate::http::responses;
use crate::http::weights::DEFAULT_DEPTH_LIMIT;
use crate::klines::{DEFAULT_LIMIT, KlineQuery, MAX_LIMIT};
use crate::limits::RateLimit;
use crate::wire::decimal8;
use sim_book::Level;

/// The deepest book `GET /api/v3/depth` returns.
const MAX_DEPTH_LIMIT: u64 = 5_000;
/// The legal text of `symbols`, as Binance quotes it in -1100.
const SYMBOLS_PATTERN: &str = r#"^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$"#;
/// The longest symbol name `symbols` may hold.
const MAX_SYMBOL_LENGTH: usize = 20;

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
    let wanted = SymbolSelection::read(exchange, params)?;
    params.finish()?;
    let symbols: Vec<Value> = wanted
        .names(exchange)
        .iter()
        .filter_map(|name| exchange.listing(name))
        .map(|listing| listing.exchange_info_entry.clone())
        .collect();
    Ok(json!({
        "timezone": "UTC",
        "serverTime": exchange.now_ms(),
        "rateLimits": exchange.rate_limits().iter().map(RateLimit::to_json).collect::<Vec<_>>(),
        "exchangeFilters": [],
        "symbols": symbols,
    }))
}

/// `GET /api/v3/ticker/price`: the last price of one symbol, some or all.
pub fn ticker_price(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let params = &mut request.params;
    let wanted = SymbolSelection::read(exchange, params)?;
    let status = read_symbol_status(params)?;
    params.finish()?;
    per_symbol(exchange, &wanted, status.as_ref(), |exchange, symbol| {
        let price = exchange
            .last_price(symbol)
            .ok_or_else(ApiError::invalid_symbol)?;
        Ok(json!({"symbol": symbol, "price": decimal8(price)}))
    })
}

/// `GET /api/v3/ticker/24hr`: the rolling 24 hours of one symbol, some or all, `FULL` (the
/// default) or `MINI` (`type`; anything else is -1139).
pub fn ticker_24hr(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let params = &mut request.params;
    let wanted = SymbolSelection::read(exchange, params)?;
    let full = match params.text("type").as_deref() {
        None | Some("FULL") => true,
        Some("MINI") => false,
        Some(_) => return Err(ApiError::invalid_ticker_type()),
    };
    let status = read_symbol_status(params)?;
    params.finish()?;
    per_symbol(exchange, &wanted, status.as_ref(), |exchange, symbol| {
        let stats = exchange.day_stats(symbol)?;
        Ok(responses::ticker_24hr(symbol, &stats, full))
    })
}

/// `GET /api/v3/ticker/bookTicker`: the best bid and ask of one symbol's book, some or all.
pub fn book_ticker(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let params = &mut request.params;
    let wanted = SymbolSelection::read(exchange, params)?;
    let status = read_symbol_status(params)?;
    params.finish()?;
    per_symbol(exchange, &wanted, status.as_ref(), |exchange, symbol| {
        let (bids, asks) = exchange.depth(symbol, 1)?;
        Ok(responses::book_ticker(
            symbol,
            bids.first().copied(),
            asks.first().copied(),
        ))
    })
}

/// `GET /api/v3/klines`.
pub fn klines(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let params = &mut request.params;
    let symbol = params.required_text("symbol")?;
    let interval = params
        .required_text("interval")?
        .parse::<Interval>()
        .map_err(|_| ApiError::invalid_interval())?;
    let start_ms = params.time_ms("startTime")?;
    let end_ms = params.time_ms("endTime")?;
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
/// the maximum, as on Binance; with `symbolStatus` the symbol must have that status (-1220).
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
    let status = read_symbol_status(params)?;
    params.finish()?;
    let listing = exchange
        .listing(&symbol)
        .ok_or_else(ApiError::invalid_symbol)?;
    if status.is_some_and(|status| listing.rules.status != status) {
        return Err(ApiError::symbol_does_not_match_status());
    }
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

/// Which symbols a request names (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
enum SymbolSelection {
    /// `symbol`: one listed symbol, answered with an object.
    One(String),
    /// `symbols`: listed symbols, each once, in the order sent; answered with an array.
    List(Vec<String>),
    /// Neither: every listed symbol, answered with an array.
    All,
}

impl SymbolSelection {
    /// Reads `symbol` and `symbols`: -1128 for both, -1121 for an unlisted name, and the
    /// `symbols` errors of [`read_symbol_list`].
    fn read(exchange: &Exchange, params: &mut Params) -> Result<SymbolSelection, ApiError> {
        match (params.text("symbol"), params.text("symbols")) {
            (Some(_), Some(_)) => Err(ApiError::parameters_exclude_each_other("symbol", "symbols")),
            (Some(symbol), None) if exchange.listing(&symbol).is_some() => {
                Ok(SymbolSelection::One(symbol))
            }
            (Some(_), None) => Err(ApiError::invalid_symbol()),
            (None, Some(list)) => read_symbol_list(exchange, &list).map(SymbolSelection::List),
            (None, None) => Ok(SymbolSelection::All),
        }
    }

    /// The names selected, in order.
    fn names(&self, exchange: &Exchange) -> Vec<String> {
        match self {
            SymbolSelection::One(symbol) => vec![symbol.clone()],
            SymbolSelection::List(symbols) => symbols.clone(),
            SymbolSelection::All => exchange
                .listings()
                .map(|listing| listing.spec.symbol.clone())
                .collect(),
        }
    }
}

/// The names of a `symbols` value such as `["BTCUSDT","ETHUSDT"]`: -1100 unless it has the
/// shape of [`SYMBOLS_PATTERN`], -1102 when it is empty, then name by name -1121 for one not
/// listed and -1151 for one already named. It stops at the first bad name, so the names kept
/// are listed and distinct: never more than the listings, whatever the size of the value.
fn read_symbol_list(exchange: &Exchange, list: &str) -> Result<Vec<String>, ApiError> {
    let illegal = || ApiError::illegal_characters("symbols", SYMBOLS_PATTERN);
    let inner = list
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(illegal)?;
    if inner.is_empty() {
        return Err(ApiError::mandatory_parameter("symbols"));
    }
    let quoted_names = || inner.split(',');
    if !quoted_names().all(|quoted| unquote_symbol(quoted).is_some()) {
        return Err(illegal());
    }
    let mut names: Vec<String> = Vec::new();
    for name in quoted_names().filter_map(unquote_symbol) {
        if exchange.listing(name).is_none() {
            return Err(ApiError::invalid_symbol());
        }
        if names.iter().any(|named| named == name) {
            return Err(ApiError::duplicate_symbols());
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

/// The name inside `"NAME"`, when it is 1 to 20 of the characters Binance's pattern allows.
fn unquote_symbol(quoted: &str) -> Option<&str> {
    let name = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let legal = |byte: u8| {
        byte.is_ascii_uppercase() || byte.is_ascii_digit() || matches!(byte, b'-' | b'_' | b'.')
    };
    ((1..=MAX_SYMBOL_LENGTH).contains(&name.len()) && name.bytes().all(legal)).then_some(name)
}

/// The `symbolStatus` filter: `TRADING`, `HALT` or `BREAK` (the values Binance filters on),
/// -1122 for anything else.
fn read_symbol_status(params: &mut Params) -> Result<Option<SymbolStatus>, ApiError> {
    match params.text("symbolStatus").as_deref() {
        None => Ok(None),
        Some(text @ ("TRADING" | "HALT" | "BREAK")) => Ok(Some(SymbolStatus::from_binance(text))),
        Some(_) => Err(ApiError::invalid_symbol_status()),
    }
}

/// `entry` for each symbol `wanted` names: the object itself for `symbol` (-1220 when it lacks
/// `status`), an array otherwise, without the symbols that lack `status`.
fn per_symbol(
    exchange: &mut Exchange,
    wanted: &SymbolSelection,
    status: Option<&SymbolStatus>,
    mut entry: impl FnMut(&mut Exchange, &str) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let has_status = |exchange: &Exchange, symbol: &str| {
        status.is_none_or(|status| {
            exchange
                .listing(symbol)
                .is_some_and(|listing| &listing.rules.status == status)
        })
    };
    if let SymbolSelection::One(symbol) = wanted {
        if !has_status(exchange, symbol) {
            return Err(ApiError::symbol_does_not_match_status());
        }
        return entry(exchange, symbol);
    }
    let mut entries = Vec::new();
    for symbol in wanted.names(exchange) {
        if has_status(exchange, &symbol) {
            entries.push(entry(exchange, &symbol)?);
        }
    }
    Ok(Value::Array(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_names_follow_binances_pattern() {
        assert_eq!(unquote_symbol("\"BTCUSDT\""), Some("BTCUSDT"));
        assert_eq!(unquote_symbol("\"1000SATS-X_Y.Z\""), Some("1000SATS-X_Y.Z"));
        for bad in [
            "BTCUSDT",
            "\"btcusdt\"",
            " \"BTCUSDT\"",
            "\"\"",
            "\"",
            "\"ABCDEFGHIJKLMNOPQRSTU\"",
            "\"BTC USDT\"",
        ] {
            assert_eq!(unquote_symbol(bad), None, "{bad}");
        }
    }
}
