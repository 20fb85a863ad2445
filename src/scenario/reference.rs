//! The scenario-format reference (`aichaos schema --markdown`, committed as
//! `docs/src/reference/scenario.md`): a table per object of the format, every field with its
//! type and unit, default, allowed range and description.
//!
//! It is read off the JSON Schema (`scenario::json_schema`), which is derived from the
//! parser's own structs and their doc comments (`raw.rs`), so the reference cannot say
//! anything the schema does not: a unit, a default or a range missing here is added to the
//! definitions, never to the markdown. The schema's conventions it relies on:
//! - a default is the `default` keyword, or the "Default: ..." sentence `raw::default_by`
//!   appends where it depends on other fields;
//! - a range is the phrase the doc comment states it with ("in [1, 100]", "in (0, 1]",
//!   "at least 1", "a number > 0", "strictly between 0 and 1", "(1 to 1000)", "any finite
//!   number"), or else the `minimum` / `maximum` keywords;
//! - a unit is in the field's name, last (`_usd`, `_ms`, `rpm`, `_per_mtok`, as STYLE asks),
//!   or, for text, in the value itself ("a duration": `"250ms"`, "a rate": `"10/s"`).
//!
//! Sections follow the order a reader meets the objects (`SECTIONS`); an object the list
//! does not name is still documented, at the end, so a new struct can never be left out.

use serde_json::{Map, Value};

/// The objects of the format in reading order, with their titles. Each is a `$defs` entry.
const SECTIONS: &[(&str, &str)] = &[
    ("Scenario", "Scenario"),
    ("Experiment", "Experiment file"),
    ("ClientGroup", "Client group"),
    ("Arrivals", "Arrivals"),
    ("Diurnal", "Diurnal cycle"),
    ("RateStep", "Rate schedule step"),
    ("Spike", "Traffic spike"),
    ("Request", "Request"),
    ("Policy", "Client policy"),
    ("Timeout", "Timeouts"),
    ("Retry", "Retry"),
    ("Backoff", "Backoff"),
    ("RetryAfter", "Retry-After handling"),
    ("Breaker", "Circuit breaker"),
    ("Target", "Fallback target"),
    ("RetryBudget", "Retry budget"),
    ("AdaptiveThrottling", "Adaptive throttling"),
    ("Cooldown", "Cooldown"),
    ("CreditCheck", "Credit check"),
    ("Hedging", "Hedging"),
    ("ClientRateLimiter", "Client rate limiter"),
    ("Bulkhead", "Bulkhead"),
    ("OuterRetry", "Outer retry layer"),
    ("Provider", "Provider"),
    ("Model", "Model"),
    ("Capacity", "Capacity"),
    ("RateLimits", "Rate limits"),
    ("Outage", "Outage"),
    ("RandomOutages", "Random outages"),
    ("Credits", "Credits"),
    ("TopUp", "Top-up"),
    ("AutoRecharge", "Auto-recharge"),
    ("DurationDistribution", "Distribution of durations"),
    ("CountDistribution", "Distribution of counts"),
    ("Chaos", "Chaos layer"),
    ("Slo", "SLO"),
    ("LatencySlo", "Latency objective"),
    ("BurnRateAlert", "Burn-rate alert"),
    ("Expect", "Expectations"),
];

/// One field of the format as the reference shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDoc {
    /// The `$defs` entry holding it (`Breaker`), and its name there; a key of a field with
    /// fixed keys (`errors`, `chaos.faults`) is `errors.500`.
    pub object: String,
    pub name: String,
    /// JSON type, with the closed set of values or the object it refers to.
    pub kind: String,
    /// The unit, or "" for a plain count, a name or a switch.
    pub unit: String,
    /// "required", the default value, or "" when absent means none.
    pub default: String,
    /// The allowed range of a number, "" for other types.
    pub range: String,
    pub description: String,
    /// A number (`integer` or `number`), which must state its range.
    pub numeric: bool,
}

/// One object of the format: its `$defs` name, title, where it sits in a file, its fields.
#[derive(Debug, Clone)]
pub struct Section {
    pub object: String,
    pub title: String,
    pub path: String,
    pub description: String,
    pub fields: Vec<FieldDoc>,
}

/// The reference's sections, read off the schema.
pub fn sections() -> Vec<Section> {
    let schema = super::json_schema();
    let defs = schema["$defs"].as_object().cloned().unwrap_or_default();
    let paths = paths_of(&defs);
    let mut names: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
    // An object SECTIONS forgets still gets its section, after the others.
    let forgotten: Vec<&str> = defs
        .keys()
        .map(String::as_str)
        .filter(|n| !names.contains(n) && is_object(&defs[*n]))
        .collect();
    names.extend(forgotten);
    names
        .into_iter()
        .filter_map(|name| {
            let def = defs.get(name)?;
            let title = SECTIONS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(name, |(_, t)| t);
            Some(Section {
                object: name.to_string(),
                title: title.to_string(),
                path: paths.get(name).cloned().unwrap_or_default(),
                description: text(def),
                fields: fields_of(name, def, &defs),
            })
        })
        .collect()
}

/// Every field of every section.
pub fn fields() -> Vec<FieldDoc> {
    sections().into_iter().flat_map(|s| s.fields).collect()
}

/// The reference as markdown, byte for byte what `docs/src/reference/scenario.md` holds.
pub fn markdown() -> String {
    let sections = sections();
    let mut md = String::new();
    md.push_str(
        "<!-- Generated by `aichaos schema --markdown` from the parser's own definitions \
         (src/scenario/raw.rs); do not edit: change the doc comments there and run \
         `cargo run -- schema --markdown > docs/src/reference/scenario.md`. -->\n\n",
    );
    md.push_str("# Scenario format reference\n\n");
    md.push_str(
        "Every field of a scenario file, generated from the same definitions as the JSON \
         Schema (`aichaos schema`), which an editor uses to complete and check a file. \
         Durations are strings with a unit (`\"250ms\"`, `\"30s\"`, `\"2h\"`, `\"1h30m\"`), \
         rates are `\"50/s\"` or `\"3000/min\"`; unknown fields are errors. **Default** \
         *required* means the field must be written; an empty default means that leaving the \
         field out turns the feature off (the description says what absence means). Ranges \
         and cross-field rules are checked by `aichaos validate`, which names the field path \
         of every problem.\n\n",
    );
    md.push_str("Objects:\n\n");
    for s in &sections {
        md.push_str(&format!(
            "- [{}](#{}){}\n",
            s.title,
            anchor(&s.object),
            code_path(&s.path)
        ));
    }
    for s in &sections {
        md.push_str(&format!(
            "\n<a id=\"{}\"></a>\n\n## {}\n\n",
            anchor(&s.object),
            s.title
        ));
        if !s.path.is_empty() {
            md.push_str(&format!("At `{}`. ", s.path));
        }
        md.push_str(&format!("{}\n\n", cell(&s.description)));
        md.push_str("| field | type | unit | default | range | description |\n");
        md.push_str("|---|---|---|---|---|---|\n");
        for f in &s.fields {
            md.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} |\n",
                f.name,
                cell(&f.kind),
                cell(&f.unit),
                cell(&f.default),
                cell(&f.range),
                cell(&f.description)
            ));
        }
    }
    md
}

/// The anchor of an object's section: its `$defs` name in lower case.
pub fn anchor(object: &str) -> String {
    object.to_lowercase()
}

fn code_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(": `{path}`")
    }
}

/// Text fit for a table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace("\n\n", "<br><br>")
        .replace('\n', " ")
        .replace('|', "\\|")
}

fn text(schema: &Value) -> String {
    schema["description"].as_str().unwrap_or("").to_string()
}

fn is_object(def: &Value) -> bool {
    def.get("properties").is_some() || def.get("anyOf").is_some_and(|a| object_branch(a).is_some())
}

/// The object branch of a distribution's `anyOf` (the shorthand is the other).
fn object_branch(any_of: &Value) -> Option<&Map<String, Value>> {
    any_of
        .as_array()?
        .iter()
        .find_map(|b| b.get("properties").and_then(Value::as_object).map(|_| b))
        .and_then(Value::as_object)
}

fn properties_of(def: &Value) -> Option<(&Map<String, Value>, Vec<&str>)> {
    let object = match def.get("properties") {
        Some(_) => def.as_object()?,
        None => object_branch(def.get("anyOf")?)?,
    };
    let required = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Some((object.get("properties")?.as_object()?, required))
}

/// Where each object first appears in a scenario file (`traffic[].policy.breaker`),
/// breadth first from the top, so an object reached two ways gets its shorter path.
fn paths_of(defs: &Map<String, Value>) -> std::collections::BTreeMap<String, String> {
    let mut paths = std::collections::BTreeMap::new();
    let mut queue = std::collections::VecDeque::new();
    for root in ["Scenario", "Experiment"] {
        paths.insert(root.to_string(), String::new());
        queue.push_back(root.to_string());
    }
    while let Some(name) = queue.pop_front() {
        let Some((properties, _)) = defs.get(&name).and_then(properties_of) else {
            continue;
        };
        let base = paths[&name].clone();
        for (field, schema) in properties {
            let (target, list) = match reference(schema) {
                Some(r) => (r, false),
                None => match schema.get("items").and_then(reference) {
                    Some(r) => (r, true),
                    None => continue,
                },
            };
            // A distribution is met anywhere a duration or a count is drawn: no one path.
            if paths.contains_key(target)
                || target.ends_with("Distribution")
                || !defs.get(target).is_some_and(is_object)
            {
                continue;
            }
            let dot = if base.is_empty() { "" } else { "." };
            let brackets = if list { "[]" } else { "" };
            paths.insert(target.to_string(), format!("{base}{dot}{field}{brackets}"));
            queue.push_back(target.to_string());
        }
    }
    paths
}

/// The `$defs` name a property refers to, directly or as `anyOf: [ref, null]`.
fn reference(schema: &Value) -> Option<&str> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.strip_prefix("#/$defs/");
    }
    schema
        .get("anyOf")?
        .as_array()?
        .iter()
        .find_map(|b| b.get("$ref").and_then(Value::as_str))
        .and_then(|r| r.strip_prefix("#/$defs/"))
}

fn fields_of(object: &str, def: &Value, defs: &Map<String, Value>) -> Vec<FieldDoc> {
    let Some((properties, required)) = properties_of(def) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, schema) in properties {
        out.push(field(
            object,
            name,
            schema,
            required.contains(&name.as_str()),
            defs,
        ));
        // Fixed keys (`errors`' statuses, `chaos.faults`' kinds) are fields of their own.
        if let Some(keys) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in keys {
                out.push(field(object, &format!("{name}.{key}"), sub, false, defs));
            }
        }
    }
    out
}

fn field(
    object: &str,
    name: &str,
    schema: &Value,
    required: bool,
    defs: &Map<String, Value>,
) -> FieldDoc {
    let (description, default_text) = split_default(&text(schema));
    let default = if required {
        "required".to_string()
    } else {
        match schema.get("default") {
            Some(Value::Null) | None => default_text.unwrap_or_default(),
            Some(Value::String(s)) if s.is_empty() => "\"\"".to_string(),
            Some(Value::Array(a)) if a.is_empty() => default_text.unwrap_or_default(),
            Some(Value::Object(o)) if o.is_empty() => default_text.unwrap_or_default(),
            Some(value) => value.to_string(),
        }
    };
    let types = json_types(schema);
    let numeric = types.iter().any(|t| t == "integer" || t == "number");
    let leaf = name.rsplit('.').next().unwrap_or(name);
    FieldDoc {
        object: object.to_string(),
        name: name.to_string(),
        kind: kind(schema, defs),
        unit: unit(leaf, &types, &description, reference(schema)),
        default,
        range: if numeric || types.iter().any(|t| t == "array") {
            range(schema, &description)
        } else {
            String::new()
        },
        description,
        numeric,
    }
}

/// The description without the "Default: ..." sentence `raw::default_is` and `default_by`
/// append (the default gets its own column), and that sentence's text.
fn split_default(description: &str) -> (String, Option<String>) {
    match description.rfind("Default: ") {
        Some(at) => {
            let value = description[at + "Default: ".len()..].trim_end();
            let value = value.strip_suffix('.').unwrap_or(value);
            (
                description[..at].trim_end().to_string(),
                Some(value.to_string()),
            )
        }
        None => (description.to_string(), None),
    }
}

fn json_types(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn kind(schema: &Value, defs: &Map<String, Value>) -> String {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return enum_text(values);
    }
    if let Some(target) = reference(schema) {
        let def = &defs[target];
        return match def.get("enum").and_then(Value::as_array) {
            Some(values) => enum_text(values),
            None if target.ends_with("Distribution") => {
                let quantity = if target.starts_with("Duration") {
                    "duration"
                } else {
                    "count"
                };
                format!("{quantity} or [distribution](#{})", anchor(target))
            }
            None => format!("object: [{target}](#{})", anchor(target)),
        };
    }
    let types = json_types(schema);
    match types.first().map(String::as_str) {
        None => "any JSON".to_string(),
        Some("array") => match schema.get("items") {
            Some(items) if items.as_bool() == Some(true) => "list of JSON objects".to_string(),
            Some(items) => format!("list of {}", kind(items, defs)),
            None => "list".to_string(),
        },
        Some("object") if schema.get("properties").is_some() => {
            "object with the keys below".to_string()
        }
        Some(_) => types.join(" or "),
    }
}

fn enum_text(values: &[Value]) -> String {
    let names: Vec<String> = values
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| format!("`{v}`"))
        .collect();
    format!("one of {}", names.join(", "))
}

/// The unit: in a number's name, last (STYLE), or in a text value itself (durations and
/// rates carry theirs: "250ms", "10/s").
fn unit(name: &str, types: &[String], description: &str, target: Option<&str>) -> String {
    let is = |t: &str| types.iter().any(|x| x == t);
    if target.is_some_and(|t| t.starts_with("Duration")) {
        return "duration".into();
    }
    if target.is_some_and(|t| t.starts_with("Count")) {
        return "tokens".into();
    }
    if is("string") {
        let lower = description.to_lowercase();
        if lower.contains("a duration") || lower.contains("this duration") {
            return "duration".into();
        }
        if lower.contains("a rate") || lower.contains("rate such as") {
            return "rate".into();
        }
        return String::new();
    }
    if !(is("number") || is("integer")) {
        return String::new();
    }
    let suffixes: &[(&str, &str)] = &[
        ("_per_mtok", "USD per million tokens"),
        ("_usd", "USD"),
        ("_ms", "milliseconds"),
        ("_per_s", "per second"),
        ("itpm", "input tokens per minute"),
        ("otpm", "output tokens per minute"),
        ("tpm", "tokens per minute"),
        ("rpm", "requests per minute"),
        ("_tokens", "tokens"),
        ("context_window", "tokens"),
        ("percent", "percent"),
        ("percentile", "percent"),
        ("burn_rate", "times the sustainable burn"),
        ("_rate", "fraction"),
        ("_status", "HTTP status"),
    ];
    for (suffix, unit) in suffixes {
        if name.ends_with(suffix) {
            return unit.to_string();
        }
    }
    if description.starts_with("Probability") {
        return "probability".into();
    }
    String::new()
}

/// A number's allowed range: the phrase of its doc comment, else the schema's keywords
/// (the doc comment first: schemars writes `minimum: 0` for every unsigned integer, where
/// the comment says the parser's bound, such as "in [1, 100]").
fn range(schema: &Value, description: &str) -> String {
    if let Some(range) = phrase_range(&description.to_lowercase()) {
        return range;
    }
    let low = schema.get("minimum").map(|v| format!("[{v}"));
    let low = low.or_else(|| schema.get("exclusiveMinimum").map(|v| format!("({v}")));
    let high = schema.get("maximum").map(|v| format!("{v}]"));
    if let Some(items) = schema.get("minItems") {
        return format!(">= {items} items");
    }
    match (low, high) {
        (Some(l), Some(h)) => format!("{l}, {h}"),
        (Some(l), None) if l.starts_with('(') => format!("> {}", &l[1..]),
        (Some(l), None) => format!(">= {}", &l[1..]),
        _ => String::new(),
    }
}

/// The range a doc comment states, in the phrases `raw.rs` uses.
fn phrase_range(text: &str) -> Option<String> {
    for opener in ["in [", "in ("] {
        if let Some(at) = text.find(opener) {
            // The bracket that closes the opener: "(0, 1 / (1 - target)]" nests.
            let rest = &text[at + 3..];
            let mut depth = 0;
            for (i, c) in rest.char_indices() {
                match c {
                    '[' | '(' => depth += 1,
                    ']' | ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    return Some(rest[..=i].to_string());
                }
            }
            return None;
        }
    }
    if text.contains("any finite number") {
        return Some("finite".into());
    }
    if let Some(at) = text.find("strictly between ") {
        let rest = &text[at + "strictly between ".len()..];
        let mut words = rest.split_whitespace();
        let low = words.next()?;
        let _and = words.next()?;
        let high = words.next()?.trim_end_matches([',', '.', ';', ')']);
        return Some(format!("({low}, {high})"));
    }
    if let Some(at) = text.find(" to ")
        && let Some(open) = text[..at].rfind('(')
    {
        let low = &text[open + 1..at];
        let rest = &text[at + 4..];
        let high = rest.split([')', ' ']).next()?;
        if low.chars().all(|c| c.is_ascii_digit() || c == '.')
            && high
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == 'e')
        {
            return Some(format!("[{low}, {high}]"));
        }
    }
    for (phrase, sign) in [
        ("at least ", ">="),
        ("at most ", "<="),
        ("> ", ">"),
        (">= ", ">="),
    ] {
        if let Some(at) = text.find(phrase) {
            let value: String = text[at + phrase.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e')
                .collect();
            let value = value.trim_end_matches('.');
            if !value.is_empty() {
                return Some(format!("{sign} {value}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_from_the_phrases_raw_uses() {
        assert_eq!(
            phrase_range("Attempts, in [1, 100]."),
            Some("[1, 100]".into())
        );
        assert_eq!(phrase_range("the rate, in (0, 1]."), Some("(0, 1]".into()));
        assert_eq!(
            phrase_range("target, strictly between 0 and 1 (e.g. 0.999)."),
            Some("(0, 1)".into())
        );
        assert_eq!(
            phrase_range("groups (1 to 1000): who"),
            Some("[1, 1000]".into())
        );
        assert_eq!(phrase_range("instances (at least 1)."), Some(">= 1".into()));
        assert_eq!(phrase_range("a number > 0 (e.g. 500)"), Some("> 0".into()));
        assert_eq!(
            phrase_range("burns, in (0, 1 / (1 - target)]: e.g."),
            Some("(0, 1 / (1 - target)]".into())
        );
        assert_eq!(phrase_range("Free text."), None);
    }

    #[test]
    fn the_default_sentence_moves_to_its_column() {
        assert_eq!(
            split_default("The first delay, a duration. Default: \"1s\"."),
            (
                "The first delay, a duration.".to_string(),
                Some("\"1s\"".into())
            )
        );
        assert_eq!(split_default("Free text."), ("Free text.".into(), None));
    }
}
