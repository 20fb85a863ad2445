//! The event loop: one run of one scenario on a virtual clock.
//!
//! `Sim::play` pops the earliest `(time, seq)` event and `dispatch` hands it to its handler;
//! handlers are small functions that change state and schedule what follows. A request's
//! life:
//!
//! ```text
//! arrival ─▶ start_attempt ─▶ breaker ─▶ chaos layer ─▶ provider.admit ─▶ queue/serve
//!                ▲                                                     │
//!                └── backoff / fallback ◀── attempt_failed ◀──────────┤ (error, 429,
//!                                                                      │  timeout, ...)
//!                                              finish(success) ◀───────┘
//! ```
//!
//! This file holds `Sim` (its state), `new`, the loop (`run`, `replay`, `play`, `dispatch`)
//! and the public API (`run`, `RunResult`, `RunError`). The handlers live by family, each
//! an `impl Sim` block of its own: `request.rs` (a request's life: arrival, attempts, end),
//! `gates.rs` (the client's limiter, bulkhead and credit pre-check), `service.rs` (provider
//! admission, service, completion), `retry.rs` (an attempt's outcome and where a retry's
//! delay is decided), `breakers.rs`, `world.rs` (outages, top-ups, provider conditions) and
//! `observe.rs` (counters, buckets, SLOs, trace hooks, the final `RunResult`); `slab.rs`
//! holds the request and job records and their slab.
//!
//! Nothing here reads the wall clock, allocates per event (requests and jobs live in slabs
//! whose slots are reused), or iterates a hash map. Cancellation is lazy: every attempt has
//! a generation number, and timers or responses for an older generation are ignored.

mod breakers;
mod gates;
mod observe;
mod request;
mod retry;
mod service;
mod slab;
mod world;

use hdrhistogram::Histogram;
use std::collections::VecDeque;

use crate::events::{Event, EventQueue, Lane};
use crate::metrics::{
    BucketSink, BucketStats, ErrorRecord, ProviderTotals, RecentErrors, Totals, latency_histogram,
};
use crate::outage::{DownBehaviour, OutageEffect};
use crate::policy::breaker::{Assignment, Breaker};
use crate::policy::budget::{AdaptiveThrottle, RetryBudget};
use crate::policy::cooldown::Cooldown;
use crate::provider::ProviderState;
use crate::ratelimit::TokenBucket;
use crate::requestlog::AttemptSink;
use crate::rng::{RequestDraws, SimRng, named_stream};
use crate::scenario::Scenario;
use crate::slo::{ConditionKind, SloReport, SloTracker};
use crate::time::{Nanos, secs_to_ns};
use crate::trace::TraceSink;
use crate::traffic::{ArrivalModel, ArrivalProcess, ReplayArrivals};

use slab::{Job, NONE, Phase, Request, Slab};

struct GroupState {
    traffic: ArrivalProcess,
    /// A `replay` group's recorded arrivals, read as the run goes.
    replay: Option<ReplayArrivals>,
    jitter: SimRng,
    arrived: u64,
    /// The lane holding this group's attempt timeouts (all of one duration).
    timeout_lane: Lane,
    /// The lane holding its next Poisson or replayed arrival (one at a time, in time
    /// order); none for closed-loop users, whose wake-ups go to the heap, and none when
    /// there are more than `MAX_ARRIVAL_LANES` open-loop groups.
    arrival_lane: Option<Lane>,
    /// For each step of the chain, the index of its first breaker (NONE without one); a
    /// fleet of N instances has N consecutive breakers, instance = request id mod N, or
    /// `rng::pick(key, request id, N)` with `instance_key` (random assignment).
    breakers: Vec<u32>,
    breaker_instances: u32,
    instance_key: Option<u64>,
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

/// One run of one scenario: the clock, the event queue, and the state by owner.
pub struct Sim<'a> {
    scenario: &'a Scenario,
    now: Nanos,
    queue: EventQueue,
    arrivals_end_ns: Nanos,
    /// Every group has a `max_requests` (only then can arrivals run out before the end).
    arrivals_capped: bool,
    hard_stop_ns: Nanos,
    events_processed: u64,
    /// The rest of the state by owner: the world, the clients, the observers. (Handlers are
    /// still methods on `Sim`; borrowing one group at a time is the next step.)
    world: World,
    clients: Clients,
    observers: Observers<'a>,
}

/// The simulated world the clients call: the providers (their slots, queues, limits,
/// outages, accounts), the jobs they serve, and the draws that decide each request's fate.
struct World {
    providers: Vec<ProviderState>,
    jobs: Slab<Job>,
    draws: RequestDraws,
    outage_rngs: Vec<SimRng>,
    /// Per provider: can an outage make the work in service hang (never answer)? Then an
    /// attempt's timeout must be scheduled even when its answer time is known.
    may_hang_in_service: Vec<bool>,
}

/// The clients: the requests alive, each group's client state (traffic, limiter, bulkhead,
/// budget, cooldowns) and the breakers.
struct Clients {
    requests: Slab<Request>,
    groups: Vec<GroupState>,
    breakers: Vec<BreakerSlot>,
    next_request_id: u64,
    /// The copy an answer being handled belongs to, when it is not the latest (hedging).
    answering: Option<u32>,
}

/// What watches the run without changing it: counters, histograms, the open time bucket,
/// Little's law, fault windows, per-target tallies, the SLO tracker, the trace and progress.
struct Observers<'a> {
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
    /// The request log: every attempt as it ends (`log_attempts`), or none.
    attempt_log: AttemptLog<'a>,
    /// Told the simulated time and the requests so far, every `WATCH_EVERY` events.
    progress: Option<&'a dyn Fn(Nanos, u64)>,
}

/// How often (in events) the loop reports progress and looks for Ctrl-C: rarely enough to
/// cost nothing, often enough to answer within milliseconds.
const WATCH_EVERY: u64 = 1 << 16;

/// Up to this many Poisson or replayed groups, each group's arrivals have an ordered lane
/// of their own in the event queue; beyond, they go to the heap (see `Sim::new`).
const MAX_ARRIVAL_LANES: usize = 4;

/// Whether the loop goes on after `Sim::at_boundary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boundary {
    GoOn,
    Stop,
}

/// A trace of the window [from, to), or none (from = to = never).
struct Trace<'a> {
    sink: Option<&'a mut dyn TraceSink>,
    from_ns: Nanos,
    to_ns: Nanos,
    started: bool,
    error: Option<std::io::Error>,
}

/// Where ended attempts go, and the first write error (the run stops at its end with it).
struct AttemptLog<'a> {
    sink: Option<&'a mut dyn AttemptSink>,
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
    /// An input read while the run goes on (a replayed arrivals file) is unusable: its
    /// file, line and why.
    BadInput(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Io(e) => write!(f, "cannot write the time series: {e}"),
            RunError::Limit(why) | RunError::BadInput(why) => f.write_str(why),
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
            RunError::Limit(_) | RunError::EndedBeforeWindow(_) | RunError::BadInput(_) => {
                crate::error::EXIT_BAD_INPUT
            }
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
        // A pop from a lane scans every lane's front for the next minimum, so arrivals get
        // lanes of their own only while the open-loop groups are few; with more, a heap
        // trip costs less than the scan.
        let open_loop_groups = scenario
            .groups
            .iter()
            .filter(|g| !matches!(g.arrivals, ArrivalModel::ClosedLoop { .. }))
            .count();
        let arrival_lanes = open_loop_groups <= MAX_ARRIVAL_LANES;
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
                    replay: match &g.arrivals {
                        ArrivalModel::Replay(spec) => Some(ReplayArrivals::new(spec.clone())),
                        _ => None,
                    },
                    jitter: named_stream(seed, &format!("jitter/{}", g.name)),
                    arrived: 0,
                    timeout_lane: queue.lane_for(g.policy.attempt_timeout_ns),
                    arrival_lane: match g.arrivals {
                        ArrivalModel::ClosedLoop { .. } => None,
                        ArrivalModel::Poisson(_) | ArrivalModel::Replay(_) => {
                            arrival_lanes.then(|| queue.ordered_lane())
                        }
                    },
                    breakers: chain_breakers,
                    breaker_instances: g.policy.breaker.as_ref().map_or(1, |b| b.instances),
                    instance_key: g
                        .policy
                        .breaker
                        .as_ref()
                        .filter(|b| b.assignment == Assignment::Random)
                        .map(|_| {
                            rand::RngExt::random::<u64>(&mut named_stream(
                                seed,
                                &format!("instances/{}", g.name),
                            ))
                        }),
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
            arrivals_end_ns,
            arrivals_capped: scenario.groups.iter().all(|g| g.max_requests.is_some()),
            hard_stop_ns: arrivals_end_ns.saturating_add(scenario.drain_limit_ns),
            events_processed: 0,
            world: World {
                providers: scenario.providers.iter().map(ProviderState::new).collect(),
                jobs: Slab::new(),
                draws: RequestDraws::new(seed),
                outage_rngs: scenario
                    .providers
                    .iter()
                    .map(|p| named_stream(seed, &format!("outages/{}", p.name)))
                    .collect(),
                may_hang_in_service: scenario
                    .providers
                    .iter()
                    .map(|p| {
                        let hangs = |e: OutageEffect| e == OutageEffect::Down(DownBehaviour::Hang);
                        p.outages.iter().any(|o| hangs(o.effect))
                            || p.random_outages.is_some_and(|r| hangs(r.effect))
                    })
                    .collect(),
            },
            clients: Clients {
                requests: Slab::new(),
                groups,
                breakers,
                next_request_id: 0,
                answering: None,
            },
            observers: Observers {
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
                attempt_log: AttemptLog {
                    sink: None,
                    error: None,
                },
                progress: None,
            },
        }
    }

    /// Reports (simulated time, requests arrived) every 65,536 events, for a progress bar.
    pub fn watch(&mut self, progress: &'a dyn Fn(Nanos, u64)) {
        self.observers.progress = Some(progress);
    }

    /// Hands every attempt that goes on the wire to `sink` as it ends (the request log).
    pub fn log_attempts(&mut self, sink: &'a mut dyn AttemptSink) {
        self.observers.attempt_log.sink = Some(sink);
    }

    /// Traces every event in [from_ns, to_ns) into `sink`; the run stops at `to_ns`.
    pub fn trace_window(&mut self, from_ns: Nanos, to_ns: Nanos, sink: &'a mut dyn TraceSink) {
        self.observers.trace = Trace {
            sink: Some(sink),
            from_ns,
            to_ns,
            started: false,
            error: None,
        };
        self.observers.slo.record_events();
    }

    fn schedule_initial_events(&mut self) -> Result<(), RunError> {
        let sc = self.scenario;
        for (gi, g) in sc.groups.iter().enumerate() {
            let gi16 = gi as u16;
            match &g.arrivals {
                ArrivalModel::Replay(_) => self.schedule_replayed(gi16)?,
                ArrivalModel::Poisson(profile) => {
                    if let Some(t) = self.clients.groups[gi].traffic.next(profile, 0) {
                        self.schedule_arrival(t, Event::Arrival { group: gi16 });
                    }
                }
                ArrivalModel::ClosedLoop { users, think } => {
                    // Users start spread over one think time, not all at t = 0.
                    for user in 0..*users {
                        let t = secs_to_ns(think.sample(self.clients.groups[gi].traffic.rng()));
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
                let up = crate::dist::exponential_ns(&mut self.world.outage_rngs[pi], r.mtbf_ns);
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
        Ok(())
    }

    /// Arrivals only inside the run's duration. A group's next arrival goes to its ordered
    /// lane; a closed-loop user's (many at once, in no order) to the heap.
    fn schedule_arrival(&mut self, time: Nanos, event: Event) {
        if time >= self.arrivals_end_ns {
            return;
        }
        let lane = match event {
            Event::Arrival { group } => self.clients.groups[group as usize].arrival_lane,
            _ => None,
        };
        match lane {
            Some(lane) => self.queue.schedule_in_order(lane, time, event),
            None => self.queue.schedule(time, event),
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
        if let Some(e) = self.observers.attempt_log.error.take() {
            return Err(RunError::Output {
                what: format!("cannot write the request log: {e}"),
                complete: vec![],
            });
        }
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
        let end_ns = self
            .observers
            .trace
            .to_ns
            .min(match self.scenario.duration_ns {
                Some(d) => d.max(self.now),
                None => self.now,
            });
        if self.observers.trace.to_ns > end_ns {
            // The run ended inside the window: its last SLO steps are part of the trace.
            self.slo_steps(end_ns);
        }
        if let Some(sink) = self.observers.trace.sink.as_mut()
            && let Err(err) = sink.finish(end_ns)
        {
            self.observers.trace.error.get_or_insert(err);
        }
        match self.observers.trace.error.take() {
            Some(err) => Err(RunError::Io(err)),
            None => Ok(end_ns),
        }
    }

    /// The event loop, until the run is over (or the traced window is).
    fn play(&mut self, sink: &mut dyn BucketSink) -> Result<(), RunError> {
        self.schedule_initial_events()?;
        // Until this time no boundary can be crossed (the run's or the window's end, the end
        // of arrivals, the open bucket's, the next SLO step), so an event before it needs
        // one compare, not five. Capped arrivals can run out at any event: then always look.
        let mut quiet_until = 0;
        while let Some((time, event)) = self.queue.pop() {
            if time >= quiet_until {
                if self.at_boundary(sink, time, &event)? == Boundary::Stop {
                    break;
                }
                quiet_until = if self.arrivals_capped {
                    0
                } else {
                    self.next_boundary_ns()
                };
            }
            self.now = time;
            if self.events_processed.is_multiple_of(WATCH_EVERY) {
                if crate::interrupt::requested() {
                    return Err(RunError::Interrupted(time));
                }
                if let Some(progress) = self.observers.progress {
                    progress(time, self.clients.next_request_id);
                }
            }
            self.events_processed += 1;
            self.dispatch(event)?;
        }
        Ok(())
    }

    /// What must happen before the event at `time` is handled: the run or the traced
    /// window ends, or the buckets and SLO steps that ended by then are closed.
    fn at_boundary(
        &mut self,
        sink: &mut dyn BucketSink,
        time: Nanos,
        event: &Event,
    ) -> Result<Boundary, RunError> {
        if time >= self.hard_stop_ns {
            return Ok(Boundary::Stop);
        }
        if time >= self.observers.trace.to_ns {
            // The SLO steps that end inside the window belong to its trace.
            self.slo_steps(self.observers.trace.to_ns - 1);
            return Ok(Boundary::Stop);
        }
        // Done when no arrival can come, no request is alive and the providers have
        // finished (and billed) the work clients abandoned.
        let arrivals_over =
            time >= self.arrivals_end_ns || (self.arrivals_capped && self.arrivals_exhausted());
        if arrivals_over
            && self.clients.requests.live() == 0
            && self.world.jobs.live() == 0
            && !matches!(event, Event::Arrival { .. } | Event::UserWakes { .. })
        {
            return Ok(Boundary::Stop);
        }
        while time >= self.observers.bucket.end_ns() {
            self.close_bucket(sink, Nanos::MAX)?;
        }
        if time >= self.observers.slo.next_boundary_ns() {
            self.slo_steps(time);
        }
        Ok(Boundary::GoOn)
    }

    /// The earliest time `at_boundary` has something to do. Once arrivals are over it is
    /// that end (already past), so every event of the drain looks whether the run is done.
    fn next_boundary_ns(&self) -> Nanos {
        self.hard_stop_ns
            .min(self.observers.trace.to_ns)
            .min(self.arrivals_end_ns)
            .min(self.observers.bucket.end_ns())
            .min(self.observers.slo.next_boundary_ns())
    }

    fn arrivals_exhausted(&self) -> bool {
        self.scenario
            .groups
            .iter()
            .zip(&self.clients.groups)
            .all(|(g, s)| g.max_requests.is_some_and(|max| s.arrived >= max))
    }

    /// Hands an event to its handler. Events for an attempt carry its generation: a stale one
    /// (the attempt was answered, timed out or superseded) is dropped here, lazily.
    fn dispatch(&mut self, event: Event) -> Result<(), RunError> {
        match event {
            Event::Arrival { group } => self.arrival(group)?,
            Event::UserWakes { group, user } => self.user_wakes(group, user)?,
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
                    // Its timer was armed when it was sent.
                    self.reach_provider(request, None);
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
                    self.attempt_timed_out(request, generation);
                }
            }
            Event::ServiceDone { job } => self.service_done(job),
            Event::BulkheadWaitOver {
                request,
                generation,
            } => self.bulkhead_wait_over(request, generation),
            Event::HedgeDue {
                request,
                generation,
            } => {
                // Only while the attempt that armed it is still the latest one out.
                if self.is_current(request, generation, Phase::InFlight) {
                    self.send_hedge(request);
                }
            }
            Event::OutageStarts { provider, outage } => self.outage_started(provider, outage),
            Event::OutageEnds { provider, outage } => self.outage_ended(provider, outage),
            Event::RandomOutageStarts { provider } => self.random_outage_started(provider),
            Event::RandomOutageEnds { provider } => self.random_outage_ended(provider),
            Event::TopUp { provider, index } => self.topped_up(provider, index),
            Event::RechargeLands { provider } => self.recharge_landed(provider),
        }
        Ok(())
    }
}
