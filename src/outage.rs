//! Outages: windows in which a provider is hard down or browned out.
//!
//! * `down`: every attempt fails, in one of three ways that clients feel differently:
//!   `refuse` (connection refused at once), `hang` (the connection never completes; only the
//!   client's connect timeout ends the attempt) or an HTTP status (502/503/529 at once).
//!   The work in progress when it starts goes down too (see `Sim::abort_work_in_progress`).
//! * `brownout`: the provider still serves, but an extra fraction of attempts fails with
//!   `error_status` and service times are multiplied by `latency_multiplier`.
//!
//! Outages are either scheduled (`start`, `duration`) or random: an alternating renewal
//! process with exponential up times (mean `mtbf`) and repair times (mean `mttr`), drawn
//! lazily from the provider's own `outages/<provider>` stream so that memory does not grow
//! with the simulated duration. Overlapping outages combine: any `down` wins; brownout error
//! rates combine as independent causes, latency multipliers multiply.

use crate::outcome::Failure;
use crate::time::Nanos;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DownBehaviour {
    Refuse,
    Hang,
    Status(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutageEffect {
    Down(DownBehaviour),
    Brownout {
        error_rate: f64,
        error: Failure,
        latency_multiplier: f64,
    },
}

/// What a hard outage does to the work the provider had accepted when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InProgress {
    /// It fails as new attempts do: a crash takes it down.
    Fail,
    /// It is served to the end, while nothing new is admitted: a drain.
    Finish,
}

#[derive(Debug, Clone, Copy)]
pub struct ScheduledOutage {
    pub start_ns: Nanos,
    pub end_ns: Nanos,
    pub effect: OutageEffect,
    pub in_progress: InProgress,
}

#[derive(Debug, Clone, Copy)]
pub struct RandomOutages {
    pub mtbf_ns: Nanos,
    pub mttr_ns: Nanos,
    pub effect: OutageEffect,
    pub in_progress: InProgress,
}

/// The combined effect of the outages active on one provider right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    pub down: Option<DownBehaviour>,
    pub extra_error_rate: f64,
    pub extra_error: Failure,
    pub latency_multiplier: f64,
}

impl Conditions {
    pub const NORMAL: Conditions = Conditions {
        down: None,
        extra_error_rate: 0.0,
        extra_error: Failure::Http503,
        latency_multiplier: 1.0,
    };

    pub fn combine(active: impl Iterator<Item = OutageEffect>) -> Conditions {
        let mut c = Conditions::NORMAL;
        let mut survive = 1.0;
        for effect in active {
            match effect {
                OutageEffect::Down(b) => c.down = c.down.or(Some(b)),
                OutageEffect::Brownout {
                    error_rate,
                    error,
                    latency_multiplier,
                } => {
                    survive *= 1.0 - error_rate;
                    c.extra_error = error;
                    c.latency_multiplier *= latency_multiplier;
                }
            }
        }
        c.extra_error_rate = 1.0 - survive;
        c
    }

    pub fn is_degraded(&self) -> bool {
        *self != Conditions::NORMAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_outages_combine() {
        let brown = |rate, mult| OutageEffect::Brownout {
            error_rate: rate,
            error: Failure::Http503,
            latency_multiplier: mult,
        };
        let c = Conditions::combine([brown(0.5, 2.0), brown(0.5, 3.0)].into_iter());
        assert!((c.extra_error_rate - 0.75).abs() < 1e-12);
        assert_eq!(c.latency_multiplier, 6.0);
        assert_eq!(c.down, None);
        let c = Conditions::combine(
            [brown(0.1, 1.0), OutageEffect::Down(DownBehaviour::Hang)].into_iter(),
        );
        assert_eq!(c.down, Some(DownBehaviour::Hang));
        assert_eq!(Conditions::combine(std::iter::empty()), Conditions::NORMAL);
    }
}
