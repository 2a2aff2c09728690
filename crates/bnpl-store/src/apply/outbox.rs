//! The outbox rows a write adds, and the events that stand for rows written
//! without one: a stream's backfill (`stream.backfilled`) and an import
//! (`stream.imported`). The contract is in docs/schema.md (events).

use chrono::{DateTime, Utc};
use serde_json::json;

use bnpl_core::Stream;

use super::{EventRow, Table, WriteTx};
use crate::time::stored;
use crate::{ApplyStats, StoreError, StreamAttempt};

/// What an import wrote, per stream, in the order the streams came.
#[derive(Debug, Default)]
pub(crate) struct ImportTotals(Vec<(Stream, ApplyStats)>);

impl ImportTotals {
    pub(super) fn add(&mut self, stream: Stream, stats: ApplyStats) {
        match self.0.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, total)) => total.add(stats),
            None => self.0.push((stream, stats)),
        }
    }

    /// Over every stream.
    pub(crate) fn all(&self) -> ApplyStats {
        let mut all = ApplyStats::default();
        for (_, stats) in &self.0 {
            all.add(*stats);
        }
        all
    }
}

/// One `stream.imported` event per stream an import wrote rows of.
pub(crate) async fn finish_import<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    totals: &ImportTotals,
    synced_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = stored(synced_at);
    let mut events = Vec::new();
    for (stream, stats) in totals.0.iter().filter(|(_, s)| s.upserted() > 0) {
        let stream = stream.as_str();
        events.push(EventRow::new(
            IMPORTED.into(),
            stream,
            at,
            at,
            &json!({
                "stream": stream,
                "inserted": stats.inserted,
                "updated": stats.updated,
                "unchanged": stats.unchanged,
            }),
        )?);
    }
    if !events.is_empty() {
        tx.insert_events(account, &events).await?;
    }
    Ok(())
}

/// The event that stands for an import's rows.
pub(crate) const IMPORTED: &str = "stream.imported";

/// Records the outcome of each stream's attempt. The first success of a delta
/// stream ends its backfill: one `stream.backfilled` event stands for the rows
/// its pages wrote without events.
pub(crate) async fn record_attempts<W: WriteTx + ?Sized>(
    tx: &mut W,
    account: i64,
    attempts: &[StreamAttempt],
) -> Result<(), StoreError> {
    let mut events = Vec::new();
    for attempt in attempts {
        let ends_backfill = match Table::of(attempt.stream) {
            Some(table) if attempt.error.is_none() => {
                (!tx.first_sync_done(account, attempt.stream).await?).then_some(table)
            }
            _ => None,
        };
        tx.save_attempt(account, attempt).await?;
        if let Some(table) = ends_backfill {
            let rows = tx.count_rows(table, account).await?;
            let stream = attempt.stream.as_str();
            let at = stored(attempt.at);
            events.push(EventRow::new(
                BACKFILLED.into(),
                stream,
                at,
                at,
                &json!({ "stream": stream, "rows": rows }),
            )?);
        }
    }
    if !events.is_empty() {
        tx.insert_events(account, &events).await?;
    }
    Ok(())
}

/// The event that ends a stream's backfill.
pub(crate) const BACKFILLED: &str = "stream.backfilled";

/// The outbox rows of one write. Until a stream's first sync catches up its
/// pages are a backfill: the mirror's history, not news. They write no
/// per-row events (on a first sync those were more than half the bytes
/// written, docs/performance.md); `stream.backfilled` marks the end.
pub(super) struct Outbox<'a> {
    pub(super) rows: Vec<EventRow<'a>>,
    held: bool,
}

impl<'a> Outbox<'a> {
    pub(super) fn per_row() -> Outbox<'a> {
        Outbox {
            rows: Vec::new(),
            held: false,
        }
    }

    pub(super) fn held_for_backfill() -> Outbox<'a> {
        Outbox {
            rows: Vec::new(),
            held: true,
        }
    }

    /// Adds the event `make` builds, unless events are held: then the
    /// payload is never serialized.
    pub(super) fn push(
        &mut self,
        make: impl FnOnce() -> Result<EventRow<'a>, StoreError>,
    ) -> Result<(), StoreError> {
        if !self.held {
            self.rows.push(make()?);
        }
        Ok(())
    }
}
