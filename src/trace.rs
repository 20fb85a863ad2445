//! Event traces of a replayed window: what `aichaos replay` writes.
//!
//! The event loop hands a `TraceEvent` to a `TraceSink` for every step of a request's life
//! and every change of the world inside the window, and nothing outside it (one comparison
//! of the clock per traced point, so a run without a trace pays nothing measurable). Three
//! sinks read them:
//!
//! * `JsonlTrace`: one JSON object per event, for scripts. Each line depends only on its
//!   event, so a window's trace is exactly the matching slice of a whole run's trace.
//! * `ChromeTrace`: Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and
//!   chrome://tracing open: a process per kind of actor (client groups, providers, breakers,
//!   SLOs), a track per actor; requests as async spans with their attempts nested inside
//!   (so retries sit under the request they belong to), attempts again on their provider's
//!   track, breaker states and provider conditions as spans, retries and fallbacks as
//!   instants. Spans cut by the window's edges are clipped to it.
//! * `Narrator`: a short postmortem timeline of the notable events, in words.
//!
//! Why over 1,000 lines: three sinks of one event type (JSON lines, Chrome trace JSON, the
//! narrator), each with its own formatting rules; a file per sink is the split when one
//! grows.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use crate::outcome::Failure;
use crate::policy::breaker::{AppliesTo, BreakerState, TripRule};
use crate::scenario::Scenario;
use crate::slo::SloEvent;
use crate::time::{Nanos, format_clock, format_duration};

/// Index fields without a value.
pub const NO_REQUEST: u64 = u64::MAX;
pub const NO_INDEX: u16 = u16::MAX;
pub const NO_BREAKER: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    Arrived,
    AttemptSent,
    /// An attempt failed: an answer, a timeout, or the client's own rejection (breaker,
    /// throttling, limiter, bulkhead), which sent nothing.
    AttemptFailed,
    /// The request succeeded (its attempt's answer came back).
    Succeeded,
    RetryScheduled,
    FellBack,
    RequestFailed,
    BreakerOpened,
    BreakerHalfOpen,
    BreakerClosed,
    /// Only in a window's opening snapshot: a breaker's state at that moment.
    BreakerState,
    ProviderDown,
    ProviderBrownout,
    ProviderUp,
    CreditsExhausted,
    CreditsAdded,
    Slo(SloEvent),
}

impl TraceKind {
    pub fn name(self) -> &'static str {
        match self {
            TraceKind::Arrived => "arrived",
            TraceKind::AttemptSent => "attempt_sent",
            TraceKind::AttemptFailed => "attempt_failed",
            TraceKind::Succeeded => "succeeded",
            TraceKind::RetryScheduled => "retry_scheduled",
            TraceKind::FellBack => "fell_back",
            TraceKind::RequestFailed => "request_failed",
            TraceKind::BreakerOpened => "breaker_opened",
            TraceKind::BreakerHalfOpen => "breaker_half_open",
            TraceKind::BreakerClosed => "breaker_closed",
            TraceKind::BreakerState => "breaker_state",
            TraceKind::ProviderDown => "provider_down",
            TraceKind::ProviderBrownout => "provider_brownout",
            TraceKind::ProviderUp => "provider_up",
            TraceKind::CreditsExhausted => "credits_exhausted",
            TraceKind::CreditsAdded => "credits_added",
            TraceKind::Slo(SloEvent::Breached { .. }) => "slo_breached",
            TraceKind::Slo(SloEvent::Recovered { .. }) => "slo_recovered",
            TraceKind::Slo(SloEvent::AlertFired { .. }) => "alert_fired",
            TraceKind::Slo(SloEvent::AlertResolved { .. }) => "alert_resolved",
        }
    }
}

/// One traced moment. Built only while tracing; fields without a value hold `NO_*` / None.
#[derive(Debug, Clone, Copy)]
pub struct TraceEvent {
    pub time_ns: Nanos,
    pub kind: TraceKind,
    pub request: u64,
    pub attempt: u32,
    pub group: u16,
    pub provider: u16,
    pub model: u16,
    pub failure: Option<Failure>,
    /// Time since the request arrived.
    pub latency_ns: Option<Nanos>,
    /// Time since the attempt was sent.
    pub attempt_ns: Option<Nanos>,
    /// A retry's backoff, or how long a breaker stays open.
    pub delay_ns: Option<Nanos>,
    pub retry_after_ns: Option<Nanos>,
    pub breaker: u32,
    pub breaker_instance: u32,
    pub breaker_state: Option<BreakerState>,
    /// The target provider's credit balance, when it models credits.
    pub credits_nusd: Option<u64>,
}

impl TraceEvent {
    pub fn at(time_ns: Nanos, kind: TraceKind) -> Self {
        TraceEvent {
            time_ns,
            kind,
            request: NO_REQUEST,
            attempt: 0,
            group: NO_INDEX,
            provider: NO_INDEX,
            model: NO_INDEX,
            failure: None,
            latency_ns: None,
            attempt_ns: None,
            delay_ns: None,
            retry_after_ns: None,
            breaker: NO_BREAKER,
            breaker_instance: 0,
            breaker_state: None,
            credits_nusd: None,
        }
    }
}

/// Receives the events of the window, in the order the loop handles them (time order).
pub trait TraceSink {
    /// The state of the world when the window opens (breakers not closed, providers not
    /// up). Not part of the event stream: a JSONL trace leaves it out.
    fn snapshot(&mut self, _event: &TraceEvent) -> io::Result<()> {
        Ok(())
    }
    fn event(&mut self, event: &TraceEvent) -> io::Result<()>;
    /// The window closes at `end_ns`: flush, close what is still open.
    fn finish(&mut self, end_ns: Nanos) -> io::Result<()>;
}

/// Names of everything an event points at, JSON-escaped once.
pub struct Labels {
    groups: Vec<String>,
    providers: Vec<String>,
    /// Per provider, its models' "provider/model" names.
    targets: Vec<Vec<String>>,
    slos: Vec<String>,
    alerts: Vec<Vec<String>>,
    /// Per group: how its breaker trips, in words.
    breaker_rules: Vec<Option<String>>,
}

impl Labels {
    pub fn new(scenario: &Scenario) -> Self {
        Labels {
            groups: scenario.groups.iter().map(|g| g.name.clone()).collect(),
            providers: scenario.providers.iter().map(|p| p.name.clone()).collect(),
            targets: scenario
                .providers
                .iter()
                .map(|p| {
                    p.models
                        .iter()
                        .map(|m| format!("{}/{}", p.name, m.name))
                        .collect()
                })
                .collect(),
            slos: scenario.slos.iter().map(|s| s.name.clone()).collect(),
            alerts: scenario
                .slos
                .iter()
                .map(|s| s.alerts.iter().map(|a| a.name.clone()).collect())
                .collect(),
            breaker_rules: scenario
                .groups
                .iter()
                .map(|g| {
                    g.policy.breaker.as_ref().map(|b| match b.applies_to {
                        AppliesTo::All => describe_trip(&b.trip),
                        AppliesTo::Retries => {
                            format!("{}; stops retries only", describe_trip(&b.trip))
                        }
                    })
                })
                .collect(),
        }
    }

    fn group(&self, e: &TraceEvent) -> Option<&str> {
        (e.group != NO_INDEX).then(|| self.groups[e.group as usize].as_str())
    }

    fn target(&self, e: &TraceEvent) -> Option<&str> {
        (e.provider != NO_INDEX && e.model != NO_INDEX)
            .then(|| self.targets[e.provider as usize][e.model as usize].as_str())
    }

    fn provider(&self, e: &TraceEvent) -> Option<&str> {
        (e.provider != NO_INDEX).then(|| self.providers[e.provider as usize].as_str())
    }

    /// "app -> openai/gpt-4o" (with "#3" for an instance of a fleet's breakers).
    fn breaker(&self, e: &TraceEvent) -> Option<String> {
        if e.breaker == NO_BREAKER {
            return None;
        }
        let mut name = format!(
            "{} -> {}",
            self.group(e).unwrap_or("?"),
            self.target(e).unwrap_or("?")
        );
        if e.breaker_instance > 0 {
            name.push_str(&format!(" #{}", e.breaker_instance));
        }
        Some(name)
    }

    fn slo(&self, event: SloEvent) -> (&str, Option<&str>) {
        match event {
            SloEvent::Breached { slo } | SloEvent::Recovered { slo } => {
                (&self.slos[slo as usize], None)
            }
            SloEvent::AlertFired { slo, alert } | SloEvent::AlertResolved { slo, alert } => (
                &self.slos[slo as usize],
                Some(&self.alerts[slo as usize][alert as usize]),
            ),
        }
    }
}

fn describe_trip(rule: &TripRule) -> String {
    match rule {
        TripRule::Consecutive { failures } => format!("{failures} consecutive failures"),
        TripRule::CountWindow {
            size, failure_rate, ..
        } => format!(
            "failure rate >= {:.0} % over the last {size} calls",
            failure_rate * 100.0
        ),
        TripRule::TimeWindow {
            seconds,
            failure_rate,
            ..
        } => format!(
            "failure rate >= {:.0} % over {seconds} s",
            failure_rate * 100.0
        ),
        TripRule::PollyWindows {
            sampling_ns,
            failure_rate,
            ..
        } => format!(
            "failure rate >= {:.0} % over 10 rolling windows spanning {} ms",
            failure_rate * 100.0,
            sampling_ns / crate::time::NS_PER_MS
        ),
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// Nano-dollars as exact decimal dollars.
fn usd(nusd: u64) -> String {
    format!("{}.{:09}", nusd / 1_000_000_000, nusd % 1_000_000_000)
}

/// One JSON object per line.
pub struct JsonlTrace<W: Write> {
    out: W,
    labels: Labels,
    pub events: u64,
}

impl<W: Write> JsonlTrace<W> {
    pub fn new(out: W, labels: Labels) -> Self {
        JsonlTrace {
            out,
            labels,
            events: 0,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> TraceSink for JsonlTrace<W> {
    fn event(&mut self, e: &TraceEvent) -> io::Result<()> {
        self.events += 1;
        let l = &self.labels;
        let mut line = format!(
            "{{\"t_ns\":{},\"t\":\"{}\",\"event\":\"{}\"",
            e.time_ns,
            format_clock(e.time_ns),
            e.kind.name()
        );
        if e.request != NO_REQUEST {
            line.push_str(&format!(
                ",\"request\":{},\"attempt\":{}",
                e.request, e.attempt
            ));
        }
        if let Some(g) = l.group(e) {
            line.push_str(&format!(",\"group\":{}", quoted(g)));
        }
        match (l.target(e), l.provider(e)) {
            (Some(t), _) => line.push_str(&format!(",\"target\":{}", quoted(t))),
            (None, Some(p)) => line.push_str(&format!(",\"provider\":{}", quoted(p))),
            _ => {}
        }
        if let TraceKind::Slo(event) = e.kind {
            let (slo, alert) = l.slo(event);
            line.push_str(&format!(",\"slo\":{}", quoted(slo)));
            if let Some(alert) = alert {
                line.push_str(&format!(",\"alert\":{}", quoted(alert)));
            }
        }
        if let Some(f) = e.failure {
            line.push_str(&format!(",\"outcome\":\"{}\"", f.name()));
        } else if e.kind == TraceKind::Succeeded {
            line.push_str(",\"outcome\":\"success\"");
        }
        for (name, value) in [
            ("latency_ns", e.latency_ns),
            ("attempt_ns", e.attempt_ns),
            ("delay_ns", e.delay_ns),
            ("retry_after_ns", e.retry_after_ns),
        ] {
            if let Some(v) = value {
                line.push_str(&format!(",\"{name}\":{v}"));
            }
        }
        if let Some(b) = l.breaker(e) {
            line.push_str(&format!(",\"breaker\":{}", quoted(&b)));
        }
        if let Some(state) = e.breaker_state {
            line.push_str(&format!(",\"breaker_state\":\"{}\"", state.name()));
        }
        if let Some(c) = e.credits_nusd {
            line.push_str(&format!(",\"credits_usd\":{}", usd(c)));
        }
        line.push_str("}\n");
        self.out.write_all(line.as_bytes())
    }

    fn finish(&mut self, _end_ns: Nanos) -> io::Result<()> {
        self.out.flush()
    }
}

/// Process ids of the Chrome trace: one per kind of actor.
const PID_CLIENTS: u32 = 1;
const PID_PROVIDERS: u32 = 2;
const PID_BREAKERS: u32 = 3;
const PID_SLOS: u32 = 4;

/// Microseconds with nanosecond digits, as the format wants.
fn micros(ns: Nanos) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// A span with one state at a time (a breaker's state, a provider's condition, an SLO
/// breach, an alert), drawn as a complete event when it ends.
#[derive(Debug, Clone)]
struct StateSpan {
    name: String,
    since_ns: Nanos,
}

/// An open async span: where it is drawn, and under which id on the client's track (its
/// request's, so that it nests under it, unless it overlaps a sibling: a hedged copy gets
/// an id of its own, since async spans of one id must nest).
#[derive(Debug, Clone)]
struct OpenSpan {
    group: u16,
    provider: u16,
    client_id: String,
}

/// Chrome trace-event JSON (the "JSON Object Format"), for Perfetto and chrome://tracing.
pub struct ChromeTrace<W: Write> {
    out: W,
    labels: Labels,
    from_ns: Nanos,
    first: bool,
    /// Requests (attempt 0) and attempts whose span is open.
    open_async: BTreeMap<(u64, u32), OpenSpan>,
    /// Tracks with one state at a time: (pid, tid) -> the current state.
    states: BTreeMap<(u32, u32), StateSpan>,
    named_threads: BTreeSet<(u32, u32)>,
    pub events: u64,
}

impl<W: Write> ChromeTrace<W> {
    pub fn new(mut out: W, labels: Labels, from_ns: Nanos) -> io::Result<Self> {
        out.write_all(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n")?;
        let mut trace = ChromeTrace {
            out,
            labels,
            from_ns,
            first: true,
            open_async: BTreeMap::new(),
            states: BTreeMap::new(),
            named_threads: BTreeSet::new(),
            events: 0,
        };
        for (pid, name) in [
            (PID_CLIENTS, "client groups"),
            (PID_PROVIDERS, "providers"),
            (PID_BREAKERS, "breakers"),
            (PID_SLOS, "SLOs"),
        ] {
            trace.raw(&format!(
                "{{\"ph\":\"M\",\"pid\":{pid},\"name\":\"process_name\",\"args\":{{\"name\":\"{name}\"}}}}"
            ))?;
            trace.raw(&format!(
                "{{\"ph\":\"M\",\"pid\":{pid},\"name\":\"process_sort_index\",\"args\":{{\"sort_index\":{pid}}}}}"
            ))?;
        }
        Ok(trace)
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn raw(&mut self, json: &str) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        self.out.write_all(json.as_bytes())
    }

    fn thread(&mut self, pid: u32, tid: u32, name: &str) -> io::Result<()> {
        if self.named_threads.insert((pid, tid)) {
            self.raw(&format!(
                "{{\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"name\":\"thread_name\",\"args\":{{\"name\":{}}}}}",
                quoted(name)
            ))?;
        }
        Ok(())
    }

    /// An async begin / end / instant (`ph`) of span `(category, id)` on track `(pid, tid)`.
    fn async_event(
        &mut self,
        ph: char,
        (cat, id): (&str, &str),
        name: &str,
        (pid, tid): (u32, u32),
        at: Nanos,
        args: &str,
    ) -> io::Result<()> {
        self.raw(&format!(
            "{{\"ph\":\"{ph}\",\"cat\":\"{cat}\",\"id\":\"{id}\",\"name\":{},\"pid\":{pid},\"tid\":{tid},\"ts\":{}{args}}}",
            quoted(name),
            micros(at)
        ))
    }

    fn set_state(&mut self, pid: u32, tid: u32, state: Option<&str>, at: Nanos) -> io::Result<()> {
        if let Some(previous) = self.states.remove(&(pid, tid)) {
            let since = previous.since_ns.max(self.from_ns);
            self.raw(&format!(
                "{{\"ph\":\"X\",\"name\":{},\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{}}}",
                quoted(&previous.name),
                micros(since),
                micros(at.saturating_sub(since))
            ))?;
        }
        if let Some(name) = state {
            self.states.insert(
                (pid, tid),
                StateSpan {
                    name: name.to_string(),
                    since_ns: at,
                },
            );
        }
        Ok(())
    }

    fn request_id(request: u64) -> String {
        format!("r{request}")
    }

    fn attempt_id(request: u64, attempt: u32) -> String {
        format!("r{request}.{attempt}")
    }

    /// Ends an attempt's spans (both tracks); one that began before the window begins at
    /// its edge.
    fn end_attempt(&mut self, e: &TraceEvent, outcome: &str) -> io::Result<()> {
        let key = (e.request, e.attempt);
        let args = format!(",\"args\":{{\"outcome\":\"{outcome}\"}}");
        let span = match self.open_async.get(&key) {
            Some(span) => span.clone(),
            None => {
                // Begun before the window (or its start is unknown): from the window's edge.
                let began = e
                    .time_ns
                    .saturating_sub(e.attempt_ns.unwrap_or(u64::MAX))
                    .max(self.from_ns);
                self.begin_attempt(e, began)?;
                self.open_async[&key].clone()
            }
        };
        self.open_async.remove(&key);
        self.close_attempt(e.request, e.attempt, &span, e.time_ns, &args)
    }

    fn close_attempt(
        &mut self,
        request: u64,
        attempt: u32,
        span: &OpenSpan,
        at: Nanos,
        args: &str,
    ) -> io::Result<()> {
        let name = format!("attempt {attempt}");
        self.async_event(
            'e',
            ("request", &span.client_id),
            &name,
            (PID_CLIENTS, u32::from(span.group) + 1),
            at,
            args,
        )?;
        if span.provider != NO_INDEX {
            self.async_event(
                'e',
                ("attempt", &Self::attempt_id(request, attempt)),
                "attempt",
                (PID_PROVIDERS, u32::from(span.provider) + 1),
                at,
                args,
            )?;
        }
        Ok(())
    }

    fn begin_attempt(&mut self, e: &TraceEvent, at: Nanos) -> io::Result<()> {
        self.ensure_request(e)?;
        let overlaps_a_sibling = self
            .open_async
            .range((e.request, 1)..=(e.request, u32::MAX))
            .next()
            .is_some();
        let client_id = if overlaps_a_sibling {
            Self::attempt_id(e.request, e.attempt)
        } else {
            Self::request_id(e.request)
        };
        self.open_async.insert(
            (e.request, e.attempt),
            OpenSpan {
                group: e.group,
                provider: e.provider,
                client_id: client_id.clone(),
            },
        );
        let target = self.labels.target(e).unwrap_or("?").to_string();
        let name = format!("attempt {}", e.attempt);
        self.async_event(
            'b',
            ("request", &client_id),
            &name,
            (PID_CLIENTS, u32::from(e.group) + 1),
            at,
            &format!(",\"args\":{{\"target\":{}}}", quoted(&target)),
        )?;
        if e.provider != NO_INDEX {
            let provider = self.labels.providers[e.provider as usize].clone();
            self.thread(PID_PROVIDERS, u32::from(e.provider) + 1, &provider)?;
            let group = self.labels.group(e).unwrap_or("?").to_string();
            self.async_event(
                'b',
                ("attempt", &Self::attempt_id(e.request, e.attempt)),
                "attempt",
                (PID_PROVIDERS, u32::from(e.provider) + 1),
                at,
                &format!(
                    ",\"args\":{{\"request\":{},\"attempt\":{},\"group\":{},\"target\":{}}}",
                    e.request,
                    e.attempt,
                    quoted(&group),
                    quoted(&target)
                ),
            )?;
        }
        Ok(())
    }

    /// Opens the span of `e`'s request if it is not open: it began before the window, so
    /// it is drawn from the window's edge.
    fn ensure_request(&mut self, e: &TraceEvent) -> io::Result<()> {
        if self.open_async.contains_key(&(e.request, 0)) {
            return Ok(());
        }
        let began = e
            .time_ns
            .saturating_sub(e.latency_ns.unwrap_or(0))
            .max(self.from_ns);
        self.begin_request(e, began)
    }

    fn begin_request(&mut self, e: &TraceEvent, at: Nanos) -> io::Result<()> {
        let group = self.labels.group(e).unwrap_or("?").to_string();
        self.thread(PID_CLIENTS, u32::from(e.group) + 1, &group)?;
        self.open_async.insert(
            (e.request, 0),
            OpenSpan {
                group: e.group,
                provider: NO_INDEX,
                client_id: Self::request_id(e.request),
            },
        );
        self.async_event(
            'b',
            ("request", &Self::request_id(e.request)),
            &format!("request {}", e.request),
            (PID_CLIENTS, u32::from(e.group) + 1),
            at,
            "",
        )
    }

    fn end_request(&mut self, e: &TraceEvent, outcome: &str) -> io::Result<()> {
        if e.kind == TraceKind::Succeeded {
            // The winning attempt (its span may have begun before the window).
            self.end_attempt(e, outcome)?;
        }
        // Copies still out (hedging) are abandoned with their request.
        let open: Vec<(u32, OpenSpan)> = self
            .open_async
            .range((e.request, 1)..=(e.request, u32::MAX))
            .map(|(&(_, attempt), span)| (attempt, span.clone()))
            .collect();
        for (attempt, span) in open {
            self.open_async.remove(&(e.request, attempt));
            let args = ",\"args\":{\"outcome\":\"abandoned\"}";
            self.close_attempt(e.request, attempt, &span, e.time_ns, args)?;
        }
        self.ensure_request(e)?;
        self.open_async.remove(&(e.request, 0));
        self.async_event(
            'e',
            ("request", &Self::request_id(e.request)),
            &format!("request {}", e.request),
            (PID_CLIENTS, u32::from(e.group) + 1),
            e.time_ns,
            &format!(",\"args\":{{\"outcome\":\"{outcome}\"}}"),
        )
    }

    fn instant(&mut self, e: &TraceEvent, name: &str) -> io::Result<()> {
        self.ensure_request(e)?;
        self.async_event(
            'n',
            ("request", &Self::request_id(e.request)),
            name,
            (PID_CLIENTS, u32::from(e.group) + 1),
            e.time_ns,
            "",
        )
    }

    fn breaker_state(&mut self, e: &TraceEvent, state: BreakerState) -> io::Result<()> {
        let name = self.labels.breaker(e).unwrap_or_default();
        let tid = e.breaker + 1;
        self.thread(PID_BREAKERS, tid, &name)?;
        let shown = (state != BreakerState::Closed).then_some(state.name());
        self.set_state(PID_BREAKERS, tid, shown, e.time_ns)
    }

    fn provider_state(&mut self, e: &TraceEvent, state: Option<&str>) -> io::Result<()> {
        let name = self.labels.provider(e).unwrap_or("?").to_string();
        // Thread 0 of each provider id range is taken by attempts; conditions get their own.
        let tid = 100_000 + u32::from(e.provider);
        self.thread(PID_PROVIDERS, tid, &format!("{name} condition"))?;
        self.set_state(PID_PROVIDERS, tid, state, e.time_ns)
    }
}

impl<W: Write> TraceSink for ChromeTrace<W> {
    fn snapshot(&mut self, e: &TraceEvent) -> io::Result<()> {
        match (e.kind, e.breaker_state) {
            (TraceKind::BreakerState, Some(state)) => self.breaker_state(e, state),
            (TraceKind::ProviderDown, _) => self.provider_state(e, Some("down")),
            (TraceKind::ProviderBrownout, _) => self.provider_state(e, Some("brownout")),
            _ => Ok(()),
        }
    }

    fn event(&mut self, e: &TraceEvent) -> io::Result<()> {
        self.events += 1;
        match e.kind {
            TraceKind::Arrived => self.begin_request(e, e.time_ns),
            TraceKind::AttemptSent => self.begin_attempt(e, e.time_ns),
            TraceKind::AttemptFailed => {
                let failure = e.failure.map_or("failed", Failure::name);
                if e.failure.is_some_and(Failure::is_local) {
                    self.instant(e, &format!("rejected: {failure}"))
                } else {
                    self.end_attempt(e, failure)
                }
            }
            TraceKind::Succeeded => self.end_request(e, "success"),
            TraceKind::RequestFailed => {
                self.end_request(e, e.failure.map_or("failed", Failure::name))
            }
            TraceKind::RetryScheduled => {
                let name = format!("retry in {}", format_duration(e.delay_ns.unwrap_or(0)));
                self.instant(e, &name)
            }
            TraceKind::FellBack => {
                let name = format!("fall back to {}", self.labels.target(e).unwrap_or("?"));
                self.instant(e, &name)
            }
            TraceKind::BreakerOpened => self.breaker_state(e, BreakerState::Open),
            TraceKind::BreakerHalfOpen => self.breaker_state(e, BreakerState::HalfOpen),
            TraceKind::BreakerClosed | TraceKind::BreakerState => {
                self.breaker_state(e, e.breaker_state.unwrap_or(BreakerState::Closed))
            }
            TraceKind::ProviderDown => self.provider_state(e, Some("down")),
            TraceKind::ProviderBrownout => self.provider_state(e, Some("brownout")),
            TraceKind::ProviderUp => self.provider_state(e, None),
            TraceKind::CreditsExhausted | TraceKind::CreditsAdded => {
                let tid = 100_000 + u32::from(e.provider);
                let name = format!("{} condition", self.labels.provider(e).unwrap_or("?"));
                self.thread(PID_PROVIDERS, tid, &name)?;
                self.raw(&format!(
                    "{{\"ph\":\"i\",\"s\":\"t\",\"name\":\"{}\",\"pid\":{PID_PROVIDERS},\"tid\":{tid},\"ts\":{}}}",
                    e.kind.name(),
                    micros(e.time_ns)
                ))
            }
            TraceKind::Slo(event) => {
                let (slo, alert) = self.labels.slo(event);
                let (slo, alert) = (slo.to_string(), alert.map(str::to_string));
                let (tid, track, state) = match event {
                    SloEvent::Breached { slo: s } => {
                        (u32::from(s) * 1000 + 1, slo.clone(), Some("breach"))
                    }
                    SloEvent::Recovered { slo: s } => (u32::from(s) * 1000 + 1, slo.clone(), None),
                    SloEvent::AlertFired { slo: s, alert: a } => (
                        u32::from(s) * 1000 + 2 + u32::from(a),
                        format!("{slo}: alert {}", alert.clone().unwrap_or_default()),
                        Some("firing"),
                    ),
                    SloEvent::AlertResolved { slo: s, alert: a } => (
                        u32::from(s) * 1000 + 2 + u32::from(a),
                        format!("{slo}: alert {}", alert.clone().unwrap_or_default()),
                        None,
                    ),
                };
                self.thread(PID_SLOS, tid, &track)?;
                self.set_state(PID_SLOS, tid, state, e.time_ns)
            }
        }
    }

    fn finish(&mut self, end_ns: Nanos) -> io::Result<()> {
        // Close what the window's end cuts: attempts and requests, then states.
        // Attempts before their requests (the map is ordered by request, then attempt).
        let open: Vec<((u64, u32), OpenSpan)> = self
            .open_async
            .iter()
            .rev()
            .map(|(&k, v)| (k, v.clone()))
            .collect();
        for ((request, attempt), span) in open {
            if attempt > 0 {
                self.close_attempt(request, attempt, &span, end_ns, "")?;
            } else {
                self.async_event(
                    'e',
                    ("request", &span.client_id),
                    &format!("request {request}"),
                    (PID_CLIENTS, u32::from(span.group) + 1),
                    end_ns,
                    "",
                )?;
            }
        }
        self.open_async.clear();
        let states: Vec<(u32, u32)> = self.states.keys().copied().collect();
        for (pid, tid) in states {
            self.set_state(pid, tid, None, end_ns)?;
        }
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()
    }
}

/// Notable moments of the window in words: "00:20:00.000  openai goes down". A failure is
/// notable when it comes after a minute without it (on that target, or for that group);
/// the window's first minute only learns which failures are usual.
pub struct Narrator {
    labels: Labels,
    lines: Vec<String>,
    max_lines: usize,
    omitted: u64,
    /// When each (provider or group, failure) was last seen, for "first ... since".
    bursts: BTreeMap<(u16, u16, usize), Burst>,
    /// Each breaker's last state, to tell a reopening from an opening.
    breaker_states: BTreeMap<u32, BreakerState>,
    /// Lines known in advance (the chaos window, traffic spikes), merged in by time.
    planned: Vec<(Nanos, String)>,
    /// Until then, failures are only learnt: the window's first minute has no history.
    learning_until_ns: Nanos,
    arrived: u64,
    succeeded: u64,
    failed: u64,
    retries: u64,
}

/// A failure kind not seen for this long counts as new when it comes back.
const QUIET_NS: Nanos = 60 * crate::time::NS_PER_S;
/// A burst: this many of one failure within `BURST_NS` (background errors rarely are).
const BURST_COUNT: usize = 5;
const BURST_NS: Nanos = 10 * crate::time::NS_PER_S;

/// A usual failure surges when a 10-second bucket holds at least `SURGE_MIN` of it and
/// `SURGE_FACTOR` times its usual count (an average over the last minutes' buckets).
const SURGE_BUCKET_NS: Nanos = 10 * crate::time::NS_PER_S;
const SURGE_MIN: u32 = 10;
const SURGE_FACTOR: f64 = 5.0;
/// Weight of the newest bucket in the usual count (about 100 s of memory).
const USUAL_WEIGHT: f64 = 0.1;

/// One failure kind for one target or group: its recent times (bursts after quiet) and
/// its count per 10-second bucket against its usual level (surges of a usual failure).
#[derive(Debug, Clone, Default)]
struct Burst {
    recent: [Nanos; BURST_COUNT],
    seen: usize,
    last_ns: Nanos,
    /// Announced (or usual since the window began) until a quiet minute.
    announced: bool,
    bucket_start_ns: Nanos,
    bucket_count: u32,
    usual: f64,
    surging: bool,
}

/// What makes a failure worth a line.
enum Notable {
    /// A burst after a quiet minute: five within this long.
    Begins(Nanos),
    /// A usual failure far above its usual rate: this many in the bucket, against.
    Surges(u32, f64),
}

impl Burst {
    /// Counts one at `at` in its 10-second bucket, closing the buckets passed.
    fn count(&mut self, at: Nanos) {
        if self.bucket_count == 0 && self.seen == 0 {
            self.bucket_start_ns = at - at % SURGE_BUCKET_NS;
        }
        let passed = at.saturating_sub(self.bucket_start_ns) / SURGE_BUCKET_NS;
        if passed > 0 {
            let closed = f64::from(self.bucket_count);
            if self.surging {
                // Over when a bucket is back near the usual level; the level stays frozen.
                self.surging = closed > 2.0 * self.usual.max(1.0);
            } else {
                self.usual += USUAL_WEIGHT * (closed - self.usual);
                // The empty buckets since.
                self.usual *= (1.0 - USUAL_WEIGHT).powi(passed.min(1000) as i32 - 1);
            }
            self.bucket_start_ns += passed * SURGE_BUCKET_NS;
            self.bucket_count = 0;
        }
        self.bucket_count += 1;
    }

    fn surges(&mut self) -> Option<Notable> {
        let count = self.bucket_count;
        if self.surging
            || count < SURGE_MIN
            || f64::from(count) < SURGE_FACTOR * self.usual.max(1.0)
        {
            return None;
        }
        self.surging = true;
        Some(Notable::Surges(count, self.usual))
    }
}

impl Narrator {
    pub fn new(scenario: &Scenario, from_ns: Nanos, to_ns: Nanos, max_lines: usize) -> Self {
        let mut planned = Vec::new();
        if let Some(chaos) = &scenario.chaos {
            planned.push((
                chaos.start_ns,
                format!(
                    "chaos layer starts injecting faults ({:.0} % of attempts)",
                    chaos.failure_rate * 100.0
                ),
            ));
            if chaos.end_ns != Nanos::MAX {
                planned.push((chaos.end_ns, "chaos layer stops".to_string()));
            }
        }
        for g in &scenario.groups {
            if let crate::traffic::ArrivalModel::Poisson(profile) = &g.arrivals {
                for s in &profile.spikes {
                    planned.push((
                        s.start_ns,
                        format!("{}: traffic spike x{} begins", g.name, s.multiplier),
                    ));
                    planned.push((s.end_ns, format!("{}: traffic spike ends", g.name)));
                }
            }
        }
        planned.retain(|(t, _)| (from_ns..to_ns).contains(t));
        planned.sort_by_key(|(t, _)| *t);
        planned.reverse();
        Narrator {
            labels: Labels::new(scenario),
            lines: Vec::new(),
            max_lines,
            omitted: 0,
            bursts: BTreeMap::new(),
            breaker_states: BTreeMap::new(),
            planned,
            learning_until_ns: from_ns.saturating_add(QUIET_NS),
            arrived: 0,
            succeeded: 0,
            failed: 0,
            retries: 0,
        }
    }

    fn say(&mut self, at: Nanos, text: String) {
        self.flush_planned(at);
        self.push(at, text);
    }

    fn push(&mut self, at: Nanos, text: String) {
        if self.lines.len() < self.max_lines {
            self.lines.push(format!("{}  {text}", format_clock(at)));
        } else {
            self.omitted += 1;
        }
    }

    fn flush_planned(&mut self, until: Nanos) {
        while self.planned.last().is_some_and(|(t, _)| *t <= until) {
            let (t, text) = self.planned.pop().expect("checked");
            self.push(t, text);
        }
    }

    /// Is this failure notable: the start of a burst of `failure` for `who` (five within ten
    /// seconds after a quiet minute), or a surge of a usual one?
    fn notable(&mut self, who: (u16, u16), failure: Failure, at: Nanos) -> Option<Notable> {
        let learning = at < self.learning_until_ns;
        let b = self
            .bursts
            .entry((who.0, who.1, failure.index()))
            .or_default();
        b.count(at);
        if b.seen > 0 && at.saturating_sub(b.last_ns) >= QUIET_NS {
            b.announced = false;
        }
        b.recent[b.seen % BURST_COUNT] = at;
        b.seen += 1;
        b.last_ns = at;
        if learning {
            b.announced = true;
            return None;
        }
        let oldest = b.recent[b.seen % BURST_COUNT];
        if !b.announced && b.seen >= BURST_COUNT && at - oldest <= BURST_NS {
            // A burst is its own surge: no second line for it.
            b.announced = true;
            b.surging = true;
            return Some(Notable::Begins(at - oldest));
        }
        if b.announced { b.surges() } else { None }
    }

    /// The timeline, with a closing tally of the window.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = self.lines.clone();
        if self.omitted > 0 {
            lines.push(format!(
                "... {} more notable events (see the trace)",
                self.omitted
            ));
        }
        lines.push(format!(
            "in the window: {} requests arrived, {} succeeded, {} failed, {} retries",
            self.arrived, self.succeeded, self.failed, self.retries
        ));
        lines
    }
}

impl TraceSink for Narrator {
    fn event(&mut self, e: &TraceEvent) -> io::Result<()> {
        let at = e.time_ns;
        // The commonest events are only tallied: no names to look up for them.
        match e.kind {
            TraceKind::Arrived => self.arrived += 1,
            TraceKind::Succeeded => self.succeeded += 1,
            TraceKind::RetryScheduled => self.retries += 1,
            _ => {}
        }
        if matches!(
            e.kind,
            TraceKind::Arrived
                | TraceKind::Succeeded
                | TraceKind::RetryScheduled
                | TraceKind::AttemptSent
                | TraceKind::BreakerState
        ) {
            return Ok(());
        }
        let target = self.labels.target(e).unwrap_or("?").to_string();
        let provider = self.labels.provider(e).unwrap_or("?").to_string();
        let group = self.labels.group(e).unwrap_or("?").to_string();
        match e.kind {
            TraceKind::AttemptFailed => {
                let failure = e.failure.expect("a failed attempt has its failure");
                let (who, subject) = if failure.is_local() {
                    ((NO_INDEX, e.group), group.clone())
                } else {
                    ((e.provider, e.model), target.clone())
                };
                match self.notable(who, failure, at) {
                    Some(Notable::Begins(took)) if failure.is_local() => {
                        let took = format_duration(took);
                        let text = format!(
                            "{group}: the client rejects attempts ({}; {BURST_COUNT} in {took})",
                            failure.name()
                        );
                        self.say(at, text);
                    }
                    Some(Notable::Begins(took)) => {
                        let retry_after = e
                            .retry_after_ns
                            .map(|r| format!(", Retry-After {}", format_duration(r)))
                            .unwrap_or_default();
                        let text = format!(
                            "{target}: {} begin ({BURST_COUNT} in {}; request {}, attempt {}{retry_after})",
                            failure.name(),
                            format_duration(took),
                            e.request,
                            e.attempt
                        );
                        self.say(at, text);
                    }
                    Some(Notable::Surges(count, usual)) => {
                        self.say(at, surge_line(&subject, failure, count, usual))
                    }
                    None => {}
                }
            }
            TraceKind::RequestFailed => {
                self.failed += 1;
                let failure = e.failure.expect("a failed request has its failure");
                match self.notable((NO_INDEX - 1, e.group), failure, at) {
                    Some(Notable::Begins(took)) => {
                        let text = format!(
                            "{group}: requests start failing ({}; {BURST_COUNT} in {})",
                            failure.name(),
                            format_duration(took)
                        );
                        self.say(at, text);
                    }
                    Some(Notable::Surges(count, usual)) => {
                        let subject = format!("{group}: failed requests");
                        self.say(at, surge_line(&subject, failure, count, usual));
                    }
                    None => {}
                }
            }
            TraceKind::FellBack => {
                // Keyed apart from the target's own failures: a fallback is not one.
                let key = (e.provider, e.model.wrapping_add(1) | 0x8000);
                if let Some(Notable::Begins(_)) = self.notable(key, Failure::ClientRateLimited, at)
                {
                    self.say(at, format!("{group}: requests fall back to {target}"));
                }
            }
            TraceKind::BreakerOpened => {
                let name = self.labels.breaker(e).unwrap_or_default();
                let previous = self.breaker_states.insert(e.breaker, BreakerState::Open);
                if previous == Some(BreakerState::HalfOpen) {
                    self.say(at, format!("breaker {name} reopens: a probe failed"));
                    return Ok(());
                }
                let rule = self.labels.breaker_rules[e.group as usize]
                    .clone()
                    .unwrap_or_default();
                let until = e
                    .delay_ns
                    .map(|d| format!(" for {}", format_duration(d)))
                    .unwrap_or_default();
                self.say(at, format!("breaker {name} opens{until} (trips on {rule})"));
            }
            TraceKind::BreakerHalfOpen => {
                self.breaker_states
                    .insert(e.breaker, BreakerState::HalfOpen);
                let name = self.labels.breaker(e).unwrap_or_default();
                self.say(at, format!("breaker {name} half-open: probing"));
            }
            TraceKind::BreakerClosed => {
                self.breaker_states.insert(e.breaker, BreakerState::Closed);
                let name = self.labels.breaker(e).unwrap_or_default();
                self.say(at, format!("breaker {name} closes"));
            }
            TraceKind::ProviderDown => self.say(at, format!("{provider} goes down")),
            TraceKind::ProviderBrownout => {
                self.say(at, format!("{provider} browns out (slower, more errors)"))
            }
            TraceKind::ProviderUp => self.say(at, format!("{provider} recovers")),
            TraceKind::CreditsExhausted => {
                self.say(at, format!("{provider}: credits exhausted (402)"))
            }
            TraceKind::CreditsAdded => {
                let balance = e
                    .credits_nusd
                    .map(|c| format!(", balance ${:.2}", c as f64 / 1e9));
                self.say(
                    at,
                    format!("{provider}: credits added{}", balance.unwrap_or_default()),
                );
            }
            TraceKind::Slo(event) => {
                let (slo, alert) = self.labels.slo(event);
                let text = match event {
                    SloEvent::Breached { .. } => format!("SLO {slo} breached: incident starts"),
                    SloEvent::Recovered { .. } => format!("SLO {slo} met again: incident ends"),
                    SloEvent::AlertFired { .. } => {
                        format!("alert {} on SLO {slo} fires", alert.unwrap_or("?"))
                    }
                    SloEvent::AlertResolved { .. } => {
                        format!("alert {} on SLO {slo} resolves", alert.unwrap_or("?"))
                    }
                };
                self.say(at, text);
            }
            TraceKind::Arrived
            | TraceKind::Succeeded
            | TraceKind::RetryScheduled
            | TraceKind::AttemptSent
            | TraceKind::BreakerState => {}
        }
        Ok(())
    }

    fn finish(&mut self, end_ns: Nanos) -> io::Result<()> {
        self.flush_planned(end_ns);
        Ok(())
    }
}

/// "openai/gpt-4o: timeout surge (350 in 10s, usually 1.2)".
fn surge_line(subject: &str, failure: Failure, count: u32, usual: f64) -> String {
    format!(
        "{subject}: {} surge ({count} in 10s, usually {usual:.1})",
        failure.name()
    )
}

/// Several sinks fed the same events.
pub struct Tee<'a>(pub Vec<&'a mut dyn TraceSink>);

impl TraceSink for Tee<'_> {
    fn snapshot(&mut self, e: &TraceEvent) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.snapshot(e))
    }
    fn event(&mut self, e: &TraceEvent) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.event(e))
    }
    fn finish(&mut self, end_ns: Nanos) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.finish(end_ns))
    }
}
