//! What the arbiter's command rule costs per control step: forward kinematics and clamping, in
//! joint space (the sim arm, with and without its workspace box) and in end-effector space (the
//! simulated Panda: FK of 7 joints, the Cartesian step, box and orientation limits), and a whole
//! `Arbiter::step` with each. `scripts/bench.sh action-space` (release build); prints µs/step.

use std::time::{Duration, Instant};

use mbarl_msgs::msg::{Observation, PolicyAction};
use mbarl_ros::params::{ResolvedParam, load_params_file, resolve_params};
use phase_arbiter::action_space::{ActionSpace, JointSpace};
use phase_arbiter::arbiter::Arbiter;
use phase_arbiter::config::{
    action_space_from, gripper_from, limits_from, params, phase_config_from,
};
use phase_arbiter::phases::PhaseMachine;

const STEPS: usize = 200_000;

fn profile(name: &str) -> Vec<ResolvedParam> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&root).expect("repository root");
    let blocks = load_params_file(&root.join("config/robots").join(name)).expect("profile");
    resolve_params(&params(), "/phase_arbiter", "phase_arbiter", &blocks, &[]).expect("params")
}

/// A fixed pseudo-random sequence in [-1, 1].
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// µs per `space.command` from measured positions that wander around `q0`.
fn time_commands(space: &dyn ActionSpace, q0: &[f64]) -> f64 {
    let mut noise = Noise(7);
    let hold = space.hold(Some(q0), None).expect("a hold");
    let mut last: Option<Vec<f64>> = None;
    let mut q = q0.to_vec();
    let t = Instant::now();
    for _ in 0..STEPS {
        let action: Vec<f32> = (0..space.action_dim())
            .map(|_| noise.next() as f32)
            .collect();
        let c = space.command(&q, last.as_deref(), &hold, &action);
        last = Some(c.targets);
        for (v, v0) in q.iter_mut().zip(q0) {
            *v = v0 + 0.05 * noise.next();
        }
    }
    t.elapsed().as_secs_f64() * 1e6 / STEPS as f64
}

/// µs per `Arbiter::step` (a fresh action each step) for a profile.
fn time_arbiter(values: &[ResolvedParam], q0: &[f64]) -> f64 {
    let limits = limits_from(values).unwrap();
    let period = Duration::from_millis(50);
    let space = action_space_from(values, &limits, period.as_secs_f64()).unwrap();
    let mut arb = Arbiter::new(
        limits,
        PhaseMachine::new(phase_config_from(values).unwrap()),
        period,
        2.0,
    )
    .with_action_space(space);
    if let Some((g, _)) = gripper_from(values).unwrap() {
        arb = arb.with_gripper(g);
        arb.on_gripper_width(0.08);
    }
    let mut noise = Noise(11);
    let t0 = Instant::now();
    for seq in 0..STEPS as u64 {
        let now = t0 + Duration::from_millis(seq);
        arb.on_action(
            PolicyAction {
                policy: PolicyAction::POLICY_FORWARD,
                observation_seq: seq,
                action: (0..arb.action_dim()).map(|_| noise.next() as f32).collect(),
                ..Default::default()
            },
            now,
        );
        let q: Vec<f64> = q0.iter().map(|v| v + 0.05 * noise.next()).collect();
        let out = arb.step(
            Observation {
                seq,
                joint_position: q,
                ..Default::default()
            },
            now,
        );
        assert!(out.targets.is_some());
    }
    t0.elapsed().as_secs_f64() * 1e6 / STEPS as f64
}

fn main() {
    let sim = profile("sim_arm.yaml");
    let franka = profile("sim_franka.yaml");
    let sim_q = [0.0, 0.6, 1.2, 1.0];
    let panda_q = [0.0, -0.785, 0.0, -2.356, 0.0, 0.0, 0.785];
    let limits = limits_from(&sim).unwrap();
    let joints_only = JointSpace::new(limits.clone(), None, 0.05);
    let with_box = action_space_from(&sim, &limits, 0.05).unwrap();
    let franka_limits = limits_from(&franka).unwrap();
    let cartesian = action_space_from(&franka, &franka_limits, 0.05).unwrap();
    println!("command rule per control step ({STEPS} steps each, release build):");
    println!(
        "  joint space, sim arm (4 joints), limits only:      {:6.2} µs",
        time_commands(&joints_only, &sim_q)
    );
    println!(
        "  joint space, sim arm, + workspace box (URDF FK):   {:6.2} µs",
        time_commands(with_box.as_ref(), &sim_q)
    );
    println!(
        "  end-effector space, Panda (7 joints, FK + limits): {:6.2} µs",
        time_commands(cartesian.as_ref(), &panda_q)
    );
    println!("whole Arbiter::step (action checks, command rule, transition):");
    println!(
        "  sim arm profile:                                   {:6.2} µs",
        time_arbiter(&sim, &sim_q)
    );
    println!(
        "  sim Franka profile (end-effector + gripper):       {:6.2} µs",
        time_arbiter(&franka, &panda_q)
    );
    println!("(one control period is 50,000 µs at 20 Hz)");
}
