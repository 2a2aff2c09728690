//! What to sync now, as a pure function of the clock and the stored stream
//! states. Tested without I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use bnpl_core::{AccountStatus, Stream};
use bnpl_store::{AccountKey, AccountRecord};
use chrono::{DateTime, Utc};

/// The streams of one account that are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueAccount {
    pub key: AccountKey,
    pub streams: Vec<Stream>,
}

/// Why an account is not synced at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedAccount {
    pub key: AccountKey,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub due: Vec<DueAccount>,
    pub skipped: Vec<SkippedAccount>,
    /// The earliest time something not due now becomes due.
    pub next_wake: Option<DateTime<Utc>>,
}

/// The cadences of one provider, by provider id.
pub type Cadences<'a> = BTreeMap<&'a str, &'a BTreeMap<Stream, Duration>>;

/// Plans one scheduler tick. With `every_stream`, every stream of every
/// active account is due (`bnpl sync --once`) except those a provider quota
/// forbids reading yet.
pub fn plan(
    now: DateTime<Utc>,
    accounts: &[AccountRecord],
    cadences: &Cadences<'_>,
    every_stream: bool,
) -> SyncPlan {
    let mut out = SyncPlan::default();
    let mut next_wake: Option<DateTime<Utc>> = None;
    for account in accounts {
        let Some(cadence) = cadences.get(account.key.provider.as_str()) else {
            out.skipped.push(SkippedAccount {
                key: account.key.clone(),
                reason: format!("provider {} is not enabled", account.key.provider),
            });
            continue;
        };
        if account.status != AccountStatus::Active {
            out.skipped.push(SkippedAccount {
                key: account.key.clone(),
                reason: match &account.status_reason {
                    Some(r) => format!("{}: {r}", account.status),
                    None => account.status.to_string(),
                },
            });
            continue;
        }
        let mut streams = Vec::new();
        for (&stream, &every) in cadence.iter() {
            let state = account.streams.iter().find(|s| s.stream == stream);
            let blocked_until = state.and_then(|s| s.next_allowed_at).filter(|t| *t > now);
            let next_by_cadence = state
                .and_then(|s| s.last_attempt_at)
                .map(|t| t + chrono::Duration::from_std(every).unwrap_or(chrono::TimeDelta::MAX));
            let due_at = match (blocked_until, every_stream) {
                (Some(t), _) => Some(t),
                (None, true) => None,
                (None, false) => next_by_cadence.filter(|t| *t > now),
            };
            match due_at {
                None => streams.push(stream),
                Some(t) => next_wake = Some(next_wake.map_or(t, |w| w.min(t))),
            }
        }
        if !streams.is_empty() {
            out.due.push(DueAccount {
                key: account.key.clone(),
                streams,
            });
        }
    }
    out.next_wake = next_wake;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bnpl_store::StreamState;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn account(id: &str, status: AccountStatus, streams: Vec<StreamState>) -> AccountRecord {
        AccountRecord {
            key: AccountKey::new("p", id),
            status,
            status_reason: None,
            created_at: t("2026-01-01T00:00:00Z"),
            streams,
        }
    }

    fn attempted(stream: Stream, at: &str) -> StreamState {
        StreamState {
            stream,
            cursor: None,
            last_attempt_at: Some(t(at)),
            last_success_at: Some(t(at)),
            last_error: None,
            next_allowed_at: None,
        }
    }

    fn cadence() -> BTreeMap<Stream, Duration> {
        BTreeMap::from([
            (Stream::Purchases, Duration::from_secs(15 * 60)),
            (Stream::Profile, Duration::from_secs(24 * 3600)),
        ])
    }

    #[test]
    fn a_new_account_has_every_stream_due() {
        let c = cadence();
        let cadences = Cadences::from([("p", &c)]);
        let plan = plan(
            t("2026-06-01T00:00:00Z"),
            &[account("a", AccountStatus::Active, vec![])],
            &cadences,
            false,
        );
        assert_eq!(
            plan.due[0].streams,
            vec![Stream::Purchases, Stream::Profile]
        );
        assert_eq!(plan.next_wake, None);
    }

    #[test]
    fn each_stream_follows_its_own_cadence() {
        let c = cadence();
        let cadences = Cadences::from([("p", &c)]);
        let acct = account(
            "a",
            AccountStatus::Active,
            vec![
                attempted(Stream::Purchases, "2026-06-01T00:00:00Z"),
                attempted(Stream::Profile, "2026-06-01T00:00:00Z"),
            ],
        );
        let at_10m = plan(
            t("2026-06-01T00:10:00Z"),
            std::slice::from_ref(&acct),
            &cadences,
            false,
        );
        assert!(at_10m.due.is_empty());
        assert_eq!(at_10m.next_wake, Some(t("2026-06-01T00:15:00Z")));
        let at_20m = plan(
            t("2026-06-01T00:20:00Z"),
            std::slice::from_ref(&acct),
            &cadences,
            false,
        );
        assert_eq!(at_20m.due[0].streams, vec![Stream::Purchases]);
        assert_eq!(at_20m.next_wake, Some(t("2026-06-02T00:00:00Z")));
    }

    #[test]
    fn once_syncs_everything_but_respects_quotas() {
        let c = cadence();
        let cadences = Cadences::from([("p", &c)]);
        let mut blocked = attempted(Stream::Purchases, "2026-06-01T00:00:00Z");
        blocked.next_allowed_at = Some(t("2026-06-01T06:00:00Z"));
        let acct = account(
            "a",
            AccountStatus::Active,
            vec![blocked, attempted(Stream::Profile, "2026-06-01T00:00:00Z")],
        );
        let p = plan(t("2026-06-01T00:01:00Z"), &[acct], &cadences, true);
        assert_eq!(p.due[0].streams, vec![Stream::Profile]);
        assert_eq!(p.next_wake, Some(t("2026-06-01T06:00:00Z")));
    }

    #[test]
    fn reauth_and_unknown_providers_are_skipped_with_a_reason() {
        let c = cadence();
        let cadences = Cadences::from([("p", &c)]);
        let mut reauth = account("a", AccountStatus::ReauthRequired, vec![]);
        reauth.status_reason = Some("INVALID_GRANT".into());
        let mut other = account("b", AccountStatus::Active, vec![]);
        other.key.provider = "q".into();
        let p = plan(t("2026-06-01T00:00:00Z"), &[reauth, other], &cadences, true);
        assert!(p.due.is_empty());
        assert_eq!(p.skipped[0].reason, "reauth_required: INVALID_GRANT");
        assert_eq!(p.skipped[1].reason, "provider q is not enabled");
    }
}
