//! The unattended-read quota, as pure functions of the read log and the clock.
//!
//! PSD2 (RTS art. 36(5)) and the consent's `frequencyPerDay` limit how often a
//! TPP may read an account without the holder present. The rule kept here:
//! at most `limit` unattended *reads* in any rolling 24 hours, where one read
//! is one session that touches the bank (the account list, each account's
//! transactions with all their `_links.next` pages, each account's
//! balances). Counting whole sessions is at least as strict as the bank's
//! count per account and per endpoint, so the bank's `ACCESS_EXCEEDED` is
//! never provoked by a well-behaved schedule.
//!
//! The log lives in the credentials document (`reads`), because it must
//! survive the process: it is appended and saved before the first unattended
//! request of a session, so a crash after the request still counts it.

use chrono::{DateTime, Duration, Utc};

pub fn window() -> Duration {
    Duration::hours(24)
}

/// Drops reads that left the rolling window.
pub fn prune(reads: &mut Vec<DateTime<Utc>>, now: DateTime<Utc>) {
    let since = now - window();
    reads.retain(|t| *t > since);
    reads.sort();
}

/// `Ok` when one more read is allowed now; otherwise the earliest time it is.
pub fn check(reads: &[DateTime<Utc>], now: DateTime<Utc>, limit: u32) -> Result<(), DateTime<Utc>> {
    let since = now - window();
    let mut in_window: Vec<DateTime<Utc>> = reads.iter().copied().filter(|t| *t > since).collect();
    in_window.sort();
    let limit = limit.max(1) as usize;
    if in_window.len() < limit {
        return Ok(());
    }
    // Once this read leaves the window, fewer than `limit` remain.
    Err(in_window[in_window.len() - limit] + window())
}

/// When to try again after the bank itself answered `ACCESS_EXCEEDED`:
/// its `Retry-After` when given, else when our own log frees a slot, else
/// one slot's share of the day.
pub fn after_refusal(
    reads: &[DateTime<Utc>],
    now: DateTime<Utc>,
    limit: u32,
    retry_after: Option<std::time::Duration>,
) -> DateTime<Utc> {
    if let Some(wait) = retry_after.and_then(|w| Duration::from_std(w).ok()) {
        return now + wait;
    }
    if let Err(at) = check(reads, now, limit) {
        return at;
    }
    let since = now - window();
    reads
        .iter()
        .copied()
        .filter(|t| *t > since)
        .min()
        .map(|oldest| oldest + window())
        .filter(|t| *t > now)
        .unwrap_or(now + window() / limit.max(1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn allows_up_to_the_limit_in_a_rolling_day() {
        let now = t("2026-11-20T12:00:00Z");
        let reads = vec![
            t("2026-11-19T13:00:00Z"),
            t("2026-11-20T01:00:00Z"),
            t("2026-11-20T06:00:00Z"),
        ];
        assert_eq!(check(&reads, now, 4), Ok(()));
        let mut four = reads.clone();
        four.push(t("2026-11-20T11:00:00Z"));
        // The oldest of the four leaves the window 24 h after it happened.
        assert_eq!(check(&four, now, 4), Err(t("2026-11-20T13:00:00Z")));
        assert_eq!(check(&four, t("2026-11-20T13:00:01Z"), 4), Ok(()));
        // A read exactly 24 h old no longer counts.
        assert_eq!(check(&four, t("2026-11-20T13:00:00Z"), 4), Ok(()));
    }

    #[test]
    fn a_lower_limit_waits_for_the_right_read() {
        let now = t("2026-11-20T12:00:00Z");
        let reads = vec![
            t("2026-11-20T01:00:00Z"),
            t("2026-11-20T06:00:00Z"),
            t("2026-11-20T11:00:00Z"),
        ];
        assert_eq!(check(&reads, now, 2), Err(t("2026-11-21T06:00:00Z")));
        assert_eq!(check(&reads, now, 1), Err(t("2026-11-21T11:00:00Z")));
    }

    #[test]
    fn prune_keeps_only_the_window() {
        let now = t("2026-11-20T12:00:00Z");
        let mut reads = vec![
            t("2026-11-20T11:00:00Z"),
            t("2026-11-19T11:00:00Z"),
            t("2026-11-19T12:30:00Z"),
        ];
        prune(&mut reads, now);
        assert_eq!(
            reads,
            vec![t("2026-11-19T12:30:00Z"), t("2026-11-20T11:00:00Z")]
        );
    }

    #[test]
    fn after_a_refusal_retry_after_wins_then_the_log() {
        let now = t("2026-11-20T12:00:00Z");
        let reads = vec![t("2026-11-20T02:00:00Z")];
        assert_eq!(
            after_refusal(&reads, now, 4, Some(std::time::Duration::from_secs(600))),
            t("2026-11-20T12:10:00Z")
        );
        assert_eq!(
            after_refusal(&reads, now, 4, None),
            t("2026-11-21T02:00:00Z")
        );
        assert_eq!(after_refusal(&[], now, 4, None), t("2026-11-20T18:00:00Z"));
    }
}
