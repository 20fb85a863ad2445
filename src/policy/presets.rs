//! Policies of real clients, by name. A scenario writes `"policy": {"preset": NAME, ...}`;
//! the preset is a policy in the scenario format, and the fields written next to it override
//! it (JSON merge patch). Each follows the version named, read from its source; every value
//! carries its source (file and line at the commit named in `PROVENANCE`, or the documented
//! section) in a comment beside it, and `aichaos init --preset NAME` prints the provenance.
//! The audit behind them (2026-12) is PRESET-AUDIT.md in the project's shared notes.
//!
//! A preset states every value it implies: where the client sets no timeout, it says "none"
//! rather than inheriting the simulator's 10 s / 30 s defaults. Where the world here is
//! coarser than the client, the preset says so: statuses the world never produces (408,
//! 409, 504, 401, 404) are left out, and a client's wall-clock total timeout becomes the
//! request `deadline`. Fallback targets name scenario providers, so presets have none.

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

/// What each preset follows: the version and where its values were read.
const PROVENANCE: [(&str, &str); 11] = [
    (
        "openai-python",
        "openai-python 3.57 (repository e43b4224: src/openai/_constants.py:7-13, _base_client.py:801-847; measured on openai 3.57.0)",
    ),
    (
        "openai-python-v1",
        "openai-python 1.109 (Retry-After 0 < v <= 60 s else backoff, through 2.51.0; _base_client.py)",
    ),
    (
        "anthropic-python",
        "anthropic-python 2.14 (_constants.py:9-14; any Retry-After honoured, measured on anthropic 2.14.0)",
    ),
    (
        "resilience4j-default",
        "resilience4j af9e7c97 (RetryConfig.java:39-43, CircuitBreakerConfig.java:43-56,87); no TimeLimiter, so no timeout",
    ),
    (
        "polly-v8-default",
        "Polly v8 173d6d1d (TimeoutStrategyOptions.cs:24, RetryConstants.cs:9-15, CircuitBreakerConstants.cs:13-21, HealthMetrics.cs:9, DefaultPredicates.cs)",
    ),
    (
        "ms-standard-resilience",
        "Microsoft.Extensions.Http.Resilience, dotnet/extensions 5862342c (HttpStandardResilienceOptions.cs:95, HttpRetryStrategyOptions.cs:29-32, HttpClientResiliencePredicates.cs:50,69-71, HttpCircuitBreakerStrategyOptions.cs:24, RateLimiterConstants.cs:7-9) on Polly 173d6d1d (RetryHelper.cs DecorrelatedJitterBackoffV2)",
    ),
    (
        "envoy-default",
        "Envoy API v3 (route_components.proto RetryPolicy and RouteAction.timeout, cluster.proto connect_timeout, circuit_breaker.proto max_retries)",
    ),
    (
        "grpc-retry",
        "gRFC A6 example config, grpc/proposal 1fd061ad (A6-client-retries.md:86-92,113,176-187; jitter as amended by #452, Aug 2024) and grpc doc/connection-backoff.md (MIN_CONNECT_TIMEOUT 20 s); no default deadline",
    ),
    (
        "aws-standard",
        "botocore 1.43.67 standard retry mode (retries/standard.py:44,366-367,426-429,491,670-697; retries/quota.py:7; endpoint.py:39)",
    ),
    (
        "litellm-router",
        "LiteLLM Router 1.7x-1.8x (router.py num_retries/request_timeout, constants.py retry delays, router_utils/cooldown_handlers.py _should_cooldown_deployment)",
    ),
    (
        "seed-service",
        "the seed's AIChatService (seed 000_a13b263053f95547.txt: chat_completion, _call_provider, AICircuitBreaker(failure_threshold=3))",
    ),
];

/// One sentence on what `name` follows and where its values come from, for the starter.
pub fn provenance(name: &str) -> Option<String> {
    PROVENANCE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, source)| {
            format!(
                "The policy is the `{n}` preset: {source}. Each value's source is cited beside it in src/policy/presets.rs."
            )
        })
}

/// What the SDKs retry: timeouts, connection errors, 429 and every status >= 500. Any 429 is
/// retried (`_should_retry` reads the status alone): OpenAI's 429 `insufficient_quota` and a
/// 429 "request too large" (`request_too_large`) too, though neither can succeed, and they
/// cost the attempts; a 402 (`insufficient_credits`) and a 400 are not (measured on openai
/// 3.57 and anthropic 2.14, POLICY-FACTS.md).
fn sdk_retry_on() -> Value {
    json!([
        "timeout",
        "connect_timeout",
        "connection_error",
        "rate_limited",
        "5xx",
        "insufficient_quota",
        "request_too_large"
    ])
}

/// Every failure the world produces: what libraries that handle every exception retry and
/// count (resilience4j's retryExceptions and recordExceptions default to all; Polly's
/// default predicates handle every exception but cancellation; the seed catches
/// `Exception`).
fn everything() -> Value {
    json!([
        "timeout",
        "connect_timeout",
        "connection_error",
        "rate_limited",
        "5xx",
        "insufficient_credits",
        "insufficient_quota",
        "context_length_exceeded",
        "request_too_large"
    ])
}

/// Microsoft's `HttpClientResiliencePredicates.IsTransient` (:50, 69-71):
/// HttpRequestException, TimeoutRejectedException, status >= 500, 408 and every 429 (so
/// OpenAI's `insufficient_quota` and "request too large" too, both 429s); not a 400 or a 402.
fn ms_transient() -> Value {
    json!([
        "timeout",
        "connect_timeout",
        "connection_error",
        "rate_limited",
        "5xx",
        "insufficient_quota",
        "request_too_large"
    ])
}

/// Polly v8's circuit breaker with its defaults, counting `count_as_failure`:
/// CircuitBreakerConstants.cs:13-21: FailureRatio 0.1, MinimumThroughput 100, SamplingDuration
/// 30 s, BreakDuration 5 s; CircuitStateController.cs:136-147: one probe in half-open;
/// HealthMetrics.cs:9: 10 rolling windows of 3 s.
fn polly_breaker(count_as_failure: Value) -> Value {
    json!({
        "kind": "time_window",
        "sampling": "polly",
        "window": "30s",
        "minimum_calls": 100,
        "failure_rate_threshold": 0.1,
        "open_duration": "5s",
        "half_open_probes": 1,
        "count_as_failure": count_as_failure
    })
}

pub fn preset(name: &str) -> Option<Value> {
    let openai = || {
        json!({
            // _constants.py:7: DEFAULT_TIMEOUT = httpx.Timeout(timeout=600, connect=5.0).
            "timeout": { "connect": "5s", "total": "600s" },
            "retry": {
                // _constants.py:8: DEFAULT_MAX_RETRIES = 2 (3 attempts).
                "max_attempts": 3,
                // _base_client.py:847 (_should_retry): timeouts, connection errors, 408,
                // 409, 429, >= 500.
                "retry_on": sdk_retry_on(),
                // _constants.py:11-12 INITIAL_RETRY_DELAY 0.5, MAX_RETRY_DELAY 8.0;
                // _base_client.py:808-812: min(0.5 * 2^n, 8) * (1 - 0.25 * random()).
                "backoff": { "kind": "exponential", "base": "500ms", "multiplier": 2, "cap": "8s", "jitter": "proportional", "jitter_ratio": 0.25 },
                // _constants.py:13 and _base_client.py:801,817: honoured when 0 < v <= 120 s;
                // above, _should_retry returns False. _calculate_retry_timeout returns the
                // header itself (`return retry_after`), never maxed with the backoff: a 0.2 s
                // header is slept 0.2 s (measured on openai 3.57.0).
                "retry_after": { "honour": true, "max": "120s", "above_max": "give_up", "combine": "replace" }
            }
        })
    };
    let value = match name {
        "openai-python" => openai(),
        "openai-python-v1" => {
            let mut v = openai();
            // 1.x to 2.51.0 _base_client.py: `if retry_after is not None and 0 < retry_after
            // <= 60`, else the backoff (the 120 s rule landed in 2.52.0, commit 7fa79464).
            // Same `return retry_after` inside the window: the header replaces the backoff.
            v["retry"]["retry_after"] = json!({ "honour": true, "max": "60s", "above_max": "backoff", "combine": "replace" });
            v
        }
        "anthropic-python" => {
            let mut v = openai();
            // Measured on anthropic 2.14.0 (POLICY-FACTS.md): any Retry-After is slept. The
            // 4294967 s cap is the simulator's bound (no such clamp is in the SDK's source),
            // far beyond any header a world here sends. _base_client.py
            // (_calculate_retry_timeout) returns the header itself: it replaces the backoff.
            // The retry list is the shared _base_client's, by status (any 429, >= 500, 529
            // included). What Anthropic itself answers: overload 529 `overloaded_error`
            // (retried), an exhausted balance 402 `billing_error` (formerly a 400
            // `invalid_request_error`, "credit balance is too low"): neither status is
            // retried, so against an Anthropic world (`credits.exhausted_status: 402`) no
            // attempt is spent on it; `insufficient_quota` is OpenAI's 429 and never comes.
            v["retry"]["retry_after"] = json!({ "honour": true, "max": "4294967s", "above_max": "cap", "combine": "replace" });
            v
        }
        "resilience4j-default" => json!({
            // resilience4j's Retry and CircuitBreaker set no timeout: that is the separate
            // TimeLimiter module's. The HTTP client's are the application's to state.
            "timeout": { "connect": "none", "total": "none" },
            "retry": {
                // RetryConfig.java:39-41: DEFAULT_MAX_ATTEMPTS 3, DEFAULT_WAIT_DURATION 500 ms
                // (IntervalFunction.ofDefaults: fixed).
                "max_attempts": 3,
                // RetryConfig.java:43: every exception retried by default.
                "retry_on": everything(),
                "backoff": { "kind": "constant", "base": "500ms", "jitter": "none" },
                // No Retry-After support in RetryConfig.
                "retry_after": { "honour": false }
            },
            "breaker": {
                // CircuitBreakerConfig.java:43-52: COUNT_BASED, slidingWindowSize 100,
                // minimumNumberOfCalls 100, failureRateThreshold 50, slowCallRateThreshold
                // 100, slowCallDurationThreshold 60 s, waitDurationInOpenState 60 s,
                // permittedNumberOfCallsInHalfOpenState 10, maxWaitDurationInHalfOpenState 0;
                // :87 automaticTransitionFromOpenToHalfOpenEnabled false (lazy, as here).
                "kind": "count_window",
                "window_size": 100,
                "minimum_calls": 100,
                "failure_rate_threshold": 0.5,
                "slow_call_rate_threshold": 1.0,
                "slow_call_duration": "60s",
                "open_duration": "60s",
                "half_open_probes": 10,
                "max_half_open_wait": "0s",
                // CircuitBreakerConfig.java:56: recordExceptions defaults to every exception,
                // a 429 included.
                "count_as_failure": everything()
            }
        }),
        "polly-v8-default" => json!({
            // TimeoutStrategyOptions.cs:24: 30 s (as the attempt timeout inside the retry).
            // Polly sets no connect timeout: the strategy's covers the connection.
            "timeout": { "connect": "none", "total": "30s" },
            "retry": {
                // RetryConstants.cs:9-15, RetryStrategyOptions.TResult.cs:29-90:
                // MaxRetryAttempts 3 (4 attempts), Delay 2 s, Constant, UseJitter false.
                "max_attempts": 4,
                // DefaultPredicates.cs: every exception except OperationCanceledException.
                "retry_on": everything(),
                "backoff": { "kind": "constant", "base": "2s", "jitter": "none" },
                // No DelayGenerator: Retry-After is not read.
                "retry_after": { "honour": false }
            },
            // DefaultPredicates.cs: every exception counts.
            "breaker": polly_breaker(everything())
        }),
        "ms-standard-resilience" => json!({
            // HttpStandardResilienceOptions.cs:95: attempt timeout 10 s; total request
            // timeout 30 s (Polly's TimeoutStrategyOptions default, as the outer timeout).
            // No connect timeout of its own: the attempt timeout covers the connection.
            "timeout": { "connect": "none", "total": "10s" },
            "deadline": "30s",
            "retry": {
                // HttpRetryStrategyOptions.cs:29-32: 3 retries, Exponential, Delay 2 s,
                // UseJitter true, hence Polly's DecorrelatedJitterBackoffV2 (RetryHelper.cs);
                // RetryStrategyOptions.TResult.cs:90: MaxDelay null (no cap).
                "max_attempts": 4,
                "retry_on": ms_transient(),
                "backoff": { "kind": "exponential", "base": "2s", "cap": "none", "jitter": "decorrelated_v2" },
                // RetryAfterHelper.cs (ShouldRetryAfterHeader true): any Retry-After, no cap,
                // as the DelayGenerator, whose value replaces Polly's computed delay
                // (RetryResilienceStrategy.cs: `if (... is TimeSpan newDelay && ...) delay =
                // newDelay`).
                "retry_after": { "honour": true, "max": "none", "combine": "replace" }
            },
            // HttpCircuitBreakerStrategyOptions.cs:24 on Polly's defaults; ShouldHandle =
            // IsTransient, so a 429 (and a 408) counts.
            "breaker": polly_breaker(ms_transient()),
            // RateLimiterConstants.cs:7-9: a concurrency limiter, 1,000 permits, queue 0.
            // The handler's permit spans a request with its retries; this bulkhead counts
            // attempts out, so waits between retries hold no permit here.
            "bulkhead": { "max_in_flight": 1000, "max_queue": 0, "max_wait": "0s" }
        }),
        "envoy-default" => json!({
            // route_components.proto RouteAction.timeout: 15 s, covering every try, no
            // per_try_timeout; cluster.proto connect_timeout: 5 s.
            "timeout": { "connect": "5s", "total": "15s" },
            "deadline": "15s",
            "retry": {
                // RetryPolicy.num_retries: 1. retry_on has no default: "5xx" (which includes
                // connect failures and resets) is this preset's choice.
                "max_attempts": 2,
                "retry_on": ["connect_timeout", "connection_error", "5xx"],
                // RetryBackOff: base_interval 25 ms, max_interval 10 x base, full jitter over
                // [0, (2^N - 1) x base).
                "backoff": { "kind": "exponential", "base": "25ms", "multiplier": 2, "cap": "250ms", "jitter": "full" },
                "retry_after": { "honour": false }
            },
            // circuit_breaker.proto Thresholds.max_retries: 3 retries outstanding at once.
            "retry_budget": { "kind": "concurrency", "percent": 0, "min_concurrency": 3 }
        }),
        "grpc-retry" => json!({
            // gRPC has no default deadline, and a deadline spans every attempt: none here
            // (set `deadline` for the application's). A connection attempt has at least
            // MIN_CONNECT_TIMEOUT = 20 s (doc/connection-backoff.md); a failed connection
            // fails the RPC as UNAVAILABLE, which the policy retries.
            "timeout": { "connect": "20s", "total": "none" },
            "retry": {
                // A6-client-retries.md:86-92: maxAttempts 4, initialBackoff 0.1 s,
                // maxBackoff 1 s, backoffMultiplier 2, retryableStatusCodes [UNAVAILABLE].
                "max_attempts": 4,
                "retry_on": ["connect_timeout", "connection_error", "http_503"],
                // A6-client-retries.md:113, as amended by grpc/proposal#452 (dc9fd4f, Aug
                // 2024): min(initialBackoff * multiplier^(n-1), maxBackoff) x U(0.8, 1.2).
                // A6 applies the jitter after the min; here the jittered value is capped, which
                // differs only when 0.8 x maxBackoff is reached: never within A6's limit of
                // 5 attempts (the 4th retry's nominal is 0.8 s, jittered at most 0.96 s).
                "backoff": { "kind": "exponential", "base": "100ms", "multiplier": 2, "cap": "1s", "jitter": "randomized", "jitter_ratio": 0.2 },
                // Pushback (grpc-retry-pushback-ms) is not Retry-After.
                "retry_after": { "honour": false }
            },
            // A6-client-retries.md:176-187: retryThrottling maxTokens 10, tokenRatio 0.1.
            "retry_budget": { "kind": "grpc", "max_tokens": 10, "token_ratio": 0.1 }
        }),
        "aws-standard" => json!({
            // endpoint.py:39: DEFAULT_TIMEOUT = 60 for both connect and read. The read
            // timeout bounds each wait for bytes; for a non-streamed completion the first
            // byte comes with the whole answer, so it bounds the attempt.
            "timeout": { "connect": "60s", "total": "60s" },
            "retry": {
                // standard.py:44: max_attempts 3.
                "max_attempts": 3,
                // standard.py:491: transient statuses 500, 502, 503, 504 (not 529), plus
                // connection errors and timeouts, and throttling error codes (the 429s).
                "retry_on": ["timeout", "connect_timeout", "connection_error", "rate_limited", "http_500", "http_502", "http_503"],
                // standard.py:366-367,426-429: rand() * min(2^(n-1), 20) s.
                "backoff": { "kind": "exponential", "base": "1s", "multiplier": 2, "cap": "20s", "jitter": "full" },
                // Standard mode ignores Retry-After.
                "retry_after": { "honour": false }
            },
            // quota.py:7 INITIAL_CAPACITY 500; standard.py:670-697: retry cost 5, timeout
            // retry cost 10, success refund 1.
            "retry_budget": { "kind": "aws", "capacity": 500, "retry_cost": 5, "timeout_cost": 10, "no_retry_refund": 1 }
        }),
        "litellm-router" => json!({
            // Router request_timeout 6000 s per attempt, handed to the SDK client as one float:
            // httpx applies it to connect as well.
            "timeout": { "connect": "6000s", "total": "6000s" },
            "retry": {
                // router.py: num_retries defaults to openai.DEFAULT_MAX_RETRIES = 2 (the SDK's
                // own retries set to 0).
                "max_attempts": 3,
                // The router retries most errors unless a retry_policy says otherwise; the
                // audit could not pin the exact set, so this is the simulator's default set.
                "retry_on": ["timeout", "connect_timeout", "connection_error", "rate_limited", "5xx"],
                // constants.py INITIAL_RETRY_DELAY 0.5, MAX_RETRY_DELAY 8.0, JITTER 0.75:
                // min(0.5 * 2^n, 8) + U(0, 0.75).
                "backoff": { "kind": "exponential", "base": "500ms", "multiplier": 2, "cap": "8s", "jitter": "additive", "jitter_max": "750ms" },
                // A Retry-After with 0 < v <= 60 s is used (as returned: no cap of its own),
                // else the backoff. `_calculate_retry_after` returns `retry_after + jitter`
                // (U(0, 0.75 s)) there: neither combination is exact; `max` (the default)
                // stays, the header plus LiteLLM's jitter is not modelled.
                "retry_after": { "honour": true, "max": "60s", "above_max": "backoff" }
            },
            // cooldown_handlers.py _should_cooldown_deployment with allowed_fails at its
            // default: a model group of one deployment (each target here) cools only when
            // every call of the minute failed and there were at least 1,000
            // (SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD); cooldown_time 5 s. With
            // `deployments` >= 2, a 429 or more than half of at least 5 calls failing cools it.
            "cooldown": { "deployments": 1, "all_failed_min_requests": 1000, "cooldown": "5s" }
        }),
        "seed-service" => json!({
            // _call_provider: aiohttp.ClientTimeout(total=30); the post's 10 s connect advice.
            "timeout": { "connect": "10s", "total": "30s" },
            "retry": {
                // chat_completion: max_retries = 3 attempts, base_delay 1.0 * 2^attempt, no
                // jitter, no cap; `except Exception` retries every failure; Retry-After is
                // never read (the 429 raises a plain Exception).
                "max_attempts": 3,
                "retry_on": everything(),
                "backoff": { "kind": "exponential", "base": "1s", "multiplier": 2, "cap": "none", "jitter": "none" },
                "retry_after": { "honour": false }
            },
            // AICircuitBreaker(failure_threshold=3), timeout 60 s; record_failure counts
            // every exception. But chat_completion never calls circuit_breaker.call: the
            // breaker is only read for the stats. So it is here, and never records.
            "breaker": {
                "kind": "consecutive",
                "failure_threshold": 3,
                "open_duration": "60s",
                "half_open_probes": 1,
                "count_as_failure": everything(),
                "records": false
            }
        }),
        _ => return None,
    };
    Some(value)
}
