//! The transport benchmark. Every peer runs in its own process (its own DDS participant), so
//! all traffic goes through the real RTPS stack over loopback UDP.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use mbarl_msgs::builtin_interfaces::Time;
use mbarl_msgs::sensor_msgs::{Image, JointState};
use mbarl_msgs::std_msgs::Header;
use mbarl_ros::{NodeBuilder, Qos, RosNode};

use super::stats::percentiles;

const DOMAIN: u16 = 91;
const MATCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args)]
pub struct TransportOpts {
    /// Round trips per latency measurement.
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// 64×64 images per throughput measurement (640×480 use a tenth, at least 20).
    #[arg(long, default_value_t = 2000)]
    images: usize,
    /// Python with rclpy (default: $MBARL_ROS_PYTHON).
    #[arg(long, env = "MBARL_ROS_PYTHON")]
    ros_python: PathBuf,
    /// The rclpy peer script.
    #[arg(long, default_value = "tests/ros_peer/peer.py")]
    peer: PathBuf,
}

/// A child process that is killed when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command) -> Result<ChildGuard> {
    let child = cmd
        .env("ROS_DOMAIN_ID", DOMAIN.to_string())
        .env("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT?sockets_size=4194304")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    Ok(ChildGuard(child))
}

fn rust_peer(args: &[&str]) -> Result<ChildGuard> {
    spawn(
        Command::new(std::env::current_exe()?)
            .arg("bench")
            .args(args),
    )
}

fn rclpy_peer(opts: &TransportOpts, args: &[&str]) -> Result<ChildGuard> {
    if !opts.ros_python.exists() {
        bail!(
            "no rclpy at {}: run scripts/setup.sh",
            opts.ros_python.display()
        );
    }
    spawn(Command::new(&opts.ros_python).arg(&opts.peer).args(args))
}

/// The last JSON line the child printed before exiting.
fn child_result(mut child: ChildGuard) -> Result<serde_json::Value> {
    let stdout = child.0.stdout.take().context("child stdout")?;
    let mut last = None;
    for line in BufReader::new(stdout).lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line?) {
            last = Some(v);
        }
    }
    last.context("the peer printed no result")
}

pub async fn run(opts: TransportOpts) -> Result<()> {
    let node = NodeBuilder::new("mbarl_bench").domain_id(DOMAIN).build()?;
    println!("mbarl bench transport: DDS domain {DOMAIN}, every peer a separate process, loopback");
    println!(
        "JointState round trip (ping → echo → pong), {} samples after 20 warm-up:",
        opts.samples
    );
    for (label, peer) in [
        (
            "Rust ↔ Rust ",
            rust_peer(&["echo", "--domain", &DOMAIN.to_string()])?,
        ),
        (
            "Rust ↔ rclpy",
            rclpy_peer(
                &opts,
                &[
                    "echo",
                    "/bench/ping",
                    "/bench/pong",
                    "sensor_msgs/JointState",
                ],
            )?,
        ),
    ] {
        let p = round_trips(&node, opts.samples)
            .await
            .with_context(|| format!("round trips {label}"))?;
        println!(
            "  {label}  p50 {:7.3} ms   p99 {:7.3} ms   max {:7.3} ms   (n={})",
            p.p50, p.p99, p.max, p.n
        );
        drop(peer);
    }
    println!(
        "Image throughput (rgb8, reliable keep-all: the publisher waits for the slowest reader, nothing lost):"
    );
    for (w, h, n) in [
        (64u32, 64u32, opts.images),
        (640, 480, (opts.images / 10).max(20)),
    ] {
        for rust_sink in [true, false] {
            let count = n.to_string();
            let sink = if rust_sink {
                rust_peer(&["sink", "--domain", &DOMAIN.to_string(), "--count", &count])?
            } else {
                let ty = if w == 640 {
                    "sensor_msgs/Image640x480"
                } else {
                    "sensor_msgs/Image"
                };
                rclpy_peer(&opts, &["sink", "/bench/images", ty, &count])?
            };
            let sent = send_images(&node, w, h, n).await?;
            let r = tokio::task::spawn_blocking(move || child_result(sink)).await??;
            // Rates over the intervals between the first and the last arrival.
            let got = r["count"].as_f64().unwrap_or(0.0);
            let received = r["received"].as_u64().unwrap_or(0);
            let secs = r["seconds"].as_f64().unwrap_or(f64::NAN);
            let mb = got * (w * h * 3) as f64 / 1e6;
            println!(
                "  {w}x{h} Rust → {}  {:8.1} msg/s  {:7.1} MB/s   ({received}/{sent} received in {secs:.2} s)",
                if rust_sink { "Rust " } else { "rclpy" },
                got / secs,
                mb / secs,
            );
        }
    }
    Ok(())
}

fn stamp(i: u64) -> Time {
    Time {
        sec: (i / 1_000_000_000) as i32,
        nanosec: (i % 1_000_000_000) as u32,
    }
}

async fn round_trips(node: &RosNode, samples: usize) -> Result<super::stats::Percentiles> {
    let ping = node.publisher::<JointState>("/bench/ping", Qos::Reliable { depth: 10 })?;
    let pong = node.subscriber::<JointState>("/bench/pong", Qos::Reliable { depth: 10 })?;
    if !ping.wait_for_subscriptions(1, MATCH_TIMEOUT).await
        || !pong.wait_for_publishers(1, MATCH_TIMEOUT).await
    {
        bail!("the echo peer did not match within {MATCH_TIMEOUT:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut rtts = Vec::with_capacity(samples);
    let mut lost = 0;
    for i in 0..(samples + 20) as u64 {
        let msg = JointState {
            header: Header {
                stamp: stamp(i),
                frame_id: "bench".into(),
            },
            name: (1..=7).map(|j| format!("joint{j}")).collect(),
            position: vec![0.1; 7],
            velocity: vec![0.0; 7],
            effort: vec![],
        };
        let t0 = Instant::now();
        ping.publish(msg)?;
        loop {
            match pong.recv_timeout(Duration::from_secs(1)).await {
                Some(m) if m.header.stamp == stamp(i) => {
                    if i >= 20 {
                        rtts.push(t0.elapsed());
                    }
                    break;
                }
                Some(_) => continue, // a late reply to an earlier ping
                None => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    if lost > 0 {
        println!("  ({lost} pings got no reply within 1 s)");
    }
    Ok(percentiles(&rtts))
}

async fn send_images(node: &RosNode, width: u32, height: u32, count: usize) -> Result<usize> {
    let publisher = node.publisher::<Image>("/bench/images", Qos::Lossless)?;
    if !publisher.wait_for_subscriptions(1, MATCH_TIMEOUT).await {
        bail!("the image sink did not match within {MATCH_TIMEOUT:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let data: Vec<u8> = (0..(width * height * 3) as usize)
        .map(|i| (i % 251) as u8)
        .collect();
    let mut sent = 0;
    for i in 0..count as u64 {
        let img = Image {
            header: Header {
                stamp: stamp(i),
                frame_id: "camera_optical_frame".into(),
            },
            height,
            width,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step: width * 3,
            data: data.clone(),
        };
        // A full reliable queue makes publish wait, then fail: retry so every image is offered.
        for _ in 0..50 {
            if publisher.publish(img.clone()).is_ok() {
                sent += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(sent)
}

/// Republishes every ping as a pong.
pub async fn echo(domain: u16) -> Result<()> {
    let node = NodeBuilder::new("mbarl_bench_echo")
        .domain_id(domain)
        .build()?;
    let ping = node.subscriber::<JointState>("/bench/ping", Qos::Reliable { depth: 10 })?;
    let pong = node.publisher::<JointState>("/bench/pong", Qos::Reliable { depth: 10 })?;
    while let Some(m) = ping.recv().await {
        pong.publish(m)?;
    }
    Ok(())
}

/// Receives `count` images (or stops 5 s after the last one) and prints the rate as JSON.
pub async fn sink(domain: u16, count: usize) -> Result<()> {
    let node = NodeBuilder::new("mbarl_bench_sink")
        .domain_id(domain)
        .build()?;
    let images = node.subscriber::<Image>("/bench/images", Qos::Lossless)?;
    let mut first = None;
    let mut last = Instant::now();
    let mut n = 0usize;
    let idle = Duration::from_secs(5);
    while n < count {
        let timeout = if first.is_none() {
            MATCH_TIMEOUT + idle
        } else {
            idle
        };
        match images.recv_timeout(timeout).await {
            Some(_) => {
                last = Instant::now();
                first.get_or_insert(last);
                n += 1;
            }
            None => break,
        }
    }
    let seconds = first
        .map(|f| last.duration_since(f).as_secs_f64())
        .unwrap_or(0.0);
    // From first to last arrival: n - 1 intervals.
    let rate_count = n.saturating_sub(1);
    println!(
        "{}",
        serde_json::json!({"count": rate_count, "received": n, "seconds": seconds})
    );
    Ok(())
}
