//! `aichaos sweep --worlds`: one sweep over several worlds, each point's metrics folded across
//! them (mean, worst, a percentile) before the ranking, and the recommended point shown world
//! by world. The ranking, the baseline and the outputs are the sweep's own (`super`).

use super::*;

/// What `execute` parsed and checked before it turns to `--worlds`.
pub(super) struct WorldSweep {
    pub(super) params: Vec<aichaos::sweep::Param>,
    pub(super) replications: u32,
    pub(super) budget: Option<u64>,
    pub(super) base_sets: Vec<Override>,
    pub(super) sampling: aichaos::sweep::Sampling,
    pub(super) plan: aichaos::config::best::Plan,
}

/// One world of `--worlds`: a scenario of a file, and its label in the outputs.
#[derive(serde::Serialize)]
pub(crate) struct World {
    name: String,
    file: String,
    /// The scenario of an experiment file.
    #[serde(skip_serializing_if = "Option::is_none")]
    scenario: Option<String>,
}

/// The worlds of a sweep and each one's comparison (its baseline, then the points).
pub(crate) struct WorldResults {
    pub(super) worlds: Vec<World>,
    pub(super) comparisons: Vec<aichaos::compare::Comparison>,
    pub(super) aggregate: String,
}

impl WorldResults {
    pub(super) fn labels(&self) -> Vec<String> {
        self.worlds.iter().map(|w| w.name.clone()).collect()
    }
}

/// The worlds of `--worlds` entries: `FILE` (a scenario file, or every scenario of an
/// experiment file) or `FILE:NAME`; each labelled by its scenario's name, or by
/// `FILE:NAME` where two worlds share a name.
fn expand_worlds(entries: &[String]) -> Result<Vec<World>, InputError> {
    let mut worlds: Vec<World> = Vec::new();
    for entry in entries {
        // A path that exists is a file, even with a colon in it; otherwise FILE:NAME.
        let (file, only) = match entry.rsplit_once(':') {
            Some((file, name)) if !std::path::Path::new(entry).exists() => {
                (file.to_string(), Some(name.to_string()))
            }
            _ => (entry.clone(), None),
        };
        let text = std::fs::read_to_string(&file).map_err(|e| {
            InputError::single(&file, "--worlds", format!("cannot read the world: {e}"))
        })?;
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            InputError::single(&file, "--worlds", format!("not a JSON scenario: {e}"))
        })?;
        let names: Option<Vec<String>> = doc.get("scenarios").and_then(|s| s.as_array()).map(|s| {
            s.iter()
                .filter_map(|s| s.get("name")?.as_str().map(String::from))
                .collect()
        });
        let picked: Vec<(String, Option<String>)> = match (names, only) {
            (Some(names), None) => names.into_iter().map(|n| (n.clone(), Some(n))).collect(),
            (Some(names), Some(name)) => {
                if !names.contains(&name) {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    return Err(InputError::single(
                        &file,
                        "--worlds",
                        scenario::no_scenario_named(&name, &names),
                    ));
                }
                vec![(name.clone(), Some(name))]
            }
            (None, Some(name)) => {
                return Err(InputError::single(
                    &file,
                    "--worlds",
                    format!(
                        "`{entry}`: `:{name}` picks a scenario of an experiment file, and this is a single scenario (or no file is named `{entry}`)"
                    ),
                ));
            }
            (None, None) => {
                let name = doc.get("name").and_then(|n| n.as_str()).unwrap_or(&file);
                vec![(name.to_string(), None)]
            }
        };
        for (name, scenario) in picked {
            if worlds
                .iter()
                .any(|w| w.file == file && w.scenario == scenario)
            {
                return Err(InputError::single(
                    &file,
                    "--worlds",
                    format!("`{entry}`: the world `{name}` is given twice"),
                ));
            }
            let name = if worlds.iter().any(|w| w.name == name) {
                format!("{file}:{name}")
            } else {
                name
            };
            worlds.push(World {
                name,
                file: file.clone(),
                scenario,
            });
        }
    }
    Ok(worlds)
}

/// `sweep --worlds`: every point and the baseline in every world, on the same replication
/// seeds, each replication's metrics folded over the worlds (see `aichaos::worlds`) and
/// ranked as one sweep; the per-world results kept beside the aggregate.
pub(super) fn execute_worlds(o: Args, g: crate::cli::Globals, w: WorldSweep) -> i32 {
    use aichaos::compare::{Variant, comparison_of};
    use aichaos::sweep::{self, MAX_POINTS};
    use aichaos::worlds::{MAX_WORLDS, aggregate_rows, parse_aggregate};
    let first_entry = o.worlds[0].clone();
    let fail = |field: &str, e: String| bad_input(&InputError::single(&first_entry, field, e));
    if w.budget.is_some() {
        return fail(
            "--worlds",
            "--replications auto is not supported over several worlds (its stages would have \
             to rank on the folded results as they come); give a fixed --replications"
                .into(),
        );
    }
    if o.shard.is_some() {
        return fail(
            "--shard",
            "a sweep over --worlds cannot be sharded: run it whole".into(),
        );
    }
    let aggregate_text = o.aggregate.clone().unwrap_or_else(|| "mean".into());
    let aggregate = match parse_aggregate(&aggregate_text) {
        Ok(a) => a,
        Err(e) => return fail("--aggregate", e),
    };
    let objective = sweep::parse_objective(&o.objective).expect("checked before");
    let worlds = match expand_worlds(&o.worlds) {
        Ok(worlds) => worlds,
        Err(e) => return bad_input(&e),
    };
    if worlds.len() > MAX_WORLDS {
        return fail(
            "--worlds",
            format!("{} worlds: at most {MAX_WORLDS}", worlds.len()),
        );
    }
    let count = sweep::point_count(&w.params, w.sampling);
    if count > MAX_POINTS {
        return fail(
            "--param",
            format!(
                "{count} points x {} replications is too large a grid (limit {MAX_POINTS} points)",
                o.replications
            ),
        );
    }
    let empty = serde_json::Value::Object(Default::default());
    // A world's error names the file and the world (an experiment holds several).
    let load = |world: &World, sets: &[Override]| {
        scenario::load_file_patched(&world.file, world.scenario.as_deref(), &empty, sets).map_err(
            |mut e| {
                e.file = format!("{} (world `{}`)", e.file, world.name);
                e
            },
        )
    };
    let first_baseline = match load(&worlds[0], &w.base_sets) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    // Every world runs on the replication seeds of the first one (run_jobs derives them from
    // the first variant's seed; the per-world comparisons list the seeds of their own first).
    let seed = first_baseline.seed;
    let points = sweep::points(&w.params, w.sampling, seed);
    let point_sets = |point: &[serde_json::Value]| -> Vec<Override> {
        let mut sets = w.base_sets.clone();
        sets.extend(w.params.iter().zip(point).map(|(p, v)| Override {
            path: p.path.clone(),
            value: v.clone(),
            flag: "--param",
        }));
        sets
    };
    // World-major: world 0's baseline and points, then world 1's, ...
    let mut variants: Vec<Variant> = Vec::with_capacity(worlds.len() * (points.len() + 1));
    for world in &worlds {
        let sets = std::iter::once(w.base_sets.clone()).chain(points.iter().map(|p| point_sets(p)));
        for (i, sets) in sets.enumerate() {
            match load(world, &sets) {
                Ok(mut scenario) => {
                    scenario.seed = seed;
                    variants.push(Variant {
                        name: if i == 0 {
                            "baseline".into()
                        } else {
                            format!("point {i}")
                        },
                        spec: world.name.clone(),
                        scenario,
                    });
                }
                Err(e) => return bad_input(&e),
            }
        }
    }
    // best.json is the first world's: its baseline and points must be exportable.
    let width = points.len() + 1;
    let scenarios: Vec<&scenario::Scenario> =
        variants[1..width].iter().map(|v| &v.scenario).collect();
    let paths = super::param_paths(&w.params);
    if let Err(e) = w
        .plan
        .check_sweep(&variants[0].scenario, &scenarios, &points, &paths)
    {
        return fail("--export", e);
    }
    let requests = variants
        .iter()
        .map(|v| aichaos::scenario::estimate::expected_requests(&v.scenario))
        .sum::<f64>()
        * f64::from(w.replications);
    if requests > aichaos::scenario::limits::MAX_EXPECTED_REQUESTS {
        return fail(
            "--param",
            format!(
                "the sweep would simulate about {requests:.2e} requests over {} worlds, {} of \
                 computing at {:.0e} requests per second and thread; narrow the grid or the worlds",
                worlds.len(),
                aichaos::scenario::estimate::format_wall_seconds(
                    requests / aichaos::scenario::limits::REQUESTS_PER_WALL_SECOND
                ),
                aichaos::scenario::limits::REQUESTS_PER_WALL_SECOND
            ),
        );
    }
    let spec = SweepSpec {
        file: worlds[0].file.clone(),
        only: worlds[0].scenario.clone(),
        params: o.params.clone(),
        objective: o.objective.clone(),
        constraints: o.constraints.clone(),
        tie_breaker: o.tie_breaker.clone(),
        replications: w.replications,
        budget: None,
        sample: o.sample.clone(),
        set: o.overrides.set.clone(),
        worlds: o.worlds.clone(),
        aggregate: Some(aggregate_text.clone()),
    };
    let name = first_baseline.name.clone();
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(format!("sweep-{}", slug(&name))));
    let _lock = match claim_shared(&out, g.force, aichaos::output::Sharing::Exclusive) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    let base_doc =
        match scenario::scenario_document(&worlds[0].file, worlds[0].scenario.as_deref(), &empty) {
            Ok(doc) => doc,
            Err(e) => return bad_input(&e),
        };
    let all = match run_resumable(
        &worlds[0].file,
        &out,
        "sweep-progress.jsonl",
        &spec,
        &variants,
        &o,
        g,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // rows[w][v][r]: world w's variant v on replication r, its metrics in METRICS order.
    let per_variant: Vec<Vec<Vec<f64>>> = all
        .variants
        .iter()
        .map(|v| {
            (0..all.replications as usize)
                .map(|r| v.metrics.iter().map(|m| m.values[r]).collect())
                .collect()
        })
        .collect();
    let rows: Vec<Vec<Vec<Vec<f64>>>> = per_variant.chunks(width).map(<[_]>::to_vec).collect();
    let comparisons: Vec<aichaos::compare::Comparison> = variants
        .chunks(width)
        .zip(&rows)
        .map(|(v, r)| comparison_of(v, r))
        .collect();
    let aggregated = comparison_of(
        &variants[..width],
        &aggregate_rows(&rows, aggregate, objective),
    );
    let results = WorldResults {
        worlds,
        comparisons,
        aggregate: aggregate_text,
    };
    finish_sweep(
        &spec,
        &name,
        &base_doc,
        &aggregated,
        None,
        Some(&results),
        &out,
        o.json,
        &w.plan,
    )
}

/// The point the per-world lines show: the recommended one, else the best feasible, else the
/// first ranked.
fn shown_point(ranking: &aichaos::sweep::Ranking) -> Option<&aichaos::sweep::RankedPoint> {
    let s = &ranking.selection;
    let id = s.recommended.or(s.best);
    ranking
        .points
        .iter()
        .find(|p| Some(p.id) == id)
        .or(ranking.points.first())
}

/// The console's per-world results: the shown point and the baseline in every world, with
/// the objective's paired difference, then the aggregate the ranking used.
pub(super) fn world_lines(
    aggregate: &str,
    ranking: &aichaos::sweep::Ranking,
    metric: &str,
) -> String {
    let Some(p) = shown_point(ranking) else {
        return String::new();
    };
    let role = if p.recommended {
        "recommended"
    } else if ranking.selection.best == Some(p.id) {
        "best feasible, not recommended"
    } else {
        "ranked first, not recommended"
    };
    let b = &ranking.baseline;
    let width = b
        .per_world
        .iter()
        .map(|w| w.world.chars().count())
        .chain([format!("aggregate ({aggregate})").chars().count()])
        .max()
        .unwrap_or(0);
    let pad = " ".repeat(width);
    let interval = |i: &aichaos::compare::Interval| {
        format!(
            "{:+.4}{}",
            i.mean,
            i.half_width.map_or(String::new(), |h| format!(" ± {h:.4}"))
        )
    };
    let mut out = format!(
        "per world: point #{} ({role}) and the baseline (each world as written); Δ the paired difference on {metric}\n",
        p.id
    );
    for (mine, base) in p.per_world.iter().zip(&b.per_world) {
        out.push_str(&format!(
            "  {:<width$}  #{:<8} {}\n  {pad}  {:<9} {}\n  {pad}  Δ {metric} {}\n",
            mine.world,
            p.id,
            metric_cells(&mine.metrics),
            "baseline",
            metric_cells(&base.metrics),
            mine.vs_baseline.as_ref().map_or("-".into(), interval),
        ));
    }
    out.push_str(&format!(
        "  {:<width$}  #{:<8} {}\n  {pad}  {:<9} {}\n  {pad}  Δ {metric} {}",
        format!("aggregate ({aggregate})"),
        p.id,
        metric_cells(&p.metrics),
        "baseline",
        metric_cells(&b.metrics),
        interval(&p.vs_baseline),
    ));
    out
}

/// `sweep.csv` with `--worlds`: each row followed by the objective's mean in every world
/// (columns `METRIC@WORLD`), appended so the columns before keep their names and order.
pub(super) fn with_world_columns(
    csv: &str,
    ranking: &aichaos::sweep::Ranking,
    metric: &str,
) -> String {
    use aichaos::timeseries::csv_field;
    let value = |rows: &[aichaos::worlds::WorldResult]| -> String {
        rows.iter()
            .map(|w| {
                let (_, mean, _) = w
                    .metrics
                    .iter()
                    .find(|(m, _, _)| m == metric)
                    .expect("a metric");
                format!(",{mean:.6}")
            })
            .collect()
    };
    let mut lines = csv.lines();
    let mut out = lines.next().unwrap_or_default().to_string();
    for w in &ranking.baseline.per_world {
        out.push_str(&format!(",{}", csv_field(&format!("{metric}@{}", w.world))));
    }
    out.push('\n');
    // The rows are the points in rank order, then the baseline.
    let per_world = ranking
        .points
        .iter()
        .map(|p| &p.per_world)
        .chain([&ranking.baseline.per_world]);
    for (line, rows) in lines.zip(per_world) {
        out.push_str(line);
        out.push_str(&value(rows));
        out.push('\n');
    }
    out
}
