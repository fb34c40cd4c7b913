//! Lock-step pacing: in simulation the arbiter may hold the next step until the learners have
//! caught up, so that learning per environment step does not depend on how fast the machine is
//! (a busy or slow CPU then makes a run slower, not different). Learners report their training
//! backlog (gradient updates owed to the data they have, `backlog` in `TrainingStats`); the arbiter
//! steps only while every learner's backlog is at most `max_training_backlog`.
//! A learner whose update count has not moved for [`STALLED_AFTER`] is not waited for (a learner
//! whose every update fails would otherwise stop the whole run: seen with a non-finite critic).
//! Off (0) by default: on a real arm time does not stop.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mbarl_msgs::msg::TrainingStats;

/// A learner that made no update for this long is not waited for.
pub const STALLED_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Learner {
    backlog: f32,
    updates: u64,
    /// When its update count last moved (or it was first heard).
    progressed: Instant,
}

#[derive(Debug, Clone, Default)]
pub struct Pacing {
    max_backlog: f32,
    learners: BTreeMap<String, Learner>,
}

impl Pacing {
    /// `max_backlog` ≤ 0 turns pacing off.
    pub fn new(max_backlog: f64) -> Self {
        Self {
            max_backlog: max_backlog as f32,
            learners: BTreeMap::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max_backlog > 0.0
    }

    /// Takes a learner's latest backlog (stats without one are ignored).
    pub fn update(&mut self, stats: &TrainingStats, now: Instant) {
        if let Some(i) = stats.names.iter().position(|n| n == "backlog")
            && let Some(&v) = stats.values.get(i)
            && v.is_finite()
        {
            let learner = self.learners.entry(stats.node.clone()).or_insert(Learner {
                backlog: v,
                updates: stats.updates,
                progressed: now,
            });
            if stats.updates != learner.updates {
                learner.progressed = now;
            }
            learner.backlog = v;
            learner.updates = stats.updates;
        }
    }

    fn waits_for(&self, l: &Learner, now: Instant) -> bool {
        l.backlog > self.max_backlog && now.duration_since(l.progressed) < STALLED_AFTER
    }

    /// Should the next step wait for the learners?
    pub fn behind(&self, now: Instant) -> bool {
        self.enabled() && self.learners.values().any(|l| self.waits_for(l, now))
    }

    /// The learners that are behind, for the log (stalled ones marked).
    pub fn laggards(&self, now: Instant) -> Vec<String> {
        self.learners
            .iter()
            .filter(|(_, l)| l.backlog > self.max_backlog)
            .map(|(n, l)| {
                let stalled = if self.waits_for(l, now) {
                    ""
                } else {
                    ", stalled: not waited for"
                };
                format!("{n} ({:.0}{stalled})", l.backlog)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(node: &str, backlog: Option<f32>) -> TrainingStats {
        stats_at(node, backlog, 0)
    }

    fn stats_at(node: &str, backlog: Option<f32>, updates: u64) -> TrainingStats {
        let mut s = TrainingStats {
            node: node.into(),
            updates,
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
        let now = Instant::now();
        let mut p = Pacing::new(100.0);
        assert!(!p.behind(now), "nothing known: step");
        p.update(&stats("world_model", Some(50.0)), now);
        p.update(&stats("forward_policy", Some(150.0)), now);
        p.update(&stats("demo_classifier", None), now);
        assert!(p.behind(now));
        assert_eq!(p.laggards(now), vec!["forward_policy (150)".to_string()]);
        p.update(&stats("forward_policy", Some(20.0)), now);
        assert!(!p.behind(now));
        p.update(&stats("world_model", Some(f32::NAN)), now);
        assert!(!p.behind(now), "a NaN backlog is ignored");
    }

    #[test]
    fn a_learner_that_stopped_updating_is_not_waited_for() {
        let t0 = Instant::now();
        let mut p = Pacing::new(100.0);
        p.update(&stats_at("backward_policy", Some(300.0), 17), t0);
        let later = t0 + STALLED_AFTER / 2;
        p.update(&stats_at("backward_policy", Some(300.0), 17), later);
        assert!(p.behind(later), "still within the stall time");
        let stalled = t0 + STALLED_AFTER + Duration::from_millis(1);
        p.update(&stats_at("backward_policy", Some(300.0), 17), stalled);
        assert!(
            !p.behind(stalled),
            "no update for STALLED_AFTER: not waited for"
        );
        assert_eq!(
            p.laggards(stalled),
            vec!["backward_policy (300, stalled: not waited for)".to_string()]
        );
        // Updating again: waited for again.
        p.update(&stats_at("backward_policy", Some(300.0), 18), stalled);
        assert!(p.behind(stalled));
    }

    #[test]
    fn off_by_default() {
        let now = Instant::now();
        let mut p = Pacing::new(0.0);
        p.update(&stats("world_model", Some(1e6)), now);
        assert!(!p.behind(now));
    }
}
