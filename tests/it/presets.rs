//! Presets of real clients: each loads, reproduces its documented delays for fixed jitter
//! draws, treats long Retry-After headers its own way, and can be overridden field by field.

use aichaos::outcome::{Failure, FailureSet};
use aichaos::policy::backoff::{BackoffKind, Jitter};
use aichaos::policy::breaker::TripRule;
use aichaos::policy::budget::RetryBudgetConfig;
use aichaos::policy::cooldown::CooldownConfig;
use aichaos::policy::presets::NAMES;
use aichaos::policy::{AboveMax, Bulkhead, ChainStep, ClientPolicy, NextStep};
use aichaos::time::{NS_PER_MS, NS_PER_S};
use serde_json::json;

use crate::support::{run, scenario};

fn policy(preset: &str) -> ClientPolicy {
    scenario(json!({ "traffic": [{ "name": "app", "policy": { "preset": preset } }] })).groups[0]
        .policy
        .clone()
}

/// The delays before retries 1, 2, ... for a jitter draw, until the preset stops retrying.
fn delays(p: &ClientPolicy, failure: Failure, uniform: f64) -> Vec<u64> {
    let step: ChainStep = p.chain[0];
    let mut out = Vec::new();
    let mut memory = 0;
    for attempts in 1..=step.attempts {
        match p
            .retry
            .after_failure(failure, None, step, attempts, memory, uniform)
        {
            NextStep::Retry { delay_ns } => {
                out.push(delay_ns / NS_PER_MS);
                memory = p.retry.memory_after(attempts, uniform, delay_ns);
            }
            NextStep::NextTarget => break,
        }
    }
    out
}

#[test]
fn every_preset_loads() {
    for name in NAMES {
        let p = policy(name);
        assert!(p.chain[0].attempts >= 2, "{name}");
    }
}

#[test]
fn presets_reproduce_their_documented_delays() {
    let cases: &[(&str, Failure, f64, &[u64])] = &[
        // min(0.5 * 2^n, 8) * (1 - 0.25 U)
        ("openai-python", Failure::Http500, 0.0, &[500, 1000]),
        ("openai-python", Failure::Http500, 1.0, &[375, 750]),
        ("anthropic-python", Failure::Http529, 1.0, &[375, 750]),
        // resilience4j: a fixed 500 ms; Polly v8: a constant 2 s, 3 retries.
        ("resilience4j-default", Failure::Http500, 0.7, &[500, 500]),
        (
            "polly-v8-default",
            Failure::Timeout,
            0.7,
            &[2000, 2000, 2000],
        ),
        // Envoy: one retry, full jitter over 25 ms.
        ("envoy-default", Failure::Http503, 1.0, &[25]),
        // gRFC A6 since #452: min(0.1 * 2^(n-1), 1) x U(0.8, 1.2), at both ends and the middle.
        ("grpc-retry", Failure::Http503, 1.0, &[120, 240, 480]),
        ("grpc-retry", Failure::Http503, 0.0, &[80, 160, 320]),
        ("grpc-retry", Failure::Http503, 0.5, &[100, 200, 400]),
        // botocore standard: rand() * min(2^(n-1), 20).
        ("aws-standard", Failure::Http500, 1.0, &[1000, 2000]),
        ("aws-standard", Failure::Http502, 1.0, &[1000, 2000]),
        ("aws-standard", Failure::Http500, 0.5, &[500, 1000]),
        // LiteLLM: min(0.5 * 2^n, 8) + U(0, 0.75).
        ("litellm-router", Failure::Http500, 1.0, &[1250, 1750]),
        // The seed: 1 s, 2 s.
        ("seed-service", Failure::Http500, 0.3, &[1000, 2000]),
        // Microsoft's standard handler: Polly's DecorrelatedJitterBackoffV2 from 2 s,
        // (f(n + U) - f(previous)) * 2 s / 1.4 with f(t) = 2^t tanh(sqrt(4t)).
        (
            "ms-standard-resilience",
            Failure::Http503,
            0.0,
            &[0, 2754, 2920],
        ),
        (
            "ms-standard-resilience",
            Failure::RateLimited,
            0.5,
            &[1794, 2186, 4071],
        ),
    ];
    for (name, failure, uniform, expected) in cases {
        assert_eq!(
            delays(&policy(name), *failure, *uniform),
            expected.to_vec(),
            "{name} at U = {uniform}"
        );
    }
    // What each does not retry.
    assert!(
        delays(&policy("grpc-retry"), Failure::Http500, 1.0).is_empty(),
        "gRPC retries UNAVAILABLE only"
    );
    assert!(delays(&policy("envoy-default"), Failure::RateLimited, 1.0).is_empty());
    assert!(
        delays(&policy("aws-standard"), Failure::Http529, 1.0).is_empty(),
        "botocore retries 500, 502, 503, 504: not 529"
    );
    assert!(
        delays(
            &policy("ms-standard-resilience"),
            Failure::ContextLengthExceeded,
            1.0
        )
        .is_empty(),
        "a 400 is not transient"
    );
    assert_eq!(
        delays(&policy("seed-service"), Failure::ContextLengthExceeded, 0.0),
        [1000, 2000],
        "the seed retries every exception"
    );
}

#[test]
fn presets_treat_long_retry_after_their_own_way() {
    let after = |name: &str, retry_after_s: u64| {
        let p = policy(name);
        p.retry.after_failure(
            Failure::RateLimited,
            Some(retry_after_s * NS_PER_S),
            p.chain[0],
            1,
            0,
            0.0,
        )
    };
    // openai-python 3.x: up to 120 s honoured, above that no retry at all.
    assert_eq!(
        after("openai-python", 90),
        NextStep::Retry {
            delay_ns: 90 * NS_PER_S
        }
    );
    assert_eq!(after("openai-python", 130), NextStep::NextTarget);
    // 1.x: up to 60 s, else its backoff (0.5 s at U = 0).
    assert_eq!(
        after("openai-python-v1", 90),
        NextStep::Retry {
            delay_ns: 500 * NS_PER_MS
        }
    );
    // anthropic-python: any value.
    assert_eq!(
        after("anthropic-python", 3600),
        NextStep::Retry {
            delay_ns: 3600 * NS_PER_S
        }
    );
    // resilience4j ignores the header; so does the seed.
    assert_eq!(
        after("resilience4j-default", 90),
        NextStep::Retry {
            delay_ns: 500 * NS_PER_MS
        }
    );
    assert_eq!(
        after("seed-service", 90),
        NextStep::Retry { delay_ns: NS_PER_S }
    );
    // Microsoft's handler honours any value.
    assert_eq!(
        after("ms-standard-resilience", 7200),
        NextStep::Retry {
            delay_ns: 7200 * NS_PER_S
        }
    );
}

/// Issue 12, item 9: the SDKs sleep a short Retry-After as sent (`return retry_after` in
/// `_calculate_retry_timeout`), where max(backoff, header) would wait 0.375-0.5 s for 0.2 s;
/// Polly's delay generator (Microsoft's handler) replaces its delay the same way.
#[test]
fn sdk_presets_sleep_a_short_retry_after_as_sent() {
    let short = 200 * NS_PER_MS;
    for name in [
        "openai-python",
        "openai-python-v1",
        "anthropic-python",
        "ms-standard-resilience",
    ] {
        let p = policy(name);
        // The second retry, whose backoff (0.75-1 s for the SDKs) dwarfs the header.
        for uniform in [0.0, 0.5, 1.0] {
            let next =
                p.retry
                    .after_failure(Failure::RateLimited, Some(short), p.chain[0], 2, 0, uniform);
            assert_eq!(
                next,
                NextStep::Retry { delay_ns: short },
                "{name} at U = {uniform}"
            );
        }
    }
    // Clients that max the two still wait their backoff: LiteLLM (min(0.5 * 2^n, 8) +
    // U(0, 0.75) at U = 1: 1.75 s on the second retry).
    let p = policy("litellm-router");
    let next = p
        .retry
        .after_failure(Failure::RateLimited, Some(short), p.chain[0], 2, 0, 1.0);
    assert_eq!(
        next,
        NextStep::Retry {
            delay_ns: 1750 * NS_PER_MS
        }
    );
}

/// Issue 12, item 9, in a run: 20 requests at once against a burst of 10 whose bucket refills
/// one a 100 ms, so the 429s carry Retry-Afters of 100 ms and more. openai-python sleeps them
/// as sent and gets the requests through sooner (953 ms mean for seed 1) than when it maxes
/// them with its backoff (1,118 ms).
#[test]
fn openai_python_gets_through_a_short_throttle_sooner_by_obeying_the_header() {
    let scenario = |combine: &str| {
        json!({
            "duration": "1s",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "200/s" }, "max_requests": 20,
                          "policy": { "preset": "openai-python", "retry": { "max_attempts": 30, "retry_after": { "combine": combine } } } }],
            "providers": [{ "name": "p", "rate_limits": { "rpm": 600, "burst": "1s" } }]
        })
    };
    let replace = run(scenario("replace"));
    let max = run(scenario("max"));
    assert_eq!(replace.requests.succeeded, 20);
    assert_eq!(max.requests.succeeded, 20);
    let (replace_ms, max_ms) = (
        replace.latency_ms.unwrap().mean,
        max.latency_ms.unwrap().mean,
    );
    assert!(
        replace_ms < max_ms,
        "replace {replace_ms} ms, max {max_ms} ms"
    );
    // The price: every loser wakes exactly when the bucket has a token for one of them, so
    // they collide again (75 attempts against 35 for seed 1).
    assert!(replace.attempts.sent > max.attempts.sent);
}

/// Issue 12, item 10: any 429 is retried by the SDKs, "request too large" included, though
/// it can never pass: three attempts a request, all refused.
#[test]
fn sdk_presets_retry_a_request_too_large_for_the_tpm_limit() {
    for name in ["openai-python", "openai-python-v1", "anthropic-python"] {
        let p = policy(name);
        assert!(
            p.retry.retry_on.contains(Failure::RequestTooLarge),
            "{name}"
        );
    }
    let s = run(json!({
        "duration": "1m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" }, "policy": { "preset": "openai-python" } }],
        "providers": [{ "name": "p", "rate_limits": { "tpm": 10 } }]
    }));
    assert!(s.requests.arrived > 30);
    assert_eq!(s.requests.succeeded, 0);
    assert_eq!(
        crate::support::count(&s, "request_too_large"),
        s.requests.arrived
    );
    assert_eq!(s.attempts.sent, 3 * s.requests.arrived);
}

#[test]
fn fields_next_to_a_preset_override_it() {
    let p = scenario(json!({ "traffic": [{ "name": "app", "policy": { "preset": "openai-python", "retry": { "max_attempts": 5 }, "timeout": { "total": "20s" } } }] }))
        .groups[0]
        .policy
        .clone();
    assert_eq!(p.chain[0].attempts, 5);
    assert_eq!(p.attempt_timeout_ns, 20 * NS_PER_S);
    assert_eq!(
        p.connect_timeout_ns,
        5 * NS_PER_S,
        "the rest is the preset's"
    );
}

/// OpenAI's empty account answers 429 `insufficient_quota`, which openai-python retries like
/// any 429 (three attempts, none can succeed); a 402 billing refusal it sends once.
#[test]
fn openai_python_retries_insufficient_quota_and_pays_for_it_in_attempts() {
    let attempts = |status: u16| {
        let s = run(json!({
            "duration": "2m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" }, "policy": { "preset": "openai-python" } }],
            "providers": [{ "name": "p", "credits": { "balance_usd": 0.0, "exhausted_status": status } }]
        }));
        assert_eq!(s.requests.succeeded, 0);
        (s.attempts.insufficient_credits, s.requests.arrived)
    };
    let (sent, arrived) = attempts(429);
    assert_eq!(sent, 3 * arrived);
    let (sent, arrived) = attempts(402);
    assert_eq!(sent, arrived);
}

const NONE_NS: u64 = 3650 * 86_400 * NS_PER_S;

fn set(names: &[&str]) -> FailureSet {
    FailureSet::parse(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap()
}

/// Every failure the world produces on the wire.
fn everything() -> FailureSet {
    set(&[
        "timeout",
        "connect_timeout",
        "connection_error",
        "rate_limited",
        "5xx",
        "insufficient_credits",
        "insufficient_quota",
        "context_length_exceeded",
        "request_too_large",
    ])
}

#[track_caller]
fn check_backoff(p: &ClientPolicy, kind: BackoffKind, base_ms: u64, cap_ns: u64, jitter: Jitter) {
    let b = p.retry.backoff;
    assert_eq!(
        (b.kind, b.base_ns, b.cap_ns, b.jitter),
        (kind, base_ms * NS_PER_MS, cap_ns, jitter)
    );
}

#[track_caller]
fn check_timeouts(p: &ClientPolicy, connect_ns: u64, attempt_ns: u64, deadline_ns: u64) {
    assert_eq!(
        (p.connect_timeout_ns, p.attempt_timeout_ns, p.deadline_ns),
        (connect_ns, attempt_ns, deadline_ns)
    );
}

#[track_caller]
fn check_breaker(p: &ClientPolicy, trip: TripRule, open_s: u64, probes: u32, counts: FailureSet) {
    let b = p.breaker.as_ref().expect("a breaker");
    assert_eq!(b.trip, trip);
    assert_eq!(b.open_ns, open_s * NS_PER_S);
    assert_eq!(b.half_open_probes, probes);
    assert_eq!(b.counts, counts);
    assert!(b.records);
}

/// RetryConfig.java:39-43, CircuitBreakerConfig.java:43-56,87.
#[test]
fn resilience4j_default_pins_its_documented_values() {
    let p = policy("resilience4j-default");
    check_timeouts(&p, NONE_NS, NONE_NS, u64::MAX);
    assert_eq!(p.chain[0].attempts, 3);
    assert_eq!(p.retry.retry_on, everything());
    check_backoff(&p, BackoffKind::Constant, 500, 60 * NS_PER_S, Jitter::None);
    assert!(!p.retry.retry_after.honour);
    let trip = TripRule::CountWindow {
        size: 100,
        minimum_calls: 100,
        failure_rate: 0.5,
        slow_rate: 1.0,
    };
    check_breaker(&p, trip, 60, 10, everything());
    let b = p.breaker.unwrap();
    assert_eq!(
        (b.slow_call_ns, b.max_half_open_wait_ns),
        (60 * NS_PER_S, 0)
    );
    assert!(
        b.counts.contains(Failure::RateLimited),
        "a 429 storm opens it"
    );
}

/// TimeoutStrategyOptions.cs:24, RetryConstants.cs:9-15, CircuitBreakerConstants.cs:13-21,
/// HealthMetrics.cs:9.
#[test]
fn polly_v8_default_pins_its_documented_values() {
    let p = policy("polly-v8-default");
    check_timeouts(&p, 30 * NS_PER_S, 30 * NS_PER_S, u64::MAX);
    assert_eq!(p.chain[0].attempts, 4);
    assert_eq!(p.retry.retry_on, everything());
    check_backoff(&p, BackoffKind::Constant, 2000, 60 * NS_PER_S, Jitter::None);
    assert!(!p.retry.retry_after.honour);
    let trip = TripRule::PollyWindows {
        sampling_ns: 30 * NS_PER_S,
        minimum_calls: 100,
        failure_rate: 0.1,
        slow_rate: 1.0,
    };
    check_breaker(&p, trip, 5, 1, everything());
}

/// HttpStandardResilienceOptions.cs:95, HttpRetryStrategyOptions.cs:29-32,
/// HttpClientResiliencePredicates.cs:50,69-71, HttpCircuitBreakerStrategyOptions.cs:24,
/// RateLimiterConstants.cs:7-9.
#[test]
fn ms_standard_resilience_pins_its_documented_values() {
    let p = policy("ms-standard-resilience");
    check_timeouts(&p, 10 * NS_PER_S, 10 * NS_PER_S, 30 * NS_PER_S);
    assert_eq!(p.chain[0].attempts, 4);
    let transient = set(&[
        "timeout",
        "connect_timeout",
        "connection_error",
        "rate_limited",
        "5xx",
        "insufficient_quota",
        "request_too_large",
    ]);
    assert_eq!(p.retry.retry_on, transient);
    check_backoff(
        &p,
        BackoffKind::Exponential,
        2000,
        NONE_NS,
        Jitter::DecorrelatedV2,
    );
    assert!(p.retry.retry_after.honour);
    assert_eq!(p.retry.retry_after.max_ns, NONE_NS);
    let trip = TripRule::PollyWindows {
        sampling_ns: 30 * NS_PER_S,
        minimum_calls: 100,
        failure_rate: 0.1,
        slow_rate: 1.0,
    };
    check_breaker(&p, trip, 5, 1, transient);
    assert_eq!(
        p.bulkhead,
        Some(Bulkhead {
            max_in_flight: 1000,
            max_queue: 0,
            max_wait_ns: 0
        })
    );
}

/// route_components.proto, cluster.proto, circuit_breaker.proto.
#[test]
fn envoy_default_pins_its_documented_values() {
    let p = policy("envoy-default");
    check_timeouts(&p, 5 * NS_PER_S, 15 * NS_PER_S, 15 * NS_PER_S);
    assert_eq!(p.chain[0].attempts, 2);
    check_backoff(
        &p,
        BackoffKind::Exponential,
        25,
        250 * NS_PER_MS,
        Jitter::Full,
    );
    assert_eq!(
        p.retry_budget,
        Some(RetryBudgetConfig::Concurrency {
            percent: 0.0,
            min_concurrency: 3
        })
    );
}

/// A6-client-retries.md:86-92,113,176-187; connection-backoff.md.
#[test]
fn grpc_retry_pins_its_documented_values() {
    let p = policy("grpc-retry");
    check_timeouts(&p, 20 * NS_PER_S, NONE_NS, u64::MAX);
    assert_eq!(p.chain[0].attempts, 4);
    assert_eq!(
        p.retry.retry_on,
        set(&["connect_timeout", "connection_error", "http_503"])
    );
    check_backoff(
        &p,
        BackoffKind::Exponential,
        100,
        NS_PER_S,
        Jitter::Randomized { ratio: 0.2 },
    );
    assert!(!p.retry.retry_after.honour);
    assert_eq!(
        p.retry_budget,
        Some(RetryBudgetConfig::Grpc {
            max_tokens: 10.0,
            token_ratio: 0.1
        })
    );
}

/// botocore 1.43.67: standard.py:44,366-367,426-429,491,670-697; quota.py:7; endpoint.py:39.
#[test]
fn aws_standard_pins_its_documented_values() {
    let p = policy("aws-standard");
    check_timeouts(&p, 60 * NS_PER_S, 60 * NS_PER_S, u64::MAX);
    assert_eq!(p.chain[0].attempts, 3);
    assert_eq!(
        p.retry.retry_on,
        set(&[
            "timeout",
            "connect_timeout",
            "connection_error",
            "rate_limited",
            "http_500",
            "http_502",
            "http_503"
        ])
    );
    check_backoff(
        &p,
        BackoffKind::Exponential,
        1000,
        20 * NS_PER_S,
        Jitter::Full,
    );
    assert!(!p.retry.retry_after.honour);
    assert_eq!(
        p.retry_budget,
        Some(RetryBudgetConfig::Aws {
            capacity: 500,
            retry_cost: 5,
            timeout_cost: 10,
            no_retry_refund: 1
        })
    );
}

/// router.py, constants.py, cooldown_handlers.py `_should_cooldown_deployment`.
#[test]
fn litellm_router_pins_its_documented_values() {
    let p = policy("litellm-router");
    check_timeouts(&p, 6000 * NS_PER_S, 6000 * NS_PER_S, u64::MAX);
    assert_eq!(p.chain[0].attempts, 3);
    check_backoff(
        &p,
        BackoffKind::Exponential,
        500,
        8 * NS_PER_S,
        Jitter::Additive {
            max_ns: 750 * NS_PER_MS,
        },
    );
    let ra = p.retry.retry_after;
    assert!(ra.honour && ra.max_ns == 60 * NS_PER_S && ra.above_max == AboveMax::UseBackoff);
    // A group of one deployment: no 429 rule, no 50 % rule, only "all of >= 1,000 failed".
    assert_eq!(
        p.cooldown,
        Some(CooldownConfig {
            allowed_fails: None,
            failure_rate: None,
            all_failed_min_requests: Some(1000),
            cooldown_ns: 5 * NS_PER_S,
            cool_on_429: false,
        })
    );
    // Several deployments: both rules back.
    let several = scenario(json!({ "traffic": [{ "name": "app", "policy": { "preset": "litellm-router", "cooldown": { "deployments": 3 } } }] }))
        .groups[0]
        .policy
        .cooldown
        .unwrap();
    assert_eq!(several.failure_rate, Some((0.5, 5)));
    assert!(several.cool_on_429);
}

/// The seed's AIChatService: _call_provider, chat_completion, AICircuitBreaker(3).
#[test]
fn seed_service_pins_what_the_seed_does() {
    let p = policy("seed-service");
    check_timeouts(&p, 10 * NS_PER_S, 30 * NS_PER_S, u64::MAX);
    assert_eq!(p.chain[0].attempts, 3);
    assert_eq!(p.retry.retry_on, everything());
    check_backoff(&p, BackoffKind::Exponential, 1000, NONE_NS, Jitter::None);
    assert!(
        !p.retry.retry_after.honour,
        "the seed never reads Retry-After"
    );
    let b = p.breaker.unwrap();
    assert_eq!(b.trip, TripRule::Consecutive { failures: 3 });
    assert_eq!((b.open_ns, b.counts), (60 * NS_PER_S, everything()));
    assert!(
        !b.records,
        "chat_completion never calls circuit_breaker.call"
    );
}

/// The seed's breaker is read, never told: however many calls fail, it never opens.
#[test]
fn the_seed_breaker_never_opens_because_nothing_records_in_it() {
    let s = run(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "policy": { "preset": "seed-service" } }],
        "providers": [{ "name": "p", "errors": { "500": 0.9 } }]
    }));
    assert!(s.attempts.sent > 1000);
    assert_eq!(s.attempts.breaker_rejected, 0);
    let recording = run(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "policy": { "preset": "seed-service", "breaker": { "records": true } } }],
        "providers": [{ "name": "p", "errors": { "500": 0.9 } }]
    }));
    assert!(
        recording.attempts.breaker_rejected > 0,
        "the same breaker, told, opens"
    );
}

/// A 429 storm opens the breakers of libraries that count every exception.
#[test]
fn a_429_storm_opens_the_breakers_that_count_it() {
    for name in [
        "resilience4j-default",
        "polly-v8-default",
        "ms-standard-resilience",
    ] {
        let s = run(json!({
            "duration": "5m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "20/s" }, "policy": { "preset": name, "timeout": { "total": "30s" } } }],
            "providers": [{ "name": "p", "rate_limits": { "rpm": 120 } }]
        }));
        assert!(s.attempts.breaker_rejected > 0, "{name}");
    }
}

#[test]
fn init_prints_each_presets_provenance() {
    for name in NAMES {
        let text = aichaos::policy::presets::provenance(name).expect(name);
        let aichaos::init::Starter(doc) = aichaos::init::starter(Some(name), None).unwrap();
        assert!(
            doc["description"].as_str().unwrap().contains(&text),
            "{name}: the starter's description carries the provenance"
        );
        assert!(text.contains(name), "{text}");
        assert!(
            text.contains(".java")
                || text.contains(".cs")
                || text.contains(".py")
                || text.contains(".proto")
                || text.contains(".md")
                || text.contains(".txt"),
            "{name}: {text}"
        );
    }
}
