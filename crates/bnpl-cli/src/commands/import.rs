//! `bnpl import`: backfill an account from the provider's native export.
//!
//! Each file is read as a stream and written in batches of [`BATCH`] records
//! inside one transaction: by default one bad row fails the file and nothing
//! of it is written; with `--skip-invalid` the bad rows go to
//! `<file>.rejects.csv` and the rest is imported. Rows are upserted with the
//! sync's `updated_at` guard, so a re-run is a no-op and a newer feed version
//! always wins. No stream's cursor is read or moved.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context as _, bail};
use bnpl_core::Records;
use bnpl_import::{BalanceReader, ExportKind, ImportError, PurchasesReader, RowError};
use bnpl_store::{AccountKey, ApplyStats, Database, StoreError};
use indicatif::{ProgressBar, ProgressStyle};

use crate::context::{ConfigPath, open_configured};

/// Records per write batch: memory stays flat whatever the file's size.
pub const BATCH: usize = 500;

/// The providers whose export format is known.
const FORMATS: &[&str] = &["klarna-us"];

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Provider whose export the files are (klarna-us).
    #[arg(long)]
    pub provider: String,
    /// The provider's account id (the account must have been added).
    #[arg(long)]
    pub account: String,
    /// Import the valid rows and write the rejected ones, with their reason,
    /// to `<file>.rejects.csv` (default: one bad row fails the whole file).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Export files (`purchases.csv`, `balance.csv`), recognized by their header.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// What one file's import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub file: PathBuf,
    pub kind: ExportKind,
    pub rows: u64,
    pub records: u64,
    pub rejected: u64,
    pub stats: ApplyStats,
    pub rejects_file: Option<PathBuf>,
}

pub async fn run(config: &ConfigPath, args: Args) -> anyhow::Result<ExitCode> {
    let settings = config.load()?;
    let db = open_configured(&settings).await?;
    let progress = std::io::stderr().is_terminal();
    let mut failed = false;
    for file in &args.files {
        match import_file(db.as_ref(), &args, file, progress).await {
            Ok(s) => {
                println!(
                    "{}: {} rows, {} records: {} inserted, {} updated, {} unchanged{}",
                    s.file.display(),
                    s.rows,
                    s.records,
                    s.stats.inserted,
                    s.stats.updated,
                    s.stats.unchanged,
                    match &s.rejects_file {
                        Some(r) => format!(", {} rejected (see {})", s.rejected, r.display()),
                        None => String::new(),
                    }
                );
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Imports one file in one transaction. The error names the file, and for a
/// bad row its line, column and what was expected.
pub async fn import_file(
    db: &dyn Database,
    args: &Args,
    path: &Path,
    progress: bool,
) -> anyhow::Result<FileSummary> {
    if !FORMATS.contains(&args.provider.as_str()) {
        bail!(
            "provider {}: no native export format is known (supported: {})",
            args.provider,
            FORMATS.join(", ")
        );
    }
    let key = AccountKey::new(&args.provider, &args.account);
    let name = path.display().to_string();
    let kind = detect(path)?;
    let size = std::fs::metadata(path)
        .with_context(|| format!("{name}: cannot read"))?
        .len();
    let bytes = Arc::new(AtomicU64::new(0));
    let input = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: File::open(path).with_context(|| format!("{name}: cannot open"))?,
            bytes: bytes.clone(),
        },
    );
    let source = match kind {
        ExportKind::Purchases => Source::Purchases(PurchasesReader::new(&name, input)?),
        ExportKind::Balance => Source::Balance(BalanceReader::new(&name, input)?),
    };
    let rejects_path = rejects_path(path);
    let bar = progress.then(|| progress_bar(size));
    let batches = Batches {
        source,
        skip_invalid: args.skip_invalid,
        rejects_path: rejects_path.clone(),
        rejects: None,
        rejected: 0,
        records: 0,
        abort: None,
        bar,
        bytes,
        started: Instant::now(),
    };
    let (sender, receiver) = std::sync::mpsc::sync_channel(PARSED_AHEAD);
    let parser = parse_ahead(batches, sender)
        .with_context(|| format!("{name}: cannot start the parser thread"))?;
    let mut parsed = receiver.into_iter();
    let result = db
        .import_records(&key, &mut parsed, chrono::Utc::now())
        .await;
    // Dropping the receiver wakes a parser blocked on a full channel.
    drop(parsed);
    // Off the async thread: the parser may still be finishing a batch.
    let mut batches = tokio::task::spawn_blocking(move || parser.join())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| anyhow::anyhow!("{name}: the parser thread panicked"))?;
    if let Some(bar) = &batches.bar {
        bar.finish_and_clear();
    }
    if let Some(w) = batches.rejects.as_mut() {
        w.flush()
            .with_context(|| format!("{}: cannot write", rejects_path.display()))?;
    }
    if let Some(abort) = batches.abort.take() {
        return Err(abort.context(format!("nothing of {name} was imported")));
    }
    let stats = match result {
        Ok(stats) => stats,
        Err(StoreError::UnknownAccount(a)) => bail!(
            "{name}: unknown account {a}: add it first with `bnpl accounts add {} --account-id {}`",
            args.provider,
            args.account
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("{name}: nothing was imported")));
        }
    };
    Ok(FileSummary {
        file: path.to_path_buf(),
        kind,
        rows: batches.source.rows_read(),
        records: batches.records,
        rejected: batches.rejected,
        stats,
        rejects_file: (batches.rejected > 0).then_some(rejects_path),
    })
}

/// Parses the file on a thread of its own, so that reading and checking it
/// overlaps the store's writes (on the store's one writer thread): two cores
/// instead of one. The channel holds [`PARSED_AHEAD`] batches, so memory
/// stays flat. The thread gives the parser back when it is done, with its
/// counts, its rejects and the error that stopped it, if any.
fn parse_ahead(
    mut batches: Batches,
    sender: SyncSender<Result<Records, StoreError>>,
) -> std::io::Result<JoinHandle<Batches>> {
    std::thread::Builder::new()
        .name("bnpl-import-parse".into())
        .spawn(move || {
            for batch in batches.by_ref() {
                // A closed channel: the store stopped reading (it failed).
                if sender.send(batch).is_err() {
                    break;
                }
            }
            batches
        })
}

/// Batches that may wait between the parser and the store, besides the one
/// each side holds: one is enough to keep both busy (four measured the same
/// speed, with 0.6 MB more at peak).
const PARSED_AHEAD: usize = 1;

/// An export row is a partial version of its record (no items, refunds,
/// return or dispute): it is stored one microsecond before the `updated_at` it
/// states, so that the feed's full version of the same instant replaces it,
/// while the `updated_at` guard still makes a re-run a no-op.
trait PartialVersion {
    fn updated_at_mut(&mut self) -> &mut chrono::DateTime<chrono::Utc>;
}

impl PartialVersion for bnpl_core::Purchase {
    fn updated_at_mut(&mut self) -> &mut chrono::DateTime<chrono::Utc> {
        &mut self.updated_at
    }
}

impl PartialVersion for bnpl_core::BalanceEntry {
    fn updated_at_mut(&mut self) -> &mut chrono::DateTime<chrono::Utc> {
        &mut self.updated_at
    }
}

fn partial_version<T: PartialVersion>(mut record: T) -> T {
    let at = record.updated_at_mut();
    *at -= chrono::Duration::microseconds(1);
    record
}

/// `purchases.csv` → `purchases.csv.rejects.csv`.
pub fn rejects_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".rejects.csv");
    path.with_file_name(name)
}

/// Which export a file is, from its header row.
fn detect(path: &Path) -> anyhow::Result<ExportKind> {
    let name = path.display();
    let file = File::open(path).with_context(|| format!("{name}: cannot open"))?;
    let mut first = Vec::new();
    BufReader::new(file)
        .take(64 * 1024)
        .read_until(b'\n', &mut first)
        .with_context(|| format!("{name}: cannot read"))?;
    let Ok(first) = String::from_utf8(first) else {
        bail!("{name}: line 1: the header is not valid UTF-8; the export must be UTF-8");
    };
    let first = first.strip_prefix('\u{feff}').unwrap_or(&first);
    ExportKind::detect(first).ok_or_else(|| {
        anyhow::anyhow!(
            "{name}: line 1: not a klarna-us export: expected the header of purchases.csv ({}) or of balance.csv ({})",
            ExportKind::Purchases.header().join(","),
            ExportKind::Balance.header().join(",")
        )
    })
}

fn progress_bar(size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Counts the bytes read, for the progress bar's position and ETA.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Input = BufReader<Counting<File>>;

enum Source {
    Purchases(PurchasesReader<Input>),
    Balance(BalanceReader<Input>),
}

impl Source {
    fn rows_read(&self) -> u64 {
        match self {
            Source::Purchases(r) => r.rows_read,
            Source::Balance(r) => r.rows_read,
        }
    }
}

/// The file as batches of records, for `Database::import_records`.
struct Batches {
    source: Source,
    skip_invalid: bool,
    rejects_path: PathBuf,
    rejects: Option<csv::Writer<File>>,
    rejected: u64,
    records: u64,
    /// The error that stopped the import (the store rolls back).
    abort: Option<anyhow::Error>,
    bar: Option<ProgressBar>,
    bytes: Arc<AtomicU64>,
    started: Instant,
}

impl Batches {
    /// Fills one batch; `Err` stops the import.
    fn fill<T: PartialVersion>(
        &mut self,
        next: impl Fn(&mut Source) -> Option<Result<T, ImportError>>,
    ) -> Result<Vec<T>, anyhow::Error> {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match next(&mut self.source) {
                None => break,
                Some(Ok(r)) => batch.push(partial_version(r)),
                Some(Err(ImportError::Row(e))) if self.skip_invalid => self.reject(&e)?,
                Some(Err(e)) => return Err(e.into()),
            }
        }
        Ok(batch)
    }

    fn reject(&mut self, e: &RowError) -> anyhow::Result<()> {
        self.rejected += 1;
        if self.rejects.is_none() {
            let mut w = csv::Writer::from_path(&self.rejects_path)
                .with_context(|| format!("{}: cannot create", self.rejects_path.display()))?;
            w.write_record(["line", "column", "reason", "raw"])?;
            self.rejects = Some(w);
        }
        if let Some(w) = self.rejects.as_mut() {
            w.write_record([
                e.line.to_string().as_str(),
                e.column.as_deref().unwrap_or(""),
                e.message.as_str(),
                e.raw.as_deref().unwrap_or(""),
            ])?;
        }
        Ok(())
    }

    fn tick(&self) {
        if let Some(bar) = &self.bar {
            let rows = self.source.rows_read();
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_position(self.bytes.load(Ordering::Relaxed));
            bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
        }
    }
}

impl Iterator for Batches {
    type Item = Result<Records, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.abort.is_some() {
            return None;
        }
        let batch = match self.source {
            Source::Purchases(_) => self
                .fill(|s| match s {
                    Source::Purchases(r) => r.next(),
                    Source::Balance(_) => None,
                })
                .map(|v| (v.len(), Records::Purchases(v))),
            Source::Balance(_) => self
                .fill(|s| match s {
                    Source::Balance(r) => r.next(),
                    Source::Purchases(_) => None,
                })
                .map(|v| (v.len(), Records::BalanceEntries(v))),
        };
        self.tick();
        match batch {
            Ok((0, _)) => None,
            Ok((n, records)) => {
                self.records += n as u64;
                Some(Ok(records))
            }
            Err(e) => {
                self.abort = Some(e);
                Some(Err(StoreError::Invalid("import aborted".into())))
            }
        }
    }
}

#[cfg(test)]
mod tests;
