//! `spotbot user add` and `spotbot user list`: accounts in the database, checked with the same
//! rules and hashed the same way as the HTTP API's registration. `user add` is how the first
//! admin is made; its password comes from `SPOTBOT_PASSWORD` or a prompt that does not echo,
//! never from the command line, where other users and the shell history would see it.

use std::io::IsTerminal;

use clap::{Args, Subcommand};
use store::{NewUser, Role, Store};

use crate::Failure;
use crate::commands::listing::{DatabaseArgs, block_on, print_table};

/// The environment variable `spotbot user add` reads the password from.
pub const PASSWORD_ENV: &str = "SPOTBOT_PASSWORD";

/// Options of `spotbot user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user (the password comes from SPOTBOT_PASSWORD, or is asked for on the terminal).
    Add(AddArgs),
    /// List the users.
    List(ListArgs),
}

/// Options of `spotbot user add`.
#[derive(Debug, Args)]
struct AddArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Login name: 3 to 32 letters, digits, '_', '.' or '-'.
    #[arg(long, value_name = "NAME")]
    username: String,
    /// Email address.
    #[arg(long, value_name = "ADDRESS")]
    email: String,
    /// Give the user the admin role.
    #[arg(long)]
    admin: bool,
}

/// Options of `spotbot user list`.
#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Runs `spotbot user ...`.
pub fn run(args: UserArgs) -> Result<(), Failure> {
    match args.command {
        UserCommand::Add(args) => add(args),
        UserCommand::List(args) => list(args),
    }
}

/// The new user's password: `SPOTBOT_PASSWORD`, else typed twice on the terminal.
fn read_password(username: &str) -> Result<String, Failure> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "no password for {username}: set {PASSWORD_ENV}, or run `spotbot user add` on a terminal to be asked"
        )));
    }
    let cannot =
        |err| Failure::Runtime(anyhow::Error::new(err).context("cannot read the password"));
    let first = rpassword::prompt_password(format!("Password for {username}: ")).map_err(cannot)?;
    let again = rpassword::prompt_password("Again: ").map_err(cannot)?;
    if first != again {
        return Err(Failure::Usage("the two passwords differ".to_owned()));
    }
    Ok(first)
}

/// Maps a rule broken by a flag's value to a usage error naming the flag (`--username`).
fn usage(invalid: accounts::rules::InvalidField) -> Failure {
    Failure::Usage(format!("--{}: {}", invalid.field, invalid.message))
}

fn add(args: AddArgs) -> Result<(), Failure> {
    accounts::rules::email(&args.email).map_err(usage)?;
    accounts::rules::username(&args.username).map_err(usage)?;
    let password = read_password(&args.username)?;
    accounts::rules::password(&password, &args.username, &args.email).map_err(|invalid| {
        Failure::Usage(format!(
            "the password ({PASSWORD_ENV}): {}",
            invalid.message
        ))
    })?;
    let password_hash =
        accounts::password::hash_password(&password, accounts::PasswordCost::default())
            .map_err(|err| Failure::Runtime(err.into()))?;
    let role = if args.admin { Role::Admin } else { Role::User };
    block_on(async move {
        // Unlike the listings, this may create the database: the first admin can come before
        // the first `spotbot run`.
        let store = Store::connect(&args.database.url()?)
            .await
            .map_err(|err| Failure::Runtime(err.into()))?;
        let created = store
            .create_user(
                &NewUser {
                    email: args.email,
                    username: args.username,
                    password_hash: Some(password_hash),
                    role,
                },
                engine::wall_now_ms(),
            )
            .await;
        store.close().await;
        // A taken username or email is a runtime failure (exit 1): the command line was fine,
        // the database's state refused it; the message names the taken value.
        let user = created.map_err(|err| Failure::Runtime(err.into()))?;
        println!(
            "created {} {} ({}) with id {}",
            user.role.as_str(),
            user.username,
            user.email,
            user.id
        );
        Ok(())
    })
}

fn list(args: ListArgs) -> Result<(), Failure> {
    block_on(async move {
        let store = args.database.open().await?;
        let users = store
            .users()
            .await
            .map_err(|err| Failure::Runtime(err.into()))?;
        let mut rows = vec![
            ["id", "username", "email", "role", "created (UTC ms)"]
                .map(str::to_owned)
                .to_vec(),
        ];
        rows.extend(users.into_iter().map(|user| {
            vec![
                user.id.to_string(),
                user.username,
                user.email,
                user.role.as_str().to_owned(),
                user.created_at_ms.to_string(),
            ]
        }));
        print_table(&rows)
    })
}
