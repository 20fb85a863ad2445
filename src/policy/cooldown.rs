//! LiteLLM's deployment cooldown: a target that failed too much within the last minute is
//! taken out of rotation for `cooldown` (LiteLLM's default: 5 s), and the request moves down
//! the fallback chain without sending anything. The rules follow
//! `litellm/router_utils/cooldown_handlers.py`, `_should_cooldown_deployment` (LiteLLM
//! 1.7x–1.8x, constants in `litellm/constants.py`), which depend on whether the target's
//! model group has one deployment or several (`deployments`):
//!
//! * a 429 cools the target at once in a group of several deployments, never in a group of
//!   one (`cool_on_429`);
//! * every call of the last minute failed, and there were at least
//!   `SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD` (1,000) of them: cools any group
//!   (`all_failed_min_requests`);
//! * more than `DEFAULT_FAILURE_THRESHOLD_PERCENT` (0.5) of at least
//!   `DEFAULT_FAILURE_THRESHOLD_MINIMUM_REQUESTS` (5) calls failed: cools a group of several
//!   deployments only (`failure_rate`);
//! * `allowed_fails` set explicitly selects LiteLLM's legacy rule instead: more than this many
//!   failures within a minute, whatever the group.
//!
//! LiteLLM also cools on a status it would not retry (401, 404); the world here produces
//! neither, so that rule has nothing to act on.

use super::budget::SecondWindow;
use crate::time::Nanos;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CooldownConfig {
    pub allowed_fails: Option<u32>,
    /// (failure rate, minimum calls) over the last minute.
    pub failure_rate: Option<(f64, u32)>,
    /// Cool when every call of the last minute failed and there were at least this many.
    pub all_failed_min_requests: Option<u32>,
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
        let all_failed = config
            .all_failed_min_requests
            .is_some_and(|minimum| calls >= f64::from(minimum) && failures == calls);
        if (rate_limited && config.cool_on_429) || too_many || too_often || all_failed {
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
        all_failed_min_requests: None,
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
            all_failed_min_requests: None,
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

    #[test]
    fn a_group_of_one_cools_only_when_a_thousand_calls_all_failed() {
        let single = CooldownConfig {
            allowed_fails: None,
            failure_rate: None,
            all_failed_min_requests: Some(1000),
            cooldown_ns: 5 * NS_PER_S,
            cool_on_429: false,
        };
        let mut c = Cooldown::default();
        c.on_success(0);
        for k in 0..1500u64 {
            assert!(
                !c.on_failure(&single, k * NS_PER_S / 100, true),
                "one success in the minute: not every call failed"
            );
        }
        let mut c = Cooldown::default();
        for k in 0..999u64 {
            assert!(!c.on_failure(&single, k * NS_PER_S / 100, true), "{k}");
        }
        assert!(
            c.on_failure(&single, 10 * NS_PER_S, false),
            "the 1,000th failure"
        );
    }
}
