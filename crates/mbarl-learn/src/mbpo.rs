//! MBPO: k-step branched rollouts in latent space from replay states, truncated where the
//! ensemble disagrees, and the model buffer they fill.
use crate::alm::LatentTransitions;
use crate::error::{LearnError, Result};
use crate::nets::{Actor, LatentModel};
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// The transitions of one batch of branched rollouts (only steps before truncation).
#[derive(Debug)]
pub struct Rollout {
    pub transitions: LatentTransitions,
    /// Ensemble disagreement of each kept transition (all ≤ the threshold).
    pub disagreement: Tensor,
    /// Branch index (row of the start batch) of each kept transition.
    pub branch: Tensor,
    /// Step index within its branch of each kept transition.
    pub step: Tensor,
    /// Number of kept steps per branch (B).
    pub branch_len: Tensor,
    /// Per branch (B): whether it was stopped by the threshold before `k` steps.
    pub truncated: Tensor,
    /// Per branch (B): the disagreement of the step that stopped it (0 if not truncated).
    pub stop_disagreement: Tensor,
}

/// Rolls the policy out in the latent model for up to `k` steps from each start latent (B, Z).
///
/// At every step each live branch samples a ~ π(z), predicts z′ with every ensemble member,
/// and measures the disagreement (std of the members' means). A branch whose disagreement
/// exceeds `threshold` stops there: that step and all later ones are discarded. z′ is a sample
/// of one random member; the reward is `reward(z, a, z′)`. No gradients.
pub fn branched_rollout(
    model: &LatentModel,
    actor: &Actor,
    reward: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
    start: &Tensor,
    k: usize,
    threshold: f64,
) -> Result<Rollout> {
    if start.dim() != 2 || start.size()[1] != model.latent_dim as i64 {
        return Err(LearnError::Input(format!(
            "rollout start must be (B, {}), got {:?}",
            model.latent_dim,
            start.size()
        )));
    }
    tch::no_grad(|| {
        let device = start.device();
        let b = start.size()[0];
        let mut z = start.shallow_clone();
        let mut ids = Tensor::arange(b, (Kind::Int64, device));
        let mut branch_len = Tensor::zeros([b], (Kind::Int64, device));
        let mut truncated = Tensor::zeros([b], (Kind::Bool, device));
        let mut stop_dis = Tensor::zeros([b], (Kind::Float, device));
        let (mut zs, mut acts, mut rs, mut nexts, mut dis, mut brs, mut steps) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for t in 0..k {
            if ids.size()[0] == 0 {
                break;
            }
            let a = actor.act(&z, false);
            let pred = model.forward(&z, &a);
            let d = LatentModel::disagreement(&pred);
            let keep = d.le(threshold);
            let z_next = model.pick_member(&pred).rsample();
            let keep_idx = keep.nonzero().squeeze_dim(1);
            let stop_idx = keep.logical_not().nonzero().squeeze_dim(1);
            if stop_idx.size()[0] > 0 {
                let stopped = ids.index_select(0, &stop_idx);
                let _ = truncated.index_fill_(0, &stopped, 1);
                let _ = stop_dis.index_copy_(0, &stopped, &d.index_select(0, &stop_idx));
            }
            if keep_idx.size()[0] == 0 {
                break;
            }
            let z_k = z.index_select(0, &keep_idx);
            let a_k = a.index_select(0, &keep_idx);
            let n_k = z_next.index_select(0, &keep_idx);
            let ids_k = ids.index_select(0, &keep_idx);
            rs.push(reward(&z_k, &a_k, &n_k));
            zs.push(z_k);
            acts.push(a_k);
            dis.push(d.index_select(0, &keep_idx));
            steps.push(Tensor::full(
                [keep_idx.size()[0]],
                t as i64,
                (Kind::Int64, device),
            ));
            let _ = branch_len.index_add_(0, &ids_k, &Tensor::ones_like(&ids_k));
            brs.push(ids_k.shallow_clone());
            nexts.push(n_k.shallow_clone());
            z = n_k;
            ids = ids_k;
        }
        let cat = |v: &Vec<Tensor>, shape: &[i64], kind: Kind| {
            if v.is_empty() {
                Tensor::zeros(shape, (kind, device))
            } else {
                Tensor::cat(v, 0)
            }
        };
        let zd = model.latent_dim as i64;
        let ad = start.size()[1];
        let a_dim = acts.first().map(|a| a.size()[1]).unwrap_or(ad);
        let n = zs.iter().map(|t| t.size()[0]).sum::<i64>();
        Ok(Rollout {
            transitions: LatentTransitions {
                z: cat(&zs, &[0, zd], Kind::Float),
                action: cat(&acts, &[0, a_dim], Kind::Float),
                reward: cat(&rs, &[0], Kind::Float),
                z_next: cat(&nexts, &[0, zd], Kind::Float),
                done: Tensor::zeros([n], (Kind::Float, device)),
            },
            disagreement: cat(&dis, &[0], Kind::Float),
            branch: cat(&brs, &[0], Kind::Int64),
            step: cat(&steps, &[0], Kind::Int64),
            branch_len,
            truncated,
            stop_disagreement: stop_dis,
        })
    })
}

/// Ring buffer of latent transitions (the MBPO model buffer), stored on the device.
pub struct LatentBuffer {
    z: Tensor,
    action: Tensor,
    reward: Tensor,
    z_next: Tensor,
    done: Tensor,
    capacity: i64,
    next: i64,
    len: i64,
}

impl LatentBuffer {
    pub fn new(capacity: usize, latent_dim: usize, action_dim: usize, device: Device) -> Self {
        let c = capacity.max(1) as i64;
        let o = (Kind::Float, device);
        Self {
            z: Tensor::zeros([c, latent_dim as i64], o),
            action: Tensor::zeros([c, action_dim as i64], o),
            reward: Tensor::zeros([c], o),
            z_next: Tensor::zeros([c, latent_dim as i64], o),
            done: Tensor::zeros([c], o),
            capacity: c,
            next: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends transitions, overwriting the oldest when full.
    pub fn push(&mut self, t: &LatentTransitions) -> Result<()> {
        if t.is_empty() {
            return Ok(());
        }
        let rows = t.z.size()[0];
        if t.z.size()[1..] != self.z.size()[1..]
            || t.action.size()[1..] != self.action.size()[1..]
            || t.z_next.size() != t.z.size()
            || t.action.size()[0] != rows
            || t.reward.size() != [rows]
            || t.done.size() != [rows]
        {
            return Err(LearnError::Input(
                "latent buffer: transition shapes differ".into(),
            ));
        }
        // Imagined transitions with a non-finite value (an early model can overflow) are left
        // out: one NaN row would make every later batch that samples it NaN.
        let t = &tch::no_grad(|| {
            let row_finite = |x: &Tensor| {
                let x = x.reshape([x.size()[0], -1]);
                x.isfinite().all_dim(1, false)
            };
            let keep = row_finite(&t.z)
                .logical_and(&row_finite(&t.action))
                .logical_and(&row_finite(&t.reward))
                .logical_and(&row_finite(&t.z_next))
                .logical_and(&row_finite(&t.done))
                .nonzero()
                .squeeze_dim(1);
            t.rows(&keep)
        });
        // more rows than the capacity: the newest ones
        let t = &match t.len() {
            0 => return Ok(()),
            n if n > self.capacity => t.rows(&Tensor::arange_start(
                n - self.capacity,
                n,
                (Kind::Int64, Device::Cpu),
            )),
            _ => t.shallow(),
        };
        let n = t.len();
        tch::no_grad(|| {
            let device = self.z.device();
            let idx =
                (Tensor::arange(n, (Kind::Int64, device)) + self.next).remainder(self.capacity);
            let _ = self.z.index_copy_(0, &idx, &t.z.to_device(device));
            let _ = self
                .action
                .index_copy_(0, &idx, &t.action.to_device(device));
            let _ = self
                .reward
                .index_copy_(0, &idx, &t.reward.to_device(device));
            let _ = self
                .z_next
                .index_copy_(0, &idx, &t.z_next.to_device(device));
            let _ = self.done.index_copy_(0, &idx, &t.done.to_device(device));
        });
        self.next = (self.next + n) % self.capacity;
        self.len = (self.len + n).min(self.capacity);
        Ok(())
    }

    /// `n` transitions sampled uniformly with replacement.
    pub fn sample<R: Rng>(&self, n: usize, rng: &mut R) -> Result<LatentTransitions> {
        if self.len == 0 {
            return Err(LearnError::NotEnoughData("latent buffer is empty".into()));
        }
        let idx: Vec<i64> = (0..n).map(|_| rng.gen_range(0..self.len)).collect();
        let idx = Tensor::from_slice(&idx).to_device(self.z.device());
        Ok(LatentTransitions {
            z: self.z.index_select(0, &idx),
            action: self.action.index_select(0, &idx),
            reward: self.reward.index_select(0, &idx),
            z_next: self.z_next.index_select(0, &idx),
            done: self.done.index_select(0, &idx),
        })
    }
}

/// A batch mixing `real_ratio` real transitions with model transitions (MBPO), `n` in total.
pub fn mixed_batch<R: Rng>(
    real: &LatentTransitions,
    model: &LatentBuffer,
    real_ratio: f64,
    n: usize,
    rng: &mut R,
) -> Result<LatentTransitions> {
    let n_real = ((n as f64) * real_ratio).round() as usize;
    let n_real = if model.is_empty() { n } else { n_real.min(n) };
    let r = real.len();
    if r == 0 {
        return Err(LearnError::NotEnoughData("no real transitions".into()));
    }
    let idx: Vec<i64> = (0..n_real).map(|_| rng.gen_range(0..r)).collect();
    let real_part = real.rows(&Tensor::from_slice(&idx));
    if n_real == n {
        return Ok(real_part);
    }
    let model_part = model.sample(n - n_real, rng)?;
    Ok(LatentTransitions::cat(&[&real_part, &model_part]))
}

/// Ring buffer of imagined state-level transitions (the MBPO model buffer of the state
/// dynamics ensemble): a [`LatentBuffer`] whose rows are states. States, not latents: the
/// encoder may change between the rollout and the batch, so a batch encodes them like real
/// ones, and a new world checkpoint does not empty it.
pub struct StateModelBuffer(LatentBuffer);

impl StateModelBuffer {
    pub fn new(capacity: usize, state_dim: usize, action_dim: usize, device: Device) -> Self {
        Self(LatentBuffer::new(capacity, state_dim, action_dim, device))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends rows (non-finite rows are left out), overwriting the oldest when full.
    pub fn push(
        &mut self,
        state: &Tensor,
        action: &Tensor,
        reward: &Tensor,
        next_state: &Tensor,
    ) -> Result<()> {
        self.0.push(&LatentTransitions {
            z: state.shallow_clone(),
            action: action.shallow_clone(),
            reward: reward.shallow_clone(),
            z_next: next_state.shallow_clone(),
            done: Tensor::zeros([state.size()[0]], (Kind::Float, state.device())),
        })
    }

    /// `n` rows sampled uniformly with replacement, as a state-mode batch.
    pub fn sample<R: Rng>(&self, n: usize, rng: &mut R) -> Result<crate::TransitionBatch> {
        let t = self.0.sample(n, rng)?;
        Ok(crate::TransitionBatch {
            obs: crate::ObsBatch::from_state(t.z),
            action: t.action,
            reward: t.reward,
            next_obs: crate::ObsBatch::from_state(t.z_next),
            done: t.done,
        })
    }
}
