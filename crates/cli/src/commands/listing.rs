//! `spotbot bots`, `spotbot trades` and `spotbot workers`: what the database holds, as aligned
//! tables (or CSV for trades), read with the same configuration `spotbot run` uses, for an
//! operator on the server (users see their own through the HTTP API). `spotbot bot list` prints
//! the same bot table.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use store::{BotConfig, BotId, PositionRow, Store, TradeFilter, UserId};

use crate::Failure;
use crate::run_config::ConfigFile;

/// Where the database is: the same sources as `spotbot run`.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// TOML configuration file (as for `spotbot run`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    /// (default: SPOTBOT_DATABASE_URL, the config file, then sqlite://data/spotbot.db).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

impl DatabaseArgs {
    /// The configuration these options name, `--database` applied over it.
    pub(crate) fn config(&self) -> Result<ConfigFile, Failure> {
        let mut config = ConfigFile::load(self.config.as_deref())?;
        if let Some(url) = &self.database {
            config.database_url = Some(url.clone());
        }
        Ok(config)
    }

    /// The database URL these options name (flag, then environment, then file, then default).
    pub(crate) fn url(&self) -> Result<String, Failure> {
        Ok(self.config()?.database_url())
    }

    /// Opens the database, which must exist already.
    pub(crate) async fn open(&self) -> Result<Store, Failure> {
        let url = self.url()?;
        if let Some(path) = url.strip_prefix("sqlite://")
            && !std::path::Path::new(path).exists()
        {
            return Err(Failure::Usage(format!(
                "no database at {path}: run `spotbot run` first, or pass --database"
            )));
        }
        Store::connect(&url)
            .await
            .map_err(|err| Failure::Runtime(err.into()))
    }
}

/// Options of `spotbot bots`.
#[derive(Debug, Args)]
pub struct BotsArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

/// `--user` and `--bot`: whose bots, and their trades, a command looks at (`spotbot trades`,
/// `spotbot perf`).
#[derive(Debug, Args)]
pub struct BotScope {
    /// Only this user's bots and trades.
    #[arg(long, value_name = "USERNAME")]
    user: Option<String>,
    /// Only this bot and its trades.
    #[arg(long, value_name = "ID")]
    bot: Option<i64>,
}

impl BotScope {
    /// The user and the bot named, each `None` when not given; a name or id that matches
    /// nothing, or a bot of another user than `--user`, is a usage error naming the flag.
    pub(crate) async fn resolve(
        &self,
        store: &Store,
    ) -> Result<(Option<UserId>, Option<BotConfig>), Failure> {
        let user = match &self.user {
            Some(name) => Some(super::bot::user_id(store, name).await?),
            None => None,
        };
        let bot = match self.bot {
            Some(id) => Some(super::bot::find_bot(store, id).await.map_err(
                |failure| match failure {
                    Failure::Usage(message) => Failure::Usage(format!("--bot: {message}")),
                    runtime => runtime,
                },
            )?),
            None => None,
        };
        if let (Some(user), Some(bot)) = (user, &bot)
            && bot.user_id != user
        {
            // Another user's bot is as absent as a missing one, as in the API.
            return Err(Failure::Usage(format!(
                "--bot: {} is not a bot of {}",
                bot.id,
                self.user.as_deref().unwrap_or_default()
            )));
        }
        Ok((user, bot))
    }
}

/// Options of `spotbot trades`.
#[derive(Debug, Args)]
pub struct TradesArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    scope: BotScope,
    /// Only the last N trades (default 50; 0 for all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: usize,
    /// CSV with a header instead of a table.
    #[arg(long)]
    csv: bool,
}

/// Lists every bot with its status and position.
pub fn bots(args: BotsArgs) -> Result<(), Failure> {
    block_on(async move {
        let store = args.database.open().await?;
        let printed = print_bots(&store, None).await;
        store.close().await;
        printed
    })
}

/// Prints the bots of `user` (every user's with `None`) with their status and position: the
/// table of `spotbot bots` and `spotbot bot list`.
pub(crate) async fn print_bots(store: &Store, user: Option<UserId>) -> Result<(), Failure> {
    // One query for the positions, not one per bot; read first, so that a bot that trades for
    // the first time between the two reads shows as flat rather than missing.
    let mut positions: HashMap<BotId, PositionRow> = store
        .positions(user)
        .await
        .map_err(runtime)?
        .into_iter()
        .map(|position| (position.bot_id, position))
        .collect();
    let bots = store.bots(user).await.map_err(runtime)?;
    let mut rows = vec![
        [
            "id",
            "user",
            "name",
            "symbol",
            "interval",
            "mode",
            "active",
            "status",
            "position",
            "realised PnL",
            "last error",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for bot in &bots {
        let position = positions
            .remove(&bot.id)
            .unwrap_or_else(|| PositionRow::flat(bot.id));
        rows.push(vec![
            bot.id.to_string(),
            bot.user_id.to_string(),
            bot.name.clone(),
            bot.symbol.clone(),
            bot.interval.clone(),
            bot.mode.as_str().to_owned(),
            if bot.is_active { "yes" } else { "no" }.to_owned(),
            bot.status.as_str().to_owned(),
            position.quantity.normalize().to_string(),
            position.realized_pnl.round_dp(8).normalize().to_string(),
            bot.last_error.clone().unwrap_or_default(),
        ]);
    }
    print_table(&rows)
}

/// Options of `spotbot workers`.
#[derive(Debug, Args)]
pub struct WorkersArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Lists the workers of the fleet, the most recently heard from first: their state (running,
/// silent: not heard from for three heartbeats, stopped), when they started and were last heard
/// from, and how many bots they held then.
pub fn workers(args: WorkersArgs) -> Result<(), Failure> {
    block_on(async move {
        let store = args.database.open().await?;
        let workers = store.workers().await.map_err(runtime);
        store.close().await;
        let now_ms = engine::wall_now_ms();
        let mut rows = vec![
            [
                "worker",
                "state",
                "host",
                "pid",
                "started",
                "last heard",
                "bots held",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for worker in workers? {
            rows.push(vec![
                worker.id.clone(),
                worker.state(now_ms).as_str().to_owned(),
                worker.host.clone(),
                worker.pid.to_string(),
                market::format_utc_ms(worker.started_at_ms),
                format!("{} s ago", (now_ms - worker.heartbeat_at_ms).max(0) / 1_000),
                worker.bots_held.to_string(),
            ]);
        }
        print_table(&rows)
    })
}

/// Lists trades, oldest first.
pub fn trades(args: TradesArgs) -> Result<(), Failure> {
    block_on(async move {
        let store = args.database.open().await?;
        let (user, bot) = args.scope.resolve(&store).await?;
        let filter = TradeFilter {
            user,
            bot: bot.map(|bot| bot.id),
            ..TradeFilter::default()
        };
        // The last N are read as such: a database of a million trades is not read to show 50.
        // 0, or more than any database holds: all of them.
        let trades = match u32::try_from(args.limit) {
            Ok(0) | Err(_) => store.trades(&filter).await,
            Ok(count) => store.latest_trades(&filter, count).await,
        }
        .map_err(runtime)?;
        store.close().await;
        let header = [
            "id",
            "bot",
            "time (UTC ms)",
            "symbol",
            "side",
            "price",
            "quantity",
            "quote",
            "commission",
            "commission asset",
            "realised PnL",
            "exchange order",
            "client order",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut rows = vec![header];
        for trade in &trades {
            rows.push(vec![
                trade.id.to_string(),
                trade.bot_id.to_string(),
                market::format_utc_ms(trade.executed_at_ms),
                trade.symbol.clone(),
                trade.side.to_string(),
                trade.price.normalize().to_string(),
                trade.quantity_filled.normalize().to_string(),
                trade.quote_quantity_filled.normalize().to_string(),
                trade.commission.normalize().to_string(),
                trade.commission_asset.clone(),
                trade
                    .realized_pnl
                    .map(|pnl| pnl.normalize().to_string())
                    .unwrap_or_default(),
                trade.binance_order_id.to_string(),
                trade.client_order_id.clone(),
            ]);
        }
        if args.csv {
            let mut out = std::io::stdout().lock();
            for row in &rows {
                writeln!(out, "{}", row.join(","))?;
            }
            return Ok(());
        }
        print_table(&rows)
    })
}

/// A database failure: the work failed (exit 1), whatever the command line said.
pub(crate) fn runtime(error: store::StoreError) -> Failure {
    Failure::Runtime(error.into())
}

pub(crate) fn block_on<F: std::future::Future<Output = Result<(), Failure>>>(
    work: F,
) -> Result<(), Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

/// Prints `rows` (the first is the header) with columns padded to their widest cell.
pub(crate) fn print_table(rows: &[Vec<String>]) -> Result<(), Failure> {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if rows.len() == 1 {
        writeln!(out, "(none)")?;
    }
    Ok(())
}
