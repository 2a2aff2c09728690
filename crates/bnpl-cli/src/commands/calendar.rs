//! `bnpl calendar`: upcoming installments as an iCalendar file (RFC 5545)
//! a person imports into their calendar.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bnpl_store::{InstallmentFilter, InstallmentView};
use chrono::{DateTime, NaiveDate, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

use crate::commands::views::money;
use crate::context::{ConfigPath, open_configured};

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the .ics file.
    #[arg(long)]
    out: PathBuf,
    /// How far ahead ("90d"); overdue installments are included.
    #[arg(long, default_value = "90d", value_parser = crate::commands::views::parse_days)]
    within: u64,
    /// Evaluate as of this date instead of today (YYYY-MM-DD).
    #[arg(long)]
    today: Option<NaiveDate>,
}

pub async fn run(config: &ConfigPath, args: Args) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    let today = args.today.unwrap_or_else(|| Utc::now().date_naive());
    let rows = db
        .installments(
            &InstallmentFilter {
                open_only: true,
                due_on_or_before: Some(today + chrono::Days::new(args.within)),
                ..Default::default()
            },
            today,
        )
        .await?;
    let text = render(&rows, Utc::now());
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} installment(s) to {}",
        rows.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One all-day event per installment, with a UID that stays the same across
/// exports so a calendar app updates an event instead of duplicating it.
pub fn render(rows: &[InstallmentView], stamp: DateTime<Utc>) -> String {
    let mut calendar = Calendar::new();
    calendar.name("BNPL installments");
    for r in rows {
        let amount = money(r.amount_minor + r.late_fee_minor, &r.currency);
        let event = Event::new()
            .uid(&format!(
                "{}-{}-{}-{}@bnpl",
                r.account.provider, r.account.account_id, r.purchase_id, r.seq
            ))
            .timestamp(stamp)
            .starts(r.due)
            .summary(&format!(
                "{amount} to {} ({})",
                r.merchant, r.account.provider
            ))
            .description(&format!(
                "Installment {} of purchase {} ({}), {}. State: {}.",
                r.seq, r.purchase_id, r.plan, amount, r.state
            ))
            .done();
        calendar.push(event);
    }
    calendar.done().to_string()
}

#[cfg(test)]
mod tests {
    use bnpl_core::InstallmentState;
    use bnpl_store::AccountKey;

    use super::*;

    fn row(seq: u32, due: &str, amount: i64) -> InstallmentView {
        InstallmentView {
            account: AccountKey::new("klarna-us", "kus_0001"),
            purchase_id: "p_1".into(),
            merchant: "Northwind, Outdoor; \"Gear\"".into(),
            plan: "pay_in_4".into(),
            seq,
            due: due.parse().unwrap(),
            amount_minor: amount,
            late_fee_minor: 0,
            currency: "USD".into(),
            state: InstallmentState::Scheduled,
        }
    }

    #[test]
    fn the_file_parses_with_an_independent_icalendar_parser() {
        let text = render(
            &[row(2, "2026-06-20", 1249), row(3, "2026-07-04", 1249)],
            "2026-06-08T12:00:00Z".parse().unwrap(),
        );
        let mut parser = ical::IcalParser::new(text.as_bytes());
        let calendar = parser
            .next()
            .expect("one calendar")
            .expect("valid iCalendar");
        assert!(parser.next().is_none());
        assert_eq!(calendar.events.len(), 2);
        let first = &calendar.events[0];
        let prop = |name: &str| {
            first
                .properties
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| p.value.clone())
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert_eq!(prop("UID"), "klarna-us-kus_0001-p_1-2@bnpl");
        assert_eq!(prop("DTSTART"), "20260620");
        assert!(
            prop("SUMMARY").starts_with("12.49 USD to Northwind"),
            "{}",
            prop("SUMMARY")
        );
        // Lines are CRLF-terminated as RFC 5545 requires.
        assert!(text.contains("BEGIN:VEVENT\r\n"));
    }
}
