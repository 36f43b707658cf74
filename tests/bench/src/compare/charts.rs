//! The comparison's charts, as SVG files the book shows as images.
//!
//! An SVG shown with `<img>` cannot follow the page's theme, so the charts
//! are drawn for both: a transparent background, mid-grey text and axes
//! (readable on white and on mdBook's dark themes), and series colours of
//! middling lightness.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::markdown::thousands;
use super::results::Results;
use super::{CONNECTION_COUNTS, closed_key, reference_key};
use crate::report::{RunReport, micros};

/// Every chart: file name (in `book/src/images/`) and alt text.
pub const FILES: [(&str, &str); 5] = [
    (
        "bench-throughput-64B.svg",
        "Messages per second against connections, 64-byte messages, one line per server",
    ),
    (
        "bench-throughput-4KiB.svg",
        "Messages per second against connections, 4 KiB messages, one line per server",
    ),
    (
        "bench-latency-p99.svg",
        "99th-percentile latency against connections, 64-byte messages, one line per server",
    ),
    (
        "bench-cpu-per-message.svg",
        "Server CPU time per message at 100 connections, one bar per server",
    ),
    (
        "bench-idle-rss.svg",
        "Server resident memory holding the idle connections, one bar per server",
    ),
];

const INK: RGBColor = RGBColor(0x88, 0x88, 0x88);
const PALETTE: [RGBColor; 7] = [
    RGBColor(0x3b, 0x8f, 0xd9), // blue
    RGBColor(0xe8, 0x86, 0x2a), // orange
    RGBColor(0x3a, 0xa6, 0x55), // green
    RGBColor(0xd9, 0x53, 0x4f), // red
    RGBColor(0x9b, 0x6b, 0xd3), // purple
    RGBColor(0x1f, 0xa5, 0xa5), // teal
    RGBColor(0xc2, 0x7b, 0xa0), // pink
];
const SIZE: (u32, u32) = (760, 440);

/// One server's line: its palette index, name, and points (connections,
/// median, lowest run, highest run).
type Series = (usize, String, Vec<(f64, f64, f64, f64)>);

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&INK)
}

/// Each chart's file name and SVG text.
pub fn render(results: &Results) -> Result<Vec<(&'static str, String)>> {
    let mut charts = Vec::new();
    let rate = |r: &RunReport| Some(r.msgs_per_sec);
    charts.push((
        FILES[0].0,
        lines(
            results,
            "Messages per second, 64 B messages (closed loop)",
            64,
            rate,
            false,
            thousands,
        )?,
    ));
    charts.push((
        FILES[1].0,
        lines(
            results,
            "Messages per second, 4 KiB messages (closed loop)",
            4096,
            rate,
            false,
            thousands,
        )?,
    ));
    charts.push((
        FILES[2].0,
        lines(
            results,
            "p99 latency, 64 B messages (closed loop, log scale)",
            64,
            |r| Some(r.latency_us.p99),
            true,
            micros,
        )?,
    ));
    let key = reference_key();
    let cpu: Vec<(String, Option<f64>)> = results
        .servers
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.median(&key, |r| r.server.map(|c| c.cpu_us_per_msg)),
            )
        })
        .collect();
    charts.push((
        FILES[3].0,
        bars(
            &cpu,
            "Server CPU time per message, 100 connections, 64 B (µs)",
            |v| format!("{v:.2} µs"),
        )?,
    ));
    let rss: Vec<(String, Option<f64>)> = results
        .servers
        .iter()
        .map(|s| {
            let mib = s
                .idle
                .as_ref()
                .map(|i| i.with_connections.rss_kib as f64 / 1024.0);
            (s.name.clone(), mib)
        })
        .collect();
    charts.push((
        FILES[4].0,
        bars(
            &rss,
            &format!(
                "Server RSS holding {} idle connections (MiB)",
                thousands(results.settings.idle_connections as f64)
            ),
            |v| format!("{v:.1} MiB"),
        )?,
    ));
    Ok(charts)
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot draw a chart: {e}")
}

/// One line per server across the connection counts: the median, and a
/// vertical bar from the lowest to the highest run.
fn lines(
    results: &Results,
    title: &str,
    size: usize,
    metric: impl Fn(&RunReport) -> Option<f64> + Copy,
    log_y: bool,
    label: fn(f64) -> String,
) -> Result<String> {
    // (server index, name, points: (connections, median, min, max))
    let mut series = Vec::new();
    for (i, server) in results.servers.iter().enumerate() {
        let points: Vec<(f64, f64, f64, f64)> = CONNECTION_COUNTS
            .iter()
            .filter_map(|&c| {
                let key = closed_key(c, size);
                if server.had_errors(&key) {
                    return None;
                }
                let s = server.spread(&key, metric)?;
                Some((c as f64, s.median, s.min, s.max))
            })
            .collect();
        if !points.is_empty() {
            series.push((i, server.name.clone(), points));
        }
    }
    let highest = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|p| p.3))
        .fold(0.0, f64::max)
        .max(1.0);
    let lowest = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|p| p.2))
        .fold(f64::MAX, f64::min)
        .min(highest);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let x = (0.7f64..1500.0).log_scale();
        if log_y {
            let y = ((lowest / 2.0).max(1.0)..highest * 2.0).log_scale();
            let chart = frame(&root, title, x, y, label)?;
            draw_lines(chart, &series)?;
        } else {
            let chart = frame(&root, title, x, 0.0..highest * 1.1, label)?;
            draw_lines(chart, &series)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

type Chart<'a, X, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>;

fn frame<'a, X, Y>(
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    title: &str,
    x: impl AsRangedCoord<CoordDescType = X, Value = f64>,
    y: impl AsRangedCoord<CoordDescType = Y, Value = f64>,
    label: fn(f64) -> String,
) -> Result<Chart<'a, X, Y>>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(title, font(18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(86)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("connections")
        .x_label_formatter(&|v| thousands(*v))
        .y_label_formatter(&|v| label(*v))
        .label_style(font(13))
        .axis_desc_style(font(14))
        .axis_style(INK)
        .bold_line_style(INK.mix(0.25))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(plot_error)?;
    Ok(chart)
}

fn draw_lines<X, Y>(mut chart: Chart<'_, X, Y>, series: &[Series]) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, name, points) in series {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
            )
            .map_err(plot_error)?;
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.2 < p.3)
                    .map(|p| PathElement::new(vec![(p.0, p.2), (p.0, p.3)], color.stroke_width(1))),
            )
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(font(13))
        .border_style(INK.mix(0.5))
        .background_style(INK.mix(0.08))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// One horizontal bar per server, its value written at its end.
fn bars(values: &[(String, Option<f64>)], title: &str, label: fn(f64) -> String) -> Result<String> {
    let highest = values
        .iter()
        .filter_map(|v| v.1)
        .fold(0.0, f64::max)
        .max(1e-9);
    let n = values.len().max(1);
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (SIZE.0, 80 + 44 * n as u32)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, font(18))
            .margin(14)
            .x_label_area_size(30)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..highest * 1.3, (0..n).into_segmented())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            // Segment 0 is at the bottom; the first server goes on top,
            // as in the tables.
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(j) if *j < n => values[n - 1 - j].0.clone(),
                _ => String::new(),
            })
            .x_label_formatter(&|v| label(*v))
            .label_style(font(13))
            .axis_style(INK)
            .bold_line_style(INK.mix(0.25))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(plot_error)?;
        for (i, (_, value)) in values.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let row = n - 1 - i;
            let Some(value) = *value else {
                chart
                    .draw_series(std::iter::once(Text::new(
                        "no result",
                        (0.0, SegmentValue::CenterOf(row)),
                        font(13),
                    )))
                    .map_err(plot_error)?;
                continue;
            };
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row)),
                    (value, SegmentValue::Exact(row + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(6, 6, 0, 0);
            chart
                .draw_series(std::iter::once(bar))
                .map_err(plot_error)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("  {}", label(value)),
                    (value, SegmentValue::CenterOf(row)),
                    font(13),
                )))
                .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}
