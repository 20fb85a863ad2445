//! The look of every chart: size, fonts, palette, time axis.
//!
//! Text uses DejaVu Sans, embedded in the binary and registered with plotters' `ab_glyph`
//! backend: no system font or fontconfig is needed, and every machine draws the same pixels.
//! Colours are the Okabe-Ito palette, distinguishable with the common colour-vision
//! deficiencies.

use std::sync::Once;

use plotters::style::{FontStyle, RGBColor};

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 720;
/// The plot takes the left part; the legend has a column of its own so it never covers data.
pub const LEGEND_WIDTH: u32 = 250;

pub const FONT: &str = "sans-serif";
pub const TITLE_SIZE: u32 = 26;
pub const LABEL_SIZE: u32 = 19;
pub const TICK_SIZE: u32 = 15;
pub const LEGEND_SIZE: u32 = 16;

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Registers the embedded fonts once per process. Without a registered family, the
/// `ab_glyph` backend draws no text at all, silently.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are the fonts shipped in assets/; failing to parse them is a build defect.
        for (style, bytes, file) in [
            (FontStyle::Normal, REGULAR, "DejaVuSans.ttf"),
            (FontStyle::Bold, BOLD, "DejaVuSans-Bold.ttf"),
        ] {
            if plotters::style::register_font(FONT, style, bytes).is_err() {
                panic!(
                    "the embedded font assets/fonts/{file} does not parse: the build is damaged"
                );
            }
        }
    });
}

/// Okabe-Ito: black, orange, sky blue, bluish green, yellow, blue, vermillion, purple.
pub const BLACK: RGBColor = RGBColor(0, 0, 0);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const YELLOW: RGBColor = RGBColor(240, 228, 66);
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub const GREY: RGBColor = RGBColor(120, 120, 120);

/// Colours for runs in an overlay and for series in a single run, in order.
pub const SERIES: [RGBColor; 7] = [BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY_BLUE, BLACK];

pub fn series_colour(index: usize) -> RGBColor {
    SERIES[index % SERIES.len()]
}

/// Dash patterns (dash, gap in pixels; None: solid) for runs in an overlay, so runs differ
/// by dash as well as colour (in print, in greyscale, to colour-blind readers). Five
/// patterns against seven colours: the pair repeats only after 35 runs.
pub const RUN_DASHES: [Option<(u32, u32)>; 5] = [
    None,
    Some((16, 6)),
    Some((4, 4)),
    Some((28, 6)),
    Some((2, 7)),
];

pub fn run_dash(index: usize) -> Option<(u32, u32)> {
    RUN_DASHES[index % RUN_DASHES.len()]
}

/// Shading of windows: outage (grey), brownout, chaos, and the breaker-open strip. Kept
/// apart from the hues of the stacked failure areas (429 sky blue, timeouts orange, 5xx
/// purple) so a shade is never mistaken for data.
pub const OUTAGE: RGBColor = BLACK;
pub const BROWNOUT: RGBColor = YELLOW;
pub const CHAOS: RGBColor = SKY_BLUE;
pub const BREAKER: RGBColor = VERMILLION;
/// SLO incidents (a strip along the top): crimson, and near black-red when metastable.
pub const INCIDENT: RGBColor = RGBColor(200, 30, 60);
pub const METASTABLE: RGBColor = RGBColor(90, 0, 25);

pub const LIGHT_GRID: RGBColor = RGBColor(243, 243, 243);
pub const BOLD_GRID: RGBColor = RGBColor(218, 218, 218);

/// The unit the time axis is labelled in, chosen by the span shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeUnit {
    pub seconds: f64,
    pub name: &'static str,
}

pub fn time_unit(span_s: f64) -> TimeUnit {
    if span_s <= 2.0 * 60.0 {
        TimeUnit {
            seconds: 1.0,
            name: "s",
        }
    } else if span_s <= 3.0 * 3600.0 {
        TimeUnit {
            seconds: 60.0,
            name: "min",
        }
    } else if span_s <= 3.0 * 86_400.0 {
        TimeUnit {
            seconds: 3600.0,
            name: "h",
        }
    } else {
        TimeUnit {
            seconds: 86_400.0,
            name: "days",
        }
    }
}

/// Tick labels without trailing noise: "12", "1.5", "0.25".
pub fn tick(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Milliseconds for a log axis: "50 ms", "2 s", "1.5 min".
pub fn ms_tick(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{} ms", tick(ms))
    } else if ms < 60_000.0 {
        format!("{} s", tick(ms / 1000.0))
    } else {
        format!("{} min", tick(ms / 60_000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_unit_follows_the_span() {
        assert_eq!(time_unit(90.0).name, "s");
        assert_eq!(time_unit(3600.0).name, "min");
        assert_eq!(time_unit(20.0 * 3600.0).name, "h");
        assert_eq!(time_unit(1000.0 * 3600.0).name, "days");
        assert_eq!(tick(1.50), "1.5");
        assert_eq!(ms_tick(2500.0), "2.5 s");
    }
}
