//! PNG charts of runs: success rate, latency, load, credits, latency distribution, and an
//! overview of an experiment's scenarios.
//!
//! Charts are drawn only from what a run saved (`summary.json`, `timeseries.csv`, read back
//! by `data`), so `aichaos plot` on a saved run redraws the run's own charts byte for byte,
//! and several runs overlay on one set of charts, a colour and a legend entry per run.
//!
//! One run's charts shade the windows that explain its curves: hard outages, brownouts, the
//! chaos layer's window, (as a strip along the bottom) time with a circuit breaker open, and
//! (as a strip along the top) the SLO incidents, metastable ones darker.
//! Long runs are aggregated to at most `MAX_POINTS` points per line, drawn as the bin's
//! mean with a min-max envelope, so a 1,000-hour run stays readable.
//!
//! Why over 1,000 lines: every chart of a run, an overlay and an overview shares the
//! `TimeChart` scaffolding here; `data`, `percentile`, `logaxis` and `style` are already
//! apart, and so are the sweep's charts (`sweep`).

pub mod data;
pub mod logaxis;
pub mod percentile;
pub mod style;
mod sweep;

pub use sweep::render_sweep;

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::backend::BitMapBackend;
use plotters::chart::ChartBuilder;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{Circle, PathElement, Polygon, Rectangle, Text};
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::{Color, FontStyle, IntoFont, RGBColor, WHITE};

use crate::output::slug;
use data::{Column, RunData};
use logaxis::Log125;
use style::*;

/// Most points drawn per line; longer series are binned.
pub const MAX_POINTS: usize = 1200;

pub type ChartResult<T> = Result<T, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// (x, y) in chart units.
type Point = (f64, f64);
/// (x, low, high): a slice of an envelope.
type Band = (f64, f64, f64);

/// A curve: points (x in the chart's time unit), optionally an envelope.
struct Curve {
    label: String,
    colour: RGBColor,
    points: Vec<Point>,
    envelope: Vec<Band>,
    dashed: bool,
    /// In an overlay, the run the curve belongs to: every curve of run i is drawn with the
    /// run's dash pattern (`style::run_dash`) as well as its colour, and a curve that one run
    /// alone would draw dashed is drawn thin instead. None on one run's charts.
    run: Option<usize>,
    /// Points standing on too few requests to join a line (see `percentile`), drawn as
    /// hollow rings of this radius in pixels: lines of one chart give theirs different
    /// sizes, so rings at the same place (a p95 equal to the p99) stay visible.
    rings: Vec<Point>,
    ring_px: i32,
}

/// Shaded time spans (x0, x1), e.g. outages.
struct Shade {
    label: &'static str,
    colour: RGBColor,
    spans: Vec<(f64, f64)>,
    band: ShadeBand,
}

/// How much of a chart's height a shade covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShadeBand {
    Full,
    /// A strip along the bottom (time with a breaker open).
    Bottom,
    /// A strip along the top (SLO incidents).
    Top,
}

/// A stacked area series (drawn beneath the curves).
struct Stack {
    label: String,
    colour: RGBColor,
    values: Vec<(f64, f64)>,
}

struct TimeChart {
    path: PathBuf,
    title: String,
    y_desc: String,
    unit: TimeUnit,
    x_range: Range<f64>,
    curves: Vec<Curve>,
    shades: Vec<Shade>,
    stacks: Vec<Stack>,
    /// Horizontal reference lines: (label, y, colour).
    references: Vec<(String, f64, RGBColor)>,
    /// Vertical event markers: (label, x, colour).
    markers: Vec<(String, f64, RGBColor)>,
    y_formatter: fn(&f64) -> String,
    y: YAxis,
}

/// A chart's vertical axis, chosen by what the chart must show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum YAxis {
    Linear { low: f64, high: f64 },
    Log { low: f64, high: f64 },
}

impl YAxis {
    /// Where `value` sits on the axis: 0 at the bottom, 1 at the top, clamped.
    pub fn fraction(&self, value: f64) -> f64 {
        let f = match *self {
            YAxis::Linear { low, high } => (value - low) / (high - low),
            YAxis::Log { low, high } => libm::log(value.max(low) / low) / libm::log(high / low),
        };
        f.clamp(0.0, 1.0)
    }

    /// Where the bottom strip ends and the top strip begins: 4 % of the height from each
    /// edge, in axis units.
    fn strips(&self) -> (f64, f64) {
        match *self {
            YAxis::Linear { low, high } => (low + (high - low) * 0.04, low + (high - low) * 0.96),
            // libm's pow, not the platform's: these place pixels in the PNG.
            YAxis::Log { low, high } => (
                low * libm::pow(high / low, 0.04),
                low * libm::pow(high / low, 0.96),
            ),
        }
    }
}

/// Where a run's files go: draws to a hidden temporary name and renames, so an interrupted
/// draw never leaves a PNG that looks complete.
pub(crate) fn draw_png(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> ChartResult<()>,
) -> ChartResult<()> {
    register_fonts();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("bad chart path")?;
    let dir = path.parent().ok_or("bad chart path")?;
    let partial = crate::output::partial_path(dir, name, true);
    let drawn = (|| {
        let root = BitMapBackend::new(&partial, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present()
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        std::fs::rename(&partial, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
    })();
    if drawn.is_err() {
        // A full disk fails the write halfway: the temporary file must not outlive it.
        let _ = std::fs::remove_file(&partial);
    }
    drawn
}

fn legend_entries(
    panel: &DrawingArea<BitMapBackend<'_>, Shift>,
    entries: &[(String, RGBColor, LegendMark)],
) -> ChartResult<()> {
    let font = (FONT, LEGEND_SIZE).into_font().color(&BLACK);
    let mut y = 60;
    for (label, colour, mark) in entries {
        match mark {
            LegendMark::Line => panel
                .draw(&PathElement::new(
                    vec![(8, y), (38, y)],
                    colour.stroke_width(3),
                ))
                .map_err(err)?,
            LegendMark::Dashed => {
                for x in [8, 20, 32] {
                    panel
                        .draw(&PathElement::new(
                            vec![(x, y), (x + 7, y)],
                            colour.stroke_width(3),
                        ))
                        .map_err(err)?;
                }
            }
            LegendMark::Stroke(dash, width) => {
                let (on, off) = dash.unwrap_or((30, 0));
                let mut x = 8;
                while x < 38 {
                    let end = (x + on as i32).min(38);
                    panel
                        .draw(&PathElement::new(
                            vec![(x, y), (end, y)],
                            colour.stroke_width(*width + 1),
                        ))
                        .map_err(err)?;
                    x = end + off as i32;
                }
            }
            LegendMark::Ring => panel
                .draw(&Circle::new((23, y), 6, colour.stroke_width(2)))
                .map_err(err)?,
            LegendMark::Box(alpha) => panel
                .draw(&Rectangle::new(
                    [(8, y - 8), (38, y + 8)],
                    colour.mix(*alpha).filled(),
                ))
                .map_err(err)?,
        }
        // Long labels wrap onto a second line rather than run off the image.
        let (first, rest) = wrap(label, 22);
        panel
            .draw(&Text::new(first, (46, y - 9), font.clone()))
            .map_err(err)?;
        if let Some(rest) = rest {
            y += 20;
            panel
                .draw(&Text::new(rest, (46, y - 9), font.clone()))
                .map_err(err)?;
        }
        y += 30;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum LegendMark {
    Line,
    Dashed,
    /// A sample of a dash pattern (dash, gap; None solid) at a width: an overlay's run.
    Stroke(Option<(u32, u32)>, u32),
    Ring,
    Box(f64),
}

fn wrap(label: &str, width: usize) -> (String, Option<String>) {
    if label.chars().count() <= width {
        return (label.to_string(), None);
    }
    let cut = label
        .char_indices()
        .take_while(|(i, _)| *i <= width)
        .filter(|(_, c)| *c == ' ')
        .map(|(i, _)| i)
        .last();
    match cut {
        Some(i) => (
            label[..i].to_string(),
            Some(label[i + 1..].chars().take(width + 4).collect()),
        ),
        None => (
            label.chars().take(width).collect(),
            Some(label.chars().skip(width).take(width + 4).collect()),
        ),
    }
}

const SHADE_ALPHA: f64 = 0.16;
const ENVELOPE_ALPHA: f64 = 0.18;
const STACK_ALPHA: f64 = 0.45;

impl TimeChart {
    /// An empty chart of `runs` over their longest span, in the time unit that span calls for.
    fn new(
        runs: &[RunData],
        path: PathBuf,
        subject: &str,
        y_desc: &str,
        y_formatter: fn(&f64) -> String,
    ) -> TimeChart {
        let unit = time_unit(longest_span(runs));
        TimeChart {
            path,
            title: title(runs, subject),
            y_desc: y_desc.into(),
            unit,
            x_range: 0.0..longest_span(runs) / unit.seconds,
            curves: Vec::new(),
            shades: Vec::new(),
            stacks: Vec::new(),
            references: Vec::new(),
            markers: Vec::new(),
            y_formatter,
            y: YAxis::Linear {
                low: 0.0,
                high: 1.0,
            },
        }
    }

    /// The chart without series that would draw nothing: curves with no value at all and
    /// stacks that are zero throughout (a run without 429s gets no 429 area nor legend
    /// entry). A curve that is zero throughout stays: a line along zero says "none".
    fn without_empty_series(mut self) -> TimeChart {
        self.curves
            .retain(|c| c.points.iter().chain(&c.rings).any(|p| p.1.is_finite()));
        self.stacks.retain(|s| s.values.iter().any(|v| v.1 != 0.0));
        self
    }

    /// Draws the chart on its own axis.
    fn draw(&self) -> ChartResult<()> {
        let strips = self.y.strips();
        match self.y {
            YAxis::Linear { low, high } => self.draw_on(low..high, low, high, strips),
            YAxis::Log { low, high } => self.draw_on(Log125::new(low, high), low, high, strips),
        }
    }

    /// `strips`: where the bottom strip ends and the top strip begins, in y units.
    fn draw_on<Y>(
        &self,
        y_range: Y,
        y_floor: f64,
        y_top: f64,
        strips: (f64, f64),
    ) -> ChartResult<()>
    where
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        draw_png(&self.path, |root| {
            let (main, panel) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
            let mut chart = ChartBuilder::on(&main)
                .caption(
                    &self.title,
                    (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold),
                )
                .margin(16)
                .x_label_area_size(56)
                .y_label_area_size(84)
                .build_cartesian_2d(self.x_range.clone(), y_range)
                .map_err(err)?;
            let tick_font = (FONT, TICK_SIZE).into_font();
            let label_font = (FONT, LABEL_SIZE).into_font();
            chart
                .configure_mesh()
                .x_desc(format!("time ({})", self.unit.name))
                .y_desc(&self.y_desc)
                .x_label_formatter(&|x| tick(*x))
                .y_label_formatter(&|y| (self.y_formatter)(y))
                .label_style(tick_font)
                .axis_desc_style(label_font)
                .light_line_style(LIGHT_GRID)
                .bold_line_style(BOLD_GRID)
                .draw()
                .map_err(err)?;
            for shade in &self.shades {
                let (low, high) = match shade.band {
                    ShadeBand::Full => (y_floor, y_top),
                    ShadeBand::Bottom => (y_floor, strips.0),
                    ShadeBand::Top => (strips.1, y_top),
                };
                let alpha = if shade.band == ShadeBand::Full {
                    SHADE_ALPHA
                } else {
                    0.55
                };
                chart
                    .draw_series(shade.spans.iter().map(|&(x0, x1)| {
                        Rectangle::new([(x0, low), (x1, high)], shade.colour.mix(alpha).filled())
                    }))
                    .map_err(err)?;
            }
            let mut base: Vec<(f64, f64)> = self
                .stacks
                .first()
                .map(|s| s.values.iter().map(|&(x, _)| (x, 0.0)).collect())
                .unwrap_or_default();
            for stack in &self.stacks {
                let top: Vec<(f64, f64)> = stack
                    .values
                    .iter()
                    .zip(&base)
                    .map(|(&(x, v), &(_, b))| (x, b + v))
                    .collect();
                let polygon: Vec<(f64, f64)> = top
                    .iter()
                    .copied()
                    .chain(base.iter().rev().map(|&(x, b)| (x, b.max(y_floor))))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        polygon,
                        stack.colour.mix(STACK_ALPHA).filled(),
                    )))
                    .map_err(err)?;
                base = top;
            }
            // References (an expected minimum, a capacity) are drawn thin and before the
            // curves: where a curve runs along one, the curve shows, not the reference.
            for (_, y, colour) in &self.references {
                let (x0, x1) = (self.x_range.start, self.x_range.end);
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x0, *y), (x1, *y)],
                        10,
                        6,
                        colour.stroke_width(1),
                    ))
                    .map_err(err)?;
            }
            for (_, x, colour) in &self.markers {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(*x, y_floor), (*x, y_top)],
                        6,
                        4,
                        colour.stroke_width(2),
                    ))
                    .map_err(err)?;
            }
            for curve in &self.curves {
                if !curve.envelope.is_empty() {
                    let polygon: Vec<(f64, f64)> = curve
                        .envelope
                        .iter()
                        .map(|&(x, _, high)| (x, high))
                        .chain(
                            curve
                                .envelope
                                .iter()
                                .rev()
                                .map(|&(x, low, _)| (x, low.max(y_floor))),
                        )
                        .collect();
                    chart
                        .draw_series(std::iter::once(Polygon::new(
                            polygon,
                            curve.colour.mix(ENVELOPE_ALPHA).filled(),
                        )))
                        .map_err(err)?;
                }
                for segment in segments(&curve.points) {
                    if let [point] = segment[..] {
                        // A lone bucket between gaps: a dot, or it would not show at all.
                        chart
                            .draw_series(std::iter::once(Circle::new(
                                point,
                                3,
                                curve.colour.filled(),
                            )))
                            .map_err(err)?;
                    } else {
                        let (dash, width) = curve.stroke();
                        draw_line(&mut chart, segment, dash, curve.colour.stroke_width(width))?;
                    }
                }
                chart
                    .draw_series(
                        curve
                            .rings
                            .iter()
                            .map(|&p| Circle::new(p, curve.ring_px, curve.colour.stroke_width(2))),
                    )
                    .map_err(err)?;
            }
            legend_entries(&panel, &self.legend())
        })
    }

    /// The legend: every series drawn, then references, markers and the shades in use.
    fn legend(&self) -> Vec<(String, RGBColor, LegendMark)> {
        let mut entries: Vec<(String, RGBColor, LegendMark)> = Vec::new();
        for curve in &self.curves {
            let mark = match curve.run {
                Some(_) => {
                    let (dash, width) = curve.stroke();
                    LegendMark::Stroke(dash, width)
                }
                None if curve.dashed => LegendMark::Dashed,
                None => LegendMark::Line,
            };
            entries.push((curve.label.clone(), curve.colour, mark));
        }
        if self.curves.iter().any(|c| !c.rings.is_empty()) {
            entries.push((
                "too few requests for a line".to_string(),
                GREY,
                LegendMark::Ring,
            ));
        }
        if self.curves.iter().any(|c| !c.envelope.is_empty()) {
            entries.push((
                "min-max per bin".to_string(),
                GREY,
                LegendMark::Box(ENVELOPE_ALPHA * 2.0),
            ));
        }
        for stack in &self.stacks {
            entries.push((
                stack.label.clone(),
                stack.colour,
                LegendMark::Box(STACK_ALPHA),
            ));
        }
        for (label, _, colour) in self.references.iter().chain(&self.markers) {
            if !entries.iter().any(|(l, _, _)| l == label) {
                entries.push((label.clone(), *colour, LegendMark::Dashed));
            }
        }
        for shade in self.shades.iter().filter(|s| !s.spans.is_empty()) {
            entries.push((
                shade.label.to_string(),
                shade.colour,
                LegendMark::Box(if shade.band == ShadeBand::Full {
                    SHADE_ALPHA * 2.0
                } else {
                    0.55
                }),
            ));
        }
        entries
    }
}

impl Curve {
    /// Its dash pattern (dash, gap in pixels; None: solid) and width: on one run's chart
    /// dashed or solid, 2 px; in an overlay the run's pattern, 1 px where one run alone
    /// would be dashed (p50 under p99, offered load under attempts).
    fn stroke(&self) -> (Option<(u32, u32)>, u32) {
        match self.run {
            None => (self.dashed.then_some((8, 5)), 2),
            Some(i) => (run_dash(i), if self.dashed { 1 } else { 2 }),
        }
    }
}

/// A line in `style`, dashed by `dash` (dash, gap in pixels) or solid.
fn draw_line<DB, X, Y>(
    chart: &mut plotters::chart::ChartContext<
        '_,
        DB,
        plotters::coord::cartesian::Cartesian2d<X, Y>,
    >,
    points: Vec<(X::ValueType, Y::ValueType)>,
    dash: Option<(u32, u32)>,
    style: plotters::style::ShapeStyle,
) -> ChartResult<()>
where
    DB: plotters::backend::DrawingBackend,
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
    X::ValueType: Clone + 'static,
    Y::ValueType: Clone + 'static,
{
    match dash {
        Some((size, gap)) => chart
            .draw_series(DashedLineSeries::new(points, size, gap, style))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => chart
            .draw_series(LineSeries::new(points, style))
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

/// Splits a line at gaps (NaN y), so empty buckets are not bridged.
fn segments(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        if y.is_finite() {
            current.push((x, y));
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The time axis of one run: bucket midpoints in the chart's unit, and bin size.
struct Axis<'a> {
    unit: TimeUnit,
    /// Bucket i spans [starts[i], ends[i]) seconds.
    starts: Cow<'a, [f64]>,
    ends: Vec<f64>,
    bin: usize,
}

impl<'a> Axis<'a> {
    fn of(run: &'a RunData, unit: TimeUnit) -> Axis<'a> {
        let starts = run.series.values("time_s");
        let end = run.summary.simulated_duration_s;
        let ends: Vec<f64> = starts
            .iter()
            .skip(1)
            .copied()
            .chain(std::iter::once(end))
            .collect();
        let bin = run.series.len().div_ceil(MAX_POINTS).max(1);
        Axis {
            unit,
            starts,
            ends,
            bin,
        }
    }

    fn x(&self, seconds: f64) -> f64 {
        seconds / self.unit.seconds
    }

    /// Bins of bucket indices.
    fn bins(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.starts.len())
            .step_by(self.bin)
            .map(|i| i..(i + self.bin).min(self.starts.len()))
    }

    fn midpoint(&self, bin: &Range<usize>) -> f64 {
        self.x((self.starts[bin.start] + self.ends[bin.end - 1]) / 2.0)
    }

    /// A per-bucket value as a line (bin mean of present values, NaN where none) with an
    /// envelope when binned.
    fn line(&self, values: Column<'_>, transform: impl Fn(f64) -> f64) -> (Vec<Point>, Vec<Band>) {
        let buckets: Vec<Range<usize>> = (0..values.len()).map(|i| i..i + 1).collect();
        self.binned(&buckets, |i| values.get(i).map(&transform))
    }

    /// Values of consecutive groups of buckets (`groups[i]` has `value(i)`) as a line:
    /// at most `MAX_POINTS` bins of groups, each the mean of its present values (NaN where
    /// none) at the middle of its time span, with a min-max envelope when a bin holds
    /// several groups.
    fn binned(
        &self,
        groups: &[Range<usize>],
        value: impl Fn(usize) -> Option<f64>,
    ) -> (Vec<Point>, Vec<Band>) {
        let bin = groups.len().div_ceil(MAX_POINTS).max(1);
        let mut points = Vec::new();
        let mut envelope = Vec::new();
        for first in (0..groups.len()).step_by(bin) {
            let last = (first + bin).min(groups.len()) - 1;
            let present: Vec<f64> = (first..=last).filter_map(&value).collect();
            let x = self.midpoint(&(groups[first].start..groups[last].end));
            if present.is_empty() {
                points.push((x, f64::NAN));
                continue;
            }
            points.push((x, present.iter().sum::<f64>() / present.len() as f64));
            if bin > 1 {
                let low = present.iter().copied().fold(f64::INFINITY, f64::min);
                let high = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                envelope.push((x, low, high));
            }
        }
        (points, envelope)
    }

    /// A ratio of two summed counts per bin (e.g. successes / ended), NaN where empty.
    fn ratio(&self, numerator: &[f64], denominator: &[f64], scale: f64) -> Vec<(f64, f64)> {
        self.bins()
            .map(|bin| {
                let n: f64 = numerator[bin.clone()].iter().sum();
                let d: f64 = denominator[bin.clone()].iter().sum();
                (
                    self.midpoint(&bin),
                    if d > 0.0 { scale * n / d } else { f64::NAN },
                )
            })
            .collect()
    }

    /// A count per bucket as a rate per second, averaged over each bin.
    fn per_second(&self, counts: &[f64]) -> Vec<(f64, f64)> {
        self.bins()
            .map(|bin| {
                let n: f64 = counts[bin.clone()].iter().sum();
                let seconds = self.ends[bin.end - 1] - self.starts[bin.start];
                (
                    self.midpoint(&bin),
                    if seconds > 0.0 { n / seconds } else { 0.0 },
                )
            })
            .collect()
    }

    /// Spans where `active(i)` holds, merged, in the chart's unit.
    fn spans(&self, active: impl Fn(usize) -> bool) -> Vec<(f64, f64)> {
        let mut spans: Vec<(f64, f64)> = Vec::new();
        for i in (0..self.starts.len()).filter(|&i| active(i)) {
            let (x0, x1) = (self.x(self.starts[i]), self.x(self.ends[i]));
            match spans.last_mut() {
                Some(last) if (last.1 - x0).abs() < 1e-12 => last.1 = x1,
                _ => spans.push((x0, x1)),
            }
        }
        spans
    }
}

/// Windows that explain a single run's curves.
fn shades(run: &RunData, axis: &Axis) -> Vec<Shade> {
    let providers = run.provider_names();
    let any = |suffix: &str| {
        let columns: Vec<Cow<'_, [f64]>> = providers
            .iter()
            .map(|p| run.series.values(&data::provider_column(p, suffix)))
            .collect();
        move |i: usize| columns.iter().any(|c| c[i] > 0.0)
    };
    let chaos = run.series.values("chaos_active_s");
    let breaker = run.series.values("breaker_open_s");
    vec![
        Shade {
            label: "provider down",
            colour: OUTAGE,
            spans: axis.spans(any("down_s")),
            band: ShadeBand::Full,
        },
        Shade {
            label: "brownout",
            colour: BROWNOUT,
            spans: axis.spans(any("brownout_s")),
            band: ShadeBand::Full,
        },
        Shade {
            label: "chaos layer active",
            colour: CHAOS,
            spans: axis.spans(|i| chaos[i] > 0.0),
            band: ShadeBand::Full,
        },
        Shade {
            label: "breaker open",
            colour: BREAKER,
            spans: axis.spans(|i| breaker[i] > 0.0),
            band: ShadeBand::Bottom,
        },
        Shade {
            label: "SLO incident",
            colour: INCIDENT,
            spans: incident_spans(run, axis, false),
            band: ShadeBand::Top,
        },
        Shade {
            label: "metastable incident",
            colour: METASTABLE,
            spans: incident_spans(run, axis, true),
            band: ShadeBand::Top,
        },
    ]
}

/// The run's incidents (metastable ones or the others), merged where they overlap.
fn incident_spans(run: &RunData, axis: &Axis, metastable: bool) -> Vec<(f64, f64)> {
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for i in run
        .summary
        .incidents
        .iter()
        .filter(|i| i.metastability.as_ref().is_some_and(|m| m.metastable) == metastable)
    {
        let (x0, x1) = (axis.x(i.start_s), axis.x(i.end_s));
        match spans.last_mut() {
            Some(last) if x0 <= last.1 => last.1 = last.1.max(x1),
            _ => spans.push((x0, x1)),
        }
    }
    spans
}

fn title(runs: &[RunData], what: &str) -> String {
    match runs {
        [run] => format!("{}: {what} (seed {})", run.label(), run.summary.seed),
        _ => format!("{what}: {} runs compared", runs.len()),
    }
}

fn longest_span(runs: &[RunData]) -> f64 {
    runs.iter()
        .map(|r| r.summary.simulated_duration_s)
        .fold(0.0, f64::max)
        .max(1e-9)
}

fn percent(y: &f64) -> String {
    format!("{}%", tick(*y))
}

fn plain(y: &f64) -> String {
    tick(*y)
}

fn dollars(y: &f64) -> String {
    // Below a cent, `tick`'s two decimals would label every tick of a log axis "$0".
    if *y != 0.0 && y.abs() < 0.01 {
        let text = format!("{y:.6}");
        format!("${}", text.trim_end_matches('0'))
    } else {
        format!("${}", tick(*y))
    }
}

fn milliseconds(y: &f64) -> String {
    ms_tick(*y)
}

/// The charts of one run or an overlay of several, written into `out`. Returns the files.
pub fn render(runs: &[RunData], out: &Path) -> ChartResult<Vec<PathBuf>> {
    assert!(!runs.is_empty(), "render needs at least one run");
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut written = Vec::new();
    for chart in time_charts(runs, out) {
        chart.draw()?;
        written.push(chart.path);
    }
    written.push(latency_cdf(runs, out)?);
    Ok(written)
}

/// The charts over time of `runs`, built but not drawn, in the order `render` writes them.
fn time_charts(runs: &[RunData], out: &Path) -> Vec<TimeChart> {
    let mut charts = vec![success_rate(runs, out), latency(runs, out), load(runs, out)];
    if runs.iter().any(|r| credit_accounts(r).next().is_some()) {
        charts.push(credits(runs, out));
    }
    charts
        .into_iter()
        .map(TimeChart::without_empty_series)
        .collect()
}

/// The legend of the chart `file` (e.g. `load.png`) of `runs`: what that chart draws, as
/// `render` would draw it; None for a chart these runs do not get.
pub fn legend(runs: &[RunData], file: &str) -> Option<Vec<String>> {
    time_charts(runs, Path::new(""))
        .into_iter()
        .find(|c| c.path == Path::new(file))
        .map(|c| c.legend().into_iter().map(|(label, _, _)| label).collect())
}

fn success_rate(runs: &[RunData], out: &Path) -> TimeChart {
    let mut chart = TimeChart::new(
        runs,
        out.join("success_rate.png"),
        "success rate",
        "requests succeeded (%)",
        percent,
    );
    let unit = chart.unit;
    for (i, run) in runs.iter().enumerate() {
        let axis = Axis::of(run, unit);
        let successes = run.series.values("successes");
        let ended: Vec<f64> = successes
            .iter()
            .zip(run.series.values("failures").iter())
            .map(|(s, f)| s + f)
            .collect();
        let (_, envelope) = axis.line(run.series.column("success_rate"), |v| 100.0 * v);
        let colour = if runs.len() == 1 {
            BLUE
        } else {
            series_colour(i)
        };
        let label = if runs.len() == 1 {
            "success rate".to_string()
        } else {
            run.label().to_string()
        };
        chart.curves.push(Curve {
            label,
            colour,
            points: axis.ratio(&successes, &ended, 100.0),
            envelope,
            dashed: false,
            rings: vec![],
            ring_px: 0,
            run: (runs.len() > 1).then_some(i),
        });
        if runs.len() == 1 {
            chart.shades = shades(run, &axis);
        }
    }
    chart.references = expected_lines(runs);
    chart.y = YAxis::Linear {
        low: 0.0,
        high: 102.0,
    };
    chart
}

/// The success-rate chart's expectation lines: one green line when every run expects the
/// same (one run, or policies compared against one target), drawn once; else one per run
/// that has an expectation, in the run's colour.
fn expected_lines(runs: &[RunData]) -> Vec<(String, f64, RGBColor)> {
    let limits: Vec<Option<f64>> = runs
        .iter()
        .map(|r| {
            r.summary
                .expectation("min_success_rate")
                .map(|e| e.limit * 100.0)
        })
        .collect();
    match limits[..] {
        [Some(first), ..] if limits.iter().all(|l| *l == Some(first)) => {
            vec![(format!("expected >= {}%", tick(first)), first, GREEN)]
        }
        _ => runs
            .iter()
            .zip(&limits)
            .enumerate()
            .filter_map(|(i, (run, l))| {
                l.map(|l| (format!("{}: expected", run.label()), l, series_colour(i)))
            })
            .collect(),
    }
}

/// One point of a percentile line: the buckets it stands for, its value (None where no
/// request succeeded) and the successful requests behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct PercentilePoint {
    pub buckets: Range<usize>,
    pub value_ms: Option<f64>,
    pub samples: u64,
}

/// The points of the latency chart's line for `column` (e.g. `latency_p99_ms`, the run's
/// `quantile` 0.99 per bucket): buckets widened until each point stands on enough
/// successful requests (see `percentile`), and a point with no value over each gap.
pub fn percentile_points(run: &RunData, column: &str, quantile: f64) -> Vec<PercentilePoint> {
    let samples: Vec<u64> = run
        .series
        .values("successes")
        .iter()
        .map(|n| *n as u64)
        .collect();
    let values = run.series.column(column);
    percentile::groups(&samples, percentile::min_samples(quantile))
        .into_iter()
        .map(|g| {
            let weighted: Vec<(f64, u64)> = g
                .buckets
                .clone()
                .filter_map(|i| values.get(i).map(|v| (v, samples[i])))
                .collect();
            PercentilePoint {
                value_ms: percentile::weighted_quantile(&weighted, quantile),
                buckets: g.buckets,
                samples: g.samples,
            }
        })
        .collect()
}

/// A percentile line as the chart draws it: the points binned like any line and, apart,
/// the points on too few requests (a whole stretch between gaps holds fewer than the
/// percentile needs), which no line joins. A binned line has none apart: each of its points
/// is a mean over many groups.
fn percentile_line(
    axis: &Axis,
    line: &[PercentilePoint],
    quantile: f64,
) -> (Vec<Point>, Vec<Band>, Vec<Point>) {
    let groups: Vec<Range<usize>> = line.iter().map(|p| p.buckets.clone()).collect();
    let (mut points, envelope) = axis.binned(&groups, |i| line[i].value_ms);
    let mut rings = Vec::new();
    if points.len() == line.len() {
        let needed = percentile::min_samples(quantile);
        for (point, p) in points.iter_mut().zip(line) {
            if (1..needed).contains(&p.samples) {
                rings.push(*point);
                point.1 = f64::NAN;
            }
        }
    }
    (points, envelope, rings)
}

fn latency(runs: &[RunData], out: &Path) -> TimeChart {
    let mut chart = TimeChart::new(
        runs,
        out.join("latency.png"),
        "end-to-end latency of successful requests",
        "latency (log scale)",
        milliseconds,
    );
    let unit = chart.unit;
    let (mut low, mut high) = (f64::INFINITY, 0.0f64);
    for (i, run) in runs.iter().enumerate() {
        let axis = Axis::of(run, unit);
        let wanted: &[(&str, f64, &str, RGBColor, bool)] = if runs.len() == 1 {
            &[
                ("latency_p50_ms", 0.50, "p50", GREEN, false),
                ("latency_p95_ms", 0.95, "p95", ORANGE, false),
                ("latency_p99_ms", 0.99, "p99", VERMILLION, false),
            ]
        } else {
            &[
                ("latency_p50_ms", 0.50, "p50", BLACK, true),
                ("latency_p99_ms", 0.99, "p99", BLACK, false),
            ]
        };
        for (k, &(column, quantile, name, colour, dashed)) in wanted.iter().enumerate() {
            let line = percentile_points(run, column, quantile);
            let (points, envelope, rings) = percentile_line(&axis, &line, quantile);
            for &(_, y) in points.iter().chain(&rings).filter(|(_, y)| y.is_finite()) {
                low = low.min(y);
                high = high.max(y);
            }
            for &(_, l, h) in &envelope {
                low = low.min(l);
                high = high.max(h);
            }
            let (colour, label) = if runs.len() == 1 {
                (colour, name.to_string())
            } else {
                (series_colour(i), format!("{}: {name}", run.label()))
            };
            chart.curves.push(Curve {
                label,
                colour,
                points,
                envelope,
                dashed,
                rings,
                // p50 4 px, p95 9 px, p99 14 px: rings of equal values nest, apart.
                ring_px: 4 + 5 * k as i32,
                run: (runs.len() > 1).then_some(i),
            });
        }
        if runs.len() == 1 {
            chart.shades = shades(run, &axis);
        }
    }
    if !low.is_finite() {
        (low, high) = (1.0, 1000.0);
    }
    chart.y = YAxis::Log {
        low: (low / 1.5).max(0.001),
        high: (high * 1.5).max(low * 10.0),
    };
    chart
}

fn load(runs: &[RunData], out: &Path) -> TimeChart {
    let mut chart = TimeChart::new(
        runs,
        out.join("load.png"),
        "load: offered requests vs attempts sent",
        "per second",
        plain,
    );
    let unit = chart.unit;
    let mut high = 0.0f64;
    for (i, run) in runs.iter().enumerate() {
        let axis = Axis::of(run, unit);
        let offered = axis.per_second(&run.series.values("arrivals"));
        let attempts = axis.per_second(&run.series.values("attempts"));
        high = offered
            .iter()
            .chain(&attempts)
            .map(|p| p.1)
            .fold(high, f64::max);
        if runs.len() == 1 {
            chart.curves.push(Curve {
                label: "offered requests".into(),
                colour: BLACK,
                points: offered,
                envelope: vec![],
                dashed: false,
                rings: vec![],
                ring_px: 0,
                run: None,
            });
            chart.curves.push(Curve {
                label: "attempts sent (retries included)".into(),
                colour: BLUE,
                points: attempts,
                envelope: vec![],
                dashed: false,
                rings: vec![],
                ring_px: 0,
                run: None,
            });
            for (column, label, colour) in [
                ("rate_limited", "429 rate limited", SKY_BLUE),
                ("timeouts", "timeouts", ORANGE),
                ("server_errors", "5xx", PURPLE),
            ] {
                chart.stacks.push(Stack {
                    label: label.into(),
                    colour,
                    values: axis.per_second(&run.series.values(column)),
                });
            }
            chart.shades = shades(run, &axis);
        } else {
            let colour = series_colour(i);
            chart.curves.push(Curve {
                label: format!("{}: offered", run.label()),
                colour,
                points: offered,
                envelope: vec![],
                dashed: true,
                rings: vec![],
                ring_px: 0,
                run: (runs.len() > 1).then_some(i),
            });
            chart.curves.push(Curve {
                label: format!("{}: attempts", run.label()),
                colour,
                points: attempts,
                envelope: vec![],
                dashed: false,
                rings: vec![],
                ring_px: 0,
                run: (runs.len() > 1).then_some(i),
            });
        }
    }
    chart.references = capacity_lines(runs);
    high = chart.references.iter().map(|r| r.1).fold(high, f64::max);
    chart.y = YAxis::Linear {
        low: 0.0,
        high: (high * 1.1).max(1.0),
    };
    chart
}

/// The providers' estimated capacity in requests per second (`slots` over the mean
/// service time, from the summary), summed over the providers that declare `slots`; None
/// when none does.
fn capacity_per_s(run: &RunData) -> Option<f64> {
    let capacity: f64 = run
        .summary
        .providers
        .iter()
        .filter_map(|p| p.capacity_per_s)
        .sum();
    (capacity > 0.0).then_some(capacity)
}

/// The load chart's capacity lines: one black line when every run has the same capacity
/// (one run, or policies compared in one world), else one per run in the run's colour.
fn capacity_lines(runs: &[RunData]) -> Vec<(String, f64, RGBColor)> {
    let capacities: Vec<Option<f64>> = runs.iter().map(capacity_per_s).collect();
    match capacities[..] {
        [Some(first), ..] if capacities.iter().all(|c| *c == Some(first)) => {
            vec![("provider capacity (est.)".into(), first, BLACK)]
        }
        _ => runs
            .iter()
            .zip(&capacities)
            .enumerate()
            .filter_map(|(i, (run, c))| {
                c.map(|c| {
                    (
                        format!("{}: capacity (est.)", run.label()),
                        c,
                        series_colour(i),
                    )
                })
            })
            .collect(),
    }
}

/// A line whose peak stays under this share of a linear axis's height is flat on its floor
/// (30 px of 600), its changes invisible.
const FLAT_SHARE: f64 = 0.05;

/// How far below the smallest line's peak a log axis reaches: its values down to a
/// twentieth of its peak stay readable; lower ones (and $0) lie on the floor.
const LOG_DEPTH: f64 = 20.0;

/// The credits chart's vertical axis for `runs`: linear from $0 while every line (each
/// account's balance, each run's cumulative cost) reaches 5 % of its height, else
/// logarithmic from a twentieth of the smallest line's peak.
///
/// Balances of very different sizes are the case that matters: a $0.10 primary account
/// running dry next to a $20 fallback is flat on the floor of a $0-$22 axis. A log axis
/// shows both on one set of axes, so balances and cost still compare at a glance and
/// overlays work unchanged; one panel per account was the alternative, but it gives each
/// balance its own scale and multiplies panels in an overlay. A linear axis is kept
/// whenever it shows every line, because it reads depletion best: a steady spend is a
/// straight line to $0.
pub fn credits_axis(runs: &[RunData]) -> YAxis {
    let peaks_usd = credit_peaks_usd(runs);
    let high = peaks_usd.iter().copied().fold(0.0, f64::max);
    let top = (high * 1.1).max(0.01);
    let smallest = peaks_usd
        .iter()
        .copied()
        .filter(|p| *p > 0.0)
        .fold(f64::INFINITY, f64::min);
    if smallest < FLAT_SHARE * top {
        YAxis::Log {
            low: smallest / LOG_DEPTH,
            high: high * 1.5,
        }
    } else {
        YAxis::Linear {
            low: 0.0,
            high: top,
        }
    }
}

/// The highest value of each line of the credits chart: every account's balance and every
/// run's cumulative cost.
fn credit_peaks_usd(runs: &[RunData]) -> Vec<f64> {
    let mut peaks = Vec::new();
    for run in runs {
        for p in credit_accounts(run) {
            let balances = run
                .series
                .column(&data::provider_column(&p.name, "credits_usd"));
            peaks.push(balances.present().fold(0.0, f64::max));
        }
        peaks.push(run.series.values("cost_usd").iter().sum());
    }
    peaks
}

/// The providers of `run` that hold credits.
fn credit_accounts(run: &RunData) -> impl Iterator<Item = &data::ProviderView> {
    run.summary
        .providers
        .iter()
        .filter(|p| p.credits_remaining_usd.is_some())
}

fn credits(runs: &[RunData], out: &Path) -> TimeChart {
    let mut chart = TimeChart::new(
        runs,
        out.join("credits.png"),
        "credits remaining and cumulative cost",
        "US dollars",
        dollars,
    );
    let unit = chart.unit;
    let mut colour_index = 0;
    for (r, run) in runs.iter().enumerate() {
        let axis = Axis::of(run, unit);
        let prefix = if runs.len() == 1 {
            String::new()
        } else {
            format!("{}: ", run.label())
        };
        for p in credit_accounts(run) {
            let (points, envelope) = axis.line(
                run.series
                    .column(&data::provider_column(&p.name, "credits_usd")),
                |v| v,
            );
            let colour = series_colour(colour_index);
            colour_index += 1;
            chart.curves.push(Curve {
                label: format!("{prefix}{} credits", p.name),
                colour,
                points,
                envelope,
                dashed: false,
                rings: vec![],
                ring_px: 0,
                run: (runs.len() > 1).then_some(r),
            });
            if let Some(at) = p.first_low_credit_alert_s {
                let label = format!("{prefix}{}: first low-credit alert", p.name);
                chart.markers.push((label, at / unit.seconds, ORANGE));
            }
            if let Some(at) = p.first_insufficient_credits_s {
                chart.markers.push((
                    format!("{prefix}{}: first 402", p.name),
                    at / unit.seconds,
                    colour,
                ));
            }
        }
        let cost = run.series.values("cost_usd");
        let mut total = 0.0;
        let cumulative: Vec<(f64, f64)> = axis
            .bins()
            .map(|bin| {
                total += cost[bin.clone()].iter().sum::<f64>();
                (axis.x(axis.ends[bin.end - 1]), total)
            })
            .collect();
        chart.curves.push(Curve {
            label: format!("{prefix}cumulative cost"),
            colour: BLACK,
            points: cumulative,
            envelope: vec![],
            dashed: true,
            rings: vec![],
            ring_px: 0,
            run: (runs.len() > 1).then_some(r),
        });
    }
    chart.y = credits_axis(runs);
    if let YAxis::Log { low, .. } = chart.y {
        chart.y_desc = "US dollars (log scale; $0 on the floor)".into();
        // Nothing falls below the floor: a balance at $0 lies on it.
        for curve in &mut chart.curves {
            for point in curve.points.iter_mut().filter(|p| p.1.is_finite()) {
                point.1 = point.1.max(low);
            }
        }
    }
    chart
}

fn latency_cdf(runs: &[RunData], out: &Path) -> ChartResult<PathBuf> {
    let path = out.join("latency_cdf.png");
    let all: Vec<f64> = runs
        .iter()
        .flat_map(|r| {
            r.summary
                .latency_cdf_ms
                .succeeded
                .iter()
                .chain(&r.summary.latency_cdf_ms.failed)
                .map(|p| p[0])
        })
        .filter(|v| *v > 0.0)
        .collect();
    let low = all.iter().copied().fold(f64::INFINITY, f64::min);
    let high = all.iter().copied().fold(0.0, f64::max);
    let (low, high) = if low.is_finite() {
        (low / 1.5, (high * 1.5).max(low * 10.0))
    } else {
        (1.0, 1000.0)
    };
    let title = match runs {
        [run] => format!(
            "{}: latency distribution by outcome (seed {})",
            run.label(),
            run.summary.seed
        ),
        _ => format!("latency distribution: {} runs compared", runs.len()),
    };
    draw_png(&path, |root| {
        let (main, panel) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&main)
            .caption(
                &title,
                (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold),
            )
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(Log125::new(low, high), 0.0..100.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("end-to-end latency (log scale)")
            .y_desc("requests at or below (%)")
            .x_label_formatter(&|x| ms_tick(*x))
            .y_label_formatter(&|y| format!("{}%", tick(*y)))
            .label_style((FONT, TICK_SIZE).into_font())
            .axis_desc_style((FONT, LABEL_SIZE).into_font())
            .light_line_style(LIGHT_GRID)
            .bold_line_style(BOLD_GRID)
            .draw()
            .map_err(err)?;
        let mut entries = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            let cdf = &run.summary.latency_cdf_ms;
            for (points, outcome, dashed, single_colour) in [
                (&cdf.succeeded, "succeeded", false, BLUE),
                (&cdf.failed, "failed", true, VERMILLION),
            ] {
                if points.is_empty() {
                    continue;
                }
                let colour = if runs.len() == 1 {
                    single_colour
                } else {
                    series_colour(i)
                };
                let line: Vec<(f64, f64)> = points
                    .iter()
                    .map(|p| (p[0].max(low), 100.0 * p[1]))
                    .collect();
                // As a time chart's curve: one run's dashed or solid; in an overlay the
                // run's dash pattern, failures thin.
                let curve_stroke = Curve {
                    label: String::new(),
                    colour,
                    points: vec![],
                    envelope: vec![],
                    dashed,
                    run: (runs.len() > 1).then_some(i),
                    rings: vec![],
                    ring_px: 0,
                };
                let (dash, width) = curve_stroke.stroke();
                draw_line(&mut chart, line, dash, colour.stroke_width(width))?;
                let (label, mark) = if runs.len() == 1 {
                    (
                        outcome.to_string(),
                        if dashed {
                            LegendMark::Dashed
                        } else {
                            LegendMark::Line
                        },
                    )
                } else {
                    (
                        format!("{}: {outcome}", run.label()),
                        LegendMark::Stroke(dash, width),
                    )
                };
                entries.push((label, colour, mark));
            }
        }
        legend_entries(&panel, &entries)
    })?;
    Ok(path)
}

/// An experiment's overview: success rate and p99 per scenario against their expectations,
/// with each scenario's verdict.
pub fn render_overview(runs: &[RunData], path: &Path) -> ChartResult<()> {
    let n = runs.len();
    let title =
        format!("{n} scenarios: success rate and p99 latency (black lines: expected limits)");
    draw_png(path, |root| {
        let (top, bottom) = root.split_vertically(HEIGHT / 2 + 20);
        let names: Vec<String> = runs.iter().map(|r| r.label().to_string()).collect();
        let label = |x: &f64| {
            let i = (*x + 0.5).floor();
            if i >= 0.0 && (i as usize) < n && (x - i).abs() < 1e-9 {
                names[i as usize].clone()
            } else {
                String::new()
            }
        };
        let mut rate = ChartBuilder::on(&top)
            .caption(
                &title,
                (FONT, TITLE_SIZE - 4).into_font().style(FontStyle::Bold),
            )
            .margin(14)
            .x_label_area_size(30)
            .y_label_area_size(84)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..110.0)
            .map_err(err)?;
        rate.configure_mesh()
            .disable_x_mesh()
            .light_line_style(LIGHT_GRID)
            .bold_line_style(BOLD_GRID)
            .x_labels(n.max(2) * 2 + 1)
            .x_label_formatter(&label)
            .y_desc("success rate (%)")
            .y_label_formatter(&|y| format!("{}%", tick(*y)))
            .label_style((FONT, TICK_SIZE).into_font())
            .axis_desc_style((FONT, LABEL_SIZE).into_font())
            .draw()
            .map_err(err)?;
        let verdict_font = (FONT, LEGEND_SIZE).into_font().style(FontStyle::Bold);
        for (i, run) in runs.iter().enumerate() {
            let x = i as f64;
            let s = &run.summary;
            let colour = if s.expectations.is_empty() {
                BLUE
            } else if s.passed {
                GREEN
            } else {
                VERMILLION
            };
            rate.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.3, 0.0), (x + 0.3, 100.0 * s.success_rate)],
                colour.mix(0.75).filled(),
            )))
            .map_err(err)?;
            if let Some(e) = s.expectation("min_success_rate") {
                rate.draw_series(std::iter::once(PathElement::new(
                    vec![(x - 0.38, 100.0 * e.limit), (x + 0.38, 100.0 * e.limit)],
                    BLACK.stroke_width(3),
                )))
                .map_err(err)?;
            }
            let verdict = crate::report::verdict(!s.expectations.is_empty(), s.passed);
            let text = format!("{:.1}% {verdict}", 100.0 * s.success_rate);
            rate.draw_series(std::iter::once(Text::new(
                text,
                (x - 0.28, 108.0),
                verdict_font.clone().color(&colour),
            )))
            .map_err(err)?;
        }
        let p99s: Vec<f64> = runs
            .iter()
            .map(|r| r.summary.latency_ms.as_ref().map_or(0.0, |l| l.p99))
            .collect();
        let limits: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.summary.expectation("max_latency_p99_ms").map(|e| e.limit))
            .collect();
        let high = p99s.iter().chain(&limits).copied().fold(1.0, f64::max) * 1.15;
        let mut p99 = ChartBuilder::on(&bottom)
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(84)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..high)
            .map_err(err)?;
        p99.configure_mesh()
            .disable_x_mesh()
            .light_line_style(LIGHT_GRID)
            .bold_line_style(BOLD_GRID)
            .x_labels(n.max(2) * 2 + 1)
            .x_label_formatter(&label)
            .y_desc("p99 latency")
            .y_label_formatter(&|y| ms_tick(*y))
            .label_style((FONT, TICK_SIZE).into_font())
            .axis_desc_style((FONT, LABEL_SIZE).into_font())
            .draw()
            .map_err(err)?;
        for (i, run) in runs.iter().enumerate() {
            let x = i as f64;
            p99.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.3, 0.0), (x + 0.3, p99s[i])],
                BLUE.mix(0.6).filled(),
            )))
            .map_err(err)?;
            if let Some(e) = run.summary.expectation("max_latency_p99_ms") {
                p99.draw_series(std::iter::once(PathElement::new(
                    vec![(x - 0.38, e.limit), (x + 0.38, e.limit)],
                    BLACK.stroke_width(3),
                )))
                .map_err(err)?;
            }
        }
        Ok(())
    })
}

/// The directory name a run gets inside an overlay or experiment output.
pub fn run_dir_name(run: &RunData) -> String {
    slug(run.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_ticks_below_a_cent_keep_their_digits() {
        let labels: Vec<String> = [0.0, 0.003, 0.0005, 0.03, 0.25, 20.0]
            .iter()
            .map(dollars)
            .collect();
        assert_eq!(labels, ["$0", "$0.003", "$0.0005", "$0.03", "$0.25", "$20"]);
    }
}
