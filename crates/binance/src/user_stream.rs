//! Each account's balances kept in memory from its user data stream, so that the engine does not
//! spend `GET /api/v3/account` (weight 20) on every signal: 10,000 bots asking once a minute
//! would need 200,000 weight a minute from an IP allowed 6,000.
//!
//! - [`UserDataHub`]: one per venue. It multiplexes the venue's accounts over WebSocket API
//!   connections ([`ClientConfig::ws_api_url`](crate::ClientConfig::ws_api_url)), at most
//!   [`UserDataSettings::max_subscriptions_per_connection`] accounts each (Binance allows
//!   [`MAX_SUBSCRIPTIONS_PER_CONNECTION`]; a connection is opened for every that many). Each
//!   account subscribes with `userDataStream.subscribe.signature` (`apiKey`, `recvWindow`,
//!   `timestamp`, signed over the parameters sorted by name with the account's own HMAC or
//!   Ed25519 key, as a REST SIGNED request). Connecting and every request weigh 2 in the IP's
//!   weight, so each spends the client's shared budget first (a burst of resubscriptions waits
//!   instead of earning a 429), and each answer's `rateLimits` corrects the budget.
//! - [`BalanceBook`]: one per account, cheap to clone; [`BalanceBook::balances`] answers from
//!   memory while the account's subscription is live and its book is primed, and otherwise
//!   with one REST read.
//!
//! How the book stays right:
//!
//! - Priming: a REST snapshot is taken after the subscription is confirmed; the events that
//!   arrive while it is read are kept and applied on top of it once it is in. They are absolute
//!   (`outboundAccountPosition` lists each changed asset's free and locked amounts), so one that
//!   the snapshot already holds changes nothing, and none that came after it is lost.
//! - `outboundAccountPosition` sets the assets it lists; one older (`u`) than what the book holds
//!   for an asset is not applied. `executionReport` is not read: an `outboundAccountPosition`
//!   follows every fill.
//! - `balanceUpdate` (a deposit, withdrawal or transfer) marks the book stale, and the next ask
//!   reads it again by REST. Applying its delta instead could count it twice: Binance does not
//!   document whether it comes before or after the `outboundAccountPosition` of the same change,
//!   and a delta replayed on top of a snapshot that already holds it would be counted again.
//!   Such changes are rare, so the REST read costs little.
//! - Reconcile: every [`UserDataSettings::reconcile_every`], each book asked for since its last
//!   REST read, live and primed, is replaced with a REST read (events during it applied on top);
//!   a difference from what memory held is logged as a warning. Books nobody asks for cost
//!   nothing.
//! - `eventStreamTerminated` ends a subscription: the account subscribes again. A connection that
//!   drops, fails or stays silent past [`UserDataSettings::idle_timeout`] (Binance pings every
//!   20 s) puts every book of it back on REST, reconnects after a backoff with full jitter (the
//!   client's [`RetryPolicy`](crate::RetryPolicy)), and resubscribes each account; the books
//!   asked for recently are primed again at once, the others at their next ask.
//! - A subscription refused for the key (-2014, -2015, -1022) makes that account's
//!   [`BalanceBook::balances`] return the exchange's error (its [`BinanceError::key_problem`]
//!   says what the user must fix), without a REST read; the other accounts are not affected.
//!   The subscription is tried again on an ask after [`UserDataSettings::reconcile_every`], in
//!   case the key was enabled again. Any other refusal leaves the account on REST.
//! - A book that is closed ([`BalanceBook::close`], when its key is replaced or deleted) or whose
//!   last clone is dropped is unsubscribed (`userDataStream.unsubscribe` with its
//!   `subscriptionId`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::warn;

use crate::account::Balance;
use crate::client::{Client, lock};
use crate::error::{BinanceError, ErrorKind, ExchangeRefusal, RequestKind};
use crate::wire::Fields;

/// The most user data subscriptions Binance allows on one WebSocket API connection at a time.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 1_000;
/// What connecting and each request weigh in the IP's weight.
const REQUEST_WEIGHT: u64 = 2;
/// The method that subscribes an account with its signature.
const SUBSCRIBE: &str = "userDataStream.subscribe.signature";
/// The method that ends a subscription.
const UNSUBSCRIBE: &str = "userDataStream.unsubscribe";
/// What a connection attempt is called in errors and in the budget.
const CONNECT: &str = "WebSocket API connection";
/// "Maximum subscription ID reached for this connection": only a new connection helps.
const SUBSCRIPTION_IDS_SPENT: i64 = -2042;
/// The shortest period of the reconcile task.
const MIN_RECONCILE_TICK: Duration = Duration::from_millis(10);

/// How a [`UserDataHub`] keeps its books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDataSettings {
    /// How often a book that was asked for is replaced with a REST read (and how long a refused
    /// key waits before it is tried again).
    pub reconcile_every: Duration,
    /// How long a connection may stay silent (no event, answer or ping) before it is taken for
    /// dead and reopened. Binance pings every 20 s.
    pub idle_timeout: Duration,
    /// How many accounts one connection carries (at most [`MAX_SUBSCRIPTIONS_PER_CONNECTION`]).
    pub max_subscriptions_per_connection: usize,
}

impl Default for UserDataSettings {
    /// A reconcile every 5 minutes, 60 s of silence, 1,000 accounts per connection.
    fn default() -> UserDataSettings {
        UserDataSettings {
            reconcile_every: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(60),
            max_subscriptions_per_connection: MAX_SUBSCRIPTIONS_PER_CONNECTION,
        }
    }
}

/// One venue's user data streams: every account's [`BalanceBook`], over as few WebSocket API
/// connections as Binance's limits allow. Cheap to clone; the connections close once the hub
/// and every book are dropped.
#[derive(Debug, Clone)]
pub struct UserDataHub {
    inner: Arc<Hub>,
}

#[derive(Debug)]
struct Hub {
    /// The venue's client: its budget, clock, URLs and retry policy.
    venue: Client,
    settings: UserDataSettings,
    /// The live books, by API key.
    books: Mutex<HashMap<String, Weak<Book>>>,
    /// The connections, each with the number of accounts it carries.
    connections: Mutex<Vec<Arc<Link>>>,
    next_account: AtomicU64,
    /// Whether the reconcile task runs.
    reconciling: AtomicBool,
}

/// The way to one connection's task.
#[derive(Debug)]
struct Link {
    commands: mpsc::UnboundedSender<Command>,
    accounts: AtomicUsize,
}

/// A connection's account number.
type AccountId = u64;

/// What a connection's task is told.
#[derive(Debug)]
enum Command {
    /// Carry (and subscribe) this book.
    Add(AccountId, Weak<Book>),
    /// Unsubscribe and forget the account.
    Remove(AccountId),
    /// Subscribe the account again (it was refused a while ago).
    Retry(AccountId),
}

impl UserDataHub {
    /// The hub of the venue `venue` speaks to (a client of the venue; its credentials, if any,
    /// are not used). Nothing connects before the first book.
    pub fn new(venue: Client, settings: UserDataSettings) -> UserDataHub {
        UserDataHub {
            inner: Arc::new(Hub {
                venue,
                settings,
                books: Mutex::new(HashMap::new()),
                connections: Mutex::new(Vec::new()),
                next_account: AtomicU64::new(0),
                reconciling: AtomicBool::new(false),
            }),
        }
    }

    /// The book of `account`'s account (a client of this venue with credentials): the one
    /// already kept for its API key, or a new one, subscribed at once. Must be called inside a
    /// Tokio runtime. A client without credentials is an invalid request.
    pub fn book(&self, account: &Client) -> Result<BalanceBook, BinanceError> {
        let hub = &self.inner;
        let api_key = account
            .credentials()
            .map(|credentials| credentials.api_key().to_owned())
            .ok_or_else(|| {
                BinanceError::invalid_request(
                    SUBSCRIBE,
                    "a balance book needs the account's credentials: build it from the account's client",
                )
            })?;
        let mut books = lock(&hub.books);
        if let Some(book) = books.get(&api_key).and_then(Weak::upgrade)
            && !book.closed.load(Ordering::SeqCst)
        {
            return Ok(BalanceBook { inner: book });
        }
        let link = hub.link_with_room();
        let id = hub.next_account.fetch_add(1, Ordering::SeqCst);
        let book = Arc::new(Book {
            id,
            client: account.clone(),
            retry_after: hub.settings.reconcile_every,
            link: link.clone(),
            removed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            state: Mutex::new(BookState::new()),
            refreshing: tokio::sync::Mutex::new(()),
        });
        books.retain(|_, book| book.strong_count() > 0);
        books.insert(api_key, Arc::downgrade(&book));
        drop(books);
        // The task ends only when every sender is gone, and this link holds one.
        let _ = link.commands.send(Command::Add(id, Arc::downgrade(&book)));
        if !hub.reconciling.swap(true, Ordering::SeqCst) {
            tokio::spawn(reconcile(Arc::downgrade(hub)));
        }
        Ok(BalanceBook { inner: book })
    }

    /// How many WebSocket API connections the hub has opened (or is opening).
    pub fn connections(&self) -> usize {
        lock(&self.inner.connections).len()
    }
}

impl Hub {
    /// A connection with room for one more account, opened when none has.
    fn link_with_room(&self) -> Arc<Link> {
        let most = self
            .settings
            .max_subscriptions_per_connection
            .clamp(1, MAX_SUBSCRIPTIONS_PER_CONNECTION);
        let mut connections = lock(&self.connections);
        if let Some(link) = connections
            .iter()
            .find(|link| link.accounts.load(Ordering::SeqCst) < most)
        {
            link.accounts.fetch_add(1, Ordering::SeqCst);
            return link.clone();
        }
        let (commands, received) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            commands,
            accounts: AtomicUsize::new(1),
        });
        connections.push(link.clone());
        tokio::spawn(run_connection(
            self.venue.clone(),
            self.settings.idle_timeout,
            received,
        ));
        link
    }
}

/// Replaces, every tick, the books asked for since their last REST read with a new one, until
/// the hub is gone.
async fn reconcile(hub: Weak<Hub>) {
    loop {
        let Some(every) = hub.upgrade().map(|hub| hub.settings.reconcile_every) else {
            return;
        };
        tokio::time::sleep((every / 4).max(MIN_RECONCILE_TICK)).await;
        let Some(due) = hub.upgrade().map(|hub| {
            lock(&hub.books)
                .values()
                .filter_map(Weak::upgrade)
                .filter(|book| lock(&book.state).reconcile_due(every))
                .collect::<Vec<_>>()
        }) else {
            return;
        };
        for book in due {
            // A failure leaves the book as it was; the next tick tries again.
            let _ = book.refresh(Refresh::Reconcile).await;
        }
    }
}

/// One account's balances, kept from its user data stream (see the module's documentation).
/// Cheap to clone; the subscription ends when the last clone is dropped or the book is
/// [closed](Self::close).
#[derive(Debug, Clone)]
pub struct BalanceBook {
    inner: Arc<Book>,
}

impl BalanceBook {
    /// The account's non-zero balances, sorted by asset: from memory while the account's
    /// subscription is live and its book primed (no request), otherwise from one REST
    /// `GET /api/v3/account` (weight 20), which primes the book when the subscription is live.
    /// When the exchange refused the key's subscription, its error, without a request: the
    /// user must fix the key ([`BinanceError::key_problem`]).
    pub async fn balances(&self) -> Result<Vec<Balance>, BinanceError> {
        if let Some(answer) = self.inner.answer_from_memory() {
            return answer;
        }
        self.inner.refresh(Refresh::Ask).await
    }

    /// Whether [`balances`](Self::balances) answers from memory now.
    pub fn is_live(&self) -> bool {
        lock(&self.inner.state).answers_from_memory()
    }

    /// The exchange's refusal of the key's subscription, if it refused it.
    pub fn refusal(&self) -> Option<BinanceError> {
        match &lock(&self.inner.state).subscription {
            Subscription::Refused { error, .. } => Some(error.clone()),
            _ => None,
        }
    }

    /// Applies a fill of ours the exchange confirmed at `update_ms` (its `transactTime`):
    /// `changes` are what it moved per asset (the base and quote amounts, less the commission in
    /// its asset). The fill's own event may come before or after: an asset an event at or after
    /// `update_ms` already set is left as that event says, and an event older than the fill
    /// does not overwrite what the fill set. So an order sized right after another of the same
    /// account, even before the stream told of the first, sees its balances after the first.
    pub fn apply_fill(&self, update_ms: i64, changes: &[(String, Decimal)]) {
        lock(&self.inner.state).apply_fill(update_ms, changes);
    }

    /// The account's API key.
    pub fn api_key(&self) -> &str {
        self.inner
            .client
            .credentials()
            .map_or("", |credentials| credentials.api_key())
    }

    /// Ends the subscription now (the key was replaced or deleted); the book, and every clone,
    /// answers by REST from then on, with the credentials it was built with.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.remove();
        lock(&self.inner.state).set_closed();
    }
}

/// Where an account's subscription stands.
#[derive(Debug, Clone)]
enum Subscription {
    /// Not subscribed (yet, or any more): connecting, subscribing, or the connection is down.
    Pending,
    /// Subscribed: events arrive.
    Live,
    /// The exchange refused the subscription, `since` then.
    Refused { error: BinanceError, since: Instant },
    /// The book was closed: it will not subscribe again.
    Closed,
}

/// What one asset holds, and the exchange's time of the event that said so (`None` from REST).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    free: Decimal,
    locked: Decimal,
    updated_ms: Option<i64>,
}

/// An `outboundAccountPosition`: the assets it lists as they are at `update_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    update_ms: i64,
    balances: Vec<Balance>,
}

#[derive(Debug)]
struct BookState {
    subscription: Subscription,
    /// Moves on every change of `subscription`: a REST read started in another epoch is not
    /// installed.
    epoch: u64,
    /// Whether `assets` holds a REST read and every event of the live subscription since.
    primed: bool,
    /// A `balanceUpdate` came: the next ask reads the account by REST.
    stale: bool,
    assets: BTreeMap<String, Held>,
    /// The events that came during a REST read, applied on top of it when it is in.
    during_read: Option<Vec<Position>>,
    last_asked: Instant,
    last_read: Option<Instant>,
}

impl BookState {
    fn new() -> BookState {
        BookState {
            subscription: Subscription::Pending,
            epoch: 0,
            primed: false,
            stale: false,
            assets: BTreeMap::new(),
            during_read: None,
            last_asked: Instant::now(),
            last_read: None,
        }
    }

    fn answers_from_memory(&self) -> bool {
        matches!(self.subscription, Subscription::Live) && self.primed && !self.stale
    }

    /// See [`BalanceBook::apply_fill`]. Without a primed book there is nothing to adjust (REST
    /// answers next); during a REST read the read may or may not show the fill, so the book is
    /// read again.
    fn apply_fill(&mut self, update_ms: i64, changes: &[(String, Decimal)]) {
        if !self.primed {
            return;
        }
        if self.during_read.is_some() {
            self.stale = true;
            return;
        }
        for (asset, change) in changes {
            let held = self.assets.entry(asset.clone()).or_insert(Held {
                free: Decimal::ZERO,
                locked: Decimal::ZERO,
                updated_ms: None,
            });
            if held
                .updated_ms
                .is_none_or(|updated_ms| updated_ms < update_ms)
            {
                held.free += change;
                held.updated_ms = Some(update_ms);
            }
        }
    }

    /// Whether the reconcile should read the book now: live, primed, asked for since its last
    /// REST read, which is `every` old.
    fn reconcile_due(&self, every: Duration) -> bool {
        self.answers_from_memory()
            && self
                .last_read
                .is_some_and(|read| read.elapsed() >= every && self.last_asked > read)
    }

    /// The balances held, zero ones left out (as REST leaves them out).
    fn view(&self) -> Vec<Balance> {
        self.assets
            .iter()
            .filter(|(_, held)| !(held.free.is_zero() && held.locked.is_zero()))
            .map(|(asset, held)| Balance {
                asset: asset.clone(),
                free: held.free,
                locked: held.locked,
            })
            .collect()
    }

    fn change(&mut self, subscription: Subscription) {
        self.subscription = subscription;
        self.epoch += 1;
        self.primed = false;
        self.during_read = None;
    }

    fn set_closed(&mut self) {
        self.change(Subscription::Closed);
    }

    fn apply(&mut self, position: &Position) {
        if let Some(during_read) = &mut self.during_read {
            during_read.push(position.clone());
        }
        for balance in &position.balances {
            let newer = self.assets.get(&balance.asset).is_none_or(|held| {
                held.updated_ms
                    .is_none_or(|updated_ms| updated_ms <= position.update_ms)
            });
            if newer {
                self.assets.insert(
                    balance.asset.clone(),
                    Held {
                        free: balance.free,
                        locked: balance.locked,
                        updated_ms: Some(position.update_ms),
                    },
                );
            }
        }
    }

    /// Replaces the book with a REST read, then applies the events that came during it.
    fn install(&mut self, balances: &[Balance]) {
        self.assets = balances
            .iter()
            .map(|balance| {
                let held = Held {
                    free: balance.free,
                    locked: balance.locked,
                    updated_ms: None,
                };
                (balance.asset.clone(), held)
            })
            .collect();
        for position in self.during_read.take().unwrap_or_default() {
            self.apply(&position);
        }
        self.primed = true;
        self.stale = false;
        self.last_read = Some(Instant::now());
    }
}

/// Why a book is read by REST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Asked for when memory cannot answer.
    Ask,
    /// Primed right after its subscription was confirmed.
    Prime,
    /// The periodic reconcile: a difference is logged.
    Reconcile,
}

#[derive(Debug)]
struct Book {
    id: AccountId,
    /// The account's client: REST reads and the subscription's signature.
    client: Client,
    /// How long a refused subscription waits before an ask tries it again.
    retry_after: Duration,
    link: Arc<Link>,
    /// Whether the connection was told to forget the account.
    removed: AtomicBool,
    closed: AtomicBool,
    state: Mutex<BookState>,
    /// Held during a REST read, so that concurrent asks make one.
    refreshing: tokio::sync::Mutex<()>,
}

impl Book {
    /// The answer from memory, or the refusal of the key; `None` when REST must answer. Asks for
    /// the subscription again when it was refused long enough ago.
    fn answer_from_memory(&self) -> Option<Result<Vec<Balance>, BinanceError>> {
        let mut state = lock(&self.state);
        state.last_asked = Instant::now();
        if state.answers_from_memory() {
            return Some(Ok(state.view()));
        }
        let Subscription::Refused { error, since } = &mut state.subscription else {
            return None;
        };
        let error = error.clone();
        if since.elapsed() >= self.retry_after {
            *since = Instant::now();
            // A task that is gone has no subscription to retry.
            let _ = self.link.commands.send(Command::Retry(self.id));
        }
        error.key_problem().map(|_| Err(error))
    }

    /// Reads the account by REST and, when the subscription is live, installs the read (with the
    /// events that came during it) as the book.
    async fn refresh(&self, why: Refresh) -> Result<Vec<Balance>, BinanceError> {
        let _reading = self.refreshing.lock().await;
        let epoch = {
            let mut state = lock(&self.state);
            let answered = state.answers_from_memory() && why != Refresh::Reconcile;
            if answered {
                return Ok(state.view());
            }
            if matches!(state.subscription, Subscription::Live) {
                state.during_read = Some(Vec::new());
            }
            state.epoch
        };
        let read = self.client.balances().await;
        let mut state = lock(&self.state);
        let current = state.epoch == epoch && matches!(state.subscription, Subscription::Live);
        let balances = match read {
            Ok(balances) => balances,
            Err(error) => {
                if state.epoch == epoch {
                    state.during_read = None;
                }
                return Err(error);
            }
        };
        if current {
            let held = state.view();
            state.install(&balances);
            if why == Refresh::Reconcile && held != state.view() {
                warn!(
                    api_key = self.client.credentials().map_or("", |c| c.api_key()),
                    memory = ?held,
                    exchange = ?state.view(),
                    "the balances kept from the user data stream differed from the exchange's; replaced with the exchange's"
                );
            }
        }
        Ok(balances)
    }

    /// Tells the connection to unsubscribe and forget the account, once.
    fn remove(&self) {
        if !self.removed.swap(true, Ordering::SeqCst) {
            self.link.accounts.fetch_sub(1, Ordering::SeqCst);
            let _ = self.link.commands.send(Command::Remove(self.id));
        }
    }
}

impl Drop for Book {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A connection task's account.
#[derive(Debug)]
struct Member {
    book: Weak<Book>,
    /// The subscription carrying its events, when live.
    subscription: Option<u64>,
}

/// What a request was, by its id.
#[derive(Debug, Clone, Copy)]
enum Pending {
    Subscribe(AccountId),
    Unsubscribe,
}

/// A request for the writer, which spends its weight, then signs (just before sending, so the
/// timestamp is fresh) and sends it.
#[derive(Debug)]
enum Outgoing {
    Subscribe { id: u64, account: Client },
    Unsubscribe { id: u64, subscription_id: u64 },
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The connection was lost (or must be renewed); `subscribed` when it confirmed any
    /// subscription.
    Lost { subscribed: bool },
    /// Every book and the hub are gone.
    Unused,
}

/// One connection: opens it while it has accounts, serves it, and reopens it after a backoff
/// when it is lost; ends when every sender of `commands` is gone.
async fn run_connection(
    venue: Client,
    idle_timeout: Duration,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut members: HashMap<AccountId, Member> = HashMap::new();
    let mut retry = 0u32;
    loop {
        while members.is_empty() {
            match commands.recv().await {
                Some(command) => offline(&mut members, command),
                None => return,
            }
        }
        let ended = match connect(&venue).await {
            Some(socket) => {
                session(&venue, idle_timeout, socket, &mut members, &mut commands).await
            }
            None => Ended::Lost { subscribed: false },
        };
        for member in members.values_mut() {
            member.subscription = None;
            if let Some(book) = member.book.upgrade() {
                let mut state = lock(&book.state);
                if !matches!(
                    state.subscription,
                    Subscription::Closed | Subscription::Refused { .. }
                ) {
                    state.change(Subscription::Pending);
                }
            }
        }
        match ended {
            Ended::Unused => return,
            Ended::Lost { subscribed: true } => retry = 0,
            Ended::Lost { subscribed: false } => {}
        }
        let pause = venue.config().retry.backoff(retry);
        retry = retry.saturating_add(1);
        let resume = tokio::time::sleep(pause);
        tokio::pin!(resume);
        loop {
            tokio::select! {
                () = &mut resume => break,
                command = commands.recv() => match command {
                    Some(command) => offline(&mut members, command),
                    None => return,
                },
            }
        }
    }
}

/// A command while there is no connection: the next one subscribes whoever is a member.
fn offline(members: &mut HashMap<AccountId, Member>, command: Command) {
    match command {
        Command::Add(id, book) => {
            members.insert(
                id,
                Member {
                    book,
                    subscription: None,
                },
            );
        }
        Command::Remove(id) => {
            members.remove(&id);
        }
        Command::Retry(_) => {}
    }
}

/// Opens the connection after spending its weight; `None` when it failed.
async fn connect(venue: &Client) -> Option<Socket> {
    let config = venue.config();
    if venue
        .spend_ws_weight(REQUEST_WEIGHT, CONNECT)
        .await
        .is_err()
    {
        return None;
    }
    let connected = tokio::time::timeout(
        config.connect_timeout,
        tokio_tungstenite::connect_async(config.ws_api_url.as_str()),
    )
    .await;
    match connected {
        Ok(Ok((socket, _))) => Some(socket),
        Ok(Err(error)) => {
            warn!(url = %config.ws_api_url, %error, "cannot open the WebSocket API connection of the user data streams: retrying after a backoff");
            None
        }
        Err(_) => None,
    }
}

/// The state of one open connection.
struct Session<'a> {
    venue: &'a Client,
    members: &'a mut HashMap<AccountId, Member>,
    /// Subscription id → account.
    subscriptions: HashMap<u64, AccountId>,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    subscribed: bool,
}

/// Serves an open connection: subscribes every member, then applies events and commands until
/// the connection is lost or nobody needs it.
async fn session(
    venue: &Client,
    idle_timeout: Duration,
    socket: Socket,
    members: &mut HashMap<AccountId, Member>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Ended {
    let (sink, mut stream) = socket.split();
    let (outgoing, to_send) = mpsc::unbounded_channel();
    let writer = Writer(tokio::spawn(write(venue.clone(), sink, to_send)));
    let mut session = Session {
        venue,
        members,
        subscriptions: HashMap::new(),
        pending: HashMap::new(),
        next_id: 0,
        outgoing,
        subscribed: false,
    };
    let ids: Vec<AccountId> = session.members.keys().copied().collect();
    for id in ids {
        session.subscribe(id);
    }
    let ended = loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => session.command(command),
                None => break Ended::Unused,
            },
            read = tokio::time::timeout(idle_timeout, stream.next()) => match read {
                Ok(Some(Ok(Message::Text(text)))) => {
                    if !session.message(text.as_str()) {
                        break Ended::Lost { subscribed: session.subscribed };
                    }
                }
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) | Err(_) => {
                    break Ended::Lost { subscribed: session.subscribed };
                }
                // Pings are answered by the WebSocket layer on the next read.
                Ok(Some(Ok(_))) => {}
            },
        }
    };
    drop(writer);
    ended
}

/// The writer task; aborted when dropped.
struct Writer(tokio::task::JoinHandle<()>);

impl Drop for Writer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends each request after spending its weight (waiting for the budget as long as it takes),
/// signing subscriptions just before they go.
async fn write(
    venue: Client,
    mut sink: SplitSink<Socket, Message>,
    mut to_send: mpsc::UnboundedReceiver<Outgoing>,
) {
    while let Some(request) = to_send.recv().await {
        let name = match request {
            Outgoing::Subscribe { .. } => SUBSCRIBE,
            Outgoing::Unsubscribe { .. } => UNSUBSCRIBE,
        };
        while let Err(error) = venue.spend_ws_weight(REQUEST_WEIGHT, name).await {
            tokio::time::sleep(error.retry_after().unwrap_or(Duration::from_secs(1))).await;
        }
        let text = match request {
            Outgoing::Subscribe { id, account } => match subscribe_request(id, &account).await {
                Ok(text) => text,
                // The exchange's clock could not be read: the connection is closed, so that the
                // next one subscribes every account again after a backoff.
                Err(error) => {
                    warn!(%error, "cannot sign a user data stream subscription: reconnecting");
                    let _ = sink.send(Message::Close(None)).await;
                    return;
                }
            },
            Outgoing::Unsubscribe {
                id,
                subscription_id,
            } => json!({"id": id, "method": UNSUBSCRIBE, "params": {"subscriptionId": subscription_id}})
                .to_string(),
        };
        if sink.send(Message::text(text)).await.is_err() {
            return;
        }
    }
}

/// `userDataStream.subscribe.signature` for `account`: `apiKey`, `recvWindow` and `timestamp`
/// signed as `name=value` pairs sorted by name, as the WebSocket API signs.
async fn subscribe_request(id: u64, account: &Client) -> Result<String, BinanceError> {
    let credentials = account.credentials().ok_or_else(|| {
        BinanceError::invalid_request(SUBSCRIBE, "the account's client has no credentials")
    })?;
    let timestamp = account.server_now_ms().await?;
    let recv_window = account.config().recv_window.as_millis();
    let api_key = credentials.api_key();
    let payload = format!("apiKey={api_key}&recvWindow={recv_window}&timestamp={timestamp}");
    let signature = credentials.sign(&payload);
    let params = json!({
        "apiKey": api_key,
        "recvWindow": recv_window,
        "timestamp": timestamp,
        "signature": signature,
    });
    Ok(json!({"id": id, "method": SUBSCRIBE, "params": params}).to_string())
}

impl Session<'_> {
    fn command(&mut self, command: Command) {
        match command {
            Command::Add(id, book) => {
                self.members.insert(
                    id,
                    Member {
                        book,
                        subscription: None,
                    },
                );
                self.subscribe(id);
            }
            Command::Remove(id) => {
                let Some(member) = self.members.remove(&id) else {
                    return;
                };
                if let Some(subscription_id) = member.subscription {
                    self.subscriptions.remove(&subscription_id);
                    let id = self.request(Pending::Unsubscribe);
                    let _ = self.outgoing.send(Outgoing::Unsubscribe {
                        id,
                        subscription_id,
                    });
                }
            }
            Command::Retry(id) => {
                let waiting = self
                    .members
                    .get(&id)
                    .is_some_and(|member| member.subscription.is_none());
                let asked = self.pending.values().any(
                    |pending| matches!(pending, Pending::Subscribe(account) if *account == id),
                );
                if waiting && !asked {
                    self.subscribe(id);
                }
            }
        }
    }

    /// A new request id, remembered as `pending`.
    fn request(&mut self, pending: Pending) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, pending);
        id
    }

    /// Sends the subscription of member `account`, unless its book is gone or closed.
    fn subscribe(&mut self, account: AccountId) {
        let Some(book) = self
            .members
            .get(&account)
            .and_then(|member| member.book.upgrade())
        else {
            return;
        };
        if book.closed.load(Ordering::SeqCst) {
            return;
        }
        let id = self.request(Pending::Subscribe(account));
        let _ = self.outgoing.send(Outgoing::Subscribe {
            id,
            account: book.client.clone(),
        });
    }

    /// Handles one message; `false` when the connection must be renewed.
    fn message(&mut self, text: &str) -> bool {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return true;
        };
        if let Some(subscription_id) = message.get("subscriptionId").and_then(Value::as_u64) {
            if let Some(event) = message.get("event") {
                self.event(subscription_id, event);
            }
            return true;
        }
        if let Some(rate_limits) = message.get("rateLimits") {
            self.venue
                .observe_ws_usage(rate_limits, throttled_for(&message));
        }
        let Some(pending) = message
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| self.pending.remove(&id))
        else {
            return true;
        };
        let Pending::Subscribe(account) = pending else {
            return true;
        };
        match message
            .get("result")
            .and_then(|result| result.get("subscriptionId"))
            .and_then(Value::as_u64)
        {
            Some(subscription_id) => {
                self.subscribed(account, subscription_id);
                true
            }
            None => self.refused(account, &message),
        }
    }

    /// A confirmed subscription: the book is live and, if asked for recently, primed now.
    fn subscribed(&mut self, account: AccountId, subscription_id: u64) {
        let Some(member) = self.members.get_mut(&account) else {
            // Removed while subscribing: end it.
            let id = self.request(Pending::Unsubscribe);
            let _ = self.outgoing.send(Outgoing::Unsubscribe {
                id,
                subscription_id,
            });
            return;
        };
        member.subscription = Some(subscription_id);
        self.subscriptions.insert(subscription_id, account);
        self.subscribed = true;
        let Some(book) = member.book.upgrade() else {
            return;
        };
        let prime = {
            let mut state = lock(&book.state);
            state.change(Subscription::Live);
            state.last_asked.elapsed() < book.retry_after
        };
        if prime {
            tokio::spawn(async move {
                // A failure leaves the book unprimed: the next ask reads it.
                let _ = book.refresh(Refresh::Prime).await;
            });
        }
    }

    /// A refused subscription: throttled, it is sent again (the budget waits); refused for
    /// the key or anything else, the book says so. Returns `false` when only a new
    /// connection can subscribe again.
    fn refused(&mut self, account: AccountId, answer: &Value) -> bool {
        let refusal = read_refusal(answer);
        if refusal.status == 429 || refusal.status == 418 {
            self.subscribe(account);
            return true;
        }
        if refusal.code == Some(SUBSCRIPTION_IDS_SPENT) {
            return false;
        }
        let error = BinanceError::new(SUBSCRIBE, RequestKind::Read, ErrorKind::Exchange(refusal));
        if let Some(book) = self
            .members
            .get(&account)
            .and_then(|member| member.book.upgrade())
        {
            warn!(api_key = book.client.credentials().map_or("", |c| c.api_key()), %error, "the exchange refused an account's user data stream: its balances are read by REST, or its key's error is reported");
            lock(&book.state).change(Subscription::Refused {
                error,
                since: Instant::now(),
            });
        }
        true
    }

    /// An event of subscription `subscription_id`.
    fn event(&mut self, subscription_id: u64, event: &Value) {
        let Some(&account) = self.subscriptions.get(&subscription_id) else {
            return;
        };
        let Some(book) = self
            .members
            .get(&account)
            .and_then(|member| member.book.upgrade())
        else {
            return;
        };
        match event.get("e").and_then(Value::as_str) {
            Some("outboundAccountPosition") => match read_position(event) {
                Ok(position) => lock(&book.state).apply(&position),
                Err(what) => {
                    warn!(%what, "an unreadable outboundAccountPosition: the book is read again by REST");
                    lock(&book.state).stale = true;
                }
            },
            Some("balanceUpdate") => lock(&book.state).stale = true,
            Some("eventStreamTerminated") => {
                self.subscriptions.remove(&subscription_id);
                if let Some(member) = self.members.get_mut(&account) {
                    member.subscription = None;
                }
                lock(&book.state).change(Subscription::Pending);
                self.subscribe(account);
            }
            _ => {}
        }
    }
}

/// The wait a 429 or 418 answer asks for (`retryAfter` less `serverTime`).
fn throttled_for(answer: &Value) -> Option<Duration> {
    let status = answer.get("status").and_then(Value::as_u64)?;
    if status != 429 && status != 418 {
        return None;
    }
    let data = answer.get("error")?.get("data")?;
    let retry_after = data.get("retryAfter")?.as_i64()?;
    let server_time = data.get("serverTime")?.as_i64()?;
    Some(Duration::from_millis(
        u64::try_from(retry_after.saturating_sub(server_time)).unwrap_or(0),
    ))
}

/// An error answer `{"status", "error": {"code", "msg"}}` as a refusal.
fn read_refusal(answer: &Value) -> ExchangeRefusal {
    let error = answer.get("error");
    ExchangeRefusal {
        status: answer
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|status| u16::try_from(status).ok())
            .unwrap_or(0),
        code: error
            .and_then(|error| error.get("code"))
            .and_then(Value::as_i64),
        message: error
            .and_then(|error| error.get("msg"))
            .and_then(Value::as_str)
            .map_or_else(|| answer.to_string(), str::to_owned),
        retry_after: throttled_for(answer),
        used_weight: Vec::new(),
    }
}

/// `outboundAccountPosition`: `u` and `B: [{"a", "f", "l"}]`.
fn read_position(event: &Value) -> Result<Position, String> {
    let fields = Fields::new(event, "outboundAccountPosition")?;
    let balances = fields
        .array("B")?
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let balance = Fields::new(entry, format!("B[{index}]"))?;
            Ok(Balance {
                asset: balance.str("a")?.to_owned(),
                free: balance.decimal("f")?,
                locked: balance.decimal("l")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Position {
        update_ms: fields.i64("u")?,
        balances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(whole: i64) -> Decimal {
        Decimal::from(whole)
    }

    fn position(update_ms: i64, asset: &str, free: Decimal) -> Position {
        Position {
            update_ms,
            balances: vec![Balance {
                asset: asset.to_owned(),
                free,
                locked: Decimal::ZERO,
            }],
        }
    }

    #[test]
    fn an_older_position_does_not_overwrite_a_newer_one_and_zero_balances_are_left_out() {
        let mut state = BookState::new();
        state.apply(&position(20, "BTC", dec(1)));
        state.apply(&position(10, "BTC", dec(5)));
        state.apply(&position(20, "USDT", dec(0)));
        assert_eq!(
            state.view(),
            [Balance {
                asset: "BTC".into(),
                free: dec(1),
                locked: Decimal::ZERO
            }]
        );
    }

    #[test]
    fn events_during_a_rest_read_are_applied_on_top_of_it() {
        let mut state = BookState::new();
        state.change(Subscription::Live);
        state.during_read = Some(Vec::new());
        state.apply(&position(30, "BTC", dec(2)));
        let rest = [
            Balance {
                asset: "BTC".into(),
                free: dec(1),
                locked: Decimal::ZERO,
            },
            Balance {
                asset: "USDT".into(),
                free: dec(100),
                locked: Decimal::ZERO,
            },
        ];
        state.install(&rest);
        assert!(state.answers_from_memory());
        let free: Vec<Decimal> = state.view().iter().map(|balance| balance.free).collect();
        assert_eq!(free, [dec(2), dec(100)]);
    }

    #[test]
    fn a_fill_of_ours_moves_the_book_unless_its_event_came_first() {
        let mut state = BookState::new();
        state.change(Subscription::Live);
        state.install(&[]);
        state.apply(&position(10, "BTC", dec(1)));
        let bought = [("BTC".to_owned(), dec(2)), ("USDT".to_owned(), -dec(100))];
        state.apply_fill(50, &bought);
        let free: Vec<Decimal> = state.view().iter().map(|balance| balance.free).collect();
        assert_eq!(
            free,
            [dec(3), -dec(100)],
            "BTC 1 + 2, USDT moved by the fill"
        );
        // An event from before the fill does not undo it; the fill's own event sets the truth.
        state.apply(&position(49, "BTC", dec(1)));
        assert_eq!(state.view()[0].free, dec(3));
        state.apply(&position(50, "BTC", dec(3)));
        assert_eq!(state.view()[0].free, dec(3));
        // A fill whose event came first is not applied twice.
        state.apply(&position(70, "BTC", dec(5)));
        state.apply_fill(70, &[("BTC".to_owned(), dec(2))]);
        assert_eq!(state.view()[0].free, dec(5));
    }

    #[test]
    fn reads_an_account_position_and_names_what_is_wrong() {
        let event = json!({"e": "outboundAccountPosition", "E": 5, "u": 4, "B": [{"a": "ETH", "f": "10000.000000", "l": "0.50000000"}]});
        let position = read_position(&event).unwrap();
        assert_eq!(position.update_ms, 4);
        assert_eq!(position.balances[0].locked, Decimal::new(5, 1));
        let mut broken = event.clone();
        broken["B"][0]["f"] = json!(1);
        assert!(read_position(&broken).unwrap_err().contains("B[0].f"));
    }

    #[test]
    fn a_throttled_answer_says_how_long_to_wait() {
        let answer = json!({"id": 1, "status": 429, "error": {"code": -1003, "msg": "Too many", "data": {"serverTime": 1000, "retryAfter": 4000}}});
        assert_eq!(throttled_for(&answer), Some(Duration::from_secs(3)));
        let refusal = read_refusal(
            &json!({"id": 1, "status": 401, "error": {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}}),
        );
        assert_eq!((refusal.status, refusal.code), (401, Some(-2015)));
    }
}
