//! The command line: completions and man pages generated from its definition, what `run`
//! prints, and the README's first example and the incident guide's quoted incident as shown
//! (the guides' other commands: `docs.rs`).

use crate::support::aichaos;

/// The README, to check that what it quotes is what the binary prints.
fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn completions_know_every_command_and_option() {
    let (code, bash, _) = aichaos(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(bash.contains("complete -F _aichaos"), "{bash}");
    for word in ["sweep", "merge", "--shard", "--replications", "--variant"] {
        assert!(bash.contains(word), "{word} missing from the bash script");
    }
    let (code, zsh, _) = aichaos(&["completions", "zsh"]);
    assert_eq!(code, 0);
    assert!(zsh.starts_with("#compdef aichaos"));
    let (code, _, stderr) = aichaos(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("possible values"), "{stderr}");
}

#[test]
fn man_pages_cover_every_command() {
    let (code, page, _) = aichaos(&["man"]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH aichaos 1"), "{page}");
    assert!(
        page.contains("aichaos\\-sweep"),
        "subcommands listed: {page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = aichaos(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    for name in ["aichaos", "aichaos-run", "aichaos-sweep", "aichaos-merge"] {
        let page = std::fs::read_to_string(dir.path().join(format!("{name}.1"))).unwrap();
        assert!(page.contains(".SH OPTIONS"), "{name}.1 has no options");
    }
    let sweep = std::fs::read_to_string(dir.path().join("aichaos-sweep.1")).unwrap();
    assert!(sweep.contains("shard"), "{sweep}");
}

#[test]
fn run_json_prints_the_summaries_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/seed-experiment.json");
    let out = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = aichaos(&["run", model, "--json", "--no-charts", "--out", out]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["experiment"], "seed-experiment");
    assert_eq!(report["passed"], true);
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 3);
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("normal-load/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(scenarios[0], written);
}

#[test]
fn a_foreign_out_directory_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/seed-experiment.json");
    let out = dir.path().to_str().unwrap();
    let (code, _, stderr) = aichaos(&["run", model, "--no-charts", "--out", out]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(!dir.path().join("normal-load").exists());
    let (code, _, stderr) = aichaos(&["run", model, "--no-charts", "--out", out, "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.path().join("normal-load/summary.json").is_file());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    // Marked now: a second run needs no --force.
    let (code, _, stderr) = aichaos(&["run", model, "--no-charts", "--out", out]);
    assert_eq!(code, 0, "{stderr}");
}

/// The schema and the parser agree: every shipped model passes both, and a misspelt field
/// fails both.
#[test]
fn every_shipped_model_validates_against_the_schema() {
    let (code, text, _) = aichaos(&["schema"]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut checked = 0;
    for entry in std::fs::read_dir(&models).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let model: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&model)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        // An experiment's scenarios are patches; each merged over the base is a scenario.
        for patch in model["scenarios"].as_array().into_iter().flatten() {
            let mut merged = model["base"].clone();
            aichaos::scenario::merge_patch(&mut merged, patch);
            let errors: Vec<String> = validator
                .iter_errors(&merged)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{} {}: {errors:?}",
                path.display(),
                patch["name"]
            );
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} models found");

    let mut doc = crate::support::base();
    doc["traffic"][0]["policy"]["retry"] = serde_json::json!({ "max_atempts": 3 });
    assert!(
        !validator.is_valid(&doc),
        "the schema accepts a misspelt field"
    );
    assert!(aichaos::scenario::parse("typo.json", &doc.to_string()).is_err());
    assert!(validator.is_valid(&crate::support::base()));
}

#[test]
fn init_writes_a_scenario_that_runs_and_keeps_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("svc.json");
    let file = file.to_str().unwrap();
    let (code, stdout, stderr) = aichaos(&["init", file, "--preset", "aws-standard"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("aichaos.schema.json"), "{stdout}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(doc["traffic"][0]["policy"]["preset"], "aws-standard");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("aichaos.schema.json")).unwrap(),
    )
    .unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&doc));
    let (code, _, stderr) = aichaos(&["validate", file]);
    assert_eq!(code, 0, "{stderr}");
    // A second init keeps the user's edits unless forced.
    let (code, _, stderr) = aichaos(&["init", file]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--force"), "{stderr}");
    let (code, _, _) = aichaos(&["init", file, "--force"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert!(doc["traffic"][0]["policy"]["retry"].is_object());
}

/// Attempts per request say what they divide, and a figure below 1, which reads as a bug,
/// is explained under the line: requests the client refused before any attempt.
#[test]
fn attempts_per_request_below_one_are_explained_under_the_line() {
    let dir = tempfile::tempdir().unwrap();
    // Hard down for 10 s, one call a second, one attempt each: the breaker opens after 5
    // failures and refuses the calls of the next 30 s before they are sent.
    let run = |breaker: serde_json::Value| {
        let mut doc = crate::support::base();
        let patch = serde_json::json!({
            "duration": "2m",
            "traffic": [{ "name": "app",
                "arrivals": { "rate": null, "type": "closed_loop", "users": 1, "think_time": "1s" },
                "policy": { "retry": { "max_attempts": 1 }, "breaker": breaker } }],
            "providers": [{ "name": "p",
                "outages": [{ "start": "0s", "duration": "10s", "behaviour": "refuse" }] }]
        });
        aichaos::scenario::merge_patch(&mut doc, &patch);
        let file = dir.path().join("refused.json");
        std::fs::write(&file, doc.to_string()).unwrap();
        let out = dir.path().join("out");
        let (code, stdout, stderr) = aichaos(&[
            "run",
            file.to_str().unwrap(),
            "--no-charts",
            "--quiet",
            "--force",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        (stdout, summary)
    };
    let (stdout, summary) =
        run(serde_json::json!({ "failure_threshold": 5, "open_duration": "30s" }));
    let lines: Vec<&str> = stdout.lines().collect();
    let refused = &summary["requests"]["failed_by_reason"]["breaker_open"];
    assert_eq!(refused, 29, "{summary}");
    let amplification = summary["amplification"].as_f64().unwrap();
    assert!(amplification < 0.995, "{amplification}");
    assert!(
        lines[1].contains(&format!("  {amplification:.2} attempts/request  $")),
        "{stdout}"
    );
    assert_eq!(
        lines[2],
        "  below 1 attempt/request: some requests ended before any attempt, refused or held \
         back by the client itself (open breaker, throttling, cooldown, its own rate limiter or \
         bulkhead); requests refused: breaker_open 29",
        "{stdout}"
    );
    assert!(lines[3].starts_with("Overall: "), "{stdout}");

    // Without the breaker every call is sent: 1.00, and nothing to explain.
    let (stdout, _) = run(serde_json::Value::Null);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[1].contains("  1.00 attempts/request  $"), "{stdout}");
    assert!(lines[2].starts_with("Overall: "), "{stdout}");
}

/// The incident the incidents guide quotes under `aichaos run models/outage-retry-storm.json`
/// (its `#` lines, joined) is a line that command prints. Only the scenario it belongs to is
/// run: scenarios run independently, so its lines are the same, in a fraction of the time.
#[test]
fn the_incident_guides_quoted_incident_is_what_run_prints() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/src/guides/incidents.md"
    ))
    .unwrap();
    let command = "aichaos run models/outage-retry-storm.json\n";
    let after = &guide[guide.find(command).expect("the guide runs the storm") + command.len()..];
    let quoted: Vec<&str> = after
        .lines()
        .map_while(|l| l.strip_prefix("#   "))
        .collect();
    assert!(!quoted.is_empty(), "no quoted output under `{command}`");
    let quoted = quoted.join(" ");
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/outage-retry-storm.json"
    );
    let (code, stdout, stderr) = aichaos(&[
        "run",
        model,
        "--scenario",
        "naive retries",
        "--no-charts",
        "--quiet",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.lines().any(|l| l.trim_start() == quoted),
        "the incidents guide quotes\n{quoted}\nbut the run prints\n{stdout}"
    );
}

/// The README's first example, as "Two commands" shows it: the console block between its
/// markers is what `aichaos run models/seed-experiment.json` prints (but for the results
/// directory, this test's own), and the table of summaries holds what the run writes. CI
/// runs the same command end to end.
#[test]
fn the_readmes_first_example_is_what_it_prints_and_writes() {
    let readme = readme();
    let command = "cargo run --release -- run models/seed-experiment.json ";
    let two_commands = &readme[readme.find("## Two commands").unwrap()..];
    assert!(two_commands.contains(command), "the first example changed");
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(ci.contains(command.trim_end()), "CI runs another example");
    let block = |name: &str| -> Vec<&str> {
        let begin = format!("<!-- first-example:{name} -->\n");
        let start = readme.find(&begin).expect("the block's marker") + begin.len();
        let end = start + readme[start..].find("<!-- first-example:end -->").unwrap();
        readme[start..end]
            .lines()
            .filter(|l| !l.starts_with("```"))
            .collect()
    };

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/seed-experiment.json");
    let (code, stdout, stderr) = aichaos(&["run", model, "--no-charts", "--quiet", "--out", out]);
    assert_eq!(code, 0, "{stderr}");
    let printed = stdout.replace(out, "output/seed-experiment");
    assert_eq!(block("console"), printed.lines().collect::<Vec<_>>());

    let mut rows = vec![
        "| scenario | timeouts | 5xx | 429s | out of credits | retries | breaker openings | refused by the breaker | fallbacks | failed requests |".to_string(),
        "|---|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for (name, slug) in [
        ("Normal Load", "normal-load"),
        ("High Load", "high-load"),
        ("Token Exhaustion Sim", "token-exhaustion-sim"),
    ] {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(slug).join("summary.json")).unwrap(),
        )
        .unwrap();
        let a = &s["attempts"];
        // What the example is for: each scenario meets faults, retries and the breaker.
        assert!(a["retries"].as_u64().unwrap() > 0, "{name}: no retry");
        assert!(
            s["breaker"]["opens"].as_u64().unwrap() > 0,
            "{name}: no breaker"
        );
        rows.push(format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            a["timeouts"],
            a["server_errors"],
            a["rate_limited"],
            a["insufficient_credits"],
            a["retries"],
            s["breaker"]["opens"],
            a["breaker_rejected"],
            a["fallbacks"],
            s["requests"]["failed"]
        ));
    }
    assert_eq!(block("summaries"), rows);
}
