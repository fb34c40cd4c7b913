//! Checkpoint bundles: the var stores one node ships as one versioned ModelCheckpoint.
//!
//! A ModelCheckpoint topic is latched with depth 1, so each topic carries one bundle in which
//! every part has the same version (an encoder and the latent model trained on its latents
//! always travel together):
//! - `world_model` on `/mbarl/model/checkpoint`: encoder + latent model ensemble + reward head
//!   + latent classifier;
//! - `classifiers` on `/mbarl/classifier/checkpoint`: demo-state + goal classifier;
//! - `forward_policy` / `backward_policy` on `/mbarl/<role>/checkpoint`: actor + critics + α.
//!
//! The architecture id of a bundle joins its parts' [`LearnConfig::architecture`] ids with `+`;
//! receivers check sha256 and architecture ([`mbarl_learn::checkpoint::from_bytes`]) and refuse
//! a mismatch without touching their weights.
use crate::{NodeError, Result};
use mbarl_learn::checkpoint::{self, CheckpointBytes, CheckpointMeta};
use mbarl_learn::medal::ClassifierTrainer;
use mbarl_learn::{Component, LearnConfig, Policy, WorldModel};
use mbarl_msgs::builtin_interfaces::Time;
use mbarl_msgs::msg::ModelCheckpoint;
use mbarl_msgs::std_msgs::Header;
use tch::nn::VarStore;

pub const WORLD_MODEL: &str = "world_model";
pub const CLASSIFIERS: &str = "classifiers";

/// The bundle name of a policy role (`forward` → `forward_policy`).
pub fn policy_bundle(role: &str) -> String {
    format!("{role}_policy")
}

fn arch(cfg: &LearnConfig, parts: &[Component]) -> String {
    parts
        .iter()
        .map(|c| cfg.architecture(*c))
        .collect::<Vec<_>>()
        .join("+")
}

pub fn world_model_architecture(cfg: &LearnConfig) -> String {
    arch(
        cfg,
        &[
            Component::Encoder,
            Component::Model,
            Component::LatentClassifier,
        ],
    )
}

pub fn classifiers_architecture(cfg: &LearnConfig) -> String {
    arch(cfg, &[Component::DemoClassifier, Component::GoalClassifier])
}

pub fn policy_architecture(cfg: &LearnConfig) -> String {
    arch(cfg, &[Component::Actor, Component::Critic])
}

fn world_stores(w: &WorldModel) -> Vec<(&'static str, &VarStore)> {
    let mut stores = vec![
        ("", &w.encoder_vs),
        ("", &w.model_vs),
        ("", &w.reward_vs),
        ("", &w.classifier_vs),
    ];
    if let Some(d) = &w.dynamics {
        stores.push(("", &d.vs));
    }
    stores
}

fn policy_stores(p: &Policy) -> Vec<(&'static str, &VarStore)> {
    vec![("", &p.actor_vs), ("", &p.critic_vs), ("", &p.alpha_vs)]
}

fn meta(component: &str, version: u64, architecture: String, cfg: &LearnConfig) -> CheckpointMeta {
    CheckpointMeta {
        component: component.to_string(),
        version,
        architecture,
        config_hash: cfg.config_hash(),
    }
}

fn check_component(ck: &CheckpointBytes, want: &str) -> Result<()> {
    if ck.meta.component != want {
        return Err(NodeError::Checkpoint {
            component: ck.meta.component.clone(),
            reason: format!("expected a `{want}` checkpoint"),
        });
    }
    Ok(())
}

pub fn save_world_model(
    w: &WorldModel,
    cfg: &LearnConfig,
    version: u64,
) -> Result<CheckpointBytes> {
    Ok(checkpoint::to_bytes(
        &world_stores(w),
        &meta(WORLD_MODEL, version, world_model_architecture(cfg), cfg),
    )?)
}

/// Loads a world-model bundle (verified) and re-syncs the target encoder.
pub fn load_world_model(
    w: &mut WorldModel,
    cfg: &LearnConfig,
    ck: &CheckpointBytes,
) -> Result<CheckpointMeta> {
    check_component(ck, WORLD_MODEL)?;
    let m = checkpoint::from_bytes(
        ck,
        &world_stores(w),
        &world_model_architecture(cfg),
        &cfg.config_hash(),
    )?;
    w.sync_target();
    Ok(m)
}

pub fn save_policy(
    p: &Policy,
    cfg: &LearnConfig,
    role: &str,
    version: u64,
) -> Result<CheckpointBytes> {
    Ok(checkpoint::to_bytes(
        &policy_stores(p),
        &meta(&policy_bundle(role), version, policy_architecture(cfg), cfg),
    )?)
}

pub fn load_policy(
    p: &mut Policy,
    cfg: &LearnConfig,
    role: &str,
    ck: &CheckpointBytes,
) -> Result<CheckpointMeta> {
    check_component(ck, &policy_bundle(role))?;
    let m = checkpoint::from_bytes(
        ck,
        &policy_stores(p),
        &policy_architecture(cfg),
        &cfg.config_hash(),
    )?;
    p.sync_target();
    Ok(m)
}

pub fn save_classifiers(
    demo: &ClassifierTrainer,
    goal: &ClassifierTrainer,
    cfg: &LearnConfig,
    version: u64,
) -> Result<CheckpointBytes> {
    Ok(checkpoint::to_bytes(
        &[("", &demo.vs), ("", &goal.vs)],
        &meta(CLASSIFIERS, version, classifiers_architecture(cfg), cfg),
    )?)
}

pub fn load_classifiers(
    demo: &mut ClassifierTrainer,
    goal: &mut ClassifierTrainer,
    cfg: &LearnConfig,
    ck: &CheckpointBytes,
) -> Result<CheckpointMeta> {
    check_component(ck, CLASSIFIERS)?;
    Ok(checkpoint::from_bytes(
        ck,
        &[("", &demo.vs), ("", &goal.vs)],
        &classifiers_architecture(cfg),
        &cfg.config_hash(),
    )?)
}

/// The ModelCheckpoint message of checkpoint bytes.
pub fn to_msg(ck: &CheckpointBytes, stamp: Time) -> ModelCheckpoint {
    ModelCheckpoint {
        header: Header {
            stamp,
            frame_id: String::new(),
        },
        component: ck.meta.component.clone(),
        version: ck.meta.version.min(u32::MAX as u64) as u32,
        architecture: ck.meta.architecture.clone(),
        config_hash: ck.meta.config_hash.clone(),
        sha256: ck.sha256.clone(),
        weights: ck.weights.clone(),
    }
}

/// Checkpoint bytes from a message, verified (sha256, metadata = envelope).
pub fn from_msg(m: &ModelCheckpoint) -> Result<CheckpointBytes> {
    let ck = CheckpointBytes {
        meta: CheckpointMeta {
            component: m.component.clone(),
            version: m.version as u64,
            architecture: m.architecture.clone(),
            config_hash: m.config_hash.clone(),
        },
        sha256: m.sha256.clone(),
        weights: m.weights.clone(),
    };
    checkpoint::verify(&ck)?;
    Ok(ck)
}
