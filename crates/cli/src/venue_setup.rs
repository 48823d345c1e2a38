//! The venues a command trades on or checks against, from the configuration: each venue's shared
//! exchange client (retries from the configuration; a sped-up paper exchange's time modelled by
//! [`accounts::SimClock`]), and for the commands that only check bots and keys without running
//! the built-in exchange, the built-in exchange's own listing.

use std::sync::Arc;

use accounts::{Catalogs, PaperAccounts, SimClock, SymbolCatalog, Venue, Venues};
use binance::{Client, ClientConfig, RetryPolicy};
use store::Mode;

use crate::Failure;
use crate::run_config::{ConfigFile, VenueEndpoint};

/// A client (no credentials: accounts are derived from it) for the exchange at `endpoint`.
pub fn venue_client(endpoint: &VenueEndpoint, retry: RetryPolicy) -> Result<Client, Failure> {
    let mut config = ClientConfig::new(endpoint.rest_url.clone());
    config.stream_url = endpoint.stream_url.clone();
    config.ws_api_url = endpoint.ws_api_url.clone();
    config.retry = retry;
    Client::new(config).map_err(|error| {
        Failure::Usage(format!(
            "the exchange at {} cannot be used: {error}",
            endpoint.rest_url
        ))
    })
}

/// The client of the paper exchange at `url` (a `spotbot sim`), and the URL as used: when its
/// market runs faster than real time or on a manual clock, the client reads its modelled clock, and signs with
/// Binance's widest `recvWindow` (60 s of market time leaves 60 s / speed of real time).
pub async fn remote_paper_client(
    url: &str,
    retry: &RetryPolicy,
) -> Result<(Client, String), Failure> {
    let rest_url = url.trim_end_matches('/').to_owned();
    let mut config = ClientConfig::new(rest_url.clone());
    config.retry = retry.clone();
    if let Some(clock) = SimClock::of(&rest_url).await {
        if clock.is_manual() {
            println!(
                "spotbot: the paper exchange at {rest_url} runs on a manual clock, followed step by step"
            );
        } else {
            println!(
                "spotbot: the paper exchange at {rest_url} runs {}x faster than real time",
                clock.speed()
            );
        }
        config = config.with_server_clock(clock as Arc<dyn binance::ServerClock>);
    }
    let client = Client::new(config).map_err(|error| {
        Failure::Usage(format!(
            "the paper exchange at {rest_url} cannot be used: {error}"
        ))
    })?;
    Ok((client, rest_url))
}

/// The paper venue on `client`, the `spotbot sim` at `url`, opening accounts with the configured
/// starting balances through its admin API with `admin_token` (default the configured one).
pub fn paper_venue(
    config: &ConfigFile,
    client: Client,
    url: &str,
    admin_token: Option<String>,
) -> Result<Venue, Failure> {
    let balances = config.starting_balances().map_err(Failure::Usage)?;
    let mut accounts = PaperAccounts::new(url, balances)
        .map_err(|error| Failure::Usage(format!("the paper exchange at {url}: {error}")))?;
    let configured = || {
        config
            .venues
            .paper
            .admin_token
            .as_ref()
            .map(|token| token.expose().to_owned())
    };
    if let Some(token) = admin_token.or_else(configured) {
        accounts = accounts.with_admin_token(token);
    }
    Ok(Venue::new(Mode::Paper, client).with_paper_accounts(accounts))
}

/// `venues` with the testnet and live venues the configuration enables.
pub fn with_binance_venues(
    mut venues: Venues,
    config: &ConfigFile,
    retry: &RetryPolicy,
) -> Result<Venues, Failure> {
    config.check_live_confirmation().map_err(Failure::Usage)?;
    if let Some(endpoint) = config.testnet_endpoint() {
        let client = venue_client(&endpoint, retry.clone())?;
        venues = venues.with(Venue::new(Mode::Testnet, client));
    }
    if let Some(endpoint) = config.live_endpoint() {
        let client = venue_client(&endpoint, retry.clone())?;
        venues = venues.with(Venue::new(Mode::Live, client));
    }
    Ok(venues)
}

/// The venues a command that runs no exchange talks to: a configured paper exchange, the
/// testnet and live.
pub async fn external_venues(config: &ConfigFile) -> Result<Venues, Failure> {
    let retry = config
        .retry_policy(|name| std::env::var(name).ok())
        .map_err(Failure::Usage)?;
    let mut venues = Venues::new();
    if let Some(url) = config.paper_url() {
        let (client, url) = remote_paper_client(url, &retry).await?;
        venues = venues.with(paper_venue(config, client, &url, None)?);
    }
    with_binance_venues(venues, config, &retry)
}

/// The listings a command checks bots against without running the built-in exchange: the
/// external venues' own, and, when paper trades on the built-in exchange, that exchange's
/// listing (the one `spotbot run` serves).
pub async fn command_catalogs(config: &ConfigFile) -> Result<Catalogs, Failure> {
    let venues = external_venues(config).await?;
    let mut catalogs = venues.catalogs();
    if config.paper_url().is_none() {
        catalogs = catalogs.with(std::sync::Arc::new(SymbolCatalog::fixed(
            Mode::Paper,
            built_in_listing(),
        )));
    }
    Ok(catalogs)
}

/// The rules of every symbol the built-in exchange lists.
fn built_in_listing() -> Vec<market::SymbolRules> {
    sim::ExchangeConfig::default()
        .listings
        .into_iter()
        // The built-in listings always parse (the simulator refuses to start otherwise), so
        // nothing is lost here.
        .filter_map(|spec| spec.into_listing().ok())
        .map(|listing| listing.rules)
        .collect()
}
