//! Choosing a sweep's point honestly: every point against the scenario as written (the
//! baseline) and against the best point, on paired differences, with a correction for the
//! number of points tried.
//!
//! A sweep runs every point and the baseline on the same replications (common random
//! numbers, see `compare`), so replication r of two runs met the same world and their
//! difference is what the setting changed. The tests here are on those per-replication
//! differences:
//!
//! * **Beats the baseline**: a one-sided paired Student t test of "the point is better on the
//!   objective" (Law, *Simulation Modeling and Analysis*, 5th ed., section 10.2.1, the
//!   paired-t approach), one test per point tried. Their p-values are adjusted by **Holm's
//!   step-down procedure** (Holm 1979, "A simple sequentially rejective multiple test
//!   procedure", Scand. J. Statist. 6, 65-70), which keeps the chance of calling *any*
//!   point better when none is at or below `ALPHA`, whatever the dependence between the
//!   tests, and rejects at least what Bonferroni rejects.
//! * **Tied with the best**: a two-sided paired t test of each other feasible point against
//!   the best-ranked feasible one, Holm-adjusted over those comparisons. A point is tied
//!   unless the difference is significant: ties are the default, a difference must be shown.
//! * **Constraints** are judged on the metric's 95 % Student-t interval: feasible when the
//!   whole interval meets the bound, infeasible when none of it does, uncertain otherwise (the
//!   bound lies inside the interval). With one replication there is no interval and the mean
//!   decides.
//!
//! A pair with fewer than two common replications gives no test (p is `None`), which never
//! counts as significant. Differences that are all equal (zero variance) are significant
//! exactly when they are not zero.

use serde::Serialize;

use crate::compare::Interval;

/// The significance level of every test, the complement of the 95 % intervals shown.
pub const ALPHA: f64 = 0.05;

/// A point's constraints as judged by their intervals; the order is the ranking's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Feasibility {
    Feasible,
    Uncertain,
    Infeasible,
}

impl Feasibility {
    pub fn name(self) -> &'static str {
        match self {
            Feasibility::Feasible => "feasible",
            Feasibility::Uncertain => "uncertain",
            Feasibility::Infeasible => "infeasible",
        }
    }
}

/// One bound `value <= limit` (`at_most`) or `value >= limit` judged on `estimate`.
pub fn judge(at_most: bool, limit: f64, estimate: &Interval) -> Feasibility {
    let half = estimate.half_width.unwrap_or(0.0);
    let (low, high) = (estimate.mean - half, estimate.mean + half);
    let (meets_all, meets_none) = if at_most {
        (high <= limit, low > limit)
    } else {
        (low >= limit, high < limit)
    };
    if meets_all {
        Feasibility::Feasible
    } else if meets_none {
        Feasibility::Infeasible
    } else {
        Feasibility::Uncertain
    }
}

/// `a - b` replication by replication, over the replications both have (a sequential sweep
/// gives points different counts, always a prefix of the same replications).
pub fn paired_differences(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// The paired t statistic of differences `d` and its degrees of freedom; `None` below two.
fn t_statistic(d: &[f64]) -> Option<(f64, f64)> {
    if d.len() < 2 {
        return None;
    }
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let variance = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = if variance > 0.0 {
        mean / (variance / n).sqrt()
    } else if mean > 0.0 {
        f64::INFINITY
    } else if mean < 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    Some((t, n - 1.0))
}

/// p-value of "the mean difference is above zero" (one-sided paired t).
pub fn p_greater(d: &[f64]) -> Option<f64> {
    let (t, dof) = t_statistic(d)?;
    Some(if t.is_infinite() {
        if t > 0.0 { 0.0 } else { 1.0 }
    } else if t == 0.0 {
        // Equal runs (the same setting twice): no evidence either way.
        1.0
    } else {
        crate::special::student_t_sf(t, dof)
    })
}

/// p-value of "the mean difference is not zero" (two-sided paired t).
pub fn p_two_sided(d: &[f64]) -> Option<f64> {
    let (t, dof) = t_statistic(d)?;
    Some(if t.is_infinite() {
        0.0
    } else if t == 0.0 {
        1.0
    } else {
        (2.0 * crate::special::student_t_sf(t.abs(), dof)).min(1.0)
    })
}

/// Holm's adjusted p-values, in the order given (a missing p counts as 1): sorted ascending,
/// the i-th smallest (from 0) becomes max over j <= i of min(1, (m - j) p_(j)). A hypothesis
/// is rejected at level `ALPHA` exactly when its adjusted p is at most `ALPHA`.
pub fn holm(p: &[Option<f64>]) -> Vec<f64> {
    let m = p.len();
    let raw: Vec<f64> = p.iter().map(|x| x.unwrap_or(1.0)).collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| raw[a].total_cmp(&raw[b]).then(a.cmp(&b)));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0f64;
    for (j, &i) in order.iter().enumerate() {
        running = running.max(((m - j) as f64 * raw[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_steps_down() {
        // Holm's own kind of example: m = 4, alpha 0.05: 0.01 * 4 = 0.04 rejected, 0.015 * 3
        // = 0.045 rejected, 0.03 * 2 = 0.06 not, and the last not either.
        let adjusted = holm(&[Some(0.03), Some(0.01), Some(0.2), Some(0.015)]);
        let expected = [0.06, 0.04, 0.2, 0.045];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
        // Monotone: a larger raw p never gets a smaller adjusted one; missing counts as 1.
        assert_eq!(holm(&[None, Some(0.001)]), vec![1.0, 0.002]);
        assert_eq!(holm(&[Some(0.04), Some(0.01)]), vec![0.04, 0.02]);
    }

    #[test]
    fn paired_tests_follow_student_t() {
        // d = 1..5: mean 3, sd 1.5811, t = 3 / (1.5811 / sqrt 5) = 4.2426 on 4 dof.
        let d = [1.0, 2.0, 3.0, 4.0, 5.0];
        let p = p_greater(&d).unwrap();
        assert!((p - 0.006_618).abs() < 1e-5, "{p}");
        assert!((p_two_sided(&d).unwrap() - 2.0 * p).abs() < 1e-12);
        let negative: Vec<f64> = d.iter().map(|x| -x).collect();
        assert!((p_greater(&negative).unwrap() - (1.0 - p)).abs() < 1e-12);
        assert_eq!(p_greater(&[0.5]), None, "one replication: no test");
        assert_eq!(p_greater(&[0.0, 0.0, 0.0]), Some(1.0));
        assert_eq!(p_two_sided(&[0.0, 0.0]), Some(1.0));
        assert_eq!(p_greater(&[0.2, 0.2]), Some(0.0));
        assert_eq!(p_two_sided(&[-0.2, -0.2]), Some(0.0));
        assert_eq!(
            paired_differences(&[3.0, 5.0, 9.0], &[1.0, 1.0]),
            [2.0, 4.0]
        );
    }

    #[test]
    fn constraints_are_judged_by_their_interval() {
        let at = |mean, half| Interval {
            mean,
            half_width: Some(half),
        };
        assert_eq!(judge(true, 10.0, &at(8.0, 1.0)), Feasibility::Feasible);
        assert_eq!(judge(true, 10.0, &at(9.5, 1.0)), Feasibility::Uncertain);
        assert_eq!(judge(true, 10.0, &at(10.5, 1.0)), Feasibility::Uncertain);
        assert_eq!(judge(true, 10.0, &at(12.0, 1.0)), Feasibility::Infeasible);
        assert_eq!(judge(false, 0.9, &at(0.95, 0.01)), Feasibility::Feasible);
        assert_eq!(judge(false, 0.9, &at(0.905, 0.01)), Feasibility::Uncertain);
        assert_eq!(judge(false, 0.9, &at(0.85, 0.01)), Feasibility::Infeasible);
        let single = Interval {
            mean: 9.0,
            half_width: None,
        };
        assert_eq!(judge(true, 10.0, &single), Feasibility::Feasible);
        assert!(Feasibility::Feasible < Feasibility::Uncertain);
        assert!(Feasibility::Uncertain < Feasibility::Infeasible);
    }
}
