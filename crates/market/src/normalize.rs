//! Making a MARKET order's size legal for the exchange before it is sent:
//! [`normalize_market_quantity`] for a base quantity, [`normalize_market_quote_amount`] for an
//! amount of quote asset to spend (`quoteOrderQty`), and the typed [`Rejection`] that says why an
//! order is skipped when no legal size exists.
//!
//! The rules applied are Binance's MARKET-order filters (its `filters.md`): LOT_SIZE and
//! MARKET_LOT_SIZE (both must hold), MIN_NOTIONAL when `applyToMarket`, NOTIONAL's minimum when
//! `applyMinToMarket` and its maximum when `applyMaxToMarket`. A zero step, minimum or maximum is no
//! constraint. The exchange checks notionals against its own average price; the caller passes its
//! best estimate of it as `reference_price`.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::amount::{Price, Quantity};
use crate::grid::Grid;
use crate::rules::{LotSizeFilter, SymbolRules, SymbolStatus};
use crate::side::Side;
use crate::symbol::Symbol;

/// How many significant digits an estimated quantity keeps in a [`Rejection`] message.
const ESTIMATE_SIGNIFICANT_DIGITS: u32 = 8;

/// A base quantity that passes the symbol's MARKET-order filters, with the number of decimals it
/// goes on the wire with.
///
/// `Display` gives the wire form: a plain decimal with exactly [`decimals`](Self::decimals) digits
/// after the point, e.g. `0.120` for LOT_SIZE step `0.00100000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormalizedQuantity {
    quantity: Quantity,
    decimals: u32,
}

impl NormalizedQuantity {
    /// The legal quantity.
    pub fn quantity(self) -> Quantity {
        self.quantity
    }

    /// Digits after the point on the wire: the significant decimals of the coarsest step the
    /// quantity must be a multiple of (the base asset precision when there is no step).
    pub fn decimals(self) -> u32 {
        self.decimals
    }
}

impl fmt::Display for NormalizedQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quantity.to_wire_string(self.decimals))
    }
}

/// A quote amount (`quoteOrderQty`) that passes the symbol's MARKET-order filters, with the number
/// of decimals it goes on the wire with (the quote asset precision). `Display` gives the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormalizedQuoteAmount {
    amount: Quantity,
    decimals: u32,
}

impl NormalizedQuoteAmount {
    /// The legal amount of quote asset.
    pub fn amount(self) -> Quantity {
        self.amount
    }

    /// Digits after the point on the wire: the quote asset precision (at most 28).
    pub fn decimals(self) -> u32 {
        self.decimals
    }
}

impl fmt::Display for NormalizedQuoteAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.amount.to_wire_string(self.decimals))
    }
}

/// The quantity filters, as named in rejections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantityFilterKind {
    /// LOT_SIZE.
    LotSize,
    /// MARKET_LOT_SIZE.
    MarketLotSize,
}

impl fmt::Display for QuantityFilterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantityFilterKind::LotSize => "LOT_SIZE",
            QuantityFilterKind::MarketLotSize => "MARKET_LOT_SIZE",
        })
    }
}

/// The notional filters, as named in rejections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotionalFilterKind {
    /// MIN_NOTIONAL.
    MinNotional,
    /// NOTIONAL.
    Notional,
}

impl fmt::Display for NotionalFilterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotionalFilterKind::MinNotional => "MIN_NOTIONAL",
            NotionalFilterKind::Notional => "NOTIONAL",
        })
    }
}

/// Why a MARKET order is skipped: no legal size exists for it. The messages are for a trader.
///
/// For the size rejections, "no legal size" is meant literally: no quantity at or below the one
/// asked for passes every filter. Decimal fields are normalised (no trailing zeros).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The symbol's status is not TRADING.
    #[error("order skipped: {symbol} is {status}, not TRADING")]
    SymbolNotTrading {
        /// The symbol.
        symbol: Symbol,
        /// Its status.
        status: SymbolStatus,
    },
    /// `orderTypes` does not list MARKET.
    #[error("order skipped: {symbol} does not accept MARKET orders")]
    MarketOrdersNotAllowed {
        /// The symbol.
        symbol: Symbol,
    },
    /// A quote amount was given but `quoteOrderQtyMarketAllowed` is false.
    #[error(
        "order skipped: {symbol} does not accept MARKET orders sized by quote amount (quoteOrderQtyMarketAllowed is false)"
    )]
    QuoteOrderQtyNotAllowed {
        /// The symbol.
        symbol: Symbol,
    },
    /// The reference price is zero, so no notional can be computed.
    #[error("order skipped: reference price {price} is not positive")]
    NonPositivePrice {
        /// The price given.
        price: Price,
    },
    /// The quantity or quote amount asked for is zero.
    #[error("order skipped: {side} size is zero, nothing to trade")]
    ZeroQuantity {
        /// The order's side.
        side: Side,
    },
    /// The amount is smaller than the smallest step, so it rounds down to nothing.
    #[error("order skipped: {side} {qty} {asset} rounds down to 0 at step {step}")]
    RoundsToZero {
        /// The order's side.
        side: Side,
        /// The amount (for a quote order: the estimated base quantity).
        qty: Quantity,
        /// The step every legal amount is a multiple of.
        step: Quantity,
        /// The asset `qty` is counted in.
        asset: String,
    },
    /// The largest legal quantity at or below the one asked for is under a minimum quantity.
    #[error("order skipped: {side} {qty} {asset} is below {filter} minQty {min_qty}")]
    BelowMinQty {
        /// The order's side.
        side: Side,
        /// The filter with the minimum.
        filter: QuantityFilterKind,
        /// The minimum.
        min_qty: Quantity,
        /// The quantity (for a quote order: estimated as quote amount / reference price).
        qty: Quantity,
        /// The base asset.
        asset: String,
    },
    /// The notional (reference price × quantity, or the quote amount) is under a minimum.
    #[error(
        "order skipped: {side} worth {notional} {asset} is below {filter} minNotional {min_notional}"
    )]
    BelowMinNotional {
        /// The order's side.
        side: Side,
        /// The filter with the minimum.
        filter: NotionalFilterKind,
        /// The minimum, in quote asset.
        min_notional: Decimal,
        /// The order's notional, in quote asset.
        notional: Decimal,
        /// The quote asset.
        asset: String,
    },
    /// The notional is above NOTIONAL's maximum and every quantity small enough to fit under it
    /// fails a minimum.
    #[error(
        "order skipped: {side} worth {notional} {asset} is above NOTIONAL maxNotional {max_notional}, and every smaller legal size is below a minimum"
    )]
    AboveMaxNotional {
        /// The order's side.
        side: Side,
        /// The maximum, in quote asset.
        max_notional: Decimal,
        /// The order's notional before it was reduced, in quote asset.
        notional: Decimal,
        /// The quote asset.
        asset: String,
    },
    /// The numbers are too large or too precise to round exactly with 28-digit decimals
    /// (quantities near 10^28, or steps with no common multiple in range).
    #[error(
        "order skipped: {side} {qty} {asset} is too large or too precise for exact 28-digit decimal arithmetic"
    )]
    BeyondDecimalRange {
        /// The order's side.
        side: Side,
        /// The amount asked for.
        qty: Quantity,
        /// The asset `qty` is counted in.
        asset: String,
    },
}

/// Rounds `desired_base_qty` down to the largest quantity a MARKET order on this symbol may carry,
/// or says why none exists.
///
/// The result is a multiple of every non-zero LOT_SIZE and MARKET_LOT_SIZE step (and has at most
/// `baseAssetPrecision` decimals), at most `desired_base_qty` and every non-zero `maxQty`, at least
/// every `minQty`, and its notional `reference_price × quantity` meets MIN_NOTIONAL (when
/// `applyToMarket`) and NOTIONAL's minimum (when `applyMinToMarket`). Above NOTIONAL's maximum (when
/// `applyMaxToMarket`) the quantity is reduced to the largest one under it instead of rejected, as
/// long as that still meets every minimum. It is the largest quantity with all these properties, so
/// normalising it again returns it unchanged.
///
/// The filters do not depend on `side` today; it is named in rejection messages.
///
/// ```
/// use market::{normalize_market_quantity, Side, SymbolRules};
/// # let json = serde_json::json!({"symbol": "BTCUSDT", "status": "TRADING",
/// #     "baseAsset": "BTC", "quoteAsset": "USDT", "baseAssetPrecision": 8,
/// #     "quoteAssetPrecision": 8, "quoteOrderQtyMarketAllowed": true, "orderTypes": ["MARKET"],
/// #     "filters": [{"filterType": "LOT_SIZE", "minQty": "0.00100000",
/// #                  "maxQty": "9000.00000000", "stepSize": "0.00100000"}]});
/// let rules = SymbolRules::from_symbol_json(&json).unwrap(); // LOT_SIZE step and minQty 0.001
/// let price = "65000".parse().unwrap();
///
/// let legal = normalize_market_quantity(&rules, Side::Buy, price, "0.12345".parse().unwrap());
/// assert_eq!(legal.unwrap().to_string(), "0.123");
///
/// let skipped = normalize_market_quantity(&rules, Side::Buy, price, "0.0004".parse().unwrap());
/// assert_eq!(skipped.unwrap_err().to_string(),
///     "order skipped: BUY 0.0004 BTC is below LOT_SIZE minQty 0.001");
/// ```
pub fn normalize_market_quantity(
    rules: &SymbolRules,
    side: Side,
    reference_price: Price,
    desired_base_qty: Quantity,
) -> Result<NormalizedQuantity, Rejection> {
    let order = MarketOrder::new(rules, side, reference_price)?;
    if desired_base_qty.is_zero() {
        return Err(Rejection::ZeroQuantity { side });
    }
    let beyond_range = || order.beyond_decimal_range(desired_base_qty, &rules.base_asset);
    let grid = order.quantity_grid().ok_or_else(beyond_range)?;
    let capped = match order.smallest_max_qty() {
        Some(max_qty) => desired_base_qty.min(max_qty),
        None => desired_base_qty,
    };
    let floored = grid.floor(capped.get()).ok_or_else(beyond_range)?;
    let mut quantity = order.legal_quantity(grid, capped, floored)?;

    let notional = order.notional(quantity).ok_or_else(beyond_range)?;
    if let Some(max_notional) = order.max_notional()
        && notional > max_notional
    {
        let reduced = grid
            .floor_quotient(max_notional, reference_price.get())
            .ok_or_else(beyond_range)?;
        quantity = order
            .legal_quantity(grid, to_quantity(reduced), reduced)
            .map_err(|rejection| match rejection {
                Rejection::BeyondDecimalRange { .. } => rejection,
                _ => order.above_max_notional(max_notional, notional),
            })?;
    }
    Ok(NormalizedQuantity {
        quantity,
        decimals: grid.decimals(),
    })
}

/// Makes `quote_amount` (an amount of quote asset to spend or receive, sent as `quoteOrderQty`)
/// legal for a MARKET order on this symbol, or says why it cannot be.
///
/// The amount is truncated to `quoteAssetPrecision` decimals. The symbol must allow
/// `quoteOrderQtyMarketAllowed`.
///
/// The notional filters are checked on the quote amount itself, not on an estimated quantity ×
/// price: the amount is what the exchange will spend or raise, whatever the price does until the
/// order executes, and Binance's docs do not say which of the two it checks. Above NOTIONAL's
/// maximum (when `applyMaxToMarket`) the amount is reduced to the maximum, as
/// [`normalize_market_quantity`] does, if that still meets every minimum.
///
/// The quantity filters are checked on the estimate `amount / reference_price`, rounded down to the
/// steps (the exchange picks an executed quantity that satisfies LOT_SIZE): it must be positive and
/// at least every `minQty`, and the amount is reduced so that the estimate stays at most the
/// smallest non-zero `maxQty`.
///
/// ```
/// use market::{normalize_market_quote_amount, Side, SymbolRules};
/// # let json = serde_json::json!({"symbol": "BTCUSDT", "status": "TRADING",
/// #     "baseAsset": "BTC", "quoteAsset": "USDT", "baseAssetPrecision": 8,
/// #     "quoteAssetPrecision": 2, "quoteOrderQtyMarketAllowed": true, "orderTypes": ["MARKET"],
/// #     "filters": [{"filterType": "NOTIONAL", "minNotional": "5.00000000",
/// #                  "applyMinToMarket": true, "maxNotional": "9000000.00000000",
/// #                  "applyMaxToMarket": false, "avgPriceMins": 5}]});
/// let rules = SymbolRules::from_symbol_json(&json).unwrap(); // quote precision 2, min notional 5
/// let price = "65000".parse().unwrap();
///
/// let legal = normalize_market_quote_amount(&rules, Side::Buy, price, "25.129".parse().unwrap());
/// assert_eq!(legal.unwrap().to_string(), "25.12");
///
/// let skipped = normalize_market_quote_amount(&rules, Side::Buy, price, "4.99".parse().unwrap());
/// assert_eq!(skipped.unwrap_err().to_string(),
///     "order skipped: BUY worth 4.99 USDT is below NOTIONAL minNotional 5");
/// ```
pub fn normalize_market_quote_amount(
    rules: &SymbolRules,
    side: Side,
    reference_price: Price,
    quote_amount: Quantity,
) -> Result<NormalizedQuoteAmount, Rejection> {
    let order = MarketOrder::new(rules, side, reference_price)?;
    if !rules.quote_order_qty_market_allowed {
        return Err(Rejection::QuoteOrderQtyNotAllowed {
            symbol: rules.symbol.clone(),
        });
    }
    if quote_amount.is_zero() {
        return Err(Rejection::ZeroQuantity { side });
    }
    let beyond_range = || order.beyond_decimal_range(quote_amount, &rules.quote_asset);
    let quote_grid = Grid::with_decimals(rules.quote_asset_precision);
    let quantity_grid = order.quantity_grid().ok_or_else(beyond_range)?;
    let mut amount = quote_grid
        .floor(quote_amount.get())
        .ok_or_else(beyond_range)?;
    if amount.is_zero() {
        return Err(Rejection::RoundsToZero {
            side,
            qty: quote_amount,
            step: to_quantity(quote_grid.unit()),
            asset: rules.quote_asset.clone(),
        });
    }
    if let Some(max_qty) = order.smallest_max_qty()
        && let Some(amount_buying_max_qty) = max_qty.get().checked_mul(reference_price.get())
        && amount > amount_buying_max_qty
    {
        amount = quote_grid
            .floor(amount_buying_max_qty)
            .ok_or_else(beyond_range)?;
    }
    order.check_quote_amount(quantity_grid, amount)?;

    if let Some(max_notional) = order.max_notional()
        && amount > max_notional
    {
        let reduced = quote_grid.floor(max_notional).ok_or_else(beyond_range)?;
        order
            .check_quote_amount(quantity_grid, reduced)
            .map_err(|rejection| match rejection {
                Rejection::BeyondDecimalRange { .. } => rejection,
                _ => order.above_max_notional(max_notional, amount),
            })?;
        amount = reduced;
    }
    Ok(NormalizedQuoteAmount {
        amount: to_quantity(amount),
        decimals: quote_grid.decimals(),
    })
}

/// One MARKET order being sized: the symbol's rules, the side and a usable reference price.
struct MarketOrder<'a> {
    rules: &'a SymbolRules,
    side: Side,
    price: Decimal,
}

impl<'a> MarketOrder<'a> {
    /// Checks what does not depend on the size: status, order type, price.
    fn new(
        rules: &'a SymbolRules,
        side: Side,
        reference_price: Price,
    ) -> Result<MarketOrder<'a>, Rejection> {
        if rules.status != SymbolStatus::Trading {
            return Err(Rejection::SymbolNotTrading {
                symbol: rules.symbol.clone(),
                status: rules.status.clone(),
            });
        }
        if !rules.allows_market_orders() {
            return Err(Rejection::MarketOrdersNotAllowed {
                symbol: rules.symbol.clone(),
            });
        }
        if reference_price.is_zero() {
            return Err(Rejection::NonPositivePrice {
                price: reference_price,
            });
        }
        Ok(MarketOrder {
            rules,
            side,
            price: reference_price.get(),
        })
    }

    fn lot_sizes(&self) -> impl Iterator<Item = (QuantityFilterKind, &'a LotSizeFilter)> {
        [
            (QuantityFilterKind::LotSize, self.rules.lot_size.as_ref()),
            (
                QuantityFilterKind::MarketLotSize,
                self.rules.market_lot_size.as_ref(),
            ),
        ]
        .into_iter()
        .filter_map(|(kind, filter)| Some((kind, filter?)))
    }

    /// The legal base quantities: multiples of every non-zero step and of the precision's unit.
    fn quantity_grid(&self) -> Option<Grid> {
        self.lot_sizes().try_fold(
            Grid::with_decimals(self.rules.base_asset_precision),
            |grid, (_, filter)| grid.and_multiple_of(filter.step_size.get()),
        )
    }

    fn smallest_max_qty(&self) -> Option<Quantity> {
        self.lot_sizes()
            .map(|(_, filter)| filter.max_qty)
            .filter(|max_qty| !max_qty.is_zero())
            .min()
    }

    /// The highest minimum quantity for which `is_below` holds, if any; LOT_SIZE's on a tie.
    fn violated_min_qty(
        &self,
        is_below: impl Fn(Quantity) -> bool,
    ) -> Option<(QuantityFilterKind, Quantity)> {
        self.lot_sizes()
            .map(|(kind, filter)| (kind, filter.min_qty))
            .filter(|&(_, min_qty)| is_below(min_qty))
            .reduce(|highest, next| if next.1 > highest.1 { next } else { highest })
    }

    /// The minimum notionals that apply to MARKET orders.
    fn min_notionals(&self) -> impl Iterator<Item = (NotionalFilterKind, Decimal)> {
        let min_notional = self
            .rules
            .min_notional
            .filter(|filter| filter.apply_to_market)
            .map(|filter| (NotionalFilterKind::MinNotional, filter.min_notional));
        let notional = self
            .rules
            .notional
            .filter(|filter| filter.apply_min_to_market)
            .map(|filter| (NotionalFilterKind::Notional, filter.min_notional));
        min_notional.into_iter().chain(notional)
    }

    /// The maximum notional that applies to MARKET orders, if any (zero means none).
    fn max_notional(&self) -> Option<Decimal> {
        self.rules
            .notional
            .filter(|filter| filter.apply_max_to_market && filter.max_notional > Decimal::ZERO)
            .map(|filter| filter.max_notional)
    }

    fn notional(&self, qty: Quantity) -> Option<Decimal> {
        qty.get().checked_mul(self.price)
    }

    /// A base quantity that is legal apart from the maximum notional: `requested` rounded down to
    /// `grid` (which is `floored`), if that is positive and meets every minimum.
    ///
    /// The minimum quantities are checked on `requested` first so that an order far below them is
    /// reported with the quantity asked for, not with the 0 it rounds to.
    fn legal_quantity(
        &self,
        grid: Grid,
        requested: Quantity,
        floored: Decimal,
    ) -> Result<Quantity, Rejection> {
        let quantity = self.floored_quantity_meeting_min_qty(
            grid,
            requested,
            |min_qty| requested < min_qty,
            floored,
        )?;
        let notional = self
            .notional(quantity)
            .ok_or_else(|| self.beyond_decimal_range(quantity, &self.rules.base_asset))?;
        self.check_min_notional(notional)?;
        Ok(quantity)
    }

    /// Checks a quote amount against the minimum notionals, and the base quantity it buys at the
    /// reference price, rounded down to `grid`, against the minimum quantities.
    fn check_quote_amount(&self, grid: Grid, amount: Decimal) -> Result<(), Rejection> {
        self.check_min_notional(amount)?;
        let beyond_range =
            || self.beyond_decimal_range(to_quantity(amount), &self.rules.quote_asset);
        let estimate = amount.checked_div(self.price).ok_or_else(beyond_range)?;
        // Truncated for the message, so a reported estimate is never above the true one.
        let estimate = estimate
            .round_sf_with_strategy(ESTIMATE_SIGNIFICANT_DIGITS, RoundingStrategy::ToZero)
            .unwrap_or(estimate);
        let floored = grid
            .floor_quotient(amount, self.price)
            .ok_or_else(beyond_range)?;
        // amount / price < min_qty, compared exactly as amount < min_qty * price.
        let amount_is_below = |min_qty: Quantity| {
            min_qty
                .get()
                .checked_mul(self.price)
                .is_none_or(|cost_of_min_qty| amount < cost_of_min_qty)
        };
        self.floored_quantity_meeting_min_qty(grid, to_quantity(estimate), amount_is_below, floored)
            .map(|_| ())
    }

    /// `floored` (the largest point of `grid` at or below what was requested) if it is positive and
    /// at least every minimum quantity. `requested_is_below(min_qty)` says whether the requested
    /// quantity itself is below `min_qty`; then `requested` is what the rejection reports.
    fn floored_quantity_meeting_min_qty(
        &self,
        grid: Grid,
        requested: Quantity,
        requested_is_below: impl Fn(Quantity) -> bool,
        floored: Decimal,
    ) -> Result<Quantity, Rejection> {
        if let Some((filter, min_qty)) = self.violated_min_qty(requested_is_below) {
            return Err(self.below_min_qty(filter, min_qty, requested));
        }
        let floored = to_quantity(floored);
        if floored.is_zero() {
            return Err(Rejection::RoundsToZero {
                side: self.side,
                qty: requested,
                step: to_quantity(grid.unit()),
                asset: self.rules.base_asset.clone(),
            });
        }
        if let Some((filter, min_qty)) = self.violated_min_qty(|min_qty| floored < min_qty) {
            return Err(self.below_min_qty(filter, min_qty, floored));
        }
        Ok(floored)
    }

    fn below_min_qty(
        &self,
        filter: QuantityFilterKind,
        min_qty: Quantity,
        qty: Quantity,
    ) -> Rejection {
        Rejection::BelowMinQty {
            side: self.side,
            filter,
            min_qty,
            qty,
            asset: self.rules.base_asset.clone(),
        }
    }

    fn check_min_notional(&self, notional: Decimal) -> Result<(), Rejection> {
        match self
            .min_notionals()
            .filter(|&(_, min_notional)| notional < min_notional)
            .reduce(|highest, next| if next.1 > highest.1 { next } else { highest })
        {
            Some((filter, min_notional)) => Err(Rejection::BelowMinNotional {
                side: self.side,
                filter,
                min_notional: min_notional.normalize(),
                notional: notional.normalize(),
                asset: self.rules.quote_asset.clone(),
            }),
            None => Ok(()),
        }
    }

    fn above_max_notional(&self, max_notional: Decimal, notional: Decimal) -> Rejection {
        Rejection::AboveMaxNotional {
            side: self.side,
            max_notional: max_notional.normalize(),
            notional: notional.normalize(),
            asset: self.rules.quote_asset.clone(),
        }
    }

    fn beyond_decimal_range(&self, qty: Quantity, asset: &str) -> Rejection {
        Rejection::BeyondDecimalRange {
            side: self.side,
            qty,
            asset: asset.to_owned(),
        }
    }
}

/// Wraps a value that is non-negative by construction (a floor or quotient of non-negative
/// amounts); a negative one cannot occur, and would become zero rather than a panic.
fn to_quantity(value: Decimal) -> Quantity {
    Quantity::new(value).unwrap_or(Quantity::ZERO)
}
