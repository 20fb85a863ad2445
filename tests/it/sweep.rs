//! `aichaos sweep`: a grid ranked by an objective under constraints, the best point written
//! out as a scenario that runs.

use std::process::Command;

use serde_json::{Value, json};

fn sweep(dir: &std::path::Path, extra: &[&str]) -> (i32, Value, String) {
    let mut doc = crate::support::base();
    aichaos::scenario::merge_patch(
        &mut doc,
        &json!({ "duration": "5m", "providers": [{ "name": "p", "errors": { "500": 0.2 } }] }),
    );
    let file = dir.join("scenario.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .arg("sweep")
        .arg(&file)
        .args(["--replications", "3", "--json", "--out"])
        .arg(dir.join("out"))
        .args(extra)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (
        output.status.code().unwrap(),
        json,
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn the_grid_is_ranked_and_the_best_point_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = sweep(
        dir.path(),
        &[
            "--param",
            "traffic[app].policy.retry.max_attempts=1..4:4",
            "--constraint",
            "amplification<=1.22",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let points = report["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    // With 20 % errors, more attempts succeed more, but only 1 and 2 attempts keep the
    // amplification under 1.22 (1 + 0.2 + 0.04 for 3): the best feasible point is 2 attempts.
    assert_eq!(points[0]["settings"][0][1], 2);
    assert_eq!(points[0]["feasible"], true);
    assert_eq!(points[2]["feasible"], false);
    assert_eq!(points[3]["feasible"], false);
    let best = dir.path().join("out/best.json");
    let run = Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .args(["validate"])
        .arg(&best)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        std::fs::read_to_string(dir.path().join("out/sweep.csv"))
            .unwrap()
            .lines()
            .count()
            == 5
    );
    for chart in ["sweep_line.png", "sweep_pareto.png"] {
        assert!(
            std::fs::metadata(dir.path().join("out").join(chart))
                .unwrap()
                .len()
                > 10_000,
            "{chart}"
        );
    }
}

#[test]
fn sweeps_do_not_depend_on_threads() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let params = [
        "--param",
        "traffic[app].policy.retry.backoff.jitter=none,full",
        "--param",
        "traffic[app].policy.retry.max_attempts=2,3",
    ];
    let (_, one, _) = sweep(a.path(), &[&params[..], &["--threads", "1"]].concat());
    let (_, two, _) = sweep(b.path(), &[&params[..], &["--threads", "2"]].concat());
    assert_eq!(one, two);
    assert!(
        a.path().join("out/sweep_heatmap.png").is_file(),
        "two parameters draw a heatmap"
    );
    assert_eq!(
        std::fs::read(a.path().join("out/sweep_heatmap.png")).unwrap(),
        std::fs::read(b.path().join("out/sweep_heatmap.png")).unwrap()
    );
}

#[test]
fn bad_sweeps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |extra: &[&str], expected: &str| {
        let (code, _, stderr) = sweep(dir.path(), extra);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in {stderr}"
        );
    };
    refused(
        &["--param", "traffic[app].policy.retry.max_attemps=1,2"],
        "did you mean `max_attempts`?",
    );
    refused(
        &["--param", "traffic[app].policy.retry.max_attempts=5..1:3"],
        "inverted",
    );
    refused(
        &[
            "--param",
            "traffic[app].policy.retry.max_attempts=1,2",
            "--objective",
            "max:sucess",
        ],
        "unknown metric",
    );
    refused(
        &[
            "--param",
            "traffic[app].policy.retry.max_attempts=1..100:100",
            "--param",
            "duration=1m..100m:200",
        ],
        "too large a grid",
    );
    let two_points = ["--param", "traffic[app].policy.retry.max_attempts=1,2"];
    refused(
        &[&two_points[..], &["--shard", "3/3"]].concat(),
        "use at most 2 shards",
    );
    refused(
        &[&two_points[..], &["--shard", "0/2"]].concat(),
        "1 <= I <= N",
    );
}

/// Shards run on different machines, merged, equal the whole sweep byte for byte.
#[test]
fn merged_shards_equal_the_whole_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = crate::support::base();
    aichaos::scenario::merge_patch(
        &mut doc,
        &json!({ "duration": "3m", "providers": [{ "name": "p", "errors": { "500": 0.2 } }] }),
    );
    let file = dir.path().join("scenario.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let sweep_args = |out: &std::path::Path, shard: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aichaos"));
        cmd.arg("sweep")
            .arg(&file)
            .args([
                "--param",
                "traffic[app].policy.retry.max_attempts=1..3:3",
                "--param",
                "traffic[app].policy.retry.backoff.base=100ms..1s:2:log",
                "--replications",
                "2",
                "--out",
            ])
            .arg(out);
        if let Some(s) = shard {
            cmd.args(["--shard", s]);
        }
        let output = cmd.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let (whole, parts, merged) = (
        dir.path().join("whole"),
        dir.path().join("parts"),
        dir.path().join("merged"),
    );
    sweep_args(&whole, None);
    for shard in ["1/3", "2/3", "3/3"] {
        sweep_args(&parts, Some(shard));
    }
    let part = |i: usize| parts.join(format!("sweep-part-{i}-of-3.json"));
    let merge = |files: &[std::path::PathBuf]| {
        Command::new(env!("CARGO_BIN_EXE_aichaos"))
            .arg("merge")
            .args(files)
            .arg("--out")
            .arg(&merged)
            .output()
            .unwrap()
    };
    // Missing a shard: refused, nothing written.
    let incomplete = merge(&[part(1), part(3)]);
    assert_eq!(incomplete.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&incomplete.stderr).contains("missing"));
    assert!(!merged.exists());
    // A hand-edited part that claims another slice's points: refused.
    let edited = dir.path().join("edited.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(part(2)).unwrap()).unwrap();
    doc["indices"] = json!([999]);
    std::fs::write(&edited, doc.to_string()).unwrap();
    let bad = merge(&[part(1), edited, part(3)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("index modulo 3 is 1"));
    assert!(!merged.exists());
    // Results whose metrics were reordered would rank by the wrong metric: refused.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(part(2)).unwrap()).unwrap();
    doc["comparison"]["variants"][0]["metrics"]
        .as_array_mut()
        .unwrap()
        .swap(0, 1);
    std::fs::write(dir.path().join("edited.json"), doc.to_string()).unwrap();
    let bad = merge(&[part(1), dir.path().join("edited.json"), part(3)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("in this order"));
    // A part that claims a larger sweep than its spec makes: refused, no allocation of it.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(part(1)).unwrap()).unwrap();
    doc["of"] = json!(1);
    doc["shard"] = json!(1);
    doc["total_points"] = json!(100_000_000_000u64);
    std::fs::write(dir.path().join("edited.json"), doc.to_string()).unwrap();
    let bad = merge(&[dir.path().join("edited.json")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at most 10000 points"));
    assert!(!merged.exists());
    let complete = merge(&[part(3), part(1), part(2)]);
    assert_eq!(
        complete.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&complete.stderr)
    );
    for f in [
        "sweep.csv",
        "sweep.json",
        "best.json",
        "sweep_heatmap.png",
        "sweep_pareto.png",
    ] {
        assert!(
            std::fs::read(whole.join(f)).unwrap() == std::fs::read(merged.join(f)).unwrap(),
            "{f} differs"
        );
    }
}
