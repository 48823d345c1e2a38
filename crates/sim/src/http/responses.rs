//! The JSON bodies of the simulator's answers, field for field as Binance's (the fixtures in
//! `tests/fixtures/` are the reference): decimals as 8-decimal strings, times and ids as numbers.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use market::Side;

use crate::account::Account;
use crate::book::OrderSize;
use crate::klines::Kline;
use crate::order::{Fill, OrderRecord};
use crate::wire::decimal8;

/// Binance's `newOrderRespType`: how much of a new order the answer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderResponseType {
    /// Ids and time only.
    Ack,
    /// Plus quantities and status.
    Result,
    /// Plus the fills (MARKET orders' default).
    Full,
}

impl OrderResponseType {
    /// Reads Binance's spelling.
    pub fn from_binance(text: &str) -> Option<OrderResponseType> {
        match text {
            "ACK" => Some(OrderResponseType::Ack),
            "RESULT" => Some(OrderResponseType::Result),
            "FULL" => Some(OrderResponseType::Full),
            _ => None,
        }
    }
}

/// The answer to `POST /api/v3/order`.
pub fn new_order(order: &OrderRecord, response_type: OrderResponseType) -> Value {
    let mut body = json!({
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.transact_time_ms,
    });
    if response_type == OrderResponseType::Ack {
        return body;
    }
    extend(&mut body, order_state(order));
    extend(&mut body, json!({"workingTime": order.transact_time_ms}));
    if response_type == OrderResponseType::Full {
        let fills: Vec<Value> = order
            .fills
            .iter()
            .map(|fill| {
                json!({
                    "price": decimal8(fill.price),
                    "qty": decimal8(fill.qty),
                    "commission": decimal8(fill.commission),
                    "commissionAsset": fill.commission_asset,
                    "tradeId": fill.trade_id,
                })
            })
            .collect();
        extend(&mut body, json!({"fills": fills}));
    }
    body
}

/// The answer to `GET /api/v3/order`.
pub fn queried_order(order: &OrderRecord) -> Value {
    let mut body = json!({
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "stopPrice": decimal8(Decimal::ZERO),
        "icebergQty": decimal8(Decimal::ZERO),
        "time": order.transact_time_ms,
        "updateTime": order.transact_time_ms,
        "isWorking": true,
        "workingTime": order.transact_time_ms,
    });
    extend(&mut body, order_state(order));
    body
}

/// The fields RESULT, FULL and the order query share.
fn order_state(order: &OrderRecord) -> Value {
    let (orig_qty, orig_quote_qty) = match order.size {
        OrderSize::Base(qty) => (qty, Decimal::ZERO),
        OrderSize::Quote(amount) => (order.executed_qty(), amount),
    };
    json!({
        "price": decimal8(Decimal::ZERO),
        "origQty": decimal8(orig_qty),
        "executedQty": decimal8(order.executed_qty()),
        "origQuoteOrderQty": decimal8(orig_quote_qty),
        "cummulativeQuoteQty": decimal8(order.cumulative_quote_qty()),
        "status": order.status.as_str(),
        // Binance shows GTC on MARKET orders (every documented example does).
        "timeInForce": "GTC",
        "type": "MARKET",
        "side": order.side.as_str(),
        "selfTradePreventionMode": "NONE",
    })
}

/// The answer to `POST /api/v3/order/test` with `computeCommissionRates=true`: the account's
/// rate for maker and taker, no special or tax rates, and the BNB discount (`bnb_discount`),
/// enabled for the account when it pays commissions in BNB.
pub fn commission_rates(rate: Decimal, in_bnb: bool, bnb_discount: Decimal) -> Value {
    let zero = decimal8(Decimal::ZERO);
    json!({
        "standardCommissionForOrder": {"maker": decimal8(rate), "taker": decimal8(rate)},
        "specialCommissionForOrder": {"maker": zero, "taker": zero},
        "taxCommissionForOrder": {"maker": zero, "taker": zero},
        "discount": {
            "enabledForAccount": in_bnb,
            "enabledForSymbol": true,
            "discountAsset": "BNB",
            "discount": decimal8(bnb_discount),
        },
    })
}

/// One trade of `GET /api/v3/myTrades`: MARKET orders are always the taker.
pub fn trade(order: &OrderRecord, fill: &Fill) -> Value {
    json!({
        "symbol": order.symbol,
        "id": fill.trade_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "price": decimal8(fill.price),
        "qty": decimal8(fill.qty),
        "quoteQty": decimal8(fill.price * fill.qty),
        "commission": decimal8(fill.commission),
        "commissionAsset": fill.commission_asset,
        "time": order.transact_time_ms,
        "isBuyer": order.side == Side::Buy,
        "isMaker": false,
        "isBestMatch": true,
    })
}

/// The answer to `GET /api/v3/account`.
pub fn account(account: &Account, omit_zero_balances: bool) -> Value {
    let rate = account.commission_rate;
    let balances: Vec<Value> = account
        .balances
        .iter()
        .filter(|(_, free)| !(omit_zero_balances && free.is_zero()))
        .map(|(asset, free)| {
            json!({"asset": asset, "free": decimal8(*free), "locked": decimal8(Decimal::ZERO)})
        })
        .collect();
    // The integer fields count basis points (15 <-> 0.0015, as in the docs' example).
    let basis_points = (rate * Decimal::from(10_000)).trunc();
    let basis_points = i64::try_from(basis_points).unwrap_or_default();
    json!({
        "makerCommission": basis_points,
        "takerCommission": basis_points,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": decimal8(rate),
            "taker": decimal8(rate),
            "buyer": decimal8(Decimal::ZERO),
            "seller": decimal8(Decimal::ZERO),
        },
        "canTrade": account.can_trade,
        "canWithdraw": false,
        "canDeposit": false,
        "brokered": false,
        "requireSelfTradePrevention": false,
        "preventSor": false,
        "updateTime": account.update_time_ms,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": account.uid,
    })
}

/// One kline as Binance's 12-element array.
pub fn kline(kline: &Kline) -> Value {
    json!([
        kline.open_time_ms,
        decimal8(kline.open),
        decimal8(kline.high),
        decimal8(kline.low),
        decimal8(kline.close),
        decimal8(kline.volume),
        kline.close_time_ms,
        decimal8(kline.quote_volume),
        kline.trades,
        decimal8(kline.taker_buy_volume),
        decimal8(kline.taker_buy_quote_volume),
        "0",
    ])
}

/// Adds `more`'s fields to the object `body`.
fn extend(body: &mut Value, more: Value) {
    if let (Value::Object(body), Value::Object(more)) = (body, more) {
        body.extend(more);
    }
}
