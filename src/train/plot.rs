//! `hel train --plot FILE.svg`: test accuracy and training loss as training went, encrypted
//! against plaintext, drawn with plotters' SVG backend (no fonts, no bitmaps; the SVG names a
//! generic `sans-serif` font for the viewer).
//!
//! The plaintext reference is drawn after every iteration; the encrypted model after every
//! round, because the client only sees the weights it decrypts (a round's intermediate
//! iterates stay encrypted on the server). The legend says so; a single-circuit run has one
//! encrypted point besides the start.

use plotters::prelude::*;

use super::history::{History, Point};
use super::TrainError;

/// Width and height of the picture in pixels (two panels side by side).
pub const SIZE: (u32, u32) = (960, 400);

/// Legend of the plaintext series.
pub const PLAINTEXT_LABEL: &str = "plaintext reference (every iteration)";
/// Legend of the encrypted series.
pub const ENCRYPTED_LABEL: &str = "encrypted (every round, as decrypted)";

const PLAINTEXT_COLOR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const ENCRYPTED_COLOR: RGBColor = RGBColor(0xd6, 0x27, 0x28);

/// The SVG text of the two panels for `history`; `title` heads it (the data and program).
pub fn svg(history: &History, title: &str) -> Result<String, TrainError> {
    let mut out = String::new();
    draw(&mut out, history, title).map_err(|e| TrainError::Internal(format!("plot: {e}")))?;
    Ok(out)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(out: &mut String, h: &History, title: &str) -> DrawResult {
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 16))?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    // Accuracy rises and loss falls: each legend sits where its curves are not.
    let (lower, upper) = (
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::UpperRight,
    );
    panel(&left, h, "test accuracy", lower, |p| p.test_accuracy)?;
    panel(&right, h, "training loss", upper, |p| p.training_loss)?;
    root.present()?;
    Ok(())
}

/// One panel: `value` of both series against the iteration.
fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    h: &History,
    label: &str,
    legend: SeriesLabelPosition,
    value: impl Fn(&Point) -> f64,
) -> DrawResult {
    let last = h
        .plaintext
        .iter()
        .chain(&h.encrypted)
        .map(|p| p.iteration)
        .max()
        .unwrap_or(1)
        .max(1);
    let values: Vec<f64> = h
        .plaintext
        .iter()
        .chain(&h.encrypted)
        .map(&value)
        .filter(|v| v.is_finite())
        .collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        let pad = 0.05 * (hi - lo);
        (lo - pad, hi + pad)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (0.0, 1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..last as f64, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("iteration (minibatches trained on)")
        .y_desc(label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let xy = |pts: &[Point]| -> Vec<(f64, f64)> {
        pts.iter()
            .map(|p| (p.iteration as f64, value(p)))
            .filter(|(_, v)| v.is_finite())
            .collect()
    };
    let plain = xy(&h.plaintext);
    let enc = xy(&h.encrypted);
    chart
        .draw_series(LineSeries::new(plain, PLAINTEXT_COLOR.stroke_width(2)))?
        .label(PLAINTEXT_LABEL)
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PLAINTEXT_COLOR));
    chart.draw_series(LineSeries::new(
        enc.clone(),
        ENCRYPTED_COLOR.stroke_width(1),
    ))?;
    chart
        .draw_series(
            enc.iter()
                .map(|&(x, y)| Circle::new((x, y), 4, ENCRYPTED_COLOR.filled())),
        )?
        .label(ENCRYPTED_LABEL)
        .legend(|(x, y)| Circle::new((x + 10, y), 4, ENCRYPTED_COLOR.filled()));
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
