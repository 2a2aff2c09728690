//! Group commit of the sync's writes. SQLite has one writer, and a small
//! write's cost was mostly its transaction: BEGIN, COMMIT (writing every page
//! of every index it touched to the WAL) and a thread hand-off (issue 6).
//! Every write of a sync (a page, a snapshot, a stream attempt, a
//! reconciliation, a rotated secret) is a job: jobs that arrive while another
//! group is being written wait in a queue, and the next writer takes the
//! whole queue and applies it in one transaction on the writer connection, on
//! a blocking thread, so the accounts in flight keep fetching and decoding
//! meanwhile.
//!
//! Each job stays atomic: it runs inside a savepoint of the group's
//! transaction, so a job that fails is undone alone and its caller gets its
//! own error, while the other jobs of the group commit. When the transaction
//! itself fails (it cannot commit), every job is run again in a transaction
//! of its own, so a bad job never takes another account's write down with it.

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::SqliteStore;
use super::write::{Writer, account_id, in_savepoint, in_transaction};
use crate::{AccountKey, StoreError};

/// How a group's commit must reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    /// `synchronous = NORMAL`: survives a crash of the process.
    Normal,
    /// `synchronous = FULL`: survives a crash of the machine. A group holding
    /// one such job commits this way as a whole.
    Durable,
}

/// A queued write, its outcome type erased.
trait Job: Send {
    fn commit(&self) -> Commit;
    /// Runs the write, keeping its value for `finish`. May run twice (see
    /// the module's doc); the second run's value replaces the first's.
    fn run(&mut self, conn: &mut Connection) -> Result<(), StoreError>;
    /// Sends the outcome to the caller.
    fn finish(self: Box<Self>, outcome: Result<(), StoreError>);
}

struct Pending<T, F> {
    write: F,
    commit: Commit,
    value: Option<T>,
    done: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnMut(&mut Connection) -> Result<T, StoreError> + Send,
{
    fn commit(&self) -> Commit {
        self.commit
    }

    fn run(&mut self, conn: &mut Connection) -> Result<(), StoreError> {
        self.value = Some((self.write)(conn)?);
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: Result<(), StoreError>) {
        let Pending { value, done, .. } = *self;
        let outcome = outcome.and_then(|()| {
            value.ok_or_else(|| {
                StoreError::Invalid("a grouped write finished without running".into())
            })
        });
        // The caller may have gone away (cancelled): nobody to tell.
        let _ = done.send(outcome);
    }
}

/// The jobs waiting for the next group. A plain mutex: it is never held
/// across an await.
#[derive(Default)]
pub(super) struct Queue(Mutex<Vec<Box<dyn Job>>>);

impl Queue {
    fn push(&self, job: Box<dyn Job>) {
        self.0.lock().expect("queue lock poisoned").push(job);
    }

    fn take(&self) -> Vec<Box<dyn Job>> {
        std::mem::take(&mut *self.0.lock().expect("queue lock poisoned"))
    }
}

impl SqliteStore {
    /// [`SqliteStore::grouped`] for one account's write through the shared
    /// apply logic: `write` gets the statements and the account's row id.
    pub(super) async fn grouped_for<T, F>(
        &self,
        key: &AccountKey,
        mut write: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut Writer<'_>, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let key = key.clone();
        self.grouped(Commit::Normal, move |conn| {
            let account = account_id(conn, &key)?;
            write(&mut Writer::new(conn), account)
        })
        .await
    }

    /// Queues `write` for the next group commit and waits for its outcome.
    pub(super) async fn grouped<T, F>(&self, commit: Commit, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, mut outcome) = oneshot::channel();
        self.pending.push(Box::new(Pending {
            write,
            commit,
            value: None,
            done,
        }));
        loop {
            tokio::select! {
                biased;
                result = &mut outcome => {
                    return result.unwrap_or_else(|_| {
                        Err(StoreError::Invalid(
                            "the write was abandoned (its writer panicked)".into(),
                        ))
                    });
                }
                mut conn = self.write_lock.clone().lock_owned() => {
                    // Empty when another writer already took this job: its
                    // outcome is then ready on the next turn.
                    let group = self.pending.take();
                    if !group.is_empty() {
                        // Awaited, but the group is written whether or not
                        // this caller stays: every job's outcome goes to its
                        // own caller. A panic drops the group's senders.
                        let _ = tokio::task::spawn_blocking(move || write_group(&mut conn, group)).await;
                        self.checkpointer.committed();
                    }
                }
            }
        }
    }
}

/// Writes `group` in one transaction, each job in a savepoint; when the
/// transaction fails, each job in a transaction of its own.
fn write_group(conn: &mut Connection, mut group: Vec<Box<dyn Job>>) {
    let commit = if group.iter().any(|job| job.commit() == Commit::Durable) {
        Commit::Durable
    } else {
        Commit::Normal
    };
    if let Err(e) = set_commit(conn, commit) {
        for job in group {
            job.finish(Err(StoreError::Invalid(format!(
                "setting up the commit: {e}"
            ))));
        }
        return;
    }
    if group.len() == 1 {
        // Alone, the transaction is the job's: no savepoint needed.
        write_alone(conn, group);
    } else {
        let together = in_transaction(conn, |conn| {
            group
                .iter_mut()
                .map(|job| in_savepoint(conn, |conn| job.run(conn)))
                .collect::<Result<Vec<_>, StoreError>>()
        });
        match together {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    job.finish(outcome);
                }
            }
            Err(e) => {
                tracing::debug!(jobs = group.len(), error = %e, "group write failed; writing its jobs one by one");
                write_alone(conn, group);
            }
        }
    }
    if commit == Commit::Durable
        && let Err(e) = set_commit(conn, Commit::Normal)
    {
        tracing::warn!(error = %e, "could not set the writer back to synchronous = NORMAL");
    }
}

/// Each job in a transaction of its own.
fn write_alone(conn: &mut Connection, group: Vec<Box<dyn Job>>) {
    for mut job in group {
        let outcome = in_transaction(conn, |conn| job.run(conn));
        job.finish(outcome);
    }
}

fn set_commit(conn: &Connection, commit: Commit) -> rusqlite::Result<()> {
    conn.execute_batch(match commit {
        Commit::Normal => "PRAGMA synchronous = NORMAL",
        Commit::Durable => "PRAGMA synchronous = FULL",
    })
}
