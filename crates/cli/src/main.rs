//! `spotbot`: automated spot-trading bots for Binance, and the tools to test their strategies.
//!
//! This file parses the command line and maps outcomes to exit codes: 0 on success, 1 when the
//! work failed (unreadable or malformed input), 2 when the command line itself is wrong.

mod commands;
mod logging;
mod metrics_server;
mod process_limits;
mod progress;
mod run_config;
mod secret_text;
mod service;
mod signals;
mod strategy_args;
mod venue_setup;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Automated spot-trading bots for Binance that get every order right.
///
/// `spotbot run` runs the bots (with no configuration: a complete demo on the built-in exchange);
/// `spotbot backtest` and `spotbot sweep` test strategies on candle files with the exact
/// indicators and order rules the live bots use; `spotbot sim` runs the built-in exchange alone.
#[derive(Debug, Parser)]
#[command(name = "spotbot", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// How `run`, `worker`, `api` and `sim` log: text (coloured on a terminal only) or json
    /// (one object per line, for a log system).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "SPOTBOT_LOG_FORMAT"
    )]
    log_format: logging::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the trading bots (by default a complete demo on the built-in exchange).
    #[command(long_about = commands::run::LONG_ABOUT)]
    Run(commands::run::RunArgs),
    /// Run the bots only, as one worker of a fleet over one database.
    #[command(long_about = commands::worker::LONG_ABOUT)]
    Worker(commands::worker::WorkerArgs),
    /// Serve the HTTP API only, the front of a fleet of workers.
    #[command(long_about = commands::api::LONG_ABOUT)]
    Api(commands::api::ApiArgs),
    /// List the workers of the fleet: running, silent or stopped, and the bots each holds.
    Workers(commands::listing::WorkersArgs),
    /// List the bots in the database with their status and position.
    Bots(commands::listing::BotsArgs),
    /// List the trades in the database.
    Trades(commands::listing::TradesArgs),
    /// Replay a candle file through a strategy and report how it would have traded.
    #[command(long_about = commands::backtest::LONG_ABOUT)]
    Backtest(commands::backtest::BacktestArgs),
    /// Backtest every combination of parameter ranges on all cores and rank the results.
    #[command(long_about = commands::sweep::LONG_ABOUT)]
    Sweep(commands::sweep::SweepArgs),
    /// Run a local Binance-compatible spot exchange for paper trading and tests.
    #[command(long_about = commands::sim::LONG_ABOUT)]
    Sim(commands::sim::SimArgs),
    /// Create and list the users who log in to the HTTP API.
    User(commands::user::UserArgs),
    /// Add, list, start, stop and pause users' bots, checked as the HTTP API checks them.
    Bot(commands::bot::BotArgs),
    /// Store, show and delete a user's exchange key for a venue (verified with the exchange).
    #[command(long_about = commands::credentials::LONG_ABOUT)]
    Credentials(commands::credentials::CredentialsArgs),
    /// Realised PnL, fees, win rate, trades and max drawdown per bot.
    Perf(commands::perf::PerfArgs),
}

/// A failure and the exit code it deserves.
#[derive(Debug)]
pub enum Failure {
    /// The command line asked for something impossible (exit 2).
    Usage(String),
    /// The work itself failed, its input included: an unreadable or malformed file (exit 1).
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Runtime(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Runtime(anyhow::Error::new(error).context("cannot write the output"))
    }
}

/// True when output stopped because its reader went away (`spotbot sweep | head`): not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Run(_) | Command::Worker(_) | Command::Api(_) | Command::Sim(_)
    ) {
        // Before any file or socket is opened.
        process_limits::apply();
        logging::init(cli.log_format);
    }
    let outcome = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Worker(args) => commands::worker::run(args),
        Command::Api(args) => commands::api::run(args),
        Command::Workers(args) => commands::listing::workers(args),
        Command::Bots(args) => commands::listing::bots(args),
        Command::Trades(args) => commands::listing::trades(args),
        Command::Backtest(args) => commands::backtest::run(args),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::User(args) => commands::user::run(args),
        Command::Bot(args) => commands::bot::run(args),
        Command::Credentials(args) => commands::credentials::run(args),
        Command::Perf(args) => commands::perf::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("spotbot: error: {message}");
            eprintln!("Run `spotbot --help` or `spotbot <command> --help` for the options.");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(Failure::Runtime(error)) => {
            eprintln!("spotbot: error: {}", error_message(&error));
            ExitCode::from(1)
        }
    }
}

/// `error` and its causes joined with ": ", leaving out a cause that the message already says:
/// errors that show their source in their own text (an I/O error inside "cannot read candle
/// file X: ...") would otherwise print the operating system's words twice.
fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}
