//! README.md's walkthrough, run as written: its `sh walkthrough:*` blocks are taken from the file
//! and run by bash against a real `spotbot run` (its own SQLite database and built-in exchange,
//! in a temporary directory) and a real `spotbot sim` standing in for the testnet, so that a
//! newcomer who follows it creates a user, adds a paper bot, sees their own paper account, its
//! trades and PnL, and stores their own testnet key, with `curl` and with the command line.
//!
//! Only three things are changed in the blocks: `cargo run --release --` becomes this build's
//! `spotbot` binary, and `localhost:8080` and `localhost:8765` the test servers' addresses (those
//! ports may be taken on a test machine). Between a block that creates a bot and the block that
//! shows its results, the test waits, as the README tells the reader to, until the bot has sold
//! once.

mod common;

use common::{Running, run_bash};

#[test]
fn the_readme_walkthrough_creates_a_user_and_a_bot_and_shows_its_trades_and_pnl() {
    let readme = common::readme();
    let block =
        |readme: &str, name: &str| common::readme_block(readme, &format!("walkthrough:{name}"));
    let dir = tempfile::tempdir().unwrap();
    let mut testnet = Running::sim(dir.path());
    let testnet_address = testnet.exchange_address();
    let as_here = |text: String, address: &str| {
        text.replace("cargo run --release --", env!("CARGO_BIN_EXE_spotbot"))
            .replace("localhost:8080", address)
            .replace("localhost:8765", &testnet_address)
    };
    let testnet_url = format!("http://{testnet_address}");
    let mut running = Running::start_with(dir.path(), &["--testnet-url", &testnet_url]);
    let address = running.api_address();
    // The walkthrough starts once `spotbot run` has set up its database and exchange.
    running.wait_for("created the demo user", std::time::Duration::from_secs(60));

    // With curl: the set-up block, a wait for a SELL (up to two minutes), the results block and
    // the keys block, in one shell so that $TOKEN carries over.
    let api = run_bash(
        dir.path(),
        &[],
        &format!(
            "{}\n\
             for _ in $(seq 600); do\n\
                 curl -sf 'http://{address}/api/v1/trades?side=SELL' \
                     -H \"authorization: Bearer $TOKEN\" | grep -q '\"id\"' && break\n\
                 sleep 0.2\n\
             done\n\
             echo '--- results'\n\
             {}\n\
             echo '--- keys'\n\
             {}",
            as_here(block(&readme, "api"), &address),
            as_here(block(&readme, "api-results"), &address),
            as_here(block(&readme, "keys"), &address),
        ),
    );
    let (set_up, results) = api.split_once("--- results").unwrap();
    let (results, keys) = results.split_once("--- keys").unwrap();
    assert!(set_up.contains(r#""username":"ada""#), "{set_up}");
    assert!(set_up.contains(r#""name":"btc-fast""#), "{set_up}");
    assert!(
        set_up.contains(r#""venue":"paper""#),
        "ada's paper account: {set_up}"
    );
    assert!(set_up.contains(r#""asset":"USDT""#), "{set_up}");
    let keys: Vec<serde_json::Value> = serde_json::Deserializer::from_str(keys)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("the answers are not JSON ({error}):\n{keys}"));
    let [stored, testnet_account] = keys.as_slice() else {
        panic!("two answers expected: {keys:?}")
    };
    assert_eq!(stored["venue"], "testnet", "{stored}");
    assert_eq!(stored["key_type"], "hmac", "{stored}");
    assert_eq!(stored["can_trade"], true, "{stored}");
    assert_eq!(
        testnet_account["balances"],
        serde_json::json!([{"asset": "USDT", "free": "1000", "locked": "0"}]),
        "ada's own testnet account"
    );
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(results)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("the answers are not JSON ({error}):\n{results}"));
    let [trades, performance] = answers.as_slice() else {
        panic!("two answers expected:\n{results}")
    };
    let trades = trades["trades"].as_array().unwrap();
    assert!(
        trades.iter().any(|trade| trade["side"] == "BUY"),
        "{trades:?}"
    );
    let sells: Vec<_> = trades.iter().filter(|t| t["side"] == "SELL").collect();
    assert!(!sells.is_empty(), "{trades:?}");
    assert!(
        sells.iter().all(|sell| sell["realized_pnl"].is_string()),
        "{sells:?}"
    );
    assert_eq!(performance["bots"][0]["symbol"], "BTCUSDT", "{performance}");
    assert!(performance["realized_pnl"].is_string(), "{performance}");
    assert!(performance["sells"].as_u64() >= Some(1), "{performance}");

    // With the command line, on the same database while `spotbot run` trades.
    let cli = run_bash(
        dir.path(),
        &[],
        &format!(
            "{}\n\
             for _ in $(seq 600); do\n\
                 {} trades --user bob --csv | grep -q ',SELL,' && break\n\
                 sleep 0.2\n\
             done\n\
             echo '--- results'\n\
             {}",
            as_here(block(&readme, "cli"), &address),
            env!("CARGO_BIN_EXE_spotbot"),
            as_here(block(&readme, "cli-results"), &address),
        ),
    );
    let (set_up, results) = cli.split_once("--- results").unwrap();
    assert!(set_up.contains("bob"), "{set_up}");
    assert!(set_up.contains("created bot"), "{set_up}");
    assert!(
        results.contains("ETHUSDT") && results.contains("SELL"),
        "{results}"
    );
    assert!(
        results.contains("eth-fast"),
        "perf names the bot:\n{results}"
    );

    let (stopped_cleanly, lines) = running.stop("-INT");
    assert!(stopped_cleanly, "{}", lines.join("\n"));
    let (sim_stopped_cleanly, lines) = testnet.stop("-INT");
    assert!(sim_stopped_cleanly, "{}", lines.join("\n"));
}
