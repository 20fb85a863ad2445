//! The scenario file as written: serde structs that mirror the JSON one to one.
//!
//! Nothing here is trusted. Durations, rates and distributions stay as text or JSON values
//! until `scenario::build` turns them into typed model values and checks every range. Every
//! struct rejects unknown fields, so a typo is an error instead of a silently ignored knob.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A file holding several scenarios run one after another, like the seed's experiment.
/// Each entry of `scenarios` is a JSON merge patch (RFC 7396) over `base`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Accepted so an editor can point at the JSON Schema; the simulator ignores it.
    #[serde(rename = "$schema", default)]
    #[allow(dead_code)]
    pub schema: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub base: Option<Value>,
    pub scenarios: Vec<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Accepted so an editor can point at the JSON Schema; the simulator ignores it.
    #[serde(rename = "$schema", default)]
    #[allow(dead_code)]
    pub schema: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub warmup: Option<String>,
    #[serde(default)]
    pub drain_limit: Option<String>,
    pub traffic: Vec<ClientGroup>,
    pub providers: Vec<Provider>,
    #[serde(default)]
    pub chaos: Option<Chaos>,
    /// Service-level objectives judged during the run; breaches become incidents.
    #[serde(default)]
    pub slos: Vec<Slo>,
    #[serde(default)]
    pub expect: Option<Expect>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientGroup {
    pub name: String,
    pub arrivals: Arrivals,
    #[serde(default)]
    pub max_requests: Option<u64>,
    pub request: Request,
    #[serde(default)]
    pub policy: Policy,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Arrivals {
    #[serde(rename = "type")]
    pub kind: ArrivalKind,
    // poisson
    #[serde(default)]
    pub rate: Option<String>,
    #[serde(default)]
    pub diurnal: Option<Diurnal>,
    #[serde(default)]
    pub schedule: Vec<RateStep>,
    #[serde(default)]
    pub spikes: Vec<Spike>,
    // closed_loop
    #[serde(default)]
    pub users: Option<u32>,
    #[serde(default)]
    pub think_time: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalKind {
    Poisson,
    ClosedLoop,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Diurnal {
    pub amplitude: f64,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default)]
    pub peak_at: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateStep {
    pub from: String,
    pub rate: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub start: String,
    pub duration: String,
    pub multiplier: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub model: String,
    #[serde(default)]
    pub provider: Option<String>,
    pub input_tokens: Value,
    pub output_tokens: Value,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// A real client's policy by name: openai-python, openai-python-v1, anthropic-python,
    /// resilience4j-default, polly-v8-default, ms-standard-resilience, envoy-default,
    /// grpc-retry, aws-standard, litellm-router or seed-service. The other fields here
    /// override it. Expanded (and removed) before this struct is read; here for the schema.
    #[serde(default)]
    #[allow(dead_code)]
    pub preset: Option<String>,
    #[serde(default)]
    pub timeout: Option<Timeout>,
    #[serde(default)]
    pub deadline: Option<String>,
    #[serde(default)]
    pub retry: Option<Retry>,
    #[serde(default)]
    pub breaker: Option<Breaker>,
    #[serde(default)]
    pub fallback: Vec<Target>,
    #[serde(default)]
    pub retry_budget: Option<RetryBudget>,
    #[serde(default)]
    pub adaptive_throttling: Option<AdaptiveThrottling>,
    #[serde(default)]
    pub cooldown: Option<Cooldown>,
    #[serde(default)]
    pub credit_check: Option<CreditCheck>,
    #[serde(default)]
    pub hedging: Option<Hedging>,
    #[serde(default)]
    pub rate_limiter: Option<ClientRateLimiter>,
    #[serde(default)]
    pub bulkhead: Option<Bulkhead>,
    #[serde(default)]
    pub outer_retries: Vec<OuterRetry>,
}

/// A retry loop wrapped around the client's own `retry` (innermost first). serde's
/// `flatten` cannot be combined with `deny_unknown_fields`, so the retry fields are nested.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OuterRetry {
    #[serde(default)]
    pub name: Option<String>,
    pub retry: Retry,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRateLimiter {
    #[serde(default)]
    pub rpm: Option<f64>,
    #[serde(default)]
    pub tpm: Option<f64>,
    #[serde(default)]
    pub max_wait: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bulkhead {
    pub max_in_flight: u32,
    #[serde(default)]
    pub max_queue: Option<u32>,
    #[serde(default)]
    pub max_wait: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hedging {
    #[serde(default)]
    pub delay: Option<String>,
    #[serde(default)]
    pub max_hedged_attempts: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBudget {
    pub kind: String,
    #[serde(default)]
    pub percent: Option<f64>,
    #[serde(default)]
    pub min_per_s: Option<f64>,
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub min_concurrency: Option<u32>,
    #[serde(default)]
    pub max_tokens: Option<f64>,
    #[serde(default)]
    pub token_ratio: Option<f64>,
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default)]
    pub retry_cost: Option<u32>,
    #[serde(default)]
    pub timeout_cost: Option<u32>,
    #[serde(default)]
    pub no_retry_refund: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveThrottling {
    #[serde(default)]
    pub k: Option<f64>,
    #[serde(default)]
    pub window: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cooldown {
    #[serde(default)]
    pub allowed_fails: Option<u32>,
    #[serde(default)]
    pub failure_rate: Option<f64>,
    #[serde(default)]
    pub min_requests: Option<u32>,
    #[serde(default)]
    pub cooldown: Option<String>,
    #[serde(default)]
    pub cool_on_429: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditCheck {
    #[serde(default)]
    pub margin: Option<f64>,
    #[serde(default)]
    pub alert_below_usd: Option<f64>,
    #[serde(default)]
    pub route_to_next: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    #[serde(default)]
    pub connect: Option<String>,
    #[serde(default)]
    pub total: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub retry_on: Option<Vec<String>>,
    #[serde(default)]
    pub backoff: Option<Backoff>,
    #[serde(default)]
    pub retry_after: Option<RetryAfter>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub multiplier: Option<f64>,
    #[serde(default)]
    pub cap: Option<String>,
    #[serde(default)]
    pub jitter: Option<String>,
    #[serde(default)]
    pub jitter_ratio: Option<f64>,
    #[serde(default)]
    pub jitter_max: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryAfter {
    #[serde(default)]
    pub honour: Option<bool>,
    #[serde(default)]
    pub max: Option<String>,
    #[serde(default)]
    pub above_max: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub failure_threshold: Option<u32>,
    #[serde(default)]
    pub open_duration: Option<String>,
    #[serde(default)]
    pub open_multiplier: Option<f64>,
    #[serde(default)]
    pub max_open_duration: Option<String>,
    #[serde(default)]
    pub half_open_probes: Option<u32>,
    #[serde(default)]
    pub max_half_open_wait: Option<String>,
    #[serde(default)]
    pub window_size: Option<u32>,
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub minimum_calls: Option<u32>,
    #[serde(default)]
    pub failure_rate_threshold: Option<f64>,
    #[serde(default)]
    pub slow_call_rate_threshold: Option<f64>,
    #[serde(default)]
    pub slow_call_duration: Option<String>,
    #[serde(default)]
    pub count_as_failure: Option<Vec<String>>,
    #[serde(default)]
    pub hold_open_for_retry_after: Option<bool>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub instances: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default)]
    pub provider: Option<String>,
    pub model: String,
    #[serde(default)]
    pub attempts: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub name: String,
    pub models: Vec<Model>,
    #[serde(default)]
    pub capacity: Option<Capacity>,
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
    #[serde(default)]
    pub errors: BTreeMap<String, f64>,
    #[serde(default)]
    pub error_latency: Option<Value>,
    #[serde(default)]
    pub outages: Vec<Outage>,
    #[serde(default)]
    pub random_outages: Option<RandomOutages>,
    #[serde(default)]
    pub credits: Option<Credits>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub name: String,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    #[serde(default)]
    pub context_window: Option<u32>,
    pub ttft: Value,
    pub per_token: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    pub slots: u32,
    #[serde(default)]
    pub queue_limit: Option<u32>,
    #[serde(default)]
    pub overload_status: Option<u16>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(default)]
    pub rpm: Option<f64>,
    #[serde(default)]
    pub tpm: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub start: String,
    pub duration: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub behaviour: Option<String>,
    #[serde(default)]
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub error_status: Option<u16>,
    #[serde(default)]
    pub latency_multiplier: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomOutages {
    pub mtbf: String,
    pub mttr: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub behaviour: Option<String>,
    #[serde(default)]
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub error_status: Option<u16>,
    #[serde(default)]
    pub latency_multiplier: Option<f64>,
}

/// What an outage does, as written in either a scheduled or a random outage. (serde's
/// `flatten` would share the fields but cannot be combined with `deny_unknown_fields`.)
pub struct OutageEffect<'a> {
    pub kind: &'a Option<String>,
    pub behaviour: &'a Option<String>,
    pub error_rate: Option<f64>,
    pub error_status: Option<u16>,
    pub latency_multiplier: Option<f64>,
}

macro_rules! outage_effect {
    ($t:ty) => {
        impl $t {
            pub fn effect(&self) -> OutageEffect<'_> {
                OutageEffect {
                    kind: &self.kind,
                    behaviour: &self.behaviour,
                    error_rate: self.error_rate,
                    error_status: self.error_status,
                    latency_multiplier: self.latency_multiplier,
                }
            }
        }
    };
}
outage_effect!(Outage);
outage_effect!(RandomOutages);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credits {
    pub balance_usd: f64,
    #[serde(default)]
    pub top_ups: Vec<TopUp>,
    #[serde(default)]
    pub auto_recharge: Option<AutoRecharge>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    pub at: String,
    pub amount_usd: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRecharge {
    pub below_usd: f64,
    pub amount_usd: f64,
    #[serde(default)]
    pub delay: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chaos {
    #[serde(default)]
    pub enabled: Option<bool>,
    pub failure_rate: f64,
    #[serde(default)]
    pub faults: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub timeout_after: Option<String>,
    #[serde(default)]
    pub latency: Option<String>,
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub providers: Vec<String>,
}

/// A service-level objective: `success_rate` (a target fraction) or `latency` (a
/// percentile within a threshold), judged over a rolling `window` every `step`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Unique among the scenario's SLOs (experiments merge `slos` by name).
    pub name: String,
    /// The client group judged (default: all of them).
    #[serde(default)]
    pub group: Option<String>,
    /// Target fraction of requests that end in success, strictly between 0 and 1 (e.g. 0.999).
    #[serde(default)]
    pub success_rate: Option<f64>,
    /// A latency objective on successful requests instead of `success_rate`.
    #[serde(default)]
    pub latency: Option<LatencySlo>,
    /// The rolling window judged (default "5m"); a whole number of steps.
    #[serde(default)]
    pub window: Option<String>,
    /// How often the window is judged (default "10s").
    #[serde(default)]
    pub step: Option<String>,
    /// A window with fewer requests is not judged (default 1).
    #[serde(default)]
    pub min_requests: Option<u64>,
    /// How long an incident must outlive its trigger, beyond one window, to be flagged
    /// metastable (default: the window).
    #[serde(default)]
    pub metastable_after: Option<String>,
    /// Multi-window burn-rate alerts (SRE workbook), e.g. 14.4 over 1h and 5m.
    #[serde(default)]
    pub burn_rate_alerts: Vec<BurnRateAlert>,
}

/// "p99 <= 2s": `percentile` % of successful requests answered within `threshold`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencySlo {
    /// Strictly between 0 and 100 (e.g. 99).
    pub percentile: f64,
    /// A duration, e.g. "2s".
    pub threshold: String,
}

/// Fires while the error budget burns at least `burn_rate` times its sustainable rate over
/// both windows.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurnRateAlert {
    pub name: String,
    /// e.g. "1h"; a whole number of the SLO's steps.
    pub long_window: String,
    /// e.g. "5m"; not longer than `long_window`.
    pub short_window: String,
    /// At most 1 / (1 - target): e.g. 14.4 (page) or 6 (ticket) for 30-day budgets.
    pub burn_rate: f64,
}

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub min_success_rate: Option<f64>,
    #[serde(default)]
    pub max_latency_p99_ms: Option<f64>,
    #[serde(default)]
    pub max_latency_mean_ms: Option<f64>,
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    #[serde(default)]
    pub max_amplification: Option<f64>,
    /// At most this many incidents over all SLOs.
    #[serde(default)]
    pub max_incidents: Option<u64>,
}

/// What a scenario file holds: one scenario, or an experiment of several. Used only to
/// generate the JSON Schema (`aichaos schema`); parsing picks the shape by its `scenarios` key.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ScenarioFile {
    Scenario(Box<Scenario>),
    Experiment(Experiment),
}
