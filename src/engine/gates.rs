//! The client's own gates before an attempt is sent: the RPM / TPM rate limiter, the bulkhead
//! (with the requests queued for a slot), and the credit pre-check of the seed's service.
//! A gate may make a request wait; a wait that would end past the request's deadline is not
//! taken.

use crate::events::Event;
use crate::outcome::Failure;
use crate::time::Nanos;

use super::Sim;
use super::slab::Phase;

impl Sim<'_> {
    /// The client's own gates before sending: the RPM / TPM limiter and the bulkhead. Either
    /// may make the request wait (true: go on now; false: it waits or has ended). A wait
    /// that would end past the request's deadline is not taken.
    pub(super) fn client_gates_open(&mut self, request: u32) -> bool {
        let now = self.now;
        let r = self.clients.requests.items[request as usize];
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
            let g = &mut self.clients.groups[gi];
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
    pub(super) fn limiter_wait(&mut self, request: u32) -> Nanos {
        let r = self.clients.requests.items[request as usize];
        let gi = r.group as usize;
        let tokens =
            f64::from(r.input_tokens) + f64::from(self.scenario.groups[gi].request.max_tokens);
        let g = &mut self.clients.groups[gi];
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
    pub(super) fn take_limiter_tokens(&mut self, request: u32) {
        let r = self.clients.requests.items[request as usize];
        let gi = r.group as usize;
        let tokens =
            f64::from(r.input_tokens) + f64::from(self.scenario.groups[gi].request.max_tokens);
        let g = &mut self.clients.groups[gi];
        if let Some(b) = &mut g.limiter_rpm {
            b.take(1.0);
        }
        if let Some(b) = &mut g.limiter_tpm {
            b.take(tokens);
        }
    }

    /// Slots of the group's bulkhead freed: they go to the requests waiting, first come
    /// first served, each holding its slot (`bulkhead_slot`) until it sends or gives it back.
    pub(super) fn release_bulkhead_slots(&mut self, group: usize, slots: u32) {
        self.clients.groups[group].in_flight -= slots;
        let Some(bulkhead) = self.scenario.groups[group].policy.bulkhead else {
            return;
        };
        while self.clients.groups[group].in_flight < bulkhead.max_in_flight {
            let Some((request, generation)) = self.clients.groups[group].bulkhead_queue.pop_front()
            else {
                break;
            };
            if self.is_current(request, generation, Phase::Waiting) {
                self.clients.groups[group].in_flight += 1;
                self.clients.requests.items[request as usize].bulkhead_slot = true;
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
    pub(super) fn return_bulkhead_slot(&mut self, request: u32) {
        let r = &mut self.clients.requests.items[request as usize];
        if r.bulkhead_slot {
            r.bulkhead_slot = false;
            let group = r.group as usize;
            self.release_bulkhead_slots(group, 1);
        }
    }

    /// The seed's pre-check: is the account of the request's current target short of the
    /// call's estimated cost (or below the alert threshold)? Raises a low-credit alert if so.
    pub(super) fn credits_short(
        &mut self,
        request: u32,
        check: crate::policy::CreditCheck,
    ) -> bool {
        let r = self.clients.requests.items[request as usize];
        let step = self.current_step(request);
        let pi = step.target.provider as usize;
        let Some(account) = &self.world.providers[pi].credits else {
            return false;
        };
        let model = &self.scenario.providers[pi].models[step.target.model as usize];
        let max_tokens = self.scenario.groups[r.group as usize].request.max_tokens;
        let estimate = model.cost_nusd(r.input_tokens, max_tokens) as f64 * check.margin;
        let balance = account.balance_nusd();
        let short = (balance as f64) < estimate || balance < check.alert_below_nusd;
        if short {
            self.count(r.group, r.counted, |t| t.low_credit_alerts += 1);
            self.observers.provider_totals[pi]
                .first_low_credit_alert_ns
                .get_or_insert(self.now);
        }
        short
    }

    /// A request waited for a bulkhead slot as long as it may: if it is still in the queue,
    /// it leaves it, rejected (or out of time).
    pub(super) fn bulkhead_wait_over(&mut self, request: u32, generation: u32) {
        let group = self.clients.requests.items[request as usize].group as usize;
        let queue = &mut self.clients.groups[group].bulkhead_queue;
        if let Some(at) = queue
            .iter()
            .position(|&entry| entry == (request, generation))
        {
            queue.remove(at);
            let r = &self.clients.requests.items[request as usize];
            let deadline = self.scenario.groups[group].policy.deadline_ns;
            if self.now >= r.arrived_ns.saturating_add(deadline) {
                self.finish_failed(request, Failure::DeadlineExceeded);
            } else {
                self.rejected_locally(request, Failure::BulkheadFull);
            }
        }
    }
}
