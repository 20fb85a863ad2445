//! `aichaos fit`: a known world's request log fitted back to its parameters (the round trip
//! of issue 13), the OTel GenAI fixture, generic columns, and logs with little or nothing
//! usable.

use std::path::Path;

use aichaos::fit::limits::Binding;
use aichaos::fit::read::{Obs, Outcome, Unreadable, read_otel};
use aichaos::fit::{Fit, FitReport, Options, families::Fitted};
use serde_json::json;

use crate::support::{aichaos, scenario};

fn options() -> Options {
    Options {
        format: None,
        columns: vec![],
        bucket_ns: 60_000_000_000,
        replay: false,
    }
}

fn fit(logs: &[&Path], options: Options) -> Result<FitReport, String> {
    let mut fit = Fit::new(options);
    for log in logs {
        fit.read(log)?;
    }
    fit.finish()
}

/// A `columns` log fitted with `--column FIELD=COLUMN` pairs.
fn fit_columns(log: &Path, mapping: &[(&str, &str)]) -> FitReport {
    let columns = mapping
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let options = Options {
        format: Some(aichaos::fit::read::Format::Columns),
        columns,
        ..options()
    };
    fit(&[log], options).unwrap()
}

/// The known world: lognormal TTFT (mu -0.7, sigma 0.5 of ln seconds), 8-12 ms a token,
/// 2 % of 500s, a 503 outage from 20 to 30 minutes, 600 RPM met by a 4x spike at 40-45
/// minutes, and a client retrying 3 times after 1 s then 2 s.
fn known_world() -> aichaos::scenario::Scenario {
    scenario(json!({
        "seed": 1, "duration": "1h",
        "traffic": [{ "name": "app",
            "arrivals": { "type": "poisson", "rate": "5/s",
                "spikes": [{ "start": "40m", "duration": "5m", "multiplier": 4 }] },
            "request": { "model": "m",
                "input_tokens": { "dist": "lognormal", "median": 300, "p99": 2000 },
                "output_tokens": { "dist": "lognormal", "median": 120, "p99": 600 },
                "max_tokens": 1000 },
            "policy": { "timeout": { "total": "30s" }, "retry": { "max_attempts": 3,
                "backoff": { "kind": "exponential", "base": "1s", "multiplier": 2, "jitter": "none" } } } }],
        "providers": [{ "name": "p", "errors": { "500": 0.02 }, "rate_limits": { "rpm": 600 },
            "outages": [{ "start": "20m", "duration": "10m", "behaviour": "503" }],
            "models": [{ "name": "m",
                "ttft": { "dist": "lognormal", "mu": -0.7, "sigma": 0.5 },
                "per_token": { "dist": "uniform", "min": "8ms", "max": "12ms" } }] }]
    }))
}

#[track_caller]
fn within(what: &str, got: f64, expected: f64, relative: f64) {
    assert!(
        (got - expected).abs() <= relative * expected.abs(),
        "{what}: {got}, expected {expected} within {}%",
        relative * 100.0
    );
}

#[test]
fn a_known_world_is_recovered_from_its_request_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let known = known_world();
    let original = aichaos::run::run_to_dir_logged(
        &known,
        &dir.path().join("known"),
        false,
        &|_, _| {},
        Some(&log),
    )
    .unwrap();
    let report = fit(&[&log], options()).unwrap();
    assert_eq!(report.unreadable_lines, 0);

    // Latency: lognormal chosen, mu and sigma within 3 %.
    let target = &report.targets[0];
    let ttft = target.ttft_s.as_ref().unwrap();
    assert_eq!(
        (target.latency_method, ttft.chosen),
        ("logged", "lognormal")
    );
    let Some(Fitted::Lognormal { mu, sigma }) = ttft.best else {
        panic!("{ttft:?}")
    };
    within("mu", mu, -0.7, 0.03);
    within("sigma", sigma, 0.5, 0.03);
    within(
        "per-token mean",
        target.per_token_s.as_ref().unwrap().mean,
        0.010,
        0.01,
    );

    // Errors: 2 % inside the 500s' 95 % interval; the outage to the bucket, down, 503s.
    let provider = &report.providers[0];
    let e500 = &provider.background[&500];
    assert!(e500.low <= 0.02 && 0.02 <= e500.high, "{e500:?}");
    assert_eq!(provider.windows.len(), 1, "{:?}", provider.windows);
    let w = &provider.windows[0];
    let minute = 60_000_000_000;
    assert!(w.start_ns.abs_diff(20 * minute) <= minute && w.end_ns.abs_diff(30 * minute) <= minute);
    assert_eq!((w.kind, w.behaviour.as_str()), ("down", "503"));

    // Rate limit within 5 %, read as a request limit; retries: 3 attempts after 1 s then 2 s.
    within("rpm", provider.rpm.unwrap().0, 600.0, 0.05);
    assert_eq!(provider.limits_source, "inferred_rpm");
    let inferred = provider.inferred.as_ref().unwrap();
    assert_ne!(inferred.binding, Binding::Tokens, "{inferred:?}");
    let retries = report.retries.as_ref().unwrap();
    assert_eq!(retries.max_attempts, 3);
    within("first gap", retries.median_gap_s[0].unwrap(), 1.0, 0.01);
    within("second gap", retries.median_gap_s[1].unwrap(), 2.0, 0.01);

    // The fitted scenario loads, and its success rate per minute matches the original's:
    // each minute's difference within 4.5 standard errors of two binomial proportions.
    let text = report.scenario("refit", dir.path()).to_string();
    let refit = aichaos::scenario::parse("refit.json", &text)
        .unwrap()
        .scenarios
        .remove(0);
    let again = aichaos::run::run_to_dir(&refit, &dir.path().join("refit"), false).unwrap();
    let overall =
        |s: &aichaos::report::Summary| s.requests.succeeded as f64 / s.requests.arrived as f64;
    let (a, b) = (overall(&original), overall(&again));
    let n = original.requests.arrived as f64;
    assert!(
        (a - b).abs() < 4.5 * (2.0 * a * (1.0 - a) / n).sqrt(),
        "{a} vs {b}"
    );
    let rows = |d: &str| -> Vec<(f64, f64)> {
        let mut csv = csv::Reader::from_path(dir.path().join(d).join("timeseries.csv")).unwrap();
        csv.deserialize::<std::collections::BTreeMap<String, String>>()
            .map(|r| {
                let r = r.unwrap();
                let done: f64 =
                    r["successes"].parse::<f64>().unwrap() + r["failures"].parse::<f64>().unwrap();
                (r["success_rate"].parse().unwrap(), done)
            })
            .collect()
    };
    for (minute, ((p1, n1), (p2, n2))) in rows("known").into_iter().zip(rows("refit")).enumerate() {
        if n1 < 30.0 || n2 < 30.0 {
            continue;
        }
        let p = (p1 * n1 + p2 * n2) / (n1 + n2);
        let se = (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt();
        assert!(
            (p1 - p2).abs() <= 4.5 * se + 1e-9,
            "minute {minute}: {p1} vs {p2}"
        );
    }
}

/// A world limited by tokens, not requests: prompts spread widely (lognormal, median 1,000,
/// p99 8,000 tokens), 100 output tokens each, 120,000 tokens a minute, met by a 5x spike of
/// 20 minutes. The fit must say tokens bind and recover the TPM within 5 %. (Seeds 1 to 7:
/// the requests' spread 2.9 to 4.9 times the tokens', the TPM 0.9 to 1.1 % high: a sum over
/// the minute before a 429 runs above the limit by what the bucket held a minute earlier.)
#[test]
fn a_token_limit_is_told_from_a_request_limit_and_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.csv");
    let world = scenario(json!({
        "seed": 1, "duration": "40m",
        "traffic": [{ "name": "app",
            "arrivals": { "type": "poisson", "rate": "0.5/s",
                "spikes": [{ "start": "10m", "duration": "20m", "multiplier": 5 }] },
            "request": { "model": "m",
                "input_tokens": { "dist": "lognormal", "median": 1000, "p99": 8000 },
                "output_tokens": 100, "max_tokens": 100 },
            "policy": { "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "rate_limits": { "tpm": 120000 },
            "models": [{ "name": "m", "ttft": "300ms", "per_token": "5ms" }] }]
    }));
    aichaos::run::run_to_dir_logged(&world, &dir.path().join("w"), false, &|_, _| {}, Some(&log))
        .unwrap();
    let report = fit(&[&log], options()).unwrap();
    let provider = &report.providers[0];
    let inferred = provider.inferred.as_ref().unwrap();
    assert_eq!(inferred.binding, Binding::Tokens, "{inferred:?}");
    assert_eq!(provider.limits_source, "inferred_tpm");
    within("tpm", inferred.tpm.unwrap(), 120_000.0, 0.05);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("point to a token limit")),
        "{:?}",
        report.notes
    );
    let scenario = report.scenario("tpm", dir.path());
    let limits = &scenario["providers"][0]["rate_limits"];
    assert!(
        limits["rpm"].is_null() && limits["tpm"].as_f64().is_some(),
        "{limits}"
    );
}

/// A proxy's log with OpenAI's header names as columns, and one with Anthropic's: the
/// logged limits are the scenario's (per model), and win over what the 429s would imply.
#[test]
fn logged_rate_limit_headers_are_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    for (name, header) in [
        (
            "openai.csv",
            "x-ratelimit-limit-requests,x-ratelimit-remaining-requests,x-ratelimit-limit-tokens",
        ),
        (
            "anthropic.csv",
            "anthropic-ratelimit-requests-limit,anthropic-ratelimit-requests-remaining,anthropic-ratelimit-tokens-limit",
        ),
    ] {
        let path = dir.path().join(name);
        let mut text = format!("ts_ms,model,http_status,input_tokens,{header}\n");
        for i in 0..400 {
            let status = if i % 4 == 0 { 429 } else { 200 };
            // A tier raised late in the log: the limit announced most often is taken.
            let limit = if i < 300 { 500 } else { 5000 };
            text.push_str(&format!(
                "{},m,{status},50,{limit},{},40000\n",
                100 * i,
                499 - i % 500
            ));
        }
        std::fs::write(&path, text).unwrap();
        let report = fit_columns(&path, &[("time", "ts_ms"), ("status", "http_status")]);
        assert_eq!(report.unreadable_lines, 0, "{:?}", report.unreadable_first);
        let (target, provider) = (&report.targets[0], &report.providers[0]);
        let logged = target.logged_limits.as_ref().unwrap();
        assert_eq!(logged.limits(), (Some(500), Some(40_000)), "{name}");
        assert_eq!(logged.min_remaining_requests, Some(100));
        assert_eq!(provider.limits_source, "logged");
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("logged rate-limit headers"))
        );
        let scenario = report.scenario("logged", dir.path());
        assert_eq!(
            scenario["providers"][0]["models"][0]["rate_limits"],
            json!({ "rpm": 500, "tpm": 40000 })
        );
        assert!(scenario["providers"][0]["rate_limits"].is_null());
    }
    // A mapped column that does not hold a count is an unreadable line, with its reason.
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, "t_ns,outcome,limit\n1,ok,many\n2,ok,5\n").unwrap();
    let report = fit_columns(&path, &[("ratelimit_limit_requests", "limit")]);
    assert_eq!(report.unreadable_lines, 1);
    assert!(
        report.unreadable_first[0].contains("line 2: `limit`: `many` is not a count"),
        "{:?}",
        report.unreadable_first
    );
}

/// Two models of one provider failing at 1 % and 10 %, and a third with too few attempts:
/// each measured model has its own rates in the report, the sparse one falls back to the
/// provider's, and the notes say the scenario keeps the provider's (the format has none per
/// model).
#[test]
fn error_rates_are_measured_per_model_where_the_data_suffices() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models.csv");
    let mut text = String::from("t_ns,model,status\n");
    let mut seen = [0u64; 3];
    for i in 0..18_000u64 {
        let (k, model, every) = match i % 9 {
            0..=3 => (0, "steady", 100),
            4..=7 => (1, "flaky", 10),
            _ if i % 90 == 8 => (2, "rare", 1),
            _ => continue,
        };
        seen[k] += 1;
        let status = if seen[k] % every == 0 { 500 } else { 200 };
        text.push_str(&format!("{},{model},{status}\n", i * 100_000_000));
    }
    std::fs::write(&path, text).unwrap();
    let report = fit_columns(&path, &[]);
    let by_model = |name: &str| report.targets.iter().find(|t| t.model == name).unwrap();
    let rate = |name: &str| by_model(name).background.as_ref().unwrap()[&500].rate;
    assert_eq!(
        (
            by_model("steady").errors_source,
            by_model("flaky").errors_source
        ),
        ("model", "model")
    );
    within("steady 500s", rate("steady"), 0.01, 0.05);
    within("flaky 500s", rate("flaky"), 0.10, 0.05);
    assert_eq!(
        (
            by_model("rare").errors_source,
            by_model("rare").background.is_none()
        ),
        ("provider", true)
    );
    let notes = report.notes.join("\n");
    assert!(
        notes.contains("provider/flaky: its background errors differ"),
        "{notes}"
    );
    assert!(notes.contains("no errors or outages per model"), "{notes}");
}

#[test]
fn the_otel_genai_fixture_is_read_span_by_span() {
    let path = Path::new("tests/fixtures/otel-genai.json");
    let mut spans: Vec<Obs> = Vec::new();
    let mut unreadable = Unreadable::default();
    read_otel(path, &mut unreadable, &mut |o| spans.push(o)).unwrap();
    assert_eq!(unreadable.count, 0);
    // Six GenAI spans; the HTTP span beneath one of them is not a call of a model.
    let summary: Vec<(&str, &str, Outcome)> = spans
        .iter()
        .map(|o| (o.provider.as_str(), o.model.as_str(), o.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            ("openai", "gpt-4o", Outcome::Ok),
            ("openai", "gpt-4o", Outcome::ServerError(500)),
            ("openai", "gpt-4o", Outcome::RateLimited),
            ("openai", "gpt-4o", Outcome::Timeout),
            ("anthropic", "claude-sonnet-4", Outcome::Ok),
            ("anthropic", "claude-sonnet-4", Outcome::ServerError(529)),
        ]
    );
    assert_eq!(
        (spans[0].input_tokens, spans[0].output_tokens),
        (Some(312), Some(87))
    );
    assert_eq!(spans[0].latency_s, Some(1.25));
    assert_eq!(spans[4].ttft_s, Some(0.61));
    assert_eq!(spans[3].t_ns - spans[0].t_ns, 4_000_000_000);

    // Too few to fit a latency: the report says which part and why; the rest is written.
    let report = fit(&[path], options()).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("openai/gpt-4o: latency not fitted")),
        "{:?}",
        report.notes
    );
    let text = report.scenario("otel", Path::new(".")).to_string();
    aichaos::scenario::parse("otel.json", &text).unwrap();
}

#[test]
fn a_generic_csv_is_read_through_its_column_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.csv");
    let mut text =
        String::from("ts_ms,backend,deployment,http_status,duration_ms,completion_tokens\n");
    for i in 0..200 {
        let status = if i % 20 == 0 { 502 } else { 200 };
        text.push_str(&format!(
            "{},azure,gpt-4o-mini,{status},{},{}\n",
            1000 * i,
            400 + 10 * (i % 7),
            20 + i % 5
        ));
    }
    text.push_str("oops,azure,gpt-4o-mini,200,10,1\n");
    std::fs::write(&path, text).unwrap();
    let report = fit_columns(
        &path,
        &[
            ("time", "ts_ms"),
            ("provider", "backend"),
            ("model", "deployment"),
            ("status", "http_status"),
            ("latency", "duration_ms"),
            ("output_tokens", "completion_tokens"),
        ],
    );
    assert_eq!(report.records, 200);
    assert_eq!(report.unreadable_lines, 1);
    assert!(
        report.unreadable_first[0].contains("proxy.csv: line 202"),
        "{:?}",
        report.unreadable_first
    );
    assert_eq!(
        (
            report.targets[0].provider.as_str(),
            report.targets[0].latency_method
        ),
        ("azure", "regression")
    );
    // Latency = 0.4 s + 10 ms x (i mod 7) is independent of the tokens: slope near zero.
    assert!(report.targets[0].regression.unwrap().0 < 0.01);
    let e = &report.providers[0].background[&502];
    assert_eq!((e.count, report.providers[0].attempts), (10, 200));
}

#[test]
fn nothing_usable_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("junk.jsonl");
    std::fs::write(&log, "not json\n{\"t_ns\": 5}\n").unwrap();
    let out = dir.path().join("fitted.json");
    let (code, _, err) = crate::support::fit(&log, &out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("junk.jsonl: line 1") && err.contains("no usable record"),
        "{err}"
    );
    assert!(!out.exists() && !dir.path().join("fit.json").exists());
}

/// Eight bad lines among good ones: all counted, the first five quoted with their line
/// numbers, the rest of the log fitted and written.
#[test]
fn unreadable_lines_are_counted_and_the_first_five_shown() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.csv");
    let mut text = String::from("t_ns,outcome,latency_ns\n");
    for i in 0..100u64 {
        let latency = if i % 10 == 3 && i < 80 {
            "slow".to_string()
        } else {
            format!("{}", 1_000_000 + i)
        };
        text.push_str(&format!("{},ok,{latency}\n", i * 1_000_000_000));
    }
    std::fs::write(&log, text).unwrap();
    let out = dir.path().join("fitted.json");
    let (code, _, err) = crate::support::fit(&log, &out, &["--no-charts"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("8 unreadable line(s)"), "{err}");
    let quoted: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("log.csv: line"))
        .collect();
    assert_eq!(quoted.len(), 5, "{err}");
    assert!(
        quoted[0].contains("line 5: `latency_ns`: `slow` is not a number"),
        "{err}"
    );
    assert!(quoted[4].contains("line 45:"), "{err}");
    assert!(out.exists());
}

#[test]
fn the_command_writes_a_valid_scenario_fit_json_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.csv");
    let world = scenario(
        json!({ "duration": "5m", "providers": [{ "name": "p", "errors": { "503": 0.05 } }] }),
    );
    aichaos::run::run_to_dir_logged(&world, &dir.path().join("w"), false, &|_, _| {}, Some(&log))
        .unwrap();
    let out = dir.path().join("fitted.json");
    let (code, stdout, err) = crate::support::fit(&log, &out, &["--replay"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("p/m: ttft constant"), "{stdout}");
    for file in [
        "fit.json",
        "latency_cdf.png",
        "qq.png",
        "errors.png",
        "arrivals.png",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let scenario: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        scenario["traffic"][0]["arrivals"],
        json!({ "type": "replay", "file": "log.csv", "time_column": "t_ns" })
    );
    let (code, _, err) = aichaos(&["validate", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

/// The shipped example stays what `fit` makes of its log: the fitted scenario is refitted
/// byte for byte, and both scenarios of the example load (the replayed log included).
#[test]
fn the_shipped_fitted_incident_is_what_fit_makes_of_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fitted.json");
    let (code, _, err) = crate::support::fit(
        std::path::Path::new("models/fitted-incident/request-log.csv"),
        &out,
        &["--replay", "--no-charts"],
    );
    assert_eq!(code, 0, "{err}");
    let mut refit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("models/fitted-incident/fitted.json").unwrap(),
    )
    .unwrap();
    // Written elsewhere, the replayed file's path is absolute: compare the rest.
    refit["traffic"][0]["arrivals"]["file"] = shipped["traffic"][0]["arrivals"]["file"].clone();
    assert_eq!(refit, shipped);
    for file in ["incident.json", "fitted.json"] {
        aichaos::scenario::load_file(&format!("models/fitted-incident/{file}")).unwrap();
    }
}
