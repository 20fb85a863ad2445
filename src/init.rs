//! `aichaos init`: a starting scenario a new user edits instead of reading the whole format.
//!
//! JSON has no comments, so the guidance lives in the file's `description` and in the
//! JSON Schema written beside it (field documentation in the editor).
//!
//! The file is read top to bottom, so its keys come in reading order (what the scenario is,
//! who calls, what is called, how it is judged) rather than serde_json's alphabetical one.
//! Turning on serde_json's `preserve_order` would do it too, but for every map of the
//! program: the order of other outputs and of error lists would change with it.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use crate::policy::presets;

/// A starter scenario: the JSON, and its text in reading order when serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct Starter(pub Value);

impl Serialize for Starter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        InReadingOrder(&self.0).serialize(serializer)
    }
}

/// Keys in the order a reader meets them, as the scenario format's structs declare them:
/// the scenario, a client group, arrivals, request, policy (timeout, retry, backoff,
/// Retry-After, breaker, fallback), provider, model, distribution, capacity, limits,
/// errors, outage, SLO, alert. One list serves every object: no two objects the starter
/// writes order a pair of keys differently (`max` follows `honour` in a Retry-After and
/// `min` in a uniform distribution), and each object's name comes first.
const READING_ORDER: &[&str] = &[
    "$schema",
    "name",
    "description",
    "seed",
    "start",
    "duration",
    "kind",
    "behaviour",
    "bucket",
    "warmup",
    "drain_limit",
    "traffic",
    "providers",
    "chaos",
    "slos",
    "expect",
    // a client group, its arrivals and its request
    "arrivals",
    "type",
    "rate",
    "max_requests",
    "request",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "max_tokens",
    "attempts",
    // its policy
    "policy",
    "preset",
    "timeout",
    "connect",
    "total",
    "deadline",
    "retry",
    "max_attempts",
    "retry_on",
    "backoff",
    "base",
    "multiplier",
    "cap",
    "jitter",
    "retry_after",
    "honour",
    "breaker",
    "failure_threshold",
    "open_duration",
    "half_open_probes",
    "fallback",
    // a provider and its models
    "models",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "context_window",
    "ttft",
    "per_token",
    "dist",
    "value",
    "median",
    "p99",
    "min",
    "max",
    "capacity",
    "slots",
    "queue_limit",
    "overload_status",
    "rate_limits",
    "rpm",
    "tpm",
    "tpm_counts",
    "itpm",
    "otpm",
    "burst",
    "count_rejected",
    "errors",
    "500",
    "502",
    "503",
    "529",
    "hang",
    "outages",
    // an SLO
    "success_rate",
    "latency",
    "percentile",
    "threshold",
    "window",
    "burn_rate_alerts",
    "long_window",
    "short_window",
    "burn_rate",
    "min_success_rate",
];

/// A JSON value serialized with each object's keys in `READING_ORDER`; keys missing from
/// it follow, alphabetically.
struct InReadingOrder<'a>(&'a Value);

impl Serialize for InReadingOrder<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                // Stable: unknown keys keep the map's alphabetical order among themselves.
                keys.sort_by_key(|k| rank(k));
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for key in keys {
                    out.serialize_entry(key, &InReadingOrder(&map[key]))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(InReadingOrder)),
            other => other.serialize(serializer),
        }
    }
}

fn rank(key: &str) -> usize {
    READING_ORDER
        .iter()
        .position(|k| *k == key)
        .unwrap_or(READING_ORDER.len())
}

/// A rate as people write it: whole requests per second when it is one ("10/s"), else
/// per minute ("16/min") or, below ten a minute, per hour, rounded to a whole number: a
/// rate is a figure to edit, not a result to three decimals.
fn rate_text(per_s: f64) -> String {
    if per_s >= 1.0 && (per_s - per_s.round()).abs() < 1e-9 * per_s {
        return format!("{}/s", per_s.round());
    }
    let per_min = per_s * 60.0;
    if per_min.round() >= 10.0 {
        return format!("{}/min", per_min.round());
    }
    format!("{}/h", (per_s * 3600.0).round())
}

/// The starter scenario, with the client policy of `preset` (a name from `presets::NAMES`)
/// or, without one, a hand-written policy showing the usual defences; and the provider of
/// `profile` (a name from `profiles::NAMES`) or, without one, an OpenAI-like account.
pub fn starter(preset: Option<&str>, profile: Option<&str>) -> Result<Starter, String> {
    let profile = profile
        .map(|name| crate::profiles::profile(name).map(|p| (name, p)))
        .transpose()?;
    // The starter's requests, on average (the lognormals below: median 500 and p99 4,000
    // input tokens, median 200 and p99 1,000 output tokens, cut at max_tokens 1,000): with
    // a profile, traffic runs at 70 % of what the tier sustains, at most 10 requests/s.
    let mean_request = crate::profiles::MeanRequest {
        input_tokens: 746.0,
        output_tokens: 250.0,
        max_tokens: 1000.0,
    };
    let rate_per_s = profile.as_ref().map_or(10.0, |(_, p)| {
        (0.7 * p.sustainable_per_s(&mean_request)).min(10.0)
    });
    let (provider_name, model, cheaper) = match &profile {
        Some((_, p)) => (
            p.provider["name"].as_str().unwrap_or("openai").to_string(),
            p.model,
            p.cheaper_model,
        ),
        None => ("openai".to_string(), "gpt-4o", "gpt-4o-mini"),
    };
    let policy = match preset {
        Some(name) if presets::NAMES.contains(&name) => json!({ "preset": name }),
        Some(name) => {
            return Err(format!(
                "no preset named `{name}`; presets: {}",
                presets::NAMES.join(", ")
            ));
        }
        None => json!({
            "timeout": { "connect": "5s", "total": "30s" },
            "deadline": "90s",
            "retry": {
                "max_attempts": 3,
                "backoff": { "kind": "exponential", "base": "500ms", "multiplier": 2, "cap": "8s", "jitter": "full" },
                "retry_after": { "honour": true, "max": "30s" }
            },
            "breaker": { "failure_threshold": 5, "open_duration": "30s", "half_open_probes": 1 },
            "fallback": [ { "provider": provider_name, "model": cheaper, "attempts": 2 } ]
        }),
    };
    let provider = match &profile {
        Some((_, p)) => {
            let mut provider = p.provider.clone();
            provider["outages"] =
                json!([ { "start": "20m", "duration": "5m", "kind": "down", "behaviour": "503" } ]);
            provider
        }
        None => json!({
            "name": "openai",
            "models": [
                { "name": "gpt-4o", "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0, "context_window": 128000,
                  "ttft": { "dist": "lognormal", "median": "500ms", "p99": "3s" },
                  "per_token": { "dist": "uniform", "min": "10ms", "max": "20ms" } },
                { "name": "gpt-4o-mini", "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6, "context_window": 128000,
                  "ttft": { "dist": "lognormal", "median": "300ms", "p99": "1200ms" },
                  "per_token": { "dist": "uniform", "min": "6ms", "max": "10ms" } }
            ],
            "capacity": { "slots": 50, "queue_limit": 200 },
            "rate_limits": { "rpm": 1000, "tpm": 2000000 },
            "errors": { "500": 0.01, "503": 0.005, "hang": 0.001 },
            "outages": [ { "start": "20m", "duration": "5m", "kind": "down", "behaviour": "503" } ]
        }),
    };
    let mut description = "A starting point: edit me. `traffic` is your callers (Poisson arrivals; \
            try `\"type\": \"closed_loop\"` with `users` and `think_time`, or `spikes` and `diurnal`). \
            `providers` is the API you call: latency per model, capacity, RPM/TPM limits, \
            background errors and a 5-minute outage at 20:00 (`capacity` is a dedicated \
            deployment's servers, such as provisioned throughput or a self-hosted model; a \
            public API shares its servers among all its customers: remove `capacity` there \
            and model its trouble as outages and brownouts). `policy` is your client's defence \
            (timeouts, retries, breaker, fallback, or a `preset` of a real client). `slos` judge \
            the run: incidents are printed and charted. `expect` makes \
            the run fail (exit 1) below 90 % success. Run it with `aichaos run`, compare \
            policies with `aichaos compare`, tune one with `aichaos sweep`."
        .to_string();
    if let Some(source) = preset.and_then(presets::provenance) {
        description.push(' ');
        description.push_str(&source);
    }
    if let Some((name, _)) = &profile {
        description.push(' ');
        description.push_str(&crate::profiles::provenance(name));
        description
            .push_str(" Traffic runs at 70 % of what the model's limits in the tier sustain.");
    }
    Ok(Starter(json!({
        "$schema": "./aichaos.schema.json",
        "name": "my-service",
        "description": description,
        "seed": 1,
        "duration": "1h",
        "bucket": "1m",
        "traffic": [{
            "name": "app",
            "arrivals": { "type": "poisson", "rate": rate_text(rate_per_s) },
            "request": {
                "provider": provider_name,
                "model": model,
                "input_tokens": { "dist": "lognormal", "median": 500, "p99": 4000 },
                "output_tokens": { "dist": "lognormal", "median": 200, "p99": 1000 },
                "max_tokens": 1000
            },
            "policy": policy
        }],
        "providers": [provider],
        "slos": [
            { "name": "availability", "success_rate": 0.99, "window": "5m",
              "burn_rate_alerts": [
                  { "name": "page", "long_window": "1h", "short_window": "5m", "burn_rate": 14.4 } ] },
            { "name": "latency", "latency": { "percentile": 95, "threshold": "10s" }, "window": "5m" }
        ],
        "expect": { "min_success_rate": 0.9 }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_starter() -> impl Iterator<Item = (Option<&'static str>, Option<&'static str>)> {
        let profiles =
            std::iter::once(None).chain(crate::profiles::NAMES.iter().copied().map(Some));
        profiles.flat_map(|profile| {
            std::iter::once(None)
                .chain(presets::NAMES.iter().copied().map(Some))
                .map(move |preset| (preset, profile))
        })
    }

    #[test]
    fn every_starter_is_a_valid_scenario() {
        for (preset, profile) in every_starter() {
            let Starter(doc) = starter(preset, profile).unwrap();
            let parsed = crate::scenario::parse("scenario.json", &doc.to_string());
            assert!(parsed.is_ok(), "{preset:?} {profile:?}: {:?}", parsed.err());
        }
        assert!(
            starter(Some("openai"), None)
                .unwrap_err()
                .contains("openai-python")
        );
        assert!(
            starter(None, Some("anthropic"))
                .unwrap_err()
                .contains("anthropic-tier1")
        );
        // The profile's provider and models, named consistently through the file.
        let Starter(doc) = starter(None, Some("anthropic-tier1")).unwrap();
        let limits = &doc["providers"][0]["models"][0]["rate_limits"];
        assert_eq!(limits["rpm"], 50);
        assert_eq!(limits["otpm"], 8000);
        assert_eq!(doc["providers"][0]["retry_after"], "seconds");
        assert!(doc["providers"][0].get("capacity").is_none());
        assert_eq!(doc["traffic"][0]["request"]["model"], "claude-3-5-sonnet");
        assert_eq!(
            doc["traffic"][0]["policy"]["fallback"][0]["model"],
            "claude-3-5-haiku"
        );
    }

    /// A key missing from `READING_ORDER` would sort after all the others, wherever it
    /// belongs.
    #[test]
    fn every_key_written_has_a_place_in_the_reading_order() {
        fn unranked(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    out.extend(
                        map.keys()
                            .filter(|k| rank(k) == READING_ORDER.len())
                            .cloned(),
                    );
                    map.values().for_each(|v| unranked(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| unranked(v, out)),
                _ => {}
            }
        }
        for (preset, profile) in every_starter() {
            let mut missing = Vec::new();
            unranked(&starter(preset, profile).unwrap().0, &mut missing);
            assert!(missing.is_empty(), "{preset:?} {profile:?}: {missing:?}");
        }
    }

    #[test]
    fn rates_are_written_as_people_write_them() {
        assert_eq!(rate_text(10.0), "10/s");
        assert_eq!(rate_text(2.5), "150/min");
        assert_eq!(rate_text(0.7 * 22.857_142_857 / 60.0), "16/min");
        assert_eq!(rate_text(0.2), "12/min");
        assert_eq!(rate_text(0.1 / 60.0), "6/h");
    }
}
