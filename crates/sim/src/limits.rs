//! Rate limits as Binance enforces them (reference § 5): request weight and raw requests per
//! client IP, the unfilled-order count per account, each over fixed windows aligned to the epoch
//! (a 10-second window runs 12:34:00-12:34:10, a day window from UTC midnight, as the order-count
//! FAQ describes), and escalating IP bans for clients that keep sending after a 429.
//!
//! The limits are data ([`RateLimit`]): the same values are published in
//! `exchangeInfo.rateLimits` and enforced here, so a client that reads them cannot be misled.
//!
//! Choices where the docs are silent: a request refused with 429 is still charged its weight; a
//! client that sends anything before the 429's `Retry-After` has passed is banned (418), for 2
//! minutes the first time and twice as long each further time up to 3 days; the escalation starts
//! over once a day passes without a ban.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{Value, json};

use crate::error::ApiError;

/// The first ban's length, ms (reference § 3: "from 2 minutes").
const FIRST_BAN_MS: i64 = 2 * 60_000;
/// The longest ban, ms (reference § 3: "to 3 days").
const LONGEST_BAN_MS: i64 = 3 * 86_400_000;
/// How long an IP must go without a ban for the escalation to start over, ms.
const BAN_MEMORY_MS: i64 = 86_400_000;

/// What a limit counts (`rateLimitType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitType {
    /// `REQUEST_WEIGHT`: the sum of the endpoints' weights, per IP.
    RequestWeight,
    /// `ORDERS`: new orders that did not trade, per account.
    Orders,
    /// `RAW_REQUESTS`: requests of any kind, per IP.
    RawRequests,
}

impl RateLimitType {
    /// Binance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitType::RequestWeight => "REQUEST_WEIGHT",
            RateLimitType::Orders => "ORDERS",
            RateLimitType::RawRequests => "RAW_REQUESTS",
        }
    }
}

/// The unit of a limit's window (`interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitInterval {
    /// `SECOND`.
    Second,
    /// `MINUTE`.
    Minute,
    /// `DAY`.
    Day,
}

impl RateLimitInterval {
    /// Binance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitInterval::Second => "SECOND",
            RateLimitInterval::Minute => "MINUTE",
            RateLimitInterval::Day => "DAY",
        }
    }

    fn unit_ms(self) -> i64 {
        match self {
            RateLimitInterval::Second => 1_000,
            RateLimitInterval::Minute => 60_000,
            RateLimitInterval::Day => 86_400_000,
        }
    }

    /// The letter of the response headers (`X-MBX-USED-WEIGHT-1M`).
    fn letter(self) -> char {
        match self {
            RateLimitInterval::Second => 'S',
            RateLimitInterval::Minute => 'M',
            RateLimitInterval::Day => 'D',
        }
    }
}

/// One limit, as published in `exchangeInfo.rateLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// What it counts.
    pub limit_type: RateLimitType,
    /// The unit of its window.
    pub interval: RateLimitInterval,
    /// How many units the window spans (at least 1).
    pub interval_num: u32,
    /// The most the window allows.
    pub limit: u64,
}

impl RateLimit {
    /// The production values (reference § 5): 6000 weight per minute, 50 unfilled orders per 10
    /// seconds and 160,000 per day, 300,000 raw requests per 5 minutes.
    pub fn binance_defaults() -> Vec<RateLimit> {
        use RateLimitInterval::{Day, Minute, Second};
        use RateLimitType::{Orders, RawRequests, RequestWeight};
        let limit = |limit_type, interval, interval_num, limit| RateLimit {
            limit_type,
            interval,
            interval_num,
            limit,
        };
        vec![
            limit(RequestWeight, Minute, 1, 6_000),
            limit(Orders, Second, 10, 50),
            limit(Orders, Day, 1, 160_000),
            limit(RawRequests, Minute, 5, 300_000),
        ]
    }

    /// The `exchangeInfo.rateLimits` entry.
    pub fn to_json(&self) -> Value {
        json!({
            "rateLimitType": self.limit_type.as_str(),
            "interval": self.interval.as_str(),
            "intervalNum": self.interval_num,
            "limit": self.limit,
        })
    }

    fn window_ms(&self) -> i64 {
        self.interval.unit_ms() * i64::from(self.interval_num.max(1))
    }

    /// `1M`, `10S`, `1D`: the tail of the usage headers.
    fn header_suffix(&self) -> String {
        format!("{}{}", self.interval_num, self.interval.letter())
    }

    /// `1 MINUTE`: how the error messages name the window.
    fn per(&self) -> String {
        format!("{} {}", self.interval_num, self.interval.as_str())
    }

    /// When the window containing `now_ms` starts.
    fn window_start(&self, now_ms: i64) -> i64 {
        now_ms - now_ms.rem_euclid(self.window_ms())
    }

    /// When the window containing `now_ms` ends.
    fn window_end(&self, now_ms: i64) -> i64 {
        self.window_start(now_ms).saturating_add(self.window_ms())
    }
}

/// A request refused by a limit: the error, whether it is a ban (418) or a throttle (429), and
/// the `Retry-After` seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// -1003 or -1015 with Binance's message.
    pub error: ApiError,
    /// 418 (the IP is banned) rather than 429.
    pub banned: bool,
    /// Seconds until the window ends (429) or the ban ends (418).
    pub retry_after_s: u64,
}

/// A count over one limit's current window.
#[derive(Debug, Clone, Copy, Default)]
struct WindowCount {
    window_start_ms: i64,
    count: u64,
}

impl WindowCount {
    /// The count in the window of `limit` containing `now_ms`, starting at zero in a new window.
    fn current(&mut self, limit: &RateLimit, now_ms: i64) -> &mut u64 {
        let start = limit.window_start(now_ms);
        if self.window_start_ms != start {
            *self = WindowCount {
                window_start_ms: start,
                count: 0,
            };
        }
        &mut self.count
    }
}

/// What the limiter knows about one client IP.
#[derive(Debug, Default)]
struct IpUsage {
    /// One count per limit of the limiter (only the per-IP ones are used).
    counts: Vec<WindowCount>,
    /// Until when the last 429 told the client to wait, ms.
    throttled_until_ms: i64,
    /// Until when the IP is banned, ms.
    banned_until_ms: i64,
    /// Bans so far in this escalation.
    bans: u32,
}

/// The counters behind every limit.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Vec<RateLimit>,
    ips: HashMap<IpAddr, IpUsage>,
    accounts: HashMap<String, Vec<WindowCount>>,
}

impl RateLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: Vec<RateLimit>) -> RateLimiter {
        RateLimiter {
            limits,
            ips: HashMap::new(),
            accounts: HashMap::new(),
        }
    }

    /// The limits enforced (and published).
    pub fn limits(&self) -> &[RateLimit] {
        &self.limits
    }

    /// Lets a request of `weight` from `ip` through, or refuses it: 418 while banned or when the
    /// client ignored a 429's `Retry-After`, 429 when the request would exceed a weight or
    /// raw-request limit. The weight of a refused 429 is charged; a let-through request is
    /// charged later with [`charge`](Self::charge), once its real weight is known.
    pub fn admit(&mut self, ip: IpAddr, weight: u64, now_ms: i64) -> Result<(), Throttle> {
        let usage = ip_usage(&mut self.ips, self.limits.len(), ip);
        if usage.banned_until_ms > now_ms {
            return Err(ban_throttle(usage.banned_until_ms, now_ms));
        }
        if usage.throttled_until_ms > now_ms {
            if usage.banned_until_ms.saturating_add(BAN_MEMORY_MS) < now_ms {
                usage.bans = 0;
            }
            let length = FIRST_BAN_MS
                .saturating_mul(1 << usage.bans.min(20))
                .min(LONGEST_BAN_MS);
            usage.bans += 1;
            usage.banned_until_ms = now_ms.saturating_add(length);
            usage.throttled_until_ms = 0;
            return Err(ban_throttle(usage.banned_until_ms, now_ms));
        }
        for (limit, count) in self.limits.iter().zip(usage.counts.iter_mut()) {
            let cost = match limit.limit_type {
                RateLimitType::RequestWeight => weight,
                RateLimitType::RawRequests => 1,
                RateLimitType::Orders => continue,
            };
            let used = count.current(limit, now_ms);
            if *used + cost > limit.limit {
                let message = match limit.limit_type {
                    RateLimitType::RequestWeight => format!(
                        "Too much request weight used; current limit is {} request weight per {}. Please use WebSocket Streams for live updates to avoid polling the API.",
                        limit.limit,
                        limit.per()
                    ),
                    _ => format!(
                        "Too many requests; current limit is {} requests per {}.",
                        limit.limit,
                        limit.per()
                    ),
                };
                *used += weight;
                let window_end_ms = limit.window_end(now_ms);
                usage.throttled_until_ms = window_end_ms;
                return Err(Throttle {
                    error: ApiError::too_many_requests(message),
                    banned: false,
                    retry_after_s: seconds_until(window_end_ms, now_ms),
                });
            }
        }
        Ok(())
    }

    /// Charges `weight` (and one raw request) to `ip`.
    pub fn charge(&mut self, ip: IpAddr, weight: u64, now_ms: i64) {
        let usage = ip_usage(&mut self.ips, self.limits.len(), ip);
        for (limit, count) in self.limits.iter().zip(usage.counts.iter_mut()) {
            let cost = match limit.limit_type {
                RateLimitType::RequestWeight => weight,
                RateLimitType::RawRequests => 1,
                RateLimitType::Orders => continue,
            };
            *count.current(limit, now_ms) += cost;
        }
    }

    /// `X-MBX-USED-WEIGHT-1M`-style headers: the weight `ip` used in each weight window.
    pub fn used_weight_headers(&mut self, ip: IpAddr, now_ms: i64) -> Vec<(String, u64)> {
        let usage = ip_usage(&mut self.ips, self.limits.len(), ip);
        headers(
            &self.limits,
            &mut usage.counts,
            RateLimitType::RequestWeight,
            "X-MBX-USED-WEIGHT-",
            now_ms,
        )
    }

    /// Refuses a new order of `account` with -1015 when an ORDERS window is full.
    pub fn admit_order(&mut self, account: &str, now_ms: i64) -> Result<(), Throttle> {
        let counts = account_counts(&mut self.accounts, self.limits.len(), account);
        for (limit, count) in self.limits.iter().zip(counts.iter_mut()) {
            if limit.limit_type != RateLimitType::Orders {
                continue;
            }
            if *count.current(limit, now_ms) >= limit.limit {
                let window_end_ms = limit.window_end(now_ms);
                return Err(Throttle {
                    error: ApiError::too_many_orders(limit.limit, &limit.per()),
                    banned: false,
                    retry_after_s: seconds_until(window_end_ms, now_ms),
                });
            }
        }
        Ok(())
    }

    /// Counts an order of `account` that reached the matching engine: +1 in every ORDERS window,
    /// and -1 again when it traded (an order's first fill takes it off the unfilled count), so
    /// only orders that never traded count.
    pub fn count_order(&mut self, account: &str, traded: bool, now_ms: i64) {
        if traded {
            return;
        }
        let counts = account_counts(&mut self.accounts, self.limits.len(), account);
        for (limit, count) in self.limits.iter().zip(counts.iter_mut()) {
            if limit.limit_type == RateLimitType::Orders {
                *count.current(limit, now_ms) += 1;
            }
        }
    }

    /// `X-MBX-ORDER-COUNT-10S`-style headers: the unfilled-order count of `account` per window.
    pub fn order_count_headers(&mut self, account: &str, now_ms: i64) -> Vec<(String, u64)> {
        headers(
            &self.limits,
            account_counts(&mut self.accounts, self.limits.len(), account),
            RateLimitType::Orders,
            "X-MBX-ORDER-COUNT-",
            now_ms,
        )
    }
}

/// The usage of `ip`, with one count per limit.
fn ip_usage(ips: &mut HashMap<IpAddr, IpUsage>, limit_count: usize, ip: IpAddr) -> &mut IpUsage {
    let usage = ips.entry(ip).or_default();
    usage.counts.resize_with(limit_count, WindowCount::default);
    usage
}

/// The order counts of `account`, one per limit.
fn account_counts<'a>(
    accounts: &'a mut HashMap<String, Vec<WindowCount>>,
    limit_count: usize,
    account: &str,
) -> &'a mut Vec<WindowCount> {
    let counts = accounts.entry(account.to_owned()).or_default();
    counts.resize_with(limit_count, WindowCount::default);
    counts
}

/// The headers `prefix + suffix` of the limits of `limit_type`, with the current counts.
fn headers(
    limits: &[RateLimit],
    counts: &mut [WindowCount],
    limit_type: RateLimitType,
    prefix: &str,
    now_ms: i64,
) -> Vec<(String, u64)> {
    limits
        .iter()
        .zip(counts.iter_mut())
        .filter(|(limit, _)| limit.limit_type == limit_type)
        .map(|(limit, count)| {
            (
                format!("{prefix}{}", limit.header_suffix()),
                *count.current(limit, now_ms),
            )
        })
        .collect()
}

fn ban_throttle(banned_until_ms: i64, now_ms: i64) -> Throttle {
    Throttle {
        error: ApiError::ip_banned(banned_until_ms),
        banned: true,
        retry_after_s: seconds_until(banned_until_ms, now_ms),
    }
}

/// Whole seconds from `now_ms` until `until_ms`, rounded up, at least 1.
fn seconds_until(until_ms: i64, now_ms: i64) -> u64 {
    let wait_ms = until_ms.saturating_sub(now_ms).max(1);
    u64::try_from(wait_ms.saturating_add(999) / 1_000).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// 12:00:30 on some day: mid-minute, so the minute window ends in 30 s.
    const NOW: i64 = 1_749_988_830_000;

    fn limiter(weight_limit: u64) -> RateLimiter {
        RateLimiter::new(vec![RateLimit {
            limit_type: RateLimitType::RequestWeight,
            interval: RateLimitInterval::Minute,
            interval_num: 1,
            limit: weight_limit,
        }])
    }

    #[test]
    fn weight_is_counted_per_fixed_minute_window() {
        let mut limiter = limiter(10);
        limiter.admit(IP, 6, NOW).unwrap();
        limiter.charge(IP, 6, NOW);
        let refused = limiter.admit(IP, 6, NOW + 1_000).unwrap_err();
        assert_eq!(refused.error.code, -1003);
        assert!(!refused.banned);
        assert_eq!(refused.retry_after_s, 29);
        assert_eq!(
            limiter.used_weight_headers(IP, NOW + 1_000),
            [("X-MBX-USED-WEIGHT-1M".to_owned(), 12)]
        );
        // The next minute starts from zero.
        assert!(limiter.admit(IP, 6, NOW + 30_000).is_ok());
    }

    #[test]
    fn bans_double_from_two_minutes_up_to_three_days() {
        let mut limiter = limiter(1);
        let mut now = NOW;
        let mut lengths = Vec::new();
        for _ in 0..14 {
            limiter.charge(IP, 1, now);
            assert!(!limiter.admit(IP, 1, now).unwrap_err().banned);
            let ban = limiter.admit(IP, 1, now).unwrap_err();
            assert!(ban.banned);
            lengths.push(ban.retry_after_s);
            now += i64::try_from(ban.retry_after_s).unwrap() * 1_000;
        }
        assert_eq!(&lengths[..4], [120, 240, 480, 960]);
        assert_eq!(lengths[13], 3 * 86_400);
    }

    #[test]
    fn only_orders_that_never_traded_count() {
        let mut limiter = RateLimiter::new(vec![RateLimit {
            limit_type: RateLimitType::Orders,
            interval: RateLimitInterval::Second,
            interval_num: 10,
            limit: 1,
        }]);
        limiter.count_order("key", true, NOW);
        assert!(limiter.admit_order("key", NOW).is_ok());
        limiter.count_order("key", false, NOW);
        let refused = limiter.admit_order("key", NOW).unwrap_err();
        assert_eq!(
            refused.error.msg,
            "Too many new orders; current limit is 1 orders per 10 SECOND."
        );
        assert_eq!(refused.retry_after_s, 10);
        assert!(limiter.admit_order("other", NOW).is_ok());
    }
}
