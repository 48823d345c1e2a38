//! Rate-limit budgets, shared the way Binance counts (reference § 5): request weight and raw
//! requests **per IP**, new orders **per account**.
//!
//! - The IP budget: one per process and base URL. Every [`Client`](crate::Client) built for the
//!   same base URL in this process, every clone of one and every client derived from one with
//!   [`Client::with_account`](crate::Client::with_account) draws on the same `REQUEST_WEIGHT`
//!   and `RAW_REQUESTS` windows, and waits out the same 429 throttles and 418 bans.
//! - The order budgets: one per process, base URL and API key, holding that account's `ORDERS`
//!   windows. Two clients of the same key share one; accounts never wait for each other's
//!   orders. A 429 with -1015 ("too many orders") throttles only its account's new orders.
//! - The limits are Binance's own, read from `exchangeInfo.rateLimits` (`REQUEST_WEIGHT`,
//!   `RAW_REQUESTS`, `ORDERS`), each over a fixed window aligned to the epoch in **server** time
//!   (the client's median clock offset places the windows).
//! - Each request reserves its weight in the IP budget (and a new order one order in its
//!   account's budget) before it is sent; the reservation becomes usage when the answer arrives,
//!   and the `X-MBX-USED-WEIGHT-*` headers raise the IP's usage, the `X-MBX-ORDER-COUNT-*`
//!   headers the account's, to what the exchange counted (other processes included).
//! - A request that would bring a window within the head-room of its limit waits for the window
//!   to end or for reservations to be released, instead of provoking a 429.
//! - After a 429 or 418 the requests it stops wait until `Retry-After` has passed; a wait longer
//!   than [`RateLimitSettings::max_wait`] fails fast with
//!   [`ErrorKind::BudgetExhausted`](crate::ErrorKind::BudgetExhausted).
//!
//! Our estimate of the server's clock may be off by up to [`RateLimitSettings::window_margin`]:
//! a window is only left that long after its end by our clock, and what is reserved within the
//! margin on either side of the end counts in both windows, so that clock error never makes the
//! client spend a window the exchange has not started, nor forget usage it counts in the new one.
//! Binance takes an order off the count when it fills; the budget keeps counting every order
//! sent, which can only wait too early, never too late.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::client::lock;

/// The prefix of the used-weight headers (lower case, as `HeaderMap` stores names).
const USED_WEIGHT_PREFIX: &str = "x-mbx-used-weight-";
/// The prefix of the order-count headers.
const ORDER_COUNT_PREFIX: &str = "x-mbx-order-count-";

/// How close to its limits the budget lets usage come, and how long a request may wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// The share of each limit kept free, in percent (0 to 90): with 10, a 6000-weight limit is
    /// treated as 5400.
    pub headroom_percent: u8,
    /// How long after a window's end (by our estimate of the server's clock) the budget starts
    /// counting the next one; covers the error of the clock offset.
    pub window_margin: Duration,
    /// The longest a request waits for budget or for a ban to end; a longer wait fails at once.
    pub max_wait: Duration,
}

impl Default for RateLimitSettings {
    /// 10 % head-room, a 250 ms window margin, waits of up to 5 minutes.
    fn default() -> RateLimitSettings {
        RateLimitSettings {
            headroom_percent: 10,
            window_margin: Duration::from_millis(250),
            max_wait: Duration::from_secs(300),
        }
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitKind {
    /// `REQUEST_WEIGHT`, per IP.
    Weight,
    /// `RAW_REQUESTS`, per IP: one per request.
    Raw,
    /// `ORDERS`: new orders, per account.
    Orders,
}

impl LimitKind {
    /// Whether Binance counts the limit per account rather than per IP.
    fn per_account(self) -> bool {
        self == LimitKind::Orders
    }
}

/// What one request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Request weight.
    pub(crate) weight: u64,
    /// New orders (1 for `POST /api/v3/order`).
    pub(crate) orders: u64,
}

impl Cost {
    fn of(&self, kind: LimitKind) -> u64 {
        match kind {
            LimitKind::Weight => self.weight,
            LimitKind::Raw => 1,
            LimitKind::Orders => self.orders,
        }
    }
}

/// One limit and its current window.
#[derive(Debug, Clone)]
struct Window {
    kind: LimitKind,
    /// The usage headers' suffix, upper case (`1M`, `10S`).
    suffix: String,
    window_ms: i64,
    limit: u64,
    window_start_ms: i64,
    /// What the window is known to have used (our finished requests, or the exchange's count).
    used: u64,
    /// Reserved by requests not yet answered.
    in_flight: u64,
    /// Reserved within the margin around the window's end, when the exchange may already count
    /// them in the next window: the next window starts with this usage.
    carried: u64,
}

impl Window {
    /// Starts a new window when `now_ms` (already less the margin) has left the current one.
    fn roll(&mut self, now_ms: i64) {
        let start = now_ms - now_ms.rem_euclid(self.window_ms);
        if start > self.window_start_ms {
            self.window_start_ms = start;
            self.used = std::mem::take(&mut self.carried);
        }
    }

    /// When the window ends, ms of server time.
    fn end_ms(&self) -> i64 {
        self.window_start_ms.saturating_add(self.window_ms)
    }

    fn allowed(&self, headroom_percent: u8) -> u64 {
        let keep = u64::from(headroom_percent.min(90));
        self.limit.saturating_mul(100 - keep) / 100
    }
}

/// The usage counts an answer's headers report, as (kind, suffix, count).
#[derive(Debug, Clone, Default)]
pub(crate) struct Usage(Vec<(LimitKind, String, u64)>);

impl Usage {
    /// The `X-MBX-USED-WEIGHT-*` and `X-MBX-ORDER-COUNT-*` headers of an answer.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Usage {
        let counts = headers
            .iter()
            .filter_map(|(name, value)| {
                let name = name.as_str();
                let (kind, suffix) = if let Some(suffix) = name.strip_prefix(USED_WEIGHT_PREFIX) {
                    (LimitKind::Weight, suffix)
                } else {
                    (LimitKind::Orders, name.strip_prefix(ORDER_COUNT_PREFIX)?)
                };
                let count = value.to_str().ok()?.trim().parse().ok()?;
                Some((kind, suffix.to_ascii_uppercase(), count))
            })
            .collect();
        Usage(counts)
    }

    /// The `rateLimits` of a WebSocket API answer (`[{"rateLimitType": "REQUEST_WEIGHT",
    /// "interval": "MINUTE", "intervalNum": 1, "count": 70}, ..]`): the IP's weight as the
    /// exchange counted it, REST and WebSocket API together. Entries of other kinds, or that
    /// cannot be read, are left out.
    pub(crate) fn from_rate_limits(rate_limits: &Value) -> Usage {
        let counts = rate_limits
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let window = parse_limit(entry)?;
                let count = entry.get("count")?.as_u64()?;
                (window.kind == LimitKind::Weight).then_some((window.kind, window.suffix, count))
            })
            .collect();
        Usage(counts)
    }

    /// The IP's used weight per interval (`1M`), as errors report it.
    pub(crate) fn used_weight(&self) -> Vec<(String, u64)> {
        self.0
            .iter()
            .filter(|(kind, _, _)| *kind == LimitKind::Weight)
            .map(|(_, suffix, count)| (suffix.clone(), *count))
            .collect()
    }

    /// The largest count reported for `window`'s limit (0 when none).
    fn count_for(&self, window: &Window) -> u64 {
        self.0
            .iter()
            .filter(|(kind, suffix, _)| *kind == window.kind && *suffix == window.suffix)
            .map(|(_, _, count)| *count)
            .max()
            .unwrap_or(0)
    }
}

/// Who a 429 or 418 stops, and for how long (its `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Throttle {
    /// Every request from the IP: a 429 for weight or raw requests, or a 418 ban.
    Ip(Duration),
    /// The account's new orders: a 429 with -1015 ("too many orders").
    AccountOrders(Duration),
}

#[derive(Debug, Default)]
struct State {
    /// `None` until `exchangeInfo.rateLimits` was read.
    windows: Option<Vec<Window>>,
    /// No request this budget covers may be sent before this (set by 429 and 418).
    blocked_until: Option<Instant>,
    /// Usage headers seen before the limits were known, applied when they are.
    early_usage: Usage,
}

impl State {
    /// How long a 429 or 418 still blocks the budget's requests; a block that has passed is
    /// forgotten.
    fn blocked_for(&mut self, now: Instant) -> Option<Duration> {
        match self.blocked_until {
            Some(until) if until > now => Some(until - now),
            _ => {
                self.blocked_until = None;
                None
            }
        }
    }

    /// Moves the windows to `now_ms` and says how long to wait before `cost` fits within every
    /// limit less the head-room; `None` when it fits now.
    fn wait_for(
        &mut self,
        cost: Cost,
        settings: &RateLimitSettings,
        now_ms: i64,
    ) -> Option<Duration> {
        let windows = self.windows.as_mut()?;
        let lagging_ms = now_ms.saturating_sub(margin_ms(settings));
        let mut wait: Option<Duration> = None;
        for window in windows.iter_mut() {
            window.roll(lagging_ms);
            let spent = cost.of(window.kind);
            if spent == 0 {
                continue;
            }
            let taken = window.used.saturating_add(window.in_flight);
            // A cost above the whole allowance still goes alone into an idle window.
            if taken > 0 && taken.saturating_add(spent) > window.allowed(settings.headroom_percent)
            {
                let next_ms = window.end_ms();
                let until_ms = u64::try_from(next_ms.saturating_sub(lagging_ms)).unwrap_or(0);
                let until = Duration::from_millis(until_ms.max(1));
                wait = Some(wait.map_or(until, |longest| longest.max(until)));
            }
        }
        wait
    }

    /// Reserves `cost` in every window (which [`wait_for`](Self::wait_for) found it fits).
    fn commit(&mut self, cost: Cost, settings: &RateLimitSettings, now_ms: i64) {
        for window in self.windows.iter_mut().flatten() {
            let spent = cost.of(window.kind);
            window.in_flight = window.in_flight.saturating_add(spent);
            if now_ms >= window.end_ms().saturating_sub(margin_ms(settings)) {
                window.carried = window.carried.saturating_add(spent);
            }
        }
    }
}

/// One set of windows: the IP's, or one account's orders.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    state: Mutex<State>,
    /// Woken when reservations are released or limits change.
    changed: Notify,
}

impl Budget {
    /// Whether the limits have been installed.
    fn has_limits(&self) -> bool {
        lock(&self.state).windows.is_some()
    }

    /// Installs `windows`, keeping the usage of windows that stay; a new window starts at
    /// `server_now_ms` (less the margin of `settings`) with the usage the headers reported so far.
    fn install(&self, mut windows: Vec<Window>, server_now_ms: i64, settings: &RateLimitSettings) {
        {
            let mut state = lock(&self.state);
            if let Some(old) = &state.windows {
                for window in &mut windows {
                    if let Some(same) = old
                        .iter()
                        .find(|old| old.kind == window.kind && old.suffix == window.suffix)
                    {
                        window.window_start_ms = same.window_start_ms;
                        window.used = same.used;
                        window.in_flight = same.in_flight;
                    }
                }
            }
            let lagging_ms = server_now_ms.saturating_sub(margin_ms(settings));
            for window in windows
                .iter_mut()
                .filter(|window| window.window_start_ms == i64::MIN)
            {
                window.roll(lagging_ms);
                window.used = state.early_usage.count_for(window);
                if server_now_ms >= window.end_ms().saturating_sub(margin_ms(settings)) {
                    window.carried = window.used;
                }
            }
            state.early_usage = Usage::default();
            state.windows = Some(windows);
        }
        self.changed.notify_waiters();
    }

    /// Ends a reservation of `cost` (see [`Reservation::finish`]); `blocked_for` after a 429 or
    /// 418 that stops this budget's requests.
    fn release(&self, cost: Cost, sent: bool, usage: &Usage, blocked_for: Option<Duration>) {
        {
            let mut state = lock(&self.state);
            if let Some(wait) = blocked_for {
                let until = Instant::now() + wait;
                state.blocked_until = Some(state.blocked_until.map_or(until, |old| old.max(until)));
            }
            if state.windows.is_none() {
                state.early_usage.0.extend(usage.0.iter().cloned());
            }
            for window in state.windows.iter_mut().flatten() {
                let spent = cost.of(window.kind);
                window.in_flight = window.in_flight.saturating_sub(spent);
                if sent {
                    window.used = window.used.saturating_add(spent);
                }
                window.used = window.used.max(usage.count_for(window));
            }
        }
        self.changed.notify_waiters();
    }
}

/// The order budgets of one base URL's accounts.
#[derive(Debug, Default)]
struct AccountBudgets {
    /// Each account's `ORDERS` windows, by API key.
    by_api_key: HashMap<String, Arc<Budget>>,
    /// The `ORDERS` limits last read, which a budget created later starts with; `None` until
    /// `exchangeInfo.rateLimits` was read.
    order_limits: Option<Vec<Window>>,
}

/// Every rate-limit budget of one base URL in this process: the IP's, and each account's orders.
#[derive(Debug, Default)]
pub(crate) struct VenueBudget {
    /// `REQUEST_WEIGHT` and `RAW_REQUESTS`: Binance counts them per IP.
    ip: Budget,
    /// `ORDERS`: Binance counts them per account.
    accounts: Mutex<AccountBudgets>,
    /// Held while the limits are being loaded, so that only one request loads them.
    pub(crate) loading: tokio::sync::Mutex<()>,
    /// The IP's `REQUEST_WEIGHT` limits (interval, limit), for the metrics.
    weight_limits: Mutex<Vec<(String, u64)>>,
}

/// Why the budget refused to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted {
    /// How long the request would have had to wait.
    pub(crate) wait: Duration,
    /// Whether the wait is a ban (418) or a throttle (429) rather than the budget.
    pub(crate) blocked: bool,
    /// Whether the wait would have passed the caller's deadline (rather than the maximum wait).
    pub(crate) past_deadline: bool,
}

/// The budgets shared by every client of `base_url` in this process.
pub(crate) fn venue_budget(base_url: &str) -> Arc<VenueBudget> {
    static BUDGETS: OnceLock<Mutex<HashMap<String, Arc<VenueBudget>>>> = OnceLock::new();
    let budgets = BUDGETS.get_or_init(Mutex::default);
    lock(budgets)
        .entry(base_url.to_owned())
        .or_default()
        .clone()
}

impl VenueBudget {
    /// Whether `exchangeInfo.rateLimits` has been read.
    pub(crate) fn has_limits(&self) -> bool {
        self.ip.has_limits()
    }

    /// The order budget of the account with `api_key`, shared by every client of that key; one
    /// created now starts with the `ORDERS` limits already read (`server_now_ms` and `settings`
    /// place its windows).
    pub(crate) fn account(
        &self,
        api_key: &str,
        server_now_ms: i64,
        settings: &RateLimitSettings,
    ) -> Arc<Budget> {
        let mut accounts = lock(&self.accounts);
        if let Some(budget) = accounts.by_api_key.get(api_key) {
            return budget.clone();
        }
        let budget = Arc::new(Budget::default());
        if let Some(order_limits) = &accounts.order_limits {
            budget.install(order_limits.clone(), server_now_ms, settings);
        }
        accounts
            .by_api_key
            .insert(api_key.to_owned(), budget.clone());
        budget
    }

    /// Installs the limits of an `exchangeInfo` answer: the IP's into the IP budget, `ORDERS`
    /// into every account's budget (keeping the usage of windows that stay). Returns `false`
    /// when the answer carries no readable `rateLimits`.
    pub(crate) fn install_limits(
        &self,
        exchange_info: &Value,
        server_now_ms: i64,
        settings: &RateLimitSettings,
    ) -> bool {
        let Some(entries) = exchange_info.get("rateLimits").and_then(Value::as_array) else {
            return false;
        };
        let (order_limits, ip_limits): (Vec<Window>, Vec<Window>) = entries
            .iter()
            .filter_map(parse_limit)
            .partition(|window| window.kind.per_account());
        let weight_limits: Vec<(String, u64)> = ip_limits
            .iter()
            .filter(|window| window.kind == LimitKind::Weight)
            .map(|window| (window.suffix.clone(), window.limit))
            .collect();
        *lock(&self.weight_limits) = weight_limits;
        self.ip.install(ip_limits, server_now_ms, settings);
        let mut accounts = lock(&self.accounts);
        for budget in accounts.by_api_key.values() {
            budget.install(order_limits.clone(), server_now_ms, settings);
        }
        accounts.order_limits = Some(order_limits);
        true
    }

    /// The IP's request-weight limits per interval (`1M`), as `exchangeInfo` last gave them.
    pub(crate) fn weight_limits(&self) -> Vec<(String, u64)> {
        lock(&self.weight_limits).clone()
    }

    /// Takes in what the exchange reported outside a REST answer (a WebSocket API answer's
    /// `rateLimits`, or its 429/418 with the wait it asked for): the IP's usage is raised to
    /// `usage`, and `blocked_for` stops every request of the IP that long.
    pub(crate) fn observe(&self, usage: &Usage, blocked_for: Option<Duration>) {
        let nothing = Cost {
            weight: 0,
            orders: 0,
        };
        self.ip.release(nothing, false, usage, blocked_for);
    }

    /// Waits until `cost` fits within every limit less the head-room, and any 429 or 418 that
    /// stops it has passed, then reserves it: in the IP budget, and for a new order in
    /// `account`'s order budget too. `server_now_ms` estimates the exchange's clock.
    pub(crate) async fn reserve<'a>(
        &'a self,
        account: Option<&'a Budget>,
        cost: Cost,
        settings: &RateLimitSettings,
        deadline: Option<Instant>,
        server_now_ms: impl Fn() -> i64,
    ) -> Result<Reservation<'a>, Exhausted> {
        // Only new orders wait for the account's order windows and its -1015 throttle.
        let orders = account.filter(|_| cost.orders > 0);
        loop {
            let ip_changed = self.ip.changed.notified();
            let orders_changed = orders.map(|budget| budget.changed.notified());
            let (wait, blocked) = {
                let mut ip_state = lock(&self.ip.state);
                let mut orders_state = orders.map(|budget| lock(&budget.state));
                let now = Instant::now();
                let blocked_for = ip_state.blocked_for(now).max(
                    orders_state
                        .as_mut()
                        .and_then(|state| state.blocked_for(now)),
                );
                if let Some(wait) = blocked_for {
                    (wait, true)
                } else {
                    let now_ms = server_now_ms();
                    let wait = ip_state.wait_for(cost, settings, now_ms).max(
                        orders_state
                            .as_mut()
                            .and_then(|state| state.wait_for(cost, settings, now_ms)),
                    );
                    let Some(wait) = wait else {
                        ip_state.commit(cost, settings, now_ms);
                        if let Some(state) = orders_state.as_mut() {
                            state.commit(cost, settings, now_ms);
                        }
                        return Ok(Reservation {
                            ip: &self.ip,
                            account,
                            cost,
                            open: true,
                        });
                    };
                    (wait, false)
                }
            };
            if wait > settings.max_wait {
                return Err(Exhausted {
                    wait,
                    blocked,
                    past_deadline: false,
                });
            }
            if deadline.is_some_and(|deadline| Instant::now() + wait >= deadline) {
                return Err(Exhausted {
                    wait,
                    blocked,
                    past_deadline: true,
                });
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = ip_changed => {}
                () = notified_if_any(orders_changed) => {}
            }
        }
    }
}

/// Completes when `notified` does; never without one.
async fn notified_if_any(notified: Option<Notified<'_>>) {
    match notified {
        Some(notified) => notified.await,
        None => std::future::pending().await,
    }
}

/// Weight (and orders) reserved by a request in flight. Dropped without
/// [`finish`](Self::finish) (the request was cancelled), its cost counts as used.
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    ip: &'a Budget,
    /// The order budget of the client's account, if it has one (its order-count headers and
    /// -1015 throttles go there).
    account: Option<&'a Budget>,
    cost: Cost,
    open: bool,
}

impl Reservation<'_> {
    /// Ends the reservation: `sent` when the request may have reached the exchange (its cost then
    /// counts as used), with the answer's usage headers and, after a 429/418, who its
    /// `Retry-After` stops. A -1015 on a client without an account stops the IP, to be safe.
    pub(crate) fn finish(mut self, sent: bool, usage: &Usage, throttle: Option<Throttle>) {
        self.open = false;
        let (ip_blocked_for, account_blocked_for) = match (throttle, self.account) {
            (Some(Throttle::AccountOrders(wait)), Some(_)) => (None, Some(wait)),
            (Some(Throttle::Ip(wait) | Throttle::AccountOrders(wait)), _) => (Some(wait), None),
            (None, _) => (None, None),
        };
        self.ip.release(self.cost, sent, usage, ip_blocked_for);
        if let Some(account) = self.account {
            account.release(self.cost, sent, usage, account_blocked_for);
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.open {
            let nothing_reported = Usage::default();
            self.ip.release(self.cost, true, &nothing_reported, None);
            if let Some(account) = self.account {
                account.release(self.cost, true, &nothing_reported, None);
            }
        }
    }
}

/// The window margin of `settings` in ms.
fn margin_ms(settings: &RateLimitSettings) -> i64 {
    i64::try_from(settings.window_margin.as_millis()).unwrap_or(i64::MAX)
}

/// One `exchangeInfo.rateLimits` entry; `None` for one this budget does not understand.
fn parse_limit(entry: &Value) -> Option<Window> {
    let kind = match entry.get("rateLimitType")?.as_str()? {
        "REQUEST_WEIGHT" => LimitKind::Weight,
        "RAW_REQUESTS" => LimitKind::Raw,
        "ORDERS" => LimitKind::Orders,
        _ => return None,
    };
    let (unit_ms, letter) = match entry.get("interval")?.as_str()? {
        "SECOND" => (1_000, 'S'),
        "MINUTE" => (60_000, 'M'),
        "HOUR" => (3_600_000, 'H'),
        "DAY" => (86_400_000, 'D'),
        _ => return None,
    };
    let count = entry.get("intervalNum")?.as_u64().filter(|&n| n > 0)?;
    let limit = entry.get("limit")?.as_u64()?;
    Some(Window {
        kind,
        suffix: format!("{count}{letter}"),
        window_ms: i64::try_from(count).ok()?.checked_mul(unit_ms)?,
        limit,
        window_start_ms: i64::MIN,
        used: 0,
        in_flight: 0,
        carried: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A venue allowing `limit` weight per second and 5 orders per 10 s per account.
    fn venue(limit: u64) -> VenueBudget {
        let venue = VenueBudget::default();
        let info = json!({"rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": limit},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 5},
            {"rateLimitType": "SOMETHING_NEW", "interval": "SECOND", "intervalNum": 1, "limit": 1},
        ]});
        assert!(venue.install_limits(&info, 0, &RateLimitSettings::default()));
        assert_eq!(
            venue.weight_limits(),
            [("1S".to_owned(), limit)],
            "the IP's weight only"
        );
        venue
    }

    /// Reserves `cost` in `state` when it fits, as `reserve` does for one budget.
    fn try_reserve(
        state: &mut State,
        cost: Cost,
        settings: &RateLimitSettings,
        now_ms: i64,
    ) -> Option<Duration> {
        let wait = state.wait_for(cost, settings, now_ms);
        if wait.is_none() {
            state.commit(cost, settings, now_ms);
        }
        wait
    }

    fn used(budget: &Budget) -> Vec<u64> {
        let state = lock(&budget.state);
        state
            .windows
            .iter()
            .flatten()
            .map(|window| window.used)
            .collect()
    }

    const WEIGHT_2: Cost = Cost {
        weight: 2,
        orders: 0,
    };
    const ONE_ORDER: Cost = Cost {
        weight: 1,
        orders: 1,
    };
    const NOTHING: Cost = Cost {
        weight: 0,
        orders: 0,
    };

    #[test]
    fn reservations_stop_at_the_limit_less_headroom_and_wait_for_the_next_window() {
        let settings = RateLimitSettings {
            headroom_percent: 20,
            window_margin: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        let venue = venue(10);
        let mut state = State {
            windows: lock(&venue.ip.state).windows.clone(),
            blocked_until: None,
            early_usage: Usage::default(),
        };
        // 20 % of 10 kept free: four requests of weight 2 fit, the fifth waits.
        for _ in 0..4 {
            assert_eq!(try_reserve(&mut state, WEIGHT_2, &settings, 5_500), None);
        }
        // The window [5000, 6000) is left at 6000 + 100 ms of margin: 600 ms from 5500.
        assert_eq!(
            try_reserve(&mut state, WEIGHT_2, &settings, 5_500),
            Some(Duration::from_millis(600))
        );
        // Still the old window within the margin, a new one after it (in-flight still counted).
        assert!(try_reserve(&mut state, WEIGHT_2, &settings, 6_050).is_some());
        let windows = state.windows.as_mut().unwrap();
        windows[0].in_flight = 0;
        assert_eq!(try_reserve(&mut state, WEIGHT_2, &settings, 6_150), None);
    }

    #[tokio::test]
    async fn headers_raise_usage_and_throttles_block_or_fail_fast() {
        let venue = venue(100);
        let settings = RateLimitSettings {
            max_wait: Duration::from_millis(50),
            ..RateLimitSettings::default()
        };
        let reservation = venue
            .reserve(None, WEIGHT_2, &settings, None, || 1_500)
            .await
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-mbx-used-weight-1s", "95".parse().unwrap());
        let usage = Usage::from_headers(&headers);
        assert_eq!(usage.used_weight(), vec![("1S".to_owned(), 95)]);
        reservation.finish(true, &usage, None);
        assert_eq!(used(&venue.ip), vec![95]);
        // Over the head-room until the next window, further away than max_wait.
        let error = venue
            .reserve(None, WEIGHT_2, &settings, None, || 1_500)
            .await;
        assert_eq!(error.err().map(|refused| refused.blocked), Some(false));
        venue.ip.release(
            NOTHING,
            false,
            &Usage::default(),
            Some(Duration::from_secs(120)),
        );
        let error = venue
            .reserve(None, WEIGHT_2, &settings, None, || 99_999)
            .await;
        assert_eq!(error.err().map(|refused| refused.blocked), Some(true));
    }

    #[tokio::test]
    async fn each_account_has_its_own_orders_and_its_own_1015_throttle() {
        let settings = RateLimitSettings {
            max_wait: Duration::from_millis(50),
            ..RateLimitSettings::default()
        };
        let venue = venue(1_000);
        let alice = venue.account("alice", 0, &settings);
        assert!(Arc::ptr_eq(&alice, &venue.account("alice", 0, &settings)));
        let bob = venue.account("bob", 0, &settings);
        // 10 % of 5 kept free: four orders fit in Alice's window, the fifth would wait.
        for _ in 0..4 {
            let reservation = venue
                .reserve(Some(&alice), ONE_ORDER, &settings, None, || 1_000)
                .await
                .unwrap();
            reservation.finish(true, &Usage::default(), None);
        }
        assert_eq!(used(&alice), vec![4]);
        let refused = venue
            .reserve(Some(&alice), ONE_ORDER, &settings, None, || 1_000)
            .await;
        assert_eq!(refused.err().map(|refused| refused.blocked), Some(false));
        // Willing to wait the 9 s to the next window, but not past a deadline 100 ms away: the
        // order is refused at once rather than sent late.
        let patient = RateLimitSettings {
            max_wait: Duration::from_secs(60),
            ..settings.clone()
        };
        let asked_at = Instant::now();
        let deadline = asked_at + Duration::from_millis(100);
        let late = venue
            .reserve(Some(&alice), ONE_ORDER, &patient, Some(deadline), || 1_000)
            .await;
        assert!(
            late.as_ref()
                .err()
                .is_some_and(|refused| refused.past_deadline && !refused.blocked),
            "{:?}",
            late.err()
        );
        assert!(
            asked_at.elapsed() < Duration::from_secs(9),
            "it did not wait the window out"
        );
        // Bob's orders and Alice's reads go on; the IP budget counted all their weight.
        for (account, cost) in [(&bob, ONE_ORDER), (&alice, WEIGHT_2)] {
            let reservation = venue
                .reserve(Some(account), cost, &settings, None, || 1_000)
                .await
                .unwrap();
            reservation.finish(true, &Usage::default(), None);
        }
        assert_eq!(used(&venue.ip), vec![4 + 1 + 2]);
        assert_eq!(used(&bob), vec![1]);

        // Bob's order counted by the exchange goes to Bob's budget, not to the IP's.
        let mut headers = HeaderMap::new();
        headers.insert("x-mbx-order-count-10s", "3".parse().unwrap());
        let reservation = venue
            .reserve(Some(&bob), ONE_ORDER, &settings, None, || 1_000)
            .await
            .unwrap();
        // A -1015 stops Bob's new orders only: his reads and Alice's budget are untouched.
        reservation.finish(
            true,
            &Usage::from_headers(&headers),
            Some(Throttle::AccountOrders(Duration::from_secs(60))),
        );
        assert_eq!(used(&bob), vec![3]);
        assert_eq!(used(&venue.ip), vec![8]);
        let refused = venue
            .reserve(Some(&bob), ONE_ORDER, &settings, None, || 1_000)
            .await;
        assert_eq!(refused.err().map(|refused| refused.blocked), Some(true));
        assert!(
            venue
                .reserve(Some(&bob), WEIGHT_2, &settings, None, || 1_000)
                .await
                .is_ok()
        );
        assert!(lock(&alice.state).blocked_until.is_none());
    }

    #[test]
    fn an_account_first_seen_before_or_after_the_limits_gets_the_order_windows() {
        let settings = RateLimitSettings::default();
        let venue = VenueBudget::default();
        let early = venue.account("early", 0, &settings);
        assert!(!early.has_limits());
        let info = json!({"rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 100},
        ]});
        assert!(venue.install_limits(&info, 0, &settings));
        let late = venue.account("late", 0, &settings);
        for budget in [&early, &late] {
            let state = lock(&budget.state);
            let windows = state.windows.as_ref().unwrap();
            assert_eq!(windows.len(), 1);
            assert_eq!(
                (windows[0].kind, windows[0].limit),
                (LimitKind::Orders, 100)
            );
        }
        let ip_state = lock(&venue.ip.state);
        let ip_windows = ip_state.windows.as_ref().unwrap();
        assert_eq!(ip_windows.len(), 1);
        assert_eq!(ip_windows[0].kind, LimitKind::Weight);
    }

    #[test]
    fn unreadable_limits_are_ignored() {
        let venue = VenueBudget::default();
        let settings = RateLimitSettings::default();
        assert!(!venue.install_limits(&json!({"symbols": []}), 0, &settings));
        assert!(!venue.has_limits());
        assert!(venue.install_limits(&json!({"rateLimits": [{"rateLimitType": 1}]}), 0, &settings));
        assert!(venue.has_limits());
    }
}
