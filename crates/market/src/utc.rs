//! UTC timestamps for people: milliseconds since the Unix epoch shown as
//! `2025-06-15 12:00:00 UTC`. Written by hand (the days-to-civil-date conversion from Howard
//! Hinnant's date algorithms) because it is a dozen lines, while a date crate would be the
//! workspace's only use of one.

/// `ms` (milliseconds since the Unix epoch) as `YYYY-MM-DD HH:MM:SS UTC`, proleptic Gregorian.
///
/// ```
/// assert_eq!(market::format_utc_ms(1_749_988_800_000), "2025-06-15 12:00:00 UTC");
/// assert_eq!(market::format_utc_ms(-1_000), "1969-12-31 23:59:59 UTC");
/// ```
pub fn format_utc_ms(ms: i64) -> String {
    let seconds = ms.div_euclid(1_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

/// The UTC calendar date `(year, month 1-12, day 1-31)` of `ms` (milliseconds since the Unix
/// epoch), proleptic Gregorian.
///
/// ```
/// assert_eq!(market::utc_date(1_709_251_199_999), (2024, 2, 29));
/// ```
pub fn utc_date(ms: i64) -> (i64, u32, u32) {
    civil_from_days(ms.div_euclid(1_000).div_euclid(86_400))
}

/// `ms` as its UTC date, `YYYY-MM-DD`.
///
/// ```
/// assert_eq!(market::format_utc_date(1_749_988_800_000), "2025-06-15");
/// ```
pub fn format_utc_date(ms: i64) -> String {
    let (year, month, day) = utc_date(ms);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `ms` as ISO 8601 in UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`: for files programs read too.
///
/// ```
/// assert_eq!(market::format_iso_utc_ms(1_749_988_800_000), "2025-06-15T12:00:00Z");
/// ```
pub fn format_iso_utc_ms(ms: i64) -> String {
    let of_day = ms.div_euclid(1_000).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_utc_date(ms),
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

/// The (year, month, day) of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shifted so that years start on 1 March: the leap day is the last day of a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_utc_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc_ms(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc_ms(1_709_251_199_999), "2024-02-29 23:59:59 UTC");
        assert_eq!(format_utc_ms(4_102_444_800_000), "2100-01-01 00:00:00 UTC");
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_previous() {
        let mut previous = civil_from_days(-1);
        for days in 0..146_097 {
            let today = civil_from_days(days);
            let next_day = (previous.0, previous.1, previous.2 + 1);
            let next_month = (previous.0, previous.1 + 1, 1);
            let next_year = (previous.0 + 1, 1, 1);
            assert!(
                today == next_day || today == next_month || today == next_year,
                "{previous:?} -> {today:?}"
            );
            previous = today;
        }
        assert_eq!(previous, (2369, 12, 31));
    }
}
