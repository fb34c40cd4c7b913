//! The pixel path: conv encoder + proprio through a full ALM update, and a TorchScript image
//! backbone (exported elsewhere, here traced from Rust) behind the same encoder interface.
mod common;

use mbarl_learn::config::{Component, ObsMode};
use mbarl_learn::{AlmAgent, LearnConfig, ObsBatch, SequenceBatch};
use tch::{CModule, Device, Kind, Tensor};

fn pixel_config() -> LearnConfig {
    let mut c = common::small_state_config(0, 3);
    c.obs.mode = ObsMode::Pixels;
    c.obs.frame_height = 32;
    c.obs.frame_width = 32;
    c.obs.proprio_dim = 4;
    c.encoder.conv_channels = vec![8, 8];
    c.encoder.image_feature_dim = 16;
    c.encoder.proprio_feature_dim = 8;
    c
}

fn batch(c: &LearnConfig, b: i64) -> SequenceBatch {
    let k = c.alm.seq_len as i64;
    let f = (Kind::Float, Device::Cpu);
    SequenceBatch {
        obs: ObsBatch {
            state: None,
            proprio: Some(Tensor::randn([k + 1, b, 4], f)),
            frames: Some(Tensor::randint(
                256,
                [k + 1, b, 32, 32, 3],
                (Kind::Uint8, Device::Cpu),
            )),
        },
        actions: Tensor::rand([k, b, 3], f) * 2.0 - 1.0,
        rewards: Tensor::randn([k, b], f),
        dones: Tensor::zeros([k, b], f),
    }
}

#[test]
fn pixel_agent_updates_and_acts() {
    let _seeded = common::init(6);
    let cfg = pixel_config();
    let mut agent = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    let seq = batch(&cfg, 16);
    let first = agent.update(&seq).unwrap();
    for _ in 0..20 {
        agent.update(&seq).unwrap();
    }
    let last = agent.update(&seq).unwrap();
    // On a fixed batch the reward head's MSE falls (it fits the 16×K recorded rewards).
    assert!(
        last.reward_loss < first.reward_loss,
        "{first:?} -> {last:?}"
    );
    let a = agent.act(&seq.obs.get(0), false).unwrap();
    assert_eq!(a.size(), [16, 3]);
    assert!(a.abs().max().double_value(&[]) <= 1.0);
    // Wrong frame size: an error, not a panic.
    let bad = ObsBatch {
        frames: Some(Tensor::zeros([2, 16, 16, 3], (Kind::Uint8, Device::Cpu))),
        ..Default::default()
    };
    assert!(agent.act(&bad, true).is_err());
}

#[test]
fn torchscript_backbone_behind_the_encoder_interface() {
    let _seeded = common::init(7);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backbone.pt");
    // A "pretrained" backbone: global average pool + a fixed projection to 16 features.
    let w = Tensor::randn([3, 16], (Kind::Float, Device::Cpu));
    let example = Tensor::rand([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    let module = CModule::create_by_tracing("Backbone", "forward", &[example], &mut |xs| {
        vec![
            xs[0]
                .mean_dim([2i64, 3].as_slice(), false, Kind::Float)
                .matmul(&w)
                .tanh(),
        ]
    })
    .unwrap();
    module.save(&path).unwrap();

    let mut cfg = pixel_config();
    cfg.encoder.torchscript = Some(path.to_string_lossy().into_owned());
    assert!(
        cfg.architecture(Component::Encoder)
            .contains("backbone=torchscript")
    );
    let mut agent = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    let seq = batch(&cfg, 8);
    agent.update(&seq).unwrap();
    let z = agent.world.encode_mean(&seq.obs.get(0)).unwrap();
    assert_eq!(z.size(), [8, cfg.encoder.latent_dim as i64]);

    // A backbone whose output size differs from image_feature_dim: a clear error.
    cfg.encoder.image_feature_dim = 32;
    let agent = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    let err = agent
        .world
        .encode_mean(&seq.obs.get(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TorchScript backbone"), "{err}");
    // A missing file names the key.
    cfg.encoder.torchscript = Some("/nonexistent/backbone.pt".into());
    let err = AlmAgent::new(&cfg, Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("encoder.torchscript"), "{err}");
}

#[test]
fn a_nan_loss_is_reported_and_not_applied() {
    let _seeded = common::init(8);
    let cfg = pixel_config();
    let mut agent = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    let mut seq = batch(&cfg, 8);
    seq.rewards = Tensor::full(
        [cfg.alm.seq_len as i64, 8],
        f64::NAN,
        (Kind::Float, Device::Cpu),
    );
    let snapshot = |vs: &tch::nn::VarStore| -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(n, t)| (n, t.copy()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let reward_before = snapshot(&agent.world.reward_vs);
    let actor_before = snapshot(&agent.policy.actor_vs);
    let err = agent.update(&seq).unwrap_err();
    assert!(
        matches!(err, mbarl_learn::LearnError::NonFinite { .. }),
        "{err}"
    );
    // The update stopped at the first non-finite loss (the reward head's MSE to NaN rewards):
    // no step was taken on the reward head, nor on anything after it (critics, actor).
    for ((n, a), (_, b)) in reward_before.iter().zip(snapshot(&agent.world.reward_vs)) {
        assert!(a.equal(&b), "{n} changed");
    }
    for ((n, a), (_, b)) in actor_before.iter().zip(snapshot(&agent.policy.actor_vs)) {
        assert!(a.equal(&b), "{n} changed");
    }
}
