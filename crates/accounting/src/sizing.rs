//! How much a signal trades: a BUY spends the bot's quote amount at the price it is given (the
//! live engine gives the best ask, the backtest the close or its book's best ask; never more than
//! [`FREE_BALANCE_SHARE`] of the free quote balance, since a MARKET order may walk the asks
//! beyond the best one), a SELL sells the held position (never more than min(tracked position,
//! free base balance)); either is then made legal by [`market`]'s normaliser, whose refusal is a
//! skip with a reason, never an error. [`desired`] is the rule; [`size_order`] applies it with
//! its steps in words (the live engine's "why"), [`order_quantity`] without (the backtester's
//! fills).

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

/// A sizing decision and how it was reached, step by step in words: what the "why" of a
/// decision shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sized {
    /// The order, or why none.
    pub order: SizedOrder,
    /// Each step: the amount chosen, the quantity at the price, the filters applied.
    pub steps: Vec<String>,
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

/// The order for `side` at `reference_price` under `rules`, with its steps.
pub fn size_order(
    rules: &SymbolRules,
    side: Side,
    reference_price: Price,
    inputs: &SizingInputs,
) -> Sized {
    let mut steps = Vec::new();
    let order = sized_quantity(rules, side, reference_price, inputs, &mut steps);
    steps.push(match &order {
        SizedOrder::Send(quantity) => format!(
            "made legal by the symbol's filters ({}): {side} {quantity} {}",
            filters_in_words(rules),
            rules.base_asset
        ),
        SizedOrder::Skip(reason) => reason.clone(),
    });
    Sized { order, steps }
}

/// What a signal asks for before the exchange's filters, and the amount a BUY spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desired {
    /// A BUY's quote amount: the smaller of the amount per BUY and [`FREE_BALANCE_SHARE`] of the
    /// free quote balance. Zero for a SELL.
    pub spend: Decimal,
    /// The base quantity: `spend / price` rounded toward zero to 18 places for a BUY (never more
    /// than `spend` at the price), min(position, free base) for a SELL.
    pub quantity: Decimal,
}

/// The quantity a `side` signal asks for at `price` from `inputs`, before the filters: the one
/// rule both the live engine and the backtester size by.
pub fn desired(side: Side, price: Decimal, inputs: &SizingInputs) -> Desired {
    match side {
        Side::Buy => {
            let spend = inputs
                .quote_per_buy
                .min(inputs.free_quote * FREE_BALANCE_SHARE);
            let quantity = if spend <= Decimal::ZERO {
                Decimal::ZERO
            } else {
                // Rounded down so the quantity never costs more than `spend` at this price; the
                // normaliser floors it to the step anyway.
                spend
                    .checked_div(price)
                    .unwrap_or(Decimal::ZERO)
                    .round_dp_with_strategy(18, rust_decimal::RoundingStrategy::ToZero)
            };
            Desired { spend, quantity }
        }
        Side::Sell => Desired {
            spend: Decimal::ZERO,
            quantity: inputs.position.min(inputs.free_base),
        },
    }
}

/// The quantity to send for a `side` signal at `price`, made legal by `rules` when there are
/// some, or why nothing is sent: [`size_order`]'s arithmetic without its words, for the
/// backtester's fills (where formatting the steps of every order would cost more than the
/// order).
pub fn order_quantity(
    rules: Option<&SymbolRules>,
    side: Side,
    price: Price,
    inputs: &SizingInputs,
) -> Result<Decimal, String> {
    if price.get().is_zero() {
        return Err("order skipped: no price yet".to_owned());
    }
    let wanted = desired(side, price.get(), inputs);
    if wanted.quantity <= Decimal::ZERO {
        return Err(match side {
            Side::Buy => "order skipped: no quote balance left to spend".to_owned(),
            Side::Sell => "order skipped: nothing to SELL".to_owned(),
        });
    }
    let Some(rules) = rules else {
        return Ok(wanted.quantity);
    };
    let quantity = Quantity::new(wanted.quantity)
        .map_err(|_| format!("order skipped: quantity {} is not valid", wanted.quantity))?;
    normalize_market_quantity(rules, side, price, quantity)
        .map(|legal| Decimal::from(legal.quantity()))
        .map_err(|rejection| rejection.to_string())
}

/// The quantity `inputs` call for, its steps written to `steps` (all but the last, the
/// normaliser's).
fn sized_quantity(
    rules: &SymbolRules,
    side: Side,
    reference_price: Price,
    inputs: &SizingInputs,
    steps: &mut Vec<String>,
) -> SizedOrder {
    let price = reference_price.get();
    if price.is_zero() {
        return SizedOrder::Skip(format!("order skipped: {} has no price yet", rules.symbol));
    }
    let wanted = desired(side, price, inputs);
    match side {
        Side::Buy => {
            steps.push(format!(
                "spend the smaller of the bot's {} {quote} per BUY and {}% of the free {} {quote}: {} {quote}",
                inputs.quote_per_buy.normalize(),
                (FREE_BALANCE_SHARE * Decimal::ONE_HUNDRED).normalize(),
                inputs.free_quote.normalize(),
                wanted.spend.normalize(),
                quote = rules.quote_asset,
            ));
            if wanted.spend <= Decimal::ZERO {
                return SizedOrder::Skip(format!(
                    "order skipped: BUY needs {} but the free {} balance is {}",
                    inputs.quote_per_buy.normalize(),
                    rules.quote_asset,
                    inputs.free_quote.normalize()
                ));
            }
            steps.push(format!(
                "at the price {} (the best ask: what a MARKET BUY pays first): {} / {} = {} {}",
                price.normalize(),
                wanted.spend.normalize(),
                price.normalize(),
                wanted.quantity.normalize(),
                rules.base_asset
            ));
        }
        Side::Sell => steps.push(format!(
            "sell the smaller of the bot's position {} and the free {} {base}: {} {base}",
            inputs.position.normalize(),
            inputs.free_base.normalize(),
            wanted.quantity.normalize(),
            base = rules.base_asset,
        )),
    }
    if wanted.quantity <= Decimal::ZERO {
        return SizedOrder::Skip(format!(
            "order skipped: nothing to SELL (position {} {}, free {})",
            inputs.position.normalize(),
            rules.base_asset,
            inputs.free_base.normalize()
        ));
    }
    let Ok(quantity) = Quantity::new(wanted.quantity) else {
        return SizedOrder::Skip(format!(
            "order skipped: quantity {} is not valid",
            wanted.quantity
        ));
    };
    match normalize_market_quantity(rules, side, reference_price, quantity) {
        Ok(legal) => SizedOrder::Send(legal),
        // The normaliser's message already says "order skipped: ..." and names the filter.
        Err(rejection) => SizedOrder::Skip(rejection.to_string()),
    }
}

/// The filters a MARKET order's quantity meets, in words: the lot steps and bounds, and the
/// notional minimum.
fn filters_in_words(rules: &SymbolRules) -> String {
    let mut filters = Vec::new();
    for (name, lot) in [
        ("LOT_SIZE", &rules.lot_size),
        ("MARKET_LOT_SIZE", &rules.market_lot_size),
    ] {
        if let Some(lot) = lot {
            // A step of zero is Binance's "no step" (MARKET_LOT_SIZE often has one).
            let step = lot.step_size.get();
            let step = if step.is_zero() {
                String::new()
            } else {
                format!(" step {}", step.normalize())
            };
            filters.push(format!(
                "{name}{step} from {} to {}",
                lot.min_qty.get().normalize(),
                lot.max_qty.get().normalize()
            ));
        }
    }
    if let Some(min) = rules
        .min_notional
        .as_ref()
        .filter(|min| min.apply_to_market)
    {
        filters.push(format!("MIN_NOTIONAL {}", min.min_notional.normalize()));
    }
    if let Some(notional) = rules.notional.as_ref().filter(|n| n.apply_min_to_market) {
        filters.push(format!(
            "NOTIONAL min {}",
            notional.min_notional.normalize()
        ));
    }
    if filters.is_empty() {
        "none".to_owned()
    } else {
        filters.join(", ")
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
