//! `aichaos compare`: policies side by side on the same simulated world.
//!
//! Every variant runs on the same R replications: replication r uses the seed
//! `replication_seed(base, r)` for every variant, so the variants meet the same arrivals,
//! outages and per-request draws (common random numbers, see `rng`). Each metric is reported
//! per variant as a mean with a 95 % Student-t interval over the replications, and as the
//! *paired* difference to the baseline (the scenario as written): the mean of the
//! per-replication differences with its own interval. Because both variants saw the same
//! world in each replication, most of the noise cancels in the difference; the unpaired
//! (Welch) interval is reported beside it to show how much narrower the paired one is.
//!
//! Runs go to worker threads, one whole simulation each; results are gathered by index, so
//! the output is the same for any number of threads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::engine::RunError;
use crate::report::Summary;
use crate::scenario::Scenario;

/// A compared metric: its name in outputs and how to read it from a summary.
pub struct Metric {
    pub name: &'static str,
    pub read: fn(&Summary) -> f64,
}

pub const METRICS: [Metric; 8] = [
    Metric {
        name: "success_rate",
        read: |s| s.success_rate,
    },
    Metric {
        name: "latency_mean_ms",
        read: |s| s.latency_ms.as_ref().map_or(0.0, |l| l.mean),
    },
    Metric {
        name: "latency_p99_ms",
        read: |s| s.latency_ms.as_ref().map_or(0.0, |l| l.p99),
    },
    Metric {
        name: "amplification",
        read: |s| s.amplification,
    },
    Metric {
        name: "cost_usd",
        read: |s| s.cost_usd,
    },
    Metric {
        name: "breaker_opens",
        read: |s| s.breaker.opens as f64,
    },
    Metric {
        name: "wasted_completions",
        read: |s| {
            s.providers
                .iter()
                .map(|p| p.wasted_completions)
                .sum::<u64>() as f64
        },
    },
    Metric {
        name: "retries",
        read: |s| s.attempts.retries as f64,
    },
];

/// The seed of replication `r`: SplitMix64 of the base seed and r, so replication seeds are
/// spread apart whatever the base seed is, and replication 0 is not the base seed's run
/// reinterpreted.
pub fn replication_seed(base: u64, replication: u32) -> u64 {
    let mut z = base ^ (u64::from(replication).wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A variant: a name and the scenario it runs.
pub struct Variant {
    pub name: String,
    /// How it was defined (file or overrides), for the report.
    pub spec: String,
    pub scenario: Scenario,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    pub mean: f64,
    /// Half-width of the 95 % interval; null with a single replication.
    pub half_width: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricResult {
    pub metric: String,
    pub values: Vec<f64>,
    pub estimate: Interval,
    /// Paired difference to the baseline (absent for the baseline itself).
    pub vs_baseline: Option<Interval>,
    /// Half-width of the unpaired (Welch) interval of the same difference.
    pub unpaired_half_width: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VariantResult {
    pub name: String,
    pub spec: String,
    pub metrics: Vec<MetricResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    pub format: String,
    pub scenario: String,
    pub base_seed: u64,
    pub replications: u32,
    pub seeds: Vec<u64>,
    pub variants: Vec<VariantResult>,
}

pub const COMPARE_FORMAT: &str = "aichaos.compare/1";

/// The two-sided 95 % Student-t factor. Ours on libm rather than statrs's (built on std's
/// platform functions): the interval reaches compare.json and sweep.json.
fn t_quantile(dof: f64) -> f64 {
    crate::special::student_t_quantile(0.975, dof)
}

fn mean_and_variance(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let variance = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, variance)
}

/// Mean and 95 % Student-t half-width.
pub fn interval(xs: &[f64]) -> Interval {
    let (mean, variance) = mean_and_variance(xs);
    let n = xs.len() as f64;
    let half_width = (xs.len() > 1).then(|| t_quantile(n - 1.0) * (variance / n).sqrt());
    Interval { mean, half_width }
}

/// Welch's 95 % half-width for the difference of two means.
pub fn welch_half_width(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let ((_, va), (_, vb)) = (mean_and_variance(a), mean_and_variance(b));
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let se2 = va / na + vb / nb;
    if se2 == 0.0 {
        return Some(0.0);
    }
    let dof = se2.powi(2) / ((va / na).powi(2) / (na - 1.0) + (vb / nb).powi(2) / (nb - 1.0));
    Some(t_quantile(dof) * se2.sqrt())
}

/// Runs every variant on every replication (`threads` at once) and compares.
/// `done` is called after every simulation (for a progress bar); it never affects results.
pub fn compare(
    variants: &[Variant],
    replications: u32,
    threads: usize,
    run: impl Fn(&Scenario) -> Result<Summary, RunError> + Sync,
    done: &(dyn Fn() + Sync),
) -> Result<Comparison, RunError> {
    compare_resumable(variants, replications, threads, run, done, None)
}

/// `compare`, keeping each run's metrics in `checkpoint` as it finishes and taking those an
/// interrupted attempt already finished from it (job = variant x replications + r).
pub fn compare_resumable(
    variants: &[Variant],
    replications: u32,
    threads: usize,
    run: impl Fn(&Scenario) -> Result<Summary, RunError> + Sync,
    done: &(dyn Fn() + Sync),
    checkpoint: Option<&Checkpoint<Vec<f64>>>,
) -> Result<Comparison, RunError> {
    let base = &variants[0].scenario;
    let seeds: Vec<u64> = (0..replications)
        .map(|r| replication_seed(base.seed, r))
        .collect();
    let jobs: Vec<Job> = (0..variants.len())
        .flat_map(|v| {
            (0..replications).map(move |r| Job {
                variant: v,
                replication: r,
                id: v * replications as usize + r as usize,
            })
        })
        .collect();
    let rows = run_jobs(variants, &jobs, threads, run, done, checkpoint)?;
    let values: Vec<Vec<Vec<f64>>> = rows
        .chunks(seeds.len().max(1))
        .map(<[Vec<f64>]>::to_vec)
        .collect();
    Ok(comparison_of(variants, &values))
}

/// One simulation: a variant on a replication, with its id in the progress file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub variant: usize,
    pub replication: u32,
    pub id: usize,
}

/// Runs `jobs` (`threads` at once), each with the seed of its replication (derived from the
/// first variant's seed); their metrics in METRICS order, in the order of `jobs`.
pub fn run_jobs(
    variants: &[Variant],
    jobs: &[Job],
    threads: usize,
    run: impl Fn(&Scenario) -> Result<Summary, RunError> + Sync,
    done: &(dyn Fn() + Sync),
    checkpoint: Option<&Checkpoint<Vec<f64>>>,
) -> Result<Vec<Vec<f64>>, RunError> {
    let base_seed = variants[0].scenario.seed;
    crate::parallel::map_indexed(
        jobs.len(),
        threads,
        |i| {
            let job = jobs[i];
            if let Some(row) = checkpoint.and_then(|c| c.prior(job.id)) {
                return Ok(row);
            }
            let mut scenario = variants[job.variant].scenario.clone();
            scenario.seed = replication_seed(base_seed, job.replication);
            let summary = run(&scenario)?;
            let row: Vec<f64> = METRICS.iter().map(|m| (m.read)(&summary)).collect();
            if let Some(c) = checkpoint {
                c.record(job.id, &row);
            }
            Ok(row)
        },
        done,
    )
    .into_iter()
    .collect()
}

/// The comparison of `variants` from their runs: `rows[v][r]` holds variant v's metrics on
/// replication r. Variants may have run different numbers of replications (a sequential
/// sweep), always the first ones: a paired difference uses the replications both have.
pub fn comparison_of(variants: &[Variant], rows: &[Vec<Vec<f64>>]) -> Comparison {
    let base = &variants[0].scenario;
    let replications = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let seeds: Vec<u64> = (0..replications)
        .map(|r| replication_seed(base.seed, r))
        .collect();
    let values =
        |v: usize, metric: usize| -> Vec<f64> { rows[v].iter().map(|row| row[metric]).collect() };
    let variants = variants
        .iter()
        .enumerate()
        .map(|(v, variant)| VariantResult {
            name: variant.name.clone(),
            spec: variant.spec.clone(),
            metrics: METRICS
                .iter()
                .enumerate()
                .map(|(m, metric)| {
                    let mine = values(v, m);
                    let base = values(0, m);
                    let paired: Vec<f64> = mine.iter().zip(&base).map(|(a, b)| a - b).collect();
                    MetricResult {
                        metric: metric.name.to_string(),
                        estimate: interval(&mine),
                        vs_baseline: (v > 0).then(|| interval(&paired)),
                        unpaired_half_width: if v > 0 {
                            welch_half_width(&mine, &base)
                        } else {
                            None
                        },
                        values: mine,
                    }
                })
                .collect(),
        })
        .collect();
    Comparison {
        format: COMPARE_FORMAT.to_string(),
        scenario: base.name.clone(),
        base_seed: base.seed,
        replications,
        seeds,
        variants,
    }
}

/// `compare.csv`: one row per (variant, metric).
pub fn csv(c: &Comparison) -> String {
    let mut out = String::from(
        "variant,metric,mean,ci95_half_width,diff_vs_baseline,diff_ci95_half_width,unpaired_diff_ci95_half_width\n",
    );
    let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
    for v in &c.variants {
        for m in &v.metrics {
            out.push_str(&format!(
                "{},{},{:.6},{},{},{},{}\n",
                crate::timeseries::csv_field(&v.name),
                m.metric,
                m.estimate.mean,
                opt(m.estimate.half_width),
                opt(m.vs_baseline.as_ref().map(|d| d.mean)),
                opt(m.vs_baseline.as_ref().and_then(|d| d.half_width)),
                opt(m.unpaired_half_width),
            ));
        }
    }
    out
}

/// The console table: the headline metrics with their intervals and paired differences.
pub fn table(c: &Comparison) -> String {
    let shown = [
        "success_rate",
        "latency_p99_ms",
        "amplification",
        "cost_usd",
    ];
    let fmt = |i: &Interval, scale: f64, decimals: usize| match i.half_width {
        Some(h) => format!(
            "{:.*} ± {:.*}",
            decimals,
            i.mean * scale,
            decimals,
            h * scale
        ),
        None => format!("{:.*}", decimals, i.mean * scale),
    };
    let mut out = format!(
        "{} on {} replication(s) (seeds derived from {}); ± is a 95 % interval; Δ is the paired difference to the baseline\n",
        c.scenario, c.replications, c.base_seed
    );
    out.push_str(&format!(
        "{:<28} {:>22} {:>22} {:>18} {:>18}\n",
        "variant", "success %", "p99 ms", "attempts/request", "cost $"
    ));
    for v in &c.variants {
        let cell = |name: &str| -> (String, String) {
            let m = v
                .metrics
                .iter()
                .find(|m| m.metric == name)
                .expect("shown metrics exist");
            let (scale, decimals) = match name {
                "success_rate" => (100.0, 2),
                "latency_p99_ms" => (1.0, 0),
                "amplification" => (1.0, 3),
                _ => (1.0, 2),
            };
            let delta = m
                .vs_baseline
                .as_ref()
                .map(|d| format!("Δ {}", fmt(d, scale, decimals)))
                .unwrap_or_default();
            (fmt(&m.estimate, scale, decimals), delta)
        };
        let cells: Vec<(String, String)> = shown.iter().map(|m| cell(m)).collect();
        out.push_str(&format!(
            "{:<28} {:>22} {:>22} {:>18} {:>18}\n",
            v.name, cells[0].0, cells[1].0, cells[2].0, cells[3].0
        ));
        if cells.iter().any(|c| !c.1.is_empty()) {
            out.push_str(&format!(
                "{:<28} {:>22} {:>22} {:>18} {:>18}\n",
                "", cells[0].1, cells[1].1, cells[2].1, cells[3].1
            ));
        }
    }
    out
}

/// Parses `--variant NAME=FILE.json` (a merge patch over the scenario) or
/// `--variant NAME:PATH=VALUE;PATH=VALUE` (inline overrides).
pub fn parse_variant(text: &str) -> Result<(String, VariantSpec), String> {
    let colon = text.find(':');
    let equals = text.find('=');
    match (colon, equals) {
        (Some(c), Some(e)) if c < e => {
            let name = text[..c].trim();
            let sets = text[c + 1..]
                .split(';')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>();
            if name.is_empty() || sets.is_empty() {
                return Err(format!("`{text}`: write NAME:PATH=VALUE[;PATH=VALUE...]"));
            }
            Ok((name.to_string(), VariantSpec::Sets(sets)))
        }
        (_, Some(e)) => {
            let name = text[..e].trim();
            if name.is_empty() {
                return Err(format!(
                    "`{text}`: write NAME=OVERRIDES.json or NAME:PATH=VALUE"
                ));
            }
            Ok((
                name.to_string(),
                VariantSpec::File(text[e + 1..].trim().to_string()),
            ))
        }
        _ => Err(format!(
            "`{text}`: write NAME=OVERRIDES.json or NAME:PATH=VALUE[;PATH=VALUE...]"
        )),
    }
}

pub enum VariantSpec {
    /// A JSON merge patch over the scenario.
    File(String),
    Sets(Vec<String>),
}

/// Reads a variant's patch file.
pub fn read_patch(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{path}: cannot read the variant: {e}"))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{path}:{}:{}: invalid JSON: {e}", e.line(), e.column()))?;
    if !value.is_object() {
        return Err(format!(
            "{path}: a variant is a JSON object, merged over the scenario"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_student_t() {
        let i = interval(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(i.mean, 3.0);
        // t(0.975, 4) = 2.7764; sd = 1.5811; n = 5.
        assert!((i.half_width.unwrap() - 2.7764 * 1.5811 / 5f64.sqrt()).abs() < 1e-3);
        assert_eq!(interval(&[7.0]).half_width, None);
        assert_eq!(welch_half_width(&[1.0, 1.0], &[2.0, 2.0]), Some(0.0));
    }

    #[test]
    fn replication_seeds_differ() {
        let seeds: Vec<u64> = (0..100).map(|r| replication_seed(1, r)).collect();
        let mut sorted = seeds.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
        assert_ne!(replication_seed(1, 0), replication_seed(2, 0));
    }

    #[test]
    fn variants_parse() {
        assert!(
            matches!(parse_variant("fast:traffic[0].policy.retry.max_attempts=1").unwrap().1, VariantSpec::Sets(s) if s.len() == 1)
        );
        assert!(
            matches!(parse_variant("b=variant.json").unwrap().1, VariantSpec::File(f) if f == "variant.json")
        );
        assert!(parse_variant("nothing").is_err());
    }
}
