//! A logarithmic axis with ticks a reader can use: 1, 2, 5 times powers of ten.
//!
//! plotters' own log scale labels only powers of the base that fall inside the range, so a
//! latency axis from 0.8 s to 24 s shows only "10 s" and "20 s". This one labels 1-2-5
//! values (thinned to fit), with light grid lines at every integer multiple.
//!
//! Positions and ticks use libm's log, log10 and pow (the same bits on every platform), so a
//! tick lands on the same pixel everywhere; plotters' own drawing is beyond our reach.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

#[derive(Debug, Clone)]
pub struct Log125 {
    low: f64,
    high: f64,
}

impl Log125 {
    /// A range over positive values; `low` is clamped above zero.
    pub fn new(low: f64, high: f64) -> Self {
        let low = low.max(1e-9);
        Log125 {
            low,
            high: high.max(low * 1.0001),
        }
    }

    /// Values m x 10^k inside the range for the given mantissas, in order.
    fn values(&self, mantissas: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        let mut decade = libm::pow(10.0, libm::log10(self.low).floor());
        while decade <= self.high {
            for m in mantissas {
                let v = m * decade;
                if v >= self.low && v <= self.high {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        out
    }
}

impl Ranged for Log125 {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = libm::log(self.high / self.low);
        let fraction = libm::log(value.max(self.low * 1e-6) / self.low) / span;
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.max_num_points().max(2);
        if hint.weight().allow_light_points() {
            let all = self.values(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
            if all.len() <= max {
                return all;
            }
        }
        for mantissas in [&[1.0, 2.0, 5.0][..], &[1.0, 3.0][..], &[1.0][..]] {
            let ticks = self.values(mantissas);
            if ticks.len() <= max {
                return ticks;
            }
        }
        // Many decades: every n-th power of ten.
        let decades = self.values(&[1.0]);
        let step = decades.len().div_ceil(max);
        decades.into_iter().step_by(step).collect()
    }

    fn range(&self) -> Range<f64> {
        self.low..self.high
    }
}

impl ValueFormatter<f64> for Log125 {
    fn format(value: &f64) -> String {
        super::style::tick(*value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_one_two_five() {
        let axis = Log125::new(800.0, 24_000.0);
        assert_eq!(
            axis.key_points(plotters::coord::ranged1d::BoldPoints(10)),
            vec![1000.0, 2000.0, 5000.0, 10_000.0, 20_000.0]
        );
        let wide = Log125::new(1.0, 1e9);
        assert!(
            wide.key_points(plotters::coord::ranged1d::BoldPoints(6))
                .len()
                <= 6
        );
    }
}
