//! Orders as the exchange records them: the request that created them, their fills with
//! commissions, and their final status. The order log made of these is the ground truth tests
//! compare client-side records against.

use rust_decimal::Decimal;

use market::Side;

use sim_book::OrderSize;

/// A MARKET order as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMarketOrder {
    /// The symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// BUY or SELL.
    pub side: Side,
    /// `quantity` or `quoteOrderQty`.
    pub size: OrderSize,
    /// `newClientOrderId`; one is generated when absent.
    pub client_order_id: Option<String>,
}

/// How an executed MARKET order ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Fully executed.
    Filled,
    /// The book ran out first: partly executed (or not at all), the rest expired.
    Expired,
}

impl OrderStatus {
    /// Binance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Filled => "FILLED",
            OrderStatus::Expired => "EXPIRED",
        }
    }
}

/// One trade of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// The symbol's trade id (`tradeId`).
    pub trade_id: u64,
    /// The price traded at.
    pub price: Decimal,
    /// The base quantity traded.
    pub qty: Decimal,
    /// The commission charged for this trade, in `commission_asset`.
    pub commission: Decimal,
    /// The asset the commission was taken in: the one received.
    pub commission_asset: String,
}

/// An executed order, as kept in the order log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// The symbol.
    pub symbol: String,
    /// The symbol's order id (`orderId`).
    pub order_id: u64,
    /// `clientOrderId`: as sent, or generated.
    pub client_order_id: String,
    /// The API key of the account that placed it.
    pub api_key: String,
    /// BUY or SELL.
    pub side: Side,
    /// What was asked for.
    pub size: OrderSize,
    /// How it ended.
    pub status: OrderStatus,
    /// The trades, best price first.
    pub fills: Vec<Fill>,
    /// When it executed, in ms.
    pub transact_time_ms: i64,
}

impl OrderRecord {
    /// Total base quantity executed (`executedQty`).
    pub fn executed_qty(&self) -> Decimal {
        self.fills.iter().map(|fill| fill.qty).sum()
    }

    /// Total quote amount traded (`cummulativeQuoteQty`).
    pub fn cumulative_quote_qty(&self) -> Decimal {
        self.fills.iter().map(|fill| fill.price * fill.qty).sum()
    }

    /// Total commission charged.
    pub fn total_commission(&self) -> Decimal {
        self.fills.iter().map(|fill| fill.commission).sum()
    }
}
