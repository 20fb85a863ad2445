//! The `aichaos` command line: parse arguments, load scenarios, run, report, exit with the
//! contract's code (0 ok, 1 expectations failed, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use aichaos::charts::{self, data::load_run};
use aichaos::error::{EXIT_BAD_INPUT, EXIT_EXPECTATION_FAILED, InputError};
use aichaos::output::slug;
use aichaos::report::{console_line, failed_expectations};
use aichaos::scenario::overrides::Override;
use aichaos::scenario::{self, Experiment};
use aichaos::time::{format_duration, parse_duration};

#[derive(Parser)]
#[command(
    name = "aichaos",
    version,
    about = "Deterministic chaos simulator for the clients of AI (LLM) APIs",
    long_about = "Simulates AI API traffic against a stochastic provider model (latency, 429s with \
                  Retry-After, 5xx, hangs, outages, rate limits, credits) on a virtual clock, \
                  through a client policy (timeouts, retries with backoff and jitter, circuit \
                  breaker, fallback). Same scenario + same seed = byte-identical results.\n\n\
                  Exit codes: 0 success, 1 a declared expectation failed, 2 bad input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario (or every scenario of an experiment file) and write its results.
    ///
    /// Writes summary.json, timeseries.csv and PNG charts to output/<name>/ (one
    /// subdirectory per scenario of an experiment, plus overview.png).
    Run {
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
        /// Override a field: PATH=VALUE, e.g. traffic[0].policy.retry.max_attempts=5 or
        /// providers[openai].capacity.slots=40 (repeatable; recorded in the summary).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Redraw the charts of saved runs without simulating; overlay several runs.
    ///
    /// One directory: its charts again (byte-identical to what the run drew). Several: one
    /// set of charts overlaying them, a colour and legend entry per run. An experiment's
    /// directory: every scenario's charts and the overview.
    Plot {
        /// Run directories (holding summary.json and timeseries.csv) or experiment directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to draw (default: the run's own directory for one run, output/overlay for
        /// several).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check scenario files and report every problem with its field path.
    Validate {
        /// Scenario or experiment files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Override a field before checking: PATH=VALUE (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run {
            scenario,
            seed,
            duration,
            out,
            only,
            no_charts,
            set,
        } => run(
            &scenario,
            RunOptions {
                seed,
                duration,
                out,
                only,
                charts: !no_charts,
                set,
            },
        ),
        Command::Validate { files, set } => validate(&files, &set),
        Command::Plot { dirs, out } => plot(&dirs, out),
    };
    ExitCode::from(code as u8)
}

fn bad_input(error: &InputError) -> i32 {
    eprintln!("{error}");
    EXIT_BAD_INPUT
}

fn load(path: &std::path::Path, set: &[String]) -> Result<Experiment, InputError> {
    let file = path.to_string_lossy();
    let overrides = set
        .iter()
        .map(|text| Override::parse(text).map_err(|e| InputError::single(&file, "--set", e)))
        .collect::<Result<Vec<_>, _>>()?;
    scenario::load_file_with(&file, &overrides)
}

fn validate(files: &[PathBuf], set: &[String]) -> i32 {
    let mut code = 0;
    for file in files {
        match load(file, set) {
            Ok(experiment) => {
                let names: Vec<&str> = experiment
                    .scenarios
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                println!(
                    "ok: {}: {} scenario(s): {}",
                    file.display(),
                    names.len(),
                    names.join(", ")
                );
            }
            Err(e) => code = bad_input(&e),
        }
    }
    code
}

struct RunOptions {
    seed: Option<u64>,
    duration: Option<String>,
    out: Option<PathBuf>,
    only: Option<String>,
    charts: bool,
    set: Vec<String>,
}

fn run(path: &std::path::Path, options: RunOptions) -> i32 {
    let RunOptions {
        seed,
        duration,
        out,
        only,
        charts: draw_charts,
        set,
    } = options;
    let file = path.to_string_lossy().to_string();
    let mut experiment = match load(path, &set) {
        Ok(e) => e,
        Err(e) => return bad_input(&e),
    };
    if let Some(name) = &only {
        experiment.scenarios.retain(|s| &s.name == name);
        if experiment.scenarios.is_empty() {
            return bad_input(&InputError::single(
                &file,
                "--scenario",
                format!("no scenario named `{name}` in the file"),
            ));
        }
    }
    let duration_ns = match duration.as_deref().map(parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => return bad_input(&InputError::single(&file, "--duration", e)),
    };
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
        if let Some(reason) = aichaos::sim::refuse_if_too_large(s) {
            return bad_input(&InputError::single(&file, &s.name, reason));
        }
    }
    let base = out.unwrap_or_else(|| PathBuf::from("output").join(slug(&experiment.name)));
    let several = experiment.scenarios.len() > 1;
    println!(
        "{}: {} scenario(s)",
        experiment.name,
        experiment.scenarios.len()
    );
    let mut all_passed = true;
    let mut failures = Vec::new();
    let (mut total_requests, mut total_events) = (0u64, 0u64);
    for s in &experiment.scenarios {
        let dir = if several {
            base.join(slug(&s.name))
        } else {
            base.clone()
        };
        let summary = match aichaos::run::run_to_dir(s, &dir, draw_charts) {
            Ok(summary) => summary,
            Err(e) => {
                eprintln!("error: {file}: scenario `{}`: {e}", s.name);
                return EXIT_BAD_INPUT;
            }
        };
        println!("{}", console_line(&summary));
        all_passed &= summary.passed;
        failures.extend(failed_expectations(&summary));
        total_requests += summary.requests.arrived;
        total_events += summary.events_processed;
    }
    if several
        && draw_charts
        && let Err(e) = overview(&base, &experiment)
    {
        eprintln!("error: {file}: {e}");
        return EXIT_BAD_INPUT;
    }
    println!(
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

/// The experiment's overview chart, from the scenarios' saved results.
fn overview(base: &std::path::Path, experiment: &Experiment) -> Result<(), String> {
    let runs = experiment
        .scenarios
        .iter()
        .map(|s| load_run(&base.join(slug(&s.name))).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    charts::render_overview(&runs, &base.join("overview.png"))
}

/// The run directories inside an experiment's output directory, in name order.
fn scenario_dirs(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("summary.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn plot(dirs: &[PathBuf], out: Option<PathBuf>) -> i32 {
    let fail = |e: String| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    };
    // An experiment's directory holds no summary of its own, only its scenarios'.
    if let [dir] = dirs
        && !dir.join("summary.json").exists()
    {
        let scenarios = scenario_dirs(dir);
        if !scenarios.is_empty() {
            let out = out.unwrap_or_else(|| dir.clone());
            let mut runs = Vec::new();
            for scenario in &scenarios {
                let run = match load_run(scenario) {
                    Ok(run) => run,
                    Err(e) => return bad_input(&e),
                };
                let target = out.join(scenario.file_name().expect("read_dir entries have names"));
                if let Err(e) = charts::render(std::slice::from_ref(&run), &target) {
                    return fail(e);
                }
                runs.push(run);
            }
            if let Err(e) = charts::render_overview(&runs, &out.join("overview.png")) {
                return fail(e);
            }
            println!(
                "charts of {} scenarios and the overview in {}",
                runs.len(),
                out.display()
            );
            return 0;
        }
    }
    let mut runs = Vec::new();
    for dir in dirs {
        match load_run(dir) {
            Ok(run) => runs.push(run),
            Err(e) => return bad_input(&e),
        }
    }
    let out = out.unwrap_or_else(|| {
        if runs.len() == 1 {
            dirs[0].clone()
        } else {
            PathBuf::from("output").join("overlay")
        }
    });
    match charts::render(&runs, &out) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            0
        }
        Err(e) => fail(e),
    }
}
