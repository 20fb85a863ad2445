//! LiteLLM's deployment cooldown: a target that failed too much within the last minute is
//! taken out of rotation for `cooldown` (LiteLLM's default: 5 s), and the request moves down
//! the fallback chain without sending anything. Two rules decide "too much":
//!
//! * `allowed_fails`: more than this many failures within a minute (when set explicitly);
//! * `failure_rate`: LiteLLM's rule when `allowed_fails` is left at its default: more than
//!   `failure_rate` of the calls of the last minute failed, once `min_requests` were made
//!   (0.5 and 5).
//!
//! With `cool_on_429` a single 429 cools the target at once: LiteLLM does so when the model
//! group has other deployments to send to, never for a group of one.

use super::budget::SecondWindow;
use crate::time::Nanos;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CooldownConfig {
    pub allowed_fails: Option<u32>,
    /// (failure rate, minimum calls) over the last minute.
    pub failure_rate: Option<(f64, u32)>,
    pub cooldown_ns: Nanos,
    pub cool_on_429: bool,
}

#[derive(Debug, Clone)]
pub struct Cooldown {
    /// (calls, failures) per second over the last minute.
    window: SecondWindow,
    until_ns: Nanos,
}

impl Default for Cooldown {
    fn default() -> Self {
        Cooldown {
            window: SecondWindow::new(60),
            until_ns: 0,
        }
    }
}

impl Cooldown {
    pub fn is_cool(&self, now: Nanos) -> bool {
        now < self.until_ns
    }

    pub fn on_success(&mut self, now: Nanos) {
        self.window.add(now, 1.0, 0.0);
    }

    /// Records a failure; true when it starts a cooldown.
    pub fn on_failure(&mut self, config: &CooldownConfig, now: Nanos, rate_limited: bool) -> bool {
        self.window.add(now, 1.0, 1.0);
        let (calls, failures) = self.window.sums(now);
        let too_many = config
            .allowed_fails
            .is_some_and(|allowed| failures > f64::from(allowed));
        let too_often = config
            .failure_rate
            .is_some_and(|(rate, minimum)| calls >= f64::from(minimum) && failures > rate * calls);
        if (rate_limited && config.cool_on_429) || too_many || too_often {
            self.until_ns = now.saturating_add(config.cooldown_ns);
            self.window = SecondWindow::new(60);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NS_PER_S;

    const ALLOWED: CooldownConfig = CooldownConfig {
        allowed_fails: Some(3),
        failure_rate: None,
        cooldown_ns: 5 * NS_PER_S,
        cool_on_429: false,
    };

    #[test]
    fn more_than_allowed_fails_in_a_minute_cools_down() {
        let mut c = Cooldown::default();
        for t in 0..3 {
            assert!(!c.on_failure(&ALLOWED, t * NS_PER_S, false));
        }
        assert!(c.on_failure(&ALLOWED, 3 * NS_PER_S, false));
        assert!(c.is_cool(7 * NS_PER_S) && !c.is_cool(8 * NS_PER_S));
    }

    #[test]
    fn old_failures_expire_and_429_can_cool_at_once() {
        let mut c = Cooldown::default();
        for t in [0, 20, 40] {
            c.on_failure(&ALLOWED, t * NS_PER_S, false);
        }
        assert!(
            !c.on_failure(&ALLOWED, 61 * NS_PER_S, false),
            "the failure at 0 s expired"
        );
        let eager = CooldownConfig {
            cool_on_429: true,
            ..ALLOWED
        };
        assert!(Cooldown::default().on_failure(&eager, 0, true));
    }

    #[test]
    fn litellm_default_rule_is_a_failure_rate() {
        let rate = CooldownConfig {
            allowed_fails: None,
            failure_rate: Some((0.5, 5)),
            cooldown_ns: 5 * NS_PER_S,
            cool_on_429: false,
        };
        let mut c = Cooldown::default();
        for t in 0..10 {
            c.on_success(t * NS_PER_S);
        }
        for t in 10..15 {
            assert!(
                !c.on_failure(&rate, t * NS_PER_S, false),
                "5 of 15 is below half"
            );
        }
        let mut failing = Cooldown::default();
        assert!(!failing.on_failure(&rate, 0, false), "fewer than 5 calls");
        for t in 1..4 {
            failing.on_failure(&rate, t, false);
        }
        assert!(failing.on_failure(&rate, 4, false), "5 of 5 failed");
    }
}
