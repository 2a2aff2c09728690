use std::process::ExitCode;

use crate::table::Table;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let registry = bnpl_providers::registry()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&registry)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(["id", "name", "status", "markets", "streams"]);
    for r in &registry {
        let streams: Vec<&str> = r.streams.iter().map(|s| s.as_str()).collect();
        table.row(vec![
            r.id.to_string(),
            r.display_name.to_string(),
            r.status.to_string(),
            r.markets.join(","),
            if streams.is_empty() {
                "(none yet)".to_string()
            } else {
                streams.join(",")
            },
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}
