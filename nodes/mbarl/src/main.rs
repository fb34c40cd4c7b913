//! `mbarl`: the suite's command-line tool.

mod bench;
mod demo;
mod eval;
mod example;
mod launch;
mod record;
mod resume;
mod status;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mbarl_ros::RosArgs;

#[derive(Parser)]
#[command(
    name = "mbarl",
    version,
    about = "Model-based autonomous RL for robot arms on ROS 2"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// An example node pair: a talker publishing a fake arm's joint states and a listener.
    Example {
        #[command(subcommand)]
        role: example::Role,
    },
    /// Start the simulator (when configured) and the nodes of a launch file, supervised.
    Launch(launch::LaunchOpts),
    /// Record topics into an MCAP rosbag2 bag (no ROS 2 CLI needed).
    Record(record::RecordOpts),
    /// Demonstrations: import bags into a demo dataset, inspect bags and datasets.
    Demo {
        #[command(subcommand)]
        cmd: demo::DemoCmd,
    },
    /// EARL-style results of runs: deployed success over env steps, phase switches, help
    /// requests, resets; a CSV and a PNG learning curve comparing the runs.
    Eval(eval::EvalOpts),
    /// Answer a help request (or a pause): ask the phase arbiter to resume learning.
    Resume(resume::ResumeOpts),
    /// Benchmarks that print measured figures.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

fn main() -> Result<()> {
    let (user_args, ros_args) = RosArgs::from_env()?;
    let cli = Cli::parse_from(std::iter::once("mbarl".to_string()).chain(user_args));
    // A quiet `mbarl launch` shows its own warnings and errors only, like its processes'.
    let quiet = matches!(&cli.command, Command::Launch(opts) if !opts.logs);
    let level = ros_args
        .log_level
        .as_deref()
        .or(if quiet { Some("warn") } else { None });
    mbarl_ros::logging::init_logging(level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Example { role } => example::run(role, ros_args).await,
            Command::Bench { which } => bench::run(which, ros_args).await,
            Command::Record(opts) => record::run(opts).await,
            Command::Demo { cmd } => demo::run(cmd),
            Command::Launch(opts) => launch::run(opts).await,
            Command::Eval(opts) => eval::run(opts),
            Command::Resume(opts) => resume::run(opts).await,
        }
    })
}
