//! `encoder.state_shift` / `encoder.state_scale`: the state-mode encoder sees
//! `(state − shift) · scale`; with `encoder.identity` that is the latent itself.
mod common;

use mbarl_learn::config::Component;
use mbarl_learn::nets::Encoder;
use mbarl_learn::{AlmAgent, LearnConfig, ObsBatch, SequenceBatch};
use tch::{Device, Kind, Tensor, nn};

/// Latent means of `state` through an encoder of `cfg` and through the same weights without
/// shift or scale, given `by_hand(state)`.
fn normalised_and_by_hand(cfg: &LearnConfig, by_hand: impl Fn(&Tensor) -> Tensor) -> f64 {
    let plain_cfg = common::small_state_config(3, 2);
    let plain_vs = nn::VarStore::new(Device::Cpu);
    let plain = Encoder::new(plain_vs.root() / "encoder", &plain_cfg).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let enc = Encoder::new(vs.root() / "encoder", cfg).unwrap();
    vs.copy(&plain_vs).unwrap();
    let state = Tensor::randn([5, 3], (Kind::Float, Device::Cpu));
    let batch = |s: Tensor| ObsBatch {
        state: Some(s),
        proprio: None,
        frames: None,
    };
    let ours = enc.forward(&batch(state.shallow_clone())).unwrap().mean;
    let hand = plain.forward(&batch(by_hand(&state))).unwrap().mean;
    let unchanged = plain.forward(&batch(state)).unwrap().mean;
    let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
    assert!(
        diff(&ours, &unchanged) > 1e-3,
        "the normalisation changes the latents"
    );
    diff(&ours, &hand)
}

#[test]
fn a_scaled_encoder_sees_the_state_times_its_factors() {
    let _g = common::init(3);
    let mut cfg = common::small_state_config(3, 2);
    cfg.encoder.state_scale = vec![1.0, 10.0, 0.5];
    cfg.validate().unwrap();
    let factors = Tensor::from_slice(&[1.0f32, 10.0, 0.5]);
    assert!(normalised_and_by_hand(&cfg, |s| s * &factors) < 1e-5);
}

#[test]
fn a_shifted_and_scaled_encoder_sees_the_standardised_state() {
    let _g = common::init(3);
    let mut cfg = common::small_state_config(3, 2);
    cfg.set_state_norm(mbarl_learn::StateNorm {
        shift: vec![0.5, -2.0, 0.0],
        scale: vec![1.0, 10.0, 0.5],
    })
    .unwrap();
    let shift = Tensor::from_slice(&[0.5f32, -2.0, 0.0]);
    let factors = Tensor::from_slice(&[1.0f32, 10.0, 0.5]);
    assert!(normalised_and_by_hand(&cfg, |s| (s - &shift) * &factors) < 1e-5);
}

fn identity_config() -> LearnConfig {
    let mut cfg = common::small_state_config(3, 2);
    cfg.encoder.identity = true;
    cfg.encoder.min_std = 0.01;
    cfg.derive();
    cfg.set_state_norm(mbarl_learn::StateNorm {
        shift: vec![0.5, -2.0, 0.0],
        scale: vec![1.0, 10.0, 0.5],
    })
    .unwrap();
    cfg
}

#[test]
fn an_identity_encoder_is_the_standardised_state_and_learns_nothing() {
    let _g = common::init(3);
    let cfg = identity_config();
    assert_eq!(cfg.encoder.latent_dim, 3, "derived from obs.state_dim");
    let vs = nn::VarStore::new(Device::Cpu);
    let enc = Encoder::new(vs.root() / "encoder", &cfg).unwrap();
    assert!(vs.variables().is_empty(), "no parameters");
    let state = Tensor::randn([5, 3], (Kind::Float, Device::Cpu));
    let g = enc
        .forward(&ObsBatch {
            state: Some(state.shallow_clone()),
            proprio: None,
            frames: None,
        })
        .unwrap();
    let hand = (state - Tensor::from_slice(&[0.5f32, -2.0, 0.0]))
        * Tensor::from_slice(&[1.0f32, 10.0, 0.5]);
    assert!((g.mean - hand).abs().max().double_value(&[]) < 1e-6);
    assert!((g.std - 0.01).abs().max().double_value(&[]) < 1e-7);
}

#[test]
fn an_identity_latent_must_be_the_state_size_and_state_mode() {
    let mut cfg = identity_config();
    cfg.encoder.latent_dim = 32;
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("encoder.latent_dim"), "{e}");
    let text =
        "obs:\n  state_dim: 6\n  action_dim: 2\nencoder:\n  identity: true\n  latent_dim: 32\n";
    let loaded = LearnConfig::from_yaml_str(text).unwrap();
    assert_eq!(
        loaded.encoder.latent_dim, 6,
        "a file's latent_dim is replaced"
    );
    let pixels = "obs:\n  mode: pixels\n  state_dim: 0\n  proprio_dim: 2\n  action_dim: 2\nencoder:\n  identity: true\n";
    let e = LearnConfig::from_yaml_str(pixels).unwrap_err().to_string();
    assert!(e.contains("encoder.identity"), "{e}");
}

#[test]
fn an_agent_on_an_identity_encoder_updates_and_round_trips() {
    let _g = common::init(3);
    let mut cfg = identity_config();
    cfg.alm.batch_size = 8;
    let mut a = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    let (k, b) = (cfg.alm.seq_len as i64, 8i64);
    let opts = (Kind::Float, Device::Cpu);
    let seq = SequenceBatch {
        obs: ObsBatch {
            state: Some(Tensor::randn([k + 1, b, 3], opts)),
            proprio: None,
            frames: None,
        },
        actions: Tensor::rand([k, b, 2], opts) * 2.0 - 1.0,
        rewards: Tensor::randn([k, b], opts),
        dones: Tensor::zeros([k, b], opts),
    };
    for _ in 0..2 {
        let s = a.update(&seq).unwrap();
        assert!(s.model_loss.is_finite(), "{s:?}");
    }
    let mut other = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    for c in [Component::Encoder, Component::Model, Component::Actor] {
        let ck = a.checkpoint(c, 3).unwrap();
        assert_eq!(ck.meta.architecture, cfg.architecture(c));
        other.load_checkpoint(&ck).unwrap();
    }
    assert!(
        cfg.architecture(Component::Encoder)
            .ends_with("/state_identity;z=3")
    );
}
