//! `purchases.csv`: one row per installment, the rows of one purchase
//! consecutive; a purchase without a plan (not captured) has one row with
//! empty installment columns.

use std::io::Read;

use bnpl_core::{
    Installment, InstallmentPlan, OrderStatus, PlanKind, Purchase, ReportedInstallmentState,
};

use crate::error::{ImportError, RowError};
use crate::fields::{Row, check_header, csv_error};

pub(crate) const HEADER: &[&str] = &[
    "purchase_id",
    "created_at",
    "merchant",
    "amount",
    "currency",
    "plan",
    "status",
    "installment_seq",
    "installment_due",
    "installment_amount",
    "installment_state",
    "updated_at",
];

/// Yields one `Purchase` per group of consecutive rows with the same id.
///
/// The export has no captured, refunded or interest amounts, items, return or
/// dispute: the purchase is stored with what it has (captured = the plan's
/// installments) and the feed's newer version replaces it.
pub struct PurchasesReader<R: Read> {
    file: String,
    records: csv::StringRecordsIntoIter<R>,
    /// A row read ahead that starts the next purchase.
    pending: Option<(u64, csv::StringRecord)>,
    /// A purchase whose rows are being skipped after one of them was invalid.
    poisoned: Option<String>,
    pub rows_read: u64,
}

impl<R: Read> PurchasesReader<R> {
    pub fn new(file: impl Into<String>, input: R) -> Result<Self, ImportError> {
        let file = file.into();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(input);
        check_header(&mut reader, &file, HEADER)?;
        Ok(PurchasesReader {
            file,
            records: reader.into_records(),
            pending: None,
            poisoned: None,
            rows_read: 0,
        })
    }

    fn next_row(&mut self) -> Option<Result<(u64, csv::StringRecord), RowError>> {
        if let Some(p) = self.pending.take() {
            return Some(Ok(p));
        }
        let record = self.records.next()?;
        self.rows_read += 1;
        Some(match record {
            Ok(r) => Ok((r.position().map(|p| p.line()).unwrap_or(0), r)),
            Err(e) => Err(csv_error(&self.file, &e)),
        })
    }
}

impl<R: Read> Iterator for PurchasesReader<R> {
    type Item = Result<Purchase, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut current: Option<(Purchase, u64)> = None;
        loop {
            let (line, record) = match self.next_row() {
                None => return current.map(|(p, line)| self.finish(p, line)),
                Some(Err(e)) => return Some(Err(ImportError::Row(e))),
                Some(Ok(row)) => row,
            };
            let id = record.get(0).unwrap_or_default().to_string();
            if self.poisoned.as_deref() == Some(id.as_str()) {
                continue;
            }
            self.poisoned = None;
            if let Some((purchase, first_line)) = current.take() {
                if purchase.id != id {
                    self.pending = Some((line, record));
                    return Some(self.finish(purchase, first_line));
                }
                current = Some((purchase, first_line));
            }
            let row = Row {
                file: &self.file,
                line,
                header: HEADER,
                record: &record,
            };
            let result = match current.take() {
                None => start_purchase(&row).map(|p| (p, line)),
                Some((p, first_line)) => add_installment(&row, p).map(|p| (p, first_line)),
            };
            match result {
                Ok(c) => current = Some(c),
                Err(e) => {
                    self.poisoned = Some(id);
                    return Some(Err(ImportError::Row(e)));
                }
            }
        }
    }
}

impl<R: Read> PurchasesReader<R> {
    /// Checks what only the whole group shows: installment numbers 1..n.
    fn finish(&self, mut p: Purchase, first_line: u64) -> Result<Purchase, ImportError> {
        let installments = &p.plan.installments;
        if let Some((i, bad)) = installments
            .iter()
            .enumerate()
            .find(|(i, inst)| inst.seq != *i as u32 + 1)
        {
            return Err(ImportError::Row(RowError {
                file: self.file.clone(),
                line: first_line + i as u64,
                column: Some("installment_seq".into()),
                message: format!(
                    "purchase {}: installment {} where {} was expected (rows of one purchase must be consecutive and numbered from 1)",
                    p.id,
                    bad.seq,
                    i + 1
                ),
                raw: None,
            }));
        }
        p.captured_minor = if matches!(
            p.status,
            OrderStatus::Authorized | OrderStatus::Cancelled | OrderStatus::Expired
        ) {
            0
        } else {
            installments.iter().map(|i| i.amount_minor).sum()
        };
        Ok(p)
    }
}

fn start_purchase(row: &Row<'_>) -> Result<Purchase, RowError> {
    let currency = row.currency("currency")?;
    let plan_text = row.required("plan")?;
    let kind = PlanKind::parse(plan_text.trim()).map_err(|e| row.error(Some("plan"), e))?;
    let status_text = row.required("status")?;
    let status: OrderStatus = status_text
        .trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| {
            let known: Vec<String> = OrderStatus::variants()
                .iter()
                .map(|s| s.as_str().to_uppercase())
                .collect();
            row.error(
                Some("status"),
                format!(
                    "{status_text:?} is not an order status ({})",
                    known.join(", ")
                ),
            )
        })?;
    let purchase = Purchase {
        id: row.required("purchase_id")?.trim().to_string(),
        merchant: row.required("merchant")?.to_string(),
        merchant_category: None,
        amount: row.money("amount", currency)?,
        created_at: row.timestamp("created_at")?,
        status,
        captured_minor: 0,
        refunded_minor: 0,
        plan: InstallmentPlan {
            kind,
            apr_bps: 0,
            interest_minor: 0,
            installments: Vec::new(),
        },
        items: Vec::new(),
        return_: None,
        dispute: None,
        updated_at: row.timestamp("updated_at")?,
    };
    if row.optional("installment_seq")?.is_none() {
        for column in ["installment_due", "installment_amount", "installment_state"] {
            if row.optional(column)?.is_some() {
                return Err(row.error(Some(column), "is set but installment_seq is empty"));
            }
        }
        return Ok(purchase);
    }
    add_installment(row, purchase)
}

fn add_installment(row: &Row<'_>, mut purchase: Purchase) -> Result<Purchase, RowError> {
    // Every row repeats the purchase's columns; they must agree.
    for (column, value) in [
        ("currency", purchase.amount.currency.code().to_string()),
        ("plan", purchase.plan.kind.as_string()),
    ] {
        let v = row.required(column)?.trim();
        if v != value {
            return Err(row.error(
                Some(column),
                format!("{v:?} differs from {value:?} on the purchase's first row"),
            ));
        }
    }
    if purchase.plan.installments.is_empty() && row.optional("installment_seq")?.is_none() {
        return Err(row.error(
            Some("installment_seq"),
            format!(
                "purchase {} has a row without an installment after its first row",
                purchase.id
            ),
        ));
    }
    let state_text = row.required("installment_state")?;
    let reported_state: ReportedInstallmentState = state_text
        .trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| {
        row.error(
            Some("installment_state"),
            format!("{state_text:?} is not one of scheduled, paid, late, paused, cancelled"),
        )
    })?;
    purchase.plan.installments.push(Installment {
        seq: row.parse("installment_seq", "a whole number from 1")?,
        due: row.date("installment_due")?,
        amount_minor: row
            .money("installment_amount", purchase.amount.currency)?
            .minor,
        reported_state,
        paid_at: None,
        late_fee_minor: 0,
    });
    Ok(purchase)
}

#[cfg(test)]
mod tests;
