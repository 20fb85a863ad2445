//! Percentile lines of runs with few requests per bucket: buckets widened until each point
//! stands on enough requests to mean what its label says.
//!
//! A q-quantile of fewer than 1/(1-q) samples is the largest of them (HdrHistogram ranks
//! the quantile at ceil(q n), which is n while n < 1/(1-q)): a p99 of 3 requests is their
//! maximum, and a line of such points is noise. So a percentile line merges consecutive
//! buckets until each group holds `min_samples(q)` successful requests: 20 for p95, 100
//! for p99, and 5 for p50 (the floor for any line: a median of 2 or 3 requests is one of
//! them). A bucket with enough requests stays alone, so a busy run keeps its resolution.
//!
//! Empty buckets (no success) are a lull and join the group around them, unless a run of
//! them outlasts the group before it (the one being filled, or the one just closed): then
//! they are a gap in the line, so an outage stays visible. A group ended short (by such a
//! gap or by the end of the run) joins the group before it when they touch; otherwise it
//! is a point on too few requests, which the chart draws as a dot, not joined to a line.
//!
//! The saved run holds each bucket's quantiles, not its samples, so a group's value is the
//! q-quantile of its buckets' values, each counted as many times as its bucket has
//! successes. It lies between its buckets' values, and it is exact while the group holds
//! fewer than 1/(1-q) requests (then it is their maximum, as the quantile itself is).

use std::ops::Range;

/// Fewest samples behind a point of any percentile line.
pub const MIN_SAMPLES: u64 = 5;

/// Successful requests a point of the q-quantile's line needs: 1/(1-q), and at least
/// `MIN_SAMPLES`.
pub fn min_samples(quantile: f64) -> u64 {
    debug_assert!((0.0..1.0).contains(&quantile));
    // 1/(1-0.99) is 100.00000000000009 in floating point: round, not ceil.
    ((1.0 / (1.0 - quantile)).round() as u64).max(MIN_SAMPLES)
}

/// A group of consecutive buckets and the successful requests in it (0: a gap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub buckets: Range<usize>,
    pub samples: u64,
}

/// Splits buckets holding `samples[i]` successes into groups of at least `min` successes
/// and gaps, in order, covering every bucket once (the rule in the module's doc).
pub fn groups(samples: &[u64], min: u64) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    // Buckets seen but not yet placed: the first of them, the last with a success (None
    // while all are empty), and their successes.
    let mut start = 0;
    let mut last: Option<usize> = None;
    let mut total = 0;
    for (i, &n) in samples.iter().enumerate() {
        if n == 0 {
            // Empty buckets end what came before them when they outlast it: the group being
            // filled, or (before a group starts) the group just closed.
            let before = match last {
                Some(last) => last + 1 - start,
                None => out
                    .last()
                    .filter(|g| g.samples > 0)
                    .map_or(0, |g| g.buckets.len()),
            };
            let empty_from = last.map_or(start, |l| l + 1);
            if i + 1 - empty_from > before {
                if let Some(l) = last {
                    close_short(&mut out, start..l + 1, total);
                }
                out.extend(gaps(empty_from..i + 1));
                (start, last, total) = (i + 1, None, 0);
            }
            continue;
        }
        last = Some(i);
        total += n;
        if total >= min {
            out.push(Group {
                buckets: start..i + 1,
                samples: total,
            });
            (start, last, total) = (i + 1, None, 0);
        }
    }
    if let Some(l) = last {
        close_short(&mut out, start..l + 1, total);
        start = l + 1;
    }
    out.extend(gaps(start..samples.len()));
    out
}

/// Empty buckets, one gap each.
fn gaps(buckets: Range<usize>) -> impl Iterator<Item = Group> {
    buckets.map(|b| Group {
        buckets: b..b + 1,
        samples: 0,
    })
}

/// Ends a group that holds fewer requests than wanted: it joins the group just before it
/// when they touch, or stands alone.
fn close_short(out: &mut Vec<Group>, buckets: Range<usize>, samples: u64) {
    match out.last_mut() {
        Some(previous) if previous.samples > 0 && previous.buckets.end == buckets.start => {
            previous.buckets.end = buckets.end;
            previous.samples += samples;
        }
        _ => out.push(Group { buckets, samples }),
    }
}

/// The q-quantile of `values` (value, weight), each value counted `weight` times, as
/// HdrHistogram ranks it (the value at rank ceil(q n)); None without weight.
pub fn weighted_quantile(values: &[(f64, u64)], quantile: f64) -> Option<f64> {
    let total: u64 = values.iter().map(|v| v.1).sum();
    if total == 0 {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The product is computed in floating point: 0.99 * 300 is 297.00000000000006.
    let rank = ((quantile * total as f64 - 1e-9).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    sorted.into_iter().find_map(|(value, weight)| {
        seen += weight;
        (seen >= rank).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(groups: &[Group]) -> Vec<(Range<usize>, u64)> {
        groups
            .iter()
            .map(|g| (g.buckets.clone(), g.samples))
            .collect()
    }

    #[test]
    fn thin_buckets_merge_and_busy_ones_stay_alone() {
        assert_eq!(min_samples(0.5), 5);
        assert_eq!(min_samples(0.95), 20);
        assert_eq!(min_samples(0.99), 100);
        assert_eq!(
            spans(&groups(&[1, 2, 0, 3, 7, 9, 1], 5)),
            // 1 + 2 + (lull) + 3; 7; 9 then the last 1, too few, joins the 9.
            vec![(0..4, 6), (4..5, 7), (5..7, 10)]
        );
    }

    #[test]
    fn an_outage_stays_a_gap() {
        assert_eq!(
            spans(&groups(&[2, 0, 0, 0, 6, 1, 0, 3], 5)),
            // Two empty buckets after a group of one end it: the 2 stands alone, short,
            // before the gap. The 1 and the 3 (with a lull between) are too few and join
            // the 6 they touch.
            vec![(0..1, 2), (1..2, 0), (2..3, 0), (3..4, 0), (4..8, 10)]
        );
        // One quiet bucket after a group of one is a lull: it joins the next group.
        assert_eq!(
            spans(&groups(&[5, 0, 5, 0, 0], 5)),
            vec![(0..1, 5), (1..3, 5), (3..4, 0), (4..5, 0)]
        );
    }

    #[test]
    fn quantiles_count_each_value_by_its_weight() {
        let values = [(10.0, 3), (50.0, 1), (20.0, 1)];
        assert_eq!(weighted_quantile(&values, 0.5), Some(10.0));
        assert_eq!(weighted_quantile(&values, 0.7), Some(20.0));
        assert_eq!(weighted_quantile(&values, 0.99), Some(50.0));
        assert_eq!(weighted_quantile(&[(7.0, 0)], 0.5), None);
    }
}
