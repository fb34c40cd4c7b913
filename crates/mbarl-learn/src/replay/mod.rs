//! Replay: append-only, crash-safe chunk files on disk ([`chunk`]) and in-memory buffers with
//! uniform and sequence sampling ([`buffer`]).
//!
//! A run directory holds one sub-directory per buffer (`replay/forward`, `replay/backward`,
//! `replay/demo`, `replay/all`); the MBPO model buffer lives in memory
//! ([`crate::mbpo::LatentBuffer`]). Frames are kept as uint8 (H×W×3), everything else as f32.
pub mod buffer;
pub mod chunk;

pub use buffer::{BufferKind, LoadReport, ReplayBuffer};
pub use chunk::{ChunkWriter, ReplaySpec};

use crate::config::{LearnConfig, ObsMode};

/// Which phase produced a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Phase {
    Forward = 0,
    Backward = 1,
    Demo = 2,
    Eval = 3,
}

impl Phase {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Phase::Forward),
            1 => Some(Phase::Backward),
            2 => Some(Phase::Demo),
            3 => Some(Phase::Eval),
            _ => None,
        }
    }
}

/// One observation as nodes store it. `frame` is H×W×3 uint8 row-major RGB.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    pub frame: Option<Vec<u8>>,
    pub proprio: Vec<f32>,
    pub state: Option<Vec<f32>>,
}

/// One control step: what a node appends, one at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub obs: Observation,
    pub action: Vec<f32>,
    pub reward: f32,
    pub next_obs: Observation,
    pub phase: Phase,
    /// Episode / phase-segment id: consecutive steps of one phase run share it.
    pub segment: u64,
    /// Step index within the segment (a gap in steps breaks sequences).
    pub step: u32,
    /// The episode terminated after this step (no bootstrapping).
    pub done: bool,
    /// The phase ended after this step (a truncation, not a terminal).
    pub phase_end: bool,
}

impl ReplaySpec {
    /// The record layout the config's observations need.
    pub fn from_config(cfg: &LearnConfig) -> Self {
        let o = &cfg.obs;
        match o.mode {
            ObsMode::State => ReplaySpec {
                frame: None,
                proprio_dim: o.proprio_dim,
                state_dim: o.state_dim,
                action_dim: o.action_dim,
            },
            ObsMode::Pixels => ReplaySpec {
                frame: Some((o.frame_height, o.frame_width)),
                proprio_dim: o.proprio_dim,
                state_dim: 0,
                action_dim: o.action_dim,
            },
        }
    }
}
