//! A request's life in the client: its arrival (and the `MAX_LIVE_REQUESTS` limit), the start
//! of each attempt (breaker admission, routing around unavailable targets, the chaos layer),
//! sending it and its hedges, and its end (`finish_failed`, `end_request`, which frees the
//! slot and wakes a closed-loop user after their think time).
//!
//! What happens once an attempt has an answer is in `retry.rs`; the gates an attempt passes
//! before it is sent (limiter, bulkhead, credit pre-check) are in `gates.rs`.

use rand::RngExt;

use crate::chaos::ChaosFault;
use crate::events::{Event, Lane, Reserved};
use crate::metrics::record_latency;
use crate::outcome::Failure;
use crate::policy::breaker::{Admission, BreakerState, Epoch};
use crate::policy::{ChainStep, MAX_OUTER_RETRY_LAYERS};
use crate::rng::DrawCursor;
use crate::scenario::limits;
use crate::time::{Nanos, secs_to_ns};
use crate::trace::TraceKind;
use crate::traffic::ArrivalModel;

use super::slab::{NONE, Phase, Request, copy_bit};
use super::{RunError, Sim};

/// An attempt's timeout, not yet scheduled: one that provably cannot fire (the attempt is
/// answered at a known earlier time, or failed at once) is never scheduled. A third of a
/// simple run's events were such timers, popped only to be discarded.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingTimeout {
    /// Its place in the order of events, taken when the attempt was sent.
    place: Reserved,
    /// When it fires: the attempt timeout, or the request's deadline when that comes first.
    pub(super) at_ns: Nanos,
    /// The group's timeout lane, or none when the deadline cut it short (the heap).
    lane: Option<Lane>,
    request: u32,
    generation: u32,
}

impl Sim<'_> {
    #[inline]
    pub(super) fn is_current(&self, request: u32, generation: u32, phase: Phase) -> bool {
        let r = &self.clients.requests.items[request as usize];
        r.generation == generation && r.phase == phase
    }

    /// Is an answer or timer of attempt `generation` still awaited? Any attempt out counts:
    /// the latest one or, while hedging, an earlier one racing it.
    #[inline]
    pub(super) fn is_outstanding(&self, request: u32, generation: u32) -> bool {
        let r = &self.clients.requests.items[request as usize];
        r.phase == Phase::InFlight
            && r.first_live_generation <= generation
            && generation <= r.generation
            && r.copies & copy_bit(r.first_live_generation, generation) != 0
    }

    pub(super) fn arrive(&mut self, group: u16, user: u32) -> Result<(), RunError> {
        if self.clients.requests.live() >= limits::MAX_LIVE_REQUESTS {
            // Checked here, at the only place requests are born.
            return Err(RunError::Limit(format!(
                "more than {} requests alive at once at {}: the clients' timeouts do not bound the backlog; \
                 shorten `policy.timeout` or `policy.deadline`, or lower the traffic",
                limits::MAX_LIVE_REQUESTS,
                crate::time::format_clock(self.now)
            )));
        }
        let g = &self.scenario.groups[group as usize];
        let id = self.clients.next_request_id;
        self.clients.next_request_id += 1;
        self.clients.groups[group as usize].arrived += 1;
        let rng = self.world.draws.at(id, DrawCursor::START);
        let input_tokens = g.request.input_tokens.sample_count(rng, 1);
        let output_tokens = g
            .request
            .output_tokens
            .sample_count(rng, 1)
            .min(g.request.max_tokens);
        let draws = self.world.draws.cursor(id);
        let counted = self.now >= self.scenario.warmup_ns;
        self.in_system_changes();
        self.observers.little.arrived += 1;
        // Keep the slot's generation running across reuse (see `Request::generation`).
        let generation = self
            .clients
            .requests
            .free
            .last()
            .map_or(0, |&i| self.clients.requests.items[i as usize].generation)
            .wrapping_add(1);
        let index = self.clients.requests.insert(Request {
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
            self.observers.slo.arrival(group);
        }
        if self.tracing() {
            self.emit(self.request_trace(index, TraceKind::Arrived));
        }
        let g = &mut self.clients.groups[group as usize];
        g.live += 1;
        if let Some(budget) = &mut g.budget {
            budget.on_request(self.now);
        }
        self.start_attempt(index);
        Ok(())
    }

    pub(super) fn current_step(&self, request: u32) -> ChainStep {
        let r = &self.clients.requests.items[request as usize];
        self.scenario.groups[r.group as usize].policy.chain[r.chain_pos as usize]
    }

    /// The breaker the request's attempts on its current target pass (NONE without one): of
    /// a fleet of N instances, instance `request id mod N` or, assigned at random, the
    /// seed's pick for the request.
    pub(super) fn breaker_of(&self, request: u32) -> u32 {
        let r = &self.clients.requests.items[request as usize];
        let g = &self.clients.groups[r.group as usize];
        let first = g.breakers[r.chain_pos as usize];
        if first == NONE {
            return NONE;
        }
        let n = u64::from(g.breaker_instances);
        let instance = match g.instance_key {
            // One client instance (the usual case): no 64-bit division on every attempt.
            _ if n == 1 => 0,
            None => r.id % n,
            Some(key) => crate::rng::pick(key, r.id, n),
        };
        first + instance as u32
    }

    pub(super) fn start_attempt(&mut self, request: u32) {
        let now = self.now;
        let r = &self.clients.requests.items[request as usize];
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
        // Adaptive throttling rejects before the breaker is consulted.
        if let Some(throttle) = &mut self.clients.groups[gi].throttle {
            let p = throttle.reject_probability(now);
            throttle.on_request(now);
            if p > 0.0 && self.clients.groups[gi].jitter.random::<f64>() < p {
                return self.rejected_locally(request, Failure::Throttled);
            }
        }
        let breaker = self.breaker_of(request);
        let mut breaker_epoch = Epoch::default();
        if breaker != NONE {
            let slot = &mut self.clients.breakers[breaker as usize].breaker;
            let state_before = slot.state();
            let admission = slot.admit(now);
            let reopened = slot.take_reopened();
            breaker_epoch = slot.epoch();
            if self.tracing()
                && state_before == BreakerState::Open
                && self.clients.breakers[breaker as usize].breaker.state() == BreakerState::HalfOpen
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
    pub(super) fn send_attempt(
        &mut self,
        request: u32,
        breaker: u32,
        breaker_epoch: Epoch,
        hedge: bool,
    ) {
        let now = self.now;
        let step = self.current_step(request);
        let gi = self.clients.requests.items[request as usize].group as usize;
        let policy = &self.scenario.groups[gi].policy;
        let r = &mut self.clients.requests.items[request as usize];
        if r.bulkhead_slot {
            // The slot handed over while it waited now counts as this attempt's.
            r.bulkhead_slot = false;
        } else {
            self.clients.groups[gi].in_flight += 1;
        }
        let r = &mut self.clients.requests.items[request as usize];
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
                self.clients.groups[gi].retries_in_flight += 1;
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
            self.observers.slo.attempt_sent(gi as u16);
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
        // request's deadline cuts it shorter. It holds its place in the event order now but
        // is scheduled only once the attempt could still be out when it fires (`arm`).
        let timeout_at = now.saturating_add(policy.attempt_timeout_ns);
        let timer = PendingTimeout {
            place: self.queue.reserve(),
            at_ns: timeout_at.min(deadline_at),
            lane: (timeout_at <= deadline_at).then_some(self.clients.groups[gi].timeout_lane),
            request,
            generation,
        };

        if let Some(chaos) = &self.scenario.chaos
            && chaos.applies(now, gi, step.target.provider as usize)
        {
            let rng = self.world.draws.at(id, cursor);
            let (fire, kind) = (rng.random::<f64>(), rng.random::<f64>());
            self.clients.requests.items[request as usize].draws = self.world.draws.cursor(id);
            match chaos.roll(fire, kind) {
                None => {}
                Some(ChaosFault::Timeout) => {
                    self.arm(timer);
                    if let Some(after) = chaos.timeout_after_ns
                        && now.saturating_add(after) < timer.at_ns
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
                // Failures at once end the attempt: its timer could never fire.
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
                    self.arm(timer);
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
        self.reach_provider(request, Some(timer));
    }

    /// Schedules an attempt's timeout in the place it took when the attempt was sent.
    pub(super) fn arm(&mut self, timer: PendingTimeout) {
        let event = Event::AttemptTimeout {
            request: timer.request,
            generation: timer.generation,
        };
        self.queue
            .schedule_reserved(timer.place, timer.at_ns, timer.lane, event);
    }

    /// The client itself stopped the attempt (open breaker, throttling): nothing is sent,
    /// but it counts against the target's attempts so a retry loop stays bounded.
    pub(super) fn rejected_locally(&mut self, request: u32, failure: Failure) {
        self.return_bulkhead_slot(request);
        let r = &mut self.clients.requests.items[request as usize];
        r.attempts_on_target += 1;
        r.phase = Phase::InFlight;
        self.attempt_failed(request, failure, None);
    }

    /// Sends a hedged copy of the attempt out (Polly, gRPC hedging) to the same target, if
    /// every gate lets it: the breaker must be closed (a hedge never takes a half-open
    /// probe), the target must not be cooling down, and the bulkhead, the limiter, the gRPC
    /// throttle and adaptive throttling must have room now (a hedge never waits). The first
    /// success wins; the others are abandoned.
    pub(super) fn send_hedge(&mut self, request: u32) {
        let now = self.now;
        let r = self.clients.requests.items[request as usize];
        let gi = r.group as usize;
        let policy = &self.scenario.groups[gi].policy;
        let step = self.current_step(request);
        let cooling = policy.cooldown.is_some()
            && self.clients.groups[gi].cooldowns[r.chain_pos as usize].is_cool(now);
        let bulkhead_full = policy
            .bulkhead
            .is_some_and(|b| self.clients.groups[gi].in_flight >= b.max_in_flight);
        let breaker_closed = r.breaker == NONE
            || self.clients.breakers[r.breaker as usize].breaker.state() == BreakerState::Closed;
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
        if let Some(budget) = &mut self.clients.groups[gi].budget
            && !budget.allows_hedge()
        {
            return;
        }
        if let Some(throttle) = &mut self.clients.groups[gi].throttle {
            let p = throttle.reject_probability(now);
            throttle.on_request(now);
            if p > 0.0 && self.clients.groups[gi].jitter.random::<f64>() < p {
                return;
            }
        }
        let mut epoch = Epoch::default();
        if r.breaker != NONE {
            let slot = &mut self.clients.breakers[r.breaker as usize].breaker;
            slot.admit(now);
            epoch = slot.epoch();
        }
        self.take_limiter_tokens(request);
        self.clients.requests.items[request as usize].hedges += 1;
        self.send_attempt(request, r.breaker, epoch, true);
    }

    /// Moves the request past chain steps it must not call now: targets cooling down
    /// (LiteLLM) and, with the credit pre-check, accounts too short for the call. Returns
    /// false when the request ended because no target was left.
    pub(super) fn route_around_unavailable_targets(&mut self, request: u32) -> bool {
        let now = self.now;
        loop {
            let r = self.clients.requests.items[request as usize];
            let gi = r.group as usize;
            let policy = &self.scenario.groups[gi].policy;
            let pos = r.chain_pos as usize;
            let has_next = pos + 1 < policy.chain.len();
            let cooling =
                policy.cooldown.is_some() && self.clients.groups[gi].cooldowns[pos].is_cool(now);
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
            let r = &mut self.clients.requests.items[request as usize];
            r.chain_pos += 1;
            r.attempts_on_target = 0;
            r.backoff_memory = 0;
            r.retry_cost = 0;
            r.layer_retries = [0; MAX_OUTER_RETRY_LAYERS];
            r.layer_memory = [0; MAX_OUTER_RETRY_LAYERS];
            self.fell_back(request);
        }
    }

    pub(super) fn finish_failed(&mut self, request: u32, failure: Failure) {
        let r = self.clients.requests.items[request as usize];
        let latency = self.now - r.arrived_ns;
        self.count(r.group, r.counted, |t| {
            t.failed += 1;
            t.failed_by[failure.index()] += 1;
        });
        if r.counted {
            record_latency(&mut self.observers.latency_failed, latency);
            self.observers.slo.request_ended(r.group, false, latency);
        }
        if self.tracing() {
            let mut e = self.request_trace(request, TraceKind::RequestFailed);
            e.failure = Some(failure);
            self.emit(e);
        }
        self.end_request(request);
    }

    pub(super) fn end_request(&mut self, request: u32) {
        self.return_bulkhead_slot(request);
        self.in_system_changes();
        self.observers.little.ended += 1;
        let lifetime = self.now - self.clients.requests.items[request as usize].arrived_ns;
        self.observers.little.time_in_system_sum_ns += u128::from(lifetime);
        let r = &mut self.clients.requests.items[request as usize];
        r.phase = Phase::Free;
        r.generation = r.generation.wrapping_add(1);
        let (group, user, id) = (r.group, r.user, r.id);
        self.clients.requests.release(request);
        self.clients.groups[group as usize].live -= 1;
        if user != NONE
            && let ArrivalModel::ClosedLoop { think, .. } =
                &self.scenario.groups[group as usize].arrivals
        {
            let think_ns = secs_to_ns(think.sample(self.world.draws.think(id)));
            self.schedule_arrival(
                self.now.saturating_add(think_ns),
                Event::UserWakes { group, user },
            );
        }
    }

    /// A Poisson arrival: the request arrives, and the next arrival of its group is
    /// scheduled (unless the group has had all its requests).
    pub(super) fn arrival(&mut self, group: u16) -> Result<(), RunError> {
        self.arrive(group, NONE)?;
        let g = &self.scenario.groups[group as usize];
        if let ArrivalModel::Replay(_) = &g.arrivals
            && g.max_requests
                .is_none_or(|max| self.clients.groups[group as usize].arrived < max)
        {
            self.schedule_replayed(group)?;
        }
        if let ArrivalModel::Poisson(profile) = &g.arrivals
            && g.max_requests
                .is_none_or(|max| self.clients.groups[group as usize].arrived < max)
            && let Some(t) = self.clients.groups[group as usize]
                .traffic
                .next(profile, self.now)
        {
            self.schedule_arrival(t, Event::Arrival { group });
        }
        Ok(())
    }

    /// Schedules a `replay` group's next recorded arrival, if the file has one before the
    /// arrivals end (records are in time order, so reading stops there).
    pub(super) fn schedule_replayed(&mut self, group: u16) -> Result<(), RunError> {
        let state = &mut self.clients.groups[group as usize];
        let replay = state
            .replay
            .as_mut()
            .expect("a replay group has its reader");
        let next = replay
            .next(state.traffic.rng())
            .map_err(RunError::BadInput)?;
        if let Some(t) = next {
            debug_assert!(t >= self.now, "replayed arrivals are in time order");
            self.schedule_arrival(t, Event::Arrival { group });
        }
        Ok(())
    }

    /// A closed-loop user is done thinking and sends its next request (unless the group has
    /// had all its requests).
    pub(super) fn user_wakes(&mut self, group: u16, user: u32) -> Result<(), RunError> {
        let g = &self.scenario.groups[group as usize];
        if g.max_requests
            .is_none_or(|max| self.clients.groups[group as usize].arrived < max)
        {
            self.arrive(group, user)?;
        }
        Ok(())
    }
}
