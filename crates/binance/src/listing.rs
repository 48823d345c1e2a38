//! Every symbol of a venue at once (`GET /api/v3/exchangeInfo` without a symbol), for choosing
//! what a bot may trade. One symbol whose rules cannot be read is set aside with the reason
//! rather than failing the whole listing: the exchange adds filters and fields over time, and a
//! surprise in one symbol must not hide the others.

use std::sync::Arc;

use market::SymbolRules;
use serde_json::Value;

use crate::client::{Client, EXCHANGE_INFO, read};
use crate::error::BinanceError;

/// The symbols a venue lists, each with its trading rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeListing {
    /// Every symbol whose rules were read, in the exchange's order.
    pub symbols: Vec<SymbolRules>,
    /// The symbols whose rules could not be read: the symbol's name (or `<index N>` when the
    /// entry has none) and what was wrong.
    pub unreadable: Vec<(String, String)>,
}

impl Client {
    /// Every symbol of the venue with its rules (`GET /api/v3/exchangeInfo`, weight 20). Also
    /// installs the answer's `rateLimits` into the rate-limit budgets and refreshes the rules
    /// cache that [`symbol_rules`](Self::symbol_rules) reads. An answer without a `symbols`
    /// array is a malformed answer; one unreadable symbol goes to
    /// [`unreadable`](ExchangeListing::unreadable).
    pub async fn exchange_listing(&self) -> Result<ExchangeListing, BinanceError> {
        let body = self.call(&EXCHANGE_INFO, Vec::new()).await?;
        self.install_rate_limits(&body);
        let listing = read(&EXCHANGE_INFO, &body, |fields| {
            Ok(read_symbols(fields.array("symbols")?))
        })?;
        for rules in &listing.symbols {
            self.cache_rules(Arc::new(rules.clone()));
        }
        Ok(listing)
    }
}

/// Reads every entry of `exchangeInfo.symbols`, setting aside those that cannot be read.
fn read_symbols(entries: &[Value]) -> ExchangeListing {
    let mut listing = ExchangeListing {
        symbols: Vec::with_capacity(entries.len()),
        unreadable: Vec::new(),
    };
    for (index, entry) in entries.iter().enumerate() {
        match SymbolRules::from_symbol_json(entry) {
            Ok(rules) => listing.symbols.push(rules),
            Err(err) => {
                let name = entry
                    .get("symbol")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("<index {index}>"), str::to_owned);
                listing.unreadable.push((name, err.to_string()));
            }
        }
    }
    listing
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn symbol(name: &str) -> Value {
        json!({
            "symbol": name, "status": "TRADING", "baseAsset": &name[..3], "quoteAsset": "USDT",
            "baseAssetPrecision": 8, "quoteAssetPrecision": 8,
            "quoteOrderQtyMarketAllowed": true, "orderTypes": ["MARKET"], "filters": []
        })
    }

    #[test]
    fn unreadable_symbols_are_set_aside_by_name_or_position() {
        let mut no_filters = symbol("ETHUSDT");
        no_filters.as_object_mut().unwrap().remove("filters");
        let entries = [symbol("BTCUSDT"), no_filters, json!(42), symbol("BNBUSDT")];
        let listing = read_symbols(&entries);
        let names: Vec<&str> = listing
            .symbols
            .iter()
            .map(|rules| rules.symbol.as_str())
            .collect();
        assert_eq!(names, ["BTCUSDT", "BNBUSDT"]);
        assert_eq!(listing.unreadable.len(), 2);
        assert_eq!(listing.unreadable[0].0, "ETHUSDT");
        assert!(
            listing.unreadable[0].1.contains("filters"),
            "{}",
            listing.unreadable[0].1
        );
        assert_eq!(listing.unreadable[1].0, "<index 2>");
    }
}
