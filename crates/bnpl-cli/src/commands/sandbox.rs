use std::net::SocketAddr;
use std::process::ExitCode;

use bnpl_sandbox::{Sandbox, SandboxConfig};
use bnpl_sandbox_psd2::{Psd2Config, Psd2Sandbox};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Without a subcommand: serve the sandbox.
    #[command(subcommand)]
    command: Option<SandboxCommand>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Seed of the generated data set: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of accounts.
    #[arg(long, default_value_t = 3)]
    accounts: usize,
    /// Purchases per account.
    #[arg(long, default_value_t = 12)]
    purchases: usize,
    /// Port on 127.0.0.1 of the PSD2 (Berlin Group) bank for klarna-eu (0 picks a free one).
    #[arg(long, default_value_t = 8788)]
    psd2_port: u16,
}

#[derive(clap::Subcommand)]
pub enum SandboxCommand {
    /// Write native export files (purchases.csv, balance.csv) of any size,
    /// streamed from the sandbox's generator, for `bnpl import`.
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// About this many purchases.csv rows (at least this many).
    #[arg(long)]
    rows: u64,
    /// Directory to write purchases.csv and balance.csv into (created if missing).
    #[arg(long)]
    out: std::path::PathBuf,
    /// Seed of the generated data set.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let written = bnpl_sandbox::write_large_export(&args.out, args.rows, args.seed)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
    println!(
        "wrote {} purchase rows and {} balance rows ({} generated accounts) to {} in {:.1}s",
        written.purchase_rows,
        written.balance_rows,
        written.accounts,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(SandboxCommand::Export(export_args)) = args.command {
        return tokio::task::spawn_blocking(move || export(export_args)).await?;
    }
    let sandbox = Sandbox::new(SandboxConfig {
        seed: args.seed,
        accounts: args.accounts,
        purchases_per_account: args.purchases,
        ..SandboxConfig::default()
    });
    let running = sandbox
        .serve(SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await?;
    println!(
        "sandbox serving the Klarna US contract at {}",
        running.base_url
    );
    println!("credentials: GET {}/__sandbox/accounts", running.base_url);
    println!(
        "advance the clock: POST {}/__sandbox/advance {{\"days\": 7}}",
        running.base_url
    );
    let psd2 = Psd2Sandbox::new(Psd2Config::new(args.seed, chrono::Utc::now()));
    let psd2_running = psd2
        .serve(SocketAddr::from(([127, 0, 0, 1], args.psd2_port)))
        .await?;
    let psd2_url = &psd2_running.base_url;
    println!(
        "\nsandbox serving the PSD2 (Berlin Group NextGenPSD2 AIS) bank for klarna-eu at {psd2_url}"
    );
    println!("EUR and SEK accounts: {}", psd2.ibans().join(", "));
    println!("use it from bnpl.toml:");
    println!("  [providers.klarna_eu]\n  enabled = true\n  base_url = \"{psd2_url}\"");
    println!(
        "create a consent (decoupled SCA, approved after two status polls):\n  \
         bnpl consent create klarna-eu --account-id eu-1 --recurring --psu-ip 192.0.2.10"
    );
    println!(
        "advance its clock: POST {psd2_url}/sandbox/clock/advance?seconds=86400; \
         end a consent: POST {psd2_url}/sandbox/consents/{{id}}/expire"
    );
    println!("Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    psd2_running.shutdown().await;
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::Args,
    }

    #[test]
    fn plain_sandbox_still_serves_and_export_is_a_subcommand() {
        let serve = Cli::try_parse_from(["sandbox", "--port", "0"]).unwrap();
        assert!(serve.args.command.is_none());
        assert_eq!(serve.args.port, 0);
        let export =
            Cli::try_parse_from(["sandbox", "export", "--rows", "10", "--out", "/tmp/x"]).unwrap();
        match export.args.command {
            Some(super::SandboxCommand::Export(e)) => {
                assert_eq!((e.rows, e.seed), (10, 42));
            }
            None => panic!("export not parsed"),
        }
    }

    #[test]
    fn export_writes_files_that_import_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x");
        super::export(super::ExportArgs {
            rows: 100,
            out: out.clone(),
            seed: 3,
        })
        .unwrap();
        for (name, kind) in [
            ("purchases.csv", bnpl_import::ExportKind::Purchases),
            ("balance.csv", bnpl_import::ExportKind::Balance),
        ] {
            let text = std::fs::read_to_string(out.join(name)).unwrap();
            let first = text.lines().next().unwrap();
            assert_eq!(bnpl_import::ExportKind::detect(first), Some(kind));
        }
    }
}
