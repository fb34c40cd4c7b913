//! Camera frame preprocessing, shared by the `camera_encoder` node and `mbarl demo import`, so
//! that demonstrations and live observations go through exactly the same pixels.
//!
//! [`preprocess`] takes a `sensor_msgs/Image` (`rgb8`, `bgr8`, `mono8`, `rgba8`, `bgra8`) or a
//! `sensor_msgs/CompressedImage` (JPEG or PNG, recognised by its bytes), validates it, crops it
//! ([`Crop::CenterSquare`] by default, or a region of interest), and resizes it with
//! `fast_image_resize` (bilinear convolution, which averages when shrinking) to the encoder's
//! square input: an rgb8 [`Frame`], row-major, `size × size × 3` bytes.
//!
//! Bad input is a [`VisionError`], never a panic: unknown encodings and formats are named, a
//! wrong `step`, truncated data, zero or huge dimensions and a region of interest outside the
//! image are reported with the numbers involved.
//!
//! [`capture`] reads frames in-process from a camera, video file or GStreamer pipeline with
//! OpenCV (cargo feature `opencv`) and feeds them through the same [`preprocess`].
//!
//! ```
//! use mbarl_vision::{preprocess, ImageInput, PreprocessConfig};
//!
//! let data = vec![200u8; 8 * 4 * 3];
//! let input = ImageInput::Raw { width: 8, height: 4, encoding: "rgb8", step: 24, data: &data };
//! let frame = preprocess(&input, &PreprocessConfig { size: 2, ..Default::default() }).unwrap();
//! assert_eq!((frame.width, frame.height, frame.data.len()), (2, 2, 12));
//! assert!(frame.data.iter().all(|&v| v == 200));
//! ```

use std::io::Cursor;

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use mbarl_msgs::sensor_msgs::{CompressedImage, Image};
use mbarl_msgs::view::{CompressedImageView, ImageView};
use serde::{Deserialize, Serialize};

pub mod capture;

/// Largest accepted width or height, in pixels (compressed images are checked before decoding).
pub const MAX_DIMENSION: u32 = 16_384;
/// Largest accepted number of pixels (width × height): 64 Mpx.
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;
/// Largest accepted output size (the encoder's input is small).
pub const MAX_OUTPUT_SIZE: u32 = 1024;

/// What went wrong with a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisionError {
    #[error(
        "unsupported image encoding `{0}`: expected rgb8, bgr8, mono8, rgba8 or bgra8 (sensor_msgs/image_encodings)"
    )]
    UnsupportedEncoding(String),
    #[error(
        "unsupported compressed image format `{format}`: the data is neither JPEG nor PNG (starts with {magic})"
    )]
    UnsupportedFormat { format: String, magic: String },
    #[error("image has zero size ({width}x{height})")]
    ZeroSize { width: u32, height: u32 },
    #[error(
        "image too large ({width}x{height}): at most {MAX_DIMENSION} pixels per side and {MAX_PIXELS} pixels"
    )]
    TooLarge { width: u32, height: u32 },
    #[error(
        "wrong step {step} for a {width} pixels wide {encoding} image: a row needs at least {min} bytes"
    )]
    WrongStep {
        encoding: String,
        width: u32,
        step: u32,
        min: u64,
    },
    #[error(
        "truncated image data: {actual} bytes, a {height} rows image with step {step} needs {expected}"
    )]
    Truncated {
        step: u32,
        height: u32,
        expected: u64,
        actual: usize,
    },
    #[error("cannot decode {format} image: {reason}")]
    Decode { format: String, reason: String },
    #[error(
        "region of interest x={x} y={y} {width}x{height} is not inside the {image_width}x{image_height} image"
    )]
    BadRoi {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        image_width: u32,
        image_height: u32,
    },
    #[error("output size {0} is not in 1..={MAX_OUTPUT_SIZE}")]
    BadOutputSize(u32),
    #[error("resize failed: {0}")]
    Resize(String),
}

/// A camera frame as it arrives: the fields of `sensor_msgs/Image`, or of `CompressedImage`.
#[derive(Debug, Clone, Copy)]
pub enum ImageInput<'a> {
    Raw {
        width: u32,
        height: u32,
        encoding: &'a str,
        step: u32,
        data: &'a [u8],
    },
    Compressed {
        /// `CompressedImage.format` (e.g. `jpeg`, `png`, `rgb8; jpeg compressed bgr8`); the
        /// actual format is recognised from the data, this is only used in messages.
        format: &'a str,
        data: &'a [u8],
    },
}

impl<'a> From<&'a Image> for ImageInput<'a> {
    fn from(m: &'a Image) -> Self {
        ImageInput::Raw {
            width: m.width,
            height: m.height,
            encoding: &m.encoding,
            step: m.step,
            data: &m.data,
        }
    }
}

impl<'a> From<&'a ImageView<'a>> for ImageInput<'a> {
    fn from(m: &'a ImageView<'a>) -> Self {
        ImageInput::Raw {
            width: m.width,
            height: m.height,
            encoding: &m.encoding,
            step: m.step,
            data: m.data,
        }
    }
}

impl<'a> From<&'a CompressedImageView<'a>> for ImageInput<'a> {
    fn from(m: &'a CompressedImageView<'a>) -> Self {
        ImageInput::Compressed {
            format: &m.format,
            data: m.data,
        }
    }
}

impl<'a> From<&'a CompressedImage> for ImageInput<'a> {
    fn from(m: &'a CompressedImage) -> Self {
        ImageInput::Compressed {
            format: &m.format,
            data: &m.data,
        }
    }
}

/// Which part of the image the encoder sees, before resizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crop {
    /// The largest centred square (the default: no distortion when resizing to a square).
    #[default]
    CenterSquare,
    /// The whole image (stretched to a square if it is not one).
    Full,
    /// A region of interest in source pixels (stretched to a square if it is not one).
    Roi {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
}

impl std::str::FromStr for Crop {
    type Err = String;

    /// `center`, `full`, or `X,Y,WIDTH,HEIGHT`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "center" | "centre" | "center_square" => Ok(Crop::CenterSquare),
            "full" | "none" => Ok(Crop::Full),
            roi => {
                let v: Vec<u32> = roi
                    .split(',')
                    .map(|p| p.trim().parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        format!("crop `{s}`: expected center, full or X,Y,WIDTH,HEIGHT")
                    })?;
                match v[..] {
                    [x, y, width, height] => Ok(Crop::Roi {
                        x,
                        y,
                        width,
                        height,
                    }),
                    _ => Err(format!(
                        "crop `{s}`: expected center, full or X,Y,WIDTH,HEIGHT"
                    )),
                }
            }
        }
    }
}

/// How frames are prepared for the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreprocessConfig {
    /// Output width and height in pixels (the encoder's square input; default 64).
    pub size: u32,
    pub crop: Crop,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            size: 64,
            crop: Crop::CenterSquare,
        }
    }
}

/// A preprocessed frame: rgb8, row-major, `height × width × 3` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// A decoded full-size rgb8 image (before cropping and resizing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Decodes, crops and resizes one frame exactly as the camera encoder does.
pub fn preprocess(input: &ImageInput, cfg: &PreprocessConfig) -> Result<Frame, VisionError> {
    let mut frame = Frame::default();
    preprocess_into(input, cfg, &mut frame)?;
    Ok(frame)
}

/// [`preprocess`] into a frame whose buffer is reused (no allocation once it is large enough):
/// the same pixels, bit for bit. On error `frame` is left as it was.
pub fn preprocess_into(
    input: &ImageInput,
    cfg: &PreprocessConfig,
    frame: &mut Frame,
) -> Result<(), VisionError> {
    if cfg.size == 0 || cfg.size > MAX_OUTPUT_SIZE {
        return Err(VisionError::BadOutputSize(cfg.size));
    }
    let rgb = match *input {
        ImageInput::Raw {
            width,
            height,
            encoding,
            step,
            data,
        } => {
            let layout = RawLayout::check(width, height, encoding, step, data)?;
            let roi = crop_box(cfg.crop, width, height)?;
            if (roi.2, roi.3) == (cfg.size, cfg.size) {
                // The crop is already the output size: it is the frame (as `resize` keeps it).
                layout.to_rgb_into(data, roi, &mut frame.data);
                (frame.width, frame.height) = (cfg.size, cfg.size);
                return Ok(());
            }
            layout.to_rgb(data, roi)
        }
        ImageInput::Compressed { .. } => {
            let full = decode(input)?;
            let roi = crop_box(cfg.crop, full.width, full.height)?;
            if roi == (0, 0, full.width, full.height) {
                full
            } else {
                let layout = RawLayout {
                    width: full.width,
                    step: full.width as usize * 3,
                    channels: Channels::Rgb,
                };
                layout.to_rgb(&full.data, roi)
            }
        }
    };
    *frame = resize(rgb, cfg.size)?;
    Ok(())
}

/// When preprocessing leaves the pixels as they are (rgb8 rows that already are the output
/// frame: no crop, conversion or resize), the bytes of the image's data that are the frame:
/// `preprocess` returns exactly `data[range]` (a `size × size` frame), so a caller may use
/// them in place. `Ok(None)` when preprocessing changes the pixels; errors are `preprocess`'s.
pub fn unchanged_pixels(
    input: &ImageInput,
    cfg: &PreprocessConfig,
) -> Result<Option<std::ops::Range<usize>>, VisionError> {
    if cfg.size == 0 || cfg.size > MAX_OUTPUT_SIZE {
        return Err(VisionError::BadOutputSize(cfg.size));
    }
    let ImageInput::Raw {
        width,
        height,
        encoding,
        step,
        data,
    } = *input
    else {
        return Ok(None);
    };
    let layout = RawLayout::check(width, height, encoding, step, data)?;
    let (x0, y0, w, h) = crop_box(cfg.crop, width, height)?;
    Ok(layout
        .packed_rgb_rows((x0, y0, w, h))
        .filter(|_| (w, h) == (cfg.size, cfg.size)))
}

/// Decodes a frame to full-size rgb8 without cropping or resizing (contact sheets, tools).
pub fn decode(input: &ImageInput) -> Result<Rgb, VisionError> {
    match *input {
        ImageInput::Raw {
            width,
            height,
            encoding,
            step,
            data,
        } => {
            let layout = RawLayout::check(width, height, encoding, step, data)?;
            Ok(layout.to_rgb(data, (0, 0, width, height)))
        }
        ImageInput::Compressed { format, data } => decode_compressed(format, data),
    }
}

#[derive(Debug, Clone, Copy)]
enum Channels {
    Rgb,
    Bgr,
    Mono,
    Rgba,
    Bgra,
}

impl Channels {
    fn of(encoding: &str) -> Result<Self, VisionError> {
        Ok(match encoding {
            "rgb8" => Channels::Rgb,
            "bgr8" => Channels::Bgr,
            "mono8" => Channels::Mono,
            "rgba8" => Channels::Rgba,
            "bgra8" => Channels::Bgra,
            other => return Err(VisionError::UnsupportedEncoding(other.to_string())),
        })
    }

    fn bytes(self) -> usize {
        match self {
            Channels::Mono => 1,
            Channels::Rgb | Channels::Bgr => 3,
            Channels::Rgba | Channels::Bgra => 4,
        }
    }
}

struct RawLayout {
    width: u32,
    step: usize,
    channels: Channels,
}

impl RawLayout {
    fn check(
        width: u32,
        height: u32,
        encoding: &str,
        step: u32,
        data: &[u8],
    ) -> Result<Self, VisionError> {
        let channels = Channels::of(encoding)?;
        check_dimensions(width, height)?;
        let min = width as u64 * channels.bytes() as u64;
        if (step as u64) < min {
            return Err(VisionError::WrongStep {
                encoding: encoding.to_string(),
                width,
                step,
                min,
            });
        }
        // The last row only needs its pixels, not the full step (some drivers trim it).
        let expected = step as u64 * (height as u64 - 1) + min;
        if (data.len() as u64) < expected {
            return Err(VisionError::Truncated {
                step,
                height,
                expected: step as u64 * height as u64,
                actual: data.len(),
            });
        }
        Ok(Self {
            width,
            step: step as usize,
            channels,
        })
    }

    /// The pixels of `roi` = (x, y, w, h) as packed rgb8.
    fn to_rgb(&self, data: &[u8], roi: (u32, u32, u32, u32)) -> Rgb {
        let mut out = Vec::new();
        self.to_rgb_into(data, roi, &mut out);
        Rgb {
            width: roi.2,
            height: roi.3,
            data: out,
        }
    }

    /// When the pixels of `roi` are whole packed rgb8 rows, their bytes in the data: they
    /// are the rgb8 image of `roi` as it is (`check` made sure the rows are there).
    fn packed_rgb_rows(&self, roi: (u32, u32, u32, u32)) -> Option<std::ops::Range<usize>> {
        let (x0, y0, w, h) = roi;
        let (y0, w, h) = (y0 as usize, w as usize, h as usize);
        (matches!(self.channels, Channels::Rgb) && x0 == 0 && self.step == w * 3)
            .then(|| y0 * self.step..(y0 + h) * self.step)
    }

    /// [`RawLayout::to_rgb`] into `out` (cleared first).
    fn to_rgb_into(&self, data: &[u8], roi: (u32, u32, u32, u32), out: &mut Vec<u8>) {
        out.clear();
        if let Some(rows) = self.packed_rgb_rows(roi) {
            // Whole packed rows: one block.
            out.extend_from_slice(&data[rows]);
            return;
        }
        let (x0, y0, w, h) = roi;
        let (x0, y0, w, h) = (x0 as usize, y0 as usize, w as usize, h as usize);
        debug_assert!(x0 + w <= self.width as usize);
        let bpp = self.channels.bytes();
        out.reserve(w * h * 3);
        for row in y0..y0 + h {
            let start = row * self.step + x0 * bpp;
            let src = &data[start..start + w * bpp];
            match self.channels {
                Channels::Rgb => out.extend_from_slice(src),
                Channels::Bgr => {
                    for p in src.chunks_exact(3) {
                        out.extend_from_slice(&[p[2], p[1], p[0]]);
                    }
                }
                Channels::Mono => {
                    for &v in src {
                        out.extend_from_slice(&[v, v, v]);
                    }
                }
                Channels::Rgba => {
                    for p in src.chunks_exact(4) {
                        out.extend_from_slice(&p[..3]);
                    }
                }
                Channels::Bgra => {
                    for p in src.chunks_exact(4) {
                        out.extend_from_slice(&[p[2], p[1], p[0]]);
                    }
                }
            }
        }
    }
}

fn check_dimensions(width: u32, height: u32) -> Result<(), VisionError> {
    if width == 0 || height == 0 {
        return Err(VisionError::ZeroSize { width, height });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION || width as u64 * height as u64 > MAX_PIXELS
    {
        return Err(VisionError::TooLarge { width, height });
    }
    Ok(())
}

/// The crop rectangle (x, y, w, h) for an image of `width × height`.
fn crop_box(crop: Crop, width: u32, height: u32) -> Result<(u32, u32, u32, u32), VisionError> {
    Ok(match crop {
        Crop::Full => (0, 0, width, height),
        Crop::CenterSquare => {
            let side = width.min(height);
            ((width - side) / 2, (height - side) / 2, side, side)
        }
        Crop::Roi {
            x,
            y,
            width: w,
            height: h,
        } => {
            let inside = w > 0
                && h > 0
                && x as u64 + w as u64 <= width as u64
                && y as u64 + h as u64 <= height as u64;
            if !inside {
                return Err(VisionError::BadRoi {
                    x,
                    y,
                    width: w,
                    height: h,
                    image_width: width,
                    image_height: height,
                });
            }
            (x, y, w, h)
        }
    })
}

fn decode_compressed(format: &str, data: &[u8]) -> Result<Rgb, VisionError> {
    let kind = match image::guess_format(data) {
        Ok(image::ImageFormat::Jpeg) => image::ImageFormat::Jpeg,
        Ok(image::ImageFormat::Png) => image::ImageFormat::Png,
        _ => {
            let magic: Vec<String> = data.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Err(VisionError::UnsupportedFormat {
                format: format.to_string(),
                magic: if magic.is_empty() {
                    "nothing (empty data)".into()
                } else {
                    magic.join(" ")
                },
            });
        }
    };
    let name = if matches!(kind, image::ImageFormat::Jpeg) {
        "JPEG"
    } else {
        "PNG"
    };
    let decode_err = |e: image::ImageError| VisionError::Decode {
        format: name.to_string(),
        reason: e.to_string(),
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(data), kind);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let (width, height) = image::ImageReader::with_format(Cursor::new(data), kind)
        .into_dimensions()
        .map_err(decode_err)?;
    check_dimensions(width, height)?;
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => VisionError::TooLarge { width, height },
        e => decode_err(e),
    })?;
    let rgb = img.into_rgb8();
    Ok(Rgb {
        width: rgb.width(),
        height: rgb.height(),
        data: rgb.into_raw(),
    })
}

fn resize(rgb: Rgb, size: u32) -> Result<Frame, VisionError> {
    if rgb.width == size && rgb.height == size {
        return Ok(Frame {
            width: size,
            height: size,
            data: rgb.data,
        });
    }
    let src = ImageRef::new(rgb.width, rgb.height, &rgb.data, PixelType::U8x3)
        .map_err(|e| VisionError::Resize(e.to_string()))?;
    let mut dst = FirImage::new(size, size, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| VisionError::Resize(e.to_string()))?;
    Ok(Frame {
        width: size,
        height: size,
        data: dst.into_vec(),
    })
}

/// Tiles frames (all rgb8, any sizes up to `cell`) into one rgb8 image, `columns` per row, with
/// a 2-pixel dark grid: the contact sheet `mbarl demo inspect` writes.
pub fn contact_sheet(frames: &[Frame], columns: u32, cell: u32) -> Rgb {
    let columns = columns.max(1);
    let rows = (frames.len() as u32).div_ceil(columns).max(1);
    let pad = 2u32;
    let width = columns * (cell + pad) + pad;
    let height = rows * (cell + pad) + pad;
    let mut data = vec![24u8; (width * height * 3) as usize];
    for (i, f) in frames.iter().enumerate() {
        let (cx, cy) = (i as u32 % columns, i as u32 / columns);
        let (x0, y0) = (pad + cx * (cell + pad), pad + cy * (cell + pad));
        let w = f.width.min(cell) as usize;
        for y in 0..f.height.min(cell) as usize {
            let src = &f.data[y * f.width as usize * 3..][..w * 3];
            let dst = ((y0 as usize + y) * width as usize + x0 as usize) * 3;
            data[dst..dst + w * 3].copy_from_slice(src);
        }
    }
    Rgb {
        width,
        height,
        data,
    }
}

/// Encodes rgb8 pixels as PNG.
pub fn encode_png(rgb: &Rgb) -> Result<Vec<u8>, VisionError> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            &rgb.data,
            rgb.width,
            rgb.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| VisionError::Decode {
            format: "PNG".into(),
            reason: e.to_string(),
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests;
