//! Real providers' mechanics (issue 12): per-model limits inside an account, input- and
//! output-token limits, how TPM counts a request, Retry-After as each provider writes it,
//! brownouts and outages that answer 429, and the two ways an account runs out of credits.

use serde_json::{Value, json};

use crate::support::{aichaos, count, run};

/// Two models in one account: a model's own limit throttles only that model, and the
/// account's limit is shared by both.
#[test]
fn model_limits_bind_their_model_and_the_account_limit_binds_all() {
    let world = |account_rpm: Value, model_rpm: Value| {
        run(json!({
            "duration": "5m",
            "traffic": [
                { "name": "app", "arrivals": { "rate": "2/s" },
                  "policy": { "retry": { "max_attempts": 1 } } },
                { "name": "other", "arrivals": { "type": "poisson", "rate": "2/s" },
                  "request": { "model": "m2", "input_tokens": 100, "output_tokens": 50, "max_tokens": 100 },
                  "policy": { "retry": { "max_attempts": 1 } } }
            ],
            "providers": [{ "name": "p", "rate_limits": { "rpm": account_rpm },
                "models": [
                    { "name": "m", "rate_limits": { "rpm": model_rpm } },
                    { "name": "m2", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0,
                      "ttft": "200ms", "per_token": "10ms" }
                ] }]
        }))
    };
    // The model's 60 RPM lets through 60 + 1/s of `m`'s 2/s; `m2` has room in the account.
    let s = world(json!(100_000), json!(60));
    let by_group = |name: &str| {
        s.groups
            .iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no group {name}"))
    };
    let (app, other) = (by_group("app"), by_group("other"));
    let app_ok = app.succeeded;
    assert!((340..=370).contains(&app_ok), "m got {app_ok}");
    assert_eq!(other.succeeded, other.arrived);
    // An account limit of 120 RPM shared by both models' 4/s: 120 + 2/s in all.
    let s = world(json!(120), json!(100_000));
    let ok = s.requests.succeeded;
    assert!((700..=730).contains(&ok), "account passed {ok}");
}

/// Anthropic's OTPM: `max_tokens` is reserved when admitted and the unused part given back
/// when the answer ends, so a limit of 12,000 output tokens a minute carries requests that
/// reserve 1,000 but write 100 at 1/s (the reservation alone would allow 12 a minute).
#[test]
fn output_token_limits_give_back_what_the_answer_did_not_use() {
    let s = run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "arrivals": { "rate": "1/s" },
            "request": { "input_tokens": 100, "output_tokens": 100, "max_tokens": 1000 },
            "policy": { "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "rate_limits": { "otpm": 12_000, "itpm": 1_000_000 } }]
    }));
    let refused = count(&s, "rate_limited");
    // With the refund about 100 output tokens a call are spent: 1/s fits 12,000 a minute
    // after the reservations in flight (1.2 s each) are counted.
    assert!(
        refused * 50 < s.requests.arrived,
        "{refused} of {} refused",
        s.requests.arrived
    );
    // Input tokens are counted on their own: 100 a call against an ITPM of 3,000 allows
    // 30 a minute of the 60 offered.
    let s = run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "arrivals": { "rate": "1/s" },
            "request": { "input_tokens": 100, "output_tokens": 100, "max_tokens": 1000 },
            "policy": { "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "rate_limits": { "itpm": 3_000, "otpm": 1_000_000 } }]
    }));
    let ok = s.requests.succeeded;
    assert!((320..=345).contains(&ok), "{ok} passed");
}

/// OpenAI counts the larger of the prompt and `max_tokens` against TPM, not their sum: at
/// 500 input and 1,000 max_tokens a 60,000 TPM limit carries 60 calls a minute, not 40.
/// Over 30 minutes 1,440 calls are offered; the sum lets about 1,240 through.
#[test]
fn tpm_counts_the_larger_of_input_and_max_tokens_when_told() {
    let refused = |counts: &str| {
        let s = run(json!({
            "duration": "30m",
            "traffic": [{ "name": "app", "arrivals": { "rate": "0.8/s" },
                "request": { "input_tokens": 500, "output_tokens": 100, "max_tokens": 1000 },
                "policy": { "retry": { "max_attempts": 1 } } }],
            "providers": [{ "name": "p", "models": [{ "name": "m", "context_window": 128000 }],
                "rate_limits": { "tpm": 60_000, "tpm_counts": counts } }]
        }));
        count(&s, "rate_limited")
    };
    // 48 a minute offered: above 40 (the sum), below 60 (the larger).
    assert_eq!(refused("larger_of_input_and_max_tokens"), 0);
    let summed = refused("input_plus_max_tokens");
    assert!((120..=300).contains(&summed), "{summed}");
}

/// The Retry-After values a 429 carries, read from the trace of a run.
fn retry_afters(unit: &str) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = crate::support::base();
    aichaos::scenario::merge_patch(
        &mut doc,
        &json!({
            "duration": "1m",
            "traffic": [{ "name": "app", "arrivals": { "rate": "3/s" },
                "policy": { "retry": { "max_attempts": 1 } } }],
            "providers": [{ "name": "p", "retry_after": unit,
                "rate_limits": { "rpm": 60, "burst": "1s" } }]
        }),
    );
    let file = dir.path().join("w.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let trace = dir.path().join("t.jsonl");
    let (code, _, stderr) = aichaos(&[
        "replay",
        file.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            e["retry_after_ns"].as_u64()
        })
        .collect()
}

/// Anthropic writes `retry-after` in whole seconds, OpenAI `retry-after-ms` in
/// milliseconds; both round up, so that the client obeying them finds room.
#[test]
fn retry_after_is_written_as_the_provider_writes_it() {
    let exact = retry_afters("exact");
    assert!(exact.len() > 50, "{}", exact.len());
    assert!(exact.iter().any(|ns| ns % 1_000_000 != 0), "{exact:?}");
    let seconds = retry_afters("seconds");
    assert_eq!(seconds.len(), exact.len());
    assert!(
        seconds
            .iter()
            .all(|ns| ns % 1_000_000_000 == 0 && *ns >= 1_000_000_000)
    );
    let millis = retry_afters("milliseconds");
    assert!(millis.iter().all(|ns| ns % 1_000_000 == 0 && *ns > 0));
    // Each is the exact wait rounded up to its unit.
    for ((e, s), m) in exact.iter().zip(&seconds).zip(&millis) {
        assert_eq!(*s, e.div_ceil(1_000_000_000) * 1_000_000_000);
        assert_eq!(*m, e.div_ceil(1_000_000) * 1_000_000);
    }
}

/// A provider incident that answers 429 to a share of calls (OpenAI's `slow_down`,
/// capacity 429s) is a brownout of the provider: its 429s carry no Retry-After, and the
/// run's fault windows name the brownout, not a rate limit.
#[test]
fn a_brownout_can_answer_429() {
    let s = run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "outages": [{ "start": "2m", "duration": "4m",
            "kind": "brownout", "error_rate": 0.5, "error_status": 429 }] }],
        "slos": [{ "name": "availability", "success_rate": 0.99, "window": "1m" }]
    }));
    let limited = count(&s, "rate_limited");
    // Half of the 4 minutes' 5/s: 600 expected.
    assert!((520..=680).contains(&limited), "{limited}");
    assert_eq!(s.providers[0].faults.windows, 1);
    // The incident it causes is blamed on the provider's brownout.
    let incident = &s.objectives.as_ref().unwrap().incidents[0];
    assert_eq!(incident.trigger.kind, "brownout", "{:?}", incident.trigger);
    assert_eq!(incident.trigger.subject.as_deref(), Some("p"));
    assert_eq!(incident.failure_mix[0].failure, "rate_limited");
    // And a hard outage may answer 429 to every call.
    let s = run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "outages": [{ "start": "2m", "duration": "1m",
            "behaviour": "429" }] }]
    }));
    let limited = count(&s, "rate_limited");
    assert!((240..=360).contains(&limited), "{limited}");
}

/// OpenAI's account out of credits answers 429 `insufficient_quota`, which the SDKs retry
/// (each retry is refused again); a 402 is never retried.
#[test]
fn exhausted_credits_answer_402_or_429_insufficient_quota() {
    let world = |status: u16| {
        run(json!({
            "duration": "10m",
            "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 3,
                "retry_on": ["insufficient_quota", "rate_limited", "5xx"] } } }],
            "providers": [{ "name": "p",
                "credits": { "balance_usd": 0.01, "exhausted_status": status } }]
        }))
    };
    let billing = world(402);
    let quota = world(429);
    assert_eq!(billing.requests.succeeded, quota.requests.succeeded);
    let refused = count(&billing, "insufficient_credits");
    assert!(refused > 1000, "{refused}");
    assert_eq!(count(&quota, "insufficient_quota"), refused);
    assert_eq!(count(&quota, "insufficient_credits"), 0);
    // The 402 is sent once; the 429 three times (and both count as credit refusals). A
    // few refusals come from reservations still in flight, and a retry may then pass.
    assert_eq!(billing.attempts.insufficient_credits, refused);
    let retried = quota.attempts.insufficient_credits;
    assert!(
        retried.abs_diff(3 * refused) <= 3,
        "{retried} vs 3 x {refused}"
    );
    assert!(quota.providers[0].first_insufficient_credits_s.is_some());
}

/// The shipped `shared-api-retry-storm`: with refused requests counted, retries that outrun
/// the limit keep the account throttled after the burst that began it (the incident
/// outlives its trigger: metastable); behind a retry budget the same client recovers.
#[test]
fn retries_that_outrun_a_counted_limit_keep_the_account_throttled() {
    let file = format!(
        "{}/models/shared-api-retry-storm.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let experiment = aichaos::scenario::load_file(&file).unwrap();
    let outcome = |name: &str| {
        let sc = experiment
            .scenarios
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no scenario {name}"));
        let s = aichaos::run::run_summary(sc).unwrap();
        let incidents = s.objectives.as_ref().unwrap().incidents.clone();
        (s.success_rate, incidents)
    };
    for stuck in ["naive retries", "openai-python"] {
        let (rate, incidents) = outcome(stuck);
        assert!(rate < 0.2, "{stuck}: {rate}");
        assert_eq!(incidents.len(), 1, "{stuck}");
        assert_eq!(incidents[0].trigger.kind, "traffic_spike");
        let m = incidents[0].metastability.as_ref().expect("judged");
        assert!(
            m.metastable && m.outlived_trigger_by_s > 2400.0,
            "{stuck}: {m:?}"
        );
    }
    let (rate, incidents) = outcome("openai-python + retry budget");
    assert!(rate > 0.85, "{rate}");
    assert_eq!(incidents.len(), 1);
    // Breached from the burst (10:00 to 13:00) until the 5-minute window has passed it.
    assert!(!incidents[0].ongoing_at_end && incidents[0].end_s < 20.0 * 60.0);
    assert!(!incidents[0].metastability.as_ref().unwrap().metastable);
}
