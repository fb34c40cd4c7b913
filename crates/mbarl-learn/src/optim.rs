//! Adam, with a single-pass (fused) CPU kernel.
//!
//! libtorch's C++ Adam runs ~7 element-wise kernels per parameter tensor per step, each a full
//! pass over memory. On the CPU this optimiser does one pass over (param, grad, m, v) in Rust;
//! elsewhere (CUDA) it falls back to tch's `nn::Adam`. Same update rule as `torch.optim.Adam`
//! (β1 0.9, β2 0.999, ε 1e-8, no weight decay, bias-corrected).
use crate::error::Result;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

enum Backend {
    /// Contiguous f32 CPU parameters with their first and second moments.
    Cpu {
        params: Vec<Tensor>,
        m: Vec<Tensor>,
        v: Vec<Tensor>,
    },
    Tch(nn::Optimizer),
}

/// Adam over the trainable variables of one `VarStore`.
pub struct Adam {
    backend: Backend,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: i32,
}

impl Adam {
    pub fn new(vs: &nn::VarStore, lr: f64) -> Result<Self> {
        let params = vs.trainable_variables();
        let cpu = vs.device() == Device::Cpu
            && params
                .iter()
                .all(|p| p.kind() == Kind::Float && p.is_contiguous());
        let backend = if cpu {
            let m = params.iter().map(Tensor::zeros_like).collect();
            let v = params.iter().map(Tensor::zeros_like).collect();
            Backend::Cpu { params, m, v }
        } else {
            Backend::Tch(nn::Adam::default().build(vs, lr)?)
        };
        Ok(Self {
            backend,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
        })
    }

    /// Zeroes the gradients (in place, keeping their buffers).
    pub fn zero_grad(&mut self) {
        match &mut self.backend {
            Backend::Cpu { params, .. } => {
                for p in params.iter_mut() {
                    p.zero_grad();
                }
            }
            Backend::Tch(o) => o.zero_grad(),
        }
    }

    /// One Adam step on the current gradients (parameters without a gradient are skipped).
    pub fn step(&mut self) {
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        match &mut self.backend {
            Backend::Tch(o) => o.step(),
            Backend::Cpu { params, m, v } => {
                let bc1 = 1.0 - b1.powi(self.step);
                let bc2 = 1.0 - b2.powi(self.step);
                let step_size = (self.lr / bc1) as f32;
                let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
                let (b1, b2, eps) = (b1 as f32, b2 as f32, self.eps as f32);
                for ((p, m), v) in params.iter().zip(m.iter()).zip(v.iter()) {
                    let g = p.grad();
                    if !g.defined() {
                        continue;
                    }
                    let g = if g.is_contiguous() && g.kind() == Kind::Float {
                        g
                    } else {
                        g.contiguous().to_kind(Kind::Float)
                    };
                    let n = p.numel();
                    // SAFETY: p, m, v are distinct contiguous f32 CPU tensors of n elements
                    // created above (m, v by zeros_like(p)); g is a contiguous f32 tensor of the
                    // same shape, not aliasing them. No other thread uses them during the step.
                    unsafe {
                        let pp = std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n);
                        let gg = std::slice::from_raw_parts(g.data_ptr() as *const f32, n);
                        let mm = std::slice::from_raw_parts_mut(m.data_ptr() as *mut f32, n);
                        let vv = std::slice::from_raw_parts_mut(v.data_ptr() as *mut f32, n);
                        for i in 0..n {
                            let gi = gg[i];
                            let mi = b1 * mm[i] + (1.0 - b1) * gi;
                            let vi = b2 * vv[i] + (1.0 - b2) * gi * gi;
                            mm[i] = mi;
                            vv[i] = vi;
                            pp[i] -= step_size * mi / (vi.sqrt() * inv_sqrt_bc2 + eps);
                        }
                    }
                }
            }
        }
    }
}
