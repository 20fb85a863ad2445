//! Where every random number comes from.
//!
//! All randomness flows from the run's seed through ChaCha8 generators (rand_chacha). Two
//! kinds of stream exist:
//!
//! * **Named streams**: one generator per concern (`traffic/<group>`, `outages/<provider>`,
//!   `jitter/<group>`), each keyed by `(seed, name)`. Drawing more from one never shifts
//!   another, so a policy change cannot move the arrival times or the outage schedule.
//! * **Request draws** (common random numbers): everything the *world* decides about one
//!   request (its token counts, think time, and for each attempt the chaos roll, the fault
//!   roll, the time to first token and the per-token time) is read from a ChaCha stream
//!   addressed by the request id, at a word offset given by the attempt number. Two
//!   policies replaying the same scenario therefore see the same request 17 with the same
//!   tokens, and its 2nd attempt hits the same fault roll, whatever happened in between.
//!
//! Layout of request `r`'s draws: ChaCha stream (nonce) = `r`; region 0 (words
//! `[0, 2^24)`) holds request-level draws (tokens from word 0, think time from word 2^23); region `1 + a` holds attempt `a`'s draws. A region
//! is 64 MiB of keystream, far more than any attempt consumes, so regions never overlap.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator behind every stream. Recorded in every output so a replay can be trusted.
pub type SimRng = ChaCha8Rng;
pub const GENERATOR: &str = "ChaCha8Rng";

const REGION_SHIFT_WORDS: u32 = 24;

/// FNV-1a: a stable (platform- and version-independent) hash for stream names. Rust's
/// `DefaultHasher` is explicitly not stable across releases, so it must not pick keys.
fn stable_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An independent generator for the concern `name`, derived from the run seed.
pub fn named_stream(seed: u64, name: &str) -> SimRng {
    let mut root = SimRng::seed_from_u64(seed);
    root.set_stream(stable_hash(name));
    let mut key = [0u8; 32];
    rand::Rng::fill_bytes(&mut root, &mut key);
    SimRng::from_seed(key)
}

/// Random access to the draws of any request and attempt (see module docs).
pub struct RequestDraws {
    rng: SimRng,
}

impl RequestDraws {
    pub fn new(seed: u64) -> Self {
        RequestDraws {
            rng: named_stream(seed, "requests"),
        }
    }

    /// Request-level draws of request `request_id` (tokens, think time).
    #[inline]
    pub fn request(&mut self, request_id: u64) -> &mut SimRng {
        self.seek(request_id, 0)
    }

    /// The think time a closed-loop user takes after request `request_id` ends. It sits
    /// half-way into region 0, clear of the token draws, so it does not depend on them.
    #[inline]
    pub fn think(&mut self, request_id: u64) -> &mut SimRng {
        self.rng.set_stream(request_id);
        self.rng.set_word_pos(1u128 << (REGION_SHIFT_WORDS - 1));
        &mut self.rng
    }

    /// The world's draws for attempt number `attempt` (0-based) of `request_id`.
    #[inline]
    pub fn attempt(&mut self, request_id: u64, attempt: u32) -> &mut SimRng {
        self.seek(request_id, 1 + u64::from(attempt))
    }

    #[inline]
    fn seek(&mut self, request_id: u64, region: u64) -> &mut SimRng {
        self.rng.set_stream(request_id);
        self.rng
            .set_word_pos(u128::from(region) << REGION_SHIFT_WORDS);
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn named_streams_are_independent_and_reproducible() {
        let a1: u64 = named_stream(7, "traffic/chat").random();
        let a2: u64 = named_stream(7, "traffic/chat").random();
        let b: u64 = named_stream(7, "outages/openai").random();
        let c: u64 = named_stream(8, "traffic/chat").random();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }

    #[test]
    fn request_draws_do_not_depend_on_access_order() {
        let mut draws = RequestDraws::new(3);
        let first: f64 = draws.attempt(17, 1).random();
        let _: f64 = draws.attempt(4, 0).random();
        let _: f64 = draws.request(17).random();
        let again: f64 = draws.attempt(17, 1).random();
        assert_eq!(first, again);
        let other: f64 = draws.attempt(17, 2).random();
        assert_ne!(first, other);
    }
}
