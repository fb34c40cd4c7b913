//! Shared helpers for the integration tests.
#![allow(dead_code)]
use mbarl_learn::LearnConfig;
use std::time::Instant;

/// One intra-op thread (CI has 2 cores and runs two tests at once), seeded libtorch. libtorch's
/// generator is global: the returned guard keeps the tests of one binary from drawing from it
/// at the same time, so each test sees the same random numbers on every run (interleaved
/// draws made the pixel test's reward-loss check fail about 1 run in 6).
pub fn init(seed: i64) -> std::sync::MutexGuard<'static, ()> {
    static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    tch::manual_seed(seed);
    guard
}

/// A small state-mode config: every network 64×64, latent 8, 2-member ensemble.
pub fn small_state_config(state_dim: usize, action_dim: usize) -> LearnConfig {
    let mut c = LearnConfig {
        device: mbarl_learn::DeviceChoice::Cpu,
        ..Default::default()
    };
    c.obs.state_dim = state_dim;
    c.obs.action_dim = action_dim;
    c.encoder.latent_dim = 8;
    c.encoder.hidden = vec![64, 64];
    c.model.hidden = vec![64, 64];
    c.model.ensemble_size = 2;
    c.reward_head.hidden = vec![64, 64];
    c.actor.hidden = vec![64, 64];
    c.critic.hidden = vec![64, 64];
    c.latent_classifier.hidden = vec![64, 64];
    c.medal.hidden = vec![64, 64];
    c
}

/// Prints and returns the seconds since `t0`.
pub fn elapsed(name: &str, t0: Instant) -> f64 {
    let s = t0.elapsed().as_secs_f64();
    eprintln!("[timing] {name}: {s:.1} s");
    s
}
