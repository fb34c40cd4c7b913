//! Squashed-Gaussian actor π(a|z): a = tanh(u), u ~ N(μ(z), σ(z)).
use super::{Activation, Mlp};
use crate::config::LearnConfig;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

#[derive(Debug)]
pub struct Actor {
    net: Mlp,
    log_std_min: f64,
    log_std_max: f64,
}

impl Actor {
    pub fn new(p: nn::Path, cfg: &LearnConfig) -> Self {
        let z = cfg.encoder.latent_dim;
        let a = cfg.obs.action_dim;
        Self {
            net: Mlp::new(p / "actor", z, &cfg.actor.hidden, 2 * a, Activation::Elu),
            log_std_min: cfg.actor.log_std_min,
            log_std_max: cfg.actor.log_std_max,
        }
    }

    /// Mean and log-std of the pre-squash Gaussian.
    pub fn dist(&self, z: &Tensor) -> (Tensor, Tensor) {
        let out = self.net.forward(z);
        let parts = out.chunk(2, -1);
        let log_std = (parts[1].tanh() + 1.0) * (0.5 * (self.log_std_max - self.log_std_min))
            + self.log_std_min;
        (parts[0].shallow_clone(), log_std)
    }

    /// Reparameterised action in [-1, 1] and its log-probability (tanh-corrected), (…, A), (…).
    pub fn rsample(&self, z: &Tensor) -> (Tensor, Tensor) {
        let (mean, log_std) = self.dist(z);
        let eps = mean.randn_like();
        let u = &mean + log_std.exp() * &eps;
        let log_prob = (eps.square() * -0.5 - &log_std - 0.5 * (2.0 * std::f64::consts::PI).ln())
            .sum_dim_intlist(-1, false, Kind::Float);
        // log(1 − tanh(u)²) = 2·(log 2 − u − softplus(−2u)), numerically stable.
        let correction = ((-&u).g_mul_scalar(2.0).softplus() + &u - std::f64::consts::LN_2)
            .sum_dim_intlist(-1, false, Kind::Float)
            * 2.0;
        (u.tanh(), log_prob + correction)
    }

    /// The action to execute: the squashed mean when `deterministic`, else a sample.
    pub fn act(&self, z: &Tensor, deterministic: bool) -> Tensor {
        tch::no_grad(|| {
            if deterministic {
                self.dist(z).0.tanh()
            } else {
                self.rsample(z).0
            }
        })
    }
}
