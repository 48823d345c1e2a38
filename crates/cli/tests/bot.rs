//! `spotbot bot add|list|start|stop|pause` and `spotbot perf` against a SQLite database in a
//! temporary directory: bots are checked as the HTTP API checks them (a bad value exits 2 naming
//! its flag), start/stop/pause change what `bot list` shows, and `perf` reports trades seeded
//! through the store with known figures.

use std::path::Path;
use std::process::{Command, Output};

use market::Side;
use rust_decimal::Decimal;
use store::{BotId, Execution, NewOrder, NewTrade, OrderStatus, PositionRow, Store, UserId};

const DATABASE: &str = "sqlite://data/spotbot.db";

/// `spotbot ARGS... --database sqlite://data/spotbot.db` in `dir`.
fn spotbot(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spotbot"))
        .current_dir(dir)
        .env_remove("SPOTBOT_DATABASE_URL")
        .env("SPOTBOT_PASSWORD", "correct horse battery")
        .args(args)
        .args(["--database", DATABASE])
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `args` and insists it succeeded; its output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let output = spotbot(dir, args);
    assert!(output.status.success(), "{args:?}: {}", text(&output));
    text(&output)
}

/// Runs `args` and insists it exited with `code`; its output.
fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let output = spotbot(dir, args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{args:?}: {}",
        text(&output)
    );
    text(&output)
}

/// A directory with users `alice` and `bob`.
fn with_users() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["alice", "bob"] {
        let email = format!("{name}@example.com");
        ok(
            dir.path(),
            &["user", "add", "--username", name, "--email", &email],
        );
    }
    dir
}

/// The line of `listing` for the bot named `name`.
fn line<'l>(listing: &'l str, name: &str) -> &'l str {
    listing
        .lines()
        .find(|line| line.split_whitespace().nth(2) == Some(name))
        .unwrap_or_else(|| panic!("no bot {name}: {listing}"))
}

#[test]
fn bots_are_added_listed_started_stopped_and_paused() {
    let dir = with_users();
    let path = dir.path();
    let added = ok(
        path,
        &[
            "bot",
            "add",
            "--user",
            "alice",
            "--name",
            "fast",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
            "--quote-per-buy",
            "25.5",
            "--fast",
            "5",
            "--slow",
            "20",
        ],
    );
    assert!(added.contains("created bot 1 \"fast\" of alice"), "{added}");
    assert!(
        added.contains("BTCUSDT 1m, paper, active, 25.5 per BUY"),
        "{added}"
    );
    ok(
        path,
        &[
            "bot",
            "add",
            "--user",
            "bob",
            "--name",
            "idle",
            "--symbol",
            "ETHUSDT",
            "--interval",
            "1h",
            "--inactive",
        ],
    );

    let all = ok(path, &["bot", "list"]);
    assert_eq!(all.lines().count(), 3, "{all}");
    assert!(all.lines().next().unwrap().starts_with("id"), "{all}");
    let fast = line(&all, "fast");
    assert!(
        fast.contains("BTCUSDT") && fast.contains(" yes ") && fast.contains(" idle"),
        "{all}"
    );
    assert!(line(&all, "idle").contains(" no "), "{all}");
    // `spotbot bots` shows the same table.
    assert_eq!(ok(path, &["bots"]), all);
    let bobs = ok(path, &["bot", "list", "--user", "bob"]);
    assert_eq!(bobs.lines().count(), 2, "{bobs}");
    assert!(
        bobs.contains("ETHUSDT") && !bobs.contains("BTCUSDT"),
        "{bobs}"
    );

    assert!(ok(path, &["bot", "pause", "1"]).contains("bot 1 \"fast\": active, paused"));
    assert!(line(&ok(path, &["bot", "list"]), "fast").contains(" paused"));
    assert!(ok(path, &["bot", "stop", "1"]).contains("bot 1 \"fast\": inactive, idle"));
    assert!(line(&ok(path, &["bot", "list"]), "fast").contains(" no "));
    assert!(ok(path, &["bot", "start", "2"]).contains("bot 2 \"idle\": active, idle"));
    assert!(line(&ok(path, &["bot", "list"]), "idle").contains(" yes "));

    // The strategy's parameters were stored in full, as the API stores them.
    let params = runtime().block_on(async {
        let store = Store::connect(&format!(
            "sqlite://{}",
            path.join("data/spotbot.db").display()
        ))
        .await
        .unwrap();
        let bot = store.bot(BotId(1)).await.unwrap().unwrap();
        store.close().await;
        bot.strategy_params
    });
    let params: serde_json::Value = serde_json::from_str(&params).unwrap();
    assert_eq!(
        (params["fast"].as_u64(), params["slow"].as_u64()),
        (Some(5), Some(20))
    );
    assert!(params["rsi_period"].is_u64(), "{params}");

    // A taken name is the database's refusal (1); an unknown bot or user names what is wrong (2).
    let taken = fails(
        path,
        &[
            "bot",
            "add",
            "--user",
            "alice",
            "--name",
            "fast",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1h",
        ],
        1,
    );
    assert!(taken.contains("fast"), "{taken}");
    assert!(fails(path, &["bot", "stop", "99"], 2).contains("no bot with id 99"));
    assert!(fails(path, &["bot", "list", "--user", "carol"], 2).contains("--user"));
}

#[test]
fn bad_values_exit_2_naming_the_flag_and_create_nothing() {
    let dir = with_users();
    let path = dir.path();
    let base = |flag: &'static str, value: &'static str| {
        let mut args = vec![
            "bot",
            "add",
            "--user",
            "alice",
            "--name",
            "b",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1h",
        ];
        match args.iter().position(|arg| *arg == flag) {
            Some(at) => args[at + 1] = value,
            None => args.extend([flag, value]),
        }
        args
    };
    for (flag, value) in [
        ("--symbol", "NOPEUSDT"),
        ("--symbol", "btcusdt"),
        ("--interval", "7m"),
        ("--mode", "yolo"),
        ("--quote-per-buy", "-5"),
        ("--quote-per-buy", "0.00001"),
        ("--name", ""),
    ] {
        let message = fails(path, &base(flag, value), 2);
        assert!(
            message.contains(&format!("{flag}:")),
            "{flag} {value}: {message}"
        );
    }
    let params = fails(path, &base("--fast", "30"), 2);
    assert!(
        params.contains("--fast/--slow/--rsi/--overbought"),
        "{params}"
    );
    let nobody = fails(path, &base("--user", "carol"), 2);
    assert!(
        nobody.contains("--user: no user named \"carol\""),
        "{nobody}"
    );
    let listing = ok(path, &["bot", "list"]);
    assert!(listing.contains("(none)"), "{listing}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn d(text: &str) -> Decimal {
    Decimal::from_str_exact(text).unwrap()
}

/// Adds a BTCUSDT 1h bot `name` for `user` with the CLI.
fn add_btcusdt_bot(dir: &Path, user: &str, name: &str) {
    let args = [
        "bot",
        "add",
        "--user",
        user,
        "--name",
        name,
        "--symbol",
        "BTCUSDT",
        "--interval",
        "1h",
    ];
    ok(dir, &args);
}

/// The store behind the CLI's database in `dir`.
async fn open_store(dir: &Path) -> Store {
    let url = format!("sqlite://{}", dir.join("data/spotbot.db").display());
    Store::connect(&url).await.unwrap()
}

/// Records an order of bot `bot` of `user` filled at `price` (0.001 BTC), with a fee of
/// `fee` USDT and, for a SELL, `pnl` realised. The bot's position after it: 0.001 BTC after a
/// BUY, nothing and `pnl` realised after a SELL.
async fn trade(
    store: &Store,
    user: UserId,
    bot: BotId,
    n: i64,
    price: &str,
    fee: &str,
    pnl: Option<&str>,
) {
    let side = if pnl.is_some() { Side::Sell } else { Side::Buy };
    let client_order_id = format!("seed-{n}");
    let at_ms = 1_700_000_000_000 + n * 60_000;
    store
        .insert_pending_order(
            &NewOrder {
                client_order_id: client_order_id.clone(),
                bot_id: bot,
                user_id: user,
                symbol: "BTCUSDT".to_owned(),
                side,
                requested_quantity: d("0.001"),
                signal_candle_open_ms: at_ms,
                decision: None,
            },
            at_ms,
        )
        .await
        .unwrap();
    let position_before = store.position(bot).await.unwrap();
    store
        .record_execution(
            &Execution {
                trade: NewTrade {
                    bot_id: bot,
                    user_id: user,
                    binance_order_id: n,
                    client_order_id,
                    symbol: "BTCUSDT".to_owned(),
                    side,
                    price: d(price),
                    quantity_filled: d("0.001"),
                    quote_quantity_filled: d(price) * d("0.001"),
                    commission: d(fee),
                    commission_asset: "USDT".to_owned(),
                    realized_pnl: pnl.map(d),
                    executed_at_ms: at_ms,
                },
                order_status: OrderStatus::Filled,
                position_before,
                position_after: match pnl {
                    None => PositionRow {
                        quantity: d("0.001"),
                        cost_quote: d(price) * d("0.001"),
                        updated_at_ms: at_ms,
                        ..PositionRow::flat(bot)
                    },
                    Some(pnl) => PositionRow {
                        realized_pnl: d(pnl),
                        updated_at_ms: at_ms,
                        ..PositionRow::flat(bot)
                    },
                },
            },
            at_ms + 1,
        )
        .await
        .unwrap();
}

#[test]
fn perf_reports_realised_pnl_fees_win_rate_and_drawdown() {
    let dir = with_users();
    let path = dir.path();
    for (user, name) in [("alice", "a1"), ("alice", "a2"), ("bob", "b1")] {
        add_btcusdt_bot(path, user, name);
    }
    runtime().block_on(async {
        let store = open_store(path).await;
        let alice = store.user_by_username("alice").await.unwrap().unwrap().id;
        let bob = store.user_by_username("bob").await.unwrap().unwrap().id;
        // a1: +2, then -3 (drawdown 3 from a peak of 2), then +1.5.
        trade(&store, alice, BotId(1), 1, "20000", "0.02", None).await;
        trade(&store, alice, BotId(1), 2, "22000", "0.022", Some("2")).await;
        trade(&store, alice, BotId(1), 3, "20000", "0.02", None).await;
        trade(&store, alice, BotId(1), 4, "17000", "0.017", Some("-3")).await;
        trade(&store, alice, BotId(1), 5, "20000", "0.02", None).await;
        trade(&store, alice, BotId(1), 6, "21500", "0.0215", Some("1.5")).await;
        // b1: one losing round trip.
        trade(&store, bob, BotId(3), 7, "20000", "0.02", None).await;
        trade(&store, bob, BotId(3), 8, "19000", "0.019", Some("-1")).await;
        store.close().await;
    });

    let bot = ok(path, &["perf", "--bot", "1"]);
    let lines: Vec<&str> = bot.lines().collect();
    assert_eq!(lines.len(), 2, "{bot}");
    assert!(
        lines[0].contains("realised PnL") && lines[0].contains("max drawdown"),
        "{bot}"
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    // bot user name symbol trades buys sells win-rate pnl fees (other: empty) drawdown (share)
    assert_eq!(
        cells,
        [
            "1", "1", "a1", "BTCUSDT", "6", "3", "3", "66.6667%", "0.5", "0.1205", "3", "(150%)"
        ],
        "{bot}"
    );

    let alices = ok(path, &["perf", "--user", "alice"]);
    let lines: Vec<&str> = alices.lines().collect();
    assert_eq!(lines.len(), 4, "a1, a2 and the total: {alices}");
    assert!(
        lines[2].contains("a2") && lines[2].contains(" - "),
        "no SELLs: {alices}"
    );
    assert!(lines[3].starts_with("total"), "{alices}");
    assert!(lines[3].contains(" 0.5 "), "{alices}");

    let everyone = ok(path, &["perf"]);
    let total = everyone.lines().last().unwrap();
    let cells: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(
        &cells[..7],
        ["total", "8", "4", "4", "50%", "-0.5", "0.1595"],
        "{everyone}"
    );

    assert!(fails(path, &["perf", "--user", "bob", "--bot", "1"], 2).contains("--bot"));
    assert!(fails(path, &["perf", "--bot", "42"], 2).contains("no bot with id 42"));
}

#[test]
fn bots_show_each_bots_position_and_realised_pnl() {
    let dir = with_users();
    let path = dir.path();
    for name in ["a1", "a2", "a3"] {
        add_btcusdt_bot(path, "alice", name);
    }
    runtime().block_on(async {
        let store = open_store(path).await;
        let alice = store.user_by_username("alice").await.unwrap().unwrap().id;
        // a1: a round trip realising 2.5; a2: holding 0.001 BTC; a3: never traded.
        trade(&store, alice, BotId(1), 1, "20000", "0.02", None).await;
        trade(&store, alice, BotId(1), 2, "22500", "0.0225", Some("2.5")).await;
        trade(&store, alice, BotId(2), 3, "20000", "0.02", None).await;
        store.close().await;
    });
    let listing = ok(path, &["bots"]);
    let cells = |name: &str| -> Vec<String> {
        line(&listing, name)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    // id user name symbol interval mode active status position realised-PnL
    assert_eq!(cells("a1")[8..], ["0", "2.5"], "{listing}");
    assert_eq!(cells("a2")[8..], ["0.001", "0"], "{listing}");
    assert_eq!(cells("a3")[8..], ["0", "0"], "{listing}");
}
