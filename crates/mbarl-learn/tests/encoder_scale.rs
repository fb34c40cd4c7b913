//! `encoder.state_shift` / `encoder.state_scale`: the state-mode encoder sees
//! `(state − shift) · scale`.
mod common;

use mbarl_learn::nets::Encoder;
use mbarl_learn::{LearnConfig, ObsBatch};
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
