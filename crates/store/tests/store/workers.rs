//! The workers of a fleet: registration, heartbeats with the bots held, a clean stop, the list
//! most recently heard from first, and a restarted worker of the same name starting afresh.

use store::{NewWorker, WORKER_SILENT_AFTER_MS, WorkerState};

fn worker(id: &str, pid: i64) -> NewWorker {
    NewWorker {
        id: id.to_owned(),
        host: "host-a".to_owned(),
        pid,
    }
}

store::backend_tests! {
    async fn workers_register_beat_stop_and_restart(store: Store) {
        assert!(store.workers().await.unwrap().is_empty());
        store.register_worker(&worker("w1", 100), 1_000).await.unwrap();
        store.register_worker(&worker("w2", 200), 1_500).await.unwrap();
        assert!(store.worker_heartbeat("w1", 7, 2_000).await.unwrap());
        assert!(!store.worker_heartbeat("nobody", 1, 2_000).await.unwrap(), "not registered");

        let workers = store.workers().await.unwrap();
        let ids: Vec<&str> = workers.iter().map(|worker| worker.id.as_str()).collect();
        assert_eq!(ids, ["w1", "w2"], "most recently heard from first");
        let w1 = &workers[0];
        assert_eq!((w1.host.as_str(), w1.pid, w1.started_at_ms), ("host-a", 100, 1_000));
        assert_eq!((w1.heartbeat_at_ms, w1.bots_held, w1.stopped_at_ms), (2_000, 7, None));
        assert_eq!((workers[1].heartbeat_at_ms, workers[1].bots_held), (1_500, 0));
        assert_eq!(w1.state(2_000 + WORKER_SILENT_AFTER_MS), WorkerState::Running);
        assert_eq!(w1.state(2_001 + WORKER_SILENT_AFTER_MS), WorkerState::Silent);

        store.stop_worker("w1", 3_000).await.unwrap();
        let w1 = store.workers().await.unwrap().into_iter().find(|w| w.id == "w1").unwrap();
        assert_eq!((w1.stopped_at_ms, w1.bots_held, w1.heartbeat_at_ms), (Some(3_000), 0, 3_000));
        assert_eq!(w1.state(1_000_000), WorkerState::Stopped);

        // The same name started again: a new run, no longer stopped.
        store.register_worker(&worker("w1", 101), 4_000).await.unwrap();
        let w1 = store.workers().await.unwrap().into_iter().find(|w| w.id == "w1").unwrap();
        assert_eq!((w1.pid, w1.started_at_ms, w1.stopped_at_ms), (101, 4_000, None));
    }
}
