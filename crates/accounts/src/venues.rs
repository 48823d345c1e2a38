//! The venues a process trades on: for each of paper, testnet and live that it serves, the
//! venue's shared exchange client (one connection pool, one server-time estimate and one IP
//! rate-limit budget, from which every user's account client is derived), its
//! [`SymbolCatalog`], its [`UserDataHub`] (every account's balances kept from its user data
//! stream, over as few WebSocket API connections as the exchange allows), and for paper, how
//! accounts are opened on it ([`PaperAccounts`]).
//!
//! Which venues a process serves, and at which URLs, is configuration (`spotbot run`'s
//! `[venues]`); a bot on a venue this process does not serve is left to a process that does.

use std::sync::Arc;

use binance::{Client, UserDataHub, UserDataSettings};
use store::Mode;

use crate::catalog::{Catalogs, DEFAULT_LISTING_MAX_AGE, SymbolCatalog};
use crate::paper::PaperAccounts;

/// One venue this process trades on.
#[derive(Debug)]
pub struct Venue {
    mode: Mode,
    client: Client,
    catalog: Arc<SymbolCatalog>,
    user_data: UserDataHub,
    paper_accounts: Option<PaperAccounts>,
}

impl Venue {
    /// `mode` at the exchange `client` speaks to (a client without credentials: accounts are
    /// derived from it), its listing kept for the default ten minutes, its balance books
    /// reconciled with the default [`UserDataSettings`].
    pub fn new(mode: Mode, client: Client) -> Venue {
        Venue {
            catalog: Arc::new(SymbolCatalog::from_exchange(
                mode,
                client.clone(),
                DEFAULT_LISTING_MAX_AGE,
            )),
            user_data: UserDataHub::new(client.clone(), UserDataSettings::default()),
            mode,
            client,
            paper_accounts: None,
        }
    }

    /// The same venue opening accounts with `accounts` (the paper venue).
    pub fn with_paper_accounts(mut self, accounts: PaperAccounts) -> Venue {
        self.paper_accounts = Some(accounts);
        self
    }

    /// Which venue.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The venue's shared client: market data, the exchange's time; signs nothing.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Its accounts' user data streams and balance books.
    pub fn user_data(&self) -> &UserDataHub {
        &self.user_data
    }

    /// The symbols it lists.
    pub fn catalog(&self) -> &Arc<SymbolCatalog> {
        &self.catalog
    }

    /// How accounts are opened on it, if this process opens them (the paper venue).
    pub fn paper_accounts(&self) -> Option<&PaperAccounts> {
        self.paper_accounts.as_ref()
    }
}

/// The venues a process serves.
#[derive(Debug, Clone, Default)]
pub struct Venues {
    paper: Option<Arc<Venue>>,
    testnet: Option<Arc<Venue>>,
    live: Option<Arc<Venue>>,
}

impl Venues {
    /// No venue at all.
    pub fn new() -> Venues {
        Venues::default()
    }

    /// The same venues with `venue` served too.
    pub fn with(mut self, venue: Venue) -> Venues {
        let mode = venue.mode;
        *self.slot(mode) = Some(Arc::new(venue));
        self
    }

    /// `mode`'s venue, if served here.
    pub fn get(&self, mode: Mode) -> Option<&Arc<Venue>> {
        match mode {
            Mode::Paper => self.paper.as_ref(),
            Mode::Testnet => self.testnet.as_ref(),
            Mode::Live => self.live.as_ref(),
        }
    }

    /// Whether bots of `mode` run here.
    pub fn serves(&self, mode: Mode) -> bool {
        self.get(mode).is_some()
    }

    /// Every venue served, paper first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Venue>> {
        [&self.paper, &self.testnet, &self.live]
            .into_iter()
            .flatten()
    }

    /// The catalogs of the venues served.
    pub fn catalogs(&self) -> Catalogs {
        self.iter().fold(Catalogs::new(), |catalogs, venue| {
            catalogs.with(venue.catalog.clone())
        })
    }

    fn slot(&mut self, mode: Mode) -> &mut Option<Arc<Venue>> {
        match mode {
            Mode::Paper => &mut self.paper,
            Mode::Testnet => &mut self.testnet,
            Mode::Live => &mut self.live,
        }
    }
}

/// What the operator does so that a process serves `mode`: the end of a message to a user whose
/// bot is on a venue the server does not trade.
pub fn how_to_serve(mode: Mode) -> &'static str {
    match mode {
        Mode::Paper => {
            "its operator sets [venues.paper] url to a running `spotbot sim`, or runs `spotbot run`, which has one built in"
        }
        Mode::Testnet => "its operator has switched the testnet off in [venues.testnet]",
        Mode::Live => {
            "live trading needs its operator's confirmation in the config ([live] confirm)"
        }
    }
}
