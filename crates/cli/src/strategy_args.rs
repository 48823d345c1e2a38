//! Command-line options shared by `backtest` and `sweep`: the data file, the simulated account and
//! the exchange rules, and loading them with errors that name the file and what is wrong.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use backtest::{BacktestConfig, BookFill, Fill, Sizing};
use clap::{Args, ValueEnum};
use market::{CandleSeries, Symbol, SymbolRules};

use crate::Failure;
use crate::progress::file_bar;

/// BUY sizing modes that take no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SizingMode {
    /// Spend all cash on every BUY, fee included, with no rounding.
    AllIn,
}

/// Where orders fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FillMode {
    /// At the signal candle's close.
    Close,
    /// On `spotbot sim`'s synthetic book around the close, as a paper bot's MARKET order fills
    /// there: a BUY at the asks, a SELL at the bids.
    Book,
}

/// Where the candles come from and how the simulated account trades.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// Candles: a CSV file (a header `open_time_ms,open,high,low,close,volume`, or Binance
    /// public-data klines: 12 columns, open time in ms or µs), a Binance kline archive
    /// (`BTCUSDT-1m-2024-01.zip`, checked against its `.CHECKSUM` when one lies beside it), or a
    /// directory of them, joined in time order (overlaps refused, gaps reported with their dates).
    #[arg(long, value_name = "FILE|DIR")]
    pub data: PathBuf,

    /// Fee per fill as a fraction of notional (0.001 = 0.1 %, Binance's base spot rate).
    #[arg(
        long,
        default_value_t = 0.001,
        value_name = "FRACTION",
        allow_negative_numbers = true
    )]
    pub fee: f64,

    /// Quote currency (e.g. USDT) the account starts with.
    #[arg(
        long,
        default_value_t = 10_000.0,
        value_name = "QUOTE",
        allow_negative_numbers = true
    )]
    pub cash: f64,

    /// How much each BUY spends: all-in = all cash, fee included.
    #[arg(long, value_enum, default_value_t = SizingMode::AllIn, conflicts_with = "quote_per_trade")]
    pub sizing: SizingMode,

    /// Spend this much quote per BUY (at most 98 % of the cash) instead of all cash, sized and
    /// booked by the live bots' own code: the fee taken in the asset received (base on a BUY),
    /// the PnL by average cost. A paper bot with this quote per BUY trades the same quantities.
    #[arg(long, value_name = "QUOTE", allow_negative_numbers = true)]
    pub quote_per_trade: Option<f64>,

    /// Binance exchangeInfo JSON (one symbol object, or a whole response with one symbol or
    /// with --symbol): every order is normalised to its LOT_SIZE, MARKET_LOT_SIZE and notional
    /// filters exactly as live, and orders the filters refuse are skipped.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// Which symbol of a multi-symbol --rules file to use.
    #[arg(long, value_name = "SYMBOL", requires = "rules")]
    pub symbol: Option<String>,

    /// Where orders fill: close = at the signal candle's close; book = on the synthetic book of
    /// `spotbot sim`'s listing of the --rules symbol (BTCUSDT, ETHUSDT or BNBUSDT) around the
    /// close, sized at the best ask or bid, as a paper bot's orders fill on a replay of the same
    /// file: prices and PnL then equal the paper bot's. Needs --quote-per-trade and --rules.
    #[arg(long, value_enum, default_value_t = FillMode::Close, value_name = "WHERE")]
    pub fill: FillMode,
}

impl AccountArgs {
    /// The backtest configuration these options describe, checked.
    pub fn config(&self) -> Result<BacktestConfig, Failure> {
        let sizing = match (self.sizing, self.quote_per_trade) {
            (_, Some(quote)) => Sizing::QuotePerTrade(quote),
            (SizingMode::AllIn, None) => Sizing::AllIn,
        };
        let rules = self
            .rules
            .as_deref()
            .map(|path| load_rules(path, self.symbol.as_deref()))
            .transpose()?;
        let fill = match self.fill {
            FillMode::Close => Fill::Close,
            FillMode::Book => Fill::Book(simulator_book(rules.as_ref())?),
        };
        let config = BacktestConfig {
            fee_rate: self.fee,
            starting_cash: self.cash,
            sizing,
            rules,
            fill,
        };
        config
            .validate()
            .map_err(|err| Failure::Usage(err.to_string()))?;
        Ok(config)
    }

    /// Loads the candles, with a progress bar for large inputs on a terminal; a directory's
    /// gaps are told on stderr with their dates.
    pub fn load_candles(&self) -> Result<CandleSeries, Failure> {
        let bar = file_bar(input_bytes(&self.data), "loading candles");
        let loaded = candle_file::load_candles(&self.data, |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(anyhow::Error::from)?;
        bar.finish_and_clear();
        if loaded.files.len() > 1 {
            let opens = loaded.series.open_times_ms();
            eprintln!(
                "spotbot: {} candles from {} files, {} to {}",
                opens.len(),
                loaded.files.len(),
                market::format_utc_ms(opens[0]),
                market::format_utc_ms(opens[opens.len() - 1])
            );
        }
        for gap in &loaded.gaps {
            eprintln!("spotbot: note: {gap}");
        }
        Ok(loaded.series)
    }
}

/// The book `spotbot sim` gives the symbol of `rules`, on their tick and step grids.
fn simulator_book(rules: Option<&SymbolRules>) -> Result<BookFill, Failure> {
    let rules = rules.ok_or_else(|| {
        Failure::Usage(
            "--fill book needs --rules: the symbol's exchangeInfo (GET /api/v3/exchangeInfo?symbol=BTCUSDT of spotbot sim, saved to a file) gives the book's price and quantity steps".to_owned(),
        )
    })?;
    let listings = sim::ExchangeConfig::default().listings;
    let listing = listings
        .iter()
        .find(|listing| listing.symbol == rules.symbol.as_str())
        .ok_or_else(|| {
            let listed: Vec<&str> = listings.iter().map(|listing| listing.symbol.as_str()).collect();
            Failure::Usage(format!(
                "--fill book: spotbot sim lists no {}, so there is no book to fill on; it lists {} (or use --fill close)",
                rules.symbol,
                listed.join(", ")
            ))
        })?;
    BookFill::with_rules(listing.book.clone(), rules).ok_or_else(|| {
        Failure::Usage(format!(
            "--fill book: the rules of {} have no PRICE_FILTER or LOT_SIZE filter, which give the book's steps",
            rules.symbol
        ))
    })
}

fn load_rules(path: &Path, symbol: Option<&str>) -> Result<SymbolRules, Failure> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read the rules file {}", path.display()))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let symbols = document
        .get("symbols")
        .or_else(|| document.pointer("/result/symbols"))
        .and_then(serde_json::Value::as_array);
    let rules = match (symbols, symbol) {
        // A single symbol object, as found in `exchangeInfo.symbols`.
        (None, _) => SymbolRules::from_symbol_json(&document).map_err(anyhow::Error::from),
        (Some(_), Some(name)) => {
            let name =
                Symbol::new(name).map_err(|err| Failure::Usage(format!("--symbol: {err}")))?;
            SymbolRules::from_exchange_info(&document, &name).map_err(anyhow::Error::from)
        }
        (Some(entries), None) => match entries.as_slice() {
            [only] => SymbolRules::from_symbol_json(only).map_err(anyhow::Error::from),
            _ => {
                return Err(Failure::Usage(format!(
                    "{} lists {} symbols; choose one with --symbol",
                    path.display(),
                    entries.len()
                )));
            }
        },
    };
    Ok(rules.with_context(|| format!("{} does not hold usable exchange rules", path.display()))?)
}

/// The bytes `--data` names: a file's size, or the sum of a directory's files.
fn input_bytes(path: &std::path::Path) -> u64 {
    match fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.metadata().ok())
            .filter(fs::Metadata::is_file)
            .map(|metadata| metadata.len())
            .sum(),
        Err(_) => fs::metadata(path).map_or(0, |metadata| metadata.len()),
    }
}
