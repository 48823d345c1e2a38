//! Many tasks on two stores (two "processes") over one database: a lease has exactly one holder
//! per round, an execution is recorded exactly once, and a fresh SQLite file can be opened by
//! several stores at once.

use std::sync::Arc;

use market::Side;
use store::Store;
use tokio::sync::Barrier;

use crate::common::{bot, count, execution, new_order, user};

const ROUNDS: i64 = 15;
const TASKS_PER_STORE: usize = 6;

store::backend_tests! {
    async fn racing_workers_get_exactly_one_lease_per_round(db: &TestDatabase) {
        let alice = user(db.store(), "alice").await;
        let one = bot(db.store(), alice.id, "one").await;
        let stores = [db.store().clone(), db.another_store().await];
        for round in 0..ROUNDS {
            // Each round starts when the previous round's lease has just expired.
            let now_ms = round * 1_000;
            let barrier = Arc::new(Barrier::new(2 * TASKS_PER_STORE));
            let mut tasks = Vec::new();
            for (s, store) in stores.iter().enumerate() {
                for t in 0..TASKS_PER_STORE {
                    let (store, barrier) = (store.clone(), barrier.clone());
                    tasks.push(tokio::spawn(async move {
                        barrier.wait().await;
                        store
                            .try_acquire_lease(one.id, &format!("worker-{s}-{t}"), now_ms, 1_000)
                            .await
                    }));
                }
            }
            let mut winners = Vec::new();
            for task in tasks {
                if let Some(lease) = task.await.unwrap().unwrap() {
                    winners.push(lease);
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
            assert_eq!(winners[0].token, round + 1);
            assert_eq!(
                db.store().lease(one.id).await.unwrap(),
                Some(winners[0].clone())
            );
        }
        stores[1].close().await;
    }

    async fn racing_recorders_write_one_trade(db: &TestDatabase) {
        let alice = user(db.store(), "alice").await;
        let one = bot(db.store(), alice.id, "one").await;
        db.store()
            .insert_pending_order(&new_order(&one, "sb-1", Side::Buy), 1)
            .await
            .unwrap();
        let stores = [db.store().clone(), db.another_store().await];
        let barrier = Arc::new(Barrier::new(2 * TASKS_PER_STORE));
        let mut tasks = Vec::new();
        for store in &stores {
            for _ in 0..TASKS_PER_STORE {
                let (store, barrier) = (store.clone(), barrier.clone());
                let execution = execution(&one, "sb-1", 42, Side::Buy, 1_000);
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    store.record_execution(&execution, 1_000).await
                }));
            }
        }
        let mut fresh = 0;
        for task in tasks {
            let (trade, new) = task.await.unwrap().unwrap();
            assert_eq!(trade.binance_order_id, 42);
            fresh += usize::from(new);
        }
        assert_eq!(fresh, 1);
        assert_eq!(count(db.store(), "trades").await, 1);
        assert_eq!(count(db.store(), "events").await, 1);
        stores[1].close().await;
    }
}

/// Eight stores (as eight processes starting together would) migrate one fresh file: they take
/// turns on the migration lock file, so none fails on a table or index another one created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_opening_a_fresh_sqlite_file_at_once_all_succeed() {
    const STORES: usize = 8;
    let temp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/fresh/spotbot.db", temp.path().display());
    let barrier = Arc::new(Barrier::new(STORES));
    let tasks: Vec<_> = (0..STORES)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                Store::connect(&url).await
            })
        })
        .collect();
    for task in tasks {
        let store = task.await.unwrap().unwrap();
        assert!(store.users().await.unwrap().is_empty());
        store.close().await;
    }
}
