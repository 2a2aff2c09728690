//! `bnpl import` through the command's own path: every bad input with its
//! exact message, all-or-nothing files, the rejects file, idempotent re-runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bnpl_store::{AccountKey, Database, SecretCipher};
use secrecy::SecretString;

use super::*;

const HEAD: &str = "purchase_id,created_at,merchant,amount,currency,plan,status,installment_seq,installment_due,installment_amount,installment_state,updated_at\n";
const P1: [&str; 2] = [
    "p_1,2026-06-06T09:12:00Z,Northwind Outdoor,25.00,USD,pay_in_4,CAPTURED,1,2026-06-06,12.50,paid,2026-06-08T12:04:11Z",
    "p_1,2026-06-06T09:12:00Z,Northwind Outdoor,25.00,USD,pay_in_4,CAPTURED,2,2026-06-20,12.50,scheduled,2026-06-08T12:04:11Z",
];
const P2: &str = "p_2,2026-06-07T10:00:00Z,\"Acme, Inc.\",20.00,USD,pay_in_30,AUTHORIZED,,,,,2026-06-07T10:00:00Z";
const BALANCE: &str = "entry_id,occurred_at,kind,amount,currency,purchase_id,updated_at\n\
b_1,2026-06-01T10:00:00Z,top_up,100.00,USD,,2026-06-01T10:00:00Z\n\
b_2,2026-06-02T10:00:00Z,refund,-0.50,USD,p_1,2026-06-02T10:00:00Z\n";

struct Fixture {
    dir: tempfile::TempDir,
    db: Arc<dyn Database>,
    key: AccountKey,
}

impl Fixture {
    async fn new() -> Fixture {
        let f = Fixture::empty().await;
        f.db.put_account(&f.key, &SecretString::from("{}".to_string()))
            .await
            .unwrap();
        f
    }

    async fn empty() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("mirror.db").display());
        let db: Arc<dyn Database> = Arc::from(
            bnpl_store::open(&url, SecretCipher::from_key_bytes([7; 32]))
                .await
                .unwrap(),
        );
        let key = AccountKey::new("klarna-us", "A");
        Fixture { dir, db, key }
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn args(&self, skip_invalid: bool) -> Args {
        Args {
            provider: "klarna-us".into(),
            account: "A".into(),
            skip_invalid,
            files: Vec::new(),
        }
    }

    async fn import(&self, path: &Path, skip_invalid: bool) -> anyhow::Result<FileSummary> {
        import_file(self.db.as_ref(), &self.args(skip_invalid), path, false).await
    }

    /// Imports a purchases file that must fail; returns the message, after
    /// checking that nothing of it was written.
    async fn fails(&self, content: impl AsRef<[u8]>) -> String {
        let path = self.write("purchases.csv", content);
        let err = self.import(&path, false).await.expect_err("must fail");
        let mirror = self.db.mirror(&self.key).await.unwrap();
        assert!(mirror.purchases.is_empty(), "a failed file wrote rows");
        format!("{err:#}").replace(&path.display().to_string(), "purchases.csv")
    }
}

fn purchases(rows: &[&str]) -> String {
    let mut s = HEAD.to_string();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

fn with(bad: &str) -> String {
    purchases(&[P1[0], P1[1], P2, bad])
}

#[tokio::test]
async fn imports_both_files_and_a_rerun_is_a_no_op() {
    let f = Fixture::new().await;
    let p = f.write("purchases.csv", purchases(&[P1[0], P1[1], P2]));
    let b = f.write("balance.csv", BALANCE);
    let s = f.import(&p, false).await.unwrap();
    assert_eq!(s.kind, ExportKind::Purchases);
    assert_eq!((s.rows, s.records, s.stats.inserted), (3, 2, 2));
    let s = f.import(&b, false).await.unwrap();
    assert_eq!(s.kind, ExportKind::Balance);
    assert_eq!(s.stats.inserted, 2);

    let before = f.db.mirror(&f.key).await.unwrap();
    assert_eq!(before.purchases.len(), 2);
    assert_eq!(before.purchases[0].plan.installments.len(), 2);
    assert_eq!(before.purchases[0].amount.minor, 2500);
    assert_eq!(before.balance_entries.len(), 2);
    for path in [&p, &b] {
        let again = f.import(path, false).await.unwrap();
        assert_eq!(again.stats.upserted(), 0, "a re-run wrote rows");
        assert_eq!(again.stats.unchanged, again.records);
    }
    assert_eq!(f.db.mirror(&f.key).await.unwrap(), before);
}

#[tokio::test]
async fn importing_never_moves_a_cursor() {
    let f = Fixture::new().await;
    let p = f.write("purchases.csv", purchases(&[P1[0], P1[1], P2]));
    f.import(&p, false).await.unwrap();
    let accounts = f.db.accounts(Some("klarna-us")).await.unwrap();
    for s in &accounts[0].streams {
        assert_eq!(s.cursor, None, "{} has a cursor after an import", s.stream);
    }
}

#[tokio::test]
async fn an_unknown_account_is_named() {
    let f = Fixture::new().await;
    let p = f.write("purchases.csv", purchases(&[P2]));
    let mut args = f.args(false);
    args.account = "nobody".into();
    let err = import_file(f.db.as_ref(), &args, &p, false)
        .await
        .unwrap_err();
    assert_eq!(
        format!("{err:#}").replace(&p.display().to_string(), "purchases.csv"),
        "purchases.csv: unknown account klarna-us/nobody: add it first with `bnpl accounts add klarna-us --account-id nobody`"
    );
}

#[tokio::test]
async fn a_provider_without_an_export_format_is_refused() {
    let f = Fixture::new().await;
    let p = f.write("purchases.csv", purchases(&[P2]));
    let mut args = f.args(false);
    args.provider = "affirm".into();
    let err = import_file(f.db.as_ref(), &args, &p, false)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider affirm: no native export format is known (supported: klarna-us)"
    );
}

#[tokio::test]
async fn a_missing_column_fails_the_file() {
    let f = Fixture::new().await;
    let text = purchases(&[P2]).replacen(",installment_state", "", 1);
    assert_eq!(
        f.fails(text).await,
        "purchases.csv: line 1: not a klarna-us export: expected the header of purchases.csv (purchase_id,created_at,merchant,amount,currency,plan,status,installment_seq,installment_due,installment_amount,installment_state,updated_at) or of balance.csv (entry_id,occurred_at,kind,amount,currency,purchase_id,updated_at)"
    );
}

#[tokio::test]
async fn a_bad_date_fails_the_file() {
    let f = Fixture::new().await;
    let bad = "p_3,2026-06-07T10:00:00Z,Acme,20.00,USD,pay_in_4,CAPTURED,1,20/06/2026,20.00,scheduled,2026-06-07T10:00:00Z";
    assert_eq!(
        f.fails(with(bad)).await,
        "nothing of purchases.csv was imported: purchases.csv:5: column installment_due: \"20/06/2026\" is not a date like 2026-06-20"
    );
}

#[tokio::test]
async fn a_bad_timestamp_fails_the_file() {
    let f = Fixture::new().await;
    let bad = "p_3,yesterday,Acme,20.00,USD,pay_in_30,AUTHORIZED,,,,,2026-06-07T10:00:00Z";
    assert_eq!(
        f.fails(with(bad)).await,
        "nothing of purchases.csv was imported: purchases.csv:5: column created_at: \"yesterday\" is not an RFC 3339 timestamp like 2026-06-06T09:12:00Z"
    );
}

#[tokio::test]
async fn an_unknown_plan_fails_the_file() {
    let f = Fixture::new().await;
    let bad =
        "p_3,2026-06-07T10:00:00Z,Acme,20.00,USD,pay_in_7,AUTHORIZED,,,,,2026-06-07T10:00:00Z";
    assert_eq!(
        f.fails(with(bad)).await,
        "nothing of purchases.csv was imported: purchases.csv:5: column plan: unknown plan \"pay_in_7\"; expected pay_in_4, pay_in_30 or financing_6|12|18|24"
    );
}

#[tokio::test]
async fn an_unknown_state_fails_the_file() {
    let f = Fixture::new().await;
    let bad = "p_3,2026-06-07T10:00:00Z,Acme,20.00,USD,pay_in_4,CAPTURED,1,2026-06-20,20.00,forgotten,2026-06-07T10:00:00Z";
    assert_eq!(
        f.fails(with(bad)).await,
        "nothing of purchases.csv was imported: purchases.csv:5: column installment_state: \"forgotten\" is not one of scheduled, paid, late, paused, cancelled"
    );
}

#[tokio::test]
async fn a_bad_amount_fails_the_file() {
    let f = Fixture::new().await;
    let bad =
        "p_3,2026-06-07T10:00:00Z,Acme,twenty,USD,pay_in_30,AUTHORIZED,,,,,2026-06-07T10:00:00Z";
    assert_eq!(
        f.fails(with(bad)).await,
        "nothing of purchases.csv was imported: purchases.csv:5: column amount: \"twenty\" is not a decimal amount"
    );
}

#[tokio::test]
async fn too_many_decimals_fail_the_file_never_round() {
    let f = Fixture::new().await;
    let bad =
        "p_3,2026-06-07T10:00:00Z,Acme,20.001,USD,pay_in_30,AUTHORIZED,,,,,2026-06-07T10:00:00Z";
    assert_eq!(
        f.fails(with(bad)).await,
        "nothing of purchases.csv was imported: purchases.csv:5: column amount: \"20.001\" has 3 decimals but USD has 2"
    );
}

#[tokio::test]
async fn a_wrong_encoding_fails_the_file() {
    let f = Fixture::new().await;
    let mut bytes = purchases(&[P1[0], P1[1], P2]).into_bytes();
    // "Caf\xe9": Latin-1, not UTF-8.
    bytes.extend_from_slice(
        b"p_3,2026-06-07T10:00:00Z,Caf\xe9,20.00,USD,pay_in_30,AUTHORIZED,,,,,2026-06-07T10:00:00Z\n",
    );
    assert_eq!(
        f.fails(bytes).await,
        "nothing of purchases.csv was imported: purchases.csv:5: field 3 is not valid UTF-8; the export must be UTF-8"
    );
    let latin_header = b"purchase_id,cr\xe9ated_at\n".to_vec();
    assert_eq!(
        f.fails(latin_header).await,
        "purchases.csv: line 1: the header is not valid UTF-8; the export must be UTF-8"
    );
}

#[tokio::test]
async fn a_truncated_file_fails() {
    let f = Fixture::new().await;
    let mut text = purchases(&[P1[0], P1[1], P2]);
    text.push_str("p_3,2026-06-07T10:00:00Z,Acme,20.00");
    assert_eq!(
        f.fails(text).await,
        "nothing of purchases.csv was imported: purchases.csv:5: has 4 fields, expected 12 (a truncated or malformed row)"
    );
}

#[tokio::test]
async fn skip_invalid_imports_the_rest_and_writes_the_rejects() {
    let f = Fixture::new().await;
    let bad = "p_3,2026-06-07T10:00:00Z,Acme,20.00,USD,pay_in_4,CAPTURED,1,2026-06-20,20.00,forgotten,2026-06-07T10:00:00Z";
    let p = f.write("purchases.csv", with(bad));
    let s = f.import(&p, true).await.unwrap();
    assert_eq!((s.records, s.rejected, s.stats.inserted), (2, 1, 2));
    let rejects = s.rejects_file.unwrap();
    assert_eq!(rejects, f.dir.path().join("purchases.csv.rejects.csv"));
    let text = std::fs::read_to_string(&rejects).unwrap();
    let expected = format!(
        "line,column,reason,raw\n5,installment_state,\"\"\"forgotten\"\" is not one of scheduled, paid, late, paused, cancelled\",\"{bad}\"\n"
    );
    assert_eq!(text, expected);
    let mirror = f.db.mirror(&f.key).await.unwrap();
    let ids: Vec<&str> = mirror.purchases.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p_1", "p_2"]);
}

#[tokio::test]
async fn a_generated_large_export_imports_cleanly() {
    let f = Fixture::new().await;
    let out = f.dir.path().join("export");
    let written = bnpl_sandbox::write_large_export(&out, 3_000, 7).unwrap();
    assert!(written.purchase_rows >= 3_000);
    let s = f.import(&out.join("purchases.csv"), false).await.unwrap();
    assert_eq!(s.rows, written.purchase_rows);
    assert_eq!(s.rejected, 0);
    assert!(s.records > BATCH as u64, "more than one batch");
    let b = f.import(&out.join("balance.csv"), false).await.unwrap();
    assert_eq!(b.rows, written.balance_rows);
    let mirror = f.db.mirror(&f.key).await.unwrap();
    assert_eq!(mirror.purchases.len() as u64, s.records);
    assert_eq!(mirror.balance_entries.len() as u64, b.records);
}

/// The file is parsed on a thread of its own, ahead of the store. A store
/// that fails before reading anything (here, an unknown account) leaves the
/// parser blocked on a full channel: it must be released, not hang the import.
#[tokio::test]
async fn a_store_failure_releases_a_parser_that_is_far_ahead() {
    let f = Fixture::new().await;
    let out = f.dir.path().join("export");
    let written = bnpl_sandbox::write_large_export(&out, 20_000, 7).unwrap();
    let path = out.join("purchases.csv");
    let mut args = f.args(false);
    args.account = "nobody".into();
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        import_file(f.db.as_ref(), &args, &path, false),
    )
    .await
    .expect("the import returns instead of hanging")
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown account klarna-us/nobody"),
        "{err:#}"
    );
    // ~3,500 purchases: 7 batches, more than the channel holds
    // (PARSED_AHEAD) plus the one the parser has in hand.
    assert!(written.purchase_rows >= 20_000);
}

/// A bad row far into the file, after the store wrote batches parsed before
/// it: the error names its line and nothing of the file is kept.
#[tokio::test]
async fn a_bad_row_after_many_batches_fails_the_whole_file() {
    let f = Fixture::new().await;
    let out = f.dir.path().join("export");
    bnpl_sandbox::write_large_export(&out, 20_000, 7).unwrap();
    let mut content = std::fs::read_to_string(out.join("purchases.csv")).unwrap();
    let lines = content.lines().count();
    content.push_str(&P2.replace("20.00", "twenty"));
    content.push('\n');
    let message = f.fails(content).await;
    assert!(
        message.contains(&format!("purchases.csv:{}: column amount", lines + 1)),
        "{message}"
    );
}

/// The hand-off: the sandbox's export of each account is imported, then the
/// real engine syncs the feed; every purchase is one row and the mirror is
/// exactly the sandbox's state, before and after the sandbox moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_then_sync_leaves_one_row_per_purchase_and_the_feed_wins() {
    use bnpl_core::ProviderContext;
    use bnpl_sandbox::{Sandbox, SandboxConfig};
    use bnpl_sync::{Engine, ProviderRuntime, SyncSettings};

    let f = Fixture::empty().await;
    let sandbox = Sandbox::new(SandboxConfig::default());
    let running = sandbox
        .serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut imported = 0;
    for c in sandbox.credentials() {
        let key = AccountKey::new("klarna-us", c.account_id.clone());
        let secret =
            serde_json::json!({ "refresh_token": c.refresh_token, "device_id": c.device_id });
        f.db.put_account(&key, &SecretString::from(secret.to_string()))
            .await
            .unwrap();
        let export = sandbox.export(&c.account_id).unwrap();
        let p = f.write(
            &format!("{}-purchases.csv", c.account_id),
            &export.purchases_csv,
        );
        let b = f.write(
            &format!("{}-balance.csv", c.account_id),
            &export.balance_csv,
        );
        let mut args = f.args(false);
        args.account = c.account_id.clone();
        for path in [p, b] {
            let s = import_file(f.db.as_ref(), &args, &path, false)
                .await
                .unwrap();
            assert_eq!(s.rejected, 0);
            imported += s.stats.inserted;
        }
    }
    assert!(imported > 0);

    bnpl_providers::registry().expect("registry complete");
    let registration = bnpl_core::registry::find("klarna-us").unwrap();
    let section = serde_json::json!({ "base_url": running.base_url, "page_size": 7 });
    let connector = (registration.factory)(section, &ProviderContext::default()).unwrap();
    let engine = Engine::new(
        f.db.clone(),
        vec![ProviderRuntime::new(registration, connector)],
        SyncSettings::default(),
    );
    for round in ["after the import", "after 9 days"] {
        if round != "after the import" {
            sandbox.advance(chrono::Duration::days(9));
        }
        let report = engine.run_once().await.unwrap();
        assert_eq!(report.failed_accounts(), 0, "{report}");
        for c in sandbox.credentials() {
            let key = AccountKey::new("klarna-us", c.account_id.clone());
            let mirror = f.db.mirror(&key).await.unwrap();
            let truth =
                bnpl_tests::expected::mirror_from_sandbox(&sandbox.state(&c.account_id).unwrap());
            let mut ids: Vec<&str> = mirror.purchases.iter().map(|p| p.id.as_str()).collect();
            ids.dedup();
            assert_eq!(
                ids.len(),
                mirror.purchases.len(),
                "{round} {key}: one row per purchase"
            );
            assert_eq!(
                mirror.purchases, truth.purchases,
                "{round} {key}: purchases"
            );
            assert_eq!(
                mirror.balance_entries, truth.balance_entries,
                "{round} {key}: balance entries"
            );
        }
    }
    running.shutdown().await;
}
