//! A probabilistic ensemble of state dynamics models (PETS / MBPO) for state observations.
//!
//! Each member predicts a diagonal Gaussian over the change of the state, Δs = s′ − s, from
//! (s, a). Inputs and targets are standardised with statistics of the training split, members
//! differ by initialisation and by the order they see the data in, and [`StateDynamics::fit`]
//! trains them towards convergence: epochs over the training split until no member's held-out
//! error improves by 1 % for `dynamics.patience` epochs, each member keeping its best
//! parameters. The `dynamics.elites` members with the lowest held-out error make the
//! predictions. How good the model is, [`StateDynamics::error_ratio`], is measured with the
//! elites' mean prediction on transitions it did not train on.
use crate::config::{DynamicsConfig, LearnConfig, ObsMode};
use crate::error::{LearnError, Result};
use crate::nets::latent_model::error_ratio_of;
use crate::nets::{Activation, EnsembleMlp, Gaussian};
use crate::optim::Adam;
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

/// Transitions to fit or measure on: states (N, S), actions (N, A), next states (N, S).
#[derive(Debug)]
pub struct DynamicsData {
    pub state: Tensor,
    pub action: Tensor,
    pub next_state: Tensor,
}

impl DynamicsData {
    pub fn len(&self) -> i64 {
        self.state.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn select(&self, idx: &Tensor) -> DynamicsData {
        DynamicsData {
            state: self.state.index_select(0, idx),
            action: self.action.index_select(0, idx),
            next_state: self.next_state.index_select(0, idx),
        }
    }

    fn to_device(&self, device: Device) -> DynamicsData {
        DynamicsData {
            state: self.state.to_device(device),
            action: self.action.to_device(device),
            next_state: self.next_state.to_device(device),
        }
    }
}

/// What one [`StateDynamics::fit`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    pub train_rows: i64,
    pub held_out_rows: i64,
    pub epochs: usize,
    /// Each member's best held-out mean squared error (standardised Δs).
    pub member_mse: Vec<f64>,
    /// The members chosen to predict, best first.
    pub elites: Vec<i64>,
    /// [`StateDynamics::error_ratio`] on the held-out split, after the fit.
    pub held_out_error_ratio: Option<f64>,
}

/// The ensemble, its standardisation and its elites (all in one `VarStore`, so a checkpoint
/// carries them).
pub struct StateDynamics {
    pub vs: nn::VarStore,
    net: EnsembleMlp,
    max_logvar: Tensor,
    min_logvar: Tensor,
    in_mean: Tensor,
    in_std: Tensor,
    out_mean: Tensor,
    out_std: Tensor,
    /// 1 for an elite member, 0 otherwise (E).
    elite_mask: Tensor,
    opt: Adam,
    cfg: DynamicsConfig,
    pub state_dim: usize,
    pub action_dim: usize,
}

impl std::fmt::Debug for StateDynamics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDynamics")
            .field("members", &self.cfg.members)
            .field("elites", &self.cfg.elites)
            .field("state_dim", &self.state_dim)
            .field("action_dim", &self.action_dim)
            .finish()
    }
}

impl StateDynamics {
    /// For a state-mode config: the state is `obs.state_dim + obs.proprio_dim` values.
    pub fn new(cfg: &LearnConfig, device: Device) -> Result<Self> {
        if cfg.obs.mode != ObsMode::State {
            return Err(LearnError::Config(
                "dynamics: the state dynamics ensemble needs obs.mode state".into(),
            ));
        }
        Self::with_dims(
            &cfg.dynamics,
            cfg.obs.state_dim + cfg.obs.proprio_dim,
            cfg.obs.action_dim,
            device,
        )
    }

    pub fn with_dims(
        cfg: &DynamicsConfig,
        state_dim: usize,
        action_dim: usize,
        device: Device,
    ) -> Result<Self> {
        cfg.validate()?;
        let vs = nn::VarStore::new(device);
        let p = vs.root() / "dynamics";
        let (s, a, e) = (state_dim as i64, action_dim as i64, cfg.members as i64);
        let net = EnsembleMlp::new(
            &p / "ensemble",
            cfg.members,
            state_dim + action_dim,
            &cfg.hidden,
            2 * state_dim,
            Activation::Silu,
        );
        // PETS: learned bounds on the log-variance, softly enforced.
        let max_logvar = p.var("max_logvar", &[s], Init::Const(0.5));
        let min_logvar = p.var("min_logvar", &[s], Init::Const(-10.0));
        let fixed = |name: &str, n: i64, v: f64| p.zeros_no_train(name, &[n]).fill_(v);
        let in_mean = fixed("in_mean", s + a, 0.0);
        let in_std = fixed("in_std", s + a, 1.0);
        let out_mean = fixed("out_mean", s, 0.0);
        let out_std = fixed("out_std", s, 1.0);
        let elite_mask = fixed("elite_mask", e, 1.0);
        let opt = Adam::new(&vs, cfg.lr)?;
        Ok(Self {
            vs,
            net,
            max_logvar,
            min_logvar,
            in_mean,
            in_std,
            out_mean,
            out_std,
            elite_mask,
            opt,
            cfg: cfg.clone(),
            state_dim,
            action_dim,
        })
    }

    fn check(&self, s: &Tensor, a: &Tensor) -> Result<()> {
        let ok = s.dim() == 2
            && a.dim() == 2
            && s.size()[1] == self.state_dim as i64
            && a.size()[1] == self.action_dim as i64
            && s.size()[0] == a.size()[0];
        if ok {
            Ok(())
        } else {
            Err(LearnError::Input(format!(
                "dynamics: states must be (N, {}) and actions (N, {}), got {:?} and {:?}",
                self.state_dim,
                self.action_dim,
                s.size(),
                a.size()
            )))
        }
    }

    /// Standardised network input of (s, a).
    fn input(&self, s: &Tensor, a: &Tensor) -> Tensor {
        (Tensor::cat(&[s, a], -1) - &self.in_mean) / &self.in_std
    }

    /// Every member's mean and log-variance of the standardised Δs, each (E, B, S), for the
    /// same input rows (B, in) or per-member rows (E, B, in).
    fn raw(&self, x: &Tensor) -> (Tensor, Tensor) {
        let out = if x.dim() == 2 {
            self.net.forward_shared(x)
        } else {
            self.net.forward(x)
        };
        let parts = out.chunk(2, -1);
        let logvar = &self.max_logvar - (&self.max_logvar - &parts[1]).softplus();
        let logvar = &self.min_logvar + (logvar - &self.min_logvar).softplus();
        (parts[0].shallow_clone(), logvar)
    }

    /// Every member's Gaussian over the next state, in the state's own units: (E, B, S).
    pub fn predict(&self, s: &Tensor, a: &Tensor) -> Result<Gaussian> {
        self.check(s, a)?;
        Ok(tch::no_grad(|| {
            let (mean, logvar) = self.raw(&self.input(s, a));
            Gaussian {
                mean: s.unsqueeze(0) + mean * &self.out_std + &self.out_mean,
                std: (logvar * 0.5).exp() * &self.out_std,
            }
        }))
    }

    /// The elite members' indices.
    pub fn elites(&self) -> Vec<i64> {
        let m: Vec<f32> = Vec::try_from(self.elite_mask.to_device(Device::Cpu)).unwrap_or_default();
        m.iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.5)
            .map(|(i, _)| i as i64)
            .collect()
    }

    fn elite_index(&self) -> Tensor {
        Tensor::from_slice(&self.elites()).to_device(self.vs.device())
    }

    /// The elites' mean prediction of the next state (B, S).
    pub fn mean_next(&self, s: &Tensor, a: &Tensor) -> Result<Tensor> {
        let g = self.predict(s, a)?;
        Ok(g.mean
            .index_select(0, &self.elite_index())
            .mean_dim(0, false, Kind::Float))
    }

    /// A next state per row sampled from one random elite's Gaussian, and the elites'
    /// disagreement per row (the standard deviation of their means in standardised units,
    /// averaged over dimensions): (B, S) and (B).
    pub fn sample_next(&self, s: &Tensor, a: &Tensor) -> Result<(Tensor, Tensor)> {
        let g = self.predict(s, a)?;
        let elites = self.elite_index();
        let (mean, std) = (
            g.mean.index_select(0, &elites),
            g.std.index_select(0, &elites),
        );
        let b = s.size()[0];
        let n_e = elites.size()[0];
        let sd = self.state_dim as i64;
        Ok(tch::no_grad(|| {
            let pick = Tensor::randint(n_e, [1, b, 1], (Kind::Int64, s.device()))
                .expand([1, b, sd], false);
            let m = mean.gather(0, &pick, false).squeeze_dim(0);
            let sdv = std.gather(0, &pick, false).squeeze_dim(0);
            let next = &m + sdv * m.randn_like();
            let state_std = self.in_std.narrow(0, 0, sd);
            let disagreement =
                (mean / state_std)
                    .std_dim(0, false, false)
                    .mean_dim(-1, false, Kind::Float);
            (next, disagreement)
        }))
    }

    /// One-step error of the elites' mean prediction against "nothing changes", every state
    /// dimension in units of its standard deviation (the fit's statistics, floored at
    /// `dynamics.input_std_floor`): mean |ŝ′ − s′| /
    /// mean |s′ − s|. Below 1 the model predicts part of the change. `None` when nothing
    /// changes or it is not finite.
    pub fn error_ratio(&self, data: &DynamicsData) -> Result<Option<f64>> {
        let data = data.to_device(self.vs.device());
        let pred = self.mean_next(&data.state, &data.action)?;
        let std = self.in_std.narrow(0, 0, self.state_dim as i64);
        Ok(error_ratio_of(
            &(pred / &std),
            &(&data.state / &std),
            &(&data.next_state / &std),
        ))
    }

    /// Gaussian negative log-likelihood of the standardised targets, per member (E), plus the
    /// log-variance bound penalty, for per-member inputs x (E, B, in) and targets y (E, B, S).
    fn loss(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let (mean, logvar) = self.raw(x);
        let inv_var = (-&logvar).exp();
        let nll = ((mean - y).square() * inv_var + logvar).mean(Kind::Float);
        nll + 0.01 * (self.max_logvar.sum(Kind::Float) - self.min_logvar.sum(Kind::Float))
    }

    /// Each member's mean squared error of the standardised Δs (E).
    fn member_mse(&self, x: &Tensor, y: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let (mean, _) = self.raw(x);
            (mean - y.unsqueeze(0))
                .square()
                .mean_dim(&[1i64, 2][..], false, Kind::Float)
        })
    }

    /// Sets the standardisation from the training rows: mean and std (floored) per column.
    fn set_statistics(&mut self, train: &DynamicsData) {
        tch::no_grad(|| {
            let x = Tensor::cat(&[&train.state, &train.action], -1);
            let d = &train.next_state - &train.state;
            self.in_mean.copy_(&x.mean_dim(0, false, Kind::Float));
            self.in_std.copy_(
                &x.std_dim(0, false, false)
                    .clamp_min(self.cfg.input_std_floor),
            );
            self.out_mean.copy_(&d.mean_dim(0, false, Kind::Float));
            self.out_std
                .copy_(&d.std_dim(0, false, false).clamp_min(1e-6));
        });
    }

    /// Trains towards convergence on `data` (see the module doc), keeping each member's best
    /// parameters and choosing the elites. A fit continues from the current parameters.
    pub fn fit(&mut self, data: &DynamicsData) -> Result<FitReport> {
        self.check(&data.state, &data.action)?;
        let n = data.len();
        let n_held = ((n as f64 * self.cfg.holdout_fraction) as i64)
            .min(self.cfg.max_held_out as i64)
            .max(1);
        if n - n_held < 2 {
            return Err(LearnError::NotEnoughData(format!(
                "dynamics: {n} transitions are too few to fit"
            )));
        }
        let device = self.vs.device();
        let data = data.to_device(device);
        let perm = Tensor::randperm(n, (Kind::Int64, device));
        let held = data.select(&perm.narrow(0, 0, n_held));
        let train = data.select(&perm.narrow(0, n_held, n - n_held));
        self.set_statistics(&train);
        let standardised = |d: &DynamicsData| {
            tch::no_grad(|| {
                (
                    self.input(&d.state, &d.action),
                    (&d.next_state - &d.state - &self.out_mean) / &self.out_std,
                )
            })
        };
        let (x_train, y_train) = standardised(&train);
        let (x_held, y_held) = standardised(&held);
        let params = self.net_params();
        let e = self.cfg.members as i64;
        let n_train = n - n_held;
        let batch = (self.cfg.batch_size as i64).min(n_train);
        let mut best = Vec::<f64>::try_from(self.member_mse(&x_held, &y_held))
            .map_err(|e| LearnError::Input(format!("dynamics: {e}")))?;
        let mut snapshot: Vec<Tensor> = params.iter().map(|p| p.detach().copy()).collect();
        let (mut epochs, mut since_improved) = (0, 0);
        while epochs < self.cfg.max_epochs && since_improved <= self.cfg.patience {
            epochs += 1;
            // each member its own order of the training rows
            let order = Tensor::stack(
                &(0..e)
                    .map(|_| Tensor::randperm(n_train, (Kind::Int64, device)))
                    .collect::<Vec<_>>(),
                0,
            );
            let mut start = 0;
            while start + batch <= n_train {
                let idx = order.narrow(1, start, batch).reshape([-1]);
                let xb = x_train.index_select(0, &idx).reshape([e, batch, -1]);
                let yb = y_train.index_select(0, &idx).reshape([e, batch, -1]);
                self.opt.zero_grad();
                self.loss(&xb, &yb).backward();
                self.opt.step();
                start += batch;
            }
            let mse = Vec::<f64>::try_from(self.member_mse(&x_held, &y_held))
                .map_err(|e| LearnError::Input(format!("dynamics: {e}")))?;
            let mut improved = false;
            for (m, (cur, b)) in mse.iter().zip(best.iter_mut()).enumerate() {
                if cur.is_finite() && (*b - cur) / *b > 0.01 {
                    *b = *cur;
                    improved = true;
                    tch::no_grad(|| {
                        for (s, p) in snapshot.iter_mut().zip(&params) {
                            s.get(m as i64).copy_(&p.get(m as i64));
                        }
                    });
                }
            }
            since_improved = if improved { 0 } else { since_improved + 1 };
        }
        tch::no_grad(|| {
            for (s, p) in snapshot.iter().zip(&params) {
                let mut p = p.shallow_clone();
                p.copy_(s);
            }
        });
        let mut order: Vec<i64> = (0..e).collect();
        order.sort_by(|a, b| best[*a as usize].total_cmp(&best[*b as usize]));
        let elites: Vec<i64> = order[..self.cfg.elites].to_vec();
        tch::no_grad(|| {
            let _ = self.elite_mask.fill_(0.0);
            let _ =
                self.elite_mask
                    .index_fill_(0, &Tensor::from_slice(&elites).to_device(device), 1.0);
        });
        Ok(FitReport {
            train_rows: n_train,
            held_out_rows: n_held,
            epochs,
            member_mse: best,
            held_out_error_ratio: self.error_ratio(&held)?,
            elites,
        })
    }

    /// The ensemble's parameters, each with the member as its first dimension.
    fn net_params(&self) -> Vec<Tensor> {
        let mut named: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(k, _)| k.contains("ensemble"))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named.into_iter().map(|(_, t)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DynamicsConfig {
        DynamicsConfig {
            members: 4,
            elites: 2,
            hidden: vec![32, 32],
            max_epochs: 200,
            ..DynamicsConfig::default()
        }
    }

    /// s′ = s + 0.1·a (a linear system), states and actions uniform in [-1, 1].
    fn linear_data(n: i64) -> DynamicsData {
        let o = (Kind::Float, Device::Cpu);
        let state = Tensor::rand([n, 3], o) * 2.0 - 1.0;
        let action = Tensor::rand([n, 3], o) * 2.0 - 1.0;
        let next_state = &state + &action * 0.1;
        DynamicsData {
            state,
            action,
            next_state,
        }
    }

    #[test]
    fn fits_a_linear_system_and_its_held_out_error_is_small() {
        tch::manual_seed(0);
        let mut m = StateDynamics::with_dims(&cfg(), 3, 3, Device::Cpu).unwrap();
        let fresh = linear_data(500);
        let before = m.error_ratio(&fresh).unwrap().unwrap();
        let r = m.fit(&linear_data(2000)).unwrap();
        assert_eq!(r.elites.len(), 2);
        assert_eq!(m.elites().len(), 2);
        assert!(r.epochs > 1);
        let after = m.error_ratio(&fresh).unwrap().unwrap();
        assert!(before > 0.5, "untrained ratio {before}");
        assert!(after < 0.1, "held-out error ratio {after} (fit {r:?})");
        let elite_mse: Vec<f64> = r.elites.iter().map(|&i| r.member_mse[i as usize]).collect();
        let worst = r.member_mse.iter().cloned().fold(0.0, f64::max);
        assert!(elite_mse.iter().all(|&v| v <= worst));
    }

    #[test]
    fn samples_come_from_elites_and_disagreement_is_per_row() {
        let mut m = StateDynamics::with_dims(&cfg(), 3, 3, Device::Cpu).unwrap();
        m.fit(&linear_data(1000)).unwrap();
        let d = linear_data(16);
        let (next, dis) = m.sample_next(&d.state, &d.action).unwrap();
        assert_eq!(next.size(), vec![16, 3]);
        assert_eq!(dis.size(), vec![16]);
        assert!(dis.ge(0.0).all().int64_value(&[]) == 1);
    }

    #[test]
    fn wrong_shapes_and_too_little_data_are_errors() {
        let mut m = StateDynamics::with_dims(&cfg(), 3, 3, Device::Cpu).unwrap();
        let o = (Kind::Float, Device::Cpu);
        assert!(
            m.predict(&Tensor::zeros([2, 4], o), &Tensor::zeros([2, 3], o))
                .is_err()
        );
        assert!(matches!(
            m.fit(&linear_data(2)),
            Err(LearnError::NotEnoughData(_))
        ));
    }
}
