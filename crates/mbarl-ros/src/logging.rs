//! Logging for node binaries: `tracing` to stderr, level from `--log-level` or `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once. `log_level` is the `--ros-args --log-level` value
/// (`debug`, `info`, `warn`, `error`, `fatal`, or `logger:=level`); `RUST_LOG` wins when set.
pub fn init_logging(log_level: Option<&str>) {
    let level = log_level
        .map(|l| l.rsplit(":=").next().unwrap_or(l).to_ascii_lowercase())
        .map(|l| if l == "fatal" { "error".to_string() } else { l })
        .unwrap_or_else(|| "info".to_string());
    // RustDDS is chatty at info level; keep it at warn unless asked. ros2-client's node module
    // logs an ERROR for every match-count query made before the first match (we poll those
    // while waiting for peers) and when a node outlives its runtime: it stays quiet.
    // RustDDS's discovery DB logs an ERROR whenever two participants declare /clock with
    // different types (ros2-client's own reader says builtin_interfaces/Time, ROS 2 and we say
    // rosgraph_msgs/Clock), and its pubsub module logs ERRORs for endpoints dropped during
    // shutdown: both are noise, so they stay quiet too.
    let default = format!(
        "{level},rustdds=warn,rustdds::discovery::discovery_db=off,rustdds::dds::pubsub=off,\
         ros2_client=warn,ros2_client::node=off,ros2_client::distributions=error"
    );
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
