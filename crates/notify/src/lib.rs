//! Per-user notifications: a bot's trades, its orders in doubt, its errors and pauses, and its
//! daily summary, sent to the channels its owner opted them into: webhooks (JSON signed with
//! HMAC-SHA256, see [`send`]) and Telegram chats (through the Bot API, whose base URL is
//! configurable).
//!
//! The queue is the database's `notification_deliveries` table, written in the same transaction
//! as what each delivery tells of (see the store). A [`Notifier`] runs beside the bots in every
//! process that runs them (`spotbot run`, each `spotbot worker`): it claims due deliveries, sends
//! them with a bounded number in flight (and a bounded share of it per channel, so that one
//! user's hanging receiver holds up nobody else's), and records each attempt; a failed one is tried again
//! after an exponential backoff (with jitter, and never sooner than a receiver's `Retry-After`)
//! until [`Settings::max_attempts`]. Nothing here runs on a bot's cycle: a receiver that is down
//! or hangs delays only its own deliveries. A process that dies mid-send leaves its claim to
//! expire and the delivery to be sent again, with the same idempotency key: at least once.
//!
//! The daily summaries of the UTC day just ended are queued a few minutes after midnight by
//! whichever process gets there first (the queue keeps one per bot, channel and day), and at
//! start for a day whose midnight found no process running.

pub mod channels;
pub mod message;
pub mod send;
pub mod targets;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts::{MasterKey, wall_now_ms};
use store::{ChannelId, ChannelKind, ChannelRow, DeliveryRow, RetryAt, Store};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::message::MessageError;
use crate::send::{Attempt, WebhookRequest};

/// Telegram's Bot API.
pub const TELEGRAM_API_URL: &str = "https://api.telegram.org";

/// How long after midnight UTC the day's summaries are queued: trades executed just before
/// midnight are recorded by then.
const SUMMARY_DELAY_MS: i64 = 5 * 60 * 1000;
const DAY_MS: i64 = 86_400_000;

/// Deliveries to one channel in flight at once: a receiver that hangs holds this many of the
/// process's [`Settings::concurrency`], never all of them, so other users' notifications go on.
const PER_CHANNEL_IN_FLIGHT: usize = 2;

/// How often delivered and failed deliveries older than [`Settings::keep_log`] are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// How the notifier sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Telegram Bot API's base URL (default [`TELEGRAM_API_URL`]; a local receiver in tests).
    pub telegram_api_url: String,
    /// Whether webhooks may point at private, loopback and link-local addresses (default false;
    /// see [`targets`]).
    pub allow_private_targets: bool,
    /// Attempts before a delivery is given up (default 20: about 4 hours with the default
    /// backoff).
    pub max_attempts: u32,
    /// The wait after a first failed attempt, doubled after each next one (default 5 s).
    pub retry_base: Duration,
    /// The longest wait between attempts (default 15 min).
    pub retry_max: Duration,
    /// How long one attempt may take (default 10 s).
    pub request_timeout: Duration,
    /// Deliveries sent at once (default 16).
    pub concurrency: usize,
    /// How often the queue is read (default 1 s).
    pub poll_every: Duration,
    /// How long the delivery log keeps what was delivered or given up (default 30 days);
    /// pending deliveries are never deleted.
    pub keep_log: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            telegram_api_url: TELEGRAM_API_URL.to_owned(),
            allow_private_targets: false,
            max_attempts: 20,
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(15 * 60),
            request_timeout: Duration::from_secs(10),
            concurrency: 16,
            poll_every: Duration::from_secs(1),
            keep_log: Duration::from_secs(30 * 86_400),
        }
    }
}

impl Settings {
    /// The wait before attempt `attempts + 1`, after `attempts` failed ones: `retry_base`
    /// doubled per failure, at most `retry_max`, then spread by ±20 % (`jitter` in 0..=1) so
    /// that deliveries failed together do not come back together; never sooner than
    /// `retry_after` (itself capped at `retry_max`).
    pub fn backoff(&self, attempts: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let doubled = self.retry_base.saturating_mul(
            1u32.checked_shl(attempts.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let spread = doubled
            .min(self.retry_max)
            .mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0));
        spread.max(retry_after.unwrap_or_default().min(self.retry_max))
    }
}

/// Sends the queued notifications of one process.
pub struct Notifier {
    store: Store,
    master_key: MasterKey,
    settings: Settings,
    webhooks: reqwest::Client,
    telegram: reqwest::Client,
}

/// The notifier could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the notifications' HTTP client: {0}")]
pub struct StartError(#[from] reqwest::Error);

impl Notifier {
    /// A notifier of the deliveries in `store`, whose channels' secrets `master_key` opens.
    pub fn new(
        store: Store,
        master_key: MasterKey,
        settings: Settings,
    ) -> Result<Notifier, StartError> {
        let client = || {
            reqwest::Client::builder()
                .timeout(settings.request_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("spotbot-notify/", env!("CARGO_PKG_VERSION")))
        };
        let webhooks = if settings.allow_private_targets {
            client()
        } else {
            client().dns_resolver(Arc::new(targets::PublicOnly))
        }
        .build()?;
        Ok(Notifier {
            store,
            master_key,
            telegram: client().build()?,
            webhooks,
            settings,
        })
    }

    /// Sends until `shutdown` completes, then gives the sends in flight one request's time to
    /// finish (those cut off are sent again later: their claims expire).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let notifier = Arc::new(self);
        let mut sends = Sends::default();
        let mut summarised_day = None;
        let mut purged: Option<Instant> = None;
        tokio::pin!(shutdown);
        loop {
            notifier.queue_daily_summaries(&mut summarised_day).await;
            if purged.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                notifier.purge_log().await;
                purged = Some(Instant::now());
            }
            notifier.claim_due(&mut sends).await;
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(notifier.settings.poll_every) => {}
                Some(done) = sends.tasks.join_next_with_id(), if !sends.tasks.is_empty() => {
                    // A send that panicked is known by its task's id: its channel's share frees
                    // all the same (the delivery's claim expires and it is tried again).
                    let task = match &done {
                        Ok((task, _)) => *task,
                        Err(error) => error.id(),
                    };
                    sends.finished(task);
                }
            }
        }
        let mut sends = sends.tasks;
        let drain = notifier.settings.request_timeout + Duration::from_secs(1);
        let _ =
            tokio::time::timeout(drain, async { while sends.join_next().await.is_some() {} }).await;
        sends.abort_all();
    }

    /// Claims as many due deliveries as there is room for (at most [`PER_CHANNEL_IN_FLIGHT`]
    /// per channel) and starts sending them.
    async fn claim_due(self: &Arc<Self>, sends: &mut Sends) {
        let room = self.settings.concurrency.saturating_sub(sends.tasks.len());
        if room == 0 {
            return;
        }
        let now_ms = wall_now_ms();
        // More than there is room for: some may be for channels already at their share.
        let wanted = u32::try_from(room.saturating_mul(4)).unwrap_or(u32::MAX);
        let due = match self.store.due_deliveries(now_ms, wanted).await {
            Ok(due) => due,
            Err(error) => {
                warn!(%error, "cannot read the notifications due");
                return;
            }
        };
        let claim_until_ms = now_ms + duration_ms(self.settings.request_timeout) + 30_000;
        for delivery in due {
            if sends.tasks.len() >= self.settings.concurrency
                || !sends.has_room(delivery.channel_id)
            {
                continue;
            }
            match self
                .store
                .claim_delivery(delivery.id, now_ms, claim_until_ms)
                .await
            {
                Ok(true) => {
                    let notifier = self.clone();
                    let channel = delivery.channel_id;
                    let task = sends
                        .tasks
                        .spawn(async move { notifier.deliver(delivery).await })
                        .id();
                    sends.started(task, channel);
                }
                Ok(false) => {} // another process took it
                Err(error) => warn!(%error, delivery = %delivery.id, "cannot claim a notification"),
            }
        }
    }

    /// Makes one attempt of `delivery` (claimed) and records what it came to.
    async fn deliver(&self, delivery: DeliveryRow) {
        let attempt_number = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
        let started = Instant::now();
        let (kind, attempt) = match self.store.channel(delivery.channel_id).await {
            Ok(Some(channel)) => (
                channel.kind.as_str(),
                self.attempt(&delivery, &channel).await,
            ),
            Ok(None) => ("none", Err("the channel was deleted".to_owned())),
            Err(error) => ("none", Ok(failed(format!("database: {error}")))),
        };
        metrics::histogram!("spotbot_notification_send_seconds", "channel" => kind)
            .record(started.elapsed().as_secs_f64());
        let now_ms = wall_now_ms();
        let (outcome, recorded) = match attempt {
            Ok(Attempt::Delivered(status)) => (
                "delivered",
                self.store
                    .delivery_succeeded(delivery.id, now_ms, Some(status))
                    .await,
            ),
            Ok(Attempt::Failed {
                error,
                status,
                retry_after,
            }) => {
                let retry = if attempt_number >= self.settings.max_attempts {
                    RetryAt::GiveUp
                } else {
                    let wait = self.settings.backoff(attempt_number, retry_after, jitter());
                    RetryAt::At(now_ms + duration_ms(wait))
                };
                warn!(delivery = %delivery.id, channel = %delivery.channel_id, event = %delivery.event,
                      attempt = attempt_number, "notification not delivered: {error}");
                let outcome = if retry == RetryAt::GiveUp {
                    "failed"
                } else {
                    "retry"
                };
                let recorded = self
                    .store
                    .delivery_failed(delivery.id, &error, status, retry)
                    .await;
                (outcome, recorded)
            }
            Err(reason) => {
                warn!(delivery = %delivery.id, "notification given up: {reason}");
                let recorded = self
                    .store
                    .delivery_failed(delivery.id, &reason, None, RetryAt::GiveUp)
                    .await;
                ("failed", recorded)
            }
        };
        metrics::counter!("spotbot_notifications_total", "channel" => kind, "event" => delivery.event.as_str(), "outcome" => outcome)
            .increment(1);
        if let Err(error) = recorded {
            // The claim expires and the delivery is tried again: at least once.
            warn!(%error, delivery = %delivery.id, "cannot record a notification's attempt");
        }
    }

    /// One attempt of `delivery` to `channel`; `Err` when no attempt can ever succeed.
    async fn attempt(
        &self,
        delivery: &DeliveryRow,
        channel: &ChannelRow,
    ) -> Result<Attempt, String> {
        let message = match message::build(&self.store, delivery, channel).await {
            Ok(message) => message,
            Err(MessageError::Gone(what)) => return Err(format!("{what}: nothing to tell")),
            Err(error) => return Ok(failed(error.to_string())),
        };
        let secret = self
            .master_key
            .decrypt_channel_secret(channel.user_id, &channel.secret_ciphertext)
            .map_err(|_| {
                "cannot decrypt the channel's secret with this master key: create the channel again"
                    .to_owned()
            })?;
        Ok(match channel.kind {
            ChannelKind::Webhook => {
                if let Err(bad) =
                    targets::check_webhook_url(&channel.target, self.settings.allow_private_targets)
                {
                    return Err(format!("the webhook's URL is refused: {bad}"));
                }
                let body = message.json.to_string();
                send::webhook(
                    &self.webhooks,
                    WebhookRequest {
                        url: &channel.target,
                        secret: &secret,
                        body: body.as_bytes(),
                        key: &delivery.idempotency_key,
                        event: delivery.event.as_str(),
                        timestamp_secs: wall_now_ms() / 1000,
                    },
                )
                .await
            }
            ChannelKind::Telegram => {
                let token = String::from_utf8_lossy(&secret);
                send::telegram(
                    &self.telegram,
                    &self.settings.telegram_api_url,
                    &token,
                    &channel.target,
                    &message.text,
                )
                .await
            }
        })
    }

    /// Deletes the delivery log's settled rows older than [`Settings::keep_log`].
    async fn purge_log(&self) {
        let before_ms = wall_now_ms() - duration_ms(self.settings.keep_log);
        match self.store.purge_deliveries(before_ms).await {
            Ok(0) => {}
            Ok(purged) => info!(purged, "old deliveries removed from the delivery log"),
            Err(error) => warn!(%error, "cannot purge the delivery log"),
        }
    }

    /// Queues the summaries of the UTC day that ended (once [`SUMMARY_DELAY_MS`] passed), unless
    /// this process already did.
    async fn queue_daily_summaries(&self, summarised_day: &mut Option<i64>) {
        let now_ms = wall_now_ms();
        let settled = now_ms - SUMMARY_DELAY_MS;
        let day = settled - settled.rem_euclid(DAY_MS) - DAY_MS;
        if *summarised_day == Some(day) {
            return;
        }
        match self.store.enqueue_daily_summaries(day, now_ms).await {
            Ok(queued) => {
                if queued > 0 {
                    info!(queued, day = %market::format_utc_ms(day), "daily summaries queued");
                }
                *summarised_day = Some(day);
            }
            Err(error) => warn!(%error, "cannot queue the daily summaries"),
        }
    }
}

/// The sends in flight, the channel of each, and how many per channel.
#[derive(Default)]
struct Sends {
    tasks: JoinSet<()>,
    channel_of: HashMap<tokio::task::Id, ChannelId>,
    per_channel: HashMap<ChannelId, usize>,
}

impl Sends {
    fn has_room(&self, channel: ChannelId) -> bool {
        self.per_channel.get(&channel).copied().unwrap_or(0) < PER_CHANNEL_IN_FLIGHT
    }

    fn started(&mut self, task: tokio::task::Id, channel: ChannelId) {
        self.channel_of.insert(task, channel);
        *self.per_channel.entry(channel).or_default() += 1;
    }

    fn finished(&mut self, task: tokio::task::Id) {
        let Some(channel) = self.channel_of.remove(&task) else {
            return;
        };
        if let Some(count) = self.per_channel.get_mut(&channel) {
            *count -= 1;
            if *count == 0 {
                self.per_channel.remove(&channel);
            }
        }
    }
}

fn failed(error: String) -> Attempt {
    Attempt::Failed {
        error,
        status: None,
        retry_after: None,
    }
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A number in 0..=1 from the system's randomness (0.5 without any).
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_honours_retry_after() {
        let settings = Settings::default();
        assert_eq!(settings.backoff(1, None, 0.5), Duration::from_secs(5));
        assert_eq!(settings.backoff(2, None, 0.5), Duration::from_secs(10));
        assert_eq!(settings.backoff(4, None, 0.5), Duration::from_secs(40));
        assert_eq!(settings.backoff(60, None, 0.5), Duration::from_secs(900));
        assert_eq!(settings.backoff(1, None, 0.0), Duration::from_secs(4));
        assert_eq!(settings.backoff(1, None, 1.0), Duration::from_secs(6));
        assert_eq!(
            settings.backoff(1, Some(Duration::from_secs(30)), 0.5),
            Duration::from_secs(30)
        );
        assert_eq!(
            settings.backoff(1, Some(Duration::from_secs(86_400)), 0.5),
            Duration::from_secs(900)
        );
        // The default gives up after about four hours.
        let total: Duration = (1..20).map(|n| settings.backoff(n, None, 0.5)).sum();
        assert!((3 * 3600..5 * 3600).contains(&total.as_secs()), "{total:?}");
    }
}
