//! `mbarl record`: records ROS 2 topics into an MCAP rosbag2 bag, with no ROS 2 CLI needed.
//!
//! Topics of any type are recorded as the bytes that arrive (see `mbarl_ros::raw`); types are
//! discovered on the graph, or given as `TOPIC:pkg/msg/Type`. Each topic is subscribed with QoS
//! compatible with its publishers (reliable when they all are, else best effort; transient-local
//! when they all are, so latched state is recorded too) and their offered QoS is stored.
//!
//! The recording stops on Ctrl-C / SIGTERM, after `--duration`, or after `--max-messages`, and
//! always finishes the bag. Every `--flush-interval` the current chunk and metadata.yaml are
//! written, so even a killed recorder leaves a bag readable up to its last chunk.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use mbarl_bag::{BagWriter, Compression, QosProfile, TopicId, WriterOptions};
use mbarl_ros::Qos;
use mbarl_ros::raw::{DiscoveredTopic, RawNode, RawSample};
use tokio::sync::mpsc;

use crate::demo::config::RobotTopics;

#[derive(Args, Debug)]
pub struct RecordOpts {
    /// Topics to record, as `NAME` or `NAME:pkg/msg/Type` (default: the robot topics of
    /// `--profile`, or the sim's camera, joint states and commands).
    topics: Vec<String>,
    /// Output bag directory (must not exist or be empty).
    #[arg(short, long)]
    output: PathBuf,
    /// Record every topic on the graph (except /rosout and /parameter_events), including ones
    /// that appear later.
    #[arg(short, long)]
    all: bool,
    /// Robot profile YAML whose `topics:` are recorded when no topics are given.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many messages in total.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Chunk compression: zstd, lz4 or none.
    #[arg(long, default_value = "zstd")]
    compression: Compression,
    /// Write the current chunk and metadata.yaml at least this often (seconds).
    #[arg(long, default_value_t = 1.0)]
    flush_interval: f64,
    /// How long to wait for the requested topics to appear before recording without them.
    #[arg(long, default_value_t = 10.0)]
    wait_topics: f64,
    /// Print the progress line even when stderr is not a terminal (one line per second).
    #[arg(long)]
    progress_lines: bool,
}

struct Sub {
    name: String,
    id: TopicId,
    count: u64,
    bytes: u64,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The requested topics: (name, explicit type).
fn requested(opts: &RecordOpts) -> Result<Vec<(String, Option<String>)>> {
    if !opts.topics.is_empty() {
        return Ok(opts
            .topics
            .iter()
            .map(|t| match t.split_once(':') {
                Some((n, ty)) => (n.to_string(), Some(ty.to_string())),
                None => (t.clone(), None),
            })
            .collect());
    }
    if opts.all {
        return Ok(Vec::new());
    }
    let topics = match &opts.profile {
        Some(p) => RobotTopics::from_profile(p)?,
        None => RobotTopics::default(),
    };
    Ok(topics
        .record_list()
        .into_iter()
        .map(|t| (t, None))
        .collect())
}

pub async fn run(opts: RecordOpts) -> Result<()> {
    let wanted = requested(&opts)?;
    for (name, _) in &wanted {
        if !name.starts_with('/') {
            bail!("topic `{name}`: give absolute names (starting with /)");
        }
    }
    let node = RawNode::new("mbarl_record", None).context("joining the ROS 2 graph")?;
    let mut writer = BagWriter::create(
        &opts.output,
        WriterOptions {
            compression: opts.compression,
            ..Default::default()
        },
    )?;
    let (tx, mut rx) = mpsc::channel::<(usize, u64, RawSample)>(4096);
    let mut subs: Vec<Sub> = Vec::new();
    let mut pending: Vec<(String, Option<String>)> = wanted.clone();
    let start = Instant::now();
    let wait = Duration::from_secs_f64(opts.wait_topics.max(0.0));

    // Subscribe to what is already there (waiting up to --wait-topics for the rest).
    loop {
        subscribe_new(&node, &opts, &mut pending, &mut subs, &mut writer, &tx)?;
        if (pending.is_empty() && !opts.all) || start.elapsed() >= wait {
            break;
        }
        if opts.all && !subs.is_empty() && start.elapsed() >= Duration::from_secs(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (name, _) in &pending {
        tracing::warn!("{name} has no publisher yet; it will be recorded when one appears");
    }
    if subs.is_empty() && pending.is_empty() && !opts.all {
        bail!("nothing to record");
    }
    eprintln!(
        "mbarl record: recording {} to {}",
        subs.iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        opts.output.display()
    );

    let bar = progress_bar(opts.progress_lines);
    let deadline = opts
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d.max(0.0)));
    let mut flush = tokio::time::interval(Duration::from_secs_f64(opts.flush_interval.max(0.05)));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut discover = tokio::time::interval(Duration::from_millis(500));
    let mut stop = stop_signal()?;
    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut total = 0u64;
    let reason = loop {
        let sleep_until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => futures::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            why = &mut stop => break why,
            _ = sleep_until => break "duration reached",
            msg = rx.recv() => {
                let Some((i, log_time, sample)) = msg else { break "transport closed" };
                let sub = &mut subs[i];
                let publish = sample.source_timestamp_ns.map(|t| t.max(0) as u64).unwrap_or(log_time);
                writer.write_raw(sub.id, log_time, publish, &sample.data)?;
                sub.count += 1;
                sub.bytes += sample.data.len() as u64;
                total += 1;
                if opts.max_messages.is_some_and(|m| total >= m) {
                    break "message count reached";
                }
            }
            _ = flush.tick() => {
                writer.flush()?;
                let line = progress_line(&subs, started.elapsed());
                bar.set_message(line.clone());
                if opts.progress_lines && last_line.elapsed() >= Duration::from_secs(1) {
                    eprintln!("{line}");
                    last_line = Instant::now();
                }
            }
            _ = discover.tick(), if opts.all || !pending.is_empty() => {
                subscribe_new(&node, &opts, &mut pending, &mut subs, &mut writer, &tx)?;
            }
        }
    };
    bar.finish_and_clear();
    // Take what already arrived, then finish the bag.
    while let Ok((i, log_time, sample)) = rx.try_recv() {
        if opts.max_messages.is_some_and(|m| total >= m) {
            break;
        }
        let sub = &mut subs[i];
        writer.write_raw(sub.id, log_time, log_time, &sample.data)?;
        sub.count += 1;
        sub.bytes += sample.data.len() as u64;
        total += 1;
    }
    let md = writer.finish()?;
    eprintln!("{}", progress_line(&subs, started.elapsed()));
    eprintln!(
        "mbarl record: {reason}; wrote {} messages to {}",
        md.message_count,
        opts.output.display()
    );
    Ok(())
}

fn subscribe_new(
    node: &RawNode,
    opts: &RecordOpts,
    pending: &mut Vec<(String, Option<String>)>,
    subs: &mut Vec<Sub>,
    writer: &mut BagWriter,
    tx: &mpsc::Sender<(usize, u64, RawSample)>,
) -> Result<()> {
    let graph = node.discovered_topics();
    let mut todo: Vec<(String, String, Option<DiscoveredTopic>)> = Vec::new();
    pending.retain(|(name, ty)| {
        let seen = graph.iter().find(|t| &t.name == name).cloned();
        match (ty, seen) {
            (Some(ty), seen) => {
                todo.push((name.clone(), ty.clone(), seen));
                false
            }
            (None, Some(t)) => {
                todo.push((name.clone(), t.type_name.clone(), Some(t)));
                false
            }
            (None, None) => true,
        }
    });
    if opts.all {
        for t in &graph {
            let skip = matches!(t.name.as_str(), "/rosout" | "/parameter_events")
                || subs.iter().any(|s| s.name == t.name)
                || todo.iter().any(|(n, ..)| n == &t.name);
            if !skip {
                todo.push((t.name.clone(), t.type_name.clone(), Some(t.clone())));
            }
        }
    }
    for (name, type_name, seen) in todo {
        let (reliable, latched) = seen
            .as_ref()
            .map(|t| (t.reliable, t.transient_local))
            .unwrap_or((true, false));
        let qos = if latched {
            Qos::Latched
        } else if reliable {
            Qos::Lossless
        } else {
            Qos::SensorData
        };
        let offered = QosProfile::new(reliable, latched, if latched { 1 } else { 10 });
        let definition = mbarl_bag::decode::definition(&type_name).unwrap_or("");
        if definition.is_empty() {
            tracing::warn!(
                "{name}: type {type_name} is not known to mbarl; recording it without a message definition"
            );
        }
        let type_name = mbarl_bag::normalize_type_name(&type_name);
        let id = writer.add_topic_raw(&name, &type_name, definition, &[offered])?;
        let sub = node
            .subscribe(&name, &type_name, qos)
            .with_context(|| format!("subscribing to {name}"))?;
        let index = subs.len();
        subs.push(Sub {
            name: name.clone(),
            id,
            count: 0,
            bytes: 0,
        });
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(sample) = sub.recv().await {
                if tx.send((index, now_ns(), sample)).await.is_err() {
                    break;
                }
            }
        });
        tracing::info!("recording {name} ({type_name})");
    }
    Ok(())
}

fn progress_bar(lines: bool) -> indicatif::ProgressBar {
    if lines {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn progress_line(subs: &[Sub], elapsed: Duration) -> String {
    let mut by_topic: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in subs {
        by_topic.insert(&s.name, (s.count, s.bytes));
    }
    let total: u64 = subs.iter().map(|s| s.count).sum();
    let mb: f64 = subs.iter().map(|s| s.bytes as f64).sum::<f64>() / 1e6;
    let parts: Vec<String> = by_topic
        .iter()
        .map(|(t, (n, b))| format!("{t} {n} msg {:.1} MB", *b as f64 / 1e6))
        .collect();
    format!(
        "[{:.1} s] {total} msg {mb:.1} MB | {}",
        elapsed.as_secs_f64(),
        parts.join(" | ")
    )
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
fn stop_signal() -> Result<std::pin::Pin<Box<dyn std::future::Future<Output = &'static str> + Send>>>
{
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        Ok(Box::pin(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted (Ctrl-C)",
                _ = term.recv() => "terminated (SIGTERM)",
            }
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
            "interrupted (Ctrl-C)"
        }))
    }
}
