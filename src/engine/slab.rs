//! The records the loop keeps per request and per provider job, and the slab they live in.
//!
//! A `Request` is a logical request alive from its arrival to its final outcome; a `Job` is
//! an attempt as the provider sees it. Both are small `Copy` records in slabs whose slots are
//! reused through a free list, so steady state allocates nothing. Events index into them
//! (a slot and a generation number); a stale event is recognised by its generation.

use crate::policy::MAX_OUTER_RETRY_LAYERS;
use crate::policy::breaker::Epoch;
use crate::provider::ServiceKind;
use crate::rng::DrawCursor;
use crate::time::Nanos;

pub(super) const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Free,
    /// Waiting for an AttemptStart (backoff, or a fallback about to start).
    Waiting,
    /// An attempt is out: waiting for its answer or its timeout.
    InFlight,
}

/// A logical request, alive from its arrival to its final outcome.
#[derive(Debug, Clone, Copy)]
pub(super) struct Request {
    pub(super) id: u64,
    pub(super) arrived_ns: Nanos,
    /// What the backoff kept from the previous retry on this target (`BackoffMemory`).
    pub(super) backoff_memory: u64,
    /// Where this request's next world draw comes from (see `rng`).
    pub(super) draws: DrawCursor,
    /// Bumped at every attempt and when the slot is freed; never reset, so a stale timer
    /// cannot match a later request reusing the slot.
    pub(super) generation: u32,
    pub(super) attempts: u32,
    pub(super) attempts_on_target: u32,
    pub(super) input_tokens: u32,
    pub(super) output_tokens: u32,
    pub(super) user: u32,
    pub(super) group: u16,
    pub(super) chain_pos: u8,
    pub(super) phase: Phase,
    /// The breaker the current attempt passed (NONE without one) and the state it was
    /// admitted in; when the attempt started (a call's duration, for slow-call rules).
    pub(super) breaker: u32,
    pub(super) breaker_epoch: Epoch,
    pub(super) attempt_started_ns: Nanos,
    /// The attempt out is a retry (not the first on its target), and what the retry budget
    /// charged for it (AWS quota refunds it on success).
    pub(super) is_retry: bool,
    pub(super) retry_cost: u16,
    /// The copies of the current attempt still out, as bits from `first_live_generation`
    /// (one bit without hedging), and the hedges sent for it.
    pub(super) copies: u16,
    /// Holds a bulkhead slot handed over while it waited (used by its next send).
    pub(super) bulkhead_slot: bool,
    pub(super) hedges: u8,
    pub(super) first_live_generation: u32,
    /// Retries taken by each outer retry layer in its current call.
    pub(super) layer_retries: [u8; MAX_OUTER_RETRY_LAYERS],
    /// Each outer layer's backoff memory, as `backoff_memory` is the innermost loop's.
    pub(super) layer_memory: [u64; MAX_OUTER_RETRY_LAYERS],
    /// Arrived after the warm-up: counts in the summary.
    pub(super) counted: bool,
}

/// An attempt as the provider sees it. Outlives the client's interest in it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Job {
    pub(super) request: u32,
    pub(super) generation: u32,
    pub(super) provider: u16,
    pub(super) model: u16,
    pub(super) kind: ServiceKind,
    pub(super) service_ns: Nanos,
    /// The time to first token, seconds (an error's whole latency): the request log
    /// subtracts the part of `service_ns` after it from the attempt's latency.
    pub(super) ttft_s: f64,
    pub(super) input_tokens: u32,
    pub(super) output_tokens: u32,
    pub(super) reserved_nusd: u64,
    pub(super) admitted_ns: Nanos,
    /// The request's group and whether it counts in the summary (arrived after the
    /// warm-up): the bill is the request's, whoever still waits for it.
    pub(super) group: u16,
    pub(super) counted: bool,
    /// In the slab (not yet freed): lets an outage find the work in progress.
    pub(super) live: bool,
}

/// A slab: slots reused through a free list, so steady state allocates nothing.
pub(super) struct Slab<T> {
    pub(super) items: Vec<T>,
    pub(super) free: Vec<u32>,
}

impl<T: Copy> Slab<T> {
    pub(super) fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    #[inline]
    pub(super) fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = item;
                i
            }
            None => {
                self.items.push(item);
                (self.items.len() - 1) as u32
            }
        }
    }

    #[inline]
    pub(super) fn release(&mut self, index: u32) {
        self.free.push(index);
    }

    pub(super) fn live(&self) -> usize {
        self.items.len() - self.free.len()
    }
}

/// The bit of copy `generation` of an attempt whose first copy is `first`.
#[inline]
pub(super) fn copy_bit(first: u32, generation: u32) -> u16 {
    1u16.checked_shl(generation.wrapping_sub(first))
        .unwrap_or(0)
}
