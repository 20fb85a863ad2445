//! resilience4j in Spring Boot: `resilience4j.{retry,circuitbreaker,timelimiter,bulkhead,
//! ratelimiter}.instances.NAME` (and `configs.NAME`, inherited through `baseConfig`, or
//! `configs.default` by every instance), in YAML or `.properties`.
//!
//! Follows resilience4j-spring-boot3 2.2.0 (resilience4j.readme.io: "Getting Started: Spring
//! Boot 3", "CircuitBreaker", "Retry", "Bulkhead", "RateLimiter", "TimeLimiter"; the
//! property names of `CircuitBreakerConfigurationProperties`, `RetryConfigurationProperties`,
//! `BulkheadConfigurationProperties`, `RateLimiterConfigurationProperties`,
//! `TimeLimiterConfigurationProperties`). Keys bind relaxed, as Spring Boot binds them
//! (`max-attempts` = `maxAttempts`). Durations: Spring's "500ms", "10s", ISO-8601 "PT10S",
//! or a bare number of milliseconds. An import starts from the `resilience4j-default`
//! preset (resilience4j's documented defaults, each cited there), so importing an instance
//! that sets nothing gives exactly that preset.
//!
//! The mapping:
//! * retry: `maxAttempts` (the first included), `waitDuration`, `enableExponentialBackoff`
//!   with `exponentialBackoffMultiplier` (IntervalFunction's default 1.5) and
//!   `exponentialMaxWaitDuration` (the cap), `enableRandomizedWait` with
//!   `randomizedWaitFactor` (0.5): jitter `randomized`;
//! * circuitbreaker: `slidingWindowType` COUNT_BASED (`count_window`) or TIME_BASED
//!   (`time_window` in one-second buckets), `slidingWindowSize`, `minimumNumberOfCalls`,
//!   `failureRateThreshold` and `slowCallRateThreshold` (percent),
//!   `slowCallDurationThreshold`, `waitDurationInOpenState`,
//!   `permittedNumberOfCallsInHalfOpenState`, `maxWaitDurationInHalfOpenState`, and the
//!   growing open wait (`enableExponentialBackoff`, `exponentialBackoffMultiplier`,
//!   `exponentialMaxWaitDurationInOpenState`);
//! * timelimiter `timeoutDuration` (default 1 s): the attempt timeout;
//! * bulkhead (semaphore) `maxConcurrentCalls` (25), `maxWaitDuration` (0): the bulkhead,
//!   whose waiters are not counted (an unbounded queue);
//! * ratelimiter `limitForPeriod` (50) per `limitRefreshPeriod` (500 ns), `timeoutDuration`
//!   (5 s): the rate limiter's requests per minute and wait (a token bucket of the same
//!   rate; resilience4j refreshes whole periods);
//! * exception lists (`recordExceptions`, `retryExceptions`, ...) name Java classes: not
//!   modelled; the preset's "every failure" stays.
//!
//! The policy fields resilience4j has no setting for, and what import sets:
//! * `retry.retry_after` (and its `combine`): `RetryConfig` reads no Retry-After (an
//!   `intervalBiFunction` could, in code): `honour: false`;
//! * `breaker.applies_to`: a `CircuitBreaker` refuses every call while open
//!   (`CallNotPermittedException`), first tries included: `all`; export refuses `retries`;
//! * `breaker.scope` / `instances` / `assignment`: one configuration per JVM; a fleet and how
//!   its requests reach each instance are not settings: one shared breaker, `round_robin`.

use serde_json::{Value, json};

use super::doc::{Doc, join};
use super::{Field, Keys, Obj, Out, Report, Source, dur, num};
use super::{Part, lose_unsaid};
use crate::error::{InputError, nearest_name};
use crate::outcome::FailureSet;
use crate::policy::backoff::{BackoffKind, Jitter};
use crate::policy::breaker::TripRule;
use crate::policy::presets;
use crate::scenario::limits::{MAX_DURATION_NS, MAX_QUEUE_LIMIT};
use crate::time::{NS_PER_MS, NS_PER_S, Nanos};

const MODULES: &[&str] = &[
    "retry",
    "circuitbreaker",
    "timelimiter",
    "bulkhead",
    "ratelimiter",
    "thread-pool-bulkhead",
];

const RETRY_KEYS: &[&str] = &[
    "maxAttempts",
    "waitDuration",
    "enableExponentialBackoff",
    "exponentialBackoffMultiplier",
    "exponentialMaxWaitDuration",
    "enableRandomizedWait",
    "randomizedWaitFactor",
    "retryExceptions",
    "ignoreExceptions",
    "retryExceptionPredicate",
    "resultPredicate",
    "failAfterMaxAttempts",
    "eventConsumerBufferSize",
    "baseConfig",
    "intervalBiFunction",
];

const BREAKER_KEYS: &[&str] = &[
    "slidingWindowType",
    "slidingWindowSize",
    "minimumNumberOfCalls",
    "failureRateThreshold",
    "slowCallRateThreshold",
    "slowCallDurationThreshold",
    "waitDurationInOpenState",
    "permittedNumberOfCallsInHalfOpenState",
    "maxWaitDurationInHalfOpenState",
    "automaticTransitionFromOpenToHalfOpenEnabled",
    "enableExponentialBackoff",
    "exponentialBackoffMultiplier",
    "exponentialMaxWaitDurationInOpenState",
    "enableRandomizedWait",
    "randomizedWaitFactor",
    "recordExceptions",
    "ignoreExceptions",
    "recordFailurePredicate",
    "ignoreExceptionPredicate",
    "recordResultPredicate",
    "registerHealthIndicator",
    "allowHealthIndicatorToFail",
    "eventConsumerBufferSize",
    "writableStackTraceEnabled",
    "baseConfig",
];

const TIMELIMITER_KEYS: &[&str] = &[
    "timeoutDuration",
    "cancelRunningFuture",
    "eventConsumerBufferSize",
    "baseConfig",
];

const BULKHEAD_KEYS: &[&str] = &[
    "maxConcurrentCalls",
    "maxWaitDuration",
    "fairCallHandlingStrategyEnabled",
    "writableStackTraceEnabled",
    "eventConsumerBufferSize",
    "baseConfig",
];

const RATELIMITER_KEYS: &[&str] = &[
    "limitForPeriod",
    "limitRefreshPeriod",
    "timeoutDuration",
    "registerHealthIndicator",
    "allowHealthIndicatorToFail",
    "subscribeForEvents",
    "eventConsumerBufferSize",
    "writableStackTraceEnabled",
    "baseConfig",
];

/// Keys read as resilience settings; the others of the lists above are reported.
const READ: &[&str] = &[
    "maxAttempts",
    "waitDuration",
    "enableExponentialBackoff",
    "exponentialBackoffMultiplier",
    "exponentialMaxWaitDuration",
    "enableRandomizedWait",
    "randomizedWaitFactor",
    "slidingWindowType",
    "slidingWindowSize",
    "minimumNumberOfCalls",
    "failureRateThreshold",
    "slowCallRateThreshold",
    "slowCallDurationThreshold",
    "waitDurationInOpenState",
    "permittedNumberOfCallsInHalfOpenState",
    "maxWaitDurationInHalfOpenState",
    "exponentialMaxWaitDurationInOpenState",
    "timeoutDuration",
    "maxConcurrentCalls",
    "maxWaitDuration",
    "limitForPeriod",
    "limitRefreshPeriod",
    "baseConfig",
    "automaticTransitionFromOpenToHalfOpenEnabled",
];

/// An instance's settings of one module: the instance's own, then its base config's.
struct Layered<'d> {
    layers: Vec<Obj<'d>>,
}

impl<'d> Layered<'d> {
    fn get(&self, key: &str) -> Option<Field<'d>> {
        self.layers.iter().find_map(|l| l.get(key))
    }

    fn u32_or(&self, key: &str, min: u32, max: u32, default: u32) -> Result<u32, InputError> {
        self.get(key).map_or(Ok(default), |f| f.u32(min, max))
    }

    fn f64_or(&self, key: &str, default: f64) -> Result<f64, InputError> {
        self.get(key).map_or(Ok(default), |f| f.f64())
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool, InputError> {
        self.get(key).map_or(Ok(default), |f| f.bool())
    }

    fn duration(&self, key: &str) -> Result<Option<Nanos>, InputError> {
        self.get(key).map(|f| spring_duration(&f)).transpose()
    }
}

/// Spring Boot's Duration: "500ms", "10s", "2m" (ns, us, ms, s, m, h, d), ISO-8601
/// "PT0.5S", or a bare number of milliseconds (DurationStyle, default unit ms).
pub fn spring_duration(f: &Field) -> Result<Nanos, InputError> {
    let text = match f.value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err(f.error("expected a duration (\"500ms\", \"10s\", \"PT10S\")")),
    };
    let bad = || {
        f.error(format!(
            "`{text}` is not a duration (\"500ms\", \"10s\", \"PT10S\")"
        ))
    };
    if let Some(iso) = text.strip_prefix("PT").or_else(|| text.strip_prefix("pt")) {
        let mut total = 0.0;
        let mut rest = iso;
        while !rest.is_empty() {
            let n = rest
                .find(|c: char| c.is_ascii_alphabetic())
                .ok_or_else(bad)?;
            let v: f64 = rest[..n].parse().map_err(|_| bad())?;
            let scale = match rest[n..n + 1].to_ascii_uppercase().as_str() {
                "H" => 3600.0,
                "M" => 60.0,
                "S" => 1.0,
                _ => return Err(bad()),
            };
            total += v * scale;
            rest = &rest[n + 1..];
        }
        return Ok((total * NS_PER_S as f64).round() as Nanos);
    }
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let n: u64 = text[..digits].parse().map_err(|_| bad())?;
    let scale = match &text[digits..] {
        "" | "ms" => NS_PER_MS,
        "ns" => 1,
        "us" => 1_000,
        "s" => NS_PER_S,
        "m" => 60 * NS_PER_S,
        "h" => 3600 * NS_PER_S,
        "d" => 86_400 * NS_PER_S,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

fn percent(f: &Field) -> Result<f64, InputError> {
    let v = f.f64()?;
    if !(v > 0.0 && v <= 100.0) {
        return Err(f.error(format!("a percentage in (0, 100], found {v}")));
    }
    Ok(v / 100.0)
}

pub fn import(doc: &Doc, instance: Option<&str>, report: &mut Report) -> Result<Value, InputError> {
    let root = Obj::of(doc, "", &doc.root, Keys::Relaxed)?;
    let Some(r4j) = root.get("resilience4j") else {
        return Err(doc.error("", "no `resilience4j` section"));
    };
    for key in root.key_names() {
        if key != "resilience4j" {
            report.unmodelled(key, "not a resilience4j setting");
        }
    }
    let r4j = r4j.obj(Keys::Relaxed)?;
    r4j.check(MODULES)?;
    let modules: Vec<(&str, Obj)> = MODULES
        .iter()
        .filter_map(|m| r4j.get(m).map(|f| f.obj(Keys::Relaxed).map(|o| (*m, o))))
        .collect::<Result<_, _>>()?;
    let mut names: Vec<String> = Vec::new();
    for (_, m) in &modules {
        m.check(&["instances", "configs"])?;
        if let Some(inst) = m.get("instances") {
            for n in inst.obj(Keys::Relaxed)?.key_names() {
                if !names.iter().any(|x| x == n) {
                    names.push(n.to_string());
                }
            }
        }
    }
    let name = match (instance, names.as_slice()) {
        (Some(want), _) if names.iter().any(|n| n == want) => want.to_string(),
        (Some(want), _) => {
            let all: Vec<&str> = names.iter().map(String::as_str).collect();
            let hint = nearest_name(want, &all)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return Err(doc.error(
                &r4j.path,
                format!(
                    "no instance `{want}`{hint}; the instances: {}",
                    all.join(", ")
                ),
            ));
        }
        (None, [one]) => one.clone(),
        (None, []) => return Err(doc.error(&r4j.path, "no `instances`")),
        (None, _) => {
            return Err(doc.error(
                &r4j.path,
                format!(
                    "several instances ({}): pick one with --instance",
                    names.join(", ")
                ),
            ));
        }
    };
    let mut p = presets::preset("resilience4j-default").expect("a shipped preset");
    let mut seen = Vec::new();
    for (module, m) in &modules {
        if *module == "thread-pool-bulkhead" {
            report.unmodelled(
                &m.path,
                "a thread-pool bulkhead: not modelled (the semaphore bulkhead is)",
            );
            continue;
        }
        let Some(settings) = layered(m, &name, module)? else {
            continue;
        };
        seen.push(*module);
        for layer in &settings.layers {
            for key in layer.key_names() {
                if !READ
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&key.replace(['-', '_'], "")))
                {
                    report.unmodelled(
                        &join(&layer.path, key),
                        "not modelled (exception classes, health, events)",
                    );
                }
            }
        }
        match *module {
            "retry" => retry(&settings, &mut p, report)?,
            "circuitbreaker" => breaker(&settings, &mut p, report)?,
            "timelimiter" => {
                let t = settings.duration("timeoutDuration")?.unwrap_or(NS_PER_S);
                if t == 0 {
                    return Err(
                        doc.error(&settings.layers[0].path, "a timeout of 0 fails every call")
                    );
                }
                p["timeout"]["total"] = json!(dur(t));
                note(
                    report,
                    &settings,
                    "timeoutDuration",
                    format!("timeout.total = {}", dur(t)),
                    "1s",
                );
            }
            "bulkhead" => {
                let calls = settings.u32_or("maxConcurrentCalls", 1, 10_000_000, 25)?;
                let wait = settings.duration("maxWaitDuration")?.unwrap_or(0);
                // A semaphore's waiters are not counted: an unbounded queue.
                let queue = if wait == 0 { 0 } else { MAX_QUEUE_LIMIT };
                p["bulkhead"] =
                    json!({ "max_in_flight": calls, "max_queue": queue, "max_wait": dur(wait) });
                note(
                    report,
                    &settings,
                    "maxConcurrentCalls",
                    format!("bulkhead.max_in_flight = {calls}"),
                    "25",
                );
                note(
                    report,
                    &settings,
                    "maxWaitDuration",
                    format!("bulkhead.max_wait = {}", dur(wait)),
                    "0",
                );
            }
            "ratelimiter" => {
                let limit = settings.u32_or("limitForPeriod", 1, 1_000_000_000, 50)?;
                let period = settings.duration("limitRefreshPeriod")?.unwrap_or(500);
                if period == 0 {
                    return Err(
                        doc.error(&settings.layers[0].path, "limitRefreshPeriod must be > 0")
                    );
                }
                let wait = settings
                    .duration("timeoutDuration")?
                    .unwrap_or(5 * NS_PER_S);
                let rpm = f64::from(limit) * (60 * NS_PER_S) as f64 / period as f64;
                p["rate_limiter"] = json!({ "rpm": rpm, "max_wait": dur(wait) });
                note(
                    report,
                    &settings,
                    "limitForPeriod",
                    format!(
                        "rate_limiter.rpm = {} (a token bucket of the rate; resilience4j refreshes whole periods)",
                        num(rpm)
                    ),
                    "50",
                );
                note(
                    report,
                    &settings,
                    "limitRefreshPeriod",
                    "with limitForPeriod",
                    "500ns",
                );
                note(
                    report,
                    &settings,
                    "timeoutDuration",
                    format!("rate_limiter.max_wait = {}", dur(wait)),
                    "5s",
                );
            }
            _ => unreachable!("the modules with settings"),
        }
    }
    if !seen.contains(&"retry") {
        // No Retry decorates the calls: one attempt.
        p["retry"]["max_attempts"] = json!(1);
        report.defaulted("retry", "none: one attempt", "no retry instance");
    }
    if !seen.contains(&"circuitbreaker") {
        p.as_object_mut().expect("an object").remove("breaker");
        report.defaulted("circuitbreaker", "none", "no circuitbreaker instance");
    }
    Ok(p)
}

/// The instance's settings in `module`, with its base config (`baseConfig`, else
/// `configs.default`) behind them.
fn layered<'d>(m: &Obj<'d>, name: &str, module: &str) -> Result<Option<Layered<'d>>, InputError> {
    let known = match module {
        "retry" => RETRY_KEYS,
        "circuitbreaker" => BREAKER_KEYS,
        "timelimiter" => TIMELIMITER_KEYS,
        "bulkhead" => BULKHEAD_KEYS,
        "ratelimiter" => RATELIMITER_KEYS,
        _ => return Ok(None),
    };
    let Some(instance) = m
        .get("instances")
        .map(|i| i.obj(Keys::Relaxed))
        .transpose()?
        .and_then(|i| i.get(name))
    else {
        return Ok(None);
    };
    let own = instance.obj(Keys::Relaxed)?;
    own.check(known)?;
    let configs = m.get("configs").map(|c| c.obj(Keys::Relaxed)).transpose()?;
    let base_name = own
        .get("baseConfig")
        .map(|b| b.str().map(str::to_string))
        .transpose()?;
    let mut layers = vec![own.clone()];
    let base = match (&configs, &base_name) {
        (Some(c), Some(b)) => match c.get(b) {
            Some(f) => Some(f),
            None => {
                return Err(own
                    .get("baseConfig")
                    .expect("read")
                    .error(format!("no config `{b}` under {}", c.path)));
            }
        },
        (Some(c), None) => c.get("default"),
        (None, Some(b)) => {
            return Err(own
                .get("baseConfig")
                .expect("read")
                .error(format!("no `configs` to find `{b}` in")));
        }
        (None, None) => None,
    };
    if let Some(b) = base {
        let b = b.obj(Keys::Relaxed)?;
        b.check(known)?;
        layers.push(b);
    }
    Ok(Some(Layered { layers }))
}

/// Reports a key as mapped, or its default as assumed.
fn note(report: &mut Report, s: &Layered, key: &str, to: impl Into<String>, default: &str) {
    match s.get(key) {
        Some(f) => report.mapped(&f.path, to),
        None => report.defaulted(key, default, "resilience4j's default"),
    }
}

fn retry(s: &Layered, p: &mut Value, report: &mut Report) -> Result<(), InputError> {
    // RetryConfig.java: DEFAULT_MAX_ATTEMPTS 3, DEFAULT_WAIT_DURATION 500 ms.
    let attempts = s.u32_or("maxAttempts", 1, 100, 3)?;
    p["retry"]["max_attempts"] = json!(attempts);
    note(
        report,
        s,
        "maxAttempts",
        format!("retry.max_attempts = {attempts}"),
        "3",
    );
    let wait = s.duration("waitDuration")?.unwrap_or(500 * NS_PER_MS);
    note(
        report,
        s,
        "waitDuration",
        format!("retry.backoff.base = {}", dur(wait)),
        "500ms",
    );
    let exponential = s.bool_or("enableExponentialBackoff", false)?;
    let mut backoff = if exponential {
        // IntervalFunction.DEFAULT_MULTIPLIER = 1.5; no cap unless exponentialMaxWaitDuration.
        let m = s.f64_or("exponentialBackoffMultiplier", 1.5)?;
        let cap = s.duration("exponentialMaxWaitDuration")?;
        note(
            report,
            s,
            "exponentialBackoffMultiplier",
            format!("retry.backoff.multiplier = {}", num(m)),
            "1.5",
        );
        json!({ "kind": "exponential", "base": dur(wait), "multiplier": m, "cap": cap.map_or("none".to_string(), dur) })
    } else {
        // Constant: the simulator's 60 s default cap must not cut a longer wait.
        let mut b = json!({ "kind": "constant", "base": dur(wait), "jitter": "none" });
        if wait > 60 * NS_PER_S {
            b["cap"] = json!(dur(wait));
        }
        b
    };
    let randomized = s.bool_or("enableRandomizedWait", false)?;
    if randomized {
        // IntervalFunction.DEFAULT_RANDOMIZATION_FACTOR = 0.5.
        let factor = s.f64_or("randomizedWaitFactor", 0.5)?;
        backoff["jitter"] = json!("randomized");
        backoff["jitter_ratio"] = json!(factor);
        note(
            report,
            s,
            "randomizedWaitFactor",
            format!("retry.backoff.jitter_ratio = {}", num(factor)),
            "0.5",
        );
    } else {
        backoff["jitter"] = json!("none");
    }
    p["retry"]["backoff"] = backoff;
    Ok(())
}

fn breaker(s: &Layered, p: &mut Value, report: &mut Report) -> Result<(), InputError> {
    let b = &mut p["breaker"];
    let kind = s
        .get("slidingWindowType")
        .map(|f| f.str().map(str::to_ascii_uppercase))
        .transpose()?;
    let size = s.u32_or("slidingWindowSize", 1, 100_000, 100)?;
    match kind.as_deref() {
        None | Some("COUNT_BASED") => {
            b["kind"] = json!("count_window");
            b["window_size"] = json!(size);
        }
        Some("TIME_BASED") => {
            let o = b.as_object_mut().expect("an object");
            o.remove("window_size");
            o.insert("kind".into(), json!("time_window"));
            o.insert("sampling".into(), json!("seconds"));
            o.insert("window".into(), json!(format!("{size}s")));
        }
        Some(other) => {
            return Err(s
                .get("slidingWindowType")
                .expect("read")
                .error(format!("`{other}`: expected COUNT_BASED or TIME_BASED")));
        }
    }
    note(
        report,
        s,
        "slidingWindowType",
        format!("breaker.kind = {}", b["kind"].as_str().unwrap_or("")),
        "COUNT_BASED",
    );
    note(
        report,
        s,
        "slidingWindowSize",
        format!("the breaker's window, {size}"),
        "100",
    );
    // CircuitBreakerConfig.java: minimumNumberOfCalls 100 (at most the window size, as
    // resilience4j clamps it for count windows).
    let minimum = s.u32_or("minimumNumberOfCalls", 1, 1_000_000_000, 100)?;
    let minimum = if b["kind"] == "count_window" {
        minimum.min(size)
    } else {
        minimum
    };
    b["minimum_calls"] = json!(minimum);
    note(
        report,
        s,
        "minimumNumberOfCalls",
        format!("breaker.minimum_calls = {minimum}"),
        "100",
    );
    if let Some(f) = s.get("failureRateThreshold") {
        b["failure_rate_threshold"] = json!(percent(&f)?);
        report.mapped(&f.path, "breaker.failure_rate_threshold (percent / 100)");
    }
    if let Some(f) = s.get("slowCallRateThreshold") {
        b["slow_call_rate_threshold"] = json!(percent(&f)?);
        report.mapped(&f.path, "breaker.slow_call_rate_threshold (percent / 100)");
    }
    for (key, field) in [
        ("slowCallDurationThreshold", "slow_call_duration"),
        ("waitDurationInOpenState", "open_duration"),
        ("maxWaitDurationInHalfOpenState", "max_half_open_wait"),
    ] {
        if let Some(ns) = s.duration(key)? {
            if ns == 0 && field != "max_half_open_wait" {
                return Err(s.get(key).expect("read").error("must be > 0"));
            }
            b[field] = json!(dur(ns));
            report.mapped(
                &s.get(key).expect("read").path,
                format!("breaker.{field} = {}", dur(ns)),
            );
        }
    }
    if let Some(f) = s.get("permittedNumberOfCallsInHalfOpenState") {
        b["half_open_probes"] = json!(f.u32(1, 1_000_000)?);
        report.mapped(&f.path, "breaker.half_open_probes");
    }
    if s.bool_or("enableExponentialBackoff", false)? {
        // IntervalFunction's default multiplier, 1.5.
        let m = s.f64_or("exponentialBackoffMultiplier", 1.5)?;
        b["open_multiplier"] = json!(m);
        if let Some(max) = s.duration("exponentialMaxWaitDurationInOpenState")? {
            b["max_open_duration"] = json!(dur(max));
        }
        report.mapped(
            "enableExponentialBackoff",
            format!("breaker.open_multiplier = {}", num(m)),
        );
    }
    if let Some(f) = s.get("automaticTransitionFromOpenToHalfOpenEnabled")
        && f.bool()?
    {
        report.unmodelled(
            &f.path,
            "half-open is entered by the first call after the wait (lazily)",
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Export.

fn everything() -> FailureSet {
    let p = presets::preset("resilience4j-default").expect("a shipped preset");
    let names: Vec<String> = serde_json::from_value(p["retry"]["retry_on"].clone()).expect("names");
    FailureSet::parse(&names).expect("valid names")
}

pub fn export(src: &Source, properties: bool, lost: &mut Vec<String>) -> String {
    let pol = src.policy();
    let group = &src.scenario.groups[src.group].name;
    let instance =
        |settings: Out| Out::map().with("instances", Out::map().with(group, settings, None), None);
    let mut top = Out::map();

    let r = &pol.retry;
    let mut retry = Out::map();
    retry.put(
        "maxAttempts",
        Out::int(u64::from(pol.chain[0].attempts)),
        Some(src.origin("retry.max_attempts")),
    );
    retry.put(
        "waitDuration",
        Out::Str(dur(r.backoff.base_ns)),
        Some(src.origin("retry.backoff.base")),
    );
    match r.backoff.kind {
        BackoffKind::Constant => {
            if r.backoff.cap_ns < r.backoff.base_ns {
                lost.push(
                    "retry.backoff.cap below the base: a constant wait has no cap in resilience4j"
                        .into(),
                );
            }
        }
        BackoffKind::Exponential => {
            retry.put(
                "enableExponentialBackoff",
                Out::bool(true),
                Some(src.origin("retry.backoff.kind")),
            );
            retry.put(
                "exponentialBackoffMultiplier",
                Out::num(r.backoff.multiplier),
                Some(src.origin("retry.backoff.multiplier")),
            );
            if r.backoff.cap_ns < MAX_DURATION_NS {
                retry.put(
                    "exponentialMaxWaitDuration",
                    Out::Str(dur(r.backoff.cap_ns)),
                    Some(src.origin("retry.backoff.cap")),
                );
            }
        }
        BackoffKind::Linear => lost.push(
            "retry.backoff.kind linear: resilience4j's IntervalFunction is fixed or exponential"
                .into(),
        ),
    }
    match r.backoff.jitter {
        Jitter::None => {}
        Jitter::Randomized { ratio } => {
            retry.put(
                "enableRandomizedWait",
                Out::bool(true),
                Some(src.origin("retry.backoff.jitter")),
            );
            retry.put(
                "randomizedWaitFactor",
                Out::num(ratio),
                Some(src.origin("retry.backoff.jitter_ratio")),
            );
        }
        other => lost.push(format!(
            "retry.backoff.jitter {other:?}: resilience4j randomizes by a factor only"
        )),
    }
    if r.retry_on != everything() {
        lost.push(format!(
            "retry.retry_on {}: resilience4j's retryExceptions name Java classes (write them yourself)",
            r.retry_on.names().join(", ")
        ));
    }
    if r.retry_after.honour {
        lost.push("retry.retry_after: resilience4j's Retry does not read Retry-After".into());
    }
    top.put("retry", instance(retry), None);

    if let Some(b) = &pol.breaker {
        let mut cb = Out::map();
        let (window_type, window, minimum, failure, slow) = match &b.trip {
            TripRule::CountWindow {
                size,
                minimum_calls,
                failure_rate,
                slow_rate,
            } => (
                Some("COUNT_BASED"),
                *size,
                *minimum_calls,
                *failure_rate,
                *slow_rate,
            ),
            TripRule::TimeWindow {
                seconds,
                minimum_calls,
                failure_rate,
                slow_rate,
            } => (
                Some("TIME_BASED"),
                *seconds,
                *minimum_calls,
                *failure_rate,
                *slow_rate,
            ),
            other => {
                lost.push(format!("breaker {other:?}: resilience4j's breakers are COUNT_BASED or TIME_BASED windows"));
                (None, 100, 100, 0.5, 1.0)
            }
        };
        if let Some(window_type) = window_type {
            cb.put(
                "slidingWindowType",
                Out::str(window_type),
                Some(src.origin("breaker.kind")),
            );
        }
        let size_field = match b.trip {
            TripRule::TimeWindow { .. } => "breaker.window",
            _ => "breaker.window_size",
        };
        cb.put(
            "slidingWindowSize",
            Out::int(u64::from(window)),
            Some(src.origin(size_field)),
        );
        cb.put(
            "minimumNumberOfCalls",
            Out::int(u64::from(minimum)),
            Some(src.origin("breaker.minimum_calls")),
        );
        cb.put(
            "failureRateThreshold",
            Out::num(as_percent(failure)),
            Some(src.origin("breaker.failure_rate_threshold")),
        );
        cb.put(
            "slowCallRateThreshold",
            Out::num(as_percent(slow)),
            Some(src.origin("breaker.slow_call_rate_threshold")),
        );
        cb.put(
            "slowCallDurationThreshold",
            Out::Str(dur(b.slow_call_ns)),
            Some(src.origin("breaker.slow_call_duration")),
        );
        cb.put(
            "waitDurationInOpenState",
            Out::Str(dur(b.open_ns)),
            Some(src.origin("breaker.open_duration")),
        );
        cb.put(
            "permittedNumberOfCallsInHalfOpenState",
            Out::int(u64::from(b.half_open_probes)),
            Some(src.origin("breaker.half_open_probes")),
        );
        cb.put(
            "maxWaitDurationInHalfOpenState",
            Out::Str(dur(b.max_half_open_wait_ns)),
            Some(src.origin("breaker.max_half_open_wait")),
        );
        if b.open_multiplier != 1.0 {
            cb.put(
                "enableExponentialBackoff",
                Out::bool(true),
                Some(src.origin("breaker.open_multiplier")),
            );
            cb.put(
                "exponentialBackoffMultiplier",
                Out::num(b.open_multiplier),
                Some(src.origin("breaker.open_multiplier")),
            );
            if b.max_open_ns < MAX_DURATION_NS {
                cb.put(
                    "exponentialMaxWaitDurationInOpenState",
                    Out::Str(dur(b.max_open_ns)),
                    Some(src.origin("breaker.max_open_duration")),
                );
            }
        } else if b.max_open_ns != b.open_ns {
            lost.push("breaker.max_open_duration without a growing open wait".into());
        }
        if b.counts != everything() {
            lost.push(format!(
                "breaker.count_as_failure {}: recordExceptions name Java classes (write them yourself)",
                b.counts.names().join(", ")
            ));
        }
        super::lose_breaker_kind(b, "resilience4j", lost);
        top.put("circuitbreaker", instance(cb), None);
    }
    if pol.attempt_timeout_ns < MAX_DURATION_NS {
        let tl = Out::map().with(
            "timeoutDuration",
            Out::Str(dur(pol.attempt_timeout_ns)),
            Some(src.origin("timeout.total")),
        );
        top.put("timelimiter", instance(tl), None);
    }
    if pol.connect_timeout_ns < pol.attempt_timeout_ns.min(MAX_DURATION_NS) {
        lost.push(format!(
            "timeout.connect {}: the HTTP client's, not resilience4j's",
            dur(pol.connect_timeout_ns)
        ));
    }
    if let Some(bh) = pol.bulkhead {
        let expressible = (bh.max_wait_ns == 0 && bh.max_queue == 0)
            || (bh.max_wait_ns > 0 && bh.max_queue == MAX_QUEUE_LIMIT);
        if !expressible {
            lost.push("bulkhead.max_queue: a semaphore bulkhead does not bound its waiters".into());
        }
        let o = Out::map()
            .with(
                "maxConcurrentCalls",
                Out::int(u64::from(bh.max_in_flight)),
                Some(src.origin("bulkhead.max_in_flight")),
            )
            .with(
                "maxWaitDuration",
                Out::Str(dur(bh.max_wait_ns)),
                Some(src.origin("bulkhead.max_wait")),
            );
        top.put("bulkhead", instance(o), None);
    }
    if let Some(l) = pol.rate_limiter {
        if l.tpm.is_some() {
            lost.push("rate_limiter.tpm: resilience4j limits calls, not tokens".into());
        }
        if let Some(rpm) = l.rpm {
            if rpm.fract() != 0.0 {
                lost.push(format!(
                    "rate_limiter.rpm {rpm}: limitForPeriod is a whole number per minute here"
                ));
            }
            let o = Out::map()
                .with(
                    "limitForPeriod",
                    Out::int(rpm as u64),
                    Some(src.origin("rate_limiter.rpm")),
                )
                .with("limitRefreshPeriod", Out::str("1m"), None)
                .with(
                    "timeoutDuration",
                    Out::Str(dur(l.max_wait_ns)),
                    Some(src.origin("rate_limiter.max_wait")),
                );
            top.put("ratelimiter", instance(o), None);
        }
    }
    common_losses(src, lost);
    let header = super::litellm::header(src, lost);
    let tree = Out::map().with("resilience4j", top, None);
    if properties {
        tree.to_properties(&header)
    } else {
        tree.to_yaml(&header)
    }
}

/// A rate as a percentage, rounded to 1e-9 so that 0.3 is written 30, not
/// 30.000000000000004 (which would read back as another rate).
fn as_percent(rate: f64) -> f64 {
    (rate * 100.0 * 1e9).round() / 1e9
}

fn common_losses(src: &Source, lost: &mut Vec<String>) {
    let pol = src.policy();
    lose_unsaid(
        pol,
        lost,
        &[
            (
                Part::Fallback,
                "resilience4j's fallbacks are methods in code",
            ),
            (
                Part::Deadline,
                "resilience4j has no overall deadline (a TimeLimiter around the Retry would be one: write it yourself)",
            ),
            (Part::OuterRetries, "one Retry per instance"),
            (Part::RetryBudget, "resilience4j has none"),
            (Part::AdaptiveThrottling, "resilience4j has none"),
            (Part::Cooldown, "LiteLLM's, not resilience4j's"),
            (Part::CreditCheck, "resilience4j has none"),
            (Part::Hedging, "resilience4j does not hedge"),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::doc::parse_yaml;

    fn d(text: &str) -> Result<Nanos, InputError> {
        let doc = parse_yaml("t.yaml", &format!("v: {text}\n")).unwrap();
        spring_duration(&Field {
            doc: &doc,
            path: "v".into(),
            value: &doc.root["v"],
        })
    }

    #[test]
    fn spring_durations() {
        assert_eq!(d("500ms").unwrap(), 500 * NS_PER_MS);
        assert_eq!(d("10s").unwrap(), 10 * NS_PER_S);
        assert_eq!(
            d("250").unwrap(),
            250 * NS_PER_MS,
            "bare number: milliseconds"
        );
        assert_eq!(d("PT1M30S").unwrap(), 90 * NS_PER_S);
        assert_eq!(d("PT0.5S").unwrap(), 500 * NS_PER_MS);
        assert!(d("10 parsecs").is_err());
    }
}
