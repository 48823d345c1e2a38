//! How much a signal trades: a BUY spends the bot's quote amount at the last price (never more
//! than [`FREE_BALANCE_SHARE`] of the free quote balance, since a MARKET order walks the asks
//! above the last price), a SELL sells the held position (never more than min(tracked position,
//! free base balance)); either is then made legal by [`market`]'s normaliser, whose refusal is a
//! skip with a reason, never an error.

use market::{NormalizedQuantity, Price, Quantity, Side, SymbolRules, normalize_market_quantity};
use rust_decimal::Decimal;

/// The share of the free quote balance a BUY may be sized to: the rest absorbs the order's walk
/// up the book and its fee, so a BUY sized on the whole balance is not refused for -2010
/// (insufficient balance).
pub const FREE_BALANCE_SHARE: Decimal = Decimal::from_parts(98, 0, 0, false, 2);

/// What a signal turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizedOrder {
    /// Send a MARKET order for this quantity.
    Send(NormalizedQuantity),
    /// Send nothing, for this reason (logged and recorded as the cycle's decision).
    Skip(String),
}

/// The balances and position a sizing decision reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizingInputs {
    /// Quote amount a BUY spends (the bot's configuration).
    pub quote_per_buy: Decimal,
    /// Base quantity the bot holds by its own ledger.
    pub position: Decimal,
    /// Free quote balance on the account.
    pub free_quote: Decimal,
    /// Free base balance on the account.
    pub free_base: Decimal,
}

/// The order for `side` at `reference_price` under `rules`.
pub fn size_order(
    rules: &SymbolRules,
    side: Side,
    reference_price: Price,
    inputs: &SizingInputs,
) -> SizedOrder {
    let price = reference_price.get();
    if price.is_zero() {
        return SizedOrder::Skip(format!("order skipped: {} has no price yet", rules.symbol));
    }
    let desired = match side {
        Side::Buy => {
            let spend = inputs
                .quote_per_buy
                .min(inputs.free_quote * FREE_BALANCE_SHARE);
            if spend <= Decimal::ZERO {
                return SizedOrder::Skip(format!(
                    "order skipped: BUY needs {} but the free {} balance is {}",
                    inputs.quote_per_buy.normalize(),
                    rules.quote_asset,
                    inputs.free_quote.normalize()
                ));
            }
            // Rounded down so the quantity never costs more than `spend` at this price; the
            // normaliser floors it to the step anyway.
            spend
                .checked_div(price)
                .unwrap_or(Decimal::ZERO)
                .round_dp_with_strategy(18, rust_decimal::RoundingStrategy::ToZero)
        }
        Side::Sell => inputs.position.min(inputs.free_base),
    };
    if desired <= Decimal::ZERO {
        return SizedOrder::Skip(format!(
            "order skipped: nothing to SELL (position {} {}, free {})",
            inputs.position.normalize(),
            rules.base_asset,
            inputs.free_base.normalize()
        ));
    }
    let Ok(quantity) = Quantity::new(desired) else {
        return SizedOrder::Skip(format!("order skipped: quantity {desired} is not valid"));
    };
    match normalize_market_quantity(rules, side, reference_price, quantity) {
        Ok(legal) => SizedOrder::Send(legal),
        // The normaliser's message already says "order skipped: ..." and names the filter.
        Err(rejection) => SizedOrder::Skip(rejection.to_string()),
    }
}

/// The smallest quantity the symbol trades (LOT_SIZE and MARKET_LOT_SIZE minQty): a position
/// below it cannot be sold, so the strategy sees the bot as flat.
pub fn min_tradable_quantity(rules: &SymbolRules) -> Decimal {
    [rules.lot_size.as_ref(), rules.market_lot_size.as_ref()]
        .into_iter()
        .flatten()
        .map(|lot| lot.min_qty.get())
        .fold(Decimal::ZERO, Decimal::max)
}
