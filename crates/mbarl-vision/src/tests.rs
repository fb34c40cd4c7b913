use super::*;

fn pattern(width: u32, height: u32) -> Vec<u8> {
    (0..width * height * 3)
        .map(|i| (i * 7 % 251) as u8)
        .collect()
}

fn raw<'a>(
    width: u32,
    height: u32,
    encoding: &'a str,
    step: u32,
    data: &'a [u8],
) -> ImageInput<'a> {
    ImageInput::Raw {
        width,
        height,
        encoding,
        step,
        data,
    }
}

fn same_size(size: u32) -> PreprocessConfig {
    PreprocessConfig {
        size,
        crop: Crop::Full,
    }
}

#[test]
fn rgb8_at_the_output_size_is_unchanged() {
    let data = pattern(64, 64);
    let f = preprocess(
        &raw(64, 64, "rgb8", 192, &data),
        &PreprocessConfig::default(),
    )
    .unwrap();
    assert_eq!((f.width, f.height), (64, 64));
    assert_eq!(f.data, data);
}

#[test]
fn bgr8_swaps_channels() {
    let data = [1u8, 2, 3, 4, 5, 6];
    let f = preprocess(
        &raw(2, 1, "bgr8", 6, &data),
        &PreprocessConfig {
            size: 1,
            crop: Crop::Roi {
                x: 1,
                y: 0,
                width: 1,
                height: 1,
            },
        },
    )
    .unwrap();
    assert_eq!(f.data, [6, 5, 4]);
    let f = preprocess(&raw(2, 1, "bgr8", 6, &data), &same_size(2)).unwrap();
    assert_eq!(f.data.len(), 12);
    let full = decode(&raw(2, 1, "bgr8", 6, &data)).unwrap();
    assert_eq!(full.data, [3, 2, 1, 6, 5, 4]);
}

#[test]
fn mono8_rgba8_bgra8() {
    let mono = [10u8, 20, 30, 40];
    assert_eq!(
        decode(&raw(2, 2, "mono8", 2, &mono)).unwrap().data,
        [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]
    );
    let rgba = [1u8, 2, 3, 255, 4, 5, 6, 0];
    assert_eq!(
        decode(&raw(2, 1, "rgba8", 8, &rgba)).unwrap().data,
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        decode(&raw(2, 1, "bgra8", 8, &rgba)).unwrap().data,
        [3, 2, 1, 6, 5, 4]
    );
    let f = preprocess(&raw(2, 2, "mono8", 2, &mono), &same_size(2)).unwrap();
    assert_eq!(f.data, [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]);
}

#[test]
fn row_padding_is_skipped() {
    // 2x2 rgb8 rows padded to 8 bytes.
    let data = [1u8, 1, 1, 2, 2, 2, 99, 99, 3, 3, 3, 4, 4, 4, 99, 99];
    let f = decode(&raw(2, 2, "rgb8", 8, &data)).unwrap();
    assert_eq!(f.data, [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
    // The last row may omit its padding.
    let f = decode(&raw(2, 2, "rgb8", 8, &data[..14])).unwrap();
    assert_eq!(f.data, [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
}

#[test]
fn center_square_crop_then_resize() {
    // 6x2: centre square is columns 2..4.
    let mut data = vec![0u8; 6 * 2 * 3];
    for y in 0..2 {
        for x in 2..4 {
            let i = (y * 6 + x) * 3;
            data[i..i + 3].copy_from_slice(&[255, 128, 7]);
        }
    }
    let f = preprocess(
        &raw(6, 2, "rgb8", 18, &data),
        &PreprocessConfig {
            size: 2,
            crop: Crop::CenterSquare,
        },
    )
    .unwrap();
    assert_eq!(f.data, [255, 128, 7].repeat(4));
    let f = preprocess(
        &raw(6, 2, "rgb8", 18, &data),
        &PreprocessConfig {
            size: 1,
            crop: Crop::CenterSquare,
        },
    )
    .unwrap();
    assert_eq!(f.data, [255, 128, 7]);
}

#[test]
fn downscaling_averages() {
    // 4x4 checkerboard of 0 and 200 → 2x2 of ~100.
    let data: Vec<u8> = (0..16)
        .flat_map(|i| {
            let v = if (i % 4 + i / 4) % 2 == 0 { 0 } else { 200 };
            [v, v, v]
        })
        .collect();
    let f = preprocess(&raw(4, 4, "rgb8", 12, &data), &same_size(2)).unwrap();
    for v in f.data {
        assert!((90..=110).contains(&v), "{v}");
    }
}

#[test]
fn roi_crop_and_bad_roi() {
    let data = pattern(8, 8);
    let roi = Crop::Roi {
        x: 2,
        y: 3,
        width: 4,
        height: 4,
    };
    let f = preprocess(
        &raw(8, 8, "rgb8", 24, &data),
        &PreprocessConfig { size: 4, crop: roi },
    )
    .unwrap();
    let expect: Vec<u8> = (3..7)
        .flat_map(|y| data[(y * 8 + 2) * 3..(y * 8 + 6) * 3].to_vec())
        .collect();
    assert_eq!(f.data, expect);
    let bad = Crop::Roi {
        x: 6,
        y: 0,
        width: 4,
        height: 4,
    };
    let e = preprocess(
        &raw(8, 8, "rgb8", 24, &data),
        &PreprocessConfig { size: 4, crop: bad },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            VisionError::BadRoi {
                x: 6,
                image_width: 8,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("8x8"), "{e}");
}

#[test]
fn crop_parses() {
    assert_eq!("center".parse::<Crop>().unwrap(), Crop::CenterSquare);
    assert_eq!("full".parse::<Crop>().unwrap(), Crop::Full);
    assert_eq!(
        "1,2,3,4".parse::<Crop>().unwrap(),
        Crop::Roi {
            x: 1,
            y: 2,
            width: 3,
            height: 4
        }
    );
    assert!("1,2,3".parse::<Crop>().is_err());
    assert!("square".parse::<Crop>().is_err());
}

#[test]
fn unknown_encoding_is_named() {
    let data = [0u8; 16];
    let e = preprocess(&raw(2, 2, "16UC1", 4, &data), &PreprocessConfig::default()).unwrap_err();
    assert_eq!(e, VisionError::UnsupportedEncoding("16UC1".into()));
    assert!(e.to_string().contains("16UC1"));
    let e = decode(&raw(2, 2, "yuv422", 4, &data)).unwrap_err();
    assert!(e.to_string().contains("yuv422"), "{e}");
}

#[test]
fn wrong_step_truncated_zero_and_huge() {
    let data = pattern(4, 4);
    let e = preprocess(&raw(4, 4, "rgb8", 10, &data), &PreprocessConfig::default()).unwrap_err();
    assert!(
        matches!(
            e,
            VisionError::WrongStep {
                step: 10,
                min: 12,
                ..
            }
        ),
        "{e}"
    );
    let e = preprocess(
        &raw(4, 4, "rgb8", 12, &data[..40]),
        &PreprocessConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            VisionError::Truncated {
                expected: 48,
                actual: 40,
                ..
            }
        ),
        "{e}"
    );
    let e = preprocess(&raw(0, 4, "rgb8", 0, &data), &PreprocessConfig::default()).unwrap_err();
    assert!(
        matches!(
            e,
            VisionError::ZeroSize {
                width: 0,
                height: 4
            }
        ),
        "{e}"
    );
    let e = preprocess(
        &raw(u32::MAX, u32::MAX, "rgb8", u32::MAX, &data),
        &PreprocessConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e, VisionError::TooLarge { .. }), "{e}");
    let e = preprocess(
        &raw(100_000, 2, "mono8", 100_000, &data),
        &PreprocessConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e, VisionError::TooLarge { .. }), "{e}");
    let e = preprocess(
        &raw(4, 4, "rgb8", 12, &data),
        &PreprocessConfig {
            size: 0,
            crop: Crop::Full,
        },
    )
    .unwrap_err();
    assert_eq!(e, VisionError::BadOutputSize(0));
}

fn encode(format: image::ImageFormat, w: u32, h: u32, data: &[u8]) -> Vec<u8> {
    let img = image::RgbImage::from_raw(w, h, data.to_vec()).unwrap();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn png_is_lossless() {
    let data = pattern(16, 16);
    let png = encode(image::ImageFormat::Png, 16, 16, &data);
    let input = ImageInput::Compressed {
        format: "png",
        data: &png,
    };
    let f = preprocess(&input, &same_size(16)).unwrap();
    assert_eq!(f.data, data);
    // Same pixels as the raw image through the same function.
    let raw_f = preprocess(
        &raw(16, 16, "rgb8", 48, &data),
        &PreprocessConfig {
            size: 8,
            crop: Crop::CenterSquare,
        },
    )
    .unwrap();
    let png_f = preprocess(
        &input,
        &PreprocessConfig {
            size: 8,
            crop: Crop::CenterSquare,
        },
    )
    .unwrap();
    assert_eq!(raw_f, png_f);
}

#[test]
fn jpeg_decodes_close_to_the_source() {
    let data: Vec<u8> = (0..32 * 24)
        .flat_map(|i| {
            let x = (i % 32) as u8;
            [x * 8, 100, 255 - x * 8]
        })
        .collect();
    let jpg = encode(image::ImageFormat::Jpeg, 32, 24, &data);
    let msg = CompressedImage {
        format: "rgb8; jpeg compressed bgr8".into(),
        data: jpg,
        ..Default::default()
    };
    let full = decode(&ImageInput::from(&msg)).unwrap();
    assert_eq!((full.width, full.height), (32, 24));
    let err: f64 = full
        .data
        .iter()
        .zip(&data)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / data.len() as f64;
    assert!(err < 6.0, "mean abs error {err}");
    let f = preprocess(&ImageInput::from(&msg), &PreprocessConfig::default()).unwrap();
    assert_eq!((f.width, f.height, f.data.len()), (64, 64, 64 * 64 * 3));
}

#[test]
fn unknown_or_corrupt_compressed_data() {
    let e = decode(&ImageInput::Compressed {
        format: "webp",
        data: b"RIFF0000WEBP",
    })
    .unwrap_err();
    assert!(
        matches!(&e, VisionError::UnsupportedFormat { format, .. } if format == "webp"),
        "{e}"
    );
    assert!(e.to_string().contains("52 49 46 46"), "{e}");
    let e = decode(&ImageInput::Compressed {
        format: "jpeg",
        data: &[],
    })
    .unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let mut jpg = encode(image::ImageFormat::Jpeg, 16, 16, &pattern(16, 16));
    jpg.truncate(jpg.len() / 2);
    jpg.extend_from_slice(&[0xff, 0xd9]);
    // Truncated scan data: an error or a (partially grey) image, never a panic.
    let _ = decode(&ImageInput::Compressed {
        format: "jpeg",
        data: &jpg,
    });
    let header_only = &encode(image::ImageFormat::Jpeg, 16, 16, &pattern(16, 16))[..20];
    let e = decode(&ImageInput::Compressed {
        format: "jpeg",
        data: header_only,
    })
    .unwrap_err();
    assert!(matches!(e, VisionError::Decode { .. }), "{e}");
}

#[test]
fn image_message_conversion() {
    let msg = Image {
        width: 2,
        height: 1,
        encoding: "rgb8".into(),
        step: 6,
        data: vec![1, 2, 3, 4, 5, 6],
        ..Default::default()
    };
    let f = preprocess(&ImageInput::from(&msg), &same_size(2)).unwrap();
    assert_eq!(f.data.len(), 12);
}

#[test]
fn contact_sheet_and_png() {
    let frames = vec![
        Frame {
            width: 2,
            height: 2,
            data: vec![255; 12]
        };
        3
    ];
    let sheet = contact_sheet(&frames, 2, 2);
    assert_eq!((sheet.width, sheet.height), (2 * 4 + 2, 2 * 4 + 2));
    let png = encode_png(&sheet).unwrap();
    let back = decode(&ImageInput::Compressed {
        format: "png",
        data: &png,
    })
    .unwrap();
    assert_eq!(back, sheet);
}

#[test]
fn preprocess_into_a_reused_frame_is_preprocess() {
    let rgb = pattern(40, 30);
    let padded: Vec<u8> = rgb
        .chunks(120)
        .flat_map(|row| row.iter().copied().chain([9u8; 8]))
        .collect();
    let mono = pattern(40, 10);
    let png = encode(image::ImageFormat::Png, 40, 30, &rgb);
    let inputs = [
        raw(40, 30, "rgb8", 120, &rgb),
        raw(40, 30, "rgb8", 128, &padded),
        raw(40, 30, "bgr8", 120, &rgb),
        raw(30, 40, "rgb8", 90, &rgb),
        raw(40, 30, "mono8", 40, &mono),
        ImageInput::Compressed {
            format: "png",
            data: &png,
        },
    ];
    let configs = [
        PreprocessConfig::default(),
        PreprocessConfig {
            size: 30,
            crop: Crop::CenterSquare,
        },
        same_size(40),
        PreprocessConfig {
            size: 8,
            crop: Crop::Roi {
                x: 2,
                y: 3,
                width: 8,
                height: 8,
            },
        },
    ];
    // A dirty buffer, larger than any frame, reused for every case.
    let mut frame = Frame {
        width: 1,
        height: 1,
        data: vec![0xAB; 64 * 64 * 3 + 100],
    };
    for input in &inputs {
        for cfg in &configs {
            let want = preprocess(input, cfg);
            let got = preprocess_into(input, cfg, &mut frame).map(|()| frame.clone());
            assert_eq!(got, want, "{input:?} {cfg:?}");
        }
    }
    // An error leaves the frame as it was.
    let before = frame.clone();
    assert!(
        preprocess_into(
            &raw(40, 30, "rgb8", 120, &rgb[..100]),
            &configs[0],
            &mut frame
        )
        .is_err()
    );
    assert_eq!(frame, before);
}

#[test]
fn unchanged_pixels_are_what_preprocess_returns() {
    let square = pattern(8, 8);
    let tall = pattern(8, 12);
    let padded: Vec<u8> = square
        .chunks(24)
        .flat_map(|row| row.iter().copied().chain([9u8; 4]))
        .collect();
    let cfg8 = PreprocessConfig {
        size: 8,
        crop: Crop::CenterSquare,
    };
    // Unchanged: rgb8 rows that are the output frame (also a centred crop of a tall image,
    // which is whole rows).
    for (input, cfg) in [
        (raw(8, 8, "rgb8", 24, &square), cfg8),
        (raw(8, 12, "rgb8", 24, &tall), cfg8),
        (raw(8, 8, "rgb8", 24, &square), same_size(8)),
    ] {
        let range = unchanged_pixels(&input, &cfg).unwrap().expect("unchanged");
        let ImageInput::Raw { data, .. } = input else {
            unreachable!()
        };
        assert_eq!(data[range].to_vec(), preprocess(&input, &cfg).unwrap().data);
    }
    // Changed: padded rows, another encoding, a resize, a crop inside rows, compressed data.
    let wide = pattern(12, 8);
    let png = encode(image::ImageFormat::Png, 8, 8, &square);
    for (input, cfg) in [
        (raw(8, 8, "rgb8", 28, &padded), cfg8),
        (raw(8, 8, "bgr8", 24, &square), cfg8),
        (raw(8, 8, "rgb8", 24, &square), same_size(4)),
        (raw(12, 8, "rgb8", 36, &wide), cfg8),
        (
            ImageInput::Compressed {
                format: "png",
                data: &png,
            },
            cfg8,
        ),
    ] {
        assert_eq!(unchanged_pixels(&input, &cfg).unwrap(), None, "{input:?}");
    }
    // Errors are preprocess's.
    for (input, cfg) in [
        (raw(8, 8, "rgb8", 24, &square[..100]), cfg8),
        (raw(8, 8, "yuv422", 24, &square), cfg8),
        (raw(8, 8, "rgb8", 24, &square), same_size(0)),
    ] {
        assert_eq!(
            unchanged_pixels(&input, &cfg).unwrap_err(),
            preprocess(&input, &cfg).unwrap_err()
        );
    }
}
