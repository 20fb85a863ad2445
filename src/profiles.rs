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
    let (provider, model, cheaper_model) = if anthropic {
        (
            account(
                "anthropic",
                [
                    (
                        "claude-3-5-sonnet",
                        3.0,
                        15.0,
                        200_000,
                        ("900ms", "4s"),
                        ("12ms", "20ms"),
                    ),
                    (
                        "claude-3-5-haiku",
                        0.8,
                        4.0,
                        200_000,
                        ("600ms", "2500ms"),
                        ("12ms", "18ms"),
                    ),
                ],
                529,
            ),
            "claude-3-5-sonnet",
            "claude-3-5-haiku",
        )
    } else {
        (
            account(
                "openai",
                [
                    (
                        "gpt-4o",
                        2.5,
                        10.0,
                        128_000,
                        ("500ms", "3s"),
                        ("8ms", "14ms"),
                    ),
                    (
                        "gpt-4o-mini",
                        0.15,
                        0.6,
                        128_000,
                        ("400ms", "2s"),
                        ("7ms", "12ms"),
                    ),
                ],
                503,
            ),
            "gpt-4o",
            "gpt-4o-mini",
        )
    };
    let mut provider = provider;
    provider["rate_limits"] = limits;
    Ok(Profile {
        provider,
        model,
        cheaper_model,
        rpm,
        tpm,
    })
}

/// A model: name, list prices per million input and output tokens, context window, time to
/// first token (median, p99) and time per output token (uniform min, max).
type ModelFacts = (
    &'static str,
    f64,
    f64,
    u32,
    (&'static str, &'static str),
    (&'static str, &'static str),
);

/// A provider account of two models, overloading with `overload_status` past 50 calls at
/// once, with a light background of 500s and overloads.
fn account(name: &str, models: [ModelFacts; 2], overload_status: u16) -> Value {
    let models: Vec<Value> = models
        .iter()
        .map(
            |&(model, input, output, context, (ttft, ttft_p99), (fast, slow))| {
                json!({
                    "name": model, "input_usd_per_mtok": input, "output_usd_per_mtok": output,
                    "context_window": context,
                    "ttft": { "dist": "lognormal", "median": ttft, "p99": ttft_p99 },
                    "per_token": { "dist": "uniform", "min": fast, "max": slow }
                })
            },
        )
        .collect();
    json!({
        "name": name,
        "models": models,
        "capacity": { "slots": 50, "queue_limit": 200, "overload_status": overload_status },
        "errors": { "500": 0.002, overload_status.to_string(): 0.005 }
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
