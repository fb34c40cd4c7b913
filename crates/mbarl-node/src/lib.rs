//! Shared logic of the mbarl learning nodes (camera_encoder, world_model, forward/backward
//! policy, demo_classifier), testable without ROS:
//!
//! - [`convert`] — `mbarl_msgs` Observation / Transition ↔ mbarl-learn replay records and tensors;
//! - [`bundle`] — checkpoint bundles (several var stores in one versioned, sha256-checked
//!   ModelCheckpoint) and their message conversion;
//! - [`store`] — `<run_dir>/checkpoints/<component>/v<version>.safetensors` with fallback to the
//!   previous valid version;
//! - [`demos`] — demo datasets (`<run_dir>/demos/<role>/<name>/`, MCAP bags of Transition);
//! - [`common`] — the parameters every learning node shares, run directory, config loading;
//! - [`metrics`] — `<run_dir>/metrics/<node>.csv`;
//! - [`task_states`] — the task state (`state_topic`) that goes with a joint state's stamp.
pub mod bundle;
pub mod common;
pub mod convert;
pub mod demos;
pub mod metrics;
pub mod store;
pub mod synth;
pub mod task_states;

/// Errors of the shared node logic.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Learn(#[from] mbarl_learn::LearnError),
    #[error("observation: {0}")]
    Observation(String),
    #[error("checkpoint `{component}`: {reason}")]
    Checkpoint { component: String, reason: String },
    #[error("demo dataset {path}: {reason}")]
    Demo { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config: {0}")]
    Config(String),
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;
