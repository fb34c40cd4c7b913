//! The live status line of `mbarl launch`: phase, cycle, steps, success estimate and losses,
//! read from the suite's own topics (and, in simulation, the evaluation-only `/sim/success`).

use std::collections::BTreeMap;
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
    sim_success: Vec<bool>,
    stats: BTreeMap<String, TrainingStats>,
}

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
        push(&mut self.sim_success, ok);
    }
    pub fn on_stats(&mut self, s: TrainingStats) {
        self.stats.insert(s.node.clone(), s);
    }

    /// One line, e.g. `FORWARD cycle 3 step 40/1240 | goal score 0.41 | world_model 1200 upd model_loss 0.12`.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        match &self.phase {
            Some(p) => parts.push(format!(
                "{} cycle {} step {}/{}",
                phase_name(p.phase),
                p.cycle,
                p.phase_step,
                p.total_steps
            )),
            None => parts.push("waiting for /mbarl/phase".into()),
        }
        if !self.goal_scores.is_empty() {
            let mean = self.goal_scores.iter().sum::<f32>() / self.goal_scores.len() as f32;
            parts.push(format!("success estimate {:.0}%", mean * 100.0));
        }
        if !self.sim_success.is_empty() {
            let rate = self.sim_success.iter().filter(|s| **s).count() as f32
                / self.sim_success.len() as f32;
            parts.push(format!("sim success {:.0}% (eval only)", rate * 100.0));
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

/// Prints the status line every `period` until cancelled.
pub async fn run(domain: Option<u16>, period: Duration) -> Result<()> {
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
    loop {
        tokio::select! {
            Some(p) = phase.recv() => status.on_phase(p),
            Some(s) = scores.recv() => status.on_score(&s),
            Some(s) = stats.recv() => status.on_stats(s),
            Some(b) = sim_success.recv() => status.on_sim_success(b.data),
            _ = tick.tick() => println!("[status] {}", status.line()),
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
        s.on_sim_success(true);
        s.on_sim_success(false);
        s.on_stats(TrainingStats {
            node: "/world_model".into(),
            updates: 1200,
            names: vec!["model_loss".into(), "replay".into()],
            values: vec![0.125, 3.0],
            ..Default::default()
        });
        let line = s.line();
        assert!(line.starts_with("FORWARD cycle 3 step 40/1240"), "{line}");
        assert!(
            line.contains("success estimate 50%") && line.contains("sim success 50%"),
            "{line}"
        );
        assert!(
            line.contains("world_model 1200 upd model_loss 0.125") && !line.contains("replay"),
            "{line}"
        );
    }
}
