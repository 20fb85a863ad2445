//! Whole simulations side by side: `threads` workers take jobs by index and the results
//! come back in index order, so the outcome never depends on the thread count or on which
//! worker finished first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `job(0..count)` on up to `threads` threads; results in index order. `done` is
/// called after each job (for a progress bar); it never affects the results.
pub fn map_indexed<T: Send>(
    count: usize,
    threads: usize,
    job: impl Fn(usize) -> T + Sync,
    done: &(dyn Fn() + Sync),
) -> Vec<T> {
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(count) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let outcome = job(i);
                    results.lock().expect("no worker panics while holding it")[i] = Some(outcome);
                    done();
                }
            });
        }
    });
    results
        .into_inner()
        .expect("workers are done")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_index_order_for_any_thread_count() {
        for threads in [1, 2, 7] {
            let squares = map_indexed(50, threads, |i| i * i, &|| {});
            assert_eq!(squares, (0..50).map(|i| i * i).collect::<Vec<_>>());
        }
    }
}
