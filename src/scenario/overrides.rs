//! `--set PATH=VALUE`: change any field of a scenario from the command line.
//!
//! A path names fields with dots and list elements with brackets, by index or by name:
//! `traffic[0].policy.retry.max_attempts=5`, `providers[openai].capacity.slots=40`,
//! `duration=2h`. The value is JSON when it parses as JSON (`5`, `true`, `{"kind": "aws"}`,
//! `"text"`), otherwise a plain string (`30s`, `exponential`). Overrides are applied to the
//! scenario's JSON before it is checked, so a bad value gets the same error, with the same
//! field path, as it would in the file.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: Value,
    /// The command-line option that gave it (`--set`, sweep's `--param`, compare's
    /// `--variant`), named when its value is wrong.
    pub flag: &'static str,
}

impl Override {
    pub fn parse(text: &str) -> Result<Override, String> {
        let Some((path, value)) = text.split_once('=') else {
            return Err(format!(
                "`{text}` is not PATH=VALUE (e.g. traffic[0].policy.retry.max_attempts=5)"
            ));
        };
        let path = path.trim();
        if path.is_empty() {
            return Err(format!("`{text}` has no path before `=`"));
        }
        segments(path)?;
        let value = serde_json::from_str(value.trim())
            .unwrap_or_else(|_| Value::String(value.trim().to_string()));
        Ok(Override {
            path: path.to_string(),
            value,
            flag: "--set",
        })
    }

    /// The same override, attributed to another command-line option.
    pub fn given_by(self, flag: &'static str) -> Override {
        Override { flag, ..self }
    }

    /// Sets the value in `doc`, creating missing object fields on the way. Returns the path
    /// with list elements by index (`traffic[0].policy`), as problems name fields.
    pub fn apply(&self, doc: &mut Value) -> Result<String, String> {
        let mut node = doc;
        let segments = segments(&self.path)?;
        let mut walked = String::new();
        let mut resolved = String::new();
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            node = match segment {
                Segment::Field(name) => {
                    walked = if walked.is_empty() {
                        name.clone()
                    } else {
                        format!("{walked}.{name}")
                    };
                    resolved = if resolved.is_empty() {
                        name.clone()
                    } else {
                        format!("{resolved}.{name}")
                    };
                    if node.is_null() {
                        *node = Value::Object(Default::default());
                    }
                    let Value::Object(map) = node else {
                        return Err(format!(
                            "`{walked}`: cannot set a field inside a value that is not an object"
                        ));
                    };
                    if last {
                        map.insert(name.clone(), self.value.clone());
                        return Ok(resolved);
                    }
                    map.entry(name.clone()).or_insert(Value::Null)
                }
                Segment::Element(key) => {
                    walked = format!("{walked}[{key}]");
                    let Value::Array(items) = node else {
                        return Err(format!("`{walked}`: not a list"));
                    };
                    let index = match key.parse::<usize>() {
                        Ok(i) if i < items.len() => i,
                        Ok(i) => {
                            return Err(format!(
                                "`{walked}`: index {i} is past the end of a list of {}",
                                items.len()
                            ));
                        }
                        Err(_) => {
                            let names: Vec<&str> = items
                                .iter()
                                .filter_map(|v| v.get("name").and_then(Value::as_str))
                                .collect();
                            items
                                .iter()
                                .position(|v| v.get("name").and_then(Value::as_str) == Some(key))
                                .ok_or_else(|| {
                                    format!(
                                        "`{walked}`: no element named `{key}`; names: {}",
                                        names.join(", ")
                                    )
                                })?
                        }
                    };
                    resolved = format!("{resolved}[{index}]");
                    if last {
                        items[index] = self.value.clone();
                        return Ok(resolved);
                    }
                    &mut items[index]
                }
            };
        }
        Ok(resolved)
    }
}

enum Segment {
    Field(String),
    /// An index, or the `name` of an element.
    Element(String),
}

fn segments(path: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (field, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !field.is_empty() {
            out.push(Segment::Field(field.to_string()));
        } else if rest.is_empty() || out.is_empty() {
            return Err(format!("`{path}`: empty field name"));
        }
        while !rest.is_empty() {
            let Some(end) = rest.find(']').filter(|_| rest.starts_with('[')) else {
                return Err(format!("`{path}`: unbalanced brackets"));
            };
            let key = &rest[1..end];
            if key.is_empty() {
                return Err(format!("`{path}`: empty brackets"));
            }
            out.push(Segment::Element(key.to_string()));
            rest = &rest[end + 1..];
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(doc: &mut Value, text: &str) -> Result<(), String> {
        Override::parse(text)?.apply(doc).map(|_| ())
    }

    #[test]
    fn the_path_applied_names_list_elements_by_index() {
        let mut doc = json!({ "traffic": [{ "name": "web" }, { "name": "app", "policy": {} }] });
        let applied = Override::parse("traffic[app].policy.retry.max_attempts=0")
            .unwrap()
            .apply(&mut doc);
        assert_eq!(applied.unwrap(), "traffic[1].policy.retry.max_attempts");
    }

    #[test]
    fn paths_reach_fields_and_list_elements() {
        let mut doc = json!({ "duration": "1h", "traffic": [{ "name": "app", "policy": {} }] });
        set(&mut doc, "duration=2h").unwrap();
        set(&mut doc, "traffic[0].policy.retry.max_attempts=5").unwrap();
        set(
            &mut doc,
            "traffic[app].policy.breaker={\"failure_threshold\": 3}",
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({ "duration": "2h", "traffic": [{ "name": "app", "policy": {
            "retry": { "max_attempts": 5 }, "breaker": { "failure_threshold": 3 } } }] })
        );
    }

    #[test]
    fn bad_paths_say_why() {
        let mut doc = json!({ "traffic": [{ "name": "app" }] });
        assert!(
            set(&mut doc, "traffic[3].x=1")
                .unwrap_err()
                .contains("past the end")
        );
        assert!(
            set(&mut doc, "traffic[web].x=1")
                .unwrap_err()
                .contains("names: app")
        );
        assert!(set(&mut doc, "traffic[0=1").is_err());
        assert!(Override::parse("no_equals").is_err());
    }
}
