//! LiteLLM: the proxy's `config.yaml` (`model_list`, `router_settings`, `litellm_settings`)
//! and the `Router(...)` keyword arguments as JSON (the same keys, at the top level).
//!
//! Follows LiteLLM v1.80 (docs.litellm.ai: "Proxy Config.yaml" /docs/proxy/configs and
//! /docs/proxy/config_settings, "Fallbacks, Retries, Timeouts, Cooldowns"
//! /docs/proxy/reliability, "Router - Load Balancing" /docs/routing; source
//! `litellm/router.py`, `litellm/types/router.py` RetryPolicy / AllowedFailsPolicy,
//! `litellm/constants.py`). What LiteLLM fixes and the simulator models with it (the
//! router's backoff, its Retry-After rule, the cooldown rules) is the `litellm-router`
//! preset (`policy/presets.rs`); an import starts from it, so importing LiteLLM's documented
//! defaults gives exactly that preset.
//!
//! The mapping:
//! * the primary model group (`--instance`, or the one group no fallback points at) is the
//!   scenario group's target; its deployments count as the cooldown's `deployments`;
//! * `num_retries` N: N + 1 attempts on each model group, fallbacks included (the router
//!   runs each fallback through its retry loop, router.py `async_function_with_fallbacks`);
//! * `timeout` (router), `request_timeout` (litellm_settings) or a deployment's
//!   `litellm_params.timeout`: the attempt timeout, connect included (httpx gets one float);
//! * `retry_policy`: a kind set to 0 is not retried; the others retry `num_retries` times
//!   (the simulator has one count per target: differing counts are reported, the largest
//!   used). Connection errors have no entry: they always retry `num_retries` times;
//! * `allowed_fails`, `cooldown_time`, `disable_cooldowns`: the cooldown;
//! * `fallbacks`: the fallback chain (models named as the model groups);
//!   `context_window_fallbacks` equal to it is the same chain (the simulator's chain serves
//!   every cause), different ones are reported;
//! * `rpm` / `tpm` of the primary group's deployments (summed): the client's rate limiter,
//!   which fails at once when full (LiteLLM then has no deployment to pick).
//!
//! The policy fields LiteLLM has no setting for, and what import sets:
//! * `retry.retry_after.combine`: `litellm.utils._calculate_retry_after` returns the header
//!   plus U(0, 0.75 s) when 0 < Retry-After <= 60 s (in place of the backoff), else the
//!   backoff; neither `max` nor `replace` is exact, and the `litellm-router` preset models it
//!   as `max`: import sets that, export refuses `replace`;
//! * `breaker` (`applies_to`, `assignment` with it): LiteLLM has cooldowns, not breakers;
//! * `retry_on`: LiteLLM raises RateLimitError for every 429 (OpenAI's `insufficient_quota`
//!   and `request_too_large` too); `RateLimitErrorRetries` is mapped to `rate_limited`
//!   alone, as the preset retries it (its audit could not pin the router's exact set).
//!
//! Why over 1,000 lines: one format's import and export side by side, as in every module
//! here; the two halves change together when LiteLLM's settings do.

use serde_json::{Value, json};

use super::doc::{Doc, join};
use super::{Field, Keys, Obj, Out, Report, Source, dur, num, secs};
use super::{Part, lose_unsaid};
use crate::error::{InputError, nearest_name};
use crate::outcome::{Failure, FailureSet};
use crate::policy::backoff::{BackoffKind, Jitter};
use crate::policy::presets;
use crate::policy::{AboveMax, Combine};
use crate::time::{NS_PER_MS, NS_PER_S};

/// Top-level sections of the proxy's config.yaml (/docs/proxy/config_settings).
const PROXY_SECTIONS: &[&str] = &[
    "model_list",
    "router_settings",
    "litellm_settings",
    "general_settings",
    "environment_variables",
    "guardrails",
    "callback_settings",
    "credential_list",
    "mcp_servers",
    "include",
    "files_settings",
    "finetune_settings",
    "assistant_settings",
    "vector_store_registry",
];

/// Router settings read here.
const MODELLED: &[&str] = &[
    "num_retries",
    "timeout",
    "retry_policy",
    "allowed_fails",
    "allowed_fails_policy",
    "cooldown_time",
    "disable_cooldowns",
    "fallbacks",
    "context_window_fallbacks",
    "retry_after",
];

/// Router settings known and not modelled (/docs/proxy/config_settings, router_settings).
const NOT_MODELLED: &[&str] = &[
    "routing_strategy",
    "routing_strategy_args",
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
    "cache_responses",
    "cache_kwargs",
    "enable_pre_call_checks",
    "optional_pre_call_checks",
    "model_group_alias",
    "default_litellm_params",
    "default_max_parallel_requests",
    "default_priority",
    "polling_interval",
    "set_verbose",
    "debug_level",
    "stream_timeout",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "enable_tag_filtering",
    "tag_filtering_match_any",
    "provider_budget_config",
    "model_group_retry_policy",
    "client_ttl",
    "assistants_config",
    "alerting_config",
    "router_general_settings",
    "deployment_affinity_ttl_seconds",
];

/// The Router's keyword arguments that are not settings (JSON form only).
const ROUTER_ONLY: &[&str] = &["model_list"];

/// `litellm.types.router.RetryPolicy` fields and the failures each covers here.
const RETRY_KINDS: &[(&str, &[&str])] = &[
    ("TimeoutErrorRetries", &["timeout", "connect_timeout"]),
    ("RateLimitErrorRetries", &["rate_limited"]),
    ("InternalServerErrorRetries", &["5xx"]),
    ("BadRequestErrorRetries", &[]),
    ("AuthenticationErrorRetries", &[]),
    ("ContentPolicyViolationErrorRetries", &[]),
];

/// `litellm.types.router.AllowedFailsPolicy` fields.
const ALLOWED_FAILS_KINDS: &[&str] = &[
    "BadRequestErrorAllowedFails",
    "AuthenticationErrorAllowedFails",
    "TimeoutErrorAllowedFails",
    "RateLimitErrorAllowedFails",
    "ContentPolicyViolationErrorAllowedFails",
    "InternalServerErrorAllowedFails",
];

const DEPLOYMENT_KEYS: &[&str] = &["model_name", "litellm_params", "model_info", "rpm", "tpm"];

/// Where the router's settings are: one or two objects, the first winning.
struct Settings<'d> {
    sources: Vec<Obj<'d>>,
}

impl<'d> Settings<'d> {
    /// A setting by any of its names (router_settings' `timeout` is litellm_settings'
    /// `request_timeout`), from the first source that has it.
    fn get(&self, names: &[&str], report: &mut Report) -> Option<Field<'d>> {
        let mut found: Vec<Field<'d>> = Vec::new();
        for s in &self.sources {
            for n in names {
                if let Some(f) = s.get(n) {
                    found.push(f);
                }
            }
        }
        if found.len() > 1 {
            let others: Vec<&str> = found[1..].iter().map(|f| f.path.as_str()).collect();
            report.unmodelled(
                &others.join(", "),
                format!("also set by {}, which wins", found[0].path),
            );
        }
        found.into_iter().next()
    }
}

struct Deployment<'d> {
    group: String,
    path: String,
    params: Option<Obj<'d>>,
    top: Obj<'d>,
}

pub fn import(doc: &Doc, instance: Option<&str>, report: &mut Report) -> Result<Value, InputError> {
    let root = Obj::of(doc, "", &doc.root, Keys::Exact)?;
    let proxy = ["router_settings", "litellm_settings", "general_settings"]
        .iter()
        .any(|k| root.map.contains_key(*k));
    let mut settings = Settings {
        sources: Vec::new(),
    };
    if proxy {
        root.check(PROXY_SECTIONS)?;
        for section in root.key_names() {
            if !["model_list", "router_settings", "litellm_settings"].contains(&section) {
                report.unmodelled(section, "not a resilience setting");
            }
        }
        if let Some(rs) = root.get("router_settings") {
            let rs = rs.obj(Keys::Exact)?;
            let known: Vec<&str> = MODELLED.iter().chain(NOT_MODELLED).copied().collect();
            rs.check(&known)?;
            settings.sources.push(rs);
        }
        if let Some(ls) = root.get("litellm_settings") {
            // litellm_settings sets attributes of the `litellm` module: any name is valid
            // there, so only the ones the router reads are taken, the rest reported.
            let ls = ls.obj(Keys::Exact)?;
            settings.sources.push(ls);
        }
    } else {
        let known: Vec<&str> = MODELLED
            .iter()
            .chain(NOT_MODELLED)
            .chain(ROUTER_ONLY)
            .copied()
            .collect();
        root.check(&known)?;
        settings.sources.push(root.clone());
    }
    for s in &settings.sources {
        for key in s.key_names() {
            let read = MODELLED.contains(&key) || key == "request_timeout" || key == "model_list";
            if !read {
                report.unmodelled(&join(&s.path, key), "not modelled by the simulator");
            }
        }
    }

    let deployments = deployments(&root)?;
    let groups = group_names(&deployments);
    let fallback_map = fallbacks(&settings, "fallbacks", report)?;
    let primary = pick_primary(doc, &groups, &fallback_map, instance)?;
    let own: Vec<&Deployment> = deployments.iter().filter(|d| d.group == primary).collect();
    report.mapped(
        &format!("model_list (model group `{primary}`)"),
        format!("the group's target, {} deployment(s)", own.len()),
    );
    for d in &own {
        let Some(params) = &d.params else { continue };
        let others: Vec<&str> = params
            .key_names()
            .into_iter()
            .filter(|k| !["model", "timeout", "rpm", "tpm"].contains(k))
            .collect();
        if !others.is_empty() {
            report.unmodelled(
                &params.path,
                format!(
                    "{}: not modelled (credentials and provider settings; a `max_retries` here is the SDK's loop inside the router's)",
                    others.join(", ")
                ),
            );
        }
    }
    for d in deployments.iter().filter(|d| d.group != primary) {
        for k in ["rpm", "tpm", "timeout"] {
            if let Some(f) = d
                .params
                .as_ref()
                .and_then(|p| p.get(k))
                .or_else(|| d.top.get(k))
            {
                report.unmodelled(
                    &f.path,
                    "a fallback group's setting: only the primary's are modelled",
                );
            }
        }
    }

    let mut p = presets::preset("litellm-router").expect("a shipped preset");
    timeout(&settings, &own, &mut p, report)?;
    let num_retries = match settings.get(&["num_retries"], report) {
        Some(f) => {
            let n = f.u32(0, 99)?;
            report.mapped(&f.path, format!("retry.max_attempts = {}", n + 1));
            n
        }
        None => {
            report.defaulted(
                "num_retries",
                "2",
                "LiteLLM Router default, openai.DEFAULT_MAX_RETRIES",
            );
            2
        }
    };
    let attempts = retry_policy(&settings, num_retries, &mut p, report)?;
    p["retry"]["max_attempts"] = json!(attempts);
    if let Some(f) = settings.get(&["retry_after"], report) {
        let s = f.f64()?;
        if s != 0.0 {
            report.unmodelled(
                &f.path,
                "a floor under every retry delay: not modelled (the backoff is LiteLLM's)",
            );
        }
    }
    cooldown(&settings, own.len(), &mut p, report)?;
    chain(&settings, &fallback_map, &primary, attempts, &mut p, report)?;
    rate_limiter(&own, &mut p, report)?;
    Ok(p)
}

fn deployments<'d>(root: &Obj<'d>) -> Result<Vec<Deployment<'d>>, InputError> {
    let Some(list) = root.get("model_list") else {
        return Err(root.doc.error(
            "model_list",
            "no `model_list`: LiteLLM needs at least one deployment",
        ));
    };
    let mut out = Vec::new();
    for (i, item) in list.list()?.iter().enumerate() {
        let path = format!("{}[{i}]", list.path);
        let top = Obj::of(root.doc, &path, item, Keys::Exact)?;
        top.check(DEPLOYMENT_KEYS)?;
        let Some(name) = top.get("model_name") else {
            return Err(root.doc.error(&path, "a deployment without `model_name`"));
        };
        let params = top
            .get("litellm_params")
            .map(|f| f.obj(Keys::Exact))
            .transpose()?;
        out.push(Deployment {
            group: name.str()?.to_string(),
            path,
            params,
            top,
        });
    }
    if out.is_empty() {
        return Err(list.error("an empty `model_list`: LiteLLM needs at least one deployment"));
    }
    Ok(out)
}

/// Model group names, in order of first appearance.
fn group_names(deployments: &[Deployment]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for d in deployments {
        if !names.contains(&d.group) {
            names.push(d.group.clone());
        }
    }
    names
}

/// `fallbacks: [{"group": ["fallback", ...]}, ...]`, as (group, targets, path).
fn fallbacks(
    settings: &Settings,
    key: &str,
    report: &mut Report,
) -> Result<Vec<(String, Vec<String>, String)>, InputError> {
    let Some(f) = settings.get(&[key], report) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, entry) in f.list()?.iter().enumerate() {
        let path = format!("{}[{i}]", f.path);
        let obj = Obj::of(f.doc, &path, entry, Keys::Exact)?;
        for (group, targets) in obj.map {
            let tp = join(&path, group);
            let field = Field {
                doc: f.doc,
                path: tp.clone(),
                value: targets,
            };
            let names = field
                .list()?
                .iter()
                .enumerate()
                .map(|(j, t)| {
                    t.as_str().map(str::to_string).ok_or_else(|| {
                        f.doc
                            .error(&format!("{tp}[{j}]"), "expected a model group name")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push((group.clone(), names, tp));
        }
    }
    Ok(out)
}

fn pick_primary(
    doc: &Doc,
    groups: &[String],
    fallbacks: &[(String, Vec<String>, String)],
    instance: Option<&str>,
) -> Result<String, InputError> {
    if let Some(name) = instance {
        if groups.iter().any(|g| g == name) {
            return Ok(name.to_string());
        }
        let names: Vec<&str> = groups.iter().map(String::as_str).collect();
        let hint = nearest_name(name, &names)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        return Err(doc.error(
            "model_list",
            format!(
                "no model group `{name}`{hint}; the groups: {}",
                names.join(", ")
            ),
        ));
    }
    let targets: Vec<&String> = fallbacks.iter().flat_map(|(_, t, _)| t).collect();
    let candidates: Vec<&String> = groups.iter().filter(|g| !targets.contains(g)).collect();
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(doc.error(
            "model_list",
            format!(
                "several model groups ({}): name the one the scenario group calls with --instance",
                groups.join(", ")
            ),
        )),
    }
}

fn timeout(
    settings: &Settings,
    own: &[&Deployment],
    p: &mut Value,
    report: &mut Report,
) -> Result<(), InputError> {
    let mut per_deployment = own
        .iter()
        .filter_map(|d| d.params.as_ref().and_then(|p| p.get("timeout")));
    let (ns, from) = if let Some(first) = per_deployment.next() {
        let ns = first.seconds()?;
        for other in per_deployment {
            if other.seconds()? != ns {
                report.unmodelled(
                    &other.path,
                    format!(
                        "differs from {}: the group has one timeout, the first's",
                        first.path
                    ),
                );
            }
        }
        (ns, first.path.clone())
    } else if let Some(f) = settings.get(&["timeout", "request_timeout"], report) {
        (f.seconds()?, f.path.clone())
    } else {
        // litellm/constants.py: request_timeout = 6000 s (what the preset has).
        report.defaulted("timeout", "6000 s", "LiteLLM's litellm.request_timeout");
        return Ok(());
    };
    if ns == 0 {
        return Err(settings.sources[0]
            .doc
            .error(&from, "a timeout of 0 s would fail every call"));
    }
    p["timeout"] = json!({ "connect": dur(ns), "total": dur(ns) });
    report.mapped(
        &from,
        format!("timeout.total and timeout.connect = {}", dur(ns)),
    );
    Ok(())
}

/// Reads `retry_policy`: sets `retry.retry_on`, returns the attempts per target.
fn retry_policy(
    settings: &Settings,
    num_retries: u32,
    p: &mut Value,
    report: &mut Report,
) -> Result<u32, InputError> {
    let mut counts: Vec<u32> = vec![num_retries]; // connection errors
    let mut retry_on: Vec<&str> = vec!["connection_error"];
    let policy = settings
        .get(&["retry_policy"], report)
        .map(|f| f.obj(Keys::Exact))
        .transpose()?;
    if let Some(rp) = &policy {
        let names: Vec<&str> = RETRY_KINDS.iter().map(|(n, _)| *n).collect();
        rp.check(&names)?;
    }
    for (name, failures) in RETRY_KINDS {
        let entry = policy.as_ref().and_then(|rp| rp.get(name));
        let count = entry.as_ref().map(|f| f.u32(0, 99)).transpose()?;
        if failures.is_empty() {
            if let Some(f) = entry {
                report.unmodelled(&f.path, "the simulated world never fails this way");
            }
            continue;
        }
        match count {
            Some(0) => {
                report.mapped(
                    &entry.expect("set").path,
                    format!("{} not retried", failures.join(", ")),
                );
            }
            Some(n) => {
                report.mapped(
                    &entry.expect("set").path,
                    format!("{} retried", failures.join(", ")),
                );
                counts.push(n);
                retry_on.extend_from_slice(failures);
            }
            None => {
                counts.push(num_retries);
                retry_on.extend_from_slice(failures);
            }
        }
    }
    let most = counts.iter().copied().max().unwrap_or(num_retries);
    if counts.iter().any(|c| *c != most) {
        report.unmodelled(
            "retry_policy",
            format!("retry counts differ by kind ({counts:?}); the simulator has one count per target: used the largest, {most}"),
        );
    }
    // The preset's order: timeout, connect_timeout, connection_error, rate_limited, 5xx.
    let order = [
        "timeout",
        "connect_timeout",
        "connection_error",
        "rate_limited",
        "5xx",
    ];
    p["retry"]["retry_on"] = json!(
        order
            .iter()
            .filter(|f| retry_on.contains(f))
            .collect::<Vec<_>>()
    );
    if let Some(f) = settings.get(&["allowed_fails_policy"], report) {
        let afp = f.obj(Keys::Exact)?;
        afp.check(ALLOWED_FAILS_KINDS)?;
        report.unmodelled(
            &f.path,
            "allowed fails per kind: the simulator counts every failure against allowed_fails",
        );
    }
    Ok(most + 1)
}

fn cooldown(
    settings: &Settings,
    deployments: usize,
    p: &mut Value,
    report: &mut Report,
) -> Result<(), InputError> {
    if let Some(f) = settings.get(&["disable_cooldowns"], report)
        && f.bool()?
    {
        report.mapped(&f.path, "no cooldown");
        p.as_object_mut().expect("an object").remove("cooldown");
        return Ok(());
    }
    let c = &mut p["cooldown"];
    c["deployments"] = json!(deployments);
    if let Some(f) = settings.get(&["allowed_fails"], report) {
        let n = f.u32(0, 1_000_000)?;
        c["allowed_fails"] = json!(n);
        // An explicit allowed_fails replaces LiteLLM's failure-rate rules (cooldown_handlers.py).
        c.as_object_mut()
            .expect("an object")
            .remove("all_failed_min_requests");
        report.mapped(&f.path, format!("cooldown.allowed_fails = {n}"));
    } else {
        report.defaulted(
            "allowed_fails",
            "unset",
            "LiteLLM's failure-rate rules, router_utils/cooldown_handlers.py",
        );
    }
    match settings.get(&["cooldown_time"], report) {
        Some(f) => {
            let ns = f.seconds()?;
            if ns == 0 {
                return Err(f.error("a cooldown of 0 s: use `disable_cooldowns: true`"));
            }
            c["cooldown"] = json!(dur(ns));
            report.mapped(&f.path, format!("cooldown.cooldown = {}", dur(ns)));
        }
        None => report.defaulted(
            "cooldown_time",
            "5 s",
            "LiteLLM's DEFAULT_COOLDOWN_TIME_SECONDS",
        ),
    }
    Ok(())
}

fn chain(
    settings: &Settings,
    fallbacks_map: &[(String, Vec<String>, String)],
    primary: &str,
    attempts: u32,
    p: &mut Value,
    report: &mut Report,
) -> Result<(), InputError> {
    let mine = fallbacks_map.iter().find(|(g, _, _)| g == primary);
    for (g, _, path) in fallbacks_map.iter().filter(|(g, _, _)| g != primary) {
        report.unmodelled(path, format!("fallbacks of `{g}`, not the primary group"));
    }
    let targets: Vec<String> = mine.map(|(_, t, _)| t.clone()).unwrap_or_default();
    if let Some((_, t, path)) = mine {
        p["fallback"] = json!(
            t.iter()
                .map(|m| json!({ "model": m, "attempts": attempts }))
                .collect::<Vec<_>>()
        );
        report.mapped(
            path,
            format!(
                "fallback: {} (scenario models of those names, {attempts} attempts each)",
                t.join(", ")
            ),
        );
    }
    let cw = fallbacks(settings, "context_window_fallbacks", report)?;
    for (g, t, path) in &cw {
        if g == primary && *t == targets {
            report.mapped(
                path,
                "the same fallback chain (the simulator's serves context-window errors too)",
            );
        } else {
            report.unmodelled(path, "the simulator has one fallback chain for every cause");
        }
    }
    Ok(())
}

fn rate_limiter(own: &[&Deployment], p: &mut Value, report: &mut Report) -> Result<(), InputError> {
    let mut limiter = serde_json::Map::new();
    for key in ["rpm", "tpm"] {
        let mut total = 0.0;
        let mut paths = Vec::new();
        for d in own {
            let f = d
                .params
                .as_ref()
                .and_then(|p| p.get(key))
                .or_else(|| d.top.get(key));
            if let Some(f) = f {
                let v = f.f64()?;
                if v <= 0.0 {
                    return Err(f.error("must be > 0"));
                }
                total += v;
                paths.push(f.path);
            }
        }
        if paths.is_empty() {
            continue;
        }
        if paths.len() < own.len() {
            report.unmodelled(
                &own[0].path,
                format!("only some deployments set `{key}`: the limiter takes their sum, the others unlimited"),
            );
        }
        limiter.insert(key.into(), json!(total));
        report.mapped(
            &paths.join(" + "),
            format!("rate_limiter.{key} = {}", num(total)),
        );
    }
    if !limiter.is_empty() {
        // LiteLLM fails a call at once when no deployment has room (router.py
        // get_available_deployment raises RateLimitError): no wait.
        limiter.insert("max_wait".into(), json!("0s"));
        p["rate_limiter"] = Value::Object(limiter);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Export.

/// The failures LiteLLM's router retries (the preset's set).
fn litellm_retry_on() -> FailureSet {
    FailureSet::parse(
        &[
            "timeout",
            "connect_timeout",
            "connection_error",
            "rate_limited",
            "5xx",
        ]
        .map(String::from),
    )
    .expect("valid names")
}

pub fn export(src: &Source, json_form: bool, lost: &mut Vec<String>) -> String {
    let pol = src.policy();
    let attempts = pol.chain[0].attempts;
    let num_retries = attempts - 1;
    common_losses(src, lost);

    let mut settings = Out::map();
    settings.put(
        "num_retries",
        Out::int(u64::from(num_retries)),
        Some(format!(
            "retry.max_attempts {attempts}, {}",
            src.origin("retry.max_attempts")
        )),
    );
    if pol.connect_timeout_ns != pol.attempt_timeout_ns {
        lost.push(format!(
            "timeout.connect {} differs from timeout.total {}: LiteLLM has one timeout",
            dur(pol.connect_timeout_ns),
            dur(pol.attempt_timeout_ns)
        ));
    }
    settings.put(
        "timeout",
        Out::Raw(secs(pol.attempt_timeout_ns)),
        Some(format!(
            "seconds, timeout.total, {}",
            src.origin("timeout.total")
        )),
    );
    let retry_policy = retry_policy_out(pol.retry.retry_on, lost);
    if !retry_policy.is_empty_map() {
        settings.put(
            "retry_policy",
            retry_policy,
            Some(format!(
                "0: not retried; retry.retry_on, {}",
                src.origin("retry.retry_on")
            )),
        );
    }
    cooldown_out(src, &mut settings, lost);
    let fallbacks: Vec<String> = (1..pol.chain.len())
        .map(|i| src.model(i).to_string())
        .collect();
    for (i, step) in pol.chain.iter().enumerate().skip(1) {
        if step.attempts != attempts {
            lost.push(format!(
                "fallback[{}].attempts {}: LiteLLM gives every fallback the primary's {attempts}",
                i - 1,
                step.attempts
            ));
        }
    }
    if !fallbacks.is_empty() {
        let entry = Out::map().with(
            src.model(0),
            Out::List(fallbacks.iter().map(|f| Out::str(f)).collect()),
            None,
        );
        settings.put(
            "fallbacks",
            Out::List(vec![entry]),
            Some(format!("fallback, {}", src.origin("fallback"))),
        );
    }

    let model_list = model_list(src, lost);
    let header = header(src, lost);
    if json_form {
        let Out::Map(mut entries) = settings else {
            unreachable!("a map")
        };
        entries.insert(
            0,
            super::Entry {
                key: "model_list".into(),
                value: model_list,
                note: None,
            },
        );
        Out::Map(entries).to_json()
    } else {
        Out::map()
            .with("model_list", model_list, None)
            .with("router_settings", settings, None)
            .to_yaml(&header)
    }
}

/// The header of an exported file: where it came from, what it follows, what was lost.
pub(super) fn header(src: &Source, lost: &[String]) -> Vec<String> {
    let mut h = vec![
        format!(
            "Exported by aichaos {} from scenario `{}`, group `{}`.",
            env!("CARGO_PKG_VERSION"),
            src.scenario.name,
            src.scenario.groups[src.group].name
        ),
        "Each value's comment says where it came from: the sweep that tuned it, the scenario as written, a preset, or aichaos's default.".into(),
    ];
    if !lost.is_empty() {
        h.push("NOT carried over (--lossy):".into());
        h.extend(lost.iter().map(|l| format!("  - {l}")));
    }
    h
}

/// What no LiteLLM setting expresses.
fn common_losses(src: &Source, lost: &mut Vec<String>) {
    let pol = src.policy();
    let b = pol.retry.backoff;
    let litellm_backoff = b.kind == BackoffKind::Exponential
        && b.base_ns == 500 * NS_PER_MS
        && b.multiplier == 2.0
        && b.cap_ns == 8 * NS_PER_S
        && b.jitter
            == (Jitter::Additive {
                max_ns: 750 * NS_PER_MS,
            });
    if !litellm_backoff {
        lost.push(
            "retry.backoff: LiteLLM's backoff is fixed (0.5 s x 2^n up to 8 s, plus up to 0.75 s)"
                .into(),
        );
    }
    let ra = pol.retry.retry_after;
    if !(ra.honour && ra.max_ns == 60 * NS_PER_S && ra.above_max == AboveMax::UseBackoff) {
        lost.push(
            "retry.retry_after: LiteLLM honours a Retry-After of at most 60 s, else backs off"
                .into(),
        );
    } else if ra.combine != Combine::Max {
        lost.push(
            "retry.retry_after.combine replace: LiteLLM sleeps the header plus up to 0.75 s, \
             which the litellm-router preset models as `max`"
                .into(),
        );
    }
    lose_unsaid(
        pol,
        lost,
        &[
            (Part::Deadline, "LiteLLM has no overall request deadline"),
            (Part::OuterRetries, "LiteLLM has one retry loop"),
            (Part::Breaker, "LiteLLM has cooldowns, not circuit breakers"),
            (Part::RetryBudget, "LiteLLM has none"),
            (Part::AdaptiveThrottling, "LiteLLM has none"),
            (Part::CreditCheck, "LiteLLM has none"),
            (Part::Hedging, "LiteLLM does not hedge"),
            (Part::Bulkhead, "not a LiteLLM router setting"),
        ],
    );
}

fn retry_policy_out(retry_on: FailureSet, lost: &mut Vec<String>) -> Out {
    let all = litellm_retry_on();
    let extra: Vec<&str> = retry_on
        .names()
        .into_iter()
        .filter(|n| !all.names().contains(n))
        .collect();
    if !extra.is_empty() {
        lost.push(format!(
            "retry.retry_on {}: LiteLLM's retry_policy has no such kind",
            extra.join(", ")
        ));
    }
    if !retry_on.contains(Failure::ConnectionError) {
        lost.push(
            "retry.retry_on without connection_error: LiteLLM always retries connection errors"
                .into(),
        );
    }
    let mut out = Out::map();
    for (name, failures) in RETRY_KINDS.iter().filter(|(_, f)| !f.is_empty()) {
        let set = FailureSet::parse(&failures.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("valid");
        let members: Vec<bool> = set
            .names()
            .iter()
            .map(|n| retry_on.names().contains(n))
            .collect();
        if members.iter().all(|m| *m) {
            continue;
        }
        if members.iter().any(|m| *m) {
            lost.push(format!(
                "retry.retry_on has only part of {} ({}): LiteLLM's {name} covers them all",
                failures.join(", "),
                set.names().join(", ")
            ));
            continue;
        }
        out.put(name, Out::int(0), None);
    }
    out
}

fn cooldown_out(src: &Source, settings: &mut Out, lost: &mut Vec<String>) {
    let Some(c) = src.policy().cooldown else {
        settings.put(
            "disable_cooldowns",
            Out::bool(true),
            Some("no cooldown in the scenario".into()),
        );
        return;
    };
    let legacy = c.allowed_fails.is_some()
        && c.failure_rate.is_none()
        && c.all_failed_min_requests.is_none()
        && !c.cool_on_429;
    let one = c.allowed_fails.is_none()
        && c.failure_rate.is_none()
        && c.all_failed_min_requests == Some(1000)
        && !c.cool_on_429;
    let several = c.allowed_fails.is_none()
        && c.failure_rate == Some((0.5, 5))
        && c.all_failed_min_requests == Some(1000)
        && c.cool_on_429;
    if !(legacy || one || several) {
        lost.push("cooldown: rules other than LiteLLM's (failure_rate, min_requests, all_failed_min_requests or cool_on_429 changed)".into());
    }
    if let Some(n) = c.allowed_fails {
        settings.put(
            "allowed_fails",
            Out::int(u64::from(n)),
            Some(format!(
                "cooldown.allowed_fails, {}",
                src.origin("cooldown.allowed_fails")
            )),
        );
    }
    settings.put(
        "cooldown_time",
        Out::Raw(secs(c.cooldown_ns)),
        Some(format!(
            "seconds, cooldown.cooldown, {}",
            src.origin("cooldown.cooldown")
        )),
    );
}

/// The deployments: the primary group (two entries when the cooldown is a model group of
/// several deployments', LiteLLM's rule depending on it), then one per fallback group.
fn model_list(src: &Source, lost: &mut Vec<String>) -> Out {
    let pol = src.policy();
    let several = pol
        .cooldown
        .is_some_and(|c| c.cool_on_429 || c.failure_rate.is_some());
    // As many deployments as the scenario names when they agree with the rules in force
    // (one, or several), else as many as LiteLLM's rules need.
    let copies = src
        .written
        .and_then(|w| w.pointer("/cooldown/deployments"))
        .and_then(Value::as_u64)
        .filter(|n| (1..=100).contains(n) && (*n > 1 || !several))
        .map_or(if several { 2 } else { 1 }, |n| n as u32);
    let mut list = Vec::new();
    for _ in 0..copies {
        let mut params = Out::map().with(
            "model",
            Out::Str(format!("{}/{}", src.provider(0), src.model(0))),
            Some("give each deployment its api_key / api_base".into()),
        );
        if let Some(l) = pol.rate_limiter {
            if l.max_wait_ns != 0 {
                lost.push("rate_limiter.max_wait: LiteLLM does not wait for room".into());
            }
            // Split evenly: the import sums the deployments' limits back.
            if let Some(rpm) = l.rpm {
                params.put(
                    "rpm",
                    Out::num(rpm / f64::from(copies)),
                    Some(format!(
                        "rate_limiter.rpm, {}",
                        src.origin("rate_limiter.rpm")
                    )),
                );
            }
            if let Some(tpm) = l.tpm {
                params.put(
                    "tpm",
                    Out::num(tpm / f64::from(copies)),
                    Some(format!(
                        "rate_limiter.tpm, {}",
                        src.origin("rate_limiter.tpm")
                    )),
                );
            }
        }
        let note = several.then(|| {
            "a model group of several deployments: LiteLLM's cooldown rules depend on it"
                .to_string()
        });
        list.push(
            Out::map()
                .with("model_name", Out::str(src.model(0)), note)
                .with("litellm_params", params, None),
        );
    }
    let mut seen = vec![src.model(0).to_string()];
    for i in 1..pol.chain.len() {
        if seen.iter().any(|m| m == src.model(i)) {
            continue;
        }
        seen.push(src.model(i).to_string());
        list.push(
            Out::map()
                .with(
                    "model_name",
                    Out::str(src.model(i)),
                    Some("a fallback".into()),
                )
                .with(
                    "litellm_params",
                    Out::map().with(
                        "model",
                        Out::Str(format!("{}/{}", src.provider(i), src.model(i))),
                        None,
                    ),
                    None,
                ),
        );
    }
    Out::List(list)
}
