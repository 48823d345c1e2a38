//! `--plot equity.png`: the equity and drawdown curves of a backtest as a PNG, for terminals and
//! CI artefacts, drawn with `plotters`. Text is drawn with DejaVu Sans, embedded (its licence
//! beside it in `assets/fonts/`), so a machine without fonts draws the same picture.

use std::path::Path;
use std::sync::OnceLock;

use backtest::EquityCurve;
use market::format_utc_date;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::equity_with_drawdown;

/// The picture's size, pixels.
const SIZE: (u32, u32) = (1200, 700);
/// The font the picture's text is drawn with, under the name plotters knows it by.
const FONT: &str = "sans-serif";

/// Why a plot cannot be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {path}: {message}")]
pub struct PlotError {
    path: String,
    message: String,
}

/// Registers the embedded font once per process.
fn font_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../assets/fonts/DejaVuSans.ttf"),
        )
        .is_ok()
    })
}

/// Draws `equity` (above) and its drawdown from the running peak (below, in percent) into the
/// PNG file `path`, titled `title`; the time axis in UTC dates.
pub fn plot_equity(path: &Path, title: &str, equity: &EquityCurve) -> Result<(), PlotError> {
    let error = |message: String| PlotError {
        path: path.display().to_string(),
        message,
    };
    if !font_registered() {
        return Err(error("the embedded font cannot be read".to_owned()));
    }
    let points = equity_with_drawdown(equity);
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Err(error("the run has no candles to draw".to_owned()));
    };
    let (from, to) = (first.0, last.0.max(first.0 + 1));
    let top = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let deepest = points.iter().map(|p| p.2).fold(0.0, f64::max);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let draw = |result: Result<(), String>| result.map_err(error);
    draw(root.fill(&WHITE).map_err(|e| e.to_string()))?;
    let root = root
        .titled(title, (FONT, 22).into_font())
        .map_err(|e| error(e.to_string()))?;
    let (upper, lower) = root.split_vertically(SIZE.1 * 62 / 100);
    let date = |ms: &i64| format_utc_date(*ms);

    let mut equity_chart = ChartBuilder::on(&upper)
        .margin(12)
        .margin_right(48)
        .x_label_area_size(28)
        .y_label_area_size(90)
        .caption("Equity", (FONT, 16))
        .build_cartesian_2d(from..to, 0.0..top * 1.05)
        .map_err(|e| error(e.to_string()))?;
    equity_chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&date)
        .y_label_formatter(&|value| format!("{value:.0}"))
        .label_style((FONT, 13))
        .draw()
        .map_err(|e| error(e.to_string()))?;
    equity_chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.0, p.1)),
            RGBColor(15, 91, 216).stroke_width(2),
        ))
        .map_err(|e| error(e.to_string()))?;

    let mut drawdown_chart = ChartBuilder::on(&lower)
        .margin(12)
        .margin_right(48)
        .x_label_area_size(28)
        .y_label_area_size(90)
        .caption(
            format!("Drawdown from the peak (deepest {:.2} %)", deepest * 100.0),
            (FONT, 16),
        )
        .build_cartesian_2d(from..to, -(deepest * 100.0).max(1.0) * 1.05..0.0)
        .map_err(|e| error(e.to_string()))?;
    drawdown_chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&date)
        .y_label_formatter(&|value| format!("{value:.0} %"))
        .label_style((FONT, 13))
        .draw()
        .map_err(|e| error(e.to_string()))?;
    let red = RGBColor(180, 35, 24);
    drawdown_chart
        .draw_series(AreaSeries::new(
            points.iter().map(|p| (p.0, -p.2 * 100.0)),
            0.0,
            red.mix(0.3),
        ))
        .map_err(|e| error(e.to_string()))?;
    root.present().map_err(|e| error(e.to_string()))
}
