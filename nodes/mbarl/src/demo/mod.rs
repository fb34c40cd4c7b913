//! `mbarl demo import|inspect`: demonstration datasets from rosbag2 bags.
//!
//! A dataset is `<run_dir>/demos/<role>/<name>/`: an MCAP rosbag2 bag of
//! `mbarl_msgs/msg/Transition` on `/mbarl/demo/transitions` plus `dataset.yaml` (role, source
//! bags, counts, episodes, preprocessing, tolerance, action normalisation). Datasets are bags
//! themselves, so `mbarl demo inspect` and stock ROS 2 tools read them. Frames are stored once:
//! within an episode `next_observation.frame` is empty and is the next transition's observation
//! frame; read datasets with `mbarl_bag::demo::Transitions`, which restores it.

pub mod config;
mod frames;
pub mod import;
pub mod inspect;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use mbarl_vision::{Crop, PreprocessConfig};

use config::RobotProfile;
use import::{ImportConfig, Role};

#[derive(Subcommand, Debug)]
pub enum DemoCmd {
    /// Turn bags into a demo dataset in a run directory.
    Import(Box<ImportOpts>),
    /// Topics, counts, rates, gaps, duration and a PNG contact sheet of a bag or dataset.
    Inspect(inspect::InspectOpts),
}

#[derive(clap::Args, Debug)]
pub struct ImportOpts {
    /// Bags (directories or .mcap/.db3 files); each starts a new episode.
    #[arg(required = true)]
    bags: Vec<PathBuf>,
    /// Forward demos (D_f) or backward demos (D_b).
    #[arg(long, value_enum)]
    role: Role,
    /// The run directory; the dataset goes to <run-dir>/demos/<role>/<name>/.
    #[arg(long, default_value = "run")]
    run_dir: PathBuf,
    /// Dataset name (default: the first bag's name).
    #[arg(long)]
    name: Option<String>,
    /// Replace an existing dataset of the same name.
    #[arg(long)]
    force: bool,
    /// Robot profile (ROS 2 params file, e.g. config/robots/sim_arm.yaml): joint_names,
    /// max_step and optional topics; the flags below override it.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Camera topic (sensor_msgs/Image or CompressedImage; `<topic>/compressed` is used when
    /// only that is in the bag).
    #[arg(long)]
    camera_topic: Option<String>,
    #[arg(long)]
    joint_topic: Option<String>,
    /// Commanded joint positions (Float64MultiArray or JointTrajectory); "" to derive actions
    /// from joint states only.
    #[arg(long)]
    command_topic: Option<String>,
    /// Low-dimensional state (Float64MultiArray); "" for none.
    #[arg(long)]
    state_topic: Option<String>,
    /// Task reward (std_msgs/Float64, the phase arbiter's `task_reward_topic`); each
    /// transition carries the reward of its next state. "" for none.
    #[arg(long)]
    reward_topic: Option<String>,
    /// Episode marker topic (any type: each message starts an episode); "" for none.
    #[arg(long)]
    episode_topic: Option<String>,
    /// Align by header stamps (default) or by receive times (for drivers that leave stamps
    /// unset).
    #[arg(long, value_enum, default_value = "header")]
    time_source: import::TimeSource,
    /// Largest camera/joint-state stamp difference accepted (seconds).
    #[arg(long, default_value_t = 0.02)]
    tolerance: f64,
    /// A gap in the joint states longer than this starts a new episode (seconds).
    #[arg(long, default_value_t = 1.0)]
    episode_gap: f64,
    /// Joint position step that maps to action ±1: one value, or one per joint
    /// (comma-separated). Default: the profile's, else 0.06 (the sim arm's).
    #[arg(long, value_delimiter = ',')]
    max_step: Option<Vec<f64>>,
    /// Frame size (the encoder's square input).
    #[arg(long, default_value_t = 64)]
    image_size: u32,
    /// center, full, or X,Y,WIDTH,HEIGHT (a region of interest).
    #[arg(long, default_value = "center")]
    crop: Crop,
    /// Joint order (default: the first joint state's), comma-separated.
    #[arg(long, value_delimiter = ',')]
    joints: Option<Vec<String>>,
    /// Import everything readable and report what was skipped.
    #[arg(long)]
    skip_corrupt: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Print the import report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: DemoCmd) -> Result<()> {
    match cmd {
        DemoCmd::Import(o) => run_import(*o),
        DemoCmd::Inspect(o) => inspect::run(o),
    }
}

fn run_import(o: ImportOpts) -> Result<()> {
    let profile = match &o.profile {
        Some(p) => RobotProfile::from_file(p)?,
        None => RobotProfile::default(),
    };
    let mut topics = profile.topics.clone();
    if let Some(t) = o.camera_topic {
        topics.camera = t;
    }
    if let Some(t) = o.joint_topic {
        topics.joint_states = t;
    }
    if let Some(t) = o.command_topic {
        topics.commands = t;
    }
    if let Some(t) = o.state_topic {
        topics.state = t;
    }
    if let Some(t) = o.reward_topic {
        topics.reward = t;
    }
    if let Some(t) = o.episode_topic {
        topics.episode = t;
    }
    if !(o.tolerance >= 0.0 && o.episode_gap > 0.0) {
        bail!("--tolerance must be >= 0 and --episode-gap > 0");
    }
    let name = match o.name {
        Some(n) => n,
        None => o.bags[0]
            .canonicalize()
            .unwrap_or_else(|_| o.bags[0].clone())
            .file_stem()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "demo".into()),
    };
    let out = o.run_dir.join("demos").join(o.role.as_str()).join(&name);
    if out.exists() {
        if !o.force {
            bail!(
                "{} exists; give another --name or --force to replace it",
                out.display()
            );
        }
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    let cfg = ImportConfig {
        role: o.role,
        topics,
        tolerance_ns: (o.tolerance * 1e9) as i64,
        episode_gap_ns: (o.episode_gap * 1e9) as i64,
        max_step: o
            .max_step
            .or(profile.max_step)
            .unwrap_or_else(|| vec![config::DEFAULT_MAX_STEP]),
        preprocess: PreprocessConfig {
            size: o.image_size,
            crop: o.crop,
        },
        joints: o.joints.or(profile.joint_names),
        skip_corrupt: o.skip_corrupt,
        progress: !o.no_progress,
        time_source: o.time_source,
        end_effector: profile.end_effector,
    };
    let report = match import::import(&o.bags, &out, &cfg) {
        Ok(r) => r,
        Err(e) => {
            // Leave no half-written dataset behind.
            let _ = std::fs::remove_dir_all(&out);
            return Err(e);
        }
    };
    if o.json {
        let mut v = serde_json::to_value(&report)?;
        v["dataset"] = serde_json::json!(out.display().to_string());
        println!("{v}");
    }
    eprintln!(
        "mbarl demo import: {} transitions in {} episodes → {} ({} messages, {:.1} MB in {:.2} s: {:.0} msg/s, {:.1} MB/s)",
        report.transitions,
        report.episodes,
        out.display(),
        report.messages_read,
        report.message_bytes as f64 / 1e6,
        report.seconds,
        report.messages_read as f64 / report.seconds.max(1e-9),
        report.message_bytes as f64 / 1e6 / report.seconds.max(1e-9),
    );
    if report.unmatched_frames > 0 {
        eprintln!(
            "  {} frames had no joint state within the tolerance and were dropped",
            report.unmatched_frames
        );
    }
    if report.duplicate_frames > report.frames {
        eprintln!(
            "  {} frames were dropped because their stamps did not advance: if the camera leaves header stamps unset, use --time-source receive",
            report.duplicate_frames
        );
    }
    if !cfg.topics.reward.is_empty() {
        eprintln!(
            "  task rewards: {} read, {} not finite (refused), {} transitions without one",
            report.rewards, report.invalid_rewards, report.transitions_without_reward
        );
        if report.transitions_without_reward > 0 {
            eprintln!(
                "  the learners take demo rewards only when every transition has one: the reward head will label these demos (raise --tolerance?)"
            );
        }
    }
    if !report.skipped.is_empty() {
        eprintln!("  skipped (damaged input):");
        for s in &report.skipped {
            eprintln!("    {s}");
        }
    }
    if report.transitions == 0 {
        bail!("no transitions: check the topics (mbarl demo inspect) and --tolerance");
    }
    Ok(())
}
