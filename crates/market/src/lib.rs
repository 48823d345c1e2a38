//! Pure exchange domain types shared by every other crate: candles and intervals, decimal prices and
//! quantities, the exchange's symbol filters and the normalisation that makes a MARKET order legal.
//!
//! Nothing here does I/O or knows Binance's wire format beyond parsing the `exchangeInfo` symbol JSON.

mod amount;
pub mod candle;
mod exchange_info;
mod grid;
mod normalize;
mod rules;
mod side;
mod symbol;
mod utc;

pub use amount::{AmountError, Price, Quantity};
pub use candle::{Candle, CandleSeries, Interval, OutOfOrderCandle, UnknownInterval};
pub use exchange_info::{RulesError, RulesProblem};
pub use normalize::{
    NormalizedQuantity, NormalizedQuoteAmount, NotionalFilterKind, QuantityFilterKind, Rejection,
    normalize_market_quantity, normalize_market_quote_amount,
};
pub use rules::{
    LotSizeFilter, MinNotionalFilter, NotionalFilter, OtherFilter, PriceFilter, SymbolRules,
    SymbolStatus,
};
pub use side::{Side, UnknownSide};
pub use symbol::{Symbol, SymbolError};
pub use utc::{format_iso_utc_ms, format_utc_date, format_utc_ms, utc_date};
