//! The native CSV export (contract section 5): `purchases.csv` (one row per
//! installment) and `balance.csv`, amounts in major units with a dot.

use crate::account::Account;
use crate::ids;
use crate::model::FeedRow;
use crate::time::{fmt_date, fmt_ts};
use crate::wire::CURRENCY;

/// The two export files of one account, as CSV text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxExport {
    pub purchases_csv: String,
    pub balance_csv: String,
}

/// `4999` → `49.99`, `-1250` → `-12.50`.
pub(crate) fn major(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let a = minor.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn by_id<R: FeedRow>(rows: &[R]) -> Vec<&R> {
    let mut v: Vec<&R> = rows.iter().collect();
    v.sort_by_key(|r| r.id());
    v
}

fn finish(w: csv::Writer<Vec<u8>>) -> String {
    w.into_inner()
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

const PURCHASES_HEADER: [&str; 12] = [
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

const BALANCE_HEADER: [&str; 7] = [
    "entry_id",
    "occurred_at",
    "kind",
    "amount",
    "currency",
    "purchase_id",
    "updated_at",
];

/// Writes one account's `purchases.csv` rows (no header); returns the rows written.
fn write_purchases<W: std::io::Write>(w: &mut csv::Writer<W>, a: &Account) -> csv::Result<u64> {
    let mut rows = 0;
    for p in by_id(&a.purchases) {
        let m = crate::catalog::merchant(p.merchant);
        let head = [
            ids::purchase_id(p.id),
            fmt_ts(p.created_at),
            m.name.to_owned(),
            major(p.amount),
            CURRENCY.to_owned(),
            p.plan.as_str().to_owned(),
            p.status.as_str().to_owned(),
        ];
        let updated = fmt_ts(p.updated_at);
        if p.installments.is_empty() {
            // No plan (not captured): one row, installment columns empty.
            let mut rec: Vec<String> = head.to_vec();
            rec.extend([
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                updated.clone(),
            ]);
            w.write_record(&rec)?;
            rows += 1;
        }
        for i in &p.installments {
            let mut rec: Vec<String> = head.to_vec();
            rec.extend([
                i.seq.to_string(),
                fmt_date(i.due),
                major(i.amount),
                i.state.as_str().to_owned(),
                updated.clone(),
            ]);
            w.write_record(&rec)?;
            rows += 1;
        }
    }
    Ok(rows)
}

/// Writes one account's `balance.csv` rows (no header); returns the rows written.
fn write_balance<W: std::io::Write>(w: &mut csv::Writer<W>, a: &Account) -> csv::Result<u64> {
    let mut rows = 0;
    for e in by_id(&a.balance_entries) {
        w.write_record([
            ids::balance_id(e.id),
            fmt_ts(e.occurred_at),
            e.kind.as_str().to_owned(),
            major(e.amount),
            CURRENCY.to_owned(),
            e.purchase_id.map(ids::purchase_id).unwrap_or_default(),
            fmt_ts(e.updated_at),
        ])?;
        rows += 1;
    }
    Ok(rows)
}

pub(crate) fn export(a: &Account) -> SandboxExport {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(PURCHASES_HEADER);
    let _ = write_purchases(&mut w, a);
    let purchases_csv = finish(w);
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(BALANCE_HEADER);
    let _ = write_balance(&mut w, a);
    SandboxExport {
        purchases_csv,
        balance_csv: finish(w),
    }
}

/// What [`write_large_export`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeExport {
    pub purchase_rows: u64,
    pub balance_rows: u64,
    /// Generated accounts whose rows were concatenated.
    pub accounts: u32,
}

/// Purchases generated per account by [`write_large_export`].
const PURCHASES_PER_GENERATED_ACCOUNT: usize = 200;

/// Writes `purchases.csv` and `balance.csv` of at least `rows` purchase rows
/// into `dir`, as one account's export: the sandbox's generated accounts one
/// after another (their ids never collide), each written and dropped before
/// the next is built, so memory stays flat whatever `rows` is.
pub fn write_large_export(
    dir: &std::path::Path,
    rows: u64,
    seed: u64,
) -> std::io::Result<LargeExport> {
    std::fs::create_dir_all(dir)?;
    let open = |name: &str| -> std::io::Result<csv::Writer<std::io::BufWriter<std::fs::File>>> {
        let file = std::fs::File::create(dir.join(name))?;
        Ok(csv::Writer::from_writer(std::io::BufWriter::with_capacity(
            1 << 16,
            file,
        )))
    };
    let mut purchases = open("purchases.csv")?;
    let mut balance = open("balance.csv")?;
    purchases.write_record(PURCHASES_HEADER)?;
    balance.write_record(BALANCE_HEADER)?;
    let start = crate::SandboxConfig::default().start.timestamp();
    let mut out = LargeExport {
        purchase_rows: 0,
        balance_rows: 0,
        accounts: 0,
    };
    while out.purchase_rows < rows {
        let account =
            crate::data::build_account(seed, out.accounts, PURCHASES_PER_GENERATED_ACCOUNT, start);
        out.purchase_rows += write_purchases(&mut purchases, &account)?;
        out.balance_rows += write_balance(&mut balance, &account)?;
        out.accounts += 1;
    }
    purchases.flush()?;
    balance.flush()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::major;

    #[test]
    fn major_units_with_a_dot() {
        assert_eq!(major(4999), "49.99");
        assert_eq!(major(5), "0.05");
        assert_eq!(major(0), "0.00");
        assert_eq!(major(-1250), "-12.50");
        assert_eq!(major(i64::MIN), "-92233720368547758.08");
    }
}
