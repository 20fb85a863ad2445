//! LiteLLM's deployment cooldown: a target that failed more than `allowed_fails` times within
//! a minute is taken out of rotation for `cooldown` (LiteLLM's defaults: 3 fails, 5 s); with
//! `cool_on_429` a single 429 cools it at once (LiteLLM does so when the model group has other
//! deployments to send to). While cooled down the request moves down the fallback chain
//! without sending anything.

use std::collections::VecDeque;

use crate::time::{NS_PER_MIN, Nanos};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CooldownConfig {
    pub allowed_fails: u32,
    pub cooldown_ns: Nanos,
    pub cool_on_429: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Cooldown {
    /// Failure times within the last minute (at most `allowed_fails + 1` kept).
    failures: VecDeque<Nanos>,
    until_ns: Nanos,
}

impl Cooldown {
    pub fn is_cool(&self, now: Nanos) -> bool {
        now < self.until_ns
    }

    /// Records a failure; true when it starts a cooldown.
    pub fn on_failure(&mut self, config: &CooldownConfig, now: Nanos, rate_limited: bool) -> bool {
        if rate_limited && config.cool_on_429 {
            self.until_ns = now.saturating_add(config.cooldown_ns);
            self.failures.clear();
            return true;
        }
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= NS_PER_MIN)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() > config.allowed_fails as usize {
            self.until_ns = now.saturating_add(config.cooldown_ns);
            self.failures.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NS_PER_S;

    const LITELLM: CooldownConfig = CooldownConfig {
        allowed_fails: 3,
        cooldown_ns: 5 * NS_PER_S,
        cool_on_429: false,
    };

    #[test]
    fn more_than_allowed_fails_in_a_minute_cools_down() {
        let mut c = Cooldown::default();
        for t in 0..3 {
            assert!(!c.on_failure(&LITELLM, t * NS_PER_S, false));
        }
        assert!(c.on_failure(&LITELLM, 3 * NS_PER_S, false));
        assert!(c.is_cool(7 * NS_PER_S) && !c.is_cool(8 * NS_PER_S));
    }

    #[test]
    fn old_failures_expire_and_429_can_cool_at_once() {
        let mut c = Cooldown::default();
        for t in [0, 20, 40] {
            c.on_failure(&LITELLM, t * NS_PER_S, false);
        }
        assert!(
            !c.on_failure(&LITELLM, 61 * NS_PER_S, false),
            "the failure at 0 s expired"
        );
        let eager = CooldownConfig {
            cool_on_429: true,
            ..LITELLM
        };
        assert!(Cooldown::default().on_failure(&eager, 0, true));
    }
}
