//! `mbarl demo inspect`: what is in a bag or a demo dataset — topics, types, counts, rates,
//! gaps, duration, skipped damage — and a PNG contact sheet of evenly spaced frames.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mbarl_bag::{Bag, RawMessage, ReadOptions};
use mbarl_msgs::msg::Transition;
use mbarl_msgs::sensor_msgs::{CompressedImage, Image};
use mbarl_vision::{Crop, Frame, ImageInput, PreprocessConfig};
use serde::Serialize;

use super::import::TRANSITIONS_TOPIC;

#[derive(clap::Args, Debug)]
pub struct InspectOpts {
    /// A bag (directory or .mcap/.db3 file) or a demo dataset directory.
    path: PathBuf,
    /// Where to write the contact sheet (default: `<path>_contact_sheet.png` beside the bag).
    #[arg(long)]
    sheet: Option<PathBuf>,
    /// Frames on the contact sheet (0: no sheet).
    #[arg(long, default_value_t = 16)]
    frames: usize,
    /// Camera topic for the sheet (default: /camera/image_raw, its /compressed, or the first
    /// image topic).
    #[arg(long)]
    camera_topic: Option<String>,
    /// Report gaps between consecutive messages of a topic longer than this (seconds).
    #[arg(long, default_value_t = 0.5)]
    gap: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct TopicReport {
    pub name: String,
    pub type_name: String,
    pub decodable: bool,
    pub count: u64,
    pub bytes: u64,
    pub rate_hz: f64,
    pub first_s: f64,
    pub last_s: f64,
    pub max_gap_s: f64,
    pub gaps: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct InspectReport {
    pub path: String,
    pub files: Vec<String>,
    pub storage: String,
    pub version: Option<u64>,
    pub messages: u64,
    pub duration_s: f64,
    pub topics: Vec<TopicReport>,
    pub skipped: Vec<String>,
    /// For demo datasets: role, transitions, episodes (from dataset.yaml and the transitions).
    pub dataset: Option<serde_json::Value>,
    pub contact_sheet: Option<String>,
    pub sheet_frames: usize,
}

/// Keeps at most `2 * n` evenly spaced items of a stream of unknown length.
struct Sampler {
    n: usize,
    stride: u64,
    seen: u64,
    kept: Vec<Frame>,
}

impl Sampler {
    fn new(n: usize) -> Self {
        Self {
            n,
            stride: 1,
            seen: 0,
            kept: Vec::new(),
        }
    }

    fn wants(&mut self) -> bool {
        let w = self.n > 0 && self.seen.is_multiple_of(self.stride);
        self.seen += 1;
        w
    }

    fn push(&mut self, f: Frame) {
        self.kept.push(f);
        if self.kept.len() >= 2 * self.n.max(1) {
            let mut i = 0;
            self.kept.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride *= 2;
        }
    }

    fn finish(self) -> Vec<Frame> {
        let n = self.n.min(self.kept.len());
        if n == 0 {
            return Vec::new();
        }
        (0..n)
            .map(|i| self.kept[i * self.kept.len() / n].clone())
            .collect()
    }
}

fn camera_topic(bag: &Bag, wanted: Option<&str>) -> Option<String> {
    if let Some(w) = wanted {
        return Some(w.to_string());
    }
    for t in ["/camera/image_raw", "/camera/image_raw/compressed"] {
        if bag.topic(t).is_ok() {
            return Some(t.to_string());
        }
    }
    bag.topics()
        .iter()
        .find(|t| t.type_name.ends_with("/Image") || t.type_name.ends_with("/CompressedImage"))
        .map(|t| t.name.clone())
}

fn sheet_frame(m: &RawMessage, dataset: bool) -> Option<Frame> {
    let cfg = PreprocessConfig {
        size: 96,
        crop: Crop::CenterSquare,
    };
    if dataset {
        let t: Transition = m.decode().ok()?;
        let o = t.observation;
        return Some(Frame {
            width: o.frame_width as u32,
            height: o.frame_height as u32,
            data: o.frame,
        })
        .filter(|f| f.data.len() == (f.width * f.height * 3) as usize && f.width > 0);
    }
    if m.topic.type_name.ends_with("CompressedImage") {
        let c: CompressedImage = m.decode().ok()?;
        mbarl_vision::preprocess(&ImageInput::from(&c), &cfg).ok()
    } else {
        let i: Image = m.decode().ok()?;
        mbarl_vision::preprocess(&ImageInput::from(&i), &cfg).ok()
    }
}

/// Builds the report (and writes the sheet when `sheet` is Some).
pub fn inspect(
    path: &Path,
    frames: usize,
    camera: Option<&str>,
    gap_s: f64,
    sheet: Option<&Path>,
) -> Result<InspectReport> {
    let bag = Bag::open(path).with_context(|| format!("opening {}", path.display()))?;
    let dataset_yaml = path.join("dataset.yaml");
    let is_dataset = dataset_yaml.exists() || bag.topic(TRANSITIONS_TOPIC).is_ok();
    let cam = if is_dataset {
        Some(TRANSITIONS_TOPIC.to_string())
    } else {
        camera_topic(&bag, camera)
    };
    if let Some(c) = &cam {
        bag.topic(c)?;
    }
    let mut per: BTreeMap<String, (TopicReport, Option<u64>)> = BTreeMap::new();
    for t in bag.topics() {
        per.insert(
            t.name.clone(),
            (
                TopicReport {
                    name: t.name.clone(),
                    type_name: t.type_name.clone(),
                    decodable: mbarl_bag::is_known_type(&t.type_name),
                    ..Default::default()
                },
                None,
            ),
        );
    }
    let gap_ns = (gap_s * 1e9) as u64;
    let mut sampler = Sampler::new(frames);
    let mut first = u64::MAX;
    let mut last = 0u64;
    let mut total = 0u64;
    let mut episodes = 0u64;
    let mut transitions = 0u64;
    let mut messages = bag.messages(ReadOptions {
        topics: None,
        skip_corrupt: true,
    });
    for m in messages.by_ref() {
        let m = m?;
        total += 1;
        first = first.min(m.log_time);
        last = last.max(m.log_time);
        let entry = per.entry(m.topic.name.clone()).or_insert_with(|| {
            (
                TopicReport {
                    name: m.topic.name.clone(),
                    type_name: m.topic.type_name.clone(),
                    decodable: mbarl_bag::is_known_type(&m.topic.type_name),
                    ..Default::default()
                },
                None,
            )
        });
        let (r, prev) = entry;
        if r.count == 0 {
            r.first_s = m.log_time as f64 / 1e9;
        }
        r.count += 1;
        r.bytes += m.data.len() as u64;
        r.last_s = m.log_time as f64 / 1e9;
        if let Some(p) = *prev {
            let g = m.log_time.saturating_sub(p);
            r.max_gap_s = r.max_gap_s.max(g as f64 / 1e9);
            if g > gap_ns {
                r.gaps += 1;
            }
        }
        *prev = Some(m.log_time);
        if cam.as_deref() == Some(m.topic.name.as_str()) {
            if is_dataset {
                transitions += 1;
                if let Ok(t) = m.decode::<Transition>()
                    && t.phase_end
                {
                    episodes += 1;
                }
            }
            if sampler.wants()
                && let Some(f) = sheet_frame(&m, is_dataset)
            {
                sampler.push(f);
            }
        }
    }
    let skipped: Vec<String> = messages
        .take_skipped()
        .into_iter()
        .map(|s| s.error.to_string())
        .collect();
    let mut topics: Vec<TopicReport> = per
        .into_values()
        .map(|(mut r, _)| {
            let span = r.last_s - r.first_s;
            r.rate_hz = if r.count > 1 && span > 0.0 {
                (r.count - 1) as f64 / span
            } else {
                0.0
            };
            r
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let dataset = if is_dataset {
        let mut v = if dataset_yaml.exists() {
            let text = std::fs::read_to_string(&dataset_yaml)?;
            let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
                .with_context(|| format!("reading {}", dataset_yaml.display()))?;
            serde_json::to_value(y)?
        } else {
            serde_json::json!({})
        };
        v["transitions_read"] = serde_json::json!(transitions);
        v["episodes_read"] = serde_json::json!(episodes);
        Some(v)
    } else {
        None
    };
    let sheet_frames = sampler.finish();
    let mut contact_sheet = None;
    if let Some(out) = sheet
        && !sheet_frames.is_empty()
    {
        let cell = sheet_frames
            .iter()
            .map(|f| f.width.max(f.height))
            .max()
            .unwrap_or(64);
        let columns = (sheet_frames.len() as f64).sqrt().ceil() as u32;
        let img = mbarl_vision::contact_sheet(&sheet_frames, columns, cell);
        let png = mbarl_vision::encode_png(&img)?;
        std::fs::write(out, png).with_context(|| format!("writing {}", out.display()))?;
        contact_sheet = Some(out.display().to_string());
    }
    Ok(InspectReport {
        path: path.display().to_string(),
        files: bag
            .files()
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        storage: bag
            .metadata()
            .map(|m| m.storage_identifier.clone())
            .unwrap_or_else(|| "file".into()),
        version: bag.metadata().map(|m| m.version),
        messages: total,
        duration_s: if total > 0 {
            (last - first) as f64 / 1e9
        } else {
            0.0
        },
        topics,
        skipped,
        dataset,
        contact_sheet,
        sheet_frames: sheet_frames.len(),
    })
}

pub fn run(opts: InspectOpts) -> Result<()> {
    let default_sheet = {
        let p = opts
            .path
            .canonicalize()
            .unwrap_or_else(|_| opts.path.clone());
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "bag".into());
        p.with_file_name(format!("{name}_contact_sheet.png"))
    };
    let sheet = if opts.frames > 0 {
        Some(opts.sheet.clone().unwrap_or(default_sheet))
    } else {
        None
    };
    let r = inspect(
        &opts.path,
        opts.frames,
        opts.camera_topic.as_deref(),
        opts.gap,
        sheet.as_deref(),
    )?;
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("bag:       {}", r.path);
    println!(
        "storage:   {}{} — {} file(s)",
        r.storage,
        r.version
            .map(|v| format!(" (bag version {v})"))
            .unwrap_or_default(),
        r.files.len()
    );
    println!("messages:  {} over {:.3} s", r.messages, r.duration_s);
    println!();
    println!(
        "{:<40} {:<36} {:>8} {:>10} {:>9} {:>10} {:>6}",
        "topic", "type", "count", "MB", "rate Hz", "max gap s", "gaps"
    );
    for t in &r.topics {
        let ty = if t.decodable {
            t.type_name.clone()
        } else {
            format!("{} (unknown to mbarl)", t.type_name)
        };
        println!(
            "{:<40} {:<36} {:>8} {:>10.2} {:>9.2} {:>10.3} {:>6}",
            t.name,
            ty,
            t.count,
            t.bytes as f64 / 1e6,
            t.rate_hz,
            t.max_gap_s,
            t.gaps
        );
    }
    println!("(gaps: intervals longer than {} s)", opts.gap);
    if let Some(d) = &r.dataset {
        println!();
        println!(
            "dataset:   role {}, {} transitions in {} episodes (dataset.yaml: {} / {})",
            d["role"].as_str().unwrap_or("?"),
            d["transitions_read"],
            d["episodes_read"],
            d["transitions"],
            d["episodes"]
        );
    }
    if !r.skipped.is_empty() {
        println!();
        println!("skipped (damaged):");
        for s in &r.skipped {
            println!("  {s}");
        }
    }
    if let Some(s) = &r.contact_sheet {
        println!();
        println!("contact sheet: {s} ({} frames)", r.sheet_frames);
    }
    Ok(())
}
