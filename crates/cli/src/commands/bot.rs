//! `spotbot bot add|list|start|stop|pause`: users' bots in the database, for an operator on the
//! server. A new bot is checked by the very function `POST /api/v1/bots` uses
//! ([`accounts::check_bot`]), against the same venues' listings (`spotbot run`'s configuration:
//! the built-in exchange's listing, or a configured paper exchange's, the testnet's, live's), so
//! the CLI and the API never disagree on what a valid bot is; start, stop and pause are the
//! store's [`BotControl`]s the API's routes apply. A value the checks refuse, or a user or bot
//! that does not exist, is a usage error (exit 2) naming the flag; a database failure or a name
//! the user already has is a runtime one (exit 1).

use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use store::{BotConfig, BotControl, BotId, Store, UserId};

use crate::Failure;
use crate::commands::listing::{DatabaseArgs, block_on, print_bots, runtime};
use crate::service::VenueArgs;

/// The only strategy the engine builds today (`accounts::check_bot` refuses others).
const STRATEGY: &str = "ema_rsi_cross";

/// Options of `spotbot bot`.
#[derive(Debug, Args)]
pub struct BotArgs {
    #[command(subcommand)]
    command: BotCommand,
}

#[derive(Debug, Subcommand)]
enum BotCommand {
    /// Create a bot for a user, checked exactly as the HTTP API checks it.
    Add(Box<AddArgs>),
    /// List the bots (of one user with --user) with their status and position.
    List(ListArgs),
    /// Run a bot again: active, idle, its last error and failure count cleared.
    Start(ControlArgs),
    /// Stop a bot: inactive and idle (its last error stays, to tell why it had stopped).
    Stop(ControlArgs),
    /// Pause a bot: the scheduler skips it until it is started.
    Pause(ControlArgs),
}

/// Options of `spotbot bot add`.
#[derive(Debug, Args)]
struct AddArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    venues: VenueArgs,
    /// Username of the bot's owner.
    #[arg(long, value_name = "USERNAME")]
    user: String,
    /// The bot's name, unique among the user's bots.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The symbol it trades, e.g. BTCUSDT (one the exchange lists).
    #[arg(long, value_name = "SYMBOL")]
    symbol: String,
    /// Its candle interval, e.g. 1m, 15m, 1h, 1d.
    #[arg(long, value_name = "INTERVAL")]
    interval: String,
    /// The quote amount each BUY spends, e.g. 25.5 (at least the symbol's minimum order).
    // Hyphen values allowed so that `-5` reaches the API's check, which names this flag.
    #[arg(
        long,
        value_name = "QUOTE",
        default_value = "100",
        allow_hyphen_values = true
    )]
    quote_per_buy: String,
    /// Fast EMA period (default: the strategy's).
    #[arg(long, value_name = "N")]
    fast: Option<u64>,
    /// Slow EMA period (default: the strategy's).
    #[arg(long, value_name = "N")]
    slow: Option<u64>,
    /// RSI period (default: the strategy's).
    #[arg(long, value_name = "N")]
    rsi: Option<u64>,
    /// RSI level above which it does not buy (default: the strategy's).
    #[arg(long, value_name = "LEVEL")]
    overbought: Option<f64>,
    /// Where its orders go: paper, testnet or live.
    #[arg(long, value_name = "MODE", default_value = "paper")]
    mode: String,
    /// Create it stopped (start it later with `spotbot bot start`).
    #[arg(long)]
    inactive: bool,
}

/// Options of `spotbot bot list`.
#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Only this user's bots.
    #[arg(long, value_name = "USERNAME")]
    user: Option<String>,
}

/// Options of `spotbot bot start|stop|pause`.
#[derive(Debug, Args)]
struct ControlArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The bot's id (see `spotbot bot list`).
    #[arg(value_name = "ID")]
    id: i64,
}

/// Runs `spotbot bot ...`.
pub fn run(args: BotArgs) -> Result<(), Failure> {
    match args.command {
        BotCommand::Add(args) => add(*args),
        BotCommand::List(args) => list(args),
        BotCommand::Start(args) => control(args, BotControl::Start),
        BotCommand::Stop(args) => control(args, BotControl::Stop),
        BotCommand::Pause(args) => control(args, BotControl::Pause),
    }
}

/// The id of the user named `username`; a name that matches no one is a usage error on `--user`.
pub(crate) async fn user_id(store: &Store, username: &str) -> Result<UserId, Failure> {
    match store.user_by_username(username).await.map_err(runtime)? {
        Some(user) => Ok(user.id),
        None => Err(Failure::Usage(format!(
            "--user: no user named {username:?} (see `spotbot user list`)"
        ))),
    }
}

/// Bot `id`; an id that names no bot is a usage error on the argument.
pub(crate) async fn find_bot(store: &Store, id: i64) -> Result<BotConfig, Failure> {
    store
        .bot(BotId(id))
        .await
        .map_err(runtime)?
        .ok_or_else(|| Failure::Usage(format!("no bot with id {id} (see `spotbot bot list`)")))
}

/// The flag that sets the API's request `field`, for messages that name what to fix.
fn flag(field: &str) -> String {
    match field {
        "strategy_params" => "--fast/--slow/--rsi/--overbought".to_owned(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

/// The strategy parameters the flags give, as the API takes them: `None` when no flag is given,
/// so that every parameter takes its default.
fn strategy_params(args: &AddArgs) -> Option<Value> {
    let mut params = Map::new();
    for (key, value) in [
        ("fast", args.fast.map(Value::from)),
        ("slow", args.slow.map(Value::from)),
        ("rsi_period", args.rsi.map(Value::from)),
        ("overbought", args.overbought.map(Value::from)),
    ] {
        if let Some(value) = value {
            params.insert(key.to_owned(), value);
        }
    }
    (!params.is_empty()).then_some(Value::Object(params))
}

fn add(args: AddArgs) -> Result<(), Failure> {
    let mut config = args.database.config()?;
    args.venues.apply(&mut config);
    block_on(async move {
        let catalogs = crate::venue_setup::command_catalogs(&config).await?;
        let store = args.database.open().await?;
        let created = async {
            let user = user_id(&store, &args.user).await?;
            let draft = accounts::BotDraft {
                name: args.name.clone(),
                symbol: args.symbol.clone(),
                interval: args.interval.clone(),
                strategy: STRATEGY.to_owned(),
                strategy_params: strategy_params(&args),
                quote_per_buy: args.quote_per_buy.clone(),
                mode: args.mode.clone(),
                is_active: !args.inactive,
            };
            let bot =
                accounts::check_bot(&catalogs, user, draft)
                    .await
                    .map_err(|error| match error {
                        accounts::BotRuleError::Invalid(invalid) => {
                            Failure::Usage(format!("{}: {}", flag(invalid.field), invalid.message))
                        }
                        unavailable => Failure::Runtime(unavailable.into()),
                    })?;
            // A name the user already has is the database's refusal, not the command line's
            // (as for `spotbot user add`): exit 1, the message names the taken name.
            store
                .create_bot(&bot, engine::wall_now_ms())
                .await
                .map_err(runtime)
        }
        .await;
        store.close().await;
        let bot = created?;
        println!(
            "created bot {} {:?} of {} ({} {}, {}, {}, {} per BUY)",
            bot.id,
            bot.name,
            args.user,
            bot.symbol,
            bot.interval,
            bot.mode.as_str(),
            if bot.is_active { "active" } else { "inactive" },
            bot.quote_per_buy,
        );
        Ok(())
    })
}

fn list(args: ListArgs) -> Result<(), Failure> {
    block_on(async move {
        let store = args.database.open().await?;
        let printed = async {
            let user = match &args.user {
                Some(name) => Some(user_id(&store, name).await?),
                None => None,
            };
            print_bots(&store, user).await
        }
        .await;
        store.close().await;
        printed
    })
}

fn control(args: ControlArgs, control: BotControl) -> Result<(), Failure> {
    block_on(async move {
        let store = args.database.open().await?;
        let done = async {
            let bot = find_bot(&store, args.id).await?;
            // Scoped to the bot's own user, as the API's route is to the caller; the operator
            // names the bot by id alone.
            store
                .control_bot(bot.user_id, bot.id, control, engine::wall_now_ms())
                .await
                .map_err(runtime)?
                .ok_or_else(|| {
                    // Deleted between the two statements.
                    Failure::Usage(format!(
                        "no bot with id {} (see `spotbot bot list`)",
                        args.id
                    ))
                })
        }
        .await;
        store.close().await;
        let bot = done?;
        println!(
            "bot {} {:?}: {}, {}",
            bot.id,
            bot.name,
            if bot.is_active { "active" } else { "inactive" },
            bot.status.as_str()
        );
        Ok(())
    })
}
