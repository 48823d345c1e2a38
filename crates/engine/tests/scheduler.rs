//! The scheduler against the real simulator and a real database: cycles start as candles close,
//! trades are recorded, and shutdown finishes the cycles in flight and releases the leases.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{MINUTE_MS, World};
use engine::{SchedulerSettings, SchedulerStats, run_scheduler};
use rust_decimal::Decimal;

store::backend_tests! {
    async fn the_scheduler_runs_cycles_at_each_close_and_releases_leases_on_shutdown(store: Store) {
        let world = World::start(store, Decimal::from(300)).await;
        // The exchange's minute lasts 120 ms of real time.
        let clock = world.clock.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(4)).await;
                clock.advance_ms(MINUTE_MS / 30);
            }
        });
        let settings = SchedulerSettings {
            parallelism: 4,
            cycle_delay: Duration::from_millis(500),
            stream_grace: Duration::from_secs(2),
            tick: Duration::from_millis(5),
            refresh_bots: Duration::from_millis(100),
        };
        let stats = Arc::new(SchedulerStats::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let scheduler = tokio::spawn(run_scheduler(
            world.engine.clone(),
            settings,
            stats.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        // Until a few trades happened (or give up after 20 s).
        for _ in 0..400 {
            if stats.trades.load(Ordering::Relaxed) >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.send(()).unwrap();
        scheduler.await.unwrap().unwrap();
        ticker.abort();
        let cycles = stats.cycles.load(Ordering::Relaxed);
        assert!(stats.trades.load(Ordering::Relaxed) >= 3, "{stats:?}");
        assert!(cycles >= 6, "{stats:?}");
        assert_eq!(stats.failures.load(Ordering::Relaxed), 0, "{stats:?}");
        world.assert_trades_equal_exchange_fills().await;
        // The lease is free for anyone the moment the scheduler is gone.
        let lease = world
            .store
            .try_acquire_lease(world.bot_id, "someone-else", engine::wall_now_ms(), 60_000)
            .await
            .unwrap();
        assert!(lease.is_some(), "the scheduler released its lease");
    }
}
