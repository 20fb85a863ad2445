//! Laws of the mechanisms, over generated inputs (proptest): a breaker never admits more
//! probes than allowed, opens only when its rule says so and closes only through good
//! probes; budgets never allow more than their ratio; backoff never passes its cap; a token
//! bucket never grants more than its rate; hedged requests end exactly once. Generated
//! worlds keep their books (one outcome per request, time never goes back, credits
//! conserved, the time series adds up to the summary), and no mangled scenario text, `--set`
//! string or byte soup panics the parser (the fuzz target, run as properties in CI).

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
        (200u64..10_000, 1u32..10, 0.1f64..1.0).prop_map(|(sampling_ms, minimum_calls, rate)| {
            TripRule::PollyWindows {
                sampling_ns: sampling_ms * NS_PER_MS,
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
    fn backoff_never_passes_its_cap(base_ms in 1u64..5000, multiplier in 1.0f64..10.0, cap_ms in 1u64..60_000, n in 0u32..64, u in 0.0f64..1.0, previous_ms in 0u64..60_000, jitter in 0usize..7) {
        let jitter = [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated, Jitter::Proportional { ratio: 0.25 }, Jitter::Randomized { ratio: 0.5 }, Jitter::DecorrelatedV2][jitter];
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

/// A generated world: one or two providers, knobs for every failure the model produces,
/// a client policy with retries, a breaker and a fallback, an SLO, and short enough to run
/// hundreds of times.
fn generated_world() -> impl Strategy<Value = serde_json::Value> {
    let provider = (
        1u32..40,
        0.0f64..0.2,
        0.0f64..0.05,
        proptest::option::of((0u64..240, 1u64..120)),
        proptest::option::of(30u32..600),
        proptest::option::of(0.01f64..2.0),
    );
    (
        (1u64..1000, 1.0f64..40.0, 60u64..300),
        provider,
        (1u32..5, 0usize..4, any::<bool>(), any::<bool>(), 100u64..5000),
        proptest::option::of(0.0f64..0.5),
    )
        .prop_map(
            |((seed, rate, duration), provider, policy, chaos)| {
                let (slots, err500, hang, outage, rpm, credits) = provider;
                let (attempts, jitter, breaker, fallback, timeout_ms) = policy;
                let mut p = serde_json::json!({
                    "name": "p",
                    "models": [{ "name": "m", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 4.0,
                                 "ttft": { "dist": "lognormal", "median": "300ms", "p99": "2s" },
                                 "per_token": "5ms" }],
                    "capacity": { "slots": slots, "queue_limit": 200 },
                    "errors": { "500": err500, "hang": hang }
                });
                if let Some((start, length)) = outage {
                    p["outages"] = serde_json::json!([{ "start": format!("{start}s"), "duration": format!("{length}s"), "kind": "down", "behaviour": "refuse" }]);
                }
                if let Some(rpm) = rpm {
                    p["rate_limits"] = serde_json::json!({ "rpm": rpm });
                }
                if let Some(usd) = credits {
                    p["credits"] = serde_json::json!({ "balance_usd": usd });
                }
                let jitter = ["none", "full", "equal", "decorrelated"][jitter];
                let mut policy = serde_json::json!({
                    "timeout": { "total": format!("{timeout_ms}ms") },
                    "retry": { "max_attempts": attempts,
                               "backoff": { "kind": "exponential", "base": "100ms",
                                            "jitter": jitter } }
                });
                if breaker {
                    policy["breaker"] = serde_json::json!({ "failure_threshold": 3, "open_duration": "10s" });
                }
                let mut providers = vec![p];
                if fallback {
                    providers.push(serde_json::json!({
                        "name": "backup",
                        "models": [{ "name": "small", "input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.4,
                                     "ttft": "200ms", "per_token": "2ms" }]
                    }));
                    policy["fallback"] = serde_json::json!([{ "provider": "backup", "model": "small" }]);
                }
                let mut world = serde_json::json!({
                    "name": "generated",
                    "seed": seed,
                    "duration": format!("{duration}s"),
                    "bucket": "10s",
                    "traffic": [{
                        "name": "app",
                        "arrivals": { "type": "poisson", "rate": format!("{rate:.3}/s") },
                        "request": { "model": "m", "input_tokens": { "dist": "lognormal", "median": 400, "p99": 3000 },
                                     "output_tokens": { "dist": "exponential", "mean": 80 }, "max_tokens": 500 },
                        "policy": policy
                    }],
                    "providers": providers,
                    "slos": [{ "name": "availability", "success_rate": 0.99, "window": "30s",
                               "burn_rate_alerts": [{ "name": "page", "long_window": "2m", "short_window": "30s", "burn_rate": 10 }] }]
                });
                if let Some(rate) = chaos {
                    world["chaos"] = serde_json::json!({ "failure_rate": rate, "timeout_after": "500ms", "start": "20s", "end": "90s" });
                }
                world
            },
        )
}

fn column_sum(csv: &str, name: &str) -> f64 {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|c| *c == name).unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap().parse::<f64>().unwrap_or(0.0))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every request ends in exactly one outcome, time never goes back, credits are
    /// conserved, and the time series adds up to the summary.
    #[test]
    fn generated_worlds_keep_the_books(world in generated_world()) {
        let text = world.to_string();
        let experiment = aichaos::scenario::parse("generated.json", &text)
            .unwrap_or_else(|e| panic!("generated scenario invalid: {e}\n{text}"));
        let scenario = &experiment.scenarios[0];
        let dir = tempfile::tempdir().unwrap();
        let s = aichaos::run::run_to_dir(scenario, dir.path(), false).unwrap();
        let r = &s.requests;
        prop_assert_eq!(r.unfinished, 0);
        prop_assert_eq!(r.arrived, r.succeeded + r.failed);
        let by_reason: u64 = r.failed_by_reason.0.iter().map(|(_, n)| n).sum();
        prop_assert_eq!(by_reason, r.failed);
        prop_assert!(s.littles_law.holds);
        let conserved = crate::support::check_credits_conserved(scenario, &s);
        prop_assert!(conserved.is_ok(), "{:?}", conserved);

        let csv = std::fs::read_to_string(dir.path().join("timeseries.csv")).unwrap();
        prop_assert_eq!(column_sum(&csv, "arrivals") as u64, r.arrived);
        prop_assert_eq!(column_sum(&csv, "successes") as u64, r.succeeded);
        prop_assert_eq!(column_sum(&csv, "failures") as u64, r.failed);
        prop_assert_eq!(column_sum(&csv, "attempts") as u64, s.attempts.sent);
        let times: Vec<f64> = csv.lines().skip(1)
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect();
        prop_assert!(times.windows(2).all(|w| w[0] < w[1]), "bucket times go back");

        let objectives = s.objectives.as_ref().unwrap();
        let slo = &objectives.slos[0];
        prop_assert_eq!(slo.requests, r.succeeded + r.failed);
        prop_assert_eq!(slo.bad_requests, r.failed);
        let in_incidents: u64 = objectives.incidents.iter().map(|i| i.bad_requests).sum();
        prop_assert!(in_incidents <= slo.bad_requests);
        prop_assert!(objectives.incidents.windows(2).all(|w| w[0].end_s <= w[1].start_s));
    }

    /// The trace of a whole generated run: time never goes back, and every request that
    /// arrives ends exactly once.
    #[test]
    fn traced_requests_end_exactly_once(world in generated_world()) {
        let experiment = aichaos::scenario::parse("generated.json", &world.to_string()).unwrap();
        let scenario = &experiment.scenarios[0];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        let request = aichaos::replay::ReplayRequest {
            from_ns: 0,
            to_ns: u64::MAX,
            trace: Some((&path, aichaos::replay::TraceFormat::Jsonl)),
            narrate: None,
        };
        aichaos::replay::replay(scenario, &request).unwrap();
        let mut last = 0u64;
        let mut ends = std::collections::BTreeMap::<u64, (u32, u32)>::new();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = e["t_ns"].as_u64().unwrap();
            prop_assert!(t >= last, "time went back: {line}");
            last = t;
            if let Some(id) = e["request"].as_u64() {
                let entry = ends.entry(id).or_default();
                match e["event"].as_str().unwrap() {
                    "arrived" => entry.0 += 1,
                    "succeeded" | "request_failed" => entry.1 += 1,
                    _ => {}
                }
            }
        }
        prop_assert!(ends.values().all(|&(arrived, ended)| arrived == 1 && ended == 1));
    }
}

/// A valid scenario, mangled: values replaced by other JSON, keys dropped or invented.
fn mangled_scenario() -> impl Strategy<Value = String> {
    let junk = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|x| serde_json::json!(x)),
        "[a-z0-9/.:-]{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!("1e308s")),
        Just(serde_json::json!("-5/s")),
        Just(serde_json::json!({ "dist": "lognormal", "median": -1, "p99": 0 })),
    ];
    (
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, junk), 1..6),
        any::<bool>(),
    )
        .prop_map(|(edits, truncate)| {
            let mut doc = crate::support::base();
            doc["traffic"][0]["policy"] = serde_json::json!({
                "retry": { "max_attempts": 3, "backoff": { "kind": "exponential", "base": "1s" } },
                "breaker": { "failure_threshold": 5 }
            });
            doc["slos"] = serde_json::json!([{ "name": "a", "success_rate": 0.99 }]);
            for (at, what, value) in edits {
                let mut paths = Vec::new();
                collect_paths(&doc, String::new(), &mut paths);
                let path = at.get(&paths).clone();
                let target = doc.pointer_mut(&path).unwrap();
                match what {
                    0 => *target = value,
                    1 => {
                        if let Some(map) = target.as_object_mut() {
                            map.insert("unknown_knob".into(), value);
                        } else {
                            *target = value;
                        }
                    }
                    _ => {
                        if let Some(map) = target.as_object_mut()
                            && let Some(key) = map.keys().next().cloned()
                        {
                            map.remove(&key);
                        }
                    }
                }
            }
            let text = doc.to_string();
            if truncate {
                text[..text.len() / 2].to_string()
            } else {
                text
            }
        })
}

fn collect_paths(v: &serde_json::Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                collect_paths(x, format!("{here}/{k}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                collect_paths(x, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The fuzz target, as a property: no text makes parsing and validation panic, and a
    /// refusal always says where.
    #[test]
    fn no_scenario_text_panics_the_parser(text in mangled_scenario()) {
        if let Err(e) = aichaos::scenario::parse("fuzz.json", &text) {
            prop_assert!(!e.problems.is_empty());
            prop_assert!(e.to_string().starts_with("error: fuzz.json"));
        }
    }

    /// Neither do `--set` strings, whatever their path and value.
    #[test]
    fn no_override_panics(path in "[a-z_\\[\\]0-9.]{0,30}", value in "[ -~]{0,20}") {
        let text = format!("{path}={value}");
        if let Ok(o) = aichaos::scenario::overrides::Override::parse(&text) {
            let mut doc = crate::support::base();
            let _ = o.apply(&mut doc);
            let _ = aichaos::scenario::parse("set.json", &doc.to_string());
        }
    }

    /// Nor do arbitrary bytes.
    #[test]
    fn no_bytes_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(aichaos::scenario::parse("bytes.json", &text).is_err());
    }
}
