//! `spotbot credentials set|show|delete` against a real `spotbot sim` standing in for the testnet
//! and a SQLite database in a temporary directory: a key is verified with the exchange before
//! it is stored (a refused one exits 2 naming the flag or variable, and nothing is stored), the
//! secret comes from the environment and never shows, and `BINANCE_API_KEY` /
//! `BINANCE_API_SECRET` store the key for the user named.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Running;

/// `spotbot credentials <args>` in `dir`, its testnet at `testnet_url`.
fn credentials(dir: &Path, testnet_url: &str, args: &[&str]) -> Command {
    let mut command = common::spotbot(dir);
    command
        .env_remove("BINANCE_API_KEY")
        .env_remove("BINANCE_API_SECRET")
        .env("SPOTBOT_TESTNET_URL", testnet_url)
        .arg("credentials")
        .args(args);
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The demo account's key and secret, from the lines `spotbot sim` printed.
fn demo_account(sim: &mut Running) -> (String, String) {
    let value = |line: String| line.split_whitespace().last().unwrap().to_owned();
    let key = value(sim.wait_for("API key:", std::time::Duration::from_secs(10)));
    let secret = value(sim.wait_for("secret:", std::time::Duration::from_secs(10)));
    (key, secret)
}

#[test]
fn a_key_is_verified_stored_for_the_user_shown_without_its_secret_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Running::sim(dir.path());
    let testnet = format!("http://{}", sim.exchange_address());
    let (api_key, secret) = demo_account(&mut sim);
    let added = common::spotbot(dir.path())
        .env("SPOTBOT_PASSWORD", "correct horse battery")
        .args([
            "user",
            "add",
            "--username",
            "ada",
            "--email",
            "ada@example.com",
        ])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added));
    let set = ["set", "--user", "ada", "--venue", "testnet"];

    // A secret the exchange does not accept: exit 2, the variable named, nothing stored.
    let refused = credentials(dir.path(), &testnet, &set)
        .env("BINANCE_API_KEY", &api_key)
        .env("BINANCE_API_SECRET", "not-the-secret")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("BINANCE_API_SECRET") && text(&refused).contains("-1022"),
        "{}",
        text(&refused)
    );
    let none = credentials(dir.path(), &testnet, &["show", "--user", "ada"])
        .output()
        .unwrap();
    assert!(
        text(&none).contains("ada has no exchange keys"),
        "{}",
        text(&none)
    );
    // No API key at all: exit 2, saying where it comes from.
    let keyless = credentials(dir.path(), &testnet, &set).output().unwrap();
    assert_eq!(keyless.status.code(), Some(2), "{}", text(&keyless));
    assert!(text(&keyless).contains("--api-key"), "{}", text(&keyless));

    let stored = credentials(dir.path(), &testnet, &set)
        .env("BINANCE_API_KEY", &api_key)
        .env("BINANCE_API_SECRET", &secret)
        .output()
        .unwrap();
    assert!(stored.status.success(), "{}", text(&stored));
    assert!(
        text(&stored).contains("stored the testnet key of ada (hmac"),
        "{}",
        text(&stored)
    );
    let shown = credentials(dir.path(), &testnet, &["show", "--user", "ada"])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", text(&shown));
    let shown = text(&shown);
    assert!(
        shown.contains("testnet") && shown.contains(&api_key[..8]) && shown.contains("SPOT"),
        "{shown}"
    );
    assert!(
        !shown.contains(&secret) && !shown.contains(&api_key),
        "{shown}"
    );
    let database = std::fs::read(dir.path().join("data/spotbot.db")).unwrap();
    assert!(
        !database
            .windows(secret.len())
            .any(|window| window == secret.as_bytes())
    );

    let deleted = credentials(
        dir.path(),
        &testnet,
        &["delete", "--user", "ada", "--venue", "testnet"],
    )
    .output()
    .unwrap();
    assert!(deleted.status.success(), "{}", text(&deleted));
    let again = credentials(
        dir.path(),
        &testnet,
        &["delete", "--user", "ada", "--venue", "testnet"],
    )
    .output()
    .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("ada has no testnet key"),
        "{}",
        text(&again)
    );
    let unknown = credentials(dir.path(), &testnet, &["show", "--user", "nobody"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    sim.stop("-INT");
}
