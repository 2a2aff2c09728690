//! One account's session: the AIS reads behind the `balance_entries` delta
//! stream and the `balance` snapshot, under the unattended-read quota.

use std::sync::Arc;

use async_trait::async_trait;
use bnpl_core::{
    AccountSession, BookingStatus, ConnectorError, CredentialStore, Page, Records, SnapshotData,
    Stream,
};
use chrono::Duration;
use reqwest::{Method, Url};

use crate::config::{INITIAL_HISTORY_DAYS, Settings};
use crate::credentials::ConsentCredentials;
use crate::dedup::{self, Cursor, Read, Run};
use crate::http::{Answer, Api, ErrorClass};
use crate::wire::{self, LedgerAccount};
use crate::{Clock, quota};

pub(crate) struct KlarnaEuSession {
    pub api: Arc<Api>,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub store: Arc<dyn CredentialStore>,
    pub account_id: String,
    pub credentials: ConsentCredentials,
    /// This session's unattended read is already counted and saved.
    pub read_recorded: bool,
    /// The account list, read once per session.
    pub accounts: Option<Vec<LedgerAccount>>,
}

impl KlarnaEuSession {
    fn limit(&self) -> u32 {
        let granted = self.credentials.frequency_per_day.unwrap_or(u32::MAX);
        self.settings.frequency_per_day.min(granted).max(1)
    }

    /// Before the session's first unattended request: refuse when the quota
    /// is used up, else log the read and save it durably (a read that could
    /// not be recorded is not made).
    async fn admit_read(&mut self) -> Result<(), ConnectorError> {
        if self.api.attended() || self.read_recorded {
            return Ok(());
        }
        let now = (self.clock)();
        let mut reads = self.credentials.reads.clone();
        quota::prune(&mut reads, now);
        if let Err(next_allowed) = quota::check(&reads, now, self.limit()) {
            tracing::info!(account = %self.account_id, %next_allowed, "unattended read quota used up");
            return Err(ConnectorError::QuotaExhausted { next_allowed });
        }
        reads.push(now);
        let mut updated = self.credentials.clone();
        updated.reads = reads;
        self.store
            .save(&self.account_id, &updated.to_secret())
            .await?;
        self.credentials = updated;
        self.read_recorded = true;
        Ok(())
    }

    /// The error of a failed answer, with the quota's view of `ACCESS_EXCEEDED`.
    fn failure(&self, answer: &Answer) -> ConnectorError {
        let error = answer.error();
        let quota_next =
            (error.class == ErrorClass::AccessExceeded && !self.api.attended()).then(|| {
                quota::after_refusal(
                    &self.credentials.reads,
                    (self.clock)(),
                    self.limit(),
                    error.retry_after,
                )
            });
        if error.class == ErrorClass::AccessExceeded {
            tracing::warn!(account = %self.account_id, "the bank answered ACCESS_EXCEEDED");
        }
        error.into_connector(quota_next)
    }

    async fn get(&mut self, url: Url) -> Result<Answer, ConnectorError> {
        self.admit_read().await?;
        self.api
            .send(
                Method::GET,
                url,
                Some(self.credentials.consent_id()),
                None,
                &[],
                None,
            )
            .await
    }

    async fn accounts(&mut self, stream: Stream) -> Result<Vec<LedgerAccount>, ConnectorError> {
        if let Some(accounts) = &self.accounts {
            return Ok(accounts.clone());
        }
        let answer = self.get(self.api.url("/v1/accounts")).await?;
        if !answer.is_success() {
            return Err(self.failure(&answer));
        }
        let list: wire::AccountListIn =
            wire::parse(&answer.body).map_err(|e| malformed(stream, None, e, &answer))?;
        let accounts = wire::ledgers(&list.accounts);
        self.accounts = Some(accounts.clone());
        Ok(accounts)
    }

    async fn balances(&mut self) -> Result<SnapshotData, ConnectorError> {
        let accounts = self.accounts(Stream::Balance).await?;
        let mut all = Vec::new();
        for account in accounts {
            let url = self.api.url(&format!(
                "/v1/accounts/{}/balances",
                path_segment(&account.resource_id)
            ));
            let answer = self.get(url).await?;
            if !answer.is_success() {
                return Err(self.failure(&answer));
            }
            let read_at = (self.clock)();
            let balances: wire::BalancesIn = wire::parse(&answer.body)
                .map_err(|e| malformed(Stream::Balance, Some(&account.ledger), e, &answer))?;
            all.extend(
                wire::balances(&account.ledger, &balances, read_at)
                    .map_err(|e| malformed(Stream::Balance, Some(&account.ledger), e, &answer))?,
            );
        }
        Ok(SnapshotData::Balance(all))
    }

    /// One page of the `balance_entries` stream: one page of one ledger's
    /// transaction report.
    async fn entries(&mut self, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        let stream = Stream::BalanceEntries;
        let mut cursor = match cursor {
            None => Cursor::new(),
            Some(text) => Cursor::parse(text).ok_or(ConnectorError::CursorExpired { stream })?,
        };
        let today = (self.clock)().date_naive();
        if cursor.run.is_none() {
            let queue = self
                .accounts(stream)
                .await?
                .into_iter()
                .map(|a| a.ledger)
                .collect();
            cursor.run = Some(Run {
                queue,
                current: None,
            });
        }
        // Pick the ledger to read.
        let run = cursor.run.as_mut().expect("set above");
        if run.current.is_none() {
            if run.queue.is_empty() {
                cursor.run = None;
                return Ok(page(Vec::new(), Vec::new(), &cursor, true));
            }
            let ledger = run.queue.remove(0);
            let state = cursor.ledgers.entry(ledger.clone()).or_default();
            let date_from = match state.read_on {
                Some(day) => day - Duration::days(i64::from(self.settings.overlap_days)),
                None => today - Duration::days(INITIAL_HISTORY_DAYS),
            };
            run.current = Some(Read::new(ledger, date_from, today));
        }
        let read = run.current.clone().expect("set above");
        let answer = match self.fetch_report_page(&read).await? {
            Some(answer) => answer,
            None => {
                // The ledger left the consent: its read ends with nothing.
                let run = cursor.run.as_mut().expect("set above");
                run.current = None;
                let caught_up = run.queue.is_empty();
                if caught_up {
                    cursor.run = None;
                }
                return Ok(page(Vec::new(), Vec::new(), &cursor, caught_up));
            }
        };
        let mut read = read;
        let answer = if answer.is_success() {
            answer
        } else {
            let error = answer.error();
            if error.class == ErrorClass::ResourceGone && read.next.is_some() && !read.restarted {
                // The page link is gone (expired report): restart this ledger's report once.
                tracing::info!(account = %self.account_id, "page link gone; restarting the report");
                read.restart();
                match self.fetch_report_page(&read).await? {
                    Some(a) if a.is_success() => a,
                    Some(a) => return Err(self.failure(&a)),
                    None => return Err(ConnectorError::CursorExpired { stream }),
                }
            } else {
                return Err(self.failure(&answer));
            }
        };
        let read_at = (self.clock)();
        let report: wire::TransactionsIn = wire::parse(&answer.body)
            .map_err(|e| malformed(stream, Some(&read.ledger), e, &answer))?;
        let Some(transactions) = report.transactions else {
            if wire::link(&report.links, "download").is_some() {
                return Err(ConnectorError::permanent(
                    "the bank offers this report only as a download, which is not supported",
                ));
            }
            return Err(malformed(
                stream,
                Some(&read.ledger),
                wire::FieldError {
                    path: "transactions".into(),
                    message: "missing".into(),
                },
                &answer,
            ));
        };
        let mut rows = Vec::with_capacity(transactions.booked.len() + transactions.pending.len());
        for (status, list, name) in [
            (BookingStatus::Booked, &transactions.booked, "booked"),
            (BookingStatus::Pending, &transactions.pending, "pending"),
        ] {
            for (i, tx) in list.iter().enumerate() {
                let path = format!("transactions.{name}[{i}]");
                let row = wire::row(tx, status, &path).map_err(|e| {
                    let object = tx
                        .transaction_id
                        .clone()
                        .unwrap_or_else(|| read.ledger.clone());
                    malformed(stream, Some(&object), e, &answer)
                })?;
                rows.push(row);
            }
        }
        let state = cursor.ledgers.entry(read.ledger.clone()).or_default();
        let records = dedup::apply_page(state, &mut read, &rows, read_at);
        let next = wire::link(&transactions.links, "next");
        let mut removed = Vec::new();
        let run = cursor.run.as_mut().expect("set above");
        match next {
            Some(href) => {
                read.next = Some(href);
                run.current = Some(read);
            }
            None => {
                removed = dedup::finish_read(
                    state,
                    &read,
                    self.settings.pending_expiry_days,
                    self.settings.overlap_days,
                );
                run.current = None;
            }
        }
        let caught_up = run.current.is_none() && run.queue.is_empty();
        if caught_up {
            cursor.run = None;
        }
        Ok(page(records, removed, &cursor, caught_up))
    }

    /// The first page (`dateFrom`, `bookingStatus=both`) or the `next` link.
    /// `None` when the ledger is no longer in the consent's account list.
    async fn fetch_report_page(&mut self, read: &Read) -> Result<Option<Answer>, ConnectorError> {
        let url = match &read.next {
            Some(href) => self.api.resolve_link(href)?,
            None => {
                let accounts = self.accounts(Stream::BalanceEntries).await?;
                let Some(account) = accounts.iter().find(|a| a.ledger == read.ledger) else {
                    return Ok(None);
                };
                let mut url = self.api.url(&format!(
                    "/v1/accounts/{}/transactions",
                    path_segment(&account.resource_id)
                ));
                url.query_pairs_mut()
                    .append_pair("bookingStatus", "both")
                    .append_pair("dateFrom", &read.date_from.to_string());
                url
            }
        };
        self.get(url).await.map(Some)
    }
}

fn page(
    records: Vec<bnpl_core::BalanceEntry>,
    removed: Vec<String>,
    cursor: &Cursor,
    caught_up: bool,
) -> Page {
    Page {
        records: Records::BalanceEntries(records),
        removed,
        next_cursor: cursor.to_text(),
        caught_up,
    }
}

/// A resource id as one path segment (percent-encoded).
fn path_segment(id: &str) -> String {
    let mut url = Url::parse("http://x/").expect("static URL");
    url.path_segments_mut()
        .expect("http URL has segments")
        .push(id);
    url.path().trim_start_matches('/').to_string()
}

fn malformed(
    stream: Stream,
    object: Option<&str>,
    e: wire::FieldError,
    answer: &Answer,
) -> ConnectorError {
    ConnectorError::Malformed {
        stream,
        object_id: object.map(str::to_string),
        message: e.to_string(),
        correlation_id: Some(answer.request_id.clone()),
    }
}

#[async_trait]
impl AccountSession for KlarnaEuSession {
    async fn pull(&mut self, stream: Stream, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        match stream {
            Stream::BalanceEntries => self.entries(cursor).await,
            other => Err(ConnectorError::OutOfScope {
                message: format!("PSD2 account information carries no {other} stream"),
            }),
        }
    }

    async fn snapshot(&mut self, stream: Stream) -> Result<SnapshotData, ConnectorError> {
        match stream {
            Stream::Balance => self.balances().await,
            other => Err(ConnectorError::OutOfScope {
                message: format!("PSD2 account information carries no {other} stream"),
            }),
        }
    }
}
