//! The full ALM update (encoder + latent model + reward head + latent classifier + actor +
//! twin critics) solves a 2-D point-mass reach task from states, as a real training loop:
//! act in the environment, append every transition to the replay, sample length-K sequences,
//! update.
mod common;

use mbarl_learn::replay::{Observation, Phase, ReplayBuffer, ReplaySpec, Transition};
use mbarl_learn::{AlmAgent, ObsBatch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tch::{Device, Tensor};

const GOAL: [f32; 2] = [0.5, 0.5];
const EPISODE: u32 = 25;
const SPEED: f32 = 0.15;
const SUCCESS_RADIUS: f32 = 0.1;

/// Point mass in [-1, 1]²: p' = clip(p + 0.15·a), reward −‖p' − goal‖.
fn env_step(p: [f32; 2], a: &[f32]) -> ([f32; 2], f32) {
    let q = [
        (p[0] + SPEED * a[0].clamp(-1.0, 1.0)).clamp(-1.0, 1.0),
        (p[1] + SPEED * a[1].clamp(-1.0, 1.0)).clamp(-1.0, 1.0),
    ];
    (q, -dist(q))
}

fn dist(p: [f32; 2]) -> f32 {
    ((p[0] - GOAL[0]).powi(2) + (p[1] - GOAL[1]).powi(2)).sqrt()
}

fn obs(p: [f32; 2]) -> Observation {
    Observation {
        frame: None,
        proprio: vec![],
        state: Some(p.to_vec()),
    }
}

/// Deterministic policy from 20 fixed starts spread over the square: success rate and mean
/// final distance.
fn evaluate(agent: &AlmAgent) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(1234);
    let starts: Vec<[f32; 2]> = (0..20)
        .map(|_| [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)])
        .collect();
    let mut ps = starts;
    for _ in 0..EPISODE {
        let flat: Vec<f32> = ps.iter().flatten().copied().collect();
        let a = agent
            .act(
                &ObsBatch::from_state(Tensor::from_slice(&flat).reshape([20, 2])),
                true,
            )
            .unwrap();
        let a: Vec<f32> = Vec::try_from(a.flatten(0, -1)).unwrap();
        for (i, p) in ps.iter_mut().enumerate() {
            *p = env_step(*p, &a[2 * i..2 * i + 2]).0;
        }
    }
    let d: Vec<f64> = ps.iter().map(|&p| dist(p) as f64).collect();
    let success = d.iter().filter(|&&x| x < SUCCESS_RADIUS as f64).count() as f64 / d.len() as f64;
    (success, d.iter().sum::<f64>() / d.len() as f64)
}

#[test]
fn alm_solves_point_mass_reach_from_states() {
    solve_point_mass(None, "alm_point_mass");
}

/// `alm.horizon: 0` (the model-free baseline's actor: SAC on real latents) learns too.
#[test]
fn sac_actor_without_imagination_solves_point_mass_reach() {
    solve_point_mass(Some(0), "sac_point_mass");
}

fn solve_point_mass(horizon: Option<usize>, name: &str) {
    let t0 = Instant::now();
    let _seeded = common::init(0);
    let mut cfg = common::small_state_config(2, 2);
    if let Some(h) = horizon {
        cfg.alm.horizon = h;
    }
    cfg.seed = 0;
    cfg.alm.batch_size = 128;
    cfg.alm.gamma = 0.95;
    cfg.alm.tau = 0.01;
    cfg.alm.model_lr = 1e-3;
    cfg.alm.reward_lr = 1e-3;
    cfg.alm.actor_lr = 1e-3;
    cfg.alm.critic_lr = 1e-3;
    cfg.alm.alpha_lr = 1e-3;
    cfg.alm.init_alpha = 0.05;
    let mut agent = AlmAgent::new(&cfg, Device::Cpu).unwrap();
    let spec = ReplaySpec::from_config(&cfg);
    let mut replay = ReplayBuffer::in_memory(spec, 100_000);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);

    // Stated budget: solved within 3000 environment steps (120 episodes of 25 steps), with one
    // ALM update per step after 500 random steps. A random policy ends ~0.8 from the goal.
    const MAX_STEPS: usize = 3000;
    const WARMUP: usize = 500;
    let (mut success, mut mean_dist) = evaluate(&agent);
    eprintln!("untrained: success {success:.2}, mean final distance {mean_dist:.3}");
    let mut p = [0.0f32; 2];
    let mut segment = 0u64;
    let mut step_in_ep = EPISODE;
    let mut solved_at = None;
    for env_step_i in 0..MAX_STEPS {
        if step_in_ep == EPISODE {
            p = [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)];
            segment += 1;
            step_in_ep = 0;
        }
        let a: Vec<f32> = if env_step_i < WARMUP {
            vec![rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)]
        } else {
            let a = agent
                .act(
                    &ObsBatch::from_state(Tensor::from_slice(&p).reshape([1, 2])),
                    false,
                )
                .unwrap();
            Vec::try_from(a.flatten(0, -1)).unwrap()
        };
        let (q, r) = env_step(p, &a);
        replay
            .append(&Transition {
                obs: obs(p),
                action: a,
                reward: r,
                next_obs: obs(q),
                phase: Phase::Forward,
                segment,
                step: step_in_ep,
                done: false,
                phase_end: step_in_ep + 1 == EPISODE,
            })
            .unwrap();
        p = q;
        step_in_ep += 1;
        if env_step_i >= WARMUP {
            let seq = replay
                .sample_sequences(cfg.alm.batch_size, cfg.alm.seq_len, &mut rng)
                .unwrap();
            agent.update(&seq).unwrap();
        }
        if env_step_i >= WARMUP && (env_step_i + 1) % 250 == 0 {
            (success, mean_dist) = evaluate(&agent);
            eprintln!(
                "step {}: success {success:.2}, mean final distance {mean_dist:.3}, alpha {:.3} ({:.1} s)",
                env_step_i + 1,
                agent.policy.alpha(),
                t0.elapsed().as_secs_f64()
            );
            if success >= 0.9 {
                solved_at = Some(env_step_i + 1);
                break;
            }
        }
    }
    common::elapsed(name, t0);
    // Bound: ≥ 90% of 20 fixed starts end within 0.1 of the goal under the deterministic policy.
    assert!(
        solved_at.is_some(),
        "not solved in {MAX_STEPS} env steps: success {success}, mean final distance {mean_dist}"
    );
}
