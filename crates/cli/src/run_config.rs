//! The configuration of `spotbot run` (and of the commands that read its database): a TOML file
//! (`--config`), then environment variables, then command-line flags, each overriding the one
//! before. Every key is optional; with none at all the bots trade paper on the built-in exchange
//! and testnet on Binance's, with a SQLite database under `./data/`. Unknown keys are refused (a
//! typo must not silently mean the default), and every error names the file, the key or the
//! variable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::Failure;

use crate::secret_text::SecretText;

/// The phrase that `[live] confirm` must hold before live bots send real orders.
pub const LIVE_CONFIRMATION: &str = "I accept that spotbot trades real money";

/// Where one venue's exchange is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueEndpoint {
    /// The REST base URL.
    pub rest_url: String,
    /// The WebSocket stream base URL.
    pub stream_url: String,
    /// The WebSocket API URL (the accounts' user data streams).
    pub ws_api_url: String,
}

/// The whole configuration, as read from the file (every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `sqlite://...` or `postgres://...`.
    pub database_url: Option<String>,
    /// Where the default database and the simulator's state live.
    pub data_dir: Option<PathBuf>,
    /// The built-in simulator.
    #[serde(default)]
    pub sim: SimSection,
    /// Where each venue's exchange is.
    #[serde(default)]
    pub venues: VenuesSection,
    /// Retries of every exchange client.
    #[serde(default)]
    pub binance: BinanceSection,
    /// The engine and its scheduler.
    #[serde(default)]
    pub engine: EngineSection,
    /// Live trading's confirmation.
    #[serde(default)]
    pub live: LiveSection,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiSection,
    /// Users' notifications.
    #[serde(default)]
    pub notifications: NotificationsSection,
}

/// The address the HTTP API listens on when none is configured.
pub const DEFAULT_API_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The speeds the simulator runs at: real time to an hour a second (faster, and a request's
/// transit of a few milliseconds is minutes of market time).
pub const SIM_SPEEDS: std::ops::RangeInclusive<u32> = 1..=3600;

/// `[sim]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSection {
    /// How many times faster than real time the market runs (default 60: a minute a second).
    pub speed: Option<u32>,
    /// The price walk's seed.
    pub seed: Option<u64>,
    /// Where balances and the order log are kept across restarts.
    pub state_file: Option<PathBuf>,
    /// The built-in exchange's admin token (`SPOTBOT_SIM_ADMIN_TOKEN`), for an operator who
    /// wants to read its admin API; without it, `spotbot run` makes one per run that only the
    /// process knows.
    pub admin_token: Option<SecretText>,
}

/// `[venues]`: `[venues.paper]`, `[venues.testnet]`, `[venues.live]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenuesSection {
    /// The paper exchange.
    #[serde(default)]
    pub paper: PaperVenueSection,
    /// Binance's spot testnet, or any exchange standing in for it.
    #[serde(default)]
    pub testnet: VenueSection,
    /// Binance itself.
    #[serde(default)]
    pub live: VenueSection,
}

/// `[venues.paper]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperVenueSection {
    /// A running `spotbot sim` (`SPOTBOT_PAPER_URL`, `--paper-url`); unset: the exchange built
    /// into `spotbot run`.
    pub url: Option<String>,
    /// What each user's paper account starts with (default 10000 USDT).
    pub starting_balances: Option<BTreeMap<String, Decimal>>,
    /// The paper exchange's admin token (`spotbot sim --admin-token`, or the one it printed),
    /// which a process needs to open users' accounts there (`SPOTBOT_PAPER_ADMIN_TOKEN`; none
    /// for a `spotbot sim --open-admin` on the same machine).
    pub admin_token: Option<SecretText>,
}

/// `[venues.testnet]` and `[venues.live]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSection {
    /// The REST base URL (`SPOTBOT_TESTNET_URL` / `SPOTBOT_LIVE_URL`, `--testnet-url` /
    /// `--live-url`; default Binance's).
    pub url: Option<String>,
    /// The WebSocket stream base URL (default: Binance's for Binance's URLs, otherwise the REST
    /// URL with `http` turned into `ws`).
    pub stream_url: Option<String>,
    /// The WebSocket API URL, where each account's user data stream is subscribed (default:
    /// Binance's for Binance's URLs, otherwise the REST URL with `http` turned into `ws` and
    /// `/ws-api/v3` added).
    pub ws_api_url: Option<String>,
    /// Whether bots trade on it here (default true; live also needs `[live] confirm`).
    pub enabled: Option<bool>,
}

/// `[binance]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinanceSection {
    /// `BINANCE_RETRY_MAX_ATTEMPTS`.
    pub retry_max_attempts: Option<u32>,
    /// `BINANCE_RETRY_BACKOFF_BASE`, seconds.
    pub retry_backoff_base: Option<f64>,
}

/// `[engine]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Most bot cycles at once (default 64).
    pub parallelism: Option<usize>,
    /// Milliseconds of exchange time after a candle closes before its cycle, for bots whose
    /// candles are not streamed (default 1000).
    pub cycle_delay_ms: Option<u64>,
    /// Milliseconds of real time between two looks of the scheduler at the exchange's clock
    /// (default 20): how soon after a candle closes its cycles start, at most. Lower it for a
    /// paper exchange stepped by hand (`spotbot sim --manual-clock`), where every step waits for
    /// the bots' decisions.
    pub tick_ms: Option<u64>,
    /// Whether candles, prices and balances come from the exchange's WebSocket streams (default
    /// true). `false` polls REST every cycle, for networks that block WebSockets: it costs
    /// request weight per bot, so one IP runs far fewer bots.
    pub streams: Option<bool>,
    /// Consecutive failed cycles that pause a bot (default 5).
    pub max_consecutive_failures: Option<u32>,
    /// Seconds a bot's lease lasts (default 60).
    pub lease_ttl_secs: Option<u64>,
    /// Seconds after it was written that an order the exchange still does not show counts as
    /// never executed (default 60).
    pub order_absent_after_secs: Option<u64>,
    /// This worker's name in lease rows (default host name and process id): one process per
    /// name, since two of one name would share its leases (a process started under the name of
    /// a live one waits for it to fall silent, and refuses to start if it does not).
    pub worker_id: Option<String>,
}

/// `[live]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSection {
    /// Must equal [`LIVE_CONFIRMATION`] for live trading.
    pub confirm: Option<String>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `GET /metrics` (Prometheus) on this address (`--metrics`; default off).
    pub listen: Option<SocketAddr>,
    /// Publish per-bot series while there are at most this many bots (default 100).
    pub per_bot_max: Option<usize>,
}

/// `[api]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// The address the HTTP API listens on (default `127.0.0.1:8080`; port 0 picks a free one).
    pub listen: Option<SocketAddr>,
    /// How long a login's token works, in seconds (default 86400).
    pub session_ttl_secs: Option<u64>,
    /// Mark the dashboard's session cookie `Secure`: set it when users reach the server over
    /// HTTPS through a reverse proxy (default false: the server itself speaks plain HTTP).
    pub secure_cookies: Option<bool>,
    /// The directory whose candle CSV files users may backtest on the server (default none).
    pub candles_dir: Option<PathBuf>,
    /// Where the candle files users upload to backtest are kept (default `uploads/` in the data
    /// directory).
    pub uploads_dir: Option<PathBuf>,
    /// Client connections open at once (default: half the open files the process may have, after
    /// 256 kept for the rest, between 64 and 10,000).
    pub max_connections: Option<u32>,
    /// Seconds a request's head may take to arrive, and a connection may stay idle (default 30).
    pub header_timeout_secs: Option<u64>,
    /// Seconds a request's body may take to arrive (default 60).
    pub body_timeout_secs: Option<u64>,
    /// Seconds the requests in flight get to finish at shutdown (default 10).
    pub drain_timeout_secs: Option<u64>,
}

/// `[notifications]`: how the processes that run bots send users' notifications.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsSection {
    /// Telegram's Bot API base URL (default https://api.telegram.org).
    pub telegram_api_url: Option<String>,
    /// Let webhooks point at private, loopback and link-local addresses (default false: a user's
    /// webhook could otherwise reach the operator's private network).
    pub allow_private_targets: Option<bool>,
    /// Attempts before a delivery is given up (default 20).
    pub max_attempts: Option<u32>,
    /// Milliseconds before the second attempt, doubled for each next one (default 5000).
    pub retry_base_ms: Option<u64>,
    /// The longest wait between attempts, in milliseconds (default 900000: 15 minutes).
    pub retry_max_ms: Option<u64>,
    /// Seconds one attempt may take (default 10).
    pub request_timeout_secs: Option<u64>,
    /// Deliveries sent at once per process (default 16).
    pub concurrency: Option<usize>,
    /// Days the delivery log keeps what was delivered or given up (default 30).
    pub keep_log_days: Option<u64>,
}

impl ConfigFile {
    /// Reads `path`; a TOML error names the file, line and key.
    pub fn read(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read the config file {}: {err}", path.display()))?;
        let file: ConfigFile =
            toml::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))?;
        if let Some(speed) = file.sim.speed.filter(|speed| !SIM_SPEEDS.contains(speed)) {
            return Err(format!(
                "{}: [sim] speed must be {} to {}, not {speed}",
                path.display(),
                SIM_SPEEDS.start(),
                SIM_SPEEDS.end()
            ));
        }
        Ok(file)
    }

    /// The configuration from `path` (all defaults without one) with the process environment on
    /// top: what every command that reads `spotbot run`'s configuration starts from. A file that
    /// cannot be read or is malformed is the work's failure (exit 1); a bad environment
    /// variable, like a bad flag, the command line's (exit 2).
    pub fn load(path: Option<&Path>) -> Result<ConfigFile, Failure> {
        let file = match path {
            Some(path) => ConfigFile::read(path)
                .map_err(|message| Failure::Runtime(anyhow::anyhow!(message)))?,
            None => ConfigFile::default(),
        };
        file.with_env(|name| std::env::var(name).ok())
            .map_err(Failure::Usage)
    }

    /// The file's values with the environment's on top (`lookup` reads a variable).
    pub fn with_env(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ConfigFile, String> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if let Some(url) = set("SPOTBOT_DATABASE_URL") {
            self.database_url = Some(url);
        }
        if set("SPOTBOT_EXCHANGE").is_some() {
            return Err("SPOTBOT_EXCHANGE is no longer read: one process trades every venue it is configured for (paper, testnet, live); unset it and see [venues] in `spotbot run --help`".to_owned());
        }
        if let Some(token) = set("SPOTBOT_SIM_ADMIN_TOKEN") {
            self.sim.admin_token = Some(SecretText::from(token));
        }
        if let Some(token) = set("SPOTBOT_PAPER_ADMIN_TOKEN") {
            self.venues.paper.admin_token = Some(SecretText::from(token));
        }
        for (name, slot) in [
            ("SPOTBOT_PAPER_URL", &mut self.venues.paper.url),
            ("SPOTBOT_TESTNET_URL", &mut self.venues.testnet.url),
            ("SPOTBOT_LIVE_URL", &mut self.venues.live.url),
        ] {
            if let Some(url) = set(name) {
                *slot = Some(url);
            }
        }
        // BINANCE_RETRY_* are read by binance::RetryPolicy::from_lookup, which names the
        // variable in its errors; the file's values are its defaults.
        Ok(self)
    }

    /// The data directory (default `data`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("data"))
    }

    /// The database URL (default a SQLite file in the data directory).
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir().join("spotbot.db").display()))
    }

    /// The paper exchange's URL, or `None` for the built-in one.
    pub fn paper_url(&self) -> Option<&str> {
        self.venues.paper.url.as_deref()
    }

    /// What each user's paper account starts with (default 10000 USDT). Negative amounts are
    /// refused, naming the asset.
    pub fn starting_balances(&self) -> Result<BTreeMap<String, Decimal>, String> {
        let Some(balances) = &self.venues.paper.starting_balances else {
            return Ok(accounts::default_starting_balances());
        };
        if let Some((asset, _)) = balances
            .iter()
            .find(|(_, amount)| amount.is_sign_negative())
        {
            return Err(format!(
                "[venues.paper] starting_balances: {asset} must not be negative"
            ));
        }
        Ok(balances.clone())
    }

    /// Where the testnet is, or `None` when it is switched off.
    pub fn testnet_endpoint(&self) -> Option<VenueEndpoint> {
        endpoint(&self.venues.testnet, binance::BINANCE_SPOT_TESTNET_URL)
    }

    /// Where live Binance is, when live trading is on here: enabled and confirmed.
    pub fn live_endpoint(&self) -> Option<VenueEndpoint> {
        if self.live.confirm.as_deref() != Some(LIVE_CONFIRMATION) {
            return None;
        }
        endpoint(&self.venues.live, binance::BINANCE_LIVE_URL)
    }

    /// The simulator's speed (default 60).
    pub fn sim_speed(&self) -> u32 {
        self.sim.speed.unwrap_or(60)
    }

    /// The simulator's state file (default `sim-state.json` in the data directory).
    pub fn sim_state_file(&self) -> PathBuf {
        self.sim
            .state_file
            .clone()
            .unwrap_or_else(|| self.data_dir().join("sim-state.json"))
    }

    /// The retry policy: built-in defaults, then the file's `[binance]` values, then
    /// `BINANCE_RETRY_MAX_ATTEMPTS` / `BINANCE_RETRY_BACKOFF_BASE`.
    pub fn retry_policy(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<binance::RetryPolicy, String> {
        let file_attempts = self.binance.retry_max_attempts.map(|n| n.to_string());
        let file_base = self.binance.retry_backoff_base.map(|s| s.to_string());
        binance::RetryPolicy::from_lookup(|name| {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .or_else(|| match name {
                    binance::MAX_ATTEMPTS_ENV => file_attempts.clone(),
                    binance::BACKOFF_BASE_ENV => file_base.clone(),
                    _ => None,
                })
        })
        .map_err(|err| err.to_string())
    }

    /// The engine's settings for worker `default_worker_id` unless the file names one.
    pub fn engine_settings(&self, default_worker_id: String) -> engine::EngineSettings {
        let mut settings =
            engine::EngineSettings::new(self.engine.worker_id.clone().unwrap_or(default_worker_id));
        if let Some(failures) = self.engine.max_consecutive_failures {
            settings.max_consecutive_failures = failures.max(1);
        }
        if let Some(secs) = self.engine.lease_ttl_secs {
            settings.lease_ttl = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = self.engine.order_absent_after_secs {
            settings.order_absent_after = Duration::from_secs(secs.max(1));
        }
        if let Some(streams) = self.engine.streams {
            settings.streams = streams;
        }
        settings
    }

    /// The scheduler's settings.
    pub fn scheduler_settings(&self) -> engine::SchedulerSettings {
        let mut settings = engine::SchedulerSettings::default();
        if let Some(parallelism) = self.engine.parallelism {
            settings.parallelism = parallelism.max(1);
        }
        if let Some(delay_ms) = self.engine.cycle_delay_ms {
            settings.cycle_delay = Duration::from_millis(delay_ms);
        }
        if let Some(tick_ms) = self.engine.tick_ms {
            settings.tick = Duration::from_millis(tick_ms.max(1));
        }
        settings
    }

    /// The address the HTTP API listens on.
    pub fn api_listen(&self) -> SocketAddr {
        self.api.listen.unwrap_or(DEFAULT_API_LISTEN)
    }

    /// The HTTP API's settings.
    pub fn api_config(&self) -> api::ApiConfig {
        let mut config = api::ApiConfig::default();
        if let Some(secs) = self.api.session_ttl_secs {
            config.session_ttl = Duration::from_secs(secs.max(1));
        }
        config.secure_cookies = self.api.secure_cookies.unwrap_or(false);
        config.candles_dir = self.api.candles_dir.clone();
        config.uploads_dir = Some(
            self.api
                .uploads_dir
                .clone()
                .unwrap_or_else(|| self.data_dir().join("uploads")),
        );
        config.limits = self.serve_limits();
        config.allow_private_webhooks = self.notifications.allow_private_targets.unwrap_or(false);
        config
    }

    /// How the notifier of a process that runs bots sends.
    pub fn notify_settings(&self) -> notify::Settings {
        let section = &self.notifications;
        let defaults = notify::Settings::default();
        notify::Settings {
            telegram_api_url: section
                .telegram_api_url
                .clone()
                .unwrap_or(defaults.telegram_api_url),
            allow_private_targets: section.allow_private_targets.unwrap_or(false),
            max_attempts: section.max_attempts.unwrap_or(defaults.max_attempts).max(1),
            retry_base: section
                .retry_base_ms
                .map_or(defaults.retry_base, |ms| Duration::from_millis(ms.max(1))),
            retry_max: section
                .retry_max_ms
                .map_or(defaults.retry_max, |ms| Duration::from_millis(ms.max(1))),
            request_timeout: section
                .request_timeout_secs
                .map_or(defaults.request_timeout, |secs| {
                    Duration::from_secs(secs.max(1))
                }),
            concurrency: section.concurrency.unwrap_or(defaults.concurrency).max(1),
            poll_every: defaults.poll_every,
            keep_log: section.keep_log_days.map_or(defaults.keep_log, |days| {
                Duration::from_secs(days.max(1).saturating_mul(86_400))
            }),
        }
    }

    /// The HTTP servers' connection cap and timeouts (`[api]`'s, for the simulator too).
    pub fn serve_limits(&self) -> serve::Limits {
        let defaults = serve::Limits::default();
        let seconds = |value: Option<u64>, default: Duration| {
            value.map_or(default, |secs| Duration::from_secs(secs.max(1)))
        };
        serve::Limits {
            max_connections: self
                .api
                .max_connections
                .unwrap_or_else(crate::process_limits::connection_cap)
                .max(1),
            header_timeout: seconds(self.api.header_timeout_secs, defaults.header_timeout),
            body_timeout: seconds(self.api.body_timeout_secs, defaults.body_timeout),
            drain_timeout: seconds(self.api.drain_timeout_secs, defaults.drain_timeout),
        }
    }

    /// Checks that a confirmation given for live trading is the exact phrase: a wrong one is a
    /// mistake to report, not a silent "no".
    pub fn check_live_confirmation(&self) -> Result<(), String> {
        match self.live.confirm.as_deref() {
            None | Some(LIVE_CONFIRMATION) => Ok(()),
            Some(_) => Err(format!(
                "[live] confirm must be exactly \"{LIVE_CONFIRMATION}\" to trade real money (or be left out to trade no live bots)"
            )),
        }
    }
}

/// `section`'s endpoint (REST URL default `default_url`), or `None` when it is switched off.
fn endpoint(section: &VenueSection, default_url: &str) -> Option<VenueEndpoint> {
    if section.enabled == Some(false) {
        return None;
    }
    let rest_url = section
        .url
        .clone()
        .unwrap_or_else(|| default_url.to_owned())
        .trim_end_matches('/')
        .to_owned();
    let defaults = binance::ClientConfig::new(rest_url.clone());
    Some(VenueEndpoint {
        stream_url: section.stream_url.clone().unwrap_or(defaults.stream_url),
        ws_api_url: section.ws_api_url.clone().unwrap_or(defaults.ws_api_url),
        rest_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn no_configuration_means_the_built_in_paper_exchange_binances_testnet_and_sqlite_under_data() {
        let config = ConfigFile::default().with_env(no_env).unwrap();
        assert_eq!(config.paper_url(), None);
        let testnet = config.testnet_endpoint().unwrap();
        assert_eq!(testnet.rest_url, binance::BINANCE_SPOT_TESTNET_URL);
        assert_eq!(testnet.ws_api_url, binance::BINANCE_SPOT_TESTNET_WS_API_URL);
        assert_eq!(config.live_endpoint(), None, "live needs the confirmation");
        assert_eq!(
            config.starting_balances().unwrap(),
            accounts::default_starting_balances()
        );
        assert_eq!(config.database_url(), "sqlite://data/spotbot.db");
        assert_eq!(
            config.sim_state_file(),
            PathBuf::from("data/sim-state.json")
        );
        assert_eq!(config.sim_speed(), 60);
        assert_eq!(config.api_listen().to_string(), "127.0.0.1:8080");
        assert_eq!(config.api_config().session_ttl, Duration::from_secs(86_400));
    }

    #[test]
    fn the_api_section_sets_the_address_and_the_token_lifetime() {
        let file: ConfigFile = toml::from_str(
            "[api]\nlisten = \"0.0.0.0:9000\"\nsession_ttl_secs = 60\nsecure_cookies = true\n",
        )
        .unwrap();
        assert_eq!(file.api_listen().to_string(), "0.0.0.0:9000");
        assert_eq!(file.api_config().session_ttl, Duration::from_secs(60));
        assert!(file.api_config().secure_cookies);
        let bad = toml::from_str::<ConfigFile>("[api]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(bad.to_string().contains("listen"), "{bad}");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let file: ConfigFile = toml::from_str(
            "database_url = \"sqlite://a.db\"\n[binance]\nretry_max_attempts = 3\n[venues.testnet]\nurl = \"http://file:1\"\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "SPOTBOT_DATABASE_URL" => Some("postgres://x@localhost/db".to_owned()),
            "SPOTBOT_TESTNET_URL" => Some("http://127.0.0.1:9/".to_owned()),
            "BINANCE_RETRY_BACKOFF_BASE" => Some("0.25".to_owned()),
            _ => None,
        };
        let config = file.with_env(env).unwrap();
        assert_eq!(config.database_url(), "postgres://x@localhost/db");
        let testnet = config.testnet_endpoint().unwrap();
        assert_eq!(testnet.rest_url, "http://127.0.0.1:9", "the variable wins");
        assert_eq!(testnet.stream_url, "ws://127.0.0.1:9");
        assert_eq!(testnet.ws_api_url, "ws://127.0.0.1:9/ws-api/v3");
        let retry = config.retry_policy(env).unwrap();
        assert_eq!(retry.max_attempts, 3, "from the file");
        assert_eq!(
            retry.backoff_base,
            Duration::from_millis(250),
            "from the environment"
        );
    }

    #[test]
    fn errors_name_the_key_or_variable() {
        let typo = toml::from_str::<ConfigFile>("[engine]\nparalelism = 4\n").unwrap_err();
        assert!(typo.to_string().contains("paralelism"), "{typo}");
        let old_switch = ConfigFile::default()
            .with_env(|name| (name == "SPOTBOT_EXCHANGE").then(|| "sim".to_owned()))
            .unwrap_err();
        assert!(old_switch.contains("SPOTBOT_EXCHANGE"), "{old_switch}");
        let negative: ConfigFile =
            toml::from_str("[venues.paper]\nstarting_balances = { USDT = \"-1\" }\n").unwrap();
        let error = negative.starting_balances().unwrap_err();
        assert!(error.contains("USDT"), "{error}");
        let bad_retry = ConfigFile::default()
            .retry_policy(|name| (name == "BINANCE_RETRY_MAX_ATTEMPTS").then(|| "lots".to_owned()))
            .unwrap_err();
        assert!(
            bad_retry.contains("BINANCE_RETRY_MAX_ATTEMPTS"),
            "{bad_retry}"
        );
    }

    #[test]
    fn live_trading_needs_the_exact_confirmation() {
        let mut config = ConfigFile::default();
        assert!(config.check_live_confirmation().is_ok());
        assert_eq!(config.live_endpoint(), None);
        config.live.confirm = Some("yes".to_owned());
        let error = config.check_live_confirmation().unwrap_err();
        assert!(error.contains(LIVE_CONFIRMATION), "{error}");
        assert_eq!(config.live_endpoint(), None);
        config.live.confirm = Some(LIVE_CONFIRMATION.to_owned());
        assert!(config.check_live_confirmation().is_ok());
        assert_eq!(
            config.live_endpoint().unwrap().rest_url,
            binance::BINANCE_LIVE_URL
        );
    }
}
