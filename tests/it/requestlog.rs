//! `--request-log`: one record per attempt sent, in the order they were sent, with the
//! outcome's status, latency, time to first token and tokens; CSV and JSON lines alike.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{aichaos, scenario};

/// A world with 5 % of 500s, retries and constant latencies (200 ms to the first token,
/// 10 ms per token, 50 tokens): every success takes exactly 700 ms.
fn world() -> aichaos::scenario::Scenario {
    scenario(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 3 } } }],
        "providers": [{ "name": "p", "errors": { "500": 0.05 } }]
    }))
}

fn run_logged(dir: &Path, name: &str) -> aichaos::report::Summary {
    let s = world();
    aichaos::run::run_to_dir_logged(
        &s,
        &dir.join("out"),
        false,
        &|_, _| {},
        Some(&dir.join(name)),
    )
    .expect("run completes")
}

#[test]
fn one_record_per_attempt_in_the_order_they_were_sent() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run_logged(dir.path(), "log.jsonl");
    let text = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len() as u64, summary.attempts.sent);
    let sent: Vec<u64> = records
        .iter()
        .map(|r| r["t_ns"].as_u64().unwrap())
        .collect();
    assert!(sent.windows(2).all(|w| w[0] <= w[1]), "not in send order");
    let (mut ok, mut errors, mut retries) = (0, 0, 0);
    for r in &records {
        match r["outcome"].as_str().unwrap() {
            "ok" => {
                ok += 1;
                assert_eq!(r["status"], 200);
                assert_eq!(r["latency_ns"], 700_000_000u64);
                assert_eq!(r["ttft_ns"], 200_000_000u64);
                assert_eq!(r["output_tokens"], 50);
            }
            "http_500" => {
                errors += 1;
                assert_eq!(r["status"], 500);
                assert!(r.get("ttft_ns").is_none());
                assert_eq!(r["output_tokens"], 0);
            }
            other => panic!("unexpected outcome {other}"),
        }
        assert_eq!(
            (r["group"].as_str(), r["provider"].as_str()),
            (Some("app"), Some("p"))
        );
        assert_eq!(r["input_tokens"], 100);
        let kind = r["kind"].as_str().unwrap();
        assert_eq!(kind == "retry", r["attempt"].as_u64().unwrap() > 0, "{r}");
        retries += u64::from(kind == "retry");
    }
    assert_eq!(ok, summary.requests.succeeded);
    assert_eq!(errors, summary.attempts.server_errors);
    assert_eq!(retries, summary.attempts.retries);
    assert!(errors > 0 && retries > 0);
}

#[test]
fn csv_holds_the_same_records_and_a_run_logs_the_same_bytes_twice() {
    let dir = tempfile::tempdir().unwrap();
    run_logged(dir.path(), "a.jsonl");
    run_logged(dir.path(), "b.jsonl");
    run_logged(dir.path(), "c.csv");
    let a = std::fs::read(dir.path().join("a.jsonl")).unwrap();
    assert_eq!(a, std::fs::read(dir.path().join("b.jsonl")).unwrap());
    let mut csv = csv::Reader::from_path(dir.path().join("c.csv")).unwrap();
    let headers = csv.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        aichaos::requestlog::COLUMNS
    );
    let lines: Vec<Value> = String::from_utf8(a)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), lines.len());
    for (row, line) in rows.iter().zip(&lines) {
        for (name, field) in headers.iter().zip(row) {
            let expected = match &line[name] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            assert_eq!(field, expected, "{name}");
        }
    }
}

#[test]
fn an_experiment_of_several_scenarios_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = aichaos(&[
        "run",
        "models/rate-limit-429.json",
        "--request-log",
        dir.path().join("log.jsonl").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--request-log") && err.contains("--scenario"),
        "{err}"
    );
    assert!(!dir.path().join("log.jsonl").exists() && !out.join("summary.json").exists());
}

/// Writes `world` (a scenario's JSON) into `dir` and loads it from there, so that a
/// replayed file's relative path is read from `dir`.
fn load_in(dir: &Path, world: Value) -> Result<aichaos::scenario::Scenario, String> {
    let mut doc = crate::support::base();
    aichaos::scenario::merge_patch(&mut doc, &world);
    // The arrivals are the patch's whole (the base's poisson rate does not belong).
    doc["traffic"][0]["arrivals"] = world["traffic"][0]["arrivals"].clone();
    let path = dir.join("replay.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    aichaos::scenario::load_file_with(path.to_str().unwrap(), &[])
        .map(|mut e| e.scenarios.remove(0))
        .map_err(|e| e.to_string())
}

fn first_attempts(path: &Path) -> Vec<u64> {
    let mut csv = csv::Reader::from_path(path).unwrap();
    csv.deserialize::<std::collections::BTreeMap<String, String>>()
        .map(|r| r.unwrap())
        .filter(|r| r["attempt"] == "0")
        .map(|r| r["t_ns"].parse().unwrap())
        .collect()
}

#[test]
fn replayed_arrivals_are_the_recorded_first_attempts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    run_logged(dir.path(), "log.csv");
    let recorded = first_attempts(&dir.path().join("log.csv"));
    let replay = |arrivals: Value| {
        let s = load_in(
            dir.path(),
            json!({ "seed": 9, "duration": "2m",
            "traffic": [{ "name": "app", "arrivals": arrivals }] }),
        )
        .unwrap();
        let log = dir.path().join("again.csv");
        let summary = aichaos::run::run_to_dir_logged(
            &s,
            &dir.path().join("o"),
            false,
            &|_, _| {},
            Some(&log),
        )
        .unwrap();
        (summary, first_attempts(&log))
    };
    let (summary, replayed) = replay(json!({ "type": "replay", "file": "log.csv" }));
    assert_eq!(replayed, recorded);
    assert_eq!(summary.requests.arrived, recorded.len() as u64);

    // Shifted a minute earlier: the first minute is skipped, the rest a minute sooner.
    let (_, shifted) = replay(json!({ "type": "replay", "file": "log.csv", "time_shift": "-1m" }));
    let minute = 60_000_000_000;
    let expected: Vec<u64> = recorded
        .iter()
        .filter(|&&t| t >= minute)
        .map(|t| t - minute)
        .collect();
    assert_eq!(shifted, expected);

    // Half the traffic: each arrival kept with probability 1/2 (binomial, 4 sigma).
    let (half, _) = replay(json!({ "type": "replay", "file": "log.csv", "rate_scale": 0.5 }));
    let n = recorded.len() as f64;
    assert!((half.requests.arrived as f64 - n / 2.0).abs() < 4.0 * (n / 4.0).sqrt());
    // Two and a half times: 2 copies each plus one more for about half.
    let (more, _) = replay(json!({ "type": "replay", "file": "log.csv", "rate_scale": 2.5 }));
    assert!((more.requests.arrived as f64 - 2.5 * n).abs() < 4.0 * (n / 4.0).sqrt());
}

#[test]
fn a_replayed_file_out_of_order_or_unreadable_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("back.csv", "t_ms,attempt\n10,0\n20,0\n5,1\n15,0\n");
    write("junk.jsonl", "{\"t_ms\":10}\n{\"t_ms\":\"soon\"}\n");
    let run = |file: &str| {
        let s = load_in(
            dir.path(),
            json!({ "traffic": [{ "name": "app",
            "arrivals": { "type": "replay", "file": file, "time_column": "t_ms" } }] }),
        )
        .unwrap();
        aichaos::run::run_to_dir(&s, &dir.path().join("o"), false)
            .map(|_| ())
            .unwrap_err()
    };
    // Line 4 is a retry (skipped); line 5 goes back in time.
    let e = run("back.csv");
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string()
            .contains("back.csv: line 5: `t_ms` goes back in time"),
        "{e}"
    );
    assert!(!dir.path().join("o/summary.json").exists());
    let e = run("junk.jsonl").to_string();
    assert!(
        e.contains("junk.jsonl: line 2: `soon` is not a number"),
        "{e}"
    );

    let e = load_in(
        dir.path(),
        json!({ "traffic": [{ "name": "app",
        "arrivals": { "type": "replay", "file": "missing.csv" } }] }),
    )
    .unwrap_err();
    assert!(
        e.contains("traffic[0].arrivals.file") && e.contains("cannot open"),
        "{e}"
    );
    let e = load_in(
        dir.path(),
        json!({ "traffic": [{ "name": "app",
        "arrivals": { "type": "replay", "file": "back.csv", "rate": "5/s", "rate_scale": -1 } }] }),
    )
    .unwrap_err();
    assert!(
        e.contains("traffic[0].arrivals.rate_scale") && e.contains("traffic[0].arrivals.rate`"),
        "{e}"
    );
}
