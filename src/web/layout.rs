//! The page shell and the small pieces every page shares: level badges, times, labels.
//!
//! Times are rendered in the view's zone inside `<time datetime=...>`, so they read right with
//! JavaScript off, and the script can show them in the viewer's own zone.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, html};

use super::View;
use super::assets::{CSS, ICON, JS};
use crate::detect::Level;
use crate::query::headline::{Piece, clock_time};

/// What the `<head>` says about a page.
pub struct Head<'a> {
    /// Title, before " · downwatch".
    pub title: &'a str,
    /// The meta description (and what a link preview shows).
    pub description: &'a str,
    /// Whether the page follows live events.
    pub live: bool,
    /// The Atom feed of this page's incidents, offered to feed readers.
    pub feed: Option<&'a str>,
}

/// A full page: head, site header, `main`, footer.
pub fn page(view: &View, head: &Head<'_>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" data-tz=(view.zone.name()) data-tz-fixed[view.zone_fixed] {
            (head_tags(head))
            body data-live[head.live] {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    div.wrap {
                        a.brand href="/" {
                            img src=(ICON.path()) alt="" width="28" height="28";
                            span { "downwatch" }
                        }
                        nav aria-label="Site" {
                            a href="/" { "Status board" }
                            a href="/docs" { "API" }
                        }
                    }
                }
                main #main .wrap { (main) }
                footer.site {
                    div.wrap {
                        p {
                            "downwatch counts reports from people who have trouble with a service. "
                            "A spike means many people see problems at once, not that the provider has confirmed an outage."
                        }
                        p {
                            "Open data: " a href="/docs" { "JSON API" } ", "
                            a href="/v1/status" { "what is wrong now" } ", "
                            a href="/v1/events" { "live events" } "."
                        }
                    }
                }
            }
        }
    }
}

fn head_tags(head: &Head<'_>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (head.title) " · downwatch" }
            meta name="description" content=(head.description);
            meta name="color-scheme" content="light";
            link rel="icon" type="image/svg+xml" href=(ICON.path());
            link rel="stylesheet" href=(CSS.path());
            @if let Some(feed) = head.feed {
                link rel="alternate" type="application/atom+xml" title="Incidents (Atom)" href=(feed);
            }
            script src=(JS.path()) defer {}
        }
    }
}

/// A plain page with a title and one paragraph, for errors.
pub fn error_page(title: &str, detail: &str) -> Markup {
    let view = View {
        zone: Tz::UTC,
        zone_fixed: false,
        now: Utc::now(),
    };
    let head = Head {
        title,
        description: detail,
        live: false,
        feed: None,
    };
    page(
        &view,
        &head,
        html! {
            section.error {
                h1 { (title) }
                p { (detail) }
                p { a href="/" { "See the status of every service" } }
            }
        },
    )
}

/// How a time is shown.
#[derive(Debug, Clone, Copy)]
pub enum TimeFormat {
    /// `2:36 AM EDT`.
    Clock,
    /// `Jun 10, 2025, 2:36 AM EDT`.
    DateTime,
}

/// A `<time>` in the view's zone; the script re-renders it in the viewer's zone.
pub fn time(t: DateTime<Utc>, view: &View, format: TimeFormat) -> Markup {
    let (name, text) = match format {
        TimeFormat::Clock => ("clock", clock_time(t, view.zone)),
        TimeFormat::DateTime => (
            "datetime",
            t.with_timezone(&view.zone)
                .format("%b %-d, %Y, %-I:%M %p %Z")
                .to_string(),
        ),
    };
    html! { time datetime=(t.to_rfc3339_opts(SecondsFormat::Secs, true)) data-format=(name) { (text) } }
}

/// A clock time if `t` is within the last 20 hours, a date and time otherwise.
pub fn when(t: DateTime<Utc>, view: &View) -> Markup {
    let recent = view.now - t < chrono::TimeDelta::hours(20);
    time(
        t,
        view,
        if recent {
            TimeFormat::Clock
        } else {
            TimeFormat::DateTime
        },
    )
}

/// A sentence of words and times.
pub fn sentence(pieces: &[Piece], view: &View) -> Markup {
    html! {
        @for piece in pieces {
            @match piece {
                Piece::Text(text) => (text),
                Piece::Time(t) => (when(*t, view)),
            }
        }
    }
}

/// The words for a level.
pub fn level_label(level: Level) -> &'static str {
    match level {
        Level::Normal => "No problems",
        Level::Elevated => "Problems",
        Level::Outage => "Outage",
    }
}

/// A level badge: colour and words, so it reads without colour too.
pub fn badge(level: Level) -> Markup {
    html! { span class={ "badge lvl-" (level.as_str()) } { (level_label(level)) } }
}

/// `ai` → `AI`, `ecommerce` → `E-commerce`, `video-games` → `Video games`.
pub fn category_label(category: &str) -> String {
    match category {
        "ai" => "AI".to_owned(),
        "ecommerce" => "E-commerce".to_owned(),
        other => words(other),
    }
}

/// `voice-mode` → `Voice mode`, `api-errors` → `API errors`.
pub fn problem_label(problem: &str) -> String {
    words(problem)
}

fn words(label: &str) -> String {
    let text = label
        .split('-')
        .map(|w| match w {
            "api" | "ai" | "sms" | "vpn" | "dns" | "tv" => w.to_uppercase(),
            w => w.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// `GB` → `United Kingdom`: the name people use, where ISO 3166's is long or formal
/// (`United Kingdom of Great Britain and Northern Ireland`, `Korea (Republic of)`); unknown codes
/// as they are.
pub fn country_label(code: &str) -> String {
    const SHORT: [(&str, &str); 22] = [
        ("BN", "Brunei"),
        ("BO", "Bolivia"),
        ("CD", "DR Congo"),
        ("FM", "Micronesia"),
        ("GB", "United Kingdom"),
        ("IR", "Iran"),
        ("KP", "North Korea"),
        ("KR", "South Korea"),
        ("LA", "Laos"),
        ("MD", "Moldova"),
        ("MK", "North Macedonia"),
        ("PS", "Palestine"),
        ("RU", "Russia"),
        ("SY", "Syria"),
        ("SZ", "Eswatini"),
        ("TR", "Türkiye"),
        ("TW", "Taiwan"),
        ("TZ", "Tanzania"),
        ("US", "United States"),
        ("VA", "Vatican City"),
        ("VE", "Venezuela"),
        ("VN", "Vietnam"),
    ];
    if let Some((_, name)) = SHORT.iter().find(|(c, _)| c.eq_ignore_ascii_case(code)) {
        return (*name).to_owned();
    }
    isocountry::CountryCode::for_alpha2(code)
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|_| code.to_owned())
}

/// A percentage of a share, `0.667` → `67%`.
pub fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_like_words() {
        assert_eq!(problem_label("voice-mode"), "Voice mode");
        assert_eq!(problem_label("api-errors"), "API errors");
        assert_eq!(category_label("ai"), "AI");
        assert_eq!(category_label("streaming"), "Streaming");
        assert_eq!(country_label("KR"), "South Korea");
        assert_eq!(country_label("GB"), "United Kingdom");
        assert_eq!(country_label("US"), "United States");
        assert_eq!(country_label("DE"), "Germany");
        assert_eq!(country_label("ZZ"), "ZZ");
        assert_eq!(percent(0.667), "67%");
    }
}
