//! Sandbox -> klarna-us connector -> sync engine -> store, compared row for
//! row with the sandbox's own state after two rounds of changes.

use std::net::SocketAddr;
use std::sync::Arc;

use bnpl_core::{AccountStatus, ProviderContext};
use bnpl_sandbox::{Sandbox, SandboxConfig};
use bnpl_store::{AccountKey, Database};
use bnpl_sync::{Engine, ProviderRuntime, RunReport, SyncSettings};
use bnpl_tests::{databases, expected::mirror_from_sandbox};
use secrecy::SecretString;

async fn engine_for(sandbox: &Sandbox, db: Arc<dyn Database>, base_url: &str) -> Engine {
    for c in sandbox.credentials() {
        let secret =
            serde_json::json!({ "refresh_token": c.refresh_token, "device_id": c.device_id });
        db.put_account(
            &AccountKey::new("klarna-us", c.account_id),
            &SecretString::from(secret.to_string()),
        )
        .await
        .unwrap();
    }
    bnpl_providers::registry().expect("registry complete");
    let registration = bnpl_core::registry::find("klarna-us").unwrap();
    let section = serde_json::json!({ "base_url": base_url, "page_size": 7 });
    let connector = (registration.factory)(section, &ProviderContext::default()).unwrap();
    // The mirror's clock is the sandbox's, as a real mirror's is the provider's present.
    let clock = sandbox.clone();
    Engine::new(
        db,
        vec![ProviderRuntime::new(registration, connector)],
        SyncSettings::default(),
    )
    .with_clock(Arc::new(move || clock.now()))
}

async fn assert_mirror_matches(
    sandbox: &Sandbox,
    db: &Arc<dyn Database>,
    backend: &str,
    round: &str,
) {
    for c in sandbox.credentials() {
        let key = AccountKey::new("klarna-us", c.account_id.clone());
        let mirror = db.mirror(&key).await.unwrap();
        let truth = mirror_from_sandbox(&sandbox.state(&c.account_id).unwrap());
        assert!(!truth.purchases.is_empty());
        assert_eq!(
            mirror.purchases, truth.purchases,
            "{backend} {round} {key}: purchases"
        );
        assert_eq!(
            mirror.card_transactions, truth.card_transactions,
            "{backend} {round} {key}: card"
        );
        assert_eq!(
            mirror.balance_entries, truth.balance_entries,
            "{backend} {round} {key}: balance entries"
        );
        assert_eq!(
            mirror.points_entries, truth.points_entries,
            "{backend} {round} {key}: points entries"
        );
        assert_eq!(
            mirror.deliveries, truth.deliveries,
            "{backend} {round} {key}: deliveries"
        );
        assert_eq!(
            mirror.balances, truth.balances,
            "{backend} {round} {key}: balance"
        );
        assert_eq!(
            mirror.points, truth.points,
            "{backend} {round} {key}: points"
        );
        assert_eq!(
            mirror.profile, truth.profile,
            "{backend} {round} {key}: profile"
        );
    }
}

fn assert_clean(report: &RunReport) {
    assert_eq!(report.failed_accounts(), 0, "{report}");
    assert!(report.skipped.is_empty(), "{report}");
    // Clean sandbox data reconciles: every snapshot equals its entries.
    assert_eq!(report.reconciliation_gaps, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_matches_the_sandbox_after_two_rounds_of_changes() {
    for target in databases::all().await {
        let sandbox = Sandbox::new(SandboxConfig::default());
        let running = sandbox
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let engine = engine_for(&sandbox, target.db.clone(), &running.base_url).await;

        let first = engine.run_once().await.unwrap();
        assert_clean(&first);
        assert_mirror_matches(&sandbox, &target.db, target.name, "initial").await;
        // A first sync is a backfill: one marker per account and delta
        // stream, no event per row (snapshot streams keep theirs).
        let backfill = target.db.events_after(0, 100_000).await.unwrap();
        let accounts = sandbox.credentials().len();
        let markers = backfill
            .iter()
            .filter(|e| e.kind == "stream.backfilled")
            .count();
        assert_eq!(markers, accounts * 5, "{}", target.name);
        let row_events: Vec<&str> = backfill
            .iter()
            .map(|e| e.kind.as_str())
            .filter(|k| k.ends_with(".created") || k.starts_with("installment."))
            .collect();
        assert!(row_events.is_empty(), "{}: {row_events:?}", target.name);
        let last_backfill_event = backfill.last().map_or(0, |e| e.id);

        for round in ["after 9 days", "after 40 more days"] {
            let days = if round.contains("40") { 40 } else { 9 };
            let changes = sandbox.advance(chrono::Duration::days(days));
            assert!(
                changes.purchases_changed > 0,
                "the sandbox must change something"
            );
            let delta = engine.run_once().await.unwrap();
            assert_clean(&delta);
            // The delta moves only what changed: fewer rows than the full sync.
            assert!(
                delta.total().upserted() < first.total().upserted(),
                "{delta}"
            );
            assert_mirror_matches(&sandbox, &target.db, target.name, round).await;
        }
        // After it, changes are events.
        let news = target
            .db
            .events_after(last_backfill_event, 100_000)
            .await
            .unwrap();
        assert!(
            news.iter().any(|e| e.kind == "purchase.updated"),
            "{}: {:?}",
            target.name,
            news.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
        assert!(news.iter().all(|e| e.kind != "stream.backfilled"));

        // Nothing changed: a sync writes nothing.
        let idle = engine.run_once().await.unwrap();
        let delta_rows: u64 = idle
            .streams
            .iter()
            .filter(|(s, _)| s.is_delta())
            .map(|(_, t)| t.upserted())
            .sum();
        assert_eq!(delta_rows, 0, "{idle}");
        running.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_stops_one_account_and_not_the_others() {
    let target = databases::sqlite().await;
    let sandbox = Sandbox::new(SandboxConfig::default());
    let running = sandbox
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let engine = engine_for(&sandbox, target.db.clone(), &running.base_url).await;
    let victim = sandbox.credentials()[0].account_id.clone();
    sandbox.faults().revoke_grant(&victim);

    let report = engine.run_once().await.unwrap();
    assert_eq!(report.failed_accounts(), 1, "{report}");
    let accounts = target.db.accounts(None).await.unwrap();
    for a in &accounts {
        if a.key.account_id == victim {
            assert_eq!(a.status, AccountStatus::ReauthRequired);
            assert!(
                a.status_reason
                    .as_deref()
                    .unwrap_or("")
                    .contains("INVALID_GRANT"),
                "{:?}",
                a.status_reason
            );
        } else {
            assert_eq!(a.status, AccountStatus::Active);
            let mirror = target.db.mirror(&a.key).await.unwrap();
            assert!(!mirror.purchases.is_empty());
        }
    }
    // The next run skips the account and says why, instead of failing again.
    let next = engine.run_once().await.unwrap();
    assert_eq!(next.failed_accounts(), 0, "{next}");
    assert_eq!(next.skipped.len(), 1);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_server_errors_and_expired_cursors_are_absorbed() {
    let target = databases::sqlite().await;
    let sandbox = Sandbox::new(SandboxConfig::default());
    let running = sandbox
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let engine = engine_for(&sandbox, target.db.clone(), &running.base_url).await;
    engine.run_once().await.unwrap();

    sandbox.advance(chrono::Duration::days(5));
    sandbox
        .faults()
        .fail_next(1, 429, "TOO_MANY_REQUESTS", Some(1));
    sandbox
        .faults()
        .fail_next(1, 503, "TEMPORARILY_UNAVAILABLE", None);
    sandbox.faults().expire_cursors();
    sandbox.faults().expire_access_tokens();
    let report = engine.run_once().await.unwrap();
    assert_clean(&report);
    assert!(report.total().retries >= 2, "{report}");
    assert!(report.total().restarts > 0, "{report}");
    // Each restarted account is kept in full, with the stream that restarted.
    assert_eq!(
        report.attention.len() as u64,
        report.accounts,
        "every cursor expired: {report}"
    );
    assert!(
        report
            .attention
            .iter()
            .all(|a| a.streams.iter().any(|(_, s)| s.restarted)),
        "{report}"
    );
    assert_mirror_matches(&sandbox, &target.db, "sqlite", "after faults").await;
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_finds_a_planted_gap_and_none_on_clean_data() {
    for target in databases::all().await {
        let sandbox = Sandbox::new(SandboxConfig::default());
        let running = sandbox
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let engine = engine_for(&sandbox, target.db.clone(), &running.base_url).await;
        assert_clean(&engine.run_once().await.unwrap());
        assert!(
            target.db.reconciliation_gaps().await.unwrap().is_empty(),
            "{}",
            target.name
        );

        // Plant a balance snapshot one cent off what the entries sum to.
        let key = AccountKey::new("klarna-us", sandbox.credentials()[1].account_id.clone());
        let mirror = target.db.mirror(&key).await.unwrap();
        let mut wrong = mirror.balances[0].clone();
        wrong.amount.minor += 1;
        wrong.as_of += chrono::Duration::seconds(1);
        target
            .db
            .apply_snapshot(
                &key,
                &bnpl_core::SnapshotData::Balance(vec![wrong]),
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        let checks = target.db.reconcile(&key, chrono::Utc::now()).await.unwrap();
        let balance = checks.iter().find(|c| c.kind == "balance").unwrap();
        assert_eq!(balance.gap_minor, 1, "{}", target.name);
        let gaps = target.db.reconciliation_gaps().await.unwrap();
        assert_eq!(gaps.len(), 1, "{}: {gaps:?}", target.name);
        assert_eq!(
            (gaps[0].account.clone(), gaps[0].gap_minor),
            (key.clone(), 1)
        );
        running.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_moves_installments_to_due_and_late_and_history_says_why() {
    for target in databases::all().await {
        let sandbox = Sandbox::new(SandboxConfig::default());
        let running = sandbox
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let engine = engine_for(&sandbox, target.db.clone(), &running.base_url).await;
        engine.run_once().await.unwrap();
        let db = &target.db;
        // Find a scheduled installment and move the mirror's clock past it.
        let open = db
            .installments(
                &bnpl_store::InstallmentFilter {
                    open_only: true,
                    ..Default::default()
                },
                sandbox.now().date_naive(),
            )
            .await
            .unwrap();
        let inst = open
            .iter()
            .find(|i| i.state == bnpl_core::InstallmentState::Scheduled)
            .expect("a scheduled installment");
        let at = |d: chrono::NaiveDate| d.and_hms_opt(12, 0, 0).unwrap().and_utc();
        db.refresh_states(sandbox.now().date_naive(), at(sandbox.now().date_naive()))
            .await
            .unwrap();
        db.refresh_states(inst.due, at(inst.due)).await.unwrap();
        db.refresh_states(
            inst.due + chrono::Days::new(8),
            at(inst.due + chrono::Days::new(8)),
        )
        .await
        .unwrap();
        let history = db
            .installment_history(&inst.account, &inst.purchase_id, inst.seq)
            .await
            .unwrap();
        let clock: Vec<(&str, &str)> = history
            .iter()
            .filter(|h| h.cause == "clock")
            .map(|h| (h.from_state.as_str(), h.to_state.as_str()))
            .collect();
        assert_eq!(
            clock,
            vec![("scheduled", "due"), ("due", "late")],
            "{}: {history:?}",
            target.name
        );
        assert_eq!(
            history.last().unwrap().changed_at,
            at(inst.due + chrono::Days::new(8))
        );
        running.shutdown().await;
    }
}
