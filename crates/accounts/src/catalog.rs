//! [`SymbolCatalog`]: the symbols one venue lists, with their trading rules, read from that
//! venue's own `GET /api/v3/exchangeInfo` (so a testnet bot is checked against the testnet, not
//! against whatever another exchange lists), cached for [`SymbolCatalog::max_age`] and read
//! again when older, or at once after the exchange refused an order for its filters (-1013) or
//! its symbol (-1121) ([`SymbolCatalog::invalidate`]).
//!
//! One load at a time: concurrent lookups wait for the load in flight instead of each asking the
//! exchange (a listing weighs 20 of Binance's request weight). When a reload fails, the listing
//! already held keeps serving (a stale list of symbols beats none) and the failure is logged;
//! only a catalog that never loaded reports [`CatalogError`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use binance::{BinanceError, Client};
use market::SymbolRules;
use store::Mode;
use tracing::{info, warn};

/// How long a listing is used before it is read again, by default.
pub const DEFAULT_LISTING_MAX_AGE: Duration = Duration::from_secs(600);

/// A venue's listing could not be read, and none was held.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read the symbols the {venue} exchange lists: {cause}")]
pub struct CatalogError {
    /// The venue.
    pub venue: Mode,
    /// What the exchange answered, or why it could not be reached.
    pub cause: BinanceError,
}

/// Where a catalog's listing comes from.
#[derive(Debug)]
enum Source {
    /// The venue's exchange, over its `exchangeInfo`.
    Exchange(Client),
    /// A listing known without asking (the built-in exchange's own, read by a command that does
    /// not run it); never reloaded.
    Fixed,
}

/// A listing as loaded.
#[derive(Debug)]
struct Loaded {
    at: Instant,
    symbols: Arc<HashMap<String, Arc<SymbolRules>>>,
}

/// The symbols one venue lists, cached (see the module's documentation).
#[derive(Debug)]
pub struct SymbolCatalog {
    venue: Mode,
    source: Source,
    max_age: Duration,
    /// Held while loading, so that one lookup loads and the others wait for it.
    loaded: tokio::sync::Mutex<Option<Loaded>>,
    /// Set by [`SymbolCatalog::invalidate`]: the next lookup reloads whatever the listing's age.
    stale: std::sync::atomic::AtomicBool,
}

impl SymbolCatalog {
    /// The catalog of `venue`, read through `client` (public endpoints only) and kept for
    /// `max_age`.
    pub fn from_exchange(venue: Mode, client: Client, max_age: Duration) -> SymbolCatalog {
        SymbolCatalog {
            venue,
            source: Source::Exchange(client),
            max_age,
            loaded: tokio::sync::Mutex::new(None),
            stale: false.into(),
        }
    }

    /// A catalog of `venue` that lists exactly `rules`, for a command that checks bots against
    /// the built-in exchange without running it.
    pub fn fixed(venue: Mode, rules: impl IntoIterator<Item = SymbolRules>) -> SymbolCatalog {
        let symbols = rules
            .into_iter()
            .map(|rules| (rules.symbol.as_str().to_owned(), Arc::new(rules)))
            .collect();
        SymbolCatalog {
            venue,
            source: Source::Fixed,
            max_age: Duration::MAX,
            loaded: tokio::sync::Mutex::new(Some(Loaded {
                at: Instant::now(),
                symbols: Arc::new(symbols),
            })),
            stale: false.into(),
        }
    }

    /// The venue listed.
    pub fn venue(&self) -> Mode {
        self.venue
    }

    /// How long a listing is used before it is read again.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The rules of `symbol` (exact spelling) if the venue lists it.
    pub async fn rules(&self, symbol: &str) -> Result<Option<Arc<SymbolRules>>, CatalogError> {
        Ok(self.listing().await?.get(symbol).cloned())
    }

    /// Every symbol the venue lists, sorted.
    pub async fn symbol_names(&self) -> Result<Vec<String>, CatalogError> {
        let mut names: Vec<String> = self.listing().await?.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    /// Makes the next lookup read the listing again (the exchange refused an order for rules or
    /// a symbol the cached listing had wrong).
    pub fn invalidate(&self) {
        self.stale.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The listing, loaded first when there is none, it is older than `max_age`, or it was
    /// invalidated.
    async fn listing(&self) -> Result<Arc<HashMap<String, Arc<SymbolRules>>>, CatalogError> {
        let mut loaded = self.loaded.lock().await;
        let Source::Exchange(client) = &self.source else {
            return Ok(loaded
                .as_ref()
                .map(|held| held.symbols.clone())
                .unwrap_or_default());
        };
        let invalidated = self.stale.swap(false, std::sync::atomic::Ordering::Relaxed);
        if let Some(held) = loaded.as_ref()
            && !invalidated
            && held.at.elapsed() < self.max_age
        {
            return Ok(held.symbols.clone());
        }
        match client.exchange_listing().await {
            Ok(listing) => {
                for (symbol, reason) in &listing.unreadable {
                    warn!(venue = %self.venue, %symbol, %reason, "a listed symbol's rules cannot be read; bots cannot trade it");
                }
                let symbols: HashMap<String, Arc<SymbolRules>> = listing
                    .symbols
                    .into_iter()
                    .map(|rules| (rules.symbol.as_str().to_owned(), Arc::new(rules)))
                    .collect();
                info!(venue = %self.venue, symbols = symbols.len(), "exchange listing read");
                let symbols = Arc::new(symbols);
                *loaded = Some(Loaded {
                    at: Instant::now(),
                    symbols: symbols.clone(),
                });
                Ok(symbols)
            }
            Err(cause) => match loaded.as_ref() {
                Some(held) => {
                    // Still to be read again at the next lookup, not only once it is old.
                    if invalidated {
                        self.invalidate();
                    }
                    warn!(venue = %self.venue, error = %cause, "cannot read the exchange's listing again; using the one read before");
                    Ok(held.symbols.clone())
                }
                None => Err(CatalogError {
                    venue: self.venue,
                    cause,
                }),
            },
        }
    }
}

/// The catalog of every venue a process serves.
#[derive(Debug, Clone, Default)]
pub struct Catalogs {
    paper: Option<Arc<SymbolCatalog>>,
    testnet: Option<Arc<SymbolCatalog>>,
    live: Option<Arc<SymbolCatalog>>,
}

impl Catalogs {
    /// No venue at all.
    pub fn new() -> Catalogs {
        Catalogs::default()
    }

    /// The same catalogs with `catalog` serving its venue.
    pub fn with(mut self, catalog: Arc<SymbolCatalog>) -> Catalogs {
        let slot = match catalog.venue() {
            Mode::Paper => &mut self.paper,
            Mode::Testnet => &mut self.testnet,
            Mode::Live => &mut self.live,
        };
        *slot = Some(catalog);
        self
    }

    /// The catalog of `venue`, if this process serves it.
    pub fn get(&self, venue: Mode) -> Option<&Arc<SymbolCatalog>> {
        match venue {
            Mode::Paper => self.paper.as_ref(),
            Mode::Testnet => self.testnet.as_ref(),
            Mode::Live => self.live.as_ref(),
        }
    }
}
