//! A sweep's winner in the user's own format: the `tuned` record best.json carries (the
//! recommended point's number and `--param` values), the provenance export reads from it,
//! and the files `sweep --export` / `merge --export` write beside best.json.
//!
//! Provenance: a value the sweep set is labelled with the `--param` and the point
//! (`tuned: traffic[app].policy.cooldown.allowed_fails=10 (sweep point #7)`), but only while
//! the document still holds that value (an edited best.json is labelled as the scenario it
//! now is). Everything else keeps the labels of `Source::origin`: the scenario as written,
//! the preset it names, or aichaos's default.
//!
//! Which groups are exported: those whose policy a `--param` sets (all of them when the sweep
//! tunes only the world); one file per format, `best.<group>.<format file>` when the scenario
//! has several groups. The check that every point's policy can be said in each format runs
//! before the sweep does, so a refusal costs no simulation.

use serde_json::{Value, json};

use super::{Exported, Format, Source, export};
use crate::scenario::Scenario;
use crate::scenario::overrides::Override;

/// A value a sweep chose, as export labels it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuned {
    /// Inside the group's policy: `cooldown.allowed_fails`, `fallback[0].attempts`, or ""
    /// when the `--param` set the whole policy (or group).
    pub path: String,
    /// `traffic[app].policy.cooldown.allowed_fails=10 (sweep point #7)`.
    pub label: String,
}

/// Records in `doc` (best.json) which point it is and what the point set.
pub fn record(doc: &mut Value, point: usize, settings: &[(String, Value)]) {
    doc["tuned"] = json!({
        "point": point,
        "settings": settings
            .iter()
            .map(|(path, value)| json!({ "path": path, "value": value }))
            .collect::<Vec<_>>(),
    });
}

/// The group `path` (a `--param` or `--set` path) sets the policy of, and the path inside
/// that policy ("" for the whole policy or group); None for a path outside every policy.
pub fn policy_path<'p>(path: &'p str, groups: &[&str]) -> Option<(usize, &'p str)> {
    let rest = path.strip_prefix("traffic[")?;
    let (element, rest) = rest.split_once(']')?;
    let group = groups
        .iter()
        .position(|g| *g == element)
        .or_else(|| element.parse::<usize>().ok().filter(|i| *i < groups.len()))?;
    let inner = match rest {
        "" | ".policy" => "",
        _ => rest.strip_prefix(".policy.")?,
    };
    Some((group, inner))
}

/// The values of group `group`'s policy that the sweep recorded in `doc` chose and that
/// `doc` still holds.
pub fn tuned_of(doc: &Value, groups: &[&str], group: usize) -> Vec<Tuned> {
    let Some(tuned) = doc.get("tuned") else {
        return Vec::new();
    };
    let point = tuned.get("point").and_then(Value::as_u64).unwrap_or(0);
    let settings = tuned.get("settings").and_then(Value::as_array);
    let mut out = Vec::new();
    for s in settings.into_iter().flatten() {
        let (Some(path), Some(value)) = (s.get("path").and_then(Value::as_str), s.get("value"))
        else {
            continue;
        };
        let Some((g, inner)) = policy_path(path, groups) else {
            continue;
        };
        // Still the point's value? Setting it again must change nothing.
        let mut probe = doc.clone();
        let set = Override {
            path: path.to_string(),
            value: value.clone(),
            flag: "--param",
        };
        if g != group || set.apply(&mut probe).is_err() || probe != *doc {
            continue;
        }
        let shown = value
            .as_str()
            .map_or_else(|| value.to_string(), String::from);
        out.push(Tuned {
            path: inner.to_string(),
            label: format!("{path}={shown} (sweep point #{point})"),
        });
    }
    out
}

/// The policy of the group named `name` as `doc` writes it (`{}` when it writes none).
pub fn written_policy(doc: &Value, name: &str) -> Option<Value> {
    let group = doc
        .get("traffic")?
        .as_array()?
        .iter()
        .find(|g| g.get("name").and_then(Value::as_str) == Some(name))?;
    Some(group.get("policy").cloned().unwrap_or(json!({})))
}

/// The group to export: the one named, or the only one.
pub fn pick_group(scenario: &Scenario, want: Option<&str>) -> Result<usize, String> {
    let names: Vec<&str> = scenario.groups.iter().map(|g| g.name.as_str()).collect();
    match (want, names.len()) {
        (Some(want), _) => names
            .iter()
            .position(|n| *n == want)
            .ok_or_else(|| format!("no group `{want}`; the groups: {}", names.join(", "))),
        (None, 1) => Ok(0),
        (None, _) => Err(format!(
            "{} groups ({}): name one with --group",
            names.len(),
            names.join(", ")
        )),
    }
}

/// `sweep --export` / `merge --export`: the formats (each once, in the order given) and
/// whether to write what a format cannot say.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub formats: Vec<Format>,
    pub lossy: bool,
}

impl Plan {
    /// From the `--export` values, each a format or a comma list of them.
    pub fn parse(values: &[String], lossy: bool) -> Result<Plan, String> {
        let mut formats = Vec::new();
        for name in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
            let format = Format::from_name(name)?;
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        if lossy && formats.is_empty() {
            return Err("--lossy applies to --export: name a format".into());
        }
        Ok(Plan { formats, lossy })
    }

    pub fn is_empty(&self) -> bool {
        self.formats.is_empty()
    }

    /// The groups exported: those whose policy a `params` path sets, else every group.
    pub fn groups(scenario: &Scenario, params: &[&str]) -> Vec<usize> {
        let names: Vec<&str> = scenario.groups.iter().map(|g| g.name.as_str()).collect();
        let mut tuned: Vec<usize> = params
            .iter()
            .filter_map(|p| policy_path(p, &names).map(|(g, _)| g))
            .collect();
        tuned.sort_unstable();
        tuned.dedup();
        if tuned.is_empty() {
            (0..names.len()).collect()
        } else {
            tuned
        }
    }

    /// Refuses, before a sweep runs, a plan a format cannot carry out without `--lossy`:
    /// best.json may be the scenario as written (`baseline`) or any of `points`, whose
    /// values of the `params` paths are `values`. Only the first refusal of each format is
    /// reported, naming the point and its settings.
    pub fn check_sweep(
        &self,
        baseline: &Scenario,
        points: &[&Scenario],
        values: &[Vec<Value>],
        params: &[&str],
    ) -> Result<(), String> {
        let labelled: Vec<(String, &Scenario)> =
            std::iter::once(("the scenario as written".to_string(), baseline))
                .chain(
                    points
                        .iter()
                        .zip(values)
                        .enumerate()
                        .map(|(i, (s, point))| {
                            let settings: Vec<String> = params
                                .iter()
                                .zip(point)
                                .map(|(p, x)| format!("{p}={x}"))
                                .collect();
                            (format!("point #{} ({})", i + 1, settings.join("  ")), *s)
                        }),
                )
                .collect();
        self.check(&labelled, params)
    }

    fn check(&self, variants: &[(String, &Scenario)], params: &[&str]) -> Result<(), String> {
        if self.lossy {
            return Ok(());
        }
        let mut problems = Vec::new();
        for format in &self.formats {
            'variants: for (label, scenario) in variants {
                for group in Plan::groups(scenario, params) {
                    let source = Source {
                        scenario,
                        group,
                        written: None,
                        tuned: &[],
                    };
                    if let Err(lost) = export(*format, &source, false) {
                        problems.push(format!(
                            "{} cannot express the policy of group `{}` at {label}: {} (pass --lossy to write the rest and list what is lost)",
                            format.name(),
                            scenario.groups[group].name,
                            lost.join("; ")
                        ));
                        break 'variants;
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// The files to write beside best.json, whose document is `doc` (the sweep of `file`
    /// over the `params` paths), in the plan's order.
    pub fn files(
        &self,
        file: &str,
        doc: &Value,
        params: &[&str],
    ) -> Result<Vec<ExportFile>, String> {
        let scenario = &crate::scenario::parse(file, &doc.to_string())
            .map_err(|e| e.to_string())?
            .scenarios
            .remove(0);
        let names: Vec<&str> = scenario.groups.iter().map(|g| g.name.as_str()).collect();
        let groups = Plan::groups(scenario, params);
        let mut files = Vec::new();
        for format in &self.formats {
            for &group in &groups {
                let written = written_policy(doc, names[group]);
                let tuned = tuned_of(doc, &names, group);
                let source = Source {
                    scenario,
                    group,
                    written: written.as_ref(),
                    tuned: &tuned,
                };
                let exported = export(*format, &source, self.lossy).map_err(|lost| {
                    format!(
                        "{} cannot express the policy of group `{}` in best.json: {}",
                        format.name(),
                        names[group],
                        lost.join("; ")
                    )
                })?;
                let group_name = (names.len() > 1).then_some(names[group]);
                files.push(ExportFile {
                    name: file_name(*format, group_name),
                    format: *format,
                    exported,
                });
            }
        }
        Ok(files)
    }
}

/// A file `--export` writes beside best.json.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub name: String,
    pub format: Format,
    pub exported: Exported,
}

/// The file `sweep --export` writes for `format`: `best.litellm.yaml`, or with several
/// groups `best.<group>.litellm.yaml`.
pub fn file_name(format: Format, group: Option<&str>) -> String {
    match group {
        Some(g) => format!("best.{}.{}", crate::output::slug(g), format.file_suffix()),
        None => format!("best.{}", format.file_suffix()),
    }
}

/// Whether `name` is a file an earlier `sweep --export` wrote (removed before a sweep
/// writes its own, so a stale export never reads as this sweep's).
pub fn is_export_file(name: &str) -> bool {
    name.starts_with("best.")
        && super::FORMAT_NAMES.iter().any(|f| {
            let suffix = Format::from_name(f).expect("a format name").file_suffix();
            name.ends_with(&format!(".{suffix}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_paths_name_the_group_by_name_or_index() {
        let groups = ["app", "batch"];
        assert_eq!(
            policy_path("traffic[batch].policy.cooldown.cooldown", &groups),
            Some((1, "cooldown.cooldown"))
        );
        assert_eq!(
            policy_path("traffic[0].policy.fallback[0].attempts", &groups),
            Some((0, "fallback[0].attempts"))
        );
        assert_eq!(policy_path("traffic[app].policy", &groups), Some((0, "")));
        assert_eq!(policy_path("traffic[app].arrivals.rate", &groups), None);
        assert_eq!(policy_path("traffic[2].policy.deadline", &groups), None);
        assert_eq!(policy_path("providers[p].capacity", &groups), None);
    }

    #[test]
    fn a_tuned_value_is_labelled_while_the_document_holds_it() {
        let mut doc = json!({
            "traffic": [{ "name": "app", "policy": { "cooldown": { "allowed_fails": 10 } } }]
        });
        let settings = [(
            "traffic[app].policy.cooldown.allowed_fails".to_string(),
            json!(10),
        )];
        record(&mut doc, 7, &settings);
        let tuned = tuned_of(&doc, &["app"], 0);
        assert_eq!(
            tuned,
            [Tuned {
                path: "cooldown.allowed_fails".into(),
                label: "traffic[app].policy.cooldown.allowed_fails=10 (sweep point #7)".into()
            }]
        );
        doc["traffic"][0]["policy"]["cooldown"]["allowed_fails"] = json!(3);
        assert!(tuned_of(&doc, &["app"], 0).is_empty(), "edited since");
    }

    #[test]
    fn export_files_are_named_by_format_and_group() {
        assert_eq!(file_name(Format::Litellm, None), "best.litellm.yaml");
        assert_eq!(
            file_name(Format::Resilience4jProperties, Some("App 1")),
            "best.app-1.resilience4j.properties"
        );
        assert!(is_export_file("best.envoy.yaml"));
        assert!(is_export_file("best.app.openai.py"));
        assert!(!is_export_file("best.json"));
        assert!(!is_export_file("sweep.json"));
        let plan = Plan::parse(&["litellm,envoy".into(), "litellm".into()], false).unwrap();
        assert_eq!(plan.formats, [Format::Litellm, Format::Envoy]);
        assert!(
            Plan::parse(&["litelm".into()], false)
                .unwrap_err()
                .contains("litellm")
        );
        assert!(Plan::parse(&[], true).is_err());
    }
}
