//! `aichaos sweep`: a grid over scenario fields, ranked by an objective under constraints.
//!
//! Each `--param PATH=VALUES` names a field (the `--set` path syntax) and its values: a list
//! (`3,5,8,13`, `exponential,constant`) or a range with a count (`10s..120s:6`, `1..9:5`,
//! `100ms..10s:5:log`). The grid is every combination. Every point runs on the same
//! replications (common random numbers, as `compare` does), so points differ by their
//! settings, not by luck. The scenario as written (the baseline) runs on the same replications,
//! and `rank` judges every point against it and against the best (see `selection`): points
//! whose constraints are met for certain rank first, then uncertain ones, then infeasible
//! ones, each by the objective, ties broken by success rate then cost.

use serde::Serialize;
use serde_json::Value;

use crate::compare::{Comparison, Interval, METRICS, VariantResult};
use crate::selection::{self, Feasibility};
use crate::time::{format_duration, parse_duration};

/// Refuse grids beyond this many points (each runs `replications` simulations).
pub const MAX_POINTS: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub path: String,
    /// The grid's values.
    pub values: Vec<Value>,
    /// For a range, what random and Latin-hypercube sampling draw from.
    pub range: Option<Range>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub from: f64,
    pub to: f64,
    pub log: bool,
    unit: Unit,
}

impl Range {
    /// The value at fraction `f` in [0, 1] of the range.
    pub fn at(&self, f: f64) -> Value {
        let x = if self.log {
            // libm, not std's powf: the value is written into the grid and sweep.json.
            self.from * libm::pow(self.to / self.from, f)
        } else {
            self.from + (self.to - self.from) * f
        };
        match self.unit {
            Unit::Duration => Value::String(format_duration(x.round() as u64)),
            Unit::Integer => Value::from(x.round() as i64),
            Unit::Number => Value::from(x),
        }
    }
}

/// Parses `PATH=VALUES`.
pub fn parse_param(text: &str) -> Result<Param, String> {
    let Some((path, values)) = text.split_once('=') else {
        return Err(format!(
            "`{text}` is not PATH=VALUES (e.g. traffic[0].policy.retry.max_attempts=2,3,5)"
        ));
    };
    let (path, values) = (path.trim(), values.trim());
    if path.is_empty() || values.is_empty() {
        return Err(format!(
            "`{text}`: a path and at least one value are needed"
        ));
    }
    if path == "seed" {
        // Replication seeds replace the scenario's seed in every run, so it cannot vary.
        return Err(format!(
            "`{text}`: the seed is not a setting to sweep; replications already vary it (--replications)"
        ));
    }
    let (values, range) = match values.split_once("..") {
        Some((from, rest)) => {
            let (values, range) = range(text, from.trim(), rest)?;
            (values, Some(range))
        }
        None => (values.split(',').map(|v| scalar(v.trim())).collect(), None),
    };
    Ok(Param {
        path: path.to_string(),
        values,
        range,
    })
}

fn scalar(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `FROM..TO:COUNT[:log]`, over numbers or durations.
fn range(text: &str, from: &str, rest: &str) -> Result<(Vec<Value>, Range), String> {
    let parts: Vec<&str> = rest.split(':').map(str::trim).collect();
    let (to, count, log) = match parts.as_slice() {
        [to, count] => (*to, *count, false),
        [to, count, "log"] => (*to, *count, true),
        _ => {
            return Err(format!(
                "`{text}`: a range is FROM..TO:COUNT or FROM..TO:COUNT:log"
            ));
        }
    };
    let count: usize = count
        .parse()
        .map_err(|_| format!("`{text}`: `{count}` is not a count of points"))?;
    if count < 2 {
        return Err(format!("`{text}`: a range needs at least 2 points"));
    }
    // Durations stay durations; numbers stay numbers (integers when both ends are).
    let as_duration = |t: &str| {
        parse_duration(t)
            .ok()
            .filter(|_| t.chars().any(char::is_alphabetic))
    };
    let (a, b, unit) = match (as_duration(from), as_duration(to)) {
        (Some(a), Some(b)) => (a as f64, b as f64, Unit::Duration),
        _ => {
            let a: f64 = from
                .parse()
                .map_err(|_| format!("`{text}`: `{from}` is neither a number nor a duration"))?;
            let b: f64 = to
                .parse()
                .map_err(|_| format!("`{text}`: `{to}` is neither a number nor a duration"))?;
            let integers = !from.contains('.') && !to.contains('.');
            (
                a,
                b,
                if integers {
                    Unit::Integer
                } else {
                    Unit::Number
                },
            )
        }
    };
    if a >= b || a.is_nan() || b.is_nan() {
        return Err(format!("`{text}`: the range is empty or inverted"));
    }
    if log && a <= 0.0 {
        return Err(format!("`{text}`: a log range needs a start above zero"));
    }
    let range = Range {
        from: a,
        to: b,
        log,
        unit,
    };
    let mut values: Vec<Value> = (0..count)
        .map(|i| range.at(i as f64 / (count - 1) as f64))
        .collect();
    values.dedup();
    Ok((values, range))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Duration,
    Integer,
    Number,
}

/// What to maximise or minimise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    pub metric: usize,
    pub maximise: bool,
}

/// A bound on a metric's mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constraint {
    pub metric: usize,
    pub at_most: bool,
    pub limit: f64,
}

fn metric_index(name: &str) -> Result<usize, String> {
    METRICS.iter().position(|m| m.name == name).ok_or_else(|| {
        let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        let hint = crate::error::nearest_name(name, &names)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        format!(
            "unknown metric `{name}`{hint}; metrics: {}",
            names.join(", ")
        )
    })
}

/// `max:success_rate` or `min:cost_usd`.
pub fn parse_objective(text: &str) -> Result<Objective, String> {
    let (direction, metric) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}`: write max:METRIC or min:METRIC"))?;
    let maximise = match direction {
        "max" => true,
        "min" => false,
        other => return Err(format!("`{other}`: write max or min")),
    };
    Ok(Objective {
        metric: metric_index(metric.trim())?,
        maximise,
    })
}

/// `latency_p99_ms<=5000` or `success_rate>=0.99`.
pub fn parse_constraint(text: &str) -> Result<Constraint, String> {
    let (metric, limit, at_most) = if let Some((m, l)) = text.split_once("<=") {
        (m, l, true)
    } else if let Some((m, l)) = text.split_once(">=") {
        (m, l, false)
    } else {
        return Err(format!("`{text}`: write METRIC<=LIMIT or METRIC>=LIMIT"));
    };
    let limit: f64 = limit
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: `{}` is not a number", limit.trim()))?;
    Ok(Constraint {
        metric: metric_index(metric.trim())?,
        at_most,
        limit,
    })
}

/// How points are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    Grid,
    Random(usize),
    LatinHypercube(usize),
}

pub fn parse_sampling(text: &str) -> Result<Sampling, String> {
    let count = |n: &str| {
        n.parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{text}`: `{n}` is not a number of points"))
    };
    match text.split_once(':') {
        None if text == "grid" => Ok(Sampling::Grid),
        Some(("random", n)) => Ok(Sampling::Random(count(n)?)),
        Some(("lhs", n)) => Ok(Sampling::LatinHypercube(count(n)?)),
        _ => Err(format!("`{text}`: write grid, random:N or lhs:N")),
    }
}

/// How many points `points` would make, computed without making them (saturating), so an
/// oversize sweep is refused before anything is allocated.
pub fn point_count(params: &[Param], sampling: Sampling) -> usize {
    match sampling {
        Sampling::Grid => params
            .iter()
            .fold(1usize, |n, p| n.saturating_mul(p.values.len())),
        Sampling::Random(n) | Sampling::LatinHypercube(n) => n,
    }
}

/// The points to run. Random and Latin-hypercube points draw ranges continuously (log-
/// uniformly for log ranges) and lists by index, from the `sweep/sample` stream of `seed`.
pub fn points(params: &[Param], sampling: Sampling, seed: u64) -> Vec<Vec<Value>> {
    use rand::RngExt;
    let mut rng = crate::rng::named_stream(seed, "sweep/sample");
    let pick = |param: &Param, f: f64| match &param.range {
        Some(range) => range.at(f),
        None => param.values
            [((f * param.values.len() as f64) as usize).min(param.values.len() - 1)]
        .clone(),
    };
    match sampling {
        Sampling::Grid => grid(params),
        Sampling::Random(n) => (0..n)
            .map(|_| {
                params
                    .iter()
                    .map(|p| pick(p, rng.random::<f64>()))
                    .collect()
            })
            .collect(),
        Sampling::LatinHypercube(n) => {
            // One draw per stratum of [0, 1) for each parameter, strata shuffled per parameter.
            let columns: Vec<Vec<f64>> = params
                .iter()
                .map(|_| {
                    let mut strata: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        strata.swap(i, rng.random_range(0..=i));
                    }
                    strata
                        .into_iter()
                        .map(|k| (k as f64 + rng.random::<f64>()) / n as f64)
                        .collect()
                })
                .collect();
            (0..n)
                .map(|i| {
                    params
                        .iter()
                        .zip(&columns)
                        .map(|(p, c)| pick(p, c[i]))
                        .collect()
                })
                .collect()
        }
    }
}

/// Every combination of the parameters' values, first parameter slowest.
pub fn grid(params: &[Param]) -> Vec<Vec<Value>> {
    params.iter().fold(vec![Vec::new()], |points, param| {
        points
            .iter()
            .flat_map(|point| {
                param
                    .values
                    .iter()
                    .map(move |v| [point.clone(), vec![v.clone()]].concat())
            })
            .collect()
    })
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RankedPoint {
    pub rank: usize,
    pub settings: Vec<(String, Value)>,
    /// Every constraint met on the mean (see `feasibility` for the verdict with intervals).
    pub feasible: bool,
    /// Mean and 95 % half-width of every metric, by name.
    pub metrics: Vec<(String, f64, Option<f64>)>,
    /// The point's number in the sweep (1-based, in grid or sampling order): its label on
    /// the charts.
    pub id: usize,
    /// Replications the point ran.
    pub replications: usize,
    /// The constraints judged on their 95 % intervals.
    pub feasibility: Feasibility,
    /// The objective's paired difference to the baseline (point minus baseline), 95 %.
    pub vs_baseline: Interval,
    /// One-sided paired t p-value of "better than the baseline on the objective".
    pub p_value: Option<f64>,
    /// `p_value` adjusted by Holm's procedure over every point of the sweep.
    pub p_holm: f64,
    /// Significantly better than the baseline (`p_holm` at most `selection::ALPHA`), or
    /// feasible where the baseline is infeasible.
    pub beats_baseline: bool,
    /// Not significantly different from the best feasible point (which is marked too when
    /// anything ties with it).
    pub tied_with_best: bool,
    /// The point written to best.json.
    pub recommended: bool,
    /// With `--replications auto`: the stage after which the procedure dropped the point
    /// (absent for the finalists and in a sweep of fixed replications).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_after_stage: Option<usize>,
}

/// The scenario as written, run on the same replications as the points.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Baseline {
    pub feasible: bool,
    pub feasibility: Feasibility,
    pub replications: usize,
    pub metrics: Vec<(String, f64, Option<f64>)>,
}

/// What the sweep recommends, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Selection {
    /// How "beats the baseline" and "tied" are decided.
    pub test: &'static str,
    pub correction: &'static str,
    pub alpha: f64,
    pub tie_breaker: String,
    /// The id of the best-ranked feasible point, if any.
    pub best: Option<usize>,
    /// Points tied with the best, the best included (0 when nothing ties with it).
    pub tied: usize,
    /// The id of the recommended point; none when no point beats the baseline for certain.
    pub recommended: Option<usize>,
    /// The decision in a sentence, as the console prints it.
    pub verdict: String,
}

/// A sweep's points ranked, the baseline, and the recommendation.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub baseline: Baseline,
    /// Best first: feasible points, then uncertain, then infeasible, each by the objective.
    pub points: Vec<RankedPoint>,
    pub selection: Selection,
}

fn metric_rows(v: &VariantResult) -> Vec<(String, f64, Option<f64>)> {
    v.metrics
        .iter()
        .map(|m| (m.metric.clone(), m.estimate.mean, m.estimate.half_width))
        .collect()
}

/// The constraints of a result judged by their intervals: the worst verdict of any.
fn judge_all(v: &VariantResult, constraints: &[Constraint]) -> Feasibility {
    constraints
        .iter()
        .map(|c| selection::judge(c.at_most, c.limit, &v.metrics[c.metric].estimate))
        .max()
        .unwrap_or(Feasibility::Feasible)
}

fn feasible_on_mean(v: &VariantResult, constraints: &[Constraint]) -> bool {
    constraints.iter().all(|c| {
        let mean = v.metrics[c.metric].estimate.mean;
        if c.at_most {
            mean <= c.limit
        } else {
            mean >= c.limit
        }
    })
}

/// Ranks the points of a comparison whose variant 0 is the baseline (the scenario as
/// written) and variants 1.. the points, in sweep order; tests them (see `selection`) and
/// picks the recommendation: among the best feasible point and the points tied with it,
/// those that beat the baseline, the best by `tie_breaker`. `dropped` (empty, or one per
/// point) holds the stage after which a sequential sweep dropped each point: the finalists
/// rank first, then the points dropped last, and only finalists can be tied or recommended.
pub fn rank(
    params: &[Param],
    points: &[Vec<Value>],
    comparison: &Comparison,
    objective: Objective,
    constraints: &[Constraint],
    tie_breaker: Objective,
    dropped: &[Option<usize>],
) -> Ranking {
    let dropped_at = |p: usize| dropped.get(p).copied().flatten();
    // Finalists first (usize::MAX), then the later a point was dropped the better.
    let reached = |p: usize| dropped_at(p).unwrap_or(usize::MAX);
    let baseline = &comparison.variants[0];
    let results = &comparison.variants[1..];
    debug_assert_eq!(results.len(), points.len());
    let mean = |p: usize, m: usize| results[p].metrics[m].estimate.mean;
    let oriented = |o: Objective, x: f64| if o.maximise { x } else { -x };
    let feasibility: Vec<Feasibility> = results.iter().map(|v| judge_all(v, constraints)).collect();
    let success = metric_index("success_rate").expect("a metric");
    let cost = metric_index("cost_usd").expect("a metric");
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        let score = |p: usize| oriented(objective, mean(p, objective.metric));
        reached(b)
            .cmp(&reached(a))
            .then(feasibility[a].cmp(&feasibility[b]))
            .then(score(b).total_cmp(&score(a)))
            .then(mean(b, success).total_cmp(&mean(a, success)))
            .then(mean(a, cost).total_cmp(&mean(b, cost)))
            .then(a.cmp(&b))
    });
    let m = objective.metric;
    fn objective_values(v: &VariantResult, m: usize) -> &[f64] {
        &v.metrics[m].values
    }
    // Improvement over the baseline, replication by replication, oriented so that up is better.
    let gains: Vec<Vec<f64>> = results
        .iter()
        .map(|v| {
            selection::paired_differences(objective_values(v, m), objective_values(baseline, m))
                .into_iter()
                .map(|d| oriented(objective, d))
                .collect()
        })
        .collect();
    let p_values: Vec<Option<f64>> = gains.iter().map(|g| selection::p_greater(g)).collect();
    let p_holm = selection::holm(&p_values);
    // A baseline that fails a constraint for certain is no standard to meet: any point that
    // meets them all for certain beats it, whatever its objective.
    let baseline_fails = judge_all(baseline, constraints) == Feasibility::Infeasible;
    let beats: Vec<bool> = (0..points.len())
        .map(|p| {
            p_holm[p] <= selection::ALPHA
                || (baseline_fails && feasibility[p] == Feasibility::Feasible)
        })
        .collect();
    let best = order
        .iter()
        .copied()
        .find(|&p| feasibility[p] == Feasibility::Feasible && dropped_at(p).is_none());
    let finalists: Vec<Feasibility> = (0..points.len())
        .map(|p| match dropped_at(p) {
            None => feasibility[p],
            // A dropped point is no candidate for a tie: the procedure ruled it out.
            Some(_) => Feasibility::Infeasible,
        })
        .collect();
    let tied = ties(best, &finalists, results, objective.metric);
    let recommended = best.and_then(|b| {
        std::iter::once(b)
            .chain(tied.iter().copied().filter(|&p| p != b))
            .filter(|&p| beats[p])
            .min_by(|&a, &b| {
                let score = |p: usize| oriented(tie_breaker, mean(p, tie_breaker.metric));
                score(b).total_cmp(&score(a)).then(
                    order
                        .iter()
                        .position(|&x| x == a)
                        .cmp(&order.iter().position(|&x| x == b)),
                )
            })
    });
    let ranked: Vec<RankedPoint> = order
        .iter()
        .enumerate()
        .map(|(rank, &p)| RankedPoint {
            rank: rank + 1,
            settings: params
                .iter()
                .zip(&points[p])
                .map(|(param, v)| (param.path.clone(), v.clone()))
                .collect(),
            feasible: feasible_on_mean(&results[p], constraints),
            metrics: metric_rows(&results[p]),
            id: p + 1,
            replications: objective_values(&results[p], m).len(),
            feasibility: feasibility[p],
            vs_baseline: crate::compare::interval(&selection::paired_differences(
                objective_values(&results[p], m),
                objective_values(baseline, m),
            )),
            p_value: p_values[p],
            p_holm: p_holm[p],
            beats_baseline: beats[p],
            tied_with_best: tied.contains(&p),
            recommended: recommended == Some(p),
            dropped_after_stage: dropped_at(p),
        })
        .collect();
    let baseline = Baseline {
        feasible: feasible_on_mean(baseline, constraints),
        feasibility: judge_all(baseline, constraints),
        replications: objective_values(baseline, m).len(),
        metrics: metric_rows(baseline),
    };
    let selection = Selection {
        test: "paired Student t, one-sided against the baseline, two-sided against the best",
        correction: "holm",
        alpha: selection::ALPHA,
        tie_breaker: format!(
            "{}:{}",
            if tie_breaker.maximise { "max" } else { "min" },
            METRICS[tie_breaker.metric].name
        ),
        best: best.map(|b| b + 1),
        tied: tied.len(),
        recommended: recommended.map(|r| r + 1),
        verdict: String::new(),
    };
    let mut ranking = Ranking {
        baseline,
        points: ranked,
        selection,
    };
    ranking.selection.verdict = verdict(&ranking, objective);
    ranking
}

/// The feasible points not significantly different from `best` on the objective (two-sided
/// paired t, Holm over the comparisons), `best` included; empty when none ties with it.
fn ties(
    best: Option<usize>,
    feasibility: &[Feasibility],
    results: &[VariantResult],
    metric: usize,
) -> Vec<usize> {
    let Some(best) = best else {
        return Vec::new();
    };
    let others: Vec<usize> = (0..results.len())
        .filter(|&p| p != best && feasibility[p] == Feasibility::Feasible)
        .collect();
    let values = |p: usize| results[p].metrics[metric].values.as_slice();
    let p_values: Vec<Option<f64>> = others
        .iter()
        .map(|&p| selection::p_two_sided(&selection::paired_differences(values(best), values(p))))
        .collect();
    let tied: Vec<usize> = others
        .iter()
        .zip(selection::holm(&p_values))
        .filter(|(_, p)| *p > selection::ALPHA)
        .map(|(&p, _)| p)
        .collect();
    if tied.is_empty() {
        return tied;
    }
    let mut group = vec![best];
    group.extend(tied);
    group.sort_unstable();
    group
}

/// The recommendation, or why there is none, in a sentence; and, when uncertain points score
/// better than the best feasible one, that they were passed over and why.
fn verdict(ranking: &Ranking, objective: Objective) -> String {
    let sign = if objective.maximise { 1.0 } else { -1.0 };
    let score = |p: &RankedPoint| {
        sign * p
            .metrics
            .get(objective.metric)
            .map_or(f64::NAN, |(_, mean, _)| *mean)
    };
    let best_score = ranking
        .selection
        .best
        .and_then(|id| ranking.points.iter().find(|p| p.id == id))
        .map_or(f64::NEG_INFINITY, score);
    let passed_over = ranking
        .points
        .iter()
        .filter(|p| p.feasibility == Feasibility::Uncertain && score(p) > best_score)
        .count();
    let mut text = decision(ranking, objective);
    if passed_over > 0 {
        text.push_str(&format!(
            "; {passed_over} point(s) with a better mean were passed over because a constraint's bound lies inside its interval (uncertain, `?`): more replications would settle them"
        ));
    }
    text
}

fn decision(ranking: &Ranking, objective: Objective) -> String {
    let metric = METRICS[objective.metric].name;
    let m = ranking.points.len();
    let s = &ranking.selection;
    let by_id = |id: usize| {
        ranking
            .points
            .iter()
            .find(|p| p.id == id)
            .expect("ids come from the points")
    };
    let diff = |p: &RankedPoint| {
        format!(
            "{metric} {:+.4}{}",
            p.vs_baseline.mean,
            p.vs_baseline
                .half_width
                .map_or(String::new(), |h| format!(" ± {h:.4}"))
        )
    };
    if let Some(id) = s.recommended {
        let p = by_id(id);
        if p.p_holm > selection::ALPHA {
            return format!(
                "recommended: point #{id} (rank {}), which meets every constraint where the scenario as written fails one for certain ({} against it)",
                p.rank,
                diff(p)
            );
        }
        return format!(
            "recommended: point #{id} (rank {}), which beats the scenario as written: {} (Holm-adjusted p = {:.4} over {m} points)",
            p.rank,
            diff(p),
            p.p_holm
        );
    }
    let Some(best) = s.best else {
        let count = |f: Feasibility| ranking.points.iter().filter(|p| p.feasibility == f).count();
        return format!(
            "no setting tried beats the scenario as written: no point meets every constraint for certain ({} uncertain, {} infeasible)",
            count(Feasibility::Uncertain),
            count(Feasibility::Infeasible)
        );
    };
    let p = by_id(best);
    if p.replications < 2 {
        return "no setting tried beats the scenario as written: one replication gives no interval to judge by (use --replications 2 or more)".into();
    }
    let worse = p.vs_baseline.mean * if objective.maximise { 1.0 } else { -1.0 } <= 0.0;
    format!(
        "no setting tried beats the scenario as written: the best feasible point (#{best}) {} {} (paired, 95 %), {}",
        if worse { "is no better:" } else { "changes" },
        diff(p),
        if worse {
            "so no correction could make it better".to_string()
        } else {
            format!(
                "not significant after Holm's correction over {m} points (adjusted p = {:.4})",
                p.p_holm
            )
        }
    )
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_parse_as_lists_and_ranges() {
        assert_eq!(
            parse_param("a=3,5,8").unwrap().values,
            vec![json!(3), json!(5), json!(8)]
        );
        assert_eq!(
            parse_param("a=exponential,constant").unwrap().values,
            vec![json!("exponential"), json!("constant")]
        );
        assert_eq!(
            parse_param("a=10s..40s:4").unwrap().values,
            vec![json!("10s"), json!("20s"), json!("30s"), json!("40s")]
        );
        assert_eq!(
            parse_param("a=1..9:5").unwrap().values,
            vec![json!(1), json!(3), json!(5), json!(7), json!(9)]
        );
        assert_eq!(
            parse_param("a=100ms..10s:3:log").unwrap().values,
            vec![json!("100ms"), json!("1s"), json!("10s")]
        );
        assert!(parse_param("a=9..1:3").unwrap_err().contains("inverted"));
        assert!(parse_param("a=1..9:1").is_err());
        assert!(parse_param("nothing").is_err());
    }

    #[test]
    fn latin_hypercube_covers_every_stratum() {
        let params = vec![
            parse_param("a=0..100:2").unwrap(),
            parse_param("b=1ms..1s:2:log").unwrap(),
        ];
        let points = points(&params, Sampling::LatinHypercube(10), 7);
        assert_eq!(points.len(), 10);
        let mut strata: Vec<i64> = points
            .iter()
            .map(|p| (p[0].as_i64().unwrap() / 10).min(9))
            .collect();
        strata.sort();
        strata.dedup();
        assert!(
            strata.len() >= 9,
            "one value per tenth of the range: {strata:?}"
        );
        assert_eq!(
            points,
            super::points(&params, Sampling::LatinHypercube(10), 7),
            "deterministic"
        );
        assert_eq!(super::points(&params, Sampling::Random(5), 1).len(), 5);
        assert_eq!(
            parse_sampling("lhs:20").unwrap(),
            Sampling::LatinHypercube(20)
        );
        assert!(parse_sampling("sobol:3").is_err());
    }

    #[test]
    fn grids_and_objectives() {
        let params = vec![
            parse_param("a=1,2").unwrap(),
            parse_param("b=x,y,z").unwrap(),
        ];
        assert_eq!(grid(&params).len(), 6);
        assert_eq!(grid(&params)[1], vec![json!(1), json!("y")]);
        assert!(parse_objective("max:success_rate").unwrap().maximise);
        assert!(
            parse_objective("max:sucess_rate")
                .unwrap_err()
                .contains("did you mean `success_rate`?")
        );
        let c = parse_constraint("latency_p99_ms<=5000").unwrap();
        assert!(c.at_most && c.limit == 5000.0);
    }
}
