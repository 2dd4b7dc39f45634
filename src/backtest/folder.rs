//! `downwatch backtest --input DIR --labels DIR --output DIR`: a whole folder of series.
//!
//! Every `*.csv` in the input folder is one series; its labels are the file of the same name in
//! the labels folder (a series without one has no labelled incidents), and its model output is
//! written under the same name in the output folder. One table row per series, then the totals.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::labels::{Evaluation, read_labels};
use super::{infer_step_minutes, read_rows, run, write_csv};
use crate::detect::Params;

/// One series of a folder run.
#[derive(Debug, Clone)]
pub struct SeriesResult {
    /// The file name.
    pub name: String,
    /// Its figures against its labels.
    pub evaluation: Evaluation,
}

/// The `*.csv` files of `dir`, sorted by name.
fn series_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no .csv files in {}", dir.display());
    Ok(files)
}

/// Runs every series of `input` with `params`, writing outputs to `output` (created if needed).
pub fn run_folder(
    input: &Path,
    labels: Option<&Path>,
    output: Option<&Path>,
    params: Params,
) -> anyhow::Result<Vec<SeriesResult>> {
    if let Some(output) = output {
        std::fs::create_dir_all(output)
            .with_context(|| format!("cannot create {}", output.display()))?;
    }
    let mut results = Vec::new();
    for path in series_files(input)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let open = |p: &Path| {
            std::fs::File::open(p)
                .map(std::io::BufReader::new)
                .with_context(|| format!("cannot open {}", p.display()))
        };
        let rows = read_rows(open(&path)?).with_context(|| path.display().to_string())?;
        let step = infer_step_minutes(&rows).with_context(|| path.display().to_string())?;
        let points = run(&rows, params, step);
        let labelled = match labels.map(|dir| dir.join(&name)) {
            Some(file) if file.exists() => {
                read_labels(open(&file)?).with_context(|| file.display().to_string())?
            }
            _ => Vec::new(),
        };
        if let Some(output) = output {
            let file = output.join(&name);
            let out = std::fs::File::create(&file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            write_csv(std::io::BufWriter::new(out), &rows, &points)?;
        }
        results.push(SeriesResult {
            name,
            evaluation: super::labels::evaluate(&points, &labelled, step),
        });
    }
    Ok(results)
}

/// The table of a folder run, with a totals row (the score is the mean of the series' scores).
pub fn table(results: &[SeriesResult]) -> String {
    let mut lines = vec![format!(
        "{:<28} {:>7} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6}",
        "series", "found", "p50 lat", "p90 lat", "false", "false/wk", "onset err", "score"
    )];
    let mut total = Evaluation::default();
    let row = |name: &str, e: &Evaluation| {
        let q = |v: &[f64], q: f64| crate::detect::score::quantile(v, q).unwrap_or(f64::NAN);
        let onset: Vec<f64> = e.onset_errors_minutes.iter().map(|x| x.abs()).collect();
        format!(
            "{:<28} {:>3}/{:<3} {:>9.0} {:>9.0} {:>6} {:>9.2} {:>9.0} {:>6.1}",
            name,
            e.found,
            e.labelled,
            q(&e.latencies_minutes, 0.5),
            q(&e.latencies_minutes, 0.9),
            e.false_incidents,
            e.false_per_week(),
            q(&onset, 0.5),
            e.score
        )
    };
    for result in results {
        lines.push(row(&result.name, &result.evaluation));
        total.merge(&result.evaluation);
    }
    total.score =
        results.iter().map(|r| r.evaluation.score).sum::<f64>() / results.len().max(1) as f64;
    lines.push(row("TOTAL", &total));
    lines.join("\n")
}
