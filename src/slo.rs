//! Service-level objectives, judged while a run goes on: rolling windows, the SRE workbook's
//! multi-window burn-rate alerts, and incidents with their suspected triggers.
//!
//! Every SLO is a ratio of good to valid events (the workbook's SLI): for a success-rate SLO
//! the requests that ended, good when they succeeded; for a latency SLO the requests that
//! succeeded, good when answered within the threshold ("p99 <= 2 s" is "99 % within 2 s",
//! exactly, with no percentile estimate). The tracker counts events per evaluation step and
//! keeps a ring of steps as long as the longest window; each window is a running sum over
//! the ring, so a step costs the same whatever the windows' lengths, and memory is fixed by
//! the scenario, never by the run's duration.
//!
//! At each step boundary the SLO window is judged: in breach when it holds at least
//! `min_requests` valid events and good / valid < target. An incident is a maximal run of
//! breached evaluations. Its bad events are those of the steps it covers plus the window
//! that led to its first breach (never counted twice by consecutive incidents).
//!
//! World conditions (outages, brownouts, the chaos window, traffic spikes, exhausted
//! credits) are recorded as intervals while the run goes on; when the run ends each incident
//! is matched with the conditions that overlap it or the window before it: the earliest is
//! its suspected trigger. An incident still in breach a window after every such condition
//! has ended is sustained by something else (retries, queues): it has outlived its trigger,
//! and past `metastable_after` it is flagged metastable.
//!
//! Why over 1,000 lines: the tracker, its windows and alerts, and the incidents with their
//! triggers are one state machine over one ring of steps; about 250 lines are its tests. The
//! natural split, when it grows, is the incidents' post-run analysis (triggers,
//! metastability) into a file of its own.

use serde::{Deserialize, Serialize};

use crate::outcome::Failure;
use crate::time::{Nanos, ns_to_secs};

/// Incidents kept per SLO: the most severe, if a run has more (the count is reported).
pub const MAX_INCIDENTS_KEPT: usize = 1_000;
/// Condition intervals kept per run (outages, credits exhausted, ...).
pub const MAX_CONDITIONS_KEPT: usize = 100_000;
/// Evaluation steps in the longest window of an SLO (memory per SLO).
pub const MAX_WINDOW_STEPS: u64 = 100_000;
/// Latency bins: quarter octaves from 1 ms (about 19 % wide), up to about 4.6 hours.
const LATENCY_BINS: usize = 96;

/// A validated SLO of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct SloModel {
    pub name: String,
    /// The client group judged, or None for all of them.
    pub group: Option<u16>,
    pub indicator: Indicator,
    /// The fraction of valid events that must be good.
    pub target: f64,
    pub window_ns: Nanos,
    pub step_ns: Nanos,
    pub min_requests: u64,
    pub metastable_after_ns: Nanos,
    pub alerts: Vec<AlertModel>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Indicator {
    /// Requests that ended successfully, of all that ended.
    SuccessRate,
    /// Successful requests answered within `threshold_ns`, of all that succeeded; the
    /// target is the percentile as a fraction.
    Latency {
        percentile: f64,
        threshold_ns: Nanos,
    },
}

impl Indicator {
    pub fn name(self) -> &'static str {
        match self {
            Indicator::SuccessRate => "success_rate",
            Indicator::Latency { .. } => "latency",
        }
    }
}

/// A multi-window burn-rate alert: fires while the error budget burns at least `burn_rate`
/// times its sustainable rate over both windows (SRE workbook, "multiwindow, multi-burn-rate").
#[derive(Debug, Clone, PartialEq)]
pub struct AlertModel {
    pub name: String,
    pub long_window_ns: Nanos,
    pub short_window_ns: Nanos,
    pub burn_rate: f64,
}

/// What in the world can explain an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConditionKind {
    Outage,
    Brownout,
    Chaos,
    TrafficSpike,
    CreditsExhausted,
}

impl ConditionKind {
    pub fn name(self) -> &'static str {
        match self {
            ConditionKind::Outage => "outage",
            ConditionKind::Brownout => "brownout",
            ConditionKind::Chaos => "chaos",
            ConditionKind::TrafficSpike => "traffic_spike",
            ConditionKind::CreditsExhausted => "credits_exhausted",
        }
    }

    /// Does the subject index name a client group (else a provider, or nothing)?
    fn subject_is_group(self) -> bool {
        self == ConditionKind::TrafficSpike
    }
}

#[derive(Debug, Clone, Copy)]
struct Condition {
    kind: ConditionKind,
    /// Provider or group index (see `ConditionKind::subject_is_group`); NONE for chaos.
    subject: u32,
    start_ns: Nanos,
    /// None while it lasts.
    end_ns: Option<Nanos>,
}

const NONE: u32 = u32::MAX;

/// Something that happened to an SLO at a step boundary, for traces and narration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloEvent {
    Breached { slo: u16 },
    Recovered { slo: u16 },
    AlertFired { slo: u16, alert: u16 },
    AlertResolved { slo: u16, alert: u16 },
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    valid: u64,
    bad: u64,
    arrivals: u64,
    attempts: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.valid += other.valid;
        self.bad += other.bad;
        self.arrivals += other.arrivals;
        self.attempts += other.attempts;
    }

    fn sub(&mut self, other: &Counts) {
        self.valid -= other.valid;
        self.bad -= other.bad;
        self.arrivals -= other.arrivals;
        self.attempts -= other.attempts;
    }

    /// good / valid, or None without valid events.
    fn sli(&self) -> Option<f64> {
        (self.valid > 0).then(|| (self.valid - self.bad) as f64 / self.valid as f64)
    }

    fn burn_rate(&self, target: f64) -> f64 {
        if self.valid == 0 {
            return 0.0;
        }
        (self.bad as f64 / self.valid as f64) / (1.0 - target)
    }
}

/// A running sum over the last `steps` steps of the ring.
#[derive(Debug, Clone, Copy)]
struct WindowSum {
    steps: u64,
    sum: Counts,
}

#[derive(Debug, Clone)]
struct AlertState {
    long: WindowSum,
    short: WindowSum,
    firing_since_ns: Option<Nanos>,
    fired: u64,
    firing_ns: Nanos,
    first_fired_ns: Option<Nanos>,
    fired_outside_incidents: u64,
}

/// An incident while it lasts.
#[derive(Debug, Clone)]
struct OpenIncident {
    start_ns: Nanos,
    counts: Counts,
    failures: [u64; Failure::COUNT],
    worst_sli: f64,
    worst_at_ns: Nanos,
    worst_latency_ns: Option<Nanos>,
    peak_amplification: f64,
    detections: Vec<(u16, Nanos)>,
}

/// An incident as the tracker closed it (times in ns; `finish` turns it into `Incident`).
#[derive(Debug, Clone)]
struct ClosedIncident {
    open: OpenIncident,
    end_ns: Nanos,
    ongoing: bool,
}

struct SloState {
    model: SloModel,
    scope: Scope,
    /// Steps closed so far; the next step ends at `boundary_ns`.
    closed_steps: u64,
    boundary_ns: Nanos,
    current: Counts,
    current_failures: [u64; Failure::COUNT],
    current_latency: [u32; LATENCY_BINS],
    /// Indexed by step number modulo the ring's length (the longest window, in steps).
    ring: Vec<Counts>,
    /// Over the SLO window only: attempt failures by kind and latency bins of each step.
    failure_ring: Vec<[u64; Failure::COUNT]>,
    latency_ring: Vec<[u32; LATENCY_BINS]>,
    window: WindowSum,
    window_latency: [u64; LATENCY_BINS],
    alerts: Vec<AlertState>,
    open: Option<OpenIncident>,
    /// Bad events before this time belong to an earlier incident.
    counted_until_ns: Nanos,
    incidents: Vec<ClosedIncident>,
    incidents_total: u64,
    run: Counts,
    breach_ns: Nanos,
}

/// Which conditions of the world concern an SLO: the providers its group calls (all when
/// empty), and whether the chaos layer applies to its traffic.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub providers: Vec<bool>,
    pub chaos: bool,
}

/// All SLOs of a run, fed by the event loop.
pub struct SloTracker {
    slos: Vec<SloState>,
    /// Steps that begin at or after this time (when arrivals are over, during the drain)
    /// add to an open incident but never open one: a handful of stragglers is no incident.
    opens_until_ns: Nanos,
    /// The start of counted time (the warm-up's end), for the SLOs' arrival rates.
    counted_from_ns: Nanos,
    next_boundary_ns: Nanos,
    conditions: Vec<Condition>,
    conditions_dropped: u64,
    /// SLO events of the last `advance`, when asked for (tracing).
    pub events: Vec<(Nanos, SloEvent)>,
    record_events: bool,
}

impl SloTracker {
    pub fn new(models: &[SloModel]) -> Self {
        let scopes = vec![
            Scope {
                providers: Vec::new(),
                chaos: true,
            };
            models.len()
        ];
        SloTracker::scoped(models, scopes, Nanos::MAX, 0)
    }

    /// SLOs with the scope of each, for a run whose arrivals end at `arrivals_end_ns` and
    /// whose counted time begins at `counted_from_ns`.
    pub fn scoped(
        models: &[SloModel],
        scopes: Vec<Scope>,
        arrivals_end_ns: Nanos,
        counted_from_ns: Nanos,
    ) -> Self {
        let slos: Vec<SloState> = models
            .iter()
            .cloned()
            .zip(scopes)
            .map(|(m, scope)| SloState::new(m, scope))
            .collect();
        let next_boundary_ns = slos
            .iter()
            .map(|s| s.boundary_ns)
            .min()
            .unwrap_or(Nanos::MAX);
        SloTracker {
            slos,
            opens_until_ns: arrivals_end_ns,
            counted_from_ns,
            next_boundary_ns,
            conditions: Vec::new(),
            conditions_dropped: 0,
            events: Vec::new(),
            record_events: false,
        }
    }

    /// Keep the SLO events of each `advance` in `events` (for a trace).
    pub fn record_events(&mut self) {
        self.record_events = true;
    }

    pub fn is_empty(&self) -> bool {
        self.slos.is_empty()
    }

    #[inline]
    pub fn next_boundary_ns(&self) -> Nanos {
        self.next_boundary_ns
    }

    /// Closes every step that ended at or before `now`.
    pub fn advance(&mut self, now: Nanos) {
        for (index, slo) in self.slos.iter_mut().enumerate() {
            while slo.boundary_ns <= now {
                let end = slo.boundary_ns;
                let may_open = end - slo.model.step_ns < self.opens_until_ns;
                slo.close_step(
                    end,
                    index as u16,
                    may_open,
                    self.record_events,
                    &mut self.events,
                );
            }
        }
        self.next_boundary_ns = self
            .slos
            .iter()
            .map(|s| s.boundary_ns)
            .min()
            .unwrap_or(Nanos::MAX);
    }

    #[inline]
    pub fn arrival(&mut self, group: u16) {
        for slo in self.slos.iter_mut().filter(|s| s.judges(group)) {
            slo.current.arrivals += 1;
        }
    }

    #[inline]
    pub fn attempt_sent(&mut self, group: u16) {
        for slo in self.slos.iter_mut().filter(|s| s.judges(group)) {
            slo.current.attempts += 1;
        }
    }

    #[inline]
    pub fn attempt_failed(&mut self, group: u16, failure: Failure) {
        for slo in self.slos.iter_mut().filter(|s| s.judges(group)) {
            slo.current_failures[failure.index()] += 1;
        }
    }

    #[inline]
    pub fn request_ended(&mut self, group: u16, succeeded: bool, latency_ns: Nanos) {
        for slo in self.slos.iter_mut().filter(|s| s.judges(group)) {
            match slo.model.indicator {
                Indicator::SuccessRate => {
                    slo.current.valid += 1;
                    slo.current.bad += u64::from(!succeeded);
                }
                Indicator::Latency { threshold_ns, .. } if succeeded => {
                    slo.current.valid += 1;
                    slo.current.bad += u64::from(latency_ns > threshold_ns);
                    slo.current_latency[latency_bin(latency_ns)] += 1;
                }
                Indicator::Latency { .. } => {}
            }
        }
    }

    /// A condition of the world begins (`active`) or ends.
    pub fn condition(&mut self, kind: ConditionKind, subject: u32, now: Nanos, active: bool) {
        if active {
            if self.conditions.len() >= MAX_CONDITIONS_KEPT {
                self.conditions_dropped += 1;
                return;
            }
            self.conditions.push(Condition {
                kind,
                subject,
                start_ns: now,
                end_ns: None,
            });
        } else if let Some(c) = self
            .conditions
            .iter_mut()
            .rev()
            .find(|c| c.kind == kind && c.subject == subject && c.end_ns.is_none())
        {
            c.end_ns = Some(now);
        }
    }

    /// A condition known in advance (the chaos window, a traffic spike).
    /// `to` is `Nanos::MAX` for one that lasts to the end of the run.
    pub fn planned_condition(&mut self, kind: ConditionKind, subject: u32, from: Nanos, to: Nanos) {
        if self.conditions.len() < MAX_CONDITIONS_KEPT {
            self.conditions.push(Condition {
                kind,
                subject,
                start_ns: from,
                end_ns: (to != Nanos::MAX).then_some(to),
            });
        }
    }

    /// Closes the run at `end_ns` (its last step may be partial) and reports.
    pub fn finish(mut self, end_ns: Nanos, names: &Names<'_>) -> SloReport {
        self.advance(end_ns);
        for (index, slo) in self.slos.iter_mut().enumerate() {
            let step_start = slo.boundary_ns - slo.model.step_ns;
            if end_ns > step_start {
                // A partial last step: it may prolong an incident, never open one.
                slo.close_step(end_ns, index as u16, false, false, &mut self.events);
            }
            if let Some(open) = slo.open.take() {
                slo.breach_ns += end_ns.saturating_sub(open.start_ns);
                slo.keep(ClosedIncident {
                    open,
                    end_ns,
                    ongoing: true,
                });
            }
            for alert in &mut slo.alerts {
                if let Some(since) = alert.firing_since_ns.take() {
                    alert.firing_ns += end_ns - since;
                }
            }
        }
        // Conditions still going on end with the run, for overlap arithmetic.
        let mut conditions = std::mem::take(&mut self.conditions);
        conditions.sort_by_key(|c| (c.start_ns, c.kind, c.subject));
        let counted_s = ns_to_secs(end_ns.saturating_sub(self.counted_from_ns).max(1));
        let mut incidents = Vec::new();
        let mut summaries = Vec::new();
        for slo in &self.slos {
            summaries.push(slo.summary(names));
            // The SLO's own traffic: its group's counted arrivals over the counted time.
            let arrival_rate = slo.run.arrivals as f64 / counted_s;
            for closed in &slo.incidents {
                incidents.push(slo.incident(closed, &conditions, arrival_rate, names));
            }
        }
        incidents.sort_by(|a, b| {
            a.start_s
                .total_cmp(&b.start_s)
                .then_with(|| a.slo.cmp(&b.slo))
        });
        SloReport {
            slos: summaries,
            incidents,
            conditions_dropped: self.conditions_dropped,
        }
    }
}

/// Names for the report (the tracker works with indices).
pub struct Names<'a> {
    pub groups: Vec<&'a str>,
    pub providers: Vec<&'a str>,
}

impl SloState {
    fn new(model: SloModel, scope: Scope) -> Self {
        let window_steps = model.window_ns / model.step_ns;
        let ring_steps = model
            .alerts
            .iter()
            .map(|a| a.long_window_ns / model.step_ns)
            .fold(window_steps, u64::max) as usize;
        let is_latency = matches!(model.indicator, Indicator::Latency { .. });
        let alerts = model
            .alerts
            .iter()
            .map(|a| AlertState {
                long: WindowSum {
                    steps: a.long_window_ns / model.step_ns,
                    sum: Counts::default(),
                },
                short: WindowSum {
                    steps: a.short_window_ns / model.step_ns,
                    sum: Counts::default(),
                },
                firing_since_ns: None,
                fired: 0,
                firing_ns: 0,
                first_fired_ns: None,
                fired_outside_incidents: 0,
            })
            .collect();
        SloState {
            closed_steps: 0,
            boundary_ns: model.step_ns,
            current: Counts::default(),
            current_failures: [0; Failure::COUNT],
            current_latency: [0; LATENCY_BINS],
            ring: vec![Counts::default(); ring_steps],
            failure_ring: vec![[0; Failure::COUNT]; window_steps as usize],
            latency_ring: vec![
                [0; LATENCY_BINS];
                if is_latency { window_steps as usize } else { 0 }
            ],
            window: WindowSum {
                steps: window_steps,
                sum: Counts::default(),
            },
            window_latency: [0; LATENCY_BINS],
            alerts,
            open: None,
            counted_until_ns: 0,
            incidents: Vec::new(),
            incidents_total: 0,
            run: Counts::default(),
            breach_ns: 0,
            model,
            scope,
        }
    }

    #[inline]
    fn judges(&self, group: u16) -> bool {
        self.model.group.is_none_or(|g| g == group)
    }

    /// Closes the step ending at `end` (shorter than a full step only at the run's end):
    /// slides the windows, judges the SLO and its alerts.
    fn close_step(
        &mut self,
        end: Nanos,
        index: u16,
        may_open: bool,
        record: bool,
        events: &mut Vec<(Nanos, SloEvent)>,
    ) {
        let step = self.closed_steps;
        let ring_len = self.ring.len() as u64;
        let new = self.current;
        slide(&mut self.window, &self.ring, step, &new);
        for alert in &mut self.alerts {
            slide(&mut alert.long, &self.ring, step, &new);
            slide(&mut alert.short, &self.ring, step, &new);
        }
        let slot = (step % self.window.steps) as usize;
        if !self.latency_ring.is_empty() {
            if step >= self.window.steps {
                for (w, old) in self.window_latency.iter_mut().zip(&self.latency_ring[slot]) {
                    *w -= u64::from(*old);
                }
            }
            for (w, new) in self.window_latency.iter_mut().zip(&self.current_latency) {
                *w += u64::from(*new);
            }
            self.latency_ring[slot] = self.current_latency;
        }
        self.failure_ring[slot] = self.current_failures;
        self.ring[(step % ring_len) as usize] = new;
        self.run.add(&new);
        self.current = Counts::default();
        self.current_failures = [0; Failure::COUNT];
        self.current_latency = [0; LATENCY_BINS];
        self.closed_steps += 1;
        self.boundary_ns = self.boundary_ns.saturating_add(self.model.step_ns);

        let window = self.window.sum;
        let breached = window.valid >= self.model.min_requests
            && window.sli().is_some_and(|sli| sli < self.model.target);
        match (&mut self.open, breached) {
            (None, true) if may_open => {
                self.open = Some(self.open_incident(end));
                if record {
                    events.push((end, SloEvent::Breached { slo: index }));
                }
            }
            (Some(open), true) => {
                open.counts.add(&new);
                for (total, n) in open.failures.iter_mut().zip(&self.failure_ring[slot]) {
                    *total += n;
                }
            }
            (Some(_), false) => {
                let mut open = self.open.take().expect("matched Some");
                // The step that ends the incident lies inside it.
                open.counts.add(&new);
                for (total, n) in open.failures.iter_mut().zip(&self.failure_ring[slot]) {
                    *total += n;
                }
                self.breach_ns += end - open.start_ns;
                self.counted_until_ns = end;
                self.keep(ClosedIncident {
                    open,
                    end_ns: end,
                    ongoing: false,
                });
                if record {
                    events.push((end, SloEvent::Recovered { slo: index }));
                }
            }
            (None, _) => {}
        }
        let percentile_ns = self.open.as_ref().and(self.window_percentile_ns());
        if let Some(open) = &mut self.open {
            let sli = window.sli().unwrap_or(1.0);
            if sli < open.worst_sli {
                open.worst_sli = sli;
                open.worst_at_ns = end;
                open.worst_latency_ns = percentile_ns;
            }
            if window.arrivals > 0 {
                let amplification = window.attempts as f64 / window.arrivals as f64;
                open.peak_amplification = open.peak_amplification.max(amplification);
            }
        }
        let target = self.model.target;
        for (a, (alert, model)) in self.alerts.iter_mut().zip(&self.model.alerts).enumerate() {
            let firing = alert.long.sum.burn_rate(target) >= model.burn_rate
                && alert.short.sum.burn_rate(target) >= model.burn_rate;
            match (alert.firing_since_ns, firing) {
                (None, true) => {
                    alert.firing_since_ns = Some(end);
                    alert.fired += 1;
                    alert.first_fired_ns.get_or_insert(end);
                    match &mut self.open {
                        Some(open) => {
                            if !open.detections.iter().any(|&(x, _)| x == a as u16) {
                                open.detections.push((a as u16, end));
                            }
                        }
                        None => alert.fired_outside_incidents += 1,
                    }
                    if record {
                        events.push((
                            end,
                            SloEvent::AlertFired {
                                slo: index,
                                alert: a as u16,
                            },
                        ));
                    }
                }
                (Some(since), false) => {
                    alert.firing_since_ns = None;
                    alert.firing_ns += end - since;
                    if record {
                        events.push((
                            end,
                            SloEvent::AlertResolved {
                                slo: index,
                                alert: a as u16,
                            },
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    /// A new incident's starting figures: the window that led to the breach, minus the
    /// steps an earlier incident already counted.
    fn open_incident(&self, end: Nanos) -> OpenIncident {
        let mut counts = Counts::default();
        let mut failures = [0; Failure::COUNT];
        let steps = self.window.steps.min(self.closed_steps);
        for back in 0..steps {
            let step = self.closed_steps - 1 - back;
            let step_end = end.saturating_sub(back * self.model.step_ns);
            if step_end <= self.counted_until_ns {
                break;
            }
            counts.add(&self.ring[(step % self.ring.len() as u64) as usize]);
            let slot = (step % self.window.steps) as usize;
            for (total, n) in failures.iter_mut().zip(&self.failure_ring[slot]) {
                *total += n;
            }
        }
        OpenIncident {
            start_ns: end,
            counts,
            failures,
            worst_sli: f64::INFINITY,
            worst_at_ns: end,
            worst_latency_ns: None,
            peak_amplification: 0.0,
            detections: Vec::new(),
        }
    }

    /// The SLO's percentile of the latencies in the window, to the upper edge of its bin.
    fn window_percentile_ns(&self) -> Option<Nanos> {
        let Indicator::Latency { percentile, .. } = self.model.indicator else {
            return None;
        };
        let total: u64 = self.window_latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((percentile / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bin, &n) in self.window_latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(latency_bin_upper_ns(bin));
            }
        }
        None
    }

    /// Keeps a closed incident, dropping the least severe beyond the cap.
    fn keep(&mut self, incident: ClosedIncident) {
        self.incidents_total += 1;
        self.incidents.push(incident);
        if self.incidents.len() > MAX_INCIDENTS_KEPT {
            let weakest = self
                .incidents
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| (i.open.counts.bad, std::cmp::Reverse(i.open.start_ns)))
                .map(|(at, _)| at)
                .expect("not empty");
            self.incidents.remove(weakest);
        }
    }

    fn summary(&self, names: &Names<'_>) -> SloSummary {
        let budget = (1.0 - self.model.target) * self.run.valid as f64;
        SloSummary {
            name: self.model.name.clone(),
            group: self
                .model
                .group
                .map(|g| names.groups[g as usize].to_string()),
            indicator: self.model.indicator.name().to_string(),
            target: self.model.target,
            threshold_ms: match self.model.indicator {
                Indicator::Latency { threshold_ns, .. } => Some(threshold_ns as f64 / 1e6),
                Indicator::SuccessRate => None,
            },
            window_s: ns_to_secs(self.model.window_ns),
            step_s: ns_to_secs(self.model.step_ns),
            requests: self.run.valid,
            bad_requests: self.run.bad,
            compliance: self.run.sli(),
            error_budget_consumed: (budget > 0.0).then(|| self.run.bad as f64 / budget),
            time_in_breach_s: ns_to_secs(self.breach_ns),
            incidents: self.incidents_total,
            alerts: self
                .alerts
                .iter()
                .zip(&self.model.alerts)
                .map(|(state, model)| AlertSummary {
                    name: model.name.clone(),
                    long_window_s: ns_to_secs(model.long_window_ns),
                    short_window_s: ns_to_secs(model.short_window_ns),
                    burn_rate: model.burn_rate,
                    fired: state.fired,
                    fired_outside_incidents: state.fired_outside_incidents,
                    firing_s: ns_to_secs(state.firing_ns),
                    first_fired_s: state.first_fired_ns.map(ns_to_secs),
                })
                .collect(),
        }
    }

    fn incident(
        &self,
        closed: &ClosedIncident,
        conditions: &[Condition],
        run_arrival_rate: f64,
        names: &Names<'_>,
    ) -> Incident {
        let open = &closed.open;
        let (start, end) = (open.start_ns, closed.end_ns);
        let lookback = start.saturating_sub(self.model.window_ns);
        let overlapping: Vec<&Condition> = conditions
            .iter()
            .take_while(|c| c.start_ns < end)
            .filter(|c| c.end_ns.is_none_or(|e| e > lookback))
            .filter(|c| self.concerns(c))
            .collect();
        let subject = |c: &Condition| -> Option<String> {
            match c.subject {
                NONE => None,
                s if c.kind.subject_is_group() => Some(names.groups[s as usize].to_string()),
                s => Some(names.providers[s as usize].to_string()),
            }
        };
        let spans: Vec<ConditionSpan> = overlapping
            .iter()
            .map(|c| ConditionSpan {
                kind: c.kind.name().to_string(),
                subject: subject(c),
                start_s: ns_to_secs(c.start_ns),
                end_s: c.end_ns.map(ns_to_secs),
            })
            .collect();
        let budget = (1.0 - self.model.target) * self.run.valid as f64;
        let span_s = ns_to_secs(end - lookback.max(self.counted_before(start)));
        let traffic_ratio = if run_arrival_rate > 0.0 && span_s > 0.0 {
            open.counts.arrivals as f64 / span_s / run_arrival_rate
        } else {
            0.0
        };
        let mut mix: Vec<(u64, Failure)> = Failure::ALL
            .iter()
            .map(|&f| (open.failures[f.index()], f))
            .filter(|(n, _)| *n > 0)
            .collect();
        mix.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        // A trigger began before the first breach; later conditions only feed the incident.
        let began_before = |c: &&Condition| c.start_ns <= start;
        let trigger = match overlapping.iter().position(&began_before) {
            Some(at) => Trigger {
                kind: spans[at].kind.clone(),
                subject: spans[at].subject.clone(),
                start_s: Some(spans[at].start_s),
                end_s: spans[at].end_s,
            },
            None => Trigger {
                kind: observed_trigger(&mix, traffic_ratio, self.model.indicator).to_string(),
                subject: None,
                start_s: None,
                end_s: None,
            },
        };
        // The incident outlived its causes if it stays in breach a window after the last
        // of them ended (the window needs that long to forget their failures).
        let metastability = self.metastability(&overlapping, start, end);
        Incident {
            slo: self.model.name.clone(),
            start_s: ns_to_secs(start),
            end_s: ns_to_secs(end),
            duration_s: ns_to_secs(end - start),
            ongoing_at_end: closed.ongoing,
            worst_sli: if open.worst_sli.is_finite() {
                open.worst_sli
            } else {
                0.0
            },
            worst_at_s: ns_to_secs(open.worst_at_ns),
            worst_latency_ms: open.worst_latency_ns.map(|ns| ns as f64 / 1e6),
            requests: open.counts.valid,
            bad_requests: open.counts.bad,
            error_budget_consumed: if budget > 0.0 {
                open.counts.bad as f64 / budget
            } else {
                0.0
            },
            peak_amplification: open.peak_amplification,
            traffic_ratio,
            detected_by: open
                .detections
                .iter()
                .map(|&(alert, at)| Detection {
                    alert: self.model.alerts[alert as usize].name.clone(),
                    at_s: ns_to_secs(at),
                    after_start_s: ns_to_secs(at - start),
                })
                .collect(),
            trigger,
            conditions: spans,
            failure_mix: mix
                .iter()
                .map(|&(n, f)| FailureCount {
                    failure: f.name().to_string(),
                    attempts: n,
                })
                .collect(),
            metastability,
        }
    }

    /// Did the incident outlive its causes? The causes are the trigger (the first condition
    /// that began before the first breach) and the conditions chained to it: each beginning
    /// before the previous ones ended, or within one window after (the window still holds
    /// their failures). A condition beginning later, into an incident that sustained itself
    /// meanwhile, feeds it but does not explain it. None without a trigger, or when a cause
    /// lasts as long as the incident.
    fn metastability(
        &self,
        overlapping: &[&Condition],
        start: Nanos,
        end: Nanos,
    ) -> Option<Metastability> {
        let window = self.model.window_ns;
        let first = overlapping.iter().position(|c| c.start_ns <= start)?;
        let mut causes_end = overlapping[first].end_ns?;
        for c in &overlapping[first + 1..] {
            if c.start_ns > causes_end.saturating_add(window) {
                break;
            }
            causes_end = causes_end.max(c.end_ns?);
        }
        if causes_end >= end {
            return None;
        }
        let outlived = end.saturating_sub(causes_end.saturating_add(window));
        Some(Metastability {
            causes_ended_s: ns_to_secs(causes_end),
            outlived_trigger_by_s: ns_to_secs(outlived),
            metastable: outlived > 0 && outlived >= self.model.metastable_after_ns,
        })
    }

    /// Can this condition explain the SLO's breaches: a provider its traffic calls, its own
    /// group's spike, the chaos layer where it applies to its traffic?
    fn concerns(&self, c: &Condition) -> bool {
        match c.kind {
            ConditionKind::Chaos => self.scope.chaos,
            ConditionKind::TrafficSpike => {
                self.model.group.is_none_or(|g| u32::from(g) == c.subject)
            }
            _ => {
                self.scope.providers.is_empty()
                    || self
                        .scope
                        .providers
                        .get(c.subject as usize)
                        .copied()
                        .unwrap_or(false)
            }
        }
    }

    /// Where this incident's counting began: after the previous incident's end.
    fn counted_before(&self, start: Nanos) -> Nanos {
        self.incidents
            .iter()
            .map(|i| i.end_ns)
            .filter(|&e| e <= start)
            .max()
            .unwrap_or(0)
    }
}

/// Moves a window over the ring by one step: adds the new step, drops the one that left.
/// Called before the new step is written into the ring.
fn slide(window: &mut WindowSum, ring: &[Counts], step: u64, new: &Counts) {
    if step >= window.steps {
        let leaving = step - window.steps;
        window
            .sum
            .sub(&ring[(leaving % ring.len() as u64) as usize]);
    }
    window.sum.add(new);
}

/// Without a condition of the world to blame, the failures that dominate the incident.
fn observed_trigger(
    mix: &[(u64, Failure)],
    traffic_ratio: f64,
    indicator: Indicator,
) -> &'static str {
    if traffic_ratio >= 1.5 {
        return "traffic_surge";
    }
    if mix.is_empty() && matches!(indicator, Indicator::Latency { .. }) {
        // Slow answers breach a latency SLO without a single failed attempt.
        return "slow_responses";
    }
    match mix.first().map(|&(_, f)| f) {
        Some(Failure::RateLimited | Failure::RequestTooLarge) => "rate_limiting",
        Some(Failure::Http503 | Failure::Http529) => "provider_overload",
        Some(Failure::InsufficientCredits | Failure::InsufficientQuota) => "credits_exhausted",
        Some(f) if f.is_server_error() => "provider_errors",
        Some(Failure::Timeout | Failure::ConnectTimeout | Failure::DeadlineExceeded) => {
            "slow_responses"
        }
        Some(Failure::ConnectionError) => "connection_errors",
        Some(f) if f.is_local() => "client_rejections",
        _ => "unknown",
    }
}

/// Quarter-octave bins from 1 ms: bin 0 holds everything up to 1 ms.
fn latency_bin(latency_ns: Nanos) -> usize {
    let ms_quarters = latency_ns / 250_000; // quarter milliseconds
    if ms_quarters < 4 {
        return 0;
    }
    // Octave above 1 ms and the quarter within it, from the top three bits.
    let bits = 63 - ms_quarters.leading_zeros() as usize; // >= 2
    let quarter = ((ms_quarters >> (bits - 2)) & 0b11) as usize;
    (1 + (bits - 2) * 4 + quarter).min(LATENCY_BINS - 1)
}

/// The upper edge of a latency bin.
fn latency_bin_upper_ns(bin: usize) -> Nanos {
    if bin == 0 {
        return 1_000_000;
    }
    let octave = (bin - 1) / 4;
    let quarter = (bin - 1) % 4;
    // Lower edge: (4 + quarter) quarter-ms shifted by the octave; upper: the next one.
    ((4 + quarter as u64 + 1) * 250_000) << octave
}

/// What `finish` reports: the SLOs' run figures and the incidents, in time order.
#[derive(Debug, Clone)]
pub struct SloReport {
    pub slos: Vec<SloSummary>,
    pub incidents: Vec<Incident>,
    pub conditions_dropped: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloSummary {
    pub name: String,
    /// The client group judged; null for all of them.
    pub group: Option<String>,
    /// success_rate or latency.
    pub indicator: String,
    pub target: f64,
    pub threshold_ms: Option<f64>,
    pub window_s: f64,
    pub step_s: f64,
    /// Valid events over the run (requests that ended; for latency, that succeeded).
    pub requests: u64,
    pub bad_requests: u64,
    /// good / valid over the whole run; null without valid events.
    pub compliance: Option<f64>,
    /// Bad events over the run's error budget ((1 - target) x valid); above 1 the SLO is
    /// missed over the run.
    pub error_budget_consumed: Option<f64>,
    pub time_in_breach_s: f64,
    /// Incidents in the run (the summary lists at most 1,000 per SLO, the most severe).
    pub incidents: u64,
    pub alerts: Vec<AlertSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertSummary {
    pub name: String,
    pub long_window_s: f64,
    pub short_window_s: f64,
    pub burn_rate: f64,
    pub fired: u64,
    /// Firings that began while the SLO was not in breach.
    pub fired_outside_incidents: u64,
    pub firing_s: f64,
    pub first_fired_s: Option<f64>,
}

/// A maximal interval in breach of one SLO.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Incident {
    pub slo: String,
    /// The first breached evaluation, and the first one after it not in breach (or the end
    /// of the run when `ongoing_at_end`).
    pub start_s: f64,
    pub end_s: f64,
    pub duration_s: f64,
    pub ongoing_at_end: bool,
    /// The lowest good / valid of the window during the incident, and when.
    pub worst_sli: f64,
    pub worst_at_s: f64,
    /// For a latency SLO: the window's percentile at that moment (to ~19 %, a bin's edge).
    pub worst_latency_ms: Option<f64>,
    /// Valid and bad events from the window before the first breach to the end.
    pub requests: u64,
    pub bad_requests: u64,
    /// Bad events over the whole run's error budget.
    pub error_budget_consumed: f64,
    /// The highest attempts-per-request of the window during the incident.
    pub peak_amplification: f64,
    /// Arrival rate during the incident over the run's mean.
    pub traffic_ratio: f64,
    /// Burn-rate alerts that fired during the incident: when, and how long after its start.
    pub detected_by: Vec<Detection>,
    pub trigger: Trigger,
    /// Every condition of the world overlapping the incident or the window before it.
    pub conditions: Vec<ConditionSpan>,
    /// Failed attempts by kind over the same span, most frequent first.
    pub failure_mix: Vec<FailureCount>,
    /// Null when no condition explains the incident or one still lasts at its end.
    pub metastability: Option<Metastability>,
}

impl Incident {
    /// The ranking key of `aichaos incidents`: bad events, then duration.
    pub fn severity(&self) -> (u64, f64) {
        (self.bad_requests, self.duration_s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Detection {
    pub alert: String,
    pub at_s: f64,
    pub after_start_s: f64,
}

/// The suspected trigger: the earliest overlapping condition, else what the failures say
/// (rate_limiting, provider_overload, provider_errors, slow_responses, traffic_surge, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trigger {
    pub kind: String,
    pub subject: Option<String>,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConditionSpan {
    pub kind: String,
    pub subject: Option<String>,
    pub start_s: f64,
    /// Null if it lasted to the end of the run.
    pub end_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailureCount {
    pub failure: String,
    pub attempts: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metastability {
    /// When the last overlapping condition ended.
    pub causes_ended_s: f64,
    /// How long the breach lasted beyond that end plus one window.
    pub outlived_trigger_by_s: f64,
    /// Outlived by at least the SLO's `metastable_after`.
    pub metastable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{NS_PER_MIN, NS_PER_S};

    fn availability(window_s: u64, step_s: u64) -> SloModel {
        SloModel {
            name: "availability".into(),
            group: None,
            indicator: Indicator::SuccessRate,
            target: 0.99,
            window_ns: window_s * NS_PER_S,
            step_ns: step_s * NS_PER_S,
            min_requests: 1,
            metastable_after_ns: window_s * NS_PER_S,
            alerts: vec![AlertModel {
                name: "page".into(),
                long_window_ns: 60 * NS_PER_S,
                short_window_ns: 10 * NS_PER_S,
                burn_rate: 14.4,
            }],
        }
    }

    fn names() -> Names<'static> {
        Names {
            groups: vec!["app"],
            providers: vec!["openai"],
        }
    }

    /// One request per second ending at each second; failing in [fail_from, fail_to).
    fn feed(t: &mut SloTracker, seconds: u64, fail: impl Fn(u64) -> bool) {
        for s in 0..seconds {
            let now = s * NS_PER_S + 1;
            t.advance(now);
            t.arrival(0);
            t.attempt_sent(0);
            if fail(s) {
                t.attempt_sent(0);
                t.attempt_failed(0, Failure::Http503);
            }
            t.request_ended(0, !fail(s), 100 * crate::time::NS_PER_MS);
        }
    }

    #[test]
    fn an_outage_makes_one_incident_with_its_trigger() {
        let mut t = SloTracker::new(&[availability(30, 10)]);
        t.condition(ConditionKind::Outage, 0, 100 * NS_PER_S, true);
        t.condition(ConditionKind::Outage, 0, 160 * NS_PER_S, false);
        feed(&mut t, 600, |s| (100..160).contains(&s));
        let report = t.finish(600 * NS_PER_S, &names());
        assert_eq!(report.incidents.len(), 1, "{:?}", report.incidents);
        let i = &report.incidents[0];
        // First evaluation whose window holds a failure: the boundary at 110 s; the last
        // failure (159 s) leaves the 30 s window at the boundary at 190 s.
        assert_eq!((i.start_s, i.end_s), (110.0, 190.0));
        assert_eq!(i.bad_requests, 60);
        // The window before the first breach (80-110 s) and the incident's steps to its
        // end (110-190 s), one request per second.
        assert_eq!(i.requests, 110);
        assert_eq!(i.worst_sli, 0.0);
        assert_eq!(i.trigger.kind, "outage");
        assert_eq!(i.trigger.subject.as_deref(), Some("openai"));
        assert_eq!(i.peak_amplification, 2.0);
        assert_eq!(i.failure_mix[0].failure, "http_503");
        let m = i.metastability.as_ref().expect("the outage ended");
        assert_eq!(m.outlived_trigger_by_s, 0.0);
        assert!(!m.metastable);
        // 60 bad of 600 against a budget of 6: ten budgets.
        assert!((i.error_budget_consumed - 10.0).abs() < 1e-9);
        let page = &i.detected_by[0];
        assert_eq!(page.alert, "page");
        assert_eq!(page.at_s, 110.0);
        let slo = &report.slos[0];
        assert_eq!((slo.incidents, slo.time_in_breach_s), (1, 80.0));
        assert_eq!(slo.alerts[0].fired, 1);
    }

    #[test]
    fn an_incident_that_outlives_its_trigger_is_metastable() {
        let mut t = SloTracker::new(&[availability(30, 10)]);
        t.condition(ConditionKind::Outage, 0, 100 * NS_PER_S, true);
        t.condition(ConditionKind::Outage, 0, 160 * NS_PER_S, false);
        feed(&mut t, 600, |s| (100..400).contains(&s));
        let report = t.finish(600 * NS_PER_S, &names());
        let i = &report.incidents[0];
        assert_eq!(i.end_s, 430.0);
        let m = i.metastability.as_ref().unwrap();
        // 430 - (160 + 30)
        assert_eq!(m.outlived_trigger_by_s, 240.0);
        assert!(m.metastable);
    }

    #[test]
    fn no_condition_means_the_failures_name_the_trigger() {
        let mut t = SloTracker::new(&[availability(30, 10)]);
        feed(&mut t, 300, |s| (100..120).contains(&s));
        let report = t.finish(300 * NS_PER_S, &names());
        assert_eq!(report.incidents[0].trigger.kind, "provider_overload");
        assert!(report.incidents[0].metastability.is_none());
    }

    #[test]
    fn an_incident_open_at_the_end_is_ongoing() {
        let mut t = SloTracker::new(&[availability(30, 10)]);
        feed(&mut t, 95, |s| s >= 50);
        let report = t.finish(95 * NS_PER_S, &names());
        let i = &report.incidents[0];
        assert!(i.ongoing_at_end);
        assert_eq!((i.start_s, i.end_s), (60.0, 95.0));
    }

    #[test]
    fn latency_slo_counts_slow_successes_only() {
        let mut slo = availability(60, 10);
        slo.indicator = Indicator::Latency {
            percentile: 90.0,
            threshold_ns: 2 * NS_PER_S,
        };
        slo.target = 0.9;
        slo.alerts.clear();
        let mut t = SloTracker::new(&[slo]);
        for s in 0..600u64 {
            t.advance(s * NS_PER_S + 1);
            // One slow success in four between 200 s and 300 s, failures never count.
            let slow = (200..300).contains(&s) && s % 4 == 0;
            t.request_ended(0, true, if slow { 5 * NS_PER_S } else { NS_PER_S });
            t.request_ended(0, false, 0);
        }
        let report = t.finish(600 * NS_PER_S, &names());
        assert_eq!(report.slos[0].requests, 600);
        assert_eq!(report.slos[0].bad_requests, 25);
        let i = &report.incidents[0];
        // A p90 over windows holding 25 % slow calls is in a slow call's bin: [4.096 s, 5.12 s).
        let p = i.worst_latency_ms.unwrap();
        assert_eq!(p, 5120.0);
    }

    #[test]
    fn latency_bins_are_quarter_octaves() {
        assert_eq!(latency_bin(0), 0);
        assert_eq!(latency_bin(999_999), 0);
        assert_eq!(latency_bin(1_000_000), 1);
        assert_eq!(latency_bin(1_250_000), 2);
        assert_eq!(latency_bin(2_000_000), 5);
        for ns in [1_000_000u64, 3_700_000, 250 * 1_000_000, 7 * NS_PER_MIN] {
            let bin = latency_bin(ns);
            assert!(latency_bin_upper_ns(bin) > ns, "{ns} in bin {bin}");
            assert!(latency_bin_upper_ns(bin - 1) <= ns, "{ns} in bin {bin}");
        }
    }

    #[test]
    fn the_step_that_ends_an_incident_counts_in_it() {
        let mut slo = availability(10, 10);
        slo.target = 0.9;
        slo.alerts.clear();
        let mut t = SloTracker::new(&[slo]);
        // Every request fails from 100 s to 110 s; one in ten from 110 s to 120 s (90 %
        // good: not a breach, but the step is the incident's last).
        feed(&mut t, 200, |s| (100..110).contains(&s) || s == 115);
        let report = t.finish(200 * NS_PER_S, &names());
        assert_eq!(report.incidents.len(), 1);
        let i = &report.incidents[0];
        assert_eq!((i.start_s, i.end_s), (110.0, 120.0));
        assert_eq!((i.bad_requests, i.requests), (11, 20));
    }

    #[test]
    fn stragglers_after_the_arrivals_open_no_incident() {
        let slo = availability(30, 30);
        let scope = Scope {
            providers: vec![true],
            chaos: false,
        };
        // Arrivals end at 120 s; failures come after, in the drain.
        let mut t = SloTracker::scoped(std::slice::from_ref(&slo), vec![scope], 120 * NS_PER_S, 0);
        feed(&mut t, 150, |s| s >= 125);
        let report = t.finish(150 * NS_PER_S, &names());
        assert!(report.incidents.is_empty(), "{:?}", report.incidents);
        // Nor does a partial last step.
        let mut t = SloTracker::new(&[slo]);
        feed(&mut t, 91, |s| s >= 90);
        let report = t.finish(90 * NS_PER_S + NS_PER_S / 2, &names());
        assert!(report.incidents.is_empty(), "{:?}", report.incidents);
    }

    #[test]
    fn conditions_outside_an_slos_scope_are_not_its_trigger() {
        let slo = availability(30, 10);
        let scope = Scope {
            providers: vec![false, true],
            chaos: false,
        };
        let mut t = SloTracker::scoped(&[slo], vec![scope], Nanos::MAX, 0);
        t.condition(ConditionKind::Outage, 0, 100 * NS_PER_S, true);
        t.condition(ConditionKind::Outage, 0, 160 * NS_PER_S, false);
        t.planned_condition(ConditionKind::Chaos, u32::MAX, 90 * NS_PER_S, Nanos::MAX);
        feed(&mut t, 300, |s| (100..110).contains(&s));
        let names = Names {
            groups: vec!["app"],
            providers: vec!["openai", "anthropic"],
        };
        let report = t.finish(300 * NS_PER_S, &names);
        let i = &report.incidents[0];
        assert!(i.conditions.is_empty(), "{:?}", i.conditions);
        assert_eq!(i.trigger.kind, "provider_overload");
    }

    #[test]
    fn a_condition_that_begins_after_the_breach_is_not_its_trigger() {
        let mut t = SloTracker::new(&[availability(30, 10)]);
        t.condition(ConditionKind::Outage, 0, 200 * NS_PER_S, true);
        t.condition(ConditionKind::Outage, 0, 260 * NS_PER_S, false);
        feed(&mut t, 400, |s| (100..300).contains(&s));
        let report = t.finish(400 * NS_PER_S, &names());
        let i = &report.incidents[0];
        assert_eq!(i.start_s, 110.0);
        assert_eq!(i.conditions.len(), 1, "listed, as it overlaps");
        assert_eq!(i.trigger.kind, "provider_overload");
        assert!(i.metastability.is_none());
    }

    #[test]
    fn a_later_outage_does_not_excuse_an_incident_that_sustained_itself() {
        let mut t = SloTracker::new(&[availability(30, 10)]);
        t.condition(ConditionKind::Outage, 0, 100 * NS_PER_S, true);
        t.condition(ConditionKind::Outage, 0, 130 * NS_PER_S, false);
        // A second outage 10 minutes later, inside the same self-sustained incident.
        t.condition(ConditionKind::Outage, 0, 700 * NS_PER_S, true);
        t.condition(ConditionKind::Outage, 0, 720 * NS_PER_S, false);
        feed(&mut t, 1000, |s| (100..800).contains(&s));
        let report = t.finish(1000 * NS_PER_S, &names());
        let i = &report.incidents[0];
        assert_eq!(i.conditions.len(), 2);
        let m = i.metastability.as_ref().unwrap();
        assert_eq!(m.causes_ended_s, 130.0);
        // Ends at 830 s: 830 - (130 + 30).
        assert_eq!(m.outlived_trigger_by_s, 670.0);
        assert!(m.metastable);
    }

    #[test]
    fn consecutive_incidents_do_not_count_a_failure_twice() {
        let mut t = SloTracker::new(&[availability(30, 10)]);
        feed(&mut t, 400, |s| {
            (100..105).contains(&s) || (140..145).contains(&s)
        });
        let report = t.finish(400 * NS_PER_S, &names());
        let bad: u64 = report.incidents.iter().map(|i| i.bad_requests).sum();
        assert_eq!(bad, 10, "{:?}", report.incidents);
    }
}
