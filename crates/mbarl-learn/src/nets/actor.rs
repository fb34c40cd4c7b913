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
    /// `actor.explore_std_max`: the bound on σ of sampled actions in [`Actor::act`].
    explore_std_max: Option<f64>,
}

impl Actor {
    pub fn new(p: nn::Path, cfg: &LearnConfig) -> Self {
        let z = cfg.encoder.latent_dim;
        let a = cfg.obs.action_dim;
        Self {
            net: Mlp::new(p / "actor", z, &cfg.actor.hidden, 2 * a, Activation::Elu),
            log_std_min: cfg.actor.log_std_min,
            log_std_max: cfg.actor.log_std_max,
            explore_std_max: cfg.actor.explore_std_max,
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

    /// The action to execute: the squashed mean when `deterministic`, else a sample whose σ
    /// is at most `actor.explore_std_max` (bounded exploration around the mean; the learned σ
    /// when unset).
    pub fn act(&self, z: &Tensor, deterministic: bool) -> Tensor {
        tch::no_grad(|| {
            let (mean, log_std) = self.dist(z);
            if deterministic {
                return mean.tanh();
            }
            let log_std = match self.explore_std_max {
                Some(max) => log_std.clamp_max(max.ln()),
                None => log_std,
            };
            (&mean + log_std.exp() * mean.randn_like()).tanh()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LearnConfig;
    use tch::Device;

    /// Sampled actions spread around the mean by the learned σ (an untrained actor's is about
    /// e^{-1.5}, the middle of [e^-5, e^2]), and by at most `explore_std_max` when it is set.
    #[test]
    fn exploration_is_bounded_around_the_mean() {
        tch::manual_seed(3);
        let mut cfg = LearnConfig::default();
        cfg.encoder.latent_dim = 6;
        cfg.obs.action_dim = 3;
        let spread = |cfg: &LearnConfig| {
            let vs = nn::VarStore::new(Device::Cpu);
            let actor = Actor::new(vs.root() / "actor", cfg);
            let z = Tensor::randn([1, 6], (Kind::Float, Device::Cpu)).repeat([4000, 1]);
            let mean = actor.act(&z, true);
            assert!(
                mean.equal(&actor.act(&z, true)),
                "the mean is deterministic"
            );
            let u = actor.act(&z, false).clamp(-0.999_999, 0.999_999).atanh();
            let u_mean = mean.clamp(-0.999_999, 0.999_999).atanh();
            let (_, log_std) = actor.dist(&z.narrow(0, 0, 1));
            let learned: f64 = log_std.exp().mean(Kind::Float).double_value(&[]);
            let sampled = (u - u_mean).std_dim(0, true, false).max().double_value(&[]);
            (learned, sampled)
        };
        // (the initial σ varies with the weights; other tests share libtorch's generator, so
        // the seed does not fix it: bound well below any initial σ seen)
        let (learned, free) = spread(&cfg);
        assert!(learned > 0.04, "an untrained actor's σ: {learned}");
        assert!(free > 0.04, "{free}");
        cfg.actor.explore_std_max = Some(0.02);
        let (_, bounded) = spread(&cfg);
        assert!(
            (0.016..0.024).contains(&bounded),
            "σ of sampled actions {bounded}"
        );
    }
}
