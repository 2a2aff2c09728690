//! An in-memory Berlin Group NextGenPSD2 bank serving the account
//! information (AIS) subset the `klarna-eu` connector uses, for tests, the
//! demo and `bnpl sandbox`. Independent of the connector (it shares none of
//! its types), deterministic from a seed, with a clock that only moves when
//! told to.
//!
//! What it serves (paths under the base URL):
//! - `POST /v1/consents` → `received`; SCA decoupled (approved automatically
//!   after [`Psd2Config::decoupled_approval_polls`] status polls) or redirect
//!   (`_links.scaRedirect` to `/sandbox/sca/{id}`, which approves);
//!   `GET /v1/consents/{id}`, `GET /v1/consents/{id}/status`,
//!   `DELETE /v1/consents/{id}`, `POST /v1/consents/{id}/authorisations`.
//! - `GET /v1/accounts`, `/v1/accounts/{resourceId}/balances`,
//!   `/v1/accounts/{resourceId}/transactions?bookingStatus=&dateFrom=[&dateTo=][&pageIndex=]`
//!   paged through `_links.next`.
//! - Errors as `tppMessages`: `FORMAT_ERROR` (400, e.g. no or a non-UUID
//!   `X-Request-ID`), `CONSENT_UNKNOWN` (403), `CONSENT_INVALID` and
//!   `CONSENT_EXPIRED` (401), `RESOURCE_UNKNOWN` (404), `ACCESS_EXCEEDED`
//!   (429) when unattended reads (no `PSU-IP-Address`) of one account
//!   endpoint exceed the consent's `frequencyPerDay` in a rolling 24 h.
//! - Admin: `POST /sandbox/consents/{id}/approve|reject|expire`,
//!   `POST /sandbox/clock/advance?seconds=N`, `GET /sandbox/state/{iban}`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub mod bank;
mod routes;

use bank::Account;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Psd2Config {
    pub seed: u64,
    /// The sandbox clock's start.
    pub start: DateTime<Utc>,
    /// Rows (booked + pending) per transaction page.
    pub page_size: usize,
    /// Days of generated history before `start`.
    pub history_days: i64,
    /// Status polls after which a decoupled consent becomes `valid`
    /// (0: only the admin call approves).
    pub decoupled_approval_polls: u32,
}

impl Psd2Config {
    pub fn new(seed: u64, start: DateTime<Utc>) -> Self {
        Psd2Config {
            seed,
            start,
            page_size: 5,
            history_days: 30,
            decoupled_approval_polls: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sca {
    Decoupled,
    Redirect,
}

#[derive(Debug, Clone)]
pub(crate) struct Consent {
    pub status: &'static str,
    pub access: serde_json::Value,
    /// `None`: every account.
    pub ibans: Option<Vec<String>>,
    pub recurring: bool,
    pub valid_until: NaiveDate,
    pub frequency_per_day: u32,
    pub last_action: NaiveDate,
    pub sca: Sca,
    pub polls: u32,
    /// Unattended reads per (resource id, endpoint).
    pub reads: BTreeMap<(String, &'static str), Vec<DateTime<Utc>>>,
}

pub(crate) struct Bank {
    pub config: Psd2Config,
    pub now: DateTime<Utc>,
    pub rng: ChaCha8Rng,
    pub accounts: Vec<Account>,
    pub consents: BTreeMap<String, Consent>,
}

impl Bank {
    pub fn new_consent_id(&mut self) -> String {
        format!(
            "{:016x}{:08x}",
            self.rng.random::<u64>(),
            self.rng.random::<u32>()
        )
    }

    /// The consent-scoped resource id of an account (differs per consent,
    /// as at real banks; the IBAN is what survives a re-consent).
    pub fn resource_id(consent_id: &str, iban: &str) -> String {
        let digest = Sha256::digest(format!("{consent_id}|{iban}").as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Expires consents past their `validUntil`.
    pub fn tick(&mut self) {
        let today = self.now.date_naive();
        for c in self.consents.values_mut() {
            if c.valid_until < today && matches!(c.status, "valid" | "received") {
                c.status = "expired";
                c.last_action = today;
            }
        }
    }

    fn set_status(&mut self, id: &str, status: &'static str) -> bool {
        let today = self.now.date_naive();
        match self.consents.get_mut(id) {
            Some(c) => {
                c.status = status;
                c.last_action = today;
                true
            }
            None => false,
        }
    }
}

/// The sandbox bank. Cheap to clone: clones share the bank.
#[derive(Clone)]
pub struct Psd2Sandbox {
    bank: Arc<Mutex<Bank>>,
}

impl Psd2Sandbox {
    pub fn new(config: Psd2Config) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let accounts = bank::generate(&mut rng, config.start, config.history_days);
        Psd2Sandbox {
            bank: Arc::new(Mutex::new(Bank {
                now: config.start,
                config,
                rng,
                accounts,
                consents: BTreeMap::new(),
            })),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Bank> {
        self.bank.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The axum router (mount it yourself, or use [`Psd2Sandbox::serve`]).
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Serves the bank on `addr` (port 0: any free port).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningPsd2> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "psd2 sandbox stopped");
            }
        });
        Ok(RunningPsd2 {
            base_url: format!("http://{local}"),
            addr: local,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The sandbox clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }

    /// Moves the clock forward (consents past `validUntil` expire).
    pub fn advance(&self, by: Duration) {
        let mut bank = self.lock();
        bank.now += by;
        bank.tick();
    }

    /// A recurring consent on every account, already `valid` (for the demo
    /// and tests); 90 days, 4 reads a day.
    pub fn create_valid_consent(&self) -> String {
        self.create_consent_with("valid", 4)
    }

    /// Like [`Psd2Sandbox::create_valid_consent`] with another frequency.
    pub fn create_valid_consent_with_frequency(&self, frequency_per_day: u32) -> String {
        self.create_consent_with("valid", frequency_per_day.max(1))
    }

    fn create_consent_with(&self, status: &'static str, frequency_per_day: u32) -> String {
        let mut bank = self.lock();
        let id = bank.new_consent_id();
        let today = bank.now.date_naive();
        bank.consents.insert(
            id.clone(),
            Consent {
                status,
                access: serde_json::json!({"accounts": [], "balances": [], "transactions": []}),
                ibans: None,
                recurring: true,
                valid_until: today + Duration::days(90),
                frequency_per_day,
                last_action: today,
                sca: Sca::Decoupled,
                polls: 0,
                reads: BTreeMap::new(),
            },
        );
        id
    }

    /// Approves a `received` consent (the holder confirmed in the app).
    pub fn approve_consent(&self, id: &str) -> bool {
        self.lock().set_status(id, "valid")
    }

    pub fn reject_consent(&self, id: &str) -> bool {
        self.lock().set_status(id, "rejected")
    }

    /// Ends a consent now (status `expired`).
    pub fn expire_consent(&self, id: &str) -> bool {
        self.lock().set_status(id, "expired")
    }

    /// A consent's status, if it exists.
    pub fn consent_status(&self, id: &str) -> Option<String> {
        self.lock().consents.get(id).map(|c| c.status.to_string())
    }

    /// The accounts' IBANs (EUR first, then SEK).
    pub fn ibans(&self) -> Vec<String> {
        self.lock()
            .accounts
            .iter()
            .map(|a| a.iban.clone())
            .collect()
    }

    /// The truth about one account at the sandbox clock: balances, booked
    /// and pending rows (`Value::Null` for an unknown IBAN).
    pub fn state(&self, iban: &str) -> serde_json::Value {
        let bank = self.lock();
        bank.accounts
            .iter()
            .find(|a| a.iban == iban)
            .map(|a| a.state(bank.now))
            .unwrap_or(serde_json::Value::Null)
    }
}

/// A served sandbox. Dropping it without [`RunningPsd2::shutdown`] leaves
/// the server running until the runtime ends.
pub struct RunningPsd2 {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base_url: String,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningPsd2 {
    /// Stops accepting connections and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
