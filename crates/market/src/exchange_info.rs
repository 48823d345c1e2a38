//! Reading [`SymbolRules`] from Binance's `exchangeInfo` JSON (the REST body, or the WebSocket-API
//! envelope whose `result` holds it), with errors that name the JSON path and the bad value.
//!
//! The walk is done by hand over `serde_json::Value` rather than with derived `Deserialize`, so that
//! every error can say exactly where it is, e.g.
//! `symbols[0].filters[2] (LOT_SIZE).stepSize: "abc" is not a decimal number`.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::amount::{AmountError, Price, Quantity, parse_plain_decimal};
use crate::rules::{
    LotSizeFilter, MinNotionalFilter, NotionalFilter, OtherFilter, PriceFilter, SymbolRules,
    SymbolStatus,
};
use crate::symbol::{Symbol, SymbolError};

/// How many characters of an offending JSON value an error message quotes.
const QUOTED_VALUE_MAX_CHARS: usize = 60;

/// Why `exchangeInfo` JSON could not be read, and where.
///
/// ```
/// use market::SymbolRules;
/// let json = serde_json::json!({"symbols": [{"symbol": "BTCUSDT", "status": "TRADING",
///     "baseAsset": "BTC", "quoteAsset": "USDT", "baseAssetPrecision": 8,
///     "quoteAssetPrecision": 8, "quoteOrderQtyMarketAllowed": true, "orderTypes": ["MARKET"],
///     "filters": [{"filterType": "LOT_SIZE", "minQty": "0", "maxQty": "0", "stepSize": "abc"}]}]});
/// let err = SymbolRules::from_exchange_info(&json, &"BTCUSDT".parse().unwrap()).unwrap_err();
/// assert_eq!(err.to_string(),
///     r#"symbols[0].filters[0] (LOT_SIZE).stepSize: "abc" is not a decimal number"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct RulesError {
    /// Where the problem is, e.g. `symbols[0].filters[2] (LOT_SIZE).stepSize`; empty for the
    /// document itself. A filter's position is followed by its type in parentheses.
    pub path: String,
    /// What is wrong there.
    pub problem: RulesProblem,
}

/// What is wrong at a [`RulesError::path`]. Offending values are quoted as JSON, shortened to
/// 60 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesProblem {
    /// The text is not JSON at all.
    #[error("invalid JSON: {reason}")]
    InvalidJson {
        /// The JSON parser's explanation, with line and column.
        reason: String,
    },
    /// A required field is absent.
    #[error("missing")]
    Missing,
    /// A value has the wrong JSON type or range.
    #[error("{found} is not {expected}")]
    WrongType {
        /// What was expected, e.g. `"a string"`.
        expected: &'static str,
        /// The value found.
        found: String,
    },
    /// A decimal field's string is not a plain decimal number.
    #[error("{found} is not a decimal number")]
    NotADecimal {
        /// The value found.
        found: String,
    },
    /// A decimal field is below zero.
    #[error("{found} is negative")]
    Negative {
        /// The value found.
        found: String,
    },
    /// The `symbol` field is not a valid [`Symbol`].
    #[error(transparent)]
    InvalidSymbol(#[from] SymbolError),
    /// A filter type appears twice, so which one holds is unclear.
    #[error("second {filter_type} filter (the first is filters[{first_index}])")]
    DuplicateFilter {
        /// The repeated `filterType`.
        filter_type: &'static str,
        /// The position of its first occurrence.
        first_index: usize,
    },
    /// No entry of `symbols` has the requested symbol.
    #[error("no entry for {symbol} among {listed} symbols")]
    SymbolNotFound {
        /// The symbol looked for.
        symbol: Symbol,
        /// How many entries `symbols` has.
        listed: usize,
    },
}

impl RulesError {
    fn new(path: impl Into<String>, problem: RulesProblem) -> RulesError {
        RulesError {
            path: path.into(),
            problem,
        }
    }
}

impl SymbolRules {
    /// Reads one entry of `exchangeInfo.symbols`.
    ///
    /// Required: `symbol`, `status`, `baseAsset`, `quoteAsset`, `baseAssetPrecision`,
    /// `quoteAssetPrecision`, `quoteOrderQtyMarketAllowed`, `orderTypes` and `filters`; within a known
    /// filter, every documented field. Decimal fields must be JSON strings. Unknown fields are
    /// ignored and unknown filter types are kept in [`SymbolRules::other_filters`]. Error paths are
    /// relative to the object, e.g. `filters[1] (LOT_SIZE).minQty`.
    pub fn from_symbol_json(symbol_object: &Value) -> Result<SymbolRules, RulesError> {
        parse_symbol(symbol_object, String::new())
    }

    /// Finds `symbol` in a whole `exchangeInfo` answer and reads its rules, as
    /// [`from_symbol_json`](Self::from_symbol_json) does. Accepts the REST body
    /// (`{"symbols": [...]}`) and the WebSocket-API envelope (`{"result": {"symbols": [...]}}`).
    /// Other symbols' entries are not validated.
    pub fn from_exchange_info(
        exchange_info: &Value,
        symbol: &Symbol,
    ) -> Result<SymbolRules, RulesError> {
        let (body, body_path) = match exchange_info.get("result") {
            Some(result) if exchange_info.get("symbols").is_none() => (result, "result"),
            _ => (exchange_info, ""),
        };
        let body = JsonObject::new(body, body_path.to_owned())?;
        let symbols = body.array("symbols")?;
        let symbols_path = body.path_of("symbols");
        let position = symbols
            .iter()
            .position(|entry| entry.get("symbol").and_then(Value::as_str) == Some(symbol.as_str()));
        match position {
            Some(index) => parse_symbol(&symbols[index], format!("{symbols_path}[{index}]")),
            None => Err(RulesError::new(
                symbols_path,
                RulesProblem::SymbolNotFound {
                    symbol: symbol.clone(),
                    listed: symbols.len(),
                },
            )),
        }
    }

    /// Like [`from_exchange_info`](Self::from_exchange_info), from the JSON text.
    pub fn from_exchange_info_str(text: &str, symbol: &Symbol) -> Result<SymbolRules, RulesError> {
        let document: Value = serde_json::from_str(text).map_err(|err| {
            RulesError::new(
                "",
                RulesProblem::InvalidJson {
                    reason: err.to_string(),
                },
            )
        })?;
        SymbolRules::from_exchange_info(&document, symbol)
    }
}

fn parse_symbol(value: &Value, path: String) -> Result<SymbolRules, RulesError> {
    let object = JsonObject::new(value, path)?;
    let symbol = Symbol::new(object.string("symbol")?)
        .map_err(|err| RulesError::new(object.path_of("symbol"), err.into()))?;
    let order_types = object
        .array("orderTypes")?
        .iter()
        .enumerate()
        .map(|(index, kind)| {
            kind.as_str().map(str::to_owned).ok_or_else(|| {
                wrong_type(
                    object.path_of(&format!("orderTypes[{index}]")),
                    "a string",
                    kind,
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut rules = SymbolRules {
        symbol,
        status: SymbolStatus::from_binance(object.string("status")?),
        base_asset: object.asset("baseAsset")?,
        quote_asset: object.asset("quoteAsset")?,
        base_asset_precision: object.small_integer("baseAssetPrecision")?,
        quote_asset_precision: object.small_integer("quoteAssetPrecision")?,
        quote_order_qty_market_allowed: object.boolean("quoteOrderQtyMarketAllowed")?,
        order_types,
        price_filter: None,
        lot_size: None,
        market_lot_size: None,
        min_notional: None,
        notional: None,
        other_filters: Vec::new(),
    };
    let filters_path = object.path_of("filters");
    let mut first_index_by_type: HashMap<&'static str, usize> = HashMap::new();
    for (index, entry) in object.array("filters")?.iter().enumerate() {
        let entry_path = format!("{filters_path}[{index}]");
        let filter_type = JsonObject::new(entry, entry_path.clone())?.string("filterType")?;
        let filter = JsonObject::new(entry, format!("{entry_path} ({})", shorten(filter_type)))?;
        let known_type = match filter_type {
            "PRICE_FILTER" => {
                rules.price_filter = Some(PriceFilter {
                    min_price: filter.price("minPrice")?,
                    max_price: filter.price("maxPrice")?,
                    tick_size: filter.price("tickSize")?,
                });
                "PRICE_FILTER"
            }
            "LOT_SIZE" => {
                rules.lot_size = Some(filter.lot_size()?);
                "LOT_SIZE"
            }
            "MARKET_LOT_SIZE" => {
                rules.market_lot_size = Some(filter.lot_size()?);
                "MARKET_LOT_SIZE"
            }
            "MIN_NOTIONAL" => {
                rules.min_notional = Some(MinNotionalFilter {
                    min_notional: filter.decimal("minNotional")?,
                    apply_to_market: filter.boolean("applyToMarket")?,
                    avg_price_mins: filter.small_integer("avgPriceMins")?,
                });
                "MIN_NOTIONAL"
            }
            "NOTIONAL" => {
                rules.notional = Some(NotionalFilter {
                    min_notional: filter.decimal("minNotional")?,
                    apply_min_to_market: filter.boolean("applyMinToMarket")?,
                    max_notional: filter.decimal("maxNotional")?,
                    apply_max_to_market: filter.boolean("applyMaxToMarket")?,
                    avg_price_mins: filter.small_integer("avgPriceMins")?,
                });
                "NOTIONAL"
            }
            other => {
                rules.other_filters.push(OtherFilter {
                    filter_type: other.to_owned(),
                    raw: entry.clone(),
                });
                continue;
            }
        };
        if let Some(&first_index) = first_index_by_type.get(known_type) {
            return Err(RulesError::new(
                filter.path,
                RulesProblem::DuplicateFilter {
                    filter_type: known_type,
                    first_index,
                },
            ));
        }
        first_index_by_type.insert(known_type, index);
    }
    Ok(rules)
}

/// A JSON object and its path, with typed field readers whose errors carry the field's path.
struct JsonObject<'a> {
    fields: &'a Map<String, Value>,
    path: String,
}

impl<'a> JsonObject<'a> {
    fn new(value: &'a Value, path: String) -> Result<JsonObject<'a>, RulesError> {
        match value.as_object() {
            Some(fields) => Ok(JsonObject { fields, path }),
            None => Err(wrong_type(path, "an object", value)),
        }
    }

    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn required(&self, key: &str) -> Result<&'a Value, RulesError> {
        self.fields
            .get(key)
            .ok_or_else(|| RulesError::new(self.path_of(key), RulesProblem::Missing))
    }

    fn string(&self, key: &str) -> Result<&'a str, RulesError> {
        let value = self.required(key)?;
        value
            .as_str()
            .ok_or_else(|| wrong_type(self.path_of(key), "a string", value))
    }

    fn asset(&self, key: &str) -> Result<String, RulesError> {
        match self.string(key)? {
            "" => Err(wrong_type(
                self.path_of(key),
                "an asset name",
                &Value::from(""),
            )),
            name => Ok(name.to_owned()),
        }
    }

    fn boolean(&self, key: &str) -> Result<bool, RulesError> {
        let value = self.required(key)?;
        value
            .as_bool()
            .ok_or_else(|| wrong_type(self.path_of(key), "true or false", value))
    }

    fn small_integer(&self, key: &str) -> Result<u32, RulesError> {
        let value = self.required(key)?;
        value
            .as_u64()
            .and_then(|number| u32::try_from(number).ok())
            .ok_or_else(|| wrong_type(self.path_of(key), "an integer from 0 to 4294967295", value))
    }

    fn array(&self, key: &str) -> Result<&'a Vec<Value>, RulesError> {
        let value = self.required(key)?;
        value
            .as_array()
            .ok_or_else(|| wrong_type(self.path_of(key), "an array", value))
    }

    /// A non-negative decimal sent as a JSON string, as Binance sends every decimal, wrapped by
    /// `make` (which refuses negatives).
    fn amount<T>(
        &self,
        key: &str,
        make: impl FnOnce(Decimal) -> Result<T, AmountError>,
    ) -> Result<T, RulesError> {
        let value = self.required(key)?;
        let text = value.as_str().ok_or_else(|| {
            wrong_type(
                self.path_of(key),
                "a string (decimals are sent as strings)",
                value,
            )
        })?;
        let problem = match parse_plain_decimal(text).map(make) {
            Some(Ok(amount)) => return Ok(amount),
            Some(Err(_)) => RulesProblem::Negative {
                found: quote(value),
            },
            None => RulesProblem::NotADecimal {
                found: quote(value),
            },
        };
        Err(RulesError::new(self.path_of(key), problem))
    }

    fn decimal(&self, key: &str) -> Result<Decimal, RulesError> {
        self.amount(key, Quantity::new).map(Quantity::get)
    }

    fn quantity(&self, key: &str) -> Result<Quantity, RulesError> {
        self.amount(key, Quantity::new)
    }

    fn price(&self, key: &str) -> Result<Price, RulesError> {
        self.amount(key, Price::new)
    }

    fn lot_size(&self) -> Result<LotSizeFilter, RulesError> {
        Ok(LotSizeFilter {
            min_qty: self.quantity("minQty")?,
            max_qty: self.quantity("maxQty")?,
            step_size: self.quantity("stepSize")?,
        })
    }
}

fn wrong_type(path: String, expected: &'static str, found: &Value) -> RulesError {
    RulesError::new(
        path,
        RulesProblem::WrongType {
            expected,
            found: quote(found),
        },
    )
}

/// The value as JSON text, shortened for an error message.
fn quote(value: &Value) -> String {
    shorten(&value.to_string())
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= QUOTED_VALUE_MAX_CHARS {
        return text.to_owned();
    }
    let kept: String = text.chars().take(QUOTED_VALUE_MAX_CHARS - 3).collect();
    format!("{kept}...")
}
