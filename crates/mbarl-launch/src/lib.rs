//! `mbarl launch`: the suite's graph described in one YAML file (like dora-rs and copper-rs),
//! run as a set of supervised processes.
//!
//! - [`config`]: the launch file (`config/launch/*.yaml`): run directory, parameter files,
//!   the simulator, the nodes and the restart policy.
//! - [`supervisor`]: starts every process with ROS 2 arguments (`--ros-args -r __node:=…
//!   --params-file … -p …`), prefixes each output line with the process name, restarts a process
//!   that dies with exponential backoff, and on Ctrl-C stops all of them (SIGINT, then SIGKILL
//!   after a grace period).
//! - [`log_file`]: each process's log file, rotated by size (`logs:` in the launch file).

pub mod config;
pub mod log_file;
pub mod stop;
pub mod supervisor;

pub use config::{LaunchConfig, LaunchError, ProcessSpec};
pub use stop::StopSignals;
pub use supervisor::{Supervisor, SupervisorEvent};
