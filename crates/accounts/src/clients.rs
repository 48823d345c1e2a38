//! [`AccountClients`]: every user's exchange account on every venue this process serves, as a
//! [`binance::Client`] signing with that user's own key.
//!
//! - A client is built the first time a user's account is needed, from the key in the vault
//!   (decrypted here, held only inside the client, wiped when dropped), and cached per (user,
//!   venue). It is derived from the venue's shared client: all of a venue's accounts share its
//!   connection pool, server-time estimate and IP weight budget; each has its own order budget.
//! - A lookup reads the stored key's row again (one small query) when the cached entry was last
//!   checked more than [`KEY_RECHECK`] ago, and rebuilds the client when the key changed:
//!   a key replaced or deleted by another process (the API of another machine) is in force
//!   within a second, without a restart; one replaced through this process's API at once
//!   ([`AccountClients::forget`]). A user's thousand bots cost one read a second, not a
//!   thousand.
//! - On the paper venue a user without an account gets one, opened on the paper exchange with
//!   the configured starting balances the first time it is needed ([`PaperAccounts`]).
//! - [`AccountClients::balance_book`]: the account's [`BalanceBook`] on its venue's
//!   [`UserDataHub`](binance::UserDataHub), kept with the client: its balances from the user data
//!   stream instead of a `GET /api/v3/account` (weight 20) per ask. When the key is replaced or
//!   deleted, the book is closed with the client (its subscription ended) and the next one is
//!   made for the new key.
//! - [`AccountClients::set_key`] verifies a key with one signed call to its venue before storing
//!   it: a key the exchange refuses is never stored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use binance::{AccountInfo, BalanceBook, BinanceError, Client, KeyProblem, KeyType};
use store::{
    BotId, Mode, NewCredentials, Store, StoreError, StoredCredentials, UserId, Verification,
};
use tracing::info;

use crate::keys::{KeySubmission, secret_field, signing_credentials};
use crate::paper::{PaperAccounts, PaperError};
use crate::rules::{InvalidField, invalid};
use crate::vault::MasterKey;
use crate::venues::{Venue, Venues, how_to_serve};
use crate::wall_now_ms;

/// Why a user's account on a venue cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// This process does not trade on the venue.
    #[error("this server does not trade on {0}: {how}", how = how_to_serve(*.0))]
    VenueNotServed(Mode),
    /// The user stored no key for the venue (or, on paper, has no account and this process
    /// opens none).
    #[error("{}", no_key(*.0))]
    NoKey(Mode),
    /// The stored key does not decrypt with this process's master key.
    #[error(
        "your stored {0} API key cannot be decrypted with this server's master key (SPOTBOT_MASTER_KEY or data/master.key changed?): store the key again"
    )]
    Undecryptable(Mode),
    /// The stored key decrypts but cannot sign.
    #[error("your stored {venue} API key is unusable ({reason}): store the key again")]
    Unusable {
        /// The venue.
        venue: Mode,
        /// What is wrong with it.
        reason: String,
    },
    /// The paper exchange did not open an account.
    #[error("cannot open your paper account: {0}")]
    PaperAccount(#[from] PaperError),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The exchange failed or refused.
    #[error(transparent)]
    Exchange(#[from] BinanceError),
}

impl AccountError {
    /// Whether only the user can fix this (a key to store again): retrying changes nothing, so
    /// the user's bots on the venue are paused with this message.
    pub fn needs_the_user(&self) -> bool {
        matches!(
            self,
            AccountError::NoKey(_) | AccountError::Undecryptable(_) | AccountError::Unusable { .. }
        )
    }
}

/// Why a key was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SetKeyError {
    /// A field is wrong, or the exchange refused the key (the field at fault, with the
    /// exchange's reason).
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The exchange could not be asked: nothing stored, try again.
    #[error(
        "cannot verify the key with the {venue} exchange ({cause}); nothing was stored: try again"
    )]
    ExchangeUnavailable {
        /// The venue.
        venue: Mode,
        /// What failed.
        cause: BinanceError,
    },
    /// Encryption or the database failed.
    #[error(transparent)]
    Account(#[from] AccountError),
}

/// What [`AccountClients::set_key`] stored.
#[derive(Debug)]
pub struct KeyStored {
    /// Whether it replaced a key.
    pub replaced: bool,
    /// The row as stored.
    pub stored: StoredCredentials,
}

/// Why a paper account was not reset.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Some of the user's paper orders have an unknown fate: resetting the balances under them
    /// would make reconciliation record a fill the balances no longer show.
    #[error(
        "{0} of your paper orders are in doubt; the reset waits until reconciliation has settled them (the next cycles do): try again in a minute"
    )]
    OrdersInDoubt(usize),
    /// The account could not be reached, opened or reset.
    #[error(transparent)]
    Account(#[from] AccountError),
}

/// A paper account reset: its key, and the bots whose positions were cleared.
#[derive(Debug)]
pub struct PaperReset {
    /// The account's API key.
    pub api_key: String,
    /// Bots that held something and are flat now.
    pub cleared_bots: Vec<BotId>,
}

/// How long a cached client is used before its stored key is read again.
pub const KEY_RECHECK: Duration = Duration::from_secs(1);

/// A cached account client, the key it was built from (API key and secret's ciphertext), when
/// that was last compared with the stored key, and the account's balance book once asked for.
struct CachedClient {
    api_key: String,
    ciphertext: Vec<u8>,
    client: Client,
    checked: Instant,
    book: Option<BalanceBook>,
}

impl CachedClient {
    /// Ends the book's subscription: the key it signs with is no longer the account's.
    fn retire(self) {
        if let Some(book) = self.book {
            book.close();
        }
    }
}

/// Every user's account clients on the venues served (see the module's documentation). Share
/// it (`Arc`) between the engine and the API of a process.
pub struct AccountClients {
    store: Store,
    master_key: MasterKey,
    venues: Venues,
    cache: Mutex<HashMap<(UserId, Mode), CachedClient>>,
    /// Held while a paper account is opened, so two bots of one new user open one account.
    opening_paper: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AccountClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountClients")
            .field("venues", &self.venues)
            .field("cached", &lock(&self.cache).len())
            .finish_non_exhaustive()
    }
}

impl AccountClients {
    /// The accounts of `store`'s users on `venues`, their keys encrypted under `master_key`.
    pub fn new(store: Store, master_key: MasterKey, venues: Venues) -> AccountClients {
        AccountClients {
            store,
            master_key,
            venues,
            cache: Mutex::new(HashMap::new()),
            opening_paper: tokio::sync::Mutex::new(()),
        }
    }

    /// The key that encrypts users' secrets at rest (exchange keys, notification channels').
    pub fn master_key(&self) -> &MasterKey {
        &self.master_key
    }

    /// The venues served.
    pub fn venues(&self) -> &Venues {
        &self.venues
    }

    /// The venue `mode`, or why not.
    pub fn venue(&self, mode: Mode) -> Result<&Venue, AccountError> {
        self.venues
            .get(mode)
            .map(AsRef::as_ref)
            .ok_or(AccountError::VenueNotServed(mode))
    }

    /// The client of `user`'s account on `venue` (see the module's documentation).
    pub async fn client(&self, user: UserId, venue: Mode) -> Result<Client, AccountError> {
        let served = self.venue(venue)?;
        if let Some(cached) = lock(&self.cache).get(&(user, venue))
            && cached.checked.elapsed() < KEY_RECHECK
        {
            return Ok(cached.client.clone());
        }
        let stored = self.stored_or_opened(user, served).await?;
        if let Some(cached) = lock(&self.cache).get_mut(&(user, venue))
            && cached.ciphertext == stored.secret_ciphertext
            && cached.api_key == stored.api_key
        {
            cached.checked = Instant::now();
            return Ok(cached.client.clone());
        }
        let client = self.build(served, &stored)?;
        let replaced = lock(&self.cache).insert(
            (user, venue),
            CachedClient {
                api_key: stored.api_key,
                ciphertext: stored.secret_ciphertext,
                client: client.clone(),
                checked: Instant::now(),
                book: None,
            },
        );
        if let Some(replaced) = replaced {
            replaced.retire();
        }
        Ok(client)
    }

    /// The balance book of `user`'s account on `venue`: what the engine asks for the account's
    /// balances ([`BalanceBook::balances`]) instead of [`Client::balances`], answered from the
    /// account's user data stream without a request while it is live. Made (and subscribed) the
    /// first time, then kept with the account's client; a key replaced or deleted closes it, and
    /// the next call makes one for the new key. Must be called inside a Tokio runtime.
    pub async fn balance_book(
        &self,
        user: UserId,
        venue: Mode,
    ) -> Result<BalanceBook, AccountError> {
        let client = self.client(user, venue).await?;
        let hub = self.venue(venue)?.user_data();
        let mut cache = lock(&self.cache);
        let cached = cache.get_mut(&(user, venue)).filter(|cached| {
            Some(cached.api_key.as_str()) == client.credentials().map(|c| c.api_key())
        });
        let Some(cached) = cached else {
            // Forgotten or replaced since: this book is the caller's alone, closed when dropped.
            return Ok(hub.book(&client)?);
        };
        if let Some(book) = &cached.book {
            return Ok(book.clone());
        }
        let book = hub.book(&cached.client)?;
        cached.book = Some(book.clone());
        Ok(book)
    }

    /// Drops the cached client of `user` on `venue` (its key was replaced, deleted or refused),
    /// closing its balance book.
    pub fn forget(&self, user: UserId, venue: Mode) {
        let forgotten = lock(&self.cache).remove(&(user, venue));
        if let Some(forgotten) = forgotten {
            forgotten.retire();
        }
    }

    /// `user`'s balances and permissions on `venue`, as the exchange reports them.
    pub async fn account_info(
        &self,
        user: UserId,
        venue: Mode,
    ) -> Result<AccountInfo, AccountError> {
        Ok(self.client(user, venue).await?.account_info().await?)
    }

    /// Verifies `submission` with one signed call to `venue` (`GET /api/v3/account`) and stores
    /// it, encrypted, for `user`. A key the exchange refuses, or whose account cannot trade, is
    /// [`SetKeyError::Invalid`] naming the field at fault, and nothing is stored.
    pub async fn set_key(
        &self,
        user: UserId,
        venue: Mode,
        submission: &KeySubmission,
    ) -> Result<KeyStored, SetKeyError> {
        if venue == Mode::Paper {
            return Err(invalid(
                "venue",
                "paper accounts are opened by spotbot itself: see GET /api/v1/account/paper",
            )
            .into());
        }
        let served = self.venue(venue)?;
        let credentials = submission.credentials()?;
        let info = served
            .client()
            .with_account(credentials)
            .account_info()
            .await
            .map_err(|cause| refused_key(venue, submission, cause))?;
        if !info.can_trade {
            return Err(invalid(
                "api_key",
                format!(
                    "the {venue} exchange says this key's account cannot trade (canTrade is false): allow spot trading for the key, then store it again"
                ),
            )
            .into());
        }
        let now_ms = wall_now_ms();
        let new = NewCredentials {
            user_id: user,
            venue,
            key_type: stored_key_type(submission.key_type()),
            api_key: submission.api_key().to_owned(),
            secret_ciphertext: self.encrypt(user, venue, submission.secret())?,
            verification: Some(Verification {
                verified_at_ms: now_ms,
                can_trade: info.can_trade,
                permissions: info.permissions,
            }),
            is_paper_account: false,
        };
        let replaced = self
            .store
            .put_credentials(&new, now_ms)
            .await
            .map_err(AccountError::from)?;
        self.forget(user, venue);
        let stored = self
            .store
            .credentials(user, venue)
            .await
            .map_err(AccountError::from)?
            .ok_or(AccountError::NoKey(venue))?;
        info!(%user, %venue, replaced, "exchange key stored after the exchange accepted it");
        Ok(KeyStored { replaced, stored })
    }

    /// Deletes `user`'s key for `venue` and pauses their bots there with `reason` (they cannot
    /// trade without it); whether there was a key.
    pub async fn delete_key(
        &self,
        user: UserId,
        venue: Mode,
        reason: &str,
    ) -> Result<bool, AccountError> {
        let deleted = self.store.delete_credentials(user, venue).await?;
        self.forget(user, venue);
        if deleted {
            let paused = self
                .store
                .pause_venue_bots(user, venue, reason, wall_now_ms())
                .await?;
            info!(%user, %venue, paused = paused.len(), "exchange key deleted; the user's bots there are paused");
        }
        Ok(deleted)
    }

    /// Sets `user`'s paper account back to the starting balances and clears their paper bots'
    /// positions (trades and realised PnL stay). Refused while a paper order is in doubt. An
    /// account the paper exchange no longer knows (restarted without its state) is replaced by a
    /// new one.
    ///
    /// The check for orders in doubt is repeated in the transaction that clears the positions,
    /// but a cycle that writes and sends its order between the first check and the balances'
    /// reset is not fenced out: its fill, recorded after the clearing, leaves that bot holding
    /// what the reset took. Paper only, and a window of milliseconds; pausing the user's paper
    /// bots first would close it at the price of changing their run state.
    pub async fn reset_paper(&self, user: UserId) -> Result<PaperReset, ResetError> {
        let venue = self.venue(Mode::Paper)?;
        let paper = venue
            .paper_accounts()
            .ok_or(AccountError::VenueNotServed(Mode::Paper))?;
        let in_doubt = self
            .store
            .venue_orders_in_doubt(user, Mode::Paper)
            .await
            .map_err(AccountError::from)?;
        if in_doubt > 0 {
            return Err(ResetError::OrdersInDoubt(in_doubt));
        }
        let stored = self.stored_or_opened(user, venue).await?;
        let api_key = match paper.reset(&stored.api_key).await {
            Ok(()) => stored.api_key,
            Err(PaperError::UnknownAccount) => self.reopen_paper(user, paper).await?,
            Err(error) => return Err(AccountError::from(error).into()),
        };
        let cleared = self
            .store
            .clear_venue_positions(
                user,
                Mode::Paper,
                "paper account reset to its starting balances: position cleared",
                wall_now_ms(),
            )
            .await
            .map_err(AccountError::from)?;
        let cleared_bots = cleared.map_err(|doubt| ResetError::OrdersInDoubt(doubt.count))?;
        info!(%user, cleared = cleared_bots.len(), "paper account reset");
        Ok(PaperReset {
            api_key,
            cleared_bots,
        })
    }

    /// The stored key of `user` on `venue`, opening a paper account first when the venue opens
    /// them and the user has none.
    async fn stored_or_opened(
        &self,
        user: UserId,
        venue: &Venue,
    ) -> Result<StoredCredentials, AccountError> {
        let mode = venue.mode();
        if let Some(stored) = self.store.credentials(user, mode).await? {
            return Ok(stored);
        }
        let Some(paper) = venue.paper_accounts() else {
            return Err(AccountError::NoKey(mode));
        };
        let _opening = self.opening_paper.lock().await;
        // Another task may have opened it while this one waited.
        if let Some(stored) = self.store.credentials(user, mode).await? {
            return Ok(stored);
        }
        let opened = paper.open().await?;
        let new = self.paper_credentials(user, &opened)?;
        // Another process may have opened one too: the first stored wins, the other account
        // stays unused on the paper exchange.
        self.store
            .insert_credentials_if_absent(&new, wall_now_ms())
            .await?;
        info!(%user, "paper account opened with the starting balances");
        self.store
            .credentials(user, mode)
            .await?
            .ok_or(AccountError::NoKey(mode))
    }

    /// Opens a new paper account for `user` in place of one the exchange no longer knows.
    async fn reopen_paper(
        &self,
        user: UserId,
        paper: &PaperAccounts,
    ) -> Result<String, AccountError> {
        let opened = paper.open().await?;
        let new = self.paper_credentials(user, &opened)?;
        self.store.put_credentials(&new, wall_now_ms()).await?;
        self.forget(user, Mode::Paper);
        info!(%user, "the paper exchange no longer knew the user's account: a new one was opened");
        Ok(opened.api_key)
    }

    fn paper_credentials(
        &self,
        user: UserId,
        opened: &crate::paper::OpenedPaperAccount,
    ) -> Result<NewCredentials, AccountError> {
        Ok(NewCredentials {
            user_id: user,
            venue: Mode::Paper,
            key_type: store::KeyType::Ed25519,
            api_key: opened.api_key.clone(),
            secret_ciphertext: self.encrypt(user, Mode::Paper, &opened.private_key_pem)?,
            verification: None,
            is_paper_account: true,
        })
    }

    /// Makes an existing account of the paper exchange (`spotbot run`'s demo account) `user`'s
    /// paper account, in place of any other; whether it changed anything.
    pub async fn set_paper_account(
        &self,
        user: UserId,
        key: &KeySubmission,
    ) -> Result<bool, AccountError> {
        let stored = self.store.credentials(user, Mode::Paper).await?;
        if stored.is_some_and(|stored| stored.api_key == key.api_key()) {
            return Ok(false);
        }
        let new = NewCredentials {
            user_id: user,
            venue: Mode::Paper,
            key_type: stored_key_type(key.key_type()),
            api_key: key.api_key().to_owned(),
            secret_ciphertext: self.encrypt(user, Mode::Paper, key.secret())?,
            verification: None,
            is_paper_account: true,
        };
        self.store.put_credentials(&new, wall_now_ms()).await?;
        self.forget(user, Mode::Paper);
        Ok(true)
    }

    fn encrypt(&self, user: UserId, venue: Mode, secret: &str) -> Result<Vec<u8>, AccountError> {
        self.master_key
            .encrypt(user, venue, secret.as_bytes())
            .map_err(|error| AccountError::Unusable {
                venue,
                reason: error.to_string(),
            })
    }

    /// The client signing with `stored`, derived from `venue`'s shared client.
    fn build(&self, venue: &Venue, stored: &StoredCredentials) -> Result<Client, AccountError> {
        let mode = venue.mode();
        let secret = self
            .master_key
            .decrypt(stored.user_id, mode, &stored.secret_ciphertext)
            .map_err(|_| AccountError::Undecryptable(mode))?;
        let unusable = |reason: String| AccountError::Unusable {
            venue: mode,
            reason,
        };
        let text = std::str::from_utf8(&secret)
            .map_err(|_| unusable("the secret is not text".to_owned()))?;
        let credentials = signing_credentials(
            exchange_key_type(stored.key_type),
            stored.api_key.clone(),
            text,
        )
        .map_err(unusable)?;
        Ok(venue.client().with_account(credentials))
    }
}

/// What a user without a key for `venue` is told to do.
fn no_key(venue: Mode) -> String {
    match venue {
        Mode::Paper => "you have no paper account, and this server's paper exchange opens none: its operator sets [venues.paper] url to a running `spotbot sim`".to_owned(),
        Mode::Testnet | Mode::Live => format!(
            "you have no {venue} API key: add one with PUT /api/v1/credentials/{venue} (or `spotbot credentials set --venue {venue}`), then start the bot again"
        ),
    }
}

/// The error for a key `venue`'s exchange did not accept: the field at fault with the exchange's
/// reason when it refused the key, or "try again" when it could not be asked.
fn refused_key(venue: Mode, submission: &KeySubmission, cause: BinanceError) -> SetKeyError {
    let Some(problem) = cause.key_problem() else {
        return SetKeyError::ExchangeUnavailable { venue, cause };
    };
    let field = match problem {
        KeyProblem::BadSignature => secret_field(submission.key_type()),
        KeyProblem::MalformedKey | KeyProblem::KeyRejected => "api_key",
    };
    invalid(
        field,
        format!(
            "the {venue} exchange refused this key: {} (it answered: {cause})",
            problem.explain()
        ),
    )
    .into()
}

/// The store's spelling of a key type.
fn stored_key_type(key_type: KeyType) -> store::KeyType {
    match key_type {
        KeyType::Hmac => store::KeyType::Hmac,
        KeyType::Ed25519 => store::KeyType::Ed25519,
    }
}

/// The exchange client's key type of a stored one.
fn exchange_key_type(key_type: store::KeyType) -> KeyType {
    match key_type {
        store::KeyType::Hmac => KeyType::Hmac,
        store::KeyType::Ed25519 => KeyType::Ed25519,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
