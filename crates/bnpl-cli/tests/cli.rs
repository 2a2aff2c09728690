//! The `bnpl` binary as a user runs it: each test in its own directory.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bnpl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("BNPL_DATABASE_URL")
        .output()
        .expect("run bnpl")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn write_config(dir: &Path, extra: &str) {
    std::fs::write(
        dir.join("bnpl.toml"),
        format!(
            "database_url = \"sqlite://{}/m.db\"\nsecret_key_file = \"k.key\"\n{extra}",
            dir.display()
        ),
    )
    .unwrap();
}

#[test]
fn providers_lists_every_compiled_in_provider() {
    let dir = tempfile::tempdir().unwrap();
    let out = bnpl(dir.path(), &["providers", "--json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["affirm", "afterpay", "klarna-eu", "klarna-us"]);
    let affirm = &list[0];
    assert_eq!(affirm["status"], "planned");
    assert_eq!(affirm["streams"], serde_json::json!([]));
}

#[test]
fn a_config_error_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[providers.klarna_us]\nenabled = true\npage_size = 500\nbase_url = \"http://127.0.0.1:1\"\n",
    );
    let (_, err) = text(&bnpl(dir.path(), &["sync", "--once"]));
    assert!(err.contains("providers.klarna_us.page_size"), "{err}");

    write_config(dir.path(), "[providers.klarna_uk]\nenabled = true\n");
    let (_, err) = text(&bnpl(dir.path(), &["sync", "--once"]));
    assert!(err.contains("unknown provider \"klarna_uk\"; known providers: affirm, afterpay, klarna-eu, klarna-us"), "{err}");
}

#[test]
fn enabling_a_planned_slot_is_a_clear_message_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "[providers.affirm]\nenabled = true\n");
    let out = bnpl(dir.path(), &["sync", "--once"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warning: provider affirm is planned and cannot sync yet"),
        "{err}"
    );
    assert!(err.contains("no provider is enabled"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn accounts_import_checks_every_entry_before_writing_any() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    std::fs::write(
        dir.path().join("a.json"),
        r#"[{"account_id":"A","refresh_token":"rt_secret_1","device_id":"d1"},{"account_id":"B","refresh_token":"rt_2"}]"#,
    )
    .unwrap();
    let out = bnpl(dir.path(), &["accounts", "import", "klarna-us", "a.json"]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("a.json entry 2: \"device_id\" is missing"),
        "{err}"
    );
    let (list, _) = text(&bnpl(dir.path(), &["accounts", "list", "--json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list).unwrap(),
        serde_json::json!([])
    );

    std::fs::write(
        dir.path().join("a.json"),
        r#"[{"account_id":"A","refresh_token":"rt_secret_1","device_id":"d1"}]"#,
    )
    .unwrap();
    assert!(
        bnpl(dir.path(), &["accounts", "import", "klarna-us", "a.json"])
            .status
            .success()
    );
    let (list, _) = text(&bnpl(dir.path(), &["accounts", "list", "--json"]));
    assert!(list.contains("\"account_id\": \"A\""), "{list}");
    assert!(list.contains("\"active\""), "{list}");
    // The token is encrypted at rest.
    let db = std::fs::read(dir.path().join("m.db")).unwrap();
    assert!(!db.windows(11).any(|w| w == b"rt_secret_1"));
}

#[test]
fn accounts_add_reads_the_refresh_token_from_stdin_never_argv() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bnpl"))
        .args([
            "accounts",
            "add",
            "klarna-us",
            "--account-id",
            "A",
            "--device-id",
            "d1",
        ])
        .current_dir(dir.path())
        .env_remove("BNPL_REFRESH_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"rt_from_stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let out = bnpl(
        dir.path(),
        &[
            "accounts",
            "add",
            "klarna-us",
            "--account-id",
            "B",
            "--set",
            "refresh_token=x",
        ],
    );
    assert!(
        text(&out).1.contains("refresh_token is secret"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn demo_then_due_summary_and_calendar_work_on_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = bnpl(dir.path(), &["demo"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("== second sync: only the delta moves =="),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "reconciliation: every balance and points snapshot equals the sum of its entries"
        ),
        "{stdout}"
    );
    std::fs::write(
        dir.path().join("bnpl.toml"),
        "database_url = \"sqlite://bnpl-demo.db\"\nsecret_key_file = \"bnpl-demo.key\"\n",
    )
    .unwrap();

    let due = bnpl(dir.path(), &["due", "--within", "14d", "--json", "--all"]);
    let doc: serde_json::Value = serde_json::from_slice(&due.stdout).unwrap();
    let rows = doc["installments"].as_array().unwrap();
    assert!(!rows.is_empty());
    let today = chrono::Utc::now().date_naive();
    for r in rows {
        let d: chrono::NaiveDate = r["due"].as_str().unwrap().parse().unwrap();
        assert!(d <= today + chrono::Days::new(14), "{r}");
        assert_ne!(r["state"], "paid");
    }
    // The totals count every listed row, per currency; nothing more follows.
    let totals = doc["totals"].as_array().unwrap();
    for t in totals {
        let listed: Vec<_> = rows
            .iter()
            .filter(|r| r["currency"] == t["currency"])
            .collect();
        assert_eq!(
            t["installments"].as_u64().unwrap(),
            listed.len() as u64,
            "{t}"
        );
        let sum: i64 = listed
            .iter()
            .map(|r| r["amount_minor"].as_i64().unwrap())
            .sum();
        assert_eq!(t["amount_minor"].as_i64().unwrap(), sum, "{t}");
    }
    assert_eq!(doc["more"], 0);
    assert_eq!(doc["next_after"], serde_json::Value::Null);
    // Page by page with --after gives the same rows in the same order.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut a = vec!["due", "--within", "14d", "--json", "--limit", "2"];
        if let Some(p) = &after {
            a.extend(["--after", p.as_str()]);
        }
        let page: serde_json::Value = serde_json::from_slice(&bnpl(dir.path(), &a).stdout).unwrap();
        paged.extend(page["installments"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
        assert!(paged.len() <= rows.len());
    }
    assert_eq!(&paged, rows);
    // The table: totals, the first rows, and how many more.
    let out = bnpl(dir.path(), &["due", "--within", "14d", "--limit", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("overdue amount"), "{stdout}");
    if rows.len() > 1 {
        assert!(
            stdout.contains(&format!("{} more not shown", rows.len() - 1)),
            "{stdout}"
        );
    }

    let summary: serde_json::Value =
        serde_json::from_slice(&bnpl(dir.path(), &["summary", "--json"]).stdout).unwrap();
    let usd = summary["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["currency"] == "USD")
        .unwrap();
    assert!(usd["outstanding_minor"].as_i64().unwrap() > 0);
    assert_eq!(summary["reconciliation_gaps"], serde_json::json!([]));

    let out = bnpl(
        dir.path(),
        &["calendar", "--out", "due.ics", "--within", "30d"],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let ics = std::fs::read(dir.path().join("due.ics")).unwrap();
    let calendar = ical::IcalParser::new(ics.as_slice())
        .next()
        .unwrap()
        .unwrap();
    assert!(!calendar.events.is_empty());

    // The outbox: the demo's first sync is a backfill (one marker per account
    // and delta stream: five per Klarna US account, one for the EU account's
    // transactions), its second writes per-row events.
    let out = bnpl(dir.path(), &["events", "--json", "--limit", "100000"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let events: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let markers = kinds.iter().filter(|k| **k == "stream.backfilled").count();
    assert!(markers > 5, "{kinds:?}");
    let last_marker = kinds
        .iter()
        .rposition(|k| *k == "stream.backfilled")
        .unwrap();
    assert!(
        !kinds[..last_marker].iter().any(|k| k.ends_with(".created")),
        "{kinds:?}"
    );
    let first = events[0]["id"].as_i64().unwrap();
    let out = bnpl(
        dir.path(),
        &["events", "--after", &first.to_string(), "--limit", "1"],
    );
    let (stdout, _) = text(&out);
    assert!(out.status.success(), "{stdout}");
    let second = events[1]["id"].as_i64().unwrap();
    assert!(
        stdout.contains(&format!("more may follow: bnpl events --after {second}")),
        "{stdout}"
    );
}
