//! [`Camera`]: an OpenCV `VideoCapture` that yields preprocessed frames.
//!
//! OpenCV does not fail when a camera is missing: `VideoCapture` opens "nothing". We check
//! `is_opened()` (and, for paths, that the file or device exists) and name the source and the
//! likely cause. A read that returns no frame means end of file or camera lost.
use std::path::Path;
use std::time::Instant;

use opencv::core::{CV_8U, Mat};
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};

use super::{CaptureError, Captured, FrameSource, Source};
use crate::{ImageInput, PreprocessConfig, preprocess};

/// An open capture source.
pub struct Camera {
    name: String,
    cap: VideoCapture,
    mat: Mat,
}

impl Camera {
    /// Opens `source`; a missing or unusable camera, file or pipeline is a [`CaptureError::Open`]
    /// that names it and says what to check.
    pub fn open(source: &Source) -> Result<Self, CaptureError> {
        let name = source.to_string();
        let open_err = |reason: String| CaptureError::Open {
            camera: name.clone(),
            reason,
        };
        let cap = match source {
            Source::Index(i) => {
                let index = i32::try_from(*i).map_err(|_| open_err("index too large".into()))?;
                VideoCapture::new(index, videoio::CAP_ANY)
            }
            Source::Path(p) => {
                if !p.contains("://") && !Path::new(p).exists() {
                    return Err(open_err("no such file or device".into()));
                }
                let api = if p.starts_with("/dev/") {
                    videoio::CAP_V4L2
                } else {
                    videoio::CAP_ANY
                };
                VideoCapture::from_file(p, api)
            }
            Source::Pipeline(p) => VideoCapture::from_file(p, videoio::CAP_GSTREAMER),
        }
        .map_err(|e| open_err(format!("OpenCV error: {e}")))?;
        let opened = cap
            .is_opened()
            .map_err(|e| open_err(format!("OpenCV error: {e}")))?;
        if !opened {
            return Err(open_err(not_opened_hint(source).into()));
        }
        Ok(Self {
            name,
            cap,
            mat: Mat::default(),
        })
    }

    /// Reads the next frame at full size as rgb8 (tools, tests).
    pub fn read_rgb(&mut self) -> Result<crate::Rgb, CaptureError> {
        self.grab()?;
        let input = self.input()?;
        crate::decode(&input).map_err(|error| CaptureError::Preprocess {
            camera: self.name.clone(),
            error,
        })
    }

    /// Reads into `self.mat` (made continuous); no frame = end of file or camera lost.
    fn grab(&mut self) -> Result<(), CaptureError> {
        let read_err = |reason: String| CaptureError::Read {
            camera: self.name.clone(),
            reason,
        };
        let got = self
            .cap
            .read(&mut self.mat)
            .map_err(|e| read_err(format!("OpenCV error: {e}")))?;
        if !got || self.mat.empty() {
            return Err(read_err(
                "end of the video, or the camera was disconnected".into(),
            ));
        }
        if !self.mat.is_continuous() {
            self.mat = self
                .mat
                .try_clone()
                .map_err(|e| read_err(format!("OpenCV error: {e}")))?;
        }
        Ok(())
    }

    fn input(&self) -> Result<ImageInput<'_>, CaptureError> {
        mat_input(&self.mat).map_err(|reason| CaptureError::Format {
            camera: self.name.clone(),
            reason,
        })
    }
}

impl FrameSource for Camera {
    fn read_frame(&mut self, cfg: &PreprocessConfig) -> Result<Captured, CaptureError> {
        self.grab()?;
        let at = Instant::now();
        let frame = preprocess(&self.input()?, cfg).map_err(|error| CaptureError::Preprocess {
            camera: self.name.clone(),
            error,
        })?;
        Ok(Captured { at, frame })
    }
}

/// What to check when OpenCV opened nothing.
fn not_opened_hint(source: &Source) -> &'static str {
    match source {
        Source::Index(_) => {
            "OpenCV found no camera with this index (check `ls /dev/video*`, membership of the `video` group, and that no other program uses the camera)"
        }
        Source::Path(p) if p.starts_with("/dev/") => {
            "OpenCV cannot capture from this device (not a V4L2 capture device, no permission: `video` group, or another program uses it)"
        }
        Source::Path(_) => {
            "OpenCV cannot read it as a video (unsupported container or codec, or an unreachable stream)"
        }
        Source::Pipeline(_) => {
            "OpenCV could not start the pipeline (it must end in `appsink`; are OpenCV's GStreamer support and the plugins installed?)"
        }
    }
}

/// A continuous 8-bit OpenCV frame (BGR, mono or BGRA) as the equivalent `sensor_msgs/Image`
/// fields, so it takes the same preprocessing path as an Image message.
pub fn mat_input(mat: &Mat) -> Result<ImageInput<'_>, String> {
    if mat.depth() != CV_8U {
        return Err(format!("pixel depth code {} is not 8-bit", mat.depth()));
    }
    let encoding = match mat.channels() {
        1 => "mono8",
        3 => "bgr8",
        4 => "bgra8",
        n => return Err(format!("{n} channels (expected 1, 3 or 4)")),
    };
    if mat.dims() != 2 {
        return Err(format!("{} dimensions (expected 2)", mat.dims()));
    }
    let size = |v: i32| u32::try_from(v).map_err(|_| format!("negative size {v}"));
    let (width, height) = (size(mat.cols())?, size(mat.rows())?);
    let step = mat
        .mat_step()
        .first()
        .and_then(|&s| u32::try_from(s).ok())
        .ok_or_else(|| "no row step".to_string())?;
    let data = mat.data_bytes().map_err(|e| e.to_string())?;
    Ok(ImageInput::Raw {
        width,
        height,
        encoding,
        step,
        data,
    })
}

#[cfg(test)]
mod tests;
