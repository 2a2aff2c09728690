//! Streaming readers of the Klarna US native export (contract section 5):
//! `purchases.csv` (one row per installment) and `balance.csv`.
//!
//! Readers yield one normalized record at a time, so memory stays flat on a
//! file of millions of rows. Every error names the file, the line, the column
//! and what was expected; amounts with more decimals than the currency has
//! are errors, never roundings.

mod balance;
mod error;
mod fields;
mod purchases;

pub use balance::BalanceReader;
pub use error::{ImportError, RowError};
pub use purchases::PurchasesReader;

/// Which export file a path is, by its header row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Purchases,
    Balance,
}

impl ExportKind {
    pub fn header(self) -> &'static [&'static str] {
        match self {
            ExportKind::Purchases => purchases::HEADER,
            ExportKind::Balance => balance::HEADER,
        }
    }

    /// Recognizes a file from its first line.
    pub fn detect(first_line: &str) -> Option<ExportKind> {
        let names: Vec<&str> = first_line
            .trim_end_matches(['\r', '\n'])
            .split(',')
            .collect();
        [ExportKind::Purchases, ExportKind::Balance]
            .into_iter()
            .find(|k| k.header() == names.as_slice())
    }
}
