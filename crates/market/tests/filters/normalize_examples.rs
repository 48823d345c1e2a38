//! MARKET-order normalisation on the fixtures and on hand-written rules: one test per rule, with
//! the exact wire string or rejection message a trader would see.

use market::{
    NotionalFilterKind, Price, Quantity, QuantityFilterKind, Rejection, Side, SymbolRules,
    SymbolStatus, normalize_market_quantity, normalize_market_quote_amount,
};
use rust_decimal::Decimal;
use serde_json::json;

use crate::support::*;

fn wire(rules: &SymbolRules, side: Side, at: &str, desired: &str) -> String {
    let normalized = normalize_market_quantity(rules, side, price(at), qty(desired))
        .unwrap_or_else(|rejection| panic!("{desired} at {at} rejected: {rejection}"));
    // Whatever came out is accepted unchanged the second time.
    assert_eq!(
        normalize_market_quantity(rules, side, price(at), normalized.quantity()),
        Ok(normalized)
    );
    normalized.to_string()
}

fn rejection(rules: &SymbolRules, side: Side, at: &str, desired: &str) -> Rejection {
    normalize_market_quantity(rules, side, price(at), qty(desired)).expect_err("should be rejected")
}

fn quote_wire(rules: &SymbolRules, at: &str, amount: &str) -> String {
    normalize_market_quote_amount(rules, Side::Buy, price(at), qty(amount))
        .unwrap_or_else(|rejection| panic!("{amount} at {at} rejected: {rejection}"))
        .to_string()
}

fn quote_rejection(rules: &SymbolRules, at: &str, amount: &str) -> String {
    normalize_market_quote_amount(rules, Side::Buy, price(at), qty(amount))
        .expect_err("should be rejected")
        .to_string()
}

fn fixture_rules() -> SymbolRules {
    SymbolRules::from_symbol_json(&skeleton_symbol_with_all_filter_fixtures()).unwrap()
}

// --- BTCUSDT-like: LOT_SIZE step 0.00001, MARKET_LOT_SIZE max 74.05811062 only, NOTIONAL min 5.

#[test]
fn btcusdt_quantity_is_floored_to_the_lot_step_with_its_decimals() {
    let rules = btcusdt_like();
    assert_eq!(
        wire(&rules, Side::Buy, "65000.10", "0.123456789"),
        "0.12345"
    );
    assert_eq!(wire(&rules, Side::Sell, "65000.10", "0.1"), "0.10000");
}

#[test]
fn btcusdt_zero_market_lot_step_and_min_are_no_constraint_but_its_max_caps() {
    let rules = btcusdt_like();
    assert_eq!(wire(&rules, Side::Buy, "65000", "100"), "74.05811");
    assert_eq!(wire(&rules, Side::Buy, "65000", "0.00008"), "0.00008");
}

#[test]
fn btcusdt_below_min_qty_and_below_min_notional_are_skips_with_reasons() {
    let rules = btcusdt_like();
    let below_qty = rejection(&rules, Side::Buy, "65000", "0.000004");
    assert_eq!(
        below_qty,
        Rejection::BelowMinQty {
            side: Side::Buy,
            filter: QuantityFilterKind::LotSize,
            min_qty: qty("0.00001"),
            qty: qty("0.000004"),
            asset: "BTC".into(),
        }
    );
    assert_eq!(
        below_qty.to_string(),
        "order skipped: BUY 0.000004 BTC is below LOT_SIZE minQty 0.00001"
    );
    let below_notional = rejection(&rules, Side::Sell, "65000", "0.000079");
    assert_eq!(
        below_notional,
        Rejection::BelowMinNotional {
            side: Side::Sell,
            filter: NotionalFilterKind::Notional,
            min_notional: dec("5"),
            notional: dec("4.55"),
            asset: "USDT".into(),
        }
    );
    assert_eq!(
        below_notional.to_string(),
        "order skipped: SELL worth 4.55 USDT is below NOTIONAL minNotional 5"
    );
}

#[test]
fn btcusdt_quote_amount_is_truncated_to_the_quote_precision() {
    let rules = btcusdt_like();
    assert_eq!(quote_wire(&rules, "65000", "100.123456789"), "100.12345678");
    assert_eq!(
        quote_rejection(&rules, "65000", "4.99"),
        "order skipped: BUY worth 4.99 USDT is below NOTIONAL minNotional 5"
    );
}

#[test]
fn btcusdt_quote_amount_must_buy_at_least_the_min_qty() {
    let rules = btcusdt_like();
    assert_eq!(
        quote_rejection(&rules, "10000000", "50"),
        "order skipped: BUY 0.000005 BTC is below LOT_SIZE minQty 0.00001"
    );
}

#[test]
fn btcusdt_quote_amount_is_reduced_to_what_buys_the_max_qty() {
    let rules = btcusdt_like();
    // 74.05811062 * 65000 = 4813777.1903
    assert_eq!(quote_wire(&rules, "65000", "10000000"), "4813777.19030000");
}

#[test]
fn quote_amounts_need_quote_order_qty_market_allowed() {
    let rules = SymbolRules {
        quote_order_qty_market_allowed: false,
        ..btcusdt_like()
    };
    assert_eq!(
        quote_rejection(&rules, "65000", "100"),
        "order skipped: BTCUSDT does not accept MARKET orders sized by quote amount (quoteOrderQtyMarketAllowed is false)"
    );
}

#[test]
fn quote_amount_below_the_quote_precision_rounds_to_zero() {
    let rules = SymbolRules {
        quote_asset_precision: 2,
        ..btcusdt_like()
    };
    assert_eq!(
        quote_rejection(&rules, "65000", "0.004"),
        "order skipped: BUY 0.004 USDT rounds down to 0 at step 0.01"
    );
}

// --- The documentation's filter fixtures: LOT_SIZE and MARKET_LOT_SIZE step 0.001,
// MIN_NOTIONAL 0.001 applied to MARKET, NOTIONAL not applied to MARKET.

#[test]
fn fixture_step_gives_three_decimals_on_the_wire() {
    let rules = fixture_rules();
    assert_eq!(wire(&rules, Side::Buy, "0.05", "0.12"), "0.120");
    assert_eq!(wire(&rules, Side::Buy, "0.05", "0.1239"), "0.123");
}

#[test]
fn fixture_min_qty_rejection_reads_like_a_trader_would_say_it() {
    assert_eq!(
        rejection(&fixture_rules(), Side::Buy, "0.05", "0.0004").to_string(),
        "order skipped: BUY 0.0004 ETH is below LOT_SIZE minQty 0.001"
    );
}

#[test]
fn fixture_min_notional_applies_to_market_orders() {
    assert_eq!(
        rejection(&fixture_rules(), Side::Buy, "0.01", "0.05").to_string(),
        "order skipped: BUY worth 0.0005 BTC is below MIN_NOTIONAL minNotional 0.001"
    );
}

#[test]
fn fixture_notional_does_not_apply_to_market_orders_unless_flagged() {
    // NOTIONAL min 10 and max 10000, but neither applies to MARKET orders in the fixture.
    assert_eq!(wire(&fixture_rules(), Side::Buy, "100", "0.05"), "0.050");
    assert_eq!(wire(&fixture_rules(), Side::Buy, "100", "150"), "150.000");
}

fn fixture_rules_with_market_notional() -> SymbolRules {
    let mut notional = json(FILTER_NOTIONAL);
    notional["applyMinToMarket"] = json!(true);
    notional["applyMaxToMarket"] = json!(true);
    SymbolRules::from_symbol_json(&skeleton_symbol_with_filters(vec![
        json(FILTER_LOT_SIZE),
        json(FILTER_MARKET_LOT_SIZE),
        notional,
    ]))
    .unwrap()
}

#[test]
fn above_max_notional_the_quantity_is_reduced_to_the_largest_legal_one() {
    let rules = fixture_rules_with_market_notional();
    // 150 * 100 = 15000 > 10000: the largest multiple of 0.001 worth at most 10000 is 100.
    assert_eq!(wire(&rules, Side::Buy, "100", "150"), "100.000");
    // 10000 / 65000.1 = 0.15384591..., floored to 0.153.
    assert_eq!(wire(&rules, Side::Buy, "65000.1", "1"), "0.153");
}

#[test]
fn above_max_notional_with_nothing_legal_below_it_is_a_rejection() {
    let rules = fixture_rules_with_market_notional();
    // At 20,000,000 even the smallest lot (0.001) is worth 20000 > 10000.
    let rejection = rejection(&rules, Side::Buy, "20000000", "0.001");
    assert_eq!(
        rejection,
        Rejection::AboveMaxNotional {
            side: Side::Buy,
            max_notional: dec("10000"),
            notional: dec("20000"),
            asset: "BTC".into(),
        }
    );
    assert_eq!(
        rejection.to_string(),
        "order skipped: BUY worth 20000 BTC is above NOTIONAL maxNotional 10000, and every smaller legal size is below a minimum"
    );
}

#[test]
fn quote_amount_above_max_notional_is_reduced_to_it() {
    let rules = fixture_rules_with_market_notional();
    assert_eq!(quote_wire(&rules, "100", "12345.678"), "10000.00000000");
    assert_eq!(
        quote_rejection(&rules, "100", "9.99"),
        "order skipped: BUY worth 9.99 BTC is below NOTIONAL minNotional 10"
    );
}

// --- Hand-written rules for the corners.

#[test]
fn both_steps_must_hold_so_the_coarser_one_decides() {
    let rules = SymbolRules {
        lot_size: Some(lot("0", "0", "0.001")),
        market_lot_size: Some(lot("0", "0", "0.01")),
        ..bare_rules(8)
    };
    assert_eq!(wire(&rules, Side::Buy, "1", "1.2345"), "1.23");
}

#[test]
fn steps_that_do_not_divide_each_other_use_their_common_multiple() {
    let rules = SymbolRules {
        lot_size: Some(lot("0", "0", "0.25")),
        market_lot_size: Some(lot("0", "0", "0.1")),
        ..bare_rules(8)
    };
    assert_eq!(wire(&rules, Side::Buy, "1", "1.99"), "1.5");
}

#[test]
fn without_a_step_the_base_asset_precision_decides() {
    assert_eq!(
        wire(&bare_rules(8), Side::Buy, "1", "0.123456789"),
        "0.12345678"
    );
    assert_eq!(wire(&bare_rules(0), Side::Buy, "1", "7.9"), "7");
    let zero_step = SymbolRules {
        lot_size: Some(lot("0", "0", "0")),
        ..bare_rules(3)
    };
    assert_eq!(wire(&zero_step, Side::Buy, "1", "0.12345"), "0.123");
}

#[test]
fn non_power_of_ten_steps_floor_to_their_multiples() {
    let with_step = |step: &str| SymbolRules {
        lot_size: Some(lot("0", "0", step)),
        ..bare_rules(8)
    };
    assert_eq!(wire(&with_step("0.25"), Side::Buy, "1", "1.99"), "1.75");
    assert_eq!(wire(&with_step("5"), Side::Buy, "1", "14.9"), "10");
    assert_eq!(wire(&with_step("0.005"), Side::Buy, "1", "0.0129"), "0.010");
}

#[test]
fn a_quantity_under_one_step_rounds_to_zero() {
    let rules = SymbolRules {
        lot_size: Some(lot("0", "0", "0.25")),
        ..bare_rules(8)
    };
    assert_eq!(
        rejection(&rules, Side::Sell, "1", "0.2").to_string(),
        "order skipped: SELL 0.2 TEST rounds down to 0 at step 0.25"
    );
}

#[test]
fn a_min_qty_off_the_step_is_checked_after_flooring() {
    let rules = SymbolRules {
        lot_size: Some(lot("0.3", "0", "0.25")),
        ..bare_rules(8)
    };
    assert_eq!(
        rejection(&rules, Side::Buy, "1", "0.4").to_string(),
        "order skipped: BUY 0.25 TEST is below LOT_SIZE minQty 0.3"
    );
    assert_eq!(wire(&rules, Side::Buy, "1", "0.5"), "0.50");
}

#[test]
fn the_smallest_non_zero_max_qty_caps_and_the_result_stays_on_the_step() {
    let rules = SymbolRules {
        lot_size: Some(lot("0", "100", "0.5")),
        market_lot_size: Some(lot("0", "10.7", "0")),
        ..bare_rules(8)
    };
    assert_eq!(wire(&rules, Side::Buy, "1", "1000"), "10.5");
}

#[test]
fn the_higher_min_qty_is_reported_and_market_lot_size_is_named_when_it_is_higher() {
    let rules = SymbolRules {
        lot_size: Some(lot("0.001", "0", "0.001")),
        market_lot_size: Some(lot("0.01", "0", "0")),
        ..bare_rules(8)
    };
    assert_eq!(
        rejection(&rules, Side::Buy, "1", "0.0005").to_string(),
        "order skipped: BUY 0.0005 TEST is below MARKET_LOT_SIZE minQty 0.01"
    );
}

#[test]
fn symbols_that_do_not_trade_are_skipped() {
    for status in [
        SymbolStatus::Halt,
        SymbolStatus::Break,
        SymbolStatus::Other("AUCTION".into()),
    ] {
        let rules = SymbolRules {
            status: status.clone(),
            ..bare_rules(8)
        };
        let message = rejection(&rules, Side::Buy, "1", "1").to_string();
        assert_eq!(
            message,
            format!("order skipped: TESTUSDT is {status}, not TRADING")
        );
        assert_eq!(
            normalize_market_quote_amount(&rules, Side::Buy, price("1"), qty("1"))
                .unwrap_err()
                .to_string(),
            message
        );
    }
}

#[test]
fn symbols_without_market_orders_are_skipped() {
    let rules = SymbolRules {
        order_types: vec!["LIMIT".into()],
        ..bare_rules(8)
    };
    assert_eq!(
        rejection(&rules, Side::Buy, "1", "1").to_string(),
        "order skipped: TESTUSDT does not accept MARKET orders"
    );
}

#[test]
fn unusable_inputs_are_rejected() {
    let rules = bare_rules(8);
    assert_eq!(
        normalize_market_quantity(&rules, Side::Buy, Price::ZERO, qty("1")),
        Err(Rejection::NonPositivePrice { price: Price::ZERO })
    );
    assert_eq!(
        rejection(&rules, Side::Buy, "0", "1").to_string(),
        "order skipped: reference price 0 is not positive"
    );
    assert_eq!(
        normalize_market_quantity(&rules, Side::Sell, price("1"), Quantity::ZERO),
        Err(Rejection::ZeroQuantity { side: Side::Sell })
    );
    assert_eq!(
        quote_rejection(&rules, "1", "0"),
        "order skipped: BUY size is zero, nothing to trade"
    );
}

#[test]
fn numbers_beyond_exact_decimal_range_are_a_rejection_not_a_wrong_answer() {
    let rules = bare_rules(28);
    let huge = Quantity::new(Decimal::MAX).unwrap();
    let rejection = normalize_market_quantity(&rules, Side::Buy, price("1"), huge).unwrap_err();
    assert!(
        matches!(rejection, Rejection::BeyondDecimalRange { .. }),
        "{rejection:?}"
    );
    assert_eq!(
        rejection.to_string(),
        "order skipped: BUY 79228162514264337593543950335 TEST is too large or too precise for exact 28-digit decimal arithmetic"
    );
}

#[test]
fn the_largest_representable_quantity_formats_for_the_wire() {
    // Found by the fuzzer: `Decimal`'s own `{:.8}` panics on a 29-digit integer.
    let huge = Quantity::new(Decimal::MAX).unwrap();
    let normalized =
        normalize_market_quantity(&bare_rules(8), Side::Sell, price("0.00000001"), huge).unwrap();
    assert_eq!(
        normalized.to_string(),
        "79228162514264337593543950335.00000000"
    );
}
