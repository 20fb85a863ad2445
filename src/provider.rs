//! An AI API provider account: its models, its capacity, its rate limits, its background
//! errors and hangs, its outages and its credit balance.
//!
//! A provider decides an attempt's fate when the attempt reaches it (`admit`), in the order
//! a real API gateway checks: hard-down outage, request validation (context window), credits,
//! rate limits (the account's buckets, then the model's: RPM, TPM, ITPM, OTPM; a request
//! reserves `max_tokens` of output, as the real APIs count it), then capacity: `slots`
//! attempts in service at once, a FIFO queue of at most `queue_limit` behind them, and
//! "overloaded" (503 or 529) at once beyond that.
//!
//! Capacity is for dedicated deployments (provisioned throughput, a self-hosted server): a
//! public API's capacity is shared by all its customers, so there one customer's traffic
//! meets rate limits and the provider's own incidents (brownouts, outages), not `slots`.
//!
//! Service time is time-to-first-token plus output tokens times the per-token time, both
//! drawn per attempt, multiplied by any brownout. A slot stays busy until the service would
//! end even when the client has given up: the provider cannot know, which is what makes
//! retry storms real.

use std::collections::VecDeque;

use crate::credits::{CreditAccount, CreditsModel, NanoUsd};
use crate::dist::Dist;
use crate::outage::{Conditions, DownBehaviour, OutageEffect, RandomOutages, ScheduledOutage};
use crate::outcome::Failure;
use crate::ratelimit::{BucketLevel, Charge, LimitSpec, Limits, Refusal, RetryAfterUnit};
use crate::time::Nanos;

#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub name: String,
    /// Prices in nano-dollars per token (USD per million tokens x 1000).
    pub input_nusd_per_token: f64,
    pub output_nusd_per_token: f64,
    pub context_window: u32,
    /// Time to first token, seconds.
    pub ttft: Dist,
    /// Time per output token, seconds.
    pub per_token: Dist,
    /// The model's own limits within the account (OpenAI and Anthropic limit each model).
    pub limits: Option<LimitSpec>,
}

impl ModelSpec {
    pub fn cost_nusd(&self, input_tokens: u32, output_tokens: u32) -> NanoUsd {
        // Nearest nano-dollar: both terms are >= 0, so +0.5 and truncation round.
        (f64::from(input_tokens) * self.input_nusd_per_token
            + f64::from(output_tokens) * self.output_nusd_per_token
            + 0.5) as NanoUsd
    }
}

/// Background failure probabilities, rolled per admitted attempt with one uniform draw.
#[derive(Debug, Clone, Default)]
pub struct ErrorModel {
    pub hang: f64,
    /// (cumulative probability, failure), checked in order after the hang band.
    pub statuses: Vec<(f64, Failure)>,
}

impl ErrorModel {
    /// What a uniform draw in [0, 1) makes of this attempt.
    pub fn roll(&self, uniform: f64) -> ServiceKind {
        if uniform < self.hang {
            return ServiceKind::Hang;
        }
        let u = uniform - self.hang;
        for &(upto, failure) in &self.statuses {
            if u < upto {
                return ServiceKind::Error(failure);
            }
        }
        ServiceKind::Success
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    Success,
    Error(Failure),
    /// Holds its slot for a normal service time but never answers.
    Hang,
}

#[derive(Debug, Clone)]
pub struct ProviderModel {
    pub name: String,
    pub models: Vec<ModelSpec>,
    /// None: unlimited concurrency (no queueing).
    pub slots: Option<u32>,
    pub queue_limit: u32,
    pub overload: Failure,
    /// The account's limits, shared by all its models.
    pub limits: Option<LimitSpec>,
    /// How the 429s write their Retry-After.
    pub retry_after: RetryAfterUnit,
    /// What an account out of credits answers: `InsufficientCredits` (402, never retried by
    /// the SDKs) or `InsufficientQuota` (OpenAI's 429 `insufficient_quota`, which they retry).
    pub credits_exhausted: Failure,
    pub errors: ErrorModel,
    /// How long an error response takes, seconds.
    pub error_latency: Dist,
    pub outages: Vec<ScheduledOutage>,
    pub random_outages: Option<RandomOutages>,
    pub credits: Option<CreditsModel>,
}

/// What the provider made of one admitted attempt: its kind and the times its answer takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceDraw {
    pub kind: ServiceKind,
    /// Time to first token and per output token, seconds, before the brownout's multiplier
    /// (0 for an error answer, which draws neither).
    pub ttft_s: f64,
    pub per_token_s: f64,
    pub latency_multiplier: f64,
    /// How long an error answer takes, seconds (0 unless `kind` is an error).
    pub error_s: f64,
}

impl ServiceDraw {
    /// How long the provider works on the attempt: the error's latency, or time to first
    /// token plus the output tokens' time, times the brownout's multiplier.
    pub fn service_s(&self, output_tokens: u32) -> f64 {
        match self.kind {
            ServiceKind::Error(_) => self.error_s,
            ServiceKind::Success | ServiceKind::Hang => {
                (self.ttft_s + self.per_token_s * f64::from(output_tokens))
                    * self.latency_multiplier
            }
        }
    }
}

impl ProviderModel {
    /// Draws an admitted attempt's fate from `rng`, in a fixed order (the error roll, the
    /// brownout roll, then the error's latency, or the time to first token and the
    /// per-token time) so that common random numbers line up: the event loop and `serve`
    /// both call this, and the k-th draw means the same thing in each.
    pub fn draw_service(
        &self,
        model_index: usize,
        conditions: Conditions,
        rng: &mut (impl rand::Rng + ?Sized),
    ) -> ServiceDraw {
        use rand::RngExt;
        let (fault_roll, brownout_roll) = (rng.random::<f64>(), rng.random::<f64>());
        let mut kind = self.errors.roll(fault_roll);
        if kind == ServiceKind::Success && brownout_roll < conditions.extra_error_rate {
            kind = ServiceKind::Error(conditions.extra_error);
        }
        let mut draw = ServiceDraw {
            kind,
            ttft_s: 0.0,
            per_token_s: 0.0,
            latency_multiplier: conditions.latency_multiplier,
            error_s: 0.0,
        };
        match kind {
            ServiceKind::Error(_) => draw.error_s = self.error_latency.sample(rng),
            ServiceKind::Success | ServiceKind::Hang => {
                let model = &self.models[model_index];
                draw.ttft_s = model.ttft.sample(rng);
                draw.per_token_s = model.per_token.sample(rng);
            }
        }
        draw
    }
}

/// The provider's verdict on an attempt that reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: the provider will serve it (now or after queueing); credits reserved.
    Accept { reserved_nusd: NanoUsd },
    /// Refused at once.
    Reject {
        failure: Failure,
        retry_after_ns: Option<Nanos>,
    },
    /// The connection never completes (hard down with `hang`).
    ConnectHang,
}

/// The provider's mutable state during a run.
#[derive(Debug)]
pub struct ProviderState {
    pub in_service: u32,
    pub queue: VecDeque<u32>,
    account_limits: Option<Limits>,
    /// Per model (by index); None where the model has no limits of its own.
    model_limits: Vec<Option<Limits>>,
    pub credits: Option<CreditAccount>,
    pub conditions: Conditions,
    /// Outage effects currently active, by id (scheduled index, or `RANDOM_OUTAGE_ID`).
    active_outages: Vec<(u32, OutageEffect)>,
}

pub const RANDOM_OUTAGE_ID: u32 = u32::MAX;

impl ProviderState {
    pub fn new(model: &ProviderModel) -> Self {
        ProviderState {
            in_service: 0,
            queue: VecDeque::new(),
            account_limits: model.limits.as_ref().map(Limits::new),
            model_limits: model
                .models
                .iter()
                .map(|m| m.limits.as_ref().map(Limits::new))
                .collect(),
            credits: model.credits.as_ref().map(CreditAccount::new),
            conditions: Conditions::NORMAL,
            active_outages: Vec::new(),
        }
    }

    pub fn outage_starts(&mut self, id: u32, effect: OutageEffect) {
        self.active_outages.push((id, effect));
        self.conditions = Conditions::combine(self.active_outages.iter().map(|(_, e)| *e));
    }

    pub fn outage_ends(&mut self, id: u32) {
        self.active_outages.retain(|(active, _)| *active != id);
        self.conditions = Conditions::combine(self.active_outages.iter().map(|(_, e)| *e));
    }

    /// Gateway checks, in order. Reserves rate-limit tokens and credits when accepting; the
    /// caller then starts the attempt's service or queues it (there is room for either).
    pub fn admit(
        &mut self,
        now: Nanos,
        provider: &ProviderModel,
        model_index: usize,
        input_tokens: u32,
        max_tokens: u32,
    ) -> Verdict {
        let model = &provider.models[model_index];
        match self.conditions.down {
            Some(DownBehaviour::Refuse) => return reject(Failure::ConnectionError, None),
            Some(DownBehaviour::Hang) => return Verdict::ConnectHang,
            Some(DownBehaviour::Status(failure)) => return reject(failure, None),
            None => {}
        }
        if input_tokens.saturating_add(max_tokens) > model.context_window {
            return reject(Failure::ContextLengthExceeded, None);
        }
        // What the call costs at most, reserved until its bill is settled (with credits;
        // without, no price is needed before the bill).
        let worst_cost = match &self.credits {
            Some(_) => model.cost_nusd(input_tokens, max_tokens),
            None => 0,
        };
        if let Some(credits) = &self.credits
            && credits.balance_nusd() < worst_cost
        {
            return reject(provider.credits_exhausted, None);
        }
        let charge = Charge {
            input_tokens,
            max_tokens,
        };
        // The account's limits, then the model's own: the worse refusal of the two.
        let mut refusal = Ok(());
        if let Some(limits) = &mut self.account_limits {
            refusal = limits.check(now, charge);
        }
        if let Some(limits) = &mut self.model_limits[model_index] {
            refusal = worst_refusal(refusal, limits.check(now, charge));
        }
        match refusal {
            Err(Refusal::TooLarge) => return reject(Failure::RequestTooLarge, None),
            Err(Refusal::Wait(wait_ns)) => {
                for limits in self.limits_of(model_index).into_iter().flatten() {
                    // OpenAI: "unsuccessful requests contribute to your per-minute limit".
                    limits.charge_refused(charge);
                }
                let retry_after = provider.retry_after.header(wait_ns);
                return reject(Failure::RateLimited, Some(retry_after));
            }
            Ok(()) => {}
        }
        if !self.has_free_slot(provider) && self.queue_full(provider) {
            return reject(provider.overload, None);
        }
        let reserved_nusd = match &mut self.credits {
            Some(credits) => {
                if !credits.try_reserve(worst_cost) {
                    // Covered by the balance but not by what other calls in flight left free.
                    return reject(provider.credits_exhausted, None);
                }
                worst_cost
            }
            None => 0,
        };
        for limits in self.limits_of(model_index).into_iter().flatten() {
            limits.take(charge);
        }
        Verdict::Accept { reserved_nusd }
    }

    /// The account's limits and the model's own, either possibly absent.
    fn limits_of(&mut self, model_index: usize) -> [Option<&mut Limits>; 2] {
        [
            self.account_limits.as_mut(),
            self.model_limits[model_index].as_mut(),
        ]
    }

    /// An answer ended (or was given up on by the provider): the output tokens reserved but
    /// not produced return to the OTPM buckets.
    pub fn output_settled(
        &mut self,
        now: Nanos,
        model_index: usize,
        max_tokens: u32,
        output_tokens: u32,
    ) {
        for limits in self.limits_of(model_index).into_iter().flatten() {
            limits.settle_output(now, max_tokens, output_tokens);
        }
    }

    /// The buckets a model's answers report in their rate-limit headers (RPM, TPM, ITPM,
    /// OTPM, each when limited): the model's own limits where it has them, else the
    /// account's, as the providers' headers describe the limit that applies to the model.
    pub fn limit_levels(&self, now: Nanos, model_index: usize) -> [Option<BucketLevel>; 4] {
        match (&self.model_limits[model_index], &self.account_limits) {
            (Some(own), _) => own.levels(now),
            (None, Some(account)) => account.levels(now),
            (None, None) => [None; 4],
        }
    }

    pub fn has_free_slot(&self, model: &ProviderModel) -> bool {
        model.slots.is_none_or(|slots| self.in_service < slots)
    }

    pub fn queue_full(&self, model: &ProviderModel) -> bool {
        self.queue.len() >= model.queue_limit as usize
    }
}

/// The worse of two verdicts of limits: too large beats a wait, a longer wait a shorter one.
fn worst_refusal(a: Result<(), Refusal>, b: Result<(), Refusal>) -> Result<(), Refusal> {
    match (a, b) {
        (Err(Refusal::TooLarge), _) | (_, Err(Refusal::TooLarge)) => Err(Refusal::TooLarge),
        (Err(Refusal::Wait(x)), Err(Refusal::Wait(y))) => Err(Refusal::Wait(x.max(y))),
        (Err(r), Ok(())) | (Ok(()), Err(r)) => Err(r),
        (Ok(()), Ok(())) => Ok(()),
    }
}

fn reject(failure: Failure, retry_after_ns: Option<Nanos>) -> Verdict {
    Verdict::Reject {
        failure,
        retry_after_ns,
    }
}
