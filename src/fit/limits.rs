//! A provider's rate limits, from what a log holds: the limits its rate-limit headers
//! announced when the client logged them, else inferred from its 429s.
//!
//! * **Logged** (`LoggedLimits` on each record): the request log's optional
//!   `ratelimit_limit_requests`, `ratelimit_remaining_requests`, `ratelimit_limit_tokens`,
//!   `ratelimit_remaining_tokens`, named after OpenAI's `x-ratelimit-*` headers
//!   (<https://platform.openai.com/docs/guides/rate-limits>, "Rate limits in headers"); a
//!   mapped log may hold them under those header names or Anthropic's
//!   `anthropic-ratelimit-{requests,tokens}-{limit,remaining}`
//!   (<https://docs.anthropic.com/en/api/rate-limits>, "Response headers"). Per (provider,
//!   model) the limit most often announced is taken (a tier change mid-log announces two;
//!   the report lists both counts); the least remaining is reported.
//! * **Inferred**: a token bucket refusing a request has, over the minute before, let
//!   through about its limit (exactly so once it has been empty for a minute). At every 429
//!   the attempts the provider accepted in the sliding minute before it are summed, in
//!   requests and in tokens (the input tokens plus the `max_tokens` the fitted scenario
//!   writes, which is what its default `tpm_counts`, `input_plus_max_tokens`, takes from the
//!   bucket: so the fitted world throttles where the logged one did). Which limit binds is
//!   the one whose sum varies less from 429 to 429: a request limit holds the requests
//!   steady while their tokens vary with the prompts, a token limit the reverse. The spread
//!   is (median - 10th percentile) / median, the lower half because a 429 early in an
//!   overload sees a minute that was not yet throttled throughout (its sums run high);
//!   when neither spread is `DISTINCT_SPREAD` times the other, the data cannot tell them
//!   apart (when every request costs about the same tokens, a TPM of X is an RPM of X /
//!   tokens per request) and the report says so. The requests-per-minute figure itself is
//!   the median of accepted attempts per minute over buckets with 5 % or more 429s
//!   (`fit::provider_report`); the tokens-per-minute figure the median token sum at 429s.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::read::Outcome;
use super::{ProviderReport, Reservoir};

/// What a response's rate-limit headers said, when the log holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoggedLimits {
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
}

impl LoggedLimits {
    pub fn any(&self) -> bool {
        self.limit_requests.is_some() || self.limit_tokens.is_some()
    }
}

/// The sliding window the accepted attempts are summed over.
const WINDOW_NS: i64 = 60_000_000_000;
/// 429s needed before a limit is inferred.
pub const MIN_429S: usize = 30;
/// One spread must be this many times the other for the smaller to name the binding limit.
pub const DISTINCT_SPREAD: f64 = 1.5;

/// Per provider: the accepted attempts of the last minute, and their sums at each 429.
pub struct LimitAcc {
    /// (sent, input tokens) of accepted attempts in the last minute, in the order read.
    window: VecDeque<(i64, u32)>,
    input_in_window: u64,
    /// (requests, input tokens) accepted in the minute before each 429.
    at_429: Reservoir<(f64, f64)>,
    /// Whether every accepted attempt logged its input tokens (else no token sums).
    tokens_known: bool,
}

impl LimitAcc {
    pub fn new(provider: &str) -> Self {
        LimitAcc {
            window: VecDeque::new(),
            input_in_window: 0,
            at_429: Reservoir::new(&format!("{provider}/limits")),
            tokens_known: true,
        }
    }

    /// One attempt, in the log's order (send order: a few out of order shift a sum by one).
    pub fn add(&mut self, t_ns: i64, outcome: Outcome, input_tokens: Option<u32>) {
        while let Some((sent, input)) = self.window.front()
            && *sent <= t_ns - WINDOW_NS
        {
            self.input_in_window -= u64::from(*input);
            self.window.pop_front();
        }
        match outcome {
            Outcome::RateLimited => self
                .at_429
                .push((self.window.len() as f64, self.input_in_window as f64)),
            // Refused before any bucket (connection failures, 400s, 402s) or not known to
            // have reached one: not counted as accepted.
            Outcome::Connection | Outcome::Other => {}
            Outcome::Ok | Outcome::ServerError(_) | Outcome::Timeout => {
                self.tokens_known &= input_tokens.is_some();
                let input = input_tokens.unwrap_or(0);
                self.input_in_window += u64::from(input);
                self.window.push_back((t_ns, input));
            }
        }
    }
}

/// Which limit the 429s point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    Requests,
    Tokens,
    /// Requests and tokens per minute varied alike: either explains the 429s.
    Either,
}

/// The inference from 429s.
#[derive(Debug, Clone, Serialize)]
pub struct Inferred {
    /// 429s the sums stand on (a sample of at most the reservoir's size).
    pub samples: usize,
    /// Median tokens accepted in the minute before a 429 (input + `max_tokens` each);
    /// None when the log has no input tokens.
    pub tpm: Option<f64>,
    /// Median requests accepted in the minute before a 429.
    pub requests_per_minute: f64,
    /// (median - 10th percentile) / median of the requests, and of the tokens.
    pub requests_spread: f64,
    pub tokens_spread: Option<f64>,
    pub binding: Binding,
}

fn median_and_spread(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let median = at(0.5);
    let spread = if median > 0.0 {
        (median - at(0.1)) / median
    } else {
        0.0
    };
    (median, spread)
}

/// The limits the 429s imply, with `max_tokens` the fitted scenario writes for this
/// provider's requests; None with fewer than `MIN_429S` 429s.
pub fn infer(acc: &LimitAcc, max_tokens: u32) -> Option<Inferred> {
    let sums = &acc.at_429.values;
    if sums.len() < MIN_429S {
        return None;
    }
    let (requests, requests_spread) = median_and_spread(sums.iter().map(|s| s.0).collect());
    let tokens = acc.tokens_known.then(|| {
        median_and_spread(
            sums.iter()
                .map(|(n, input)| input + n * f64::from(max_tokens))
                .collect(),
        )
    });
    let binding = match tokens {
        None => Binding::Requests,
        Some((_, t)) if requests_spread > DISTINCT_SPREAD * t => Binding::Tokens,
        Some((_, t)) if t > DISTINCT_SPREAD * requests_spread => Binding::Requests,
        Some(_) => Binding::Either,
    };
    Some(Inferred {
        samples: sums.len(),
        tpm: tokens.map(|t| t.0),
        requests_per_minute: requests,
        requests_spread,
        tokens_spread: tokens.map(|t| t.1),
        binding,
    })
}

/// Logged header values of one (provider, model).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoggedAcc {
    /// Records announcing each limit, by value.
    pub limit_requests: BTreeMap<u64, u64>,
    pub limit_tokens: BTreeMap<u64, u64>,
    pub min_remaining_requests: Option<u64>,
    pub min_remaining_tokens: Option<u64>,
}

impl LoggedAcc {
    pub fn add(&mut self, l: &LoggedLimits) {
        if let Some(v) = l.limit_requests {
            *self.limit_requests.entry(v).or_default() += 1;
        }
        if let Some(v) = l.limit_tokens {
            *self.limit_tokens.entry(v).or_default() += 1;
        }
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.min_remaining_requests = min(self.min_remaining_requests, l.remaining_requests);
        self.min_remaining_tokens = min(self.min_remaining_tokens, l.remaining_tokens);
    }

    fn mode(counts: &BTreeMap<u64, u64>) -> Option<u64> {
        // Ties go to the larger limit (a tier raised mid-log).
        counts
            .iter()
            .max_by_key(|(v, n)| (**n, **v))
            .map(|(v, _)| *v)
    }

    /// The requests and tokens per minute most often announced.
    pub fn limits(&self) -> (Option<u64>, Option<u64>) {
        (
            Self::mode(&self.limit_requests),
            Self::mode(&self.limit_tokens),
        )
    }
}

/// Which limits the scenario takes for a provider (see the module doc), saying in `notes` what
/// could not be told.
pub(super) fn source(
    p: &mut ProviderReport,
    logged: bool,
    notes: &mut Vec<String>,
) -> &'static str {
    let name = &p.name;
    if logged {
        if p.rate_limited > 0 {
            notes.push(format!(
                "{name}: rate limits from the logged rate-limit headers (per model), not \
                 inferred from its {} 429s",
                p.rate_limited
            ));
        }
        return "logged";
    }
    let Some(inferred) = &p.inferred else {
        return if p.rpm.is_some() {
            "inferred_rpm"
        } else {
            "none"
        };
    };
    let spreads = format!(
        "requests per minute before a 429 spread {:.3}, tokens {}",
        inferred.requests_spread,
        inferred
            .tokens_spread
            .map_or("not logged".to_string(), |t| format!("{t:.3}"))
    );
    match (inferred.binding, inferred.tpm) {
        (Binding::Tokens, Some(tpm)) => {
            // The requests per minute at the 429s followed from the token limit.
            p.rpm = None;
            notes.push(format!(
                "{name}: the 429s point to a token limit of {tpm:.0} tokens a minute \
                 ({spreads})"
            ));
            "inferred_tpm"
        }
        (Binding::Either, Some(tpm)) => {
            notes.push(format!(
                "{name}: a request limit and a token limit ({tpm:.0} tokens a minute) explain \
                 the 429s alike ({spreads}: the requests cost about the same tokens), so the \
                 request limit is written"
            ));
            if p.rpm.is_some() {
                "inferred_rpm"
            } else {
                "none"
            }
        }
        (_, None) => {
            notes.push(format!(
                "{name}: no token limit inferred: the logs have no input tokens, so a token \
                 limit cannot be told from a request limit"
            ));
            if p.rpm.is_some() {
                "inferred_rpm"
            } else {
                "none"
            }
        }
        (_, Some(_)) => {
            if p.rpm.is_some() {
                "inferred_rpm"
            } else {
                "none"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady 600 requests a minute with prompts of 100 or 1,900 tokens, and a 429 every
    /// second: the requests hold still, the tokens swing, so requests bind; with the
    /// prompts all alike the two cannot be told apart.
    #[test]
    fn the_steadier_sum_names_the_binding_limit() {
        let run = |input: &dyn Fn(i64) -> u32| {
            let mut acc = LimitAcc::new("p");
            for i in 0..60_000i64 {
                let t = i * 100_000_000;
                acc.add(t, Outcome::Ok, Some(input(i)));
                if i % 10 == 0 && i > 600 {
                    acc.add(t, Outcome::RateLimited, Some(10));
                }
            }
            infer(&acc, 100).unwrap()
        };
        let varied = run(&|i| if (i / 1_000) % 2 == 0 { 100 } else { 1_900 });
        assert_eq!(varied.binding, Binding::Requests);
        assert_eq!(varied.requests_per_minute, 600.0);
        let alike = run(&|_| 500);
        assert_eq!(alike.binding, Binding::Either);
        assert_eq!(alike.tpm, Some(600.0 * 600.0));
    }

    #[test]
    fn the_limit_most_announced_is_taken() {
        let mut acc = LoggedAcc::default();
        for (limit, remaining) in [(500, 10), (500, 3), (5_000, 4_000)] {
            acc.add(&LoggedLimits {
                limit_requests: Some(limit),
                remaining_requests: Some(remaining),
                ..Default::default()
            });
        }
        assert_eq!(acc.limits(), (Some(500), None));
        assert_eq!(acc.min_remaining_requests, Some(3));
    }
}
