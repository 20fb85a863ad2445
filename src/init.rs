//! `aichaos init`: a starting scenario a new user edits instead of reading the whole format.
//!
//! JSON has no comments, so the guidance lives in the file's `description` and in the
//! JSON Schema written beside it (field documentation in the editor).

use serde_json::{Value, json};

use crate::policy::presets;

/// The starter scenario, with the client policy of `preset` (a name from `presets::NAMES`)
/// or, without one, a hand-written policy showing the usual defences; and the provider of
/// `profile` (a name from `profiles::NAMES`) or, without one, an OpenAI-like account.
pub fn starter(preset: Option<&str>, profile: Option<&str>) -> Result<Value, String> {
    let profile = profile
        .map(|name| crate::profiles::profile(name).map(|p| (name, p)))
        .transpose()?;
    // The starter's requests reserve about 1,750 tokens each (a mean input of ~750 for the
    // lognormal below, plus max_tokens 1,000): with a profile, traffic runs at 70 % of what
    // the tier sustains, at most 10 requests/s.
    let rate_per_s = profile
        .as_ref()
        .map_or(10.0, |(_, p)| (0.7 * p.sustainable_per_s(1750.0)).min(10.0));
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
            background errors and a 5-minute outage at 20:00. `policy` is your client's defence \
            (timeouts, retries, breaker, fallback, or a `preset` of a real client). `slos` judge \
            the run: incidents are printed and charted. `expect` makes \
            the run fail (exit 1) below 90 % success. Run it with `aichaos run`, compare \
            policies with `aichaos compare`, tune one with `aichaos sweep`."
        .to_string();
    if let Some((name, _)) = &profile {
        description.push(' ');
        description.push_str(&crate::profiles::provenance(name));
        description
            .push_str(" Traffic runs at 70 % of what the tier's RPM and TPM limits sustain.");
    }
    Ok(json!({
        "$schema": "./aichaos.schema.json",
        "name": "my-service",
        "description": description,
        "seed": 1,
        "duration": "1h",
        "bucket": "1m",
        "traffic": [{
            "name": "app",
            "arrivals": { "type": "poisson", "rate": format!("{:.3}/s", rate_per_s) },
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
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_starter_is_a_valid_scenario() {
        let profiles = std::iter::once(None).chain(crate::profiles::NAMES.iter().map(Some));
        for profile in profiles {
            for preset in std::iter::once(None).chain(presets::NAMES.iter().map(Some)) {
                let doc = starter(preset.copied(), profile.copied()).unwrap();
                let parsed = crate::scenario::parse("scenario.json", &doc.to_string());
                assert!(parsed.is_ok(), "{preset:?} {profile:?}: {:?}", parsed.err());
            }
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
        let doc = starter(None, Some("anthropic-tier1")).unwrap();
        assert_eq!(doc["providers"][0]["rate_limits"]["rpm"], 50);
        assert_eq!(doc["traffic"][0]["request"]["model"], "claude-3-5-sonnet");
        assert_eq!(
            doc["traffic"][0]["policy"]["fallback"][0]["model"],
            "claude-3-5-haiku"
        );
    }
}
