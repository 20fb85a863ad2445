//! The core promise: same scenario + same seed = byte-identical outputs.

use crate::support::{deterministic_json, run, scenario};
use serde_json::json;

fn busy_world() -> serde_json::Value {
    json!({
        "duration": "15m",
        "bucket": "10s",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "30/s", "spikes": [{ "start": "5m", "duration": "1m", "multiplier": 3 }] },
            "request": { "input_tokens": { "dist": "lognormal", "median": 300, "p99": 3000 }, "output_tokens": { "dist": "gamma", "shape": 2, "mean": 60 }, "max_tokens": 400 },
            "policy": { "timeout": { "total": "3s" }, "retry": { "backoff": { "jitter": "decorrelated", "base": "200ms" } }, "breaker": {} } }],
        "providers": [{ "name": "p", "capacity": { "slots": 40 }, "rate_limits": { "rpm": 2000, "tpm": 900000 },
            "errors": { "500": 0.01, "hang": 0.002 }, "random_outages": { "mtbf": "4m", "mttr": "20s", "kind": "brownout", "error_rate": 0.2, "latency_multiplier": 2 } }],
        "chaos": { "failure_rate": 0.02, "timeout_after": "1s" }
    })
}

fn outputs(seed: u64) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let mut sc = scenario(busy_world());
    sc.seed = seed;
    let summary = aichaos::run::run_to_dir(&sc, dir.path(), false).unwrap();
    let csv = std::fs::read(dir.path().join("timeseries.csv")).unwrap();
    (deterministic_json(&summary), csv)
}

#[test]
fn same_seed_gives_identical_bytes() {
    let (summary_a, csv_a) = outputs(5);
    let (summary_b, csv_b) = outputs(5);
    assert_eq!(summary_a, summary_b);
    assert_eq!(csv_a, csv_b);
    assert!(csv_a.len() > 10_000);
}

#[test]
fn another_seed_gives_another_run() {
    let (summary_a, csv_a) = outputs(5);
    let (summary_b, csv_b) = outputs(6);
    assert_ne!(summary_a, summary_b);
    assert_ne!(csv_a, csv_b);
}

#[test]
fn a_policy_change_does_not_move_the_traffic() {
    let a = run(
        json!({ "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 1 } } }], "providers": [{ "name": "p", "errors": { "500": 0.3 } }] }),
    );
    let b = run(
        json!({ "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 5 }, "breaker": {} } }], "providers": [{ "name": "p", "errors": { "500": 0.3 } }] }),
    );
    assert_eq!(a.requests.arrived, b.requests.arrived);
    assert_ne!(a.attempts.sent, b.attempts.sent);
}

/// Golden digest of a shipped model's outputs for a fixed seed. It changes only when the
/// model's semantics change on purpose: then update it in the same commit and say why.
#[test]
fn shipped_seed_experiment_matches_its_golden_summary() {
    let experiment = aichaos::scenario::load_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/seed-experiment.json"
    ))
    .unwrap();
    let lines: Vec<String> = experiment
        .scenarios
        .iter()
        .map(|sc| {
            let s = aichaos::run::run_summary(sc).unwrap();
            format!(
                "{} {} {} {} {}",
                sc.name, s.requests.succeeded, s.requests.failed, s.attempts.sent, s.cost_usd
            )
        })
        .collect();
    // Seed 2800 on gpt-4o (issue #15): the README's first example trips the breaker. Moved
    // on purpose by issue 16's re-baseline of the draws (packed request draws, ziggurat
    // arrival gaps): every seed meets other requests and faults; 2800 still trips it.
    let golden = [
        "Normal Load 10 0 13 0.022318",
        "High Load 48 2 53 0.073253",
        "Token Exhaustion Sim 19 1 27 0.012839",
    ];
    assert_eq!(lines, golden);
}

/// An attempt answered before its timeout could fire never schedules that timeout: two
/// events per request (arrival, answer) where the timeout would make three, and the same
/// outcome. A hang keeps its timer: it is the only way the attempt ends.
#[test]
fn timeouts_that_cannot_fire_are_never_scheduled() {
    use serde_json::json;
    let answered = crate::support::run(json!({
        "duration": "1m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" },
                      "policy": { "timeout": { "total": "10s" } } }]
    }));
    let arrived = answered.requests.arrived;
    assert!(arrived > 500, "{arrived}");
    assert_eq!(answered.requests.succeeded, arrived);
    assert_eq!(answered.events_processed, 2 * arrived);
    let hanging = crate::support::run(json!({
        "duration": "1m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "10/s" },
                      "policy": { "timeout": { "total": "10s" }, "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "errors": { "hang": 1.0 } }]
    }));
    assert_eq!(hanging.requests.arrived, arrived);
    assert_eq!(crate::support::count(&hanging, "timeout"), arrived);
    // Arrival, the timeout, and the hung job's end (its slot is held until then).
    assert_eq!(hanging.events_processed, 3 * arrived);
}

/// Every shipped model loads, and every one of its runs conserves requests and satisfies
/// Little's law exactly (the soak model shortened to one hour).
#[test]
fn shipped_models_conserve_requests_and_satisfy_littles_law() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for file in files {
        let experiment = aichaos::scenario::load_file(file.to_str().unwrap()).unwrap();
        for mut sc in experiment.scenarios {
            if let Some(d) = sc.duration_ns {
                sc.duration_ns = Some(d.min(aichaos::time::NS_PER_H));
            }
            let s = aichaos::run::run_summary(&sc).unwrap();
            assert_eq!(
                s.requests.unfinished, 0,
                "{}: the drain limit must let every request end",
                sc.name
            );
            assert_eq!(
                s.requests.arrived,
                s.requests.succeeded + s.requests.failed,
                "{}",
                sc.name
            );
            assert!(s.littles_law.holds, "{}: {:?}", sc.name, s.littles_law);
            crate::support::check_credits_conserved(&sc, &s).unwrap();
        }
    }
}

/// Golden digests of shipped models' complete outputs (summary.json without its wall-clock
/// and versions objects and its `events_processed`, and timeseries.csv), byte for byte.
/// `events_processed` counts the engine's work, not the world's: a speed change that
/// schedules fewer events (timeouts that cannot fire) must leave every other byte as it
/// was, and these digests say so. They change only when the model's semantics
/// change on purpose: then update them in the same commit and say why (last: issue 16's
/// deliberate re-baseline of the random draws moved every digest: request r's first 16
/// words now come from a keystream block shared by four consecutive requests, and Poisson
/// gaps from a ziggurat instead of inversion, so every seed draws other numbers; before it,
/// leaving `events_processed` out of the digest moved every digest once). A change in a
/// platform's floating-point functions would show here too.
#[test]
fn shipped_models_match_their_golden_output_digests() {
    use sha2::{Digest, Sha256};
    let mut lines = Vec::new();
    for model in ["rate-limit-429", "credit-exhaustion", "outage-retry-storm"] {
        let file = format!("{}/models/{model}.json", env!("CARGO_MANIFEST_DIR"));
        let experiment = aichaos::scenario::load_file(&file).unwrap();
        for sc in &experiment.scenarios {
            let dir = tempfile::tempdir().unwrap();
            aichaos::run::run_to_dir(sc, dir.path(), false).unwrap();
            let mut summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.path().join("summary.json")).unwrap(),
            )
            .unwrap();
            // Behaviour, not build metadata: a `cargo update` must not move a golden.
            let summary_object = summary.as_object_mut().unwrap();
            summary_object.remove("wall_clock");
            summary_object.remove("versions");
            summary_object.remove("events_processed");
            let mut hash = Sha256::new();
            hash.update(summary.to_string());
            hash.update(std::fs::read(dir.path().join("timeseries.csv")).unwrap());
            let digest: String = hash.finalize()[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            lines.push(format!("{model} / {}: {digest}", sc.name));
        }
    }
    let golden = [
        "rate-limit-429 / Retry-After honoured: d735e42f00a2bbca",
        "rate-limit-429 / Retry-After ignored: af6a8fac75bb583b",
        "credit-exhaustion / credit-exhaustion: aea13dc35d695bfc",
        "outage-retry-storm / naive retries: 17dbfc9311210aa1",
        "outage-retry-storm / backoff, jitter and breaker: bc6fd4815e6fa257",
    ];
    assert_eq!(lines, golden);
}
