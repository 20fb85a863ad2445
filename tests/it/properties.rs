//! Laws of the mechanisms, over generated inputs (proptest): a breaker never admits more
//! probes than allowed, opens only when its rule says so and closes only through good
//! probes; budgets never allow more than their ratio; backoff never passes its cap; a token
//! bucket never grants more than its rate; hedged requests end exactly once.

use aichaos::outcome::{Failure, FailureSet};
use aichaos::policy::backoff::{Backoff, BackoffKind, Jitter};
use aichaos::policy::breaker::{
    Admission, Breaker, BreakerConfig, BreakerState, Outcome, Recorded, Transition, TripRule,
};
use aichaos::policy::budget::{RetryBudget, RetryBudgetConfig};
use aichaos::ratelimit::TokenBucket;
use aichaos::time::{NS_PER_MS, NS_PER_S};
use proptest::prelude::*;

fn trip_rule() -> impl Strategy<Value = TripRule> {
    prop_oneof![
        (1u32..6).prop_map(|failures| TripRule::Consecutive { failures }),
        (1u32..20, 0.1f64..1.0).prop_map(|(size, rate)| TripRule::CountWindow {
            size,
            minimum_calls: size.div_ceil(2),
            failure_rate: rate,
            slow_rate: 1.0
        }),
        (1u32..10, 1u32..10, 0.1f64..1.0).prop_map(|(seconds, minimum_calls, rate)| {
            TripRule::TimeWindow {
                seconds,
                minimum_calls,
                failure_rate: rate,
                slow_rate: 1.0,
            }
        }),
    ]
}

/// A call: time step in ms, whether it answers at once, and how.
fn calls() -> impl Strategy<Value = Vec<(u64, bool, u8)>> {
    prop::collection::vec((0u64..3000, any::<bool>(), 0u8..3), 1..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn breakers_keep_their_laws(rule in trip_rule(), probes in 1u32..4, calls in calls()) {
        let mut config = BreakerConfig::seed(3, 2 * NS_PER_S, FailureSet::of(&[Failure::Timeout]));
        config.trip = rule.clone();
        config.half_open_probes = probes;
        let mut breaker = Breaker::new(config);
        let mut now = 0;
        // Calls admitted and not yet answered: (epoch, was a probe).
        let mut pending = Vec::new();
        let mut consecutive = 0u32;
        for (step_ms, answer_now, kind) in calls {
            now += step_ms * NS_PER_MS;
            let admission = breaker.admit(now);
            if admission != Admission::Rejected {
                pending.push((breaker.epoch(), admission == Admission::Probe));
            }
            // Never more probes out than permitted in the current half-open period.
            let probes_out = pending.iter().filter(|(e, p)| *p && *e == breaker.epoch()).count();
            prop_assert!(probes_out as u32 <= probes);
            if !answer_now || pending.is_empty() {
                continue;
            }
            let (epoch, was_probe) = pending.remove(0);
            let recorded = [Recorded::Success, Recorded::Failure, Recorded::Neutral][kind as usize];
            let state = breaker.state();
            let current = epoch == breaker.epoch();
            let transition = breaker.record(now, epoch, Outcome { recorded, duration_ns: 0, retry_after_ns: None });
            if current && state == BreakerState::Closed {
                match recorded {
                    Recorded::Failure => consecutive += 1,
                    Recorded::Success => consecutive = 0,
                    Recorded::Neutral => {}
                }
            }
            match transition {
                // Closes only from half-open, on a probe's answer: for the seed's rule a
                // success; a windowed rule judges its probes together, and the last answer
                // of a set below the threshold may be a failure.
                Transition::Closed => {
                    prop_assert_eq!(state, BreakerState::HalfOpen);
                    prop_assert!(was_probe && recorded != Recorded::Neutral);
                    if matches!(rule, TripRule::Consecutive { .. }) {
                        prop_assert_eq!(recorded, Recorded::Success);
                    }
                    consecutive = 0;
                }
                // Opens only on a current, non-neutral answer: for the seed's rule a failure;
                // a windowed rule re-evaluates its rate at every answer (resilience4j does),
                // so the call that brings the window to its minimum may be a success.
                Transition::Opened { .. } => {
                    prop_assert!(current && recorded != Recorded::Neutral);
                    if matches!(rule, TripRule::Consecutive { .. }) {
                        prop_assert_eq!(recorded, Recorded::Failure);
                    }
                    if let (TripRule::Consecutive { failures }, BreakerState::Closed) = (&rule, state) {
                        prop_assert_eq!(consecutive, *failures);
                    }
                    consecutive = 0;
                }
                Transition::None => {}
            }
            // A stale answer changes nothing.
            if !current {
                prop_assert_eq!(transition, Transition::None);
            }
        }
    }

    #[test]
    fn a_percent_budget_never_exceeds_its_ratio(requests in prop::collection::vec((0u64..500, 0u32..5), 1..400), percent in 1.0f64..50.0) {
        let ttl_s = 10;
        let mut budget = RetryBudget::new(RetryBudgetConfig::Percent { percent, min_per_s: 0.0, ttl_s });
        let mut now = 0;
        let mut events: Vec<(u64, bool)> = Vec::new(); // (time, is retry)
        for (step_ms, wanted) in requests {
            now += step_ms * NS_PER_MS;
            budget.on_request(now);
            events.push((now, false));
            for _ in 0..wanted {
                if !budget.try_retry(now, Failure::Http500, 0, 0) {
                    continue;
                }
                events.push((now, true));
                // When a retry is granted, the retries within the last ttl (whole seconds)
                // are at most percent of the requests within it. (Later, deposits and
                // withdrawals expire independently, as in Finagle.)
                let since = (now / NS_PER_S).saturating_sub(u64::from(ttl_s) - 1) * NS_PER_S;
                let recent = events.iter().filter(|(t, _)| *t >= since);
                let (retries, requests) = recent.fold((0.0, 0.0), |(r, q), (_, retry)| if *retry { (r + 1.0, q) } else { (r, q + 1.0) });
                prop_assert!(retries <= requests * percent / 100.0 + 1e-9, "{} retries for {} requests", retries, requests);
            }
        }
    }

    #[test]
    fn backoff_never_passes_its_cap(base_ms in 1u64..5000, multiplier in 1.0f64..10.0, cap_ms in 1u64..60_000, n in 0u32..64, u in 0.0f64..1.0, previous_ms in 0u64..60_000, jitter in 0usize..6) {
        let jitter = [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated, Jitter::Proportional { ratio: 0.25 }, Jitter::Randomized { ratio: 0.5 }][jitter];
        let b = Backoff { kind: BackoffKind::Exponential, base_ns: base_ms * NS_PER_MS, multiplier, cap_ns: cap_ms * NS_PER_MS, jitter };
        prop_assert!(b.delay_ns(n, previous_ms * NS_PER_MS, u) <= b.cap_ns);
    }

    #[test]
    fn a_token_bucket_never_grants_more_than_its_rate(per_minute in 1.0f64..10_000.0, steps in prop::collection::vec((0u64..2000, 1.0f64..50.0), 1..300)) {
        let mut bucket = TokenBucket::per_minute(per_minute);
        let (mut now, mut granted) = (0u64, 0.0);
        for (step_ms, amount) in steps {
            now += step_ms * NS_PER_MS;
            if bucket.check(now, amount).is_ok() {
                bucket.take(amount);
                granted += amount;
            }
            // The initial burst plus the refill so far.
            let allowed = per_minute + per_minute * now as f64 / (60.0 * NS_PER_S as f64);
            prop_assert!(granted <= allowed + 1e-6, "{} > {}", granted, allowed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Hedged requests, over generated worlds: every request ends exactly once.
    #[test]
    fn hedged_requests_end_exactly_once(seed in 1u64..1000, delay_ms in 10u64..2000, copies in 1u32..3, error in 0.0f64..0.5, attempts in 1u32..4) {
        let mut sc = crate::support::scenario(serde_json::json!({
            "duration": "2m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "20/s" },
                "policy": { "timeout": { "total": "3s" }, "retry": { "max_attempts": attempts, "backoff": { "base": "50ms", "jitter": "full" } },
                    "hedging": { "delay": format!("{delay_ms}ms"), "max_hedged_attempts": copies }, "breaker": { "failure_threshold": 5, "open_duration": "2s" },
                    "bulkhead": { "max_in_flight": 30, "max_queue": 10, "max_wait": "500ms" } } }],
            "providers": [{ "name": "p", "capacity": { "slots": 20 },
                "models": [{ "name": "m", "ttft": { "dist": "lognormal", "median": "300ms", "p99": "4s" }, "per_token": "0s" }],
                "errors": { "500": error, "hang": 0.02 } }]
        }));
        sc.seed = seed;
        let s = aichaos::run::run_summary(&sc).unwrap();
        prop_assert_eq!(s.requests.arrived, s.requests.succeeded + s.requests.failed);
        prop_assert_eq!(s.requests.unfinished, 0);
        prop_assert!(s.attempts.hedges_won <= s.attempts.hedges_sent);
        prop_assert!(s.littles_law.holds);
        let answered: u64 = s.targets.iter().map(|t| t.answers).sum();
        prop_assert_eq!(answered, s.requests.succeeded, "one answer per successful request");
    }
}
