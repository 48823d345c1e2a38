//! `accounts`: users and their exchange accounts, for the HTTP API, the engine and the command
//! line alike (no HTTP types here: each caller words the errors for its own users).
//!
//! - [`rules`] and [`bot_rules`]: what an account (email, username, password) and a bot (name,
//!   venue, a symbol its venue lists, interval, strategy, quote amount) must be.
//! - [`password`]: argon2id password hashes.
//! - [`vault`]: the master key that encrypts every exchange secret at rest, bound to its user
//!   and venue.
//! - [`keys`]: a submitted exchange key (HMAC or Ed25519), checked and turned into credentials.
//! - [`venues`] and [`catalog`]: the venues a process trades on (paper, testnet, live), each
//!   with its shared exchange client and the symbols its own `exchangeInfo` lists.
//! - [`paper`]: users' accounts on the paper exchange, opened on first need and reset on demand;
//!   [`SimClock`]: a sped-up or hand-set paper exchange's time, seen from another process.
//! - [`AccountClients`]: the exchange client of each user's own account on each venue, built
//!   from the vault, cached, and rebuilt when the key changes.

pub mod bot_rules;
pub mod catalog;
mod clients;
pub mod keys;
pub mod paper;
pub mod password;
pub mod rules;
mod sim_clock;
pub mod vault;
pub mod venues;

pub use bot_rules::{BOT_NAME_MAX_CHARS, BotDraft, BotRuleError, check_bot};
pub use catalog::{CatalogError, Catalogs, SymbolCatalog};
pub use clients::{
    AccountClients, AccountError, KEY_RECHECK, KeyStored, PaperReset, ResetError, SetKeyError,
};
pub use keys::KeySubmission;
pub use paper::{AdminRequest, PaperAccounts, PaperError, default_starting_balances};
pub use password::PasswordCost;
pub use rules::InvalidField;
pub use sim_clock::SimClock;
pub use vault::{MASTER_KEY_ENV, MasterKey, VaultError};
pub use venues::{Venue, Venues};

/// Milliseconds since the Unix epoch by this machine's clock (row timestamps and leases; the
/// exchange's time comes from its client). 0 before 1970, which no real clock shows.
pub fn wall_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
