//! `camera_encoder` node: one Observation per new joint-state stamp (throttled to the control
//! rate), with the camera frame of that stamp (pixel mode) and the latent of the newest
//! world-model encoder.
//!
//! Subscribes `/joint_states` (SensorData), `/camera/image_raw` (Image, rgb8/bgr8/mono8) or
//! `/camera/image_raw/compressed` (`image_source`), `/mbarl/model/checkpoint` (Latched), an
//! optional `state_topic` (Float64MultiArray), and the arm's commands (`/arm_controller/commands`,
//! `/arm_controller/joint_trajectory`: each observation carries the newest as
//! `joint_command`, what the position controller is tracking); publishes `/mbarl/observation`
//! (Reliable 5).
//! With `capture_source` set (build with `--features opencv`), frames come from an in-process
//! OpenCV capture (camera, video file or GStreamer pipeline) instead of the image topics.
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camera_encoder::capture::{self, CapturedFrame};
use camera_encoder::encoder::LatentEncoder;
use camera_encoder::observe::{self, Joints};
use camera_encoder::pairing::{Pairer, PairingConfig};
use mbarl_learn::ObsMode;
use mbarl_msgs::msg::{ModelCheckpoint, Observation};
use mbarl_msgs::sensor_msgs::{CompressedImage, Image, JointState};
use mbarl_msgs::std_msgs::{Float64MultiArray, Header};
use mbarl_msgs::task_state::TaskState;
use mbarl_msgs::trajectory_msgs::JointTrajectory;
use mbarl_node::task_states::{Found, TaskStates};
use mbarl_ros::counters::RateLimitedWarn;
use mbarl_ros::{NodeBuilder, ParamKind, ParamSpec, Qos, RosArgs, RosNode, Subscriber};
use mbarl_vision::{Crop, Frame, PreprocessConfig};
use tokio::sync::mpsc;

/// Observation header frame_id for captured frames (topic frames keep their own).
const CAPTURE_FRAME_ID: &str = "camera";

fn params() -> Vec<ParamSpec> {
    let mut p = mbarl_node::common::params();
    p.extend([
        ParamSpec::required(
            "joint_names",
            ParamKind::StringArray,
            "arm joints, in profile order",
        ),
        ParamSpec::new("control_rate_hz", 20.0, "observations per second at most"),
        ParamSpec::new(
            "image_source",
            "image",
            "pixel mode: image (sensor_msgs/Image) | compressed (<image_topic>/compressed); unused with capture_source",
        ),
        ParamSpec::new(
            "capture_source",
            "",
            "pixel mode: capture in-process with OpenCV instead of the image topics (build with --features opencv): \
             a device index (0), a device or video file path (/dev/video0, clip.avi; a file replays from the start \
             after its end) or a GStreamer pipeline ending in appsink (contains ` ! `); \"\" = use the image topics. \
             Frames are stamped with the node clock when read: set frame_tolerance_s to about half the camera's frame period",
        ),
        ParamSpec::new(
            "capture_retry_s",
            2.0,
            "capture: seconds between attempts to (re)open a missing or lost camera",
        ),
        ParamSpec::new("image_topic", "/camera/image_raw", "camera topic"),
        ParamSpec::new("crop", "center", "center | full | X,Y,WIDTH,HEIGHT"),
        ParamSpec::new(
            "max_age_s",
            0.5,
            "drop joint states older than this (not in sim time; <= 0: off)",
        ),
        ParamSpec::new(
            "max_ahead_s",
            1.0,
            "drop joint states stamped further than this in the future of the node's clock (sim or system; <= 0: off)",
        ),
        ParamSpec::new(
            "frame_wait_periods",
            1.0,
            "wait this many control periods for a joint state's frame",
        ),
        ParamSpec::new(
            "frame_tolerance_s",
            0.01,
            "a frame pairs with a joint state within this stamp difference",
        ),
        ParamSpec::new(
            "state_topic",
            "",
            "optional std_msgs/Float64MultiArray low-dimensional task state (a `sim_time` first element, as the sim's /sim/task_state has, pairs it by stamp)",
        ),
    ]);
    p
}

struct Ctx {
    node: RosNode,
    order: Vec<String>,
    max_age_s: f64,
    max_ahead_s: f64,
    warn: RateLimitedWarn,
}

impl Ctx {
    fn reject(&self, what: &str, e: &dyn std::fmt::Display) {
        let total = self
            .node
            .counters()
            .counter(&format!("rejected.{what}"))
            .increment();
        if let Some(suppressed) = self.warn.check() {
            tracing::warn!(total, suppressed, "{what}: {e}");
        }
    }
}

fn stamp_ns(h: &Header) -> i64 {
    h.stamp.to_nanos()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let (_, args) = RosArgs::from_env()?;
    mbarl_ros::logging::init_logging(args.log_level.as_deref());
    let node = NodeBuilder::new("camera_encoder")
        .about("turns joint states, camera frames and an optional task state into one /mbarl/observation per control step, with the newest world model's latent")
        .ros_args(args)
        .params(params())
        .build()?;
    let mbarl_node::common::LearnSetup { cfg, device, .. } =
        mbarl_node::common::LearnSetup::from_node(&node)?;
    let rate: f64 = node.param("control_rate_hz")?;
    if !(rate.is_finite() && rate > 0.0) {
        bail!("control_rate_hz must be > 0, got {rate}");
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let pixels = cfg.obs.mode == ObsMode::Pixels;
    let crop: Crop = node
        .param::<String>("crop")?
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))
        .context("parameter crop")?;
    if pixels && cfg.obs.frame_height != cfg.obs.frame_width {
        bail!(
            "pixel mode needs a square frame, learn config has {}x{}",
            cfg.obs.frame_height,
            cfg.obs.frame_width
        );
    }
    let pre = PreprocessConfig {
        size: cfg.obs.frame_width as u32,
        crop,
    };
    // Checked first: a capture_source without OpenCV compiled in is a start-up error.
    let capture_source = match capture::parse_source(&node.param::<String>("capture_source")?)? {
        Some(src) if !pixels => {
            tracing::warn!(mode = ?cfg.obs.mode, "capture_source {src} ignored: not in pixel mode");
            None
        }
        src => src,
    };
    let capture_retry = capture::retry_interval(node.param("capture_retry_s")?)?;
    let tolerance_ns = (node.param::<f64>("frame_tolerance_s")?.max(0.0) * 1e9) as i64;
    let mut pairer: Pairer<(JointState, Joints), Frame> = Pairer::new(PairingConfig {
        pixels,
        wait: period.mul_f64(node.param::<f64>("frame_wait_periods")?.clamp(0.0, 100.0)),
        tolerance_ns,
        min_interval_ns: (period.as_nanos() as f64 * 0.9) as i64,
    });
    let order: Vec<String> = node.param("joint_names")?;
    mbarl_node::convert::check_proprio_size(&cfg, order.len())?;
    let ctx = Ctx {
        order,
        max_age_s: node.param("max_age_s")?,
        max_ahead_s: node.param("max_ahead_s")?,
        warn: RateLimitedWarn::default(),
        node,
    };
    let node = &ctx.node;
    let mut encoder = LatentEncoder::new(cfg.clone(), device);

    let out = node.publisher::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })?;
    let joint_states = node.subscriber::<JointState>("/joint_states", Qos::SensorData)?;
    // The arbiter's commands (either interface): the setpoint the arm's controller tracks.
    let position_commands =
        node.subscriber::<Float64MultiArray>("/arm_controller/commands", Qos::DEFAULT)?;
    let trajectory_commands =
        node.subscriber::<JointTrajectory>("/arm_controller/joint_trajectory", Qos::DEFAULT)?;
    let mut command: Vec<f64> = Vec::new();
    let checkpoints =
        node.subscriber::<ModelCheckpoint>("/mbarl/model/checkpoint", Qos::Latched)?;
    let image_topic: String = node.param("image_topic")?;
    let source: String = node.param("image_source")?;
    let from = match &capture_source {
        Some(src) => format!("captured from {src}"),
        None => format!("from {image_topic} ({source})"),
    };
    let mut captured: Option<mpsc::Receiver<CapturedFrame>> = match capture_source {
        Some(src) => Some(capture::spawn(
            src,
            pre,
            capture_retry,
            node.counters().clone(),
        )?),
        None => None,
    };
    let (raw, compressed): (
        Option<Subscriber<Image>>,
        Option<Subscriber<CompressedImage>>,
    ) = match (pixels && captured.is_none(), source.as_str()) {
        (false, _) => (None, None),
        (true, "image") => (Some(node.subscriber(&image_topic, Qos::SensorData)?), None),
        (true, "compressed") => (
            None,
            Some(node.subscriber(&format!("{image_topic}/compressed"), Qos::SensorData)?),
        ),
        (true, other) => bail!("image_source must be image or compressed, got `{other}`"),
    };
    let state_topic: String = node.param("state_topic")?;
    let states = if state_topic.is_empty() {
        None
    } else {
        Some(node.subscriber::<Float64MultiArray>(&state_topic, Qos::SensorData)?)
    };
    // a stamped state at most two control periods older than its joint state stands in (stale)
    let mut task_states = TaskStates::new(tolerance_ns, 2 * period.as_nanos() as i64);
    let mut frame_id = String::new();
    let mut seq: u64 = 0;
    let received_js = node.counters().counter("received./joint_states");
    tracing::info!(mode = ?cfg.obs.mode, "camera encoder up at {rate} Hz{}", if pixels { format!(", {}x{} frames {from}", pre.size, pre.size) } else { String::new() });

    async fn maybe_captured(
        rx: &mut Option<mpsc::Receiver<CapturedFrame>>,
    ) -> Option<CapturedFrame> {
        let Some(r) = rx else {
            return std::future::pending().await;
        };
        let frame = r.recv().await;
        if frame.is_none() {
            // The capture thread only ends if it panicked: say so once, then wait forever.
            tracing::error!("camera capture thread stopped: no more frames");
            *rx = None;
        }
        frame
    }

    let mut named_unused = false;
    loop {
        let deadline = pairer
            .deadline()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let ready = tokio::select! {
            // in order: a step's command, task state and frame are in before its joint state
            // is taken
            biased;
            Some(c) = position_commands.recv() => {
                match observe::position_command(&c.data, ctx.order.len()) {
                    Some(c) => command = c,
                    None => ctx.reject("bad_command", &"a position command without one finite value per joint"),
                }
                None
            }
            Some(t) = trajectory_commands.recv() => {
                if let Some(c) = observe::trajectory_command(&t, &ctx.order) {
                    command = c;
                }
                None
            }
            Some(s) = Subscriber::recv_optional(&states) => {
                let state = TaskState::of(&s);
                if state.is_finite() {
                    task_states.push(state.stamp_ns, state.to_f32());
                } else {
                    ctx.reject("non_finite", &"task state has non-finite values");
                }
                None
            }
            Some(js) = joint_states.recv() => {
                received_js.increment();
                if !named_unused {
                    let unused = observe::unused_joints(&js, &ctx.order);
                    if !unused.is_empty() {
                        tracing::warn!(profile = ?ctx.order, "/joint_states also carries joints the robot profile's joint_names do not name: {unused:?}; they are not in the observations (a gripper's fingers: the arbiter drives them with gripper.*, but its width is not observed yet)");
                    }
                    named_unused = true;
                }
                let stamp = stamp_ns(&js.header);
                let joints = match observe::joints(&js, &ctx.order) {
                    Ok(j) => Joints { command: command.clone(), ..j },
                    Err(e) => { ctx.reject(e.kind(), &e); continue; }
                };
                if !node.use_sim_time()
                    && let Err(e) = observe::check_age(stamp, node.now().to_nanos(), ctx.max_age_s)
                {
                    ctx.reject(e.kind(), &e);
                    continue;
                }
                if let Err(e) = observe::check_not_future(stamp, node.now().to_nanos(), ctx.max_ahead_s) {
                    ctx.reject(e.kind(), &e);
                    continue;
                }
                match pairer.on_joint_state(stamp, (js, joints), Instant::now()) {
                    Ok(r) => r,
                    Err(skip) => { node.counters().counter(&format!("skipped.{}", skip.as_str())).increment(); None }
                }
            }
            Some(img) = Subscriber::recv_optional(&raw) => match observe::raw_frame(&img, &pre) {
                Ok(f) => { frame_id = img.header.frame_id.clone(); pairer.on_frame(stamp_ns(&img.header), f) }
                Err(e) => { ctx.reject(e.kind(), &e); None }
            },
            Some(img) = Subscriber::recv_optional(&compressed) => match observe::compressed_frame(&img, &pre) {
                Ok(f) => { frame_id = img.header.frame_id.clone(); pairer.on_frame(stamp_ns(&img.header), f) }
                Err(e) => { ctx.reject(e.kind(), &e); None }
            },
            // Stamped with the node clock at the instant the frame was read.
            Some((at, f)) = maybe_captured(&mut captured) => {
                let age_ns = i64::try_from(at.elapsed().as_nanos()).unwrap_or(i64::MAX);
                frame_id = CAPTURE_FRAME_ID.to_string();
                pairer.on_frame(node.now().to_nanos().saturating_sub(age_ns), f)
            }
            Some(ck) = checkpoints.recv() => {
                match encoder.offer(&ck) {
                    Ok(true) => tracing::info!(version = ck.version, "encoder weights swapped"),
                    Ok(false) => {}
                    Err(e) => ctx.reject("checkpoint", &e),
                }
                None
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if let Some(skip) = pairer.poll(Instant::now()) {
                    node.counters().counter(&format!("skipped.{}", skip.as_str())).increment();
                    ctx.reject("no_frame", &"no camera frame for a joint state in time");
                }
                None
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("stopping");
                return Ok(());
            }
        };
        let Some(r) = ready else { continue };
        let (js, joints) = r.joints;
        let state = match task_states.for_stamp(r.stamp_ns) {
            Found::Matched(s) => s.to_vec(),
            Found::Older(s) => {
                node.counters().counter("task_state.stale").increment();
                s.to_vec()
            }
            Found::None if states.is_some() => {
                ctx.reject("no_task_state", &"no recent task state on state_topic");
                continue;
            }
            Found::None => Vec::new(),
        };
        let mut obs = Observation {
            header: Header {
                stamp: js.header.stamp,
                frame_id: frame_id.clone(),
            },
            seq,
            joint_names: joints.names,
            joint_position: joints.position,
            joint_velocity: joints.velocity,
            joint_command: joints.command,
            state,
            ..Default::default()
        };
        if let Some(f) = r.frame {
            obs.frame_width = f.width as u16;
            obs.frame_height = f.height as u16;
            obs.frame = f.data;
        }
        match encoder.encode(&obs) {
            Ok(z) => {
                obs.encoder_version = if z.is_empty() { 0 } else { encoder.version() };
                obs.latent = z;
            }
            Err(e) => ctx.reject("encode", &e),
        }
        if let Err(e) = out.publish(obs) {
            ctx.reject("publish", &e);
            continue;
        }
        seq += 1;
    }
}
