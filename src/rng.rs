//! Where every random number comes from.
//!
//! All randomness flows from the run's seed through ChaCha8 generators (rand_chacha). Two
//! kinds of stream exist:
//!
//! * **Named streams**: one generator per concern (`traffic/<group>`, `outages/<provider>`,
//!   `jitter/<group>`, `instances/<group>`), each keyed by `(seed, name)`. Drawing more
//!   from one never shifts another, so a policy change cannot move the arrival times or the
//!   outage schedule.
//! * **Request draws** (common random numbers): everything the *world* decides about one
//!   request (its token counts, think time, and for each attempt the chaos roll, the fault
//!   roll, the time to first token and the per-token time) is read from a ChaCha stream
//!   addressed by the request id, at a position that depends only on that request's own
//!   history. Two policies replaying the same scenario therefore see the same request 17
//!   with the same tokens, and its 2nd attempt hits the same fault roll, whatever happened
//!   in between.
//!
//! Layout of request `r`'s draws: ChaCha stream (nonce) = `r`. Region 0 (words `[0, 2^24)`)
//! holds the request-level draws (tokens) followed directly by attempt 0's draws: the first
//! attempt starts in the same event as the arrival, so sharing the region saves a keystream
//! refill on the hot path. The think time after the request sits at word 2^23. Region
//! `a` (words `[a * 2^24, (a + 1) * 2^24)`) holds attempt `a`'s draws for `a >= 1`. A region
//! is 64 MiB of keystream, far more than any request or attempt consumes.
//!
//! A request remembers where its draws stopped (`DrawCursor`); resuming from a cursor yields
//! the same words whether or not other requests drew in between. When nobody did, the
//! generator is already there and no seek (and no keystream refill) happens.

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

/// A stateless pick in `[0, n)` for item `id` under `key`: SplitMix64's finalizer (Steele,
/// Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014; Vigna's
/// splitmix64.c) of `id + key`, modulo `n`. Deterministic, independent of the order items
/// come in, and free of state to grow: it spreads a Poisson stream's requests over `n`
/// client instances as independent marks, so each instance sees its own Poisson arrivals.
pub fn pick(key: u64, id: u64, n: u64) -> u64 {
    let mut z = id.wrapping_add(key).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % n
}

/// An independent generator for the concern `name`, derived from the run seed.
pub fn named_stream(seed: u64, name: &str) -> SimRng {
    let mut root = SimRng::seed_from_u64(seed);
    root.set_stream(stable_hash(name));
    let mut key = [0u8; 32];
    rand::Rng::fill_bytes(&mut root, &mut key);
    SimRng::from_seed(key)
}

/// Where a request's next draw comes from: a word position in its own stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrawCursor(u64);

impl DrawCursor {
    /// The start of the request's stream: tokens, then attempt 0.
    pub const START: DrawCursor = DrawCursor(0);

    /// The start of attempt `attempt`'s region (attempt 0 continues region 0).
    pub fn attempt(attempt: u32) -> DrawCursor {
        if attempt == 0 {
            Self::START
        } else {
            DrawCursor(u64::from(attempt) << REGION_SHIFT_WORDS)
        }
    }
}

/// The generator of request draws: chacha20's ChaCha8, the same keystream as `SimRng` for
/// the same key, stream and word position (checked by a test), but positioned with plain
/// stores: rand_chacha's `set_stream` goes through a runtime-dispatched vector routine and,
/// when the position is inside a block, generates the buffer a second time. Seeking to a
/// request's draws is the hot path (once per arrival and per attempt).
pub type RequestRng = chacha20::ChaCha8Rng;

/// Random access to the draws of any request (see module docs).
pub struct RequestDraws {
    rng: RequestRng,
    /// The request whose stream the generator is positioned in, and where: valid until the
    /// next `at` for another position.
    positioned: Option<(u64, DrawCursor)>,
}

impl RequestDraws {
    pub fn new(seed: u64) -> Self {
        RequestDraws {
            // The key of the `requests` named stream, so the draws are those it would make.
            rng: rand::SeedableRng::from_seed(named_stream(seed, "requests").get_seed()),
            positioned: None,
        }
    }

    /// The generator positioned at `cursor` in request `request_id`'s stream. After drawing,
    /// call `cursor` to learn where the draws stopped.
    #[inline]
    pub fn at(&mut self, request_id: u64, cursor: DrawCursor) -> &mut RequestRng {
        if self.positioned != Some((request_id, cursor)) {
            // The stream first: chacha20's `set_stream` also rewinds to word 0.
            self.rng.set_stream(request_id);
            self.rng.set_word_pos(u128::from(cursor.0));
        }
        self.positioned = None;
        &mut self.rng
    }

    /// Where the draws taken since `at` stopped, for request `request_id`.
    #[inline]
    pub fn cursor(&mut self, request_id: u64) -> DrawCursor {
        let cursor = DrawCursor(self.rng.get_word_pos() as u64);
        self.positioned = Some((request_id, cursor));
        cursor
    }

    /// The think time a closed-loop user takes after request `request_id` ends.
    #[inline]
    pub fn think(&mut self, request_id: u64) -> &mut RequestRng {
        self.at(request_id, DrawCursor(1 << (REGION_SHIFT_WORDS - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    /// `pick` spreads consecutive ids evenly: the counts over 100 instances of 100,000 ids
    /// pass a chi-square test (99 d.o.f., 99.9 % quantile 148.2), and another key gives
    /// another assignment.
    #[test]
    fn pick_spreads_ids_evenly_and_depends_on_the_key() {
        let (n, ids) = (100u64, 100_000u64);
        let mut counts = vec![0u64; n as usize];
        for id in 0..ids {
            counts[pick(42, id, n) as usize] += 1;
        }
        let expected = (ids / n) as f64;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 148.2, "chi-square {chi2}");
        let moved = (0..1000)
            .filter(|&id| pick(42, id, n) != pick(43, id, n))
            .count();
        assert!(moved > 950, "{moved} of 1000 moved");
    }

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

    /// The request draws' generator is rand_chacha's ChaCha8 keystream: the same words for
    /// the same key, stream and position, so swapping the implementation moved no draw.
    #[test]
    fn request_draws_are_the_rand_chacha_keystream() {
        use rand::Rng;
        let mut draws = RequestDraws::new(11);
        let mut reference = named_stream(11, "requests");
        for (request, word) in [
            (0u64, 0u64),
            (17, 0),
            (17, 5),
            (3, 16),
            (99, 31),
            (5, 1 << 24),
        ] {
            reference.set_word_pos(0);
            reference.set_stream(request);
            reference.set_word_pos(u128::from(word));
            let rng = draws.at(request, DrawCursor(word));
            for _ in 0..40 {
                assert_eq!(rng.next_u32(), reference.next_u32(), "{request} {word}");
                assert_eq!(rng.next_u64(), reference.next_u64(), "{request} {word}");
            }
            let (mut a, mut b) = ([0u8; 7], [0u8; 7]);
            rng.fill_bytes(&mut a);
            reference.fill_bytes(&mut b);
            assert_eq!(a, b);
            assert_eq!(
                draws.cursor(request).0 as u128,
                reference.get_word_pos(),
                "{request} {word}"
            );
        }
    }

    #[test]
    fn request_draws_do_not_depend_on_access_order() {
        let mut draws = RequestDraws::new(3);
        // Request 17 draws twice in a row, its generator never leaving it...
        let a: f64 = draws.at(17, DrawCursor::START).random();
        let cursor = draws.cursor(17);
        let b: f64 = draws.at(17, cursor).random();
        // ...and again with another request drawing in between: the same numbers.
        let a_again: f64 = draws.at(17, DrawCursor::START).random();
        let cursor_again = draws.cursor(17);
        let _: f64 = draws.at(4, DrawCursor::START).random();
        let b_again: f64 = draws.at(17, cursor_again).random();
        assert_eq!((a, b), (a_again, b_again));
        assert_ne!(a, b);
        let attempt_1: f64 = draws.at(17, DrawCursor::attempt(1)).random();
        let attempt_2: f64 = draws.at(17, DrawCursor::attempt(2)).random();
        assert_ne!(attempt_1, attempt_2);
        assert_ne!(attempt_1, a);
    }
}
