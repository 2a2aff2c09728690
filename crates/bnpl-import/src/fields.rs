//! Field parsers shared by the readers; each error says what was expected.

use bnpl_core::{Currency, Money};
use chrono::{DateTime, NaiveDate, Utc};

use crate::error::RowError;

/// One CSV record with its position, so that a field error names line and column.
pub struct Row<'a> {
    pub file: &'a str,
    pub line: u64,
    pub header: &'static [&'static str],
    pub record: &'a csv::StringRecord,
}

impl<'a> Row<'a> {
    pub fn error(&self, column: Option<&str>, message: impl Into<String>) -> RowError {
        RowError {
            file: self.file.to_string(),
            line: self.line,
            column: column.map(str::to_string),
            message: message.into(),
            raw: Some(self.record.iter().collect::<Vec<_>>().join(",")),
        }
    }

    pub fn get(&self, column: &str) -> Result<&'a str, RowError> {
        let index = self
            .header
            .iter()
            .position(|c| *c == column)
            .expect("column names come from the header constant");
        self.record
            .get(index)
            .ok_or_else(|| self.error(Some(column), "missing (the row has too few fields)"))
    }

    pub fn required(&self, column: &str) -> Result<&'a str, RowError> {
        let v = self.get(column)?;
        if v.trim().is_empty() {
            return Err(self.error(Some(column), "is empty; a value is required"));
        }
        Ok(v)
    }

    pub fn optional(&self, column: &str) -> Result<Option<&'a str>, RowError> {
        Ok(Some(self.get(column)?).filter(|v| !v.trim().is_empty()))
    }

    pub fn timestamp(&self, column: &str) -> Result<DateTime<Utc>, RowError> {
        let v = self.required(column)?;
        DateTime::parse_from_rfc3339(v.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                self.error(
                    Some(column),
                    format!("{v:?} is not an RFC 3339 timestamp like 2026-06-06T09:12:00Z"),
                )
            })
    }

    pub fn date(&self, column: &str) -> Result<NaiveDate, RowError> {
        let v = self.required(column)?;
        NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
            .map_err(|_| self.error(Some(column), format!("{v:?} is not a date like 2026-06-20")))
    }

    pub fn currency(&self, column: &str) -> Result<Currency, RowError> {
        let v = self.required(column)?;
        Currency::parse(v.trim()).map_err(|e| self.error(Some(column), e.to_string()))
    }

    pub fn money(&self, column: &str, currency: Currency) -> Result<Money, RowError> {
        let v = self.required(column)?;
        Money::parse_major(v, currency).map_err(|e| self.error(Some(column), e.to_string()))
    }

    pub fn parse<T: std::str::FromStr>(&self, column: &str, expected: &str) -> Result<T, RowError> {
        let v = self.required(column)?;
        v.trim()
            .parse()
            .map_err(|_| self.error(Some(column), format!("{v:?} is not {expected}")))
    }
}

/// Reads the header and checks it is exactly the expected one.
pub fn check_header<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    file: &str,
    expected: &[&str],
) -> Result<(), crate::ImportError> {
    let header = reader.headers().map_err(|e| crate::ImportError::File {
        file: file.to_string(),
        message: format!("cannot read the header row: {e}"),
    })?;
    let found: Vec<&str> = header.iter().collect();
    if found != expected {
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|c| !found.contains(c))
            .collect();
        return Err(crate::ImportError::File {
            file: file.to_string(),
            message: format!(
                "line 1: expected the header {}{}",
                expected.join(","),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(" (missing: {})", missing.join(", "))
                }
            ),
        });
    }
    Ok(())
}

/// Turns a csv-crate error (bad UTF-8, a row of the wrong length, a cut
/// quoted field) into a row error with its line.
pub fn csv_error(file: &str, e: &csv::Error) -> RowError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "field {} is not valid UTF-8; the export must be UTF-8",
            err.field() + 1
        ),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, expected {expected_len} (a truncated or malformed row)"),
        _ => e.to_string(),
    };
    RowError {
        file: file.to_string(),
        line,
        column: None,
        message,
        raw: None,
    }
}
