//! The PostgreSQL backend, for mirrors too big or too shared for one file.
//! Tables land in the first schema of the connection's `search_path`
//! (`postgres://.../db?options[search_path]=bnpl` picks one).

mod consents;
mod lifecycle;
mod read;
mod write;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};

use bnpl_core::{AccountStatus, Page, Records, SnapshotData, Stream};

use crate::time::stored as ts;
use crate::{
    AccountKey, AccountMirror, AccountRecord, ApplyStats, Database, InstallmentFilter,
    InstallmentView, OutstandingTotal, PurchaseSummary, SecretCipher, StoreError, apply, migrate,
};

pub struct PostgresStore {
    pool: PgPool,
    cipher: SecretCipher,
    /// Set by [`PostgresStore::open_isolated`]: the URL it was given and the schema it made.
    isolated: Option<(String, String)>,
}

/// Prefix of the schemas `open_isolated` creates: `bnpl_iso_<unix seconds>_<random>`.
const ISOLATED_PREFIX: &str = "bnpl_iso_";
/// Isolated schemas older than this are left-overs of runs that did not clean up.
const ISOLATED_MAX_AGE_SECS: u64 = 3600;

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`) and runs pending migrations.
    pub async fn open(url: &str, cipher: SecretCipher) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
        migrate::postgres().run(&pool).await?;
        Ok(PostgresStore {
            pool,
            cipher,
            isolated: None,
        })
    }

    /// Opens the mirror in a fresh schema of its own in the database at `url`,
    /// so tests and benchmarks run side by side and again and again. Schemas
    /// that earlier runs left behind (older than an hour) are dropped on the way.
    /// [`PostgresStore::drop_isolated`] removes this one.
    pub async fn open_isolated(
        url: &str,
        cipher: SecretCipher,
    ) -> Result<PostgresStore, StoreError> {
        let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        drop_stale_schemas(&admin, now).await;
        let schema = format!("{ISOLATED_PREFIX}{now}_{:08x}", rand::random::<u32>());
        // The name is made here of digits and hex: nothing to escape.
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await?;
        admin.close().await;
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut store =
            PostgresStore::open(&format!("{url}{sep}options[search_path]={schema}"), cipher)
                .await?;
        store.isolated = Some((url.to_string(), schema));
        Ok(store)
    }

    /// Closes the store and drops the schema `open_isolated` made (nothing
    /// for a store opened with [`PostgresStore::open`]).
    pub async fn drop_isolated(self) -> Result<(), StoreError> {
        self.pool.close().await;
        if let Some((url, schema)) = self.isolated {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await?;
            sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&admin)
            .await?;
            admin.close().await;
        }
        Ok(())
    }

    /// The schema `open_isolated` made.
    pub fn isolated_schema(&self) -> Option<&str> {
        self.isolated.as_ref().map(|(_, schema)| schema.as_str())
    }

    /// The pool, for queries the trait does not cover (reports, tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }
}

/// Best effort: another run may be dropping the same schema right now.
async fn drop_stale_schemas(admin: &PgPool, now: u64) {
    let names: Vec<String> = match sqlx::query_scalar(
        "SELECT nspname::TEXT FROM pg_namespace WHERE starts_with(nspname, $1)",
    )
    .bind(ISOLATED_PREFIX)
    .fetch_all(admin)
    .await
    {
        Ok(names) => names,
        Err(e) => {
            tracing::debug!(error = %e, "listing isolated schemas");
            return;
        }
    };
    for name in names {
        let created = name
            .strip_prefix(ISOLATED_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if let Some(created) = created
            && valid
            && now.saturating_sub(created) > ISOLATED_MAX_AGE_SECS
            && let Err(e) = sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(admin)
            .await
        {
            tracing::debug!(schema = %name, error = %e, "dropping a stale isolated schema");
        }
    }
}

fn found(rows_affected: u64, key: &AccountKey) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::UnknownAccount(key.to_string()));
    }
    Ok(())
}

#[async_trait]
impl Database for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn put_account(&self, key: &AccountKey, secret: &SecretString) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (provider, external_id, status, status_reason, \
             secret_ciphertext, created_at, updated_at) VALUES ($1, $2, 'active', NULL, $3, $4, $4) \
             ON CONFLICT (provider, external_id) DO UPDATE SET status = 'active', \
             status_reason = NULL, secret_ciphertext = excluded.secret_ciphertext, \
             updated_at = excluded.updated_at",
        )
        .bind(&key.provider)
        .bind(&key.account_id)
        .bind(self.cipher.encrypt(secret))
        .bind(ts(Utc::now()))
        .execute(&self.pool)
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
        read::accounts(&self.pool, None, after, limit).await
    }

    async fn account_secret(&self, key: &AccountKey) -> Result<SecretString, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT secret_ciphertext FROM accounts WHERE provider = $1 AND external_id = $2",
        )
        .bind(&key.provider)
        .bind(&key.account_id)
        .fetch_optional(&self.pool)
        .await?;
        let (stored,) = row.ok_or_else(|| StoreError::UnknownAccount(key.to_string()))?;
        self.cipher.decrypt(&stored)
    }

    async fn save_secret(&self, key: &AccountKey, secret: &SecretString) -> Result<(), StoreError> {
        // Autocommitted: on disk (synchronous_commit) when it returns.
        let done = sqlx::query(
            "UPDATE accounts SET secret_ciphertext = $1, updated_at = $2 \
             WHERE provider = $3 AND external_id = $4",
        )
        .bind(self.cipher.encrypt(secret))
        .bind(ts(Utc::now()))
        .bind(&key.provider)
        .bind(&key.account_id)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), key)
    }

    async fn set_account_status(
        &self,
        key: &AccountKey,
        status: AccountStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE accounts SET status = $1, status_reason = $2, updated_at = $3 \
             WHERE provider = $4 AND external_id = $5",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(ts(Utc::now()))
        .bind(&key.provider)
        .bind(&key.account_id)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), key)
    }

    async fn apply_page(
        &self,
        key: &AccountKey,
        stream: Stream,
        page: &Page,
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError> {
        let mut tx = self.begin_write().await?;
        let account = read::account_id(&mut tx, key).await?;
        let mut writer = write::Writer { conn: &mut tx };
        let stats = apply::apply_page(&mut writer, account, stream, page, synced_at).await?;
        // An error above drops `tx`: rolled back, cursor included.
        tx.commit().await?;
        Ok(stats)
    }

    async fn apply_snapshot(
        &self,
        key: &AccountKey,
        snapshot: &SnapshotData,
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError> {
        let mut tx = self.begin_write().await?;
        let account = read::account_id(&mut tx, key).await?;
        let mut writer = write::Writer { conn: &mut tx };
        let stats = apply::apply_snapshot(&mut writer, account, snapshot, synced_at).await?;
        tx.commit().await?;
        Ok(stats)
    }

    async fn import_records(
        &self,
        key: &AccountKey,
        batches: &mut (dyn Iterator<Item = Result<Records, StoreError>> + Send),
        synced_at: DateTime<Utc>,
    ) -> Result<ApplyStats, StoreError> {
        let mut tx = self.begin_write().await?;
        let account = read::account_id(&mut tx, key).await?;
        let mut writer = write::Writer { conn: &mut tx };
        let mut totals = apply::ImportTotals::default();
        for batch in batches {
            // An error drops `tx`: nothing of the import is written.
            apply::apply_import(&mut writer, account, &batch?, synced_at, &mut totals).await?;
        }
        apply::finish_import(&mut writer, account, &totals, synced_at).await?;
        tx.commit().await?;
        Ok(totals.all())
    }

    async fn reset_cursor(&self, key: &AccountKey, stream: Stream) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let account = read::account_id(&mut tx, key).await?;
        sqlx::query("UPDATE stream_state SET cursor = NULL WHERE account_id = $1 AND stream = $2")
            .bind(account)
            .bind(stream.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
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
        let mut tx = self.begin_write().await?;
        let account = read::account_id(&mut tx, key).await?;
        let mut writer = write::Writer { conn: &mut tx };
        apply::record_attempts(&mut writer, account, attempts).await?;
        tx.commit().await?;
        Ok(())
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
        let mut tx = self.begin_write().await?;
        let changed =
            lifecycle::refresh_states(&mut tx, today, at, bnpl_core::lifecycle::DEFAULT_GRACE_DAYS)
                .await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn reconcile(
        &self,
        key: &AccountKey,
        checked_at: DateTime<Utc>,
    ) -> Result<Vec<crate::ReconciliationCheck>, StoreError> {
        let mut tx = self.begin_write().await?;
        let checks = lifecycle::reconcile(&mut tx, key, checked_at).await?;
        tx.commit().await?;
        Ok(checks)
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
        consents::put(&self.pool, record).await
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

    /// Runs with BNPL_TEST_POSTGRES_URL, in a schema of its own.
    #[tokio::test]
    async fn upsert_statements_refuse_older_rows() {
        let Ok(url) = std::env::var("BNPL_TEST_POSTGRES_URL") else {
            return;
        };
        let store = PostgresStore::open_isolated(&url, SecretCipher::from_key_bytes([0; 32]))
            .await
            .unwrap_or_else(|e| panic!("BNPL_TEST_POSTGRES_URL={url} does not answer: {e}"));
        let key = AccountKey::new("p", "a");
        store
            .put_account(&key, &SecretString::from("s".to_string()))
            .await
            .unwrap();
        let mut tx = store.begin_write().await.unwrap();
        let account = read::account_id(&mut tx, &key).await.unwrap();
        let mut writer = write::Writer { conn: &mut tx };
        apply::checks::upsert_statements_refuse_older_rows(&mut writer, account).await;
        drop(tx);
        store.drop_isolated().await.unwrap();
    }
}
