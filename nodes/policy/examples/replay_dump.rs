//! Writes a stopped run's replay as CSV, one row per transition, for analysis outside the
//! suite (e.g. fitting the one-step dynamics with another learner):
//!
//!   cargo run --release -p policy --example replay_dump -- RUN_DIR forward|backward OUT.csv
//!
//! Columns: segment, step, phase_end, reward, then s0.., a0.., n0.. (state, action, next
//! state; state-mode runs only).
use anyhow::{Context, Result, bail};
use mbarl_learn::LearnConfig;
use mbarl_learn::replay::{BufferKind, ReplayBuffer, ReplaySpec};
use std::io::Write;
use std::path::Path;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, kind, out] = args.as_slice() else {
        bail!("usage: replay_dump RUN_DIR forward|backward OUT.csv");
    };
    let kind = match kind.as_str() {
        "forward" => BufferKind::Forward,
        "backward" => BufferKind::Backward,
        k => bail!("{k:?}: expected forward or backward"),
    };
    let run = Path::new(run);
    let cfg = LearnConfig::from_yaml_file(run.join("preset.yaml"))?;
    let (buf, _) = ReplayBuffer::open_kind(run, kind, ReplaySpec::from_config(&cfg), &cfg.replay)?;
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {out}"))?,
    );
    let mut rows = 0;
    for i in 0..buf.len() {
        let Some(t) = buf.get(i) else { continue };
        let (Some(s), Some(n)) = (t.obs.state.as_ref(), t.next_obs.state.as_ref()) else {
            bail!("{}: state-mode runs only", run.display());
        };
        let cells: Vec<String> = [
            t.segment as f64,
            f64::from(t.step),
            f64::from(u8::from(t.phase_end)),
            f64::from(t.reward),
        ]
        .into_iter()
        .chain(s.iter().chain(&t.action).chain(n).map(|v| f64::from(*v)))
        .map(|v| v.to_string())
        .collect();
        writeln!(w, "{}", cells.join(","))?;
        rows += 1;
    }
    println!(
        "{rows} transitions to {out} (state_dim {}, action_dim {})",
        cfg.obs.state_dim, cfg.obs.action_dim
    );
    Ok(())
}
