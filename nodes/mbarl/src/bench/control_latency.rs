//! `mbarl bench control-latency`: the whole suite on the simulated arm in **real time** (not
//! lock-step), 64×64 camera observations, learning running on the same cores; a probe node
//! measures, for each command the arm receives, the time since the camera frame that preceded it
//! (frame → encoder → policy → arbiter → command, as seen on the wire), and counts missed
//! control deadlines: camera frames after which no command arrived within one control period.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use mbarl_msgs::msg::TrainingStats;
use mbarl_msgs::sensor_msgs::Image;
use mbarl_msgs::std_msgs::Float64MultiArray;
use mbarl_ros::{NodeBuilder, Qos};
use serde_yaml_ng::Value;

use super::stats::percentiles;

#[derive(Args)]
pub struct ControlLatencyOpts {
    /// Launch file to run (its sim bridge is switched to real time).
    #[arg(long, default_value = "config/launch/sim_reach_pixels.yaml")]
    launch: PathBuf,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 300.0)]
    seconds: f64,
    /// Seconds before measuring (start-up, first checkpoints).
    #[arg(long, default_value_t = 30.0)]
    warmup: f64,
    /// Control rate of the deadline (Hz).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// ROS domain of the run.
    #[arg(long, default_value_t = 98)]
    domain: u16,
    /// Run directory (demos in `demos/` make the learners train; scripts/bench.sh records them).
    #[arg(long, default_value = "runs/bench_control_latency")]
    run_dir: PathBuf,
}

struct Launch(Child);

impl Drop for Launch {
    fn drop(&mut self) {
        // SIGINT: `mbarl launch` stops every node cleanly
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The launch file with the run directory, domain and a real-time sim bridge.
fn realtime_launch(opts: &ControlLatencyOpts, run_dir: &std::path::Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(&opts.launch)
        .with_context(|| format!("reading {}", opts.launch.display()))?;
    let mut v: Value = serde_yaml_ng::from_str(&text)?;
    let dir = Value::from(run_dir.display().to_string());
    v["run_dir"] = dir.clone();
    v["params"]["run_dir"] = dir;
    v["ros_domain_id"] = Value::from(opts.domain as u64);
    let Some(procs) = v["processes"].as_sequence_mut() else {
        bail!("{}: no processes", opts.launch.display())
    };
    let mut bridge = false;
    for p in procs {
        if p["name"].as_str() == Some("sim_bridge") {
            p["params"]["lockstep"] = Value::from(false);
            bridge = true;
        }
        if p["name"].as_str() == Some("phase_arbiter") {
            // pacing holds steps for the learners: lock-step only
            p["params"]["max_training_backlog"] = Value::from(0.0);
        }
    }
    if !bridge {
        bail!("{}: no sim_bridge process", opts.launch.display());
    }
    let path = run_dir.join("launch_realtime.yaml");
    std::fs::write(&path, serde_yaml_ng::to_string(&v)?)?;
    Ok(path)
}

/// Latencies (command arrival − last frame arrival before it) and missed deadlines.
pub fn analyse(
    frames: &[Instant],
    commands: &[Instant],
    period: Duration,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut fi = 0;
    for &c in commands {
        while fi + 1 < frames.len() && frames[fi + 1] <= c {
            fi += 1;
        }
        if let Some(&f) = frames.get(fi).filter(|&&f| f <= c)
            && c - f < Duration::from_secs(1)
        {
            latencies.push(c - f);
        }
    }
    let missed = frames
        .iter()
        .filter(|&&f| !commands.iter().any(|&c| c > f && c - f <= period))
        .count();
    (latencies, missed)
}

pub async fn run(opts: ControlLatencyOpts) -> Result<()> {
    std::fs::create_dir_all(&opts.run_dir)?;
    let run_dir = std::fs::canonicalize(&opts.run_dir)?;
    if !run_dir.join("demos").exists() {
        eprintln!(
            "note: {} has no demos/: the learners wait for data (scripts/bench.sh control-latency records them)",
            run_dir.display()
        );
    }
    let launch = realtime_launch(&opts, &run_dir)?;
    let log = std::fs::File::create(run_dir.join("launch.out"))?;
    let _suite = Launch(
        Command::new(std::env::current_exe()?)
            .args([
                "launch",
                &launch.display().to_string(),
                "--status-every",
                "0",
            ])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting mbarl launch")?,
    );
    let node = NodeBuilder::new("bench_control_latency")
        .domain_id(opts.domain)
        .build()?;
    let images = node.subscriber::<Image>("/camera/image_raw", Qos::Reliable { depth: 5 })?;
    let commands = node
        .subscriber::<Float64MultiArray>("/arm_controller/commands", Qos::Reliable { depth: 10 })?;
    let stats =
        node.subscriber::<TrainingStats>("/mbarl/training_stats", Qos::Reliable { depth: 50 })?;
    let period = Duration::from_secs_f64(1.0 / opts.rate);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(opts.warmup);
    let end = measure_from + Duration::from_secs_f64(opts.seconds);
    let (mut frames, mut cmds) = (Vec::new(), Vec::new());
    let mut updates: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    eprintln!(
        "control latency: {} s warm-up, then {} s measured (run {})",
        opts.warmup,
        opts.seconds,
        run_dir.display()
    );
    loop {
        tokio::select! {
            Some(_) = images.recv() => {
                let t = Instant::now();
                if t >= measure_from { frames.push(t); }
            }
            Some(_) = commands.recv() => {
                let t = Instant::now();
                if t >= measure_from { cmds.push(t); }
            }
            Some(s) = stats.recv() => {
                if Instant::now() >= measure_from {
                    let e = updates.entry(s.node.clone()).or_insert((s.updates, s.updates));
                    e.1 = s.updates;
                }
            }
            _ = tokio::time::sleep_until(end.into()) => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    if frames.is_empty() || cmds.is_empty() {
        bail!(
            "no {} during the measurement: see {}",
            if frames.is_empty() {
                "camera frames"
            } else {
                "arm commands"
            },
            run_dir.join("launch.out").display()
        );
    }
    // frames in the last period cannot have their deadline checked yet
    let cutoff = end - period;
    frames.retain(|&f| f < cutoff);
    let (lat, missed) = analyse(&frames, &cmds, period);
    let p = percentiles(&lat);
    let secs = opts.seconds;
    println!(
        "camera frame → arm command (64×64, real time, learning on the same cores) over {secs:.0} s: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} commands, {} frames = {:.1} Hz)",
        p.p50,
        p.p99,
        p.max,
        p.n,
        frames.len(),
        frames.len() as f64 / secs
    );
    println!(
        "missed control deadlines at {} Hz (no command within {:.0} ms of a frame): {missed} of {}",
        opts.rate,
        period.as_secs_f64() * 1e3,
        frames.len()
    );
    let learning: Vec<String> = updates
        .iter()
        .map(|(n, (a, b))| format!("{n} +{}", b.saturating_sub(*a)))
        .collect();
    println!(
        "learning updates during the measurement: {}",
        learning.join(", ")
    );
    println!(
        "targets: p99 ≤ 20 ms {}, 0 missed deadlines {}",
        if p.p99 <= 20.0 { "MET" } else { "NOT MET" },
        if missed == 0 { "MET" } else { "NOT MET" }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_pairs_each_command_with_the_frame_before_it() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let frames = [ms(0), ms(50), ms(100), ms(150)];
        let commands = [ms(5), ms(58), ms(190)];
        let (lat, missed) = analyse(&frames, &commands, Duration::from_millis(50));
        let lat: Vec<u128> = lat.iter().map(|d| d.as_millis()).collect();
        assert_eq!(lat, vec![5, 8, 40]);
        // the frame at 100 ms had no command within 50 ms
        assert_eq!(missed, 1);
    }
}
