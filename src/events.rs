//! The future event list: a binary heap keyed by (time, sequence number), plus FIFO lanes
//! for timers that never reorder.
//!
//! Ties at equal times break by the sequence number given at scheduling, so the order of
//! simultaneous events is the order they were scheduled in, never the heap's whim.
//!
//! Most events of a run are attempt timeouts, and within a client group every attempt's
//! timeout has the same duration: scheduled in time order, they fire in time order. Such
//! timers go to a FIFO lane per distinct duration (O(1) push and pop) instead of the heap,
//! which keeps the heap small. A lane's entries carry sequence numbers from the same counter,
//! so merging lanes and heap preserves the global (time, seq) order exactly.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

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

#[derive(Debug, Clone, Copy)]
struct Entry {
    time: Nanos,
    seq: u64,
    event: Event,
}

impl Entry {
    #[inline]
    fn key(&self) -> (Nanos, u64) {
        (self.time, self.seq)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that std's max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// A sequence number taken now for an event scheduled later, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved(u64);

/// Identifies a FIFO lane: all timers in it have the same duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane(u16);

#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Entry>,
    lanes: Vec<(Nanos, VecDeque<Entry>)>,
    next_seq: u64,
}

impl EventQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The lane for timers of `duration_ns`, creating it on first use.
    pub fn lane_for(&mut self, duration_ns: Nanos) -> Lane {
        let index = match self.lanes.iter().position(|(d, _)| *d == duration_ns) {
            Some(i) => i,
            None => {
                self.lanes.push((duration_ns, VecDeque::new()));
                self.lanes.len() - 1
            }
        };
        Lane(index as u16)
    }

    #[inline]
    fn stamp(&mut self, time: Nanos, event: Event) -> Entry {
        let seq = self.next_seq;
        self.next_seq += 1;
        Entry { time, seq, event }
    }

    #[inline]
    pub fn schedule(&mut self, time: Nanos, event: Event) {
        let entry = self.stamp(time, event);
        self.heap.push(entry);
    }

    /// Takes the next sequence number for an event that may be scheduled later
    /// (`schedule_reserved`) or never: the order of the events scheduled meanwhile is the
    /// same either way, since only their relative sequence numbers matter.
    #[inline]
    pub fn reserve(&mut self) -> Reserved {
        let seq = self.next_seq;
        self.next_seq += 1;
        Reserved(seq)
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
        let entry = Entry {
            time,
            seq: reserved.0,
            event,
        };
        match lane {
            None => self.heap.push(entry),
            Some(lane) => {
                let lane = &mut self.lanes[lane.0 as usize];
                debug_assert!(lane.1.back().is_none_or(|last| last.key() <= entry.key()));
                lane.1.push_back(entry);
            }
        }
    }

    /// Schedules `event` one lane-duration after `now`. Callers guarantee `now` never
    /// decreases, so each lane stays sorted.
    #[inline]
    pub fn schedule_in_lane(&mut self, lane: Lane, now: Nanos, event: Event) {
        let time = now.saturating_add(self.lanes[lane.0 as usize].0);
        let entry = self.stamp(time, event);
        debug_assert!(
            self.lanes[lane.0 as usize]
                .1
                .back()
                .is_none_or(|last| last.key() <= entry.key())
        );
        self.lanes[lane.0 as usize].1.push_back(entry);
    }

    /// Removes and returns the earliest event by (time, seq).
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, Event)> {
        let mut best: Option<(usize, (Nanos, u64))> =
            self.heap.peek().map(|e| (usize::MAX, e.key()));
        for (i, (_, lane)) in self.lanes.iter().enumerate() {
            if let Some(front) = lane.front()
                && best.is_none_or(|(_, key)| front.key() < key)
            {
                best = Some((i, front.key()));
            }
        }
        let entry = match best? {
            (usize::MAX, _) => self.heap.pop(),
            (i, _) => self.lanes[i].1.pop_front(),
        }?;
        Some((entry.time, entry.event))
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().map(|(_, l)| l.len()).sum::<usize>()
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
}
