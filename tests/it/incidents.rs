//! SLOs and incidents, `aichaos incidents` across seeds, `aichaos replay` and its traces.

use serde_json::{Value, json};

use crate::support::{aichaos, run};

const STORM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/outage-retry-storm.json"
);

fn storm(scenario: &str, duration: &str) -> aichaos::scenario::Scenario {
    let mut s = aichaos::scenario::load_file(STORM)
        .unwrap()
        .scenarios
        .into_iter()
        .find(|s| s.name == scenario)
        .unwrap();
    s.duration_ns = Some(aichaos::time::parse_duration(duration).unwrap());
    s
}

#[test]
fn a_retry_storm_outlives_its_outage_and_a_defended_client_does_not() {
    let naive = aichaos::run::run_summary(&storm("naive retries", "45m")).unwrap();
    let incidents = &naive.objectives.as_ref().unwrap().incidents;
    let availability = incidents.iter().find(|i| i.slo == "availability").unwrap();
    assert_eq!(availability.trigger.kind, "outage");
    assert_eq!(availability.trigger.start_s, Some(1200.0));
    assert_eq!(availability.trigger.end_s, Some(1500.0));
    let m = availability.metastability.as_ref().unwrap();
    assert!(m.metastable, "{availability:?}");
    // Still in breach at the end, 20 minutes after the outage: outlived by 15 minutes at
    // least (the window is 5).
    assert!(availability.ongoing_at_end);
    assert!(m.outlived_trigger_by_s > 900.0, "{m:?}");
    assert!(availability.peak_amplification > 4.0);

    let defended = aichaos::run::run_summary(&storm("backoff, jitter and breaker", "45m")).unwrap();
    let incidents = &defended.objectives.as_ref().unwrap().incidents;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let i = &incidents[0];
    assert_eq!(i.trigger.kind, "outage");
    let m = i.metastability.as_ref().unwrap();
    assert!(!m.metastable, "{i:?}");
    // It ends within one window (plus a step) of the outage's end.
    assert!(i.end_s <= 1500.0 + 300.0 + 30.0, "{i:?}");
    assert!(!i.detected_by.is_empty(), "the page or the ticket fires");
}

#[test]
fn without_a_trigger_the_failures_name_the_cause() {
    let s = run(json!({
        "duration": "20m",
        "providers": [{ "name": "p", "rate_limits": { "rpm": 240 } }],
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "5/s" } }],
        "slos": [{ "name": "availability", "success_rate": 0.99, "window": "1m" }]
    }));
    let incidents = &s.objectives.as_ref().unwrap().incidents;
    assert!(!incidents.is_empty());
    assert!(
        incidents.iter().all(|i| i.trigger.kind == "rate_limiting"),
        "{incidents:?}"
    );
    assert!(incidents.iter().all(|i| i.metastability.is_none()));
}

#[test]
fn max_incidents_is_an_expectation() {
    let s = run(json!({
        "providers": [{ "name": "p", "outages": [{ "start": "2m", "duration": "1m", "kind": "down" }] }],
        "slos": [{ "name": "availability", "success_rate": 0.99, "window": "1m" }],
        "expect": { "max_incidents": 0 }
    }));
    let e = s
        .expectations
        .iter()
        .find(|e| e.name == "max_incidents")
        .unwrap();
    assert_eq!(e.actual, 1.0);
    assert!(!s.passed);
}

/// `aichaos incidents` over seeds 3..5 of the retry storm, 30 minutes each, as JSON.
fn search_storm(out: &std::path::Path, threads: &str) -> (i32, String, String) {
    aichaos(&[
        "incidents",
        STORM,
        "--scenario",
        "naive retries",
        "--set",
        "duration=30m",
        "--seeds",
        "3..5",
        "--top",
        "2",
        "--threads",
        threads,
        "--json",
        "--quiet",
        "--force",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn an_incident_found_across_seeds_is_found_again_by_its_run_command() {
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = search_storm(out.path(), "2");
    assert_eq!(code, 0, "{stderr}");
    let search: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(search["seeds"], 3);
    let top = &search["top"][0];
    assert!(out.path().join("incidents.csv").exists());
    // The printed command, pasted into a shell, reproduces the run and its incident.
    let command = top["run_command"].as_str().unwrap();
    let run_dir = out.path().join("run");
    let line = format!(
        "{} --out {} --no-charts --quiet",
        command.replacen("aichaos", env!("CARGO_BIN_EXE_aichaos"), 1),
        run_dir.display()
    );
    let status = std::process::Command::new("sh")
        .args(["-c", &line])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["seed"], top["seed"]);
    let again = summary["incidents"].as_array().unwrap();
    assert!(again.contains(&top["incident"]), "{:?}", top["incident"]);

    // Any thread count ranks the same incidents.
    let (_, one_thread, _) = search_storm(out.path(), "1");
    assert_eq!(one_thread, stdout);
}

/// A small world with an outage and a breaker, for traces of modest size.
fn traced_world(dir: &std::path::Path) -> String {
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(STORM).unwrap()).unwrap();
    let base = doc["base"].take();
    let mut scenario = base;
    aichaos::scenario::merge_patch(&mut scenario, &doc["scenarios"][1]);
    aichaos::scenario::merge_patch(
        &mut scenario,
        &json!({
            "name": "traced",
            "duration": "30m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "4/s" } }],
            "providers": [{ "name": "openai", "capacity": { "slots": 12 } }],
            "slos": [{ "name": "availability", "window": "1m" }]
        }),
    );
    let path = dir.join("traced.json");
    std::fs::write(&path, scenario.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_replayed_window_is_the_matching_slice_of_the_whole_runs_trace() {
    let dir = tempfile::tempdir().unwrap();
    let file = traced_world(dir.path());
    let full = dir.path().join("full.jsonl");
    let (code, _, stderr) = aichaos(&["replay", &file, "--trace", full.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let window = dir.path().join("window.jsonl");
    let (code, stdout, stderr) = aichaos(&[
        "replay",
        &file,
        "--from",
        "00:19:00",
        "--to",
        "27m30s",
        "--trace",
        window.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (from, to) = (19 * 60 * 1_000_000_000u64, 1650 * 1_000_000_000u64);
    let slice: Vec<String> = lines(&full)
        .into_iter()
        .filter(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            let t = e["t_ns"].as_u64().unwrap();
            (from..to).contains(&t)
        })
        .collect();
    let traced = lines(&window);
    assert!(traced.len() > 5_000, "{}", traced.len());
    assert_eq!(traced, slice);
    assert!(
        stdout.contains(&format!("traced {} events", traced.len())),
        "{stdout}"
    );
    // Every kind of moment the window holds is there.
    for kind in [
        "arrived",
        "attempt_sent",
        "attempt_failed",
        "succeeded",
        "retry_scheduled",
        "request_failed",
        "breaker_opened",
        "breaker_half_open",
        "breaker_closed",
        "provider_down",
        "provider_up",
        "slo_breached",
        "slo_recovered",
        "alert_fired",
    ] {
        assert!(
            traced
                .iter()
                .any(|l| l.contains(&format!("\"event\":\"{kind}\""))),
            "no {kind} in the window"
        );
    }
}

#[test]
fn a_chrome_trace_is_balanced_and_replays_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = traced_world(dir.path());
    let mut outputs = Vec::new();
    for name in ["a.json", "b.json"] {
        let path = dir.path().join(name);
        let (code, _, stderr) = aichaos(&[
            "replay",
            &file,
            "--from",
            "19m",
            "--to",
            "26m",
            "--trace",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        outputs.push(std::fs::read(path).unwrap());
    }
    assert_eq!(outputs[0], outputs[1]);
    let trace: Value = serde_json::from_slice(&outputs[0]).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    // Every async span that begins ends, inside the window.
    let mut open = std::collections::BTreeMap::<(String, String), i64>::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap();
        if ph == "b" || ph == "e" {
            let key = (e["cat"].to_string(), e["id"].to_string());
            *open.entry(key).or_default() += if ph == "b" { 1 } else { -1 };
            let ts = e["ts"].as_f64().unwrap();
            assert!((19.0 * 60e6..=26.0 * 60e6).contains(&ts), "{e}");
        }
    }
    assert!(open.values().all(|&n| n == 0));
    let names: Vec<&str> = events.iter().filter_map(|e| e["name"].as_str()).collect();
    for expected in ["open", "half_open", "down", "breach", "firing"] {
        assert!(names.contains(&expected), "no {expected} span");
    }
}

#[test]
fn narration_tells_the_outage_in_order() {
    let (code, stdout, stderr) = aichaos(&[
        "replay",
        STORM,
        "--scenario",
        "backoff, jitter and breaker",
        "--from",
        "19m",
        "--to",
        "31m",
        "--narrate",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let position = |text: &str| {
        stdout
            .find(text)
            .unwrap_or_else(|| panic!("no `{text}` in:\n{stdout}"))
    };
    let order = [
        "00:20:00.000  openai goes down",
        "breaker app -> openai/gpt-4o opens for 30s (trips on 5 consecutive failures)",
        "SLO availability breached: incident starts",
        "reopens: a probe failed",
        "00:25:00.000  openai recovers",
        "breaker app -> openai/gpt-4o closes",
        "SLO availability met again: incident ends",
        "in the window:",
    ];
    let positions: Vec<usize> = order.iter().map(|t| position(t)).collect();
    assert!(positions.is_sorted(), "{stdout}");
}

#[test]
fn bad_windows_seeds_and_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    let trace = trace.to_str().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (
            &[
                "replay",
                STORM,
                "--scenario",
                "naive retries",
                "--from",
                "3h",
                "--trace",
                trace,
            ],
            "the run ends by 02:00:00.000",
        ),
        (
            &[
                "replay",
                STORM,
                "--scenario",
                "naive retries",
                "--from",
                "20m",
                "--to",
                "10m",
                "--trace",
                trace,
            ],
            "must be before --to",
        ),
        (
            &[
                "replay",
                STORM,
                "--scenario",
                "naive retries",
                "--from",
                "00:61:00",
                "--trace",
                trace,
            ],
            "is not a time",
        ),
        (
            &[
                "replay",
                STORM,
                "--scenario",
                "naive retries",
                "--trace",
                "/nonexistent/dir/t.json",
            ],
            "`--trace`: /nonexistent/dir: the directory does not exist",
        ),
        (
            &["replay", STORM, "--scenario", "naive retries"],
            "give --trace FILE, --narrate, or both",
        ),
        (
            &[
                "replay",
                STORM,
                "--scenario",
                "backoff, jitter and breaker",
                "--set",
                "duration=2m",
                "--from",
                "30m",
                "--trace",
                trace,
            ],
            "before the window begins",
        ),
        (
            &[
                "incidents",
                STORM,
                "--scenario",
                "naive retries",
                "--seeds",
                "1..200000",
            ],
            "at most 100000 per search",
        ),
        (
            &[
                "incidents",
                STORM,
                "--scenario",
                "naive retries",
                "--slo",
                "availabilty",
            ],
            "no SLO named `availabilty`",
        ),
    ];
    for (args, message) in cases {
        let (code, _, stderr) = aichaos(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(!std::path::Path::new(trace).exists());
}

#[test]
fn incidents_need_slos() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    std::fs::write(&path, crate::support::base().to_string()).unwrap();
    let (code, _, stderr) = aichaos(&["incidents", path.to_str().unwrap(), "--seeds", "1..2"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("declares no SLO"), "{stderr}");
}

#[test]
fn slo_mistakes_are_reported_with_their_paths() {
    let mut doc = crate::support::base();
    aichaos::scenario::merge_patch(
        &mut doc,
        &json!({ "slos": [
            { "name": "a", "success_rate": 1.5 },
            { "name": "b", "success_rate": 0.99, "latency": { "percentile": 99, "threshold": "1s" } },
            { "name": "c", "success_rate": 0.99, "window": "95s", "step": "10s" },
            { "name": "d", "latency": { "percentile": 100, "threshold": "0" }, "group": "ap" },
            { "name": "e", "success_rate": 0.99, "burn_rate_alerts": [
                { "name": "page", "long_window": "5m", "short_window": "1h", "burn_rate": 200 }
            ] },
            { "name": "e", "success_rate": 0.9 },
            { "name": "f", "success_rate": 0.9, "burn_rate_alerts": [
                { "name": "zero", "long_window": "0s", "short_window": "0s", "burn_rate": 2 }
            ] }
        ] }),
    );
    let err = aichaos::scenario::parse("s.json", &doc.to_string()).unwrap_err();
    let problems: Vec<(String, String)> = err
        .problems
        .iter()
        .map(|p| (p.path.clone(), p.reason.clone()))
        .collect();
    let has = |path: &str, words: &str| {
        assert!(
            problems.iter().any(|(p, r)| p == path && r.contains(words)),
            "no `{path}`: {words} in {problems:#?}"
        );
    };
    has("slos[0].success_rate", "strictly between 0 and 1");
    has("slos[1]", "exactly one of `success_rate`");
    has("slos[2].window", "not a whole number of steps of 10s");
    has("slos[3].latency.percentile", "strictly between 0 and 100");
    has("slos[3].latency.threshold", "longer than zero");
    has("slos[3].group", "did you mean `app`?");
    has(
        "slos[4].burn_rate_alerts[0].short_window",
        "not be longer than `long_window`",
    );
    has("slos[4].burn_rate_alerts[0].burn_rate", "out of range");
    has("slos[5].name", "used twice");
    has(
        "slos[6].burn_rate_alerts[0].short_window",
        "longer than zero",
    );
    has(
        "slos[6].burn_rate_alerts[0].long_window",
        "longer than zero",
    );
}

#[test]
fn hedged_copies_keep_their_own_attempt_numbers_in_traces() {
    let dir = tempfile::tempdir().unwrap();
    let mut world = crate::support::base();
    aichaos::scenario::merge_patch(
        &mut world,
        &json!({
            "duration": "2m",
            "providers": [{ "name": "p", "models": [{ "name": "m", "ttft": { "dist": "lognormal", "median": "400ms", "p99": "3s" } }] }],
            "traffic": [{ "name": "app", "policy": {
                "timeout": { "total": "1s" },
                "retry": { "max_attempts": 3 },
                "hedging": { "delay": "300ms", "max_hedged_attempts": 1 }
            } }]
        }),
    );
    let file = dir.path().join("hedged.json");
    std::fs::write(&file, world.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let jsonl = dir.path().join("t.jsonl");
    let chrome = dir.path().join("t.json");
    for trace in [&jsonl, &chrome] {
        let (code, _, stderr) = aichaos(&["replay", file, "--trace", trace.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
    }
    // Every attempt ends once: no attempt number ends twice in one request.
    let mut ended = std::collections::BTreeSet::new();
    let mut hedged = 0;
    for line in lines(&jsonl) {
        let e: Value = serde_json::from_str(&line).unwrap();
        match e["event"].as_str().unwrap() {
            "attempt_failed" | "succeeded" => {
                let key = (
                    e["request"].as_u64().unwrap(),
                    e["attempt"].as_u64().unwrap(),
                );
                assert!(ended.insert(key), "attempt ends twice: {line}");
            }
            "attempt_sent" if e["attempt"].as_u64().unwrap() > 1 => hedged += 1,
            _ => {}
        }
    }
    assert!(hedged > 50, "{hedged}");
    // Async spans of one id nest: sorted by time, no end before its begin, none left open.
    let trace: Value = serde_json::from_slice(&std::fs::read(&chrome).unwrap()).unwrap();
    let mut by_id = std::collections::BTreeMap::<String, Vec<(f64, i32)>>::new();
    for e in trace["traceEvents"].as_array().unwrap() {
        let ph = e["ph"].as_str().unwrap();
        if ph == "b" || ph == "e" {
            let key = format!("{}/{}", e["cat"], e["id"]);
            let step = if ph == "b" { 1 } else { -1 };
            by_id
                .entry(key)
                .or_default()
                .push((e["ts"].as_f64().unwrap(), step));
        }
    }
    for (id, mut marks) in by_id {
        marks.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut depth = 0;
        for (_, step) in marks {
            depth += step;
            assert!(depth >= 0, "{id}: an end before its begin");
        }
        assert_eq!(depth, 0, "{id}: left open");
    }
}

#[test]
fn replay_prints_json_on_request() {
    let (code, stdout, stderr) = aichaos(&[
        "replay",
        STORM,
        "--scenario",
        "backoff, jitter and breaker",
        "--from",
        "19m",
        "--to",
        "21m",
        "--narrate",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["seed"], 7);
    assert_eq!(report["end_s"], 1260.0);
    let narration = report["narration"].as_array().unwrap();
    assert_eq!(narration[0], "00:20:00.000  openai goes down");
}

/// The shipped hunt: seed 1 tips into a retry-sustained failure at an afternoon outage and
/// stays down until the evening lull, as its line in docs/src/introduction.md says.
#[test]
fn the_incident_hunts_first_seed_is_metastable() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/models/incident-hunt.json");
    let sc = aichaos::scenario::load_file(file)
        .unwrap()
        .scenarios
        .remove(0);
    let s = aichaos::run::run_summary(&sc).unwrap();
    let incidents = &s.objectives.as_ref().unwrap().incidents;
    let worst = incidents
        .iter()
        .filter(|i| i.slo == "availability")
        .max_by_key(|i| i.bad_requests)
        .unwrap();
    assert!(
        (14.0 * 3600.0..14.5 * 3600.0).contains(&worst.start_s),
        "{worst:?}"
    );
    assert!(worst.duration_s > 5.0 * 3600.0, "{worst:?}");
    assert_eq!(worst.trigger.kind, "outage");
    assert!(worst.metastability.as_ref().unwrap().metastable);
}

/// A failure that is usual (timeouts at 70 % load) and then surges is narrated as a surge,
/// once, when the outage begins; the quiet hour before has no such line.
#[test]
fn narration_tells_a_usual_failure_surging() {
    let (code, stdout, stderr) = aichaos(&[
        "replay",
        STORM,
        "--scenario",
        "naive retries",
        "--from",
        "5m",
        "--to",
        "22m",
        "--narrate",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let surges: Vec<&str> = stdout.lines().filter(|l| l.contains(" surge (")).collect();
    assert!(!surges.is_empty(), "{stdout}");
    assert!(surges[0].starts_with("00:20:0"), "{stdout}");
    assert!(
        surges[0].contains("openai/gpt-4o: timeout surge"),
        "{stdout}"
    );
    assert_eq!(
        surges
            .iter()
            .filter(|l| l.contains("openai/gpt-4o: timeout"))
            .count(),
        1,
        "{stdout}"
    );
}

/// `aichaos incidents` in a terminal, 40 minutes of the storm over seeds 3 and 4.
fn incidents_table(scenario: &str, out: &std::path::Path) -> String {
    let (code, stdout, stderr) = aichaos(&[
        "incidents",
        STORM,
        "--scenario",
        scenario,
        "--set",
        "duration=40m",
        "--seeds",
        "3..4",
        "--top",
        "2",
        "--quiet",
        "--force",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// The legend under a table: the markers it explains.
fn legend_markers(table: &str) -> Vec<&str> {
    let (_, legend) = table.split_once("\nlegend:\n").expect("a legend");
    legend
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim_start().split("  ").next().unwrap())
        .collect()
}

/// Each incident is followed by the command that reruns its seed and the one that replays
/// it; under the table, a legend explains each marker shown, and none that is not.
#[test]
fn the_incidents_table_gives_both_commands_and_explains_what_it_shows() {
    let out = tempfile::tempdir().unwrap();
    for (scenario, quoted) in [
        (
            "backoff, jitter and breaker",
            "'backoff, jitter and breaker'",
        ),
        ("naive retries", "'naive retries'"),
    ] {
        let table = incidents_table(scenario, out.path());
        let search: Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("incidents.json")).unwrap(),
        )
        .unwrap();
        let lines: Vec<&str> = table.lines().collect();
        for (i, ranked) in search["top"].as_array().unwrap().iter().enumerate() {
            let seed = ranked["seed"].as_u64().unwrap();
            let at = 1 + 3 * i;
            assert!(
                lines[at].starts_with(&format!("#{:<3} seed {seed:<6} incident [", i + 1)),
                "{table}"
            );
            assert_eq!(
                lines[at + 1],
                format!(
                    "      run:    aichaos run {STORM} --scenario {quoted} --set duration=40m --seed {seed}"
                ),
            );
            assert_eq!(
                lines[at + 1].trim_start()["run:".len()..].trim(),
                ranked["run_command"]
            );
            assert_eq!(
                lines[at + 2].trim_start()["replay:".len()..].trim(),
                ranked["replay_command"]
            );
        }
        let shown = table.split_once("\nlegend:\n").unwrap().0;
        let legend = legend_markers(&table);
        for always in [
            "#N",
            "seed",
            "run:",
            "replay:",
            "worst X% good",
            "peak N attempts/request",
        ] {
            assert!(legend.contains(&always), "{always} unexplained:\n{table}");
        }
        // (what the table shows, the legend's marker for it)
        for (text, marker) in [
            ("(still open)", "(still open)"),
            ("% good (p <= ", "(p <= T)"),
            (" attempts/request; ", "peak N attempts/request"),
            ("peak 0.", "peak below 1"),
            ("; alert ", "alert X after T"),
            ("METASTABLE", "METASTABLE"),
        ] {
            assert_eq!(
                shown.contains(text),
                legend.contains(&marker),
                "`{text}` shown and `{marker}` explained disagree:\n{table}"
            );
        }
        assert!(
            !table.contains(" x0.") && !table.contains(" x5."),
            "{table}"
        );
        match scenario {
            "naive retries" => assert!(table.contains("METASTABLE: outlived"), "{table}"),
            _ => assert!(table.contains("peak 0.99 attempts/request"), "{table}"),
        }
    }
}
