//! A sweep's charts, drawn from its ranking: the objective against one parameter (line, with
//! its 95 % band) or over two (heatmap), and success rate against cost (Pareto front).
//!
//! Each chart shows what keeps a reader from the wrong choice: the baseline (the scenario as
//! written) as a reference, every constraint's bound, points whose constraints are uncertain
//! or infeasible marked apart from feasible ones, the recommended point ringed, and on the
//! Pareto chart every point labelled with its id (the `#` of the console table and the `id`
//! of sweep.csv) and a colour scale that says which values it spans.

use std::path::{Path, PathBuf};

use plotters::backend::BitMapBackend;
use plotters::chart::ChartBuilder;
use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{Circle, Cross, EmptyElement, PathElement, Polygon, Rectangle, Text};
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::{Color, FontStyle, IntoFont, RGBColor, WHITE};

use super::style::*;
use super::{
    ChartResult, ENVELOPE_ALPHA, LegendMark, dollars, draw_png, err, legend_entries, percent,
};
use crate::selection::Feasibility;
use crate::sweep::{Constraint, RankedPoint, Ranking};

/// A parameter value on a chart axis: numbers and durations by value (seconds for
/// durations), anything else by its position among the values seen.
fn axis_values(values: &[serde_json::Value]) -> (Vec<f64>, Option<Vec<String>>) {
    let numeric: Option<Vec<f64>> = values
        .iter()
        .map(|v| match v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => crate::time::parse_duration(s)
                .ok()
                .map(crate::time::ns_to_secs),
            _ => None,
        })
        .collect();
    match numeric {
        Some(xs) => (xs, None),
        None => {
            let mut labels: Vec<String> = Vec::new();
            let xs = values
                .iter()
                .map(|v| {
                    let text = v.as_str().map_or_else(|| v.to_string(), String::from);
                    match labels.iter().position(|l| *l == text) {
                        Some(i) => i as f64,
                        None => {
                            labels.push(text);
                            (labels.len() - 1) as f64
                        }
                    }
                })
                .collect();
            (xs, Some(labels))
        }
    }
}

fn metric_of(metrics: &[(String, f64, Option<f64>)], name: &str) -> (f64, Option<f64>) {
    metrics
        .iter()
        .find(|(m, _, _)| *m == name)
        .map_or((f64::NAN, None), |(_, mean, half)| (*mean, *half))
}

/// A sweep's charts: the objective against one parameter with its 95 % band, or a heatmap
/// over two; and the Pareto front of success rate against cost (colour: p99 latency).
pub fn render_sweep(
    ranking: &Ranking,
    objective_metric: &str,
    constraints: &[Constraint],
    out: &Path,
) -> ChartResult<Vec<PathBuf>> {
    let points = &ranking.points;
    let mut written = Vec::new();
    let dims = points.first().map_or(0, |p| p.settings.len());
    if dims == 1 {
        written.push(sweep_line(ranking, objective_metric, constraints, out)?);
    } else if dims == 2 {
        written.push(sweep_heatmap(ranking, objective_metric, out)?);
    }
    written.push(sweep_pareto(ranking, out)?);
    Ok(written)
}

/// How a point is marked: filled (feasible), a ring (uncertain), a cross (infeasible).
fn mark_point(
    chart: &mut plotters::chart::ChartContext<
        '_,
        BitMapBackend<'_>,
        plotters::coord::cartesian::Cartesian2d<
            plotters::coord::types::RangedCoordf64,
            plotters::coord::types::RangedCoordf64,
        >,
    >,
    at: (f64, f64),
    feasibility: Feasibility,
    colour: RGBColor,
    recommended: bool,
) -> ChartResult<()> {
    match feasibility {
        Feasibility::Feasible => chart
            .draw_series(std::iter::once(Circle::new(at, 5, colour.filled())))
            .map_err(err)?,
        Feasibility::Uncertain => chart
            .draw_series(std::iter::once(Circle::new(at, 6, colour.stroke_width(2))))
            .map_err(err)?,
        Feasibility::Infeasible => chart
            .draw_series(std::iter::once(Cross::new(at, 6, GREY.stroke_width(2))))
            .map_err(err)?,
    };
    if recommended {
        chart
            .draw_series(std::iter::once(Circle::new(at, 11, GREEN.stroke_width(3))))
            .map_err(err)?;
    }
    Ok(())
}

/// The legend entries of the point marks in use.
fn mark_legend(points: &[RankedPoint], colour: RGBColor) -> Vec<(String, RGBColor, LegendMark)> {
    let mut entries = Vec::new();
    let any = |f: Feasibility| points.iter().any(|p| p.feasibility == f);
    if any(Feasibility::Uncertain) {
        entries.push((
            "uncertain: a bound inside its interval".into(),
            colour,
            LegendMark::Ring,
        ));
    }
    if any(Feasibility::Infeasible) {
        entries.push(("infeasible (x)".into(), GREY, LegendMark::Line));
    }
    if points.iter().any(|p| p.recommended) {
        entries.push(("recommended".into(), GREEN, LegendMark::Ring));
    }
    entries
}

/// One panel of the line chart: `metric` against the parameter, its band, the point marks
/// and horizontal references (label, y, colour).
struct Panel<'a> {
    metric: &'a str,
    /// (x, mean, half-width, feasibility, recommended), sorted by x.
    rows: Vec<(f64, f64, f64, Feasibility, bool)>,
    references: Vec<(String, f64, RGBColor)>,
}

impl Panel<'_> {
    fn draw(
        &self,
        area: &DrawingArea<BitMapBackend<'_>, Shift>,
        caption: Option<&str>,
        x_desc: &str,
        x_label: &dyn Fn(&f64) -> String,
    ) -> ChartResult<()> {
        let rows = &self.rows;
        let (x0, x1) = (rows[0].0, rows[rows.len() - 1].0);
        let (low, high) = rows
            .iter()
            .map(|r| (r.1 - r.2, r.1 + r.2))
            .chain(self.references.iter().map(|r| (r.1, r.1)))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), (a, b)| {
                (l.min(a), h.max(b))
            });
        let pad = ((high - low) * 0.1).max(1e-9);
        let span = (x1 - x0).max(1e-9);
        let mut builder = ChartBuilder::on(area);
        if let Some(caption) = caption {
            builder.caption(
                caption,
                (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold),
            );
        }
        let mut chart = builder
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(90)
            .build_cartesian_2d(
                (x0 - span * 0.05)..(x1 + span * 0.05),
                (low - pad)..(high + pad),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(self.metric)
            .x_label_formatter(x_label)
            .y_label_formatter(&|y| tick(*y))
            .label_style((FONT, TICK_SIZE).into_font())
            .axis_desc_style((FONT, LABEL_SIZE).into_font())
            .light_line_style(LIGHT_GRID)
            .bold_line_style(BOLD_GRID)
            .draw()
            .map_err(err)?;
        let (left, right) = (x0 - span * 0.05, x1 + span * 0.05);
        for (_, y, colour) in &self.references {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(left, *y), (right, *y)],
                    10,
                    6,
                    colour.stroke_width(2),
                ))
                .map_err(err)?;
        }
        let band: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.0, r.1 + r.2))
            .chain(rows.iter().rev().map(|r| (r.0, r.1 - r.2)))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                BLUE.mix(ENVELOPE_ALPHA).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                rows.iter().map(|r| (r.0, r.1)),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?;
        for r in rows {
            mark_point(&mut chart, (r.0, r.1), r.3, BLUE, r.4)?;
        }
        Ok(())
    }
}

/// The bound of `c` as a reference line's label.
fn bound_label(c: &Constraint) -> String {
    format!(
        "bound {} {} {}",
        crate::compare::METRICS[c.metric].name,
        if c.at_most { "<=" } else { ">=" },
        tick(c.limit)
    )
}

fn sweep_line(
    ranking: &Ranking,
    metric: &str,
    constraints: &[Constraint],
    out: &Path,
) -> ChartResult<PathBuf> {
    let points = &ranking.points;
    let path = out.join("sweep_line.png");
    let name = points[0].settings[0].0.clone();
    let (xs, labels) = axis_values(
        &points
            .iter()
            .map(|p| p.settings[0].1.clone())
            .collect::<Vec<_>>(),
    );
    let panel = |panel_metric: &str| {
        let mut rows: Vec<(f64, f64, f64, Feasibility, bool)> = points
            .iter()
            .zip(&xs)
            .map(|(p, x)| {
                let (mean, half) = metric_of(&p.metrics, panel_metric);
                (*x, mean, half.unwrap_or(0.0), p.feasibility, p.recommended)
            })
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let baseline = metric_of(&ranking.baseline.metrics, panel_metric).0;
        let mut references = vec![(
            format!("baseline (as written): {}", tick(baseline)),
            baseline,
            BLACK,
        )];
        for c in constraints
            .iter()
            .filter(|c| crate::compare::METRICS[c.metric].name == panel_metric)
        {
            references.push((bound_label(c), c.limit, VERMILLION));
        }
        Panel {
            metric: crate::compare::METRICS
                .iter()
                .find(|m| m.name == panel_metric)
                .map_or("", |m| m.name),
            rows,
            references,
        }
    };
    let top = panel(metric);
    // A constraint on another metric gets a panel of its own beneath, with its bound.
    let lower = constraints
        .iter()
        .map(|c| crate::compare::METRICS[c.metric].name)
        .find(|m| *m != metric)
        .map(panel);
    let x_desc = if points[0].settings[0].1.is_string() && labels.is_none() {
        format!("{name} (s)")
    } else {
        name.clone()
    };
    let x_label = |x: &f64| match &labels {
        Some(l) => l
            .get(x.round() as usize)
            .filter(|_| (x - x.round()).abs() < 1e-9)
            .cloned()
            .unwrap_or_default(),
        None => tick(*x),
    };
    draw_png(&path, |root| {
        let (main, legend_panel) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let caption = format!("sweep: {metric} against {name}");
        match &lower {
            None => top.draw(&main, Some(&caption), &x_desc, &x_label)?,
            Some(lower) => {
                let (upper, bottom) = main.split_vertically(HEIGHT * 3 / 5);
                top.draw(&upper, Some(&caption), &x_desc, &x_label)?;
                lower.draw(&bottom, None, &x_desc, &x_label)?;
            }
        }
        let mut entries = vec![
            (metric.to_string(), BLUE, LegendMark::Line),
            (
                "95 % interval".into(),
                BLUE,
                LegendMark::Box(ENVELOPE_ALPHA * 2.0),
            ),
            (
                "baseline: the scenario as written".into(),
                BLACK,
                LegendMark::Dashed,
            ),
        ];
        if !constraints.is_empty() {
            entries.push(("constraint bound".into(), VERMILLION, LegendMark::Dashed));
        }
        entries.extend(mark_legend(points, BLUE));
        legend_entries(&legend_panel, &entries)
    })?;
    Ok(path)
}

/// From blue (low) to yellow (high), readable with colour-vision deficiencies (cividis-like).
fn ramp(f: f64) -> RGBColor {
    let f = f.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(lerp(0.0, 253.0), lerp(32.0, 231.0), lerp(81.0, 37.0))
}

fn sweep_heatmap(ranking: &Ranking, metric: &str, out: &Path) -> ChartResult<PathBuf> {
    let points = &ranking.points;
    let path = out.join("sweep_heatmap.png");
    let (name_x, name_y) = (
        points[0].settings[0].0.clone(),
        points[0].settings[1].0.clone(),
    );
    // Cells by position among the distinct values, so any spacing reads as a grid.
    // Distinct values in their natural order (numbers and durations by value).
    let distinct = |k: usize| {
        let values: Vec<serde_json::Value> =
            points.iter().map(|p| p.settings[k].1.clone()).collect();
        let (keys, _) = axis_values(&values);
        let mut pairs: Vec<(f64, String)> = Vec::new();
        for (key, v) in keys.iter().zip(&values) {
            let text = v.as_str().map_or_else(|| v.to_string(), String::from);
            if !pairs.iter().any(|(_, t)| *t == text) {
                pairs.push((*key, text));
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        pairs.into_iter().map(|(_, t)| t).collect::<Vec<String>>()
    };
    let (labels_x, labels_y) = (distinct(0), distinct(1));
    let position = |labels: &[String], v: &serde_json::Value| {
        let text = v.as_str().map_or_else(|| v.to_string(), String::from);
        labels.iter().position(|l| *l == text).unwrap_or(0) as f64
    };
    let cells: Vec<(f64, f64, f64)> = points
        .iter()
        .map(|p| {
            (
                position(&labels_x, &p.settings[0].1),
                position(&labels_y, &p.settings[1].1),
                metric_of(&p.metrics, metric).0,
            )
        })
        .collect();
    let (low, high) = cells
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), c| {
            (l.min(c.2), h.max(c.2))
        });
    let scale = |v: f64| {
        if high > low {
            (v - low) / (high - low)
        } else {
            0.5
        }
    };
    draw_png(&path, |root| {
        let (main, panel) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&main)
            .caption(
                format!("sweep: {metric}"),
                (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold),
            )
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(120)
            .build_cartesian_2d(
                -0.5..(labels_x.len() as f64 - 0.5),
                -0.5..(labels_y.len() as f64 - 0.5),
            )
            .map_err(err)?;
        let pick = |labels: &[String], v: f64| {
            if (v - v.round()).abs() < 1e-9 {
                labels.get(v.round() as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(labels_x.len() * 2 + 1)
            .y_labels(labels_y.len() * 2 + 1)
            .x_desc(&name_x)
            .y_desc(&name_y)
            .x_label_formatter(&|v| pick(&labels_x, *v))
            .y_label_formatter(&|v| pick(&labels_y, *v))
            .label_style((FONT, TICK_SIZE).into_font())
            .axis_desc_style((FONT, LABEL_SIZE).into_font())
            .draw()
            .map_err(err)?;
        chart
            .draw_series(cells.iter().map(|&(x, y, v)| {
                Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    ramp(scale(v)).filled(),
                )
            }))
            .map_err(err)?;
        let font = (FONT, LEGEND_SIZE).into_font();
        chart
            .draw_series(cells.iter().map(|&(x, y, v)| {
                let colour = if scale(v) > 0.6 { BLACK } else { WHITE };
                Text::new(tick(v), (x - 0.2, y + 0.05), font.clone().color(&colour))
            }))
            .map_err(err)?;
        // Cells whose constraints are not met for certain are crossed (infeasible) or
        // framed (uncertain); the recommended one is framed in green.
        for (p, &(x, y, _)) in points.iter().zip(&cells) {
            let frame = |colour: RGBColor, width: u32| {
                Rectangle::new(
                    [(x - 0.46, y - 0.46), (x + 0.46, y + 0.46)],
                    colour.stroke_width(width),
                )
            };
            match p.feasibility {
                Feasibility::Feasible => {}
                Feasibility::Uncertain => {
                    chart
                        .draw_series(std::iter::once(frame(GREY, 3)))
                        .map_err(err)?;
                }
                Feasibility::Infeasible => {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(x - 0.46, y - 0.46), (x + 0.46, y + 0.46)],
                            GREY.stroke_width(2),
                        )))
                        .map_err(err)?;
                }
            }
            if p.recommended {
                chart
                    .draw_series(std::iter::once(frame(GREEN, 4)))
                    .map_err(err)?;
            }
        }
        let mut entries = vec![
            (
                format!("high: {} (of the points)", tick(high)),
                ramp(1.0),
                LegendMark::Box(1.0),
            ),
            (
                format!("low: {} (of the points)", tick(low)),
                ramp(0.0),
                LegendMark::Box(1.0),
            ),
            (
                format!(
                    "baseline (as written): {}",
                    tick(metric_of(&ranking.baseline.metrics, metric).0)
                ),
                WHITE,
                LegendMark::Box(0.0),
            ),
        ];
        if points
            .iter()
            .any(|p| p.feasibility == Feasibility::Uncertain)
        {
            entries.push(("grey frame: uncertain".into(), GREY, LegendMark::Line));
        }
        if points
            .iter()
            .any(|p| p.feasibility == Feasibility::Infeasible)
        {
            entries.push(("struck through: infeasible".into(), GREY, LegendMark::Line));
        }
        if points.iter().any(|p| p.recommended) {
            entries.push(("green frame: recommended".into(), GREEN, LegendMark::Line));
        }
        legend_entries(&panel, &entries)
    })?;
    Ok(path)
}

fn sweep_pareto(ranking: &Ranking, out: &Path) -> ChartResult<PathBuf> {
    let points = &ranking.points;
    let path = out.join("sweep_pareto.png");
    let row = |metrics: &[(String, f64, Option<f64>)]| {
        (
            metric_of(metrics, "cost_usd").0,
            100.0 * metric_of(metrics, "success_rate").0,
            metric_of(metrics, "latency_p99_ms").0,
        )
    };
    let rows: Vec<(f64, f64, f64)> = points.iter().map(|p| row(&p.metrics)).collect();
    let baseline = row(&ranking.baseline.metrics);
    // On the front: no other point at least as cheap and as successful, and better in one.
    let front: Vec<(f64, f64)> = {
        let mut f: Vec<(f64, f64)> = rows
            .iter()
            .filter(|a| {
                !rows
                    .iter()
                    .any(|b| b.0 <= a.0 && b.1 >= a.1 && (b.0 < a.0 || b.1 > a.1))
            })
            .map(|a| (a.0, a.1))
            .collect();
        f.sort_by(|a, b| a.0.total_cmp(&b.0));
        f
    };
    let bounds = |k: usize, with_baseline: bool| {
        rows.iter()
            .chain(with_baseline.then_some(&baseline))
            .map(|r| [r.0, r.1, r.2][k])
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            })
    };
    // The colour scale spans the points' p99s (the baseline is drawn in black, apart).
    let ((c0, c1), (s0, s1), (p0, p1)) = (bounds(0, true), bounds(1, true), bounds(2, false));
    let pad = |a: f64, b: f64| ((b - a) * 0.08).max(1e-6);
    draw_png(&path, |root| {
        let (main, panel) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&main)
            .caption(
                "sweep: success rate against cost (colour: p99 latency)",
                (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold),
            )
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(
                (c0 - pad(c0, c1))..(c1 + pad(c0, c1)),
                (s0 - pad(s0, s1))..(s1 + pad(s0, s1)),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("cost (US dollars)")
            .y_desc("requests succeeded (%)")
            .x_label_formatter(&|x| dollars(x))
            .y_label_formatter(&|y| percent(y))
            .label_style((FONT, TICK_SIZE).into_font())
            .axis_desc_style((FONT, LABEL_SIZE).into_font())
            .light_line_style(LIGHT_GRID)
            .bold_line_style(BOLD_GRID)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                front.iter().copied(),
                VERMILLION.stroke_width(2),
            ))
            .map_err(err)?;
        let shade = |p: f64| if p1 > p0 { (p - p0) / (p1 - p0) } else { 0.5 };
        for (p, r) in points.iter().zip(&rows) {
            let colour = ramp(shade(r.2));
            match p.feasibility {
                Feasibility::Feasible => chart
                    .draw_series([
                        Circle::new((r.0, r.1), 6, colour.filled()),
                        Circle::new((r.0, r.1), 6, BLACK.stroke_width(1)),
                    ])
                    .map_err(err)?,
                Feasibility::Uncertain => chart
                    .draw_series(std::iter::once(Circle::new(
                        (r.0, r.1),
                        6,
                        colour.stroke_width(3),
                    )))
                    .map_err(err)?,
                Feasibility::Infeasible => chart
                    .draw_series(std::iter::once(Cross::new(
                        (r.0, r.1),
                        6,
                        colour.stroke_width(3),
                    )))
                    .map_err(err)?,
            };
            if p.recommended {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (r.0, r.1),
                        11,
                        GREEN.stroke_width(3),
                    )))
                    .map_err(err)?;
            }
        }
        // Every point's id beside it: the `#` of the console and the `id` of sweep.csv.
        let font = (FONT, TICK_SIZE).into_font().color(&BLACK);
        chart
            .draw_series(points.iter().zip(&rows).map(|(p, r)| {
                EmptyElement::at((r.0, r.1))
                    + Text::new(format!("#{}", p.id), (8, -18), font.clone())
            }))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((baseline.0, baseline.1))
                    + Rectangle::new([(-6, -6), (6, 6)], BLACK.filled())
                    + Text::new("baseline", (9, 4), font.clone()),
            ))
            .map_err(err)?;
        let mut entries = vec![
            ("Pareto front".into(), VERMILLION, LegendMark::Line),
            (
                "baseline (as written, black)".into(),
                BLACK,
                LegendMark::Box(1.0),
            ),
            (
                "colour: p99 of the points".into(),
                WHITE,
                LegendMark::Box(0.0),
            ),
        ];
        for (f, label) in [
            (1.0, format!("{} (highest)", ms_tick(p1))),
            (0.5, ms_tick(p0 + (p1 - p0) * 0.5)),
            (0.0, format!("{} (lowest)", ms_tick(p0))),
        ] {
            entries.push((label, ramp(f), LegendMark::Box(1.0)));
        }
        entries.extend(mark_legend(points, GREY));
        legend_entries(&panel, &entries)
    })?;
    Ok(path)
}
