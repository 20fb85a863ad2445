//! A sweep cut into shards that run on different machines, and joined back: what defines a
//! sweep (`SweepSpec`), one shard's results (`SweepPart`, the `sweep-part-I-of-N.json`
//! file), which points a shard runs, and the checks `merge` makes before joining parts, so
//! that hand-edited or mismatched parts are refused instead of silently mis-ranked.

/// Version 2: the comparison holds the baseline first (version 1 parts had none).
pub const SWEEP_PART_FORMAT: &str = "aichaos.sweep-part/2";

/// What defines a sweep: every shard of one sweep carries the same.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Clone)]
pub struct SweepSpec {
    pub file: String,
    pub only: Option<String>,
    pub params: Vec<String>,
    pub objective: String,
    pub constraints: Vec<String>,
    /// `--tie-breaker`.
    #[serde(default = "default_tie_breaker")]
    pub tie_breaker: String,
    /// Replications per point; 0 with `budget` (`--replications auto`).
    pub replications: u32,
    /// `--budget` of `--replications auto` (never sharded, but in the progress file's header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
    pub sample: String,
    pub set: Vec<String>,
}

fn default_tie_breaker() -> String {
    "min:cost_usd".into()
}

/// One shard's results: the points `indices` (in grid order) and their comparison, whose
/// variant 0 is the baseline (the scenario as written) and variants 1.. the points.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SweepPart {
    pub format: String,
    pub spec: SweepSpec,
    pub shard: usize,
    pub of: usize,
    pub total_points: usize,
    pub indices: Vec<usize>,
    pub scenario: String,
    pub base_document: serde_json::Value,
    pub comparison: crate::compare::Comparison,
}

/// A part's own consistency: its shard is one of N, it holds exactly that slice's points,
/// and every result has the metrics in their order (ranking reads them by position).
pub fn check_part(part: &SweepPart) -> Result<(), (&'static str, String)> {
    if part.of == 0 || !(1..=part.of).contains(&part.shard) {
        return Err((
            "shard",
            format!("shard {} of {} is impossible", part.shard, part.of),
        ));
    }
    if part.total_points > crate::sweep::MAX_POINTS || part.of > part.total_points {
        return Err((
            "total_points",
            format!(
                "{} shards over {} points: a sweep has at most {} points and at least one per shard",
                part.of,
                part.total_points,
                crate::sweep::MAX_POINTS
            ),
        ));
    }
    let expected = shard_points(part.shard, part.of, part.total_points);
    if !part.indices.iter().copied().eq(expected) {
        return Err((
            "indices",
            format!(
                "shard {} of {} over {} points must hold the points whose index modulo {} is {}",
                part.shard,
                part.of,
                part.total_points,
                part.of,
                part.shard - 1
            ),
        ));
    }
    let names: Vec<&str> = crate::compare::METRICS.iter().map(|m| m.name).collect();
    for v in &part.comparison.variants {
        if !v
            .metrics
            .iter()
            .map(|m| m.metric.as_str())
            .eq(names.iter().copied())
        {
            return Err((
                "comparison.variants",
                format!(
                    "point `{}` does not hold the metrics {} in this order",
                    v.name,
                    names.join(", ")
                ),
            ));
        }
    }
    if part.comparison.variants.len() != part.indices.len() + 1 {
        return Err((
            "comparison.variants",
            format!(
                "{} results for {} points and the baseline",
                part.comparison.variants.len(),
                part.indices.len()
            ),
        ));
    }
    Ok(())
}

/// What `finish_sweep` relies on, checked on a part (all parts share it): the spec parses,
/// and makes as many points as the parts hold.
pub fn check_merged_spec(part: &SweepPart) -> Result<(), (&'static str, String)> {
    use crate::sweep;
    let spec = &part.spec;
    let params = spec
        .params
        .iter()
        .map(|p| sweep::parse_param(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ("spec.params", e))?;
    sweep::parse_objective(&spec.objective).map_err(|e| ("spec.objective", e))?;
    sweep::parse_objective(&spec.tie_breaker).map_err(|e| ("spec.tie_breaker", e))?;
    for c in &spec.constraints {
        sweep::parse_constraint(c).map_err(|e| ("spec.constraints", e))?;
    }
    for text in &spec.set {
        crate::scenario::overrides::Override::parse(text).map_err(|e| ("spec.set", e))?;
    }
    let sampling = sweep::parse_sampling(&spec.sample).map_err(|e| ("spec.sample", e))?;
    let count = sweep::point_count(&params, sampling);
    if count != part.total_points {
        return Err((
            "total_points",
            format!(
                "the spec makes {count} points, the parts say {}",
                part.total_points
            ),
        ));
    }
    Ok(())
}

/// The points of shard `shard` (1-based) of `of`: every `of`-th from `shard - 1`, so the
/// slices weigh about the same.
pub fn shard_points(shard: usize, of: usize, total: usize) -> impl Iterator<Item = usize> {
    (shard - 1..total).step_by(of)
}

pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text.split_once('/').and_then(|(i, n)| {
        Some((
            i.trim().parse::<usize>().ok()?,
            n.trim().parse::<usize>().ok()?,
        ))
    });
    match parsed {
        Some((i, n)) if n >= 1 && (1..=n).contains(&i) => Ok((i, n)),
        _ => Err(format!("`{text}`: write I/N with 1 <= I <= N, e.g. 3/8")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Comparison, Interval, METRICS, MetricResult, VariantResult};

    #[test]
    fn shards_cover_every_point_once() {
        for (of, total) in [(1, 1), (3, 10), (8, 8), (7, 100)] {
            let mut seen: Vec<usize> = (1..=of).flat_map(|i| shard_points(i, of, total)).collect();
            seen.sort_unstable();
            assert_eq!(
                seen,
                (0..total).collect::<Vec<_>>(),
                "{of} shards of {total}"
            );
        }
        assert_eq!(shard_points(2, 3, 10).collect::<Vec<_>>(), [1, 4, 7]);
    }

    #[test]
    fn shard_text_is_i_of_n() {
        assert_eq!(parse_shard("3/8"), Ok((3, 8)));
        assert_eq!(parse_shard(" 1 / 1 "), Ok((1, 1)));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "-1/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    fn part(shard: usize, of: usize, total: usize) -> SweepPart {
        let indices: Vec<usize> = shard_points(shard, of, total).collect();
        let metrics = METRICS
            .iter()
            .map(|m| MetricResult {
                metric: m.name.to_string(),
                values: vec![1.0],
                estimate: Interval {
                    mean: 1.0,
                    half_width: None,
                },
                vs_baseline: None,
                unpaired_half_width: None,
            })
            .collect::<Vec<_>>();
        SweepPart {
            format: SWEEP_PART_FORMAT.into(),
            spec: SweepSpec {
                file: "s.json".into(),
                only: None,
                params: vec!["duration=1m,2m,3m,4m".into()],
                objective: "max:success_rate".into(),
                constraints: vec![],
                tie_breaker: "min:cost_usd".into(),
                replications: 1,
                budget: None,
                sample: "grid".into(),
                set: vec![],
            },
            shard,
            of,
            total_points: total,
            comparison: Comparison {
                format: crate::compare::COMPARE_FORMAT.into(),
                scenario: "s".into(),
                base_seed: 1,
                replications: 1,
                seeds: vec![1],
                variants: std::iter::once(usize::MAX)
                    .chain(indices.iter().copied())
                    .map(|i| VariantResult {
                        name: format!("p{i}"),
                        spec: String::new(),
                        metrics: metrics.clone(),
                    })
                    .collect(),
            },
            indices,
            scenario: "s".into(),
            base_document: serde_json::json!({}),
        }
    }

    /// A hand-edited part is refused before anything is merged: a wrong slice, a lost
    /// result, metrics out of order, a spec that does not make the points it claims.
    #[test]
    fn parts_are_checked_before_they_are_merged() {
        let good = part(2, 2, 4);
        assert_eq!(check_part(&good), Ok(()));
        assert_eq!(check_merged_spec(&good), Ok(()));

        let mut wrong_slice = part(2, 2, 4);
        wrong_slice.indices = vec![0, 2];
        assert_eq!(check_part(&wrong_slice).unwrap_err().0, "indices");

        let mut lost = part(2, 2, 4);
        lost.comparison.variants.pop();
        assert_eq!(check_part(&lost).unwrap_err().0, "comparison.variants");

        let mut reordered = part(1, 2, 4);
        reordered.comparison.variants[1].metrics.swap(0, 1);
        assert_eq!(check_part(&reordered).unwrap_err().0, "comparison.variants");

        let mut impossible = part(1, 2, 4);
        impossible.shard = 3;
        assert_eq!(check_part(&impossible).unwrap_err().0, "shard");

        let mut miscounted = part(1, 2, 4);
        miscounted.spec.params = vec!["duration=1m,2m,3m".into()];
        assert_eq!(
            check_merged_spec(&miscounted).unwrap_err().0,
            "total_points"
        );
    }
}
