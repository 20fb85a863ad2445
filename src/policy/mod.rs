//! The client's defences: timeouts, retries with backoff, Retry-After, the circuit breaker,
//! and the fallback chain, as a client group configures them.
//!
//! A policy is pure configuration plus small pure decisions (`RetryPolicy::after_failure`);
//! the event loop owns the timers and the breakers' state. A request walks a chain of
//! targets: the primary `(provider, model)` with `retry.max_attempts` attempts, then each
//! fallback target with its own `attempts` (the seed's service: 3 tries on the primary with
//! exponential backoff, then one try on the fallback account's cheaper model).

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod cooldown;
pub mod presets;

use crate::outcome::{Failure, FailureSet};
use crate::time::Nanos;
use backoff::{Backoff, BackoffMemory};
use breaker::BreakerConfig;
use budget::RetryBudgetConfig;
use cooldown::CooldownConfig;

/// A `(provider, model)` pair, as indices into the scenario's providers and their models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetRef {
    pub provider: u16,
    pub model: u16,
}

#[derive(Debug, Clone, Copy)]
pub struct ChainStep {
    pub target: TargetRef,
    /// Attempts allowed on this target (first try included).
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AboveMax {
    /// Wait `max` instead of the longer Retry-After.
    Cap,
    /// Do not retry this target at all (openai-python 3.x above 120 s).
    GiveUp,
    /// Ignore the header and use the backoff (openai-python 1.x and LiteLLM above 60 s).
    UseBackoff,
}

/// How an honoured Retry-After and the backoff make one wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The longer of the two (the seed's advice: back off exponentially *and* honour it).
    Max,
    /// The header alone when 0 < Retry-After <= `max`, else the backoff: openai-python and
    /// anthropic-python (`_base_client.py`, `_calculate_retry_timeout`: `if retry_after is
    /// not None and 0 < retry_after <= MAX_RETRY_AFTER_DELAY: return retry_after`), and
    /// Polly's retry, whose `DelayGenerator` result replaces the computed delay
    /// (`RetryResilienceStrategy.cs`: `if (... is TimeSpan newDelay && IsValidDelay(newDelay))
    /// delay = newDelay`). A 0.2 s header is slept as 0.2 s, not max(0.375-0.5 s, 0.2 s).
    Replace,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryAfterPolicy {
    pub honour: bool,
    pub max_ns: Nanos,
    pub above_max: AboveMax,
    pub combine: Combine,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub retry_on: FailureSet,
    pub backoff: Backoff,
    pub retry_after: RetryAfterPolicy,
}

#[derive(Debug, Clone)]
pub struct ClientPolicy {
    pub connect_timeout_ns: Nanos,
    pub attempt_timeout_ns: Nanos,
    /// Overall budget of a logical request, from its arrival; `Nanos::MAX` when unset.
    pub deadline_ns: Nanos,
    pub retry: RetryPolicy,
    /// Retry loops wrapped around `retry`, innermost first (an SDK's retries inside an app's
    /// loop inside a job runner's): when the layers inside give up, a layer calls them again.
    pub outer_retries: Vec<RetryLayer>,
    pub breaker: Option<BreakerConfig>,
    /// The primary target first, then the fallbacks in order.
    pub chain: Vec<ChainStep>,
    pub retry_budget: Option<RetryBudgetConfig>,
    /// Google SRE adaptive throttling: (K, window in seconds).
    pub adaptive_throttling: Option<(f64, u32)>,
    pub cooldown: Option<CooldownConfig>,
    pub credit_check: Option<CreditCheck>,
    pub hedging: Option<Hedging>,
    pub rate_limiter: Option<ClientRateLimiter>,
    pub bulkhead: Option<Bulkhead>,
}

/// A client-side limiter of requests and tokens per minute, as LiteLLM keeps per deployment:
/// an attempt that does not fit waits for room up to `max_wait_ns`, else fails locally. An
/// attempt counts input plus max_tokens against the TPM bucket, as the providers do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientRateLimiter {
    pub rpm: Option<f64>,
    pub tpm: Option<f64>,
    pub max_wait_ns: Nanos,
}

/// A bulkhead: at most `max_in_flight` attempts of the group out at once; more wait in a FIFO
/// of at most `max_queue` for at most `max_wait_ns`, else fail locally.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bulkhead {
    pub max_in_flight: u32,
    pub max_queue: u32,
    pub max_wait_ns: Nanos,
}

pub const MAX_OUTER_RETRY_LAYERS: usize = 3;

#[derive(Debug, Clone)]
pub struct RetryLayer {
    pub name: String,
    /// Calls this layer makes of what it wraps, the first included.
    pub max_attempts: u32,
    pub policy: RetryPolicy,
}

/// Hedged requests (Polly's hedging strategy, gRPC hedging): while an attempt is out, send
/// another copy every `delay`, up to `max_hedged_attempts` copies; the first success wins.
/// The losers are abandoned by the client but still occupy and bill the provider.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hedging {
    pub delay_ns: Nanos,
    pub max_hedged_attempts: u8,
}

/// The seed's credit pre-check: before a call, estimate its cost and compare it with the
/// account's remaining credits; short credits raise a low-credit alert and, with
/// `route_to_next`, send the call down the fallback chain (to the cheaper model) instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreditCheck {
    /// The estimate is the call's worst-case cost (input plus max_tokens of output) times this.
    pub margin: f64,
    /// Also alert when the balance falls below this, whatever the call costs.
    pub alert_below_nusd: u64,
    pub route_to_next: bool,
}

/// What the client does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Retry the same target after this delay.
    Retry { delay_ns: Nanos },
    /// Stop trying this target; move down the chain (or fail if it is exhausted).
    NextTarget,
}

impl RetryPolicy {
    /// Decides between retrying the same target and moving on. `attempts_on_target` counts
    /// the attempts already made there, `retries_taken` the retries behind them (the backoff
    /// exponent), `memory` what the backoff kept from the previous retry (see
    /// `backoff::BackoffMemory`), `uniform` is the jitter draw.
    pub fn after_failure(
        &self,
        failure: Failure,
        retry_after_ns: Option<Nanos>,
        step: ChainStep,
        attempts_on_target: u32,
        memory: BackoffMemory,
        uniform: f64,
    ) -> NextStep {
        if !self.retry_on.contains(failure) || attempts_on_target >= step.attempts {
            return NextStep::NextTarget;
        }
        let retries_taken = attempts_on_target.saturating_sub(1);
        let backoff_ns = self.backoff.delay_ns(retries_taken, memory, uniform);
        let ra = self.retry_after;
        // The wait the header asks for, as this client reads it; None: the backoff alone.
        let header_ns = match retry_after_ns {
            Some(v) if ra.honour && v > 0 => {
                if v <= ra.max_ns {
                    Some(v)
                } else {
                    match ra.above_max {
                        AboveMax::Cap => Some(ra.max_ns),
                        AboveMax::UseBackoff => None,
                        AboveMax::GiveUp => return NextStep::NextTarget,
                    }
                }
            }
            _ => None,
        };
        let delay_ns = match (header_ns, ra.combine) {
            (None, _) => backoff_ns,
            (Some(h), Combine::Max) => backoff_ns.max(h),
            (Some(h), Combine::Replace) => h,
        };
        NextStep::Retry { delay_ns }
    }

    /// What the backoff keeps for the next retry on this target, after a retry decided by
    /// `after_failure` with the same draw slept `slept_ns`.
    pub fn memory_after(
        &self,
        attempts_on_target: u32,
        uniform: f64,
        slept_ns: Nanos,
    ) -> BackoffMemory {
        self.backoff
            .memory_after(attempts_on_target.saturating_sub(1), uniform, slept_ns)
    }
}

/// Failures retried unless the scenario says otherwise: timeouts, connection errors, 429
/// and 5xx (openai-python's rule, minus 409 and 408 which the world here never produces).
/// Insufficient credits and other 4xx are not: retrying them only wastes attempts. A policy
/// may still list them, to model clients that do (openai-python retries a 429
/// `insufficient_quota` like any 429); a deadline is never retried.
pub fn default_retry_on() -> FailureSet {
    FailureSet::of(&[
        Failure::Timeout,
        Failure::ConnectTimeout,
        Failure::ConnectionError,
        Failure::RateLimited,
        Failure::Http500,
        Failure::Http502,
        Failure::Http503,
        Failure::Http529,
    ])
}

/// Failures that count towards opening a breaker unless configured: the provider's
/// unhealthiness (timeouts, connection errors, 5xx). 429 is neutral, as the policy issue
/// and resilience4j's common configuration for rate limits have it.
pub fn default_breaker_counts() -> FailureSet {
    FailureSet::of(&[
        Failure::Timeout,
        Failure::ConnectTimeout,
        Failure::ConnectionError,
        Failure::Http500,
        Failure::Http502,
        Failure::Http503,
        Failure::Http529,
    ])
}

#[cfg(test)]
mod tests {
    use super::backoff::{BackoffKind, Jitter};
    use super::*;
    use crate::time::NS_PER_S;

    fn policy(above_max: AboveMax) -> RetryPolicy {
        policy_combining(above_max, Combine::Max)
    }

    fn policy_combining(above_max: AboveMax, combine: Combine) -> RetryPolicy {
        RetryPolicy {
            retry_on: default_retry_on(),
            backoff: Backoff {
                kind: BackoffKind::Exponential,
                base_ns: NS_PER_S,
                multiplier: 2.0,
                cap_ns: 60 * NS_PER_S,
                jitter: Jitter::None,
            },
            retry_after: RetryAfterPolicy {
                honour: true,
                max_ns: 20 * NS_PER_S,
                above_max,
                combine,
            },
        }
    }

    const STEP: ChainStep = ChainStep {
        target: TargetRef {
            provider: 0,
            model: 0,
        },
        attempts: 3,
    };

    #[test]
    fn retry_after_wins_when_longer_than_the_backoff() {
        let p = policy(AboveMax::Cap);
        let next = p.after_failure(Failure::RateLimited, Some(7 * NS_PER_S), STEP, 1, 0, 0.0);
        assert_eq!(
            next,
            NextStep::Retry {
                delay_ns: 7 * NS_PER_S
            }
        );
        let next = p.after_failure(Failure::RateLimited, Some(NS_PER_S / 2), STEP, 2, 0, 0.0);
        assert_eq!(
            next,
            NextStep::Retry {
                delay_ns: 2 * NS_PER_S
            },
            "backoff is longer"
        );
    }

    #[test]
    fn a_replacing_retry_after_is_slept_as_sent_even_when_shorter_than_the_backoff() {
        let p = policy_combining(AboveMax::UseBackoff, Combine::Replace);
        // Third attempt: the backoff is 2 s, the header 0.2 s: the header wins outright.
        let next = p.after_failure(Failure::RateLimited, Some(NS_PER_S / 5), STEP, 2, 0, 0.0);
        assert_eq!(
            next,
            NextStep::Retry {
                delay_ns: NS_PER_S / 5
            }
        );
        // Above `max` (20 s) with `above_max: backoff`, or a zero header: the backoff.
        for ra in [30 * NS_PER_S, 0] {
            let next = p.after_failure(Failure::RateLimited, Some(ra), STEP, 2, 0, 0.0);
            assert_eq!(
                next,
                NextStep::Retry {
                    delay_ns: 2 * NS_PER_S
                }
            );
        }
        // Above `max` with `above_max: cap`: exactly `max`, even when the backoff is longer.
        let mut capped = policy_combining(AboveMax::Cap, Combine::Replace);
        capped.retry_after.max_ns = NS_PER_S;
        let next = capped.after_failure(Failure::RateLimited, Some(9 * NS_PER_S), STEP, 2, 0, 0.0);
        assert_eq!(next, NextStep::Retry { delay_ns: NS_PER_S });
    }

    #[test]
    fn long_retry_after_is_capped_or_abandoned() {
        let ra = Some(300 * NS_PER_S);
        let capped = policy(AboveMax::Cap).after_failure(Failure::RateLimited, ra, STEP, 1, 0, 0.0);
        assert_eq!(
            capped,
            NextStep::Retry {
                delay_ns: 20 * NS_PER_S
            }
        );
        let gave_up =
            policy(AboveMax::GiveUp).after_failure(Failure::RateLimited, ra, STEP, 1, 0, 0.0);
        assert_eq!(gave_up, NextStep::NextTarget);
    }

    #[test]
    fn attempts_are_bounded_and_credits_never_retried() {
        let p = policy(AboveMax::Cap);
        assert_eq!(
            p.after_failure(Failure::Http500, None, STEP, 3, 0, 0.0),
            NextStep::NextTarget
        );
        assert_eq!(
            p.after_failure(Failure::InsufficientCredits, None, STEP, 1, 0, 0.0),
            NextStep::NextTarget
        );
    }
}
