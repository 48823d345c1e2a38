//! The request weight of each endpoint (reference § 5), read from the parameters as sent: some
//! endpoints weigh more without `symbol`, with a deeper `limit` or with
//! `computeCommissionRates`. A successful order placement is then charged nothing (see
//! [`crate::http`]); the weight here is what a failed one costs.

use crate::endpoint::Endpoint;
use crate::http::params::Params;

/// `GET /api/v3/depth`'s default `limit`.
pub const DEFAULT_DEPTH_LIMIT: u64 = 100;

/// The weight of a request to `endpoint` with `params` (`None` when they did not parse: the
/// endpoint's base weight).
pub fn weight(endpoint: Endpoint, params: Option<&Params>) -> u64 {
    let sent = |name: &str| params.and_then(|params| params.peek(name));
    match endpoint {
        Endpoint::Ping | Endpoint::Time | Endpoint::NewOrder => 1,
        Endpoint::Klines | Endpoint::AvgPrice => 2,
        Endpoint::QueryOrder => 4,
        Endpoint::ExchangeInfo | Endpoint::Account | Endpoint::AllOrders => 20,
        Endpoint::TickerPrice if sent("symbol").is_some() => 2,
        Endpoint::TickerPrice => 4,
        Endpoint::MyTrades if sent("orderId").is_some() => 5,
        Endpoint::MyTrades => 20,
        Endpoint::TestOrder if sent("computeCommissionRates") == Some("true") => 20,
        Endpoint::TestOrder => 1,
        Endpoint::Depth => {
            let limit = sent("limit")
                .and_then(|limit| limit.parse::<u64>().ok())
                .unwrap_or(DEFAULT_DEPTH_LIMIT);
            match limit {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight_of(endpoint: Endpoint, query: &str) -> u64 {
        weight(endpoint, Params::parse(query, "").ok().as_ref())
    }

    #[test]
    fn weights_follow_the_parameters_as_documented() {
        assert_eq!(weight_of(Endpoint::TickerPrice, "symbol=BTCUSDT"), 2);
        assert_eq!(weight_of(Endpoint::TickerPrice, ""), 4);
        assert_eq!(weight_of(Endpoint::Depth, ""), 5);
        assert_eq!(weight_of(Endpoint::Depth, "limit=500"), 25);
        assert_eq!(weight_of(Endpoint::Depth, "limit=1000"), 50);
        assert_eq!(weight_of(Endpoint::Depth, "limit=5000"), 250);
        assert_eq!(weight_of(Endpoint::MyTrades, "orderId=3"), 5);
        assert_eq!(weight_of(Endpoint::MyTrades, ""), 20);
        assert_eq!(weight_of(Endpoint::AllOrders, "orderId=3"), 20);
        assert_eq!(
            weight_of(Endpoint::TestOrder, "computeCommissionRates=true"),
            20
        );
        assert_eq!(weight_of(Endpoint::ExchangeInfo, "a=1&a=2"), 20);
    }
}
