//! The JSON bodies of the simulator's answers, field for field as Binance's (the fixtures in
//! `tests/fixtures/` are the reference): decimals as 8-decimal strings, times and ids as numbers.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use market::Side;

use crate::account::Account;
use crate::exchange::DayStats;
use crate::klines::Kline;
use crate::order::{Fill, OrderRecord};
use crate::wire::decimal8;
use sim_book::{Level, OrderSize};

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

/// An account's commission on one symbol, as the commission queries show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commission {
    /// The account's rate, charged to maker and taker alike (MARKET orders are always the
    /// taker); no buyer, seller, special or tax rates.
    pub rate: Decimal,
    /// Whether the account pays commissions in BNB.
    pub in_bnb: bool,
    /// Whether the exchange can take this symbol's commissions in BNB (it prices BNB in the
    /// symbol's quote asset).
    pub bnb_for_symbol: bool,
    /// The fraction taken off commissions paid in BNB.
    pub bnb_discount: Decimal,
}

impl Commission {
    /// The `discount` object both commission queries share.
    fn discount(&self) -> Value {
        json!({
            "enabledForAccount": self.in_bnb,
            "enabledForSymbol": self.bnb_for_symbol,
            "discountAsset": "BNB",
            "discount": decimal8(self.bnb_discount),
        })
    }
}

/// The answer to `POST /api/v3/order/test` with `computeCommissionRates=true`.
pub fn commission_rates(commission: &Commission) -> Value {
    let zero = decimal8(Decimal::ZERO);
    let rate = decimal8(commission.rate);
    json!({
        "standardCommissionForOrder": {"maker": rate, "taker": rate},
        "specialCommissionForOrder": {"maker": zero, "taker": zero},
        "taxCommissionForOrder": {"maker": zero, "taker": zero},
        "discount": commission.discount(),
    })
}

/// The answer to `GET /api/v3/account/commission` for `symbol`.
pub fn account_commission(symbol: &str, commission: &Commission) -> Value {
    let zero = decimal8(Decimal::ZERO);
    let rate = decimal8(commission.rate);
    let none = json!({"maker": zero, "taker": zero, "buyer": zero, "seller": zero});
    json!({
        "symbol": symbol,
        "standardCommission": {"maker": rate, "taker": rate, "buyer": zero, "seller": zero},
        "specialCommission": none,
        "taxCommission": none,
        "discount": commission.discount(),
    })
}

/// One `GET /api/v3/ticker/24hr` entry: the `MINI` fields, plus with `full` the price change,
/// the weighted average price (0 when nothing traded), the previous close, the last trade's
/// size and the book's best levels. Without trades the ids are -1, as on Binance.
pub fn ticker_24hr(symbol: &str, stats: &DayStats, full: bool) -> Value {
    let window = &stats.window;
    let (first_id, last_id) = match stats.trade_ids {
        Some((first, last)) => (json!(first), json!(last)),
        None => (json!(-1), json!(-1)),
    };
    let mut body = json!({
        "symbol": symbol,
        "openPrice": decimal8(window.open),
        "highPrice": decimal8(window.high),
        "lowPrice": decimal8(window.low),
        "lastPrice": decimal8(window.close),
        "volume": decimal8(window.volume),
        "quoteVolume": decimal8(window.quote_volume),
        "openTime": window.open_time_ms,
        "closeTime": window.close_time_ms,
        "firstId": first_id,
        "lastId": last_id,
        "count": window.trades,
    });
    if !full {
        return body;
    }
    let change = window.close - window.open;
    let change_percent = (change * Decimal::ONE_HUNDRED)
        .checked_div(window.open)
        .unwrap_or_default();
    let weighted_average = window
        .quote_volume
        .checked_div(window.volume)
        .unwrap_or_default();
    let (bid_price, bid_qty) = level_or_zero(stats.best_bid);
    let (ask_price, ask_qty) = level_or_zero(stats.best_ask);
    extend(
        &mut body,
        json!({
            "priceChange": decimal8(change),
            "priceChangePercent": decimal3(change_percent),
            "weightedAvgPrice": decimal8(weighted_average),
            "prevClosePrice": decimal8(stats.prev_close),
            "lastQty": decimal8(stats.last_qty),
            "bidPrice": bid_price,
            "bidQty": bid_qty,
            "askPrice": ask_price,
            "askQty": ask_qty,
        }),
    );
    body
}

/// One `GET /api/v3/ticker/bookTicker` entry: the best bid and ask of the book.
pub fn book_ticker(symbol: &str, best_bid: Option<Level>, best_ask: Option<Level>) -> Value {
    let (bid_price, bid_qty) = level_or_zero(best_bid);
    let (ask_price, ask_qty) = level_or_zero(best_ask);
    json!({
        "symbol": symbol,
        "bidPrice": bid_price,
        "bidQty": bid_qty,
        "askPrice": ask_price,
        "askQty": ask_qty,
    })
}

/// A level's price and quantity as wire strings; zeros for a side without levels, as Binance
/// shows an empty side.
fn level_or_zero(level: Option<Level>) -> (String, String) {
    let level = level.unwrap_or(Level {
        price: Decimal::ZERO,
        qty: Decimal::ZERO,
    });
    (decimal8(level.price), decimal8(level.qty))
}

/// A percentage as Binance prints `priceChangePercent`: three decimals (`"-95.960"`).
fn decimal3(value: Decimal) -> String {
    let mut rounded = value.round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(3);
    rounded.to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn percentages_have_three_decimals() {
        assert_eq!(decimal3(dec!(-95.96)), "-95.960");
        assert_eq!(decimal3(dec!(0)), "0.000");
        assert_eq!(decimal3(dec!(1.23456)), "1.235");
        assert_eq!(decimal3(dec!(-0.0004)), "0.000");
    }
}
