use std::ops::ControlFlow;
use std::time::Duration;

use opencv::core::{CV_8UC1, CV_8UC3, Scalar, Size};
use opencv::videoio::VideoWriter;

use super::*;
use crate::capture::{Event, run};
use crate::{Crop, Frame};
use mbarl_msgs::sensor_msgs::Image;

/// A BGR Mat with a non-uniform pattern (so a channel swap or a shifted row would show).
fn bgr_pattern(width: i32, height: i32) -> Mat {
    let mut mat =
        Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(0.0)).expect("mat");
    for (i, v) in mat.data_bytes_mut().expect("bytes").iter_mut().enumerate() {
        *v = (i * 7 % 251) as u8;
    }
    mat
}

/// The same pixels as an rgb8 Image message (B and R swapped back).
fn rgb_image(mat: &Mat) -> Image {
    let bgr = mat.data_bytes().expect("bytes");
    let data: Vec<u8> = bgr
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    Image {
        width: mat.cols() as u32,
        height: mat.rows() as u32,
        encoding: "rgb8".into(),
        step: mat.cols() as u32 * 3,
        data,
        ..Default::default()
    }
}

#[test]
fn captured_pixels_match_the_image_topic_path() {
    let mat = bgr_pattern(40, 30);
    let msg = rgb_image(&mat);
    for cfg in [
        PreprocessConfig::default(),
        PreprocessConfig {
            size: 16,
            crop: Crop::Full,
        },
        PreprocessConfig {
            size: 8,
            crop: Crop::Roi {
                x: 3,
                y: 5,
                width: 20,
                height: 12,
            },
        },
    ] {
        let captured = preprocess(&mat_input(&mat).expect("input"), &cfg).expect("capture path");
        let topic = preprocess(&ImageInput::from(&msg), &cfg).expect("topic path");
        assert_eq!(captured, topic, "{cfg:?}");
    }
    // At the crop's own size nothing is resampled: the frame is the RGB pixels themselves.
    let same = PreprocessConfig {
        size: 30,
        crop: Crop::CenterSquare,
    };
    let full = preprocess(&mat_input(&mat).expect("input"), &same).expect("full");
    let expected: Vec<u8> = msg
        .data
        .chunks_exact(40 * 3)
        .flat_map(|row| row[5 * 3..35 * 3].to_vec())
        .collect();
    assert_eq!(full.data, expected);
}

#[test]
fn mono_frames_and_bad_depths() {
    let gray = Mat::new_rows_cols_with_default(4, 6, CV_8UC1, Scalar::all(90.0)).expect("mat");
    let cfg = PreprocessConfig {
        size: 2,
        crop: Crop::Full,
    };
    let f = preprocess(&mat_input(&gray).expect("mono"), &cfg).expect("frame");
    assert!(f.data.iter().all(|&v| v == 90));
    let float = Mat::new_rows_cols_with_default(4, 6, opencv::core::CV_32FC3, Scalar::all(0.5))
        .expect("mat");
    let err = mat_input(&float).expect_err("32-bit float is not 8-bit");
    assert!(err.contains("not 8-bit"), "{err}");
}

/// Known BGR colours, one per frame of the test clip.
const COLOURS: [[u8; 3]; 3] = [[20, 40, 220], [30, 200, 60], [210, 90, 10]];

/// Writes a 320x240 MJPG .avi with one solid-colour frame per entry of COLOURS.
fn write_clip(dir: &Path) -> String {
    let path = dir.join("clip.avi").to_string_lossy().into_owned();
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').expect("fourcc");
    let mut writer =
        VideoWriter::new(&path, fourcc, 10.0, Size::new(320, 240), true).expect("writer");
    assert!(
        writer.is_opened().expect("is_opened"),
        "cannot write {path}"
    );
    for [b, g, r] in COLOURS {
        let scalar = Scalar::new(b.into(), g.into(), r.into(), 0.0);
        let mat = Mat::new_rows_cols_with_default(240, 320, CV_8UC3, scalar).expect("mat");
        writer.write(&mat).expect("write");
    }
    writer.release().expect("release");
    path
}

fn close(frame_rgb: &[u8], [b, g, r]: [u8; 3]) -> bool {
    frame_rgb
        .chunks_exact(3)
        .all(|p| p[0].abs_diff(r) <= 6 && p[1].abs_diff(g) <= 6 && p[2].abs_diff(b) <= 6)
}

#[test]
fn a_video_file_is_captured_then_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_clip(dir.path());
    let source: Source = path.parse().expect("source");
    let mut cam = Camera::open(&source).expect("open clip");
    let full = cam.read_rgb().expect("first frame");
    assert_eq!((full.width, full.height), (320, 240));
    assert!(
        close(&full.data, COLOURS[0]),
        "colour {:?}",
        &full.data[..3]
    );
    let cfg = PreprocessConfig::default();
    for colour in &COLOURS[1..] {
        let c = cam.read_frame(&cfg).expect("frame");
        assert_eq!(
            (c.frame.width, c.frame.height, c.frame.data.len()),
            (64, 64, 64 * 64 * 3)
        );
        assert!(
            close(&c.frame.data, *colour),
            "colour {:?}",
            &c.frame.data[..3]
        );
    }
    let end = cam.read_frame(&cfg).expect_err("end of file");
    assert!(end.needs_reopen());
    assert!(end.to_string().contains(&path), "{end}");
    assert!(end.to_string().contains("end of the video"), "{end}");
}

#[test]
fn run_replays_a_file_after_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source: Source = write_clip(dir.path()).parse().expect("source");
    let mut frames: Vec<Frame> = Vec::new();
    let mut events = Vec::new();
    run(
        || Camera::open(&source),
        &PreprocessConfig::default(),
        Duration::ZERO,
        |e| {
            events.push(match e {
                Event::Opened => "opened",
                Event::Frame(c) => {
                    frames.push(c.frame);
                    "frame"
                }
                Event::Error(e) => e.kind(),
            });
            if events.len() < 6 {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        },
    );
    assert_eq!(
        events,
        ["opened", "frame", "frame", "frame", "read_failed", "opened"]
    );
    for (f, colour) in frames.iter().zip(COLOURS) {
        assert!(close(&f.data, colour));
    }
}

#[test]
fn a_gstreamer_pipeline_is_captured() {
    // videotestsrc's solid colour is ARGB: 0xff3366cc is r=0x33 g=0x66 b=0xcc.
    let pipeline = "videotestsrc num-buffers=2 pattern=solid-color foreground-color=0xff3366cc \
                    ! video/x-raw,format=BGR,width=320,height=240 ! appsink";
    let source: Source = pipeline.parse().expect("source");
    assert!(matches!(source, Source::Pipeline(_)));
    let mut cam = Camera::open(&source).expect("open pipeline");
    let full = cam.read_rgb().expect("frame");
    assert_eq!((full.width, full.height), (320, 240));
    assert!(
        close(&full.data, [0xcc, 0x66, 0x33]),
        "{:?}",
        &full.data[..3]
    );
    let bad = Camera::open(
        &"videotestsrc num-buffers=1 ! fakesink"
            .parse()
            .expect("source"),
    )
    .err()
    .expect("bad pipeline");
    assert!(
        bad.to_string()
            .starts_with("cannot open GStreamer pipeline `videotestsrc num-buffers=1 ! fakesink`"),
        "{bad}"
    );
}

#[test]
fn missing_sources_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing_file = dir.path().join("nope.avi").to_string_lossy().into_owned();
    for s in ["/dev/video_mbarl_missing", missing_file.as_str()] {
        let e = Camera::open(&s.parse().expect("source"))
            .err()
            .expect("missing");
        assert_eq!(e.kind(), "open_failed");
        assert_eq!(
            e.to_string(),
            format!("cannot open `{s}`: no such file or device")
        );
    }
    // Exists, but is no video: OpenCV opens nothing, without failing by itself.
    let junk = dir.path().join("junk.avi");
    std::fs::write(&junk, b"not a video").expect("write");
    let junk = junk.to_string_lossy().into_owned();
    let e = Camera::open(&junk.parse().expect("source"))
        .err()
        .expect("junk");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot open `{junk}`: OpenCV cannot read it")),
        "{e}"
    );
    // No camera with this index (no /dev/video99 here).
    let e = Camera::open(&Source::Index(99))
        .err()
        .expect("no camera 99");
    assert!(
        e.to_string()
            .starts_with("cannot open camera index 99: OpenCV found no camera"),
        "{e}"
    );
}
