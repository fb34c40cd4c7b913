//! The learner: its phase's real transitions (persistent `<run_dir>/replay/<role>`, seeded from
//! the role's demo datasets) mixed with MBPO branched rollouts through its copy of the world
//! model (`model_based`, unless `mbpo.real_ratio` is 1), trained with the ALM policy objective
//! ([`Policy::update`]: the actor through `alm.horizon` imagined latent steps). With
//! `model_based: false` it trains on real transitions only: the model-free MEDAL baseline, as
//! does a model-based learner while `alm.max_model_error_ratio` finds its model untrustworthy.
use crate::imagined_step::{ArmLayout, ArmRule};
use crate::model_trust::ModelTrust;
use crate::{RewardChoice, Role};
use mbarl_learn::mbpo::{LatentBuffer, StateModelBuffer, branched_rollout, mixed_batch};
use mbarl_learn::medal::ClassifierTrainer;
use mbarl_learn::replay::{BufferKind, ReplayBuffer, ReplaySpec, Transition as ReplayTr};
use mbarl_learn::{
    CheckpointBytes, Component, LatentTransitions, LearnConfig, LearnError, Policy, RewardSource,
    WorldModel,
};
use mbarl_msgs::msg::{ModelCheckpoint, Transition};
use mbarl_node::convert::DynamicsRow;
use mbarl_node::store::CheckpointStore;
use mbarl_node::{Result, bundle, convert, demos};
use rand::{SeedableRng, rngs::StdRng};
use std::collections::VecDeque;
use std::path::Path;
use tch::Device;

/// Transitions kept aside to measure the model on: the newest ones recorded after the world
/// checkpoint in use was made, which it never trained on.
const HELD_OUT: usize = 256;
/// The trust gate measures once there are this many held-out transitions...
const HELD_OUT_MIN: usize = 32;
/// ...every this many updates.
const TRUST_EVERY: u64 = 10;

/// What [`PolicyTrainer::record`] did with a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A transition of this policy's own phase (it counts towards the update budget).
    Own,
    /// Another phase's transition kept for learning with this policy's reward (the backward
    /// policy's relabelled forward steps).
    Relabelled,
    /// Not this policy's to learn from.
    Ignored,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PolicyStats {
    pub critic_loss: f64,
    pub actor_loss: f64,
    pub alpha: f64,
    pub q_mean: f64,
    pub reward_mean: f64,
    pub model_transitions: f64,
    /// Imagined actor steps of this update (0: model-free, or the model not trusted).
    pub horizon: f64,
    /// The trust gate's smoothed model error ratio (NaN when `alm.max_model_error_ratio` is unset).
    pub model_error_ratio: f64,
}

impl PolicyStats {
    pub fn named(&self) -> (Vec<String>, Vec<f32>) {
        (
            [
                "critic_loss",
                "actor_loss",
                "alpha",
                "q_mean",
                "reward_mean",
                "model_buffer",
                "horizon",
                "model_error_ratio",
            ]
            .map(String::from)
            .to_vec(),
            [
                self.critic_loss,
                self.actor_loss,
                self.alpha,
                self.q_mean,
                self.reward_mean,
                self.model_transitions,
                self.horizon,
                self.model_error_ratio,
            ]
            .map(|v| v as f32)
            .to_vec(),
        )
    }
}

pub struct PolicyTrainer {
    pub cfg: LearnConfig,
    pub role: Role,
    pub model_based: bool,
    pub reward: RewardChoice,
    /// Whether the latent model is good enough to imagine with (`alm.max_model_error_ratio`).
    trust: ModelTrust,
    device: Device,
    pub world: WorldModel,
    pub policy: Policy,
    demo_clf: ClassifierTrainer,
    goal_clf: ClassifierTrainer,
    pub replay: ReplayBuffer,
    pub demos: ReplayBuffer,
    /// Every demo transition carries a task reward (demos recorded from a robot without one,
    /// or with ground truth kept out, do not: the reward head labels them).
    demos_have_task_reward: bool,
    model_buf: LatentBuffer,
    /// The newest transitions recorded since the world checkpoint in use was loaded: held-out
    /// data for the trust gate.
    held_out: VecDeque<ReplayTr>,
    /// With the state dynamics ensemble (`dynamics.enabled`): the same held-out transitions
    /// with their executed steps, the arbiter's rule for imagined actions, where the arm sits
    /// in the state, and the imagined transitions.
    held_out_steps: VecDeque<DynamicsRow>,
    arm_rule: Option<ArmRule>,
    arm_layout: Option<ArmLayout>,
    warned_layout: bool,
    state_model_buf: StateModelBuffer,
    store: Option<CheckpointStore>,
    pub world_version: u32,
    pub classifier_version: u32,
    pub updates: u64,
    pub version: u64,
    pub rejected: u64,
    rng: StdRng,
}

impl PolicyTrainer {
    pub fn new(
        cfg: LearnConfig,
        role: Role,
        model_based: bool,
        reward: RewardChoice,
        device: Device,
        run_dir: Option<&Path>,
    ) -> Result<Self> {
        let spec = ReplaySpec::from_config(&cfg);
        let kind = match role {
            Role::Forward => BufferKind::Forward,
            Role::Backward => BufferKind::Backward,
        };
        let replay = match run_dir {
            Some(d) => ReplayBuffer::open_kind(d, kind, spec, &cfg.replay)?.0,
            None => ReplayBuffer::in_memory(spec, cfg.replay.capacity),
        };
        let mut demos_buf = ReplayBuffer::in_memory(spec, cfg.replay.capacity);
        let mut rejected = 0;
        let mut demos_have_task_reward = true;
        if let Some(d) = run_dir {
            let loaded = demos::load_role(d, role.name())?;
            let mut first_refusal = None;
            for t in &loaded {
                demos_have_task_reward &= t.has_task_reward;
                if let Err(e) = convert::transition(t, &cfg, convert::task_reward(t), true)
                    .and_then(|r| Ok(demos_buf.append(&r)?))
                {
                    rejected += 1;
                    if first_refusal.is_none() {
                        first_refusal = Some(e.to_string());
                    }
                    tracing::warn!("demo transition refused: {e}");
                }
            }
            // Demonstrations that do not fit the learn config (its sizes against the robot's):
            // training on without any would look like learning and is not.
            if !loaded.is_empty() && demos_buf.is_empty() {
                return Err(mbarl_node::NodeError::Config(format!(
                    "all {} {} demonstrations were refused: {}; the learn config's obs sizes do \
                     not fit the robot (or the demos were recorded from another)",
                    loaded.len(),
                    role.name(),
                    first_refusal.unwrap_or_default()
                )));
            }
        }
        // Model-free (MEDAL): no imagined rollouts for the actor either, SAC's actor on real
        // latents; model-based: the ALM actor through the latent model (alm.horizon steps).
        let mut cfg = cfg;
        if !model_based {
            cfg.alm.horizon = 0;
        }
        let mut policy = Policy::new(&cfg, device)?;
        let store =
            run_dir.map(|d| CheckpointStore::new(d, &bundle::policy_bundle(role.name()), 5));
        let mut version = 0;
        if let Some(ck) = store.as_ref().and_then(|s| s.load_newest()) {
            match bundle::load_policy(&mut policy, &cfg, role.name(), &ck) {
                Ok(m) => version = m.version,
                Err(e) => tracing::warn!("stored policy checkpoint not loaded: {e}"),
            }
        }
        Ok(Self {
            world: WorldModel::new(&cfg, device)?,
            demo_clf: ClassifierTrainer::new(&cfg, device, Component::DemoClassifier)?,
            goal_clf: ClassifierTrainer::new(&cfg, device, Component::GoalClassifier)?,
            model_buf: LatentBuffer::new(
                cfg.mbpo.model_buffer_capacity,
                cfg.encoder.latent_dim,
                cfg.obs.action_dim,
                device,
            ),
            rng: StdRng::seed_from_u64(cfg.seed ^ role as u64),
            trust: ModelTrust::new(cfg.alm.max_model_error_ratio),
            held_out: VecDeque::with_capacity(HELD_OUT),
            held_out_steps: VecDeque::with_capacity(HELD_OUT),
            arm_rule: None,
            arm_layout: None,
            warned_layout: false,
            state_model_buf: StateModelBuffer::new(
                cfg.mbpo.model_buffer_capacity,
                cfg.obs.state_dim,
                cfg.obs.action_dim,
                device,
            ),
            policy,
            cfg,
            role,
            model_based,
            reward,
            device,
            replay,
            demos: demos_buf,
            demos_have_task_reward,
            store,
            world_version: 0,
            classifier_version: 0,
            updates: 0,
            version,
            rejected,
        })
    }

    /// Replay records of this policy's own phase: what its update budget counts (relabelled
    /// records ride along), so a resumed node owes the updates the running one did.
    pub fn own_records(&self) -> usize {
        convert::phase(self.role.phase()).map_or(0, |p| self.replay.count_phase(p))
    }

    /// Records a transition this policy learns from ([`crate::learns_from`]): its own
    /// phase's, and the backward policy's relabelled forward steps. `task_reward` overrides
    /// the transition's own reward (the task reward topic).
    pub fn record(&mut self, t: &Transition, task_reward: Option<f32>) -> Result<Recorded> {
        let relabel = self.cfg.medal.backward_learns_from_all;
        if !crate::learns_from(self.role, self.reward, relabel, t.phase) {
            return Ok(Recorded::Ignored);
        }
        let r = task_reward.unwrap_or_else(|| convert::task_reward(t));
        let rec = match convert::transition(t, &self.cfg, r, false) {
            Ok(rec) => rec,
            Err(e) => {
                self.rejected += 1;
                return Err(e);
            }
        };
        if let Err(e) = self.replay.append(&rec) {
            self.rejected += 1;
            return Err(e.into());
        }
        if self.world_version != 0 {
            if self.held_out.len() == HELD_OUT {
                self.held_out.pop_front();
            }
            self.held_out.push_back(rec);
        }
        if self.dynamics_mode() {
            if self.arm_layout.is_none() {
                self.arm_layout = ArmLayout::of(&t.observation, &self.cfg);
                if self.arm_layout.is_none() && !self.warned_layout {
                    self.warned_layout = true;
                    tracing::warn!(
                        state_dim = self.cfg.obs.state_dim,
                        "dynamics.enabled: the state has no command leads (obs.state_dim = task \
                         state + 3 x joints), so no step can be imagined: this policy learns \
                         from real steps only"
                    );
                }
            }
            if self.world_version != 0
                && let Ok(row) = DynamicsRow::of(t, &self.cfg)
            {
                if self.held_out_steps.len() == HELD_OUT {
                    self.held_out_steps.pop_front();
                }
                self.held_out_steps.push_back(row);
            }
        }
        Ok(if t.phase == self.role.phase() {
            Recorded::Own
        } else {
            Recorded::Relabelled
        })
    }

    /// The arbiter's rule for imagined actions (the robot profile's limits and workspace):
    /// without it a policy does not imagine with the state dynamics ensemble.
    pub fn set_arm_rule(&mut self, rule: ArmRule) {
        self.arm_rule = Some(rule);
    }

    /// Whether this policy learns with the state dynamics ensemble (`dynamics.enabled`).
    fn dynamics_mode(&self) -> bool {
        self.model_based && self.world.dynamics.is_some()
    }

    /// The trust gate's measurement: the model's one-step error ratio on the held-out
    /// transitions, with the encoder's means (`None` while there are too few). In dynamics
    /// mode, the state dynamics ensemble's ([`mbarl_learn::dynamics::StateDynamics::error_ratio`],
    /// its elites' means) on their executed steps.
    fn held_out_error_ratio(&self) -> Result<Option<f64>> {
        if let (true, Some(model)) = (self.dynamics_mode(), &self.world.dynamics) {
            if self.held_out_steps.len() < HELD_OUT_MIN {
                return Ok(None);
            }
            return Ok(model.error_ratio(&DynamicsRow::batch(self.held_out_steps.iter()))?);
        }
        if self.held_out.len() < HELD_OUT_MIN {
            return Ok(None);
        }
        let obs: Vec<_> = self.held_out.iter().map(|r| &r.obs).collect();
        let next: Vec<_> = self.held_out.iter().map(|r| &r.next_obs).collect();
        let actions: Vec<f32> = self
            .held_out
            .iter()
            .flat_map(|r| r.action.iter().copied())
            .collect();
        let action = tch::Tensor::from_slice(&actions)
            .reshape([self.held_out.len() as i64, self.cfg.obs.action_dim as i64]);
        Ok(self.world.model_error_ratio(
            &convert::obs_batch(&obs, &self.cfg),
            &action,
            &convert::obs_batch(&next, &self.cfg),
        )?)
    }

    /// A newer world model: new latent space, so the model buffer starts over.
    pub fn load_world(&mut self, msg: &ModelCheckpoint) -> Result<bool> {
        if self.world_version != 0 && msg.version <= self.world_version {
            return Ok(false);
        }
        let ck = bundle::from_msg(msg)?;
        bundle::load_world_model(&mut self.world, &self.cfg, &ck)?;
        self.world_version = msg.version;
        // what was recorded before this checkpoint may have trained it
        self.held_out.clear();
        self.held_out_steps.clear();
        self.model_buf = LatentBuffer::new(
            self.cfg.mbpo.model_buffer_capacity,
            self.cfg.encoder.latent_dim,
            self.cfg.obs.action_dim,
            self.device,
        );
        Ok(true)
    }

    pub fn load_classifiers(&mut self, msg: &ModelCheckpoint) -> Result<bool> {
        if self.classifier_version != 0 && msg.version <= self.classifier_version {
            return Ok(false);
        }
        let ck = bundle::from_msg(msg)?;
        bundle::load_classifiers(&mut self.demo_clf, &mut self.goal_clf, &self.cfg, &ck)?;
        self.classifier_version = msg.version;
        Ok(true)
    }

    /// Why training waits, if it does.
    pub fn waiting_for(&self) -> Option<&'static str> {
        if self.world_version == 0 {
            return Some("a world-model checkpoint");
        }
        if self.reward != RewardChoice::Task && self.classifier_version == 0 {
            return Some("a classifier checkpoint");
        }
        if self.replay.len() + self.demos.len() < self.cfg.alm.batch_size {
            return Some("data");
        }
        None
    }

    /// One policy update. `Ok(None)` while waiting (see [`PolicyTrainer::waiting_for`]).
    pub fn train_step(&mut self) -> Result<Option<PolicyStats>> {
        if self.waiting_for().is_some() {
            return Ok(None);
        }
        let n = self.cfg.alm.batch_size;
        let (nr, nd) = (self.replay.len(), self.demos.len());
        // demos in every batch (RLPD-style) while there are any; all demos before real data
        let n_demo = match (nd, nr) {
            (0, _) => 0,
            (_, 0) => n,
            _ => ((n as f64 * self.cfg.alm.demo_batch_ratio).round() as usize).min(n),
        };
        let sample = |buf: &ReplayBuffer, k: usize, rng: &mut StdRng| match buf.sample(k, rng) {
            Ok(b) => Ok(Some(b)),
            Err(LearnError::NotEnoughData(_)) => Ok(None),
            Err(e) => Err(e),
        };
        // A classifier reward on the standardised state (`medal.input`) is computed here, from
        // the real next observations, and goes into the batch like a recorded reward.
        let state_classifier = match self.reward {
            RewardChoice::Task => None,
            _ if !self.cfg.classifier_reads_state() => None,
            RewardChoice::GoalClassifier => Some(&self.goal_clf),
            RewardChoice::DemoClassifier => Some(&self.demo_clf),
        };
        let latents = |b: &mbarl_learn::TransitionBatch| -> Result<LatentTransitions> {
            let mut lt = self.world.latent_transitions(b)?;
            if let Some(clf) = state_classifier {
                lt.reward = clf.reward(&self.world.classifier_input(&b.next_obs)?);
            }
            Ok(lt)
        };
        let demo_part = match n_demo {
            0 => None,
            k => match sample(&self.demos, k, &mut self.rng)? {
                Some(b) => {
                    let mut d = latents(&b)?;
                    if self.reward == RewardChoice::Task && !self.demos_have_task_reward {
                        // Demos without a task reward: the reward head's estimate, not 0
                        // (0 is the best -distance reward: every demo step would look perfect).
                        d.reward = tch::no_grad(|| self.world.reward.forward(&d.z, &d.action));
                    }
                    Some(d)
                }
                None => return Ok(None),
            },
        };
        // the replay states the state dynamics ensemble branches from
        let mut starts = None;
        let real = match n - n_demo {
            0 => None,
            k => match sample(&self.replay, k, &mut self.rng)? {
                Some(b) => {
                    starts = b.obs.state.as_ref().map(|s| s.shallow_clone());
                    Some(latents(&b)?)
                }
                None => return Ok(None),
            },
        };
        let real = match (&real, &demo_part) {
            (Some(r), Some(d)) => LatentTransitions::cat(&[r, d]),
            (Some(r), None) => r.shallow(),
            (None, Some(d)) => d.shallow(),
            (None, None) => return Ok(None),
        };
        let medal = self.cfg.medal.clone();
        let source = match self.reward {
            // the state classifier's rewards are in the batch already
            _ if state_classifier.is_some() => RewardSource::Task,
            RewardChoice::Task => RewardSource::Task,
            RewardChoice::GoalClassifier => RewardSource::Classifier(&self.goal_clf.net, &medal),
            RewardChoice::DemoClassifier => RewardSource::Classifier(&self.demo_clf.net, &medal),
        };
        // Model-based, the policy imagines only with a model it trusts (module model_trust),
        // measured on held-out transitions; otherwise this update is the model-free one.
        if self.model_based && self.trust.measures() && self.updates.is_multiple_of(TRUST_EVERY) {
            self.trust.observe(self.held_out_error_ratio()?);
        }
        // Imagined steps need rewards in latent space: a state classifier gives none there, so
        // a policy on its reward learns from real steps only.
        // The world model's reward head learns the forward task's reward: a backward policy on
        // a reward topic of its own has none in latent space either.
        let own_reward = self.role == Role::Backward && self.reward == RewardChoice::Task;
        // With the state dynamics ensemble the model reaches the policy through MBPO rollouts
        // below, not through the latent model.
        let dynamics = self.dynamics_mode();
        let imagine = !dynamics
            && self.model_based
            && self.trust.trusted()
            && state_classifier.is_none()
            && !own_reward;
        self.policy
            .set_horizon(if imagine { self.cfg.alm.horizon } else { 0 });
        // `mbpo.real_ratio: 1` (the state preset): the critics take no imagined transitions, so
        // no rollouts are made for them; the actor still imagines through the model (ALM).
        // (a backward policy on a reward topic of its own has no reward for imagined steps)
        let branch =
            dynamics && self.trust.trusted() && self.cfg.mbpo.real_ratio < 1.0 && !own_reward;
        let train = if branch {
            if let (Some(start), Some(model), Some(rule), Some(layout)) = (
                &starts,
                &self.world.dynamics,
                &self.arm_rule,
                self.arm_layout,
            ) {
                let k = self.cfg.mbpo.rollout_batch.min(start.size()[0] as usize) as i64;
                imagine_states(
                    &ImaginedSteps {
                        world: &self.world,
                        model,
                        actor: &self.policy.actor,
                        rule,
                        layout,
                        steps: self.cfg.mbpo.rollout_length,
                        threshold: self.cfg.mbpo.disagreement_threshold,
                        task_reward: matches!(source, RewardSource::Task)
                            && state_classifier.is_none(),
                    },
                    &start.narrow(0, 0, k),
                    &mut self.state_model_buf,
                )?;
            }
            let n_model = ((n as f64) * (1.0 - self.cfg.mbpo.real_ratio)).round() as usize;
            if self.state_model_buf.is_empty() || n_model == 0 {
                real
            } else {
                let model_part = latents(&self.state_model_buf.sample(n_model, &mut self.rng)?)?;
                let r = real.len();
                let idx: Vec<i64> = (0..n.saturating_sub(n_model))
                    .map(|_| rand::Rng::gen_range(&mut self.rng, 0..r))
                    .collect();
                LatentTransitions::cat(&[&real.rows(&tch::Tensor::from_slice(&idx)), &model_part])
            }
        } else if imagine && self.cfg.mbpo.real_ratio < 1.0 {
            let k = self.cfg.mbpo.rollout_batch.min(real.len() as usize) as i64;
            let start = real.z.narrow(0, 0, k);
            let world = &self.world;
            let reward_fn = |z: &tch::Tensor, a: &tch::Tensor, zn: &tch::Tensor| match source {
                RewardSource::Task => world.reward.forward(z, a),
                RewardSource::Classifier(f, m) => {
                    mbarl_learn::medal::backward_reward(&f.logits(zn), m)
                }
            };
            let roll = branched_rollout(
                &world.model,
                &self.policy.actor,
                &reward_fn,
                &start,
                self.cfg.mbpo.rollout_length,
                self.cfg.mbpo.disagreement_threshold,
            )?;
            self.model_buf.push(&roll.transitions)?;
            mixed_batch(
                &real,
                &self.model_buf,
                self.cfg.mbpo.real_ratio,
                n,
                &mut self.rng,
            )?
        } else {
            real
        };
        let reward_mean = match source {
            RewardSource::Task => train.reward.mean(tch::Kind::Float).double_value(&[]),
            RewardSource::Classifier(f, m) => {
                tch::no_grad(|| mbarl_learn::medal::backward_reward(&f.logits(&train.z_next), m))
                    .mean(tch::Kind::Float)
                    .double_value(&[])
            }
        };
        let (critic_loss, actor_loss, alpha, q_mean) =
            self.policy
                .update_with_demos(&self.world, &train, source, demo_part.as_ref())?;
        self.updates += 1;
        Ok(Some(PolicyStats {
            critic_loss,
            actor_loss,
            alpha,
            q_mean,
            reward_mean,
            model_transitions: if dynamics {
                self.state_model_buf.len() as f64
            } else {
                self.model_buf.len() as f64
            },
            horizon: self.policy.horizon() as f64,
            model_error_ratio: self.trust.average(),
        }))
    }

    /// The current actor/critic bundle (next version); `persist` also saves it.
    pub fn checkpoint(&mut self, persist: bool) -> Result<CheckpointBytes> {
        self.version += 1;
        let ck = bundle::save_policy(&self.policy, &self.cfg, self.role.name(), self.version)?;
        if persist && let Some(s) = &self.store {
            s.save(&ck)?;
        }
        Ok(ck)
    }

    pub fn sync(&mut self) -> Result<()> {
        Ok(self.replay.sync()?)
    }
}

/// What an MBPO rollout through the state dynamics ensemble needs.
struct ImaginedSteps<'a> {
    world: &'a WorldModel,
    model: &'a mbarl_learn::dynamics::StateDynamics,
    actor: &'a mbarl_learn::nets::Actor,
    rule: &'a ArmRule,
    layout: ArmLayout,
    steps: usize,
    threshold: f64,
    /// Label the imagined steps with the world model's reward head (the task reward); else
    /// the classifier gives their reward when a batch is made.
    task_reward: bool,
}

/// MBPO branched rollouts from real states `start` (B, S): at each step the policy's sampled
/// action, the step the arbiter would execute for it ([`ArmRule`]), and a next state from one
/// random elite; a branch stops where the elites disagree more than the threshold. The steps
/// go into `buf` with the *requested* action, as real steps are recorded. Returns how many.
fn imagine_states(
    r: &ImaginedSteps,
    start: &tch::Tensor,
    buf: &mut StateModelBuffer,
) -> Result<usize> {
    let mut s = start.shallow_clone();
    let mut added = 0;
    for _ in 0..r.steps {
        if s.size()[0] == 0 {
            break;
        }
        let z = r
            .world
            .encode_mean(&mbarl_learn::ObsBatch::from_state(s.shallow_clone()))?;
        let a = r.actor.act(&z, false);
        let executed = r.rule.executed_batch(r.layout, &s, &a);
        let (next, disagreement) = r.model.sample_next(&s, &executed)?;
        let keep = disagreement.le(r.threshold).nonzero().squeeze_dim(1);
        let (s_k, a_k, n_k, z_k) = (
            s.index_select(0, &keep),
            a.index_select(0, &keep),
            next.index_select(0, &keep),
            z.index_select(0, &keep),
        );
        let reward = if r.task_reward {
            tch::no_grad(|| r.world.reward.forward(&z_k, &a_k))
        } else {
            tch::Tensor::zeros([keep.size()[0]], (tch::Kind::Float, s.device()))
        };
        buf.push(&s_k, &a_k, &reward, &n_k)?;
        added += keep.size()[0] as usize;
        s = n_k;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acting::ActingPolicy;
    use crate::select_reward;
    use mbarl_msgs::msg::Phase;
    use mbarl_node::synth;

    fn world_msg(cfg: &LearnConfig, v: u64) -> ModelCheckpoint {
        let w = WorldModel::new(cfg, Device::Cpu).unwrap();
        bundle::to_msg(
            &bundle::save_world_model(&w, cfg, v).unwrap(),
            Default::default(),
        )
    }

    fn classifier_msg(cfg: &LearnConfig, v: u64) -> ModelCheckpoint {
        let d = ClassifierTrainer::new(cfg, Device::Cpu, Component::DemoClassifier).unwrap();
        let g = ClassifierTrainer::new(cfg, Device::Cpu, Component::GoalClassifier).unwrap();
        bundle::to_msg(
            &bundle::save_classifiers(&d, &g, cfg, v).unwrap(),
            Default::default(),
        )
    }

    fn run(role: Role, model_based: bool, has_task: bool) {
        run_cfg(synth::small_state_config(), role, model_based, has_task);
    }

    /// A classifier reward on the standardised state exists for real steps only, so a
    /// model-based policy on it does not imagine; on latents it does.
    fn run_cfg(cfg: LearnConfig, role: Role, model_based: bool, has_task: bool) {
        let on_state_classifier =
            select_reward(role, has_task) != RewardChoice::Task && cfg.classifier_reads_state();
        let imagines = model_based && !on_state_classifier;
        let horizon = if imagines { cfg.alm.horizon } else { 0 };
        let s = run_with(cfg, role, model_based, has_task, imagines);
        assert_eq!(s.horizon, horizon as f64);
        assert!(
            s.model_error_ratio.is_nan(),
            "nothing measured without a limit"
        );
    }

    /// The critics' batch: imagined transitions only when model-based with `real_ratio` < 1.
    #[test]
    fn real_ratio_one_makes_no_rollouts() {
        let mut cfg = synth::small_state_config();
        cfg.mbpo.real_ratio = 1.0;
        run_with(cfg, Role::Forward, true, true, false);
    }

    /// The trust gate: a model no better than "nothing changes" (an untrained one, ratio ≈ 1
    /// or more) gets no imagined steps; a generous limit lets the same model imagine.
    #[test]
    fn an_untrusted_model_makes_the_update_model_free() {
        let mut cfg = synth::small_state_config();
        cfg.mbpo.real_ratio = 0.5;
        cfg.alm.horizon = 3;
        cfg.alm.max_model_error_ratio = Some(0.5);
        let s = run_with(cfg.clone(), Role::Forward, true, true, false);
        assert_eq!(s.horizon, 0.0);
        assert!(s.model_error_ratio > 0.5, "{}", s.model_error_ratio);
        cfg.alm.max_model_error_ratio = Some(1e6);
        let s = run_with(cfg, Role::Forward, true, true, true);
        assert_eq!(s.horizon, 3.0);
        assert!(s.model_error_ratio.is_finite());
    }

    /// Returns the last update's stats.
    fn run_with(
        cfg: LearnConfig,
        role: Role,
        model_based: bool,
        has_task: bool,
        imagines: bool,
    ) -> PolicyStats {
        let dir = tempfile::tempdir().unwrap();
        let reward = select_reward(role, has_task);
        let mut t = PolicyTrainer::new(
            cfg.clone(),
            role,
            model_based,
            reward,
            Device::Cpu,
            Some(dir.path()),
        )
        .unwrap();
        let mut own = 0;
        for tr in synth::transitions(30, Phase::FORWARD, 0, 0)
            .iter()
            .chain(&synth::transitions(30, Phase::BACKWARD, 0, 30))
        {
            own += (t.record(tr, None).unwrap() == Recorded::Own) as usize;
        }
        assert_eq!(own, 30, "its own phase's transitions");
        // the backward policy on the demo-state reward learns from the forward steps too
        let relabels =
            role == Role::Backward && crate::learns_from(role, reward, true, Phase::FORWARD);
        assert_eq!(t.replay.len(), if relabels { 60 } else { 30 });
        // what a resumed node counts towards its update budget: its own phase's records only
        assert_eq!(t.own_records(), 30);
        assert_eq!(t.waiting_for(), Some("a world-model checkpoint"));
        assert!(t.train_step().unwrap().is_none());
        assert!(t.load_world(&world_msg(&cfg, 1)).unwrap());
        if reward != RewardChoice::Task {
            assert_eq!(t.waiting_for(), Some("a classifier checkpoint"));
            assert!(t.load_classifiers(&classifier_msg(&cfg, 1)).unwrap());
        }
        // The trust gate measures on transitions the loaded world model never trained on:
        // none were recorded since its checkpoint, so nothing is measured yet.
        let first = t.train_step().unwrap().expect("an update");
        assert!(first.model_error_ratio.is_nan(), "no held-out data yet");
        for tr in &synth::transitions(HELD_OUT_MIN, role.phase(), 1, 100) {
            t.record(tr, None).unwrap();
        }
        t.updates = 0; // the gate measures on this update
        let mut last = PolicyStats::default();
        for _ in 0..4 {
            let s = t.train_step().unwrap().expect("an update");
            assert!(s.critic_loss.is_finite() && s.actor_loss.is_finite());
            assert_eq!(s.model_transitions > 0.0, imagines);
            last = s;
        }
        // hand the weights to the acting side
        let ck = t.checkpoint(true).unwrap();
        let mut acting = ActingPolicy::new(cfg.clone(), role, Device::Cpu).unwrap();
        let obs = synth::observation(0, [0.0, 0.1, 0.2, 0.3]);
        assert_eq!(
            acting.act(&obs, false).unwrap(),
            vec![0.0; 4],
            "zeros before a world model"
        );
        acting.offer_world(&world_msg(&cfg, 1)).unwrap();
        acting.load_policy(&ck).unwrap();
        let a = acting.act(&obs, true).unwrap();
        assert_eq!(a.len(), 4);
        assert!(a.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_eq!(a, acting.act(&obs, true).unwrap(), "deterministic in EVAL");
        last
    }

    /// Transitions whose observations carry the command before them (lead 0): an executed
    /// step for the state dynamics ensemble.
    fn commanded(n: usize, phase: u8, cycle: u32, start: u64) -> Vec<Transition> {
        let mut v = synth::transitions(n, phase, cycle, start);
        for t in &mut v {
            t.observation.joint_command = t.observation.joint_position.clone();
            t.next_observation.joint_command = t.commanded_position.clone();
        }
        v
    }

    /// With the state dynamics ensemble: the gate measures it on the newest executed steps
    /// with its elites' means, and a trusted model adds MBPO rollouts (the arbiter's rule for
    /// the imagined steps) to the critics' batch; the latent model is not imagined through.
    #[test]
    fn a_trusted_state_dynamics_ensemble_adds_rollouts() {
        let mut cfg = synth::small_state_config();
        cfg.obs.state_dim = 12; // 4 positions, 4 velocities, 4 command leads
        cfg.dynamics.enabled = true;
        cfg.dynamics.members = 3;
        cfg.dynamics.elites = 2;
        cfg.dynamics.hidden = vec![16];
        cfg.dynamics.max_epochs = 20;
        cfg.mbpo.real_ratio = 0.5;
        cfg.mbpo.disagreement_threshold = 1e6;
        let rule = ArmRule {
            limits: phase_arbiter::limits::JointLimits::new(
                (1..=4).map(|i| format!("joint{i}")).collect(),
                vec![-3.0; 4],
                vec![3.0; 4],
                vec![10.0; 4],
                vec![0.05; 4],
            )
            .unwrap(),
            workspace: None,
            period_s: 0.05,
        };
        let train = commanded(200, Phase::FORWARD, 0, 0);
        let mut world = WorldModel::new(&cfg, Device::Cpu).unwrap();
        let rows: Vec<DynamicsRow> = train
            .iter()
            .map(|t| DynamicsRow::of(t, &cfg).unwrap())
            .collect();
        let fit = world
            .dynamics
            .as_mut()
            .unwrap()
            .fit(&DynamicsRow::batch(rows.iter()))
            .unwrap();
        assert!(fit.held_out_error_ratio.is_some());
        let msg = bundle::to_msg(
            &bundle::save_world_model(&world, &cfg, 1).unwrap(),
            Default::default(),
        );
        // the last case: a backward policy on a reward topic of its own has no reward for
        // imagined steps, so it makes none even with a trusted model
        for (role, limit, rolls) in [
            (Role::Forward, 1e6, true),
            (Role::Forward, 1e-9, false),
            (Role::Backward, 1e6, false),
        ] {
            cfg.alm.max_model_error_ratio = Some(limit);
            let mut t = PolicyTrainer::new(
                cfg.clone(),
                role,
                true,
                RewardChoice::Task,
                Device::Cpu,
                None,
            )
            .unwrap();
            t.set_arm_rule(rule.clone());
            for tr in &train[..40] {
                t.record(tr, None).unwrap();
            }
            assert!(t.load_world(&msg).unwrap());
            for tr in &commanded(HELD_OUT_MIN, role.phase(), 1, 300) {
                t.record(tr, None).unwrap();
            }
            t.updates = 0; // the gate measures on this update
            let mut last = PolicyStats::default();
            for _ in 0..3 {
                last = t.train_step().unwrap().expect("an update");
                assert!(last.critic_loss.is_finite());
            }
            assert!(
                last.model_error_ratio.is_finite(),
                "measured on held-out steps"
            );
            assert_eq!(last.horizon, 0.0, "no latent imagination");
            assert_eq!(
                last.model_transitions > 0.0,
                rolls,
                "limit {limit}: {last:?}"
            );
        }
    }

    #[test]
    fn forward_task_reward_model_based() {
        run(Role::Forward, true, true);
    }

    #[test]
    fn forward_goal_classifier_model_free() {
        run(Role::Forward, false, false);
    }

    #[test]
    fn backward_demo_classifier_model_based() {
        run(Role::Backward, true, false);
        let mut latent = synth::small_state_config();
        latent.medal.input = mbarl_learn::config::ClassifierInput::Latent;
        run_cfg(latent, Role::Backward, true, false);
    }

    /// The backward policy's rewards are the demo-state classifier's on the next state, for
    /// its own steps and the relabelled forward ones alike: a batch's rewards equal the
    /// classifier's reward of the batch's next observations.
    #[test]
    fn relabelled_backward_rewards_come_from_the_demo_state_classifier() {
        let cfg = synth::small_state_config();
        let dir = tempfile::tempdir().unwrap();
        let mut t = PolicyTrainer::new(
            cfg.clone(),
            Role::Backward,
            false,
            RewardChoice::DemoClassifier,
            Device::Cpu,
            Some(dir.path()),
        )
        .unwrap();
        t.load_world(&world_msg(&cfg, 1)).unwrap();
        t.load_classifiers(&classifier_msg(&cfg, 1)).unwrap();
        // forward steps only, with a task reward the backward policy must not use
        let mut forward = synth::transitions(40, Phase::FORWARD, 0, 0);
        for tr in &mut forward {
            tr.task_reward = 100.0;
            tr.has_task_reward = true;
        }
        for tr in &forward {
            assert_eq!(t.record(tr, Some(100.0)).unwrap(), Recorded::Relabelled);
        }
        let mut rng = StdRng::seed_from_u64(1);
        let b = t.replay.sample(16, &mut rng).unwrap();
        let clf_reward = t
            .demo_clf
            .reward(&t.world.classifier_input(&b.next_obs).unwrap());
        let rewards: Vec<f32> = Vec::try_from(&clf_reward).unwrap();
        assert!(
            rewards
                .iter()
                .all(|r| (0.0..=cfg.medal.reward_clamp as f32).contains(r))
        );
        let s = t
            .train_step()
            .unwrap()
            .expect("an update from relabelled steps");
        assert!(
            s.reward_mean < 50.0,
            "the classifier's reward, not the task's: {s:?}"
        );
    }

    /// Demonstrations that all fail the learn config (say, recorded from a 7-joint arm for a
    /// 4-joint config) stop the policy at start-up naming why; some fitting ones are kept.
    #[test]
    fn demos_that_do_not_fit_the_learn_config_stop_start_up() {
        let run = tempfile::tempdir().unwrap();
        let cfg = synth::small_state_config();
        let mut wrong = synth::transitions(5, Phase::FORWARD, 0, 0);
        for t in &mut wrong {
            for o in [&mut t.observation, &mut t.next_observation] {
                o.joint_position = vec![0.1; 7];
                o.joint_velocity = vec![0.0; 7];
            }
        }
        synth::write_demo_dataset(run.path(), "forward", "seven", &wrong).unwrap();
        let err = PolicyTrainer::new(
            cfg.clone(),
            Role::Forward,
            false,
            RewardChoice::Task,
            Device::Cpu,
            Some(run.path()),
        )
        .err()
        .expect("refused")
        .to_string();
        assert!(
            err.contains("all 5 forward demonstrations were refused"),
            "{err}"
        );
        assert!(err.contains("obs.state_dim"), "{err}");
        // one fitting dataset beside it: the trainer starts, counting the refused ones
        let good = synth::transitions(5, Phase::FORWARD, 0, 0);
        synth::write_demo_dataset(run.path(), "forward", "four", &good).unwrap();
        let t = PolicyTrainer::new(
            cfg,
            Role::Forward,
            false,
            RewardChoice::Task,
            Device::Cpu,
            Some(run.path()),
        )
        .unwrap();
        assert_eq!((t.demos.len(), t.rejected), (5, 5));
    }
}
