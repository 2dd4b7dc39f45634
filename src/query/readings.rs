//! The points of a 15-minute or hourly curve: the readings the monitor stored with the bins
//! wherever it has read them, and the model run from the day's anchor only for the other steps
//! (the bins under way, history not read yet, readings of a model with other parameters).
//! Both give a step the same reading (see `detect::readings`), so a curve does not depend on
//! which of them served it; the test `curve::stored_readings_match_the_refit` holds them to it.

use uuid::Uuid;

use super::Reads;
use super::history::count;
use super::points::{Counts, CurvePoint, Step};
use super::runs::RunKey;
use crate::db::readings::{Progress, StoredBin};
use crate::detect::readings::{Reading, Run, anchor, idle, model_id};
use crate::domain::ServiceSlug;
use crate::store::StoreResult;
use crate::time::{BIN_MINUTES, align_down, minute_of};

/// The points of the curve of one service over `[from, to)` (aligned to `step`, 15 minutes or
/// an hour).
pub async fn points(
    reads: &Reads,
    service_id: Uuid,
    slug: &ServiceSlug,
    (from, to): (i64, i64),
    step: Step,
) -> StoreResult<Vec<CurvePoint>> {
    let progress = reads.stored.progress(&reads.db).await?;
    let complete = progress.complete_before.map(minute_of);
    let seam = reads.seam_after(complete, reads.redis_floor(), None);
    let bins = if seam > from {
        let range = (from, seam.min(to));
        reads
            .stored
            .bins(&reads.db, service_id, range, &progress)
            .await?
    } else {
        Vec::new()
    };
    let start = seam.max(from);
    // A report counts in the minute it arrives: minutes after this one hold none yet.
    let read_to = to.min(reads.now_minute() + 1).max(start);
    let mut minutes = reads.windows.totals(slug, start, read_to).await?;
    minutes.resize(usize::try_from(to - start).unwrap_or(0), 0);
    let counts = Counts {
        bins: bins
            .iter()
            .map(|b| (minute_of(b.start), f64::from(b.total)))
            .collect(),
        minutes: minutes.iter().map(|m| count(*m)).collect(),
        seam: start,
    };
    let series = counts.per_step(from, to, step);
    let stored = Stored::of(reads, &progress, seam, &bins, step);
    let mut readings: Vec<Option<Reading>> =
        series.iter().map(|(at, _)| stored.reading(*at)).collect();
    let ran = Ran {
        reads,
        service_id,
        slug,
        step,
        seam,
        // Bins before this are final: a run up to here can be kept.
        final_before: complete.map_or(i64::MIN, |c| (c - BIN_MINUTES).min(seam)),
        generation: progress.readings.map_or(0, |s| s.generation),
    };
    ran.fill(&series, from, &mut readings).await?;
    Ok(series
        .iter()
        .zip(readings)
        .map(|((minute, reports), reading)| {
            let reading = reading.expect("every step read");
            CurvePoint {
                minute: *minute,
                reports: *reports,
                baseline: reading.baseline,
                upper: reading.upper,
                level: reading.level,
            }
        })
        .collect())
}

/// The stored readings a curve can use.
struct Stored<'a> {
    bins: &'a [StoredBin],
    /// The bins' starts as minute numbers, for the lookups.
    starts: Vec<i64>,
    /// Steps in `[from, until)` have their readings stored (or are idle).
    from: i64,
    until: i64,
    step: i64,
    params: crate::detect::Params,
}

impl<'a> Stored<'a> {
    fn of(
        reads: &Reads,
        progress: &Progress,
        seam: i64,
        bins: &'a [StoredBin],
        step: Step,
    ) -> Self {
        let size = step.minutes();
        let span = progress
            .readings
            .filter(|span| span.model == model_id(&reads.detect));
        let (from, until) = span.map_or((0, 0), |span| {
            let before = minute_of(span.before).min(seam);
            (minute_of(span.from), align_down(before, size))
        });
        Self {
            bins,
            starts: bins.iter().map(|b| minute_of(b.start)).collect(),
            from,
            until,
            step: size,
            params: reads.detect,
        }
    }

    /// The stored reading of the step at `at`: the row's, idle where the span has no row, or
    /// none (outside the span, or a row written after the span was read).
    fn reading(&self, at: i64) -> Option<Reading> {
        if at < self.from || at + self.step > self.until {
            return None;
        }
        // An hour's reading sits on its last bin, which closes with it.
        let row = at + self.step - BIN_MINUTES;
        match self.starts.binary_search(&row) {
            Ok(i) if self.step == BIN_MINUTES => self.bins[i].quarter,
            Ok(i) => self.bins[i].hour,
            Err(_) => Some(idle(self.params, self.step, at)),
        }
    }
}

/// Runs the model over the steps without a stored reading.
struct Ran<'a> {
    reads: &'a Reads,
    service_id: Uuid,
    slug: &'a ServiceSlug,
    step: Step,
    seam: i64,
    final_before: i64,
    generation: i64,
}

impl Ran<'_> {
    /// Fills the missing readings of `series` (steps from `from`): each run of missing steps
    /// within one day from a run started at the day's anchor (kept, or computed from history).
    async fn fill(
        &self,
        series: &[(i64, f64)],
        from: i64,
        readings: &mut [Option<Reading>],
    ) -> StoreResult<()> {
        let size = self.step.minutes();
        // Each group of missing steps, with the kept run it starts from (positioned at its
        // first step, or before it where the final bins end), if one is kept.
        let mut groups: Vec<(usize, usize, Option<Run>)> = Vec::new();
        for (i, (at, _)) in series.iter().enumerate() {
            if readings[i].is_some() {
                continue;
            }
            match groups.last_mut() {
                Some((first, last, _)) if anchor(series[*first].0) == anchor(*at) => *last = i,
                _ => groups.push((i, i, self.kept(series[i].0))),
            }
        }
        // Where each group's run must be fed from: its kept run's position, or the anchor.
        let fed_from = |(first, _, run): &(usize, usize, Option<Run>)| {
            run.as_ref().map_or(anchor(series[*first].0), Run::next)
        };
        let earliest = groups.iter().map(fed_from).min().filter(|a| *a < from);
        let history = match earliest {
            Some(a) => self
                .reads
                .totals(self.service_id, self.slug, a, from, self.seam)
                .await?
                .per_step(a, from, self.step),
            None => Vec::new(),
        };
        let reports = |minute: i64| -> f64 {
            let (steps, first): (&[(i64, f64)], i64) = if minute < from {
                (&history, earliest.unwrap_or(from))
            } else {
                (series, from)
            };
            usize::try_from((minute - first) / size)
                .ok()
                .and_then(|i| steps.get(i))
                .map_or(0.0, |(_, r)| *r)
        };
        for (first, last, kept) in groups {
            let at = series[first].0;
            let mut run = kept.unwrap_or_else(|| {
                let mut run = Run::new(self.reads.detect, size, anchor(at));
                if let Some(end) = self.final_end(at) {
                    run.advance_to(end, &reports);
                    self.reads.runs.keep(self.key(at, end), run.clone());
                }
                run
            });
            if run.next() < at {
                run.advance_to(at, &reports);
                if at <= self.final_before {
                    self.reads.runs.keep(self.key(at, at), run.clone());
                }
            }
            for i in first..=last {
                let reading = run.step(series[i].1);
                readings[i].get_or_insert(reading);
            }
        }
        Ok(())
    }

    /// The kept run for the missing steps from `at`: positioned at `at` when every bin before
    /// it is final, else where the final bins end (the steps after are fed from the counts). A
    /// curve's open steps come after the final bins, and in the first quarter hour of a UTC day
    /// the day's first step is open too: without the second kind its run from the anchor, a
    /// week of steps, was computed again by every curve until the rollup closed that step.
    fn kept(&self, at: i64) -> Option<Run> {
        let position = if at <= self.final_before {
            at
        } else {
            self.final_end(at)?
        };
        self.reads.runs.get(&self.key(at, position))
    }

    /// Where the final bins end on the grid of the run for the steps from `at`, when that is
    /// after the run's anchor and before `at`.
    fn final_end(&self, at: i64) -> Option<i64> {
        // Clamped at the anchor first: with no complete bin yet, `final_before` is i64::MIN.
        let end = align_down(self.final_before.max(anchor(at)), self.step.minutes());
        (anchor(at) < end && end < at).then_some(end)
    }

    /// The key of the run for the steps from `at` (its anchor's) positioned at `position`.
    fn key(&self, at: i64, position: i64) -> RunKey {
        RunKey {
            service_id: self.service_id,
            step: self.step.minutes(),
            anchor: anchor(at),
            at: position,
            model: model_id(&self.reads.detect),
            generation: self.generation,
        }
    }
}
