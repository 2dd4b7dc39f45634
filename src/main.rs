//! The `downwatch` command: parses the command line and hands over to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use downwatch::app::{self, Application, StartOptions};
use downwatch::catalog::CatalogFile;
use downwatch::clock::{Clock, ScaledClock, SystemClock};
use downwatch::config::Settings;
use downwatch::db::{Db, services};
use downwatch::demo::{self, DemoOptions};
use downwatch::detect::Params;
use downwatch::simulate::{Pace, Scenario, SendOptions};

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
        /// Input CSV with header `timestamp,value`, or a folder of them.
        #[arg(long)]
        input: PathBuf,
        /// Output CSV (default: standard output), or a folder for a folder of inputs.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Labelled incidents: CSV rows `start,end` (RFC 3339), or a folder of them named as the
        /// inputs. Prints found/labelled, latency, false incidents, onset error and a score.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
    /// Send real HTTP reports to a running server following a scenario, then check that
    /// every acknowledged report is counted. The server must trust this machine as a proxy
    /// (DOWNWATCH_TRUSTED_PROXIES=127.0.0.1/32) to tell the simulated people apart.
    Simulate {
        /// The built-in scenario `chatgpt-2025-06-10`, or a scenario file (TOML).
        #[arg(long, default_value = "chatgpt-2025-06-10")]
        scenario: String,
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
        concurrency: u16,
        /// Scenario seconds per real second; without it, reports go as fast as the server takes them.
        #[arg(long)]
        speed: Option<f64>,
        /// Multiply the scenario's organic volume (floods are sent as written).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
    /// Replay the ChatGPT outage of 10 June 2025 into a fresh server on a fast clock and
    /// watch it get detected (own database and Redis prefix, removed afterwards).
    Demo {
        /// Simulated seconds per real second (180: the ten-hour scenario in under four minutes).
        #[arg(long, default_value_t = 180.0)]
        speed: f64,
        /// Port to serve the demo on (0: any free port); checked before anything is written.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Keep the data and keep serving after the replay, until Ctrl-C or SIGTERM.
        #[arg(long)]
        keep: bool,
        /// Multiply the scenario's volume.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
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
    if let Command::Backtest {
        input,
        output,
        labels,
    } = &cli.command
    {
        // Pure computation: no configuration, no services.
        let result = if input.is_dir() {
            backtest_folder(input, labels.as_deref(), output.as_deref())
        } else {
            backtest(input, output.as_deref(), labels.as_deref())
        };
        return match result {
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
    // The demo and the simulator print their own story; request logs would drown it.
    let quiet = matches!(cli.command, Command::Demo { .. } | Command::Simulate { .. });
    downwatch::telemetry::init_tracing(settings.log_format, if quiet { "warn" } else { "info" });
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

fn backtest_folder(
    input: &Path,
    labels: Option<&Path>,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let results =
        downwatch::backtest::folder::run_folder(input, labels, output, Params::default())?;
    println!("{}", downwatch::backtest::folder::table(&results));
    Ok(())
}

fn backtest(input: &Path, output: Option<&Path>, labels: Option<&Path>) -> anyhow::Result<()> {
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
    if let Some(path) = labels {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let labelled = downwatch::backtest::labels::read_labels(std::io::BufReader::new(file))
            .with_context(|| path.display().to_string())?;
        let evaluation = downwatch::backtest::labels::evaluate(&points, &labelled, step);
        eprintln!("{}", evaluation.summary());
    }
    Ok(())
}

async fn simulate(
    name: &str,
    url: String,
    concurrency: u16,
    speed: Option<f64>,
    scale: f64,
) -> anyhow::Result<()> {
    let scenario = match Scenario::builtin(name) {
        Some(scenario) => scenario,
        None => {
            let text = std::fs::read_to_string(name).with_context(|| {
                format!(
                    "{name} is neither a built-in scenario (chatgpt-2025-06-10) nor a readable file"
                )
            })?;
            Scenario::parse(&text).map_err(|errors| {
                let lines: Vec<String> = errors
                    .iter()
                    .map(|e| format!("  {}: {}", e.field, e.detail))
                    .collect();
                anyhow::anyhow!("{name} is not a valid scenario:\n{}", lines.join("\n"))
            })?
        }
    };
    anyhow::ensure!(
        scale > 0.0 && scale <= 1000.0,
        "--scale must be above 0 and at most 1000"
    );
    let pace = match speed {
        None => Pace::Unpaced,
        Some(speed) if speed.is_finite() && speed > 0.0 => {
            Pace::Clock(ScaledClock::new(scenario.start, speed))
        }
        Some(_) => anyhow::bail!("--speed must be a positive number"),
    };
    let options = SendOptions {
        base_url: url,
        concurrency: usize::from(concurrency),
        scale,
        pace,
        progress: true,
    };
    let report = downwatch::simulate::run(&scenario, &options).await?;
    print!("{report}");
    anyhow::ensure!(
        report.reconciled(),
        "the server's counts do not match what it acknowledged"
    );
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
        Command::Simulate {
            scenario,
            url,
            concurrency,
            speed,
            scale,
        } => simulate(&scenario, url, concurrency, speed, scale).await?,
        Command::Demo {
            speed,
            port,
            keep,
            scale,
        } => {
            anyhow::ensure!(
                speed.is_finite() && (1.0..=3600.0).contains(&speed),
                "--speed must be from 1 to 3600"
            );
            anyhow::ensure!(
                scale > 0.0 && scale <= 1000.0,
                "--scale must be above 0 and at most 1000"
            );
            let options = DemoOptions {
                speed,
                port,
                keep,
                scale,
            };
            let outcome = demo::run(settings, options).await?;
            anyhow::ensure!(
                outcome.run.reconciled(),
                "the server's counts do not match what it acknowledged"
            );
            anyhow::ensure!(
                outcome.detected_after.is_some(),
                "the seed outage was not detected"
            );
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
