//! mbarl-learn: the learning core of mbarl on tch (libtorch). No ROS: the nodes call it.
//!
//! - [`config`]: [`LearnConfig`], every hyper-parameter, from YAML with defaults; config hash and
//!   architecture ids.
//! - [`nets`]: encoders (state MLP, pixel conv + proprio, optional TorchScript backbone), the
//!   Gaussian latent-model ensemble, reward head, squashed-Gaussian actor, twin critics, the
//!   ALM latent classifier and the MEDAL state classifiers.
//! - [`alm`]: [`AlmAgent`] = [`WorldModel`] + [`Policy`] and the ALM update.
//! - [`medal`]: classifier training (BCE, mixup) and the backward reward.
//! - [`dynamics`]: the probabilistic state-dynamics ensemble (elites, standardised inputs and
//!   Δs targets, fitted to convergence on held-out error) for state observations.
//! - [`mbpo`]: branched latent rollouts truncated by ensemble disagreement; the model buffer.
//! - [`replay`]: crash-safe append-only replay on disk, uint8 frames in memory, uniform and
//!   sequence sampling.
//! - [`state_norm`]: the state standardisation from demonstrations (`encoder.state_from_demos`).
//! - [`checkpoint`]: safetensors checkpoints with version, architecture, config hash, sha256.
//! - [`optim`]: Adam with a single-pass CPU kernel.
//! - [`device`]: CPU/CUDA selection (`--device cpu|cuda`), CPU allocator tuning.
//!
//! Binaries linking this crate need libtorch at run time: give them a build script that embeds
//! an rpath to `$LIBTORCH/lib`, like this crate's `build.rs` does for its tests and examples.
pub mod alm;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod dynamics;
pub mod error;
pub mod mbpo;
pub mod medal;
pub mod nets;
pub mod optim;
pub mod replay;
pub mod state_norm;

pub use alm::{
    AlmAgent, AlmStats, LatentTransitions, Policy, RewardSource, SequenceBatch, TransitionBatch,
    WorldModel,
};
pub use checkpoint::{CheckpointBytes, CheckpointMeta};
pub use config::{Component, LearnConfig, ObsMode};
pub use device::DeviceChoice;
pub use error::{LearnError, Result};
pub use nets::ObsBatch;
pub use state_norm::StateNorm;
