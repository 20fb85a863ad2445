//! `aichaos run`: simulate every scenario of a file and write its results and charts.

use std::path::PathBuf;

use aichaos::charts::{self, data::load_run};
use aichaos::error::{EXIT_EXPECTATION_FAILED, EXIT_OUTPUT_FAILED, InputError};
use aichaos::output::slug;
use aichaos::report::{console_line, failed_expectations, incident_lines};
use aichaos::scenario::{self, Experiment};
use aichaos::time::{format_duration, parse_duration};

use super::{SetArgs, bad_input, claim, load, run_failed, run_progress};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario or experiment file (JSON).
    scenario: PathBuf,
    /// Override the seed of every scenario in the file.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the duration of every scenario (e.g. "30m", "2h").
    #[arg(long)]
    duration: Option<String>,
    /// Output directory (default: output/<name>/). An experiment writes one
    /// subdirectory per scenario.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only the named scenario of an experiment file.
    #[arg(long = "scenario", value_name = "NAME")]
    only: Option<String>,
    /// Skip the PNG charts (summary.json and timeseries.csv only).
    #[arg(long)]
    no_charts: bool,
    #[command(flatten)]
    overrides: SetArgs,
    /// Print {experiment, passed, out, scenarios: [summary.json...]} instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write every attempt sent (time, request id, attempt, target, outcome, status,
    /// latency, time to first token, tokens, Retry-After) to FILE: JSON lines, or CSV for a
    /// .csv name. One scenario only (pick one of an experiment with --scenario).
    #[arg(long, value_name = "FILE")]
    request_log: Option<PathBuf>,
}

pub fn execute(a: Args, g: super::Globals) -> i32 {
    let Args {
        scenario: path,
        seed,
        duration,
        out,
        only,
        no_charts,
        overrides: SetArgs { set },
        json,
        request_log,
    } = a;
    let (draw_charts, force, quiet) = (!no_charts, g.force, g.quiet);
    let file = path.to_string_lossy().to_string();
    let mut experiment = match load(&path, &set) {
        Ok(e) => e,
        Err(e) => return bad_input(&e),
    };
    if let Some(name) = &only {
        if !experiment.scenarios.iter().any(|s| &s.name == name) {
            let names: Vec<&str> = experiment
                .scenarios
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            return bad_input(&InputError::single(
                &file,
                "--scenario",
                scenario::no_scenario_named(name, &names),
            ));
        }
        experiment.scenarios.retain(|s| &s.name == name);
    }
    if request_log.is_some() && experiment.scenarios.len() > 1 {
        // One file cannot hold several worlds' attempts without mixing their request ids.
        return bad_input(&InputError::single(
            &file,
            "--request-log",
            "logs one scenario's attempts; pick one with --scenario NAME",
        ));
    }
    let duration_ns = match duration.as_deref().map(parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => return bad_input(&InputError::single(&file, "--duration", e)),
    };
    let several_scenarios = experiment.scenarios.len() > 1;
    for s in &mut experiment.scenarios {
        if let Some(seed) = seed {
            s.seed = seed;
        }
        if let Some(d) = duration_ns {
            if d == 0 || d <= s.warmup_ns {
                return bad_input(&InputError::single(
                    &file,
                    "--duration",
                    "must be longer than zero and than the warm-up",
                ));
            }
            s.duration_ns = Some(d);
        }
        if let Some((field, reason)) = aichaos::scenario::estimate::refuse_if_too_large(s) {
            let path = if several_scenarios {
                format!("{} (scenario `{}`)", field, s.name)
            } else {
                field
            };
            return bad_input(&InputError::single(&file, &path, reason));
        }
    }
    if let Some(reason) = too_long_unforced(&experiment, force) {
        return bad_input(&InputError::single(&file, "", reason));
    }
    let base = out.unwrap_or_else(|| PathBuf::from("output").join(slug(&experiment.name)));
    let _lock = match claim(&base, force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    let several = experiment.scenarios.len() > 1;
    if !json {
        outln!(
            "{}: {} scenario(s)",
            experiment.name,
            experiment.scenarios.len()
        );
    }
    let mut summaries = Vec::new();
    let mut all_passed = true;
    let mut failures = Vec::new();
    let (mut total_requests, mut total_events) = (0u64, 0u64);
    for s in &experiment.scenarios {
        let dir = if several {
            base.join(slug(&s.name))
        } else {
            base.clone()
        };
        let bar = run_progress(s, quiet);
        let summary = match aichaos::run::run_to_dir_logged(
            s,
            &dir,
            draw_charts,
            &|now, requests| {
                if let Some(bar) = &bar {
                    bar.set_position(now / 1_000_000);
                    bar.set_message(format!("{requests} requests"));
                }
            },
            request_log.as_deref(),
        ) {
            Ok(summary) => summary,
            Err(e) => {
                if let Some(bar) = &bar {
                    bar.abandon();
                }
                let code = run_failed(&format!("{file}: scenario `{}`", s.name), &e);
                if aichaos::interrupt::is_interrupted(code) {
                    eprintln!(
                        "nothing of this scenario was written; earlier scenarios' results are complete"
                    );
                }
                return code;
            }
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if json {
            summaries.push(serde_json::to_value(&summary).expect("serializes"));
        } else {
            outln!("{}", console_line(&summary));
            for line in incident_lines(&summary) {
                outln!("{line}");
            }
        }
        all_passed &= summary.passed;
        failures.extend(failed_expectations(&summary));
        total_requests += summary.requests.arrived;
        total_events += summary.events_processed;
    }
    if several
        && draw_charts
        && let Err(e) = overview(&base, &experiment)
    {
        eprintln!(
            "error: {file}: {e}; every scenario's results are complete, only overview.png is missing"
        );
        return EXIT_OUTPUT_FAILED;
    }
    if json {
        let report = serde_json::json!({
            "experiment": experiment.name,
            "passed": all_passed,
            "out": base.display().to_string(),
            "scenarios": summaries,
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    } else {
        outln!(
            "Overall: {}  ({} requests, {} events; simulated {} per scenario; results in {})",
            if all_passed {
                "ALL PASSED"
            } else {
                "SOME FAILED"
            },
            total_requests,
            total_events,
            experiment
                .scenarios
                .first()
                .and_then(|s| s.duration_ns)
                .map_or("until done".to_string(), format_duration),
            base.display()
        );
    }
    if all_passed {
        0
    } else {
        eprintln!("expectations failed:");
        for line in failures {
            eprintln!("{line}");
        }
        EXIT_EXPECTATION_FAILED
    }
}

/// A run expected to compute longer than `limits::MAX_UNFORCED_RUN_WALL_SECONDS` is refused
/// without `--force`, with the estimate: nobody should discover an hours-long run and a
/// multi-gigabyte CSV by waiting.
fn too_long_unforced(experiment: &Experiment, force: bool) -> Option<String> {
    use aichaos::scenario::estimate::{estimate_run, format_wall_seconds};
    use aichaos::scenario::limits::MAX_UNFORCED_RUN_WALL_SECONDS;
    let estimates: Vec<_> = experiment.scenarios.iter().map(estimate_run).collect();
    let seconds: f64 = estimates.iter().map(|e| e.wall_seconds).sum();
    if force || seconds <= MAX_UNFORCED_RUN_WALL_SECONDS {
        return None;
    }
    let requests: f64 = estimates.iter().map(|e| e.requests).sum();
    let csv_bytes: f64 = estimates.iter().map(|e| e.csv_bytes).sum();
    let csv_size = if csv_bytes >= 1e9 {
        format!("{:.1} GB", csv_bytes / 1e9)
    } else {
        format!("{:.0} MB", (csv_bytes / 1e6).ceil())
    };
    Some(format!(
        "this run would simulate about {requests:.2e} requests: about {} of computing at \
         {:.0e} requests per second (measured on the slowest shipped world), and a \
         timeseries.csv of about {csv_size}. Pass --force to run it anyway, or shorten it \
         with --duration",
        format_wall_seconds(seconds),
        aichaos::scenario::limits::REQUESTS_PER_WALL_SECOND,
    ))
}

/// The experiment's overview chart, from the scenarios' saved results.
fn overview(base: &std::path::Path, experiment: &Experiment) -> Result<(), String> {
    let runs = experiment
        .scenarios
        .iter()
        .map(|s| load_run(&base.join(slug(&s.name))).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    charts::render_overview(&runs, &base.join("overview.png"))
}
