//! The SQLite backend: one database file, WAL, foreign keys on.

mod bind;
mod bulk;
mod checkpoint;
mod consents;
mod group;
mod lifecycle;
mod read;
mod write;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use bnpl_core::{AccountStatus, Page, Records, SnapshotData, Stream};

use crate::time::format_timestamp as ts;
use crate::{
    AccountKey, AccountMirror, AccountRecord, ApplyStats, Database, InstallmentFilter,
    InstallmentView, OutstandingTotal, PurchaseSummary, SecretCipher, StoreError, apply, migrate,
};
use group::Commit;

/// How long a statement waits for another process's write lock (a second
/// `bnpl sync`, a user's sqlite3 shell) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SqliteStore {
    /// Reads (and the migrations at open). Every write goes to the writer
    /// connection, so this pool's page caches hold only what is read.
    pool: SqlitePool,
    /// The sync's own reads: each account's row, stream states and secret,
    /// once per run. One connection with a tiny page cache: a page read once
    /// is not worth keeping, and on the pool these reads filled four 2 MiB
    /// caches as the number of accounts grew (issue 6: memory flat from 1k
    /// to 10k accounts).
    account_reads: SqlitePool,
    cipher: SecretCipher,
    /// The writer connection, which runs every write of this process
    /// (`write.rs`): pages, snapshots, imports, accounts, consents and the
    /// clock's state changes. SQLite has one writer at a time: writers queue
    /// here in order instead of polling the file lock through the busy
    /// timeout (which stays the arbiter between processes).
    /// Shared so a group commit can take it to a blocking thread (`group`).
    write_lock: std::sync::Arc<tokio::sync::Mutex<rusqlite::Connection>>,
    /// Writes waiting for the next group commit.
    pending: group::Queue,
    /// Checkpoints the WAL on its own thread after the writer commits.
    checkpointer: checkpoint::Checkpointer,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating the file if missing) and migrates the database at
    /// `url` (`sqlite://path/to/bnpl.db`). An in-memory database is refused
    /// ([`StoreError::InMemory`]).
    pub async fn open(url: &str, cipher: SecretCipher) -> Result<SqliteStore, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::InMemory(url.to_string()));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename().to_owned();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        migrate::sqlite().run(&pool).await?;
        let account_reads = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.pragma("cache_size", ACCOUNT_READS_CACHE))
            .await?;
        Ok(SqliteStore {
            pool,
            account_reads,
            cipher,
            write_lock: std::sync::Arc::new(tokio::sync::Mutex::new(open_writer(&path)?)),
            pending: group::Queue::default(),
            checkpointer: checkpoint::Checkpointer::start(&path)?,
        })
    }

    /// The pool, for queries the trait does not cover (reports, tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.account_reads.close().await;
        self.pool.close().await;
    }

    /// Runs `f` in one transaction on the writer connection, under the
    /// write lock: committed when it succeeds, rolled back otherwise.
    async fn on_writer<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.write_lock.lock().await;
        let result = blocking(|| write::in_transaction(&mut conn, f));
        self.checkpointer.committed();
        result
    }

    /// [`Self::on_writer`] for one transaction far larger than the WAL's
    /// backstop (an import: ~160 MB of WAL for a million rows). Its commit
    /// would trip the writer's own automatic checkpoint, which then copies
    /// the whole WAL into the database file on the writer's thread before
    /// the next write can start; with it off for this commit, the
    /// checkpointer thread copies it on the other core while the writer
    /// goes on (issue 6, round 11: 3–5% off the import of a purchases and
    /// a balance file).
    async fn on_writer_bulk<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.write_lock.lock().await;
        let result = blocking(|| {
            set_writer_autocheckpoint(&conn, 0)?;
            let result = write::in_transaction(&mut conn, f);
            // Back on whatever happened: the backstop protects later writes.
            let restored =
                set_writer_autocheckpoint(&conn, checkpoint::WRITER_AUTOCHECKPOINT_PAGES);
            result.and_then(|value| restored.map(|()| value))
        });
        self.checkpointer.committed();
        result
    }
}

/// The writer's automatic checkpoint threshold, in WAL pages (0: off).
fn set_writer_autocheckpoint(conn: &rusqlite::Connection, pages: u32) -> Result<(), StoreError> {
    conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {pages}"))?;
    Ok(())
}

/// The page cache of the connection that reads accounts for the sync
/// (`account_reads`), as `PRAGMA cache_size` (negative: KiB). Each account
/// is read once per run, so a cache would only keep pages nobody reads
/// again. Measured with heaptrack at the end of a 5k-account initial sync:
/// SQLite's live allocations 5.25 MB with 256 KiB here, 2.78 MB with 16 KiB
/// (docs/performance.md, round 8).
const ACCOUNT_READS_CACHE: &str = "-16";

/// The writer's page cache during `bnpl import` into a mirror too large to
/// drop its read-only indexes (`bulk`), in KiB. Measured on a
/// one-million-row export with the indexes kept (docs/performance.md): 2 MiB
/// 29.5 s, 16 MiB 26.3 s, 32 MiB 21.7 s, 48 MiB 19.9 s at 76 MB peak RSS,
/// 64 MiB 20.1 s at 93 MB. Bounded whatever the file's size.
const IMPORT_CACHE_KIB: u32 = 48 * 1024;

/// The writer connection, on the file the pool opened and migrated.
fn open_writer(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL is a property of the file (set by the pool); these are per connection.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    // The checkpointer thread checkpoints after each commit; this is the backstop.
    set_writer_autocheckpoint(&conn, checkpoint::WRITER_AUTOCHECKPOINT_PAGES)?;
    // Every statement of a write, prepared once.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Runs the writer's synchronous work on this thread. On a multi-thread
/// runtime the worker first hands its other tasks to another thread
/// (`block_in_place`); on a current-thread runtime it just runs.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The writer's statements (`write::Writer`) never wait: the shared, async
/// apply logic completes in one poll on the writer connection.
fn synchronously<F: std::future::Future>(future: F) -> F::Output {
    use futures::FutureExt;
    future
        .now_or_never()
        .expect("the SQLite writer's statements complete without waiting")
}

fn found(rows_affected: u64, key: &AccountKey) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::UnknownAccount(key.to_string()));
    }
    Ok(())
}

#[async_trait]
impl Database for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn put_account(&self, key: &AccountKey, secret: &SecretString) -> Result<(), StoreError> {
        let ciphertext = self.cipher.encrypt(secret);
        self.on_writer(|conn| {
            write::execute(
                conn,
                "INSERT INTO accounts (provider, external_id, status, status_reason, \
                 secret_ciphertext, created_at, updated_at) VALUES ($1, $2, 'active', NULL, $3, $4, $4) \
                 ON CONFLICT (provider, external_id) DO UPDATE SET status = 'active', \
                 status_reason = NULL, secret_ciphertext = excluded.secret_ciphertext, \
                 updated_at = excluded.updated_at",
                &[&key.provider, &key.account_id, &ciphertext, &ts(Utc::now())],
            )
        })
        .await?;
        Ok(())
    }

    async fn accounts(&self, provider: Option<&str>) -> Result<Vec<AccountRecord>, StoreError> {
        read::accounts(&self.pool, provider, None, u32::MAX).await
    }

    async fn accounts_page(
        &self,
        after: Option<&AccountKey>,
        limit: u32,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        read::accounts(&self.account_reads, None, after, limit).await
    }

    async fn account_secret(&self, key: &AccountKey) -> Result<SecretString, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT secret_ciphertext FROM accounts WHERE provider = $1 AND external_id = $2",
        )
        .bind(&key.provider)
        .bind(&key.account_id)
        .fetch_optional(&self.account_reads)
        .await?;
        let (stored,) = row.ok_or_else(|| StoreError::UnknownAccount(key.to_string()))?;
        self.cipher.decrypt(&stored)
    }

    async fn save_secret(&self, key: &AccountKey, secret: &SecretString) -> Result<(), StoreError> {
        // A rotated refresh token is the only copy that works: sync this commit
        // to disk even through an OS crash (NORMAL only survives a process crash).
        let ciphertext = self.cipher.encrypt(secret);
        let owned = key.clone();
        let done = self
            .grouped(Commit::Durable, move |conn| {
                write::execute(
                    conn,
                    "UPDATE accounts SET secret_ciphertext = $1, updated_at = $2 \
                     WHERE provider = $3 AND external_id = $4",
                    &[
                        &ciphertext,
                        &ts(Utc::now()),
                        &owned.provider,
                        &owned.account_id,
                    ],
                )
            })
            .await?;
        found(done as u64, key)
    }

    async fn set_account_status(
        &self,
        key: &AccountKey,
        status: AccountStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = self
            .on_writer(|conn| {
                write::execute(
                    conn,
                    "UPDATE accounts SET status = $1, status_reason = $2, updated_at = $3 \
                     WHERE provider = $4 AND external_id = $5",
                    &[
                        &status.as_str(),
                        &reason,
                        &ts(Utc::now()),
                        &key.provider,
                        &key.account_id,
                    ],
                )
            })
            .await?;
        found(done as u64, key)
    }

    async fn apply_page(
        &self,
        key: &AccountKey,
        stream: Stream,
        page: &Page,
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError> {
        let page = page.clone();
        self.grouped_for(key, move |writer, account| {
            synchronously(apply::apply_page(writer, account, stream, &page, synced_at))
        })
        .await
    }

    async fn apply_snapshot(
        &self,
        key: &AccountKey,
        snapshot: &SnapshotData,
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError> {
        let snapshot = snapshot.clone();
        self.grouped_for(key, move |writer, account| {
            synchronously(apply::apply_snapshot(writer, account, &snapshot, synced_at))
        })
        .await
    }

    async fn import_records(
        &self,
        key: &AccountKey,
        batches: &mut (dyn Iterator<Item = Result<Records, StoreError>> + Send),
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError> {
        // One transaction for the whole import: an error leaves nothing of
        // it, the dropped indexes included.
        self.on_writer_bulk(|conn| {
            let account = write::account_id(conn, key)?;
            let mut batches = batches.peekable();
            let purchases = matches!(batches.peek(), Some(Ok(Records::Purchases(_))));
            let deferred = if purchases {
                bulk::defer_indexes(conn, bulk::SMALL_MIRROR_INSTALLMENTS)?
            } else {
                Vec::new()
            };
            // Purchases into a large mirror keep their indexes: a larger
            // cache keeps the indexes' pages in memory instead.
            let cache = if purchases && deferred.is_empty() {
                IMPORT_CACHE_KIB
            } else {
                write::DEFAULT_CACHE_KIB
            };
            let stats = write::with_cache(conn, cache, |conn| {
                let mut writer = write::Writer::new(conn);
                let mut totals = apply::ImportTotals::default();
                for batch in batches {
                    synchronously(apply::apply_import(
                        &mut writer,
                        account,
                        &batch?,
                        synced_at,
                        &mut totals,
                    ))?;
                }
                synchronously(apply::finish_import(
                    &mut writer,
                    account,
                    &totals,
                    synced_at,
                ))?;
                Ok(totals.all())
            })?;
            bulk::rebuild(conn, &deferred)?;
            Ok(stats)
        })
        .await
    }

    async fn reset_cursor(&self, key: &AccountKey, stream: Stream) -> Result<(), StoreError> {
        self.on_writer(|conn| {
            let account = write::account_id(conn, key)?;
            write::execute(
                conn,
                "UPDATE stream_state SET cursor = NULL WHERE account_id = $1 AND stream = $2",
                &[&account, &stream.as_str()],
            )
        })
        .await?;
        Ok(())
    }

    async fn record_stream_attempt(
        &self,
        key: &AccountKey,
        stream: Stream,
        at: DateTime<Utc>,
        error: Option<&str>,
        next_allowed_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let attempt = crate::StreamAttempt {
            stream,
            at,
            error: error.map(str::to_string),
            next_allowed_at,
        };
        self.record_stream_attempts(key, &[attempt]).await
    }

    async fn record_stream_attempts(
        &self,
        key: &AccountKey,
        attempts: &[crate::StreamAttempt],
    ) -> Result<(), StoreError> {
        // On the writer connection, in the group commit: one of these per
        // account, and through sqlx each of its statements cost two thread
        // wake-ups.
        let attempts = attempts.to_vec();
        self.grouped_for(key, move |writer, account| {
            synchronously(apply::record_attempts(writer, account, &attempts))
        })
        .await
    }

    async fn mirror(&self, key: &AccountKey) -> Result<AccountMirror, StoreError> {
        read::mirror(&self.pool, key).await
    }

    async fn installments(
        &self,
        filter: &InstallmentFilter,
        today: NaiveDate,
    ) -> Result<Vec<InstallmentView>, StoreError> {
        read::installments(&self.pool, filter, today).await
    }

    async fn installment_totals(
        &self,
        filter: &InstallmentFilter,
        today: NaiveDate,
    ) -> Result<Vec<crate::InstallmentTotals>, StoreError> {
        read::installment_totals(&self.pool, filter, today).await
    }

    async fn outstanding(&self) -> Result<Vec<OutstandingTotal>, StoreError> {
        read::outstanding(&self.pool).await
    }

    async fn purchases(&self) -> Result<Vec<PurchaseSummary>, StoreError> {
        read::purchases(&self.pool).await
    }

    async fn refresh_states(&self, today: NaiveDate, at: DateTime<Utc>) -> Result<u64, StoreError> {
        self.on_writer(|conn| {
            lifecycle::refresh_states(conn, today, at, bnpl_core::lifecycle::DEFAULT_GRACE_DAYS)
        })
        .await
    }

    async fn reconcile(
        &self,
        key: &AccountKey,
        checked_at: DateTime<Utc>,
    ) -> Result<Vec<crate::ReconciliationCheck>, StoreError> {
        let key = key.clone();
        self.grouped(Commit::Normal, move |conn| {
            lifecycle::reconcile(conn, &key, checked_at)
        })
        .await
    }

    async fn reconciliation_gaps(&self) -> Result<Vec<crate::ReconciliationCheck>, StoreError> {
        lifecycle::gaps(&self.pool).await
    }

    async fn installment_history(
        &self,
        key: &AccountKey,
        purchase_id: &str,
        seq: u32,
    ) -> Result<Vec<crate::HistoryEntry>, StoreError> {
        lifecycle::history(&self.pool, key, purchase_id, seq).await
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<crate::Event>, StoreError> {
        read::events_after(&self.pool, after, limit).await
    }

    async fn put_consent(&self, record: &crate::ConsentRecord) -> Result<(), StoreError> {
        self.on_writer(|conn| consents::put(conn, record)).await
    }

    async fn consents(
        &self,
        provider: Option<&str>,
    ) -> Result<Vec<crate::ConsentRecord>, StoreError> {
        consents::list(&self.pool, provider).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch store in a temporary directory (removed on drop).
    pub(super) async fn scratch() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, SecretCipher::from_key_bytes([0; 32]))
            .await
            .unwrap();
        (store, dir)
    }

    /// A scratch store with one account, `p/a`.
    pub(super) async fn scratch_with_account() -> (SqliteStore, AccountKey, tempfile::TempDir) {
        let (store, dir) = scratch().await;
        let key = AccountKey::new("p", "a");
        store
            .put_account(&key, &SecretString::from("s".to_string()))
            .await
            .unwrap();
        (store, key, dir)
    }

    #[tokio::test]
    async fn upsert_statements_refuse_older_rows() {
        let (store, key, _dir) = scratch_with_account().await;
        let mut conn = store.write_lock.lock().await;
        write::in_transaction(&mut conn, |conn| {
            let account = write::account_id(conn, &key)?;
            let mut writer = write::Writer::new(conn);
            synchronously(apply::checks::upsert_statements_refuse_older_rows(
                &mut writer,
                account,
            ));
            Ok(())
        })
        .unwrap();
    }

    #[tokio::test]
    async fn the_sync_reads_accounts_through_a_connection_with_a_small_cache() {
        let (store, key, _dir) = scratch_with_account().await;
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&store.account_reads)
            .await
            .unwrap();
        assert_eq!(cache.to_string(), ACCOUNT_READS_CACHE);
        let pool: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_ne!(pool, cache, "the read pool keeps SQLite's default");
        // It sees what the writer committed.
        store
            .save_secret(&key, &SecretString::from("rotated".to_string()))
            .await
            .unwrap();
        let secret = store.account_secret(&key).await.unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&secret), "rotated");
    }

    fn writer_autocheckpoint(conn: &rusqlite::Connection) -> i64 {
        conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_import_turns_the_writers_checkpoint_back_on_after_its_commit() {
        let (store, key, _dir) = scratch_with_account().await;
        let mut nothing = std::iter::empty();
        store
            .import_records(&key, &mut nothing, Utc::now())
            .await
            .unwrap();
        let conn = store.write_lock.lock().await;
        assert_eq!(
            writer_autocheckpoint(&conn),
            i64::from(checkpoint::WRITER_AUTOCHECKPOINT_PAGES)
        );
    }

    /// The checkpointer's last checkpoint ends before the store is gone, so
    /// the database file alone holds every commit: the next process has no
    /// WAL to read back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_store_leaves_every_commit_in_the_database_file() {
        let (store, dir) = scratch().await;
        for n in 0..3 {
            let key = AccountKey::new("p", format!("a{n}"));
            store
                .put_account(&key, &SecretString::from("s".to_string()))
                .await
                .unwrap();
        }
        drop(store);
        // A copy of the database file without its WAL.
        let copy = dir.path().join("copy.db");
        std::fs::copy(dir.path().join("t.db"), &copy).unwrap();
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let accounts: i64 = conn
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(accounts, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_import_gives_its_larger_cache_back_even_when_it_fails() {
        let (store, key, _dir) = scratch_with_account().await;
        let cache = |conn: &rusqlite::Connection| -> i64 {
            conn.query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        let mut batches = std::iter::once(Err(StoreError::Invalid("bad row 7".into())));
        let e = store
            .import_records(&key, &mut batches, Utc::now())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("bad row 7"), "{e}");
        let mut conn = store.write_lock.lock().await;
        assert_eq!(cache(&conn), -i64::from(write::DEFAULT_CACHE_KIB));
        assert_eq!(
            writer_autocheckpoint(&conn),
            i64::from(checkpoint::WRITER_AUTOCHECKPOINT_PAGES),
            "the backstop is back after a failed import"
        );
        let during = write::with_cache(&mut conn, IMPORT_CACHE_KIB, |c| Ok(cache(c))).unwrap();
        assert_eq!(during, -i64::from(IMPORT_CACHE_KIB));
        assert_eq!(cache(&conn), -i64::from(write::DEFAULT_CACHE_KIB));
    }

    #[tokio::test]
    async fn only_a_small_mirror_drops_its_read_only_indexes() {
        let (store, _dir) = scratch().await;
        let conn = store.write_lock.lock().await;
        let indexes = |conn: &rusqlite::Connection| -> i64 {
            conn.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let all = indexes(&conn);
        // At the threshold (0 rows, threshold 0) nothing is dropped.
        assert!(bulk::defer_indexes(&conn, 0).unwrap().is_empty());
        assert_eq!(indexes(&conn), all);
        let dropped = bulk::defer_indexes(&conn, 1).unwrap();
        assert_eq!(dropped.len(), 4);
        assert_eq!(indexes(&conn), all - 4);
        bulk::rebuild(&conn, &dropped).unwrap();
        assert_eq!(indexes(&conn), all);
        // The rebuild's sorter threads are the writer's for that moment only.
        assert_eq!(pragma(&conn, "threads"), 0);
    }

    #[test]
    fn the_bundled_sqlite_sorts_on_helper_threads_when_asked() {
        // Built with SQLITE_MAX_WORKER_THREADS = 0 the pragma would answer 0
        // and an index rebuild would sort on the writer's thread alone.
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let helpers = bulk::sort_helpers();
        assert!((1..=4).contains(&helpers));
        conn.execute_batch(&format!("PRAGMA threads = {helpers}"))
            .unwrap();
        assert_eq!(pragma(&conn, "threads"), helpers as i64);
    }

    fn pragma(conn: &rusqlite::Connection, name: &str) -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_durable_write_commits_its_group_with_full_sync_and_only_that_group() {
        let (store, _dir) = scratch().await;
        let synchronous = |commit| {
            store.grouped(commit, |conn: &mut rusqlite::Connection| {
                Ok(pragma(conn, "synchronous"))
            })
        };
        // 2 = FULL, 1 = NORMAL.
        assert_eq!(synchronous(Commit::Durable).await.unwrap(), 2);
        assert_eq!(synchronous(Commit::Normal).await.unwrap(), 1);
        // Queued while the writer is busy, both go in one group: FULL for both.
        let busy = store.write_lock.lock().await;
        let release = async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(busy);
        };
        let (durable, normal, ()) = tokio::join!(
            synchronous(Commit::Durable),
            synchronous(Commit::Normal),
            release
        );
        assert_eq!((durable.unwrap(), normal.unwrap()), (2, 2));
        assert_eq!(synchronous(Commit::Normal).await.unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_alone_in_its_group_leaves_nothing() {
        let (store, _dir) = scratch().await;
        let outcome = store
            .grouped(Commit::Normal, |conn: &mut rusqlite::Connection| {
                conn.execute_batch("CREATE TABLE scratch (x INTEGER)")?;
                Err::<(), _>(StoreError::Invalid("refused".into()))
            })
            .await;
        assert!(
            matches!(outcome, Err(StoreError::Invalid(_))),
            "{outcome:?}"
        );
        let conn = store.write_lock.lock().await;
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'scratch'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }

    /// The writer's own checkpoint only starts at 16,000 WAL pages: a few
    /// small commits reach the database file only through the checkpointer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_copies_commits_into_the_database_file() {
        let (store, dir) = scratch().await;
        let file = dir.path().join("t.db");
        let size = || std::fs::metadata(&file).unwrap().len();
        {
            // Start from a WAL with nothing left to copy.
            let conn = store.write_lock.lock().await;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
        }
        let before = size();
        store
            .grouped(Commit::Normal, |conn: &mut rusqlite::Connection| {
                conn.execute_batch(
                    "CREATE TABLE filler (x TEXT); \
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
                     INSERT INTO filler SELECT hex(randomblob(500)) FROM n;",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(size(), before, "the commit itself went to the WAL only");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() == before {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(size() > before + 100 * 1024, "{} -> {}", before, size());
    }

    #[tokio::test]
    async fn in_memory_urls_are_refused_with_the_reason() {
        let e = SqliteStore::open("sqlite::memory:", SecretCipher::from_key_bytes([0; 32]))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::InMemory(_)), "{e}");
        assert!(e.to_string().contains("use a file"), "{e}");
    }
}
