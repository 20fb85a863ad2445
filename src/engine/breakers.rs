//! The circuit breakers as the loop drives them: recording each attempt's outcome in the
//! breaker it passed (with its epoch, so a late answer from an earlier state is ignored),
//! opening and closing (with the open intervals for the time series and the report), and
//! classifying each opening as a detection of a fault window or a false open.
//!
//! The state machine itself (trip rules, open waits, half-open probes) is
//! `policy::breaker`; this file only connects it to the requests and the observers.

use crate::policy::breaker::{self, OPEN_UNTIL_CLOSED_NS, Recorded, Transition};
use crate::time::Nanos;
use crate::trace::TraceKind;

use super::Sim;
use super::slab::NONE;

impl Sim<'_> {
    pub(super) fn record_breaker(
        &mut self,
        request: u32,
        recorded: Recorded,
        retry_after_ns: Option<Nanos>,
    ) {
        let r = &self.clients.requests.items[request as usize];
        let (breaker, epoch) = (r.breaker, r.breaker_epoch);
        if breaker == NONE {
            return;
        }
        let outcome = breaker::Outcome {
            recorded,
            duration_ns: self.now - r.attempt_started_ns,
            retry_after_ns,
        };
        let slot = &mut self.clients.breakers[breaker as usize];
        match slot.breaker.record(self.now, epoch, outcome) {
            Transition::Opened { until_ns } => self.breaker_opened(breaker, until_ns),
            Transition::Closed => {
                // A retry breaker closes before the end it was given (it has none): the open
                // interval ends now. Others close from half-open, after it ended.
                if slot.open_interval.1 > self.now {
                    slot.open_ns_total -= slot.open_interval.1 - self.now;
                    slot.open_interval.1 = self.now;
                }
                slot.closes += 1;
                self.observers.bucket.breaker_closes += 1;
                if self.tracing() {
                    self.emit(self.breaker_trace(breaker, TraceKind::BreakerClosed, self.now));
                }
            }
            Transition::None => {}
        }
    }

    /// Book-keeping of a breaker opening (or reopening, or being held open longer).
    pub(super) fn breaker_opened(&mut self, breaker: u32, until_ns: Nanos) {
        let slot = &mut self.clients.breakers[breaker as usize];
        // The previous open interval is over (or is being extended): its share of this
        // bucket counts now.
        let bucket = (
            self.observers.bucket.start_ns,
            self.observers.bucket.end_ns(),
        );
        let previous = (slot.open_interval.0, slot.open_interval.1.min(self.now));
        self.observers.bucket.breaker_open_ns += crate::metrics::overlap(previous, bucket);
        slot.open_ns_total -= slot
            .open_interval
            .1
            .saturating_sub(self.now.max(slot.open_interval.0));
        slot.open_interval = (self.now, until_ns);
        slot.opens += 1;
        slot.first_open_ns.get_or_insert(self.now);
        slot.open_ns_total += until_ns - self.now;
        self.observers.bucket.breaker_opens += 1;
        let (provider, group) = (slot.target.provider, slot.group);
        self.classify_open(provider, group);
        if self.tracing() {
            let mut e = self.breaker_trace(breaker, TraceKind::BreakerOpened, self.now);
            // A retry breaker is open until an answer closes it: no wait to tell.
            e.delay_ns = (until_ns != OPEN_UNTIL_CLOSED_NS).then(|| until_ns - self.now);
            self.emit(e);
        }
    }

    /// A breaker opened: a detection if its provider is in a fault window (an outage, a
    /// brownout, the chaos layer, or within one attempt timeout after one ended), else a
    /// false open.
    pub(super) fn classify_open(&mut self, provider: u16, group: u16) {
        let now = self.now;
        let pi = provider as usize;
        let grace = self.scenario.groups[group as usize]
            .policy
            .attempt_timeout_ns;
        let chaos = self
            .scenario
            .chaos
            .as_ref()
            .is_some_and(|c| c.applies(now, group as usize, pi));
        let faults = &mut self.observers.faults[pi];
        let degraded = self.world.providers[pi].conditions.is_degraded();
        if let (true, Some(since)) = (degraded, faults.degraded_since_ns)
            && !faults.detected
        {
            faults.detected = true;
            let totals = &mut self.observers.provider_totals[pi];
            totals.detections += 1;
            totals.detection_sum_ns += u128::from(now - since);
            totals.detection_max_ns = totals.detection_max_ns.max(now - since);
        }
        let recently = faults
            .last_fault_end_ns
            .is_some_and(|end| now <= end.saturating_add(grace));
        if !(degraded || chaos || recently) {
            self.observers.false_opens += 1;
        }
    }
}
