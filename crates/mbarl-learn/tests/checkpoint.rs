//! Checkpoints: bit-exact round trip (bytes and files), corrupted files refused, mismatched
//! architectures refused with a clear error, and seeded CPU determinism of the ALM update.
mod common;

use mbarl_learn::checkpoint::{self, manifest_path};
use mbarl_learn::config::{Component, ObsMode};
use mbarl_learn::medal::ClassifierTrainer;
use mbarl_learn::{AlmAgent, LearnConfig, ObsBatch, SequenceBatch};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn pixel_config() -> LearnConfig {
    let mut c = common::small_state_config(0, 3);
    c.obs.mode = ObsMode::Pixels;
    c.obs.frame_height = 32;
    c.obs.frame_width = 32;
    c.obs.proprio_dim = 5;
    c.encoder.conv_channels = vec![8, 8];
    c.encoder.image_feature_dim = 32;
    c.encoder.proprio_feature_dim = 8;
    c.alm.batch_size = 8;
    c
}

/// A random sequence batch for `cfg` (pixel mode): frames uint8, proprio, actions, rewards.
fn random_batch(cfg: &LearnConfig, b: i64) -> SequenceBatch {
    let k = cfg.alm.seq_len as i64;
    let (h, w) = (cfg.obs.frame_height as i64, cfg.obs.frame_width as i64);
    let opts = (Kind::Float, Device::Cpu);
    SequenceBatch {
        obs: ObsBatch {
            state: None,
            proprio: Some(Tensor::randn([k + 1, b, cfg.obs.proprio_dim as i64], opts)),
            frames: Some(Tensor::randint(
                256,
                [k + 1, b, h, w, 3],
                (Kind::Uint8, Device::Cpu),
            )),
        },
        actions: Tensor::rand([k, b, cfg.obs.action_dim as i64], opts) * 2.0 - 1.0,
        rewards: Tensor::randn([k, b], opts),
        dones: Tensor::zeros([k, b], opts),
    }
}

fn all_equal(a: &AlmAgent, b: &AlmAgent, c: Component) -> bool {
    let (sa, sb) = (a.stores(c).unwrap(), b.stores(c).unwrap());
    sa.iter().zip(&sb).all(|((_, va), (_, vb))| {
        let (va, vb) = (va.variables(), vb.variables());
        va.len() == vb.len()
            && va
                .iter()
                .all(|(n, t)| vb.get(n).is_some_and(|u| t.equal(u)))
    })
}

/// libtorch's random generator is global to the process: the tests of this file take turns so
/// the determinism test sees no other test's draws.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const COMPONENTS: [Component; 5] = [
    Component::Encoder,
    Component::Model,
    Component::LatentClassifier,
    Component::Actor,
    Component::Critic,
];

#[test]
fn checkpoint_round_trip_is_bit_exact() {
    let _g = serial();
    let t0 = Instant::now();
    let _seeded = common::init(3);
    let cfg = pixel_config();
    let mut a = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    // Two updates so the weights are trained values, not initial ones.
    for _ in 0..2 {
        a.update(&random_batch(&cfg, 8)).unwrap();
    }
    let mut cfg_b = cfg.clone();
    cfg_b.seed = 99; // other initial weights, same architecture
    let mut b = AlmAgent::new(&cfg_b, Device::Cpu).unwrap();
    for c in COMPONENTS {
        assert!(!all_equal(&a, &b, c), "{c:?} equal before loading");
        let ck = a.checkpoint(c, 7).unwrap();
        assert_eq!(ck.sha256, checkpoint::sha256_hex(&ck.weights));
        let meta = b.load_checkpoint(&ck).unwrap();
        assert_eq!(meta.version, 7);
        assert_eq!(meta.architecture, cfg.architecture(c));
        assert!(all_equal(&a, &b, c), "{c:?} differs after loading");
        // Re-serialising the loaded weights gives byte-identical tensor data (the envelopes
        // differ only in the config hash, which includes the seed).
        let again = b.checkpoint(c, 7).unwrap();
        let (x, y) = (
            safetensors::SafeTensors::deserialize(&ck.weights).unwrap(),
            safetensors::SafeTensors::deserialize(&again.weights).unwrap(),
        );
        let (mut nx, mut ny) = (x.names(), y.names());
        nx.sort();
        ny.sort();
        assert_eq!(nx, ny);
        for name in nx {
            assert_eq!(
                x.tensor(name).unwrap().data(),
                y.tensor(name).unwrap().data(),
                "{name}"
            );
        }
    }
    // Same through files, for the whole agent; then the agents act identically.
    let dir = tempfile::tempdir().unwrap();
    a.save_all(dir.path(), 8).unwrap();
    let mut c = AlmAgent::new(&cfg_b, Device::Cpu).unwrap();
    c.load_all(dir.path()).unwrap();
    for comp in COMPONENTS {
        assert!(all_equal(&a, &c, comp));
        let x = checkpoint::load(dir.path().join(format!("{}.safetensors", comp.name()))).unwrap();
        assert_eq!(
            x.weights,
            a.checkpoint(comp, 8).unwrap().weights,
            "file bytes of {comp:?}"
        );
    }
    let obs = random_batch(&cfg, 4).obs.get(0);
    assert!(
        a.act(&obs, true)
            .unwrap()
            .equal(&c.act(&obs, true).unwrap())
    );

    // A classifier round-trips too.
    let f1 = ClassifierTrainer::new(&cfg, Device::Cpu, Component::DemoClassifier).unwrap();
    let mut f2 = ClassifierTrainer::new(&cfg_b, Device::Cpu, Component::DemoClassifier).unwrap();
    f2.load_checkpoint(&f1.checkpoint(1).unwrap()).unwrap();
    let z = Tensor::randn(
        [16, cfg.encoder.latent_dim as i64],
        (Kind::Float, Device::Cpu),
    );
    assert!(f1.prob(&z).equal(&f2.prob(&z)));
    common::elapsed("checkpoint_round_trip", t0);
}

#[test]
fn corrupted_or_mismatched_checkpoints_are_refused() {
    let _g = serial();
    let _seeded = common::init(4);
    let cfg = pixel_config();
    let a = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actor.safetensors");
    checkpoint::save(&path, &a.checkpoint(Component::Actor, 1).unwrap()).unwrap();
    assert!(checkpoint::load(&path).is_ok());

    // One flipped bit anywhere in the weights file: refused by the sha256 check.
    let good = std::fs::read(&path).unwrap();
    for pos in [10, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[pos] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let err = checkpoint::load(&path).unwrap_err().to_string();
        assert!(err.contains("sha256 mismatch"), "{err}");
    }
    // A truncated file: refused.
    std::fs::write(&path, &good[..good.len() - 100]).unwrap();
    assert!(
        checkpoint::load(&path)
            .unwrap_err()
            .to_string()
            .contains("sha256 mismatch")
    );
    std::fs::write(&path, &good).unwrap();
    // A manifest whose sha256 was edited: refused.
    let mpath = manifest_path(&path);
    let manifest = std::fs::read_to_string(&mpath).unwrap();
    let sha = checkpoint::sha256_hex(&good);
    std::fs::write(&mpath, manifest.replace(&sha, &"0".repeat(64))).unwrap();
    assert!(checkpoint::load(&path).is_err());
    std::fs::write(&mpath, &manifest).unwrap();

    // Corruption of bytes received over the graph (ModelCheckpoint): refused.
    let mut ck = a.checkpoint(Component::Encoder, 3).unwrap();
    ck.weights[100] ^= 0x80;
    let mut b = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    assert!(
        b.load_checkpoint(&ck)
            .unwrap_err()
            .to_string()
            .contains("sha256 mismatch")
    );

    // Another architecture (latent 16 instead of 8): a clear error naming both ids.
    let mut other = cfg.clone();
    other.encoder.latent_dim = 16;
    let mut c = AlmAgent::new(&other, Device::Cpu).unwrap();
    let err = c
        .load_checkpoint(&a.checkpoint(Component::Actor, 1).unwrap())
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains("architecture mismatch"), "{err}");
    assert!(
        err.contains(&cfg.architecture(Component::Actor))
            && err.contains(&other.architecture(Component::Actor))
    );
    // The wrong component: refused.
    let mut f = ClassifierTrainer::new(&cfg, Device::Cpu, Component::GoalClassifier).unwrap();
    let demo = ClassifierTrainer::new(&cfg, Device::Cpu, Component::DemoClassifier).unwrap();
    assert!(f.load_checkpoint(&demo.checkpoint(1).unwrap()).is_err());
}

#[test]
fn seeded_updates_are_deterministic_on_cpu() {
    let _g = serial();
    let _seeded = common::init(5);
    let cfg = pixel_config();
    let run = || {
        tch::manual_seed(11);
        let batches: Vec<SequenceBatch> = (0..3).map(|_| random_batch(&cfg, 8)).collect();
        let mut agent = AlmAgent::new(&cfg, Device::Cpu).unwrap();
        for b in &batches {
            agent.update(b).unwrap();
        }
        COMPONENTS.map(|c| agent.checkpoint(c, 0).unwrap().sha256)
    };
    assert_eq!(run(), run());
}
