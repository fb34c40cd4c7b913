//! Deployed-policy evaluation (EARL protocol): the forward policy of a run directory, acting
//! deterministically, on an *evaluation copy* of the simulated arm (its own bridge in its own
//! ROS domain), from the forward initial-state distribution (`/sim/eval_reset`).
//!
//! Nothing here feeds training: it reads checkpoints from the run directory, publishes only to
//! the evaluation arm, and writes `metrics/deployed_eval.csv`. The training sim is never reset,
//! so its `/sim/reset_count` stays 0 (as in EARL, evaluation runs on a separate environment).
//!
//! With `role:=backward` it deploys the backward policy instead, from the backward initial
//! states (`reset_service:=/sim/reset_reverse success_topic:=/sim/reverse_success` on the sim):
//! does the policy that should undo the task undo it from where the demonstrations start?
//! Its rounds go to `metrics/deployed_eval_backward[_sampled].csv`.
//!
//! An episode is solved when `/sim/success` holds for `success_hold` consecutive control steps
//! within `max_steps` steps (the scripted experts' criterion). Commands are made exactly as the
//! arbiter makes them in training: the same code ([`phase_arbiter::command`]) with the same
//! joint limits, step origin and workspace box (the profile's `workspace_min`/`workspace_max`
//! with its kinematic chain), so the evaluated policy acts in the dynamics it was trained in.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mbarl_learn::{LearnConfig, ObsMode, Policy, WorldModel};
use mbarl_msgs::msg::Observation;
use mbarl_msgs::sensor_msgs::{Image, JointState};
use mbarl_msgs::std_msgs::{Bool, Float64MultiArray};
use mbarl_msgs::std_srvs::{Trigger, TriggerRequest};
use mbarl_msgs::task_state::TaskState;
use mbarl_node::store::CheckpointStore;
use mbarl_node::task_states::{Found, TaskStates};
use mbarl_node::{bundle, common};
use mbarl_ros::{NodeBuilder, ParamSpec, Qos, RosArgs, Subscriber};
use phase_arbiter::action_space::ActionSpace;
use phase_arbiter::command_out::{CommandOut, GRIPPER_TOPIC};
use phase_arbiter::gripper::Gripper;
use tch::Device;

use crate::Role;
use crate::acting::ActingPolicy;

/// Counts consecutive successful steps of one episode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpisodeScore {
    pub steps: u32,
    consecutive: u32,
    pub solved_at: Option<u32>,
}

impl EpisodeScore {
    /// One control step with the sim's success flag after it.
    pub fn step(&mut self, success: bool, hold: u32) {
        self.steps += 1;
        self.consecutive = if success { self.consecutive + 1 } else { 0 };
        if self.solved_at.is_none() && self.consecutive >= hold.max(1) {
            self.solved_at = Some(self.steps);
        }
    }
}

/// The result of one evaluation round.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRound {
    pub world_version: u64,
    pub policy_version: u64,
    pub episodes: u32,
    pub solved: u32,
    /// Mean steps to success over solved episodes (NaN when none).
    pub mean_steps_to_success: f64,
}

impl EvalRound {
    pub fn from_scores(world_version: u64, policy_version: u64, scores: &[EpisodeScore]) -> Self {
        let solved: Vec<u32> = scores.iter().filter_map(|s| s.solved_at).collect();
        Self {
            world_version,
            policy_version,
            episodes: scores.len() as u32,
            solved: solved.len() as u32,
            mean_steps_to_success: if solved.is_empty() {
                f64::NAN
            } else {
                solved.iter().map(|&s| s as f64).sum::<f64>() / solved.len() as f64
            },
        }
    }

    pub fn success_rate(&self) -> f64 {
        if self.episodes == 0 {
            0.0
        } else {
            self.solved as f64 / self.episodes as f64
        }
    }
}

/// `env_steps`: the arbiter's total when the round took its checkpoints (the training the
/// evaluated policy had had); `env_steps_at_end`: when the round ended. Rows written before
/// session 19 have no `env_steps_at_end`, and their `env_steps` is the end's.
pub const CSV_HEADER: &str = "unix_time_s,env_steps,world_version,policy_version,episodes,solved,success_rate,mean_steps_to_success,env_steps_at_end";

/// The arbiter's env-step totals ([`phase_arbiter::phase_log::total_steps`], exact to one
/// phase: the log is written at each switch) that a round is reported against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundSteps {
    /// When the round loaded the newest checkpoints: what the evaluated policy was trained on,
    /// at most (checkpoints are written before they are loaded). The curves' x.
    pub at_checkpoint: u64,
    /// When the round's episodes ended. Training goes on while the evaluation sim runs the
    /// episodes, so this is later by the round's duration (thousands of env steps on the
    /// 2-core machine).
    pub at_end: u64,
}

/// How the deployed policy picks its actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actions {
    /// The policy's mean action: what a deployed robot runs.
    Deterministic,
    /// Sampled from the policy, as the executors act in training.
    Sampled,
}

impl Actions {
    /// (CSV under `<run_dir>/metrics/`, text after "deployed success" in the round's log line)
    /// for the rounds of this kind and policy. `learn_curve.py` reads the forward,
    /// deterministic lines, which add no text.
    fn labels(self, role: Role) -> (&'static str, &'static str) {
        match (role, self) {
            (Role::Forward, Actions::Deterministic) => ("deployed_eval.csv", ""),
            (Role::Forward, Actions::Sampled) => {
                ("deployed_eval_sampled.csv", " (sampled actions)")
            }
            (Role::Backward, Actions::Deterministic) => {
                ("deployed_eval_backward.csv", " (backward policy)")
            }
            (Role::Backward, Actions::Sampled) => (
                "deployed_eval_backward_sampled.csv",
                " (backward policy, sampled actions)",
            ),
        }
    }

    /// The CSV under `<run_dir>/metrics/` that the rounds of this kind and policy go to.
    pub fn csv_name(self, role: Role) -> &'static str {
        self.labels(role).0
    }

    /// What a round's log line says after "deployed success".
    pub fn log_suffix(self, role: Role) -> &'static str {
        self.labels(role).1
    }
}

/// Appends a round to `<run_dir>/metrics/` [`Actions::csv_name`] (`deployed_eval.csv` for the
/// forward policy's deterministic rounds), header on creation. `steps` are read once by the
/// caller so that the row and the round's log line agree.
pub fn append_csv(
    run_dir: &Path,
    role: Role,
    actions: Actions,
    r: &EvalRound,
    steps: RoundSteps,
) -> std::io::Result<PathBuf> {
    let dir = run_dir.join("metrics");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(actions.csv_name(role));
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    // header and row in one write: a reader following the file never sees half a row
    let header = if new {
        format!("{CSV_HEADER}\n")
    } else {
        String::new()
    };
    let text = format!(
        "{header}{t:.3},{},{},{},{},{},{:.4},{:.2},{}\n",
        steps.at_checkpoint,
        r.world_version,
        r.policy_version,
        r.episodes,
        r.solved,
        r.success_rate(),
        r.mean_steps_to_success,
        steps.at_end
    );
    f.write_all(text.as_bytes())?;
    Ok(path)
}

/// The policy of `role` to deploy: the newest world model and policy checkpoints of the run
/// directory; freshly initialised (seeded) networks where there is none yet, so a round before
/// training measures the untrained policy.
pub fn load_deployed(
    cfg: &LearnConfig,
    run_dir: &Path,
    device: Device,
    role: Role,
) -> mbarl_node::Result<(ActingPolicy, u64, u64)> {
    tch::manual_seed(cfg.seed as i64);
    let stored_world = CheckpointStore::new(run_dir, bundle::WORLD_MODEL, 5).load_newest();
    let wv = stored_world.as_ref().map_or(0, |ck| ck.meta.version);
    // version 0 means "no encoder yet" to the acting side: an untrained one goes in as 1
    let world_ck = match stored_world {
        Some(ck) => ck,
        None => bundle::save_world_model(&WorldModel::new(cfg, device)?, cfg, 1)?,
    };
    let name = bundle::policy_bundle(role.name());
    let policy_ck = match CheckpointStore::new(run_dir, &name, 5).load_newest() {
        Some(ck) => ck,
        None => bundle::save_policy(&Policy::new(cfg, device)?, cfg, role.name(), 0)?,
    };
    let pv = policy_ck.meta.version;
    let mut acting = ActingPolicy::new(cfg.clone(), role, device)?;
    acting.offer_world(&bundle::to_msg(&world_ck, Default::default()))?;
    acting.load_policy(&policy_ck)?;
    Ok((acting, wv, pv))
}

fn params() -> Vec<ParamSpec> {
    let mut p = common::params();
    p.extend(phase_arbiter::config::command_rule_params());
    p.extend([
        ParamSpec::new(
            "role",
            "forward",
            "forward | backward: the policy to deploy (backward: set reset_service and \
             success_topic to the sim's reverse ones)",
        ),
        ParamSpec::new("episodes", 10i64, "episodes per evaluation round"),
        ParamSpec::new("max_steps", 60i64, "control steps per episode"),
        ParamSpec::new(
            "success_hold",
            3i64,
            "consecutive successful steps that solve an episode",
        ),
        ParamSpec::new(
            "sampled_episodes",
            0i64,
            "> 0: after each round's deterministic episodes, this many with sampled actions, as \
             the executors act in training (metrics/deployed_eval_sampled.csv)",
        ),
        ParamSpec::new(
            "watch_period_s",
            0.0,
            "> 0: keep evaluating new checkpoints, polling this often; 0: one round, then exit",
        ),
        ParamSpec::new(
            "image_topic",
            "/camera/image_raw",
            "camera topic (pixel observations)",
        ),
        ParamSpec::new(
            "state_topic",
            "",
            "optional std_msgs/Float64MultiArray task state, as the camera encoder's state_topic",
        ),
        ParamSpec::new(
            "reset_service",
            "/sim/eval_reset",
            "std_srvs/Trigger resetting the evaluation arm to the deployed policy's initial \
             states (the sim's /sim/reset_reverse for role backward)",
        ),
        ParamSpec::new(
            "success_topic",
            "/sim/success",
            "std_msgs/Bool task success, one per control step (the sim's /sim/reverse_success \
             for role backward)",
        ),
    ]);
    p
}

struct EvalArm {
    joint_states: Subscriber<JointState>,
    images: Option<Subscriber<Image>>,
    states: Option<Subscriber<Float64MultiArray>>,
    success: Subscriber<Bool>,
    /// The arm's command, as the arbiter sends it (the profile's `command_interface`).
    command: CommandOut,
    /// Joint targets (`joint_command` of the next observation, as the camera encoder records
    /// them in training), or end-effector targets (none).
    joint_commands: bool,
    /// The arbiter's action space: the same limits, step origin and workspace rule.
    space: Box<dyn ActionSpace>,
    /// The gripper (decided afresh each episode) and its width publisher.
    gripper: Option<(Gripper, mbarl_ros::Publisher<Float64MultiArray>)>,
    reset: mbarl_ros::ServiceClient<Trigger>,
    order: Vec<String>,
    pre: mbarl_vision::PreprocessConfig,
    last_image: Option<(i64, mbarl_vision::Frame)>,
    task_states: TaskStates,
}

fn stamp_ns(h: &mbarl_msgs::std_msgs::Header) -> i64 {
    h.stamp.to_nanos()
}

/// `sim_time=T` of the Trigger reply, in ns.
fn reply_sim_time_ns(message: &str) -> Option<i64> {
    let t: f64 = message
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sim_time="))?
        .parse()
        .ok()?;
    Some((t * 1e9).round() as i64)
}

const WAIT: Duration = Duration::from_secs(10);

impl EvalArm {
    /// The next joint state stamped after `after_ns`, with its camera frame in pixel mode and
    /// its task state when `state_topic` is set (both of the same stamp: the lock-step sim
    /// publishes them before the joint state; a joint state waits for them).
    async fn next_observation(&mut self, after_ns: i64, pixels: bool) -> Result<Observation> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut pending: Option<JointState> = None;
        loop {
            if let Some(js) = &pending
                && let Some(obs) = self.complete(js, pixels)?
            {
                return Ok(obs);
            }
            tokio::select! {
                biased;
                Some(s) = Subscriber::recv_optional(&self.states) => {
                    let state = TaskState::of(&s);
                    if state.is_finite() {
                        self.task_states.push(state.stamp_ns, state.to_f32());
                    } else {
                        tracing::warn!("task state with non-finite values refused");
                    }
                }
                Some(img) = Subscriber::recv_optional(&self.images) => {
                    match crate::deployed_eval::frame(&img, &self.pre) {
                        Ok(f) => self.last_image = Some((stamp_ns(&img.header), f)),
                        Err(e) => tracing::warn!("camera frame refused: {e}"),
                    }
                }
                Some(js) = self.joint_states.recv() => {
                    if stamp_ns(&js.header) > after_ns {
                        pending = Some(js);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => bail!(
                    "no complete observation (joint state{}{}) from the evaluation arm within {WAIT:?}",
                    if pixels { ", frame" } else { "" },
                    if self.states.is_some() { ", task state" } else { "" },
                ),
            }
        }
    }

    /// The observation of joint state `js` once its frame and task state are in.
    fn complete(&self, js: &JointState, pixels: bool) -> Result<Option<Observation>> {
        let stamp = stamp_ns(&js.header);
        let mut obs = Observation {
            header: js.header.clone(),
            joint_names: self.order.clone(),
            ..Default::default()
        };
        if self.states.is_some() {
            match self.task_states.for_stamp(stamp) {
                Found::Matched(v) => obs.state = v.to_vec(),
                Found::Older(_) | Found::None => return Ok(None),
            }
        }
        if pixels {
            let Some((_, frame)) = self.last_image.as_ref().filter(|(s, _)| *s == stamp) else {
                return Ok(None);
            };
            obs.frame_width = frame.width as u16;
            obs.frame_height = frame.height as u16;
            obs.frame = frame.data.clone();
        }
        for name in &self.order {
            let i = js
                .name
                .iter()
                .position(|n| n == name)
                .with_context(|| format!("joint {name} missing from /joint_states"))?;
            obs.joint_position
                .push(*js.position.get(i).context("short joint state")?);
            obs.joint_velocity
                .push(js.velocity.get(i).copied().unwrap_or(0.0));
        }
        Ok(Some(obs))
    }

    fn drain_success(&mut self) -> Vec<bool> {
        let mut v = Vec::new();
        while let Some(b) = self.success.try_recv() {
            v.push(b.data);
        }
        v
    }

    async fn episode(
        &mut self,
        acting: &ActingPolicy,
        pixels: bool,
        max_steps: u32,
        hold: u32,
        actions: Actions,
    ) -> Result<EpisodeScore> {
        let reply = self
            .reset
            .call(TriggerRequest::default(), WAIT)
            .await
            .context("evaluation reset")?;
        if !reply.success {
            bail!("evaluation reset refused: {}", reply.message);
        }
        let reset_ns = reply_sim_time_ns(&reply.message).unwrap_or(0);
        let mut obs = self.next_observation(reset_ns - 1, pixels).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.drain_success();
        let mut score = EpisodeScore::default();
        let mut last_targets: Option<Vec<f64>> = None;
        let mut gripper = self.gripper.as_ref().map(|(g, _)| g.clone());
        let arm_dim = self.space.action_dim();
        while score.steps < max_steps && score.solved_at.is_none() {
            let action = acting.act(&obs, actions == Actions::Deterministic)?;
            // as the arbiter steps: from the last target unless it leads the arm too far,
            // within the limits and the workspace box
            let (arm, grip) = action.split_at(arm_dim.min(action.len()));
            let base = self
                .space
                .hold(Some(&obs.joint_position), last_targets.as_deref())
                .context("the evaluation arm's position is unknown")?;
            let cmd = self
                .space
                .command(&obs.joint_position, last_targets.as_deref(), &base, arm);
            last_targets = Some(cmd.targets.clone());
            self.command.send(&cmd.targets, obs.header.clone(), false)?;
            if let (Some(g), Some((_, publisher)), Some(a)) =
                (gripper.as_mut(), &self.gripper, grip.first())
                && let Some(width) = g.command(*a)
            {
                publisher.publish(Float64MultiArray {
                    data: vec![width],
                    ..Default::default()
                })?;
            }
            let last = stamp_ns(&obs.header);
            obs = self.next_observation(last, pixels).await?;
            // what the controller tracks, as the camera encoder records it in training (none
            // right after the reset, as at a demonstration's first step)
            if self.joint_commands {
                obs.joint_command = cmd.targets;
            }
            // the sim publishes /sim/success for a step before that step's joint state
            let mut flags = self.drain_success();
            if flags.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                flags = self.drain_success();
            }
            score.step(flags.last().copied().unwrap_or(false), hold);
        }
        Ok(score)
    }
}

/// The shared preprocessing of a raw camera image (as the camera encoder does it).
pub fn frame(
    img: &Image,
    pre: &mbarl_vision::PreprocessConfig,
) -> Result<mbarl_vision::Frame, mbarl_vision::VisionError> {
    mbarl_vision::preprocess(&mbarl_vision::ImageInput::from(img), pre)
}

/// The `deployed_eval` binary.
pub async fn run() -> Result<()> {
    let (_, args) = RosArgs::from_env()?;
    mbarl_ros::logging::init_logging(args.log_level.as_deref());
    let node = NodeBuilder::new("deployed_eval")
        .about("deploys a run's newest forward (or backward) policy on an evaluation copy of the simulated arm in its own ROS domain and writes <run_dir>/metrics/deployed_eval.csv; it never feeds training")
        .ros_args(args)
        .params(params())
        .build()?;
    let common::LearnSetup {
        cfg,
        device,
        run_dir,
        threads,
    } = common::LearnSetup::from_node(&node)?;
    common::set_threads(threads);
    let params = node.startup_params();
    let limits = phase_arbiter::config::limits_from(params)?;
    let rate: f64 = node.param("control_rate_hz")?;
    let period = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let space = phase_arbiter::config::action_space_from(params, &limits, period.as_secs_f64())?;
    let interface = phase_arbiter::config::CommandInterface::parse(
        &node.param::<String>("command_interface")?,
    )?;
    let episodes = node.param::<i64>("episodes")?.max(1) as u32;
    let sampled_episodes = node.param::<i64>("sampled_episodes")?.max(0) as u32;
    let max_steps = node.param::<i64>("max_steps")?.max(1) as u32;
    let hold = node.param::<i64>("success_hold")?.max(1) as u32;
    let watch: f64 = node.param("watch_period_s")?;
    let role_name: String = node.param("role")?;
    let role = Role::parse(&role_name)
        .with_context(|| format!("role `{role_name}`: expected forward or backward"))?;
    let pixels = cfg.obs.mode == ObsMode::Pixels;
    let image_topic: String = node.param("image_topic")?;
    let mut arm = EvalArm {
        joint_states: node.subscriber("/joint_states", Qos::Reliable { depth: 10 })?,
        images: if pixels {
            Some(node.subscriber(&image_topic, Qos::Reliable { depth: 5 })?)
        } else {
            None
        },
        states: match node.param::<String>("state_topic")? {
            t if t.is_empty() => None,
            t => Some(node.subscriber(&t, Qos::Reliable { depth: 5 })?),
        },
        success: node.subscriber(
            &node.param::<String>("success_topic")?,
            Qos::Reliable { depth: 50 },
        )?,
        command: CommandOut::for_profile(&node, params, &limits.names, period)?,
        joint_commands: !interface.is_cartesian(),
        space,
        gripper: match phase_arbiter::config::gripper_from(params)? {
            Some((g, _)) => Some((g, node.publisher(GRIPPER_TOPIC, Qos::DEFAULT)?)),
            None => None,
        },
        reset: node.service_client(&node.param::<String>("reset_service")?)?,
        order: node.param("joint_names")?,
        pre: mbarl_vision::PreprocessConfig::default(),
        last_image: None,
        // the exact stamp, as for frames (lock-step)
        task_states: TaskStates::new(0, 0),
    };
    if !arm.reset.wait_for_service(Duration::from_secs(30)).await {
        bail!("no evaluation reset service: start an evaluation sim bridge in this ROS domain");
    }
    let mut last_versions = None;
    loop {
        let (acting, wv, pv) = load_deployed(&cfg, &run_dir, device, role)?;
        if last_versions != Some((wv, pv)) {
            last_versions = Some((wv, pv));
            let at_checkpoint = phase_arbiter::phase_log::total_steps(&run_dir);
            let rounds = [
                (Actions::Deterministic, episodes),
                (Actions::Sampled, sampled_episodes),
            ];
            for (actions, n) in rounds.into_iter().filter(|(_, n)| *n > 0) {
                let mut scores = Vec::new();
                for _ in 0..n {
                    scores.push(
                        arm.episode(&acting, pixels, max_steps, hold, actions)
                            .await?,
                    );
                }
                let round = EvalRound::from_scores(wv, pv, &scores);
                let steps = RoundSteps {
                    at_checkpoint,
                    at_end: phase_arbiter::phase_log::total_steps(&run_dir),
                };
                let path = append_csv(&run_dir, role, actions, &round, steps)?;
                let kind = actions.log_suffix(role);
                println!(
                    "deployed success{kind} {}/{} ({:.0}%) after {} env steps (round ended at {}), world v{wv} policy v{pv}, mean steps to success {:.1} -> {}",
                    round.solved,
                    round.episodes,
                    round.success_rate() * 100.0,
                    steps.at_checkpoint,
                    steps.at_end,
                    round.mean_steps_to_success,
                    path.display()
                );
            }
        }
        if watch <= 0.0 {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(watch)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deployed evaluation declares every parameter the arbiter's command rule reads (joint
    /// limits, control rate, command interface, kinematic chain, workspace box, end-effector and
    /// gripper limits), so the same profile gives both the same rule; and it commands through the
    /// same action space.
    #[test]
    fn evaluation_commands_with_the_arbiters_limits_and_workspace() {
        use phase_arbiter::action_space::JointSpace;
        use phase_arbiter::command::Refusal;
        use phase_arbiter::kinematics::{KinematicChain, Workspace, WorkspaceBox};
        use phase_arbiter::limits::JointLimits;
        let mine: Vec<String> = params().into_iter().map(|p| p.name).collect();
        for p in phase_arbiter::config::command_rule_params() {
            assert!(mine.contains(&p.name), "deployed_eval lacks `{}`", p.name);
        }
        for name in [
            "command_interface",
            "cartesian.step_xyz",
            "gripper.threshold",
        ] {
            assert!(
                mine.iter().any(|m| m == name),
                "deployed_eval lacks `{name}`"
            );
        }
        // a step the box refuses is refused the same way here as in the arbiter
        let limits = JointLimits::new(
            vec!["a".into(), "b".into()],
            vec![-3.0; 2],
            vec![3.0; 2],
            vec![10.0; 2],
            vec![0.5; 2],
        )
        .unwrap();
        let chain = KinematicChain::new(
            2,
            &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            &[0.0; 6],
            &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            &[1.0, 0.0, 0.0],
        )
        .unwrap();
        let ws = Workspace {
            chain,
            bounds: WorkspaceBox::new(&[0.5, -0.5, -1.0], &[2.0, 0.5, 1.0]).unwrap(),
        };
        let at = [0.0, 0.0];
        let boxed = JointSpace::new(limits.clone(), Some(ws), 0.05);
        let c = boxed.command(&at, None, &at, &[1.0, 1.0]);
        assert_eq!(c.refusal, Some(Refusal::Workspace));
        let free = JointSpace::new(limits, None, 0.05).command(&at, None, &at, &[1.0, 1.0]);
        assert_eq!((free.targets, free.refusal), (vec![0.5, 0.5], None));
    }

    #[test]
    fn success_must_hold() {
        let mut s = EpisodeScore::default();
        for f in [true, true, false, true, true, true, false] {
            s.step(f, 3);
        }
        assert_eq!(s.solved_at, Some(6));
        let r = EvalRound::from_scores(3, 4, &[s, EpisodeScore::default()]);
        assert_eq!((r.solved, r.episodes), (1, 2));
        assert_eq!(r.success_rate(), 0.5);
        assert_eq!(r.mean_steps_to_success, 6.0);
    }

    #[test]
    fn reset_reply_time() {
        assert_eq!(
            reply_sim_time_ns("reset_count=3 direction=forward sim_time=12.35"),
            Some(12_350_000_000)
        );
        assert_eq!(reply_sim_time_ns("nothing"), None);
    }

    #[test]
    fn untrained_policy_without_checkpoints_and_csv() {
        let cfg = mbarl_node::synth::small_state_config();
        let dir = tempfile::tempdir().unwrap();
        let (acting, wv, pv) = load_deployed(&cfg, dir.path(), Device::Cpu, Role::Forward).unwrap();
        assert_eq!((wv, pv), (0, 0));
        let obs = mbarl_node::synth::observation(0, [0.0, 0.1, 0.2, 0.3]);
        let a = acting.act(&obs, true).unwrap();
        assert_eq!(a.len(), 4);
        let r = EvalRound::from_scores(0, 0, &[EpisodeScore::default()]);
        let append = |role, actions| {
            append_csv(dir.path(), role, actions, &r, RoundSteps::default()).unwrap()
        };
        let p = append(Role::Forward, Actions::Deterministic);
        append(Role::Forward, Actions::Deterministic);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.starts_with(CSV_HEADER));
        // env_steps is when the checkpoints were taken, env_steps_at_end when the round ended
        let steps = RoundSteps {
            at_checkpoint: 1200,
            at_end: 4800,
        };
        append_csv(dir.path(), Role::Forward, Actions::Deterministic, &r, steps).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let header: Vec<&str> = CSV_HEADER.split(',').collect();
        let row: Vec<&str> = text.lines().last().unwrap().split(',').collect();
        assert_eq!(row.len(), header.len());
        let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(
            (col("env_steps"), col("env_steps_at_end")),
            ("1200", "4800")
        );
        // sampled rounds go to a CSV of their own
        let q = append(Role::Forward, Actions::Sampled);
        assert_eq!(q, dir.path().join("metrics/deployed_eval_sampled.csv"));
        assert_eq!(std::fs::read_to_string(q).unwrap().lines().count(), 2);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("metrics/deployed_eval.csv"))
                .unwrap()
                .lines()
                .count(),
            4
        );
        // the backward policy's rounds go to CSVs of their own
        let b = append(Role::Backward, Actions::Deterministic);
        assert_eq!(b, dir.path().join("metrics/deployed_eval_backward.csv"));
        let bs = append(Role::Backward, Actions::Sampled);
        assert_eq!(
            bs,
            dir.path()
                .join("metrics/deployed_eval_backward_sampled.csv")
        );
        assert_eq!(std::fs::read_to_string(p).unwrap().lines().count(), 4);
    }

    #[test]
    fn the_backward_role_deploys_the_backward_policy_checkpoint() {
        let cfg = mbarl_node::synth::small_state_config();
        let dir = tempfile::tempdir().unwrap();
        let stored = Policy::new(&cfg, Device::Cpu).unwrap();
        let ck = bundle::save_policy(&stored, &cfg, Role::Backward.name(), 7).unwrap();
        CheckpointStore::new(dir.path(), &bundle::policy_bundle("backward"), 5)
            .save(&ck)
            .unwrap();
        let (_, _, pv) = load_deployed(&cfg, dir.path(), Device::Cpu, Role::Backward).unwrap();
        assert_eq!(pv, 7, "the stored backward policy");
        let (_, _, pv) = load_deployed(&cfg, dir.path(), Device::Cpu, Role::Forward).unwrap();
        assert_eq!(pv, 0, "no forward checkpoint: an untrained forward policy");
    }

    #[test]
    fn sampled_actions_differ_from_the_deterministic_ones() {
        let cfg = mbarl_node::synth::small_state_config();
        let dir = tempfile::tempdir().unwrap();
        let (mut acting, _, _) =
            load_deployed(&cfg, dir.path(), Device::Cpu, Role::Forward).unwrap();
        // an untrained policy holds still (world version 0); pretend a world model exists
        acting.world_version = 1;
        let obs = mbarl_node::synth::observation(0, [0.0, 0.1, 0.2, 0.3]);
        let mean = acting.act(&obs, true).unwrap();
        assert_eq!(mean, acting.act(&obs, true).unwrap());
        assert_ne!(mean, acting.act(&obs, false).unwrap());
    }
}
