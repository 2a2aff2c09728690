//! Read-only views of the mirror. Each has `--json` for scripts.

use std::process::ExitCode;
use std::sync::Arc;

use bnpl_core::{Currency, Money};
use bnpl_store::{Database, InstallmentFilter};
use chrono::NaiveDate;

use crate::context::{ConfigPath, open_configured};
use crate::table::Table;

#[derive(clap::Args)]
pub struct DueArgs {
    /// How far ahead to look ("14d", "4w"); overdue installments always show.
    #[arg(long, default_value = "30d", value_parser = parse_days)]
    within: u64,
    #[arg(long)]
    provider: Option<String>,
    #[arg(long)]
    account: Option<String>,
    /// Evaluate as of this date instead of today (YYYY-MM-DD).
    #[arg(long)]
    today: Option<NaiveDate>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct PurchasesArgs {
    #[arg(long)]
    json: bool,
}

pub fn parse_days(text: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like \"14d\": {e}"))?;
    Ok(d.as_secs().div_ceil(86_400))
}

pub fn money(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(c) => Money::new(minor, c).to_string(),
        Err(_) => format!("{minor} (minor units) {currency}"),
    }
}

pub async fn due(config: &ConfigPath, args: DueArgs) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    let today = args
        .today
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let filter = InstallmentFilter {
        provider: args.provider,
        account_id: args.account,
        open_only: true,
        due_on_or_before: Some(today + chrono::Days::new(args.within)),
    };
    let rows = db.installments(&filter, today).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", due_table(&rows).render());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn due_table(rows: &[bnpl_store::InstallmentView]) -> Table {
    let mut table =
        Table::new(["due", "account", "merchant", "plan", "#", "amount", "state"]).right(&[4, 5]);
    for r in rows {
        let mut amount = money(r.amount_minor, &r.currency);
        if r.late_fee_minor > 0 {
            amount.push_str(&format!(" + {} fee", money(r.late_fee_minor, &r.currency)));
        }
        table.row(vec![
            r.due.to_string(),
            r.account.to_string(),
            r.merchant.clone(),
            r.plan.clone(),
            r.seq.to_string(),
            amount,
            r.state.to_string(),
        ]);
    }
    table
}

pub async fn summary(config: &ConfigPath, args: SummaryArgs) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    print_summary(&db, args.json).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn print_summary(db: &Arc<dyn Database>, json: bool) -> anyhow::Result<()> {
    let totals = db.outstanding().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&totals)?);
        return Ok(());
    }
    print!("{}", outstanding_table(&totals).render());
    Ok(())
}

pub fn outstanding_table(totals: &[bnpl_store::OutstandingTotal]) -> Table {
    let mut table = Table::new([
        "provider",
        "currency",
        "outstanding",
        "open installments",
        "active plans",
    ])
    .right(&[2, 3, 4]);
    for t in totals {
        table.row(vec![
            t.provider.clone(),
            t.currency.clone(),
            money(t.outstanding_minor, &t.currency),
            t.open_installments.to_string(),
            t.active_plans.to_string(),
        ]);
    }
    table
}

pub async fn purchases(config: &ConfigPath, args: PurchasesArgs) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    let rows = db.purchases().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new([
        "created",
        "account",
        "merchant",
        "plan",
        "status",
        "amount",
        "outstanding",
    ])
    .right(&[5, 6]);
    for p in &rows {
        table.row(vec![
            p.created_at.format("%Y-%m-%d").to_string(),
            p.account.to_string(),
            p.merchant.clone(),
            p.plan.clone(),
            p.status.clone(),
            money(p.amount_minor, &p.currency),
            money(p.outstanding_minor, &p.currency),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}
