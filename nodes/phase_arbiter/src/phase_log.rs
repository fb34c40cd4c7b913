//! `<run_dir>/metrics/phases.csv`: one row per phase change (time, cycle, total steps, from, to,
//! reason). Evaluation (`deployed_eval`, `mbarl eval`) reads the environment-step count and the
//! number of phase switches and help requests from it.
use std::io::Write;
use std::path::{Path, PathBuf};

pub const HEADER: &str = "unix_time_s,cycle,total_steps,from,to,reason";

pub struct PhaseLog {
    path: PathBuf,
}

impl PhaseLog {
    /// Opens (creates) the log in `<run_dir>/metrics/`.
    pub fn open(run_dir: &Path) -> std::io::Result<Self> {
        let dir = run_dir.join("metrics");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("phases.csv");
        if !path.exists() {
            std::fs::write(&path, format!("{HEADER}\n"))?;
        }
        Ok(Self { path })
    }

    pub fn append(
        &self,
        cycle: u32,
        total_steps: u64,
        from: &str,
        to: &str,
        reason: &str,
    ) -> std::io::Result<()> {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let reason = reason.replace(['"', '\n'], " ");
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        // one write per row: a reader following the file never sees half a row
        f.write_all(format!("{t:.3},{cycle},{total_steps},{from},{to},\"{reason}\"\n").as_bytes())
    }
}

/// The last row's total steps (0 when there is no log yet): the environment steps of a run.
pub fn total_steps(run_dir: &Path) -> u64 {
    last_position(run_dir).map_or(0, |(_, steps)| steps)
}

/// The last row's cycle and total steps: where a restarted arbiter continues the run (its
/// step count exact to the phase switch; the steps after it are counted again).
pub fn last_position(run_dir: &Path) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(run_dir.join("metrics/phases.csv")).ok()?;
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cells = l.split(',').skip(1);
            Some((cells.next()?.parse().ok()?, cells.next()?.parse().ok()?))
        })
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_total_steps() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(total_steps(dir.path()), 0);
        let log = PhaseLog::open(dir.path()).unwrap();
        log.append(0, 0, "Forward", "Forward", "start").unwrap();
        log.append(1, 160, "Backward", "Forward", "step budget, \"80\"")
            .unwrap();
        assert_eq!(total_steps(dir.path()), 160);
        let again = PhaseLog::open(dir.path()).unwrap();
        again.append(1, 170, "Forward", "NeedsHelp", "x").unwrap();
        let text = std::fs::read_to_string(dir.path().join("metrics/phases.csv")).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert_eq!(total_steps(dir.path()), 170);
        assert_eq!(last_position(dir.path()), Some((1, 170)));
        assert_eq!(last_position(&dir.path().join("none")), None);
    }
}
