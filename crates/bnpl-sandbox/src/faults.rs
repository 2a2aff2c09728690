//! Fault injection for tests and demos.

use std::collections::VecDeque;

use serde::Deserialize;

use crate::Sandbox;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Fail {
        status: u16,
        code: String,
        retry_after: Option<u64>,
    },
    /// A 200 whose JSON body is cut in half.
    Malformed,
}

#[derive(Clone, Debug)]
struct Queued {
    kind: FaultKind,
    /// Path prefix the fault waits for; `None` = the next data request.
    path: Option<String>,
}

#[derive(Default, Debug)]
pub(crate) struct FaultQueue {
    queue: VecDeque<Queued>,
    /// Epoch stamped into new cursors.
    pub epoch: u32,
    /// Cursors of an older epoch are expired (410).
    pub min_epoch: u32,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, n: usize, kind: FaultKind, path: Option<String>) {
        for _ in 0..n {
            self.queue.push_back(Queued {
                kind: kind.clone(),
                path: path.clone(),
            });
        }
    }

    /// Consumes the first queued fault matching this request, if any.
    pub(crate) fn take(&mut self, path: &str, is_data: bool) -> Option<FaultKind> {
        let pos = self.queue.iter().position(|q| match &q.path {
            Some(prefix) => path.starts_with(prefix.as_str()),
            None => is_data,
        })?;
        self.queue.remove(pos).map(|q| q.kind)
    }

    pub(crate) fn expire_cursors(&mut self) {
        self.epoch += 1;
        self.min_epoch = self.epoch;
    }

    pub(crate) fn pending(&self) -> usize {
        self.queue.len()
    }
}

/// Queues faults on a sandbox. Each queued fault is consumed by the next
/// matching request: by default the next data request (`/consumer/v2/...`);
/// the `*_on` variants wait for a request whose path starts with a prefix
/// (e.g. `/auth/v1/token/refresh`).
#[derive(Clone)]
pub struct FaultInjector {
    pub(crate) sandbox: Sandbox,
}

impl FaultInjector {
    /// The next `n` data requests answer `status` with `error_code`
    /// (e.g. 429 `TOO_MANY_REQUESTS` with `Retry-After`, 503
    /// `TEMPORARILY_UNAVAILABLE`).
    pub fn fail_next(
        &self,
        n: usize,
        status: u16,
        error_code: &str,
        retry_after_secs: Option<u64>,
    ) {
        self.queue(n, fail(status, error_code, retry_after_secs), None);
    }

    /// Like `fail_next`, for requests whose path starts with `path_prefix`.
    pub fn fail_next_on(
        &self,
        path_prefix: &str,
        n: usize,
        status: u16,
        error_code: &str,
        retry_after_secs: Option<u64>,
    ) {
        self.queue(
            n,
            fail(status, error_code, retry_after_secs),
            Some(path_prefix.to_owned()),
        );
    }

    /// The next `n` data requests answer 200 with a cut JSON body.
    pub fn malformed_next(&self, n: usize) {
        self.queue(n, FaultKind::Malformed, None);
    }

    /// Like `malformed_next`, for requests whose path starts with `path_prefix`.
    pub fn malformed_next_on(&self, path_prefix: &str, n: usize) {
        self.queue(n, FaultKind::Malformed, Some(path_prefix.to_owned()));
    }

    /// Every access token issued so far is expired: data calls answer
    /// 401 `INVALID_AUTH_TOKEN` until the client refreshes.
    pub fn expire_access_tokens(&self) {
        self.sandbox.lock().tokens.expire_access();
    }

    /// The account's grant is revoked: refreshes answer 401 `INVALID_GRANT`
    /// (until `Sandbox::regrant`). Returns false for an unknown account.
    pub fn revoke_grant(&self, account_id: &str) -> bool {
        let mut st = self.sandbox.lock();
        match st.account_index(account_id) {
            Some(i) => {
                st.accounts[i].grant_revoked = true;
                true
            }
            None => false,
        }
    }

    /// Every cursor issued so far answers 410 `CURSOR_EXPIRED`.
    pub fn expire_cursors(&self) {
        self.sandbox.lock().faults.expire_cursors();
    }

    /// Faults still queued.
    pub fn pending(&self) -> usize {
        self.sandbox.lock().faults.pending()
    }

    fn queue(&self, n: usize, kind: FaultKind, path: Option<String>) {
        self.sandbox.lock().faults.push(n, kind, path);
    }

    /// Applies an admin request (`POST /__sandbox/faults`).
    pub(crate) fn apply(&self, req: FaultRequest) -> Result<(), String> {
        match req {
            FaultRequest::FailNext {
                n,
                status,
                error_code,
                retry_after_secs,
                path,
            } => {
                if !(100..=599).contains(&status) {
                    return Err(format!("status {status} is not an HTTP status"));
                }
                self.queue(n, fail(status, &error_code, retry_after_secs), path);
            }
            FaultRequest::MalformedNext { n, path } => self.queue(n, FaultKind::Malformed, path),
            FaultRequest::ExpireAccessTokens => self.expire_access_tokens(),
            FaultRequest::RevokeGrant { account_id } => {
                if !self.revoke_grant(&account_id) {
                    return Err(format!("unknown account {account_id}"));
                }
            }
            FaultRequest::ExpireCursors => self.expire_cursors(),
        }
        Ok(())
    }
}

fn fail(status: u16, code: &str, retry_after: Option<u64>) -> FaultKind {
    FaultKind::Fail {
        status,
        code: code.to_owned(),
        retry_after,
    }
}

fn one() -> usize {
    1
}

/// Body of `POST /__sandbox/faults` (one object or an array of them).
#[derive(Deserialize, Debug)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum FaultRequest {
    FailNext {
        #[serde(default = "one")]
        n: usize,
        status: u16,
        error_code: String,
        #[serde(default)]
        retry_after_secs: Option<u64>,
        #[serde(default)]
        path: Option<String>,
    },
    MalformedNext {
        #[serde(default = "one")]
        n: usize,
        #[serde(default)]
        path: Option<String>,
    },
    ExpireAccessTokens,
    RevokeGrant {
        account_id: String,
    },
    ExpireCursors,
}

#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub(crate) enum FaultRequests {
    One(FaultRequest),
    Many(Vec<FaultRequest>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_match_by_path_in_order() {
        let mut q = FaultQueue::default();
        q.push(1, FaultKind::Malformed, Some("/auth".into()));
        q.push(2, fail(503, "TEMPORARILY_UNAVAILABLE", None), None);
        assert_eq!(
            q.take("/auth/v1/token/refresh", false),
            Some(FaultKind::Malformed)
        );
        assert_eq!(q.take("/auth/v1/token/refresh", false), None);
        assert!(matches!(
            q.take("/consumer/v2/purchases", true),
            Some(FaultKind::Fail { status: 503, .. })
        ));
        assert!(q.take("/consumer/v2/profile", true).is_some());
        assert_eq!(q.take("/consumer/v2/profile", true), None);
    }

    #[test]
    fn admin_bodies_parse() {
        let r: FaultRequests = serde_json::from_str(
            r#"[{"kind":"fail_next","n":2,"status":429,"error_code":"TOO_MANY_REQUESTS","retry_after_secs":3},
                {"kind":"expire_cursors"},{"kind":"revoke_grant","account_id":"kus_0001"},
                {"kind":"malformed_next"}]"#,
        )
        .unwrap();
        assert!(matches!(r, FaultRequests::Many(v) if v.len() == 4));
        let r: FaultRequests = serde_json::from_str(r#"{"kind":"expire_access_tokens"}"#).unwrap();
        assert!(matches!(
            r,
            FaultRequests::One(FaultRequest::ExpireAccessTokens)
        ));
    }
}
