//! The normalized model of a buy-now-pay-later account and the traits every
//! provider connector implements.
//!
//! Nothing in this crate does I/O. Providers depend on it; the store and the
//! sync engine depend on it; it depends on none of them.

pub mod connector;
pub mod error;
pub mod lifecycle;
pub mod model;
pub mod money;
pub mod registry;
pub mod retry;
pub mod stream;

pub use connector::{
    AccountCredentials, AccountSession, Connector, CredentialStore, ErasedConnector, Page,
    ProviderContext, SnapshotData,
};
pub use error::{ConfigError, ConnectorError, ErrorKind};
pub use model::*;
pub use money::{Currency, Money, MoneyError};
pub use registry::{CredentialField, ProviderRegistration, ProviderStatus};
pub use stream::Stream;

/// Re-exported so provider crates register without naming `inventory` themselves.
pub use inventory;
