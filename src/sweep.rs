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
    pub values: Vec<Value>,
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
    let values = match values.split_once("..") {
        Some((from, rest)) => range(text, from.trim(), rest)?,
        None => values.split(',').map(|v| scalar(v.trim())).collect(),
    };
    Ok(Param {
        path: path.to_string(),
        values,
    })
}

fn scalar(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `FROM..TO:COUNT[:log]`, over numbers or durations.
fn range(text: &str, from: &str, rest: &str) -> Result<Vec<Value>, String> {
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
    let mut values: Vec<Value> = (0..count)
        .map(|i| {
            let f = i as f64 / (count - 1) as f64;
            let x = if log {
                a * (b / a).powf(f)
            } else {
                a + (b - a) * f
            };
            match unit {
                Unit::Duration => Value::String(format_duration(x.round() as u64)),
                Unit::Integer => Value::from(x.round() as i64),
                Unit::Number => Value::from(x),
            }
        })
        .collect();
    values.dedup();
    Ok(values)
}

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
    pub metrics: Vec<(&'static str, f64, Option<f64>)>,
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
                .map(|m| (m.metric, m.estimate.mean, m.estimate.half_width))
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
