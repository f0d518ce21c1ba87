//! What a process (and its children, e.g. plugins) spent: CPU time and context switches,
//! read from /proc. On a machine shared with other work, wall-clock rates swing with the
//! load; CPU time and switches per call show the daemon's own cost whatever else runs.

use std::time::Duration;

/// CPU time and context switches so far; subtract two readings for a run's share.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcStat {
    pub cpu: Duration,
    pub switches: u64,
}

impl std::ops::Sub for ProcStat {
    type Output = ProcStat;
    fn sub(self, o: ProcStat) -> ProcStat {
        ProcStat {
            cpu: self.cpu.saturating_sub(o.cpu),
            switches: self.switches.saturating_sub(o.switches),
        }
    }
}

/// Clock ticks per second of /proc's utime/stime (USER_HZ, 100 on Linux).
const TICKS: u64 = 100;

/// utime + stime of every thread of `pid`, living or exited.
fn cpu(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS))
}

/// Voluntary and involuntary switches of the living threads of `pid`.
fn switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Direct children of `pid` (every thread's list).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![];
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Resident memory of `pid` now and at its peak (VmRSS, VmHWM), in kB.
pub fn rss_kb(pid: u32) -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (0, 0);
    };
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `8.1 MB`.
pub fn fmt_kb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

impl ProcStat {
    /// The process `pid` alone.
    pub fn of(pid: u32) -> ProcStat {
        ProcStat {
            cpu: cpu(pid).unwrap_or_default(),
            switches: switches(pid),
        }
    }

    /// Every child of `pid` (its plugins) together.
    pub fn of_children(pid: u32) -> ProcStat {
        children(pid)
            .into_iter()
            .map(ProcStat::of)
            .fold(ProcStat::default(), |a, b| ProcStat {
                cpu: a.cpu + b.cpu,
                switches: a.switches + b.switches,
            })
    }

    /// `cpu` and `switches` per one of `n` calls, as table cells (`-` for no calls).
    pub fn per_call(&self, n: u64) -> (String, String) {
        if n == 0 {
            return ("-".into(), "-".into());
        }
        (
            crate::stats::fmt_latency(self.cpu / n as u32),
            format!("{:.1}", self.switches as f64 / n as f64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_cpu_and_switches_grow() {
        let me = std::process::id();
        let a = ProcStat::of(me);
        // Sleeping is a voluntary switch each time.
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Spin until /proc shows CPU time (ticks are 10 ms; a loaded machine gives us
        // less than the wall time).
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while (ProcStat::of(me) - a).cpu < Duration::from_millis(30)
            && t.elapsed() < Duration::from_secs(20)
        {
            for _ in 0..100_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
        }
        let d = ProcStat::of(me) - a;
        assert!(x > 0);
        assert!(d.cpu >= Duration::from_millis(30), "{d:?}");
        assert!(d.switches >= 5, "{d:?}");
    }
}
