//! The JSON Schema explains the format: every field documented, every closed set an `enum`
//! holding exactly what the parser accepts.

use serde_json::Value;

/// Where a property of the schema lacks a description, as JSON-pointer-like paths.
fn undocumented(node: &Value, at: &str, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                for (name, property) in properties {
                    let described = property
                        .get("description")
                        .and_then(Value::as_str)
                        .is_some_and(|d| !d.trim().is_empty());
                    // `false` forbids a property: there is nothing to explain. (`true`, any
                    // value, is a property like the others.)
                    if *property != Value::Bool(false) && !described {
                        out.push(format!("{at}/properties/{name}"));
                    }
                }
            }
            // An `if` only tests a value; the fields it names are explained where declared.
            for (key, child) in map.iter().filter(|(key, _)| *key != "if") {
                undocumented(child, &format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                undocumented(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_property_has_a_description() {
    let schema = aichaos::scenario::json_schema();
    let mut missing = Vec::new();
    undocumented(&schema, "#", &mut missing);
    assert!(
        missing.is_empty(),
        "{} properties without a description:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// A closed set of names: where the schema lists it, and how the parser is asked about it.
struct ClosedSet {
    /// A JSON pointer to the `enum` (or to the `properties` whose keys are the set).
    schema: &'static str,
    /// A patch over `support::base()` writing a value into the field.
    patch: fn(Value) -> Value,
    /// A value the parser refuses, where it reports that, and what precedes its list of
    /// the valid values in the reason.
    bogus: Value,
    path: &'static str,
    marker: &'static str,
}

fn policy(policy: Value) -> Value {
    serde_json::json!({ "traffic": [{ "name": "app", "policy": policy }] })
}

fn provider(provider: Value) -> Value {
    let mut provider = provider;
    provider["name"] = "p".into();
    serde_json::json!({ "providers": [provider] })
}

fn outage(effect: Value) -> Value {
    let mut outage = serde_json::json!({ "start": "1m", "duration": "1m" });
    aichaos::scenario::merge_patch(&mut outage, &effect);
    provider(serde_json::json!({ "outages": [outage] }))
}

fn closed_sets() -> Vec<ClosedSet> {
    use serde_json::json;
    let set = |schema, patch, bogus: Value, path, marker| ClosedSet {
        schema,
        patch,
        bogus,
        path,
        marker,
    };
    vec![
        set(
            "/$defs/ArrivalKind",
            |v| json!({ "traffic": [{ "name": "app", "arrivals": { "type": v } }] }),
            json!("zzzz"),
            "traffic[0].arrivals.type",
            "one of ",
        ),
        set(
            "/$defs/TimeUnit",
            |v| json!({ "traffic": [{ "name": "app", "arrivals": { "type": "replay", "file": "x.csv", "time_unit": v } }] }),
            json!("fortnights"),
            "traffic[0].arrivals.time_unit",
            "one of ",
        ),
        set(
            "/$defs/TimeOrigin",
            |v| json!({ "traffic": [{ "name": "app", "arrivals": { "type": "replay", "file": "x.csv", "time_origin": v } }] }),
            json!("epoch"),
            "traffic[0].arrivals.time_origin",
            "expected ",
        ),
        set(
            "/$defs/Policy/properties/preset",
            |v| policy(json!({ "preset": v })),
            json!("zzzz"),
            "traffic[0].policy.preset",
            "presets: ",
        ),
        set(
            "/$defs/Backoff/properties/kind",
            |v| policy(json!({ "retry": { "backoff": { "kind": v } } })),
            json!("zzzz"),
            "traffic[0].policy.retry.backoff.kind",
            "one of: ",
        ),
        set(
            "/$defs/Backoff/properties/jitter",
            |v| policy(json!({ "retry": { "backoff": { "jitter": v } } })),
            json!("zzzz"),
            "traffic[0].policy.retry.backoff.jitter",
            "one of: ",
        ),
        set(
            "/$defs/RetryAfter/properties/above_max",
            |v| policy(json!({ "retry": { "retry_after": { "above_max": v } } })),
            json!("zzzz"),
            "traffic[0].policy.retry.retry_after.above_max",
            "one of: ",
        ),
        set(
            "/$defs/RetryAfter/properties/combine",
            |v| policy(json!({ "retry": { "retry_after": { "combine": v } } })),
            json!("zzzz"),
            "traffic[0].policy.retry.retry_after.combine",
            "one of: ",
        ),
        set(
            "/$defs/Retry/properties/retry_on/items",
            |v| policy(json!({ "retry": { "retry_on": [v] } })),
            json!("zzzz"),
            "traffic[0].policy.retry.retry_on",
            "valid: ",
        ),
        set(
            "/$defs/Breaker/properties/kind",
            |v| policy(json!({ "breaker": { "kind": v } })),
            json!("zzzz"),
            "traffic[0].policy.breaker.kind",
            "one of: ",
        ),
        set(
            "/$defs/Breaker/properties/applies_to",
            |v| policy(json!({ "breaker": { "applies_to": v } })),
            json!("zzzz"),
            "traffic[0].policy.breaker.applies_to",
            "one of: ",
        ),
        set(
            "/$defs/Breaker/properties/assignment",
            |v| {
                policy(
                    json!({ "breaker": { "scope": "per_instance", "instances": 2, "assignment": v } }),
                )
            },
            json!("zzzz"),
            "traffic[0].policy.breaker.assignment",
            "one of: ",
        ),
        set(
            "/$defs/Breaker/properties/scope",
            |v| policy(json!({ "breaker": { "scope": v } })),
            json!("zzzz"),
            "traffic[0].policy.breaker.scope",
            "expected ",
        ),
        set(
            "/$defs/Breaker/properties/count_as_failure/items",
            |v| policy(json!({ "breaker": { "count_as_failure": [v] } })),
            json!("zzzz"),
            "traffic[0].policy.breaker.count_as_failure",
            "valid: ",
        ),
        set(
            "/$defs/RetryBudget/properties/kind",
            |v| policy(json!({ "retry_budget": { "kind": v } })),
            json!("zzzz"),
            "traffic[0].policy.retry_budget.kind",
            "one of: ",
        ),
        set(
            "/$defs/Capacity/properties/overload_status",
            |v| provider(json!({ "capacity": { "slots": 10, "overload_status": v } })),
            json!(500),
            "providers[0].capacity.overload_status",
            "are ",
        ),
        set(
            "/$defs/Provider/properties/errors/properties",
            |v| provider(json!({ "errors": { v.as_str().unwrap(): 0.01 } })),
            json!("zzzz"),
            "providers[0].errors.",
            "one of: ",
        ),
        set(
            "/$defs/Outage/properties/kind",
            |v| outage(json!({ "kind": v })),
            json!("zzzz"),
            "providers[0].outages[0].kind",
            "one of: ",
        ),
        set(
            "/$defs/Outage/properties/behaviour",
            |v| outage(json!({ "behaviour": v })),
            json!("zzzz"),
            "providers[0].outages[0].behaviour",
            "expected ",
        ),
        set(
            "/$defs/Outage/properties/error_status",
            |v| outage(json!({ "kind": "brownout", "error_status": v })),
            json!(404),
            "providers[0].outages[0].error_status",
            "one of ",
        ),
        set(
            "/$defs/RandomOutages/properties/behaviour",
            |v| {
                provider(
                    json!({ "random_outages": { "mtbf": "1h", "mttr": "1m", "behaviour": v } }),
                )
            },
            json!("zzzz"),
            "providers[0].random_outages.behaviour",
            "expected ",
        ),
        set(
            "/$defs/Chaos/properties/faults/properties",
            |v| json!({ "chaos": { "failure_rate": 0.1, "faults": { v.as_str().unwrap(): 1 } } }),
            json!("zzzz"),
            "chaos.faults.",
            "one of: ",
        ),
        set(
            "/$defs/DurationDistribution/anyOf/1/properties/dist",
            |v| provider(json!({ "models": [{ "name": "m", "ttft": { "dist": v } }] })),
            json!("zzzz"),
            "providers[0].models[0].ttft.dist",
            "one of: ",
        ),
        set(
            "/$defs/CountDistribution/anyOf/1/properties/dist",
            |v| json!({ "traffic": [{ "name": "app", "request": { "input_tokens": { "dist": v } } }] }),
            json!("zzzz"),
            "traffic[0].request.input_tokens.dist",
            "one of: ",
        ),
    ]
}

/// The values a closed set of the schema allows, `null` (absent) aside, as JSON values.
#[track_caller]
fn schema_values(schema: &Value, pointer: &str) -> Vec<Value> {
    let node = schema
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the schema"));
    match node.get("enum") {
        Some(Value::Array(values)) => values.iter().filter(|v| !v.is_null()).cloned().collect(),
        _ => node
            .as_object()
            .unwrap_or_else(|| panic!("{pointer} is neither an enum nor properties: {node}"))
            .keys()
            .map(|k| Value::from(k.as_str()))
            .collect(),
    }
}

/// The parser's problems with `support::base()` patched, as (path, reason).
fn problems(patch: &Value) -> Vec<(String, String)> {
    let mut doc = crate::support::base();
    aichaos::scenario::merge_patch(&mut doc, patch);
    match aichaos::scenario::parse("closed-set.json", &doc.to_string()) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.into_iter().map(|p| (p.path, p.reason)).collect(),
    }
}

/// The single words of the list after `marker`: "expected refuse, hang, or a status: 500"
/// gives refuse, hang, 500; "`poisson` or `closed_loop`" gives poisson, closed_loop.
fn listed_after(reason: &str, marker: &str) -> Vec<String> {
    let (_, list) = reason
        .split_once(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in: {reason}"));
    list.replace(" or ", ", ")
        .replace(':', ",")
        .split(',')
        .map(|word| word.trim().trim_matches('`').to_string())
        .filter(|word| !word.is_empty() && !word.contains(' '))
        .collect()
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// Each closed set is an `enum` of exactly the values the parser accepts: every value the
/// schema offers passes the parser at that field, and a value outside the set is refused
/// with a reason that lists the same values.
#[test]
fn closed_sets_are_enums_of_what_the_parser_accepts() {
    let schema = aichaos::scenario::json_schema();
    for set in closed_sets() {
        let offered = schema_values(&schema, set.schema);
        assert!(offered.len() >= 2, "{}: {offered:?}", set.schema);
        for value in &offered {
            let refused: Vec<_> = problems(&(set.patch)(value.clone()))
                .into_iter()
                .filter(|(path, _)| path.starts_with(set.path))
                .collect();
            assert!(
                refused.is_empty(),
                "{} offers {value}: {refused:?}",
                set.schema
            );
        }
        let problems = problems(&(set.patch)(set.bogus.clone()));
        let Some((_, reason)) = problems.iter().find(|(path, _)| path.starts_with(set.path)) else {
            panic!("{} accepts {}: {problems:?}", set.path, set.bogus);
        };
        let mut valid = listed_after(reason, set.marker);
        let mut offered: Vec<String> = offered.iter().map(text).collect();
        valid.sort();
        offered.sort();
        assert_eq!(offered, valid, "{} against: {reason}", set.schema);
    }
}

/// Outcome names come from the code's own list, in its order, with the "5xx" shorthand.
#[test]
fn failure_names_are_the_outcomes_of_the_code() {
    let schema = aichaos::scenario::json_schema();
    let expected: Vec<Value> = aichaos::outcome::Failure::ALL
        .iter()
        .map(|f| Value::from(f.name()))
        .chain([Value::from("5xx")])
        .collect();
    for pointer in [
        "/$defs/Retry/properties/retry_on/items",
        "/$defs/Breaker/properties/count_as_failure/items",
    ] {
        assert_eq!(schema_values(&schema, pointer), expected, "{pointer}");
    }
}

/// Each distribution family allows, in the schema, the fields the parser reads for it.
#[test]
fn distribution_families_allow_the_fields_the_parser_reads() {
    let schema = aichaos::scenario::json_schema();
    let rules = schema
        .pointer("/$defs/DurationDistribution/anyOf/1/allOf")
        .and_then(Value::as_array)
        .expect("one rule per family");
    for rule in rules {
        let family = rule["if"]["properties"]["dist"]["const"].as_str().unwrap();
        let mut allowed: Vec<String> = rule["then"]["propertyNames"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .filter(|f| f != "dist")
            .collect();
        let patch = provider(serde_json::json!({
            "models": [{ "name": "m", "ttft": { "dist": family, "zzzz": 1 } }]
        }));
        let problems = problems(&patch);
        let path = "providers[0].models[0].ttft.zzzz";
        let Some((_, reason)) = problems.iter().find(|(p, _)| p == path) else {
            panic!("{family} accepts `zzzz`: {problems:?}");
        };
        let mut read = listed_after(reason, "expected: ");
        allowed.sort();
        read.sort();
        assert_eq!(allowed, read, "{family}: {reason}");
    }
    assert_eq!(rules.len(), 9);
}
