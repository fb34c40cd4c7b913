//! Twin Q critics Q1, Q2(z, a), evaluated together as a 2-member ensemble.
use super::{Activation, EnsembleMlp};
use crate::config::LearnConfig;
use tch::nn;
use tch::{Kind, Tensor};

#[derive(Debug)]
pub struct TwinCritic {
    net: EnsembleMlp,
}

impl TwinCritic {
    pub fn new(p: nn::Path, cfg: &LearnConfig) -> Self {
        let z = cfg.encoder.latent_dim;
        let a = cfg.obs.action_dim;
        Self {
            net: EnsembleMlp::new(p / "q", 2, z + a, &cfg.critic.hidden, 1, Activation::Elu)
                .with_layer_norm(cfg.critic.layer_norm),
        }
    }

    /// Both critics' values for (B, Z), (B, A): shape (2, B).
    pub fn forward(&self, z: &Tensor, a: &Tensor) -> Tensor {
        let x = Tensor::cat(&[z, a], -1);
        let size = x.size();
        let lead: i64 = size[..size.len() - 1].iter().product();
        let x = x.reshape([lead, size[size.len() - 1]]);
        let mut out_shape = vec![2i64];
        out_shape.extend_from_slice(&size[..size.len() - 1]);
        self.net.forward_shared(&x).reshape(out_shape)
    }

    /// min(Q1, Q2): shape (…).
    pub fn min_q(&self, z: &Tensor, a: &Tensor) -> Tensor {
        self.forward(z, a).amin(0, false).to_kind(Kind::Float)
    }
}
