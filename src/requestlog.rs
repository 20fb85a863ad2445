//! The request log: one record per attempt that went on the wire, as a client or a proxy in
//! front of the providers would log it (`aichaos run --request-log FILE`), and what
//! `aichaos fit` and `arrivals: {type: "replay"}` read back.
//!
//! The event loop hands an `AttemptRecord` to an `AttemptSink` when an attempt ends (its
//! answer, its error, its timeout). It is a sink of its own rather than a `trace::TraceSink`:
//! a trace covers a window and wants the world's state around each event, while the log
//! covers the whole run and wants what a wire log holds (status, time to first token,
//! tokens), so each pays only for what it needs. Without a log the loop pays one test of an
//! `Option` per attempt.
//!
//! Records are written in the order attempts were sent (`t_ns`, then request id and attempt),
//! which is the order `replay` arrivals need. Attempts end out of that order, so the writer
//! holds each record until no attempt still out can have been sent earlier: every attempt
//! ends within its group's attempt timeout, so a record sent more than the longest timeout
//! before the latest end is final. Memory is bounded by the attempts of one timeout's span,
//! never by the run's length. JSON lines, or CSV when the file's name ends in `.csv`. The
//! fields, in order (docs/src/guides/fit.md, "Request logs: the format"):
//! `t_ns` (sent, ns since the run's start), `request_id`, `attempt` (0-based over the
//! request's attempts, hedged copies and fallbacks included), `kind` (first, retry, hedge,
//! fallback), `group`, `provider`, `model`, `outcome` (ok or a stable failure name), `status`
//! (HTTP status, none for timeouts and connection failures), `latency_ns` (sent to answered
//! or given up), `ttft_ns` (sent to first token, successes only), `input_tokens`,
//! `output_tokens` (0 unless ok), `retry_after_ns` (a 429's Retry-After, when given).
//!
//! A live server (`aichaos serve --request-log`) writes the same format through the same
//! writer, but its attempts end when answered, not within a timeout it knows: it holds each
//! record (`hold`) and says itself when the earliest attempt still out was sent
//! (`write_sent_before`). Its clients can also close a connection before the answer, an
//! ending the simulator's clients never have (they end attempts by their timeouts): those
//! records carry the outcome `client_closed` and no status.
//!
//! Four optional fields say what the answer's rate-limit headers announced,
//! `ratelimit_limit_requests`, `ratelimit_remaining_requests`, `ratelimit_limit_tokens`,
//! `ratelimit_remaining_tokens` (`RATELIMIT_COLUMNS`, after OpenAI's `x-ratelimit-*`
//! names), which `fit` reads (`fit::read::RATELIMIT_FIELDS`) to take the limits as
//! announced rather than infer them from the 429s. `serve` writes them: the numbers of the
//! headers it sent (`RateLimitHeaders`), for each attempt whose answer's head reached the
//! client; in JSON lines a field is there when its header was, and its CSV has the four
//! columns after the fourteen (`with_ratelimit_headers`), empty where no header was sent.
//! `run` writes none and its CSV keeps the fourteen columns: the simulator's attempts cross
//! no wire, so there are no headers to log. Which fields a writer knows is its type
//! (`RecordHeaders`), so `run`'s log neither holds nor writes anything for them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use crate::outcome::Failure;
use crate::scenario::Scenario;
use crate::time::Nanos;

/// Why an attempt was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttemptKind {
    /// The request's first attempt.
    First,
    /// Another attempt on the same target after a failure.
    Retry,
    /// A copy racing an attempt still out.
    Hedge,
    /// The first attempt on a later target of the fallback chain.
    Fallback,
}

impl AttemptKind {
    pub const ALL: [AttemptKind; 4] = [
        AttemptKind::First,
        AttemptKind::Retry,
        AttemptKind::Hedge,
        AttemptKind::Fallback,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AttemptKind::First => "first",
            AttemptKind::Retry => "retry",
            AttemptKind::Hedge => "hedge",
            AttemptKind::Fallback => "fallback",
        }
    }

    pub fn from_name(name: &str) -> Option<AttemptKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One attempt, when it ended. Ordered by when it was sent, then request id and attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AttemptRecord {
    pub sent_ns: Nanos,
    pub request: u64,
    pub attempt: u32,
    pub kind: AttemptKind,
    pub group: u16,
    pub provider: u16,
    pub model: u16,
    /// None: success.
    pub failure: Option<Failure>,
    pub latency_ns: Nanos,
    pub ttft_ns: Option<Nanos>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub retry_after_ns: Option<Nanos>,
}

/// One limit as an answer's rate-limit headers announced it: the limit per minute and what
/// remained of it after the attempt (`x-ratelimit-limit-requests`,
/// `x-ratelimit-remaining-requests`, or their Anthropic twins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnnouncedLimit {
    pub limit: u64,
    pub remaining: u64,
}

/// What an answer's rate-limit headers announced: the request limit (RPM) and the token
/// limit (TPM), each None when no header for it was sent (no such limit, or no answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RateLimitHeaders {
    pub requests: Option<AnnouncedLimit>,
    pub tokens: Option<AnnouncedLimit>,
}

/// What a log holds beside each record, apart from `AttemptRecord` so that a log without
/// headers pays nothing for them (`run`'s holds the attempts of a whole timeout's span):
/// nothing, `()`, for the simulator's attempts, or `RateLimitHeaders` for `serve`'s answers.
pub trait RecordHeaders: Copy + Ord + Default {
    /// Whether CSV adds `RATELIMIT_COLUMNS` after `COLUMNS`.
    const RATELIMIT_COLUMNS: bool;
    /// The `RATELIMIT_COLUMNS` values, in their order; None: not announced.
    fn ratelimit_values(&self) -> [Option<u64>; 4];
}

impl RecordHeaders for () {
    const RATELIMIT_COLUMNS: bool = false;
    fn ratelimit_values(&self) -> [Option<u64>; 4] {
        [None; 4]
    }
}

impl RecordHeaders for RateLimitHeaders {
    const RATELIMIT_COLUMNS: bool = true;
    fn ratelimit_values(&self) -> [Option<u64>; 4] {
        let RateLimitHeaders { requests, tokens } = *self;
        [
            requests.map(|l| l.limit),
            requests.map(|l| l.remaining),
            tokens.map(|l| l.limit),
            tokens.map(|l| l.remaining),
        ]
    }
}

/// The HTTP status an attempt's outcome came with; None when no answer came (timeouts,
/// connection failures) or the client decided it.
pub fn http_status(failure: Option<Failure>) -> Option<u16> {
    let Some(failure) = failure else {
        return Some(200);
    };
    match failure {
        Failure::RateLimited | Failure::RequestTooLarge => Some(429),
        Failure::Http500 => Some(500),
        Failure::Http502 => Some(502),
        Failure::Http503 => Some(503),
        Failure::Http529 => Some(529),
        Failure::InsufficientCredits => Some(402),
        Failure::ContextLengthExceeded => Some(400),
        _ => None,
    }
}

/// The outcome's name in the log: "ok" or the failure's stable name.
pub fn outcome_name(failure: Option<Failure>) -> &'static str {
    failure.map_or("ok", Failure::name)
}

/// The outcome of a live attempt whose client closed the connection before the answer (a
/// timeout, a cancel: the server cannot tell which).
pub const CLIENT_CLOSED: &str = "client_closed";

/// Receives every attempt of a run as it ends, in the order the loop ends them.
pub trait AttemptSink {
    fn attempt(&mut self, record: &AttemptRecord) -> io::Result<()>;
}

/// The columns, in the order CSV writes them.
pub const COLUMNS: [&str; 14] = [
    "t_ns",
    "request_id",
    "attempt",
    "kind",
    "group",
    "provider",
    "model",
    "outcome",
    "status",
    "latency_ns",
    "ttft_ns",
    "input_tokens",
    "output_tokens",
    "retry_after_ns",
];

/// The rate-limit columns a log of answers with headers adds after `COLUMNS` (`serve`'s;
/// see the module's doc), in the order CSV writes them.
pub const RATELIMIT_COLUMNS: [&str; 4] = [
    "ratelimit_limit_requests",
    "ratelimit_remaining_requests",
    "ratelimit_limit_tokens",
    "ratelimit_remaining_tokens",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    JsonLines,
    Csv,
}

impl LogFormat {
    /// CSV for a name ending in `.csv` (any case), JSON lines otherwise.
    pub fn for_path(path: &std::path::Path) -> LogFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => LogFormat::Csv,
            _ => LogFormat::JsonLines,
        }
    }
}

/// Writes the records as JSON lines or CSV, each with what `H` holds beside it (see
/// `RecordHeaders`). Names are escaped once, up front.
pub struct RequestLogWriter<W: Write, H: RecordHeaders = ()> {
    out: W,
    format: LogFormat,
    /// Per group, its name; per provider, its name and its models' names: JSON-quoted for
    /// JSON lines, CSV-quoted (when needed) for CSV.
    groups: Vec<String>,
    providers: Vec<String>,
    models: Vec<Vec<String>>,
    /// Records not yet final (see the module's doc), earliest sent first.
    held: BinaryHeap<Reverse<Held<H>>>,
    /// The longest an attempt can be out: the longest attempt timeout of any group.
    horizon_ns: Nanos,
    pub records: u64,
}

impl<W: Write> RequestLogWriter<W> {
    /// A log of the simulator's attempts, which carry no rate-limit headers: `COLUMNS` only.
    pub fn new(out: W, format: LogFormat, scenario: &Scenario) -> io::Result<Self> {
        Self::create(out, format, scenario)
    }
}

impl<W: Write> RequestLogWriter<W, RateLimitHeaders> {
    /// A log of answers that carried rate-limit headers (`serve`'s): `COLUMNS`, then
    /// `RATELIMIT_COLUMNS`.
    pub fn with_ratelimit_headers(
        out: W,
        format: LogFormat,
        scenario: &Scenario,
    ) -> io::Result<Self> {
        Self::create(out, format, scenario)
    }
}

impl<W: Write, H: RecordHeaders> RequestLogWriter<W, H> {
    fn create(mut out: W, format: LogFormat, scenario: &Scenario) -> io::Result<Self> {
        let quote = |s: &str| match format {
            LogFormat::JsonLines => serde_json::to_string(s).expect("a string serializes"),
            LogFormat::Csv => csv_field(s),
        };
        if format == LogFormat::Csv {
            write!(out, "{}", COLUMNS.join(","))?;
            if H::RATELIMIT_COLUMNS {
                write!(out, ",{}", RATELIMIT_COLUMNS.join(","))?;
            }
            writeln!(out)?;
        }
        Ok(RequestLogWriter {
            out,
            format,
            groups: scenario.groups.iter().map(|g| quote(&g.name)).collect(),
            providers: scenario.providers.iter().map(|p| quote(&p.name)).collect(),
            models: scenario
                .providers
                .iter()
                .map(|p| p.models.iter().map(|m| quote(&m.name)).collect())
                .collect(),
            held: BinaryHeap::new(),
            horizon_ns: scenario
                .groups
                .iter()
                .map(|g| g.policy.attempt_timeout_ns)
                .max()
                .unwrap_or(0),
            records: 0,
        })
    }

    /// Writes the records still held (the run is over: nothing earlier can come) and
    /// returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_sent_before(Nanos::MAX)?;
        Ok(self.out)
    }

    /// Holds a final record until `write_sent_before` passes its sending time (a live
    /// server's way: see the module's doc). `client_closed`: the client closed the
    /// connection first; the outcome is `client_closed` whatever `r.failure` says.
    /// `headers`: what the answer's headers said (`RecordHeaders`).
    pub fn hold(&mut self, r: &AttemptRecord, client_closed: bool, headers: H) {
        self.held.push(Reverse(Held {
            record: *r,
            client_closed,
            headers,
        }));
    }

    /// Writes, in the order sent, the held records sent before `before_ns`: the caller
    /// knows that no attempt still out, nor any to come, was sent earlier.
    pub fn write_sent_before(&mut self, before_ns: Nanos) -> io::Result<()> {
        while let Some(Reverse(first)) = self.held.peek()
            && first.record.sent_ns < before_ns
        {
            let first = *first;
            self.held.pop();
            self.write(&first)?;
        }
        Ok(())
    }

    /// Records held, not yet written.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Flushes what was written to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A record waiting for its turn, in the order sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Held<H> {
    record: AttemptRecord,
    client_closed: bool,
    headers: H,
}

/// A CSV field, quoted (RFC 4180) only when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

impl<W: Write> AttemptSink for RequestLogWriter<W> {
    fn attempt(&mut self, r: &AttemptRecord) -> io::Result<()> {
        let ended_ns = r.sent_ns + r.latency_ns;
        self.hold(r, false, ());
        // Any attempt ending from now on was sent at or after `ended_ns - horizon_ns`.
        self.write_sent_before(ended_ns.saturating_sub(self.horizon_ns))
    }
}

impl<W: Write, H: RecordHeaders> RequestLogWriter<W, H> {
    fn write(&mut self, held: &Held<H>) -> io::Result<()> {
        let r = &held.record;
        self.records += 1;
        let (group, provider) = (
            &self.groups[r.group as usize],
            &self.providers[r.provider as usize],
        );
        let model = &self.models[r.provider as usize][r.model as usize];
        let (outcome, status) = if held.client_closed {
            (CLIENT_CLOSED, None)
        } else {
            (outcome_name(r.failure), http_status(r.failure))
        };
        match self.format {
            LogFormat::JsonLines => {
                write!(
                    self.out,
                    "{{\"t_ns\":{},\"request_id\":{},\"attempt\":{},\"kind\":\"{}\",\"group\":{group},\
                     \"provider\":{provider},\"model\":{model},\"outcome\":\"{outcome}\"",
                    r.sent_ns,
                    r.request,
                    r.attempt,
                    r.kind.name()
                )?;
                if let Some(s) = status {
                    write!(self.out, ",\"status\":{s}")?;
                }
                write!(self.out, ",\"latency_ns\":{}", r.latency_ns)?;
                if let Some(t) = r.ttft_ns {
                    write!(self.out, ",\"ttft_ns\":{t}")?;
                }
                write!(
                    self.out,
                    ",\"input_tokens\":{},\"output_tokens\":{}",
                    r.input_tokens, r.output_tokens
                )?;
                if let Some(t) = r.retry_after_ns {
                    write!(self.out, ",\"retry_after_ns\":{t}")?;
                }
                for (name, value) in RATELIMIT_COLUMNS
                    .iter()
                    .zip(held.headers.ratelimit_values())
                {
                    if let Some(v) = value {
                        write!(self.out, ",\"{name}\":{v}")?;
                    }
                }
                self.out.write_all(b"}\n")
            }
            LogFormat::Csv => {
                let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
                write!(
                    self.out,
                    "{},{},{},{},{group},{provider},{model},{outcome},{},{},{},{},{},{}",
                    r.sent_ns,
                    r.request,
                    r.attempt,
                    r.kind.name(),
                    opt(status.map(u64::from)),
                    r.latency_ns,
                    opt(r.ttft_ns),
                    r.input_tokens,
                    r.output_tokens,
                    opt(r.retry_after_ns)
                )?;
                if H::RATELIMIT_COLUMNS {
                    for value in held.headers.ratelimit_values() {
                        match value {
                            Some(v) => write!(self.out, ",{v}")?,
                            None => self.out.write_all(b",")?,
                        }
                    }
                }
                self.out.write_all(b"\n")
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_failures() {
        assert_eq!(http_status(None), Some(200));
        assert_eq!(http_status(Some(Failure::RateLimited)), Some(429));
        assert_eq!(http_status(Some(Failure::Http529)), Some(529));
        assert_eq!(http_status(Some(Failure::Timeout)), None);
        assert_eq!(http_status(Some(Failure::ConnectionError)), None);
        for k in AttemptKind::ALL {
            assert_eq!(AttemptKind::from_name(k.name()), Some(k));
        }
    }

    /// A minute of one group `app` on one provider `p` with one model `m`: the world of
    /// the log writers' tests.
    pub(crate) fn one_model_scenario() -> Scenario {
        let text = r#"{ "name": "t", "seed": 1, "duration": "1m",
            "traffic": [{ "name": "app", "arrivals": { "type": "poisson", "rate": "1/s" },
                "request": { "model": "m", "input_tokens": 1, "output_tokens": 1 } }],
            "providers": [{ "name": "p", "models": [{ "name": "m",
                "input_usd_per_mtok": 1, "output_usd_per_mtok": 1,
                "ttft": "1s", "per_token": "1ms" }] }] }"#;
        crate::scenario::parse("t.json", text)
            .unwrap()
            .scenarios
            .remove(0)
    }

    /// A log of answers with headers writes the announced limits (CSV: four more columns,
    /// empty where nothing was announced); the simulator's log keeps its fourteen columns.
    #[test]
    fn only_a_log_with_ratelimit_columns_writes_them() {
        let scenario = one_model_scenario();
        let record = AttemptRecord {
            sent_ns: 5,
            request: 0,
            attempt: 0,
            kind: AttemptKind::First,
            group: 0,
            provider: 0,
            model: 0,
            failure: None,
            latency_ns: 10,
            ttft_ns: Some(3),
            input_tokens: 4,
            output_tokens: 2,
            retry_after_ns: None,
        };
        let tokens_only = RateLimitHeaders {
            requests: None,
            tokens: Some(AnnouncedLimit {
                limit: 900,
                remaining: 796,
            }),
        };
        let written = |format, with_headers: bool| {
            let bytes = if with_headers {
                let mut log =
                    RequestLogWriter::with_ratelimit_headers(Vec::new(), format, &scenario)
                        .unwrap();
                log.hold(&record, false, tokens_only);
                log.finish()
            } else {
                let mut log = RequestLogWriter::new(Vec::new(), format, &scenario).unwrap();
                log.attempt(&record).unwrap();
                log.finish()
            };
            String::from_utf8(bytes.unwrap()).unwrap()
        };
        let row = "5,0,0,first,app,p,m,ok,200,10,3,4,2,";
        assert_eq!(
            written(LogFormat::Csv, true),
            format!(
                "{},{}\n{row},,,900,796\n",
                COLUMNS.join(","),
                RATELIMIT_COLUMNS.join(",")
            )
        );
        assert_eq!(
            written(LogFormat::Csv, false),
            format!("{}\n{row}\n", COLUMNS.join(","))
        );
        let line = written(LogFormat::JsonLines, true);
        let tail =
            r#""output_tokens":2,"ratelimit_limit_tokens":900,"ratelimit_remaining_tokens":796}"#;
        assert!(line.ends_with(&format!("{tail}\n")), "{line}");
        // `fit` reads them under these names first.
        let read: Vec<&str> = crate::fit::read::RATELIMIT_FIELDS
            .iter()
            .map(|names| names[0])
            .collect();
        assert_eq!(read, RATELIMIT_COLUMNS);
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("gpt-4o"), "gpt-4o");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
