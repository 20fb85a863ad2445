//! The `aichaos` command line: parse arguments, load scenarios, run, report, exit with the
//! contract's code (0 ok, 1 expectations failed, 2 bad input, 3 an output not written,
//! 130/143 interrupted).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use aichaos::charts::{self, data::load_run};
use aichaos::checkpoint::Checkpoint;
use aichaos::error::{EXIT_BAD_INPUT, EXIT_EXPECTATION_FAILED, EXIT_OUTPUT_FAILED, InputError};
use aichaos::output::slug;
use aichaos::report::{console_line, failed_expectations, incident_lines};
use aichaos::scenario::overrides::Override;
use aichaos::scenario::{self, Experiment};
use aichaos::time::{format_duration, parse_duration};

/// Prints to stdout, ignoring a closed pipe (`aichaos run ... | head` must not panic); the
/// results are files, the console is a courtesy.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Parser)]
#[command(
    name = "aichaos",
    version,
    about = "Deterministic chaos simulator for the clients of AI (LLM) APIs",
    long_about = "Simulates AI API traffic against a stochastic provider model (latency, 429s with \
                  Retry-After, 5xx, hangs, outages, rate limits, credits) on a virtual clock, \
                  through a client policy (timeouts, retries with backoff and jitter, circuit \
                  breaker, fallback). Same scenario + same seed = byte-identical results.\n\n\
                  Exit codes: 0 success, 1 a declared expectation failed, 2 bad input or a \
                  refusal, 3 an output could not be written, 130 interrupted (Ctrl-C), 143 \
                  stopped by SIGTERM."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Write into an --out directory even if it exists and does not look like aichaos output,
    /// let init overwrite its files, let a sweep or incident search start over instead of
    /// resuming (aichaos deletes only its own temporary and progress files), and let a run
    /// estimated at over 10 minutes of computing start.
    #[arg(long, global = true)]
    force: bool,
    /// No progress bar (it is drawn only when stderr is a terminal anyway).
    #[arg(long, global = true)]
    quiet: bool,
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
        /// Print {experiment, passed, out, scenarios: [summary.json...]} instead of the table.
        #[arg(long)]
        json: bool,
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
    /// Compare policies on the same simulated world, with confidence intervals.
    ///
    /// The scenario as written is the baseline; each --variant changes it. Without
    /// --variant, an experiment file's scenarios are the variants (the first is the
    /// baseline). Every variant runs on the same replications (common random numbers): each
    /// metric is reported as a mean with its 95 % interval, and as the paired difference to
    /// the baseline. Writes compare.json, compare.csv and overlay charts of the first
    /// replication.
    Compare {
        /// Scenario or experiment file.
        scenario: PathBuf,
        /// With --variant: the scenario of an experiment file to use as the baseline.
        #[arg(long = "scenario", value_name = "NAME")]
        only: Option<String>,
        /// NAME=OVERRIDES.json (a JSON merge patch over the scenario) or
        /// NAME:PATH=VALUE;PATH=VALUE (inline overrides). Repeatable.
        #[arg(long = "variant", value_name = "SPEC")]
        variants: Vec<String>,
        /// Replications (seeds derived from the scenario's seed).
        #[arg(long, default_value_t = 5)]
        replications: u32,
        /// Simulations run at once (default: the machine's cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Override a field of every variant, baseline included: PATH=VALUE (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Output directory (default: output/compare-<scenario>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print compare.json instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Sweep scenario fields over a grid and rank the points by an objective.
    ///
    /// Every point runs on the same replications (common random numbers). Writes
    /// sweep.csv, sweep.json and best.json (the best point as a ready-to-run scenario).
    Sweep {
        /// Scenario file (an experiment file needs --scenario).
        scenario: PathBuf,
        /// The scenario of an experiment file to sweep.
        #[arg(long = "scenario", value_name = "NAME")]
        only: Option<String>,
        /// PATH=VALUES: a list (3,5,8,13) or a range with a count (10s..120s:6, 1..9:5,
        /// 100ms..10s:5:log). Repeatable: the grid is every combination.
        #[arg(long = "param", value_name = "PATH=VALUES", required = true)]
        params: Vec<String>,
        /// max:METRIC or min:METRIC (metrics: success_rate, latency_mean_ms,
        /// latency_p99_ms, amplification, cost_usd, breaker_opens, wasted_completions, retries).
        #[arg(long, default_value = "max:success_rate")]
        objective: String,
        /// METRIC<=LIMIT or METRIC>=LIMIT on the mean (repeatable).
        #[arg(long = "constraint", value_name = "BOUND")]
        constraints: Vec<String>,
        /// Replications per point.
        #[arg(long, default_value_t = 3)]
        replications: u32,
        /// How points are chosen: grid (every combination), random:N, or lhs:N (Latin
        /// hypercube over the ranges; lists are drawn by index).
        #[arg(long, default_value = "grid")]
        sample: String,
        /// Run only the I-th of N deterministic slices of the points (I/N, 1-based) and
        /// write its part; `aichaos merge` combines the parts into the sweep's files.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Simulations run at once (default: the machine's cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Override a field of every point: PATH=VALUE (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Output directory (default: output/sweep-<scenario>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print sweep.json instead of the table.
        #[arg(long)]
        json: bool,
        /// Go on with an interrupted sweep (same command): its finished runs, kept in the
        /// output directory's sweep-progress.jsonl, are not run again; the results are those
        /// of an uninterrupted sweep.
        #[arg(long)]
        resume: bool,
    },
    /// Combine the parts of a sharded sweep into exactly the files the whole sweep writes.
    Merge {
        /// The sweep-part-I-of-N.json files, one per shard.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Print sweep.json instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Run a scenario over many seeds and rank the worst incidents of its SLOs.
    ///
    /// Every seed is a whole run, side by side on the machine's cores (results do not
    /// depend on it). Prints the worst incidents with the commands that reproduce each one
    /// (`run --seed N`) and replay its window; writes incidents.json (the ranking) and
    /// incidents.csv (every incident of every seed).
    Incidents(IncidentsArgs),
    /// Re-run a scenario and trace every event of a time window.
    ///
    /// The run is exactly `aichaos run`'s with the same scenario and seed; it stops at the
    /// window's end. --trace writes each event (time, request, attempt, group, target,
    /// outcome, breaker state, latency, Retry-After, credits): a .jsonl file gets one JSON
    /// object per line, any other name Chrome trace-event JSON for ui.perfetto.dev.
    /// --narrate prints a postmortem timeline of the window's notable events.
    Replay(ReplayArgs),
    /// Check scenario files and report every problem with its field path.
    Validate {
        /// Scenario or experiment files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Override a field before checking: PATH=VALUE (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Write a starting scenario to edit (and aichaos.schema.json beside it for the editor).
    Init {
        /// Where to write it.
        #[arg(default_value = "scenario.json")]
        file: PathBuf,
        /// The client policy: a preset of a real client (e.g. openai-python, resilience4j-default)
        /// instead of the hand-written timeouts, retries, breaker and fallback.
        #[arg(long)]
        preset: Option<String>,
        /// The provider: a real API's account as published (openai-tier1, openai-tier5,
        /// anthropic-tier1, anthropic-tier4: models, prices, rate limits of the tier) instead
        /// of the generic OpenAI-like one.
        #[arg(long, value_name = "NAME")]
        provider_profile: Option<String>,
    },
    /// Print the JSON Schema of scenario files (point "$schema" at it for editor help).
    Schema,
    /// Print a shell completion script (e.g. `aichaos completions bash > ~/.local/share/bash-completion/completions/aichaos`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page, generated from these definitions (e.g. `aichaos man > aichaos.1`).
    Man {
        /// Write one page per command into DIR instead (aichaos.1, aichaos-run.1, ...).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct IncidentsArgs {
    /// Scenario file (an experiment file needs --scenario); it must declare `slos`.
    scenario: PathBuf,
    /// The scenario of an experiment file.
    #[arg(long = "scenario", value_name = "NAME")]
    only: Option<String>,
    /// Seeds to run: A..B (both ends included) or a list 1,5,9; at most 100000.
    #[arg(long, default_value = "1..100")]
    seeds: String,
    /// How many of the worst incidents to show and rank in incidents.json.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Only the incidents of this SLO.
    #[arg(long)]
    slo: Option<String>,
    /// Simulations run at once (default: the machine's cores); results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Override a field: PATH=VALUE (repeatable; part of the printed commands).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// Output directory (default: output/incidents-<scenario>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print incidents.json instead of the table.
    #[arg(long)]
    json: bool,
    /// Go on with an interrupted search (same command): seeds it finished, kept in the
    /// output directory's incidents-progress.jsonl, are not run again.
    #[arg(long)]
    resume: bool,
}

#[derive(clap::Args)]
struct ReplayArgs {
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
    /// Override a field: PATH=VALUE (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (force, quiet) = (cli.force, cli.quiet);
    aichaos::interrupt::install();
    let code = match cli.command {
        Command::Run {
            scenario,
            seed,
            duration,
            out,
            only,
            no_charts,
            set,
            json,
        } => run(
            &scenario,
            RunOptions {
                seed,
                duration,
                out,
                only,
                charts: !no_charts,
                set,
                json,
                force,
                quiet,
            },
        ),
        Command::Validate { files, set } => validate(&files, &set),
        Command::Incidents(args) => incidents(args, force, quiet),
        Command::Replay(args) => replay(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "aichaos", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            0
        }
        Command::Man { out_dir } => man(out_dir),
        Command::Init {
            file,
            preset,
            provider_profile,
        } => init(&file, preset.as_deref(), provider_profile.as_deref(), force),
        Command::Schema => {
            let schema = scenario::json_schema();
            outln!(
                "{}",
                serde_json::to_string_pretty(&schema).expect("serializes")
            );
            0
        }
        Command::Plot { dirs, out } => plot(&dirs, out, force),
        Command::Merge { parts, out, json } => merge(&parts, &out, json, force),
        Command::Sweep {
            scenario,
            only,
            params,
            objective,
            constraints,
            replications,
            sample,
            shard,
            threads,
            set,
            out,
            json,
            resume,
        } => sweep(
            &scenario,
            SweepOptions {
                only,
                params,
                objective,
                constraints,
                replications,
                sample,
                shard,
                threads,
                set,
                out,
                json,
                force,
                quiet,
                resume,
            },
        ),
        Command::Compare {
            scenario,
            only,
            variants,
            replications,
            threads,
            set,
            out,
            json,
        } => compare(
            &scenario,
            CompareOptions {
                only,
                variants,
                replications,
                threads,
                set,
                out,
                json,
                force,
                quiet,
            },
        ),
    };
    ExitCode::from(code as u8)
}

fn incidents(a: IncidentsArgs, force: bool, quiet: bool) -> i32 {
    use aichaos::incidents::{self, Source};
    let file = a.scenario.to_string_lossy().to_string();
    let fail = |field: &str, e: String| bad_input(&InputError::single(&file, field, e));
    let seeds = match incidents::parse_seeds(&a.seeds) {
        Ok(s) => s,
        Err(e) => return fail("--seeds", e),
    };
    if a.top == 0 {
        return fail("--top", "must be at least 1".into());
    }
    let sets = match parse_overrides(&a.set) {
        Ok(s) => s,
        Err(e) => return fail("--set", e),
    };
    let empty = serde_json::Value::Object(Default::default());
    let scenario = match scenario::load_file_patched(&file, a.only.as_deref(), &empty, &sets) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    if scenario.slos.is_empty() {
        return fail(
            "slos",
            "the scenario declares no SLO; incidents are breaches of `slos` \
             (e.g. [{\"name\": \"availability\", \"success_rate\": 0.99}])"
                .into(),
        );
    }
    if let Some(name) = &a.slo
        && !scenario.slos.iter().any(|s| &s.name == name)
    {
        let names: Vec<&str> = scenario.slos.iter().map(|s| s.name.as_str()).collect();
        return fail(
            "--slo",
            format!("no SLO named `{name}`; SLOs: {}", names.join(", ")),
        );
    }
    let out = a.out.unwrap_or_else(|| {
        PathBuf::from("output").join(format!("incidents-{}", slug(&scenario.name)))
    });
    let _lock = match claim(&out, force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let header = serde_json::json!({
        "format": "aichaos.incidents-progress/1",
        "file": file,
        "scenario": a.only,
        "set": a.set,
        "seeds": seeds,
    });
    let checkpoint =
        match Checkpoint::open(&out, "incidents-progress.jsonl", &header, a.resume, force) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_BAD_INPUT;
            }
        };
    if checkpoint.resumed() > 0 && !quiet {
        eprintln!(
            "resuming: {} seeds taken from {}",
            checkpoint.resumed(),
            checkpoint.path().display()
        );
    }
    let found = match incidents::run_seeds(
        &scenario,
        &seeds,
        threads,
        &progress(seeds.len() as u64, quiet),
        Some(&checkpoint),
    ) {
        Ok(f) => f,
        Err(e) => {
            let code = run_failed(&file, &e);
            if aichaos::interrupt::is_interrupted(code) {
                eprintln!(
                    "finished seeds are kept in {}: run the same command with --resume to go on",
                    checkpoint.path().display()
                );
            }
            return code;
        }
    };
    checkpoint.complete();
    let source = Source {
        file: file.clone(),
        scenario: a.only.clone(),
        overrides: a.set.clone(),
    };
    let search = incidents::rank(&scenario, &source, &found, a.slo.as_deref(), a.top);
    let json = serde_json::to_string_pretty(&search).expect("serializes") + "\n";
    let written = aichaos::output::write_atomic(
        &out,
        "incidents.csv",
        incidents::csv(&found, a.slo.as_deref()).as_bytes(),
    )
    .and_then(|_| aichaos::output::write_atomic(&out, "incidents.json", json.as_bytes()));
    if let Err(e) = written {
        return write_failed(&out, e);
    }
    if a.json {
        out!("{json}");
    } else {
        out!("{}", incidents::table(&search));
        outln!("results in {}", out.display());
    }
    0
}

fn replay(a: ReplayArgs) -> i32 {
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
    let sets = match parse_overrides(&a.set) {
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
        Err(aichaos::sim::RunError::Io(e)) => {
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

fn bad_input(error: &InputError) -> i32 {
    eprintln!("{error}");
    EXIT_BAD_INPUT
}

fn load(path: &std::path::Path, set: &[String]) -> Result<Experiment, InputError> {
    let file = path.to_string_lossy();
    let overrides = parse_overrides(set).map_err(|e| InputError::single(&file, "--set", e))?;
    scenario::load_file_with(&file, &overrides)
}

/// `--set PATH=VALUE` texts, parsed; the first bad one's reason.
fn parse_overrides(texts: &[String]) -> Result<Vec<Override>, String> {
    texts.iter().map(|t| Override::parse(t)).collect()
}

/// The replications compare and sweep accept.
fn check_replications(replications: u32) -> Result<(), String> {
    if (1..=10_000).contains(&replications) {
        Ok(())
    } else {
        Err("between 1 and 10000".into())
    }
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
                outln!(
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
    json: bool,
    force: bool,
    quiet: bool,
}

/// Reports a run that failed; its exit code (see `RunError::exit_code`).
fn run_failed(context: &str, e: &aichaos::sim::RunError) -> i32 {
    eprintln!("error: {context}: {e}");
    e.exit_code()
}

/// Reports an output that could not be written; exit 3.
fn write_failed(place: &std::path::Path, e: impl std::fmt::Display) -> i32 {
    eprintln!("error: {}: {e}", place.display());
    EXIT_OUTPUT_FAILED
}

/// Takes `dir` for output (see `output::claim_dir`): the lock to hold while writing, or
/// the exit code if refused.
fn claim(dir: &std::path::Path, force: bool) -> Result<aichaos::output::DirLock, i32> {
    aichaos::output::claim_dir(dir, force).map_err(|e| {
        eprintln!("error: {}: {e}", dir.display());
        EXIT_BAD_INPUT
    })
}

fn run(path: &std::path::Path, options: RunOptions) -> i32 {
    let RunOptions {
        seed,
        duration,
        out,
        only,
        charts: draw_charts,
        set,
        json,
        force,
        quiet,
    } = options;
    let file = path.to_string_lossy().to_string();
    let mut experiment = match load(path, &set) {
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
        let summary = match aichaos::run::run_to_dir_watched(
            s,
            &dir,
            draw_charts,
            &|now, requests| {
                if let Some(bar) = &bar {
                    bar.set_position(now / 1_000_000);
                    bar.set_message(format!("{requests} requests"));
                }
            },
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

fn plot(dirs: &[PathBuf], out: Option<PathBuf>, force: bool) -> i32 {
    // The runs were read and checked before drawing: what fails now is writing a PNG.
    let fail = |e: String| {
        eprintln!("error: {e}");
        EXIT_OUTPUT_FAILED
    };
    // An experiment's directory holds no summary of its own, only its scenarios'.
    if let [dir] = dirs
        && !dir.join("summary.json").exists()
    {
        let scenarios = scenario_dirs(dir);
        if !scenarios.is_empty() {
            let out = out.unwrap_or_else(|| dir.clone());
            let _lock = match claim(&out, force) {
                Ok(lock) => lock,
                Err(code) => return code,
            };
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
            outln!(
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
    let _lock = match claim(&out, force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    match charts::render(&runs, &out) {
        Ok(files) => {
            for f in files {
                outln!("{}", f.display());
            }
            0
        }
        Err(e) => fail(e),
    }
}

struct CompareOptions {
    only: Option<String>,
    variants: Vec<String>,
    replications: u32,
    threads: Option<usize>,
    set: Vec<String>,
    out: Option<PathBuf>,
    json: bool,
    force: bool,
    quiet: bool,
}

fn compare(path: &std::path::Path, options: CompareOptions) -> i32 {
    use aichaos::compare::{self, Variant, VariantSpec};
    let file = path.to_string_lossy().to_string();
    let fail = |field: &str, e: String| bad_input(&InputError::single(&file, field, e));
    if let Err(e) = check_replications(options.replications) {
        return fail("--replications", e);
    }
    let base_sets = match parse_overrides(&options.set) {
        Ok(s) => s,
        Err(e) => return fail("--set", e),
    };
    if options.variants.is_empty() {
        if let Some(name) = &options.only {
            return fail(
                "--variant",
                format!("nothing to compare `{name}` with: give at least one --variant"),
            );
        }
        let (experiment, variants) = match declared_variants(&file, &base_sets) {
            Ok(v) => v,
            Err(code) => return code,
        };
        return finish_compare(&file, &variants, Some(experiment), &options);
    }
    let empty = serde_json::Value::Object(Default::default());
    let load = |patch: &serde_json::Value, sets: &[Override]| {
        scenario::load_file_patched(&file, options.only.as_deref(), patch, sets)
    };
    let baseline = match load(&empty, &base_sets) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let mut variants = vec![Variant {
        name: "baseline".into(),
        spec: "the scenario as written".into(),
        scenario: baseline,
    }];
    for text in &options.variants {
        let (name, spec) = match compare::parse_variant(text) {
            Ok(v) => v,
            Err(e) => return fail("--variant", e),
        };
        if variants.iter().any(|v| v.name == name) {
            return fail("--variant", format!("the name `{name}` is used twice"));
        }
        let (patch, mut sets, spec_text) = match spec {
            VariantSpec::File(f) => match compare::read_patch(&f) {
                Ok(p) => (p, Vec::new(), f),
                Err(e) => return fail("--variant", e),
            },
            VariantSpec::Sets(s) => match parse_overrides(&s) {
                Ok(o) => (empty.clone(), o, s.join(";")),
                Err(e) => return fail("--variant", e),
            },
        };
        let mut all = base_sets.clone();
        all.append(&mut sets);
        match load(&patch, &all) {
            Ok(scenario) => variants.push(Variant {
                name,
                spec: spec_text,
                scenario,
            }),
            Err(e) => return bad_input(&e),
        }
    }
    finish_compare(&file, &variants, None, &options)
}

/// The variants an experiment file declares: its scenarios, the first one the baseline;
/// with the experiment's name.
fn declared_variants(
    file: &str,
    sets: &[Override],
) -> Result<(String, Vec<aichaos::compare::Variant>), i32> {
    let experiment = scenario::load_file_with(file, sets).map_err(|e| bad_input(&e))?;
    if experiment.scenarios.len() < 2 {
        return Err(bad_input(&InputError::single(
            file,
            "--variant",
            "a single scenario has nothing to compare with: give at least one --variant, \
             or an experiment file whose scenarios are the variants"
                .to_string(),
        )));
    }
    // Replications replace every scenario's seed with the base seed's replication seeds
    // (common random numbers): scenarios that differ in their seed are not compared on it.
    let base_seed = experiment.scenarios[0].seed;
    if let Some(other) = experiment.scenarios.iter().find(|s| s.seed != base_seed) {
        eprintln!(
            "note: `{}` declares seed {} but every variant runs on the replications of the first              scenario's seed {base_seed} (common random numbers); to compare seeds, use              `aichaos incidents --seeds` or separate runs",
            other.name, other.seed
        );
    }
    let variants = experiment
        .scenarios
        .into_iter()
        .enumerate()
        .map(|(i, scenario)| aichaos::compare::Variant {
            name: scenario.name.clone(),
            spec: format!("scenario {} of the file", i + 1),
            scenario,
        })
        .collect();
    Ok((experiment.name, variants))
}

/// Runs the variants, writes compare.json/compare.csv/charts and prints the table. `title`
/// names the comparison when it is not the baseline scenario's name (an experiment's).
fn finish_compare(
    file: &str,
    variants: &[aichaos::compare::Variant],
    title: Option<String>,
    options: &CompareOptions,
) -> i32 {
    use aichaos::compare;
    let name = title
        .clone()
        .unwrap_or_else(|| variants[0].scenario.name.clone());
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(format!("compare-{}", slug(&name))));
    let _lock = match claim(&out, options.force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    let mut comparison = match run_variants(
        file,
        variants,
        options.replications,
        options.threads,
        options.quiet,
        None,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(title) = title {
        comparison.scenario = title;
    }
    if let Err(e) = write_comparison(&out, variants, &comparison) {
        return write_failed(&out, e);
    }
    if options.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&comparison).expect("serializes")
        );
    } else {
        out!("{}", compare::table(&comparison));
        outln!("results and overlay charts in {}", out.display());
    }
    0
}

/// compare.json, compare.csv, and the first replication of each variant with overlay charts.
fn write_comparison(
    out: &std::path::Path,
    variants: &[aichaos::compare::Variant],
    comparison: &aichaos::compare::Comparison,
) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let mut runs = Vec::new();
    for v in variants {
        let mut scenario = v.scenario.clone();
        scenario.seed = comparison.seeds[0];
        // Legends and run directories name the variant.
        scenario.name = v.name.clone();
        let dir = out.join("runs").join(slug(&v.name));
        aichaos::run::run_to_dir(&scenario, &dir, false).map_err(|e| e.to_string())?;
        runs.push(load_run(&dir).map_err(|e| e.to_string())?);
    }
    charts::render(&runs, out)?;
    let json = serde_json::to_string_pretty(comparison).expect("serializes") + "\n";
    aichaos::output::write_atomic(
        out,
        "compare.csv",
        aichaos::compare::csv(comparison).as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    aichaos::output::write_atomic(out, "compare.json", json.as_bytes()).map_err(|e| e.to_string())
}

struct SweepOptions {
    only: Option<String>,
    params: Vec<String>,
    objective: String,
    constraints: Vec<String>,
    replications: u32,
    sample: String,
    shard: Option<String>,
    threads: Option<usize>,
    set: Vec<String>,
    out: Option<PathBuf>,
    json: bool,
    force: bool,
    quiet: bool,
    resume: bool,
}

fn sweep(path: &std::path::Path, o: SweepOptions) -> i32 {
    use aichaos::compare::Variant;
    use aichaos::sweep::{self, MAX_POINTS};
    let file = path.to_string_lossy().to_string();
    let fail = |field: &str, e: String| bad_input(&InputError::single(&file, field, e));
    let params = match o
        .params
        .iter()
        .map(|p| sweep::parse_param(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(e) => return fail("--param", e),
    };
    // Checked now, so a typo is refused before anything runs (finish_sweep uses them).
    if let Err(e) = sweep::parse_objective(&o.objective) {
        return fail("--objective", e);
    }
    if let Some(Err(e)) = o
        .constraints
        .iter()
        .map(|c| sweep::parse_constraint(c))
        .find(Result::is_err)
    {
        return fail("--constraint", e);
    }
    if let Err(e) = check_replications(o.replications) {
        return fail("--replications", e);
    }
    let base_sets = match parse_overrides(&o.set) {
        Ok(s) => s,
        Err(e) => return fail("--set", e),
    };
    let sampling = match sweep::parse_sampling(&o.sample) {
        Ok(x) => x,
        Err(e) => return fail("--sample", e),
    };
    let empty = serde_json::Value::Object(Default::default());
    let seed = match scenario::load_file_patched(&file, o.only.as_deref(), &empty, &base_sets) {
        Ok(s) => s.seed,
        Err(e) => return bad_input(&e),
    };
    let count = sweep::point_count(&params, sampling);
    if count > MAX_POINTS {
        return fail(
            "--param",
            format!(
                "{count} points x {} replications is too large a grid (limit {MAX_POINTS} points)",
                o.replications
            ),
        );
    }
    let points = sweep::points(&params, sampling, seed);
    let point_sets = |point: &[serde_json::Value]| -> Vec<Override> {
        let mut sets = base_sets.clone();
        sets.extend(params.iter().zip(point).map(|(p, v)| Override {
            path: p.path.clone(),
            value: v.clone(),
        }));
        sets
    };
    let mut variants = Vec::with_capacity(points.len());
    for (i, point) in points.iter().enumerate() {
        match scenario::load_file_patched(&file, o.only.as_deref(), &empty, &point_sets(point)) {
            Ok(scenario) => variants.push(Variant {
                name: format!("point {}", i + 1),
                spec: String::new(),
                scenario,
            }),
            Err(e) => return bad_input(&e),
        }
    }
    // Estimate before running: refuse sweeps that would take hours.
    let requests: f64 = variants
        .iter()
        .map(|v| aichaos::scenario::estimate::expected_requests(&v.scenario))
        .sum::<f64>()
        * f64::from(o.replications);
    if requests > aichaos::scenario::limits::MAX_EXPECTED_REQUESTS {
        return fail(
            "--param",
            format!(
                "the sweep would simulate about {requests:.2e} requests, {} of computing at \
                 {:.0e} requests per second and thread; narrow the grid",
                aichaos::scenario::estimate::format_wall_seconds(
                    requests / aichaos::scenario::limits::REQUESTS_PER_WALL_SECOND
                ),
                aichaos::scenario::limits::REQUESTS_PER_WALL_SECOND
            ),
        );
    }
    let spec = SweepSpec {
        file: file.clone(),
        only: o.only.clone(),
        params: o.params.clone(),
        objective: o.objective.clone(),
        constraints: o.constraints.clone(),
        replications: o.replications,
        sample: o.sample.clone(),
        set: o.set.clone(),
    };
    let name = variants[0].scenario.name.clone();
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(format!("sweep-{}", slug(&name))));
    let _lock = match claim(&out, o.force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    let base_doc = match scenario::scenario_document(&file, o.only.as_deref(), &empty) {
        Ok(doc) => doc,
        Err(e) => return bad_input(&e),
    };
    if let Some(shard) = &o.shard {
        let (index, count) = match parse_shard(shard) {
            Ok(x) => x,
            Err(e) => return fail("--shard", e),
        };
        if count > variants.len() {
            return fail(
                "--shard",
                format!(
                    "{count} shards for {} points would leave shards empty: use at most {} shards",
                    variants.len(),
                    variants.len()
                ),
            );
        }
        let mine: Vec<usize> = shard_points(index, count, variants.len()).collect();
        // The same slice as `mine`, taken by value.
        let subset: Vec<Variant> = variants
            .into_iter()
            .skip(index - 1)
            .step_by(count)
            .collect();
        let checkpoint = match open_checkpoint(
            &out,
            &format!("sweep-part-{index}-of-{count}-progress.jsonl"),
            &spec,
            &o,
        ) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let comparison = match run_variants(
            &file,
            &subset,
            o.replications,
            o.threads,
            o.quiet,
            Some(&checkpoint),
        ) {
            Ok(c) => c,
            Err(code) => return code,
        };
        checkpoint.complete();
        let part = SweepPart {
            format: SWEEP_PART_FORMAT.into(),
            spec,
            shard: index,
            of: count,
            total_points: points.len(),
            indices: mine,
            scenario: name,
            base_document: base_doc,
            comparison,
        };
        let file_name = format!("sweep-part-{index}-of-{count}.json");
        let text = serde_json::to_string_pretty(&part).expect("serializes") + "\n";
        let written = std::fs::create_dir_all(&out)
            .and_then(|_| aichaos::output::write_atomic(&out, &file_name, text.as_bytes()));
        if let Err(e) = written {
            return write_failed(&out, e);
        }
        if o.json {
            outln!("{}", text.trim_end());
            return 0;
        }
        outln!(
            "shard {index} of {count}: {} of {} points written to {}",
            part.indices.len(),
            part.total_points,
            out.join(&file_name).display()
        );
        return 0;
    }
    let checkpoint = match open_checkpoint(&out, "sweep-progress.jsonl", &spec, &o) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let comparison = match run_variants(
        &file,
        &variants,
        o.replications,
        o.threads,
        o.quiet,
        Some(&checkpoint),
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    checkpoint.complete();
    finish_sweep(&spec, &name, &base_doc, &comparison, &out, o.json)
}

/// The sweep's progress file in `out` (resumed with `--resume`); the exit code if refused.
fn open_checkpoint(
    out: &std::path::Path,
    name: &str,
    spec: &SweepSpec,
    o: &SweepOptions,
) -> Result<Checkpoint<Vec<f64>>, i32> {
    let header =
        serde_json::json!({ "format": "aichaos.sweep-progress/1", "spec": spec, "file": name });
    let checkpoint = Checkpoint::open(out, name, &header, o.resume, o.force).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    })?;
    if checkpoint.resumed() > 0 && !o.quiet {
        eprintln!(
            "resuming: {} finished runs taken from {}",
            checkpoint.resumed(),
            checkpoint.path().display()
        );
    }
    Ok(checkpoint)
}

const SWEEP_PART_FORMAT: &str = "aichaos.sweep-part/1";

/// What defines a sweep: every shard of one sweep carries the same.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Clone)]
struct SweepSpec {
    file: String,
    only: Option<String>,
    params: Vec<String>,
    objective: String,
    constraints: Vec<String>,
    replications: u32,
    sample: String,
    set: Vec<String>,
}

/// One shard's results: the points `indices` (in grid order) and their comparison.
#[derive(serde::Serialize, serde::Deserialize)]
struct SweepPart {
    format: String,
    spec: SweepSpec,
    shard: usize,
    of: usize,
    total_points: usize,
    indices: Vec<usize>,
    scenario: String,
    base_document: serde_json::Value,
    comparison: aichaos::compare::Comparison,
}

/// A part's own consistency: its shard is one of N, it holds exactly that slice's points,
/// and every result has the metrics in their order (ranking reads them by position).
fn check_part(part: &SweepPart) -> Result<(), (&'static str, String)> {
    if part.of == 0 || !(1..=part.of).contains(&part.shard) {
        return Err((
            "shard",
            format!("shard {} of {} is impossible", part.shard, part.of),
        ));
    }
    if part.total_points > aichaos::sweep::MAX_POINTS || part.of > part.total_points {
        return Err((
            "total_points",
            format!(
                "{} shards over {} points: a sweep has at most {} points and at least one per shard",
                part.of,
                part.total_points,
                aichaos::sweep::MAX_POINTS
            ),
        ));
    }
    let expected = shard_points(part.shard, part.of, part.total_points);
    if !part.indices.iter().copied().eq(expected) {
        return Err((
            "indices",
            format!(
                "shard {} of {} over {} points must hold the points whose index modulo {} is {}",
                part.shard,
                part.of,
                part.total_points,
                part.of,
                part.shard - 1
            ),
        ));
    }
    let names: Vec<&str> = aichaos::compare::METRICS.iter().map(|m| m.name).collect();
    for v in &part.comparison.variants {
        if !v
            .metrics
            .iter()
            .map(|m| m.metric.as_str())
            .eq(names.iter().copied())
        {
            return Err((
                "comparison.variants",
                format!(
                    "point `{}` does not hold the metrics {} in this order",
                    v.name,
                    names.join(", ")
                ),
            ));
        }
    }
    if part.comparison.variants.len() != part.indices.len() {
        return Err((
            "comparison.variants",
            format!(
                "{} results for {} points",
                part.comparison.variants.len(),
                part.indices.len()
            ),
        ));
    }
    Ok(())
}

/// What `finish_sweep` relies on, checked on a part (all parts share it): the spec parses,
/// and makes as many points as the parts hold.
fn check_merged_spec(part: &SweepPart) -> Result<(), (&'static str, String)> {
    use aichaos::sweep;
    let spec = &part.spec;
    let params = spec
        .params
        .iter()
        .map(|p| sweep::parse_param(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ("spec.params", e))?;
    sweep::parse_objective(&spec.objective).map_err(|e| ("spec.objective", e))?;
    for c in &spec.constraints {
        sweep::parse_constraint(c).map_err(|e| ("spec.constraints", e))?;
    }
    parse_overrides(&spec.set).map_err(|e| ("spec.set", e))?;
    let sampling = sweep::parse_sampling(&spec.sample).map_err(|e| ("spec.sample", e))?;
    let count = sweep::point_count(&params, sampling);
    if count != part.total_points {
        return Err((
            "total_points",
            format!(
                "the spec makes {count} points, the parts say {}",
                part.total_points
            ),
        ));
    }
    Ok(())
}

/// The points of shard `shard` (1-based) of `of`: every `of`-th from `shard - 1`, so the
/// slices weigh about the same.
fn shard_points(shard: usize, of: usize, total: usize) -> impl Iterator<Item = usize> {
    (shard - 1..total).step_by(of)
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text.split_once('/').and_then(|(i, n)| {
        Some((
            i.trim().parse::<usize>().ok()?,
            n.trim().parse::<usize>().ok()?,
        ))
    });
    match parsed {
        Some((i, n)) if n >= 1 && (1..=n).contains(&i) => Ok((i, n)),
        _ => Err(format!("`{text}`: write I/N with 1 <= I <= N, e.g. 3/8")),
    }
}

/// Ranks a sweep's points and writes everything a sweep writes. Both a whole sweep and
/// `merge` of its shards come here, with the same inputs, so their files are identical.
fn finish_sweep(
    spec: &SweepSpec,
    name: &str,
    base_doc: &serde_json::Value,
    comparison: &aichaos::compare::Comparison,
    out: &std::path::Path,
    json: bool,
) -> i32 {
    use aichaos::compare::METRICS;
    use aichaos::sweep;
    let fail = |e: String| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    };
    let params = match spec
        .params
        .iter()
        .map(|p| sweep::parse_param(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let (objective, constraints, sampling, base_sets) = match (
        sweep::parse_objective(&spec.objective),
        spec.constraints
            .iter()
            .map(|c| sweep::parse_constraint(c))
            .collect::<Result<Vec<_>, _>>(),
        sweep::parse_sampling(&spec.sample),
        parse_overrides(&spec.set),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (_, _, _, Err(e)) => return fail(e),
    };
    let points = sweep::points(&params, sampling, comparison.base_seed);
    let ranked = sweep::rank(&params, &points, comparison, objective, &constraints);

    let report = serde_json::json!({
        "format": "aichaos.sweep/1",
        "scenario": name,
        "objective": spec.objective,
        "constraints": spec.constraints,
        "replications": spec.replications,
        "seeds": comparison.seeds,
        "points": ranked,
    });
    let mut csv = params
        .iter()
        .map(|p| aichaos::timeseries::csv_field(&p.path))
        .collect::<Vec<_>>()
        .join(",");
    csv.push_str(",rank,feasible");
    for m in &METRICS {
        csv.push_str(&format!(",{0},{0}_ci95_half_width", m.name));
    }
    csv.push('\n');
    for p in &ranked {
        let text = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), String::from);
        let values: Vec<String> = p
            .settings
            .iter()
            .map(|(_, v)| aichaos::timeseries::csv_field(&text(v)))
            .collect();
        csv.push_str(&format!("{},{},{}", values.join(","), p.rank, p.feasible));
        for (_, mean, half) in &p.metrics {
            csv.push_str(&format!(
                ",{mean:.6},{}",
                half.map_or(String::new(), |h| format!("{h:.6}"))
            ));
        }
        csv.push('\n');
    }
    // The best point as a scenario: the document with the sweep's --set and the point's values.
    let best_sets = base_sets
        .iter()
        .cloned()
        .chain(ranked[0].settings.iter().map(|(path, value)| Override {
            path: path.clone(),
            value: value.clone(),
        }));
    let best = best_sets.clone().try_fold(base_doc.clone(), |mut doc, s| {
        s.apply(&mut doc)
            .map(|_| doc)
            .map_err(|e| InputError::single(&spec.file, &s.path, e))
    });
    // Checked before anything is written, so a failure leaves no half-written directory.
    let best = match best {
        Ok(doc) => serde_json::to_string_pretty(&doc).expect("serializes") + "\n",
        Err(e) => return bad_input(&e),
    };
    let written = std::fs::create_dir_all(out)
        .and_then(|_| aichaos::output::write_atomic(out, "sweep.csv", csv.as_bytes()))
        .and_then(|_| {
            aichaos::output::write_atomic(
                out,
                "sweep.json",
                (serde_json::to_string_pretty(&report).expect("serializes") + "\n").as_bytes(),
            )
        });
    if let Err(e) = written {
        return write_failed(out, e);
    }
    if let Err(e) = aichaos::output::write_atomic(out, "best.json", best.as_bytes()) {
        return write_failed(out, e);
    }
    let metric = aichaos::compare::METRICS[objective.metric].name;
    if let Err(e) = charts::render_sweep(&ranked, metric, out) {
        return write_failed(out, e);
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
        return 0;
    }
    outln!(
        "{} points x {} replications, ranked by {} ({} feasible); ± is a 95 % interval",
        ranked.len(),
        spec.replications,
        spec.objective,
        ranked.iter().filter(|p| p.feasible).count()
    );
    let shown = [
        "success_rate",
        "latency_p99_ms",
        "amplification",
        "cost_usd",
    ];
    for p in ranked.iter().take(10) {
        let settings: Vec<String> = p.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cells: Vec<String> = shown
            .iter()
            .map(|name| {
                let (_, mean, half) = p
                    .metrics
                    .iter()
                    .find(|(m, _, _)| m == name)
                    .expect("a metric");
                format!(
                    "{name} {mean:.4}{}",
                    half.map_or(String::new(), |h| format!(" ± {h:.4}"))
                )
            })
            .collect();
        outln!(
            "{:>3}{} {}\n     {}",
            p.rank,
            if p.feasible { " " } else { "x" },
            settings.join("  "),
            cells.join("  ")
        );
    }
    outln!(
        "best configuration written to {}",
        out.join("best.json").display()
    );
    0
}

/// A long run's progress on stderr (simulated time, requests, ETA), only on a terminal.
fn run_progress(
    scenario: &aichaos::scenario::Scenario,
    quiet: bool,
) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let length_ms = scenario.duration_ns? / 1_000_000;
    (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(length_ms);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {percent}% of simulated time, {msg}, {elapsed} elapsed, ETA {eta}",
            )
            .expect("a valid template"),
        );
        bar
    })
}

/// A progress bar over `total` simulations on stderr, with an ETA; silent (and free) when
/// stderr is not a terminal, so it never reaches a file or a pipe.
fn progress(total: u64, quiet: bool) -> impl Fn() + Sync {
    use std::io::IsTerminal;
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} simulations, {elapsed} elapsed, ETA {eta}",
            )
            .expect("a valid template"),
        );
        bar
    });
    move || {
        if let Some(bar) = &bar {
            bar.inc(1);
            if bar.position() >= total {
                bar.finish_and_clear();
            }
        }
    }
}

/// Runs variants on shared replications over the machine's cores (or `threads`), with a
/// progress bar; the exit code on failure.
fn run_variants(
    file: &str,
    variants: &[aichaos::compare::Variant],
    replications: u32,
    threads: Option<usize>,
    quiet: bool,
    checkpoint: Option<&Checkpoint<Vec<f64>>>,
) -> Result<aichaos::compare::Comparison, i32> {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let total = variants.len() as u64 * u64::from(replications);
    aichaos::compare::compare_resumable(
        variants,
        replications,
        threads,
        aichaos::run::run_summary,
        &progress(total, quiet),
        checkpoint,
    )
    .map_err(|e| {
        let code = run_failed(file, &e);
        if let Some(c) = checkpoint
            && aichaos::interrupt::is_interrupted(code)
        {
            eprintln!(
                "finished runs are kept in {}: run the same command with --resume to go on",
                c.path().display()
            );
        }
        code
    })
}

fn merge(parts: &[PathBuf], out: &std::path::Path, json: bool, force: bool) -> i32 {
    let mut loaded: Vec<SweepPart> = Vec::new();
    for path in parts {
        let file = path.display().to_string();
        let part: SweepPart = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str(&t).map_err(|e| format!("{}:{}: {e}", e.line(), e.column()))
            }) {
            Ok(p) => p,
            Err(e) => {
                return bad_input(&InputError::single(
                    &file,
                    "",
                    format!("not a sweep part: {e}"),
                ));
            }
        };
        if part.format != SWEEP_PART_FORMAT {
            return bad_input(&InputError::single(
                &file,
                "format",
                format!("`{}` is not `{SWEEP_PART_FORMAT}`", part.format),
            ));
        }
        if let Err((field, reason)) = check_part(&part) {
            return bad_input(&InputError::single(&file, field, reason));
        }
        if let Some(first) = loaded.first()
            && (SweepSpec {
                file: String::new(),
                ..first.spec.clone()
            } != SweepSpec {
                file: String::new(),
                ..part.spec.clone()
            } || first.of != part.of
                || first.total_points != part.total_points
                || first.scenario != part.scenario
                || first.base_document != part.base_document
                || first.comparison.seeds != part.comparison.seeds)
        {
            return bad_input(&InputError::single(
                &file,
                "spec",
                "this part belongs to another sweep (its parameters, scenario, seed or shard count differ)",
            ));
        }
        if loaded.iter().any(|p| p.shard == part.shard) {
            return bad_input(&InputError::single(
                &file,
                "shard",
                format!("shard {} is given twice", part.shard),
            ));
        }
        loaded.push(part);
    }
    let of = loaded[0].of;
    let missing: Vec<usize> = (1..=of)
        .filter(|i| !loaded.iter().any(|p| p.shard == *i))
        .collect();
    if !missing.is_empty() {
        return bad_input(&InputError::single(
            &parts[0].display().to_string(),
            "shard",
            format!("shards {missing:?} of {of} are missing"),
        ));
    }
    // Put every point's results back in grid order.
    let total = loaded[0].total_points;
    let mut variants: Vec<Option<aichaos::compare::VariantResult>> = vec![None; total];
    for part in &loaded {
        for (index, result) in part.indices.iter().zip(&part.comparison.variants) {
            variants[*index] = Some(result.clone());
        }
    }
    let Some(variants) = variants.into_iter().collect::<Option<Vec<_>>>() else {
        return bad_input(&InputError::single(
            &parts[0].display().to_string(),
            "indices",
            "the parts do not cover every point",
        ));
    };
    let first = &loaded[0];
    if let Err((field, reason)) = check_merged_spec(first) {
        return bad_input(&InputError::single(
            &parts[0].display().to_string(),
            field,
            reason,
        ));
    }
    let comparison = aichaos::compare::Comparison {
        variants,
        ..first.comparison.clone()
    };
    let _lock = match claim(out, force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    finish_sweep(
        &first.spec,
        &first.scenario,
        &first.base_document,
        &comparison,
        out,
        json,
    )
}

/// The man pages: aichaos(1) on stdout, or with `dir` one page per command written there
/// (aichaos.1, aichaos-run.1, ...), the way cargo and git ship theirs.
fn man(dir: Option<PathBuf>) -> i32 {
    use clap::CommandFactory;
    let result = match &dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).and_then(|_| clap_mangen::generate_to(Cli::command(), dir))
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map(|_| out!("{}", String::from_utf8_lossy(&page)))
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let place = dir
                .map(|d| format!("{}: ", d.display()))
                .unwrap_or_default();
            eprintln!("error: {place}cannot write the man pages: {e}");
            EXIT_OUTPUT_FAILED
        }
    }
}

/// Writes a starter scenario and, unless one is there, the schema it points at. Existing
/// files are kept unless --force.
fn init(file: &std::path::Path, preset: Option<&str>, profile: Option<&str>, force: bool) -> i32 {
    let name = file.display().to_string();
    let doc = match aichaos::init::starter(preset, profile) {
        Ok(doc) => doc,
        Err(e) => {
            let option = if e.contains("provider profile") {
                "--provider-profile"
            } else {
                "--preset"
            };
            return bad_input(&InputError::single(&name, option, e));
        }
    };
    if file.exists() && !force {
        return bad_input(&InputError::single(
            &name,
            "",
            "exists; choose another name, or pass --force to overwrite it".to_string(),
        ));
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file_name) = file.file_name().and_then(|n| n.to_str()) else {
        return bad_input(&InputError::single(
            &name,
            "",
            "not a file name".to_string(),
        ));
    };
    let schema_name = "aichaos.schema.json";
    let write_schema = force || !dir.join(schema_name).exists();
    let schema = serde_json::to_string_pretty(&scenario::json_schema()).expect("serializes") + "\n";
    let text = serde_json::to_string_pretty(&doc).expect("serializes") + "\n";
    let written = std::fs::create_dir_all(&dir)
        .and_then(|_| {
            if write_schema {
                aichaos::output::write_atomic(&dir, schema_name, schema.as_bytes())
            } else {
                Ok(())
            }
        })
        .and_then(|_| aichaos::output::write_atomic(&dir, file_name, text.as_bytes()));
    if let Err(e) = written {
        eprintln!("error: {name}: {e}");
        return EXIT_OUTPUT_FAILED;
    }
    outln!(
        "wrote {name}{}; next: aichaos run {name}",
        if write_schema {
            format!(" and {}", dir.join(schema_name).display())
        } else {
            String::new()
        }
    );
    0
}
