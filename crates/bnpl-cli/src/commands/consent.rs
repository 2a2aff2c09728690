//! `bnpl consent create|status|revoke`: the PSD2 consent lifecycle of a
//! `klarna-eu` account (Berlin Group NextGenPSD2 AIS).
//!
//! The consent id is a secret: it is stored only in the account's encrypted
//! credentials and never printed. The consent record (route, scope, valid
//! until, frequency per day, status, last action date) is stored beside the
//! data in the `consents` table.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bnpl_core::{AccountStatus, ConnectorError};
use bnpl_provider_klarna_eu::{
    ConsentCredentials, ConsentDetails, ConsentRequest, ConsentStatus, KlarnaEuConfig, PROVIDER_ID,
    ScaInstruction, ScaPreference,
};
use bnpl_store::{AccountKey, ConsentRecord, Database};
use chrono::{NaiveDate, Utc};

use crate::context::{ConfigPath, open_configured};
use crate::table::Table;

/// The route of every consent this command manages.
pub const ROUTE: &str = "psd2-ais";

/// Keys of a provider section that belong to the engine, not the connector.
const ENGINE_KEYS: [&str; 3] = ["enabled", "max_concurrent_accounts", "cadence"];

#[derive(clap::Subcommand)]
pub enum Command {
    /// Ask the holder for a consent, wait for their approval (SCA), then
    /// store the account with it.
    Create(CreateArgs),
    /// Refresh the consent's status from the bank and store it.
    Status(Target),
    /// Revoke the consent at the bank (DELETE); the account needs a new one.
    Revoke(Target),
}

#[derive(clap::Args)]
pub struct Target {
    /// The PSD2 provider (klarna-eu).
    provider: String,
    /// The account the consent belongs to.
    #[arg(long)]
    account_id: String,
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The PSD2 provider (klarna-eu).
    provider: String,
    /// The account to store (your name for it).
    #[arg(long)]
    account_id: String,
    /// Last day of validity (YYYY-MM-DD; default: 89 days from today).
    #[arg(long)]
    valid_until: Option<NaiveDate>,
    /// Reads per day asked for (default: the config's frequency_per_day;
    /// 1 for a one-off consent).
    #[arg(long)]
    frequency_per_day: Option<u32>,
    /// A recurring consent (needed for repeated syncs); without it, one-off.
    #[arg(long)]
    recurring: bool,
    /// The holder's IPv4 address (mandatory at the bank; default: the
    /// config's psu_ip_address).
    #[arg(long)]
    psu_ip: Option<Ipv4Addr>,
    /// Ask for redirect SCA coming back to this URL (default: decoupled SCA
    /// in the bank's app).
    #[arg(long)]
    redirect_uri: Option<String>,
    /// How long to wait for the holder's approval.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    wait: Duration,
}

pub async fn run(config: &ConfigPath, command: Command) -> anyhow::Result<ExitCode> {
    let settings = config.load()?;
    let provider = match &command {
        Command::Create(a) => &a.provider,
        Command::Status(t) | Command::Revoke(t) => &t.provider,
    };
    if provider != PROVIDER_ID {
        bail!("consents are managed for PSD2 providers only ({PROVIDER_ID}), not {provider:?}");
    }
    let section = settings
        .provider_section(PROVIDER_ID)
        .context("no [providers.klarna_eu] section in the config (base_url is required)")?;
    let eu = connector_config(section)?;
    let db = open_configured(&settings).await?;
    match command {
        Command::Create(args) => create(&eu, db.as_ref(), args).await,
        Command::Status(t) => status(&eu, db.as_ref(), &t).await,
        Command::Revoke(t) => revoke(&eu, db.as_ref(), &t).await,
    }
}

/// The connector's own keys of a provider section.
pub fn connector_config(section: &serde_json::Value) -> anyhow::Result<KlarnaEuConfig> {
    let mut own = section
        .as_object()
        .cloned()
        .context("providers.klarna_eu must be a table")?;
    own.retain(|k, _| !ENGINE_KEYS.contains(&k.as_str()));
    serde_json::from_value(serde_json::Value::Object(own)).context("providers.klarna_eu")
}

/// The record to store for a consent as the bank reports it.
pub fn record(key: &AccountKey, details: &ConsentDetails) -> ConsentRecord {
    let now = Utc::now();
    ConsentRecord {
        account: key.clone(),
        route: ROUTE.to_string(),
        scope: details.access.clone(),
        recurring: details.recurring,
        valid_until: details.valid_until,
        frequency_per_day: details.frequency_per_day,
        status: details.status.as_str().to_string(),
        last_action_date: details.last_action_date,
        created_at: now,
        updated_at: now,
    }
}

async fn create(
    eu: &KlarnaEuConfig,
    db: &dyn Database,
    args: CreateArgs,
) -> anyhow::Result<ExitCode> {
    let key = AccountKey::new(PROVIDER_ID, &args.account_id);
    let today = Utc::now().date_naive();
    let mut request =
        ConsentRequest::new(args.valid_until.unwrap_or(today + chrono::Days::new(89)));
    request.recurring = args.recurring;
    request.frequency_per_day = match (args.frequency_per_day, args.recurring) {
        (Some(0), _) => bail!("--frequency-per-day must be at least 1"),
        (Some(n), _) => Some(n),
        // The specification: a one-off consent has frequencyPerDay 1.
        (None, false) => Some(1),
        (None, true) => None,
    };
    request.psu_ip_address = args.psu_ip;
    if let Some(uri) = args.redirect_uri {
        request.sca = ScaPreference::Redirect {
            redirect_uri: uri,
            nok_redirect_uri: None,
        };
    }
    let created = bnpl_provider_klarna_eu::create_consent(eu, &request)
        .await
        .context("creating the consent")?;
    match &created.sca {
        ScaInstruction::Redirect { url } => {
            println!("The holder approves the consent in a browser:\n  {url}");
        }
        ScaInstruction::Decoupled { message } => {
            println!(
                "The holder approves the consent in the bank's app{}",
                message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_else(|| ".".into())
            );
        }
        ScaInstruction::Unsupported { links } => bail!(
            "the bank asks for embedded SCA (credentials through us), which bnpl does not \
             support (offered: {})",
            links.join(", ")
        ),
    }
    println!(
        "waiting up to {} for the approval...",
        humantime::format_duration(args.wait)
    );
    let status =
        match bnpl_provider_klarna_eu::poll_until_final(eu, &created.consent_id, args.wait).await {
            Ok(s) => s,
            Err(ConnectorError::ReauthRequired { message }) => {
                bail!("the consent was not granted ({message}); nothing stored")
            }
            Err(e) => return Err(e).context("polling the consent status"),
        };
    let details = bnpl_provider_klarna_eu::consent_details(eu, &created.consent_id)
        .await
        .context("reading the consent")?;
    let mut credentials =
        ConsentCredentials::new(secrecy::ExposeSecret::expose_secret(&created.consent_id));
    credentials.frequency_per_day = Some(details.frequency_per_day);
    db.put_account(&key, &credentials.to_secret()).await?;
    db.put_consent(&record(&key, &details)).await?;
    let valid = status == ConsentStatus::Valid;
    if !valid {
        // Kept, so that `bnpl consent status` can pick up a late approval.
        db.set_account_status(
            &key,
            AccountStatus::ReauthRequired,
            Some(&format!("the consent is still {status} (not approved yet)")),
        )
        .await?;
    }
    print_record(db, &key).await?;
    if valid {
        println!("{key} is stored and will be synced by `bnpl sync`.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "The consent is still {status} after {}; run `bnpl consent status {PROVIDER_ID} \
             --account-id {}` once the holder has approved it.",
            humantime::format_duration(args.wait),
            args.account_id
        );
        Ok(ExitCode::from(3))
    }
}

async fn stored_credentials(
    db: &dyn Database,
    key: &AccountKey,
) -> anyhow::Result<ConsentCredentials> {
    let secret = db.account_secret(key).await?;
    ConsentCredentials::parse(&secret).with_context(|| format!("stored credentials of {key}"))
}

async fn status(
    eu: &KlarnaEuConfig,
    db: &dyn Database,
    target: &Target,
) -> anyhow::Result<ExitCode> {
    let key = AccountKey::new(PROVIDER_ID, &target.account_id);
    let mut credentials = stored_credentials(db, &key).await?;
    match bnpl_provider_klarna_eu::consent_details(eu, credentials.consent_id()).await {
        Ok(details) => {
            db.put_consent(&record(&key, &details)).await?;
            if let Some(e) = details.status.reauth_error() {
                db.set_account_status(&key, AccountStatus::ReauthRequired, Some(&e.to_string()))
                    .await?;
            } else if details.status == ConsentStatus::Valid {
                db.set_account_status(&key, AccountStatus::Active, None)
                    .await?;
                if credentials.frequency_per_day != Some(details.frequency_per_day) {
                    credentials.frequency_per_day = Some(details.frequency_per_day);
                    db.save_secret(&key, &credentials.to_secret()).await?;
                }
            }
        }
        Err(ConnectorError::ReauthRequired { message }) => {
            // The bank no longer knows the consent (or refuses it).
            let reason = format!("re-authentication required: {message}");
            db.set_account_status(&key, AccountStatus::ReauthRequired, Some(&reason))
                .await?;
            println!("{key}: {reason}");
        }
        Err(e) => return Err(e).context("reading the consent"),
    }
    print_record(db, &key).await?;
    Ok(ExitCode::SUCCESS)
}

async fn revoke(
    eu: &KlarnaEuConfig,
    db: &dyn Database,
    target: &Target,
) -> anyhow::Result<ExitCode> {
    let key = AccountKey::new(PROVIDER_ID, &target.account_id);
    let credentials = stored_credentials(db, &key).await?;
    match bnpl_provider_klarna_eu::revoke(eu, credentials.consent_id()).await {
        Ok(()) => println!("{key}: the consent is revoked at the bank"),
        Err(ConnectorError::ReauthRequired { message }) => {
            println!("{key}: the bank had already ended the consent ({message})")
        }
        Err(e) => return Err(e).context("revoking the consent"),
    }
    if let Some(mut stored) = db
        .consents(Some(PROVIDER_ID))
        .await?
        .into_iter()
        .find(|c| c.account == key)
    {
        stored.status = ConsentStatus::TerminatedByTpp.as_str().to_string();
        stored.last_action_date = Some(Utc::now().date_naive());
        stored.updated_at = Utc::now();
        db.put_consent(&stored).await?;
    }
    db.set_account_status(
        &key,
        AccountStatus::ReauthRequired,
        Some("the consent is terminatedByTpp (bnpl consent revoke)"),
    )
    .await?;
    print_record(db, &key).await?;
    Ok(ExitCode::SUCCESS)
}

/// The stored consent records as a table (no secret in it).
pub fn consents_table(records: &[ConsentRecord]) -> Table {
    let mut table = Table::new([
        "account",
        "route",
        "scope",
        "valid until",
        "per day",
        "status",
        "last action",
    ])
    .right(&[4]);
    for r in records {
        table.row(vec![
            r.account.to_string(),
            r.route.clone(),
            scope_summary(&r.scope, r.recurring),
            r.valid_until.to_string(),
            r.frequency_per_day.to_string(),
            r.status.clone(),
            r.last_action_date
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    table
}

/// `accounts+balances+transactions (bank-offered, recurring)`.
fn scope_summary(access: &serde_json::Value, recurring: bool) -> String {
    let mut parts = Vec::new();
    let mut which = "bank-offered";
    if let Some(map) = access.as_object() {
        for (k, v) in map {
            match v {
                serde_json::Value::Array(items) => {
                    parts.push(k.clone());
                    if !items.is_empty() {
                        which = "dedicated";
                    }
                }
                serde_json::Value::String(s) => {
                    which = if s == "allAccounts" {
                        "all accounts"
                    } else {
                        s
                    };
                }
                _ => {}
            }
        }
    }
    format!(
        "{} ({which}, {})",
        if parts.is_empty() {
            "all".to_string()
        } else {
            parts.join("+")
        },
        if recurring { "recurring" } else { "one-off" }
    )
}

async fn print_record(db: &dyn Database, key: &AccountKey) -> anyhow::Result<()> {
    let records: Vec<ConsentRecord> = db
        .consents(Some(&key.provider))
        .await?
        .into_iter()
        .filter(|c| &c.account == key)
        .collect();
    print!("{}", consents_table(&records).render());
    if let Some(account) = db
        .accounts(Some(&key.provider))
        .await?
        .into_iter()
        .find(|a| &a.key == key)
    {
        println!(
            "account {key}: {}{}",
            account.status.as_str(),
            account
                .status_reason
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[test]
    fn create_parses_with_defaults() {
        let cli = Cli::try_parse_from([
            "consent",
            "create",
            "klarna-eu",
            "--account-id",
            "A",
            "--recurring",
            "--psu-ip",
            "192.0.2.10",
        ])
        .unwrap();
        let Command::Create(args) = cli.command else {
            panic!("not create")
        };
        assert_eq!(args.provider, "klarna-eu");
        assert!(args.recurring);
        assert_eq!(args.wait, Duration::from_secs(300));
        assert_eq!(args.psu_ip, Some(Ipv4Addr::new(192, 0, 2, 10)));
        assert!(args.valid_until.is_none() && args.redirect_uri.is_none());
        assert!(
            Cli::try_parse_from(["consent", "revoke", "klarna-eu", "--account-id", "A"]).is_ok()
        );
        assert!(
            Cli::try_parse_from([
                "consent",
                "create",
                "klarna-eu",
                "--account-id",
                "A",
                "--valid-until",
                "2027-13-01"
            ])
            .is_err()
        );
    }

    #[test]
    fn the_engine_keys_are_not_passed_to_the_connector() {
        let section = serde_json::json!({
            "enabled": true,
            "max_concurrent_accounts": 2,
            "cadence": {"balance": "1h"},
            "base_url": "https://bank.example/psd2",
            "frequency_per_day": 2
        });
        let config = connector_config(&section).unwrap();
        assert_eq!(config.base_url, "https://bank.example/psd2");
        assert_eq!(config.frequency_per_day, 2);
        let unknown = serde_json::json!({"base_url": "https://x", "nope": 1});
        assert!(connector_config(&unknown).is_err());
    }

    #[test]
    fn scopes_read_as_text() {
        let offered = serde_json::json!({"accounts": [], "balances": [], "transactions": []});
        assert_eq!(
            scope_summary(&offered, true),
            "accounts+balances+transactions (bank-offered, recurring)"
        );
        let dedicated = serde_json::json!({"accounts": [{"iban": "DE89370400440532013000"}]});
        assert_eq!(
            scope_summary(&dedicated, false),
            "accounts (dedicated, one-off)"
        );
        let global = serde_json::json!({"allPsd2": "allAccounts"});
        assert_eq!(
            scope_summary(&global, true),
            "all (all accounts, recurring)"
        );
    }
}
