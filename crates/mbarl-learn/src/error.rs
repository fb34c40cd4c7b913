//! The crate's error type.
use std::path::PathBuf;

/// Everything that can go wrong in mbarl-learn.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// The YAML configuration could not be parsed (unknown key, wrong type, ...).
    #[error("config: {0}")]
    Config(String),
    /// A configuration value is out of its valid range.
    #[error("config: invalid value for `{key}`: {reason}")]
    InvalidConfig { key: &'static str, reason: String },
    /// An input (batch, observation, bytes) does not have the expected shape or content.
    #[error("invalid input: {0}")]
    Input(String),
    /// A loss or output became NaN or infinite; the update was not applied.
    #[error("non-finite {what}: {value}")]
    NonFinite { what: &'static str, value: f64 },
    /// A libtorch error.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// A file-system error, with the path involved.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A replay chunk file is damaged beyond what reload repairs (a bad header).
    #[error("replay {path}: {reason}")]
    Replay { path: PathBuf, reason: String },
    /// Sampling asked for more than the buffer holds.
    #[error("replay: {0}")]
    NotEnoughData(String),
    /// A checkpoint is corrupted, of another format version, or of another architecture.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The requested device is not available.
    #[error("device: {0}")]
    Device(String),
}

impl LearnError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LearnError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = LearnError> = std::result::Result<T, E>;
