//! The SIGNED endpoints: `POST /api/v3/order` (MARKET only), `GET /api/v3/order` and
//! `GET /api/v3/account`. Each authenticates first (see [`crate::http::auth`]), then reads its own
//! parameters.

use serde_json::Value;

use market::Side;

use crate::book::OrderSize;
use crate::error::ApiError;
use crate::exchange::{Exchange, OrderLookup};
use crate::http::auth::Signed;
use crate::http::params::Params;
use crate::http::responses::{self, OrderResponseType};
use crate::order::NewMarketOrder;

/// The legal `newClientOrderId`, as Binance quotes it in -1100.
const CLIENT_ORDER_ID_PATTERN: &str = "^[a-zA-Z0-9-_]{1,36}$";
/// Parameters that only other order types take: sent with a MARKET order they are -1106.
const NOT_FOR_MARKET_ORDERS: [&str; 4] = ["price", "stopPrice", "icebergQty", "trailingDelta"];

/// `POST /api/v3/order`.
pub fn new_order(
    exchange: &mut Exchange,
    signed: &Signed,
    params: &mut Params,
) -> Result<Value, ApiError> {
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
    params.finish()?;
    let order = NewMarketOrder {
        symbol,
        side,
        size,
        client_order_id,
    };
    let record = exchange.place_market_order(&signed.api_key, order, signed.deadline_ms)?;
    Ok(responses::new_order(&record, response_type))
}

/// `GET /api/v3/order`.
pub fn query_order(
    exchange: &Exchange,
    signed: &Signed,
    params: &mut Params,
) -> Result<Value, ApiError> {
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
    let order = exchange.find_order(&signed.api_key, &symbol, &lookup)?;
    Ok(responses::queried_order(order))
}

/// `GET /api/v3/account`.
pub fn account(
    exchange: &Exchange,
    signed: &Signed,
    params: &mut Params,
) -> Result<Value, ApiError> {
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

fn is_legal_client_order_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}
