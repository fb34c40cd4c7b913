//! All hyper-parameters in one typed [`LearnConfig`], loaded from YAML with defaults.
//!
//! Every section is `#[serde(default, deny_unknown_fields)]`: a missing key takes its default, an
//! unknown key or a value of the wrong type is an error that names the key (and its line).
//! [`LearnConfig::config_hash`] is the sha256 of the canonical JSON serialization (keys sorted),
//! [`LearnConfig::architecture`] a string id of network kinds and sizes that checkpoints carry.
use crate::device::DeviceChoice;
use crate::error::{LearnError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// What the agent observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ObsMode {
    /// A low-dimensional state vector (plus optional proprio) through an MLP encoder.
    #[default]
    State,
    /// A small RGB frame (uint8 HxWx3) through a conv encoder, fused with proprio.
    Pixels,
}

/// Observation and action sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObsConfig {
    pub mode: ObsMode,
    /// Length of the state vector (state mode).
    pub state_dim: usize,
    /// Length of the proprio vector (joint positions, velocities...); 0 for none.
    pub proprio_dim: usize,
    pub frame_height: usize,
    pub frame_width: usize,
    pub action_dim: usize,
}

impl Default for ObsConfig {
    fn default() -> Self {
        Self {
            mode: ObsMode::State,
            state_dim: 24,
            proprio_dim: 0,
            frame_height: 64,
            frame_width: 64,
            action_dim: 7,
        }
    }
}

/// Encoder e(z|s): MLP on states, or conv stack on frames fused with a proprio MLP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    pub latent_dim: usize,
    /// Hidden sizes of the state MLP / of the trunk after pixel+proprio fusion.
    pub hidden: Vec<usize>,
    /// Output channels of each conv layer (pixel mode).
    pub conv_channels: Vec<usize>,
    pub conv_kernel: usize,
    pub conv_stride: usize,
    /// Size of the image feature after the conv stack (Linear + LayerNorm + tanh).
    pub image_feature_dim: usize,
    /// Size of the proprio MLP's output (pixel mode with proprio).
    pub proprio_feature_dim: usize,
    /// Lower bound on the posterior's standard deviation.
    pub min_std: f64,
    /// Optional TorchScript image backbone (`forward(frames: f32 N×3×H×W in [0,1]) -> N×F`)
    /// used instead of the conv stack; its output size must equal `image_feature_dim`.
    pub torchscript: Option<String>,
    /// State mode: per-dimension factors the state vector is multiplied by before the MLP
    /// (`obs.state_dim` of them, each > 0), so that small-range dimensions (an object's
    /// position in metres) weigh as much as joint angles and velocities. Empty: none.
    pub state_scale: Vec<f64>,
    /// State mode: per-dimension offsets subtracted from the state before `state_scale`
    /// multiplies it (`obs.state_dim` finite values). Empty: none.
    pub state_shift: Vec<f64>,
    /// State mode: standardise the state with the demonstrations' statistics. Each learning node
    /// reads every demo observation in `<run_dir>/demos/` at start-up and sets `state_shift` to
    /// their mean and `state_scale` to 1 / max(std, `state_std_floor`), the same numbers in
    /// every node (same files, same arithmetic). Excludes a hand-set `state_scale`/`state_shift`.
    pub state_from_demos: bool,
    /// Lower bound on a dimension's demo std in `state_from_demos` (in the state's units): a
    /// dimension the demos barely move (a fixed goal, an object's position across the table)
    /// is scaled by at most 1 / floor.
    pub state_std_floor: f64,
    /// State mode: no learned encoder. The latent is the encoder's input itself, the state
    /// (shifted and scaled as above) followed by the proprio vector, with std `min_std`; the
    /// policies, the latent model and the heads all work on it. A learned encoder keeps
    /// changing under the policies trained on its latents. `latent_dim` is derived
    /// (`obs.state_dim + obs.proprio_dim`); a value in the file is replaced.
    pub identity: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            latent_dim: 50,
            hidden: vec![256, 256],
            conv_channels: vec![32, 32, 32, 32],
            conv_kernel: 3,
            conv_stride: 2,
            image_feature_dim: 256,
            proprio_feature_dim: 64,
            min_std: 0.1,
            torchscript: None,
            state_scale: Vec::new(),
            state_shift: Vec::new(),
            state_from_demos: false,
            state_std_floor: 0.05,
            identity: false,
        }
    }
}

/// Latent model m(z'|z,a): a Gaussian ensemble predicting z' = z + Δ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Number of members (≥ 2): their disagreement is the uncertainty estimate.
    pub ensemble_size: usize,
    pub hidden: Vec<usize>,
    pub min_std: f64,
    pub max_std: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            ensemble_size: 5,
            hidden: vec![256, 256],
            min_std: 0.05,
            max_std: 2.0,
        }
    }
}

/// The state dynamics ensemble of state mode ([`crate::dynamics`]): what the world model fits
/// and the policies branch MBPO rollouts from, when `enabled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicsConfig {
    /// Fit and use it (state observations only).
    pub enabled: bool,
    /// Ensemble members, and how many of them (the best on held-out data) predict.
    pub members: usize,
    pub elites: usize,
    pub hidden: Vec<usize>,
    pub lr: f64,
    pub batch_size: usize,
    /// Share of a fit's transitions held out to stop training and choose elites...
    pub holdout_fraction: f64,
    /// ...at most this many.
    pub max_held_out: usize,
    /// A fit stops after this many epochs without a member's held-out error improving by 1 %...
    pub patience: usize,
    /// ...or after this many epochs.
    pub max_epochs: usize,
    /// The world model refits after this many new transitions (MBPO: every 250 env steps)...
    pub fit_every: usize,
    /// ...once it has this many.
    pub min_transitions: usize,
    /// A fit uses at most the newest this many transitions.
    pub fit_window: usize,
    /// The standardisation's smallest standard deviation of an input (a state value or an
    /// action), in its own units: a dimension that barely moved in the training data (a door
    /// not yet opened) must not blow up when it does move. The error ratio uses the same scale.
    pub input_std_floor: f64,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            members: 5,
            elites: 3,
            hidden: vec![200, 200],
            lr: 1e-3,
            batch_size: 256,
            holdout_fraction: 0.2,
            max_held_out: 2000,
            patience: 5,
            max_epochs: 30,
            fit_every: 1000,
            min_transitions: 1000,
            fit_window: 50_000,
            input_std_floor: 0.05,
        }
    }
}

impl DynamicsConfig {
    pub fn validate(&self) -> Result<()> {
        check(self.members >= 2, "dynamics.members", "must be >= 2")?;
        check(
            (1..=self.members).contains(&self.elites),
            "dynamics.elites",
            "must be between 1 and dynamics.members",
        )?;
        check(!self.hidden.is_empty(), "dynamics.hidden", "empty")?;
        check(self.lr > 0.0, "dynamics.lr", "must be > 0")?;
        check(self.batch_size > 0, "dynamics.batch_size", "must be > 0")?;
        check(
            self.holdout_fraction > 0.0 && self.holdout_fraction < 1.0,
            "dynamics.holdout_fraction",
            "must be in (0, 1)",
        )?;
        check(
            self.max_held_out > 0,
            "dynamics.max_held_out",
            "must be > 0",
        )?;
        check(self.max_epochs > 0, "dynamics.max_epochs", "must be > 0")?;
        check(self.fit_every > 0, "dynamics.fit_every", "must be > 0")?;
        check(
            self.input_std_floor > 0.0,
            "dynamics.input_std_floor",
            "must be > 0",
        )
    }
}

/// An MLP head: hidden sizes only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    pub hidden: Vec<usize>,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            hidden: vec![256, 256],
        }
    }
}

/// Twin Q critics Q(z, a).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CriticConfig {
    pub hidden: Vec<usize>,
    /// Layer normalisation (no learned affine) after every hidden layer, as in RLPD: it bounds
    /// Q's extrapolation to actions and states the data never shows.
    pub layer_norm: bool,
}

impl Default for CriticConfig {
    fn default() -> Self {
        Self {
            hidden: vec![256, 256],
            layer_norm: false,
        }
    }
}

/// Squashed-Gaussian actor π(a|z).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActorConfig {
    pub hidden: Vec<usize>,
    pub log_std_min: f64,
    pub log_std_max: f64,
    /// Bounded exploration: the largest standard deviation (before the tanh) of the actions
    /// the executors sample in training. The learned σ can stay large where the entropy
    /// target asks for it, and the robot then practises a noisier policy than the deployed
    /// mean: on door the deployed policy succeeded while 0 of 34 sampled forward phases did.
    /// Unset: sample with the learned σ (SAC). It bounds acting only, not the learning update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explore_std_max: Option<f64>,
}

impl Default for ActorConfig {
    fn default() -> Self {
        Self {
            hidden: vec![256, 256],
            log_std_min: -5.0,
            log_std_max: 2.0,
            explore_std_max: None,
        }
    }
}

/// The ALM update (encoder + model lower bound, imagined policy objective, twin critics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlmConfig {
    /// K: length of the sequences the encoder/model lower bound is computed on.
    pub seq_len: usize,
    /// Length of the imagined rollouts for the policy objective; 0: no imagination, the actor
    /// maximises the critics' Q on real latents (SAC: the model-free baseline's actor).
    pub horizon: usize,
    pub gamma: f64,
    /// λ of the λ-returns over imagined rollouts.
    pub lambda: f64,
    /// Polyak rate of the target encoder and target critics.
    pub tau: f64,
    pub batch_size: usize,
    pub model_lr: f64,
    pub reward_lr: f64,
    pub actor_lr: f64,
    pub critic_lr: f64,
    pub alpha_lr: f64,
    /// Coefficient of the latent-classifier bonus log C/(1−C) in imagined rewards.
    pub classifier_bonus: f64,
    /// Initial entropy temperature α.
    pub init_alpha: f64,
    /// Tune α towards `target_entropy` (default −action_dim).
    pub learn_alpha: bool,
    pub target_entropy: Option<f64>,
    /// Include γ^K·Q(z_K, π(z_K)) in the encoder/model objective.
    pub value_in_model_loss: bool,
    /// Gradient-norm clip for every optimiser (0 disables).
    pub grad_clip_norm: f64,
    /// Behaviour cloning on demonstrations (as in MEDAL++, TD3+BC): the actor loss becomes
    /// RL / mean|return| + `bc_weight`·‖tanh μ(z_demo) − a_demo‖². 0 turns it off.
    pub bc_weight: f64,
    /// Q-filtered behaviour cloning (Nair et al. 2018): clone a demonstrated action only where
    /// the critic rates it above the policy's own (false: clone every demonstrated action).
    pub bc_q_filter: bool,
    /// Weight of the RL term in the actor loss (1). 0 with `bc_weight` > 0: behaviour cloning
    /// on the demonstrations alone, the `bc` baseline of `scripts/learn_curve.sh`.
    pub rl_weight: f64,
    /// Fraction of each policy batch drawn from the demonstrations while there are any
    /// (RLPD-style symmetric sampling keeps demos in every batch as the replay grows).
    pub demo_batch_ratio: f64,
    /// Model trust gate of the policy trainers: imagined steps (the `horizon` actor steps and
    /// MBPO rollouts) only while the latent model's one-step error ratio, averaged over the
    /// policy's real batches, is at most this (1: no better than "nothing changes"); above it
    /// the policy trains model-free. Unset: always imagine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_model_error_ratio: Option<f64>,
}

impl Default for AlmConfig {
    fn default() -> Self {
        Self {
            seq_len: 3,
            horizon: 3,
            gamma: 0.99,
            lambda: 0.95,
            tau: 0.005,
            batch_size: 256,
            model_lr: 3e-4,
            reward_lr: 3e-4,
            actor_lr: 3e-4,
            critic_lr: 3e-4,
            alpha_lr: 3e-4,
            classifier_bonus: 0.1,
            init_alpha: 0.1,
            learn_alpha: true,
            target_entropy: None,
            value_in_model_loss: true,
            grad_clip_norm: 100.0,
            bc_weight: 0.0,
            bc_q_filter: false,
            rl_weight: 1.0,
            demo_batch_ratio: 0.5,
            max_model_error_ratio: None,
        }
    }
}

/// What the MEDAL classifiers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassifierInput {
    /// The standardised state in state mode, the encoder's latent mean with pixels.
    #[default]
    Auto,
    /// The encoder's latent mean. It moves as the encoder learns, so the classifier and the
    /// rewards it gives drift with it.
    Latent,
    /// The observation's state (and proprio), standardised as the encoder's input is (state
    /// mode only): fixed for the whole run, whatever the encoder learns.
    State,
}

/// MEDAL: the demo-state classifier f(s), the goal classifier, the backward reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MedalConfig {
    pub hidden: Vec<usize>,
    pub lr: f64,
    pub batch_size: usize,
    /// Mix positives and negatives with λ ~ Beta(mixup_alpha, mixup_alpha); 0 disables.
    pub mixup_alpha: f64,
    /// Train the classifier every this many environment steps.
    pub train_every: usize,
    /// Hard-negative mining for both classifiers: draw this many times the online negatives a
    /// batch needs and keep those the classifier scores highest (the states it confuses with
    /// its positives, such as the arm in a demonstrated pose with the object elsewhere). 1: off.
    pub hard_negatives: usize,
    /// ε in −log(1 − f(z′) + ε).
    pub reward_eps: f64,
    /// The backward reward is clamped to [0, reward_clamp] before scaling.
    pub reward_clamp: f64,
    pub reward_scale: f64,
    /// What the classifiers read (default `auto`: the standardised state in state mode). On
    /// door the latent-input classifier scored open-door states as demo states (its encoder
    /// kept moving), so the backward reward did not point at a closed door.
    pub input: ClassifierInput,
    /// The backward policy learns from every phase's transitions, not only its own: its reward
    /// −log(1 − f(z′)) depends on the next state alone, so a forward step is relabelled with
    /// it. The forward phases cover the states where backward phases start (the task done),
    /// which the backward demos never show.
    pub backward_learns_from_all: bool,
}

impl Default for MedalConfig {
    fn default() -> Self {
        Self {
            hidden: vec![128, 128],
            lr: 3e-4,
            batch_size: 800,
            mixup_alpha: 1.0,
            train_every: 10,
            hard_negatives: 1,
            reward_eps: 1e-10,
            reward_clamp: 10.0,
            reward_scale: 1.0,
            input: ClassifierInput::Auto,
            backward_learns_from_all: true,
        }
    }
}

/// MBPO branched rollouts in latent space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MbpoConfig {
    /// k: steps per branched rollout.
    pub rollout_length: usize,
    /// A branch stops before the first step whose ensemble disagreement exceeds this.
    pub disagreement_threshold: f64,
    /// Fraction of real transitions in a mixed batch.
    pub real_ratio: f64,
    /// Number of start states per rollout call.
    pub rollout_batch: usize,
    pub model_buffer_capacity: usize,
}

impl Default for MbpoConfig {
    fn default() -> Self {
        Self {
            rollout_length: 5,
            disagreement_threshold: 1.0,
            real_ratio: 0.05,
            rollout_batch: 400,
            model_buffer_capacity: 100_000,
        }
    }
}

/// When appended replay records are flushed to disk with fsync. In YAML: `never`, `always`, or
/// a number N (every N records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Leave it to the OS (records survive a process kill, not a power cut).
    Never,
    /// After every record.
    Always,
    /// After every N records (and when a chunk is closed).
    EveryN(u32),
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::EveryN(20)
    }
}

impl Serialize for FsyncPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            FsyncPolicy::Never => s.serialize_str("never"),
            FsyncPolicy::Always => s.serialize_str("always"),
            FsyncPolicy::EveryN(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for FsyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Every(u32),
            Name(String),
        }
        match Repr::deserialize(d)? {
            Repr::Every(0) => Ok(FsyncPolicy::Never),
            Repr::Every(1) => Ok(FsyncPolicy::Always),
            Repr::Every(n) => Ok(FsyncPolicy::EveryN(n)),
            Repr::Name(s) if s == "never" => Ok(FsyncPolicy::Never),
            Repr::Name(s) if s == "always" => Ok(FsyncPolicy::Always),
            Repr::Name(s) => Err(serde::de::Error::custom(format!(
                "unknown fsync policy `{s}` (expected never, always or a record count)"
            ))),
        }
    }
}

/// Replay buffers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// Records kept in memory per buffer (oldest evicted; files stay on disk).
    pub capacity: usize,
    /// Records per chunk file before a new chunk is started.
    pub chunk_records: usize,
    pub fsync: FsyncPolicy,
    /// Disk space (MB) a buffer's chunk files may take; when a new chunk starts, the oldest
    /// are deleted while they take more, never those that hold the newest `capacity` records
    /// (what a restart reloads). 0: no limit. Demonstrations are not replay: never pruned.
    pub disk_budget_mb: f64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            chunk_records: 2000,
            fsync: FsyncPolicy::default(),
            disk_budget_mb: 2048.0,
        }
    }
}

impl ReplayConfig {
    /// The disk budget in bytes (`None`: no limit).
    pub fn disk_budget_bytes(&self) -> Option<u64> {
        (self.disk_budget_mb.is_finite() && self.disk_budget_mb > 0.0)
            .then_some((self.disk_budget_mb * 1e6) as u64)
    }

    /// Chunk files always kept: those that can hold the newest `capacity` records, and the one
    /// being written.
    pub fn min_chunks(&self) -> usize {
        self.capacity.div_ceil(self.chunk_records.max(1)) + 1
    }
}

/// Every hyper-parameter of mbarl-learn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnConfig {
    pub seed: u64,
    pub device: DeviceChoice,
    /// libtorch intra-op threads; 0 keeps libtorch's default.
    pub threads: usize,
    pub obs: ObsConfig,
    pub encoder: EncoderConfig,
    pub model: ModelConfig,
    pub reward_head: HeadConfig,
    pub actor: ActorConfig,
    pub critic: CriticConfig,
    /// The ALM latent classifier C(z′, a, z).
    pub latent_classifier: HeadConfig,
    pub alm: AlmConfig,
    pub medal: MedalConfig,
    pub mbpo: MbpoConfig,
    pub dynamics: DynamicsConfig,
    pub replay: ReplayConfig,
}

impl Default for LearnConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            device: DeviceChoice::Auto,
            threads: 0,
            obs: ObsConfig::default(),
            encoder: EncoderConfig::default(),
            model: ModelConfig::default(),
            reward_head: HeadConfig::default(),
            actor: ActorConfig::default(),
            critic: CriticConfig::default(),
            latent_classifier: HeadConfig::default(),
            alm: AlmConfig::default(),
            medal: MedalConfig::default(),
            mbpo: MbpoConfig::default(),
            dynamics: DynamicsConfig::default(),
            replay: ReplayConfig::default(),
        }
    }
}

fn dims(v: &[usize]) -> String {
    v.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn check(ok: bool, key: &'static str, reason: impl Into<String>) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(LearnError::InvalidConfig {
            key,
            reason: reason.into(),
        })
    }
}

impl LearnConfig {
    /// Parses YAML; unknown keys and wrong types name the key. Validates the values.
    pub fn from_yaml_str(text: &str) -> Result<Self> {
        let mut cfg: LearnConfig =
            serde_yaml_ng::from_str(text).map_err(|e| LearnError::Config(e.to_string()))?;
        cfg.derive();
        cfg.validate()?;
        Ok(cfg)
    }

    /// Sets what other keys determine: with `encoder.identity`, `encoder.latent_dim` is the
    /// state's and proprio's size. From a file this runs at load time; code that builds a
    /// configuration by hand calls it after changing those keys.
    pub fn derive(&mut self) {
        if self.encoder.identity {
            self.encoder.latent_dim = self.obs.state_dim + self.obs.proprio_dim;
        }
    }

    /// Reads and parses a YAML file.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| LearnError::io(path, e))?;
        Self::from_yaml_str(&text)
            .map_err(|e| LearnError::Config(format!("{}: {e}", path.display())))
    }

    /// The resolved configuration as YAML (to store in the run directory).
    pub fn to_yaml(&self) -> Result<String> {
        serde_yaml_ng::to_string(self).map_err(|e| LearnError::Config(e.to_string()))
    }

    /// Checks value ranges; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let o = &self.obs;
        check(o.action_dim > 0, "obs.action_dim", "must be > 0")?;
        match o.mode {
            ObsMode::State => check(
                o.state_dim > 0,
                "obs.state_dim",
                "must be > 0 in state mode",
            )?,
            ObsMode::Pixels => {
                check(o.frame_height >= 8, "obs.frame_height", "must be >= 8")?;
                check(o.frame_width >= 8, "obs.frame_width", "must be >= 8")?;
                check(
                    !self.encoder.conv_channels.is_empty(),
                    "encoder.conv_channels",
                    "empty",
                )?;
                check(
                    self.encoder.conv_stride > 0,
                    "encoder.conv_stride",
                    "must be > 0",
                )?;
                check(
                    self.encoder.conv_kernel > 0,
                    "encoder.conv_kernel",
                    "must be > 0",
                )?;
                check(
                    self.conv_output_hw().is_some(),
                    "encoder.conv_channels",
                    "the conv stack shrinks the frame to nothing",
                )?;
            }
        }
        check(
            self.encoder.latent_dim > 0,
            "encoder.latent_dim",
            "must be > 0",
        )?;
        check(self.encoder.min_std > 0.0, "encoder.min_std", "must be > 0")?;
        if self.encoder.identity {
            check(
                o.mode == ObsMode::State,
                "encoder.identity",
                "needs state observations (obs.mode: state)",
            )?;
            check(
                self.encoder.latent_dim == o.state_dim + o.proprio_dim,
                "encoder.latent_dim",
                "must be obs.state_dim + obs.proprio_dim with encoder.identity \
                 (LearnConfig::derive sets it)",
            )?;
        }
        check(
            self.model.ensemble_size >= 2,
            "model.ensemble_size",
            "must be >= 2",
        )?;
        check(self.model.min_std > 0.0, "model.min_std", "must be > 0")?;
        check(
            self.model.max_std > self.model.min_std,
            "model.max_std",
            "must be > min_std",
        )?;
        let a = &self.alm;
        check(a.seq_len >= 1, "alm.seq_len", "must be >= 1")?;
        check(
            (0.0..=1.0).contains(&a.gamma),
            "alm.gamma",
            "must be in [0, 1]",
        )?;
        check(
            (0.0..=1.0).contains(&a.lambda),
            "alm.lambda",
            "must be in [0, 1]",
        )?;
        check(a.tau > 0.0 && a.tau <= 1.0, "alm.tau", "must be in (0, 1]")?;
        check(a.batch_size > 0, "alm.batch_size", "must be > 0")?;
        check(a.init_alpha > 0.0, "alm.init_alpha", "must be > 0")?;
        check(
            a.rl_weight.is_finite()
                && a.rl_weight >= 0.0
                && (a.rl_weight > 0.0 || a.bc_weight > 0.0),
            "alm.rl_weight",
            "must be finite and >= 0, and > 0 unless alm.bc_weight is (the actor needs a loss)",
        )?;
        check(
            a.max_model_error_ratio
                .is_none_or(|r| r.is_finite() && r > 0.0),
            "alm.max_model_error_ratio",
            "must be unset or a finite ratio > 0",
        )?;
        check(
            self.actor
                .explore_std_max
                .is_none_or(|s| s.is_finite() && s > 0.0),
            "actor.explore_std_max",
            "must be unset or a finite standard deviation > 0",
        )?;
        check(
            self.medal.input != ClassifierInput::State || self.obs.mode == ObsMode::State,
            "medal.input",
            "`state` needs obs.mode state (with pixels the classifiers read latents)",
        )?;
        check(
            self.medal.batch_size >= 2,
            "medal.batch_size",
            "must be >= 2",
        )?;
        check(
            self.medal.mixup_alpha >= 0.0,
            "medal.mixup_alpha",
            "must be >= 0",
        )?;
        let scale = &self.encoder.state_scale;
        check(
            scale.is_empty()
                || (self.obs.mode == ObsMode::State
                    && scale.len() == self.obs.state_dim
                    && scale.iter().all(|v| v.is_finite() && *v > 0.0)),
            "encoder.state_scale",
            "must be empty, or in state mode obs.state_dim finite factors > 0",
        )?;
        let shift = &self.encoder.state_shift;
        check(
            shift.is_empty()
                || (self.obs.mode == ObsMode::State
                    && shift.len() == self.obs.state_dim
                    && shift.iter().all(|v| v.is_finite())),
            "encoder.state_shift",
            "must be empty, or in state mode obs.state_dim finite values",
        )?;
        check(
            !self.encoder.state_from_demos
                || (self.obs.mode == ObsMode::State && scale.is_empty() && shift.is_empty()),
            "encoder.state_from_demos",
            "needs state mode and an empty encoder.state_scale and encoder.state_shift \
             (it computes them)",
        )?;
        check(
            self.encoder.state_std_floor.is_finite() && self.encoder.state_std_floor > 0.0,
            "encoder.state_std_floor",
            "must be finite and > 0",
        )?;
        check(
            self.medal.hard_negatives >= 1,
            "medal.hard_negatives",
            "must be >= 1 (1: off)",
        )?;
        check(
            self.medal.reward_clamp > 0.0,
            "medal.reward_clamp",
            "must be > 0",
        )?;
        if self.dynamics.enabled {
            self.dynamics.validate()?;
            check(
                self.obs.mode == ObsMode::State,
                "dynamics.enabled",
                "the state dynamics ensemble needs obs.mode state",
            )?;
            check(
                self.obs.proprio_dim == 0,
                "dynamics.enabled",
                "the state dynamics ensemble needs obs.proprio_dim 0 (the state carries the joints)",
            )?;
        }
        check(
            self.mbpo.rollout_length >= 1,
            "mbpo.rollout_length",
            "must be >= 1",
        )?;
        check(
            (0.0..=1.0).contains(&self.mbpo.real_ratio),
            "mbpo.real_ratio",
            "must be in [0, 1]",
        )?;
        check(self.replay.capacity > 0, "replay.capacity", "must be > 0")?;
        check(
            self.replay.chunk_records > 0,
            "replay.chunk_records",
            "must be > 0",
        )?;
        Ok(())
    }

    /// Spatial size (h, w) after the conv stack, `None` when it vanishes.
    pub fn conv_output_hw(&self) -> Option<(usize, usize)> {
        let (k, s) = (self.encoder.conv_kernel, self.encoder.conv_stride.max(1));
        let (mut h, mut w) = (self.obs.frame_height, self.obs.frame_width);
        for _ in &self.encoder.conv_channels {
            if h < k || w < k {
                return None;
            }
            h = (h - k) / s + 1;
            w = (w - k) / s + 1;
        }
        Some((h, w))
    }

    /// Target entropy of the actor: configured, or −action_dim.
    pub fn target_entropy(&self) -> f64 {
        self.alm
            .target_entropy
            .unwrap_or(-(self.obs.action_dim as f64))
    }

    /// sha256 (hex) of the canonical serialization: JSON with sorted keys.
    pub fn config_hash(&self) -> String {
        // serde_json::Value keeps object keys in a BTreeMap (sorted) without `preserve_order`.
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let text = value.to_string();
        hex(&Sha256::digest(text.as_bytes()))
    }

    /// Whether the MEDAL classifiers read the standardised state (`medal.input`).
    pub fn classifier_reads_state(&self) -> bool {
        match self.medal.input {
            ClassifierInput::State => true,
            ClassifierInput::Latent => false,
            ClassifierInput::Auto => self.obs.mode == ObsMode::State,
        }
    }

    /// The MEDAL classifiers' input size: state + proprio, or the latent.
    pub fn classifier_input_dim(&self) -> usize {
        if self.classifier_reads_state() {
            self.obs.state_dim + self.obs.proprio_dim
        } else {
            self.encoder.latent_dim
        }
    }

    /// Architecture id of one component: network kinds and sizes, nothing else.
    /// Checkpoints carry it; a load into a network of another id is refused.
    pub fn architecture(&self, component: Component) -> String {
        let o = &self.obs;
        let e = &self.encoder;
        let z = e.latent_dim;
        let a = o.action_dim;
        let body = match component {
            Component::Encoder => match o.mode {
                ObsMode::State if e.identity => format!("state_identity;z={z}"),
                ObsMode::State => format!(
                    "state_mlp;in={};h={};z={z}",
                    o.state_dim + o.proprio_dim,
                    dims(&e.hidden)
                ),
                ObsMode::Pixels => format!(
                    "pixel_conv;frame={}x{}x3;conv={}k{}s{};feat={};proprio={}->{};h={};z={z};backbone={}",
                    o.frame_height,
                    o.frame_width,
                    dims(&e.conv_channels),
                    e.conv_kernel,
                    e.conv_stride,
                    e.image_feature_dim,
                    o.proprio_dim,
                    e.proprio_feature_dim,
                    dims(&e.hidden),
                    if e.torchscript.is_some() {
                        "torchscript"
                    } else {
                        "conv"
                    }
                ),
            },
            Component::Model => {
                let d = &self.dynamics;
                let dynamics = if d.enabled {
                    format!(";dynamics=n{}e{}h{}", d.members, d.elites, dims(&d.hidden))
                } else {
                    String::new()
                };
                format!(
                    "gaussian_ensemble;n={};z={z};a={a};h={};reward_h={}{dynamics}",
                    self.model.ensemble_size,
                    dims(&self.model.hidden),
                    dims(&self.reward_head.hidden)
                )
            }
            Component::LatentClassifier => {
                format!(
                    "latent_classifier;z={z};a={a};h={}",
                    dims(&self.latent_classifier.hidden)
                )
            }
            Component::Actor => format!(
                "squashed_gaussian;z={z};a={a};h={}",
                dims(&self.actor.hidden)
            ),
            Component::Critic => format!(
                "twin_q;z={z};a={a};h={}{}",
                dims(&self.critic.hidden),
                if self.critic.layer_norm { ";ln" } else { "" }
            ),
            Component::DemoClassifier | Component::GoalClassifier => {
                if self.classifier_reads_state() {
                    format!(
                        "state_classifier;state={};h={}",
                        self.classifier_input_dim(),
                        dims(&self.medal.hidden)
                    )
                } else {
                    format!("state_classifier;z={z};h={}", dims(&self.medal.hidden))
                }
            }
        };
        format!("mbarl/{}/{}", component.name(), body)
    }
}

/// The separately checkpointed parts of the learner (the `component` of a ModelCheckpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Encoder,
    /// Latent model ensemble + reward head.
    Model,
    LatentClassifier,
    Actor,
    /// Twin Q critics (+ their targets are rebuilt from them on load).
    Critic,
    DemoClassifier,
    GoalClassifier,
}

impl Component {
    pub const ALL: [Component; 7] = [
        Component::Encoder,
        Component::Model,
        Component::LatentClassifier,
        Component::Actor,
        Component::Critic,
        Component::DemoClassifier,
        Component::GoalClassifier,
    ];

    /// The component's name in checkpoints and messages.
    pub fn name(self) -> &'static str {
        match self {
            Component::Encoder => "encoder",
            Component::Model => "model",
            Component::LatentClassifier => "latent_classifier",
            Component::Actor => "actor",
            Component::Critic => "critic",
            Component::DemoClassifier => "demo_classifier",
            Component::GoalClassifier => "goal_classifier",
        }
    }

    /// Parses a component name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}
