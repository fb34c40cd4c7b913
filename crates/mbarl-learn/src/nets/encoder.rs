//! Encoder e(z|s): a Gaussian over latents from an observation.
//!
//! - state mode: an MLP on [(state − `encoder.state_shift`) · `encoder.state_scale`, proprio];
//! - state mode with `encoder.identity`: no network, the latent *is* that standardised input
//!   (mean; std `encoder.min_std`), so what the policies and the model see never moves;
//! - pixel mode: a conv stack on a uint8 H×W×3 frame (scaled to [0, 1]) → Linear → LayerNorm →
//!   tanh image feature, fused with a proprio feature (Linear → ELU), then an MLP trunk;
//! - pixel mode with `encoder.torchscript`: a frozen TorchScript backbone (e.g. a pretrained
//!   network exported from Python) replaces the conv stack behind the same interface.
use super::{Activation, Gaussian, Mlp, ObsBatch};
use crate::config::{LearnConfig, ObsMode};
use crate::error::{LearnError, Result};
use std::sync::Arc;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The image part of the pixel encoder.
#[derive(Debug)]
enum Backbone {
    Conv {
        convs: Vec<nn::Conv2D>,
        fc: nn::Linear,
        ln: nn::LayerNorm,
    },
    Script(Arc<tch::CModule>),
}

#[derive(Debug)]
pub struct PixelEncoder {
    backbone: Backbone,
    proprio: Option<nn::Linear>,
    trunk: Mlp,
    frame_hw: (i64, i64),
    feature_dim: i64,
}

#[derive(Debug)]
enum Kind_ {
    State(Mlp),
    /// `encoder.identity`: z = the standardised state (and proprio) itself.
    Identity,
    Pixels(Box<PixelEncoder>),
}

/// The encoder, whatever the observation kind.
#[derive(Debug)]
pub struct Encoder {
    inner: Kind_,
    latent_dim: i64,
    min_std: f64,
    state_dim: i64,
    proprio_dim: i64,
    /// `encoder.state_shift` as a (state_dim) tensor; `None` when empty.
    state_shift: Option<Tensor>,
    /// `encoder.state_scale` as a (state_dim) tensor; `None` when empty.
    state_scale: Option<Tensor>,
}

impl Encoder {
    /// Builds the encoder described by `cfg` (loads the TorchScript backbone if configured).
    pub fn new(p: nn::Path, cfg: &LearnConfig) -> Result<Self> {
        let script = match (&cfg.obs.mode, &cfg.encoder.torchscript) {
            (ObsMode::Pixels, Some(path)) => Some(Arc::new(
                tch::CModule::load_on_device(path, p.device()).map_err(|e| {
                    LearnError::Config(format!("encoder.torchscript `{path}`: {e}"))
                })?,
            )),
            _ => None,
        };
        Ok(Self::with_backbone(p, cfg, script))
    }

    /// Builds the encoder sharing an already-loaded TorchScript backbone (target encoders).
    pub fn with_backbone(
        p: nn::Path,
        cfg: &LearnConfig,
        script: Option<Arc<tch::CModule>>,
    ) -> Self {
        let e = &cfg.encoder;
        let o = &cfg.obs;
        let z = e.latent_dim;
        let inner = match o.mode {
            ObsMode::State if e.identity => Kind_::Identity,
            ObsMode::State => Kind_::State(Mlp::new(
                &p / "mlp",
                o.state_dim + o.proprio_dim,
                &e.hidden,
                2 * z,
                Activation::Elu,
            )),
            ObsMode::Pixels => {
                let backbone = match script {
                    Some(m) => Backbone::Script(m),
                    None => {
                        let mut convs = Vec::new();
                        let mut c_in = 3i64;
                        let conv_cfg = nn::ConvConfig {
                            stride: e.conv_stride as i64,
                            ..Default::default()
                        };
                        for (i, &c) in e.conv_channels.iter().enumerate() {
                            convs.push(nn::conv2d(
                                &p / format!("conv{i}"),
                                c_in,
                                c as i64,
                                e.conv_kernel as i64,
                                conv_cfg,
                            ));
                            c_in = c as i64;
                        }
                        let (h, w) = cfg.conv_output_hw().unwrap_or((1, 1));
                        let flat = c_in * (h * w) as i64;
                        let fc = nn::linear(
                            &p / "fc",
                            flat,
                            e.image_feature_dim as i64,
                            Default::default(),
                        );
                        let ln = nn::layer_norm(
                            &p / "ln",
                            vec![e.image_feature_dim as i64],
                            Default::default(),
                        );
                        Backbone::Conv { convs, fc, ln }
                    }
                };
                let proprio = (o.proprio_dim > 0).then(|| {
                    nn::linear(
                        &p / "proprio",
                        o.proprio_dim as i64,
                        e.proprio_feature_dim as i64,
                        Default::default(),
                    )
                });
                let fused = e.image_feature_dim
                    + if o.proprio_dim > 0 {
                        e.proprio_feature_dim
                    } else {
                        0
                    };
                Kind_::Pixels(Box::new(PixelEncoder {
                    backbone,
                    proprio,
                    trunk: Mlp::new(&p / "trunk", fused, &e.hidden, 2 * z, Activation::Elu),
                    frame_hw: (o.frame_height as i64, o.frame_width as i64),
                    feature_dim: e.image_feature_dim as i64,
                }))
            }
        };
        let per_dim = |v: &[f64]| {
            (!v.is_empty()).then(|| {
                Tensor::from_slice(v)
                    .to_kind(Kind::Float)
                    .to_device(p.device())
            })
        };
        let state_shift = per_dim(&e.state_shift);
        let state_scale = per_dim(&e.state_scale);
        Self {
            inner,
            latent_dim: z as i64,
            min_std: e.min_std,
            state_dim: o.state_dim as i64,
            proprio_dim: o.proprio_dim as i64,
            state_shift,
            state_scale,
        }
    }

    /// The shared TorchScript backbone, if any.
    pub fn script_backbone(&self) -> Option<Arc<tch::CModule>> {
        match &self.inner {
            Kind_::Pixels(px) => match &px.backbone {
                Backbone::Script(m) => Some(m.clone()),
                Backbone::Conv { .. } => None,
            },
            Kind_::State(_) | Kind_::Identity => None,
        }
    }

    /// The state-mode encoder's input: [(state − shift) · scale, proprio] (…, state + proprio).
    /// An error in pixel mode.
    pub fn state_input(&self, obs: &ObsBatch) -> Result<Tensor> {
        if !matches!(self.inner, Kind_::State(_) | Kind_::Identity) {
            return Err(LearnError::Input(
                "the standardised state exists in state mode only".into(),
            ));
        }
        let state = obs
            .state
            .as_ref()
            .ok_or_else(|| LearnError::Input("state-mode encoder needs `state`".into()))?;
        check_last(&state.size(), self.state_dim, "state")?;
        let shifted = self.state_shift.as_ref().map(|m| state - m);
        let state = shifted.as_ref().unwrap_or(state);
        let scaled = self.state_scale.as_ref().map(|k| state * k);
        let state = scaled.as_ref().unwrap_or(state);
        Ok(match (&obs.proprio, self.proprio_dim) {
            (_, 0) => state.shallow_clone(),
            (Some(p), d) => {
                check_last(&p.size(), d, "proprio")?;
                Tensor::cat(&[state, p], -1)
            }
            (None, _) => return Err(LearnError::Input("encoder needs `proprio`".into())),
        })
    }

    /// Posterior e(z|s) for observations with any leading dimensions: mean, std (…, Z).
    pub fn forward(&self, obs: &ObsBatch) -> Result<Gaussian> {
        let (lead, raw) = match &self.inner {
            Kind_::Identity => {
                let mean = self.state_input(obs)?;
                let std = mean.full_like(self.min_std);
                return Ok(Gaussian { mean, std });
            }
            Kind_::State(mlp) => {
                let x = self.state_input(obs)?;
                let size = x.size();
                let lead = size[..size.len() - 1].to_vec();
                (lead, mlp.forward(&x))
            }
            Kind_::Pixels(px) => {
                let frames = obs
                    .frames
                    .as_ref()
                    .ok_or_else(|| LearnError::Input("pixel-mode encoder needs `frames`".into()))?;
                let size = frames.size();
                let n = size.len();
                if n < 4
                    || size[n - 3] != px.frame_hw.0
                    || size[n - 2] != px.frame_hw.1
                    || size[n - 1] != 3
                {
                    return Err(LearnError::Input(format!(
                        "frames must be (…, {}, {}, 3) uint8, got {size:?}",
                        px.frame_hw.0, px.frame_hw.1
                    )));
                }
                let lead = size[..n - 3].to_vec();
                // (N, H, W, 3) in [0, 1].
                let x = frames
                    .reshape([-1, size[n - 3], size[n - 2], 3])
                    .to_kind(Kind::Float)
                    / 255.0;
                let feat = match &px.backbone {
                    Backbone::Conv { convs, fc, ln } => {
                        // The NCHW view of NHWC data: channels-last layout, the convolutions'
                        // fastest on the CPU.
                        let mut h = x.permute([0, 3, 1, 2]);
                        for c in convs {
                            h = h.apply(c).relu();
                        }
                        h.flatten(1, -1).apply(fc).apply(ln).tanh()
                    }
                    Backbone::Script(m) => {
                        let x = x.permute([0, 3, 1, 2]);
                        let f = tch::no_grad(|| m.forward_ts(&[x]))?;
                        if f.size() != [f.size()[0], px.feature_dim] {
                            return Err(LearnError::Input(format!(
                                "TorchScript backbone returned {:?}, expected (N, {})",
                                f.size(),
                                px.feature_dim
                            )));
                        }
                        f
                    }
                };
                let fused = match (&px.proprio, &obs.proprio) {
                    (None, _) => feat,
                    (Some(l), Some(p)) => {
                        check_last(&p.size(), self.proprio_dim, "proprio")?;
                        let pf = p.reshape([-1, self.proprio_dim]).apply(l).elu();
                        Tensor::cat(&[feat, pf], -1)
                    }
                    (Some(_), None) => {
                        return Err(LearnError::Input("encoder needs `proprio`".into()));
                    }
                };
                (lead, px.trunk.forward(&fused))
            }
        };
        let mut shape = lead;
        shape.push(2 * self.latent_dim);
        let raw = raw.reshape(shape);
        let parts = raw.chunk(2, -1);
        Ok(Gaussian {
            mean: parts[0].shallow_clone(),
            std: parts[1].softplus() + self.min_std,
        })
    }

    pub fn latent_dim(&self) -> i64 {
        self.latent_dim
    }
}

fn check_last(size: &[i64], want: i64, what: &str) -> Result<()> {
    match size.last() {
        Some(&d) if d == want => Ok(()),
        _ => Err(LearnError::Input(format!(
            "`{what}` must end in dimension {want}, got {size:?}"
        ))),
    }
}
