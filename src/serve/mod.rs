//! `aichaos serve`: the scenario's world as a live OpenAI- and Anthropic-compatible HTTP
//! endpoint, so that a real client (an SDK, a wrapper, a gateway) meets the calibrated
//! world the simulator plays: buckets with real headers, queueing, time to first token and
//! per-token pacing, background errors and hangs, outages and brownouts, credits.
//!
//! Each request is one attempt through the scenario's provider model (`world::LiveWorld`,
//! which drives the simulator's own `ProviderState`) on the wall clock scaled by
//! `--time-scale`; `wire` writes the answers and errors as each provider does. The path
//! picks the format (`/v1/chat/completions` OpenAI, `/v1/messages` Anthropic); the body's
//! `model` picks the scenario's provider and model (`provider/model`, or a model name,
//! the first provider having it).
//!
//! HTTP is hyper's (HTTP/1.1 on tokio; no hand-written parsing). One lock guards the world
//! and is never held across an await: a request takes it once at its arrival, a job once
//! at its end. Every accepted job has a driver task that holds its slot until the drawn
//! service ends, whether or not its client is still there (the provider cannot know, which
//! is what makes retry storms real); the request's own task only waits and answers.
//!
//! With `--request-log`, `log::LiveLog` records each attempt that reached the world; its
//! lock is taken inside the world's at an arrival (so attempts register in the order of
//! their times) and alone at an attempt's end, which a `Logged` guard marks: answered, or
//! dropped unanswered (the answer's future, or a stream's body) because the client closed
//! the connection, when hyper reads that it did.

pub mod log;
mod wire;
mod world;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::outcome::Failure;
use crate::provider::ServiceKind;
use crate::ratelimit::RetryAfterUnit;
use crate::scenario::Scenario;
use crate::time::{Nanos, secs_to_ns};

use log::{Caller, Ending, LiveLog, Ticket};
pub use wire::Format;
use wire::{Answer, ChatRequest};
pub use world::Clock;
use world::{Admitted, Gate, JobState, LiveWorld};

/// Request bodies above this are refused with 413 (4 MiB: far above any text prompt a
/// test sends; images are not modelled).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;
/// Connections open at once, by default: 10,000 open streams take 206-224 MiB
/// (`benches/serve.rs`). Beyond it a new connection's requests get a 503 saying so, and the
/// connection is closed, rather than waiting unanswered in the listen queue.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// After Ctrl-C, answers in progress (streams, queued requests) get this long to finish.
pub const DEFAULT_DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// The world's own events (outages, top-ups) are applied at least this often even when no
/// request comes, so that a hard outage takes down the work in progress on time.
const TICK: Duration = Duration::from_millis(20);

/// What `serve` plays and how.
#[derive(Debug, Clone)]
pub struct Config {
    pub scenario: Scenario,
    /// World seconds per wall second (10: an hour-long outage schedule in six minutes).
    pub time_scale: f64,
    pub max_body_bytes: usize,
    pub drain_limit: Duration,
    pub max_connections: usize,
    /// Where to write the request log (`log`), JSON lines or CSV by the name.
    pub request_log: Option<PathBuf>,
}

impl Config {
    pub fn new(scenario: Scenario) -> Self {
        Config {
            scenario,
            time_scale: 1.0,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            drain_limit: DEFAULT_DRAIN_LIMIT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            request_log: None,
        }
    }
}

struct Shared {
    scenario: Arc<Scenario>,
    world: Mutex<LiveWorld>,
    clock: Clock,
    scale: f64,
    max_body_bytes: usize,
    /// Requests the server answered itself (bad input, unknown paths), for their ids.
    local_ids: AtomicU64,
    log: Option<Mutex<LiveLog>>,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, LiveWorld> {
        // A panic while holding the lock leaves the world consistent enough to go on
        // answering: every change under it is a few assignments.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self) -> Option<MutexGuard<'_, LiveLog>> {
        // As for the world: a panic under the lock leaves at worst a record unwritten.
        let log = self.log.as_ref()?;
        Some(log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Why a server could not start.
#[derive(Debug)]
pub enum BindError {
    /// The address cannot be listened on.
    Listen(std::io::Error),
    /// The request log cannot be created.
    Log(std::io::Error),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::Listen(e) => write!(f, "cannot listen: {e}"),
            BindError::Log(e) => write!(f, "cannot write the request log: {e}"),
        }
    }
}

impl std::error::Error for BindError {}

/// How a server ended: how it stopped, and with a request log its records written (or
/// the first error writing it).
#[derive(Debug)]
pub struct Served {
    pub stopped: Stopped,
    pub log: Option<std::io::Result<u64>>,
}

/// A bound server, not yet serving: its address is known (port 0 picks a free one).
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    drain_limit: Duration,
    max_connections: usize,
}

/// How a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every answer in progress finished.
    Drained,
    /// The drain limit cut answers still in progress (hangs, long streams).
    Cut,
}

impl Server {
    /// Listens on `addr`, then creates the request log, if any; the world's clock starts
    /// now. Listening comes first because creating the log empties an existing file: an
    /// address in use must not cost the last run's log.
    pub async fn bind(addr: SocketAddr, config: Config) -> Result<Server, BindError> {
        let listener = TcpListener::bind(addr).await.map_err(BindError::Listen)?;
        let log = match &config.request_log {
            Some(path) => Some(Mutex::new(
                LiveLog::create(path, &config.scenario, config.time_scale)
                    .map_err(BindError::Log)?,
            )),
            None => None,
        };
        let scenario = Arc::new(config.scenario);
        let shared = Shared {
            world: Mutex::new(LiveWorld::new(Arc::clone(&scenario))),
            scenario,
            clock: Clock::new(config.time_scale),
            scale: config.time_scale,
            max_body_bytes: config.max_body_bytes,
            local_ids: AtomicU64::new(0),
            log,
        };
        Ok(Server {
            listener,
            shared: Arc::new(shared),
            drain_limit: config.drain_limit,
            max_connections: config.max_connections.max(1),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener")
    }

    /// Serves until `shutdown` completes, then stops accepting and lets the answers in
    /// progress finish (for at most the drain limit), then writes the request log whole.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Served {
        let Server {
            listener,
            shared,
            drain_limit,
            max_connections,
        } = self;
        let open = Arc::new(tokio::sync::Semaphore::new(max_connections));
        let mut warned = false;
        let ticker = tokio::spawn(tick(Arc::clone(&shared)));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else {
                        // Out of file descriptors, most likely: let some connections end.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
                        if !warned {
                            warned = true;
                            eprintln!(
                                "aichaos serve: {max_connections} connections open, the limit \
                                 (--max-connections): new ones get 503 and are closed"
                            );
                        }
                        let shared = Arc::clone(&shared);
                        let service = hyper::service::service_fn(move |req| {
                            std::future::ready(Ok::<_, Infallible>(over_limit(
                                &shared,
                                &req,
                                max_connections,
                            )))
                        });
                        let connection = hyper::server::conn::http1::Builder::new()
                            .keep_alive(false)
                            .serve_connection(TokioIo::new(stream), service);
                        tokio::spawn(async move {
                            let _ = connection.await;
                        });
                        continue;
                    };
                    let shared = Arc::clone(&shared);
                    let service = hyper::service::service_fn(move |req| {
                        handle(Arc::clone(&shared), req)
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        let _ = connection.await;
                        drop(permit);
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        let stopped = tokio::select! {
            () = graceful.shutdown() => Stopped::Drained,
            () = tokio::time::sleep(drain_limit) => Stopped::Cut,
        };
        ticker.abort();
        let log = shared.log().map(|mut log| log.close());
        Served { stopped, log }
    }
}

/// Serves `config` on `addr` until SIGINT or SIGTERM (`interrupt`), on a tokio runtime of
/// its own; `bound` is told the address first.
pub fn run_until_interrupted(
    addr: SocketAddr,
    config: Config,
    bound: impl FnOnce(SocketAddr),
) -> Result<Served, BindError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BindError::Listen)?;
    runtime.block_on(async {
        let server = Server::bind(addr, config).await?;
        bound(server.local_addr());
        let interrupted = async {
            while !crate::interrupt::requested() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        Ok(server.run(interrupted).await)
    })
}

/// Applies the world's own events on time when no request does, and flushes the request
/// log now and then.
async fn tick(shared: Arc<Shared>) {
    loop {
        let next = shared.world().next_event_ns();
        let soon = Instant::now() + TICK;
        let at = next.map_or(soon, |t| shared.clock.instant_at(t).min(soon));
        tokio::time::sleep_until(at.into()).await;
        let now = shared.clock.now_ns();
        shared.world().advance(now);
        if let Some(mut log) = shared.log() {
            log.tick();
        }
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

/// The connection is dropped without an answer (a hard outage that refuses): hyper closes
/// it when a service fails.
#[derive(Debug)]
struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the provider model (outage: refuse)")
    }
}

impl std::error::Error for ConnectionDropped {}

type Answered = Result<Response<Body>, ConnectionDropped>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Answered {
    let path = req.uri().path().to_string();
    let anthropic_client = req.headers().contains_key("anthropic-version");
    let format = match path.as_str() {
        "/v1/chat/completions" => Some(Format::OpenAi),
        "/v1/messages" => Some(Format::Anthropic),
        _ => None,
    };
    let guessed = format.unwrap_or(if anthropic_client {
        Format::Anthropic
    } else {
        Format::OpenAi
    });
    match (req.method(), path.as_str(), format) {
        (&Method::POST, _, Some(format)) => chat(shared, format, req).await,
        (&Method::GET, "/v1/models", _) => Ok(models(&shared, guessed)),
        (_, "/v1/models", _) | (_, _, Some(_)) => {
            let message = format!("Method {} not allowed on {path}", req.method());
            Ok(local_error(&shared, guessed, 405, &message, None))
        }
        _ => {
            let message = format!("Unknown request URL: {} {path}", req.method());
            Ok(local_error(&shared, guessed, 404, &message, None))
        }
    }
}

/// The answer on a connection beyond the limit: a 503 in the request's format that says
/// it is the server's limit, not the world's (the connection closes after it).
fn over_limit(shared: &Shared, req: &Request<Incoming>, limit: usize) -> Response<Body> {
    let format =
        if req.uri().path() == "/v1/messages" || req.headers().contains_key("anthropic-version") {
            Format::Anthropic
        } else {
            Format::OpenAi
        };
    let message = format!(
        "aichaos serve: {limit} connections are already open, its limit (--max-connections); \
         this is the server's limit, not the served world's"
    );
    local_error(shared, format, 503, &message, None)
}

/// An error the server decides itself (bad input, unknown path or model), in `format`.
fn local_error(
    shared: &Shared,
    format: Format,
    status: u16,
    message: &str,
    param: Option<&str>,
) -> Response<Body> {
    let n = shared.local_ids.fetch_add(1, Ordering::Relaxed);
    let id = format!("req_local_{n:010}");
    let body = wire::request_error_body(format, status, message, param, &id);
    json_response(status, &body, &[(id_header(format).into(), id)])
}

fn id_header(format: Format) -> &'static str {
    match format {
        Format::OpenAi => "x-request-id",
        Format::Anthropic => "request-id",
    }
}

fn json_response(status: u16, body: &Value, headers: &[(String, String)]) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).expect("a valid status"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response
        .body(full(body.to_string()))
        .expect("valid headers")
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// `GET /v1/models`: the scenario's models, in OpenAI's list shape or (for a client
/// sending `anthropic-version`) Anthropic's.
fn models(shared: &Shared, format: Format) -> Response<Body> {
    let models: Vec<(&str, &str)> = shared
        .scenario
        .providers
        .iter()
        .flat_map(|p| {
            p.models
                .iter()
                .map(move |m| (p.name.as_str(), m.name.as_str()))
        })
        .collect();
    let body = match format {
        Format::OpenAi => json!({
            "object": "list",
            "data": models.iter().map(|(provider, model)| json!({
                "id": model, "object": "model", "created": 0, "owned_by": provider,
            })).collect::<Vec<_>>(),
        }),
        Format::Anthropic => json!({
            "data": models.iter().map(|(_, model)| json!({
                "type": "model", "id": model, "display_name": model,
                "created_at": "1970-01-01T00:00:00Z",
            })).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": models.first().map(|m| m.1),
            "last_id": models.last().map(|m| m.1),
        }),
    };
    json_response(200, &body, &[])
}

/// The scenario's provider and model a request's `model` names: `provider/model`, or a
/// model name (the first provider that has it).
fn find_model(scenario: &Scenario, name: &str) -> Option<(usize, usize)> {
    let find = |pi: usize, model: &str| {
        scenario.providers[pi]
            .models
            .iter()
            .position(|m| m.name == model)
            .map(|mi| (pi, mi))
    };
    if let Some((provider, model)) = name.split_once('/')
        && let Some(pi) = scenario.provider_index(provider)
        && let Some(found) = find(pi, model)
    {
        return Some(found);
    }
    (0..scenario.providers.len()).find_map(|pi| find(pi, name))
}

/// A body beyond the limit is still read (and dropped) up to this many times the limit
/// before the 413 is sent, so that a client still writing its body reads the answer instead
/// of a broken pipe; beyond it the connection is cut.
const OVERSIZED_READ_FACTOR: u64 = 4;

/// The request's body, or the answer refusing it: 413 above the size limit, 400 when it
/// cannot be read.
async fn read_body(
    shared: &Shared,
    format: Format,
    headers: &HeaderMap,
    mut body: Incoming,
) -> Result<Bytes, Response<Body>> {
    let limit = shared.max_body_bytes as u64;
    let too_large = |shared: &Shared| {
        let message = format!("Request body is larger than the limit of {limit} bytes.");
        local_error(shared, format, 413, &message, None)
    };
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_mul(OVERSIZED_READ_FACTOR)) {
        return Err(too_large(shared));
    }
    let (mut kept, mut total) = (Vec::new(), 0u64);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let message = format!("Could not read the request body: {e}");
            local_error(shared, format, 400, &message, None)
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if total <= limit {
            kept.extend_from_slice(&data);
        } else if total > limit.saturating_mul(OVERSIZED_READ_FACTOR) {
            break;
        }
    }
    if total > limit {
        return Err(too_large(shared));
    }
    Ok(Bytes::from(kept))
}

async fn chat(shared: Arc<Shared>, format: Format, req: Request<Incoming>) -> Answered {
    let (parts, body) = req.into_parts();
    let body = match read_body(&shared, format, &parts.headers, body).await {
        Ok(body) => body,
        Err(response) => return Ok(response),
    };
    let request = match wire::parse_request(format, &body) {
        Ok(request) => request,
        Err(bad) => {
            return Ok(local_error(
                &shared,
                format,
                bad.status,
                &bad.message,
                bad.param,
            ));
        }
    };
    let Some(target) = find_model(&shared.scenario, &request.model) else {
        let message = match format {
            Format::OpenAi => format!(
                "The model `{}` does not exist or you do not have access to it.",
                request.model
            ),
            Format::Anthropic => format!("model: {}", request.model),
        };
        return Ok(local_error(&shared, format, 404, &message, Some("model")));
    };
    let max_tokens = request.max_tokens.unwrap_or_else(|| {
        world::group_for(&shared.scenario, target)
            .request
            .max_tokens
    });
    let caller = shared
        .log
        .is_some()
        .then(|| Caller::from_request(&parts.headers, &body));
    let group = world::group_index(&shared.scenario, target) as u16;
    let now = shared.clock.now_ns();
    let (arrival, ticket) = {
        let mut world = shared.world();
        let arrival = world.arrive(now, target, request.input_tokens, max_tokens);
        let ticket = caller.and_then(|caller| {
            let at = (target.0 as u16, target.1 as u16);
            let sent_ns = world.now_ns();
            let input = request.input_tokens;
            let announced = wire::announced_limits(&arrival.limits);
            Some(
                shared
                    .log()?
                    .sent(sent_ns, &caller, group, at, input, announced),
            )
        });
        (arrival, ticket)
    };
    let logged = Logged::new(Arc::clone(&shared), ticket);
    let id = format!("{:08x}{:016x}", shared.scenario.seed as u32, arrival.index);
    let provider = &shared.scenario.providers[target.0];
    let model = provider.models[target.1].name.clone();
    let mut headers = wire::ratelimit_headers(format, &arrival.limits, shared.scale, unix_ns());
    headers.push((id_header(format).into(), format!("req_{id}")));
    let reply = Reply {
        format,
        model: model.clone(),
        request_id: format!("req_{id}"),
        headers,
        refused_requests: arrival.limits[0].is_some_and(|l| l.remaining < 1.0),
    };
    match arrival.gate {
        Gate::Rejected {
            failure,
            retry_after_ns,
        } => {
            logged.failed(failure, retry_after_ns);
            let retry_after = retry_after_ns.map(|ns| (provider.retry_after, ns));
            reply.failure(failure, retry_after, shared.scale)
        }
        // Held until the client gives up: a record `client_closed`.
        Gate::ConnectHang => unanswered(logged).await,
        Gate::Accepted(admitted) => {
            tokio::spawn(drive_job(
                Arc::clone(&shared),
                admitted.job,
                admitted.state.clone(),
            ));
            let answer = Answer {
                id,
                request_index: arrival.index,
                model,
                created_s: (unix_ns() / 1_000_000_000) as u64,
                input_tokens: request.input_tokens,
                output_tokens: admitted.output_tokens,
                truncated: admitted.output_tokens >= max_tokens,
                include_usage: request.include_usage,
            };
            serve_admitted(shared, reply, request, answer, admitted, logged).await
        }
    }
}

/// What every answer to one request shares: its format, model, id and headers.
struct Reply {
    format: Format,
    model: String,
    request_id: String,
    headers: Vec<(String, String)>,
    /// The request bucket was empty (an OpenAI 429 of type `requests`, not `tokens`).
    refused_requests: bool,
}

impl Reply {
    /// The provider's error for `failure`, with its Retry-After when it has one.
    fn failure(
        &self,
        failure: Failure,
        retry_after: Option<(RetryAfterUnit, Nanos)>,
        scale: f64,
    ) -> Answered {
        if failure == Failure::ConnectionError {
            return Err(ConnectionDropped);
        }
        let shape = wire::error_shape(failure, &self.model, self.refused_requests);
        let types = (shape.openai_type, shape.openai_code, shape.anthropic_type);
        let body = wire::error_body(self.format, types, &shape.message, None, &self.request_id);
        let mut headers = self.headers.clone();
        if let Some((unit, world_ns)) = retry_after {
            headers.extend(retry_after_headers(unit, (world_ns as f64 / scale) as u128));
        }
        Ok(json_response(shape.status, &body, &headers))
    }
}

/// Retry-After as the provider writes it (`ratelimit::RetryAfterUnit`), in wall time.
/// A provider writing whole seconds (Anthropic) sends `retry-after` alone: whole at time
/// scale 1, a decimal under a time scale (the SDKs read decimals). Otherwise OpenAI's pair:
/// `retry-after-ms`, which the SDKs read first, and `retry-after` in whole seconds
/// (rounded up, as HTTP writes it).
fn retry_after_headers(unit: RetryAfterUnit, wall_ns: u128) -> Vec<(String, String)> {
    const NS_PER_S: u128 = 1_000_000_000;
    let ms = wall_ns.div_ceil(1_000_000);
    match unit {
        RetryAfterUnit::Seconds => {
            let seconds = if wall_ns.is_multiple_of(NS_PER_S) {
                format!("{}", wall_ns / NS_PER_S)
            } else {
                let text = format!("{:.3}", ms as f64 / 1_000.0);
                text.trim_end_matches('0').to_string()
            };
            vec![("retry-after".into(), seconds)]
        }
        RetryAfterUnit::Milliseconds | RetryAfterUnit::Exact => vec![
            ("retry-after-ms".into(), ms.to_string()),
            ("retry-after".into(), wall_ns.div_ceil(NS_PER_S).to_string()),
        ],
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// A request that is never answered: its connection stays open until the client gives up
/// (or the server's drain limit ends it).
async fn never() -> Answered {
    std::future::pending::<()>().await;
    unreachable!("a pending future never completes")
}

/// An attempt the request log follows, from its arrival to its end: `answered` or
/// `failed` ends it; dropped before (the client closed the connection, so hyper dropped the
/// answer's future or its body), it ends as `client_closed`.
///
/// A stream's attempt has two handles (`share`): the task writing it and the body hyper
/// reads; the first to end it takes the ticket. The body's is what notices a client that
/// hangs up between tokens: hyper drops it inside the connection's task as soon as it reads
/// the hang-up, so the record has the client's latency, is there for a retry to join, and
/// is logged before a graceful shutdown counts the connection done. The writing task alone
/// would find out only at its next send, possibly after the log was closed.
struct Logged {
    shared: Arc<Shared>,
    /// None inside: no request log, or already ended.
    ticket: Arc<Mutex<Option<Ticket>>>,
    /// A stream's answer: its head, with the rate-limit headers, went before its end.
    streaming: bool,
}

impl Logged {
    fn new(shared: Arc<Shared>, ticket: Option<Ticket>) -> Self {
        Logged {
            shared,
            ticket: Arc::new(Mutex::new(ticket)),
            streaming: false,
        }
    }

    /// The answer is a stream: from now on its client has the head, whatever the ending.
    fn streaming(mut self) -> Self {
        self.streaming = true;
        self
    }

    /// A second handle on the same attempt (see the type's doc).
    fn share(&self) -> Self {
        Logged {
            shared: Arc::clone(&self.shared),
            ticket: Arc::clone(&self.ticket),
            streaming: self.streaming,
        }
    }

    fn end(&mut self, ending: impl FnOnce(Nanos) -> Ending) {
        // Taken, and the lock released, before the log's lock is taken: never both.
        let taken = self.ticket.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(ticket) = taken else {
            return;
        };
        let at_ns = self.shared.clock.now_ns();
        if let Some(mut log) = self.shared.log() {
            log.ended(&ticket, ending(at_ns));
        }
    }

    fn failed(mut self, failure: Failure, retry_after_ns: Option<Nanos>) {
        // A refusing outage drops the connection instead of answering (`ConnectionDropped`).
        let head_sent = self.streaming || failure != Failure::ConnectionError;
        self.end(|at_ns| Ending {
            at_ns,
            failure: Some(failure),
            client_closed: false,
            head_sent,
            first_token_ns: None,
            output_tokens: 0,
            retry_after_ns,
        });
    }

    fn answered(mut self, first_token_ns: Nanos, output_tokens: u32) {
        self.end(|at_ns| Ending {
            at_ns,
            failure: None,
            client_closed: false,
            head_sent: true,
            first_token_ns: Some(first_token_ns),
            output_tokens,
            retry_after_ns: None,
        });
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let head_sent = self.streaming;
        self.end(|at_ns| Ending {
            at_ns,
            failure: None,
            client_closed: true,
            head_sent,
            first_token_ns: None,
            output_tokens: 0,
            retry_after_ns: None,
        });
    }
}

/// Never answers; the attempt's record waits with it for the client to close.
async fn unanswered(logged: Logged) -> Answered {
    let _logged = logged;
    never().await
}

/// The answer to an attempt a hard outage took down: its failure, or none (a hang).
async fn aborted_answer(
    reply: &Reply,
    failure: Option<Failure>,
    logged: Logged,
    scale: f64,
) -> Answered {
    match failure {
        Some(failure) => {
            logged.failed(failure, None);
            reply.failure(failure, None, scale)
        }
        None => unanswered(logged).await,
    }
}

/// Holds an accepted job's slot from the start of its service to its end, then frees it
/// (billing it, starting the next queued job). Runs whether or not the client waits.
async fn drive_job(shared: Arc<Shared>, job: u32, mut state: watch::Receiver<JobState>) {
    while *state.borrow_and_update() == JobState::Queued {
        if state.changed().await.is_err() {
            break;
        }
    }
    // None: aborted while queued, already released.
    let Some(end_ns) = shared.world().service_end_ns(job) else {
        return;
    };
    let end = shared.clock.instant_at(end_ns);
    if end > Instant::now() {
        tokio::time::sleep_until(end.into()).await;
    }
    let now = shared.clock.now_ns().max(end_ns);
    shared.world().service_done(now, job);
}

/// Resolves when the job is aborted by a hard outage, with the failure its client gets
/// (None: the provider hangs). Never resolves once the job ended normally.
async fn aborted(state: &mut watch::Receiver<JobState>) -> Option<Failure> {
    loop {
        if let JobState::Aborted(failure) = *state.borrow_and_update() {
            return failure;
        }
        if state.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Waits for `at` (Ok) or for an abort first (its failure).
async fn until(state: &mut watch::Receiver<JobState>, at: Instant) -> Result<(), Option<Failure>> {
    if let JobState::Aborted(failure) = *state.borrow_and_update() {
        return Err(failure);
    }
    if at <= Instant::now() {
        // Already due: tokio's timer would still wait for its next millisecond tick.
        return Ok(());
    }
    tokio::select! {
        () = tokio::time::sleep_until(at.into()) => Ok(()),
        failure = aborted(state) => Err(failure),
    }
}

async fn serve_admitted(
    shared: Arc<Shared>,
    reply: Reply,
    request: ChatRequest,
    answer: Answer,
    admitted: Admitted,
    logged: Logged,
) -> Answered {
    let Admitted {
        draw,
        service_ns,
        mut state,
        ..
    } = admitted;
    let scale = shared.scale;
    let start_ns = loop {
        let current = *state.borrow_and_update();
        match current {
            JobState::Serving { start_ns } => break start_ns,
            JobState::Aborted(failure) => {
                return aborted_answer(&reply, failure, logged, scale).await;
            }
            JobState::Queued => {
                if state.changed().await.is_err() {
                    return unanswered(logged).await;
                }
            }
        }
    };
    let end = shared.clock.instant_at(start_ns.saturating_add(service_ns));
    let pacing = Pacing {
        clock: shared.clock,
        start_ns,
        end_ns: start_ns.saturating_add(service_ns),
        ttft_s: draw.ttft_s,
        per_token_s: draw.per_token_s,
        multiplier: draw.latency_multiplier,
    };
    match draw.kind {
        ServiceKind::Hang => {
            let failure = aborted(&mut state).await;
            aborted_answer(&reply, failure, logged, scale).await
        }
        ServiceKind::Error(failure) => match until(&mut state, end).await {
            Ok(()) => {
                logged.failed(failure, None);
                reply.failure(failure, None, scale)
            }
            Err(failure) => aborted_answer(&reply, failure, logged, scale).await,
        },
        ServiceKind::Success if !request.stream => match until(&mut state, end).await {
            Ok(()) => {
                logged.answered(pacing.token_due_ns(0), answer.output_tokens);
                let body = wire::answer_body(reply.format, &answer);
                Ok(json_response(200, &body, &reply.headers))
            }
            Err(failure) => aborted_answer(&reply, failure, logged, scale).await,
        },
        ServiceKind::Success => {
            let (sender, receiver) = mpsc::channel(16);
            let mut response = Response::builder()
                .status(200)
                .header("content-type", "text/event-stream; charset=utf-8")
                .header("cache-control", "no-cache");
            for (name, value) in &reply.headers {
                response = response.header(name.as_str(), value.as_str());
            }
            let logged = logged.streaming();
            let body = ChannelBody {
                _logged: logged.share(),
                receiver,
            };
            tokio::spawn(stream(reply, answer, pacing, state, sender, logged));
            Ok(response.body(body.boxed()).expect("valid headers"))
        }
    }
}

/// When a streamed answer's tokens are due: token i at the time to first token plus i
/// per-token times, the end (the last events) at the service's end, as the simulator
/// counts a service: (ttft + per_token x output tokens) x the brownout's multiplier.
struct Pacing {
    clock: Clock,
    start_ns: Nanos,
    end_ns: Nanos,
    ttft_s: f64,
    per_token_s: f64,
    multiplier: f64,
}

impl Pacing {
    fn token_due_ns(&self, i: u32) -> Nanos {
        let offset = (self.ttft_s + self.per_token_s * f64::from(i)) * self.multiplier;
        self.start_ns.saturating_add(secs_to_ns(offset))
    }
}

type Chunk = Result<Frame<Bytes>, std::io::Error>;

/// Writes a streamed answer: the opening events, the tokens as they fall due (all those
/// due at once in one write, so a fast world at a high time scale costs few writes), the
/// closing events; or an error event if a hard outage takes the work down mid-stream (a
/// refusing outage cuts the connection instead). A client gone (the body dropped, which
/// logged it: see `Logged`) ends the task at once, between tokens or at a failed send.
async fn stream(
    reply: Reply,
    answer: Answer,
    pacing: Pacing,
    mut state: watch::Receiver<JobState>,
    sender: mpsc::Sender<Chunk>,
    logged: Logged,
) {
    let format = reply.format;
    let send = |text: String| {
        let sender = sender.clone();
        async move {
            sender
                .send(Ok(Frame::data(Bytes::from(text))))
                .await
                .is_ok()
        }
    };
    let head = wire::stream_head(format, &answer);
    if !head.is_empty() && !send(head).await {
        return;
    }
    let total = answer.output_tokens;
    let mut sent = 0;
    let mut outcome = Ok(());
    while sent < total {
        let now = pacing.clock.now_ns();
        let mut due = sent;
        while due < total && pacing.token_due_ns(due) <= now {
            due += 1;
        }
        if due > sent {
            if !send(wire::stream_tokens(format, &answer, sent, due)).await {
                return;
            }
            sent = due;
            continue;
        }
        let next = pacing.clock.instant_at(pacing.token_due_ns(sent));
        let Some(waited) = until_or_gone(&mut state, next, &sender).await else {
            return;
        };
        outcome = waited;
        if outcome.is_err() {
            break;
        }
    }
    if outcome.is_ok() {
        let end = pacing.clock.instant_at(pacing.end_ns);
        let Some(waited) = until_or_gone(&mut state, end, &sender).await else {
            return;
        };
        outcome = waited;
    }
    match outcome {
        Ok(()) => {
            if send(wire::stream_tail(format, &answer)).await {
                logged.answered(pacing.token_due_ns(0), total);
            }
        }
        Err(Some(Failure::ConnectionError)) => {
            logged.failed(Failure::ConnectionError, None);
            let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "outage");
            let _ = sender.send(Err(cut)).await;
        }
        Err(Some(failure)) => {
            let shape = wire::error_shape(failure, &reply.model, false);
            if send(wire::stream_error(format, &shape, &reply.request_id)).await {
                logged.failed(failure, None);
            }
        }
        // The provider hangs: the stream stalls until the client gives up.
        Err(None) => {
            sender.closed().await;
            drop(logged);
        }
    }
}

/// As `until`, or None as soon as the client is gone (the stream's body dropped).
async fn until_or_gone(
    state: &mut watch::Receiver<JobState>,
    at: Instant,
    sender: &mpsc::Sender<Chunk>,
) -> Option<Result<(), Option<Failure>>> {
    tokio::select! {
        outcome = until(state, at) => Some(outcome),
        () = sender.closed() => None,
    }
}

/// A response body fed by a channel: the streaming task writes, hyper reads. Dropped
/// before the stream's end (the client hung up), it ends the attempt as `client_closed`.
struct ChannelBody {
    /// Declared first so that it is dropped first: the record is taken before the
    /// channel's closing wakes the streaming task.
    _logged: Logged,
    receiver: mpsc::Receiver<Chunk>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        self.receiver.poll_recv(cx)
    }
}
