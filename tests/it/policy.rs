//! The client's defences: backoff schedules, Retry-After, the breaker, fallback, and common
//! random numbers across policies.

use crate::support::{count, error_log, run};
use serde_json::json;

/// One request, alone.
fn single_request(
    policy: serde_json::Value,
    provider: serde_json::Value,
) -> aichaos::report::Summary {
    run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "max_requests": 1, "arrivals": { "rate": null, "type": "closed_loop", "users": 1, "think_time": "0s" }, "policy": policy }],
        "providers": [provider]
    }))
}

#[test]
fn seed_backoff_retries_after_one_then_two_seconds() {
    let s = single_request(
        json!({ "retry": { "max_attempts": 3, "backoff": { "kind": "exponential", "base": "1s", "multiplier": 2, "jitter": "none" } } }),
        json!({ "name": "p", "errors": { "500": 1.0 }, "error_latency": "0s" }),
    );
    assert_eq!(
        error_log(&s),
        vec![(0.0, "http_500"), (1.0, "http_500"), (3.0, "http_500")]
    );
    assert_eq!(count(&s, "http_500"), 1);
    assert_eq!(s.attempts.retries, 2);
}

#[test]
fn backoff_is_capped_and_jitter_stays_below_the_nominal_delay() {
    let s = single_request(
        json!({ "retry": { "max_attempts": 6, "backoff": { "base": "1s", "multiplier": 10, "cap": "5s", "jitter": "full" } } }),
        json!({ "name": "p", "errors": { "500": 1.0 }, "error_latency": "0s" }),
    );
    let times: Vec<f64> = error_log(&s).iter().map(|(t, _)| *t).collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps.len(), 5);
    assert!(gaps[0] <= 1.0 && gaps.iter().all(|g| *g <= 5.0), "{gaps:?}");
    assert!(
        gaps.iter().any(|g| *g > 1.0),
        "delays grow beyond the base: {gaps:?}"
    );
}

/// Two requests at once against 1 RPM: the second gets a 429 whose Retry-After is exactly
/// the minute the bucket needs.
fn rate_limited_pair(retry: serde_json::Value) -> aichaos::report::Summary {
    run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "max_requests": 2, "arrivals": { "rate": null, "type": "closed_loop", "users": 2, "think_time": "0s" }, "policy": { "retry": retry } }],
        "providers": [{ "name": "p", "rate_limits": { "rpm": 1 } }]
    }))
}

#[test]
fn retry_after_is_honoured() {
    let s = rate_limited_pair(
        json!({ "max_attempts": 3, "retry_after": { "honour": true, "max": "2m" } }),
    );
    assert_eq!(s.requests.succeeded, 2);
    assert_eq!(error_log(&s), vec![(0.0, "rate_limited")]);
    // 60 s of Retry-After, then 0.2 s + 50 x 10 ms of service.
    let max = s.latency_ms.unwrap().max;
    assert!((max - 60_700.0).abs() < 61.0, "max latency {max}");
}

#[test]
fn retry_after_ignored_or_too_long_fails_fast() {
    let ignored = rate_limited_pair(
        json!({ "max_attempts": 3, "retry_after": { "honour": false }, "backoff": { "kind": "constant", "base": "1s" } }),
    );
    assert_eq!(
        error_log(&ignored),
        vec![
            (0.0, "rate_limited"),
            (1.0, "rate_limited"),
            (2.0, "rate_limited")
        ]
    );
    assert_eq!(count(&ignored, "rate_limited"), 1);
    // openai-python 3.x: a Retry-After above the maximum is not retried at all.
    let give_up = rate_limited_pair(
        json!({ "max_attempts": 3, "retry_after": { "max": "20s", "above_max": "give_up" } }),
    );
    assert_eq!(error_log(&give_up), vec![(0.0, "rate_limited")]);
    assert_eq!(count(&give_up, "rate_limited"), 1);
}

#[test]
fn seed_breaker_opens_after_n_failures_and_closes_after_a_good_probe() {
    // Hard down for the first 10 s; one user sends a request every second.
    let s = run(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "arrivals": { "rate": null, "type": "closed_loop", "users": 1, "think_time": "1s" },
            "policy": { "retry": { "max_attempts": 1 }, "breaker": { "failure_threshold": 5, "open_duration": "30s" } } }],
        "providers": [{ "name": "p", "outages": [{ "start": "0s", "duration": "10s", "behaviour": "refuse" }] }]
    }));
    // Failures at 1..5 s open it at 5 s; calls at 6..34 s are rejected; the call at 35 s is
    // the probe, the outage is long over, and it closes the breaker.
    assert_eq!(count(&s, "connection_error"), 5);
    assert_eq!(s.attempts.breaker_rejected, 29);
    assert_eq!(s.breaker.opens, 1);
    assert_eq!(s.breaker.time_open_s, 30.0);
    assert_eq!(s.breaker.breakers[0].final_state, "closed");
    assert!(
        error_log(&s)
            .iter()
            .all(|(t, e)| *e == "breaker_open" || *t <= 5.0)
    );
}

#[test]
fn fallback_follows_the_chain_after_retries_are_exhausted() {
    let s = run(json!({
        "traffic": [{ "name": "app", "policy": {
            "retry": { "max_attempts": 2, "backoff": { "base": "100ms" } },
            "fallback": [{ "provider": "backup", "model": "cheap" }] } }],
        "providers": [
            { "name": "p", "errors": { "503": 1.0 } },
            { "name": "backup", "models": [{ "name": "cheap", "input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.1, "ttft": "100ms", "per_token": "1ms" }] }
        ]
    }));
    assert_eq!(s.requests.failed, 0);
    assert_eq!(s.attempts.served_by_fallback, s.requests.arrived);
    assert_eq!(s.attempts.sent, 3 * s.requests.arrived);
    assert_eq!(s.attempts.fallbacks, s.requests.arrived);
    assert_eq!(s.providers[1].completed_ok, s.requests.arrived);
    // Who answered: all of it the cheap model; the primary only billed nothing.
    assert_eq!(s.targets.len(), 1);
    assert_eq!(
        (
            s.targets[0].model.as_str(),
            s.targets[0].answers,
            s.targets[0].share
        ),
        ("cheap", s.requests.arrived, 1.0)
    );
    assert_eq!(s.targets[0].fallbacks_in, s.requests.arrived);
}

#[test]
fn deadline_bounds_the_whole_request() {
    let s = run(json!({
        "traffic": [{ "name": "app", "policy": { "deadline": "5s", "timeout": { "total": "2s" },
            "retry": { "max_attempts": 10, "backoff": { "kind": "constant", "base": "500ms" } } } }],
        "providers": [{ "name": "p", "errors": { "hang": 1.0 } }]
    }));
    assert_eq!(count(&s, "deadline_exceeded"), s.requests.arrived);
    // 2 s timeout, 0.5 s pause, 2 s timeout, 0.5 s pause: the third attempt starts at 5 s.
    assert_eq!(s.attempts.sent, 2 * s.requests.arrived);
}

/// Common random numbers: two policies face the same requests with the same fault rolls.
/// With 2 attempts and no capacity limit, every request whose first attempt fails retries
/// once, so the retries of one policy equal the failures of the other, exactly.
#[test]
fn policies_face_the_same_world_request_by_request() {
    let world = |attempts: u32| {
        run(json!({
            "duration": "30m",
            "traffic": [{ "name": "app", "request": { "output_tokens": { "dist": "exponential", "mean": 50 } },
                "policy": { "retry": { "max_attempts": attempts, "backoff": { "jitter": "full" } } } }],
            "providers": [{ "name": "p", "errors": { "500": 0.1 } }]
        }))
    };
    let (once, twice) = (world(1), world(2));
    assert_eq!(once.requests.arrived, twice.requests.arrived);
    assert_eq!(twice.attempts.retries, count(&once, "http_500"));
    assert!(count(&once, "http_500") > 100);
}

#[test]
fn an_attempt_cut_by_the_deadline_ends_the_request_whatever_the_retries() {
    for attempts in [1, 3] {
        let s = run(json!({
            "duration": "5m",
            "traffic": [{ "name": "app", "policy": { "deadline": "3s", "timeout": { "total": "30s" }, "retry": { "max_attempts": attempts },
                "breaker": { "failure_threshold": 1 } } }],
            "providers": [{ "name": "p", "models": [{ "name": "m", "ttft": "10s", "per_token": "0s" }] }]
        }));
        assert_eq!(
            count(&s, "deadline_exceeded"),
            s.requests.arrived,
            "max_attempts {attempts}"
        );
        assert_eq!(
            s.breaker.opens, 0,
            "a client-side deadline says nothing about the provider's health"
        );
    }
}

#[test]
fn breakers_detect_outages_and_report_false_opens_and_recovery() {
    // 10 requests/s; a hard outage from 5 min to 6 min; 1 % background 500s.
    let with = |breaker: serde_json::Value| {
        run(json!({
            "duration": "15m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" }, "policy": { "retry": { "max_attempts": 1 }, "breaker": breaker } }],
            "providers": [{ "name": "p", "errors": { "500": 0.01 }, "outages": [{ "start": "5m", "duration": "1m", "behaviour": "refuse" }] }]
        }))
    };
    let seed = with(json!({ "failure_threshold": 5, "open_duration": "10s" }));
    let faults = &seed.providers[0].faults;
    assert_eq!(
        (faults.windows, faults.detected, faults.recovered),
        (1, 1, 1)
    );
    // Five failures at 10/s: about half a second.
    assert!(faults.time_to_detect_mean_s.unwrap() < 2.0, "{faults:?}");
    // Recovery waits for the breaker's next probe, at most 10 s after the outage ends.
    assert!(faults.time_to_recover_mean_s.unwrap() <= 10.8, "{faults:?}");
    assert_eq!(
        seed.breaker.false_opens, 0,
        "five 1 % errors in a row are (almost) impossible"
    );
    assert!(seed.breaker.closes >= 1);

    // A hair-trigger breaker trips on background noise: false opens.
    let twitchy = with(json!({ "failure_threshold": 1, "open_duration": "1s" }));
    assert!(
        twitchy.breaker.false_opens > 20,
        "{} false opens",
        twitchy.breaker.false_opens
    );
    assert!(twitchy.breaker.opens > twitchy.breaker.false_opens);

    // resilience4j's count window and Polly's time window detect it too.
    for breaker in [
        json!({ "kind": "count_window", "window_size": 20, "minimum_calls": 10, "failure_rate_threshold": 0.5, "open_duration": "10s", "half_open_probes": 3 }),
        json!({ "kind": "time_window", "window": "10s", "minimum_calls": 20, "failure_rate_threshold": 0.3, "open_duration": "10s" }),
    ] {
        let s = with(breaker.clone());
        let faults = &s.providers[0].faults;
        assert_eq!(faults.detected, 1, "{breaker}: {faults:?}");
        assert!(
            faults.time_to_detect_mean_s.unwrap() < 5.0,
            "{breaker}: {faults:?}"
        );
        assert_eq!(s.breaker.false_opens, 0, "{breaker}");
        assert!(
            s.attempts.breaker_rejected > 300,
            "{breaker}: the breaker shields the outage"
        );
    }
}

#[test]
fn a_fleet_of_breakers_samples_locally() {
    // 20 requests/s spread over a fleet of 10 client instances; a hard outage at 5 min.
    // One shared breaker sees every failure; each instance's own breaker sees a tenth of
    // them, so it needs ten times longer to collect its 3 (Brooker's local sampling).
    let fleet = |scope: serde_json::Value| {
        run(json!({
            "duration": "10m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "20/s" },
                "policy": { "retry": { "max_attempts": 1 }, "breaker": scope } }],
            "providers": [{ "name": "p", "outages": [{ "start": "5m", "duration": "1m", "behaviour": "refuse" }] }]
        }))
    };
    let shared = fleet(json!({ "failure_threshold": 3, "open_duration": "30s" }));
    let local = fleet(
        json!({ "failure_threshold": 3, "open_duration": "30s", "scope": "per_instance", "instances": 10 }),
    );
    assert_eq!(shared.breaker.breakers.len(), 1);
    assert_eq!(local.breaker.breakers.len(), 10);
    assert!(
        local.breaker.breakers.iter().all(|b| b.opens >= 1),
        "every instance learns of the outage on its own"
    );
    let detect =
        |s: &aichaos::report::Summary| s.providers[0].faults.time_to_detect_mean_s.unwrap();
    assert!(
        detect(&shared) < detect(&local),
        "shared {} s, local {} s",
        detect(&shared),
        detect(&local)
    );
    // Until each instance has seen its own failures, its calls still go to the dead provider.
    assert!(local.attempts.sent > shared.attempts.sent);
}

#[test]
fn retry_after_can_hold_a_breaker_open() {
    let s = run(json!({
        "duration": "5m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "5/s" },
            "policy": { "retry": { "max_attempts": 1 }, "breaker": { "hold_open_for_retry_after": true } } }],
        "providers": [{ "name": "p", "rate_limits": { "rpm": 60 } }]
    }));
    // Every 429 opens the breaker until the bucket refills: calls in between are rejected
    // locally instead of hammering the API.
    assert!(s.breaker.opens > 100);
    assert!(
        s.attempts.breaker_rejected > s.attempts.rate_limited,
        "{} rejected, {} 429s",
        s.attempts.breaker_rejected,
        s.attempts.rate_limited
    );
}

/// 10 requests/s against a provider answering 503 to everything, 5 attempts each.
fn hopeless(policy: serde_json::Value) -> aichaos::report::Summary {
    let mut base = json!({ "retry": { "max_attempts": 5, "backoff": { "kind": "constant", "base": "100ms" } } });
    aichaos::scenario::merge_patch(&mut base, &policy);
    run(json!({
        "duration": "5m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" }, "policy": base }],
        "providers": [{ "name": "p", "errors": { "503": 1.0 }, "error_latency": "10ms" }]
    }))
}

#[test]
fn retry_budgets_cap_amplification() {
    let unbounded = hopeless(json!({}));
    assert!((unbounded.amplification - 5.0).abs() < 1e-9);
    // Finagle: 20 % of requests, no floor: at most 1.2 attempts per request.
    let percent = hopeless(
        json!({ "retry_budget": { "kind": "percent", "percent": 20, "min_per_s": 0, "ttl": "10s" } }),
    );
    assert!(
        percent.amplification <= 1.2 + 1e-3 && percent.amplification > 1.15,
        "{}",
        percent.amplification
    );
    assert!(percent.attempts.retries_denied_by_budget > 1000);
    // gRPC throttling: every attempt fails, tokens fall below half at once: no retries.
    let grpc = hopeless(
        json!({ "retry_budget": { "kind": "grpc", "max_tokens": 10, "token_ratio": 0.1 } }),
    );
    assert!(grpc.attempts.retries <= 5, "{}", grpc.attempts.retries);
    // AWS quota: 500 tokens at 5 a retry, never refunded: exactly 100 retries.
    let aws = hopeless(json!({ "retry_budget": { "kind": "aws" } }));
    assert_eq!(aws.attempts.retries, 100);
    // Envoy: retries in flight bounded by max(3, 20 % of active requests).
    let envoy = hopeless(
        json!({ "retry_budget": { "kind": "concurrency", "percent": 20, "min_concurrency": 3 } }),
    );
    assert!(
        envoy.amplification < unbounded.amplification
            && envoy.attempts.retries_denied_by_budget > 0
    );
}

#[test]
fn adaptive_throttling_rejects_locally_when_the_backend_refuses() {
    let with = |throttling: bool| {
        let mut policy = json!({ "retry": { "max_attempts": 1 } });
        if throttling {
            policy["adaptive_throttling"] = json!({ "k": 2, "window": "2m" });
        }
        run(json!({
            "duration": "10m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" }, "policy": policy }],
            "providers": [{ "name": "p", "rate_limits": { "rpm": 120 } }]
        }))
    };
    let (plain, throttled) = (with(false), with(true));
    // The backend accepts 2/s of the 10/s offered: the client learns to send about K x 2/s.
    assert_eq!(plain.attempts.throttled, 0);
    assert!(
        throttled.attempts.throttled > 2000,
        "{}",
        throttled.attempts.throttled
    );
    let sent_per_s = throttled.attempts.sent as f64 / 600.0;
    assert!(sent_per_s < 6.0 && sent_per_s > 3.0, "sent {sent_per_s}/s");
    // It succeeds as often: the backend's capacity, not the client's eagerness, decides.
    let diff = (throttled.requests.succeeded as f64 - plain.requests.succeeded as f64).abs();
    assert!(
        diff < 0.05 * plain.requests.succeeded as f64,
        "{} vs {}",
        throttled.requests.succeeded,
        plain.requests.succeeded
    );
}

#[test]
fn cooldown_takes_a_failing_target_out_of_rotation() {
    let with = |cooldown: Option<serde_json::Value>| {
        let mut policy = json!({ "retry": { "max_attempts": 1 }, "fallback": [{ "provider": "backup", "model": "b" }] });
        if let Some(c) = cooldown {
            policy["cooldown"] = c;
        }
        run(json!({
            "duration": "5m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" }, "policy": policy }],
            "providers": [
                { "name": "p", "errors": { "500": 1.0 }, "error_latency": "10ms" },
                { "name": "backup", "models": [{ "name": "b", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "ttft": "100ms", "per_token": "0s" }] }
            ]
        }))
    };
    let plain = with(None);
    let cooled = with(Some(json!({ "allowed_fails": 3, "cooldown": "5s" })));
    assert_eq!(plain.requests.failed, 0);
    assert_eq!(cooled.requests.failed, 0);
    assert_eq!(plain.providers[0].attempts_received, plain.requests.arrived);
    // 4 failures per 5-second cooldown instead of 50: a tenth of the calls reach p.
    assert!(
        cooled.providers[0].attempts_received * 8 < cooled.requests.arrived,
        "{}",
        cooled.providers[0].attempts_received
    );
    assert!(cooled.attempts.cooldowns > 40);
}

#[test]
fn the_seed_credit_check_alerts_and_routes_to_the_cheaper_model() {
    let s = run(json!({
        "duration": "5m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "2/s" },
            "policy": { "credit_check": { "margin": 1.0 }, "fallback": [{ "provider": "cheap", "model": "mini" }] } }],
        "providers": [
            { "name": "p", "credits": { "balance_usd": 0.01 } },
            { "name": "cheap", "models": [{ "name": "mini", "input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.1, "ttft": "100ms", "per_token": "0s" }] }
        ]
    }));
    assert_eq!(s.requests.failed, 0);
    // The check reads the balance, not what calls in flight have reserved: a call racing
    // the last ones can still meet a 402 (as the seed's check would), but only a handful.
    assert!(
        s.attempts.insufficient_credits <= 3,
        "{} 402s",
        s.attempts.insufficient_credits
    );
    assert!(s.attempts.low_credit_alerts > 500);
    // A call costs 200,000 nano-dollars and is estimated at 300,000 (max_tokens of output):
    // the balance of 10,000,000 is short once 49 calls are billed, so the first alert
    // comes with about the 50th arrival, Gamma(50, 2/s) (mean 25 s, sd 3.5 s), plus the
    // 0.7 s the 49th call takes. Its 99.9 % quantile is 37.4 s (Wilson-Hilferty): 38 s.
    // (30 s, the bound before issue 16's re-baseline, is 1.4 sd above the mean: seed 1
    // now meets its first alert at 30.6 s.)
    assert!(s.providers[0].first_low_credit_alert_s.unwrap() < 38.0);
    assert!(s.attempts.served_by_fallback > 500);
}

#[test]
fn hedging_cuts_the_tail_and_never_answers_twice() {
    // Time to first token with a heavy tail: median 300 ms, p99 5 s; no capacity limit.
    let with = |hedging: Option<serde_json::Value>| {
        let mut policy = json!({ "retry": { "max_attempts": 1 } });
        if let Some(h) = hedging {
            policy["hedging"] = h;
        }
        run(json!({
            "duration": "10m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" }, "policy": policy }],
            "providers": [{ "name": "p", "models": [{ "name": "m", "ttft": { "dist": "lognormal", "median": "300ms", "p99": "5s" }, "per_token": "0s" }] }]
        }))
    };
    let plain = with(None);
    let hedged = with(Some(json!({ "delay": "1s", "max_hedged_attempts": 1 })));
    // Every request ends once, whichever copy answers.
    assert_eq!(
        hedged.requests.arrived,
        hedged.requests.succeeded + hedged.requests.failed
    );
    assert_eq!(hedged.requests.succeeded, hedged.requests.arrived);
    assert!(hedged.attempts.hedges_sent > 0 && hedged.attempts.hedges_won > 0);
    assert!(hedged.attempts.hedges_won <= hedged.attempts.hedges_sent);
    assert_eq!(
        hedged.attempts.sent,
        hedged.requests.arrived + hedged.attempts.hedges_sent
    );
    // Roughly the share of calls slower than 1 s get a hedge: a few more attempts...
    assert!(hedged.amplification < 1.25, "{}", hedged.amplification);
    // ...for a much shorter tail.
    let (p99_plain, p99_hedged) = (
        plain.latency_ms.unwrap().p99,
        hedged.latency_ms.unwrap().p99,
    );
    assert!(
        p99_hedged < 0.6 * p99_plain,
        "p99 {p99_plain} ms without hedging, {p99_hedged} ms with"
    );
    // The losers still ran, and were billed.
    assert!(hedged.providers[0].wasted_completions > 0);
}

#[test]
fn the_client_rate_limiter_keeps_the_provider_under_its_limit() {
    let with = |limiter: serde_json::Value| {
        run(json!({
            "duration": "10m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "5/s" },
                "policy": { "retry": { "max_attempts": 1 }, "rate_limiter": limiter } }],
            "providers": [{ "name": "p", "rate_limits": { "rpm": 120 } }]
        }))
    };
    // The client keeps itself to 100 RPM against the provider's 120: no 429 ever.
    let strict = with(json!({ "rpm": 100 }));
    assert_eq!(strict.attempts.rate_limited, 0);
    assert!(
        strict.providers[0].attempts_received <= 100 + 1000,
        "{}",
        strict.providers[0].attempts_received
    );
    assert!(super::support::count(&strict, "client_rate_limited") > 1500);
    // Allowed to wait up to a minute, nobody is turned away: requests queue for room.
    let patient = with(json!({ "rpm": 100, "max_wait": "60s" }));
    assert!(
        super::support::count(&patient, "client_rate_limited")
            < super::support::count(&strict, "client_rate_limited")
    );
    assert!(
        patient.latency_ms.unwrap().p99 > 1000.0,
        "waiting shows in latency"
    );
}

#[test]
fn the_bulkhead_caps_attempts_in_flight() {
    // 0.7 s calls at 10/s want 7 in flight; the bulkhead allows 2 and a queue of 3 for 1 s.
    let s = run(json!({
        "duration": "5m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" },
            "policy": { "retry": { "max_attempts": 1 }, "bulkhead": { "max_in_flight": 2, "max_queue": 3, "max_wait": "1s" } } }],
        "providers": [{ "name": "p", "capacity": { "slots": 100 } }]
    }));
    // Two slots serve at most one 0.7 s call each at a time, from the first arrival until
    // the last admission: up to `max_wait` (1 s) after the last arrival at 5 min, so at
    // most 2 x (floor(301 / 0.7) + 1) = 862 calls.
    assert!(
        s.requests.succeeded as f64 <= 2.0 / 0.7 * 301.0 + 2.0,
        "{}",
        s.requests.succeeded
    );
    assert!(super::support::count(&s, "bulkhead_full") > s.requests.arrived / 2);
    assert_eq!(s.requests.arrived, s.requests.succeeded + s.requests.failed);
}

#[test]
fn layered_retries_multiply() {
    // openai-python's 3 attempts inside an application loop of 3, against a dead provider:
    // 9 attempts a request, and each layer shows its factor of 3.
    let s = run(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" },
            "policy": { "preset": "openai-python", "outer_retries": [{ "name": "app loop", "retry": { "max_attempts": 3, "backoff": { "kind": "constant", "base": "1s" } } }] } }],
        "providers": [{ "name": "p", "errors": { "503": 1.0 }, "error_latency": "10ms" }]
    }));
    assert!((s.amplification - 9.0).abs() < 1e-9, "{}", s.amplification);
    let layers: Vec<(&str, f64)> = s
        .attempts
        .retry_layers
        .iter()
        .map(|l| (l.layer.as_str(), l.amplification))
        .collect();
    assert_eq!(layers, vec![("app loop", 3.0), ("retry", 3.0)]);
    assert_eq!(s.attempts.retry_layers[1].calls_out, s.attempts.sent);
}

/// Regressions from a review of the policy machinery combined.
#[test]
fn hedges_respect_the_gates_and_each_copy_fails_once() {
    // A hedge with half-open probes to spare must not take one (the breaker would never
    // close: only one copy's answer is recorded).
    let probes = run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "2/s" },
            "policy": { "timeout": { "total": "10s" }, "retry": { "max_attempts": 1 }, "hedging": { "delay": "100ms" },
                "breaker": { "failure_threshold": 1, "open_duration": "2s", "half_open_probes": 2 } } }],
        "providers": [{ "name": "p", "errors": { "500": 0.2 }, "models": [{ "name": "m", "ttft": "500ms", "per_token": "0s" }] }]
    }));
    assert!(
        probes.breaker.closes > 10,
        "the breaker keeps closing: {}",
        probes.breaker.closes
    );
    // A copy that failed cannot fail again through its own timer while the other runs: the
    // hedge, still out, answers in time.
    let timer = run(json!({
        "duration": "60s",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" },
            "policy": { "timeout": { "total": "10s" }, "retry": { "max_attempts": 1 }, "hedging": { "delay": "1s" } } }],
        "providers": [{ "name": "p", "errors": { "500": 0.5 }, "error_latency": "5s", "models": [{ "name": "m", "ttft": "9500ms", "per_token": "0s" }] }]
    }));
    assert_eq!(count(&timer, "timeout"), 0);
    assert!(timer.attempts.hedges_won > 0);
    // The bulkhead counts hedges: never more than 2 out.
    let bulkhead = run(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "2/s" },
            "policy": { "retry": { "max_attempts": 1 }, "hedging": { "delay": "200ms", "max_hedged_attempts": 3 },
                "bulkhead": { "max_in_flight": 2, "max_queue": 100, "max_wait": "20s" } } }],
        "providers": [{ "name": "p", "capacity": { "slots": 100 }, "models": [{ "name": "m", "ttft": "1s", "per_token": "0s" }] }]
    }));
    assert_eq!(
        count(&bulkhead, "bulkhead_full"),
        0,
        "waiters get every freed slot"
    );
    // Two slots of 1 s calls: at most two answers a second over the whole run.
    let most = 2.0 * bulkhead.simulated_duration_s + 2.0;
    assert!(
        bulkhead.providers[0].attempts_accepted as f64 <= most,
        "{} calls",
        bulkhead.providers[0].attempts_accepted
    );
}

#[test]
fn a_half_open_breaker_reopened_by_its_wait_limit_is_counted() {
    let s = run(json!({
        "duration": "90s",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "2/s" },
            "policy": { "timeout": { "total": "5s" }, "retry": { "max_attempts": 1 },
                "breaker": { "failure_threshold": 2, "open_duration": "2s", "max_half_open_wait": "1s" } } }],
        "providers": [{ "name": "p", "outages": [{ "start": "10s", "duration": "60s", "behaviour": "hang" }] }]
    }));
    // Each 5 s probe outlives the 1 s half-open limit: the breaker reopens every 3 s or so.
    assert!(s.breaker.opens > 10, "{} opens", s.breaker.opens);
    assert!(
        s.breaker.time_open_s > 20.0,
        "{} s open",
        s.breaker.time_open_s
    );
}

#[test]
fn client_side_waits_respect_the_deadline_and_spend_tokens_only_when_sending() {
    let s = run(json!({
        "duration": "60s",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" },
            "policy": { "deadline": "2s", "retry": { "max_attempts": 1 }, "rate_limiter": { "rpm": 6, "max_wait": "20s" } } }],
        "providers": [{ "name": "p", "models": [{ "name": "m", "ttft": "100ms", "per_token": "0s" }] }]
    }));
    assert!(count(&s, "deadline_exceeded") > 0);
    assert!(
        s.latency_ms.unwrap().max < 2000.0,
        "nothing waits past its deadline"
    );
    // An open breaker rejects before the limiter's tokens are spent.
    let t = run(json!({
        "duration": "60s",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "2/s" },
            "policy": { "retry": { "max_attempts": 1 }, "breaker": { "failure_threshold": 1, "open_duration": "40s" }, "rate_limiter": { "rpm": 30 } } }],
        "providers": [{ "name": "p", "outages": [{ "start": "0s", "duration": "5s", "behaviour": "refuse" }] }]
    }));
    assert_eq!(
        count(&t, "client_rate_limited"),
        0,
        "rejected calls spent no tokens"
    );
}

/// Issue 12, item 11 (Brooker, "Fixing retries with token buckets and circuit breakers",
/// 2022): at a 10 % failure rate, a breaker that refuses first tries too (Polly v8's rule:
/// 10 % over 30 s, at least 100 calls, open 5 s) does worse than no retries at all; the same
/// rule stopping only retries never does. Common random numbers make the second exact:
/// every first try meets the same fault roll in both runs, so every request that succeeds
/// without retries succeeds with them.
#[test]
fn a_retries_only_breaker_never_does_worse_than_no_retries() {
    let world = |policy: serde_json::Value| {
        run(json!({
            "duration": "5m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "20/s" }, "policy": policy }],
            "providers": [{ "name": "p", "errors": { "500": 0.1 }, "error_latency": "20ms" }]
        }))
    };
    let polly = |applies_to: &str| {
        let mut b = json!({ "kind": "time_window", "sampling": "polly", "window": "30s",
            "minimum_calls": 100, "failure_rate_threshold": 0.1, "applies_to": applies_to });
        if applies_to == "all" {
            b["open_duration"] = json!("5s");
        }
        json!({ "retry": { "max_attempts": 4, "backoff": { "kind": "constant", "base": "100ms" } }, "breaker": b })
    };
    let none = world(json!({ "retry": { "max_attempts": 1 } }));
    let classic = world(polly("all"));
    let retries_only = world(polly("retries"));
    assert!(
        classic.success_rate < none.success_rate,
        "classic {} vs none {}",
        classic.success_rate,
        none.success_rate
    );
    assert!(classic.attempts.breaker_rejected > 0);
    assert_eq!(
        retries_only.attempts.breaker_rejected, 0,
        "first tries always go"
    );
    assert!(retries_only.requests.succeeded >= none.requests.succeeded);
    assert!(retries_only.success_rate > classic.success_rate);
    // It did stop retries while the rate it saw was at or over 10 %, and opened and closed
    // on the answers alone (no open wait).
    let stopped = retries_only.attempts.retries_stopped_by_breaker.unwrap();
    assert!(stopped > 0);
    assert!(retries_only.breaker.opens > 0);
    assert!(
        none.attempts.retries_stopped_by_breaker.is_none(),
        "absent without one"
    );
}

/// A retries-only breaker stops the retries of an outer retry layer too (here the only
/// retries: the client's own makes one attempt), and lets the request fall back: a first try
/// on the fallback target is not a retry.
#[test]
fn a_retries_only_breaker_stops_outer_retries_and_lets_the_fallback_go() {
    let s = run(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "5/s" },
            "request": { "provider": "p" },
            "policy": { "retry": { "max_attempts": 1 },
                "outer_retries": [{ "name": "app loop", "retry": { "max_attempts": 3, "backoff": { "kind": "constant", "base": "0s" } } }],
                "breaker": { "applies_to": "retries", "failure_threshold": 1 },
                "fallback": [{ "provider": "q", "model": "m" }] } }],
        "providers": [
            { "name": "p", "errors": { "500": 1.0 }, "error_latency": "10ms" },
            { "name": "q", "models": [{ "name": "m", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0, "ttft": "100ms", "per_token": "0s" }] }
        ]
    }));
    // The primary always fails; from its first failure the breaker (1 failure in a row) is
    // open and stays open (nothing succeeds there): no retry of either layer after that.
    assert_eq!(s.requests.succeeded, s.requests.arrived);
    assert_eq!(s.attempts.served_by_fallback, s.requests.arrived);
    assert_eq!(s.attempts.breaker_rejected, 0);
    assert_eq!(s.attempts.retries, 0);
    assert_eq!(
        s.attempts.sent,
        2 * s.requests.arrived,
        "one try on each target"
    );
    assert!(
        s.attempts
            .retry_layers
            .iter()
            .all(|l| l.calls_in == l.calls_out)
    );
    assert_eq!(
        s.attempts.retries_stopped_by_breaker,
        Some(s.requests.arrived)
    );
}
