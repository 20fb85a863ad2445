//! `sweep --worlds`: one sweep over several worlds at once (different outages, a 429 storm, a
//! credit run-out), so that a setting tuned on one incident and bad on the others loses to one
//! that is good on all.
//!
//! Every point (and the baseline, each world as written) runs in every world on the same
//! replication seeds (common random numbers, see `compare`). Replication r of a point then has
//! one row of metrics per world; `aggregate_rows` folds them into one row, metric by metric,
//! and the folded rows are what `sweep::rank` judges: the baseline comparison, Holm's
//! correction, ties and constraint verdicts work on them unchanged, because they only ever see
//! per-replication values of a point paired with the baseline's.
//!
//! The fold is applied replication by replication, not to the worlds' means, so that the
//! paired tests keep their pairs. Three folds:
//!
//! * `mean`: the average over the worlds, each weighing the same.
//! * `worst`: the worst world. "Worse" is the objective's own direction for its metric, and
//!   for every other metric the direction a user fears: a lower success rate, a higher value
//!   of every other metric (latency, amplification, cost, breaker opens, wasted completions,
//!   retries). A constraint `success_rate>=0.95` under `worst` thus holds in every world.
//! * `pNN` (0 <= NN <= 100): the NN-th percentile of the worlds ordered from best to worst,
//!   by linear interpolation between neighbours (Hyndman and Fan's type 7, the default of R
//!   and numpy): `p100` is `worst`, `p50` the median world, `p0` the best.
//!
//! The worst of each replication is a pessimistic estimate of the worst world's mean (noise
//! picks the unlucky world of each replication): tuning against it errs on the safe side.

use serde::Serialize;

use crate::compare::{Comparison, Interval, METRICS};
use crate::sweep::{Objective, Ranking};

/// Refuse more worlds than this: every world multiplies the sweep's runs.
pub const MAX_WORLDS: usize = 100;

/// How a metric's values in the worlds become one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    Mean,
    Worst,
    /// The percentile, in [0, 100], of the worlds ordered from best to worst.
    Percentile(f64),
}

/// `mean`, `worst` or `pNN` (e.g. `p90`, `p99.5`).
pub fn parse_aggregate(text: &str) -> Result<Aggregate, String> {
    match text {
        "mean" => Ok(Aggregate::Mean),
        "worst" => Ok(Aggregate::Worst),
        _ => text
            .strip_prefix('p')
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|n| (0.0..=100.0).contains(n))
            .map(Aggregate::Percentile)
            .ok_or_else(|| {
                format!(
                    "`{text}`: write mean, worst, or pNN for a percentile of the worlds from best to worst (0 <= NN <= 100, e.g. p90)"
                )
            }),
    }
}

/// Whether a higher value of metric `m` is worse, under `objective`.
pub fn higher_is_worse(m: usize, objective: Objective) -> bool {
    if m == objective.metric {
        !objective.maximise
    } else {
        METRICS[m].name != "success_rate"
    }
}

/// One metric's values in the worlds folded into one.
pub fn fold(values: &[f64], aggregate: Aggregate, higher_is_worse: bool) -> f64 {
    debug_assert!(!values.is_empty(), "a sweep has at least one world");
    let rank = match aggregate {
        Aggregate::Mean => return values.iter().sum::<f64>() / values.len() as f64,
        Aggregate::Worst => 100.0,
        Aggregate::Percentile(p) => p,
    };
    // Best first.
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| {
        if higher_is_worse {
            a.total_cmp(b)
        } else {
            b.total_cmp(a)
        }
    });
    let h = rank / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (h.floor() as usize, h.ceil() as usize);
    sorted[low] + (h - low as f64) * (sorted[high] - sorted[low])
}

/// `rows[w][v][r]` (world w, variant v, replication r: its metrics in METRICS order) folded
/// over the worlds into `[v][r]`. Every world holds the same variants and replications.
pub fn aggregate_rows(
    rows: &[Vec<Vec<Vec<f64>>>],
    aggregate: Aggregate,
    objective: Objective,
) -> Vec<Vec<Vec<f64>>> {
    let first = &rows[0];
    debug_assert!(rows.iter().all(|w| w.len() == first.len()));
    (0..first.len())
        .map(|v| {
            (0..first[v].len())
                .map(|r| {
                    (0..METRICS.len())
                        .map(|m| {
                            let values: Vec<f64> = rows.iter().map(|w| w[v][r][m]).collect();
                            fold(&values, aggregate, higher_is_worse(m, objective))
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// A point's (or the baseline's) results in one world.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorldResult {
    pub world: String,
    /// Mean and 95 % half-width of every metric, by name.
    pub metrics: Vec<(String, f64, Option<f64>)>,
    /// The objective's paired difference to the baseline in this world (absent for the
    /// baseline itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_baseline: Option<Interval>,
}

/// Fills in `per_world` of the baseline and of every point of `ranking` from the worlds'
/// comparisons (each: the baseline in that world, then the points in sweep order).
pub fn attach(
    ranking: &mut Ranking,
    names: &[String],
    worlds: &[Comparison],
    objective: Objective,
) {
    let rows = |c: &Comparison, v: usize| -> Vec<(String, f64, Option<f64>)> {
        c.variants[v]
            .metrics
            .iter()
            .map(|m| (m.metric.clone(), m.estimate.mean, m.estimate.half_width))
            .collect()
    };
    ranking.baseline.per_world = names
        .iter()
        .zip(worlds)
        .map(|(name, c)| WorldResult {
            world: name.clone(),
            metrics: rows(c, 0),
            vs_baseline: None,
        })
        .collect();
    for point in &mut ranking.points {
        point.per_world = names
            .iter()
            .zip(worlds)
            .map(|(name, c)| WorldResult {
                world: name.clone(),
                metrics: rows(c, point.id),
                vs_baseline: c.variants[point.id].metrics[objective.metric]
                    .vs_baseline
                    .clone(),
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_follow_their_definitions() {
        let success = [0.9, 0.5, 0.7];
        assert!((fold(&success, Aggregate::Mean, false) - 0.7).abs() < 1e-12);
        assert_eq!(fold(&success, Aggregate::Worst, false), 0.5);
        assert_eq!(fold(&success, Aggregate::Worst, true), 0.9);
        // Best to worst: 0.9, 0.7, 0.5; p50 the middle, p75 halfway from 0.7 to 0.5.
        assert_eq!(fold(&success, Aggregate::Percentile(50.0), false), 0.7);
        assert!((fold(&success, Aggregate::Percentile(75.0), false) - 0.6).abs() < 1e-12);
        assert_eq!(fold(&success, Aggregate::Percentile(0.0), false), 0.9);
        assert_eq!(fold(&[3.0], Aggregate::Percentile(90.0), true), 3.0);
    }

    #[test]
    fn aggregates_parse() {
        assert_eq!(parse_aggregate("mean").unwrap(), Aggregate::Mean);
        assert_eq!(parse_aggregate("worst").unwrap(), Aggregate::Worst);
        assert_eq!(parse_aggregate("p90").unwrap(), Aggregate::Percentile(90.0));
        assert!(parse_aggregate("p101").is_err());
        assert!(parse_aggregate("median").unwrap_err().contains("pNN"));
    }

    #[test]
    fn the_worst_follows_the_objective_and_the_fear() {
        let success = crate::sweep::parse_objective("max:success_rate").unwrap();
        let latency = METRICS
            .iter()
            .position(|m| m.name == "latency_p99_ms")
            .unwrap();
        assert!(!higher_is_worse(success.metric, success));
        assert!(higher_is_worse(latency, success));
        let odd = crate::sweep::parse_objective("max:latency_p99_ms").unwrap();
        assert!(!higher_is_worse(latency, odd));
    }
}
