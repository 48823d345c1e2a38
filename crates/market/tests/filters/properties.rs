//! Property tests over random rules (power-of-ten and other steps, random minimums, maximums and
//! notional filters), prices and sizes. The crate's answer is compared with `support`'s oracle,
//! which finds the best legal size by plain arithmetic: every accepted size is legal and the
//! largest one, and every rejection is justified because no legal size exists.

use market::{Rejection, SymbolRules, normalize_market_quantity, normalize_market_quote_amount};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::support::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        ..ProptestConfig::default()
    }
}

/// Asserts that `rejection` is one a size can cause and that its numbers tell the truth.
fn assert_size_rejection_is_truthful(rules: &SymbolRules, rejection: &Rejection) {
    match rejection {
        Rejection::BelowMinQty {
            filter,
            min_qty,
            qty,
            ..
        } => {
            let filter_min = match filter {
                market::QuantityFilterKind::LotSize => rules.lot_size.map(|f| f.min_qty),
                market::QuantityFilterKind::MarketLotSize => {
                    rules.market_lot_size.map(|f| f.min_qty)
                }
            };
            assert_eq!(filter_min, Some(*min_qty));
            assert!(qty < min_qty, "{rejection}");
        }
        Rejection::RoundsToZero { qty, step, .. } => {
            assert!(qty < step, "{rejection}");
        }
        Rejection::BelowMinNotional {
            filter,
            min_notional,
            notional,
            ..
        } => {
            let filter_min = match filter {
                market::NotionalFilterKind::MinNotional => rules
                    .min_notional
                    .filter(|f| f.apply_to_market)
                    .map(|f| f.min_notional),
                market::NotionalFilterKind::Notional => rules
                    .notional
                    .filter(|f| f.apply_min_to_market)
                    .map(|f| f.min_notional),
            };
            assert_eq!(filter_min.map(|min| min.normalize()), Some(*min_notional));
            assert!(notional < min_notional, "{rejection}");
        }
        Rejection::AboveMaxNotional {
            max_notional,
            notional,
            ..
        } => {
            assert_eq!(
                applicable_max_notional(rules).map(|max| max.normalize()),
                Some(*max_notional)
            );
            assert!(notional > max_notional, "{rejection}");
        }
        other => panic!("a size rejection was expected, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_normalized_quantity_is_the_largest_legal_one_and_rejections_are_justified(
        rules in arb_rules(),
        side in arb_side(),
        reference_price in arb_price(),
        desired in arb_quantity(),
    ) {
        let price = reference_price.get();
        let expected = best_quantity(&rules, price, desired.get());
        match normalize_market_quantity(&rules, side, reference_price, desired) {
            Ok(normalized) => {
                let quantity = normalized.quantity().get();
                prop_assert_eq!(Some(quantity), expected, "rules {:?}", rules);
                for step in required_steps(&rules) {
                    prop_assert!((quantity % step).is_zero(), "{} is not a multiple of {}", quantity, step);
                }
                prop_assert!(quantity > Decimal::ZERO && quantity <= desired.get());
                for max in max_qtys(&rules) {
                    prop_assert!(quantity <= max);
                }
                prop_assert!(meets_minimums(&rules, price, quantity));
                if let Some(max) = applicable_max_notional(&rules) {
                    prop_assert!(price * quantity <= max);
                }
                // The wire string is exact, plain, and has the coarsest step's decimals at most.
                let text = normalized.to_string();
                prop_assert_eq!(text.parse::<Decimal>().unwrap(), quantity);
                prop_assert!(!text.contains(['e', 'E', '-', '+']));
                let decimals = text.split_once('.').map_or(0, |(_, fraction)| fraction.len()) as u32;
                prop_assert_eq!(decimals, normalized.decimals());
                for step in required_steps(&rules) {
                    prop_assert!(decimals <= step.normalize().scale());
                }
                prop_assert_eq!(
                    normalize_market_quantity(&rules, side, reference_price, normalized.quantity()),
                    Ok(normalized)
                );
            }
            Err(rejection) => {
                prop_assert_eq!(expected, None, "rejected with {} but a legal size exists", rejection);
                assert_size_rejection_is_truthful(&rules, &rejection);
            }
        }
    }

    #[test]
    fn a_normalized_quote_amount_is_the_largest_legal_one_and_rejections_are_justified(
        rules in arb_rules(),
        side in arb_side(),
        reference_price in arb_price(),
        requested in arb_quantity(),
    ) {
        let price = reference_price.get();
        let result = normalize_market_quote_amount(&rules, side, reference_price, requested);
        if !rules.quote_order_qty_market_allowed {
            let not_allowed = matches!(result, Err(Rejection::QuoteOrderQtyNotAllowed { .. }));
            prop_assert!(not_allowed, "{:?}", result);
            return Ok(());
        }
        let expected = best_quote_amount(&rules, price, requested.get());
        match result {
            Ok(normalized) => {
                let amount = normalized.amount().get();
                let (best_amount, bought) = expected.expect("accepted, so a legal amount exists");
                prop_assert_eq!(amount, best_amount);
                prop_assert!(amount <= requested.get());
                prop_assert!(amount.normalize().scale() <= rules.quote_asset_precision);
                prop_assert!(applicable_min_notionals(&rules).iter().all(|&min| amount >= min));
                if let Some(max) = applicable_max_notional(&rules) {
                    prop_assert!(amount <= max);
                }
                let quantity_rules = SymbolRules {
                    min_notional: None,
                    notional: None,
                    ..rules.clone()
                };
                prop_assert!(meets_minimums(&quantity_rules, price, bought));
                for max in max_qtys(&rules) {
                    prop_assert!(bought <= max);
                }
                prop_assert_eq!(normalized.to_string().parse::<Decimal>().unwrap(), amount);
                prop_assert_eq!(
                    normalize_market_quote_amount(&rules, side, reference_price, normalized.amount()),
                    Ok(normalized)
                );
            }
            Err(rejection) => {
                prop_assert_eq!(expected, None, "rejected with {} but a legal amount exists", rejection);
                if let Rejection::RoundsToZero { step, asset, .. } = &rejection
                    && *asset == rules.quote_asset
                {
                    // The quote amount itself truncates to zero at the quote precision.
                    prop_assert!(requested.get() < step.get());
                } else {
                    assert_size_rejection_is_truthful(&rules, &rejection);
                }
            }
        }
    }

    #[test]
    fn rules_survive_a_round_trip_through_exchange_json(rules in arb_rules()) {
        let parsed = SymbolRules::from_symbol_json(&rules_to_json(&rules)).unwrap();
        prop_assert_eq!(parsed, rules);
    }
}
