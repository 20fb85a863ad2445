//! From the raw file to the validated model: units, ranges, references, defaults.
//!
//! Every check pushes a `FieldError` with its path and carries on with a harmless stand-in
//! value, so one pass reports everything wrong with a file. Defaults are the seed's where it
//! has one (30 s total / 10 s connect timeout, 3 attempts, 1 s exponential backoff, breaker
//! of 5 failures and 30 s), otherwise the common practice named next to each.
//!
//! Why over 1,000 lines: a checker per section of the format (providers, groups, policies,
//! breakers, budgets, chaos, SLOs), in the file's order, all sharing one `Checker`. It is the
//! next candidate to split, a file per section as `raw.rs`'s sections, when one grows again.

use serde_json::Value;
use statrs::distribution::{Exp, Gamma, LogNormal, Normal, Pareto, Weibull};

use super::{Expectations, Scenario, check_unique_names, limits, raw};
use crate::chaos::{ChaosFault, ChaosModel};
use crate::credits::{AutoRecharge, CreditsModel, usd_to_nano};
use crate::dist::{Dist, Family, lognormal_from_median_p99};
use crate::error::{FieldError, nearest_name};
use crate::outage::{DownBehaviour, InProgress, OutageEffect, RandomOutages, ScheduledOutage};
use crate::outcome::{Failure, FailureSet};
use crate::policy::backoff::{Backoff, BackoffKind, Jitter};
use crate::policy::breaker::{AppliesTo, Assignment, BreakerConfig, TripRule};
use crate::policy::budget::RetryBudgetConfig;
use crate::policy::cooldown::CooldownConfig;
use crate::policy::{
    AboveMax, Bulkhead, ChainStep, ClientPolicy, ClientRateLimiter, Combine, CreditCheck, Hedging,
    MAX_OUTER_RETRY_LAYERS, RetryAfterPolicy, RetryLayer, RetryPolicy, TargetRef,
    default_breaker_counts, default_retry_on,
};
use crate::provider::{ErrorModel, ModelSpec, ProviderModel};
use crate::ratelimit::{LimitSpec, RetryAfterUnit, TpmCounts};
use crate::slo::{AlertModel, Indicator, SloModel};
use crate::time::{
    NS_PER_MIN, NS_PER_MS, NS_PER_S, Nanos, format_duration, parse_duration, parse_rate_per_s,
};
use crate::traffic::{
    ArrivalModel, Diurnal, GroupModel, RateProfile, ReplaySpec, RequestModel, Spike, TimeUnit,
};

struct Checker {
    problems: Vec<FieldError>,
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Count,
}

impl Checker {
    fn fail(&mut self, path: &str, reason: impl Into<String>) {
        self.problems.push(FieldError {
            path: path.to_string(),
            reason: reason.into(),
            line_col: None,
            set_by: None,
        });
    }

    fn duration(&mut self, path: &str, text: &str) -> Nanos {
        self.checked_duration(path, text).unwrap_or(0)
    }

    /// The duration, or None once its problem is recorded: checks that depend on it are
    /// skipped, so one bad value gives one error ("10 sec" is not also "not longer than
    /// zero").
    fn checked_duration(&mut self, path: &str, text: &str) -> Option<Nanos> {
        match parse_duration(text) {
            Ok(ns) if ns > limits::MAX_DURATION_NS => {
                self.fail(path, format!("`{text}` exceeds the limit of 10 years"));
                None
            }
            Ok(ns) => Some(ns),
            Err(e) => {
                self.fail(path, e);
                None
            }
        }
    }

    fn duration_or(&mut self, path: &str, text: &Option<String>, default_ns: Nanos) -> Nanos {
        text.as_deref()
            .map_or(default_ns, |t| self.duration(path, t))
    }

    /// A duration that must be longer than zero; one error if it is not a duration at all.
    fn positive_duration(&mut self, path: &str, text: &str) -> Nanos {
        let ns = self.checked_duration(path, text);
        if ns == Some(0) {
            self.fail(path, "must be longer than zero");
        }
        ns.unwrap_or(0)
    }

    fn positive_duration_or(
        &mut self,
        path: &str,
        text: &Option<String>,
        default_ns: Nanos,
    ) -> Nanos {
        text.as_deref()
            .map_or(default_ns, |t| self.positive_duration(path, t))
    }

    fn rate(&mut self, path: &str, text: &str) -> f64 {
        match parse_rate_per_s(text) {
            Ok(r) if r > limits::MAX_RATE_PER_S => {
                self.fail(
                    path,
                    format!("`{text}` exceeds the limit of 1e9 per second"),
                );
                0.0
            }
            Ok(r) => r,
            Err(e) => {
                self.fail(path, e);
                0.0
            }
        }
    }

    fn probability(&mut self, path: &str, p: f64) -> f64 {
        if !(0.0..=1.0).contains(&p) {
            self.fail(
                path,
                format!("{p} is not a probability; it must lie in [0, 1]"),
            );
            return 0.0;
        }
        p
    }

    /// A finite number within [min, max].
    fn number(&mut self, path: &str, x: f64, min: f64, max: f64) -> f64 {
        if !x.is_finite() || x < min || x > max {
            self.fail(
                path,
                format!("{x} is out of range; it must lie in [{min}, {max}]"),
            );
            return min.max(0.0).min(max);
        }
        x
    }

    fn int_in(&mut self, path: &str, x: u32, min: u32, max: u32) -> u32 {
        if x < min || x > max {
            self.fail(
                path,
                format!("{x} is out of range; it must lie in [{min}, {max}]"),
            );
            return min;
        }
        x
    }

    fn choice<T: Copy>(&mut self, path: &str, text: &str, options: &[(&str, T)]) -> Option<T> {
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == text) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let hint = nearest_name(text, &names)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        self.fail(
            path,
            format!(
                "unknown value `{text}`{hint}; expected one of: {}",
                names.join(", ")
            ),
        );
        None
    }

    /// A statrs constructor's result, its error reported at `path`.
    fn valid<T, E: std::fmt::Display>(&mut self, path: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|e| self.fail(path, format!("invalid parameters: {e}")))
            .ok()
    }

    fn failure_set(&mut self, path: &str, names: &[String]) -> FailureSet {
        FailureSet::parse(names).unwrap_or_else(|e| {
            self.fail(path, e);
            FailureSet::EMPTY
        })
    }

    /// A distribution: a constant shorthand ("250ms" or 300) or `{"dist": ..., ...}`.
    fn dist(&mut self, path: &str, value: &Value, unit: Unit) -> Dist {
        match self.try_dist(path, value, unit) {
            Some(d) => d,
            None => Dist::constant(0.0),
        }
    }

    fn quantity(&mut self, path: &str, value: &Value, unit: Unit) -> Option<f64> {
        let x = match (value, unit) {
            (Value::String(s), Unit::Seconds) => match parse_duration(s) {
                Ok(ns) => ns as f64 / NS_PER_S as f64,
                Err(e) => {
                    self.fail(path, e);
                    return None;
                }
            },
            (Value::Number(n), Unit::Count) => n.as_f64().unwrap_or(f64::NAN),
            (Value::Number(n), Unit::Seconds) => {
                self.fail(
                    path,
                    format!("{n} has no unit; write durations as strings, e.g. \"250ms\""),
                );
                return None;
            }
            (_, Unit::Seconds) => {
                self.fail(path, "expected a duration such as \"250ms\"");
                return None;
            }
            (_, Unit::Count) => {
                self.fail(path, "expected a number");
                return None;
            }
        };
        if !x.is_finite() || x < 0.0 {
            self.fail(path, format!("{x} must be a finite number >= 0"));
            return None;
        }
        Some(x)
    }

    fn try_dist(&mut self, path: &str, value: &Value, unit: Unit) -> Option<Dist> {
        let Value::Object(map) = value else {
            return self.quantity(path, value, unit).map(Dist::constant);
        };
        let Some(Value::String(kind)) = map.get("dist") else {
            self.fail(path, "a distribution object needs `dist`: one of constant, uniform, exponential, normal, lognormal, gamma, weibull, pareto, empirical");
            return None;
        };
        let allowed: &[&str] = match kind.as_str() {
            "constant" => &["value"],
            "uniform" => &["min", "max"],
            "exponential" => &["mean"],
            "normal" => &["mean", "std_dev"],
            "lognormal" => &["median", "p99", "mu", "sigma"],
            "gamma" => &["shape", "scale", "mean"],
            "weibull" => &["shape", "scale"],
            "pareto" => &["shape", "min"],
            "empirical" => &["values"],
            other => {
                let kinds = [
                    "constant",
                    "uniform",
                    "exponential",
                    "normal",
                    "lognormal",
                    "gamma",
                    "weibull",
                    "pareto",
                    "empirical",
                ];
                let hint = nearest_name(other, &kinds)
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                self.fail(
                    &join(path, "dist"),
                    format!(
                        "unknown distribution `{other}`{hint}; expected one of: {}",
                        kinds.join(", ")
                    ),
                );
                return None;
            }
        };
        for key in map
            .keys()
            .filter(|k| *k != "dist" && *k != "cap" && !allowed.contains(&k.as_str()))
        {
            let mut valid: Vec<&str> = allowed.to_vec();
            valid.push("cap");
            let hint = nearest_name(key, &valid)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            self.fail(
                &join(path, key),
                format!(
                    "unknown field for `{kind}`{hint}; expected: {}",
                    valid.join(", ")
                ),
            );
        }
        let get = |this: &mut Self, field: &str| -> Option<f64> {
            let p = join(path, field);
            match map.get(field) {
                Some(v) => this.quantity(&p, v, unit),
                None => {
                    this.fail(&p, format!("`{kind}` needs `{field}`"));
                    None
                }
            }
        };
        let number = |this: &mut Self, field: &str| -> Option<f64> {
            let p = join(path, field);
            match map.get(field).and_then(Value::as_f64) {
                Some(x) if x.is_finite() && x > 0.0 => Some(x),
                Some(x) => {
                    this.fail(&p, format!("{x} must be a finite number > 0"));
                    None
                }
                None => {
                    this.fail(&p, format!("`{kind}` needs `{field}` as a number > 0"));
                    None
                }
            }
        };
        let (family, mean) = match kind.as_str() {
            "constant" => {
                let v = get(self, "value")?;
                (Family::Constant(v), v)
            }
            "uniform" => {
                let (min, max) = (get(self, "min")?, get(self, "max")?);
                if min > max {
                    self.fail(
                        path,
                        format!("uniform needs min <= max (got {min} > {max})"),
                    );
                    return None;
                }
                (Family::Uniform { min, max }, (min + max) / 2.0)
            }
            "exponential" => {
                let mean = get(self, "mean")?;
                if mean <= 0.0 {
                    self.fail(&join(path, "mean"), "must be > 0");
                    return None;
                }
                (
                    Family::Exponential(self.valid(path, Exp::new(1.0 / mean))?),
                    mean,
                )
            }
            "normal" => {
                let (mean, sd) = (get(self, "mean")?, get(self, "std_dev")?);
                if mean <= 0.0 {
                    self.fail(
                        &join(path, "mean"),
                        "must be > 0 (the normal is truncated at 0)",
                    );
                    return None;
                }
                (
                    Family::Normal(self.valid(path, Normal::new(mean, sd))?),
                    mean,
                )
            }
            "lognormal" => {
                let by_quantiles = map.contains_key("median") || map.contains_key("p99");
                let (mu, sigma) = if by_quantiles {
                    let (median, p99) = (get(self, "median")?, get(self, "p99")?);
                    if !(median > 0.0 && p99 > median) {
                        self.fail(path, "lognormal needs 0 < median < p99");
                        return None;
                    }
                    lognormal_from_median_p99(median, p99)
                } else {
                    let mu = match map.get("mu").and_then(Value::as_f64) {
                        Some(mu) if mu.is_finite() => mu,
                        _ => {
                            self.fail(&join(path, "mu"), "lognormal needs `median` and `p99`, or `mu` and `sigma` (of ln of seconds or of the count)");
                            return None;
                        }
                    };
                    (mu, number(self, "sigma")?)
                };
                let d = self.valid(path, LogNormal::new(mu, sigma))?;
                // libm, not std: the mean reaches the summary (capacity estimate).
                (Family::LogNormal(d), libm::exp(mu + sigma * sigma / 2.0))
            }
            "gamma" => {
                let shape = number(self, "shape")?;
                let scale = if map.contains_key("mean") {
                    get(self, "mean")? / shape
                } else {
                    get(self, "scale")?
                };
                if scale <= 0.0 {
                    self.fail(path, "gamma needs a scale (or mean) > 0");
                    return None;
                }
                (
                    Family::Gamma(self.valid(path, Gamma::new(shape, 1.0 / scale))?),
                    shape * scale,
                )
            }
            "weibull" => {
                let (shape, scale) = (number(self, "shape")?, get(self, "scale")?);
                let d = self.valid(path, Weibull::new(shape, scale))?;
                (
                    Family::Weibull(d),
                    // libm's Γ, not statrs's (built on std's exp and powf).
                    scale * libm::tgamma(1.0 + 1.0 / shape),
                )
            }
            "pareto" => {
                let (shape, min) = (number(self, "shape")?, get(self, "min")?);
                let d = self.valid(path, Pareto::new(min, shape))?;
                let mean = if shape > 1.0 {
                    shape * min / (shape - 1.0)
                } else {
                    f64::INFINITY
                };
                (Family::Pareto(d), mean)
            }
            "empirical" => {
                let Some(Value::Array(items)) = map.get("values") else {
                    self.fail(
                        &join(path, "values"),
                        "empirical needs `values`: a list of observations",
                    );
                    return None;
                };
                if items.is_empty() || items.len() > limits::MAX_EMPIRICAL_VALUES {
                    self.fail(
                        &join(path, "values"),
                        format!("needs 1 to {} values", limits::MAX_EMPIRICAL_VALUES),
                    );
                    return None;
                }
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    values.push(self.quantity(
                        &format!("{}[{i}]", join(path, "values")),
                        item,
                        unit,
                    )?);
                }
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                (Family::Empirical(values.into_boxed_slice()), mean)
            }
            _ => unreachable!("kinds were matched above"),
        };
        let cap = match map.get("cap") {
            Some(v) => self.quantity(&join(path, "cap"), v, unit)?,
            None => f64::INFINITY,
        };
        Some(Dist {
            family,
            cap,
            mean: mean.min(cap),
        })
    }
}

pub(super) fn scenario(raw: &raw::Scenario, prefix: &str) -> Result<Scenario, Vec<FieldError>> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let p = |field: &str| join(prefix, field);
    if raw.name.trim().is_empty() {
        c.fail(&p("name"), "must not be empty");
    }
    let duration = raw
        .duration
        .as_ref()
        .map(|d| c.checked_duration(&p("duration"), d));
    let duration_ok = duration != Some(None);
    let duration_ns = duration.map(|d| d.unwrap_or(0));
    if duration_ns == Some(0) && duration_ok {
        c.fail(&p("duration"), "must be longer than zero");
    }
    let bucket = match &raw.bucket {
        Some(text) => c.checked_duration(&p("bucket"), text),
        None => Some(NS_PER_MIN),
    };
    if bucket.is_some_and(|b| b < limits::MIN_BUCKET_NS) {
        c.fail(&p("bucket"), "must be at least 1ms");
    }
    let bucket_ns = bucket.unwrap_or(NS_PER_MIN);
    let warmup_ns = c.duration_or(&p("warmup"), &raw.warmup, 0);
    let drain_limit_ns = c.duration_or(&p("drain_limit"), &raw.drain_limit, 60 * NS_PER_MIN);
    // Cross-checks only between values that are themselves right: one bad value, one error.
    if let (Some(d), true) = (
        duration_ns.filter(|&d| d > 0),
        duration_ok && bucket.is_some_and(|b| b >= limits::MIN_BUCKET_NS),
    ) {
        if warmup_ns >= d {
            c.fail(&p("warmup"), "must be shorter than `duration`");
        }
        if (d + drain_limit_ns) / bucket_ns > limits::MAX_BUCKETS {
            c.fail(
                &p("bucket"),
                format!(
                    "too fine: more than {} rows of time series; use a wider bucket",
                    limits::MAX_BUCKETS
                ),
            );
        }
    }

    if raw.providers.is_empty() || raw.providers.len() > limits::MAX_PROVIDERS {
        c.fail(
            &p("providers"),
            format!("needs 1 to {} providers", limits::MAX_PROVIDERS),
        );
    }
    check_unique_names(
        raw.providers.iter().map(|x| x.name.as_str()),
        &p("providers"),
        &mut c.problems,
    );
    let providers: Vec<ProviderModel> = raw
        .providers
        .iter()
        .enumerate()
        .map(|(i, x)| provider(&mut c, x, &format!("{}[{i}]", p("providers"))))
        .collect();

    if raw.traffic.is_empty() || raw.traffic.len() > limits::MAX_GROUPS {
        c.fail(
            &p("traffic"),
            format!("needs 1 to {} client groups", limits::MAX_GROUPS),
        );
    }
    check_unique_names(
        raw.traffic.iter().map(|x| x.name.as_str()),
        &p("traffic"),
        &mut c.problems,
    );
    let groups: Vec<GroupModel> = raw
        .traffic
        .iter()
        .enumerate()
        .map(|(i, g)| group(&mut c, g, &providers, &format!("{}[{i}]", p("traffic"))))
        .collect();
    if duration_ns.is_none() && raw.traffic.iter().any(|g| g.max_requests.is_none()) {
        c.fail(
            &p("duration"),
            "needed unless every client group sets `max_requests`",
        );
    }
    let chaos = raw
        .chaos
        .as_ref()
        .and_then(|x| chaos(&mut c, x, &raw.traffic, &raw.providers, &p("chaos")));
    let slos = slos(&mut c, &raw.slos, &raw.traffic, &p("slos"));
    let expect = expectations(&mut c, raw.expect.as_ref(), &p("expect"));

    let scenario = Scenario {
        name: raw.name.clone(),
        description: raw.description.clone(),
        seed: raw.seed.unwrap_or(1),
        duration_ns,
        bucket_ns,
        warmup_ns,
        drain_limit_ns,
        groups,
        providers,
        chaos,
        slos,
        expect,
        overrides: Vec::new(),
    };
    if c.problems.is_empty() && scenario.groups.iter().all(offers_no_traffic) {
        c.fail(
            &join(prefix, "traffic"),
            "no group can send a request: every rate is zero and no schedule step or spike \
             raises it (the run would simulate nothing)",
        );
    }
    if c.problems.is_empty()
        && let Some((field, reason)) = super::estimate::refuse_if_too_large(&scenario)
    {
        c.fail(&join(prefix, &field), reason);
    }
    if c.problems.is_empty() {
        Ok(scenario)
    } else {
        Err(c.problems)
    }
}

/// A Poisson group whose rate is zero at every instant (closed-loop users always send).
fn offers_no_traffic(group: &GroupModel) -> bool {
    matches!(&group.arrivals, ArrivalModel::Poisson(profile) if profile.peak_rate_per_s() <= 0.0)
}

fn provider(c: &mut Checker, raw: &raw::Provider, path: &str) -> ProviderModel {
    let p = |field: &str| join(path, field);
    if raw.models.is_empty() || raw.models.len() > limits::MAX_MODELS_PER_PROVIDER {
        c.fail(
            &p("models"),
            format!("needs 1 to {} models", limits::MAX_MODELS_PER_PROVIDER),
        );
    }
    check_unique_names(
        raw.models.iter().map(|m| m.name.as_str()),
        &p("models"),
        &mut c.problems,
    );
    let models = raw
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mp = format!("{}[{i}]", p("models"));
            let price = |c: &mut Checker, field: &str, x: f64| {
                c.number(&join(&mp, field), x, 0.0, 1e6) * 1000.0
            };
            ModelSpec {
                name: m.name.clone(),
                input_nusd_per_token: price(c, "input_usd_per_mtok", m.input_usd_per_mtok),
                output_nusd_per_token: price(c, "output_usd_per_mtok", m.output_usd_per_mtok),
                context_window: c.int_in(
                    &join(&mp, "context_window"),
                    m.context_window.unwrap_or(128_000),
                    1,
                    limits::MAX_TOKENS,
                ),
                ttft: c.dist(&join(&mp, "ttft"), &m.ttft, Unit::Seconds),
                per_token: c.dist(&join(&mp, "per_token"), &m.per_token, Unit::Seconds),
                limits: m
                    .rate_limits
                    .as_ref()
                    .map(|l| limit_spec(c, l, &join(&mp, "rate_limits"))),
            }
        })
        .collect();

    let (slots, queue_limit, overload) = match &raw.capacity {
        None => (None, 0, Failure::Http503),
        Some(cap) => {
            let slots = c.int_in(&p("capacity.slots"), cap.slots, 1, limits::MAX_SLOTS);
            // Default queue: four requests waiting per slot, a common server backlog, within
            // the queue's own limit (an error about a field the user never wrote helps nobody).
            let default_queue = slots.saturating_mul(4).min(limits::MAX_QUEUE_LIMIT);
            let queue = c.int_in(
                &p("capacity.queue_limit"),
                cap.queue_limit.unwrap_or(default_queue),
                0,
                limits::MAX_QUEUE_LIMIT,
            );
            let overload = match cap.overload_status.unwrap_or(503) {
                503 => Failure::Http503,
                529 => Failure::Http529,
                other => {
                    c.fail(
                        &p("capacity.overload_status"),
                        format!("{other}: overload answers are 503 or 529"),
                    );
                    Failure::Http503
                }
            };
            (Some(slots), queue, overload)
        }
    };
    let limits = raw
        .rate_limits
        .as_ref()
        .map(|l| limit_spec(c, l, &p("rate_limits")));
    let retry_after = c
        .choice(
            &p("retry_after"),
            raw.retry_after.as_deref().unwrap_or("exact"),
            &[
                ("exact", RetryAfterUnit::Exact),
                ("milliseconds", RetryAfterUnit::Milliseconds),
                ("seconds", RetryAfterUnit::Seconds),
            ],
        )
        .unwrap_or(RetryAfterUnit::Exact);

    let mut errors = ErrorModel::default();
    let mut status_total = 0.0;
    for (key, &prob) in &raw.errors {
        let ep = p(&format!("errors.{key}"));
        let prob = c.probability(&ep, prob);
        if key == "hang" {
            errors.hang = prob;
            continue;
        }
        let failure = key
            .parse::<u16>()
            .ok()
            .and_then(Failure::from_status)
            .filter(|f| f.is_server_error());
        match failure {
            Some(f) => {
                status_total += prob;
                errors.statuses.push((status_total, f));
            }
            None => c.fail(
                &ep,
                "unknown error kind; expected one of: 500, 502, 503, 529, hang",
            ),
        }
    }
    if errors.hang + status_total > 1.0 {
        c.fail(
            &p("errors"),
            "the error probabilities add up to more than 1",
        );
    }
    let error_latency = match &raw.error_latency {
        Some(v) => c.dist(&p("error_latency"), v, Unit::Seconds),
        // An error page comes back fast; 50 ms is a typical gateway round trip.
        None => Dist::constant(0.05),
    };

    let outages = raw
        .outages
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let op = format!("{}[{i}]", p("outages"));
            let start_ns = c.duration(&join(&op, "start"), &o.start);
            let length_ns = c.duration(&join(&op, "duration"), &o.duration);
            ScheduledOutage {
                start_ns,
                end_ns: start_ns.saturating_add(length_ns),
                effect: outage_effect(c, &o.effect(), &op),
                in_progress: in_progress(c, &o.effect(), &op),
            }
        })
        .collect();
    let random_outages = raw.random_outages.as_ref().map(|r| {
        let rp = p("random_outages");
        RandomOutages {
            mtbf_ns: c.positive_duration_or(&join(&rp, "mtbf"), &Some(r.mtbf.clone()), 0),
            mttr_ns: c.positive_duration_or(&join(&rp, "mttr"), &Some(r.mttr.clone()), 0),
            effect: outage_effect(c, &r.effect(), &rp),
            in_progress: in_progress(c, &r.effect(), &rp),
        }
    });
    let credits_exhausted = match raw.credits.as_ref().and_then(|cr| cr.exhausted_status) {
        None | Some(402) => Failure::InsufficientCredits,
        Some(429) => Failure::InsufficientQuota,
        Some(other) => {
            c.fail(
                &p("credits.exhausted_status"),
                format!("{other}: an account out of credits answers 402 or 429"),
            );
            Failure::InsufficientCredits
        }
    };
    let credits = raw.credits.as_ref().map(|cr| {
        let cp = p("credits");
        let balance = c.number(&join(&cp, "balance_usd"), cr.balance_usd, 0.0, 1e9);
        let mut top_ups: Vec<(Nanos, u64)> = cr
            .top_ups
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let tp = format!("{}[{i}]", join(&cp, "top_ups"));
                (
                    c.duration(&join(&tp, "at"), &t.at),
                    usd_to_nano(c.number(&join(&tp, "amount_usd"), t.amount_usd, 0.0, 1e9)),
                )
            })
            .collect();
        top_ups.sort_by_key(|(at, _)| *at);
        let auto_recharge = cr.auto_recharge.as_ref().map(|a| {
            let ap = join(&cp, "auto_recharge");
            AutoRecharge {
                below_nusd: usd_to_nano(c.number(&join(&ap, "below_usd"), a.below_usd, 0.0, 1e9)),
                amount_nusd: usd_to_nano(c.number(
                    &join(&ap, "amount_usd"),
                    a.amount_usd,
                    0.0,
                    1e9,
                )),
                delay_ns: c.duration_or(&join(&ap, "delay"), &a.delay, 0),
            }
        });
        CreditsModel {
            initial_nusd: usd_to_nano(balance),
            top_ups,
            auto_recharge,
        }
    });

    ProviderModel {
        name: raw.name.clone(),
        models,
        slots,
        queue_limit,
        overload,
        limits,
        retry_after,
        credits_exhausted,
        errors,
        error_latency,
        outages,
        random_outages,
        credits,
    }
}

/// One block of rate limits (a provider's or a model's).
fn limit_spec(c: &mut Checker, raw: &raw::RateLimits, path: &str) -> LimitSpec {
    let rate = |c: &mut Checker, field: &str, x: Option<f64>| {
        x.map(|v| {
            let v = c.number(&join(path, field), v, 0.0, 1e12);
            if v == 0.0 {
                c.fail(
                    &join(path, field),
                    "must be > 0 (leave it out for no limit)",
                );
            }
            v
        })
    };
    let burst_ns = match &raw.burst {
        Some(text) => {
            let bp = join(path, "burst");
            let ns = c.positive_duration(&bp, text);
            if ns > NS_PER_MIN {
                c.fail(
                    &bp,
                    "a bucket holds at most the minute its limit is counted over (\"1m\")",
                );
            }
            ns.clamp(1, NS_PER_MIN)
        }
        None => NS_PER_MIN,
    };
    let tpm_counts = c
        .choice(
            &join(path, "tpm_counts"),
            raw.tpm_counts.as_deref().unwrap_or("input_plus_max_tokens"),
            &[
                ("input_plus_max_tokens", TpmCounts::InputPlusMaxTokens),
                (
                    "larger_of_input_and_max_tokens",
                    TpmCounts::LargerOfInputAndMaxTokens,
                ),
            ],
        )
        .unwrap_or(TpmCounts::InputPlusMaxTokens);
    let spec = LimitSpec {
        rpm: rate(c, "rpm", raw.rpm),
        tpm: rate(c, "tpm", raw.tpm),
        tpm_counts,
        itpm: rate(c, "itpm", raw.itpm),
        otpm: rate(c, "otpm", raw.otpm),
        burst_ns,
        count_rejected: raw.count_rejected.unwrap_or(false),
    };
    if raw.tpm_counts.is_some() && raw.tpm.is_none() {
        c.fail(
            &join(path, "tpm_counts"),
            "says how `tpm` counts a request, but this block has no `tpm`",
        );
    }
    if spec.tpm.is_some() && (spec.itpm.is_some() || spec.otpm.is_some()) {
        c.fail(
            path,
            "has both `tpm` (total tokens, OpenAI's way) and `itpm`/`otpm` (input and output \
             apart, Anthropic's way); a provider counts tokens one way: keep one",
        );
    }
    spec
}

/// What a hard outage does to accepted work (`fail` unless said); only for kind `down`,
/// since a brownout leaves that work alone anyway.
fn in_progress(c: &mut Checker, raw: &raw::OutageEffect<'_>, path: &str) -> InProgress {
    let Some(text) = raw.in_progress.as_deref() else {
        return InProgress::Fail;
    };
    if raw.kind.as_deref() == Some("brownout") {
        c.fail(
            &join(path, "in_progress"),
            "applies only to `kind: \"down\"` (a brownout leaves accepted work alone)",
        );
    }
    c.choice(
        &join(path, "in_progress"),
        text,
        &[("fail", InProgress::Fail), ("finish", InProgress::Finish)],
    )
    .unwrap_or(InProgress::Fail)
}

fn outage_effect(c: &mut Checker, raw: &raw::OutageEffect<'_>, path: &str) -> OutageEffect {
    let kind = raw.kind.as_deref().unwrap_or("down");
    let statuses = raw::outage_status_codes();
    let listed = statuses
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let status = |c: &mut Checker, field: &str, code: u16| match Failure::from_status(code)
        .filter(|_| statuses.contains(&code))
    {
        Some(f) => f,
        None => {
            c.fail(
                &join(path, field),
                format!("{code}: expected one of {listed}"),
            );
            Failure::Http503
        }
    };
    match c.choice(
        &join(path, "kind"),
        kind,
        &[("down", true), ("brownout", false)],
    ) {
        Some(true) | None => {
            for (field, set) in [
                ("error_rate", raw.error_rate.is_some()),
                ("latency_multiplier", raw.latency_multiplier.is_some()),
            ] {
                if set {
                    c.fail(&join(path, field), "applies only to `kind: \"brownout\"`");
                }
            }
            let behaviour = raw.behaviour.as_deref().unwrap_or("refuse");
            let b = match behaviour {
                "refuse" => DownBehaviour::Refuse,
                "hang" => DownBehaviour::Hang,
                other => match other.parse::<u16>() {
                    Ok(code) => DownBehaviour::Status(status(c, "behaviour", code)),
                    Err(_) => {
                        c.fail(&join(path, "behaviour"), format!("unknown value `{other}`; expected refuse, hang, or a status: {listed}"));
                        DownBehaviour::Refuse
                    }
                },
            };
            OutageEffect::Down(b)
        }
        Some(false) => {
            if raw.behaviour.is_some() {
                c.fail(&join(path, "behaviour"), "applies only to `kind: \"down\"`");
            }
            OutageEffect::Brownout {
                error_rate: c.probability(&join(path, "error_rate"), raw.error_rate.unwrap_or(0.0)),
                error: status(c, "error_status", raw.error_status.unwrap_or(503)),
                latency_multiplier: c.number(
                    &join(path, "latency_multiplier"),
                    raw.latency_multiplier.unwrap_or(1.0),
                    0.0,
                    1e6,
                ),
            }
        }
    }
}

fn resolve_target(
    c: &mut Checker,
    providers: &[ProviderModel],
    provider: Option<&str>,
    model: &str,
    path: &str,
) -> TargetRef {
    let candidates: Vec<(usize, usize)> = providers
        .iter()
        .enumerate()
        .filter(|(_, p)| provider.is_none_or(|name| p.name == name))
        .filter_map(|(pi, p)| {
            p.models
                .iter()
                .position(|m| m.name == model)
                .map(|mi| (pi, mi))
        })
        .collect();
    match (candidates.as_slice(), provider) {
        ([(pi, mi)], _) => TargetRef {
            provider: *pi as u16,
            model: *mi as u16,
        },
        ([], Some(name)) if !providers.iter().any(|p| p.name == name) => {
            let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
            let hint = nearest_name(name, &names)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            c.fail(
                &join(path, "provider"),
                format!(
                    "no provider named `{name}`{hint}; providers: {}",
                    names.join(", ")
                ),
            );
            TargetRef {
                provider: 0,
                model: 0,
            }
        }
        ([], _) => {
            let names: Vec<&str> = providers
                .iter()
                .filter(|p| provider.is_none_or(|name| p.name == name))
                .flat_map(|p| p.models.iter().map(|m| m.name.as_str()))
                .collect();
            let hint = nearest_name(model, &names)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            c.fail(
                &join(path, "model"),
                format!(
                    "no model named `{model}`{hint}; models: {}",
                    names.join(", ")
                ),
            );
            TargetRef {
                provider: 0,
                model: 0,
            }
        }
        (many, _) => {
            let names: Vec<&str> = many
                .iter()
                .map(|(pi, _)| providers[*pi].name.as_str())
                .collect();
            c.fail(
                &join(path, "provider"),
                format!(
                    "model `{model}` is served by several providers ({}); name one",
                    names.join(", ")
                ),
            );
            TargetRef {
                provider: many[0].0 as u16,
                model: many[0].1 as u16,
            }
        }
    }
}

/// The fields that belong to one arrival type only, set where they do not belong.
fn misplaced_arrival_fields(c: &mut Checker, a: &raw::Arrivals, ap: &str, kind: raw::ArrivalKind) {
    use raw::ArrivalKind::{ClosedLoop, Poisson, Replay};
    let fields = [
        ("rate", a.rate.is_some(), Poisson),
        ("diurnal", a.diurnal.is_some(), Poisson),
        ("schedule", !a.schedule.is_empty(), Poisson),
        ("spikes", !a.spikes.is_empty(), Poisson),
        ("users", a.users.is_some(), ClosedLoop),
        ("think_time", a.think_time.is_some(), ClosedLoop),
        ("file", a.file.is_some(), Replay),
        ("time_column", a.time_column.is_some(), Replay),
        ("time_unit", a.time_unit.is_some(), Replay),
        ("time_origin", a.time_origin.is_some(), Replay),
        ("rate_scale", a.rate_scale.is_some(), Replay),
        ("time_shift", a.time_shift.is_some(), Replay),
    ];
    for (field, set, owner) in fields {
        if set && owner != kind {
            let name = match owner {
                Poisson => "poisson",
                ClosedLoop => "closed_loop",
                Replay => "replay",
            };
            c.fail(
                &join(ap, field),
                format!("applies only to `type: \"{name}\"`"),
            );
        }
    }
}

/// `arrivals: {type: "replay"}`. The file's path is resolved and opened once the scenario
/// is built (`scenario::check_replay_files`), where the scenario file's place is known.
fn replay(c: &mut Checker, a: &raw::Arrivals, ap: &str) -> ArrivalModel {
    misplaced_arrival_fields(c, a, ap, raw::ArrivalKind::Replay);
    let file = match a.file.as_deref() {
        Some(f) if !f.trim().is_empty() => f.to_string(),
        _ => {
            c.fail(
                &join(ap, "file"),
                "a replay group needs the `file` it replays",
            );
            String::new()
        }
    };
    let time_column = a.time_column.clone().unwrap_or_else(|| "t_ns".to_string());
    if time_column.trim().is_empty() {
        c.fail(&join(ap, "time_column"), "must not be empty");
    }
    let unit = match a.time_unit {
        Some(raw::TimeUnit::Ns) => TimeUnit::Ns,
        Some(raw::TimeUnit::Us) => TimeUnit::Us,
        Some(raw::TimeUnit::Ms) => TimeUnit::Ms,
        Some(raw::TimeUnit::S) => TimeUnit::S,
        None => TimeUnit::from_column_name(&time_column),
    };
    let time_shift_ns = match a.time_shift.as_deref().map(str::trim) {
        None => 0,
        Some(text) => {
            let (sign, magnitude) = match text.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, text),
            };
            let ns = c.duration(&join(ap, "time_shift"), magnitude);
            sign * i64::try_from(ns).unwrap_or(i64::MAX)
        }
    };
    ArrivalModel::Replay(ReplaySpec {
        file: file.into(),
        time_column,
        unit,
        from_first: a.time_origin == Some(raw::TimeOrigin::First),
        rate_scale: c.number(
            &join(ap, "rate_scale"),
            a.rate_scale.unwrap_or(1.0),
            0.0,
            1000.0,
        ),
        time_shift_ns,
    })
}

fn group(
    c: &mut Checker,
    raw: &raw::ClientGroup,
    providers: &[ProviderModel],
    path: &str,
) -> GroupModel {
    let p = |field: &str| join(path, field);
    let a = &raw.arrivals;
    let ap = p("arrivals");
    let arrivals = match a.kind {
        raw::ArrivalKind::Poisson => {
            misplaced_arrival_fields(c, a, &ap, raw::ArrivalKind::Poisson);
            let base_per_s = match &a.rate {
                Some(r) => c.rate(&join(&ap, "rate"), r),
                None if !a.schedule.is_empty() => 0.0,
                None => {
                    c.fail(
                        &join(&ap, "rate"),
                        "a poisson group needs `rate` (e.g. \"50/s\") or a `schedule`",
                    );
                    0.0
                }
            };
            let mut schedule: Vec<(Nanos, f64)> = a
                .schedule
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let sp = format!("{}[{i}]", join(&ap, "schedule"));
                    (
                        c.duration(&join(&sp, "from"), &s.from),
                        c.rate(&join(&sp, "rate"), &s.rate),
                    )
                })
                .collect();
            if schedule.windows(2).any(|w| w[0].0 >= w[1].0) {
                c.fail(
                    &join(&ap, "schedule"),
                    "steps must be in increasing order of `from`",
                );
            }
            schedule.sort_by_key(|s| s.0);
            let diurnal = a.diurnal.as_ref().map(|d| {
                let dp = join(&ap, "diurnal");
                Diurnal {
                    amplitude: c.number(&join(&dp, "amplitude"), d.amplitude, 0.0, 1.0),
                    period_ns: c.positive_duration_or(
                        &join(&dp, "period"),
                        &d.period,
                        24 * 60 * NS_PER_MIN,
                    ),
                    peak_ns: c.duration_or(&join(&dp, "peak_at"), &d.peak_at, 14 * 60 * NS_PER_MIN),
                }
            });
            let spikes = a
                .spikes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let sp = format!("{}[{i}]", join(&ap, "spikes"));
                    let start_ns = c.duration(&join(&sp, "start"), &s.start);
                    let length = c.duration(&join(&sp, "duration"), &s.duration);
                    Spike {
                        start_ns,
                        end_ns: start_ns.saturating_add(length),
                        multiplier: c.number(&join(&sp, "multiplier"), s.multiplier, 0.0, 1e6),
                    }
                })
                .collect();
            ArrivalModel::Poisson(RateProfile {
                base_per_s,
                schedule,
                diurnal,
                spikes,
            })
        }
        raw::ArrivalKind::Replay => replay(c, a, &ap),
        raw::ArrivalKind::ClosedLoop => {
            misplaced_arrival_fields(c, a, &ap, raw::ArrivalKind::ClosedLoop);
            let users = match a.users {
                Some(u) => c.int_in(&join(&ap, "users"), u, 1, limits::MAX_USERS),
                None => {
                    c.fail(&join(&ap, "users"), "a closed_loop group needs `users`");
                    1
                }
            };
            let think = match &a.think_time {
                Some(v) => c.dist(&join(&ap, "think_time"), v, Unit::Seconds),
                None => Dist::constant(0.0),
            };
            ArrivalModel::ClosedLoop { users, think }
        }
    };
    if raw.max_requests == Some(0) {
        c.fail(&p("max_requests"), "must be at least 1");
    }
    let r = &raw.request;
    let rp = p("request");
    let primary = resolve_target(c, providers, r.provider.as_deref(), &r.model, &rp);
    let request = RequestModel {
        input_tokens: c.dist(&join(&rp, "input_tokens"), &r.input_tokens, Unit::Count),
        output_tokens: c.dist(&join(&rp, "output_tokens"), &r.output_tokens, Unit::Count),
        // The seed's chat_completion default.
        max_tokens: c.int_in(
            &join(&rp, "max_tokens"),
            r.max_tokens.unwrap_or(1000),
            1,
            limits::MAX_TOKENS,
        ),
    };
    let policy = policy(c, &raw.policy, providers, primary, &p("policy"));
    GroupModel {
        name: raw.name.clone(),
        arrivals,
        max_requests: raw.max_requests,
        request,
        policy,
    }
}

fn policy(
    c: &mut Checker,
    raw: &raw::Policy,
    providers: &[ProviderModel],
    primary: TargetRef,
    path: &str,
) -> ClientPolicy {
    let p = |field: &str| join(path, field);
    let (connect, total) = raw
        .timeout
        .as_ref()
        .map_or((None, None), |t| (t.connect.clone(), t.total.clone()));
    // "none": a timer past any run (10 years), so no attempt ever ends by it.
    let or_none =
        |c: &mut Checker, field: &str, text: &Option<String>, default_ns: Nanos| match text
            .as_deref()
        {
            Some("none") => limits::MAX_DURATION_NS,
            _ => c.positive_duration_or(&p(field), text, default_ns),
        };
    let attempt_timeout_ns = or_none(c, "timeout.total", &total, 30 * NS_PER_S);
    let connect_timeout_ns =
        or_none(c, "timeout.connect", &connect, 10 * NS_PER_S).min(attempt_timeout_ns);
    let deadline_ns = match &raw.deadline {
        Some(d) => c.positive_duration_or(&p("deadline"), &Some(d.clone()), 0),
        None => Nanos::MAX,
    };

    let (max_attempts, retry) = retry_layer(c, raw.retry.as_ref(), &p("retry"));
    let outer_retries: Vec<RetryLayer> = raw
        .outer_retries
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let lp = format!("{}[{i}]", p("outer_retries"));
            let (max_attempts, policy) = retry_layer(c, Some(&layer.retry), &lp);
            let name = layer
                .name
                .clone()
                .unwrap_or_else(|| format!("outer {}", i + 1));
            RetryLayer {
                name,
                max_attempts,
                policy,
            }
        })
        .collect();
    if outer_retries.len() > MAX_OUTER_RETRY_LAYERS {
        c.fail(
            &p("outer_retries"),
            format!("at most {MAX_OUTER_RETRY_LAYERS} layers"),
        );
    }
    let breaker = raw.breaker.as_ref().map(|br| breaker(c, br, &p("breaker")));

    let mut chain = vec![ChainStep {
        target: primary,
        attempts: max_attempts,
    }];
    for (i, f) in raw.fallback.iter().enumerate() {
        let fp = format!("{}[{i}]", p("fallback"));
        let target = resolve_target(c, providers, f.provider.as_deref(), &f.model, &fp);
        let attempts = c.int_in(
            &join(&fp, "attempts"),
            f.attempts.unwrap_or(1),
            1,
            limits::MAX_ATTEMPTS_PER_TARGET,
        );
        chain.push(ChainStep { target, attempts });
    }
    if chain.len() > limits::MAX_CHAIN_LENGTH {
        c.fail(
            &p("fallback"),
            format!("at most {} fallback targets", limits::MAX_CHAIN_LENGTH - 1),
        );
    }
    let retry_budget = raw
        .retry_budget
        .as_ref()
        .map(|b| retry_budget(c, b, &p("retry_budget")));
    let adaptive_throttling = raw.adaptive_throttling.as_ref().map(|t| {
        let tp = p("adaptive_throttling");
        // The SRE book's K = 2 over about two minutes.
        let k = c.number(&join(&tp, "k"), t.k.unwrap_or(2.0), 1.0, 100.0);
        let window_ns = c.positive_duration_or(&join(&tp, "window"), &t.window, 120 * NS_PER_S);
        (
            k,
            (window_ns / NS_PER_S).clamp(1, u64::from(limits::MAX_BREAKER_WINDOW)) as u32,
        )
    });
    let cooldown = raw.cooldown.as_ref().map(|cd| {
        let cp = p("cooldown");
        // LiteLLM's defaults (cooldown_handlers.py, `_should_cooldown_deployment`): without
        // an explicit allowed_fails, more than half of at least 5 calls in the minute, or a
        // 429, cool a group of several deployments; a group of one cools only when all of at
        // least 1,000 calls failed. 5 s cooldown.
        let deployments = c.int_in(
            &join(&cp, "deployments"),
            cd.deployments.unwrap_or(1),
            1,
            1_000_000,
        );
        let several = deployments > 1;
        let allowed_fails = cd
            .allowed_fails
            .map(|n| c.int_in(&join(&cp, "allowed_fails"), n, 0, 1_000_000));
        let legacy = allowed_fails.is_some();
        let rate_set = cd.failure_rate.is_some() || cd.min_requests.is_some();
        let failure_rate = if rate_set || (several && !legacy) {
            Some((
                c.probability(&join(&cp, "failure_rate"), cd.failure_rate.unwrap_or(0.5)),
                c.int_in(
                    &join(&cp, "min_requests"),
                    cd.min_requests.unwrap_or(5),
                    1,
                    1_000_000,
                ),
            ))
        } else {
            None
        };
        let all_failed_min_requests = match (cd.all_failed_min_requests, legacy) {
            (Some(n), _) => {
                Some(c.int_in(&join(&cp, "all_failed_min_requests"), n, 1, 1_000_000_000))
            }
            (None, false) => Some(1000),
            (None, true) => None,
        };
        CooldownConfig {
            allowed_fails,
            failure_rate,
            all_failed_min_requests,
            cooldown_ns: c.positive_duration_or(&join(&cp, "cooldown"), &cd.cooldown, 5 * NS_PER_S),
            cool_on_429: cd.cool_on_429.unwrap_or(several && !legacy),
        }
    });
    let credit_check = raw.credit_check.as_ref().map(|cc| {
        let cp = p("credit_check");
        CreditCheck {
            margin: c.number(&join(&cp, "margin"), cc.margin.unwrap_or(1.0), 0.0, 1e6),
            alert_below_nusd: usd_to_nano(c.number(
                &join(&cp, "alert_below_usd"),
                cc.alert_below_usd.unwrap_or(0.0),
                0.0,
                1e9,
            )),
            route_to_next: cc.route_to_next.unwrap_or(true),
        }
    });
    let hedging = raw.hedging.as_ref().map(|h| {
        let hp = p("hedging");
        // Polly v8's defaults: one hedge after 2 s.
        Hedging {
            delay_ns: c.duration_or(&join(&hp, "delay"), &h.delay, 2 * NS_PER_S),
            max_hedged_attempts: c.int_in(
                &join(&hp, "max_hedged_attempts"),
                h.max_hedged_attempts.unwrap_or(1),
                1,
                10,
            ) as u8,
        }
    });
    let rate_limiter = raw.rate_limiter.as_ref().map(|l| {
        let lp = p("rate_limiter");
        let per_minute = |c: &mut Checker, field: &str, value: Option<f64>| {
            value.map(|v| {
                let v = c.number(&join(&lp, field), v, 0.0, 1e12);
                if v == 0.0 {
                    c.fail(&join(&lp, field), "must be > 0 (leave it out for no limit)");
                }
                v.max(1e-9)
            })
        };
        let limiter = ClientRateLimiter {
            rpm: per_minute(c, "rpm", l.rpm),
            tpm: per_minute(c, "tpm", l.tpm),
            max_wait_ns: c.duration_or(&join(&lp, "max_wait"), &l.max_wait, 0),
        };
        if limiter.rpm.is_none() && limiter.tpm.is_none() {
            c.fail(&lp, "needs `rpm`, `tpm` or both");
        }
        limiter
    });
    let bulkhead = raw.bulkhead.as_ref().map(|b| {
        let bp = p("bulkhead");
        Bulkhead {
            max_in_flight: c.int_in(
                &join(&bp, "max_in_flight"),
                b.max_in_flight,
                1,
                limits::MAX_SLOTS,
            ),
            max_queue: c.int_in(
                &join(&bp, "max_queue"),
                b.max_queue.unwrap_or(0),
                0,
                limits::MAX_QUEUE_LIMIT,
            ),
            max_wait_ns: c.duration_or(&join(&bp, "max_wait"), &b.max_wait, 0),
        }
    });
    ClientPolicy {
        rate_limiter,
        bulkhead,
        hedging,
        retry_budget,
        adaptive_throttling,
        cooldown,
        credit_check,
        connect_timeout_ns,
        attempt_timeout_ns,
        deadline_ns,
        retry,
        outer_retries,
        breaker,
        chain,
    }
}

/// A retry budget, with each kind's defaults: Finagle's, Envoy's, gRFC A6's example, AWS's.
fn retry_budget(c: &mut Checker, b: &raw::RetryBudget, path: &str) -> RetryBudgetConfig {
    let field = |name: &str| join(path, name);
    let kinds = ["percent", "concurrency", "grpc", "aws"];
    let applies: &[&str] = match b.kind.as_str() {
        "percent" => &["percent", "min_per_s", "ttl"],
        "concurrency" => &["percent", "min_concurrency"],
        "grpc" => &["max_tokens", "token_ratio"],
        "aws" => &["capacity", "retry_cost", "timeout_cost", "no_retry_refund"],
        other => {
            let hint = nearest_name(other, &kinds)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            c.fail(
                &field("kind"),
                format!(
                    "unknown value `{other}`{hint}; expected one of: {}",
                    kinds.join(", ")
                ),
            );
            return RetryBudgetConfig::Concurrency {
                percent: 20.0,
                min_concurrency: 3,
            };
        }
    };
    for (name, set) in [
        ("percent", b.percent.is_some()),
        ("min_per_s", b.min_per_s.is_some()),
        ("ttl", b.ttl.is_some()),
        ("min_concurrency", b.min_concurrency.is_some()),
        ("max_tokens", b.max_tokens.is_some()),
        ("token_ratio", b.token_ratio.is_some()),
        ("capacity", b.capacity.is_some()),
        ("retry_cost", b.retry_cost.is_some()),
        ("timeout_cost", b.timeout_cost.is_some()),
        ("no_retry_refund", b.no_retry_refund.is_some()),
    ] {
        if set && !applies.contains(&name) {
            c.fail(
                &field(name),
                format!(
                    "does not apply to `kind: \"{}\"` (its fields: {})",
                    b.kind,
                    applies.join(", ")
                ),
            );
        }
    }
    match b.kind.as_str() {
        "percent" => {
            let ttl_ns = c.positive_duration_or(&field("ttl"), &b.ttl, 10 * NS_PER_S);
            RetryBudgetConfig::Percent {
                percent: c.number(&field("percent"), b.percent.unwrap_or(20.0), 0.0, 1000.0),
                min_per_s: c.number(&field("min_per_s"), b.min_per_s.unwrap_or(10.0), 0.0, 1e6),
                ttl_s: (ttl_ns / NS_PER_S).clamp(1, u64::from(limits::MAX_BREAKER_WINDOW)) as u32,
            }
        }
        "concurrency" => RetryBudgetConfig::Concurrency {
            percent: c.number(&field("percent"), b.percent.unwrap_or(20.0), 0.0, 1000.0),
            min_concurrency: c.int_in(
                &field("min_concurrency"),
                b.min_concurrency.unwrap_or(3),
                0,
                u32::MAX,
            ),
        },
        "grpc" => {
            let max_tokens = c.number(
                &field("max_tokens"),
                b.max_tokens.unwrap_or(10.0),
                1.0,
                1000.0,
            );
            RetryBudgetConfig::Grpc {
                max_tokens,
                token_ratio: c.number(
                    &field("token_ratio"),
                    b.token_ratio.unwrap_or(0.1),
                    0.001,
                    max_tokens,
                ),
            }
        }
        _ => RetryBudgetConfig::Aws {
            capacity: c.int_in(&field("capacity"), b.capacity.unwrap_or(500), 1, u32::MAX),
            retry_cost: c.int_in(&field("retry_cost"), b.retry_cost.unwrap_or(5), 0, 10_000),
            timeout_cost: c.int_in(
                &field("timeout_cost"),
                b.timeout_cost.unwrap_or(10),
                0,
                10_000,
            ),
            no_retry_refund: c.int_in(
                &field("no_retry_refund"),
                b.no_retry_refund.unwrap_or(1),
                0,
                10_000,
            ),
        },
    }
}

/// A retry layer: attempts, retryable outcomes, backoff, Retry-After (the client's own
/// `retry`, or an outer layer wrapping it).
fn retry_layer(c: &mut Checker, retry: Option<&raw::Retry>, path: &str) -> (u32, RetryPolicy) {
    let rp = path.to_string();
    let max_attempts = c.int_in(
        &join(&rp, "max_attempts"),
        retry.and_then(|r| r.max_attempts).unwrap_or(3),
        1,
        limits::MAX_ATTEMPTS_PER_TARGET,
    );
    let retry_on = match retry.and_then(|r| r.retry_on.as_ref()) {
        Some(names) => c.failure_set(&join(&rp, "retry_on"), names),
        None => default_retry_on(),
    };
    let b = retry.and_then(|r| r.backoff.as_ref());
    let bp = join(&rp, "backoff");
    let kind = b.and_then(|b| b.kind.as_deref()).unwrap_or("exponential");
    let kind = c
        .choice(
            &join(&bp, "kind"),
            kind,
            &[
                ("constant", BackoffKind::Constant),
                ("linear", BackoffKind::Linear),
                ("exponential", BackoffKind::Exponential),
            ],
        )
        .unwrap_or(BackoffKind::Exponential);
    let jitter_name = b.and_then(|b| b.jitter.as_deref()).unwrap_or("none");
    let ratio = |c: &mut Checker, default: f64| {
        c.number(
            &join(&bp, "jitter_ratio"),
            b.and_then(|b| b.jitter_ratio).unwrap_or(default),
            0.0,
            1.0,
        )
    };
    let jitter = match jitter_name {
        "none" => Jitter::None,
        "full" => Jitter::Full,
        "equal" => Jitter::Equal,
        "decorrelated" => Jitter::Decorrelated,
        "decorrelated_v2" => Jitter::DecorrelatedV2,
        // openai-python's 0.25; resilience4j's randomization factor 0.5.
        "proportional" => Jitter::Proportional {
            ratio: ratio(c, 0.25),
        },
        "randomized" => Jitter::Randomized {
            ratio: ratio(c, 0.5),
        },
        // LiteLLM's 0.75 s.
        "additive" => Jitter::Additive {
            max_ns: c.duration_or(
                &join(&bp, "jitter_max"),
                &b.and_then(|b| b.jitter_max.clone()),
                750 * NS_PER_MS,
            ),
        },
        other => {
            let kinds = crate::policy::backoff::JITTER_NAMES;
            let hint = nearest_name(other, kinds)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            c.fail(
                &join(&bp, "jitter"),
                format!(
                    "unknown value `{other}`{hint}; expected one of: {}",
                    kinds.join(", ")
                ),
            );
            Jitter::None
        }
    };
    if b.and_then(|b| b.jitter_ratio).is_some()
        && !matches!(
            jitter,
            Jitter::Proportional { .. } | Jitter::Randomized { .. }
        )
    {
        c.fail(
            &join(&bp, "jitter_ratio"),
            "applies only to `jitter: \"proportional\"` or `\"randomized\"`",
        );
    }
    if jitter == Jitter::DecorrelatedV2 && kind != BackoffKind::Exponential {
        // Polly applies V2 to its exponential backoff only (RetryHelper.GetRetryDelay).
        c.fail(
            &join(&bp, "jitter"),
            "`decorrelated_v2` is Polly's exponential backoff with jitter: it needs `kind: \"exponential\"`",
        );
    }
    if b.and_then(|b| b.jitter_max.as_ref()).is_some() && !matches!(jitter, Jitter::Additive { .. })
    {
        c.fail(
            &join(&bp, "jitter_max"),
            "applies only to `jitter: \"additive\"`",
        );
    }
    let backoff = Backoff {
        kind,
        base_ns: c.duration_or(
            &join(&bp, "base"),
            &b.and_then(|b| b.base.clone()),
            NS_PER_S,
        ),
        multiplier: c.number(
            &join(&bp, "multiplier"),
            b.and_then(|b| b.multiplier).unwrap_or(2.0),
            1.0,
            1e3,
        ),
        cap_ns: match b.and_then(|b| b.cap.as_deref()) {
            // Polly's MaxDelay left unset: no cap but the 10-year limit on durations.
            Some("none") => limits::MAX_DURATION_NS,
            cap => c.duration_or(&join(&bp, "cap"), &cap.map(str::to_string), 60 * NS_PER_S),
        },
        jitter,
    };
    let ra = retry.and_then(|r| r.retry_after.as_ref());
    let rap = join(&rp, "retry_after");
    let above_max = ra.and_then(|r| r.above_max.as_deref()).unwrap_or("cap");
    let retry_after = RetryAfterPolicy {
        honour: ra.and_then(|r| r.honour).unwrap_or(true),
        max_ns: match ra.and_then(|r| r.max.as_deref()) {
            // Any value honoured (Microsoft's RetryAfterHelper): the 10-year duration limit.
            Some("none") => limits::MAX_DURATION_NS,
            max => c.duration_or(&join(&rap, "max"), &max.map(str::to_string), 60 * NS_PER_S),
        },
        above_max: c
            .choice(
                &join(&rap, "above_max"),
                above_max,
                &[
                    ("cap", AboveMax::Cap),
                    ("give_up", AboveMax::GiveUp),
                    ("backoff", AboveMax::UseBackoff),
                ],
            )
            .unwrap_or(AboveMax::Cap),
        combine: c
            .choice(
                &join(&rap, "combine"),
                ra.and_then(|r| r.combine.as_deref()).unwrap_or("max"),
                &[("max", Combine::Max), ("replace", Combine::Replace)],
            )
            .unwrap_or(Combine::Max),
    };

    (
        max_attempts,
        RetryPolicy {
            retry_on,
            backoff,
            retry_after,
        },
    )
}

#[derive(Clone, Copy, PartialEq)]
enum BreakerKind {
    Consecutive,
    CountWindow,
    TimeWindow,
}

/// A breaker's settings, with each family's defaults: the seed's for `consecutive`,
/// resilience4j's for `count_window`, Polly v8's for `time_window`.
fn breaker(c: &mut Checker, br: &raw::Breaker, kp: &str) -> BreakerConfig {
    let field = |name: &str| join(kp, name);
    let kind = c
        .choice(
            &field("kind"),
            br.kind.as_deref().unwrap_or("consecutive"),
            &[
                ("consecutive", BreakerKind::Consecutive),
                ("count_window", BreakerKind::CountWindow),
                ("time_window", BreakerKind::TimeWindow),
            ],
        )
        .unwrap_or(BreakerKind::Consecutive);
    let only_for = |c: &mut Checker, name: &str, set: bool, kinds: &[BreakerKind], which: &str| {
        if set && !kinds.contains(&kind) {
            c.fail(&field(name), format!("applies only to `kind: {which}`"));
        }
    };
    use BreakerKind::*;
    only_for(
        c,
        "failure_threshold",
        br.failure_threshold.is_some(),
        &[Consecutive],
        "\"consecutive\"",
    );
    only_for(
        c,
        "window_size",
        br.window_size.is_some(),
        &[CountWindow],
        "\"count_window\"",
    );
    only_for(
        c,
        "window",
        br.window.is_some(),
        &[TimeWindow],
        "\"time_window\"",
    );
    let applies_to = c
        .choice(
            &field("applies_to"),
            br.applies_to.as_deref().unwrap_or("all"),
            &[("all", AppliesTo::All), ("retries", AppliesTo::Retries)],
        )
        .unwrap_or(AppliesTo::All);
    if applies_to == AppliesTo::Retries {
        // A retry breaker is open exactly while its window trips: first tries keep sampling
        // it, so it has no open wait and no probes to configure.
        for (name, set) in [
            ("open_duration", br.open_duration.is_some()),
            ("open_multiplier", br.open_multiplier.is_some()),
            ("max_open_duration", br.max_open_duration.is_some()),
            ("half_open_probes", br.half_open_probes.is_some()),
            ("max_half_open_wait", br.max_half_open_wait.is_some()),
            (
                "hold_open_for_retry_after",
                br.hold_open_for_retry_after.is_some(),
            ),
        ] {
            if set {
                c.fail(
                    &field(name),
                    "applies only to `applies_to: \"all\"`: a breaker that stops retries only is open exactly while its window trips, with no open wait and no probes",
                );
            }
        }
    }
    let windowed = &[CountWindow, TimeWindow];
    for (name, set) in [
        ("minimum_calls", br.minimum_calls.is_some()),
        (
            "failure_rate_threshold",
            br.failure_rate_threshold.is_some(),
        ),
        (
            "slow_call_rate_threshold",
            br.slow_call_rate_threshold.is_some(),
        ),
        ("slow_call_duration", br.slow_call_duration.is_some()),
    ] {
        only_for(
            c,
            name,
            set,
            windowed,
            "\"count_window\" or \"time_window\"",
        );
    }
    let rate = |c: &mut Checker, name: &str, value: Option<f64>, default: f64| {
        let x = value.unwrap_or(default);
        if !(x > 0.0 && x <= 1.0) {
            c.fail(
                &field(name),
                format!("{x} is out of range; a rate threshold lies in (0, 1]"),
            );
            return default;
        }
        x
    };
    only_for(
        c,
        "sampling",
        br.sampling.is_some(),
        &[TimeWindow],
        "\"time_window\"",
    );
    let polly_sampling = c.choice(
        &field("sampling"),
        br.sampling.as_deref().unwrap_or("seconds"),
        &[("seconds", false), ("polly", true)],
    ) == Some(true);
    // Defaults per family: (open, probes, minimum calls, failure rate).
    let (open_default, probes_default, minimum_default, rate_default) = match kind {
        Consecutive => (30 * NS_PER_S, 1, 0, 1.0),
        CountWindow => (60 * NS_PER_S, 10, 100, 0.5),
        TimeWindow => (5 * NS_PER_S, 1, 100, 0.1),
    };
    // What every windowed rule shares: its rate thresholds and, for the time windows, the
    // calls needed before it judges.
    let thresholds = |c: &mut Checker| {
        (
            rate(
                c,
                "failure_rate_threshold",
                br.failure_rate_threshold,
                rate_default,
            ),
            rate(
                c,
                "slow_call_rate_threshold",
                br.slow_call_rate_threshold,
                1.0,
            ),
        )
    };
    let time_minimum_calls = |c: &mut Checker| {
        c.int_in(
            &field("minimum_calls"),
            br.minimum_calls.unwrap_or(minimum_default),
            1,
            u32::MAX,
        )
    };
    let trip = match kind {
        Consecutive => TripRule::Consecutive {
            // The seed's proxy: 5 failures.
            failures: c.int_in(
                &field("failure_threshold"),
                br.failure_threshold.unwrap_or(5),
                1,
                1_000_000,
            ),
        },
        CountWindow => {
            let size = c.int_in(
                &field("window_size"),
                br.window_size.unwrap_or(100),
                1,
                limits::MAX_BREAKER_WINDOW,
            );
            let minimum_calls = br.minimum_calls.unwrap_or(minimum_default.min(size));
            if minimum_calls > size {
                c.fail(
                    &field("minimum_calls"),
                    format!("{minimum_calls} calls can never be recorded in a window of {size}; at most `window_size`"),
                );
            }
            let (failure_rate, slow_rate) = thresholds(c);
            TripRule::CountWindow {
                size,
                minimum_calls,
                failure_rate,
                slow_rate,
            }
        }
        TimeWindow if polly_sampling => {
            let sampling_ns = c.positive_duration_or(&field("window"), &br.window, 30 * NS_PER_S);
            // Below 10 x 20 ms Polly keeps a single window (HealthMetrics.Create), not modelled.
            if sampling_ns < 200 * NS_PER_MS
                || sampling_ns / NS_PER_S > u64::from(limits::MAX_BREAKER_WINDOW)
            {
                c.fail(
                    &field("window"),
                    format!(
                        "Polly's sampling is 10 windows: from 200ms up to {}s",
                        limits::MAX_BREAKER_WINDOW
                    ),
                );
            }
            let minimum_calls = time_minimum_calls(c);
            let (failure_rate, slow_rate) = thresholds(c);
            TripRule::PollyWindows {
                sampling_ns: sampling_ns.max(200 * NS_PER_MS),
                minimum_calls,
                failure_rate,
                slow_rate,
            }
        }
        TimeWindow => {
            let window_ns = c.positive_duration_or(&field("window"), &br.window, 30 * NS_PER_S);
            if !window_ns.is_multiple_of(NS_PER_S)
                || window_ns / NS_PER_S > u64::from(limits::MAX_BREAKER_WINDOW)
            {
                c.fail(
                    &field("window"),
                    format!("the window is made of one-second buckets: a whole number of seconds up to {}", limits::MAX_BREAKER_WINDOW),
                );
            }
            let minimum_calls = time_minimum_calls(c);
            let (failure_rate, slow_rate) = thresholds(c);
            TripRule::TimeWindow {
                seconds: (window_ns / NS_PER_S).clamp(1, u64::from(limits::MAX_BREAKER_WINDOW))
                    as u32,
                minimum_calls,
                failure_rate,
                slow_rate,
            }
        }
    };
    let open_ns = c.positive_duration_or(&field("open_duration"), &br.open_duration, open_default);
    // A growing wait without a stated maximum grows without one (resilience4j's default).
    let growing = br.open_multiplier.is_some_and(|m| m > 1.0);
    let max_open_default = if growing {
        limits::MAX_DURATION_NS
    } else {
        open_ns
    };
    let max_open_ns = c.duration_or(
        &field("max_open_duration"),
        &br.max_open_duration,
        max_open_default,
    );
    if max_open_ns < open_ns {
        c.fail(
            &field("max_open_duration"),
            "must be at least `open_duration`",
        );
    }
    let instances = match br.scope.as_deref().unwrap_or("shared") {
        "shared" => {
            for (name, set) in [
                ("instances", br.instances.is_some()),
                ("assignment", br.assignment.is_some()),
            ] {
                if set {
                    c.fail(&field(name), "applies only to `scope: \"per_instance\"`");
                }
            }
            1
        }
        "per_instance" => c.int_in(
            &field("instances"),
            br.instances.unwrap_or(1),
            1,
            limits::MAX_BREAKER_INSTANCES,
        ),
        other => {
            c.fail(
                &field("scope"),
                format!("unknown value `{other}`; expected shared or per_instance"),
            );
            1
        }
    };
    BreakerConfig {
        trip,
        open_ns,
        open_multiplier: c.number(
            &field("open_multiplier"),
            br.open_multiplier.unwrap_or(1.0),
            1.0,
            1e3,
        ),
        max_open_ns,
        half_open_probes: c.int_in(
            &field("half_open_probes"),
            br.half_open_probes.unwrap_or(probes_default),
            1,
            1_000_000,
        ),
        max_half_open_wait_ns: c.duration_or(
            &field("max_half_open_wait"),
            &br.max_half_open_wait,
            0,
        ),
        counts: match &br.count_as_failure {
            Some(names) => c.failure_set(&field("count_as_failure"), names),
            None => default_breaker_counts(),
        },
        slow_call_ns: c.duration_or(
            &field("slow_call_duration"),
            &br.slow_call_duration,
            60 * NS_PER_S,
        ),
        hold_open_for_retry_after: br.hold_open_for_retry_after.unwrap_or(false),
        instances,
        assignment: c
            .choice(
                &field("assignment"),
                br.assignment.as_deref().unwrap_or("round_robin"),
                &[
                    ("round_robin", Assignment::RoundRobin),
                    ("random", Assignment::Random),
                ],
            )
            .unwrap_or(Assignment::RoundRobin),
        records: br.records.unwrap_or(true),
        applies_to,
    }
}

fn chaos(
    c: &mut Checker,
    raw: &raw::Chaos,
    groups: &[raw::ClientGroup],
    providers: &[raw::Provider],
    path: &str,
) -> Option<ChaosModel> {
    let p = |field: &str| join(path, field);
    let failure_rate = c.probability(&p("failure_rate"), raw.failure_rate);
    let mut weights = [1.0; 5];
    if let Some(map) = &raw.faults {
        weights = [0.0; 5];
        for (name, &w) in map {
            let names: Vec<&str> = ChaosFault::ALL.iter().map(|f| f.name()).collect();
            match ChaosFault::ALL.iter().position(|f| f.name() == name) {
                Some(i) => weights[i] = c.number(&p(&format!("faults.{name}")), w, 0.0, 1e9),
                None => {
                    let hint = nearest_name(name, &names)
                        .map(|n| format!(" (did you mean `{n}`?)"))
                        .unwrap_or_default();
                    c.fail(
                        &p(&format!("faults.{name}")),
                        format!("unknown fault{hint}; expected one of: {}", names.join(", ")),
                    );
                }
            }
        }
    }
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        c.fail(&p("faults"), "at least one fault needs a weight > 0");
    }
    let mut cumulative_weights = [0.0; 5];
    let mut running = 0.0;
    for (i, w) in weights.iter().enumerate() {
        running += w;
        cumulative_weights[i] = if total > 0.0 { running / total } else { 1.0 };
    }
    let scope = |c: &mut Checker, field: &str, names: &[String], all: Vec<&str>| -> Vec<bool> {
        for (i, n) in names.iter().enumerate() {
            if !all.contains(&n.as_str()) {
                let hint = nearest_name(n, &all)
                    .map(|x| format!(" (did you mean `{x}`?)"))
                    .unwrap_or_default();
                c.fail(
                    &format!("{}[{i}]", p(field)),
                    format!("no such name `{n}`{hint}"),
                );
            }
        }
        all.iter()
            .map(|a| names.is_empty() || names.iter().any(|n| n == a))
            .collect()
    };
    let groups = scope(
        c,
        "groups",
        &raw.groups,
        groups.iter().map(|g| g.name.as_str()).collect(),
    );
    let providers = scope(
        c,
        "providers",
        &raw.providers,
        providers.iter().map(|x| x.name.as_str()).collect(),
    );
    let model = ChaosModel {
        failure_rate,
        cumulative_weights,
        // The seed's ChaosConfig: timeout_override 0.5 s, latency_injection 0.1 s in its example.
        timeout_after_ns: raw
            .timeout_after
            .as_ref()
            .map(|t| c.duration(&p("timeout_after"), t)),
        latency_ns: c.duration_or(&p("latency"), &raw.latency, 100 * NS_PER_MS),
        retry_after_ns: c.duration_or(&p("retry_after"), &raw.retry_after, NS_PER_S),
        start_ns: c.duration_or(&p("start"), &raw.start, 0),
        end_ns: c.duration_or(&p("end"), &raw.end, Nanos::MAX),
        groups,
        providers,
    };
    if model.start_ns >= model.end_ns {
        c.fail(&p("end"), "must be after `start`");
    }
    raw.enabled.unwrap_or(true).then_some(model)
}

fn slos(
    c: &mut Checker,
    raw: &[raw::Slo],
    groups: &[raw::ClientGroup],
    path: &str,
) -> Vec<SloModel> {
    check_unique_names(raw.iter().map(|s| s.name.as_str()), path, &mut c.problems);
    raw.iter()
        .enumerate()
        .filter_map(|(i, s)| slo(c, s, groups, &format!("{path}[{i}]")))
        .collect()
}

fn slo(
    c: &mut Checker,
    raw: &raw::Slo,
    groups: &[raw::ClientGroup],
    path: &str,
) -> Option<SloModel> {
    let p = |field: &str| join(path, field);
    let problems_before = c.problems.len();
    if raw.name.trim().is_empty() {
        c.fail(&p("name"), "must not be empty");
    }
    let group = raw.group.as_ref().and_then(|name| {
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        let found = names.iter().position(|n| n == name);
        if found.is_none() {
            let hint = nearest_name(name, &names)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            c.fail(
                &p("group"),
                format!(
                    "no client group named `{name}`{hint}; groups: {}",
                    names.join(", ")
                ),
            );
        }
        found.map(|g| g as u16)
    });
    let fraction = |c: &mut Checker, field: &str, x: f64| {
        if !(x > 0.0 && x < 1.0) {
            c.fail(
                &p(field),
                format!("{x} is not a target; it must lie strictly between 0 and 1 (e.g. 0.999)"),
            );
        }
        x
    };
    let (indicator, target) = match (raw.success_rate, &raw.latency) {
        (Some(rate), None) => (Indicator::SuccessRate, fraction(c, "success_rate", rate)),
        (None, Some(latency)) => {
            let percentile = latency.percentile;
            if !(percentile > 0.0 && percentile < 100.0) {
                c.fail(
                    &p("latency.percentile"),
                    format!("{percentile} is not a percentile; it must lie strictly between 0 and 100 (e.g. 99)"),
                );
            }
            let threshold_ns = c.positive_duration(&p("latency.threshold"), &latency.threshold);
            (
                Indicator::Latency {
                    percentile,
                    threshold_ns,
                },
                percentile / 100.0,
            )
        }
        _ => {
            c.fail(
                path,
                "needs exactly one of `success_rate` (e.g. 0.99) or `latency` \
                 (e.g. {\"percentile\": 99, \"threshold\": \"2s\"})",
            );
            (Indicator::SuccessRate, 0.5)
        }
    };
    let step_ns = c.positive_duration_or(&p("step"), &raw.step, 10 * NS_PER_S);
    let window_ns = c.positive_duration_or(&p("window"), &raw.window, 5 * NS_PER_MIN);
    let check_window = |c: &mut Checker, field: &str, ns: Nanos| {
        if step_ns == 0 || ns == 0 {
            return;
        }
        if !ns.is_multiple_of(step_ns) {
            c.fail(
                &p(field),
                format!(
                    "{} is not a whole number of steps of {}; make it a multiple of `step`",
                    format_duration(ns),
                    format_duration(step_ns)
                ),
            );
        } else if ns / step_ns > crate::slo::MAX_WINDOW_STEPS {
            c.fail(
                &p(field),
                format!(
                    "spans more than {} steps of {}; use a longer `step`",
                    crate::slo::MAX_WINDOW_STEPS,
                    format_duration(step_ns)
                ),
            );
        }
    };
    check_window(c, "window", window_ns);
    let alerts: Vec<AlertModel> = raw
        .burn_rate_alerts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let ap = |field: &str| format!("{}[{i}].{field}", p("burn_rate_alerts"));
            let long_window_ns = c.positive_duration(&ap("long_window"), &a.long_window);
            let short_window_ns = c.positive_duration(&ap("short_window"), &a.short_window);
            check_window(
                c,
                &format!("burn_rate_alerts[{i}].long_window"),
                long_window_ns,
            );
            check_window(
                c,
                &format!("burn_rate_alerts[{i}].short_window"),
                short_window_ns,
            );
            // A window that failed to parse is 0 and already reported.
            if long_window_ns > 0 && short_window_ns > long_window_ns {
                c.fail(&ap("short_window"), "must not be longer than `long_window`");
            }
            // Beyond 1 / (1 - target) the error rate would have to exceed 100 %.
            let most = 1.0 / (1.0 - target);
            let burn_rate = c.number(&ap("burn_rate"), a.burn_rate, f64::MIN_POSITIVE, most);
            AlertModel {
                name: a.name.clone(),
                long_window_ns,
                short_window_ns,
                burn_rate,
            }
        })
        .collect();
    check_unique_names(
        raw.burn_rate_alerts.iter().map(|a| a.name.as_str()),
        &p("burn_rate_alerts"),
        &mut c.problems,
    );
    let metastable_after_ns =
        c.duration_or(&p("metastable_after"), &raw.metastable_after, window_ns);
    let min_requests = raw.min_requests.unwrap_or(1).max(1);
    (c.problems.len() == problems_before).then(|| SloModel {
        name: raw.name.clone(),
        group,
        indicator,
        target,
        window_ns,
        step_ns,
        min_requests,
        metastable_after_ns,
        alerts,
    })
}

fn expectations(c: &mut Checker, raw: Option<&raw::Expect>, path: &str) -> Expectations {
    let Some(e) = raw else {
        return Expectations::default();
    };
    let p = |field: &str| join(path, field);
    Expectations {
        min_success_rate: e
            .min_success_rate
            .map(|x| c.probability(&p("min_success_rate"), x)),
        max_latency_p99_ms: e
            .max_latency_p99_ms
            .map(|x| c.number(&p("max_latency_p99_ms"), x, 0.0, 1e12)),
        max_latency_mean_ms: e
            .max_latency_mean_ms
            .map(|x| c.number(&p("max_latency_mean_ms"), x, 0.0, 1e12)),
        max_cost_usd: e
            .max_cost_usd
            .map(|x| c.number(&p("max_cost_usd"), x, 0.0, 1e12)),
        max_amplification: e
            .max_amplification
            .map(|x| c.number(&p("max_amplification"), x, 1.0, 1e6)),
        max_incidents: e.max_incidents,
    }
}
