//! `bnpl`: mirror buy-now-pay-later accounts into one database.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod context;
mod logging;
mod obligations;
mod progress;
mod table;

#[derive(Parser)]
#[command(
    name = "bnpl",
    version,
    about = "Mirror buy-now-pay-later accounts into one database"
)]
struct Cli {
    /// Config file (default ./bnpl.toml; BNPL_* variables override it).
    #[arg(long, global = true, env = "BNPL_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every registered provider with its status and streams.
    Providers(commands::providers::Args),
    /// Add, import and list the accounts to mirror (stored in the database).
    #[command(subcommand)]
    Accounts(commands::accounts::Command),
    /// Sync every enabled account: once, or continuously at each stream's cadence.
    Sync(commands::sync::Args),
    /// PSD2 consents (klarna-eu): create with the holder's approval, refresh, revoke.
    #[command(subcommand)]
    Consent(commands::consent::Command),
    /// Backfill an account from the provider's native export files (CSV).
    Import(commands::import::Args),
    /// Serve the built-in provider sandbox on loopback.
    Sandbox(commands::sandbox::Args),
    /// Mirror sandbox accounts into a fresh database and show what you get.
    Demo(commands::demo::Args),
    /// Installments due soon, across providers.
    Due(commands::views::DueArgs),
    /// What is owed, per provider and currency.
    Summary(commands::views::SummaryArgs),
    /// Purchases with their plans.
    Purchases(commands::views::PurchasesArgs),
    /// Deposit balances and cashback points per account.
    Balance(commands::views::BalanceArgs),
    /// Every recorded change of one installment: when, why, from what to what.
    History(commands::views::HistoryArgs),
    /// The changes bnpl wrote (the outbox), oldest first.
    Events(commands::events::Args),
    /// Write upcoming installments as an iCalendar (.ics) file.
    Calendar(commands::calendar::Args),
    /// Benchmark: sync a sandbox of a given size and measure every phase.
    Bench(commands::bench::Args),
    /// The sandbox child process of `bnpl bench` (driven over stdin).
    #[command(hide = true)]
    BenchSandbox(commands::bench::SandboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread starts (see bnpl_malloc). The built-in sandbox
    // stands in for a provider's servers, so it keeps glibc's default: the
    // benchmark's provider side is not bnpl's to tune.
    let arenas = match cli.command {
        Command::Sandbox(_) | Command::BenchSandbox(_) => None,
        _ => Some(bnpl_malloc::limit_arenas()),
    };
    logging::init(cli.log_format);
    tracing::debug!(?arenas, "malloc arenas");
    // The provider registry must be complete before anything reads it.
    if let Err(e) = bnpl_providers::registry() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = context::ConfigPath::new(cli.config);
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Providers(args) => commands::providers::run(args),
            Command::Accounts(cmd) => commands::accounts::run(&config, cmd).await,
            Command::Sync(args) => commands::sync::run(&config, args).await,
            Command::Consent(cmd) => commands::consent::run(&config, cmd).await,
            Command::Import(args) => commands::import::run(&config, args).await,
            Command::Sandbox(args) => commands::sandbox::run(args).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Due(args) => commands::views::due(&config, args).await,
            Command::Summary(args) => commands::views::summary(&config, args).await,
            Command::Purchases(args) => commands::views::purchases(&config, args).await,
            Command::Balance(args) => commands::views::balance(&config, args).await,
            Command::History(args) => commands::views::history(&config, args).await,
            Command::Events(args) => commands::events::run(&config, args).await,
            Command::Calendar(args) => commands::calendar::run(&config, args).await,
            Command::Bench(args) => commands::bench::run(args).await,
            Command::BenchSandbox(args) => commands::bench::serve_child(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
