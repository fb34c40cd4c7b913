//! Safety properties of the arbiter for any input sequence, with the sim arm's real profile
//! (config/robots/sim_arm.yaml: joint limits, velocity limits, kinematic chain, workspace box).
//!
//! Inputs are sequences of events as the node sees them: forward and backward actions (any
//! length, any float including NaN and ±inf), observations, joint states, e-stop on/off,
//! operator phase changes, and time passing (watchdog). Two harnesses:
//! - `adversarial`: measured positions are arbitrary (garbage, out of limits, outside the box);
//! - `tracking`: the arm follows every command (the measured position is the last command),
//!   starting from a pose inside the box.
//!
//! Properties checked after every step:
//! 1. every command is within the joint position limits;
//! 2. no joint's command is farther than the step bound (`min(max_step, max_velocity ·
//!    period)`) from both the previous command and the arm's measured position (holding where
//!    the arm is, or a step restarted there, is always allowed);
//! 3. a command outside the workspace box is never a move: it repeats the previous command or
//!    holds the arm where it is measured (adversarial); with the arm tracking from inside the
//!    box, every command is inside the box (tracking).
//!
//! Both harnesses also run with homing on (the sim's rest pose, phases of a few steps so that
//! the arbiter homes between them): homing commands obey the same three properties.
//!
//! More cases: `PROPTEST_CASES=20000 cargo test -p phase_arbiter --test safety_properties --release`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mbarl_msgs::msg::{Observation, PolicyAction};
use mbarl_ros::params::{load_params_file, resolve_params};
use phase_arbiter::arbiter::{Arbiter, Homing};
use phase_arbiter::config::{limits_from, params, phase_config_from, workspace_from};
use phase_arbiter::kinematics::Workspace;
use phase_arbiter::limits::JointLimits;
use phase_arbiter::phases::{Phase, PhaseConfig, PhaseMachine};
use proptest::prelude::*;

const PERIOD: Duration = Duration::from_millis(50);
const EPS: f64 = 1e-9;

/// The sim profile's limits, workspace and a fresh phase machine (the file is read once).
fn sim_profile() -> (JointLimits, Workspace, PhaseMachine) {
    static PROFILE: OnceLock<(JointLimits, Workspace, PhaseConfig)> = OnceLock::new();
    let (limits, ws, config) = PROFILE.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/robots/sim_arm.yaml");
        let blocks = load_params_file(&path).unwrap();
        let values =
            resolve_params(&params(), "/phase_arbiter", "phase_arbiter", &blocks, &[]).unwrap();
        let limits = limits_from(&values).unwrap();
        let ws = workspace_from(&values, limits.joints()).unwrap().unwrap();
        (limits, ws, phase_config_from(&values).unwrap())
    });
    (
        limits.clone(),
        ws.clone(),
        PhaseMachine::new(config.clone()),
    )
}

#[derive(Debug, Clone)]
enum Event {
    Action {
        backward: bool,
        action: Vec<f32>,
    },
    /// An observation; `positions: None` in the tracking harness means "where the arm is".
    Observation {
        positions: Option<Vec<f64>>,
    },
    /// Joint states; `None` in the tracking harness means "where the arm is".
    JointStates(Option<Vec<f64>>),
    EStop(bool),
    SetPhase(Phase),
    Wait(Duration),
}

fn any_float() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -1.5f32..1.5,
        1 => Just(1.0f32),
        1 => Just(-1.0f32),
        1 => any::<f32>(),
        1 => prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
    ]
}

fn action() -> impl Strategy<Value = Vec<f32>> {
    prop_oneof![
        8 => proptest::collection::vec(any_float(), 4),
        1 => proptest::collection::vec(any_float(), 0..7),
    ]
}

fn position() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -3.5f64..3.5,
        1 => any::<f64>(),
        1 => Just(f64::NAN),
    ]
}

fn positions() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        8 => proptest::collection::vec(position(), 4),
        1 => proptest::collection::vec(position(), 0..7),
    ]
}

fn phase() -> impl Strategy<Value = Phase> {
    prop_oneof![
        Just(Phase::Forward),
        Just(Phase::Backward),
        Just(Phase::Eval),
        Just(Phase::Paused),
        Just(Phase::NeedsHelp),
    ]
}

/// Events; `measured` generates the observations' and joint states' positions.
fn events(measured: BoxedStrategy<Option<Vec<f64>>>) -> impl Strategy<Value = Vec<Event>> {
    let event = prop_oneof![
        6 => (any::<bool>(), action()).prop_map(|(backward, action)| Event::Action { backward, action }),
        8 => measured.clone().prop_map(|positions| Event::Observation { positions }),
        2 => measured.prop_map(Event::JointStates),
        1 => any::<bool>().prop_map(Event::EStop),
        1 => phase().prop_map(Event::SetPhase),
        1 => (0u64..200).prop_map(|ms| Event::Wait(Duration::from_millis(ms))),
    ];
    proptest::collection::vec(event, 1..120)
}

/// A start pose inside the workspace box, within the joint limits.
fn start_pose() -> impl Strategy<Value = Vec<f64>> {
    let (limits, ws, _) = sim_profile();
    let per_joint: Vec<_> = (0..limits.joints())
        .map(|j| limits.lower[j]..=limits.upper[j])
        .collect();
    per_joint.prop_filter("start inside the workspace box", move |q| ws.allows(q))
}

struct Checker {
    limits: JointLimits,
    ws: Workspace,
    previous: Option<Vec<f64>>,
    /// The latest valid (finite, right length) measured position, clamped to the limits.
    measured: Option<Vec<f64>>,
}

impl Checker {
    fn measure(&mut self, p: &[f64]) {
        if p.len() == self.limits.joints() && p.iter().all(|x| x.is_finite()) {
            self.measured = Some(
                (0..p.len())
                    .map(|j| self.limits.clamp_position(j, p[j]))
                    .collect(),
            );
        }
    }

    fn near(&self, a: &[f64], b: &[f64]) -> bool {
        (0..a.len())
            .all(|j| (a[j] - b[j]).abs() <= self.limits.step_bound(j, PERIOD.as_secs_f64()) + EPS)
    }

    fn check(&mut self, targets: &[f64], in_box_required: bool) -> Result<(), TestCaseError> {
        prop_assert!(
            self.limits.within(targets, 0.0),
            "outside the joint limits: {targets:?}"
        );
        let from_previous = self
            .previous
            .as_ref()
            .is_some_and(|p| self.near(targets, p));
        let from_measured = self
            .measured
            .as_ref()
            .is_some_and(|m| self.near(targets, m));
        prop_assert!(
            from_previous || from_measured,
            "too fast: {targets:?} after {:?}, arm at {:?}",
            self.previous,
            self.measured
        );
        if !self.ws.allows(targets) {
            prop_assert!(!in_box_required, "left the box: {targets:?}");
            // Outside the box only by repeating a command, holding where the arm is, or on
            // the way back in: no farther out than the arm already is (measured, or the last
            // command when the measurement is far outside the limits).
            let repeats = self.previous.as_deref() == Some(targets);
            let holds_here = self.measured.as_deref() == Some(targets);
            let out = |q: &[f64]| self.ws.distance_outside(q).unwrap_or(f64::INFINITY);
            let way_back_in = [self.measured.as_deref(), self.previous.as_deref()]
                .into_iter()
                .flatten()
                .any(|from| out(targets) <= out(from));
            prop_assert!(
                repeats || holds_here || way_back_in,
                "moved farther outside the box: {targets:?} after {:?}, arm at {:?}",
                self.previous,
                self.measured
            );
        }
        self.previous = Some(targets.to_vec());
        Ok(())
    }
}

/// The sim arm's rest pose (`arm.ik(HOME_EE)` in sim/mbarl_sim/tasks.py).
const SIM_REST_POSE: [f64; 4] = [-0.3948, -0.0051, 1.9411, 1.2056];

fn run(
    start: Vec<f64>,
    events: Vec<Event>,
    tracking: bool,
    homing: bool,
) -> Result<(), TestCaseError> {
    let (limits, ws, mut machine) = sim_profile();
    if homing {
        machine = PhaseMachine::new(PhaseConfig {
            forward_steps: 4,
            backward_steps: 4,
            ..PhaseConfig::default()
        });
    }
    let mut arb = Arbiter::new(limits.clone(), machine, PERIOD, 2.0).with_workspace(ws.clone());
    if homing {
        arb = arb
            .with_homing(Homing {
                position: SIM_REST_POSE.to_vec(),
                tolerance: 0.03,
                max_steps: 6,
            })
            .map_err(TestCaseError::fail)?;
    }
    let mut checker = Checker {
        limits,
        ws,
        previous: None,
        measured: None,
    };
    let t0 = Instant::now();
    let mut now = t0;
    let mut seq = 0u64;
    // The arm's actual position in the tracking harness.
    let mut arm = start.clone();
    arb.on_joint_positions(&start);
    checker.measure(&start);
    for event in events {
        match event {
            Event::Action { backward, action } => {
                let policy = if backward {
                    PolicyAction::POLICY_BACKWARD
                } else {
                    PolicyAction::POLICY_FORWARD
                };
                arb.on_action(
                    PolicyAction {
                        policy,
                        observation_seq: seq,
                        action,
                        ..Default::default()
                    },
                    now,
                );
            }
            Event::Observation { positions } => {
                let joint_position = if tracking {
                    arm.clone()
                } else {
                    positions.unwrap_or_else(|| arm.clone())
                };
                checker.measure(&joint_position);
                let out = arb.step(
                    Observation {
                        seq,
                        joint_position,
                        ..Default::default()
                    },
                    now,
                );
                seq += 1;
                now += PERIOD;
                if let Some(targets) = out.targets {
                    checker.check(&targets, tracking)?;
                    arm = targets;
                }
            }
            Event::JointStates(p) => {
                let p = if tracking {
                    arm.clone()
                } else {
                    p.unwrap_or_else(|| arm.clone())
                };
                arb.on_joint_positions(&p);
                checker.measure(&p);
            }
            Event::EStop(on) => {
                arb.set_estop(on);
                // The node sends the hold at once on e-stop.
                if on && let Some(hold) = arb.hold_targets() {
                    checker.check(&hold, tracking)?;
                    arm = hold;
                }
            }
            Event::SetPhase(p) => {
                arb.end_pending_phase();
                arb.machine.set_phase(p, "property test");
            }
            Event::Wait(d) => now += d,
        }
    }
    Ok(())
}

/// Cases per property: `PROPTEST_CASES`, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    #[test]
    fn adversarial_inputs_never_break_limits_or_leave_the_box(
        start in start_pose(),
        events in events(positions().prop_map(Some).boxed()),
        homing in any::<bool>(),
    ) {
        run(start, events, false, homing)?;
    }

    #[test]
    fn an_arm_tracking_its_commands_stays_in_the_box(
        start in start_pose(),
        events in events(Just(None).boxed()),
        homing in any::<bool>(),
    ) {
        run(start, events, true, homing)?;
    }
}

/// Both policies answer observation `seq` with `action`; then the arbiter steps on it, the
/// arm measured at `arm`.
fn both_policies_step(
    arb: &mut Arbiter,
    seq: u64,
    action: &[f32],
    arm: &[f64],
    now: Instant,
) -> phase_arbiter::arbiter::StepOutput {
    for policy in [PolicyAction::POLICY_FORWARD, PolicyAction::POLICY_BACKWARD] {
        arb.on_action(
            PolicyAction {
                policy,
                observation_seq: seq,
                action: action.to_vec(),
                ..Default::default()
            },
            now,
        );
    }
    arb.step(
        Observation {
            seq,
            joint_position: arm.to_vec(),
            ..Default::default()
        },
        now,
    )
}

/// A policy that always pushes the paddle down (into the table) or out of reach is refused at
/// the box boundary, every step; each phase ends after `max_consecutive_clamps` refused steps
/// and after `stuck_cycles` such cycles the arbiter asks for help.
#[test]
fn a_policy_pushing_out_of_the_box_is_stopped_at_its_edge() {
    let (limits, ws, machine) = sim_profile();
    let mut arb = Arbiter::new(limits, machine, PERIOD, 2.0).with_workspace(ws.clone());
    // Paddle above the push start region, tool down.
    let mut arm = vec![0.0, 0.35, 1.9, 0.9];
    assert!(ws.allows(&arm));
    let now = Instant::now();
    let (mut refused, mut help) = (0, false);
    for seq in 0..20_000u64 {
        // Shoulder forward, elbow open: down and out.
        let out = both_policies_step(&mut arb, seq, &[0.0, 1.0, 1.0, 0.0], &arm, now);
        refused += usize::from(out.refused.is_some());
        if out
            .switch
            .as_ref()
            .is_some_and(|s| s.to == Phase::NeedsHelp)
        {
            help = true;
            break;
        }
        arm = out.targets.unwrap();
        assert!(ws.allows(&arm), "step {seq}: {arm:?}");
    }
    assert!(refused > 100, "refused {refused}");
    assert!(help, "repeated refusals ask for help");
}

/// With the sim profile and the arm following its commands, homing between phases brings the
/// arm from a pose above the push start region to the rest pose, every command inside the box.
#[test]
fn homing_reaches_the_rest_pose_inside_the_box() {
    let (limits, ws, _) = sim_profile();
    let rest = ws.chain.end_effector(&SIM_REST_POSE).unwrap();
    assert!(
        (rest - nalgebra::Point3::new(0.24, -0.10, 0.22)).norm() < 1e-3,
        "the rest pose puts the paddle at the sim's HOME_EE: {rest:?}"
    );
    let machine = PhaseMachine::new(PhaseConfig {
        forward_steps: 4,
        backward_steps: 4,
        ..PhaseConfig::default()
    });
    let mut arb = Arbiter::new(limits, machine, PERIOD, 2.0)
        .with_workspace(ws.clone())
        .with_homing(Homing {
            position: SIM_REST_POSE.to_vec(),
            tolerance: 0.03,
            max_steps: 100,
        })
        .unwrap();
    let mut arm = vec![0.0, 0.35, 1.9, 0.9];
    let now = Instant::now();
    let mut homing_steps = 0;
    for seq in 0..60u64 {
        let out = both_policies_step(&mut arb, seq, &[0.0; 4], &arm, now);
        homing_steps += usize::from(out.homing);
        let was_homing = out.homing;
        arm = out.targets.unwrap();
        assert!(ws.allows(&arm), "step {seq}: {arm:?}");
        if was_homing && !arb.is_homing() {
            break;
        }
    }
    assert!(homing_steps > 5, "{homing_steps} homing steps");
    assert!(
        arm.iter()
            .zip(SIM_REST_POSE)
            .all(|(a, h)| (a - h).abs() <= 0.03 + 0.06),
        "{arm:?}"
    );
}
