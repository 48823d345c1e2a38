//! The SIGNED endpoints: `POST /api/v3/order` (MARKET only) and `/api/v3/order/test`,
//! `GET /api/v3/order`, `GET /api/v3/openOrders`, `GET /api/v3/allOrders`,
//! `GET /api/v3/account`, `GET /api/v3/account/commission` and `GET /api/v3/myTrades`. Each
//! authenticates first (see [`crate::http::auth`]; the order endpoints as `TRADE`, which a key
//! that cannot trade is refused, the reads as `USER_DATA`), then reads its own parameters.
//! `startTime` and `endTime` may be sent in milliseconds or microseconds, as on Binance.

use serde_json::{Value, json};

use market::Side;

use crate::error::ApiError;
use crate::exchange::{AllOrdersQuery, Exchange, OrderLookup, TradeQuery};
use crate::http::auth::{SecurityType, Signed, authenticate};
use crate::http::params::Params;
use crate::http::responses::{self, Commission, OrderResponseType};
use crate::http::{Rejection, Request};
use crate::order::NewMarketOrder;
use sim_book::OrderSize;

/// The legal `newClientOrderId`, as Binance quotes it in -1100.
const CLIENT_ORDER_ID_PATTERN: &str = "^[a-zA-Z0-9-_]{1,36}$";
/// Parameters that only other order types take: sent with a MARKET order they are -1106.
const NOT_FOR_MARKET_ORDERS: [&str; 4] = ["price", "stopPrice", "icebergQty", "trailingDelta"];

/// The most `GET /api/v3/myTrades` and `GET /api/v3/allOrders` return, and their default.
const MAX_LIST_LIMIT: i64 = 1_000;
const DEFAULT_LIST_LIMIT: usize = 500;
/// The longest `startTime`..`endTime` span of `GET /api/v3/myTrades` and
/// `GET /api/v3/allOrders`, ms.
const MAX_LOOKUP_SPAN_MS: i64 = 24 * 3_600_000;

/// Checks the API key, signature, timing and permission for `security` of `request` (see
/// [`authenticate`]).
fn sign_in(
    exchange: &Exchange,
    request: &mut Request<'_>,
    security: SecurityType,
) -> Result<Signed, ApiError> {
    authenticate(
        exchange,
        request.headers,
        request.peer,
        security,
        request.raw_query,
        request.raw_body,
        &mut request.params,
    )
}

/// `POST /api/v3/order`: -1015 when the account's unfilled-order windows are full.
pub fn new_order(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, Rejection> {
    let signed = sign_in(exchange, request, SecurityType::Trade)?;
    let (order, response_type) = read_market_order(&mut request.params)?;
    request.params.finish()?;
    exchange.admit_order(&signed.api_key)?;
    let record = exchange.place_market_order(&signed.api_key, order, signed.deadline_ms)?;
    Ok(responses::new_order(&record, response_type))
}

/// `POST /api/v3/order/test`: the same checks as a real order up to the matching engine, then
/// `{}`, or the commission rates with `computeCommissionRates=true`. Nothing executes and no
/// balance moves.
pub fn test_order(exchange: &mut Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let signed = sign_in(exchange, request, SecurityType::Trade)?;
    let (order, _) = read_market_order(&mut request.params)?;
    let compute_commission_rates = match request.params.text("computeCommissionRates").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::invalid_parameter_value("computeCommissionRates"));
        }
    };
    request.params.finish()?;
    exchange.test_market_order(&signed.api_key, &order)?;
    Ok(if compute_commission_rates {
        responses::commission_rates(&commission(exchange, &signed.api_key, &order.symbol)?)
    } else {
        json!({})
    })
}

/// The commission of account `api_key` on `symbol`, as both commission queries show it.
fn commission(
    exchange: &mut Exchange,
    api_key: &str,
    symbol: &str,
) -> Result<Commission, ApiError> {
    let bnb_for_symbol = exchange.bnb_discount_applies(symbol)?;
    let account = exchange
        .account(api_key)
        .ok_or_else(ApiError::api_key_rejected)?;
    Ok(Commission {
        rate: account.commission_rate,
        in_bnb: account.commission_in_bnb,
        bnb_for_symbol,
        bnb_discount: exchange.bnb_discount(),
    })
}

/// Reads a MARKET order's parameters (Binance's -11xx errors for the wrong ones).
fn read_market_order(params: &mut Params) -> Result<(NewMarketOrder, OrderResponseType), ApiError> {
    let symbol = params.required_text("symbol")?;
    let side = match params.required_text("side")?.as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(ApiError::invalid_side()),
    };
    if params.required_text("type")? != "MARKET" {
        return Err(ApiError::invalid_order_type());
    }
    if params.text("timeInForce").is_some() {
        return Err(ApiError::time_in_force_not_required());
    }
    for name in NOT_FOR_MARKET_ORDERS {
        if params.text(name).is_some() {
            return Err(ApiError::parameter_not_required(name));
        }
    }
    let size = match (
        params.decimal("quantity")?,
        params.decimal("quoteOrderQty")?,
    ) {
        (Some(qty), None) => OrderSize::Base(qty),
        (None, Some(amount)) => OrderSize::Quote(amount),
        (Some(_), Some(_)) => return Err(ApiError::parameter_not_required("quoteOrderQty")),
        (None, None) => return Err(ApiError::one_of_two_mandatory("quantity", "quoteOrderQty")),
    };
    let client_order_id = params.text("newClientOrderId");
    if let Some(id) = &client_order_id
        && !is_legal_client_order_id(id)
    {
        return Err(ApiError::illegal_characters(
            "newClientOrderId",
            CLIENT_ORDER_ID_PATTERN,
        ));
    }
    let response_type = match params.text("newOrderRespType") {
        None => OrderResponseType::Full,
        Some(text) => OrderResponseType::from_binance(&text)
            .ok_or_else(|| ApiError::invalid_parameter_value("newOrderRespType"))?,
    };
    if let Some(mode) = params.text("selfTradePreventionMode")
        && mode != "NONE"
    {
        // A taker against a synthetic book never trades with itself; only NONE is honest.
        return Err(ApiError::invalid_parameter_value("selfTradePreventionMode"));
    }
    let order = NewMarketOrder {
        symbol,
        side,
        size,
        client_order_id,
    };
    Ok((order, response_type))
}

/// `GET /api/v3/order`.
pub fn query_order(exchange: &Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let signed = sign_in(exchange, request, SecurityType::UserData)?;
    let params = &mut request.params;
    let symbol = params.required_text("symbol")?;
    let order_id = params.long("orderId")?;
    let client_order_id = params.text("origClientOrderId");
    params.finish()?;
    let lookup = match (order_id, client_order_id) {
        (Some(id), Some(client_id)) => OrderLookup::Both(id as u64, client_id),
        (Some(id), None) => OrderLookup::OrderId(id as u64),
        (None, Some(client_id)) => OrderLookup::ClientOrderId(client_id),
        (None, None) => {
            return Err(ApiError::one_of_two_mandatory(
                "orderId",
                "origClientOrderId",
            ));
        }
    };
    let order = exchange.find_order(&signed.api_key, &symbol, &lookup, request.not_queryable_ms)?;
    Ok(responses::queried_order(order))
}

/// `GET /api/v3/openOrders`, for `symbol` or all symbols: always `[]`, because the simulator
/// takes MARKET orders only, which fill or expire at once and never rest on the book. The
/// parameters, the weight and the errors are Binance's (-1121 for an unlisted `symbol`).
pub fn open_orders(exchange: &Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    sign_in(exchange, request, SecurityType::UserData)?;
    let params = &mut request.params;
    let symbol = params.text("symbol");
    params.finish()?;
    if let Some(symbol) = symbol
        && exchange.listing(&symbol).is_none()
    {
        return Err(ApiError::invalid_symbol());
    }
    Ok(json!([]))
}

/// `GET /api/v3/account/commission`: the account's rates on `symbol` (the account's rate for
/// maker and taker, no buyer, seller, special or tax rates) and its BNB discount.
pub fn account_commission(
    exchange: &mut Exchange,
    request: &mut Request<'_>,
) -> Result<Value, ApiError> {
    let signed = sign_in(exchange, request, SecurityType::UserData)?;
    let symbol = request.params.required_text("symbol")?;
    request.params.finish()?;
    let commission = commission(exchange, &signed.api_key, &symbol)?;
    Ok(responses::account_commission(&symbol, &commission))
}

/// `GET /api/v3/account`.
pub fn account(exchange: &Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let signed = sign_in(exchange, request, SecurityType::UserData)?;
    let params = &mut request.params;
    let omit_zero_balances = match params.text("omitZeroBalances").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid_parameter_value("omitZeroBalances")),
    };
    params.finish()?;
    let account = exchange
        .account(&signed.api_key)
        .ok_or_else(ApiError::api_key_rejected)?;
    Ok(responses::account(account, omit_zero_balances))
}

/// `GET /api/v3/myTrades`, with Binance's allowed parameter combinations (-1128 otherwise) and
/// its 24-hour limit on `startTime`..`endTime` (-1127).
pub fn my_trades(exchange: &Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let signed = sign_in(exchange, request, SecurityType::UserData)?;
    let params = &mut request.params;
    let symbol = params.required_text("symbol")?;
    let order_id = params.long("orderId")?;
    let start_ms = params.time_ms("startTime")?;
    let end_ms = params.time_ms("endTime")?;
    let from_id = params.long("fromId")?;
    let limit = read_list_limit(params)?;
    params.finish()?;
    let combination_allowed = match (order_id, from_id) {
        (Some(_), _) => start_ms.is_none() && end_ms.is_none(),
        (None, Some(_)) => start_ms.is_none() && end_ms.is_none(),
        (None, None) => true,
    };
    if !combination_allowed {
        return Err(ApiError::optional_parameters_bad_combination());
    }
    check_lookup_span(start_ms, end_ms)?;
    let query = TradeQuery {
        order_id: order_id.map(|id| id as u64),
        start_ms,
        end_ms,
        from_id: from_id.map(|id| id as u64),
        limit,
    };
    let trades = exchange.my_trades(&signed.api_key, &symbol, &query, request.not_queryable_ms)?;
    Ok(Value::Array(
        trades
            .into_iter()
            .map(|(order, fill)| responses::trade(order, fill))
            .collect(),
    ))
}

/// `GET /api/v3/allOrders`: the account's orders of one symbol, every status, oldest first, each
/// as `GET /api/v3/order` shows it. `orderId` starts from that order and is ignored when a time
/// is given (as Binance documents); `startTime`..`endTime` spans at most 24 hours (-1127).
pub fn all_orders(exchange: &Exchange, request: &mut Request<'_>) -> Result<Value, ApiError> {
    let signed = sign_in(exchange, request, SecurityType::UserData)?;
    let params = &mut request.params;
    let symbol = params.required_text("symbol")?;
    let from_order_id = params.long("orderId")?;
    let start_ms = params.time_ms("startTime")?;
    let end_ms = params.time_ms("endTime")?;
    let limit = read_list_limit(params)?;
    params.finish()?;
    check_lookup_span(start_ms, end_ms)?;
    let query = AllOrdersQuery {
        from_order_id: from_order_id.map(|id| id as u64),
        start_ms,
        end_ms,
        limit,
    };
    let orders = exchange.all_orders(&signed.api_key, &symbol, &query, request.not_queryable_ms)?;
    Ok(Value::Array(
        orders.into_iter().map(responses::queried_order).collect(),
    ))
}

/// The `limit` of a list endpoint: 1 to [`MAX_LIST_LIMIT`], [`DEFAULT_LIST_LIMIT`] when absent.
fn read_list_limit(params: &mut Params) -> Result<usize, ApiError> {
    match params.long("limit")? {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(0) => Err(ApiError::invalid_parameter_value("limit")),
        Some(limit) if limit > MAX_LIST_LIMIT => Err(ApiError::parameter_too_large(
            "limit",
            &MAX_LIST_LIMIT.to_string(),
        )),
        Some(limit) => Ok(usize::try_from(limit).unwrap_or(DEFAULT_LIST_LIMIT)),
    }
}

/// Binance's rules on a `startTime`..`endTime` pair: in order (-1023; equal times are allowed)
/// and at most [`MAX_LOOKUP_SPAN_MS`] apart (-1127).
fn check_lookup_span(start_ms: Option<i64>, end_ms: Option<i64>) -> Result<(), ApiError> {
    if let (Some(start), Some(end)) = (start_ms, end_ms) {
        if start > end {
            return Err(ApiError::start_time_after_end_time());
        }
        if end.saturating_sub(start) > MAX_LOOKUP_SPAN_MS {
            return Err(ApiError::lookup_interval_too_big(
                MAX_LOOKUP_SPAN_MS / 3_600_000,
            ));
        }
    }
    Ok(())
}

fn is_legal_client_order_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}
