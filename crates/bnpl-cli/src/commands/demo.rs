//! `bnpl demo`: the whole product in one command, against the built-in
//! sandbox. Writes only the demo database and its key file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use bnpl_core::ProviderContext;
use bnpl_provider_klarna_eu::{ConsentCredentials, KlarnaEuConfig, KlarnaEuConnector};
use bnpl_sandbox::{Sandbox, SandboxConfig};
use bnpl_sandbox_psd2::{Psd2Config, Psd2Sandbox};
use bnpl_store::{AccountKey, Database, InstallmentFilter};
use bnpl_sync::{Engine, ProviderRuntime, SyncSettings};
use chrono::{Duration, Utc};
use secrecy::SecretString;

use crate::commands::accounts::accounts_table;
use crate::commands::consent::{self, consents_table};
use crate::commands::views::{due_table, money};
use crate::context::open_database;
use crate::table::Table;

const DEFAULT_DB: &str = "bnpl-demo.db";
/// The demo's EU account (klarna-eu over PSD2).
const EU_ACCOUNT: &str = "eu-demo";

#[derive(clap::Args)]
pub struct Args {
    /// The demo database (recreated on each run when it is the default one).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Replace --db if it exists.
    #[arg(long)]
    force: bool,
    /// Seed of the sandbox data set.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Days the sandbox clock moves between the two syncs.
    #[arg(long, default_value_t = 7)]
    advance_days: i64,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let db_path = args.db.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DB));
    if db_path.exists() && args.db.is_some() && !args.force {
        bail!("{} exists; pass --force to replace it", db_path.display());
    }
    remove_database_files(&db_path)?;
    let key_path = db_path.with_extension("key");

    // Start the sandbox a few days in the past so that, after the clock moves,
    // the mirror is current and `bnpl due` works on it with today's date.
    let start = (Utc::now() - Duration::days(args.advance_days))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let sandbox = Sandbox::new(SandboxConfig {
        seed: args.seed,
        start,
        ..SandboxConfig::default()
    });
    let running = sandbox.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!(
        "sandbox: Klarna US contract at {} (seed {})",
        running.base_url, args.seed
    );
    // The EU bank (PSD2, Berlin Group) on its own port, on the same clock.
    let psd2 = Psd2Sandbox::new(Psd2Config::new(args.seed, start));
    let psd2_running = psd2.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!(
        "sandbox: PSD2 bank (Berlin Group NextGenPSD2 AIS) at {}",
        psd2_running.base_url
    );

    let url = format!("sqlite://{}", db_path.display());
    let db = open_database(&url, &key_path).await?;
    for c in sandbox.credentials() {
        let secret =
            serde_json::json!({ "refresh_token": c.refresh_token, "device_id": c.device_id });
        db.put_account(
            &AccountKey::new("klarna-us", c.account_id),
            &SecretString::from(secret.to_string()),
        )
        .await?;
    }

    let eu_runtime = add_eu_account(&db, &psd2, &psd2_running.base_url).await?;

    let registration = bnpl_core::registry::find("klarna-us")?;
    let section = serde_json::json!({ "base_url": running.base_url, "page_size": 10 });
    let connector = (registration.factory)(section, &ProviderContext::default())?;
    let engine = Engine::new(
        db.clone(),
        vec![ProviderRuntime::new(registration, connector), eu_runtime],
        SyncSettings::default(),
    );

    println!("\n== first sync: full history ==");
    let first = engine.run_once().await?;
    println!("{first}");

    let changes = sandbox.advance(chrono::Duration::days(args.advance_days));
    psd2.advance(chrono::Duration::days(args.advance_days));
    // A rate limit on the way: the sync waits Retry-After and carries on.
    sandbox
        .faults()
        .fail_next(1, 429, "TOO_MANY_REQUESTS", Some(1));
    println!(
        "\n== sandbox clock +{} days: {} purchases changed ({} new), {} installments paid, {} late ==",
        args.advance_days,
        changes.purchases_changed,
        changes.new_purchases,
        changes.installments_paid,
        changes.installments_late
    );
    println!("\n== second sync: only the delta moves ==");
    let second = engine.run_once().await?;
    println!("{second}");

    let today = sandbox.now().date_naive();
    print_overview(&db, today).await?;
    println!(
        "\nThe mirror is {} (sqlite3 {} 'select * from upcoming_installments' or `bnpl --config ... due`).",
        db_path.display(),
        db_path.display()
    );
    running.shutdown().await;
    psd2_running.shutdown().await;
    Ok(if first.failed_accounts() + second.failed_accounts() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn print_overview(db: &Arc<dyn Database>, today: chrono::NaiveDate) -> anyhow::Result<()> {
    println!("\n== accounts ==");
    print!("{}", accounts_table(&db.accounts(None).await?).render());

    println!("\n== purchases by plan ==");
    let mut by_plan: BTreeMap<(String, String), (u64, i64, i64)> = BTreeMap::new();
    for p in db.purchases().await? {
        let e = by_plan
            .entry((p.plan.clone(), p.currency.clone()))
            .or_default();
        e.0 += 1;
        e.1 += p.amount_minor;
        e.2 += p.outstanding_minor;
    }
    let mut table = Table::new(["plan", "purchases", "amount", "outstanding"]).right(&[1, 2, 3]);
    for ((plan, currency), (count, amount, outstanding)) in &by_plan {
        table.row(vec![
            plan.clone(),
            count.to_string(),
            money(*amount, currency),
            money(*outstanding, currency),
        ]);
    }
    print!("{}", table.render());

    println!(
        "\n== installments due by {} (30 days; overdue included) ==",
        today + chrono::Days::new(30)
    );
    let due = db
        .installments(
            &InstallmentFilter {
                open_only: true,
                due_on_or_before: Some(today + chrono::Days::new(30)),
                ..Default::default()
            },
            today,
        )
        .await?;
    print!("{}", due_table(&due).render());

    println!("\n== PSD2 consents ==");
    print!("{}", consents_table(&db.consents(None).await?).render());

    println!("\n== balances (latest per account, ledger and type) ==");
    let mirrors = crate::commands::views::account_mirrors(db).await?;
    print!(
        "{}",
        crate::commands::views::balances_table(&mirrors, false).render()
    );

    println!("\n== outstanding per provider and currency ==");
    crate::commands::views::print_summary(db, today, false).await?;
    Ok(())
}

/// Adds the EU account: a consent already approved at the PSD2 sandbox, its
/// credentials and consent record, and the klarna-eu connector reading the
/// sandbox's clock (unattended reads: the demo's two syncs are within the
/// consent's 4 a day).
async fn add_eu_account(
    db: &Arc<dyn Database>,
    psd2: &Psd2Sandbox,
    base_url: &str,
) -> anyhow::Result<ProviderRuntime> {
    let registration = bnpl_core::registry::find(bnpl_provider_klarna_eu::PROVIDER_ID)?;
    let config = KlarnaEuConfig::new(base_url);
    let consent_id = psd2.create_valid_consent();
    let secret = SecretString::from(consent_id.clone());
    let details = bnpl_provider_klarna_eu::consent_details(&config, &secret)
        .await
        .context("reading the demo consent")?;
    let mut credentials = ConsentCredentials::new(consent_id);
    credentials.frequency_per_day = Some(details.frequency_per_day);
    let key = AccountKey::new(registration.id, EU_ACCOUNT);
    db.put_account(&key, &credentials.to_secret()).await?;
    db.put_consent(&consent::record(&key, &details)).await?;
    let clock = psd2.clone();
    let connector = KlarnaEuConnector::new(config, &ProviderContext::default())?
        .with_clock(Arc::new(move || clock.now()));
    Ok(ProviderRuntime::new(registration, Arc::new(connector)))
}

/// The demo owns its database: remove it and SQLite's side files.
fn remove_database_files(db: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}
