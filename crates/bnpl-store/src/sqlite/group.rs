//! Group commit of pages. SQLite has one writer, and a small page's cost was
//! mostly its transaction: BEGIN, COMMIT (writing every page of every index
//! it touched to the WAL) and the hand-offs to sqlx's worker thread around
//! them, about 3 ms for an account's 20 purchases (issue 6). Pages that
//! arrive while another page is being written wait in a queue; the next
//! writer takes the whole queue and applies it in one transaction.
//!
//! Each page stays atomic with its cursor: its rows and cursor are in the
//! same transaction as before, only more pages share it. When one page of a
//! group fails, the group is rolled back and every page is applied again on
//! its own, so each caller gets its own page's outcome and a bad page never
//! takes another account's page down with it.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use bnpl_core::{Page, Stream};

use super::{SqliteStore, read, write};
use crate::{AccountKey, ApplyStats, StoreError, apply};

/// A page waiting to be written, and where its outcome goes.
pub(super) struct PendingPage {
    key: AccountKey,
    stream: Stream,
    page: Page,
    synced_at: DateTime<Utc>,
    done: oneshot::Sender<Result<ApplyStats, StoreError>>,
}

/// The pages waiting for the next group. A plain mutex: it is never held
/// across an await.
#[derive(Default)]
pub(super) struct Queue(Mutex<Vec<PendingPage>>);

impl Queue {
    fn push(&self, page: PendingPage) {
        self.0.lock().expect("queue lock poisoned").push(page);
    }

    fn take(&self) -> Vec<PendingPage> {
        std::mem::take(&mut *self.0.lock().expect("queue lock poisoned"))
    }
}

impl SqliteStore {
    pub(super) async fn apply_page_grouped(
        &self,
        key: &AccountKey,
        stream: Stream,
        page: &Page,
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError> {
        let (done, mut outcome) = oneshot::channel();
        self.pending.push(PendingPage {
            key: key.clone(),
            stream,
            page: page.clone(),
            synced_at,
            done,
        });
        loop {
            tokio::select! {
                biased;
                result = &mut outcome => {
                    return result.unwrap_or_else(|_| {
                        Err(StoreError::Invalid(
                            "the write of this page was abandoned (its writer was cancelled)".into(),
                        ))
                    });
                }
                guard = self.write_lock.lock() => {
                    // Empty when another writer already took this page: its
                    // outcome is then ready on the next turn.
                    let group = self.pending.take();
                    if !group.is_empty() {
                        self.write_group(group).await;
                    }
                    drop(guard);
                }
            }
        }
    }

    /// Writes `group` in one transaction, or each page on its own when that fails.
    /// The caller holds the write lock.
    async fn write_group(&self, group: Vec<PendingPage>) {
        if group.len() > 1 {
            match self.apply_all(&group).await {
                Ok(stats) => {
                    for (page, stats) in group.into_iter().zip(stats) {
                        let _ = page.done.send(Ok(stats));
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(pages = group.len(), error = %e, "group write failed; writing its pages one by one");
                }
            }
        }
        for page in group {
            let outcome = self.apply_all(std::slice::from_ref(&page)).await;
            let _ = page.done.send(outcome.map(|mut s| s.remove(0)));
        }
    }

    async fn apply_all(&self, group: &[PendingPage]) -> Result<Vec<ApplyStats>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut stats = Vec::with_capacity(group.len());
        for p in group {
            let account = read::account_id(&mut tx, &p.key).await?;
            let mut writer = write::Writer { conn: &mut tx };
            stats.push(
                apply::apply_page(&mut writer, account, p.stream, &p.page, p.synced_at).await?,
            );
        }
        // An error above drops `tx`: rolled back, cursors included.
        tx.commit().await?;
        Ok(stats)
    }
}
