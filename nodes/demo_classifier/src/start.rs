//! The start detector: is the scene back where the demonstrations start?
//!
//! The demo-state classifier cannot say so. Its negatives are the backward policy's own states
//! (hard-mined), so when that policy reaches the start, the classifier learns those states
//! apart from the demos' and scores them about 0.5 or less: on reach the backward phases came
//! within 1–9 cm of the start and moved on, none ended by the score. The start detector is
//! trained on demo states only, so no policy can argue it down: its score is the distance from
//! a state to the nearest demo start state (the same initial states the classifier takes as
//! positives), in the classifiers' input (the standardised state, or the latent means), against
//! a radius calibrated on the demos themselves.
//!
//! - start states: the first k states of each forward demo episode (the scene as reset, the arm
//!   starting to move) and the final state of each backward one (where the reverse expert
//!   stopped, the task undone). Not the backward demos' last k: a reverse expert stops on
//!   success, so its last steps are the way there (door: measured 0.6-1.0 rad open among the
//!   last 10 states, which made the detector end backward phases with the door open);
//! - radius r: the `radius_quantile` of the start states' distances to the nearest start state
//!   of *another* episode (leave one episode out: how far a new start may lie from the known
//!   ones and still be one);
//! - score: 2^(−(d/r)²): 1 on a demo start state, 0.5 at the radius, 0.06 at twice it.
//!
//! `dims` restricts the distance to some of the input's dimensions (the door's angle, the
//! block's position): what says "undone", leaving out what the arbiter's homing resets anyway.
use crate::learner::episodes;
use mbarl_learn::replay::Observation as RObs;
use mbarl_learn::{LearnConfig, WorldModel};
use mbarl_msgs::msg::{Observation, Transition};
use mbarl_node::{NodeError, Result, convert};
use tch::{Kind, Tensor};

/// The task's initial states in one role's demo transitions, with the index of the episode
/// each came from: s of the first `k` steps of each forward episode, s′ of the last `k` of
/// each backward one. The one rule for "start state" (the classifier's positives use it too).
pub fn initial_states(
    transitions: &[Transition],
    forward: bool,
    k: usize,
) -> Vec<(usize, &Observation)> {
    let mut out = Vec::new();
    for (i, episode) in episodes(transitions).into_iter().enumerate() {
        if forward {
            out.extend(
                episode[..k.min(episode.len())]
                    .iter()
                    .map(|t| (i, &t.observation)),
            );
        } else {
            out.extend(
                episode[episode.len().saturating_sub(k)..]
                    .iter()
                    .map(|t| (i, &t.next_observation)),
            );
        }
    }
    out
}

/// Settings of the start detector (demo_classifier parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct StartSettings {
    /// Initial states per forward demo episode (k); each backward demo gives its final state.
    pub window: usize,
    /// Dimensions of the classifiers' input the distance reads; empty: all of them.
    pub dims: Vec<usize>,
    /// Quantile of the leave-one-episode-out nearest-start distances taken as the radius.
    pub radius_quantile: f64,
}

/// Forward demo states per episode the start detector takes: the scene as reset and the arm's
/// first steps (3 steps of a full-scale action move a joint 0.18 rad on the sim arm).
pub const DEFAULT_START_WINDOW: usize = 3;

impl Default for StartSettings {
    fn default() -> Self {
        Self {
            window: DEFAULT_START_WINDOW,
            dims: Vec::new(),
            radius_quantile: 0.9,
        }
    }
}

/// Demo start states and their calibration under the current world model.
pub struct StartDetector {
    settings: StartSettings,
    /// (episode, observation); forward and backward episodes are numbered apart.
    starts: Vec<(usize, RObs)>,
    /// The start states' inputs at `dims`, [n, d], under the newest world model.
    points: Option<Tensor>,
    pub radius: f64,
}

impl StartDetector {
    /// From both roles' demo transitions; observations that do not convert under `cfg` are
    /// skipped and counted in the second value.
    pub fn from_demos(
        forward: &[Transition],
        backward: &[Transition],
        settings: StartSettings,
        cfg: &LearnConfig,
    ) -> (Self, u64) {
        let mut rejected = 0;
        let mut starts = Vec::new();
        let fwd = initial_states(forward, true, settings.window);
        let offset = fwd.last().map_or(0, |(e, _)| e + 1);
        let bwd = initial_states(backward, false, 1)
            .into_iter()
            .map(|(e, o)| (e + offset, o));
        for (episode, o) in fwd.into_iter().chain(bwd) {
            match convert::observation(o, cfg) {
                Ok(r) => starts.push((episode, r)),
                Err(_) => rejected += 1,
            }
        }
        (
            Self {
                settings,
                starts,
                points: None,
                radius: 0.0,
            },
            rejected,
        )
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The classifiers' input `z` [n, D] at the configured dimensions.
    fn select(&self, z: &Tensor) -> Result<Tensor> {
        if self.settings.dims.is_empty() {
            return Ok(z.shallow_clone());
        }
        let width = z.size().last().copied().unwrap_or(0) as usize;
        if let Some(&d) = self.settings.dims.iter().find(|&&d| d >= width) {
            return Err(NodeError::Config(format!(
                "start_state_indices names dimension {d}; the classifiers' input has {width}"
            )));
        }
        let idx: Vec<i64> = self.settings.dims.iter().map(|&d| d as i64).collect();
        Ok(z.index_select(1, &Tensor::from_slice(&idx).to_device(z.device())))
    }

    /// Embeds the start states with `world` and calibrates the radius (after each new world
    /// model: a new encoder or normaliser moves every input).
    pub fn refresh(&mut self, world: &WorldModel, cfg: &LearnConfig) -> Result<()> {
        if self.starts.is_empty() {
            return Ok(());
        }
        let obs: Vec<&RObs> = self.starts.iter().map(|(_, o)| o).collect();
        let z = world.classifier_input(&convert::obs_batch(&obs, cfg))?;
        let points = self.select(&z)?.to_kind(Kind::Float);
        let dist = Tensor::cdist(&points, &points, 2.0, None::<i64>);
        let episode: Vec<i64> = self.starts.iter().map(|(e, _)| *e as i64).collect();
        let episode = Tensor::from_slice(&episode).to_device(points.device());
        let several = self.starts.iter().any(|(e, _)| *e != self.starts[0].0);
        // leave one episode out; with a single episode, leave out the state itself
        let excluded = if several {
            episode.unsqueeze(1).eq_tensor(&episode.unsqueeze(0))
        } else {
            Tensor::eye(points.size()[0], (Kind::Bool, points.device()))
        };
        let nearest = dist.masked_fill(&excluded, f64::INFINITY).amin(1, false);
        let finite: Vec<f64> = Vec::<f64>::try_from(nearest.to_kind(Kind::Double))
            .map_err(|e| NodeError::Config(format!("start detector: {e}")))?
            .into_iter()
            .filter(|d| d.is_finite())
            .collect();
        self.radius = quantile(finite, self.settings.radius_quantile).max(1e-6);
        self.points = Some(points);
        Ok(())
    }

    /// 2^(−(d/r)²) for classifier inputs `z` [1, D]; `None` before [`StartDetector::refresh`].
    pub fn score(&self, z: &Tensor) -> Result<Option<f32>> {
        let Some(points) = &self.points else {
            return Ok(None);
        };
        let q = self.select(z)?.to_kind(Kind::Float);
        let d = Tensor::cdist(&q, points, 2.0, None::<i64>)
            .amin(1, false)
            .double_value(&[0]);
        let s = (-(d / self.radius).powi(2) * std::f64::consts::LN_2).exp();
        Ok(Some(if s.is_finite() { s as f32 } else { 0.0 }))
    }
}

/// The `q` quantile (nearest rank) of `v`; 0 for no values.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

#[cfg(test)]
mod tests {
    use super::*;
    use mbarl_msgs::msg::Phase;
    use mbarl_node::synth;
    use tch::Device;

    #[test]
    fn quantile_is_the_nearest_rank() {
        assert_eq!(quantile(vec![4.0, 1.0, 3.0, 2.0], 0.5), 2.0);
        assert_eq!(quantile(vec![4.0, 1.0, 3.0, 2.0], 0.9), 4.0);
        assert_eq!(quantile(vec![4.0, 1.0, 3.0, 2.0], 0.0), 1.0);
        assert_eq!(quantile(vec![], 0.9), 0.0);
    }

    #[test]
    fn initial_states_are_the_first_of_forward_and_last_of_backward_episodes() {
        let mut fwd = synth::transitions(12, Phase::FORWARD, 0, 0);
        fwd.extend(synth::transitions(5, Phase::FORWARD, 1, 100));
        let bwd = synth::transitions(7, Phase::BACKWARD, 2, 200);
        let f = initial_states(&fwd, true, 3);
        let picked: Vec<(usize, u64)> = f.iter().map(|(e, o)| (*e, o.seq)).collect();
        let want: Vec<(usize, u64)> = [(0, 0), (0, 1), (0, 2), (1, 12), (1, 13), (1, 14)]
            .iter()
            .map(|&(e, i)| (e, fwd[i].observation.seq))
            .collect();
        assert_eq!(picked, want);
        let b = initial_states(&bwd, false, 3);
        let picked: Vec<u64> = b.iter().map(|(_, o)| o.seq).collect();
        let want: Vec<u64> = bwd[4..].iter().map(|t| t.next_observation.seq).collect();
        assert_eq!(picked, want);
    }

    /// Two forward demo episodes starting near q0 (joint 1 at 0.00 and 0.02); a backward
    /// demo ending there too.
    fn demos() -> (Vec<Transition>, Vec<Transition>) {
        let at = |q: [f64; 4], step: u64, end: bool| Transition {
            phase: Phase::FORWARD,
            observation: synth::observation(step, q),
            next_observation: synth::observation(step + 1, q),
            action: vec![0.0; 4],
            phase_end: end,
            ..Default::default()
        };
        let mut fwd = Vec::new();
        for (e, j1) in [0.0, 0.02].into_iter().enumerate() {
            for i in 0..10 {
                // moving away from the start along joint 1
                let q = [j1 + 0.1 * i as f64, 0.2, 0.3, -0.1];
                fwd.push(at(q, (100 * e + i) as u64, i == 9));
            }
        }
        let bwd = (0..10)
            .map(|i| {
                let q = [1.0 - 0.1 * i as f64 + 0.01, 0.2, 0.3, -0.1];
                Transition {
                    phase: Phase::BACKWARD,
                    next_observation: synth::observation(300 + i, q),
                    ..at(q, 299 + i, i == 9)
                }
            })
            .collect();
        (fwd, bwd)
    }

    fn detector(dims: Vec<usize>) -> (StartDetector, LearnConfig) {
        let cfg = synth::small_state_config();
        let (fwd, bwd) = demos();
        let settings = StartSettings {
            window: 2,
            dims,
            radius_quantile: 0.9,
        };
        let (mut d, rejected) = StartDetector::from_demos(&fwd, &bwd, settings, &cfg);
        // two forward episodes' first 2 states, the backward demo's final state
        assert_eq!((d.len(), rejected), (5, 0));
        let world = WorldModel::new(&cfg, Device::Cpu).unwrap();
        d.refresh(&world, &cfg).unwrap();
        (d, cfg)
    }

    fn score_at(d: &StartDetector, cfg: &LearnConfig, q: [f64; 4]) -> f32 {
        let world = WorldModel::new(cfg, Device::Cpu).unwrap();
        let o = convert::observation(&synth::observation(0, q), cfg).unwrap();
        let z = world
            .classifier_input(&convert::obs_batch(&[&o], cfg))
            .unwrap();
        d.score(&z).unwrap().unwrap()
    }

    #[test]
    fn start_states_score_high_and_far_states_low() {
        let (d, cfg) = detector(Vec::new());
        assert!(d.radius > 0.0);
        let start = score_at(&d, &cfg, [0.005, 0.2, 0.3, -0.1]);
        let far = score_at(&d, &cfg, [1.5, 0.2, 0.3, -0.1]);
        assert!(start > 0.9, "start {start}");
        assert!(far < 0.01, "far {far}");
        // the backward demo's second-to-last state (its way to the start, joint 1 at 0.21) is no
        // start state: only its final one (0.11) is
        let approach = score_at(&d, &cfg, [0.21, 0.2, 0.3, -0.1]);
        assert!(approach < 0.1, "approach {approach}");
    }

    #[test]
    fn dims_restrict_the_distance() {
        // joint 3 far from every demo: all dims say "not the start", joint 1 alone says it is
        let (all, cfg) = detector(Vec::new());
        let (joint1, _) = detector(vec![0]);
        let q = [0.005, 0.2, 2.0, -0.1];
        assert!(score_at(&all, &cfg, q) < 0.01);
        assert!(score_at(&joint1, &cfg, q) > 0.9);
        let (bad, _) = {
            let cfg = synth::small_state_config();
            let (fwd, bwd) = demos();
            let s = StartSettings {
                dims: vec![999],
                ..Default::default()
            };
            StartDetector::from_demos(&fwd, &bwd, s, &cfg)
        };
        let mut bad = bad;
        let world = WorldModel::new(&cfg, Device::Cpu).unwrap();
        let e = bad.refresh(&world, &cfg).unwrap_err().to_string();
        assert!(e.contains("999"), "{e}");
    }

    #[test]
    fn no_score_before_a_world_model() {
        let cfg = synth::small_state_config();
        let (fwd, bwd) = demos();
        let (d, _) = StartDetector::from_demos(&fwd, &bwd, StartSettings::default(), &cfg);
        let z = Tensor::zeros(
            [1, cfg.classifier_input_dim() as i64],
            (Kind::Float, Device::Cpu),
        );
        assert_eq!(d.score(&z).unwrap(), None);
    }
}
