//! Sync progress: a live bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;

use bnpl_core::Stream;
use bnpl_store::{AccountKey, ApplyStats};
use bnpl_sync::{AccountReport, SyncObserver};
use indicatif::{ProgressBar, ProgressStyle};

pub fn observer() -> Arc<dyn SyncObserver> {
    if std::io::stderr().is_terminal() {
        Arc::new(Bar::default())
    } else {
        Arc::new(Lines)
    }
}

#[derive(Default)]
struct Bar {
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl SyncObserver for Bar {
    fn run_started(&self, accounts: usize) {
        let bar = ProgressBar::new(accounts as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} accounts [{elapsed_precise}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        *self.bar.lock().unwrap() = Some(bar);
    }

    fn page_applied(&self, key: &AccountKey, stream: Stream, _stats: &ApplyStats) {
        if let Some(bar) = self.bar.lock().unwrap().as_ref() {
            bar.set_message(format!("{key} {stream}"));
        }
    }

    fn account_finished(&self, report: &AccountReport) {
        let guard = self.bar.lock().unwrap();
        if let Some(bar) = guard.as_ref() {
            bar.inc(1);
            if bar.position() >= bar.length().unwrap_or(0) {
                bar.finish_and_clear();
            }
        }
        if let Some(e) = &report.error {
            eprintln!("{}: {e}", report.account);
        }
    }
}

struct Lines;

impl SyncObserver for Lines {
    fn account_finished(&self, report: &AccountReport) {
        let rows: u64 = report.streams.iter().map(|(_, s)| s.upserted()).sum();
        let pages: u64 = report.streams.iter().map(|(_, s)| s.pages).sum();
        match &report.error {
            Some(e) => tracing::warn!(account = %report.account, error = %e, "account failed"),
            None => tracing::info!(account = %report.account, rows, pages, "account synced"),
        }
    }
}
