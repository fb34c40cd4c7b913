//! In-process camera capture (`capture_source`, cargo feature `opencv`): a blocking thread
//! opens the source with OpenCV, preprocesses each frame like a topic frame and hands it, with
//! the instant it was read, to the node's loop. Open and read failures are logged (rate-limited),
//! counted (`capture.<kind>`) and retried after `capture_retry_s`; the node never stops on them.
use std::time::{Duration, Instant};

use mbarl_ros::counters::Counters;
use mbarl_vision::capture::{CaptureError, Source};
use mbarl_vision::{Frame, PreprocessConfig};
use tokio::sync::mpsc;

/// A captured frame and the instant it was read.
pub type CapturedFrame = (Instant, Frame);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "capture_source is `{0}`, but this camera_encoder was built without OpenCV capture: build it with `--features opencv` (cargo build --release -p camera_encoder --features opencv; needs apt clang libclang-dev libopencv-dev), or set capture_source to \"\" to subscribe to the image topics"
    )]
    NotBuilt(String),
    #[error("capture_source: {0}")]
    Source(#[from] CaptureError),
    #[error("capture_retry_s must be a finite number > 0, got {0}")]
    Retry(f64),
    #[error("cannot start the capture thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The parsed `capture_source` (`""` = none, use the image topics); an error when it is set
/// but capture is not compiled in.
pub fn parse_source(text: &str) -> Result<Option<Source>, StartError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    if !mbarl_vision::capture::AVAILABLE {
        return Err(StartError::NotBuilt(text.to_string()));
    }
    Ok(Some(text.parse()?))
}

/// `capture_retry_s` as a duration.
pub fn retry_interval(seconds: f64) -> Result<Duration, StartError> {
    if seconds.is_finite() && seconds > 0.0 && seconds < 1e6 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(StartError::Retry(seconds))
    }
}

/// Frames waiting for the node's loop; when it lags, newer frames are dropped (counted as
/// `dropped.capture`) rather than queued, so the camera thread never blocks.
#[cfg(feature = "opencv")]
const QUEUE: usize = 4;

/// Starts the capture thread; it stops when the receiver is dropped.
#[cfg(feature = "opencv")]
pub fn spawn(
    source: Source,
    pre: PreprocessConfig,
    retry: Duration,
    counters: Counters,
) -> Result<mpsc::Receiver<CapturedFrame>, StartError> {
    use std::ops::ControlFlow;

    use mbarl_ros::counters::RateLimitedWarn;
    use mbarl_vision::capture::{self, Camera, Event};
    use tokio::sync::mpsc::error::TrySendError;

    let (tx, rx) = mpsc::channel(QUEUE);
    let thread = std::thread::Builder::new().name("camera-capture".into());
    thread.spawn(move || {
        let warn = RateLimitedWarn::default();
        let received = counters.counter("received.capture");
        let dropped = counters.counter("dropped.capture");
        let emit = |event| match event {
            Event::Opened => {
                tracing::info!("capturing from {source}");
                ControlFlow::Continue(())
            }
            Event::Frame(c) => {
                received.increment();
                match tx.try_send((c.at, c.frame)) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(TrySendError::Full(_)) => {
                        dropped.increment();
                        ControlFlow::Continue(())
                    }
                    Err(TrySendError::Closed(_)) => ControlFlow::Break(()),
                }
            }
            Event::Error(e) => {
                let total = counters
                    .counter(&format!("capture.{}", e.kind()))
                    .increment();
                if let Some(suppressed) = warn.check() {
                    if e.needs_reopen() {
                        let retry_s = retry.as_secs_f64();
                        tracing::error!(total, suppressed, "{e}; retrying in {retry_s} s");
                    } else {
                        tracing::warn!(total, suppressed, "{e}");
                    }
                }
                if tx.is_closed() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
        };
        capture::run(|| Camera::open(&source), &pre, retry, emit);
    })?;
    Ok(rx)
}

/// Without OpenCV there is nothing to start ([`parse_source`] already refused the source).
#[cfg(not(feature = "opencv"))]
pub fn spawn(
    source: Source,
    _pre: PreprocessConfig,
    _retry: Duration,
    _counters: Counters,
) -> Result<mpsc::Receiver<CapturedFrame>, StartError> {
    Err(StartError::NotBuilt(source.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_source_means_the_image_topics() {
        assert!(matches!(parse_source(""), Ok(None)));
        assert!(matches!(parse_source("  "), Ok(None)));
    }

    #[test]
    fn a_source_needs_the_opencv_feature() {
        let parsed = parse_source("/dev/video0");
        if cfg!(feature = "opencv") {
            assert!(matches!(parsed, Ok(Some(Source::Path(p))) if p == "/dev/video0"));
        } else {
            let e = parsed.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("`/dev/video0`"), "{e}");
            assert!(e.contains("--features opencv"), "{e}");
        }
    }

    #[test]
    fn retry_must_be_positive() {
        assert_eq!(retry_interval(2.0).ok(), Some(Duration::from_secs(2)));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(retry_interval(bad).is_err(), "{bad}");
        }
    }
}
