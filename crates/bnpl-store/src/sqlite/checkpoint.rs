//! WAL checkpoints off the writer's thread. By default the connection whose
//! commit takes the WAL past 1,000 pages copies the WAL back into the
//! database file and syncs it, inside that commit: the sync's writer spent
//! about a tenth of its time there (issue 6, store ceiling profile). Here a
//! thread of its own, with its own connection, runs a passive checkpoint
//! shortly after the writer commits, on the other core; the writer keeps a
//! much higher automatic threshold only as a backstop, for when this thread
//! cannot keep up.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::StoreError;

/// The writer's own automatic checkpoint, in WAL pages (4 KiB): the backstop.
pub(super) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 16_000;

/// How long the checkpointer lets commits gather before it runs: one
/// checkpoint copies every page written since the last, once, however many
/// commits rewrote it.
const GATHER: Duration = Duration::from_millis(100);

/// Wakes the checkpointer thread. Dropping it ends the thread and waits for
/// its last checkpoint ([`last_checkpoint`]), so a process does not exit
/// with committed pages left in the WAL that the next one to open the file
/// would have to read back (recovery) and copy.
pub(super) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Disconnecting is what tells the thread to end.
        drop(self.wake.take());
        if let Some(thread) = self.thread.take() {
            // A panic there has been reported on its own thread already.
            let _ = thread.join();
        }
    }
}

impl Checkpointer {
    pub(super) fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        // It never waits for the write lock: a passive checkpoint does not take it.
        conn.busy_timeout(Duration::from_millis(0))?;
        let (wake, woken) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("bnpl-checkpoint".into())
            .spawn(move || run(conn, woken))
            .map_err(|e| StoreError::Invalid(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Says the writer committed. Never blocks: a wake-up already pending
    /// covers this commit too.
    pub(super) fn committed(&self) {
        // Full: a wake-up is pending already. Disconnected: the thread
        // ended (it cannot, while this sender lives, short of a panic).
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }
}

/// How long the last checkpoint, when the store is dropped, waits for the
/// locks of connections that are closing at the same moment (sqlx's pool
/// closes its connections on threads of its own) or of another process.
const LAST_CHECKPOINT_WAIT: Duration = Duration::from_secs(5);

fn run(conn: Connection, woken: Receiver<()>) {
    while woken.recv().is_ok() {
        if gather(&woken) {
            break;
        }
        checkpoint(&conn);
    }
    last_checkpoint(&conn);
}

/// Lets commits gather for [`GATHER`] after a wake-up, taking the wake-ups
/// of the commits that follow meanwhile; true when the store was dropped,
/// which ends the wait at once. (Until round 11 the next commit's wake-up
/// ended the wait: under a steady stream of commits the thread checkpointed
/// after nearly every one, ~1,000 times in a 1k-account bench.)
fn gather(woken: &Receiver<()>) -> bool {
    let until = Instant::now() + GATHER;
    loop {
        match woken.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(()) => continue,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => return true,
        }
    }
}

fn checkpoint(conn: &Connection) {
    // PASSIVE: copies what it can without waiting for readers or the writer;
    // what it could not copy waits for the next one.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::debug!(error = %e, "background checkpoint did not run");
    }
}

/// The store is gone: copy every frame left in the WAL, waiting for locks
/// instead of giving up at once as a passive checkpoint does (one that met
/// a pool connection closing left whole commits in the WAL: the test
/// `dropping_the_store_leaves_every_commit_in_the_database_file` failed
/// about every other run).
fn last_checkpoint(conn: &Connection) {
    let copied = conn
        .busy_timeout(LAST_CHECKPOINT_WAIT)
        .and_then(|()| conn.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(())));
    if let Err(e) = copied {
        tracing::debug!(error = %e, "the last checkpoint did not run");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_that_keep_coming_do_not_cut_the_gathering_short() {
        let (wake, woken) = sync_channel(1);
        let committer = std::thread::spawn(move || {
            for _ in 0..20 {
                let _ = wake.try_send(());
                std::thread::sleep(GATHER / 10);
            }
        });
        let started = Instant::now();
        assert!(!gather(&woken), "the sender still lives");
        assert!(started.elapsed() >= GATHER, "{:?}", started.elapsed());
        committer.join().unwrap();
    }

    #[test]
    fn a_dropped_store_ends_the_gathering() {
        let (wake, woken) = sync_channel::<()>(1);
        drop(wake);
        assert!(gather(&woken));
    }
}
