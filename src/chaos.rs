//! The chaos layer: the seed's `ChaosAIProxy`, a fault injector between the client and the
//! provider.
//!
//! When enabled and inside its time window, each attempt of an affected group to an affected
//! provider draws a fault with probability `failure_rate`; the fault's kind is drawn by
//! weight (uniform by default, as the seed's `random.choice(list(FailureType))`):
//!
//! * `timeout`: the attempt fails as a timeout after `timeout_after` (the seed's
//!   `timeout_override`); without it the attempt hangs until the client's own timeout;
//! * `rate_limit`: an immediate 429 with Retry-After `retry_after`;
//! * `server_error`: an immediate 500;
//! * `latency`: `latency` is added, then the attempt proceeds to the provider (the seed's
//!   code returned `None` here and its caller raised it: that defect is not copied);
//! * `token_exhaustion`: an immediate "insufficient credits", a distinct failure from 429.
//!
//! Faults injected in the proxy never reach the provider: no slot, no rate limit, no bill.

use crate::time::Nanos;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChaosFault {
    Timeout,
    RateLimit,
    ServerError,
    Latency,
    TokenExhaustion,
}

impl ChaosFault {
    pub const ALL: [ChaosFault; 5] = [
        ChaosFault::Timeout,
        ChaosFault::RateLimit,
        ChaosFault::ServerError,
        ChaosFault::Latency,
        ChaosFault::TokenExhaustion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChaosFault::Timeout => "timeout",
            ChaosFault::RateLimit => "rate_limit",
            ChaosFault::ServerError => "server_error",
            ChaosFault::Latency => "latency",
            ChaosFault::TokenExhaustion => "token_exhaustion",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChaosModel {
    pub failure_rate: f64,
    /// Cumulative weights over `ChaosFault::ALL`, normalised to end at 1.
    pub cumulative_weights: [f64; 5],
    pub timeout_after_ns: Option<Nanos>,
    pub latency_ns: Nanos,
    pub retry_after_ns: Nanos,
    pub start_ns: Nanos,
    pub end_ns: Nanos,
    /// Per group / per provider: does the layer stand in front of it.
    pub groups: Vec<bool>,
    pub providers: Vec<bool>,
}

impl ChaosModel {
    #[inline]
    pub fn applies(&self, now: Nanos, group: usize, provider: usize) -> bool {
        self.start_ns <= now && now < self.end_ns && self.groups[group] && self.providers[provider]
    }

    /// The fault for this attempt, given two uniform draws.
    pub fn roll(&self, fire: f64, kind: f64) -> Option<ChaosFault> {
        if fire >= self.failure_rate {
            return None;
        }
        let index = self
            .cumulative_weights
            .iter()
            .position(|&w| kind < w)
            .unwrap_or(4);
        Some(ChaosFault::ALL[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_at_the_rate_and_by_weight() {
        let chaos = ChaosModel {
            failure_rate: 0.1,
            cumulative_weights: [0.2, 0.4, 0.6, 0.8, 1.0],
            timeout_after_ns: None,
            latency_ns: 0,
            retry_after_ns: 0,
            start_ns: 0,
            end_ns: u64::MAX,
            groups: vec![true],
            providers: vec![true],
        };
        assert_eq!(chaos.roll(0.1, 0.0), None);
        assert_eq!(chaos.roll(0.05, 0.1), Some(ChaosFault::Timeout));
        assert_eq!(chaos.roll(0.05, 0.7), Some(ChaosFault::Latency));
        assert_eq!(chaos.roll(0.05, 0.99), Some(ChaosFault::TokenExhaustion));
    }
}
