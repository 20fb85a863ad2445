//! The two wire formats as the providers write them: request bodies read (model, stream,
//! `max_tokens`, the prompt's size), answers and errors written, headers named.
//!
//! Sources: OpenAI's API reference (Chat Completions: the `chat.completion` object, the
//! `chat.completion.chunk` stream ending in `data: [DONE]`, `stream_options.include_usage`
//! adding a last chunk with empty `choices` and the `usage`; error objects
//! `{"error": {"message", "type", "param", "code"}}`; headers `x-request-id`,
//! `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` with resets written like `6m0s`)
//! and Anthropic's (Messages: the `message` object; the stream's `message_start`,
//! `content_block_start`, `ping`, `content_block_delta`, `content_block_stop`,
//! `message_delta`, `message_stop` events and an `error` event inside a stream; errors
//! `{"type": "error", "error": {"type", "message"}, "request_id"}` with types
//! `invalid_request_error` 400, `billing_error` 402, `not_found_error` 404,
//! `request_too_large` 413, `rate_limit_error` 429, `api_error` 500, `overloaded_error` 529;
//! headers `request-id`, `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
//! {limit,remaining,reset}` with resets in RFC 3339).

use serde_json::{Value, json};

use crate::outcome::Failure;
use crate::ratelimit::BucketLevel;
use crate::requestlog::{AnnouncedLimit, RateLimitHeaders};

/// The wire format, chosen by the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

/// What the server needs of a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub stream: bool,
    /// OpenAI's `stream_options.include_usage`.
    pub include_usage: bool,
    pub max_tokens: Option<u32>,
    /// The prompt's tokens, estimated as a provider's gateway does before tokenizing: a
    /// token per four characters of text (OpenAI's rule of thumb), at least one.
    pub input_tokens: u32,
}

/// A request the provider refuses to read: the status, the error's type, the parameter
/// at fault and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest {
    pub status: u16,
    pub param: Option<&'static str>,
    pub message: String,
}

impl BadRequest {
    fn invalid(param: Option<&'static str>, message: impl Into<String>) -> Self {
        BadRequest {
            status: 400,
            param,
            message: message.into(),
        }
    }
}

/// Reads a chat request body in `format`.
pub fn parse_request(format: Format, body: &[u8]) -> Result<ChatRequest, BadRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        BadRequest::invalid(
            None,
            format!("We could not parse the JSON body of your request: {e}"),
        )
    })?;
    let Value::Object(fields) = &value else {
        return Err(BadRequest::invalid(None, "The body must be a JSON object."));
    };
    let model = match fields.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => {
            return Err(BadRequest::invalid(
                Some("model"),
                "model: must be a string",
            ));
        }
        None => {
            return Err(BadRequest::invalid(
                Some("model"),
                "you must provide a model parameter",
            ));
        }
    };
    let Some(Value::Array(messages)) = fields.get("messages") else {
        return Err(BadRequest::invalid(
            Some("messages"),
            "messages: Field required (an array of messages)",
        ));
    };
    if messages.is_empty() {
        return Err(BadRequest::invalid(
            Some("messages"),
            "messages: at least one message is required",
        ));
    }
    let stream = match fields.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(BadRequest::invalid(
                Some("stream"),
                "stream: must be a boolean",
            ));
        }
    };
    let include_usage = fields
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let names: &[&'static str] = match format {
        Format::OpenAi => &["max_completion_tokens", "max_tokens"],
        Format::Anthropic => &["max_tokens"],
    };
    let mut max_tokens = None;
    for name in names {
        match fields.get(*name) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_u64() {
                Some(n) if (1..=u64::from(u32::MAX)).contains(&n) => {
                    max_tokens = Some(n as u32);
                    break;
                }
                _ => {
                    return Err(BadRequest::invalid(
                        Some(name),
                        format!("{name}: must be a positive integer"),
                    ));
                }
            },
        }
    }
    if format == Format::Anthropic && max_tokens.is_none() {
        return Err(BadRequest::invalid(
            Some("max_tokens"),
            "max_tokens: Field required",
        ));
    }
    let mut chars = 0usize;
    for message in messages {
        chars += text_chars(message.get("content").unwrap_or(&Value::Null));
    }
    chars += text_chars(fields.get("system").unwrap_or(&Value::Null));
    let input_tokens = u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX).max(1);
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        max_tokens,
        input_tokens,
    })
}

/// Characters of text in a message's content: a string, or an array of blocks with `text`.
fn text_chars(content: &Value) -> usize {
    match content {
        Value::String(s) => s.chars().count(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| b.get("text").map_or(0, text_chars))
            .sum(),
        _ => 0,
    }
}

/// How the provider's error for a failure looks: HTTP status, OpenAI's `type` and `code`,
/// Anthropic's `type`, and the message.
pub struct ErrorShape {
    pub status: u16,
    pub openai_type: &'static str,
    pub openai_code: Option<&'static str>,
    pub anthropic_type: &'static str,
    pub message: String,
}

/// The error the provider sends for a failure of its own (a refusal at the gateway, a
/// background error, an outage's status). `refused_requests` tells OpenAI's two kinds of
/// rate-limit 429 apart (its `type` is `requests` or `tokens`).
pub fn error_shape(failure: Failure, model: &str, refused_requests: bool) -> ErrorShape {
    let shape = |status, openai_type, openai_code, anthropic_type, message: String| ErrorShape {
        status,
        openai_type,
        openai_code,
        anthropic_type,
        message,
    };
    match failure {
        Failure::RateLimited => {
            let (kind, what) = if refused_requests {
                ("requests", "requests per min (RPM)")
            } else {
                ("tokens", "tokens per min (TPM)")
            };
            shape(
                429,
                kind,
                Some("rate_limit_exceeded"),
                "rate_limit_error",
                format!("Rate limit reached for {model} on {what}. Please try again later."),
            )
        }
        Failure::RequestTooLarge => shape(
            429,
            "tokens",
            Some("rate_limit_exceeded"),
            "rate_limit_error",
            format!("Request too large for {model} on tokens per min (TPM)."),
        ),
        Failure::InsufficientQuota => shape(
            429,
            "insufficient_quota",
            Some("insufficient_quota"),
            "rate_limit_error",
            "You exceeded your current quota, please check your plan and billing details.".into(),
        ),
        Failure::InsufficientCredits => shape(
            402,
            "billing_error",
            Some("insufficient_credits"),
            "billing_error",
            "Your credit balance is too low to access the API. Please go to Plans & Billing \
             to upgrade or purchase credits."
                .into(),
        ),
        Failure::ContextLengthExceeded => shape(
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
            "invalid_request_error",
            format!(
                "This model's maximum context length is exceeded: the prompt plus max_tokens \
                 is longer than {model} accepts."
            ),
        ),
        Failure::Http500 => shape(
            500,
            "server_error",
            None,
            "api_error",
            "The server had an error while processing your request. Sorry about that!".into(),
        ),
        Failure::Http502 => shape(
            502,
            "server_error",
            None,
            "api_error",
            "Bad gateway.".into(),
        ),
        Failure::Http503 => shape(
            503,
            "server_error",
            None,
            "api_error",
            "The server is overloaded or not ready yet.".into(),
        ),
        Failure::Http529 => shape(
            529,
            "server_error",
            None,
            "overloaded_error",
            "Overloaded".into(),
        ),
        // Failures a provider never answers with (timeouts, the client's own refusals):
        // not produced by the provider model, so only a defensive default.
        other => shape(
            500,
            "server_error",
            None,
            "api_error",
            other.message().into(),
        ),
    }
}

/// An error body in `format`.
pub fn error_body(
    format: Format,
    status_type: (&str, Option<&str>, &str),
    message: &str,
    param: Option<&str>,
    request_id: &str,
) -> Value {
    let (openai_type, openai_code, anthropic_type) = status_type;
    match format {
        Format::OpenAi => json!({
            "error": {
                "message": message,
                "type": openai_type,
                "param": param,
                "code": openai_code,
            }
        }),
        Format::Anthropic => json!({
            "type": "error",
            "error": { "type": anthropic_type, "message": message },
            "request_id": request_id,
        }),
    }
}

/// The body of a 400, 404 or 413 the server itself decides (not the provider model).
pub fn request_error_body(
    format: Format,
    status: u16,
    message: &str,
    param: Option<&str>,
    request_id: &str,
) -> Value {
    let (openai, code, anthropic) = match status {
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "not_found_error",
        ),
        405 => ("invalid_request_error", None, "invalid_request_error"),
        413 => ("invalid_request_error", None, "request_too_large"),
        503 => ("server_error", None, "api_error"),
        _ => ("invalid_request_error", None, "invalid_request_error"),
    };
    error_body(
        format,
        (openai, code, anthropic),
        message,
        param,
        request_id,
    )
}

/// Deterministic filler: the i-th token of request `request_index`'s answer, a word with
/// its leading space (one token each, as tokenizers count common English words).
pub fn token(request_index: u64, i: u32) -> &'static str {
    const WORDS: [&str; 32] = [
        " the",
        " world",
        " answers",
        " as",
        " the",
        " scenario",
        " says",
        " with",
        " its",
        " latency",
        " and",
        " errors",
        " a",
        " token",
        " at",
        " a",
        " time",
        " so",
        " that",
        " your",
        " client",
        " meets",
        " rate",
        " limits",
        " outages",
        " and",
        " queues",
        " before",
        " production",
        " does",
        " it",
        " for",
    ];
    let n = WORDS.len() as u64;
    WORDS[((request_index.wrapping_mul(7)).wrapping_add(u64::from(i)) % n) as usize]
}

/// The whole answer's text (`output_tokens` filler tokens, the leading space trimmed).
pub fn answer_text(request_index: u64, output_tokens: u32) -> String {
    let text: String = (0..output_tokens)
        .map(|i| token(request_index, i))
        .collect();
    text.trim_start().to_string()
}

/// A non-streamed answer in `format`.
pub fn answer_body(format: Format, answer: &Answer) -> Value {
    let text = answer_text(answer.request_index, answer.output_tokens);
    match format {
        Format::OpenAi => json!({
            "id": format!("chatcmpl-{}", answer.id),
            "object": "chat.completion",
            "created": answer.created_s,
            "model": answer.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text, "refusal": null },
                "logprobs": null,
                "finish_reason": answer.finish_reason(format),
            }],
            "usage": openai_usage(answer),
            "system_fingerprint": null,
        }),
        Format::Anthropic => json!({
            "id": format!("msg_{}", answer.id),
            "type": "message",
            "role": "assistant",
            "model": answer.model,
            "content": [{ "type": "text", "text": text }],
            "stop_reason": answer.finish_reason(format),
            "stop_sequence": null,
            "usage": { "input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens },
        }),
    }
}

fn openai_usage(answer: &Answer) -> Value {
    json!({
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": u64::from(answer.input_tokens) + u64::from(answer.output_tokens),
    })
}

/// What an answer says about itself.
pub struct Answer {
    pub id: String,
    pub request_index: u64,
    pub model: String,
    pub created_s: u64,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// The answer stopped at `max_tokens`.
    pub truncated: bool,
    pub include_usage: bool,
}

impl Answer {
    fn finish_reason(&self, format: Format) -> &'static str {
        match (format, self.truncated) {
            (Format::OpenAi, false) => "stop",
            (Format::OpenAi, true) => "length",
            (Format::Anthropic, false) => "end_turn",
            (Format::Anthropic, true) => "max_tokens",
        }
    }
}

/// One server-sent event: `event:` (Anthropic names its events) and `data:`.
fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// The stream's opening events, sent when the service starts (before the first token).
pub fn stream_head(format: Format, answer: &Answer) -> String {
    match format {
        // OpenAI's first chunk carries the role; it comes with the first token.
        Format::OpenAi => String::new(),
        Format::Anthropic => {
            let start = json!({
                "type": "message_start",
                "message": {
                    "id": format!("msg_{}", answer.id),
                    "type": "message",
                    "role": "assistant",
                    "model": answer.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": { "input_tokens": answer.input_tokens, "output_tokens": 1 },
                }
            });
            let block = json!({
                "type": "content_block_start",
                "index": 0,
                "content_block": { "type": "text", "text": "" },
            });
            let mut out = sse(Some("message_start"), &start);
            out.push_str(&sse(Some("content_block_start"), &block));
            out.push_str(&sse(Some("ping"), &json!({ "type": "ping" })));
            out
        }
    }
}

/// Tokens `from..to` of the answer as stream events (one event for the batch).
pub fn stream_tokens(format: Format, answer: &Answer, from: u32, to: u32) -> String {
    let text: String = (from..to).map(|i| token(answer.request_index, i)).collect();
    let text = if from == 0 { text.trim_start() } else { &text };
    match format {
        Format::OpenAi => {
            let mut out = String::new();
            if from == 0 {
                let delta = json!({ "role": "assistant", "content": "", "refusal": null });
                out.push_str(&sse(None, &openai_chunk(answer, delta, None)));
            }
            let delta = json!({ "content": text });
            out.push_str(&sse(None, &openai_chunk(answer, delta, None)));
            out
        }
        Format::Anthropic => sse(
            Some("content_block_delta"),
            &json!({
                "type": "content_block_delta",
                "index": 0,
                "delta": { "type": "text_delta", "text": text },
            }),
        ),
    }
}

fn openai_chunk(answer: &Answer, delta: Value, finish: Option<&str>) -> Value {
    let mut chunk = json!({
        "id": format!("chatcmpl-{}", answer.id),
        "object": "chat.completion.chunk",
        "created": answer.created_s,
        "model": answer.model,
        "system_fingerprint": null,
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
    });
    if answer.include_usage {
        chunk["usage"] = Value::Null;
    }
    chunk
}

/// The stream's closing events, at the end of the service.
pub fn stream_tail(format: Format, answer: &Answer) -> String {
    match format {
        Format::OpenAi => {
            let reason = answer.finish_reason(format);
            let mut out = sse(None, &openai_chunk(answer, json!({}), Some(reason)));
            if answer.include_usage {
                let mut last = openai_chunk(answer, json!({}), None);
                last["choices"] = json!([]);
                last["usage"] = openai_usage(answer);
                out.push_str(&sse(None, &last));
            }
            out.push_str("data: [DONE]\n\n");
            out
        }
        Format::Anthropic => {
            let mut out = sse(
                Some("content_block_stop"),
                &json!({ "type": "content_block_stop", "index": 0 }),
            );
            out.push_str(&sse(
                Some("message_delta"),
                &json!({
                    "type": "message_delta",
                    "delta": { "stop_reason": answer.finish_reason(format), "stop_sequence": null },
                    "usage": { "output_tokens": answer.output_tokens },
                }),
            ));
            out.push_str(&sse(
                Some("message_stop"),
                &json!({ "type": "message_stop" }),
            ));
            out
        }
    }
}

/// An error inside a stream already begun (a hard outage took the work down): Anthropic's
/// `error` event; for OpenAI a `data:` line holding the error object, which the SDKs raise.
pub fn stream_error(format: Format, shape: &ErrorShape, request_id: &str) -> String {
    let types = (shape.openai_type, shape.openai_code, shape.anthropic_type);
    let body = error_body(format, types, &shape.message, None, request_id);
    match format {
        Format::OpenAi => sse(None, &body),
        Format::Anthropic => sse(Some("error"), &body),
    }
}

/// The rate-limit headers of an answer: OpenAI's `x-ratelimit-*` (requests from RPM,
/// tokens from TPM) or Anthropic's `anthropic-ratelimit-*` (requests, tokens, input-tokens,
/// output-tokens), each limit with what remains and when it is full again, in wall time
/// (`scale` world-seconds per wall second). `now_unix_ns` dates Anthropic's resets.
pub fn ratelimit_headers(
    format: Format,
    levels: &[Option<BucketLevel>; 4],
    scale: f64,
    now_unix_ns: u128,
) -> Vec<(String, String)> {
    let [rpm, tpm, itpm, otpm] = levels;
    let named: Vec<(&Option<BucketLevel>, &str)> = match format {
        Format::OpenAi => vec![(rpm, "requests"), (tpm, "tokens")],
        Format::Anthropic => vec![
            (rpm, "requests"),
            (tpm, "tokens"),
            (itpm, "input-tokens"),
            (otpm, "output-tokens"),
        ],
    };
    let mut out = Vec::new();
    for (level, what) in named {
        let Some(level) = level else { continue };
        let reset_ns = (level.full_in_ns as f64 / scale) as u128;
        let announced = announce(level);
        let (limit, remaining) = (announced.limit.to_string(), announced.remaining.to_string());
        match format {
            Format::OpenAi => {
                out.push((format!("x-ratelimit-limit-{what}"), limit));
                out.push((format!("x-ratelimit-remaining-{what}"), remaining));
                out.push((format!("x-ratelimit-reset-{what}"), go_duration(reset_ns)));
            }
            Format::Anthropic => {
                let reset = rfc3339(now_unix_ns + reset_ns);
                out.push((format!("anthropic-ratelimit-{what}-limit"), limit));
                out.push((format!("anthropic-ratelimit-{what}-remaining"), remaining));
                out.push((format!("anthropic-ratelimit-{what}-reset"), reset));
            }
        }
    }
    out
}

/// A bucket's level as the headers write it: the limit per minute rounded, what remains
/// rounded down (a request needs a whole one).
fn announce(level: &BucketLevel) -> AnnouncedLimit {
    AnnouncedLimit {
        limit: level.per_minute.round() as u64,
        remaining: level.remaining.floor() as u64,
    }
}

/// What `ratelimit_headers` announces of the request and token limits (`requests`,
/// `tokens` in both formats: RPM and TPM), for the request log: the same numbers, from the
/// same levels.
pub fn announced_limits(levels: &[Option<BucketLevel>; 4]) -> RateLimitHeaders {
    let [rpm, tpm, ..] = levels;
    RateLimitHeaders {
        requests: rpm.as_ref().map(announce),
        tokens: tpm.as_ref().map(announce),
    }
}

/// A duration as OpenAI writes its resets: `20ms`, `1.5s`, `6m0s`.
pub fn go_duration(ns: u128) -> String {
    const MS: u128 = 1_000_000;
    const S: u128 = 1_000 * MS;
    if ns < S {
        return format!("{}ms", ns.div_ceil(MS));
    }
    let ms = ns.div_ceil(MS);
    let (minutes, ms_rest) = (ms / 60_000, ms % 60_000);
    let seconds = if ms_rest % 1_000 == 0 {
        format!("{}", ms_rest / 1_000)
    } else {
        let text = format!("{:.3}", ms_rest as f64 / 1_000.0);
        text.trim_end_matches('0').to_string()
    };
    if minutes == 0 {
        format!("{seconds}s")
    } else {
        format!("{minutes}m{seconds}s")
    }
}

/// A Unix time in nanoseconds as RFC 3339 UTC to the second, rounded up
/// (`2026-12-02T05:40:01Z`).
pub fn rfc3339(unix_ns: u128) -> String {
    let secs = unix_ns.div_ceil(1_000_000_000) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_written_as_the_providers_write_them() {
        assert_eq!(go_duration(20_000_000), "20ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(360_000_000_000), "6m0s");
        assert_eq!(go_duration(61_250_000_000), "1m1.25s");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2026-12-02T05:40:00Z, and a part of a second rounds up.
        assert_eq!(rfc3339(1_796_190_000_000_000_000), "2026-12-02T05:40:00Z");
        assert_eq!(rfc3339(1_796_190_000_000_000_001), "2026-12-02T05:40:01Z");
    }

    #[test]
    fn requests_are_read_and_bad_ones_named() {
        let ok = br#"{"model":"m","messages":[{"role":"user","content":"12345678"}],
                     "stream":true,"stream_options":{"include_usage":true},"max_tokens":7}"#;
        let r = parse_request(Format::OpenAi, ok).unwrap();
        assert_eq!(
            (r.model.as_str(), r.stream, r.include_usage),
            ("m", true, true)
        );
        assert_eq!((r.max_tokens, r.input_tokens), (Some(7), 2));
        let e = parse_request(Format::Anthropic, br#"{"model":"m","messages":[{}]}"#);
        assert_eq!(e.unwrap_err().param, Some("max_tokens"));
        let e = parse_request(Format::OpenAi, b"{not json").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("parse the JSON"), "{}", e.message);
    }

    #[test]
    fn filler_has_one_word_per_token_and_depends_on_the_request_only() {
        let text = answer_text(5, 40);
        assert_eq!(text.split(' ').count(), 40);
        assert_eq!(text, answer_text(5, 40));
        assert_ne!(text, answer_text(6, 40));
    }
}
