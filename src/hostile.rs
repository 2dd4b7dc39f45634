//! Property tests of every parser that reads outside input: no panic, and every refusal names
//! what was wrong. The strategies mix arbitrary text with the inputs attackers reach for first:
//! SQL and Lua metacharacters, Redis hash tags, path traversal, NUL and control bytes, unicode
//! look-alikes and direction overrides, markup, spreadsheet formulas, header injection and
//! numbers no type holds.
//!
//! Case counts are chosen so the whole module runs in a few seconds in a debug build.

use proptest::prelude::*;

/// Inputs attackers try first.
pub const NASTY: &[&str] = &[
    "",
    " ",
    "'; DROP TABLE services; --",
    "' OR '1'='1",
    "\"; SELECT pg_sleep(10); --",
    "$$; COPY services TO '/tmp/x'; $$",
    "]]; redis.call('FLUSHALL') --[[",
    "redis.call('DEL', KEYS[1])",
    "{svc:chatgpt}",
    "dw:{svc:chatgpt}:*",
    "*",
    "../../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd\0.png",
    "chat\0gpt",
    "\0",
    "chаtgpt",
    "ｃｈａｔｇｐｔ",
    "chatgpt\u{200b}",
    "\u{202e}tpgtahc",
    "ＣＨＡＴＧＰＴ",
    "chatgpt\u{0301}",
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "]]></title><script>alert(1)</script>",
    "=HYPERLINK(\"http://evil.example\",\"x\")",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\tx",
    "a\r\nSet-Cookie: admin=1",
    "\r\n\r\n<html>",
    "1e999999",
    "-1",
    "-0",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999d",
    "NaN",
    "inf",
    "%00",
    "%ff%fe",
    "\u{feff}",
    "\u{fffe}",
    "😀😀😀",
    "\u{10ffff}",
];

/// Text: one of [`NASTY`], arbitrary unicode (controls and NUL included), or a nasty input
/// with arbitrary text around it.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(NASTY).prop_map(str::to_owned),
        "(?s).{0,40}",
        ("(?s).{0,8}", prop::sample::select(NASTY), "(?s).{0,8}")
            .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ]
}

/// Bytes: arbitrary (invalid UTF-8 included) or the UTF-8 of [`text`].
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        text().prop_map(String::into_bytes),
    ]
}

/// A JSON value a client could send, up to a few levels deep, with hostile strings and
/// numbers no integer type holds.
pub fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{MAX_VALUE, infer_step_minutes, read_rows, run};
    use crate::catalog::CatalogFile;
    use crate::chart::{Bar, Chart, render};
    use crate::detect::{Level, Params};
    use crate::domain::{CountryCode, DisplayName, Label, ProblemKind, ReporterToken, ServiceSlug};
    use crate::events::parse_id;
    use crate::http::params::{parse_duration, parse_time};
    use crate::query::points::{Step, csv_cell};
    use crate::simulate::scenario::Scenario;
    use crate::time::parse_zone;

    /// A refusal must say something.
    fn said(result: Result<impl Sized, String>) -> bool {
        result.err().is_none_or(|e| !e.trim().is_empty())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn value_parsers_never_panic_and_explain_refusals(s in text()) {
            prop_assert!(said(ServiceSlug::parse(&s)));
            prop_assert!(said(ProblemKind::parse(&s)));
            prop_assert!(said(Label::parse(&s)));
            prop_assert!(said(CountryCode::parse(&s)));
            prop_assert!(said(ReporterToken::parse(&s)));
            prop_assert!(said(DisplayName::parse(&s)));
            prop_assert!(said(parse_time(s.clone())));
            prop_assert!(said(parse_duration(&s, 15, 90 * 1440, "15m or 1h")));
            prop_assert!(said(Step::parse(&s)));
            prop_assert!(said(parse_zone(&s)));
            let _ = parse_id(&s);
        }

        #[test]
        fn accepted_identifiers_are_plain_ascii(s in text()) {
            // What reaches Redis keys, Lua arguments, SQL parameters, URLs and file names.
            for accepted in [
                ServiceSlug::parse(&s).map(|v| v.to_string()),
                ProblemKind::parse(&s).map(|v| v.to_string()),
                Label::parse(&s).map(|v| v.to_string()),
            ].into_iter().flatten() {
                prop_assert!(accepted.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert!(!accepted.starts_with('-'));
            }
            if let Ok(code) = CountryCode::parse(&s) {
                prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_uppercase()));
            }
            if ReporterToken::parse(&s).is_ok() {
                prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            }
            if let Ok(name) = DisplayName::parse(&s) {
                prop_assert!(!name.as_str().chars().any(char::is_control));
                let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
                prop_assert!(!name.as_str().chars().any(bidi));
            }
        }

        #[test]
        fn csv_cells_never_start_a_formula_and_read_back(s in text()) {
            let cell = csv_cell(&s);
            let inner = match cell.strip_prefix('"') {
                Some(rest) => {
                    let body = rest.strip_suffix('"').expect("a quoted cell ends with a quote");
                    prop_assert!(!body.replace("\"\"", "").contains('"'), "{cell:?}");
                    body.replace("\"\"", "\"")
                }
                None => {
                    prop_assert!(!cell.contains([',', '"', '\n', '\r']), "{cell:?}");
                    cell.clone()
                }
            };
            prop_assert!(!inner.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
            prop_assert_eq!(inner.strip_prefix('\'').filter(|_| inner != s).unwrap_or(&inner), s.as_str());
        }

        #[test]
        fn event_ids_are_digits_dash_digits(s in text()) {
            if parse_id(&s).is_some() {
                prop_assert!(s.split('-').count() == 2 && s.bytes().all(|b| b.is_ascii_digit() || b == b'-'), "{s:?}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn catalog_files_never_panic_and_name_the_entry_or_file(
            fields in prop::collection::vec((prop::sample::select(&["slug", "name", "category", "provider", "problems", "color"][..]), text()), 0..6),
            raw in text(),
        ) {
            let mut doc = String::from("[[service]]\n");
            for (key, value) in &fields {
                let value = serde_json::to_string(value).unwrap();
                if *key == "problems" {
                    doc.push_str(&format!("{key} = [{value}]\n"));
                } else {
                    doc.push_str(&format!("{key} = {value}\n"));
                }
            }
            for text in [doc, raw] {
                if let Err(errors) = CatalogFile::parse(&text) {
                    prop_assert!(!errors.is_empty());
                    for e in &errors {
                        prop_assert!(e.field == "file" || e.field.starts_with("service["), "{e:?}");
                        prop_assert!(!e.detail.is_empty());
                    }
                }
            }
        }

        #[test]
        fn scenario_files_never_panic(raw in text()) {
            if let Err(errors) = Scenario::parse(&raw) {
                prop_assert!(errors.iter().all(|e| !e.field.is_empty() && !e.detail.is_empty()));
            }
        }

        #[test]
        fn backtest_csv_never_panics_and_names_the_line(
            lines in prop::collection::vec(prop_oneof![
                text(),
                (0i64..4_000_000_000, text()).prop_map(|(t, v)| format!("{},{v}", crate::backtest::rfc3339(t))),
                (0i64..4_000_000_000, any::<f64>()).prop_map(|(t, v)| format!("{},{v:e}", crate::backtest::rfc3339(t))),
            ], 0..8),
            raw in bytes(),
        ) {
            let text = format!("timestamp,value\n{}", lines.join("\n"));
            for input in [text.into_bytes(), raw] {
                match read_rows(input.as_slice()) {
                    Ok(rows) => {
                        prop_assert!(rows.iter().all(|r| r.value.is_finite() && r.value >= 0.0));
                        if let Ok(step) = infer_step_minutes(&rows) {
                            let points = run(&rows, Params::default(), step);
                            prop_assert_eq!(points.len(), rows.len());
                        }
                    }
                    Err(e) => {
                        prop_assert!(e.line >= 1 && !e.message.is_empty());
                        // A hostile line is quoted back, never interpreted.
                        prop_assert!(!e.message.contains('\n'), "{e:?}");
                    }
                }
            }
        }

        #[test]
        fn charts_stay_well_formed_svg_whatever_the_text(
            title in text(),
            subtitle in text(),
            label in text(),
            reports in prop::collection::vec(0.0..1e12f64, 0..6),
        ) {
            let chart = Chart {
                title: title.clone(),
                subtitle,
                attribution: "Source: downwatch".to_owned(),
                bars: reports.iter().map(|r| Bar {
                    label: label.clone(),
                    reports: *r,
                    baseline: 1.0,
                    upper: 2.0,
                    level: Level::Normal,
                    in_incident: false,
                    tick: false,
                }).collect(),
            };
            let svg = render(&chart);
            let mut reader = quick_xml::Reader::from_str(&svg);
            let mut depth = 0i32;
            loop {
                match reader.read_event() {
                    Ok(quick_xml::events::Event::Start(e)) => {
                        depth += 1;
                        prop_assert!(e.name().as_ref() != b"script");
                    }
                    Ok(quick_xml::events::Event::End(_)) => depth -= 1,
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => {}
                    Err(e) => prop_assert!(false, "malformed SVG for {title:?}: {e}"),
                }
            }
            prop_assert!(svg.contains(&crate::chart::escape(&title)));
            prop_assert_eq!(depth, 0);
        }
    }

    proptest! {
        // The model runs per case: fewer cases, each a longer series.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn backtest_runs_with_counts_up_to_the_largest_accepted(
            values in prop::collection::vec(prop_oneof![Just(0.0), Just(MAX_VALUE), Just(f64::MIN_POSITIVE), 0.0..MAX_VALUE, 0.0..1.0f64], 3..40),
        ) {
            let text: String = std::iter::once("timestamp,value\n".to_owned())
                .chain((0_i64..).zip(&values).map(|(i, v)| format!("{},{v:e}\n", crate::backtest::rfc3339(1_750_000_000 + 60 * i))))
                .collect();
            let rows = read_rows(text.as_bytes()).unwrap();
            let points = run(&rows, Params::default(), infer_step_minutes(&rows).unwrap());
            prop_assert_eq!(points.len(), values.len());
        }
    }
}
