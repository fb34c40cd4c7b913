//! Camera capture in-process: a V4L2 device, a video file or a GStreamer pipeline, read with
//! OpenCV (cargo feature `opencv`, `Camera`) and preprocessed exactly like topic frames.
//!
//! [`Source`] names what to open (`0` → device index, `/dev/video0` or `clip.avi` → path, a
//! string with ` ! ` → GStreamer pipeline); [`run`] opens it, reads frames until one fails, and
//! reopens after a pause, reporting everything as [`Event`]s so the caller logs and counts.
//! Source parsing and the retry loop need no OpenCV: they build and are tested without the
//! feature ([`AVAILABLE`] says whether `Camera` exists).
//!
//! OpenCV frames are BGR (or mono / BGRA): they go through [`crate::preprocess`] as the
//! `sensor_msgs/Image` encodings `bgr8` / `mono8` / `bgra8`, so a captured frame and an Image
//! message with the same pixels give the identical [`Frame`].
use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::{Frame, PreprocessConfig, VisionError};

#[cfg(feature = "opencv")]
mod camera;
#[cfg(feature = "opencv")]
pub use camera::{Camera, mat_input};

/// Is OpenCV capture compiled in (cargo feature `opencv`)?
pub const AVAILABLE: bool = cfg!(feature = "opencv");

/// What to capture from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A camera by index (`0` is `/dev/video0` with V4L2).
    Index(u32),
    /// A device (`/dev/video0`), a video file (`clip.avi`) or a stream URL (`rtsp://…`).
    Path(String),
    /// A GStreamer pipeline ending in `appsink`, e.g. `v4l2src ! videoconvert ! appsink`.
    Pipeline(String),
}

impl FromStr for Source {
    type Err = CaptureError;

    fn from_str(s: &str) -> Result<Self, CaptureError> {
        let s = s.trim();
        if s.is_empty() {
            Err(CaptureError::EmptySource)
        } else if let Ok(i) = s.parse::<u32>() {
            Ok(Source::Index(i))
        } else if s.contains(" ! ") {
            Ok(Source::Pipeline(s.to_string()))
        } else {
            Ok(Source::Path(s.to_string()))
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Index(i) => write!(f, "camera index {i}"),
            Source::Path(p) => write!(f, "`{p}`"),
            Source::Pipeline(p) => write!(f, "GStreamer pipeline `{p}`"),
        }
    }
}

/// What went wrong while capturing; every message names the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "empty capture source: expected a device index (0), a device or video file path (/dev/video0, clip.avi) or a GStreamer pipeline (v4l2src ! videoconvert ! appsink)"
    )]
    EmptySource,
    #[error("cannot open {camera}: {reason}")]
    Open { camera: String, reason: String },
    #[error("no frame from {camera}: {reason}")]
    Read { camera: String, reason: String },
    #[error("unsupported frame from {camera}: {reason}")]
    Format { camera: String, reason: String },
    #[error("frame from {camera}: {error}")]
    Preprocess { camera: String, error: VisionError },
}

impl CaptureError {
    /// Counter suffix (`capture.<kind>`).
    pub fn kind(&self) -> &'static str {
        match self {
            CaptureError::EmptySource | CaptureError::Open { .. } => "open_failed",
            CaptureError::Read { .. } => "read_failed",
            CaptureError::Format { .. } => "bad_format",
            CaptureError::Preprocess { .. } => "bad_image",
        }
    }

    /// Does the source have to be reopened (camera lost, end of file), or was it one bad frame?
    pub fn needs_reopen(&self) -> bool {
        matches!(
            self,
            CaptureError::EmptySource | CaptureError::Open { .. } | CaptureError::Read { .. }
        )
    }
}

/// A preprocessed frame and when it was read (just after the read returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub at: Instant,
    pub frame: Frame,
}

/// An opened source that yields preprocessed frames (`Camera`, or a fake in tests).
pub trait FrameSource {
    /// Blocks until the next frame. A [`CaptureError::Read`] ends this source (reopen it).
    fn read_frame(&mut self, cfg: &PreprocessConfig) -> Result<Captured, CaptureError>;
}

/// What [`run`] reports.
#[derive(Debug)]
pub enum Event {
    /// The source is open (again); frames follow.
    Opened,
    Frame(Captured),
    /// Open or read failed (retry after the pause follows when [`CaptureError::needs_reopen`]),
    /// or one frame was unusable (reading goes on).
    Error(CaptureError),
}

/// Opens with `open`, reads frames until a read fails, waits `retry`, and opens again, forever,
/// until `emit` returns `Break` (e.g. the receiver is gone). Never panics on camera trouble.
pub fn run<S: FrameSource>(
    mut open: impl FnMut() -> Result<S, CaptureError>,
    cfg: &PreprocessConfig,
    retry: Duration,
    mut emit: impl FnMut(Event) -> ControlFlow<()>,
) {
    while run_once(&mut open, cfg, &mut emit).is_continue() {
        std::thread::sleep(retry);
    }
}

/// One open and read-until-failure; `Break` when `emit` asked to stop.
fn run_once<S: FrameSource>(
    open: &mut impl FnMut() -> Result<S, CaptureError>,
    cfg: &PreprocessConfig,
    emit: &mut impl FnMut(Event) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut source = match open() {
        Ok(s) => s,
        Err(e) => return emit(Event::Error(e)),
    };
    emit(Event::Opened)?;
    loop {
        match source.read_frame(cfg) {
            Ok(c) => emit(Event::Frame(c))?,
            Err(e) if e.needs_reopen() => return emit(Event::Error(e)),
            Err(e) => emit(Event::Error(e))?,
        }
    }
}

#[cfg(test)]
mod tests;
