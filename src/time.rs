//! Virtual time: integer nanoseconds since the start of a run.
//!
//! Every instant and duration inside the simulation is a `Nanos` (u64), so event order never
//! depends on floating-point rounding. A u64 holds 584 years of nanoseconds; scenario
//! validation caps runs far below that (see `scenario::limits`).
//!
//! Durations in scenario files are strings with a unit ("250ms", "1.5s", "2h", "1h30m"):
//! a bare number would leave the reader guessing the unit.

pub type Nanos = u64;

pub const NS_PER_US: u64 = 1_000;
pub const NS_PER_MS: u64 = 1_000_000;
pub const NS_PER_S: u64 = 1_000_000_000;
pub const NS_PER_MIN: u64 = 60 * NS_PER_S;
pub const NS_PER_H: u64 = 60 * NS_PER_MIN;
pub const NS_PER_DAY: u64 = 24 * NS_PER_H;

/// Seconds (possibly fractional) to nanoseconds, rounded to nearest, saturating at the
/// extremes: below zero (and NaN) at 0, from 2^64 ns at `u64::MAX / 2`. Samplers work in
/// seconds; the event loop works in nanoseconds.
#[inline]
pub fn secs_to_ns(secs: f64) -> Nanos {
    if secs <= 0.0 || secs.is_nan() {
        0
    } else if secs < (i64::MAX as u64 / NS_PER_S) as f64 {
        // Adding 0.5 and truncating rounds a positive number to nearest; `f64::round` is a
        // libm call on baseline x86-64, and this runs for every sampled duration. Through
        // i64: one instruction converts to it on x86-64, where u64 takes two and a select.
        (secs * NS_PER_S as f64 + 0.5) as i64 as u64
    } else if secs >= (u64::MAX / NS_PER_S) as f64 {
        u64::MAX / 2
    } else {
        // 292 to 584 years: rare, but an uncapped heavy tail in a run without a duration
        // can draw it, and it must land where it always did.
        (secs * NS_PER_S as f64 + 0.5) as u64
    }
}

#[inline]
pub fn ns_to_secs(ns: Nanos) -> f64 {
    ns as f64 / NS_PER_S as f64
}

#[inline]
pub fn ns_to_ms(ns: Nanos) -> f64 {
    ns as f64 / NS_PER_MS as f64
}

const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", NS_PER_US),
    ("µs", NS_PER_US),
    ("ms", NS_PER_MS),
    ("s", NS_PER_S),
    ("m", NS_PER_MIN),
    ("h", NS_PER_H),
    ("d", NS_PER_DAY),
];

/// Parses "250ms", "1.5s", "2h", "1h30m", "0". Components must be in any order but each
/// needs a unit; "min" is accepted as a synonym of "m".
pub fn parse_duration(text: &str) -> Result<Nanos, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err("empty duration; write e.g. \"250ms\", \"30s\", \"2h\"".into());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "`{text}` is not a duration; write e.g. \"250ms\", \"30s\", \"2h\""
            ));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("`{text}`: `{}` is not a number", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let unit = if unit == "min" { "m" } else { unit };
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                format!("`{text}` has no unit; durations need one of ns, us, ms, s, m, h, d")
            } else {
                format!("`{text}`: unknown unit `{unit}`; use one of ns, us, ms, s, m, h, d")
            });
        };
        total += number * scale as f64;
    }
    if !total.is_finite() || total >= 1e19 {
        return Err(format!("`{text}` is too long a duration"));
    }
    Ok(total.round() as u64)
}

/// A compact human form used in reports: "850ms", "30s", "2h", "1h30m".
pub fn format_duration(ns: Nanos) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < NS_PER_MS {
        return format!("{}us", ns / NS_PER_US);
    }
    if ns < NS_PER_S {
        return format!("{}ms", ns / NS_PER_MS);
    }
    if ns < NS_PER_MIN {
        let s = ns as f64 / NS_PER_S as f64;
        return if ns.is_multiple_of(NS_PER_S) {
            format!("{s:.0}s")
        } else {
            format!("{s:.3}s")
        };
    }
    let mut out = String::new();
    let mut rest = ns;
    for (unit, scale) in [
        ("d", NS_PER_DAY),
        ("h", NS_PER_H),
        ("m", NS_PER_MIN),
        ("s", NS_PER_S),
    ] {
        if rest >= scale {
            out.push_str(&format!("{}{unit}", rest / scale));
            rest %= scale;
        }
    }
    out
}

/// Clock form "HH:MM:SS.mmm" (hours may exceed 24) for timelines and error logs.
pub fn format_clock(ns: Nanos) -> String {
    let ms_total = ns / NS_PER_MS;
    let (h, m, s, ms) = (
        ms_total / 3_600_000,
        (ms_total / 60_000) % 60,
        (ms_total / 1000) % 60,
        ms_total % 1000,
    );
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

/// Parses a moment of a run: a clock "HH:MM:SS" (fractions of a second allowed, hours may
/// exceed 24; "MM:SS" too) or a duration from the start ("20m", "1h5m", "4800s").
pub fn parse_instant(text: &str) -> Result<Nanos, String> {
    let t = text.trim();
    if !t.contains(':') {
        return parse_duration(t);
    }
    let parts: Vec<&str> = t.split(':').collect();
    let bad = || {
        format!("`{text}` is not a time; write HH:MM:SS (e.g. 00:20:00) or a duration (e.g. 20m)")
    };
    if parts.len() > 3 {
        return Err(bad());
    }
    let (whole, seconds) = parts.split_at(parts.len() - 1);
    let seconds: f64 = seconds[0].parse().map_err(|_| bad())?;
    if !(0.0..60.0).contains(&seconds) {
        return Err(bad());
    }
    let mut total = 0u64;
    for (i, part) in whole.iter().enumerate() {
        let n: u64 = part.parse().map_err(|_| bad())?;
        // Minutes below hours stay under 60.
        if i + 1 == whole.len() && whole.len() == 2 && n >= 60 {
            return Err(bad());
        }
        total = total
            .checked_mul(60)
            .and_then(|x| x.checked_add(n))
            .ok_or_else(bad)?;
    }
    let ns = (total as f64 * 60.0 + seconds) * NS_PER_S as f64;
    if ns >= 1e19 {
        return Err(bad());
    }
    Ok(ns.round() as Nanos)
}

/// Parses a rate: "50/s", "3000/min", "3000/m", "2.5/h". Returns events per second.
pub fn parse_rate_per_s(text: &str) -> Result<f64, String> {
    let Some((num, unit)) = text.split_once('/') else {
        return Err(format!(
            "`{text}` is not a rate; write e.g. \"50/s\" or \"3000/min\""
        ));
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: `{num}` is not a number"))?;
    let per_s = match unit.trim() {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        "d" | "day" => 86_400.0,
        other => {
            return Err(format!(
                "`{text}`: unknown rate unit `{other}`; use /s, /min, /h or /d"
            ));
        }
    };
    let rate = value / per_s;
    if !rate.is_finite() || rate < 0.0 {
        return Err(format!("`{text}`: a rate must be a finite number >= 0"));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_clocks_or_durations() {
        assert_eq!(parse_instant("00:20:00"), Ok(20 * NS_PER_MIN));
        assert_eq!(parse_instant("20m"), Ok(20 * NS_PER_MIN));
        assert_eq!(
            parse_instant("1:02:03.5"),
            Ok(NS_PER_H + 2 * NS_PER_MIN + 3_500_000_000)
        );
        assert_eq!(parse_instant("05:30"), Ok(5 * NS_PER_MIN + 30 * NS_PER_S));
        assert_eq!(parse_instant("30:00:00"), Ok(30 * NS_PER_H));
        for bad in ["00:61:00", "1:2:3:4", "00:00:60", "ab:00", "00:-1:00", "x"] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
        // The clock form the reports print reads back.
        let t = 3 * NS_PER_H + 7 * NS_PER_S + 250 * NS_PER_MS;
        assert_eq!(parse_instant(&format_clock(t)), Ok(t));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(250 * NS_PER_MS));
        assert_eq!(parse_duration("1.5s"), Ok(1_500 * NS_PER_MS));
        assert_eq!(parse_duration("1h30m"), Ok(90 * NS_PER_MIN));
        assert_eq!(parse_duration("2min"), Ok(2 * NS_PER_MIN));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn rates_parse_per_second() {
        assert_eq!(parse_rate_per_s("50/s"), Ok(50.0));
        assert_eq!(parse_rate_per_s("3000/min"), Ok(50.0));
        assert!(parse_rate_per_s("-1/s").is_err());
        assert!(parse_rate_per_s("50").is_err());
    }

    #[test]
    fn formats_read_naturally() {
        assert_eq!(format_duration(90 * NS_PER_MIN), "1h30m");
        assert_eq!(format_duration(250 * NS_PER_MS), "250ms");
        assert_eq!(
            format_clock(NS_PER_H + 3 * NS_PER_S + 120 * NS_PER_MS),
            "01:00:03.120"
        );
    }

    /// Rounded to nearest; 0 below zero and for NaN; exact on both sides of 2^63 ns (to
    /// f64's spacing there, 1,024 or 2,048 ns), and `u64::MAX / 2` from 2^64 ns on.
    #[test]
    fn seconds_convert_to_nanoseconds_rounded_and_saturating() {
        assert_eq!(secs_to_ns(1.5), 1_500_000_000);
        assert_eq!(secs_to_ns(0.000_000_000_4), 0);
        assert_eq!(secs_to_ns(0.000_000_000_6), 1);
        assert_eq!(secs_to_ns(-3.0), 0);
        assert_eq!(secs_to_ns(f64::NAN), 0);
        assert_eq!(secs_to_ns(f64::INFINITY), u64::MAX / 2);
        assert_eq!(secs_to_ns(2e10), u64::MAX / 2);
        for secs in [9_223_372_035u64, 9_223_372_037, 12_000_000_000] {
            let ns = secs_to_ns(secs as f64);
            assert!(ns.abs_diff(secs * NS_PER_S) <= 2048, "{secs} s: {ns}");
        }
    }
}
