//! Latency samples → a summary row, and a plain aligned table every scenario prints.

use std::time::Duration;

/// What one worker measured.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub latencies: Vec<Duration>,
    /// Calls answered with a JSON-RPC error (still timed, reported separately).
    pub errors: u64,
}

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }
}

/// Totals and percentiles over a run of `elapsed`.
#[derive(Debug, Clone)]
pub struct Summary {
    pub calls: u64,
    pub errors: u64,
    pub per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// What the daemon and its plugins spent during the run, when measured.
    pub cost: Option<Cost>,
}

/// CPU time and context switches of the daemon and of its plugins over one run.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub daemon: crate::procstat::ProcStat,
    pub plugins: crate::procstat::ProcStat,
}

impl std::ops::Sub for Cost {
    type Output = Cost;
    fn sub(self, o: Cost) -> Cost {
        Cost {
            daemon: self.daemon - o.daemon,
            plugins: self.plugins - o.plugins,
        }
    }
}

impl Cost {
    /// The process `pid` and its children so far.
    pub fn of(pid: u32) -> Cost {
        Cost {
            daemon: crate::procstat::ProcStat::of(pid),
            plugins: crate::procstat::ProcStat::of_children(pid),
        }
    }
}

impl Summary {
    pub fn new(mut s: Samples, elapsed: Duration) -> Self {
        s.latencies.sort_unstable();
        let calls = s.latencies.len() as u64;
        let pct = |p: f64| -> Duration {
            if s.latencies.is_empty() {
                return Duration::ZERO;
            }
            let idx = ((s.latencies.len() as f64 - 1.0) * p).round() as usize;
            s.latencies[idx.min(s.latencies.len() - 1)]
        };
        let secs = elapsed.as_secs_f64();
        Summary {
            calls,
            errors: s.errors,
            per_sec: if secs > 0.0 { calls as f64 / secs } else { 0.0 },
            p50: pct(0.50),
            p99: pct(0.99),
            cost: None,
        }
    }
}

/// `85us`, `1.20ms`, `2.5s`.
pub fn fmt_latency(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0}us")
    } else if us < 1e6 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// A left-aligned text table.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: vec![],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The standard latency table: scenario, connections, calls, errors, calls/s, p50,
    /// p99, then per call the daemon's CPU time and context switches and its plugins' CPU
    /// time (where measured: these hold whatever else loads the machine).
    pub fn latency() -> Self {
        Table::new(&[
            "scenario",
            "conns",
            "calls",
            "errors",
            "calls/s",
            "p50",
            "p99",
            "daemon cpu/call",
            "daemon switches/call",
            "plugins cpu/call",
        ])
    }

    pub fn latency_row(&mut self, scenario: &str, conns: usize, s: &Summary) {
        let mut cells = vec![
            scenario.to_string(),
            conns.to_string(),
            s.calls.to_string(),
            s.errors.to_string(),
            format!("{:.0}", s.per_sec),
            fmt_latency(s.p50),
            fmt_latency(s.p99),
        ];
        match s.cost {
            Some(c) => {
                let (cpu, switches) = c.daemon.per_call(s.calls);
                let (plugins, _) = c.plugins.per_call(s.calls);
                cells.extend([cpu, switches, plugins]);
            }
            None => cells.extend(["-".to_string(), "-".to_string(), "-".to_string()]),
        }
        self.row(cells);
    }

    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut width = vec![0; cols];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.len());
            }
        }
        let line = |r: &Vec<String>| {
            let cells: Vec<String> = (0..cols)
                .map(|i| {
                    format!(
                        "{:<w$}",
                        r.get(i).map(String::as_str).unwrap_or(""),
                        w = width[i]
                    )
                })
                .collect();
            cells.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(&self.header);
        out.push_str(&line(&width.iter().map(|w| "-".repeat(*w)).collect()));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rate() {
        let s = Samples {
            latencies: (1..=100).rev().map(Duration::from_micros).collect(),
            errors: 2,
        };
        let sum = Summary::new(s, Duration::from_secs(2));
        assert_eq!(sum.calls, 100);
        assert_eq!(sum.errors, 2);
        assert_eq!(sum.per_sec, 50.0);
        assert_eq!(sum.p50, Duration::from_micros(51));
        assert_eq!(sum.p99, Duration::from_micros(99));
    }

    #[test]
    fn empty_run_is_all_zero() {
        let sum = Summary::new(Samples::default(), Duration::ZERO);
        assert_eq!((sum.calls, sum.per_sec, sum.p99), (0, 0.0, Duration::ZERO));
    }

    #[test]
    fn latency_units() {
        assert_eq!(fmt_latency(Duration::from_micros(85)), "85us");
        assert_eq!(fmt_latency(Duration::from_micros(1200)), "1.20ms");
        assert_eq!(fmt_latency(Duration::from_millis(2500)), "2.50s");
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["a", "long"]);
        t.row(vec!["xyz".into(), "1".into()]);
        assert_eq!(t.render(), "a    long\n---  ----\nxyz  1\n");
    }
}
