//! One rate-limit budget per process and egress IP: every [`Client`](crate::Client) built for
//! the same base URL in this process (and every clone of one) draws on the same [`Budget`].
//!
//! - The limits are Binance's own, read from `exchangeInfo.rateLimits` (`REQUEST_WEIGHT`,
//!   `RAW_REQUESTS`, `ORDERS`), each over a fixed window aligned to the epoch in **server** time
//!   (the client's median clock offset places the windows).
//! - Each request reserves its weight (and, for a new order, one order) before it is sent; the
//!   reservation becomes usage when the answer arrives, and the `X-MBX-USED-WEIGHT-*` /
//!   `X-MBX-ORDER-COUNT-*` headers raise the usage to what the exchange counted (other processes
//!   on the same IP included).
//! - A request that would bring a window within the head-room of its limit waits for the window
//!   to end or for reservations to be released, instead of provoking a 429.
//! - After a 429 or 418 every request waits until `Retry-After` has passed; a wait longer than
//!   [`RateLimitSettings::max_wait`] fails fast with [`ErrorKind::BudgetExhausted`](crate::ErrorKind::BudgetExhausted).
//!
//! Our estimate of the server's clock may be off by up to [`RateLimitSettings::window_margin`]:
//! a window is only left that long after its end by our clock, and what is reserved within the
//! margin on either side of the end counts in both windows, so that clock error never makes the
//! client spend a window the exchange has not started, nor forget usage it counts in the new one. Order counts are per account on Binance; the budget counts all accounts of the
//! process together, which can only wait too early, never too late.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::Notify;

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
    /// `ORDERS`: new orders.
    Orders,
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

#[derive(Debug, Default)]
struct State {
    /// `None` until `exchangeInfo.rateLimits` was read.
    windows: Option<Vec<Window>>,
    /// No request may be sent before this (set by 429 and 418).
    blocked_until: Option<Instant>,
    /// Usage headers seen before the limits were known, applied when they are.
    early_usage: Vec<(LimitKind, String, u64)>,
}

/// The shared budget of one base URL.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    state: Mutex<State>,
    /// Woken when reservations are released or limits change.
    changed: Notify,
    /// Held while the limits are being loaded, so that only one request loads them.
    pub(crate) loading: tokio::sync::Mutex<()>,
}

/// Why the budget refused to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted {
    /// How long the request would have had to wait.
    pub(crate) wait: Duration,
    /// Whether the wait is a ban (418) or a throttle (429) rather than the budget.
    pub(crate) blocked: bool,
}

/// The budget shared by every client of `base_url` in this process.
pub(crate) fn budget_for(base_url: &str) -> Arc<Budget> {
    static BUDGETS: OnceLock<Mutex<HashMap<String, Arc<Budget>>>> = OnceLock::new();
    let budgets = BUDGETS.get_or_init(Mutex::default);
    lock(budgets)
        .entry(base_url.to_owned())
        .or_default()
        .clone()
}

impl Budget {
    /// Whether `exchangeInfo.rateLimits` has been read.
    pub(crate) fn has_limits(&self) -> bool {
        lock(&self.state).windows.is_some()
    }

    /// Installs the limits of an `exchangeInfo` answer, keeping the usage of windows that stay;
    /// a new window starts at `server_now_ms` (less the margin of `settings`) with the usage the
    /// headers reported so far. Returns `false` when the answer carries no readable `rateLimits`.
    pub(crate) fn install_limits(
        &self,
        exchange_info: &Value,
        server_now_ms: i64,
        settings: &RateLimitSettings,
    ) -> bool {
        let Some(entries) = exchange_info.get("rateLimits").and_then(Value::as_array) else {
            return false;
        };
        let mut windows: Vec<Window> = entries.iter().filter_map(parse_limit).collect();
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
                window.used = early_count(&state.early_usage, window);
                if server_now_ms >= window.end_ms().saturating_sub(margin_ms(settings)) {
                    window.carried = window.used;
                }
            }
            state.early_usage.clear();
            state.windows = Some(windows);
        }
        self.changed.notify_waiters();
        true
    }

    /// Waits until `cost` fits within every limit less the head-room (and any ban or throttle
    /// has passed), then reserves it. `server_now_ms` estimates the exchange's clock.
    pub(crate) async fn reserve(
        &self,
        cost: Cost,
        settings: &RateLimitSettings,
        server_now_ms: impl Fn() -> i64,
    ) -> Result<Reservation<'_>, Exhausted> {
        loop {
            let changed = self.changed.notified();
            let (wait, blocked) = {
                let mut state = lock(&self.state);
                match state.blocked_until {
                    Some(until) if until > Instant::now() => (until - Instant::now(), true),
                    _ => {
                        state.blocked_until = None;
                        let now_ms = server_now_ms();
                        match try_reserve(&mut state, cost, settings, now_ms) {
                            None => {
                                return Ok(Reservation {
                                    budget: self,
                                    cost,
                                    open: true,
                                });
                            }
                            Some(wait) => (wait, false),
                        }
                    }
                }
            };
            if wait > settings.max_wait {
                return Err(Exhausted { wait, blocked });
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = changed => {}
            }
        }
    }

    /// Ends a reservation of `cost` (see [`Reservation::finish`]).
    fn release(
        &self,
        cost: Cost,
        sent: bool,
        headers: Option<&HeaderMap>,
        throttled_for: Option<Duration>,
    ) {
        let usage = headers.map(usage_headers).unwrap_or_default();
        {
            let mut state = lock(&self.state);
            if let Some(wait) = throttled_for {
                let until = Instant::now() + wait;
                state.blocked_until = Some(state.blocked_until.map_or(until, |old| old.max(until)));
            }
            if state.windows.is_none() {
                state.early_usage.extend(usage.iter().cloned());
            }
            for window in state.windows.iter_mut().flatten() {
                let spent = cost.of(window.kind);
                window.in_flight = window.in_flight.saturating_sub(spent);
                if sent {
                    window.used = window.used.saturating_add(spent);
                }
                window.used = window.used.max(early_count(&usage, window));
            }
        }
        self.changed.notify_waiters();
    }
}

/// Weight reserved by a request in flight. Dropped without [`finish`](Self::finish) (the request
/// was cancelled), its cost counts as used.
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    budget: &'a Budget,
    cost: Cost,
    open: bool,
}

impl Reservation<'_> {
    /// Ends the reservation: `sent` when the request may have reached the exchange (its cost then
    /// counts as used), with the answer's usage headers and, after a 429/418, its `Retry-After`.
    pub(crate) fn finish(
        mut self,
        sent: bool,
        headers: Option<&HeaderMap>,
        throttled_for: Option<Duration>,
    ) {
        self.open = false;
        self.budget.release(self.cost, sent, headers, throttled_for);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.open {
            self.budget.release(self.cost, true, None, None);
        }
    }
}

/// Reserves `cost` in every window, or returns how long to wait before trying again.
fn try_reserve(
    state: &mut State,
    cost: Cost,
    settings: &RateLimitSettings,
    now_ms: i64,
) -> Option<Duration> {
    let windows = state.windows.as_mut()?;
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
        if taken > 0 && taken.saturating_add(spent) > window.allowed(settings.headroom_percent) {
            let next_ms = window.end_ms();
            let until_ms = u64::try_from(next_ms.saturating_sub(lagging_ms)).unwrap_or(0);
            let until = Duration::from_millis(until_ms.max(1));
            wait = Some(wait.map_or(until, |longest| longest.max(until)));
        }
    }
    if wait.is_none() {
        for window in windows.iter_mut() {
            let spent = cost.of(window.kind);
            window.in_flight = window.in_flight.saturating_add(spent);
            if now_ms >= window.end_ms().saturating_sub(margin_ms(settings)) {
                window.carried = window.carried.saturating_add(spent);
            }
        }
    }
    wait
}

/// The window margin of `settings` in ms.
fn margin_ms(settings: &RateLimitSettings) -> i64 {
    i64::try_from(settings.window_margin.as_millis()).unwrap_or(i64::MAX)
}

/// The largest count `usage` reported for `window`'s limit (0 when none).
fn early_count(usage: &[(LimitKind, String, u64)], window: &Window) -> u64 {
    usage
        .iter()
        .filter(|(kind, suffix, _)| *kind == window.kind && *suffix == window.suffix)
        .map(|(_, _, count)| *count)
        .max()
        .unwrap_or(0)
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

/// The usage headers of an answer as (kind, suffix, count).
fn usage_headers(headers: &HeaderMap) -> Vec<(LimitKind, String, u64)> {
    headers
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
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn budget(limit: u64) -> Budget {
        let budget = Budget::default();
        let info = json!({"rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": limit},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 5},
            {"rateLimitType": "SOMETHING_NEW", "interval": "SECOND", "intervalNum": 1, "limit": 1},
        ]});
        assert!(budget.install_limits(&info, 0, &RateLimitSettings::default()));
        budget
    }

    const WEIGHT_2: Cost = Cost {
        weight: 2,
        orders: 0,
    };

    #[test]
    fn reservations_stop_at_the_limit_less_headroom_and_wait_for_the_next_window() {
        let settings = RateLimitSettings {
            headroom_percent: 20,
            window_margin: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        let budget = budget(10);
        let mut state = State {
            windows: lock(&budget.state).windows.clone(),
            blocked_until: None,
            early_usage: Vec::new(),
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
        let budget = budget(100);
        let settings = RateLimitSettings {
            max_wait: Duration::from_millis(50),
            ..RateLimitSettings::default()
        };
        let reservation = budget.reserve(WEIGHT_2, &settings, || 1_500).await.unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-mbx-used-weight-1s", "95".parse().unwrap());
        reservation.finish(true, Some(&headers), None);
        assert_eq!(lock(&budget.state).windows.as_ref().unwrap()[0].used, 95);
        // Over the head-room until the next window, further away than max_wait.
        let error = budget.reserve(WEIGHT_2, &settings, || 1_500).await;
        assert_eq!(error.err().map(|refused| refused.blocked), Some(false));
        budget.release(
            Cost {
                weight: 0,
                orders: 0,
            },
            false,
            None,
            Some(Duration::from_secs(120)),
        );
        let error = budget.reserve(WEIGHT_2, &settings, || 99_999).await;
        assert_eq!(error.err().map(|refused| refused.blocked), Some(true));
    }

    #[test]
    fn unreadable_limits_are_ignored() {
        let budget = Budget::default();
        let settings = RateLimitSettings::default();
        assert!(!budget.install_limits(&json!({"symbols": []}), 0, &settings));
        assert!(!budget.has_limits());
        assert!(budget.install_limits(
            &json!({"rateLimits": [{"rateLimitType": 1}]}),
            0,
            &settings
        ));
        assert!(budget.has_limits());
    }
}
