//! `ixy-latency --plot FILE.svg`: the latency CCDF on log axes, like ixy's
//! tail-latency figure: for each latency x, the fraction of packets slower
//! than x, so the tail (p99.9, p99.99) is as readable as the median.

use crate::histogram::Latencies;
use plotters::prelude::*;
use std::path::Path;

/// The CCDF points of `l`: (latency ns, fraction of packets with a higher
/// latency), one per recorded bucket, the last (the maximum) left out as
/// its fraction is 0, which a log axis cannot show.
pub fn ccdf(l: &Latencies) -> Vec<(f64, f64)> {
    let buckets = l.buckets();
    let total: u64 = buckets.iter().map(|&(_, c)| c).sum();
    let mut above = total;
    let mut out = Vec::with_capacity(buckets.len());
    for (v, c) in buckets {
        above -= c;
        if above > 0 && v > 0 {
            out.push((v as f64, above as f64 / total as f64));
        }
    }
    out
}

/// Draws the CCDF of `l` to the SVG file `path`, titled `caption`.
pub fn ccdf_svg(l: &Latencies, path: &Path, caption: &str) -> Result<(), String> {
    let points = ccdf(l);
    if points.is_empty() {
        return Err("too few latencies for a CCDF (it needs two distinct values)".into());
    }
    let logs: Vec<(f64, f64)> = points
        .iter()
        .map(|&(x, y)| (x.log10(), y.log10()))
        .collect();
    let x_lo = logs.iter().map(|p| p.0).fold(f64::MAX, f64::min).floor();
    let x_hi = logs
        .iter()
        .map(|p| p.0)
        .fold(f64::MIN, f64::max)
        .ceil()
        .max(x_lo + 1.0);
    let y_lo = logs
        .iter()
        .map(|p| p.1)
        .fold(0.0, f64::min)
        .floor()
        .min(-1.0);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_lo..x_hi, y_lo..0.0)
        .map_err(err)?;
    let ns = |x: &f64| {
        let v = 10f64.powf(*x);
        match v {
            v if v >= 1e9 => format!("{:.0} s", v / 1e9),
            v if v >= 1e6 => format!("{:.0} ms", v / 1e6),
            v if v >= 1e3 => format!("{:.0} µs", v / 1e3),
            v => format!("{v:.0} ns"),
        }
    };
    let share = |y: &f64| format!("{}", 10f64.powf(*y));
    chart
        .configure_mesh()
        .x_desc("latency")
        .y_desc("fraction of packets slower")
        .x_labels((x_hi - x_lo) as usize + 1)
        .y_labels((-y_lo) as usize + 1)
        .x_label_formatter(&ns)
        .y_label_formatter(&share)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(logs, &BLUE))
        .map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ccdf_falls_from_one_by_the_share_of_each_value() {
        let l = Latencies::from_values(&[100, 100, 200, 300]);
        assert_eq!(ccdf(&l), vec![(100.0, 0.5), (200.0, 0.25)]);
        let path = std::env::temp_dir().join(format!("ixy-ccdf-{}.svg", std::process::id()));
        ccdf_svg(&l, &path, "test").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
        std::fs::remove_file(&path).unwrap();
        assert!(ccdf_svg(&Latencies::from_values(&[5]), &path, "one").is_err());
    }
}
