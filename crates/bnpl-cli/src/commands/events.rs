//! `bnpl events`: the outbox, read the way a consumer reads it.

use std::process::ExitCode;

use crate::context::{ConfigPath, open_configured};
use crate::table::Table;

#[derive(clap::Args)]
#[command(after_help = "\
Prints the changes bnpl wrote, oldest first. A consumer remembers the id of \
the last event it handled and passes it to --after next time. An account's \
first sync writes one stream.backfilled event per stream instead of an event \
per row, and an import one stream.imported: read the tables then \
(docs/schema.md, events).")]
pub struct Args {
    /// Only events with a larger id (the last id you handled).
    #[arg(long, default_value_t = 0)]
    after: i64,
    /// At most this many events.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// The events with their payloads, as a JSON array.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: &ConfigPath, args: Args) -> anyhow::Result<ExitCode> {
    let db = open_configured(&config.load()?).await?;
    let events = db.events_after(args.after, args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(["id", "account", "kind", "object", "occurred at"]);
    for e in &events {
        table.row(vec![
            e.id.to_string(),
            e.account.to_string(),
            e.kind.clone(),
            e.object_id.clone(),
            e.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    print!("{}", table.render());
    match events.last() {
        Some(last) if events.len() == args.limit as usize => {
            println!("more may follow: bnpl events --after {}", last.id)
        }
        Some(last) => println!("last id: {}", last.id),
        None => println!("no event after id {}", args.after),
    }
    Ok(ExitCode::SUCCESS)
}
