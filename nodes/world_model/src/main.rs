//! `world_model` node: records every Transition, trains the encoder + latent model ensemble +
//! reward heads in a training thread, publishes versioned checkpoints (weights in the message,
//! latched), TrainingStats, and serves ImagineRollout.
//!
//! Subscribes `/mbarl/transition` (Lossless); publishes `/mbarl/model/checkpoint` (Latched,
//! bundle `world_model`), `/mbarl/training_stats` (Reliable); serves `/mbarl/model/imagine`.
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use mbarl_learn::CheckpointBytes;
use mbarl_msgs::msg::{ModelCheckpoint, TrainingStats, Transition};
use mbarl_msgs::srv::{ImagineRollout, ImagineRolloutRequest, ImagineRolloutResponse};
use mbarl_msgs::std_msgs::Header;
use mbarl_node::{bundle, common, metrics::CsvMetrics};
use mbarl_ros::counters::RateLimitedWarn;
use mbarl_ros::{NodeBuilder, ParamSpec, Qos, RosArgs};
use world_model::dynamics_fit::{DynamicsFitStats, FitWorker};
use world_model::trainer::WorldTrainer;

fn params() -> Vec<ParamSpec> {
    let mut p = common::params();
    p.extend([
        ParamSpec::new(
            "checkpoint_period",
            100i64,
            "publish a checkpoint every this many updates",
        ),
        ParamSpec::new(
            "updates_per_transition",
            1.0,
            "gradient updates per recorded transition (demos count at start)",
        ),
        ParamSpec::new("stats_period_s", 2.0, "TrainingStats period"),
    ]);
    p
}

enum Cmd {
    Record(Box<Transition>),
    Imagine(
        ImagineRolloutRequest,
        tokio::sync::oneshot::Sender<ImagineRolloutResponse>,
    ),
}

enum Out {
    Checkpoint(CheckpointBytes),
    Stats {
        updates: u64,
        replay: u64,
        names: Vec<String>,
        values: Vec<f32>,
    },
}

struct TrainLoop {
    checkpoint_period: u64,
    ratio: f64,
    stats_period: Duration,
}

fn train_loop(
    mut t: WorldTrainer,
    mut fitter: Option<FitWorker>,
    lp: TrainLoop,
    rx: mpsc::Receiver<Cmd>,
    tx: tokio::sync::mpsc::UnboundedSender<Out>,
) {
    let warn = RateLimitedWarn::default();
    let send_ck = |t: &mut WorldTrainer| match t.checkpoint() {
        Ok(ck) => {
            let _ = tx.send(Out::Checkpoint(ck));
        }
        Err(e) => tracing::error!("cannot make a checkpoint: {e}"),
    };
    send_ck(&mut t);
    let mut seen = t.data() as f64;
    let mut last_stats = Instant::now();
    let mut last_sync = Instant::now();
    let mut last = None;
    loop {
        let budget = (seen * lp.ratio) as u64 > t.updates;
        let Ok(cmd) = mbarl_node::common::next_command(&rx, budget) else {
            break;
        };
        match cmd {
            Some(Cmd::Record(tr)) => {
                match t.record(&tr) {
                    Ok(()) => seen += 1.0,
                    Err(e) => {
                        if let Some(s) = warn.check() {
                            tracing::warn!(
                                total = t.rejected,
                                suppressed = s,
                                "transition refused: {e}"
                            );
                        }
                    }
                }
                continue;
            }
            Some(Cmd::Imagine(req, reply)) => {
                let _ = reply.send(t.imagine(&req));
                continue;
            }
            None => {}
        }
        if let Some(w) = fitter.as_mut() {
            match w
                .finished()
                .map(|done| done.and_then(|d| t.install_dynamics(d)))
            {
                Some(Ok(f)) => {
                    tracing::info!(
                        transitions = f.transitions,
                        held_out_ratio = f.held_out_ratio,
                        newest_ratio = f.newest_ratio,
                        epochs = f.epochs,
                        fit_s = f.fit_s,
                        "state dynamics ensemble fitted"
                    );
                    // the policies measure and imagine with it from now on
                    send_ck(&mut t);
                }
                Some(Err(e)) => tracing::warn!("state dynamics fit failed: {e}"),
                None => {}
            }
            if !w.busy
                && let Some(job) = t.dynamics_job()
            {
                w.submit(job);
            }
        }
        if budget {
            match t.train_step() {
                Ok(Some(s)) => {
                    last = Some(s);
                    if t.updates.is_multiple_of(lp.checkpoint_period) {
                        send_ck(&mut t);
                    }
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    if let Some(s) = warn.check() {
                        tracing::warn!(suppressed = s, "update skipped: {e}");
                    }
                }
            }
        }
        if last_sync.elapsed() > Duration::from_secs(1) {
            if let Err(e) = t.sync() {
                tracing::error!("replay sync failed: {e}");
            }
            last_sync = Instant::now();
        }
        if last_stats.elapsed() >= lp.stats_period {
            last_stats = Instant::now();
            let (mut names, mut values) = last.unwrap_or_default().named();
            names.extend([
                "demo_transitions".to_string(),
                "rejected".to_string(),
                "version".to_string(),
                "backlog".to_string(),
            ]);

            let backlog = (seen * lp.ratio - t.updates as f64).max(0.0);
            values.extend([
                t.demos.len() as f32,
                t.rejected as f32,
                t.version as f32,
                backlog as f32,
            ]);
            if t.world.dynamics.is_some() {
                names.extend(DynamicsFitStats::NAMES.map(String::from));
                values.extend(t.dynamics.last.values());
                // transitions the ensemble could not use (no executed step in them)
                names.push("dynamics_rejected".to_string());
                values.push(t.dynamics.rejected as f32);
            }
            let _ = tx.send(Out::Stats {
                updates: t.updates,
                replay: t.replay.len() as u64,
                names,
                values,
            });
        }
    }
    let _ = t.sync();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let (_, args) = RosArgs::from_env()?;
    mbarl_ros::logging::init_logging(args.log_level.as_deref());
    let node = NodeBuilder::new("world_model")
        .about("trains the world model (encoder, latent model ensemble, reward head) on every transition of both phases and publishes versioned checkpoints on /mbarl/model/checkpoint")
        .ros_args(args)
        .params(params())
        .build()?;
    let common::LearnSetup {
        cfg,
        device,
        run_dir,
        threads,
    } = common::LearnSetup::from_node(&node)?;
    let trainer = WorldTrainer::new(cfg, device, Some(&run_dir))?;
    // the state dynamics ensemble fits on a thread of its own, from the resumed checkpoint's
    let fitter = match &trainer.world.dynamics {
        Some(resumed) => Some(FitWorker::spawn(resumed, &trainer.cfg, device, threads)?),
        None => None,
    };
    tracing::info!(run_dir = %run_dir.display(), replay = trainer.replay.len(), demos = trainer.demos.len(), "world model up");
    let lp = TrainLoop {
        checkpoint_period: node.param::<i64>("checkpoint_period")?.max(1) as u64,
        ratio: node.param::<f64>("updates_per_transition")?.max(0.0),
        stats_period: Duration::from_secs_f64(node.param::<f64>("stats_period_s")?.max(0.1)),
    };
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = std::thread::Builder::new()
        .name("world_model_train".into())
        .spawn(move || {
            common::training_thread(threads);
            train_loop(trainer, fitter, lp, cmd_rx, out_tx)
        })?;

    let transitions = node.subscriber::<Transition>("/mbarl/transition", Qos::Lossless)?;
    let ck_pub = node.publisher::<ModelCheckpoint>("/mbarl/model/checkpoint", Qos::Latched)?;
    let stats_pub =
        node.publisher::<TrainingStats>("/mbarl/training_stats", Qos::Reliable { depth: 10 })?;
    let imagine = node.service_server::<ImagineRollout>("/mbarl/model/imagine")?;
    let mut csv = CsvMetrics::open(&run_dir, "world_model");
    let started = Instant::now();
    loop {
        tokio::select! {
            Some(t) = transitions.recv() => {
                if cmd_tx.send(Cmd::Record(Box::new(t))).is_err() {
                    anyhow::bail!("the training thread stopped");
                }
            }
            Some(out) = out_rx.recv() => match out {
                Out::Checkpoint(ck) => {
                    tracing::info!(version = ck.meta.version, bytes = ck.weights.len(), "publishing a world-model checkpoint");
                    if let Err(e) = ck_pub.publish(bundle::to_msg(&ck, node.now())) {
                        tracing::warn!("cannot publish the checkpoint: {e}");
                    }
                }
                Out::Stats { updates, replay, names, values } => {
                    csv.row(started.elapsed().as_secs_f64(), updates, replay, &names, &values);
                    let _ = stats_pub.publish(TrainingStats {
                        header: Header { stamp: node.now(), frame_id: String::new() },
                        node: node.name().to_string(),
                        updates,
                        replay_size: replay,
                        names,
                        values,
                    });
                }
            },
            Some((id, req)) = imagine.next_request() => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let resp = if cmd_tx.send(Cmd::Imagine(req, tx)).is_ok() {
                    rx.await.unwrap_or_default()
                } else {
                    ImagineRolloutResponse { success: false, message: "training thread stopped".into(), ..Default::default() }
                };
                let _ = imagine.respond(id, resp).await;
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("stopping: flushing the replay");
                drop(cmd_tx);
                let _ = tokio::task::spawn_blocking(move || handle.join()).await;
                return Ok(());
            }
        }
    }
}
