//! `aichaos serve` on loopback, met by a real HTTP client (hyper's): answers and their
//! pacing, rate limits with their headers, outages, credits, hangs, the queue, bad input,
//! streaming in both formats, Ctrl-C, the models list, and the request log with the
//! walk-through it serves: a client with its own retries, its log fitted back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use aichaos::serve::{Config, Served, Server};

use crate::support::scenario;

/// A server on a free loopback port, on a runtime of its own.
struct Live {
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<Served>>,
}

/// An answer as the client saw it.
struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
    elapsed: Duration,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    #[track_caller]
    fn header(&self, name: &str) -> &str {
        match self.headers.get(name) {
            Some(v) => v.to_str().unwrap(),
            None => panic!("no {name} header in {:?}", self.headers),
        }
    }
}

/// Serves the test world (`support::base`) with `patch` merged over it.
fn serve(patch: Value, time_scale: f64) -> Live {
    serve_logged(patch, time_scale, None)
}

/// As `serve`, writing the request log to `log`.
fn serve_logged(patch: Value, time_scale: f64, log: Option<&std::path::Path>) -> Live {
    let config = Config {
        time_scale,
        drain_limit: Duration::from_secs(2),
        request_log: log.map(|p| p.to_path_buf()),
        ..Config::new(scenario(patch))
    };
    start(config)
}

/// Serves `config` on a free loopback port.
fn start(config: Config) -> Live {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(Server::bind("127.0.0.1:0".parse().unwrap(), config))
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));
    Live {
        addr,
        runtime,
        stop: Some(stop),
        served: Some(served),
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn send(
    addr: SocketAddr,
    path: &str,
    body: Bytes,
    anthropic: bool,
) -> hyper::Response<hyper::body::Incoming> {
    send_with(addr, path, body, anthropic, &[]).await
}

async fn send_with(
    addr: SocketAddr,
    path: &str,
    body: Bytes,
    anthropic: bool,
    headers: &[(&str, String)],
) -> hyper::Response<hyper::body::Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let method = if body.is_empty() { "GET" } else { "POST" };
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    if anthropic {
        request = request.header("anthropic-version", "2023-06-01");
    }
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    sender
        .send_request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap()
}

impl Live {
    /// Stops the server as Ctrl-C does and waits for it to drain and write its log.
    fn stop(mut self) -> Served {
        let _ = self.stop.take().expect("running").send(());
        let served = self.served.take().expect("running");
        self.runtime.block_on(served).expect("the server's task")
    }

    /// Sends `body` (empty: a GET) to `path`; None if no whole answer came within `timeout`.
    fn call(&self, path: &str, body: &Value, timeout: Duration) -> Option<Answer> {
        let bytes = match body {
            Value::Null => Bytes::new(),
            other => Bytes::from(other.to_string()),
        };
        let (addr, anthropic) = (self.addr, path == "/v1/messages");
        self.runtime.block_on(async move {
            let started = Instant::now();
            let exchange = async {
                let response = send(addr, path, bytes, anthropic).await;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                Answer {
                    status,
                    headers,
                    body: String::from_utf8(body.to_vec()).unwrap(),
                    elapsed: started.elapsed(),
                }
            };
            tokio::time::timeout(timeout, exchange).await.ok()
        })
    }

    #[track_caller]
    fn post(&self, path: &str, body: Value) -> Answer {
        self.call(path, &body, Duration::from_secs(20))
            .expect("an answer in 20 s")
    }

    /// A streamed answer: each chunk of the body with the time it arrived after the first.
    fn stream(&self, path: &str, body: Value) -> (u16, Vec<(Duration, String)>) {
        let (addr, anthropic) = (self.addr, path == "/v1/messages");
        self.runtime.block_on(async move {
            let response = send(addr, path, Bytes::from(body.to_string()), anthropic).await;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut chunks = Vec::new();
            let mut first = None;
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame.unwrap().into_data() else {
                    continue;
                };
                let at = *first.get_or_insert_with(Instant::now);
                chunks.push((at.elapsed(), String::from_utf8(data.to_vec()).unwrap()));
            }
            (status, chunks)
        })
    }
}

fn openai(model: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": "Say something." }] })
}

fn anthropic(model: &str) -> Value {
    json!({ "model": model, "max_tokens": 100,
            "messages": [{ "role": "user", "content": "Say something." }] })
}

/// The test world's answers: 50 output tokens after 200 ms plus 10 ms each = 700 ms.
#[test]
fn answers_carry_the_drawn_length_and_take_the_drawn_time() {
    let live = serve(json!({}), 1.0);
    let a = live.post("/v1/chat/completions", openai("m"));
    assert_eq!(a.status, 200, "{}", a.body);
    let body = a.json();
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(text.split(' ').count(), 50);
    assert_eq!(body["usage"]["completion_tokens"], 50);
    assert_eq!(body["usage"]["prompt_tokens"], 4); // "Say something." is 14 characters
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(a.header("x-request-id").starts_with("req_"));
    assert!(
        (Duration::from_millis(690)..Duration::from_millis(1_500)).contains(&a.elapsed),
        "{:?}",
        a.elapsed
    );
    let b = live.post("/v1/messages", anthropic("p/m"));
    assert_eq!(b.status, 200, "{}", b.body);
    let body = b.json();
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["content"][0]["text"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        50
    );
    assert_eq!(body["usage"]["output_tokens"], 50);
    assert_eq!(body["stop_reason"], "end_turn");
    assert!(b.header("request-id").starts_with("req_"));
    let models = live
        .call("/v1/models", &Value::Null, Duration::from_secs(5))
        .unwrap();
    assert_eq!(models.json()["data"][0]["id"], "m");
}

/// Common random numbers: the k-th request's draws depend on the seed and k alone.
#[test]
fn the_kth_request_meets_the_same_draws_on_every_server() {
    let world = json!({ "traffic": [{ "name": "app", "request": {
        "output_tokens": { "dist": "uniform", "min": 1, "max": 90 } } }] });
    let answers = |seed: u64| {
        let mut patch = world.clone();
        patch["seed"] = json!(seed);
        let live = serve(patch, 50.0);
        (0..4)
            .map(|_| live.post("/v1/chat/completions", openai("m")).json()["choices"][0]["message"]["content"].clone())
            .collect::<Vec<_>>()
    };
    let first = answers(7);
    assert_eq!(first, answers(7));
    assert_ne!(first, answers(8));
    let lengths: Vec<usize> = first
        .iter()
        .map(|t| t.as_str().unwrap().split(' ').count())
        .collect();
    assert!(lengths.windows(2).any(|w| w[0] != w[1]), "{lengths:?}");
}

/// RPM 2 held as a full minute: two answers, then a 429 whose headers say when a request
/// fits again (30 s for the next token at 2 a minute).
#[test]
fn an_empty_bucket_answers_429_with_retry_after_and_ratelimit_headers() {
    let live = serve(
        json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": 2 }, "retry_after": "milliseconds" }] }),
        1.0,
    );
    let first = live.post("/v1/chat/completions", openai("m"));
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit-requests"), "2");
    assert_eq!(first.header("x-ratelimit-remaining-requests"), "1");
    let second = live.post("/v1/chat/completions", openai("m"));
    assert_eq!(second.header("x-ratelimit-remaining-requests"), "0");
    let refused = live.post("/v1/chat/completions", openai("m"));
    assert_eq!(refused.status, 429, "{}", refused.body);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(error["type"], "requests");
    // The first token comes back 30 s after the first request; about 1.4 s have passed.
    let ms: u64 = refused.header("retry-after-ms").parse().unwrap();
    assert!((27_000..=30_000).contains(&ms), "{ms}");
    assert_eq!(
        refused.header("retry-after"),
        format!("{}", ms.div_ceil(1000))
    );
    let reset = refused.header("x-ratelimit-reset-requests");
    assert!(reset.starts_with("5") && reset.ends_with('s'), "{reset}");

    // Anthropic writes whole seconds and its own error type and headers.
    let live = serve(
        json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": 1 }, "retry_after": "seconds" }] }),
        1.0,
    );
    assert_eq!(live.post("/v1/messages", anthropic("m")).status, 200);
    let refused = live.post("/v1/messages", anthropic("m"));
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"]["type"], "rate_limit_error");
    assert_eq!(refused.json()["type"], "error");
    assert_eq!(refused.header("retry-after"), "60");
    assert!(refused.headers.get("retry-after-ms").is_none());
    assert_eq!(refused.header("anthropic-ratelimit-requests-limit"), "1");
    assert_eq!(
        refused.header("anthropic-ratelimit-requests-remaining"),
        "0"
    );
    let reset = refused.header("anthropic-ratelimit-requests-reset");
    assert!(reset.len() == 20 && reset.ends_with('Z'), "{reset}");
}

/// A scheduled outage answers its status from the server's start; after it, answers come.
#[test]
fn an_outage_window_answers_503_or_529() {
    // 1 s of world time is 20 ms of wall time at scale 50.
    let live = serve(
        json!({ "providers": [{ "name": "p", "outages": [{ "start": "0s", "duration": "20s", "behaviour": "503" }] }] }),
        50.0,
    );
    let down = live.post("/v1/chat/completions", openai("m"));
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.json()["error"]["type"], "server_error");
    std::thread::sleep(Duration::from_millis(450));
    assert_eq!(live.post("/v1/chat/completions", openai("m")).status, 200);

    let live = serve(
        json!({ "providers": [{ "name": "p", "outages": [{ "start": "0s", "duration": "1h", "behaviour": "529" }] }] }),
        1.0,
    );
    let overloaded = live.post("/v1/messages", anthropic("m"));
    assert_eq!(overloaded.status, 529);
    assert_eq!(overloaded.json()["error"]["type"], "overloaded_error");
}

/// An account out of credits answers as its provider does: 402 `billing_error`, or OpenAI's
/// 429 `insufficient_quota`.
#[test]
fn exhausted_credits_answer_the_providers_own_error() {
    for (status, openai_type) in [(402, "billing_error"), (429, "insufficient_quota")] {
        // A call reserves 4 input and 100 max_tokens at $1 and $2 per million: $0.000204,
        // more than the balance, so the first call is refused.
        let live = serve(
            json!({ "providers": [{ "name": "p",
                "credits": { "balance_usd": 0.0002, "exhausted_status": status } }] }),
            1.0,
        );
        let refused = live.post("/v1/chat/completions", openai("m"));
        assert_eq!(refused.status, status, "{}", refused.body);
        assert_eq!(refused.json()["error"]["type"], openai_type);
        assert!(refused.headers.get("retry-after").is_none());
        let refused = live.post("/v1/messages", anthropic("m"));
        let anthropic_type = if status == 402 {
            "billing_error"
        } else {
            "rate_limit_error"
        };
        assert_eq!(refused.json()["error"]["type"], anthropic_type);
    }
}

/// A hang never answers: the client's timeout is what ends it; the server goes on.
#[test]
fn a_hang_is_cut_by_the_clients_timeout() {
    let live = serve(
        json!({ "providers": [{ "name": "p", "errors": { "hang": 1.0 } }] }),
        10.0,
    );
    let started = Instant::now();
    let answer = live.call(
        "/v1/chat/completions",
        &openai("m"),
        Duration::from_millis(400),
    );
    assert!(answer.is_none(), "a hung request was answered");
    assert!(started.elapsed() >= Duration::from_millis(400));
    let models = live.call("/v1/models", &Value::Null, Duration::from_secs(2));
    assert_eq!(models.map(|a| a.status), Some(200));
}

/// One slot and a queue of one: the second call waits for the first, the third is refused
/// at once as overloaded.
#[test]
fn capacity_queues_then_refuses_as_overloaded() {
    let live = serve(
        json!({ "providers": [{ "name": "p", "capacity": { "slots": 1, "queue_limit": 1, "overload_status": 529 } }] }),
        1.0,
    );
    let live = std::sync::Arc::new(live);
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let live = std::sync::Arc::clone(&live);
            std::thread::sleep(Duration::from_millis(50));
            std::thread::spawn(move || {
                let _ = i;
                let a = live.post("/v1/chat/completions", openai("m"));
                (a.status, a.elapsed)
            })
        })
        .collect();
    let mut results: Vec<(u16, Duration)> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    results.sort_by_key(|r| r.1);
    assert_eq!(results[0].0, 529, "{results:?}");
    assert!(results[0].1 < Duration::from_millis(200), "{results:?}");
    assert_eq!((results[1].0, results[2].0), (200, 200), "{results:?}");
    // The queued one waited for the first's 700 ms.
    assert!(results[2].1 > Duration::from_millis(1_250), "{results:?}");
}

#[test]
fn bad_requests_get_the_providers_400_404_and_413() {
    let live = serve(json!({}), 1.0);
    let unknown = live.post("/v1/chat/completions", openai("gpt-nope"));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "model_not_found");
    let unknown = live.post("/v1/messages", anthropic("claude-nope"));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["type"], "not_found_error");
    let no_max = live.post("/v1/messages", openai("m"));
    assert_eq!(no_max.status, 400);
    assert_eq!(no_max.json()["error"]["type"], "invalid_request_error");
    assert!(no_max.body.contains("max_tokens"), "{}", no_max.body);
    let not_json = live.post("/v1/chat/completions", json!("not an object"));
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json()["error"]["type"], "invalid_request_error");
    let huge = "x".repeat(aichaos::serve::DEFAULT_MAX_BODY_BYTES + 1);
    let big = live.post(
        "/v1/messages",
        json!({ "model": "m", "max_tokens": 5,
        "messages": [{ "role": "user", "content": huge }] }),
    );
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["error"]["type"], "request_too_large");
    let nowhere = live.post("/v2/whatever", json!({}));
    assert_eq!(nowhere.status, 404);
}

/// OpenAI's stream: a role chunk, content chunks paced by the per-token time, the finish
/// chunk, the usage chunk when asked, `[DONE]`.
#[test]
fn openai_streams_paced_chunks_and_usage_at_the_end() {
    // 50 tokens at 20 ms after 200 ms: the tokens span 980 ms.
    let live = serve(
        json!({ "providers": [{ "name": "p", "models": [{ "name": "m", "per_token": "20ms" }] }] }),
        1.0,
    );
    let mut body = openai("m");
    body["stream"] = json!(true);
    body["stream_options"] = json!({ "include_usage": true });
    let (status, chunks) = live.stream("/v1/chat/completions", body);
    assert_eq!(status, 200);
    let events: Vec<(Duration, Value)> = chunks
        .iter()
        .flat_map(|(at, text)| {
            text.split("\n\n")
                .filter_map(|e| e.strip_prefix("data: "))
                .filter(|d| *d != "[DONE]")
                .map(|d| (*at, serde_json::from_str::<Value>(d).unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(chunks.last().unwrap().1.ends_with("data: [DONE]\n\n"));
    assert_eq!(events[0].1["choices"][0]["delta"]["role"], "assistant");
    let text: String = events
        .iter()
        .filter_map(|(_, e)| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text.split(' ').count(), 50);
    let finish = events
        .iter()
        .find(|(_, e)| e["choices"][0]["finish_reason"] == "stop");
    assert!(finish.is_some());
    let last = &events.last().unwrap().1;
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 50);
    // Paced, not sent at once: the last token comes about 980 ms after the first.
    let spread = events.last().unwrap().0 - events[0].0;
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(2_000)).contains(&spread),
        "{spread:?}"
    );
    assert!(events.len() > 10, "{} events", events.len());
}

/// Anthropic's stream: its event types in their order, the text, the usage.
#[test]
fn anthropic_streams_its_event_types() {
    let live = serve(json!({}), 1.0);
    let mut body = anthropic("m");
    body["stream"] = json!(true);
    let (status, chunks) = live.stream("/v1/messages", body);
    assert_eq!(status, 200);
    let all: String = chunks.iter().map(|(_, t)| t.as_str()).collect();
    let events: Vec<(&str, Value)> = all
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name);
            (name, data)
        })
        .collect();
    let mut names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let text: String = events
        .iter()
        .filter_map(|(_, e)| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text.split(' ').count(), 50);
    let delta = &events
        .iter()
        .find(|(n, _)| *n == "message_delta")
        .unwrap()
        .1;
    assert_eq!(delta["usage"]["output_tokens"], 50);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
}

/// A hard outage that begins mid-stream ends it with the provider's error event.
#[test]
fn an_outage_mid_stream_sends_the_providers_error_event() {
    let live = serve(
        json!({ "providers": [{ "name": "p",
            "outages": [{ "start": "500ms", "duration": "1h", "behaviour": "529" }] }] }),
        1.0,
    );
    let mut body = anthropic("m");
    body["stream"] = json!(true);
    let (status, chunks) = live.stream("/v1/messages", body);
    assert_eq!(status, 200);
    let all: String = chunks.iter().map(|(_, t)| t.as_str()).collect();
    assert!(all.contains("event: error\ndata: "), "{all}");
    assert!(all.contains("overloaded_error"), "{all}");
    assert!(!all.contains("message_stop"), "{all}");
}

/// The binary: prints its address, serves, and drains on Ctrl-C with the shell's code.
#[test]
fn the_command_prints_its_address_and_stops_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("world.json");
    std::fs::write(&file, crate::support::base().to_string()).unwrap();
    let log = dir.path().join("served.csv");
    let mut child = crate::support::start(&[
        "serve",
        file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--time-scale",
        "10",
        "--request-log",
        log.to_str().unwrap(),
    ]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.split("http://").nth(1).unwrap().trim();
    let addr: SocketAddr = addr.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status =
        runtime.block_on(async { send(addr, "/v1/models", Bytes::new(), false).await.status() });
    assert_eq!(status, 200);
    let body = Bytes::from(openai("m").to_string());
    let status = runtime.block_on(async {
        send(addr, "/v1/chat/completions", body, false)
            .await
            .status()
    });
    assert_eq!(status, 200);
    sigint(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("wrote 1 records"), "{stderr}");
    let written = std::fs::read_to_string(&log).unwrap();
    assert_eq!(written.lines().count(), 2, "{written}");
    assert!(written.contains(",first,app,p,m,ok,200,"), "{written}");

    // A log that cannot be created: exit 2 before serving.
    let nowhere = dir.path().join("no-such-dir").join("log.jsonl");
    let (code, _, stderr) = crate::support::aichaos(&[
        "serve",
        file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--request-log",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--request-log") && stderr.contains("log.jsonl"),
        "{stderr}"
    );

    let (code, _, stderr) =
        crate::support::aichaos(&["serve", file.to_str().unwrap(), "--time-scale", "0"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--time-scale"), "{stderr}");

    // A bad scenario file: the usual error (file, field path, reason), exit 2.
    let bad = dir.path().join("bad.json");
    let mut world = crate::support::base();
    world["providers"][0]["rate_limits"] = json!({ "rpm": -1 });
    std::fs::write(&bad, world.to_string()).unwrap();
    let (code, _, stderr) = crate::support::aichaos(&["serve", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bad.json") && stderr.contains("rate_limits.rpm"),
        "{stderr}"
    );
}

fn sigint(pid: u32) {
    // The shell's builtin `kill`: no procps needed.
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `GET /v1/models` in each provider's list shape: OpenAI's `object: list` of `model`s
/// with `created` and `owned_by`; Anthropic's (for a client sending `anthropic-version`)
/// `type: model` entries with `display_name` and RFC 3339 `created_at`, and the page's
/// `has_more`, `first_id`, `last_id`.
#[test]
fn the_models_list_has_each_providers_shape() {
    let live = serve(
        json!({ "providers": [{ "name": "p", "models": [
            { "name": "m" },
            { "name": "m2", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0,
              "ttft": "200ms", "per_token": "10ms" }] }] }),
        1.0,
    );
    let openai = live
        .call("/v1/models", &Value::Null, Duration::from_secs(5))
        .unwrap()
        .json();
    assert_eq!(
        openai,
        json!({ "object": "list", "data": [
            { "id": "m", "object": "model", "created": 0, "owned_by": "p" },
            { "id": "m2", "object": "model", "created": 0, "owned_by": "p" }] })
    );
    let (addr, runtime) = (live.addr, &live.runtime);
    let anthropic = runtime.block_on(async {
        let response = send(addr, "/v1/models", Bytes::new(), true).await;
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<Value>(&body).unwrap()
    });
    assert_eq!(
        anthropic,
        json!({ "data": [
            { "type": "model", "id": "m", "display_name": "m", "created_at": "1970-01-01T00:00:00Z" },
            { "type": "model", "id": "m2", "display_name": "m2", "created_at": "1970-01-01T00:00:00Z" }],
            "has_more": false, "first_id": "m", "last_id": "m2" })
    );
}

/// Reads a JSON-lines request log.
fn log_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

impl Live {
    /// POSTs `body` to the OpenAI path with `headers`; the status.
    fn post_with(&self, body: &Value, headers: &[(&str, String)]) -> u16 {
        let addr = self.addr;
        let bytes = Bytes::from(body.to_string());
        self.runtime.block_on(async move {
            let response = send_with(addr, "/v1/chat/completions", bytes, false, headers).await;
            let status = response.status().as_u16();
            response.into_body().collect().await.unwrap();
            status
        })
    }
}

/// `--request-log`: one record per attempt in `run --request-log`'s format, in world time,
/// attempts joined into requests by `x-aichaos-request-id` or by the SDKs'
/// `x-stainless-retry-count` with the same body.
#[test]
fn the_request_log_has_a_record_per_attempt_joined_into_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    // RPM 2: two answers, then 429s. At time scale 10 an answer's 700 ms take 70 ms.
    let live = serve_logged(
        json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": 2 }, "retry_after": "milliseconds" }] }),
        10.0,
        Some(&path),
    );
    let id = |v: &str| vec![("x-aichaos-request-id", v.to_string())];
    let sdk = |n: u32| vec![("x-stainless-retry-count", n.to_string())];
    let mut other = openai("m");
    other["messages"][0]["content"] = json!("Another prompt.");
    assert_eq!(live.post_with(&openai("m"), &id("job-1")), 200);
    assert_eq!(live.post_with(&openai("m"), &id("job-1")), 200);
    assert_eq!(live.post_with(&openai("m"), &sdk(0)), 429);
    assert_eq!(live.post_with(&other, &sdk(0)), 429);
    assert_eq!(live.post_with(&openai("m"), &sdk(1)), 429);
    assert_eq!(live.post_with(&openai("m"), &[]), 429);
    let served = live.stop();
    assert_eq!(served.log.unwrap().unwrap(), 6);
    let log = log_lines(&path);
    let column = |name: &str| log.iter().map(|r| r[name].clone()).collect::<Vec<_>>();
    assert_eq!(
        column("request_id"),
        json!([0, 0, 1, 2, 1, 3]).as_array().unwrap().clone()
    );
    assert_eq!(
        column("attempt"),
        json!([0, 1, 0, 0, 1, 0]).as_array().unwrap().clone()
    );
    assert_eq!(
        column("kind"),
        json!(["first", "retry", "first", "first", "retry", "first"])
            .as_array()
            .unwrap()
            .clone()
    );
    let outcomes = column("outcome");
    assert_eq!(
        &outcomes[..3],
        &[json!("ok"), json!("ok"), json!("rate_limited")]
    );
    let ok = &log[0];
    assert_eq!(
        (&ok["group"], &ok["provider"], &ok["model"], &ok["status"]),
        (&json!("app"), &json!("p"), &json!("m"), &json!(200))
    );
    assert_eq!(
        (&ok["input_tokens"], &ok["output_tokens"]),
        (&json!(4), &json!(50))
    );
    // World time: 200 ms to the first token, 700 ms to the end (plus the server's own
    // time, times 10).
    let ttft = ok["ttft_ns"].as_u64().unwrap();
    let latency = ok["latency_ns"].as_u64().unwrap();
    assert!((200_000_000..300_000_000).contains(&ttft), "{ttft}");
    assert!((700_000_000..1_500_000_000).contains(&latency), "{latency}");
    let refused = &log[2];
    assert_eq!(
        (&refused["status"], &refused["output_tokens"]),
        (&json!(429), &json!(0))
    );
    assert!(refused.get("ttft_ns").is_none());
    // The next request fits 30 s (world) after the first, about 1.5 s later.
    let retry_after = refused["retry_after_ns"].as_u64().unwrap();
    assert!(
        (25_000_000_000..=30_000_000_000).contains(&retry_after),
        "{retry_after}"
    );
    let times: Vec<u64> = log.iter().map(|r| r["t_ns"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(times[1] >= times[0] + latency, "{times:?}");
}

/// A client that closes its connection before the answer is logged as such (CSV here),
/// with no rate-limit fields (it read no headers), and the record waits for it: records
/// stay in the order sent.
#[test]
fn a_client_that_gives_up_is_logged_as_client_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.csv");
    let live = serve_logged(
        json!({ "providers": [{ "name": "p", "errors": { "hang": 0.5 },
            "rate_limits": { "rpm": 1000 } }] }),
        10.0,
        Some(&path),
    );
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = live.call(
            "/v1/chat/completions",
            &openai("m"),
            Duration::from_millis(300),
        );
        statuses.push(answer.map(|a| a.status));
    }
    std::thread::sleep(Duration::from_millis(100));
    live.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), served_csv_header());
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6, "{text}");
    for (row, status) in rows.iter().zip(&statuses) {
        match status {
            Some(200) => assert_eq!((row[7], row[8], row[14]), ("ok", "200", "1000"), "{text}"),
            None => {
                assert_eq!(
                    (row[7], row[8], row[10], row[14]),
                    ("client_closed", "", "", ""),
                    "{text}"
                );
                // Given up after 300 ms of wall time: 3 s of world time.
                let latency: u64 = row[9].parse().unwrap();
                assert!(
                    (3_000_000_000..4_500_000_000).contains(&latency),
                    "{latency}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        statuses.contains(&None) && statuses.contains(&Some(200)),
        "{statuses:?}"
    );
}

/// The header of `serve`'s CSV request log: `run`'s columns, then the rate-limit ones.
fn served_csv_header() -> String {
    use aichaos::requestlog::{COLUMNS, RATELIMIT_COLUMNS};
    [&COLUMNS[..], &RATELIMIT_COLUMNS[..]].concat().join(",")
}

/// The request log's rate-limit fields and the headers they stand for, OpenAI's names.
const RATELIMIT_HEADERS: [(&str, &str); 4] = [
    ("ratelimit_limit_requests", "x-ratelimit-limit-requests"),
    (
        "ratelimit_remaining_requests",
        "x-ratelimit-remaining-requests",
    ),
    ("ratelimit_limit_tokens", "x-ratelimit-limit-tokens"),
    ("ratelimit_remaining_tokens", "x-ratelimit-remaining-tokens"),
];

/// A header's value as a count, None when the answer did not send it.
fn header_count(answer: &Answer, name: &str) -> Option<u64> {
    let value = answer.headers.get(name)?.to_str().unwrap();
    Some(
        value
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {value}: {e}")),
    )
}

/// Each record carries the rate-limit headers its answer sent, the numbers the client read
/// (a full RPM bucket of 3 going down by one an answer, then a 429 saying 0 remain), and
/// `fit` takes the served limits from them rather than inferring them.
#[test]
fn the_request_log_carries_the_rate_limit_headers_and_fit_takes_the_limits_from_them() {
    const RPM: u64 = 3;
    const TPM: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("served.jsonl");
    let live = serve_logged(
        json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": RPM, "tpm": TPM } }] }),
        10.0,
        Some(&log),
    );
    let answers: Vec<Answer> = (0..4)
        .map(|_| live.post("/v1/chat/completions", openai("m")))
        .collect();
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(live.stop().log.unwrap().unwrap(), 4);
    let records = log_lines(&log);
    for (record, answer) in records.iter().zip(&answers) {
        for (field, header) in RATELIMIT_HEADERS {
            let sent = header_count(answer, header).unwrap_or_else(|| panic!("no {header}"));
            assert_eq!(record[field], json!(sent), "{field}: {record}");
        }
    }
    let column =
        |field: &str| -> Vec<u64> { records.iter().map(|r| r[field].as_u64().unwrap()).collect() };
    assert_eq!(column("ratelimit_limit_requests"), [RPM; 4]);
    // Refilling at 3 a minute, the 2 s of world time the answers take give back a tenth.
    assert_eq!(column("ratelimit_remaining_requests"), [2, 1, 0, 0]);
    assert_eq!(column("ratelimit_limit_tokens"), [TPM; 4]);
    // A full bucket less the first request's 4 input tokens and 100 `max_tokens`.
    assert_eq!(column("ratelimit_remaining_tokens")[0], TPM - 104);

    let fitted = dir.path().join("fitted.json");
    let (code, stdout, err) = crate::support::fit(&log, &fitted, &["--no-charts"]);
    assert_eq!(code, 0, "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("fit.json")).unwrap())
            .unwrap();
    assert_eq!(
        report["providers"][0]["limits_source"], "logged",
        "{stdout}"
    );
    let scenario: Value = serde_json::from_str(&std::fs::read_to_string(&fitted).unwrap()).unwrap();
    assert_eq!(
        scenario["providers"][0]["models"][0]["rate_limits"],
        json!({ "rpm": RPM, "tpm": TPM })
    );
}

/// Sends `body` to the OpenAI path and reads until the server closes the connection: the
/// bytes it answered (none when it dropped the connection).
fn answer_bytes(addr: SocketAddr, body: &Value) -> Vec<u8> {
    use std::io::{Read, Write};
    let body = body.to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // A reset instead of a close is the same answer: none.
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// The CSV form has the four rate-limit columns, in both wire formats; a limit the world
/// does not have (no RPM here) and an attempt that got no answer (a dropped connection)
/// leave them empty, as no header said anything.
#[test]
fn the_csv_request_log_leaves_empty_what_no_header_announced() {
    const TPM: u64 = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("served.csv");
    let model = json!({ "name": "d", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0,
        "ttft": "200ms", "per_token": "10ms" });
    let live = serve_logged(
        json!({ "providers": [
            { "name": "p", "rate_limits": { "tpm": TPM } },
            { "name": "down", "rate_limits": { "rpm": 5, "tpm": TPM }, "models": [model],
              "outages": [{ "start": "0s", "duration": "1h", "behaviour": "refuse" }] }] }),
        10.0,
        Some(&path),
    );
    let openai_answer = live.post("/v1/chat/completions", openai("m"));
    let anthropic_answer = live.post("/v1/messages", anthropic("m"));
    assert_eq!((openai_answer.status, anthropic_answer.status), (200, 200));
    assert!(header_count(&openai_answer, "x-ratelimit-limit-requests").is_none());
    assert_eq!(answer_bytes(live.addr, &openai("d")), b"");
    assert_eq!(live.stop().log.unwrap().unwrap(), 3);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), served_csv_header());
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let ratelimit = |row: &[&str]| row[14..].iter().map(|v| v.to_string()).collect::<Vec<_>>();
    // No requests columns; the tokens ones as the answer's headers said.
    let announced = |answer: &Answer, limit: &str, remaining: &str| {
        let count = |name| header_count(answer, name).unwrap().to_string();
        vec![String::new(), String::new(), count(limit), count(remaining)]
    };
    assert_eq!(
        ratelimit(&rows[0]),
        announced(
            &openai_answer,
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens"
        ),
        "{text}"
    );
    assert_eq!(
        ratelimit(&rows[1]),
        announced(
            &anthropic_answer,
            "anthropic-ratelimit-tokens-limit",
            "anthropic-ratelimit-tokens-remaining"
        ),
        "{text}"
    );
    assert_eq!(ratelimit(&rows[0])[2], TPM.to_string());
    assert_eq!(
        (rows[2][6], rows[2][7]),
        ("d", "connection_error"),
        "{text}"
    );
    assert_eq!(ratelimit(&rows[2]), ["", "", "", ""], "{text}");
}

/// One logical request as a Stainless SDK sends it (openai-python's defaults): up to 3
/// attempts, each with `x-stainless-retry-count`, backing off min(0.5 * 2^n, 8) * (1 - U/4)
/// seconds of world time between them (divided by `scale` on the wall). Its attempts.
async fn sdk_request(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    body: &Bytes,
    scale: f64,
    uniform: &mut impl FnMut() -> f64,
) -> u32 {
    for retry in 0..3u32 {
        let request = Request::post("/v1/chat/completions")
            .header("host", "walk-through")
            .header("content-type", "application/json")
            .header("x-stainless-retry-count", retry.to_string())
            .body(Full::new(body.clone()))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        if status == 200 || retry == 2 {
            return retry + 1;
        }
        let backoff_s = (0.5 * 2f64.powi(retry as i32)).min(8.0) * (1.0 - 0.25 * uniform());
        tokio::time::sleep(Duration::from_secs_f64(backoff_s / scale)).await;
    }
    unreachable!("the third attempt returns")
}

/// The serve guide's walk-through (docs/src/guides/serve.md) as a test: serve a world failing 30 % of attempts with 500s,
/// drive it with a client retrying as openai-python does (six at once, all with the same
/// prompt: the hardest case for joining attempts), `fit` its request log, and find the
/// world and the client again: the 500s' rate inside the fitted 95 % interval, the
/// attempts per request exactly as the client counted them, the first retry's gap in the
/// SDK's backoff range and openai-python as the closest preset.
#[test]
fn a_served_log_fits_back_the_world_and_the_clients_retries() {
    // Not faster: the client's own overhead (a millisecond or two of wall time per retry)
    // is multiplied by the scale in the log's world time.
    const SCALE: f64 = 5.0;
    const WORKERS: u64 = 6;
    const REQUESTS_EACH: u64 = 30;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("served.jsonl");
    let live = serve_logged(
        json!({ "seed": 1,
            "traffic": [{ "name": "app", "request": { "output_tokens": 20 } }],
            "providers": [{ "name": "p", "errors": { "500": 0.3 }, "error_latency": "50ms",
                "models": [{ "name": "m", "ttft": "100ms", "per_token": "2ms" }] }] }),
        SCALE,
        Some(&log),
    );
    let addr = live.addr;
    let attempts: Vec<u32> = live.runtime.block_on(async move {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                tokio::spawn(async move {
                    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                    let (mut sender, connection) =
                        http1::handshake(TokioIo::new(stream)).await.unwrap();
                    tokio::spawn(connection);
                    let body = Bytes::from(openai("m").to_string());
                    // xorshift64*: the client's own jitter, seeded per worker.
                    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ (w + 1);
                    let mut uniform = move || {
                        state ^= state >> 12;
                        state ^= state << 25;
                        state ^= state >> 27;
                        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64
                            / (1u64 << 53) as f64
                    };
                    let mut counts = Vec::new();
                    for _ in 0..REQUESTS_EACH {
                        counts.push(sdk_request(&mut sender, &body, SCALE, &mut uniform).await);
                    }
                    counts
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all
    });
    live.stop().log.unwrap().unwrap();
    let out = dir.path().join("fitted.json");
    let (code, stdout, err) = crate::support::fit(&log, &out, &["--no-charts"]);
    assert_eq!(code, 0, "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("fit.json")).unwrap())
            .unwrap();
    let retries = &report["retries"];
    let mut histogram = std::collections::BTreeMap::<String, u64>::new();
    for a in &attempts {
        *histogram.entry(a.to_string()).or_default() += 1;
    }
    assert_eq!(
        retries["attempts_per_request"],
        json!(histogram),
        "{stdout}"
    );
    assert_eq!(retries["max_attempts"], 3);
    assert_eq!(retries["closest_preset"], "openai-python", "{retries}");
    let gap = retries["median_gap_s"][0].as_f64().unwrap();
    assert!((0.375..0.6).contains(&gap), "first gap {gap} s");
    let rate = &report["providers"][0]["background"]["500"];
    let (low, high) = (
        rate["low"].as_f64().unwrap(),
        rate["high"].as_f64().unwrap(),
    );
    assert!(low <= 0.3 && 0.3 <= high, "{rate}");
    assert_eq!(report["providers"][0]["windows"], json!([]), "{stdout}");
    eprintln!("fitted: {retries}; the 500s: {rate}");
}

/// Beyond `max_connections` a new connection's requests get a 503 naming the server's
/// limit; once a connection closes, the next one is served.
#[test]
fn connections_beyond_the_limit_get_a_503_naming_it() {
    let live = start(Config {
        max_connections: 1,
        drain_limit: Duration::from_secs(2),
        ..Config::new(scenario(json!({})))
    });
    let live = std::sync::Arc::new(live);
    let holder = {
        let live = std::sync::Arc::clone(&live);
        std::thread::spawn(move || live.post("/v1/chat/completions", openai("m")).status)
    };
    std::thread::sleep(Duration::from_millis(200));
    let refused = live.post("/v1/chat/completions", openai("m"));
    assert_eq!(refused.status, 503, "{}", refused.body);
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("--max-connections") && message.contains("not the served world's"),
        "{message}"
    );
    assert_eq!(holder.join().unwrap(), 200);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(live.post("/v1/chat/completions", openai("m")).status, 200);
}

/// Sends a streamed OpenAI request with `headers` on a connection of its own, reads the
/// answer's head, and hangs up `after` that.
fn hang_up_stream(addr: SocketAddr, body: &Value, headers: &[(&str, String)], after: Duration) {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 1024];
    let n = stream.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    std::thread::sleep(after);
}

/// A streamed attempt whose client hangs up before its first token is logged when the
/// client leaves, not when the token falls due: its latency is the client's, its retry
/// (SDK or keyed) joins it as a retry, and a server stopped right after still logs it,
/// with the rate-limit headers of the stream's head, which the client read.
#[test]
fn a_stream_the_client_leaves_is_logged_when_it_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    // 20 s to the first token is 2 s of wall time at scale 10; each client leaves after
    // 100 ms (1 s of world time), and the server stops before any token is due.
    let live = serve_logged(
        json!({ "providers": [{ "name": "p", "rate_limits": { "rpm": 1000 }, "models": [{ "name": "m",
            "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0,
            "ttft": "20s", "per_token": "10ms" }] }] }),
        10.0,
        Some(&path),
    );
    let mut body = openai("m");
    body["stream"] = json!(true);
    let sdk = |n: u32| vec![("x-stainless-retry-count", n.to_string())];
    let keyed = vec![("x-aichaos-request-id", "job".to_string())];
    let leave = Duration::from_millis(100);
    let started = Instant::now();
    for headers in [sdk(0), sdk(1), keyed.clone(), keyed] {
        hang_up_stream(live.addr, &body, &headers, leave);
        // The server notices the hang-up at once; this leaves it time to log it.
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "too slow to test"
    );
    let served = live.stop();
    assert_eq!(served.stopped, aichaos::serve::Stopped::Drained);
    assert_eq!(served.log.unwrap().unwrap(), 4);
    let log = log_lines(&path);
    let column = |name: &str| log.iter().map(|r| r[name].clone()).collect::<Vec<_>>();
    assert_eq!(
        column("request_id"),
        [json!(0), json!(0), json!(1), json!(1)]
    );
    assert_eq!(column("attempt"), [json!(0), json!(1), json!(0), json!(1)]);
    assert_eq!(
        column("kind"),
        [
            json!("first"),
            json!("retry"),
            json!("first"),
            json!("retry")
        ]
    );
    for record in &log {
        assert_eq!(record["outcome"], "client_closed", "{record}");
        assert_eq!(record["ratelimit_limit_requests"], 1000, "{record}");
        // Left after 1 s of world time, not at the first token's 20 s.
        let latency = record["latency_ns"].as_u64().unwrap();
        assert!(
            (1_000_000_000..5_000_000_000).contains(&latency),
            "{latency}"
        );
    }

    // A stream read to its end is still logged as answered (the body, dropped after the
    // last event, finds the attempt ended).
    let live = serve_logged(json!({}), 10.0, Some(&path));
    let (status, _) = live.stream("/v1/chat/completions", body);
    assert_eq!(status, 200);
    assert_eq!(live.stop().log.unwrap().unwrap(), 1);
    let record = &log_lines(&path)[0];
    assert_eq!(
        (&record["outcome"], &record["output_tokens"]),
        (&json!("ok"), &json!(50)),
        "{record}"
    );
}

/// `--listen` on an address in use: exit 2, and an existing request log is left as it was
/// (the log is created only once the server listens).
#[test]
fn a_failed_listen_leaves_an_existing_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("world.json");
    std::fs::write(&file, crate::support::base().to_string()).unwrap();
    let log = dir.path().join("served.jsonl");
    std::fs::write(&log, "yesterday's records\n").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, stderr) = crate::support::aichaos(&[
        "serve",
        file.to_str().unwrap(),
        "--listen",
        &addr,
        "--request-log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "yesterday's records\n"
    );
}
