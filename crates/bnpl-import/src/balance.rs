//! `balance.csv`: one row per balance entry.

use std::io::Read;

use bnpl_core::{BalanceEntry, BalanceEntryKind, BookingStatus, MAIN_LEDGER};

use crate::error::{ImportError, RowError};
use crate::fields::{Row, check_header, csv_error};

pub(crate) const HEADER: &[&str] = &[
    "entry_id",
    "occurred_at",
    "kind",
    "amount",
    "currency",
    "purchase_id",
    "updated_at",
];

pub struct BalanceReader<R: Read> {
    file: String,
    records: csv::StringRecordsIntoIter<R>,
    pub rows_read: u64,
}

impl<R: Read> BalanceReader<R> {
    pub fn new(file: impl Into<String>, input: R) -> Result<Self, ImportError> {
        let file = file.into();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(input);
        check_header(&mut reader, &file, HEADER)?;
        Ok(BalanceReader {
            file,
            records: reader.into_records(),
            rows_read: 0,
        })
    }
}

impl<R: Read> Iterator for BalanceReader<R> {
    type Item = Result<BalanceEntry, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = self.records.next()?;
        self.rows_read += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => return Some(Err(ImportError::Row(csv_error(&self.file, &e)))),
        };
        let row = Row {
            file: &self.file,
            line: record.position().map(|p| p.line()).unwrap_or(0),
            header: HEADER,
            record: &record,
        };
        Some(entry(&row).map_err(ImportError::Row))
    }
}

fn entry(row: &Row<'_>) -> Result<BalanceEntry, RowError> {
    let currency = row.currency("currency")?;
    let kind_text = row.required("kind")?;
    let kind: BalanceEntryKind = kind_text.trim().parse().map_err(|_| {
        row.error(
            Some("kind"),
            format!(
                "{kind_text:?} is not one of top_up, refund, cashback_credit, installment_payment, withdrawal, interest"
            ),
        )
    })?;
    Ok(BalanceEntry {
        id: row.required("entry_id")?.trim().to_string(),
        ledger: MAIN_LEDGER.to_string(),
        kind,
        booking: BookingStatus::Booked,
        amount: row.money("amount", currency)?,
        description: None,
        purchase_id: row.optional("purchase_id")?.map(|s| s.trim().to_string()),
        points_entry_id: None,
        occurred_at: row.timestamp("occurred_at")?,
        updated_at: row.timestamp("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "entry_id,occurred_at,kind,amount,currency,purchase_id,updated_at\n\
b_1,2026-06-01T10:00:00Z,top_up,100.00,USD,,2026-06-01T10:00:00Z\n\
b_2,2026-06-02T10:00:00Z,refund,-0.50,USD,p_1,2026-06-02T10:00:00Z\n";

    #[test]
    fn reads_entries() {
        let rows: Vec<_> = BalanceReader::new("balance.csv", GOOD.as_bytes())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].amount.minor, 10_000);
        assert_eq!(rows[1].amount.minor, -50);
        assert_eq!(rows[1].purchase_id.as_deref(), Some("p_1"));
        assert_eq!(rows[0].purchase_id, None);
    }

    #[test]
    fn an_unknown_kind_names_line_and_column() {
        let bad = GOOD.replace("refund,-0.50", "gift,-0.50");
        let err = BalanceReader::new("balance.csv", bad.as_bytes())
            .unwrap()
            .find_map(Result::err)
            .unwrap();
        assert_eq!(
            err.to_string(),
            "balance.csv:3: column kind: \"gift\" is not one of top_up, refund, cashback_credit, installment_payment, withdrawal, interest"
        );
    }
}
