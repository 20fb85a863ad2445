//! Where a field path points in the file: line and column for an error message, the way
//! rustc and cargo report them ("scenario.json:14:9: `traffic[0].policy.retry.max_attempts`").
//!
//! serde_json's values carry no positions, so the text is parsed a second time, only when
//! there is an error to report, by jsonc-parser, whose syntax tree keeps every node's
//! range. In an experiment a scenario is its `base` with its patch merged over it, and
//! named lists merge by name: an index of the merged scenario is turned into the entry's
//! name, and the field is looked for in the scenario's patch first, then in `base`. When
//! the field itself is absent (a required one missing, one a preset supplied), the closest
//! enclosing field that exists is reported.

use jsonc_parser::ast;
use jsonc_parser::common::Ranged;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    /// An entry of a named list, by its `name`.
    Name(String),
}

/// The 1-based line and column (in characters) of `path` in `text`, if it can be found
/// (one path: the parser places many with one `Locator`).
#[cfg(test)]
fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    Locator::new(text).locate(path)
}

/// The text parsed once, for placing any number of field paths in it. A file with
/// thousands of problems is located in time linear in their number: the syntax tree, an
/// experiment's merged scenarios and the line starts are built once, not per problem.
pub struct Locator<'t> {
    text: &'t str,
    root: Option<ast::Value<'t>>,
    /// An experiment's scenarios, each its base with its patch merged over it.
    merged: Vec<Value>,
    /// The byte offset at which each line begins.
    line_starts: Vec<usize>,
}

impl<'t> Locator<'t> {
    pub fn new(text: &'t str) -> Self {
        let root = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default())
            .ok()
            .and_then(|parsed| parsed.value);
        let merged = merged_scenarios(text);
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Locator {
            text,
            root,
            merged,
            line_starts,
        }
    }

    /// The 1-based line and column (in characters) of `path`, if it can be found.
    pub fn locate(&self, path: &str) -> Option<(usize, usize)> {
        let steps = steps(path)?;
        let root = self.root.as_ref()?;
        let offset = match (&steps[..], root.as_object()) {
            ([Step::Key(k), Step::Index(i), rest @ ..], Some(top)) if k == "scenarios" => {
                experiment_offset(self.merged.get(*i)?, root, top, *i, rest)?
            }
            _ => deepest(root, &steps).0,
        };
        Some(self.line_col(offset))
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }
}

/// Each scenario of an experiment, merged over its base (empty for a single scenario).
fn merged_scenarios(text: &str) -> Vec<Value> {
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let Some(Value::Array(patches)) = doc.get("scenarios") else {
        return Vec::new();
    };
    let base = doc
        .get("base")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    patches
        .iter()
        .map(|patch| {
            let mut merged = base.clone();
            super::merge_patch(&mut merged, patch);
            merged
        })
        .collect()
}

/// In scenario `index` of an experiment: the patch, else the base (whichever holds more of
/// the path), with the merged scenario's list indices turned into names.
fn experiment_offset(
    merged: &Value,
    root: &ast::Value<'_>,
    top: &ast::Object<'_>,
    index: usize,
    rest: &[Step],
) -> Option<usize> {
    let named = by_name(merged, rest);
    let patch = top
        .get("scenarios")
        .and_then(|s| s.value.as_array())
        .and_then(|a| a.elements.get(index))?;
    let (in_patch, depth_patch) = deepest(patch, &named);
    match top.get("base") {
        Some(base) => {
            let (in_base, depth_base) = deepest(&base.value, &named);
            Some(if depth_base > depth_patch {
                in_base
            } else {
                in_patch
            })
        }
        None if depth_patch == 0 && rest.is_empty() => Some(root.start()),
        None => Some(in_patch),
    }
}

/// Replaces each index into a list of named objects by the entry's name.
fn by_name(merged: &Value, steps: &[Step]) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len());
    let mut here = Some(merged);
    for step in steps {
        let next = match (step, here) {
            (Step::Key(k), Some(v)) => v.get(k),
            (Step::Index(i), Some(v)) => v.get(i),
            _ => None,
        };
        let name = match (step, next) {
            (Step::Index(_), Some(entry)) => entry.get("name").and_then(Value::as_str),
            _ => None,
        };
        out.push(match name {
            Some(n) => Step::Name(n.to_string()),
            None => step.clone(),
        });
        here = next;
    }
    out
}

/// The offset of the deepest node reached along `steps`, and how many steps it took. A
/// field is located at its key.
fn deepest(value: &ast::Value<'_>, steps: &[Step]) -> (usize, usize) {
    let mut at = value.start();
    let mut here = value;
    for (depth, step) in steps.iter().enumerate() {
        let next = match (step, here) {
            (Step::Key(k), ast::Value::Object(o)) => o.get(k).map(|p| (p.start(), &p.value)),
            (Step::Index(i), ast::Value::Array(a)) => a.elements.get(*i).map(|e| (e.start(), e)),
            (Step::Name(n), ast::Value::Array(a)) => a
                .elements
                .iter()
                .find(|e| {
                    e.as_object()
                        .and_then(|o| o.get_string("name"))
                        .is_some_and(|s| s.value == n.as_str())
                })
                .map(|e| (e.start(), e)),
            _ => None,
        };
        match next {
            Some((start, node)) => {
                at = start;
                here = node;
            }
            None => return (at, depth),
        }
    }
    (at, steps.len())
}

/// `traffic[0].policy.retry` as steps; None for what is not a path into the file (an
/// override's problem, the file as a whole).
fn steps(path: &str) -> Option<Vec<Step>> {
    if path.is_empty() || path.starts_with("--") {
        return None;
    }
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key.to_string()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            out.push(Step::Index(inner[..end].parse().ok()?));
            rest = &inner[end + 1..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"{
  "name": "x",
  "traffic": [
    { "name": "app",
      "policy": { "retry": { "max_attempts": 0 } } }
  ]
}"#;

    #[test]
    fn a_field_is_found_at_its_key() {
        assert_eq!(
            locate(SCENARIO, "traffic[0].policy.retry.max_attempts"),
            Some((5, 30))
        );
        assert_eq!(locate(SCENARIO, "traffic[0].name"), Some((4, 7)));
        // Absent: its closest enclosing field.
        assert_eq!(
            locate(SCENARIO, "traffic[0].policy.breaker.window"),
            Some((5, 7))
        );
        assert_eq!(locate(SCENARIO, "--set duration"), None);
    }

    #[test]
    fn an_experiments_field_is_found_in_its_patch_or_its_base() {
        let text = r#"{
  "name": "e",
  "base": {
    "traffic": [ { "name": "a", "rate": 1 }, { "name": "b", "rate": 2 } ]
  },
  "scenarios": [
    { "name": "one", "traffic": [ { "name": "b", "rate": -1 } ] },
    { "name": "two" }
  ]
}"#;
        // Merged, "b" is traffic[1]; in the patch it is the first entry.
        assert_eq!(locate(text, "scenarios[0].traffic[1].rate"), Some((7, 50)));
        // Not in the second patch: in the base.
        assert_eq!(locate(text, "scenarios[1].traffic[1].rate"), Some((4, 61)));
        assert_eq!(locate(text, "scenarios[1].name"), Some((8, 7)));
    }
}
