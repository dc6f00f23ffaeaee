//! The chart: one panel per workload and block size, each contender's median as a ratio
//! to the best pool peer's (log scale; 1 = the best pool peer, lower is better).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::contenders::Kind;
use crate::report::{Summary, SIZES};
use crate::workloads;
use crate::{Config, NAMES};

fn colour(kind: Kind) -> RGBColor {
    match kind {
        Kind::Subject => RGBColor(214, 39, 40),
        Kind::SubjectVariant => RGBColor(240, 150, 150),
        Kind::Cached => RGBColor(140, 20, 20),
        Kind::Local => RGBColor(255, 120, 40),
        Kind::Reference => RGBColor(44, 160, 44),
        Kind::PoolPeer => RGBColor(31, 119, 180),
        Kind::Allocator => RGBColor(150, 150, 150),
        Kind::Floor => RGBColor(0, 0, 0),
    }
}

pub fn draw(cfg: &Config, summary: &Summary) -> Result<(), String> {
    let path = cfg.out.join("chart.svg");
    let rows = workloads::ALL.len();
    let (w, h) = (1300u32, 260 * rows as u32 + 90);
    let root = SVGBackend::new(&path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (title, body) = root.split_vertically(90);
    let machine = crate::report::machine();
    let find = |k: &str| {
        machine
            .iter()
            .find(|(a, _)| a == k)
            .map_or("", |(_, b)| b.as_str())
            .to_string()
    };
    let rustc = find("rustc -vV");
    let rustc = rustc.split(';').next().unwrap_or("").to_string();
    title
        .draw(&Text::new(
            "blockpool vs peers: time per operation / best pool peer's (log scale, lower is better)",
            (20, 10),
            ("sans-serif", 22).into_font().style(FontStyle::Bold),
        ))
        .map_err(|e| e.to_string())?;
    let sub = format!(
        "{} | {} | load avg {} | {}{} | median of clean repetitions, whiskers = IQR",
        find("date"),
        find("cpu"),
        cfg.load_at_start,
        rustc,
        if cfg.quick {
            " | --quick run: NOT a measurement"
        } else {
            ""
        }
    );
    title
        .draw(&Text::new(sub, (20, 42), ("sans-serif", 14)))
        .map_err(|e| e.to_string())?;
    let legend = [
        (Kind::Subject, "blockpool (pool! singleton)"),
        (Kind::SubjectVariant, "blockpool (Pool instance)"),
        (Kind::Cached, "blockpool (thread cache)"),
        (Kind::Local, "blockpool (LocalCache)"),
        (
            Kind::Reference,
            "Treiber without ABA protection (reference)",
        ),
        (Kind::PoolPeer, "pool peers"),
        (Kind::Allocator, "general allocators (thread caches)"),
        (Kind::Floor, "no pool (W4's floor)"),
    ];
    let mut x = 20;
    for (k, label) in legend {
        title
            .draw(&Rectangle::new([(x, 66), (x + 14, 80)], colour(k).filled()))
            .map_err(|e| e.to_string())?;
        title
            .draw(&Text::new(label, (x + 20, 66), ("sans-serif", 14)))
            .map_err(|e| e.to_string())?;
        x += 30 + 8 * label.len() as i32;
    }

    let panels = body.split_evenly((rows, SIZES.len()));
    for (r, wl) in workloads::ALL.iter().enumerate() {
        for (c, &size) in SIZES.iter().enumerate() {
            panel(&panels[r * SIZES.len() + c], summary, *wl, size).map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

fn panel(
    area: &DrawingArea<SVGBackend, Shift>,
    summary: &Summary,
    wl: workloads::Workload,
    size: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let stats: Vec<_> = NAMES
        .iter()
        .filter_map(|n| summary.get(wl, size, n))
        .collect();
    let n = stats.len();
    let ok: Vec<_> = stats
        .iter()
        .filter(|s| s.error.is_none() && s.ratio_peer.is_finite())
        .collect();
    let lo = ok
        .iter()
        .map(|s| s.p25 / s.median * s.ratio_peer)
        .fold(1.0f64, f64::min)
        * 0.8;
    let hi = ok
        .iter()
        .map(|s| s.p75 / s.median * s.ratio_peer)
        .fold(1.0f64, f64::max)
        * 6.0;
    let caption = format!(
        "{} {} B: {} (ns/{})",
        wl.name(),
        size,
        wl.describe(),
        wl.unit()
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(6)
        .margin_right(16)
        .x_label_area_size(22)
        .y_label_area_size(150)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_label_formatter(&|v| format!("{v:.2}x"))
        .label_style(("sans-serif", 12))
        .draw()?;
    // Row i from the top.
    let y = |i: usize| (n - 1 - i) as f64;
    for (i, s) in stats.iter().enumerate() {
        let y0 = y(i);
        // The contender's name, left of the axis, in pixels of the panel.
        let (px, py) = chart.backend_coord(&(lo, y0 + 0.5));
        let (ox, oy) = area.get_base_pixel();
        area.draw(&Text::new(
            s.name.to_string(),
            (px - ox - 8, py - oy),
            TextStyle::from(("sans-serif", 12).into_font()).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Right,
                    plotters::style::text_anchor::VPos::Center,
                ),
            ),
        ))?;
        if s.error.is_some() || !s.ratio_peer.is_finite() {
            chart.draw_series(std::iter::once(Text::new(
                "failed",
                (lo * 1.05, y0 + 0.5),
                TextStyle::from(("sans-serif", 12).into_font()).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                ),
            )))?;
            continue;
        }
        let v = s.ratio_peer;
        let scale = v / s.median;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(lo, y0 + 0.15), (v, y0 + 0.85)],
            colour(s.kind).filled(),
        )))?;
        // IQR whisker.
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(s.p25 * scale, y0 + 0.5), (s.p75 * scale, y0 + 0.5)],
            BLACK.stroke_width(2),
        )))?;
        let label = format!(
            "{:.2}x  ({:.1} ns){}",
            v,
            s.median,
            if s.noisy { " noisy" } else { "" }
        );
        chart.draw_series(std::iter::once(Text::new(
            label,
            ((s.p75 * scale).max(v) * 1.04, y0 + 0.5),
            TextStyle::from(("sans-serif", 11).into_font()).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Left,
                    plotters::style::text_anchor::VPos::Center,
                ),
            ),
        )))?;
    }
    // The best pool peer.
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, 0.0), (1.0, n as f64)],
        BLACK.stroke_width(1),
    )))?;
    Ok(())
}
