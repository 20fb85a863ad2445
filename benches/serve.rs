//! `aichaos serve` under load: requests per second of zero-latency, non-streaming answers
//! on loopback, and the latency clients see (the server's overhead plus the client's own).
//! Not a criterion bench: one timed run of a fixed length, printing its figures.
//!
//! `cargo bench --bench serve` (release profile). `SERVE_BENCH_SECS` (default 5) and
//! `SERVE_BENCH_CONNECTIONS` (default 32 keep-alive connections) change the run. Server and
//! clients share the machine (and its cores): the figures are a floor for the server alone.

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
}
