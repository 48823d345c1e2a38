//! The request weight of each endpoint (reference § 5), read from the parameters as sent: some
//! endpoints weigh more without `symbol`, with more names in `symbols`, with a deeper `limit` or
//! with `computeCommissionRates`. A successful order placement is then charged nothing (see
//! [`crate::http`]); the weight here is what a failed one costs.
//!
//! The weight is known before the parameters are validated (the rate limiter admits the request
//! first), so `symbols` is weighed by the names it holds as sent, counted without parsing it.

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
        Endpoint::TickerPrice | Endpoint::BookTicker if sent("symbol").is_some() => 2,
        Endpoint::TickerPrice | Endpoint::BookTicker => 4,
        Endpoint::Ticker24hr => match (sent("symbol"), sent("symbols")) {
            (Some(_), _) => 2,
            (None, Some(symbols)) => match named_symbols(symbols) {
                0..=20 => 2,
                21..=100 => 40,
                _ => 80,
            },
            (None, None) => 80,
        },
        Endpoint::OpenOrders if sent("symbol").is_some() => 6,
        Endpoint::OpenOrders => 80,
        Endpoint::AccountCommission => 20,
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

/// How many names a `symbols` value such as `["BTCUSDT","ETHUSDT"]` holds: each is quoted, so
/// half its quotes, rounded up for a malformed value (which is refused anyway).
fn named_symbols(symbols: &str) -> usize {
    symbols
        .bytes()
        .filter(|&byte| byte == b'"')
        .count()
        .div_ceil(2)
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
        assert_eq!(weight_of(Endpoint::BookTicker, "symbol=BTCUSDT"), 2);
        assert_eq!(weight_of(Endpoint::BookTicker, "symbols=%5B%22A%22%5D"), 4);
        assert_eq!(weight_of(Endpoint::OpenOrders, "symbol=BTCUSDT"), 6);
        assert_eq!(weight_of(Endpoint::OpenOrders, ""), 80);
        assert_eq!(weight_of(Endpoint::AccountCommission, "symbol=BTCUSDT"), 20);
    }

    #[test]
    fn the_24hr_ticker_weighs_by_the_number_of_symbols() {
        let symbols = |count: usize| {
            let names: Vec<String> = (0..count).map(|index| format!("\"S{index}\"")).collect();
            format!("symbols=[{}]", names.join(","))
        };
        assert_eq!(weight_of(Endpoint::Ticker24hr, "symbol=BTCUSDT"), 2);
        assert_eq!(weight_of(Endpoint::Ticker24hr, ""), 80);
        assert_eq!(weight_of(Endpoint::Ticker24hr, &symbols(1)), 2);
        assert_eq!(weight_of(Endpoint::Ticker24hr, &symbols(20)), 2);
        assert_eq!(weight_of(Endpoint::Ticker24hr, &symbols(21)), 40);
        assert_eq!(weight_of(Endpoint::Ticker24hr, &symbols(100)), 40);
        assert_eq!(weight_of(Endpoint::Ticker24hr, &symbols(101)), 80);
    }
}
