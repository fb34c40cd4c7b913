//! `demo_classifier` node: trains the demo-state and goal classifiers in a training thread and
//! publishes a StateScore (their scores and the start detector's) for every Observation.
//!
//! Subscribes `/mbarl/observation` (Reliable 5), `/mbarl/transition` (Lossless),
//! `/mbarl/model/checkpoint` (Latched); publishes `/mbarl/state_score` (Reliable 5),
//! `/mbarl/classifier/checkpoint` (Latched, bundle `classifiers`), `/mbarl/training_stats`.
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use demo_classifier::learner::{self, ClassifierLearner, DemoStateSource, Scorer};
use demo_classifier::start::{StartDetector, StartSettings};
use mbarl_learn::CheckpointBytes;
use mbarl_msgs::msg::{ModelCheckpoint, Observation, StateScore, TrainingStats, Transition};
use mbarl_msgs::std_msgs::Header;
use mbarl_node::{bundle, common, demos, metrics::CsvMetrics};
use mbarl_ros::counters::RateLimitedWarn;
use mbarl_ros::{NodeBuilder, ParamSpec, Qos, RosArgs};

fn params() -> Vec<ParamSpec> {
    let mut p = common::params();
    p.extend([
        ParamSpec::new(
            "updates_per_transition",
            0.1,
            "classifier steps per recorded transition (MEDAL: every 10 steps)",
        ),
        ParamSpec::new(
            "pretrain_updates",
            200i64,
            "steps allowed at once when data first allows training",
        ),
        ParamSpec::new(
            "checkpoint_period",
            20i64,
            "publish and save the classifiers every this many steps",
        ),
        ParamSpec::new("stats_period_s", 2.0, "TrainingStats period"),
        ParamSpec::new(
            "backward_demo_states",
            true,
            "the backward demos' states are demo states (positives) too; false: the forward demos' only (MEDAL)",
        ),
        ParamSpec::new(
            "initial_state_window",
            learner::DEFAULT_INITIAL_WINDOW as i64,
            "k > 0: only the task's initial states are positives, the first k states of each forward demo episode and the last k of each backward one (measured best on door and push); 0: every demo state",
        ),
        ParamSpec::new(
            "backward_state_window",
            0i64,
            "with initial_state_window k > 0: the last this many states of each backward demo are positives (1: its final state, where the reverse expert stopped); 0: k",
        ),
        ParamSpec::new(
            "start_state_indices",
            Vec::<i64>::new(),
            "dimensions of the classifiers' input (the standardised state: Observation.state, then joint positions, velocities, leads; pixels: the latent) the start detector's distance reads; empty: all",
        ),
        ParamSpec::new(
            "start_window",
            demo_classifier::start::DEFAULT_START_WINDOW as i64,
            "the start detector's states: the first k states of each forward demo episode, and each backward demo's final state",
        ),
        ParamSpec::new(
            "start_radius_quantile",
            0.9,
            "the start detector's radius: this quantile of the demo start states' distances to the nearest start state of another demo episode",
        ),
    ]);
    p
}

enum Cmd {
    Record(Box<Transition>),
    World(Box<ModelCheckpoint>),
}

enum Out {
    Weights(CheckpointBytes),
    Stats {
        updates: u64,
        replay: u64,
        names: Vec<String>,
        values: Vec<f32>,
    },
}

fn train_loop(
    mut l: ClassifierLearner,
    ratio: f64,
    pretrain: u64,
    ck_every: u64,
    stats_period: Duration,
    rx: mpsc::Receiver<Cmd>,
    tx: tokio::sync::mpsc::UnboundedSender<Out>,
) {
    let warn = RateLimitedWarn::default();
    if l.version > 0 {
        l.version -= 1;
        if let Ok(ck) = l.checkpoint() {
            let _ = tx.send(Out::Weights(ck));
        }
    }
    let mut seen = 0f64;
    let mut last_stats = Instant::now();
    let mut last = Default::default();
    loop {
        let budget = l.updates < pretrain + (seen * ratio) as u64;
        let Ok(cmd) = mbarl_node::common::next_command(&rx, budget) else {
            break;
        };
        let r = match cmd {
            Some(Cmd::Record(t)) => l.record(&t).map(|_| seen += 1.0),
            Some(Cmd::World(m)) => l.load_world(&m).map(|_| ()),
            None if budget => match l.train_step() {
                Ok(Some(s)) => {
                    last = s;
                    if l.updates.is_multiple_of(ck_every) {
                        match l.checkpoint() {
                            Ok(ck) => {
                                let _ = tx.send(Out::Weights(ck));
                            }
                            Err(e) => tracing::error!("cannot checkpoint the classifiers: {e}"),
                        }
                    }
                    Ok(())
                }
                Ok(None) => {
                    std::thread::sleep(Duration::from_millis(50));
                    Ok(())
                }
                Err(e) => Err(e),
            },
            None => Ok(()),
        };
        if let Err(e) = r
            && let Some(s) = warn.check()
        {
            tracing::warn!(suppressed = s, rejected = l.rejected, "{e}");
        }
        if last_stats.elapsed() >= stats_period {
            last_stats = Instant::now();
            let names = [
                "demo_loss",
                "goal_loss",
                "demo_states",
                "goal_states",
                "backward_states",
                "world_version",
            ]
            .map(String::from)
            .to_vec();
            let values = vec![
                last.demo_loss as f32,
                last.goal_loss as f32,
                l.demo_states.len() as f32,
                l.goal_states.len() as f32,
                l.backward_states.len() as f32,
                l.world_version as f32,
            ];
            let _ = tx.send(Out::Stats {
                updates: l.updates,
                replay: l.online_states.len() as u64,
                names,
                values,
            });
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let (_, args) = RosArgs::from_env()?;
    mbarl_ros::logging::init_logging(args.log_level.as_deref());
    let node = NodeBuilder::new("demo_classifier")
        .about("trains the demo-state and goal classifiers (MEDAL) and publishes a /mbarl/state_score for every observation")
        .ros_args(args)
        .params(params())
        .build()?;
    let common::LearnSetup {
        cfg,
        device,
        run_dir,
        threads,
    } = common::LearnSetup::from_node(&node)?;
    // the demo datasets, read once: the classifiers' positives and the start detector's states
    let forward_demos = demos::load_role(&run_dir, "forward")?;
    let backward_demos = demos::load_role(&run_dir, "backward")?;
    let learner = ClassifierLearner::with_demos(
        cfg.clone(),
        device,
        Some(&run_dir),
        DemoStateSource {
            backward_demos: node.param::<bool>("backward_demo_states")?,
            initial_window: node.param::<i64>("initial_state_window")?.max(0) as usize,
            backward_window: match node.param::<i64>("backward_state_window")? {
                k if k > 0 => Some(k as usize),
                _ => None,
            },
        },
        Some((&forward_demos, &backward_demos)),
    )?;
    tracing::info!(
        demo_states = learner.demo_states.len(),
        goal_states = learner.goal_states.len(),
        "demo classifier up"
    );
    if learner.demo_states.is_empty() {
        tracing::warn!(run_dir = %run_dir.display(), "no demo datasets: the classifiers cannot train (run `mbarl demo import`)");
    }
    let ratio = node.param::<f64>("updates_per_transition")?.max(0.0);
    let pretrain = node.param::<i64>("pretrain_updates")?.max(0) as u64;
    let ck_every = node.param::<i64>("checkpoint_period")?.max(1) as u64;
    let stats_period = Duration::from_secs_f64(node.param::<f64>("stats_period_s")?.max(0.1));
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
    let trainer = std::thread::Builder::new()
        .name("classifier_train".into())
        .spawn(move || {
            common::training_thread(threads);
            train_loop(
                learner,
                ratio,
                pretrain,
                ck_every,
                stats_period,
                cmd_rx,
                out_tx,
            )
        })?;
    let start_settings = StartSettings {
        window: node.param::<i64>("start_window")?.max(1) as usize,
        dims: node
            .param::<Vec<i64>>("start_state_indices")?
            .into_iter()
            .map(|d| {
                usize::try_from(d).map_err(|_| anyhow!("start_state_indices: {d} is negative"))
            })
            .collect::<Result<_>>()?,
        radius_quantile: node.param::<f64>("start_radius_quantile")?,
    };
    let width = cfg.classifier_input_dim();
    if let Some(d) = start_settings.dims.iter().find(|&&d| d >= width) {
        bail!(
            "start_state_indices names dimension {d}; the classifiers' input has {width} (0..{width})"
        );
    }
    let (detector, skipped) =
        StartDetector::from_demos(&forward_demos, &backward_demos, start_settings, &cfg);
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "demo start states that do not fit the learn config"
        );
    }
    let start_states = detector.len();
    let mut scorer = Scorer::new(cfg, device)?.with_start_detector(detector);

    let observations =
        node.subscriber::<Observation>("/mbarl/observation", Qos::Reliable { depth: 5 })?;
    let transitions = node.subscriber::<Transition>("/mbarl/transition", Qos::Lossless)?;
    let world_ck = node.subscriber::<ModelCheckpoint>("/mbarl/model/checkpoint", Qos::Latched)?;
    let score_pub =
        node.publisher::<StateScore>("/mbarl/state_score", Qos::Reliable { depth: 5 })?;
    let ck_pub = node.publisher::<ModelCheckpoint>("/mbarl/classifier/checkpoint", Qos::Latched)?;
    let stats_pub =
        node.publisher::<TrainingStats>("/mbarl/training_stats", Qos::Reliable { depth: 10 })?;
    let mut csv = CsvMetrics::open(&run_dir, "demo_classifier");
    let warn = RateLimitedWarn::default();
    let reject = |what: &str, e: &dyn std::fmt::Display| {
        let total = node
            .counters()
            .counter(&format!("rejected.{what}"))
            .increment();
        if let Some(s) = warn.check() {
            tracing::warn!(total, suppressed = s, "{what}: {e}");
        }
    };
    let started = Instant::now();
    loop {
        tokio::select! {
            biased;
            Some(obs) = observations.recv() => match scorer.score(&obs) {
                Ok(s) => {
                    let msg = StateScore {
                        header: obs.header.clone(),
                        observation_seq: obs.seq,
                        demo_probability: s.demo,
                        goal_probability: s.goal,
                        start_probability: s.start,
                        classifier_version: scorer.version,
                    };
                    if let Err(e) = score_pub.publish(msg) { reject("publish", &e); }
                }
                Err(e) => reject("observation", &e),
            },
            Some(out) = out_rx.recv() => match out {
                Out::Weights(ck) => {
                    if let Err(e) = scorer.load(&ck) { reject("classifier_weights", &e); }
                    if let Err(e) = ck_pub.publish(bundle::to_msg(&ck, node.now())) { reject("publish", &e); }
                }
                Out::Stats { updates, replay, names, values } => {
                    csv.row(started.elapsed().as_secs_f64(), updates, replay, &names, &values);
                    let _ = stats_pub.publish(TrainingStats {
                        header: Header { stamp: node.now(), frame_id: String::new() },
                        node: node.name().to_string(), updates, replay_size: replay, names, values,
                    });
                }
            },
            Some(ck) = world_ck.recv() => {
                match scorer.offer_world(&ck) {
                    Ok(true) if ck.version == 1 || ck.version % 50 == 0 => {
                        tracing::info!(world_version = ck.version, start_states, radius = scorer.start_radius().unwrap_or(0.0), "start detector calibrated");
                    }
                    Ok(_) => {}
                    Err(e) => { reject("checkpoint", &e); continue; }
                }
                if cmd_tx.send(Cmd::World(Box::new(ck))).is_err() { bail!("the training thread stopped"); }
            }
            Some(t) = transitions.recv() => {
                if cmd_tx.send(Cmd::Record(Box::new(t))).is_err() { bail!("the training thread stopped"); }
            }
            _ = tokio::signal::ctrl_c() => {
                // The training thread finishes its update first: libtorch torn down under a
                // running backward pass panicked with a torch backtrace on every Ctrl-C.
                tracing::info!("stopping");
                drop(cmd_tx);
                let _ = tokio::task::spawn_blocking(move || trainer.join()).await;
                return Ok(());
            }
        }
    }
}
