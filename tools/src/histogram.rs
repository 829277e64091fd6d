//! Latency histograms and their renderings (docs/DESIGN.md 9): the summary
//! (count, lost, min, mean, percentiles, max), a text bar chart that fits
//! 80 columns, MoonGen's `value,count` CSV and JSON.
//!
//! Everything here is pure: it works on an HDR histogram
//! ([`hdrhistogram::Histogram`], 3 significant digits, so values up to
//! 2048 ns are exact and larger ones within 0.1 %) built by
//! [`Latencies::record`] or [`Latencies::from_values`].

use crate::json::{json_number, json_string};
use hdrhistogram::Histogram;
use std::fmt::Write;

/// Significant decimal digits kept by the histogram.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Width the text output is made to fit.
pub const COLUMNS: usize = 80;
/// Rows of the bar chart (at most; fewer when the range is narrow).
pub const BAR_ROWS: usize = 20;

/// Recorded latencies in ns.
#[derive(Debug, Clone)]
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty, auto-resizing histogram.
    pub fn new() -> Self {
        // 3 significant digits is always a valid precision (1 to 5 are).
        let hist = Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits are valid");
        Latencies { hist }
    }

    /// A histogram of `values`.
    pub fn from_values(values: &[u64]) -> Self {
        let mut l = Latencies::new();
        for &v in values {
            l.record(v);
        }
        l
    }

    /// Records one value (ns), growing the histogram as needed.
    pub fn record(&mut self, ns: u64) {
        if self.hist.record(ns).is_err() {
            // Only values beyond what a usize can index: keep the count.
            self.hist.saturating_record(ns);
        }
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The underlying HDR histogram.
    pub fn hdr(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// The value at `percentile` (0-100), the highest value equivalent to
    /// it at the histogram's precision; `None` when empty.
    pub fn percentile(&self, percentile: f64) -> Option<u64> {
        (!self.hist.is_empty()).then(|| self.hist.value_at_percentile(percentile))
    }

    /// `(value, count)` for every distinct recorded bucket in ascending
    /// order; the counts add up to [`Latencies::count`].
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.hist
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// The summary; `lost` is carried along (probes that never came back).
    pub fn summary(&self, lost: u64) -> Summary {
        let h = &self.hist;
        let nonempty = !h.is_empty();
        let at = |p: f64| nonempty.then(|| h.value_at_percentile(p));
        Summary {
            count: h.len(),
            lost,
            min: nonempty.then(|| h.min()),
            mean: nonempty.then(|| h.mean()),
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            p99_9: at(99.9),
            p99_99: at(99.99),
            max: nonempty.then(|| h.max()),
        }
    }
}

/// What `ixy-latency` reports about a histogram; `None` when it is empty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Probes lost (not in the histogram).
    pub lost: u64,
    /// Smallest value.
    pub min: Option<u64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<u64>,
    /// 90th percentile.
    pub p90: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
    /// 99.9th percentile.
    pub p99_9: Option<u64>,
    /// 99.99th percentile.
    pub p99_99: Option<u64>,
    /// Largest value.
    pub max: Option<u64>,
}

impl Summary {
    /// `(label, JSON key, value)` of the order statistics, in output order.
    fn stats(&self) -> [(&'static str, &'static str, Option<u64>); 7] {
        [
            ("min", "min_ns", self.min),
            ("p50", "p50_ns", self.p50),
            ("p90", "p90_ns", self.p90),
            ("p99", "p99_ns", self.p99),
            ("p99.9", "p99_9_ns", self.p99_9),
            ("p99.99", "p99_99_ns", self.p99_99),
            ("max", "max_ns", self.max),
        ]
    }
}

/// The summary as text lines: count, lost, min, mean, p50, p90, p99,
/// p99.9, p99.99, max (ns; `-` when nothing was recorded).
pub fn summary_text(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<8}{:>12}", "count", s.count);
    let _ = writeln!(out, "{:<8}{:>12}", "lost", s.lost);
    let num = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let stats = s.stats();
    let (min, rest) = stats.split_first().expect("seven statistics");
    let _ = writeln!(out, "{:<8}{:>12} ns", min.0, num(min.2));
    let mean = s
        .mean
        .map_or_else(|| "-".to_string(), |m| format!("{m:.1}"));
    let _ = writeln!(out, "{:<8}{:>12} ns", "mean", mean);
    for (label, _, v) in rest {
        let _ = writeln!(out, "{label:<8}{:>12} ns", num(*v));
    }
    out
}

/// The summary as JSON object members (no braces): `"count":..,"lost":..,
/// "min_ns":..,"mean_ns":..,"p50_ns":.., ..,"max_ns":..` (`null` when
/// nothing was recorded).
pub fn summary_json_fields(s: &Summary) -> String {
    let mut out = format!("\"count\":{},\"lost\":{}", s.count, s.lost);
    let num = |v: Option<u64>| v.map_or_else(|| "null".to_string(), |v| v.to_string());
    let stats = s.stats();
    let _ = write!(out, ",\"min_ns\":{}", num(stats[0].2));
    let _ = write!(out, ",\"mean_ns\":{}", json_number(s.mean));
    for (_, key, v) in &stats[1..] {
        let _ = write!(out, ",\"{key}\":{}", num(*v));
    }
    out
}

/// One JSON object: the summary and `"histogram":[[value,count],...]`,
/// plus `extra` members (`(key, already encoded JSON value)`) first.
pub fn json(l: &Latencies, lost: u64, extra: &[(&str, String)]) -> String {
    let mut out = String::from("{");
    for (k, v) in extra {
        let _ = write!(out, "{}:{v},", json_string(k));
    }
    out.push_str(&summary_json_fields(&l.summary(lost)));
    out.push_str(",\"histogram\":[");
    for (i, (v, c)) in l.buckets().iter().enumerate() {
        let _ = write!(out, "{}[{v},{c}]", if i > 0 { "," } else { "" });
    }
    out.push_str("]}");
    out
}

/// MoonGen's histogram CSV: one `value,count` row per distinct recorded
/// bucket (value in ns, ascending), no header.
pub fn csv(l: &Latencies) -> String {
    let mut out = String::new();
    for (v, c) in l.buckets() {
        let _ = writeln!(out, "{v},{c}");
    }
    out
}

/// Row edges of the bar chart: up to `rows` + 1 ascending edges from `min`
/// to `max` + 1 (each row is `[edge_i, edge_i+1)`), log-spaced when `max`
/// is more than 100 times `min` (a long tail), else linear; no row is
/// narrower than 1.
pub fn bar_edges(min: u64, max: u64, rows: usize) -> Vec<u64> {
    let (lo, hi) = (min, max.max(min) + 1);
    let rows = rows.max(1);
    let log = min > 0 && max / min > 100;
    let mut edges = vec![lo];
    for i in 1..rows {
        let f = i as f64 / rows as f64;
        let e = if log {
            (lo as f64 * (hi as f64 / lo as f64).powf(f)).round() as u64
        } else {
            lo + ((hi - lo) as f64 * f).round() as u64
        };
        if e > *edges.last().unwrap_or(&lo) && e < hi {
            edges.push(e);
        }
    }
    edges.push(hi);
    edges
}

/// A text bar chart of the distribution: a header, then about
/// [`BAR_ROWS`] rows between min and max (see [`bar_edges`]), each
/// `"  lo -   hi ns | count | ####"` with the longest bar filling the line;
/// a row with any values has at least one `#`. No line is longer than
/// `columns` (at least 40). Empty when nothing was recorded.
pub fn bar_chart(l: &Latencies, columns: usize) -> String {
    let h = l.hdr();
    if h.is_empty() {
        return String::new();
    }
    let (min, max) = (h.min(), h.max());
    let edges = bar_edges(min, max, BAR_ROWS);
    let mut counts = vec![0u64; edges.len() - 1];
    for (v, c) in l.buckets() {
        // Buckets hold the highest equivalent value; the smallest one may
        // lie below min's lowest equivalent only by rounding.
        let v = v.clamp(min, max);
        let row = edges.partition_point(|&e| e <= v).saturating_sub(1);
        let last = counts.len() - 1;
        counts[row.min(last)] += c;
    }
    let vw = (max + 1).to_string().len().max(2);
    let cw = counts
        .iter()
        .max()
        .map_or(1, |c| c.to_string().len())
        .max(5);
    let peak = counts.iter().copied().max().unwrap_or(1).max(1);
    // "lo - hi ns | count | " then the bar.
    let prefix = vw + 3 + vw + 3 + 3 + cw + 3;
    let bar_width = columns.max(40).saturating_sub(prefix).max(1);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>w$} | {:>cw$} |",
        "latency (ns)",
        "count",
        w = 2 * vw + 6
    );
    for (i, c) in counts.iter().enumerate() {
        let (lo, hi) = (edges[i], edges[i + 1] - 1);
        let len = if *c == 0 {
            0
        } else {
            ((*c as f64 / peak as f64 * bar_width as f64).round() as usize).clamp(1, bar_width)
        };
        let row = format!("{lo:>vw$} - {hi:>vw$} ns | {c:>cw$} | {}", "#".repeat(len));
        let _ = writeln!(out, "{}", row.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_to_hundred() -> Latencies {
        Latencies::from_values(&(1..=100).collect::<Vec<u64>>())
    }

    #[test]
    fn percentiles_of_one_to_hundred() {
        let s = one_to_hundred().summary(3);
        assert_eq!(s.count, 100);
        assert_eq!(s.lost, 3);
        assert_eq!(s.min, Some(1));
        assert_eq!(s.p50, Some(50));
        assert_eq!(s.p90, Some(90));
        assert_eq!(s.p99, Some(99));
        assert_eq!(s.p99_9, Some(100));
        assert_eq!(s.p99_99, Some(100));
        assert_eq!(s.max, Some(100));
        assert!((s.mean.unwrap() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn large_values_keep_three_digits() {
        let l = Latencies::from_values(&[1_000_000, 2_000_000, 3_000_000]);
        let s = l.summary(0);
        for (got, want) in [(s.min, 1_000_000), (s.p50, 2_000_000), (s.max, 3_000_000)] {
            let got = got.unwrap() as f64;
            assert!((got - want as f64).abs() / (want as f64) < 1e-3, "{got}");
        }
    }

    #[test]
    fn empty_histogram() {
        let l = Latencies::new();
        let s = l.summary(5);
        assert_eq!(
            (s.count, s.lost, s.min, s.max, s.mean),
            (0, 5, None, None, None)
        );
        assert!(bar_chart(&l, 80).is_empty());
        assert!(csv(&l).is_empty());
        let j = json(&l, 5, &[]);
        assert!(
            j.starts_with("{\"count\":0,\"lost\":5,\"min_ns\":null,\"mean_ns\":null,"),
            "{j}"
        );
        assert!(j.ends_with("\"max_ns\":null,\"histogram\":[]}"), "{j}");
        let t = summary_text(&s);
        assert!(t.contains("p99.99") && t.contains(" - ns"), "{t}");
    }

    #[test]
    fn csv_rows_sum_to_the_count() {
        let mut values: Vec<u64> = (1..=100).collect();
        values.extend([7, 7, 7, 5000, 5001, 123_456]);
        let l = Latencies::from_values(&values);
        let text = csv(&l);
        let mut total = 0;
        let mut last = 0;
        for line in text.lines() {
            let (v, c) = line.split_once(',').unwrap();
            let (v, c): (u64, u64) = (v.parse().unwrap(), c.parse().unwrap());
            assert!(v > last, "ascending values");
            last = v;
            total += c;
        }
        assert_eq!(total, values.len() as u64);
        assert!(text.starts_with("1,1\n2,1\n"), "{text}");
        assert!(text.contains("\n7,4\n"), "{text}");
    }

    #[test]
    fn bar_chart_fits_and_counts_everything() {
        for values in [
            (1..=100).collect::<Vec<u64>>(),
            vec![42],
            vec![10_000, 10_003],
            (0..1000).map(|i| 1000 + i * i * 7).collect(),
            vec![1, u64::from(u32::MAX)],
        ] {
            let l = Latencies::from_values(&values);
            let chart = bar_chart(&l, COLUMNS);
            let rows: Vec<&str> = chart.lines().skip(1).collect();
            assert!(!rows.is_empty() && rows.len() <= BAR_ROWS, "{chart}");
            let mut total = 0;
            for line in chart.lines() {
                assert!(line.chars().count() <= COLUMNS, "too wide: {line:?}");
            }
            for row in &rows {
                assert_eq!(row.trim_end(), *row, "no trailing blanks");
                let fields: Vec<&str> = row.split(" |").collect();
                assert_eq!(fields.len(), 3, "{row:?}");
                let c: u64 = fields[1].trim().parse().unwrap();
                let bar = fields[2].trim();
                assert_eq!(c == 0, bar.is_empty(), "{row:?}");
                total += c;
            }
            assert_eq!(total, values.len() as u64, "{chart}");
        }
        // 1..=100 linear: 20 rows of 5 values, equal bars.
        let chart = bar_chart(&one_to_hundred(), COLUMNS);
        let rows: Vec<&str> = chart.lines().skip(1).collect();
        assert_eq!(rows.len(), 20, "{chart}");
        assert!(rows[0].starts_with("  1 -   5 ns |     5 | #"), "{chart}");
        let widths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{chart}");
        assert!(widths[0] > 70, "the peak bar uses the width: {chart}");
    }

    #[test]
    fn edges_are_linear_or_log() {
        assert_eq!(bar_edges(1, 100, 20)[..4], [1, 6, 11, 16]);
        assert_eq!(*bar_edges(1, 100, 20).last().unwrap(), 101);
        assert_eq!(bar_edges(5, 7, 20), vec![5, 6, 7, 8]);
        assert_eq!(bar_edges(9, 9, 20), vec![9, 10]);
        let log = bar_edges(1000, 1_000_000, 20);
        assert_eq!(log.len(), 21);
        // Each row is about 1.41 times the previous one.
        let r = log[11] as f64 / log[10] as f64;
        assert!((r - 1000f64.powf(0.05)).abs() < 0.01, "{log:?}");
        for w in log.windows(2) {
            assert!(w[0] < w[1]);
        }
    }

    #[test]
    fn json_has_summary_extra_and_buckets() {
        let l = Latencies::from_values(&[10, 20, 20]);
        let j = json(&l, 1, &[("tx_device", json_string("sim:a/2"))]);
        assert_eq!(
            j,
            "{\"tx_device\":\"sim:a/2\",\"count\":3,\"lost\":1,\"min_ns\":10,\
             \"mean_ns\":16.666667,\"p50_ns\":20,\"p90_ns\":20,\"p99_ns\":20,\
             \"p99_9_ns\":20,\"p99_99_ns\":20,\"max_ns\":20,\
             \"histogram\":[[10,1],[20,2]]}"
        );
    }

    #[test]
    fn summary_text_order() {
        let t = summary_text(&one_to_hundred().summary(0));
        let labels: Vec<&str> = t
            .lines()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            labels,
            ["count", "lost", "min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"]
        );
        assert!(t.contains("mean            50.5 ns"), "{t}");
    }
}
