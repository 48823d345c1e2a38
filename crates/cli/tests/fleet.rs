//! README.md's fleet, run as written: the processes of its `sh fleet:processes` block (a
//! `spotbot sim` as the shared paper exchange at 60x with `--state`, a `spotbot api`, two
//! `spotbot worker`s) over one real PostgreSQL, with a second `spotbot sim` standing in for the
//! testnet; then the README's walkthrough blocks, as `readme.rs` runs them against `spotbot run`,
//! against this fleet. Both workers register and beat their hearts (`spotbot workers`), the bots
//! trade, and everything stops cleanly.
//!
//! Changed in the blocks, as in `readme.rs`: `cargo run --release --` becomes this build's
//! binary, and the fixed addresses free ports (read back from what each process prints).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;

use common::{Running, run_bash, spotbot};
use store::testing::TestDatabase;

/// The arguments of the README's command line that starts with `cargo run --release -- {command}`,
/// every fixed `127.0.0.1:PORT` made a free port.
fn arguments(processes: &str, command: &str, index: usize) -> Vec<String> {
    let prefix = format!("cargo run --release -- {command} ");
    let line = processes
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .nth(index)
        .unwrap_or_else(|| panic!("no `{prefix}` line number {index} in:\n{processes}"));
    line.split_whitespace()
        // `cargo run --release --` is the binary itself.
        .skip(4)
        .map(|word| {
            if word.starts_with("127.0.0.1:") {
                "127.0.0.1:0".to_owned()
            } else {
                word.to_owned()
            }
        })
        .collect()
}

/// `spotbot` in `dir` with the fleet's environment.
fn fleet_command(dir: &Path, environment: &[(&str, String)]) -> Command {
    let mut command = spotbot(dir);
    for (name, value) in environment {
        command.env(name, value);
    }
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_an_api_and_a_shared_exchange_serve_the_walkthrough() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: {} not set", store::testing::POSTGRES_URL_ENV);
        return;
    };
    let readme = common::readme();
    let block = common::readme_block;
    let processes = block(&readme, "fleet:processes");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let mut testnet = Running::sim(dir.path());
    let testnet_url = format!("http://{}", testnet.exchange_address());
    let mut environment = vec![
        ("SPOTBOT_DATABASE_URL", database.url().to_owned()),
        ("SPOTBOT_MASTER_KEY", "ab".repeat(32)),
        ("SPOTBOT_TESTNET_URL", testnet_url.clone()),
        // As the README's environment: the paper exchange's admin token, given to it and to the
        // processes that open accounts there.
        ("SPOTBOT_SIM_ADMIN_TOKEN", "cd".repeat(32)),
        ("SPOTBOT_PAPER_ADMIN_TOKEN", "cd".repeat(32)),
    ];
    let mut paper = Running::spawn(
        fleet_command(dir.path(), &environment).args(arguments(&processes, "sim", 0)),
    );
    let paper_url = format!("http://{}", paper.exchange_address());
    environment.push(("SPOTBOT_PAPER_URL", paper_url));
    let mut api = Running::spawn(
        fleet_command(dir.path(), &environment).args(arguments(&processes, "api", 0)),
    );
    let address = api.api_address();
    let mut workers: Vec<Running> = (0..2)
        .map(|index| {
            Running::spawn(
                fleet_command(dir.path(), &environment)
                    .args(arguments(&processes, "worker", index)),
            )
        })
        .collect();
    for worker in &mut workers {
        worker.wait_for("running; press Ctrl-C to stop", Duration::from_secs(60));
    }

    let as_here = |text: String| {
        text.replace("cargo run --release --", env!("CARGO_BIN_EXE_spotbot"))
            .replace("localhost:8080", &address)
            .replace("localhost:8765", testnet_url.trim_start_matches("http://"))
    };
    let walkthrough = run_bash(
        dir.path(),
        &environment,
        &format!(
            "{}\n\
             for _ in $(seq 600); do\n\
                 curl -sf 'http://{address}/api/v1/trades?side=SELL' \
                     -H \"authorization: Bearer $TOKEN\" | grep -q '\"id\"' && break\n\
                 sleep 0.2\n\
             done\n\
             {}\n{}\n{}\n\
             for _ in $(seq 600); do\n\
                 {} trades --user bob --csv | grep -q ',SELL,' && break\n\
                 sleep 0.2\n\
             done\n\
             echo '--- results'\n\
             {}",
            as_here(block(&readme, "walkthrough:api")),
            as_here(block(&readme, "walkthrough:api-results")),
            as_here(block(&readme, "walkthrough:keys")),
            as_here(block(&readme, "walkthrough:cli")),
            env!("CARGO_BIN_EXE_spotbot"),
            as_here(block(&readme, "walkthrough:cli-results")),
        ),
    );
    assert!(walkthrough.contains(r#""venue":"paper""#), "{walkthrough}");
    assert!(
        walkthrough.contains(r#""side":"SELL""#),
        "ada sold: {walkthrough}"
    );
    assert!(
        walkthrough.contains(r#""key_type":"hmac""#),
        "{walkthrough}"
    );
    let (_, results) = walkthrough.split_once("--- results").unwrap();
    assert!(
        results.contains("ETHUSDT") && results.contains("SELL"),
        "bob sold: {results}"
    );

    let listed = fleet_command(dir.path(), &environment)
        .arg("workers")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.status.success(), "{listing}");
    assert_eq!(
        listing.matches(" running ").count(),
        2,
        "two workers running:\n{listing}"
    );

    for worker in workers {
        let (stopped, lines) = worker.stop("-TERM");
        assert!(stopped, "{}", lines.join("\n"));
    }
    let listed = fleet_command(dir.path(), &environment)
        .arg("workers")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert_eq!(
        listing.matches(" stopped ").count(),
        2,
        "both stopped cleanly:\n{listing}"
    );
    for process in [api, paper, testnet] {
        let (stopped, lines) = process.stop("-INT");
        assert!(stopped, "{}", lines.join("\n"));
    }
    database.cleanup().await;
}
