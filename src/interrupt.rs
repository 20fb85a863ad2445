//! Ctrl-C and SIGTERM: a flag that long loops look at, so an interrupted run stops cleanly
//! (its partial files removed, finished sweep points kept) and the process exits with the
//! shell's code for the signal: 130 after Ctrl-C (128 + SIGINT), 143 after SIGTERM (what a CI
//! timeout or `kill` sends). A second signal ends the process at once.
//!
//! The event loop reads the flag every 65,536 events; reading it never changes a result,
//! it only decides whether there is one.
//!
//! signal-hook, not a hand-written handler: it registers async-signal-safe actions (set a
//! flag, record a number, exit on a repeat) without `unsafe` in our code, and tells which
//! signal arrived, which the exit code needs.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The exit code of a command interrupted by Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: i32 = 128 + SIGINT;
/// The exit code of a command stopped by SIGTERM (128 + SIGTERM).
pub const EXIT_TERMINATED: i32 = 128 + SIGTERM;

struct Flags {
    requested: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Catches SIGINT and SIGTERM: the first asks the work to stop, a second one of either
/// ends the process at once with its code.
pub fn install() {
    let flags = FLAGS.get_or_init(|| Flags {
        requested: Arc::new(AtomicBool::new(false)),
        signal: Arc::new(AtomicUsize::new(0)),
    });
    for signal in [SIGINT, SIGTERM] {
        // Actions run in the order registered: the exit on a repeat must look at the flag
        // before this signal sets it.
        let _ = signal_hook::flag::register_conditional_shutdown(
            signal,
            128 + signal,
            Arc::clone(&flags.requested),
        );
        let _ =
            signal_hook::flag::register_usize(signal, Arc::clone(&flags.signal), signal as usize);
        let _ = signal_hook::flag::register(signal, Arc::clone(&flags.requested));
    }
}

#[inline]
pub fn requested() -> bool {
    FLAGS
        .get()
        .is_some_and(|f| f.requested.load(Ordering::Relaxed))
}

/// The exit code for the signal that stopped the work: 143 after SIGTERM, else 130.
pub fn exit_code() -> i32 {
    let signal = FLAGS.get().map_or(0, |f| f.signal.load(Ordering::SeqCst));
    if signal == SIGTERM as usize {
        EXIT_TERMINATED
    } else {
        EXIT_INTERRUPTED
    }
}

/// Whether `code` is one this module's signals end a command with.
pub fn is_interrupted(code: i32) -> bool {
    code == EXIT_INTERRUPTED || code == EXIT_TERMINATED
}
