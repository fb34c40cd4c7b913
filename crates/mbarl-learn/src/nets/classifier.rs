//! Classifiers: the ALM latent classifier C(z′, a, z) and the MEDAL state classifiers f(z)
//! (demo states, goal states). All output logits.
use super::{Activation, Mlp};
use crate::config::LearnConfig;
use tch::Tensor;
use tch::nn::{self, Module};

/// C(z′, a, z): is (z, a, z′) a real transition (encoder of the real next state) or one
/// imagined by the latent model? Its logit log C/(1−C) is ALM's reward bonus.
#[derive(Debug)]
pub struct LatentClassifier {
    net: Mlp,
}

impl LatentClassifier {
    pub fn new(p: nn::Path, cfg: &LearnConfig) -> Self {
        let z = cfg.encoder.latent_dim;
        let a = cfg.obs.action_dim;
        Self {
            net: Mlp::new(
                p / "clf",
                2 * z + a,
                &cfg.latent_classifier.hidden,
                1,
                Activation::Elu,
            ),
        }
    }

    /// Logit of "real", shape (…).
    pub fn logits(&self, z: &Tensor, a: &Tensor, z_next: &Tensor) -> Tensor {
        self.net
            .forward(&Tensor::cat(&[z, a, z_next], -1))
            .squeeze_dim(-1)
    }
}

/// f(s): a binary classifier on states (MEDAL demo-state classifier, goal classifier): the
/// standardised state or the latent, as `medal.input` says ([`crate::WorldModel::classifier_input`]).
#[derive(Debug)]
pub struct StateClassifier {
    net: Mlp,
}

impl StateClassifier {
    pub fn new(p: nn::Path, cfg: &LearnConfig) -> Self {
        Self {
            net: Mlp::new(
                p / "f",
                cfg.classifier_input_dim(),
                &cfg.medal.hidden,
                1,
                Activation::Relu,
            ),
        }
    }

    /// Logit of "positive", shape (…).
    pub fn logits(&self, z: &Tensor) -> Tensor {
        self.net.forward(z).squeeze_dim(-1)
    }

    /// Probability of "positive", without gradients.
    pub fn prob(&self, z: &Tensor) -> Tensor {
        tch::no_grad(|| self.logits(z).sigmoid())
    }
}
