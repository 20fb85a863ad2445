//! One scenario, run and written out: the glue between the simulation, the time-series
//! sink and the files. Shared by the `run` command and the tests.

use std::path::Path;
use std::time::Instant;

use crate::engine::{self, RunError};
use crate::metrics::{BucketSink, NoRows};
use crate::output::{PendingFile, write_atomic};
use crate::report::{Summary, summarize};
use crate::scenario::Scenario;
use crate::timeseries::CsvSink;

/// Runs `scenario` and writes `timeseries.csv`, `summary.json` and, with `charts`, the PNG
/// charts into `dir` (created if needed). On any failure nothing that looks complete is left
/// behind, no temporary file survives, and the error lists the files that are complete.
/// Charts are drawn from the files just written, exactly as `aichaos plot` would.
pub fn run_to_dir(scenario: &Scenario, dir: &Path, charts: bool) -> Result<Summary, RunError> {
    run_to_dir_watched(scenario, dir, charts, &|_, _| {})
}

/// `run_to_dir`, telling `progress` the simulated time and the requests so far as it goes.
pub fn run_to_dir_watched(
    scenario: &Scenario,
    dir: &Path,
    charts: bool,
    progress: &dyn Fn(crate::time::Nanos, u64),
) -> Result<Summary, RunError> {
    run_to_dir_logged(scenario, dir, charts, progress, None)
}

/// `run_to_dir_watched`, also writing the request log (`requestlog`) to `request_log` if
/// given: JSON lines, or CSV for a `.csv` name. Like the other files it is written under a
/// temporary name and put in place only when the run succeeded.
pub fn run_to_dir_logged(
    scenario: &Scenario,
    dir: &Path,
    charts: bool,
    progress: &dyn Fn(crate::time::Nanos, u64),
    request_log: Option<&Path>,
) -> Result<Summary, RunError> {
    let summary = match request_log {
        None => run_to_files(scenario, dir, progress, None)?,
        Some(path) => run_logged(scenario, dir, progress, path)?,
    };
    if charts {
        draw_charts(dir).map_err(|what| RunError::Output {
            what,
            complete: vec!["timeseries.csv", "summary.json"],
        })?;
    }
    Ok(summary)
}

/// Draws a saved run's charts into its own directory.
pub fn draw_charts(dir: &Path) -> Result<(), String> {
    let run = crate::charts::data::load_run(dir).map_err(|e| e.to_string())?;
    crate::charts::render(std::slice::from_ref(&run), dir)?;
    Ok(())
}

/// Runs with the request log written to `path`, committed before the run's own files.
fn run_logged(
    scenario: &Scenario,
    dir: &Path,
    progress: &dyn Fn(crate::time::Nanos, u64),
    path: &Path,
) -> Result<Summary, RunError> {
    let failed = |e: std::io::Error| RunError::Output {
        what: format!("cannot write {}: {e}", path.display()),
        complete: vec![],
    };
    let log_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| failed(std::io::Error::other("not a file name")))?;
    std::fs::create_dir_all(log_dir).map_err(failed)?;
    let (pending, writer) = PendingFile::create(log_dir, &name).map_err(failed)?;
    let format = crate::requestlog::LogFormat::for_path(path);
    let mut log = match crate::requestlog::RequestLogWriter::new(writer, format, scenario) {
        Ok(log) => log,
        Err(e) => {
            pending.abandon();
            return Err(failed(e));
        }
    };
    let summary = run_to_files(scenario, dir, progress, Some(&mut log)).and_then(|s| {
        let mut out = log.finish().map_err(failed)?;
        std::io::Write::flush(&mut out).map_err(failed)?;
        Ok(s)
    });
    match summary {
        Ok(s) => {
            pending.commit().map_err(|e| RunError::Output {
                what: format!("cannot write {}: {e}", path.display()),
                complete: vec!["timeseries.csv", "summary.json"],
            })?;
            Ok(s)
        }
        Err(e) => {
            pending.abandon();
            Err(e)
        }
    }
}

fn run_to_files(
    scenario: &Scenario,
    dir: &Path,
    progress: &dyn Fn(crate::time::Nanos, u64),
    log: Option<&mut dyn crate::requestlog::AttemptSink>,
) -> Result<Summary, RunError> {
    let failed = |name: &str, complete: Vec<&'static str>| {
        let path = dir.join(name);
        move |e: std::io::Error| RunError::Output {
            what: format!("cannot write {}: {e}", path.display()),
            complete,
        }
    };
    std::fs::create_dir_all(dir).map_err(failed("", vec![]))?;
    let names: Vec<&str> = scenario.providers.iter().map(|p| p.name.as_str()).collect();
    let (csv_file, writer) =
        PendingFile::create(dir, "timeseries.csv").map_err(failed("timeseries.csv", vec![]))?;
    let outcome = CsvSink::new(writer, &names)
        .map_err(RunError::Io)
        .and_then(|mut sink| {
            let summary = run_watched(scenario, &mut sink, progress, log)?;
            let mut writer = sink.into_inner();
            std::io::Write::flush(&mut writer).map_err(RunError::Io)?;
            Ok(summary)
        });
    let summary = match outcome {
        Ok(summary) => summary,
        Err(e) => {
            csv_file.abandon();
            return Err(match e {
                RunError::Io(e) => failed("timeseries.csv", vec![])(e),
                other => other,
            });
        }
    };
    csv_file
        .commit()
        .map_err(failed("timeseries.csv", vec![]))?;
    let json = summary_json(&summary);
    write_atomic(dir, "summary.json", json.as_bytes())
        .map_err(failed("summary.json", vec!["timeseries.csv"]))?;
    Ok(summary)
}

/// Runs `scenario`, handing buckets to `sink`, and summarizes. The wall clock is read here,
/// outside the simulation, for the summary's `wall_clock` figures only.
pub fn run_with_sink(scenario: &Scenario, sink: &mut dyn BucketSink) -> Result<Summary, RunError> {
    run_watched(scenario, sink, &|_, _| {}, None)
}

fn run_watched(
    scenario: &Scenario,
    sink: &mut dyn BucketSink,
    progress: &dyn Fn(crate::time::Nanos, u64),
    log: Option<&mut dyn crate::requestlog::AttemptSink>,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    let mut sim = engine::Sim::new(scenario);
    sim.watch(progress);
    if let Some(log) = log {
        sim.log_attempts(log);
    }
    let result = sim.run(sink)?;
    Ok(summarize(
        scenario,
        &result,
        started.elapsed().as_secs_f64(),
    ))
}

/// Runs without writing a time series (summary only).
pub fn run_summary(scenario: &Scenario) -> Result<Summary, RunError> {
    run_with_sink(scenario, &mut NoRows)
}

pub fn summary_json(summary: &Summary) -> String {
    let mut json = serde_json::to_string_pretty(summary).expect("a summary always serializes");
    json.push('\n');
    json
}
