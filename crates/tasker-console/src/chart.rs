//! Small horizontal bar charts drawn as SVG on the server (the system page's figures); each
//! bar carries its number as text, so the chart reads without colour.

use maud::{Markup, html};

/// A bar chart of `(label, value)` rows, with values printed by `show`.
pub(crate) fn bars(title: &str, rows: &[(String, f64)], show: impl Fn(f64) -> String) -> Markup {
    const ROW: i64 = 22;
    const LABEL: i64 = 220;
    const BAR: f64 = 320.0;
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let height = ROW * rows.len().max(1) as i64 + 8;
    html! {
        figure.chart {
            figcaption { (title) }
            @if rows.is_empty() {
                p.muted { "No data in the window." }
            } @else {
                svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
                    width=(LABEL + BAR as i64 + 90) height=(height) {
                    @for (i, (label, value)) in rows.iter().enumerate() {
                        @let y = 4 + i as i64 * ROW;
                        @let w = if max > 0.0 { (value / max * BAR).max(1.0) } else { 1.0 };
                        text x="0" y=(y + 15) { (label) }
                        rect.bar x=(LABEL) y=(y + 3) width=(format!("{w:.1}")) height="15" {}
                        text x=(LABEL as f64 + w + 6.0) y=(y + 15) { (show(*value)) }
                    }
                }
            }
        }
    }
}
