//! `aichaos compare`: same world for every variant, paired differences, thread-independent.

use std::process::Command;

use serde_json::{Value, json};

fn scenario_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut doc = crate::support::base();
    aichaos::scenario::merge_patch(
        &mut doc,
        &json!({ "duration": "5m", "providers": [{ "name": "p", "errors": { "500": 0.05 } }], "traffic": [{ "name": "app", "arrivals": { "rate": "20/s" } }] }),
    );
    let file = dir.join("scenario.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    file
}

fn compare(dir: &std::path::Path, extra: &[&str]) -> (i32, Value, String) {
    let file = scenario_file(dir);
    let out = dir.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .arg("compare")
        .arg(&file)
        .args(["--replications", "6", "--json", "--out"])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap(), json, stderr)
}

fn metric<'a>(c: &'a Value, variant: &str, metric: &str) -> &'a Value {
    let v = c["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == variant)
        .unwrap();
    v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == metric)
        .unwrap()
}

#[test]
fn variants_share_the_world_and_paired_differences_are_narrow() {
    let dir = tempfile::tempdir().unwrap();
    let (code, c, stderr) = compare(
        dir.path(),
        &[
            "--variant",
            "same:traffic[app].policy.retry.max_attempts=3",
            "--variant",
            "more:traffic[app].policy.retry.max_attempts=4",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.is_empty(),
        "no progress bar when stderr is not a terminal: {stderr}"
    );
    // A variant equal to the baseline differs by exactly nothing, replication by replication.
    let same = metric(&c, "same", "success_rate");
    assert_eq!(same["vs_baseline"]["mean"], 0.0);
    assert_eq!(same["vs_baseline"]["half_width"], 0.0);
    // One more retry saves requests...
    assert!(
        metric(&c, "more", "success_rate")["vs_baseline"]["mean"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // ...and costs the few answers it saves: the same traffic, tokens and latencies in both
    // variants cancel in the paired difference, which is far narrower than the unpaired one.
    let more = metric(&c, "more", "cost_usd");
    let paired = more["vs_baseline"]["half_width"].as_f64().unwrap();
    let unpaired = more["unpaired_half_width"].as_f64().unwrap();
    assert!(
        paired * 5.0 < unpaired,
        "paired {paired} vs unpaired {unpaired}"
    );
    for file in [
        "compare.json",
        "compare.csv",
        "success_rate.png",
        "runs/more/summary.json",
    ] {
        assert!(dir.path().join("out").join(file).is_file(), "{file}");
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let variant = [
        "--variant",
        "jitter:traffic[app].policy.retry.backoff.jitter=full",
    ];
    let (_, one, _) = compare(a.path(), &[&variant[..], &["--threads", "1"]].concat());
    let (_, three, _) = compare(b.path(), &[&variant[..], &["--threads", "3"]].concat());
    assert_eq!(one, three);
    assert_eq!(one["seeds"].as_array().unwrap().len(), 6);
}

#[test]
fn bad_variants_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = compare(
        dir.path(),
        &["--variant", "x:traffic[app].policy.retry.max_atempts=1"],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("did you mean `max_attempts`?"), "{stderr}");
    let (code, _, stderr) = compare(dir.path(), &["--variant", "nothing"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("NAME=OVERRIDES.json"), "{stderr}");
}

#[test]
fn an_experiments_scenarios_are_its_declared_variants() {
    let dir = tempfile::tempdir().unwrap();
    // The same two policies, once as --variant overrides and once declared in a file.
    let (code, flags, stderr) = compare(
        dir.path(),
        &[
            "--set",
            "traffic[app].policy.retry.max_attempts=3",
            "--variant",
            "more:traffic[app].policy.retry.max_attempts=4",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario_file(dir.path())).unwrap()).unwrap();
    let policy = |attempts: u32| json!({ "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": attempts } } }] });
    let mut three = policy(3);
    three["name"] = json!("three attempts");
    let mut four = policy(4);
    four["name"] = json!("four attempts");
    let experiment = json!({ "name": "retries", "base": base, "scenarios": [three, four] });
    let file = dir.path().join("experiment.json");
    std::fs::write(&file, experiment.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .arg("compare")
        .arg(&file)
        .args(["--replications", "6", "--json", "--out"])
        .arg(dir.path().join("declared"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let declared: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(declared["scenario"], "retries");
    let names: Vec<&str> = declared["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["three attempts", "four attempts"]);
    // Same scenarios, same replication seeds: the same numbers, paired differences included.
    for i in 0..2 {
        assert_eq!(
            declared["variants"][i]["metrics"], flags["variants"][i]["metrics"],
            "variant {i}"
        );
    }
    assert_eq!(declared["seeds"], flags["seeds"]);

    // A single scenario declares nothing to compare with.
    let output = Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .arg("compare")
        .arg(scenario_file(dir.path()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to compare with"));
}

/// An experiment whose scenarios differ by seed compares them on the first one's
/// replications, and says so rather than report two identical variants in silence.
#[test]
fn declared_seeds_are_noted_not_silently_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seeds.json");
    let experiment = serde_json::json!({
        "name": "seeds",
        "base": crate::support::base(),
        "scenarios": [{ "name": "one", "seed": 1 }, { "name": "two", "seed": 2 }]
    });
    std::fs::write(&file, experiment.to_string()).unwrap();
    let out = dir.path().join("out");
    let (code, _, stderr) = crate::support::aichaos(&[
        "compare",
        file.to_str().unwrap(),
        "--replications",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("note: `two` declares seed 2"), "{stderr}");
}
