//! `aichaos replay`: the same run, traced over a window and stopped at its end.

use std::path::PathBuf;

use aichaos::error::{EXIT_OUTPUT_FAILED, InputError};
use aichaos::scenario;

use super::{SetArgs, bad_input, parse_overrides, run_failed};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (an experiment file needs --scenario).
    scenario: PathBuf,
    /// The scenario of an experiment file.
    #[arg(long = "scenario", value_name = "NAME")]
    only: Option<String>,
    /// The run's seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Window start: HH:MM:SS (e.g. 00:19:30) or a duration from the start (e.g. 19m30s).
    #[arg(long, default_value = "0")]
    from: String,
    /// Window end (default: the end of the run).
    #[arg(long)]
    to: Option<String>,
    /// Write the trace to this file (.jsonl: JSON lines; otherwise Chrome trace JSON).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// The trace's format, whatever the file's name.
    #[arg(long, value_enum)]
    format: Option<aichaos::replay::TraceFormat>,
    /// Print a postmortem timeline of the window.
    #[arg(long)]
    narrate: bool,
    /// At most this many timeline lines.
    #[arg(long, default_value_t = 200)]
    narrate_lines: usize,
    /// Print {seed, from_s, end_s, trace, format, events_traced, narration} as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    overrides: SetArgs,
}

pub fn execute(a: Args) -> i32 {
    use aichaos::replay::{self, ReplayRequest, TraceFormat};
    use aichaos::time::{format_clock, parse_instant};
    let file = a.scenario.to_string_lossy().to_string();
    let fail = |field: &str, e: String| bad_input(&InputError::single(&file, field, e));
    if a.trace.is_none() && !a.narrate {
        return fail(
            "--trace",
            "nothing to do: give --trace FILE, --narrate, or both".into(),
        );
    }
    let sets = match parse_overrides(&a.overrides.set) {
        Ok(s) => s,
        Err(e) => return fail("--set", e),
    };
    let empty = serde_json::Value::Object(Default::default());
    let mut scenario = match scenario::load_file_patched(&file, a.only.as_deref(), &empty, &sets) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    if let Some(seed) = a.seed {
        scenario.seed = seed;
    }
    let from_ns = match parse_instant(&a.from) {
        Ok(t) => t,
        Err(e) => return fail("--from", e),
    };
    let to_ns = match a.to.as_deref().map(parse_instant).transpose() {
        Ok(t) => t.unwrap_or(replay::horizon_ns(&scenario).unwrap_or(u64::MAX)),
        Err(e) => return fail("--to", e),
    };
    if let Err(e) = replay::check_window(&scenario, from_ns, to_ns) {
        return fail("--from", e);
    }
    // A trace into a directory that does not exist is a mistyped path (exit 2); a write that
    // fails once started is an output failure (exit 3).
    if let Some(path) = a.trace.as_deref()
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return fail(
            "--trace",
            format!("{}: the directory does not exist", dir.display()),
        );
    }
    let trace = a.trace.as_deref().map(|path| {
        (
            path,
            a.format.unwrap_or_else(|| TraceFormat::for_path(path)),
        )
    });
    let request = ReplayRequest {
        from_ns,
        to_ns,
        trace,
        narrate: a.narrate.then_some(a.narrate_lines),
    };
    let outcome = match replay::replay(&scenario, &request) {
        Ok(o) => o,
        Err(aichaos::engine::RunError::Io(e)) => {
            let path = a
                .trace
                .as_deref()
                .map_or(String::new(), |p| p.display().to_string());
            eprintln!("error: cannot write the trace {path}: {e}");
            return EXIT_OUTPUT_FAILED;
        }
        Err(e) => return run_failed(&file, &e),
    };
    if a.json {
        let report = serde_json::json!({
            "seed": scenario.seed,
            "from_s": aichaos::time::ns_to_secs(from_ns),
            "end_s": aichaos::time::ns_to_secs(outcome.end_ns),
            "trace": trace.map(|(path, _)| path.display().to_string()),
            "format": trace.map(|(_, format)| format.name()),
            "events_traced": outcome.events_traced,
            "narration": outcome.narration,
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
        return 0;
    }
    for line in &outcome.narration {
        outln!("{line}");
    }
    if let Some((path, format)) = trace {
        outln!(
            "traced {} events from {} to {} (seed {}) into {} ({})",
            outcome.events_traced,
            format_clock(from_ns),
            format_clock(outcome.end_ns),
            scenario.seed,
            path.display(),
            format.name()
        );
    }
    0
}
