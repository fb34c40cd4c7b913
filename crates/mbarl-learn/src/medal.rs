//! MEDAL: the demo-state classifier f(z) (positives: demo states, negatives: backward-phase
//! states), the goal classifier (same network, positives: demo final states), and the backward
//! reward −log(1 − f(z′)).
use crate::alm::{clip_grad_norm, finite};
use crate::checkpoint::{self, CheckpointBytes, CheckpointMeta};
use crate::config::{Component, LearnConfig, MedalConfig};
use crate::error::{LearnError, Result};
use crate::nets::{self, StateClassifier};
use crate::optim::Adam;
use tch::nn;
use tch::{Device, Kind, Reduction, Tensor};

/// The MEDAL backward reward from classifier logits: `scale · clamp(−log(1 − σ(x) + ε), 0, c)`.
///
/// It is monotone non-decreasing in the classifier confidence σ(x): near 0 for states unlike
/// the demos, up to `scale · c` for states the classifier is sure are demo states.
pub fn backward_reward(logits: &Tensor, cfg: &MedalConfig) -> Tensor {
    let p = logits.sigmoid();
    (-(-&p + (1.0 + cfg.reward_eps)).log()).clamp(0.0, cfg.reward_clamp) * cfg.reward_scale
}

/// A state classifier with its optimiser: the demo-state classifier or the goal classifier.
pub struct ClassifierTrainer {
    cfg: MedalConfig,
    device: Device,
    pub component: Component,
    pub vs: nn::VarStore,
    pub net: StateClassifier,
    opt: Adam,
    params: Vec<Tensor>,
    architecture: String,
    config_hash: String,
}

impl ClassifierTrainer {
    /// `component` is [`Component::DemoClassifier`] or [`Component::GoalClassifier`].
    pub fn new(cfg: &LearnConfig, device: Device, component: Component) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let net = StateClassifier::new(vs.root() / component.name(), cfg);
        let opt = Adam::new(&vs, cfg.medal.lr)?;
        let params = nets::variables(&vs);
        Ok(Self {
            cfg: cfg.medal.clone(),
            device,
            component,
            vs,
            net,
            opt,
            params,
            architecture: cfg.architecture(component),
            config_hash: cfg.config_hash(),
        })
    }

    /// The BCE loss on positives (label 1) and negatives (label 0), both (N, Z); with mixup
    /// (`mixup_alpha > 0`) inputs and labels are mixed with a shuffled copy, λ ~ Beta(α, α).
    pub fn loss(&self, pos: &Tensor, neg: &Tensor) -> Result<Tensor> {
        if pos.dim() != 2 || neg.dim() != 2 || pos.size()[1] != neg.size()[1] {
            return Err(LearnError::Input(format!(
                "classifier batches must be (N, Z): {:?} vs {:?}",
                pos.size(),
                neg.size()
            )));
        }
        let d = self.device;
        let (np, nn_) = (pos.size()[0], neg.size()[0]);
        let x = Tensor::cat(&[pos.to_device(d), neg.to_device(d)], 0);
        let y = Tensor::cat(
            &[
                Tensor::ones([np], (Kind::Float, d)),
                Tensor::zeros([nn_], (Kind::Float, d)),
            ],
            0,
        );
        let (x, y) = if self.cfg.mixup_alpha > 0.0 {
            let n = np + nn_;
            let perm = Tensor::randperm(n, (Kind::Int64, d));
            let a = Tensor::full([n], self.cfg.mixup_alpha, (Kind::Float, d));
            let g1 = a.internal_standard_gamma();
            let g2 = a.internal_standard_gamma();
            let lam = &g1 / (&g1 + &g2 + 1e-12);
            let xm = &x * lam.unsqueeze(1) + x.index_select(0, &perm) * (-&lam + 1.0).unsqueeze(1);
            let ym = &y * &lam + y.index_select(0, &perm) * (-&lam + 1.0);
            (xm, ym)
        } else {
            (x, y)
        };
        Ok(self
            .net
            .logits(&x)
            .binary_cross_entropy_with_logits::<Tensor>(&y, None, None, Reduction::Mean))
    }

    /// One optimiser step; returns the loss.
    pub fn train_step(&mut self, pos: &Tensor, neg: &Tensor) -> Result<f64> {
        let loss = self.loss(pos, neg)?;
        let v = finite(&loss, "classifier loss")?;
        self.opt.zero_grad();
        loss.backward();
        clip_grad_norm(&self.params, 100.0, "classifier gradient")?;
        self.opt.step();
        Ok(v)
    }

    /// σ(f(z)) without gradients, (N).
    pub fn prob(&self, z: &Tensor) -> Tensor {
        self.net.prob(&z.to_device(self.device))
    }

    /// The backward reward of next latents z′ (N, Z) → (N), without gradients.
    pub fn reward(&self, z_next: &Tensor) -> Tensor {
        tch::no_grad(|| {
            backward_reward(&self.net.logits(&z_next.to_device(self.device)), &self.cfg)
        })
    }
}

impl ClassifierTrainer {
    /// Checkpoint bytes of the classifier.
    pub fn checkpoint(&self, version: u64) -> Result<CheckpointBytes> {
        let meta = CheckpointMeta {
            component: self.component.name().to_string(),
            version,
            architecture: self.architecture.clone(),
            config_hash: self.config_hash.clone(),
        };
        checkpoint::to_bytes(&[("", &self.vs)], &meta)
    }

    /// Loads classifier weights (verifying sha256, component and architecture).
    pub fn load_checkpoint(&mut self, ck: &CheckpointBytes) -> Result<CheckpointMeta> {
        if ck.meta.component != self.component.name() {
            return Err(LearnError::Checkpoint(format!(
                "checkpoint of `{}` loaded into `{}`",
                ck.meta.component,
                self.component.name()
            )));
        }
        checkpoint::from_bytes(ck, &[("", &self.vs)], &self.architecture, &self.config_hash)
    }
}

/// Area under the ROC curve of scores for positives vs negatives (ties count one half).
pub fn roc_auc(pos: &[f64], neg: &[f64]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = pos
        .iter()
        .map(|&s| (s, true))
        .chain(neg.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann–Whitney U with average ranks for ties.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for item in &all[i..=j] {
            if item.1 {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    let (np, nn) = (pos.len() as f64, neg.len() as f64);
    (rank_sum_pos - np * (np + 1.0) / 2.0) / (np * nn)
}
