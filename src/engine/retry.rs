//! An attempt's outcome and what follows it. A success ends the request; a failure is
//! counted, recorded in the breaker, and then decided: retry the same target after a
//! delay, move to the next target of the fallback chain, or give up.
//!
//! The retry orchestration: the retry policy's backoff (and a 429's Retry-After),
//! the retry budget's veto, the cut at the request's deadline, and the outer retry layers
//! that call the inner ones again from scratch.

use rand::RngExt;

use crate::events::Event;
use crate::metrics::{ErrorRecord, record_latency};
use crate::outcome::Failure;
use crate::policy::breaker::Recorded;
use crate::policy::budget::accepted;
use crate::policy::{ChainStep, MAX_OUTER_RETRY_LAYERS, NextStep};
use crate::time::{Nanos, secs_to_ns};
use crate::trace::TraceKind;

use super::Sim;
use super::slab::{Job, NONE, Phase, Request, copy_bit};

impl Sim<'_> {
    /// The provider's job `answer` answered its copy of the request's attempt.
    pub(super) fn attempt_succeeded(&mut self, answer: Job) {
        let (request, generation) = (answer.request, answer.generation);
        if self.observers.attempt_log.sink.is_some() {
            // The part of the service after the first token, for the log's time to first
            // token: converted here, for its one reader, not for every answer.
            let streaming_ns = answer.service_ns.saturating_sub(secs_to_ns(answer.ttft_s));
            self.log_attempt(request, generation, None, streaming_ns, None);
        }
        let r = &self.clients.requests.items[request as usize];
        let (group, counted, arrived_ns) = (r.group, r.counted, r.arrived_ns);
        let (from_fallback, hedge_won) = (r.chain_pos > 0, generation != r.first_live_generation);
        if hedge_won {
            self.count(group, counted, |t| t.hedges_won += 1);
        }
        self.record_breaker(request, Recorded::Success, None);
        self.attempt_ended(request, None);
        let target = self.current_step(request).target;
        let pi = target.provider as usize;
        if counted {
            self.observers.target_answers
                [self.observers.target_offsets[pi] + target.model as usize] += 1;
        }
        if let Some(since) = self.observers.faults[pi].recovering_since_ns.take() {
            // The first answer after a fault window: the time to recover.
            let totals = &mut self.observers.provider_totals[pi];
            totals.recoveries += 1;
            totals.recovery_sum_ns += u128::from(self.now - since);
            totals.recovery_max_ns = totals.recovery_max_ns.max(self.now - since);
        }
        let latency = self.now - arrived_ns;
        self.count(group, counted, |t| {
            t.succeeded += 1;
            t.latency_sum_ns += u128::from(latency);
            t.served_by_fallback += u64::from(from_fallback);
        });
        if counted {
            record_latency(&mut self.observers.latency_ok, latency);
            self.observers.slo.request_ended(group, true, latency);
        }
        record_latency(&mut self.observers.bucket.latency, latency);
        if self.tracing() {
            let mut e = self.request_trace(request, TraceKind::Succeeded);
            e.attempt_ns =
                Some(self.now - self.clients.requests.items[request as usize].attempt_started_ns);
            self.as_copy(&mut e, request, generation);
            self.emit(e);
        }
        self.end_request(request);
    }

    /// The failure of copy `generation` of the request's attempt (its own timer, its answer).
    pub(super) fn copy_failed(
        &mut self,
        request: u32,
        generation: u32,
        failure: Failure,
        retry_after_ns: Option<Nanos>,
    ) {
        self.clients.answering = Some(generation);
        self.attempt_failed(request, failure, retry_after_ns);
        self.clients.answering = None;
    }

    pub(super) fn attempt_failed(
        &mut self,
        request: u32,
        failure: Failure,
        retry_after_ns: Option<Nanos>,
    ) {
        let now = self.now;
        let r = self.clients.requests.items[request as usize];
        let step = self.current_step(request);
        let gi = r.group as usize;
        let policy = &self.scenario.groups[gi].policy;
        if !failure.is_local() {
            if self.observers.attempt_log.sink.is_some() {
                let generation = self.clients.answering.unwrap_or(r.generation);
                self.log_attempt(request, generation, Some(failure), 0, retry_after_ns);
            }
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
            self.observers.slo.attempt_failed(r.group, failure);
        }
        if self.tracing() {
            let mut e = self.request_trace(request, TraceKind::AttemptFailed);
            e.failure = Some(failure);
            e.retry_after_ns = retry_after_ns;
            // A local rejection sent nothing: it has no duration of its own.
            e.attempt_ns = (!failure.is_local()).then(|| now - r.attempt_started_ns);
            if let Some(copy) = self.clients.answering {
                self.as_copy(&mut e, request, copy);
            }
            self.emit(e);
        }
        self.observers.recent_errors.push(ErrorRecord {
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
            let generation = self.clients.answering.unwrap_or(r.generation);
            self.clients.requests.items[request as usize].copies &=
                !copy_bit(r.first_live_generation, generation);
            return;
        }

        if failure == Failure::DeadlineExceeded {
            // Out of time: no retry, no fallback.
            return self.finish_failed(request, failure);
        }
        match self.decide_retry(request, &r, step, failure, retry_after_ns) {
            RetryDecision::Retry {
                delay_ns,
                at,
                uniform,
            } => self.retry_same_target(request, &r, delay_ns, at, uniform),
            RetryDecision::NextTarget => self.move_to_next_target(request, &r, step, failure),
            RetryDecision::OuterLayer => {}
            RetryDecision::PastDeadline => {
                self.finish_failed(request, Failure::DeadlineExceeded);
            }
        }
    }

    /// Where a failed attempt's retry delay is finally decided, one layer after the other:
    /// the retry policy's backoff (which reads a 429's Retry-After), an open retries-only
    /// breaker's veto and then the retry budget's (denied, the request moves on as if its
    /// retries were exhausted), the outer retry layers (once the inner ones give up on the
    /// target; the breaker stops theirs too), and the cut at the request's deadline (a retry
    /// that would start after it is not taken).
    fn decide_retry(
        &mut self,
        request: u32,
        r: &Request,
        step: ChainStep,
        failure: Failure,
        retry_after_ns: Option<Nanos>,
    ) -> RetryDecision {
        let now = self.now;
        let gi = r.group as usize;
        let policy = &self.scenario.groups[gi].policy;
        let uniform = self.clients.groups[gi].jitter.random::<f64>();
        let next = policy.retry.after_failure(
            failure,
            retry_after_ns,
            step,
            r.attempts_on_target,
            r.backoff_memory,
            uniform,
        );
        let deadline_at = r.arrived_ns.saturating_add(policy.deadline_ns);
        // A retries-only breaker that is open stops every retry (Brooker's retry breaker),
        // before the budget is charged for it.
        let breaker = self.breaker_of(request);
        let stopped = breaker != NONE
            && self.clients.breakers[breaker as usize]
                .breaker
                .stops_retries();
        let next = match next {
            NextStep::Retry { .. } if stopped => {
                self.count(r.group, r.counted, |t| t.retries_stopped_by_breaker += 1);
                return RetryDecision::NextTarget;
            }
            _ => next,
        };
        // The retry budget has the last word on a retry; denied, the request moves on as if
        // its retries were exhausted.
        let next = match next {
            NextStep::Retry { .. } if self.clients.groups[gi].budget.is_some() => {
                let g = &self.clients.groups[gi];
                let (live, in_flight) = (g.live, g.retries_in_flight);
                let budget = self.clients.groups[gi]
                    .budget
                    .as_mut()
                    .expect("matched above");
                if budget.try_retry(now, failure, live, in_flight) {
                    let cost = budget.retry_cost(failure) as u16;
                    self.clients.requests.items[request as usize].retry_cost = cost;
                    next
                } else {
                    self.count(r.group, r.counted, |t| t.retries_denied += 1);
                    NextStep::NextTarget
                }
            }
            _ => next,
        };
        match next {
            NextStep::NextTarget => {
                if self.retry_outer_layer(request, failure, retry_after_ns, deadline_at, stopped) {
                    RetryDecision::OuterLayer
                } else {
                    RetryDecision::NextTarget
                }
            }
            NextStep::Retry { delay_ns } => {
                let at = now.saturating_add(delay_ns);
                if at >= deadline_at {
                    RetryDecision::PastDeadline
                } else {
                    RetryDecision::Retry {
                        delay_ns,
                        at,
                        uniform,
                    }
                }
            }
        }
    }

    /// Retries the same target at `at`, after the backoff's `delay_ns`.
    fn retry_same_target(
        &mut self,
        request: u32,
        r: &Request,
        delay_ns: Nanos,
        at: Nanos,
        uniform: f64,
    ) {
        let policy = &self.scenario.groups[r.group as usize].policy;
        let req = &mut self.clients.requests.items[request as usize];
        req.backoff_memory = policy
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

    /// Moves to the next target of the fallback chain, at once; without one, the request
    /// fails with the attempt's failure.
    fn move_to_next_target(
        &mut self,
        request: u32,
        r: &Request,
        step: ChainStep,
        failure: Failure,
    ) {
        let now = self.now;
        // Credits belong to the account: its other models cannot pay either.
        let chain = &self.scenario.groups[r.group as usize].policy.chain;
        let skip_provider = failure.is_out_of_credits().then_some(step.target.provider);
        let next_pos = (r.chain_pos as usize + 1..chain.len())
            .find(|&pos| skip_provider.is_none_or(|p| chain[pos].target.provider != p));
        match next_pos {
            None => self.finish_failed(request, failure),
            Some(pos) => {
                let req = &mut self.clients.requests.items[request as usize];
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

    /// The layers inside gave up on the target: the innermost outer retry layer that may
    /// still retry calls them again, from scratch, after its own backoff. True if one did.
    /// `stopped`: an open retries-only breaker stops the layer's retry.
    pub(super) fn retry_outer_layer(
        &mut self,
        request: u32,
        failure: Failure,
        retry_after_ns: Option<Nanos>,
        deadline_at: Nanos,
        stopped: bool,
    ) -> bool {
        let r = self.clients.requests.items[request as usize];
        let gi = r.group as usize;
        let layers = &self.scenario.groups[gi].policy.outer_retries;
        for (k, layer) in layers.iter().enumerate() {
            let calls = u32::from(r.layer_retries[k]) + 1;
            let step = ChainStep {
                target: self.current_step(request).target,
                attempts: layer.max_attempts,
            };
            let uniform = self.clients.groups[gi].jitter.random::<f64>();
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
            if stopped {
                self.count(r.group, r.counted, |t| t.retries_stopped_by_breaker += 1);
                return false;
            }
            let at = self.now.saturating_add(delay_ns);
            if at >= deadline_at {
                return false;
            }
            let req = &mut self.clients.requests.items[request as usize];
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
    pub(super) fn attempt_ended(&mut self, request: u32, failure: Option<Failure>) {
        let now = self.now;
        let r = &self.clients.requests.items[request as usize];
        let (group, counted, chain_pos) = (r.group, r.counted, r.chain_pos);
        let (is_retry, copies, retry_cost) = (r.is_retry, r.copies, r.retry_cost);
        let gi = group as usize;
        let g = &mut self.clients.groups[gi];
        // A retry leaves flight with its request's last attempt out (or its success).
        if is_retry && (failure.is_none() || copies.count_ones() <= 1) {
            g.retries_in_flight -= 1;
        }
        if let Some(budget) = &mut g.budget {
            budget.on_attempt(failure.is_none(), f64::from(retry_cost));
        }
        if accepted(failure)
            && let Some(throttle) = &mut g.throttle
        {
            throttle.on_accept(now);
        }
        // With hedging, a success also ends the copies still out.
        let ended = if failure.is_none() {
            copies.count_ones().max(1)
        } else {
            1
        };
        self.release_bulkhead_slots(gi, ended);
        let g = &mut self.clients.groups[gi];
        if let Some(config) = &self.scenario.groups[gi].policy.cooldown {
            let cooldown = &mut g.cooldowns[chain_pos as usize];
            let cooled = match failure {
                None => {
                    cooldown.on_success(now);
                    false
                }
                Some(failure) => cooldown.on_failure(config, now, failure == Failure::RateLimited),
            };
            if cooled {
                self.count(group, counted, |t| t.cooldowns += 1);
            }
        }
    }

    /// Counts a move down the fallback chain, to the request's (new) current target.
    pub(super) fn fell_back(&mut self, request: u32) {
        let r = self.clients.requests.items[request as usize];
        self.count(r.group, r.counted, |t| t.fallbacks += 1);
        if r.counted {
            let target = self.current_step(request).target;
            self.observers.target_fallbacks[self.observers.target_offsets
                [target.provider as usize]
                + target.model as usize] += 1;
        }
    }

    /// An attempt's timer fired while the attempt was still out.
    pub(super) fn attempt_timed_out(&mut self, request: u32, generation: u32) {
        // The timer was cut short by the request's deadline, or is the attempt's own timeout.
        let r = &self.clients.requests.items[request as usize];
        let deadline = self.scenario.groups[r.group as usize].policy.deadline_ns;
        let failure = if self.now >= r.arrived_ns.saturating_add(deadline) {
            Failure::DeadlineExceeded
        } else {
            Failure::Timeout
        };
        self.copy_failed(request, generation, failure, None);
    }
}

/// Where a failed attempt's request goes next, once every layer has had its say
/// (`Sim::decide_retry`).
enum RetryDecision {
    /// Retry the same target at `at`, `delay_ns` from now; `uniform` is the jitter draw the
    /// backoff used (its memory for the next retry needs it).
    Retry {
        delay_ns: Nanos,
        at: Nanos,
        uniform: f64,
    },
    /// The target is given up: the next one in the fallback chain, if any.
    NextTarget,
    /// An outer retry layer took the request: its next attempt is scheduled already.
    OuterLayer,
    /// The retry would start at or after the request's deadline.
    PastDeadline,
}
