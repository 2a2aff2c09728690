//! `bnpl-sandbox`: an independent, in-memory, deterministic simulation of
//! the Klarna US consumer session API as fixed in
//! `shared/contracts/klarna-us-session.md` (sections 1-3, plus the section 5
//! CSV export). It is the reference server the `klarna-us` connector is
//! tested against, so it shares no code or types with the connector.
//!
//! - Data is generated from a seed (ChaCha8 per account) and evolves only
//!   when the sandbox clock is moved with [`Sandbox::advance`].
//! - Money is integer minor units; there are no floats anywhere.
//! - [`Sandbox::state`] returns the exact JSON the routes serve, so a mirror
//!   can be compared with it row for row.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use bnpl_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::new(SandboxConfig::default());
//! let running = sandbox.serve("127.0.0.1:0".parse().unwrap()).await?;
//! let creds = sandbox.credentials();
//! // ... point a client at running.base_url with creds[0] ...
//! sandbox.advance(chrono::Duration::days(3));
//! running.shutdown().await;
//! # Ok(()) }
//! ```

mod account;
mod auth;
mod catalog;
mod data;
mod error;
mod evolve;
mod export;
mod faults;
mod feed;
mod ids;
mod lifecycle;
mod model;
mod plans;
mod routes;
mod state;
mod time;
mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::ops::Add;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub use export::{LargeExport, SandboxExport, write_large_export};
pub use faults::FaultInjector;

use state::State;

/// How to build a sandbox. Equal configs build equal sandboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub seed: u64,
    pub accounts: usize,
    pub purchases_per_account: usize,
    /// The sandbox clock at creation (history is generated before it).
    pub start: DateTime<Utc>,
    /// Sleep before answering each contract (non-admin) request.
    pub latency: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            seed: 42,
            accounts: 3,
            purchases_per_account: 12,
            start: Utc
                .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            latency: Duration::ZERO,
        }
    }
}

/// Login material of one sandbox account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxCredentials {
    pub account_id: String,
    /// The current (latest rotated) refresh token.
    pub refresh_token: String,
    pub device_id: String,
}

/// What one [`Sandbox::advance`] changed, summed over accounts.
///
/// `purchases_changed` counts purchases that existed before and changed;
/// `card_transactions` and `deliveries_changed` count distinct rows created
/// or changed; `balance_entries` and `points_entries` count new entries
/// (entries never change once written).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceSummary {
    pub purchases_changed: usize,
    pub new_purchases: usize,
    pub installments_paid: usize,
    pub installments_late: usize,
    pub card_transactions: usize,
    pub balance_entries: usize,
    pub points_entries: usize,
    pub deliveries_changed: usize,
}

impl Add for AdvanceSummary {
    type Output = AdvanceSummary;

    fn add(self, o: AdvanceSummary) -> AdvanceSummary {
        AdvanceSummary {
            purchases_changed: self.purchases_changed + o.purchases_changed,
            new_purchases: self.new_purchases + o.new_purchases,
            installments_paid: self.installments_paid + o.installments_paid,
            installments_late: self.installments_late + o.installments_late,
            card_transactions: self.card_transactions + o.card_transactions,
            balance_entries: self.balance_entries + o.balance_entries,
            points_entries: self.points_entries + o.points_entries,
            deliveries_changed: self.deliveries_changed + o.deliveries_changed,
        }
    }
}

pub(crate) struct Inner {
    state: Mutex<State>,
    latency: Duration,
}

/// The simulated provider. Cheap to clone; clones share one state.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Sandbox")
            .field("now", &time::fmt_ts(st.now))
            .field("accounts", &st.accounts.len())
            .finish()
    }
}

impl Sandbox {
    /// Builds the data set as it stands at `cfg.start`. Deterministic.
    pub fn new(cfg: SandboxConfig) -> Sandbox {
        let state = State::new(&cfg);
        Sandbox {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                latency: cfg.latency,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One entry per account, with its current refresh token.
    pub fn credentials(&self) -> Vec<SandboxCredentials> {
        self.lock()
            .accounts
            .iter()
            .map(|a| SandboxCredentials {
                account_id: a.id.clone(),
                refresh_token: a.refresh_token.clone(),
                device_id: a.device_id.clone(),
            })
            .collect()
    }

    /// The sandbox clock.
    pub fn now(&self) -> DateTime<Utc> {
        time::to_dt(self.lock().now)
    }

    /// Moves the clock forward by `by` (whole seconds; zero or negative does
    /// nothing) and applies everything that happens meanwhile: installments
    /// collected or reported late, returns and disputes progressing, card
    /// authorisations settling, deliveries moving, new purchases, top-ups,
    /// cashback. Access tokens expire on this clock.
    pub fn advance(&self, by: chrono::Duration) -> AdvanceSummary {
        self.lock().advance(by.num_seconds())
    }

    /// The full current truth of an account, every object in its wire shape:
    /// `{"purchases", "card_transactions", "balance_entries",
    /// "points_entries", "deliveries"}` (arrays sorted by id) plus the
    /// `"balance"`, `"rewards"` and `"profile"` snapshots.
    pub fn state(&self, account_id: &str) -> Option<serde_json::Value> {
        let st = self.lock();
        let i = st.account_index(account_id)?;
        Some(st.state_json(i))
    }

    /// The account's native CSV export (contract section 5), as of now.
    pub fn export(&self, account_id: &str) -> Option<SandboxExport> {
        let st = self.lock();
        let i = st.account_index(account_id)?;
        Some(export::export(&st.accounts[i]))
    }

    /// The account holder consents again after a revoked grant: clears the
    /// revocation and issues a fresh refresh token (the old one dies).
    pub fn regrant(&self, account_id: &str) -> Option<SandboxCredentials> {
        let mut st = self.lock();
        let i = st.account_index(account_id)?;
        let old = st.accounts[i].refresh_token.clone();
        let new = st.tokens.replace_refresh(&old, i as u32);
        let a = &mut st.accounts[i];
        a.grant_revoked = false;
        a.refresh_token = new;
        Some(SandboxCredentials {
            account_id: a.id.clone(),
            refresh_token: a.refresh_token.clone(),
            device_id: a.device_id.clone(),
        })
    }

    /// Fault injection on this sandbox.
    pub fn faults(&self) -> FaultInjector {
        FaultInjector {
            sandbox: self.clone(),
        }
    }

    /// All routes. Contract: `POST /auth/v1/token/refresh`,
    /// `GET /consumer/v2/{purchases, card/transactions, balance/transactions,
    /// rewards/transactions, deliveries}` (delta, `updated_after` +
    /// `page_size`), `GET /consumer/v2/{balance, rewards, profile}`.
    /// Admin (no auth, no latency, never faulted by default):
    /// - `POST /__sandbox/advance` `{"days":N}` / `{"hours":N}` (also
    ///   `minutes`, `seconds`; summed) → [`AdvanceSummary`];
    /// - `GET /__sandbox/accounts` → `[SandboxCredentials]`;
    /// - `GET /__sandbox/state/{account_id}` → [`Sandbox::state`];
    /// - `POST /__sandbox/faults` → one or an array of
    ///   `{"kind":"fail_next","n":1,"status":503,"error_code":"TEMPORARILY_UNAVAILABLE","retry_after_secs":null,"path":null}`,
    ///   `{"kind":"malformed_next","n":1,"path":null}`, `{"kind":"expire_access_tokens"}`,
    ///   `{"kind":"revoke_grant","account_id":"kus_0001"}`, `{"kind":"expire_cursors"}`;
    /// - `GET /__sandbox/now`, `GET /__sandbox/export/{account_id}/{purchases.csv|balance.csv}`.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Binds `addr` (port 0 picks a free port) and serves in a spawned task.
    /// Dropping the handle leaves the server running until the runtime ends;
    /// call [`RunningSandbox::shutdown`] to stop it.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningSandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            local.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            let stop = async move {
                if rx.await.is_err() {
                    // Handle dropped without shutdown: keep serving.
                    std::future::pending::<()>().await;
                }
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!(error = %e, "sandbox server stopped");
            }
        });
        Ok(RunningSandbox {
            base_url: format!("http://{local}"),
            addr: local,
            stop: Some(tx),
            task,
        })
    }
}

/// A sandbox being served.
pub struct RunningSandbox {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RunningSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSandbox")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl RunningSandbox {
    /// Stops accepting connections and waits (up to 5 s) for in-flight
    /// requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}
