//! The event loop: one run of one scenario on a virtual clock.
//!
//! `Sim::step` pops the earliest `(time, seq)` event and dispatches on it; handlers are
//! small functions that change state and schedule what follows. A request's life:
//!
//! ```text
//! arrival ─▶ start_attempt ─▶ breaker ─▶ chaos layer ─▶ provider.admit ─▶ queue/serve
//!                ▲                                                     │
//!                └── backoff / fallback ◀── attempt_failed ◀──────────┤ (error, 429,
//!                                                                      │  timeout, ...)
//!                                              finish(success) ◀───────┘
//! ```
//!
//! Nothing here reads the wall clock, allocates per event (requests and jobs live in slabs
//! whose slots are reused), or iterates a hash map. Cancellation is lazy: every attempt has
//! a generation number, and timers or responses for an older generation are ignored.

use rand::RngExt;

use crate::chaos::ChaosFault;
use crate::credits::nano_to_usd;
use crate::events::{Event, EventQueue, Lane};
use crate::metrics::{
    BucketSink, BucketStats, ErrorRecord, ProviderTotals, RecentErrors, Totals, latency_histogram,
    record_latency,
};
use crate::outage::DownBehaviour;
use crate::outcome::Failure;
use crate::policy::breaker::{self, Admission, Breaker, BreakerState, Epoch, Recorded, Transition};
use std::collections::VecDeque;

use crate::policy::budget::{AdaptiveThrottle, RetryBudget, accepted};
use crate::policy::cooldown::Cooldown;
use crate::policy::{ChainStep, MAX_OUTER_RETRY_LAYERS, NextStep};
use crate::provider::{ProviderState, RANDOM_OUTAGE_ID, ServiceKind, Verdict};
use crate::ratelimit::TokenBucket;
use crate::rng::{DrawCursor, RequestDraws, SimRng, named_stream};
use crate::scenario::{Scenario, limits};
use crate::slo::{ConditionKind, Names, SloReport, SloTracker};
use crate::time::{Nanos, secs_to_ns};
use crate::trace::{TraceEvent, TraceKind, TraceSink};
use crate::traffic::{ArrivalModel, ArrivalProcess};
use hdrhistogram::Histogram;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Free,
    /// Waiting for an AttemptStart (backoff, or a fallback about to start).
    Waiting,
    /// An attempt is out: waiting for its answer or its timeout.
    InFlight,
}

/// A logical request, alive from its arrival to its final outcome.
#[derive(Debug, Clone, Copy)]
struct Request {
    id: u64,
    arrived_ns: Nanos,
    /// What the backoff kept from the previous retry on this target (`BackoffMemory`).
    backoff_memory: u64,
    /// Where this request's next world draw comes from (see `rng`).
    draws: DrawCursor,
    /// Bumped at every attempt and when the slot is freed; never reset, so a stale timer
    /// cannot match a later request reusing the slot.
    generation: u32,
    attempts: u32,
    attempts_on_target: u32,
    input_tokens: u32,
    output_tokens: u32,
    user: u32,
    group: u16,
    chain_pos: u8,
    phase: Phase,
    /// The breaker the current attempt passed (NONE without one) and the state it was
    /// admitted in; when the attempt started (a call's duration, for slow-call rules).
    breaker: u32,
    breaker_epoch: Epoch,
    attempt_started_ns: Nanos,
    /// The attempt out is a retry (not the first on its target), and what the retry budget
    /// charged for it (AWS quota refunds it on success).
    is_retry: bool,
    retry_cost: u16,
    /// The copies of the current attempt still out, as bits from `first_live_generation`
    /// (one bit without hedging), and the hedges sent for it.
    copies: u16,
    /// Holds a bulkhead slot handed over while it waited (used by its next send).
    bulkhead_slot: bool,
    hedges: u8,
    first_live_generation: u32,
    /// Retries taken by each outer retry layer in its current call.
    layer_retries: [u8; MAX_OUTER_RETRY_LAYERS],
    /// Each outer layer's backoff memory, as `backoff_memory` is the innermost loop's.
    layer_memory: [u64; MAX_OUTER_RETRY_LAYERS],
    /// Arrived after the warm-up: counts in the summary.
    counted: bool,
}

/// An attempt as the provider sees it. Outlives the client's interest in it.
#[derive(Debug, Clone, Copy)]
struct Job {
    request: u32,
    generation: u32,
    provider: u16,
    model: u16,
    kind: ServiceKind,
    service_ns: Nanos,
    input_tokens: u32,
    output_tokens: u32,
    reserved_nusd: u64,
    admitted_ns: Nanos,
    /// The request's group and whether it counts in the summary (arrived after the
    /// warm-up): the bill is the request's, whoever still waits for it.
    group: u16,
    counted: bool,
    /// In the slab (not yet freed): lets an outage find the work in progress.
    live: bool,
}

/// A slab: slots reused through a free list, so steady state allocates nothing.
struct Slab<T> {
    items: Vec<T>,
    free: Vec<u32>,
}

impl<T: Copy> Slab<T> {
    fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    #[inline]
    fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = item;
                i
            }
            None => {
                self.items.push(item);
                (self.items.len() - 1) as u32
            }
        }
    }

    #[inline]
    fn release(&mut self, index: u32) {
        self.free.push(index);
    }

    fn live(&self) -> usize {
        self.items.len() - self.free.len()
    }
}

struct GroupState {
    traffic: ArrivalProcess,
    jitter: SimRng,
    arrived: u64,
    /// The lane holding this group's attempt timeouts (all of one duration).
    timeout_lane: Lane,
    /// For each step of the chain, the index of its first breaker (NONE without one); a
    /// fleet of N instances has N consecutive breakers, instance = request id mod N.
    breakers: Vec<u32>,
    breaker_instances: u32,
    totals: Totals,
    /// Requests of the group alive now, and retry attempts in flight (Envoy's budget).
    live: u64,
    retries_in_flight: u64,
    budget: Option<RetryBudget>,
    throttle: Option<AdaptiveThrottle>,
    /// LiteLLM cooldown per step of the chain.
    cooldowns: Vec<Cooldown>,
    /// The client-side RPM / TPM limiter's buckets.
    limiter_rpm: Option<TokenBucket>,
    limiter_tpm: Option<TokenBucket>,
    /// Attempts of the group out now, and requests waiting for the bulkhead (with the
    /// generation they wait in).
    in_flight: u32,
    bulkhead_queue: VecDeque<(u32, u32)>,
}

struct BreakerSlot {
    breaker: Breaker,
    group: u16,
    target: crate::policy::TargetRef,
    /// The current or last open interval, for the time series.
    open_interval: (Nanos, Nanos),
    opens: u64,
    open_ns_total: Nanos,
    first_open_ns: Option<Nanos>,
    closes: u64,
    instance: u32,
}

/// Everything a run produced apart from the time series rows.
pub struct RunResult {
    pub totals: Totals,
    pub latency_ok: Histogram<u64>,
    pub latency_failed: Histogram<u64>,
    pub groups: Vec<Totals>,
    pub providers: Vec<ProviderTotals>,
    pub credits_remaining_nusd: Vec<Option<u64>>,
    pub breakers: Vec<BreakerReport>,
    pub recent_errors: Vec<ErrorRecord>,
    /// Breaker openings outside any fault window of their provider.
    pub false_opens: u64,
    /// Per provider, per model: answers delivered, cost and fallbacks into it (counted
    /// requests).
    pub target_answers: Vec<Vec<(u64, u64, u64)>>,
    pub events_processed: u64,
    /// Requests still alive when the drain limit stopped the run.
    pub unfinished: u64,
    pub end_ns: Nanos,
    pub little: LittlesLaw,
    pub slo: SloReport,
}

/// Both sides of Little's law over the whole run (warm-up included), exactly: the integral
/// of the number of requests in the system, and the sum of their times in the system. With
/// every request drained the two are equal to the nanosecond; L = λW follows by dividing by
/// the run's length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LittlesLaw {
    pub arrived: u64,
    pub ended: u64,
    pub in_system_area_ns: u128,
    pub time_in_system_sum_ns: u128,
}

pub struct BreakerReport {
    pub group: u16,
    pub target: crate::policy::TargetRef,
    pub instance: u32,
    pub closes: u64,
    pub opens: u64,
    pub first_open_ns: Option<Nanos>,
    pub time_open_ns: Nanos,
    pub final_state: &'static str,
}

pub struct Sim<'a> {
    scenario: &'a Scenario,
    now: Nanos,
    queue: EventQueue,
    requests: Slab<Request>,
    jobs: Slab<Job>,
    providers: Vec<ProviderState>,
    breakers: Vec<BreakerSlot>,
    groups: Vec<GroupState>,
    draws: RequestDraws,
    outage_rngs: Vec<SimRng>,
    next_request_id: u64,
    arrivals_end_ns: Nanos,
    hard_stop_ns: Nanos,
    events_processed: u64,
    totals: Totals,
    latency_ok: Histogram<u64>,
    latency_failed: Histogram<u64>,
    provider_totals: Vec<ProviderTotals>,
    recent_errors: RecentErrors,
    bucket: BucketStats,
    breaker_intervals: Vec<(Nanos, Nanos)>,
    little: LittlesLaw,
    /// When the number of requests in the system last changed (for `little`).
    in_system_changed_ns: Nanos,
    /// Per provider: the fault window in progress or just ended, for detection and recovery.
    faults: Vec<FaultWindow>,
    false_opens: u64,
    /// The copy an answer being handled belongs to, when it is not the latest (hedging).
    answering: Option<u32>,
    /// Per (provider, model), flattened by `target_index`: answers delivered to counted
    /// requests, and what counted calls to it cost.
    target_answers: Vec<u64>,
    target_cost_nusd: Vec<u64>,
    target_fallbacks: Vec<u64>,
    /// The first flattened index of each provider's models.
    target_offsets: Vec<usize>,
    slo: SloTracker,
    /// Per provider: the condition it is in (outage, brownout), and whether its credits
    /// ran out (until the next deposit); for the SLOs' incident triggers and traces.
    provider_condition: Vec<Option<ConditionKind>>,
    credits_out: Vec<bool>,
    trace: Trace<'a>,
    /// Told the simulated time and the requests so far, every `WATCH_EVERY` events.
    progress: Option<&'a dyn Fn(Nanos, u64)>,
}

/// How often (in events) the loop reports progress and looks for Ctrl-C: rarely enough to
/// cost nothing, often enough to answer within milliseconds.
const WATCH_EVERY: u64 = 1 << 16;

/// A trace of the window [from, to), or none (from = to = never).
struct Trace<'a> {
    sink: Option<&'a mut dyn TraceSink>,
    from_ns: Nanos,
    to_ns: Nanos,
    started: bool,
    error: Option<std::io::Error>,
}

/// A provider's current fault window (outage or brownout), as the breakers and clients see it.
#[derive(Debug, Clone, Copy, Default)]
struct FaultWindow {
    degraded_since_ns: Option<Nanos>,
    /// A breaker opened since the window began.
    detected: bool,
    last_fault_end_ns: Option<Nanos>,
    /// The window ended and no answer from the provider has come since.
    recovering_since_ns: Option<Nanos>,
}

/// A run that could not complete.
#[derive(Debug)]
pub enum RunError {
    /// The sink failed to write a time-series row.
    Io(std::io::Error),
    /// A limit from `scenario::limits` was hit.
    Limit(String),
    /// An output file could not be written (disk full, permissions): what failed, and the
    /// files of the run that are complete nonetheless.
    Output {
        what: String,
        complete: Vec<&'static str>,
    },
    /// Ctrl-C: the run stopped at this simulated time.
    Interrupted(Nanos),
    /// A replay's window begins after the run ended (at this time).
    EndedBeforeWindow(Nanos),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Io(e) => write!(f, "cannot write the time series: {e}"),
            RunError::Limit(why) => f.write_str(why),
            RunError::Output { what, complete } if complete.is_empty() => {
                write!(f, "{what}; nothing of this run was kept")
            }
            RunError::Output { what, complete } => {
                write!(f, "{what}; complete nonetheless: {}", complete.join(", "))
            }
            RunError::EndedBeforeWindow(at) => write!(
                f,
                "the run ended at {}, before the window begins; choose an earlier --from",
                crate::time::format_clock(*at)
            ),
            RunError::Interrupted(at) => write!(
                f,
                "interrupted at simulated time {}",
                crate::time::format_clock(*at)
            ),
        }
    }
}

impl RunError {
    /// The command's exit code for this failure: the signal's (130, 143) after an
    /// interruption, 3 when an output could not be written, 2 for a scenario that cannot run.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Interrupted(_) => crate::interrupt::exit_code(),
            RunError::Io(_) | RunError::Output { .. } => crate::error::EXIT_OUTPUT_FAILED,
            RunError::Limit(_) | RunError::EndedBeforeWindow(_) => crate::error::EXIT_BAD_INPUT,
        }
    }
}

/// Runs a scenario to completion, handing each time bucket to `sink`.
pub fn run(scenario: &Scenario, sink: &mut dyn BucketSink) -> Result<RunResult, RunError> {
    let mut sim = Sim::new(scenario);
    sim.run(sink)
}

impl<'a> Sim<'a> {
    pub fn new(scenario: &'a Scenario) -> Self {
        let seed = scenario.seed;
        let mut queue = EventQueue::new();
        let mut breakers = Vec::new();
        let groups = scenario
            .groups
            .iter()
            .enumerate()
            .map(|(gi, g)| {
                let mut chain_breakers = Vec::new();
                for (pos, step) in g.policy.chain.iter().enumerate() {
                    // One breaker per (group, target); a target listed twice shares it.
                    let earlier = g.policy.chain[..pos]
                        .iter()
                        .position(|s| s.target == step.target);
                    let index = match (&g.policy.breaker, earlier) {
                        (None, _) => NONE,
                        (Some(_), Some(e)) => chain_breakers[e],
                        (Some(config), None) => {
                            let first = breakers.len() as u32;
                            for instance in 0..config.instances {
                                breakers.push(BreakerSlot {
                                    breaker: Breaker::new(config.clone()),
                                    group: gi as u16,
                                    target: step.target,
                                    open_interval: (0, 0),
                                    opens: 0,
                                    open_ns_total: 0,
                                    first_open_ns: None,
                                    closes: 0,
                                    instance,
                                });
                            }
                            first
                        }
                    };
                    chain_breakers.push(index);
                }
                GroupState {
                    traffic: ArrivalProcess::new(named_stream(
                        seed,
                        &format!("traffic/{}", g.name),
                    )),
                    jitter: named_stream(seed, &format!("jitter/{}", g.name)),
                    arrived: 0,
                    timeout_lane: queue.lane_for(g.policy.attempt_timeout_ns),
                    breakers: chain_breakers,
                    breaker_instances: g.policy.breaker.as_ref().map_or(1, |b| b.instances),
                    totals: Totals::default(),
                    live: 0,
                    retries_in_flight: 0,
                    budget: g.policy.retry_budget.clone().map(RetryBudget::new),
                    throttle: g
                        .policy
                        .adaptive_throttling
                        .map(|(k, window_s)| AdaptiveThrottle::new(k, window_s)),
                    cooldowns: vec![Cooldown::default(); g.policy.chain.len()],
                    limiter_rpm: g
                        .policy
                        .rate_limiter
                        .and_then(|l| l.rpm)
                        .map(TokenBucket::per_minute),
                    limiter_tpm: g
                        .policy
                        .rate_limiter
                        .and_then(|l| l.tpm)
                        .map(TokenBucket::per_minute),
                    in_flight: 0,
                    bulkhead_queue: VecDeque::new(),
                }
            })
            .collect();
        let arrivals_end_ns = scenario.duration_ns.unwrap_or(Nanos::MAX);
        let breaker_count = breakers.len();
        let target_offsets: Vec<usize> = scenario
            .providers
            .iter()
            .scan(0, |next, p| {
                let first = *next;
                *next += p.models.len();
                Some(first)
            })
            .collect();
        let targets = scenario.providers.iter().map(|p| p.models.len()).sum();
        Sim {
            scenario,
            now: 0,
            queue,
            requests: Slab::new(),
            jobs: Slab::new(),
            providers: scenario.providers.iter().map(ProviderState::new).collect(),
            breakers,
            groups,
            draws: RequestDraws::new(seed),
            outage_rngs: scenario
                .providers
                .iter()
                .map(|p| named_stream(seed, &format!("outages/{}", p.name)))
                .collect(),
            next_request_id: 0,
            arrivals_end_ns,
            hard_stop_ns: arrivals_end_ns.saturating_add(scenario.drain_limit_ns),
            events_processed: 0,
            totals: Totals::default(),
            latency_ok: latency_histogram(3),
            latency_failed: latency_histogram(3),
            provider_totals: vec![ProviderTotals::default(); scenario.providers.len()],
            recent_errors: RecentErrors::new(),
            bucket: BucketStats::new(
                scenario.bucket_ns,
                scenario.providers.len(),
                scenario.chaos.as_ref().map(|c| (c.start_ns, c.end_ns)),
            ),
            breaker_intervals: vec![(0, 0); breaker_count],
            little: LittlesLaw::default(),
            in_system_changed_ns: 0,
            faults: vec![FaultWindow::default(); scenario.providers.len()],
            false_opens: 0,
            answering: None,
            target_answers: vec![0; targets],
            target_cost_nusd: vec![0; targets],
            target_fallbacks: vec![0; targets],
            target_offsets,
            slo: Self::slo_tracker(scenario),
            provider_condition: vec![None; scenario.providers.len()],
            credits_out: vec![false; scenario.providers.len()],
            trace: Trace {
                sink: None,
                from_ns: Nanos::MAX,
                to_ns: Nanos::MAX,
                started: false,
                error: None,
            },
            progress: None,
        }
    }

    /// Reports (simulated time, requests arrived) every 65,536 events, for a progress bar.
    pub fn watch(&mut self, progress: &'a dyn Fn(Nanos, u64)) {
        self.progress = Some(progress);
    }

    /// The SLOs, with the conditions known before the run: the chaos window and the
    /// traffic spikes.
    fn slo_tracker(scenario: &Scenario) -> SloTracker {
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

    /// Traces every event in [from_ns, to_ns) into `sink`; the run stops at `to_ns`.
    pub fn trace_window(&mut self, from_ns: Nanos, to_ns: Nanos, sink: &'a mut dyn TraceSink) {
        self.trace = Trace {
            sink: Some(sink),
            from_ns,
            to_ns,
            started: false,
            error: None,
        };
        self.slo.record_events();
    }

    /// Is the clock inside the traced window? One comparison: false without a trace.
    #[inline]
    fn tracing(&self) -> bool {
        self.now >= self.trace.from_ns
    }

    /// Hands an event inside the window to the trace sink; the window's opening moment
    /// first gets a snapshot of the breakers and providers not in their normal state.
    fn emit(&mut self, event: TraceEvent) {
        if event.time_ns < self.trace.from_ns || event.time_ns >= self.trace.to_ns {
            return;
        }
        if !self.trace.started {
            self.trace.started = true;
            let snapshot = self.snapshot(self.trace.from_ns);
            if let Some(sink) = self.trace.sink.as_mut() {
                for e in &snapshot {
                    if let Err(err) = sink.snapshot(e) {
                        self.trace.error.get_or_insert(err);
                    }
                }
            }
        }
        if let Some(sink) = self.trace.sink.as_mut()
            && let Err(err) = sink.event(&event)
        {
            self.trace.error.get_or_insert(err);
        }
    }

    fn snapshot(&self, at: Nanos) -> Vec<TraceEvent> {
        let breakers = (0..self.breakers.len() as u32)
            .map(|b| self.breaker_trace(b, TraceKind::BreakerState, at))
            .filter(|e| e.breaker_state != Some(BreakerState::Closed));
        let providers = self
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
    fn request_trace(&self, request: u32, kind: TraceKind) -> TraceEvent {
        let r = &self.requests.items[request as usize];
        let step = self.current_step(request);
        let mut e = TraceEvent::at(self.now, kind);
        e.request = r.id;
        e.attempt = r.attempts;
        e.group = r.group;
        e.provider = step.target.provider;
        e.model = step.target.model;
        e.latency_ns = Some(self.now - r.arrived_ns);
        let g = &self.groups[r.group as usize];
        let first = g.breakers[r.chain_pos as usize];
        if first != NONE {
            let b = first + (r.id % u64::from(g.breaker_instances)) as u32;
            let slot = &self.breakers[b as usize];
            e.breaker = b;
            e.breaker_instance = slot.instance;
            e.breaker_state = Some(slot.breaker.state());
        }
        e.credits_nusd = self.providers[step.target.provider as usize]
            .credits
            .as_ref()
            .map(|c| c.balance_nusd());
        e
    }

    /// Makes a request's event that of copy `generation` of its attempt (hedging): its own
    /// attempt number; its start time is not kept, so no duration.
    fn as_copy(&self, e: &mut TraceEvent, request: u32, generation: u32) {
        let r = &self.requests.items[request as usize];
        let behind = r.generation.wrapping_sub(generation);
        if behind > 0 {
            e.attempt = r.attempts.saturating_sub(behind);
            e.attempt_ns = None;
        }
    }

    fn breaker_trace(&self, breaker: u32, kind: TraceKind, at: Nanos) -> TraceEvent {
        let slot = &self.breakers[breaker as usize];
        let mut e = TraceEvent::at(at, kind);
        e.group = slot.group;
        e.provider = slot.target.provider;
        e.model = slot.target.model;
        e.breaker = breaker;
        e.breaker_instance = slot.instance;
        e.breaker_state = Some(slot.breaker.state());
        e
    }

    fn provider_trace(&self, provider: u16, kind: TraceKind) -> TraceEvent {
        let mut e = TraceEvent::at(self.now, kind);
        e.provider = provider;
        e.credits_nusd = self.providers[provider as usize]
            .credits
            .as_ref()
            .map(|c| c.balance_nusd());
        e
    }

    /// Closes the SLOs' steps up to `now`, tracing what they report.
    fn slo_steps(&mut self, now: Nanos) {
        self.slo.advance(now);
        if !self.slo.events.is_empty() {
            for (at, event) in std::mem::take(&mut self.slo.events) {
                self.emit(TraceEvent::at(at, TraceKind::Slo(event)));
            }
        }
    }

    /// Credits of `provider` ran out (a 402 from the account itself) or came back.
    fn credits_changed(&mut self, provider: u16, out: bool) {
        let pi = provider as usize;
        if self.credits_out[pi] == out {
            return;
        }
        self.credits_out[pi] = out;
        self.slo.condition(
            ConditionKind::CreditsExhausted,
            u32::from(provider),
            self.now,
            out,
        );
        if self.tracing() {
            let kind = if out {
                TraceKind::CreditsExhausted
            } else {
                TraceKind::CreditsAdded
            };
            self.emit(self.provider_trace(provider, kind));
        }
    }

    fn schedule_initial_events(&mut self) {
        let sc = self.scenario;
        for (gi, g) in sc.groups.iter().enumerate() {
            let gi16 = gi as u16;
            match &g.arrivals {
                ArrivalModel::Poisson(profile) => {
                    if let Some(t) = self.groups[gi].traffic.next(profile, 0) {
                        self.schedule_arrival(t, Event::Arrival { group: gi16 });
                    }
                }
                ArrivalModel::ClosedLoop { users, think } => {
                    // Users start spread over one think time, not all at t = 0.
                    for user in 0..*users {
                        let t = secs_to_ns(think.sample(self.groups[gi].traffic.rng()));
                        self.schedule_arrival(t, Event::UserWakes { group: gi16, user });
                    }
                }
            }
        }
        for (pi, p) in sc.providers.iter().enumerate() {
            let provider = pi as u16;
            // An account may start below its auto-recharge threshold.
            self.check_recharge(provider);
            for (oi, o) in p.outages.iter().enumerate() {
                self.schedule_background(
                    o.start_ns,
                    Event::OutageStarts {
                        provider,
                        outage: oi as u32,
                    },
                );
            }
            if let Some(r) = &p.random_outages {
                let up = crate::dist::exponential_ns(&mut self.outage_rngs[pi], r.mtbf_ns);
                self.schedule_background(up, Event::RandomOutageStarts { provider });
            }
            if let Some(credits) = &p.credits {
                for (index, (at, _)) in credits.top_ups.iter().enumerate() {
                    self.schedule_background(
                        *at,
                        Event::TopUp {
                            provider,
                            index: index as u32,
                        },
                    );
                }
            }
        }
    }

    /// Arrivals only inside the run's duration.
    fn schedule_arrival(&mut self, time: Nanos, event: Event) {
        if time < self.arrivals_end_ns {
            self.queue.schedule(time, event);
        }
    }

    /// World events (outages, top-ups) only while the run may still go on.
    fn schedule_background(&mut self, time: Nanos, event: Event) {
        if time < self.hard_stop_ns {
            self.queue.schedule(time, event);
        }
    }

    pub fn run(&mut self, sink: &mut dyn BucketSink) -> Result<RunResult, RunError> {
        self.play(sink)?;
        let end_ns = match self.scenario.duration_ns {
            // A timed run reports its whole duration even if the last request ended early.
            Some(d) => d.max(self.now),
            None => self.now,
        };
        self.finish_run(sink, end_ns)
    }

    /// Plays the traced window (set by `trace_window`) and stops at its end; returns the
    /// time the trace ends (the window's end, or the run's if it ended first).
    pub fn replay(&mut self) -> Result<Nanos, RunError> {
        self.play(&mut crate::metrics::NoRows)?;
        let end_ns = self.trace.to_ns.min(match self.scenario.duration_ns {
            Some(d) => d.max(self.now),
            None => self.now,
        });
        if self.trace.to_ns > end_ns {
            // The run ended inside the window: its last SLO steps are part of the trace.
            self.slo_steps(end_ns);
        }
        if let Some(sink) = self.trace.sink.as_mut()
            && let Err(err) = sink.finish(end_ns)
        {
            self.trace.error.get_or_insert(err);
        }
        match self.trace.error.take() {
            Some(err) => Err(RunError::Io(err)),
            None => Ok(end_ns),
        }
    }

    /// The event loop, until the run is over (or the traced window is).
    fn play(&mut self, sink: &mut dyn BucketSink) -> Result<(), RunError> {
        self.schedule_initial_events();
        while let Some((time, event)) = self.queue.pop() {
            if time >= self.hard_stop_ns {
                break;
            }
            if time >= self.trace.to_ns {
                // The SLO steps that end inside the window belong to its trace.
                self.slo_steps(self.trace.to_ns - 1);
                break;
            }
            // Done when no arrival can come, no request is alive and the providers have
            // finished (and billed) the work clients abandoned.
            let arrivals_over = time >= self.arrivals_end_ns || self.arrivals_exhausted();
            if arrivals_over
                && self.requests.live() == 0
                && self.jobs.live() == 0
                && !matches!(event, Event::Arrival { .. } | Event::UserWakes { .. })
            {
                break;
            }
            while time >= self.bucket.end_ns() {
                self.close_bucket(sink, Nanos::MAX)?;
            }
            if time >= self.slo.next_boundary_ns() {
                self.slo_steps(time);
            }
            self.now = time;
            if self.events_processed.is_multiple_of(WATCH_EVERY) {
                if crate::interrupt::requested() {
                    return Err(RunError::Interrupted(time));
                }
                if let Some(progress) = self.progress {
                    progress(time, self.next_request_id);
                }
            }
            self.events_processed += 1;
            self.dispatch(event)?;
        }
        Ok(())
    }

    fn arrivals_exhausted(&self) -> bool {
        self.scenario
            .groups
            .iter()
            .zip(&self.groups)
            .all(|(g, s)| g.max_requests.is_some_and(|max| s.arrived >= max))
    }

    fn close_bucket(
        &mut self,
        sink: &mut dyn BucketSink,
        run_end_ns: Nanos,
    ) -> Result<(), RunError> {
        for (slot, interval) in self.breakers.iter().zip(self.breaker_intervals.iter_mut()) {
            *interval = slot.open_interval;
        }
        let credits = self
            .providers
            .iter()
            .map(|p| p.credits.as_ref().map(|c| nano_to_usd(c.balance_nusd())));
        self.bucket
            .close(sink, run_end_ns, &self.breaker_intervals, credits)
            .map_err(RunError::Io)
    }

    fn finish_run(
        &mut self,
        sink: &mut dyn BucketSink,
        end_ns: Nanos,
    ) -> Result<RunResult, RunError> {
        // Close every bucket up to the end; the last one may be partial.
        while self.bucket.start_ns < end_ns {
            self.close_bucket(sink, end_ns)?;
        }
        self.in_system_changes();
        debug_assert!(
            self.requests.live() > 0
                || self.little.in_system_area_ns == self.little.time_in_system_sum_ns,
            "Little's law must hold exactly once every request has ended: {:?}",
            self.little
        );
        let unfinished = self
            .requests
            .items
            .iter()
            .filter(|r| r.phase != Phase::Free)
            .count() as u64;
        let breakers = self
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
        let slo = std::mem::replace(&mut self.slo, SloTracker::new(&[])).finish(end_ns, &names);
        Ok(RunResult {
            slo,
            totals: std::mem::take(&mut self.totals),
            latency_ok: self.latency_ok.clone(),
            latency_failed: self.latency_failed.clone(),
            groups: self.groups.iter().map(|g| g.totals.clone()).collect(),
            providers: self.provider_totals.clone(),
            credits_remaining_nusd: self
                .providers
                .iter()
                .map(|p| p.credits.as_ref().map(|c| c.balance_nusd()))
                .collect(),
            breakers,
            recent_errors: self.recent_errors.in_order().copied().collect(),
            false_opens: self.false_opens,
            target_answers: self
                .scenario
                .providers
                .iter()
                .zip(&self.target_offsets)
                .map(|(p, &first)| {
                    (first..first + p.models.len())
                        .map(|i| {
                            (
                                self.target_answers[i],
                                self.target_cost_nusd[i],
                                self.target_fallbacks[i],
                            )
                        })
                        .collect()
                })
                .collect(),
            events_processed: self.events_processed,
            unfinished,
            end_ns,
            little: self.little,
        })
    }

    fn dispatch(&mut self, event: Event) -> Result<(), RunError> {
        match event {
            Event::Arrival { group } => {
                self.arrive(group, NONE)?;
                let g = &self.scenario.groups[group as usize];
                if let ArrivalModel::Poisson(profile) = &g.arrivals
                    && g.max_requests
                        .is_none_or(|max| self.groups[group as usize].arrived < max)
                    && let Some(t) = self.groups[group as usize].traffic.next(profile, self.now)
                {
                    self.schedule_arrival(t, Event::Arrival { group });
                }
            }
            Event::UserWakes { group, user } => {
                let g = &self.scenario.groups[group as usize];
                if g.max_requests
                    .is_none_or(|max| self.groups[group as usize].arrived < max)
                {
                    self.arrive(group, user)?;
                }
            }
            Event::AttemptStart {
                request,
                generation,
            } => {
                if self.is_current(request, generation, Phase::Waiting) {
                    self.start_attempt(request);
                }
            }
            Event::ReachProvider {
                request,
                generation,
            } => {
                if self.is_outstanding(request, generation) {
                    self.reach_provider(request);
                }
            }
            Event::AttemptFails {
                request,
                generation,
                failure,
            } => {
                if self.is_outstanding(request, generation) {
                    self.copy_failed(request, generation, failure, None);
                }
            }
            Event::AttemptTimeout {
                request,
                generation,
            } => {
                if self.is_outstanding(request, generation) {
                    // The timer was cut short by the request's deadline, or is the
                    // attempt's own timeout.
                    let r = &self.requests.items[request as usize];
                    let deadline = self.scenario.groups[r.group as usize].policy.deadline_ns;
                    let failure = if self.now >= r.arrived_ns.saturating_add(deadline) {
                        Failure::DeadlineExceeded
                    } else {
                        Failure::Timeout
                    };
                    self.copy_failed(request, generation, failure, None);
                }
            }
            Event::ServiceDone { job } => self.service_done(job),
            Event::BulkheadWaitOver {
                request,
                generation,
            } => {
                let group = self.requests.items[request as usize].group as usize;
                let queue = &mut self.groups[group].bulkhead_queue;
                if let Some(at) = queue
                    .iter()
                    .position(|&entry| entry == (request, generation))
                {
                    queue.remove(at);
                    let r = &self.requests.items[request as usize];
                    let deadline = self.scenario.groups[group].policy.deadline_ns;
                    if self.now >= r.arrived_ns.saturating_add(deadline) {
                        self.finish_failed(request, Failure::DeadlineExceeded);
                    } else {
                        self.rejected_locally(request, Failure::BulkheadFull);
                    }
                }
            }
            Event::HedgeDue {
                request,
                generation,
            } => {
                // Only while the attempt that armed it is still the latest one out.
                if self.is_current(request, generation, Phase::InFlight) {
                    self.send_hedge(request);
                }
            }
            Event::OutageStarts { provider, outage } => {
                let o = self.scenario.providers[provider as usize].outages[outage as usize];
                self.providers[provider as usize].outage_starts(outage, o.effect);
                self.conditions_changed(provider);
                self.abort_work_in_progress(provider);
                self.schedule_background(o.end_ns, Event::OutageEnds { provider, outage });
            }
            Event::OutageEnds { provider, outage } => {
                self.providers[provider as usize].outage_ends(outage);
                self.conditions_changed(provider);
            }
            Event::RandomOutageStarts { provider } => {
                let r = self.scenario.providers[provider as usize]
                    .random_outages
                    .expect("scheduled only when configured");
                self.providers[provider as usize].outage_starts(RANDOM_OUTAGE_ID, r.effect);
                self.conditions_changed(provider);
                self.abort_work_in_progress(provider);
                let down = crate::dist::exponential_ns(
                    &mut self.outage_rngs[provider as usize],
                    r.mttr_ns,
                );
                self.schedule_background(
                    self.now.saturating_add(down),
                    Event::RandomOutageEnds { provider },
                );
            }
            Event::RandomOutageEnds { provider } => {
                let r = self.scenario.providers[provider as usize]
                    .random_outages
                    .expect("scheduled only when configured");
                self.providers[provider as usize].outage_ends(RANDOM_OUTAGE_ID);
                self.conditions_changed(provider);
                let up = crate::dist::exponential_ns(
                    &mut self.outage_rngs[provider as usize],
                    r.mtbf_ns,
                );
                self.schedule_background(
                    self.now.saturating_add(up),
                    Event::RandomOutageStarts { provider },
                );
            }
            Event::TopUp { provider, index } => {
                let credits = self.scenario.providers[provider as usize]
                    .credits
                    .as_ref()
                    .expect("scheduled only with credits");
                let amount = credits.top_ups[index as usize].1;
                self.providers[provider as usize]
                    .credits
                    .as_mut()
                    .expect("has credits")
                    .deposit(amount);
                self.credits_changed(provider, false);
            }
            Event::RechargeLands { provider } => {
                let credits = self.scenario.providers[provider as usize]
                    .credits
                    .as_ref()
                    .expect("scheduled only with credits");
                let amount = credits
                    .auto_recharge
                    .expect("scheduled only with auto-recharge")
                    .amount_nusd;
                let account = self.providers[provider as usize]
                    .credits
                    .as_mut()
                    .expect("has credits");
                account.deposit(amount);
                account.recharge_pending = false;
                self.credits_changed(provider, false);
                self.check_recharge(provider);
            }
        }
        Ok(())
    }

    /// Records the provider's down / brownout state for the time series and the fault
    /// window figures.
    fn conditions_changed(&mut self, provider: u16) {
        let conditions = self.providers[provider as usize].conditions;
        let faults = &mut self.faults[provider as usize];
        match (conditions.is_degraded(), faults.degraded_since_ns) {
            (true, None) => {
                *faults = FaultWindow {
                    degraded_since_ns: Some(self.now),
                    ..*faults
                };
                faults.detected = false;
                faults.recovering_since_ns = None;
                self.provider_totals[provider as usize].fault_windows += 1;
            }
            (false, Some(_)) => {
                faults.degraded_since_ns = None;
                faults.last_fault_end_ns = Some(self.now);
                faults.recovering_since_ns = Some(self.now);
            }
            _ => {}
        }
        let down = conditions.down.is_some();
        let brownout = !down && conditions.is_degraded();
        let levels = &mut self.bucket.levels[provider as usize];
        levels.down.set(self.now, u32::from(down));
        levels.brownout.set(self.now, u32::from(brownout));
        let condition = if down {
            Some(ConditionKind::Outage)
        } else if brownout {
            Some(ConditionKind::Brownout)
        } else {
            None
        };
        let previous = self.provider_condition[provider as usize];
        if condition != previous {
            self.provider_condition[provider as usize] = condition;
            let subject = u32::from(provider);
            if let Some(kind) = previous {
                self.slo.condition(kind, subject, self.now, false);
            }
            if let Some(kind) = condition {
                self.slo.condition(kind, subject, self.now, true);
            }
            if self.tracing() {
                let kind = match condition {
                    Some(ConditionKind::Outage) => TraceKind::ProviderDown,
                    Some(_) => TraceKind::ProviderBrownout,
                    None => TraceKind::ProviderUp,
                };
                self.emit(self.provider_trace(provider, kind));
            }
        }
    }

    #[inline]
    fn is_current(&self, request: u32, generation: u32, phase: Phase) -> bool {
        let r = &self.requests.items[request as usize];
        r.generation == generation && r.phase == phase
    }

    /// Is an answer or timer of attempt `generation` still awaited? Any attempt out counts:
    /// the latest one or, while hedging, an earlier one racing it.
    #[inline]
    fn is_outstanding(&self, request: u32, generation: u32) -> bool {
        let r = &self.requests.items[request as usize];
        r.phase == Phase::InFlight
            && r.first_live_generation <= generation
            && generation <= r.generation
            && r.copies & copy_bit(r.first_live_generation, generation) != 0
    }

    fn arrive(&mut self, group: u16, user: u32) -> Result<(), RunError> {
        if self.requests.live() >= limits::MAX_LIVE_REQUESTS {
            // Checked here, at the only place requests are born.
            return Err(RunError::Limit(format!(
                "more than {} requests alive at once at {}: the clients' timeouts do not bound the backlog; \
                 shorten `policy.timeout` or `policy.deadline`, or lower the traffic",
                limits::MAX_LIVE_REQUESTS,
                crate::time::format_clock(self.now)
            )));
        }
        let g = &self.scenario.groups[group as usize];
        let id = self.next_request_id;
        self.next_request_id += 1;
        self.groups[group as usize].arrived += 1;
        let rng = self.draws.at(id, DrawCursor::START);
        let input_tokens = g.request.input_tokens.sample_count(rng, 1);
        let output_tokens = g
            .request
            .output_tokens
            .sample_count(rng, 1)
            .min(g.request.max_tokens);
        let draws = self.draws.cursor(id);
        let counted = self.now >= self.scenario.warmup_ns;
        self.in_system_changes();
        self.little.arrived += 1;
        // Keep the slot's generation running across reuse (see `Request::generation`).
        let generation = self
            .requests
            .free
            .last()
            .map_or(0, |&i| self.requests.items[i as usize].generation)
            .wrapping_add(1);
        let index = self.requests.insert(Request {
            id,
            arrived_ns: self.now,
            backoff_memory: 0,
            draws,
            generation,
            attempts: 0,
            attempts_on_target: 0,
            input_tokens,
            output_tokens,
            user,
            group,
            chain_pos: 0,
            phase: Phase::Waiting,
            breaker: NONE,
            breaker_epoch: Epoch::default(),
            attempt_started_ns: self.now,
            is_retry: false,
            retry_cost: 0,
            copies: 0,
            bulkhead_slot: false,
            hedges: 0,
            first_live_generation: generation,
            layer_retries: [0; MAX_OUTER_RETRY_LAYERS],
            layer_memory: [0; MAX_OUTER_RETRY_LAYERS],
            counted,
        });
        self.count(group, counted, |t| t.arrived += 1);
        if counted {
            self.slo.arrival(group);
        }
        if self.tracing() {
            self.emit(self.request_trace(index, TraceKind::Arrived));
        }
        let g = &mut self.groups[group as usize];
        g.live += 1;
        if let Some(budget) = &mut g.budget {
            budget.on_request(self.now);
        }
        self.start_attempt(index);
        Ok(())
    }

    /// Integrates the number of requests in the system up to now; call before it changes.
    #[inline]
    fn in_system_changes(&mut self) {
        let live = self.requests.live() as u128;
        self.little.in_system_area_ns += live * u128::from(self.now - self.in_system_changed_ns);
        self.in_system_changed_ns = self.now;
    }

    /// Adds to the run totals (if the request counts), the group's and the bucket's.
    #[inline]
    fn count(&mut self, group: u16, counted: bool, add: impl Fn(&mut Totals)) {
        if counted {
            add(&mut self.totals);
            add(&mut self.groups[group as usize].totals);
        }
        add(&mut self.bucket.totals);
    }

    fn current_step(&self, request: u32) -> ChainStep {
        let r = &self.requests.items[request as usize];
        self.scenario.groups[r.group as usize].policy.chain[r.chain_pos as usize]
    }

    fn start_attempt(&mut self, request: u32) {
        let now = self.now;
        let r = self.requests.items[request as usize];
        let gi = r.group as usize;
        let policy = &self.scenario.groups[gi].policy;
        if now >= r.arrived_ns.saturating_add(policy.deadline_ns) {
            self.finish_failed(request, Failure::DeadlineExceeded);
            return;
        }
        if !self.route_around_unavailable_targets(request) {
            return;
        }
        if !self.client_gates_open(request) {
            return;
        }
        let r = self.requests.items[request as usize];
        // Adaptive throttling rejects before the breaker is consulted.
        if let Some(throttle) = &mut self.groups[gi].throttle {
            let p = throttle.reject_probability(now);
            throttle.on_request(now);
            if p > 0.0 && self.groups[gi].jitter.random::<f64>() < p {
                return self.rejected_locally(request, Failure::Throttled);
            }
        }
        let first_breaker = self.groups[gi].breakers[r.chain_pos as usize];
        let breaker = if first_breaker == NONE {
            NONE
        } else {
            first_breaker + (r.id % u64::from(self.groups[gi].breaker_instances)) as u32
        };
        let mut breaker_epoch = Epoch::default();
        if breaker != NONE {
            let slot = &mut self.breakers[breaker as usize].breaker;
            let state_before = slot.state();
            let admission = slot.admit(now);
            let reopened = slot.take_reopened();
            breaker_epoch = slot.epoch();
            if self.tracing()
                && state_before == BreakerState::Open
                && self.breakers[breaker as usize].breaker.state() == BreakerState::HalfOpen
            {
                self.emit(self.breaker_trace(breaker, TraceKind::BreakerHalfOpen, now));
            }
            match admission {
                Admission::Allowed | Admission::Probe => {}
                Admission::Rejected => {
                    if let Some(until_ns) = reopened {
                        self.breaker_opened(breaker, until_ns);
                    }
                    return self.rejected_locally(request, Failure::BreakerOpen);
                }
            }
        }
        if self.scenario.groups[gi].policy.rate_limiter.is_some() {
            // Only now that it goes out does the attempt spend the limiter's tokens.
            self.take_limiter_tokens(request);
        }
        self.send_attempt(request, breaker, breaker_epoch, false);
    }

    /// Sends an attempt: a first try, a retry, a fallback's try or (with `hedge`) a hedged
    /// copy of the attempt already out. Arms its timeout (and the next hedge), passes the
    /// chaos layer and reaches the provider.
    fn send_attempt(&mut self, request: u32, breaker: u32, breaker_epoch: Epoch, hedge: bool) {
        let now = self.now;
        let step = self.current_step(request);
        let gi = self.requests.items[request as usize].group as usize;
        let policy = &self.scenario.groups[gi].policy;
        let r = &mut self.requests.items[request as usize];
        if r.bulkhead_slot {
            // The slot handed over while it waited now counts as this attempt's.
            r.bulkhead_slot = false;
        } else {
            self.groups[gi].in_flight += 1;
        }
        let r = &mut self.requests.items[request as usize];
        r.generation = r.generation.wrapping_add(1);
        r.attempts += 1;
        r.phase = Phase::InFlight;
        r.breaker = breaker;
        r.breaker_epoch = breaker_epoch;
        r.attempt_started_ns = now;
        if hedge {
            // A copy racing the attempt already out: not a retry, no retry consumed.
            r.copies |= copy_bit(r.first_live_generation, r.generation);
        } else {
            r.attempts_on_target += 1;
            r.copies = 1;
            r.first_live_generation = r.generation;
            r.hedges = 0;
            r.is_retry = r.attempts_on_target > 1;
            if r.is_retry {
                self.groups[gi].retries_in_flight += 1;
            }
        }
        if r.attempts > 1 {
            r.draws = DrawCursor::attempt(r.attempts - 1);
        }
        let (generation, counted, id, cursor, hedges) =
            (r.generation, r.counted, r.id, r.draws, r.hedges);
        let deadline_at = r.arrived_ns.saturating_add(policy.deadline_ns);
        self.count(gi as u16, counted, |t| {
            t.attempts_sent += 1;
            t.hedges += u64::from(hedge);
        });
        if counted {
            self.slo.attempt_sent(gi as u16);
        }
        if self.tracing() {
            let mut e = self.request_trace(request, TraceKind::AttemptSent);
            e.attempt_ns = Some(0);
            self.emit(e);
        }
        if let Some(h) = policy.hedging
            && hedges < h.max_hedged_attempts
        {
            self.queue.schedule(
                now.saturating_add(h.delay_ns),
                Event::HedgeDue {
                    request,
                    generation,
                },
            );
        }

        // The attempt's timer: the group's fixed timeout in its FIFO lane, unless the
        // request's deadline cuts it shorter.
        let timeout_at = now.saturating_add(policy.attempt_timeout_ns);
        let timeout = Event::AttemptTimeout {
            request,
            generation,
        };
        if timeout_at <= deadline_at {
            self.queue
                .schedule_in_lane(self.groups[gi].timeout_lane, now, timeout);
        } else {
            self.queue.schedule(deadline_at, timeout);
        }

        if let Some(chaos) = &self.scenario.chaos
            && chaos.applies(now, gi, step.target.provider as usize)
        {
            let rng = self.draws.at(id, cursor);
            let (fire, kind) = (rng.random::<f64>(), rng.random::<f64>());
            self.requests.items[request as usize].draws = self.draws.cursor(id);
            match chaos.roll(fire, kind) {
                None => {}
                Some(ChaosFault::Timeout) => {
                    if let Some(after) = chaos.timeout_after_ns
                        && now.saturating_add(after) < timeout_at.min(deadline_at)
                    {
                        let failure = Failure::Timeout;
                        self.queue.schedule(
                            now + after,
                            Event::AttemptFails {
                                request,
                                generation,
                                failure,
                            },
                        );
                    }
                    // Otherwise the attempt hangs until the client's own timeout.
                    return;
                }
                Some(ChaosFault::RateLimit) => {
                    return self.attempt_failed(
                        request,
                        Failure::RateLimited,
                        Some(chaos.retry_after_ns),
                    );
                }
                Some(ChaosFault::ServerError) => {
                    return self.attempt_failed(request, Failure::Http500, None);
                }
                Some(ChaosFault::TokenExhaustion) => {
                    return self.attempt_failed(request, Failure::InsufficientCredits, None);
                }
                Some(ChaosFault::Latency) => {
                    let at = now.saturating_add(chaos.latency_ns);
                    self.queue.schedule(
                        at,
                        Event::ReachProvider {
                            request,
                            generation,
                        },
                    );
                    return;
                }
            }
        }
        self.reach_provider(request);
    }

    /// The client itself stopped the attempt (open breaker, throttling): nothing is sent,
    /// but it counts against the target's attempts so a retry loop stays bounded.
    fn rejected_locally(&mut self, request: u32, failure: Failure) {
        self.return_bulkhead_slot(request);
        let r = &mut self.requests.items[request as usize];
        r.attempts_on_target += 1;
        r.phase = Phase::InFlight;
        self.attempt_failed(request, failure, None);
    }

    /// The client's own gates before sending: the RPM / TPM limiter and the bulkhead. Either
    /// may make the request wait (true: go on now; false: it waits or has ended). A wait
    /// that would end past the request's deadline is not taken.
    fn client_gates_open(&mut self, request: u32) -> bool {
        let now = self.now;
        let r = self.requests.items[request as usize];
        let gi = r.group as usize;
        let policy = &self.scenario.groups[gi].policy;
        let deadline_at = r.arrived_ns.saturating_add(policy.deadline_ns);
        if let Some(limiter) = policy.rate_limiter {
            let wait = self.limiter_wait(request);
            if wait > limiter.max_wait_ns {
                self.rejected_locally(request, Failure::ClientRateLimited);
                return false;
            }
            if wait > 0 {
                if now.saturating_add(wait) >= deadline_at {
                    self.finish_failed(request, Failure::DeadlineExceeded);
                    return false;
                }
                let generation = r.generation;
                self.queue.schedule(
                    now + wait,
                    Event::AttemptStart {
                        request,
                        generation,
                    },
                );
                return false;
            }
        }
        if let Some(bulkhead) = policy.bulkhead
            && !r.bulkhead_slot
        {
            let g = &mut self.groups[gi];
            if g.in_flight >= bulkhead.max_in_flight {
                if g.bulkhead_queue.len() >= bulkhead.max_queue as usize
                    || bulkhead.max_wait_ns == 0
                {
                    self.rejected_locally(request, Failure::BulkheadFull);
                    return false;
                }
                let generation = r.generation;
                g.bulkhead_queue.push_back((request, generation));
                let over = Event::BulkheadWaitOver {
                    request,
                    generation,
                };
                self.queue.schedule(
                    now.saturating_add(bulkhead.max_wait_ns).min(deadline_at),
                    over,
                );
                return false;
            }
        }
        true
    }

    /// How long the client's limiter makes this request's next attempt wait (0: room now).
    fn limiter_wait(&mut self, request: u32) -> Nanos {
        let r = self.requests.items[request as usize];
        let gi = r.group as usize;
        let tokens =
            f64::from(r.input_tokens) + f64::from(self.scenario.groups[gi].request.max_tokens);
        let g = &mut self.groups[gi];
        let wait_rpm = g
            .limiter_rpm
            .as_mut()
            .map_or(Ok(()), |b| b.check(self.now, 1.0));
        let wait_tpm = g
            .limiter_tpm
            .as_mut()
            .map_or(Ok(()), |b| b.check(self.now, tokens));
        wait_rpm.err().unwrap_or(0).max(wait_tpm.err().unwrap_or(0))
    }

    /// Takes the limiter's tokens for an attempt going out now (room was checked).
    fn take_limiter_tokens(&mut self, request: u32) {
        let r = self.requests.items[request as usize];
        let gi = r.group as usize;
        let tokens =
            f64::from(r.input_tokens) + f64::from(self.scenario.groups[gi].request.max_tokens);
        let g = &mut self.groups[gi];
        if let Some(b) = &mut g.limiter_rpm {
            b.take(1.0);
        }
        if let Some(b) = &mut g.limiter_tpm {
            b.take(tokens);
        }
    }

    /// Slots of the group's bulkhead freed: they go to the requests waiting, first come
    /// first served, each holding its slot (`bulkhead_slot`) until it sends or gives it back.
    fn release_bulkhead_slots(&mut self, group: usize, slots: u32) {
        self.groups[group].in_flight -= slots;
        let Some(bulkhead) = self.scenario.groups[group].policy.bulkhead else {
            return;
        };
        while self.groups[group].in_flight < bulkhead.max_in_flight {
            let Some((request, generation)) = self.groups[group].bulkhead_queue.pop_front() else {
                break;
            };
            if self.is_current(request, generation, Phase::Waiting) {
                self.groups[group].in_flight += 1;
                self.requests.items[request as usize].bulkhead_slot = true;
                self.queue.schedule(
                    self.now,
                    Event::AttemptStart {
                        request,
                        generation,
                    },
                );
            }
        }
    }

    /// A request holding a bulkhead slot it will not use gives it back.
    fn return_bulkhead_slot(&mut self, request: u32) {
        let r = &mut self.requests.items[request as usize];
        if r.bulkhead_slot {
            r.bulkhead_slot = false;
            let group = r.group as usize;
            self.release_bulkhead_slots(group, 1);
        }
    }

    /// Sends a hedged copy of the attempt out (Polly, gRPC hedging) to the same target, if
    /// every gate lets it: the breaker must be closed (a hedge never takes a half-open
    /// probe), the target must not be cooling down, and the bulkhead, the limiter, the gRPC
    /// throttle and adaptive throttling must have room now (a hedge never waits). The first
    /// success wins; the others are abandoned.
    fn send_hedge(&mut self, request: u32) {
        let now = self.now;
        let r = self.requests.items[request as usize];
        let gi = r.group as usize;
        let policy = &self.scenario.groups[gi].policy;
        let step = self.current_step(request);
        let cooling = policy.cooldown.is_some()
            && self.groups[gi].cooldowns[r.chain_pos as usize].is_cool(now);
        let bulkhead_full = policy
            .bulkhead
            .is_some_and(|b| self.groups[gi].in_flight >= b.max_in_flight);
        let breaker_closed = r.breaker == NONE
            || self.breakers[r.breaker as usize].breaker.state() == BreakerState::Closed;
        if now >= r.arrived_ns.saturating_add(policy.deadline_ns)
            || cooling
            || bulkhead_full
            || !breaker_closed
            || step.target != self.scenario.groups[gi].policy.chain[r.chain_pos as usize].target
        {
            return;
        }
        if policy.rate_limiter.is_some() && self.limiter_wait(request) > 0 {
            return;
        }
        if let Some(budget) = &mut self.groups[gi].budget
            && !budget.allows_hedge()
        {
            return;
        }
        if let Some(throttle) = &mut self.groups[gi].throttle {
            let p = throttle.reject_probability(now);
            throttle.on_request(now);
            if p > 0.0 && self.groups[gi].jitter.random::<f64>() < p {
                return;
            }
        }
        let mut epoch = Epoch::default();
        if r.breaker != NONE {
            let slot = &mut self.breakers[r.breaker as usize].breaker;
            slot.admit(now);
            epoch = slot.epoch();
        }
        self.take_limiter_tokens(request);
        self.requests.items[request as usize].hedges += 1;
        self.send_attempt(request, r.breaker, epoch, true);
    }

    /// Moves the request past chain steps it must not call now: targets cooling down
    /// (LiteLLM) and, with the credit pre-check, accounts too short for the call. Returns
    /// false when the request ended because no target was left.
    fn route_around_unavailable_targets(&mut self, request: u32) -> bool {
        let now = self.now;
        loop {
            let r = self.requests.items[request as usize];
            let gi = r.group as usize;
            let policy = &self.scenario.groups[gi].policy;
            let pos = r.chain_pos as usize;
            let has_next = pos + 1 < policy.chain.len();
            let cooling = policy.cooldown.is_some() && self.groups[gi].cooldowns[pos].is_cool(now);
            let short = policy
                .credit_check
                .is_some_and(|check| self.credits_short(request, check));
            let skip = cooling
                || (short && policy.credit_check.is_some_and(|c| c.route_to_next) && has_next);
            if !skip {
                return true;
            }
            if !has_next {
                self.finish_failed(request, Failure::CooledDown);
                return false;
            }
            let r = &mut self.requests.items[request as usize];
            r.chain_pos += 1;
            r.attempts_on_target = 0;
            r.backoff_memory = 0;
            r.retry_cost = 0;
            r.layer_retries = [0; MAX_OUTER_RETRY_LAYERS];
            r.layer_memory = [0; MAX_OUTER_RETRY_LAYERS];
            self.fell_back(request);
        }
    }

    /// Counts a move down the fallback chain, to the request's (new) current target.
    fn fell_back(&mut self, request: u32) {
        let r = self.requests.items[request as usize];
        self.count(r.group, r.counted, |t| t.fallbacks += 1);
        if r.counted {
            let target = self.current_step(request).target;
            self.target_fallbacks
                [self.target_offsets[target.provider as usize] + target.model as usize] += 1;
        }
    }

    /// The seed's pre-check: is the account of the request's current target short of the
    /// call's estimated cost (or below the alert threshold)? Raises a low-credit alert if so.
    fn credits_short(&mut self, request: u32, check: crate::policy::CreditCheck) -> bool {
        let r = self.requests.items[request as usize];
        let step = self.current_step(request);
        let pi = step.target.provider as usize;
        let Some(account) = &self.providers[pi].credits else {
            return false;
        };
        let model = &self.scenario.providers[pi].models[step.target.model as usize];
        let max_tokens = self.scenario.groups[r.group as usize].request.max_tokens;
        let estimate = model.cost_nusd(r.input_tokens, max_tokens) as f64 * check.margin;
        let balance = account.balance_nusd();
        let short = (balance as f64) < estimate || balance < check.alert_below_nusd;
        if short {
            self.count(r.group, r.counted, |t| t.low_credit_alerts += 1);
            self.provider_totals[pi]
                .first_low_credit_alert_ns
                .get_or_insert(self.now);
        }
        short
    }

    /// The layers inside gave up on the target: the innermost outer retry layer that may
    /// still retry calls them again, from scratch, after its own backoff. True if one did.
    fn retry_outer_layer(
        &mut self,
        request: u32,
        failure: Failure,
        retry_after_ns: Option<Nanos>,
        deadline_at: Nanos,
    ) -> bool {
        let r = self.requests.items[request as usize];
        let gi = r.group as usize;
        let layers = &self.scenario.groups[gi].policy.outer_retries;
        for (k, layer) in layers.iter().enumerate() {
            let calls = u32::from(r.layer_retries[k]) + 1;
            let step = ChainStep {
                target: self.current_step(request).target,
                attempts: layer.max_attempts,
            };
            let uniform = self.groups[gi].jitter.random::<f64>();
            let NextStep::Retry { delay_ns } = layer.policy.after_failure(
                failure,
                retry_after_ns,
                step,
                calls,
                r.layer_memory[k],
                uniform,
            ) else {
                continue;
            };
            let at = self.now.saturating_add(delay_ns);
            if at >= deadline_at {
                return false;
            }
            let req = &mut self.requests.items[request as usize];
            req.layer_retries[k] += 1;
            // The layers inside start over, as a fresh call to them would.
            req.layer_retries[..k].fill(0);
            req.layer_memory[k] = layer.policy.memory_after(calls, uniform, delay_ns);
            req.layer_memory[..k].fill(0);
            req.attempts_on_target = 0;
            req.backoff_memory = 0;
            req.retry_cost = 0;
            req.phase = Phase::Waiting;
            let generation = req.generation;
            self.count(r.group, r.counted, |t| t.layer_retries[k] += 1);
            self.queue.schedule(
                at,
                Event::AttemptStart {
                    request,
                    generation,
                },
            );
            return true;
        }
        false
    }

    /// A sent attempt has its answer (or timed out): retry-budget, throttling, cooldown and
    /// retries-in-flight bookkeeping.
    fn attempt_ended(&mut self, request: u32, failure: Option<Failure>) {
        let now = self.now;
        let r = self.requests.items[request as usize];
        let gi = r.group as usize;
        let g = &mut self.groups[gi];
        // A retry leaves flight with its request's last attempt out (or its success).
        if r.is_retry && (failure.is_none() || r.copies.count_ones() <= 1) {
            g.retries_in_flight -= 1;
        }
        if let Some(budget) = &mut g.budget {
            budget.on_attempt(failure.is_none(), f64::from(r.retry_cost));
        }
        if accepted(failure)
            && let Some(throttle) = &mut g.throttle
        {
            throttle.on_accept(now);
        }
        // With hedging, a success also ends the copies still out.
        let ended = if failure.is_none() {
            r.copies.count_ones().max(1)
        } else {
            1
        };
        self.release_bulkhead_slots(gi, ended);
        let g = &mut self.groups[gi];
        if let Some(config) = &self.scenario.groups[gi].policy.cooldown {
            let cooldown = &mut g.cooldowns[r.chain_pos as usize];
            let cooled = match failure {
                None => {
                    cooldown.on_success(now);
                    false
                }
                Some(failure) => cooldown.on_failure(config, now, failure == Failure::RateLimited),
            };
            if cooled {
                self.count(r.group, r.counted, |t| t.cooldowns += 1);
            }
        }
    }

    fn reach_provider(&mut self, request: u32) {
        let now = self.now;
        let step = self.current_step(request);
        let (pi, mi) = (step.target.provider as usize, step.target.model as usize);
        let r = self.requests.items[request as usize];
        let provider = &self.scenario.providers[pi];
        let model = &provider.models[mi];
        let max_tokens = self.scenario.groups[r.group as usize].request.max_tokens;
        self.provider_totals[pi].received += 1;
        match self.providers[pi].admit(now, provider, model, r.input_tokens, max_tokens) {
            Verdict::Reject {
                failure,
                retry_after_ns,
            } => {
                if failure == Failure::InsufficientCredits {
                    self.provider_totals[pi]
                        .credits_exhausted_at_ns
                        .get_or_insert(now);
                    self.credits_changed(pi as u16, true);
                    // Nothing may be in flight to settle and trigger it: check here too.
                    self.check_recharge(pi as u16);
                }
                self.attempt_failed(request, failure, retry_after_ns);
            }
            Verdict::ConnectHang => {
                let policy = &self.scenario.groups[r.group as usize].policy;
                // Ends at the connect timeout unless the attempt timeout comes first.
                if policy.connect_timeout_ns < policy.attempt_timeout_ns {
                    let failure = Failure::ConnectTimeout;
                    let event = Event::AttemptFails {
                        request,
                        generation: r.generation,
                        failure,
                    };
                    self.queue
                        .schedule(now.saturating_add(policy.connect_timeout_ns), event);
                }
            }
            Verdict::Accept { reserved_nusd } => {
                self.provider_totals[pi].accepted += 1;
                let conditions = self.providers[pi].conditions;
                let rng = self.draws.at(r.id, r.draws);
                let (fault_roll, brownout_roll) = (rng.random::<f64>(), rng.random::<f64>());
                let mut kind = provider.errors.roll(fault_roll);
                if kind == ServiceKind::Success && brownout_roll < conditions.extra_error_rate {
                    kind = ServiceKind::Error(conditions.extra_error);
                }
                let service_s = match kind {
                    ServiceKind::Error(_) => provider.error_latency.sample(rng),
                    ServiceKind::Success | ServiceKind::Hang => {
                        let ttft = model.ttft.sample(rng);
                        let per_token = model.per_token.sample(rng);
                        (ttft + per_token * f64::from(r.output_tokens))
                            * conditions.latency_multiplier
                    }
                };
                let job = self.jobs.insert(Job {
                    request,
                    generation: r.generation,
                    provider: pi as u16,
                    model: mi as u16,
                    kind,
                    service_ns: secs_to_ns(service_s),
                    input_tokens: r.input_tokens,
                    output_tokens: r.output_tokens,
                    reserved_nusd,
                    admitted_ns: now,
                    group: r.group,
                    counted: r.counted,
                    live: true,
                });
                let state = &mut self.providers[pi];
                if state.has_free_slot(provider) {
                    self.start_service(job);
                } else {
                    state.queue.push_back(job);
                    let len = state.queue.len() as u32;
                    self.bucket.levels[pi].queue.set(now, len);
                    let totals = &mut self.provider_totals[pi];
                    totals.queue_max = totals.queue_max.max(len);
                }
            }
        }
    }

    fn start_service(&mut self, job: u32) {
        let j = self.jobs.items[job as usize];
        if j.admitted_ns >= self.scenario.warmup_ns {
            let totals = &mut self.provider_totals[j.provider as usize];
            let wait = self.now - j.admitted_ns;
            totals.started += 1;
            totals.waited += u64::from(wait > 0);
            totals.wait_sum_ns += u128::from(wait);
        }
        let state = &mut self.providers[j.provider as usize];
        state.in_service += 1;
        self.bucket.levels[j.provider as usize]
            .in_service
            .set(self.now, state.in_service);
        self.queue.schedule(
            self.now.saturating_add(j.service_ns),
            Event::ServiceDone { job },
        );
    }

    fn service_done(&mut self, job: u32) {
        let now = self.now;
        let j = self.jobs.items[job as usize];
        self.jobs.items[job as usize].live = false;
        self.jobs.release(job);
        let pi = j.provider as usize;
        let model = &self.scenario.providers[pi].models[j.model as usize];
        let cost = if j.kind == ServiceKind::Success {
            model.cost_nusd(j.input_tokens, j.output_tokens)
        } else {
            0
        };
        if let Some(account) = &mut self.providers[pi].credits {
            account.settle(j.reserved_nusd, cost);
        }
        self.check_recharge(j.provider);
        let client_waiting = self.is_outstanding(j.request, j.generation);
        let totals = &mut self.provider_totals[pi];
        if j.counted {
            totals.cost_nusd += cost;
            self.target_cost_nusd[self.target_offsets[pi] + j.model as usize] += cost;
        }
        if j.kind == ServiceKind::Success {
            totals.completed_ok += 1;
            if !client_waiting {
                totals.wasted += 1;
            }
        }
        // The bill is the run's cost whoever waited for it.
        self.count(j.group, j.counted, |t| t.cost_nusd += cost);

        let state = &mut self.providers[pi];
        state.in_service -= 1;
        self.bucket.levels[pi].in_service.set(now, state.in_service);
        if let Some(next) = state.queue.pop_front() {
            let len = state.queue.len() as u32;
            self.bucket.levels[pi].queue.set(now, len);
            self.start_service(next);
        }

        if client_waiting {
            match j.kind {
                ServiceKind::Success => self.attempt_succeeded(j.request, j.generation),
                ServiceKind::Error(failure) => {
                    self.copy_failed(j.request, j.generation, failure, None)
                }
                ServiceKind::Hang => {}
            }
        }
    }

    /// A hard outage takes the work in progress down with it: queued and in-service attempts
    /// fail the way new ones do (connection reset, the outage's status) or, when the
    /// provider hangs, never answer. Nothing of it is billed. Brownouts leave it alone.
    fn abort_work_in_progress(&mut self, provider: u16) {
        let pi = provider as usize;
        let failure = match self.providers[pi].conditions.down {
            None => return,
            Some(DownBehaviour::Refuse) => Some(Failure::ConnectionError),
            Some(DownBehaviour::Status(failure)) => Some(failure),
            Some(DownBehaviour::Hang) => None,
        };
        let mut lost = Vec::new();
        while let Some(job) = self.providers[pi].queue.pop_front() {
            let j = self.jobs.items[job as usize];
            self.jobs.items[job as usize].live = false;
            self.jobs.release(job);
            if let Some(account) = &mut self.providers[pi].credits {
                account.settle(j.reserved_nusd, 0);
            }
            lost.push(j);
        }
        self.bucket.levels[pi].queue.set(self.now, 0);
        // What is in service keeps its slot until its scheduled end (the provider is down
        // and admits nothing meanwhile) but will neither answer nor bill.
        for job in self
            .jobs
            .items
            .iter_mut()
            .filter(|j| j.live && j.provider == provider)
        {
            job.kind = ServiceKind::Hang;
            lost.push(*job);
        }
        if let Some(failure) = failure {
            for j in lost {
                if self.is_outstanding(j.request, j.generation) {
                    self.copy_failed(j.request, j.generation, failure, None);
                }
            }
        }
    }

    fn check_recharge(&mut self, provider: u16) {
        if let Some(account) = &mut self.providers[provider as usize].credits
            && let Some((at, _)) = account.recharge_due(self.now)
        {
            self.schedule_background(at, Event::RechargeLands { provider });
        }
    }

    fn record_breaker(&mut self, request: u32, recorded: Recorded, retry_after_ns: Option<Nanos>) {
        let r = self.requests.items[request as usize];
        if r.breaker == NONE {
            return;
        }
        let outcome = breaker::Outcome {
            recorded,
            duration_ns: self.now - r.attempt_started_ns,
            retry_after_ns,
        };
        let slot = &mut self.breakers[r.breaker as usize];
        match slot.breaker.record(self.now, r.breaker_epoch, outcome) {
            Transition::Opened { until_ns } => self.breaker_opened(r.breaker, until_ns),
            Transition::Closed => {
                slot.closes += 1;
                self.bucket.breaker_closes += 1;
                if self.tracing() {
                    self.emit(self.breaker_trace(r.breaker, TraceKind::BreakerClosed, self.now));
                }
            }
            Transition::None => {}
        }
    }

    /// Book-keeping of a breaker opening (or reopening, or being held open longer).
    fn breaker_opened(&mut self, breaker: u32, until_ns: Nanos) {
        let slot = &mut self.breakers[breaker as usize];
        // The previous open interval is over (or is being extended): its share of this
        // bucket counts now.
        let bucket = (self.bucket.start_ns, self.bucket.end_ns());
        let previous = (slot.open_interval.0, slot.open_interval.1.min(self.now));
        self.bucket.breaker_open_ns += crate::metrics::overlap(previous, bucket);
        slot.open_ns_total -= slot
            .open_interval
            .1
            .saturating_sub(self.now.max(slot.open_interval.0));
        slot.open_interval = (self.now, until_ns);
        slot.opens += 1;
        slot.first_open_ns.get_or_insert(self.now);
        slot.open_ns_total += until_ns - self.now;
        self.bucket.breaker_opens += 1;
        let (provider, group) = (slot.target.provider, slot.group);
        self.classify_open(provider, group);
        if self.tracing() {
            let mut e = self.breaker_trace(breaker, TraceKind::BreakerOpened, self.now);
            e.delay_ns = Some(until_ns - self.now);
            self.emit(e);
        }
    }

    /// A breaker opened: a detection if its provider is in a fault window (an outage, a
    /// brownout, the chaos layer, or within one attempt timeout after one ended), else a
    /// false open.
    fn classify_open(&mut self, provider: u16, group: u16) {
        let now = self.now;
        let pi = provider as usize;
        let grace = self.scenario.groups[group as usize]
            .policy
            .attempt_timeout_ns;
        let chaos = self
            .scenario
            .chaos
            .as_ref()
            .is_some_and(|c| c.applies(now, group as usize, pi));
        let faults = &mut self.faults[pi];
        let degraded = self.providers[pi].conditions.is_degraded();
        if let (true, Some(since)) = (degraded, faults.degraded_since_ns)
            && !faults.detected
        {
            faults.detected = true;
            let totals = &mut self.provider_totals[pi];
            totals.detections += 1;
            totals.detection_sum_ns += u128::from(now - since);
            totals.detection_max_ns = totals.detection_max_ns.max(now - since);
        }
        let recently = faults
            .last_fault_end_ns
            .is_some_and(|end| now <= end.saturating_add(grace));
        if !(degraded || chaos || recently) {
            self.false_opens += 1;
        }
    }

    fn attempt_succeeded(&mut self, request: u32, generation: u32) {
        let r = self.requests.items[request as usize];
        if generation != r.first_live_generation {
            self.count(r.group, r.counted, |t| t.hedges_won += 1);
        }
        self.record_breaker(request, Recorded::Success, None);
        self.attempt_ended(request, None);
        let r = self.requests.items[request as usize];
        let pi = self.current_step(request).target.provider as usize;
        if r.counted {
            let step = self.current_step(request);
            self.target_answers[self.target_offsets[pi] + step.target.model as usize] += 1;
        }
        if let Some(since) = self.faults[pi].recovering_since_ns.take() {
            // The first answer after a fault window: the time to recover.
            let totals = &mut self.provider_totals[pi];
            totals.recoveries += 1;
            totals.recovery_sum_ns += u128::from(self.now - since);
            totals.recovery_max_ns = totals.recovery_max_ns.max(self.now - since);
        }
        let latency = self.now - r.arrived_ns;
        let from_fallback = r.chain_pos > 0;
        self.count(r.group, r.counted, |t| {
            t.succeeded += 1;
            t.latency_sum_ns += u128::from(latency);
            t.served_by_fallback += u64::from(from_fallback);
        });
        if r.counted {
            record_latency(&mut self.latency_ok, latency);
            self.slo.request_ended(r.group, true, latency);
        }
        record_latency(&mut self.bucket.latency, latency);
        if self.tracing() {
            let mut e = self.request_trace(request, TraceKind::Succeeded);
            e.attempt_ns = Some(self.now - r.attempt_started_ns);
            self.as_copy(&mut e, request, generation);
            self.emit(e);
        }
        self.end_request(request);
    }

    /// The failure of copy `generation` of the request's attempt (its own timer, its answer).
    fn copy_failed(
        &mut self,
        request: u32,
        generation: u32,
        failure: Failure,
        retry_after_ns: Option<Nanos>,
    ) {
        self.answering = Some(generation);
        self.attempt_failed(request, failure, retry_after_ns);
        self.answering = None;
    }

    fn attempt_failed(&mut self, request: u32, failure: Failure, retry_after_ns: Option<Nanos>) {
        let now = self.now;
        let r = self.requests.items[request as usize];
        let step = self.current_step(request);
        let gi = r.group as usize;
        let policy = &self.scenario.groups[gi].policy;
        if !failure.is_local() {
            let counts = policy
                .breaker
                .as_ref()
                .is_some_and(|b| b.counts().contains(failure));
            let recorded = if counts {
                Recorded::Failure
            } else {
                Recorded::Neutral
            };
            let retry_after = retry_after_ns.filter(|_| failure == Failure::RateLimited);
            self.record_breaker(request, recorded, retry_after);
            self.attempt_ended(request, Some(failure));
        }
        self.count(r.group, r.counted, |t| {
            t.attempt_failures[failure.index()] += 1
        });
        if r.counted {
            self.slo.attempt_failed(r.group, failure);
        }
        if self.tracing() {
            let mut e = self.request_trace(request, TraceKind::AttemptFailed);
            e.failure = Some(failure);
            e.retry_after_ns = retry_after_ns;
            // A local rejection sent nothing: it has no duration of its own.
            e.attempt_ns = (!failure.is_local()).then(|| now - r.attempt_started_ns);
            if let Some(copy) = self.answering {
                self.as_copy(&mut e, request, copy);
            }
            self.emit(e);
        }
        self.recent_errors.push(ErrorRecord {
            time_ns: now,
            request_id: r.id,
            attempt: r.attempts.max(1),
            failure,
            provider: step.target.provider,
            model: step.target.model,
        });
        if !failure.is_local() && r.copies.count_ones() > 1 {
            // A hedged copy failed while another is still out: wait for that one, and ignore
            // anything more from this copy (its timer, a late answer).
            let generation = self.answering.unwrap_or(r.generation);
            self.requests.items[request as usize].copies &=
                !copy_bit(r.first_live_generation, generation);
            return;
        }

        if failure == Failure::DeadlineExceeded {
            // Out of time: no retry, no fallback.
            return self.finish_failed(request, failure);
        }
        let uniform = self.groups[gi].jitter.random::<f64>();
        let next = policy.retry.after_failure(
            failure,
            retry_after_ns,
            step,
            r.attempts_on_target,
            r.backoff_memory,
            uniform,
        );
        let deadline_at = r.arrived_ns.saturating_add(policy.deadline_ns);
        // The retry budget has the last word on a retry; denied, the request moves on as if
        // its retries were exhausted.
        let next = match next {
            NextStep::Retry { .. } if self.groups[gi].budget.is_some() => {
                let g = &self.groups[gi];
                let (live, in_flight) = (g.live, g.retries_in_flight);
                let budget = self.groups[gi].budget.as_mut().expect("matched above");
                if budget.try_retry(now, failure, live, in_flight) {
                    let cost = budget.retry_cost(failure) as u16;
                    self.requests.items[request as usize].retry_cost = cost;
                    next
                } else {
                    self.count(r.group, r.counted, |t| t.retries_denied += 1);
                    NextStep::NextTarget
                }
            }
            _ => next,
        };
        if next == NextStep::NextTarget
            && self.retry_outer_layer(request, failure, retry_after_ns, deadline_at)
        {
            return;
        }
        match next {
            NextStep::Retry { delay_ns } => {
                let at = now.saturating_add(delay_ns);
                if at >= deadline_at {
                    return self.finish_failed(request, Failure::DeadlineExceeded);
                }
                let req = &mut self.requests.items[request as usize];
                req.backoff_memory =
                    policy
                        .retry
                        .memory_after(r.attempts_on_target, uniform, delay_ns);
                req.phase = Phase::Waiting;
                let generation = req.generation;
                self.count(r.group, r.counted, |t| t.retries += 1);
                if self.tracing() {
                    let mut e = self.request_trace(request, TraceKind::RetryScheduled);
                    e.delay_ns = Some(delay_ns);
                    self.emit(e);
                }
                self.queue.schedule(
                    at,
                    Event::AttemptStart {
                        request,
                        generation,
                    },
                );
            }
            NextStep::NextTarget => {
                // Credits belong to the account: its other models cannot pay either.
                let chain = &policy.chain;
                let skip_provider =
                    (failure == Failure::InsufficientCredits).then_some(step.target.provider);
                let next_pos = (r.chain_pos as usize + 1..chain.len())
                    .find(|&pos| skip_provider.is_none_or(|p| chain[pos].target.provider != p));
                match next_pos {
                    None => self.finish_failed(request, failure),
                    Some(pos) => {
                        let req = &mut self.requests.items[request as usize];
                        req.chain_pos = pos as u8;
                        req.attempts_on_target = 0;
                        req.backoff_memory = 0;
                        req.retry_cost = 0;
                        req.layer_retries = [0; MAX_OUTER_RETRY_LAYERS];
                        req.layer_memory = [0; MAX_OUTER_RETRY_LAYERS];
                        req.phase = Phase::Waiting;
                        let generation = req.generation;
                        self.fell_back(request);
                        if self.tracing() {
                            self.emit(self.request_trace(request, TraceKind::FellBack));
                        }
                        // As the seed's service: the fallback is tried at once.
                        self.queue.schedule(
                            now,
                            Event::AttemptStart {
                                request,
                                generation,
                            },
                        );
                    }
                }
            }
        }
    }

    fn finish_failed(&mut self, request: u32, failure: Failure) {
        let r = self.requests.items[request as usize];
        let latency = self.now - r.arrived_ns;
        self.count(r.group, r.counted, |t| {
            t.failed += 1;
            t.failed_by[failure.index()] += 1;
        });
        if r.counted {
            record_latency(&mut self.latency_failed, latency);
            self.slo.request_ended(r.group, false, latency);
        }
        if self.tracing() {
            let mut e = self.request_trace(request, TraceKind::RequestFailed);
            e.failure = Some(failure);
            self.emit(e);
        }
        self.end_request(request);
    }

    fn end_request(&mut self, request: u32) {
        self.return_bulkhead_slot(request);
        self.in_system_changes();
        self.little.ended += 1;
        let lifetime = self.now - self.requests.items[request as usize].arrived_ns;
        self.little.time_in_system_sum_ns += u128::from(lifetime);
        let r = &mut self.requests.items[request as usize];
        r.phase = Phase::Free;
        r.generation = r.generation.wrapping_add(1);
        let (group, user, id) = (r.group, r.user, r.id);
        self.requests.release(request);
        self.groups[group as usize].live -= 1;
        if user != NONE
            && let ArrivalModel::ClosedLoop { think, .. } =
                &self.scenario.groups[group as usize].arrivals
        {
            let think_ns = secs_to_ns(think.sample(self.draws.think(id)));
            self.schedule_arrival(
                self.now.saturating_add(think_ns),
                Event::UserWakes { group, user },
            );
        }
    }
}

/// What can explain an SLO's breaches: the providers its group (or every group) calls, and
/// whether the chaos layer touches that traffic.
fn slo_scope(scenario: &Scenario, group: Option<u16>) -> crate::slo::Scope {
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

/// The bit of copy `generation` of an attempt whose first copy is `first`.
#[inline]
fn copy_bit(first: u32, generation: u32) -> u16 {
    1u16.checked_shl(generation.wrapping_sub(first))
        .unwrap_or(0)
}
