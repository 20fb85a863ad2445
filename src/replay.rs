//! `aichaos replay`: a window of a run played again, deterministically, and traced.
//!
//! The run is the same as `aichaos run` with the same scenario and seed: the trace only
//! watches. The loop stops at the window's end, so a replay costs at most the run up to
//! there; before the window nothing is traced (one clock comparison per traced point).

use std::path::Path;

use crate::engine::{RunError, Sim};
use crate::output::PendingFile;
use crate::scenario::Scenario;
use crate::time::{Nanos, format_clock, format_duration};
use crate::trace::{ChromeTrace, JsonlTrace, Labels, Narrator, Tee, TraceSink};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// One JSON object per event and line.
    Jsonl,
    /// Chrome trace-event JSON: open it in ui.perfetto.dev or chrome://tracing.
    Chrome,
}

impl TraceFormat {
    /// The format a file name suggests: `.jsonl` / `.ndjson` for JSONL, else Chrome JSON.
    pub fn for_path(path: &Path) -> TraceFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => TraceFormat::Jsonl,
            _ => TraceFormat::Chrome,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Jsonl => "jsonl",
            TraceFormat::Chrome => "chrome",
        }
    }
}

/// What to replay and what to write.
pub struct ReplayRequest<'p> {
    pub from_ns: Nanos,
    pub to_ns: Nanos,
    pub trace: Option<(&'p Path, TraceFormat)>,
    /// Narrate, in at most this many lines.
    pub narrate: Option<usize>,
}

pub struct ReplayOutcome {
    /// Where the trace ends: the window's end, or the run's if it came first.
    pub end_ns: Nanos,
    pub events_traced: u64,
    pub narration: Vec<String>,
}

/// The latest moment a run of `scenario` can reach: its duration plus the drain limit;
/// None when it runs until every group's `max_requests` is met.
pub fn horizon_ns(scenario: &Scenario) -> Option<Nanos> {
    scenario
        .duration_ns
        .map(|d| d.saturating_add(scenario.drain_limit_ns))
}

/// Checks a window against the run: it must start before it ends and inside the run.
pub fn check_window(scenario: &Scenario, from_ns: Nanos, to_ns: Nanos) -> Result<(), String> {
    if let Some(horizon) = horizon_ns(scenario)
        && from_ns >= horizon
    {
        return Err(format!(
            "the window starts at {} but the run ends by {} (duration {} plus a drain limit of {})",
            format_clock(from_ns),
            format_clock(horizon),
            format_duration(scenario.duration_ns.unwrap_or(0)),
            format_duration(scenario.drain_limit_ns)
        ));
    }
    if from_ns >= to_ns {
        return Err(format!(
            "--from ({}) must be before --to ({})",
            format_clock(from_ns),
            format_clock(to_ns)
        ));
    }
    Ok(())
}

/// Replays `scenario` and traces the window. The trace file is written under a temporary
/// name and renamed when complete; it is created before the run, so an unwritable path
/// fails at once.
pub fn replay(scenario: &Scenario, request: &ReplayRequest<'_>) -> Result<ReplayOutcome, RunError> {
    let (from_ns, to_ns) = (request.from_ns, request.to_ns);
    let pending = match request.trace {
        Some((path, _)) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                RunError::Io(std::io::Error::other(format!(
                    "{}: not a file name",
                    path.display()
                )))
            })?;
            Some(PendingFile::create(dir, name).map_err(RunError::Io)?)
        }
        None => None,
    };
    let (pending, writer) = match pending {
        Some((p, w)) => (Some(p), Some(w)),
        None => (None, None),
    };
    let format = request.trace.map(|(_, f)| f);
    let mut jsonl = None;
    let mut chrome = None;
    match (format, writer) {
        (Some(TraceFormat::Jsonl), Some(w)) => {
            jsonl = Some(JsonlTrace::new(w, Labels::new(scenario)))
        }
        (Some(TraceFormat::Chrome), Some(w)) => {
            match ChromeTrace::new(w, Labels::new(scenario), from_ns) {
                Ok(trace) => chrome = Some(trace),
                Err(e) => {
                    if let Some(p) = pending {
                        p.abandon();
                    }
                    return Err(RunError::Io(e));
                }
            }
        }
        _ => {}
    }
    let mut narrator = request
        .narrate
        .map(|lines| Narrator::new(scenario, from_ns, to_ns, lines));
    let outcome = {
        let mut sinks: Vec<&mut dyn TraceSink> = Vec::new();
        if let Some(s) = jsonl.as_mut() {
            sinks.push(s);
        }
        if let Some(s) = chrome.as_mut() {
            sinks.push(s);
        }
        if let Some(s) = narrator.as_mut() {
            sinks.push(s);
        }
        let mut tee = Tee(sinks);
        let mut sim = Sim::new(scenario);
        sim.trace_window(from_ns, to_ns, &mut tee);
        sim.replay()
    };
    let end_ns = match outcome.and_then(|end| {
        if end <= from_ns {
            Err(RunError::EndedBeforeWindow(end))
        } else {
            Ok(end)
        }
    }) {
        Ok(end) => end,
        Err(e) => {
            if let Some(p) = pending {
                p.abandon();
            }
            return Err(e);
        }
    };
    let events_traced = jsonl
        .as_ref()
        .map(|j| j.events)
        .or(chrome.as_ref().map(|c| c.events))
        .unwrap_or(0);
    // The sinks flushed their writers in `finish`; dropping them closes the file.
    drop(jsonl);
    drop(chrome);
    if let Some(p) = pending {
        p.commit().map_err(RunError::Io)?;
    }
    Ok(ReplayOutcome {
        end_ns,
        events_traced,
        narration: narrator.map(|n| n.lines()).unwrap_or_default(),
    })
}
