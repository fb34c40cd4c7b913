//! `<run_dir>/metrics/<node>.csv`: one row per stats publication.
use std::io::Write;
use std::path::Path;

pub struct CsvMetrics {
    file: Option<std::fs::File>,
    header: Option<Vec<String>>,
}

impl CsvMetrics {
    /// Opens (appending) the node's CSV; a failure only disables the file, with a warning.
    pub fn open(run_dir: &Path, node: &str) -> Self {
        let dir = run_dir.join("metrics");
        let file = std::fs::create_dir_all(&dir)
            .and_then(|_| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{node}.csv")))
            })
            .map_err(|e| tracing::warn!("metrics file disabled: {e}"))
            .ok();
        Self { file, header: None }
    }

    /// Writes a row `time_s, updates, replay_size, names…` (a header when the names change).
    pub fn row(
        &mut self,
        time_s: f64,
        updates: u64,
        replay: u64,
        names: &[String],
        values: &[f32],
    ) {
        let Some(f) = self.file.as_mut() else { return };
        if self.header.as_deref() != Some(names) {
            let header = format!("time_s,updates,replay_size,{}\n", names.join(","));
            let _ = f.write_all(header.as_bytes());
            self.header = Some(names.to_vec());
        }
        let vals: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        // one write per line: a reader following the file never sees half a row
        let line = format!("{time_s:.3},{updates},{replay},{}\n", vals.join(","));
        let _ = f.write_all(line.as_bytes());
    }
}
