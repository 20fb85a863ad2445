//! The log formats `fit` reads, each turned into one `Obs` per attempt:
//!
//! * `aichaos`: the request log of `run --request-log` (docs/src/guides/fit.md, "Request logs: the format");
//! * `otel`: OpenTelemetry spans exported as OTLP JSON (`resourceSpans[].scopeSpans[].spans[]`,
//!   one export request per line as the OTLP file exporter writes, or pretty-printed), read
//!   with the GenAI semantic conventions' inference client span (`gen_ai.client.inference`,
//!   in the GenAI conventions repository `open-telemetry/semantic-conventions-genai`,
//!   `docs/gen-ai/client-inference.md`, status Development, read 2026-12; the GenAI pages
//!   of `open-telemetry/semantic-conventions` up to v1.41.0 moved there):
//!   `gen_ai.provider.name` (or the older `gen_ai.system`), `gen_ai.request.model` (or
//!   `gen_ai.response.model`), `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`,
//!   `error.type` and `http.response.status_code`, the span's start and end. Time to first
//!   token: the span attribute `gen_ai.response.time_to_first_chunk` (double, seconds,
//!   "Recommended if the request was a streaming request"). The conventions' other names for
//!   it are metrics, not span attributes (`gen_ai.client.operation.time_to_first_chunk` of
//!   semantic-conventions v1.41.0's `gen-ai-metrics.md`, now
//!   `gen_ai.client.inference.time_to_first_chunk`, and the model server's
//!   `gen_ai.server.time_to_first_token`); two instrumentations put such a name on the span
//!   anyway, and are read as alternatives (`TTFT_ATTRIBUTES`): OpenLIT's
//!   `gen_ai.server.time_to_first_token` and Sentry's `gen_ai.response.time_to_first_token`,
//!   both in seconds;
//! * `columns`: any CSV or JSON lines with `--column NAME=COLUMN` naming the columns (a
//!   LiteLLM or proxy log). Durations and times take their unit from the column's name
//!   (`_ns`, `_us`, `_ms`, else seconds).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;

use serde_json::Value;

use super::limits::LoggedLimits;
use crate::table::Rows;
use crate::traffic::TimeUnit;

/// What became of an attempt, as far as fitting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    RateLimited,
    /// A server error with its status (500, 502, 503, 529...).
    ServerError(u16),
    Timeout,
    Connection,
    /// Anything else (a 400, a 402, a client's own failure): counted, not modelled.
    Other,
}

impl Outcome {
    fn from_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Ok,
            429 => Outcome::RateLimited,
            500..=599 => Outcome::ServerError(status),
            _ => Outcome::Other,
        }
    }

    /// From an outcome's name (aichaos's, or an `error.type`).
    fn from_name(name: &str, status: Option<u16>) -> Outcome {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "ok" | "success" | "succeeded" => Outcome::Ok,
            "rate_limited" | "request_too_large" | "ratelimiterror" => Outcome::RateLimited,
            "connection_error" | "apiconnectionerror" => Outcome::Connection,
            // `serve --request-log`: the client gave up before the answer, which the
            // simulator's own logs call a timeout (a hang is found by them).
            "client_closed" => Outcome::Timeout,
            _ if lower.contains("timeout") || lower == "deadline_exceeded" => Outcome::Timeout,
            _ if lower.starts_with("http_") => lower[5..]
                .parse()
                .map_or(Outcome::Other, Outcome::from_status),
            _ => match lower.parse::<u16>() {
                Ok(code) => Outcome::from_status(code),
                Err(_) => status.map_or(Outcome::Other, Outcome::from_status),
            },
        }
    }
}

/// One attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Obs {
    /// When it was sent, ns on the log's own clock.
    pub t_ns: i64,
    pub request: Option<String>,
    pub attempt: Option<u32>,
    pub provider: String,
    pub model: String,
    pub outcome: Outcome,
    pub latency_s: Option<f64>,
    pub ttft_s: Option<f64>,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    /// What the response's rate-limit headers said, when logged.
    pub ratelimit: LoggedLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Aichaos,
    Otel,
    Columns,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format, String> {
        match name {
            "aichaos" => Ok(Format::Aichaos),
            "otel" => Ok(Format::Otel),
            "columns" => Ok(Format::Columns),
            other => Err(format!(
                "unknown format `{other}`; use aichaos, otel or columns"
            )),
        }
    }
}

/// The logical fields of a record, and the column names aichaos's own log uses.
pub const FIELDS: [(&str, &str); 10] = [
    ("time", "t_ns"),
    ("request_id", "request_id"),
    ("attempt", "attempt"),
    ("provider", "provider"),
    ("model", "model"),
    ("status", "status"),
    ("outcome", "outcome"),
    ("latency", "latency_ns"),
    ("ttft", "ttft_ns"),
    ("input_tokens", "input_tokens"),
];
const OUTPUT_TOKENS: (&str, &str) = ("output_tokens", "output_tokens");

/// The rate-limit header fields (optional in every format): the request log's column, then
/// the headers a proxy may have logged under their own names, OpenAI's and Anthropic's,
/// looked for when `--column` does not name a column for the field.
pub const RATELIMIT_FIELDS: [[&str; 3]; 4] = [
    [
        "ratelimit_limit_requests",
        "x-ratelimit-limit-requests",
        "anthropic-ratelimit-requests-limit",
    ],
    [
        "ratelimit_remaining_requests",
        "x-ratelimit-remaining-requests",
        "anthropic-ratelimit-requests-remaining",
    ],
    [
        "ratelimit_limit_tokens",
        "x-ratelimit-limit-tokens",
        "anthropic-ratelimit-tokens-limit",
    ],
    [
        "ratelimit_remaining_tokens",
        "x-ratelimit-remaining-tokens",
        "anthropic-ratelimit-tokens-remaining",
    ],
];

/// Column names by logical field: aichaos's own, with `--column` overriding.
pub fn columns(mapping: &[(String, String)]) -> Result<BTreeMap<String, String>, String> {
    let mut map: BTreeMap<String, String> = FIELDS
        .iter()
        .chain([&OUTPUT_TOKENS])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(
            RATELIMIT_FIELDS
                .iter()
                .map(|[f, ..]| (f.to_string(), f.to_string())),
        )
        .collect();
    for (field, column) in mapping {
        if !map.contains_key(field) {
            let names: Vec<&String> = map.keys().collect();
            return Err(format!(
                "unknown field `{field}` in --column; fields: {}",
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        map.insert(field.clone(), column.clone());
    }
    Ok(map)
}

/// Lines that could not be read: how many, and the first few with their reasons.
#[derive(Debug, Clone, Default)]
pub struct Unreadable {
    pub count: u64,
    pub first: Vec<String>,
}

/// How many unreadable lines are quoted (the rest are only counted).
const QUOTED: usize = 5;

impl Unreadable {
    fn push(&mut self, file: &Path, line: u64, reason: &str) {
        self.count += 1;
        if self.first.len() < QUOTED {
            self.first
                .push(format!("{}: line {line}: {reason}", file.display()));
        }
    }
}

/// The format of `path`, detected from its first record: aichaos's columns, OTLP's
/// `resourceSpans`, or neither (columns, which need `--column`).
pub fn detect(path: &Path) -> Result<Format, String> {
    if crate::requestlog::LogFormat::for_path(path) == crate::requestlog::LogFormat::JsonLines {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let mut stream =
            serde_json::Deserializer::from_reader(BufReader::new(file)).into_iter::<Value>();
        if let Some(Ok(Value::Object(first))) = stream.next() {
            if first.contains_key("resourceSpans") {
                return Ok(Format::Otel);
            }
            if first.contains_key("t_ns") && first.contains_key("outcome") {
                return Ok(Format::Aichaos);
            }
        }
        return Ok(Format::Columns);
    }
    let rows = Rows::open(path)?;
    let headers = rows.headers().unwrap_or(&[]);
    Ok(
        if headers.iter().any(|h| h == "t_ns") && headers.iter().any(|h| h == "outcome") {
            Format::Aichaos
        } else {
            Format::Columns
        },
    )
}

fn unit_of(column: &str) -> TimeUnit {
    TimeUnit::from_column_name(column)
}

fn seconds(text: &str, column: &str) -> Result<f64, String> {
    let x: f64 = text
        .parse()
        .map_err(|_| format!("`{column}`: `{text}` is not a number"))?;
    if !x.is_finite() || x < 0.0 {
        return Err(format!("`{column}`: `{text}` is not a duration >= 0"));
    }
    Ok(x * unit_of(column).ns() as f64 / 1e9)
}

/// Reads a table (CSV or JSON lines) with the column mapping, handing each attempt to
/// `sink`.
pub fn read_table(
    path: &Path,
    map: &BTreeMap<String, String>,
    unreadable: &mut Unreadable,
    sink: &mut dyn FnMut(Obs),
) -> Result<(), String> {
    let mut rows = Rows::open(path)?;
    let aliases = RATELIMIT_FIELDS
        .iter()
        .flat_map(|names| &names[1..])
        .copied();
    rows.keep_only(
        &map.values()
            .map(String::as_str)
            .chain(aliases)
            .collect::<Vec<_>>(),
    );
    while let Some(row) = rows.advance() {
        if let Err(e) = row {
            unreadable.push(path, e.line, &e.reason);
            continue;
        }
        match table_obs(&rows, map) {
            Ok(obs) => sink(obs),
            Err(reason) => unreadable.push(path, rows.line, &reason),
        }
    }
    Ok(())
}

fn table_obs(rows: &Rows, map: &BTreeMap<String, String>) -> Result<Obs, String> {
    let col = |f: &str| -> &str { map[f].as_str() };
    let get = |f: &str| rows.get(col(f));
    let time_column = col("time");
    let t = get("time").ok_or_else(|| format!("no `{time_column}` (the time)"))?;
    let t_ns = match t.parse::<i64>() {
        Ok(n) => n.saturating_mul(unit_of(time_column).ns() as i64),
        Err(_) => (seconds(&t, time_column)? * 1e9) as i64,
    };
    let status = match get("status") {
        Some(s) => Some(
            s.parse::<f64>()
                .ok()
                .filter(|x| (100.0..600.0).contains(x))
                .map(|x| x as u16)
                .ok_or_else(|| format!("`{}`: `{s}` is not an HTTP status", col("status")))?,
        ),
        None => None,
    };
    let outcome = match (get("outcome"), status) {
        (Some(name), _) => Outcome::from_name(&name, status),
        (None, Some(s)) => Outcome::from_status(s),
        (None, None) => {
            return Err(format!(
                "neither `{}` nor `{}`: the outcome is unknown",
                col("status"),
                col("outcome")
            ));
        }
    };
    let duration = |f: &str| get(f).map(|v| seconds(&v, col(f))).transpose();
    let count = |f: &str| {
        get(f)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| *x >= 0.0 && *x < 1e9)
                    .map(|x| x as u32)
                    .ok_or_else(|| format!("`{}`: `{v}` is not a count", col(f)))
            })
            .transpose()
    };
    Ok(Obs {
        t_ns,
        request: get("request_id").map(|s| s.into_owned()),
        attempt: count("attempt")?,
        provider: get("provider").map_or_else(|| "provider".to_string(), |s| s.into_owned()),
        model: get("model").map_or_else(|| "model".to_string(), |s| s.into_owned()),
        outcome,
        latency_s: duration("latency")?,
        ttft_s: duration("ttft")?,
        input_tokens: count("input_tokens")?,
        output_tokens: count("output_tokens")?,
        ratelimit: ratelimit_headers(rows, map)?,
    })
}

/// The rate-limit fields of a row: the mapped column, or when the mapping keeps the request
/// log's name and the row lacks it, the first header name present.
fn ratelimit_headers(rows: &Rows, map: &BTreeMap<String, String>) -> Result<LoggedLimits, String> {
    let mut values = [None; 4];
    for (value, names) in values.iter_mut().zip(RATELIMIT_FIELDS) {
        let column = map[names[0]].as_str();
        let found = match rows.get(column) {
            Some(text) => Some((column, text)),
            None if column == names[0] => names[1..]
                .iter()
                .find_map(|name| rows.get(name).map(|text| (*name, text))),
            None => None,
        };
        *value = match found {
            Some((column, text)) => Some(
                text.parse::<f64>()
                    .ok()
                    .filter(|x| *x >= 0.0 && *x < 1e15)
                    .map(|x| x as u64)
                    .ok_or_else(|| format!("`{column}`: `{text}` is not a count"))?,
            ),
            None => None,
        };
    }
    let [
        limit_requests,
        remaining_requests,
        limit_tokens,
        remaining_tokens,
    ] = values;
    Ok(LoggedLimits {
        limit_requests,
        remaining_requests,
        limit_tokens,
        remaining_tokens,
    })
}

/// Reads OTLP JSON: every span with a GenAI model is an attempt.
pub fn read_otel(
    path: &Path,
    unreadable: &mut Unreadable,
    sink: &mut dyn FnMut(Obs),
) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let stream = serde_json::Deserializer::from_reader(BufReader::new(file)).into_iter::<Value>();
    for (index, doc) in stream.enumerate() {
        let doc = match doc {
            Ok(d) => d,
            Err(e) => {
                unreadable.push(path, e.line() as u64, &format!("not JSON: {e}"));
                // The stream cannot resynchronize after a syntax error.
                break;
            }
        };
        let spans = doc["resourceSpans"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
            .flat_map(|s| s["spans"].as_array().into_iter().flatten());
        for span in spans {
            match span_obs(span) {
                Ok(Some(obs)) => sink(obs),
                Ok(None) => {}
                Err(reason) => unreadable.push(
                    path,
                    index as u64 + 1,
                    &format!("span {}: {reason}", span["spanId"].as_str().unwrap_or("?")),
                ),
            }
        }
    }
    Ok(())
}

/// An OTLP attribute's value: `{"stringValue": ..}`, `{"intValue": "12"}` (int64 as a
/// string, per the OTLP JSON mapping), `{"doubleValue": ..}` or `{"boolValue": ..}`.
fn attribute(span: &Value, key: &str) -> Option<Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"].as_object())
        .and_then(|v| v.values().next().cloned())
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Time to first token (seconds) on a span: the conventions' attribute first, then the
/// names instrumentations use in its place (see the module's doc).
pub const TTFT_ATTRIBUTES: [&str; 3] = [
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.server.time_to_first_token",
    "gen_ai.response.time_to_first_token",
];

fn span_obs(span: &Value) -> Result<Option<Obs>, String> {
    let model = attribute(span, "gen_ai.request.model")
        .or_else(|| attribute(span, "gen_ai.response.model"));
    let Some(Value::String(model)) = model else {
        return Ok(None); // Not a GenAI call (an HTTP span, a tool call).
    };
    let provider = attribute(span, "gen_ai.provider.name")
        .or_else(|| attribute(span, "gen_ai.system"))
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "provider".to_string());
    // Nanoseconds since the epoch exceed f64's exact integers: read them as integers.
    let time = |key: &str| {
        match &span[key] {
            Value::String(s) => s.parse::<i64>().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
        .ok_or_else(|| format!("no `{key}` in integer nanoseconds"))
    };
    let (start, end) = (time("startTimeUnixNano")?, time("endTimeUnixNano")?);
    if end < start {
        return Err("ends before it starts".into());
    }
    let status = attribute(span, "http.response.status_code")
        .as_ref()
        .and_then(number)
        .map(|x| x as u16);
    // Span status code 2 is ERROR (OTLP's Status.StatusCode).
    let failed = span["status"]["code"] == 2 || span["status"]["code"] == "STATUS_CODE_ERROR";
    let outcome = match attribute(span, "error.type") {
        Some(Value::String(e)) => Outcome::from_name(&e, status),
        _ if failed => status.map_or(Outcome::Other, Outcome::from_status),
        _ => status.map_or(Outcome::Ok, Outcome::from_status),
    };
    let tokens = |key: &str| {
        attribute(span, key)
            .as_ref()
            .and_then(number)
            .map(|x| x as u32)
    };
    Ok(Some(Obs {
        t_ns: start,
        request: None,
        attempt: None,
        provider,
        model,
        outcome,
        latency_s: Some((end - start) as f64 / 1e9),
        ttft_s: TTFT_ATTRIBUTES
            .iter()
            .find_map(|key| attribute(span, key).as_ref().and_then(number)),
        input_tokens: tokens("gen_ai.usage.input_tokens"),
        output_tokens: tokens("gen_ai.usage.output_tokens"),
        // The GenAI conventions define no rate-limit attributes.
        ratelimit: LoggedLimits::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_from_names_and_statuses() {
        assert_eq!(Outcome::from_name("ok", None), Outcome::Ok);
        assert_eq!(
            Outcome::from_name("http_503", None),
            Outcome::ServerError(503)
        );
        assert_eq!(
            Outcome::from_name("rate_limited", Some(429)),
            Outcome::RateLimited
        );
        assert_eq!(
            Outcome::from_name("connect_timeout", None),
            Outcome::Timeout
        );
        assert_eq!(Outcome::from_name("client_closed", None), Outcome::Timeout);
        assert_eq!(Outcome::from_name("500", None), Outcome::ServerError(500));
        assert_eq!(
            Outcome::from_name("InternalServerError", Some(500)),
            Outcome::ServerError(500)
        );
        assert_eq!(Outcome::from_status(404), Outcome::Other);
    }

    /// The conventions' attribute wins over the alternatives; each alternative alone is read.
    #[test]
    fn time_to_first_token_by_the_conventions_or_their_common_alternatives() {
        let span = |attributes: &[(&str, f64)]| {
            let mut list =
                vec![json!({ "key": "gen_ai.request.model", "value": { "stringValue": "m" } })];
            list.extend(
                attributes
                    .iter()
                    .map(|(k, v)| json!({ "key": k, "value": { "doubleValue": v } })),
            );
            let span = json!({ "startTimeUnixNano": "0", "endTimeUnixNano": "2000000000", "attributes": list });
            span_obs(&span).unwrap().unwrap().ttft_s
        };
        assert_eq!(
            span(&[
                ("gen_ai.server.time_to_first_token", 0.9),
                ("gen_ai.response.time_to_first_chunk", 0.5)
            ]),
            Some(0.5)
        );
        assert_eq!(
            span(&[("gen_ai.server.time_to_first_token", 0.9)]),
            Some(0.9)
        );
        assert_eq!(
            span(&[("gen_ai.response.time_to_first_token", 0.7)]),
            Some(0.7)
        );
        assert_eq!(span(&[]), None);
    }
}
