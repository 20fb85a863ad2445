//! Real clients' resilience configurations, in and out: `aichaos import` reads a LiteLLM
//! proxy `config.yaml` (or Router keyword arguments as JSON), a Spring Boot resilience4j
//! block, an Envoy route and cluster, or a .NET `HttpStandardResilienceOptions` section,
//! and writes the equivalent scenario `policy`; `aichaos export` writes a scenario group's
//! policy back in one of those formats (and as openai-python / anthropic-python client
//! arguments).
//!
//! Two phases, as for scenarios: `doc` reads the file into a tree with the position of every
//! key; a format module maps the tree onto the scenario format (JSON the scenario loader
//! reads, so every range is checked there once), with a [`Report`] of every setting it
//! mapped, every one it could not model and why, and every default it assumed. Export
//! starts from the validated `ClientPolicy` (defaults resolved) and lists what the format
//! cannot say: refused unless `--lossy`.
//!
//! Each format module names the documentation and version it follows; a value's source is
//! cited beside it. The round trip import(export(policy)) == policy holds on every field a
//! format carries (tests/it/config.rs, over generated policies).
//!
//! This module knows nothing of the engine, nor of files beyond the text it is given: the
//! command (`cli/import.rs`, `cli/export.rs`) reads and writes them.

pub mod best;
pub mod doc;
pub mod envoy;
pub mod into;
pub mod litellm;
pub mod polly;
pub mod resilience4j;
pub mod sdk;

use serde_json::{Map, Value};

use crate::error::{InputError, nearest_name};
use crate::policy::ClientPolicy;
use crate::scenario::Scenario;
use crate::time::{NS_PER_MS, NS_PER_S, NS_PER_US, Nanos};
use doc::{Doc, join};

/// The formats, by their names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// LiteLLM proxy `config.yaml` (import also reads the Router's keyword arguments as JSON).
    Litellm,
    /// LiteLLM `Router(...)` keyword arguments as JSON.
    LitellmJson,
    /// resilience4j's Spring Boot configuration, YAML.
    Resilience4j,
    /// resilience4j's Spring Boot configuration, `.properties`.
    Resilience4jProperties,
    /// An Envoy route's `retry_policy` with its cluster's circuit breakers and outlier
    /// detection (YAML or JSON).
    Envoy,
    /// Microsoft.Extensions.Http.Resilience standard handler options (JSON section).
    Polly,
    /// openai-python client arguments (+ tenacity); export only.
    OpenaiPython,
    /// anthropic-python client arguments (+ tenacity); export only.
    AnthropicPython,
}

pub const FORMAT_NAMES: [&str; 8] = [
    "litellm",
    "litellm-json",
    "resilience4j",
    "resilience4j-properties",
    "envoy",
    "polly",
    "openai-python",
    "anthropic-python",
];

impl Format {
    pub fn from_name(name: &str) -> Result<Format, String> {
        Ok(match name {
            "litellm" => Format::Litellm,
            "litellm-json" => Format::LitellmJson,
            "resilience4j" => Format::Resilience4j,
            "resilience4j-properties" => Format::Resilience4jProperties,
            "envoy" => Format::Envoy,
            "polly" => Format::Polly,
            "openai-python" => Format::OpenaiPython,
            "anthropic-python" => Format::AnthropicPython,
            other => {
                let hint = nearest_name(other, &FORMAT_NAMES)
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown format `{other}`{hint}; valid: {}",
                    FORMAT_NAMES.join(", ")
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        FORMAT_NAMES[self as usize]
    }

    /// The end of the file `sweep --export` writes (`best.litellm.yaml`): the format's
    /// project, then the extension its readers expect.
    pub fn file_suffix(self) -> &'static str {
        match self {
            Format::Litellm => "litellm.yaml",
            Format::LitellmJson => "litellm.json",
            Format::Resilience4j => "resilience4j.yaml",
            Format::Resilience4jProperties => "resilience4j.properties",
            Format::Envoy => "envoy.yaml",
            Format::Polly => "polly.json",
            Format::OpenaiPython => "openai.py",
            Format::AnthropicPython => "anthropic.py",
        }
    }
}

/// What an import or export did with each setting, in the order met.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub mapped: Vec<String>,
    pub unmodelled: Vec<String>,
    pub defaulted: Vec<String>,
}

impl Report {
    pub fn mapped(&mut self, from: &str, to: impl Into<String>) {
        self.mapped.push(format!("{from} -> {}", to.into()));
    }

    pub fn unmodelled(&mut self, from: &str, why: impl Into<String>) {
        self.unmodelled.push(format!("{from}: {}", why.into()));
    }

    pub fn defaulted(&mut self, what: &str, value: impl Into<String>, source: &str) {
        self.defaulted
            .push(format!("{what} = {} ({source})", value.into()));
    }

    /// The report as text, a section per kind (empty sections left out).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (title, lines) in [
            ("mapped", &self.mapped),
            ("not modelled (ignored)", &self.unmodelled),
            ("defaults assumed", &self.defaulted),
        ] {
            if lines.is_empty() {
                continue;
            }
            out.push_str(&format!("{title}:\n"));
            for l in lines {
                out.push_str(&format!("  {l}\n"));
            }
        }
        out
    }
}

/// An imported policy: scenario-format JSON and what was done to get it.
#[derive(Debug, Clone)]
pub struct Imported {
    pub policy: Value,
    pub report: Report,
}

/// Reads `text` (the content of `file`) in `format`; `instance` picks one of several
/// instances, routes or model groups in it.
pub fn import(
    format: Format,
    file: &str,
    text: &str,
    instance: Option<&str>,
) -> Result<Imported, InputError> {
    let doc = match format {
        Format::Resilience4jProperties => doc::parse_properties(file, text)?,
        Format::Resilience4j if file.ends_with(".properties") => doc::parse_properties(file, text)?,
        Format::OpenaiPython | Format::AnthropicPython => {
            return Err(InputError::single(
                file,
                "",
                format!(
                    "`{}` is export only: a client's arguments live in code, not in a file",
                    format.name()
                ),
            ));
        }
        // .NET's JSON configuration skips comments; blanked in place, positions hold.
        Format::Polly => doc::parse_yaml(file, &polly::strip_comments(text))?,
        _ => doc::parse_yaml(file, text)?,
    };
    let mut report = Report::default();
    let policy = match format {
        Format::Litellm | Format::LitellmJson => litellm::import(&doc, instance, &mut report)?,
        Format::Resilience4j | Format::Resilience4jProperties => {
            resilience4j::import(&doc, instance, &mut report)?
        }
        Format::Envoy => envoy::import(&doc, instance, &mut report)?,
        Format::Polly => polly::import(&doc, instance, &mut report)?,
        Format::OpenaiPython | Format::AnthropicPython => unreachable!("refused above"),
    };
    check_loads(file, &policy)?;
    Ok(Imported { policy, report })
}

/// Fails when the scenario loader would refuse the policy (a value beyond the simulator's
/// ranges), checked in a world of one provider serving the primary and fallback models.
fn check_loads(file: &str, policy: &Value) -> Result<(), InputError> {
    let mut models = vec!["primary".to_string()];
    for f in policy
        .get("fallback")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = f.get("model").and_then(Value::as_str)
            && !models.iter().any(|x| x == m)
        {
            models.push(m.to_string());
        }
    }
    let model = |name: &String| serde_json::json!({ "name": name, "input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "ttft": "1s", "per_token": "1ms" });
    let world = serde_json::json!({
        "name": "check",
        "duration": "1s",
        "traffic": [{
            "name": "imported",
            "arrivals": { "type": "poisson", "rate": "1/s" },
            "request": { "model": "primary", "input_tokens": 1, "output_tokens": 1 },
            "policy": policy
        }],
        "providers": [{ "name": "p", "models": models.iter().map(model).collect::<Vec<_>>() }]
    });
    crate::scenario::parse("imported", &world.to_string())
        .map(|_| ())
        .map_err(|e| {
            let reasons: Vec<String> = e
                .problems
                .iter()
                .map(|p| {
                    format!(
                        "{}: {}",
                        p.path.trim_start_matches("traffic[0].policy."),
                        p.reason
                    )
                })
                .collect();
            InputError::single(
                file,
                "",
                format!(
                    "the imported policy is beyond what the simulator accepts: {}",
                    reasons.join("; ")
                ),
            )
        })
}

/// What export is given: the validated scenario, the group, the group's `policy` as
/// written and the values a sweep chose (to say where each value came from).
pub struct Source<'a> {
    pub scenario: &'a Scenario,
    pub group: usize,
    pub written: Option<&'a Value>,
    /// From best.json's `tuned` record (`best::tuned_of`); empty for a scenario as written.
    pub tuned: &'a [best::Tuned],
}

impl Source<'_> {
    pub fn policy(&self) -> &ClientPolicy {
        &self.scenario.groups[self.group].policy
    }

    /// The model name of chain step `i`.
    pub fn model(&self, i: usize) -> &str {
        let t = self.policy().chain[i].target;
        self.scenario.model_name(t.provider, t.model)
    }

    /// The provider name of chain step `i`.
    pub fn provider(&self, i: usize) -> &str {
        let t = self.policy().chain[i].target;
        &self.scenario.provider(t.provider).name
    }

    /// Where the value at a scenario policy path (`retry.max_attempts`) came from: the
    /// sweep that chose it, the scenario as written, the preset it names, or the simulator's
    /// default.
    pub fn origin(&self, path: &str) -> String {
        // A swept field, or one inside a swept object, or an exported whole (`fallback`)
        // with a swept part.
        let covers = |t: &&best::Tuned| {
            t.path.is_empty()
                || t.path == path
                || path.starts_with(&format!("{}.", t.path))
                || t.path.starts_with(&format!("{path}."))
                || t.path.starts_with(&format!("{path}["))
        };
        if let Some(t) = self.tuned.iter().find(covers) {
            return format!("tuned: {}", t.label);
        }
        let Some(written) = self.written else {
            return "from the scenario".into();
        };
        let has = |v: &Value| {
            path.split('.')
                .try_fold(v, |node, key| node.get(key))
                .is_some()
        };
        if has(written) {
            return "from the scenario".into();
        }
        let preset = written.get("preset").and_then(Value::as_str);
        match preset.and_then(|p| crate::policy::presets::preset(p).map(|v| (p, v))) {
            Some((name, v)) if has(&v) => match self.tuned.iter().find(|t| t.path == "preset") {
                Some(t) => format!("from preset {name}, tuned: {}", t.label),
                None => format!("from preset {name}"),
            },
            _ => "aichaos default".into(),
        }
    }
}

/// An exported policy: the text, and what the format could not say (empty unless `--lossy`).
#[derive(Debug, Clone)]
pub struct Exported {
    pub text: String,
    pub lost: Vec<String>,
}

/// Writes the group's policy in `format`. Refused with the reasons when the format cannot
/// express all of it, unless `lossy`.
pub fn export(format: Format, source: &Source, lossy: bool) -> Result<Exported, Vec<String>> {
    let mut lost = Vec::new();
    let text = match format {
        Format::Litellm => litellm::export(source, false, &mut lost),
        Format::LitellmJson => litellm::export(source, true, &mut lost),
        Format::Resilience4j => resilience4j::export(source, false, &mut lost),
        Format::Resilience4jProperties => resilience4j::export(source, true, &mut lost),
        Format::Envoy => envoy::export(source, &mut lost),
        Format::Polly => polly::export(source, &mut lost),
        Format::OpenaiPython => sdk::export(source, sdk::Sdk::Openai, &mut lost),
        Format::AnthropicPython => sdk::export(source, sdk::Sdk::Anthropic, &mut lost),
    };
    if !lost.is_empty() && !lossy {
        return Err(lost);
    }
    Ok(Exported { text, lost })
}

// ---------------------------------------------------------------------------------------
// Reading a format's tree.

/// How a format matches keys: exactly (LiteLLM, Envoy's proto names), or relaxed as Spring
/// Boot's binder and .NET's configuration binder do (case, `-` and `_` ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    Exact,
    Relaxed,
}

fn canon(keys: Keys, name: &str) -> String {
    match keys {
        Keys::Exact => name.to_string(),
        Keys::Relaxed => name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect(),
    }
}

/// An object of the configuration tree at a path.
#[derive(Clone)]
pub struct Obj<'d> {
    pub doc: &'d Doc,
    pub path: String,
    pub map: &'d Map<String, Value>,
    pub keys: Keys,
}

/// A value of the tree with its path.
pub struct Field<'d> {
    pub doc: &'d Doc,
    pub path: String,
    pub value: &'d Value,
}

impl<'d> Obj<'d> {
    /// The object at `path` of `doc`, whose value is `value`; an error if it is not one.
    pub fn of(doc: &'d Doc, path: &str, value: &'d Value, keys: Keys) -> Result<Self, InputError> {
        match value {
            Value::Object(map) => Ok(Obj {
                doc,
                path: path.to_string(),
                map,
                keys,
            }),
            _ => Err(doc.error(path, format!("expected a mapping, found {}", kind(value)))),
        }
    }

    /// Fails on the first key not in `known`, naming the nearest known one.
    pub fn check(&self, known: &[&str]) -> Result<(), InputError> {
        let canon_known: Vec<String> = known.iter().map(|k| canon(self.keys, k)).collect();
        for key in self.map.keys() {
            if canon_known.contains(&canon(self.keys, key)) {
                continue;
            }
            let hint = nearest_name(key, known)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return Err(self.doc.error(
                &join(&self.path, key),
                format!(
                    "unknown key `{key}`{hint}; known here: {}",
                    known.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The field named `key` (matched as the format matches keys).
    pub fn get(&self, key: &str) -> Option<Field<'d>> {
        let want = canon(self.keys, key);
        self.map
            .iter()
            .find(|(k, _)| canon(self.keys, k) == want)
            .map(|(k, v)| Field {
                doc: self.doc,
                path: join(&self.path, k),
                value: v,
            })
    }

    /// The keys present, as written.
    pub fn key_names(&self) -> Vec<&'d str> {
        self.map.keys().map(String::as_str).collect()
    }

    /// `key` as a whole number in [min, max], or `default` when absent.
    pub fn u32_or(&self, key: &str, min: u32, max: u32, default: u32) -> Result<u32, InputError> {
        self.get(key).map_or(Ok(default), |f| f.u32(min, max))
    }

    /// `key` as a number, or `default` when absent.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, InputError> {
        self.get(key).map_or(Ok(default), |f| f.f64())
    }

    /// `key` as a boolean, or `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, InputError> {
        self.get(key).map_or(Ok(default), |f| f.bool())
    }
}

/// The parts of a policy a format may have no setting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Deadline,
    Fallback,
    OuterRetries,
    Breaker,
    RetryBudget,
    AdaptiveThrottling,
    Cooldown,
    CreditCheck,
    Hedging,
    RateLimiter,
    Bulkhead,
}

impl Part {
    fn present(self, p: &ClientPolicy) -> bool {
        match self {
            Part::Deadline => p.deadline_ns != Nanos::MAX,
            Part::Fallback => p.chain.len() > 1,
            Part::OuterRetries => !p.outer_retries.is_empty(),
            Part::Breaker => p.breaker.is_some(),
            Part::RetryBudget => p.retry_budget.is_some(),
            Part::AdaptiveThrottling => p.adaptive_throttling.is_some(),
            Part::Cooldown => p.cooldown.is_some(),
            Part::CreditCheck => p.credit_check.is_some(),
            Part::Hedging => p.hedging.is_some(),
            Part::RateLimiter => p.rate_limiter.is_some(),
            Part::Bulkhead => p.bulkhead.is_some(),
        }
    }

    /// The scenario field.
    fn field(self) -> &'static str {
        match self {
            Part::Deadline => "deadline",
            Part::Fallback => "fallback",
            Part::OuterRetries => "outer_retries",
            Part::Breaker => "breaker",
            Part::RetryBudget => "retry_budget",
            Part::AdaptiveThrottling => "adaptive_throttling",
            Part::Cooldown => "cooldown",
            Part::CreditCheck => "credit_check",
            Part::Hedging => "hedging",
            Part::RateLimiter => "rate_limiter",
            Part::Bulkhead => "bulkhead",
        }
    }
}

/// Adds to `lost` each part the policy has and the format cannot say, with the reason.
pub fn lose_unsaid(policy: &ClientPolicy, lost: &mut Vec<String>, unsaid: &[(Part, &str)]) {
    for (part, why) in unsaid {
        if part.present(policy) {
            lost.push(format!("{}: {why}", part.field()));
        }
    }
}

/// Adds to `lost` what a format's breaker cannot be: every format's breaker stops every call
/// (resilience4j's and Polly's `CallNotPermittedException` / `BrokenCircuitException` on any
/// call, Envoy's ejected host for any request), so `applies_to: "retries"` (Brooker's retry
/// breaker) is no setting of any; one configuration serves every client process, so a
/// fleet's size and how its requests reach each instance (`scope`, `instances`,
/// `assignment`) are deployment facts, not settings; and a breaker records what it sees.
pub fn lose_breaker_kind(
    b: &crate::policy::breaker::BreakerConfig,
    format: &str,
    lost: &mut Vec<String>,
) {
    use crate::policy::breaker::{AppliesTo, Assignment};
    for (bad, what) in [
        (
            b.applies_to == AppliesTo::Retries,
            format!("breaker.applies_to retries: {format}'s breaker stops every call, first tries included"),
        ),
        (
            b.instances != 1,
            format!("breaker.scope per_instance ({} instances): a fleet, not a setting", b.instances),
        ),
        (
            b.assignment == Assignment::Random,
            "breaker.assignment random: how a fleet's requests reach its instances is the load balancer's, not a setting".into(),
        ),
        (
            !b.records,
            "breaker.records false: a breaker that records nothing".into(),
        ),
        (
            b.hold_open_for_retry_after,
            format!("breaker.hold_open_for_retry_after: not a {format} setting"),
        ),
    ] {
        if bad {
            lost.push(what);
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl<'d> Field<'d> {
    pub fn error(&self, reason: impl Into<String>) -> InputError {
        self.doc.error(&self.path, reason)
    }

    /// A number (a string holding one is accepted: `.properties` values are strings).
    pub fn f64(&self) -> Result<f64, InputError> {
        let n = match self.value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        n.filter(|n| n.is_finite())
            .ok_or_else(|| self.error(format!("expected a number, found {}", kind(self.value))))
    }

    /// A whole number in [min, max].
    pub fn int(&self, min: u64, max: u64) -> Result<u64, InputError> {
        let v = self.f64()?;
        if v.fract() != 0.0 || v < min as f64 || v > max as f64 {
            return Err(self.error(format!(
                "expected a whole number in [{min}, {max}], found {v}"
            )));
        }
        Ok(v as u64)
    }

    pub fn u32(&self, min: u32, max: u32) -> Result<u32, InputError> {
        Ok(self.int(u64::from(min), u64::from(max))? as u32)
    }

    pub fn bool(&self) -> Result<bool, InputError> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(self.error(format!(
                "expected true or false, found {}",
                kind(self.value)
            ))),
        }
    }

    pub fn str(&self) -> Result<&'d str, InputError> {
        self.value
            .as_str()
            .ok_or_else(|| self.error(format!("expected a string, found {}", kind(self.value))))
    }

    /// A number of seconds (LiteLLM's timeouts), as nanoseconds.
    pub fn seconds(&self) -> Result<Nanos, InputError> {
        let s = self.f64()?;
        if !(0.0..=1e9).contains(&s) {
            return Err(self.error(format!("expected seconds in [0, 1e9], found {s}")));
        }
        Ok((s * NS_PER_S as f64).round() as Nanos)
    }

    pub fn obj(&self, keys: Keys) -> Result<Obj<'d>, InputError> {
        match self.value {
            Value::Object(map) => Ok(Obj {
                doc: self.doc,
                path: self.path.clone(),
                map,
                keys,
            }),
            _ => Err(self.error(format!("expected a mapping, found {}", kind(self.value)))),
        }
    }

    pub fn list(&self) -> Result<&'d [Value], InputError> {
        match self.value {
            Value::Array(items) => Ok(items),
            _ => Err(self.error(format!("expected a list, found {}", kind(self.value)))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Values written into the scenario format.

/// A duration as the scenario format writes it, exactly: "30s", "500ms", "250us", "7ns".
pub fn dur(ns: Nanos) -> String {
    if ns == 0 {
        "0s".into()
    } else if ns.is_multiple_of(NS_PER_S) {
        format!("{}s", ns / NS_PER_S)
    } else if ns.is_multiple_of(NS_PER_MS) {
        format!("{}ms", ns / NS_PER_MS)
    } else if ns.is_multiple_of(NS_PER_US) {
        format!("{}us", ns / NS_PER_US)
    } else {
        format!("{ns}ns")
    }
}

/// Seconds as a number (LiteLLM, the SDKs): the shortest decimal that reads back exactly.
pub fn secs(ns: Nanos) -> String {
    let whole = ns / NS_PER_S;
    let frac = ns % NS_PER_S;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A number as JSON writes it (`3`, `0.5`).
pub fn num(v: f64) -> String {
    Value::from(v).to_string()
}

// ---------------------------------------------------------------------------------------
// Output: a small tree written as YAML (with comments), JSON or `.properties`.

#[derive(Debug, Clone)]
pub enum Out {
    Map(Vec<Entry>),
    List(Vec<Out>),
    Str(String),
    /// A number or boolean, already written.
    Raw(String),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub value: Out,
    pub note: Option<String>,
}

impl Out {
    pub fn map() -> Out {
        Out::Map(Vec::new())
    }

    /// Adds `key: value` with an optional comment (a builder, for nested literals).
    pub fn with(mut self, key: &str, value: Out, note: Option<String>) -> Out {
        self.put(key, value, note);
        self
    }

    pub fn put(&mut self, key: &str, value: Out, note: Option<String>) {
        if let Out::Map(entries) = self {
            entries.push(Entry {
                key: key.to_string(),
                value,
                note,
            });
        }
    }

    pub fn is_empty_map(&self) -> bool {
        matches!(self, Out::Map(e) if e.is_empty())
    }

    pub fn str(s: &str) -> Out {
        Out::Str(s.to_string())
    }

    pub fn int(v: u64) -> Out {
        Out::Raw(v.to_string())
    }

    pub fn num(v: f64) -> Out {
        Out::Raw(num(v))
    }

    pub fn bool(v: bool) -> Out {
        Out::Raw(v.to_string())
    }

    /// YAML, block style, strings in double quotes (JSON's escapes are YAML's), comments
    /// at the end of a line.
    pub fn to_yaml(&self, header: &[String]) -> String {
        let mut out: String = header.iter().map(|l| format!("# {l}\n")).collect();
        self.yaml_into(&mut out, 0);
        out
    }

    fn yaml_into(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        match self {
            Out::Map(entries) => {
                for e in entries {
                    let note = e
                        .note
                        .as_ref()
                        .map(|n| format!("  # {n}"))
                        .unwrap_or_default();
                    match &e.value {
                        Out::Map(inner) if !inner.is_empty() => {
                            out.push_str(&format!("{pad}{}:{note}\n", e.key));
                            e.value.yaml_into(out, indent + 2);
                        }
                        Out::List(items) if !items.is_empty() => {
                            out.push_str(&format!("{pad}{}:{note}\n", e.key));
                            e.value.yaml_into(out, indent + 2);
                        }
                        v => out.push_str(&format!("{pad}{}: {}{note}\n", e.key, v.inline())),
                    }
                }
            }
            Out::List(items) => {
                for item in items {
                    match item {
                        Out::Map(_) | Out::List(_) if !item.is_flat_empty() => {
                            let mut inner = String::new();
                            item.yaml_into(&mut inner, indent + 2);
                            // The first line's indent becomes the dash.
                            let body = &inner[indent + 2..];
                            out.push_str(&format!("{pad}- {body}"));
                        }
                        v => out.push_str(&format!("{pad}- {}\n", v.inline())),
                    }
                }
            }
            v => out.push_str(&format!("{pad}{}\n", v.inline())),
        }
    }

    fn is_flat_empty(&self) -> bool {
        matches!(self, Out::Map(e) if e.is_empty()) || matches!(self, Out::List(i) if i.is_empty())
    }

    /// A scalar (or an empty collection) on one line.
    fn inline(&self) -> String {
        match self {
            Out::Str(s) => Value::from(s.as_str()).to_string(),
            Out::Raw(r) => r.clone(),
            Out::Map(_) => "{}".into(),
            Out::List(_) => "[]".into(),
        }
    }

    /// JSON (comments dropped), pretty-printed with two spaces, keys in the order built.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.json_into(&mut out, 0);
        out.push('\n');
        out
    }

    fn json_into(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent + 2);
        match self {
            Out::Map(entries) if !entries.is_empty() => {
                out.push_str("{\n");
                for (i, e) in entries.iter().enumerate() {
                    out.push_str(&format!("{pad}{}: ", Value::from(e.key.as_str())));
                    e.value.json_into(out, indent + 2);
                    out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
                }
                out.push_str(&format!("{}}}", " ".repeat(indent)));
            }
            Out::List(items) if !items.is_empty() => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad);
                    item.json_into(out, indent + 2);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&format!("{}]", " ".repeat(indent)));
            }
            v => out.push_str(&v.inline()),
        }
    }

    /// `.properties` lines (`a.b[0].c=value`), each comment on the line before its value.
    pub fn to_properties(&self, header: &[String]) -> String {
        let mut out: String = header.iter().map(|l| format!("# {l}\n")).collect();
        self.properties_into(&mut out, "", None);
        out
    }

    fn properties_into(&self, out: &mut String, prefix: &str, note: Option<&String>) {
        match self {
            Out::Map(entries) => {
                for e in entries {
                    e.value
                        .properties_into(out, &join(prefix, &e.key), e.note.as_ref().or(note));
                }
            }
            Out::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.properties_into(out, &format!("{prefix}[{i}]"), note);
                }
            }
            Out::Str(s) => {
                if let Some(n) = note {
                    out.push_str(&format!("# {n}\n"));
                }
                out.push_str(&format!("{prefix}={s}\n"));
            }
            Out::Raw(r) => {
                if let Some(n) = note {
                    out.push_str(&format!("# {n}\n"));
                }
                out.push_str(&format!("{prefix}={r}\n"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_exactly() {
        assert_eq!(dur(30 * NS_PER_S), "30s");
        assert_eq!(dur(1500 * NS_PER_MS), "1500ms");
        assert_eq!(dur(7), "7ns");
        assert_eq!(secs(30 * NS_PER_S), "30");
        assert_eq!(secs(1500 * NS_PER_MS), "1.5");
        assert_eq!(secs(1), "0.000000001");
    }

    #[test]
    fn output_trees_read_back_as_yaml_json_and_properties() {
        let tree = Out::map()
            .with(
                "a",
                Out::map().with("b", Out::int(3), Some("note".into())),
                None,
            )
            .with(
                "list",
                Out::List(vec![
                    Out::map()
                        .with("x", Out::str("q\"uote"), None)
                        .with("y", Out::num(0.5), None),
                    Out::str("plain"),
                ]),
                None,
            )
            .with("empty", Out::map(), None);
        let yaml = tree.to_yaml(&["header".into()]);
        let doc = doc::parse_yaml("t.yaml", &yaml).unwrap();
        let json = doc::parse_yaml("t.json", &tree.to_json()).unwrap();
        assert_eq!(doc.root, json.root, "{yaml}");
        assert_eq!(doc.root["list"][0]["x"], "q\"uote");
        assert_eq!(doc.root["a"]["b"], 3);
        let props = doc::parse_properties("t.properties", &tree.to_properties(&[])).unwrap();
        assert_eq!(props.root["list"][0]["y"], "0.5");
        assert_eq!(props.root["a"]["b"], "3");
    }

    #[test]
    fn unknown_keys_name_the_nearest_known_one() {
        let d = doc::parse_yaml("c.yaml", "top:\n  num_retires: 2\n").unwrap();
        let top = Obj::of(&d, "top", &d.root["top"], Keys::Exact).unwrap();
        let e = top
            .check(&["num_retries", "timeout"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.yaml:2:3"), "{e}");
        assert!(e.contains("did you mean `num_retries`"), "{e}");
        let relaxed = Obj::of(&d, "top", &d.root["top"], Keys::Relaxed).unwrap();
        assert!(relaxed.check(&["numRetires"]).is_ok());
    }
}
