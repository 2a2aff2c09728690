//! `bnpl bench`: the performance harness of issue 6.
//!
//! The Klarna US sandbox runs in a child process (this binary re-executed
//! with the hidden `bench-sandbox` subcommand), so the peak RSS reported for
//! each phase is the sync's own, without the sandbox's data set. The child
//! prints its base URL and credentials as one JSON line, then answers
//! `advance SECONDS` and `rss` lines on stdin with one JSON line each.
//!
//! Phases: initial full sync, delta sync after the sandbox clock moved until
//! about `--change-fraction` of the purchases changed, the store ceiling (the
//! same rows applied as pre-built pages into a fresh database, no network),
//! and the read side (`bnpl due --within 14d`: totals and pages, and the
//! whole unpaged window).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bnpl_core::{Page, ProviderContext, Records, Stream};
use bnpl_sandbox::{AdvanceSummary, Sandbox, SandboxConfig, SandboxCredentials};
use bnpl_store::{
    AccountKey, AccountMirror, Database, InstallmentFilter, PostgresStore, SecretCipher,
};
use bnpl_sync::{Engine, ProviderRuntime, RunReport, SyncSettings};
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::context::redact_url;
use crate::table::Table;

const PROVIDER: &str = "klarna-us";

#[derive(clap::Args)]
pub struct Args {
    /// Sandbox accounts.
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
    /// Purchases per sandbox account.
    #[arg(long, default_value_t = 20)]
    purchases_per_account: usize,
    /// Rows per delta page asked of the provider (1..=100).
    #[arg(long, default_value_t = 100)]
    page_size: u32,
    /// Latency the sandbox adds to every contract request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Accounts synced at once (the engine's and the provider's limit).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Fraction of purchases that should change before the delta sync: the
    /// sandbox clock moves an hour at a time until it is reached.
    #[arg(long, default_value_t = 0.01)]
    change_fraction: f64,
    /// Database to sync into: `sqlite://...` or `postgres://...` (a fresh
    /// schema is made and dropped). Default: a fresh SQLite file in the
    /// temporary directory, removed afterwards.
    #[arg(long)]
    database_url: Option<String>,
    /// `installments()` calls measured for the read side.
    #[arg(long, default_value_t = 200)]
    read_calls: usize,
    /// Skip the store ceiling phase.
    #[arg(long)]
    no_ceiling: bool,
    /// Seed of the sandbox data set.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The hidden child: serves the sandbox and obeys its parent on stdin.
#[derive(clap::Args)]
pub struct SandboxArgs {
    #[arg(long)]
    accounts: usize,
    #[arg(long)]
    purchases_per_account: usize,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Serialize, Deserialize)]
struct Hello {
    base_url: String,
    now: DateTime<Utc>,
    /// The parent asks for their credentials a page at a time (`credentials
    /// OFFSET LIMIT`): all of them at once would leave megabytes of freed
    /// heap in the measured process at 30k accounts.
    accounts: usize,
}

/// Credentials asked for per page while the accounts are registered.
const CREDENTIALS_PAGE: usize = 500;

#[derive(Serialize, Deserialize)]
struct Advanced {
    summary: AdvanceSummary,
    now: DateTime<Utc>,
}

pub async fn serve_child(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::new(SandboxConfig {
        seed: args.seed,
        accounts: args.accounts,
        purchases_per_account: args.purchases_per_account,
        latency: Duration::from_millis(args.latency_ms),
        ..SandboxConfig::default()
    });
    let running = sandbox
        .serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await?;
    let credentials = sandbox.credentials();
    let hello = Hello {
        base_url: running.base_url.clone(),
        now: sandbox.now(),
        accounts: credentials.len(),
    };
    let sb = sandbox.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(&hello)?)?;
        out.flush()?;
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            let mut words = line.split_whitespace();
            let reply = match words.next() {
                Some("advance") => {
                    let secs: i64 = words.next().unwrap_or("0").parse()?;
                    let summary = sb.advance(chrono::Duration::seconds(secs));
                    serde_json::to_string(&Advanced {
                        summary,
                        now: sb.now(),
                    })?
                }
                Some("credentials") => {
                    let offset: usize = words.next().unwrap_or("0").parse()?;
                    let limit: usize = words.next().unwrap_or("0").parse()?;
                    let page = credentials.iter().skip(offset).take(limit);
                    serde_json::to_string(&page.collect::<Vec<_>>())?
                }
                Some("rss") => json!({ "vm_hwm_kb": vm_hwm_kb() }).to_string(),
                _ => break,
            };
            writeln!(out, "{reply}")?;
            out.flush()?;
        }
        Ok(())
    })
    .await??;
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The sandbox child process, killed when dropped.
struct ChildSandbox {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl ChildSandbox {
    fn start(args: &Args) -> anyhow::Result<(ChildSandbox, Hello)> {
        let exe = std::env::current_exe().context("locating the bnpl binary")?;
        let mut child = std::process::Command::new(exe)
            .arg("bench-sandbox")
            .arg(format!("--accounts={}", args.accounts))
            .arg(format!(
                "--purchases-per-account={}",
                args.purchases_per_account
            ))
            .arg(format!("--latency-ms={}", args.latency_ms))
            .arg(format!("--seed={}", args.seed))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the sandbox child process")?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("child stdout")?);
        let mut me = ChildSandbox {
            child,
            stdin,
            stdout,
        };
        let hello: Hello = serde_json::from_str(&me.read_line()?)?;
        Ok((me, hello))
    }

    fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("the sandbox child process exited");
        }
        Ok(line)
    }

    fn ask(&mut self, command: &str) -> anyhow::Result<String> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        self.read_line()
    }

    fn advance(&mut self, secs: i64) -> anyhow::Result<Advanced> {
        Ok(serde_json::from_str(
            &self.ask(&format!("advance {secs}"))?,
        )?)
    }

    fn credentials(
        &mut self,
        offset: usize,
        limit: usize,
    ) -> anyhow::Result<Vec<SandboxCredentials>> {
        Ok(serde_json::from_str(
            &self.ask(&format!("credentials {offset} {limit}"))?,
        )?)
    }

    fn vm_hwm_kb(&mut self) -> Option<u64> {
        let v: Value = serde_json::from_str(&self.ask("rss").ok()?).ok()?;
        v["vm_hwm_kb"].as_u64()
    }
}

impl Drop for ChildSandbox {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Peak resident set of this process (VmHWM), in KiB.
fn vm_hwm_kb() -> Option<u64> {
    proc_status_kb("VmHWM:")
}

/// Resident set of this process now (VmRSS), in MB.
fn rss_now_mb() -> Option<f64> {
    proc_status_kb("VmRSS:").map(|kb| kb as f64 / 1024.0)
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets VmHWM to the current RSS (Linux: `5` into clear_refs), so that
/// each phase reports its own peak. False when the kernel refuses.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A database made for one run, removed at the end.
enum Scratch {
    Sqlite(PathBuf),
    Postgres(Arc<PostgresStore>),
    /// A database URL the user gave: left as it is.
    Given,
}

async fn open_scratch(
    url: Option<&str>,
    tag: &str,
) -> anyhow::Result<(Arc<dyn Database>, Scratch)> {
    let cipher = SecretCipher::from_key_bytes([7; 32]);
    match url {
        None => {
            let path =
                std::env::temp_dir().join(format!("bnpl-bench-{}-{tag}.db", std::process::id()));
            remove_sqlite(&path);
            let url = format!("sqlite://{}", path.display());
            let db = bnpl_store::open(&url, cipher).await?;
            Ok((Arc::from(db), Scratch::Sqlite(path)))
        }
        Some(url) if url.starts_with("postgres") => {
            let store = Arc::new(
                PostgresStore::open_isolated(url, cipher)
                    .await
                    .with_context(|| format!("database {}", redact_url(url)))?,
            );
            let db: Arc<dyn Database> = store.clone();
            Ok((db, Scratch::Postgres(store)))
        }
        Some(url) => {
            let db = bnpl_store::open(url, cipher)
                .await
                .with_context(|| format!("database {}", redact_url(url)))?;
            Ok((Arc::from(db), Scratch::Given))
        }
    }
}

fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

async fn drop_scratch(scratch: Scratch) {
    match scratch {
        Scratch::Sqlite(path) => remove_sqlite(&path),
        Scratch::Postgres(store) => {
            if let Ok(store) = Arc::try_unwrap(store) {
                let _ = store.drop_isolated().await;
            }
        }
        Scratch::Given => {}
    }
}

/// One measured phase.
#[derive(Serialize, Default, Clone)]
struct Phase {
    name: String,
    wall_s: f64,
    purchases: u64,
    /// Top-level records handled (every stream; a purchase counts once,
    /// its installments are inside it).
    rows: u64,
    /// Of which inserted or updated.
    rows_written: u64,
    /// Installment rows (known for the ceiling phase).
    installments: Option<u64>,
    requests: u64,
    purchases_per_s: f64,
    rows_per_s: f64,
    requests_per_s: f64,
    /// Resident set when the phase started (VmRSS): what the phase found
    /// already there, so `peak_rss_mb` minus it is the phase's own growth.
    start_rss_mb: Option<f64>,
    peak_rss_mb: Option<f64>,
    rows_per_account: f64,
    requests_per_account: f64,
    failed_accounts: usize,
}

impl Phase {
    fn finish(mut self, accounts: usize, wall: Duration) -> Phase {
        let s = wall.as_secs_f64().max(1e-9);
        self.wall_s = s;
        self.purchases_per_s = self.purchases as f64 / s;
        self.rows_per_s = self.rows as f64 / s;
        self.requests_per_s = self.requests as f64 / s;
        let n = accounts.max(1) as f64;
        self.rows_per_account = self.rows as f64 / n;
        self.requests_per_account = self.requests as f64 / n;
        self.peak_rss_mb = vm_hwm_kb().map(|kb| kb as f64 / 1024.0);
        self
    }
}

fn sync_phase(
    name: &str,
    report: &RunReport,
    accounts: usize,
    wall: Duration,
    start_rss_mb: Option<f64>,
) -> Phase {
    let total = report.total();
    let purchases = {
        let s = report.stream(Stream::Purchases);
        s.inserted + s.updated + s.unchanged
    };
    Phase {
        name: name.to_string(),
        purchases,
        rows: total.inserted + total.updated + total.unchanged + total.removed,
        rows_written: total.inserted + total.updated,
        requests: total.requests,
        failed_accounts: report.failed_accounts(),
        start_rss_mb,
        ..Phase::default()
    }
    .finish(accounts, wall)
}

#[derive(Serialize)]
struct ReadSide {
    name: String,
    calls: usize,
    rows_returned: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// One read of the read phase.
enum Read {
    /// What `bnpl due` runs: the window's totals per currency and one page.
    DuePage(InstallmentFilter),
    /// `Database::installments` alone (a page when the filter has a limit).
    List(InstallmentFilter),
    /// `Database::installment_totals` alone.
    Totals(InstallmentFilter),
}

async fn measure_reads(
    db: &Arc<dyn Database>,
    name: &str,
    read: &Read,
    today: NaiveDate,
    calls: usize,
) -> anyhow::Result<ReadSide> {
    let mut times = Vec::with_capacity(calls);
    let mut rows = 0;
    for _ in 0..calls.max(1) {
        let t = Instant::now();
        rows = match read {
            Read::DuePage(f) => crate::commands::views::due_page(db, f, today)
                .await?
                .rows
                .len(),
            Read::List(f) => db.installments(f, today).await?.len(),
            Read::Totals(f) => db.installment_totals(f, today).await?.len(),
        };
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(ReadSide {
        name: name.to_string(),
        calls: times.len(),
        rows_returned: rows,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    })
}

/// The store ceiling: every account's mirrored rows read back from `from`
/// and applied, as pages of `page_size`, into a fresh database. Only the
/// `apply_page` calls are timed.
async fn ceiling(
    from: &Arc<dyn Database>,
    url: Option<&str>,
    page_size: usize,
    synced_at: DateTime<Utc>,
) -> anyhow::Result<Phase> {
    let (db, scratch) = open_scratch(url, "ceiling").await?;
    let mut replay = Replay {
        db,
        page_size: page_size.max(1),
        synced_at,
        busy: Duration::ZERO,
        accounts: 0,
        purchases: 0,
        installments: 0,
        rows: 0,
        written: 0,
        pages: 0,
    };
    reset_peak_rss();
    let start_rss_mb = rss_now_mb();
    // A page of accounts at a time, as the engine reads them.
    let mut listed = std::pin::pin!(bnpl_store::account_pages(from.as_ref(), 500));
    while let Some(page) = listed.next().await {
        for account in &page? {
            replay
                .account(&account.key, from.mirror(&account.key).await?)
                .await?;
        }
    }
    let Replay {
        db,
        busy,
        accounts,
        purchases,
        installments,
        rows,
        written,
        pages,
        ..
    } = replay;
    drop(db);
    drop_scratch(scratch).await;
    let mut phase = Phase {
        name: "store ceiling".to_string(),
        purchases,
        rows,
        rows_written: written,
        installments: Some(installments),
        requests: pages,
        start_rss_mb,
        ..Phase::default()
    }
    .finish(accounts, busy);
    // "requests" are pages here: no network.
    phase.requests_per_s = pages as f64 / busy.as_secs_f64().max(1e-9);
    Ok(phase)
}

/// The ceiling's writes and what they add up to.
struct Replay {
    db: Arc<dyn Database>,
    page_size: usize,
    synced_at: DateTime<Utc>,
    /// Time inside `apply_page` only.
    busy: Duration,
    accounts: usize,
    purchases: u64,
    installments: u64,
    rows: u64,
    written: u64,
    pages: u64,
}

impl Replay {
    /// Applies one account's mirror as pages of every delta stream.
    async fn account(&mut self, key: &AccountKey, m: AccountMirror) -> anyhow::Result<()> {
        self.accounts += 1;
        self.db
            .put_account(key, &SecretString::from("{}".to_string()))
            .await?;
        self.purchases += m.purchases.len() as u64;
        self.installments += m
            .purchases
            .iter()
            .map(|p| p.plan.installments.len() as u64)
            .sum::<u64>();
        let page_size = self.page_size;
        let mut streams: Vec<(Stream, Vec<Records>)> = Vec::new();
        macro_rules! chunked {
            ($stream:expr, $variant:ident, $rows:expr) => {
                streams.push((
                    $stream,
                    $rows
                        .chunks(page_size)
                        .map(|c| Records::$variant(c.to_vec()))
                        .collect(),
                ))
            };
        }
        chunked!(Stream::Purchases, Purchases, m.purchases);
        chunked!(
            Stream::CardTransactions,
            CardTransactions,
            m.card_transactions
        );
        chunked!(Stream::BalanceEntries, BalanceEntries, m.balance_entries);
        chunked!(Stream::PointsEntries, PointsEntries, m.points_entries);
        chunked!(Stream::Deliveries, Deliveries, m.deliveries);
        drop(m);
        for (stream, chunks) in streams {
            let n = chunks.len();
            for (i, records) in chunks.into_iter().enumerate() {
                let page = Page {
                    records,
                    removed: Vec::new(),
                    next_cursor: format!("bench-{i}"),
                    caught_up: i + 1 == n,
                };
                let t = Instant::now();
                let stats = self
                    .db
                    .apply_page(key, stream, &page, self.synced_at)
                    .await?;
                self.busy += t.elapsed();
                self.pages += 1;
                self.rows += stats.inserted + stats.updated + stats.unchanged + stats.removed;
                self.written += stats.upserted();
            }
        }
        Ok(())
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Utc::now();
    let (mut child, hello) = ChildSandbox::start(&args)?;
    let base_url = hello.base_url.clone();
    let url = args.database_url.as_deref();
    let (db, scratch) = open_scratch(url, "sync").await?;
    let backend = db.backend();
    // Only the count and the middle account are kept: the harness holds
    // nothing per account while it measures (a key is ~100 bytes, 3 MB at 30k).
    let n = hello.accounts;
    let mut middle = None;
    for offset in (0..n).step_by(CREDENTIALS_PAGE) {
        for (i, c) in child
            .credentials(offset, CREDENTIALS_PAGE)?
            .iter()
            .enumerate()
        {
            let key = AccountKey::new(PROVIDER, c.account_id.clone());
            let secret =
                serde_json::json!({ "refresh_token": c.refresh_token, "device_id": c.device_id });
            db.put_account(&key, &SecretString::from(secret.to_string()))
                .await?;
            if offset + i == n / 2 {
                middle = Some(key);
            }
        }
    }

    let registration = bnpl_core::registry::find(PROVIDER)?;
    let section = json!({ "base_url": base_url, "page_size": args.page_size });
    let connector = (registration.factory)(section, &ProviderContext::default())?;
    let mut provider = ProviderRuntime::new(registration, connector);
    provider.max_concurrent_accounts = args.concurrency.max(1);
    let engine = Engine::new(
        db.clone(),
        vec![provider],
        SyncSettings {
            max_concurrent_accounts: args.concurrency.max(1),
            ..SyncSettings::default()
        },
    );

    let mut phases = Vec::new();
    let rss_resets = reset_peak_rss();
    let start_rss = rss_now_mb();
    let t = Instant::now();
    let first = engine.run_once().await?;
    let initial = sync_phase("initial sync", &first, n, t.elapsed(), start_rss);
    let total_purchases = initial.purchases;
    phases.push(initial);
    drop(first);

    // Move the sandbox clock an hour at a time until enough purchases changed.
    let target = (args.change_fraction * total_purchases as f64).ceil() as usize;
    let mut changes = AdvanceSummary::default();
    let mut hours = 0;
    let mut now = hello.now;
    while changes.purchases_changed + changes.new_purchases < target && hours < 24 * 60 {
        let a = child.advance(3600)?;
        changes = changes + a.summary;
        now = a.now;
        hours += 1;
    }

    reset_peak_rss();
    let start_rss = rss_now_mb();
    let t = Instant::now();
    let second = engine.run_once().await?;
    phases.push(sync_phase("delta sync", &second, n, t.elapsed(), start_rss));
    drop(second);
    let sandbox_rss_mb = child.vm_hwm_kb().map(|kb| kb as f64 / 1024.0);
    drop(child);
    drop(engine);

    // Read side: what `bnpl due --within 14d` does over every account (the
    // totals per currency and the first page of 50), the next page by
    // keyset, the totals alone, one account's window (the API's query), and
    // the whole unpaged window (what dumping everything costs).
    let today = now.date_naive();
    let window = InstallmentFilter {
        open_only: true,
        due_on_or_before: Some(today + chrono::Days::new(14)),
        ..InstallmentFilter::default()
    };
    let first = InstallmentFilter {
        limit: Some(50),
        ..window.clone()
    };
    let page_one = db.installments(&first, today).await?;
    let mut plan = vec![(
        "due 14d, all accounts: totals + first 50 (bnpl due)",
        Read::DuePage(first.clone()),
    )];
    if let Some(last) = page_one.last() {
        plan.push((
            "due 14d, all accounts: next 50 by keyset",
            Read::List(InstallmentFilter {
                after: Some(last.position()),
                ..first.clone()
            }),
        ));
    }
    plan.push((
        "due 14d, all accounts: totals alone",
        Read::Totals(window.clone()),
    ));
    if let Some(k) = &middle {
        plan.push((
            "due 14d, one account: every row",
            Read::List(InstallmentFilter {
                provider: Some(k.provider.clone()),
                account_id: Some(k.account_id.clone()),
                ..window.clone()
            }),
        ));
    }
    // Last: after a large result, the next query on the same sqlx
    // connection, whatever it is, pays about a tenth of that read's time
    // again (docs/performance.md, round 7), which a read measured after it
    // would report as its own.
    plan.push((
        "due 14d, all accounts: every row, unpaged",
        Read::List(window.clone()),
    ));
    let mut reads = Vec::with_capacity(plan.len());
    for (name, read) in &plan {
        reads.push(measure_reads(&db, name, read, today, args.read_calls).await?);
    }

    if !args.no_ceiling {
        phases.push(ceiling(&db, url, args.page_size as usize, now).await?);
    }
    drop(db);
    drop_scratch(scratch).await;

    let ceiling_ratio = phases
        .iter()
        .find(|p| p.name == "store ceiling")
        .map(|c| phases[0].rows_per_s / c.rows_per_s.max(1e-9));
    let delta_ratio = phases[1].wall_s / phases[0].wall_s.max(1e-9);
    let config = json!({
        "backend": backend,
        "accounts": args.accounts,
        "purchases_per_account": args.purchases_per_account,
        "page_size": args.page_size,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "change_fraction": args.change_fraction,
        "seed": args.seed,
        "sandbox": "child process",
        "started_at": started,
    });
    let delta = json!({
        "clock_advanced_hours": hours,
        "target_changed_purchases": target,
        "changes": changes,
        "delta_time_fraction_of_initial": delta_ratio,
    });

    if args.json {
        let out = json!({
            "config": config,
            "phases": phases,
            "delta": delta,
            "initial_fraction_of_store_ceiling": ceiling_ratio,
            "reads": reads,
            "sandbox_child_peak_rss_mb": sandbox_rss_mb,
            "peak_rss_per_phase": rss_resets,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "bnpl bench: {backend}, {} accounts x {} purchases, page size {}, latency {} ms, concurrency {}",
            args.accounts,
            args.purchases_per_account,
            args.page_size,
            args.latency_ms,
            args.concurrency
        );
        let mut table = Table::new([
            "phase",
            "wall s",
            "purchases",
            "purchases/s",
            "rows",
            "rows/s",
            "requests",
            "requests/s",
            "rows/acct",
            "req/acct",
            "RSS at start MB",
            "peak RSS MB",
        ])
        .right(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        for p in &phases {
            table.row(vec![
                p.name.clone(),
                format!("{:.2}", p.wall_s),
                p.purchases.to_string(),
                format!("{:.0}", p.purchases_per_s),
                p.rows.to_string(),
                format!("{:.0}", p.rows_per_s),
                p.requests.to_string(),
                format!("{:.0}", p.requests_per_s),
                format!("{:.1}", p.rows_per_account),
                format!("{:.1}", p.requests_per_account),
                p.start_rss_mb
                    .map(|m| format!("{m:.1}"))
                    .unwrap_or_else(|| "?".into()),
                p.peak_rss_mb
                    .map(|m| format!("{m:.1}"))
                    .unwrap_or_else(|| "?".into()),
            ]);
        }
        print!("{}", table.render());
        if let Some(c) = phases.iter().find(|p| p.name == "store ceiling") {
            println!(
                "store ceiling: {} pages (\"requests\"), {} installment rows inside the purchases; initial sync reached {:.0}% of it (rows/s)",
                c.requests,
                c.installments.unwrap_or(0),
                ceiling_ratio.unwrap_or(0.0) * 100.0
            );
        }
        println!(
            "delta: clock +{hours} h, {} purchases changed + {} new (target {target}); delta took {:.1}% of the initial sync's time",
            changes.purchases_changed,
            changes.new_purchases,
            delta_ratio * 100.0
        );
        let mut table = Table::new(["read", "calls", "rows", "p50 ms", "p99 ms", "max ms"])
            .right(&[1, 2, 3, 4, 5]);
        for r in &reads {
            table.row(vec![
                r.name.clone(),
                r.calls.to_string(),
                r.rows_returned.to_string(),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p99_ms),
                format!("{:.2}", r.max_ms),
            ]);
        }
        print!("{}", table.render());
        println!(
            "peak RSS is this process only (sandbox child peaked at {} MB){}",
            sandbox_rss_mb
                .map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "?".into()),
            if rss_resets {
                ", reset before each phase"
            } else {
                "; cumulative (clear_refs refused)"
            }
        );
    }
    Ok(if phases.iter().any(|p| p.failed_accounts > 0) {
        eprintln!("warning: some accounts failed; figures are not comparable");
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
