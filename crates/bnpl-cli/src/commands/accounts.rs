//! Accounts are data, not config: an integrator onboards thousands of them.
//! Secrets never come from argv (visible to every user of the machine).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bnpl_core::ProviderRegistration;
use bnpl_store::AccountKey;
use secrecy::SecretString;

use crate::context::{ConfigPath, open_configured};
use crate::table::Table;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Add one account (or replace its credentials after re-consent).
    ///
    /// Secret fields (the refresh token) are read from the environment
    /// variable BNPL_<FIELD> (e.g. BNPL_REFRESH_TOKEN) or else from stdin.
    Add {
        provider: String,
        #[arg(long)]
        account_id: String,
        /// The device the session is bound to (klarna-us).
        #[arg(long)]
        device_id: Option<String>,
        /// Any other non-secret credential field, as key=value.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        fields: Vec<String>,
    },
    /// Import accounts from a JSON array of objects with "account_id" and the
    /// provider's credential fields (klarna-us: "refresh_token", "device_id").
    Import { provider: String, file: PathBuf },
    /// List accounts with their status and the last sync of each stream.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &ConfigPath, command: Command) -> anyhow::Result<ExitCode> {
    let settings = config.load()?;
    match command {
        Command::Add {
            provider,
            account_id,
            device_id,
            fields,
        } => {
            let registration = bnpl_core::registry::find(&provider)?;
            let mut doc = serde_json::Map::new();
            if let Some(d) = device_id {
                doc.insert("device_id".into(), d.into());
            }
            for kv in fields {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
                if registration
                    .credential_fields
                    .iter()
                    .any(|f| f.name == k && f.secret)
                {
                    bail!(
                        "--set {k}: {k} is secret; pass it in BNPL_{} or on stdin",
                        k.to_uppercase()
                    );
                }
                doc.insert(k.into(), v.into());
            }
            for field in registration.credential_fields.iter().filter(|f| f.secret) {
                doc.insert(field.name.into(), read_secret(field.name)?.into());
            }
            let secret = credentials_document(registration, doc, "command line")?;
            let db = open_configured(&settings).await?;
            let key = AccountKey::new(registration.id, account_id);
            db.put_account(&key, &secret).await?;
            println!("added {key}");
        }
        Command::Import { provider, file } => {
            let registration = bnpl_core::registry::find(&provider)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let entries: Vec<serde_json::Map<String, serde_json::Value>> =
                serde_json::from_str(&text).with_context(|| {
                    format!("{}: expected a JSON array of objects", file.display())
                })?;
            // Check every entry before writing any, so a bad file adds nothing.
            let mut accounts = Vec::with_capacity(entries.len());
            for (i, mut entry) in entries.into_iter().enumerate() {
                let at = format!("{} entry {}", file.display(), i + 1);
                let account_id = match entry.remove("account_id") {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => s,
                    _ => bail!("{at}: \"account_id\" is missing or not a non-empty string"),
                };
                let secret = credentials_document(registration, entry, &at)?;
                accounts.push((AccountKey::new(registration.id, account_id), secret));
            }
            let db = open_configured(&settings).await?;
            for (key, secret) in &accounts {
                db.put_account(key, secret).await?;
            }
            println!(
                "imported {} account(s) for {}",
                accounts.len(),
                registration.id
            );
        }
        Command::List { json } => {
            let db = open_configured(&settings).await?;
            let accounts = db.accounts(None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&accounts)?);
            } else {
                print!("{}", accounts_table(&accounts).render());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn accounts_table(accounts: &[bnpl_store::AccountRecord]) -> Table {
    let mut table = Table::new(["account", "status", "last sync", "streams with errors"]);
    for a in accounts {
        let last = a.streams.iter().filter_map(|s| s.last_success_at).max();
        let errors: Vec<&str> = a
            .streams
            .iter()
            .filter(|s| s.last_error.is_some())
            .map(|s| s.stream.as_str())
            .collect();
        let status = match &a.status_reason {
            Some(reason) if a.status != bnpl_core::AccountStatus::Active => {
                format!("{} ({reason})", a.status)
            }
            _ => a.status.to_string(),
        };
        table.row(vec![
            a.key.to_string(),
            status,
            last.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "never".into()),
            errors.join(","),
        ]);
    }
    table
}

/// Checks that every declared field is present and a non-empty string, and
/// that nothing undeclared is there, naming the field and where it came from.
fn credentials_document(
    registration: &ProviderRegistration,
    doc: serde_json::Map<String, serde_json::Value>,
    at: &str,
) -> anyhow::Result<SecretString> {
    if registration.credential_fields.is_empty() {
        bail!(
            "{} is {}: it has no credentials to store yet",
            registration.id,
            registration.status
        );
    }
    for field in registration.credential_fields {
        match doc.get(field.name) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {}
            Some(_) => bail!("{at}: \"{}\" must be a non-empty string", field.name),
            None => bail!("{at}: \"{}\" is missing ({})", field.name, field.help),
        }
    }
    if let Some(unknown) = doc.keys().find(|k| {
        !registration
            .credential_fields
            .iter()
            .any(|f| f.name == k.as_str())
    }) {
        let known: Vec<&str> = registration
            .credential_fields
            .iter()
            .map(|f| f.name)
            .collect();
        bail!(
            "{at}: unknown field \"{unknown}\"; {} takes {}",
            registration.id,
            known.join(", ")
        );
    }
    Ok(SecretString::from(
        serde_json::Value::Object(doc).to_string(),
    ))
}

fn read_secret(field: &str) -> anyhow::Result<String> {
    let var = format!("BNPL_{}", field.to_uppercase());
    if let Ok(v) = std::env::var(&var) {
        return Ok(v.trim().to_string());
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .with_context(|| format!("reading {field} from stdin"))?;
    let value = input.trim().to_string();
    if value.is_empty() {
        bail!("{field}: set {var} or pipe it on stdin");
    }
    Ok(value)
}
