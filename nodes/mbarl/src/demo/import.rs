//! `mbarl demo import`: bags → a demonstration dataset of `mbarl_msgs/Transition`s.
//!
//! In one streaming pass per bag (memory independent of bag size):
//! 1. Camera frames (`sensor_msgs/Image` or `CompressedImage`) are preprocessed exactly as the
//!    camera encoder does (`mbarl_vision::preprocess`) and matched to the joint state whose
//!    header stamp is nearest, within `tolerance`; frames with none are dropped (counted).
//!    The optional low-dim state topic is matched the same way (by its `sim_time` element when
//!    its layout says so, else by receive time).
//!    The optional task-reward topic (`std_msgs/Float64`, the same topic the phase arbiter
//!    stamps into transitions, `task_reward_topic`) has no stamp: a step takes the reward
//!    received nearest to its frame, within `tolerance`; it is the reward of that step's state,
//!    so transition t carries the reward of step t+1 (of s′, as the arbiter does). A step
//!    without one leaves its transition's `has_task_reward` false (counted).
//! 2. Each matched frame is a step. Consecutive steps of one episode make a transition
//!    (observation = step t, next_observation = step t+1).
//!    The dataset is compact (`mbarl-demo-dataset/2`): each frame is stored once, so within an
//!    episode `next_observation.frame` is left empty (it is the next transition's
//!    `observation.frame`); readers restore it with `mbarl_bag::demo::Transitions`.
//! 3. The target of step t comes from the commanded topic (`Float64MultiArray` position
//!    targets, or `JointTrajectory`'s first point). A commander that sends one command per frame
//!    (a lock-step sim expert, a policy; command and frame counts within 25%) is paired in
//!    order: step t takes the first unused command received after frame t−1 and before frame
//!    t+1, which survives the recorder receiving a command before the frame it answers. Other
//!    commanders (teleoperation at its own rate) give step t the last command received between
//!    frames t and t+1. Without a command, the target is the next step's joint positions. As the phase arbiter does (`target = last_target + action ·
//!    max_step`), the action is the normalised step from the previous target:
//!    `action_j = clamp((target_j − last_j) / max_step_j, −1, 1)` where `last` is the previous
//!    step's target in the episode, or the measured position q(t) at the episode's first step.
//!    `commanded_position` holds the targets, `clamped` says whether any value was clipped.
//! 4. A new episode starts with each bag, after a gap in the joint states longer than
//!    `episode_gap`, and at every message on the episode-marker topics (`/mbarl/episode`,
//!    `/sim/reset_count`). The last transition of an episode has `phase_end = true`; `cycle` is
//!    the episode index, `phase` FORWARD or BACKWARD by role.
//!
//! Throughput (`mbarl bench bag-import`): the bag's chunks are mapped, not read; images and
//! joint states are decoded in place (`mbarl_msgs::view`); a frame that preprocessing leaves
//! unchanged (rgb8 at the output size) stays where it is in the bag and is copied once,
//! straight into the dataset's chunk, when its transition is serialized (`frames::WithFrames`,
//! written field by field); other frames are preprocessed into reused buffers. Transitions
//! are refilled in place, not allocated. With a core to spare ([`spare_core`]) the dataset
//! file is written by the writer's own thread.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mbarl_bag::{Bag, BagError, BagWriter, QosProfile, RawMessage, ReadOptions, WriterOptions};
use mbarl_msgs::RosMessage;
use mbarl_msgs::builtin_interfaces::Time;
use mbarl_msgs::geometry_msgs::PoseStamped;
use mbarl_msgs::msg::{Observation, Phase, Transition};
use mbarl_msgs::sensor_msgs::{CompressedImage, Image, JointState};
use mbarl_msgs::std_msgs::{Float64, Float64MultiArray};
use mbarl_msgs::task_state::TaskState;
use mbarl_msgs::trajectory_msgs::JointTrajectory;
use mbarl_msgs::view::{CompressedImageView, ImageView, JointStateView};
use mbarl_vision::{Frame, ImageInput, PreprocessConfig};
use serde::Serialize;

use super::config::RobotTopics;
use super::frames::{self, StepFrame};

pub use mbarl_bag::demo::TRANSITIONS_TOPIC;

/// The dataset format `mbarl demo import` writes (see [`mbarl_bag::demo`]).
pub const DATASET_FORMAT: &str = "mbarl-demo-dataset/2";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Forward,
    Backward,
}

impl Role {
    pub fn phase(self) -> u8 {
        match self {
            Role::Forward => Phase::FORWARD,
            Role::Backward => Phase::BACKWARD,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Forward => "forward",
            Role::Backward => "backward",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub role: Role,
    pub topics: RobotTopics,
    /// Largest |frame stamp − joint state stamp| accepted, in ns.
    pub tolerance_ns: i64,
    /// A gap between joint states longer than this (ns) starts a new episode.
    pub episode_gap_ns: i64,
    /// Joint position change per step that maps to action 1 (one value for all joints, or one
    /// per joint).
    pub max_step: Vec<f64>,
    pub preprocess: PreprocessConfig,
    /// Joint order (default: the first joint state's).
    pub joints: Option<Vec<String>>,
    pub skip_corrupt: bool,
    pub progress: bool,
    pub time_source: TimeSource,
    /// End-effector commands (pose targets) and the gripper: from the robot profile.
    pub end_effector: Option<super::config::EndEffector>,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            role: Role::Forward,
            topics: RobotTopics::default(),
            tolerance_ns: 20_000_000,
            episode_gap_ns: 1_000_000_000,
            max_step: vec![super::config::DEFAULT_MAX_STEP],
            preprocess: PreprocessConfig::default(),
            joints: None,
            skip_corrupt: false,
            progress: false,
            time_source: TimeSource::Header,
            end_effector: None,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub transitions: u64,
    pub episodes: u64,
    pub episode_lengths: Vec<u64>,
    pub frames: u64,
    pub unmatched_frames: u64,
    /// Frames with a stamp not after the previous frame's (re-sent frames), dropped.
    pub duplicate_frames: u64,
    pub joint_states: u64,
    pub commands: u64,
    pub actions_from_commands: u64,
    pub actions_from_joint_states: u64,
    /// Commands were paired with frames in order (one command per frame).
    pub paired_commands: bool,
    pub clamped_actions: u64,
    /// Task-reward messages read (`topics.reward`).
    pub rewards: u64,
    /// Task rewards refused (not finite).
    pub invalid_rewards: u64,
    /// Transitions without a task reward although a reward topic was read.
    pub transitions_without_reward: u64,
    pub messages_read: u64,
    pub message_bytes: u64,
    pub seconds: f64,
    pub skipped: Vec<String>,
    /// Command topics in the bags that the import did not use (`NAME (TYPE)`): the profile's
    /// `topics.commands` named another (or none), so actions may have come from joint states.
    pub unused_command_topics: Vec<String>,
}

/// Does this topic carry arm commands? A `JointTrajectory` on any topic, a `Float64MultiArray`
/// on a `…/commands` topic (ros2_control's forward command controllers).
fn is_command_topic(t: &mbarl_bag::TopicInfo) -> bool {
    let ty = mbarl_bag::normalize_type_name(&t.type_name);
    ty == JointTrajectory::type_name()
        || ty == PoseStamped::type_name()
        || (ty == Float64MultiArray::type_name() && t.name.ends_with("/commands"))
}

/// One matched camera frame with the robot state at its time.
#[derive(Debug)]
struct Step {
    stamp: i64,
    log_time: u64,
    segment: u64,
    seq: u64,
    frame_id: String,
    frame: StepFrame,
    position: Vec<f64>,
    velocity: Vec<f64>,
    state: Vec<f32>,
    /// The task reward of this step's state.
    reward: Option<f32>,
}

#[derive(Debug)]
struct PendingFrame {
    stamp: i64,
    log_time: u64,
    segment: u64,
    frame_id: String,
    frame: StepFrame,
}

/// Time-keyed samples of one stream, for nearest-neighbour lookups.
struct Track<T> {
    buf: VecDeque<(i64, T)>,
    latest: Option<i64>,
}

impl<T> Track<T> {
    fn new() -> Self {
        Self {
            buf: VecDeque::new(),
            latest: None,
        }
    }

    fn push(&mut self, t: i64, v: T) {
        self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
        self.buf.push_back((t, v));
    }

    /// Whether samples later than `t + tol` have arrived (nothing closer to `t` will come).
    fn passed(&self, t: i64, tol: i64) -> bool {
        self.latest.is_some_and(|l| l > t.saturating_add(tol))
    }

    fn nearest(&self, t: i64, tol: i64) -> Option<&T> {
        self.buf
            .iter()
            .filter(|(s, _)| (s - t).abs() <= tol)
            .min_by_key(|(s, _)| (s - t).abs())
            .map(|(_, v)| v)
    }

    /// Drops samples older than `t` except the newest of them.
    fn purge_before(&mut self, t: i64) {
        while self.buf.len() > 1 && self.buf.get(1).is_some_and(|(s, _)| *s < t) {
            self.buf.pop_front();
        }
    }
}

/// Spare frame buffers kept at most.
const FRAME_POOL: usize = 32;

struct Importer<'a> {
    cfg: &'a ImportConfig,
    /// The dataset: transitions are serialized into its chunks here, and written to the file
    /// by the writer's own thread.
    writer: BagWriter,
    topic: mbarl_bag::TopicId,
    joints: Option<Vec<String>>,
    max_step: Vec<f64>,
    report: ImportReport,
    segment: u64,
    frame_seq: u64,
    step_counter: u64,
    js: Track<(Vec<f64>, Vec<f64>)>,
    state: Track<Vec<f32>>,
    state_by_stamp: bool,
    has_state: bool,
    /// Task rewards by receive time.
    rewards: Track<f32>,
    has_reward: bool,
    pending: VecDeque<PendingFrame>,
    /// Frame buffers to reuse (of written transitions).
    frame_pool: Vec<Vec<u8>>,
    commands: VecDeque<(u64, Vec<f64>)>,
    has_commands: bool,
    /// Gripper width commands by receive time (with an end-effector profile's gripper).
    gripper_commands: VecDeque<(u64, f64)>,
    has_gripper: bool,
    /// The gripper's last commanded width in this episode.
    gripper_width: Option<f64>,
    /// One command per frame: pair commands and steps in order.
    paired_commands: bool,
    /// Receive time of the frame before `prev` in this episode.
    before_prev_log: Option<u64>,
    last_js_stamp: Option<i64>,
    last_frame_stamp: Option<i64>,
    prev: Option<Step>,
    /// The previous step's target in this episode (the arbiter's `last_target`).
    last_target: Option<Vec<f64>>,
    /// The last transition (its frames left out) and its observation frame, written once the
    /// next one (or the episode's end) is known.
    pending_tr: Option<(Transition, StepFrame)>,
    /// A written transition, refilled for the next one (its buffers reused).
    spare_tr: Option<Transition>,
    episode_transitions: u64,
}

fn stamp_ns(t: &Time) -> i64 {
    t.sec as i64 * 1_000_000_000 + t.nanosec as i64
}

fn time_of(ns: i64) -> Time {
    Time {
        sec: ns.div_euclid(1_000_000_000) as i32,
        nanosec: ns.rem_euclid(1_000_000_000) as u32,
    }
}

/// Which clock aligns the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeSource {
    /// Header stamps (acquisition time; sim time in simulation). Zero is a valid stamp (a sim
    /// starts at 0), so drivers that leave stamps unset need `receive`.
    #[default]
    Header,
    /// The bag's receive times (log_time), for drivers that do not stamp their messages.
    Receive,
}

impl<'a> Importer<'a> {
    fn time(&self, t: &Time, log_time: u64) -> i64 {
        match self.cfg.time_source {
            TimeSource::Header => stamp_ns(t),
            TimeSource::Receive => log_time as i64,
        }
    }

    fn skip_or_fail(&mut self, e: BagError) -> Result<()> {
        if self.cfg.skip_corrupt {
            tracing::warn!("skipping: {e}");
            self.report.skipped.push(e.to_string());
            Ok(())
        } else {
            Err(e.into())
        }
    }

    fn new_segment(&mut self) {
        self.segment += 1;
    }

    fn on_joint_state(&mut self, m: &RawMessage) -> Result<()> {
        // Read in place: names and values are not copied out of the bag.
        let js: JointStateView = match m.decode_view() {
            Ok(js) => js,
            Err(e) => return self.skip_or_fail(e),
        };
        self.report.joint_states += 1;
        let names: &[String] = self
            .joints
            .get_or_insert_with(|| js.name.iter().map(str::to_string).collect());
        if self.max_step.len() == 1 && names.len() > 1 {
            self.max_step = vec![self.max_step[0]; names.len()];
        }
        let mut pos = Vec::with_capacity(names.len());
        let mut vel = Vec::with_capacity(names.len());
        let js_names: Vec<&[u8]> = js.name.iter_bytes().collect();
        for n in names {
            let Some(i) = js_names.iter().position(|x| *x == n.as_bytes()) else {
                tracing::debug!("joint state without {n}; ignored");
                return Ok(());
            };
            let Some(p) = js.position.get(i) else {
                return Ok(());
            };
            pos.push(p);
            if let Some(v) = js.velocity.get(i) {
                vel.push(v);
            }
        }
        if vel.len() != pos.len() {
            vel.clear();
        }
        let t = self.time(&js.stamp, m.log_time);
        if let Some(last) = self.last_js_stamp
            && t - last > self.cfg.episode_gap_ns
        {
            self.new_segment();
        }
        self.last_js_stamp = Some(t);
        self.js.push(t, (pos, vel));
        Ok(())
    }

    /// The preprocessed frame of an image whose data is `data` (borrowed from `m`): left in
    /// the bag's buffer when preprocessing does not change the pixels, else preprocessed into
    /// a reused buffer.
    fn frame_of(
        &mut self,
        m: &RawMessage,
        input: &ImageInput,
        data: &[u8],
    ) -> Result<StepFrame, mbarl_vision::VisionError> {
        let cfg = &self.cfg.preprocess;
        if let Some(r) = mbarl_vision::unchanged_pixels(input, cfg)?
            && let Some(at) = frames::offset_in(&m.data, data)
        {
            return Ok(StepFrame::in_bag(
                cfg.size,
                cfg.size,
                &m.data,
                at + r.start..at + r.end,
            ));
        }
        let mut frame = Frame {
            data: self.frame_pool.pop().unwrap_or_default(),
            ..Default::default()
        };
        mbarl_vision::preprocess_into(input, cfg, &mut frame)?;
        Ok(StepFrame::owned(frame))
    }

    fn on_camera(&mut self, m: &RawMessage, compressed: bool) -> Result<()> {
        // The pixels are read where they lie in the bag's buffer.
        let decoded = if compressed {
            m.decode_view::<CompressedImageView>().map(|c| {
                let r = self.frame_of(m, &ImageInput::from(&c), c.data);
                (c.header, r)
            })
        } else {
            m.decode_view::<ImageView>().map(|i| {
                let r = self.frame_of(m, &ImageInput::from(&i), i.data);
                (i.header, r)
            })
        };
        let (header, frame) = match decoded {
            Ok(x) => x,
            Err(e) => return self.skip_or_fail(e),
        };
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                let msg = format!(
                    "frame on {} in {} at {}: {e}",
                    m.topic.name,
                    m.file.display(),
                    m.location
                );
                if self.cfg.skip_corrupt {
                    self.report.skipped.push(msg);
                    return Ok(());
                }
                bail!(msg);
            }
        };
        let stamp = self.time(&header.stamp, m.log_time);
        // A lock-step sim re-sends its latest frame while idle, with the same stamp.
        if self.last_frame_stamp.is_some_and(|last| stamp <= last) {
            self.report.duplicate_frames += 1;
            self.pool_frame(frame);
            return Ok(());
        }
        self.last_frame_stamp = Some(stamp);
        self.report.frames += 1;
        self.pending.push_back(PendingFrame {
            stamp,
            log_time: m.log_time,
            segment: self.segment,
            frame_id: header.frame_id,
            frame,
        });
        Ok(())
    }

    fn on_command(&mut self, m: &RawMessage) -> Result<()> {
        let targets = if m.topic.type_name.ends_with("PoseStamped") {
            let p: PoseStamped = match m.decode() {
                Ok(x) => x,
                Err(e) => return self.skip_or_fail(e),
            };
            let (t, q) = (p.pose.position, p.pose.orientation);
            vec![t.x, t.y, t.z, q.x, q.y, q.z, q.w]
        } else if m.topic.type_name.ends_with("JointTrajectory") {
            let jt: JointTrajectory = match m.decode() {
                Ok(x) => x,
                Err(e) => return self.skip_or_fail(e),
            };
            let Some(point) = jt.points.first() else {
                return Ok(());
            };
            match &self.joints {
                Some(names) if !jt.joint_names.is_empty() => {
                    let mut v = Vec::with_capacity(names.len());
                    for n in names {
                        match jt
                            .joint_names
                            .iter()
                            .position(|x| x == n)
                            .and_then(|i| point.positions.get(i))
                        {
                            Some(p) => v.push(*p),
                            None => return Ok(()),
                        }
                    }
                    v
                }
                _ => point.positions.clone(),
            }
        } else {
            match m.decode::<Float64MultiArray>() {
                Ok(x) => x.data,
                Err(e) => return self.skip_or_fail(e),
            }
        };
        self.report.commands += 1;
        self.commands.push_back((m.log_time, targets));
        Ok(())
    }

    fn on_gripper(&mut self, m: &RawMessage) -> Result<()> {
        match m.decode::<Float64MultiArray>() {
            Ok(x) if x.data.len() == 1 && x.data[0].is_finite() => {
                self.gripper_commands.push_back((m.log_time, x.data[0]));
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => self.skip_or_fail(e),
        }
    }

    /// The gripper's action value for the step ending at `until` (receive time): open (+1) or
    /// closed (−1) by the last width commanded, 0 before any.
    fn gripper_action(&mut self, until: u64) -> f32 {
        while self
            .gripper_commands
            .front()
            .is_some_and(|(t, _)| *t < until)
        {
            self.gripper_width = self.gripper_commands.pop_front().map(|(_, w)| w);
        }
        let limits = self
            .cfg
            .end_effector
            .as_ref()
            .and_then(|e| e.gripper.as_ref());
        match (limits, self.gripper_width) {
            (Some(l), Some(w)) if w >= (l.open_width + l.closed_width) / 2.0 => 1.0,
            (Some(_), Some(_)) => -1.0,
            _ => 0.0,
        }
    }

    fn on_state(&mut self, m: &RawMessage) -> Result<()> {
        let s: Float64MultiArray = match m.decode() {
            Ok(x) => x,
            Err(e) => return self.skip_or_fail(e),
        };
        let state = TaskState::of(&s);
        if let (Some(t), TimeSource::Header) = (state.stamp_ns, self.cfg.time_source) {
            self.state_by_stamp = true;
            self.state.push(t, state.to_f32());
        } else {
            // by receive time; a stamp in front is never part of the state
            self.state_by_stamp = false;
            self.state.push(m.log_time as i64, state.to_f32());
        }
        Ok(())
    }

    fn on_reward(&mut self, m: &RawMessage) -> Result<()> {
        let r: Float64 = match m.decode() {
            Ok(x) => x,
            Err(e) => return self.skip_or_fail(e),
        };
        self.report.rewards += 1;
        if r.data.is_finite() {
            self.rewards.push(m.log_time as i64, r.data as f32);
        } else {
            self.report.invalid_rewards += 1;
        }
        Ok(())
    }

    /// Turns pending frames into steps once their joint state (and state, reward) is known.
    fn resolve(&mut self, all: bool) -> Result<()> {
        let tol = self.cfg.tolerance_ns;
        while let Some(f) = self.pending.front() {
            // receive time: pairs the reward, and the state unless it carries its stamp
            let received = f.log_time as i64;
            let state_key = if self.state_by_stamp {
                f.stamp
            } else {
                received
            };
            let ready = all
                || self.pending.len() > 10_000
                || (self.js.passed(f.stamp, tol)
                    && (!self.has_state || self.state.passed(state_key, tol))
                    && (!self.has_reward || self.rewards.passed(received, tol)));
            if !ready {
                break;
            }
            let Some(f) = self.pending.pop_front() else {
                break;
            };
            let Some((pos, vel)) = self.js.nearest(f.stamp, tol).cloned() else {
                self.report.unmatched_frames += 1;
                self.pool_frame(f.frame);
                continue;
            };
            let state = self
                .state
                .nearest(state_key, tol)
                .cloned()
                .unwrap_or_default();
            let reward = self.rewards.nearest(received, tol).copied();
            self.js.purge_before(f.stamp - tol);
            self.state.purge_before(state_key - tol);
            self.rewards.purge_before(received - tol);
            self.frame_seq += 1;
            let step = Step {
                stamp: f.stamp,
                log_time: f.log_time,
                segment: f.segment,
                seq: self.frame_seq,
                frame_id: f.frame_id,
                frame: f.frame,
                position: pos,
                velocity: vel,
                state,
                reward,
            };
            self.push_step(step)?;
        }
        Ok(())
    }

    fn push_step(&mut self, step: Step) -> Result<()> {
        if self
            .prev
            .as_ref()
            .is_some_and(|p| p.segment != step.segment)
        {
            self.end_episode()?;
        }
        if let Some(prev) = self.prev.take() {
            let mut tr = self.spare_tr.take().unwrap_or_default();
            self.fill_transition(&mut tr, &prev, &step);
            // The observation frame is the previous step's; the next one is left to the next
            // transition (compact dataset).
            if let Some((done, frame)) = self.pending_tr.replace((tr, prev.frame)) {
                self.write(done, frame, None)?;
            }
        }
        self.prev = Some(step);
        Ok(())
    }

    fn end_episode(&mut self) -> Result<()> {
        let prev = self.prev.take();
        if let Some((mut last, frame)) = self.pending_tr.take() {
            last.phase_end = true;
            // The episode's last transition carries its next frame (no transition follows to
            // share it): `prev` is that step, and it is not used again.
            self.write(last, frame, prev.as_ref().map(|p| &p.frame))?;
        }
        if let Some(p) = prev {
            self.pool_frame(p.frame);
        }
        if self.episode_transitions > 0 {
            self.report.episode_lengths.push(self.episode_transitions);
            self.report.episodes += 1;
        }
        self.episode_transitions = 0;
        self.prev = None;
        self.last_target = None;
        self.before_prev_log = None;
        Ok(())
    }

    /// Writes a transition with its observation frame (and next-observation frame at an
    /// episode's end): the frames are copied once, into the dataset's chunk.
    fn write(&mut self, tr: Transition, frame: StepFrame, next: Option<&StepFrame>) -> Result<()> {
        let t = stamp_ns(&tr.header.stamp).max(0) as u64;
        let full = frames::WithFrames {
            transition: &tr,
            observation: frame.bytes(),
            next_observation: next.map_or(&[][..], StepFrame::bytes),
        };
        self.writer
            .write_encoded(self.topic, t, t, |buf| full.encode_into(buf))?;
        self.pool_frame(frame);
        self.spare_tr = Some(tr);
        self.report.transitions += 1;
        self.episode_transitions += 1;
        Ok(())
    }

    /// Keeps an owned frame's buffer for the next camera frame (up to a few: memory stays
    /// bounded).
    fn pool_frame(&mut self, frame: StepFrame) {
        if let Some(buf) = frame.into_buffer()
            && buf.capacity() > 0
            && self.frame_pool.len() < FRAME_POOL
        {
            self.frame_pool.push(buf);
        }
    }

    /// Fills `o` (a reused observation: every field is set, its buffers reused) from step
    /// `s`, without its frame (written from the step: [`frames::WithFrames`]).
    fn fill_observation(&self, o: &mut Observation, s: &Step, command: Option<&[f64]>) {
        // Exhaustive: a field added to Observation must be set here.
        let Observation {
            header,
            seq,
            latent,
            encoder_version,
            joint_names,
            joint_position,
            joint_velocity,
            joint_command,
            state,
            frame_width,
            frame_height,
            frame: o_frame,
        } = o;
        header.stamp = time_of(s.stamp);
        header.frame_id.clone_from(&s.frame_id);
        *seq = s.seq;
        latent.clear();
        *encoder_version = 0;
        match &self.joints {
            Some(j) => joint_names.clone_from(j),
            None => joint_names.clear(),
        }
        joint_position.clone_from(&s.position);
        joint_velocity.clone_from(&s.velocity);
        joint_command.clear();
        joint_command.extend_from_slice(command.unwrap_or_default());
        state.clone_from(&s.state);
        *frame_width = s.frame.width as u16;
        *frame_height = s.frame.height as u16;
        o_frame.clear();
    }

    /// Fills `tr` (a reused transition: every field is set) with the transition prev → next,
    /// frames left out: they are written from the steps (`write`).
    fn fill_transition(&mut self, tr: &mut Transition, prev: &Step, next: &Step) {
        let command = if self.paired_commands {
            // The first unused command received after the frame before `prev`.
            let after = self.before_prev_log.unwrap_or(prev.log_time);
            while self.commands.front().is_some_and(|(t, _)| *t < after) {
                self.commands.pop_front();
            }
            match self.commands.front() {
                Some((t, _)) if *t < next.log_time => self.commands.pop_front().map(|(_, c)| c),
                _ => None,
            }
        } else {
            // The last command received between the two frames.
            while self
                .commands
                .front()
                .is_some_and(|(t, _)| *t < prev.log_time)
            {
                self.commands.pop_front();
            }
            self.commands
                .iter()
                .take_while(|(t, _)| *t < next.log_time)
                .last()
                .map(|(_, c)| c.clone())
        }
        .filter(|c| {
            let len = match &self.cfg.end_effector {
                Some(_) => phase_arbiter::cartesian::POSE_LEN,
                None => prev.position.len(),
            };
            c.len() == len
        });
        self.before_prev_log = Some(prev.log_time);
        let target = match command {
            Some(c) => {
                self.report.actions_from_commands += 1;
                c
            }
            None => {
                self.report.actions_from_joint_states += 1;
                match &self.cfg.end_effector {
                    // where the hand went: the pose of the next joint positions
                    Some(e) => e.space.hold(Some(&next.position), None).unwrap_or_default(),
                    None => next.position.clone(),
                }
            }
        };
        // Exhaustive: a field added to Transition must be set here.
        let Transition {
            header,
            step,
            phase,
            cycle,
            observation,
            action,
            commanded_position,
            clamped,
            task_reward,
            has_task_reward,
            next_observation,
            phase_end,
        } = tr;
        *clamped = false;
        let tracked = self.last_target.take().filter(|l| l.len() == target.len());
        action.clear();
        if let Some(e) = self.cfg.end_effector.clone() {
            // The arbiter's end-effector step from where it would start (the last target, or
            // the measured pose) to this target; joint_command stays empty, as the camera
            // encoder records no joint commands from an end-effector commander.
            self.fill_observation(observation, prev, None);
            self.fill_observation(next_observation, next, None);
            let hold = e
                .space
                .hold(Some(&prev.position), tracked.as_deref())
                .unwrap_or_default();
            let a = e
                .space
                .action_towards(&prev.position, tracked.as_deref(), &hold, &target);
            // a target farther than one step (or outside the limits): the action is clamped
            let stepped = e
                .space
                .command(&prev.position, tracked.as_deref(), &hold, &a);
            *clamped = stepped
                .targets
                .iter()
                .zip(&target)
                .any(|(x, y)| (x - y).abs() > 1e-6);
            action.extend(a);
            if e.gripper.is_some() {
                let g = self.gripper_action(next.log_time);
                action.push(g);
            }
        } else {
            // What the controller tracks at `prev`: the previous step's target (none at an
            // episode's first step); at `next`, this step's.
            self.fill_observation(observation, prev, tracked.as_deref());
            self.fill_observation(next_observation, next, Some(&target));
            let reference = tracked.unwrap_or_else(|| prev.position.clone());
            for (j, (t, q)) in target.iter().zip(&reference).enumerate() {
                let scale = self
                    .max_step
                    .get(j)
                    .or(self.max_step.last())
                    .copied()
                    .unwrap_or(1.0);
                let raw = (t - q) / scale;
                if !(-1.0..=1.0).contains(&raw) {
                    *clamped = true;
                }
                action.push(raw.clamp(-1.0, 1.0) as f32);
            }
        }
        if *clamped {
            self.report.clamped_actions += 1;
        }
        commanded_position.clone_from(&target);
        self.last_target = Some(target);
        self.step_counter += 1;
        header.stamp = time_of(prev.stamp);
        header.frame_id.clear();
        *step = self.step_counter - 1;
        *phase = self.cfg.role.phase();
        *cycle = self.report.episodes as u32;
        // the reward of s′ (the arbiter's convention)
        *task_reward = next.reward.unwrap_or(0.0);
        *has_task_reward = next.reward.is_some();
        if self.has_reward && next.reward.is_none() {
            self.report.transitions_without_reward += 1;
        }
        *phase_end = false;
    }
}

/// Checks a topic's type against what the importer accepts.
fn check_type(bag: &Bag, topic: &str, accepted: &[String]) -> Result<String> {
    let t = bag.topic(topic)?;
    let ty = mbarl_bag::normalize_type_name(&t.type_name);
    if accepted.contains(&ty) {
        return Ok(ty);
    }
    if !mbarl_bag::is_known_type(&ty) {
        return Err(BagError::UnknownType {
            topic: topic.to_string(),
            type_name: t.type_name.clone(),
        }
        .into());
    }
    Err(BagError::WrongType {
        topic: topic.to_string(),
        expected: accepted.join(" or "),
        found: t.type_name.clone(),
    }
    .into())
}

/// Imports `bags` into the dataset directory `out` (created; must not exist or be empty).
pub fn import(bags: &[PathBuf], out: &Path, cfg: &ImportConfig) -> Result<ImportReport> {
    let started = Instant::now();
    let mut writer = BagWriter::create(
        out,
        WriterOptions {
            // Uncompressed: the dataset is local, and chunk compression would cost more than
            // the rest of the import (frames are stored once: next-observation frames are shared).
            compression: mbarl_bag::Compression::None,
            // With a core to spare, the file is written by the writer's own thread while this
            // one fills the chunks.
            io_thread: spare_core(),
            custom_data: BTreeMap::from([
                ("mbarl.dataset".to_string(), "demo".to_string()),
                ("mbarl.role".to_string(), cfg.role.as_str().to_string()),
                ("mbarl.format".to_string(), DATASET_FORMAT.to_string()),
            ]),
            ..Default::default()
        },
    )?;
    let topic =
        writer.add_topic::<Transition>(TRANSITIONS_TOPIC, &[QosProfile::new(true, false, 100)])?;
    let mut imp = Importer {
        cfg,
        writer,
        topic,
        joints: cfg.joints.clone(),
        max_step: cfg.max_step.clone(),
        report: ImportReport::default(),
        segment: 0,
        frame_seq: 0,
        step_counter: 0,
        js: Track::new(),
        state: Track::new(),
        state_by_stamp: false,
        has_state: false,
        rewards: Track::new(),
        has_reward: false,
        pending: VecDeque::new(),
        frame_pool: Vec::new(),
        commands: VecDeque::new(),
        has_commands: false,
        gripper_commands: VecDeque::new(),
        has_gripper: false,
        gripper_width: None,
        paired_commands: false,
        before_prev_log: None,
        last_js_stamp: None,
        last_frame_stamp: None,
        prev: None,
        last_target: None,
        pending_tr: None,
        spare_tr: None,
        episode_transitions: 0,
    };
    if cfg.max_step.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        bail!("--max-step values must be positive");
    }
    let opened: Vec<Bag> = bags
        .iter()
        .map(|b| Bag::open(b).with_context(|| format!("opening {}", b.display())))
        .collect::<Result<_>>()?;
    let total_bytes: u64 = opened.iter().map(|b| b.total_bytes()).sum();
    let bar = if cfg.progress {
        let bar = indicatif::ProgressBar::new(total_bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} importing [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut done_bytes = 0u64;
    for bag in &opened {
        let t = &cfg.topics;
        let mut camera = t.camera.clone();
        if bag.topic(&camera).is_err() && bag.topic(&format!("{camera}/compressed")).is_ok() {
            camera = format!("{camera}/compressed");
            tracing::info!("{}: using {camera}", bag.path().display());
        }
        let cam_type = check_type(
            bag,
            &camera,
            &[Image::type_name(), CompressedImage::type_name()],
        )?;
        let compressed = cam_type == CompressedImage::type_name();
        check_type(bag, &t.joint_states, &[JointState::type_name()])?;
        imp.has_commands = !t.commands.is_empty() && bag.topic(&t.commands).is_ok();
        if imp.has_commands {
            check_type(
                bag,
                &t.commands,
                &match cfg.end_effector {
                    Some(_) => vec![PoseStamped::type_name()],
                    None => vec![Float64MultiArray::type_name(), JointTrajectory::type_name()],
                },
            )?;
            let count = |name: &str| bag.topic(name).ok().and_then(|t| t.message_count);
            imp.paired_commands = match (count(&t.commands), count(&camera)) {
                (Some(c), Some(f)) if f > 0 => (0.8..=1.25).contains(&(c as f64 / f as f64)),
                _ => false,
            };
        } else {
            imp.paired_commands = false;
        }
        for other in bag.topics().iter().filter(|x| {
            x.name != t.commands
                && !(cfg.end_effector.is_some() && x.name == t.gripper)
                && is_command_topic(x)
        }) {
            let named = format!("{} ({})", other.name, other.type_name);
            if !imp.report.unused_command_topics.contains(&named) {
                tracing::warn!(
                    bag = %bag.path().display(),
                    "the bag holds the command topic {named}, which this import does not use (commands from `{}`{}): set `topics.commands` in the robot profile to use it",
                    t.commands,
                    if imp.has_commands { "" } else { ", not in this bag: actions from joint states" },
                );
                imp.report.unused_command_topics.push(named);
            }
        }
        imp.has_state = !t.state.is_empty()
            && bag.topic(&t.state).is_ok_and(|s| {
                mbarl_bag::normalize_type_name(&s.type_name) == Float64MultiArray::type_name()
            });
        // A reward topic asked for must be in every bag: demos with and without rewards
        // would not mix (the learners take demo rewards all or none).
        imp.has_reward = !t.reward.is_empty();
        if imp.has_reward {
            check_type(bag, &t.reward, &[Float64::type_name()])?;
        }
        let markers: Vec<String> = [&t.episode, &t.reset_count]
            .into_iter()
            .filter(|m| !m.is_empty() && bag.topic(m).is_ok())
            .cloned()
            .collect();
        let mut wanted = vec![camera.clone(), t.joint_states.clone()];
        if imp.has_commands {
            wanted.push(t.commands.clone());
        }
        imp.has_gripper = cfg
            .end_effector
            .as_ref()
            .is_some_and(|e| e.gripper.is_some())
            && bag.topic(&t.gripper).is_ok();
        if imp.has_gripper {
            check_type(bag, &t.gripper, &[Float64MultiArray::type_name()])?;
            wanted.push(t.gripper.clone());
        }
        if imp.has_state {
            wanted.push(t.state.clone());
        }
        if imp.has_reward {
            wanted.push(t.reward.clone());
        }
        wanted.extend(markers.iter().cloned());
        // A new bag is a new episode; its streams start afresh.
        imp.resolve(true)?;
        imp.new_segment();
        imp.js = Track::new();
        imp.state = Track::new();
        imp.rewards = Track::new();
        imp.commands.clear();
        imp.gripper_commands.clear();
        imp.gripper_width = None;
        imp.last_js_stamp = None;
        imp.last_frame_stamp = None;
        imp.report.paired_commands |= imp.paired_commands;
        bar.set_message(bag.path().display().to_string());
        let mut messages = bag.messages(ReadOptions {
            topics: Some(wanted),
            skip_corrupt: cfg.skip_corrupt,
        });
        let mut n = 0u64;
        while let Some(m) = messages.next() {
            let m = m?;
            imp.report.messages_read += 1;
            imp.report.message_bytes += m.data.len() as u64;
            let name = m.topic.name.as_str();
            if name == camera {
                imp.on_camera(&m, compressed)?;
            } else if name == t.joint_states {
                imp.on_joint_state(&m)?;
            } else if imp.has_commands && name == t.commands {
                imp.on_command(&m)?;
            } else if imp.has_gripper && name == t.gripper {
                imp.on_gripper(&m)?;
            } else if imp.has_state && name == t.state {
                imp.on_state(&m)?;
            } else if imp.has_reward && name == t.reward {
                imp.on_reward(&m)?;
            } else if markers.iter().any(|x| x == name) {
                // Steps received before the marker end the episode.
                imp.resolve(true)?;
                imp.new_segment();
            }
            imp.resolve(false)?;
            n += 1;
            if n.is_multiple_of(256) {
                bar.set_position(done_bytes + messages.bytes_read());
            }
        }
        imp.report.skipped.extend(
            messages
                .take_skipped()
                .into_iter()
                .map(|s| s.error.to_string()),
        );
        imp.resolve(true)?;
        imp.end_episode()?;
        done_bytes += bag.total_bytes();
        bar.set_position(done_bytes);
    }
    bar.finish_and_clear();
    let Importer {
        writer,
        mut report,
        joints,
        max_step,
        ..
    } = imp;
    writer.finish()?;
    report.seconds = started.elapsed().as_secs_f64();
    let source = if report.actions_from_joint_states == 0 {
        "commands"
    } else if report.actions_from_commands == 0 {
        "joint_states"
    } else {
        "commands, else joint_states"
    };
    let dataset = DatasetYaml {
        format: DATASET_FORMAT.into(),
        next_observation_frame: NEXT_FRAME_DOC.into(),
        role: cfg.role.as_str().into(),
        phase: cfg.role.phase(),
        topic: TRANSITIONS_TOPIC.into(),
        source_bags: bags
            .iter()
            .map(|b| b.canonicalize().unwrap_or_else(|_| b.clone()).display().to_string())
            .collect(),
        transitions: report.transitions,
        episodes: report.episodes,
        episode_lengths: report.episode_lengths.clone(),
        joints: joints.unwrap_or_default(),
        preprocessing: cfg.preprocess,
        tolerance_s: cfg.tolerance_ns as f64 / 1e9,
        episode_gap_s: cfg.episode_gap_ns as f64 / 1e9,
        time_source: cfg.time_source,
        topics: cfg.topics.clone(),
        action: ActionYaml {
            source: source.into(),
            normalisation: "action_j = clamp((target_j - last_j) / max_step_j, -1, 1); target = the last command between the frames of t and t+1, else q(t+1); last = the previous step's target, q(t) at an episode's first step (as the phase arbiter: target = last_target + action * max_step)".into(),
            max_step,
        },
        counts: BTreeMap::from([
            ("frames".to_string(), report.frames),
            ("unmatched_frames".to_string(), report.unmatched_frames),
            ("duplicate_frames".to_string(), report.duplicate_frames),
            ("joint_states".to_string(), report.joint_states),
            ("commands".to_string(), report.commands),
            ("actions_from_commands".to_string(), report.actions_from_commands),
            ("actions_from_joint_states".to_string(), report.actions_from_joint_states),
            ("clamped_actions".to_string(), report.clamped_actions),
            ("rewards".to_string(), report.rewards),
            ("invalid_rewards".to_string(), report.invalid_rewards),
            ("transitions_without_reward".to_string(), report.transitions_without_reward),
        ]),
        skipped: report.skipped.clone(),
        created_by: format!("mbarl {}", env!("CARGO_PKG_VERSION")),
    };
    let yaml = serde_yaml_ng::to_string(&dataset)?;
    std::fs::write(out.join("dataset.yaml"), yaml)
        .with_context(|| format!("writing {}", out.join("dataset.yaml").display()))?;
    Ok(report)
}

/// Whether a core is idle for the dataset writer's own thread: this process may use more than
/// one CPU and fewer tasks are runnable on the machine than there are CPUs (`/proc/loadavg`,
/// this thread included). On a busy machine a second thread only competes with the first:
/// measured on 2 cores with one busy elsewhere, the benchmark bag imported in 18–20 ms on one
/// thread and 21–23 ms on two; with both idle, two threads took 14 ms.
fn spare_core() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runnable = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
        s.split_whitespace()
            .nth(3)?
            .split('/')
            .next()?
            .parse::<usize>()
            .ok()
    });
    matches!(runnable, Some(r) if cpus > 1 && r < cpus)
}

/// How a compact dataset stores next-observation frames (in `dataset.yaml`).
const NEXT_FRAME_DOC: &str = "shared: within an episode, next_observation.frame is empty (frame_width and frame_height give its size) and equals the next transition's observation.frame (the same step, same seq); the last transition of an episode (phase_end) carries its own. Readers restore it: mbarl_bag::demo::Transitions";

#[derive(Serialize)]
struct DatasetYaml {
    format: String,
    next_observation_frame: String,
    role: String,
    phase: u8,
    topic: String,
    source_bags: Vec<String>,
    transitions: u64,
    episodes: u64,
    episode_lengths: Vec<u64>,
    joints: Vec<String>,
    preprocessing: PreprocessConfig,
    tolerance_s: f64,
    episode_gap_s: f64,
    time_source: TimeSource,
    topics: RobotTopics,
    action: ActionYaml,
    counts: BTreeMap<String, u64>,
    skipped: Vec<String>,
    created_by: String,
}

#[derive(Serialize)]
struct ActionYaml {
    source: String,
    normalisation: String,
    max_step: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_nearest_and_passed() {
        let mut t = Track::new();
        t.push(100, 'a');
        t.push(150, 'b');
        t.push(200, 'c');
        assert_eq!(t.nearest(160, 20), Some(&'b'));
        assert_eq!(t.nearest(176, 20), None);
        assert_eq!(t.nearest(176, 30), Some(&'c'));
        assert!(t.passed(170, 20));
        assert!(!t.passed(190, 20));
        t.purge_before(160);
        assert_eq!(t.buf.len(), 2);
    }
}
