//! The sync engine: plans what is due (a pure function), pulls pages through
//! each provider's session under the retry policy, and commits every page
//! with its cursor in one transaction.

pub mod engine;
pub mod plan;
pub mod report;
pub mod retry;
pub mod settings;

#[cfg(test)]
mod testing;

pub use engine::{Engine, SyncObserver};
pub use report::{AccountReport, RunReport, StreamReport, StreamTotals};
pub use settings::{ProviderProblem, ProviderRuntime, Settings, SettingsError, SyncSettings};
