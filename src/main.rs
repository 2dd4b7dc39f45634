//! The `downwatch` command: parses the command line and hands over to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use downwatch::app::{self, Application, StartOptions};
use downwatch::catalog::CatalogFile;
use downwatch::clock::{Clock, SystemClock};
use downwatch::config::Settings;
use downwatch::db::{Db, services};
use downwatch::detect::Params;

/// Crowd-sourced outage reports: ingest, detection, incidents and queries.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare the database and serve HTTP (configuration comes from the environment).
    Serve {
        /// Do not create the database or apply migrations (for deployments that migrate separately).
        #[arg(long)]
        skip_migrations: bool,
    },
    /// Create the database if needed, apply pending migrations, and exit.
    Migrate,
    /// Replay a `timestamp,value` CSV through the production model; write baseline, upper,
    /// level and alarm per row, and a summary of incidents to stderr.
    Backtest {
        /// Input CSV with header `timestamp,value`.
        #[arg(long)]
        input: PathBuf,
        /// Output CSV (default: standard output).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Manage the service catalog.
    Services {
        #[command(subcommand)]
        command: ServicesCommand,
    },
}

#[derive(Subcommand)]
enum ServicesCommand {
    /// Upsert services from a catalog file (TOML, `[[service]]` tables); safe to re-run.
    Import {
        /// The catalog file, e.g. catalog/services.toml.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Backtest { input, output } = &cli.command {
        // Pure computation: no configuration, no services.
        return match backtest(input, output.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("downwatch backtest: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("downwatch: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    downwatch::telemetry::init_tracing(settings.log_format);
    let result = actix_web::rt::System::new().block_on(run(cli.command, settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "downwatch stopped");
            eprintln!("downwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn backtest(input: &Path, output: Option<&Path>) -> anyhow::Result<()> {
    use downwatch::backtest::{incidents, infer_step_minutes, read_rows, run, write_csv};
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let rows =
        read_rows(std::io::BufReader::new(file)).with_context(|| input.display().to_string())?;
    let step = infer_step_minutes(&rows).with_context(|| input.display().to_string())?;
    let points = run(&rows, Params::default(), step);
    match output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            write_csv(std::io::BufWriter::new(file), &rows, &points)?;
        }
        None => write_csv(
            std::io::BufWriter::new(std::io::stdout().lock()),
            &rows,
            &points,
        )?,
    }
    let found = incidents(&rows, &points);
    eprintln!(
        "{} rows at a {step}-minute step; {} incident(s)",
        rows.len(),
        found.len()
    );
    for incident in found {
        eprintln!(
            "incident: start {}, peak {} ({} reports), end {}, highest level {}",
            incident.start,
            incident.peak,
            incident.peak_value,
            incident.end.as_deref().unwrap_or("(still open)"),
            incident.highest
        );
    }
    Ok(())
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Backtest { .. } => unreachable!("handled before configuration is read"),
        Command::Serve { skip_migrations } => {
            let options = StartOptions {
                skip_migrations,
                ..StartOptions::default()
            };
            let application = Application::build(settings, Arc::new(SystemClock), options).await?;
            application.run_until_stopped().await?;
            tracing::info!("downwatch stopped cleanly");
        }
        Command::Migrate => {
            app::prepare_database(&settings.database_url).await?;
            println!("migrations are up to date");
        }
        Command::Services {
            command: ServicesCommand::Import { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let catalog = CatalogFile::parse(&text).map_err(|errors| {
                let lines: Vec<String> = errors
                    .iter()
                    .map(|e| format!("  {}: {}", e.field, e.detail))
                    .collect();
                anyhow::anyhow!(
                    "{} is not a valid catalog:\n{}",
                    file.display(),
                    lines.join("\n")
                )
            })?;
            app::prepare_database(&settings.database_url).await?;
            // A whole catalog upserts in one transaction: give it longer than a request gets.
            let db = Db::new(
                &settings.database_url,
                settings.database_timeout.max(Duration::from_secs(60)),
                2,
            )?;
            let summary = services::import(&db, &catalog.services, SystemClock.now()).await?;
            println!(
                "imported {}: {} inserted, {} updated, {} unchanged",
                file.display(),
                summary.inserted,
                summary.updated,
                summary.unchanged
            );
        }
    }
    Ok(())
}
