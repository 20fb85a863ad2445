//! Scenario files: reading, checking, and the validated model the simulation trusts.
//!
//! Two phases at the edge: `raw` mirrors the JSON (serde, unknown fields rejected), `build`
//! turns it into typed values with units (`Nanos`, probabilities, samplers) and checks every
//! range, collecting all problems with their field paths before giving up. Nothing under
//! `engine` re-checks what `build` guaranteed.
//!
//! A file holds one scenario, or an experiment: `{"name", "base", "scenarios": [...]}` where
//! each scenario is a JSON merge patch (RFC 7396) over `base`, so the seed's three runs share
//! one world and differ only in what they change.

mod build;
pub mod estimate;
pub mod limits;
mod locate;
pub mod overrides;
mod raw;
pub mod reference;

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

/// A scenario file's text; text that is not UTF-8 is reported with the offset, line and
/// column of its first bad byte, which an editor can go to.
pub fn read_text(path: &str) -> Result<String, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::single(path, "", format!("cannot read the file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let good = std::str::from_utf8(&bytes[..at]).expect("valid up to here");
        let line = good.matches('\n').count() + 1;
        let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        FieldError {
            path: String::new(),
            reason: format!(
                "not UTF-8 text: byte 0x{:02x} at byte offset {at} is not valid UTF-8 \
                 (save the file as UTF-8)",
                bytes[at]
            ),
            line_col: Some((line, column)),
            set_by: None,
        }
        .into_input_error(path)
    })
}

/// Reads a file, applies `--set` overrides to every scenario in it, and validates.
pub fn load_file_with(
    path: &str,
    overrides: &[overrides::Override],
) -> Result<Experiment, InputError> {
    let text = read_text(path)?;
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
    let mut experiment = parse_unlocated(path, &doc.to_string(), overrides).map_err(|mut e| {
        // Positions in the generated one-line document mean nothing to the user: place each
        // problem in the file itself (inside its scenario, for an experiment), except where
        // the patch, not the file, gave the value.
        let text = read_text(path).unwrap_or_default();
        let index = only.and_then(|name| {
            let file: Value = serde_json::from_str(&text).ok()?;
            file.get("scenarios")?
                .as_array()?
                .iter()
                .position(|s| s.get("name").and_then(Value::as_str) == Some(name))
        });
        let patched: Vec<&str> = patch
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let locator = locate::Locator::new(&text);
        for p in &mut e.problems {
            p.line_col = None;
            let top = p.path.split(['.', '[']).next().unwrap_or("");
            if p.set_by.is_some() || patched.contains(&top) {
                continue;
            }
            let in_file = match (index, p.path.is_empty()) {
                (Some(i), true) => format!("scenarios[{i}]"),
                (Some(i), false) => format!("scenarios[{i}].{}", p.path),
                (None, _) => p.path.clone(),
            };
            p.line_col = locator.locate(&in_file);
        }
        e
    })?;
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
    let text = read_text(path)?;
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
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            return Err(InputError::single(
                path,
                "--scenario",
                no_scenario_named(name, &names),
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

/// The error for `--scenario NAME` naming no scenario: the likely one, and the list.
pub fn no_scenario_named(name: &str, names: &[&str]) -> String {
    let hint = nearest_name(name, names)
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    format!(
        "no scenario named `{name}`{hint}; scenarios: {}",
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Parses and validates scenario text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Experiment, InputError> {
    parse_with(file, text, &[])
}

/// An override applied to a scenario: the field path it set (list elements by index, as
/// problems name them) and its `PATH=VALUE` text.
type Applied = Vec<(String, String)>;

/// Applies overrides to a scenario's JSON (after the experiment's merge, before presets).
fn apply_overrides(
    scenario: &mut Value,
    overrides: &[overrides::Override],
) -> Result<Applied, FieldError> {
    overrides
        .iter()
        .map(|o| match o.apply(scenario) {
            Ok(path) => Ok((path, format!("{} {}", o.flag, describe(o)))),
            Err(e) => Err(FieldError {
                set_by: Some(format!("{} {}", o.flag, describe(o))),
                ..problem("", e)
            }),
        })
        .collect()
}

/// Marks the problems of fields an override set as the override's: the value to fix is on
/// the command line, not in the file.
fn attribute_to_overrides(problems: &mut [FieldError], prefix: &str, applied: &Applied) {
    for p in problems.iter_mut() {
        let relative = match prefix {
            "" => p.path.as_str(),
            _ => p
                .path
                .strip_prefix(prefix)
                .map_or("", |r| r.trim_start_matches('.')),
        };
        let set_by = applied.iter().rev().find(|(path, _)| {
            relative
                .strip_prefix(path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        });
        if let Some((_, text)) = set_by {
            p.set_by = Some(text.clone());
        }
    }
}

/// Parses and validates scenario text with `--set` overrides applied to each scenario.
/// Every problem found in the file carries its line and column; one an override caused
/// names the override instead.
pub fn parse_with(
    file: &str,
    text: &str,
    overrides: &[overrides::Override],
) -> Result<Experiment, InputError> {
    parse_unlocated(file, text, overrides).map_err(|mut e| {
        let locator = locate::Locator::new(text);
        for p in e.problems.iter_mut() {
            if p.line_col.is_none() && p.set_by.is_none() {
                p.line_col = locator.locate(&p.path);
            }
        }
        // A problem in an experiment's `base`, or one a --set causes, is found once per
        // scenario at one place (a line of the file, an option): report it once.
        let mut seen = std::collections::BTreeSet::new();
        e.problems.retain(|p| match (&p.set_by, p.line_col) {
            (Some(option), _) => seen.insert((option.clone(), None, p.reason.clone())),
            (None, Some(at)) => seen.insert((String::new(), Some(at), p.reason.clone())),
            (None, None) => true,
        });
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
            set_by: None,
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
        let (experiment, mut problems) =
            deserialize_reporting_unknown::<raw::Experiment>(Some(text), value.clone(), "");
        let Some(experiment) = experiment else {
            return Err(fail(problems));
        };
        if experiment.scenarios.is_empty() {
            problems.push(problem(
                "scenarios",
                "an experiment needs at least one scenario",
            ));
            return Err(fail(problems));
        }
        let mut scenarios = Vec::new();
        for (i, patch) in experiment.scenarios.iter().enumerate() {
            let prefix = format!("scenarios[{i}]");
            let mut merged = experiment
                .base
                .clone()
                .unwrap_or(Value::Object(Default::default()));
            merge_patch(&mut merged, patch);
            match scenario_from_value(merged, None, &prefix, overrides) {
                Ok(mut s) => {
                    s.overrides = overrides.iter().map(describe).collect();
                    problems.extend(check_replay_files(&mut s, file, &format!("{prefix}.")));
                    scenarios.push(s)
                }
                Err(mut ps) => problems.append(&mut ps),
            }
        }
        // Indices name the file's scenarios only when every one of them was built.
        if scenarios.len() == experiment.scenarios.len() {
            check_unique_names(
                scenarios.iter().map(|s| s.name.as_str()),
                "scenarios",
                &mut problems,
            );
            check_unique_directories(&scenarios, &mut problems);
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Experiment {
            name: experiment.name,
            description: experiment.description,
            scenarios,
        })
    } else {
        let mut scenario = scenario_from_value(value, Some(text), "", overrides).map_err(fail)?;
        scenario.overrides = overrides.iter().map(describe).collect();
        let problems = check_replay_files(&mut scenario, file, "");
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Experiment {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            scenarios: vec![scenario],
        })
    }
}

/// One scenario's JSON (`text` when it is the whole file, for line and column) with the
/// overrides and presets applied, read and checked: every problem found, each attributed
/// to the override that caused it, if one did.
fn scenario_from_value(
    value: Value,
    text: Option<&str>,
    prefix: &str,
    overrides: &[overrides::Override],
) -> Result<Scenario, Vec<FieldError>> {
    let mut expanded = value.clone();
    let applied = apply_overrides(&mut expanded, overrides).map_err(|p| vec![p])?;
    expand_presets(&mut expanded, prefix).map_err(|p| {
        let mut problems = vec![p];
        attribute_to_overrides(&mut problems, prefix, &applied);
        problems
    })?;
    // Without overrides or presets, read the text itself so type errors carry line and
    // column.
    let text = text.filter(|_| expanded == value);
    let (raw, mut problems) =
        deserialize_reporting_unknown::<raw::Scenario>(text, expanded, prefix);
    if let Some(raw) = raw {
        match build::scenario(&raw, prefix) {
            Ok(scenario) if problems.is_empty() => return Ok(scenario),
            Ok(_) => {}
            Err(mut more) => problems.append(&mut more),
        }
    }
    attribute_to_overrides(&mut problems, prefix, &applied);
    Err(problems)
}

/// Unknown fields reported before the rest of a file's problems; beyond this many, the
/// first ones are reported alone (each costs a pass over the document).
const MAX_UNKNOWN_FIELDS: usize = 100;

/// Deserializes, reporting every unknown field rather than only the first: an unknown field
/// is removed and reading goes on, so it does not hide the file's other problems (it was
/// going to be ignored anyway, so removing it changes nothing else). Any other error ends
/// the reading; it is reported with the unknown fields found before it. The value comes
/// back only when reading succeeded.
fn deserialize_reporting_unknown<T: serde::de::DeserializeOwned>(
    text: Option<&str>,
    mut value: Value,
    prefix: &str,
) -> (Option<T>, Vec<FieldError>) {
    let mut problems = Vec::new();
    let mut read = match text {
        Some(text) => from_text(text),
        None => from_value(&value, prefix),
    };
    loop {
        match read {
            Ok(raw) => return (Some(raw), problems),
            Err(p) => {
                let unknown = problems.len() < MAX_UNKNOWN_FIELDS
                    && unknown_key(&p.reason).is_some_and(|key| {
                        remove_field(&mut value, relative_path(&p.path, prefix), key)
                    });
                problems.push(p);
                if !unknown {
                    return (None, problems);
                }
                read = from_value(&value, prefix);
            }
        }
    }
}

fn relative_path<'a>(path: &'a str, prefix: &str) -> &'a str {
    if prefix.is_empty() {
        return path;
    }
    path.strip_prefix(prefix)
        .map_or(path, |rest| rest.trim_start_matches('.'))
}

/// The key serde names in "unknown field `K`, expected ...".
fn unknown_key(reason: &str) -> Option<&str> {
    let rest = reason.strip_prefix("unknown field `")?;
    rest.find('`').map(|end| &rest[..end])
}

/// Removes the unknown `key` at `path` (`traffic[0].policy.bogus`, the key last); false if
/// the path does not end with that key or there is no such field. The key is matched whole,
/// not split on dots: an unknown `"retry.max_attempts"` must not remove a real field.
fn remove_field(value: &mut Value, path: &str, key: &str) -> bool {
    let parent = if path == key {
        ""
    } else {
        match path.strip_suffix(key).and_then(|p| p.strip_suffix('.')) {
            Some(parent) => parent,
            None => return false,
        }
    };
    let mut node = value;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        let (field, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !field.is_empty() {
            let Some(next) = node.get_mut(field) else {
                return false;
            };
            node = next;
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else {
                return false;
            };
            let Some(next) = inner[..end]
                .parse::<usize>()
                .ok()
                .and_then(|i| node.get_mut(i))
            else {
                return false;
            };
            node = next;
            rest = &inner[end + 1..];
        }
    }
    node.as_object_mut()
        .is_some_and(|map| map.remove(key).is_some())
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

/// Resolves each `replay` group's file against the directory of the scenario file (`file`)
/// and checks that it opens and, for CSV, has the time column: problems at
/// `{prefix}traffic[i].arrivals.file`. The rows themselves are checked as the run reads them.
fn check_replay_files(scenario: &mut Scenario, file: &str, prefix: &str) -> Vec<FieldError> {
    let dir = std::path::Path::new(file)
        .parent()
        .unwrap_or(std::path::Path::new(""));
    let mut problems = Vec::new();
    for (gi, g) in scenario.groups.iter_mut().enumerate() {
        let crate::traffic::ArrivalModel::Replay(spec) = &mut g.arrivals else {
            continue;
        };
        if spec.file.is_relative() {
            spec.file = dir.join(&spec.file);
        }
        let path = format!("{prefix}traffic[{gi}].arrivals");
        match crate::table::Rows::open(&spec.file) {
            Err(e) => problems.push(problem(
                &format!("{path}.file"),
                format!("{}: {e}", spec.file.display()),
            )),
            Ok(rows) => {
                if let Some(headers) = rows.headers()
                    && !headers.contains(&spec.time_column)
                {
                    problems.push(problem(
                        &format!("{path}.time_column"),
                        format!(
                            "{} has no column `{}`; its columns: {}",
                            spec.file.display(),
                            spec.time_column,
                            headers.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    problems
}

fn problem(path: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        path: path.to_string(),
        reason: reason.into(),
        line_col: None,
        set_by: None,
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

/// An experiment writes each scenario into a directory named after it (`output::slug`):
/// names that differ but map to one directory ("A b", "a-b") would overwrite each other.
fn check_unique_directories(scenarios: &[Scenario], problems: &mut Vec<FieldError>) {
    let mut seen: std::collections::BTreeMap<String, &str> = Default::default();
    for (i, s) in scenarios.iter().enumerate() {
        let dir = crate::output::slug(&s.name);
        match seen.get(&dir) {
            Some(first) if *first != s.name => problems.push(problem(
                &format!("scenarios[{i}].name"),
                format!(
                    "`{}` and `{first}` would both write into the directory `{dir}`; \
                     rename one",
                    s.name
                ),
            )),
            Some(_) => {}
            None => {
                seen.insert(dir, &s.name);
            }
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
            set_by: None,
        }
    })
}

fn from_value<T: serde::de::DeserializeOwned>(
    value: &Value,
    prefix: &str,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        FieldError {
            path: clean_path(&path, prefix),
            reason: explain(&e.into_inner().to_string()),
            line_col: None,
            set_by: None,
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
