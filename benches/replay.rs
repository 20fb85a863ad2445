//! Benchmarks of recorded traffic: a run whose arrivals replay a request log (CSV and JSON
//! lines) against the same run with Poisson arrivals, per simulated request; and `fit` on a
//! log of 1.1 million records (issue 13 asks under 10 s and under 200 MB; the peak resident
//! memory of this process is printed after the fits).
//!
//! The logs are made here by a run of `GENERATOR` (100 requests/s for 3 hours, 2 % of 500s
//! retried), written under cargo's target temporary directory, and removed at the end.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use aichaos::fit::{Fit, Options};
use aichaos::metrics::NoRows;
use aichaos::scenario::{self, Scenario};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PROVIDER: &str = r#"{ "name": "p", "errors": { "500": 0.02 },
    "models": [{ "name": "m", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2,
                 "ttft": "300ms", "per_token": "5ms" }] }"#;

fn scenario_text(arrivals: &str) -> String {
    format!(
        r#"{{ "name": "bench", "seed": 1, "duration": "3h",
  "traffic": [{{ "name": "app", "arrivals": {arrivals},
     "request": {{ "model": "m", "input_tokens": 300, "output_tokens": 100, "max_tokens": 200 }} }}],
  "providers": [{PROVIDER}] }}"#
    )
}

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-bench");
    std::fs::create_dir_all(&dir).expect("target's temporary directory is writable");
    dir
}

fn load(dir: &Path, name: &str, text: &str) -> Scenario {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes the scenario");
    scenario::load_file(path.to_str().expect("a UTF-8 path"))
        .expect("the bench's scenario is valid")
        .scenarios
        .remove(0)
}

/// The logs, CSV and JSON lines, of one Poisson run: the same records in each.
fn logs(dir: &Path) -> (PathBuf, PathBuf) {
    let poisson = load(
        dir,
        "poisson.json",
        &scenario_text(r#"{ "type": "poisson", "rate": "100/s" }"#),
    );
    let (csv, jsonl) = (dir.join("log.csv"), dir.join("log.jsonl"));
    for (log, out) in [(&csv, "gen-csv"), (&jsonl, "gen-jsonl")] {
        if !log.exists() {
            aichaos::run::run_to_dir_logged(&poisson, &dir.join(out), false, &|_, _| {}, Some(log))
                .expect("the generating run succeeds");
        }
    }
    (csv, jsonl)
}

/// One run per iteration, throughput in simulated requests: Poisson arrivals, and the same
/// run's log replayed from CSV and from JSON lines.
fn arrivals(c: &mut Criterion) {
    let dir = dir();
    logs(&dir);
    let mut group = c.benchmark_group("arrivals");
    group.sample_size(10);
    for (label, arrivals) in [
        ("poisson", r#"{ "type": "poisson", "rate": "100/s" }"#),
        ("replay_csv", r#"{ "type": "replay", "file": "log.csv" }"#),
        (
            "replay_jsonl",
            r#"{ "type": "replay", "file": "log.jsonl" }"#,
        ),
    ] {
        let sc = load(&dir, &format!("{label}.json"), &scenario_text(arrivals));
        let requests = aichaos::engine::run(&sc, &mut NoRows)
            .expect("runs")
            .totals
            .arrived;
        group.throughput(Throughput::Elements(requests));
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(
                    aichaos::engine::run(&sc, &mut NoRows)
                        .expect("runs")
                        .events_processed,
                )
            })
        });
    }
    group.finish();
}

/// `fit` on the 1.1 M-record log, read and fitted (no files written), per format.
fn fit(c: &mut Criterion) {
    let dir = dir();
    let (csv, jsonl) = logs(&dir);
    let mut group = c.benchmark_group("fit");
    group.sample_size(10);
    for (label, log) in [("csv_1m", &csv), ("jsonl_1m", &jsonl)] {
        let fit_once = || {
            let mut fit = Fit::new(Options {
                format: None,
                columns: vec![],
                bucket_ns: 60_000_000_000,
                replay: false,
            });
            fit.read(log).expect("reads");
            let records = fit.records();
            (records, fit.finish().expect("fits").providers.len())
        };
        group.throughput(Throughput::Elements(fit_once().0));
        group.bench_function(label, |b| b.iter(|| black_box(fit_once())));
    }
    group.finish();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(peak) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        println!("fit: peak resident memory of the bench process: {peak}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, arrivals, fit);
criterion_main!(benches);
