use std::process::ExitCode;

use anyhow::bail;
use bnpl_sync::Engine;

use crate::context::{ConfigPath, open_configured};

#[derive(clap::Args)]
pub struct Args {
    /// Sync every stream of every account once, print the report and exit.
    #[arg(long)]
    once: bool,
    /// With --once: print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: &ConfigPath, args: Args) -> anyhow::Result<ExitCode> {
    let settings = config.load()?;
    let (providers, problems) = settings.providers(&Default::default())?;
    for p in &problems {
        eprintln!("warning: {}", p.error);
    }
    if providers.is_empty() {
        bail!(
            "no provider is enabled: set enabled = true under [providers.<id>] in bnpl.toml (see `bnpl providers`)"
        );
    }
    let db = open_configured(&settings).await?;
    let engine = Engine::new(db, providers, settings.sync.clone())
        .with_observer(crate::progress::observer());
    if args.once {
        let report = engine.run_once().await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{report}");
        }
        return Ok(if report.failed_accounts() > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    tracing::info!("syncing continuously; Ctrl-C stops");
    engine
        .run_forever(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}
