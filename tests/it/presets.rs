//! Presets of real clients: each loads, reproduces its documented delays for fixed jitter
//! draws, treats long Retry-After headers its own way, and can be overridden field by field.

use aichaos::outcome::Failure;
use aichaos::policy::presets::NAMES;
use aichaos::policy::{ChainStep, ClientPolicy, NextStep};
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
    let mut previous = 0;
    for attempts in 1..=step.attempts {
        match p
            .retry
            .after_failure(failure, None, step, attempts, previous, uniform)
        {
            NextStep::Retry { delay_ns } => {
                out.push(delay_ns / NS_PER_MS);
                previous = delay_ns;
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
        // gRFC A6 example: random(0, min(0.1 * 2^(n-1), 1)) at the top of the range.
        ("grpc-retry", Failure::Http503, 1.0, &[100, 200, 400]),
        // botocore standard: rand() * min(2^(n-1), 20).
        ("aws-standard", Failure::Http500, 1.0, &[1000, 2000]),
        ("aws-standard", Failure::Http500, 0.5, &[500, 1000]),
        // LiteLLM: min(0.5 * 2^n, 8) + U(0, 0.75).
        ("litellm-router", Failure::Http500, 1.0, &[1250, 1750]),
        // The seed: 1 s, 2 s.
        ("seed-service", Failure::Http500, 0.3, &[1000, 2000]),
        // Microsoft's standard handler: decorrelated jitter from 2 s (at the bottom: 2 s).
        (
            "ms-standard-resilience",
            Failure::Http503,
            0.0,
            &[2000, 2000, 2000],
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
    // resilience4j ignores the header.
    assert_eq!(
        after("resilience4j-default", 90),
        NextStep::Retry {
            delay_ns: 500 * NS_PER_MS
        }
    );
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

#[test]
fn openai_python_retries_exhausted_credits_and_pays_for_it_in_attempts() {
    let s = run(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" }, "policy": { "preset": "openai-python" } }],
        "providers": [{ "name": "p", "credits": { "balance_usd": 0.0 } }]
    }));
    // Every request: three attempts, all 402, none can succeed.
    assert_eq!(s.requests.succeeded, 0);
    assert_eq!(s.attempts.insufficient_credits, 3 * s.requests.arrived);
}
