//! `phase_arbiter` node: the only node that commands the arm.
//!
//! Subscribes `/mbarl/observation`, `/mbarl/{forward,backward}/action`, `/mbarl/state_score`,
//! `/mbarl/estop`; publishes the arm's command as the profile's `command_interface` says:
//! `/arm_controller/commands` (std_msgs/Float64MultiArray, position targets, ros2_control
//! forward_command_controller), `/arm_controller/joint_trajectory`,
//! `/cartesian_controller/target_pose` (geometry_msgs/PoseStamped, Cartesian impedance
//! controllers) or `/servo_node/delta_twist_cmds` (geometry_msgs/TwistStamped, MoveIt Servo);
//! and `/mbarl/phase` (latched), `/mbarl/transition`, `/mbarl/help_request`; serves
//! `/mbarl/set_phase` and `/mbarl/resume`. Remap any of them with `--ros-args -r`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use mbarl_msgs::msg::{
    HelpRequest, Observation, Phase as PhaseMsg, PolicyAction, StateScore, TrainingStats,
    Transition,
};
use mbarl_msgs::sensor_msgs::JointState;
use mbarl_msgs::srv::{Resume, ResumeResponse, SetPhase, SetPhaseResponse};
use mbarl_msgs::std_msgs::{Bool, Float64, Float64MultiArray, Header};
use mbarl_ros::counters::RateLimitedWarn;
use mbarl_ros::{NodeBuilder, Publisher, Qos, RosArgs, RosNode, Subscriber};
use phase_arbiter::arbiter::{Arbiter, JointOrder, StepOutput};
use phase_arbiter::arm_pace::ArmPace;
use phase_arbiter::command_out::{CommandOut, GRIPPER_TOPIC};
use phase_arbiter::config::{
    CommandInterface, action_space_from, gripper_from, homing_from, limits_from,
    object_bounds_from, params, phase_config_from, workspace_from,
};
use phase_arbiter::pacing::Pacing;
use phase_arbiter::phase_log::PhaseLog;
use phase_arbiter::phases::{Phase, PhaseMachine, Switch};
use phase_arbiter::task_reward::{Labelled, TaskReward};

struct Outputs {
    command: CommandOut,
    /// The gripper's width command, with a gripper.
    gripper: Option<Publisher<Float64MultiArray>>,
    /// New joint states since the last command: when a silent arbiter sends the hold.
    pace: std::cell::RefCell<ArmPace>,
    phase: Publisher<PhaseMsg>,
    /// Transitions go out from their own task: a slow recorder (reliable, keep-all: nothing is
    /// lost) must never block the control loop.
    transition: tokio::sync::mpsc::UnboundedSender<Transition>,
    help: Publisher<HelpRequest>,
    /// `<run_dir>/metrics/phases.csv` when a run directory is given.
    phase_log: Option<PhaseLog>,
    /// The robot's task reward for the transitions, when `task_reward_topic` is set.
    task_reward: Option<std::cell::RefCell<TaskReward>>,
}

impl Outputs {
    /// Sends `targets` to the arm (`hold`: they hold it where it is).
    fn command(&self, targets: &[f64], header: Header, hold: bool) -> Result<()> {
        self.pace.borrow_mut().on_command();
        self.command.send(targets, header, hold)
    }
}

/// Publishes transitions in order, retrying while a reader lags; nothing is dropped.
async fn transition_sender(
    publisher: Publisher<Transition>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Transition>,
) {
    while let Some(t) = rx.recv().await {
        let mut waited = 0u32;
        while let Err(e) = publisher.publish(t.clone()) {
            waited += 1;
            if waited % 100 == 1 {
                tracing::warn!("transition recorder lagging ({e}); retrying, nothing is dropped");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn announce(node: &RosNode, out: &Outputs, arb: &Arbiter, switch: &Switch) {
    tracing::info!(from = ?switch.from, to = ?switch.to, cycle = arb.machine.cycle(), "phase change: {}", switch.reason);
    if let Some(log) = &out.phase_log
        && let Err(e) = log.append(
            arb.machine.cycle(),
            arb.machine.total_steps(),
            &format!("{:?}", switch.from),
            &format!("{:?}", switch.to),
            &switch.reason,
        )
    {
        tracing::warn!("cannot write the phase log: {e}");
    }
    let mut msg = arb.machine.to_msg(&switch.reason);
    msg.header.stamp = node.now();
    if let Err(e) = out.phase.publish(msg) {
        tracing::warn!("cannot publish the phase: {e}");
    }
    if switch.to == Phase::NeedsHelp {
        let help = HelpRequest {
            header: Header {
                stamp: node.now(),
                frame_id: String::new(),
            },
            cycle: arb.machine.cycle(),
            phase: switch.from.to_msg(),
            reason: switch.reason.clone(),
        };
        tracing::warn!("asking for help: {}", switch.reason);
        if let Err(e) = out.help.publish(help) {
            tracing::warn!("cannot publish the help request: {e}");
        }
    }
}

fn apply(
    node: &RosNode,
    out: &Outputs,
    arb: &Arbiter,
    step: StepOutput,
    header: Header,
    warn: &RateLimitedWarn,
) {
    if let Some(reason) = step.hold {
        let total = node
            .counters()
            .counter(&format!("hold.{}", reason.as_str()))
            .increment();
        if let Some(suppressed) = warn.check() {
            tracing::warn!(total, suppressed, "arm holds still: {}", reason.as_str());
        }
    }
    if let Some(refusal) = step.refused {
        let total = node
            .counters()
            .counter(&format!("refused.{}", refusal.as_str()))
            .increment();
        if let Some(suppressed) = warn.check() {
            tracing::warn!(
                total,
                suppressed,
                "command refused ({}): only the joints whose step is safe move",
                refusal.as_str()
            );
        }
    }
    if step.clamped {
        node.counters().counter("clamped").increment();
    }
    if step.homing {
        node.counters().counter("homing_steps").increment();
    }
    if step.object_unreadable {
        let total = node
            .counters()
            .counter("object_state.unreadable")
            .increment();
        if let Some(suppressed) = warn.check() {
            tracing::warn!(
                total,
                suppressed,
                "the observation's task state does not hold the object's dimensions (object_state_indices): the object rule is not checked"
            );
        }
    }
    if let Some(targets) = &step.targets
        && let Err(e) = out.command(targets, header, step.hold.is_some())
    {
        tracing::error!("cannot send the arm command: {e}");
    }
    if let (Some(p), Some(width)) = (&out.gripper, step.gripper)
        && let Err(e) = p.publish(Float64MultiArray {
            data: vec![width],
            ..Default::default()
        })
    {
        tracing::error!("cannot send the gripper command: {e}");
    }
    if let Some(mut t) = step.transition
        && let Err(e) = {
            match out
                .task_reward
                .as_ref()
                .map(|r| r.borrow_mut().label(&mut t))
            {
                Some(Labelled::Stale) => node.counters().counter("task_reward.stale").increment(),
                Some(Labelled::Missing) => {
                    node.counters().counter("task_reward.missing").increment()
                }
                _ => 0,
            };
            out.transition.send(t)
        }
    {
        node.counters()
            .counter("transition_publish_failed")
            .increment();
        tracing::warn!("cannot publish a transition: {e}");
    }
    if let Some(s) = &step.switch {
        announce(node, out, arb, s);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let (_, args) = RosArgs::from_env()?;
    mbarl_ros::logging::init_logging(args.log_level.as_deref());
    let node = NodeBuilder::new("phase_arbiter")
        .about("the only node that commands the arm: switches forward/backward phases, clamps every command to the robot profile's limits and workspace, holds the arm on silence or e-stop, asks for help when stuck, publishes /mbarl/transition")
        .ros_args(args)
        .params(params())
        .build()?;
    let limits = limits_from(node.startup_params())?;
    let rate: f64 = node.param("control_rate_hz")?;
    if !(rate.is_finite() && rate > 0.0) {
        bail!("control_rate_hz must be > 0, got {rate}");
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let names = limits.names.clone();
    let interface = CommandInterface::parse(&node.param::<String>("command_interface")?)?;
    match workspace_from(node.startup_params(), limits.joints())? {
        Some(ws) => {
            tracing::info!(min = ?ws.bounds.min, max = ?ws.bounds.max, "workspace box enforced on the end effector");
        }
        None => tracing::warn!(
            "no workspace box (workspace_min/workspace_max unset): only joint limits are enforced"
        ),
    }
    let space = action_space_from(node.startup_params(), &limits, period.as_secs_f64())?;
    tracing::info!(?interface, action_dim = space.action_dim(), "arm commands");
    let mut arb = Arbiter::new(
        limits,
        PhaseMachine::new(phase_config_from(node.startup_params())?),
        period,
        node.param("watchdog_periods")?,
    )
    .with_action_space(space);
    let gripper = gripper_from(node.startup_params())?;
    let gripper_joints = match gripper {
        Some((g, joints)) => {
            tracing::info!(
                ?joints,
                open = g.limits.open_width,
                closed = g.limits.closed_width,
                "gripper on /gripper_controller/commands: the action's last value opens or closes it"
            );
            arb = arb.with_gripper(g);
            joints
        }
        None => Vec::new(),
    };
    if let Some(bounds) = object_bounds_from(node.startup_params())? {
        tracing::info!(
            ?bounds,
            "help is asked when the task's object leaves its bounds"
        );
        arb = arb.with_object_bounds(bounds);
    }
    if let Some(homing) = homing_from(node.startup_params())? {
        tracing::info!(home = ?homing.position, "each phase starts from the rest pose");
        arb = arb.with_homing(homing).map_err(anyhow::Error::msg)?;
    }
    let action_wait = period.mul_f64(node.param::<f64>("action_wait_periods")?.clamp(0.0, 10.0));

    let command = CommandOut::for_profile(&node, node.startup_params(), &names, period)?;
    let mut out = Outputs {
        command,
        gripper: if gripper_joints.is_empty() {
            None
        } else {
            Some(node.publisher(GRIPPER_TOPIC, Qos::DEFAULT)?)
        },
        pace: Default::default(),
        phase: node.publisher("/mbarl/phase", Qos::Latched)?,
        transition: {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(transition_sender(
                node.publisher("/mbarl/transition", Qos::Lossless)?,
                rx,
            ));
            tx
        },
        help: node.publisher("/mbarl/help_request", Qos::Latched)?,
        phase_log: match node.param::<String>("run_dir")?.as_str() {
            "" => None,
            dir => Some(PhaseLog::open(std::path::Path::new(dir))?),
        },
        task_reward: None,
    };
    let run_dir: String = node.param("run_dir")?;
    if !run_dir.is_empty()
        && let Some((cycle, steps)) =
            phase_arbiter::phase_log::last_position(std::path::Path::new(&run_dir))
    {
        arb.machine.continue_run(cycle, steps);
        tracing::info!(
            cycle = arb.machine.cycle(),
            env_steps = steps,
            "continuing the run in the run directory"
        );
    }
    let task_reward_topic: String = node.param("task_reward_topic")?;
    let task_rewards = if task_reward_topic.is_empty() {
        None
    } else {
        tracing::info!(topic = %task_reward_topic, "transitions carry the robot's task reward");
        out.task_reward = Some(Default::default());
        Some(node.subscriber::<Float64>(&task_reward_topic, Qos::Reliable { depth: 5 })?)
    };
    let observations =
        node.subscriber::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })?;
    let forward =
        node.subscriber::<PolicyAction>("/mbarl/forward/action", Qos::Reliable { depth: 5 })?;
    let backward =
        node.subscriber::<PolicyAction>("/mbarl/backward/action", Qos::Reliable { depth: 5 })?;
    let scores = node.subscriber::<StateScore>("/mbarl/state_score", Qos::Reliable { depth: 5 })?;
    let estop = node.subscriber::<Bool>("/mbarl/estop", Qos::Reliable { depth: 5 })?;
    let joint_states = node.subscriber::<JointState>("/joint_states", Qos::SensorData)?;
    let joint_order = JointOrder::new(&arb.limits.names);
    let gripper_order = JointOrder::new(&gripper_joints);
    let set_phase = node.service_server::<SetPhase>("/mbarl/set_phase")?;
    let resume = node.service_server::<Resume>("/mbarl/resume")?;
    announce(
        &node,
        &out,
        &arb,
        &Switch {
            from: Phase::Forward,
            to: Phase::Forward,
            reason: "start".into(),
        },
    );
    tracing::info!(
        "phase arbiter up: {} joints at {rate} Hz",
        arb.limits.joints()
    );

    let warn = RateLimitedWarn::default();
    let mut waiting: Option<(Observation, Instant)> = None;
    let mut last_observation = Instant::now();
    let mut silence = tokio::time::interval(period);
    let mut pacing = Pacing::new(node.param("max_training_backlog")?);
    let mut paced: Option<Observation> = None;
    let training_stats =
        node.subscriber::<TrainingStats>("/mbarl/training_stats", Qos::Reliable { depth: 50 })?;
    if pacing.enabled() {
        tracing::info!(
            "lock-step pacing: a step waits while a learner's backlog is above {}",
            node.param::<f64>("max_training_backlog")?
        );
    }
    // One observation → (after its action, or the action wait) one step.
    macro_rules! on_observation {
        ($obs:expr) => {{
            let obs = $obs;
            arb.on_observation_seq(obs.seq);
            if let Some((prev, _)) = waiting.take() {
                // Overtaken before its action came: observations faster than the control
                // rate (stepped), or (lock-step) a second step in flight (dropped, so that one
                // step goes round the loop again).
                node.counters().counter("observation.overtaken").increment();
                if out.pace.borrow().drop_overtaken() {
                    node.counters()
                        .counter("observation.dropped_second_step")
                        .increment();
                } else {
                    let header = prev.header.clone();
                    let step = arb.step(prev, Instant::now());
                    apply(&node, &out, &arb, step, header, &warn);
                }
            }
            if arb.has_action_for(obs.seq) || action_wait.is_zero() {
                let header = obs.header.clone();
                let step = arb.step(obs, Instant::now());
                apply(&node, &out, &arb, step, header, &warn);
            } else {
                waiting = Some((obs, Instant::now() + action_wait));
            }
        }};
    }
    loop {
        let deadline = waiting
            .as_ref()
            .map(|(_, d)| *d)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            Some(obs) = observations.recv() => {
                tracing::debug!(seq = obs.seq, "observation");
                last_observation = Instant::now();
                if pacing.behind(Instant::now()) {
                    // lock-step: no command, so the sim waits for the learners
                    if paced.replace(obs).is_none() {
                        node.counters().counter("paced").increment();
                    }
                    continue;
                }
                on_observation!(obs);
            }
            Some(s) = training_stats.recv() => {
                pacing.update(&s, Instant::now());
                if !pacing.behind(Instant::now()) && let Some(obs) = paced.take() {
                    // sim time stood still while waiting: the actions for it are still fresh
                    arb.refresh_actions(Instant::now());
                    last_observation = Instant::now();
                    on_observation!(obs);
                }
            }
            Some(a) = forward.recv() => {
                tracing::debug!(seq = a.observation_seq, "forward action");
                arb.on_action(a, Instant::now());
                if let Some((obs, _)) = waiting.take_if(|(o, _)| arb.has_action_for(o.seq)) {
                    let header = obs.header.clone();
                    let step = arb.step(obs, Instant::now());
                    apply(&node, &out, &arb, step, header, &warn);
                }
            }
            Some(a) = backward.recv() => {
                arb.on_action(a, Instant::now());
                if let Some((obs, _)) = waiting.take_if(|(o, _)| arb.has_action_for(o.seq)) {
                    let header = obs.header.clone();
                    let step = arb.step(obs, Instant::now());
                    apply(&node, &out, &arb, step, header, &warn);
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if let Some((obs, _)) = waiting.take() {
                    let header = obs.header.clone();
                    let step = arb.step(obs, Instant::now());
                    apply(&node, &out, &arb, step, header, &warn);
                }
            }
            Some(s) = scores.recv() => arb.on_score(s),
            Some(r) = Subscriber::recv_optional(&task_rewards) => {
                if let Some(reward) = &out.task_reward
                    && let Err(e) = reward.borrow_mut().offer(r.data)
                {
                    let total = node.counters().counter("rejected.task_reward").increment();
                    if let Some(suppressed) = warn.check() {
                        tracing::warn!(total, suppressed, "ignoring a task reward: {e}");
                    }
                }
            }
            Some(js) = joint_states.recv() => {
                out.pace.borrow_mut().on_joint_state(js.header.stamp.to_nanos(), Instant::now());
                if !gripper_joints.is_empty()
                    && let Ok(fingers) = gripper_order.positions(&js)
                {
                    arb.on_gripper_width(fingers.iter().sum());
                }
                match joint_order.positions(&js) {
                    Ok(p) => arb.on_joint_positions(&p),
                    Err(e) => {
                        let total = node.counters().counter("rejected./joint_states").increment();
                        if let Some(suppressed) = warn.check() {
                            tracing::warn!(total, suppressed, "ignoring a joint state: {e}");
                        }
                    }
                }
            }
            Some(b) = estop.recv() => {
                if b.data != arb.estop() {
                    tracing::warn!("e-stop {}", if b.data { "ENGAGED: the arm holds still" } else { "released" });
                }
                arb.set_estop(b.data);
                // Hold at once, without waiting for the next observation.
                if b.data
                    && let Some(hold) = arb.hold_targets()
                    && let Err(e) = out.command(&hold, Header { stamp: node.now(), frame_id: String::new() }, true)
                {
                    tracing::error!("cannot send the hold command: {e}");
                }
            }
            Some((id, req)) = set_phase.next_request() => {
                let response = match Phase::from_msg(req.phase) {
                    Some(p) => {
                        arb.end_pending_phase();
                        let s = arb.machine.set_phase(p, &req.reason);
                        announce(&node, &out, &arb, &s);
                        SetPhaseResponse { success: true, message: format!("phase {:?}", p) }
                    }
                    None => SetPhaseResponse { success: false, message: format!("unknown phase {}", req.phase) },
                };
                let _ = set_phase.respond(id, response).await;
            }
            Some((id, req)) = resume.next_request() => {
                let response = match arb.machine.resume(&req.note, req.scene_reset) {
                    Some(s) => {
                        arb.end_pending_phase();
                        announce(&node, &out, &arb, &s);
                        ResumeResponse { success: true, message: format!("resumed {:?}", s.to) }
                    }
                    None => ResumeResponse { success: false, message: "not paused and not waiting for help".into() },
                };
                let _ = resume.respond(id, response).await;
            }
            _ = silence.tick() => {
                // No observations (encoder dead): keep commanding the hold position so the
                // controller's own watchdog never sees a silent commander; a lock-step sim only
                // when its loop looks broken (phase_arbiter::arm_pace). (Not while pacing: a
                // command would advance the lock-step sim.)
                let now = Instant::now();
                let silent = out.pace.borrow().silence(last_observation, now);
                if paced.is_none()
                    && out.pace.borrow_mut().hold_due(silent, period, now)
                    && let Some(hold) = arb.hold_targets()
                {
                    node.counters().counter("hold.no_observation").increment();
                    if let Some(suppressed) = warn.check() {
                        tracing::warn!(suppressed, "no observation for {silent:?}: the arm holds still");
                    }
                    let _ = out.command(&hold, Header { stamp: node.now(), frame_id: String::new() }, true);
                }
            }
            _ = tokio::signal::ctrl_c() => {
                if let Some(hold) = arb.hold_targets() {
                    let _ = out.command(&hold, Header { stamp: node.now(), frame_id: String::new() }, true);
                }
                tracing::info!("stopping: the arm holds its last target");
                return Ok(());
            }
        }
    }
}
