//! Fuzz target: arbitrary bytes as `exchangeInfo` JSON into the `SymbolRules` parser, and, when a
//! symbol parses, both MARKET-order normalisers at a few prices and sizes, checking what they
//! promise: an accepted quantity is a multiple of every step, within the desired size and the
//! maximums, at least the minimums, within the notional bounds that apply, and unchanged when
//! normalised again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use market::{
    Price, Quantity, Side, SymbolRules, normalize_market_quantity, normalize_market_quote_amount,
};
use rust_decimal::Decimal;
use serde_json::Value;

const PRICES: [&str; 4] = ["0.00000001", "1", "65000.1", "12345678901234567890"];
const SIZES: [&str; 5] = [
    "0.0004",
    "1",
    "123.456789",
    "1000000",
    "79228162514264337593543950335",
];

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let from_object = SymbolRules::from_symbol_json(&document);
    let from_listing = document
        .pointer("/symbols/0/symbol")
        .or_else(|| document.pointer("/result/symbols/0/symbol"))
        .and_then(Value::as_str)
        .and_then(|name| name.parse().ok())
        .map(|symbol| SymbolRules::from_exchange_info(&document, &symbol));
    for rules in [Some(from_object), from_listing]
        .into_iter()
        .flatten()
        .flatten()
    {
        check_normalisers(&rules);
    }
});

fn check_normalisers(rules: &SymbolRules) {
    for price in PRICES.map(|text| text.parse::<Price>().unwrap()) {
        for desired in SIZES.map(|text| text.parse::<Quantity>().unwrap()) {
            for side in [Side::Buy, Side::Sell] {
                check_quantity(rules, side, price, desired);
                check_quote_amount(rules, side, price, desired);
            }
        }
    }
}

fn check_quantity(rules: &SymbolRules, side: Side, price: Price, desired: Quantity) {
    let Ok(normalized) = normalize_market_quantity(rules, side, price, desired) else {
        return;
    };
    let quantity = normalized.quantity();
    assert!(
        !quantity.is_zero() && quantity <= desired,
        "{quantity} from {desired}"
    );
    for filter in [rules.lot_size, rules.market_lot_size]
        .into_iter()
        .flatten()
    {
        let step = filter.step_size.get();
        assert!(
            step.is_zero() || (quantity.get() % step).is_zero(),
            "{quantity} off step {step}"
        );
        assert!(filter.max_qty.is_zero() || quantity <= filter.max_qty);
        assert!(quantity >= filter.min_qty);
    }
    let notional = quantity
        .get()
        .checked_mul(price.get())
        .expect("accepted, so in range");
    if let Some(filter) = rules.min_notional.filter(|filter| filter.apply_to_market) {
        assert!(
            notional >= filter.min_notional,
            "notional {notional} below MIN_NOTIONAL"
        );
    }
    if let Some(filter) = rules.notional {
        assert!(!filter.apply_min_to_market || notional >= filter.min_notional);
        let max_applies = filter.apply_max_to_market && !filter.max_notional.is_zero();
        assert!(
            !max_applies || notional <= filter.max_notional,
            "notional {notional} above max"
        );
    }
    let text = normalized.to_string();
    assert_eq!(
        text.parse::<Decimal>().ok(),
        Some(quantity.get()),
        "wire {text} for {quantity}"
    );
    assert_eq!(
        normalize_market_quantity(rules, side, price, quantity),
        Ok(normalized),
        "not idempotent"
    );
}

fn check_quote_amount(rules: &SymbolRules, side: Side, price: Price, requested: Quantity) {
    let Ok(normalized) = normalize_market_quote_amount(rules, side, price, requested) else {
        return;
    };
    let amount = normalized.amount();
    assert!(
        !amount.is_zero() && amount <= requested,
        "{amount} from {requested}"
    );
    assert!(amount.get().normalize().scale() <= rules.quote_asset_precision);
    assert_eq!(
        normalize_market_quote_amount(rules, side, price, amount),
        Ok(normalized),
        "not idempotent"
    );
}
