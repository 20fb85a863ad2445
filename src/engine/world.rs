//! The world's own events, which no client causes: scheduled and random outages (and the
//! work in progress they abort), brownouts, credit top-ups and auto-recharges, and the
//! provider conditions (down, brownout, credits out) the time series, the fault windows, the
//! SLOs and the trace see.

use crate::events::Event;
use crate::outage::{DownBehaviour, InProgress};
use crate::outcome::Failure;
use crate::provider::{RANDOM_OUTAGE_ID, ServiceKind};
use crate::slo::ConditionKind;
use crate::trace::TraceKind;

use super::{FaultWindow, Sim};

impl Sim<'_> {
    /// Credits of `provider` ran out (a 402 from the account itself) or came back.
    pub(super) fn credits_changed(&mut self, provider: u16, out: bool) {
        let pi = provider as usize;
        if self.observers.credits_out[pi] == out {
            return;
        }
        self.observers.credits_out[pi] = out;
        self.observers.slo.condition(
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

    /// Records the provider's down / brownout state for the time series and the fault
    /// window figures.
    pub(super) fn conditions_changed(&mut self, provider: u16) {
        let conditions = self.world.providers[provider as usize].conditions;
        let faults = &mut self.observers.faults[provider as usize];
        match (conditions.is_degraded(), faults.degraded_since_ns) {
            (true, None) => {
                *faults = FaultWindow {
                    degraded_since_ns: Some(self.now),
                    ..*faults
                };
                faults.detected = false;
                faults.recovering_since_ns = None;
                self.observers.provider_totals[provider as usize].fault_windows += 1;
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
        let levels = &mut self.observers.bucket.levels[provider as usize];
        levels.down.set(self.now, u32::from(down));
        levels.brownout.set(self.now, u32::from(brownout));
        let condition = if down {
            Some(ConditionKind::Outage)
        } else if brownout {
            Some(ConditionKind::Brownout)
        } else {
            None
        };
        let previous = self.observers.provider_condition[provider as usize];
        if condition != previous {
            self.observers.provider_condition[provider as usize] = condition;
            let subject = u32::from(provider);
            if let Some(kind) = previous {
                self.observers.slo.condition(kind, subject, self.now, false);
            }
            if let Some(kind) = condition {
                self.observers.slo.condition(kind, subject, self.now, true);
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

    /// A hard outage takes the work in progress down with it (unless it lets that work
    /// finish, `in_progress: "finish"`): queued and in-service attempts fail the way new ones
    /// do (connection reset, the outage's status) or, when the provider hangs, never answer.
    /// Nothing of it is billed. Brownouts leave it alone.
    pub(super) fn abort_work_in_progress(&mut self, provider: u16) {
        let pi = provider as usize;
        let failure = match self.world.providers[pi].conditions.down {
            None => return,
            Some(DownBehaviour::Refuse) => Some(Failure::ConnectionError),
            Some(DownBehaviour::Status(failure)) => Some(failure),
            Some(DownBehaviour::Hang) => None,
        };
        let mut lost = Vec::new();
        while let Some(job) = self.world.providers[pi].queue.pop_front() {
            let j = self.world.jobs.items[job as usize];
            self.world.jobs.items[job as usize].live = false;
            self.world.jobs.release(job);
            if let Some(account) = &mut self.world.providers[pi].credits {
                account.settle(j.reserved_nusd, 0);
            }
            let max_tokens = self.scenario.groups[j.group as usize].request.max_tokens;
            self.world.providers[pi].output_settled(self.now, j.model as usize, max_tokens, 0);
            lost.push(j);
        }
        self.observers.bucket.levels[pi].queue.set(self.now, 0);
        // What is in service keeps its slot until its scheduled end (the provider is down
        // and admits nothing meanwhile) but will neither answer nor bill.
        for job in self
            .world
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

    pub(super) fn check_recharge(&mut self, provider: u16) {
        if let Some(account) = &mut self.world.providers[provider as usize].credits
            && let Some((at, _)) = account.recharge_due(self.now)
        {
            self.schedule_background(at, Event::RechargeLands { provider });
        }
    }

    /// A scheduled outage begins: the provider's condition changes, the work in progress is
    /// aborted where the outage says so, and the outage's end is scheduled.
    pub(super) fn outage_started(&mut self, provider: u16, outage: u32) {
        let o = self.scenario.providers[provider as usize].outages[outage as usize];
        self.world.providers[provider as usize].outage_starts(outage, o.effect);
        self.conditions_changed(provider);
        if o.in_progress == InProgress::Fail {
            self.abort_work_in_progress(provider);
        }
        self.schedule_background(o.end_ns, Event::OutageEnds { provider, outage });
    }

    /// A scheduled outage ends.
    pub(super) fn outage_ended(&mut self, provider: u16, outage: u32) {
        self.world.providers[provider as usize].outage_ends(outage);
        self.conditions_changed(provider);
    }

    /// A random outage begins; it lasts an exponential time of mean MTTR.
    pub(super) fn random_outage_started(&mut self, provider: u16) {
        let r = self.scenario.providers[provider as usize]
            .random_outages
            .expect("scheduled only when configured");
        self.world.providers[provider as usize].outage_starts(RANDOM_OUTAGE_ID, r.effect);
        self.conditions_changed(provider);
        if r.in_progress == InProgress::Fail {
            self.abort_work_in_progress(provider);
        }
        let down =
            crate::dist::exponential_ns(&mut self.world.outage_rngs[provider as usize], r.mttr_ns);
        self.schedule_background(
            self.now.saturating_add(down),
            Event::RandomOutageEnds { provider },
        );
    }

    /// A random outage ends; the next begins after an exponential time of mean MTBF.
    pub(super) fn random_outage_ended(&mut self, provider: u16) {
        let r = self.scenario.providers[provider as usize]
            .random_outages
            .expect("scheduled only when configured");
        self.world.providers[provider as usize].outage_ends(RANDOM_OUTAGE_ID);
        self.conditions_changed(provider);
        let up =
            crate::dist::exponential_ns(&mut self.world.outage_rngs[provider as usize], r.mtbf_ns);
        self.schedule_background(
            self.now.saturating_add(up),
            Event::RandomOutageStarts { provider },
        );
    }

    /// A scheduled top-up lands in the account.
    pub(super) fn topped_up(&mut self, provider: u16, index: u32) {
        let credits = self.scenario.providers[provider as usize]
            .credits
            .as_ref()
            .expect("scheduled only with credits");
        let amount = credits.top_ups[index as usize].1;
        self.world.providers[provider as usize]
            .credits
            .as_mut()
            .expect("has credits")
            .deposit(amount);
        self.credits_changed(provider, false);
    }

    /// An auto-recharge lands in the account; the balance may call for the next one.
    pub(super) fn recharge_landed(&mut self, provider: u16) {
        let credits = self.scenario.providers[provider as usize]
            .credits
            .as_ref()
            .expect("scheduled only with credits");
        let amount = credits
            .auto_recharge
            .expect("scheduled only with auto-recharge")
            .amount_nusd;
        let account = self.world.providers[provider as usize]
            .credits
            .as_mut()
            .expect("has credits");
        account.deposit(amount);
        account.recharge_pending = false;
        self.credits_changed(provider, false);
        self.check_recharge(provider);
    }
}
