//! [`RunnableBot`]: a bot's stored configuration parsed once into typed values (its
//! [`Symbol`], its [`Interval`], a check that its strategy builds), so that cycles work on types
//! rather than re-parsing strings, and a configuration that cannot run is caught once, with the
//! field at fault named ([`BotConfigError`]).

use market::{Interval, Symbol, SymbolError, UnknownInterval};
use store::{BotConfig, BotId, Mode};
use strategy::spec::{BoxedStrategy, StrategySpecError, build_strategy};

/// Why a stored bot cannot run. Only a change of its configuration fixes it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BotConfigError {
    /// The symbol is not a symbol.
    #[error("symbol: {0}")]
    Symbol(#[from] SymbolError),
    /// The interval is not one of Binance's.
    #[error("interval: {0}")]
    Interval(#[from] UnknownInterval),
    /// The strategy or its parameters cannot be built.
    #[error(transparent)]
    Strategy(#[from] StrategySpecError),
    /// The venue's exchange does not list the symbol (any more).
    #[error(
        "symbol: {symbol} is not listed by the {venue} exchange (delisted?): give the bot a listed symbol"
    )]
    NotListed {
        /// The symbol.
        symbol: String,
        /// The venue.
        venue: Mode,
    },
}

/// A bot whose configuration parses: what the scheduler and the cycle work with.
#[derive(Debug, Clone)]
pub struct RunnableBot {
    /// The configuration as stored.
    pub config: BotConfig,
    /// Its symbol.
    pub symbol: Symbol,
    /// Its candle interval.
    pub interval: Interval,
    /// The interval's length, ms.
    pub interval_ms: i64,
}

impl RunnableBot {
    /// `config` parsed, or the field that does not parse.
    pub fn parse(config: &BotConfig) -> Result<RunnableBot, BotConfigError> {
        let symbol = Symbol::new(config.symbol.clone())?;
        let interval: Interval = config.interval.parse()?;
        build_strategy(&config.strategy, &config.strategy_params)?;
        Ok(RunnableBot {
            interval_ms: i64::try_from(interval.nominal_duration().as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
            config: config.clone(),
            symbol,
            interval,
        })
    }

    /// The bot's id.
    pub fn id(&self) -> BotId {
        self.config.id
    }

    /// A new strategy of the bot's kind, fed nothing yet.
    pub fn new_strategy(&self) -> Result<BoxedStrategy, BotConfigError> {
        Ok(build_strategy(
            &self.config.strategy,
            &self.config.strategy_params,
        )?)
    }

    /// What the bot's strategy state is built from: a change means rebuilding it.
    pub fn fingerprint(&self) -> String {
        let bot = &self.config;
        format!(
            "{}|{}|{}|{}|{}",
            bot.symbol, bot.interval, bot.strategy, bot.strategy_params, bot.created_at_ms
        )
    }
}
