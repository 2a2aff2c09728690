//! A rough write-throughput probe, not a benchmark: `cargo test -p bnpl-store
//! --release --test bulk -- --ignored --nocapture` (BNPL_BULK_PURCHASES to size it).

mod support;

use std::time::Instant;

use bnpl_core::{Records, Stream};
use support::*;

#[tokio::test]
#[ignore = "timing probe; run by hand"]
async fn bulk_import_rate() {
    let n: usize = std::env::var("BNPL_BULK_PURCHASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut backends = vec![Harness::sqlite().await];
    backends.extend(Harness::postgres().await);
    for h in backends {
        let key = h.account("klarna-us", "bulk").await;
        let start = Instant::now();
        for (i, chunk) in (0..n).collect::<Vec<_>>().chunks(500).enumerate() {
            let purchases = chunk
                .iter()
                .map(|j| purchase(&format!("p{j:07}"), "2026-02-01T00:00:00Z"))
                .collect();
            let p = page(Records::Purchases(purchases), &format!("c{i}"));
            h.db.apply_page(&key, Stream::Purchases, &p, synced())
                .await
                .unwrap();
        }
        let first = start.elapsed();
        let start = Instant::now();
        for (i, chunk) in (0..n).collect::<Vec<_>>().chunks(500).enumerate() {
            let purchases = chunk
                .iter()
                .map(|j| purchase(&format!("p{j:07}"), "2026-02-01T00:00:00Z"))
                .collect();
            let p = page(Records::Purchases(purchases), &format!("c{i}"));
            h.db.apply_page(&key, Stream::Purchases, &p, synced())
                .await
                .unwrap();
        }
        let replay = start.elapsed();
        eprintln!(
            "{}: {n} purchases ({} installments) inserted in {first:?} ({:.0}/s), replayed in {replay:?}",
            h.db.backend(),
            n * 4,
            n as f64 / first.as_secs_f64()
        );
        h.cleanup().await;
    }
}
