//! Sandbox time: whole seconds since the Unix epoch, UTC.

use chrono::{DateTime, Datelike, Months, NaiveDate, SecondsFormat, Utc};

/// Unix seconds, UTC. Compact and cheap to compare.
pub(crate) type Ts = i64;

pub(crate) const MINUTE: Ts = 60;
pub(crate) const HOUR: Ts = 3_600;
pub(crate) const DAY: Ts = 86_400;

pub(crate) fn to_dt(ts: Ts) -> DateTime<Utc> {
    DateTime::from_timestamp(ts, 0).unwrap_or_default()
}

/// RFC 3339, UTC, whole seconds: `2026-06-06T09:12:00Z`.
pub(crate) fn fmt_ts(ts: Ts) -> String {
    to_dt(ts).to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn date_of(ts: Ts) -> NaiveDate {
    to_dt(ts).date_naive()
}

/// `YYYY-MM-DD`.
pub(crate) fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The instant `hour:00:00Z` on `d`.
pub(crate) fn at_hour(d: NaiveDate, hour: u32) -> Ts {
    d.and_hms_opt(hour, 0, 0)
        .map(|x| x.and_utc().timestamp())
        .unwrap_or_default()
}

pub(crate) fn add_days(d: NaiveDate, days: i64) -> NaiveDate {
    d.checked_add_signed(chrono::Duration::days(days))
        .unwrap_or(d)
}

/// Same day `months` calendar months later, clamped to the month's last day.
pub(crate) fn add_months(d: NaiveDate, months: u32) -> NaiveDate {
    d.checked_add_months(Months::new(months)).unwrap_or(d)
}

pub(crate) fn sub_months(d: NaiveDate, months: u32) -> NaiveDate {
    d.checked_sub_months(Months::new(months)).unwrap_or(d)
}

/// 06:00Z on the first day of the month after `ts`.
pub(crate) fn next_month_start(ts: Ts) -> Ts {
    let d = date_of(ts);
    let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d);
    at_hour(add_months(first, 1), 6)
}

/// Whole days from `from` to `to`, rounded up (0 when `to <= from`).
pub(crate) fn ceil_days(from: Ts, to: Ts) -> i64 {
    if to <= from {
        0
    } else {
        (to - from + DAY - 1) / DAY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_with_z() {
        let ts = at_hour(NaiveDate::from_ymd_opt(2026, 6, 6).unwrap(), 9) + 12 * MINUTE;
        assert_eq!(fmt_ts(ts), "2026-06-06T09:12:00Z");
        assert_eq!(fmt_date(date_of(ts)), "2026-06-06");
    }

    #[test]
    fn month_arithmetic_clamps() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        assert_eq!(
            add_months(d, 1),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        assert_eq!(
            add_months(d, 2),
            NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()
        );
        let ts = at_hour(d, 13);
        assert_eq!(fmt_ts(next_month_start(ts)), "2026-02-01T06:00:00Z");
    }

    #[test]
    fn ceil_days_rounds_up() {
        assert_eq!(ceil_days(0, 0), 0);
        assert_eq!(ceil_days(0, 1), 1);
        assert_eq!(ceil_days(0, DAY), 1);
        assert_eq!(ceil_days(0, DAY + 1), 2);
        assert_eq!(ceil_days(10, 5), 0);
    }
}
