//! Agreement with queueing theory and published results (VALIDATION.md reports the long
//! versions). Each case computes its own confidence interval over independent replications
//! (seeds 1..=R) and fails when theory falls outside it. CI runs the short versions; the long
//! ones, which produce VALIDATION.md's tables, are `#[ignore]`d:
//! `cargo test --release --test it validation -- --ignored --nocapture`.

use aichaos::report::Summary;
use serde_json::json;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::support::{count, scenario};

/// Mean and half-width of the two-sided confidence interval (Student t, R - 1 d.o.f.).
fn interval(samples: &[f64], confidence: f64) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .unwrap()
        .inverse_cdf(0.5 + confidence / 2.0);
    (mean, t * (variance / n).sqrt())
}

/// The check: theory inside the 99 % interval (VALIDATION.md reports the 95 % one). Returns
/// a table row: theory, simulated mean ± 95 % half-width, agreement.
#[track_caller]
fn agree(what: &str, theory: f64, samples: &[f64]) -> String {
    let (mean, half99) = interval(samples, 0.99);
    let (_, half95) = interval(samples, 0.95);
    assert!(
        (mean - theory).abs() <= half99,
        "{what}: theory {theory:.6}, simulated {mean:.6} ± {half99:.6} (99 %)"
    );
    let within95 = if (mean - theory).abs() <= half95 {
        "within 95 % CI"
    } else {
        "within 99 % CI only"
    };
    format!("| {what} | {theory:.5} | {mean:.5} ± {half95:.5} | {within95} |")
}

fn replicate(replications: u64, run: impl Fn(u64) -> Summary) -> Vec<Summary> {
    (1..=replications).map(run).collect()
}

/// Erlang B: blocking probability of c servers offered a erlangs (the stable recursion).
fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b))
}

/// Erlang C: probability that an arrival waits, c servers, a = λ/μ erlangs (a < c).
fn erlang_c(c: u32, a: f64) -> f64 {
    let b = erlang_b(c, a);
    let rho = a / f64::from(c);
    b / (1.0 - rho * (1.0 - b))
}

/// An M/M/c queue (or M/M/c/c with `queue: 0`): Poisson arrivals, exponential service with
/// mean 1/μ = 100 ms, c slots, no faults, no retries, no client timeout that matters.
fn queue_world(c: u32, rho: f64, customers: f64, queue: u32, seed: u64) -> Summary {
    let mu = 10.0;
    let lambda = rho * f64::from(c) * mu;
    let duration_s = customers / lambda;
    let mut sc = scenario(json!({
        "duration": format!("{duration_s:.3}s"),
        "warmup": format!("{:.3}s", duration_s / 10.0),
        "bucket": "1h",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": format!("{lambda}/s") },
            "request": { "output_tokens": 1 },
            "policy": { "timeout": { "total": "100h" }, "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "capacity": { "slots": c, "queue_limit": queue },
            "models": [{ "name": "m", "ttft": { "dist": "exponential", "mean": "100ms" }, "per_token": "0s" }] }]
    }));
    sc.seed = seed;
    aichaos::run::run_summary(&sc).unwrap()
}

fn mmc_rows(c: u32, rho: f64, customers: f64, replications: u64) -> Vec<String> {
    let runs = replicate(replications, |seed| {
        queue_world(c, rho, customers, 10_000_000, seed)
    });
    let (mu, a) = (10.0, rho * f64::from(c));
    let lambda = a * mu;
    let p_wait = erlang_c(c, a);
    let wq = p_wait / (f64::from(c) * mu - lambda);
    let pick = |f: &dyn Fn(&Summary) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    vec![
        agree(
            &format!("M/M/{c} ρ={rho}: P(wait > 0)"),
            p_wait,
            &pick(&|s| s.providers[0].queue_wait_probability.unwrap()),
        ),
        agree(
            &format!("M/M/{c} ρ={rho}: mean wait Wq (s)"),
            wq,
            &pick(&|s| s.providers[0].queue_wait_mean_ms.unwrap() / 1000.0),
        ),
        agree(
            &format!("M/M/{c} ρ={rho}: mean response W (s)"),
            wq + 1.0 / mu,
            &pick(&|s| s.latency_ms.as_ref().unwrap().mean / 1000.0),
        ),
    ]
}

fn erlang_b_row(c: u32, rho: f64, customers: f64, replications: u64) -> String {
    let runs = replicate(replications, |seed| queue_world(c, rho, customers, 0, seed));
    let blocked: Vec<f64> = runs
        .iter()
        .map(|s| count(s, "http_503") as f64 / s.requests.arrived as f64)
        .collect();
    agree(
        &format!("M/M/{c}/{c} a={:.1}: blocking", rho * f64::from(c)),
        erlang_b(c, rho * f64::from(c)),
        &blocked,
    )
}

#[test]
fn mm1_and_mmc_agree_with_erlang_c() {
    for (c, rho) in [(1, 0.5), (1, 0.9), (4, 0.8)] {
        mmc_rows(c, rho, 30_000.0, 20);
    }
}

#[test]
fn mmcc_blocking_agrees_with_erlang_b() {
    erlang_b_row(5, 0.8, 20_000.0, 20);
}

/// Little's law holds exactly in every run (an internal invariant of the simulator).
#[test]
fn littles_law_holds_in_a_busy_run() {
    let s = queue_world(3, 0.95, 20_000.0, 20, 1);
    let l = &s.littles_law;
    assert!(l.holds);
    let lambda_w = l.arrival_rate_per_s * l.mean_time_in_system_s;
    assert!(
        (l.requests_in_system_avg - lambda_w).abs() < 1e-6 * lambda_w.max(1.0),
        "{l:?}"
    );
}

/// Under overload, the RPM bucket passes exactly its rate (plus its initial burst), and
/// TPM binds first when requests are large.
fn bucket_rows(minutes: f64) -> Vec<String> {
    let duration_s = minutes * 60.0;
    let run = |limits: serde_json::Value, rate: &str| {
        scenario(json!({
            "duration": format!("{duration_s}s"),
            "bucket": "1h",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": rate }, "policy": { "retry": { "max_attempts": 1 } } }],
            "providers": [{ "name": "p", "rate_limits": limits }]
        }))
    };
    // 600 RPM = 10/s offered 30/s. Each request reserves 100 + 100 tokens: 60,000 TPM = 5/s.
    let rpm = aichaos::run::run_summary(&run(json!({ "rpm": 600 }), "30/s")).unwrap();
    let tpm = aichaos::run::run_summary(&run(json!({ "rpm": 600, "tpm": 60000 }), "30/s")).unwrap();
    let rate = |s: &Summary, burst: f64| {
        (s.providers[0].attempts_accepted as f64 - burst) / s.simulated_duration_s
    };
    let (rpm_rate, tpm_rate) = (rate(&rpm, 600.0), rate(&tpm, 300.0));
    assert!(
        (rpm_rate - 10.0).abs() < 0.02,
        "RPM bucket passed {rpm_rate}/s"
    );
    assert!(
        (tpm_rate - 5.0).abs() < 0.02,
        "TPM bucket passed {tpm_rate}/s"
    );
    let mut rows = vec![
        format!(
            "| 600 RPM, offered 30/s: accepted per second (after the burst) | 10 | {rpm_rate:.4} | exact within one token |"
        ),
        format!(
            "| 600 RPM + 60,000 TPM (200 tokens a request), offered 30/s | 5 | {tpm_rate:.4} | TPM binds, exact within one token |"
        ),
    ];
    // How the providers count (issue 12), each offered 30/s against a rate of 10/s. The
    // initial burst is what the bucket holds over what a request finally spends from it.
    let cases = [
        (
            "600 RPM quantized to one second (`burst: 1s`, OpenAI)",
            json!({ "rpm": 600, "burst": "1s" }),
            10.0,
        ),
        (
            "60,000 TPM counting the larger of input (100) and max_tokens (100), OpenAI's reservation",
            json!({ "tpm": 60000, "tpm_counts": "larger_of_input_and_max_tokens" }),
            600.0,
        ),
        (
            "60,000 ITPM (100 input tokens a request, Anthropic)",
            json!({ "itpm": 60000 }),
            600.0,
        ),
        (
            "30,000 OTPM, 100 reserved and 50 written a request: the rest given back (Anthropic)",
            json!({ "otpm": 30000 }),
            600.0,
        ),
    ];
    for (what, limits, burst) in cases {
        let s = aichaos::run::run_summary(&run(limits, "30/s")).unwrap();
        let passed = rate(&s, burst);
        assert!((passed - 10.0).abs() < 0.02, "{what}: passed {passed}/s");
        rows.push(format!(
            "| {what}, offered 30/s | 10 | {passed:.4} | exact within one token |"
        ));
    }
    rows
}

#[test]
fn token_buckets_pass_their_rate_under_overload() {
    bucket_rows(30.0);
}

/// Retry amplification with a fixed failure probability p and k retries:
/// (1 - p^(k+1)) / (1 - p) attempts per request.
fn amplification_row(p: f64, retries: u32, minutes: f64, replications: u64) -> String {
    let runs = replicate(replications, |seed| {
        let mut sc = scenario(json!({
            "duration": format!("{minutes}m"),
            "bucket": "1h",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "20/s" },
                "policy": { "retry": { "max_attempts": retries + 1, "backoff": { "kind": "constant", "base": "0s" } } } }],
            "providers": [{ "name": "p", "errors": { "500": p }, "error_latency": "0s" }]
        }));
        sc.seed = seed;
        aichaos::run::run_summary(&sc).unwrap()
    });
    let theory = (1.0 - p.powi(retries as i32 + 1)) / (1.0 - p);
    agree(
        &format!("p={p}, k={retries}: attempts per request"),
        theory,
        &runs.iter().map(|s| s.amplification).collect::<Vec<_>>(),
    )
}

#[test]
fn retry_amplification_follows_the_geometric_sum() {
    amplification_row(0.3, 3, 10.0, 8);
    amplification_row(0.6, 2, 10.0, 8);
}

/// Brooker's contention experiment: N clients arrive at once at a resource that serves one
/// at a time and refuses the rest (one slot, no queue); losers back off and retry.
/// Returns (total attempts, time until the last client is done in seconds).
fn contention(clients: u32, jitter: &str) -> (u64, f64) {
    let s = aichaos::run::run_summary(&scenario(json!({
        "duration": null,
        "bucket": "1h",
        "traffic": [{ "name": "app", "max_requests": clients,
            "arrivals": { "rate": null, "type": "closed_loop", "users": clients, "think_time": "0s" },
            "policy": { "timeout": { "total": "1h" }, "retry": { "max_attempts": 100,
                "backoff": { "kind": "exponential", "base": "10ms", "multiplier": 2, "cap": "5s", "jitter": jitter } } } }],
        "providers": [{ "name": "p", "capacity": { "slots": 1, "queue_limit": 0 },
            "models": [{ "name": "m", "ttft": "10ms", "per_token": "0s" }] }]
    })))
    .unwrap();
    assert_eq!(
        s.requests.succeeded,
        u64::from(clients),
        "{jitter}: every client finishes"
    );
    (s.attempts.sent, s.latency_ms.as_ref().unwrap().max / 1000.0)
}

fn contention_rows(clients: u32) -> Vec<String> {
    let jitters = ["none", "full", "equal", "decorrelated", "decorrelated_v2"];
    let results: Vec<(&str, (u64, f64))> = jitters
        .iter()
        .map(|j| (*j, contention(clients, j)))
        .collect();
    let work = |name: &str| results.iter().find(|(j, _)| *j == name).unwrap().1.0;
    assert!(
        work("full") < work("none"),
        "full jitter must do less work than none: {results:?}"
    );
    assert!(
        work("equal") < work("none")
            && work("decorrelated") < work("none")
            && work("decorrelated_v2") < work("none"),
        "{results:?}"
    );
    results
        .iter()
        .map(|(jitter, (attempts, seconds))| {
            format!("| {clients} clients, jitter {jitter} | {attempts} | {seconds:.2} |")
        })
        .collect()
}

#[test]
fn full_jitter_does_less_work_than_no_jitter() {
    contention_rows(50);
}

/// Outage with the seed's breaker: it opens at the arrival of the N-th failure. Checked
/// exactly against the arrival stream regenerated from the same seed, and the mean detection
/// delay against N/λ. Service is instantaneous so that no call is in progress when the
/// outage starts (one would fail at that instant and count among the N).
fn detection_rows(replications: u64) -> Vec<String> {
    let (threshold, lambda, outage_s) = (5u32, 2.0, 600.0);
    let mut delays = Vec::new();
    for seed in 1..=replications {
        let mut sc = scenario(json!({
            "duration": "15m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": format!("{lambda}/s") },
                "policy": { "retry": { "max_attempts": 1 }, "breaker": { "failure_threshold": threshold, "open_duration": "1h" } } }],
            "providers": [{ "name": "p", "models": [{ "name": "m", "ttft": "0s", "per_token": "0s" }],
                "outages": [{ "start": format!("{outage_s}s"), "duration": "1h", "behaviour": "refuse" }] }]
        }));
        sc.seed = seed;
        let s = aichaos::run::run_summary(&sc).unwrap();
        let opened_s = s.breaker.breakers[0]
            .first_open_s
            .expect("the breaker opens");
        // The same arrivals, regenerated: the N-th at or after the outage's start.
        let aichaos::traffic::ArrivalModel::Poisson(profile) = &sc.groups[0].arrivals else {
            unreachable!()
        };
        let mut process =
            aichaos::traffic::ArrivalProcess::new(aichaos::rng::named_stream(seed, "traffic/app"));
        let mut t = 0;
        let mut failures = 0;
        let nth = loop {
            t = process.next(profile, t).unwrap();
            if t >= (outage_s * 1e9) as u64 {
                failures += 1;
                if failures == threshold {
                    break t;
                }
            }
        };
        assert!(
            (opened_s - nth as f64 / 1e9).abs() < 1e-6,
            "seed {seed}: opened at {opened_s}, N-th failure at {nth}"
        );
        delays.push(opened_s - outage_s);
    }
    vec![agree(
        &format!("threshold {threshold}, λ={lambda}/s: mean time to detect (s) = N/λ"),
        f64::from(threshold) / lambda,
        &delays,
    )]
}

#[test]
fn breaker_detects_an_outage_at_the_nth_failure() {
    detection_rows(40);
}

/// The long versions, printing VALIDATION.md's tables.
#[test]
#[ignore]
fn validation_tables() {
    println!(
        "\n### 1. M/M/1 and M/M/c against Erlang C\n\n| quantity | theory | simulated (mean ± 95 % CI, 10 replications) | agreement |\n|---|---|---|---|"
    );
    for (c, rho) in [
        (1, 0.3),
        (1, 0.5),
        (1, 0.7),
        (1, 0.9),
        (2, 0.5),
        (2, 0.9),
        (4, 0.5),
        (4, 0.8),
        (10, 0.7),
        (10, 0.9),
    ] {
        for row in mmc_rows(c, rho, 400_000.0, 10) {
            println!("{row}");
        }
    }
    println!("\n| seeds | simulated Wq (s), mean ± 95 % CI |\n|---|---|");
    for first in [1u64, 11, 21, 31] {
        let waits = seed_set_waits(first, 400_000.0);
        let (mean, half95) = interval(&waits, 0.95);
        println!("| {first}..{} | {mean:.5} ± {half95:.5} |", first + 9);
    }
    println!(
        "\n### 2. M/M/c/c against Erlang B\n\n| quantity | theory | simulated (mean ± 95 % CI, 10 replications) | agreement |\n|---|---|---|---|"
    );
    for (c, rho) in [(1, 0.5), (5, 0.8), (10, 0.9), (20, 1.2)] {
        println!("{}", erlang_b_row(c, rho, 200_000.0, 10));
    }
    println!(
        "\n### 4. Token buckets\n\n| case | theory (/s) | simulated (/s) | agreement |\n|---|---|---|---|"
    );
    for row in bucket_rows(240.0) {
        println!("{row}");
    }
    println!(
        "\n### 5. Retry amplification\n\n| case | theory | simulated (mean ± 95 % CI, 10 replications) | agreement |\n|---|---|---|---|"
    );
    for (p, k) in [(0.1, 2), (0.3, 3), (0.5, 4), (0.6, 2), (0.9, 5)] {
        println!("{}", amplification_row(p, k, 60.0, 10));
    }
    println!(
        "\n### 6. Contention (Brooker)\n\n| case | attempts (work) | time until all done (s) |\n|---|---|---|"
    );
    for clients in [10, 50, 100] {
        for row in contention_rows(clients) {
            println!("{row}");
        }
    }
    println!(
        "\n### 7. Time to detect an outage\n\n| case | theory | simulated (mean ± 95 % CI, 200 replications) | agreement |\n|---|---|---|---|"
    );
    for row in detection_rows(200) {
        println!("{row}");
    }
    println!(
        "\n### 8. A breaker that stops retries only (Brooker)\n\n| failure rate | no retries | 3 retries | retry breaker, shared | per client, 10 clients | 100 clients | 1,000 clients |\n|---|---|---|---|---|---|---|"
    );
    for p in [0.01, 0.02, 0.05, 0.1, 0.2] {
        println!("{}", retry_breaker_row(p, 10));
    }
    println!(
        "\n| no retries | breaker refusing every call | breaker stopping retries only |\n|---|---|---|"
    );
    println!("{}", ten_percent_row(60, 10));
}

/// The M/M/1 mean wait in seconds (rho 0.7, 10 services a second) for each of the ten
/// seeds from `first`, each run serving about `customers`.
fn seed_set_waits(first: u64, customers: f64) -> Vec<f64> {
    (first..first + 10)
        .map(|seed| {
            queue_world(1, 0.7, customers, 10_000_000, seed).providers[0]
                .queue_wait_mean_ms
                .unwrap()
                / 1000.0
        })
        .collect()
}

/// Different sets of seeds agree with theory: the M/M/1 mean wait of each of four disjoint
/// seed sets lies within its own 99 % interval of Erlang C's (a seed scheme that biased
/// the draws would show here first).
#[test]
fn seed_sets_do_not_bias_the_mean_wait() {
    let theory = 0.7 / (10.0 * (1.0 - 0.7)); // Wq = rho / (mu - lambda), mu = 10/s
    for first in [1u64, 11, 21, 31] {
        let waits = seed_set_waits(first, 40_000.0);
        agree(&format!("Wq, seeds {first}..{}", first + 9), theory, &waits);
    }
}

/// Brooker, "Fixing retries with token buckets and circuit breakers" (2022), whose
/// simulation is mbrooker/simulator_example `retry_sim/`: 1,000 calls a second for 10 s,
/// split among `clients` independent clients (random assignment: each sees its own Poisson
/// arrivals), a service that fails each call with probability `p`, and up to 3 retries sent
/// at once. `policy`: "none" (no retries), "three" (3 retries), "retries" (3 retries behind a
/// retry breaker: 10 %, judged from the first answer over the whole run, one per client, or
/// with `clients == 0` one shared by all). Returns (success rate, attempts per call).
fn brooker_world(p: f64, policy: &str, clients: u32, seed: u64) -> (f64, f64) {
    let breaker = |applies_to: &str| {
        let mut b = json!({ "kind": "time_window", "window": "20s", "minimum_calls": 1,
            "failure_rate_threshold": 0.1, "count_as_failure": ["5xx"], "applies_to": applies_to });
        if clients > 0 {
            b["scope"] = json!("per_instance");
            b["instances"] = json!(clients);
            b["assignment"] = json!("random");
        }
        b
    };
    let (attempts, breaker) = match policy {
        "none" => (1, serde_json::Value::Null),
        "three" => (4, serde_json::Value::Null),
        "retries" => (4, breaker(policy)),
        _ => unreachable!(),
    };
    let mut sc = scenario(json!({
        "duration": "10s",
        "bucket": "1h",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1000/s" },
            "policy": { "retry": { "max_attempts": attempts, "backoff": { "kind": "constant", "base": "0s" } },
                        "breaker": breaker } }],
        "providers": [{ "name": "p", "errors": { "500": p }, "error_latency": "20ms",
            "models": [{ "name": "m", "ttft": "20ms", "per_token": "0s" }] }]
    }));
    sc.seed = seed;
    let s = aichaos::run::run_summary(&sc).unwrap();
    (s.success_rate, s.amplification)
}

/// Means over seeds 1..=R of `brooker_world`.
fn brooker_mean(p: f64, policy: &str, clients: u32, replications: u64) -> (f64, f64) {
    let runs: Vec<(f64, f64)> = (1..=replications)
        .map(|seed| brooker_world(p, policy, clients, seed))
        .collect();
    let n = runs.len() as f64;
    (
        runs.iter().map(|r| r.0).sum::<f64>() / n,
        runs.iter().map(|r| r.1).sum::<f64>() / n,
    )
}

/// One row of the retry-breaker table, with Brooker's findings as assertions: below the
/// threshold, a shared retry breaker behaves like 3 retries; one per client of 1,000 small
/// clients (about 10 calls each) trips on their first failure and collapses to no retries;
/// the fewer and larger the clients, the closer to 3 retries.
fn retry_breaker_row(p: f64, replications: u64) -> String {
    let none = brooker_mean(p, "none", 0, replications);
    let three = brooker_mean(p, "three", 0, replications);
    let breakers: Vec<(u32, (f64, f64))> = [0, 10, 100, 1000]
        .into_iter()
        .map(|clients| (clients, brooker_mean(p, "retries", clients, replications)))
        .collect();
    let ok = |clients: u32| breakers.iter().find(|b| b.0 == clients).unwrap().1;
    if p <= 0.05 {
        let gain = three.0 - none.0;
        assert!(
            ok(0).0 >= three.0 - 0.001,
            "p={p}: shared {:?} vs 3 retries {three:?}",
            ok(0)
        );
        assert!(
            ok(1000).0 - none.0 <= 0.25 * gain && ok(1000).1 < 1.01,
            "p={p}: 1,000 clients {:?} vs none {none:?}, 3 retries {three:?}",
            ok(1000)
        );
        assert!(
            ok(10).0 >= ok(100).0 && ok(100).0 >= ok(1000).0,
            "p={p}: {breakers:?}"
        );
    }
    let cell = |(ok, load): (f64, f64)| format!("{:.2} % / {load:.3}", ok * 100.0);
    let mut row = format!("| {:.0} % | {} | {} |", p * 100.0, cell(none), cell(three));
    for (_, b) in &breakers {
        row.push_str(&format!(" {} |", cell(*b)));
    }
    row
}

#[test]
fn a_retry_breaker_per_small_client_collapses_to_no_retries() {
    retry_breaker_row(0.05, 3);
}

/// At a 10 % failure rate: no retries, 3 retries behind Polly v8's breaker rule (10 % over
/// 30 s, at least 100 calls, open 5 s) refusing every call, and the same rule stopping
/// retries only. Returns the three success rates, means over seeds 1..=R.
fn ten_percent_row(minutes: u64, replications: u64) -> String {
    let world = |policy: &str, seed: u64| {
        let mut b = json!({ "kind": "time_window", "sampling": "polly", "window": "30s",
            "minimum_calls": 100, "failure_rate_threshold": 0.1, "applies_to": policy });
        if policy == "all" {
            b["open_duration"] = json!("5s");
        }
        let policy = match policy {
            "none" => json!({ "retry": { "max_attempts": 1 } }),
            _ => {
                json!({ "retry": { "max_attempts": 4, "backoff": { "kind": "constant", "base": "100ms" } }, "breaker": b })
            }
        };
        let mut sc = scenario(json!({
            "duration": format!("{minutes}m"),
            "bucket": "1h",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "20/s" }, "policy": policy }],
            "providers": [{ "name": "p", "errors": { "500": 0.1 }, "error_latency": "20ms" }]
        }));
        sc.seed = seed;
        aichaos::run::run_summary(&sc).unwrap()
    };
    let mean = |policy: &str| {
        let runs: Vec<Summary> = (1..=replications).map(|seed| world(policy, seed)).collect();
        let n = runs.len() as f64;
        (
            runs.iter().map(|s| s.success_rate).sum::<f64>() / n,
            runs.iter().map(|s| s.amplification).sum::<f64>() / n,
        )
    };
    let (none, all, retries) = (mean("none"), mean("all"), mean("retries"));
    assert!(
        all.0 < none.0 && none.0 <= retries.0,
        "{none:?} {all:?} {retries:?}"
    );
    let cell = |(ok, load): (f64, f64)| format!("{:.2} % / {load:.3}", ok * 100.0);
    format!("| {} | {} | {} |", cell(none), cell(all), cell(retries))
}
