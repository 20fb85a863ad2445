//! Retry budgets and client-side throttling: what stops retries from amplifying an outage.
//!
//! * `percent` (Finagle's RetryBudget): every request deposits `percent` % of a retry, every
//!   retry withdraws one, deposits expire after `ttl`, and `min_per_s` retries per second are
//!   always allowed. Finagle's default: 20 %, 10 per second, 10 s.
//! * `concurrency` (Envoy's retry_budget): retries in flight may not exceed `percent` % of the
//!   group's active requests, and at least `min_concurrency` are allowed (20 %, 3).
//! * `grpc` (gRFC A6 retry throttling): a token count starting at `max_tokens`; each failed
//!   attempt takes one token, each success gives back `token_ratio`; retries (and hedges)
//!   only while the count is above half of `max_tokens`.
//! * `aws` (AWS SDKs' standard mode retry quota): a pool of `capacity` (500) tokens; a retry
//!   takes `retry_cost` (5), a retry after a timeout `timeout_cost` (10); a success refunds
//!   the cost of the retry that produced it, or `no_retry_refund` (1) without retry.
//!
//! Adaptive throttling (Google SRE book, "Handling Overload") rejects requests locally, before
//! they are sent, with probability max(0, (requests − K·accepts) / (requests + 1)) over a
//! sliding window (about 2 minutes, K = 2). `requests` counts every attempt the client made,
//! throttled ones included; `accepts` counts attempts the backend accepted: an answer other
//! than a 429, 503 or 529 (timeouts and connection errors are not accepts).

use crate::outcome::Failure;
use crate::time::{NS_PER_S, Nanos};

#[derive(Debug, Clone, PartialEq)]
pub enum RetryBudgetConfig {
    Percent {
        percent: f64,
        min_per_s: f64,
        ttl_s: u32,
    },
    Concurrency {
        percent: f64,
        min_concurrency: u32,
    },
    Grpc {
        max_tokens: f64,
        token_ratio: f64,
    },
    Aws {
        capacity: u32,
        retry_cost: u32,
        timeout_cost: u32,
        no_retry_refund: u32,
    },
}

/// Per-second counts over a sliding window of whole seconds.
#[derive(Debug, Clone)]
pub(crate) struct SecondWindow {
    buckets: Vec<(f64, f64)>,
    second: u64,
    sum: (f64, f64),
}

impl SecondWindow {
    pub(crate) fn new(seconds: u32) -> Self {
        SecondWindow {
            buckets: vec![(0.0, 0.0); seconds.max(1) as usize],
            second: 0,
            sum: (0.0, 0.0),
        }
    }

    fn advance(&mut self, now: Nanos) {
        let now_second = now / NS_PER_S;
        let len = self.buckets.len() as u64;
        let stale = now_second.saturating_sub(self.second).min(len);
        for k in 1..=stale {
            let b = &mut self.buckets[((self.second + k) % len) as usize];
            self.sum.0 -= b.0;
            self.sum.1 -= b.1;
            *b = (0.0, 0.0);
        }
        self.second = self.second.max(now_second);
    }

    pub(crate) fn add(&mut self, now: Nanos, first: f64, second: f64) {
        self.advance(now);
        let len = self.buckets.len() as u64;
        let b = &mut self.buckets[(self.second % len) as usize];
        b.0 += first;
        b.1 += second;
        self.sum.0 += first;
        self.sum.1 += second;
    }

    pub(crate) fn sums(&mut self, now: Nanos) -> (f64, f64) {
        self.advance(now);
        self.sum
    }
}

#[derive(Debug, Clone)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    /// Percent: (requests, retries) per second.
    window: SecondWindow,
    /// gRPC tokens or AWS quota.
    tokens: f64,
}

impl RetryBudget {
    pub fn new(config: RetryBudgetConfig) -> Self {
        let (seconds, tokens) = match &config {
            RetryBudgetConfig::Percent { ttl_s, .. } => (*ttl_s, 0.0),
            RetryBudgetConfig::Grpc { max_tokens, .. } => (1, *max_tokens),
            RetryBudgetConfig::Aws { capacity, .. } => (1, f64::from(*capacity)),
            RetryBudgetConfig::Concurrency { .. } => (1, 0.0),
        };
        RetryBudget {
            config,
            window: SecondWindow::new(seconds),
            tokens,
        }
    }

    /// A new logical request: Finagle's deposit.
    pub fn on_request(&mut self, now: Nanos) {
        if let RetryBudgetConfig::Percent { .. } = self.config {
            self.window.add(now, 1.0, 0.0);
        }
    }

    /// May a retry go out now? Takes what it costs if so. `active` and `retries_in_flight`
    /// are the group's requests alive and retry attempts in flight (Envoy's rule).
    pub fn try_retry(
        &mut self,
        now: Nanos,
        after: Failure,
        active: u64,
        retries_in_flight: u64,
    ) -> bool {
        match self.config {
            RetryBudgetConfig::Percent {
                percent,
                min_per_s,
                ttl_s,
            } => {
                let (requests, withdrawals) = self.window.sums(now);
                // Counts are whole numbers; the slack absorbs the rounding of percent / 100.
                let balance =
                    requests * percent / 100.0 + min_per_s * f64::from(ttl_s) - withdrawals;
                let allowed = balance >= 1.0 - 1e-9;
                if allowed {
                    self.window.add(now, 0.0, 1.0);
                }
                allowed
            }
            RetryBudgetConfig::Concurrency {
                percent,
                min_concurrency,
            } => {
                let limit = (percent / 100.0 * active as f64).max(f64::from(min_concurrency));
                (retries_in_flight as f64) < limit
            }
            RetryBudgetConfig::Grpc { max_tokens, .. } => self.tokens > max_tokens / 2.0,
            RetryBudgetConfig::Aws { .. } => {
                let cost = self.retry_cost(after);
                if self.tokens >= cost {
                    self.tokens -= cost;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// May a hedge go out? gRPC throttling stops hedges as it stops retries; the other
    /// budgets count retries only.
    pub fn allows_hedge(&self) -> bool {
        match self.config {
            RetryBudgetConfig::Grpc { max_tokens, .. } => self.tokens > max_tokens / 2.0,
            _ => true,
        }
    }

    /// The quota an AWS retry after `failure` costs (0 for other budgets).
    pub fn retry_cost(&self, after: Failure) -> f64 {
        match self.config {
            RetryBudgetConfig::Aws {
                retry_cost,
                timeout_cost,
                ..
            } => f64::from(if after.is_timeout() {
                timeout_cost
            } else {
                retry_cost
            }),
            _ => 0.0,
        }
    }

    /// An attempt's answer: gRPC's token accounting and AWS's refunds. `retry_cost` is what
    /// the retry that produced this attempt cost (0 for a first attempt).
    pub fn on_attempt(&mut self, success: bool, retry_cost: f64) {
        match self.config {
            RetryBudgetConfig::Grpc {
                max_tokens,
                token_ratio,
            } => {
                self.tokens = if success {
                    (self.tokens + token_ratio).min(max_tokens)
                } else {
                    (self.tokens - 1.0).max(0.0)
                };
            }
            RetryBudgetConfig::Aws {
                capacity,
                no_retry_refund,
                ..
            } if success => {
                let refund = if retry_cost > 0.0 {
                    retry_cost
                } else {
                    f64::from(no_retry_refund)
                };
                self.tokens = (self.tokens + refund).min(f64::from(capacity));
            }
            _ => {}
        }
    }
}

/// Google SRE adaptive throttling over a sliding window.
#[derive(Debug, Clone)]
pub struct AdaptiveThrottle {
    k: f64,
    /// (requests, accepts) per second.
    window: SecondWindow,
}

impl AdaptiveThrottle {
    pub fn new(k: f64, window_s: u32) -> Self {
        AdaptiveThrottle {
            k,
            window: SecondWindow::new(window_s),
        }
    }

    /// The probability that a request now is rejected locally.
    pub fn reject_probability(&mut self, now: Nanos) -> f64 {
        let (requests, accepts) = self.window.sums(now);
        ((requests - self.k * accepts) / (requests + 1.0)).max(0.0)
    }

    /// Counts a request the client made (sent or throttled).
    pub fn on_request(&mut self, now: Nanos) {
        self.window.add(now, 1.0, 0.0);
    }

    /// Counts an attempt the backend accepted.
    pub fn on_accept(&mut self, now: Nanos) {
        self.window.add(now, 0.0, 1.0);
    }
}

/// Did the backend accept the attempt (for adaptive throttling)?
pub fn accepted(outcome: Option<Failure>) -> bool {
    !matches!(
        outcome,
        Some(
            Failure::RateLimited
                | Failure::Http503
                | Failure::Http529
                | Failure::Timeout
                | Failure::ConnectTimeout
                | Failure::ConnectionError
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_budget_allows_its_ratio_plus_the_minimum() {
        // 20 % of 100 requests in the window plus 0 per second: 20 retries, then no more.
        let mut budget = RetryBudget::new(RetryBudgetConfig::Percent {
            percent: 20.0,
            min_per_s: 0.0,
            ttl_s: 10,
        });
        for _ in 0..100 {
            budget.on_request(0);
        }
        let granted = (0..50)
            .filter(|_| budget.try_retry(NS_PER_S, Failure::Http500, 0, 0))
            .count();
        assert_eq!(granted, 20);
        // Ten seconds later the deposits have expired; so have the withdrawals.
        assert!(!budget.try_retry(11 * NS_PER_S, Failure::Http500, 0, 0));
        let mut floor = RetryBudget::new(RetryBudgetConfig::Percent {
            percent: 20.0,
            min_per_s: 1.0,
            ttl_s: 10,
        });
        assert_eq!(
            (0..50)
                .filter(|_| floor.try_retry(0, Failure::Http500, 0, 0))
                .count(),
            10,
            "10 s x 1/s"
        );
    }

    #[test]
    fn concurrency_budget_follows_envoy() {
        let mut budget = RetryBudget::new(RetryBudgetConfig::Concurrency {
            percent: 20.0,
            min_concurrency: 3,
        });
        assert!(budget.try_retry(0, Failure::Http503, 5, 2));
        assert!(
            !budget.try_retry(0, Failure::Http503, 5, 3),
            "max(3, 1) = 3 in flight already"
        );
        assert!(budget.try_retry(0, Failure::Http503, 100, 19));
        assert!(!budget.try_retry(0, Failure::Http503, 100, 20));
    }

    #[test]
    fn grpc_throttling_stops_retries_below_half_the_tokens() {
        let mut budget = RetryBudget::new(RetryBudgetConfig::Grpc {
            max_tokens: 10.0,
            token_ratio: 0.1,
        });
        for _ in 0..5 {
            assert!(budget.try_retry(0, Failure::Http503, 0, 0));
            budget.on_attempt(false, 0.0);
        }
        assert!(
            !budget.try_retry(0, Failure::Http503, 0, 0),
            "5 tokens left is not above 5"
        );
        budget.on_attempt(true, 0.0);
        assert!(budget.try_retry(0, Failure::Http503, 0, 0), "5.1 tokens");
    }

    #[test]
    fn aws_quota_charges_retries_and_refunds_successes() {
        let mut budget = RetryBudget::new(RetryBudgetConfig::Aws {
            capacity: 20,
            retry_cost: 5,
            timeout_cost: 10,
            no_retry_refund: 1,
        });
        assert!(budget.try_retry(0, Failure::Timeout, 0, 0)); // 10 left
        assert!(budget.try_retry(0, Failure::Http500, 0, 0)); // 5 left
        assert!(budget.try_retry(0, Failure::Http500, 0, 0)); // 0 left
        assert!(!budget.try_retry(0, Failure::Http500, 0, 0));
        budget.on_attempt(true, 5.0); // a retried success refunds its retry's cost
        assert!(budget.try_retry(0, Failure::Http500, 0, 0));
        for _ in 0..100 {
            budget.on_attempt(true, 0.0); // +1 each, capped at 20
        }
        assert_eq!(
            (0..10)
                .filter(|_| budget.try_retry(0, Failure::Http500, 0, 0))
                .count(),
            4
        );
    }

    #[test]
    fn adaptive_throttling_follows_the_sre_formula() {
        let mut throttle = AdaptiveThrottle::new(2.0, 120);
        for _ in 0..100 {
            throttle.on_request(0);
        }
        for _ in 0..20 {
            throttle.on_accept(0);
        }
        // (100 - 2 x 20) / 101
        assert!((throttle.reject_probability(0) - 60.0 / 101.0).abs() < 1e-12);
        for _ in 0..30 {
            throttle.on_accept(0);
        }
        assert_eq!(
            throttle.reject_probability(0),
            0.0,
            "accepts x K >= requests"
        );
        assert_eq!(
            throttle.reject_probability(200 * NS_PER_S),
            0.0,
            "the window forgets"
        );
    }
}
