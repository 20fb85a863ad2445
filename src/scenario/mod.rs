//! Scenario files: reading, checking, and the validated model the simulation trusts.
//!
//! Two phases at the edge: `raw` mirrors the JSON (serde, unknown fields rejected), `build`
//! turns it into typed values with units (`Nanos`, probabilities, samplers) and checks every
//! range, collecting all problems with their field paths before giving up. Nothing under
//! `sim` re-checks what `build` guaranteed.
//!
//! A file holds one scenario, or an experiment: `{"name", "base", "scenarios": [...]}` where
//! each scenario is a JSON merge patch (RFC 7396) over `base`, so the seed's three runs share
//! one world and differ only in what they change.

mod build;
pub mod limits;
mod locate;
pub mod overrides;
mod raw;

use serde_json::Value;

use crate::chaos::ChaosModel;
use crate::error::{FieldError, InputError, nearest_name};
use crate::provider::ProviderModel;
use crate::time::Nanos;
use crate::traffic::GroupModel;

/// A validated scenario: every value has its unit and its range checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    /// Arrivals stop at `duration`; None when every group has `max_requests`.
    pub duration_ns: Option<Nanos>,
    pub bucket_ns: Nanos,
    pub warmup_ns: Nanos,
    /// How long after the arrivals stop the run may go on to let requests finish.
    pub drain_limit_ns: Nanos,
    pub groups: Vec<GroupModel>,
    pub providers: Vec<crate::provider::ProviderModel>,
    pub chaos: Option<ChaosModel>,
    pub slos: Vec<crate::slo::SloModel>,
    pub expect: Expectations,
    /// `--set` overrides applied to the file, as written (recorded in the summary).
    pub overrides: Vec<String>,
}

/// What a scenario promises; `run` exits 1 when one fails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    pub min_success_rate: Option<f64>,
    pub max_latency_p99_ms: Option<f64>,
    pub max_latency_mean_ms: Option<f64>,
    pub max_cost_usd: Option<f64>,
    pub max_amplification: Option<f64>,
    pub max_incidents: Option<u64>,
}

/// One file's worth of scenarios.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    pub scenarios: Vec<Scenario>,
}

impl Scenario {
    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }

    pub fn model_name(&self, provider: u16, model: u16) -> &str {
        &self.providers[provider as usize].models[model as usize].name
    }

    pub fn provider(&self, index: u16) -> &ProviderModel {
        &self.providers[index as usize]
    }
}

/// The JSON Schema (draft 2020-12) of scenario and experiment files, generated from the
/// same serde structs the parser reads, so the two cannot disagree on names or shapes.
/// Ranges and cross-field rules are checked by `build` only.
pub fn json_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(raw::ScenarioFile))
        .expect("a schema serializes");
    schema["title"] = Value::from("aichaos scenario file");
    schema["description"] = Value::from(
        "One scenario, or an experiment: {name, description, base, scenarios: [merge patches over base]}.",
    );
    schema
}

/// Reads and validates a scenario or experiment file.
pub fn load_file(path: &str) -> Result<Experiment, InputError> {
    load_file_with(path, &[])
}

/// Reads a file, applies `--set` overrides to every scenario in it, and validates.
pub fn load_file_with(
    path: &str,
    overrides: &[overrides::Override],
) -> Result<Experiment, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::single(path, "", format!("cannot read the file: {e}")))?;
    parse_with(path, &text, overrides)
}

/// Reads a single-scenario file with a merge patch (a compare variant) and overrides. For an
/// experiment, `only` picks the scenario (the experiment's merge comes first).
pub fn load_file_patched(
    path: &str,
    only: Option<&str>,
    patch: &Value,
    overrides: &[overrides::Override],
) -> Result<Scenario, InputError> {
    let doc = scenario_document(path, only, patch)?;
    let mut experiment = parse_with(path, &doc.to_string(), overrides)?;
    Ok(experiment.scenarios.remove(0))
}

/// The JSON of one scenario of a file (an experiment's `only` merged over its base) with a
/// merge patch applied: what `load_file_patched` checks, and what `sweep` writes out as its
/// best configuration (with the winning overrides applied).
pub fn scenario_document(
    path: &str,
    only: Option<&str>,
    patch: &Value,
) -> Result<Value, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::single(path, "", format!("cannot read the file: {e}")))?;
    let mut doc: Value = serde_json::from_str(&text).map_err(|e| {
        InputError::single(
            path,
            "",
            format!("invalid JSON: {}", strip_position(&e.to_string())),
        )
    })?;
    if let Some(Value::Array(scenarios)) = doc.get("scenarios").cloned() {
        let names: Vec<String> = scenarios
            .iter()
            .filter_map(|s| s.get("name")?.as_str().map(String::from))
            .collect();
        let Some(name) = only else {
            return Err(InputError::single(
                path,
                "scenarios",
                format!(
                    "the file holds several scenarios; pick one with --scenario ({})",
                    names.join(", ")
                ),
            ));
        };
        let Some(patch_of_it) = scenarios
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
        else {
            return Err(InputError::single(
                path,
                "--scenario",
                format!(
                    "no scenario named `{name}`; scenarios: {}",
                    names.join(", ")
                ),
            ));
        };
        let mut merged = doc
            .get("base")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        merge_patch(&mut merged, patch_of_it);
        doc = merged;
    }
    merge_patch(&mut doc, patch);
    Ok(doc)
}

/// Parses and validates scenario text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Experiment, InputError> {
    parse_with(file, text, &[])
}

/// Applies overrides to a scenario's JSON (after the experiment's merge, before presets).
fn apply_overrides(
    scenario: &mut Value,
    overrides: &[overrides::Override],
) -> Result<(), FieldError> {
    for o in overrides {
        o.apply(scenario)
            .map_err(|e| problem(&format!("--set {}", o.path), e))?;
    }
    Ok(())
}

/// Parses and validates scenario text with `--set` overrides applied to each scenario.
/// Every problem found in the file carries its line and column.
pub fn parse_with(
    file: &str,
    text: &str,
    overrides: &[overrides::Override],
) -> Result<Experiment, InputError> {
    parse_unlocated(file, text, overrides).map_err(|mut e| {
        let locator = locate::Locator::new(text);
        for p in e.problems.iter_mut().filter(|p| p.line_col.is_none()) {
            p.line_col = locator.locate(&p.path);
        }
        e
    })
}

fn parse_unlocated(
    file: &str,
    text: &str,
    overrides: &[overrides::Override],
) -> Result<Experiment, InputError> {
    let value: Value = serde_json::from_str(text).map_err(|e| InputError {
        file: file.to_string(),
        problems: vec![FieldError {
            path: String::new(),
            reason: format!("invalid JSON: {}", strip_position(&e.to_string())),
            line_col: Some((e.line(), e.column())),
        }],
    })?;
    let fail = |problems: Vec<FieldError>| InputError {
        file: file.to_string(),
        problems,
    };
    let Value::Object(top) = &value else {
        return Err(fail(vec![problem(
            "",
            "the file must hold a JSON object (a scenario or an experiment)",
        )]));
    };
    if top.contains_key("scenarios") {
        let experiment: raw::Experiment = from_text(text).map_err(|p| fail(vec![p]))?;
        if experiment.scenarios.is_empty() {
            return Err(fail(vec![problem(
                "scenarios",
                "an experiment needs at least one scenario",
            )]));
        }
        let mut scenarios = Vec::new();
        let mut problems = Vec::new();
        for (i, patch) in experiment.scenarios.iter().enumerate() {
            let prefix = format!("scenarios[{i}]");
            let mut merged = experiment
                .base
                .clone()
                .unwrap_or(Value::Object(Default::default()));
            merge_patch(&mut merged, patch);
            if let Err(p) = apply_overrides(&mut merged, overrides) {
                problems.push(p);
                continue;
            }
            if let Err(p) = expand_presets(&mut merged, &prefix) {
                problems.push(p);
                continue;
            }
            match from_value::<raw::Scenario>(merged, &prefix) {
                Ok(raw) => match build::scenario(&raw, &prefix) {
                    Ok(mut s) => {
                        s.overrides = overrides.iter().map(describe).collect();
                        scenarios.push(s)
                    }
                    Err(mut ps) => problems.append(&mut ps),
                },
                Err(p) => problems.push(p),
            }
        }
        check_unique_names(
            scenarios.iter().map(|s| s.name.as_str()),
            "scenarios",
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Experiment {
            name: experiment.name,
            description: experiment.description,
            scenarios,
        })
    } else {
        let mut expanded = value.clone();
        apply_overrides(&mut expanded, overrides).map_err(|p| fail(vec![p]))?;
        expand_presets(&mut expanded, "").map_err(|p| fail(vec![p]))?;
        // Without presets, read the text itself so type errors carry line and column.
        let raw: raw::Scenario = if expanded == value {
            from_text(text)
        } else {
            from_value(expanded, "")
        }
        .map_err(|p| fail(vec![p]))?;
        let mut scenario = build::scenario(&raw, "").map_err(fail)?;
        scenario.overrides = overrides.iter().map(describe).collect();
        Ok(Experiment {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            scenarios: vec![scenario],
        })
    }
}

/// Replaces every `traffic[i].policy` naming a `preset` by the preset with the policy's
/// other fields merged over it (see `policy::presets`).
fn expand_presets(scenario: &mut Value, prefix: &str) -> Result<(), FieldError> {
    let Some(Value::Array(groups)) = scenario.get_mut("traffic") else {
        return Ok(());
    };
    for (i, group) in groups.iter_mut().enumerate() {
        let Some(policy) = group.get_mut("policy").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(name) = policy.remove("preset") else {
            continue;
        };
        let path = clean_path(&format!("traffic[{i}].policy.preset"), prefix);
        let Value::String(name) = name else {
            return Err(problem(&path, "a preset is named by a string"));
        };
        let Some(mut expanded) = crate::policy::presets::preset(&name) else {
            let names = &crate::policy::presets::NAMES;
            let hint = nearest_name(&name, names)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return Err(problem(
                &path,
                format!(
                    "unknown preset `{name}`{hint}; presets: {}",
                    names.join(", ")
                ),
            ));
        };
        merge_patch(&mut expanded, &Value::Object(std::mem::take(policy)));
        group["policy"] = expanded;
    }
    Ok(())
}

fn describe(o: &overrides::Override) -> String {
    format!("{}={}", o.path, o.value)
}

fn problem(path: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        path: path.to_string(),
        reason: reason.into(),
        line_col: None,
    }
}

pub(crate) fn check_unique_names<'a>(
    names: impl Iterator<Item = &'a str>,
    path: &str,
    problems: &mut Vec<FieldError>,
) {
    // A set, not a list: a file of thousands of entries is checked in linear time.
    let mut seen = std::collections::BTreeSet::new();
    for (i, name) in names.enumerate() {
        if !seen.insert(name) {
            problems.push(problem(
                &format!("{path}[{i}].name"),
                format!("the name `{name}` is used twice"),
            ));
        }
    }
}

/// Deserializes from the text itself, so type errors carry line and column.
fn from_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        FieldError {
            path: clean_path(&path, ""),
            reason: explain(&strip_position(&inner.to_string())),
            line_col: Some((inner.line(), inner.column())),
        }
    })
}

fn from_value<T: serde::de::DeserializeOwned>(value: Value, prefix: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        FieldError {
            path: clean_path(&path, prefix),
            reason: explain(&e.into_inner().to_string()),
            line_col: None,
        }
    })
}

fn clean_path(path: &str, prefix: &str) -> String {
    let path = if path == "." { "" } else { path };
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// serde_json appends " at line L column C"; the position is reported separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Adds "did you mean" to serde's unknown-field and unknown-variant messages.
fn explain(message: &str) -> String {
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let is_unknown = message.starts_with("unknown field") || message.starts_with("unknown variant");
    if is_unknown
        && quoted.len() >= 2
        && let Some(near) = nearest_name(quoted[0], &quoted[1..])
    {
        return format!("{message} (did you mean `{near}`?)");
    }
    message.to_string()
}

/// RFC 7396 JSON merge patch (objects merge recursively, `null` deletes, anything else
/// replaces), extended for lists of named objects the way Kubernetes' strategic merge
/// patch does: when both lists hold only objects with a `name`, entries merge by name and
/// new names are appended. So a scenario can change one client group's `max_requests`
/// without restating the whole group.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    if let (Value::Array(items), Value::Array(patches)) = (&mut *target, patch)
        && is_named_list(items)
        && is_named_list(patches)
    {
        for p in patches {
            match items.iter_mut().find(|item| item["name"] == p["name"]) {
                Some(item) => merge_patch(item, p),
                None => items.push(p.clone()),
            }
        }
        return;
    }
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let target_map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn is_named_list(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|item| item.get("name").is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_lists_merge_by_name() {
        let mut doc = json!({"traffic": [{"name": "a", "x": 1}, {"name": "b", "x": 2}]});
        merge_patch(
            &mut doc,
            &json!({"traffic": [{"name": "b", "x": 3}, {"name": "c"}]}),
        );
        assert_eq!(
            doc,
            json!({"traffic": [{"name": "a", "x": 1}, {"name": "b", "x": 3}, {"name": "c"}]})
        );
        let mut plain = json!({"values": [1, 2]});
        merge_patch(&mut plain, &json!({"values": [3]}));
        assert_eq!(plain, json!({"values": [3]}));
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": true});
        merge_patch(&mut doc, &json!({"a": {"c": 3}, "list": [9], "gone": null}));
        assert_eq!(doc, json!({"a": {"b": 1, "c": 3}, "list": [9]}));
    }

    #[test]
    fn unknown_fields_get_a_suggestion() {
        let msg = explain("unknown field `max_attemps`, expected one of `max_attempts`, `backoff`");
        assert!(msg.ends_with("(did you mean `max_attempts`?)"), "{msg}");
    }
}
