use super::*;
use crate::Crop;

#[test]
fn sources_parse() {
    let p = |s: &str| s.parse::<Source>();
    assert_eq!(p("0"), Ok(Source::Index(0)));
    assert_eq!(p(" 2 "), Ok(Source::Index(2)));
    assert_eq!(p("/dev/video0"), Ok(Source::Path("/dev/video0".into())));
    assert_eq!(p("clip.avi"), Ok(Source::Path("clip.avi".into())));
    assert_eq!(
        p("rtsp://cam.local/stream"),
        Ok(Source::Path("rtsp://cam.local/stream".into()))
    );
    let pipeline = "v4l2src device=/dev/video0 ! videoconvert ! appsink";
    assert_eq!(p(pipeline), Ok(Source::Pipeline(pipeline.into())));
    assert_eq!(p("  "), Err(CaptureError::EmptySource));
    assert_eq!(Source::Index(1).to_string(), "camera index 1");
    assert_eq!(Source::Path("a.avi".into()).to_string(), "`a.avi`");
    assert!(
        Source::Pipeline(pipeline.into())
            .to_string()
            .starts_with("GStreamer pipeline `v4l2src")
    );
}

#[test]
fn error_kinds_and_reopen() {
    let open = CaptureError::Open {
        camera: "`/dev/video7`".into(),
        reason: "no such file or device".into(),
    };
    assert_eq!(
        open.to_string(),
        "cannot open `/dev/video7`: no such file or device"
    );
    assert!(open.needs_reopen());
    assert_eq!(open.kind(), "open_failed");
    let bad = CaptureError::Preprocess {
        camera: "camera index 0".into(),
        error: VisionError::BadOutputSize(0),
    };
    assert!(!bad.needs_reopen());
    assert_eq!(bad.kind(), "bad_image");
}

/// Yields its scripted results, then a read failure.
struct Fake(Vec<Result<u8, CaptureError>>);

impl FrameSource for Fake {
    fn read_frame(&mut self, _: &PreprocessConfig) -> Result<Captured, CaptureError> {
        let next = if self.0.is_empty() {
            Err(CaptureError::Read {
                camera: "fake".into(),
                reason: "lost".into(),
            })
        } else {
            self.0.remove(0)
        };
        next.map(|v| Captured {
            at: Instant::now(),
            frame: Frame {
                width: 1,
                height: 1,
                data: vec![v; 3],
            },
        })
    }
}

#[test]
fn run_retries_open_and_reopens_after_a_lost_camera() {
    let mut opens = 0;
    let open = || {
        opens += 1;
        if opens == 1 {
            return Err(CaptureError::Open {
                camera: "fake".into(),
                reason: "missing".into(),
            });
        }
        let bad = CaptureError::Format {
            camera: "fake".into(),
            reason: "odd".into(),
        };
        Ok(Fake(vec![Ok(opens), Err(bad), Ok(opens + 10)]))
    };
    let mut log = Vec::new();
    let cfg = PreprocessConfig {
        size: 1,
        crop: Crop::Full,
    };
    run(open, &cfg, Duration::ZERO, |e| {
        log.push(match e {
            Event::Opened => "opened".to_string(),
            Event::Frame(c) => format!("frame {}", c.frame.data[0]),
            Event::Error(e) => e.kind().to_string(),
        });
        if log.len() < 11 {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    assert_eq!(
        log,
        [
            "open_failed",
            "opened",
            "frame 2",
            "bad_format",
            "frame 12",
            "read_failed",
            "opened",
            "frame 3",
            "bad_format",
            "frame 13",
            "read_failed",
        ]
    );
}
