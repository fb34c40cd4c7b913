//! The live status line of `mbarl launch`: phase, cycle, env steps, the deployed policy's
//! success (from `<run_dir>/metrics/deployed_eval.csv`, written by `deployed_eval` on an
//! evaluation sim, as `scripts/run.sh` runs it), and in simulation how many recent forward
//! phases reached the goal (the evaluation-only `/sim/success`, never a training input). Each
//! new evaluation round also redraws `<run_dir>/metrics/learning_curve.png`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use mbarl_msgs::msg::{Phase, StateScore, TrainingStats};
use mbarl_msgs::std_msgs::Bool;
use mbarl_ros::{NodeBuilder, Qos};

/// What the status line shows, updated from messages.
#[derive(Debug, Default)]
pub struct Status {
    phase: Option<Phase>,
    goal_scores: Vec<f32>,
    /// Per finished forward phase (newest last): what it did in the sim.
    forward_solved: Vec<ForwardPhase>,
    /// The current forward phase's cycle and what it did so far; `None` outside forward
    /// phases.
    forward_now: Option<(u32, ForwardPhase)>,
    saw_sim: bool,
    /// The newest deployed-evaluation round: (solved, episodes, env steps).
    deployed: Option<(u32, u32, u64)>,
    stats: BTreeMap<String, TrainingStats>,
}

/// What a forward phase did in the sim (`/sim/success`, evaluation-only).
#[derive(Debug, Default, Clone, Copy)]
struct ForwardPhase {
    /// The goal reached at some step.
    reached: bool,
    /// The goal reached at the newest step: at the phase's end, left there.
    at_goal: bool,
}

/// Forward phases the training line reports on (the newest).
const PHASES_SHOWN: usize = 10;

const WINDOW: usize = 100;

fn push<T>(v: &mut Vec<T>, x: T) {
    v.push(x);
    if v.len() > WINDOW {
        v.remove(0);
    }
}

fn phase_name(p: u8) -> &'static str {
    match p {
        Phase::FORWARD => "FORWARD",
        Phase::BACKWARD => "BACKWARD",
        Phase::EVAL => "EVAL",
        Phase::PAUSED => "PAUSED",
        Phase::NEEDS_HELP => "NEEDS_HELP",
        _ => "?",
    }
}

impl Status {
    pub fn on_phase(&mut self, p: Phase) {
        let forward = p.phase == Phase::FORWARD;
        if let Some((cycle, done)) = self.forward_now
            && (!forward || cycle != p.cycle)
        {
            push(&mut self.forward_solved, done);
            if self.forward_solved.len() > PHASES_SHOWN {
                self.forward_solved.remove(0);
            }
            self.forward_now = None;
        }
        if forward && self.forward_now.is_none() {
            self.forward_now = Some((p.cycle, ForwardPhase::default()));
        }
        self.phase = Some(p);
    }
    pub fn on_score(&mut self, s: &StateScore) {
        if self
            .phase
            .as_ref()
            .is_some_and(|p| p.phase == Phase::FORWARD)
        {
            push(&mut self.goal_scores, s.goal_probability);
        }
    }
    pub fn on_sim_success(&mut self, ok: bool) {
        self.saw_sim = true;
        if let Some((_, done)) = self.forward_now.as_mut() {
            done.reached |= ok;
            done.at_goal = ok;
        }
    }

    /// The newest deployed-evaluation round.
    pub fn on_deployed(&mut self, solved: u32, episodes: u32, env_steps: u64) {
        self.deployed = Some((solved, episodes, env_steps));
    }
    pub fn on_stats(&mut self, s: TrainingStats) {
        self.stats.insert(s.node.clone(), s);
    }

    /// One line, e.g. `FORWARD cycle 3, 1240 env steps | deployed 9/10 at 1000 env steps |
    /// training: 4 of the last 10 forward phases reached the goal, 2 ended there (sim) | goal
    /// classifier 41% |
    /// world_model 1200 upd model_loss 0.12`.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        match &self.phase {
            Some(p) => parts.push(format!(
                "{} cycle {}, {} env steps",
                phase_name(p.phase),
                p.cycle,
                p.total_steps
            )),
            None => parts.push("waiting for /mbarl/phase".into()),
        }
        parts.push(match self.deployed {
            Some((solved, episodes, steps)) => format!(
                "deployed policy {solved}/{episodes} episodes solved (trained {steps} env steps)"
            ),
            None => "deployed policy: no evaluation round yet".into(),
        });
        if self.saw_sim && !self.forward_solved.is_empty() {
            parts.push(format!(
                "training: {} of the last {} forward phases reached the goal, {} ended there (sim)",
                self.forward_solved.iter().filter(|s| s.reached).count(),
                self.forward_solved.len(),
                self.forward_solved.iter().filter(|s| s.at_goal).count()
            ));
        }
        if !self.goal_scores.is_empty() {
            let mean = self.goal_scores.iter().sum::<f32>() / self.goal_scores.len() as f32;
            parts.push(format!("goal classifier {:.0}%", mean * 100.0));
        }
        for (node, s) in &self.stats {
            let losses: Vec<String> = s
                .names
                .iter()
                .zip(&s.values)
                .filter(|(n, _)| n.contains("loss"))
                .take(3)
                .map(|(n, v)| format!("{n} {v:.3}"))
                .collect();
            parts.push(format!(
                "{} {} upd {}",
                node.trim_start_matches('/'),
                s.updates,
                losses.join(" ")
            ));
        }
        parts.join(" | ")
    }
}

/// The newest round of `<run_dir>/metrics/deployed_eval.csv`: (solved, episodes, env steps
/// when its checkpoints were made), and how many rounds the file has.
fn newest_round(run_dir: &Path) -> Option<(u32, u32, u64, usize)> {
    let text = std::fs::read_to_string(run_dir.join("metrics/deployed_eval.csv")).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (solved, episodes, steps) = (col("solved")?, col("episodes")?, col("env_steps")?);
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    let last = rows.last()?;
    Some((
        last.get(solved)?.parse().ok()?,
        last.get(episodes)?.parse().ok()?,
        last.get(steps)?.parse().ok()?,
        rows.len(),
    ))
}

/// Redraws `<run_dir>/metrics/learning_curve.png` from the run's evaluation rounds.
fn redraw_curve(run_dir: &Path) -> Result<PathBuf> {
    let run = crate::eval::load_run(run_dir, "deployed policy")?;
    let png = run_dir.join("metrics/learning_curve.png");
    crate::eval::plot(&png, &[run], 0.8)?;
    Ok(png)
}

/// Prints the status line every `period` until cancelled.
pub async fn run(domain: Option<u16>, run_dir: PathBuf, period: Duration) -> Result<()> {
    let mut builder = NodeBuilder::new("mbarl_status").rosout(false);
    if let Some(d) = domain {
        builder = builder.domain_id(d);
    }
    let node = builder.build()?;
    let phase = node.subscriber::<Phase>("/mbarl/phase", Qos::Latched)?;
    let scores = node.subscriber::<StateScore>("/mbarl/state_score", Qos::SensorData)?;
    let stats = node.subscriber::<TrainingStats>("/mbarl/training_stats", Qos::SensorData)?;
    let sim_success = node.subscriber::<Bool>("/sim/success", Qos::SensorData)?;
    let mut status = Status::default();
    let mut tick = tokio::time::interval(period);
    let mut rounds_drawn = 0;
    loop {
        tokio::select! {
            Some(p) = phase.recv() => status.on_phase(p),
            Some(s) = scores.recv() => status.on_score(&s),
            Some(s) = stats.recv() => status.on_stats(s),
            Some(b) = sim_success.recv() => status.on_sim_success(b.data),
            _ = tick.tick() => {
                if let Some((solved, episodes, steps, rounds)) = newest_round(&run_dir) {
                    status.on_deployed(solved, episodes, steps);
                    if rounds > rounds_drawn {
                        rounds_drawn = rounds;
                        if let Err(e) = redraw_curve(&run_dir) {
                            eprintln!("[status] learning curve not drawn: {e}");
                        }
                    }
                }
                println!("[status] {}", status.line());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_phase_success_and_losses() {
        let mut s = Status::default();
        assert!(s.line().contains("waiting"));
        s.on_phase(Phase {
            phase: Phase::FORWARD,
            cycle: 3,
            phase_step: 40,
            total_steps: 1240,
            ..Default::default()
        });
        s.on_score(&StateScore {
            goal_probability: 0.5,
            ..Default::default()
        });
        s.on_sim_success(false);
        s.on_sim_success(true); // the forward phase of cycle 3 reaches the goal
        s.on_sim_success(false); // and drives on past it
        s.on_phase(Phase {
            phase: Phase::BACKWARD,
            cycle: 3,
            phase_step: 0,
            total_steps: 1300,
            ..Default::default()
        });
        s.on_sim_success(true); // a backward phase's success is not the forward task's
        s.on_phase(Phase {
            phase: Phase::FORWARD,
            cycle: 4,
            phase_step: 0,
            total_steps: 1380,
            ..Default::default()
        });
        s.on_sim_success(true); // cycle 4's ends at the goal
        s.on_phase(Phase {
            phase: Phase::BACKWARD,
            cycle: 4,
            phase_step: 0,
            total_steps: 1460,
            ..Default::default()
        });
        assert!(s.line().contains("no evaluation round yet"), "{}", s.line());
        s.on_deployed(9, 10, 1000);
        s.on_stats(TrainingStats {
            node: "/world_model".into(),
            updates: 1200,
            names: vec!["model_loss".into(), "replay".into()],
            values: vec![0.125, 3.0],
            ..Default::default()
        });
        let line = s.line();
        assert!(
            line.starts_with("BACKWARD cycle 4, 1460 env steps"),
            "{line}"
        );
        assert!(
            line.contains("deployed policy 9/10 episodes solved (trained 1000 env steps)"),
            "{line}"
        );
        assert!(
            line.contains(
                "training: 2 of the last 2 forward phases reached the goal, 1 ended there (sim)"
            ),
            "{line}"
        );
        assert!(line.contains("goal classifier 50%"), "{line}");
        assert!(
            line.contains("world_model 1200 upd model_loss 0.125") && !line.contains("replay"),
            "{line}"
        );
    }

    #[test]
    fn the_newest_evaluation_round_is_read_from_the_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(newest_round(dir.path()), None);
        std::fs::create_dir_all(dir.path().join("metrics")).unwrap();
        std::fs::write(
            dir.path().join("metrics/deployed_eval.csv"),
            "unix_time_s,world_version,policy_version,env_steps,env_steps_at_end,episodes,solved,success_rate\n\
             1,1,1,500,900,10,2,0.2\n1,2,2,1000,1400,10,9,0.9\n",
        )
        .unwrap();
        assert_eq!(newest_round(dir.path()), Some((9, 10, 1000, 2)));
        let png = redraw_curve(dir.path()).unwrap();
        assert!(png.exists());
    }
}
