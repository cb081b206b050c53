//! Small inline SVG charts. Each is decorative for assistive technology (`aria-hidden`): the
//! page shows the same numbers in a table next to it, and no chart tells things apart by colour
//! alone (bars carry their value, series their label, the graph its relation as text).

use std::fmt::Write;

/// Escapes text for SVG/HTML content and attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Daily values as a line, 120×24.
pub fn sparkline(values: &[i64]) -> String {
    let (w, h) = (120.0, 24.0);
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if values.len() > 1 {
        w / (values.len() - 1) as f64
    } else {
        w
    };
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 1.0 - (*v as f64 / max) * (h - 2.0)
            )
        })
        .collect();
    format!(
        r#"<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true" focusable="false"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>"#,
        points.join(" ")
    )
}

/// How much of a limit is used, as a half-ring with the percentage written in it.
pub fn gauge(used: f64, limit: f64) -> String {
    let ratio = if limit > 0.0 { used / limit } else { 0.0 };
    let shown = ratio.clamp(0.0, 1.0);
    // A half circle of radius 40 around (50, 50): from the left end, clockwise.
    let angle = std::f64::consts::PI * (1.0 - shown);
    let (x, y) = (50.0 + 40.0 * angle.cos(), 50.0 - 40.0 * angle.sin());
    let class = if ratio >= 1.0 {
        "over"
    } else if ratio >= 0.8 {
        "near"
    } else {
        "ok"
    };
    format!(
        r##"<svg class="gauge {class}" viewBox="0 0 100 60" width="120" height="72" aria-hidden="true" focusable="false"><path d="M10,50 A40,40 0 0 1 90,50" fill="none" stroke="#ddd" stroke-width="10"/><path d="M10,50 A40,40 0 0 1 {x:.1},{y:.1}" fill="none" stroke="currentColor" stroke-width="10"/><text x="50" y="48" text-anchor="middle" font-size="14">{:.0}%</text></svg>"##,
        ratio * 100.0
    )
}

/// One bar per label, value written at the end of each bar.
pub fn bars(rows: &[(String, f64)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1.0);
    let row_h = 22.0;
    let height = row_h * rows.len().max(1) as f64;
    let mut svg = format!(
        r#"<svg class="bars" viewBox="0 0 400 {height}" width="400" height="{height}" aria-hidden="true" focusable="false">"#
    );
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = i as f64 * row_h;
        let width = value / max * 200.0;
        let _ = write!(
            svg,
            r#"<text x="0" y="{:.1}" font-size="12">{}</text><rect x="140" y="{:.1}" width="{width:.1}" height="14" class="bar-{i}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            y + 14.0,
            esc(label),
            y + 3.0,
            145.0 + width,
            y + 14.0,
            format_number(*value)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Stacked columns over time: one column per period, one segment per series; the legend names
/// the series with a pattern letter so colour is not the only signal.
pub fn stacked_columns(periods: &[String], series: &[(String, Vec<f64>)]) -> String {
    let (w, h) = (560.0, 180.0);
    let n = periods.len().max(1) as f64;
    let col_w = (w - 40.0) / n;
    let totals: Vec<f64> = (0..periods.len())
        .map(|p| {
            series
                .iter()
                .map(|s| s.1.get(p).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max).max(1.0);
    let mut svg = format!(
        r#"<svg class="columns" viewBox="0 0 {w} {}" width="{w}" height="{}" aria-hidden="true" focusable="false">"#,
        h + 40.0,
        h + 40.0
    );
    for (p, period) in periods.iter().enumerate() {
        let x = 40.0 + p as f64 * col_w;
        let mut top = h;
        for (s, (_, values)) in series.iter().enumerate() {
            let value = values.get(p).copied().unwrap_or(0.0);
            let seg = value / max * (h - 10.0);
            top -= seg;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{seg:.1}" class="series-{s}"/>"#,
                x + 2.0,
                (col_w - 4.0).max(1.0)
            );
        }
        // Every label when they fit, else every third.
        if periods.len() <= 8 || p % 3 == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                x + col_w / 2.0,
                h + 14.0,
                esc(period)
            );
        }
    }
    for (s, (name, _)) in series.iter().enumerate() {
        let x = 40.0 + s as f64 * 100.0;
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" class="series-{s}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            h + 22.0,
            x + 14.0,
            h + 31.0,
            esc(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A customer linked to the one on the page.
pub struct Neighbour {
    pub id: String,
    pub name: String,
    /// What they share, in words.
    pub relation: String,
}

/// The customer in the middle, linked customers around it, each edge labelled.
pub fn link_graph(center: &str, neighbours: &[Neighbour]) -> String {
    let (w, h) = (520.0, 320.0);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let mut svg = format!(
        r#"<svg class="graph" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true" focusable="false">"#
    );
    let n = neighbours.len().max(1) as f64;
    for (i, neighbour) in neighbours.iter().enumerate() {
        let angle = std::f64::consts::TAU * i as f64 / n - std::f64::consts::FRAC_PI_2;
        let (x, y) = (cx + 190.0 * angle.cos(), cy + 120.0 * angle.sin());
        let _ = write!(
            svg,
            r##"<line x1="{cx}" y1="{cy}" x2="{x:.1}" y2="{y:.1}" stroke="currentColor" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text><a href="/console/customers/{}"><circle cx="{x:.1}" cy="{y:.1}" r="8"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text></a>"##,
            cx + (x - cx) * 0.62,
            cy + (y - cy) * 0.62 - 4.0,
            esc(&neighbour.relation),
            esc(&neighbour.id),
            y + 22.0,
            esc(&neighbour.name)
        );
    }
    let _ = write!(
        svg,
        r#"<circle cx="{cx}" cy="{cy}" r="12" class="center"/><text x="{cx}" y="{:.1}" font-size="12" font-weight="bold" text-anchor="middle">{}</text></svg>"#,
        cy + 28.0,
        esc(center)
    );
    svg
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_written() {
        let svg = bars(&[("<script>".into(), 3.0), ("b".into(), 1.5)]);
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert!(svg.contains(">3<") && svg.contains(">1.50<"));
        let graph = link_graph(
            "A & B",
            &[Neighbour {
                id: "cus_1".into(),
                name: "\"x\"".into(),
                relation: "same card".into(),
            }],
        );
        assert!(graph.contains("A &amp; B") && graph.contains("&quot;x&quot;"));
        assert!(graph.contains("same card"));
    }

    #[test]
    fn gauges_write_their_percentage() {
        assert!(gauge(50.0, 200.0).contains(">25%<"));
        assert!(gauge(300.0, 200.0).contains("class=\"gauge over\""));
        assert!(gauge(1.0, 0.0).contains(">0%<"));
    }
}
