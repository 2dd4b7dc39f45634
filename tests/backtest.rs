//! `downwatch backtest` with labels, one file and a folder: the binary end to end.

use std::path::Path;
use std::process::Command;

use downwatch::backtest::rfc3339;
use downwatch::detect::synthetic::{Series, seed_case};

fn write_series(dir: &Path, name: &str, series: &Series) {
    let mut csv = String::from("timestamp,value\n");
    for (i, v) in series.values.iter().enumerate() {
        csv.push_str(&format!("{},{}\n", rfc3339(series.time(i)), v));
    }
    std::fs::write(dir.join(name), csv).unwrap();
    let mut labels = String::from("start,end\n");
    for (from, to) in &series.truth {
        labels.push_str(&format!("{},{}\n", rfc3339(*from), rfc3339(*to)));
    }
    std::fs::create_dir_all(dir.join("labels")).unwrap();
    std::fs::write(dir.join("labels").join(name), labels).unwrap();
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dw-backtest-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn one_series_with_labels_prints_the_figures() {
    let dir = temp_dir();
    write_series(&dir, "seed.csv", &seed_case(2).coarsen(5));
    let out = Command::new(env!("CARGO_BIN_EXE_downwatch"))
        .args(["backtest", "--input"])
        .arg(dir.join("seed.csv"))
        .arg("--labels")
        .arg(dir.join("labels").join("seed.csv"))
        .arg("--output")
        .arg(dir.join("out.csv"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("found 1/1 labelled"), "{stderr}");
    assert!(stderr.contains("false incidents 0"), "{stderr}");
    assert!(stderr.contains("windowed score"), "{stderr}");
    let bad = Command::new(env!("CARGO_BIN_EXE_downwatch"))
        .args(["backtest", "--input"])
        .arg(dir.join("seed.csv"))
        .arg("--labels")
        .arg(dir.join("seed.csv"))
        .output()
        .unwrap();
    assert!(!bad.status.success(), "a series is not a label file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_prints_a_table_and_totals() {
    let dir = temp_dir();
    let input = dir.join("series");
    std::fs::create_dir_all(&input).unwrap();
    write_series(&input, "a.csv", &seed_case(3).coarsen(5));
    write_series(&input, "b.csv", &seed_case(4).coarsen(5));
    let out = Command::new(env!("CARGO_BIN_EXE_downwatch"))
        .args(["backtest", "--input"])
        .arg(&input)
        .arg("--labels")
        .arg(input.join("labels"))
        .arg("--output")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "header, two series, totals: {stdout}");
    assert!(lines[1].starts_with("a.csv") && lines[1].contains("1/1"));
    assert!(
        lines[3].starts_with("TOTAL") && lines[3].contains("2/2"),
        "{stdout}"
    );
    assert!(dir.join("out").join("b.csv").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
