//! The e-stop latency benchmark: the real `phase_arbiter` binary in its own process (its own DDS
//! participant, loopback RTPS), driven by this process acting as camera encoder, forward and
//! backward policy and arm controller (the arm follows every command exactly).
//!
//! Each sample: the arm moves under the policy; a few milliseconds after a command (a random
//! point of the control period), `/mbarl/estop` goes true; the latency is the time until the
//! arbiter's hold command (the arm's measured position) arrives on `/arm_controller/commands`.
//! No observation is published while waiting, so the hold must come from the e-stop handler,
//! not from the next control step. Then the e-stop is released and the arm moves again.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use mbarl_msgs::msg::{Observation, PolicyAction};
use mbarl_msgs::sensor_msgs::JointState;
use mbarl_msgs::std_msgs::{Bool, Float64MultiArray};
use mbarl_ros::{NodeBuilder, Publisher, Qos, Subscriber};

use super::stats::percentiles;

const DOMAIN: u16 = 93;
const MATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The sim profile's control rate (20 Hz).
const PERIOD: Duration = Duration::from_millis(50);
/// Control steps per direction of the back-and-forth motion.
const HALF_CYCLE: u64 = 8;
/// A hold later than this is counted as missing.
const GIVE_UP: Duration = Duration::from_millis(500);

#[derive(Args)]
pub struct EstopOpts {
    /// E-stop presses to measure.
    #[arg(long, default_value_t = 100)]
    samples: usize,
    /// The phase_arbiter binary (default: next to this executable).
    #[arg(long)]
    arbiter: Option<PathBuf>,
    /// The robot profile the arbiter runs with.
    #[arg(long, default_value = "config/robots/sim_arm.yaml")]
    profile: PathBuf,
}

struct ArbiterProcess(std::process::Child);

impl Drop for ArbiterProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Peer {
    joint_names: Vec<String>,
    joint_states: Publisher<JointState>,
    observations: Publisher<Observation>,
    forward: Publisher<PolicyAction>,
    backward: Publisher<PolicyAction>,
    estop: Publisher<Bool>,
    commands: Subscriber<Float64MultiArray>,
    /// The arm's position (it follows every command) and the one before.
    arm: Vec<f64>,
    previous: Vec<f64>,
    seq: u64,
}

impl Peer {
    fn publish_joint_states(&self) -> Result<()> {
        self.joint_states.publish(JointState {
            name: self.joint_names.clone(),
            position: self.arm.clone(),
            ..Default::default()
        })?;
        Ok(())
    }

    /// One control step: the policies' action for observation `seq`, then the observation;
    /// waits for the arbiter's command and moves the arm there. True when the arm moved.
    async fn control_step(&mut self) -> Result<bool> {
        self.seq += 1;
        let direction = if (self.seq / HALF_CYCLE).is_multiple_of(2) {
            0.5
        } else {
            -0.5
        };
        for (publisher, policy) in [
            (&self.forward, PolicyAction::POLICY_FORWARD),
            (&self.backward, PolicyAction::POLICY_BACKWARD),
        ] {
            publisher.publish(PolicyAction {
                policy,
                observation_seq: self.seq,
                action: vec![direction; self.arm.len()],
                ..Default::default()
            })?;
        }
        self.observations.publish(Observation {
            seq: self.seq,
            joint_names: self.joint_names.clone(),
            joint_position: self.arm.clone(),
            ..Default::default()
        })?;
        let Some(cmd) = self.commands.recv_timeout(PERIOD * 2).await else {
            return Ok(false);
        };
        if cmd.data.len() != self.arm.len() {
            bail!(
                "the arbiter commanded {} joints, expected {}",
                cmd.data.len(),
                self.arm.len()
            );
        }
        let moved = cmd.data != self.arm;
        if moved {
            self.previous = std::mem::replace(&mut self.arm, cmd.data);
        }
        self.publish_joint_states()?;
        Ok(moved)
    }

    /// Presses the e-stop and waits for the hold command; the latency, or None.
    async fn press(&mut self) -> Result<Option<Duration>> {
        self.estop.publish(Bool { data: true })?;
        let t0 = Instant::now();
        let mut latency = None;
        while t0.elapsed() < GIVE_UP {
            match self.commands.recv_timeout(GIVE_UP - t0.elapsed()).await {
                // The hold: the measured position (the latest joint state, or the one
                // before if the arbiter had not read it yet).
                Some(cmd) if cmd.data == self.arm || cmd.data == self.previous => {
                    latency = Some(t0.elapsed());
                    break;
                }
                Some(_) => continue, // a command sent before the e-stop arrived
                None => break,
            }
        }
        self.estop.publish(Bool { data: false })?;
        // Let the release arrive before the next step.
        tokio::time::sleep(Duration::from_millis(5)).await;
        while self.commands.try_recv().is_some() {}
        Ok(latency)
    }
}

pub async fn run(opts: EstopOpts) -> Result<()> {
    let arbiter = match opts.arbiter {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("phase_arbiter"),
    };
    if !arbiter.exists() {
        bail!(
            "no phase_arbiter at {} (cargo build --release -p phase_arbiter, or pass --arbiter)",
            arbiter.display()
        );
    }
    let huge = "1000000000";
    let child = Command::new(&arbiter)
        .args(["--ros-args", "--params-file"])
        .arg(&opts.profile)
        // Only the e-stop path is measured: no phase ends, nobody asks for help.
        .args(["-p", &format!("forward_steps:={huge}")])
        .args(["-p", &format!("backward_steps:={huge}")])
        .args(["-p", &format!("stuck_cycles:={huge}")])
        .args(["-p", &format!("max_consecutive_clamps:={huge}")])
        .args(["-p", "action_wait_periods:=2.0"])
        .env("ROS_DOMAIN_ID", DOMAIN.to_string())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", arbiter.display()))?;
    let _arbiter = ArbiterProcess(child);

    let node = NodeBuilder::new("mbarl_bench_estop")
        .domain_id(DOMAIN)
        .build()?;
    let joint_names: Vec<String> = (1..=4).map(|j| format!("joint{j}")).collect();
    let mut peer = Peer {
        joint_states: node.publisher("/joint_states", Qos::SensorData)?,
        observations: node.publisher("/mbarl/observation", Qos::Reliable { depth: 5 })?,
        forward: node.publisher("/mbarl/forward/action", Qos::Reliable { depth: 5 })?,
        backward: node.publisher("/mbarl/backward/action", Qos::Reliable { depth: 5 })?,
        estop: node.publisher("/mbarl/estop", Qos::Reliable { depth: 5 })?,
        commands: node.subscriber("/arm_controller/commands", Qos::DEFAULT)?,
        // Paddle over the table in front of the arm, inside the sim profile's workspace box.
        arm: vec![0.0, 0.35, 1.9, 0.9],
        previous: vec![0.0, 0.35, 1.9, 0.9],
        joint_names,
        seq: 0,
    };
    for (what, matched) in [
        (
            "/mbarl/observation",
            peer.observations
                .wait_for_subscriptions(1, MATCH_TIMEOUT)
                .await,
        ),
        (
            "/mbarl/estop",
            peer.estop.wait_for_subscriptions(1, MATCH_TIMEOUT).await,
        ),
        (
            "/arm_controller/commands",
            peer.commands.wait_for_publishers(1, MATCH_TIMEOUT).await,
        ),
    ] {
        if !matched {
            bail!("the arbiter did not match {what} within {MATCH_TIMEOUT:?}");
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    peer.publish_joint_states()?;
    while peer.commands.try_recv().is_some() {}

    println!(
        "mbarl bench estop: phase_arbiter ({}) in its own process, DDS domain {DOMAIN}, loopback; control period {} ms",
        opts.profile.display(),
        PERIOD.as_millis()
    );
    let mut latencies = Vec::with_capacity(opts.samples);
    let (mut missed, mut not_moving) = (0usize, 0usize);
    let mut next_tick = tokio::time::Instant::now();
    // Warm-up: the arm must be moving under the policy.
    for _ in 0..HALF_CYCLE {
        next_tick += PERIOD;
        peer.control_step().await?;
        tokio::time::sleep_until(next_tick).await;
    }
    while latencies.len() + missed < opts.samples {
        let mut moving = false;
        for step in 0..HALF_CYCLE {
            next_tick += PERIOD;
            moving |= peer.control_step().await?;
            // Press mid-way through a direction (never right after a reversal, where a moving
            // command could equal the previous position), at a varying point of the period.
            if step == HALF_CYCLE / 2 {
                let sample = (latencies.len() + missed) as u64;
                tokio::time::sleep(Duration::from_millis(3 + (sample * 7) % 40)).await;
                if !moving {
                    not_moving += 1;
                }
                match peer.press().await? {
                    Some(l) => latencies.push(l),
                    None => missed += 1,
                }
                next_tick = tokio::time::Instant::now() + PERIOD;
            }
            tokio::time::sleep_until(next_tick).await;
        }
    }
    let p = percentiles(&latencies);
    let within = latencies.iter().filter(|l| **l <= PERIOD).count();
    println!(
        "  e-stop → hold command   p50 {:7.3} ms   p99 {:7.3} ms   max {:7.3} ms   (n={})",
        p.p50, p.p99, p.max, p.n
    );
    println!(
        "  within one control period ({} ms): {within}/{}   no hold within {} ms: {missed}   pressed while not moving: {not_moving}",
        PERIOD.as_millis(),
        opts.samples,
        GIVE_UP.as_millis()
    );
    if missed > 0 || within < latencies.len() {
        bail!("the e-stop target (hold within one control period) was missed");
    }
    Ok(())
}
