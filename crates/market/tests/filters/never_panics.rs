//! Robustness: no JSON value, no text and no mutation of a real symbol object makes parsing or
//! normalising panic, and errors on a mutated field name that field.

use market::{Side, SymbolRules, normalize_market_quantity, normalize_market_quote_amount};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::support::*;

/// Field names that the parser looks at, so random objects hit its paths often.
const KNOWN_KEYS: &[&str] = &[
    "symbol",
    "status",
    "baseAsset",
    "quoteAsset",
    "baseAssetPrecision",
    "quoteAssetPrecision",
    "quoteOrderQtyMarketAllowed",
    "orderTypes",
    "filters",
    "filterType",
    "minQty",
    "maxQty",
    "stepSize",
    "minPrice",
    "maxPrice",
    "tickSize",
    "minNotional",
    "maxNotional",
    "applyToMarket",
    "applyMinToMarket",
    "applyMaxToMarket",
    "avgPriceMins",
    "symbols",
    "result",
];

const FILTER_TYPES: &[&str] = &[
    "PRICE_FILTER",
    "LOT_SIZE",
    "MARKET_LOT_SIZE",
    "MIN_NOTIONAL",
    "NOTIONAL",
    "ICEBERG_PARTS",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(KNOWN_KEYS).prop_map(str::to_owned),
        prop::sample::select(FILTER_TYPES).prop_map(str::to_owned),
        "-?[0-9]{0,30}(\\.[0-9]{0,30})?",
        "[A-Z0-9]{0,24}",
        any::<String>(),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((arb_string(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Runs both normalisers with a few sizes and prices; only a panic would fail.
fn normalise_a_few(rules: &SymbolRules) {
    for at in ["0.00000001", "1", "65000.1", "99999999999999999999"] {
        for size in [
            "0",
            "0.0004",
            "1",
            "123.456789",
            "79228162514264337593543950335",
        ] {
            for side in [Side::Buy, Side::Sell] {
                // Formatting for the wire is part of the path that must not panic.
                let _ = normalize_market_quantity(rules, side, price(at), qty(size))
                    .map(|normalized| normalized.to_string());
                let _ = normalize_market_quote_amount(rules, side, price(at), qty(size))
                    .map(|normalized| normalized.to_string());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_any_json_value_never_panics(value in arb_json(), name in "[A-Z0-9]{1,20}") {
        if let Ok(rules) = SymbolRules::from_symbol_json(&value) {
            normalise_a_few(&rules);
        }
        let _ = SymbolRules::from_exchange_info(&value, &name.parse().unwrap());
    }

    #[test]
    fn parsing_any_text_never_panics(text in any::<String>()) {
        let _ = SymbolRules::from_exchange_info_str(&text, &"BTCUSDT".parse().unwrap());
    }

    #[test]
    fn a_mutated_btcusdt_field_never_panics_and_errors_name_the_field(
        filter_index in 0usize..9,
        key in prop::sample::select(KNOWN_KEYS),
        replacement in arb_json(),
    ) {
        let mut document = json(BTCUSDT_LIKE_EXCHANGE_INFO);
        let symbol = &mut document["symbols"][0];
        let (target, path) = if key.starts_with("min") || key.starts_with("max")
            || key.starts_with("apply") || key == "stepSize" || key == "tickSize" || key == "filterType"
        {
            (&mut symbol["filters"][filter_index], format!("symbols[0].filters[{filter_index}]"))
        } else {
            (symbol, "symbols[0]".to_owned())
        };
        let touched_existing = target.get(key).is_some();
        target[key] = replacement;
        match SymbolRules::from_exchange_info(&document, &"BTCUSDT".parse().unwrap()) {
            Ok(rules) => normalise_a_few(&rules),
            Err(err) if touched_existing && key != "symbol" => {
                prop_assert!(err.path.starts_with(&path), "{} does not start with {}", err, path);
            }
            Err(_) => {}
        }
    }
}
