//! The mirror's contract, run on SQLite and (with BNPL_TEST_POSTGRES_URL) on PostgreSQL.

mod support;

use bnpl_core::*;
use bnpl_store::{
    AccountKey, ApplyStats, InstallmentFilter, OutstandingTotal, PurchaseSummary, StoreError,
    StreamAttempt,
};
use secrecy::{ExposeSecret, SecretString};
use support::*;

on_both_backends!(
    round_trip_of_every_record_type,
    replayed_page_is_a_noop,
    older_version_never_overwrites_newer,
    failed_page_leaves_nothing_and_keeps_the_cursor,
    cursor_is_stored_with_the_page,
    removed_ids_are_deleted,
    snapshots_keep_history,
    installment_changes_are_recorded,
    secrets_are_encrypted_at_rest,
    outstanding_never_sums_two_currencies,
    installments_are_filtered_sorted_and_derived,
    purchases_are_summarized,
    accounts_lifecycle,
    accounts_are_paged_in_key_order,
    events_carry_the_record,
    a_first_sync_writes_no_row_events_and_one_backfilled_marker,
    an_import_writes_one_event_per_stream,
    concurrent_writers_all_land,
    a_bad_page_among_concurrent_ones_fails_alone,
    new_installments_get_their_state_on_write,
);

const T1: &str = "2026-02-01T00:00:00Z";
const T2: &str = "2026-02-02T00:00:00.000001Z";
const T3: &str = "2026-02-03T00:00:00Z";
const T4: &str = "2026-02-04T00:00:00Z";

fn stats(inserted: u64, updated: u64, unchanged: u64, removed: u64) -> ApplyStats {
    ApplyStats {
        inserted,
        updated,
        unchanged,
        removed,
    }
}

async fn round_trip_of_every_record_type(h: &Harness) {
    let key = h.account("klarna-us", "acct-1").await;
    let other = h.account("klarna-us", "acct-2").await;
    let mut expected = Vec::new();
    for stream in DELTA_STREAMS {
        let records = concat(vec![
            sparse(stream, "a-sparse", T1),
            record(stream, "b-full", T2, 7),
        ]);
        let got =
            h.db.apply_page(&key, stream, &page(records.clone(), "c1"), synced())
                .await
                .unwrap();
        assert_eq!(got, stats(2, 0, 0, 0), "{stream}");
        // Same external id on another account: a row of its own.
        h.db.apply_page(
            &other,
            stream,
            &page(record(stream, "b-full", T3, 99), "x"),
            synced(),
        )
        .await
        .unwrap();
        expected.push((stream, records));
    }
    let balances = vec![
        BalanceSnapshot {
            ledger: "DE89370400440532013000".into(),
            balance_type: "closingBooked".into(),
            amount: money(-5, "EUR"),
            as_of: t("2026-02-05T06:07:08.654321Z"),
        },
        BalanceSnapshot {
            ledger: MAIN_LEDGER.into(),
            balance_type: "available".into(),
            amount: money(12_345, "USD"),
            as_of: t("2026-02-05T06:00:00Z"),
        },
    ];
    let points = PointsSnapshot {
        points: 1_234,
        as_of: t("2026-02-05T06:00:00Z"),
    };
    let profile = Profile {
        name: Some("Ada Lovelace".into()),
        email: Some("ada@example.com".into()),
        phone: Some("+15550100".into()),
        country: Some("US".into()),
        membership_tier: Some(MembershipTier::Plus),
        purchase_power: Some(money(150_000, "USD")),
        refunds_to_balance: Some(false),
        updated_at: t("2026-02-05T06:00:00Z"),
    };
    for snapshot in [
        SnapshotData::Balance(balances.clone()),
        SnapshotData::Points(points.clone()),
        SnapshotData::Profile(profile.clone()),
    ] {
        h.db.apply_snapshot(&key, &snapshot, synced())
            .await
            .unwrap();
    }

    let m = h.db.mirror(&key).await.unwrap();
    for (stream, records) in expected {
        assert_eq!(mirrored(&m, stream), records, "{stream}");
    }
    assert_eq!(m.balances, balances);
    assert_eq!(m.points, Some(points));
    assert_eq!(m.profile, Some(profile));

    let o = h.db.mirror(&other).await.unwrap();
    assert_eq!(o.purchases.len(), 1);
    assert_eq!(o.purchases[0].captured_minor, 99);
    assert_eq!(o.profile, None);

    // A profile with nothing optional comes back as nothing, not as defaults.
    let bare = Profile {
        name: None,
        email: None,
        phone: None,
        country: None,
        membership_tier: None,
        purchase_power: None,
        refunds_to_balance: None,
        updated_at: t(T4),
    };
    h.db.apply_snapshot(&other, &SnapshotData::Profile(bare.clone()), synced())
        .await
        .unwrap();
    assert_eq!(h.db.mirror(&other).await.unwrap().profile, Some(bare));
}

async fn replayed_page_is_a_noop(h: &Harness) {
    let key = h.synced_account("klarna-us", "acct").await;
    for stream in DELTA_STREAMS {
        let mut p = page(
            concat(vec![
                record(stream, "r1", T1, 1),
                record(stream, "r2", T2, 2),
            ]),
            "c1",
        );
        p.removed = vec!["r0".into()];
        assert_eq!(
            h.db.apply_page(&key, stream, &p, synced()).await.unwrap(),
            stats(2, 0, 0, 0)
        );
        let events = h.count("events").await;
        let before = h.db.mirror(&key).await.unwrap();

        let later = t("2026-03-02T00:00:00Z");
        assert_eq!(
            h.db.apply_page(&key, stream, &p, later).await.unwrap(),
            stats(0, 0, 2, 0),
            "{stream}"
        );
        assert_eq!(
            h.count("events").await,
            events,
            "{stream}: replay wrote events"
        );
        assert_eq!(h.db.mirror(&key).await.unwrap(), before);
    }
    assert_eq!(h.count("installment_history").await, 0);
}

async fn older_version_never_overwrites_newer(h: &Harness) {
    let key = h.account("klarna-us", "acct").await;
    let key = &key;
    for stream in DELTA_STREAMS {
        let apply = |records: Records| {
            let p = page(records, "c");
            async move { h.db.apply_page(key, stream, &p, synced()).await.unwrap() }
        };
        let find = |m: &bnpl_store::AccountMirror, id: &str| -> Records {
            let all = mirrored(m, stream);
            let mut one = Records::empty(stream).unwrap();
            macro_rules! pick {
                ($($v:ident),+) => {
                    match (all, &mut one) {
                        $((Records::$v(all), Records::$v(one)) => {
                            one.extend(all.into_iter().filter(|r| r.id == id))
                        })+
                        _ => unreachable!(),
                    }
                };
            }
            pick!(
                Purchases,
                CardTransactions,
                BalanceEntries,
                PointsEntries,
                Deliveries
            );
            one
        };

        assert_eq!(apply(record(stream, "x", T2, 2)).await, stats(1, 0, 0, 0));
        assert_eq!(
            apply(record(stream, "x", T1, 1)).await,
            stats(0, 0, 1, 0),
            "{stream}: older"
        );
        assert_eq!(
            apply(record(stream, "x", T2, 3)).await,
            stats(0, 0, 1, 0),
            "{stream}: equal"
        );
        let m = h.db.mirror(key).await.unwrap();
        assert_eq!(find(&m, "x"), record(stream, "x", T2, 2), "{stream}");

        // Both orders inside one page.
        let newer_first = concat(vec![record(stream, "y", T2, 2), record(stream, "y", T1, 1)]);
        assert_eq!(apply(newer_first).await, stats(1, 0, 1, 0));
        // A page is written in one statement per table: the older copy is
        // dropped before it, so it counts as unchanged, not as a second write.
        let older_first = concat(vec![record(stream, "z", T1, 1), record(stream, "z", T2, 2)]);
        assert_eq!(apply(older_first).await, stats(1, 0, 1, 0));

        assert_eq!(apply(record(stream, "x", T3, 4)).await, stats(0, 1, 0, 0));
        let m = h.db.mirror(key).await.unwrap();
        assert_eq!(find(&m, "x"), record(stream, "x", T3, 4), "{stream}");
        assert_eq!(find(&m, "y"), record(stream, "y", T2, 2), "{stream}");
        assert_eq!(find(&m, "z"), record(stream, "z", T2, 2), "{stream}");
    }
}

const POISON_SQLITE: &str = "
    CREATE TRIGGER poison_insert BEFORE INSERT ON stream_state WHEN NEW.cursor = 'poison'
    BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
    CREATE TRIGGER poison_update BEFORE UPDATE ON stream_state WHEN NEW.cursor = 'poison'
    BEGIN SELECT RAISE(ABORT, 'injected failure'); END;";

const POISON_POSTGRES: &str = "
    CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.cursor = 'poison' THEN RAISE EXCEPTION 'injected failure'; END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON stream_state
    FOR EACH ROW EXECUTE FUNCTION poison();";

async fn failed_page_leaves_nothing_and_keeps_the_cursor(h: &Harness) {
    let key = h.synced_account("klarna-us", "acct").await;
    let first = page(
        Records::Purchases(vec![purchase("p0", T1), purchase("p1", T1)]),
        "c1",
    );
    h.db.apply_page(&key, Stream::Purchases, &first, synced())
        .await
        .unwrap();
    let before = h.db.mirror(&key).await.unwrap();
    let events = h.count("events").await;

    let mut p1 = purchase("p1", T2);
    p1.plan.installments[2].reported_state = ReportedInstallmentState::Paid;
    p1.merchant = "changed".into();

    // A later row is refused by the mirror itself (two installments with seq 1).
    let mut bad = purchase("p3", T2);
    bad.plan.installments[3].seq = 1;
    let mut p = page(
        Records::Purchases(vec![purchase("p2", T2), p1.clone(), bad]),
        "c2",
    );
    p.removed = vec!["p0".into()];
    let err =
        h.db.apply_page(&key, Stream::Purchases, &p, synced())
            .await
            .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert_eq!(h.db.mirror(&key).await.unwrap(), before);
    assert_eq!(
        h.cursor(&key, Stream::Purchases).await.as_deref(),
        Some("c1")
    );
    assert_eq!(h.count("events").await, events);
    assert_eq!(h.count("installment_history").await, 0);

    // The database refuses the page's very last statement, the cursor: every
    // row, removal, history row and event before it must go too.
    h.exec(POISON_SQLITE, POISON_POSTGRES).await;
    let mut p = page(
        Records::Purchases(vec![purchase("p2", T2), p1.clone()]),
        "poison",
    );
    p.removed = vec!["p0".into()];
    let err =
        h.db.apply_page(&key, Stream::Purchases, &p, synced())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(h.db.mirror(&key).await.unwrap(), before);
    assert_eq!(
        h.cursor(&key, Stream::Purchases).await.as_deref(),
        Some("c1")
    );
    assert_eq!(h.count("events").await, events);
    assert_eq!(h.count("installment_history").await, 0);
    assert_eq!(h.count("purchases").await, 2);
    assert_eq!(h.count("installments").await, 8);

    // The same page with a cursor the database takes applies whole.
    p.next_cursor = "c2".into();
    assert_eq!(
        h.db.apply_page(&key, Stream::Purchases, &p, synced())
            .await
            .unwrap(),
        stats(1, 1, 0, 1)
    );
    assert_eq!(
        h.cursor(&key, Stream::Purchases).await.as_deref(),
        Some("c2")
    );
    let m = h.db.mirror(&key).await.unwrap();
    assert_eq!(m.purchases, vec![p1, purchase("p2", T2)]);
    assert_eq!(h.count("installment_history").await, 1);
}

async fn cursor_is_stored_with_the_page(h: &Harness) {
    let key = h.account("klarna-us", "acct").await;
    assert_eq!(h.cursor(&key, Stream::Purchases).await, None);
    h.db.apply_page(
        &key,
        Stream::Purchases,
        &page(Records::Purchases(vec![purchase("p1", T1)]), "c1"),
        synced(),
    )
    .await
    .unwrap();
    assert_eq!(
        h.cursor(&key, Stream::Purchases).await.as_deref(),
        Some("c1")
    );

    // An empty page still moves the cursor; streams keep their own.
    let empty = page(Records::empty(Stream::Purchases).unwrap(), "c2");
    h.db.apply_page(&key, Stream::Purchases, &empty, synced())
        .await
        .unwrap();
    let cards = page(
        Records::CardTransactions(vec![card_transaction("t1", T1)]),
        "k1",
    );
    h.db.apply_page(&key, Stream::CardTransactions, &cards, synced())
        .await
        .unwrap();
    assert_eq!(
        h.cursor(&key, Stream::Purchases).await.as_deref(),
        Some("c2")
    );
    assert_eq!(
        h.cursor(&key, Stream::CardTransactions).await.as_deref(),
        Some("k1")
    );

    h.db.reset_cursor(&key, Stream::Purchases).await.unwrap();
    assert_eq!(h.cursor(&key, Stream::Purchases).await, None);
    assert_eq!(
        h.cursor(&key, Stream::CardTransactions).await.as_deref(),
        Some("k1")
    );
    assert_eq!(
        h.db.mirror(&key).await.unwrap().purchases.len(),
        1,
        "rows stay"
    );

    // Attempts: an error keeps the last success, a success clears the error.
    let state = |stream: Stream| async move {
        h.db.accounts(None).await.unwrap()[0]
            .streams
            .iter()
            .find(|s| s.stream == stream)
            .cloned()
            .unwrap()
    };
    let (a1, a2, a3) = (t(T1), t(T2), t(T3));
    h.db.record_stream_attempt(&key, Stream::Purchases, a1, None, None)
        .await
        .unwrap();
    h.db.record_stream_attempt(&key, Stream::Purchases, a2, Some("quota"), Some(a3))
        .await
        .unwrap();
    let s = state(Stream::Purchases).await;
    assert_eq!(s.last_attempt_at, Some(a2));
    assert_eq!(s.last_success_at, Some(a1));
    assert_eq!(s.last_error.as_deref(), Some("quota"));
    assert_eq!(s.next_allowed_at, Some(a3));
    assert_eq!(s.cursor, None);
    h.db.record_stream_attempt(&key, Stream::Purchases, a3, None, None)
        .await
        .unwrap();
    let s = state(Stream::Purchases).await;
    assert_eq!(
        (s.last_success_at, s.last_error, s.next_allowed_at),
        (Some(a3), None, None)
    );
    // A snapshot stream's first attempt creates its row.
    h.db.record_stream_attempt(&key, Stream::Profile, a1, Some("out of scope"), None)
        .await
        .unwrap();
    let s = state(Stream::Profile).await;
    assert_eq!(
        (s.last_success_at, s.last_error.as_deref()),
        (None, Some("out of scope"))
    );

    // A page handed in under the wrong stream, or a snapshot stream, is refused.
    let err =
        h.db.apply_page(&key, Stream::CardTransactions, &empty, synced())
            .await
            .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let err =
        h.db.apply_page(&key, Stream::Balance, &empty, synced())
            .await
            .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert_eq!(
        h.cursor(&key, Stream::CardTransactions).await.as_deref(),
        Some("k1")
    );
}

async fn removed_ids_are_deleted(h: &Harness) {
    let key = h.synced_account("klarna-us", "acct").await;
    for stream in DELTA_STREAMS {
        let both = concat(vec![
            record(stream, "r1", T1, 1),
            record(stream, "r2", T1, 2),
        ]);
        h.db.apply_page(&key, stream, &page(both, "c1"), synced())
            .await
            .unwrap();
        let mut p = page(Records::empty(stream).unwrap(), "c2");
        p.removed = vec!["r1".into(), "never-seen".into()];
        assert_eq!(
            h.db.apply_page(&key, stream, &p, synced()).await.unwrap(),
            stats(0, 0, 0, 1),
            "{stream}"
        );
        let m = h.db.mirror(&key).await.unwrap();
        assert_eq!(
            mirrored(&m, stream),
            record(stream, "r2", T1, 2),
            "{stream}"
        );
        if stream == Stream::Purchases {
            assert_eq!(h.count("installments").await, 4, "cascade to installments");
            assert_eq!(h.count("purchase_items").await, 2, "cascade to items");
        }
    }
    assert_eq!(
        h.count("events WHERE kind LIKE '%.removed' AND object_id = 'r1'")
            .await,
        5
    );
    assert_eq!(h.count("events WHERE object_id = 'never-seen'").await, 0);
}

async fn snapshots_keep_history(h: &Harness) {
    let key = h.account("klarna-us", "acct").await;
    let key = &key;
    let apply =
        |s: SnapshotData| async move { h.db.apply_snapshot(key, &s, synced()).await.unwrap() };
    let b = |minor: i64, as_of: &str| BalanceSnapshot {
        ledger: MAIN_LEDGER.into(),
        balance_type: "available".into(),
        amount: money(minor, "USD"),
        as_of: t(as_of),
    };
    assert_eq!(
        apply(SnapshotData::Balance(vec![b(100, T1)])).await,
        stats(1, 0, 0, 0)
    );
    assert_eq!(
        apply(SnapshotData::Balance(vec![b(100, T1)])).await,
        stats(0, 0, 1, 0)
    );
    assert_eq!(
        apply(SnapshotData::Balance(vec![b(100, T2)])).await,
        stats(1, 0, 0, 0)
    );
    assert_eq!(
        apply(SnapshotData::Balance(vec![b(250, T3)])).await,
        stats(1, 0, 0, 0)
    );
    assert_eq!(h.count("balance_snapshots").await, 3);
    // An event when the figure moves, not for every as_of.
    assert_eq!(h.count("events WHERE kind = 'balance.updated'").await, 2);
    assert_eq!(h.db.mirror(key).await.unwrap().balances, vec![b(250, T3)]);

    let p = |points: i64, as_of: &str| PointsSnapshot {
        points,
        as_of: t(as_of),
    };
    assert_eq!(
        apply(SnapshotData::Points(p(10, T1))).await,
        stats(1, 0, 0, 0)
    );
    assert_eq!(
        apply(SnapshotData::Points(p(10, T1))).await,
        stats(0, 0, 1, 0)
    );
    assert_eq!(
        apply(SnapshotData::Points(p(10, T2))).await,
        stats(1, 0, 0, 0)
    );
    assert_eq!(
        apply(SnapshotData::Points(p(5, T3))).await,
        stats(1, 0, 0, 0)
    );
    assert_eq!(h.count("points_snapshots").await, 3);
    assert_eq!(h.count("events WHERE kind = 'points.updated'").await, 2);
    assert_eq!(h.db.mirror(key).await.unwrap().points, Some(p(5, T3)));

    let prof = |name: &str, updated: &str| Profile {
        name: Some(name.into()),
        email: None,
        phone: None,
        country: Some("SE".into()),
        membership_tier: Some(MembershipTier::Max),
        purchase_power: None,
        refunds_to_balance: Some(true),
        updated_at: t(updated),
    };
    assert_eq!(
        apply(SnapshotData::Profile(prof("A", T2))).await,
        stats(1, 0, 0, 0)
    );
    assert_eq!(
        apply(SnapshotData::Profile(prof("A", T2))).await,
        stats(0, 0, 1, 0)
    );
    assert_eq!(
        apply(SnapshotData::Profile(prof("old", T1))).await,
        stats(0, 0, 1, 0)
    );
    assert_eq!(h.db.mirror(key).await.unwrap().profile, Some(prof("A", T2)));
    assert_eq!(
        apply(SnapshotData::Profile(prof("B", T3))).await,
        stats(0, 1, 0, 0)
    );
    assert_eq!(h.db.mirror(key).await.unwrap().profile, Some(prof("B", T3)));
    assert_eq!(h.count("profiles").await, 1);
    assert_eq!(h.count("events WHERE kind = 'profile.updated'").await, 2);
}

async fn installment_changes_are_recorded(h: &Harness) {
    let key = h.synced_account("klarna-us", "acct").await;
    let key = &key;
    let apply = |p: Purchase| async move {
        let page = page(Records::Purchases(vec![p]), "c");
        h.db.apply_page(key, Stream::Purchases, &page, synced())
            .await
            .unwrap()
    };
    let ids = || h.texts("SELECT CAST(id AS TEXT) FROM installments ORDER BY seq");
    apply(purchase("p1", T1)).await;
    let ids_before = ids().await;
    assert_eq!(
        h.count("installment_history").await,
        0,
        "no history for new rows"
    );

    let mut v2 = purchase("p1", T2);
    let i = &mut v2.plan.installments;
    i[1].reported_state = ReportedInstallmentState::Paid; // late -> paid
    i[1].paid_at = Some(t("2026-01-30T10:00:00Z"));
    i[2].due = d("2026-02-10"); // moved
    i[3].amount_minor = 2_400; // changed amount
    assert_eq!(apply(v2.clone()).await, stats(0, 1, 0, 0));
    assert_eq!(ids().await, ids_before, "installments keep their rows");
    assert_eq!(
        h.texts(
            "SELECT CAST(i.seq AS TEXT) || ':' || h.from_state || '>' || h.to_state || ':' \
             || CAST(h.from_due_date AS TEXT) || '>' || CAST(h.to_due_date AS TEXT) || ':' \
             || CAST(h.from_amount_minor AS TEXT) || '>' || CAST(h.to_amount_minor AS TEXT) \
             || ':' || h.cause \
             FROM installment_history h JOIN installments i ON i.id = h.installment_id \
             ORDER BY h.id"
        )
        .await,
        [
            "2:late>paid:2026-01-24>2026-01-24:2500>2500:provider_report",
            "3:scheduled>scheduled:2026-02-07>2026-02-10:2500>2500:provider_report",
            "4:scheduled>scheduled:2026-02-21>2026-02-21:2500>2400:provider_report",
        ]
    );
    assert_eq!(
        h.count("events WHERE kind = 'installment.state_changed'")
            .await,
        1
    );
    assert_eq!(
        h.count("events WHERE kind = 'installment.updated'").await,
        2
    );

    // A newer purchase with the same plan, or only a late fee changed: no history.
    let mut v3 = v2.clone();
    v3.updated_at = t(T3);
    v3.merchant = "renamed".into();
    v3.plan.installments[0].late_fee_minor = 500;
    assert_eq!(apply(v3.clone()).await, stats(0, 1, 0, 0));
    assert_eq!(h.count("installment_history").await, 3);
    assert_eq!(h.db.mirror(key).await.unwrap().purchases, vec![v3.clone()]);

    // A shorter plan drops the installment that is gone.
    let mut v4 = v3.clone();
    v4.updated_at = t(T4);
    v4.plan.installments.pop();
    v4.items.pop();
    apply(v4.clone()).await;
    assert_eq!(h.count("installments").await, 3);
    assert_eq!(h.count("purchase_items").await, 1);
    assert_eq!(h.db.mirror(key).await.unwrap().purchases, vec![v4]);
}

async fn secrets_are_encrypted_at_rest(h: &Harness) {
    let token = "rt_SUPER_SECRET_refresh_token_0123456789";
    let rotated = "rt_ROTATED_refresh_token_9876543210";
    let key = AccountKey::new("klarna-us", "acct");
    let doc = |t: &str| SecretString::from(format!(r#"{{"refresh_token":"{t}"}}"#));
    h.db.put_account(&key, &doc(token)).await.unwrap();
    assert_eq!(
        h.db.account_secret(&key).await.unwrap().expose_secret(),
        doc(token).expose_secret()
    );
    h.db.save_secret(&key, &doc(rotated)).await.unwrap();
    assert_eq!(
        h.db.account_secret(&key).await.unwrap().expose_secret(),
        doc(rotated).expose_secret()
    );
    let stored = h.texts("SELECT secret_ciphertext FROM accounts").await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains("refresh_token") && !stored[0].contains(rotated));

    if let Some(path) = &h.path {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", path.display());
            if let Ok(b) = std::fs::read(&file) {
                bytes.extend(b);
            }
        }
        assert!(bytes.len() > 4096, "read the database files");
        for needle in [token, rotated, "refresh_token"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in the SQLite files"
            );
        }
    }

    // A store with another key cannot read it.
    let wrong = bnpl_store::SecretCipher::from_key_bytes([1; 32]);
    let stored = stored[0].clone();
    assert!(wrong.decrypt(&stored).is_err());
}

async fn outstanding_never_sums_two_currencies(h: &Harness) {
    let a = h.account("klarna-us", "a").await;
    let b = h.account("affirm", "b").await;
    // Open: late 2500 + 700 fee, paused 2500; cancelled and paid do not count.
    let mut usd = purchase_in("usd-1", T1, "USD");
    usd.plan.installments[2].reported_state = ReportedInstallmentState::Cancelled;
    usd.plan.installments[3].reported_state = ReportedInstallmentState::Paused;
    let mut paid = purchase_in("usd-paid", T1, "USD");
    for i in &mut paid.plan.installments {
        i.reported_state = ReportedInstallmentState::Paid;
        i.late_fee_minor = 0;
    }
    let eur = purchase_in("eur-1", T1, "EUR");
    let sek = plain_purchase("sek-1", T1);
    let p = page(Records::Purchases(vec![usd, paid, eur, sek]), "c");
    h.db.apply_page(&a, Stream::Purchases, &p, synced())
        .await
        .unwrap();
    let p = page(
        Records::Purchases(vec![purchase_in("usd-2", T1, "USD")]),
        "c",
    );
    h.db.apply_page(&b, Stream::Purchases, &p, synced())
        .await
        .unwrap();

    let total = |provider: &str, currency: &str, minor: i64, open: u64| OutstandingTotal {
        provider: provider.into(),
        currency: currency.into(),
        outstanding_minor: minor,
        open_installments: open,
        active_plans: 1,
    };
    assert_eq!(
        h.db.outstanding().await.unwrap(),
        vec![
            total("affirm", "USD", 8_200, 3),
            total("klarna-us", "EUR", 8_200, 3),
            total("klarna-us", "SEK", 6 * 20_720, 6),
            total("klarna-us", "USD", 5_700, 2),
        ]
    );
}

async fn installments_are_filtered_sorted_and_derived(h: &Harness) {
    use InstallmentState::*;
    let a = h.account("klarna-us", "a").await;
    let b = h.account("affirm", "b").await;
    for (key, id) in [(&a, "p-b"), (&b, "p-a")] {
        let p = page(Records::Purchases(vec![purchase(id, T1)]), "c");
        h.db.apply_page(key, Stream::Purchases, &p, synced())
            .await
            .unwrap();
    }
    let today = d("2026-02-07");
    let list = |filter: InstallmentFilter| async move {
        h.db.installments(&filter, today)
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.due.to_string(), v.purchase_id, v.seq, v.state))
            .collect::<Vec<_>>()
    };
    let row = |due: &str, p: &str, seq: u32, s: InstallmentState| {
        (due.to_string(), p.to_string(), seq, s)
    };
    assert_eq!(
        list(InstallmentFilter::default()).await,
        vec![
            row("2026-01-10", "p-a", 1, Paid),
            row("2026-01-10", "p-b", 1, Paid),
            row("2026-01-24", "p-a", 2, Late),
            row("2026-01-24", "p-b", 2, Late),
            row("2026-02-07", "p-a", 3, Due),
            row("2026-02-07", "p-b", 3, Due),
            row("2026-02-21", "p-a", 4, Scheduled),
            row("2026-02-21", "p-b", 4, Scheduled),
        ]
    );
    let open = list(InstallmentFilter {
        open_only: true,
        ..Default::default()
    })
    .await;
    assert_eq!(open.len(), 6);
    assert!(open.iter().all(|r| r.3 != Paid));
    let affirm = list(InstallmentFilter {
        provider: Some("affirm".into()),
        ..Default::default()
    })
    .await;
    assert!(affirm.len() == 4 && affirm.iter().all(|r| r.1 == "p-a"));
    let acct_a = list(InstallmentFilter {
        account_id: Some("a".into()),
        ..Default::default()
    })
    .await;
    assert!(acct_a.len() == 4 && acct_a.iter().all(|r| r.1 == "p-b"));
    assert_eq!(
        list(InstallmentFilter {
            provider: Some("klarna-us".into()),
            account_id: Some("a".into()),
            open_only: true,
            due_on_or_before: Some(today),
            ..Default::default()
        })
        .await,
        vec![
            row("2026-01-24", "p-b", 2, Late),
            row("2026-02-07", "p-b", 3, Due)
        ]
    );
    let early = list(InstallmentFilter {
        due_on_or_before: Some(d("2026-01-24")),
        ..Default::default()
    })
    .await;
    assert_eq!(early.len(), 4);

    let views =
        h.db.installments(
            &InstallmentFilter {
                account_id: Some("a".into()),
                ..Default::default()
            },
            today,
        )
        .await
        .unwrap();
    let v = &views[1];
    assert_eq!(v.account, a);
    // Whatever the date, the state is bnpl_core's derivation from the report.
    for today in ["2026-01-01", "2026-02-07", "2026-02-20", "2026-12-31"].map(d) {
        let mut reported = std::collections::HashMap::new();
        for key in [&a, &b] {
            for p in h.db.mirror(key).await.unwrap().purchases {
                for i in p.plan.installments {
                    reported.insert((p.id.clone(), i.seq), (i.reported_state, i.due));
                }
            }
        }
        let views =
            h.db.installments(&InstallmentFilter::default(), today)
                .await
                .unwrap();
        assert_eq!(views.len(), 8);
        for v in views {
            let (r, due) = reported[&(v.purchase_id.clone(), v.seq)];
            assert_eq!(v.state, bnpl_core::lifecycle::derive_state(r, due, today));
        }
    }
    assert_eq!(v.merchant, "Merchant of p-b");
    assert_eq!(v.plan, "pay_in_4");
    assert_eq!((v.amount_minor, v.late_fee_minor), (2_500, 700));
    assert_eq!(v.currency, "USD");
}

async fn purchases_are_summarized(h: &Harness) {
    let a = h.account("klarna-us", "a").await;
    let p = page(
        Records::Purchases(vec![plain_purchase("fin", T1), purchase("p4", T1)]),
        "c",
    );
    h.db.apply_page(&a, Stream::Purchases, &p, synced())
        .await
        .unwrap();
    let summary = |id: &str,
                   merchant: &str,
                   plan: &str,
                   status: &str,
                   minor,
                   cur: &str,
                   created: &str,
                   open,
                   owed| {
        PurchaseSummary {
            account: a.clone(),
            purchase_id: id.into(),
            merchant: merchant.into(),
            plan: plan.into(),
            status: status.into(),
            amount_minor: minor,
            currency: cur.into(),
            created_at: t(created),
            open_installments: open,
            outstanding_minor: owed,
        }
    };
    assert_eq!(
        h.db.purchases().await.unwrap(),
        vec![
            summary(
                "p4",
                "Merchant of p4",
                "pay_in_4",
                "part_refunded",
                10_000,
                "USD",
                "2026-01-10T09:00:00.123456Z",
                3,
                8_200
            ),
            summary(
                "fin",
                "Plain",
                "financing_6",
                "captured",
                120_000,
                "SEK",
                "2026-02-01T00:00:00Z",
                6,
                124_320
            ),
        ]
    );
}

async fn accounts_lifecycle(h: &Harness) {
    let k2 = AccountKey::new("klarna-us", "z-acct");
    let k1 = AccountKey::new("affirm", "acct");
    h.db.put_account(&k2, &SecretString::from("s2".to_string()))
        .await
        .unwrap();
    h.db.put_account(&k1, &SecretString::from("s1".to_string()))
        .await
        .unwrap();
    let all = h.db.accounts(None).await.unwrap();
    assert_eq!(
        all.iter().map(|a| a.key.clone()).collect::<Vec<_>>(),
        [k1.clone(), k2.clone()]
    );
    assert!(
        all.iter()
            .all(|a| a.status == AccountStatus::Active && a.status_reason.is_none())
    );
    let created = all[1].created_at;

    h.db.set_account_status(&k2, AccountStatus::ReauthRequired, Some("consent revoked"))
        .await
        .unwrap();
    let only = h.db.accounts(Some("klarna-us")).await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].status, AccountStatus::ReauthRequired);
    assert_eq!(only[0].status_reason.as_deref(), Some("consent revoked"));

    // Re-consent: active again, new secret, same account.
    h.db.put_account(&k2, &SecretString::from("s2-new".to_string()))
        .await
        .unwrap();
    let again = h.db.accounts(Some("klarna-us")).await.unwrap();
    assert_eq!(again[0].status, AccountStatus::Active);
    assert_eq!(again[0].status_reason, None);
    assert_eq!(again[0].created_at, created);
    assert_eq!(
        h.db.account_secret(&k2).await.unwrap().expose_secret(),
        "s2-new"
    );
    assert!(h.db.accounts(Some("nobody")).await.unwrap().is_empty());

    let ghost = AccountKey::new("klarna-us", "ghost");
    let unknown = |r: Result<(), StoreError>| {
        assert!(
            matches!(r, Err(StoreError::UnknownAccount(ref k)) if k == "klarna-us/ghost"),
            "{r:?}"
        )
    };
    unknown(h.db.account_secret(&ghost).await.map(drop));
    unknown(
        h.db.save_secret(&ghost, &SecretString::from("x".to_string()))
            .await,
    );
    unknown(
        h.db.set_account_status(&ghost, AccountStatus::Disabled, None)
            .await,
    );
    unknown(h.db.mirror(&ghost).await.map(drop));
    unknown(h.db.reset_cursor(&ghost, Stream::Purchases).await);
    let empty = page(Records::empty(Stream::Purchases).unwrap(), "c");
    unknown(
        h.db.apply_page(&ghost, Stream::Purchases, &empty, synced())
            .await
            .map(drop),
    );
    unknown(
        h.db.apply_snapshot(
            &ghost,
            &SnapshotData::Points(PointsSnapshot {
                points: 1,
                as_of: synced(),
            }),
            synced(),
        )
        .await
        .map(drop),
    );
    unknown(
        h.db.record_stream_attempt(&ghost, Stream::Purchases, synced(), None, None)
            .await,
    );
}

async fn accounts_are_paged_in_key_order(h: &Harness) {
    // Two providers, ids that sort differently by provider and by id alone.
    let keys = [
        AccountKey::new("klarna-us", "b"),
        AccountKey::new("affirm", "c"),
        AccountKey::new("klarna-us", "a"),
        AccountKey::new("affirm", "a"),
        AccountKey::new("klarna-eu", "b"),
    ];
    for k in &keys {
        h.db.put_account(k, &SecretString::from("s".to_string()))
            .await
            .unwrap();
    }
    h.db.record_stream_attempt(&keys[0], Stream::Purchases, synced(), Some("boom"), None)
        .await
        .unwrap();
    let all = h.db.accounts(None).await.unwrap();
    let mut paged = Vec::new();
    let mut after: Option<AccountKey> = None;
    loop {
        let page = h.db.accounts_page(after.as_ref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        paged.extend(page);
    }
    // Every account once, in key order, each with its own stream states.
    assert_eq!(paged, all);
    let mut sorted = keys.to_vec();
    sorted.sort();
    assert_eq!(
        paged.iter().map(|a| a.key.clone()).collect::<Vec<_>>(),
        sorted
    );
    let failed = paged.iter().find(|a| a.key == keys[0]).unwrap();
    assert_eq!(failed.streams.len(), 1);
    assert_eq!(failed.streams[0].last_error.as_deref(), Some("boom"));
    assert!(
        paged
            .iter()
            .filter(|a| a.key != keys[0])
            .all(|a| a.streams.is_empty())
    );
    // After the last key there is nothing.
    assert!(
        h.db.accounts_page(Some(&sorted[4]), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn events_carry_the_record(h: &Harness) {
    let key = h.synced_account("klarna-us", "acct").await;
    let p = purchase("p1", T1);
    h.db.apply_page(
        &key,
        Stream::Purchases,
        &page(Records::Purchases(vec![p.clone()]), "c"),
        synced(),
    )
    .await
    .unwrap();
    let payload = if h.is_postgres() {
        "SELECT payload::text FROM events WHERE kind = 'purchase.created'"
    } else {
        "SELECT payload FROM events WHERE kind = 'purchase.created'"
    };
    let got: Vec<serde_json::Value> = h
        .texts(payload)
        .await
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    assert_eq!(got, vec![serde_json::to_value(&p).unwrap()]);
    assert_eq!(
        h.count("events WHERE object_id = 'p1' AND account_id IS NOT NULL")
            .await,
        1
    );

    let mut v2 = p.clone();
    v2.updated_at = t(T2);
    v2.status = OrderStatus::Refunded;
    h.db.apply_page(
        &key,
        Stream::Purchases,
        &page(Records::Purchases(vec![v2]), "c"),
        synced(),
    )
    .await
    .unwrap();
    assert_eq!(
        h.texts("SELECT kind FROM events ORDER BY id").await,
        ["purchase.created", "purchase.updated"]
    );
}

/// Until a delta stream first catches up its pages are the mirror's history:
/// rows, installments and their history are written, events are not. The
/// first success writes one `stream.backfilled` marker; later pages write
/// their events as usual.
async fn a_first_sync_writes_no_row_events_and_one_backfilled_marker(h: &Harness) {
    let key = h.account("klarna-us", "acct").await;
    let apply = |records: Vec<Purchase>, removed: &[&str], cursor: &str| {
        let mut p = page(Records::Purchases(records), cursor);
        p.removed = removed.iter().map(|r| r.to_string()).collect();
        let key = key.clone();
        async move {
            h.db.apply_page(&key, Stream::Purchases, &p, synced())
                .await
                .unwrap()
        }
    };
    let attempt = |stream, error: Option<&str>| StreamAttempt {
        stream,
        at: t(T3),
        error: error.map(str::to_string),
        next_allowed_at: None,
    };
    apply(vec![purchase("p1", T1), purchase("p2", T1)], &[], "c1").await;
    // The same backfill goes on after a failed attempt: an update of a row it
    // wrote and a removal write no events either.
    h.db.record_stream_attempts(&key, &[attempt(Stream::Purchases, Some("rate limited"))])
        .await
        .unwrap();
    let mut p1 = purchase("p1", T2);
    p1.plan.installments[2].reported_state = ReportedInstallmentState::Paid;
    let got = apply(vec![p1, purchase("p3", T1)], &["p2"], "c2").await;
    assert_eq!(got, stats(1, 1, 0, 1));
    assert_eq!(h.count("events").await, 0);
    assert_eq!(h.count("installment_history").await, 1, "history is kept");

    // The first success ends it; a failed stream and a snapshot stream mark nothing.
    h.db.record_stream_attempts(
        &key,
        &[
            attempt(Stream::Purchases, None),
            attempt(Stream::CardTransactions, Some("quota")),
            attempt(Stream::Balance, None),
        ],
    )
    .await
    .unwrap();
    let payload = if h.is_postgres() {
        "SELECT kind || ' ' || object_id || ' ' || payload::text FROM events"
    } else {
        "SELECT kind || ' ' || object_id || ' ' || payload FROM events"
    };
    let marker = h.texts(payload).await;
    assert_eq!(marker.len(), 1, "{marker:?}");
    let (head, json) = marker[0].split_at("stream.backfilled purchases ".len());
    assert_eq!(head, "stream.backfilled purchases ");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(json).unwrap(),
        serde_json::json!({ "stream": "purchases", "rows": 2 })
    );

    // Once: a later success marks nothing, and pages write their events.
    h.db.record_stream_attempts(&key, &[attempt(Stream::Purchases, None)])
        .await
        .unwrap();
    let mut p3 = purchase("p3", T2);
    p3.status = OrderStatus::Refunded;
    apply(vec![purchase("p4", T1), p3], &["p1"], "c3").await;
    assert_eq!(
        h.texts("SELECT kind || ' ' || object_id FROM events ORDER BY id")
            .await,
        [
            "stream.backfilled purchases",
            "purchase.created p4",
            "purchase.updated p3",
            "purchase.removed p1",
        ]
    );

    // As a consumer reads them: in id order, after the last id it handled.
    let all = h.db.events_after(0, 10).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|e| e.account == key));
    assert_eq!(
        all[0].payload,
        serde_json::json!({ "stream": "purchases", "rows": 2 })
    );
    let next = h.db.events_after(all[1].id, 1).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].kind.as_str(), next[0].object_id.as_str()),
        ("purchase.updated", "p3")
    );
    assert_eq!(next[0].payload["id"], "p3");
    assert!(h.db.events_after(all[3].id, 10).await.unwrap().is_empty());
}

/// An import is history too: one `stream.imported` per stream with what it
/// wrote, whatever the stream's state; an import that wrote nothing, none.
async fn an_import_writes_one_event_per_stream(h: &Harness) {
    let key = h.synced_account("klarna-us", "acct").await;
    let import = |batches: Vec<Records>| {
        let key = key.clone();
        async move {
            let mut batches = batches.into_iter().map(Ok);
            h.db.import_records(&key, &mut batches, synced())
                .await
                .unwrap()
        }
    };
    let batches = vec![
        Records::Purchases(vec![purchase("p1", T1), purchase("p2", T1)]),
        record(Stream::CardTransactions, "c1", T1, 1),
        Records::Purchases(vec![purchase("p3", T1), purchase("p1", T2)]),
    ];
    assert_eq!(import(batches.clone()).await, stats(4, 1, 0, 0));
    let payload = if h.is_postgres() {
        "SELECT object_id || ' ' || payload::text FROM events WHERE kind = 'stream.imported' ORDER BY id"
    } else {
        "SELECT object_id || ' ' || payload FROM events WHERE kind = 'stream.imported' ORDER BY id"
    };
    let events: Vec<(String, serde_json::Value)> = h
        .texts(payload)
        .await
        .iter()
        .map(|e| {
            let (stream, json) = e.split_once(' ').unwrap();
            (stream.to_string(), serde_json::from_str(json).unwrap())
        })
        .collect();
    let totals = |inserted, updated| serde_json::json!({ "inserted": inserted, "updated": updated, "unchanged": 0 });
    let mut expected = vec![
        ("purchases".to_string(), totals(3, 1)),
        ("card_transactions".to_string(), totals(1, 0)),
    ];
    for (stream, payload) in &mut expected {
        payload["stream"] = serde_json::json!(stream);
    }
    assert_eq!(events, expected);
    assert_eq!(h.count("events").await, 2, "no per-row events");

    assert_eq!(import(batches).await, stats(0, 0, 5, 0));
    assert_eq!(h.count("events").await, 2);
}

#[tokio::test]
async fn open_picks_the_backend_from_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let db = bnpl_store::open(&url, cipher()).await.unwrap();
    assert_eq!(db.backend(), "sqlite");
    let key = AccountKey::new("klarna-us", "a");
    db.put_account(&key, &SecretString::from("s".to_string()))
        .await
        .unwrap();
    drop(db);
    // Reopening runs no migration twice and keeps the data.
    let db = bnpl_store::open(&url, cipher()).await.unwrap();
    assert_eq!(db.accounts(None).await.unwrap().len(), 1);

    for bad in ["mysql://x/y", "mirror.db", "", "http://example.invalid"] {
        let err = bnpl_store::open(bad, cipher()).await.err().unwrap();
        assert!(
            matches!(err, StoreError::UnsupportedUrl(ref u) if u == bad),
            "{err}"
        );
    }
}

#[tokio::test]
async fn open_postgres_url_schemes() {
    let Ok(base) = std::env::var(PG_ENV) else {
        return;
    };
    let h = Harness::postgres().await.unwrap();
    let Raw::Postgres { schema, .. } = &h.raw else {
        unreachable!()
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    for scheme in ["postgres", "postgresql"] {
        let rest = base.split_once("://").unwrap().1;
        let url = format!("{scheme}://{rest}{sep}options[search_path]={schema}");
        let db = bnpl_store::open(&url, cipher()).await.unwrap();
        assert_eq!(db.backend(), "postgres");
        assert!(db.accounts(None).await.unwrap().is_empty());
    }
    h.cleanup().await;
}

/// SQLite holds timestamps as fixed-width UTC text and dates as YYYY-MM-DD,
/// which users compare and feed to date functions directly.
#[tokio::test]
async fn sqlite_text_formats() {
    let h = Harness::sqlite().await;
    let key = h.synced_account("klarna-us", "a").await;
    let p = page(Records::Purchases(vec![purchase("p1", T1)]), "c");
    h.db.apply_page(&key, Stream::Purchases, &p, synced())
        .await
        .unwrap();
    assert_eq!(
        h.texts("SELECT updated_at || ' ' || created_at || ' ' || synced_at FROM purchases")
            .await,
        ["2026-02-01T00:00:00.000000Z 2026-01-10T09:00:00.123456Z 2026-03-01T12:00:00.000000Z"]
    );
    assert_eq!(
        h.texts("SELECT due_date || ' ' || COALESCE(paid_at, '-') FROM installments ORDER BY seq")
            .await,
        [
            "2026-01-10 2026-01-10T09:00:01.500000Z",
            "2026-01-24 -",
            "2026-02-07 -",
            "2026-02-21 -"
        ]
    );
    // SQLite's own date functions read them.
    assert_eq!(
        h.count("installments WHERE julianday(due_date) - julianday('2026-01-10') = 14")
            .await,
        1
    );
    assert_eq!(
        h.count("purchases WHERE datetime(created_at) = '2026-01-10 09:00:00'")
            .await,
        1
    );
    assert_eq!(
        h.texts("SELECT json_extract(payload, '$.id') FROM events")
            .await,
        ["p1"]
    );
}

#[tokio::test]
async fn postgres_isolated_schemas_come_and_go() {
    let Ok(url) = std::env::var(PG_ENV) else {
        return;
    };
    let schemas = |pattern: String| {
        let url = url.clone();
        async move {
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE $1")
                    .bind(pattern)
                    .fetch_one(&admin)
                    .await
                    .unwrap();
            admin.close().await;
            n
        }
    };
    // A left-over of a run two hours ago is dropped by the next open_isolated.
    let stale = format!(
        "bnpl_iso_{}_deadbeef",
        chrono::Utc::now().timestamp() - 7200
    );
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {stale}")))
        .execute(&admin)
        .await
        .unwrap();
    let store = bnpl_store::PostgresStore::open_isolated(&url, cipher())
        .await
        .unwrap();
    assert_eq!(schemas(stale.clone()).await, 0, "stale schema dropped");
    let schema = store.isolated_schema().unwrap().to_string();
    let key = AccountKey::new("klarna-us", "iso");
    bnpl_store::Database::put_account(&store, &key, &SecretString::from("s".to_string()))
        .await
        .unwrap();
    let in_schema: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {schema}.accounts"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(in_schema, 1);
    store.drop_isolated().await.unwrap();
    assert_eq!(schemas(schema).await, 0, "own schema dropped");
    admin.close().await;
}

/// Accounts sync concurrently: their pages must queue for the one SQLite
/// writer instead of failing with "database is locked".
async fn concurrent_writers_all_land(h: &Harness) {
    let mut keys = Vec::new();
    for i in 0..6 {
        keys.push(h.account("klarna-us", &format!("acct-{i}")).await);
    }
    let writes = keys.iter().map(|key| async move {
        for n in 0..5 {
            let purchases = (0..20)
                .map(|j| purchase(&format!("p{n}-{j}"), T1))
                .collect();
            let p = page(Records::Purchases(purchases), &format!("c{n}"));
            h.db.apply_page(key, Stream::Purchases, &p, synced())
                .await
                .unwrap();
            let cards = page(
                Records::CardTransactions(vec![card_transaction(&format!("t{n}"), T1)]),
                "k",
            );
            h.db.apply_page(key, Stream::CardTransactions, &cards, synced())
                .await
                .unwrap();
            h.db.save_secret(key, &SecretString::from(format!("rotated {n}")))
                .await
                .unwrap();
        }
    });
    futures::future::join_all(writes).await;
    assert_eq!(h.count("purchases").await, 6 * 5 * 20);
    assert_eq!(h.count("installments").await, 6 * 5 * 20 * 4);
    for key in &keys {
        assert_eq!(
            h.cursor(key, Stream::Purchases).await.as_deref(),
            Some("c4")
        );
        assert_eq!(
            h.db.account_secret(key).await.unwrap().expose_secret(),
            "rotated 4"
        );
    }
}

/// Pages written at the same time may share a transaction (SQLite's group
/// commit): a page the mirror refuses must fail alone, leaving nothing of
/// itself, while every other page lands with its cursor.
async fn a_bad_page_among_concurrent_ones_fails_alone(h: &Harness) {
    let mut keys = Vec::new();
    for i in 0..8 {
        keys.push(h.synced_account("klarna-us", &format!("acct-{i}")).await);
    }
    let writes = keys.iter().enumerate().map(|(i, key)| async move {
        let mut purchases: Vec<Purchase> = (0..10)
            .map(|j| purchase(&format!("p{i}-{j}"), T1))
            .collect();
        if i == 3 {
            // Two installments with seq 1: refused by the mirror.
            purchases[9].plan.installments[3].seq = 1;
        }
        let p = page(Records::Purchases(purchases), "c1");
        h.db.apply_page(key, Stream::Purchases, &p, synced()).await
    });
    let outcomes = futures::future::join_all(writes).await;
    for (i, (key, outcome)) in keys.iter().zip(outcomes).enumerate() {
        let cursor = h.cursor(key, Stream::Purchases).await;
        if i == 3 {
            assert!(
                matches!(outcome, Err(StoreError::Invalid(_))),
                "{outcome:?}"
            );
            assert_eq!(cursor, None);
            assert!(h.db.mirror(key).await.unwrap().purchases.is_empty());
        } else {
            assert_eq!(outcome.unwrap().inserted, 10, "account {i}");
            assert_eq!(cursor.as_deref(), Some("c1"), "account {i}");
        }
    }
    assert_eq!(h.count("purchases").await, 7 * 10);
    assert_eq!(h.count("events").await, 7 * 10);
}

/// A new installment carries the state derived on the day of its write, so
/// the first `refresh_states` has nothing to do for it; an update of a
/// scheduled one leaves the state to `refresh_states` (it records the clock).
async fn new_installments_get_their_state_on_write(h: &Harness) {
    let key = h.account("klarna-us", "acct").await;
    let today = synced().date_naive();
    let day = |offset: i64| (today + chrono::Duration::days(offset)).to_string();
    let mut p = purchase("p", T1);
    p.plan.installments = vec![
        installment(1, &day(-30), 2_500), // past the 7-day grace: late
        installment(2, &day(-1), 2_500),  // due
        installment(3, &day(5), 2_500),   // scheduled
        Installment {
            reported_state: ReportedInstallmentState::Paid,
            ..installment(4, &day(-40), 2_500)
        },
    ];
    let first = page(Records::Purchases(vec![p.clone()]), "c1");
    h.db.apply_page(&key, Stream::Purchases, &first, synced())
        .await
        .unwrap();
    let states = "SELECT state FROM installments ORDER BY seq";
    assert_eq!(h.texts(states).await, ["late", "due", "scheduled", "paid"]);
    assert_eq!(
        h.db.refresh_states(today, synced()).await.unwrap(),
        0,
        "nothing left for the refresh"
    );

    // An update: the scheduled one moves into the past; the refresh, not
    // the write, changes its state, and says so in the history.
    p.updated_at = t(T2);
    p.plan.installments[2].due = d(&day(-2));
    let second = page(Records::Purchases(vec![p]), "c2");
    h.db.apply_page(&key, Stream::Purchases, &second, synced())
        .await
        .unwrap();
    assert_eq!(h.texts(states).await, ["late", "due", "scheduled", "paid"]);
    assert_eq!(h.db.refresh_states(today, synced()).await.unwrap(), 1);
    assert_eq!(h.texts(states).await, ["late", "due", "due", "paid"]);
}
