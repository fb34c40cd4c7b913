//! `mbarl_msgs` ↔ mbarl-learn: what the nodes feed the networks and the replays.
//!
//! Observation features, given a [`LearnConfig`] with N joints:
//! - proprio (`obs.proprio_dim`): 3N → joint positions ++ velocities ++ command leads, 2N →
//!   positions ++ velocities, N → positions, 0 → none;
//! - state (state mode, `obs.state_dim`): `Observation.state` ++ positions ++ velocities ++
//!   command leads, `Observation.state` ++ positions ++ velocities, or `Observation.state` ++
//!   positions, whichever has the configured length, else `Observation.state` alone (a robot
//!   that publishes a full low-dimensional state);
//! - a joint's command lead is `joint_command − joint_position`: how far the position
//!   controller's setpoint leads the arm (0 before the first command). A position-servoed arm
//!   carries about half a command into the next step, so without it the state is not Markov:
//!   the same action from the same measured state moves the arm differently.
//! - frame (pixel mode): the preprocessed `frame_height × frame_width × 3` rgb8 frame.
use crate::{NodeError, Result};
use mbarl_learn::dynamics::DynamicsData;
use mbarl_learn::replay::{Observation as ReplayObs, Phase as ReplayPhase, Transition as ReplayTr};
use mbarl_learn::{LearnConfig, ObsBatch, ObsMode};
use mbarl_msgs::msg::{Observation, Phase, Transition};
use tch::{Kind, Tensor};

fn bad(s: String) -> NodeError {
    NodeError::Observation(s)
}

fn finite32(v: &[f32], what: &str) -> Result<()> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(bad(format!("{what} has non-finite values")))
    }
}

/// The replay observation of an Observation message under `cfg`.
pub fn observation(o: &Observation, cfg: &LearnConfig) -> Result<ReplayObs> {
    let c = &cfg.obs;
    let n = o.joint_position.len();
    if o.joint_velocity.len() != n && !o.joint_velocity.is_empty() {
        return Err(bad(format!(
            "{} joint positions but {} velocities",
            n,
            o.joint_velocity.len()
        )));
    }
    let pos: Vec<f32> = o.joint_position.iter().map(|&x| x as f32).collect();
    let vel: Vec<f32> = if o.joint_velocity.is_empty() {
        vec![0.0; n]
    } else {
        o.joint_velocity.iter().map(|&x| x as f32).collect()
    };
    let lead = command_lead(o)?;
    let pos_vel: Vec<f32> = pos.iter().chain(&vel).copied().collect();
    let pos_vel_lead: Vec<f32> = pos_vel.iter().chain(&lead).copied().collect();
    let proprio = match c.proprio_dim {
        0 => Vec::new(),
        d if d == 3 * n => pos_vel_lead.clone(),
        d if d == 2 * n => pos_vel.clone(),
        d if d == n => pos.clone(),
        d => {
            return Err(bad(format!(
                "obs.proprio_dim is {d}, the observation has {n} joints (expected {n}, {} or {})",
                2 * n,
                3 * n
            )));
        }
    };
    finite32(&proprio, "proprio")?;
    let mut out = ReplayObs {
        frame: None,
        proprio,
        state: None,
    };
    match c.mode {
        ObsMode::State => {
            let with =
                |joint: &[f32]| -> Vec<f32> { o.state.iter().chain(joint).copied().collect() };
            let state = if o.state.len() + 3 * n == c.state_dim {
                with(&pos_vel_lead)
            } else if o.state.len() + 2 * n == c.state_dim {
                with(&pos_vel)
            } else if n > 0 && o.state.len() + n == c.state_dim {
                with(&pos)
            } else if o.state.len() == c.state_dim {
                o.state.clone()
            } else {
                return Err(bad(format!(
                    "obs.state_dim is {}, the observation gives {} state values + {}, {} or {} joint values",
                    c.state_dim,
                    o.state.len(),
                    n,
                    2 * n,
                    3 * n
                )));
            };
            finite32(&state, "state")?;
            out.state = Some(state);
        }
        ObsMode::Pixels => {
            let (h, w) = (c.frame_height, c.frame_width);
            if o.frame_height as usize != h
                || o.frame_width as usize != w
                || o.frame.len() != h * w * 3
            {
                return Err(bad(format!(
                    "frame {}x{} with {} bytes, the encoder needs {h}x{w}x3",
                    o.frame_height,
                    o.frame_width,
                    o.frame.len()
                )));
            }
            out.frame = Some(o.frame.clone());
        }
    }
    Ok(out)
}

/// Checks at start-up that the learn config's proprioceptive size fits a robot with `joints`
/// joints (`obs.proprio_dim`: 0, N, 2N or 3N), so a mismatch stops the node naming both
/// instead of refusing every observation.
pub fn check_proprio_size(cfg: &LearnConfig, joints: usize) -> Result<()> {
    let d = cfg.obs.proprio_dim;
    if joints > 0 && ![0, joints, 2 * joints, 3 * joints].contains(&d) {
        return Err(bad(format!(
            "the learn config's obs.proprio_dim is {d}, the robot profile has {joints} joints: \
             use {joints} (positions), {} (and velocities) or {} (and command leads)",
            2 * joints,
            3 * joints
        )));
    }
    Ok(())
}

/// Each joint's `joint_command − joint_position` (all 0 without a command).
fn command_lead(o: &Observation) -> Result<Vec<f32>> {
    let n = o.joint_position.len();
    match o.joint_command.len() {
        0 => Ok(vec![0.0; n]),
        m if m == n => {
            let lead: Vec<f32> = o
                .joint_command
                .iter()
                .zip(&o.joint_position)
                .map(|(c, p)| (c - p) as f32)
                .collect();
            finite32(&lead, "joint_command")?;
            Ok(lead)
        }
        m => Err(bad(format!("{m} joint commands for {n} joint positions"))),
    }
}

/// A batch of replay observations as network input (CPU tensors).
pub fn obs_batch(obs: &[&ReplayObs], cfg: &LearnConfig) -> ObsBatch {
    let n = obs.len() as i64;
    let mut b = ObsBatch::default();
    if cfg.obs.proprio_dim > 0 {
        let v: Vec<f32> = obs.iter().flat_map(|o| o.proprio.iter().copied()).collect();
        b.proprio = Some(Tensor::from_slice(&v).reshape([n, cfg.obs.proprio_dim as i64]));
    }
    match cfg.obs.mode {
        ObsMode::State => {
            let v: Vec<f32> = obs
                .iter()
                .flat_map(|o| o.state.iter().flatten().copied())
                .collect();
            b.state = Some(Tensor::from_slice(&v).reshape([n, cfg.obs.state_dim as i64]));
        }
        ObsMode::Pixels => {
            let v: Vec<u8> = obs
                .iter()
                .flat_map(|o| o.frame.iter().flatten().copied())
                .collect();
            b.frames = Some(Tensor::from_slice(&v).to_kind(Kind::Uint8).reshape([
                n,
                cfg.obs.frame_height as i64,
                cfg.obs.frame_width as i64,
                3,
            ]));
        }
    }
    b
}

/// The replay phase of a message phase (`None` for PAUSED / NEEDS_HELP, which record nothing).
pub fn phase(p: u8) -> Option<ReplayPhase> {
    match p {
        Phase::FORWARD => Some(ReplayPhase::Forward),
        Phase::BACKWARD => Some(ReplayPhase::Backward),
        Phase::EVAL => Some(ReplayPhase::Eval),
        _ => None,
    }
}

/// The segment id of a phase run: consecutive steps of one phase in one cycle share it.
pub fn segment(cycle: u32, phase: u8) -> u64 {
    ((cycle as u64) << 8) | phase as u64
}

/// A Transition message as a replay record with `reward`; `demo` marks demonstration data.
pub fn transition(t: &Transition, cfg: &LearnConfig, reward: f32, demo: bool) -> Result<ReplayTr> {
    let ph = if demo {
        ReplayPhase::Demo
    } else {
        phase(t.phase).ok_or_else(|| bad(format!("transition of phase {}", t.phase)))?
    };
    if t.action.len() != cfg.obs.action_dim {
        return Err(bad(format!(
            "action has {} values, obs.action_dim is {}",
            t.action.len(),
            cfg.obs.action_dim
        )));
    }
    finite32(&t.action, "action")?;
    Ok(ReplayTr {
        obs: observation(&t.observation, cfg)?,
        action: t.action.clone(),
        reward: if reward.is_finite() { reward } else { 0.0 },
        next_obs: observation(&t.next_observation, cfg)?,
        phase: ph,
        segment: segment(t.cycle, t.phase) | if demo { 1 << 63 } else { 0 },
        step: (t.step & 0xffff_ffff) as u32,
        done: false,
        phase_end: t.phase_end,
    })
}

/// The step the arm was actually sent: each joint's command minus the command before it
/// (`Transition.commanded_position − Observation.joint_command`, in the joint's units), after
/// the arbiter's clamping and refusal. An error when the transition carries no command before
/// and after (the arm's first step) or not `action_dim` of them.
pub fn executed_step(t: &Transition, action_dim: usize) -> Result<Vec<f32>> {
    let (cmd, before) = (&t.commanded_position, &t.observation.joint_command);
    if cmd.len() != action_dim || before.len() != action_dim {
        return Err(bad(format!(
            "the executed step needs {action_dim} commanded positions and {action_dim} joint \
             commands before them, got {} and {}",
            cmd.len(),
            before.len()
        )));
    }
    let step: Vec<f32> = cmd
        .iter()
        .zip(before)
        .map(|(c, b)| (c - b) as f32)
        .collect();
    finite32(&step, "executed step")?;
    Ok(step)
}

/// One transition as the state dynamics ensemble learns it: the state (state ++ proprio), the
/// executed step ([`executed_step`]) and the next state.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicsRow {
    pub state: Vec<f32>,
    pub executed: Vec<f32>,
    pub next_state: Vec<f32>,
}

impl DynamicsRow {
    /// The row of a recorded transition; an error when it carries no executed step or does not
    /// fit the config.
    pub fn of(t: &Transition, cfg: &LearnConfig) -> Result<Self> {
        let state = |o| -> Result<Vec<f32>> {
            let r = observation(o, cfg)?;
            Ok(r.state.into_iter().flatten().chain(r.proprio).collect())
        };
        Ok(Self {
            state: state(&t.observation)?,
            executed: executed_step(t, cfg.obs.action_dim)?,
            next_state: state(&t.next_observation)?,
        })
    }

    /// Rows as tensors (CPU).
    pub fn batch<'a>(rows: impl ExactSizeIterator<Item = &'a DynamicsRow>) -> DynamicsData {
        let n = rows.len() as i64;
        let (mut s, mut a, mut x) = (Vec::<f32>::new(), Vec::<f32>::new(), Vec::<f32>::new());
        for r in rows {
            s.extend(&r.state);
            a.extend(&r.executed);
            x.extend(&r.next_state);
        }
        DynamicsData {
            state: Tensor::from_slice(&s).reshape([n, -1]),
            action: Tensor::from_slice(&a).reshape([n, -1]),
            next_state: Tensor::from_slice(&x).reshape([n, -1]),
        }
    }
}

/// The task reward of a transition (0 when the robot has none).
pub fn task_reward(t: &Transition) -> f32 {
    if t.has_task_reward && t.task_reward.is_finite() {
        t.task_reward
    } else {
        0.0
    }
}
