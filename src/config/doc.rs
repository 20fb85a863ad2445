//! A configuration file as read: its tree as a `serde_json::Value`, and the line and column of
//! every key, so a problem anywhere in it is reported where the user can go to it.
//!
//! YAML (and JSON, which YAML 1.2 contains) is read with saphyr (YAML 1.2, spans on every
//! node); Java `.properties` files (Spring Boot) by a small reader here, into the same nested
//! tree (`a.b[0].c=v` becomes `{"a": {"b": [{"c": "v"}]}}`, values kept as strings).
//! Paths are written `a.b[0].c`; the root is the empty path.

use std::collections::BTreeMap;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use serde_json::{Map, Number, Value};

use crate::error::{FieldError, InputError};

/// A parsed configuration file.
#[derive(Debug, Clone)]
pub struct Doc {
    pub file: String,
    pub root: Value,
    /// 1-based line and column of each path's key (or list element).
    positions: BTreeMap<String, (usize, usize)>,
}

impl Doc {
    /// The line and column of `path`, or of its closest enclosing path that has one.
    pub fn at(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(at) = self.positions.get(p) {
                return Some(*at);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// A problem at `path`, located.
    pub fn error(&self, path: &str, reason: impl Into<String>) -> InputError {
        FieldError {
            path: path.to_string(),
            reason: reason.into(),
            line_col: self.at(path),
            set_by: None,
        }
        .into_input_error(&self.file)
    }
}

/// Joins a key to a path.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Reads YAML (or JSON) text. A syntax error is reported with its line and column.
pub fn parse_yaml(file: &str, text: &str) -> Result<Doc, InputError> {
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|e| {
        let m = e.marker();
        FieldError {
            path: String::new(),
            reason: format!("invalid YAML: {}", e.info()),
            line_col: Some((m.line(), m.col() + 1)),
            set_by: None,
        }
        .into_input_error(file)
    })?;
    let mut doc = Doc {
        file: file.to_string(),
        root: Value::Null,
        positions: BTreeMap::new(),
    };
    match docs.len() {
        0 => {
            doc.root = Value::Object(Map::new());
            Ok(doc)
        }
        1 => {
            doc.root = convert(&docs[0], "", &mut doc.positions).map_err(|(path, at, why)| {
                FieldError {
                    path,
                    reason: why,
                    line_col: Some(at),
                    set_by: None,
                }
                .into_input_error(file)
            })?;
            Ok(doc)
        }
        n => Err(InputError::single(
            file,
            "",
            format!("{n} YAML documents (separated by `---`); give one"),
        )),
    }
}

type Problem = (String, (usize, usize), String);

fn start(node: &MarkedYamlOwned) -> (usize, usize) {
    (node.span.start.line(), node.span.start.col() + 1)
}

fn convert(
    node: &MarkedYamlOwned,
    path: &str,
    positions: &mut BTreeMap<String, (usize, usize)>,
) -> Result<Value, Problem> {
    let bad = |why: &str| Err((path.to_string(), start(node), why.to_string()));
    match &node.data {
        YamlDataOwned::Value(s) => scalar(s).map_or_else(|| bad("not a finite number"), Ok),
        YamlDataOwned::Representation(text, _, _) => {
            convert(&MarkedYamlOwned::value_from_str(text), path, positions)
        }
        YamlDataOwned::Tagged(_, inner) => convert(inner, path, positions),
        YamlDataOwned::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                positions.insert(p.clone(), start(item));
                out.push(convert(item, &p, positions)?);
            }
            Ok(Value::Array(out))
        }
        YamlDataOwned::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match &k.data {
                    YamlDataOwned::Value(ScalarOwned::String(s)) => s.clone(),
                    YamlDataOwned::Value(s) => match scalar(s) {
                        Some(Value::String(s)) => s,
                        Some(other) => other.to_string(),
                        None => return bad("a key that is not a scalar"),
                    },
                    _ => {
                        return Err((
                            path.to_string(),
                            start(k),
                            "a key that is not a scalar".into(),
                        ));
                    }
                };
                let p = join(path, &key);
                if out.contains_key(&key) {
                    return Err((p, start(k), format!("duplicate key `{key}`")));
                }
                positions.insert(p.clone(), start(k));
                let value = convert(v, &p, positions)?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
        YamlDataOwned::Alias(_) => {
            bad("YAML aliases (`*name`) are not supported here: write the value")
        }
        YamlDataOwned::BadValue => bad("a value YAML could not read"),
    }
}

fn scalar(s: &ScalarOwned) -> Option<Value> {
    Some(match s {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(b) => Value::Bool(*b),
        ScalarOwned::Integer(i) => Value::Number((*i).into()),
        ScalarOwned::FloatingPoint(f) => Value::Number(Number::from_f64(f.into_inner())?),
        ScalarOwned::String(s) => Value::String(s.clone()),
    })
}

/// Reads a Java `.properties` file (as Spring Boot does): `key=value`, `key: value` or
/// `key value`, `#` and `!` comments, `\` continuation lines. Dotted keys nest; `name[i]`
/// indexes a list. Values stay strings: the format's reader converts them.
pub fn parse_properties(file: &str, text: &str) -> Result<Doc, InputError> {
    let mut doc = Doc {
        file: file.to_string(),
        root: Value::Object(Map::new()),
        positions: BTreeMap::new(),
    };
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line_no = i + 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let column = raw.len() - trimmed.len() + 1;
        let mut logical = trimmed.to_string();
        while logical.ends_with('\\') && !logical.ends_with("\\\\") {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let split = logical.find(['=', ':', ' ', '\t']).unwrap_or(logical.len());
        let key = logical[..split].trim().to_string();
        let mut value = logical[split..].trim_start();
        if value.starts_with(['=', ':']) {
            value = value[1..].trim_start();
        }
        let at = (line_no, column);
        insert_property(&mut doc, &key, value.trim_end(), at)?;
    }
    Ok(doc)
}

fn insert_property(
    doc: &mut Doc,
    key: &str,
    value: &str,
    at: (usize, usize),
) -> Result<(), InputError> {
    let fail = |why: String| {
        Err(FieldError {
            path: key.to_string(),
            reason: why,
            line_col: Some(at),
            set_by: None,
        }
        .into_input_error(&doc.file))
    };
    if key.is_empty() {
        return fail("a property without a key".into());
    }
    let mut path = String::new();
    let mut node = &mut doc.root;
    let segments: Vec<&str> = key.split('.').collect();
    for (n, segment) in segments.iter().enumerate() {
        let (name, index) = match segment.find('[') {
            Some(open) if segment.ends_with(']') => {
                let Ok(i) = segment[open + 1..segment.len() - 1].parse::<usize>() else {
                    return fail(format!("`{segment}`: the index is not a number"));
                };
                (&segment[..open], Some(i))
            }
            _ => (*segment, None),
        };
        if name.is_empty() {
            return fail(format!("`{key}` has an empty segment"));
        }
        path = join(&path, name);
        doc.positions.entry(path.clone()).or_insert(at);
        let Value::Object(map) = node else {
            return fail(format!("`{path}` is both a value and a section"));
        };
        let last = n + 1 == segments.len();
        let entry = map.entry(name.to_string()).or_insert_with(|| match index {
            Some(_) => Value::Array(Vec::new()),
            None if last => Value::Null,
            None => Value::Object(Map::new()),
        });
        node = match index {
            Some(i) => {
                let Value::Array(items) = entry else {
                    return fail(format!("`{path}` is both a list and a section"));
                };
                if items.len() <= i {
                    items.resize(i + 1, Value::Null);
                }
                path = format!("{path}[{i}]");
                doc.positions.entry(path.clone()).or_insert(at);
                let item = &mut items[i];
                if item.is_null() && !last {
                    *item = Value::Object(Map::new());
                }
                item
            }
            None => entry,
        };
    }
    if !node.is_null() {
        return fail(format!("`{key}` is set twice"));
    }
    *node = Value::String(value.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keys_have_their_lines_and_columns() {
        let doc = parse_yaml("c.yaml", "a:\n  b: 1\n  c:\n    - x: 2.5\n").unwrap();
        assert_eq!(doc.root["a"]["c"][0]["x"], 2.5);
        assert_eq!(doc.at("a.b"), Some((2, 3)));
        assert_eq!(doc.at("a.c[0].x"), Some((4, 7)));
        assert_eq!(doc.at("a.c[0].x.deeper"), Some((4, 7)), "closest enclosing");
    }

    #[test]
    fn yaml_syntax_errors_have_line_and_column() {
        let e = parse_yaml("c.yaml", "a:\n  b: [1, 2\nc: 3\n").unwrap_err();
        let (line, _) = e.problems[0].line_col.unwrap();
        assert!(line >= 2, "{e}");
        assert!(e.to_string().starts_with("error: c.yaml:"), "{e}");
        let dup = parse_yaml("c.yaml", "a: 1\na: 2\n").unwrap_err();
        assert!(dup.to_string().contains("c.yaml:2:1"), "{dup}");
    }

    #[test]
    fn properties_nest_and_index() {
        let text = "# comment\nr.instances.a.max-attempts=3\nr.instances.a.list[1] = y\n\
                    r.instances.a.list[0]: x\nr.long=one \\\n  two\n";
        let doc = parse_properties("a.properties", text).unwrap();
        assert_eq!(doc.root["r"]["instances"]["a"]["max-attempts"], "3");
        assert_eq!(doc.root["r"]["instances"]["a"]["list"][0], "x");
        assert_eq!(doc.root["r"]["instances"]["a"]["list"][1], "y");
        assert_eq!(doc.root["r"]["long"], "one two");
        assert_eq!(doc.at("r.instances.a.list[1]"), Some((3, 1)));
        let twice = parse_properties("a.properties", "a.b=1\na.b=2\n").unwrap_err();
        assert!(twice.to_string().contains("a.properties:2:1"), "{twice}");
    }
}
