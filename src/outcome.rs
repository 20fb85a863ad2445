//! The vocabulary of how an attempt or a request can end.
//!
//! One enum names every failure the world can produce, with a stable snake_case name used
//! in scenario files (`retry_on`, `count_as_failure`), `summary.json` and `timeseries.csv`.
//! Adding a variant appends a column; the order of `Failure::ALL` is part of the output
//! contract.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The client's attempt timeout (total) fired before a response.
    Timeout,
    /// The connection could not be established within the connect timeout.
    ConnectTimeout,
    /// Connection refused or reset (provider hard down).
    ConnectionError,
    /// HTTP 429 from a rate limit, with a Retry-After.
    RateLimited,
    Http500,
    Http502,
    Http503,
    /// Anthropic's "overloaded".
    Http529,
    /// HTTP 402 / `insufficient_quota`: the account cannot pay. Never succeeds on retry.
    InsufficientCredits,
    /// HTTP 400: input + max_tokens exceed the model's context window.
    ContextLengthExceeded,
    /// HTTP 429 that can never pass: the request alone needs more tokens than the TPM limit.
    RequestTooLarge,
    /// Rejected locally by an open circuit breaker; nothing was sent.
    BreakerOpen,
    /// The request's overall deadline left no time for another attempt.
    DeadlineExceeded,
    /// Rejected locally by adaptive throttling; nothing was sent.
    Throttled,
    /// Every remaining target of the chain is cooling down after failures; nothing was sent.
    CooledDown,
    /// The client's own RPM/TPM limiter had no room within its maximum wait.
    ClientRateLimited,
    /// The client's bulkhead was full (or its queue wait ran out).
    BulkheadFull,
    /// HTTP 429 `insufficient_quota`: OpenAI's answer when the account cannot pay. A 429,
    /// so the SDKs retry it (a real cost), though it never succeeds until the balance does.
    InsufficientQuota,
}

impl Failure {
    pub const ALL: [Failure; 18] = [
        Failure::Timeout,
        Failure::ConnectTimeout,
        Failure::ConnectionError,
        Failure::RateLimited,
        Failure::Http500,
        Failure::Http502,
        Failure::Http503,
        Failure::Http529,
        Failure::InsufficientCredits,
        Failure::ContextLengthExceeded,
        Failure::RequestTooLarge,
        Failure::BreakerOpen,
        Failure::DeadlineExceeded,
        Failure::Throttled,
        Failure::CooledDown,
        Failure::ClientRateLimited,
        Failure::BulkheadFull,
        Failure::InsufficientQuota,
    ];
    pub const COUNT: usize = Self::ALL.len();

    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::ConnectTimeout => "connect_timeout",
            Failure::ConnectionError => "connection_error",
            Failure::RateLimited => "rate_limited",
            Failure::Http500 => "http_500",
            Failure::Http502 => "http_502",
            Failure::Http503 => "http_503",
            Failure::Http529 => "http_529",
            Failure::InsufficientCredits => "insufficient_credits",
            Failure::ContextLengthExceeded => "context_length_exceeded",
            Failure::RequestTooLarge => "request_too_large",
            Failure::BreakerOpen => "breaker_open",
            Failure::DeadlineExceeded => "deadline_exceeded",
            Failure::Throttled => "throttled",
            Failure::CooledDown => "cooled_down",
            Failure::ClientRateLimited => "client_rate_limited",
            Failure::BulkheadFull => "bulkhead_full",
            Failure::InsufficientQuota => "insufficient_quota",
        }
    }

    pub fn from_name(name: &str) -> Option<Failure> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn from_status(status: u16) -> Option<Failure> {
        match status {
            429 => Some(Failure::RateLimited),
            500 => Some(Failure::Http500),
            502 => Some(Failure::Http502),
            503 => Some(Failure::Http503),
            529 => Some(Failure::Http529),
            402 => Some(Failure::InsufficientCredits),
            _ => None,
        }
    }

    pub fn is_server_error(self) -> bool {
        matches!(
            self,
            Failure::Http500 | Failure::Http502 | Failure::Http503 | Failure::Http529
        )
    }

    /// Failures decided by the client itself: no attempt reached the wire.
    pub fn is_local(self) -> bool {
        matches!(
            self,
            Failure::BreakerOpen
                | Failure::Throttled
                | Failure::CooledDown
                | Failure::ClientRateLimited
                | Failure::BulkheadFull
        )
    }

    /// The account could not pay: 402, or OpenAI's 429 `insufficient_quota`.
    pub fn is_out_of_credits(self) -> bool {
        matches!(
            self,
            Failure::InsufficientCredits | Failure::InsufficientQuota
        )
    }

    pub fn is_timeout(self) -> bool {
        matches!(self, Failure::Timeout | Failure::ConnectTimeout)
    }

    /// What a human reads in the error log, in the words the seed's service logged.
    pub fn message(self) -> &'static str {
        match self {
            Failure::Timeout => "attempt timed out",
            Failure::ConnectTimeout => "connect timed out",
            Failure::ConnectionError => "connection refused",
            Failure::RateLimited => "Rate limit exceeded (429)",
            Failure::Http500 => "Internal server error (500)",
            Failure::Http502 => "Bad gateway (502)",
            Failure::Http503 => "Service unavailable (503)",
            Failure::Http529 => "Overloaded (529)",
            Failure::InsufficientCredits => "insufficient credits (402)",
            Failure::ContextLengthExceeded => "context length exceeded (400)",
            Failure::RequestTooLarge => "request larger than the TPM limit (429)",
            Failure::BreakerOpen => "Circuit breaker is OPEN",
            Failure::DeadlineExceeded => "request deadline exceeded",
            Failure::Throttled => "throttled locally (adaptive throttling)",
            Failure::CooledDown => "no target available: all cooling down",
            Failure::ClientRateLimited => "client-side rate limiter: no room in time",
            Failure::BulkheadFull => "bulkhead full",
            Failure::InsufficientQuota => "insufficient_quota: out of credits (429)",
        }
    }
}

/// A set of failures as a bit mask (for `retry_on` and `count_as_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureSet(u32);

impl FailureSet {
    pub const EMPTY: FailureSet = FailureSet(0);

    pub fn of(failures: &[Failure]) -> FailureSet {
        failures
            .iter()
            .fold(FailureSet::EMPTY, |set, f| set.with(*f))
    }

    #[must_use]
    pub fn with(self, failure: Failure) -> FailureSet {
        FailureSet(self.0 | 1 << failure.index())
    }

    #[inline]
    pub fn contains(self, failure: Failure) -> bool {
        self.0 & (1 << failure.index()) != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        Failure::ALL
            .iter()
            .filter(|f| self.contains(**f))
            .map(|f| f.name())
            .collect()
    }

    /// Parses names from a scenario file; "5xx" stands for every server error.
    pub fn parse(names: &[String]) -> Result<FailureSet, String> {
        let mut set = FailureSet::EMPTY;
        for name in names {
            if name == "5xx" {
                for f in Failure::ALL.into_iter().filter(|f| f.is_server_error()) {
                    set = set.with(f);
                }
                continue;
            }
            let Some(f) = Failure::from_name(name) else {
                let valid: Vec<&str> = Failure::ALL
                    .iter()
                    .map(|f| f.name())
                    .chain(["5xx"])
                    .collect();
                let hint = crate::error::nearest_name(name, &valid)
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown outcome `{name}`{hint}; valid: {}",
                    valid.join(", ")
                ));
            };
            set = set.with(f);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_5xx_expands() {
        for f in Failure::ALL {
            assert_eq!(Failure::from_name(f.name()), Some(f));
        }
        let set = FailureSet::parse(&["5xx".into(), "timeout".into()]).unwrap();
        assert!(set.contains(Failure::Http529) && set.contains(Failure::Timeout));
        assert!(!set.contains(Failure::RateLimited));
        assert!(
            FailureSet::parse(&["timout".into()])
                .unwrap_err()
                .contains("`timeout`")
        );
    }
}
