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
    let summary = run_to_files(scenario, dir, progress)?;
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

fn run_to_files(
    scenario: &Scenario,
    dir: &Path,
    progress: &dyn Fn(crate::time::Nanos, u64),
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
            let summary = run_watched(scenario, &mut sink, progress)?;
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
    run_watched(scenario, sink, &|_, _| {})
}

fn run_watched(
    scenario: &Scenario,
    sink: &mut dyn BucketSink,
    progress: &dyn Fn(crate::time::Nanos, u64),
) -> Result<Summary, RunError> {
    let started = Instant::now();
    let mut sim = engine::Sim::new(scenario);
    sim.watch(progress);
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
