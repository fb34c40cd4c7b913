//! `encoder.state_scale`: the state-mode encoder multiplies the state by its factors first.
mod common;

use mbarl_learn::ObsBatch;
use mbarl_learn::nets::Encoder;
use tch::{Device, Kind, Tensor, nn};

#[test]
fn a_scaled_encoder_sees_the_state_times_its_factors() {
    let _g = common::init(3);
    let plain_cfg = common::small_state_config(3, 2);
    let mut scaled_cfg = plain_cfg.clone();
    scaled_cfg.encoder.state_scale = vec![1.0, 10.0, 0.5];
    scaled_cfg.validate().unwrap();
    let plain_vs = nn::VarStore::new(Device::Cpu);
    let plain = Encoder::new(plain_vs.root() / "encoder", &plain_cfg).unwrap();
    let mut scaled_vs = nn::VarStore::new(Device::Cpu);
    let scaled = Encoder::new(scaled_vs.root() / "encoder", &scaled_cfg).unwrap();
    scaled_vs.copy(&plain_vs).unwrap();
    let state = Tensor::randn([5, 3], (Kind::Float, Device::Cpu));
    let batch = |s: Tensor| ObsBatch {
        state: Some(s),
        proprio: None,
        frames: None,
    };
    let factors = Tensor::from_slice(&[1.0f32, 10.0, 0.5]);
    let by_scaled = scaled.forward(&batch(state.shallow_clone())).unwrap().mean;
    let by_hand = plain.forward(&batch(&state * &factors)).unwrap().mean;
    let unscaled = plain.forward(&batch(state)).unwrap().mean;
    let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
    assert!(diff(&by_scaled, &by_hand) < 1e-5);
    assert!(
        diff(&by_scaled, &unscaled) > 1e-3,
        "the factors change the latents"
    );
}
