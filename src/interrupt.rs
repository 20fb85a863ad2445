//! Ctrl-C: a flag that long loops look at, so an interrupted run stops cleanly (its partial
//! files removed, finished sweep points kept) and the process exits with 130.
//!
//! The event loop reads the flag every 65,536 events; reading it never changes a result,
//! it only decides whether there is one.

use std::sync::atomic::{AtomicBool, Ordering};

/// The exit code of an interrupted command (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: i32 = 130;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Catches Ctrl-C (SIGINT, and SIGTERM): the first asks the work to stop, a second one
/// ends the process at once.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}

#[inline]
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}
