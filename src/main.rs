//! The `aichaos` command line: parse arguments, load scenarios, run, report, exit with the
//! contract's code (0 ok, 1 expectations failed, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use aichaos::error::{EXIT_BAD_INPUT, EXIT_EXPECTATION_FAILED, InputError};
use aichaos::output::slug;
use aichaos::report::{console_line, failed_expectations};
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
    /// Run a scenario (or every scenario of an experiment file) and write its results
    /// (summary.json, timeseries.csv) to output/<name>/.
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
    },
    /// Check scenario files and report every problem with its field path.
    Validate {
        /// Scenario or experiment files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        } => run(&scenario, seed, duration, out, only),
        Command::Validate { files } => validate(&files),
    };
    ExitCode::from(code as u8)
}

fn bad_input(error: &InputError) -> i32 {
    eprintln!("{error}");
    EXIT_BAD_INPUT
}

fn load(path: &std::path::Path) -> Result<Experiment, InputError> {
    scenario::load_file(&path.to_string_lossy())
}

fn validate(files: &[PathBuf]) -> i32 {
    let mut code = 0;
    for file in files {
        match load(file) {
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

fn run(
    path: &std::path::Path,
    seed: Option<u64>,
    duration: Option<String>,
    out: Option<PathBuf>,
    only: Option<String>,
) -> i32 {
    let file = path.to_string_lossy().to_string();
    let mut experiment = match load(path) {
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
        let summary = match aichaos::run::run_to_dir(s, &dir) {
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
