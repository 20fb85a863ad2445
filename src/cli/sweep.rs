//! `aichaos sweep`: scenario fields over a grid (or sampled), ranked by an objective, whole
//! or as one shard of it; `finish_sweep` writes what both a sweep and `merge` write.

use std::path::PathBuf;

use aichaos::charts;
use aichaos::checkpoint::Checkpoint;
use aichaos::error::{EXIT_BAD_INPUT, InputError};
use aichaos::output::slug;
use aichaos::scenario::{self, overrides::Override};
use aichaos::shard::{SWEEP_PART_FORMAT, SweepPart, SweepSpec, parse_shard, shard_points};

use super::{
    SetArgs, ThreadsArg, bad_input, check_replications, claim_shared, parse_overrides,
    run_variants, write_failed,
};

mod worlds;
use worlds::{WorldResults, WorldSweep, execute_worlds, with_world_columns, world_lines};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (an experiment file needs --scenario); none with --worlds.
    #[arg(required_unless_present = "worlds")]
    scenario: Option<PathBuf>,
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
    /// METRIC<=LIMIT or METRIC>=LIMIT (repeatable), judged on the metric's 95 % interval:
    /// feasible (all of it meets the bound), infeasible (none does) or uncertain (the bound
    /// is inside it; never recommended).
    #[arg(long = "constraint", value_name = "BOUND")]
    constraints: Vec<String>,
    /// Among the points tied with the best (not significantly different from it), the one
    /// recommended: min:METRIC or max:METRIC.
    #[arg(
        long = "tie-breaker",
        value_name = "max|min:METRIC",
        default_value = "min:cost_usd"
    )]
    tie_breaker: String,
    /// Replications per point, or `auto`: sequential halving within --budget runs (every
    /// point starts with a few replications, the better half goes on, until the best is
    /// separated or the budget is spent). auto cannot be sharded.
    #[arg(long, value_name = "R|auto", default_value = "3")]
    replications: String,
    /// With --replications auto: the most runs to spend, the baseline's included.
    #[arg(long, value_name = "RUNS")]
    budget: Option<u64>,
    /// How points are chosen: grid (every combination), random:N, or lhs:N (Latin
    /// hypercube over the ranges; lists are drawn by index).
    #[arg(long, default_value = "grid")]
    sample: String,
    /// Run only the I-th of N deterministic slices of the points (I/N, 1-based) and
    /// write its part; `aichaos merge` combines the parts into the sweep's files.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    overrides: SetArgs,
    /// Tune over several worlds at once: each a scenario file, an experiment file (every
    /// scenario of it a world) or FILE:NAME (one scenario of an experiment). Every point and
    /// the baseline (each world as written) run in every world on the same replication
    /// seeds; each replication's metrics are folded over the worlds by --aggregate before
    /// ranking. best.json is the first world with the recommended settings. Not with
    /// --replications auto nor --shard.
    #[arg(long, value_name = "FILE[:NAME]", num_args = 1.., conflicts_with_all = ["scenario", "only"])]
    worlds: Vec<String>,
    /// With --worlds: how each metric is folded over the worlds: mean, worst (the objective's
    /// direction for its metric; a lower success rate, a higher anything else), or pNN, a
    /// percentile of the worlds from best to worst (p100 = worst, p50 = the median world).
    #[arg(long, value_name = "mean|worst|pNN")]
    aggregate: Option<String>,
    /// Output directory (default: output/sweep-<scenario>/, the first world's with --worlds).
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
    #[command(flatten)]
    export: ExportArgs,
}

/// `--export` and `--lossy`, shared by `sweep` and `merge`.
#[derive(clap::Args, Clone, Default)]
pub struct ExportArgs {
    /// Beside best.json, write the winning policy in a real client's format (repeatable, or
    /// a comma list): litellm (best.litellm.yaml), litellm-json (best.litellm.json),
    /// resilience4j (best.resilience4j.yaml), resilience4j-properties
    /// (best.resilience4j.properties), envoy (best.envoy.yaml), polly (best.polly.json),
    /// openai-python (best.openai.py), anthropic-python (best.anthropic.py); with several
    /// groups, best.GROUP.<...> for each group the sweep tunes. Nothing is exported when no
    /// best.json is written. A policy the format cannot express is refused before the sweep
    /// runs, unless --lossy.
    #[arg(long = "export", value_name = "FORMAT[,FORMAT]")]
    pub formats: Vec<String>,
    /// With --export: write what the format can express and list what it cannot.
    #[arg(long)]
    pub lossy: bool,
}

impl ExportArgs {
    pub fn plan(&self) -> Result<aichaos::config::best::Plan, String> {
        aichaos::config::best::Plan::parse(&self.formats, self.lossy)
    }
}

pub fn execute(o: Args, g: super::Globals) -> i32 {
    use aichaos::compare::Variant;
    use aichaos::sweep::{self, MAX_POINTS};
    let file = match (&o.scenario, o.worlds.first()) {
        (Some(path), _) => path.to_string_lossy().to_string(),
        (None, Some(world)) => world.clone(),
        (None, None) => unreachable!("clap requires a scenario or --worlds"),
    };
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
    if let Err(e) = sweep::parse_objective(&o.tie_breaker) {
        return fail("--tie-breaker", e);
    }
    if let Some(Err(e)) = o
        .constraints
        .iter()
        .map(|c| sweep::parse_constraint(c))
        .find(Result::is_err)
    {
        return fail("--constraint", e);
    }
    let (replications, budget) = match (o.replications.as_str(), o.budget) {
        ("auto", Some(budget)) => (0, Some(budget)),
        ("auto", None) => {
            return fail(
                "--replications",
                "auto needs --budget RUNS: the most runs to spend".into(),
            );
        }
        (fixed, budget) => match fixed.parse::<u32>() {
            Ok(r) if budget.is_none() => match check_replications(r) {
                Ok(()) => (r, None),
                Err(e) => return fail("--replications", e),
            },
            Ok(_) => {
                return fail(
                    "--budget",
                    "a budget is for --replications auto; a fixed design runs what it says".into(),
                );
            }
            Err(_) => {
                return fail(
                    "--replications",
                    format!("`{fixed}` is neither a number of replications nor `auto`"),
                );
            }
        },
    };
    if budget.is_some() && o.shard.is_some() {
        return fail(
            "--shard",
            "--replications auto cannot be sharded: which points go on after each stage depends on \
             every point's results. Run it whole (it needs far fewer runs), or shard a sweep of \
             fixed --replications"
                .into(),
        );
    }
    let base_sets = match parse_overrides(&o.overrides.set) {
        Ok(s) => s,
        Err(e) => return fail("--set", e),
    };
    let sampling = match sweep::parse_sampling(&o.sample) {
        Ok(x) => x,
        Err(e) => return fail("--sample", e),
    };
    let plan = match o.export.plan() {
        Ok(p) => p,
        Err(e) => return fail("--export", e),
    };
    if !plan.is_empty() && o.shard.is_some() {
        return fail(
            "--export",
            "a shard writes no best.json: give --export to `aichaos merge`, which does".into(),
        );
    }
    if !o.worlds.is_empty() {
        let sweep = WorldSweep {
            params,
            replications,
            budget,
            base_sets,
            sampling,
            plan,
        };
        return execute_worlds(o, g, sweep);
    }
    if o.aggregate.is_some() {
        return fail(
            "--aggregate",
            "an aggregate folds the results of several worlds: give them with --worlds".into(),
        );
    }
    let empty = serde_json::Value::Object(Default::default());
    // The scenario as written (with --set): the baseline every point is judged against.
    let baseline = match scenario::load_file_patched(&file, o.only.as_deref(), &empty, &base_sets) {
        Ok(scenario) => Variant {
            name: "baseline".into(),
            spec: String::new(),
            scenario,
        },
        Err(e) => return bad_input(&e),
    };
    let seed = baseline.scenario.seed;
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
            flag: "--param",
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
    // Before anything runs: every policy best.json may hold can be said in each format.
    let scenarios: Vec<&scenario::Scenario> = variants.iter().map(|v| &v.scenario).collect();
    if let Err(e) = plan.check_sweep(
        &baseline.scenario,
        &scenarios,
        &points,
        &param_paths(&params),
    ) {
        return fail("--export", e);
    }
    // Estimate before running: refuse sweeps that would take hours.
    let per_replication: f64 = std::iter::once(&baseline)
        .chain(&variants)
        .map(|v| aichaos::scenario::estimate::expected_requests(&v.scenario))
        .sum::<f64>();
    let requests = match budget {
        // The budget's runs, at the points' mean size.
        Some(b) => per_replication / (variants.len() + 1) as f64 * b as f64,
        None => per_replication * f64::from(replications),
    };
    if let Some(b) = budget
        && b < aichaos::halving::minimum_budget(variants.len())
    {
        return fail(
            "--budget",
            format!(
                "{b} runs are too few for {} points: sequential halving needs at least {} \
                 ({} screening replications for each point and the baseline, and as many \
                 runs again for the later stages)",
                variants.len(),
                aichaos::halving::minimum_budget(variants.len()),
                aichaos::halving::SCREENING
            ),
        );
    }
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
        tie_breaker: o.tie_breaker.clone(),
        replications,
        budget,
        sample: o.sample.clone(),
        set: o.overrides.set.clone(),
        worlds: Vec::new(),
        aggregate: None,
    };
    let name = baseline.scenario.name.clone();
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(format!("sweep-{}", slug(&name))));
    // Shards of one sweep write parts of their own into one --out, side by side.
    let sharing = match o.shard {
        Some(_) => aichaos::output::Sharing::Shards,
        None => aichaos::output::Sharing::Exclusive,
    };
    let _lock = match claim_shared(&out, g.force, sharing) {
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
        // The baseline, then the same slice as `mine`, taken by value: every shard runs the
        // baseline (merge checks that they agree), so a part judges its points on its own.
        let subset: Vec<Variant> = std::iter::once(baseline)
            .chain(variants.into_iter().skip(index - 1).step_by(count))
            .collect();
        let progress_file = format!("sweep-part-{index}-of-{count}-progress.jsonl");
        let comparison = match run_resumable(&file, &out, &progress_file, &spec, &subset, &o, g) {
            Ok(c) => c,
            Err(code) => return code,
        };
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
    let variants: Vec<Variant> = std::iter::once(baseline).chain(variants).collect();
    if let Some(budget) = budget {
        let (comparison, procedure) = match run_halving(
            &file, &out, &spec, &params, &points, &variants, budget, &o, g,
        ) {
            Ok(x) => x,
            Err(code) => return code,
        };
        return finish_sweep(
            &spec,
            &name,
            &base_doc,
            &comparison,
            Some(&procedure),
            None,
            &out,
            o.json,
            &plan,
        );
    }
    let comparison =
        match run_resumable(&file, &out, "sweep-progress.jsonl", &spec, &variants, &o, g) {
            Ok(c) => c,
            Err(code) => return code,
        };
    finish_sweep(
        &spec,
        &name,
        &base_doc,
        &comparison,
        None,
        None,
        &out,
        o.json,
        &plan,
    )
}

/// `--replications auto`: sequential halving within `budget` runs, its finished runs kept
/// in sweep-progress.jsonl for `--resume`; the exit code if refused or interrupted.
#[allow(clippy::too_many_arguments)]
fn run_halving(
    file: &str,
    out: &std::path::Path,
    spec: &SweepSpec,
    params: &[aichaos::sweep::Param],
    points: &[Vec<serde_json::Value>],
    variants: &[aichaos::compare::Variant],
    budget: u64,
    o: &Args,
    g: super::Globals,
) -> Result<(aichaos::compare::Comparison, aichaos::halving::Procedure), i32> {
    use aichaos::sweep;
    let checkpoint = open_checkpoint(out, "sweep-progress.jsonl", spec, o, g)?;
    let parsed = |text: &str| sweep::parse_objective(text).expect("checked before");
    let constraints: Vec<sweep::Constraint> = spec
        .constraints
        .iter()
        .map(|c| sweep::parse_constraint(c).expect("checked before"))
        .collect();
    let ranker = aichaos::halving::Ranker {
        params,
        points,
        objective: parsed(&spec.objective),
        constraints: &constraints,
        tie_breaker: parsed(&spec.tie_breaker),
    };
    let result = aichaos::halving::sequential_halving(
        variants,
        &ranker,
        budget,
        o.threads.count(),
        aichaos::run::run_summary,
        &super::progress(budget, g.quiet),
        Some(&checkpoint),
    )
    .map_err(|e| {
        let code = super::run_failed(file, &e);
        if aichaos::interrupt::is_interrupted(code) {
            eprintln!(
                "finished runs are kept in {}: run the same command with --resume to go on",
                checkpoint.path().display()
            );
        }
        code
    })?;
    checkpoint.complete();
    Ok(result)
}

/// Runs the points, keeping finished runs in the progress file `name` in `out` (resumed
/// with `--resume`, removed once all are done); the exit code if refused or interrupted.
fn run_resumable(
    file: &str,
    out: &std::path::Path,
    name: &str,
    spec: &SweepSpec,
    variants: &[aichaos::compare::Variant],
    o: &Args,
    g: super::Globals,
) -> Result<aichaos::compare::Comparison, i32> {
    let checkpoint = open_checkpoint(out, name, spec, o, g)?;
    let threads = o.threads.threads;
    let comparison = run_variants(
        file,
        variants,
        spec.replications,
        threads,
        g.quiet,
        Some(&checkpoint),
    )?;
    checkpoint.complete();
    Ok(comparison)
}

/// The sweep's progress file in `out` (resumed with `--resume`); the exit code if refused.
fn open_checkpoint(
    out: &std::path::Path,
    name: &str,
    spec: &SweepSpec,
    o: &Args,
    g: super::Globals,
) -> Result<Checkpoint<Vec<f64>>, i32> {
    let header =
        serde_json::json!({ "format": "aichaos.sweep-progress/2", "spec": spec, "file": name });
    let checkpoint = Checkpoint::open(out, name, &header, o.resume, g.force).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    })?;
    if checkpoint.resumed() > 0 && !g.quiet {
        eprintln!(
            "resuming: {} finished runs taken from {}",
            checkpoint.resumed(),
            checkpoint.path().display()
        );
    }
    Ok(checkpoint)
}

/// Ranks a sweep's points and writes everything a sweep writes. Both a whole sweep and
/// `merge` of its shards come here, with the same inputs, so their files are identical.
/// `comparison` holds the baseline (the scenario as written) first, then the points.
#[allow(clippy::too_many_arguments)]
pub(super) fn finish_sweep(
    spec: &SweepSpec,
    name: &str,
    base_doc: &serde_json::Value,
    comparison: &aichaos::compare::Comparison,
    procedure: Option<&aichaos::halving::Procedure>,
    worlds: Option<&WorldResults>,
    out: &std::path::Path,
    json: bool,
    export: &aichaos::config::best::Plan,
) -> i32 {
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
    let (objective, tie_breaker, constraints, sampling, base_sets) = match (
        sweep::parse_objective(&spec.objective),
        sweep::parse_objective(&spec.tie_breaker),
        spec.constraints
            .iter()
            .map(|c| sweep::parse_constraint(c))
            .collect::<Result<Vec<_>, _>>(),
        sweep::parse_sampling(&spec.sample),
        parse_overrides(&spec.set),
    ) {
        (Ok(a), Ok(t), Ok(b), Ok(c), Ok(d)) => (a, t, b, c, d),
        (Err(e), ..)
        | (_, Err(e), ..)
        | (_, _, Err(e), ..)
        | (_, _, _, Err(e), _)
        | (_, _, _, _, Err(e)) => return fail(e),
    };
    let points = sweep::points(&params, sampling, comparison.base_seed);
    let mut ranking = sweep::rank(
        &params,
        &points,
        comparison,
        objective,
        &constraints,
        tie_breaker,
        procedure.map_or(&[], |p| p.dropped_after.as_slice()),
    );
    if let Some(w) = worlds {
        aichaos::worlds::attach(&mut ranking, &w.labels(), &w.comparisons, objective);
    }
    let mut report = serde_json::json!({
        "format": "aichaos.sweep/1",
        "scenario": name,
        "objective": spec.objective,
        "constraints": spec.constraints,
        // With --replications auto, the most any point ran.
        "replications": comparison.replications,
        "seeds": comparison.seeds,
        "points": ranking.points,
        "baseline": ranking.baseline,
        "selection": ranking.selection,
    });
    if let Some(procedure) = procedure {
        report["procedure"] = serde_json::to_value(procedure).expect("serializes");
    }
    if let Some(w) = worlds {
        report["aggregate"] = serde_json::Value::from(w.aggregate.clone());
        report["worlds"] = serde_json::to_value(&w.worlds).expect("serializes");
    }
    let mut csv = sweep_csv(&params, &ranking);
    if worlds.is_some() {
        csv = with_world_columns(&csv, &ranking, metric_name(objective));
    }
    // The recommended point as a scenario: the document with the sweep's --set and the
    // point's values; none when nothing beats the scenario as written.
    let recommended = ranking.points.iter().find(|p| p.recommended);
    let best = recommended.map(|point| {
        base_sets
            .iter()
            .cloned()
            .chain(point.settings.iter().map(|(path, value)| Override {
                path: path.clone(),
                value: value.clone(),
                flag: "--param",
            }))
            .try_fold(base_doc.clone(), |mut doc, s| {
                s.apply(&mut doc)
                    .map(|_| doc)
                    .map_err(|e| InputError::single(&spec.file, &s.path, e))
            })
    });
    // Checked before anything is written, so a failure leaves no half-written directory.
    let best_doc = match best.transpose() {
        Ok(doc) => doc.map(|mut doc| {
            let point = recommended.expect("a best.json for the recommended point");
            aichaos::config::best::record(&mut doc, point.id, &point.settings);
            doc
        }),
        Err(e) => return bad_input(&e),
    };
    let exports = match (&best_doc, export.is_empty()) {
        (Some(doc), false) => match export.files(&spec.file, doc, &param_paths(&params)) {
            Ok(files) => files,
            Err(e) => return bad_input(&InputError::single(&spec.file, "--export", e)),
        },
        _ => Vec::new(),
    };
    let best = best_doc
        .as_ref()
        .map(|doc| serde_json::to_string_pretty(doc).expect("serializes") + "\n");
    let written = std::fs::create_dir_all(out)
        .and_then(|_| aichaos::output::write_atomic(out, "sweep.csv", csv.as_bytes()))
        .and_then(|_| {
            aichaos::output::write_atomic(
                out,
                "sweep.json",
                (serde_json::to_string_pretty(&report).expect("serializes") + "\n").as_bytes(),
            )
        })
        .and_then(|_| match &best {
            Some(text) => aichaos::output::write_atomic(out, "best.json", text.as_bytes()),
            // A best.json left by an earlier sweep in this (claimed) directory would read as
            // this sweep's recommendation.
            None => match std::fs::remove_file(out.join("best.json")) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        })
        .and_then(|_| remove_stale_exports(out))
        .and_then(|_| {
            exports.iter().try_for_each(|f| {
                aichaos::output::write_atomic(out, &f.name, f.exported.text.as_bytes())
            })
        });
    if let Err(e) = written {
        return write_failed(out, e);
    }
    let metric = aichaos::compare::METRICS[objective.metric].name;
    if let Err(e) = charts::render_sweep(&ranking, metric, &constraints, out) {
        return write_failed(out, e);
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
        return 0;
    }
    if let Some(p) = procedure {
        outln!("{}", procedure_lines(p, ranking.points.len()));
    }
    outln!(
        "{}",
        sweep_table(comparison.replications, spec, &ranking, metric)
    );
    if let Some(w) = worlds {
        outln!("{}", world_lines(&w.aggregate, &ranking, metric));
    }
    match best {
        Some(_) => outln!(
            "best configuration written to {}",
            out.join("best.json").display()
        ),
        None => outln!("no best.json written"),
    }
    for f in &exports {
        outln!(
            "exported as {}: {}",
            f.format.name(),
            out.join(&f.name).display()
        );
        for l in &f.exported.lost {
            outln!("  lost: {l}");
        }
    }
    if best.is_none() && !export.is_empty() {
        let names: Vec<&str> = export.formats.iter().map(|f| f.name()).collect();
        outln!(
            "nothing exported (--export {}): no point beats the scenario as written, so the configuration you have stands",
            names.join(",")
        );
    }
    0
}

/// Removes what an earlier `--export` wrote in the (claimed) output directory: a stale
/// best.litellm.yaml would read as this sweep's.
fn remove_stale_exports(out: &std::path::Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(out)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(aichaos::config::best::is_export_file)
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The `--param` paths, as `config::best` names the groups a sweep tunes by them.
fn param_paths(params: &[aichaos::sweep::Param]) -> Vec<&str> {
    params.iter().map(|p| p.path.as_str()).collect()
}

/// `sweep.csv`: a row per point, best first, then the baseline's row (id `baseline`, no
/// settings, no rank). Columns after the metrics were added with the baseline; the ones
/// before keep their names and order.
fn sweep_csv(params: &[aichaos::sweep::Param], ranking: &aichaos::sweep::Ranking) -> String {
    use aichaos::compare::METRICS;
    use aichaos::timeseries::csv_field;
    let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
    let metrics = |rows: &[(String, f64, Option<f64>)]| -> String {
        rows.iter()
            .map(|(_, mean, half)| format!(",{mean:.6},{}", opt(*half)))
            .collect()
    };
    let mut csv = params
        .iter()
        .map(|p| csv_field(&p.path))
        .collect::<Vec<_>>()
        .join(",");
    csv.push_str(",rank,feasible");
    for m in &METRICS {
        csv.push_str(&format!(",{0},{0}_ci95_half_width", m.name));
    }
    csv.push_str(
        ",id,feasibility,objective_diff_vs_baseline,objective_diff_ci95_half_width,p_value,p_holm,beats_baseline,tied_with_best,recommended,replications\n",
    );
    for p in &ranking.points {
        let text = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), String::from);
        let values: Vec<String> = p
            .settings
            .iter()
            .map(|(_, v)| csv_field(&text(v)))
            .collect();
        csv.push_str(&format!("{},{},{}", values.join(","), p.rank, p.feasible));
        csv.push_str(&metrics(&p.metrics));
        csv.push_str(&format!(
            ",{},{},{:.6},{},{},{:.6},{},{},{},{}\n",
            p.id,
            p.feasibility.name(),
            p.vs_baseline.mean,
            opt(p.vs_baseline.half_width),
            opt(p.p_value),
            p.p_holm,
            p.beats_baseline,
            p.tied_with_best,
            p.recommended,
            p.replications
        ));
    }
    let b = &ranking.baseline;
    csv.push_str(&format!(
        "{},,{}",
        ",".repeat(params.len().saturating_sub(1)),
        b.feasible
    ));
    csv.push_str(&metrics(&b.metrics));
    csv.push_str(&format!(
        ",baseline,{},,,,,,,,{}\n",
        b.feasibility.name(),
        b.replications
    ));
    csv
}

/// The console report: the baseline, the first ten points (and the recommended one), each
/// with its paired difference to the baseline, a legend of the marks, and the verdict.
/// What `--replications auto` did: each stage's contenders, replications, runs and drops.
fn procedure_lines(p: &aichaos::halving::Procedure, points: usize) -> String {
    let mut out = format!(
        "sequential halving over {points} points: {} of a budget of {} runs used ({} for a fixed design of {} replications); stopped: {}\n",
        p.runs,
        p.budget,
        (points as u64 + 1) * u64::from(p.stages.last().map_or(0, |s| s.replications)),
        p.stages.last().map_or(0, |s| s.replications),
        p.stopped
    );
    for (i, s) in p.stages.iter().enumerate() {
        out.push_str(&format!(
            "  stage {}: {} points and the baseline to {} replications ({} runs), {} dropped\n",
            i + 1,
            s.points,
            s.replications,
            s.runs,
            s.dropped
        ));
    }
    out.trim_end().to_string()
}

fn sweep_table(
    replications: u32,
    spec: &SweepSpec,
    ranking: &aichaos::sweep::Ranking,
    metric: &str,
) -> String {
    use aichaos::selection::Feasibility;
    let cells = metric_cells;
    let count = |f: Feasibility| ranking.points.iter().filter(|p| p.feasibility == f).count();
    let mut out = format!(
        "{} points x {}{} replications, ranked by {} ({} feasible, {} uncertain, {} infeasible); ± is a 95 % interval, Δ the paired difference to the baseline\n",
        ranking.points.len(),
        if spec.budget.is_some() { "up to " } else { "" },
        replications,
        spec.objective,
        count(Feasibility::Feasible),
        count(Feasibility::Uncertain),
        count(Feasibility::Infeasible)
    );
    let b = &ranking.baseline;
    out.push_str(&format!(
        "  baseline: the scenario as written{}\n     {}\n",
        match b.feasibility {
            Feasibility::Feasible => String::new(),
            f => format!(" ({})", f.name()),
        },
        cells(&b.metrics)
    ));
    let mark = |p: &aichaos::sweep::RankedPoint| match p.feasibility {
        Feasibility::Infeasible => 'x',
        Feasibility::Uncertain => '?',
        Feasibility::Feasible if p.recommended => '*',
        Feasibility::Feasible if p.tied_with_best => '=',
        Feasibility::Feasible => ' ',
    };
    for p in ranking
        .points
        .iter()
        .filter(|p| p.rank <= 10 || p.recommended)
    {
        let settings: Vec<String> = p.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(
            "{:>3}{} #{}  {}\n     {}\n     Δ {metric} {:+.4}{}  p {} (Holm {:.4}){}\n",
            p.rank,
            mark(p),
            p.id,
            settings.join("  "),
            cells(&p.metrics),
            p.vs_baseline.mean,
            p.vs_baseline
                .half_width
                .map_or(String::new(), |h| format!(" ± {h:.4}")),
            p.p_value.map_or("-".to_string(), |v| format!("{v:.4}")),
            p.p_holm,
            if p.beats_baseline {
                ": beats the baseline"
            } else {
                ""
            }
        ));
    }
    let legend: Vec<&str> = [
        ('*', "* recommended"),
        ('=', "= tied with the best"),
        (
            '?',
            "? a constraint uncertain (its bound inside the interval)",
        ),
        ('x', "x infeasible"),
    ]
    .into_iter()
    .filter(|(m, _)| ranking.points.iter().any(|p| mark(p) == *m))
    .map(|(_, text)| text)
    .collect();
    if !legend.is_empty() {
        out.push_str(&format!("  {}\n", legend.join("  ")));
    }
    let s = &ranking.selection;
    if s.tied > 0 {
        out.push_str(&format!(
            "{} points tied with the best (no significant difference, paired t, Holm, 5 %); tie-breaker {}\n",
            s.tied, s.tie_breaker
        ));
    }
    out.push_str(&s.verdict);
    out
}

fn metric_name(objective: aichaos::sweep::Objective) -> &'static str {
    aichaos::compare::METRICS[objective.metric].name
}

/// The headline metrics of a result, as the console shows them.
fn metric_cells(metrics: &[(String, f64, Option<f64>)]) -> String {
    [
        "success_rate",
        "latency_p99_ms",
        "amplification",
        "cost_usd",
    ]
    .iter()
    .map(|name| {
        let (_, mean, half) = metrics
            .iter()
            .find(|(m, _, _)| m == name)
            .expect("a metric");
        format!(
            "{name} {mean:.4}{}",
            half.map_or(String::new(), |h| format!(" ± {h:.4}"))
        )
    })
    .collect::<Vec<_>>()
    .join("  ")
}
