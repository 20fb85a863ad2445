//! Provider profiles for `aichaos init --provider-profile`: a provider account as a real
//! API publishes it (models, prices, rate limits of a usage tier), to start from.
//!
//! Limits and prices are the providers' published figures as of 2025 (OpenAI's usage
//! tiers for gpt-4o, Anthropic's tiers for Claude 3.5 Sonnet; per-million-token list
//! prices); they change, so the scenario says where they come from and that the user's own
//! console is the authority. aichaos keeps one RPM and one TPM bucket per account, counting
//! input + `max_tokens` (OpenAI's way): the profile takes the flagship model's limits, and
//! for Anthropic its input-token limit (the separate output-token bucket is not modelled).
//! Latencies are typical public measurements (time to first token, streaming speed), not
//! published guarantees: replace them with your own p50/p99.

use serde_json::{Value, json};

pub const NAMES: [&str; 4] = [
    "openai-tier1",
    "openai-tier5",
    "anthropic-tier1",
    "anthropic-tier4",
];

/// A profile: the provider's JSON, and its primary and cheaper model.
pub struct Profile {
    pub provider: Value,
    pub model: &'static str,
    pub cheaper_model: &'static str,
    rpm: u32,
    tpm: u32,
}

impl Profile {
    /// Requests per second the tier sustains when each reserves `tokens` (input plus
    /// `max_tokens`) against its TPM bucket: the lower of the two limits.
    pub fn sustainable_per_s(&self, tokens: f64) -> f64 {
        f64::from(self.rpm).min(f64::from(self.tpm) / tokens) / 60.0
    }
}

pub fn profile(name: &str) -> Result<Profile, String> {
    let (rpm, tpm, anthropic) = match name {
        "openai-tier1" => (500, 30_000, false),
        "openai-tier5" => (10_000, 30_000_000, false),
        "anthropic-tier1" => (50, 40_000, true),
        "anthropic-tier4" => (4_000, 400_000, true),
        _ => {
            return Err(format!(
                "no provider profile named `{name}`; profiles: {}",
                NAMES.join(", ")
            ));
        }
    };
    let limits = json!({ "rpm": rpm, "tpm": tpm });
    Ok(if anthropic {
        Profile {
            provider: json!({
                "name": "anthropic",
                "models": [
                    { "name": "claude-3-5-sonnet", "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0,
                      "context_window": 200000,
                      "ttft": { "dist": "lognormal", "median": "900ms", "p99": "4s" },
                      "per_token": { "dist": "uniform", "min": "12ms", "max": "20ms" } },
                    { "name": "claude-3-5-haiku", "input_usd_per_mtok": 0.8, "output_usd_per_mtok": 4.0,
                      "context_window": 200000,
                      "ttft": { "dist": "lognormal", "median": "600ms", "p99": "2500ms" },
                      "per_token": { "dist": "uniform", "min": "12ms", "max": "18ms" } }
                ],
                "capacity": { "slots": 50, "queue_limit": 200, "overload_status": 529 },
                "rate_limits": limits,
                "errors": { "500": 0.002, "529": 0.005 }
            }),
            model: "claude-3-5-sonnet",
            cheaper_model: "claude-3-5-haiku",
            rpm,
            tpm,
        }
    } else {
        Profile {
            provider: json!({
                "name": "openai",
                "models": [
                    { "name": "gpt-4o", "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0,
                      "context_window": 128000,
                      "ttft": { "dist": "lognormal", "median": "500ms", "p99": "3s" },
                      "per_token": { "dist": "uniform", "min": "8ms", "max": "14ms" } },
                    { "name": "gpt-4o-mini", "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6,
                      "context_window": 128000,
                      "ttft": { "dist": "lognormal", "median": "400ms", "p99": "2s" },
                      "per_token": { "dist": "uniform", "min": "7ms", "max": "12ms" } }
                ],
                "capacity": { "slots": 50, "queue_limit": 200, "overload_status": 503 },
                "rate_limits": limits,
                "errors": { "500": 0.002, "503": 0.002 }
            }),
            model: "gpt-4o",
            cheaper_model: "gpt-4o-mini",
            rpm,
            tpm,
        }
    })
}

/// Where a profile's figures come from, for the scenario's description.
pub fn provenance(name: &str) -> String {
    format!(
        "Provider profile `{name}`: rate limits and prices as the provider published them in \
         2025 (check your own console: they change and differ by account); latencies are \
         typical public measurements, replace them with your own p50/p99."
    )
}
