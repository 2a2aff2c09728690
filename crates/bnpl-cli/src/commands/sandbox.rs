use std::net::SocketAddr;
use std::process::ExitCode;

use bnpl_sandbox::{Sandbox, SandboxConfig};

#[derive(clap::Args)]
pub struct Args {
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
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
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
    println!("Ctrl-C stops");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
