//! Synthetic data for tests and benchmarks: a small state-mode config and Transition messages
//! of a 4-joint arm drifting towards its action.
use mbarl_learn::LearnConfig;
use mbarl_msgs::msg::{Observation, Transition};

/// A small state-mode config for 4 joints (state = positions ++ velocities).
pub fn small_state_config() -> LearnConfig {
    let mut c = LearnConfig::default();
    c.obs.state_dim = 8;
    c.obs.proprio_dim = 0;
    c.obs.action_dim = 4;
    c.encoder.latent_dim = 8;
    c.encoder.hidden = vec![32];
    c.model.hidden = vec![32];
    c.reward_head.hidden = vec![32];
    c.actor.hidden = vec![32];
    c.critic.hidden = vec![32];
    c.latent_classifier.hidden = vec![32];
    c.medal.hidden = vec![32];
    c.medal.batch_size = 16;
    c.alm.batch_size = 16;
    c.alm.seq_len = 2;
    c.alm.horizon = 2;
    c.mbpo.rollout_batch = 16;
    c.mbpo.rollout_length = 2;
    c.mbpo.model_buffer_capacity = 1000;
    c.replay.chunk_records = 64;
    c
}

pub fn observation(seq: u64, q: [f64; 4]) -> Observation {
    Observation {
        seq,
        joint_names: (1..=4).map(|i| format!("joint{i}")).collect(),
        joint_position: q.to_vec(),
        joint_velocity: vec![0.0; 4],
        ..Default::default()
    }
}

/// `n` consecutive transitions of one phase run starting at run-wide step `start`.
pub fn transitions(n: usize, phase: u8, cycle: u32, start: u64) -> Vec<Transition> {
    let mut q = [0.1 * cycle as f64, 0.2, 0.3, -0.1];
    (0..n)
        .map(|i| {
            let step = start + i as u64;
            let a = [
                ((step as f32) * 0.37).sin(),
                0.5,
                -0.25,
                ((step as f32) * 0.11).cos(),
            ];
            let obs = observation(step, q);
            for j in 0..4 {
                q[j] += 0.05 * a[j] as f64;
            }
            Transition {
                step,
                phase,
                cycle,
                observation: obs,
                action: a.to_vec(),
                commanded_position: q.to_vec(),
                task_reward: -(q[0] as f32).abs(),
                has_task_reward: true,
                next_observation: observation(step + 1, q),
                phase_end: i + 1 == n,
                ..Default::default()
            }
        })
        .collect()
}

/// Writes transitions as a demo dataset of `role` the way `mbarl demo import` lays it out
/// (`<run_dir>/demos/<role>/<name>/`, an MCAP bag of Transitions + `dataset.yaml`).
pub fn write_demo_dataset(
    run_dir: &std::path::Path,
    role: &str,
    name: &str,
    ts: &[Transition],
) -> crate::Result<()> {
    use mbarl_bag::{BagWriter, QosProfile, WriterOptions};
    let dir = run_dir.join("demos").join(role).join(name);
    let fail = |e: &dyn std::fmt::Display| crate::NodeError::Demo {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(run_dir.join("demos").join(role)).map_err(|e| fail(&e))?;
    let mut w = BagWriter::create(&dir, WriterOptions::default()).map_err(|e| fail(&e))?;
    let topic = w
        .add_topic::<Transition>(
            crate::demos::TRANSITIONS_TOPIC,
            &[QosProfile::new(true, false, 100)],
        )
        .map_err(|e| fail(&e))?;
    for (i, t) in ts.iter().enumerate() {
        w.write(topic, i as u64 * 50_000_000, t)
            .map_err(|e| fail(&e))?;
    }
    w.finish().map_err(|e| fail(&e))?;
    std::fs::write(dir.join("dataset.yaml"), format!("role: {role}\n")).map_err(|e| fail(&e))
}
