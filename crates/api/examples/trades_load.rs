//! The server side of the trade-list benchmark (issue 7's speed target: an authenticated
//! `GET /api/v1/trades` page of 100 on a database of 1,000,000 trades). It fills a fresh database
//! with users, bots and trades, opens a session for the first user, serves the real API router on
//! the real store (the same `api::serve` that `spotbot run` uses), prints what a load generator
//! needs and serves until it gets Ctrl-C or SIGTERM. `scripts/bench-api` drives it with wrk.
//!
//! ```text
//! cargo run --release -p api --example trades_load -- --trades 1000000
//! SPOTBOT_TEST_POSTGRES_URL=$(SPOTBOT_TEST_POSTGRES_DURABLE=1 scripts/postgres-for-tests | tail -n 1) \
//!     cargo run --release -p api --example trades_load -- --database postgres
//! ```
//!
//! Printed on stdout, one per line, once the server listens: `URL=http://127.0.0.1:PORT`,
//! `TOKEN=<bearer token>` and `TRADES=<the number of trade ids>` (the caller's cursors lie in
//! `1..TRADES`).
//!
//! The trades are written with one set-based `INSERT ... SELECT` over a recursive counter (the
//! same SQL on SQLite and PostgreSQL) rather than through the engine: a million engine cycles
//! would take an hour and prove nothing about reading them. Their shape is the engine's: paper
//! trades of the users' bots, alternating BUY and SELL, realised PnL on the SELLs, one second
//! apart. Each run gets its own database through `store::testing` (a SQLite file in a temporary
//! directory, or a new database on the PostgreSQL server `SPOTBOT_TEST_POSTGRES_URL` names),
//! deleted at the end.

use std::time::Instant;

use api::{ApiConfig, ApiState};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use store::testing::TestDatabase;
use store::{Backend, Mode, NewBot, NewUser, Role, Store};

/// The symbols the bots trade, one per bot in turn.
const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "BNBUSDT"];

/// The server side of the trade-list benchmark (see the module documentation).
#[derive(Debug, clap::Parser)]
struct Options {
    /// How many trades to write.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    trades: u64,
    /// How many users share them (the session is the first's).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    users: u64,
    /// How many bots each user has.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    bots_per_user: u64,
    /// Where the trades go: `sqlite` or `postgres` (the server SPOTBOT_TEST_POSTGRES_URL names).
    #[arg(long, default_value_t = Backend::Sqlite)]
    database: Backend,
    /// The address to serve on (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
}

/// Creates `options.users` users with `options.bots_per_user` bots each; the users' ids, and the
/// bots' ids (consecutive, the first user's first).
async fn create_owners(
    store: &Store,
    options: &Options,
) -> Result<(Vec<store::UserId>, i64), String> {
    let now_ms = accounts::wall_now_ms();
    let mut users = Vec::new();
    let mut first_bot = None;
    for user_index in 0..options.users {
        let name = format!("bench{user_index}");
        let user = store
            .create_user(
                &NewUser {
                    email: format!("{name}@example.invalid"),
                    username: name.clone(),
                    password_hash: None,
                    role: Role::User,
                },
                now_ms,
            )
            .await
            .map_err(|error| error.to_string())?;
        for bot_index in 0..options.bots_per_user {
            let bot = store
                .create_bot(
                    &NewBot {
                        user_id: user.id,
                        name: format!("{name}-bot{bot_index}"),
                        symbol: SYMBOLS[bot_index as usize % SYMBOLS.len()].to_owned(),
                        interval: "1m".to_owned(),
                        strategy: strategy::spec::EMA_RSI_CROSS.to_owned(),
                        strategy_params: "{}".to_owned(),
                        quote_per_buy: Decimal::from(20),
                        mode: Mode::Paper,
                        is_active: false,
                    },
                    now_ms,
                )
                .await
                .map_err(|error| error.to_string())?;
            first_bot.get_or_insert(bot.id.0);
        }
        users.push(user.id);
    }
    Ok((users, first_bot.ok_or("no bot was created")?))
}

/// Inserts `options.trades` trades spread evenly over the bots `first_bot ..`, in one statement.
async fn insert_trades(url: &str, options: &Options, first_bot: i64) -> Result<(), String> {
    let mut connection = sqlx::AnyConnection::connect(url)
        .await
        .map_err(|error| format!("cannot open {url}: {error}"))?;
    let bots = options.users * options.bots_per_user;
    let start_ms = accounts::wall_now_ms() - options.trades as i64 * 1_000;
    // Trade i belongs to bot i % bots, and ids follow i (the ORDER BY: PostgreSQL's join would
    // otherwise hand out ids bot by bot), so the bots' trades interleave as they do live; each
    // bot's trades alternate BUY, SELL. The numbers are
    // the engine's kind of numbers, as canonical decimal text like the store keeps them.
    let sql = format!(
        "WITH RECURSIVE counter (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM counter WHERE i < {trades}) \
         INSERT INTO trades (bot_config_id, user_id, mode, binance_order_id, client_order_id, symbol, \
             side, order_type, price, quantity_filled, quote_quantity_filled, commission, \
             commission_asset, realized_pnl, executed_at_ms) \
         SELECT b.id, b.user_id, 'paper', counter.i, 'bench-' || CAST(counter.i AS TEXT), b.symbol, \
             CASE WHEN (counter.i / {bots}) % 2 = 0 THEN 'BUY' ELSE 'SELL' END, 'MARKET', \
             CAST(30000 + counter.i % 997 AS TEXT) || '.25', '0.00066', \
             CAST(19 + counter.i % 3 AS TEXT) || '.816765', '0.00000066', \
             CASE WHEN (counter.i / {bots}) % 2 = 0 THEN 'BTC' ELSE 'USDT' END, \
             CASE WHEN (counter.i / {bots}) % 2 = 0 THEN NULL \
                 ELSE CAST(counter.i % 7 - 3 AS TEXT) || '.419525' END, \
             {start_ms} + counter.i * 1000 \
         FROM counter JOIN bot_configs b ON b.id = {first_bot} + counter.i % {bots} \
         ORDER BY counter.i",
        trades = options.trades,
    );
    sqlx::raw_sql(&sql)
        .execute(&mut connection)
        .await
        .map_err(|error| format!("cannot insert the trades: {error}"))?;
    // PostgreSQL's autovacuum would analyse a table this size soon after such an insert; do it
    // now so that the plans are those a user would see. SQLite is left as the store leaves it,
    // never analysed.
    if options.database == Backend::Postgres {
        sqlx::raw_sql("ANALYZE")
            .execute(&mut connection)
            .await
            .map_err(|error| format!("cannot analyse the database: {error}"))?;
    }
    connection.close().await.map_err(|error| error.to_string())
}

async fn run(options: Options) -> Result<(), String> {
    sqlx::any::install_default_drivers();
    let database = TestDatabase::on(options.database).await?;
    let store = database.store().clone();

    let started = Instant::now();
    let (users, first_bot) = create_owners(&store, &options).await?;
    insert_trades(database.url(), &options, first_bot).await?;
    eprintln!(
        "inserted {} trades for {} users in {:.1} s",
        options.trades,
        options.users,
        started.elapsed().as_secs_f64()
    );

    // A session made as a login makes it: a random token, of which the store keeps the SHA-256.
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|error| format!("no randomness: {error}"))?;
    let token = format!("bench-{}", hex::encode(random));
    let token_hash = hex::encode(Sha256::digest(token.as_bytes()));
    store
        .create_session(users[0], &token_hash, accounts::wall_now_ms(), 86_400_000)
        .await
        .map_err(|error| error.to_string())?;

    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", options.listen))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    println!("URL=http://{address}");
    println!("TOKEN={token}");
    println!("TRADES={}", options.trades);

    // The trade pages read no exchange: the API serves no venue here.
    let accounts = accounts::AccountClients::new(
        store.clone(),
        accounts::MasterKey::generate().map_err(|error| error.to_string())?,
        accounts::Venues::new(),
    );
    let state = ApiState::new(store, std::sync::Arc::new(accounts), ApiConfig::default());
    api::serve(listener, state, shutdown_signal()).await;
    database.cleanup().await;
    Ok(())
}

/// Completes at Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

#[tokio::main]
async fn main() {
    let options = <Options as clap::Parser>::parse();
    if let Err(message) = run(options).await {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
