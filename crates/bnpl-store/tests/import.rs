//! `import_records` on SQLite drops the read-only indexes of a small mirror
//! for the import and builds them again: what a reader sees afterwards must
//! be the same schema, and a failed import must leave it untouched.

mod support;

use bnpl_core::Records;
use bnpl_store::StoreError;
use support::*;

const INDEXES: &str = "SELECT name || ': ' || sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
     ORDER BY name";

fn batches(n: usize) -> Vec<Result<Records, StoreError>> {
    (0..n)
        .map(|b| {
            Ok(Records::Purchases(
                (0..50)
                    .map(|i| purchase(&format!("p{b:03}-{i:03}"), "2026-02-01T00:00:00Z"))
                    .collect(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_a_small_mirror_leaves_the_same_indexes() {
    let h = Harness::sqlite().await;
    let key = h.account("klarna-us", "imported").await;
    let before = h.texts(INDEXES).await;
    assert!(
        before
            .iter()
            .any(|i| i.starts_with("installments_by_state_due: ")),
        "{before:?}"
    );

    let stats =
        h.db.import_records(&key, &mut batches(4).into_iter(), synced())
            .await
            .unwrap();
    assert_eq!(stats.inserted, 200);
    assert_eq!(h.texts(INDEXES).await, before);
    let installments = h.count("installments").await;
    assert!(installments >= 200, "{installments}");
    // The rebuilt indexes hold every row: an index-only count agrees.
    let indexed = h
        .texts(
            "SELECT CAST(COUNT(*) AS TEXT) FROM installments INDEXED BY installments_by_account_due \
             WHERE account_id > 0",
        )
        .await;
    assert_eq!(indexed, [installments.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_leaves_the_indexes_and_no_rows() {
    let h = Harness::sqlite().await;
    let key = h.account("klarna-us", "imported").await;
    let before = h.texts(INDEXES).await;
    let mut input = batches(2);
    input.push(Err(StoreError::Invalid("row 101: bad amount".into())));
    let e =
        h.db.import_records(&key, &mut input.into_iter(), synced())
            .await
            .unwrap_err();
    assert!(e.to_string().contains("row 101"), "{e}");
    assert_eq!(h.texts(INDEXES).await, before);
    assert_eq!(h.count("purchases").await, 0);
}
