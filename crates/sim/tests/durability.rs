//! The durable exchange over loopback HTTP: a run of orders and admin changes replays to the
//! state before (orders, balances, accounts, counters); a torn last journal record is dropped and
//! the rest kept; a damaged record before it stops the start with an error naming the file and
//! the byte offset, and changes no file; compaction then more orders replays to the same state;
//! state files written before the journal existed load; removing the state file resets the
//! exchange and sets its journal aside; an accelerated market resumes no earlier than any time it
//! showed; and two exchanges cannot share the files.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{START_MS, TestSim, code_and_msg, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use sim::{
    Clock, CompactionPolicy, Credentials, DurableState, Exchange, ExchangeConfig, SavedState,
    ServeOptions, StateError, SystemClock,
};

/// A fresh directory for this test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-durable-{name}-{}", std::process::id()));
    // Left over from an earlier run with the same pid, if any.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn journal_of(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.journal", path.display()))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A saved state as JSON, without the snapshot's journal position (a live exchange has none).
fn comparable(state: &SavedState) -> Value {
    let mut json = serde_json::to_value(state).unwrap();
    json.as_object_mut().unwrap().remove("journal_seq");
    json
}

fn live_state(sim: &TestSim) -> Value {
    comparable(&sim.exchange().lock().save_state())
}

/// Each record of a journal file as (byte offset, sequence number), read as the format in the
/// `journal` module's documentation says: an 8-byte mark, then per record a u32 length, a u32
/// checksum, a u64 sequence number and the payload.
fn record_offsets(journal: &[u8]) -> Vec<(usize, u64)> {
    assert_eq!(&journal[..8], b"SIMJRNL1");
    let mut offset = 8;
    let mut records = Vec::new();
    while offset < journal.len() {
        let length = u32::from_le_bytes(journal[offset..offset + 4].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(journal[offset + 8..offset + 16].try_into().unwrap());
        records.push((offset, seq));
        offset += 16 + length;
    }
    assert_eq!(offset, journal.len(), "the records fill the file");
    records
}

/// A MARKET order of the test account; returns the answer.
async fn order(sim: &TestSim, side: &str, size: (&str, &str), client_id: &str) -> Value {
    let params = [
        ("symbol", "BTCUSDT"),
        ("side", side),
        ("type", "MARKET"),
        size,
        ("newClientOrderId", client_id),
    ];
    let (status, body) = sim.signed(Method::POST, "/api/v3/order", &params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `count` orders of the test account, BUY by quantity and SELL by quote amount in turn, their
/// client ids `{prefix}-{n}`.
async fn trade(sim: &TestSim, prefix: &str, count: usize) -> Vec<Value> {
    let mut answers = Vec::new();
    for index in 0..count {
        let client_id = format!("{prefix}-{index}");
        let answer = if index % 2 == 0 {
            order(sim, "BUY", ("quantity", "0.01"), &client_id).await
        } else {
            order(sim, "SELL", ("quoteOrderQty", "250"), &client_id).await
        };
        answers.push(answer);
    }
    answers
}

async fn get_json(url: &str) -> Value {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

async fn admin_ok(sim: &TestSim, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = sim.admin(method, path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn replay_gives_back_every_order_balance_account_and_counter() {
    let dir = scratch_dir("replay");
    let path = dir.join("state.json");
    let sim = TestSim::start_durable(DurableState::open(&path).unwrap(), START_MS).await;
    // The snapshot written at the start holds the account and no order: what follows is
    // replayed from the journal alone.
    let first_snapshot = read_json(&path);
    assert_eq!(first_snapshot["order_log"], json!([]));
    assert_eq!(first_snapshot["journal_seq"], 0);

    trade(&sim, "first", 10).await;
    // A second account paying commissions in BNB, funded, restricted and trading.
    let second = admin_ok(
        &sim,
        Method::POST,
        "/accounts",
        json!({"balances": {"USDT": "5000", "BNB": "10"}, "commission_in_bnb": true}),
    )
    .await;
    let second = Credentials {
        api_key: second["api_key"].as_str().unwrap().to_owned(),
        secret: second["secret"].as_str().unwrap().to_owned(),
    };
    let key_path = format!("/accounts/{}", second.api_key);
    admin_ok(
        &sim,
        Method::POST,
        &format!("{key_path}/balances"),
        json!({"asset": "USDT", "amount": "1234.5"}),
    )
    .await;
    admin_ok(
        &sim,
        Method::PUT,
        &format!("{key_path}/key"),
        json!({"ip_whitelist": ["127.0.0.1"]}),
    )
    .await;
    for index in 0..4 {
        sim.clock.advance_ms(61_000);
        let query = encode(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quoteOrderQty", "100"),
            ("newClientOrderId", &format!("second-{index}")),
            ("timestamp", &sim.clock_now().to_string()),
        ]);
        let (status, answer) = sim
            .signed_raw(Method::POST, "/api/v3/order", &query, "", &second)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["fills"][0]["commissionAsset"], "BNB");
    }
    admin_ok(
        &sim,
        Method::PUT,
        &format!("/accounts/{}/commission_in_bnb", sim.credentials.api_key),
        json!({"enabled": true}),
    )
    .await;
    sim.exchange()
        .lock()
        .set_demo_api_key(Some(second.api_key.clone()));
    sim.server.sync_journal().await.unwrap();
    let answers = trade(&sim, "last", 6).await;
    let before = live_state(&sim);
    let stats = sim.server.journal_stats().expect("the exchange is durable");
    assert_eq!(stats.records, 25, "{stats:?}");
    assert!(
        stats.commits >= 1 && stats.commits <= stats.records,
        "{stats:?}"
    );
    sim.server.stop().await.unwrap();

    let reopened = DurableState::open(&path).unwrap();
    assert!(reopened.notes().is_empty(), "{:?}", reopened.notes());
    let saved = reopened.saved().expect("a state was kept");
    assert_eq!(comparable(saved), before);
    assert_eq!(saved.demo_api_key.as_deref(), Some(second.api_key.as_str()));
    assert_eq!(
        read_json(&path)["order_log"],
        json!([]),
        "the orders came from the journal"
    );

    // Served again, it answers as before and carries on after the ids it gave.
    let clock_at_stop = START_MS + 4 * 61_000;
    let again = TestSim::start_durable(reopened, clock_at_stop).await;
    assert_eq!(live_state(&again), before);
    let (status, found) = again
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "first-3")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["status"], "FILLED");
    let last_id = answers.last().unwrap()["orderId"].as_u64().unwrap();
    let next = order(&again, "BUY", ("quantity", "0.01"), "after-restart").await;
    assert_eq!(next["orderId"], last_id + 1);
    again.server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_torn_last_record_is_dropped_and_the_rest_kept() {
    let dir = scratch_dir("torn");
    let path = dir.join("state.json");
    let sim = TestSim::start_durable(DurableState::open(&path).unwrap(), START_MS).await;
    trade(&sim, "kept", 6).await;
    let before_last = live_state(&sim);
    order(&sim, "BUY", ("quantity", "0.02"), "torn-away").await;
    sim.server.stop().await.unwrap();

    // The process died while writing the last record: half of it reached the file.
    let journal = journal_of(&path);
    let bytes = std::fs::read(&journal).unwrap();
    let records = record_offsets(&bytes);
    assert_eq!(records.len(), 7);
    let (offset, seq) = *records.last().unwrap();
    assert_eq!(seq, 7);
    std::fs::write(&journal, &bytes[..offset + 30]).unwrap();

    let reopened = DurableState::open(&path).unwrap();
    assert_eq!(reopened.notes().len(), 1, "{:?}", reopened.notes());
    let note = &reopened.notes()[0];
    assert!(note.contains(&journal.display().to_string()), "{note}");
    assert!(note.contains(&format!("at byte {offset}")), "{note}");
    assert_eq!(comparable(reopened.saved().unwrap()), before_last);

    // Started on it, the torn record is cut away and its order does not exist.
    let again = TestSim::start_durable(reopened, START_MS).await;
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 8);
    let (status, error) = again
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "torn-away")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(code_and_msg(&error).0, -2013);
    let (status, kept) = again
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "kept-5")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    again.server.stop().await.unwrap();
    let clean = DurableState::open(&path).unwrap();
    assert!(clean.notes().is_empty(), "{:?}", clean.notes());
    assert_eq!(comparable(clean.saved().unwrap()), before_last);
    drop(clean);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_damaged_record_before_the_last_is_an_error_naming_the_file_and_offset() {
    let dir = scratch_dir("damaged");
    let path = dir.join("state.json");
    let sim = TestSim::start_durable(DurableState::open(&path).unwrap(), START_MS).await;
    trade(&sim, "order", 8).await;
    sim.server.stop().await.unwrap();

    let journal = journal_of(&path);
    let mut bytes = std::fs::read(&journal).unwrap();
    let (offset, _) = record_offsets(&bytes)[3];
    bytes[offset + 16 + 5] ^= 0x20;
    std::fs::write(&journal, &bytes).unwrap();
    let snapshot = std::fs::read(&path).unwrap();

    let error = DurableState::open(&path).unwrap_err();
    assert!(
        matches!(&error, StateError::DamagedJournal { offset: at, .. } if *at == offset as u64),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&journal.display().to_string()),
        "{message}"
    );
    assert!(message.contains(&format!("byte {offset}")), "{message}");
    assert!(message.contains("checksum"), "{message}");
    assert!(
        message.contains(&format!("cut it to {offset} bytes")),
        "{message}"
    );
    // Nothing was changed or dropped: the files are as they were.
    assert_eq!(std::fs::read(&journal).unwrap(), bytes);
    assert_eq!(std::fs::read(&path).unwrap(), snapshot);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn compaction_then_more_orders_replays_to_the_same_state() {
    let dir = scratch_dir("compaction");
    let path = dir.join("state.json");
    let policy = CompactionPolicy {
        every_records: 10,
        every: Duration::from_secs(3_600),
    };
    let state = DurableState::open(&path).unwrap().with_compaction(policy);
    let sim = TestSim::start_durable(state, START_MS).await;
    trade(&sim, "before", 25).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_json(&path)["journal_seq"].as_u64().unwrap() < 10 {
        assert!(Instant::now() < deadline, "no compaction within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let snapshot = read_json(&path);
    let compacted = snapshot["journal_seq"].as_u64().unwrap();
    assert_eq!(
        snapshot["order_log"].as_array().unwrap().len() as u64,
        compacted,
        "the snapshot holds the orders up to its record"
    );

    trade(&sim, "after", 12).await;
    admin_ok(
        &sim,
        Method::POST,
        &format!("/accounts/{}/balances", sim.credentials.api_key),
        json!({"asset": "ETH", "amount": "3"}),
    )
    .await;
    let before = live_state(&sim);
    sim.server.stop().await.unwrap();

    // What the last snapshot holds is no longer in the journal.
    let last_snapshot = read_json(&path)["journal_seq"].as_u64().unwrap();
    let records = record_offsets(&std::fs::read(journal_of(&path)).unwrap());
    assert!(records[0].1 > 1, "the journal still starts at record 1");
    assert!(records[0].1 <= last_snapshot + 1);
    assert_eq!(records.last().unwrap().1, 38);
    let reopened = DurableState::open(&path).unwrap();
    assert_eq!(comparable(reopened.saved().unwrap()), before);
    drop(reopened);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_state_file_written_before_the_journal_loads() {
    let dir = scratch_dir("old-format");
    let path = dir.join("state.json");
    let old = TestSim::start().await;
    trade(&old, "old", 3).await;
    let balances = old
        .exchange()
        .lock()
        .account(&old.credentials.api_key)
        .unwrap()
        .balances
        .clone();
    // Version 1, as written before the journal (and before keys had a state).
    let mut file = serde_json::to_value(old.exchange().lock().save_state()).unwrap();
    old.server.stop().await.unwrap();
    file["version"] = json!(1);
    let fields = file.as_object_mut().unwrap();
    assert!(fields.remove("journal_seq").is_some());
    fields.remove("demo_api_key");
    for account in file["accounts"].as_array_mut().unwrap() {
        let fields = account.as_object_mut().unwrap();
        for added in ["key_enabled", "can_trade", "ip_whitelist"] {
            fields.remove(added);
        }
    }
    std::fs::write(&path, file.to_string()).unwrap();

    let state = DurableState::open(&path).unwrap();
    assert_eq!(state.saved().unwrap().market_time_ms, Some(START_MS));
    let sim = TestSim::start_durable(state, START_MS).await;
    let restored = sim
        .exchange()
        .lock()
        .account(&sim.credentials.api_key)
        .unwrap()
        .balances
        .clone();
    assert_eq!(restored, balances);
    assert_eq!(sim.exchange().lock().order_log().len(), 3);
    // Rewritten in the current version at the start.
    let rewritten = read_json(&path);
    assert_eq!(rewritten["version"], 2);
    assert_eq!(rewritten["journal_seq"], 0);
    let next = order(&sim, "BUY", ("quantity", "0.01"), "new").await;
    assert_eq!(next["orderId"], 4);
    let before = live_state(&sim);
    sim.server.stop().await.unwrap();
    let reopened = DurableState::open(&path).unwrap();
    assert_eq!(comparable(reopened.saved().unwrap()), before);
    drop(reopened);

    // A version this exchange does not know is refused, naming the file.
    file["version"] = json!(3);
    std::fs::write(&path, file.to_string()).unwrap();
    let error = DurableState::open(&path).unwrap_err();
    assert!(error.to_string().contains("version 3"), "{error}");
    assert!(error.to_string().contains(&path.display().to_string()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_accelerated_market_resumes_no_earlier_than_any_time_it_showed() {
    let dir = scratch_dir("market-time");
    let path = dir.join("state.json");
    let speed = 1_000;
    let config = ExchangeConfig {
        history_ms: 3_600_000,
        ..ExchangeConfig::default()
    };
    let exchange = Exchange::new(config.clone(), Arc::new(SystemClock::with_speed(speed))).unwrap();
    let options = ServeOptions {
        durable: Some(DurableState::open(&path).unwrap()),
        ..ServeOptions::default()
    };
    let server = sim::start_with(exchange, "127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    let url = format!("http://{}", server.local_addr());
    // 1.5 s of real time: 25 minutes of market, with no order to record a time.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let clock = get_json(&format!("{url}/_sim/clock")).await;
    assert_eq!(clock["speed"], speed);
    let seen = get_json(&format!("{url}/api/v3/time")).await;
    let seen_ms = seen["serverTime"].as_i64().unwrap();
    server.stop().await.unwrap();

    let reopened = DurableState::open(&path).unwrap();
    let resume_ms = reopened.saved().unwrap().market_time_ms.unwrap();
    assert!(
        resume_ms >= seen_ms,
        "resumes at {resume_ms}, before {seen_ms}, a time a client saw"
    );
    let resumed = SystemClock::resume(Some(resume_ms), speed);
    assert!(resumed.now_ms() >= seen_ms);
    drop(reopened);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn two_exchanges_cannot_share_the_files() {
    let dir = scratch_dir("lock");
    let path = dir.join("state.json");
    let sim = TestSim::start_durable(DurableState::open(&path).unwrap(), START_MS).await;
    let error = DurableState::open(&path).unwrap_err();
    assert!(matches!(error, StateError::InUse { .. }), "{error:?}");
    assert!(error.to_string().contains("state.json.lock"), "{error}");
    sim.server.stop().await.unwrap();
    // Free again once the first has stopped.
    drop(DurableState::open(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn removing_the_state_file_resets_the_exchange_and_sets_its_journal_aside() {
    let dir = scratch_dir("reset");
    let path = dir.join("state.json");
    let sim = TestSim::start_durable(DurableState::open(&path).unwrap(), START_MS).await;
    trade(&sim, "gone", 3).await;
    sim.server.stop().await.unwrap();
    let journal = std::fs::read(journal_of(&path)).unwrap();
    std::fs::remove_file(&path).unwrap();

    let reset = DurableState::open(&path).unwrap();
    assert!(
        reset.saved().is_none(),
        "nothing is replayed onto no snapshot"
    );
    assert_eq!(reset.notes().len(), 1, "{:?}", reset.notes());
    assert!(reset.notes()[0].contains("orphaned"), "{:?}", reset.notes());
    let aside: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|file| file.display().to_string().contains(".journal.orphaned-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), journal, "kept as it was");
    let fresh = TestSim::start_durable(reset, START_MS).await;
    assert!(fresh.exchange().lock().order_log().is_empty());
    fresh.server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
