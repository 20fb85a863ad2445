//! The scenario's providers on the wall clock: the same `ProviderState` the event loop
//! drives (admission, buckets, credits, capacity and its FIFO queue, outage conditions),
//! driven here by live requests and by the world's own timeline (scheduled and random
//! outages, top-ups, auto-recharges) played from the server's start, `--time-scale` times
//! faster than the wall clock.
//!
//! Nothing here models the provider again: admission is `ProviderState::admit`, an
//! admitted attempt's fate is `ProviderModel::draw_service`, settling is
//! `CreditAccount::settle` and `ProviderState::output_settled`. What this file adds is what
//! the event loop's world handlers (`engine/world.rs`) do with its own queue of events:
//! applying outages at their times, aborting the work in progress when a hard outage
//! says so, landing top-ups; here they are applied lazily, whenever a request or the
//! ticker looks at the world, in the order of their times.
//!
//! Common random numbers: the k-th request to reach the server (k counted from 0 in the
//! order they take the world's lock) reads its draws from request k's ChaCha stream
//! (`rng::RequestDraws`), so for a given seed the k-th request's output length, error roll
//! and latencies are the same whatever the timing. What timing changes is the state it
//! meets: buckets, queues, outages.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::credits::NanoUsd;
use crate::outage::{DownBehaviour, InProgress};
use crate::outcome::Failure;
use crate::provider::{ProviderState, RANDOM_OUTAGE_ID, ServiceDraw, ServiceKind, Verdict};
use crate::ratelimit::BucketLevel;
use crate::rng::{DrawCursor, RequestDraws, SimRng, named_stream};
use crate::scenario::Scenario;
use crate::time::{Nanos, secs_to_ns};
use crate::traffic::GroupModel;

/// The world's time: wall time since the server started, times the scale.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        Clock {
            start: Instant::now(),
            scale,
        }
    }

    pub fn now_ns(&self) -> Nanos {
        (self.start.elapsed().as_nanos() as f64 * self.scale) as Nanos
    }

    /// A duration of the world as wall time.
    pub fn wall(&self, world_ns: Nanos) -> Duration {
        // Far-future instants (a never-ending hang) stay representable.
        Duration::from_nanos((world_ns as f64 / self.scale).min(1e18) as u64)
    }

    /// The wall instant at which the world's clock reads `world_ns`.
    pub fn instant_at(&self, world_ns: Nanos) -> Instant {
        self.start + self.wall(world_ns)
    }
}

/// Where an admitted attempt stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JobState {
    /// Waiting in the provider's queue for a slot.
    Queued,
    /// In service since this time of the world.
    Serving { start_ns: Nanos },
    /// A hard outage took it down: the failure its client gets, or None when the provider
    /// hangs (the client hears nothing).
    Aborted(Option<Failure>),
}

/// What the provider answered a request at its gateway.
pub enum Gate {
    Accepted(Admitted),
    Rejected {
        failure: Failure,
        retry_after_ns: Option<Nanos>,
    },
    /// Hard down with `hang`: the connection never completes.
    ConnectHang,
}

/// A request as the world saw it: its index, and the gate's answer with the rate-limit
/// levels after it.
pub struct Arrival {
    pub index: u64,
    pub gate: Gate,
    pub limits: [Option<BucketLevel>; 4],
}

/// An attempt the provider accepted.
pub struct Admitted {
    pub job: u32,
    pub draw: ServiceDraw,
    pub output_tokens: u32,
    pub service_ns: Nanos,
    pub state: watch::Receiver<JobState>,
}

/// A job the provider holds: queued or in service.
struct LiveJob {
    provider: u16,
    model: u16,
    max_tokens: u32,
    input_tokens: u32,
    output_tokens: u32,
    reserved_nusd: NanoUsd,
    kind: ServiceKind,
    service_ns: Nanos,
    start_ns: Option<Nanos>,
    state: watch::Sender<JobState>,
}

/// The world's own events, as the event loop's `Event` has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum WorldEvent {
    OutageStarts { provider: u16, outage: u32 },
    OutageEnds { provider: u16, outage: u32 },
    RandomOutageStarts { provider: u16 },
    RandomOutageEnds { provider: u16 },
    TopUp { provider: u16, index: u32 },
    RechargeLands { provider: u16 },
}

pub struct LiveWorld {
    scenario: Arc<Scenario>,
    providers: Vec<ProviderState>,
    /// (time, sequence, event): ties in the order scheduled, as in the event loop.
    timeline: BinaryHeap<Reverse<(Nanos, u64, WorldEvent)>>,
    scheduled: u64,
    outage_rngs: Vec<SimRng>,
    draws: RequestDraws,
    next_request: u64,
    next_job: u32,
    jobs: BTreeMap<u32, LiveJob>,
    /// The world's time as last seen: never goes back.
    now_ns: Nanos,
}

impl LiveWorld {
    pub fn new(scenario: Arc<Scenario>) -> Self {
        let seed = scenario.seed;
        let mut world = LiveWorld {
            providers: scenario.providers.iter().map(ProviderState::new).collect(),
            timeline: BinaryHeap::new(),
            scheduled: 0,
            outage_rngs: scenario
                .providers
                .iter()
                .map(|p| named_stream(seed, &format!("outages/{}", p.name)))
                .collect(),
            draws: RequestDraws::new(seed),
            next_request: 0,
            next_job: 0,
            jobs: BTreeMap::new(),
            now_ns: 0,
            scenario,
        };
        let scenario = Arc::clone(&world.scenario);
        for (pi, p) in scenario.providers.iter().enumerate() {
            let provider = pi as u16;
            world.check_recharge(provider);
            for (oi, o) in p.outages.iter().enumerate() {
                let outage = oi as u32;
                world.schedule(o.start_ns, WorldEvent::OutageStarts { provider, outage });
            }
            if let Some(r) = &p.random_outages {
                let up = crate::dist::exponential_ns(&mut world.outage_rngs[pi], r.mtbf_ns);
                world.schedule(up, WorldEvent::RandomOutageStarts { provider });
            }
            if let Some(credits) = &p.credits {
                for (index, (at, _)) in credits.top_ups.iter().enumerate() {
                    let index = index as u32;
                    world.schedule(*at, WorldEvent::TopUp { provider, index });
                }
            }
        }
        world
    }

    fn schedule(&mut self, at_ns: Nanos, event: WorldEvent) {
        self.scheduled += 1;
        self.timeline.push(Reverse((at_ns, self.scheduled, event)));
    }

    /// The world's time as last seen (never goes back).
    pub fn now_ns(&self) -> Nanos {
        self.now_ns
    }

    /// When the world's next own event is due.
    pub fn next_event_ns(&self) -> Option<Nanos> {
        self.timeline.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Plays the world's events due by `now_ns`, each at its own time.
    pub fn advance(&mut self, now_ns: Nanos) {
        while let Some(&Reverse((at, _, event))) = self.timeline.peek() {
            if at > now_ns {
                break;
            }
            self.timeline.pop();
            self.now_ns = self.now_ns.max(at);
            self.apply(event);
        }
        self.now_ns = self.now_ns.max(now_ns);
    }

    fn apply(&mut self, event: WorldEvent) {
        let scenario = Arc::clone(&self.scenario);
        match event {
            WorldEvent::OutageStarts { provider, outage } => {
                let o = scenario.providers[provider as usize].outages[outage as usize];
                self.providers[provider as usize].outage_starts(outage, o.effect);
                if o.in_progress == InProgress::Fail {
                    self.abort_work_in_progress(provider);
                }
                self.schedule(o.end_ns, WorldEvent::OutageEnds { provider, outage });
            }
            WorldEvent::OutageEnds { provider, outage } => {
                self.providers[provider as usize].outage_ends(outage);
            }
            WorldEvent::RandomOutageStarts { provider } => {
                let r = scenario.providers[provider as usize]
                    .random_outages
                    .expect("scheduled only when configured");
                self.providers[provider as usize].outage_starts(RANDOM_OUTAGE_ID, r.effect);
                if r.in_progress == InProgress::Fail {
                    self.abort_work_in_progress(provider);
                }
                let rng = &mut self.outage_rngs[provider as usize];
                let down = crate::dist::exponential_ns(rng, r.mttr_ns);
                let at = self.now_ns.saturating_add(down);
                self.schedule(at, WorldEvent::RandomOutageEnds { provider });
            }
            WorldEvent::RandomOutageEnds { provider } => {
                let r = scenario.providers[provider as usize]
                    .random_outages
                    .expect("scheduled only when configured");
                self.providers[provider as usize].outage_ends(RANDOM_OUTAGE_ID);
                let rng = &mut self.outage_rngs[provider as usize];
                let up = crate::dist::exponential_ns(rng, r.mtbf_ns);
                let at = self.now_ns.saturating_add(up);
                self.schedule(at, WorldEvent::RandomOutageStarts { provider });
            }
            WorldEvent::TopUp { provider, index } => {
                let credits = scenario.providers[provider as usize]
                    .credits
                    .as_ref()
                    .expect("scheduled only with credits");
                let amount = credits.top_ups[index as usize].1;
                if let Some(account) = &mut self.providers[provider as usize].credits {
                    account.deposit(amount);
                }
            }
            WorldEvent::RechargeLands { provider } => {
                let credits = scenario.providers[provider as usize]
                    .credits
                    .as_ref()
                    .expect("scheduled only with credits");
                let amount = credits
                    .auto_recharge
                    .expect("scheduled only with auto-recharge")
                    .amount_nusd;
                if let Some(account) = &mut self.providers[provider as usize].credits {
                    account.deposit(amount);
                    account.recharge_pending = false;
                }
                self.check_recharge(provider);
            }
        }
    }

    fn check_recharge(&mut self, provider: u16) {
        let now = self.now_ns;
        if let Some(account) = &mut self.providers[provider as usize].credits
            && let Some((at, _)) = account.recharge_due(now)
        {
            self.schedule(at, WorldEvent::RechargeLands { provider });
        }
    }

    /// As `Sim::abort_work_in_progress`: a hard outage fails what is queued (released and
    /// unbilled) and what is in service (its slot kept until its scheduled end, unbilled).
    fn abort_work_in_progress(&mut self, provider: u16) {
        let pi = provider as usize;
        let failure = match self.providers[pi].conditions.down {
            None => return,
            Some(DownBehaviour::Refuse) => Some(Failure::ConnectionError),
            Some(DownBehaviour::Status(failure)) => Some(failure),
            Some(DownBehaviour::Hang) => None,
        };
        while let Some(id) = self.providers[pi].queue.pop_front() {
            let job = self.jobs.remove(&id).expect("a queued job is live");
            self.release(&job, 0, 0);
            job.state.send_replace(JobState::Aborted(failure));
        }
        for job in self.jobs.values_mut().filter(|j| j.provider == provider) {
            job.kind = ServiceKind::Hang;
            job.state.send_replace(JobState::Aborted(failure));
        }
    }

    /// Returns a job's credits reservation (charging `cost_nusd`) and the output tokens it
    /// reserved but did not produce, as `Sim::service_done` does.
    fn release(&mut self, job: &LiveJob, cost_nusd: NanoUsd, produced: u32) {
        let provider = &mut self.providers[job.provider as usize];
        if let Some(account) = &mut provider.credits {
            account.settle(job.reserved_nusd, cost_nusd);
        }
        provider.output_settled(self.now_ns, job.model as usize, job.max_tokens, produced);
    }

    /// A request reaches provider `pi`'s model `mi` at `now_ns`: the gateway's verdict, and
    /// for an accepted one its drawn service, queued or started.
    pub fn arrive(
        &mut self,
        now_ns: Nanos,
        (pi, mi): (usize, usize),
        input_tokens: u32,
        max_tokens: u32,
    ) -> Arrival {
        self.advance(now_ns);
        let now = self.now_ns;
        let scenario = Arc::clone(&self.scenario);
        let provider = &scenario.providers[pi];
        let index = self.next_request;
        self.next_request += 1;
        let rng = self.draws.at(index, DrawCursor::START);
        let output_tokens = group_for(&scenario, (pi, mi))
            .request
            .output_tokens
            .sample_count(rng, 1)
            .min(max_tokens);
        let verdict = self.providers[pi].admit(now, provider, mi, input_tokens, max_tokens);
        let gate = match verdict {
            Verdict::Reject {
                failure,
                retry_after_ns,
            } => Gate::Rejected {
                failure,
                retry_after_ns,
            },
            Verdict::ConnectHang => Gate::ConnectHang,
            Verdict::Accept { reserved_nusd } => {
                let conditions = self.providers[pi].conditions;
                let cursor = self.draws.cursor(index);
                let rng = self.draws.at(index, cursor);
                let draw = provider.draw_service(mi, conditions, rng);
                let service_ns = secs_to_ns(draw.service_s(output_tokens));
                let job = self.next_job;
                self.next_job = self.next_job.wrapping_add(1);
                let free = self.providers[pi].has_free_slot(provider);
                let initial = if free {
                    self.providers[pi].in_service += 1;
                    JobState::Serving { start_ns: now }
                } else {
                    self.providers[pi].queue.push_back(job);
                    JobState::Queued
                };
                let (state, receiver) = watch::channel(initial);
                self.jobs.insert(
                    job,
                    LiveJob {
                        provider: pi as u16,
                        model: mi as u16,
                        max_tokens,
                        input_tokens,
                        output_tokens,
                        reserved_nusd,
                        kind: draw.kind,
                        service_ns,
                        start_ns: free.then_some(now),
                        state,
                    },
                );
                Gate::Accepted(Admitted {
                    job,
                    draw,
                    output_tokens,
                    service_ns,
                    state: receiver,
                })
            }
        };
        Arrival {
            index,
            gate,
            limits: self.providers[pi].limit_levels(now, mi),
        }
    }

    /// When job `job`'s service ends, if it is in service (None once it is gone, or while
    /// it still waits in the queue).
    pub fn service_end_ns(&self, job: u32) -> Option<Nanos> {
        let j = self.jobs.get(&job)?;
        j.start_ns.map(|start| start.saturating_add(j.service_ns))
    }

    /// Job `job`'s service ended: the slot is freed (and handed to the next queued job), the
    /// call billed (a success only) and its unused output tokens returned.
    pub fn service_done(&mut self, now_ns: Nanos, job: u32) {
        self.advance(now_ns);
        let Some(j) = self.jobs.remove(&job) else {
            return;
        };
        let pi = j.provider as usize;
        let scenario = Arc::clone(&self.scenario);
        let (cost, produced) = match j.kind {
            ServiceKind::Success => {
                let model = &scenario.providers[pi].models[j.model as usize];
                (
                    model.cost_nusd(j.input_tokens, j.output_tokens),
                    j.output_tokens,
                )
            }
            ServiceKind::Error(_) | ServiceKind::Hang => (0, 0),
        };
        self.release(&j, cost, produced);
        self.check_recharge(j.provider);
        let state = &mut self.providers[pi];
        debug_assert!(state.in_service > 0, "a slot freed twice");
        state.in_service -= 1;
        if let Some(next) = state.queue.pop_front() {
            state.in_service += 1;
            let now = self.now_ns;
            let next = self.jobs.get_mut(&next).expect("a queued job is live");
            next.start_ns = Some(now);
            next.state.send_replace(JobState::Serving { start_ns: now });
        }
    }
}

/// The client group whose requests a live request to this model stands for: the first
/// that calls the model somewhere in its chain, else the first group. Its output-token
/// distribution gives the answers' lengths, its `max_tokens` the default.
pub fn group_for(scenario: &Scenario, target: (usize, usize)) -> &GroupModel {
    &scenario.groups[group_index(scenario, target)]
}

/// The index of `group_for`'s group (the request log names it).
pub fn group_index(scenario: &Scenario, (pi, mi): (usize, usize)) -> usize {
    let calls = |g: &GroupModel| {
        g.policy
            .chain
            .iter()
            .any(|s| usize::from(s.target.provider) == pi && usize::from(s.target.model) == mi)
    };
    debug_assert!(!scenario.groups.is_empty(), "a scenario has a client group");
    scenario.groups.iter().position(calls).unwrap_or(0)
}
