//! [`Endpoint`]: the REST endpoints the simulator serves, named as `METHOD /path` the way
//! Binance's docs name them. Fault rules select endpoints by these names.

use serde::{Deserialize, Serialize};

/// One REST endpoint of the simulated exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    /// `GET /api/v3/ping`.
    #[serde(rename = "GET /api/v3/ping")]
    Ping,
    /// `GET /api/v3/time`.
    #[serde(rename = "GET /api/v3/time")]
    Time,
    /// `GET /api/v3/exchangeInfo`.
    #[serde(rename = "GET /api/v3/exchangeInfo")]
    ExchangeInfo,
    /// `GET /api/v3/ticker/price`.
    #[serde(rename = "GET /api/v3/ticker/price")]
    TickerPrice,
    /// `GET /api/v3/ticker/24hr`.
    #[serde(rename = "GET /api/v3/ticker/24hr")]
    Ticker24hr,
    /// `GET /api/v3/ticker/bookTicker`.
    #[serde(rename = "GET /api/v3/ticker/bookTicker")]
    BookTicker,
    /// `GET /api/v3/avgPrice`.
    #[serde(rename = "GET /api/v3/avgPrice")]
    AvgPrice,
    /// `GET /api/v3/depth`.
    #[serde(rename = "GET /api/v3/depth")]
    Depth,
    /// `GET /api/v3/klines`.
    #[serde(rename = "GET /api/v3/klines")]
    Klines,
    /// `POST /api/v3/order`.
    #[serde(rename = "POST /api/v3/order")]
    NewOrder,
    /// `POST /api/v3/order/test`.
    #[serde(rename = "POST /api/v3/order/test")]
    TestOrder,
    /// `GET /api/v3/order`.
    #[serde(rename = "GET /api/v3/order")]
    QueryOrder,
    /// `GET /api/v3/account`.
    #[serde(rename = "GET /api/v3/account")]
    Account,
    /// `GET /api/v3/myTrades`.
    #[serde(rename = "GET /api/v3/myTrades")]
    MyTrades,
    /// `GET /api/v3/allOrders`.
    #[serde(rename = "GET /api/v3/allOrders")]
    AllOrders,
    /// `GET /api/v3/openOrders`.
    #[serde(rename = "GET /api/v3/openOrders")]
    OpenOrders,
    /// `GET /api/v3/account/commission`.
    #[serde(rename = "GET /api/v3/account/commission")]
    AccountCommission,
}

impl Endpoint {
    /// Whether the endpoint changes the exchange's state (places an order): the one whose
    /// "after executing" faults leave the client unsure of the outcome.
    pub fn places_orders(self) -> bool {
        self == Endpoint::NewOrder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_named_as_in_binances_docs() {
        let named: Endpoint = serde_json::from_str("\"POST /api/v3/order\"").unwrap();
        assert_eq!(named, Endpoint::NewOrder);
        assert_eq!(
            serde_json::to_string(&Endpoint::QueryOrder).unwrap(),
            "\"GET /api/v3/order\""
        );
        let commission: Endpoint =
            serde_json::from_str("\"GET /api/v3/account/commission\"").unwrap();
        assert_eq!(commission, Endpoint::AccountCommission);
        assert!(serde_json::from_str::<Endpoint>("\"GET /api/v3/nope\"").is_err());
    }
}
