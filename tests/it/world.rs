//! The world model: traffic, latency, capacity, rate limits, credits, outages.

use crate::support::{count, run, scenario};
use serde_json::json;
use statrs::distribution::{ContinuousCDF, LogNormal};

/// With no faults and no capacity limit, end-to-end latency is the configured time to first
/// token: its percentiles must match the lognormal's within sampling error. The bound: the
/// true CDF at the observed p-quantile lies within p ± 4 sqrt(p (1 - p) / n), widened by the
/// histogram's 0.1 % resolution.
#[test]
fn latency_percentiles_match_the_configured_distribution() {
    let s = run(json!({
        "duration": "30m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "20/s" } }],
        "providers": [{ "name": "p", "models": [{ "name": "m",
            "ttft": { "dist": "lognormal", "median": "800ms", "p99": "4s" }, "per_token": "0s" }] }]
    }));
    let n = s.requests.succeeded as f64;
    assert_eq!(s.requests.failed, 0);
    let (mu, sigma) = aichaos::dist::lognormal_from_median_p99(0.8, 4.0);
    let truth = LogNormal::new(mu, sigma).unwrap();
    let latency = s.latency_ms.as_ref().unwrap();
    for (p, observed_ms) in [(0.5, latency.p50), (0.9, latency.p90), (0.99, latency.p99)] {
        let slack = 4.0 * (p * (1.0 - p) / n).sqrt();
        let low = truth.cdf(observed_ms / 1000.0 * 0.999);
        let high = truth.cdf(observed_ms / 1000.0 * 1.001);
        assert!(
            high >= p - slack && low <= p + slack,
            "p{p}: observed {observed_ms} ms, CDF there {low:.4}..{high:.4}"
        );
    }
    // The mean is exact (no histogram): e^(mu + sigma^2/2) within 4 standard errors.
    let mean_s = (mu + sigma * sigma / 2.0).exp();
    let sd_s = ((sigma * sigma).exp() - 1.0).sqrt() * mean_s;
    assert!(
        (latency.mean / 1000.0 - mean_s).abs() < 4.0 * sd_s / n.sqrt(),
        "mean {}",
        latency.mean
    );
}

#[test]
fn poisson_arrivals_match_the_rate() {
    let s = run(
        json!({ "duration": "1h", "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "300/min" } }] }),
    );
    let expected = 5.0 * 3600.0;
    let observed = s.requests.arrived as f64;
    assert!(
        (observed - expected).abs() < 4.0 * expected.sqrt(),
        "{observed} arrivals, expected {expected}"
    );
    assert_eq!(s.requests.arrived, s.requests.succeeded + s.requests.failed);
}

#[test]
fn requests_per_minute_bucket_never_admits_more_than_its_rate() {
    // 5/s offered against 60 RPM: at most the initial burst of 60 plus 1/s over the whole
    // simulated time (the 10 minutes and the few seconds retries take to drain).
    let s = run(json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": 60 } }] }));
    let accepted = s.providers[0].attempts_accepted;
    let bound = 60 + s.simulated_duration_s.floor() as u64 + 1;
    assert!(
        accepted <= bound && accepted >= 600,
        "accepted {accepted}, bound {bound}"
    );
    assert!(s.attempts.rate_limited > 0);
}

#[test]
fn tokens_per_minute_count_max_tokens_and_bind() {
    // Each request reserves 100 input + 100 max_tokens = 200 tokens: 6000 TPM is 30 per minute.
    let s = run(
        json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": 100000, "tpm": 6000 } }] }),
    );
    let accepted = s.providers[0].attempts_accepted;
    assert!((300..=331).contains(&accepted), "accepted {accepted}");
}

#[test]
fn credits_never_go_negative_and_exhaustion_is_never_retried_on_the_same_account() {
    // Worst case of a call: 100 x $1/M + 100 x $2/M = $0.0003; actual: $0.0002. From $0.01
    // exactly 49 calls pass: after them $0.0002 is left, short of the next reservation.
    let s = run(json!({
        "traffic": [{ "name": "app", "policy": { "fallback": [{ "provider": "p", "model": "m2" }] } }],
        "providers": [{ "name": "p", "credits": { "balance_usd": 0.01 },
            "models": [{ "name": "m" }, { "name": "m2", "input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.1, "ttft": "1s", "per_token": "0s" }] }]
    }));
    assert_eq!(s.requests.succeeded, 49);
    assert!((s.cost_usd - 0.0098).abs() < 1e-12, "cost {}", s.cost_usd);
    assert!((s.credits_remaining_usd.unwrap() - 0.0002).abs() < 1e-12);
    let exhausted = count(&s, "insufficient_credits");
    assert_eq!(exhausted, s.requests.arrived - 49);
    // One attempt per request: no retry, and no fallback to another model of the same account.
    assert_eq!(s.attempts.sent, s.requests.arrived);
    assert_eq!(s.attempts.insufficient_credits, exhausted);
    assert_eq!(s.attempts.fallbacks, 0);
    assert!(s.providers[0].first_insufficient_credits_s.is_some());
}

#[test]
fn capacity_queues_and_overload_answers_at_once() {
    // 1 slot, 0.7 s service, 5/s offered: the queue of 3 fills and the rest get 503.
    let s = run(json!({
        "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "capacity": { "slots": 1, "queue_limit": 3, "overload_status": 529 } }]
    }));
    assert_eq!(s.providers[0].queue_max, 3);
    assert!(count(&s, "http_529") > s.requests.arrived / 2);
    // One slot serves at most 600 s / 0.7 s = 857 calls, plus the 4 in the system (1 in
    // service, 3 queued) finished while the run drains.
    assert!(
        s.requests.succeeded <= 857 + 4,
        "succeeded {}",
        s.requests.succeeded
    );
}

#[test]
fn timed_out_attempts_keep_their_slot_busy() {
    // Service takes 0.7 s but clients give up after 0.5 s: every answer is wasted work.
    let s = run(json!({
        "traffic": [{ "name": "app", "policy": { "timeout": { "total": "500ms" }, "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "capacity": { "slots": 100 } }]
    }));
    assert_eq!(s.requests.succeeded, 0);
    assert_eq!(count(&s, "timeout"), s.requests.arrived);
    assert_eq!(
        s.providers[0].wasted_completions,
        s.providers[0].completed_ok
    );
    assert!(
        s.providers[0].completed_ok > 0 && s.cost_usd > 0.0,
        "the provider still bills abandoned work"
    );
}

#[test]
fn outage_behaviours_fail_the_way_clients_feel_them() {
    let outage = |behaviour: &str| {
        run(json!({
            "duration": "1m",
            "traffic": [{ "name": "app", "policy": { "timeout": { "connect": "2s", "total": "10s" }, "retry": { "max_attempts": 1 } } }],
            "providers": [{ "name": "p", "outages": [{ "start": "0s", "duration": "1h", "behaviour": behaviour }] }]
        }))
    };
    let refused = outage("refuse");
    assert_eq!(
        count(&refused, "connection_error"),
        refused.requests.arrived
    );
    let hung = outage("hang");
    assert_eq!(count(&hung, "connect_timeout"), hung.requests.arrived);
    let status = outage("502");
    assert_eq!(count(&status, "http_502"), status.requests.arrived);
}

#[test]
fn brownouts_add_errors_and_latency() {
    let s = run(json!({
        "duration": "30m",
        "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "outages": [{ "start": "0s", "duration": "1h", "kind": "brownout", "error_rate": 0.3, "error_status": 500, "latency_multiplier": 3.0 }] }]
    }));
    let rate = count(&s, "http_500") as f64 / s.requests.arrived as f64;
    let n = s.requests.arrived as f64;
    assert!(
        (rate - 0.3).abs() < 4.0 * (0.3 * 0.7 / n).sqrt(),
        "error rate {rate}"
    );
    // (200 ms + 50 x 10 ms) x 3 = 2.1 s, constant.
    let latency = s.latency_ms.unwrap();
    assert!(
        (latency.p50 - 2100.0).abs() < 3.0 && (latency.max - 2100.0).abs() < 3.0,
        "{latency:?}"
    );
}

#[test]
fn random_outages_follow_mtbf_and_mttr() {
    // Down 1/(1 + 50) of the time on average; over 200 h, about 200 outages.
    let s = run(json!({
        "duration": "200h",
        "bucket": "1h",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" }, "policy": { "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "random_outages": { "mtbf": "50m", "mttr": "1m", "behaviour": "refuse" } }]
    }));
    let down = count(&s, "connection_error") as f64 / s.requests.arrived as f64;
    assert!((down - 1.0 / 51.0).abs() < 0.006, "down fraction {down}");
}

#[test]
fn closed_loop_users_wait_for_their_answer() {
    // 3 users, no think time, 0.7 s per call: 3 / 0.7 calls per second.
    let s = run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "arrivals": { "rate": null, "type": "closed_loop", "users": 3, "think_time": "0s" }, "request": { "model": "m" } }]
    }));
    let expected = 3.0 * 600.0 / 0.7;
    assert!(
        (s.requests.arrived as f64 - expected).abs() <= 3.0,
        "{} arrivals",
        s.requests.arrived
    );
}

#[test]
fn chaos_layer_injects_the_seed_faults_in_front_of_the_provider() {
    let s = run(json!({
        "duration": "30m",
        "traffic": [{ "name": "app", "policy": { "retry": { "max_attempts": 1 } } }],
        "chaos": { "failure_rate": 0.5, "faults": { "server_error": 1, "token_exhaustion": 1, "latency": 2 }, "latency": "1s" }
    }));
    let n = s.requests.arrived as f64;
    let check = |reason: &str, p: f64| {
        let rate = count(&s, reason) as f64 / n;
        assert!(
            (rate - p).abs() < 4.0 * (p * (1.0 - p) / n).sqrt(),
            "{reason}: {rate}"
        );
    };
    check("http_500", 0.125);
    check("insufficient_credits", 0.125);
    // Injected latency delays a quarter of the requests by 1 s, and they still succeed.
    let latency = s.latency_ms.as_ref().unwrap();
    assert!(
        (latency.p50 - 700.0).abs() < 2.0 && (latency.max - 1700.0).abs() < 3.0,
        "{latency:?}"
    );
    // Faults never reached the provider: it saw only the other attempts.
    assert_eq!(
        s.providers[0].attempts_received,
        s.attempts.sent - count(&s, "http_500") - count(&s, "insufficient_credits")
    );
}

#[test]
fn context_window_is_enforced_and_falls_back() {
    let s = run(json!({
        "traffic": [{ "name": "app", "request": { "input_tokens": 5000, "max_tokens": 1000 },
            "policy": { "fallback": [{ "provider": "big", "model": "long" }] } }],
        "providers": [
            { "name": "p", "models": [{ "name": "m", "context_window": 4096 }] },
            { "name": "big", "models": [{ "name": "long", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "context_window": 100000, "ttft": "1s", "per_token": "0s" }] }
        ]
    }));
    assert_eq!(s.requests.failed, 0);
    assert_eq!(s.attempts.served_by_fallback, s.requests.succeeded);
    assert_eq!(
        s.attempts
            .failed_by_outcome
            .0
            .iter()
            .find(|(n, _)| *n == "context_length_exceeded")
            .unwrap()
            .1,
        s.requests.arrived
    );
}

#[test]
fn every_request_ends_in_exactly_one_outcome_and_the_series_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(json!({
        "duration": "20m",
        "bucket": "30s",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "20/s" },
            "policy": { "timeout": { "total": "2s" }, "breaker": { "failure_threshold": 5 } } }],
        "providers": [{ "name": "p", "capacity": { "slots": 10 }, "errors": { "500": 0.05, "hang": 0.01 },
            "rate_limits": { "rpm": 1000 }, "outages": [{ "start": "5m", "duration": "2m" }] }]
    }));
    let s = aichaos::run::run_to_dir(&sc, dir.path(), false).unwrap();
    assert_eq!(s.requests.arrived, s.requests.succeeded + s.requests.failed);
    assert_eq!(s.requests.unfinished, 0);
    let failed_sum: u64 = s.requests.failed_by_reason.0.iter().map(|(_, n)| n).sum();
    assert_eq!(failed_sum, s.requests.failed);

    let csv = std::fs::read_to_string(dir.path().join("timeseries.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 20 minutes of 30 s buckets, plus any drain after the last arrival.
    assert_eq!(rows.len(), (s.simulated_duration_s / 30.0).ceil() as usize);
    assert!(rows.len() >= 40);
    let sum = |name: &str| {
        rows.iter()
            .map(|r| r[column(name)].parse::<u64>().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("arrivals"), s.requests.arrived);
    assert_eq!(sum("successes"), s.requests.succeeded);
    assert_eq!(sum("failures"), s.requests.failed);
    assert_eq!(sum("attempts"), s.attempts.sent);
    assert_eq!(sum("retries"), s.attempts.retries);
    assert_eq!(sum("breaker_opens"), s.breaker.opens);
    assert_eq!(sum("breaker_closes"), s.breaker.closes);
    assert!(s.breaker.closes > 0);
    let open_s: f64 = rows
        .iter()
        .map(|r| r[column("breaker_open_s")].parse::<f64>().unwrap())
        .sum();
    assert!(
        (open_s - s.breaker.time_open_s).abs() < 0.01,
        "{open_s} vs {}",
        s.breaker.time_open_s
    );
    assert!(
        std::fs::read_to_string(dir.path().join("summary.json"))
            .unwrap()
            .contains("\"format\": \"aichaos.summary/1\"")
    );
}

#[test]
fn top_ups_and_auto_recharge_restore_service() {
    // $0.003 covers 10 calls; a top-up at 5 min brings 10 more. Then an auto-recharge of
    // $0.002 lands 1 min after the balance falls below $0.0005, each time.
    let s = run(json!({
        "duration": "10m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" } }],
        "providers": [{ "name": "p", "credits": {
            "balance_usd": 0.003,
            "top_ups": [{ "at": "5m", "amount_usd": 0.002 }],
            "auto_recharge": { "below_usd": 0.0005, "amount_usd": 0.002, "delay": "1m" } } }]
    }));
    // Money in = money spent + money left: the initial balance, the top-up, and a whole
    // number of recharges, at most one per minute since each takes a minute to land.
    let spent = s.cost_usd;
    let left = s.credits_remaining_usd.unwrap();
    let recharged_nusd = ((spent + left) * 1e9).round() as u64 - 3_000_000 - 2_000_000;
    assert_eq!(recharged_nusd % 2_000_000, 0, "recharges come in $0.002");
    let recharges = recharged_nusd / 2_000_000;
    assert!((4..=10).contains(&recharges), "{recharges} recharges");
    assert!(
        count(&s, "insufficient_credits") > 0,
        "gaps while a recharge is on its way"
    );
    assert_eq!(
        (s.requests.succeeded as f64 * 0.0002 * 1e9).round(),
        (spent * 1e9).round()
    );
}

#[test]
fn an_account_starting_below_its_recharge_threshold_recharges() {
    let s = run(json!({
        "duration": "2m",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" } }],
        "providers": [{ "name": "p", "credits": { "balance_usd": 0.0001, "auto_recharge": { "below_usd": 1, "amount_usd": 20, "delay": "10s" } } }]
    }));
    assert!(
        s.requests.succeeded > 80,
        "succeeded {}",
        s.requests.succeeded
    );
    assert!(count(&s, "insufficient_credits") > 0 && count(&s, "insufficient_credits") < 20);
}

#[test]
fn warm_up_traffic_is_not_billed_to_the_summary() {
    // Every call costs exactly 100 x $1/M + 50 x $2/M = $0.0002.
    let s = run(json!({ "duration": "10m", "warmup": "9m" }));
    assert!(
        (s.cost_usd - 0.0002 * s.requests.succeeded as f64).abs() < 1e-9,
        "{} for {}",
        s.cost_usd,
        s.requests.succeeded
    );
    assert!((s.cost_per_success_usd.unwrap() - 0.0002).abs() < 1e-12);
}

#[test]
fn abandoned_work_finishes_and_is_billed_after_the_last_request() {
    // 20 s of service, clients give up after 5 s: every answer is produced for nobody.
    let s = run(json!({
        "duration": "10s",
        "traffic": [{ "name": "app", "policy": { "timeout": { "total": "5s" }, "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "models": [{ "name": "m", "ttft": "20s", "per_token": "0s" }] }]
    }));
    let p = &s.providers[0];
    assert_eq!(p.completed_ok, p.attempts_accepted);
    assert_eq!(p.wasted_completions, p.completed_ok);
    assert!((s.cost_usd - 0.0002 * p.completed_ok as f64).abs() < 1e-9);
    assert!(s.simulated_duration_s >= 20.0);
}

#[test]
fn a_hard_outage_fails_the_work_in_progress() {
    // Calls take 10 s; the provider goes down at 60 s: the ~20 calls then in service fail at
    // once with a connection reset (as do the ~20 arriving later), and none of them is billed.
    let s = run(json!({
        "duration": "70s",
        "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "2/s" }, "policy": { "timeout": { "total": "30s" }, "retry": { "max_attempts": 1 } } }],
        "providers": [{ "name": "p", "capacity": { "slots": 40 },
            "models": [{ "name": "m", "ttft": "10s", "per_token": "0s" }],
            "outages": [{ "start": "60s", "duration": "1h", "behaviour": "refuse" }] }]
    }));
    assert_eq!(
        s.requests.succeeded, s.providers[0].completed_ok,
        "no answer after the outage began"
    );
    assert_eq!(s.providers[0].wasted_completions, 0);
    assert_eq!(
        count(&s, "timeout"),
        0,
        "nobody waits for an answer that will never come"
    );
    assert_eq!(count(&s, "connection_error"), s.requests.failed);
    let in_service_at_60s = s.providers[0].attempts_accepted - s.requests.succeeded;
    assert!(
        in_service_at_60s > 10,
        "{in_service_at_60s} calls were cut off"
    );
    assert!((s.cost_usd - 0.0002 * s.requests.succeeded as f64).abs() < 1e-9);
}

/// OpenAI's quantized limits (`rate_limits.burst: "1s"`): 50 requests a second against
/// 2,400 RPM are refused within seconds, not only once a whole minute's bucket has drained
/// (which takes four minutes: no 429 at all in the first minute).
#[test]
fn a_quantized_rate_limit_refuses_within_seconds() {
    let rate_limited = |burst: serde_json::Value| {
        let s = crate::support::run(json!({
            "duration": "1m",
            "traffic": [{ "name": "app", "arrivals": { "rate": "50/s" },
                "policy": { "retry": { "max_attempts": 1 } } }],
            "providers": [{ "name": "p", "rate_limits": { "rpm": 2400, "burst": burst } }]
        }));
        crate::support::count(&s, "rate_limited")
    };
    assert_eq!(rate_limited(json!("1m")), 0);
    // 10 a second over the rate once the 40-request bucket is gone after 4 s.
    let quantized = rate_limited(json!("1s"));
    assert!((450..=650).contains(&quantized), "{quantized}");
}

/// `rate_limits.count_rejected` (OpenAI: "unsuccessful requests contribute to your
/// per-minute limit"): a client retrying every 200 ms without honouring Retry-After keeps
/// spending the account's requests on 429s, and far fewer calls get through.
#[test]
fn counting_rejected_requests_keeps_a_tight_retry_loop_throttled() {
    let outcome = |count_rejected: bool| {
        crate::support::run(json!({
            "duration": "5m",
            "traffic": [{ "name": "app", "arrivals": { "rate": "12/s" },
                "policy": { "retry": { "max_attempts": 20, "retry_after": { "honour": false },
                    "backoff": { "kind": "constant", "base": "200ms" } } } }],
            "providers": [{ "name": "p", "rate_limits": { "rpm": 600, "burst": "1s",
                "count_rejected": count_rejected } }]
        }))
    };
    let (free, counted) = (outcome(false), outcome(true));
    // Without counting, the bucket's 10/s get through whatever the retries do.
    let free_rate = free.requests.succeeded as f64 / 300.0;
    assert!((9.0..=10.5).contains(&free_rate), "{free_rate}/s");
    // Counted, most of the rate is spent on refusals.
    assert!(
        counted.requests.succeeded * 2 < free.requests.succeeded,
        "{} vs {}",
        counted.requests.succeeded,
        free.requests.succeeded
    );
    assert!(counted.attempts.sent > free.attempts.sent);
}

/// `outages[].in_progress`: a crash fails the work the provider had accepted, a drain
/// (`finish`) serves it to the end while admitting nothing new.
#[test]
fn an_outage_can_let_accepted_work_finish() {
    let run = |in_progress: &str| {
        crate::support::run(json!({
            // Each call takes 10.2 s of a slot, and 0.6 calls a second offer 6.1 erlangs to
            // 4 slots: by the outage at 3m all four are busy with a queue behind them (the
            // four can have served about 70 calls of the 108 expected to arrive by then;
            // fewer than 4 in the system needs at most 72 arrivals, probability 3e-4). At
            // 0.3/s, 3 erlangs, the slots were full at 3m for 5 seeds in 20 only. Arrivals
            // stop at 4m and no wait reaches the 300 s timeout, so the runs differ only in
            // the accepted work.
            "duration": "4m",
            "traffic": [{ "name": "app", "arrivals": { "rate": "0.6/s" },
                "request": { "output_tokens": 20 },
                "policy": { "retry": { "max_attempts": 1 }, "timeout": { "total": "300s" } } }],
            "providers": [{ "name": "p", "capacity": { "slots": 4, "queue_limit": 100 },
                "models": [{ "name": "m", "per_token": "500ms" }],
                "outages": [{ "start": "3m", "duration": "1m", "kind": "down",
                    "behaviour": "503", "in_progress": in_progress }] }]
        }))
    };
    let (fail, finish) = (run("fail"), run("finish"));
    assert_eq!(fail.requests.arrived, finish.requests.arrived);
    // The same arrivals meet the outage; the accepted ones (4 in service, a queue behind
    // them) succeed only when they may finish.
    let lost = finish.requests.succeeded as i64 - fail.requests.succeeded as i64;
    assert!(
        lost >= 4,
        "{lost} more successes when accepted work finishes"
    );
    assert_eq!(
        crate::support::count(&fail, "http_503") - crate::support::count(&finish, "http_503"),
        lost as u64
    );
}
