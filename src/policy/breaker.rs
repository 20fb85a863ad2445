//! Circuit breakers: closed, open, half-open.
//!
//! The seed's breaker (`kind: "consecutive"`): it opens after `failure_threshold` failures
//! counted since the last success (no window, no decay, exactly as the seed's
//! `AICircuitBreaker`), stays open for `open_duration`, then admits `half_open_probes`
//! probes (the seed admits one; its known defect of admitting unlimited calls in half-open is
//! not copied). A successful probe closes it and resets the count; a failed probe reopens it.
//!
//! Transitions out of open are lazy, as in the seed and in resilience4j's default
//! (`automaticTransitionFromOpenToHalfOpenEnabled = false`): the first call after the open
//! period becomes the probe. Which outcomes count as failures is the policy's
//! `count_as_failure`; everything else (429 by default) is neutral: it neither counts nor
//! resets, and only releases a probe slot.
//!
//! The breaker family of resilience4j and Polly (sliding windows, failure-rate and slow-call
//! thresholds) slots in as more `BreakerConfig` variants behind the same three calls.

use crate::outcome::FailureSet;
use crate::time::Nanos;

#[derive(Debug, Clone)]
pub enum BreakerConfig {
    Consecutive {
        failure_threshold: u32,
        open_ns: Nanos,
        half_open_probes: u32,
        counts: FailureSet,
    },
}

impl BreakerConfig {
    pub fn counts(&self) -> FailureSet {
        match self {
            BreakerConfig::Consecutive { counts, .. } => *counts,
        }
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
    /// Opened (or reopened) until the given instant.
    Opened {
        until_ns: Nanos,
    },
    Closed,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    consecutive_failures: u32,
    open_until_ns: Nanos,
    probes_in_flight: u32,
    epoch: Epoch,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            open_until_ns: 0,
            probes_in_flight: 0,
            epoch: Epoch(0),
        }
    }

    /// The epoch calls admitted now belong to.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    fn enter(&mut self, state: BreakerState) {
        self.state = state;
        self.epoch = Epoch(self.epoch.0.wrapping_add(1));
        self.probes_in_flight = 0;
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    pub fn admit(&mut self, now: Nanos) -> Admission {
        let BreakerConfig::Consecutive {
            half_open_probes, ..
        } = self.config;
        if self.state == BreakerState::Open && now >= self.open_until_ns {
            self.enter(BreakerState::HalfOpen);
        }
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open => Admission::Rejected,
            BreakerState::HalfOpen if self.probes_in_flight < half_open_probes => {
                self.probes_in_flight += 1;
                Admission::Probe
            }
            BreakerState::HalfOpen => Admission::Rejected,
        }
    }

    /// Records the outcome of a call the breaker admitted in `epoch` (`was_probe` as
    /// `admit` said).
    pub fn record(
        &mut self,
        now: Nanos,
        epoch: Epoch,
        was_probe: bool,
        outcome: Recorded,
    ) -> Transition {
        let BreakerConfig::Consecutive {
            failure_threshold,
            open_ns,
            ..
        } = self.config;
        if epoch != self.epoch {
            return Transition::None;
        }
        if was_probe {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
        }
        match outcome {
            Recorded::Success => {
                self.consecutive_failures = 0;
                if self.state == BreakerState::HalfOpen {
                    self.enter(BreakerState::Closed);
                    return Transition::Closed;
                }
                Transition::None
            }
            Recorded::Neutral => Transition::None,
            Recorded::Failure => {
                self.consecutive_failures += 1;
                if self.state == BreakerState::HalfOpen
                    || self.consecutive_failures >= failure_threshold
                {
                    self.enter(BreakerState::Open);
                    self.open_until_ns = now.saturating_add(open_ns);
                    self.consecutive_failures = 0;
                    return Transition::Opened {
                        until_ns: self.open_until_ns,
                    };
                }
                Transition::None
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Success,
    Failure,
    Neutral,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Failure;

    fn breaker(threshold: u32, probes: u32) -> Breaker {
        Breaker::new(BreakerConfig::Consecutive {
            failure_threshold: threshold,
            open_ns: 30,
            half_open_probes: probes,
            counts: FailureSet::of(&[Failure::Timeout]),
        })
    }

    /// Admits a call now and records its outcome at once.
    fn call(b: &mut Breaker, now: Nanos, outcome: Recorded) -> Transition {
        let admission = b.admit(now);
        assert_ne!(admission, Admission::Rejected);
        b.record(now, b.epoch(), admission == Admission::Probe, outcome)
    }

    #[test]
    fn opens_after_n_failures_and_closes_after_a_good_probe() {
        let mut b = breaker(5, 1);
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
            b.record(36, probe_epoch, true, Recorded::Success),
            Transition::Closed
        );
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn failed_probe_reopens_and_neutral_outcomes_do_not_count() {
        let mut b = breaker(2, 1);
        call(&mut b, 0, Recorded::Failure);
        call(&mut b, 1, Recorded::Neutral);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(matches!(
            call(&mut b, 2, Recorded::Failure),
            Transition::Opened { .. }
        ));
        assert_eq!(
            call(&mut b, 40, Recorded::Failure),
            Transition::Opened { until_ns: 70 }
        );
    }

    #[test]
    fn late_answers_from_an_earlier_state_are_ignored() {
        let mut b = breaker(1, 2);
        call(&mut b, 0, Recorded::Failure); // open until 30
        assert_eq!(b.admit(30), Admission::Probe);
        let first_half_open = b.epoch();
        assert_eq!(b.admit(30), Admission::Probe);
        b.record(31, first_half_open, true, Recorded::Failure); // reopen until 61
        assert_eq!(b.admit(61), Admission::Probe);
        assert_eq!(b.admit(61), Admission::Probe);
        // The second probe of the first half-open period answers late: it changes nothing.
        assert_eq!(
            b.record(62, first_half_open, true, Recorded::Neutral),
            Transition::None
        );
        assert_eq!(
            b.admit(62),
            Admission::Rejected,
            "still two probes out, not three"
        );
        assert_eq!(
            b.record(63, first_half_open, true, Recorded::Failure),
            Transition::None
        );
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }
}
