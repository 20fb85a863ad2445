//! `aichaos serve` under load: requests per second of zero-latency, non-streaming answers
//! on loopback, and the latency clients see (the server's overhead plus the client's own).
//! Not a criterion bench: one timed run of a fixed length, printing its figures.
//!
//! `cargo bench --bench serve` (release profile). `SERVE_BENCH_SECS` (default 5) and
//! `SERVE_BENCH_CONNECTIONS` (default 32 keep-alive connections) change the run. Server and
//! clients share the machine (and its cores): the figures are a floor for the server alone.
//!
//! Then memory under open streams: `SERVE_BENCH_STREAMS` (default 10,000; 0 skips it)
//! streaming requests held open at once, each on its own connection, against the
//! `aichaos serve` binary in a process of its own, whose resident memory (`VmRSS`, and the
//! peak `VmHWM`, from `/proc/PID/status`: Linux only) is read before and while they are open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use aichaos::serve::{Config, Server};

fn world() -> aichaos::scenario::Scenario {
    let text = r#"{
        "name": "zero-latency", "seed": 1, "duration": "1h",
        "traffic": [{ "name": "bench", "arrivals": { "type": "poisson", "rate": "1/s" },
            "request": { "model": "m", "input_tokens": 10, "output_tokens": 16, "max_tokens": 16 } }],
        "providers": [{ "name": "p", "models": [{ "name": "m",
            "input_usd_per_mtok": 1, "output_usd_per_mtok": 2, "ttft": "0ms", "per_token": "0ms" }] }]
    }"#;
    aichaos::scenario::parse("bench.json", text)
        .expect("a valid scenario")
        .scenarios
        .remove(0)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive connection sending requests back to back until `stop`; its latencies.
async fn client(addr: SocketAddr, stop: Arc<AtomicBool>) -> hdrhistogram::Histogram<u64> {
    let mut latencies = hdrhistogram::Histogram::<u64>::new(3).expect("a histogram");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let body =
        Bytes::from_static(br#"{"model":"m","messages":[{"role":"user","content":"hello"}]}"#);
    while !stop.load(Ordering::Relaxed) {
        let request = Request::post("/v1/chat/completions")
            .header("host", "bench")
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("a request");
        let started = Instant::now();
        let response = sender.send_request(request).await.expect("an answer");
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.expect("a body");
        let _ = latencies.record(started.elapsed().as_micros() as u64);
    }
    latencies
}

/// The streaming world: 60 tokens at 1 s each, a minute-long stream per request (slow
/// tokens: 10,000 streams are 10,000 writes a second, which the clients must read too).
const STREAM_WORLD: &str = r#"{
    "name": "open-streams", "seed": 1, "duration": "1h",
    "traffic": [{ "name": "bench", "arrivals": { "type": "poisson", "rate": "1/s" },
        "request": { "model": "m", "input_tokens": 10, "output_tokens": 60, "max_tokens": 60 } }],
    "providers": [{ "name": "p", "models": [{ "name": "m",
        "input_usd_per_mtok": 1, "output_usd_per_mtok": 2, "ttft": "10ms", "per_token": "1s" }] }]
}"#;

/// A process's resident and peak resident memory, KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Opens one streaming request and holds it: returns once its first bytes came, then keeps
/// the connection until `stop`.
async fn open_stream(
    addr: SocketAddr,
    opened: Arc<tokio::sync::Semaphore>,
    stop: Arc<tokio::sync::Notify>,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let body = Bytes::from_static(
        br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hello"}]}"#,
    );
    let request = Request::post("/v1/chat/completions")
        .header("host", "bench")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a request");
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let _ = body.frame().await;
    opened.add_permits(1);
    // Keep reading (as a client does) until told to stop.
    let read = async { while let Some(Ok(_)) = body.frame().await {} };
    tokio::select! {
        () = read => {}
        () = stop.notified() => {}
    }
}

/// Peak memory of `aichaos serve` with `streams` streams open at once.
fn open_streams(streams: u64) {
    let dir = std::env::temp_dir().join(format!("aichaos-bench-streams-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let world = dir.join("world.json");
    std::fs::write(&world, STREAM_WORLD).expect("the world written");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aichaos"))
        .args(["serve", world.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("aichaos serve starts");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .expect("its address");
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|a| a.trim().parse().ok())
        .expect("an address");
    let pid = child.id();
    let (idle_kib, _) = memory_kib(pid);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    let (open_kib, peak_kib, opened_in) = runtime.block_on(async {
        let opened = Arc::new(tokio::sync::Semaphore::new(0));
        let stop = Arc::new(tokio::sync::Notify::new());
        // Connect a few hundred at a time: the listener's backlog is finite.
        let connecting = Arc::new(tokio::sync::Semaphore::new(256));
        let mut clients = Vec::new();
        for _ in 0..streams {
            let permit = Arc::clone(&connecting).acquire_owned().await.expect("open");
            let (opened, stop) = (Arc::clone(&opened), Arc::clone(&stop));
            let opened_one = Arc::new(tokio::sync::Semaphore::new(0));
            let watch = Arc::clone(&opened_one);
            clients.push(tokio::spawn(open_stream(addr, opened_one, stop)));
            tokio::spawn(async move {
                let _ = watch.acquire().await;
                opened.add_permits(1);
                drop(permit);
            });
        }
        let _all = opened
            .acquire_many(streams as u32)
            .await
            .expect("every stream opens");
        let opened_in = started.elapsed();
        let (rss, peak) = memory_kib(pid);
        stop.notify_waiters();
        for c in clients {
            c.abort();
        }
        (rss, peak, opened_in)
    });
    let _ = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let per_stream_kib = open_kib.saturating_sub(idle_kib) as f64 / streams as f64;
    println!(
        "serve: {streams} open streams (opened in {:.1} s): server resident memory {} MiB \
         (peak {} MiB; {} MiB idle), {per_stream_kib:.1} KiB a stream",
        opened_in.as_secs_f64(),
        open_kib / 1024,
        peak_kib / 1024,
        idle_kib / 1024
    );
}

fn main() {
    let seconds = env("SERVE_BENCH_SECS", 5);
    let connections = env("SERVE_BENCH_CONNECTIONS", 32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (count, latencies) = runtime.block_on(async {
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), Config::new(world()))
            .await
            .expect("bind");
        let addr = server.local_addr();
        tokio::spawn(server.run(std::future::pending()));
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client(addr, Arc::clone(&stop))))
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = hdrhistogram::Histogram::<u64>::new(3).expect("a histogram");
        for c in clients {
            all.add(c.await.expect("a client")).expect("same bounds");
        }
        (all.len(), all)
    });
    let per_s = count as f64 / seconds as f64;
    println!(
        "serve: {count} answers in {seconds} s over {connections} connections: {per_s:.0} requests/s; \
         latency seen by the clients p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        latencies.value_at_quantile(0.5),
        latencies.value_at_quantile(0.99),
        latencies.value_at_quantile(0.999),
        latencies.max()
    );
    let streams = env("SERVE_BENCH_STREAMS", 10_000);
    if streams > 0 {
        open_streams(streams);
    }
}
