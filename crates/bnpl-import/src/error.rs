use std::fmt;

/// One bad row: where it is and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub file: String,
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The column's name, when the problem is one field.
    pub column: Option<String>,
    pub message: String,
    /// The raw row, for the rejects file.
    pub raw: Option<String>,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}:{}: column {c}: {}",
                self.file, self.line, self.message
            ),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A row is invalid; with `--skip-invalid` the import goes on without it.
    #[error("{0}")]
    Row(RowError),
    /// The file itself is unusable (unreadable, wrong header): nothing can be imported.
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

impl ImportError {
    pub fn is_row(&self) -> bool {
        matches!(self, ImportError::Row(_))
    }
}
