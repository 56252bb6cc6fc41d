//! The bench's figures as SVG line charts, drawn with `plotters`' SVG
//! backend: text is SVG `<text>` the viewer renders, so no font file and
//! no system library is needed.
//!
//! Both axes are logarithmic: the sizes go from ten to fifty thousand, and
//! a figure's lines (the project's next to a baseline several times bigger
//! or smaller) stay readable side by side.

use std::path::Path;

use plotters::prelude::*;

/// One server's values over the sizes.
#[derive(Debug, Clone)]
pub struct Line {
    /// The legend.
    pub label: String,
    /// (size, value) points; a size the run skipped is left out, and so is a
    /// value of zero.
    pub points: Vec<(f64, f64)>,
}

/// One chart of a figure.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Its caption.
    pub title: String,
    /// What the x axis counts.
    pub x_label: String,
    /// The value and its unit.
    pub y_label: String,
    /// The servers compared.
    pub lines: Vec<Line>,
}

/// The same colour for a server in every chart.
const COLOURS: [RGBColor; 4] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// Writes `panels` side by side into one SVG file at `path`.
pub fn write_svg(path: &Path, caption: &str, panels: &[Panel]) -> Result<(), String> {
    let width = 520 * u32::try_from(panels.len().max(1)).unwrap_or(1);
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let root = root.titled(caption, ("sans-serif", 18))?;
        for (area, panel) in root
            .split_evenly((1, panels.len().max(1)))
            .iter()
            .zip(panels)
        {
            draw_panel(area, panel)?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("{}: {e}", path.display()))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let points = || panel.lines.iter().flat_map(|l| l.points.iter().copied());
    let (x_min, x_max) = bounds(points().map(|(x, _)| x));
    let (y_min, y_max) = bounds(points().map(|(_, y)| y));
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x_min / 1.5..x_max * 1.5).log_scale(),
            (y_min / 2.0..y_max * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&|x| figure(*x))
        .y_label_formatter(&|y| figure(*y))
        .draw()?;
    for (line, colour) in panel.lines.iter().zip(COLOURS.iter().cycle()) {
        let colour = *colour;
        // A logarithmic axis has no place for zero.
        let points: Vec<(f64, f64)> = line.points.iter().copied().filter(|p| p.1 > 0.0).collect();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(
            points
                .iter()
                .map(|&point| Circle::new(point, 3, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

/// The smallest and largest of some positive values (1 and 10 if none).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if low > high {
        (1.0, 10.0)
    } else {
        (low, high)
    }
}

/// An axis label: 50000 as 50k, 0.25 as 0.25.
fn figure(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
