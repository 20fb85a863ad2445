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
//! Layout of request `r`'s draws, in 32-bit words of its own position `w`. Region 0 (words
//! `[0, 2^24)`) holds the request-level draws (tokens) followed directly by attempt 0's
//! draws: the first attempt starts in the same event as the arrival, so sharing the region
//! saves a keystream refill on the hot path. Region `a` (words `[a * 2^24, (a + 1) * 2^24)`)
//! holds attempt `a`'s draws for `a >= 1`; the think time after the request sits at word
//! 2^23. A region is 64 MiB of keystream, far more than any request or attempt consumes.
//! The words come from the keystream (key: the `requests` named stream's) as follows:
//!
//! * Region 0's first 16 words, `w < 16`, are **packed**: they are block `r mod 4` of the
//!   reserved stream (nonce) `2^63 | (r div 4)`, i.e. that stream's word `16 (r mod 4) + w`.
//!   The generator computes four blocks per refill (chacha20's buffer, 256 bytes, on every
//!   backend), and a simple request reads only a few words (its tokens, then attempt 0's
//!   rolls and latencies): so four consecutive requests, which usually arrive one after
//!   another, share one refill instead of paying one each.
//! * Every other word, `w >= 16` (the rest of region 0, the think time, regions `a >= 1`),
//!   is word `w` of stream (nonce) `r`. Region 0 continues there at word 16, where its
//!   packed block left off.
//!
//! Request ids stay below 2^63 (a run would need 2^63 arrivals), so the reserved streams
//! never meet a request's own. This layout was introduced on purpose in issue 16 (it moved
//! every seed's outcome); before it, region 0 was words `[0, 2^24)` of stream `r` too.
//!
//! A request remembers where its draws stopped (`DrawCursor`, the position `w`); resuming
//! from a cursor yields the same words whether or not other requests drew in between. When
//! nobody did, the generator is already there and no seek (and no keystream refill) happens;
//! when another request of the same group of four did, the packed block is still at hand.

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

/// Where a request's next draw comes from: a word position `w` in its draws (below 16 in
/// its packed block, from 16 on in its own stream; see the module docs).
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

/// The keystream generator behind the request draws: chacha20's ChaCha8, the same keystream
/// as `SimRng` for the same key, stream and word position (checked by a test), but
/// positioned with plain stores: rand_chacha's `set_stream` goes through a runtime-dispatched
/// vector routine and, when the position is inside a block, generates the buffer a second
/// time. Seeking to a request's draws is the hot path (once per arrival and per attempt).
type Keystream = chacha20::ChaCha8Rng;

/// Region 0's words below this are packed (see module docs): one ChaCha block.
const PACKED_WORDS: u32 = 16;
/// Bytes of one refill of four blocks: chacha20 computes four blocks at a time.
const PACKED_GROUP_BYTES: usize = 4 * 4 * PACKED_WORDS as usize;
/// The bit that marks a reserved stream of packed blocks; request ids stay below it.
const PACKED_STREAM: u64 = 1 << 63;

/// One request's draws at a position (see module docs): the packed block of its group of
/// four while the position is below word 16, its own stream from there on. Implements rand's
/// `TryRng` (so `Rng`), word by word like rand_core's `BlockRng`: `next_u64` is two words,
/// low first, and `fill_bytes` takes whole words, dropping the unused bytes of the last.
pub struct RequestRng {
    keystream: Keystream,
    /// The four packed blocks of group `group` (reserved stream `PACKED_STREAM | group`).
    group_bytes: [u8; PACKED_GROUP_BYTES],
    group: Option<u64>,
    request: u64,
    /// The position `w` while it is below `PACKED_WORDS`; `None` once the draws are in the
    /// request's own stream, where `keystream` keeps the position.
    packed_word: Option<u32>,
}

impl RequestRng {
    /// Computes group `group`'s four packed blocks, unless they are at hand.
    #[inline]
    fn load_group(&mut self, group: u64) {
        if self.group != Some(group) {
            self.keystream.set_stream(PACKED_STREAM | group);
            rand::Rng::fill_bytes(&mut self.keystream, &mut self.group_bytes);
            self.group = Some(group);
        }
    }

    /// Leaves the packed block at word 16 for the request's own stream, at word 16.
    #[cold]
    fn leave_packed_block(&mut self) {
        self.packed_word = None;
        self.keystream.set_stream(self.request);
        self.keystream.set_word_pos(u128::from(PACKED_WORDS));
    }

    /// The position of the next word.
    fn word_pos(&self) -> u64 {
        match self.packed_word {
            Some(w) => u64::from(w),
            None => self.keystream.get_word_pos() as u64,
        }
    }

    /// The bytes of packed word `w` of this request.
    #[inline]
    fn packed_bytes(&self, w: u32, words: usize) -> &[u8] {
        let at = 4 * ((self.request % 4) as usize * PACKED_WORDS as usize + w as usize);
        &self.group_bytes[at..at + 4 * words]
    }
}

impl rand::TryRng for RequestRng {
    type Error = core::convert::Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        if let Some(w) = self.packed_word {
            if w < PACKED_WORDS {
                self.packed_word = Some(w + 1);
                let word = self.packed_bytes(w, 1).try_into().unwrap_or_default();
                return Ok(u32::from_le_bytes(word));
            }
            self.leave_packed_block();
        }
        Ok(rand::Rng::next_u32(&mut self.keystream))
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        if let Some(w) = self.packed_word
            && w + 1 < PACKED_WORDS
        {
            self.packed_word = Some(w + 2);
            let words = self.packed_bytes(w, 2).try_into().unwrap_or_default();
            return Ok(u64::from_le_bytes(words));
        }
        // Straddling word 16, or past it: two words, low first, as `BlockRng` does.
        let low = self.try_next_u32()?;
        let high = self.try_next_u32()?;
        Ok(u64::from(low) | (u64::from(high) << 32))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let mut dst = dst;
        if let Some(w) = self.packed_word {
            // Whole words from the packed block while it lasts; a last partial word is
            // consumed whole.
            let wanted = dst.len().div_ceil(4).min((PACKED_WORDS - w) as usize);
            let words = wanted as u32;
            let bytes = (4 * words as usize).min(dst.len());
            let (head, rest) = dst.split_at_mut(bytes);
            head.copy_from_slice(&self.packed_bytes(w, words as usize)[..bytes]);
            self.packed_word = Some(w + words);
            dst = rest;
            if dst.is_empty() {
                return Ok(());
            }
            self.leave_packed_block();
        }
        rand::Rng::fill_bytes(&mut self.keystream, dst);
        Ok(())
    }
}

/// Random access to the draws of any request (see module docs).
pub struct RequestDraws {
    rng: RequestRng,
    /// The request whose own stream the generator is positioned in, and where: valid until
    /// the next `at`, which may move the keystream.
    positioned: Option<(u64, DrawCursor)>,
}

impl RequestDraws {
    pub fn new(seed: u64) -> Self {
        RequestDraws {
            rng: RequestRng {
                // The key of the `requests` named stream, so the draws are those it would make.
                keystream: rand::SeedableRng::from_seed(named_stream(seed, "requests").get_seed()),
                group_bytes: [0; PACKED_GROUP_BYTES],
                group: None,
                request: 0,
                packed_word: None,
            },
            positioned: None,
        }
    }

    /// The generator positioned at `cursor` in request `request_id`'s draws. After drawing,
    /// call `cursor` to learn where the draws stopped.
    #[inline]
    pub fn at(&mut self, request_id: u64, cursor: DrawCursor) -> &mut RequestRng {
        debug_assert!(
            request_id < PACKED_STREAM,
            "request id {request_id} meets the packed streams"
        );
        let rng = &mut self.rng;
        rng.request = request_id;
        if cursor.0 < u64::from(PACKED_WORDS) {
            rng.load_group(request_id / 4);
            rng.packed_word = Some(cursor.0 as u32);
        } else {
            rng.packed_word = None;
            if self.positioned != Some((request_id, cursor)) {
                // The stream first: chacha20's `set_stream` also rewinds to word 0.
                rng.keystream.set_stream(request_id);
                rng.keystream.set_word_pos(u128::from(cursor.0));
            }
        }
        self.positioned = None;
        rng
    }

    /// Where the draws taken since `at` stopped, for request `request_id`.
    #[inline]
    pub fn cursor(&mut self, request_id: u64) -> DrawCursor {
        let cursor = DrawCursor(self.rng.word_pos());
        if self.rng.packed_word.is_none() {
            self.positioned = Some((request_id, cursor));
        }
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

    /// Word `w` of request `r`'s draws as the module docs define it, read from rand_chacha's
    /// ChaCha8 (an implementation other than the one `RequestDraws` uses), one seek per word.
    fn reference_word(seed: u64, request: u64, w: u64) -> u32 {
        use rand::Rng;
        let mut reference = named_stream(seed, "requests");
        if w < 16 {
            reference.set_stream((1 << 63) | (request / 4));
            reference.set_word_pos(u128::from(16 * (request % 4) + w));
        } else {
            reference.set_stream(request);
            reference.set_word_pos(u128::from(w));
        }
        reference.next_u32()
    }

    /// The words `RequestDraws` gives from `(request, word)` on, read with `read`.
    fn words_read(
        draws: &mut RequestDraws,
        request: u64,
        word: u64,
        read: impl Fn(&mut RequestRng) -> Vec<u32>,
    ) -> Vec<u32> {
        read(draws.at(request, DrawCursor(word)))
    }

    /// Packed words are the reserved stream's keystream at block `r mod 4` of its refill
    /// and words >= 16 are request r's own stream, read with u32s, u64s and bytes, from
    /// positions inside, at the end of and past the packed block; the cursor counts words.
    #[test]
    fn request_draws_are_the_documented_rand_chacha_keystream() {
        use rand::Rng;
        let seed = 11;
        let mut draws = RequestDraws::new(seed);
        for (request, word) in [
            (0u64, 0u64),
            (17, 0),
            (17, 5),
            (18, 15),
            (3, 16),
            (99, 31),
            (6, 1 << 23),
            (5, 1 << 24),
        ] {
            let expected: Vec<u32> = (word..word + 40)
                .map(|w| reference_word(seed, request, w))
                .collect();
            let u32s = words_read(&mut draws, request, word, |rng| {
                (0..40).map(|_| rng.next_u32()).collect()
            });
            assert_eq!(u32s, expected, "u32s from {request} {word}");
            assert_eq!(draws.cursor(request), DrawCursor(word + 40));
            let u64s = words_read(&mut draws, request, word, |rng| {
                (0..20)
                    .flat_map(|_| {
                        let x = rng.next_u64();
                        [x as u32, (x >> 32) as u32]
                    })
                    .collect()
            });
            assert_eq!(u64s, expected, "u64s from {request} {word}");
            assert_eq!(draws.cursor(request), DrawCursor(word + 40));
            // 158 bytes: 39 whole words and half of the 40th, consumed whole.
            let bytes = words_read(&mut draws, request, word, |rng| {
                let mut bytes = [0u8; 158];
                rng.fill_bytes(&mut bytes);
                bytes
                    .chunks(4)
                    .map(|c| c.iter().rev().fold(0, |w, &b| (w << 8) | u32::from(b)))
                    .collect()
            });
            assert_eq!(bytes[..39], expected[..39], "bytes from {request} {word}");
            assert_eq!(
                bytes[39],
                expected[39] & 0xffff,
                "bytes from {request} {word}"
            );
            assert_eq!(draws.cursor(request), DrawCursor(word + 40));
        }
    }

    /// Across the packed block's end (word 15 to 16), `next_u64` and `fill_bytes` give the
    /// words u32 reads give, from every starting word near it and for every byte count.
    #[test]
    fn reads_straddling_word_16_match_u32_reads() {
        use rand::Rng;
        let mut draws = RequestDraws::new(5);
        for request in [0u64, 1, 7, 42] {
            for word in 10..=17 {
                let u32s = words_read(&mut draws, request, word, |rng| {
                    (0..8).map(|_| rng.next_u32()).collect()
                });
                let u64s = words_read(&mut draws, request, word, |rng| {
                    (0..4)
                        .flat_map(|_| {
                            let x = rng.next_u64();
                            [x as u32, (x >> 32) as u32]
                        })
                        .collect()
                });
                assert_eq!(u64s, u32s, "u64s from {request} {word}");
                for len in 1..=32 {
                    let mut bytes = [0u8; 32];
                    draws
                        .at(request, DrawCursor(word))
                        .fill_bytes(&mut bytes[..len]);
                    let expected: Vec<u8> = u32s.iter().flat_map(|w| w.to_le_bytes()).collect();
                    assert_eq!(
                        bytes[..len],
                        expected[..len],
                        "{len} bytes from {request} {word}"
                    );
                    let words = len.div_ceil(4) as u64;
                    assert_eq!(draws.cursor(request), DrawCursor(word + words));
                    // Then on from the cursor, as the next u32s.
                    let next = draws.at(request, DrawCursor(word + words)).next_u32();
                    if words < 8 {
                        assert_eq!(next, u32s[words as usize], "after {len} bytes");
                    }
                }
            }
        }
    }

    /// Resuming from a cursor gives the same words whatever drew in between: the same
    /// request, another of its group of four (which shares the packed refill), one of
    /// another group (which replaces it), and draws of other requests past word 16; and a
    /// request paused before word 16 and resumed across it reads what one straight read of
    /// it reads.
    #[test]
    fn request_draws_do_not_depend_on_access_order() {
        use rand::Rng;
        let mut draws = RequestDraws::new(3);
        let straight: Vec<u32> = {
            let rng = draws.at(17, DrawCursor::START);
            (0..28).map(|_| rng.next_u32()).collect()
        };
        let interlopers: [&dyn Fn(&mut RequestDraws); 6] = [
            &|_| {},
            &|d| {
                let _ = d.at(16, DrawCursor::START).next_u64();
            },
            &|d| {
                let _ = d.at(19, DrawCursor(3)).next_u64();
            },
            &|d| {
                let _ = d.at(4, DrawCursor::START).next_u32();
            },
            &|d| {
                let rng = d.at(4, DrawCursor(14));
                let _ = (rng.next_u64(), rng.next_u64());
            },
            &|_| {},
        ];
        // Request 17 draws 5 words at a time (the fourth read crosses word 16), another
        // request drawing before each resumption but the first and the last.
        let mut resumed = Vec::new();
        let mut cursor = DrawCursor::START;
        for interloper in interlopers {
            interloper(&mut draws);
            let rng = draws.at(17, cursor);
            resumed.extend((0..5).map(|_| rng.next_u32()).take(28 - resumed.len()));
            cursor = draws.cursor(17);
        }
        assert_eq!(resumed, straight);
        assert_eq!(cursor, DrawCursor(28));

        let a: f64 = draws.at(17, DrawCursor::START).random();
        let attempt_1: f64 = draws.at(17, DrawCursor::attempt(1)).random();
        let attempt_2: f64 = draws.at(17, DrawCursor::attempt(2)).random();
        let neighbour: f64 = draws.at(16, DrawCursor::START).random();
        assert_ne!(attempt_1, attempt_2);
        assert_ne!(attempt_1, a);
        assert_ne!(neighbour, a);
    }
}
