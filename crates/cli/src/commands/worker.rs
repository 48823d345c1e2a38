//! `spotbot worker`: the bots only, for a fleet. Several workers on several machines share one
//! PostgreSQL database (a bot's lease makes sure only one of them runs it at a time, and the bots
//! of a worker that dies pass to the others when its leases expire) and one paper exchange, a
//! `spotbot sim` at `[venues.paper] url`. Each registers in the `workers` table and writes its
//! heartbeat there (`spotbot workers` lists them); `--health ADDR` also serves `GET /health` for a
//! supervisor.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::Failure;
use crate::service::{
    MasterKeySource, Service, ServiceArgs, WorkerHealth, print_stopped, run_bots, serve_health,
};
use crate::venue_setup::external_venues;

/// Long help for `spotbot worker --help`.
pub const LONG_ABOUT: &str = "\
Run the bots only, as one worker of a fleet: no HTTP API (run `spotbot api` for that), no
built-in exchange. Every worker reads the same configuration as `spotbot run` (see
`spotbot run --help`): the database (PostgreSQL for more than one worker), the master key
(SPOTBOT_MASTER_KEY or data_dir/master.key: the one the first `spotbot run` made, the same on
every machine; a worker never makes one), and the venues. Paper bots trade on the `spotbot sim`
at [venues.paper] url (--paper-url); without one this worker runs no paper bots. A worker on
another machine than that exchange also needs its admin token (`spotbot sim --admin-token`) as
SPOTBOT_PAPER_ADMIN_TOKEN, to open users' paper accounts; and the exchange, reached by the whole
fleet from a few addresses, runs with --no-rate-limits.

Workers share the bots: each takes the bots it finds free (a lease per bot, renewed while it
runs them); a worker that stops cleanly hands its bots over at once, one that dies or stalls
loses them when its leases expire ([engine] lease_ttl_secs, default 60) and another takes them up,
reconciling any order that was in flight. Each worker writes a heartbeat to the workers table
every 5 seconds (`spotbot workers` lists them; admins see GET /api/v1/admin/workers).

Each worker needs a name of its own ([engine] worker_id, default host name and process id): one
started under the name of a live worker waits for it to fall silent, and refuses to start if
it does not.

Examples:
  SPOTBOT_DATABASE_URL=postgres://spotbot@db/spotbot SPOTBOT_PAPER_ADMIN_TOKEN=... \\
    spotbot worker --paper-url http://sim:8765
  spotbot worker --config fleet.toml --health 0.0.0.0:9101";

/// Options of `spotbot worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Serve `GET /health` on this address (200 while the heartbeat is fresh, 503 after).
    #[arg(long, value_name = "ADDR")]
    pub health: Option<SocketAddr>,
}

/// Runs until Ctrl-C or SIGTERM.
pub fn run(args: WorkerArgs) -> Result<(), Failure> {
    let config = args.service.config()?;
    crate::service::block_on(async {
        let shutdown = crate::signals::shutdown_signal().context("cannot listen for Ctrl-C")?;
        let service = Service::open("worker", config, MasterKeySource::MustExist).await?;
        let venues = external_venues(&service.config).await?;
        if !venues.serves(store::Mode::Paper) {
            println!(
                "spotbot worker: no paper exchange configured ([venues.paper] url): paper bots run elsewhere"
            );
        }
        let accounts = service.accounts(venues);
        let worker_id = service.worker_id();
        let health = Arc::new(WorkerHealth::default());
        if let Some(address) = args.health {
            let bound = serve_health(address, worker_id.clone(), health.clone()).await?;
            println!("spotbot worker: health at http://{bound}/health");
        }
        println!("spotbot worker: {worker_id} running; press Ctrl-C to stop.");
        let stats = run_bots(&service, accounts, worker_id, health, shutdown).await?;
        service.store.close().await;
        print_stopped("worker", &stats);
        Ok(())
    })
}
