//! Where klines of each interval start and end, in milliseconds since the Unix epoch (UTC).
//!
//! Fixed-length intervals up to 3 days are aligned to multiples of their length since the epoch;
//! weeks start on Monday 00:00 UTC (the doc's weekly example opens on Monday 2017-07-03); months
//! are calendar months.

use market::Interval;

const DAY_MS: i64 = 86_400_000;
/// The epoch (1970-01-01) was a Thursday; the first Monday after it is 4 days later.
const FIRST_MONDAY_MS: i64 = 4 * DAY_MS;

/// The open time of the kline of `interval` that contains `time_ms`.
pub fn kline_open(interval: Interval, time_ms: i64) -> i64 {
    match interval {
        Interval::Mo1 => {
            let (year, month, _) = civil_from_days(time_ms.div_euclid(DAY_MS));
            days_from_civil(year, month, 1) * DAY_MS
        }
        Interval::W1 => {
            FIRST_MONDAY_MS + (time_ms - FIRST_MONDAY_MS).div_euclid(7 * DAY_MS) * 7 * DAY_MS
        }
        fixed => {
            let length = fixed_length_ms(fixed);
            time_ms.div_euclid(length) * length
        }
    }
}

/// The open time of the kline after the one opening at `open_ms`.
pub fn next_kline_open(interval: Interval, open_ms: i64) -> i64 {
    match interval {
        Interval::Mo1 => {
            let (year, month, _) = civil_from_days(open_ms.div_euclid(DAY_MS));
            let (year, month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            days_from_civil(year, month, 1) * DAY_MS
        }
        Interval::W1 => open_ms + 7 * DAY_MS,
        fixed => open_ms + fixed_length_ms(fixed),
    }
}

/// The open time of the kline before the one opening at `open_ms`.
pub fn previous_kline_open(interval: Interval, open_ms: i64) -> i64 {
    kline_open(interval, open_ms - 1)
}

/// The length of an interval that is not a month (whose nominal length is only an estimate).
fn fixed_length_ms(interval: Interval) -> i64 {
    debug_assert!(interval != Interval::Mo1);
    i64::try_from(interval.nominal_duration().as_millis()).expect("intervals are at most days long")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_weekly_kline_opens_on_its_monday_and_closes_a_week_later() {
        // rest-klines.response.json: open 1499040000000, close 1499644799999.
        assert_eq!(
            kline_open(Interval::W1, 1_499_300_000_000),
            1_499_040_000_000
        );
        assert_eq!(
            next_kline_open(Interval::W1, 1_499_040_000_000) - 1,
            1_499_644_799_999
        );
    }

    #[test]
    fn months_are_calendar_months() {
        // 2024-02-15 -> 2024-02-01 (1706745600000); next is 2024-03-01 (1709251200000).
        assert_eq!(
            kline_open(Interval::Mo1, 1_708_000_000_000),
            1_706_745_600_000
        );
        assert_eq!(
            next_kline_open(Interval::Mo1, 1_706_745_600_000),
            1_709_251_200_000
        );
        // December rolls into January of the next year: 2023-12-01 -> 2024-01-01.
        assert_eq!(
            next_kline_open(Interval::Mo1, 1_701_388_800_000),
            1_704_067_200_000
        );
        assert_eq!(
            previous_kline_open(Interval::Mo1, 1_704_067_200_000),
            1_701_388_800_000
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1_000_000, -1, 0, 59, 60, 11_016, 19_782, 2_000_000] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn fixed_intervals_align_to_multiples_of_their_length() {
        assert_eq!(kline_open(Interval::M1, 125_000), 120_000);
        assert_eq!(kline_open(Interval::H1, 3_599_999), 0);
        assert_eq!(next_kline_open(Interval::M5, 300_000), 600_000);
        assert_eq!(previous_kline_open(Interval::S1, 5_000), 4_000);
    }
}
