//! Server-side SVG charts a newsroom can publish: report bars (or an area for long ranges), the
//! baseline and its band up to the significance bound, incident shading, a titled time axis in
//! the reader's zone, a count axis, and an attribution line. Hand-written SVG: no fonts, no
//! system libraries, every text escaped.

use std::fmt::Write;

use crate::detect::Level;

/// One bar of the chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Axis label for this bar's start, in the reader's zone (shown for some bars).
    pub label: String,
    /// Reports.
    pub reports: f64,
    /// Baseline.
    pub baseline: f64,
    /// Significance bound.
    pub upper: f64,
    /// Level after the step.
    pub level: Level,
    /// Whether an incident was open during the step.
    pub in_incident: bool,
    /// Whether the time axis labels this step (a round time: on the hour, at midnight).
    pub tick: bool,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title, e.g. `ChatGPT: user-reported problems`.
    pub title: String,
    /// Second line, e.g. the range and the zone.
    pub subtitle: String,
    /// Attribution line under the chart.
    pub attribution: String,
    /// Bars, oldest first.
    pub bars: Vec<Bar>,
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 72.0;
const BOTTOM: f64 = 72.0;
/// Above this many steps the reports are drawn as an area, not bars.
const MAX_BARS: usize = 240;

/// Escapes text for SVG/XML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Controls and the non-characters U+FFFE/U+FFFF are not allowed in XML 1.0.
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A round axis maximum and tick step covering `max`.
fn nice_scale(max: f64) -> (f64, f64) {
    let max = max.max(1.0);
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
        .max(1.0);
    ((max / step).ceil() * step, step)
}

fn level_color(level: Level) -> &'static str {
    match level {
        Level::Normal => "#4a6fa5",
        Level::Elevated => "#e08a00",
        Level::Outage => "#c0392b",
    }
}

/// Renders the chart as a standalone SVG document.
pub fn render(chart: &Chart) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = chart.bars.len().max(1);
    let top_value = chart
        .bars
        .iter()
        .map(|b| b.reports.max(b.upper))
        .fold(0.0, f64::max);
    let (y_max, y_step) = nice_scale(top_value);
    let x = |i: f64| LEFT + plot_w * i / n as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / y_max);
    let mut svg = String::with_capacity(16 * 1024 + chart.bars.len() * 160);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" font-family="Helvetica, Arial, sans-serif">"#
    );
    let _ = write!(
        svg,
        r#"<title id="chart-title">{}</title><desc id="chart-desc">{}</desc>"#,
        escape(&chart.title),
        escape(&chart.subtitle)
    );
    svg.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="30" font-size="20" font-weight="bold" fill="#111">{}</text>"##,
        escape(&chart.title)
    );
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="52" font-size="13" fill="#555">{}</text>"##,
        escape(&chart.subtitle)
    );
    // Incident shading.
    let mut i = 0;
    while i < chart.bars.len() {
        if chart.bars[i].in_incident {
            let start = i;
            while i < chart.bars.len() && chart.bars[i].in_incident {
                i += 1;
            }
            let _ = write!(
                svg,
                r##"<rect class="incident" x="{:.1}" y="{TOP}" width="{:.1}" height="{plot_h}" fill="#fbe3e0"/>"##,
                x(start as f64),
                x(i as f64) - x(start as f64)
            );
        } else {
            i += 1;
        }
    }
    // Count axis and grid.
    let mut tick = 0.0;
    while tick <= y_max + 1e-9 {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#555" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            y(tick),
            y(tick),
            LEFT - 6.0,
            y(tick) + 4.0,
            crate::query::headline::thousands(crate::domain::whole(tick))
        );
        tick += y_step;
    }
    // Baseline band (baseline to significance bound) and baseline line.
    if !chart.bars.is_empty() {
        let mut band = String::new();
        for (i, b) in chart.bars.iter().enumerate() {
            let _ = write!(band, "{:.1},{:.1} ", x(i as f64 + 0.5), y(b.upper));
        }
        for (i, b) in chart.bars.iter().enumerate().rev() {
            let _ = write!(band, "{:.1},{:.1} ", x(i as f64 + 0.5), y(b.baseline));
        }
        let _ = write!(
            svg,
            r##"<polygon class="band" points="{}" fill="#9bb7d4" fill-opacity="0.35"/>"##,
            band.trim_end()
        );
    }
    // Reports.
    if chart.bars.len() <= MAX_BARS {
        let width = (plot_w / n as f64 * 0.8).max(0.5);
        for (i, b) in chart.bars.iter().enumerate() {
            let top = y(b.reports);
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{width:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                x(i as f64) + width * 0.125,
                top,
                (TOP + plot_h - top).max(0.0),
                level_color(b.level),
                escape(&b.label),
                crate::query::headline::thousands(crate::domain::whole(b.reports))
            );
        }
    } else {
        let mut area = format!("{:.1},{:.1} ", x(0.5), y(0.0));
        for (i, b) in chart.bars.iter().enumerate() {
            let _ = write!(area, "{:.1},{:.1} ", x(i as f64 + 0.5), y(b.reports));
        }
        let _ = write!(area, "{:.1},{:.1}", x(n as f64 - 0.5), y(0.0));
        let _ = write!(
            svg,
            r##"<polygon class="area" points="{area}" fill="#4a6fa5" fill-opacity="0.8"/>"##
        );
    }
    let mut line = String::new();
    for (i, b) in chart.bars.iter().enumerate() {
        let _ = write!(line, "{:.1},{:.1} ", x(i as f64 + 0.5), y(b.baseline));
    }
    let _ = write!(
        svg,
        r##"<polyline class="baseline" points="{}" fill="none" stroke="#1d3557" stroke-width="1.5" stroke-dasharray="4 3"/>"##,
        line.trim_end()
    );
    // Time axis: about six labels.
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );
    // The steps marked as ticks (round times); without any, about six evenly spaced.
    let every = chart.bars.len().div_ceil(6).max(1);
    let marked = chart.bars.iter().any(|b| b.tick);
    let ticks = chart
        .bars
        .iter()
        .enumerate()
        .filter(|(i, b)| if marked { b.tick } else { i % every == 0 });
    for (i, b) in ticks {
        let _ = write!(
            svg,
            r##"<text class="tick" x="{:.1}" y="{:.1}" font-size="11" fill="#555" text-anchor="middle">{}</text>"##,
            x(i as f64),
            TOP + plot_h + 18.0,
            escape(&b.label)
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{:.1}" font-size="11" fill="#555">Bars: reports per step (red: outage, orange: elevated). Dashed line: usual volume; band: up to the significance bound; shaded: incident.</text>"##,
        HEIGHT - 28.0
    );
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{:.1}" font-size="11" fill="#333">{}</text>"##,
        HEIGHT - 10.0,
        escape(&chart.attribution)
    );
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(reports: f64, in_incident: bool) -> Bar {
        Bar {
            label: "2:30 AM".into(),
            reports,
            baseline: 10.0,
            upper: 30.0,
            level: if in_incident {
                Level::Outage
            } else {
                Level::Normal
            },
            in_incident,
            tick: false,
        }
    }

    #[test]
    fn renders_an_escaped_standalone_document() {
        let chart = Chart {
            title: "<script>alert(1)</script> & co".into(),
            subtitle: "10 June 2025".into(),
            attribution: "Source: downwatch".into(),
            bars: vec![bar(5.0, false), bar(2014.0, true), bar(12.0, false)],
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
        assert!(svg.contains("class=\"incident\""));
        assert!(svg.contains("2:30 AM: 2,014</title>"));
        assert_eq!(svg.matches("class=\"bar\"").count(), 3);
    }

    #[test]
    fn only_marked_steps_are_labelled_when_some_are() {
        let mut bars: Vec<Bar> = (0..12).map(|_| bar(1.0, false)).collect();
        for (i, b) in bars.iter_mut().enumerate() {
            b.label = format!("L{i}");
            b.tick = i % 4 == 3;
        }
        let chart = Chart {
            title: "t".into(),
            subtitle: "s".into(),
            attribution: "a".into(),
            bars,
        };
        let svg = render(&chart);
        let labels: Vec<&str> = svg
            .split("class=\"tick\"")
            .skip(1)
            .filter_map(|rest| rest.split('>').nth(1))
            .map(|text| text.trim_end_matches("</text"))
            .collect();
        assert_eq!(labels, ["L3", "L7", "L11"]);
    }

    #[test]
    fn axis_scales_are_round() {
        assert_eq!(nice_scale(2014.0), (2500.0, 500.0));
        assert_eq!(nice_scale(7.0), (8.0, 2.0));
        assert_eq!(nice_scale(0.0), (1.0, 1.0));
    }
}
