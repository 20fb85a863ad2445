//! The scenario file as written: serde structs that mirror the JSON one to one.
//!
//! Nothing here is trusted. Durations, rates and distributions stay as text or JSON values
//! until `scenario::build` turns them into typed model values and checks every range. Every
//! struct rejects unknown fields, so a typo is an error instead of a silently ignored knob.
//!
//! The same structs generate the JSON Schema (`aichaos schema`), so their doc comments are
//! what an editor shows while a scenario is typed: each says the unit and the default.
//! Closed sets of names (a breaker's `kind`, a backoff's `jitter`, failure names) stay
//! `String` here and are checked by `build`, which reports every problem of a file in one
//! pass with the field path, a "did you mean" and the valid choices; a serde enum would stop
//! at the first bad name. The schema still lists their values as an `enum`, through the
//! `#[schemars(transform = ...)]` helpers at the end of this file.
//!
//! Why over 1,000 lines: it is the format itself, a struct per object of the file with the
//! documentation an editor shows for every field; split by section it would scatter one
//! format across files that always change together.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::chaos::ChaosFault;
use crate::outcome::Failure;

/// A file holding several scenarios run one after another, like the seed's experiment.
/// Each entry of `scenarios` is a JSON merge patch (RFC 7396) over `base`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Accepted so an editor can point at the JSON Schema; the simulator ignores it.
    #[serde(rename = "$schema", default)]
    #[allow(dead_code)]
    pub schema: Option<String>,
    /// The experiment's name, shown in reports.
    pub name: String,
    /// Free text for the reader.
    #[serde(default)]
    pub description: String,
    /// What the scenarios share: a scenario, or the part of one they all start from.
    #[serde(default)]
    pub base: Option<Value>,
    /// The scenarios, run in order: each a JSON merge patch over `base` (RFC 7396: objects
    /// merge, `null` deletes; lists of named objects such as `traffic` merge by `name`).
    pub scenarios: Vec<Value>,
}

/// One simulated world: client groups calling providers for `duration`, with the clients'
/// defences, the providers' failures, optional chaos, SLOs and expectations.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Accepted so an editor can point at the JSON Schema; the simulator ignores it.
    #[serde(rename = "$schema", default)]
    #[allow(dead_code)]
    pub schema: Option<String>,
    /// The scenario's name (not empty): it names its output directory and its reports.
    pub name: String,
    /// Free text for the reader, carried into the summary.
    #[serde(default)]
    pub description: String,
    /// Every random draw derives from it: the same seed replays the same run, byte for byte.
    #[serde(default)]
    #[schemars(transform = default_is(1))]
    pub seed: Option<u64>,
    /// How long requests keep arriving, a duration ("1h", "30m"); requests in flight then
    /// finish (see `drain_limit`). Needed unless every client group sets `max_requests`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Width of a row of timeseries.csv and of the charts' steps, a duration of at least
    /// "1ms".
    #[serde(default)]
    #[schemars(transform = default_is("1m"))]
    pub bucket: Option<String>,
    /// Requests arriving before this duration are left out of the summary (not of the time
    /// series); shorter than `duration`.
    #[serde(default)]
    #[schemars(transform = default_is("0s"))]
    pub warmup: Option<String>,
    /// How long after the arrivals stop the run may go on for requests to finish, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("1h"))]
    pub drain_limit: Option<String>,
    /// The client groups (1 to 1000): who calls, how often, and with which defences.
    pub traffic: Vec<ClientGroup>,
    /// The provider accounts called (1 to 1000): models, latency, capacity, limits, errors,
    /// outages, credits.
    pub providers: Vec<Provider>,
    /// The seed's fault-injecting proxy between the clients and the providers. Absent: none.
    #[serde(default)]
    pub chaos: Option<Chaos>,
    /// Service-level objectives judged during the run; breaches become incidents.
    #[serde(default)]
    pub slos: Vec<Slo>,
    /// Pass/fail thresholds on the run's summary: `aichaos run` exits 1 when one fails.
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Written by `aichaos sweep` into best.json: which values the sweep chose, so that
    /// `aichaos export` labels them as tuned. The simulator ignores it.
    #[serde(default)]
    #[allow(dead_code)]
    pub tuned: Option<Tuned>,
}

/// The sweep point a best.json holds: its number and the `--param` values it set.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Tuned {
    /// The point's number in the sweep (`#7` in its table and charts).
    pub point: u64,
    /// Each swept field as `--param` named it, with the value the point gave it.
    pub settings: Vec<TunedSetting>,
}

/// One swept field of the recommended point.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TunedSetting {
    /// The field, as `--param` names it (`traffic[app].policy.cooldown.allowed_fails`).
    pub path: String,
    /// The value the point set.
    pub value: Value,
}

/// Clients that share an arrival process, a request shape and a policy.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct ClientGroup {
    /// Unique among the groups; `chaos.groups` and `slos[].group` refer to it.
    pub name: String,
    /// When requests arrive: open loop (`poisson`) or closed loop (`closed_loop`).
    pub arrivals: Arrivals,
    /// Stop this group after this many arrivals (at least 1). Absent: no limit, `duration`
    /// ends the arrivals.
    #[serde(default)]
    pub max_requests: Option<u64>,
    /// What each request asks for: the target model and the token counts.
    pub request: Request,
    /// The client's defences: timeouts, retries, breaker, fallback, budgets, or a `preset` of
    /// a real client. Absent: a 30s attempt timeout (10s to connect) and 3 attempts with
    /// exponential backoff from 1s.
    #[serde(default)]
    pub policy: Policy,
}

/// The arrival process. `poisson` uses `rate`, `schedule`, `diurnal` and `spikes`;
/// `closed_loop` uses `users` and `think_time`; `replay` uses `file`, `time_column`,
/// `time_unit`, `time_origin`, `rate_scale` and `time_shift`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Arrivals {
    /// `poisson`: open loop, requests arrive at `rate` however slow the answers;
    /// `closed_loop`: `users` each wait for their answer, think, and send the next;
    /// `replay`: the first attempts recorded in a log `file` arrive when they were sent.
    #[serde(rename = "type")]
    pub kind: ArrivalKind,
    // poisson
    /// Poisson only: the base arrival rate, a rate such as "10/s" or "600/min" (also "/h",
    /// "/d"). Required unless a `schedule` gives the rate.
    #[serde(default)]
    pub rate: Option<String>,
    /// Poisson only: a daily cycle multiplying the rate by
    /// 1 + amplitude * cos(2π (t - peak_at) / period). Absent: none.
    #[serde(default)]
    pub diurnal: Option<Diurnal>,
    /// Poisson only: a piecewise-constant rate; from each step's `from` on, its `rate`
    /// replaces the base rate. Steps in increasing order of `from`.
    #[serde(default)]
    pub schedule: Vec<RateStep>,
    /// Poisson only: windows in which the rate is multiplied.
    #[serde(default)]
    pub spikes: Vec<Spike>,
    // closed_loop
    /// Closed loop only (and required there): how many users, each with one request out at
    /// a time.
    #[serde(default)]
    pub users: Option<u32>,
    /// Closed loop only: a user's pause between an answer and its next request, a duration
    /// ("2s") or a distribution of durations.
    #[serde(default)]
    #[schemars(with = "Option<DurationDist>", transform = default_is("0s"))]
    pub think_time: Option<Value>,
    // replay
    /// Replay only (and required there): the recorded log, CSV (a `.csv` name, header row
    /// first) or JSON lines, such as `run --request-log` writes; a relative path is read
    /// from the scenario file's directory. Rows must be in time order; rows whose `attempt`
    /// column is above 0 (retries, hedges, fallbacks) are skipped.
    #[serde(default)]
    pub file: Option<String>,
    /// Replay only: the column (CSV header or JSON key) holding when each request was sent.
    #[serde(default)]
    #[schemars(transform = default_is("t_ns"))]
    pub time_column: Option<String>,
    /// Replay only: the unit of the time column's numbers. Absent: from the column's name
    /// (`_ns`, `_us`, `_ms`), seconds otherwise.
    #[serde(default)]
    pub time_unit: Option<TimeUnit>,
    /// Replay only: `zero` when recorded times count from the run's start (a request log),
    /// `first` to make the first record's time the run's start (epoch timestamps).
    #[serde(default)]
    #[schemars(transform = default_is("zero"))]
    pub time_origin: Option<TimeOrigin>,
    /// Replay only: a factor (0 to 1000) on the recorded traffic: each recorded arrival
    /// becomes floor(r) arrivals at its instant, plus one more with probability r - floor(r).
    #[serde(default)]
    #[schemars(transform = default_is(1))]
    pub rate_scale: Option<f64>,
    /// Replay only: a duration added to every recorded time, "-" for earlier ("-14h" makes
    /// 14:00 the run's start); arrivals that land before the start are skipped.
    #[serde(default)]
    #[schemars(transform = default_is("0s"))]
    pub time_shift: Option<String>,
}

/// The unit of a replayed time column's numbers.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[schemars(transform = unwrap_lines)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    Ns,
    Us,
    Ms,
    S,
}

/// Where a replayed log's times count from: `zero` (as recorded) or `first` (the first
/// record's time).
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[schemars(transform = unwrap_lines)]
#[serde(rename_all = "snake_case")]
pub enum TimeOrigin {
    Zero,
    First,
}

/// `poisson`: open loop (arrivals whatever the latency); `closed_loop`: a fixed population
/// of users, so offered load falls as latency rises.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[schemars(transform = unwrap_lines)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalKind {
    Poisson,
    ClosedLoop,
    Replay,
}

/// A daily (or any periodic) cycle of the arrival rate.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Diurnal {
    /// Relative swing of the rate, in [0, 1]: 0.5 makes the peak 1.5 times and the trough
    /// half the base rate.
    pub amplitude: f64,
    /// Length of one cycle, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("24h"))]
    pub period: Option<String>,
    /// When the rate peaks, a duration from the start of the run (modulo `period`).
    #[serde(default)]
    #[schemars(transform = default_is("14h"))]
    pub peak_at: Option<String>,
}

/// A step of a piecewise-constant arrival rate.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct RateStep {
    /// When this step begins, a duration from the start of the run ("10m").
    pub from: String,
    /// The rate from then on, a rate such as "50/s" or "3000/min".
    pub rate: String,
}

/// A window in which the arrival rate is multiplied.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    /// When the spike begins, a duration from the start of the run ("20m").
    pub start: String,
    /// How long it lasts, a duration ("5m").
    pub duration: String,
    /// Factor on the rate during the spike, in [0, 1e6] (e.g. 10).
    pub multiplier: f64,
}

/// What a request asks for.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The primary target: a model name listed under a provider's `models`.
    pub model: String,
    /// The provider serving `model`. Absent: the one provider with a model of that name.
    #[serde(default)]
    pub provider: Option<String>,
    /// Prompt tokens per request: a count (e.g. 500) or a distribution of counts.
    #[schemars(with = "CountDist")]
    pub input_tokens: Value,
    /// Tokens the model answers, cut at `max_tokens`: a count or a distribution of counts.
    #[schemars(with = "CountDist")]
    pub output_tokens: Value,
    /// The request's output cap, reserved in full against the provider's TPM limit and
    /// credits, in [1, 1e8] tokens.
    #[serde(default)]
    #[schemars(transform = default_is(1000))]
    pub max_tokens: Option<u32>,
}

/// The client's defences, in the order a request meets them.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// A real client's policy by name; the other fields written here override it (JSON merge
    /// patch). Expanded (and removed) before this struct is read; here for the schema.
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(transform = preset_names)]
    pub preset: Option<String>,
    /// Per-attempt timeouts. Absent: "10s" to connect, "30s" in all (the seed's advice).
    #[serde(default)]
    pub timeout: Option<Timeout>,
    /// Overall budget of a request from its arrival, across retries and fallbacks, a
    /// duration ("90s"): an attempt out at the deadline is cut, and no retry waits past it.
    /// Absent: none.
    #[serde(default)]
    pub deadline: Option<String>,
    /// The client's retry loop on each target. Absent: 3 attempts, the default `retry_on`,
    /// exponential backoff from 1s, Retry-After honoured up to 60s.
    #[serde(default)]
    pub retry: Option<Retry>,
    /// A circuit breaker per (provider, model) target. Absent: none.
    #[serde(default)]
    pub breaker: Option<Breaker>,
    /// Targets tried in order after the primary: when its attempts are exhausted, its
    /// breaker is open, its credits are out or its context window is too small.
    #[serde(default)]
    pub fallback: Vec<Target>,
    /// A limit on retries relative to traffic, so retries cannot multiply an outage.
    /// Absent: none.
    #[serde(default)]
    pub retry_budget: Option<RetryBudget>,
    /// The SRE book's client-side throttling: rejects requests locally with probability
    /// max(0, (requests - k * accepts) / (requests + 1)). Absent: none.
    #[serde(default)]
    pub adaptive_throttling: Option<AdaptiveThrottling>,
    /// LiteLLM's deployment cooldown: a target failing too much is skipped for a while.
    /// Absent: none.
    #[serde(default)]
    pub cooldown: Option<Cooldown>,
    /// The seed's credit pre-check: a call the balance cannot cover raises a low-credit
    /// alert and goes to the next target. Absent: none.
    #[serde(default)]
    pub credit_check: Option<CreditCheck>,
    /// Hedged requests: while an attempt is out, send copies; the first success wins, the
    /// others still run and bill. Absent: none.
    #[serde(default)]
    pub hedging: Option<Hedging>,
    /// The client's own RPM / TPM limiter, as LiteLLM keeps per deployment. Absent: none.
    #[serde(default)]
    pub rate_limiter: Option<ClientRateLimiter>,
    /// At most so many attempts of the group out at once. Absent: no limit.
    #[serde(default)]
    pub bulkhead: Option<Bulkhead>,
    /// Retry loops wrapped around `retry`, innermost first (at most 3): when the layers
    /// inside give up, a layer calls them again from scratch.
    #[serde(default)]
    pub outer_retries: Vec<OuterRetry>,
}

/// A retry loop wrapped around the client's own `retry` (innermost first). serde's
/// `flatten` cannot be combined with `deny_unknown_fields`, so the retry fields are nested.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct OuterRetry {
    /// Names the layer in the summary's `attempts.retry_layers`.
    #[serde(default)]
    #[schemars(transform = default_by("\"outer 1\", \"outer 2\", ... by position"))]
    pub name: Option<String>,
    /// This layer's retries; its `max_attempts` counts its calls of everything inside, the
    /// first included.
    pub retry: Retry,
}

/// Token buckets on the client's side; needs `rpm`, `tpm` or both.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct ClientRateLimiter {
    /// Requests per minute, a number > 0 (e.g. 500). Absent: no request limit.
    #[serde(default)]
    pub rpm: Option<f64>,
    /// Tokens per minute (each attempt counts input + `max_tokens`), a number > 0. Absent:
    /// no token limit.
    #[serde(default)]
    pub tpm: Option<f64>,
    /// How long an attempt without room waits for it before failing locally
    /// (`client_rate_limited`), a duration.
    #[serde(default)]
    #[schemars(transform = default_is("0s"))]
    pub max_wait: Option<String>,
}

/// A bulkhead: a cap on the group's attempts in flight, with an optional queue.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Bulkhead {
    /// At most this many attempts of the group out at once (at least 1).
    pub max_in_flight: u32,
    /// Attempts that may wait for room, first in first out; more fail locally
    /// (`bulkhead_full`).
    #[serde(default)]
    #[schemars(transform = default_is(0))]
    pub max_queue: Option<u32>,
    /// How long an attempt may wait in the queue, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("0s"))]
    pub max_wait: Option<String>,
}

/// Hedging (Polly's hedging strategy, gRPC hedging); defaults are Polly v8's.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Hedging {
    /// How long to wait for an answer before sending another copy, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("2s"))]
    pub delay: Option<String>,
    /// Copies sent beside the original, in [1, 10].
    #[serde(default)]
    #[schemars(transform = default_is(1))]
    pub max_hedged_attempts: Option<u32>,
}

/// A retry budget; each `kind` has its own fields and its library's defaults.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct RetryBudget {
    /// `percent`: Finagle's RetryBudget (a share of requests, expiring after `ttl`);
    /// `concurrency`: Envoy's retry_budget (a share of active requests); `grpc`: gRFC A6
    /// retry throttling (tokens); `aws`: the AWS SDKs' standard-mode retry quota. A denied
    /// retry moves the request down the fallback chain.
    #[schemars(transform = one_of(&["percent", "concurrency", "grpc", "aws"]))]
    pub kind: String,
    /// Kinds `percent` and `concurrency`: retries allowed, as a percentage of requests
    /// (`percent`) or of active requests (`concurrency`), in [0, 1000].
    #[serde(default)]
    #[schemars(transform = default_is(20.0))]
    pub percent: Option<f64>,
    /// Kind `percent`: retries per second always allowed, in [0, 1e6].
    #[serde(default)]
    #[schemars(transform = default_is(10.0))]
    pub min_per_s: Option<f64>,
    /// Kind `percent`: how long a request's deposit lasts, a duration (counted in whole
    /// seconds).
    #[serde(default)]
    #[schemars(transform = default_is("10s"))]
    pub ttl: Option<String>,
    /// Kind `concurrency`: retries in flight always allowed.
    #[serde(default)]
    #[schemars(transform = default_is(3))]
    pub min_concurrency: Option<u32>,
    /// Kind `grpc`: the token count it starts from, in [1, 1000]; retries only while more
    /// than half remain. Each failed attempt takes one token.
    #[serde(default)]
    #[schemars(transform = default_is(10.0))]
    pub max_tokens: Option<f64>,
    /// Kind `grpc`: tokens a success gives back, in [0.001, max_tokens].
    #[serde(default)]
    #[schemars(transform = default_is(0.1))]
    pub token_ratio: Option<f64>,
    /// Kind `aws`: tokens in the quota's pool (at least 1).
    #[serde(default)]
    #[schemars(transform = default_is(500))]
    pub capacity: Option<u32>,
    /// Kind `aws`: tokens a retry takes, in [0, 10000].
    #[serde(default)]
    #[schemars(transform = default_is(5))]
    pub retry_cost: Option<u32>,
    /// Kind `aws`: tokens a retry after a timeout takes, in [0, 10000].
    #[serde(default)]
    #[schemars(transform = default_is(10))]
    pub timeout_cost: Option<u32>,
    /// Kind `aws`: tokens a success without retry refunds, in [0, 10000].
    #[serde(default)]
    #[schemars(transform = default_is(1))]
    pub no_retry_refund: Option<u32>,
}

/// Google SRE adaptive throttling ("Handling Overload"): accepts are answers other than
/// 429, 503 and 529.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveThrottling {
    /// The multiplier K on accepts, in [1, 100]: lower throttles sooner.
    #[serde(default)]
    #[schemars(transform = default_is(2.0))]
    pub k: Option<f64>,
    /// The sliding window counted, a duration (whole seconds).
    #[serde(default)]
    #[schemars(transform = default_is("2m"))]
    pub window: Option<String>,
}

/// LiteLLM's deployment cooldown; defaults are LiteLLM's.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Cooldown {
    /// Cool a target after more than this many failures within a minute. Absent: the
    /// failure-rate rule decides.
    #[serde(default)]
    pub allowed_fails: Option<u32>,
    /// Deployments in the target's model group, in [1, 1000000]: LiteLLM spares a group of
    /// one the failure-rate and 429 rules (it would have nowhere else to send).
    #[serde(default)]
    #[schemars(transform = default_is(1))]
    pub deployments: Option<u32>,
    /// Cool a target when more than this fraction of its calls in the last minute failed,
    /// in [0, 1]. Absent: 0.5 for a group of several `deployments`, off for a group of one
    /// or when only `allowed_fails` is set.
    #[serde(default)]
    #[schemars(transform = default_by("0.5 with several deployments, else off"))]
    pub failure_rate: Option<f64>,
    /// Calls in the last minute before `failure_rate` is judged (at least 1).
    #[serde(default)]
    #[schemars(transform = default_is(5))]
    pub min_requests: Option<u32>,
    /// Cool any target, a group of one included, when every call of the last minute failed
    /// and there were at least this many (at least 1); off when only `allowed_fails` is set.
    #[serde(default)]
    #[schemars(transform = default_is(1000))]
    pub all_failed_min_requests: Option<u32>,
    /// How long a cooling target is skipped, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("5s"))]
    pub cooldown: Option<String>,
    /// A single 429 cools the target at once. Absent: true for a model group of several
    /// `deployments`, false for a group of one (LiteLLM's rule).
    #[serde(default)]
    #[schemars(transform = default_by("true with several deployments, else false"))]
    pub cool_on_429: Option<bool>,
}

/// The seed's credit pre-check, made before each call.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct CreditCheck {
    /// The call's worst-case cost (input plus `max_tokens` of output) is multiplied by this
    /// before comparing it with the balance, in [0, 1e6].
    #[serde(default)]
    #[schemars(transform = default_is(1.0))]
    pub margin: Option<f64>,
    /// Also alert when the balance falls below this many USD, whatever the call costs, in
    /// [0, 1e9].
    #[serde(default)]
    #[schemars(transform = default_is(0.0))]
    pub alert_below_usd: Option<f64>,
    /// Send a call the balance cannot cover to the next target of the fallback chain.
    #[serde(default)]
    #[schemars(transform = default_is(true))]
    pub route_to_next: Option<bool>,
}

/// Timeouts of each attempt.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    /// Time to establish the connection, a duration (at most `total`), or "none" (no
    /// connect timeout); ends attempts on a hung connection (`connect_timeout`).
    #[serde(default)]
    #[schemars(transform = default_is("10s"))]
    pub connect: Option<String>,
    /// The whole attempt, from sending to the last token, a duration (`timeout`), or
    /// "none": no client timeout (resilience4j without a TimeLimiter, gRPC without a
    /// deadline), so a hung attempt waits for the request's `deadline` or forever.
    #[serde(default)]
    #[schemars(transform = default_is("30s"))]
    pub total: Option<String>,
}

/// A retry loop: attempts, which failures it retries, the delay between attempts.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts on the target, the first included, in [1, 100].
    #[serde(default)]
    #[schemars(transform = default_is(3))]
    pub max_attempts: Option<u32>,
    /// Failures retried, by name; "5xx" stands for every server error. Others move the
    /// request down the fallback chain at once.
    #[serde(default)]
    #[schemars(transform = failure_names, transform = default_retry_on)]
    pub retry_on: Option<Vec<String>>,
    /// The delay before each retry. Absent: exponential from "1s", times 2, capped at
    /// "60s", no jitter.
    #[serde(default)]
    pub backoff: Option<Backoff>,
    /// How a Retry-After header (429, 503) changes the delay. Absent: honoured up to "60s",
    /// capped above.
    #[serde(default)]
    pub retry_after: Option<RetryAfter>,
}

/// Backoff between retries, with the jitter variants of Marc Brooker's "Exponential Backoff
/// and Jitter" (AWS Architecture Blog, 2015). Every delay is capped at `cap`, except the
/// additive jitter added on top.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// The nominal delay before retry n (n = 0 first): `constant`: base; `linear`:
    /// base * (n + 1); `exponential`: base * multiplier^n.
    #[serde(default)]
    #[schemars(
        transform = one_of(&["constant", "linear", "exponential"]),
        transform = default_is("exponential")
    )]
    pub kind: Option<String>,
    /// The first delay, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("1s"))]
    pub base: Option<String>,
    /// Growth per retry of the exponential kind, in [1, 1000].
    #[serde(default)]
    #[schemars(transform = default_is(2.0))]
    pub multiplier: Option<f64>,
    /// The longest nominal delay, a duration, or "none" for no cap (Polly's `MaxDelay`
    /// unset).
    #[serde(default)]
    #[schemars(transform = default_is("60s"))]
    pub cap: Option<String>,
    /// Randomness on the nominal delay d: `none`; `full`: U(0, d); `equal`: d/2 + U(0, d/2);
    /// `decorrelated`: U(base, 3 * previous delay); `proportional`: d * (1 - jitter_ratio *
    /// U) (the OpenAI and Anthropic SDKs); `randomized`: d * (1 ± jitter_ratio)
    /// (resilience4j, Polly's constant and linear backoff, gRPC); `additive`: d + U(0,
    /// jitter_max) (LiteLLM); `decorrelated_v2`: Polly's DecorrelatedJitterBackoffV2 (its
    /// exponential backoff with jitter), (f(n + U) - f(previous)) * base / 1.4 with f(t) =
    /// 2^t tanh(sqrt(4t)): the first retry within [0, 1.38 base), medians near base * 2^n.
    #[serde(default)]
    #[schemars(
        transform = one_of(crate::policy::backoff::JITTER_NAMES),
        transform = default_is("none")
    )]
    pub jitter: Option<String>,
    /// Jitter `proportional` or `randomized` only: the fraction of the delay randomised, in
    /// [0, 1].
    #[serde(default)]
    #[schemars(transform = default_by("0.25 for proportional (the SDKs'), 0.5 for randomized"))]
    pub jitter_ratio: Option<f64>,
    /// Jitter `additive` only: the most added, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("750ms"))]
    pub jitter_max: Option<String>,
}

/// Retry-After handling: the client waits max(backoff, Retry-After), or the header alone
/// (`combine: "replace"`, as the OpenAI and Anthropic SDKs do).
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct RetryAfter {
    /// Wait for the server's Retry-After when it is longer than the backoff.
    #[serde(default)]
    #[schemars(transform = default_is(true))]
    pub honour: Option<bool>,
    /// The longest Retry-After honoured as such, a duration, or "none" (any value).
    #[serde(default)]
    #[schemars(transform = default_is("60s"))]
    pub max: Option<String>,
    /// Above `max`: `cap` waits `max`; `give_up` does not retry this target (openai-python
    /// 3.x); `backoff` ignores the header (openai-python 1.x, LiteLLM).
    #[serde(default)]
    #[schemars(
        transform = one_of(&["cap", "give_up", "backoff"]),
        transform = default_is("cap")
    )]
    pub above_max: Option<String>,
    /// How a honoured header and the backoff make one wait: `max` waits the longer of the
    /// two; `replace` waits exactly the header when 0 < Retry-After <= `max` (openai-python
    /// and anthropic-python, Polly's delay generator), else the backoff.
    #[serde(default)]
    #[schemars(
        transform = one_of(&["max", "replace"]),
        transform = default_is("max")
    )]
    pub combine: Option<String>,
}

/// A circuit breaker per (provider, model) target: closed, open, half-open. Each kind has
/// its own fields and its library's defaults; the others are common.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    /// When a closed breaker opens. `consecutive` (the seed's): after `failure_threshold`
    /// failures since the last success; `count_window` (resilience4j COUNT_BASED): by the
    /// failure or slow-call rate of the last `window_size` calls; `time_window`
    /// (resilience4j TIME_BASED, Polly v8): the same over one-second buckets spanning
    /// `window`.
    #[serde(default)]
    #[schemars(
        transform = one_of(&["consecutive", "count_window", "time_window"]),
        transform = default_is("consecutive")
    )]
    pub kind: Option<String>,
    /// Kind `consecutive` only: failures since the last success that open it, in
    /// [1, 1000000].
    #[serde(default)]
    #[schemars(transform = default_is(5))]
    pub failure_threshold: Option<u32>,
    /// How long it stays open before letting probes through, a duration.
    #[serde(default)]
    #[schemars(transform = default_by(
        "\"30s\" for consecutive, \"60s\" for count_window, \"5s\" for time_window"
    ))]
    pub open_duration: Option<String>,
    /// The open wait is multiplied by this at each reopening without a close in between,
    /// in [1, 1000].
    #[serde(default)]
    #[schemars(transform = default_is(1.0))]
    pub open_multiplier: Option<f64>,
    /// The longest open wait, a duration, at least `open_duration`.
    #[serde(default)]
    #[schemars(transform = default_by(
        "`open_duration`, or no limit when `open_multiplier` is above 1"
    ))]
    pub max_open_duration: Option<String>,
    /// Calls admitted in half-open, in [1, 1000000]: they close it when they succeed.
    #[serde(default)]
    #[schemars(transform = default_by("1, or 10 for count_window"))]
    pub half_open_probes: Option<u32>,
    /// Reopen a half-open breaker whose probes take longer than this, a duration; "0s"
    /// waits for every probe.
    #[serde(default)]
    #[schemars(transform = default_is("0s"))]
    pub max_half_open_wait: Option<String>,
    /// Kind `count_window` only: the calls judged, in [1, 100000].
    #[serde(default)]
    #[schemars(transform = default_is(100))]
    pub window_size: Option<u32>,
    /// Kind `time_window` only: the span judged, a duration: whole seconds up to 100000s
    /// with `sampling: "seconds"`, at least 200ms with `"polly"`.
    #[serde(default)]
    #[schemars(transform = default_is("30s"))]
    pub window: Option<String>,
    /// Kind `time_window` only: how the window is cut. `seconds` (resilience4j TIME_BASED):
    /// one-second buckets on the clock; `polly` (Polly v8's RollingHealthMetrics): 10
    /// windows of a tenth of `window` each, opened by calls, and the ratio judged after
    /// failures only.
    #[serde(default)]
    #[schemars(
        transform = one_of(&["seconds", "polly"]),
        transform = default_is("seconds")
    )]
    pub sampling: Option<String>,
    /// Kinds `count_window` and `time_window` only: calls recorded before the rates are
    /// judged (for `count_window`, at most `window_size`).
    #[serde(default)]
    #[schemars(transform = default_by("100, or `window_size` when smaller"))]
    pub minimum_calls: Option<u32>,
    /// Kinds `count_window` and `time_window` only: the failure rate that opens it, in
    /// (0, 1].
    #[serde(default)]
    #[schemars(transform = default_by("0.5 for count_window, 0.1 for time_window"))]
    pub failure_rate_threshold: Option<f64>,
    /// Kinds `count_window` and `time_window` only: the rate of slow calls (see
    /// `slow_call_duration`) that opens it, in (0, 1].
    #[serde(default)]
    #[schemars(transform = default_is(1.0))]
    pub slow_call_rate_threshold: Option<f64>,
    /// Kinds `count_window` and `time_window` only: calls longer than this duration are
    /// slow.
    #[serde(default)]
    #[schemars(transform = default_is("60s"))]
    pub slow_call_duration: Option<String>,
    /// Failures that count towards opening, by name ("5xx": every server error); the others
    /// are neutral.
    #[serde(default)]
    #[schemars(transform = failure_names, transform = default_breaker_counts)]
    pub count_as_failure: Option<Vec<String>>,
    /// A 429's Retry-After holds the breaker open until it expires.
    #[serde(default)]
    #[schemars(transform = default_is(false))]
    pub hold_open_for_retry_after: Option<bool>,
    /// `shared`: one breaker per target for the whole group; `per_instance`: one per client
    /// instance of a fleet of `instances` (requests spread round robin), which sees only its
    /// share of the failures.
    #[serde(default)]
    #[schemars(
        transform = one_of(&["shared", "per_instance"]),
        transform = default_is("shared")
    )]
    pub scope: Option<String>,
    /// False: calls consult the breaker (it stays closed) but no outcome is ever recorded
    /// in it, as in the seed's service, which builds a breaker and never calls through it.
    #[serde(default)]
    #[schemars(transform = default_is(true))]
    pub records: Option<bool>,
    /// Scope `per_instance` only: client instances in the fleet, in [1, 10000].
    #[serde(default)]
    #[schemars(transform = default_is(1))]
    pub instances: Option<u32>,
    /// Scope `per_instance` only: how the group's requests are spread over its instances.
    /// `round_robin`: request id mod `instances`, a load balancer's rotation over a fleet;
    /// `random`: each request to an instance drawn from the seed, so that every instance
    /// sees its own Poisson arrivals (independent clients, as in Brooker's simulation).
    #[serde(default)]
    #[schemars(
        transform = one_of(&["round_robin", "random"]),
        transform = default_is("round_robin")
    )]
    pub assignment: Option<String>,
    /// Which calls an open breaker stops. `all`: every call (the classic breaker); `retries`:
    /// only retries, never a first try (Brooker's retry breaker, 2022): it records every
    /// answer, is open exactly while its window's failure rate trips (no open wait, no
    /// probes), and while open a failed call is not retried (the request moves down the
    /// fallback chain, or fails with the attempt's failure).
    #[serde(default)]
    #[schemars(
        transform = one_of(&["all", "retries"]),
        transform = default_is("all")
    )]
    pub applies_to: Option<String>,
}

/// A fallback target: a model, on a provider, with its own attempts.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The provider serving `model`. Absent: the one provider with a model of that name.
    #[serde(default)]
    pub provider: Option<String>,
    /// A model name listed under a provider's `models`.
    pub model: String,
    /// Attempts on this target, the first included, in [1, 100].
    #[serde(default)]
    #[schemars(transform = default_is(1))]
    pub attempts: Option<u32>,
}

/// An account at an AI API: its models, how much it serves at once, its limits, and how it
/// fails.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Unique among the providers; requests, fallbacks and `chaos.providers` refer to it.
    pub name: String,
    /// The models it serves (1 to 1000).
    pub models: Vec<Model>,
    /// Requests served at once, and the queue in front of them. Absent: unlimited.
    #[serde(default)]
    pub capacity: Option<Capacity>,
    /// The account's token buckets, shared by all its models (each model may add its own);
    /// a request over them gets a 429 with a Retry-After written as `retry_after` says.
    /// Absent: none.
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
    /// How the 429s write their Retry-After: `exact` (to the nanosecond, an idealised
    /// provider), `milliseconds` (rounded up, OpenAI's `retry-after-ms`), `seconds` (whole
    /// seconds rounded up, Anthropic's `retry-after`).
    #[serde(default)]
    #[schemars(transform = one_of(&["exact", "milliseconds", "seconds"]), transform = default_is("exact"))]
    pub retry_after: Option<String>,
    /// Background failure probabilities per admitted attempt, each in [0, 1], together at
    /// most 1.
    #[serde(default)]
    #[schemars(transform = error_kinds)]
    pub errors: BTreeMap<String, f64>,
    /// How long an error answer takes: a duration or a distribution of durations.
    #[serde(default)]
    #[schemars(with = "Option<DurationDist>", transform = default_is("50ms"))]
    pub error_latency: Option<Value>,
    /// Scheduled outages.
    #[serde(default)]
    pub outages: Vec<Outage>,
    /// Outages at random: exponential up times (mean `mtbf`) and repair times (mean
    /// `mttr`). Absent: none.
    #[serde(default)]
    pub random_outages: Option<RandomOutages>,
    /// A prepaid balance that calls spend; an unaffordable call fails with
    /// `insufficient_credits` (402) or `insufficient_quota` (429), as `exhausted_status`
    /// says. Absent: unlimited.
    #[serde(default)]
    pub credits: Option<Credits>,
}

/// A model: prices, context window, and latency. Service time is ttft + output tokens x
/// per_token.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Unique within the provider; requests and fallbacks name it.
    pub name: String,
    /// List price in USD per million input tokens, in [0, 1e6].
    pub input_usd_per_mtok: f64,
    /// List price in USD per million output tokens, in [0, 1e6].
    pub output_usd_per_mtok: f64,
    /// Input plus `max_tokens` above this fail with `context_length_exceeded` (400), in
    /// tokens.
    #[serde(default)]
    #[schemars(transform = default_is(128_000))]
    pub context_window: Option<u32>,
    /// Time to first token: a duration ("500ms") or a distribution of durations.
    #[schemars(with = "DurationDist")]
    pub ttft: Value,
    /// Time per output token: a duration ("15ms") or a distribution of durations.
    #[schemars(with = "DurationDist")]
    pub per_token: Value,
    /// The model's own limits within the account (OpenAI and Anthropic limit each model);
    /// a request must fit these and the provider's. Absent: only the provider's.
    #[serde(default)]
    pub rate_limits: Option<RateLimits>,
}

/// Concurrency of a provider: a FIFO queue in front of its slots; overload is answered at
/// once.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Requests served at once, in [1, 1e7].
    pub slots: u32,
    /// Requests that may wait for a slot; more are answered `overload_status` at once.
    #[serde(default)]
    #[schemars(transform = default_by("4 x `slots`"))]
    pub queue_limit: Option<u32>,
    /// The status of an overload answer: 503, or 529 (Anthropic's "overloaded").
    #[serde(default)]
    #[schemars(transform = one_of(&[503, 529]), transform = default_is(503))]
    pub overload_status: Option<u16>,
}

/// Limits of an account or of one model: each is a token bucket refilled continuously; a
/// request must fit all of them.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Requests per minute, a number > 0 (e.g. 500). Absent: no request limit.
    #[serde(default)]
    pub rpm: Option<f64>,
    /// Tokens per minute, a number > 0 (e.g. 30000), counted as `tpm_counts` says.
    /// Absent: no total-token limit.
    #[serde(default)]
    pub tpm: Option<f64>,
    /// What a request takes from `tpm`: `input_plus_max_tokens` (the call's worst case) or
    /// `larger_of_input_and_max_tokens` (OpenAI's documented reservation: "the maximum of
    /// max_tokens and the estimated number of tokens" of the request).
    #[serde(default)]
    #[schemars(
        transform = one_of(&["input_plus_max_tokens", "larger_of_input_and_max_tokens"]),
        transform = default_is("input_plus_max_tokens")
    )]
    pub tpm_counts: Option<String>,
    /// Input tokens per minute, a number > 0 (Anthropic's ITPM): the prompt is taken when
    /// the request is admitted. Absent: no input-token limit.
    #[serde(default)]
    pub itpm: Option<f64>,
    /// Output tokens per minute, a number > 0 (Anthropic's OTPM): `max_tokens` is reserved
    /// when the request is admitted and what the answer did not use is given back when it
    /// ends. Absent: no output-token limit.
    #[serde(default)]
    pub otpm: Option<f64>,
    /// How much of the rate the buckets hold, a duration in (0, 1m]: "1s" for OpenAI's
    /// quantized limits (60,000 RPM enforced as 1,000 a second), "1m" for a bucket of the
    /// whole minute (Anthropic's). A request above a short burst fits when the bucket is
    /// full. Default: "1m".
    #[serde(default)]
    #[schemars(default = "default_burst")]
    pub burst: Option<String>,
    /// Whether a request refused with 429 still takes its request (and its token estimate)
    /// from the buckets, as OpenAI documents ("unsuccessful requests contribute to your
    /// per-minute limit"): a tight retry loop then keeps the account throttled. Default:
    /// false.
    #[serde(default)]
    #[schemars(default = "default_false")]
    pub count_rejected: Option<bool>,
}

fn default_burst() -> Option<String> {
    Some("1m".into())
}

fn default_false() -> Option<bool> {
    Some(false)
}

/// A scheduled outage: `kind` `down` (every attempt fails, as `behaviour` says) or
/// `brownout` (more errors, slower answers).
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// When it begins, a duration from the start of the run ("20m").
    pub start: String,
    /// How long it lasts, a duration ("5m").
    pub duration: String,
    /// `down`: the provider is hard down (the work in progress fails too, unless
    /// `in_progress` is `finish`); `brownout`: it still serves, with `error_rate` more
    /// failures and `latency_multiplier` times slower.
    #[serde(default)]
    #[schemars(transform = one_of(&["down", "brownout"]), transform = default_is("down"))]
    pub kind: Option<String>,
    /// Kind `down` only: how attempts fail. `refuse`: connection refused at once; `hang`:
    /// the connection never completes (the client's connect timeout ends it); a status
    /// ("503", or "429" without Retry-After): that HTTP answer at once.
    #[serde(default)]
    #[schemars(transform = outage_behaviours, transform = default_is("refuse"))]
    pub behaviour: Option<String>,
    /// Kind `down` only: what becomes of the work the provider had accepted when the outage
    /// begins. `fail`: it fails as new attempts do (a crash); `finish`: it is served to the
    /// end while nothing new is admitted (a drain, as a deployment that stops accepting).
    #[serde(default)]
    #[schemars(transform = one_of(&["fail", "finish"]), transform = default_is("fail"))]
    pub in_progress: Option<String>,
    /// Kind `brownout` only: the extra fraction of attempts that fail, in [0, 1].
    #[serde(default)]
    #[schemars(transform = default_is(0.0))]
    pub error_rate: Option<f64>,
    /// Kind `brownout` only: the status of those failures; 429 is a capacity 429 (OpenAI's
    /// `slow_down`, sent without Retry-After), told apart from the rate limits' in the
    /// incident narrative by its window.
    #[serde(default)]
    #[schemars(transform = outage_statuses, transform = default_is(503))]
    pub error_status: Option<u16>,
    /// Kind `brownout` only: service times are multiplied by this, in [0, 1e6].
    #[serde(default)]
    #[schemars(transform = default_is(1.0))]
    pub latency_multiplier: Option<f64>,
}

/// Outages at random, an alternating renewal process; the effect fields are those of a
/// scheduled outage.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct RandomOutages {
    /// Mean time between failures: the mean up time, a duration ("6h").
    pub mtbf: String,
    /// Mean time to repair: the mean outage length, a duration ("10m").
    pub mttr: String,
    /// `down`: the provider is hard down (the work in progress fails too, unless
    /// `in_progress` is `finish`); `brownout`: it still serves, with `error_rate` more
    /// failures and `latency_multiplier` times slower.
    #[serde(default)]
    #[schemars(transform = one_of(&["down", "brownout"]), transform = default_is("down"))]
    pub kind: Option<String>,
    /// Kind `down` only: how attempts fail. `refuse`: connection refused at once; `hang`:
    /// the connection never completes (the client's connect timeout ends it); a status
    /// ("503", or "429" without Retry-After): that HTTP answer at once.
    #[serde(default)]
    #[schemars(transform = outage_behaviours, transform = default_is("refuse"))]
    pub behaviour: Option<String>,
    /// Kind `down` only: what becomes of the work the provider had accepted when the outage
    /// begins. `fail`: it fails as new attempts do (a crash); `finish`: it is served to the
    /// end while nothing new is admitted (a drain, as a deployment that stops accepting).
    #[serde(default)]
    #[schemars(transform = one_of(&["fail", "finish"]), transform = default_is("fail"))]
    pub in_progress: Option<String>,
    /// Kind `brownout` only: the extra fraction of attempts that fail, in [0, 1].
    #[serde(default)]
    #[schemars(transform = default_is(0.0))]
    pub error_rate: Option<f64>,
    /// Kind `brownout` only: the status of those failures; 429 is a capacity 429 (OpenAI's
    /// `slow_down`, sent without Retry-After), told apart from the rate limits' in the
    /// incident narrative by its window.
    #[serde(default)]
    #[schemars(transform = outage_statuses, transform = default_is(503))]
    pub error_status: Option<u16>,
    /// Kind `brownout` only: service times are multiplied by this, in [0, 1e6].
    #[serde(default)]
    #[schemars(transform = default_is(1.0))]
    pub latency_multiplier: Option<f64>,
}

/// What an outage does, as written in either a scheduled or a random outage. (serde's
/// `flatten` would share the fields but cannot be combined with `deny_unknown_fields`.)
pub struct OutageEffect<'a> {
    pub kind: &'a Option<String>,
    pub behaviour: &'a Option<String>,
    pub in_progress: &'a Option<String>,
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
                    in_progress: &self.in_progress,
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

/// Account credits: a call reserves its worst-case cost when admitted and is charged its
/// actual cost when served.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Credits {
    /// The balance at the start, in USD, in [0, 1e9].
    pub balance_usd: f64,
    /// What an unaffordable call gets: 402 (`insufficient_credits`, a billing refusal no SDK
    /// retries; Anthropic's `billing_error`) or 429 (`insufficient_quota`, OpenAI's answer,
    /// which the SDKs retry like any 429).
    #[serde(default)]
    #[schemars(transform = one_of(&[402, 429]), transform = default_is(402))]
    pub exhausted_status: Option<u16>,
    /// Scheduled top-ups.
    #[serde(default)]
    pub top_ups: Vec<TopUp>,
    /// A top-up triggered by a low balance. Absent: none.
    #[serde(default)]
    pub auto_recharge: Option<AutoRecharge>,
}

/// A scheduled top-up.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    /// When it lands, a duration from the start of the run ("30m").
    pub at: String,
    /// USD added, in [0, 1e9].
    pub amount_usd: f64,
}

/// A top-up triggered when the balance falls below a threshold.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct AutoRecharge {
    /// Recharge when the balance falls below this many USD, in [0, 1e9].
    pub below_usd: f64,
    /// USD added by each recharge, in [0, 1e9].
    pub amount_usd: f64,
    /// How long a recharge takes to land, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("0s"))]
    pub delay: Option<String>,
}

/// The seed's `ChaosAIProxy`: each attempt of an affected group to an affected provider
/// draws a fault with probability `failure_rate`. Injected faults never reach the provider.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Chaos {
    /// `false` keeps the settings but injects nothing.
    #[serde(default)]
    #[schemars(transform = default_is(true))]
    pub enabled: Option<bool>,
    /// Probability that an attempt gets a fault, in [0, 1].
    pub failure_rate: f64,
    /// Relative weights of the faults drawn (numbers >= 0, at least one above 0); a fault
    /// left out is never drawn.
    #[serde(default)]
    #[schemars(transform = chaos_faults)]
    pub faults: Option<BTreeMap<String, f64>>,
    /// A `timeout` fault fails the attempt as a timeout after this duration (the seed's
    /// timeout_override). Absent: the attempt hangs until the client's own timeout.
    #[serde(default)]
    pub timeout_after: Option<String>,
    /// The delay a `latency` fault adds, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("100ms"))]
    pub latency: Option<String>,
    /// The Retry-After of a `rate_limit` fault's 429, a duration.
    #[serde(default)]
    #[schemars(transform = default_is("1s"))]
    pub retry_after: Option<String>,
    /// When injection begins, a duration from the start of the run.
    #[serde(default)]
    #[schemars(transform = default_is("0s"))]
    pub start: Option<String>,
    /// When injection ends, a duration from the start of the run, after `start`.
    #[serde(default)]
    #[schemars(transform = default_by("never"))]
    pub end: Option<String>,
    /// The client groups affected, by name; empty: all.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The providers affected, by name; empty: all.
    #[serde(default)]
    pub providers: Vec<String>,
}

/// A service-level objective: `success_rate` (a target fraction) or `latency` (a
/// percentile within a threshold), judged over a rolling `window` every `step`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Unique among the scenario's SLOs (experiments merge `slos` by name).
    pub name: String,
    /// The client group judged, by name. Absent: all of them.
    #[serde(default)]
    pub group: Option<String>,
    /// Target fraction of requests that end in success, strictly between 0 and 1 (e.g.
    /// 0.999). Exactly one of `success_rate` and `latency`.
    #[serde(default)]
    pub success_rate: Option<f64>,
    /// A latency objective on successful requests instead of `success_rate`.
    #[serde(default)]
    pub latency: Option<LatencySlo>,
    /// The rolling window judged, a duration; a whole number of steps.
    #[serde(default)]
    #[schemars(transform = default_is("5m"))]
    pub window: Option<String>,
    /// How often the window is judged, a duration (also the time resolution of incidents).
    #[serde(default)]
    #[schemars(transform = default_is("10s"))]
    pub step: Option<String>,
    /// A window with fewer requests is not judged.
    #[serde(default)]
    #[schemars(transform = default_is(1))]
    pub min_requests: Option<u64>,
    /// How long an incident must outlive its trigger, beyond one window, to be flagged
    /// metastable, a duration.
    #[serde(default)]
    #[schemars(transform = default_by("the window"))]
    pub metastable_after: Option<String>,
    /// Multi-window burn-rate alerts (SRE workbook), e.g. 14.4 over 1h and 5m.
    #[serde(default)]
    pub burn_rate_alerts: Vec<BurnRateAlert>,
}

/// "p99 <= 2s": `percentile` % of successful requests answered within `threshold`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = unwrap_lines)]
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
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct BurnRateAlert {
    /// Unique within the SLO; names the alert in reports ("page", "ticket").
    pub name: String,
    /// The long window, a duration (e.g. "1h"); a whole number of the SLO's steps.
    pub long_window: String,
    /// The short window, a duration (e.g. "5m"); not longer than `long_window`.
    pub short_window: String,
    /// How many times its sustainable rate the error budget burns, in (0, 1 / (1 -
    /// target)]: e.g. 14.4 (page) or 6 (ticket) for 30-day budgets.
    pub burn_rate: f64,
}

/// What the run promises; `aichaos run` exits 1 when one fails.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[schemars(transform = unwrap_lines)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// At least this fraction of requests succeed, in [0, 1].
    #[serde(default)]
    pub min_success_rate: Option<f64>,
    /// The p99 end-to-end latency of successful requests is at most this many milliseconds,
    /// in [0, 1e12].
    #[serde(default)]
    pub max_latency_p99_ms: Option<f64>,
    /// The mean end-to-end latency of successful requests is at most this many
    /// milliseconds, in [0, 1e12].
    #[serde(default)]
    pub max_latency_mean_ms: Option<f64>,
    /// The run costs at most this many USD, in [0, 1e12].
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// At most this many attempts sent per arrived request (at least 1): the load retries add.
    #[serde(default)]
    pub max_amplification: Option<f64>,
    /// At most this many incidents over all SLOs.
    #[serde(default)]
    pub max_incidents: Option<u64>,
}

/// What a scenario file holds: one scenario, or an experiment of several. Used only to
/// generate the JSON Schema (`aichaos schema`); parsing picks the shape by its `scenarios` key.
#[derive(JsonSchema)]
#[schemars(transform = unwrap_lines)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ScenarioFile {
    Scenario(Box<Scenario>),
    Experiment(Experiment),
}

// The schema of what `build` reads from raw JSON or strings. Each helper derives its list
// from the code that decides, where the code has one (`Failure`, `ChaosFault`, presets); the
// lists written out here mirror `build`'s and are held to it by `tests/it/schema.rs`.

/// Joins the lines of each doc comment into one paragraph (blank lines still part them).
/// schemars keeps every line break of a comment, and editors show a single break as a new
/// paragraph (VS Code's hover does), so a description wrapped at 92 columns would read as a
/// column of fragments. On every struct, as a container attribute: it reaches the fields.
fn unwrap_lines(schema: &mut Schema) {
    if let Some(map) = schema.as_object_mut() {
        unwrap_in(map);
    }
}

fn unwrap_in(map: &mut serde_json::Map<String, Value>) {
    for (key, value) in map.iter_mut() {
        match value {
            Value::String(text) if key == "description" => {
                let paragraphs: Vec<String> =
                    text.split("\n\n").map(|p| p.replace('\n', " ")).collect();
                *text = paragraphs.join("\n\n");
            }
            Value::Object(child) => unwrap_in(child),
            Value::Array(items) => items
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(unwrap_in),
            _ => {}
        }
    }
}

/// Sets the `default` keyword and repeats it in the description, where an editor's hover
/// shows it. Runs after the derive's own `"default": null`, which it replaces.
fn default_is(value: impl Into<Value>) -> impl FnMut(&mut Schema) {
    let value = value.into();
    move |schema| {
        append(schema, &format!("Default: {value}."));
        schema.insert("default".into(), value.clone());
    }
}

/// A default that depends on other fields: said in the description, and no `default`
/// keyword (the derive's `null` would be wrong).
fn default_by(text: &'static str) -> impl FnMut(&mut Schema) {
    move |schema| {
        append(schema, &format!("Default: {text}."));
        schema.remove("default");
    }
}

fn append(schema: &mut Schema, sentence: &str) {
    let description = match schema.get("description").and_then(Value::as_str) {
        Some(text) => format!("{text} {sentence}"),
        None => sentence.to_string(),
    };
    schema.insert("description".into(), description.into());
}

/// A closed set of values as an `enum`; `null` stays allowed where the type allows it (the
/// parser reads `null` as absent).
fn one_of<T: Copy + Into<Value>>(values: &'static [T]) -> impl FnMut(&mut Schema) {
    move |schema| set_enum(schema, values.iter().map(|&v| v.into()).collect())
}

fn set_enum(schema: &mut Schema, mut values: Vec<Value>) {
    let nullable = match schema.get("type") {
        Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
        Some(t) => t == "null",
        None => false,
    };
    if nullable {
        values.push(Value::Null);
    }
    schema.insert("enum".into(), values.into());
}

/// The statuses `build` accepts for server errors: those `Failure::from_status` maps to a
/// server error.
fn server_error_codes() -> Vec<u16> {
    (100..600)
        .filter(|&code| Failure::from_status(code).is_some_and(Failure::is_server_error))
        .collect()
}

/// The statuses an outage or a brownout may answer: 429 (a provider's capacity 429, as
/// OpenAI's `slow_down`) and the server errors.
pub fn outage_status_codes() -> Vec<u16> {
    std::iter::once(429).chain(server_error_codes()).collect()
}

fn outage_statuses(schema: &mut Schema) {
    set_enum(
        schema,
        outage_status_codes().into_iter().map(Value::from).collect(),
    );
}

fn outage_behaviours(schema: &mut Schema) {
    let statuses = outage_status_codes().into_iter().map(|c| c.to_string());
    let values = ["refuse".to_string(), "hang".to_string()]
        .into_iter()
        .chain(statuses);
    set_enum(schema, values.map(Value::from).collect());
}

/// Outcome names (`retry_on`, `count_as_failure`): `Failure::ALL` and the "5xx" shorthand.
fn failure_names(schema: &mut Schema) {
    let names: Vec<&str> = Failure::ALL
        .iter()
        .map(|f| f.name())
        .chain(["5xx"])
        .collect();
    schema.insert("items".into(), json!({ "type": "string", "enum": names }));
}

fn default_retry_on(schema: &mut Schema) {
    default_is(crate::policy::default_retry_on().names())(schema);
}

fn default_breaker_counts(schema: &mut Schema) {
    default_is(crate::policy::default_breaker_counts().names())(schema);
}

fn preset_names(schema: &mut Schema) {
    // A preset is expanded before the policy is read, and `null` is refused there.
    schema.insert("type".into(), "string".into());
    schema.insert("enum".into(), json!(crate::policy::presets::NAMES));
    schema.remove("default");
}

/// The keys of `errors`: each server-error status, and `hang` (no answer at all).
fn error_kinds(schema: &mut Schema) {
    let probability = |what: String| {
        json!({
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": format!("Probability, in [0, 1], that an attempt {what}."),
        })
    };
    let mut kinds = serde_json::Map::new();
    for code in server_error_codes() {
        kinds.insert(
            code.to_string(),
            probability(format!("gets an HTTP {code} at once")),
        );
    }
    kinds.insert(
        "hang".into(),
        probability("never gets an answer (the client's timeout ends it)".into()),
    );
    schema.insert("properties".into(), kinds.into());
    schema.insert("additionalProperties".into(), false.into());
}

/// The keys of `chaos.faults`: `ChaosFault::ALL`, each with what it does.
fn chaos_faults(schema: &mut Schema) {
    let mut faults = serde_json::Map::new();
    for fault in ChaosFault::ALL {
        let does = match fault {
            ChaosFault::Timeout => {
                "the attempt times out (after `timeout_after`, else at the client's timeout)"
            }
            ChaosFault::RateLimit => "an immediate 429 with Retry-After `retry_after`",
            ChaosFault::ServerError => "an immediate 500",
            ChaosFault::Latency => "`latency` is added, then the attempt goes on to the provider",
            ChaosFault::TokenExhaustion => "an immediate `insufficient_credits` (402)",
        };
        faults.insert(
            fault.name().into(),
            json!({
                "type": "number",
                "minimum": 0,
                "description": format!("Weight of `{}`: {does}.", fault.name()),
            }),
        );
    }
    schema.insert("properties".into(), faults.into());
    schema.insert("additionalProperties".into(), false.into());
    let uniform: serde_json::Map<String, Value> = ChaosFault::ALL
        .iter()
        .map(|f| (f.name().to_string(), Value::from(1)))
        .collect();
    default_is(Value::Object(uniform))(schema);
}

/// Schema only: a duration drawn at random, as `build` reads it (`Unit::Seconds`).
struct DurationDist;

/// Schema only: a token count drawn at random, as `build` reads it (`Unit::Count`).
struct CountDist;

impl JsonSchema for DurationDist {
    fn schema_name() -> Cow<'static, str> {
        "DurationDistribution".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        distribution(
            json!({ "type": "string" }),
            "a duration such as \"250ms\"",
            "A constant duration, such as \"250ms\" or \"1.5s\".",
        )
    }
}

impl JsonSchema for CountDist {
    fn schema_name() -> Cow<'static, str> {
        "CountDistribution".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        distribution(
            json!({ "type": "number", "minimum": 0 }),
            "a count, a number >= 0",
            "A constant count, such as 500.",
        )
    }
}

/// A distribution family as `build` samples it: the fields it reads (`cap` aside), and
/// the sets of them it needs (lognormal and gamma take either of two, checked by `anyOf`).
struct Family {
    name: &'static str,
    reads: &'static [&'static str],
    needs: &'static [&'static [&'static str]],
}

const FAMILIES: [Family; 9] = [
    Family {
        name: "constant",
        reads: &["value"],
        needs: &[&["value"]],
    },
    Family {
        name: "uniform",
        reads: &["min", "max"],
        needs: &[&["min", "max"]],
    },
    Family {
        name: "exponential",
        reads: &["mean"],
        needs: &[&["mean"]],
    },
    Family {
        name: "normal",
        reads: &["mean", "std_dev"],
        needs: &[&["mean", "std_dev"]],
    },
    Family {
        name: "lognormal",
        reads: &["median", "p99", "mu", "sigma"],
        needs: &[&["median", "p99"], &["mu", "sigma"]],
    },
    Family {
        name: "gamma",
        reads: &["shape", "scale", "mean"],
        needs: &[&["shape", "scale"], &["shape", "mean"]],
    },
    Family {
        name: "weibull",
        reads: &["shape", "scale"],
        needs: &[&["shape", "scale"]],
    },
    Family {
        name: "pareto",
        reads: &["shape", "min"],
        needs: &[&["shape", "min"]],
    },
    Family {
        name: "empirical",
        reads: &["values"],
        needs: &[&["values"]],
    },
];

/// A constant shorthand or `{"dist": family, ...}`; `quantity` is the type of the values
/// that carry the unit (durations or counts), `mu`, `sigma` and `shape` being plain numbers.
fn distribution(quantity: Value, unit: &str, constant: &str) -> Schema {
    let field = |what: &str| {
        let mut schema = quantity.clone();
        schema["description"] = format!("{what}: {unit}.").into();
        schema
    };
    let positive =
        |what: &str| json!({ "type": "number", "exclusiveMinimum": 0, "description": what });
    let families: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
    let properties = json!({
        "dist": {
            "type": "string",
            "enum": families,
            "description": "The family: constant {value}, uniform {min, max}, exponential \
                {mean}, normal {mean, std_dev} (truncated at 0), lognormal {median, p99} or \
                {mu, sigma}, gamma {shape, mean} or {shape, scale}, weibull {shape, scale}, \
                pareto {shape, min}, empirical {values}.",
        },
        "value": field("Constant: the value"),
        "min": field("Uniform: the lower bound; pareto: the scale (the smallest value)"),
        "max": field("Uniform: the upper bound"),
        "mean": field("Exponential and normal: the mean; gamma: the mean, instead of `scale`"),
        "std_dev": field("Normal: the standard deviation"),
        "median": field("Lognormal: the median, with `p99`"),
        "p99": field("Lognormal: the 99th percentile, above the median"),
        "mu": {
            "type": "number",
            "description": "Lognormal: the mean of the log (of seconds, or of the count), \
                any finite number, with `sigma`.",
        },
        "sigma": positive("Lognormal: the standard deviation of the log, > 0."),
        "shape": positive("Gamma, weibull and pareto: the shape, > 0."),
        "scale": field("Gamma and weibull: the scale"),
        "values": {
            "type": "array",
            "items": quantity,
            "minItems": 1,
            "description": format!(
                "Empirical: observations (e.g. pasted from logs), resampled uniformly; each \
                 {unit}."
            ),
        },
        "cap": field("Any family: draws above it are cut to it"),
    });
    let rules: Vec<Value> = FAMILIES
        .iter()
        .map(|family| {
            let allowed: Vec<&str> = ["dist", "cap"]
                .iter()
                .chain(family.reads)
                .copied()
                .collect();
            let needs: Vec<Value> = family
                .needs
                .iter()
                .map(|n| json!({ "required": n }))
                .collect();
            json!({
                "if": { "properties": { "dist": { "const": family.name } }, "required": ["dist"] },
                "then": { "propertyNames": { "enum": allowed }, "anyOf": needs },
            })
        })
        .collect();
    let mut shorthand = quantity.clone();
    shorthand["description"] = constant.into();
    json_schema!({
        "description": format!(
            "{constant} Or a distribution: {{\"dist\": family, ...its fields, \"cap\"}}."
        ),
        "anyOf": [
            shorthand,
            {
                "type": "object",
                "properties": properties,
                "required": ["dist"],
                "additionalProperties": false,
                "allOf": rules,
            },
        ],
    })
}
