//! [`ApiError`]: an error as Binance reports it, `{"code": -1121, "msg": "Invalid symbol."}`, with
//! constructors for the codes the simulator answers and the HTTP status each goes out with.
//!
//! The docs give no status per code (reference § 3); live Binance answers 401 for API-key errors
//! (-2014, -2015), 429 for -1003/-1015, 5xx for its own failures and 400 for the rest, and so does
//! the simulator.

use std::fmt;

/// A rejected request: Binance's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Binance's code, e.g. `-1013`.
    pub code: i32,
    /// Binance's message, e.g. `Filter failure: LOT_SIZE`.
    pub msg: String,
}

impl ApiError {
    fn new(code: i32, msg: impl Into<String>) -> ApiError {
        ApiError {
            code,
            msg: msg.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn http_status(&self) -> u16 {
        match self.code {
            -2014 | -2015 => 401,
            -1003 | -1015 => 429,
            -1000 | -1001 | -1006 | -1007 | -1008 => 500,
            _ => 400,
        }
    }

    /// -1003 with one of Binance's "too much" messages: a weight or request limit was hit.
    pub fn too_many_requests(msg: String) -> ApiError {
        ApiError::new(-1003, msg)
    }

    /// -1003: the IP is banned until `banned_until_ms` (answered with 418).
    pub fn ip_banned(banned_until_ms: i64) -> ApiError {
        ApiError::new(
            -1003,
            format!(
                "Way too much request weight used; IP banned until {banned_until_ms}. Please use WebSocket Streams for live updates to avoid bans."
            ),
        )
    }

    /// -1006: the backend answered something unexpected; the execution status is unknown.
    pub fn unexpected_response() -> ApiError {
        ApiError::new(
            -1006,
            "An unexpected response was received from the message bus. Execution status unknown.",
        )
    }

    /// -1007: the backend did not answer in time; the execution status is unknown.
    pub fn backend_timeout() -> ApiError {
        ApiError::new(
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        )
    }

    /// -1008: the server is overloaded and did not process the request.
    pub fn server_busy() -> ApiError {
        ApiError::new(
            -1008,
            "Server is currently overloaded with other requests. Please try again in a few minutes.",
        )
    }

    /// -1015: an ORDERS window of the account is full.
    pub fn too_many_orders(limit: u64, per: &str) -> ApiError {
        ApiError::new(
            -1015,
            format!("Too many new orders; current limit is {limit} orders per {per}."),
        )
    }

    /// -1021: the timestamp is older than `recvWindow` allows.
    pub fn timestamp_outside_recv_window() -> ApiError {
        ApiError::new(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        )
    }

    /// -1021: the timestamp is 1000 ms or more ahead of the server's time.
    pub fn timestamp_ahead_of_server() -> ApiError {
        ApiError::new(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        )
    }

    /// -1022: the signature does not match the payload.
    pub fn invalid_signature() -> ApiError {
        ApiError::new(-1022, "Signature for this request is not valid.")
    }

    /// -1100: a parameter's text does not match its legal pattern.
    pub fn illegal_characters(parameter: &str, legal_range: &str) -> ApiError {
        ApiError::new(
            -1100,
            format!(
                "Illegal characters found in parameter '{parameter}'; legal range is '{legal_range}'."
            ),
        )
    }

    /// -1101: the same parameter twice in the query string or twice in the body.
    pub fn duplicate_parameter() -> ApiError {
        ApiError::new(-1101, "Duplicate values for a parameter detected.")
    }

    /// -1102: a mandatory parameter is missing or empty.
    pub fn mandatory_parameter(parameter: &str) -> ApiError {
        ApiError::new(
            -1102,
            format!(
                "Mandatory parameter '{parameter}' was not sent, was empty/null, or malformed."
            ),
        )
    }

    /// -1102: one of two parameters is mandatory and neither was sent.
    pub fn one_of_two_mandatory(first: &str, second: &str) -> ApiError {
        ApiError::new(
            -1102,
            format!("Param '{first}' or '{second}' must be sent, but both were empty/null!"),
        )
    }

    /// -1102: a parameter is above its maximum.
    pub fn parameter_too_large(parameter: &str, maximum: &str) -> ApiError {
        ApiError::new(
            -1102,
            format!("'{parameter}' contains unexpected value. Cannot be greater than {maximum}."),
        )
    }

    /// -1104: parameters were sent that the endpoint does not read.
    pub fn unread_parameters(read: usize, sent: usize) -> ApiError {
        ApiError::new(
            -1104,
            format!(
                "Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'."
            ),
        )
    }

    /// -1106: a parameter that this kind of order does not take.
    pub fn parameter_not_required(parameter: &str) -> ApiError {
        ApiError::new(
            -1106,
            format!("Parameter '{parameter}' sent when not required."),
        )
    }

    /// -1108: an integer parameter too large for its type.
    pub fn parameter_overflowed(parameter: &str) -> ApiError {
        ApiError::new(-1108, format!("Parameter '{parameter}' overflowed."))
    }

    /// -1111: more decimals than the asset's precision.
    pub fn too_much_precision(parameter: &str) -> ApiError {
        ApiError::new(
            -1111,
            format!("Parameter '{parameter}' has too much precision."),
        )
    }

    /// -1114: `timeInForce` on an order type that takes none.
    pub fn time_in_force_not_required() -> ApiError {
        ApiError::new(-1114, "TimeInForce parameter sent when not required.")
    }

    /// -1116: an order type the simulator does not execute.
    pub fn invalid_order_type() -> ApiError {
        ApiError::new(-1116, "Invalid orderType.")
    }

    /// -1117: a side other than BUY or SELL.
    pub fn invalid_side() -> ApiError {
        ApiError::new(-1117, "Invalid side.")
    }

    /// -1120: an unknown kline interval.
    pub fn invalid_interval() -> ApiError {
        ApiError::new(-1120, "Invalid interval.")
    }

    /// -1121: an unknown symbol.
    pub fn invalid_symbol() -> ApiError {
        ApiError::new(-1121, "Invalid symbol.")
    }

    /// -1023: `startTime` after `endTime`.
    pub fn start_time_after_end_time() -> ApiError {
        ApiError::new(-1023, "Start time is greater than end time.")
    }

    /// -1127: `startTime`..`endTime` spans more than `hours`.
    pub fn lookup_interval_too_big(hours: i64) -> ApiError {
        ApiError::new(
            -1127,
            format!("More than {hours} hours between startTime and endTime."),
        )
    }

    /// -1128: optional parameters that may not be combined.
    pub fn optional_parameters_bad_combination() -> ApiError {
        ApiError::new(-1128, "Combination of optional parameters invalid.")
    }

    /// -1128: two optional parameters that exclude each other were both sent (Binance's message
    /// for `symbol` with `symbols`).
    pub fn parameters_exclude_each_other(first: &str, second: &str) -> ApiError {
        ApiError::new(
            -1128,
            format!(
                "Combination of optional parameters invalid. Recommendation: '{first}' and '{second}' cannot both be sent."
            ),
        )
    }

    /// -1122: a `symbolStatus` other than the values the endpoint filters on.
    pub fn invalid_symbol_status() -> ApiError {
        ApiError::new(-1122, "Invalid symbolStatus.")
    }

    /// -1139: a ticker `type` other than `FULL` or `MINI`.
    pub fn invalid_ticker_type() -> ApiError {
        ApiError::new(-1139, "Invalid ticker type.")
    }

    /// -1151: a name appears twice in `symbols`.
    pub fn duplicate_symbols() -> ApiError {
        ApiError::new(-1151, "Symbol is present multiple times in the list.")
    }

    /// -1220: the one symbol asked for does not have the requested `symbolStatus`.
    pub fn symbol_does_not_match_status() -> ApiError {
        ApiError::new(
            -1220,
            "The symbol's status does not match the requested symbolStatus.",
        )
    }

    /// -1130: a parameter's value is not one it accepts.
    pub fn invalid_parameter_value(parameter: &str) -> ApiError {
        ApiError::new(
            -1130,
            format!("Data sent for parameter '{parameter}' is not valid."),
        )
    }

    /// -1013: an order fails one of the symbol's filters, e.g. `LOT_SIZE`.
    pub fn filter_failure(filter_type: &str) -> ApiError {
        ApiError::new(-1013, format!("Filter failure: {filter_type}"))
    }

    /// -2010: the account cannot pay for the order.
    pub fn insufficient_balance() -> ApiError {
        ApiError::new(
            -2010,
            "Account has insufficient balance for requested action.",
        )
    }

    /// -2010: the symbol is not trading.
    pub fn market_closed() -> ApiError {
        ApiError::new(-2010, "Market is closed.")
    }

    /// -2010: `quoteOrderQty` on a symbol without `quoteOrderQtyMarketAllowed` (Binance's spelling).
    pub fn quote_order_qty_not_allowed() -> ApiError {
        ApiError::new(
            -2010,
            "Quote order qty market orders are not support for this symbol.",
        )
    }

    /// -2013: no such order for this account and symbol.
    pub fn order_does_not_exist() -> ApiError {
        ApiError::new(-2013, "Order does not exist.")
    }

    /// -2014: the `X-MBX-APIKEY` header is missing or malformed.
    pub fn api_key_format_invalid() -> ApiError {
        ApiError::new(-2014, "API-key format invalid.")
    }

    /// -2015: no account has this API key, or the key is revoked, used from an IP off its
    /// whitelist, or lacks the permission for the action; Binance does not say which.
    pub fn api_key_rejected() -> ApiError {
        ApiError::new(-2015, "Invalid API-key, IP, or permissions for action.")
    }

    /// -2039: `orderId` and `origClientOrderId` name different orders.
    pub fn client_order_id_mismatch() -> ApiError {
        ApiError::new(-2039, "Client order ID is not correct for this order ID.")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.msg)
    }
}

impl std::error::Error for ApiError {}
