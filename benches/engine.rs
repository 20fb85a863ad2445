//! Benchmarks of the event loop and of whole runs. `cargo bench` prints, for each, the time
//! per iteration and the throughput: events per second for the queue, simulated requests
//! per second for runs.

use std::hint::black_box;

use aichaos::events::{Event, EventQueue};
use aichaos::metrics::NoRows;
use aichaos::scenario;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Push and pop a steady population of events: 10,000 live timers, as in a busy run.
fn event_queue(c: &mut Criterion) {
    const LIVE: u64 = 10_000;
    const OPS: u64 = 1_000_000;
    let mut group = c.benchmark_group("event_queue");
    group.throughput(Throughput::Elements(OPS));
    group.bench_function("heap_push_pop", |b| {
        b.iter(|| {
            let mut queue = EventQueue::new();
            let mut x: u64 = 1;
            for i in 0..LIVE {
                queue.schedule(i * 1000, Event::Arrival { group: 0 });
            }
            for _ in 0..OPS {
                let (t, e) = queue.pop().unwrap();
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                queue.schedule(t + (x >> 44), e);
            }
            black_box(queue.len())
        })
    });
    group.bench_function("lane_push_pop", |b| {
        b.iter(|| {
            let mut queue = EventQueue::new();
            let lane = queue.lane_for(30_000_000_000);
            for i in 0..LIVE {
                queue.schedule_in_lane(
                    lane,
                    i,
                    Event::AttemptTimeout {
                        request: 0,
                        generation: 0,
                    },
                );
            }
            for _ in 0..OPS {
                let (t, e) = queue.pop().unwrap();
                queue.schedule_in_lane(lane, t, e);
            }
            black_box(queue.len())
        })
    });
    group.finish();
}

fn load(name: &str) -> scenario::Scenario {
    let path = format!("{}/models/{name}.json", env!("CARGO_MANIFEST_DIR"));
    scenario::load_file(&path)
        .expect("shipped model is valid")
        .scenarios
        .remove(0)
}

/// Whole runs: the soak model shortened to 2 simulated hours (about 360,000 requests), and
/// the naive retry storm (metastable, heavy on timeouts and queueing).
fn whole_runs(c: &mut Criterion) {
    let mut group = c.benchmark_group("run");
    group.sample_size(10);
    for (label, mut sc, duration_h) in [
        ("thousand_hours_2h", load("thousand-hours"), Some(2)),
        ("outage_retry_storm_naive", load("outage-retry-storm"), None),
    ] {
        if let Some(h) = duration_h {
            sc.duration_ns = Some(h * aichaos::time::NS_PER_H);
        }
        let requests = aichaos::engine::run(&sc, &mut NoRows)
            .unwrap()
            .totals
            .arrived;
        group.throughput(Throughput::Elements(requests));
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(
                    aichaos::engine::run(&sc, &mut NoRows)
                        .unwrap()
                        .events_processed,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, event_queue, whole_runs);
criterion_main!(benches);
