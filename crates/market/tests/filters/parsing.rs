//! Parsing `exchangeInfo` symbol objects: the documentation fixtures, a BTCUSDT-like symbol, and
//! the error messages for bad input.

use market::{
    LotSizeFilter, MinNotionalFilter, NotionalFilter, PriceFilter, RulesProblem, SymbolRules,
    SymbolStatus,
};
use serde_json::{Value, json};

use crate::support::*;

fn parse_error(symbol_object: &Value) -> String {
    SymbolRules::from_symbol_json(symbol_object)
        .expect_err("should not parse")
        .to_string()
}

#[test]
fn every_filter_fixture_is_read_into_its_typed_field() {
    let rules = SymbolRules::from_symbol_json(&skeleton_symbol_with_all_filter_fixtures()).unwrap();
    assert_eq!(
        rules.price_filter,
        Some(PriceFilter {
            min_price: price("0.000001"),
            max_price: price("100000"),
            tick_size: price("0.000001"),
        })
    );
    let expected_lot = LotSizeFilter {
        min_qty: qty("0.001"),
        max_qty: qty("100000"),
        step_size: qty("0.001"),
    };
    assert_eq!(rules.lot_size, Some(expected_lot));
    assert_eq!(rules.market_lot_size, Some(expected_lot));
    assert_eq!(
        rules.min_notional,
        Some(MinNotionalFilter {
            min_notional: dec("0.001"),
            apply_to_market: true,
            avg_price_mins: 5,
        })
    );
    assert_eq!(
        rules.notional,
        Some(NotionalFilter {
            min_notional: dec("10"),
            apply_min_to_market: false,
            max_notional: dec("10000"),
            apply_max_to_market: false,
            avg_price_mins: 5,
        })
    );
}

#[test]
fn filters_this_crate_does_not_use_are_kept_verbatim() {
    let rules = SymbolRules::from_symbol_json(&skeleton_symbol_with_all_filter_fixtures()).unwrap();
    let kept: Vec<&str> = rules
        .other_filters
        .iter()
        .map(|filter| filter.filter_type.as_str())
        .collect();
    assert_eq!(
        kept,
        ["PERCENT_PRICE", "PERCENT_PRICE_BY_SIDE", "MAX_NUM_ORDERS"]
    );
    assert_eq!(rules.other_filters[2].raw, json(FILTER_MAX_NUM_ORDERS));
}

#[test]
fn the_skeletons_symbol_fields_are_read() {
    let rules = SymbolRules::from_exchange_info_str(
        REST_EXCHANGE_INFO_SKELETON,
        &"ETHBTC".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(rules.symbol.as_str(), "ETHBTC");
    assert_eq!(rules.status, SymbolStatus::Trading);
    assert_eq!(
        (rules.base_asset.as_str(), rules.quote_asset.as_str()),
        ("ETH", "BTC")
    );
    assert_eq!(
        (rules.base_asset_precision, rules.quote_asset_precision),
        (8, 8)
    );
    assert!(rules.quote_order_qty_market_allowed);
    assert!(rules.allows_market_orders());
    assert_eq!(rules.order_types.len(), 7);
    assert_eq!(rules.lot_size, None);
    assert_eq!(rules.notional, None);
    assert!(rules.other_filters.is_empty());
}

#[test]
fn the_websocket_api_envelope_is_unwrapped() {
    let rules =
        SymbolRules::from_exchange_info_str(WSAPI_EXCHANGE_INFO, &"BNBBTC".parse().unwrap())
            .unwrap();
    assert_eq!(rules.base_asset, "BNB");
    assert_eq!(rules.lot_size.unwrap().step_size, qty("0.001"));
    assert_eq!(rules.market_lot_size, None);
    assert!(rules.price_filter.is_some());
}

#[test]
fn the_btcusdt_like_symbol_has_a_market_lot_size_with_only_a_maximum() {
    let rules = btcusdt_like();
    assert_eq!(rules.lot_size, Some(lot("0.00001", "9000", "0.00001")));
    assert_eq!(rules.market_lot_size, Some(lot("0", "74.05811062", "0")));
    let notional = rules.notional.unwrap();
    assert_eq!(notional.min_notional, dec("5"));
    assert!(notional.apply_min_to_market && !notional.apply_max_to_market);
    assert_eq!(rules.min_notional, None);
    assert_eq!(rules.other_filters.len(), 5);
}

#[test]
fn errors_in_a_whole_exchange_info_name_the_path_from_its_root() {
    let mut document = json(REST_EXCHANGE_INFO_SKELETON);
    document["symbols"][0]["filters"] = json!([
        json(FILTER_PRICE_FILTER),
        json(FILTER_PERCENT_PRICE),
        {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "100", "stepSize": "abc"},
    ]);
    let err = SymbolRules::from_exchange_info(&document, &"ETHBTC".parse().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"symbols[0].filters[2] (LOT_SIZE).stepSize: "abc" is not a decimal number"#
    );
    assert_eq!(err.path, "symbols[0].filters[2] (LOT_SIZE).stepSize");

    let mut envelope = json(WSAPI_EXCHANGE_INFO);
    envelope["result"]["symbols"][0]["baseAssetPrecision"] = json!(-1);
    let err = SymbolRules::from_exchange_info(&envelope, &"BNBBTC".parse().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "result.symbols[0].baseAssetPrecision: -1 is not an integer from 0 to 4294967295"
    );
}

#[test]
fn decimals_must_be_strings_in_plain_notation_and_not_negative() {
    let with_lot = |lot: Value| skeleton_symbol_with_filters(vec![lot]);
    assert_eq!(
        parse_error(&with_lot(
            json!({"filterType": "LOT_SIZE", "minQty": 0.001, "maxQty": "1", "stepSize": "1"})
        )),
        "filters[0] (LOT_SIZE).minQty: 0.001 is not a string (decimals are sent as strings)"
    );
    assert_eq!(
        parse_error(&with_lot(
            json!({"filterType": "LOT_SIZE", "minQty": "1e-3", "maxQty": "1", "stepSize": "1"})
        )),
        r#"filters[0] (LOT_SIZE).minQty: "1e-3" is not a decimal number"#
    );
    assert_eq!(
        parse_error(&with_lot(
            json!({"filterType": "LOT_SIZE", "minQty": "0", "maxQty": "-5", "stepSize": "1"})
        )),
        r#"filters[0] (LOT_SIZE).maxQty: "-5" is negative"#
    );
    assert_eq!(
        parse_error(&with_lot(
            json!({"filterType": "LOT_SIZE", "minQty": "0", "maxQty": "1"})
        )),
        "filters[0] (LOT_SIZE).stepSize: missing"
    );
}

#[test]
fn notional_flags_must_be_booleans() {
    let mut notional = json(FILTER_NOTIONAL);
    notional["applyMinToMarket"] = json!("true");
    assert_eq!(
        parse_error(&skeleton_symbol_with_filters(vec![notional])),
        r#"filters[0] (NOTIONAL).applyMinToMarket: "true" is not true or false"#
    );
}

#[test]
fn malformed_filter_entries_are_errors() {
    assert_eq!(
        parse_error(&skeleton_symbol_with_filters(vec![json!("LOT_SIZE")])),
        r#"filters[0]: "LOT_SIZE" is not an object"#
    );
    assert_eq!(
        parse_error(&skeleton_symbol_with_filters(vec![json!({"minQty": "1"})])),
        "filters[0].filterType: missing"
    );
    assert_eq!(
        parse_error(&skeleton_symbol_with_filters(vec![
            json(FILTER_LOT_SIZE),
            json(FILTER_LOT_SIZE)
        ])),
        "filters[1] (LOT_SIZE): second LOT_SIZE filter (the first is filters[0])"
    );
}

#[test]
fn unknown_filter_types_are_kept_without_validating_them() {
    let rules = SymbolRules::from_symbol_json(&skeleton_symbol_with_filters(vec![
        json!({"filterType": "SOMETHING_NEW", "limit": "not a number"}),
    ]))
    .unwrap();
    assert_eq!(rules.other_filters[0].filter_type, "SOMETHING_NEW");
}

#[test]
fn symbol_level_fields_are_checked() {
    let mut symbol = skeleton_symbol_with_filters(vec![]);
    symbol["symbol"] = json!("eth-btc");
    assert_eq!(
        parse_error(&symbol),
        "symbol: invalid symbol \"eth-btc\": 'e' at position 0 is not an upper-case ASCII letter or digit"
    );

    let mut symbol = skeleton_symbol_with_filters(vec![]);
    symbol
        .as_object_mut()
        .unwrap()
        .remove("quoteAssetPrecision");
    assert_eq!(parse_error(&symbol), "quoteAssetPrecision: missing");

    let mut symbol = skeleton_symbol_with_filters(vec![]);
    symbol["orderTypes"] = json!(["LIMIT", 7]);
    assert_eq!(parse_error(&symbol), "orderTypes[1]: 7 is not a string");

    let mut symbol = skeleton_symbol_with_filters(vec![]);
    symbol["baseAsset"] = json!("");
    assert_eq!(
        parse_error(&symbol),
        r#"baseAsset: "" is not an asset name"#
    );

    assert_eq!(parse_error(&json!([1, 2])), "[1,2] is not an object");
}

#[test]
fn every_documented_status_is_known_and_others_are_kept() {
    for (text, status) in [
        ("TRADING", SymbolStatus::Trading),
        ("END_OF_DAY", SymbolStatus::EndOfDay),
        ("HALT", SymbolStatus::Halt),
        ("BREAK", SymbolStatus::Break),
        ("CANCEL_ONLY", SymbolStatus::CancelOnly),
        ("PRE_TRADING", SymbolStatus::Other("PRE_TRADING".into())),
    ] {
        let mut symbol = skeleton_symbol_with_filters(vec![]);
        symbol["status"] = json!(text);
        let rules = SymbolRules::from_symbol_json(&symbol).unwrap();
        assert_eq!(rules.status, status);
        assert_eq!(rules.status.to_string(), text);
    }
}

#[test]
fn lookup_failures_are_explained() {
    let err = SymbolRules::from_exchange_info_str(
        REST_EXCHANGE_INFO_SKELETON,
        &"BTCUSDT".parse().unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "symbols: no entry for BTCUSDT among 1 symbols"
    );
    assert!(matches!(
        err.problem,
        RulesProblem::SymbolNotFound { listed: 1, .. }
    ));

    let err = SymbolRules::from_exchange_info_str("{\"symbols\": [", &"BTCUSDT".parse().unwrap())
        .unwrap_err();
    assert!(err.path.is_empty());
    assert!(
        err.to_string()
            .starts_with("invalid JSON: EOF while parsing"),
        "{err}"
    );

    let err = SymbolRules::from_exchange_info_str("{}", &"BTCUSDT".parse().unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "symbols: missing");
}

#[test]
fn long_offending_values_are_shortened_in_messages() {
    let mut symbol = skeleton_symbol_with_filters(vec![]);
    symbol["status"] = json!(["x".repeat(500)]);
    let message = parse_error(&symbol);
    assert!(message.len() < 120, "{message}");
    assert!(message.starts_with("status: [\"xxx"), "{message}");
    assert!(message.ends_with("... is not a string"), "{message}");
}
