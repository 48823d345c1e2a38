//! The client's own CPU work for one MARKET order, without the network: build the parameters,
//! percent-encode and sign the query, parse the FULL answer. Exposed (hidden from the docs) for
//! the `order_overhead` benchmark, which checks issue 5's budget of 50 µs per order; the real path
//! ([`Client::place_market_order`](crate::Client::place_market_order)) runs the same functions.

use market::{Side, Symbol};

use crate::client::{NEW_ORDER, Signing, encode_query, read};
use crate::credentials::Credentials;
use crate::error::BinanceError;
use crate::orders::{MarketOrderFill, OrderSize, new_order_params, read_full_fill};
use crate::wire::parse_json;

/// Does what the client does around one `POST /api/v3/order` MARKET order except the HTTP
/// exchange: returns the signed query string that would be sent and the fill parsed from
/// `answer` (the exchange's FULL answer text).
#[doc(hidden)]
pub fn market_order_cpu_work(
    credentials: &Credentials,
    symbol: &Symbol,
    side: Side,
    size: OrderSize,
    client_order_id: &str,
    timestamp_ms: i64,
    answer: &str,
) -> Result<(String, MarketOrderFill), BinanceError> {
    let params = new_order_params(symbol, side, size, client_order_id)?;
    let signing = Signing {
        credentials,
        recv_window_ms: 5_000,
        timestamp_ms,
    };
    let query = encode_query(&params, Some(&signing));
    let body = parse_json(answer).map_err(|what| crate::client::malformed(&NEW_ORDER, what))?;
    let fill = read(&NEW_ORDER, &body, read_full_fill)?;
    Ok((query, fill))
}
