//! `aichaos sweep`: a grid ranked by an objective under constraints, the best point written
//! out as a scenario that runs.

use std::process::Command;

use serde_json::{Value, json};

fn sweep(dir: &std::path::Path, extra: &[&str]) -> (i32, Value, String) {
    let (code, stdout, stderr) = sweep_console(dir, &[&["--json"], extra].concat());
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

/// The sweep as a user sees it: (exit code, stdout, stderr).
fn sweep_console(dir: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let mut doc = crate::support::base();
    aichaos::scenario::merge_patch(
        &mut doc,
        &json!({ "duration": "5m", "providers": [{ "name": "p", "errors": { "500": 0.2 } }] }),
    );
    let file = dir.join("scenario.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = dir.join("out");
    let (file, out) = (file.to_str().unwrap(), out.to_str().unwrap());
    let replications: &[&str] = if extra.contains(&"--replications") {
        &[]
    } else {
        &["--replications", "3"]
    };
    let args = [&["sweep", file, "--out", out][..], replications, extra].concat();
    crate::support::aichaos(&args)
}

/// The ranked point with this id.
fn point(report: &Value, id: u64) -> &Value {
    report["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()
}

/// Attempts 1 to 4 against half the calls failing, under a bound on amplification just
/// below 3 attempts' mean (see `the_grid_is_ranked_and_the_best_point_runs`).
const ATTEMPTS_GRID: [&str; 10] = [
    "--param",
    "traffic[app].policy.retry.max_attempts=1..4:4",
    "--constraint",
    "amplification<=1.74",
    "--set",
    "traffic[app].policy.retry.max_attempts=4",
    "--set",
    "providers[p].errors.500=0.5",
    "--replications",
    "5",
];

#[test]
fn the_grid_is_ranked_and_the_best_point_runs() {
    let dir = tempfile::tempdir().unwrap();
    // Half the calls fail: k attempts make 1 + 0.5 + ... + 0.5^(k-1) each on average (1,
    // 1.5, 1.75, 1.875), and the bound is 1.74. The scenario as written makes 4 attempts:
    // over the bound by 0.135, more than twice the 95 % half-width of 5 replications of
    // 1,500 requests (about 0.05), so it is infeasible and a point that meets the bound
    // beats it whatever its success rate. (At 20 % errors the means, 1.2, 1.24 and 1.248,
    // sit closer together than the intervals are wide, and which side of a bound between
    // them the intervals fell was the seed's luck.)
    let (code, report, stderr) = sweep(dir.path(), &ATTEMPTS_GRID);
    assert_eq!(code, 0, "{stderr}");
    let points = report["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    assert_eq!(report["baseline"]["feasibility"], "infeasible");
    // More attempts succeed more, but only 1 and 2 attempts keep the amplification under
    // the bound for certain: the best feasible point is 2 attempts.
    assert_eq!(points[0]["settings"][0][1], 2);
    assert_eq!(points[0]["feasibility"], "feasible");
    assert_eq!(points[0]["recommended"], true);
    assert_eq!(report["selection"]["recommended"], points[0]["id"]);
    // 3 attempts: 1.75 on average, just over the bound, and its interval (about ± 0.03)
    // reaches below it: uncertain. Both depend on the draws: of seeds 1 to 20, 12 show
    // it (this one: 1.745 ± 0.042); for 3 the mean falls under the bound, for 5 the whole
    // interval lies above it. The verdicts of 1, 2 and 4 attempts hold for all 20.
    assert_eq!(points[2]["settings"][0][1], 3);
    assert_eq!(points[2]["feasibility"], "uncertain");
    assert_eq!(points[2]["feasible"], false);
    assert_eq!(points[3]["feasibility"], "infeasible");
    let best = dir.path().join("out/best.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&best).unwrap()).unwrap();
    assert_eq!(doc["traffic"][0]["policy"]["retry"]["max_attempts"], 2);
    let (code, _, stderr) = crate::support::aichaos(&["validate", best.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let csv = std::fs::read_to_string(dir.path().join("out/sweep.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        6,
        "a header, 4 points and the baseline"
    );
    let last = csv.lines().last().unwrap();
    assert!(last.contains(",baseline,infeasible,"), "{last}");
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

/// The issue's first failure: every setting tried is worse than the scenario as written.
/// No best.json (nor a stale one from before), the console says so and why, exit 0.
#[test]
fn no_best_json_when_nothing_beats_the_scenario_as_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/best.json"), "{}").unwrap();
    std::fs::write(dir.path().join("out/.aichaos-output"), "").unwrap();
    // As written: 3 attempts. Fewer attempts against 20 % errors succeed less.
    let (code, stdout, stderr) = sweep_console(
        dir.path(),
        &["--param", "traffic[app].policy.retry.max_attempts=1,2"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "no setting tried beats the scenario as written: the best feasible point (#2) is no better: success_rate -0.0"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("no best.json written"), "{stdout}");
    assert!(!dir.path().join("out/best.json").exists());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/sweep.json")).unwrap())
            .unwrap();
    assert_eq!(report["selection"]["recommended"], Value::Null);
    assert_eq!(report["selection"]["correction"], "holm");
    let two = point(&report, 2);
    assert_eq!(two["rank"], 1);
    assert_eq!(two["beats_baseline"], false);
    // 2 attempts fail 0.2^2 of the requests, 3 attempts 0.2^3: 3.2 points of success rate.
    let diff = two["vs_baseline"]["mean"].as_f64().unwrap();
    assert!((-0.045..-0.02).contains(&diff), "{diff}");
    assert!(two["p_value"].as_f64().unwrap() > 0.95);
    let baseline_success = report["baseline"]["metrics"][0][1].as_f64().unwrap();
    assert!(
        (0.98..1.0).contains(&baseline_success),
        "1 - 0.2^3: {baseline_success}"
    );
}

/// Two settings whose difference is within their noise are both marked tied; both beat the
/// baseline, and the cheaper is recommended (the default tie-breaker).
#[test]
fn points_within_their_noise_are_tied_and_the_cheaper_wins() {
    let dir = tempfile::tempdir().unwrap();
    // Three attempts against one as written; two backoffs whose effect is within the noise.
    let tied = [
        "--set",
        "traffic[app].policy.retry.max_attempts=1",
        "--set",
        "providers[p].capacity.slots=2",
        "--param",
        "traffic[app].policy.retry.max_attempts=3",
        "--param",
        "traffic[app].policy.retry.backoff.base=100ms,130ms",
    ];
    let (code, report, stderr) = sweep(dir.path(), &tied);
    assert_eq!(code, 0, "{stderr}");
    let (a, b) = (point(&report, 1), point(&report, 2));
    for p in [a, b] {
        assert_eq!(p["tied_with_best"], true, "{p}");
        assert_eq!(p["beats_baseline"], true, "{p}");
        assert!(p["p_holm"].as_f64().unwrap() <= 0.05);
    }
    assert_ne!(
        a["metrics"][0][1], b["metrics"][0][1],
        "the two really differ"
    );
    assert_eq!(report["selection"]["tied"], 2);
    let cost = |p: &Value| p["metrics"][4][1].as_f64().unwrap();
    let cheaper = if cost(a) <= cost(b) { a } else { b };
    assert_eq!(cheaper["recommended"], true);
    assert_eq!(report["selection"]["recommended"], cheaper["id"]);
    assert_eq!(report["selection"]["tie_breaker"], "min:cost_usd");
    // A declared tie-breaker picks the other way.
    let (_, report, _) = sweep(
        dir.path(),
        &[&tied[..], &["--tie-breaker", "max:cost_usd", "--force"]].concat(),
    );
    assert_ne!(report["selection"]["recommended"], cheaper["id"]);
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
        &[&two_points[..], &["--replications", "auto"]].concat(),
        "auto needs --budget",
    );
    refused(
        &[
            &two_points[..],
            &["--replications", "auto", "--budget", "17"],
        ]
        .concat(),
        "needs at least 18",
    );
    refused(
        &[&two_points[..], &["--budget", "100"]].concat(),
        "a budget is for --replications auto",
    );
    refused(
        &[
            &two_points[..],
            &[
                "--replications",
                "auto",
                "--budget",
                "100",
                "--shard",
                "1/2",
            ],
        ]
        .concat(),
        "cannot be sharded",
    );
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
                "--set",
                "traffic[app].policy.retry.max_attempts=1",
                // Three, not two: with two the paired t-test has one degree of freedom, and
                // whether more attempts beat one (best.json written, compared below) was
                // the seed's luck (2 seeds of 1 to 12); with three it holds for all 12.
                "--replications",
                "3",
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
    // Every shard ran the baseline on the same seeds: a part whose baseline differs is refused.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(part(2)).unwrap()).unwrap();
    doc["comparison"]["variants"][0]["metrics"][0]["values"][0] = json!(0.5);
    std::fs::write(dir.path().join("edited.json"), doc.to_string()).unwrap();
    let bad = merge(&[part(1), dir.path().join("edited.json"), part(3)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("baseline results differ"));
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
    assert!(whole.join("best.json").is_file(), "more attempts beat one");
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

/// The line chart draws the baseline, the constraint's bound (a panel of its own for a
/// constraint on another metric), infeasible points as grey crosses and the recommended
/// point ringed in green.
#[test]
fn the_line_chart_shows_baseline_constraint_and_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = sweep(dir.path(), &ATTEMPTS_GRID);
    assert_eq!(code, 0, "{stderr}");
    let (width, _, pixels) = crate::charts::decode(&dir.path().join("out/sweep_line.png"));
    let width = width as usize;
    let pixel = |x: usize, y: usize| pixels[y * width + x];
    let count = |rgb: [u8; 3], rows: std::ops::Range<usize>| {
        rows.map(|y| (0..1000).filter(|&x| pixel(x, y) == rgb).count())
            .collect::<Vec<usize>>()
    };
    // The bound (vermillion, dashed across the plot) lies in the lower panel only.
    let (vermillion, split) = ([213, 94, 0], 720 * 3 / 5);
    assert!(count(vermillion, split..720).iter().any(|n| *n > 300));
    assert!(count(vermillion, 0..split).iter().all(|n| *n < 100));
    // The baseline (black, dashed) crosses both panels: long black rows in each, above
    // their x axes (rows 360 and 648).
    let long_black =
        |rows: std::ops::Range<usize>| count([0, 0, 0], rows).iter().filter(|n| **n > 300).count();
    assert!(long_black(60..350) >= 1);
    assert!(long_black(split..640) >= 1);
    let (green, grey) = ([0, 158, 115], [120, 120, 120]);
    assert!(
        count(green, 0..720).iter().sum::<usize>() > 50,
        "recommended ring"
    );
    assert!(
        count(grey, 0..720).iter().sum::<usize>() > 20,
        "infeasible cross"
    );
}

/// `--replications auto` on a constructed sweep: 16 error rates, one (0.199) truly better
/// than the scenario as written (0.2) by a small margin, four close ones, eleven clearly
/// worse. The fixed design needs 33 replications a point to separate the best from the
/// runner-up and show it beats the baseline (561 runs); sequential halving reaches the same
/// answer in at most 250 (figures in docs/src/guides/tune.md), for any number of threads.
#[test]
fn auto_replications_find_the_known_best_at_a_fraction_of_the_cost() {
    let dir = tempfile::tempdir().unwrap();
    let mut rates = vec!["0.1990", "0.1998", "0.2000", "0.2003", "0.2006"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    rates.extend((0..11).map(|k| format!("{:.4}", 0.203 + 0.0007 * f64::from(k))));
    let param = format!("providers[p].errors.500={}", rates.join(","));
    let constructed = |extra: &[&str]| {
        let args = [
            &[
                "--set",
                "duration=1m",
                "--set",
                "traffic[app].policy.retry.max_attempts=1",
                "--param",
                param.as_str(),
                "--force",
            ][..],
            extra,
        ]
        .concat();
        let (code, report, stderr) = sweep(dir.path(), &args);
        assert_eq!(code, 0, "{stderr}");
        report
    };
    let fixed = constructed(&["--replications", "33"]);
    assert_eq!(fixed["selection"]["recommended"], 1);
    assert_eq!(fixed["selection"]["tied"], 0);
    let fixed_runs = 17 * 33;
    let auto = constructed(&[
        "--replications",
        "auto",
        "--budget",
        "250",
        "--threads",
        "1",
    ]);
    assert_eq!(auto["selection"]["recommended"], 1, "the known best");
    assert_eq!(auto["selection"]["tied"], 0);
    let runs = auto["procedure"]["runs"].as_u64().unwrap();
    assert!(runs <= 250 && runs * 2 < fixed_runs, "{runs} runs");
    let stages = auto["procedure"]["stages"].as_array().unwrap();
    assert_eq!(stages[0]["points"], 16);
    assert_eq!(stages[0]["replications"], 3);
    assert_eq!(stages[0]["dropped"], 8);
    let counted: u64 = stages.iter().map(|s| s["runs"].as_u64().unwrap()).sum();
    assert_eq!(counted, runs);
    // Points dropped early ran fewer replications and rank after the finalists.
    let points = auto["points"].as_array().unwrap();
    assert!(points[0]["dropped_after_stage"].is_null());
    assert_eq!(points[15]["dropped_after_stage"], 1);
    assert_eq!(points[15]["replications"], 3);
    let threads = constructed(&[
        "--replications",
        "auto",
        "--budget",
        "250",
        "--threads",
        "2",
    ]);
    assert_eq!(auto, threads);
}

/// Three worlds as files: provider q is flawless in `outage-a` and fails half its calls in
/// the other two; r fails 10 % everywhere, p (the scenario as written) 30 %. No retries.
fn worlds(dir: &std::path::Path) -> Vec<String> {
    let model = |name: &str| {
        json!({ "name": name, "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0,
                "ttft": "200ms", "per_token": "10ms" })
    };
    [("outage-a", 0.0), ("storm-b", 0.5), ("runout-c", 0.5)]
        .iter()
        .map(|(name, q_errors)| {
            let mut doc = crate::support::base();
            aichaos::scenario::merge_patch(
                &mut doc,
                &json!({ "name": name, "duration": "5m",
                         "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 1 } } }] }),
            );
            doc["providers"] = json!([
                { "name": "p", "models": [model("m")], "errors": { "500": 0.3 } },
                { "name": "q", "models": [model("n")], "errors": { "500": q_errors } },
                { "name": "r", "models": [model("k")], "errors": { "500": 0.1 } },
            ]);
            let file = dir.join(format!("{name}.json"));
            std::fs::write(&file, doc.to_string()).unwrap();
            file.to_str().unwrap().to_string()
        })
        .collect()
}

/// `sweep --worlds` with `extra`: (exit code, stdout, stderr).
fn sweep_worlds(dir: &std::path::Path, worlds: &[String], extra: &[&str]) -> (i32, String, String) {
    let out = dir.join("out");
    let mut args = vec!["sweep", "--worlds"];
    args.extend(worlds.iter().map(String::as_str));
    args.extend(["--param", "traffic[app].request.model=n,k"]);
    if !extra.contains(&"--replications") {
        args.extend(["--replications", "3"]);
    }
    args.extend(["--out", out.to_str().unwrap(), "--force"]);
    args.extend(extra);
    crate::support::aichaos(&args)
}

fn success(rows: &Value) -> f64 {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|m| m[0] == "success_rate")
        .unwrap()[1]
        .as_f64()
        .unwrap()
}

/// A setting tuned on one world and bad on the others loses to one good on all of them.
#[test]
fn the_robust_point_wins_over_several_worlds() {
    let dir = tempfile::tempdir().unwrap();
    let files = worlds(dir.path());
    // On world A alone, q (point #1, model n) is the best: it never fails there.
    let (code, stdout, stderr) = sweep_worlds(dir.path(), &files[..1], &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let alone: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(alone["selection"]["recommended"], 1);
    for aggregate in ["worst", "mean"] {
        let (code, stdout, stderr) =
            sweep_worlds(dir.path(), &files, &["--aggregate", aggregate, "--json"]);
        assert_eq!(code, 0, "{stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["aggregate"], aggregate);
        assert_eq!(report["worlds"][1]["name"], "storm-b");
        // r (point #2, model k) is good everywhere: recommended over q.
        assert_eq!(report["selection"]["recommended"], 2, "{aggregate}");
        let (q, r) = (point(&report, 1), point(&report, 2));
        let q_worlds: Vec<f64> = q["per_world"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| success(&w["metrics"]))
            .collect();
        assert_eq!(q_worlds[0], 1.0, "q never fails in world A");
        assert!(q_worlds[1] < 0.6 && q_worlds[2] < 0.6, "{q_worlds:?}");
        let folded = success(&q["metrics"]);
        match aggregate {
            // Each replication's worst world: B or C, about 0.5.
            "worst" => assert!(folded < 0.55, "{folded}"),
            // (1 + 0.5 + 0.5) / 3.
            _ => assert!((folded - 2.0 / 3.0).abs() < 0.03, "{folded}"),
        }
        let r_success = success(&r["metrics"]);
        assert!((r_success - 0.9).abs() < 0.03, "{r_success}");
        assert_eq!(report["baseline"]["per_world"].as_array().unwrap().len(), 3);
        assert!((success(&report["baseline"]["per_world"][2]["metrics"]) - 0.7).abs() < 0.05);
    }
    let (code, console, stderr) = sweep_worlds(dir.path(), &files, &["--aggregate", "worst"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        console.contains("per world: point #2 (recommended) and the baseline"),
        "{console}"
    );
    for world in ["outage-a", "storm-b", "runout-c", "aggregate (worst)"] {
        assert!(
            console
                .lines()
                .any(|l| l.starts_with(&format!("  {world}  ")) && l.contains("#2")),
            "a line for {world} in {console}"
        );
    }
    let csv = std::fs::read_to_string(dir.path().join("out/sweep.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(
        ",replications,success_rate@outage-a,success_rate@storm-b,success_rate@runout-c"
    ));
    // best.json: the first world with the recommended setting.
    let best: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/best.json")).unwrap())
            .unwrap();
    assert_eq!(best["name"], "outage-a");
    assert_eq!(best["traffic"][0]["request"]["model"], "k");
}

/// An experiment file gives every scenario as a world; the outputs do not depend on threads.
#[test]
fn experiment_worlds_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let files = worlds(dir.path());
    let a: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let experiment = json!({
        "base": a,
        "scenarios": [
            { "name": "storm-b", "providers": [{ "name": "q", "errors": { "500": 0.5 } }] },
            { "name": "runout-c", "providers": [{ "name": "q", "errors": { "500": 0.5 } }] },
        ]
    });
    let exp = dir.path().join("experiment.json");
    std::fs::write(&exp, experiment.to_string()).unwrap();
    let given = [files[0].clone(), exp.to_str().unwrap().to_string()];
    let run = |threads: &str| {
        let (code, stdout, stderr) = sweep_worlds(
            dir.path(),
            &given,
            &["--aggregate", "p90", "--threads", threads],
        );
        assert_eq!(code, 0, "{stderr}");
        let files: Vec<Vec<u8>> = ["sweep.json", "sweep.csv", "best.json"]
            .iter()
            .map(|f| std::fs::read(dir.path().join("out").join(f)).unwrap())
            .collect();
        (stdout, files)
    };
    let one = run("1");
    assert_eq!(one, run("2"));
    let report: Value = serde_json::from_slice(&one.1[0]).unwrap();
    assert_eq!(report["worlds"][2]["scenario"], "runout-c");
    assert_eq!(report["selection"]["recommended"], 2);
}

#[test]
fn bad_worlds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = worlds(dir.path());
    // World C names its traffic `web`: the swept path is missing there.
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&files[2]).unwrap()).unwrap();
    c["traffic"][0]["name"] = json!("web");
    std::fs::write(&files[2], c.to_string()).unwrap();
    let missing = dir.path().join("missing.json");
    let refused = |worlds: &[String], extra: &[&str], expected: &[&str]| {
        let (code, _, stderr) = sweep_worlds(dir.path(), worlds, extra);
        assert_eq!(code, 2, "{stderr}");
        for e in expected {
            assert!(stderr.contains(e), "expected `{e}` in {stderr}");
        }
        assert!(!dir.path().join("out").exists(), "nothing written");
    };
    refused(
        &files,
        &[],
        &["runout-c.json (world `runout-c`)", "traffic[app]"],
    );
    let two = &files[..2];
    refused(
        &[two, &[missing.to_str().unwrap().to_string()]].concat(),
        &[],
        &["missing.json", "--worlds", "cannot read the world"],
    );
    refused(
        two,
        &["--aggregate", "median"],
        &["--aggregate", "`median`", "pNN"],
    );
    refused(two, &["--aggregate", "p101"], &["--aggregate", "`p101`"]);
    refused(two, &["--shard", "1/2"], &["--shard", "cannot be sharded"]);
    refused(
        two,
        &["--replications", "auto", "--budget", "100"],
        &["--worlds", "--replications auto is not supported"],
    );
    // In an experiment, the error names the scenario that lacks the path.
    let experiment = dir.path().join("experiment.json");
    let web = json!({ "base": c, "scenarios": [{ "name": "web-only" }] });
    std::fs::write(&experiment, web.to_string()).unwrap();
    refused(
        &[files[0].clone(), experiment.to_str().unwrap().to_string()],
        &[],
        &["experiment.json (world `web-only`)", "traffic[app]"],
    );
    refused(
        &[files[0].clone(), format!("{}:storm", files[1])],
        &[],
        &["storm-b.json", "picks a scenario of an experiment file"],
    );
    let (code, _, stderr) = sweep(
        dir.path(),
        &[
            "--param",
            "traffic[app].policy.retry.max_attempts=1,2",
            "--aggregate",
            "worst",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--aggregate") && stderr.contains("--worlds"),
        "{stderr}"
    );
}
