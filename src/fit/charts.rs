//! `fit`'s charts, drawn with the conventions of `charts` (size, fonts, Okabe-Ito palette,
//! temporary names): observed against fitted time to first token as CDFs and as a Q-Q plot,
//! each provider's failure rate per bucket with the detected windows shaded, and the
//! arrivals per second.

use std::path::{Path, PathBuf};

use plotters::chart::ChartBuilder;
use plotters::element::Rectangle;
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::{Color, FontStyle, IntoFont, RGBColor};

use super::FitReport;
use crate::charts::style::*;
use crate::charts::{ChartResult, draw_png};

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws the four charts into `dir`; their paths.
pub fn render(report: &FitReport, dir: &Path) -> ChartResult<Vec<PathBuf>> {
    Ok(vec![
        latency_cdf(report, dir)?,
        qq(report, dir)?,
        errors(report, dir)?,
        arrivals(report, dir)?,
    ])
}

/// A line: its legend label, colour, whether dashed, and its points.
type Series = (String, RGBColor, bool, Vec<(f64, f64)>);

/// One line per series on linear axes, with a caption and axis names.
struct Lines<'a> {
    title: String,
    x_desc: &'a str,
    y_desc: &'a str,
    x: (f64, f64),
    y: (f64, f64),
    series: Vec<Series>,
    /// Shaded x ranges.
    shaded: Vec<(f64, f64)>,
}

fn draw_lines(path: &Path, l: Lines<'_>) -> ChartResult<PathBuf> {
    draw_png(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                &l.title,
                (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold),
            )
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(
                l.x.0..l.x.1.max(l.x.0 + 1e-9),
                l.y.0..l.y.1.max(l.y.0 + 1e-9),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(l.x_desc)
            .y_desc(l.y_desc)
            .label_style((FONT, TICK_SIZE).into_font())
            .axis_desc_style((FONT, LABEL_SIZE).into_font())
            .draw()
            .map_err(err)?;
        for (from, to) in &l.shaded {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(*from, l.y.0), (*to, l.y.1)],
                    GREY.mix(0.25).filled(),
                )))
                .map_err(err)?;
        }
        for (label, colour, dashed, points) in l.series {
            let style = colour.stroke_width(2);
            let drawn = if dashed {
                chart.draw_series(DashedLineSeries::new(points, 8, 5, style))
            } else {
                chart.draw_series(LineSeries::new(points, style))
            };
            drawn.map_err(err)?.label(label).legend(move |(x, y)| {
                plotters::element::PathElement::new(
                    vec![(x, y), (x + 24, y)],
                    colour.stroke_width(3),
                )
            });
        }
        chart
            .configure_series_labels()
            .label_font((FONT, LEGEND_SIZE).into_font())
            .background_style(plotters::style::WHITE.mix(0.9))
            .border_style(GREY)
            .draw()
            .map_err(err)?;
        Ok(())
    })?;
    Ok(path.to_path_buf())
}

fn latency_cdf(report: &FitReport, dir: &Path) -> ChartResult<PathBuf> {
    let mut series = Vec::new();
    let mut high: f64 = 0.0;
    for (i, t) in report.targets.iter().enumerate() {
        let sample = &t.ttft_sample;
        if sample.is_empty() {
            continue;
        }
        let top = sample[(sample.len() * 995 / 1000).min(sample.len() - 1)];
        high = high.max(top);
        let n = sample.len();
        let step = (n / 400).max(1);
        let observed: Vec<(f64, f64)> = (0..n)
            .step_by(step)
            .map(|k| (sample[k], 100.0 * (k + 1) as f64 / n as f64))
            .collect();
        let colour = series_colour(i);
        series.push((
            format!("{}/{} observed", t.provider, t.model),
            colour,
            false,
            observed,
        ));
        if let Some(best) = t.ttft_s.as_ref().and_then(|f| f.best) {
            let fitted = (0..=200)
                .map(|k| {
                    let x = top * k as f64 / 200.0;
                    (x, 100.0 * best.cdf(x))
                })
                .collect();
            series.push((
                format!("{}/{} fitted {}", t.provider, t.model, best.name()),
                colour,
                true,
                fitted,
            ));
        }
    }
    draw_lines(
        &dir.join("latency_cdf.png"),
        Lines {
            title: "time to first token: observed and fitted".into(),
            x_desc: "seconds",
            y_desc: "attempts at or below (%)",
            x: (0.0, high.max(1e-3)),
            y: (0.0, 100.0),
            series,
            shaded: vec![],
        },
    )
}

fn qq(report: &FitReport, dir: &Path) -> ChartResult<PathBuf> {
    let mut series = Vec::new();
    let mut high: f64 = 0.0;
    for (i, t) in report.targets.iter().enumerate() {
        let Some(best) = t.ttft_s.as_ref().and_then(|f| f.best) else {
            continue;
        };
        let sample = &t.ttft_sample;
        let points: Vec<(f64, f64)> = (1..100)
            .map(|k| {
                let p = k as f64 / 100.0;
                let observed = sample[((p * sample.len() as f64) as usize).min(sample.len() - 1)];
                (best.quantile(p), observed)
            })
            .collect();
        high = points.iter().fold(high, |h, (a, b)| h.max(*a).max(*b));
        series.push((
            format!("{}/{} ({})", t.provider, t.model, best.name()),
            series_colour(i),
            false,
            points,
        ));
    }
    series.push(("y = x".into(), GREY, true, vec![(0.0, 0.0), (high, high)]));
    draw_lines(
        &dir.join("qq.png"),
        Lines {
            title: "time to first token: Q-Q, percentiles 1 to 99".into(),
            x_desc: "fitted quantile (s)",
            y_desc: "observed quantile (s)",
            x: (0.0, high.max(1e-3)),
            y: (0.0, high.max(1e-3)),
            series,
            shaded: vec![],
        },
    )
}

fn minutes(report: &FitReport, bucket: usize) -> f64 {
    (bucket as u64 * report.bucket_ns) as f64 / 60e9
}

fn errors(report: &FitReport, dir: &Path) -> ChartResult<PathBuf> {
    let mut series = Vec::new();
    let mut shaded = Vec::new();
    for (i, p) in report.providers.iter().enumerate() {
        let points = p
            .series
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(b, (n, e))| (minutes(report, b), 100.0 * *e as f64 / *n as f64))
            .collect();
        series.push((
            format!("{} failures", p.name),
            series_colour(i),
            false,
            points,
        ));
        shaded.extend(
            p.windows
                .iter()
                .map(|w| (w.start_ns as f64 / 60e9, w.end_ns as f64 / 60e9)),
        );
    }
    draw_lines(
        &dir.join("errors.png"),
        Lines {
            title: "failure rate per bucket, detected windows shaded".into(),
            x_desc: "minutes from the start",
            y_desc: "server errors, connection failures, timeouts (%)",
            x: (0.0, report.duration_ns as f64 / 60e9),
            y: (0.0, 100.0),
            series,
            shaded,
        },
    )
}

fn arrivals(report: &FitReport, dir: &Path) -> ChartResult<PathBuf> {
    let bucket_s = report.bucket_ns as f64 / 1e9;
    let mut high: f64 = 0.0;
    let series = report
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let points: Vec<(f64, f64)> = t
                .arrivals
                .iter()
                .enumerate()
                .map(|(b, n)| (minutes(report, b), *n as f64 / bucket_s))
                .collect();
            high = points.iter().fold(high, |h, p| h.max(p.1));
            (
                format!("{}/{}", t.provider, t.model),
                series_colour(i),
                false,
                points,
            )
        })
        .collect();
    draw_lines(
        &dir.join("arrivals.png"),
        Lines {
            title: "arrivals (first attempts) per second".into(),
            x_desc: "minutes from the start",
            y_desc: "requests/s",
            x: (0.0, report.duration_ns as f64 / 60e9),
            y: (0.0, high * 1.1),
            series,
            shaded: vec![],
        },
    )
}
