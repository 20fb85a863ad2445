//! `aichaos sweep`: a grid over scenario fields, ranked by an objective under constraints.
//!
//! Each `--param PATH=VALUES` names a field (the `--set` path syntax) and its values: a list
//! (`3,5,8,13`, `exponential,constant`) or a range with a count (`10s..120s:6`, `1..9:5`,
//! `100ms..10s:5:log`). The grid is every combination. Every point runs on the same
//! replications (common random numbers, as `compare` does), so points differ by their
//! settings, not by luck. Points that meet every constraint (on the mean) rank first, by the
//! objective, ties broken by success rate then cost.

use serde::Serialize;
use serde_json::Value;

use crate::compare::{Comparison, METRICS};
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
    pub feasible: bool,
    /// Mean and 95 % half-width of every metric, by name.
    pub metrics: Vec<(String, f64, Option<f64>)>,
}

/// Ranks the points of a comparison (one variant per grid point, in grid order).
pub fn rank(
    params: &[Param],
    points: &[Vec<Value>],
    comparison: &Comparison,
    objective: Objective,
    constraints: &[Constraint],
) -> Vec<RankedPoint> {
    let mean = |p: usize, m: usize| comparison.variants[p].metrics[m].estimate.mean;
    let feasible = |p: usize| {
        constraints.iter().all(|c| {
            if c.at_most {
                mean(p, c.metric) <= c.limit
            } else {
                mean(p, c.metric) >= c.limit
            }
        })
    };
    let success = metric_index("success_rate").expect("a metric");
    let cost = metric_index("cost_usd").expect("a metric");
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        let score = |p: usize| {
            if objective.maximise {
                mean(p, objective.metric)
            } else {
                -mean(p, objective.metric)
            }
        };
        feasible(b)
            .cmp(&feasible(a))
            .then(score(b).total_cmp(&score(a)))
            .then(mean(b, success).total_cmp(&mean(a, success)))
            .then(mean(a, cost).total_cmp(&mean(b, cost)))
            .then(a.cmp(&b))
    });
    order
        .into_iter()
        .enumerate()
        .map(|(rank, p)| RankedPoint {
            rank: rank + 1,
            settings: params
                .iter()
                .zip(&points[p])
                .map(|(param, v)| (param.path.clone(), v.clone()))
                .collect(),
            feasible: feasible(p),
            metrics: comparison.variants[p]
                .metrics
                .iter()
                .map(|m| (m.metric.clone(), m.estimate.mean, m.estimate.half_width))
                .collect(),
        })
        .collect()
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
