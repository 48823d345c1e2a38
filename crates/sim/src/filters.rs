//! The symbol filters a MARKET order must pass before it reaches the book, checked the way the
//! exchange checks them (reference § 7), with the filter type named in the -1013 message.
//!
//! Choices where the docs are silent, the same as `market::normalize_market_quote_amount` makes:
//! notionals of a `quoteOrderQty` order are checked on the amount itself; its quantity filters on
//! the estimate `quoteOrderQty / price` rounded down to the step. Notionals are valued at the
//! current price (the simulator has no average-price window yet, so `avgPriceMins` is not used).

use rust_decimal::{Decimal, RoundingStrategy};

use market::{LotSizeFilter, SymbolRules};

use sim_book::{OrderSize, round_to_step};

/// The filter an order failed, by its `filterType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterFailure {
    /// `LOT_SIZE`.
    LotSize,
    /// `MARKET_LOT_SIZE`.
    MarketLotSize,
    /// `MIN_NOTIONAL`.
    MinNotional,
    /// `NOTIONAL`.
    Notional,
}

impl FilterFailure {
    /// Binance's `filterType`, as it appears in "Filter failure: ...".
    pub fn filter_type(self) -> &'static str {
        match self {
            FilterFailure::LotSize => "LOT_SIZE",
            FilterFailure::MarketLotSize => "MARKET_LOT_SIZE",
            FilterFailure::MinNotional => "MIN_NOTIONAL",
            FilterFailure::Notional => "NOTIONAL",
        }
    }
}

/// Checks a MARKET order of `size` at `price` against LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL
/// (when `applyToMarket`) and NOTIONAL (min when `applyMinToMarket`, max when `applyMaxToMarket`),
/// in that order.
pub fn check_market_order(
    rules: &SymbolRules,
    size: OrderSize,
    price: Decimal,
) -> Result<(), FilterFailure> {
    let (qty, notional, step_checked) = match size {
        OrderSize::Base(qty) => (qty, qty * price, true),
        OrderSize::Quote(amount) => (estimated_qty(rules, amount, price), amount, false),
    };
    if let Some(lot) = &rules.lot_size
        && !lot_allows(lot, qty, step_checked)
    {
        return Err(FilterFailure::LotSize);
    }
    if let Some(lot) = &rules.market_lot_size
        && !lot_allows(lot, qty, step_checked)
    {
        return Err(FilterFailure::MarketLotSize);
    }
    if let Some(filter) = &rules.min_notional
        && filter.apply_to_market
        && notional < filter.min_notional
    {
        return Err(FilterFailure::MinNotional);
    }
    if let Some(filter) = &rules.notional {
        let below = filter.apply_min_to_market && notional < filter.min_notional;
        let above = filter.apply_max_to_market
            && !filter.max_notional.is_zero()
            && notional > filter.max_notional;
        if below || above {
            return Err(FilterFailure::Notional);
        }
    }
    Ok(())
}

/// The quantity a quote amount buys at `price`, rounded down to the coarser quantity step.
fn estimated_qty(rules: &SymbolRules, amount: Decimal, price: Decimal) -> Decimal {
    if price.is_zero() {
        return Decimal::ZERO;
    }
    let step = [&rules.lot_size, &rules.market_lot_size]
        .into_iter()
        .flatten()
        .map(|lot| lot.step_size.get())
        .max()
        .unwrap_or(Decimal::ZERO);
    round_to_step(amount / price, step, RoundingStrategy::ToZero)
}

/// A zero part of the filter is no constraint (reference § 7: live MARKET_LOT_SIZE has zeros).
fn lot_allows(lot: &LotSizeFilter, qty: Decimal, check_step: bool) -> bool {
    let (min, max, step) = (lot.min_qty.get(), lot.max_qty.get(), lot.step_size.get());
    let above_min = min.is_zero() || qty >= min;
    let below_max = max.is_zero() || qty <= max;
    let on_step = !check_step || step.is_zero() || (qty % step).is_zero();
    above_min && below_max && on_step
}
