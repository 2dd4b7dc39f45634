//! Sparklines for the board, drawn as a tiny inline SVG (the data: `query::sparks`).

use std::fmt::Write;

use maud::{Markup, PreEscaped, html};

const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 32.0;

/// The sparkline: a line with the area under it, scaled to its own peak (at least 4 reports,
/// so a quiet service stays flat instead of showing noise as a mountain range).
pub fn svg(series: &[f64], label: &str) -> Markup {
    let peak = series.iter().copied().fold(4.0, f64::max);
    let n = series.len().max(2) - 1;
    let mut line = String::new();
    for (i, v) in series.iter().enumerate() {
        let x = WIDTH * i as f64 / n as f64;
        let y = HEIGHT - 1.0 - (HEIGHT - 2.0) * v / peak;
        let _ = write!(line, "{x:.1},{y:.1} ");
    }
    let line = line.trim_end().to_owned();
    let area = format!("0,{HEIGHT} {line} {WIDTH},{HEIGHT}");
    html! {
        svg.spark xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            preserveAspectRatio="none" role="img" aria-label=(label) focusable="false" {
            polygon.spark-area points=(area) {}
            polyline.spark-line points=(PreEscaped(&line)) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_spans_the_box_and_scales_to_its_peak() {
        let svg = svg(&[0.0, 2.0, 8.0, 0.0], "label").into_string();
        assert!(svg.contains("points=\"0.0,31.0 40.0,23.5 80.0,1.0 120.0,31.0\""));
        assert!(svg.contains("aria-label=\"label\""));
        let flat = super::svg(&[1.0, 1.0], "x").into_string();
        assert!(flat.contains("0.0,23.5 120.0,23.5"), "{flat}");
    }
}
