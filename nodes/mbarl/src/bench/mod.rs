//! `mbarl bench …`: benchmarks that print measured figures.

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
        Which::Echo { domain } => transport::echo(domain).await,
        Which::Sink { domain, count } => transport::sink(domain, count).await,
    }
}
