//! Helpers shared by the integration tests: an in-memory credential store
//! and a mirror that applies pages the way the store does.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bnpl_core::{
    AccountCredentials, AccountSession, BalanceEntry, Connector, ConnectorError, CredentialStore,
    ProviderContext, Records, SnapshotData, Stream,
};
use bnpl_provider_klarna_eu::{Clock, ConsentCredentials, KlarnaEuConfig, KlarnaEuConnector};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

/// Remembers every saved credentials document.
#[derive(Default)]
pub struct MemoryStore {
    pub saved: Mutex<Vec<String>>,
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn save(&self, _account_id: &str, secret: &SecretString) -> Result<(), ConnectorError> {
        self.saved
            .lock()
            .unwrap()
            .push(secret.expose_secret().to_string());
        Ok(())
    }
}

impl MemoryStore {
    pub fn last(&self) -> Option<SecretString> {
        self.saved
            .lock()
            .unwrap()
            .last()
            .map(|s| SecretString::from(s.clone()))
    }
}

pub fn fixed_clock(at: &str) -> Clock {
    let t: DateTime<Utc> = at.parse().unwrap();
    Arc::new(move || t)
}

pub fn connector(config: KlarnaEuConfig, clock: Clock) -> KlarnaEuConnector {
    KlarnaEuConnector::new(config, &ProviderContext::default())
        .unwrap()
        .with_clock(clock)
}

pub fn credentials(consent_id: &str) -> AccountCredentials {
    AccountCredentials {
        account_id: "eu-1".into(),
        secret: ConsentCredentials::new(consent_id).to_secret(),
    }
}

/// The account's state the way the engine keeps it: the stored
/// credentials document, the stream cursor, and the mirrored rows.
pub struct Account {
    pub secret: SecretString,
    pub cursor: Option<String>,
    pub rows: BTreeMap<String, BalanceEntry>,
    pub removed: Vec<String>,
    pub pages: usize,
}

impl Account {
    pub fn new(consent_id: &str) -> Self {
        Account {
            secret: ConsentCredentials::new(consent_id).to_secret(),
            cursor: None,
            rows: BTreeMap::new(),
            removed: Vec::new(),
            pages: 0,
        }
    }

    pub async fn open(
        &self,
        c: &KlarnaEuConnector,
        store: &Arc<MemoryStore>,
    ) -> Result<Box<dyn AccountSession>, ConnectorError> {
        let credentials = AccountCredentials {
            account_id: "eu-1".into(),
            secret: self.secret.clone(),
        };
        let store: Arc<dyn CredentialStore> = store.clone();
        c.open(credentials, store).await
    }

    /// Pulls the delta stream until caught up, applying every page.
    pub async fn sync_entries(
        &mut self,
        session: &mut dyn AccountSession,
    ) -> Result<(), ConnectorError> {
        loop {
            let page = session
                .pull(Stream::BalanceEntries, self.cursor.as_deref())
                .await?;
            let Records::BalanceEntries(rows) = page.records else {
                panic!("wrong stream")
            };
            let mut ids = std::collections::BTreeSet::new();
            for r in rows {
                assert!(
                    ids.insert(r.id.clone()),
                    "duplicate id {} in one page",
                    r.id
                );
                self.rows.insert(r.id.clone(), r);
            }
            for id in page.removed {
                self.rows.remove(&id);
                self.removed.push(id);
            }
            self.cursor = Some(page.next_cursor);
            self.pages += 1;
            if page.caught_up {
                return Ok(());
            }
        }
    }

    /// A whole sync run: one session, entries then balances.
    pub async fn sync(
        &mut self,
        c: &KlarnaEuConnector,
        store: &Arc<MemoryStore>,
    ) -> Result<Vec<bnpl_core::BalanceSnapshot>, ConnectorError> {
        let mut session = self.open(c, store).await?;
        let result = async {
            self.sync_entries(session.as_mut()).await?;
            match session.snapshot(Stream::Balance).await? {
                SnapshotData::Balance(b) => Ok(b),
                other => panic!("unexpected snapshot {other:?}"),
            }
        }
        .await;
        if let Some(saved) = store.last() {
            self.secret = saved;
        }
        result
    }

    pub fn ids(&self) -> Vec<String> {
        self.rows.keys().cloned().collect()
    }
}
