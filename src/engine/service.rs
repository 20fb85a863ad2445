//! The provider's side of an attempt: admission when the attempt reaches it (outage, rate
//! limits, credits, FIFO slots or a queue), the start of service and its completion (the
//! answer, the bill, and a freed slot handed to the next job in the queue). A job outlives
//! the client's interest in it: an abandoned attempt is still served and billed.

use crate::events::Event;
use crate::outcome::Failure;
use crate::provider::{ServiceKind, Verdict};
use crate::time::secs_to_ns;

use super::Sim;
use super::request::PendingTimeout;
use super::slab::Job;

impl Sim<'_> {
    /// The attempt reaches the provider. `timer` is its timeout when not yet armed: it is
    /// armed unless the attempt provably ends first (refused at once, or served from now
    /// and answered before it fires).
    pub(super) fn reach_provider(&mut self, request: u32, timer: Option<PendingTimeout>) {
        let now = self.now;
        let step = self.current_step(request);
        let (pi, mi) = (step.target.provider as usize, step.target.model as usize);
        let r = &self.clients.requests.items[request as usize];
        let (group, id, draws, generation) = (r.group, r.id, r.draws, r.generation);
        let (input_tokens, output_tokens, counted) = (r.input_tokens, r.output_tokens, r.counted);
        let provider = &self.scenario.providers[pi];
        let max_tokens = self.scenario.groups[group as usize].request.max_tokens;
        self.observers.provider_totals[pi].received += 1;
        match self.world.providers[pi].admit(now, provider, mi, input_tokens, max_tokens) {
            Verdict::Reject {
                failure,
                retry_after_ns,
            } => {
                if failure.is_out_of_credits() {
                    self.observers.provider_totals[pi]
                        .credits_exhausted_at_ns
                        .get_or_insert(now);
                    self.credits_changed(pi as u16, true);
                    // Nothing may be in flight to settle and trigger it: check here too.
                    self.check_recharge(pi as u16);
                }
                self.attempt_failed(request, failure, retry_after_ns);
            }
            Verdict::ConnectHang => {
                if let Some(timer) = timer {
                    self.arm(timer);
                }
                let policy = &self.scenario.groups[group as usize].policy;
                // Ends at the connect timeout unless the attempt timeout comes first.
                if policy.connect_timeout_ns < policy.attempt_timeout_ns {
                    let failure = Failure::ConnectTimeout;
                    let event = Event::AttemptFails {
                        request,
                        generation,
                        failure,
                    };
                    self.queue
                        .schedule(now.saturating_add(policy.connect_timeout_ns), event);
                }
            }
            Verdict::Accept { reserved_nusd } => {
                self.observers.provider_totals[pi].accepted += 1;
                let conditions = self.world.providers[pi].conditions;
                let rng = self.world.draws.at(id, draws);
                let draw = provider.draw_service(mi, conditions, rng);
                let kind = draw.kind;
                // What the request log records as the time to first token: an error's
                // whole latency, or the first token's time under the brownout.
                let (service_s, ttft_s) = match kind {
                    ServiceKind::Error(_) => (draw.error_s, draw.error_s),
                    ServiceKind::Success | ServiceKind::Hang => (
                        draw.service_s(output_tokens),
                        draw.ttft_s * draw.latency_multiplier,
                    ),
                };
                let service_ns = secs_to_ns(service_s);
                let job = self.world.jobs.insert(Job {
                    request,
                    generation,
                    provider: pi as u16,
                    model: mi as u16,
                    kind,
                    service_ns,
                    ttft_s,
                    input_tokens,
                    output_tokens,
                    reserved_nusd,
                    admitted_ns: now,
                    group,
                    counted,
                    live: true,
                });
                let state = &mut self.world.providers[pi];
                if state.has_free_slot(provider) {
                    self.start_service(job);
                    // Answered at `now + service` (an answer at the timer's very time
                    // comes after it: it was scheduled later), unless a hard outage turns
                    // the work in service into a hang meanwhile.
                    let answered_first = kind != ServiceKind::Hang
                        && !self.world.may_hang_in_service[pi]
                        && timer.is_some_and(|t| now.saturating_add(service_ns) < t.at_ns);
                    if let Some(timer) = timer.filter(|_| !answered_first) {
                        self.arm(timer);
                    }
                } else {
                    state.queue.push_back(job);
                    let len = state.queue.len() as u32;
                    self.observers.bucket.levels[pi].queue.set(now, len);
                    let totals = &mut self.observers.provider_totals[pi];
                    totals.queue_max = totals.queue_max.max(len);
                    if let Some(timer) = timer {
                        self.arm(timer);
                    }
                }
            }
        }
    }

    pub(super) fn start_service(&mut self, job: u32) {
        let j = self.world.jobs.items[job as usize];
        if j.admitted_ns >= self.scenario.warmup_ns {
            let totals = &mut self.observers.provider_totals[j.provider as usize];
            let wait = self.now - j.admitted_ns;
            totals.started += 1;
            totals.waited += u64::from(wait > 0);
            totals.wait_sum_ns += u128::from(wait);
        }
        let state = &mut self.world.providers[j.provider as usize];
        state.in_service += 1;
        self.observers.bucket.levels[j.provider as usize]
            .in_service
            .set(self.now, state.in_service);
        self.queue.schedule(
            self.now.saturating_add(j.service_ns),
            Event::ServiceDone { job },
        );
    }

    pub(super) fn service_done(&mut self, job: u32) {
        let now = self.now;
        let j = self.world.jobs.items[job as usize];
        self.world.jobs.items[job as usize].live = false;
        self.world.jobs.release(job);
        let pi = j.provider as usize;
        let model = &self.scenario.providers[pi].models[j.model as usize];
        let cost = if j.kind == ServiceKind::Success {
            model.cost_nusd(j.input_tokens, j.output_tokens)
        } else {
            0
        };
        if let Some(account) = &mut self.world.providers[pi].credits {
            account.settle(j.reserved_nusd, cost);
        }
        let produced = if j.kind == ServiceKind::Success {
            j.output_tokens
        } else {
            0
        };
        let max_tokens = self.scenario.groups[j.group as usize].request.max_tokens;
        self.world.providers[pi].output_settled(now, j.model as usize, max_tokens, produced);
        self.check_recharge(j.provider);
        let client_waiting = self.is_outstanding(j.request, j.generation);
        let totals = &mut self.observers.provider_totals[pi];
        if j.counted {
            totals.cost_nusd += cost;
            self.observers.target_cost_nusd
                [self.observers.target_offsets[pi] + j.model as usize] += cost;
        }
        if j.kind == ServiceKind::Success {
            totals.completed_ok += 1;
            if !client_waiting {
                totals.wasted += 1;
            }
        }
        // The bill is the run's cost whoever waited for it.
        self.count(j.group, j.counted, |t| t.cost_nusd += cost);

        let state = &mut self.world.providers[pi];
        state.in_service -= 1;
        self.observers.bucket.levels[pi]
            .in_service
            .set(now, state.in_service);
        if let Some(next) = state.queue.pop_front() {
            let len = state.queue.len() as u32;
            self.observers.bucket.levels[pi].queue.set(now, len);
            self.start_service(next);
        }

        if client_waiting {
            match j.kind {
                ServiceKind::Success => self.attempt_succeeded(j),
                ServiceKind::Error(failure) => {
                    self.copy_failed(j.request, j.generation, failure, None)
                }
                ServiceKind::Hang => {}
            }
        }
    }
}
