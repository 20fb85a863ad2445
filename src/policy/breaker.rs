//! Circuit breakers: closed, open, half-open, in the three families clients use.
//!
//! * `consecutive`: the seed's `AICircuitBreaker`. Opens after `failure_threshold` failures
//!   counted since the last success (no window, no decay); half-open admits
//!   `half_open_probes` probes (the seed admits one; its defect of admitting unlimited calls
//!   in half-open is not copied); one failed probe reopens it, successful probes close it.
//! * `count_window`: resilience4j's COUNT_BASED sliding window: the outcomes of the last
//!   `window_size` calls; once `minimum_calls` are recorded it opens when the failure rate or
//!   the slow-call rate (calls longer than `slow_call_duration`) reaches its threshold.
//!   Half-open admits `half_open_probes` calls and judges them by the same thresholds once
//!   all have answered. Defaults are resilience4j's (window 100, minimum 100, 50 %, slow
//!   100 % at 60 s, 60 s open, 10 probes).
//! * `time_window`: resilience4j's TIME_BASED window and Polly v8's breaker: one-second
//!   aggregates over `window` (Polly's sampling duration), `minimum_calls` (Polly's minimum
//!   throughput) and a failure ratio. Defaults are Polly v8's (30 s, 100, 10 %, 5 s open,
//!   one probe).
//! * `time_window` with `sampling: "polly"`: Polly v8's own health sampling
//!   (`Polly.Core/CircuitBreaker/Health/RollingHealthMetrics.cs`, `HealthMetrics.cs:9`): the
//!   sampling duration is cut into 10 windows of a tenth each; a window opens at the first
//!   call after the current one has lasted its tenth (not on a clock grid), and a window
//!   leaves the tally once `sampling` has passed since it opened. Polly judges the ratio
//!   after a failure only (`AdvancedCircuitBehavior.OnActionFailure`), so a success never
//!   opens it; so does this rule.
//!
//! Common to all: the wait in open can grow by `open_multiplier` at each reopening without a
//! close in between, up to `max_open_duration` (resilience4j's exponential interval
//! function); `max_half_open_wait` (resilience4j's maxWaitDurationInHalfOpenState) reopens a
//! half-open breaker whose probes take too long (0: wait for every probe); a 429's
//! Retry-After can hold the breaker open until it expires (`hold_open_for_retry_after`).
//!
//! A breaker with `records: false` is only read, never told: calls pass it (it stays closed)
//! and no outcome reaches it. The seed's `AIChatService` builds an `AICircuitBreaker(3)` but
//! its `chat_completion` never calls `circuit_breaker.call` and only reports `.state` in its
//! stats (seed, `get_service_stats`): the breaker is there, and never opens.
//!
//! `applies_to: "retries"` makes it a *retry breaker* (Brooker, "Fixing retries with token
//! buckets and circuit breakers", 2022, <https://brooker.co.za/blog/2022/02/28/retries.html>):
//! "When a client wants to make a call, it makes that call as normal. On success or failure,
//! it updates statistics which track the (recent) failure rate. If that failure rate is below
//! a threshold, it retries up to N times. If it's above the threshold, it doesn't retry at
//! all." First tries are never refused, so they keep sampling the failure rate: the breaker
//! has no open wait and no probes. It records every answer (first tries and retries alike)
//! in its window, is open exactly while the window's rule trips (judged at each answer), and
//! while open the client does not retry (the engine asks `stops_retries` after a failure).
//! Brooker's own simulation (mbrooker/simulator_example, `retry_sim/retry_strategy.py`,
//! `CircuitBreakerRetryCall`) divides the failed attempts by the first tries since the start
//! and refuses when the ratio is strictly above the threshold; here the window and its
//! `>=` are the breaker's kind's (a `time_window` longer than the run is his whole history).
//!
//! Transitions out of open are lazy, as in the seed and in resilience4j's default
//! (`automaticTransitionFromOpenToHalfOpenEnabled = false`): the first call after the open
//! period becomes a probe. Which outcomes are failures is `count_as_failure`; the others
//! (429 by default) are neutral: recorded nowhere, they only release a probe slot. Every call
//! carries the epoch (state) it was admitted in; an answer from an earlier epoch is ignored.
//!
//! Why over 1,000 lines: about 450 of them are the tests of one state machine and its four
//! trip rules; the code itself is some 650. The rules (`TripRule` and their windows) are the
//! split when it grows.

use std::collections::VecDeque;

use crate::outcome::FailureSet;
use crate::time::{NS_PER_S, Nanos};

/// When a closed breaker opens.
#[derive(Debug, Clone, PartialEq)]
pub enum TripRule {
    Consecutive {
        failures: u32,
    },
    CountWindow {
        size: u32,
        minimum_calls: u32,
        failure_rate: f64,
        slow_rate: f64,
    },
    /// One-second aggregates over `seconds`.
    TimeWindow {
        seconds: u32,
        minimum_calls: u32,
        failure_rate: f64,
        slow_rate: f64,
    },
    /// Polly v8's rolling health windows: `POLLY_WINDOWS` windows of `sampling_ns / 10`,
    /// opened by calls; judged after failures only.
    PollyWindows {
        sampling_ns: Nanos,
        minimum_calls: u32,
        failure_rate: f64,
        slow_rate: f64,
    },
}

/// Polly's `HealthMetrics.NumberOfWindows`.
pub const POLLY_WINDOWS: u64 = 10;

/// Which calls an open breaker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliesTo {
    /// Every call: the classic breaker (resilience4j, Polly, the seed).
    All,
    /// Retries only: Brooker's retry breaker (see the module docs).
    Retries,
}

/// How the requests of a group are spread over its client instances (scope `per_instance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Request id mod N: a load balancer's rotation over a fleet.
    RoundRobin,
    /// An instance drawn from the seed for each request (`rng::pick`): N independent
    /// clients, each with its own Poisson arrivals (Brooker's retry simulation, footnote 1:
    /// "each client presents independent Poisson-process arrivals").
    Random,
}

/// The end of an open interval of a retry breaker, which has no open wait: it lasts until a
/// recorded answer closes it. Far beyond any run (`limits::MAX_DURATION_NS` is ten years),
/// and far enough from `Nanos::MAX` that open-time sums cannot overflow.
pub const OPEN_UNTIL_CLOSED_NS: Nanos = 1 << 62;

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    pub trip: TripRule,
    pub open_ns: Nanos,
    pub open_multiplier: f64,
    pub max_open_ns: Nanos,
    pub half_open_probes: u32,
    /// 0: wait for every probe.
    pub max_half_open_wait_ns: Nanos,
    pub counts: FailureSet,
    /// Calls longer than this are slow (windowed rules); `Nanos::MAX` disables.
    pub slow_call_ns: Nanos,
    pub hold_open_for_retry_after: bool,
    /// Breakers per target: 1 shared by the group, or one per client instance of a fleet.
    pub instances: u32,
    pub assignment: Assignment,
    /// False: calls consult the breaker but never record an outcome in it (the seed's).
    pub records: bool,
    pub applies_to: AppliesTo,
}

impl BreakerConfig {
    /// The seed's breaker: `failures` consecutive failures, `open_ns` open, one probe.
    pub fn seed(failures: u32, open_ns: Nanos, counts: FailureSet) -> Self {
        BreakerConfig {
            trip: TripRule::Consecutive { failures },
            open_ns,
            open_multiplier: 1.0,
            max_open_ns: open_ns,
            half_open_probes: 1,
            max_half_open_wait_ns: 0,
            counts,
            slow_call_ns: Nanos::MAX,
            hold_open_for_retry_after: false,
            instances: 1,
            assignment: Assignment::RoundRobin,
            records: true,
            applies_to: AppliesTo::All,
        }
    }

    pub fn counts(&self) -> FailureSet {
        self.counts
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What the breaker says to a call that wants to go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as a half-open probe: its outcome decides the breaker's next state.
    Probe,
    Rejected,
}

/// Identifies the breaker state a call was admitted in. An outcome recorded under another
/// epoch (a slow answer to a call admitted before the breaker last changed state) is
/// ignored: it must neither drive the new state nor release one of its probe slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Epoch(u32);

/// What a recorded outcome did to the breaker, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    /// Opened (or reopened, or held open longer) until the given instant.
    Opened {
        until_ns: Nanos,
    },
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Success,
    Failure,
    Neutral,
}

/// An answered call as the breaker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub recorded: Recorded,
    pub duration_ns: Nanos,
    /// A 429's Retry-After, for `hold_open_for_retry_after`.
    pub retry_after_ns: Option<Nanos>,
}

/// Calls and failures in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    calls: u32,
    failures: u32,
    slow: u32,
}

impl Tally {
    fn add(&mut self, failed: bool, slow: bool, sign: i32) {
        let step = |n: &mut u32, yes: bool| {
            if yes {
                *n = n.wrapping_add_signed(sign);
            }
        };
        step(&mut self.calls, true);
        step(&mut self.failures, failed);
        step(&mut self.slow, slow);
    }

    /// Whether the rates reach the thresholds, once enough calls are in.
    fn trips(&self, minimum_calls: u32, failure_rate: f64, slow_rate: f64) -> bool {
        self.calls >= minimum_calls.max(1)
            && (f64::from(self.failures) >= failure_rate * f64::from(self.calls)
                || f64::from(self.slow) >= slow_rate * f64::from(self.calls))
    }
}

/// The closed state's memory of recent calls.
#[derive(Debug, Clone)]
enum Window {
    Consecutive {
        failures: u32,
    },
    /// The last `size` calls as (failed, slow), and their tally.
    Count {
        calls: VecDeque<(bool, bool)>,
        tally: Tally,
    },
    /// One tally per second, the newest at `second`.
    Time {
        buckets: Vec<Tally>,
        second: u64,
        tally: Tally,
    },
    /// Polly's windows, oldest first, each with the instant it opened.
    Rolling {
        windows: VecDeque<(Nanos, Tally)>,
        tally: Tally,
    },
}

impl Window {
    /// Whether the rule trips on what the window holds now (a retry breaker's state).
    fn trips_now(&self, rule: &TripRule) -> bool {
        match (self, rule) {
            (
                Window::Consecutive { failures },
                TripRule::Consecutive {
                    failures: threshold,
                },
            ) => *failures >= *threshold,
            (
                Window::Count { tally, .. }
                | Window::Time { tally, .. }
                | Window::Rolling { tally, .. },
                TripRule::CountWindow {
                    minimum_calls,
                    failure_rate,
                    slow_rate,
                    ..
                }
                | TripRule::TimeWindow {
                    minimum_calls,
                    failure_rate,
                    slow_rate,
                    ..
                }
                | TripRule::PollyWindows {
                    minimum_calls,
                    failure_rate,
                    slow_rate,
                    ..
                },
            ) => tally.trips(*minimum_calls, *failure_rate, *slow_rate),
            _ => unreachable!("the window is built from its rule"),
        }
    }

    fn new(rule: &TripRule) -> Window {
        match rule {
            TripRule::Consecutive { .. } => Window::Consecutive { failures: 0 },
            TripRule::CountWindow { size, .. } => Window::Count {
                calls: VecDeque::with_capacity(*size as usize),
                tally: Tally::default(),
            },
            TripRule::TimeWindow { seconds, .. } => Window::Time {
                buckets: vec![Tally::default(); *seconds as usize],
                second: 0,
                tally: Tally::default(),
            },
            TripRule::PollyWindows { .. } => Window::Rolling {
                windows: VecDeque::with_capacity(POLLY_WINDOWS as usize + 1),
                tally: Tally::default(),
            },
        }
    }

    /// Records a call and says whether the rule now trips.
    fn record(&mut self, rule: &TripRule, now: Nanos, failed: bool, slow: bool) -> bool {
        match (self, rule) {
            (
                Window::Consecutive { failures },
                TripRule::Consecutive {
                    failures: threshold,
                },
            ) => {
                *failures = if failed { *failures + 1 } else { 0 };
                *failures >= *threshold
            }
            (
                Window::Count { calls, tally },
                TripRule::CountWindow {
                    size,
                    minimum_calls,
                    failure_rate,
                    slow_rate,
                },
            ) => {
                if calls.len() == *size as usize
                    && let Some((f, s)) = calls.pop_front()
                {
                    tally.add(f, s, -1);
                }
                calls.push_back((failed, slow));
                tally.add(failed, slow, 1);
                tally.trips(*minimum_calls, *failure_rate, *slow_rate)
            }
            (
                Window::Time {
                    buckets,
                    second,
                    tally,
                },
                TripRule::TimeWindow {
                    minimum_calls,
                    failure_rate,
                    slow_rate,
                    ..
                },
            ) => {
                let now_second = now / NS_PER_S;
                let len = buckets.len() as u64;
                // Evict the seconds that left the window since the last call.
                let stale = now_second.saturating_sub(*second).min(len);
                for k in 1..=stale {
                    let bucket = &mut buckets[((*second + k) % len) as usize];
                    tally.calls -= bucket.calls;
                    tally.failures -= bucket.failures;
                    tally.slow -= bucket.slow;
                    *bucket = Tally::default();
                }
                *second = (*second).max(now_second);
                buckets[(*second % len) as usize].add(failed, slow, 1);
                tally.add(failed, slow, 1);
                tally.trips(*minimum_calls, *failure_rate, *slow_rate)
            }
            (
                Window::Rolling { windows, tally },
                TripRule::PollyWindows {
                    sampling_ns,
                    minimum_calls,
                    failure_rate,
                    slow_rate,
                },
            ) => {
                // RollingHealthMetrics.UpdateCurrentWindow: a new window once the current
                // one has lasted its tenth, then drop those opened a sampling duration ago.
                let window_ns = sampling_ns / POLLY_WINDOWS;
                if windows
                    .back()
                    .is_none_or(|(opened, _)| now - opened >= window_ns)
                {
                    windows.push_back((now, Tally::default()));
                }
                while let Some(&(opened, old)) = windows.front()
                    && now - opened >= *sampling_ns
                {
                    tally.calls -= old.calls;
                    tally.failures -= old.failures;
                    tally.slow -= old.slow;
                    windows.pop_front();
                }
                debug_assert!(windows.len() as u64 <= POLLY_WINDOWS);
                windows
                    .back_mut()
                    .expect("the current window was just ensured")
                    .1
                    .add(failed, slow, 1);
                tally.add(failed, slow, 1);
                failed && tally.trips(*minimum_calls, *failure_rate, *slow_rate)
            }
            _ => unreachable!("the window is built from its rule"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    window: Window,
    open_until_ns: Nanos,
    /// Openings since the last close: the exponent of the growing wait.
    opens_in_a_row: u32,
    half_open_since_ns: Nanos,
    probes_admitted: u32,
    probes: Tally,
    epoch: Epoch,
    /// Set when `admit` reopened an overdue half-open breaker, until the caller takes it.
    reopened_until_ns: Option<Nanos>,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            window: Window::new(&config.trip),
            config,
            state: BreakerState::Closed,
            open_until_ns: 0,
            opens_in_a_row: 0,
            half_open_since_ns: 0,
            probes_admitted: 0,
            probes: Tally::default(),
            epoch: Epoch(0),
            reopened_until_ns: None,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The epoch calls admitted now belong to.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    fn enter(&mut self, state: BreakerState, now: Nanos) {
        self.state = state;
        self.epoch = Epoch(self.epoch.0.wrapping_add(1));
        self.probes_admitted = 0;
        self.probes = Tally::default();
        self.half_open_since_ns = now;
        if state == BreakerState::Closed {
            self.window = Window::new(&self.config.trip);
            self.opens_in_a_row = 0;
        }
    }

    fn open(&mut self, now: Nanos) -> Transition {
        let c = &self.config;
        // powi: compiler-builtins' repeated squaring, identical everywhere (see backoff).
        let wait = (c.open_ns as f64
            * c.open_multiplier.powi(self.opens_in_a_row.min(1024) as i32))
        .min(c.max_open_ns as f64);
        self.opens_in_a_row += 1;
        self.enter(BreakerState::Open, now);
        self.open_until_ns = now.saturating_add(wait as Nanos);
        Transition::Opened {
            until_ns: self.open_until_ns,
        }
    }

    /// Whether an open retry breaker stops the retry of a failed call now (never true for a
    /// breaker that applies to every call: that one refuses calls in `admit`).
    pub fn stops_retries(&self) -> bool {
        self.config.applies_to == AppliesTo::Retries && self.state == BreakerState::Open
    }

    pub fn admit(&mut self, now: Nanos) -> Admission {
        if self.config.applies_to == AppliesTo::Retries {
            // Never refuses a call: `stops_retries` decides, before a retry is scheduled.
            return Admission::Allowed;
        }
        if self.state == BreakerState::Open && now >= self.open_until_ns {
            self.enter(BreakerState::HalfOpen, now);
        }
        let max_wait = self.config.max_half_open_wait_ns;
        if self.state == BreakerState::HalfOpen
            && max_wait > 0
            && now >= self.half_open_since_ns.saturating_add(max_wait)
        {
            // Probes took too long: back to open (resilience4j), counted as a reopening.
            if let Transition::Opened { until_ns } = self.open(now) {
                self.reopened_until_ns = Some(until_ns);
            }
            return Admission::Rejected;
        }
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open => Admission::Rejected,
            BreakerState::HalfOpen if self.probes_admitted < self.config.half_open_probes => {
                self.probes_admitted += 1;
                Admission::Probe
            }
            BreakerState::HalfOpen => Admission::Rejected,
        }
    }

    /// Whether the last `admit` reopened the breaker (overdue probes), and until when.
    pub fn take_reopened(&mut self) -> Option<Nanos> {
        self.reopened_until_ns.take()
    }

    /// When an open breaker lets calls through again (for reports).
    pub fn open_until_ns(&self) -> Nanos {
        self.open_until_ns
    }

    /// Records the answer to a call admitted in `epoch`.
    pub fn record(&mut self, now: Nanos, epoch: Epoch, outcome: Outcome) -> Transition {
        if !self.config.records {
            return Transition::None;
        }
        if self.config.applies_to == AppliesTo::Retries {
            return self.record_retry_breaker(now, outcome);
        }
        if let (true, Some(retry_after)) = (
            self.config.hold_open_for_retry_after,
            outcome.retry_after_ns,
        ) {
            // The provider said when to come back: stay away until then, whatever the state.
            let until = now.saturating_add(retry_after);
            if self.state != BreakerState::Open || until > self.open_until_ns {
                self.enter(BreakerState::Open, now);
                self.open_until_ns = until;
                return Transition::Opened { until_ns: until };
            }
            return Transition::None;
        }
        if epoch != self.epoch {
            return Transition::None;
        }
        if outcome.recorded == Recorded::Neutral {
            // A neutral answer says nothing about health: give its probe slot back.
            if self.state == BreakerState::HalfOpen {
                self.probes_admitted = self.probes_admitted.saturating_sub(1);
            }
            return Transition::None;
        }
        let failed = outcome.recorded == Recorded::Failure;
        let slow = outcome.duration_ns > self.config.slow_call_ns;
        match self.state {
            BreakerState::Open => Transition::None,
            BreakerState::Closed => {
                if self.window.record(&self.config.trip, now, failed, slow) {
                    self.open(now)
                } else {
                    Transition::None
                }
            }
            BreakerState::HalfOpen => {
                self.probes.add(failed, slow, 1);
                let probes = self.config.half_open_probes;
                match &self.config.trip {
                    // The seed: any failed probe reopens; all probes good closes.
                    TripRule::Consecutive { .. } if failed => self.open(now),
                    TripRule::Consecutive { .. } if self.probes.calls >= probes => {
                        self.enter(BreakerState::Closed, now);
                        Transition::Closed
                    }
                    TripRule::Consecutive { .. } => Transition::None,
                    // Windowed: judge the probes together once all have answered.
                    TripRule::CountWindow {
                        failure_rate,
                        slow_rate,
                        ..
                    }
                    | TripRule::TimeWindow {
                        failure_rate,
                        slow_rate,
                        ..
                    }
                    | TripRule::PollyWindows {
                        failure_rate,
                        slow_rate,
                        ..
                    } => {
                        if self.probes.calls < probes {
                            Transition::None
                        } else if self.probes.trips(probes, *failure_rate, *slow_rate) {
                            self.open(now)
                        } else {
                            self.enter(BreakerState::Closed, now);
                            Transition::Closed
                        }
                    }
                }
            }
        }
    }

    /// A retry breaker records every answer, whatever state it was sent in (every answer is
    /// a sample of the failure rate), and is open exactly while its window trips: no open
    /// wait, no probes, and the window is never reset.
    fn record_retry_breaker(&mut self, now: Nanos, outcome: Outcome) -> Transition {
        if outcome.recorded == Recorded::Neutral {
            return Transition::None;
        }
        let failed = outcome.recorded == Recorded::Failure;
        let slow = outcome.duration_ns > self.config.slow_call_ns;
        self.window.record(&self.config.trip, now, failed, slow);
        let trips = self.window.trips_now(&self.config.trip);
        match (self.state, trips) {
            (BreakerState::Closed, true) => {
                self.state = BreakerState::Open;
                self.open_until_ns = OPEN_UNTIL_CLOSED_NS;
                Transition::Opened {
                    until_ns: OPEN_UNTIL_CLOSED_NS,
                }
            }
            (BreakerState::Open, false) => {
                self.state = BreakerState::Closed;
                Transition::Closed
            }
            _ => Transition::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Failure;

    fn seed(threshold: u32, probes: u32) -> Breaker {
        let mut config = BreakerConfig::seed(threshold, 30, FailureSet::of(&[Failure::Timeout]));
        config.half_open_probes = probes;
        Breaker::new(config)
    }

    fn outcome(recorded: Recorded) -> Outcome {
        Outcome {
            recorded,
            duration_ns: 1,
            retry_after_ns: None,
        }
    }

    /// Admits a call now and records its outcome at once.
    fn call(b: &mut Breaker, now: Nanos, recorded: Recorded) -> Transition {
        assert_ne!(b.admit(now), Admission::Rejected);
        b.record(now, b.epoch(), outcome(recorded))
    }

    #[test]
    fn seed_breaker_opens_after_n_failures_and_closes_after_a_good_probe() {
        let mut b = seed(5, 1);
        for i in 0..4 {
            assert_eq!(call(&mut b, i, Recorded::Failure), Transition::None);
        }
        assert_eq!(
            call(&mut b, 4, Recorded::Failure),
            Transition::Opened { until_ns: 34 }
        );
        assert_eq!(b.admit(20), Admission::Rejected);
        assert_eq!(b.admit(34), Admission::Probe);
        let probe_epoch = b.epoch();
        assert_eq!(b.admit(35), Admission::Rejected, "one probe at a time");
        assert_eq!(
            b.record(36, probe_epoch, outcome(Recorded::Success)),
            Transition::Closed
        );
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_success_resets_the_count_and_neutral_outcomes_do_nothing() {
        let mut b = seed(2, 1);
        call(&mut b, 0, Recorded::Failure);
        call(&mut b, 1, Recorded::Neutral);
        call(&mut b, 2, Recorded::Success);
        assert_eq!(call(&mut b, 3, Recorded::Failure), Transition::None);
        assert!(matches!(
            call(&mut b, 4, Recorded::Failure),
            Transition::Opened { .. }
        ));
        assert_eq!(
            call(&mut b, 40, Recorded::Failure),
            Transition::Opened { until_ns: 70 },
            "a failed probe reopens"
        );
    }

    #[test]
    fn late_answers_from_an_earlier_state_are_ignored() {
        let mut b = seed(1, 2);
        call(&mut b, 0, Recorded::Failure); // open until 30
        assert_eq!(b.admit(30), Admission::Probe);
        let first_half_open = b.epoch();
        assert_eq!(b.admit(30), Admission::Probe);
        b.record(31, first_half_open, outcome(Recorded::Failure)); // reopen until 61
        assert_eq!(b.admit(61), Admission::Probe);
        assert_eq!(b.admit(61), Admission::Probe);
        assert_eq!(
            b.record(62, first_half_open, outcome(Recorded::Neutral)),
            Transition::None
        );
        assert_eq!(
            b.admit(62),
            Admission::Rejected,
            "still two probes out, not three"
        );
        // A neutral answer to a current probe frees its slot.
        b.record(62, b.epoch(), outcome(Recorded::Neutral));
        assert_eq!(b.admit(62), Admission::Probe);
        assert_eq!(
            b.record(63, first_half_open, outcome(Recorded::Failure)),
            Transition::None
        );
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    fn count_window(size: u32, minimum_calls: u32, rate: f64) -> Breaker {
        let mut config = BreakerConfig::seed(1, 60, FailureSet::of(&[Failure::Timeout]));
        config.trip = TripRule::CountWindow {
            size,
            minimum_calls,
            failure_rate: rate,
            slow_rate: 1.0,
        };
        config.half_open_probes = 4;
        Breaker::new(config)
    }

    #[test]
    fn count_window_waits_for_minimum_calls_then_trips_on_the_rate() {
        let mut b = count_window(10, 10, 0.5);
        for i in 0..4 {
            call(&mut b, i, Recorded::Failure);
        }
        for i in 4..9 {
            assert_eq!(
                call(&mut b, i, Recorded::Success),
                Transition::None,
                "fewer than 10 calls"
            );
        }
        // 10 calls, 5 failures: 50 % trips.
        assert!(matches!(
            call(&mut b, 9, Recorded::Failure),
            Transition::Opened { .. }
        ));
    }

    #[test]
    fn count_window_forgets_calls_that_slid_out() {
        let mut b = count_window(4, 4, 0.75);
        for (i, r) in [
            Recorded::Failure,
            Recorded::Failure,
            Recorded::Success,
            Recorded::Success,
        ]
        .into_iter()
        .enumerate()
        {
            call(&mut b, i as Nanos, r);
        }
        // Window now [F S S F] then [S S F F]: 2 of 4, below 75 %.
        assert_eq!(call(&mut b, 4, Recorded::Failure), Transition::None);
        assert_eq!(call(&mut b, 5, Recorded::Failure), Transition::None);
        assert!(
            matches!(
                call(&mut b, 6, Recorded::Failure),
                Transition::Opened { .. }
            ),
            "[S F F F]"
        );
    }

    #[test]
    fn windowed_half_open_judges_all_probes_together() {
        let mut b = count_window(4, 4, 0.5);
        for i in 0..4 {
            call(&mut b, i, Recorded::Failure);
        }
        assert_eq!(b.state(), BreakerState::Open);
        let t = b.open_until_ns();
        let epoch = {
            for _ in 0..4 {
                assert_eq!(b.admit(t), Admission::Probe);
            }
            b.epoch()
        };
        assert_eq!(b.admit(t), Admission::Rejected, "only 4 probes");
        b.record(t, epoch, outcome(Recorded::Failure));
        b.record(t, epoch, outcome(Recorded::Success));
        b.record(t, epoch, outcome(Recorded::Success));
        assert_eq!(b.state(), BreakerState::HalfOpen, "waits for the fourth");
        assert_eq!(
            b.record(t, epoch, outcome(Recorded::Success)),
            Transition::Closed,
            "1 of 4 is below 50 %"
        );
    }

    #[test]
    fn time_window_evicts_old_seconds() {
        let mut config = BreakerConfig::seed(1, 5 * NS_PER_S, FailureSet::of(&[Failure::Timeout]));
        config.trip = TripRule::TimeWindow {
            seconds: 10,
            minimum_calls: 3,
            failure_rate: 0.5,
            slow_rate: 1.0,
        };
        let mut b = Breaker::new(config);
        call(&mut b, 0, Recorded::Failure);
        call(&mut b, NS_PER_S, Recorded::Success);
        // 12 s later the first failure has left the window: 1 failure of 3 calls.
        call(&mut b, 12 * NS_PER_S, Recorded::Success);
        assert_eq!(
            call(&mut b, 12 * NS_PER_S, Recorded::Failure),
            Transition::None
        );
        assert!(
            matches!(
                call(&mut b, 13 * NS_PER_S, Recorded::Failure),
                Transition::Opened { .. }
            ),
            "2 of 3 within 10 s"
        );
    }

    #[test]
    fn slow_calls_trip_a_windowed_breaker() {
        let mut config = BreakerConfig::seed(1, 60, FailureSet::of(&[Failure::Timeout]));
        config.trip = TripRule::CountWindow {
            size: 4,
            minimum_calls: 4,
            failure_rate: 1.0,
            slow_rate: 0.5,
        };
        config.slow_call_ns = 100;
        let mut b = Breaker::new(config);
        let slow = Outcome {
            recorded: Recorded::Success,
            duration_ns: 500,
            retry_after_ns: None,
        };
        for i in 0..3 {
            b.admit(i);
            b.record(
                i,
                b.epoch(),
                if i == 0 {
                    slow
                } else {
                    outcome(Recorded::Success)
                },
            );
        }
        b.admit(3);
        assert!(
            matches!(b.record(3, b.epoch(), slow), Transition::Opened { .. }),
            "2 slow of 4"
        );
    }

    #[test]
    fn the_wait_in_open_grows_to_its_cap_and_resets_on_close() {
        let mut config = BreakerConfig::seed(1, 10, FailureSet::of(&[Failure::Timeout]));
        config.open_multiplier = 2.0;
        config.max_open_ns = 30;
        let mut b = Breaker::new(config);
        assert_eq!(
            call(&mut b, 0, Recorded::Failure),
            Transition::Opened { until_ns: 10 }
        );
        assert_eq!(
            call(&mut b, 10, Recorded::Failure),
            Transition::Opened { until_ns: 30 }
        );
        assert_eq!(
            call(&mut b, 30, Recorded::Failure),
            Transition::Opened { until_ns: 60 },
            "capped at 30"
        );
        assert_eq!(call(&mut b, 60, Recorded::Success), Transition::Closed);
        assert_eq!(
            call(&mut b, 61, Recorded::Failure),
            Transition::Opened { until_ns: 71 }
        );
    }

    #[test]
    fn max_half_open_wait_reopens_a_stuck_half_open_breaker() {
        let mut config = BreakerConfig::seed(1, 10, FailureSet::of(&[Failure::Timeout]));
        config.max_half_open_wait_ns = 5;
        let mut b = Breaker::new(config);
        call(&mut b, 0, Recorded::Failure);
        assert_eq!(b.admit(10), Admission::Probe);
        assert_eq!(b.admit(12), Admission::Rejected);
        assert_eq!(
            b.admit(15),
            Admission::Rejected,
            "probe overdue: open again"
        );
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn retry_after_holds_the_breaker_open() {
        let mut config = BreakerConfig::seed(100, 10, FailureSet::of(&[Failure::Timeout]));
        config.hold_open_for_retry_after = true;
        let mut b = Breaker::new(config);
        b.admit(0);
        let limited = Outcome {
            recorded: Recorded::Neutral,
            duration_ns: 1,
            retry_after_ns: Some(40),
        };
        assert_eq!(
            b.record(5, b.epoch(), limited),
            Transition::Opened { until_ns: 45 }
        );
        assert_eq!(b.admit(44), Admission::Rejected);
        assert_eq!(b.admit(45), Admission::Probe);
    }

    fn polly(sampling_ns: Nanos, minimum_calls: u32) -> Breaker {
        let mut config = BreakerConfig::seed(1, 5 * NS_PER_S, FailureSet::of(&[Failure::Timeout]));
        config.trip = TripRule::PollyWindows {
            sampling_ns,
            minimum_calls,
            failure_rate: 0.5,
            slow_rate: 1.0,
        };
        Breaker::new(config)
    }

    /// RollingHealthMetrics: windows open with calls, not on a grid, and leave the tally a
    /// sampling duration after they opened.
    #[test]
    fn polly_windows_open_with_calls_and_expire_a_sampling_duration_later() {
        // 10 s sampling: windows of 1 s. Window A opens at 0.5 s with 2 failures.
        let mut b = polly(10 * NS_PER_S, 4);
        let half = NS_PER_S / 2;
        call(&mut b, half, Recorded::Failure);
        call(&mut b, half + NS_PER_S / 4, Recorded::Failure);
        // Window B opens at 1.5 s (A lasted its second), with 2 successes.
        call(&mut b, 3 * half, Recorded::Success);
        call(&mut b, 3 * half, Recorded::Success);
        // At 10.4 s window A (opened 0.5 s) is 9.9 s old: still counted, 3 of 5 fail.
        assert!(matches!(
            call(&mut b, 10 * NS_PER_S + 4 * NS_PER_S / 10, Recorded::Failure),
            Transition::Opened { .. }
        ));
        // The same calls a little later: window A has expired at 10.5 s, 1 of 3 fails.
        let mut b = polly(10 * NS_PER_S, 3);
        call(&mut b, half, Recorded::Failure);
        call(&mut b, half + NS_PER_S / 4, Recorded::Failure);
        call(&mut b, 3 * half, Recorded::Success);
        call(&mut b, 3 * half, Recorded::Success);
        assert_eq!(
            call(&mut b, 10 * NS_PER_S + half, Recorded::Failure),
            Transition::None
        );
    }

    /// Polly judges the ratio after a failure only: a success never opens it, even when the
    /// throughput it brings makes the ratio count.
    #[test]
    fn polly_windows_judge_after_failures_only() {
        let mut b = polly(30 * NS_PER_S, 4);
        for t in 0..3 {
            call(&mut b, t, Recorded::Failure);
        }
        assert_eq!(
            call(&mut b, 3, Recorded::Success),
            Transition::None,
            "3 of 4 failed"
        );
        assert!(matches!(
            call(&mut b, 4, Recorded::Failure),
            Transition::Opened { .. }
        ));
    }

    fn retry_breaker(trip: TripRule) -> Breaker {
        let mut config = BreakerConfig::seed(1, 60, FailureSet::of(&[Failure::Timeout]));
        config.trip = trip;
        config.applies_to = AppliesTo::Retries;
        Breaker::new(config)
    }

    #[test]
    fn a_retry_breaker_admits_every_call_and_stops_retries_while_its_rate_is_over() {
        // Brooker's example: 10 %, judged from the first answer on.
        let mut b = retry_breaker(TripRule::CountWindow {
            size: 1000,
            minimum_calls: 1,
            failure_rate: 0.1,
            slow_rate: 1.0,
        });
        for t in 0..9 {
            assert_eq!(call(&mut b, t, Recorded::Success), Transition::None);
        }
        assert!(!b.stops_retries());
        // 1 failure in 10 calls: 10 %, at the threshold: open, with no end of its own.
        assert_eq!(
            call(&mut b, 9, Recorded::Failure),
            Transition::Opened {
                until_ns: OPEN_UNTIL_CLOSED_NS
            }
        );
        assert!(b.stops_retries());
        // Open, it still admits every call (no probes), and records every answer, even
        // one from a call sent in another state (no epochs): 1 in 11 is under 10 %.
        for t in 10..100 {
            assert_eq!(b.admit(t), Admission::Allowed);
        }
        assert_eq!(
            b.record(10, Epoch(12345), outcome(Recorded::Success)),
            Transition::Closed
        );
        assert!(!b.stops_retries());
        // Neutral answers change nothing; a second failure (2 in 12) reopens it.
        assert_eq!(call(&mut b, 11, Recorded::Neutral), Transition::None);
        assert!(matches!(
            call(&mut b, 12, Recorded::Failure),
            Transition::Opened { .. }
        ));
    }

    #[test]
    fn a_retry_breaker_keeps_its_window_across_states() {
        // Consecutive: open from the 2nd failure in a row until a success.
        let mut b = retry_breaker(TripRule::Consecutive { failures: 2 });
        call(&mut b, 0, Recorded::Failure);
        assert!(!b.stops_retries());
        call(&mut b, 1, Recorded::Failure);
        assert!(b.stops_retries());
        assert_eq!(call(&mut b, 2, Recorded::Success), Transition::Closed);
        // A time window forgets: 1 failure of 1 call trips a 50 % rule until the seconds
        // pass and successes dilute it.
        let mut b = retry_breaker(TripRule::TimeWindow {
            seconds: 2,
            minimum_calls: 1,
            failure_rate: 0.5,
            slow_rate: 1.0,
        });
        call(&mut b, 0, Recorded::Failure);
        assert!(b.stops_retries());
        assert_eq!(
            call(&mut b, NS_PER_S / 2, Recorded::Success),
            Transition::None
        );
        assert!(b.stops_retries(), "1 of 2 is still 50 %");
        assert_eq!(
            call(&mut b, 3 * NS_PER_S, Recorded::Success),
            Transition::Closed
        );
    }

    /// The seed's breaker: consulted, never told.
    #[test]
    fn a_breaker_that_does_not_record_never_opens() {
        let mut config = BreakerConfig::seed(1, 30, FailureSet::of(&[Failure::Timeout]));
        config.records = false;
        let mut b = Breaker::new(config);
        for t in 0..100 {
            assert_eq!(call(&mut b, t, Recorded::Failure), Transition::None);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
