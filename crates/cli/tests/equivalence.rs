//! Backtest = paper: paper bots run by `spotbot run` against `spotbot sim --manual-clock --replay
//! BTCUSDT=FILE` (a real second process over loopback HTTP, the exchange's rules on), the clock
//! stepped one candle at a time, each step waiting until every bot has decided on the candle that
//! just closed; then `spotbot backtest --fill book` of the same file with the same parameters,
//! quote per BUY, fee and rules. Every signal candle, side and quantity must be the same to the
//! last decimal, the round trips as many, each fill price the simulator's book around the close
//! and the backtest's the same, and every realised PnL equal.
//!
//! The shared 100,000-candle file is replayed whole; `SPOTBOT_EQUIVALENCE_CANDLES=N` replays its
//! first N candles instead (a quicker look while working on the engine).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use market::Side;
use rust_decimal::Decimal;
use serde_json::Value;
use sim::BookShape;
use store::{Store, TradeFilter, TradeRow};

mod common;

use common::{Running, spotbot};

/// The bots compared: name, fast, slow, RSI period, overbought level, quote per BUY.
const BOTS: [(&str, u64, u64, u64, f64, &str); 2] = [
    ("ema-9-21", 9, 21, 14, 70.0, "100"),
    ("ema-5-13", 5, 13, 7, 75.0, "250"),
];

/// The replayed file's candle length, ms (one minute).
const CANDLE_MS: i64 = 60_000;

/// How long one step may take before the test gives up (a bot that never decides).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn shared_candles() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/candles-100k.csv")
}

/// The shared file, or its first `SPOTBOT_EQUIVALENCE_CANDLES` candles, written into `dir`.
fn candle_file(dir: &Path) -> (PathBuf, usize) {
    let text = std::fs::read_to_string(shared_candles()).expect("the shared candles");
    let all = text.lines().count() - 1;
    let wanted = std::env::var("SPOTBOT_EQUIVALENCE_CANDLES")
        .ok()
        .map(|value| {
            value
                .parse::<usize>()
                .expect("SPOTBOT_EQUIVALENCE_CANDLES is a count")
        })
        .unwrap_or(all)
        .min(all);
    let path = dir.join("candles.csv");
    let lines: Vec<&str> = text.lines().take(wanted + 1).collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, wanted)
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `spotbot ARGS` in `dir` with `environment`, insisting it succeeds; its stdout.
fn run_ok(dir: &Path, environment: &[(&str, String)], args: &[&str]) -> String {
    let mut command = spotbot(dir);
    for (name, value) in environment {
        command.env(name, value);
    }
    let output = command.args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        output_text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether a log line of `spotbot run` is a bot's decision on a candle, and which; panics on a
/// line saying a cycle failed (the step would otherwise wait for a decision that never comes).
fn decision(line: &str) -> Option<&'static str> {
    for failure in [" error: ", " paused: ", " blocked: ", " in_doubt: "] {
        assert!(!line.contains(failure), "a cycle failed: {line}");
    }
    if line.contains(" hold: no signal at the candle of") {
        Some("hold")
    } else if line.contains(" skip: ") {
        Some("skip")
    } else if line.contains(" trade: BUY ") || line.contains(" trade: SELL ") {
        Some("trade")
    } else {
        None
    }
}

/// Waits until `count` decisions were logged; counts them by kind into `decisions`.
fn wait_for_decisions(
    run: &mut Running,
    count: usize,
    decisions: &mut BTreeMap<&'static str, usize>,
) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    let mut seen = 0;
    while seen < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(line) = run.next_line(left) else {
            panic!(
                "{seen} of {count} decisions within {STEP_TIMEOUT:?}; the last lines:\n{}",
                run.last_lines(40)
            );
        };
        if let Some(kind) = decision(&line) {
            *decisions.entry(kind).or_default() += 1;
            seen += 1;
        }
    }
}

/// One order, as both sides report it.
#[derive(Debug, Clone, PartialEq)]
struct Order {
    /// The open time of the candle whose close it was decided on, ms.
    candle_open_ms: i64,
    side: Side,
    quantity: Decimal,
}

/// What the backtest says of one order: the order, its fill price and (a SELL's) realised PnL.
struct Backtested {
    order: Order,
    price: Decimal,
    pnl: Option<Decimal>,
}

/// The backtest's orders from its `--trades-out` CSV (a BUY and a SELL per round trip), and its
/// JSON summary.
fn backtest(
    dir: &Path,
    data: &Path,
    rules: &Path,
    bot: &(&str, u64, u64, u64, f64, &str),
) -> (Vec<Backtested>, Value) {
    let (name, fast, slow, rsi, overbought, quote) = *bot;
    let trades = dir.join(format!("{name}.trades.csv"));
    let summary = run_ok(
        dir,
        &[],
        &[
            "backtest",
            "--data",
            data.to_str().unwrap(),
            "--fast",
            &fast.to_string(),
            "--slow",
            &slow.to_string(),
            "--rsi",
            &rsi.to_string(),
            "--overbought",
            &overbought.to_string(),
            "--quote-per-trade",
            quote,
            "--rules",
            rules.to_str().unwrap(),
            "--fill",
            "book",
            "--trades-out",
            trades.to_str().unwrap(),
            "--json",
        ],
    );
    let summary: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["fill"], "book", "{summary}");
    let decimal = |text: &str| text.parse::<Decimal>().unwrap().normalize();
    let mut orders = Vec::new();
    let csv = std::fs::read_to_string(&trades).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|title| *title == name).unwrap();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let cell = |name: &str| cells[column(name)];
        orders.push(Backtested {
            order: Order {
                candle_open_ms: cell("entry_time_ms").parse().unwrap(),
                side: Side::Buy,
                quantity: decimal(cell("qty")),
            },
            price: decimal(cell("entry_price")),
            pnl: None,
        });
        orders.push(Backtested {
            order: Order {
                candle_open_ms: cell("exit_time_ms").parse().unwrap(),
                side: Side::Sell,
                quantity: decimal(cell("exit_qty")),
            },
            price: decimal(cell("exit_price")),
            pnl: Some(decimal(cell("pnl"))),
        });
    }
    (orders, summary)
}

/// The paper bot's orders, from its trades: each executed at the close of its candle (the clock
/// stands still between steps), so its candle opened one candle earlier.
fn paper_orders(trades: &[TradeRow]) -> Vec<Order> {
    trades
        .iter()
        .map(|trade| Order {
            candle_open_ms: trade.executed_at_ms - CANDLE_MS,
            side: trade.side,
            quantity: trade.quantity_filled.normalize(),
        })
        .collect()
}

/// The price a MARKET order of `quantity` fills at on the simulator's BTCUSDT book around
/// `close`: its best level's (the bots' orders are far smaller than it).
fn book_price(side: Side, close: Decimal, quantity: Decimal) -> Decimal {
    let levels =
        BookShape::standard(Decimal::new(5, 2)).levels_for(side, close, Decimal::new(1, 2));
    assert!(quantity <= levels[0].qty, "{quantity} fits the best level");
    levels[0].price
}

#[tokio::test(flavor = "multi_thread")]
async fn paper_bots_stepped_through_a_replay_trade_as_the_backtest_of_the_file_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let (data, candles) = candle_file(path);
    let mut exchange = Running::spawn(spotbot(path).args([
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--open-admin",
        "--manual-clock",
        "--no-rate-limits",
        "--replay",
        &format!("BTCUSDT={}", data.display()),
    ]));
    let exchange_url = format!("http://{}", exchange.exchange_address());
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let request = http.get(format!("{exchange_url}{path}"));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let clock: Value = serde_json::from_str(&get("/_sim/clock").await).unwrap();
    let genesis_ms = clock["now_ms"].as_i64().unwrap();
    assert_eq!(clock["speed"], 0, "{clock}");
    let rules = path.join("exchange-info.json");
    std::fs::write(&rules, get("/api/v3/exchangeInfo?symbol=BTCUSDT").await).unwrap();

    std::fs::create_dir(path.join("data")).unwrap();
    std::fs::write(
        path.join("spotbot.toml"),
        format!(
            "database_url = \"sqlite://data/spotbot.db\"\n\
             [engine]\nstreams = false\ncycle_delay_ms = 0\ntick_ms = 1\n\
             [venues.paper]\nurl = \"{exchange_url}\"\n"
        ),
    )
    .unwrap();
    let environment = [("SPOTBOT_PASSWORD", "correct horse battery".to_owned())];
    let config = ["--config", "spotbot.toml"];
    for (index, (name, fast, slow, rsi, overbought, quote)) in BOTS.iter().enumerate() {
        let user = format!("trader{index}");
        let email = format!("{user}@example.com");
        let mut add_user = vec!["user", "add", "--username", &user, "--email", &email];
        add_user.extend(config);
        run_ok(path, &environment, &add_user);
        let (fast, slow, rsi, overbought) = (
            fast.to_string(),
            slow.to_string(),
            rsi.to_string(),
            overbought.to_string(),
        );
        let mut add_bot = vec![
            "bot",
            "add",
            "--user",
            &user,
            "--name",
            name,
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
            "--fast",
            &fast,
            "--slow",
            &slow,
            "--rsi",
            &rsi,
            "--overbought",
            &overbought,
            "--quote-per-buy",
            quote,
        ];
        add_bot.extend(config);
        run_ok(path, &environment, &add_bot);
    }

    let mut run = Running::spawn(spotbot(path).args([
        "run",
        "--config",
        "spotbot.toml",
        "--listen",
        "127.0.0.1:0",
    ]));
    run.wait_for(
        "manual clock, followed step by step",
        Duration::from_secs(30),
    );
    // Each bot's first cycle, before any candle closed: its strategy built from nothing.
    for _ in BOTS {
        run.wait_for("strategy rebuilt from history", Duration::from_secs(30));
    }

    let started = Instant::now();
    let mut decisions = BTreeMap::new();
    for step in 1..=candles as i64 {
        let answer = http
            .put(format!("{exchange_url}/_sim/clock"))
            .body(format!("{{\"now_ms\": {}}}", genesis_ms + step * CANDLE_MS))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{:?}", answer.text().await);
        wait_for_decisions(&mut run, BOTS.len(), &mut decisions);
        if step % 10_000 == 0 {
            eprintln!(
                "{step} of {candles} candles stepped in {:.0?}: {decisions:?}",
                started.elapsed()
            );
        }
    }
    eprintln!(
        "{candles} candles stepped in {:.1?}: {decisions:?}",
        started.elapsed()
    );
    let (stopped, lines) = run.stop("-INT");
    assert!(
        stopped,
        "{}",
        lines[lines.len().saturating_sub(40)..].join("\n")
    );

    let store = Store::connect(&format!("sqlite://{}/data/spotbot.db", path.display()))
        .await
        .unwrap();
    let bots = store.bots(None).await.unwrap();
    let closes = closes_by_open_time(&data, genesis_ms);
    for bot in &BOTS {
        let config = bots.iter().find(|config| config.name == bot.0).unwrap();
        let filter = TradeFilter {
            bot: Some(config.id),
            ..TradeFilter::default()
        };
        let trades = store.trades(&filter).await.unwrap();
        let paper = paper_orders(&trades);
        let (backtested, summary) = backtest(path, &data, &rules, bot);
        // The backtest's times are the file's; the replay starts the file at the clock's start.
        let shift_ms = genesis_ms - first_open_ms(&data);
        let expected: Vec<Order> = backtested
            .iter()
            .map(|backtested| Order {
                candle_open_ms: backtested.order.candle_open_ms + shift_ms,
                ..backtested.order.clone()
            })
            .collect();
        // An open position at the end is a BUY the backtest has no round trip for.
        let round_trips = summary["round_trips"].as_u64().unwrap() as usize;
        let ends_long = summary["ends_in_position"].as_bool().unwrap();
        assert_eq!(
            paper.len(),
            2 * round_trips + usize::from(ends_long),
            "{}: the paper bot traded {} times, the backtest {round_trips} round trips{}",
            bot.0,
            paper.len(),
            if ends_long { " and an open BUY" } else { "" }
        );
        assert!(
            round_trips >= candles / 500,
            "{}: {round_trips} round trips are too few to compare",
            bot.0
        );
        for (index, want) in expected.iter().enumerate() {
            assert_eq!(&paper[index], want, "{}: order {index}", bot.0);
            let trade = &trades[index];
            let close = closes[&paper[index].candle_open_ms];
            let book = book_price(trade.side, close, trade.quantity_filled);
            assert_eq!(
                trade.price, book,
                "{}: order {index} filled at the book",
                bot.0
            );
            // The CSV's figures are f64, exact to far more than these decimals.
            assert_eq!(
                backtested[index].price.round_dp(8),
                trade.price.round_dp(8),
                "{}: order {index}'s price",
                bot.0
            );
            if let Some(pnl) = backtested[index].pnl {
                let paper_pnl = trade.realized_pnl.expect("a SELL realises PnL");
                assert!(
                    (pnl - paper_pnl).abs() < Decimal::new(1, 8),
                    "{}: order {index} realised {paper_pnl} on paper, {pnl} in the backtest",
                    bot.0
                );
            }
        }
        assert_eq!(summary["skipped_orders"], 0, "{}: {summary}", bot.0);
        eprintln!(
            "{}: {round_trips} round trips, every order the same candle, side, quantity, price and PnL",
            bot.0
        );
    }
    assert_eq!(
        decisions.get("skip"),
        None,
        "no signal was skipped: {decisions:?}"
    );
    store.close().await;
    let (stopped, _) = exchange.stop("-INT");
    assert!(stopped);
}

/// The open time of `data`'s first candle, ms.
fn first_open_ms(data: &Path) -> i64 {
    let text = std::fs::read_to_string(data).unwrap();
    let first = text.lines().nth(1).unwrap();
    first.split(',').next().unwrap().parse().unwrap()
}

/// Each candle's close by its open time on the exchange (the file starting at `genesis_ms`).
fn closes_by_open_time(data: &Path, genesis_ms: i64) -> BTreeMap<i64, Decimal> {
    let text = std::fs::read_to_string(data).unwrap();
    let shift_ms = genesis_ms - first_open_ms(data);
    text.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let open_ms: i64 = cells[0].parse().unwrap();
            (open_ms + shift_ms, cells[4].parse::<Decimal>().unwrap())
        })
        .collect()
}
