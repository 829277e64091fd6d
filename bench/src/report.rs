//! Tables printed and written as CSV, medians, and the machine a figure
//! was taken on.

use std::fmt::Write as _;
use std::path::Path;

/// A table with a title, printed aligned and written as CSV.
#[derive(Debug, Clone)]
pub struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table.
    pub fn new(title: &str, header: &[&str]) -> Table {
        Table {
            title: title.into(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as the header).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rows so far.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The table as aligned text (a Markdown table).
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let width = |c: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .map(|r| r.get(c).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..cols).map(width).collect();
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (c, w) in widths.iter().enumerate() {
                let cell = cells.get(c).map_or("", String::as_str);
                let _ = write!(s, " {cell:>w$} |");
            }
            s
        };
        let mut out = format!("\n{}\n\n{}\n|", self.title, line(&self.header));
        for w in &widths {
            let _ = write!(out, "{}:|", "-".repeat(w + 1));
        }
        for r in &self.rows {
            out.push('\n');
            out.push_str(&line(r));
        }
        out.push('\n');
        out
    }

    /// Prints the table.
    pub fn print(&self) {
        println!("{}", self.render());
    }

    /// Writes the table as CSV.
    pub fn write_csv(&self, path: &Path) -> Result<(), String> {
        let mut s = self.header.join(",");
        for r in &self.rows {
            s.push('\n');
            s.push_str(&r.join(","));
        }
        s.push('\n');
        std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The median of sorted values (None when empty).
pub fn median(sorted: &[f64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// A number with `digits` decimals, `-` for none.
pub fn fixed(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// A row label for `n` workers, marked when they share cores with each
/// other or with the simulator and the load generator.
pub fn workers_label(n: usize, oversubscribed: bool) -> String {
    if oversubscribed {
        format!("{n} (oversubscribed)")
    } else {
        n.to_string()
    }
}

/// One line naming the machine: CPU model, cores, TSC frequency.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hz = driver::tsc::hz(std::time::Duration::from_millis(50));
    format!(
        "machine: {cpu}, {cores} cores, TSC {:.3} GHz",
        hz as f64 / 1e9
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_tables() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), Some(3.0));
        let mut t = Table::new("t", &["a", "bb"]);
        t.row(vec!["1".into(), "22".into()]);
        assert!(t.render().contains("| a | bb |\n|"));
        assert!(t.render().ends_with("| 1 | 22 |\n"));
        assert_eq!(fixed(None, 1), "-");
        assert_eq!(fixed(Some(1.25), 1), "1.2");
    }
}
