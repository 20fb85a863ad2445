//! `aichaos init`: a starting scenario a new user edits instead of reading the whole format.
//!
//! JSON has no comments, so the guidance lives in the file's `description` and in the
//! JSON Schema written beside it (field documentation in the editor).

use serde_json::{Value, json};

use crate::policy::presets;

/// The starter scenario, with the client policy of `preset` (a name from `presets::NAMES`)
/// or, without one, a hand-written policy showing the usual defences.
pub fn starter(preset: Option<&str>) -> Result<Value, String> {
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
            "fallback": [ { "provider": "openai", "model": "gpt-4o-mini", "attempts": 2 } ]
        }),
    };
    Ok(json!({
        "$schema": "./aichaos.schema.json",
        "name": "my-service",
        "description": "A starting point: edit me. `traffic` is your callers (10 requests/s, Poisson; \
            try `\"type\": \"closed_loop\"` with `users` and `think_time`, or `spikes` and `diurnal`). \
            `providers` is the API you call: latency per model, capacity, RPM/TPM limits, \
            background errors and a 5-minute outage at 20:00. `policy` is your client's defence \
            (timeouts, retries, breaker, fallback, or a `preset` of a real client). `expect` makes \
            the run fail (exit 1) below 90 % success. Run it with `aichaos run`, compare \
            policies with `aichaos compare`, tune one with `aichaos sweep`.",
        "seed": 1,
        "duration": "1h",
        "bucket": "1m",
        "traffic": [{
            "name": "app",
            "arrivals": { "type": "poisson", "rate": "10/s" },
            "request": {
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": { "dist": "lognormal", "median": 500, "p99": 4000 },
                "output_tokens": { "dist": "lognormal", "median": 200, "p99": 1000 },
                "max_tokens": 1000
            },
            "policy": policy
        }],
        "providers": [{
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
        }],
        "expect": { "min_success_rate": 0.9 }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_starter_is_a_valid_scenario() {
        for preset in std::iter::once(None).chain(presets::NAMES.iter().map(Some)) {
            let doc = starter(preset.copied()).unwrap();
            let parsed = crate::scenario::parse("scenario.json", &doc.to_string());
            assert!(parsed.is_ok(), "{preset:?}: {:?}", parsed.err());
        }
        assert!(
            starter(Some("openai"))
                .unwrap_err()
                .contains("openai-python")
        );
    }
}
