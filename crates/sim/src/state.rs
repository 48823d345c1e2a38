//! The state file (`spotbot sim --state FILE`): accounts with their balances and key state
//! (enabled, trading permission, IP whitelist), the order log, the id counters, the demo account's
//! key and the market time, saved as JSON so paper trading survives a restart. Fields added since
//! version 1 was first written are optional when read, with the value an account had before they
//! existed, so older files load. Version 2 adds `journal_seq`: the last journal record the
//! snapshot includes (see [`crate::durable`]); a version 1 file includes none (0).
//!
//! This module also holds the journal's payloads, [`Change`]: one change the exchange made to
//! what this file keeps, and [`Replay`], which applies them to a [`SavedState`] in order.
//!
//! Saving is atomic: the JSON goes to a temporary file in the same directory (readable by its
//! owner only: it holds HMAC secrets), is flushed to disk, is renamed over the old file, and the
//! directory is flushed, so a crash leaves either the old state or the new one. A file that
//! cannot be read back (not JSON, another format, an order on a symbol that is not listed) is an
//! error naming the file; it is never silently replaced. What is not saved: prices (they follow
//! from the seed and the clock), faults, symbol statuses (set by faults) and rate-limit counters.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use market::Side;

use crate::account::{Account, SignatureKey};
use crate::order::{Fill, OrderRecord, OrderStatus};
use sim_book::OrderSize;

/// The `format` field of every state file.
const FORMAT: &str = "spotbot-sim-state";
/// The layout version written.
const VERSION: u32 = 2;
/// The first version, without `journal_seq`: still read.
const VERSION_WITHOUT_JOURNAL: u32 = 1;

/// A snapshot of what the state file keeps (see the module doc), from
/// [`Exchange::save_state`](crate::Exchange::save_state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedState {
    format: String,
    version: u32,
    /// The API key of the demo account `spotbot sim` created, so a restart keeps it rather than
    /// making a new one.
    #[serde(default)]
    pub demo_api_key: Option<String>,
    /// The market time when the state was saved, ms: an accelerated exchange restarted from
    /// the file resumes from it (see [`SystemClock::resume`](crate::SystemClock::resume)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_time_ms: Option<i64>,
    /// The sequence number of the last journal record this snapshot includes: replay applies the
    /// records after it (absent from version 1 files, which include none).
    #[serde(default)]
    pub(crate) journal_seq: u64,
    pub(crate) client_order_id_counter: u64,
    pub(crate) counters: BTreeMap<String, SavedCounters>,
    pub(crate) accounts: Vec<SavedAccount>,
    pub(crate) order_log: Vec<SavedOrder>,
}

/// The next order and trade ids of one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedCounters {
    pub(crate) next_order_id: u64,
    pub(crate) next_trade_id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedAccount {
    api_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hmac_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ed25519_public_key: Option<String>,
    balances: BTreeMap<String, Decimal>,
    commission_rate: Decimal,
    commission_in_bnb: bool,
    update_time_ms: i64,
    uid: u64,
    // Absent from files written before keys could be revoked, restricted or read-only: those
    // keys were live, could trade and took any IP.
    #[serde(default = "yes")]
    key_enabled: bool,
    #[serde(default = "yes")]
    can_trade: bool,
    #[serde(default)]
    ip_whitelist: Vec<IpAddr>,
}

fn yes() -> bool {
    true
}

impl SavedAccount {
    pub(crate) fn from_account(account: &Account) -> SavedAccount {
        let (hmac_secret, ed25519_public_key) = match &account.signature_key {
            SignatureKey::Hmac(secret) => (Some(secret.clone()), None),
            key @ SignatureKey::Ed25519(_) => (None, Some(key.to_text())),
        };
        SavedAccount {
            api_key: account.api_key.clone(),
            hmac_secret,
            ed25519_public_key,
            balances: account.balances.clone(),
            commission_rate: account.commission_rate,
            commission_in_bnb: account.commission_in_bnb,
            update_time_ms: account.update_time_ms,
            uid: account.uid,
            key_enabled: account.key_enabled,
            can_trade: account.can_trade,
            ip_whitelist: account.ip_whitelist.clone(),
        }
    }

    /// Sorts accounts in a file by number, then key.
    pub(crate) fn uid_and_key(&self) -> (u64, String) {
        (self.uid, self.api_key.clone())
    }

    pub(crate) fn into_account(self) -> Result<Account, String> {
        let key = match (self.hmac_secret, self.ed25519_public_key) {
            (Some(secret), None) => SignatureKey::Hmac(secret),
            (None, Some(text)) => SignatureKey::ed25519_from_text(&text)
                .map_err(|err| format!("account {}: ed25519_public_key: {err}", self.api_key))?,
            _ => {
                return Err(format!(
                    "account {}: needs exactly one of hmac_secret and ed25519_public_key",
                    self.api_key
                ));
            }
        };
        let mut account = Account::with_key(self.api_key, key, self.balances, self.commission_rate);
        account.commission_in_bnb = self.commission_in_bnb;
        account.update_time_ms = self.update_time_ms;
        account.uid = self.uid;
        account.key_enabled = self.key_enabled;
        account.can_trade = self.can_trade;
        account.ip_whitelist = self.ip_whitelist;
        Ok(account)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedOrder {
    symbol: String,
    order_id: u64,
    client_order_id: String,
    api_key: String,
    side: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quote_order_qty: Option<Decimal>,
    status: String,
    fills: Vec<SavedFill>,
    transact_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedFill {
    trade_id: u64,
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
}

impl SavedOrder {
    pub(crate) fn from_record(order: &OrderRecord) -> SavedOrder {
        let (quantity, quote_order_qty) = match order.size {
            OrderSize::Base(qty) => (Some(qty), None),
            OrderSize::Quote(amount) => (None, Some(amount)),
        };
        SavedOrder {
            symbol: order.symbol.clone(),
            order_id: order.order_id,
            client_order_id: order.client_order_id.clone(),
            api_key: order.api_key.clone(),
            side: order.side.as_str().to_owned(),
            quantity,
            quote_order_qty,
            status: order.status.as_str().to_owned(),
            fills: order
                .fills
                .iter()
                .map(|fill| SavedFill {
                    trade_id: fill.trade_id,
                    price: fill.price,
                    qty: fill.qty,
                    commission: fill.commission,
                    commission_asset: fill.commission_asset.clone(),
                })
                .collect(),
            transact_time_ms: order.transact_time_ms,
        }
    }

    pub(crate) fn into_record(self) -> Result<OrderRecord, String> {
        let name = format!("order {} of {}", self.order_id, self.symbol);
        let side = match self.side.as_str() {
            "BUY" => Side::Buy,
            "SELL" => Side::Sell,
            other => return Err(format!("{name}: side {other:?} is not BUY or SELL")),
        };
        let size = match (self.quantity, self.quote_order_qty) {
            (Some(qty), None) => OrderSize::Base(qty),
            (None, Some(amount)) => OrderSize::Quote(amount),
            _ => {
                return Err(format!(
                    "{name}: needs exactly one of quantity and quote_order_qty"
                ));
            }
        };
        let status = match self.status.as_str() {
            "FILLED" => OrderStatus::Filled,
            "EXPIRED" => OrderStatus::Expired,
            other => return Err(format!("{name}: status {other:?} is not FILLED or EXPIRED")),
        };
        Ok(OrderRecord {
            symbol: self.symbol,
            order_id: self.order_id,
            client_order_id: self.client_order_id,
            api_key: self.api_key,
            side,
            size,
            status,
            fills: self
                .fills
                .into_iter()
                .map(|fill| Fill {
                    trade_id: fill.trade_id,
                    price: fill.price,
                    qty: fill.qty,
                    commission: fill.commission,
                    commission_asset: fill.commission_asset,
                })
                .collect(),
            transact_time_ms: self.transact_time_ms,
        })
    }

    pub(crate) fn symbol(&self) -> &str {
        &self.symbol
    }
}

impl SavedState {
    pub(crate) fn new(
        client_order_id_counter: u64,
        counters: BTreeMap<String, SavedCounters>,
        accounts: Vec<SavedAccount>,
        order_log: Vec<SavedOrder>,
    ) -> SavedState {
        SavedState {
            format: FORMAT.to_owned(),
            version: VERSION,
            demo_api_key: None,
            market_time_ms: None,
            journal_seq: 0,
            client_order_id_counter,
            counters,
            accounts,
            order_log,
        }
    }
}

/// Why a state file or its journal could not be read, used or written. Every variant names the
/// file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but cannot be read.
    #[error("cannot read the state file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is not a state file this version understands, or describes an exchange this one
    /// cannot be (an order on a symbol that is not listed).
    #[error(
        "the state file {path} is unusable: {reason} (fix or move it away; it is never overwritten)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A journal record before the journal's last one fails its checks, or does not follow from
    /// the records before it: what comes after it cannot be trusted, so nothing is replayed.
    #[error(
        "the journal {path} is damaged at byte {offset}: {reason}. The exchange does not start on \
         it and leaves it as it is: restore it from a backup, or cut it to {offset} bytes to keep \
         the records before (the changes recorded after are then lost)"
    )]
    DamagedJournal {
        /// The journal file.
        path: PathBuf,
        /// Where the bad record starts, in bytes from the start of the file.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Another exchange holds the state file's lock: two exchanges appending to one journal
    /// would interleave their records.
    #[error(
        "the state file {path} is in use by another exchange (it holds {lock}): stop that one \
         first, or give this one another state file"
    )]
    InUse {
        /// The state file.
        path: PathBuf,
        /// The lock file held.
        lock: PathBuf,
    },
    /// A state was to be restored into an exchange that already journals its changes: its
    /// journal would not hold what the restore changed.
    #[error(
        "cannot restore {path} into an exchange that journals its changes: restore it before the \
         exchange is served"
    )]
    AlreadyDurable {
        /// The state file.
        path: PathBuf,
    },
    /// The file could not be written.
    #[error("cannot write the state file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Reads the state file at `path`: `Ok(None)` when there is none yet. Versions 1 and 2 load.
/// This is the snapshot alone; [`DurableState::open`](crate::DurableState::open) also replays
/// its journal.
pub fn load_state(path: &Path) -> Result<Option<SavedState>, StateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let mut state: SavedState =
        serde_json::from_slice(&bytes).map_err(|err| corrupt(err.to_string()))?;
    if state.format != FORMAT {
        return Err(corrupt(format!(
            "format is {:?}, not {FORMAT:?}",
            state.format
        )));
    }
    if state.version != VERSION && state.version != VERSION_WITHOUT_JOURNAL {
        return Err(corrupt(format!(
            "version {} is not one this exchange reads ({VERSION_WITHOUT_JOURNAL} or {VERSION})",
            state.version
        )));
    }
    // Read as the current version: saved again, it is written as one.
    state.version = VERSION;
    Ok(Some(state))
}

/// Writes `state` to `path` atomically (see the module doc).
pub fn save_state(path: &Path, state: &SavedState) -> Result<(), StateError> {
    let write_error = |source| StateError::Write {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec(state).map_err(|err| write_error(io::Error::other(err)))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| write_error(io::Error::other("the path names no file")))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(file_name);
    temporary_name.push(format!(".tmp-{}", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let written = (|| {
        let mut file = create_private(&temporary)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        sync_directory_of(path)
    })();
    if written.is_err() {
        // Best effort: the temporary file is useless now; the error that matters is `written`'s.
        let _ = fs::remove_file(&temporary);
    }
    written.map_err(write_error)
}

/// Creates (or truncates) `path` for writing, readable and writable by its owner only: state
/// files and journals hold HMAC secrets.
pub(crate) fn create_private(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Flushes the directory holding `path` to disk, so that a file created, renamed or removed
/// there stays so after a crash (the file's own flush does not cover its name). Elsewhere than
/// Unix a directory cannot be opened to flush it, and renames are made durable by the system.
pub(crate) fn sync_directory_of(path: &Path) -> io::Result<()> {
    if cfg!(not(unix)) {
        return Ok(());
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::File::open(directory)?.sync_all()
}

/// Names `path` in a [`StateError::Corrupt`] for `reason`.
pub(crate) fn corrupt(path: &Path, reason: String) -> StateError {
    StateError::Corrupt {
        path: path.to_owned(),
        reason,
    }
}

/// One change the exchange made to what the state file keeps: the payload of one journal record
/// (see [`crate::durable`]), as JSON tagged by `change`. Each holds the result of the change
/// (an account as it is now, balances after an order), not the request that made it, so replay
/// needs neither the prices nor the clock of the moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Change {
    /// An account was added or replaced, funded, given new balances, or its key state or
    /// commission setting changed: the whole account as it is now.
    Account {
        /// The account.
        account: SavedAccount,
    },
    /// An order executed.
    Order {
        /// The order as the log keeps it.
        order: SavedOrder,
        /// The placing account's balances of the assets the order moved, after it.
        balances: BTreeMap<String, Decimal>,
        /// The counter of generated client order ids after the order.
        client_order_id_counter: u64,
    },
    /// The demo account's API key was set.
    DemoAccount {
        /// The key, or none.
        api_key: Option<String>,
    },
    /// The market time an accelerated exchange resumes from after a restart: ahead of the time
    /// when it was recorded, so that a restart never takes the market back to before a time a
    /// client has seen (see [`crate::durable`]).
    MarketTime {
        /// The market time, ms.
        resume_at_ms: i64,
    },
}

/// A [`SavedState`] being brought up to date with journal records, in their order.
pub(crate) struct Replay {
    state: SavedState,
    /// Where each account is in `state.accounts`, by API key.
    accounts_by_key: HashMap<String, usize>,
}

impl Replay {
    /// Starts from `snapshot`, or from nothing (no accounts, no orders).
    pub(crate) fn new(snapshot: Option<SavedState>) -> Replay {
        let state =
            snapshot.unwrap_or_else(|| SavedState::new(0, BTreeMap::new(), Vec::new(), Vec::new()));
        let accounts_by_key = state
            .accounts
            .iter()
            .enumerate()
            .map(|(index, account)| (account.api_key.clone(), index))
            .collect();
        Replay {
            state,
            accounts_by_key,
        }
    }

    /// Applies the change recorded as journal record `seq`; the error says why it cannot follow
    /// from the state so far.
    pub(crate) fn apply(&mut self, seq: u64, change: Change) -> Result<(), String> {
        let state = &mut self.state;
        match change {
            Change::Account { account } => {
                state.note_time(account.update_time_ms);
                match self.accounts_by_key.get(&account.api_key) {
                    Some(&index) => state.accounts[index] = account,
                    None => {
                        self.accounts_by_key
                            .insert(account.api_key.clone(), state.accounts.len());
                        state.accounts.push(account);
                    }
                }
            }
            Change::Order {
                order,
                balances,
                client_order_id_counter,
            } => {
                let index = *self.accounts_by_key.get(&order.api_key).ok_or_else(|| {
                    format!(
                        "order {} of {} was placed by the account {}, which neither the snapshot nor an earlier record has",
                        order.order_id, order.symbol, order.api_key
                    )
                })?;
                let account = &mut state.accounts[index];
                account.balances.extend(balances);
                account.update_time_ms = order.transact_time_ms;
                let counters =
                    state
                        .counters
                        .entry(order.symbol.clone())
                        .or_insert(SavedCounters {
                            next_order_id: 1,
                            next_trade_id: 1,
                        });
                counters.next_order_id =
                    counters.next_order_id.max(order.order_id.saturating_add(1));
                if let Some(last_trade) = order.fills.iter().map(|fill| fill.trade_id).max() {
                    counters.next_trade_id =
                        counters.next_trade_id.max(last_trade.saturating_add(1));
                }
                state.client_order_id_counter =
                    state.client_order_id_counter.max(client_order_id_counter);
                state.note_time(order.transact_time_ms);
                state.order_log.push(order);
            }
            Change::DemoAccount { api_key } => state.demo_api_key = api_key,
            Change::MarketTime { resume_at_ms } => state.note_time(resume_at_ms),
        }
        state.journal_seq = seq;
        Ok(())
    }

    /// The state with every record applied.
    pub(crate) fn finish(self) -> SavedState {
        self.state
    }
}

impl SavedState {
    /// Keeps `time_ms` as the market time when it is later than the one kept.
    pub(crate) fn note_time(&mut self, time_ms: i64) {
        self.market_time_ms = Some(
            self.market_time_ms
                .map_or(time_ms, |kept| kept.max(time_ms)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(api_key: &str, usdt: i64) -> SavedAccount {
        SavedAccount {
            api_key: api_key.to_owned(),
            hmac_secret: Some("secret".to_owned()),
            ed25519_public_key: None,
            balances: BTreeMap::from([("USDT".to_owned(), Decimal::from(usdt))]),
            commission_rate: Decimal::new(1, 3),
            commission_in_bnb: false,
            update_time_ms: 5,
            uid: 1,
            key_enabled: true,
            can_trade: true,
            ip_whitelist: Vec::new(),
        }
    }

    fn order(api_key: &str, order_id: u64, trade_id: u64) -> SavedOrder {
        SavedOrder {
            symbol: "BTCUSDT".to_owned(),
            order_id,
            client_order_id: format!("c{order_id}"),
            api_key: api_key.to_owned(),
            side: "BUY".to_owned(),
            quantity: Some(Decimal::ONE),
            quote_order_qty: None,
            status: "FILLED".to_owned(),
            fills: vec![SavedFill {
                trade_id,
                price: Decimal::from(10),
                qty: Decimal::ONE,
                commission: Decimal::new(1, 3),
                commission_asset: "BTC".to_owned(),
            }],
            transact_time_ms: 1_000 + order_id as i64,
        }
    }

    #[test]
    fn changes_read_back_as_written() {
        for change in [
            Change::Account {
                account: account("k", 1),
            },
            Change::Order {
                order: order("k", 7, 9),
                balances: BTreeMap::from([("BTC".to_owned(), Decimal::new(999, 3))]),
                client_order_id_counter: 3,
            },
            Change::DemoAccount {
                api_key: Some("k".to_owned()),
            },
            Change::MarketTime { resume_at_ms: 42 },
        ] {
            let json = serde_json::to_string(&change).unwrap();
            assert_eq!(
                serde_json::from_str::<Change>(&json).unwrap(),
                change,
                "{json}"
            );
        }
        let misspelt = r#"{"change": "market_time", "resume_at": 42}"#;
        assert!(serde_json::from_str::<Change>(misspelt).is_err());
    }

    #[test]
    fn replay_applies_changes_in_order_and_refuses_an_order_of_an_unknown_account() {
        let mut replay = Replay::new(None);
        replay
            .apply(
                1,
                Change::Account {
                    account: account("k", 100),
                },
            )
            .unwrap();
        replay
            .apply(
                2,
                Change::Order {
                    order: order("k", 7, 9),
                    balances: BTreeMap::from([
                        ("USDT".to_owned(), Decimal::from(90)),
                        ("BTC".to_owned(), Decimal::new(999, 3)),
                    ]),
                    client_order_id_counter: 3,
                },
            )
            .unwrap();
        replay
            .apply(
                3,
                Change::MarketTime {
                    resume_at_ms: 50_000,
                },
            )
            .unwrap();
        let error = replay
            .apply(
                4,
                Change::Order {
                    order: order("stranger", 8, 10),
                    balances: BTreeMap::new(),
                    client_order_id_counter: 3,
                },
            )
            .unwrap_err();
        assert!(error.contains("stranger"), "{error}");

        let state = replay.finish();
        assert_eq!(state.journal_seq, 3);
        assert_eq!(state.market_time_ms, Some(50_000));
        assert_eq!(state.client_order_id_counter, 3);
        assert_eq!(state.order_log.len(), 1);
        assert_eq!(
            state.counters["BTCUSDT"],
            SavedCounters {
                next_order_id: 8,
                next_trade_id: 10
            }
        );
        let balances = &state.accounts[0].balances;
        assert_eq!(balances["USDT"], Decimal::from(90));
        assert_eq!(balances["BTC"], Decimal::new(999, 3));
        assert_eq!(state.accounts[0].update_time_ms, 1_007);
    }
}
