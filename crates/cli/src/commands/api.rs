//! `spotbot api`: the HTTP API only, the front of a fleet whose bots run in `spotbot worker`s.
//! It reads the same configuration and database as the workers and verifies users' keys and
//! bots against the same venues.

use anyhow::Context;
use clap::Args;

use crate::Failure;
use crate::service::{ApiServer, MasterKeySource, Service, ServiceArgs};
use crate::venue_setup::external_venues;

/// Long help for `spotbot api --help`.
pub const LONG_ABOUT: &str = "\
Serve the HTTP API only (users, keys, accounts, bots, trades; see README.md), for a fleet whose
bots run in `spotbot worker`s over the same database. It reads the same configuration as
`spotbot run` (see `spotbot run --help`): the database, the master key (SPOTBOT_MASTER_KEY or
data_dir/master.key: the same as the workers'; never made here), the venues (keys are verified
with them and bots checked against their listings; on another machine than the paper exchange,
its admin token as SPOTBOT_PAPER_ADMIN_TOKEN, to open and reset users' paper accounts),
[api] listen (--listen). Ctrl-C (or SIGTERM) stops it after the requests in flight.

Example:
  SPOTBOT_DATABASE_URL=postgres://spotbot@db/spotbot SPOTBOT_PAPER_ADMIN_TOKEN=... \\
    spotbot api --paper-url http://sim:8765 --listen 0.0.0.0:8080";

/// Options of `spotbot api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Address of the HTTP API (default 127.0.0.1:8080; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Directory of candle CSV files users may backtest from the dashboard ([api] candles_dir).
    #[arg(long, value_name = "DIR")]
    pub candles_dir: Option<std::path::PathBuf>,
}

/// Runs until Ctrl-C or SIGTERM.
pub fn run(args: ApiArgs) -> Result<(), Failure> {
    let mut config = args.service.config()?;
    if let Some(listen) = args.listen {
        config.api.listen = Some(listen);
    }
    if let Some(dir) = &args.candles_dir {
        config.api.candles_dir = Some(dir.clone());
    }
    crate::service::block_on(async {
        let shutdown = crate::signals::shutdown_signal().context("cannot listen for Ctrl-C")?;
        let service = Service::open("api", config, MasterKeySource::MustExist).await?;
        let listener = service.bind_api().await?;
        let venues = external_venues(&service.config).await?;
        let accounts = service.accounts(venues);
        let api = ApiServer::start(&service, listener, accounts)?;
        println!("Press Ctrl-C to stop.");
        shutdown.await;
        api.stop().await?;
        service.store.close().await;
        println!("spotbot api: stopped");
        Ok(())
    })
}
