use aichaos::report::Summary;
use aichaos::scenario::{self, Scenario};
use serde_json::{Value, json};

/// A small world: one provider with one model, one open-loop group; `patch` is merged over
/// it (JSON merge patch, named lists by name), so a test states only what it is about.
pub fn base() -> Value {
    json!({
        "name": "test",
        "seed": 1,
        "duration": "10m",
        "traffic": [{
            "name": "app",
            "arrivals": { "type": "poisson", "rate": "5/s" },
            "request": { "model": "m", "input_tokens": 100, "output_tokens": 50, "max_tokens": 100 }
        }],
        "providers": [{
            "name": "p",
            "models": [{
                "name": "m", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0,
                "ttft": "200ms", "per_token": "10ms"
            }]
        }]
    })
}

#[track_caller]
pub fn scenario(patch: Value) -> Scenario {
    let mut doc = base();
    scenario::merge_patch(&mut doc, &patch);
    let text = doc.to_string();
    match scenario::parse("test.json", &text) {
        Ok(mut experiment) => experiment.scenarios.remove(0),
        Err(e) => panic!("test scenario is invalid:\n{e}"),
    }
}

#[track_caller]
pub fn run(patch: Value) -> Summary {
    aichaos::run::run_summary(&scenario(patch)).expect("run completes")
}

/// Errors of the attempts, oldest first, as (seconds, error name).
pub fn error_log(summary: &Summary) -> Vec<(f64, &'static str)> {
    summary
        .recent_errors
        .iter()
        .map(|e| (e.time_s, e.error))
        .collect()
}

pub fn count(summary: &Summary, reason: &str) -> u64 {
    summary
        .requests
        .failed_by_reason
        .0
        .iter()
        .find(|(name, _)| *name == reason)
        .map_or(0, |(_, n)| *n)
}

/// JSON of a summary without its wall-clock figures (the only nondeterministic fields).
pub fn deterministic_json(summary: &Summary) -> String {
    let mut value = serde_json::to_value(summary).unwrap();
    value.as_object_mut().unwrap().remove("wall_clock");
    serde_json::to_string_pretty(&value).unwrap()
}

/// Runs the `aichaos` binary: (exit code, stdout, stderr).
pub fn aichaos(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// `aichaos fit LOG --out OUT`, then `extra` arguments: exit code, stdout, stderr.
pub fn fit(log: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let (log, out) = (log.to_str().unwrap(), out.to_str().unwrap());
    let args: Vec<&str> = ["fit", log, "--out", out]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    aichaos(&args)
}

/// Credits are conserved: for each provider with a prepaid balance and no top-ups, what
/// remains plus what was billed is what it started with (to the summary's 6 decimals).
pub fn check_credits_conserved(scenario: &Scenario, summary: &Summary) -> Result<(), String> {
    for (model, p) in scenario.providers.iter().zip(&summary.providers) {
        let Some(credits) = &model.credits else {
            continue;
        };
        if !credits.top_ups.is_empty() || credits.auto_recharge.is_some() {
            continue;
        }
        let initial = aichaos::credits::nano_to_usd(credits.initial_nusd);
        let remaining = p
            .credits_remaining_usd
            .ok_or("no remaining balance reported")?;
        if (remaining + p.cost_usd - initial).abs() > 2e-6 {
            return Err(format!(
                "{}: {remaining} remaining + {} billed != {initial} at the start",
                model.name, p.cost_usd
            ));
        }
    }
    Ok(())
}

/// Starts the `aichaos` binary with its output piped, for tests that signal or race it.
pub fn start(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}
