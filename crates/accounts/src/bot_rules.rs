//! The rules a bot must follow, checked as a whole on creation and after every change, by the
//! HTTP API (`POST /api/v1/bots`, `PATCH`) and `spotbot bot add` alike: a name of 1 to
//! [`BOT_NAME_MAX_CHARS`] characters; a venue this server trades; a symbol that venue's own
//! `exchangeInfo` lists ([`SymbolCatalog`](crate::SymbolCatalog)) and that takes MARKET orders;
//! a candle interval; a strategy and parameters the engine can build; a quote amount per BUY
//! that is a positive decimal and at least the symbol's minimum notional on that venue.
//!
//! Each failure names the field at fault ([`InvalidField`]); a venue whose listing cannot be read
//! is [`BotRuleError::ListingUnavailable`], not the user's fault.

use std::str::FromStr;

use market::{Interval, SymbolRules};
use rust_decimal::Decimal;
use serde_json::Value;
use store::{Mode, NewBot, UserId};
use strategy::spec::{StrategySpecError, build_strategy, ema_rsi_cross_json, ema_rsi_cross_params};

use crate::catalog::{CatalogError, Catalogs};
use crate::rules::{InvalidField, invalid};

/// The longest bot name.
pub const BOT_NAME_MAX_CHARS: usize = 64;

/// How many listed symbols an unknown-symbol message names before "...".
const LISTED_SHOWN: usize = 20;

/// A bot's fields before [`check_bot`] checks them, whether from a request, from a stored bot
/// with a patch applied, or from `spotbot bot add`'s flags.
#[derive(Debug, Clone)]
pub struct BotDraft {
    /// The bot's name.
    pub name: String,
    /// The symbol it trades.
    pub symbol: String,
    /// Its candle interval.
    pub interval: String,
    /// Its strategy.
    pub strategy: String,
    /// The strategy's parameters (`None`: all defaults).
    pub strategy_params: Option<Value>,
    /// The quote amount spent per BUY, as decimal text.
    pub quote_per_buy: String,
    /// Its venue (`paper`, `testnet` or `live`), as text.
    pub mode: String,
    /// Whether it runs.
    pub is_active: bool,
}

/// Why a bot cannot be accepted.
#[derive(Debug, thiserror::Error)]
pub enum BotRuleError {
    /// A field breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The venue's list of symbols could not be read, so the symbol cannot be checked.
    #[error(transparent)]
    ListingUnavailable(CatalogError),
}

/// Checks `draft` as a whole (see the module's documentation) against the listings of
/// `catalogs`, and makes it `user`'s [`NewBot`], with the strategy's parameters stored in full
/// (defaults filled in), so that later changes to the defaults do not change an existing bot.
pub async fn check_bot(
    catalogs: &Catalogs,
    user: UserId,
    draft: BotDraft,
) -> Result<NewBot, BotRuleError> {
    check_name(&draft.name)?;
    let mode = Mode::from_str(&draft.mode).map_err(|error| invalid("mode", error.to_string()))?;
    let catalog = catalogs.get(mode).ok_or_else(|| {
        invalid(
            "mode",
            format!(
                "this server does not trade on {mode}: {}",
                crate::venues::how_to_serve(mode)
            ),
        )
    })?;
    let rules = match catalog.rules(&draft.symbol).await {
        Ok(Some(rules)) => rules,
        Ok(None) => {
            let listed = catalog
                .symbol_names()
                .await
                .map_err(BotRuleError::ListingUnavailable)?;
            return Err(unlisted(&draft.symbol, mode, &listed).into());
        }
        Err(error) => return Err(BotRuleError::ListingUnavailable(error)),
    };
    if !rules.allows_market_orders() {
        return Err(invalid(
            "symbol",
            format!("{} does not take MARKET orders on {mode} now", draft.symbol),
        )
        .into());
    }
    Interval::from_str(&draft.interval).map_err(|error| invalid("interval", error.to_string()))?;
    let strategy_params = check_strategy(&draft.strategy, draft.strategy_params.as_ref())?;
    let quote_per_buy = check_quote_per_buy(&draft, &rules, mode)?;
    Ok(NewBot {
        user_id: user,
        name: draft.name,
        symbol: draft.symbol,
        interval: draft.interval,
        strategy: draft.strategy,
        strategy_params,
        quote_per_buy,
        mode,
        is_active: draft.is_active,
    })
}

/// 1 to [`BOT_NAME_MAX_CHARS`] characters, something visible among them, no control characters
/// and no bidirectional controls.
fn check_name(name: &str) -> Result<(), InvalidField> {
    check_display_name("name", name, BOT_NAME_MAX_CHARS)
}

/// Checks a name people will see (a bot's, a notification channel's) given as `field`: 1 to
/// `max_chars` characters, something visible among them, no control characters and no
/// bidirectional controls.
pub fn check_display_name(
    field: &'static str,
    name: &str,
    max_chars: usize,
) -> Result<(), InvalidField> {
    let name_chars = name.chars().count();
    let visible = name
        .chars()
        .any(|c| !c.is_whitespace() && !is_invisible(c) && !is_bidi_control(c));
    if !(1..=max_chars).contains(&name_chars) || !visible {
        return Err(invalid(
            field,
            format!("must be 1 to {max_chars} characters, not only spaces or invisible ones"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    if name.chars().any(is_bidi_control) {
        // They reorder the text after them wherever the name is shown (a log line, a page):
        // a name could pass for another.
        return Err(invalid(
            field,
            "must not contain bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)",
        ));
    }
    Ok(())
}

/// Characters that change the direction of the text after them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that show nothing: zero-width spaces and joiners, the word joiner and invisible
/// operators, the byte-order mark, the soft hyphen and the Mongolian vowel separator.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}' | '\u{034F}')
}

/// The message for a symbol `mode`'s exchange does not list, naming some that it does.
fn unlisted(symbol: &str, mode: Mode, listed: &[String]) -> InvalidField {
    let mut shown = listed
        .iter()
        .take(LISTED_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if listed.len() > LISTED_SHOWN {
        shown.push_str(&format!(", ... ({} in all)", listed.len()));
    }
    // Debug-quoted: the text is the user's and may hold anything.
    invalid(
        "symbol",
        format!("{symbol:?} is not listed by the {mode} exchange; listed: {shown}"),
    )
}

/// The strategy's parameters in full, as stored, once the engine can build the strategy.
fn check_strategy(name: &str, params: Option<&Value>) -> Result<String, InvalidField> {
    let params_text = match params {
        None => String::new(),
        Some(params @ Value::Object(_)) => params.to_string(),
        Some(_) => {
            return Err(invalid(
                "strategy_params",
                "must be an object such as {\"fast\": 12, \"slow\": 26}",
            ));
        }
    };
    build_strategy(name, &params_text).map_err(strategy_error)?;
    // build_strategy accepts no strategy but ema_rsi_cross, so these are its parameters.
    Ok(ema_rsi_cross_json(
        &ema_rsi_cross_params(&params_text).map_err(strategy_error)?,
    ))
}

/// The quote amount per BUY: a positive decimal, at least the symbol's minimum order.
fn check_quote_per_buy(
    draft: &BotDraft,
    rules: &SymbolRules,
    mode: Mode,
) -> Result<Decimal, InvalidField> {
    let quote_per_buy = Decimal::from_str(&draft.quote_per_buy)
        .ok()
        .filter(|amount| *amount > Decimal::ZERO)
        .ok_or_else(|| {
            invalid(
                "quote_per_buy",
                format!(
                    "must be a positive decimal string such as \"25.5\", got {:?}",
                    draft.quote_per_buy
                ),
            )
        })?;
    if let Some(minimum) = min_notional(rules)
        && quote_per_buy < minimum
    {
        return Err(invalid(
            "quote_per_buy",
            format!(
                "{quote_per_buy} is below {}'s minimum order of {minimum} {} on {mode}",
                draft.symbol, rules.quote_asset
            ),
        ));
    }
    Ok(quote_per_buy.normalize())
}

/// The smallest quote amount a MARKET BUY of `rules`' symbol may spend: the larger of the
/// MIN_NOTIONAL and NOTIONAL minimums that apply to MARKET orders, if any does.
fn min_notional(rules: &SymbolRules) -> Option<Decimal> {
    let min_notional = rules
        .min_notional
        .filter(|filter| filter.apply_to_market)
        .map(|filter| filter.min_notional);
    let notional = rules
        .notional
        .filter(|filter| filter.apply_min_to_market)
        .map(|filter| filter.min_notional);
    min_notional.into_iter().chain(notional).max()
}

/// A strategy the engine cannot build, on the field at fault.
fn strategy_error(error: StrategySpecError) -> InvalidField {
    let field = match error {
        StrategySpecError::UnknownStrategy(_) => "strategy",
        StrategySpecError::Malformed(_) | StrategySpecError::Invalid(_) => "strategy_params",
    };
    invalid(field, error.to_string())
}
