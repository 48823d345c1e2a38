//! Fixtures shared by the store's tests: exact decimals, and users, bots, orders and executions
//! with every field set to something distinguishable.

use market::Side;
use rust_decimal::Decimal;
use store::{
    BotConfig, BotId, Execution, Mode, NewBot, NewOrder, NewTrade, NewUser, OrderStatus,
    PositionRow, Role, Store, User, UserId,
};

/// The decimal written `text`, exactly.
pub fn d(text: &str) -> Decimal {
    Decimal::from_str_exact(text).unwrap()
}

/// A user named `name` (email `name@example.com`, a password hash).
pub async fn user(store: &Store, name: &str) -> User {
    store
        .create_user(
            &NewUser {
                email: format!("{name}@example.com"),
                username: name.to_owned(),
                password_hash: Some(format!("argon2-hash-of-{name}")),
                role: Role::User,
            },
            1_000,
        )
        .await
        .unwrap()
}

/// A bot to create for `user`, active, trading BTCUSDT on paper.
pub fn new_bot(user: UserId, name: &str) -> NewBot {
    NewBot {
        user_id: user,
        name: name.to_owned(),
        symbol: "BTCUSDT".to_owned(),
        interval: "1h".to_owned(),
        strategy: "ema_rsi_cross".to_owned(),
        strategy_params: r#"{"fast":12,"slow":26}"#.to_owned(),
        quote_per_buy: d("25.5"),
        mode: Mode::Paper,
        is_active: true,
    }
}

/// A bot of `user` named `name`, created.
pub async fn bot(store: &Store, user: UserId, name: &str) -> BotConfig {
    store.create_bot(&new_bot(user, name), 2_000).await.unwrap()
}

/// An order of `bot` on its symbol.
pub fn new_order(bot: &BotConfig, client_order_id: &str, side: Side) -> NewOrder {
    NewOrder {
        client_order_id: client_order_id.to_owned(),
        bot_id: bot.id,
        user_id: bot.user_id,
        symbol: bot.symbol.clone(),
        side,
        requested_quantity: d("0.00120000"),
        signal_candle_open_ms: 1_700_000_000_000,
        decision: Some(format!(r#"{{"signal":"{side}"}}"#)),
    }
}

/// The execution of order `client_order_id` of `bot` as exchange order `binance_order_id`,
/// executed at `executed_at_ms`.
pub fn execution(
    bot: &BotConfig,
    client_order_id: &str,
    binance_order_id: i64,
    side: Side,
    executed_at_ms: i64,
) -> Execution {
    Execution {
        trade: NewTrade {
            bot_id: bot.id,
            user_id: bot.user_id,
            binance_order_id,
            client_order_id: client_order_id.to_owned(),
            symbol: bot.symbol.clone(),
            side,
            price: d("12345678901.12345678"),
            quantity_filled: d("0.00000001"),
            quote_quantity_filled: d("123.4567890112345678"),
            commission: d("0.00000001"),
            commission_asset: "BNB".to_owned(),
            realized_pnl: (side == Side::Sell).then(|| d("-1.23456789")),
            executed_at_ms,
        },
        order_status: OrderStatus::Filled,
        position_before: PositionRow::flat(bot.id),
        position_after: PositionRow {
            bot_id: bot.id,
            quantity: d("0.00000001"),
            cost_quote: d("123.55"),
            realized_pnl: d("-1.23456789"),
            updated_at_ms: executed_at_ms + 1,
        },
    }
}

/// Writes order `client_order_id` of `bot` and records its execution.
pub async fn traded(
    store: &Store,
    bot: &BotConfig,
    client_order_id: &str,
    binance_order_id: i64,
    side: Side,
    executed_at_ms: i64,
) -> store::TradeRow {
    store
        .insert_pending_order(&new_order(bot, client_order_id, side), executed_at_ms - 5)
        .await
        .unwrap();
    let execution = Execution {
        position_before: store.position(bot.id).await.unwrap(),
        ..execution(bot, client_order_id, binance_order_id, side, executed_at_ms)
    };
    let (trade, fresh) = store
        .record_execution(&execution, executed_at_ms + 1)
        .await
        .unwrap();
    assert!(fresh);
    trade
}

/// How many rows `table` holds (raw SQL: what the store's API may not show).
pub async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(store.raw_pool())
        .await
        .unwrap()
}

/// A bot id no row has.
pub const NO_BOT: BotId = BotId(999_999);
