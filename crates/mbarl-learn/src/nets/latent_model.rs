//! Gaussian latent model m(z′|z,a) as an ensemble, and the reward head r(z,a).
use super::{Activation, EnsembleMlp, Gaussian, Mlp};
use crate::config::LearnConfig;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// An ensemble of Gaussian latent dynamics models predicting z′ = z + Δ(z, a).
#[derive(Debug)]
pub struct LatentModel {
    net: EnsembleMlp,
    pub members: usize,
    pub latent_dim: usize,
    min_std: f64,
    max_std: f64,
}

impl LatentModel {
    pub fn new(p: nn::Path, cfg: &LearnConfig) -> Self {
        let z = cfg.encoder.latent_dim;
        let a = cfg.obs.action_dim;
        let e = cfg.model.ensemble_size;
        Self {
            net: EnsembleMlp::new(
                p / "ensemble",
                e,
                z + a,
                &cfg.model.hidden,
                2 * z,
                Activation::Elu,
            ),
            members: e,
            latent_dim: z,
            min_std: cfg.model.min_std,
            max_std: cfg.model.max_std,
        }
    }

    /// Every member's prediction for (z, a) of shape (B, ·): mean and std of shape (E, B, Z).
    pub fn forward(&self, z: &Tensor, a: &Tensor) -> Gaussian {
        let out = self.net.forward_shared(&Tensor::cat(&[z, a], -1));
        let parts = out.chunk(2, -1);
        let mean = &parts[0] + z.unsqueeze(0);
        let std = parts[1].sigmoid() * (self.max_std - self.min_std) + self.min_std;
        Gaussian { mean, std }
    }

    /// The prediction of one uniformly random member per row, computing only that member:
    /// rows are spread over the members through a random permutation (padded to a multiple of
    /// E with discarded rows), so the cost is that of one member, not E. Same distribution as
    /// [`LatentModel::pick_member`] of [`LatentModel::forward`]. Mean and std (B, Z).
    pub fn forward_random_member(&self, z: &Tensor, a: &Tensor) -> Gaussian {
        let b = z.size()[0];
        let e = self.members as i64;
        let per = (b + e - 1) / e;
        let n = per * e;
        let device = z.device();
        // Position j of the permuted batch holds row perm[j] mod b and goes to member j / per;
        // rows perm[j] >= b are padding.
        let perm = Tensor::randperm(n, (Kind::Int64, device));
        let src = if n > b {
            perm.remainder(b)
        } else {
            perm.shallow_clone()
        };
        let x = Tensor::cat(&[z, a], -1)
            .index_select(0, &src)
            .reshape([e, per, -1]);
        let out = self.net.forward(&x).reshape([n, -1]);
        let pos = perm.argsort(0, false).narrow(0, 0, b);
        let out = out.index_select(0, &pos);
        let parts = out.chunk(2, -1);
        Gaussian {
            mean: &parts[0] + z,
            std: parts[1].sigmoid() * (self.max_std - self.min_std) + self.min_std,
        }
    }

    /// Picks one member per batch row, uniformly at random: (E, B, Z) → (B, Z).
    pub fn pick_member(&self, g: &Gaussian) -> Gaussian {
        let size = g.mean.size();
        let (e, b, z) = (size[0], size[1], size[2]);
        let idx =
            Tensor::randint(e, [1, b, 1], (Kind::Int64, g.mean.device())).expand([1, b, z], false);
        Gaussian {
            mean: g.mean.gather(0, &idx, false).squeeze_dim(0),
            std: g.std.gather(0, &idx, false).squeeze_dim(0),
        }
    }

    /// Ensemble disagreement per batch row: the standard deviation of the members' means,
    /// averaged over latent dimensions. Shape (B).
    pub fn disagreement(g: &Gaussian) -> Tensor {
        g.mean
            .std_dim(0, false, false)
            .mean_dim(-1, false, Kind::Float)
    }

    /// One-step error of the ensemble-mean prediction against the "nothing changes" guess:
    /// mean |m̄(z, a) − z′| / mean |z′ − z| over the batch (z, a, z′ of shape (B, ·)). Below 1
    /// the model predicts part of the change; about 1 or more, its imagined steps are no better
    /// than standing still. `None` when nothing changes (z′ = z) or a value is not finite.
    ///
    /// Give it latent *means* (the encoder's), not posterior samples: with samples the
    /// encoder's noise counts as model error ([`crate::WorldModel::model_error_ratio`]).
    pub fn error_ratio(&self, z: &Tensor, a: &Tensor, z_next: &Tensor) -> Option<f64> {
        let prediction = tch::no_grad(|| self.forward(z, a).mean.mean_dim(0, false, Kind::Float));
        error_ratio_of(&prediction, z, z_next)
    }

    /// Negative log-likelihood of z′ under every member, averaged over members and batch
    /// (supervised fitting when the latent is known, e.g. a state-space model).
    pub fn nll_loss(&self, z: &Tensor, a: &Tensor, z_next: &Tensor) -> Tensor {
        let g = self.forward(z, a);
        -g.log_prob(&z_next.unsqueeze(0)).mean(Kind::Float)
    }
}

/// mean |prediction − z′| / mean |z′ − z| (`None` when nothing changes or it is not finite).
pub fn error_ratio_of(prediction: &Tensor, z: &Tensor, z_next: &Tensor) -> Option<f64> {
    let (error, still) = tch::no_grad(|| {
        let mean_abs = |t: Tensor| t.abs().mean(Kind::Float).double_value(&[]);
        (mean_abs(prediction - z_next), mean_abs(z_next - z))
    });
    let ratio = error / still;
    (still > 1e-12 && ratio.is_finite()).then_some(ratio)
}

/// Reward head r(z, a) → scalar.
#[derive(Debug)]
pub struct RewardHead {
    net: Mlp,
}

impl RewardHead {
    pub fn new(p: nn::Path, cfg: &LearnConfig) -> Self {
        let z = cfg.encoder.latent_dim;
        let a = cfg.obs.action_dim;
        Self {
            net: Mlp::new(
                p / "reward",
                z + a,
                &cfg.reward_head.hidden,
                1,
                Activation::Elu,
            ),
        }
    }

    /// (…, Z), (…, A) → (…).
    pub fn forward(&self, z: &Tensor, a: &Tensor) -> Tensor {
        self.net.forward(&Tensor::cat(&[z, a], -1)).squeeze_dim(-1)
    }
}
