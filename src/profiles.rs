//! Provider profiles for `aichaos init --provider-profile`: a provider account as a real
//! API publishes it (models, prices, the rate limits of a usage tier, and how it enforces
//! them), to start from.
//!
//! Limits and prices are the providers' published figures as of 2025 (OpenAI's usage tiers
//! for gpt-4o and gpt-4o-mini; Anthropic's tiers for Claude 3.5 Sonnet and Haiku;
//! per-million-token list prices); they change, so the scenario says where they come from
//! and that the user's own console is the authority. How each provider enforces them:
//! - OpenAI (*Rate limits* guide): limits per model; "quantized" over shorter periods
//!   (`burst: 1s`); "unsuccessful requests contribute to your per-minute limit"
//!   (`count_rejected`); TPM reserves the larger of the prompt and `max_tokens`;
//!   `retry-after-ms` on 429s.
//! - Anthropic (*Rate limits*, *Errors*): a continuously refilled bucket per model holding the
//!   whole limit (`burst: 1m`); RPM, input-token (ITPM) and output-token (OTPM) limits, OTPM
//!   estimated from `max_tokens` and adjusted when the answer ends; `retry-after` in whole
//!   seconds; overload is 529.
//!
//! A public API's capacity is shared by all its customers: one account's traffic meets its
//! rate limits, not the provider's servers, so the profiles have no `capacity` (which is for
//! dedicated deployments: provisioned throughput, a self-hosted server). Provider-wide
//! trouble is an outage or a brownout. Latencies are typical public measurements (time to
//! first token, streaming speed), not published guarantees: replace them with your own
//! p50/p99.

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
    /// The primary model's limits.
    limits: ModelLimits,
}

/// A model's limits in a tier: requests, and tokens counted OpenAI's way (`Total`, the
/// larger of the prompt and `max_tokens`) or Anthropic's (input and output apart).
#[derive(Clone, Copy)]
enum ModelLimits {
    Total { rpm: u32, tpm: u32 },
    Split { rpm: u32, itpm: u32, otpm: u32 },
}

impl ModelLimits {
    fn json(self) -> Value {
        match self {
            ModelLimits::Total { rpm, tpm } => json!({
                "rpm": rpm, "tpm": tpm, "tpm_counts": "larger_of_input_and_max_tokens",
                "burst": "1s", "count_rejected": true
            }),
            ModelLimits::Split { rpm, itpm, otpm } => json!({
                "rpm": rpm, "itpm": itpm, "otpm": otpm, "burst": "1m"
            }),
        }
    }
}

/// What a request takes from the limits on average.
pub struct MeanRequest {
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub max_tokens: f64,
}

impl Profile {
    /// Requests per second the primary model's limits sustain for requests like `r`: the
    /// lowest of its limits. OTPM is spent by the tokens written (what `max_tokens`
    /// reserved beyond them comes back when each answer ends).
    pub fn sustainable_per_s(&self, r: &MeanRequest) -> f64 {
        let per_min = match self.limits {
            ModelLimits::Total { rpm, tpm } => {
                f64::from(rpm).min(f64::from(tpm) / r.input_tokens.max(r.max_tokens))
            }
            ModelLimits::Split { rpm, itpm, otpm } => f64::from(rpm)
                .min(f64::from(itpm) / r.input_tokens)
                .min(f64::from(otpm) / r.output_tokens),
        };
        per_min / 60.0
    }
}

pub fn profile(name: &str) -> Result<Profile, String> {
    use ModelLimits::{Split, Total};
    // (primary model's limits, cheaper model's limits), per tier as published in 2025.
    let (limits, cheaper_limits) = match name {
        "openai-tier1" => (
            Total {
                rpm: 500,
                tpm: 30_000,
            },
            Total {
                rpm: 500,
                tpm: 200_000,
            },
        ),
        "openai-tier5" => (
            Total {
                rpm: 10_000,
                tpm: 30_000_000,
            },
            Total {
                rpm: 30_000,
                tpm: 150_000_000,
            },
        ),
        "anthropic-tier1" => (
            Split {
                rpm: 50,
                itpm: 40_000,
                otpm: 8_000,
            },
            Split {
                rpm: 50,
                itpm: 50_000,
                otpm: 10_000,
            },
        ),
        "anthropic-tier4" => (
            Split {
                rpm: 4_000,
                itpm: 400_000,
                otpm: 80_000,
            },
            Split {
                rpm: 4_000,
                itpm: 400_000,
                otpm: 80_000,
            },
        ),
        _ => {
            return Err(format!(
                "no provider profile named `{name}`; profiles: {}",
                NAMES.join(", ")
            ));
        }
    };
    let anthropic = matches!(limits, Split { .. });
    let (mut provider, model, cheaper_model) = if anthropic {
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
                        limits,
                    ),
                    (
                        "claude-3-5-haiku",
                        0.8,
                        4.0,
                        200_000,
                        ("600ms", "2500ms"),
                        ("12ms", "18ms"),
                        cheaper_limits,
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
                        limits,
                    ),
                    (
                        "gpt-4o-mini",
                        0.15,
                        0.6,
                        128_000,
                        ("400ms", "2s"),
                        ("7ms", "12ms"),
                        cheaper_limits,
                    ),
                ],
                503,
            ),
            "gpt-4o",
            "gpt-4o-mini",
        )
    };
    provider["retry_after"] = json!(if anthropic { "seconds" } else { "milliseconds" });
    Ok(Profile {
        provider,
        model,
        cheaper_model,
        limits,
    })
}

/// A model: name, list prices per million input and output tokens, context window, time to
/// first token (median, p99), time per output token (uniform min, max), and its limits.
type ModelFacts = (
    &'static str,
    f64,
    f64,
    u32,
    (&'static str, &'static str),
    (&'static str, &'static str),
    ModelLimits,
);

/// A provider account of two models, each with its own limits, with a light background of
/// 500s and overloads (`overload_status`, the provider's own: 503, or Anthropic's 529).
fn account(name: &str, models: [ModelFacts; 2], overload_status: u16) -> Value {
    let models: Vec<Value> = models
        .iter()
        .map(
            |&(model, input, output, context, (ttft, ttft_p99), (fast, slow), limits)| {
                json!({
                    "name": model, "input_usd_per_mtok": input, "output_usd_per_mtok": output,
                    "context_window": context,
                    "ttft": { "dist": "lognormal", "median": ttft, "p99": ttft_p99 },
                    "per_token": { "dist": "uniform", "min": fast, "max": slow },
                    "rate_limits": limits.json()
                })
            },
        )
        .collect();
    json!({
        "name": name,
        "models": models,
        "errors": { "500": 0.002, overload_status.to_string(): 0.005 }
    })
}

/// Where a profile's figures come from, for the scenario's description.
pub fn provenance(name: &str) -> String {
    format!(
        "Provider profile `{name}`: per-model rate limits and prices as the provider published \
         them in 2025, enforced the provider's documented way (check your own console: they \
         change and differ by account); latencies are typical public measurements, replace \
         them with your own p50/p99. A public API is shared by all its customers: there is no \
         `capacity` (that is for dedicated deployments such as provisioned throughput or a \
         self-hosted server); model provider-wide trouble as outages or brownouts."
    )
}
