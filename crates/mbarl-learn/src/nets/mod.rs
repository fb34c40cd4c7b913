//! Networks in plain tch `nn` style: each is built on an `nn::Path` of its own `VarStore`.
//!
//! Building blocks live here ([`Mlp`], [`EnsembleMlp`], [`Gaussian`], [`ObsBatch`]); the
//! networks are in the submodules.
pub mod actor;
pub mod classifier;
pub mod critic;
pub mod encoder;
pub mod latent_model;

use crate::error::{LearnError, Result};
use std::borrow::Borrow;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

pub use actor::Actor;
pub use classifier::{LatentClassifier, StateClassifier};
pub use critic::TwinCritic;
pub use encoder::Encoder;
pub use latent_model::{LatentModel, RewardHead};

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Elu,
    Relu,
    /// x·sigmoid(x) (swish), as in MBPO's dynamics models.
    Silu,
}

impl Activation {
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Elu => x.elu(),
            Activation::Relu => x.relu(),
            Activation::Silu => x.silu(),
        }
    }
}

/// A multi-layer perceptron: Linear (act Linear)*.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    act: Activation,
}

impl Mlp {
    pub fn new(
        p: nn::Path,
        input: usize,
        hidden: &[usize],
        output: usize,
        act: Activation,
    ) -> Self {
        let mut layers = Vec::with_capacity(hidden.len() + 1);
        let mut d = input as i64;
        for (i, &h) in hidden.iter().chain(std::iter::once(&output)).enumerate() {
            layers.push(nn::linear(
                &p / format!("l{i}"),
                d,
                h as i64,
                Default::default(),
            ));
            d = h as i64;
        }
        Self { layers, act }
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let mut x = self.layers[0].forward(xs);
        for l in &self.layers[1..] {
            x = l.forward(&self.act.apply(&x));
        }
        x
    }
}

/// E independent linear layers applied as one batched matmul: (E, B, in) → (E, B, out).
#[derive(Debug)]
pub struct EnsembleLinear {
    pub ws: Tensor,
    pub bs: Tensor,
}

impl EnsembleLinear {
    pub fn new(p: nn::Path, members: usize, input: usize, output: usize) -> Self {
        // Same bound as torch.nn.Linear's bias init, for weights and biases.
        let b = 1.0 / (input as f64).sqrt();
        let init = nn::Init::Uniform { lo: -b, up: b };
        let ws = p.var(
            "weight",
            &[members as i64, input as i64, output as i64],
            init,
        );
        let bs = p.var("bias", &[members as i64, 1, output as i64], init);
        Self { ws, bs }
    }

    pub fn forward(&self, xs: &Tensor) -> Tensor {
        self.bs.baddbmm(xs, &self.ws, 1.0, 1.0)
    }
}

/// E independent MLPs evaluated together with batched matmuls.
#[derive(Debug)]
pub struct EnsembleMlp {
    layers: Vec<EnsembleLinear>,
    act: Activation,
    /// Layer normalisation (no learned affine) of every hidden layer, before its activation.
    layer_norm: bool,
    pub members: usize,
}

impl EnsembleMlp {
    pub fn new(
        p: nn::Path,
        members: usize,
        input: usize,
        hidden: &[usize],
        output: usize,
        act: Activation,
    ) -> Self {
        let mut layers = Vec::with_capacity(hidden.len() + 1);
        let mut d = input;
        for (i, &h) in hidden.iter().chain(std::iter::once(&output)).enumerate() {
            layers.push(EnsembleLinear::new(&p / format!("l{i}"), members, d, h));
            d = h;
        }
        Self {
            layers,
            act,
            layer_norm: false,
            members,
        }
    }

    /// With layer normalisation of the hidden layers (no parameters: checkpoints are unchanged).
    pub fn with_layer_norm(mut self, on: bool) -> Self {
        self.layer_norm = on;
        self
    }

    /// A hidden layer's output → the next layer's input.
    fn hidden(&self, x: &Tensor) -> Tensor {
        if self.layer_norm {
            let h = x.size()[x.dim() - 1];
            self.act
                .apply(&x.layer_norm([h], None::<Tensor>, None::<Tensor>, 1e-5, false))
        } else {
            self.act.apply(x)
        }
    }

    /// The same input (B, in) for every member → (E, B, out). The first layer runs as one
    /// (B, in) × (in, E·out) matrix product instead of a batched product over E copies of the
    /// input.
    pub fn forward_shared(&self, xs: &Tensor) -> Tensor {
        let first = &self.layers[0];
        let size = first.ws.size();
        let (e, input, out) = (size[0], size[1], size[2]);
        let w = first.ws.permute([1, 0, 2]).reshape([input, e * out]);
        let b = first.bs.reshape([e * out]);
        let rows = xs.size()[0];
        let mut x = b.addmm(xs, &w).reshape([rows, e, out]).permute([1, 0, 2]);
        for l in &self.layers[1..] {
            x = l.forward(&self.hidden(&x));
        }
        x
    }

    /// xs: (E, B, in) → (E, B, out).
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        let mut x = self.layers[0].forward(xs);
        for l in &self.layers[1..] {
            x = l.forward(&self.hidden(&x));
        }
        x
    }
}

/// A diagonal Gaussian.
#[derive(Debug)]
pub struct Gaussian {
    pub mean: Tensor,
    pub std: Tensor,
}

impl Gaussian {
    /// Reparameterised sample (gradients flow to mean and std).
    pub fn rsample(&self) -> Tensor {
        &self.mean + &self.std * self.mean.randn_like()
    }

    /// Sample without gradients.
    pub fn sample(&self) -> Tensor {
        tch::no_grad(|| self.rsample())
    }

    /// KL(self ‖ other), summed over the last dimension.
    pub fn kl(&self, other: &Gaussian) -> Tensor {
        let var_ratio = (&self.std / &other.std).square();
        let t1 = ((&self.mean - &other.mean) / &other.std).square();
        let log_ratio = var_ratio.log();
        ((var_ratio + t1 - 1.0 - log_ratio) * 0.5).sum_dim_intlist(-1, false, Kind::Float)
    }

    /// log N(x | mean, std), summed over the last dimension.
    pub fn log_prob(&self, x: &Tensor) -> Tensor {
        let z = (x - &self.mean) / &self.std;
        (z.square() * -0.5 - self.std.log() - 0.5 * (2.0 * std::f64::consts::PI).ln())
            .sum_dim_intlist(-1, false, Kind::Float)
    }
}

/// A batch of observations. Leading dimensions are free (e.g. (B) or (T, B)); the trailing ones
/// are: state (…, S) f32, proprio (…, P) f32, frames (…, H, W, 3) uint8.
#[derive(Debug, Default)]
pub struct ObsBatch {
    pub state: Option<Tensor>,
    pub proprio: Option<Tensor>,
    pub frames: Option<Tensor>,
}

impl ObsBatch {
    /// State-only observations.
    pub fn from_state(state: Tensor) -> Self {
        Self {
            state: Some(state),
            proprio: None,
            frames: None,
        }
    }

    /// Selects index `i` of the first dimension of every field (time step of a sequence).
    pub fn get(&self, i: i64) -> ObsBatch {
        ObsBatch {
            state: self.state.as_ref().map(|t| t.get(i)),
            proprio: self.proprio.as_ref().map(|t| t.get(i)),
            frames: self.frames.as_ref().map(|t| t.get(i)),
        }
    }

    /// Rows `start..end` of the first dimension of every field.
    pub fn narrow(&self, start: i64, len: i64) -> ObsBatch {
        ObsBatch {
            state: self.state.as_ref().map(|t| t.narrow(0, start, len)),
            proprio: self.proprio.as_ref().map(|t| t.narrow(0, start, len)),
            frames: self.frames.as_ref().map(|t| t.narrow(0, start, len)),
        }
    }

    /// Merges the first two dimensions ((T, B, …) → (T·B, …)).
    pub fn flatten_time(&self) -> ObsBatch {
        let f = |t: &Tensor| t.flatten(0, 1);
        ObsBatch {
            state: self.state.as_ref().map(f),
            proprio: self.proprio.as_ref().map(f),
            frames: self.frames.as_ref().map(f),
        }
    }

    /// Moves every field to `device`.
    pub fn to_device(&self, device: Device) -> ObsBatch {
        ObsBatch {
            state: self.state.as_ref().map(|t| t.to_device(device)),
            proprio: self.proprio.as_ref().map(|t| t.to_device(device)),
            frames: self.frames.as_ref().map(|t| t.to_device(device)),
        }
    }

    /// Concatenates batches along the first dimension.
    pub fn cat<B: Borrow<ObsBatch>>(parts: &[B]) -> Result<ObsBatch> {
        fn field<B: Borrow<ObsBatch>>(
            parts: &[B],
            get: impl Fn(&ObsBatch) -> Option<&Tensor>,
        ) -> Result<Option<Tensor>> {
            let ts: Vec<&Tensor> = parts.iter().filter_map(|p| get(p.borrow())).collect();
            if ts.is_empty() {
                return Ok(None);
            }
            if ts.len() != parts.len() {
                return Err(LearnError::Input(
                    "ObsBatch::cat: fields differ between parts".into(),
                ));
            }
            Ok(Some(Tensor::f_cat(&ts, 0)?))
        }
        Ok(ObsBatch {
            state: field(parts, |p| p.state.as_ref())?,
            proprio: field(parts, |p| p.proprio.as_ref())?,
            frames: field(parts, |p| p.frames.as_ref())?,
        })
    }

    /// Size of the first dimension.
    pub fn len(&self) -> i64 {
        [&self.state, &self.proprio, &self.frames]
            .into_iter()
            .flatten()
            .map(|t| t.size().first().copied().unwrap_or(0))
            .next()
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every variable of the given stores, for freezing / Polyak updates.
pub fn variables(vs: &nn::VarStore) -> Vec<Tensor> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(_, t)| t).collect()
}

/// While alive, the given parameters don't require gradients (like PyTorch's FreezeParameters):
/// a loss then back-propagates through the network to its inputs without computing parameter
/// gradients.
pub struct Frozen<'a>(&'a [Tensor]);

impl<'a> Frozen<'a> {
    pub fn new(params: &'a [Tensor]) -> Self {
        for p in params {
            let _ = p.set_requires_grad(false);
        }
        Frozen(params)
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        for p in self.0 {
            let _ = p.set_requires_grad(true);
        }
    }
}

/// In-place Polyak averaging: target ← (1 − τ)·target + τ·source, without autograd.
pub fn polyak(target: &[Tensor], source: &[Tensor], tau: f64) {
    tch::no_grad(|| {
        for (t, s) in target.iter().zip(source) {
            let mut t = t.shallow_clone();
            let _ = t.lerp_(s, tau);
        }
    });
}

/// Hard copy source → target.
pub fn hard_copy(target: &[Tensor], source: &[Tensor]) {
    tch::no_grad(|| {
        for (t, s) in target.iter().zip(source) {
            let mut t = t.shallow_clone();
            t.copy_(s);
        }
    });
}
