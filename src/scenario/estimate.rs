//! What a scenario will cost before it runs: the requests it offers, how many can be alive
//! at once, the computing time and the size of its time series. `build` refuses a scenario
//! beyond the bounds of `limits` with these figures; `run` and `sweep` quote them. They read
//! only the validated `Scenario`, so they live beside it, not in the event loop.

use super::{Scenario, limits};
use crate::time::Nanos;
use crate::traffic::ArrivalModel;

/// Refuses a scenario whose run would be absurdly long or large: the field to change and the
/// reason, with an estimate (None if it is fine). Runs that pass may still stop at
/// `limits::MAX_LIVE_REQUESTS`, checked live.
pub fn refuse_if_too_large(scenario: &Scenario) -> Option<(String, String)> {
    let expected = expected_requests(scenario);
    if expected > limits::MAX_EXPECTED_REQUESTS {
        return Some((
            "duration".into(),
            format!(
                "the run would simulate about {expected:.2e} requests (limit {:.0e}), {} of \
             computing at {:.0e} requests per second; shorten `duration` or lower the rates",
                limits::MAX_EXPECTED_REQUESTS,
                format_wall_seconds(expected / limits::REQUESTS_PER_WALL_SECOND),
                limits::REQUESTS_PER_WALL_SECOND,
            ),
        ));
    }
    let by_group = live_requests_by_group(scenario);
    let live: f64 = by_group.iter().sum();
    if live <= limits::MAX_LIVE_REQUESTS_BOUND {
        return None;
    }
    let gb = live * limits::BYTES_PER_LIVE_REQUEST / 1e9;
    let budget_gb = limits::MAX_LIVE_REQUEST_BYTES / 1e9;
    // Blame the group that holds the most: its field is the one to change.
    let (group, _) = by_group
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("a scenario has groups");
    let estimate = format!(
        "up to {live:.2e} requests could be alive at once, needing about {gb:.1} GB (budget \
         {budget_gb:.0} GB)"
    );
    Some(match scenario.groups[group].arrivals {
        ArrivalModel::ClosedLoop { .. } => (
            format!("traffic[{group}].arrivals.users"),
            format!("{estimate}, most of them this group's, a request per user; lower `users`"),
        ),
        ArrivalModel::Poisson(_) | ArrivalModel::Replay(_) => (
            format!("traffic[{group}]"),
            format!(
                "{estimate}, most of them this group's (its peak arrival rate x the longest a \
                 request can live); bound the request lifetime with `policy.deadline` or shorter \
                 timeouts, or lower the peak rate"
            ),
        ),
    })
}

/// What a run will cost to compute, estimated before it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunEstimate {
    pub requests: f64,
    pub wall_seconds: f64,
    pub csv_bytes: f64,
}

/// The expected requests, computing time (at `limits::REQUESTS_PER_WALL_SECOND`) and size
/// of `timeseries.csv` of one run.
pub fn estimate_run(scenario: &Scenario) -> RunEstimate {
    let requests = expected_requests(scenario);
    let rows = scenario
        .duration_ns
        .map_or(0.0, |d| (d as f64 / scenario.bucket_ns as f64).ceil());
    let row_bytes = limits::CSV_ROW_BYTES
        + limits::CSV_ROW_BYTES_PER_PROVIDER * scenario.providers.len() as f64;
    RunEstimate {
        requests,
        wall_seconds: requests / limits::REQUESTS_PER_WALL_SECOND,
        csv_bytes: rows * row_bytes,
    }
}

/// "40 seconds", "12 minutes", "3.5 hours".
pub fn format_wall_seconds(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} seconds")
    } else if seconds < 7_200.0 {
        format!("{:.0} minutes", seconds / 60.0)
    } else {
        format!("{:.1} hours", seconds / 3_600.0)
    }
}

/// Upper bounds on the requests alive at once, group by group: each group's peak arrival
/// rate times the longest a request can live (its deadline, or every attempt of its chain
/// timing out after the longest wait, and never longer than the run); closed-loop groups
/// hold at most one request per user.
pub fn live_requests_by_group(scenario: &Scenario) -> Vec<f64> {
    let run_ns = scenario
        .duration_ns
        .map_or(Nanos::MAX, |d| d.saturating_add(scenario.drain_limit_ns));
    scenario
        .groups
        .iter()
        .map(|g| match &g.arrivals {
            ArrivalModel::ClosedLoop { users, .. } => f64::from(*users),
            // Unknown before the file is read; the loop's `MAX_LIVE_REQUESTS` still holds.
            ArrivalModel::Replay(_) => 0.0,
            ArrivalModel::Poisson(profile) => {
                let p = &g.policy;
                // The longest Retry-After the world can send: a per-minute bucket refills
                // within a minute; the chaos layer's is configured.
                let world_retry_after_ns = scenario
                    .providers
                    .iter()
                    .filter(|pr| {
                        pr.limits.is_some() || pr.models.iter().any(|m| m.limits.is_some())
                    })
                    .map(|pr| pr.retry_after.header(crate::time::NS_PER_MIN))
                    .chain(scenario.chaos.as_ref().map(|c| c.retry_after_ns))
                    .max()
                    .unwrap_or(0);
                let retry_after_ns = p.retry.retry_after.max_ns.min(world_retry_after_ns);
                let longest_wait_ns = p.retry.backoff.cap_ns.max(retry_after_ns);
                let attempts: u64 = p.chain.iter().map(|s| u64::from(s.attempts)).sum();
                let chain_ns =
                    attempts.saturating_mul(p.attempt_timeout_ns.saturating_add(longest_wait_ns));
                let lifetime_ns = chain_ns.min(p.deadline_ns).min(run_ns);
                profile.peak_rate_per_s() * crate::time::ns_to_secs(lifetime_ns)
            }
        })
        .collect()
}

/// Expected number of requests a scenario offers (for refusal estimates and progress).
pub fn expected_requests(scenario: &Scenario) -> f64 {
    let duration = scenario.duration_ns.unwrap_or(Nanos::MAX);
    scenario
        .groups
        .iter()
        .map(|g| {
            let offered = match &g.arrivals {
                ArrivalModel::Poisson(profile) => {
                    if duration == Nanos::MAX {
                        f64::INFINITY
                    } else {
                        profile.expected_arrivals(duration)
                    }
                }
                ArrivalModel::Replay(spec) => replayed_requests(spec),
                ArrivalModel::ClosedLoop { users, think } => {
                    let (p, m) = (
                        g.policy.chain[0].target.provider,
                        g.policy.chain[0].target.model,
                    );
                    let model = &scenario.providers[p as usize].models[m as usize];
                    let cycle_s = think.mean
                        + model.ttft.mean
                        + model.per_token.mean * g.request.output_tokens.mean;
                    f64::from(*users) * crate::time::ns_to_secs(duration) / cycle_s.max(1e-6)
                }
            };
            g.max_requests
                .map_or(offered, |max| offered.min(max as f64))
        })
        .sum()
}

/// A replayed file's arrivals, guessed from its size without reading it: a record of a
/// request log takes 120 (CSV) to 300 (JSON lines) bytes; 100 errs toward more requests.
fn replayed_requests(spec: &crate::traffic::ReplaySpec) -> f64 {
    const BYTES_PER_RECORD_AT_LEAST: f64 = 100.0;
    let bytes = std::fs::metadata(&spec.file).map_or(0, |m| m.len());
    bytes as f64 / BYTES_PER_RECORD_AT_LEAST * spec.rate_scale
}
