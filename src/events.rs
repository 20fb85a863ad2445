//! The future event list: a 4-ary min-heap keyed by (time, sequence number), plus FIFO lanes
//! for timers that never reorder.
//!
//! Ties at equal times break by the sequence number given at scheduling, so the order of
//! simultaneous events is the order they were scheduled in, never the heap's whim.
//!
//! Most events of a run are attempt timeouts, and within a client group every attempt's
//! timeout has the same duration: scheduled in time order, they fire in time order. Such
//! timers go to a FIFO lane per distinct duration (O(1) push and pop) instead of the heap,
//! which keeps the heap small. A group's arrivals are in time order too (the next one is
//! drawn when the last one comes), so each open-loop group has an ordered lane of its own:
//! half the events of a simple run never enter the heap. A lane's entries carry sequence
//! numbers from the same counter, so merging lanes and heap preserves the global (time, seq)
//! order exactly.
//!
//! The heap was std's `BinaryHeap` of 32-byte entries compared as `(time, seq)` tuples, with
//! every lane's front scanned on each pop. Profiling `models/bench-simple.json` put its
//! sift-down first among `Sim::play`'s own costs. Now (time, seq) is one `u128` (compared
//! without branches), the heap is 4-ary (half the depth, the four children's keys in one
//! 64-byte run, picked by selects) with keys apart from the 12-byte events, and the lanes'
//! smallest front is cached, so a pop from the heap is one compare plus its sift (a pop from
//! a lane scans the lanes' fronts for the next minimum). Measured side by side against the
//! `BinaryHeap` version: the `event_queue/heap_push_pop` bench (10,000 live events)
//! 1.45-1.9x as fast, `lane_push_pop` unchanged within noise; whole runs, user
//! CPU medians of alternating runs, 1-3 % less on `bench-simple.json` (its heap holds only
//! tens of events) and 3-5 % less on `thousand-hours.json --duration 20h`.

use std::collections::VecDeque;

use crate::outcome::Failure;
use crate::time::Nanos;

/// What happens. Small and `Copy`: it indexes into the simulation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The next open-loop arrival of a client group.
    Arrival {
        group: u16,
    },
    /// A closed-loop user has finished thinking.
    UserWakes {
        group: u16,
        user: u32,
    },
    /// A retry's backoff, or the move to a fallback target, is over.
    AttemptStart {
        request: u32,
        generation: u32,
    },
    /// An attempt delayed by injected latency reaches the provider.
    ReachProvider {
        request: u32,
        generation: u32,
    },
    /// An attempt fails at a known time (injected timeout, connect timeout).
    AttemptFails {
        request: u32,
        generation: u32,
        failure: Failure,
    },
    /// The client's attempt timeout fires.
    AttemptTimeout {
        request: u32,
        generation: u32,
    },
    /// A request waiting in the bulkhead's queue has waited as long as it may.
    BulkheadWaitOver {
        request: u32,
        generation: u32,
    },
    /// Time to send a hedged copy of the attempt `generation`, if it is still out.
    HedgeDue {
        request: u32,
        generation: u32,
    },
    /// A provider finishes (or abandons) a job, freeing its slot.
    ServiceDone {
        job: u32,
    },
    OutageStarts {
        provider: u16,
        outage: u32,
    },
    OutageEnds {
        provider: u16,
        outage: u32,
    },
    RandomOutageStarts {
        provider: u16,
    },
    RandomOutageEnds {
        provider: u16,
    },
    TopUp {
        provider: u16,
        index: u32,
    },
    RechargeLands {
        provider: u16,
    },
}

/// An event's place in the order: its time in the high 64 bits, its sequence number in the
/// low 64. One `u128` compare (two machine compares, no branch) replaces the tuple compare.
/// No real event has the key `u128::MAX` (that would take sequence number `u64::MAX`), so it
/// marks "none" in the heap's padding and the lanes' cached minimum.
type Key = u128;

const NONE: Key = Key::MAX;

#[inline]
fn key(time: Nanos, seq: u64) -> Key {
    ((time as Key) << 64) | seq as Key
}

#[inline]
fn time_of(key: Key) -> Nanos {
    (key >> 64) as Nanos
}

/// A 4-ary min-heap with the keys in one array and the events in another.
///
/// Four children per node halve the depth of a binary heap, and finding the smallest of four
/// adjacent keys is three branch-free compares over 64 contiguous bytes; sifting reads only
/// keys and moves an event only when its key moves. `keys` is padded with `NONE` past the
/// last event (at least 3 entries), so a node's four children can always be read without a
/// length check: a missing child is `NONE` and never wins.
#[derive(Debug)]
struct Heap {
    /// `keys[..len]` is the heap; `keys[len..]` is all `NONE`, at least 3 of them.
    keys: Vec<Key>,
    /// `events[i]` goes with `keys[i]`; `events.len()` is the heap's length.
    events: Vec<Event>,
}

impl Default for Heap {
    fn default() -> Self {
        Self {
            keys: vec![NONE; 3],
            events: Vec::new(),
        }
    }
}

impl Heap {
    #[inline]
    fn len(&self) -> usize {
        self.events.len()
    }

    /// The smallest key, or `NONE` if the heap is empty.
    #[inline]
    fn min_key(&self) -> Key {
        self.keys[0]
    }

    #[inline]
    fn push(&mut self, key: Key, event: Event) {
        debug_assert!(key != NONE);
        let mut i = self.events.len();
        self.events.push(event);
        if self.keys.len() < i + 4 {
            self.keys.push(NONE);
        }
        while i > 0 {
            let parent = (i - 1) / 4;
            let parent_key = self.keys[parent];
            if parent_key < key {
                break;
            }
            self.keys[i] = parent_key;
            self.events[i] = self.events[parent];
            i = parent;
        }
        self.keys[i] = key;
        self.events[i] = event;
    }

    /// Removes the smallest entry. The heap must not be empty.
    #[inline]
    fn pop(&mut self) -> (Key, Event) {
        let top = (self.keys[0], self.events[0]);
        let Some(last_event) = self.events.pop() else {
            unreachable!("pop from an empty heap")
        };
        let len = self.events.len();
        let last_key = std::mem::replace(&mut self.keys[len], NONE);
        if len > 0 {
            self.sift_down(last_key, last_event, len);
        }
        top
    }

    /// Fills the hole at the root with (`key`, `event`), moving smaller children up.
    #[inline]
    fn sift_down(&mut self, key: Key, event: Event, len: usize) {
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= len {
                break;
            }
            let (child, child_key) = min_of_four(&self.keys[first..first + 4], first);
            if key < child_key {
                break;
            }
            self.keys[i] = child_key;
            self.events[i] = self.events[child];
            i = child;
        }
        self.keys[i] = key;
        self.events[i] = event;
    }
}

/// The index (offset by `first`) and key of the smallest of four keys, as a tournament of
/// selects rather than a loop of branches: which child wins is random to the predictor.
#[inline]
fn min_of_four(keys: &[Key], first: usize) -> (usize, Key) {
    let [a, b, c, d] = [keys[0], keys[1], keys[2], keys[3]];
    let (ab, ab_at) = if b < a { (b, 1) } else { (a, 0) };
    let (cd, cd_at) = if d < c { (d, 3) } else { (c, 2) };
    let (min, at) = if cd < ab { (cd, cd_at) } else { (ab, ab_at) };
    (first + at, min)
}

/// A sequence number taken now for an event scheduled later, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved(u64);

/// Identifies a FIFO lane: a timer lane, all of whose timers have the same duration, or an
/// ordered lane whose owner schedules its entries in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane(u16);

#[derive(Debug)]
struct TimerLane {
    /// The one duration of its timers; None for a lane of its own whose owner schedules
    /// entries in time order itself (a group's arrivals).
    duration_ns: Option<Nanos>,
    entries: VecDeque<(Key, Event)>,
}

#[derive(Debug)]
pub struct EventQueue {
    heap: Heap,
    lanes: Vec<TimerLane>,
    /// The smallest key at the front of any lane (`NONE` if every lane is empty) and that
    /// lane's index: `pop` compares it with the heap's top instead of scanning the lanes.
    /// It changes only when an empty lane gets an entry or a lane's front is popped.
    lanes_min: Key,
    lanes_min_at: usize,
    next_seq: u64,
}

impl Default for EventQueue {
    fn default() -> Self {
        Self {
            heap: Heap::default(),
            lanes: Vec::new(),
            lanes_min: NONE,
            lanes_min_at: 0,
            next_seq: 0,
        }
    }
}

impl EventQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The lane for timers of `duration_ns`, creating it on first use.
    pub fn lane_for(&mut self, duration_ns: Nanos) -> Lane {
        match self
            .lanes
            .iter()
            .position(|l| l.duration_ns == Some(duration_ns))
        {
            Some(i) => Lane(i as u16),
            None => self.add_lane(Some(duration_ns)),
        }
    }

    /// A lane of its own, for a stream of events its owner schedules in time order, one
    /// after another (a Poisson or replayed group's next arrival): each costs a push and a
    /// pop at a deque's ends instead of a trip through the heap.
    pub fn ordered_lane(&mut self) -> Lane {
        self.add_lane(None)
    }

    fn add_lane(&mut self, duration_ns: Option<Nanos>) -> Lane {
        self.lanes.push(TimerLane {
            duration_ns,
            entries: VecDeque::new(),
        });
        Lane((self.lanes.len() - 1) as u16)
    }

    #[inline]
    fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    #[inline]
    pub fn schedule(&mut self, time: Nanos, event: Event) {
        let seq = self.next_seq();
        self.heap.push(key(time, seq), event);
    }

    /// Takes the next sequence number for an event that may be scheduled later
    /// (`schedule_reserved`) or never: the order of the events scheduled meanwhile is the
    /// same either way, since only their relative sequence numbers matter.
    #[inline]
    pub fn reserve(&mut self) -> Reserved {
        Reserved(self.next_seq())
    }

    /// Schedules `event` at `time` in the place `reserved` holds in the order, in the heap or
    /// one lane-duration after `now` in `lane`. Nothing may have entered that lane since the
    /// reservation (the lane must stay sorted).
    #[inline]
    pub fn schedule_reserved(
        &mut self,
        reserved: Reserved,
        time: Nanos,
        lane: Option<Lane>,
        event: Event,
    ) {
        let key = key(time, reserved.0);
        match lane {
            None => self.heap.push(key, event),
            Some(lane) => self.push_lane(lane.0 as usize, key, event),
        }
    }

    /// Schedules `event` one lane-duration after `now`. Callers guarantee `now` never
    /// decreases, so each lane stays sorted.
    #[inline]
    pub fn schedule_in_lane(&mut self, lane: Lane, now: Nanos, event: Event) {
        let duration_ns = self.lanes[lane.0 as usize].duration_ns;
        let time = now.saturating_add(duration_ns.expect("a timer lane has a duration"));
        let key = key(time, self.next_seq());
        self.push_lane(lane.0 as usize, key, event);
    }

    /// Schedules `event` at `time` in an ordered lane: `time` must not be before the
    /// lane's last entry (checked in debug builds), so the lane stays sorted.
    #[inline]
    pub fn schedule_in_order(&mut self, lane: Lane, time: Nanos, event: Event) {
        let key = key(time, self.next_seq());
        self.push_lane(lane.0 as usize, key, event);
    }

    #[inline]
    fn push_lane(&mut self, at: usize, key: Key, event: Event) {
        let entries = &mut self.lanes[at].entries;
        debug_assert!(entries.back().is_none_or(|&(last, _)| last <= key));
        // Only an empty lane's new entry becomes its front.
        if entries.is_empty() && key < self.lanes_min {
            self.lanes_min = key;
            self.lanes_min_at = at;
        }
        entries.push_back((key, event));
    }

    /// Removes and returns the earliest event by (time, seq).
    // Always inlined: the loop's one call site then keeps the queue's fields in registers
    // (as a call, it spilled them on every event).
    #[inline(always)]
    pub fn pop(&mut self) -> Option<(Nanos, Event)> {
        let heap_min = self.heap.min_key();
        let (key, event) = if heap_min < self.lanes_min {
            self.heap.pop()
        } else if self.lanes_min != NONE {
            self.pop_lane()
        } else {
            return None;
        };
        Some((time_of(key), event))
    }

    /// Pops the front of the lane holding `lanes_min` and finds the lanes' new minimum:
    /// that lane's next entry, or with several lanes the smallest front of all (a run has
    /// a lane per distinct timeout and one per open-loop group, up to
    /// `engine::MAX_ARRIVAL_LANES` of them, so the scan is short).
    #[inline]
    fn pop_lane(&mut self) -> (Key, Event) {
        let lane = &mut self.lanes[self.lanes_min_at].entries;
        let Some(entry) = lane.pop_front() else {
            unreachable!("lanes_min names an empty lane")
        };
        self.lanes_min = lane.front().map_or(NONE, |&(front, _)| front);
        if self.lanes.len() > 1 {
            for (i, lane) in self.lanes.iter().enumerate() {
                if let Some(&(front, _)) = lane.entries.front()
                    && front < self.lanes_min
                {
                    self.lanes_min = front;
                    self.lanes_min_at = i;
                }
            }
        }
        entry
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().map(|l| l.entries.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(group: u16) -> Event {
        Event::Arrival { group }
    }

    #[test]
    fn pops_by_time_then_by_scheduling_order_across_heap_and_lanes() {
        let mut q = EventQueue::new();
        let lane = q.lane_for(10);
        q.schedule(15, arrival(1));
        q.schedule_in_lane(lane, 5, arrival(2)); // at 15, scheduled after arrival(1)
        q.schedule(3, arrival(3));
        q.schedule_in_lane(lane, 6, arrival(4)); // at 16
        q.schedule(15, arrival(5));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (3, arrival(3)),
                (15, arrival(1)),
                (15, arrival(2)),
                (15, arrival(5)),
                (16, arrival(4))
            ]
        );
        assert!(q.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Schedule {
            after_ns: Nanos,
        },
        Reserve,
        /// Schedules the `pick`-th outstanding reservation, in `lane` if one is given and
        /// the lane would stay sorted, else in the heap `after_ns` from now.
        ScheduleReserved {
            pick: usize,
            after_ns: Nanos,
            lane: Option<usize>,
        },
        InLane {
            lane: usize,
        },
        /// Schedules in the ordered lane, `after_ns` after its last entry or now.
        InOrder {
            after_ns: Nanos,
        },
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Small delays and durations, so that equal times are common.
        prop_oneof![
            4 => (0u64..8).prop_map(|after_ns| Op::Schedule { after_ns }),
            1 => Just(Op::Reserve),
            2 => (0usize..4, 0u64..8, proptest::option::of(0usize..3))
                .prop_map(|(pick, after_ns, lane)| Op::ScheduleReserved { pick, after_ns, lane }),
            3 => (0usize..3).prop_map(|lane| Op::InLane { lane }),
            2 => (0u64..4).prop_map(|after_ns| Op::InOrder { after_ns }),
            5 => Just(Op::Pop),
        ]
    }

    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The queue pops exactly what a plain binary heap keyed by (time, seq) pops, over
        /// any mix of heap events, reservations and lane timers, ties included.
        #[test]
        fn pops_in_the_order_of_a_reference_heap(
            durations_ns in proptest::collection::vec(0u64..6, 3),
            ops in proptest::collection::vec(op(), 0..400),
        ) {
            let mut queue = EventQueue::new();
            let lanes: Vec<Lane> = durations_ns.iter().map(|&d| queue.lane_for(d)).collect();
            let ordered = queue.ordered_lane();
            let mut last_in_order: Nanos = 0;
            let mut reference = BinaryHeap::new();
            let mut last_in_lane: Vec<Option<(Nanos, u64)>> = vec![None; lanes.len()];
            let (mut seq, mut now, mut id) = (0u64, 0 as Nanos, 0u32);
            let mut reserved: Vec<(Reserved, u64)> = Vec::new();
            let event = |user| Event::UserWakes { group: 0, user };
            for op in ops.into_iter().chain(std::iter::repeat_n(Op::Pop, 1000)) {
                id += 1;
                match op {
                    Op::Schedule { after_ns } => {
                        queue.schedule(now + after_ns, event(id));
                        reference.push(Reverse((now + after_ns, seq, id)));
                        seq += 1;
                    }
                    Op::Reserve => {
                        reserved.push((queue.reserve(), seq));
                        seq += 1;
                    }
                    Op::ScheduleReserved { pick, after_ns, lane } => {
                        if reserved.is_empty() {
                            continue;
                        }
                        let (place, place_seq) = reserved.swap_remove(pick % reserved.len());
                        // Lanes of equal durations are one lane.
                        let sorted = |at: usize, key| {
                            last_in_lane[lanes[at].0 as usize].is_none_or(|last| last <= key)
                        };
                        match lane {
                            Some(at) if sorted(at, (now + durations_ns[at], place_seq)) => {
                                let time = now + durations_ns[at];
                                queue.schedule_reserved(place, time, Some(lanes[at]), event(id));
                                last_in_lane[lanes[at].0 as usize] = Some((time, place_seq));
                                reference.push(Reverse((time, place_seq, id)));
                            }
                            _ => {
                                queue.schedule_reserved(place, now + after_ns, None, event(id));
                                reference.push(Reverse((now + after_ns, place_seq, id)));
                            }
                        }
                    }
                    Op::InLane { lane } => {
                        queue.schedule_in_lane(lanes[lane], now, event(id));
                        let time = now + durations_ns[lane];
                        last_in_lane[lanes[lane].0 as usize] = Some((time, seq));
                        reference.push(Reverse((time, seq, id)));
                        seq += 1;
                    }
                    Op::InOrder { after_ns } => {
                        let time = last_in_order.max(now) + after_ns;
                        queue.schedule_in_order(ordered, time, event(id));
                        last_in_order = time;
                        reference.push(Reverse((time, seq, id)));
                        seq += 1;
                    }
                    Op::Pop => {
                        let want = reference.pop().map(|Reverse((time, _, id))| (time, event(id)));
                        prop_assert_eq!(queue.pop(), want);
                        if let Some((time, _)) = want {
                            now = time;
                        }
                    }
                }
                prop_assert_eq!(queue.len(), reference.len());
            }
            prop_assert!(queue.is_empty());
        }
    }
}
