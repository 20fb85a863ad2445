//! What a run tells its user: `summary.json`, the expectations verdict, and the console
//! report in the spirit of the seed's experiment printout.
//!
//! `summary.json` is deterministic except for the object `wall_clock` (wall seconds and
//! events per wall second), kept apart so tools can strip it before comparing runs.

use serde::Serialize;

use crate::credits::nano_to_usd;
use crate::engine::RunResult;
use crate::metrics::Totals;
use crate::outcome::Failure;
use crate::policy::breaker::AppliesTo;
use crate::rng::GENERATOR;
use crate::scenario::Scenario;
use crate::slo::{Incident, SloSummary};
use crate::time::{format_clock, format_duration, ns_to_secs, secs_to_ns};

pub const SUMMARY_FORMAT: &str = "aichaos.summary/1";

#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub aichaos: &'static str,
    pub generator: &'static str,
    pub rand: &'static str,
    pub rand_chacha: &'static str,
    pub statrs: &'static str,
    /// The pure-Rust libm behind every transcendental function on an output path.
    pub libm: &'static str,
    pub hdrhistogram: &'static str,
    pub serde_json: &'static str,
}

pub const VERSIONS: Versions = Versions {
    aichaos: env!("CARGO_PKG_VERSION"),
    generator: GENERATOR,
    rand: env!("AICHAOS_RAND_VERSION"),
    rand_chacha: env!("AICHAOS_RAND_CHACHA_VERSION"),
    statrs: env!("AICHAOS_STATRS_VERSION"),
    libm: env!("AICHAOS_LIBM_VERSION"),
    hdrhistogram: env!("AICHAOS_HDRHISTOGRAM_VERSION"),
    serde_json: env!("AICHAOS_SERDE_JSON_VERSION"),
};

/// The seed's health rule: HEALTHY above 95 % success, DEGRADED above 80 %, else CRITICAL.
pub fn health(success_rate: f64) -> &'static str {
    if success_rate > 0.95 {
        "HEALTHY"
    } else if success_rate > 0.80 {
        "DEGRADED"
    } else {
        "CRITICAL"
    }
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub format: &'static str,
    pub scenario: ScenarioInfo,
    pub seed: u64,
    /// `--set` overrides applied to the scenario file.
    pub overrides: Vec<String>,
    pub versions: Versions,
    pub simulated_duration_s: f64,
    pub warmup_s: f64,
    /// Width of a `timeseries.csv` bucket.
    pub bucket_s: f64,
    pub requests: Requests,
    /// Succeeded / (succeeded + failed); 0 when nothing ended.
    pub success_rate: f64,
    pub health: &'static str,
    /// End-to-end latency of successful requests, from arrival to answer (retries and
    /// backoff included); null when none succeeded.
    pub latency_ms: Option<Latency>,
    /// End-to-end latency distributions as `[ms, cumulative fraction]` points, from the
    /// summary histograms, for successful and failed requests (empty when there are none).
    pub latency_cdf_ms: LatencyCdf,
    pub attempts: Attempts,
    /// Attempts sent per arrived request: the load retries add.
    pub amplification: f64,
    pub cost_usd: f64,
    /// Sum over the providers that model credits; null when none does.
    pub credits_remaining_usd: Option<f64>,
    pub cost_per_success_usd: Option<f64>,
    pub breaker: BreakerSummary,
    pub recent_errors: Vec<ErrorLine>,
    pub groups: Vec<GroupSummary>,
    pub providers: Vec<ProviderSummary>,
    /// Who answered: per (provider, model) that answered or was billed, the successful
    /// answers, their share, and the cost (what fraction came from the weaker model).
    pub targets: Vec<TargetSummary>,
    pub littles_law: LittlesLawSummary,
    /// The SLOs' figures and incidents; absent when the scenario declares no SLO.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<Objectives>,
    pub expectations: Vec<Expectation>,
    pub passed: bool,
    pub events_processed: u64,
    pub wall_clock: WallClock,
}

#[derive(Debug, Serialize)]
pub struct Objectives {
    pub slos: Vec<SloSummary>,
    /// Every SLO's incidents, in time order.
    pub incidents: Vec<Incident>,
}

#[derive(Debug, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct Requests {
    pub arrived: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Still alive when the drain limit ended the run (0 in a drained run).
    pub unfinished: u64,
    pub failed_by_reason: Counts,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Serialize)]
pub struct LatencyCdf {
    pub succeeded: Vec<[f64; 2]>,
    pub failed: Vec<[f64; 2]>,
}

/// The cumulative fractions at which the CDF is sampled: every percent, then the tail.
fn cdf_quantiles() -> impl Iterator<Item = f64> {
    (0..100)
        .map(|i| f64::from(i) / 100.0)
        .chain((1..10).map(|i| 0.99 + f64::from(i) / 1000.0))
        .chain([0.9995, 0.9999, 1.0])
}

fn cdf(histogram: &hdrhistogram::Histogram<u64>) -> Vec<[f64; 2]> {
    if histogram.is_empty() {
        return Vec::new();
    }
    cdf_quantiles()
        .map(|q| [histogram.value_at_quantile(q) as f64 / 1000.0, q])
        .collect()
}

#[derive(Debug, Serialize)]
pub struct Attempts {
    pub sent: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub server_errors: u64,
    pub timeouts: u64,
    /// Refused for want of credits, whatever the status: 402 or OpenAI's 429
    /// `insufficient_quota` (`failures` tells them apart).
    pub insufficient_credits: u64,
    pub breaker_rejected: u64,
    pub fallbacks: u64,
    pub served_by_fallback: u64,
    /// Retries a retry budget refused.
    pub retries_denied_by_budget: u64,
    /// Retries an open retries-only breaker stopped (`breaker.applies_to: "retries"`);
    /// absent when no group has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries_stopped_by_breaker: Option<u64>,
    /// Attempts adaptive throttling rejected before sending.
    pub throttled: u64,
    /// Targets put in cooldown (LiteLLM).
    pub cooldowns: u64,
    /// Credit pre-checks that found the account short.
    pub low_credit_alerts: u64,
    /// Hedged copies sent, and requests a hedge (not the first attempt) answered.
    pub hedges_sent: u64,
    pub hedges_won: u64,
    /// Retry layers from the outermost in: how often each was called and how many calls it
    /// made of what it wraps. The innermost line is the client's own `retry`, whose calls
    /// are the attempts; each line's amplification is its calls out per call in.
    pub retry_layers: Vec<LayerLine>,
    pub failed_by_outcome: Counts,
}

#[derive(Debug, Serialize)]
pub struct LayerLine {
    pub layer: String,
    pub calls_in: u64,
    pub calls_out: u64,
    pub amplification: f64,
}

/// Calls through the retry layers, outermost first. Calls into the outermost layer are the
/// requests' calls of each target (arrivals plus moves down the fallback chain).
fn retry_layers(scenario: &Scenario, t: &Totals) -> Vec<LayerLine> {
    let mut layers: Vec<(String, u64)> = Vec::new();
    let outer = scenario
        .groups
        .iter()
        .map(|g| g.policy.outer_retries.len())
        .max()
        .unwrap_or(0);
    for k in (0..outer).rev() {
        let name = scenario
            .groups
            .iter()
            .find_map(|g| g.policy.outer_retries.get(k).map(|l| l.name.clone()))
            .unwrap_or_default();
        layers.push((name, t.layer_retries[k]));
    }
    layers.push(("retry".to_string(), t.retries));
    let mut calls_in = t.arrived + t.fallbacks;
    layers
        .into_iter()
        .map(|(layer, retries)| {
            let calls_out = calls_in + retries;
            let line = LayerLine {
                layer,
                calls_in,
                calls_out,
                amplification: if calls_in == 0 {
                    0.0
                } else {
                    round(calls_out as f64 / calls_in as f64, 6)
                },
            };
            calls_in = calls_out;
            line
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct BreakerSummary {
    pub opens: u64,
    pub closes: u64,
    /// Openings outside any fault window of the breaker's provider (outage, brownout, chaos,
    /// or one attempt timeout after one): the breaker tripped on noise.
    pub false_opens: u64,
    pub time_open_s: f64,
    pub breakers: Vec<BreakerLine>,
}

#[derive(Debug, Serialize)]
pub struct BreakerLine {
    pub group: String,
    pub provider: String,
    pub model: String,
    /// The client instance of a fleet (0 for a breaker shared by the group).
    pub instance: u32,
    pub opens: u64,
    pub closes: u64,
    /// When it first opened (time to detect an outage that starts at 0).
    pub first_open_s: Option<f64>,
    pub time_open_s: f64,
    pub final_state: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ErrorLine {
    pub time_s: f64,
    pub time: String,
    pub request: u64,
    pub attempt: u32,
    pub error: &'static str,
    pub message: &'static str,
    pub provider: String,
    pub model: String,
}

#[derive(Debug, Serialize)]
pub struct GroupSummary {
    pub name: String,
    pub arrived: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub success_rate: f64,
    pub attempts_sent: u64,
    pub served_by_fallback: u64,
}

#[derive(Debug, Serialize)]
pub struct ProviderSummary {
    pub name: String,
    pub attempts_received: u64,
    pub attempts_accepted: u64,
    pub completed_ok: u64,
    pub wasted_completions: u64,
    pub queue_max: u32,
    /// Requests per second the provider's slots can serve: slots over the mean service time
    /// of its first model at the traffic's mean output length (an estimate, for charts);
    /// null for unlimited capacity.
    pub capacity_per_s: Option<f64>,
    /// Mean wait in the provider's queue of attempts admitted after the warm-up, and the
    /// fraction of them that waited at all; null when none started service.
    pub queue_wait_mean_ms: Option<f64>,
    pub queue_wait_probability: Option<f64>,
    pub faults: FaultSummary,
    pub cost_usd: f64,
    pub credits_remaining_usd: Option<f64>,
    pub first_insufficient_credits_s: Option<f64>,
    pub first_low_credit_alert_s: Option<f64>,
}

/// A provider's fault windows (outages and brownouts) as the clients lived them.
#[derive(Debug, Serialize)]
pub struct FaultSummary {
    pub windows: u64,
    /// Windows during which a breaker on this provider opened, and how long after the
    /// window's start the first opening came (time to detect).
    pub detected: u64,
    pub time_to_detect_mean_s: Option<f64>,
    pub time_to_detect_max_s: Option<f64>,
    /// From a window's end to the provider's next successful answer (time to recover).
    pub recovered: u64,
    pub time_to_recover_mean_s: Option<f64>,
    pub time_to_recover_max_s: Option<f64>,
}

fn faults(t: &crate::metrics::ProviderTotals) -> FaultSummary {
    let mean = |sum: u128, n: u64| (n > 0).then(|| round(sum as f64 / n as f64 / 1e9, 6));
    let max = |ns: u64, n: u64| (n > 0).then(|| round(ns_to_secs(ns), 6));
    FaultSummary {
        windows: t.fault_windows,
        detected: t.detections,
        time_to_detect_mean_s: mean(t.detection_sum_ns, t.detections),
        time_to_detect_max_s: max(t.detection_max_ns, t.detections),
        recovered: t.recoveries,
        time_to_recover_mean_s: mean(t.recovery_sum_ns, t.recoveries),
        time_to_recover_max_s: max(t.recovery_max_ns, t.recoveries),
    }
}

#[derive(Debug, Serialize)]
pub struct TargetSummary {
    pub provider: String,
    pub model: String,
    /// Times requests moved down their fallback chain to this target.
    pub fallbacks_in: u64,
    pub answers: u64,
    pub share: f64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Expectation {
    pub name: &'static str,
    pub limit: f64,
    pub actual: f64,
    pub passed: bool,
}

/// L = λW over the whole run (warm-up included), checked in every run: the time-averaged
/// number of requests in the system equals the arrival rate times the mean time in the
/// system. `holds` is exact agreement of the two integrals (see `engine::LittlesLaw`).
#[derive(Debug, Serialize)]
pub struct LittlesLawSummary {
    pub requests_in_system_avg: f64,
    pub arrival_rate_per_s: f64,
    pub mean_time_in_system_s: f64,
    pub holds: bool,
}

#[derive(Debug, Serialize)]
pub struct WallClock {
    pub wall_seconds: f64,
    pub events_per_wall_second: f64,
}

fn success_rate(t: &Totals) -> f64 {
    let ended = t.succeeded + t.failed;
    if ended == 0 {
        0.0
    } else {
        t.succeeded as f64 / ended as f64
    }
}

/// Counts by failure name, serialized as a JSON object in `Failure::ALL` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts(pub Vec<(&'static str, u64)>);

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, count) in &self.0 {
            map.serialize_entry(name, count)?;
        }
        map.end()
    }
}

fn by_failure(counts: &[u64; Failure::COUNT]) -> Counts {
    Counts(
        Failure::ALL
            .iter()
            .map(|f| (f.name(), counts[f.index()]))
            .collect(),
    )
}

fn round(x: f64, decimals: i32) -> f64 {
    // Exact: 10^k is representable for k <= 22 and powi's repeated squaring (compiler-builtins,
    // no libm) reaches it through exact products; `round` is exact on every platform.
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

pub fn summarize(scenario: &Scenario, result: &RunResult, wall_seconds: f64) -> Summary {
    let t = &result.totals;
    let rate = success_rate(t);
    let h = &result.latency_ok;
    let quantile_ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let latency = (t.succeeded > 0).then(|| Latency {
        mean: round(t.latency_sum_ns as f64 / t.succeeded as f64 / 1e6, 3),
        p50: quantile_ms(0.50),
        p90: quantile_ms(0.90),
        p95: quantile_ms(0.95),
        p99: quantile_ms(0.99),
        p999: quantile_ms(0.999),
        max: h.max() as f64 / 1000.0,
    });
    let af = &t.attempt_failures;
    let sum_of = |pred: fn(Failure) -> bool| {
        Failure::ALL
            .iter()
            .filter(|f| pred(**f))
            .map(|f| af[f.index()])
            .sum()
    };
    let with_credits: Vec<u64> = result
        .credits_remaining_nusd
        .iter()
        .flatten()
        .copied()
        .collect();
    let cost_usd = nano_to_usd(t.cost_nusd);
    let target_names = |p: u16, m: u16| {
        (
            scenario.providers[p as usize].name.clone(),
            scenario.model_name(p, m).to_string(),
        )
    };
    let mut summary = Summary {
        format: SUMMARY_FORMAT,
        scenario: ScenarioInfo {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
        },
        seed: scenario.seed,
        overrides: scenario.overrides.clone(),
        versions: VERSIONS,
        simulated_duration_s: ns_to_secs(result.end_ns),
        warmup_s: ns_to_secs(scenario.warmup_ns),
        bucket_s: ns_to_secs(scenario.bucket_ns),
        requests: Requests {
            arrived: t.arrived,
            succeeded: t.succeeded,
            failed: t.failed,
            unfinished: result.unfinished,
            failed_by_reason: by_failure(&t.failed_by),
        },
        success_rate: round(rate, 6),
        health: health(rate),
        latency_ms: latency,
        latency_cdf_ms: LatencyCdf {
            succeeded: cdf(&result.latency_ok),
            failed: cdf(&result.latency_failed),
        },
        attempts: Attempts {
            sent: t.attempts_sent,
            retries: t.retries,
            rate_limited: af[Failure::RateLimited.index()],
            server_errors: sum_of(Failure::is_server_error),
            timeouts: sum_of(Failure::is_timeout),
            insufficient_credits: sum_of(Failure::is_out_of_credits),
            breaker_rejected: af[Failure::BreakerOpen.index()],
            fallbacks: t.fallbacks,
            served_by_fallback: t.served_by_fallback,
            retries_denied_by_budget: t.retries_denied,
            retries_stopped_by_breaker: scenario
                .groups
                .iter()
                .any(|g| {
                    g.policy
                        .breaker
                        .as_ref()
                        .is_some_and(|b| b.applies_to == AppliesTo::Retries)
                })
                .then_some(t.retries_stopped_by_breaker),
            throttled: af[Failure::Throttled.index()],
            cooldowns: t.cooldowns,
            low_credit_alerts: t.low_credit_alerts,
            hedges_sent: t.hedges,
            hedges_won: t.hedges_won,
            retry_layers: retry_layers(scenario, t),
            failed_by_outcome: by_failure(af),
        },
        amplification: if t.arrived == 0 {
            0.0
        } else {
            round(t.attempts_sent as f64 / t.arrived as f64, 6)
        },
        cost_usd: round(cost_usd, 6),
        credits_remaining_usd: (!with_credits.is_empty())
            .then(|| round(nano_to_usd(with_credits.iter().sum()), 6)),
        cost_per_success_usd: (t.succeeded > 0).then(|| round(cost_usd / t.succeeded as f64, 9)),
        breaker: BreakerSummary {
            opens: result.breakers.iter().map(|b| b.opens).sum(),
            closes: result.breakers.iter().map(|b| b.closes).sum(),
            false_opens: result.false_opens,
            time_open_s: round(
                ns_to_secs(result.breakers.iter().map(|b| b.time_open_ns).sum()),
                3,
            ),
            breakers: result
                .breakers
                .iter()
                .map(|b| {
                    let (provider, model) = target_names(b.target.provider, b.target.model);
                    BreakerLine {
                        group: scenario.groups[b.group as usize].name.clone(),
                        provider,
                        model,
                        instance: b.instance,
                        opens: b.opens,
                        closes: b.closes,
                        first_open_s: b.first_open_ns.map(|ns| round(ns_to_secs(ns), 9)),
                        time_open_s: round(ns_to_secs(b.time_open_ns), 3),
                        final_state: b.final_state,
                    }
                })
                .collect(),
        },
        recent_errors: result
            .recent_errors
            .iter()
            .map(|e| {
                let (provider, model) = target_names(e.provider, e.model);
                ErrorLine {
                    time_s: round(ns_to_secs(e.time_ns), 6),
                    time: format_clock(e.time_ns),
                    request: e.request_id,
                    attempt: e.attempt,
                    error: e.failure.name(),
                    message: e.failure.message(),
                    provider,
                    model,
                }
            })
            .collect(),
        groups: scenario
            .groups
            .iter()
            .zip(&result.groups)
            .map(|(g, t)| GroupSummary {
                name: g.name.clone(),
                arrived: t.arrived,
                succeeded: t.succeeded,
                failed: t.failed,
                success_rate: round(success_rate(t), 6),
                attempts_sent: t.attempts_sent,
                served_by_fallback: t.served_by_fallback,
            })
            .collect(),
        providers: scenario
            .providers
            .iter()
            .zip(&result.providers)
            .zip(&result.credits_remaining_nusd)
            .map(|((p, t), credits)| ProviderSummary {
                name: p.name.clone(),
                attempts_received: t.received,
                attempts_accepted: t.accepted,
                completed_ok: t.completed_ok,
                wasted_completions: t.wasted,
                queue_max: t.queue_max,
                capacity_per_s: capacity_per_s(scenario, p),
                queue_wait_mean_ms: (t.started > 0)
                    .then(|| round(t.wait_sum_ns as f64 / t.started as f64 / 1e6, 6)),
                queue_wait_probability: (t.started > 0)
                    .then(|| round(t.waited as f64 / t.started as f64, 6)),
                faults: faults(t),
                cost_usd: round(nano_to_usd(t.cost_nusd), 6),
                credits_remaining_usd: credits.map(|c| round(nano_to_usd(c), 6)),
                first_insufficient_credits_s: t
                    .credits_exhausted_at_ns
                    .map(|ns| round(ns_to_secs(ns), 6)),
                first_low_credit_alert_s: t
                    .first_low_credit_alert_ns
                    .map(|ns| round(ns_to_secs(ns), 6)),
            })
            .collect(),
        targets: scenario
            .providers
            .iter()
            .zip(&result.target_answers)
            .flat_map(|(p, models)| {
                p.models
                    .iter()
                    .zip(models)
                    .map(move |(m, counts)| (p, m, *counts))
            })
            .filter(|(_, _, (answers, cost, fallbacks))| {
                *answers > 0 || *cost > 0 || *fallbacks > 0
            })
            .map(|(p, m, (answers, cost, fallbacks))| TargetSummary {
                fallbacks_in: fallbacks,
                provider: p.name.clone(),
                model: m.name.clone(),
                answers,
                share: if t.succeeded == 0 {
                    0.0
                } else {
                    round(answers as f64 / t.succeeded as f64, 6)
                },
                cost_usd: round(nano_to_usd(cost), 6),
            })
            .collect(),
        littles_law: littles_law(&result.little, result.end_ns),
        objectives: (!scenario.slos.is_empty()).then(|| Objectives {
            slos: result.slo.slos.clone(),
            incidents: result.slo.incidents.clone(),
        }),
        expectations: Vec::new(),
        passed: true,
        events_processed: result.events_processed,
        wall_clock: WallClock {
            wall_seconds: round(wall_seconds, 6),
            events_per_wall_second: if wall_seconds > 0.0 {
                (result.events_processed as f64 / wall_seconds).round()
            } else {
                0.0
            },
        },
    };
    summary.expectations = check_expectations(scenario, &summary);
    summary.passed = summary.expectations.iter().all(|e| e.passed);
    summary
}

fn littles_law(l: &crate::engine::LittlesLaw, end_ns: u64) -> LittlesLawSummary {
    let span_s = ns_to_secs(end_ns).max(1e-9);
    LittlesLawSummary {
        requests_in_system_avg: round(l.in_system_area_ns as f64 / 1e9 / span_s, 6),
        arrival_rate_per_s: round(l.arrived as f64 / span_s, 6),
        mean_time_in_system_s: if l.ended == 0 {
            0.0
        } else {
            round(l.time_in_system_sum_ns as f64 / 1e9 / l.ended as f64, 9)
        },
        holds: l.arrived == l.ended && l.in_system_area_ns == l.time_in_system_sum_ns,
    }
}

fn capacity_per_s(scenario: &Scenario, provider: &crate::provider::ProviderModel) -> Option<f64> {
    let slots = f64::from(provider.slots?);
    let groups = scenario.groups.len().max(1) as f64;
    let output_mean = scenario
        .groups
        .iter()
        .map(|g| {
            g.request
                .output_tokens
                .mean
                .min(f64::from(g.request.max_tokens))
        })
        .sum::<f64>()
        / groups;
    let model = &provider.models[0];
    let service_s = model.ttft.mean + model.per_token.mean * output_mean;
    (service_s > 0.0 && service_s.is_finite()).then(|| round(slots / service_s, 3))
}

/// Compares a summary with what its scenario declared.
pub fn check_expectations(scenario: &Scenario, s: &Summary) -> Vec<Expectation> {
    let e = &scenario.expect;
    let latency = |pick: fn(&Latency) -> f64| s.latency_ms.as_ref().map_or(0.0, pick);
    let mut out = Vec::new();
    let mut at_least = |name, limit: Option<f64>, actual: f64| {
        if let Some(limit) = limit {
            out.push(Expectation {
                name,
                limit,
                actual,
                passed: actual >= limit,
            });
        }
    };
    at_least("min_success_rate", e.min_success_rate, s.success_rate);
    let mut at_most = |name, limit: Option<f64>, actual: f64| {
        if let Some(limit) = limit {
            out.push(Expectation {
                name,
                limit,
                actual,
                passed: actual <= limit,
            });
        }
    };
    at_most(
        "max_latency_p99_ms",
        e.max_latency_p99_ms,
        latency(|l| l.p99),
    );
    at_most(
        "max_latency_mean_ms",
        e.max_latency_mean_ms,
        latency(|l| l.mean),
    );
    at_most("max_cost_usd", e.max_cost_usd, s.cost_usd);
    at_most("max_amplification", e.max_amplification, s.amplification);
    let incidents = s
        .objectives
        .as_ref()
        .map_or(0, |o| o.slos.iter().map(|slo| slo.incidents).sum::<u64>());
    at_most(
        "max_incidents",
        e.max_incidents.map(|n| n as f64),
        incidents as f64,
    );
    out
}

/// Incidents shown per scenario on the console; summary.json has them all.
const CONSOLE_INCIDENTS: usize = 5;

/// The lines under a scenario's console line: why its attempts per request fall below 1
/// when they do, then its SLOs and their incidents (nothing more without SLOs).
pub fn incident_lines(s: &Summary) -> Vec<String> {
    let mut lines: Vec<String> = below_one_attempt_note(s).into_iter().collect();
    let Some(objectives) = &s.objectives else {
        return lines;
    };
    for slo in &objectives.slos {
        let objective = match slo.threshold_ms {
            Some(ms) => format!(
                "p{} <= {}",
                short_number(slo.target * 100.0),
                format_duration(secs_to_ns(ms / 1000.0))
            ),
            None => format!("success rate >= {}%", short_number(slo.target * 100.0)),
        };
        let budget = slo
            .error_budget_consumed
            .map(|b| format!(", {:.1}% of the error budget used", b * 100.0))
            .unwrap_or_default();
        let alerts: Vec<String> = slo
            .alerts
            .iter()
            .map(|a| format!("alert {} fired {}x", a.name, a.fired))
            .collect();
        lines.push(format!(
            "  SLO {} ({objective} over {}): {} incident(s), {} in breach{budget}{}",
            slo.name,
            format_duration(secs_to_ns(slo.window_s)),
            slo.incidents,
            format_duration(secs_to_ns(slo.time_in_breach_s)),
            if alerts.is_empty() {
                String::new()
            } else {
                format!("; {}", alerts.join(", "))
            }
        ));
    }
    for i in objectives.incidents.iter().take(CONSOLE_INCIDENTS) {
        lines.push(format!("    {}", incident_line(i)));
    }
    if objectives.incidents.len() > CONSOLE_INCIDENTS {
        lines.push(format!(
            "    ... and {} more incident(s) in summary.json",
            objectives.incidents.len() - CONSOLE_INCIDENTS
        ));
    }
    lines
}

/// Attempts sent per request, in words. The seed's printout said "x1.90 attempts", which
/// reads as a factor of something unsaid, and "x0.92" as a bug; this says what is divided
/// by what.
pub fn attempts_per_request(x: f64) -> String {
    format!("{x:.2} attempts/request")
}

/// Whether `attempts_per_request(x)` prints a figure below 1: 0.996 prints as 1.00 and
/// needs no explanation.
pub fn prints_below_one(x: f64) -> bool {
    (x * 100.0).round() < 100.0
}

/// What attempts per request below 1 mean, in the words the console and the incidents
/// legend share. Only a request that never reached a provider can pull the ratio under 1,
/// and only the client stops one before its first attempt: the `is_local` failures, or a
/// wait in its own limiter or bulkhead that outlasts the request's deadline.
pub const BELOW_ONE_ATTEMPT: &str = "some requests ended before any attempt, refused or \
     held back by the client itself (open breaker, throttling, cooldown, its own rate limiter \
     or bulkhead)";

/// The note under a console line whose attempts per request, or the peak of one of its
/// incidents shown, fall below 1: the meaning, and the requests the client refused by
/// reason (they may include some that had attempts before a later refusal).
fn below_one_attempt_note(s: &Summary) -> Option<String> {
    let incident_below_one = s.objectives.as_ref().is_some_and(|o| {
        o.incidents
            .iter()
            .take(CONSOLE_INCIDENTS)
            .any(|i| prints_below_one(i.peak_amplification))
    });
    if s.requests.arrived == 0 || !(prints_below_one(s.amplification) || incident_below_one) {
        return None;
    }
    let refused: Vec<String> = s
        .requests
        .failed_by_reason
        .0
        .iter()
        .filter(|(name, n)| *n > 0 && Failure::from_name(name).is_some_and(Failure::is_local))
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    let mut note = format!("  below 1 attempt/request: {BELOW_ONE_ATTEMPT}");
    if !refused.is_empty() {
        note.push_str(&format!("; requests refused: {}", refused.join(", ")));
    }
    if s.requests.unfinished > 0 {
        note.push_str(&format!(
            "; {} unfinished at the end",
            s.requests.unfinished
        ));
    }
    Some(note)
}

/// 99, 99.9, 99.95: at most four decimals, no trailing zeros.
fn short_number(x: f64) -> String {
    let text = format!("{x:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One incident in a line: when, how bad, why, and whether it outlived its trigger.
pub fn incident_line(i: &Incident) -> String {
    let clock = |s: f64| format_clock(secs_to_ns(s));
    let worst = match i.worst_latency_ms {
        Some(ms) => format!(
            "worst {:.2}% good (p <= {})",
            i.worst_sli * 100.0,
            format_duration(secs_to_ns(ms / 1000.0))
        ),
        None => format!("worst {:.2}% good", i.worst_sli * 100.0),
    };
    let mut trigger = format!("trigger {}", i.trigger.kind);
    if let Some(subject) = &i.trigger.subject {
        trigger.push_str(&format!(" {subject}"));
    }
    if let Some(start) = i.trigger.start_s {
        trigger.push_str(&format!(
            " {}-{}",
            clock(start),
            i.trigger.end_s.map_or("end".to_string(), clock)
        ));
    }
    let detected = match i.detected_by.first() {
        Some(d) => format!(
            "; alert {} after {}",
            d.alert,
            format_duration(secs_to_ns(d.after_start_s))
        ),
        None => String::new(),
    };
    let metastable = match &i.metastability {
        Some(m) if m.metastable => format!(
            "; METASTABLE: outlived its trigger by {}",
            format_duration(secs_to_ns(m.outlived_trigger_by_s))
        ),
        _ => String::new(),
    };
    format!(
        "incident [{}] {} -> {}{} ({}): {worst}, {} bad of {} requests, peak {}; {trigger}{detected}{metastable}",
        i.slo,
        clock(i.start_s),
        clock(i.end_s),
        if i.ongoing_at_end {
            " (still open)"
        } else {
            ""
        },
        format_duration(secs_to_ns(i.duration_s)),
        i.bad_requests,
        i.requests,
        attempts_per_request(i.peak_amplification),
    )
}

/// A scenario's verdict in a word, for the console and the overview chart.
pub fn verdict(has_expectations: bool, passed: bool) -> &'static str {
    match (has_expectations, passed) {
        (false, _) => "no expectations",
        (true, true) => "PASSED",
        (true, false) => "FAILED",
    }
}

/// One console line per scenario, as the seed's experiment printed them.
pub fn console_line(s: &Summary) -> String {
    let expected = s
        .expectations
        .iter()
        .find(|e| e.name == "min_success_rate")
        .map(|e| format!(" (expected >= {:.1}%)", e.limit * 100.0))
        .unwrap_or_default();
    let (mean, p99) = s
        .latency_ms
        .as_ref()
        .map_or((0.0, 0.0), |l| (l.mean, l.p99));
    let verdict = verdict(!s.expectations.is_empty(), s.passed);
    format!(
        "{:<24} success {:6.2}%{expected:<22}  avg {:9.1} ms  p99 {:9.1} ms  {}  ${:.2}  {:<8}  {verdict}",
        s.scenario.name,
        s.success_rate * 100.0,
        mean,
        p99,
        attempts_per_request(s.amplification),
        s.cost_usd,
        s.health,
    )
}

/// The lines that say why a scenario failed, for the console.
pub fn failed_expectations(s: &Summary) -> Vec<String> {
    s.expectations
        .iter()
        .filter(|e| !e.passed)
        .map(|e| {
            format!(
                "  {}: {}: limit {}, got {}",
                s.scenario.name, e.name, e.limit, e.actual
            )
        })
        .collect()
}
