//! `spotbot credentials set|show|delete`: a user's exchange key for a venue, for an operator on
//! the server, with the very checks of `PUT /api/v1/credentials/{venue}`: the key is verified
//! with one signed call to the venue's exchange ([`accounts::AccountClients::set_key`]) and
//! stored encrypted only if the exchange accepts it. The secret never comes from the command
//! line (where `ps` and the shell's history would keep it): from `BINANCE_API_SECRET`, a no-echo
//! prompt, or for Ed25519 keys a PEM file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use accounts::{AccountClients, KeySubmission, MasterKey, SetKeyError};
use clap::{Args, Subcommand, ValueEnum};
use store::{Mode, Store, StoredCredentials};
use zeroize::Zeroizing;

use crate::Failure;
use crate::commands::bot::user_id;
use crate::commands::listing::{DatabaseArgs, block_on, runtime};
use crate::service::VenueArgs;

/// The variable `spotbot credentials set` reads the API key from when `--api-key` is not given.
const API_KEY_ENV: &str = "BINANCE_API_KEY";
/// The variable it reads an HMAC secret from (else it asks on the terminal).
const API_SECRET_ENV: &str = "BINANCE_API_SECRET";

/// Long help for `spotbot credentials --help`.
pub const LONG_ABOUT: &str = "\
Store, show and delete a user's exchange key for a venue (testnet or live). Bots trade on their
owner's own account: a user's testnet bots sign with the testnet key stored here (or with
PUT /api/v1/credentials/testnet), never with the server's.

`set` verifies the key with one signed call to the venue's exchange (GET /api/v3/account) and
stores it, encrypted under the master key, only if the exchange accepts it and the account can
trade. Binance recommends Ed25519 keys: give the private key's PEM file with --ed25519-key-file.
For an HMAC key the secret is read from BINANCE_API_SECRET, or asked for without echo.
The API key comes from --api-key or BINANCE_API_KEY (so that BINANCE_API_KEY and
BINANCE_API_SECRET, which older versions read at start, now store the key for a named user).

`delete` forgets the key and pauses the user's bots on that venue.

The venues' URLs come from the same configuration as `spotbot run` ([venues] in the config file,
SPOTBOT_TESTNET_URL, SPOTBOT_LIVE_URL); so does the master key (SPOTBOT_MASTER_KEY or
data_dir/master.key).

Examples:
  BINANCE_API_KEY=... BINANCE_API_SECRET=... spotbot credentials set --user ada --venue testnet
  spotbot credentials set --user ada --venue live --api-key KEY --ed25519-key-file ada-live.pem
  spotbot credentials show --user ada
  spotbot credentials delete --user ada --venue testnet";

/// Options of `spotbot credentials`.
#[derive(Debug, Args)]
pub struct CredentialsArgs {
    #[command(subcommand)]
    command: CredentialsCommand,
}

#[derive(Debug, Subcommand)]
enum CredentialsCommand {
    /// Verify a key with the venue's exchange and store it for a user.
    Set(SetArgs),
    /// Show a user's keys (never the secrets).
    Show(ShowArgs),
    /// Delete a user's key for a venue and pause their bots there.
    Delete(DeleteArgs),
}

/// A venue users store keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KeyVenue {
    /// Binance's spot testnet (or what the configuration stands in for it).
    Testnet,
    /// Binance.
    Live,
}

impl From<KeyVenue> for Mode {
    fn from(venue: KeyVenue) -> Mode {
        match venue {
            KeyVenue::Testnet => Mode::Testnet,
            KeyVenue::Live => Mode::Live,
        }
    }
}

/// Options of `spotbot credentials set`.
#[derive(Debug, Args)]
struct SetArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    venues: VenueArgs,
    /// Username of the key's owner.
    #[arg(long, value_name = "USERNAME")]
    user: String,
    /// The venue the key is for.
    #[arg(long, value_enum)]
    venue: KeyVenue,
    /// The API key (default: BINANCE_API_KEY).
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// An Ed25519 key: the file holding its private key as PEM (`openssl genpkey -algorithm
    /// ed25519`); without it the key is an HMAC key.
    #[arg(long, value_name = "FILE")]
    ed25519_key_file: Option<PathBuf>,
}

/// Options of `spotbot credentials show`.
#[derive(Debug, Args)]
struct ShowArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Username of the keys' owner.
    #[arg(long, value_name = "USERNAME")]
    user: String,
    /// Only this venue's key.
    #[arg(long, value_enum)]
    venue: Option<KeyVenue>,
}

/// Options of `spotbot credentials delete`.
#[derive(Debug, Args)]
struct DeleteArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    venues: VenueArgs,
    /// Username of the key's owner.
    #[arg(long, value_name = "USERNAME")]
    user: String,
    /// The venue whose key goes.
    #[arg(long, value_enum)]
    venue: KeyVenue,
}

/// Runs `spotbot credentials ...`.
pub fn run(args: CredentialsArgs) -> Result<(), Failure> {
    match args.command {
        CredentialsCommand::Set(args) => set(args),
        CredentialsCommand::Show(args) => show(args),
        CredentialsCommand::Delete(args) => delete(args),
    }
}

fn set(args: SetArgs) -> Result<(), Failure> {
    let submission = submission(&args)?;
    let venue = Mode::from(args.venue);
    block_on(async move {
        let (store, accounts) = open_accounts(&args.database, &args.venues).await?;
        let outcome = async {
            let user = user_id(&store, &args.user).await?;
            accounts
                .set_key(user, venue, &submission)
                .await
                .map_err(|error| match error {
                    SetKeyError::Invalid(invalid) => {
                        Failure::Usage(format!("{}: {}", flag(invalid.field), invalid.message))
                    }
                    other => Failure::Runtime(other.into()),
                })
        }
        .await;
        store.close().await;
        let stored = outcome?;
        println!(
            "{} the {venue} key of {} ({}, {}); the exchange accepted it",
            if stored.replaced {
                "replaced"
            } else {
                "stored"
            },
            args.user,
            stored.stored.key_type,
            key_prefix(&stored.stored),
        );
        Ok(())
    })
}

fn show(args: ShowArgs) -> Result<(), Failure> {
    block_on(async move {
        let store = args.database.open().await?;
        let listed = async {
            let user = user_id(&store, &args.user).await?;
            let mut keys = store.user_credentials(user).await.map_err(runtime)?;
            if let Some(venue) = args.venue {
                keys.retain(|key| key.venue == Mode::from(venue));
            }
            Ok::<_, Failure>(keys)
        }
        .await;
        store.close().await;
        let keys = listed?;
        if keys.is_empty() {
            println!("{} has no exchange keys", args.user);
            return Ok(());
        }
        println!(
            "{:<8} {:<8} {:<12} {:<24} {:<24} {:<9} permissions",
            "venue", "type", "key", "set", "verified", "can trade"
        );
        for key in &keys {
            let verification = key.verification.as_ref();
            println!(
                "{:<8} {:<8} {:<12} {:<24} {:<24} {:<9} {}",
                key.venue.as_str(),
                key.key_type.as_str(),
                key_prefix(key),
                market::format_utc_ms(key.set_at_ms),
                verification.map_or("never".to_owned(), |v| market::format_utc_ms(
                    v.verified_at_ms
                )),
                verification.map_or("-".to_owned(), |v| v.can_trade.to_string()),
                verification.map_or(String::new(), |v| v.permissions.join(",")),
            );
        }
        Ok(())
    })
}

fn delete(args: DeleteArgs) -> Result<(), Failure> {
    let venue = Mode::from(args.venue);
    block_on(async move {
        let (store, accounts) = open_accounts(&args.database, &args.venues).await?;
        let deleted = async {
            let user = user_id(&store, &args.user).await?;
            let reason = format!(
                "paused: the operator deleted your {venue} API key; store a new one with PUT /api/v1/credentials/{venue}, then start the bot again"
            );
            accounts
                .delete_key(user, venue, &reason)
                .await
                .map_err(|error| Failure::Runtime(error.into()))
        }
        .await;
        store.close().await;
        if deleted? {
            println!(
                "deleted the {venue} key of {}; their {venue} bots are paused",
                args.user
            );
            Ok(())
        } else {
            Err(Failure::Usage(format!(
                "--venue: {} has no {venue} key",
                args.user
            )))
        }
    })
}

/// The key `args` give: the API key from the flag or the environment, the secret from a PEM
/// file, the environment or the terminal.
fn submission(args: &SetArgs) -> Result<KeySubmission, Failure> {
    let api_key = match &args.api_key {
        Some(key) => key.clone(),
        None => std::env::var(API_KEY_ENV).map_err(|_| {
            Failure::Usage(format!("no API key: pass --api-key or set {API_KEY_ENV}"))
        })?,
    };
    if let Some(path) = &args.ed25519_key_file {
        let pem = std::fs::read_to_string(path).map_err(|err| {
            Failure::Usage(format!(
                "--ed25519-key-file: cannot read {}: {err}",
                path.display()
            ))
        })?;
        return Ok(KeySubmission::ed25519(api_key, Zeroizing::new(pem)));
    }
    let secret = match std::env::var(API_SECRET_ENV) {
        Ok(secret) => Zeroizing::new(secret),
        Err(_) if std::io::stdin().is_terminal() => Zeroizing::new(
            rpassword::prompt_password(format!("API secret for {}: ", args.user)).map_err(
                |err| Failure::Runtime(anyhow::Error::new(err).context("cannot read the secret")),
            )?,
        ),
        Err(_) => {
            return Err(Failure::Usage(format!(
                "no API secret: set {API_SECRET_ENV}, run on a terminal to be asked, or give an Ed25519 key with --ed25519-key-file"
            )));
        }
    };
    Ok(KeySubmission::hmac(api_key, secret))
}

/// The store and the users' accounts on the venues the configuration names.
async fn open_accounts(
    database: &DatabaseArgs,
    venues: &VenueArgs,
) -> Result<(Store, Arc<AccountClients>), Failure> {
    let mut config = database.config()?;
    venues.apply(&mut config);
    let master_key = MasterKey::load(
        std::env::var(accounts::MASTER_KEY_ENV).ok().as_deref(),
        &config.data_dir(),
    )
    .map_err(|err| Failure::Usage(err.to_string()))?;
    let venues = crate::venue_setup::external_venues(&config).await?;
    let store = database.open().await?;
    let accounts = Arc::new(AccountClients::new(store.clone(), master_key, venues));
    Ok((store, accounts))
}

/// The flag or variable that gives the request field `field`.
fn flag(field: &str) -> String {
    match field {
        "api_key" => format!("--api-key ({API_KEY_ENV})"),
        "api_secret" => format!("the API secret ({API_SECRET_ENV})"),
        "private_key" => "--ed25519-key-file".to_owned(),
        "venue" => "--venue".to_owned(),
        other => other.to_owned(),
    }
}

/// The stored key's first characters.
fn key_prefix(key: &StoredCredentials) -> String {
    let mut prefix: String = key.api_key.chars().take(8).collect();
    prefix.push('…');
    prefix
}
