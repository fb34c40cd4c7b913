//! `mbarl bench …`: benchmarks that print measured figures.

mod bag_import;
mod control_latency;
mod estop;
mod stats;
mod transport;

use anyhow::Result;
use clap::Subcommand;
use mbarl_ros::RosArgs;

#[derive(Subcommand)]
pub enum Which {
    /// JointState round-trip latency (Rust↔Rust, Rust↔rclpy) and image throughput
    /// (64×64 and 640×480, Rust→Rust and Rust→rclpy), measured in one run.
    Transport(transport::TransportOpts),
    /// Demo import throughput (msg/s, MB/s) on a 64×64-image bag written by rosbags, and rosbags
    /// reading the same bag, in one run; prints the ratio.
    BagImport(bag_import::BagImportOpts),
    /// Camera-frame-to-arm-command latency p50/p99 and missed 20 Hz control deadlines, with the
    /// whole suite learning on the same cores (sim in real time, 64×64 frames).
    ControlLatency(control_latency::ControlLatencyOpts),
    /// E-stop latency: /mbarl/estop to the phase_arbiter's hold command on
    /// /arm_controller/commands (the arbiter in its own process), p50/p99 against one control
    /// period.
    Estop(estop::EstopOpts),
    /// (internal) Echo /bench/ping to /bench/pong.
    #[command(hide = true)]
    Echo {
        #[arg(long)]
        domain: u16,
    },
    /// (internal) Count images on /bench/images and print the receive rate as JSON.
    #[command(hide = true)]
    Sink {
        #[arg(long)]
        domain: u16,
        #[arg(long)]
        count: usize,
    },
}

pub async fn run(which: Which, _args: RosArgs) -> Result<()> {
    match which {
        Which::Transport(opts) => transport::run(opts).await,
        Which::BagImport(opts) => bag_import::run(opts),
        Which::ControlLatency(opts) => control_latency::run(opts).await,
        Which::Estop(opts) => estop::run(opts).await,
        Which::Echo { domain } => transport::echo(domain).await,
        Which::Sink { domain, count } => transport::sink(domain, count).await,
    }
}
