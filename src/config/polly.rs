//! Microsoft.Extensions.Http.Resilience's standard resilience handler
//! (`AddStandardResilienceHandler`, on Polly v8): its `HttpStandardResilienceOptions` as an
//! appsettings.json section, bound by .NET's configuration binder (keys case-insensitive,
//! TimeSpans as "[d.]hh:mm:ss[.fffffff]", `//` comments allowed).
//!
//! Follows Microsoft.Extensions.Http.Resilience 9.x as documented (learn.microsoft.com
//! "Build resilient HTTP apps: Key development patterns", section "Standard resilience
//! handler" and its defaults table; API reference of `HttpStandardResilienceOptions`,
//! `HttpRetryStrategyOptions`, `HttpCircuitBreakerStrategyOptions`,
//! `HttpTimeoutStrategyOptions`, `HttpRateLimiterStrategyOptions`). An import starts from
//! the `ms-standard-resilience` preset, whose values are cited from dotnet/extensions'
//! source, so a section that sets nothing gives exactly it.
//!
//! The mapping (the options' pipeline, outermost first):
//! * `RateLimiter.DefaultRateLimiterOptions` `PermitLimit` (1000), `QueueLimit` (0): the
//!   bulkhead; a queued request waits as long as the total timeout lets it;
//! * `TotalRequestTimeout.Timeout` (30 s): the request deadline;
//! * `Retry`: `MaxRetryAttempts` (3) + 1 attempts; `BackoffType` (Exponential) with `Delay`
//!   (2 s) and `MaxDelay` (none); `UseJitter` (true): Polly's DecorrelatedJitterBackoffV2
//!   for Exponential, ± 25 % for Constant and Linear; `ShouldRetryAfterHeader` (true):
//!   Retry-After honoured, any value;
//! * `CircuitBreaker`: `FailureRatio` (0.1), `MinimumThroughput` (100), `SamplingDuration`
//!   (30 s, in Polly's 10 rolling windows), `BreakDuration` (5 s);
//! * `AttemptTimeout.Timeout` (10 s): the attempt timeout.
//!
//! The predicates (`ShouldHandle`) are code, not configuration: the preset's transient
//! failures stay.
//!
//! The newer policy fields: `retry.retry_after.combine` is `replace` (the `DelayGenerator`'s
//! header replaces Polly's computed delay, `RetryResilienceStrategy.cs`), set by import and
//! required by export; `breaker.applies_to` is `all` (an open circuit rejects every call with
//! `BrokenCircuitException`), and a fleet's `scope` / `instances` / `assignment` are no
//! options: export refuses any other value.

use serde_json::{Value, json};

use super::doc::Doc;
use super::{Field, Keys, Obj, Out, Report, Source, dur, num};
use super::{Part, lose_unsaid};
use crate::error::InputError;
use crate::policy::backoff::{BackoffKind, Jitter};
use crate::policy::breaker::TripRule;
use crate::policy::presets;
use crate::scenario::limits::MAX_DURATION_NS;
use crate::time::{NS_PER_S, Nanos};

const OPTIONS: &[&str] = &[
    "RateLimiter",
    "TotalRequestTimeout",
    "Retry",
    "CircuitBreaker",
    "AttemptTimeout",
];
const RETRY_KEYS: &[&str] = &[
    "MaxRetryAttempts",
    "BackoffType",
    "UseJitter",
    "Delay",
    "MaxDelay",
    "ShouldRetryAfterHeader",
    "Name",
];
const BREAKER_KEYS: &[&str] = &[
    "FailureRatio",
    "MinimumThroughput",
    "SamplingDuration",
    "BreakDuration",
    "Name",
];
const TIMEOUT_KEYS: &[&str] = &["Timeout", "Name"];
const LIMITER_KEYS: &[&str] = &["DefaultRateLimiterOptions", "Name"];
const LIMITER_OPTION_KEYS: &[&str] = &["PermitLimit", "QueueLimit", "QueueProcessingOrder"];

const TICK_NS: Nanos = 100;

/// A .NET TimeSpan: "[-][d.]hh:mm:ss[.fffffff]".
fn timespan(f: &Field) -> Result<Nanos, InputError> {
    let text = f.str()?.trim();
    let bad = || {
        f.error(format!(
            "`{text}` is not a TimeSpan (\"00:00:02\", \"1.00:00:00\", \"00:00:00.5\")"
        ))
    };
    let parts: Vec<&str> = text.split(':').collect();
    let [hours, minutes, seconds] = parts.as_slice() else {
        return Err(bad());
    };
    let (days, hours) = match hours.split_once('.') {
        Some((d, h)) => (d.parse::<u64>().map_err(|_| bad())?, h),
        None => (0, *hours),
    };
    // TimeSpan.MaxValue is about 10.7 million days.
    if days > 10_675_199 {
        return Err(bad());
    }
    let hours: u64 = hours.parse().map_err(|_| bad())?;
    let minutes: u64 = minutes.parse().map_err(|_| bad())?;
    let (whole, frac) = seconds.split_once('.').unwrap_or((seconds, ""));
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    if hours > 23
        || minutes > 59
        || whole > 59
        || frac.len() > 7
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let ticks: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<7}").parse().map_err(|_| bad())?
    };
    Ok((((days * 24 + hours) * 60 + minutes) * 60 + whole) * NS_PER_S + ticks * TICK_NS)
}

fn timespan_out(ns: Nanos, lost: &mut Vec<String>, what: &str) -> Out {
    if !ns.is_multiple_of(TICK_NS) {
        lost.push(format!(
            "{what} {}: a TimeSpan counts 100 ns ticks",
            dur(ns)
        ));
    }
    let s = ns / NS_PER_S;
    let ticks = (ns % NS_PER_S) / TICK_NS;
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut text = if days > 0 {
        format!("{days}.{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    };
    if ticks > 0 {
        text.push_str(format!(".{ticks:07}").trim_end_matches('0'));
    }
    Out::Str(text)
}

/// The text with `//` and `/* */` comments outside strings blanked (lines and columns kept),
/// as .NET's JSON configuration provider skips them.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_string, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                out.push(' ');
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                        break;
                    }
                    out.push(' ');
                }
            }
            ('/', Some('*')) => {
                out.push(' ');
                let mut previous = ' ';
                for next in chars.by_ref() {
                    out.push(if next == '\n' { '\n' } else { ' ' });
                    if previous == '*' && next == '/' {
                        break;
                    }
                    previous = next;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The options object: the section named `instance`, the top level when it holds options,
/// or the only section (at any depth) that does.
fn section<'d>(doc: &'d Doc, instance: Option<&str>) -> Result<Obj<'d>, InputError> {
    let root = Obj::of(doc, "", &doc.root, Keys::Relaxed)?;
    let has_options = |o: &Obj| OPTIONS.iter().any(|k| o.get(k).is_some());
    if let Some(name) = instance {
        let mut here = root;
        for part in name.split([':', '.']) {
            here = match here.get(part) {
                Some(f) => f.obj(Keys::Relaxed)?,
                None => {
                    return Err(doc.error(
                        &here.path,
                        format!("no section `{part}` (of --instance {name})"),
                    ));
                }
            };
        }
        return Ok(here);
    }
    if has_options(&root) {
        return Ok(root);
    }
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(o) = stack.pop() {
        for key in o.key_names() {
            let f = o.get(key).expect("present");
            if let Ok(child) = f.obj(Keys::Relaxed) {
                if has_options(&child) {
                    found.push(child);
                } else {
                    stack.push(child);
                }
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(doc.error("", format!("no section with any of {}", OPTIONS.join(", ")))),
        _ => {
            let paths: Vec<String> = found.iter().map(|o| o.path.replace('.', ":")).collect();
            Err(doc.error(
                "",
                format!(
                    "several sections of options ({}): pick one with --instance",
                    paths.join(", ")
                ),
            ))
        }
    }
}

pub fn import(doc: &Doc, instance: Option<&str>, report: &mut Report) -> Result<Value, InputError> {
    let s = section(doc, instance)?;
    s.check(OPTIONS)?;
    let mut p = presets::preset("ms-standard-resilience").expect("a shipped preset");
    let sub = |key: &str, known: &[&str]| -> Result<Option<Obj>, InputError> {
        let Some(f) = s.get(key) else {
            return Ok(None);
        };
        let o = f.obj(Keys::Relaxed)?;
        o.check(known)?;
        Ok(Some(o))
    };
    let mut deadline = 30 * NS_PER_S;
    if let Some(t) = sub("TotalRequestTimeout", TIMEOUT_KEYS)?
        && let Some(f) = t.get("Timeout")
    {
        deadline = positive(&f)?;
        p["deadline"] = json!(dur(deadline));
        report.mapped(&f.path, format!("deadline = {}", dur(deadline)));
    }
    if let Some(t) = sub("AttemptTimeout", TIMEOUT_KEYS)?
        && let Some(f) = t.get("Timeout")
    {
        let ns = positive(&f)?;
        p["timeout"]["total"] = json!(dur(ns));
        report.mapped(&f.path, format!("timeout.total = {}", dur(ns)));
    }
    if let Some(r) = sub("Retry", RETRY_KEYS)? {
        retry(&r, &mut p, report)?;
    }
    if let Some(b) = sub("CircuitBreaker", BREAKER_KEYS)? {
        let br = &mut p["breaker"];
        if let Some(f) = b.get("FailureRatio") {
            let v = f.f64()?;
            if !(v > 0.0 && v <= 1.0) {
                return Err(f.error("a ratio in (0, 1]"));
            }
            br["failure_rate_threshold"] = json!(v);
            report.mapped(
                &f.path,
                format!("breaker.failure_rate_threshold = {}", num(v)),
            );
        }
        if let Some(f) = b.get("MinimumThroughput") {
            br["minimum_calls"] = json!(f.u32(2, 1_000_000_000)?);
            report.mapped(&f.path, "breaker.minimum_calls");
        }
        for (key, field) in [
            ("SamplingDuration", "window"),
            ("BreakDuration", "open_duration"),
        ] {
            if let Some(f) = b.get(key) {
                let ns = positive(&f)?;
                br[field] = json!(dur(ns));
                report.mapped(&f.path, format!("breaker.{field} = {}", dur(ns)));
            }
        }
    }
    if let Some(l) = sub("RateLimiter", LIMITER_KEYS)?
        && let Some(f) = l.get("DefaultRateLimiterOptions")
    {
        let o = f.obj(Keys::Relaxed)?;
        o.check(LIMITER_OPTION_KEYS)?;
        let permits = o.u32_or("PermitLimit", 1, 10_000_000, 1000)?;
        let queue = o.u32_or("QueueLimit", 0, 10_000_000, 0)?;
        // A ConcurrencyLimiter's queue has no timeout of its own: the total timeout ends the wait.
        let wait = if queue == 0 { 0 } else { deadline };
        p["bulkhead"] =
            json!({ "max_in_flight": permits, "max_queue": queue, "max_wait": dur(wait) });
        report.mapped(&f.path, format!("bulkhead: {permits} in flight, {queue} queued (a permit per attempt here, per request with its retries in .NET)"));
        if let Some(f) = o.get("QueueProcessingOrder") {
            report.unmodelled(&f.path, "the queue is first in, first out");
        }
    }
    for key in OPTIONS {
        if s.get(key).is_none() {
            report.defaulted(
                key,
                "the standard handler's",
                "HttpStandardResilienceOptions",
            );
        }
    }
    Ok(p)
}

fn positive(f: &Field) -> Result<Nanos, InputError> {
    let ns = timespan(f)?;
    if ns == 0 {
        return Err(f.error("must be > 0"));
    }
    Ok(ns)
}

fn retry(r: &Obj, p: &mut Value, report: &mut Report) -> Result<(), InputError> {
    if let Some(f) = r.get("MaxRetryAttempts") {
        let n = f.u32(1, 99)?;
        p["retry"]["max_attempts"] = json!(n + 1);
        report.mapped(&f.path, format!("retry.max_attempts = {}", n + 1));
    }
    let kind = match r.get("BackoffType") {
        Some(f) => match f.str()?.to_ascii_lowercase().as_str() {
            "constant" => "constant",
            "linear" => "linear",
            "exponential" => "exponential",
            other => {
                return Err(f.error(format!(
                    "`{other}`: expected Constant, Linear or Exponential"
                )));
            }
        },
        None => "exponential",
    };
    let jitter = r.bool_or("UseJitter", true)?;
    let b = &mut p["retry"]["backoff"];
    b["kind"] = json!(kind);
    b.as_object_mut().expect("an object").remove("jitter_ratio");
    b["jitter"] = match (jitter, kind) {
        (false, _) => json!("none"),
        (true, "exponential") => json!("decorrelated_v2"),
        // RetryHelper.cs: Constant and Linear with jitter vary the delay by ± 25 %.
        (true, _) => {
            b["jitter_ratio"] = json!(0.25);
            json!("randomized")
        }
    };
    if let Some(f) = r.get("Delay") {
        let ns = timespan(&f)?;
        b["base"] = json!(dur(ns));
        report.mapped(&f.path, format!("retry.backoff.base = {}", dur(ns)));
    }
    if let Some(f) = r.get("MaxDelay") {
        let cap = if f.value.is_null() {
            "none".to_string()
        } else {
            dur(positive(&f)?)
        };
        b["cap"] = json!(cap);
        report.mapped(&f.path, format!("retry.backoff.cap = {cap}"));
    }
    if let Some(f) = r.get("ShouldRetryAfterHeader") {
        let honour = f.bool()?;
        p["retry"]["retry_after"] = if honour {
            // Polly's delay generator returns the header itself: it replaces the backoff
            // (RetryResilienceStrategy.cs), as the `ms-standard-resilience` preset says.
            json!({ "honour": true, "max": "none", "combine": "replace" })
        } else {
            json!({ "honour": false })
        };
        report.mapped(&f.path, format!("retry.retry_after.honour = {honour}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Export.

pub fn export(src: &Source, lost: &mut Vec<String>) -> String {
    let pol = src.policy();
    let mut o = Out::map();
    if let Some(bh) = pol.bulkhead {
        let expressible = (bh.max_queue == 0 && bh.max_wait_ns == 0)
            || (bh.max_queue > 0 && bh.max_wait_ns == pol.deadline_ns);
        if !expressible {
            lost.push(
                "bulkhead.max_wait: a ConcurrencyLimiter's queue waits until the total timeout"
                    .into(),
            );
        }
        let limiter = Out::map()
            .with(
                "PermitLimit",
                Out::int(u64::from(bh.max_in_flight)),
                Some(src.origin("bulkhead.max_in_flight")),
            )
            .with(
                "QueueLimit",
                Out::int(u64::from(bh.max_queue)),
                Some(src.origin("bulkhead.max_queue")),
            );
        o.put(
            "RateLimiter",
            Out::map().with("DefaultRateLimiterOptions", limiter, None),
            None,
        );
    } else {
        lost.push(
            "no bulkhead: the standard handler always has its rate limiter (1000 permits)".into(),
        );
    }
    if pol.deadline_ns == Nanos::MAX {
        lost.push("no deadline: the standard handler always has its total request timeout".into());
    } else {
        o.put(
            "TotalRequestTimeout",
            Out::map().with(
                "Timeout",
                timespan_out(pol.deadline_ns, lost, "deadline"),
                Some(src.origin("deadline")),
            ),
            None,
        );
    }
    o.put("Retry", retry_out(src, lost), None);
    if let Some(b) = &pol.breaker {
        super::lose_breaker_kind(b, "Polly", lost);
    }
    match &pol.breaker {
        Some(b) => match b.trip {
            TripRule::PollyWindows { sampling_ns, minimum_calls, failure_rate, .. } => {
                if b.half_open_probes != 1 || b.open_multiplier != 1.0 || b.counts != pol.retry.retry_on {
                    lost.push("breaker: Polly's admits one probe, a fixed break, and counts what the retry retries (the transient failures)".into());
                }
                let cb = Out::map()
                    .with("FailureRatio", Out::num(failure_rate), Some(src.origin("breaker.failure_rate_threshold")))
                    .with("MinimumThroughput", Out::int(u64::from(minimum_calls)), Some(src.origin("breaker.minimum_calls")))
                    .with("SamplingDuration", timespan_out(sampling_ns, lost, "breaker.window"), Some(src.origin("breaker.window")))
                    .with("BreakDuration", timespan_out(b.open_ns, lost, "breaker.open_duration"), Some(src.origin("breaker.open_duration")));
                o.put("CircuitBreaker", cb, None);
            }
            _ => lost.push("breaker: Polly's breaker judges a failure ratio over rolling windows (time_window, sampling polly)".into()),
        },
        None => lost.push("no breaker: the standard handler always has its circuit breaker".into()),
    }
    if pol.attempt_timeout_ns >= MAX_DURATION_NS {
        lost.push("timeout.total none: the standard handler always has an attempt timeout".into());
    }
    o.put(
        "AttemptTimeout",
        Out::map().with(
            "Timeout",
            timespan_out(pol.attempt_timeout_ns, lost, "timeout.total"),
            Some(src.origin("timeout.total")),
        ),
        None,
    );
    if pol.connect_timeout_ns < pol.attempt_timeout_ns {
        lost.push(format!(
            "timeout.connect {}: the HttpClient handler's, not the resilience options'",
            dur(pol.connect_timeout_ns)
        ));
    }
    common_losses(src, lost);
    let mut header = super::litellm::header(src, lost);
    header.push("Bind with services.AddHttpClient(...).AddStandardResilienceHandler().Configure(configuration.GetSection(\"...\")).".into());
    let mut text: String = header.iter().map(|l| format!("// {l}\n")).collect();
    text.push_str(&o.to_json());
    text
}

fn retry_out(src: &Source, lost: &mut Vec<String>) -> Out {
    let pol = src.policy();
    let r = &pol.retry;
    let transient = {
        let preset = presets::preset("ms-standard-resilience").expect("a shipped preset");
        let names: Vec<String> =
            serde_json::from_value(preset["retry"]["retry_on"].clone()).expect("names");
        crate::outcome::FailureSet::parse(&names).expect("valid")
    };
    if r.retry_on != transient {
        lost.push(format!("retry.retry_on {}: ShouldHandle is code (the standard handler retries the transient failures)", r.retry_on.names().join(", ")));
    }
    let attempts = pol.chain[0].attempts;
    if attempts < 2 {
        lost.push("retry.max_attempts 1: MaxRetryAttempts is at least 1".into());
    }
    let (kind, jitter) = match (r.backoff.kind, r.backoff.jitter) {
        (BackoffKind::Exponential, Jitter::DecorrelatedV2) => ("Exponential", true),
        (BackoffKind::Exponential, Jitter::None) => ("Exponential", false),
        (BackoffKind::Constant, Jitter::None) => ("Constant", false),
        (BackoffKind::Linear, Jitter::None) => ("Linear", false),
        (BackoffKind::Constant, Jitter::Randomized { ratio: 0.25 }) => ("Constant", true),
        (BackoffKind::Linear, Jitter::Randomized { ratio: 0.25 }) => ("Linear", true),
        (kind, jitter) => {
            lost.push(format!("retry.backoff {kind:?} with {jitter:?}: Polly's jitter is DecorrelatedJitterBackoffV2 (exponential) or ± 25 %"));
            ("Exponential", true)
        }
    };
    if r.backoff.kind == BackoffKind::Exponential
        && r.backoff.multiplier != 2.0
        && r.backoff.jitter != Jitter::DecorrelatedV2
    {
        lost.push("retry.backoff.multiplier: Polly's exponential backoff doubles".into());
    }
    let mut o = Out::map()
        .with(
            "MaxRetryAttempts",
            Out::int(u64::from(attempts.saturating_sub(1).max(1))),
            Some(src.origin("retry.max_attempts")),
        )
        .with(
            "BackoffType",
            Out::str(kind),
            Some(src.origin("retry.backoff.kind")),
        )
        .with(
            "UseJitter",
            Out::bool(jitter),
            Some(src.origin("retry.backoff.jitter")),
        )
        .with(
            "Delay",
            timespan_out(r.backoff.base_ns, lost, "retry.backoff.base"),
            Some(src.origin("retry.backoff.base")),
        );
    if r.backoff.cap_ns < MAX_DURATION_NS {
        o.put(
            "MaxDelay",
            timespan_out(r.backoff.cap_ns, lost, "retry.backoff.cap"),
            Some(src.origin("retry.backoff.cap")),
        );
    } else {
        o.put(
            "MaxDelay",
            Out::Raw("null".into()),
            Some(src.origin("retry.backoff.cap")),
        );
    }
    let ra = r.retry_after;
    if ra.honour && ra.max_ns < MAX_DURATION_NS {
        lost.push("retry.retry_after.max: the standard handler honours any Retry-After".into());
    }
    if ra.honour && ra.combine != crate::policy::Combine::Replace {
        lost.push(
            "retry.retry_after.combine: the standard handler sleeps the header as sent, \
             never the longer of it and the backoff"
                .into(),
        );
    }
    o.put(
        "ShouldRetryAfterHeader",
        Out::bool(ra.honour),
        Some(src.origin("retry.retry_after.honour")),
    );
    o
}

fn common_losses(src: &Source, lost: &mut Vec<String>) {
    let pol = src.policy();
    lose_unsaid(
        pol,
        lost,
        &[
            (
                Part::Fallback,
                "not a standard handler option (a fallback strategy is code)",
            ),
            (Part::OuterRetries, "one retry strategy in the handler"),
            (Part::RetryBudget, "the standard handler has none"),
            (Part::AdaptiveThrottling, "the standard handler has none"),
            (Part::Cooldown, "LiteLLM's, not Polly's"),
            (Part::CreditCheck, "the standard handler has none"),
            (
                Part::Hedging,
                "the standard hedging handler, not the resilience handler",
            ),
            (
                Part::RateLimiter,
                "the handler's limiter bounds concurrency, not a rate",
            ),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::doc::parse_yaml;

    fn ts(text: &str) -> Result<Nanos, InputError> {
        let doc = parse_yaml("t.json", &format!("{{\"v\": \"{text}\"}}")).unwrap();
        timespan(&Field {
            doc: &doc,
            path: "v".into(),
            value: &doc.root["v"],
        })
    }

    #[test]
    fn timespans_read_and_write() {
        assert_eq!(ts("00:00:02").unwrap(), 2 * NS_PER_S);
        assert_eq!(ts("1.00:00:00").unwrap(), 86_400 * NS_PER_S);
        assert_eq!(ts("00:00:00.5").unwrap(), NS_PER_S / 2);
        assert_eq!(ts("00:01:30.0000001").unwrap(), 90 * NS_PER_S + 100);
        assert!(ts("2s").is_err());
        let mut lost = Vec::new();
        for ns in [2 * NS_PER_S, 86_400 * NS_PER_S + 1500, 90 * NS_PER_S + 100] {
            let Out::Str(text) = timespan_out(ns, &mut lost, "x") else {
                panic!()
            };
            assert_eq!(ts(&text).unwrap(), ns, "{text}");
        }
        assert!(lost.is_empty());
    }

    #[test]
    fn comments_are_blanked_in_place() {
        let text = "{ // a\n  \"u\": \"http://x\", /* b\n c */ \"v\": 1 }";
        let stripped = strip_comments(text);
        assert_eq!(stripped.len(), text.len());
        let doc = parse_yaml("t.json", &stripped).unwrap();
        assert_eq!(doc.root["u"], "http://x");
        assert_eq!(doc.at("v"), Some((3, 7)));
    }
}
