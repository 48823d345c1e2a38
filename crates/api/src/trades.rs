//! What the caller's bots did: their trades (filtered, paged by cursor, or exported as CSV), their
//! positions and their performance. Every answer is scoped to the caller: another user's trades
//! never show, and a `bot` filter naming a bot that is not the caller's is a 404 `not_found`, as
//! if it did not exist.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/trades` | 200 [`TradePage`]: filters `bot`, `symbol`, `side`, `from_ms` (inclusive), `to_ms` (exclusive); paging `order` (`oldest` or `newest` first), `cursor`, `limit` |
//! | `GET /api/v1/trades.csv` | 200 `text/csv`: every trade the same filters select (no paging) |
//! | `GET /api/v1/positions` | 200 [`Positions`] |
//! | `GET /api/v1/performance` | 200 [`UserPerformance`]; with `bot=ID`, 200 [`BotPerformance`] |
//!
//! Query parameters are checked strictly: an unknown parameter is 422 `unknown_field`, a value
//! that does not parse or is out of range (an empty one included), or a parameter given twice,
//! is 422 `invalid_value`, both naming the parameter in `field`. Decimals are JSON strings.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::StreamExt;
use serde::Serialize;
use store::{BotConfig, BotId, PageOrder, Performance, TradeFilter, TradeId, TradeRow, UserId};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::{ApiState, AuthUser, Json};

/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 500;
/// How many trades the CSV export reads from the store, and holds in memory, at a time.
const CSV_BATCH: u32 = 500;

/// The routes of this module.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/trades", get(list_trades))
        .route("/api/v1/trades.csv", get(trades_csv))
        .route("/api/v1/positions", get(positions))
        .route("/api/v1/performance", get(performance))
}

/// A trade as the API shows it. The database writes these objects itself
/// ([`store::Store::trade_page_json`], with the keys of [`store::TRADE_JSON_KEYS`]); this type is
/// their documented schema, and a test keeps the two key lists equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TradeBody {
    /// The trade's id.
    pub id: i64,
    /// The bot whose order it was.
    pub bot_id: i64,
    /// The symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// `BUY` or `SELL`.
    pub side: String,
    /// The order type, `MARKET`.
    pub order_type: String,
    /// The average fill price (decimal string).
    pub price: String,
    /// The base quantity executed (decimal string).
    pub quantity_filled: String,
    /// The quote quantity executed (decimal string).
    pub quote_quantity_filled: String,
    /// The commission paid (decimal string), in `commission_asset`.
    pub commission: String,
    /// The asset the commission was paid in.
    pub commission_asset: String,
    /// The PnL the trade realised (decimal string): set on SELLs, `null` on BUYs.
    #[schema(required = true)]
    pub realized_pnl: Option<String>,
    /// The exchange's order id.
    pub binance_order_id: i64,
    /// The bot's client order id.
    pub client_order_id: String,
    /// When the exchange executed it, in ms since the epoch.
    pub executed_at_ms: i64,
}

/// One page of trades, by id ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TradePage {
    /// The trades.
    pub trades: Vec<TradeBody>,
    /// The `cursor` that asks for the next page; `null` on the last page. Opaque: clients pass it
    /// back as it is (today it is the page's last trade id, which may change).
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A bot's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PositionBody {
    /// The bot.
    pub bot_id: i64,
    /// The symbol it trades.
    pub symbol: String,
    /// The base quantity held (decimal string).
    pub quantity: String,
    /// What the held quantity cost in quote, fees included (decimal string).
    pub cost_quote: String,
    /// The PnL realised so far, in quote (decimal string).
    pub realized_pnl: String,
    /// When it last changed, in ms since the epoch.
    pub updated_at_ms: i64,
}

/// The positions of the caller's bots that ever traded, by bot id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Positions {
    /// The positions.
    pub positions: Vec<PositionBody>,
}

/// The answer of `GET /api/v1/performance`: the caller's figures, or with `bot=ID` one bot's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PerformanceBody {
    /// Without `bot`: every bot of the caller.
    User(UserPerformance),
    /// With `bot=ID`: that bot.
    Bot(BotPerformance),
}

/// The results of a set of trades; see [`store::Performance`] for the definitions (realised
/// equity, max drawdown). Decimals are strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Figures {
    /// The PnL the SELLs realised, in quote.
    pub realized_pnl: String,
    /// Commissions in the quote asset, plus those in the base asset times the trade's price.
    pub fees_quote: String,
    /// Commissions in other assets (BNB), per asset, not valued in quote.
    pub fees_other: BTreeMap<String, String>,
    /// How many trades: `buys + sells`.
    pub trades: u64,
    /// How many BUYs.
    pub buys: u64,
    /// How many SELLs.
    pub sells: u64,
    /// How many SELLs realised a profit.
    pub winning_sells: u64,
    /// `winning_sells / sells`, to 6 decimal places; `null` without SELLs.
    #[schema(required = true)]
    pub win_rate: Option<String>,
    /// The largest drop of realised equity from a running peak, in quote.
    pub max_drawdown: String,
    /// `max_drawdown` as a share of its peak, to 6 decimal places; `null` when there was no
    /// drawdown or its peak was not positive.
    #[schema(required = true)]
    pub max_drawdown_share: Option<String>,
}

impl From<Performance> for Figures {
    fn from(performance: Performance) -> Self {
        Figures {
            realized_pnl: performance.realized_pnl.to_string(),
            fees_quote: performance.fees_quote.to_string(),
            trades: performance.trades(),
            fees_other: performance
                .fees_other
                .into_iter()
                .map(|(asset, total)| (asset, total.to_string()))
                .collect(),
            buys: performance.buys,
            sells: performance.sells,
            winning_sells: performance.winning_sells,
            win_rate: performance.win_rate.map(|rate| rate.to_string()),
            max_drawdown: performance.max_drawdown.to_string(),
            max_drawdown_share: performance
                .max_drawdown_share
                .map(|share| share.to_string()),
        }
    }
}

/// One bot's performance (`GET /api/v1/performance?bot=ID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BotPerformance {
    /// The bot.
    pub bot_id: i64,
    /// The symbol it trades.
    pub symbol: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// The caller's performance over all their trades, with a breakdown per bot
/// (`GET /api/v1/performance`). The totals add amounts of every bot's quote asset: they mean
/// something when the bots share one (all USDT, say); the breakdown always does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserPerformance {
    /// The figures over all the caller's trades (drawdown over all their SELLs in time order).
    #[serde(flatten)]
    pub figures: Figures,
    /// Every bot of the caller, by id, traded or not.
    pub bots: Vec<BotPerformance>,
}

/// Query parameters parsed into `T`, or an [`ApiError`] naming the bad parameter (never axum's
/// plain-text rejection).
pub(crate) struct Query<T>(pub(crate) T);

/// A type [`Query`] can parse: it takes the parameters it knows from [`Params`]; whatever is left
/// is unknown.
pub(crate) trait FromParams: Sized {
    /// Takes this type's parameters out of `params`.
    fn from_params(params: &mut Params) -> Result<Self, ApiError>;
}

impl<T: FromParams, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut params = Params::parse(parts.uri.query().unwrap_or(""))?;
        let value = T::from_params(&mut params)?;
        params.finish()?;
        Ok(Query(value))
    }
}

/// A query string's decoded `name=value` pairs, taken out one name at a time.
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Splits and percent-decodes `query` (`+` is a space, as in HTML forms).
    fn parse(query: &str) -> Result<Params, ApiError> {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                match (percent_decode(name), percent_decode(value)) {
                    (Some(name), Some(value)) => Ok((name, value)),
                    _ => Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_query",
                        format!("the query parameter {pair:?} is not valid percent-encoded UTF-8"),
                    )),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Params { pairs })
    }

    /// The value of parameter `name`, removed; an error when it is given twice or empty.
    fn take(&mut self, name: &'static str) -> Result<Option<String>, ApiError> {
        let mut values = Vec::new();
        self.pairs.retain(|(key, value)| {
            let wanted = key == name;
            if wanted {
                values.push(value.clone());
            }
            !wanted
        });
        match values.as_slice() {
            [] => Ok(None),
            [value] if value.is_empty() => Err(ApiError::invalid_value(
                name,
                format!("{name} must not be empty: leave it out instead"),
            )),
            [value] => Ok(Some(value.clone())),
            _ => Err(ApiError::invalid_value(
                name,
                format!("{name} is given more than once"),
            )),
        }
    }

    /// Parameter `name` parsed by `parse`, whose error message is reported about `name`.
    pub(crate) fn take_with<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.take(name)?
            .map(|text| parse(&text).map_err(|message| ApiError::invalid_value(name, message)))
            .transpose()
    }

    /// Fails on the first parameter nobody took: an unknown one.
    fn finish(self) -> Result<(), ApiError> {
        match self.pairs.into_iter().next() {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_field",
                format!("unknown query parameter {name:?}"),
            )
            .with_field(name)),
        }
    }
}

/// `text` with `%XX` escapes decoded and `+` read as a space; `None` when an escape is cut short
/// or not hex, or the bytes are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let digit = |offset: usize| {
                    bytes
                        .get(at + offset)
                        .and_then(|byte| char::from(*byte).to_digit(16))
                };
                let (high, low) = (digit(1)?, digit(2)?);
                // Two hex digits make at most 255.
                decoded.push(u8::try_from(high * 16 + low).ok()?);
                at += 3;
            }
            b'+' => {
                decoded.push(b' ');
                at += 1;
            }
            byte => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// A positive row id.
fn positive_id(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("must be a positive integer id, got {text:?}")),
    }
}

/// The longest cursor, in digits (the document's pattern says so too); trade ids stay far below.
const MAX_CURSOR_DIGITS: usize = 18;

/// A cursor exactly as this API gives them out: a trade id's digits, without sign or leading
/// zero, so that every text the document's pattern refuses is refused here too.
fn cursor(text: &str) -> Result<TradeId, String> {
    let canonical = text.len() <= MAX_CURSOR_DIGITS
        && !text.starts_with('0')
        && text.bytes().all(|byte| byte.is_ascii_digit());
    match text.parse() {
        Ok(id) if canonical => Ok(TradeId(id)),
        _ => Err(format!("is not a cursor this API gave out: {text:?}")),
    }
}

/// Milliseconds since the epoch, not before it.
fn epoch_ms(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(ms) if ms >= 0 => Ok(ms),
        _ => Err(format!(
            "must be a time in ms since the epoch (a non-negative integer), got {text:?}"
        )),
    }
}

/// A symbol as Binance spells it ([`market::Symbol`]'s rule).
fn symbol(text: &str) -> Result<String, String> {
    market::Symbol::new(text)
        .map(|symbol| symbol.as_str().to_owned())
        .map_err(|error| format!("{error}, e.g. BTCUSDT"))
}

/// The filters shared by the trade list and the CSV export, not yet scoped to the caller nor
/// checked against the store (the `bot` may be someone else's: see [`TradeFilters::for_caller`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TradeFilters(TradeFilter);

impl FromParams for TradeFilters {
    fn from_params(params: &mut Params) -> Result<Self, ApiError> {
        let filter = TradeFilter {
            bot: params.take_with("bot", |text| positive_id(text).map(BotId))?,
            symbol: params.take_with("symbol", symbol)?,
            side: params.take_with("side", |text| {
                text.parse().map_err(|error| format!("{error}"))
            })?,
            from_ms: params.take_with("from_ms", epoch_ms)?,
            to_ms: params.take_with("to_ms", epoch_ms)?,
            ..TradeFilter::default()
        };
        // A range that ends before it starts is a mistake (swapped bounds), not a question
        // whose answer is "nothing": it is refused, naming the bound that comes second. An
        // empty range (`from_ms` = `to_ms`) is a valid question.
        if let (Some(from_ms), Some(to_ms)) = (filter.from_ms, filter.to_ms)
            && from_ms > to_ms
        {
            return Err(ApiError::invalid_value(
                "to_ms",
                format!("to_ms ({to_ms}) is before from_ms ({from_ms}): swap them"),
            ));
        }
        Ok(TradeFilters(filter))
    }
}

impl TradeFilters {
    /// The store filter for `caller`'s trades that these filters select; 404 when `bot` is not
    /// one of the caller's bots.
    async fn for_caller(&self, state: &ApiState, caller: UserId) -> Result<TradeFilter, ApiError> {
        if let Some(bot) = self.0.bot {
            callers_bot(state, caller, bot).await?;
        }
        Ok(TradeFilter {
            user: Some(caller),
            ..self.0.clone()
        })
    }
}

/// The query of `GET /api/v1/trades`: the filters, an `order`, a `cursor` and a `limit`.
pub(crate) struct TradePageQuery {
    filters: TradeFilters,
    order: PageOrder,
    cursor: Option<TradeId>,
    limit: u32,
}

/// `oldest` (the default) or `newest` first.
fn page_order(text: &str) -> Result<PageOrder, String> {
    match text {
        "oldest" => Ok(PageOrder::OldestFirst),
        "newest" => Ok(PageOrder::NewestFirst),
        _ => Err(format!("must be oldest or newest, got {text:?}")),
    }
}

impl FromParams for TradePageQuery {
    fn from_params(params: &mut Params) -> Result<Self, ApiError> {
        Ok(TradePageQuery {
            filters: TradeFilters::from_params(params)?,
            order: params.take_with("order", page_order)?.unwrap_or_default(),
            cursor: params.take_with("cursor", cursor)?,
            limit: params
                .take_with("limit", |text| match text.parse::<u32>() {
                    Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
                    _ => Err(format!(
                        "must be an integer from 1 to {MAX_LIMIT}, got {text:?}"
                    )),
                })?
                .unwrap_or(DEFAULT_LIMIT),
        })
    }
}

/// The query of `GET /api/v1/performance`: an optional `bot`.
pub(crate) struct PerformanceQuery {
    bot: Option<BotId>,
}

impl FromParams for PerformanceQuery {
    fn from_params(params: &mut Params) -> Result<Self, ApiError> {
        Ok(PerformanceQuery {
            bot: params.take_with("bot", |text| positive_id(text).map(BotId))?,
        })
    }
}

/// A query that takes no parameter at all.
pub(crate) struct NoParams;

impl FromParams for NoParams {
    fn from_params(_: &mut Params) -> Result<Self, ApiError> {
        Ok(NoParams)
    }
}

/// Bot `bot` when it is `caller`'s; 404 `not_found` about `bot` otherwise, whether it is someone
/// else's or does not exist, so that nobody learns which bot ids exist.
async fn callers_bot(state: &ApiState, caller: UserId, bot: BotId) -> Result<BotConfig, ApiError> {
    state.store().user_bot(caller, bot).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("you have no bot {bot}"),
        )
        .with_field("bot")
    })
}

/// `GET /api/v1/trades`: one page of the caller's trades that the filters select.
#[utoipa::path(
    get,
    path = "/api/v1/trades",
    tag = "trades",
    security(("bearer" = [])),
    params(
        ("bot" = Option<i64>, Query, minimum = 1, description = "Only this bot's trades (404 when it is not the caller's)"),
        ("symbol" = Option<String>, Query, pattern = "^[A-Z0-9]{1,20}$", description = "Only this symbol's, e.g. `BTCUSDT`"),
        ("side" = Option<String>, Query, pattern = "^(BUY|SELL)$", description = "Only `BUY`s or only `SELL`s"),
        ("from_ms" = Option<i64>, Query, minimum = 0, description = "Only those executed at or after this time, in ms since the epoch"),
        ("to_ms" = Option<i64>, Query, minimum = 0, description = "Only those executed before this time, in ms since the epoch (exclusive: equal to `from_ms` selects none; before it is a 422)"),
        ("order" = Option<String>, Query, pattern = "^(oldest|newest)$", description = "`oldest` first (by id ascending, the default) or `newest` first; a cursor continues in the order it was given in"),
        ("cursor" = Option<String>, Query, pattern = "^[1-9][0-9]{0,17}$", description = "The `next_cursor` of the previous page, as it is (opaque; today a positive integer)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "The page size, 1 to 500 (default 100)"),
    ),
    responses(
        (status = 200, description = "One page of the caller's trades, by id in the order asked", body = TradePage),
        (status = 400, description = "`malformed_query`: a parameter is not percent-encoded UTF-8", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found` on `bot`: the caller has no such bot", body = ErrorBody),
        (status = 422, description = "`unknown_field`: an unknown parameter; `invalid_value`: a parameter empty, given twice, or out of range", body = ErrorBody),
    ),
)]
pub(crate) async fn list_trades(
    State(state): State<ApiState>,
    caller: AuthUser,
    Query(query): Query<TradePageQuery>,
) -> Result<axum::response::Response, ApiError> {
    let filter = TradeFilter {
        after_id: query.cursor,
        ..query.filters.for_caller(&state, caller.user.id).await?
    };
    // The busiest read of the API: the database serialises the page (its objects are
    // `TradeBody`s: the store's tests check them against the rows, this crate's against the
    // schema), and this wraps it as a `TradePage`. No cursor leads to an empty page.
    let page = state
        .store()
        .trade_page_json(&filter, query.limit, query.order)
        .await?;
    let next_cursor = match page.next_after {
        Some(id) => format!("\"{id}\""),
        None => "null".to_owned(),
    };
    let body = format!(
        "{{\"trades\":{},\"next_cursor\":{next_cursor}}}",
        page.trades
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The CSV export's columns, in the order of [`TradeBody`]'s fields.
const CSV_HEADER: &str = "id,bot_id,symbol,side,order_type,price,quantity_filled,\
    quote_quantity_filled,commission,commission_asset,realized_pnl,binance_order_id,\
    client_order_id,executed_at_ms\r\n";

/// Appends `value` to `out` as one CSV field (RFC 4180): quoted, with its quotes doubled, when it
/// holds a comma, a quote or a line break.
fn push_csv_field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// Appends `trade` to `out` as one CSV record ending in CRLF; a BUY's `realized_pnl` is empty.
fn push_csv_record(out: &mut String, trade: &TradeRow) {
    let fields = [
        trade.id.to_string(),
        trade.bot_id.to_string(),
        trade.symbol.clone(),
        trade.side.to_string(),
        trade.order_type.clone(),
        trade.price.to_string(),
        trade.quantity_filled.to_string(),
        trade.quote_quantity_filled.to_string(),
        trade.commission.to_string(),
        trade.commission_asset.clone(),
        trade
            .realized_pnl
            .map_or_else(String::new, |pnl| pnl.to_string()),
        trade.binance_order_id.to_string(),
        trade.client_order_id.clone(),
        trade.executed_at_ms.to_string(),
    ];
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_csv_field(out, field);
    }
    out.push_str("\r\n");
}

/// `GET /api/v1/trades.csv`: every trade of the caller's that the filters select, by id, as CSV
/// with a header row. Streamed: read from the store and sent [`CSV_BATCH`] trades at a time, so
/// that an export of any length holds one batch in memory.
#[utoipa::path(
    get,
    path = "/api/v1/trades.csv",
    tag = "trades",
    security(("bearer" = [])),
    params(
        ("bot" = Option<i64>, Query, minimum = 1, description = "Only this bot's trades (404 when it is not the caller's)"),
        ("symbol" = Option<String>, Query, pattern = "^[A-Z0-9]{1,20}$", description = "Only this symbol's, e.g. `BTCUSDT`"),
        ("side" = Option<String>, Query, pattern = "^(BUY|SELL)$", description = "Only `BUY`s or only `SELL`s"),
        ("from_ms" = Option<i64>, Query, minimum = 0, description = "Only those executed at or after this time, in ms since the epoch"),
        ("to_ms" = Option<i64>, Query, minimum = 0, description = "Only those executed before this time, in ms since the epoch (exclusive: equal to `from_ms` selects none; before it is a 422)"),
    ),
    responses(
        (status = 200, description = "Every trade the filters select, by id, as CSV with a header row (a BUY's `realized_pnl` is empty)", body = String, content_type = "text/csv"),
        (status = 400, description = "`malformed_query`: a parameter is not percent-encoded UTF-8", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found` on `bot`: the caller has no such bot", body = ErrorBody),
        (status = 422, description = "`unknown_field`: an unknown parameter; `invalid_value`: a parameter empty, given twice, or out of range", body = ErrorBody),
    ),
)]
pub(crate) async fn trades_csv(
    State(state): State<ApiState>,
    caller: AuthUser,
    Query(filters): Query<TradeFilters>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = TradeFilter {
        limit: Some(CSV_BATCH),
        ..filters.for_caller(&state, caller.user.id).await?
    };
    let store = state.store().clone();
    // The first batch is read before answering, so that a database that fails gets its proper
    // error response; a failure later can only cut the download short (the status is sent), which
    // the client sees as an incomplete transfer.
    let first = store.trades(&filter).await?;
    let mut head = String::from(CSV_HEADER);
    push_csv_records(&mut head, &first);
    let rest = futures_util::stream::unfold(next_csv_batch(&filter, &first), move |filter| {
        let store = store.clone();
        async move {
            let filter = filter?;
            match store.trades(&filter).await {
                Ok(batch) => {
                    let mut csv = String::new();
                    push_csv_records(&mut csv, &batch);
                    Some((Ok(Bytes::from(csv)), next_csv_batch(&filter, &batch)))
                }
                Err(error) => {
                    tracing::error!(%error, "trade export failed midway; the download is cut short");
                    Some((Err(error), None))
                }
            }
        }
    });
    let csv = futures_util::stream::once(async { Ok(Bytes::from(head)) }).chain(rest);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"trades.csv\"",
            ),
        ],
        Body::from_stream(csv),
    ))
}

/// The filter for the batch after `batch` (read with `filter`), or `None` when `batch` was the
/// last: shorter than a full batch.
fn next_csv_batch(filter: &TradeFilter, batch: &[TradeRow]) -> Option<TradeFilter> {
    match batch.last() {
        Some(last) if batch.len() == CSV_BATCH as usize => Some(TradeFilter {
            after_id: Some(last.id),
            ..filter.clone()
        }),
        _ => None,
    }
}

/// Appends `trades` to `out` as CSV records.
fn push_csv_records(out: &mut String, trades: &[TradeRow]) {
    for trade in trades {
        push_csv_record(out, trade);
    }
}

/// `GET /api/v1/positions`: the positions of the caller's bots that ever traded.
#[utoipa::path(
    get,
    path = "/api/v1/positions",
    tag = "trades",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The positions of the caller's bots that ever traded", body = Positions),
        (status = 400, description = "`malformed_query`: a parameter is not percent-encoded UTF-8", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 422, description = "`unknown_field`: this route takes no parameter", body = ErrorBody),
    ),
)]
pub(crate) async fn positions(
    State(state): State<ApiState>,
    caller: AuthUser,
    Query(NoParams): Query<NoParams>,
) -> Result<Json<Positions>, ApiError> {
    let user = caller.user.id;
    // Positions first, then bots: a bot with a position has trades, so it cannot be deleted,
    // and every position read is sure to find its bot in the later read (the other way round,
    // a bot's first trade between the reads would leave its position without a symbol).
    let positions = state.store().positions(Some(user)).await?;
    let symbols: BTreeMap<BotId, String> = state
        .store()
        .bots(Some(user))
        .await?
        .into_iter()
        .map(|bot| (bot.id, bot.symbol))
        .collect();
    let positions = positions
        .into_iter()
        .map(|position| {
            Ok(PositionBody {
                bot_id: position.bot_id.0,
                // Read after the positions (see above): its bot is always there.
                symbol: symbols
                    .get(&position.bot_id)
                    .cloned()
                    .ok_or_else(|| ApiError::internal("a position's bot vanished: retry"))?,
                quantity: position.quantity.to_string(),
                cost_quote: position.cost_quote.to_string(),
                realized_pnl: position.realized_pnl.to_string(),
                updated_at_ms: position.updated_at_ms,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(Positions { positions }))
}

/// `GET /api/v1/performance`: the caller's performance with a breakdown per bot, or with
/// `bot=ID` that bot's alone. Computed from all the trades concerned, streamed from the store in
/// execution order ([`store::Store::performance`]).
#[utoipa::path(
    get,
    path = "/api/v1/performance",
    tag = "trades",
    security(("bearer" = [])),
    params(
        ("bot" = Option<i64>, Query, minimum = 1, description = "Only this bot's figures (404 when it is not the caller's)"),
    ),
    responses(
        (status = 200, description = "The caller's figures with a breakdown per bot, or with `bot` that bot's", body = PerformanceBody),
        (status = 400, description = "`malformed_query`: a parameter is not percent-encoded UTF-8", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 404, description = "`not_found` on `bot`: the caller has no such bot", body = ErrorBody),
        (status = 422, description = "`unknown_field`: an unknown parameter; `invalid_value`: a parameter empty, given twice, or out of range", body = ErrorBody),
    ),
)]
pub(crate) async fn performance(
    State(state): State<ApiState>,
    caller: AuthUser,
    Query(query): Query<PerformanceQuery>,
) -> Result<Json<PerformanceBody>, ApiError> {
    let user = caller.user.id;
    if let Some(bot) = query.bot {
        let config = callers_bot(&state, user, bot).await?;
        let performance = state
            .store()
            .performance(&TradeFilter {
                user: Some(user),
                bot: Some(bot),
                ..TradeFilter::default()
            })
            .await?;
        return Ok(Json(PerformanceBody::Bot(BotPerformance {
            bot_id: bot.0,
            symbol: config.symbol,
            figures: performance.total.into(),
        })));
    }
    let mut performance = state
        .store()
        .performance(&TradeFilter {
            user: Some(user),
            ..TradeFilter::default()
        })
        .await?;
    let bots = state
        .store()
        .bots(Some(user))
        .await?
        .into_iter()
        .map(|bot| BotPerformance {
            bot_id: bot.id.0,
            figures: performance
                .per_bot
                .remove(&bot.id)
                .unwrap_or_default()
                .into(),
            symbol: bot.symbol,
        })
        .collect();
    Ok(Json(PerformanceBody::User(UserPerformance {
        figures: performance.total.into(),
        bots,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_trade_has_the_keys_the_database_writes() {
        let body = TradeBody {
            id: 1,
            bot_id: 2,
            symbol: "BTCUSDT".to_owned(),
            side: "SELL".to_owned(),
            order_type: "MARKET".to_owned(),
            price: "1".to_owned(),
            quantity_filled: "1".to_owned(),
            quote_quantity_filled: "1".to_owned(),
            commission: "0".to_owned(),
            commission_asset: "USDT".to_owned(),
            realized_pnl: None,
            binance_order_id: 3,
            client_order_id: "c".to_owned(),
            executed_at_ms: 4,
        };
        let value = serde_json::to_value(body).unwrap();
        let mut documented: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut written: Vec<&str> = store::TRADE_JSON_KEYS.iter().map(|(key, _)| *key).collect();
        documented.sort_unstable();
        written.sort_unstable();
        assert_eq!(documented, written);
    }

    fn parsed<T: FromParams>(query: &str) -> Result<T, ApiError> {
        let mut params = Params::parse(query)?;
        let value = T::from_params(&mut params)?;
        params.finish()?;
        Ok(value)
    }

    #[test]
    fn percent_escapes_and_plus_are_decoded() {
        assert_eq!(percent_decode("a%2Cb+c%22").as_deref(), Some("a,b c\""));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        for bad in ["%", "%4", "%zz", "%+5", "%FF"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        let mut out = String::new();
        for field in ["plain", "a,b", "say \"hi\"", "two\nlines", "cr\r", ""] {
            push_csv_field(&mut out, field);
            out.push('|');
        }
        assert_eq!(
            out,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"cr\r\"||"
        );
    }

    #[test]
    fn the_trade_query_has_defaults_and_checks_each_parameter() {
        // An empty time range is a query like any other: it selects nothing. A reversed one is
        // a mistake, named by its second bound.
        let query: TradePageQuery = parsed("from_ms=2&to_ms=2").unwrap();
        assert_eq!(
            (query.filters.0.from_ms, query.filters.0.to_ms),
            (Some(2), Some(2))
        );
        let reversed = parsed::<TradePageQuery>("from_ms=2&to_ms=1").err().unwrap();
        assert_eq!(reversed.field.as_deref(), Some("to_ms"));
        let query: TradePageQuery = parsed("").unwrap();
        assert_eq!(query.filters, TradeFilters::default());
        assert_eq!((query.cursor, query.limit), (None, DEFAULT_LIMIT));
        let query: TradePageQuery =
            parsed("bot=3&symbol=BTCUSDT&side=SELL&from_ms=5&to_ms=5&cursor=9&limit=500").unwrap();
        assert_eq!(query.filters.0.bot, Some(BotId(3)));
        assert_eq!(query.filters.0.symbol.as_deref(), Some("BTCUSDT"));
        assert_eq!(
            query.filters.0.side.map(|side| side.to_string()).as_deref(),
            Some("SELL")
        );
        assert_eq!((query.cursor, query.limit), (Some(TradeId(9)), 500));
        for (bad, field, code) in [
            ("limit=0", "limit", "invalid_value"),
            ("limit=501", "limit", "invalid_value"),
            ("side=HOLD", "side", "invalid_value"),
            ("side=buy", "side", "invalid_value"),
            ("from_ms=-1", "from_ms", "invalid_value"),
            ("cursor=abc", "cursor", "invalid_value"),
            ("cursor=0", "cursor", "invalid_value"),
            ("cursor=%2B9", "cursor", "invalid_value"),
            ("cursor=09", "cursor", "invalid_value"),
            ("cursor=1000000000000000000", "cursor", "invalid_value"),
            ("bot=", "bot", "invalid_value"),
            ("bot=1&bot=2", "bot", "invalid_value"),
            ("symbol=btcusdt", "symbol", "invalid_value"),
            ("sort=id", "sort", "unknown_field"),
        ] {
            let error = parsed::<TradePageQuery>(bad).err().unwrap();
            assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_eq!(
                (error.code, error.field.as_deref()),
                (code, Some(field)),
                "{bad}"
            );
        }
        let error = parsed::<TradePageQuery>("limit=%zz").err().unwrap();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::BAD_REQUEST, "malformed_query")
        );
    }

    #[test]
    fn the_csv_export_takes_no_paging() {
        let error = parsed::<TradeFilters>("limit=5").err().unwrap();
        assert_eq!(
            (error.code, error.field.as_deref()),
            ("unknown_field", Some("limit"))
        );
    }
}
