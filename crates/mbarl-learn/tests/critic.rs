//! The critics' layer normalisation (`critic.layer_norm`, RLPD): same parameters (checkpoints
//! keep their layout), and Q stays bounded far off the data, where a plain MLP extrapolates
//! linearly.
mod common;

use mbarl_learn::nets::{self, TwinCritic};
use tch::nn;
use tch::{Device, Kind, Tensor};

fn critic(layer_norm: bool) -> (nn::VarStore, TwinCritic) {
    let mut cfg = common::small_state_config(4, 2);
    cfg.critic.layer_norm = layer_norm;
    let vs = nn::VarStore::new(Device::Cpu);
    let q = TwinCritic::new(vs.root() / "critic", &cfg);
    (vs, q)
}

fn max_abs_q(q: &TwinCritic, scale: f64) -> f64 {
    let latent_dim = common::small_state_config(4, 2).encoder.latent_dim as i64;
    let z = Tensor::randn([256, latent_dim], (Kind::Float, Device::Cpu)) * scale;
    let a = Tensor::rand([256, 2], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
    tch::no_grad(|| q.forward(&z, &a))
        .abs()
        .max()
        .double_value(&[])
}

#[test]
fn layer_norm_keeps_parameters_and_bounds_extrapolation() {
    let _seeded = common::init(0);
    let (plain_vs, plain) = critic(false);
    let (ln_vs, ln) = critic(true);
    let shapes = |vs: &nn::VarStore| {
        let mut v: Vec<(String, Vec<i64>)> = vs
            .variables()
            .into_iter()
            .map(|(k, t)| (k, t.size()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(shapes(&plain_vs), shapes(&ln_vs));
    assert_eq!(
        nets::variables(&ln_vs).len(),
        nets::variables(&plain_vs).len()
    );
    // 1000× the data's scale: the plain critic grows with it, the normalised one cannot.
    let (p1, p1000) = (max_abs_q(&plain, 1.0), max_abs_q(&plain, 1000.0));
    let (l1, l1000) = (max_abs_q(&ln, 1.0), max_abs_q(&ln, 1000.0));
    assert!(p1000 > 100.0 * p1, "plain critic: {p1} → {p1000}");
    assert!(
        l1000 < 10.0 * l1.max(0.1),
        "layer-normalised critic: {l1} → {l1000}"
    );
}
