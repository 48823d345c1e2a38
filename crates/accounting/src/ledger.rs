//! The per-bot ledger: the base quantity a bot holds, what that holding cost, and the PnL its
//! sells realised, by **average cost**. Pure arithmetic on `Decimal`, no I/O.
//!
//! [`apply`] folds one executed MARKET order ([`ExecutionAmounts`]) into a [`Holding`]:
//!
//! - **BUY**: `quantity += executed_base − fee_base` (a commission paid in the base asset is
//!   taken out of what arrives); `cost_quote += executed_quote + fee_quote` (a commission paid in
//!   quote, or in a third asset valued in quote, is part of what the holding cost).
//! - **SELL**: `leaving = executed_base + fee_base` (normally `fee_base` is 0: Binance charges
//!   the asset received, here the quote); `cost_of_sold = cost_quote × leaving / quantity`
//!   (average cost); `proceeds = executed_quote − fee_quote`;
//!   `realised = proceeds − cost_of_sold`; `quantity −= leaving`; `cost_quote −= cost_of_sold`;
//!   `realized_pnl += realised`. A sell of everything held takes the whole `cost_quote` as
//!   `cost_of_sold` (no division), so a closed position has `quantity = 0` and `cost_quote = 0`
//!   exactly.
//!
//! **Rounding.** Only `cost_of_sold` of a partial sell is divided. It is computed as
//! `(cost_quote × leaving) / quantity` with `rust_decimal`'s 28 significant digits, then rounded
//! **toward zero to 18 decimal places**. 18 places keep every stored amount on one fixed grid far
//! finer than any exchange's (Binance quotes to 8) while leaving ten integer digits before
//! additions would have to round; rounding toward zero keeps `cost_of_sold ≤ cost_quote`, so the
//! cost never goes negative. The residue (under 10⁻¹⁸ quote per partial sell) stays in
//! `cost_quote` and is realised by the sell that closes the position. Hence, over any sequence
//! that ends flat, `Σ realised = Σ sell proceeds − Σ buy costs` **exactly**: the costs of what
//! was sold add up to the costs of what was bought, to the last digit (buy 3 for 100, sell 1
//! three times: the last sell takes whatever cost is left). Exact as long as the sums themselves
//! fit `Decimal`'s 28 digits, which amounts of at most 18 decimals below 10¹⁰ always do; the
//! caller should round a third-asset commission's quote value to the quote's precision.
//!
//! **Edge cases.** Every amount must be non-negative ([`LedgerError::Negative`] names the field).
//! Selling more than is held is [`LedgerError::SellExceedsHolding`]: the engine never sells more
//! than min(position, free balance), so this is a bug to stop at, not a case to clamp. An
//! execution of zero base is a no-op when every other amount is zero too (the holding comes back
//! unchanged, with `realized_pnl` `Some(0)` on a SELL so that a SELL always carries a realised
//! figure); the engine only applies executions with `executed_base > 0`, and zero base with
//! non-zero quote or fees is [`LedgerError::AmountsWithoutExecution`]. A BUY whose base
//! commission is all it bought or more is [`LedgerError::FeeConsumesPurchase`] (nothing would
//! arrive to carry the cost); a result beyond `Decimal`'s range is [`LedgerError::Overflow`].
//!
//! [`split_fees`] turns an order's commissions, listed by asset, into the `fee_base` and
//! `fee_quote` that [`ExecutionAmounts`] wants.

use market::Side;
use rust_decimal::{Decimal, RoundingStrategy};

/// The decimal places the cost of a partial sell is rounded to (toward zero).
pub const COST_SCALE: u32 = 18;

/// A bot's holding: base quantity held, what it cost in quote (buy-side fees included), realised
/// PnL so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Holding {
    /// Base asset held, net of commissions paid in base.
    pub quantity: Decimal,
    /// What the quantity held cost, in quote, buy-side commissions included.
    pub cost_quote: Decimal,
    /// The PnL realised by every sell so far, in quote, net of sell-side commissions.
    pub realized_pnl: Decimal,
}

/// What one executed MARKET order did, with its fees already split by the asset they were paid
/// in (see [`split_fees`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionAmounts {
    /// Whether the order bought or sold the base asset.
    pub side: Side,
    /// Base asset executed (`executedQty`).
    pub executed_base: Decimal,
    /// Quote asset spent or received (`cummulativeQuoteQty`).
    pub executed_quote: Decimal,
    /// Commission paid in the base asset.
    pub fee_base: Decimal,
    /// Commission paid in the quote asset, plus commissions paid in a third asset (BNB) already
    /// valued in quote by the caller.
    pub fee_quote: Decimal,
}

/// The result of [`apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The holding with the execution folded in.
    pub holding_after: Holding,
    /// The PnL this execution realised: `Some` for a SELL, `None` for a BUY.
    pub realized_pnl: Option<Decimal>,
}

/// One commission of an order: an amount of some asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commission {
    /// The asset the commission was paid in (`commissionAsset`), e.g. `BNB`.
    pub asset: String,
    /// How much of it.
    pub amount: Decimal,
}

/// Why an execution or a commission cannot be booked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// An amount that must not be negative is.
    #[error("{field} is negative: {value}")]
    Negative {
        /// Which amount: `executed_base`, `executed_quote`, `fee_base`, `fee_quote`,
        /// `holding.quantity` or `holding.cost_quote`.
        field: &'static str,
        /// Its value.
        value: Decimal,
    },
    /// A sell (with any commission paid in base) takes more base than the holding has.
    #[error("selling {sold} of the base asset while holding only {held}")]
    SellExceedsHolding {
        /// The quantity held.
        held: Decimal,
        /// The quantity the sell takes (`executed_base + fee_base`).
        sold: Decimal,
    },
    /// A buy whose commission in base is all it bought, or more: nothing would arrive.
    #[error("the base commission {fee_base} consumes the whole purchase of {executed_base}")]
    FeeConsumesPurchase {
        /// Base bought.
        executed_base: Decimal,
        /// Commission paid in base.
        fee_base: Decimal,
    },
    /// An execution of zero base that reports quote moved or commissions paid.
    #[error("nothing executed, yet quote or commissions are reported")]
    AmountsWithoutExecution,
    /// A result beyond `Decimal`'s range (about 7.9 × 10²⁸).
    #[error("the amounts overflow the decimal range")]
    Overflow,
    /// A commission with a negative amount, or that the caller valued negative in quote.
    #[error("commission in {asset} is negative: {amount}")]
    NegativeCommission {
        /// The commission's asset.
        asset: String,
        /// The negative amount (in quote when it was the valuation that came out negative).
        amount: Decimal,
    },
    /// A commission in a third asset that the caller could not value in quote.
    #[error("no quote value for the commission paid in {asset}")]
    UnvaluedCommission {
        /// The commission's asset.
        asset: String,
    },
}

/// Folds `execution` into `holding` by average cost (the formula is in the module docs).
pub fn apply(holding: &Holding, execution: &ExecutionAmounts) -> Result<Applied, LedgerError> {
    non_negative("holding.quantity", holding.quantity)?;
    non_negative("holding.cost_quote", holding.cost_quote)?;
    non_negative("executed_base", execution.executed_base)?;
    non_negative("executed_quote", execution.executed_quote)?;
    non_negative("fee_base", execution.fee_base)?;
    non_negative("fee_quote", execution.fee_quote)?;
    if execution.executed_base.is_zero() {
        if !(execution.executed_quote.is_zero()
            && execution.fee_base.is_zero()
            && execution.fee_quote.is_zero())
        {
            return Err(LedgerError::AmountsWithoutExecution);
        }
        return Ok(Applied {
            holding_after: *holding,
            realized_pnl: (execution.side == Side::Sell).then_some(Decimal::ZERO),
        });
    }
    match execution.side {
        Side::Buy => buy(holding, execution),
        Side::Sell => sell(holding, execution),
    }
}

fn buy(holding: &Holding, execution: &ExecutionAmounts) -> Result<Applied, LedgerError> {
    if execution.fee_base >= execution.executed_base {
        return Err(LedgerError::FeeConsumesPurchase {
            executed_base: execution.executed_base,
            fee_base: execution.fee_base,
        });
    }
    let received = execution.executed_base - execution.fee_base;
    let cost = checked_add(execution.executed_quote, execution.fee_quote)?;
    Ok(Applied {
        holding_after: Holding {
            quantity: checked_add(holding.quantity, received)?,
            cost_quote: checked_add(holding.cost_quote, cost)?,
            realized_pnl: holding.realized_pnl,
        },
        realized_pnl: None,
    })
}

fn sell(holding: &Holding, execution: &ExecutionAmounts) -> Result<Applied, LedgerError> {
    let leaving = checked_add(execution.executed_base, execution.fee_base)?;
    if leaving > holding.quantity {
        return Err(LedgerError::SellExceedsHolding {
            held: holding.quantity,
            sold: leaving,
        });
    }
    // Closing the position takes all the cost that is left, residues of earlier roundings
    // included: that is what makes a full cycle's realised PnL exact, and leaves the cost of an
    // empty holding exactly zero.
    let (cost_of_sold, cost_after) = if leaving == holding.quantity {
        (holding.cost_quote, Decimal::ZERO)
    } else {
        let cost_of_sold = holding
            .cost_quote
            .checked_mul(leaving)
            .and_then(|product| product.checked_div(holding.quantity))
            .ok_or(LedgerError::Overflow)?
            .round_dp_with_strategy(COST_SCALE, RoundingStrategy::ToZero)
            // Rounding toward zero already stays below the cost; this guards the 28-digit
            // rounding of the quotient itself, which could otherwise overshoot by 10⁻²⁸.
            .min(holding.cost_quote);
        (cost_of_sold, holding.cost_quote - cost_of_sold)
    };
    // Both are non-negative, so this cannot overflow; the next subtraction can.
    let proceeds = execution.executed_quote - execution.fee_quote;
    let realized = proceeds
        .checked_sub(cost_of_sold)
        .ok_or(LedgerError::Overflow)?;
    Ok(Applied {
        holding_after: Holding {
            quantity: holding.quantity - leaving,
            cost_quote: cost_after,
            realized_pnl: checked_add(holding.realized_pnl, realized)?,
        },
        realized_pnl: Some(realized),
    })
}

/// Splits an order's commissions into `(fee_base, fee_quote)`: commissions in `base_asset` go to
/// `fee_base`, those in `quote_asset` to `fee_quote`, and those in any other asset (BNB) to
/// `fee_quote` at the value `value_in_quote(asset, amount)` gives. Asset names are compared
/// exactly, as Binance spells them. A zero commission is skipped without being valued, so that a
/// `0 BNB` entry needs no BNB price. A third-asset commission the callback cannot value is
/// [`LedgerError::UnvaluedCommission`] naming the asset.
pub fn split_fees(
    base_asset: &str,
    quote_asset: &str,
    fees: &[Commission],
    value_in_quote: impl Fn(&str, Decimal) -> Option<Decimal>,
) -> Result<(Decimal, Decimal), LedgerError> {
    let mut fee_base = Decimal::ZERO;
    let mut fee_quote = Decimal::ZERO;
    for fee in fees {
        let negative = |amount| LedgerError::NegativeCommission {
            asset: fee.asset.clone(),
            amount,
        };
        if fee.amount < Decimal::ZERO {
            return Err(negative(fee.amount));
        }
        if fee.amount.is_zero() {
            continue;
        }
        if fee.asset == base_asset {
            fee_base = checked_add(fee_base, fee.amount)?;
        } else if fee.asset == quote_asset {
            fee_quote = checked_add(fee_quote, fee.amount)?;
        } else {
            let valued = value_in_quote(&fee.asset, fee.amount).ok_or_else(|| {
                LedgerError::UnvaluedCommission {
                    asset: fee.asset.clone(),
                }
            })?;
            if valued < Decimal::ZERO {
                return Err(negative(valued));
            }
            fee_quote = checked_add(fee_quote, valued)?;
        }
    }
    Ok((fee_base, fee_quote))
}

/// The error naming `field` when `value` is negative (a negative zero is zero).
fn non_negative(field: &'static str, value: Decimal) -> Result<(), LedgerError> {
    if value < Decimal::ZERO {
        Err(LedgerError::Negative { field, value })
    } else {
        Ok(())
    }
}

fn checked_add(left: Decimal, right: Decimal) -> Result<Decimal, LedgerError> {
    left.checked_add(right).ok_or(LedgerError::Overflow)
}
