//! What the loop tells its observers: the per-group counters, Little's law's two integrals,
//! the time buckets handed to a `BucketSink`, the SLO tracker's steps, the trace hooks of a
//! replay window (`tracing`, `emit` and the trace events of a request, a breaker or a
//! provider), and the `RunResult` assembled at the end.
//!
//! Nothing here changes the simulated world: these functions only read it and count. A traced
//! point costs one comparison of the clock outside the window (`tracing`).

use crate::credits::nano_to_usd;
use crate::metrics::{BucketSink, Totals};
use crate::outcome::Failure;
use crate::policy::breaker::BreakerState;
use crate::requestlog::{AttemptKind, AttemptRecord};
use crate::scenario::Scenario;
use crate::slo::{ConditionKind, Names, SloTracker};
use crate::time::Nanos;
use crate::trace::{TraceEvent, TraceKind};
use crate::traffic::ArrivalModel;

use super::slab::{NONE, Phase};
use super::{BreakerReport, RunError, RunResult, Sim};

impl Sim<'_> {
    /// The SLOs, with the conditions known before the run: the chaos window and the
    /// traffic spikes.
    pub(super) fn slo_tracker(scenario: &Scenario) -> SloTracker {
        let scopes = scenario
            .slos
            .iter()
            .map(|s| slo_scope(scenario, s.group))
            .collect();
        let mut slo = SloTracker::scoped(
            &scenario.slos,
            scopes,
            scenario.duration_ns.unwrap_or(Nanos::MAX),
            scenario.warmup_ns,
        );
        if slo.is_empty() {
            return slo;
        }
        if let Some(chaos) = &scenario.chaos {
            slo.planned_condition(ConditionKind::Chaos, u32::MAX, chaos.start_ns, chaos.end_ns);
        }
        for (gi, g) in scenario.groups.iter().enumerate() {
            if let ArrivalModel::Poisson(profile) = &g.arrivals {
                for spike in profile.spikes.iter().filter(|s| s.multiplier > 1.0) {
                    slo.planned_condition(
                        ConditionKind::TrafficSpike,
                        gi as u32,
                        spike.start_ns,
                        spike.end_ns,
                    );
                }
            }
        }
        slo
    }

    /// Is the clock inside the traced window? One comparison: false without a trace.
    #[inline]
    pub(super) fn tracing(&self) -> bool {
        self.now >= self.observers.trace.from_ns
    }

    /// Hands an event inside the window to the trace sink; the window's opening moment
    /// first gets a snapshot of the breakers and providers not in their normal state.
    pub(super) fn emit(&mut self, event: TraceEvent) {
        if event.time_ns < self.observers.trace.from_ns
            || event.time_ns >= self.observers.trace.to_ns
        {
            return;
        }
        if !self.observers.trace.started {
            self.observers.trace.started = true;
            let snapshot = self.snapshot(self.observers.trace.from_ns);
            if let Some(sink) = self.observers.trace.sink.as_mut() {
                for e in &snapshot {
                    if let Err(err) = sink.snapshot(e) {
                        self.observers.trace.error.get_or_insert(err);
                    }
                }
            }
        }
        if let Some(sink) = self.observers.trace.sink.as_mut()
            && let Err(err) = sink.event(&event)
        {
            self.observers.trace.error.get_or_insert(err);
        }
    }

    pub(super) fn snapshot(&self, at: Nanos) -> Vec<TraceEvent> {
        let breakers = (0..self.clients.breakers.len() as u32)
            .map(|b| self.breaker_trace(b, TraceKind::BreakerState, at))
            .filter(|e| e.breaker_state != Some(BreakerState::Closed));
        let providers = self
            .observers
            .provider_condition
            .iter()
            .enumerate()
            .filter_map(|(pi, c)| {
                let kind = match c {
                    Some(ConditionKind::Outage) => TraceKind::ProviderDown,
                    Some(_) => TraceKind::ProviderBrownout,
                    None => return None,
                };
                let mut e = TraceEvent::at(at, kind);
                e.provider = pi as u16;
                Some(e)
            });
        breakers.chain(providers).collect()
    }

    /// A request's event now: its attempt, target, breaker and the target's credits.
    pub(super) fn request_trace(&self, request: u32, kind: TraceKind) -> TraceEvent {
        let r = &self.clients.requests.items[request as usize];
        let step = self.current_step(request);
        let mut e = TraceEvent::at(self.now, kind);
        e.request = r.id;
        e.attempt = r.attempts;
        e.group = r.group;
        e.provider = step.target.provider;
        e.model = step.target.model;
        e.latency_ns = Some(self.now - r.arrived_ns);
        let b = self.breaker_of(request);
        if b != NONE {
            let slot = &self.clients.breakers[b as usize];
            e.breaker = b;
            e.breaker_instance = slot.instance;
            e.breaker_state = Some(slot.breaker.state());
        }
        e.credits_nusd = self.world.providers[step.target.provider as usize]
            .credits
            .as_ref()
            .map(|c| c.balance_nusd());
        e
    }

    /// Makes a request's event that of copy `generation` of its attempt (hedging): its own
    /// attempt number; its start time is not kept, so no duration.
    pub(super) fn as_copy(&self, e: &mut TraceEvent, request: u32, generation: u32) {
        let r = &self.clients.requests.items[request as usize];
        let behind = r.generation.wrapping_sub(generation);
        if behind > 0 {
            e.attempt = r.attempts.saturating_sub(behind);
            e.attempt_ns = None;
        }
    }

    pub(super) fn breaker_trace(&self, breaker: u32, kind: TraceKind, at: Nanos) -> TraceEvent {
        let slot = &self.clients.breakers[breaker as usize];
        let mut e = TraceEvent::at(at, kind);
        e.group = slot.group;
        e.provider = slot.target.provider;
        e.model = slot.target.model;
        e.breaker = breaker;
        e.breaker_instance = slot.instance;
        e.breaker_state = Some(slot.breaker.state());
        e
    }

    pub(super) fn provider_trace(&self, provider: u16, kind: TraceKind) -> TraceEvent {
        let mut e = TraceEvent::at(self.now, kind);
        e.provider = provider;
        e.credits_nusd = self.world.providers[provider as usize]
            .credits
            .as_ref()
            .map(|c| c.balance_nusd());
        e
    }

    /// Hands copy `generation` of the request's attempt, ending now, to the request log;
    /// `streaming_ns` is how long a success streamed after its first token.
    pub(super) fn log_attempt(
        &mut self,
        request: u32,
        generation: u32,
        failure: Option<Failure>,
        streaming_ns: Nanos,
        retry_after_ns: Option<Nanos>,
    ) {
        let r = &self.clients.requests.items[request as usize];
        let step = self.current_step(request);
        // A hedged attempt's copies go out one hedging delay apart (a declined hedge ends
        // the series: `send_hedge`), so the copy `behind` copies before the latest was sent
        // that many delays before it.
        let behind = r.generation.wrapping_sub(generation);
        let hedge_delay_ns = self.scenario.groups[r.group as usize]
            .policy
            .hedging
            .map_or(0, |h| h.delay_ns);
        let sent_ns = r
            .attempt_started_ns
            .saturating_sub(u64::from(behind) * hedge_delay_ns);
        let kind = if generation != r.first_live_generation {
            AttemptKind::Hedge
        } else if r.is_retry {
            AttemptKind::Retry
        } else if r.chain_pos > 0 {
            AttemptKind::Fallback
        } else {
            AttemptKind::First
        };
        let latency_ns = self.now - sent_ns;
        let record = AttemptRecord {
            sent_ns,
            request: r.id,
            attempt: r.attempts.saturating_sub(1 + behind),
            kind,
            group: r.group,
            provider: step.target.provider,
            model: step.target.model,
            failure,
            latency_ns,
            ttft_ns: failure
                .is_none()
                .then(|| latency_ns.saturating_sub(streaming_ns)),
            input_tokens: r.input_tokens,
            output_tokens: if failure.is_none() {
                r.output_tokens
            } else {
                0
            },
            retry_after_ns,
        };
        let log = &mut self.observers.attempt_log;
        if log.error.is_none()
            && let Some(sink) = log.sink.as_mut()
            && let Err(e) = sink.attempt(&record)
        {
            log.error = Some(e);
        }
    }

    /// Closes the SLOs' steps up to `now`, tracing what they report.
    pub(super) fn slo_steps(&mut self, now: Nanos) {
        self.observers.slo.advance(now);
        if !self.observers.slo.events.is_empty() {
            for (at, event) in std::mem::take(&mut self.observers.slo.events) {
                self.emit(TraceEvent::at(at, TraceKind::Slo(event)));
            }
        }
    }

    /// Integrates the number of requests in the system up to now; call before it changes.
    #[inline]
    pub(super) fn in_system_changes(&mut self) {
        let live = self.clients.requests.live() as u128;
        self.observers.little.in_system_area_ns +=
            live * u128::from(self.now - self.observers.in_system_changed_ns);
        self.observers.in_system_changed_ns = self.now;
    }

    /// Adds to the group's totals (if the request counts) and the bucket's. The run's
    /// totals are the sum of its groups', taken at the end.
    #[inline]
    pub(super) fn count(&mut self, group: u16, counted: bool, add: impl Fn(&mut Totals)) {
        if counted {
            add(&mut self.clients.groups[group as usize].totals);
        }
        add(&mut self.observers.bucket.totals);
    }

    pub(super) fn close_bucket(
        &mut self,
        sink: &mut dyn BucketSink,
        run_end_ns: Nanos,
    ) -> Result<(), RunError> {
        for (slot, interval) in self
            .clients
            .breakers
            .iter()
            .zip(self.observers.breaker_intervals.iter_mut())
        {
            *interval = slot.open_interval;
        }
        let credits = self
            .world
            .providers
            .iter()
            .map(|p| p.credits.as_ref().map(|c| nano_to_usd(c.balance_nusd())));
        self.observers
            .bucket
            .close(sink, run_end_ns, &self.observers.breaker_intervals, credits)
            .map_err(RunError::Io)
    }

    pub(super) fn finish_run(
        &mut self,
        sink: &mut dyn BucketSink,
        end_ns: Nanos,
    ) -> Result<RunResult, RunError> {
        // Close every bucket up to the end; the last one may be partial.
        while self.observers.bucket.start_ns < end_ns {
            self.close_bucket(sink, end_ns)?;
        }
        self.in_system_changes();
        debug_assert!(
            self.clients.requests.live() > 0
                || self.observers.little.in_system_area_ns
                    == self.observers.little.time_in_system_sum_ns,
            "Little's law must hold exactly once every request has ended: {:?}",
            self.observers.little
        );
        let unfinished = self
            .clients
            .requests
            .items
            .iter()
            .filter(|r| r.phase != Phase::Free)
            .count() as u64;
        let breakers = self
            .clients
            .breakers
            .iter()
            .map(|b| {
                // Open time beyond the end of the run does not count.
                let beyond = b
                    .open_interval
                    .1
                    .saturating_sub(end_ns.max(b.open_interval.0));
                BreakerReport {
                    group: b.group,
                    target: b.target,
                    opens: b.opens,
                    instance: b.instance,
                    closes: b.closes,
                    first_open_ns: b.first_open_ns,
                    time_open_ns: b.open_ns_total - beyond,
                    // Half-open is entered lazily by the next call; a breaker whose open
                    // period ran out before the end is half-open by then.
                    final_state: match b.breaker.state() {
                        BreakerState::Open if b.open_interval.1 <= end_ns => "half_open",
                        state => state.name(),
                    },
                }
            })
            .collect();
        let names = Names {
            groups: self
                .scenario
                .groups
                .iter()
                .map(|g| g.name.as_str())
                .collect(),
            providers: self
                .scenario
                .providers
                .iter()
                .map(|p| p.name.as_str())
                .collect(),
        };
        let slo =
            std::mem::replace(&mut self.observers.slo, SloTracker::new(&[])).finish(end_ns, &names);
        Ok(RunResult {
            slo,
            totals: self
                .clients
                .groups
                .iter()
                .fold(Totals::default(), |mut run, g| {
                    run.add(&g.totals);
                    run
                }),
            latency_ok: self.observers.latency_ok.clone(),
            latency_failed: self.observers.latency_failed.clone(),
            groups: self
                .clients
                .groups
                .iter()
                .map(|g| g.totals.clone())
                .collect(),
            providers: self.observers.provider_totals.clone(),
            credits_remaining_nusd: self
                .world
                .providers
                .iter()
                .map(|p| p.credits.as_ref().map(|c| c.balance_nusd()))
                .collect(),
            breakers,
            recent_errors: self.observers.recent_errors.in_order().copied().collect(),
            false_opens: self.observers.false_opens,
            target_answers: self
                .scenario
                .providers
                .iter()
                .zip(&self.observers.target_offsets)
                .map(|(p, &first)| {
                    (first..first + p.models.len())
                        .map(|i| {
                            (
                                self.observers.target_answers[i],
                                self.observers.target_cost_nusd[i],
                                self.observers.target_fallbacks[i],
                            )
                        })
                        .collect()
                })
                .collect(),
            events_processed: self.events_processed,
            unfinished,
            end_ns,
            little: self.observers.little,
        })
    }
}

/// What can explain an SLO's breaches: the providers its group (or every group) calls, and
/// whether the chaos layer touches that traffic.
pub(super) fn slo_scope(scenario: &Scenario, group: Option<u16>) -> crate::slo::Scope {
    let mut providers = vec![false; scenario.providers.len()];
    let mut chaos = false;
    for (gi, g) in scenario.groups.iter().enumerate() {
        if group.is_some_and(|x| usize::from(x) != gi) {
            continue;
        }
        for step in &g.policy.chain {
            let p = step.target.provider as usize;
            providers[p] = true;
            chaos |= scenario
                .chaos
                .as_ref()
                .is_some_and(|c| c.groups[gi] && c.providers[p]);
        }
    }
    crate::slo::Scope { providers, chaos }
}
