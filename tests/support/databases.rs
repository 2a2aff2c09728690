//! The same scenario runs on SQLite always and on PostgreSQL when
//! `BNPL_TEST_POSTGRES_URL` is set (then a dead server fails the test).

use std::sync::Arc;

use bnpl_store::{Database, SecretCipher};

pub struct TestDatabase {
    pub name: &'static str,
    pub db: Arc<dyn Database>,
    _dir: tempfile::TempDir,
}

pub async fn all() -> Vec<TestDatabase> {
    let mut out = vec![sqlite().await];
    if let Ok(url) = std::env::var("BNPL_TEST_POSTGRES_URL") {
        out.push(postgres(&url).await);
    }
    out
}

pub async fn sqlite() -> TestDatabase {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mirror.db").display());
    let db = bnpl_store::open(&url, SecretCipher::from_key_bytes([7; 32]))
        .await
        .expect("open sqlite");
    TestDatabase {
        name: "sqlite",
        db: Arc::from(db),
        _dir: dir,
    }
}

/// A fresh PostgreSQL schema per call, so tests run in parallel and repeatedly.
pub async fn postgres(url: &str) -> TestDatabase {
    let dir = tempfile::tempdir().unwrap();
    let db = bnpl_store::postgres::PostgresStore::open_isolated(
        url,
        SecretCipher::from_key_bytes([7; 32]),
    )
    .await
    .unwrap_or_else(|e| {
        panic!("BNPL_TEST_POSTGRES_URL is set but PostgreSQL does not answer: {e}")
    });
    TestDatabase {
        name: "postgres",
        db: Arc::new(db),
        _dir: dir,
    }
}
