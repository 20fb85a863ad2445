//! `sweep --replications auto --budget B`: replications spent where they matter, by
//! sequential halving (Karnin, Koren and Somekh 2013, "Almost optimal exploration in
//! multi-armed bandits", ICML, algorithm 1), adapted to common random numbers and to a
//! baseline.
//!
//! The n points run in at most K = max(2, ceil(log2 n)) stages. The first screens them:
//! every point and the baseline run `SCREENING` replications. Each later stage shares what
//! is left of the budget equally among the stages left, and brings every point still in the
//! race (the contenders) and the baseline r_k more replications, r_k = the stage's budget
//! over the contenders plus one: as contenders halve, their replications about double.
//! Everyone runs the same replications (replication r has the same seed for every point),
//! so the contenders and the baseline stay paired. After each stage but the last the
//! contenders are ranked as a sweep ranks its points (constraints judged on their intervals
//! first, then the objective) and the lower half is dropped. The procedure stops early when
//! the leader is *separated*: feasible, not tied with any other contender (paired t, Holm,
//! as in `sweep::rank`), and its comparison with the baseline decided (it beats it after
//! Holm's correction, or its interval shows no gain). The rest of the budget is not spent.
//!
//! Everything it decides depends only on the results, gathered by index: the same answer
//! for any number of threads. What it does not do: the final tests reuse the replications
//! that chose the finalists, so their p-values are a little optimistic for the finalists
//! (most of a finalist's replications come from the last stages, run after most of the
//! choosing); and a sharded sweep cannot run it (the choice needs every point's results),
//! which `sweep` refuses.

use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::compare::{Comparison, Job, Variant};
use crate::engine::RunError;
use crate::report::Summary;
use crate::scenario::Scenario;
use crate::sweep::{Constraint, Objective, Param};

/// Most replications a point may reach (as `--replications` allows).
pub const MAX_REPLICATIONS: u32 = 10_000;

/// Replications every point and the baseline get in the first stage. Three is the fewest
/// whose interval means something (two degrees of freedom: t = 4.30); the halving after it
/// only drops the lower half, so a good point that drew badly keeps a fair chance.
pub const SCREENING: u32 = 3;

/// One stage of the procedure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// Contenders in this stage.
    pub points: usize,
    /// Replications each contender (and the baseline) has after it.
    pub replications: u32,
    /// Runs spent in it, the baseline's included.
    pub runs: u64,
    /// Contenders dropped after it.
    pub dropped: usize,
}

/// What the procedure did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Procedure {
    pub name: &'static str,
    pub budget: u64,
    /// Runs spent, the baseline's included.
    pub runs: u64,
    pub stages: Vec<Stage>,
    /// Why it stopped.
    pub stopped: String,
    /// For each point (in sweep order), the stage (1-based) after which it was dropped;
    /// None for the finalists.
    pub dropped_after: Vec<Option<usize>>,
}

/// The stages sequential halving takes for `points` points: halvings down to two finalists,
/// and at least a screening and a stage after it.
pub fn stage_count(points: usize) -> usize {
    (usize::BITS - points.saturating_sub(1).leading_zeros()).max(2) as usize
}

/// The smallest budget: the screening, and as much again for the later stages.
pub fn minimum_budget(points: usize) -> u64 {
    2 * u64::from(SCREENING) * (points as u64 + 1)
}

/// What a sweep needs to rank its points (see `sweep::rank`).
pub struct Ranker<'a> {
    pub params: &'a [Param],
    pub points: &'a [Vec<serde_json::Value>],
    pub objective: Objective,
    pub constraints: &'a [Constraint],
    pub tie_breaker: Objective,
}

/// Runs sequential halving over `variants` (the baseline first, then the points) within
/// `budget` runs; the comparison of everything run (points dropped early have fewer
/// replications) and what the procedure did. Job ids in `checkpoint` are
/// variant x `MAX_REPLICATIONS` + replication, so a resumed procedure finds its runs.
#[allow(clippy::too_many_arguments)]
pub fn sequential_halving(
    variants: &[Variant],
    ranker: &Ranker<'_>,
    budget: u64,
    threads: usize,
    run: impl Fn(&Scenario) -> Result<Summary, RunError> + Sync,
    done: &(dyn Fn() + Sync),
    checkpoint: Option<&Checkpoint<Vec<f64>>>,
) -> Result<(Comparison, Procedure), RunError> {
    let n = variants.len() - 1;
    let stages = stage_count(n);
    debug_assert!(budget >= minimum_budget(n));
    // rows[v][r]: variant v's metrics on replication r.
    let mut rows: Vec<Vec<Vec<f64>>> = vec![Vec::new(); variants.len()];
    let mut contenders: Vec<usize> = (0..n).collect();
    let mut dropped_after: Vec<Option<usize>> = vec![None; n];
    let mut done_stages: Vec<Stage> = Vec::new();
    let mut spent = 0u64;
    let mut stopped = String::from("the budget is spent");
    for stage in 0..stages {
        let share = (budget - spent) / (stages - stage) as u64;
        let have = rows[0].len() as u32;
        let more = if stage == 0 {
            u64::from(SCREENING)
        } else {
            share / (contenders.len() as u64 + 1)
        }
        .min(u64::from(MAX_REPLICATIONS - have)) as u32;
        if more == 0 {
            stopped = "the budget is spent".into();
            break;
        }
        let jobs: Vec<Job> = std::iter::once(0)
            .chain(contenders.iter().map(|p| p + 1))
            .flat_map(|v| {
                (have..have + more).map(move |r| Job {
                    variant: v,
                    replication: r,
                    id: v * MAX_REPLICATIONS as usize + r as usize,
                })
            })
            .collect();
        let results = crate::compare::run_jobs(variants, &jobs, threads, &run, done, checkpoint)?;
        for (job, row) in jobs.iter().zip(results) {
            rows[job.variant].push(row);
        }
        spent += jobs.len() as u64;
        // The contenders ranked on what they have, as the sweep will rank them.
        let subset: Vec<usize> = std::iter::once(0)
            .chain(contenders.iter().map(|p| p + 1))
            .collect();
        let comparison = crate::compare::comparison_of(
            &subset
                .iter()
                .map(|&v| Variant {
                    name: variants[v].name.clone(),
                    spec: String::new(),
                    scenario: variants[v].scenario.clone(),
                })
                .collect::<Vec<_>>(),
            &subset.iter().map(|&v| rows[v].clone()).collect::<Vec<_>>(),
        );
        let points: Vec<Vec<serde_json::Value>> = contenders
            .iter()
            .map(|&p| ranker.points[p].clone())
            .collect();
        let ranking = crate::sweep::rank(
            ranker.params,
            &points,
            &comparison,
            ranker.objective,
            ranker.constraints,
            ranker.tie_breaker,
            &[],
        );
        let order: Vec<usize> = ranking
            .points
            .iter()
            .map(|p| contenders[p.id - 1])
            .collect();
        let leader = &ranking.points[0];
        let decided = leader.beats_baseline
            || leader.vs_baseline.half_width.is_some_and(|h| {
                let gain =
                    if ranker.objective.maximise { 1.0 } else { -1.0 } * leader.vs_baseline.mean;
                gain + h <= 0.0
            });
        let separated =
            ranking.selection.best == Some(leader.id) && ranking.selection.tied == 0 && decided;
        let last = stage + 1 == stages;
        let keep = if separated || last {
            contenders.len()
        } else {
            contenders.len().div_ceil(2)
        };
        for &p in &order[keep..] {
            dropped_after[p] = Some(stage + 1);
        }
        done_stages.push(Stage {
            points: contenders.len(),
            replications: have + more,
            runs: jobs.len() as u64,
            dropped: contenders.len() - keep,
        });
        contenders = order[..keep].to_vec();
        contenders.sort_unstable();
        if separated {
            stopped = format!(
                "the leader was separated after stage {} (tied with no other contender, its comparison with the baseline decided)",
                stage + 1
            );
            break;
        }
    }
    let comparison = crate::compare::comparison_of(variants, &rows);
    Ok((
        comparison,
        Procedure {
            name: "sequential halving (Karnin, Koren and Somekh 2013) on common random numbers",
            budget,
            runs: spent,
            stages: done_stages,
            stopped,
            dropped_after,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_halve_down_to_two_finalists() {
        assert_eq!(stage_count(1), 2);
        assert_eq!(stage_count(2), 2);
        assert_eq!(stage_count(3), 2);
        assert_eq!(stage_count(16), 4);
        assert_eq!(stage_count(17), 5);
        // 16 points and the baseline, 2 replications each, in each of 4 stages.
        assert_eq!(minimum_budget(16), 2 * 3 * 17);
    }
}
