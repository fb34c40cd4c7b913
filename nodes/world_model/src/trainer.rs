//! Records every transition (`<run_dir>/replay/all`, plus all demo datasets in memory), trains
//! the encoder + latent model ensemble (ALM lower bound, K-step sequences), the reward head and
//! the latent classifier, and makes `world_model` checkpoint bundles.
use crate::dynamics_fit::{DynamicsFitStats, DynamicsFitter, FitDone, FitJob, install};
use mbarl_learn::nets::Gaussian;
use mbarl_learn::replay::{BufferKind, ReplayBuffer, ReplaySpec};
use mbarl_learn::{CheckpointBytes, LearnConfig, LearnError, SequenceBatch, WorldModel};
use mbarl_msgs::msg::Transition;
use mbarl_msgs::srv::{ImagineRolloutRequest, ImagineRolloutResponse};
use mbarl_node::store::CheckpointStore;
use mbarl_node::{Result, bundle, convert, demos};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Scalars of one update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WorldStats {
    pub model_loss: f64,
    pub kl: f64,
    pub reward_loss: f64,
    pub classifier_loss: f64,
    /// The latent model's one-step error against the "nothing changes" guess on the update's
    /// sequences ([`mbarl_learn::nets::LatentModel::error_ratio`], target-encoder means); NaN
    /// when the latents did not change.
    pub model_error_ratio: f64,
}

impl WorldStats {
    pub fn named(&self) -> (Vec<String>, Vec<f32>) {
        (
            [
                "model_loss",
                "kl",
                "reward_loss",
                "latent_classifier_loss",
                "model_error_ratio",
            ]
            .map(String::from)
            .to_vec(),
            vec![
                self.model_loss as f32,
                self.kl as f32,
                self.reward_loss as f32,
                self.classifier_loss as f32,
                self.model_error_ratio as f32,
            ],
        )
    }
}

/// [`mbarl_learn::nets::LatentModel::error_ratio`] over every step of `seq`, on the target
/// encoder's posterior means (`targets`, shape (K+1, B, Z)) before the update; NaN when none.
fn model_error_ratio(world: &WorldModel, targets: &Gaussian, seq: &SequenceBatch) -> f64 {
    let k = seq.seq_len();
    let steps = |from: i64| targets.mean.narrow(0, from, k).flatten(0, 1);
    let actions = seq.actions.to_device(world.device()).flatten(0, 1);
    world
        .model
        .error_ratio(&steps(0), &actions, &steps(1))
        .unwrap_or(f64::NAN)
}

pub struct WorldTrainer {
    pub cfg: LearnConfig,
    pub world: WorldModel,
    /// Every recorded transition (persistent when opened on a run directory).
    pub replay: ReplayBuffer,
    /// Demo transitions of both roles (in memory; the datasets are the persistent copy).
    pub demos: ReplayBuffer,
    /// Every demo transition carries a task reward (else demo batches do not train the reward head).
    demos_have_task_reward: bool,
    store: Option<CheckpointStore>,
    pub updates: u64,
    /// Version of the last checkpoint made (restored from the store on restart).
    pub version: u64,
    rng: StdRng,
    /// Transitions refused (wrong layout, NaN...).
    pub rejected: u64,
    /// The state dynamics ensemble's rows and schedule (used when `dynamics.enabled`).
    pub dynamics: DynamicsFitter,
}

impl WorldTrainer {
    /// A trainer on `run_dir` (replay, demos, newest valid checkpoint), or in memory.
    pub fn new(cfg: LearnConfig, device: Device, run_dir: Option<&Path>) -> Result<Self> {
        tch::manual_seed(cfg.seed as i64);
        let spec = ReplaySpec::from_config(&cfg);
        let mut world = WorldModel::new(&cfg, device)?;
        let (replay, store, mut demos_buf) = match run_dir {
            Some(dir) => {
                let (r, report) = ReplayBuffer::open_kind(dir, BufferKind::All, spec, &cfg.replay)?;
                if report.corrupt_records > 0 || report.unreadable_chunks > 0 {
                    tracing::warn!(?report, "replay reloaded with damage skipped");
                }
                (
                    r,
                    Some(CheckpointStore::new(dir, bundle::WORLD_MODEL, 5)),
                    ReplayBuffer::in_memory(spec, cfg.replay.capacity),
                )
            }
            None => (
                ReplayBuffer::in_memory(spec, cfg.replay.capacity),
                None,
                ReplayBuffer::in_memory(spec, cfg.replay.capacity),
            ),
        };
        let mut rejected = 0;
        let mut demos_have_task_reward = true;
        if let Some(dir) = run_dir {
            for role in ["forward", "backward"] {
                for t in demos::load_role(dir, role)? {
                    demos_have_task_reward &= t.has_task_reward;
                    match convert::transition(&t, &cfg, convert::task_reward(&t), true)
                        .and_then(|r| Ok(demos_buf.append(&r)?))
                    {
                        Ok(()) => {}
                        Err(e) => {
                            rejected += 1;
                            tracing::warn!("demo transition refused: {e}");
                        }
                    }
                }
            }
        }
        let mut version = 0;
        if let Some(ck) = store.as_ref().and_then(|s| s.load_newest()) {
            match bundle::load_world_model(&mut world, &cfg, &ck) {
                Ok(m) => {
                    version = m.version;
                    tracing::info!(version, "world model resumed from its checkpoint");
                }
                Err(e) => tracing::warn!("stored checkpoint not loaded: {e}"),
            }
        }
        Ok(Self {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            world,
            replay,
            demos: demos_buf,
            demos_have_task_reward,
            store,
            updates: 0,
            version,
            rejected,
            dynamics: DynamicsFitter::default(),
        })
    }

    /// Records one transition (task reward as the reward head's target).
    pub fn record(&mut self, t: &Transition) -> Result<()> {
        let r = convert::transition(t, &self.cfg, convert::task_reward(t), false);
        match r.and_then(|r| Ok(self.replay.append(&r)?)) {
            Ok(()) => {
                if self.world.dynamics.is_some() {
                    self.dynamics.record(t, &self.cfg);
                }
                Ok(())
            }
            Err(e) => {
                self.rejected += 1;
                Err(e)
            }
        }
    }

    /// The state dynamics ensemble's fit that is due, if one is ([`DynamicsFitter::take_job`]).
    pub fn dynamics_job(&mut self) -> Option<FitJob> {
        self.world.dynamics.as_ref()?;
        self.dynamics.take_job(&self.cfg)
    }

    /// Puts a finished fit into the world model (its next checkpoint carries it).
    pub fn install_dynamics(&mut self, done: FitDone) -> Result<DynamicsFitStats> {
        if let Some(model) = &self.world.dynamics {
            install(model, &done.weights)?;
        }
        self.dynamics.last = done.stats;
        Ok(done.stats)
    }

    /// Records and demos held.
    pub fn data(&self) -> usize {
        self.replay.len() + self.demos.len()
    }

    /// One update on a batch of sequences from the replay and the demos (each drawn in
    /// proportion to its size). `Ok(None)` when there is not enough data yet.
    pub fn train_step(&mut self) -> Result<Option<WorldStats>> {
        let k = self.cfg.alm.seq_len;
        let b = self.cfg.alm.batch_size;
        let (nr, nd) = (self.replay.len(), self.demos.len());
        if nr + nd < b.max(k) {
            return Ok(None);
        }
        let from_demos = nd > 0 && self.rng.gen_range(0..nr + nd) < nd;
        let buf = if from_demos {
            &self.demos
        } else {
            &self.replay
        };
        let seq = match buf.sample_sequences(b, k, &mut self.rng) {
            Ok(s) => s,
            Err(LearnError::NotEnoughData(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let targets = self.world.target_posteriors(&seq)?;
        let model_error_ratio = model_error_ratio(&self.world, &targets, &seq);
        let (model_loss, kl) = self.world.update_model_with_targets(&seq, &targets, None)?;
        let lt = self.world.latent_transitions(&seq.transition(0))?;
        // Demos without a task reward teach the reward head nothing (0 is not their reward).
        let train_reward = !from_demos || self.demos_have_task_reward;
        let (reward_loss, classifier_loss) = self.world.update_heads(&lt, train_reward)?;
        self.world.update_target();
        self.updates += 1;
        Ok(Some(WorldStats {
            model_loss,
            kl,
            reward_loss,
            classifier_loss,
            model_error_ratio,
        }))
    }

    /// A new checkpoint bundle (next version), saved in the run directory when there is one.
    pub fn checkpoint(&mut self) -> Result<CheckpointBytes> {
        self.version += 1;
        let ck = bundle::save_world_model(&self.world, &self.cfg, self.version)?;
        if let Some(s) = &self.store {
            s.save(&ck)?;
        }
        Ok(ck)
    }

    /// Flushes the replay to disk.
    pub fn sync(&mut self) -> Result<()> {
        Ok(self.replay.sync()?)
    }

    /// An open-loop rollout: the ensemble-mean latent, the predicted reward and the ensemble
    /// disagreement per step; stops where the disagreement passes `mbpo.disagreement_threshold`.
    pub fn imagine(&self, req: &ImagineRolloutRequest) -> ImagineRolloutResponse {
        let fail = |message: String| ImagineRolloutResponse {
            success: false,
            message,
            model_version: self.version as u32,
            ..Default::default()
        };
        let zd = self.cfg.encoder.latent_dim;
        let ad = self.cfg.obs.action_dim;
        let h = req.horizon as usize;
        if req.start_latent.len() != zd {
            return fail(format!(
                "start_latent has {} values, latent_dim is {zd}",
                req.start_latent.len()
            ));
        }
        if h == 0 || h > 1000 || req.actions.len() != h * ad {
            return fail(format!(
                "actions must be horizon ({h}, 1..=1000) x action_dim ({ad}) values, got {}",
                req.actions.len()
            ));
        }
        if req
            .start_latent
            .iter()
            .chain(&req.actions)
            .any(|v| !v.is_finite())
        {
            return fail("non-finite input".into());
        }
        let dev = self.world.device();
        let thr = self.cfg.mbpo.disagreement_threshold;
        let mut out = ImagineRolloutResponse {
            success: true,
            model_version: self.version as u32,
            ..Default::default()
        };
        tch::no_grad(|| {
            let mut z = Tensor::from_slice(&req.start_latent)
                .reshape([1, zd as i64])
                .to_device(dev);
            for t in 0..h {
                let a = Tensor::from_slice(&req.actions[t * ad..(t + 1) * ad])
                    .reshape([1, ad as i64])
                    .clamp(-1.0, 1.0)
                    .to_device(dev);
                let pred = self.world.model.forward(&z, &a);
                let d = mbarl_learn::nets::LatentModel::disagreement(&pred).double_value(&[0]);
                if d > thr {
                    out.message = format!("stopped at step {t}: disagreement {d:.3} > {thr}");
                    break;
                }
                let r = self.world.reward.forward(&z, &a).double_value(&[0]);
                let next = pred.mean.mean_dim(0, false, Kind::Float);
                let v: Vec<f32> =
                    Vec::try_from(next.to_device(Device::Cpu).flatten(0, -1)).unwrap_or_default();
                out.latents.extend(v);
                out.rewards.push(r as f32);
                out.disagreement.push(d as f32);
                out.steps += 1;
                z = next;
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mbarl_msgs::msg::Phase;
    use mbarl_node::synth;

    #[test]
    fn records_trains_checkpoints_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = synth::small_state_config();
        let mut t = WorldTrainer::new(cfg.clone(), Device::Cpu, Some(dir.path())).unwrap();
        assert!(t.train_step().unwrap().is_none(), "no data yet");
        for tr in synth::transitions(20, Phase::FORWARD, 0, 0)
            .iter()
            .chain(&synth::transitions(20, Phase::BACKWARD, 0, 20))
        {
            t.record(tr).unwrap();
        }
        let mut bad = synth::transitions(1, Phase::FORWARD, 0, 99).remove(0);
        bad.action = vec![0.0];
        assert!(t.record(&bad).is_err());
        assert_eq!(t.rejected, 1);
        for _ in 0..5 {
            let s = t.train_step().unwrap().expect("an update");
            assert!(s.model_loss.is_finite() && s.reward_loss.is_finite());
            // The synthetic states move: an untrained model is about as far off as standing still.
            assert!(
                s.model_error_ratio.is_finite() && s.model_error_ratio > 0.0,
                "model error ratio {}",
                s.model_error_ratio
            );
        }
        let (names, values) = t.train_step().unwrap().expect("an update").named();
        assert_eq!(names.len(), values.len());
        assert_eq!(names.last().map(String::as_str), Some("model_error_ratio"));
        let ck = t.checkpoint().unwrap();
        assert_eq!(ck.meta.version, 1);
        let resp = t.imagine(&ImagineRolloutRequest {
            start_latent: vec![0.0; 8],
            actions: vec![0.1; 3 * 4],
            horizon: 3,
        });
        assert!(resp.success, "{}", resp.message);
        assert_eq!(resp.latents.len(), resp.steps as usize * 8);
        assert!(
            !t.imagine(&ImagineRolloutRequest {
                start_latent: vec![0.0; 3],
                actions: vec![],
                horizon: 1
            })
            .success
        );
        t.sync().unwrap();
        drop(t);
        let t2 = WorldTrainer::new(cfg, Device::Cpu, Some(dir.path())).unwrap();
        assert_eq!(t2.replay.len(), 40, "replay reloaded");
        assert_eq!(t2.version, 1, "checkpoint version resumed");
    }
}
