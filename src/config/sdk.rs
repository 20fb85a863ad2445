//! Export only: the arguments of an `OpenAI(...)` / `Anthropic(...)` client, and a tenacity
//! `@retry` decorator when the policy needs more than the SDK's own retry loop.
//!
//! Follows openai-python 3.x and anthropic-python 2.x (`_constants.py`, `_base_client.py`:
//! `max_retries`, `timeout=httpx.Timeout(total, connect=...)`, the retry rule and backoff the
//! `openai-python` and `anthropic-python` presets cite) and tenacity 9.x (tenacity.readthedocs.io
//! "API Reference": `stop_after_attempt`, `wait_fixed`, `wait_incrementing`,
//! `wait_exponential`, `wait_random_exponential`, `wait_random`, `retry_if_exception_type`).
//!
//! When the policy's retry is exactly the SDK's (its backoff, its Retry-After rule, its
//! retried failures), the client's `max_retries` says it all. Otherwise the SDK's loop is
//! turned off (`max_retries=0`) and tenacity retries: its waits cover constant, linear and
//! exponential backoff, no jitter, full jitter (`wait_random_exponential`) and LiteLLM's
//! additive jitter (`+ wait_random`); it reads no Retry-After header.
//!
//! The SDKs sleep a Retry-After in place of the backoff (`combine: "replace"`, as their
//! presets): a policy that maxes the two is not the SDK's own loop, and tenacity reads no
//! header, so it is refused. They have no breaker (`applies_to`, `assignment` with it).

use super::{Part, lose_unsaid};
use super::{Source, litellm::header, secs};
use crate::outcome::{Failure, FailureSet};
use crate::policy::backoff::{BackoffKind, Jitter};
use crate::scenario::limits::MAX_DURATION_NS;
use crate::time::Nanos;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    Openai,
    Anthropic,
}

impl Sdk {
    fn module(self) -> &'static str {
        match self {
            Sdk::Openai => "openai",
            Sdk::Anthropic => "anthropic",
        }
    }

    fn client(self) -> &'static str {
        match self {
            Sdk::Openai => "OpenAI",
            Sdk::Anthropic => "Anthropic",
        }
    }

    fn preset(self) -> &'static str {
        match self {
            Sdk::Openai => "openai-python",
            Sdk::Anthropic => "anthropic-python",
        }
    }
}

/// The SDK's exception classes and the failures each is raised for: a 429 is a
/// RateLimitError whatever its kind (OpenAI's `insufficient_quota` and a request over the
/// TPM limit, `request_too_large`, included), as the presets' retried set says; a 402
/// (`insufficient_credits`) is a plain APIStatusError, which the SDKs never retry.
const EXCEPTIONS: &[(&str, &[&str])] = &[
    ("APITimeoutError", &["timeout", "connect_timeout"]),
    ("APIConnectionError", &["connection_error"]),
    (
        "RateLimitError",
        &["rate_limited", "insufficient_quota", "request_too_large"],
    ),
    ("InternalServerError", &["5xx"]),
    ("BadRequestError", &["context_length_exceeded"]),
];

fn set(names: &[&str]) -> FailureSet {
    FailureSet::parse(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("valid names")
}

fn float(ns: Nanos) -> String {
    let s = secs(ns);
    if s.contains('.') { s } else { format!("{s}.0") }
}

pub fn export(src: &Source, sdk: Sdk, lost: &mut Vec<String>) -> String {
    let pol = src.policy();
    let preset = crate::scenario::parse("preset.json", &preset_scenario(src, sdk))
        .expect("a preset in the exported scenario's world loads")
        .scenarios
        .remove(0);
    let own = &preset.groups[0].policy.retry;
    let r = &pol.retry;
    let sdk_backoff = format!("{:?}", r.backoff) == format!("{:?}", own.backoff);
    let sdk_retry_after = format!("{:?}", r.retry_after) == format!("{:?}", own.retry_after);
    let plain = sdk_backoff
        && sdk_retry_after
        && r.retry_on == own.retry_on
        && pol.deadline_ns == Nanos::MAX;
    let attempts = pol.chain[0].attempts;
    let m = sdk.module();

    let mut py = String::new();
    py.push_str(&format!(
        "import httpx\nimport {m}\nfrom {m} import {}\n",
        sdk.client()
    ));
    if !plain {
        py.push_str("from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_fixed, wait_incrementing, wait_random, wait_random_exponential\n");
    }
    py.push('\n');
    if pol.attempt_timeout_ns >= MAX_DURATION_NS {
        lost.push("timeout.total none: the SDK always has a timeout".into());
    }
    let timeout = if pol.connect_timeout_ns >= MAX_DURATION_NS {
        format!("httpx.Timeout({})", float(pol.attempt_timeout_ns))
    } else {
        format!(
            "httpx.Timeout({}, connect={})",
            float(pol.attempt_timeout_ns),
            float(pol.connect_timeout_ns)
        )
    };
    let max_retries = if plain { attempts - 1 } else { 0 };
    py.push_str(&format!(
        "client = {}(\n    max_retries={max_retries},  # {}\n    timeout={timeout},  # timeout.total and timeout.connect, {}\n)\n",
        sdk.client(),
        if plain {
            format!("retry.max_attempts {attempts}, {}", src.origin("retry.max_attempts"))
        } else {
            "the SDK's own retries off: tenacity retries below".into()
        },
        src.origin("timeout.total"),
    ));
    if !plain {
        let exceptions = exceptions(r.retry_on, m, lost);
        let wait = wait(r.backoff, lost);
        if r.retry_after.honour {
            lost.push("retry.retry_after: tenacity reads no Retry-After header".into());
        }
        if pol.deadline_ns != Nanos::MAX {
            lost.push(
                "deadline: tenacity's stop_after_delay does not cut an attempt in flight".into(),
            );
        }
        py.push_str(&format!(
            "\n\n@retry(\n    stop=stop_after_attempt({attempts}),  # retry.max_attempts, {}\n    wait={wait},  # retry.backoff, {}\n    retry=retry_if_exception_type(({exceptions})),  # retry.retry_on, {}\n    reraise=True,\n)\ndef create(**kwargs):\n    return client.{}(**kwargs)\n",
            src.origin("retry.max_attempts"),
            src.origin("retry.backoff"),
            src.origin("retry.retry_on"),
            match sdk {
                Sdk::Openai => "chat.completions.create",
                Sdk::Anthropic => "messages.create",
            }
        ));
    }
    common_losses(src, lost);
    let mut out: String = header(src, lost)
        .iter()
        .map(|l| format!("# {l}\n"))
        .collect();
    out.push_str(&py);
    out
}

/// The exported world's scenario with the SDK's preset as the group's policy, to compare
/// the policy's retry with the SDK's own.
fn preset_scenario(src: &Source, sdk: Sdk) -> String {
    let providers: Vec<serde_json::Value> = src
        .scenario
        .providers
        .iter()
        .map(|p| serde_json::json!({ "name": p.name, "models": p.models.iter().map(|m| serde_json::json!({ "name": m.name, "input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "ttft": "1s", "per_token": "1ms" })).collect::<Vec<_>>() }))
        .collect();
    serde_json::json!({
        "name": "preset",
        "duration": "1s",
        "traffic": [{
            "name": "g",
            "arrivals": { "type": "poisson", "rate": "1/s" },
            "request": { "model": src.model(0), "provider": src.provider(0), "input_tokens": 1, "output_tokens": 1 },
            "policy": { "preset": sdk.preset() }
        }],
        "providers": providers
    })
    .to_string()
}

fn exceptions(retry_on: FailureSet, m: &str, lost: &mut Vec<String>) -> String {
    let mut names = Vec::new();
    let mut covered = FailureSet::EMPTY;
    for (class, failures) in EXCEPTIONS {
        let group = set(failures);
        let members: Vec<Failure> = Failure::ALL
            .iter()
            .copied()
            .filter(|f| group.contains(*f))
            .collect();
        let inside = members.iter().filter(|f| retry_on.contains(**f)).count();
        if inside == members.len() {
            names.push(format!("{m}.{class}"));
            covered = members.iter().fold(covered, |s, f| s.with(*f));
        } else if inside > 0 {
            lost.push(format!(
                "retry.retry_on: {m}.{class} is raised for {}; the policy retries only some of them",
                group.names().join(", ")
            ));
        }
    }
    let rest: Vec<&str> = retry_on
        .names()
        .into_iter()
        .filter(|n| !covered.names().contains(n))
        .collect();
    if !rest.is_empty() && !lost.iter().any(|l| l.starts_with("retry.retry_on")) {
        lost.push(format!(
            "retry.retry_on {}: no SDK exception for these",
            rest.join(", ")
        ));
    }
    if names.len() == 1 {
        format!("{},", names[0])
    } else {
        names.join(", ")
    }
}

fn wait(b: crate::policy::backoff::Backoff, lost: &mut Vec<String>) -> String {
    let base = float(b.base_ns);
    let cap = if b.cap_ns >= MAX_DURATION_NS {
        String::new()
    } else {
        format!(", max={}", float(b.cap_ns))
    };
    let nominal = match b.kind {
        BackoffKind::Constant => format!("wait_fixed({base})"),
        BackoffKind::Linear => format!("wait_incrementing(start={base}, increment={base}{cap})"),
        BackoffKind::Exponential => format!(
            "wait_exponential(multiplier={base}, exp_base={}{cap})",
            super::num(b.multiplier)
        ),
    };
    match (b.kind, b.jitter) {
        (_, Jitter::None) => nominal,
        (_, Jitter::Additive { max_ns }) => {
            format!("{nominal} + wait_random(0, {})", float(max_ns))
        }
        (BackoffKind::Exponential, Jitter::Full) => {
            format!(
                "wait_random_exponential(multiplier={base}, exp_base={}{cap})",
                super::num(b.multiplier)
            )
        }
        (kind, jitter) => {
            lost.push(format!(
                "retry.backoff {kind:?} with {jitter:?}: no tenacity wait draws that jitter"
            ));
            nominal
        }
    }
}

fn common_losses(src: &Source, lost: &mut Vec<String>) {
    let pol = src.policy();
    lose_unsaid(
        pol,
        lost,
        &[
            (
                Part::Fallback,
                "another model is application code, not a client argument",
            ),
            (Part::Breaker, "the SDKs have none"),
            (Part::OuterRetries, "not exported"),
            (Part::RetryBudget, "the SDKs have none"),
            (Part::AdaptiveThrottling, "the SDKs have none"),
            (Part::Cooldown, "LiteLLM's, not the SDK's"),
            (Part::CreditCheck, "application code"),
            (Part::Hedging, "the SDKs do not hedge"),
            (Part::RateLimiter, "the SDKs have none"),
            (Part::Bulkhead, "the SDKs have none"),
        ],
    );
}
