//! The acting side: its own world-model encoder and actor, swapped in from checkpoints.
use crate::Role;
use mbarl_learn::{CheckpointBytes, LearnConfig, Policy, WorldModel};
use mbarl_msgs::msg::{ModelCheckpoint, Observation};
use mbarl_node::{bundle, convert};
use tch::Device;

pub struct ActingPolicy {
    cfg: LearnConfig,
    role: Role,
    world: WorldModel,
    policy: Policy,
    pub world_version: u32,
    pub policy_version: u32,
}

impl ActingPolicy {
    pub fn new(cfg: LearnConfig, role: Role, device: Device) -> mbarl_node::Result<Self> {
        Ok(Self {
            world: WorldModel::new(&cfg, device)?,
            policy: Policy::new(&cfg, device)?,
            cfg,
            role,
            world_version: 0,
            policy_version: 0,
        })
    }

    /// Loads a newer world-model checkpoint (the encoder the actor works on).
    pub fn offer_world(&mut self, msg: &ModelCheckpoint) -> mbarl_node::Result<bool> {
        if self.world_version != 0 && msg.version <= self.world_version {
            return Ok(false);
        }
        let ck = bundle::from_msg(msg)?;
        bundle::load_world_model(&mut self.world, &self.cfg, &ck)?;
        self.world_version = msg.version;
        Ok(true)
    }

    /// Loads actor weights handed over by the trainer.
    pub fn load_policy(&mut self, ck: &CheckpointBytes) -> mbarl_node::Result<()> {
        bundle::load_policy(&mut self.policy, &self.cfg, self.role.name(), ck)?;
        self.policy_version = ck.meta.version as u32;
        Ok(())
    }

    /// The action for an observation: zeros (hold still) until the first world-model
    /// checkpoint, then encoder mean → actor (squashed mean when `deterministic`). The
    /// observation's latent is used when it comes from the same encoder version.
    pub fn act(&self, obs: &Observation, deterministic: bool) -> mbarl_node::Result<Vec<f32>> {
        if self.world_version == 0 {
            return Ok(vec![0.0; self.cfg.obs.action_dim]);
        }
        // The camera encoder's latent when it used the same encoder version (saves a second
        // conv pass per step in pixel mode), else this side's own encoding.
        let z = if obs.encoder_version == self.world_version
            && obs.latent.len() == self.cfg.encoder.latent_dim
            && obs.latent.iter().all(|v| v.is_finite())
        {
            tch::Tensor::from_slice(&obs.latent)
                .reshape([1, -1])
                .to_device(self.world.device())
        } else {
            let o = convert::observation(obs, &self.cfg)?;
            let b = convert::obs_batch(&[&o], &self.cfg);
            self.world.encode_mean(&b)?
        };
        let a = self
            .policy
            .actor
            .act(&z, deterministic)
            .to_device(Device::Cpu)
            .flatten(0, -1);
        let a = Vec::<f32>::try_from(&a).map_err(mbarl_learn::LearnError::from)?;
        Ok(a.into_iter()
            .map(|v| {
                if v.is_finite() {
                    v.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pixel preset (64×64 frame + proprio): encoder + actor per observation, one thread.
    #[test]
    fn pixel_acting_latency() {
        tch::set_num_threads(1);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/presets/pixels.yaml");
        let cfg = LearnConfig::from_yaml_file(path).unwrap();
        let mut acting = ActingPolicy::new(cfg.clone(), Role::Forward, Device::Cpu).unwrap();
        let w = WorldModel::new(&cfg, Device::Cpu).unwrap();
        acting
            .offer_world(&bundle::to_msg(
                &bundle::save_world_model(&w, &cfg, 1).unwrap(),
                Default::default(),
            ))
            .unwrap();
        let obs = Observation {
            joint_position: vec![0.1; 4],
            joint_velocity: vec![0.0; 4],
            frame_width: 64,
            frame_height: 64,
            frame: (0..64 * 64 * 3).map(|i| (i % 251) as u8).collect(),
            ..Default::default()
        };
        let mut times: Vec<f64> = (0..200)
            .map(|_| {
                let t = std::time::Instant::now();
                acting.act(&obs, false).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let p99 = times[197];
        eprintln!("pixel acting: median {:.2} ms, p99 {p99:.2} ms", times[100]);
        assert!(p99 < 50.0, "p99 {p99} ms");
    }
}
