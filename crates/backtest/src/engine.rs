//! The bar loop: feeds each candle to the strategy, fills its signals at that candle's close (or,
//! with [`Fill::Book`], on the simulator's book around it), and tracks cash, position, fees and the
//! per-bar statistics.
//!
//! This is the hot path of backtests and sweeps (hundreds of millions of candles a second). The
//! strategy runs over the candles in its own loop ([`Strategy::run`]; `EmaRsiCross` computes four
//! stretches of a long run at once in SIMD lanes) and calls back on each signal. The wallet cannot
//! change in between, so the statistics catch up over the whole stretch at the callback (from its
//! extreme closes and its day ends, not bar by bar), and the fill, which happens on a few bars in
//! a hundred, lives in a separate cold function. Money here is `f64` on purpose: this is the
//! backtest hot loop, the one place outside indicators where the project allows it. When exchange
//! rules are given, every order goes through `market`'s `Decimal` normaliser exactly as a live
//! order would.

use std::ops::Range;

use accounting::ledger::{self, ExecutionAmounts, Holding};
use accounting::sizing::{SizingInputs, order_quantity};
use market::{CandleSeries, Price, Side, SymbolRules};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use strategy::{Position, Signal, Strategy};

use crate::metrics::{DailyReturns, Drawdown, RunTotals, Summary};

/// How much a BUY spends, and by whose arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sizing {
    /// All available cash, fee included: `qty = cash / (close * (1 + fee))`, never rounded, and
    /// the cash is exactly zero afterwards; the fee is charged in quote on both sides. This is
    /// the published reference strategy's arithmetic (in `f64`, which the reference trades match
    /// bit for bit), and the one place where the backtest sizes and books differently from a
    /// live bot, on purpose: no bot spends all its cash.
    AllIn,
    /// This much quote currency per BUY, sized and booked by the live engine's own code
    /// (`accounting`): a BUY spends the smaller of this and 98 % of the cash at the close, made
    /// legal by the rules when given; a SELL sells the holding; the exchange takes the fee in
    /// the asset received (base on a BUY, quote on a SELL, rounded to 8 decimals as Binance's);
    /// the PnL is the ledger's, by average cost, in `Decimal`.
    QuotePerTrade(f64),
}

/// Where a signal's order fills.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Fill {
    /// At the signal candle's close, whatever its size (the published reference's rule).
    #[default]
    Close,
    /// On the simulator's synthetic book around the close ([`sim_book`]), as a paper bot's
    /// MARKET order on `spotbot sim` fills: a BUY sized at the best ask and walking the asks, a
    /// SELL at the best bid walking the bids. Quote-per-trade sizing only (the live arithmetic).
    Book(BookFill),
}

/// The book a [`Fill::Book`] walks: its shape, and the symbol's price and quantity grids.
#[derive(Debug, Clone, PartialEq)]
pub struct BookFill {
    /// The levels around the price (the simulator's listing's).
    pub shape: sim_book::BookShape,
    /// PRICE_FILTER `tickSize`: the grid of the book's prices.
    pub tick_size: Decimal,
    /// LOT_SIZE `stepSize`: the grid of the quantities traded.
    pub step_size: Decimal,
}

impl BookFill {
    /// `shape` on the grids of `rules`; `None` when the rules lack a price or lot size filter.
    pub fn with_rules(shape: sim_book::BookShape, rules: &SymbolRules) -> Option<BookFill> {
        Some(BookFill {
            shape,
            tick_size: rules.price_filter.as_ref()?.tick_size.get(),
            step_size: Decimal::from(rules.lot_size.as_ref()?.step_size),
        })
    }

    /// The levels a taker on `side` meets around `close`, best first.
    fn levels(&self, side: Side, close: f64) -> Vec<sim_book::Level> {
        let centre = sim_book::tick_price(close, self.tick_size);
        self.shape.levels_for(side, centre, self.tick_size)
    }
}

/// Everything about the simulated account and exchange.
#[derive(Debug, Clone)]
pub struct BacktestConfig {
    /// Fee per fill as a fraction of its notional (0.001 = 0.1 %).
    pub fee_rate: f64,
    /// Quote currency at the start.
    pub starting_cash: f64,
    /// BUY sizing.
    pub sizing: Sizing,
    /// The exchange's filters for the symbol; when present every order is normalised with them
    /// and orders they refuse are skipped, as the live engine would.
    pub rules: Option<SymbolRules>,
    /// Where orders fill: at the close, or on the simulator's book.
    pub fill: Fill,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            fee_rate: 0.001,
            starting_cash: 10_000.0,
            sizing: Sizing::AllIn,
            rules: None,
            fill: Fill::Close,
        }
    }
}

/// Why a configuration cannot be run; the message names the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidConfig {
    /// Fee below zero, not below 1, or not a number.
    #[error(
        "fee must be a fraction of notional from 0 up to (not including) 1, e.g. 0.001 for 0.1 %; got {0}"
    )]
    Fee(f64),
    /// Starting cash not positive.
    #[error("cash must be greater than zero; got {0}")]
    Cash(f64),
    /// Quote per trade not positive.
    #[error("quote per trade must be greater than zero; got {0}")]
    QuotePerTrade(f64),
    /// Book fills asked for with all-in sizing.
    #[error(
        "fills on the book need a quote per trade (the live bots' sizing); all-in sizing fills at the close"
    )]
    BookNeedsQuotePerTrade,
}

impl BacktestConfig {
    /// Checks the numbers, naming the first bad one.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if !(self.fee_rate >= 0.0 && self.fee_rate < 1.0) {
            return Err(InvalidConfig::Fee(self.fee_rate));
        }
        if !(self.starting_cash > 0.0 && self.starting_cash.is_finite()) {
            return Err(InvalidConfig::Cash(self.starting_cash));
        }
        if let Sizing::QuotePerTrade(quote) = self.sizing
            && !(quote > 0.0 && quote.is_finite())
        {
            return Err(InvalidConfig::QuotePerTrade(quote));
        }
        if matches!(self.fill, Fill::Book(_)) && self.sizing == Sizing::AllIn {
            return Err(InvalidConfig::BookNeedsQuotePerTrade);
        }
        Ok(())
    }
}

/// One completed BUY-then-SELL.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoundTrip {
    /// Open time of the BUY bar (ms).
    pub entry_time_ms: i64,
    /// BUY fill price: the bar's close, or with [`Fill::Book`] the average over the levels walked.
    pub entry_price: f64,
    /// Open time of the SELL bar (ms).
    pub exit_time_ms: i64,
    /// SELL fill price, as [`RoundTrip::entry_price`].
    pub exit_price: f64,
    /// Base quantity bought.
    pub qty: f64,
    /// Base quantity sold: the quantity bought in all-in mode; in quote-per-trade mode what the
    /// exchange received after the BUY's commission (taken in base), made legal by the rules.
    pub exit_qty: f64,
    /// Cash after the SELL minus cash before the BUY: the trade's result net of both fees.
    pub pnl: f64,
}

/// A signal that produced no order, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedOrder {
    /// Open time of the bar (ms).
    pub time_ms: i64,
    /// The order's side.
    pub side: Side,
    /// The normaliser's reason, in words.
    pub reason: String,
}

/// Receives every bar's closing equity; lets the loop record an equity curve only when asked.
pub trait BarObserver {
    /// False for observers that ignore bars, so the engine can skip bars whose equity is known.
    const NEEDS_EVERY_BAR: bool = true;

    /// Called once per bar, in order, with the equity after any fill on that bar.
    fn on_bar(&mut self, open_time_ms: i64, equity: f64);
}

/// Records nothing; compiles to nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl BarObserver for NoObserver {
    const NEEDS_EVERY_BAR: bool = false;

    #[inline(always)]
    fn on_bar(&mut self, _open_time_ms: i64, _equity: f64) {}
}

/// The equity at every bar's close.
#[derive(Debug, Default, Clone)]
pub struct EquityCurve {
    /// `(open_time_ms, equity)` per bar.
    pub points: Vec<(i64, f64)>,
}

impl BarObserver for EquityCurve {
    #[inline]
    fn on_bar(&mut self, open_time_ms: i64, equity: f64) {
        self.points.push((open_time_ms, equity));
    }
}

/// The position opened by the last BUY.
#[derive(Debug, Clone, Copy)]
struct OpenTrade {
    entry_time_ms: i64,
    entry_price: f64,
    qty: f64,
    cash_before: f64,
}

/// What the account holds between two signals; fills update it in place.
#[derive(Debug, Clone, Copy)]
struct Wallet {
    cash: f64,
    /// Base asset held, including dust the exchange's step size would not let us sell.
    held_qty: f64,
    /// An open trade exists (the strategy is told it is long).
    long: bool,
}

/// Statistics of the bars so far, settled a stretch between two signals at a time.
#[derive(Debug, Clone, Copy)]
struct BarStats {
    bars: u64,
    bars_in_market: u64,
    last_close: f64,
    drawdown: Drawdown,
    daily: DailyReturns,
}

/// Prefetches the open times and closes about 260 candles ahead (some ten signals). The strategy
/// computes its signals ahead of this loop (in SIMD lanes, stretches of the run apart), so when a
/// signal arrives its candles have left the cache, and the engine's reads at the next signals (the
/// stretch's last close and, when holding, all its closes for the extremes; the open times at day
/// ends) would each miss and stall. Requested now, the misses overlap with the work in between.
/// Measured on the default backtest: 3.8 ms without, 3.4 ms with; nearer distances gain less.
#[inline(always)]
fn prefetch_candles_ahead(times: &[i64], closes: &[f64], index: usize) {
    #[cfg(target_arch = "x86_64")]
    for ahead in [256, 264, 272] {
        if let (Some(time), Some(close)) = (times.get(index + ahead), closes.get(index + ahead)) {
            for address in [
                std::ptr::from_ref(time).cast::<i8>(),
                std::ptr::from_ref(close).cast::<i8>(),
            ] {
                // SAFETY: a prefetch is only a hint; it never faults and reads nothing into the
                // program, and the address is that of a live element anyway.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address);
                }
            }
        }
    }
}

/// What the strategy is told: long while a trade is open.
#[inline(always)]
fn position_of(wallet: Wallet) -> Position {
    if wallet.long {
        Position::Long
    } else {
        Position::Flat
    }
}

impl BarStats {
    /// Accounts for bars over which the wallet did not change.
    #[inline(always)]
    fn observe<O: BarObserver>(
        &mut self,
        times: &[i64],
        closes: &[f64],
        wallet: Wallet,
        observer: &mut O,
    ) {
        let Some(&last_close) = closes.last() else {
            return;
        };
        self.bars += closes.len() as u64;
        if wallet.long {
            self.bars_in_market += closes.len() as u64;
        }
        self.last_close = last_close;
        let Wallet { cash, held_qty, .. } = wallet;
        // Equity is monotone in the close (never decreasing, as rounding is monotone too), so
        // the statistics need only the extremes of each stretch, and the equity at day ends.
        let equity_at = |index: usize| cash + held_qty * closes[index];
        if held_qty == 0.0 {
            self.drawdown.observe(cash);
        } else {
            self.drawdown.observe_holding(closes, cash, held_qty);
        }
        self.daily.observe_run(times, equity_at);
        if O::NEEDS_EVERY_BAR {
            for (index, &time) in times.iter().enumerate() {
                observer.on_bar(time, equity_at(index));
            }
        }
    }
}

/// A backtest in progress: account state plus running statistics. Can be advanced over candles in
/// pieces, each continuing where the last one stopped (as a live feed delivers them).
#[derive(Debug, Clone)]
pub struct Simulation<'c> {
    config: &'c BacktestConfig,
    wallet: Wallet,
    stats: BarStats,
    open_trade: Option<OpenTrade>,
    round_trips: Vec<RoundTrip>,
    skipped: Vec<SkippedOrder>,
    total_fees: f64,
    /// The account in `Decimal`, kept by the live engine's code in quote-per-trade mode (the
    /// `f64` wallet mirrors it for the bar statistics).
    books: Books,
}

/// The account as the live engine books it: cash and the holding, by average cost.
#[derive(Debug, Clone, Copy, Default)]
struct Books {
    cash: Decimal,
    holding: Holding,
}

/// `value` as the `f64` the bar statistics keep.
fn as_f64(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

/// The decimals an exchange rounds commissions to (Binance's `baseCommissionPrecision` and
/// `quoteCommissionPrecision`, and the simulator's).
const COMMISSION_DECIMALS: u32 = 8;

/// A finished backtest.
#[derive(Debug, Clone)]
pub struct BacktestRun {
    /// The statistics.
    pub summary: Summary,
    /// Every completed round trip, in order.
    pub round_trips: Vec<RoundTrip>,
    /// Signals that produced no order: refused by the exchange rules, or no cash left.
    pub skipped: Vec<SkippedOrder>,
}

/// Runs `strategy` over all of `candles` from a fresh account.
pub fn run_backtest<S: Strategy, O: BarObserver>(
    strategy: &mut S,
    candles: &CandleSeries,
    config: &BacktestConfig,
    observer: &mut O,
) -> BacktestRun {
    run_backtest_over(strategy, candles, 0..candles.len(), config, observer)
}

/// [`run_backtest`] over the candles of `range` only: a fresh account at `range.start`. What the
/// strategy knows of the candles before it is its own affair: a strategy that reads
/// precomputed series (a sweep's) has its indicators primed by them, one that computes as it
/// goes starts from nothing.
pub fn run_backtest_over<S: Strategy, O: BarObserver>(
    strategy: &mut S,
    candles: &CandleSeries,
    range: Range<usize>,
    config: &BacktestConfig,
    observer: &mut O,
) -> BacktestRun {
    let mut simulation = Simulation::new(config);
    simulation.advance(strategy, candles, range, observer);
    simulation.finish()
}

impl<'c> Simulation<'c> {
    /// A fresh account with the configured starting cash.
    pub fn new(config: &'c BacktestConfig) -> Self {
        Simulation {
            config,
            wallet: Wallet {
                cash: config.starting_cash,
                held_qty: 0.0,
                long: false,
            },
            stats: BarStats {
                bars: 0,
                bars_in_market: 0,
                last_close: f64::NAN,
                drawdown: Drawdown::new(config.starting_cash),
                daily: DailyReturns::new(config.starting_cash),
            },
            open_trade: None,
            round_trips: Vec::new(),
            skipped: Vec::new(),
            total_fees: 0.0,
            books: Books {
                cash: Decimal::from_f64(config.starting_cash).unwrap_or_default(),
                holding: Holding::default(),
            },
        }
    }

    /// Feeds the candles in `range` (which must continue where the last call stopped).
    pub fn advance<S: Strategy, O: BarObserver>(
        &mut self,
        strategy: &mut S,
        candles: &CandleSeries,
        range: Range<usize>,
        observer: &mut O,
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA, checked just above; that is all `advance_fma` requires.
            unsafe { self.advance_fma(strategy, candles, range, observer) };
            return;
        }
        self.advance_portable(strategy, candles, range, observer);
    }

    /// The bar loop compiled with FMA, so the indicators' `mul_add` is one instruction instead
    /// of a library call. Results are identical either way; only speed differs.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma")]
    fn advance_fma<S: Strategy, O: BarObserver>(
        &mut self,
        strategy: &mut S,
        candles: &CandleSeries,
        range: Range<usize>,
        observer: &mut O,
    ) {
        self.advance_portable(strategy, candles, range, observer);
    }

    #[inline(always)]
    fn advance_portable<S: Strategy, O: BarObserver>(
        &mut self,
        strategy: &mut S,
        candles: &CandleSeries,
        range: Range<usize>,
        observer: &mut O,
    ) {
        let times = candles.open_times_ms();
        let closes = candles.closes();
        // Between two signals the wallet does not change, so the statistics catch up over each
        // stretch at once, when the next signal (or the end) arrives.
        let mut wallet = self.wallet;
        let mut stats = self.stats;
        let mut stretch_start = range.start;
        let position = position_of(wallet);
        strategy.run(candles, range.clone(), position, |index, signal| {
            stats.observe(
                &times[stretch_start..index],
                &closes[stretch_start..index],
                wallet,
                observer,
            );
            self.fill(&mut wallet, signal, times[index], closes[index]);
            // The signal's own bar closes with the new wallet: it opens the next stretch.
            stretch_start = index;
            prefetch_candles_ahead(times, closes, index);
            position_of(wallet)
        });
        stats.observe(
            &times[stretch_start..range.end],
            &closes[stretch_start..range.end],
            wallet,
            observer,
        );
        self.wallet = wallet;
        self.stats = stats;
    }

    /// Executes a signal at the candle's close. Rare, so kept out of the loop body.
    #[cold]
    #[inline(never)]
    fn fill(&mut self, wallet: &mut Wallet, signal: Signal, time_ms: i64, price: f64) {
        if let Sizing::QuotePerTrade(quote) = self.config.sizing {
            return self.fill_as_live(wallet, signal, time_ms, price, quote);
        }
        let fee_rate = self.config.fee_rate;
        match signal {
            Signal::Buy => {
                let budget = match self.config.sizing {
                    Sizing::AllIn => wallet.cash,
                    Sizing::QuotePerTrade(quote) => quote.min(wallet.cash),
                };
                if budget <= 0.0 {
                    return self.skip(time_ms, Side::Buy, "no cash left to spend".to_owned());
                }
                let desired = budget / (price * (1.0 + fee_rate));
                let qty = match self.legal_quantity(Side::Buy, price, desired) {
                    Ok(qty) => qty,
                    Err(reason) => return self.skip(time_ms, Side::Buy, reason),
                };
                let notional = qty * price;
                let fee = notional * fee_rate;
                self.open_trade = Some(OpenTrade {
                    entry_time_ms: time_ms,
                    entry_price: price,
                    qty,
                    cash_before: wallet.cash,
                });
                // Spending all the cash leaves exactly nothing, as on an exchange; subtracting
                // would leave a rounding residue of either sign.
                let spends_everything = budget == wallet.cash && qty == desired;
                wallet.cash = if spends_everything {
                    0.0
                } else {
                    wallet.cash - (notional + fee)
                };
                wallet.held_qty += qty;
                wallet.long = true;
                self.total_fees += fee;
            }
            Signal::Sell => {
                let Some(trade) = self.open_trade else {
                    return;
                };
                let qty = match self.legal_quantity(Side::Sell, price, wallet.held_qty) {
                    Ok(qty) => qty,
                    Err(reason) => return self.skip(time_ms, Side::Sell, reason),
                };
                let notional = qty * price;
                let fee = notional * fee_rate;
                wallet.cash += notional - fee;
                wallet.held_qty -= qty;
                wallet.long = false;
                self.total_fees += fee;
                self.open_trade = None;
                self.round_trips.push(RoundTrip {
                    entry_time_ms: trade.entry_time_ms,
                    entry_price: trade.entry_price,
                    exit_time_ms: time_ms,
                    exit_price: price,
                    qty: trade.qty,
                    exit_qty: qty,
                    pnl: wallet.cash - trade.cash_before,
                });
            }
        }
    }

    /// Executes a signal at the candle's close as a live bot's order would be: sized by
    /// `accounting::sizing`, the commission taken in the asset received, booked by
    /// `accounting::ledger`.
    fn fill_as_live(
        &mut self,
        wallet: &mut Wallet,
        signal: Signal,
        time_ms: i64,
        close: f64,
        quote_per_buy: f64,
    ) {
        let side = match signal {
            Signal::Buy => Side::Buy,
            Signal::Sell => Side::Sell,
        };
        if side == Side::Sell && self.open_trade.is_none() {
            return;
        }
        let decimal = |value: f64| Decimal::from_f64(value).unwrap_or_default();
        // With book fills, the levels the order meets: its size is priced at the best one, then
        // it walks them.
        let book = match &self.config.fill {
            Fill::Close => None,
            Fill::Book(book) => Some((book, book.levels(side, close))),
        };
        // The price the order is sized at: what it pays first.
        let quoted = match &book {
            None => decimal(close),
            Some((_, levels)) => levels.first().map_or(Decimal::ZERO, |level| level.price),
        };
        let Ok(price) = Price::new(quoted) else {
            return self.skip(time_ms, side, format!("the close {close} is not a price"));
        };
        let books = self.books;
        let inputs = SizingInputs {
            quote_per_buy: decimal(quote_per_buy),
            position: books.holding.quantity,
            free_quote: books.cash,
            free_base: books.holding.quantity,
        };
        let quantity = match order_quantity(self.config.rules.as_ref(), side, price, &inputs) {
            Ok(quantity) => quantity,
            Err(reason) => return self.skip(time_ms, side, reason),
        };
        // A walk that runs out of book trades less than asked (the rest expires, as on Binance).
        let (executed_base, executed_quote) = match &book {
            None => (quantity, quantity * price.get()),
            Some((book, levels)) => {
                let size = sim_book::OrderSize::Base(quantity);
                let walked = sim_book::execute(levels, size, book.step_size);
                (walked.executed_qty(), walked.quote_qty())
            }
        };
        if executed_base.is_zero() {
            return self.skip(
                time_ms,
                side,
                "the book has nothing on that side".to_owned(),
            );
        }
        let fill_price = as_f64(executed_quote / executed_base);
        let received = match side {
            Side::Buy => executed_base,
            Side::Sell => executed_quote,
        };
        let commission = (received * decimal(self.config.fee_rate))
            .round_dp_with_strategy(COMMISSION_DECIMALS, RoundingStrategy::MidpointAwayFromZero);
        let (fee_base, fee_quote) = match side {
            Side::Buy => (commission, Decimal::ZERO),
            Side::Sell => (Decimal::ZERO, commission),
        };
        let execution = ExecutionAmounts {
            side,
            executed_base,
            executed_quote,
            fee_base,
            fee_quote,
        };
        let applied = match ledger::apply(&books.holding, &execution) {
            Ok(applied) => applied,
            Err(error) => return self.skip(time_ms, side, format!("cannot be booked: {error}")),
        };
        let cash = match side {
            Side::Buy => books.cash - executed_quote,
            Side::Sell => books.cash + executed_quote - fee_quote,
        };
        self.books = Books {
            cash,
            holding: applied.holding_after,
        };
        wallet.cash = as_f64(cash);
        wallet.held_qty = as_f64(applied.holding_after.quantity);
        self.total_fees += as_f64(fee_base * price.get() + fee_quote);
        match side {
            Side::Buy => {
                wallet.long = true;
                self.open_trade = Some(OpenTrade {
                    entry_time_ms: time_ms,
                    entry_price: fill_price,
                    qty: as_f64(executed_base),
                    cash_before: as_f64(books.cash),
                });
            }
            Side::Sell => {
                wallet.long = false;
                if let Some(trade) = self.open_trade.take() {
                    self.round_trips.push(RoundTrip {
                        entry_time_ms: trade.entry_time_ms,
                        entry_price: trade.entry_price,
                        exit_time_ms: time_ms,
                        exit_price: fill_price,
                        qty: trade.qty,
                        exit_qty: as_f64(executed_base),
                        pnl: as_f64(applied.realized_pnl.unwrap_or_default()),
                    });
                }
            }
        }
    }

    /// The quantity the exchange would accept for `desired`, or why none.
    #[inline]
    fn legal_quantity(&self, side: Side, price: f64, desired: f64) -> Result<f64, String> {
        match &self.config.rules {
            None => Ok(desired),
            Some(rules) => crate::exchange_rules::legal_quantity(rules, side, price, desired),
        }
    }

    fn skip(&mut self, time_ms: i64, side: Side, reason: String) {
        self.skipped.push(SkippedOrder {
            time_ms,
            side,
            reason,
        });
    }

    /// Closes the books: an open position is valued at the last close, without an exit fee.
    pub fn finish(self) -> BacktestRun {
        let Wallet { cash, held_qty, .. } = self.wallet;
        let final_equity = if held_qty == 0.0 {
            cash
        } else {
            cash + held_qty * self.stats.last_close
        };
        let summary = Summary::new(
            self.config,
            &self.round_trips,
            RunTotals {
                candles: self.stats.bars,
                final_equity,
                total_fees: self.total_fees,
                bars_in_market: self.stats.bars_in_market,
                ends_in_position: self.open_trade.is_some(),
                skipped_orders: self.skipped.len(),
                max_drawdown: self.stats.drawdown.max_fraction(),
                daily_sharpe: self.stats.daily.finish(final_equity),
            },
        );
        BacktestRun {
            summary,
            round_trips: self.round_trips,
            skipped: self.skipped,
        }
    }
}
