//! Bad input: a clear error naming file, field path and reason; exit 2; nothing written.

use std::process::Command;

use crate::support::base;
use serde_json::json;

struct Outcome {
    code: i32,
    stderr: String,
    wrote_output: bool,
}

fn aichaos_run(text: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.json");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    let result = Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    Outcome {
        code: result.status.code().unwrap(),
        stderr: String::from_utf8_lossy(&result.stderr).to_string(),
        wrote_output: out.exists(),
    }
}

fn with(patch: serde_json::Value) -> String {
    let mut doc = base();
    aichaos::scenario::merge_patch(&mut doc, &patch);
    doc.to_string()
}

#[track_caller]
fn rejected(text: &str, expected: &[&str]) {
    let outcome = aichaos_run(text);
    assert_eq!(outcome.code, 2, "stderr: {}", outcome.stderr);
    assert!(!outcome.wrote_output, "bad input must write nothing");
    assert!(
        outcome.stderr.contains("scenario.json"),
        "names the file: {}",
        outcome.stderr
    );
    for piece in expected {
        assert!(
            outcome.stderr.contains(piece),
            "expected `{piece}` in: {}",
            outcome.stderr
        );
    }
}

#[test]
fn malformed_json_reports_line_and_column() {
    rejected(
        "{\n  \"name\": \"x\",\n  \"seed\": ,\n}",
        &["scenario.json:3:11", "invalid JSON"],
    );
}

#[test]
fn unknown_fields_suggest_the_nearest_name() {
    let text = with(
        json!({ "traffic": [{ "name": "app", "policy": { "retry": { "max_attemps": 3 } } }] }),
    );
    rejected(
        &text,
        &[
            "traffic[0].policy.retry",
            "max_attemps",
            "did you mean `max_attempts`?",
        ],
    );
}

#[test]
fn out_of_range_values_name_their_path() {
    rejected(
        &with(json!({ "providers": [{ "name": "p", "errors": { "500": 1.5 } }] })),
        &["providers[0].errors.500", "[0, 1]"],
    );
    rejected(
        &with(json!({ "traffic": [{ "name": "app", "arrivals": { "rate": "-3/s" } }] })),
        &["traffic[0].arrivals.rate", ">= 0"],
    );
    rejected(&with(json!({ "duration": "NaN" })), &["`duration`", "NaN"]);
    rejected(
        &with(json!({ "duration": "30" })),
        &["`duration`", "no unit"],
    );
    rejected(
        &with(json!({ "providers": [{ "name": "p", "capacity": { "slots": 0 } }] })),
        &["providers[0].capacity.slots"],
    );
    rejected(
        &with(
            json!({ "providers": [{ "name": "p", "models": [{ "name": "m", "ttft": { "dist": "lognormal", "median": "2s", "p99": "1s" } }] }] }),
        ),
        &["providers[0].models[0].ttft", "median < p99"],
    );
}

#[test]
fn unknown_references_list_what_exists() {
    rejected(
        &with(json!({ "traffic": [{ "name": "app", "request": { "model": "n" } }] })),
        &["traffic[0].request.model", "models: m"],
    );
    rejected(
        &with(
            json!({ "traffic": [{ "name": "app", "policy": { "fallback": [{ "provider": "q", "model": "m" }] } }] }),
        ),
        &[
            "traffic[0].policy.fallback[0].provider",
            "did you mean `p`?",
        ],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = with(
        json!({ "bucket": "0s", "providers": [{ "name": "p", "errors": { "503": 2.0 } }], "chaos": { "failure_rate": -1.0 } }),
    );
    rejected(
        &text,
        &["`bucket`", "providers[0].errors.503", "chaos.failure_rate"],
    );
}

#[test]
fn unknown_presets_list_the_valid_ones() {
    let text =
        with(json!({ "traffic": [{ "name": "app", "policy": { "preset": "openai-pyton" } }] }));
    rejected(
        &text,
        &[
            "traffic[0].policy.preset",
            "did you mean `openai-python`?",
            "litellm-router",
        ],
    );
}

#[test]
fn absurdly_large_runs_are_refused_with_an_estimate() {
    let text = with(
        json!({ "duration": "3000d", "traffic": [{ "name": "app", "arrivals": { "rate": "100000/s" } }] }),
    );
    rejected(&text, &["requests", "hours of computing"]);
}

#[test]
fn unbounded_backlogs_are_refused_before_starting() {
    // 10^6 requests/s that may each live 3 attempts x 1 h: billions alive at once.
    let text = with(
        json!({ "duration": "1m", "traffic": [{ "name": "app", "arrivals": { "rate": "1000000/s" },
        "policy": { "timeout": { "total": "1h" } } }] }),
    );
    rejected(&text, &["alive at once", "GB", "policy.deadline"]);
}

#[test]
fn failed_expectations_exit_1_and_say_which() {
    let outcome = aichaos_run(&with(
        json!({ "duration": "1m", "providers": [{ "name": "p", "errors": { "500": 0.5 } }], "expect": { "min_success_rate": 0.999 } }),
    ));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("min_success_rate"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.wrote_output,
        "a completed run writes its results even when it fails its expectations"
    );
}

#[test]
fn contradictory_breaker_settings_are_refused() {
    let breaker = |b: serde_json::Value| {
        with(json!({ "traffic": [{ "name": "app", "policy": { "breaker": b } }] }))
    };
    rejected(
        &breaker(json!({ "kind": "count_window", "window_size": 10, "minimum_calls": 20 })),
        &["breaker.minimum_calls", "window of 10"],
    );
    rejected(
        &breaker(json!({ "kind": "time_window", "failure_rate_threshold": 0.0 })),
        &["breaker.failure_rate_threshold", "(0, 1]"],
    );
    rejected(
        &breaker(json!({ "kind": "time_window", "failure_threshold": 3 })),
        &["breaker.failure_threshold", "consecutive"],
    );
    rejected(
        &breaker(json!({ "kind": "time_window", "window": "2500ms" })),
        &["breaker.window", "whole number of seconds"],
    );
    rejected(
        &breaker(json!({ "kind": "sliding" })),
        &["breaker.kind", "count_window"],
    );
    rejected(
        &breaker(json!({ "open_duration": "10s", "max_open_duration": "5s" })),
        &["breaker.max_open_duration"],
    );
}

#[test]
fn set_overrides_fields_and_reports_bad_ones_like_the_file_would() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.json");
    std::fs::write(&file, with(json!({ "duration": "1m" }))).unwrap();
    let out = dir.path().join("out");
    let run = |sets: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aichaos"));
        cmd.arg("run")
            .arg(&file)
            .arg("--no-charts")
            .arg("--out")
            .arg(&out);
        for s in sets {
            cmd.arg("--set").arg(s);
        }
        cmd.output().unwrap()
    };
    let ok = run(&[
        "traffic[app].policy.retry.max_attempts=1",
        "providers[0].errors={\"500\": 1.0}",
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["requests"]["succeeded"], 0,
        "every call fails once, no retry"
    );
    assert_eq!(
        summary["overrides"][0],
        "traffic[app].policy.retry.max_attempts=1"
    );
    let bad = run(&["traffic[app].policy.retry.max_atempts=1"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("traffic[0].policy.retry.max_atempts")
            && stderr.contains("did you mean `max_attempts`?"),
        "{stderr}"
    );
    let nowhere = run(&["traffic[web].policy.retry.max_attempts=1"]);
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("no element named `web`"));
}

/// Field errors found after parsing point at the file's line and column too, in a single
/// scenario and in an experiment's patch (where the merged scenario's list index is not
/// the patch's).
#[test]
fn field_errors_carry_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.json");
    std::fs::write(
        &path,
        r#"{ "name": "e",
  "base": { "duration": "1h",
    "traffic": [ { "name": "web", "arrivals": { "type": "poisson", "rate": "5/s" },
                   "request": { "model": "m", "input_tokens": 100, "output_tokens": 50, "max_tokens": 100 } },
                 { "name": "app", "arrivals": { "type": "poisson", "rate": "5/s" },
                   "request": { "model": "m", "input_tokens": 100, "output_tokens": 50, "max_tokens": 100 } } ],
    "providers": [ { "name": "p", "models": [ { "name": "m", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2, "ttft": "200ms", "per_token": "10ms" } ] } ] },
  "scenarios": [
    { "name": "bad",
      "traffic": [ { "name": "app", "policy": { "retry": { "max_attempts": 0 } } } ] }
  ]
}"#,
    )
    .unwrap();
    let (code, _, stderr) = crate::support::aichaos(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    let expected = format!(
        "error: {}:10:60: `scenarios[0].traffic[1].policy.retry.max_attempts`: 0 is out of range",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

/// A world where nothing can arrive used to pass `validate` and then spin forever (a zero
/// rate under a one-minute diurnal period); it is refused, naming `traffic`.
#[test]
fn a_world_without_traffic_is_refused() {
    rejected(
        &with(json!({ "traffic": [{ "name": "app", "arrivals": {
            "type": "poisson", "rate": "0/s", "diurnal": { "amplitude": 0.5, "period": "1m" } } }] })),
        &["`traffic`", "no group can send a request"],
    );
}

/// The documented maximum of `capacity.slots` is accepted: its default queue (four per
/// slot) stays within the queue's own limit instead of failing a field nobody wrote.
#[test]
fn the_largest_capacity_needs_no_queue_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.json");
    let max = aichaos::scenario::limits::MAX_SLOTS;
    std::fs::write(
        &file,
        with(json!({ "providers": [{ "name": "p", "capacity": { "slots": max } }] })),
    )
    .unwrap();
    let (code, _, stderr) = crate::support::aichaos(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
}

/// A run that would compute for hours does not start silently: it is refused with its
/// estimate unless forced, and the estimate uses a measured speed, not an optimistic one.
#[test]
fn a_long_run_is_refused_with_its_estimate_unless_forced() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/thousand-hours.json");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = ["run", model, "--duration", "5000h", "--no-charts", "--out"];
    let mut args = args.to_vec();
    args.push(out.to_str().unwrap());
    let (code, _, stderr) = crate::support::aichaos(&args);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("about 8.99e8 requests: about 15 minutes of computing"),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(!out.exists());
    // Beyond the hard limit even --force does not help.
    args[3] = "100000h";
    args.push("--force");
    let (code, _, stderr) = crate::support::aichaos(&args);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`duration`: the run would simulate about 1.80e10"),
        "{stderr}"
    );
}

/// Ten million closed-loop users passed `validate` and then ran out of memory: the
/// estimate of a live request's memory is measured, and the refusal names the field.
#[test]
fn too_many_users_are_refused_before_memory_runs_out() {
    rejected(
        &with(json!({ "traffic": [{ "name": "app", "arrivals": {
            "type": "closed_loop", "users": 10_000_000, "rate": null } }] })),
        &["traffic[0].arrivals.users", "10.0 GB", "lower `users`"],
    );
}

/// Every problem of a file with thousands of them is reported, each with its line, in time
/// linear in their number: 4,000 errors took 40 s when each was located by parsing the
/// file again.
#[test]
fn thousands_of_errors_are_located_in_linear_time() {
    let mut doc = base();
    let group = doc["traffic"][0].clone();
    // The most groups a scenario may have, each with four problems.
    let groups: Vec<_> = (0..1_000)
        .map(|i| {
            let mut g = group.clone();
            g["name"] = json!(format!("g{i}"));
            g["max_requests"] = json!(0);
            g["arrivals"]["rate"] = json!("-1/s");
            g["request"]["max_tokens"] = json!(0);
            g["policy"] = json!({ "retry": { "max_attempts": 0 } });
            g
        })
        .collect();
    doc["traffic"] = json!(groups);
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let started = std::time::Instant::now();
    let err = aichaos::scenario::parse("many.json", &text).unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.problems.len(), 4_000);
    let last = err.problems.last().unwrap();
    assert_eq!(last.path, "traffic[999].policy.retry.max_attempts");
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("\"max_attempts\": 0"))
        .map(|(i, _)| i + 1)
        .last();
    assert_eq!(last.line_col.map(|(l, _)| l), line);
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "{elapsed:?} to locate 4,000 problems"
    );
}

/// Runs `aichaos validate` on `text` with `args` after the file: (exit code, stderr).
fn validate(text: &[u8], args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.json");
    std::fs::write(&file, text).unwrap();
    let mut all = vec!["validate", file.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, _, stderr) = crate::support::aichaos(&all);
    (code, stderr)
}

/// An unknown field no longer hides the file's other problems: all are reported at once.
#[test]
fn unknown_fields_and_the_other_problems_are_reported_together() {
    let text = with(json!({
        "bogus": 1,
        "traffic": [{ "name": "app", "arrivals": { "rate": "-1/s" }, "colour": "red" }],
        "providers": [{ "name": "p", "errors": { "500": 1.5 } }]
    }));
    let (code, stderr) = validate(text.as_bytes(), &[]);
    assert_eq!(code, 2, "{stderr}");
    for expected in [
        "`bogus`: unknown field `bogus`",
        "`traffic[0].colour`: unknown field `colour`",
        "`traffic[0].arrivals.rate`: `-1/s`",
        "`providers[0].errors.500`",
    ] {
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in:\n{stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
}

/// One bad value, one error: a duration that is not one is not also "not longer than zero",
/// nor does it make the warm-up "not shorter than the duration".
#[test]
fn a_bad_duration_is_one_error() {
    for (field, value) in [
        ("duration", "10 sec"),
        ("duration", "1000000h"),
        ("duration", "0s"),
        ("bucket", "10 sec"),
        ("bucket", "1000000h"),
    ] {
        let (code, stderr) = validate(with(json!({ field: value })).as_bytes(), &[]);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{field}={value}: {stderr}");
        assert!(stderr.contains(&format!("`{field}`")), "{stderr}");
    }
    let alert = json!({ "slos": [{ "name": "a", "success_rate": 0.99,
        "burn_rate_alerts": [{ "name": "page", "burn_rate": 2, "long_window": "1 hour", "short_window": "5m" }] }] });
    let (code, stderr) = validate(with(alert).as_bytes(), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A bad value given with --set is reported at the command-line argument, not at the line
/// of the file that held the value it replaced.
#[test]
fn a_set_error_points_at_the_argument() {
    let text = with(json!({}));
    let (code, stderr) = validate(
        text.as_bytes(),
        &["--set", "traffic[app].policy.retry.max_attempts=0"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "scenario.json: --set traffic[app].policy.retry.max_attempts=0: \
             `traffic[0].policy.retry.max_attempts`: 0 is out of range"
        ),
        "{stderr}"
    );
    // A problem elsewhere in the same file is still located in the file.
    let text = with(json!({ "providers": [{ "name": "p", "errors": { "500": 2.0 } }] }));
    let (_, stderr) = validate(text.as_bytes(), &["--set", "duration=0s"]);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].contains("scenario.json: --set duration=\"0s\": `duration`"),
        "{stderr}"
    );
    assert!(lines[1].contains("scenario.json:1:"), "{stderr}");
    assert!(lines[1].contains("`providers[0].errors.500`"), "{stderr}");
    // In an experiment the same --set fails in every scenario: it is reported once.
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/rate-limit-429.json");
    let (code, _, stderr) = crate::support::aichaos(&["validate", model, "--set", "duration=0s"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_mistyped_scenario_name_gets_the_likely_one_and_the_list() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/rate-limit-429.json");
    for command in ["run", "compare"] {
        let (code, _, stderr) = crate::support::aichaos(&[
            command,
            model,
            "--scenario",
            "Retry-After honored",
            if command == "run" {
                "--no-charts"
            } else {
                "--variant"
            },
            if command == "run" { "--quiet" } else { "v={}" },
        ]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(
                "no scenario named `Retry-After honored` (did you mean `Retry-After honoured`?); \
                 scenarios: `Retry-After honoured`, `Retry-After ignored`"
            ),
            "{command}: {stderr}"
        );
    }
}

/// Scenario names that map to one output directory would overwrite each other's results.
#[test]
fn scenario_names_sharing_a_directory_are_refused() {
    let experiment = json!({
        "name": "e",
        "base": crate::support::base(),
        "scenarios": [{ "name": "A b" }, { "name": "a-b" }]
    });
    let (code, stderr) = validate(experiment.to_string().as_bytes(), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "`scenarios[1].name`: `a-b` and `A b` would both write into the directory `a-b`"
        ),
        "{stderr}"
    );
}

#[test]
fn text_that_is_not_utf8_is_reported_with_its_byte_offset() {
    let (code, stderr) = validate(b"{\n  \"name\": \"caf\xe9\"\n}", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("scenario.json:2:15: not UTF-8 text: byte 0xe9 at byte offset 16"),
        "{stderr}"
    );
}

#[test]
fn very_long_names_are_cut_in_messages() {
    let long = "q".repeat(5_000);
    let text = with(json!({ "traffic": [{ "name": "app", "request": { "provider": long } }] }));
    let (code, stderr) = validate(text.as_bytes(), &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("… (5000 characters)"), "{stderr}");
    assert!(stderr.len() < 1_000, "{} bytes of error", stderr.len());
}

/// The memory refusal names the group that holds the most requests, not the closed-loop
/// group that happens to be there.
#[test]
fn the_memory_refusal_names_the_group_that_holds_the_most() {
    let request =
        json!({ "model": "m", "input_tokens": 100, "output_tokens": 50, "max_tokens": 100 });
    let text = with(json!({ "traffic": [
        { "name": "app", "arrivals": { "rate": "100000/s" }, "policy": { "timeout": { "total": "60s" } } },
        { "name": "few", "arrivals": { "type": "closed_loop", "users": 10 }, "request": request }
    ] }));
    let (code, stderr) = validate(text.as_bytes(), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`traffic[0]`: up to"), "{stderr}");
    assert!(stderr.contains("most of them this group's"), "{stderr}");
}

/// An unknown key that contains a dot is one unknown key: the real field of the same
/// dotted name stays, and the problem is reported once.
#[test]
fn an_unknown_dotted_key_is_reported_once() {
    let text = with(json!({ "traffic": [{ "name": "app",
        "policy": { "retry": { "max_attempts": 3 }, "retry.max_attempts": 5 } }] }));
    let (code, stderr) = validate(text.as_bytes(), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("unknown field `retry.max_attempts`"),
        "{stderr}"
    );
}

/// A value from sweep's --param or compare's --variant is reported at that option; an
/// unknown preset given with --set at the --set.
#[test]
fn errors_name_the_option_that_gave_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.json");
    std::fs::write(&file, with(json!({ "duration": "1m" }))).unwrap();
    let file = file.to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let path = "traffic[0].policy.retry.max_attempts";
    let cases: [(Vec<String>, String); 3] = [
        (
            ["sweep", file, "--param", &format!("{path}=0,3"), "--out", out].map(String::from).to_vec(),
            format!("--param {path}=0: `{path}`: 0 is out of range"),
        ),
        (
            ["compare", file, "--variant", &format!("v:{path}=0"), "--out", out].map(String::from).to_vec(),
            format!("--variant {path}=0: `{path}`: 0 is out of range"),
        ),
        (
            ["validate", file, "--set", "traffic[app].policy.preset=bogus"].map(String::from).to_vec(),
            "--set traffic[app].policy.preset=\"bogus\": `traffic[0].policy.preset`: unknown preset"
                .to_string(),
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = crate::support::aichaos(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&expected),
            "{args:?}: expected `{expected}` in: {stderr}"
        );
    }
}

/// compare, sweep and incidents check a scenario built from the file; its problems are
/// still placed at their line in the file, as validate places them.
#[test]
fn compare_places_a_problem_at_its_line_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.json");
    let mut doc = base();
    doc["traffic"][0]["policy"] = json!({ "retry": { "max_attempts": 0 } });
    let text = serde_json::to_string_pretty(&doc).unwrap();
    std::fs::write(&file, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("\"max_attempts\": 0"))
        .unwrap()
        + 1;
    let file = file.to_str().unwrap();
    let out = dir.path().join("out");
    let (code, _, stderr) = crate::support::aichaos(&[
        "compare",
        file,
        "--variant",
        "v:duration=5m",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{file}:{line}:")),
        "expected line {line}: {stderr}"
    );
}

#[test]
fn a_rate_limit_burst_is_a_positive_duration_of_at_most_a_minute() {
    for (burst, reason) in [
        ("0s", "must be longer than zero"),
        ("-1s", "`-1s`"),
        ("2m", "at most the minute"),
    ] {
        rejected(
            &with(
                json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": 600, "burst": burst } }] }),
            ),
            &["providers[0].rate_limits.burst", reason],
        );
    }
}

#[test]
fn in_progress_is_fail_or_finish_and_only_for_hard_outages() {
    rejected(
        &with(
            json!({ "providers": [{ "name": "p", "outages": [{ "start": "1m", "duration": "1m",
            "in_progress": "drain" }] }] }),
        ),
        &[
            "providers[0].outages[0].in_progress",
            "expected one of: fail, finish",
        ],
    );
    rejected(
        &with(
            json!({ "providers": [{ "name": "p", "outages": [{ "start": "1m", "duration": "1m",
            "kind": "brownout", "error_rate": 0.1, "in_progress": "finish" }] }] }),
        ),
        &[
            "providers[0].outages[0].in_progress",
            "applies only to `kind: \"down\"`",
        ],
    );
}

/// A retries-only breaker has no open wait and no probes: their fields are refused, with
/// their paths; so is a fleet's assignment on a shared breaker.
#[test]
fn a_retries_only_breaker_refuses_the_fields_of_an_open_wait() {
    let text = with(
        json!({ "traffic": [{ "name": "app", "policy": { "breaker": {
        "applies_to": "retries", "open_duration": "5s", "half_open_probes": 2 } } }] }),
    );
    rejected(
        &text,
        &[
            "traffic[0].policy.breaker.open_duration",
            "traffic[0].policy.breaker.half_open_probes",
            "applies only to `applies_to: \"all\"`",
        ],
    );
    let text = with(
        json!({ "traffic": [{ "name": "app", "policy": { "breaker": {
        "applies_to": "retry" } } }] }),
    );
    rejected(
        &text,
        &["traffic[0].policy.breaker.applies_to", "`retry`", "retries"],
    );
    let text = with(
        json!({ "traffic": [{ "name": "app", "policy": { "breaker": {
        "assignment": "random" } } }] }),
    );
    rejected(
        &text,
        &[
            "traffic[0].policy.breaker.assignment",
            "applies only to `scope: \"per_instance\"`",
        ],
    );
    let text = with(json!({ "traffic": [{ "name": "app", "policy": { "retry": {
        "retry_after": { "combine": "min" } } } }] }));
    rejected(
        &text,
        &["traffic[0].policy.retry.retry_after.combine", "`min`"],
    );
}

#[test]
fn provider_mechanics_refuse_impossible_values_with_their_path() {
    let cases = [
        (
            json!({ "providers": [{ "name": "p", "models": [{ "name": "m",
                "rate_limits": { "rpm": -5 } }] }] }),
            vec!["providers[0].models[0].rate_limits.rpm"],
        ),
        (
            json!({ "providers": [{ "name": "p", "models": [{ "name": "m",
                "rate_limits": { "itpm": 0 } }] }] }),
            vec!["providers[0].models[0].rate_limits.itpm", "must be > 0"],
        ),
        (
            json!({ "providers": [{ "name": "p", "rate_limits": { "tpm": 1000, "itpm": 500 } }] }),
            vec!["providers[0].rate_limits", "counts tokens one way"],
        ),
        (
            json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": 10,
                "tpm_counts": "larger_of_input_and_max_tokens" } }] }),
            vec!["providers[0].rate_limits.tpm_counts", "no `tpm`"],
        ),
        (
            json!({ "providers": [{ "name": "p", "rate_limits": { "tpm": 1000,
                "tpm_counts": "max" } }] }),
            vec![
                "providers[0].rate_limits.tpm_counts",
                "input_plus_max_tokens",
            ],
        ),
        (
            json!({ "providers": [{ "name": "p", "retry_after": "second" }] }),
            vec!["providers[0].retry_after", "seconds"],
        ),
        (
            json!({ "providers": [{ "name": "p", "outages": [{ "start": "1m", "duration": "1m",
                "kind": "brownout", "error_status": 429, "error_rate": 1.5 }] }] }),
            vec!["providers[0].outages[0].error_rate"],
        ),
        (
            json!({ "providers": [{ "name": "p", "outages": [{ "start": "1m", "duration": "1m",
                "kind": "brownout", "error_status": 404, "error_rate": 0.5 }] }] }),
            vec!["providers[0].outages[0].error_status", "429, 500"],
        ),
        (
            json!({ "providers": [{ "name": "p",
                "credits": { "balance_usd": 1, "exhausted_status": 403 } }] }),
            vec!["providers[0].credits.exhausted_status", "402 or 429"],
        ),
    ];
    for (patch, expected) in cases {
        rejected(&with(patch), &expected);
    }
}
