//! Sentences and times for people: the one-line summary a journalist can cite, in their zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::detect::Level;
use crate::domain::{Evidence, Incident, whole};

/// `2:36 AM EDT`.
pub fn clock_time(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%-I:%M %p %Z").to_string()
}

/// `2,014`, for any whole count.
pub fn thousands(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// What an incident headline needs.
#[derive(Debug, Clone)]
pub struct HeadlineFacts<'a> {
    /// Display name of the service.
    pub service: &'a str,
    /// Onset: where the rise began.
    pub began_at: DateTime<Utc>,
    /// When the rise was detected (the incident opened).
    pub detected_at: DateTime<Utc>,
    /// Start of the 15-minute bin with the most reports.
    pub peak_bin_at: DateTime<Utc>,
    /// Reports in that bin.
    pub peak_bin_count: i64,
    /// When it was over, if it is.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A piece of a sentence: words, or a time the reader sees in their own zone (web pages mark
/// times up so the browser can show them in the viewer's zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Plain words.
    Text(String),
    /// A moment, shown as a clock time.
    Time(DateTime<Utc>),
}

/// Joins pieces into one line, times as clock times in `zone`.
pub fn join(pieces: &[Piece], zone: Tz) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(text) => text.clone(),
            Piece::Time(t) => clock_time(*t, zone),
        })
        .collect()
}

/// The incident headline, piece by piece.
pub fn headline_pieces(facts: &HeadlineFacts<'_>) -> Vec<Piece> {
    let mut pieces = vec![
        Piece::Text(format!("{}: problem reports rose from ", facts.service)),
        Piece::Time(facts.began_at),
    ];
    if facts.detected_at > facts.began_at {
        pieces.push(Piece::Text(" (detected ".to_owned()));
        pieces.push(Piece::Time(facts.detected_at));
        pieces.push(Piece::Text(")".to_owned()));
    }
    pieces.extend([
        Piece::Text(format!(
            " and peaked at {} around ",
            thousands(facts.peak_bin_count)
        )),
        Piece::Time(facts.peak_bin_at),
    ]);
    if let Some(ended) = facts.ended_at {
        pieces.push(Piece::Text(", back to normal by ".to_owned()));
        pieces.push(Piece::Time(ended));
    }
    pieces
}

/// "ChatGPT: problem reports rose from 2:36 AM EDT and peaked at 2,014 around 3:15 AM EDT".
pub fn headline(facts: &HeadlineFacts<'_>, zone: Tz) -> String {
    join(&headline_pieces(facts), zone)
}

/// "User reports indicate problems at ChatGPT since 2:36 AM": a service's status in plain words.
pub fn status_pieces(service: &str, level: Level, since: Option<DateTime<Utc>>) -> Vec<Piece> {
    let what = match level {
        Level::Normal => {
            return vec![Piece::Text(format!(
                "User reports indicate no current problems at {service}"
            ))];
        }
        Level::Elevated => "problems",
        Level::Outage => "an outage",
    };
    let mut pieces = vec![Piece::Text(format!(
        "User reports indicate {what} at {service}"
    ))];
    if let Some(since) = since {
        pieces.push(Piece::Text(" since ".to_owned()));
        pieces.push(Piece::Time(since));
    }
    pieces
}

/// Why an incident opened, in one sentence: "It opened on 57 reports in 5 minutes where about 3
/// were expected: by chance, a 1 in 2 million event."
pub fn evidence_sentence(evidence: &Evidence) -> String {
    let minutes = match evidence.window_minutes {
        1 => "1 minute".to_owned(),
        m => format!("{m} minutes"),
    };
    format!(
        "It opened on {} reports in {minutes} where {} expected: by chance, {}.",
        thousands(whole(evidence.observed)),
        expected_words(evidence.expected),
        odds(evidence.probability),
    )
}

fn expected_words(expected: f64) -> String {
    if expected < 0.05 {
        "almost none were".to_owned()
    } else if expected < 1.0 {
        format!("about {expected:.1} were")
    } else {
        format!("about {} were", thousands(whole(expected)))
    }
}

/// "a 1 in 2 million event", rounded to a figure a reader can hold.
fn odds(probability: f64) -> String {
    if probability.is_nan() || probability <= 1e-12 {
        return "less likely than 1 in a trillion".to_owned();
    }
    if probability >= 0.5 {
        return "not unusual".to_owned();
    }
    let one_in = 1.0 / probability;
    let (scaled, unit) = match one_in {
        n if n >= 1e9 => (n / 1e9, " billion"),
        n if n >= 1e6 => (n / 1e6, " million"),
        n if n >= 1e4 => (n / 1e3, " thousand"),
        n => (n, ""),
    };
    let figure = if scaled >= 100.0 {
        thousands(whole(scaled / 10.0) * 10)
    } else {
        thousands(whole(scaled))
    };
    format!("a 1 in {figure}{unit} event")
}

/// The facts of `incident` of the service called `service`.
pub fn incident_facts<'a>(incident: &Incident, service: &'a str) -> HeadlineFacts<'a> {
    HeadlineFacts {
        service,
        began_at: incident.began_at,
        detected_at: incident.started_at,
        peak_bin_at: incident.peak_bin_at,
        peak_bin_count: i64::from(incident.peak_bin_count),
        ended_at: incident.ended_at,
    }
}

/// The one-line summary of `incident` of the service called `service`, times in `zone`.
pub fn incident_headline(incident: &Incident, service: &str, zone: Tz) -> String {
    headline(&incident_facts(incident, service), zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_zone;
    use chrono::TimeZone;

    #[test]
    fn the_seed_headline_reads_like_the_article() {
        let facts = HeadlineFacts {
            service: "ChatGPT",
            began_at: Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap(),
            detected_at: Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap(),
            peak_bin_at: Utc.with_ymd_and_hms(2025, 6, 10, 7, 15, 0).unwrap(),
            peak_bin_count: 2014,
            ended_at: None,
        };
        let zone = parse_zone("America/New_York").unwrap();
        assert_eq!(
            headline(&facts, zone),
            "ChatGPT: problem reports rose from 2:36 AM EDT and peaked at 2,014 around 3:15 AM EDT"
        );
        let ended = HeadlineFacts {
            ended_at: Some(Utc.with_ymd_and_hms(2025, 6, 10, 12, 7, 0).unwrap()),
            ..facts
        };
        assert!(
            headline(&ended, parse_zone("UTC").unwrap())
                .ends_with(", back to normal by 12:07 PM UTC")
        );
        let detected_later = HeadlineFacts {
            detected_at: Utc.with_ymd_and_hms(2025, 6, 10, 6, 38, 0).unwrap(),
            ..facts
        };
        assert_eq!(
            headline(&detected_later, zone),
            "ChatGPT: problem reports rose from 2:36 AM EDT (detected 2:38 AM EDT) and peaked at \
             2,014 around 3:15 AM EDT"
        );
    }

    #[test]
    fn evidence_reads_as_one_sentence() {
        let evidence = Evidence {
            window_minutes: 5,
            observed: 57.0,
            expected: 3.2,
            probability: 4.6e-7,
        };
        assert_eq!(
            evidence_sentence(&evidence),
            "It opened on 57 reports in 5 minutes where about 3 were expected: by chance, \
             a 1 in 2 million event."
        );
        let faint = Evidence {
            window_minutes: 1,
            observed: 4.0,
            expected: 0.02,
            probability: 0.004,
        };
        assert_eq!(
            evidence_sentence(&faint),
            "It opened on 4 reports in 1 minute where almost none were expected: by chance, \
             a 1 in 250 event."
        );
        assert_eq!(odds(0.0), "less likely than 1 in a trillion");
        assert_eq!(odds(3.0e-5), "a 1 in 33 thousand event");
    }

    #[test]
    fn status_lines_read_plainly() {
        let since = Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap();
        let zone = parse_zone("America/New_York").unwrap();
        let line = |level, since| join(&status_pieces("ChatGPT", level, since), zone);
        assert_eq!(
            line(Level::Elevated, Some(since)),
            "User reports indicate problems at ChatGPT since 2:36 AM EDT"
        );
        assert_eq!(
            line(Level::Outage, Some(since)),
            "User reports indicate an outage at ChatGPT since 2:36 AM EDT"
        );
        assert_eq!(
            line(Level::Normal, Some(since)),
            "User reports indicate no current problems at ChatGPT"
        );
    }

    #[test]
    fn zones_are_dst_correct_and_bad_names_are_refused() {
        let zone = parse_zone("America/New_York").unwrap();
        assert_eq!(
            clock_time(Utc.with_ymd_and_hms(2025, 1, 10, 7, 36, 0).unwrap(), zone),
            "2:36 AM EST"
        );
        assert_eq!(
            clock_time(Utc.with_ymd_and_hms(2025, 7, 10, 6, 36, 0).unwrap(), zone),
            "2:36 AM EDT"
        );
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
        assert_eq!(thousands(2014), "2,014");
        assert_eq!(thousands(6_500_000), "6,500,000");
        assert_eq!(thousands(999), "999");
    }
}
