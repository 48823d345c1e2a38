//! The state file (`spotbot sim --state FILE`): accounts with their balances and key state
//! (enabled, trading permission, IP whitelist), the order log and the id counters, saved as JSON
//! so paper trading survives a restart. Fields added since version 1 was first written are
//! optional when read, with the value an account had before they existed, so older files load.
//!
//! Saving is atomic: the JSON goes to a temporary file in the same directory, is flushed to disk,
//! and is renamed over the old file, so a crash leaves either the old state or the new one. A file
//! that cannot be read back (not JSON, another format, an order on a symbol that is not listed)
//! is an error naming the file; it is never silently replaced. What is not saved: prices (they
//! follow from the seed and the clock), faults and rate-limit counters.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use market::Side;

use crate::account::{Account, SignatureKey};
use crate::book::OrderSize;
use crate::order::{Fill, OrderRecord, OrderStatus};

/// The `format` field of every state file.
const FORMAT: &str = "spotbot-sim-state";
/// The layout version written; files of other versions are refused.
const VERSION: u32 = 1;

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
            client_order_id_counter,
            counters,
            accounts,
            order_log,
        }
    }
}

/// Why a state file could not be read, used or written. Every variant names the file.
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
    /// The file could not be written.
    #[error("cannot write the state file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Reads the state file at `path`: `Ok(None)` when there is none yet.
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
    let state: SavedState =
        serde_json::from_slice(&bytes).map_err(|err| corrupt(err.to_string()))?;
    if state.format != FORMAT {
        return Err(corrupt(format!(
            "format is {:?}, not {FORMAT:?}",
            state.format
        )));
    }
    if state.version != VERSION {
        return Err(corrupt(format!(
            "version {} is not the supported version {VERSION}",
            state.version
        )));
    }
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
        let mut file = fs::File::create(&temporary)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        // Best effort: the temporary file is useless now; the error that matters is `written`'s.
        let _ = fs::remove_file(&temporary);
    }
    written.map_err(write_error)
}

/// Names `path` in a [`StateError::Corrupt`] for `reason`.
pub(crate) fn corrupt(path: &Path, reason: String) -> StateError {
    StateError::Corrupt {
        path: path.to_owned(),
        reason,
    }
}
