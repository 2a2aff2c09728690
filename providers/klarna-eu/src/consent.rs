//! The consent lifecycle, as library functions for `bnpl consent
//! create|status|revoke`: create (`POST /v1/consents`, then the SCA step),
//! status (`GET /v1/consents/{id}/status`), details (`GET /v1/consents/{id}`),
//! poll until final, and revoke (`DELETE /v1/consents/{id}`).

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use bnpl_core::{ConnectorError, ProviderContext};
use chrono::NaiveDate;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};

use crate::KlarnaEuConfig;
use crate::http::{Answer, Api};
use crate::wire::{self, AccessOut, AccountRefOut, ConsentsOut};

/// `consentStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentStatus {
    Received,
    Rejected,
    Valid,
    RevokedByPsu,
    Expired,
    TerminatedByTpp,
    PartiallyAuthorised,
    /// A code the bank added to the specification's list.
    Other(String),
}

impl ConsentStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "received" => ConsentStatus::Received,
            "rejected" => ConsentStatus::Rejected,
            "valid" => ConsentStatus::Valid,
            "revokedByPsu" => ConsentStatus::RevokedByPsu,
            "expired" => ConsentStatus::Expired,
            "terminatedByTpp" => ConsentStatus::TerminatedByTpp,
            "partiallyAuthorised" => ConsentStatus::PartiallyAuthorised,
            other => ConsentStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ConsentStatus::Received => "received",
            ConsentStatus::Rejected => "rejected",
            ConsentStatus::Valid => "valid",
            ConsentStatus::RevokedByPsu => "revokedByPsu",
            ConsentStatus::Expired => "expired",
            ConsentStatus::TerminatedByTpp => "terminatedByTpp",
            ConsentStatus::PartiallyAuthorised => "partiallyAuthorised",
            ConsentStatus::Other(s) => s,
        }
    }

    /// No further change is expected without a new consent (or it is valid).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            ConsentStatus::Received | ConsentStatus::PartiallyAuthorised | ConsentStatus::Other(_)
        )
    }

    /// `ReauthRequired` for `expired`, `revokedByPsu`, `terminatedByTpp`
    /// and `rejected`; `None` otherwise.
    pub fn reauth_error(&self) -> Option<ConnectorError> {
        matches!(
            self,
            ConsentStatus::Expired
                | ConsentStatus::RevokedByPsu
                | ConsentStatus::TerminatedByTpp
                | ConsentStatus::Rejected
        )
        .then(|| ConnectorError::ReauthRequired {
            message: format!("the consent is {}", self.as_str()),
        })
    }
}

impl fmt::Display for ConsentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which accounts the consent covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentAccess {
    /// Empty `accounts`/`balances`/`transactions` arrays: the holder picks
    /// the accounts at the bank (bank-offered consent).
    BankOffered,
    /// Accounts, balances and transactions of these IBANs (detailed consent).
    Dedicated(Vec<String>),
    /// `allPsd2: allAccounts` (global consent).
    AllPsd2,
}

/// How the holder authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaPreference {
    /// In the bank's app (`TPP-Decoupled-Preferred: true`).
    Decoupled,
    /// In a browser, coming back to `redirect_uri` (`TPP-Redirect-Preferred: true`).
    Redirect {
        redirect_uri: String,
        nok_redirect_uri: Option<String>,
    },
    /// No preference sent.
    BankChoice,
}

#[derive(Clone)]
pub struct ConsentRequest {
    pub access: ConsentAccess,
    pub recurring: bool,
    /// Last day of validity (inclusive, bank's local date).
    pub valid_until: NaiveDate,
    /// `None`: the config's `frequency_per_day`.
    pub frequency_per_day: Option<u32>,
    pub combined_service: bool,
    /// The holder's address; `PSU-IP-Address` is mandatory on consent
    /// creation. `None`: the config's `psu_ip_address`.
    pub psu_ip_address: Option<Ipv4Addr>,
    /// `PSU-ID` (the holder's login at the bank), needed by some banks for
    /// decoupled SCA.
    pub psu_id: Option<SecretString>,
    pub sca: ScaPreference,
}

impl fmt::Debug for ConsentRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentRequest")
            .field("access", &self.access)
            .field("recurring", &self.recurring)
            .field("valid_until", &self.valid_until)
            .field("frequency_per_day", &self.frequency_per_day)
            .field("combined_service", &self.combined_service)
            .field("psu_ip_address", &self.psu_ip_address)
            .field("psu_id", &self.psu_id.as_ref().map(|_| "[redacted]"))
            .field("sca", &self.sca)
            .finish()
    }
}

impl ConsentRequest {
    /// A recurring, bank-offered consent with decoupled SCA.
    pub fn new(valid_until: NaiveDate) -> Self {
        ConsentRequest {
            access: ConsentAccess::BankOffered,
            recurring: true,
            valid_until,
            frequency_per_day: None,
            combined_service: false,
            psu_ip_address: None,
            psu_id: None,
            sca: ScaPreference::Decoupled,
        }
    }
}

/// What the holder must do to authorise the consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaInstruction {
    /// Open this link in a browser.
    Redirect { url: String },
    /// Confirm in the bank's app; the bank's message when it sent one.
    Decoupled { message: Option<String> },
    /// The bank wants an embedded SCA flow (credentials through us), which
    /// this connector does not support. The link names it offered.
    Unsupported { links: Vec<String> },
}

#[derive(Clone)]
pub struct ConsentCreated {
    pub consent_id: SecretString,
    pub status: ConsentStatus,
    pub sca: ScaInstruction,
    /// `ASPSP-SCA-Approach` when the bank sent it.
    pub sca_approach: Option<String>,
}

impl fmt::Debug for ConsentCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentCreated")
            .field("consent_id", &"[redacted]")
            .field("status", &self.status)
            .field("sca", &self.sca)
            .field("sca_approach", &self.sca_approach)
            .finish()
    }
}

/// The consent record as the bank holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentDetails {
    pub status: ConsentStatus,
    pub valid_until: NaiveDate,
    pub frequency_per_day: u32,
    pub recurring: bool,
    pub last_action_date: Option<NaiveDate>,
    /// The `access` object (scope) as the bank reports it.
    pub access: serde_json::Value,
}

pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

fn api(config: &KlarnaEuConfig) -> Result<Api, ConnectorError> {
    let settings = config
        .validate(&ProviderContext::default())
        .map_err(|e| ConnectorError::permanent(e.to_string()))?;
    Api::new(&settings).map_err(|e| ConnectorError::permanent(e.to_string()))
}

fn consent_path(consent_id: &SecretString, suffix: &str) -> Result<String, ConnectorError> {
    let id = consent_id.expose_secret();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
    {
        return Err(ConnectorError::permanent(
            "the consent id has characters that cannot go in a path",
        ));
    }
    Ok(format!("/v1/consents/{id}{suffix}"))
}

fn failed(answer: &Answer) -> ConnectorError {
    answer.error().into_connector(None)
}

fn malformed(what: &str, e: wire::FieldError, answer: &Answer) -> ConnectorError {
    ConnectorError::Permanent {
        message: format!("malformed answer to {what}: {e}"),
        correlation_id: Some(answer.request_id.clone()),
    }
}

/// `POST /v1/consents`, then the SCA step: a redirect link, a decoupled
/// instruction, or (when the bank asks for an explicit start) `POST` to its
/// `startAuthorisation` link first.
pub async fn create_consent(
    config: &KlarnaEuConfig,
    request: &ConsentRequest,
) -> Result<ConsentCreated, ConnectorError> {
    let api = api(config)?;
    let psu_ip = request.psu_ip_address.or(config.psu_ip_address).ok_or_else(|| {
        ConnectorError::permanent(
            "PSU-IP-Address is mandatory when creating a consent: give the holder's IPv4 address",
        )
    })?;
    let refs = |ibans: &[String]| {
        ibans
            .iter()
            .map(|i| AccountRefOut { iban: i.clone() })
            .collect::<Vec<_>>()
    };
    let access = match &request.access {
        ConsentAccess::BankOffered => AccessOut {
            accounts: Some(vec![]),
            balances: Some(vec![]),
            transactions: Some(vec![]),
            all_psd2: None,
        },
        ConsentAccess::Dedicated(ibans) => AccessOut {
            accounts: Some(refs(ibans)),
            balances: Some(refs(ibans)),
            transactions: Some(refs(ibans)),
            all_psd2: None,
        },
        ConsentAccess::AllPsd2 => AccessOut {
            all_psd2: Some("allAccounts"),
            ..AccessOut::default()
        },
    };
    let body = ConsentsOut {
        access,
        recurring_indicator: request.recurring,
        valid_until: request.valid_until,
        frequency_per_day: request
            .frequency_per_day
            .unwrap_or(config.frequency_per_day)
            .max(1),
        combined_service_indicator: request.combined_service,
    };
    let body = serde_json::to_value(&body).expect("the consent body serializes");
    let mut headers: Vec<(&str, String)> = Vec::new();
    if let Some(psu_id) = &request.psu_id {
        headers.push(("PSU-ID", psu_id.expose_secret().to_string()));
    }
    match &request.sca {
        ScaPreference::Decoupled => headers.push(("TPP-Decoupled-Preferred", "true".into())),
        ScaPreference::Redirect {
            redirect_uri,
            nok_redirect_uri,
        } => {
            headers.push(("TPP-Redirect-Preferred", "true".into()));
            headers.push(("TPP-Redirect-URI", redirect_uri.clone()));
            if let Some(nok) = nok_redirect_uri {
                headers.push(("TPP-Nok-Redirect-URI", nok.clone()));
            }
        }
        ScaPreference::BankChoice => {}
    }
    let answer = api
        .send(
            Method::POST,
            api.url("/v1/consents"),
            None,
            Some(psu_ip),
            &headers,
            Some(&body),
        )
        .await?;
    if !answer.is_success() {
        return Err(failed(&answer));
    }
    let created: wire::ConsentCreatedIn =
        wire::parse(&answer.body).map_err(|e| malformed("POST /v1/consents", e, &answer))?;
    let consent_id = SecretString::from(created.consent_id.clone());
    let status = ConsentStatus::parse(&created.consent_status);
    let mut sca_approach = answer.sca_approach.clone();
    let mut links = created.links.clone();
    let mut psu_message = created.psu_message.clone();

    let explicit_start = [
        "startAuthorisation",
        "startAuthorisationWithPsuIdentification",
    ]
    .iter()
    .find_map(|name| wire::link(&links, name));
    if wire::link(&links, "scaRedirect").is_none()
        && status == ConsentStatus::Received
        && let Some(href) = explicit_start
    {
        let url = api.resolve_link(&href)?;
        let answer = api
            .send(
                Method::POST,
                url,
                None,
                None,
                &headers,
                Some(&serde_json::json!({})),
            )
            .await?;
        if !answer.is_success() {
            return Err(failed(&answer));
        }
        let started: wire::StartAuthorisationIn = wire::parse(&answer.body)
            .map_err(|e| malformed("POST .../authorisations", e, &answer))?;
        links = started.links;
        psu_message = started.psu_message.or(psu_message);
        sca_approach = answer.sca_approach.or(sca_approach);
    }

    let sca = if let Some(url) =
        wire::link(&links, "scaRedirect").or_else(|| wire::link(&links, "scaOAuth"))
    {
        ScaInstruction::Redirect { url }
    } else if sca_approach.as_deref() == Some("EMBEDDED")
        || links
            .keys()
            .any(|k| k.starts_with("startAuthorisationWith") || k.starts_with("updatePsu"))
    {
        ScaInstruction::Unsupported {
            links: links.keys().cloned().collect(),
        }
    } else {
        ScaInstruction::Decoupled {
            message: psu_message,
        }
    };
    Ok(ConsentCreated {
        consent_id,
        status,
        sca,
        sca_approach,
    })
}

/// `GET /v1/consents/{id}/status`.
pub async fn consent_status(
    config: &KlarnaEuConfig,
    consent_id: &SecretString,
) -> Result<ConsentStatus, ConnectorError> {
    let api = api(config)?;
    status_with(&api, consent_id).await
}

async fn status_with(
    api: &Api,
    consent_id: &SecretString,
) -> Result<ConsentStatus, ConnectorError> {
    let url = api.url(&consent_path(consent_id, "/status")?);
    let answer = api.send(Method::GET, url, None, None, &[], None).await?;
    if !answer.is_success() {
        return Err(failed(&answer));
    }
    let status: wire::ConsentStatusIn = wire::parse(&answer.body)
        .map_err(|e| malformed("GET /v1/consents/{id}/status", e, &answer))?;
    Ok(ConsentStatus::parse(&status.consent_status))
}

/// Polls the status every [`POLL_INTERVAL`] until it is final or `timeout`
/// passed. `Ok(Valid)`: ready for reads. A negative final status
/// (`rejected`, `expired`, ...) is `Err(ReauthRequired)`. On timeout the last
/// (non-final) status is returned.
pub async fn poll_until_final(
    config: &KlarnaEuConfig,
    consent_id: &SecretString,
    timeout: Duration,
) -> Result<ConsentStatus, ConnectorError> {
    poll_until_final_every(config, consent_id, timeout, POLL_INTERVAL).await
}

/// [`poll_until_final`] with its own interval.
pub async fn poll_until_final_every(
    config: &KlarnaEuConfig,
    consent_id: &SecretString,
    timeout: Duration,
    interval: Duration,
) -> Result<ConsentStatus, ConnectorError> {
    let api = api(config)?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let status = status_with(&api, consent_id).await?;
        if let Some(e) = status.reauth_error() {
            return Err(e);
        }
        if status.is_final() {
            return Ok(status);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(status);
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}

/// `GET /v1/consents/{id}`: the record to store beside the data (scope,
/// valid until, frequency, status, last action date).
pub async fn consent_details(
    config: &KlarnaEuConfig,
    consent_id: &SecretString,
) -> Result<ConsentDetails, ConnectorError> {
    let api = api(config)?;
    let url = api.url(&consent_path(consent_id, "")?);
    let answer = api.send(Method::GET, url, None, None, &[], None).await?;
    if !answer.is_success() {
        return Err(failed(&answer));
    }
    let info: wire::ConsentInformationIn =
        wire::parse(&answer.body).map_err(|e| malformed("GET /v1/consents/{id}", e, &answer))?;
    Ok(ConsentDetails {
        status: ConsentStatus::parse(&info.consent_status),
        valid_until: info.valid_until,
        frequency_per_day: info.frequency_per_day,
        recurring: info.recurring_indicator,
        last_action_date: info.last_action_date,
        access: info.access,
    })
}

/// `DELETE /v1/consents/{id}`: the consent becomes `terminatedByTpp`.
pub async fn revoke(
    config: &KlarnaEuConfig,
    consent_id: &SecretString,
) -> Result<(), ConnectorError> {
    let api = api(config)?;
    let url = api.url(&consent_path(consent_id, "")?);
    let answer = api.send(Method::DELETE, url, None, None, &[], None).await?;
    if !answer.is_success() {
        return Err(failed(&answer));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_and_map_to_reauth() {
        for s in [
            "received",
            "rejected",
            "valid",
            "revokedByPsu",
            "expired",
            "terminatedByTpp",
            "partiallyAuthorised",
            "odd",
        ] {
            assert_eq!(ConsentStatus::parse(s).as_str(), s);
        }
        for s in ["rejected", "revokedByPsu", "expired", "terminatedByTpp"] {
            let e = ConsentStatus::parse(s).reauth_error().unwrap();
            assert_eq!(e.kind(), bnpl_core::ErrorKind::ReauthRequired, "{s}");
        }
        assert!(ConsentStatus::Valid.reauth_error().is_none());
        assert!(ConsentStatus::Valid.is_final());
        assert!(!ConsentStatus::Received.is_final());
    }

    #[test]
    fn consent_ids_never_break_the_path_and_debug_hides_secrets() {
        assert!(consent_path(&SecretString::from("a/../b".to_string()), "").is_err());
        assert_eq!(
            consent_path(
                &SecretString::from("1234-wertiq-983".to_string()),
                "/status"
            )
            .unwrap(),
            "/v1/consents/1234-wertiq-983/status"
        );
        let created = ConsentCreated {
            consent_id: SecretString::from("c-very-secret".to_string()),
            status: ConsentStatus::Received,
            sca: ScaInstruction::Decoupled { message: None },
            sca_approach: None,
        };
        assert!(!format!("{created:?}").contains("c-very-secret"));
        let mut req = ConsentRequest::new("2027-01-01".parse().unwrap());
        req.psu_id = Some(SecretString::from("psu-secret".to_string()));
        assert!(!format!("{req:?}").contains("psu-secret"));
    }
}
