//! What a notification says: the JSON a webhook receives and the text a Telegram chat shows,
//! built when the delivery is sent from what it tells of (a trade, an incident, a day's trades),
//! all of which are recorded for good before the delivery is queued. Every attempt of one
//! delivery therefore sends the same body.
//!
//! Telegram messages are sent as plain text (no `parse_mode`), so a bot name holding `<b>` or
//! `*` is shown as written, never interpreted.

use std::collections::BTreeMap;

use market::format_utc_ms;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use store::{BotConfig, BotId, ChannelRow, DeliveryRow, NotifyEvent, Store, TradeFilter, TradeId};

/// A notification ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The webhook's body.
    pub json: Value,
    /// The Telegram message (also in `json` as `text`).
    pub text: String,
}

/// Why a notification cannot be built: what it tells of is gone (deleted with its channel or
/// bot), or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The trade, event or bot the delivery names does not exist.
    #[error("{0} no longer exists")]
    Gone(String),
    /// The database failed; the attempt is retried.
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
}

const DAY_MS: i64 = 86_400_000;

/// The message of `delivery` to `channel`.
pub async fn build(
    store: &Store,
    delivery: &DeliveryRow,
    channel: &ChannelRow,
) -> Result<Message, MessageError> {
    let bot = match delivery.bot_id {
        Some(id) => Some(bot(store, id).await?),
        None => None,
    };
    let (detail_key, detail, text) = match (delivery.event, &bot) {
        (NotifyEvent::Trade, Some(bot)) => trade(store, bot, delivery.source_id).await?,
        (NotifyEvent::OrderInDoubt | NotifyEvent::BotError, Some(bot)) => {
            incident(store, bot, delivery.source_id).await?
        }
        (NotifyEvent::DailySummary, Some(bot)) => day(store, bot, delivery.source_id).await?,
        (NotifyEvent::Test, _) => (
            "test",
            json!({ "channel": channel.name }),
            format!(
                "spotbot: a test message for your channel \"{}\". If you read this, it works.",
                channel.name
            ),
        ),
        (event, None) => {
            return Err(MessageError::Gone(format!(
                "the bot of this {event} notification"
            )));
        }
    };
    let mut json = json!({
        "id": delivery.idempotency_key,
        "event": delivery.event.as_str(),
        "created_at_ms": delivery.created_at_ms,
        "created_at": format_utc_ms(delivery.created_at_ms),
        "text": text,
    });
    if let Some(bot) = &bot {
        json["bot"] = json!({
            "id": bot.id.0,
            "name": bot.name,
            "symbol": bot.symbol,
            "interval": bot.interval,
            "venue": bot.mode.as_str(),
        });
    }
    json[detail_key] = detail;
    Ok(Message { json, text })
}

async fn bot(store: &Store, id: BotId) -> Result<BotConfig, MessageError> {
    store
        .bot(id)
        .await?
        .ok_or_else(|| MessageError::Gone(format!("bot {id}")))
}

/// The first line of every message about `bot`.
fn headline(bot: &BotConfig, what: &str) -> String {
    format!(
        "spotbot · {} ({} {}, {}): {what}",
        bot.name, bot.symbol, bot.interval, bot.mode
    )
}

type Detail = (&'static str, Value, String);

async fn trade(store: &Store, bot: &BotConfig, trade_id: i64) -> Result<Detail, MessageError> {
    let trade = store
        .trade(TradeId(trade_id))
        .await?
        .ok_or_else(|| MessageError::Gone(format!("trade {trade_id}")))?;
    let mut text = format!(
        "{}\n{} {} at {} ({} in quote), fee {} {}",
        headline(bot, "trade"),
        trade.side,
        trade.quantity_filled,
        trade.price,
        trade.quote_quantity_filled,
        trade.commission,
        trade.commission_asset
    );
    if let Some(pnl) = trade.realized_pnl {
        text.push_str(&format!("\nrealised PnL {}", signed(pnl)));
    }
    text.push_str(&format!("\n{}", format_utc_ms(trade.executed_at_ms)));
    let detail = json!({
        "id": trade.id.0,
        "side": trade.side.to_string(),
        "price": trade.price.to_string(),
        "quantity": trade.quantity_filled.to_string(),
        "quote_quantity": trade.quote_quantity_filled.to_string(),
        "commission": trade.commission.to_string(),
        "commission_asset": trade.commission_asset,
        "realized_pnl": trade.realized_pnl.map(|pnl| pnl.to_string()),
        "executed_at_ms": trade.executed_at_ms,
        "executed_at": format_utc_ms(trade.executed_at_ms),
        "client_order_id": trade.client_order_id,
        "exchange_order_id": trade.binance_order_id,
    });
    Ok(("trade", detail, text))
}

async fn incident(store: &Store, bot: &BotConfig, event_id: i64) -> Result<Detail, MessageError> {
    let event = store
        .event(event_id)
        .await?
        .ok_or_else(|| MessageError::Gone(format!("event {event_id}")))?;
    let what = match event.kind.as_str() {
        store::IN_DOUBT_EVENT => "an order is in doubt",
        store::PAUSED_EVENT => "paused",
        _ => "a cycle failed",
    };
    let text = format!(
        "{}\n{}\n{}",
        headline(bot, what),
        event.message,
        format_utc_ms(event.at_ms)
    );
    let detail = json!({
        "kind": event.kind,
        "message": event.message,
        "at_ms": event.at_ms,
        "at": format_utc_ms(event.at_ms),
    });
    Ok(("incident", detail, text))
}

/// The figures of the UTC day starting at `day_start_ms`, by the exchange's execution times.
async fn day(store: &Store, bot: &BotConfig, day_start_ms: i64) -> Result<Detail, MessageError> {
    let trades = store
        .trades(&TradeFilter {
            bot: Some(bot.id),
            from_ms: Some(day_start_ms),
            to_ms: Some(day_start_ms + DAY_MS),
            ..TradeFilter::default()
        })
        .await?;
    let buys = trades
        .iter()
        .filter(|t| t.side == market::Side::Buy)
        .count();
    let volume: Decimal = trades.iter().map(|t| t.quote_quantity_filled).sum();
    let realised: Decimal = trades.iter().filter_map(|t| t.realized_pnl).sum();
    let mut fees: BTreeMap<&str, Decimal> = BTreeMap::new();
    for trade in &trades {
        *fees.entry(&trade.commission_asset).or_default() += trade.commission;
    }
    let date = &market::format_utc_date(day_start_ms);
    let fee_text = if fees.is_empty() {
        "none".to_owned()
    } else {
        fees.iter()
            .map(|(asset, amount)| format!("{amount} {asset}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "{}\n{} trades ({buys} buys, {} sells), volume {volume} in quote, realised PnL {}, fees {fee_text}",
        headline(bot, &format!("{date} (UTC)")),
        trades.len(),
        trades.len() - buys,
        signed(realised),
    );
    let detail = json!({
        "date": date,
        "from_ms": day_start_ms,
        "to_ms": day_start_ms + DAY_MS,
        "trades": trades.len(),
        "buys": buys,
        "sells": trades.len() - buys,
        "quote_volume": volume.to_string(),
        "realized_pnl": realised.to_string(),
        "fees": fees.iter().map(|(asset, amount)| json!({"asset": asset, "amount": amount.to_string()})).collect::<Vec<_>>(),
    });
    Ok(("day", detail, text))
}

/// `value` with its sign, `+0` for nothing.
fn signed(value: Decimal) -> String {
    if value.is_sign_negative() {
        value.to_string()
    } else {
        format!("+{value}")
    }
}
