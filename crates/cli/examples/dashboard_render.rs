//! The dashboard's two speed targets, measured in a real headless Chromium: a page of 500 trades
//! rendered in under 200 ms, and a bot's chart of 10,000 candles drawn in under 1 s.
//!
//! ```text
//! cargo run --release -p cli --example dashboard_render -- --runs 5
//! ```
//!
//! It serves what `spotbot run` serves (the API router with the dashboard merged in, on a SQLite
//! database, with a `spotbot sim` exchange in the process as the paper venue, whose seven days of
//! history hold 10,080 one-minute candles), writes a user, a paper bot and 500 trades of it
//! within the chart's window (through the store, as the engine records them), logs in through
//! the login page and opens `/bots/ID?candles=10000&rows=500` `--runs` times. The page measures
//! itself with the User Timing API: `chart-draw` from the chart's data arriving to the frame
//! after it is drawn (10,000 candles, two EMAs, the RSI pane and a marker per trade), and
//! `trades-render` from a page of trades arriving to the frame after its 500 rows are in the
//! table: once while the whole page loads (the chart, the PnL curve and the table compete for
//! the main thread), and once on its own, when the page size is switched to 100 and back to 500. Printed: each run's figures (with what was drawn, and when the chart was on screen
//! after the navigation began: the server's answer included), then the minimum, median and
//! maximum of each.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/browser-for-tests` installs them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts::{AccountClients, MasterKey, PaperAccounts, Venue, Venues};
use fantoccini::{Client, Locator};
use market::Side;
use rust_decimal::Decimal;
use store::testing::TestDatabase;
use store::{
    BotConfig, Execution, Mode, NewBot, NewOrder, NewTrade, NewUser, OrderStatus, PositionRow,
    Role, Store,
};

#[path = "../tests/support/browser.rs"]
mod browser;

use browser::{CHROMEDRIVER, CHROMIUM, Driver};

const PASSWORD: &str = "a long enough password";
const TRADES: i64 = 500;
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, clap::Parser)]
struct Options {
    /// How many times the page is opened and measured.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
}

/// The paper exchange: a simulator on loopback, its market in real time with a week of history.
async fn start_exchange() -> sim::RunningSim {
    let exchange = sim::Exchange::new(
        sim::ExchangeConfig::default(),
        Arc::new(sim::SystemClock::new()),
    )
    .expect("the default exchange");
    sim::start(exchange, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts")
}

/// The user and their bot.
async fn seed_owner(store: &Store) -> BotConfig {
    let now_ms = accounts::wall_now_ms();
    let hash = accounts::password::hash_password(PASSWORD, accounts::PasswordCost::default())
        .expect("a password hash");
    let user = store
        .create_user(
            &NewUser {
                email: "trader@example.com".to_owned(),
                username: "trader".to_owned(),
                password_hash: Some(hash),
                role: Role::User,
            },
            now_ms,
        )
        .await
        .expect("the user");
    store
        .create_bot(
            &NewBot {
                user_id: user.id,
                name: "busy".to_owned(),
                symbol: "BTCUSDT".to_owned(),
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
        .expect("the bot")
}

/// [`TRADES`] trades of `bot`, alternating BUY and SELL, one every 19 minutes back from now:
/// all of them within the last 10,000 candles, so each is a marker on the chart.
async fn seed_trades(store: &Store, bot: &BotConfig) {
    let now_ms = accounts::wall_now_ms();
    for index in 0..TRADES {
        let executed_at_ms = now_ms - (TRADES - index) * 19 * MINUTE_MS;
        let side = if index % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let client_order_id = format!("sb{}-{executed_at_ms}-{index}", bot.id.0);
        let signal_candle_open_ms = executed_at_ms - executed_at_ms % MINUTE_MS - MINUTE_MS;
        let quantity = Decimal::new(35, 5);
        let price = Decimal::new(56_000 + index % 300, 0);
        store
            .insert_pending_order(
                &NewOrder {
                    client_order_id: client_order_id.clone(),
                    bot_id: bot.id,
                    user_id: bot.user_id,
                    symbol: bot.symbol.clone(),
                    side,
                    requested_quantity: quantity,
                    signal_candle_open_ms,
                    decision: None,
                },
                executed_at_ms - 10,
            )
            .await
            .expect("the order");
        let position_before = store.position(bot.id).await.expect("the position");
        let bought = side == Side::Buy;
        let position_after = PositionRow {
            bot_id: bot.id,
            quantity: if bought { quantity } else { Decimal::ZERO },
            cost_quote: if bought {
                price * quantity
            } else {
                Decimal::ZERO
            },
            realized_pnl: position_before.realized_pnl
                + if bought { Decimal::ZERO } else { Decimal::ONE },
            updated_at_ms: executed_at_ms,
        };
        let execution = Execution {
            trade: NewTrade {
                bot_id: bot.id,
                user_id: bot.user_id,
                binance_order_id: index + 1,
                client_order_id,
                symbol: bot.symbol.clone(),
                side,
                price,
                quantity_filled: quantity,
                quote_quantity_filled: price * quantity,
                commission: Decimal::new(2, 2),
                commission_asset: "USDT".to_owned(),
                realized_pnl: (!bought).then_some(Decimal::ONE),
                executed_at_ms,
            },
            order_status: OrderStatus::Filled,
            position_before,
            position_after,
        };
        store
            .record_execution(&execution, executed_at_ms)
            .await
            .expect("the trade");
    }
}

/// Serves the API and the dashboard on `store` with `exchange` as the paper venue; the base URL.
async fn serve(store: &Store, exchange: &sim::RunningSim) -> String {
    let url = format!("http://{}", exchange.local_addr());
    let client = binance::Client::new(binance::ClientConfig::new(url.clone())).expect("a client");
    let paper = PaperAccounts::new(&url, accounts::default_starting_balances()).expect("paper");
    let venues = Venues::new().with(Venue::new(Mode::Paper, client).with_paper_accounts(paper));
    let accounts = Arc::new(AccountClients::new(
        store.clone(),
        MasterKey::from_bytes([7; 32]),
        venues,
    ));
    let state = api::ApiState::new(store.clone(), accounts, api::ApiConfig::default());
    let app = api::router(state).merge(web::router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve_router(
        listener,
        app,
        serve::Limits::default(),
        std::future::pending(),
    ));
    base
}

/// The duration (ms) of the `nth` (from 1) User Timing measure `name`, once there is one.
async fn measure(client: &Client, name: &str, nth: usize) -> f64 {
    let script = format!(
        "const entries = performance.getEntriesByName({name:?}); \
         return entries.length >= {nth} ? entries[{nth} - 1].duration : null;"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(ms) = client.execute(&script, vec![]).await.unwrap().as_f64() {
            return ms;
        }
        assert!(Instant::now() < deadline, "no {name} measure within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn summary(name: &str, mut figures: Vec<f64>) {
    figures.sort_by(f64::total_cmp);
    println!(
        "{name}: min {:.1} ms, median {:.1} ms, max {:.1} ms over {} runs",
        figures[0],
        figures[figures.len() / 2],
        figures[figures.len() - 1],
        figures.len()
    );
}

#[tokio::main]
async fn main() {
    let options: Options = clap::Parser::parse();
    for binary in [CHROMIUM, CHROMEDRIVER] {
        if !std::path::Path::new(binary).exists() {
            eprintln!(
                "error: {binary} is missing: run scripts/browser-for-tests (Debian's chromium and chromium-driver)"
            );
            std::process::exit(1);
        }
    }
    let database = TestDatabase::sqlite().await;
    let store = database.store().clone();
    let exchange = start_exchange().await;
    let bot = seed_owner(&store).await;
    seed_trades(&store, &bot).await;
    let base = serve(&store, &exchange).await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().expect("a profile directory");
    let client = driver.session(profile.path()).await;

    client.goto(&format!("{base}/login")).await.unwrap();
    let fill = |css: &'static str, text: &'static str| {
        let client = client.clone();
        async move {
            let input = client.wait().for_element(Locator::Css(css)).await.unwrap();
            input.send_keys(text).await.unwrap();
        }
    };
    fill("#field-username", "trader").await;
    fill("#field-password", PASSWORD).await;
    client
        .find(Locator::Css("#login-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#bots"))
        .await
        .unwrap();

    let mut charts = Vec::new();
    let (mut loads, mut switches) = (Vec::new(), Vec::new());
    for run in 1..=options.runs {
        let page = format!("{base}/bots/{}?candles=10000&rows=500", bot.id.0);
        client.goto(&page).await.unwrap();
        let chart_ms = measure(&client, "chart-draw", 1).await;
        let table_ms = measure(&client, "trades-render", 1).await;
        // The table alone: back to 100 a page, then 500 again, as a user switches.
        for rows in ["100", "500"] {
            let option = format!("#field-trades-page-size option[value='{rows}']");
            client
                .find(Locator::Css(&option))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
        let switch_ms = measure(&client, "trades-render", 3).await;
        loads.push(table_ms);
        switches.push(switch_ms);
        let counts = client
            .execute(
                "const draw = performance.getEntriesByName('chart-draw').pop(); \
                 return [Number(document.getElementById('chart').dataset.candles), \
                 Number(document.getElementById('chart').dataset.markers), \
                 document.querySelectorAll('#trades tbody tr').length, \
                 Math.round(draw.startTime + draw.duration)]",
                vec![],
            )
            .await
            .unwrap();
        println!(
            "run {run}: chart {chart_ms:.1} ms, 500-trade page {table_ms:.1} ms while the page \
             loads, {switch_ms:.1} ms on its own (candles, markers, rows, chart on screen this \
             many ms after the navigation began: {counts})"
        );
        charts.push(chart_ms);
    }
    summary("chart of 10,000 candles, drawn", charts);
    summary("page of 500 trades, rendered on its own", switches);
    summary("page of 500 trades, rendered while the page loads", loads);

    client.close().await.unwrap();
    drop(driver);
    database.cleanup().await;
}
