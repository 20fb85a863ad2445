//! `aichaos incidents`: one run per seed, side by side, and the worst incidents of the
//! scenario's SLOs with the commands that reproduce and replay each.

use std::path::PathBuf;

use aichaos::checkpoint::Checkpoint;
use aichaos::error::{EXIT_BAD_INPUT, InputError};
use aichaos::output::slug;
use aichaos::scenario;

use super::{
    SetArgs, ThreadsArg, bad_input, claim, parse_overrides, progress, run_failed, write_failed,
};

#[derive(clap::Args)]
pub struct Args {
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
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    overrides: SetArgs,
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

pub fn execute(a: Args, g: super::Globals) -> i32 {
    let (force, quiet) = (g.force, g.quiet);
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
    let sets = match parse_overrides(&a.overrides.set) {
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
    let threads = a.threads.count();
    let header = serde_json::json!({
        "format": "aichaos.incidents-progress/1",
        "file": file,
        "scenario": a.only,
        "set": a.overrides.set,
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
        overrides: a.overrides.set.clone(),
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
