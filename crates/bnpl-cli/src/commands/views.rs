//! Read-only views of the mirror. Each has `--json` for scripts.

use std::process::ExitCode;
use std::sync::Arc;

use bnpl_core::{Currency, Money};
use bnpl_store::{
    Database, InstallmentFilter, InstallmentPosition, InstallmentTotals, InstallmentView,
};
use chrono::NaiveDate;

use crate::context::{ConfigPath, open_configured};
use crate::table::Table;

#[derive(clap::Args)]
#[command(after_help = "\
Prints, per currency, how many installments are open and due by the end of \
the window and what they add up to (overdue ones apart), then the earliest \
--limit of them, soonest first, and how many more there are. Amounts are \
never added across currencies.

To read page by page, pass the position the \"more\" line prints to --after: \
the next page starts right after that installment, whatever was synced \
meanwhile.")]
pub struct DueArgs {
    /// How far ahead to look ("14d", "4w"); overdue installments always show.
    #[arg(long, default_value = "30d", value_parser = parse_days)]
    within: u64,
    /// Only this provider's accounts (klarna-us, klarna-eu, ...).
    #[arg(long)]
    provider: Option<String>,
    /// Only this account (the provider's account id, as `bnpl accounts` lists it).
    #[arg(long)]
    account: Option<String>,
    /// Evaluate as of this date instead of today (YYYY-MM-DD).
    #[arg(long)]
    today: Option<NaiveDate>,
    /// List at most this many installments (the totals always count all of them).
    #[arg(long, default_value_t = 50, value_name = "N")]
    limit: u32,
    /// List every installment of the window instead of the first --limit.
    #[arg(long, conflicts_with = "limit")]
    all: bool,
    /// List only installments after this one, as the "more" line prints it:
    /// DUE/PROVIDER/ACCOUNT/PURCHASE/SEQ.
    #[arg(long, value_name = "POSITION")]
    after: Option<InstallmentPosition>,
    /// One JSON object: `totals` per currency, `installments` (the same page
    /// as the table), `more` (how many follow, when known), `next_after`.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    /// Evaluate as of this date instead of today (YYYY-MM-DD).
    #[arg(long)]
    today: Option<NaiveDate>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct PurchasesArgs {
    /// Only purchases with this order status (captured, part_refunded, ...).
    #[arg(long)]
    status: Option<String>,
    /// Only purchases on this plan (pay_in_4, pay_in_30, financing_12, ...).
    #[arg(long)]
    plan: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct BalanceArgs {
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The installment as `bnpl due` shows it: PROVIDER/ACCOUNT/PURCHASE/SEQ.
    installment: String,
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

/// What `bnpl due` shows: the totals of the whole window per currency and
/// one page of it (`filter.limit`, plus one row to tell whether more follow).
/// Both statements run at once on their own connections.
pub struct DuePage {
    pub totals: Vec<InstallmentTotals>,
    pub rows: Vec<InstallmentView>,
    /// More rows follow the page.
    pub has_more: bool,
}

pub async fn due_page(
    db: &Arc<dyn Database>,
    filter: &InstallmentFilter,
    today: NaiveDate,
) -> anyhow::Result<DuePage> {
    let probe = InstallmentFilter {
        limit: filter.limit.map(|n| n.saturating_add(1)),
        ..filter.clone()
    };
    let (totals, mut rows) = tokio::try_join!(
        db.installment_totals(filter, today),
        db.installments(&probe, today)
    )?;
    let limit = filter.limit.map_or(usize::MAX, |n| n as usize);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    Ok(DuePage {
        totals,
        rows,
        has_more,
    })
}

pub async fn due(config: &ConfigPath, args: DueArgs) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    let today = args
        .today
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let until = today + chrono::Days::new(args.within);
    let filter = InstallmentFilter {
        provider: args.provider,
        account_id: args.account,
        open_only: true,
        due_on_or_before: Some(until),
        limit: (!args.all).then_some(args.limit),
        after: args.after.clone(),
    };
    let page = due_page(&db, &filter, today).await?;
    let total: u64 = page.totals.iter().map(|t| t.installments).sum();
    // Exact from the totals on the first page; after --after, only whether
    // more follow is known without counting what came before.
    let more = if args.after.is_none() {
        Some(total.saturating_sub(page.rows.len() as u64))
    } else {
        None
    };
    let next_after = page
        .has_more
        .then(|| page.rows.last().map(|r| r.position().to_string()))
        .flatten();
    if args.json {
        let doc = serde_json::json!({
            "today": today,
            "due_on_or_before": until,
            "totals": page.totals,
            "installments": page.rows,
            "more": more,
            "next_after": next_after,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("open installments due by {until} (today {today}; overdue included): {total}");
    if !page.totals.is_empty() {
        print!("{}", totals_table(&page.totals).render());
        println!();
    }
    if !page.rows.is_empty() {
        print!("{}", due_table(&page.rows).render());
    }
    match (more, &next_after) {
        (Some(n), Some(next)) if n > 0 => {
            println!("{n} more not shown (--limit N, --all, or the next page with --after {next})")
        }
        (Some(n), None) if n > 0 => println!("{n} more not shown (--limit N or --all)"),
        (None, Some(next)) => println!("more follow: the next page with --after {next}"),
        (None, None) => println!("no more after this page"),
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// The totals of `bnpl due`: one row per currency.
pub fn totals_table(totals: &[InstallmentTotals]) -> Table {
    let mut table = Table::new([
        "currency",
        "installments",
        "amount",
        "late fees",
        "overdue",
        "overdue amount",
    ])
    .right(&[1, 2, 3, 4, 5]);
    for t in totals {
        table.row(vec![
            t.currency.clone(),
            t.installments.to_string(),
            money(t.amount_minor, &t.currency),
            money(t.late_fee_minor, &t.currency),
            t.overdue_installments.to_string(),
            money(t.overdue_amount_minor, &t.currency),
        ]);
    }
    table
}

pub fn due_table(rows: &[InstallmentView]) -> Table {
    let mut table =
        Table::new(["due", "installment", "merchant", "plan", "amount", "state"]).right(&[4]);
    for r in rows {
        let mut amount = money(r.amount_minor, &r.currency);
        if r.late_fee_minor > 0 {
            amount.push_str(&format!(" + {} fee", money(r.late_fee_minor, &r.currency)));
        }
        table.row(vec![
            r.due.to_string(),
            format!("{}/{}/{}", r.account, r.purchase_id, r.seq),
            r.merchant.clone(),
            r.plan.clone(),
            amount,
            r.state.to_string(),
        ]);
    }
    table
}

pub async fn summary(config: &ConfigPath, args: SummaryArgs) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    let today = args
        .today
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    print_summary(&db, today, args.json).await?;
    Ok(ExitCode::SUCCESS)
}

/// The obligations view: per provider and currency (never summed across
/// currencies), what is owed, due within 7/14/30 days, late, and how many
/// plans are stacked; a weekly cash-flow forecast; reconciliation gaps.
pub async fn print_summary(
    db: &Arc<dyn Database>,
    today: NaiveDate,
    json: bool,
) -> anyhow::Result<()> {
    let open = db
        .installments(
            &InstallmentFilter {
                open_only: true,
                ..Default::default()
            },
            today,
        )
        .await?;
    let obligations = crate::obligations::obligations(&open, today);
    let forecast = crate::obligations::weekly_forecast(&open, today, 8);
    let gaps = db.reconciliation_gaps().await?;
    if json {
        let doc = serde_json::json!({
            "today": today,
            "obligations": obligations,
            "weekly_forecast": forecast,
            "reconciliation_gaps": gaps,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let mut table = Table::new([
        "provider",
        "currency",
        "outstanding",
        "due 7d",
        "due 14d",
        "due 30d",
        "late",
        "active plans",
    ])
    .right(&[2, 3, 4, 5, 6, 7]);
    for o in &obligations {
        table.row(vec![
            o.provider.clone(),
            o.currency.clone(),
            money(o.outstanding_minor, &o.currency),
            money(o.due_7d_minor, &o.currency),
            money(o.due_14d_minor, &o.currency),
            money(o.due_30d_minor, &o.currency),
            money(o.late_minor, &o.currency),
            o.active_plans.to_string(),
        ]);
    }
    print!("{}", table.render());
    println!("\ncash-flow forecast (weeks from Monday; overdue in the first week):");
    let mut weeks = Table::new(["week of", "currency", "amount", "installments"]).right(&[2, 3]);
    for w in &forecast {
        weeks.row(vec![
            w.week_start.to_string(),
            w.currency.clone(),
            money(w.amount_minor, &w.currency),
            w.installments.to_string(),
        ]);
    }
    print!("{}", weeks.render());
    if gaps.is_empty() {
        println!(
            "\nreconciliation: every balance and points snapshot equals the sum of its entries"
        );
    } else {
        println!("\nreconciliation gaps (snapshot minus entries):");
        let mut t = Table::new([
            "account", "kind", "ledger", "snapshot", "entries", "gap", "as of",
        ])
        .right(&[3, 4, 5]);
        for g in &gaps {
            let cur = g.currency.as_deref().unwrap_or("");
            let fmt = |v: i64| {
                if cur.is_empty() {
                    format!("{v} points")
                } else {
                    money(v, cur)
                }
            };
            t.row(vec![
                g.account.to_string(),
                g.kind.clone(),
                g.ledger.clone(),
                fmt(g.snapshot_minor),
                fmt(g.entries_minor),
                fmt(g.gap_minor),
                g.as_of.to_string(),
            ]);
        }
        print!("{}", t.render());
    }
    Ok(())
}

pub async fn purchases(config: &ConfigPath, args: PurchasesArgs) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    if let Some(plan) = &args.plan {
        bnpl_core::PlanKind::parse(plan).map_err(|e| anyhow::anyhow!("--plan: {e}"))?;
    }
    if let Some(status) = &args.status {
        status.parse::<bnpl_core::OrderStatus>().map_err(|_| {
            let known: Vec<&str> = bnpl_core::OrderStatus::variants()
                .iter()
                .map(|s| s.as_str())
                .collect();
            anyhow::anyhow!(
                "--status: unknown status {status:?}; known: {}",
                known.join(", ")
            )
        })?;
    }
    let rows: Vec<_> = db
        .purchases()
        .await?
        .into_iter()
        .filter(|p| args.status.as_ref().is_none_or(|s| &p.status == s))
        .filter(|p| args.plan.as_ref().is_none_or(|s| &p.plan == s))
        .collect();
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

pub async fn balance(config: &ConfigPath, args: BalanceArgs) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    let mirrors = account_mirrors(&db).await?;
    if args.json {
        let rows: Vec<serde_json::Value> = mirrors
            .iter()
            .map(|(key, mirror)| {
                serde_json::json!({
                    "account": key.to_string(),
                    "balances": mirror.balances,
                    "points": mirror.points,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", balances_table(&mirrors, true).render());
    Ok(ExitCode::SUCCESS)
}

/// Every account with its mirror, read once.
pub async fn account_mirrors(
    db: &Arc<dyn Database>,
) -> anyhow::Result<Vec<(bnpl_store::AccountKey, bnpl_store::AccountMirror)>> {
    let mut out = Vec::new();
    for account in db.accounts(None).await? {
        let mirror = db.mirror(&account.key).await?;
        out.push((account.key, mirror));
    }
    Ok(out)
}

/// The latest balance of each ledger and type, and the points when asked.
pub fn balances_table(
    mirrors: &[(bnpl_store::AccountKey, bnpl_store::AccountMirror)],
    with_points: bool,
) -> Table {
    let mut table = Table::new(["account", "ledger", "type", "balance", "as of"]).right(&[3]);
    for (key, mirror) in mirrors {
        for b in &mirror.balances {
            table.row(vec![
                key.to_string(),
                b.ledger.clone(),
                b.balance_type.clone(),
                b.amount.to_string(),
                b.as_of.format("%Y-%m-%d %H:%M").to_string(),
            ]);
        }
        if let Some(p) = mirror.points.as_ref().filter(|_| with_points) {
            table.row(vec![
                key.to_string(),
                "points".into(),
                "cashback".into(),
                format!("{} points", p.points),
                p.as_of.format("%Y-%m-%d %H:%M").to_string(),
            ]);
        }
    }
    table
}

pub async fn history(config: &ConfigPath, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let parts: Vec<&str> = args.installment.split('/').collect();
    let [provider, account, purchase, seq] = parts.as_slice() else {
        anyhow::bail!(
            "{:?}: expected PROVIDER/ACCOUNT/PURCHASE/SEQ as `bnpl due` shows it, e.g. klarna-us/kus_0001/p_8fa3c1/2",
            args.installment
        );
    };
    let seq: u32 = seq.parse().map_err(|_| {
        anyhow::anyhow!(
            "{:?}: the installment number {seq:?} is not a whole number",
            args.installment
        )
    })?;
    let db = open_configured(&config.load()?).await?;
    let key = bnpl_store::AccountKey::new(*provider, *account);
    let entries = db.installment_history(&key, purchase, seq).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!(
            "no recorded change for {} (unknown installment, or never changed)",
            args.installment
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(["changed at", "cause", "state", "due", "amount"]);
    for e in &entries {
        let arrow = |a: String, b: String| if a == b { a } else { format!("{a} -> {b}") };
        table.row(vec![
            e.changed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.cause.clone(),
            arrow(e.from_state.clone(), e.to_state.clone()),
            arrow(e.from_due.to_string(), e.to_due.to_string()),
            arrow(
                e.from_amount_minor.to_string(),
                e.to_amount_minor.to_string(),
            ),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}
