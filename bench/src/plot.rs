//! The SVG figures of `make bench`, drawn with plotters: cost per packet
//! against batch size (the shape of ixy's batch-size figure) and packet
//! rate per worker against the number of workers.

use plotters::prelude::*;
use std::path::Path;

/// One line of a figure: a name and its points.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
}

const COLORS: [RGBColor; 4] = [BLUE, RED, GREEN, MAGENTA];

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log2_x: bool,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let x_max = xs.fold(1.0_f64, f64::max);
    let y_max = ys.fold(1.0_f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(
            0.0..(if log2_x { x_max.log2() } else { x_max }) + 0.3,
            0.0..y_max,
        )
        .map_err(err)?;
    // One tick per power of two (log axis) or per whole number.
    let ticks = (if log2_x { x_max.log2() } else { x_max }).round() as usize + 1;
    let fmt_x = |x: &f64| {
        if log2_x {
            format!("{}", 2f64.powf(*x).round())
        } else {
            format!("{x:.0}")
        }
    };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(ticks)
        .x_label_formatter(&fmt_x)
        .draw()
        .map_err(err)?;
    for (s, color) in series.iter().zip(COLORS.iter().cycle()) {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|&(x, y)| (if log2_x { x.log2() } else { x }, y))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Cycles (left) and instructions (right) per packet against batch size.
pub fn cost(path: &Path, cycles: &[Series], instructions: &[Series]) -> Result<(), String> {
    let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(550);
    panel(
        &left,
        "TSC cycles per packet (median)",
        "batch size",
        "cycles/packet",
        cycles,
        true,
    )?;
    panel(
        &right,
        "Instructions per packet (callgrind)",
        "batch size",
        "instructions/packet",
        instructions,
        true,
    )?;
    root.present().map_err(|e| e.to_string())
}

/// Packet rate end to end (left) and the worker code's cycles per packet
/// (right) against the number of workers.
pub fn scaling(path: &Path, rates: &[Series], cycles: &[Series]) -> Result<(), String> {
    let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(550);
    panel(
        &left,
        "End to end: forwarding rate",
        "workers",
        "Mpps",
        rates,
        false,
    )?;
    panel(
        &right,
        "Worker code alone: cost per packet",
        "workers",
        "TSC cycles/packet",
        cycles,
        false,
    )?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series {
            name: name.into(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn figures_have_their_axes_series_and_whole_ticks() {
        let dir = std::env::temp_dir().join(format!("ixy-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fwd = series("fwd", &[(1.0, 700.0), (32.0, 92.0), (256.0, 73.0)]);
        let rx = series("rx", &[(1.0, 300.0), (256.0, 45.0)]);
        cost(&dir.join("cost.svg"), &[fwd], &[rx]).unwrap();
        let svg = std::fs::read_to_string(dir.join("cost.svg")).unwrap();
        for text in [
            "batch size",
            "instructions/packet",
            "fwd",
            "rx",
            "\n256\n",
            "\n32\n",
        ] {
            assert!(svg.contains(text), "{text:?} missing from the cost figure");
        }
        let per_worker = series("Mpps per worker", &[(1.0, 0.5), (2.0, 0.25), (4.0, 0.06)]);
        let cycles = series("cycles/pkt", &[(1.0, 30.0), (4.0, 31.0)]);
        scaling(&dir.join("scaling.svg"), &[per_worker], &[cycles]).unwrap();
        let svg = std::fs::read_to_string(dir.join("scaling.svg")).unwrap();
        assert!(svg.contains("Mpps per worker") && svg.contains("\n4\n"));
        // Whole workers only, on both panels: no tick label repeats.
        for n in 0..=4 {
            assert_eq!(svg.matches(&format!(">\n{n}\n<")).count(), 2, "tick {n}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
