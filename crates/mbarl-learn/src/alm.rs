//! ALM (Aligned Latent Models): one objective for encoder, latent model and policy.
//!
//! Per update ([`AlmAgent::update`]):
//! 1. **Encoder + model** ([`WorldModel::update_model`]) on length-K sequences, maximising the
//!    K-step lower bound
//!    `Σ_t [ r̂(z_t, a_t) − KL(m(·|z_t, a_t) ‖ e_target(·|s_{t+1})) ] + Q(z_K, π(z_K))`,
//!    with z_0 ~ e(·|s_0), z_{t+1} ~ m(·|z_t, a_t) (one random ensemble member per row; every
//!    member's KL is trained); the reward head, critics and actor are frozen in this loss.
//! 2. **Reward head and latent classifier** ([`WorldModel::update_heads`]) on z, z′ from the target
//!    encoder: MSE to the recorded reward; BCE of C(z′, a, z) for real z′ vs model-imagined z′.
//! 3. **Critics** ([`Policy::update`]): twin-Q TD loss with soft (entropy) targets from Polyak
//!    target critics.
//! 4. **Actor**: λ-returns over imagined latent rollouts of length H through the (frozen) model,
//!    with rewards r̂ + c·log C/(1−C) − α·log π, bootstrapped by min Q; α tuned to a target entropy.
//! 5. Polyak updates of the target encoder and target critics (in place, no autograd).
use crate::config::{Component, LearnConfig, MedalConfig};
use crate::dynamics::StateDynamics;
use crate::error::{LearnError, Result};
use crate::medal::backward_reward;
use crate::nets::{
    self, Actor, Encoder, Frozen, LatentClassifier, LatentModel, ObsBatch, RewardHead,
    StateClassifier, TwinCritic,
};
use crate::optim::Adam;
use tch::nn;
use tch::{Device, Kind, Reduction, Tensor};

/// Length-K sequences, time-major: obs (K+1, B, …), actions (K, B, A), rewards (K, B),
/// dones (K, B) with 1.0 where the episode terminated after that step.
#[derive(Debug)]
pub struct SequenceBatch {
    pub obs: ObsBatch,
    pub actions: Tensor,
    pub rewards: Tensor,
    pub dones: Tensor,
}

/// Single transitions: obs (B, …), action (B, A), reward (B), next_obs (B, …), done (B).
#[derive(Debug)]
pub struct TransitionBatch {
    pub obs: ObsBatch,
    pub action: Tensor,
    pub reward: Tensor,
    pub next_obs: ObsBatch,
    pub done: Tensor,
}

impl SequenceBatch {
    /// Number of transitions per sequence (K).
    pub fn seq_len(&self) -> i64 {
        self.actions.size()[0]
    }

    /// Batch size (B).
    pub fn batch_size(&self) -> i64 {
        self.actions.size()[1]
    }

    /// The transitions at step t of every sequence.
    pub fn transition(&self, t: i64) -> TransitionBatch {
        TransitionBatch {
            obs: self.obs.get(t),
            action: self.actions.get(t),
            reward: self.rewards.get(t),
            next_obs: self.obs.get(t + 1),
            done: self.dones.get(t),
        }
    }
}

/// Transitions in latent space (what the policy and MBPO work on).
#[derive(Debug)]
pub struct LatentTransitions {
    pub z: Tensor,
    pub action: Tensor,
    pub reward: Tensor,
    pub z_next: Tensor,
    pub done: Tensor,
}

impl LatentTransitions {
    /// The rows `idx` (a 1-d index tensor on any device).
    pub fn rows(&self, idx: &Tensor) -> LatentTransitions {
        let pick = |x: &Tensor| x.index_select(0, &idx.to_device(x.device()));
        LatentTransitions {
            z: pick(&self.z),
            action: pick(&self.action),
            reward: pick(&self.reward),
            z_next: pick(&self.z_next),
            done: pick(&self.done),
        }
    }

    /// Concatenates along the batch dimension (e.g. real + model transitions).
    pub fn cat(parts: &[&LatentTransitions]) -> LatentTransitions {
        let f = |g: fn(&LatentTransitions) -> &Tensor| {
            Tensor::cat(&parts.iter().map(|p| g(p)).collect::<Vec<_>>(), 0)
        };
        LatentTransitions {
            z: f(|p| &p.z),
            action: f(|p| &p.action),
            reward: f(|p| &p.reward),
            z_next: f(|p| &p.z_next),
            done: f(|p| &p.done),
        }
    }

    /// A view sharing the same tensors.
    pub fn shallow(&self) -> LatentTransitions {
        LatentTransitions {
            z: self.z.shallow_clone(),
            action: self.action.shallow_clone(),
            reward: self.reward.shallow_clone(),
            z_next: self.z_next.shallow_clone(),
            done: self.done.shallow_clone(),
        }
    }

    pub fn len(&self) -> i64 {
        self.z.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a policy's rewards come from.
#[derive(Clone, Copy)]
pub enum RewardSource<'a> {
    /// The learned reward head r̂(z, a) for imagined steps, the recorded reward for real ones.
    Task,
    /// A state classifier's reward −log(1 − f(z′)) (clamped, scaled) on the next latent, for
    /// both: MEDAL's backward reward with the demo classifier, or a goal-classifier reward.
    Classifier(&'a StateClassifier, &'a MedalConfig),
}

/// Scalars of one update, for logging.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AlmStats {
    pub model_loss: f64,
    pub kl: f64,
    pub reward_loss: f64,
    pub classifier_loss: f64,
    pub critic_loss: f64,
    pub actor_loss: f64,
    pub alpha: f64,
    pub q_mean: f64,
}

pub(crate) fn finite(t: &Tensor, what: &'static str) -> Result<f64> {
    let v = t.f_double_value(&[])?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(LearnError::NonFinite { what, value: v })
    }
}

/// Global-norm gradient clipping over `params` (no clipping for max ≤ 0). A non-finite gradient
/// norm zeroes the gradients and is an error, so the caller's optimiser step is skipped: one
/// bad batch never writes NaN into the weights (where every later update would be NaN too).
pub(crate) fn clip_grad_norm(params: &[Tensor], max: f64, what: &'static str) -> Result<()> {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = params
            .iter()
            .map(|p| p.grad())
            .filter(|g| g.defined())
            .collect();
        if grads.is_empty() {
            return Ok(());
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = Tensor::stack(&norms, 0).norm();
        let value = total.f_double_value(&[])?;
        if !value.is_finite() {
            for g in &grads {
                let _ = g.shallow_clone().zero_();
            }
            return Err(LearnError::NonFinite { what, value });
        }
        if max > 0.0 && value > max {
            let coef = max / (value + 1e-6);
            for g in &grads {
                let _ = g.shallow_clone().g_mul_scalar_(coef);
            }
        }
        Ok(())
    })
}

fn adam(vs: &nn::VarStore, lr: f64) -> Result<Adam> {
    Adam::new(vs, lr)
}

/// Encoder (+ Polyak target), latent model ensemble, reward head and latent classifier.
pub struct WorldModel {
    cfg: LearnConfig,
    device: Device,
    pub encoder_vs: nn::VarStore,
    pub encoder: Encoder,
    pub encoder_target_vs: nn::VarStore,
    pub encoder_target: Encoder,
    pub model_vs: nn::VarStore,
    pub model: LatentModel,
    pub reward_vs: nn::VarStore,
    pub reward: RewardHead,
    pub classifier_vs: nn::VarStore,
    pub classifier: LatentClassifier,
    /// The state dynamics ensemble (`dynamics.enabled`, state observations), fitted by the
    /// world model node on its own schedule and carried in its checkpoints.
    pub dynamics: Option<StateDynamics>,
    encoder_opt: Adam,
    model_opt: Adam,
    reward_opt: Adam,
    classifier_opt: Adam,
    encoder_params: Vec<Tensor>,
    encoder_target_params: Vec<Tensor>,
    model_params: Vec<Tensor>,
    reward_params: Vec<Tensor>,
    classifier_params: Vec<Tensor>,
}

impl WorldModel {
    pub fn new(cfg: &LearnConfig, device: Device) -> Result<Self> {
        cfg.validate()?;
        let encoder_vs = nn::VarStore::new(device);
        let encoder = Encoder::new(encoder_vs.root() / "encoder", cfg)?;
        let encoder_target_vs = nn::VarStore::new(device);
        let encoder_target = Encoder::with_backbone(
            encoder_target_vs.root() / "encoder",
            cfg,
            encoder.script_backbone(),
        );
        let model_vs = nn::VarStore::new(device);
        let model = LatentModel::new(model_vs.root() / "model", cfg);
        let reward_vs = nn::VarStore::new(device);
        let reward = RewardHead::new(reward_vs.root() / "reward", cfg);
        let classifier_vs = nn::VarStore::new(device);
        let classifier = LatentClassifier::new(classifier_vs.root() / "latent_classifier", cfg);
        let encoder_params = nets::variables(&encoder_vs);
        let encoder_target_params = nets::variables(&encoder_target_vs);
        nets::hard_copy(&encoder_target_params, &encoder_params);
        for p in &encoder_target_params {
            let _ = p.set_requires_grad(false);
        }
        let a = &cfg.alm;
        let dynamics = if cfg.dynamics.enabled {
            Some(StateDynamics::new(cfg, device)?)
        } else {
            None
        };
        Ok(Self {
            dynamics,
            encoder_opt: adam(&encoder_vs, a.model_lr)?,
            model_opt: adam(&model_vs, a.model_lr)?,
            reward_opt: adam(&reward_vs, a.reward_lr)?,
            classifier_opt: adam(&classifier_vs, a.reward_lr)?,
            model_params: nets::variables(&model_vs),
            reward_params: nets::variables(&reward_vs),
            classifier_params: nets::variables(&classifier_vs),
            encoder_params,
            encoder_target_params,
            cfg: cfg.clone(),
            device,
            encoder_vs,
            encoder,
            encoder_target_vs,
            encoder_target,
            model_vs,
            model,
            reward_vs,
            reward,
            classifier_vs,
            classifier,
        })
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Latent mean of observations (the online encoder), without gradients.
    pub fn encode_mean(&self, obs: &ObsBatch) -> Result<Tensor> {
        tch::no_grad(|| Ok(self.encoder.forward(&obs.to_device(self.device))?.mean))
    }

    /// What the MEDAL classifiers read (`medal.input`): the standardised state, or the online
    /// encoder's latent mean. Without gradients. The one place that decides it, for the
    /// classifiers' training, their scores and the rewards they give.
    pub fn classifier_input(&self, obs: &ObsBatch) -> Result<Tensor> {
        if self.cfg.classifier_reads_state() {
            tch::no_grad(|| self.encoder.state_input(&obs.to_device(self.device)))
        } else {
            self.encode_mean(obs)
        }
    }

    /// Latent samples of observations from the target encoder, without gradients.
    pub fn encode_target(&self, obs: &ObsBatch) -> Result<Tensor> {
        tch::no_grad(|| {
            Ok(self
                .encoder_target
                .forward(&obs.to_device(self.device))?
                .sample())
        })
    }

    /// The latent model's one-step error ratio ([`LatentModel::error_ratio`]) on real
    /// transitions, measured on the target encoder's *means*: a model that predicts the next
    /// latent mean exactly scores 0. (On posterior samples, the encoder's noise alone kept a
    /// perfect model near 0.7, above any useful trust limit.) Without gradients.
    pub fn model_error_ratio(
        &self,
        obs: &ObsBatch,
        action: &Tensor,
        next_obs: &ObsBatch,
    ) -> Result<Option<f64>> {
        let mean = |o: &ObsBatch| -> Result<Tensor> {
            tch::no_grad(|| Ok(self.encoder_target.forward(&o.to_device(self.device))?.mean))
        };
        Ok(self.model.error_ratio(
            &mean(obs)?,
            &action.to_device(self.device),
            &mean(next_obs)?,
        ))
    }

    /// Real transitions in latent space (target encoder samples), without gradients.
    pub fn latent_transitions(&self, b: &TransitionBatch) -> Result<LatentTransitions> {
        let d = self.device;
        Ok(LatentTransitions {
            z: self.encode_target(&b.obs)?,
            action: b.action.to_device(d),
            reward: b.reward.to_device(d),
            z_next: self.encode_target(&b.next_obs)?,
            done: b.done.to_device(d),
        })
    }

    /// Target-encoder posteriors of every observation of the sequences, without gradients:
    /// mean and std of shape (K+1, B, Z).
    pub fn target_posteriors(&self, seq: &SequenceBatch) -> Result<nets::Gaussian> {
        let obs = seq.obs.to_device(self.device);
        let (k1, b) = (seq.seq_len() + 1, seq.batch_size());
        let z = self.encoder.latent_dim();
        let g = tch::no_grad(|| self.encoder_target.forward(&obs.flatten_time()))?;
        Ok(nets::Gaussian {
            mean: g.mean.reshape([k1, b, z]),
            std: g.std.reshape([k1, b, z]),
        })
    }

    /// The K-step ALM lower-bound loss (to minimise) and the mean KL per step.
    pub fn model_loss(
        &self,
        seq: &SequenceBatch,
        policy: Option<&Policy>,
    ) -> Result<(Tensor, Tensor)> {
        let targets = self.target_posteriors(seq)?;
        self.model_loss_with_targets(seq, &targets, policy)
    }

    /// [`WorldModel::model_loss`] with the target posteriors already computed
    /// ([`WorldModel::target_posteriors`]).
    pub fn model_loss_with_targets(
        &self,
        seq: &SequenceBatch,
        targets: &nets::Gaussian,
        policy: Option<&Policy>,
    ) -> Result<(Tensor, Tensor)> {
        let d = self.device;
        let k = seq.seq_len();
        let b = seq.batch_size();
        let actions = seq.actions.to_device(d);
        let _frozen_r = Frozen::new(&self.reward_params);
        let mut z = self
            .encoder
            .forward(&seq.obs.get(0).to_device(d))?
            .rsample();
        let mut loss = Tensor::zeros([b], (Kind::Float, d));
        let mut kl_sum = Tensor::zeros([], (Kind::Float, d));
        for t in 0..k {
            let a = actions.get(t);
            let prior = self.model.forward(&z, &a);
            let post = nets::Gaussian {
                mean: targets.mean.get(t + 1).unsqueeze(0),
                std: targets.std.get(t + 1).unsqueeze(0),
            };
            // KL of every member's prior to the target posterior, averaged over members.
            let kl = prior.kl(&post).mean_dim(0, false, Kind::Float);
            let r = self.reward.forward(&z, &a);
            loss = loss + &kl - r;
            kl_sum = kl_sum.g_add(&kl.detach().mean(Kind::Float));
            z = self.model.pick_member(&prior).rsample();
        }
        if let (Some(p), true) = (policy, self.cfg.alm.value_in_model_loss) {
            let _fa = Frozen::new(&p.actor_params);
            let _fc = Frozen::new(&p.critic_params);
            let (a, _) = p.actor.rsample(&z);
            loss = loss.g_sub(&p.critic.min_q(&z, &a));
        }
        Ok((loss.mean(Kind::Float), kl_sum / k as f64))
    }

    /// One gradient step of encoder + model on the ALM lower bound. Returns (loss, mean KL).
    pub fn update_model(
        &mut self,
        seq: &SequenceBatch,
        policy: Option<&Policy>,
    ) -> Result<(f64, f64)> {
        let targets = self.target_posteriors(seq)?;
        self.update_model_with_targets(seq, &targets, policy)
    }

    /// [`WorldModel::update_model`] with the target posteriors already computed.
    pub fn update_model_with_targets(
        &mut self,
        seq: &SequenceBatch,
        targets: &nets::Gaussian,
        policy: Option<&Policy>,
    ) -> Result<(f64, f64)> {
        let (loss, kl) = self.model_loss_with_targets(seq, targets, policy)?;
        let lv = finite(&loss, "model loss")?;
        self.encoder_opt.zero_grad();
        self.model_opt.zero_grad();
        loss.backward();
        let clip = self.cfg.alm.grad_clip_norm;
        clip_grad_norm(&self.encoder_params, clip, "encoder gradient")?;
        clip_grad_norm(&self.model_params, clip, "model gradient")?;
        self.encoder_opt.step();
        self.model_opt.step();
        Ok((lv, kl.double_value(&[])))
    }

    /// One step of the reward head (MSE) and the latent classifier (BCE real vs imagined).
    /// Returns (reward loss, classifier loss). With `train_reward` false (transitions without a
    /// recorded reward) only the classifier learns; the reward loss is still reported.
    pub fn update_heads(
        &mut self,
        lt: &LatentTransitions,
        train_reward: bool,
    ) -> Result<(f64, f64)> {
        let reward_loss = self
            .reward
            .forward(&lt.z, &lt.action)
            .mse_loss(&lt.reward, Reduction::Mean);
        let reward_loss = if train_reward {
            reward_loss
        } else {
            reward_loss.detach()
        };
        let fake_next = tch::no_grad(|| {
            self.model
                .forward_random_member(&lt.z, &lt.action)
                .rsample()
        });
        let z2 = Tensor::cat(&[&lt.z, &lt.z], 0);
        let a2 = Tensor::cat(&[&lt.action, &lt.action], 0);
        let n2 = Tensor::cat(&[&lt.z_next, &fake_next], 0);
        let b = lt.len();
        let labels = Tensor::cat(
            &[
                Tensor::ones([b], (Kind::Float, self.device)),
                Tensor::zeros([b], (Kind::Float, self.device)),
            ],
            0,
        );
        let clf_loss = self
            .classifier
            .logits(&z2, &a2, &n2)
            .binary_cross_entropy_with_logits::<Tensor>(&labels, None, None, Reduction::Mean);
        let rv = finite(&reward_loss, "reward loss")?;
        let cv = finite(&clf_loss, "latent classifier loss")?;
        self.reward_opt.zero_grad();
        self.classifier_opt.zero_grad();
        if train_reward {
            (reward_loss + clf_loss).backward();
        } else {
            clf_loss.backward();
        }
        let clip = self.cfg.alm.grad_clip_norm;
        clip_grad_norm(&self.classifier_params, clip, "latent classifier gradient")?;
        self.classifier_opt.step();
        if train_reward {
            // (Adam moves parameters on a zero gradient too: no step at all without a target.)
            clip_grad_norm(&self.reward_params, clip, "reward head gradient")?;
            self.reward_opt.step();
        }
        Ok((rv, cv))
    }

    /// Supervised fit of the latent model on known latent transitions (Gaussian NLL).
    pub fn update_model_supervised(
        &mut self,
        z: &Tensor,
        a: &Tensor,
        z_next: &Tensor,
    ) -> Result<f64> {
        let loss = self.model.nll_loss(z, a, z_next);
        let v = finite(&loss, "model nll")?;
        self.model_opt.zero_grad();
        loss.backward();
        clip_grad_norm(
            &self.model_params,
            self.cfg.alm.grad_clip_norm,
            "model gradient",
        )?;
        self.model_opt.step();
        Ok(v)
    }

    /// Polyak update of the target encoder.
    pub fn update_target(&mut self) {
        nets::polyak(
            &self.encoder_target_params,
            &self.encoder_params,
            self.cfg.alm.tau,
        );
    }

    /// Re-syncs the target encoder to the online one (after loading a checkpoint).
    pub fn sync_target(&mut self) {
        nets::hard_copy(&self.encoder_target_params, &self.encoder_params);
    }

    /// The var stores making up a checkpoint component, with name prefixes.
    pub fn stores(&self, c: Component) -> Option<Vec<(&'static str, &nn::VarStore)>> {
        match c {
            Component::Encoder => Some(vec![("", &self.encoder_vs)]),
            Component::Model => Some(vec![("", &self.model_vs), ("", &self.reward_vs)]),
            Component::LatentClassifier => Some(vec![("", &self.classifier_vs)]),
            _ => None,
        }
    }
}

/// Squashed-Gaussian actor, twin critics (+ Polyak targets) and the entropy temperature.
pub struct Policy {
    cfg: LearnConfig,
    device: Device,
    pub actor_vs: nn::VarStore,
    pub actor: Actor,
    pub critic_vs: nn::VarStore,
    pub critic: TwinCritic,
    pub critic_target_vs: nn::VarStore,
    pub critic_target: TwinCritic,
    pub alpha_vs: nn::VarStore,
    pub log_alpha: Tensor,
    actor_opt: Adam,
    critic_opt: Adam,
    alpha_opt: Adam,
    actor_params: Vec<Tensor>,
    critic_params: Vec<Tensor>,
    critic_target_params: Vec<Tensor>,
    target_entropy: f64,
    /// Imagined actor steps per update: `alm.horizon`, or 0 while the model is not trusted.
    horizon: usize,
}

impl Policy {
    pub fn new(cfg: &LearnConfig, device: Device) -> Result<Self> {
        let actor_vs = nn::VarStore::new(device);
        let actor = Actor::new(actor_vs.root() / "actor", cfg);
        let critic_vs = nn::VarStore::new(device);
        let critic = TwinCritic::new(critic_vs.root() / "critic", cfg);
        let critic_target_vs = nn::VarStore::new(device);
        let critic_target = TwinCritic::new(critic_target_vs.root() / "critic", cfg);
        let alpha_vs = nn::VarStore::new(device);
        let log_alpha =
            alpha_vs
                .root()
                .var("log_alpha", &[], nn::Init::Const(cfg.alm.init_alpha.ln()));
        let critic_params = nets::variables(&critic_vs);
        let critic_target_params = nets::variables(&critic_target_vs);
        nets::hard_copy(&critic_target_params, &critic_params);
        for p in &critic_target_params {
            let _ = p.set_requires_grad(false);
        }
        let a = &cfg.alm;
        Ok(Self {
            actor_opt: adam(&actor_vs, a.actor_lr)?,
            critic_opt: adam(&critic_vs, a.critic_lr)?,
            alpha_opt: adam(&alpha_vs, a.alpha_lr)?,
            actor_params: nets::variables(&actor_vs),
            critic_params,
            critic_target_params,
            target_entropy: cfg.target_entropy(),
            horizon: a.horizon,
            cfg: cfg.clone(),
            device,
            actor_vs,
            actor,
            critic_vs,
            critic,
            critic_target_vs,
            critic_target,
            alpha_vs,
            log_alpha,
        })
    }

    /// Imagined actor steps of the next updates (`alm.horizon` at first; 0: SAC's actor step on
    /// real latents, as in the model-free baseline).
    pub fn set_horizon(&mut self, horizon: usize) {
        self.horizon = horizon;
    }

    pub fn horizon(&self) -> usize {
        self.horizon
    }

    pub fn alpha(&self) -> f64 {
        self.log_alpha.double_value(&[]).exp()
    }

    fn reward_of(
        world: &WorldModel,
        source: RewardSource,
        z: &Tensor,
        a: &Tensor,
        z_next: &Tensor,
    ) -> Tensor {
        match source {
            RewardSource::Task => world.reward.forward(z, a),
            RewardSource::Classifier(f, m) => backward_reward(&f.logits(z_next), m),
        }
    }

    /// Critic TD step, actor step through imagined rollouts, α step, Polyak update of the
    /// target critics. Returns (critic loss, actor loss, α, mean Q).
    pub fn update(
        &mut self,
        world: &WorldModel,
        lt: &LatentTransitions,
        source: RewardSource,
    ) -> Result<(f64, f64, f64, f64)> {
        self.update_with_demos(world, lt, source, None)
    }

    /// [`Policy::update`] plus behaviour cloning on `demos` (demo latents and their actions)
    /// when `alm.bc_weight` > 0. `lt` should contain the demo transitions too (the critics
    /// learn from them like any real step).
    pub fn update_with_demos(
        &mut self,
        world: &WorldModel,
        lt: &LatentTransitions,
        source: RewardSource,
        demos: Option<&LatentTransitions>,
    ) -> Result<(f64, f64, f64, f64)> {
        let cfg = &self.cfg.alm;
        let gamma = cfg.gamma;
        let alpha = self.log_alpha.exp().detach();

        // --- critics ---
        let target = tch::no_grad(|| {
            let (a2, logp2) = self.actor.rsample(&lt.z_next);
            let v2 = self.critic_target.min_q(&lt.z_next, &a2) - &alpha * logp2;
            let r = match source {
                RewardSource::Task => lt.reward.shallow_clone(),
                RewardSource::Classifier(..) => {
                    Self::reward_of(world, source, &lt.z, &lt.action, &lt.z_next)
                }
            };
            r + (-&lt.done + 1.0) * gamma * v2
        });
        let q = self.critic.forward(&lt.z, &lt.action);
        let critic_loss = (&q - target.unsqueeze(0)).square().mean(Kind::Float);
        let cl = finite(&critic_loss, "critic loss")?;
        let q_mean = q.detach().mean(Kind::Float).double_value(&[]);
        self.critic_opt.zero_grad();
        critic_loss.backward();
        clip_grad_norm(&self.critic_params, cfg.grad_clip_norm, "critic gradient")?;
        self.critic_opt.step();

        // --- actor through imagined latent rollouts ---
        let (actor_loss, logp0) = {
            let _fm = Frozen::new(&world.model_params);
            let _fr = Frozen::new(&world.reward_params);
            let _fl = Frozen::new(&world.classifier_params);
            let _fc = Frozen::new(&self.critic_params);
            let h = self.horizon;
            let mut z = lt.z.detach();
            let mut rewards = Vec::with_capacity(h);
            let mut values = Vec::with_capacity(h + 1);
            let mut logp0 = None;
            for t in 0..h {
                let (a, logp) = self.actor.rsample(&z);
                let z_next = world.model.forward_random_member(&z, &a).rsample();
                let mut r = Self::reward_of(world, source, &z, &a, &z_next) - &alpha * &logp;
                if cfg.classifier_bonus != 0.0 {
                    r = r.g_add(
                        &(world.classifier.logits(&z, &a, &z_next.detach()) * cfg.classifier_bonus),
                    );
                }
                if t > 0 {
                    values.push(self.critic.min_q(&z, &a) - &alpha * &logp);
                } else {
                    values.push(Tensor::zeros_like(&logp));
                    logp0 = Some(logp.detach());
                }
                rewards.push(r);
                z = z_next;
            }
            let (a, logp) = self.actor.rsample(&z);
            if h == 0 {
                logp0 = Some(logp.detach());
            }
            values.push(self.critic.min_q(&z, &a) - &alpha * logp);
            // λ-returns: R_H = V_H, R_t = r_t + γ((1 − λ) V_{t+1} + λ R_{t+1}).
            let lambda = cfg.lambda;
            let mut ret = values[h].shallow_clone();
            let mut loss = Tensor::zeros([], (Kind::Float, self.device));
            for t in (0..h).rev() {
                ret = &rewards[t] + ((&values[t + 1] * (1.0 - lambda)) + &ret * lambda) * gamma;
                loss = loss.g_sub(&(ret.mean(Kind::Float) * gamma.powi(t as i32)));
            }
            // horizon 0: SAC's actor, max Q(z, π(z)) − α log π on real latents
            let rl = if h == 0 {
                -ret.mean(Kind::Float)
            } else {
                loss / h as f64
            };
            let loss = match demos.filter(|d| cfg.bc_weight > 0.0 && !d.is_empty()) {
                Some(d) => {
                    let scale = ret.abs().mean(Kind::Float).detach().clamp_min(1.0);
                    let mu = self.actor.dist(&d.z.detach()).0.tanh();
                    let keep = cfg.bc_q_filter.then(|| {
                        tch::no_grad(|| {
                            let z = d.z.detach();
                            (
                                self.critic.min_q(&z, &d.action),
                                self.critic.min_q(&z, &mu.detach()),
                            )
                        })
                    });
                    let bc =
                        behaviour_cloning_loss(&mu, &d.action, keep.as_ref().map(|(a, b)| (a, b)));
                    rl / scale * cfg.rl_weight + bc * cfg.bc_weight
                }
                None => rl * cfg.rl_weight,
            };
            (loss, logp0)
        };
        let al = finite(&actor_loss, "actor loss")?;
        self.actor_opt.zero_grad();
        actor_loss.backward();
        clip_grad_norm(&self.actor_params, cfg.grad_clip_norm, "actor gradient")?;
        self.actor_opt.step();

        // --- temperature ---
        if let (true, Some(logp0)) = (cfg.learn_alpha, logp0) {
            let alpha_loss = -(&self.log_alpha * (logp0 + self.target_entropy)).mean(Kind::Float);
            finite(&alpha_loss, "alpha loss")?;
            self.alpha_opt.zero_grad();
            alpha_loss.backward();
            self.alpha_opt.step();
        }

        nets::polyak(&self.critic_target_params, &self.critic_params, cfg.tau);
        Ok((cl, al, self.alpha(), q_mean))
    }

    /// Re-syncs the target critics to the online ones (after loading a checkpoint).
    pub fn sync_target(&mut self) {
        nets::hard_copy(&self.critic_target_params, &self.critic_params);
    }

    /// The var stores making up a checkpoint component.
    pub fn stores(&self, c: Component) -> Option<Vec<(&'static str, &nn::VarStore)>> {
        match c {
            Component::Actor => Some(vec![("", &self.actor_vs)]),
            Component::Critic => Some(vec![("", &self.critic_vs), ("", &self.alpha_vs)]),
            _ => None,
        }
    }
}

/// World model + one policy: the full ALM learner.
pub struct AlmAgent {
    pub cfg: LearnConfig,
    pub device: Device,
    pub world: WorldModel,
    pub policy: Policy,
}

impl AlmAgent {
    /// Builds every network; seeds libtorch with `cfg.seed`.
    pub fn new(cfg: &LearnConfig, device: Device) -> Result<Self> {
        if device == Device::Cpu {
            crate::device::tune_cpu_allocator();
        }
        tch::manual_seed(cfg.seed as i64);
        Ok(Self {
            cfg: cfg.clone(),
            device,
            world: WorldModel::new(cfg, device)?,
            policy: Policy::new(cfg, device)?,
        })
    }

    /// Builds on the configured device (`cfg.device`) and thread count.
    pub fn from_config(cfg: &LearnConfig) -> Result<Self> {
        if cfg.threads > 0 {
            tch::set_num_threads(cfg.threads as i32);
        }
        let device = cfg.device.resolve()?;
        Self::new(cfg, device)
    }

    /// The full ALM update on a batch of length-K sequences: encoder + model, reward head and
    /// latent classifier (on the sequences' first transitions), critics, actor, α, targets.
    pub fn update(&mut self, seq: &SequenceBatch) -> Result<AlmStats> {
        let want = self.cfg.alm.seq_len as i64;
        if seq.seq_len() != want {
            return Err(LearnError::Input(format!(
                "sequence length {} != alm.seq_len {want}",
                seq.seq_len()
            )));
        }
        // Target posteriors of s_0..s_K in one pass: s_1..s_K for the lower bound, s_0 and s_1
        // for the transitions the heads and the policy train on (the target encoder only moves
        // at the end of the update).
        let targets = self.world.target_posteriors(seq)?;
        let (model_loss, kl) =
            self.world
                .update_model_with_targets(seq, &targets, Some(&self.policy))?;
        let tr = seq.transition(0);
        let d = self.device;
        let lt = tch::no_grad(|| LatentTransitions {
            z: nets::Gaussian {
                mean: targets.mean.get(0),
                std: targets.std.get(0),
            }
            .rsample(),
            action: tr.action.to_device(d),
            reward: tr.reward.to_device(d),
            z_next: nets::Gaussian {
                mean: targets.mean.get(1),
                std: targets.std.get(1),
            }
            .rsample(),
            done: tr.done.to_device(d),
        });
        let (reward_loss, classifier_loss) = self.world.update_heads(&lt, true)?;
        let (critic_loss, actor_loss, alpha, q_mean) =
            self.policy.update(&self.world, &lt, RewardSource::Task)?;
        self.world.update_target();
        Ok(AlmStats {
            model_loss,
            kl,
            reward_loss,
            classifier_loss,
            critic_loss,
            actor_loss,
            alpha,
            q_mean,
        })
    }

    /// Actions for observations: encoder mean → actor (squashed mean when `deterministic`).
    pub fn act(&self, obs: &ObsBatch, deterministic: bool) -> Result<Tensor> {
        let z = self.world.encode_mean(obs)?;
        Ok(self.policy.actor.act(&z, deterministic))
    }

    /// The var stores of a checkpoint component (the classifiers of MEDAL live elsewhere).
    pub fn stores(&self, c: Component) -> Option<Vec<(&'static str, &nn::VarStore)>> {
        self.world.stores(c).or_else(|| self.policy.stores(c))
    }
}

impl AlmAgent {
    /// Checkpoint bytes of one component (encoder, model, latent_classifier, actor, critic).
    pub fn checkpoint(&self, c: Component, version: u64) -> Result<crate::CheckpointBytes> {
        let stores = self.stores(c).ok_or_else(|| {
            LearnError::Checkpoint(format!("the ALM agent has no `{}`", c.name()))
        })?;
        let meta = crate::CheckpointMeta {
            component: c.name().to_string(),
            version,
            architecture: self.cfg.architecture(c),
            config_hash: self.cfg.config_hash(),
        };
        crate::checkpoint::to_bytes(&stores, &meta)
    }

    /// Loads a component checkpoint (verifying sha256 and architecture); target networks are
    /// re-synced to the loaded weights.
    pub fn load_checkpoint(
        &mut self,
        ck: &crate::CheckpointBytes,
    ) -> Result<crate::CheckpointMeta> {
        let c = Component::from_name(&ck.meta.component).ok_or_else(|| {
            LearnError::Checkpoint(format!("unknown component `{}`", ck.meta.component))
        })?;
        let stores = self.stores(c).ok_or_else(|| {
            LearnError::Checkpoint(format!("the ALM agent has no `{}`", c.name()))
        })?;
        let meta = crate::checkpoint::from_bytes(
            ck,
            &stores,
            &self.cfg.architecture(c),
            &self.cfg.config_hash(),
        )?;
        match c {
            Component::Encoder => self.world.sync_target(),
            Component::Critic => self.policy.sync_target(),
            _ => {}
        }
        Ok(meta)
    }

    /// Writes every component to `<dir>/<component>.safetensors` (+ `.json` manifests).
    pub fn save_all(&self, dir: impl AsRef<std::path::Path>, version: u64) -> Result<()> {
        for c in [
            Component::Encoder,
            Component::Model,
            Component::LatentClassifier,
            Component::Actor,
            Component::Critic,
        ] {
            let ck = self.checkpoint(c, version)?;
            crate::checkpoint::save(dir.as_ref().join(format!("{}.safetensors", c.name())), &ck)?;
        }
        Ok(())
    }

    /// Loads every component written by [`AlmAgent::save_all`].
    pub fn load_all(&mut self, dir: impl AsRef<std::path::Path>) -> Result<()> {
        for c in [
            Component::Encoder,
            Component::Model,
            Component::LatentClassifier,
            Component::Actor,
            Component::Critic,
        ] {
            let ck =
                crate::checkpoint::load(dir.as_ref().join(format!("{}.safetensors", c.name())))?;
            self.load_checkpoint(&ck)?;
        }
        Ok(())
    }
}

/// Behaviour cloning on demonstrations: the mean over demo samples of ‖μ − a_demo‖² (per
/// sample, the mean over action dimensions). With `q` = (Q(z, a_demo), Q(z, μ)), the Q filter
/// of Nair et al. (2018): a sample counts only where the critic rates the demonstrated action
/// above the policy's, so the policy imitates the demonstrations until it does better.
pub fn behaviour_cloning_loss(mu: &Tensor, demo: &Tensor, q: Option<(&Tensor, &Tensor)>) -> Tensor {
    let per_sample = (mu - demo).square().mean_dim(-1, false, Kind::Float);
    match q {
        Some((q_demo, q_policy)) => {
            (per_sample * q_demo.gt_tensor(q_policy).to_kind(Kind::Float)).mean(Kind::Float)
        }
        None => per_sample.mean(Kind::Float),
    }
}
