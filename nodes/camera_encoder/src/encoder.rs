//! The current world-model encoder, hot-swapped when a newer checkpoint arrives.
use mbarl_learn::{LearnConfig, WorldModel};
use mbarl_msgs::msg::{ModelCheckpoint, Observation};
use mbarl_node::{bundle, convert};
use tch::Device;

pub struct LatentEncoder {
    cfg: LearnConfig,
    device: Device,
    world: Option<WorldModel>,
    version: u32,
}

impl LatentEncoder {
    pub fn new(cfg: LearnConfig, device: Device) -> Self {
        Self {
            cfg,
            device,
            world: None,
            version: 0,
        }
    }

    pub fn cfg(&self) -> &LearnConfig {
        &self.cfg
    }

    /// Version of the loaded encoder (0: none yet).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Loads a world-model checkpoint newer than the current one. `Ok(false)` when it is not
    /// newer; an error (sha256, architecture, component) leaves the current encoder in place.
    pub fn offer(&mut self, msg: &ModelCheckpoint) -> mbarl_node::Result<bool> {
        if self.world.is_some() && msg.version <= self.version {
            return Ok(false);
        }
        let ck = bundle::from_msg(msg)?;
        // Load into a fresh network so that a refused checkpoint changes nothing.
        let mut w = WorldModel::new(&self.cfg, self.device)?;
        bundle::load_world_model(&mut w, &self.cfg, &ck)?;
        self.world = Some(w);
        self.version = msg.version;
        Ok(true)
    }

    /// The encoder mean of an observation (its latent/encoder fields are ignored); empty
    /// before the first checkpoint.
    pub fn encode(&self, obs: &Observation) -> mbarl_node::Result<Vec<f32>> {
        let Some(w) = &self.world else {
            return Ok(Vec::new());
        };
        let o = convert::observation(obs, &self.cfg)?;
        let batch = convert::obs_batch(&[&o], &self.cfg);
        let z = w.encode_mean(&batch)?.to_device(Device::Cpu).flatten(0, -1);
        Ok(Vec::<f32>::try_from(&z).map_err(mbarl_learn::LearnError::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LearnConfig {
        let mut c = LearnConfig::default();
        c.obs.state_dim = 4;
        c.obs.action_dim = 2;
        c.encoder.latent_dim = 3;
        c
    }

    #[test]
    fn hot_swaps_newer_verified_checkpoints_only() {
        let c = cfg();
        let mut enc = LatentEncoder::new(c.clone(), Device::Cpu);
        let obs = Observation {
            joint_position: vec![0.1, 0.2],
            joint_velocity: vec![0.0, 0.0],
            ..Default::default()
        };
        assert!(enc.encode(&obs).unwrap().is_empty());
        let w = WorldModel::new(&c, Device::Cpu).unwrap();
        let ck = bundle::save_world_model(&w, &c, 3).unwrap();
        let msg = bundle::to_msg(&ck, Default::default());
        assert!(enc.offer(&msg).unwrap());
        assert_eq!(enc.version(), 3);
        assert_eq!(enc.encode(&obs).unwrap().len(), 3);
        assert!(!enc.offer(&msg).unwrap(), "same version again");
        let mut bad = bundle::to_msg(
            &bundle::save_world_model(&w, &c, 4).unwrap(),
            Default::default(),
        );
        bad.weights[100] ^= 1;
        assert!(enc.offer(&bad).is_err(), "sha256 mismatch refused");
        let mut other = c.clone();
        other.encoder.latent_dim = 5;
        let w5 = WorldModel::new(&other, Device::Cpu).unwrap();
        let m5 = bundle::to_msg(
            &bundle::save_world_model(&w5, &other, 5).unwrap(),
            Default::default(),
        );
        assert!(enc.offer(&m5).is_err(), "architecture mismatch refused");
        assert_eq!(enc.version(), 3);
    }
}
