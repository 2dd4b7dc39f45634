//! Atom feeds: well-formed XML with Atom's required elements, listing the right incidents, and
//! offered by the pages.

use chrono::TimeDelta;
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::helpers::{TestApp, seed_onset};
use crate::incidents::store;

/// A feed reduced to what Atom requires: the feed's own children, and each entry's.
#[derive(Debug, Default)]
struct Feed {
    root: String,
    namespace: String,
    children: Vec<String>,
    entries: Vec<Vec<(String, String)>>,
}

/// Parses `xml` with an XML parser; fails on anything not well-formed.
fn parse(xml: &str) -> Feed {
    let mut reader = Reader::from_str(xml);
    let mut feed = Feed::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let (name, empty) = match &event {
            Event::Start(e) => (
                String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
                false,
            ),
            Event::Empty(e) => (String::from_utf8(e.name().as_ref().to_vec()).unwrap(), true),
            Event::Text(t) => {
                text.push_str(&t.decode().unwrap());
                continue;
            }
            Event::GeneralRef(r) => {
                text.push_str(&format!("&{};", String::from_utf8_lossy(r)));
                continue;
            }
            Event::End(_) => {
                let closed = path.pop().unwrap();
                if path.len() == 2 && path[1] == "entry" {
                    let entry = feed.entries.last_mut().unwrap();
                    entry.push((closed, std::mem::take(&mut text)));
                }
                text.clear();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if let Event::Start(e) | Event::Empty(e) = &event {
            if path.is_empty() {
                feed.root = name.clone();
                feed.namespace = e
                    .try_get_attribute("xmlns")
                    .unwrap()
                    .map(|a| String::from_utf8(a.value.to_vec()).unwrap())
                    .unwrap_or_default();
            } else if path.len() == 1 {
                feed.children.push(name.clone());
                if name == "entry" {
                    feed.entries.push(Vec::new());
                }
            } else if path.len() == 2 && path[1] == "entry" && empty {
                let rel = e
                    .try_get_attribute("rel")
                    .unwrap()
                    .map(|a| String::from_utf8(a.value.to_vec()).unwrap())
                    .unwrap_or_default();
                feed.entries.last_mut().unwrap().push((name.clone(), rel));
            }
        }
        if !empty {
            path.push(name);
        }
        text.clear();
    }
    feed
}

fn assert_atom(feed: &Feed) {
    assert_eq!(feed.root, "feed");
    assert_eq!(feed.namespace, "http://www.w3.org/2005/Atom");
    for required in ["id", "title", "updated", "author"] {
        assert!(
            feed.children.iter().any(|c| c == required),
            "feed lacks {required}: {feed:?}"
        );
    }
    assert!(feed.children.iter().any(|c| c == "link"), "{feed:?}");
    for entry in &feed.entries {
        for required in ["id", "title", "updated"] {
            assert!(
                entry.iter().any(|(n, _)| n == required),
                "entry lacks {required}: {entry:?}"
            );
        }
        assert!(
            entry
                .iter()
                .any(|(n, rel)| n == "link" && rel == "alternate"),
            "an entry links to its page: {entry:?}"
        );
    }
}

fn ids(feed: &Feed) -> Vec<String> {
    feed.entries
        .iter()
        .map(|e| e.iter().find(|(n, _)| n == "id").unwrap().1.clone())
        .collect()
}

fn title_of(feed: &Feed, id: &str) -> String {
    let entry = feed
        .entries
        .iter()
        .find(|e| e.iter().any(|(n, v)| n == "id" && v == id))
        .unwrap();
    entry.iter().find(|(n, _)| n == "title").unwrap().1.clone()
}

#[actix_web::test]
async fn feeds_are_atom_and_list_the_incidents_of_their_scope() {
    let app = TestApp::spawn().await;
    let chatgpt = store(&app, "chatgpt", seed_onset(), None, 2014).await;
    let claude = store(
        &app,
        "claude",
        seed_onset() - TimeDelta::days(1),
        Some(seed_onset() - TimeDelta::days(1) + TimeDelta::hours(2)),
        300,
    )
    .await;
    let (chatgpt, claude) = (format!("urn:uuid:{chatgpt}"), format!("urn:uuid:{claude}"));

    let all = app.get("/feeds/incidents.atom?tz=America/New_York").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(
        all.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    let feed = parse(&all.text);
    assert_atom(&feed);
    assert_eq!(
        ids(&feed),
        [chatgpt.clone(), claude.clone()],
        "newest first"
    );
    assert_eq!(
        title_of(&feed, &chatgpt),
        "ChatGPT: problem reports rose from 2:36 AM EDT (detected 2:38 AM EDT) and peaked at \
         2,014 around 3:15 AM EDT"
    );

    // Links come from the configured address, not from headers a client sends.
    let mut spoofed = app
        .client
        .get(format!("{}/feeds/incidents.atom", app.address))
        .insert_header(("x-forwarded-host", "evil.example"))
        .insert_header(("forwarded", "host=evil.example;proto=https"))
        .send()
        .await
        .unwrap();
    let body = String::from_utf8(spoofed.body().await.unwrap().to_vec()).unwrap();
    assert!(body.contains(&format!(
        "<id>{}/feeds/incidents.atom</id>",
        app.settings.public_url
    )));
    assert!(!body.contains("evil.example"), "{body}");

    let service = parse(&app.get("/feeds/services/chatgpt.atom").await.text);
    assert_atom(&service);
    assert_eq!(ids(&service), [chatgpt.as_str()]);
    let provider = parse(&app.get("/feeds/providers/anthropic.atom").await.text);
    assert_atom(&provider);
    assert_eq!(ids(&provider), [claude.as_str()]);
    // A feed with nothing in it is still a valid feed.
    let quiet = parse(&app.get("/feeds/services/sora.atom").await.text);
    assert_atom(&quiet);
    assert!(quiet.entries.is_empty());

    app.get("/feeds/services/nope.atom")
        .await
        .assert_problem(404, None);
    app.get("/feeds/providers/nobody.atom")
        .await
        .assert_problem(404, None);
    app.get("/feeds/incidents.atom?tz=Eastern")
        .await
        .assert_problem(400, Some("tz"));

    // The pages offer their feed to readers.
    let board = app.get("/").await.text;
    assert!(board.contains(
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Incidents (Atom)\" href=\"/feeds/incidents.atom\">"
    ));
    let page = app.get("/s/chatgpt").await.text;
    assert!(page.contains("href=\"/feeds/services/chatgpt.atom\""));
}
