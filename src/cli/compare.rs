//! `aichaos compare`: variants of a scenario on the same replications, with intervals.

use std::path::PathBuf;

use aichaos::charts::{self, data::load_run};
use aichaos::error::InputError;
use aichaos::output::slug;
use aichaos::scenario::{self, overrides::Override};

use super::{
    SetArgs, ThreadsArg, bad_input, check_replications, claim, parse_overrides, run_failed,
    run_variants, write_failed,
};

#[derive(clap::Args)]
pub struct Args {
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
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    overrides: SetArgs,
    /// Output directory (default: output/compare-<scenario>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print compare.json instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn execute(options: Args, g: super::Globals) -> i32 {
    let path = options.scenario.as_path();
    use aichaos::compare::{self, Variant, VariantSpec};
    let file = path.to_string_lossy().to_string();
    let fail = |field: &str, e: String| bad_input(&InputError::single(&file, field, e));
    if let Err(e) = check_replications(options.replications) {
        return fail("--replications", e);
    }
    let base_sets = match parse_overrides(&options.overrides.set) {
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
        return finish_compare(&file, &variants, Some(experiment), &options, g);
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
                Ok(o) => (
                    empty.clone(),
                    o.into_iter().map(|o| o.given_by("--variant")).collect(),
                    s.join(";"),
                ),
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
    finish_compare(&file, &variants, None, &options, g)
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
            "note: `{}` declares seed {} but every variant runs on the replications of the first \
             scenario's seed {base_seed} (common random numbers); to compare seeds, use \
             `aichaos incidents --seeds` or separate runs",
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
    options: &Args,
    g: super::Globals,
) -> i32 {
    use aichaos::compare;
    let name = title
        .clone()
        .unwrap_or_else(|| variants[0].scenario.name.clone());
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(format!("compare-{}", slug(&name))));
    let _lock = match claim(&out, g.force) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    let mut comparison = match run_variants(
        file,
        variants,
        options.replications,
        options.threads.threads,
        g.quiet,
        None,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(title) = title {
        comparison.scenario = title;
    }
    if let Err(code) = write_comparison(&out, variants, &comparison) {
        return code;
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

/// compare.json, compare.csv, and the first replication of each variant with overlay charts;
/// the exit code if something failed (an interruption keeps its own).
fn write_comparison(
    out: &std::path::Path,
    variants: &[aichaos::compare::Variant],
    comparison: &aichaos::compare::Comparison,
) -> Result<(), i32> {
    std::fs::create_dir_all(out).map_err(|e| write_failed(out, e))?;
    let mut runs = Vec::new();
    for v in variants {
        let mut scenario = v.scenario.clone();
        scenario.seed = comparison.seeds[0];
        // Legends and run directories name the variant.
        scenario.name = v.name.clone();
        let dir = out.join("runs").join(slug(&v.name));
        aichaos::run::run_to_dir(&scenario, &dir, false)
            .map_err(|e| run_failed(&out.display().to_string(), &e))?;
        runs.push(load_run(&dir).map_err(|e| write_failed(&dir, e))?);
    }
    charts::render(&runs, out).map_err(|e| write_failed(out, e))?;
    let json = serde_json::to_string_pretty(comparison).expect("serializes") + "\n";
    aichaos::output::write_atomic(
        out,
        "compare.csv",
        aichaos::compare::csv(comparison).as_bytes(),
    )
    .map_err(|e| write_failed(out, e))?;
    aichaos::output::write_atomic(out, "compare.json", json.as_bytes())
        .map_err(|e| write_failed(out, e))
}
