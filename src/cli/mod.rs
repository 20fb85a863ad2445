//! The command line: clap's definitions, one module per command, and what several commands
//! share (loading with `--set`, claiming `--out`, exit codes of failed runs, progress bars).
//! Each command module owns its `Args` and an `execute` that returns the exit code; `main`
//! only parses, installs the signal handler and exits.

mod compare;
mod docs;
mod examples;
mod export;
mod fit;
mod import;
mod incidents;
mod init;
mod merge;
mod plot;
mod replay;
mod run;
mod serve;
mod sweep;
mod validate;

use clap::{Parser, Subcommand};

pub use examples::parse;

use aichaos::checkpoint::Checkpoint;
use aichaos::error::{EXIT_BAD_INPUT, EXIT_OUTPUT_FAILED, InputError};
use aichaos::scenario::overrides::Override;
use aichaos::scenario::{self, Experiment};

/// aichaos's command line.
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
pub struct Cli {
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

/// The options every command takes (clap's global flags).
#[derive(Clone, Copy)]
pub struct Globals {
    pub force: bool,
    pub quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario (or every scenario of an experiment file) and write its results.
    ///
    /// Writes summary.json, timeseries.csv and PNG charts to output/<name>/ (one
    /// subdirectory per scenario of an experiment, plus overview.png).
    Run(run::Args),
    /// Redraw the charts of saved runs without simulating; overlay several runs.
    ///
    /// One directory: its charts again (byte-identical to what the run drew). Several: one
    /// set of charts overlaying them, a colour and legend entry per run. An experiment's
    /// directory: every scenario's charts and the overview.
    Plot(plot::Args),
    /// Compare policies on the same simulated world, with confidence intervals.
    ///
    /// The scenario as written is the baseline; each --variant changes it. Without
    /// --variant, an experiment file's scenarios are the variants (the first is the
    /// baseline). Every variant runs on the same replications (common random numbers): each
    /// metric is reported as a mean with its 95 % interval, and as the paired difference to
    /// the baseline. Writes compare.json, compare.csv and overlay charts of the first
    /// replication.
    Compare(compare::Args),
    /// Sweep scenario fields over a grid and rank the points by an objective.
    ///
    /// The scenario as written (the baseline) and every point run on the same replications
    /// (common random numbers). Each point gets its paired difference to the baseline on the
    /// objective, a one-sided paired t test, and Holm's correction over all points; points
    /// not significantly different from the best are marked tied, and --tie-breaker picks
    /// among them. Constraints are judged on their 95 % interval: feasible, uncertain or
    /// infeasible. Writes sweep.csv and sweep.json (every point and the baseline), and
    /// best.json (a ready-to-run scenario) only for a feasible point that beats the
    /// baseline significantly; otherwise it says that no setting tried beats the scenario
    /// as written, and why (exit 0). --replications auto --budget RUNS spends the runs by
    /// sequential halving: 3 replications for every point, then more for the better half,
    /// until the best is separated or the budget is spent. --export FORMAT writes the
    /// winning policy beside best.json in a real client's format (best.litellm.yaml, ...).
    Sweep(Box<sweep::Args>),
    /// Combine the parts of a sharded sweep into exactly the files the whole sweep writes.
    Merge(merge::Args),
    /// Run a scenario over many seeds and rank the worst incidents of its SLOs.
    ///
    /// Every seed is a whole run, side by side on the machine's cores (results do not
    /// depend on it). Prints the worst incidents with the commands that reproduce each one
    /// (`run --seed N`) and replay its window; writes incidents.json (the ranking) and
    /// incidents.csv (every incident of every seed).
    Incidents(incidents::Args),
    /// Re-run a scenario and trace every event of a time window.
    ///
    /// The run is exactly `aichaos run`'s with the same scenario and seed; it stops at the
    /// window's end. --trace writes each event (time, request, attempt, group, target,
    /// outcome, breaker state, latency, Retry-After, credits): a .jsonl file gets one JSON
    /// object per line, any other name Chrome trace-event JSON for ui.perfetto.dev.
    /// --narrate prints a postmortem timeline of the window's notable events.
    Replay(replay::Args),
    /// Fit a scenario to request logs: latency, tokens, errors, outages, rate limits,
    /// traffic and retries, each with where it came from.
    ///
    /// Reads aichaos's request logs, OpenTelemetry GenAI spans (OTLP JSON) or any CSV / JSON
    /// lines with --column; writes the scenario, fit.json (every fit with its goodness) and
    /// charts (latency CDF and Q-Q, failure rate with the windows found, arrivals).
    Fit(fit::Args),
    /// Serve a scenario's world as a live OpenAI- and Anthropic-compatible endpoint.
    ///
    /// Each request is one attempt through the scenario's provider model on the wall clock
    /// (scaled by --time-scale): rate limits with their headers, queueing, time to first
    /// token and per-token pacing (streamed with `stream: true`), background errors and
    /// hangs, outages and brownouts from the server's start, credits. Point a client's base
    /// URL at it: http://ADDR/v1 for OpenAI SDKs, http://ADDR for Anthropic's. The body's
    /// `model` picks the provider and model (`provider/model` or a model name). Runs until
    /// Ctrl-C or SIGTERM, letting answers in progress finish (exit 130 or 143).
    Serve(serve::Args),
    /// Check scenario files and report every problem with its field path.
    Validate(validate::Args),
    /// Write a starting scenario to edit (and aichaos.schema.json beside it for the editor).
    Init(init::Args),
    /// Read a real client's resilience config (LiteLLM, resilience4j, Envoy, Polly) as a
    /// scenario policy.
    ///
    /// Prints the policy (or, with --into, writes it into a scenario's group) and reports
    /// on stderr every setting mapped, every one not modelled and why, and every default
    /// assumed.
    Import(import::Args),
    /// Write a scenario group's policy as a real client's config.
    ///
    /// Refuses (exit 2, with the reasons) a policy the format cannot express, unless
    /// --lossy, which writes the rest and lists what was lost.
    Export(export::Args),
    /// Print the JSON Schema of scenario files (point "$schema" at it for editor help), or
    /// with --markdown the scenario-format reference.
    Schema(docs::SchemaArgs),
    /// Print a shell completion script (e.g. `aichaos completions bash > ~/.local/share/bash-completion/completions/aichaos`).
    Completions(docs::CompletionsArgs),
    /// Print the man page, generated from these definitions (e.g. `aichaos man > aichaos.1`).
    Man(docs::ManArgs),
}

/// `--set PATH=VALUE`, which every command that reads a scenario takes.
#[derive(clap::Args)]
pub struct SetArgs {
    /// Override a field: PATH=VALUE, e.g. traffic[0].policy.retry.max_attempts=5 or
    /// providers[openai].capacity.slots=40 (repeatable; applied to every scenario of the
    /// file, in compare and sweep to every variant and point, the baseline included; recorded
    /// in the summary and in the commands incidents prints).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

/// `--threads`, for the commands that run whole simulations side by side.
#[derive(clap::Args)]
pub struct ThreadsArg {
    /// Simulations run at once (default: the machine's cores); results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ThreadsArg {
    /// The threads to use: as given, or the machine's cores.
    pub fn count(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Cli {
    /// Runs the command; its exit code.
    pub fn execute(self) -> i32 {
        let g = Globals {
            force: self.force,
            quiet: self.quiet,
        };
        match self.command {
            Command::Run(a) => run::execute(a, g),
            Command::Plot(a) => plot::execute(a, g),
            Command::Compare(a) => compare::execute(a, g),
            Command::Sweep(a) => sweep::execute(*a, g),
            Command::Merge(a) => merge::execute(a, g),
            Command::Incidents(a) => incidents::execute(a, g),
            Command::Replay(a) => replay::execute(a),
            Command::Fit(a) => fit::execute(a, g),
            Command::Serve(a) => serve::execute(a),
            Command::Validate(a) => validate::execute(a),
            Command::Init(a) => init::execute(a, g),
            Command::Import(a) => import::execute(a),
            Command::Export(a) => export::execute(a),
            Command::Schema(a) => docs::schema(a),
            Command::Completions(a) => docs::completions(a),
            Command::Man(a) => docs::man(a),
        }
    }
}

pub(crate) fn bad_input(error: &InputError) -> i32 {
    eprintln!("{error}");
    EXIT_BAD_INPUT
}

pub(crate) fn load(path: &std::path::Path, set: &[String]) -> Result<Experiment, InputError> {
    let file = path.to_string_lossy();
    let overrides = parse_overrides(set).map_err(|e| InputError::single(&file, "--set", e))?;
    scenario::load_file_with(&file, &overrides)
}

/// `--set PATH=VALUE` texts, parsed; the first bad one's reason.
pub(crate) fn parse_overrides(texts: &[String]) -> Result<Vec<Override>, String> {
    texts.iter().map(|t| Override::parse(t)).collect()
}

/// The replications compare and sweep accept.
pub(crate) fn check_replications(replications: u32) -> Result<(), String> {
    if (1..=10_000).contains(&replications) {
        Ok(())
    } else {
        Err("between 1 and 10000".into())
    }
}

/// Reports a run that failed; its exit code (see `RunError::exit_code`).
pub(crate) fn run_failed(context: &str, e: &aichaos::engine::RunError) -> i32 {
    eprintln!("error: {context}: {e}");
    e.exit_code()
}

/// Reports an output that could not be written; exit 3.
pub(crate) fn write_failed(place: &std::path::Path, e: impl std::fmt::Display) -> i32 {
    eprintln!("error: {}: {e}", place.display());
    EXIT_OUTPUT_FAILED
}

/// Takes `dir` for output alone (see `output::claim_dir`): the lock to hold while writing,
/// or the exit code if refused (2) or the file system failed (3).
pub(crate) fn claim(dir: &std::path::Path, force: bool) -> Result<aichaos::output::DirLock, i32> {
    claim_shared(dir, force, aichaos::output::Sharing::Exclusive)
}

/// `claim`, sharing the directory as `sharing` allows (sweep shards share theirs).
pub(crate) fn claim_shared(
    dir: &std::path::Path,
    force: bool,
    sharing: aichaos::output::Sharing,
) -> Result<aichaos::output::DirLock, i32> {
    use aichaos::output::ClaimError;
    aichaos::output::claim_dir(dir, force, sharing).map_err(|e| {
        eprintln!("error: {}: {e}", dir.display());
        match e {
            ClaimError::Refused(_) => EXIT_BAD_INPUT,
            ClaimError::Io(_) => EXIT_OUTPUT_FAILED,
        }
    })
}

/// A long run's progress on stderr (simulated time, requests, ETA), only on a terminal.
pub(crate) fn run_progress(
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
pub(crate) fn progress(total: u64, quiet: bool) -> impl Fn() + Sync {
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
pub(crate) fn run_variants(
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
