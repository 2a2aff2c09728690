#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// From the SQLite writer connection (see `sqlite/write.rs`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "{0:?} is an in-memory SQLite database: the mirror's writer and readers are separate \
         connections and would each see an empty database of their own; use a file \
         (sqlite://bnpl.db)"
    )]
    InMemory(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unknown account {0}")]
    UnknownAccount(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("secret: {0}")]
    Secret(String),
    #[error("unsupported database url {0:?}: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    /// The caller handed over something the mirror cannot store (a page of
    /// another stream, two installments with one seq). Nothing of it was written.
    #[error("invalid write: {0}")]
    Invalid(String),
}
