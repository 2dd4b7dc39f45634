//! Hostile input over HTTP: generated report bodies, query parameters, path segments, headers
//! and admin writes against one running instance each. Whatever arrives, the answer is a
//! success or a problem+json naming the field at fault: never a 500, never a hang, and what a
//! client wrote never reaches a page, a chart or a header unescaped.
//!
//! Cases are generated with proptest's runner (a fresh seed per run; a failing case is printed
//! whole in the assertion message), a few hundred per property so the file runs in seconds.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, seed_onset};
use crate::incidents::store;

/// Inputs attackers try first (the unit tests' corpus has more; these reach every layer).
const NASTY: &[&str] = &[
    "'; DROP TABLE services; --",
    "' OR '1'='1",
    "]]; redis.call('FLUSHALL') --[[",
    "{svc:chatgpt}",
    "*",
    "../../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "chat\0gpt",
    "\0",
    "chаtgpt",
    "ｃｈａｔｇｐｔ",
    "chatgpt\u{200b}",
    "\u{202e}tpgtahc",
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "=HYPERLINK(\"http://evil.example\")",
    "@SUM(A1)",
    "a\r\nSet-Cookie: admin=1",
    "1e999999",
    "-1",
    "18446744073709551616",
    "99999999999999999999d",
    "NaN",
    "%00",
    "%ff",
    "😀",
    "",
    "chatgpt",
    "login",
    "US",
    "2025-06-10T06:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "0000-01-01T00:00:00+23:59",
    "15m",
    "1h",
    "90d",
    "America/New_York",
    "open",
    "200",
    "1749537360000-0",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(NASTY).prop_map(str::to_owned),
        "(?s).{0,24}",
        ("(?s).{0,4}", prop::sample::select(NASTY)).prop_map(|(a, b)| format!("{a}{b}")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `cases` values of `strategy`.
fn generate<S: Strategy>(strategy: S, cases: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::new(Config::default());
    (0..cases)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Percent-encodes everything but unreserved characters.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The answer is a success, or a problem+json whose `errors` name one of `fields`.
fn assert_answer(reply: &Reply, ok: &[u16], fields: &[&str], input: &dyn std::fmt::Debug) {
    let status = reply.status.as_u16();
    assert!(
        ok.contains(&status) || status == 400 || status == 404,
        "{status} for {input:?}: {}",
        reply.text
    );
    if status >= 400 {
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{input:?}: {}",
            reply.text
        );
        assert_eq!(reply.json["status"], status, "{input:?}: {}", reply.text);
        if status == 400 {
            let named: Vec<&str> = reply.json["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("no errors for {input:?}: {}", reply.text))
                .iter()
                .map(|e| e["field"].as_str().expect("a field name"))
                .collect();
            assert!(
                !named.is_empty() && named.iter().all(|f| fields.contains(f)),
                "{named:?} not among {fields:?} for {input:?}: {}",
                reply.text
            );
        }
    }
}

#[actix_web::test]
async fn generated_report_bodies_get_an_answer_or_a_problem_naming_the_field() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await;
    const KNOWN: &[&str] = &["service", "problem", "country", "reporter"];
    let field_value = prop_oneof![
        4 => text().prop_map(Value::String),
        1 => json_value(),
    ];
    let bodies = generate(
        prop::collection::btree_map(
            prop_oneof![
                8 => prop::sample::select(KNOWN).prop_map(str::to_owned),
                1 => text(),
            ],
            field_value,
            0..5,
        ),
        300,
    );
    // One valid report, so the key check at the end has keys to look at.
    let valid = app
        .report(json!({"service": "chatgpt", "problem": "login", "reporter": "valid-reporter"}))
        .await;
    assert_eq!(valid.status, 202);
    let mut counted = 1;
    for fields in &bodies {
        let body = Value::Object(fields.clone().into_iter().collect());
        let reply = app.report(body.clone()).await;
        let mut allowed: Vec<&str> = fields.keys().map(String::as_str).collect();
        allowed.extend(["service", "problem", "body"]);
        assert_answer(&reply, &[200, 202], &allowed, &body);
        if reply.status == 404 {
            assert_eq!(reply.json["errors"][0]["field"], "service", "{body}");
        }
        counted += usize::from(reply.status == 202);
    }
    // Raw bytes: invalid UTF-8, NUL, truncated and deeply nested JSON.
    let raws = generate(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80),
            text().prop_map(String::into_bytes),
            (1usize..5000).prop_map(|depth| format!(
                "{{\"service\": {}{}}}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes()),
        ],
        100,
    );
    for raw in raws {
        let reply = app
            .send_raw("/v1/reports", "application/json", raw.clone())
            .await;
        assert_answer(&reply, &[200, 202, 413], &["body", "service"], &raw);
    }
    // Only validated identifiers reach Redis keys.
    let keys: Vec<String> = {
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let mut conn = client.get_connection().unwrap();
        redis::cmd("KEYS")
            .arg(format!("{}:*", app.prefix))
            .query(&mut conn)
            .unwrap()
    };
    assert!(!keys.is_empty());
    for key in &keys {
        let rest = key.strip_prefix(&format!("{}:", app.prefix)).unwrap();
        assert!(
            rest.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"{}:-_".contains(&b)),
            "{key}"
        );
    }
    assert!(counted <= bodies.len() + 1);
}

#[actix_web::test]
async fn generated_query_parameters_never_fail_and_name_the_parameter() {
    let app = TestApp::builder()
        .start_at(seed_onset() + TimeDelta::hours(8))
        .spawn()
        .await;
    let id = store(&app, "chatgpt", seed_onset(), None, 120).await;
    let endpoints: Vec<(String, Vec<&str>)> = vec![
        (
            "/v1/services".into(),
            vec!["q", "category", "provider", "level", "include_archived"],
        ),
        ("/v1/services/chatgpt/minutes".into(), vec!["from", "to"]),
        (
            "/v1/services/chatgpt/curve".into(),
            vec!["from", "to", "step", "tz"],
        ),
        (
            "/v1/services/chatgpt/curve.csv".into(),
            vec!["from", "to", "step", "tz"],
        ),
        (
            "/v1/services/chatgpt/problems".into(),
            vec!["window", "step", "tz"],
        ),
        (
            "/v1/services/chatgpt/countries".into(),
            vec!["window", "step", "tz"],
        ),
        (
            "/v1/services/chatgpt/chart.svg".into(),
            vec!["range", "step", "tz"],
        ),
        (
            "/v1/incidents".into(),
            vec![
                "state", "service", "provider", "since", "until", "limit", "cursor",
            ],
        ),
        (format!("/v1/incidents/{id}"), vec!["tz"]),
        (format!("/v1/incidents/{id}/chart.svg"), vec!["tz"]),
    ];
    let cases = generate(
        (
            0..endpoints.len(),
            prop::collection::vec((0usize..8, text()), 1..4),
        ),
        300,
    );
    for (endpoint, params) in cases {
        let (path, names) = &endpoints[endpoint];
        let sent: BTreeMap<&str, String> = params
            .iter()
            .map(|(i, v)| (names[i % names.len()], v.clone()))
            .collect();
        let query: Vec<String> = sent
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let url = format!("{path}?{}", query.join("&"));
        let reply = app.get(&url).await;
        let mut fields: Vec<&str> = sent.keys().copied().collect();
        // Range rules name the bound at fault, which may be the one left out.
        if sent.contains_key("from") || sent.contains_key("to") || sent.contains_key("step") {
            fields.extend(["from", "to", "step"]);
        }
        assert_answer(&reply, &[200], &fields, &url);
    }
    // Query strings that are not even key=value UTF-8.
    for raw in [
        "%ff%fe=%00",
        "from=%E0%80%80",
        "q&q&q",
        "limit=1&limit=2",
        "=",
        "&&&",
    ] {
        let reply = app.get(&format!("/v1/incidents?{raw}")).await;
        assert_answer(&reply, &[200], &["query", "limit", "q"], &raw);
    }
}

#[actix_web::test]
async fn generated_path_segments_are_404_or_name_the_segment_and_never_echo_markup() {
    let app = TestApp::spawn().await;
    let segments = generate(text(), 150);
    for segment in segments {
        let encoded = encode(&segment);
        for template in [
            "/v1/services/{}",
            "/v1/services/{}/curve",
            "/v1/services/{}/badge.json",
            "/v1/incidents/{}",
        ] {
            let path = template.replace("{}", &encoded);
            let reply = app.get(&path).await;
            assert_answer(&reply, &[200], &["slug", "id", "path"], &path);
            assert!(!reply.text.contains("<script>"), "{path}: {}", reply.text);
        }
        for template in ["/s/{}", "/embed/{}", "/incidents/{}"] {
            let path = template.replace("{}", &encoded);
            let reply = app.get(&path).await;
            assert!(
                [200, 404].contains(&reply.status.as_u16()),
                "{path}: {}",
                reply.text
            );
            assert!(!reply.text.contains("<script>alert"), "{path}");
            assert!(!reply.text.contains("<img src=x"), "{path}");
        }
    }
}

#[actix_web::test]
async fn sql_and_lua_metacharacters_in_every_report_field_are_refused_by_name() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await;
    let valid = json!({"service": "chatgpt", "problem": "login", "country": "US", "reporter": "a-valid-token"});
    for nasty in NASTY {
        for field in ["service", "problem", "country", "reporter"] {
            let mut body = valid.clone();
            body[field] = json!(nasty);
            let reply = app.report(body.clone()).await;
            // A few corpus entries are valid values (`chatgpt`, `login`, `US`): those count.
            if [200, 202].contains(&reply.status.as_u16()) {
                continue;
            }
            let expected = if reply.status == 404 { 404 } else { 400 };
            reply.assert_problem(expected, Some(field));
        }
    }
    // The catalog is whole, and text filters are data, not code.
    let all = app.get("/v1/services").await;
    assert_eq!(all.json["count"], 35);
    for nasty in NASTY {
        let reply = app.get(&format!("/v1/services?q={}", encode(nasty))).await;
        assert_eq!(reply.status, 200, "{nasty:?}: {}", reply.text);
    }
    assert_eq!(app.get("/v1/services").await.json["count"], 35);
}

/// The markup characters of a document: a name that adds one was not escaped.
fn markup(text: &str) -> [usize; 3] {
    ['<', '>', '"'].map(|c| text.matches(c).count())
}

#[actix_web::test]
async fn generated_service_names_are_stored_exactly_and_escaped_everywhere_they_appear() {
    let app = TestApp::spawn().await;
    let create = |slug: String, name: String| {
        let app = &app;
        async move {
            app.admin(
                "POST",
                "/v1/services",
                &json!({"slug": slug, "name": name, "category": "ai", "problems": ["login"]}),
            )
            .await
        }
    };
    let documents = |slug: String| {
        let app = &app;
        async move {
            let mut out = Vec::new();
            for path in [
                format!("/s/{slug}"),
                format!("/embed/{slug}"),
                format!("/v1/services/{slug}/chart.svg"),
            ] {
                let reply = app.get(&path).await;
                assert_eq!(reply.status, 200, "{path}: {}", reply.text);
                out.push((path, reply.text));
            }
            out
        }
    };
    assert_eq!(
        create("reference".into(), "Reference".into()).await.status,
        201
    );
    let reference: Vec<[usize; 3]> = documents("reference".into())
        .await
        .iter()
        .map(|(_, text)| markup(text))
        .collect();
    let names = generate(text(), 40);
    for (i, name) in names.iter().enumerate() {
        let slug = format!("hostile-{i}");
        let reply = create(slug.clone(), name.clone()).await;
        if reply.status == 400 {
            reply.assert_problem(400, Some("name"));
            continue;
        }
        assert_eq!(reply.status, 201, "{name:?}: {}", reply.text);
        let stored = reply.json["name"].as_str().unwrap().to_owned();
        assert_eq!(stored, name.trim(), "stored as sent, trimmed");
        let badge = app.get(&format!("/v1/services/{slug}/badge.json")).await;
        assert_eq!(badge.json["label"], stored.as_str());
        for ((path, text), expected) in documents(slug).await.iter().zip(&reference) {
            assert_eq!(&markup(text), expected, "{path}: {name:?} added markup");
            if path.ends_with(".svg") {
                let mut reader = quick_xml::Reader::from_str(text);
                loop {
                    match reader.read_event() {
                        Ok(quick_xml::events::Event::Eof) => break,
                        Ok(_) => {}
                        Err(e) => panic!("malformed SVG for {name:?}: {e}"),
                    }
                }
            }
        }
    }
}

#[actix_web::test]
async fn service_names_with_bidi_controls_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    for (i, c) in [
        '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}',
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("Zoom {c}gnissim");
        let created = app
            .admin(
                "POST",
                "/v1/services",
                &json!({"slug": format!("bidi-{i}"), "name": name, "category": "ai"}),
            )
            .await;
        created.assert_problem(400, Some("name"));
        let code = format!("U+{:04X}", u32::from(c));
        assert!(created.text.contains(&code), "{}", created.text);
        let renamed = app
            .admin("PATCH", "/v1/services/chatgpt", &json!({"name": name}))
            .await;
        renamed.assert_problem(400, Some("name"));
    }
    assert_eq!(
        app.get("/v1/services/chatgpt").await.json["name"],
        "ChatGPT"
    );
}

#[actix_web::test]
async fn generated_header_values_never_fail() {
    let app = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await;
    // Header values are visible ASCII: what an attacker can put on the wire.
    let value = prop_oneof![
        "[ -~]{0,40}",
        prop::sample::select(
            &[
                "18446744073709551615-18446744073709551615",
                "0-18446744073709551615",
                "1-18446744073709551615",
                "0-0",
                "00000000000000000000000001-0",
                "9999999999999-0",
                "unknown, ::1, [::1]:80, 300.1.1.1, 1.2.3.4:99999",
                "for=\"[2001:db8::1]:4711\";by=_hidden, for=unknown",
                "application/json; charset=\"; boundary=",
                "Bearer \u{7f}",
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    let cases = generate((0usize..5, value), 300);
    let report = json!({"service": "chatgpt", "problem": "login"});
    for (which, value) in cases {
        let (path, header) = match which {
            0 => ("/v1/events", "last-event-id"),
            1 => ("/v1/reports", "x-forwarded-for"),
            2 => ("/v1/reports", "forwarded"),
            3 => ("/v1/reports", "content-type"),
            _ => ("/v1/services", "authorization"),
        };
        let request = if path == "/v1/events" {
            app.client.get(format!("{}{path}", app.address))
        } else {
            app.client.post(format!("{}{path}", app.address))
        };
        let request = if header == "content-type" {
            request.insert_header((header, value.as_str()))
        } else {
            request
                .insert_header(("content-type", "application/json"))
                .insert_header((header, value.as_str()))
        };
        let Ok(response) = request.send_body(report.to_string()).await else {
            continue; // the client itself refused the value
        };
        let status = response.status().as_u16();
        assert!(
            [200, 202, 400, 401, 415].contains(&status),
            "{status} for {header}: {value:?}"
        );
        if status >= 400 {
            assert_eq!(
                response.headers().get("content-type").unwrap(),
                "application/problem+json",
                "{header}: {value:?}"
            );
        }
    }
}
