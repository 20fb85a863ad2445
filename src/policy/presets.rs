//! Policies of real clients, by name. A scenario writes `"policy": {"preset": NAME, ...}`;
//! the preset is a policy in the scenario format, and the fields written next to it override
//! it (JSON merge patch). Each follows the version named, read from its source (see
//! POLICY-FACTS.md in the project's shared notes for the lines quoted):
//!
//! | preset | follows |
//! |---|---|
//! | `openai-python` | openai-python 3.57 (`_base_client.py`, `_constants.py`) |
//! | `openai-python-v1` | openai-python 1.109 (Retry-After honoured only up to 60 s) |
//! | `anthropic-python` | anthropic-python 2.14 (any Retry-After honoured) |
//! | `resilience4j-default` | resilience4j `RetryConfig` and `CircuitBreakerConfig` defaults |
//! | `polly-v8-default` | Polly v8 retry, circuit breaker and timeout strategy defaults |
//! | `ms-standard-resilience` | Microsoft.Extensions.Http.Resilience `AddStandardResilienceHandler` |
//! | `envoy-default` | an Envoy route with a retry policy and the cluster's default thresholds |
//! | `grpc-retry` | the example service config of gRFC A6 (gRPC has no retry defaults) |
//! | `aws-standard` | botocore's standard retry mode (1.43, without the 2026 behaviour) |
//! | `litellm-router` | LiteLLM Router 1.110 defaults |
//! | `seed-service` | the seed's `AIChatService` |
//!
//! Where the world here is coarser than the client, the preset says so: statuses the world
//! never produces (408, 409) are left out, and a client's wall-clock total timeout becomes
//! the request `deadline`. Fallback targets name scenario providers, so presets have none.

use serde_json::{Value, json};

pub const NAMES: [&str; 11] = [
    "openai-python",
    "openai-python-v1",
    "anthropic-python",
    "resilience4j-default",
    "polly-v8-default",
    "ms-standard-resilience",
    "envoy-default",
    "grpc-retry",
    "aws-standard",
    "litellm-router",
    "seed-service",
];

/// What the SDKs retry: timeouts, connection errors, 429 and every status >= 500. A 429
/// `insufficient_quota` is retried like any 429 (here: `insufficient_credits`): it never
/// succeeds, and costs the attempts.
fn sdk_retry_on() -> Value {
    json!([
        "timeout",
        "connect_timeout",
        "connection_error",
        "rate_limited",
        "5xx",
        "insufficient_credits"
    ])
}

/// Libraries that retry every exception by default (resilience4j, Polly).
fn everything() -> Value {
    json!([
        "timeout",
        "connect_timeout",
        "connection_error",
        "rate_limited",
        "5xx",
        "insufficient_credits",
        "context_length_exceeded",
        "request_too_large"
    ])
}

pub fn preset(name: &str) -> Option<Value> {
    let openai = || {
        json!({
            // DEFAULT_TIMEOUT = Timeout(timeout=600, connect=5.0); DEFAULT_MAX_RETRIES = 2.
            "timeout": { "connect": "5s", "total": "600s" },
            "retry": {
                "max_attempts": 3,
                "retry_on": sdk_retry_on(),
                // min(0.5 * 2^n, 8) * (1 - 0.25 * random())
                "backoff": { "kind": "exponential", "base": "500ms", "multiplier": 2, "cap": "8s", "jitter": "proportional", "jitter_ratio": 0.25 },
                // Honoured when 0 < v <= 120 s; above, _should_retry returns False.
                "retry_after": { "honour": true, "max": "120s", "above_max": "give_up" }
            }
        })
    };
    let value = match name {
        "openai-python" => openai(),
        "openai-python-v1" => {
            let mut v = openai();
            // `if retry_after is not None and 0 < retry_after <= 60`, else the backoff.
            v["retry"]["retry_after"] =
                json!({ "honour": true, "max": "60s", "above_max": "backoff" });
            v
        }
        "anthropic-python" => {
            let mut v = openai();
            // Any positive value, min(retry_after, 4_294_967.0) s: only sleep's own limit.
            v["retry"]["retry_after"] =
                json!({ "honour": true, "max": "4294967s", "above_max": "cap" });
            v
        }
        "resilience4j-default" => json!({
            // maxAttempts 3, IntervalFunction.ofDefaults(): a fixed 500 ms; every exception.
            "retry": { "max_attempts": 3, "retry_on": everything(), "backoff": { "kind": "constant", "base": "500ms" }, "retry_after": { "honour": false } },
            // COUNT_BASED 100 / minimum 100 / 50 % / slow 100 % at 60 s / 60 s open / 10 probes.
            "breaker": { "kind": "count_window" }
        }),
        "polly-v8-default" => json!({
            // TimeoutStrategyOptions: 30 s (as the attempt timeout inside the retry).
            "timeout": { "total": "30s" },
            // MaxRetryAttempts 3 (4 attempts), Delay 2 s, Constant, no jitter; every exception.
            "retry": { "max_attempts": 4, "retry_on": everything(), "backoff": { "kind": "constant", "base": "2s" }, "retry_after": { "honour": false } },
            // FailureRatio 0.1, MinimumThroughput 100, SamplingDuration 30 s, BreakDuration 5 s.
            "breaker": { "kind": "time_window" }
        }),
        "ms-standard-resilience" => json!({
            // Attempt timeout 10 s; total request timeout 30 s.
            "timeout": { "total": "10s" },
            "deadline": "30s",
            // 3 retries, exponential from 2 s with jitter (DecorrelatedJitterBackoffV2),
            // ShouldRetryAfterHeader: any Retry-After >= 0, no cap.
            "retry": {
                "max_attempts": 4,
                "retry_on": ["timeout", "connect_timeout", "connection_error", "rate_limited", "5xx"],
                "backoff": { "kind": "exponential", "base": "2s", "multiplier": 2, "cap": "30s", "jitter": "decorrelated" },
                "retry_after": { "honour": true, "max": "1h", "above_max": "cap" }
            },
            "breaker": { "kind": "time_window", "failure_rate_threshold": 0.1, "minimum_calls": 100, "window": "30s", "open_duration": "5s" }
        }),
        "envoy-default" => json!({
            // The route timeout (15 s) covers every try; no per-try timeout.
            "timeout": { "total": "15s" },
            "deadline": "15s",
            // num_retries 1; full jitter over [0, (2^N - 1) x 25 ms), capped at 10 x base.
            "retry": {
                "max_attempts": 2,
                "retry_on": ["connect_timeout", "connection_error", "5xx"],
                "backoff": { "kind": "exponential", "base": "25ms", "multiplier": 2, "cap": "250ms", "jitter": "full" },
                "retry_after": { "honour": false }
            },
            // The cluster's circuit breaker allows 3 retries outstanding at once.
            "retry_budget": { "kind": "concurrency", "percent": 0, "min_concurrency": 3 }
        }),
        "grpc-retry" => json!({
            // gRFC A6's example: maxAttempts 4, initialBackoff 0.1 s, maxBackoff 1 s,
            // multiplier 2, random(0, backoff); UNAVAILABLE retried; throttling 10 / 0.1.
            "retry": {
                "max_attempts": 4,
                "retry_on": ["connection_error", "http_503"],
                "backoff": { "kind": "exponential", "base": "100ms", "multiplier": 2, "cap": "1s", "jitter": "full" },
                "retry_after": { "honour": false }
            },
            "retry_budget": { "kind": "grpc", "max_tokens": 10, "token_ratio": 0.1 }
        }),
        "aws-standard" => json!({
            // max_attempts 3; rand() * min(2^(n-1), 20) s; no Retry-After; quota 500/5/10/1.
            "retry": {
                "max_attempts": 3,
                "retry_on": ["timeout", "connect_timeout", "connection_error", "rate_limited", "5xx"],
                "backoff": { "kind": "exponential", "base": "1s", "multiplier": 2, "cap": "20s", "jitter": "full" },
                "retry_after": { "honour": false }
            },
            "retry_budget": { "kind": "aws", "capacity": 500, "retry_cost": 5, "timeout_cost": 10, "no_retry_refund": 1 }
        }),
        "litellm-router" => json!({
            // request_timeout 6000 s per attempt; num_retries 2 (the SDK's own set to 0).
            "timeout": { "total": "6000s" },
            // min(0.5 * 2^n, 8) + U(0, 0.75); Retry-After honoured from 1 to 60 s, else the
            // backoff. (LiteLLM also caps a shorter Retry-After at 8 s; here it is waited out.)
            "retry": {
                "max_attempts": 3,
                "backoff": { "kind": "exponential", "base": "500ms", "multiplier": 2, "cap": "8s", "jitter": "additive", "jitter_max": "750ms" },
                "retry_after": { "honour": true, "max": "60s", "above_max": "backoff" }
            },
            // allowed_fails left at its default: cooldown when more than half of at least 5
            // calls in the minute failed; cooldown_time 5 s. A 429 cools a deployment at once
            // only in a group with several deployments: set `cool_on_429` for one.
            "cooldown": { "failure_rate": 0.5, "min_requests": 5, "cooldown": "5s", "cool_on_429": false }
        }),
        "seed-service" => json!({
            // aiohttp.ClientTimeout(total=30) and the post's 10 s connect advice.
            "timeout": { "connect": "10s", "total": "30s" },
            // max_retries 3, base_delay 1.0 * 2^attempt.
            "retry": { "max_attempts": 3, "backoff": { "kind": "exponential", "base": "1s", "multiplier": 2, "jitter": "none" } },
            // AICircuitBreaker(failure_threshold=3), timeout 60 s.
            "breaker": { "kind": "consecutive", "failure_threshold": 3, "open_duration": "60s" }
        }),
        _ => return None,
    };
    Some(value)
}
