//! The one text format of timestamps and dates in SQLite.
//!
//! Fixed width and UTC, so that text comparison is time comparison (the
//! `updated_at` guard of every upsert relies on it) and SQLite's date
//! functions read it. Microsecond precision, like PostgreSQL's TIMESTAMPTZ:
//! both backends store exactly the same instants.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, SubsecRound, Utc};

use crate::StoreError;

pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";
pub const DATE_FORMAT: &str = "%Y-%m-%d";

/// The instant as the mirror stores it (sub-microsecond digits dropped).
pub fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// [`TIMESTAMP_FORMAT`], written by chrono's RFC 3339 formatter: the same
/// text without parsing a format string per call (every row of a sync goes
/// through here; `StrftimeItems` was ~3% of the writer's time).
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, StoreError> {
    NaiveDateTime::parse_from_str(s, TIMESTAMP_FORMAT)
        .map(|n| n.and_utc())
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

/// [`DATE_FORMAT`]: `NaiveDate`'s own `Display` is ISO 8601.
pub fn format_date(d: NaiveDate) -> String {
    d.to_string()
}

pub fn parse_date(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, DATE_FORMAT)
        .map_err(|e| StoreError::Corrupt(format!("date {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_fixed_width_and_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        assert_eq!(format_timestamp(t), "2026-03-04T05:06:07.000000Z");
        let t = t + chrono::Duration::nanoseconds(123_456_789);
        let s = format_timestamp(t);
        assert_eq!(s, "2026-03-04T05:06:07.123456Z");
        assert_eq!(parse_timestamp(&s).unwrap(), stored(t));
        assert!(parse_timestamp("2026-03-04 05:06:07").is_err());
    }

    #[test]
    fn text_order_is_time_order() {
        let a = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        let c = a + chrono::Duration::days(400);
        assert!(format_timestamp(a) < format_timestamp(b));
        assert!(format_timestamp(b) < format_timestamp(c));
    }

    #[test]
    fn the_fast_formatters_write_exactly_the_declared_formats() {
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap()
            + chrono::Duration::nanoseconds(5_999);
        for t in [t, t + chrono::Duration::days(3_000), stored(t)] {
            assert_eq!(format_timestamp(t), t.format(TIMESTAMP_FORMAT).to_string());
            assert_eq!(
                format_date(t.date_naive()),
                t.date_naive().format(DATE_FORMAT).to_string()
            );
        }
        let early = NaiveDate::from_ymd_opt(987, 6, 5).unwrap();
        assert_eq!(format_date(early), "0987-06-05");
    }

    #[test]
    fn dates_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 9).unwrap();
        assert_eq!(format_date(d), "2026-01-09");
        assert_eq!(parse_date("2026-01-09").unwrap(), d);
        assert!(parse_date("2026-1-9x").is_err());
    }
}
