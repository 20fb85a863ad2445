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

#[derive(clap::Args)]
pub struct Args {
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
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    overrides: SetArgs,
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
}

pub fn execute(o: Args, g: super::Globals) -> i32 {
    let path = o.scenario.as_path();
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
    let base_sets = match parse_overrides(&o.overrides.set) {
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
        set: o.overrides.set.clone(),
    };
    let name = variants[0].scenario.name.clone();
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
        // The same slice as `mine`, taken by value.
        let subset: Vec<Variant> = variants
            .into_iter()
            .skip(index - 1)
            .step_by(count)
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
    let comparison =
        match run_resumable(&file, &out, "sweep-progress.jsonl", &spec, &variants, &o, g) {
            Ok(c) => c,
            Err(code) => return code,
        };
    finish_sweep(&spec, &name, &base_doc, &comparison, &out, o.json)
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
        o.replications,
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
        serde_json::json!({ "format": "aichaos.sweep-progress/1", "spec": spec, "file": name });
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
pub(super) fn finish_sweep(
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
            flag: "--param",
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
