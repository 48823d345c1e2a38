//! [`SymbolRules`]: what the exchange allows for one symbol (status, asset precisions, order types
//! and the PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL and NOTIONAL filters).
//!
//! Parsing them from Binance's `exchangeInfo` JSON lives in [`crate::exchange_info`].

use std::fmt;

use rust_decimal::Decimal;

use crate::amount::{Price, Quantity};
use crate::symbol::Symbol;

/// Everything the exchange says about one symbol that matters for placing MARKET orders.
///
/// Every filter is optional: a symbol without one is not constrained by it. Filters that this crate
/// does not use (PERCENT_PRICE_BY_SIDE, MAX_NUM_ORDERS, ...) are kept in
/// [`other_filters`](Self::other_filters) and otherwise ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolRules {
    /// The symbol, e.g. `BTCUSDT`.
    pub symbol: Symbol,
    /// Whether the symbol trades now.
    pub status: SymbolStatus,
    /// The asset bought or sold, e.g. `BTC`.
    pub base_asset: String,
    /// The asset prices and notionals are counted in, e.g. `USDT`.
    pub quote_asset: String,
    /// The most decimals a base quantity may have on the wire (more gives error -1111).
    pub base_asset_precision: u32,
    /// The most decimals a quote amount (`quoteOrderQty`) may have on the wire.
    pub quote_asset_precision: u32,
    /// Whether MARKET orders may be sized by `quoteOrderQty` (an amount of quote asset to spend).
    pub quote_order_qty_market_allowed: bool,
    /// The order types the symbol accepts, as Binance spells them (`LIMIT`, `MARKET`, ...).
    /// An empty list means "not stated" and restricts nothing.
    pub order_types: Vec<String>,
    /// PRICE_FILTER. MARKET orders carry no price, so the normaliser does not use it.
    pub price_filter: Option<PriceFilter>,
    /// LOT_SIZE: quantity bounds and step for every order.
    pub lot_size: Option<LotSizeFilter>,
    /// MARKET_LOT_SIZE: quantity bounds and step for MARKET orders, on top of LOT_SIZE.
    pub market_lot_size: Option<LotSizeFilter>,
    /// MIN_NOTIONAL: the older minimum order value.
    pub min_notional: Option<MinNotionalFilter>,
    /// NOTIONAL: the newer minimum and maximum order value.
    pub notional: Option<NotionalFilter>,
    /// Filters of any other type, kept as the exchange sent them.
    pub other_filters: Vec<OtherFilter>,
}

impl SymbolRules {
    /// Whether the symbol accepts MARKET orders (true when the order types are not stated).
    pub fn allows_market_orders(&self) -> bool {
        self.order_types.is_empty() || self.order_types.iter().any(|kind| kind == "MARKET")
    }
}

/// A symbol's trading status, as in `exchangeInfo.symbols[].status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SymbolStatus {
    /// Orders are accepted.
    Trading,
    /// Trading ended for the day.
    EndOfDay,
    /// Trading is halted.
    Halt,
    /// Trading is paused.
    Break,
    /// Only cancellations are accepted (since 2026-07).
    CancelOnly,
    /// A status this crate does not know yet, kept verbatim. It is never treated as trading.
    Other(String),
}

impl SymbolStatus {
    /// Reads Binance's spelling; anything unknown becomes [`SymbolStatus::Other`].
    ///
    /// ```
    /// use market::SymbolStatus;
    /// assert_eq!(SymbolStatus::from_binance("TRADING"), SymbolStatus::Trading);
    /// assert_eq!(SymbolStatus::from_binance("AUCTION"), SymbolStatus::Other("AUCTION".into()));
    /// ```
    pub fn from_binance(text: &str) -> SymbolStatus {
        match text {
            "TRADING" => SymbolStatus::Trading,
            "END_OF_DAY" => SymbolStatus::EndOfDay,
            "HALT" => SymbolStatus::Halt,
            "BREAK" => SymbolStatus::Break,
            "CANCEL_ONLY" => SymbolStatus::CancelOnly,
            other => SymbolStatus::Other(other.to_owned()),
        }
    }

    /// Binance's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            SymbolStatus::Trading => "TRADING",
            SymbolStatus::EndOfDay => "END_OF_DAY",
            SymbolStatus::Halt => "HALT",
            SymbolStatus::Break => "BREAK",
            SymbolStatus::CancelOnly => "CANCEL_ONLY",
            SymbolStatus::Other(text) => text,
        }
    }
}

impl fmt::Display for SymbolStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// PRICE_FILTER: bounds and tick for order prices. Each part is disabled when zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceFilter {
    /// `minPrice`.
    pub min_price: Price,
    /// `maxPrice`.
    pub max_price: Price,
    /// `tickSize`.
    pub tick_size: Price,
}

/// LOT_SIZE or MARKET_LOT_SIZE: bounds and step for the base quantity.
///
/// A zero part is no constraint: Binance documents that for PRICE_FILTER, and live MARKET_LOT_SIZE
/// payloads carry `"stepSize": "0.00000000"` with only `maxQty` set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotSizeFilter {
    /// `minQty`.
    pub min_qty: Quantity,
    /// `maxQty`.
    pub max_qty: Quantity,
    /// `stepSize`: a legal quantity is a multiple of it (`quantity % stepSize == 0`).
    pub step_size: Quantity,
}

/// MIN_NOTIONAL: price × quantity must reach `min_notional`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinNotionalFilter {
    /// `minNotional`, in quote asset.
    pub min_notional: Decimal,
    /// `applyToMarket`: whether MARKET orders are checked at all.
    pub apply_to_market: bool,
    /// `avgPriceMins`: the window of the average price the exchange checks MARKET orders with
    /// (0 means the last price).
    pub avg_price_mins: u32,
}

/// NOTIONAL: price × quantity must lie within `[min_notional, max_notional]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotionalFilter {
    /// `minNotional`, in quote asset.
    pub min_notional: Decimal,
    /// `applyMinToMarket`: whether MARKET orders are held to the minimum.
    pub apply_min_to_market: bool,
    /// `maxNotional`, in quote asset. Zero is treated as no maximum.
    pub max_notional: Decimal,
    /// `applyMaxToMarket`: whether MARKET orders are held to the maximum.
    pub apply_max_to_market: bool,
    /// `avgPriceMins`, as for [`MinNotionalFilter::avg_price_mins`].
    pub avg_price_mins: u32,
}

/// A filter of a type this crate does not interpret, kept as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherFilter {
    /// Its `filterType`, e.g. `PERCENT_PRICE_BY_SIDE`.
    pub filter_type: String,
    /// The whole filter object.
    pub raw: serde_json::Value,
}
