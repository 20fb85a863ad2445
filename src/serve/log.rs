//! `serve --request-log FILE`: every completion request that reached the world, one record
//! per HTTP request (each is one attempt), in `run --request-log`'s format
//! (`requestlog::RequestLogWriter`), written as the server runs.
//!
//! Time: `t_ns` is when the world received the attempt, in world time (wall time since the
//! server started times `--time-scale`), so the log fits the world it met; `latency_ns` runs
//! to the end of the answer (its last event for a stream), `ttft_ns` to the first token the
//! world drew (successes only, streamed or not).
//!
//! Rate limits: each record whose answer's head reached the client (every answer but a
//! dropped connection; a stream's from its start, so also one the client leaves midway)
//! carries the four `ratelimit_*` fields (`requestlog`'s module doc) with the numbers its
//! `x-ratelimit-*` or `anthropic-ratelimit-*` headers said, taken from the same bucket
//! levels (`wire::announced_limits`), so `fit` takes the served limits as announced. A
//! field is absent where no header was: no such limit, or no answer (a hang, a refusing
//! outage, a client gone before the answer).
//!
//! Which logical request an attempt belongs to is not on the wire; it is derived, first rule
//! that applies:
//! 1. `x-aichaos-request-id: ANY` (a wrapper that controls its headers): every attempt with
//!    the same value is one request; attempts are counted by the server, so retries of a
//!    wrapper around an SDK's own retries count too. Its `kind`: `first`, then `hedge` while
//!    another attempt of it is still out, `fallback` when it names another model than the
//!    previous attempt, else `retry`.
//! 2. `Idempotency-Key` (sent unchanged on every retry by the Stainless-generated SDKs whose
//!    API declares one, `stainless-python-retry-<uuid>`, and by Stripe-style clients): the
//!    same.
//! 3. `x-stainless-retry-count: N` (openai-python, anthropic-python and the other Stainless
//!    SDKs send it on every attempt; they send no idempotency key, `_idempotency_header` being
//!    None for both APIs): attempt 0 starts a request; attempt N > 0 continues the request
//!    whose attempt N - 1 failed with the same body (the SDK sends the same bytes again;
//!    a success is not retried), the one that failed first if several wait. With identical
//!    bodies sent concurrently two requests' retries may be swapped: the attempts per
//!    request stay right (as many requests reach attempt N as N-th attempts were sent), a
//!    gap may be another's.
//!    Without such an attempt N - 1 (the server started after it), the record keeps the
//!    index N in a request of its own.
//! 4. Nothing: each attempt is its own request (`attempt` 0, `first`).
//!
//! Bounds: the links above are forgotten after `LINK_WINDOW` of wall time without an
//! attempt, and at most `MAX_LINKS` of each kind are kept (the oldest go first). Records are
//! written in the order sent: each is held until no attempt still out was sent earlier; while
//! more than `MAX_HELD` wait (a hang at a high rate), the oldest attempt still out stops
//! holding the rest, one at a time, and is written when it ends, out of order. The file is
//! flushed every `FLUSH_EVERY`, so a crash loses that much and the held records; a drain
//! writes everything (attempts the drain limit cut are not logged, as `run` does not log
//! attempts still out at its end).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::time::{Duration, Instant};

use hyper::HeaderMap;

use crate::outcome::Failure;
use crate::requestlog::{
    AttemptKind, AttemptRecord, LogFormat, RateLimitHeaders, RequestLogWriter,
};
use crate::scenario::Scenario;
use crate::time::Nanos;

/// Links to a logical request are forgotten after this long (wall) without an attempt:
/// longer than openai-python's default timeout (600 s) plus its longest backoff.
pub const LINK_WINDOW: Duration = Duration::from_secs(15 * 60);
/// At most this many request ids and this many SDK retry links are remembered.
pub const MAX_LINKS: usize = 100_000;
/// At most this many records wait for an earlier attempt still out (about 14 MB: 136 bytes
/// a record with its rate-limit headers, more for the heap's spare capacity).
pub const MAX_HELD: usize = 100_000;
/// The file is flushed at least this often while records come.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// The longest request id kept (longer ones are cut).
const MAX_ID_BYTES: usize = 256;

/// What the request's headers (and body) say about the logical request it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `x-aichaos-request-id` or `Idempotency-Key`.
    Keyed(String),
    /// `x-stainless-retry-count` with a hash of the body.
    Sdk {
        retry: u32,
        body: u64,
    },
    Anonymous,
}

impl Caller {
    pub fn from_request(headers: &HeaderMap, body: &[u8]) -> Caller {
        let text = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
        };
        for name in ["x-aichaos-request-id", "idempotency-key"] {
            if let Some(id) = text(name).filter(|id| !id.trim().is_empty()) {
                let mut id = id.trim().to_string();
                if id.len() > MAX_ID_BYTES {
                    let cut = (0..=MAX_ID_BYTES).rev().find(|i| id.is_char_boundary(*i));
                    id.truncate(cut.unwrap_or(0));
                }
                return Caller::Keyed(id);
            }
        }
        match text("x-stainless-retry-count").and_then(|n| n.trim().parse().ok()) {
            Some(retry) => Caller::Sdk {
                retry,
                body: fnv1a(body),
            },
            None => Caller::Anonymous,
        }
    }
}

/// FNV-1a, 64 bits: a fixed hash (the same on every machine and run) to match a retry's
/// body with its first attempt's.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// An attempt the log follows, from its arrival to its end.
#[derive(Debug)]
pub struct Ticket {
    seq: u64,
    sent_ns: Nanos,
    request: u64,
    attempt: u32,
    kind: AttemptKind,
    group: u16,
    provider: u16,
    model: u16,
    input_tokens: u32,
    /// What the answer's rate-limit headers will announce, if it gets an answer.
    ratelimit: RateLimitHeaders,
    key: Option<String>,
    /// An SDK attempt's body hash and retry count.
    sdk: Option<(u64, u32)>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy)]
pub struct Ending {
    pub at_ns: Nanos,
    /// None: success.
    pub failure: Option<Failure>,
    pub client_closed: bool,
    /// The answer's head (status and headers, rate-limit headers included) went to the
    /// client: every answer but a dropped connection; a stream's at its start.
    pub head_sent: bool,
    /// Success only: when the first token was due (world time).
    pub first_token_ns: Option<Nanos>,
    pub output_tokens: u32,
    pub retry_after_ns: Option<Nanos>,
}

/// A request id given by the client, and where its request stands.
struct Keyed {
    request: u64,
    attempts: u32,
    out: u32,
    target: (u16, u16),
    seen_ns: Nanos,
}

/// An SDK attempt another with the next retry count may continue.
#[derive(Debug, Clone, Copy)]
struct Link {
    request: u64,
    attempt: u32,
}

/// How attempts become requests (the module's rules), with bounded memory.
struct Identities {
    window_ns: Nanos,
    /// `MAX_LINKS`, smaller in tests.
    max_links: usize,
    next_request: u64,
    keyed: BTreeMap<String, Keyed>,
    /// Keys by when they were last seen (with stale duplicates, skipped on expiry).
    keyed_order: VecDeque<(Nanos, String)>,
    /// The attempts a retry with the next count may continue, the first to fail first.
    links: BTreeMap<LinkKey, Link>,
    /// Links in the order added (with consumed ones, skipped on expiry).
    links_order: VecDeque<LinkKey>,
}

/// An SDK attempt that failed: (body hash, retry count, when it failed, sequence).
type LinkKey = (u64, u32, Nanos, u64);

impl Identities {
    fn new(window_ns: Nanos, max_links: usize) -> Self {
        Identities {
            window_ns,
            max_links,
            next_request: 0,
            keyed: BTreeMap::new(),
            keyed_order: VecDeque::new(),
            links: BTreeMap::new(),
            links_order: VecDeque::new(),
        }
    }

    fn new_request(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request - 1
    }

    fn forget_old(&mut self, now_ns: Nanos) {
        let before = now_ns.saturating_sub(self.window_ns);
        while let Some((seen, key)) = self.keyed_order.front() {
            let stale = self.keyed.get(key).is_none_or(|k| k.seen_ns != *seen);
            let over =
                self.keyed.len() > self.max_links || self.keyed_order.len() > 2 * self.max_links;
            if !(stale || over || *seen < before) {
                break;
            }
            if !stale {
                self.keyed.remove(key);
            }
            self.keyed_order.pop_front();
        }
        while let Some(key) = self.links_order.front() {
            // Consumed links stay queued until they reach the front: the queue's length
            // bounds them, as `keyed_order`'s does its stale entries.
            let over =
                self.links.len() > self.max_links || self.links_order.len() > 2 * self.max_links;
            if self.links.contains_key(key) && key.2 >= before && !over {
                break;
            }
            self.links.remove(key);
            self.links_order.pop_front();
        }
    }

    /// The attempt's request, index and kind, by the module's rules.
    fn identify(
        &mut self,
        now_ns: Nanos,
        caller: &Caller,
        target: (u16, u16),
    ) -> (u64, u32, AttemptKind) {
        self.forget_old(now_ns);
        match caller {
            Caller::Anonymous => (self.new_request(), 0, AttemptKind::First),
            Caller::Keyed(key) => {
                let fresh = !self.keyed.contains_key(key);
                if fresh {
                    let request = self.new_request();
                    self.keyed.insert(
                        key.clone(),
                        Keyed {
                            request,
                            attempts: 0,
                            out: 0,
                            target,
                            seen_ns: now_ns,
                        },
                    );
                }
                let k = self.keyed.get_mut(key).expect("inserted above");
                let kind = if k.attempts == 0 {
                    AttemptKind::First
                } else if k.out > 0 {
                    AttemptKind::Hedge
                } else if k.target != target {
                    AttemptKind::Fallback
                } else {
                    AttemptKind::Retry
                };
                let attempt = k.attempts;
                k.attempts += 1;
                k.out += 1;
                k.target = target;
                k.seen_ns = now_ns;
                let request = k.request;
                self.keyed_order.push_back((now_ns, key.clone()));
                (request, attempt, kind)
            }
            Caller::Sdk { retry, body } => {
                let (request, attempt) = match retry.checked_sub(1) {
                    None => (self.new_request(), 0),
                    Some(previous) => {
                        // The one that failed first (the key's third part) is continued
                        // first: it is the one whose backoff ends first.
                        let range =
                            (*body, previous, 0, 0)..=(*body, previous, Nanos::MAX, u64::MAX);
                        let found = self.links.range(range).next().map(|(k, l)| (*k, *l));
                        match found {
                            Some((key, link)) => {
                                self.links.remove(&key);
                                (link.request, link.attempt + 1)
                            }
                            None => (self.new_request(), *retry),
                        }
                    }
                };
                let kind = if attempt == 0 {
                    AttemptKind::First
                } else {
                    AttemptKind::Retry
                };
                (request, attempt, kind)
            }
        }
    }

    /// An SDK attempt failed: a retry with the next count and the same body continues it.
    fn may_retry(&mut self, now_ns: Nanos, (body, retry, seq): (u64, u32, u64), link: Link) {
        let key = (body, retry, now_ns, seq);
        self.links.insert(key, link);
        self.links_order.push_back(key);
    }

    fn ended(&mut self, key: &str) {
        if let Some(k) = self.keyed.get_mut(key) {
            k.out = k.out.saturating_sub(1);
        }
    }
}

/// The live request log.
pub struct LiveLog {
    writer: RequestLogWriter<BufWriter<File>, RateLimitHeaders>,
    ids: Identities,
    /// Attempts still out, by (sent, sequence): the first holds back the records after it.
    out: BTreeSet<(Nanos, u64)>,
    next_seq: u64,
    /// `MAX_HELD`, smaller in tests.
    max_held: usize,
    last_flush: Instant,
    /// Set when the server stopped: attempts ending later (cut by the drain limit) are not
    /// logged.
    closed: bool,
    /// The first write error; the log stops there (the server goes on answering).
    pub error: Option<io::Error>,
}

impl LiveLog {
    /// Creates (or empties) `path`, JSON lines or CSV by its name, for `scenario` served at
    /// `scale` world seconds per wall second.
    pub fn create(path: &Path, scenario: &Scenario, scale: f64) -> io::Result<LiveLog> {
        let file = BufWriter::with_capacity(64 << 10, File::create(path)?);
        let format = LogFormat::for_path(path);
        let writer = RequestLogWriter::with_ratelimit_headers(file, format, scenario)?;
        let window_ns = (LINK_WINDOW.as_nanos() as f64 * scale).min(1e18) as Nanos;
        Ok(LiveLog {
            writer,
            ids: Identities::new(window_ns, MAX_LINKS),
            max_held: MAX_HELD,
            out: BTreeSet::new(),
            next_seq: 0,
            last_flush: Instant::now(),
            closed: false,
            error: None,
        })
    }

    /// An attempt reached the world at `sent_ns`; its answer's headers will announce
    /// `ratelimit`. Called under the world's lock, so that attempts are registered in the
    /// order of their times.
    pub fn sent(
        &mut self,
        sent_ns: Nanos,
        caller: &Caller,
        group: u16,
        (provider, model): (u16, u16),
        input_tokens: u32,
        ratelimit: RateLimitHeaders,
    ) -> Ticket {
        let seq = self.next_seq;
        self.next_seq += 1;
        let (request, attempt, kind) = self.ids.identify(sent_ns, caller, (provider, model));
        self.out.insert((sent_ns, seq));
        Ticket {
            seq,
            sent_ns,
            request,
            attempt,
            kind,
            group,
            provider,
            model,
            input_tokens,
            ratelimit,
            key: match caller {
                Caller::Keyed(key) => Some(key.clone()),
                _ => None,
            },
            sdk: match caller {
                Caller::Sdk { retry, body } => Some((*body, *retry)),
                _ => None,
            },
        }
    }

    /// The attempt of `ticket` ended: its record is final, and written once no attempt
    /// sent earlier is still out.
    pub fn ended(&mut self, ticket: &Ticket, ending: Ending) {
        if let Some(key) = &ticket.key {
            self.ids.ended(key);
        }
        self.out.remove(&(ticket.sent_ns, ticket.seq));
        let ok = ending.failure.is_none() && !ending.client_closed;
        if let Some((body, retry)) = ticket.sdk.filter(|_| !ok) {
            let link = Link {
                request: ticket.request,
                attempt: ticket.attempt,
            };
            let at_ns = ending.at_ns.max(ticket.sent_ns);
            self.ids.may_retry(at_ns, (body, retry, ticket.seq), link);
        }
        if self.closed || self.error.is_some() {
            return;
        }
        let record = AttemptRecord {
            sent_ns: ticket.sent_ns,
            request: ticket.request,
            attempt: ticket.attempt,
            kind: ticket.kind,
            group: ticket.group,
            provider: ticket.provider,
            model: ticket.model,
            failure: ending.failure,
            latency_ns: ending.at_ns.saturating_sub(ticket.sent_ns),
            ttft_ns: ending
                .first_token_ns
                .filter(|_| ok)
                .map(|t| t.saturating_sub(ticket.sent_ns)),
            input_tokens: ticket.input_tokens,
            output_tokens: if ok { ending.output_tokens } else { 0 },
            retry_after_ns: ending.retry_after_ns,
        };
        let ratelimit = if ending.head_sent {
            ticket.ratelimit
        } else {
            RateLimitHeaders::default()
        };
        self.writer.hold(&record, ending.client_closed, ratelimit);
        loop {
            let before_ns = self.out.first().map_or(Nanos::MAX, |(t, _)| *t);
            let written = self.writer.write_sent_before(before_ns);
            self.failed(written);
            // Past the limit, the oldest attempt still out stops holding the rest, one at
            // a time: releasing it may write enough, and the next one out still holds what
            // was sent after it.
            if self.error.is_some() || self.writer.held() <= self.max_held {
                break;
            }
            if self.out.pop_first().is_none() {
                break;
            }
        }
    }

    fn failed(&mut self, result: io::Result<()>) {
        if let Err(e) = result {
            self.error.get_or_insert(e);
        }
    }

    /// Flushes the file if `FLUSH_EVERY` has passed since the last flush.
    pub fn tick(&mut self) {
        if self.closed || self.error.is_some() || self.last_flush.elapsed() < FLUSH_EVERY {
            return;
        }
        self.last_flush = Instant::now();
        let flushed = self.writer.flush();
        self.failed(flushed);
    }

    /// The server stopped: writes every record held and flushes; attempts still out are not
    /// logged. The records written, or the first write error.
    pub fn close(&mut self) -> io::Result<u64> {
        if !self.closed {
            self.closed = true;
            let written = self.writer.write_sent_before(Nanos::MAX);
            self.failed(written);
            let flushed = self.writer.flush();
            self.failed(flushed);
        }
        match &self.error {
            Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
            None => Ok(self.writer.records),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: (u16, u16) = (0, 0);

    #[test]
    fn sdk_retries_continue_the_failed_attempt_with_the_same_body() {
        let mut ids = Identities::new(1_000, MAX_LINKS);
        let sdk = |retry, body| Caller::Sdk { retry, body };
        let failed = |ids: &mut Identities, at, (body, retry, seq), request, attempt| {
            ids.may_retry(at, (body, retry, seq), Link { request, attempt });
        };
        let first = AttemptKind::First;
        let retry = AttemptKind::Retry;
        assert_eq!(ids.identify(0, &sdk(0, 7), TARGET), (0, 0, first));
        assert_eq!(ids.identify(1, &sdk(0, 8), TARGET), (1, 0, first));
        // Request 1 failed first, then request 0; a success (seq 2) waits for no retry.
        assert_eq!(ids.identify(2, &sdk(0, 7), TARGET), (2, 0, first));
        failed(&mut ids, 3, (8, 0, 1), 1, 0);
        failed(&mut ids, 4, (7, 0, 0), 0, 0);
        assert_eq!(ids.identify(5, &sdk(1, 8), TARGET), (1, 1, retry));
        assert_eq!(ids.identify(6, &sdk(1, 7), TARGET), (0, 1, retry));
        failed(&mut ids, 7, (7, 1, 4), 0, 1);
        assert_eq!(ids.identify(8, &sdk(2, 7), TARGET), (0, 2, retry));
        // No failed attempt 1 of body 9 to continue: a request of its own, its index kept.
        assert_eq!(ids.identify(9, &sdk(2, 9), TARGET), (3, 2, retry));
        // Forgotten after the window.
        failed(&mut ids, 10, (8, 1, 3), 1, 1);
        assert_eq!(ids.identify(5_000, &sdk(2, 8), TARGET), (4, 2, retry));
        assert_eq!(ids.identify(5_001, &Caller::Anonymous, TARGET).0, 5);
    }

    /// Two attempts with the same body wait for their retry: the one that failed first is
    /// continued first, whichever was sent first.
    #[test]
    fn a_retry_continues_the_attempt_that_failed_first() {
        let mut ids = Identities::new(1_000, MAX_LINKS);
        let sdk = |retry| Caller::Sdk { retry, body: 7 };
        assert_eq!(ids.identify(0, &sdk(0), TARGET).0, 0);
        assert_eq!(ids.identify(1, &sdk(0), TARGET).0, 1);
        let link = |request| Link {
            request,
            attempt: 0,
        };
        ids.may_retry(2, (7, 0, 1), link(1));
        ids.may_retry(3, (7, 0, 0), link(0));
        assert_eq!(ids.identify(4, &sdk(1), TARGET), (1, 1, AttemptKind::Retry));
        assert_eq!(ids.identify(5, &sdk(1), TARGET), (0, 1, AttemptKind::Retry));
    }

    /// The SDK links' queue is bounded by count, not only by the window: links consumed
    /// behind one still waiting do not pile up.
    #[test]
    fn the_sdk_links_queue_is_bounded_by_count() {
        let mut ids = Identities::new(u64::MAX, 2);
        let link = Link {
            request: 0,
            attempt: 0,
        };
        ids.may_retry(0, (1, 0, 0), link);
        for seq in 1..100 {
            ids.may_retry(seq, (2, 0, seq), link);
            ids.identify(seq, &Caller::Sdk { retry: 1, body: 2 }, TARGET);
            assert!(
                ids.links_order.len() <= 2 * 2 + 1,
                "{}",
                ids.links_order.len()
            );
        }
    }

    /// Past the hold limit the oldest attempt still out stops holding the rest, and only
    /// it: the next one out still holds the records sent after it.
    #[test]
    fn past_the_hold_limit_only_the_oldest_attempt_out_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let scenario = crate::requestlog::tests::one_model_scenario();
        let mut log = LiveLog::create(&path, &scenario, 1.0).unwrap();
        log.max_held = 2;
        let ending = |at_ns| Ending {
            at_ns,
            failure: None,
            client_closed: false,
            head_sent: true,
            first_token_ns: Some(at_ns),
            output_tokens: 1,
            retry_after_ns: None,
        };
        let mut sent: Vec<Ticket> = (0..5)
            .map(|t| log.sent(t, &Caller::Anonymous, 0, TARGET, 1, Default::default()))
            .collect();
        // Attempts 0 and 3 stay out; 1, 2 and 4 end, three held behind attempt 0.
        let (oldest, next) = (sent.remove(0), sent.remove(2));
        for ticket in &sent {
            log.ended(ticket, ending(10));
        }
        assert_eq!(log.writer.records, 2, "1 and 2 written, 4 held behind 3");
        log.ended(&next, ending(11));
        assert_eq!(log.writer.records, 4);
        log.ended(&oldest, ending(12));
        assert_eq!(log.close().unwrap(), 5);
        let written = std::fs::read_to_string(&path).unwrap();
        let requests: Vec<u64> = written
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["request_id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(requests, [1, 2, 3, 4, 0]);
    }

    #[test]
    fn keyed_requests_count_their_attempts_and_name_their_kinds() {
        let mut ids = Identities::new(1_000, MAX_LINKS);
        let key = Caller::Keyed("a".into());
        assert_eq!(ids.identify(0, &key, TARGET), (0, 0, AttemptKind::First));
        ids.ended("a");
        assert_eq!(ids.identify(1, &key, TARGET), (0, 1, AttemptKind::Retry));
        // Still out: a copy racing it.
        assert_eq!(ids.identify(2, &key, TARGET), (0, 2, AttemptKind::Hedge));
        ids.ended("a");
        ids.ended("a");
        assert_eq!(ids.identify(3, &key, (0, 1)), (0, 3, AttemptKind::Fallback));
        let other = Caller::Keyed("b".into());
        assert_eq!(ids.identify(4, &other, TARGET), (1, 0, AttemptKind::First));
    }

    #[test]
    fn headers_pick_the_rule() {
        let mut headers = HeaderMap::new();
        assert_eq!(Caller::from_request(&headers, b"x"), Caller::Anonymous);
        headers.insert("x-stainless-retry-count", "2".parse().unwrap());
        assert_eq!(
            Caller::from_request(&headers, b"x"),
            Caller::Sdk {
                retry: 2,
                body: fnv1a(b"x")
            }
        );
        headers.insert(
            "idempotency-key",
            "stainless-python-retry-1".parse().unwrap(),
        );
        assert_eq!(
            Caller::from_request(&headers, b"x"),
            Caller::Keyed("stainless-python-retry-1".into())
        );
        headers.insert("x-aichaos-request-id", "job-7".parse().unwrap());
        assert_eq!(
            Caller::from_request(&headers, b"x"),
            Caller::Keyed("job-7".into())
        );
        assert_ne!(fnv1a(b"hello 1"), fnv1a(b"hello 2"));
    }
}
