//! Shared helpers: the fixtures, small constructors, a JSON writer for `SymbolRules`, proptest
//! strategies for random rules, and an oracle that finds the best legal size by plain arithmetic.

use market::{
    LotSizeFilter, MinNotionalFilter, NotionalFilter, Price, Quantity, Side, SymbolRules,
    SymbolStatus,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

pub const FILTER_PRICE_FILTER: &str = include_str!("../fixtures/filter-PRICE_FILTER.json");
pub const FILTER_LOT_SIZE: &str = include_str!("../fixtures/filter-LOT_SIZE.json");
pub const FILTER_MARKET_LOT_SIZE: &str = include_str!("../fixtures/filter-MARKET_LOT_SIZE.json");
pub const FILTER_MIN_NOTIONAL: &str = include_str!("../fixtures/filter-MIN_NOTIONAL.json");
pub const FILTER_NOTIONAL: &str = include_str!("../fixtures/filter-NOTIONAL.json");
pub const FILTER_PERCENT_PRICE: &str = include_str!("../fixtures/filter-PERCENT_PRICE.json");
pub const FILTER_PERCENT_PRICE_BY_SIDE: &str =
    include_str!("../fixtures/filter-PERCENT_PRICE_BY_SIDE.json");
pub const FILTER_MAX_NUM_ORDERS: &str = include_str!("../fixtures/filter-MAX_NUM_ORDERS.json");
pub const REST_EXCHANGE_INFO_SKELETON: &str =
    include_str!("../fixtures/rest-exchangeInfo.skeleton.response.json");
pub const WSAPI_EXCHANGE_INFO: &str = include_str!("../fixtures/wsapi-exchangeInfo.response.json");
pub const BTCUSDT_LIKE_EXCHANGE_INFO: &str =
    include_str!("../fixtures/exchangeInfo.btcusdt-like.json");

/// Every filter fixture, in the order of `filters.md`.
pub const ALL_FILTER_FIXTURES: [&str; 8] = [
    FILTER_PRICE_FILTER,
    FILTER_PERCENT_PRICE,
    FILTER_PERCENT_PRICE_BY_SIDE,
    FILTER_LOT_SIZE,
    FILTER_MIN_NOTIONAL,
    FILTER_NOTIONAL,
    FILTER_MARKET_LOT_SIZE,
    FILTER_MAX_NUM_ORDERS,
];

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is valid JSON")
}

pub fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

pub fn qty(text: &str) -> Quantity {
    text.parse().expect("test quantity")
}

pub fn price(text: &str) -> Price {
    text.parse().expect("test price")
}

/// The skeleton's ETHBTC symbol object with `filters` replaced.
pub fn skeleton_symbol_with_filters(filters: Vec<Value>) -> Value {
    let mut symbol = json(REST_EXCHANGE_INFO_SKELETON)["symbols"][0].clone();
    symbol["filters"] = Value::Array(filters);
    symbol
}

/// The skeleton's ETHBTC symbol carrying every filter fixture.
pub fn skeleton_symbol_with_all_filter_fixtures() -> Value {
    skeleton_symbol_with_filters(ALL_FILTER_FIXTURES.iter().map(|text| json(text)).collect())
}

pub fn btcusdt_like() -> SymbolRules {
    SymbolRules::from_exchange_info_str(BTCUSDT_LIKE_EXCHANGE_INFO, &"BTCUSDT".parse().unwrap())
        .expect("BTCUSDT-like fixture parses")
}

/// Rules with no filters at all, to be filled in by a test.
pub fn bare_rules(base_asset_precision: u32) -> SymbolRules {
    SymbolRules {
        symbol: "TESTUSDT".parse().unwrap(),
        status: SymbolStatus::Trading,
        base_asset: "TEST".into(),
        quote_asset: "USDT".into(),
        base_asset_precision,
        quote_asset_precision: 8,
        quote_order_qty_market_allowed: true,
        order_types: vec!["LIMIT".into(), "MARKET".into()],
        price_filter: None,
        lot_size: None,
        market_lot_size: None,
        min_notional: None,
        notional: None,
        other_filters: Vec::new(),
    }
}

pub fn lot(min_qty: &str, max_qty: &str, step_size: &str) -> LotSizeFilter {
    LotSizeFilter {
        min_qty: qty(min_qty),
        max_qty: qty(max_qty),
        step_size: qty(step_size),
    }
}

/// Writes rules as Binance would send them (decimals as strings with 8 decimals, like the exchange).
pub fn rules_to_json(rules: &SymbolRules) -> Value {
    let wire = |value: Decimal| format!("{value:.8}");
    let mut filters = Vec::new();
    if let Some(filter) = rules.price_filter {
        filters.push(
            json!({"filterType": "PRICE_FILTER", "minPrice": wire(filter.min_price.get()),
            "maxPrice": wire(filter.max_price.get()), "tickSize": wire(filter.tick_size.get())}),
        );
    }
    for (name, filter) in [
        ("LOT_SIZE", rules.lot_size),
        ("MARKET_LOT_SIZE", rules.market_lot_size),
    ] {
        if let Some(filter) = filter {
            filters.push(
                json!({"filterType": name, "minQty": wire(filter.min_qty.get()),
                "maxQty": wire(filter.max_qty.get()), "stepSize": wire(filter.step_size.get())}),
            );
        }
    }
    if let Some(filter) = rules.min_notional {
        filters.push(
            json!({"filterType": "MIN_NOTIONAL", "minNotional": wire(filter.min_notional),
            "applyToMarket": filter.apply_to_market, "avgPriceMins": filter.avg_price_mins}),
        );
    }
    if let Some(filter) = rules.notional {
        filters.push(
            json!({"filterType": "NOTIONAL", "minNotional": wire(filter.min_notional),
            "applyMinToMarket": filter.apply_min_to_market,
            "maxNotional": wire(filter.max_notional),
            "applyMaxToMarket": filter.apply_max_to_market, "avgPriceMins": filter.avg_price_mins}),
        );
    }
    filters.extend(rules.other_filters.iter().map(|filter| filter.raw.clone()));
    json!({
        "symbol": rules.symbol.as_str(),
        "status": rules.status.as_str(),
        "baseAsset": rules.base_asset,
        "quoteAsset": rules.quote_asset,
        "baseAssetPrecision": rules.base_asset_precision,
        "quoteAssetPrecision": rules.quote_asset_precision,
        "quoteOrderQtyMarketAllowed": rules.quote_order_qty_market_allowed,
        "orderTypes": rules.order_types,
        "filters": filters,
    })
}

// ---------------------------------------------------------------------------------------------
// Strategies. Numbers have few significant digits, like real ones, over many magnitudes, and stay
// where every product the oracle forms is exact in `Decimal` (under 28 digits).

/// A positive decimal with 1 to `max_digits` significant digits and 0 to `max_scale` decimals.
pub fn arb_decimal(max_digits: u32, max_scale: u32) -> impl Strategy<Value = Decimal> {
    (1..=max_digits, 0..=max_scale).prop_flat_map(|(digits, scale)| {
        (1..10i64.pow(digits)).prop_map(move |mantissa| Decimal::new(mantissa, scale))
    })
}

/// Steps: powers of ten from 1 to 10^-8, the non-power-of-ten steps 0.005, 0.25, 0.3, 5, and zero.
pub fn arb_step() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (0u32..=8).prop_map(|scale| Decimal::new(1, scale)),
        prop::sample::select(vec![
            dec("0.005"),
            dec("0.25"),
            dec("0.3"),
            dec("5"),
            dec("0")
        ]),
    ]
}

/// Zero a third of the time (no constraint), else a positive decimal.
pub fn arb_optional_limit(max_digits: u32, max_scale: u32) -> impl Strategy<Value = Decimal> {
    prop_oneof![1 => Just(Decimal::ZERO), 2 => arb_decimal(max_digits, max_scale)]
}

pub fn arb_lot_size() -> impl Strategy<Value = Option<LotSizeFilter>> {
    proptest::option::of(
        (
            arb_optional_limit(4, 8),
            arb_optional_limit(8, 4),
            arb_step(),
        )
            .prop_map(|(min_qty, max_qty, step_size)| LotSizeFilter {
                min_qty: Quantity::new(min_qty).unwrap(),
                max_qty: Quantity::new(max_qty).unwrap(),
                step_size: Quantity::new(step_size).unwrap(),
            }),
    )
}

pub fn arb_rules() -> impl Strategy<Value = SymbolRules> {
    let min_notional = proptest::option::of((arb_optional_limit(6, 4), any::<bool>(), 0u32..=5))
        .prop_map(|filter| {
            filter.map(
                |(min_notional, apply_to_market, avg_price_mins)| MinNotionalFilter {
                    min_notional,
                    apply_to_market,
                    avg_price_mins,
                },
            )
        });
    let notional = proptest::option::of((
        arb_optional_limit(6, 4),
        any::<bool>(),
        arb_optional_limit(10, 2),
        any::<bool>(),
    ))
    .prop_map(|filter| {
        filter.map(
            |(min_notional, apply_min_to_market, max_notional, apply_max_to_market)| {
                NotionalFilter {
                    min_notional,
                    apply_min_to_market,
                    max_notional,
                    apply_max_to_market,
                    avg_price_mins: 5,
                }
            },
        )
    });
    (
        arb_lot_size(),
        arb_lot_size(),
        min_notional,
        notional,
        0u32..=10,
        0u32..=10,
        any::<bool>(),
    )
        .prop_map(
            |(
                lot_size,
                market_lot_size,
                min_notional,
                notional,
                base_precision,
                quote_precision,
                quote_allowed,
            )| {
                SymbolRules {
                    lot_size,
                    market_lot_size,
                    min_notional,
                    notional,
                    quote_asset_precision: quote_precision,
                    quote_order_qty_market_allowed: quote_allowed,
                    ..bare_rules(base_precision)
                }
            },
        )
}

pub fn arb_price() -> impl Strategy<Value = Price> {
    arb_decimal(8, 8).prop_map(|value| Price::new(value).unwrap())
}

pub fn arb_quantity() -> impl Strategy<Value = Quantity> {
    arb_decimal(10, 8).prop_map(|value| Quantity::new(value).unwrap())
}

pub fn arb_side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

// ---------------------------------------------------------------------------------------------
// The oracle: the same rules, written as directly as possible and independently of the crate's
// integer arithmetic. Valid for the magnitudes above, where `Decimal` is exact.

/// The non-zero steps a base quantity must be a multiple of, with the precision's unit.
pub fn required_steps(rules: &SymbolRules) -> Vec<Decimal> {
    let mut steps = vec![Decimal::new(1, rules.base_asset_precision)];
    for filter in [rules.lot_size, rules.market_lot_size]
        .into_iter()
        .flatten()
    {
        if !filter.step_size.is_zero() {
            steps.push(filter.step_size.get());
        }
    }
    steps
}

/// The least common multiple of `steps`, by trying multiples of the largest one.
pub fn least_common_multiple(steps: &[Decimal]) -> Decimal {
    let largest = steps.iter().copied().max().expect("at least one step");
    (1..=1_000_000i64)
        .map(|factor| largest * Decimal::from(factor))
        .find(|candidate| steps.iter().all(|step| (candidate % step).is_zero()))
        .expect("the test steps have a small common multiple")
}

/// The largest `k * unit` with `fits(k * unit)`, for a `fits` that holds below some bound and
/// fails above it, starting from an estimate of `k`.
fn largest_multiple(unit: Decimal, estimate: Decimal, fits: impl Fn(Decimal) -> bool) -> Decimal {
    let mut units = estimate.floor().max(Decimal::ZERO);
    while units > Decimal::ZERO && !fits(units * unit) {
        units -= Decimal::ONE;
    }
    while fits((units + Decimal::ONE) * unit) {
        units += Decimal::ONE;
    }
    units * unit
}

pub fn max_qtys(rules: &SymbolRules) -> Vec<Decimal> {
    [rules.lot_size, rules.market_lot_size]
        .into_iter()
        .flatten()
        .map(|filter| filter.max_qty.get())
        .filter(|max_qty| !max_qty.is_zero())
        .collect()
}

pub fn min_qtys(rules: &SymbolRules) -> Vec<Decimal> {
    [rules.lot_size, rules.market_lot_size]
        .into_iter()
        .flatten()
        .map(|filter| filter.min_qty.get())
        .collect()
}

pub fn applicable_min_notionals(rules: &SymbolRules) -> Vec<Decimal> {
    let mut mins = Vec::new();
    if let Some(filter) = rules.min_notional.filter(|filter| filter.apply_to_market) {
        mins.push(filter.min_notional);
    }
    if let Some(filter) = rules.notional.filter(|filter| filter.apply_min_to_market) {
        mins.push(filter.min_notional);
    }
    mins
}

pub fn applicable_max_notional(rules: &SymbolRules) -> Option<Decimal> {
    rules
        .notional
        .filter(|filter| filter.apply_max_to_market && !filter.max_notional.is_zero())
        .map(|filter| filter.max_notional)
}

/// Whether `quantity` is a legal MARKET order size, apart from the grid (checked by the caller).
pub fn meets_minimums(rules: &SymbolRules, price: Decimal, quantity: Decimal) -> bool {
    quantity > Decimal::ZERO
        && min_qtys(rules).iter().all(|&min| quantity >= min)
        && applicable_min_notionals(rules)
            .iter()
            .all(|&min| price * quantity >= min)
}

/// The largest legal base quantity at or below `desired`, if one exists.
pub fn best_quantity(rules: &SymbolRules, price: Decimal, desired: Decimal) -> Option<Decimal> {
    let unit = least_common_multiple(&required_steps(rules));
    let max_qtys = max_qtys(rules);
    let max_notional = applicable_max_notional(rules);
    let fits = |quantity: Decimal| {
        quantity <= desired
            && max_qtys.iter().all(|&max| quantity <= max)
            && max_notional.is_none_or(|max| price * quantity <= max)
    };
    let bound = max_qtys
        .iter()
        .copied()
        .chain(max_notional.map(|max| max / price))
        .fold(desired, Decimal::min);
    let best = largest_multiple(unit, bound / unit, fits);
    meets_minimums(rules, price, best).then_some(best)
}

/// The largest legal quote amount at or below `requested`, if one exists, with the base quantity
/// it buys at `price` rounded down to the steps.
pub fn best_quote_amount(
    rules: &SymbolRules,
    price: Decimal,
    requested: Decimal,
) -> Option<(Decimal, Decimal)> {
    let quote_unit = Decimal::new(1, rules.quote_asset_precision);
    let max_qtys = max_qtys(rules);
    let max_notional = applicable_max_notional(rules);
    let fits = |amount: Decimal| {
        amount <= requested
            && max_qtys.iter().all(|&max| amount <= max * price)
            && max_notional.is_none_or(|max| amount <= max)
    };
    let bound = max_qtys
        .iter()
        .map(|&max| max * price)
        .chain(max_notional)
        .fold(requested, Decimal::min);
    let amount = largest_multiple(quote_unit, bound / quote_unit, fits);
    let unit = least_common_multiple(&required_steps(rules));
    let bought = largest_multiple(unit, amount / price / unit, |quantity| {
        quantity * price <= amount
    });
    let legal = amount > Decimal::ZERO
        && applicable_min_notionals(rules)
            .iter()
            .all(|&min| amount >= min)
        && bought > Decimal::ZERO
        && min_qtys(rules).iter().all(|&min| bought >= min);
    legal.then_some((amount, bought))
}
