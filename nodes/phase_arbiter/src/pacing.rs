//! Lock-step pacing: in simulation the arbiter may hold the next step until the learners have
//! caught up, so that learning per environment step does not depend on how fast the machine is
//! (a busy or slow CPU then makes a run slower, not different). Learners report their training
//! backlog (gradient updates owed to the data they have, `backlog` in `TrainingStats`); the arbiter
//! steps only while every learner's backlog is at most `max_training_backlog`.
//! Off (0) by default: on a real arm time does not stop.
use std::collections::BTreeMap;

use mbarl_msgs::msg::TrainingStats;

#[derive(Debug, Clone, Default)]
pub struct Pacing {
    max_backlog: f32,
    backlogs: BTreeMap<String, f32>,
}

impl Pacing {
    /// `max_backlog` ≤ 0 turns pacing off.
    pub fn new(max_backlog: f64) -> Self {
        Self {
            max_backlog: max_backlog as f32,
            backlogs: BTreeMap::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max_backlog > 0.0
    }

    /// Takes a learner's latest backlog (stats without one are ignored).
    pub fn update(&mut self, stats: &TrainingStats) {
        if let Some(i) = stats.names.iter().position(|n| n == "backlog")
            && let Some(&v) = stats.values.get(i)
            && v.is_finite()
        {
            self.backlogs.insert(stats.node.clone(), v);
        }
    }

    /// Should the next step wait for the learners?
    pub fn behind(&self) -> bool {
        self.enabled() && self.backlogs.values().any(|&b| b > self.max_backlog)
    }

    /// The learners that are behind, for the log.
    pub fn laggards(&self) -> Vec<String> {
        self.backlogs
            .iter()
            .filter(|(_, b)| **b > self.max_backlog)
            .map(|(n, b)| format!("{n} ({b:.0})"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(node: &str, backlog: Option<f32>) -> TrainingStats {
        let mut s = TrainingStats {
            node: node.into(),
            names: vec!["critic_loss".into()],
            values: vec![1.0],
            ..Default::default()
        };
        if let Some(b) = backlog {
            s.names.push("backlog".into());
            s.values.push(b);
        }
        s
    }

    #[test]
    fn waits_while_any_learner_is_behind() {
        let mut p = Pacing::new(100.0);
        assert!(!p.behind(), "nothing known: step");
        p.update(&stats("world_model", Some(50.0)));
        p.update(&stats("forward_policy", Some(150.0)));
        p.update(&stats("demo_classifier", None));
        assert!(p.behind());
        assert_eq!(p.laggards(), vec!["forward_policy (150)".to_string()]);
        p.update(&stats("forward_policy", Some(20.0)));
        assert!(!p.behind());
        p.update(&stats("world_model", Some(f32::NAN)));
        assert!(!p.behind(), "a NaN backlog is ignored");
    }

    #[test]
    fn off_by_default() {
        let mut p = Pacing::new(0.0);
        p.update(&stats("world_model", Some(1e6)));
        assert!(!p.behind());
    }
}
