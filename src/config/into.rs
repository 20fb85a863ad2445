//! `import --into`: an imported policy put into a scenario file's group, the rest of the file
//! kept byte for byte. The group's `policy` value is replaced in the text (or a `policy` key
//! added after the group's last key), found by jsonc-parser's ranges, so other groups, key
//! order, comments and formatting stay as the user wrote them. The result is checked by the
//! scenario loader before anyone writes it.

use jsonc_parser::ast;
use jsonc_parser::common::Ranged;
use serde_json::Value;

use crate::error::{InputError, nearest_name};
use crate::scenario;

/// The scenario text with `policy` as group `group`'s policy (the only group when `None`),
/// and the name of the group it went into. Refuses experiments (which scenario's group?)
/// and a result the scenario loader rejects.
pub fn merge_into(
    file: &str,
    text: &str,
    group: Option<&str>,
    policy: &Value,
) -> Result<(String, String), InputError> {
    let fail = |path: &str, why: String| InputError::single(file, path, why);
    let parsed = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default())
        .map_err(|e| fail("", format!("invalid JSON: {e}")))?;
    let Some(ast::Value::Object(root)) = parsed.value else {
        return Err(fail("", "not a scenario: expected a JSON object".into()));
    };
    if root.get("scenarios").is_some() {
        return Err(fail(
            "scenarios",
            "an experiment: --into needs a single scenario file (put the policy in `base`, or a scenario's patch, by hand)".into(),
        ));
    }
    let Some(traffic) = root.get("traffic").and_then(|t| t.value.as_array()) else {
        return Err(fail("traffic", "no `traffic` list of groups".into()));
    };
    let names: Vec<&str> = traffic
        .elements
        .iter()
        .map(|g| {
            g.as_object()
                .and_then(|o| o.get_string("name"))
                .map_or("", |s| s.value.as_ref())
        })
        .collect();
    let index = match group {
        Some(want) => names.iter().position(|n| *n == want).ok_or_else(|| {
            let hint = nearest_name(want, &names)
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            fail(
                "--group",
                format!("no group `{want}`{hint}; the groups: {}", names.join(", ")),
            )
        })?,
        None if names.len() == 1 => 0,
        None => {
            return Err(fail(
                "--group",
                format!(
                    "{} groups ({}): name one with --group",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
    };
    let Some(group_obj) = traffic.elements[index].as_object() else {
        return Err(fail(&format!("traffic[{index}]"), "not an object".into()));
    };
    let out = match group_obj.get("policy") {
        Some(prop) => {
            let indent = line_indent(text, prop.start());
            let range = prop.value.range();
            format!(
                "{}{}{}",
                &text[..range.start],
                pretty(policy, &indent),
                &text[range.end..]
            )
        }
        None => {
            let Some(last) = group_obj.properties.last() else {
                return Err(fail(&format!("traffic[{index}]"), "an empty group".into()));
            };
            let indent = line_indent(text, last.start());
            let end = last.range().end;
            format!(
                "{},\n{indent}\"policy\": {}{}",
                &text[..end],
                pretty(policy, &indent),
                &text[end..]
            )
        }
    };
    scenario::parse(file, &out)?;
    Ok((out, names[index].to_string()))
}

/// The whitespace that begins the line holding byte `at`.
fn line_indent(text: &str, at: usize) -> String {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect()
}

/// Pretty JSON whose continuation lines are indented under `indent`.
fn pretty(value: &Value, indent: &str) -> String {
    serde_json::to_string_pretty(value)
        .expect("serializes")
        .replace('\n', &format!("\n{indent}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCENARIO: &str = r#"{
  "name": "s",
  "duration": "1m",
  "traffic": [
    {
      "name": "a",
      "arrivals": { "type": "poisson", "rate": "1/s" },
      "request": { "model": "m", "input_tokens": 10, "output_tokens": 10 },
      "policy": { "timeout": { "total": "5s" } }
    },
    {
      "name": "b",
      "arrivals": { "type": "poisson", "rate": "1/s" },
      "request": { "model": "m", "input_tokens": 10, "output_tokens": 10 }
    }
  ],
  "providers": [{ "name": "p", "models": [{ "name": "m", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "ttft": "100ms", "per_token": "1ms" }] }]
}
"#;

    #[test]
    fn replaces_or_adds_the_policy_and_keeps_the_rest() {
        let policy = json!({ "retry": { "max_attempts": 5 } });
        let (a, name) = merge_into("s.json", SCENARIO, Some("a"), &policy).unwrap();
        assert_eq!(name, "a");
        assert!(!a.contains("\"5s\""), "{a}");
        let before_b = SCENARIO.find("\"name\": \"b\"").unwrap();
        assert_eq!(
            &a[a.find("\"name\": \"b\"").unwrap()..],
            &SCENARIO[before_b..]
        );
        let (b, _) = merge_into("s.json", SCENARIO, Some("b"), &policy).unwrap();
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["traffic"][1]["policy"]["retry"]["max_attempts"], 5);
        assert_eq!(v["traffic"][0]["policy"]["timeout"]["total"], "5s");
        assert!(b.contains("      \"policy\": {\n        \"retry\""), "{b}");
    }

    #[test]
    fn refuses_an_unknown_group_and_an_invalid_result() {
        let e = merge_into("s.json", SCENARIO, Some("c"), &json!({})).unwrap_err();
        assert!(e.to_string().contains("no group `c`"), "{e}");
        let e = merge_into("s.json", SCENARIO, None, &json!({})).unwrap_err();
        assert!(e.to_string().contains("--group"), "{e}");
        let bad = json!({ "retry": { "max_attempts": 0 } });
        let e = merge_into("s.json", SCENARIO, Some("a"), &bad).unwrap_err();
        assert!(e.to_string().contains("max_attempts"), "{e}");
    }
}
