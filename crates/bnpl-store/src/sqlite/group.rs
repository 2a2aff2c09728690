//! Group commit of pages. SQLite has one writer, and a small page's cost was
//! mostly its transaction: BEGIN, COMMIT (writing every page of every index
//! it touched to the WAL) and, through sqlx, two thread hand-offs per
//! statement (issue 6). Pages that arrive while another group is being
//! written wait in a queue; the next writer takes the whole queue and applies
//! it in one transaction on the writer connection, synchronously.
//!
//! Each page stays atomic with its cursor: it runs inside a savepoint of the
//! group's transaction, so a page that fails is undone alone and its caller
//! gets its own error, while the other pages of the group commit. When the
//! transaction itself fails (it cannot commit), every page is applied again
//! in a transaction of its own, so a bad page never takes another account's
//! page down with it.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio::sync::oneshot;

use bnpl_core::{Page, Stream};

use super::write::{self, in_savepoint, in_transaction};
use super::{SqliteStore, blocking, synchronously};
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
                mut conn = self.write_lock.lock() => {
                    // Empty when another writer already took this page: its
                    // outcome is then ready on the next turn.
                    let group = self.pending.take();
                    if !group.is_empty() {
                        blocking(|| write_group(&mut conn, group));
                    }
                }
            }
        }
    }
}

/// Writes `group` in one transaction, each page in a savepoint; when the
/// transaction fails, each page in a transaction of its own.
fn write_group(conn: &mut Connection, group: Vec<PendingPage>) {
    let together = in_transaction(conn, |conn| {
        group
            .iter()
            .map(|page| in_savepoint(conn, |conn| apply_pending(conn, page)))
            .collect::<Result<Vec<_>, StoreError>>()
    });
    match together {
        Ok(outcomes) => {
            for (page, outcome) in group.into_iter().zip(outcomes) {
                let _ = page.done.send(outcome);
            }
        }
        Err(e) if group.len() > 1 => {
            tracing::debug!(pages = group.len(), error = %e, "group write failed; writing its pages one by one");
            for page in group {
                let outcome = in_transaction(conn, |conn| apply_pending(conn, &page));
                let _ = page.done.send(outcome);
            }
        }
        Err(e) => {
            if let Some(page) = group.into_iter().next() {
                let _ = page.done.send(Err(e));
            }
        }
    }
}

fn apply_pending(conn: &mut Connection, p: &PendingPage) -> Result<ApplyStats, StoreError> {
    let account = write::account_id(conn, &p.key)?;
    let mut writer = write::Writer { conn };
    synchronously(apply::apply_page(
        &mut writer,
        account,
        p.stream,
        &p.page,
        p.synced_at,
    ))
}
