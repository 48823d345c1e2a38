//! `spotbot user add` and `spotbot user list` against a SQLite database in a temporary
//! directory: the password from `SPOTBOT_PASSWORD`, stored as an argon2id hash and never shown;
//! a missing password and bad values are usage errors (exit 2), a taken name a runtime one (1).

use std::path::Path;
use std::process::{Command, Output};

/// `spotbot user <subcommand>` on `dir/data/spotbot.db`.
fn user(dir: &Path, subcommand: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spotbot"));
    command
        .current_dir(dir)
        .env_remove("SPOTBOT_DATABASE_URL")
        .env_remove("SPOTBOT_PASSWORD")
        .args(["user", subcommand, "--database", "sqlite://data/spotbot.db"]);
    command
}

fn add(dir: &Path, username: &str, password: Option<&str>, extra: &[&str]) -> Output {
    let mut command = user(dir, "add");
    command.args([
        "--username",
        username,
        "--email",
        &format!("{username}@example.com"),
    ]);
    command.args(extra);
    if let Some(password) = password {
        command.env("SPOTBOT_PASSWORD", password);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn users_are_added_with_hashed_passwords_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let admin = add(
        dir.path(),
        "root",
        Some("correct horse battery"),
        &["--admin"],
    );
    assert!(admin.status.success(), "{}", text(&admin));
    assert!(
        text(&admin).contains("created admin root"),
        "{}",
        text(&admin)
    );
    let alice = add(dir.path(), "alice", Some("another good password"), &[]);
    assert!(alice.status.success(), "{}", text(&alice));

    let list = user(dir.path(), "list").output().unwrap();
    let listing = text(&list);
    assert!(list.status.success(), "{listing}");
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[0].starts_with("id") && lines[0].contains("username"),
        "{listing}"
    );
    assert!(
        lines[1].contains("root") && lines[1].contains("admin"),
        "{listing}"
    );
    assert!(
        lines[2].contains("alice@example.com") && lines[2].contains("user"),
        "{listing}"
    );
    assert!(
        !listing.contains("argon2") && !listing.contains("correct horse"),
        "{listing}"
    );

    // The database file and its write-ahead log, where the rows may still be.
    let database: String = ["data/spotbot.db", "data/spotbot.db-wal"]
        .iter()
        .filter_map(|file| std::fs::read(dir.path().join(file)).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect();
    assert!(database.contains("$argon2id$"), "the hash is stored");
    assert!(
        !database.contains("correct horse battery"),
        "the password is not"
    );
}

#[test]
fn bad_input_is_a_usage_error_and_a_taken_name_a_runtime_error() {
    let dir = tempfile::tempdir().unwrap();
    let no_password = add(dir.path(), "alice", None, &[]);
    assert_eq!(no_password.status.code(), Some(2), "{}", text(&no_password));
    assert!(
        text(&no_password).contains("SPOTBOT_PASSWORD"),
        "{}",
        text(&no_password)
    );

    let short = add(dir.path(), "alice", Some("short"), &[]);
    assert_eq!(short.status.code(), Some(2), "{}", text(&short));
    assert!(text(&short).contains("10 to 128"), "{}", text(&short));
    assert!(!text(&short).contains("short\n"), "{}", text(&short));

    let bad_name = add(dir.path(), "a/b", Some("correct horse battery"), &[]);
    assert_eq!(bad_name.status.code(), Some(2), "{}", text(&bad_name));
    assert!(
        text(&bad_name).contains("--username"),
        "{}",
        text(&bad_name)
    );

    let missing_flag = user(dir.path(), "add")
        .args(["--username", "alice"])
        .env("SPOTBOT_PASSWORD", "correct horse battery")
        .output()
        .unwrap();
    assert_eq!(
        missing_flag.status.code(),
        Some(2),
        "{}",
        text(&missing_flag)
    );

    assert!(
        add(dir.path(), "alice", Some("correct horse battery"), &[])
            .status
            .success()
    );
    let again = add(dir.path(), "alice", Some("correct horse battery"), &[]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("alice"), "{}", text(&again));
}
