//! Envoy: a route's `retry_policy` and `timeout`, and the cluster it routes to
//! (`connect_timeout`, `circuit_breakers`, `outlier_detection`), from a bootstrap's
//! `static_resources` or from the `{route_config, clusters}` pair export writes, YAML or JSON.
//!
//! Follows the Envoy API v3 as documented for Envoy 1.36 (envoyproxy.io/docs:
//! `config.route.v3.RetryPolicy` and `RouteAction` in route_components.proto,
//! `config.cluster.v3.Cluster.connect_timeout`, `CircuitBreakers.Thresholds` in
//! circuit_breaker.proto, `OutlierDetection` in outlier_detection.proto; "Router filter:
//! x-envoy-retry-on" for what each `retry_on` condition covers). An import starts from the
//! `envoy-default` preset, so a route and cluster that set nothing give exactly it.
//!
//! The mapping:
//! * `num_retries` (1): attempts - 1; `retry_on`: `5xx` (5xx answers, resets and connect
//!   failures), `gateway-error` (502, 503), `reset`, `connect-failure`,
//!   `retriable-status-codes` with `retriable_status_codes` (429, 500, 502, 503, 529; a 429
//!   is `rate_limited`, `insufficient_quota` and `request_too_large` alike); a
//!   timeout is retried (as a reset) only with a `per_try_timeout`, the only way a try can
//!   time out before the route does;
//! * `per_try_timeout`: the attempt timeout; the route's `timeout` (15 s, 0 = none): the
//!   request deadline (and the attempt timeout without a per-try one); the cluster's
//!   `connect_timeout` (5 s): the connect timeout;
//! * `retry_back_off` (`base_interval` 25 ms, `max_interval` 10 x base): exponential x 2,
//!   full jitter, capped;
//! * `rate_limited_retry_back_off` with a `retry-after` reset header in SECONDS: Retry-After
//!   honoured up to its `max_interval` (300 s), longer ones discarded for the backoff, and
//!   waited in place of the backoff (`combine: "replace"`: `RetryStateImpl::
//!   enableBackoffTimer` uses the rate-limited strategy instead of the exponential one; it
//!   draws the wait in [interval, 1.5 x interval), a jitter not modelled). Export refuses
//!   `combine: "max"` with a header honoured;
//! * `circuit_breakers.thresholds[DEFAULT]`: `retry_budget` (`budget_percent` 20,
//!   `min_retry_concurrency` 3), else `max_retries` (3) as a budget of 0 % with that many
//!   retries in flight;
//! * `outlier_detection` `consecutive_5xx` (5) and `base_ejection_time` (30 s): a breaker of
//!   consecutive failures (5xx and connection errors), one probe after the ejection, as an
//!   approximation (reported: ejections grow linearly, hosts return without probes). An
//!   ejected host gets no request at all: `breaker.applies_to` is `all`, and one Envoy's
//!   detector has no fleet (`scope`, `instances`, `assignment`): export refuses other values.

use serde_json::{Value, json};

use super::doc::{Doc, join};
use super::{Field, Keys, Obj, Out, Report, Source, dur, secs};
use super::{Part, lose_unsaid};
use crate::error::InputError;
use crate::outcome::{Failure, FailureSet};
use crate::policy::backoff::{BackoffKind, Jitter};
use crate::policy::breaker::TripRule;
use crate::policy::budget::RetryBudgetConfig;
use crate::policy::presets;
use crate::policy::{AboveMax, Combine};
use crate::scenario::limits::MAX_DURATION_NS;
use crate::time::{NS_PER_S, Nanos};

const RETRY_POLICY_KEYS: &[&str] = &[
    "retry_on",
    "num_retries",
    "per_try_timeout",
    "per_try_idle_timeout",
    "retry_priority",
    "retry_host_predicate",
    "retry_options_predicates",
    "host_selection_retry_max_attempts",
    "retriable_status_codes",
    "retry_back_off",
    "rate_limited_retry_back_off",
    "retriable_headers",
    "retriable_request_headers",
];

const THRESHOLD_KEYS: &[&str] = &[
    "priority",
    "max_connections",
    "max_pending_requests",
    "max_requests",
    "max_retries",
    "retry_budget",
    "track_remaining",
    "max_connection_pools",
];

const OUTLIER_KEYS: &[&str] = &[
    "consecutive_5xx",
    "interval",
    "base_ejection_time",
    "max_ejection_percent",
    "enforcing_consecutive_5xx",
    "enforcing_success_rate",
    "success_rate_minimum_hosts",
    "success_rate_request_volume",
    "success_rate_stdev_factor",
    "consecutive_gateway_failure",
    "enforcing_consecutive_gateway_failure",
    "split_external_local_origin_errors",
    "consecutive_local_origin_failure",
    "enforcing_consecutive_local_origin_failure",
    "enforcing_local_origin_success_rate",
    "failure_percentage_threshold",
    "enforcing_failure_percentage",
    "enforcing_failure_percentage_local_origin",
    "failure_percentage_minimum_hosts",
    "failure_percentage_request_volume",
    "max_ejection_time",
    "max_ejection_time_jitter",
    "successful_active_health_check_uneject_host",
    "monitors",
    "always_eject_one_host",
];

/// The failures the world answers with a 429, which a retriable status code covers together.
const TOO_MANY_REQUESTS: [Failure; 3] = [
    Failure::RateLimited,
    Failure::InsufficientQuota,
    Failure::RequestTooLarge,
];

/// A proto3 JSON Duration: "0.025s", "5s" (a bare number of seconds is accepted too).
fn proto_duration(f: &Field) -> Result<Nanos, InputError> {
    let text = match f.value {
        Value::String(s) => s.trim().trim_end_matches('s').to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(f.error("expected a duration such as \"0.25s\"")),
    };
    let s: f64 = text
        .parse()
        .map_err(|_| f.error(format!("`{text}` is not a duration such as \"0.25s\"")))?;
    if !(0.0..=315_576_000_000.0).contains(&s) {
        return Err(f.error("a duration out of range"));
    }
    Ok((s * NS_PER_S as f64).round() as Nanos)
}

fn proto_out(ns: Nanos) -> Out {
    Out::Str(format!("{}s", secs(ns)))
}

/// Routes anywhere in the tree (objects with `match` and `route`), with their paths, and
/// clusters (entries of any `clusters` list).
fn collect<'d>(
    v: &'d Value,
    path: &str,
    routes: &mut Vec<(String, &'d Value)>,
    clusters: &mut Vec<(String, &'d Value)>,
) {
    match v {
        Value::Object(map) => {
            if map.contains_key("match") && map.get("route").is_some_and(Value::is_object) {
                routes.push((path.to_string(), v));
            }
            for (k, child) in map {
                let p = join(path, k);
                if k == "clusters"
                    && let Value::Array(items) = child
                {
                    for (i, c) in items.iter().enumerate() {
                        clusters.push((format!("{p}[{i}]"), c));
                    }
                    continue;
                }
                collect(child, &p, routes, clusters);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, &format!("{path}[{i}]"), routes, clusters);
            }
        }
        _ => {}
    }
}

pub fn import(doc: &Doc, instance: Option<&str>, report: &mut Report) -> Result<Value, InputError> {
    let mut routes = Vec::new();
    let mut clusters = Vec::new();
    collect(&doc.root, "", &mut routes, &mut clusters);
    let name_of = |v: &Value| {
        v.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let names: Vec<String> = routes.iter().map(|(_, r)| name_of(r)).collect();
    let (route_path, route) = match (instance, routes.len()) {
        (_, 0) => return Err(doc.error("", "no route (an object with `match` and `route`)")),
        (Some(want), _) => match routes.iter().find(|(_, r)| name_of(r) == want) {
            Some(r) => r.clone(),
            None => {
                return Err(doc.error(
                    "",
                    format!("no route named `{want}`; the routes: {}", names.join(", ")),
                ));
            }
        },
        (None, 1) => routes[0].clone(),
        (None, _) => {
            return Err(doc.error(
                "",
                format!(
                    "several routes ({}): pick one by its `name` with --instance",
                    names.join(", ")
                ),
            ));
        }
    };
    let mut p = presets::preset("envoy-default").expect("a shipped preset");
    let action = Obj::of(
        doc,
        &join(&route_path, "route"),
        &route["route"],
        Keys::Exact,
    )?;
    for key in action.key_names() {
        if !["cluster", "timeout", "retry_policy"].contains(&key) {
            report.unmodelled(
                &join(&action.path, key),
                "not a resilience setting of the simulator",
            );
        }
    }
    // RouteAction.timeout: 15 s; 0 disables it.
    let route_timeout = match action.get("timeout") {
        Some(f) => {
            let ns = proto_duration(&f)?;
            report.mapped(
                &f.path,
                "deadline (and the attempt timeout without per_try_timeout)",
            );
            ns
        }
        None => {
            report.defaulted("timeout", "15s", "RouteAction.timeout");
            15 * NS_PER_S
        }
    };
    let route_timeout = if route_timeout == 0 {
        None
    } else {
        Some(route_timeout)
    };
    p["deadline"] = route_timeout.map_or(json!(null), |t| json!(dur(t)));
    if route_timeout.is_none() {
        p.as_object_mut().expect("an object").remove("deadline");
    }
    let total = route_timeout.map_or("none".to_string(), dur);
    p["timeout"]["total"] = json!(total);
    let retry = action
        .get("retry_policy")
        .map(|f| f.obj(Keys::Exact))
        .transpose()?;
    let mut per_try = false;
    let mut retry_on_text = String::new();
    let mut codes = Vec::new();
    match &retry {
        None => {
            // No retry policy: Envoy does not retry.
            p["retry"]["max_attempts"] = json!(1);
            report.defaulted(
                "retry_policy",
                "none: one attempt",
                "Envoy retries only with a retry_policy",
            );
        }
        Some(rp) => {
            rp.check(RETRY_POLICY_KEYS)?;
            let n = rp.u32_or("num_retries", 0, 99, 1)?;
            p["retry"]["max_attempts"] = json!(n + 1);
            match rp.get("num_retries") {
                Some(f) => report.mapped(&f.path, format!("retry.max_attempts = {}", n + 1)),
                None => report.defaulted("num_retries", "1", "RetryPolicy.num_retries"),
            }
            if let Some(f) = rp.get("per_try_timeout") {
                let ns = proto_duration(&f)?;
                if ns > 0 {
                    per_try = true;
                    p["timeout"]["total"] = json!(dur(ns));
                    report.mapped(&f.path, format!("timeout.total = {}", dur(ns)));
                }
            }
            if let Some(f) = rp.get("retriable_status_codes") {
                for (i, c) in f.list()?.iter().enumerate() {
                    let cf = Field {
                        doc,
                        path: format!("{}[{i}]", f.path),
                        value: c,
                    };
                    codes.push(cf.u32(100, 599)?);
                }
            }
            if let Some(f) = rp.get("retry_on") {
                retry_on_text = f.str()?.to_string();
            }
            backoff(rp, &mut p, report)?;
            for key in [
                "retry_priority",
                "retry_host_predicate",
                "host_selection_retry_max_attempts",
                "retriable_headers",
                "retriable_request_headers",
                "per_try_idle_timeout",
                "retry_options_predicates",
            ] {
                if let Some(f) = rp.get(key) {
                    report.unmodelled(&f.path, "host selection and headers: not modelled");
                }
            }
        }
    }
    let (set, ignored) = retry_on(&retry_on_text, &codes, per_try);
    for i in ignored {
        report.unmodelled(
            &format!("{route_path}.route.retry_policy.retry_on"),
            format!("`{i}`: the simulated world never fails this way"),
        );
    }
    if retry.is_some() {
        p["retry"]["retry_on"] = json!(set.names());
        report.mapped(
            &format!("{route_path}.route.retry_policy.retry_on"),
            format!("retry.retry_on = {}", set.names().join(", ")),
        );
    }
    cluster(doc, &action, &clusters, &mut p, report)?;
    Ok(p)
}

/// What `retry_on` (with `retriable_status_codes`) retries here, and the conditions the
/// world never produces. A timeout is retried only with a per-try timeout.
fn retry_on(text: &str, codes: &[u32], per_try: bool) -> (FailureSet, Vec<String>) {
    use Failure::*;
    let mut set = FailureSet::EMPTY;
    let mut ignored = Vec::new();
    let add = |set: FailureSet, fs: &[Failure]| fs.iter().fold(set, |s, f| s.with(*f));
    for cond in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        set = match cond {
            "5xx" => {
                let s = add(
                    set,
                    &[
                        Http500,
                        Http502,
                        Http503,
                        Http529,
                        ConnectionError,
                        ConnectTimeout,
                    ],
                );
                if per_try { s.with(Timeout) } else { s }
            }
            "gateway-error" => add(set, &[Http502, Http503]),
            "connect-failure" => add(set, &[ConnectTimeout, ConnectionError]),
            "reset" => {
                let s = set.with(ConnectionError);
                if per_try { s.with(Timeout) } else { s }
            }
            "retriable-status-codes" => {
                let mut s = set;
                for c in codes {
                    match Failure::from_status(*c as u16) {
                        // Envoy retries by status: every 429 of the world, OpenAI's
                        // insufficient_quota and a request over the TPM limit too.
                        Some(RateLimited) => s = add(s, &TOO_MANY_REQUESTS),
                        Some(f) if f != InsufficientCredits => s = s.with(f),
                        _ => ignored.push(format!("status {c}")),
                    }
                }
                s
            }
            other => {
                ignored.push(other.to_string());
                set
            }
        };
    }
    (set, ignored)
}

fn backoff(rp: &Obj, p: &mut Value, report: &mut Report) -> Result<(), InputError> {
    if let Some(f) = rp.get("retry_back_off") {
        let b = f.obj(Keys::Exact)?;
        b.check(&["base_interval", "max_interval"])?;
        let base = match b.get("base_interval") {
            Some(f) => proto_duration(&f)?,
            None => return Err(f.error("`base_interval` is required")),
        };
        if base == 0 {
            return Err(b.get("base_interval").expect("read").error("must be > 0"));
        }
        let max = b
            .get("max_interval")
            .map(|f| proto_duration(&f))
            .transpose()?
            .unwrap_or(10 * base);
        p["retry"]["backoff"] = json!({ "kind": "exponential", "base": dur(base), "multiplier": 2, "cap": dur(max), "jitter": "full" });
        report.mapped(
            &f.path,
            format!(
                "retry.backoff: base {}, cap {}, full jitter",
                dur(base),
                dur(max)
            ),
        );
    } else {
        report.defaulted(
            "retry_back_off",
            "25ms base, 250ms max",
            "RetryPolicy.retry_back_off",
        );
    }
    if let Some(f) = rp.get("rate_limited_retry_back_off") {
        let r = f.obj(Keys::Exact)?;
        r.check(&["reset_headers", "max_interval"])?;
        let max = r
            .get("max_interval")
            .map(|f| proto_duration(&f))
            .transpose()?
            .unwrap_or(300 * NS_PER_S);
        let mut retry_after = false;
        if let Some(h) = r.get("reset_headers") {
            for (i, item) in h.list()?.iter().enumerate() {
                let o = Obj::of(f.doc, &format!("{}[{i}]", h.path), item, Keys::Exact)?;
                o.check(&["name", "format"])?;
                let name = o
                    .get("name")
                    .map(|n| n.str().map(str::to_ascii_lowercase))
                    .transpose()?
                    .unwrap_or_default();
                let format = o
                    .get("format")
                    .map(|n| n.str().map(str::to_string))
                    .transpose()?
                    .unwrap_or_else(|| "SECONDS".into());
                if name == "retry-after" && format == "SECONDS" {
                    retry_after = true;
                } else {
                    report.unmodelled(&o.path, "a reset header the simulated world does not send (it sends Retry-After in seconds)");
                }
            }
        }
        if retry_after {
            // retry_state_impl.cc (enableBackoffTimer): the reset header's interval replaces
            // the exponential backoff; one above max_interval is discarded for it.
            p["retry"]["retry_after"] = json!({ "honour": true, "max": dur(max), "above_max": "backoff", "combine": "replace" });
            report.mapped(
                &f.path,
                format!(
                    "retry.retry_after honoured up to {}, in place of the backoff (combine: replace)",
                    dur(max)
                ),
            );
        }
    }
    Ok(())
}

fn cluster(
    doc: &Doc,
    action: &Obj,
    clusters: &[(String, &Value)],
    p: &mut Value,
    report: &mut Report,
) -> Result<(), InputError> {
    let Some(name) = action
        .get("cluster")
        .map(|f| f.str().map(str::to_string))
        .transpose()?
    else {
        report.defaulted("cluster", "none named", "the route names no cluster");
        return Ok(());
    };
    let Some((path, c)) = clusters
        .iter()
        .find(|(_, c)| c.get("name").and_then(Value::as_str) == Some(&name))
    else {
        report.defaulted(
            "cluster",
            format!("`{name}` not in the file: its defaults"),
            "Cluster",
        );
        return Ok(());
    };
    let c = Obj::of(doc, path, c, Keys::Exact)?;
    for key in c.key_names() {
        if ![
            "name",
            "connect_timeout",
            "circuit_breakers",
            "outlier_detection",
        ]
        .contains(&key)
        {
            report.unmodelled(
                &join(path, key),
                "not a resilience setting of the simulator",
            );
        }
    }
    if let Some(f) = c.get("connect_timeout") {
        let ns = proto_duration(&f)?;
        if ns == 0 {
            return Err(f.error("must be > 0"));
        }
        p["timeout"]["connect"] = json!(dur(ns));
        report.mapped(&f.path, format!("timeout.connect = {}", dur(ns)));
    } else {
        report.defaulted("connect_timeout", "5s", "Cluster.connect_timeout");
    }
    if let Some(cb) = c.get("circuit_breakers") {
        let cb = cb.obj(Keys::Exact)?;
        cb.check(&["thresholds", "per_host_thresholds"])?;
        if let Some(t) = cb.get("thresholds") {
            for (i, item) in t.list()?.iter().enumerate() {
                let o = Obj::of(doc, &format!("{}[{i}]", t.path), item, Keys::Exact)?;
                o.check(THRESHOLD_KEYS)?;
                let priority = o
                    .get("priority")
                    .map(|f| f.str().map(str::to_string))
                    .transpose()?
                    .unwrap_or_else(|| "DEFAULT".into());
                if priority != "DEFAULT" {
                    report.unmodelled(&o.path, "HIGH priority routes: not modelled");
                    continue;
                }
                thresholds(&o, p, report)?;
            }
        }
    }
    if let Some(od) = c.get("outlier_detection") {
        let od = od.obj(Keys::Exact)?;
        od.check(OUTLIER_KEYS)?;
        let n = od.u32_or("consecutive_5xx", 1, 1_000_000, 5)?;
        let base = od
            .get("base_ejection_time")
            .map(|f| proto_duration(&f))
            .transpose()?
            .unwrap_or(30 * NS_PER_S);
        p["breaker"] = json!({ "kind": "consecutive", "failure_threshold": n, "open_duration": dur(base), "half_open_probes": 1, "count_as_failure": ["connect_timeout", "connection_error", "5xx"] });
        report.mapped(&od.path, format!("breaker: {n} consecutive failures, open {} (an approximation: ejections grow linearly, an ejected host returns without probes, only consecutive_5xx is modelled)", dur(base)));
        for key in od.key_names() {
            if !["consecutive_5xx", "base_ejection_time"].contains(&key) {
                report.unmodelled(&join(&od.path, key), "not modelled");
            }
        }
    }
    Ok(())
}

fn thresholds(o: &Obj, p: &mut Value, report: &mut Report) -> Result<(), InputError> {
    if let Some(rb) = o.get("retry_budget") {
        let rb = rb.obj(Keys::Exact)?;
        rb.check(&["budget_percent", "min_retry_concurrency"])?;
        let percent = match rb.get("budget_percent") {
            Some(f) => {
                let v = f.obj(Keys::Exact)?;
                v.check(&["value"])?;
                v.f64_or("value", 0.0)?
            }
            None => 20.0,
        };
        let min = rb.u32_or("min_retry_concurrency", 0, 1_000_000, 3)?;
        p["retry_budget"] =
            json!({ "kind": "concurrency", "percent": percent, "min_concurrency": min });
        report.mapped(
            &rb.path,
            format!("retry_budget: {percent} % of active requests, at least {min}"),
        );
        if let Some(f) = o.get("max_retries") {
            report.unmodelled(&f.path, "ignored by Envoy when retry_budget is set");
        }
    } else if let Some(f) = o.get("max_retries") {
        let n = f.u32(0, 1_000_000)?;
        p["retry_budget"] = json!({ "kind": "concurrency", "percent": 0, "min_concurrency": n });
        report.mapped(&f.path, format!("retry_budget: {n} retries in flight"));
    }
    for key in [
        "max_connections",
        "max_pending_requests",
        "max_requests",
        "max_connection_pools",
    ] {
        if let Some(f) = o.get(key) {
            report.unmodelled(
                &f.path,
                "a cap of the whole cluster, shared by every client: not modelled",
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Export.

/// `retry_on` text and status codes that import back to `set` (with or without a per-try
/// timeout), or None.
fn retry_on_out(set: FailureSet, per_try: bool) -> Option<(String, Vec<u32>)> {
    use Failure::*;
    let mut conds = Vec::new();
    let mut codes = Vec::new();
    let five = [
        Http500,
        Http502,
        Http503,
        Http529,
        ConnectionError,
        ConnectTimeout,
    ];
    if five.iter().all(|f| set.contains(*f)) {
        conds.push("5xx");
    } else {
        if set.contains(ConnectTimeout) {
            conds.push("connect-failure");
        }
        if set.contains(Timeout) || (set.contains(ConnectionError) && !set.contains(ConnectTimeout))
        {
            conds.push("reset");
        }
        for (f, code) in [
            (Http500, 500),
            (Http502, 502),
            (Http503, 503),
            (Http529, 529),
        ] {
            if set.contains(f) {
                codes.push(code);
            }
        }
    }
    match TOO_MANY_REQUESTS
        .iter()
        .filter(|f| set.contains(**f))
        .count()
    {
        0 => {}
        3 => codes.push(429),
        // A 429 is retried whatever its kind.
        _ => return None,
    }
    if !codes.is_empty() {
        codes.sort_unstable();
        conds.push("retriable-status-codes");
    }
    let text = conds.join(",");
    (retry_on(&text, &codes, per_try).0 == set).then_some((text, codes))
}

pub fn export(src: &Source, lost: &mut Vec<String>) -> String {
    let pol = src.policy();
    let mut rp = Out::map();
    let attempts = pol.chain[0].attempts;
    rp.put(
        "num_retries",
        Out::int(u64::from(attempts - 1)),
        Some(format!(
            "retry.max_attempts {attempts}, {}",
            src.origin("retry.max_attempts")
        )),
    );
    // The route timeout is the deadline; a shorter attempt timeout is the per-try timeout.
    let deadline = (pol.deadline_ns != Nanos::MAX).then_some(pol.deadline_ns);
    let per_try = match deadline {
        Some(d) if pol.attempt_timeout_ns == d => None,
        None if pol.attempt_timeout_ns >= MAX_DURATION_NS => None,
        _ => Some(pol.attempt_timeout_ns),
    };
    if let Some(t) = per_try {
        if t >= MAX_DURATION_NS {
            lost.push("timeout.total none under a deadline: Envoy's per-try timeout defaults to the route's".into());
        }
        rp.put(
            "per_try_timeout",
            proto_out(t),
            Some(format!("timeout.total, {}", src.origin("timeout.total"))),
        );
    }
    match retry_on_out(pol.retry.retry_on, per_try.is_some()) {
        Some((text, codes)) => {
            rp.put("retry_on", Out::Str(text), Some(format!("retry.retry_on, {}", src.origin("retry.retry_on"))));
            if !codes.is_empty() {
                rp.put("retriable_status_codes", Out::List(codes.iter().map(|c| Out::int(u64::from(*c))).collect()), None);
            }
        }
        None => lost.push(format!(
            "retry.retry_on {}: no combination of Envoy's retry_on conditions retries exactly these{}",
            pol.retry.retry_on.names().join(", "),
            if per_try.is_none() { " (a timeout is retried only with a per-try timeout)" } else { "" }
        )),
    }
    let b = pol.retry.backoff;
    if !(b.kind == BackoffKind::Exponential && b.multiplier == 2.0 && b.jitter == Jitter::Full) {
        lost.push("retry.backoff: Envoy's is exponential x 2 with full jitter".into());
    }
    rp.put(
        "retry_back_off",
        Out::map()
            .with(
                "base_interval",
                proto_out(b.base_ns),
                Some(src.origin("retry.backoff.base")),
            )
            .with(
                "max_interval",
                proto_out(b.cap_ns),
                Some(src.origin("retry.backoff.cap")),
            ),
        None,
    );
    let ra = pol.retry.retry_after;
    if ra.honour {
        if ra.above_max != AboveMax::UseBackoff {
            lost.push(
                "retry.retry_after.above_max: Envoy discards a longer reset header for the backoff"
                    .into(),
            );
        }
        if ra.combine != Combine::Replace {
            lost.push(
                "retry.retry_after.combine max: Envoy waits the reset header in place of the \
                 backoff, never the longer of the two"
                    .into(),
            );
        }
        let header = Out::map().with("name", Out::str("retry-after"), None).with(
            "format",
            Out::str("SECONDS"),
            None,
        );
        rp.put(
            "rate_limited_retry_back_off",
            Out::map()
                .with("reset_headers", Out::List(vec![header]), None)
                .with(
                    "max_interval",
                    proto_out(ra.max_ns),
                    Some(src.origin("retry.retry_after.max")),
                ),
            None,
        );
    }
    let mut action = Out::map().with("cluster", Out::str(src.provider(0)), None);
    action.put(
        "timeout",
        proto_out(deadline.unwrap_or(0)),
        Some(format!("deadline (0: none), {}", src.origin("deadline"))),
    );
    action.put("retry_policy", rp, None);
    let route = Out::map()
        .with("name", Out::str(&src.scenario.groups[src.group].name), None)
        .with(
            "match",
            Out::map().with("prefix", Out::str("/"), None),
            None,
        )
        .with("route", action, None);
    let vhost = Out::map()
        .with("name", Out::str("ai"), None)
        .with("domains", Out::List(vec![Out::str("*")]), None)
        .with("routes", Out::List(vec![route]), None);
    let route_config = Out::map().with("virtual_hosts", Out::List(vec![vhost]), None);
    let cluster = cluster_out(src, lost);
    common_losses(src, lost);
    let mut header = super::litellm::header(src, lost);
    header.push(
        "route_config goes in the HTTP connection manager; clusters in static_resources.".into(),
    );
    Out::map()
        .with("route_config", route_config, None)
        .with("clusters", Out::List(vec![cluster]), None)
        .to_yaml(&header)
}

fn cluster_out(src: &Source, lost: &mut Vec<String>) -> Out {
    let pol = src.policy();
    let mut c = Out::map().with("name", Out::str(src.provider(0)), None);
    if pol.connect_timeout_ns >= MAX_DURATION_NS {
        lost.push("timeout.connect none: Envoy's connect_timeout is always set".into());
    }
    c.put(
        "connect_timeout",
        proto_out(pol.connect_timeout_ns),
        Some(src.origin("timeout.connect")),
    );
    match &pol.retry_budget {
        None => lost
            .push("no retry budget: Envoy always caps retries (max_retries 3 by default)".into()),
        Some(RetryBudgetConfig::Concurrency {
            percent,
            min_concurrency,
        }) => {
            let t = if *percent == 0.0 {
                Out::map().with("priority", Out::str("DEFAULT"), None).with(
                    "max_retries",
                    Out::int(u64::from(*min_concurrency)),
                    Some(src.origin("retry_budget")),
                )
            } else {
                let budget = Out::map()
                    .with(
                        "budget_percent",
                        Out::map().with("value", Out::num(*percent), None),
                        Some(src.origin("retry_budget.percent")),
                    )
                    .with(
                        "min_retry_concurrency",
                        Out::int(u64::from(*min_concurrency)),
                        Some(src.origin("retry_budget.min_concurrency")),
                    );
                Out::map().with("priority", Out::str("DEFAULT"), None).with(
                    "retry_budget",
                    budget,
                    None,
                )
            };
            c.put(
                "circuit_breakers",
                Out::map().with("thresholds", Out::List(vec![t]), None),
                None,
            );
        }
        Some(other) => lost.push(format!(
            "retry_budget {other:?}: Envoy's budget is a share of active requests"
        )),
    }
    if let Some(b) = &pol.breaker {
        let counts =
            FailureSet::parse(&["connect_timeout", "connection_error", "5xx"].map(String::from))
                .expect("valid");
        super::lose_breaker_kind(b, "Envoy", lost);
        match b.trip {
            TripRule::Consecutive { failures } if b.counts == counts && b.half_open_probes == 1 && b.open_multiplier == 1.0 && b.max_half_open_wait_ns == 0 => {
                let od = Out::map()
                    .with("consecutive_5xx", Out::int(u64::from(failures)), Some(src.origin("breaker.failure_threshold")))
                    .with("base_ejection_time", proto_out(b.open_ns), Some(src.origin("breaker.open_duration")));
                c.put("outlier_detection", od, None);
            }
            _ => lost.push("breaker: only a consecutive-failures breaker of 5xx and connection errors, one probe, maps to outlier_detection".into()),
        }
    }
    c
}

fn common_losses(src: &Source, lost: &mut Vec<String>) {
    let pol = src.policy();
    lose_unsaid(
        pol,
        lost,
        &[
            (
                Part::Fallback,
                "another model is not an Envoy route setting",
            ),
            (Part::OuterRetries, "Envoy has one retry loop per route"),
            (Part::AdaptiveThrottling, "Envoy has none here"),
            (Part::Cooldown, "LiteLLM's, not Envoy's"),
            (Part::CreditCheck, "Envoy has none"),
            (Part::Hedging, "Envoy's hedge_policy is not exported"),
            (
                Part::RateLimiter,
                "Envoy's rate limiting is a filter, not exported",
            ),
            (
                Part::Bulkhead,
                "Envoy's caps are the cluster's, shared by every client",
            ),
        ],
    );
}
